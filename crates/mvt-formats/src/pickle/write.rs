//! A pickle writer for plain data and float32 numpy arrays, byte for byte what Python and numpy write at protocol 3
//! (`pickle.dump(d, f, 3)`).
//!
//! Protocol 3 is the oldest with a raw-bytes opcode, so the array data goes in as-is (protocol 2 would need
//! `_codecs.encode` round trips). Arrays (`Writer::f32_array`, in the numpy module) refer to
//! `numpy.core.multiarray._reconstruct`, which numpy 1.x defines and numpy 2.x still resolves without a warning,
//! so both load these files. No memo is written: nothing is shared, and the unpickler does not need one.

use super::opcode::Opcode;

/// The pickle protocol written.
pub const WRITE_PROTOCOL: u8 = 3;

/// Appends opcodes and values to a buffer; [`Writer::finish`] returns the pickle.
pub struct Writer(Vec<u8>);

impl Writer {
    /// An empty pickle of `capacity` bytes reserved, its protocol header written.
    pub fn new(capacity: usize) -> Writer {
        let mut w = Writer(Vec::with_capacity(capacity));
        w.op(Opcode::PROTO);
        w.byte(WRITE_PROTOCOL);
        w
    }

    /// Ends the pickle (STOP) and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.op(Opcode::STOP);
        self.0
    }

    /// An opcode without argument, or the opcode of an argument written next.
    pub fn op(&mut self, op: Opcode) {
        self.0.push(op.into());
    }

    /// One byte of an opcode's argument.
    fn byte(&mut self, byte: u8) {
        self.0.push(byte);
    }

    /// Argument bytes as they are (array data).
    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn len_u32(&mut self, len: usize) {
        let len = u32::try_from(len).expect("a pickled string or array over 4 GiB");
        self.raw(&len.to_le_bytes());
    }

    pub fn str(&mut self, s: &str) {
        self.op(Opcode::BINUNICODE);
        self.len_u32(s.len());
        self.raw(s.as_bytes());
    }

    /// A `bytes` object.
    pub(super) fn bytes(&mut self, data: &[u8]) {
        self.bytes_header(data.len());
        self.raw(data);
    }

    /// The opcode and length of a `bytes` object; its `len` bytes follow (see [`Writer::raw`]).
    pub(super) fn bytes_header(&mut self, len: usize) {
        if let Ok(short) = u8::try_from(len) {
            self.op(Opcode::SHORT_BINBYTES);
            self.byte(short);
        } else {
            self.op(Opcode::BINBYTES);
            self.len_u32(len);
        }
    }

    /// A protocol 0 GLOBAL: `module.name`, which the loader imports.
    pub(super) fn global(&mut self, module: &str, name: &str) {
        self.op(Opcode::GLOBAL);
        for part in [module, name] {
            self.raw(part.as_bytes());
            self.byte(b'\n');
        }
    }

    /// The smallest integer opcode that holds `v`, as pickle itself chooses.
    pub fn int(&mut self, v: i64) {
        if let Ok(v) = u8::try_from(v) {
            self.op(Opcode::BININT1);
            self.byte(v);
        } else if let Ok(v) = u16::try_from(v) {
            self.op(Opcode::BININT2);
            self.raw(&v.to_le_bytes());
        } else if let Ok(v) = i32::try_from(v) {
            self.op(Opcode::BININT);
            self.raw(&v.to_le_bytes());
        } else {
            self.op(Opcode::LONG1);
            self.byte(8);
            self.raw(&v.to_le_bytes());
        }
    }
}
