//! The object graph left by the machine, turned into a [`Value`] tree: shared objects are copied, with the copies
//! counted against the decode budget and the nesting depth capped.

use super::machine::Machine;
use super::node::{Id, Node};
use crate::pickle::codecs::latin1_decode;
use crate::pickle::error::PickleError;
use crate::pickle::value::Value;

/// Nested containers deeper than this are refused (feature files nest 3 levels).
const MAX_DEPTH: usize = 200;

impl Machine<'_> {
    /// The [`Value`] of object `id`, `depth` containers down from the root.
    pub(super) fn materialize(&mut self, id: Id, depth: usize) -> Result<Value, PickleError> {
        self.op_pos = self.input.len();
        if depth > MAX_DEPTH {
            return Err(PickleError::LimitExceeded {
                pos: self.op_pos,
                msg: format!("nesting deeper than {MAX_DEPTH}"),
            });
        }
        let payload = match &self.arena[id] {
            Node::Str(s) => s.len(),
            Node::Latin1(b) | Node::Bytes(b) => 2 * b.len(),
            Node::BigInt(b) => b.len(),
            Node::Array(a) => a.shape().iter().product::<usize>() * a.element_type().size(),
            _ => 0,
        };
        self.spend(payload + 1)?;
        let value = match &self.arena[id] {
            Node::None => Value::None,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::Int(*i),
            Node::BigInt(b) => Value::BigInt(b.clone()),
            Node::Float(f) => Value::Float(*f),
            Node::Str(s) => Value::Str(s.to_string()),
            Node::Latin1(b) => Value::Str(latin1_decode(b)),
            Node::Bytes(b) => Value::Bytes(b.to_vec()),
            Node::Array(a) => Value::Array(a.clone()),
            Node::List(items) => Value::List(self.materialize_all(items.clone(), depth)?),
            Node::Tuple(items) => Value::Tuple(self.materialize_all(items.clone(), depth)?),
            Node::Dict(pairs) => {
                let pairs = pairs.clone();
                let entries = pairs
                    .into_iter()
                    .map(|(k, v)| Ok((self.materialize(k, depth + 1)?, self.materialize(v, depth + 1)?)))
                    .collect::<Result<_, PickleError>>()?;
                Value::Dict(entries)
            }
            Node::Global(g) => return Err(self.malformed(format!("a bare global {g:?} is not data"))),
            Node::DType(_) => return Err(self.malformed("a bare numpy dtype is not data")),
            Node::PendingArray => return Err(self.malformed("numpy array reconstructed without BUILD")),
        };
        Ok(value)
    }

    fn materialize_all(&mut self, items: Vec<Id>, depth: usize) -> Result<Vec<Value>, PickleError> {
        items.into_iter().map(|i| self.materialize(i, depth + 1)).collect()
    }
}
