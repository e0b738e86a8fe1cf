//! The pickle opcodes of protocols 0 to 5, one enum for the reader and the writer. Names and bytes are CPython's
//! (`pickletools.opcodes`); [`Family`] groups them the way the reader dispatches them.

/// What an opcode works on; the reader has one handler per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// PROTO, FRAME, STOP.
    Framing,
    /// MARK, POP, POP_MARK, DUP and the memo (PUT / GET and their binary forms, MEMOIZE).
    Stack,
    /// None, booleans, ints and floats.
    Number,
    /// Unicode strings, Python 2 strings, bytes, bytearrays and buffers.
    Text,
    /// Tuples, lists, dicts and sets.
    Container,
    /// Globals, calls, BUILD, object creation, extension codes and persistent ids.
    Object,
}

/// Declares the opcode table once: the enum, [`Opcode::from_byte`], [`Opcode::name`] and [`Opcode::family`].
macro_rules! opcodes {
    ($($name:ident = $byte:literal, $family:ident;)*) => {
        /// One pickle opcode (`#[repr(u8)]`: `op as u8` is its byte in a pickle).
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Opcode { $($name = $byte),* }

        impl Opcode {
            /// The opcode a byte stands for; `None` for a byte no protocol defines.
            pub fn from_byte(byte: u8) -> Option<Opcode> {
                match byte {
                    $($byte => Some(Opcode::$name),)*
                    _ => None,
                }
            }

            /// The name pickletools gives it (`"SHORT_BINUNICODE"`).
            pub fn name(self) -> &'static str {
                match self { $(Opcode::$name => stringify!($name)),* }
            }

            pub fn family(self) -> Family {
                match self { $(Opcode::$name => Family::$family),* }
            }
        }
    };
}

opcodes! {
    PROTO = 0x80, Framing;
    FRAME = 0x95, Framing;
    STOP = b'.', Framing;

    MARK = b'(', Stack;
    POP = b'0', Stack;
    POP_MARK = b'1', Stack;
    DUP = b'2', Stack;
    PUT = b'p', Stack;
    BINPUT = b'q', Stack;
    LONG_BINPUT = b'r', Stack;
    MEMOIZE = 0x94, Stack;
    GET = b'g', Stack;
    BINGET = b'h', Stack;
    LONG_BINGET = b'j', Stack;

    NONE = b'N', Number;
    NEWTRUE = 0x88, Number;
    NEWFALSE = 0x89, Number;
    INT = b'I', Number;
    BININT = b'J', Number;
    BININT1 = b'K', Number;
    BININT2 = b'M', Number;
    LONG = b'L', Number;
    LONG1 = 0x8a, Number;
    LONG4 = 0x8b, Number;
    FLOAT = b'F', Number;
    BINFLOAT = b'G', Number;

    STRING = b'S', Text;
    BINSTRING = b'T', Text;
    SHORT_BINSTRING = b'U', Text;
    UNICODE = b'V', Text;
    BINUNICODE = b'X', Text;
    SHORT_BINUNICODE = 0x8c, Text;
    BINUNICODE8 = 0x8d, Text;
    BINBYTES = b'B', Text;
    SHORT_BINBYTES = b'C', Text;
    BINBYTES8 = 0x8e, Text;
    BYTEARRAY8 = 0x96, Text;
    NEXT_BUFFER = 0x97, Text;
    READONLY_BUFFER = 0x98, Text;

    EMPTY_TUPLE = b')', Container;
    TUPLE = b't', Container;
    TUPLE1 = 0x85, Container;
    TUPLE2 = 0x86, Container;
    TUPLE3 = 0x87, Container;
    EMPTY_LIST = b']', Container;
    LIST = b'l', Container;
    APPEND = b'a', Container;
    APPENDS = b'e', Container;
    EMPTY_DICT = b'}', Container;
    DICT = b'd', Container;
    SETITEM = b's', Container;
    SETITEMS = b'u', Container;
    EMPTY_SET = 0x8f, Container;
    ADDITEMS = 0x90, Container;
    FROZENSET = 0x91, Container;

    GLOBAL = b'c', Object;
    STACK_GLOBAL = 0x93, Object;
    REDUCE = b'R', Object;
    BUILD = b'b', Object;
    INST = b'i', Object;
    OBJ = b'o', Object;
    NEWOBJ = 0x81, Object;
    NEWOBJ_EX = 0x92, Object;
    EXT1 = 0x82, Object;
    EXT2 = 0x83, Object;
    EXT4 = 0x84, Object;
    PERSID = b'P', Object;
    BINPERSID = b'Q', Object;
}

impl From<Opcode> for u8 {
    fn from(op: Opcode) -> u8 {
        op as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[(o.name, o.code) for o in pickletools.opcodes]` (CPython 3.11; unchanged since protocol 5 in 3.8).
    const PICKLETOOLS: &str = "INT I BININT J BININT1 K BININT2 M LONG L LONG1 \\x8a LONG4 \\x8b STRING S BINSTRING T \
        SHORT_BINSTRING U BINBYTES B SHORT_BINBYTES C BINBYTES8 \\x8e BYTEARRAY8 \\x96 NEXT_BUFFER \\x97 \
        READONLY_BUFFER \\x98 NONE N NEWTRUE \\x88 NEWFALSE \\x89 UNICODE V SHORT_BINUNICODE \\x8c BINUNICODE X \
        BINUNICODE8 \\x8d FLOAT F BINFLOAT G EMPTY_LIST ] APPEND a APPENDS e LIST l EMPTY_TUPLE ) TUPLE t \
        TUPLE1 \\x85 TUPLE2 \\x86 TUPLE3 \\x87 EMPTY_DICT } DICT d SETITEM s SETITEMS u EMPTY_SET \\x8f \
        ADDITEMS \\x90 FROZENSET \\x91 POP 0 DUP 2 MARK ( POP_MARK 1 GET g BINGET h LONG_BINGET j PUT p BINPUT q \
        LONG_BINPUT r MEMOIZE \\x94 EXT1 \\x82 EXT2 \\x83 EXT4 \\x84 GLOBAL c STACK_GLOBAL \\x93 REDUCE R BUILD b \
        INST i OBJ o NEWOBJ \\x81 NEWOBJ_EX \\x92 PROTO \\x80 STOP . FRAME \\x95 PERSID P BINPERSID Q";

    #[test]
    fn the_table_is_pickletools() {
        let words: Vec<&str> = PICKLETOOLS.split_whitespace().collect();
        let expected: Vec<(&str, u8)> = words
            .chunks_exact(2)
            .map(|pair| {
                let byte = match pair[1].strip_prefix("\\x") {
                    Some(hex) => u8::from_str_radix(hex, 16).unwrap(),
                    None => pair[1].as_bytes()[0],
                };
                (pair[0], byte)
            })
            .collect();
        assert_eq!(expected.len(), 68);
        for &(name, byte) in &expected {
            let op = Opcode::from_byte(byte).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!((op.name(), u8::from(op)), (name, byte));
        }
        let defined = (0..=255u8).filter_map(Opcode::from_byte).count();
        assert_eq!(defined, expected.len(), "opcodes pickletools does not know");
    }
}
