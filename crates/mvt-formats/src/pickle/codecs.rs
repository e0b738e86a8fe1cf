//! The Python text and integer codecs pickles rely on: latin-1, raw-unicode-escape (protocol 0 UNICODE), Python 2
//! string literals (protocol 0 STRING), decimal integer literals of any size and the little-endian two's
//! complement of LONG1 / LONG4. Pure functions: `None` means the input is not valid for the codec.

/// Integer literals longer than this are refused (Python's own limit for str -> int).
const MAX_INT_DIGITS: usize = 4300;

/// Latin-1 bytes as text: every byte is the code point of the same value.
pub fn latin1_decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&c| char::from(c)).collect()
}

/// Text as latin-1 bytes; `None` when a code point is above 255.
pub fn latin1_encode(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// Python's raw-unicode-escape (protocol 0 UNICODE): latin-1 bytes with `\uXXXX` and `\UXXXXXXXX` escapes.
pub fn raw_unicode_unescape(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let width = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            (b, _) => {
                out.push(char::from(b));
                i += 1;
                continue;
            }
        };
        let hex = std::str::from_utf8(bytes.get(i + 2..i + 2 + width)?).ok()?;
        out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
        i += 2 + width;
    }
    Some(out)
}

/// A protocol 0 STRING argument: a quoted Python 2 string literal (`'...'` or `"..."`) with backslash escapes.
pub fn python_string_literal(line: &[u8]) -> Option<Vec<u8>> {
    let quote = *line.first()?;
    if line.len() < 2 || !matches!(quote, b'\'' | b'"') || line[line.len() - 1] != quote {
        return None;
    }
    let body = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let escape = *body.get(i + 1)?;
        i += 2;
        match escape {
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'v' => out.push(0x0b),
            b'\n' => {}
            b'x' => {
                let hex = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let (value, digits) = octal_escape(escape, &body[i..]);
                out.push(value);
                i += digits;
            }
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    Some(out)
}

/// An octal escape: `first` and up to two more octal digits from `rest`; the byte (mod 256, as Python 2) and how
/// many of `rest` it used.
fn octal_escape(first: u8, rest: &[u8]) -> (u8, usize) {
    let mut value = u32::from(first - b'0');
    let mut used = 0;
    while let Some(&d @ b'0'..=b'7') = rest.get(used).filter(|_| used < 2) {
        value = value * 8 + u32::from(d - b'0');
        used += 1;
    }
    (value as u8, used)
}

/// A decimal integer literal (optional sign, digits only) as little-endian two's complement bytes.
pub fn big_int_from_decimal(text: &str) -> Option<Vec<u8>> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > MAX_INT_DIGITS || !digits.bytes().all(|d| d.is_ascii_digit()) {
        return None;
    }
    // magnitude = magnitude * 10 + digit, in base 256
    let mut magnitude: Vec<u8> = Vec::new();
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for byte in magnitude.iter_mut() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        if carry > 0 {
            magnitude.push(carry as u8);
        }
    }
    magnitude.push(0); // room for the sign bit
    if negative {
        // two's complement: invert and add one
        let mut carry = 1u16;
        for byte in magnitude.iter_mut() {
            let v = u16::from(!*byte) + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
    }
    Some(minimal_twos_complement(magnitude))
}

/// A LONG1 / LONG4 payload (little-endian two's complement) as an i64, when it has at most 8 bytes.
pub fn i64_from_le(bytes: &[u8]) -> Option<i64> {
    if bytes.len() > 8 {
        return None;
    }
    let fill = if bytes.last().is_some_and(|&b| b & 0x80 != 0) { 0xff } else { 0 };
    let mut raw = [fill; 8];
    raw[..bytes.len()].copy_from_slice(bytes);
    Some(i64::from_le_bytes(raw))
}

/// An integer as the minimal little-endian two's complement bytes LONG1 would store.
pub fn i128_to_le(v: i128) -> Vec<u8> {
    minimal_twos_complement(v.to_le_bytes().to_vec())
}

/// Drops top bytes that only repeat the sign of the byte below: the minimal form LONG1 stores.
fn minimal_twos_complement(mut bytes: Vec<u8>) -> Vec<u8> {
    while let [.., below, top] = bytes[..] {
        let redundant = (top == 0 && below & 0x80 == 0) || (top == 0xff && below & 0x80 != 0);
        if !redundant {
            break;
        }
        bytes.pop();
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_binary_integers_agree() {
        for v in [0i128, 1, -1, 127, 128, -128, -129, 255, 256, i64::MAX as i128 + 1, i128::MIN, i128::MAX] {
            assert_eq!(big_int_from_decimal(&v.to_string()), Some(i128_to_le(v)), "{v}");
        }
        assert_eq!(i64_from_le(&i128_to_le(-300)), Some(-300));
        assert_eq!(i64_from_le(&[]), Some(0));
        assert_eq!(i64_from_le(&[0; 9]), None);
        assert_eq!(big_int_from_decimal("+"), None);
        assert_eq!(big_int_from_decimal("1_000"), None);
        assert_eq!(big_int_from_decimal(&"9".repeat(MAX_INT_DIGITS + 1)), None);
    }

    #[test]
    fn python_2_literals_and_escapes() {
        assert_eq!(python_string_literal(br"'a\x41\101\7\777\'\n'").unwrap(), b"aAA\x07\xff'\n");
        assert_eq!(python_string_literal(br#""\q""#).unwrap(), br"\q");
        assert_eq!(python_string_literal(b"'unterminated"), None);
        assert_eq!(python_string_literal(br"'\x4'"), None);
        assert_eq!(raw_unicode_unescape(br"a\u00e9\U0001F600\x").unwrap(), "a\u{e9}\u{1f600}\\x");
        assert_eq!(raw_unicode_unescape(br"\ud800"), None);
        assert_eq!(latin1_encode(&latin1_decode(&[0, 0x7f, 0xe9, 0xff])).unwrap(), [0, 0x7f, 0xe9, 0xff]);
        assert_eq!(latin1_encode("\u{100}"), None);
    }
}
