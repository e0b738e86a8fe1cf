//! The original inference's output format: `output.json`, written byte for byte as Python's `json.dump` wrote it.

use crate::predict::Tag;

/// The original inference's output.json: `[{"video_id": ..., "labels": [[name, score], ...]}, ...]`, written as
/// Python's `json.dump(..., ensure_ascii=False, indent=4)` writes it (so files compare byte for byte). Each entry's
/// labels are listed in the order given (the original: [`crate::predict::Prediction::labels_in_class_order`]).
pub fn inference_json<'a>(entries: impl IntoIterator<Item = (&'a str, Vec<&'a Tag>)>) -> String {
    let mut out = String::from("[");
    let mut first = true;
    for (video_id, labels) in entries {
        out.push_str(if first { "\n    {" } else { ",\n    {" });
        first = false;
        out.push_str(&format!("\n        \"video_id\": {},\n        \"labels\": ", json_string(video_id)));
        if labels.is_empty() {
            out.push_str("[]");
        } else {
            out.push('[');
            for (k, tag) in labels.iter().enumerate() {
                out.push_str(if k == 0 { "\n            [" } else { ",\n            [" });
                out.push_str(&format!(
                    "\n                {},\n                {}\n            ]",
                    json_string(&tag.name),
                    python_float_repr(f64::from(tag.score))
                ));
            }
            out.push_str("\n        ]");
        }
        out.push_str("\n    }");
    }
    out.push_str(if first { "]" } else { "\n]" });
    out
}

/// A JSON string literal with non-ASCII left as is (`ensure_ascii=False`); serde_json escapes exactly the
/// characters Python's encoder does (quote, backslash, control characters).
fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes to JSON")
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed notation for 1e-4 <= |x| < 1e16, else
/// `d.ddde-05` style; integral values keep a `.0`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` prints the shortest round-trip digits: "-6.376440525054932e-1".
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` output has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let body = if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if (point as usize) >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        }
    } else {
        let (head, tail) = digits.split_at(1);
        let fraction = if tail.is_empty() { String::new() } else { format!(".{tail}") };
        format!("{head}{fraction}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::Prediction;

    #[test]
    fn floats_print_like_python_repr() {
        for (x, python) in [
            (0.6376440525054932, "0.6376440525054932"),
            (f64::from(0.5f32), "0.5"),
            (1.0, "1.0"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (1e16, "1e+16"),
            (123456789012345.6, "123456789012345.6"),
            (-2.5e-7, "-2.5e-07"),
            (100.0, "100.0"),
        ] {
            assert_eq!(python_float_repr(x), python, "{x}");
        }
    }

    #[test]
    fn inference_json_matches_pythons_indented_layout() {
        let tag = |name: &str, index, score| Tag { name: name.into(), index, score };
        let prediction = Prediction {
            probabilities: vec![0.75, 0.1, 0.5],
            tags: vec![tag("b-\"x\"", 2, 0.75), tag("游戏-沙盒", 0, 0.5)],
            top_k: vec![],
            rgb_attention: vec![],
            audio_attention: vec![],
        };
        let empty = Prediction { tags: vec![], ..prediction.clone() };
        let json = inference_json([("v1", prediction.labels_in_class_order()), ("v2", empty.labels_in_class_order())]);
        let expected = "[\n    {\n        \"video_id\": \"v1\",\n        \"labels\": [\n            [\n                \"游戏-沙盒\",\n                0.5\n            ],\n            [\n                \"b-\\\"x\\\"\",\n                0.75\n            ]\n        ]\n    },\n    {\n        \"video_id\": \"v2\",\n        \"labels\": []\n    }\n]";
        assert_eq!(json, expected);
        assert_eq!(inference_json([]), "[]");
    }
}
