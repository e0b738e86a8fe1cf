//! The number family: None, booleans, ints of every width and floats.

use super::machine::Machine;
use super::node::Node;
use crate::pickle::codecs::{big_int_from_decimal, i64_from_le};
use crate::pickle::error::PickleError;
use crate::pickle::opcode::Opcode;

impl<'a> Machine<'a> {
    /// Runs one opcode of the number family ([`Opcode::family`]).
    pub(super) fn number_op(&mut self, op: Opcode) -> Result<(), PickleError> {
        let what = op.name();
        let node = match op {
            Opcode::NONE => Node::None,
            Opcode::NEWTRUE => Node::Bool(true),
            Opcode::NEWFALSE => Node::Bool(false),
            Opcode::BININT1 => Node::Int(self.take_array::<1>(what)?[0].into()),
            Opcode::BININT2 => Node::Int(u16::from_le_bytes(self.take_array(what)?).into()),
            Opcode::BININT => Node::Int(i32::from_le_bytes(self.take_array(what)?).into()),
            Opcode::LONG1 => {
                let [n] = self.take_array::<1>(what)?;
                int_from_le(self.take(n.into(), what)?)
            }
            Opcode::LONG4 => {
                let n = i32::from_le_bytes(self.take_array(what)?);
                let n = u64::try_from(n).map_err(|_| self.malformed("negative LONG4 length"))?;
                let bytes = self.take_len(n, what)?;
                self.spend(bytes.len())?;
                int_from_le(bytes)
            }
            Opcode::INT => match self.ascii_line(what)? {
                "00" => Node::Bool(false),
                "01" => Node::Bool(true),
                text => self.decimal_int(text)?,
            },
            Opcode::LONG => {
                let text = self.ascii_line(what)?;
                self.decimal_int(text.strip_suffix('L').unwrap_or(text))?
            }
            Opcode::BINFLOAT => Node::Float(f64::from_be_bytes(self.take_array(what)?)),
            Opcode::FLOAT => {
                let text = self.ascii_line(what)?;
                Node::Float(text.trim().parse().map_err(|_| self.malformed(format!("FLOAT {text:?} is not a number")))?)
            }
            other => return Err(self.unsupported(other)), // not of this family
        };
        self.push(node);
        Ok(())
    }

    /// A protocol 0 INT or LONG literal: an i64 when it fits, else a big int.
    fn decimal_int(&self, text: &str) -> Result<Node<'a>, PickleError> {
        let text = text.trim();
        if let Ok(v) = text.parse::<i64>() {
            return Ok(Node::Int(v));
        }
        big_int_from_decimal(text)
            .map(Node::BigInt)
            .ok_or_else(|| self.malformed(format!("integer literal {:?} is not a number", truncate(text))))
    }
}

/// A LONG1 / LONG4 payload as an int node.
fn int_from_le(bytes: &[u8]) -> Node<'static> {
    i64_from_le(bytes).map_or_else(|| Node::BigInt(bytes.to_vec()), Node::Int)
}

/// The first 40 characters, for quoting a long literal in an error.
fn truncate(text: &str) -> &str {
    text.char_indices().nth(40).map_or(text, |(i, _)| &text[..i])
}
