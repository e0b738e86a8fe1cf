//! The restricted unpickler: the pickle virtual machine over data only. It runs opcode by opcode, each family
//! in its own module (`stack`, `numbers`, `strings`, `containers`, `globals`; framing here), over the state and
//! primitives of `machine`, then `materialize` turns the object graph into a [`Value`].

mod containers;
mod globals;
mod machine;
mod materialize;
mod node;
mod numbers;
mod stack;
mod strings;

use machine::Machine;
use node::Id;

use crate::pickle::error::PickleError;
use crate::pickle::opcode::{Family, Opcode};
use crate::pickle::value::Value;

/// Reads one pickle (the first; bytes after its STOP are ignored, as `pickle.load` does).
pub fn load(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut machine = Machine::new(bytes);
    let root = machine.run()?;
    machine.materialize(root, 0)
}

impl Machine<'_> {
    /// Runs opcodes until STOP; returns the object left on top.
    fn run(&mut self) -> Result<Id, PickleError> {
        loop {
            self.op_pos = self.pos;
            let [byte] = self.take_array::<1>("opcode")?;
            let op = Opcode::from_byte(byte).ok_or(PickleError::UnknownOpcode { pos: self.op_pos, op: byte })?;
            match op.family() {
                Family::Framing if op == Opcode::STOP => return self.pop(),
                Family::Framing => self.framing_op(op)?,
                Family::Stack => self.stack_op(op)?,
                Family::Number => self.number_op(op)?,
                Family::Text => self.text_op(op)?,
                Family::Container => self.container_op(op)?,
                Family::Object => self.object_op(op)?,
            }
        }
    }

    /// PROTO and FRAME (STOP ends [`Machine::run`]).
    fn framing_op(&mut self, op: Opcode) -> Result<(), PickleError> {
        match op {
            Opcode::PROTO => {
                let [proto] = self.take_array::<1>(op.name())?;
                if proto > 5 {
                    return Err(self.malformed(format!("unsupported protocol {proto}")));
                }
            }
            Opcode::FRAME => {
                // Only a read-ahead hint; the frame must still lie inside the input.
                let len = u64::from_le_bytes(self.take_array(op.name())?);
                let remaining = (self.input.len() - self.pos) as u64;
                if len > remaining {
                    return Err(self.truncated(op.name()));
                }
            }
            other => return Err(self.unsupported(other)), // not of this family
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn invalid_utf8_keeps_its_cause() {
        let err = load(b"\x80\x03X\x02\x00\x00\x00a\xff.").unwrap_err();
        assert!(matches!(err, PickleError::InvalidUtf8 { pos: 2, .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "malformed pickle at byte 2: invalid UTF-8 string: invalid utf-8 sequence of 1 bytes from index 1"
        );
        assert!(err.source().is_some_and(|s| s.is::<std::str::Utf8Error>()));
    }

    #[test]
    fn every_family_runs() {
        // protocol 0 text: [None, True, 3, 2**70, 1.5, 'é', '\x01', t := (1, 2), {'k': t}], t shared via the memo
        let text = b"(lp0\nNaI01\naI3\naL1180591620717411303424L\naF1.5\naV\\u00e9\naS'\\x01'\na(I1\nI2\ntp1\na(dS'k'\ng1\nsa.";
        let Value::List(items) = load(text).unwrap() else { panic!("not a list") };
        assert_eq!(items.len(), 9);
        assert_eq!(items[2], Value::Int(3));
        assert_eq!(items[3], Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 0x40]));
        assert_eq!(items[5], Value::Str("é".into()));
        assert_eq!(items[6], Value::Str("\u{1}".into()));
        assert_eq!(items[7], Value::Tuple(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(items[8].get("k"), Some(&items[7]));
    }
}
