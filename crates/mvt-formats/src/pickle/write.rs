//! A pickle writer for plain data and float32 numpy arrays, byte for byte what Python and numpy write at protocol 3
//! (`pickle.dump(d, f, 3)`).
//!
//! Protocol 3 is the oldest with a raw-bytes opcode, so the array data goes in as-is (protocol 2 would need
//! `_codecs.encode` round trips). Arrays refer to `numpy.core.multiarray._reconstruct`, which numpy 1.x defines
//! and numpy 2.x still resolves without a warning, so both load these files. No memo is written: nothing is
//! shared, and the unpickler does not need one.

use ndarray::Array2;

// Opcodes used (names as in CPython's pickletools).
pub const PROTO: u8 = 0x80;
pub const STOP: u8 = b'.';
pub const MARK: u8 = b'(';
pub const EMPTY_DICT: u8 = b'}';
pub const SETITEMS: u8 = b'u';
pub const EMPTY_LIST: u8 = b']';
pub const APPENDS: u8 = b'e';
pub const TUPLE: u8 = b't';
pub const TUPLE1: u8 = 0x85;
pub const TUPLE2: u8 = 0x86;
pub const TUPLE3: u8 = 0x87;
pub const GLOBAL: u8 = b'c';
pub const REDUCE: u8 = b'R';
pub const BUILD: u8 = b'b';
pub const NONE: u8 = b'N';
pub const NEWTRUE: u8 = 0x88;
pub const NEWFALSE: u8 = 0x89;
pub const BININT1: u8 = b'K';
pub const BININT2: u8 = b'M';
pub const BININT: u8 = b'J';
pub const LONG1: u8 = 0x8a;
pub const BINUNICODE: u8 = b'X';
pub const SHORT_BINBYTES: u8 = b'C';
pub const BINBYTES: u8 = b'B';

/// The pickle protocol written.
pub const WRITE_PROTOCOL: u8 = 3;

/// Appends opcodes and values to a buffer; [`Writer::finish`] returns the pickle.
pub struct Writer(Vec<u8>);

impl Writer {
    /// An empty pickle of `capacity` bytes reserved, its protocol header written.
    pub fn new(capacity: usize) -> Writer {
        let mut w = Writer(Vec::with_capacity(capacity));
        w.op(PROTO);
        w.op(WRITE_PROTOCOL);
        w
    }

    /// Ends the pickle (STOP) and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.op(STOP);
        self.0
    }

    pub fn op(&mut self, byte: u8) {
        self.0.push(byte);
    }

    fn len_u32(&mut self, len: usize) {
        let len = u32::try_from(len).expect("a pickled string or array over 4 GiB");
        self.0.extend_from_slice(&len.to_le_bytes());
    }

    pub fn str(&mut self, s: &str) {
        self.op(BINUNICODE);
        self.len_u32(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }

    /// The opcode and length of a `bytes` object; its `len` bytes follow.
    fn bytes_header(&mut self, len: usize) {
        if let Ok(short) = u8::try_from(len) {
            self.op(SHORT_BINBYTES);
            self.op(short);
        } else {
            self.op(BINBYTES);
            self.len_u32(len);
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        self.op(GLOBAL);
        for part in [module, name] {
            self.0.extend_from_slice(part.as_bytes());
            self.op(b'\n');
        }
    }

    /// The smallest integer opcode that holds `v`, as pickle itself chooses.
    pub fn int(&mut self, v: i64) {
        if let Ok(v) = u8::try_from(v) {
            self.op(BININT1);
            self.op(v);
        } else if let Ok(v) = u16::try_from(v) {
            self.op(BININT2);
            self.0.extend_from_slice(&v.to_le_bytes());
        } else if let Ok(v) = i32::try_from(v) {
            self.op(BININT);
            self.0.extend_from_slice(&v.to_le_bytes());
        } else {
            self.op(LONG1);
            self.op(8);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` then `__setstate__((1, shape, dtype('<f4'),
    /// False, data))`: exactly what `ndarray.__reduce__` produces, data in C order, little-endian.
    pub fn f32_array(&mut self, a: &Array2<f32>) {
        self.global("numpy.core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.int(0);
        self.op(TUPLE1);
        self.bytes_header(1);
        self.op(b'b');
        self.op(TUPLE3);
        self.op(REDUCE);
        self.op(MARK);
        self.int(1);
        let (rows, cols) = a.dim();
        for n in [rows, cols] {
            self.int(i64::try_from(n).expect("an array dimension over i64"));
        }
        self.op(TUPLE2);
        self.f32_dtype();
        self.op(NEWFALSE);
        self.bytes_header(4 * a.len());
        for v in a.iter() {
            self.0.extend_from_slice(&v.to_le_bytes());
        }
        self.op(TUPLE);
        self.op(BUILD);
    }

    /// `numpy.dtype('f4', False, True)` with state `(3, '<', None, None, None, -1, -1, 0)`.
    fn f32_dtype(&mut self) {
        self.global("numpy", "dtype");
        self.str("f4");
        self.op(NEWFALSE);
        self.op(NEWTRUE);
        self.op(TUPLE3);
        self.op(REDUCE);
        self.op(MARK);
        self.int(3);
        self.str("<");
        self.op(NONE);
        self.op(NONE);
        self.op(NONE);
        self.int(-1);
        self.int(-1);
        self.int(0);
        self.op(TUPLE);
        self.op(BUILD);
    }
}
