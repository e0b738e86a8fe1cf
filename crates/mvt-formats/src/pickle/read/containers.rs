//! The container family: tuples, lists and dicts, built from MARK frames or the top of the stack, and grown in
//! place (APPEND(S), SETITEM(S)) so that memoized references see the additions. Sets are refused.

use super::machine::Machine;
use super::node::{Id, Node};
use crate::pickle::error::PickleError;
use crate::pickle::opcode::Opcode;

impl Machine<'_> {
    /// Runs one opcode of the container family ([`Opcode::family`]).
    pub(super) fn container_op(&mut self, op: Opcode) -> Result<(), PickleError> {
        match op {
            Opcode::EMPTY_TUPLE => self.push(Node::Tuple(Vec::new())),
            Opcode::EMPTY_LIST => self.push(Node::List(Vec::new())),
            Opcode::EMPTY_DICT => self.push(Node::Dict(Vec::new())),
            Opcode::TUPLE => {
                let items = self.pop_mark()?;
                self.push(Node::Tuple(items))
            }
            Opcode::TUPLE1 | Opcode::TUPLE2 | Opcode::TUPLE3 => {
                let n = usize::from(u8::from(op) - u8::from(Opcode::TUPLE1) + 1);
                if self.stack.len() < self.floor() + n {
                    return Err(self.malformed("stack underflow"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Node::Tuple(items))
            }
            Opcode::LIST => {
                let items = self.pop_mark()?;
                self.push(Node::List(items))
            }
            Opcode::DICT => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(&items)?;
                self.push(Node::Dict(pairs))
            }
            Opcode::APPEND => {
                let item = self.pop()?;
                self.list_extend(&[item])?
            }
            Opcode::APPENDS => {
                let items = self.pop_mark()?;
                self.list_extend(&items)?
            }
            Opcode::SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.dict_extend(vec![(key, value)])?
            }
            Opcode::SETITEMS => {
                let items = self.pop_mark()?;
                let pairs = self.pairs(&items)?;
                self.dict_extend(pairs)?
            }
            other => return Err(self.unsupported(other)), // EMPTY_SET, ADDITEMS, FROZENSET
        }
        Ok(())
    }

    fn pairs(&self, items: &[Id]) -> Result<Vec<(Id, Id)>, PickleError> {
        if items.len() % 2 != 0 {
            return Err(self.malformed("odd number of items for a dict"));
        }
        Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
    }

    fn list_extend(&mut self, items: &[Id]) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.arena[target] {
            Node::List(list) => {
                list.extend_from_slice(items);
                Ok(())
            }
            _ => Err(self.malformed("APPEND to something that is not a list")),
        }
    }

    fn dict_extend(&mut self, pairs: Vec<(Id, Id)>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.arena[target] {
            Node::Dict(dict) => {
                dict.extend(pairs);
                Ok(())
            }
            _ => Err(self.malformed("SETITEM on something that is not a dict")),
        }
    }
}
