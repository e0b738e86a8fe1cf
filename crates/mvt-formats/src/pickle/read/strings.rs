//! The text family: unicode strings, Python 2 strings (kept as latin-1 bytes) and bytes. Binary forms borrow
//! from the input; nothing here is copied except the escaped protocol 0 forms.

use std::borrow::Cow;

use super::machine::Machine;
use super::node::Node;
use crate::pickle::codecs::{python_string_literal, raw_unicode_unescape};
use crate::pickle::error::PickleError;
use crate::pickle::opcode::Opcode;

impl<'a> Machine<'a> {
    /// Runs one opcode of the text family ([`Opcode::family`]).
    pub(super) fn text_op(&mut self, op: Opcode) -> Result<(), PickleError> {
        let what = op.name();
        let node = match op {
            Opcode::BINUNICODE | Opcode::SHORT_BINUNICODE | Opcode::BINUNICODE8 => {
                let bytes = self.sized_argument(op)?;
                let text = std::str::from_utf8(bytes)
                    .map_err(|source| PickleError::InvalidUtf8 { pos: self.op_pos, source })?;
                Node::Str(Cow::Borrowed(text))
            }
            Opcode::UNICODE => {
                let line = self.line(what)?;
                let text = raw_unicode_unescape(line).ok_or_else(|| self.malformed("bad raw-unicode-escape string"))?;
                Node::Str(Cow::Owned(text))
            }
            Opcode::BINSTRING | Opcode::SHORT_BINSTRING => Node::Latin1(Cow::Borrowed(self.sized_argument(op)?)),
            Opcode::STRING => {
                let line = self.line(what)?;
                let bytes = python_string_literal(line).ok_or_else(|| self.malformed("bad STRING literal"))?;
                Node::Latin1(Cow::Owned(bytes))
            }
            // BYTEARRAY8: protocol 5's in-band buffer for numpy's _frombuffer.
            Opcode::BINBYTES | Opcode::SHORT_BINBYTES | Opcode::BINBYTES8 | Opcode::BYTEARRAY8 => {
                Node::Bytes(Cow::Borrowed(self.sized_argument(op)?))
            }
            other => return Err(self.unsupported(other)), // NEXT_BUFFER, READONLY_BUFFER (out-of-band buffers)
        };
        self.push(node);
        Ok(())
    }

    /// The argument of a binary string opcode: its length (1, 4 or 8 bytes, little-endian) then that many bytes.
    fn sized_argument(&mut self, op: Opcode) -> Result<&'a [u8], PickleError> {
        let what = op.name();
        let len = match op {
            Opcode::SHORT_BINUNICODE | Opcode::SHORT_BINSTRING | Opcode::SHORT_BINBYTES => {
                u64::from(self.take_array::<1>(what)?[0])
            }
            Opcode::BINSTRING => {
                let n = i32::from_le_bytes(self.take_array(what)?);
                u64::try_from(n).map_err(|_| self.malformed("negative BINSTRING length"))?
            }
            Opcode::BINUNICODE | Opcode::BINBYTES => u32::from_le_bytes(self.take_array(what)?).into(),
            _ => u64::from_le_bytes(self.take_array(what)?), // BINUNICODE8, BINBYTES8, BYTEARRAY8
        };
        self.take_len(len, what)
    }
}
