//! The stack family: MARK, POP, POP_MARK, DUP and the memo.

use super::machine::Machine;
use crate::pickle::error::PickleError;
use crate::pickle::opcode::Opcode;

impl Machine<'_> {
    /// Runs one opcode of the stack family ([`Opcode::family`]).
    pub(super) fn stack_op(&mut self, op: Opcode) -> Result<(), PickleError> {
        match op {
            Opcode::MARK => self.marks.push(self.stack.len()),
            Opcode::POP => {
                self.pop()?;
            }
            Opcode::POP_MARK => {
                self.pop_mark()?;
            }
            Opcode::DUP => {
                let id = self.top()?;
                self.stack.push(id);
            }
            Opcode::PUT | Opcode::BINPUT | Opcode::LONG_BINPUT | Opcode::MEMOIZE => {
                let key = self.memo_key(op)?;
                let id = self.top()?;
                self.memo.insert(key, id);
            }
            Opcode::GET | Opcode::BINGET | Opcode::LONG_BINGET => {
                let key = self.memo_key(op)?;
                let id =
                    *self.memo.get(&key).ok_or_else(|| self.malformed(format!("memo key {key} was never stored")))?;
                self.stack.push(id);
            }
            other => return Err(self.unsupported(other)), // not of this family
        }
        Ok(())
    }

    /// The memo key argument of a PUT or GET opcode (MEMOIZE: the next free key).
    fn memo_key(&mut self, op: Opcode) -> Result<u64, PickleError> {
        match op {
            Opcode::PUT | Opcode::GET => {
                let text = self.ascii_line(op.name())?;
                let what = op.name();
                text.trim().parse().map_err(|_| self.malformed(format!("{what} key {text:?} is not a number")))
            }
            Opcode::BINPUT | Opcode::BINGET => {
                let [key] = self.take_array::<1>(op.name())?;
                Ok(key.into())
            }
            Opcode::LONG_BINPUT | Opcode::LONG_BINGET => Ok(u32::from_le_bytes(self.take_array(op.name())?).into()),
            _ => Ok(self.memo.len() as u64), // MEMOIZE
        }
    }
}
