//! The pickle machine's state and the primitives every opcode family uses: reading arguments from the input,
//! the stack and its MARK frames, the memo, the object arena and the decode budget.

use std::borrow::Cow;
use std::collections::HashMap;

use super::node::{Id, Node};
use crate::pickle::codecs::latin1_decode;
use crate::pickle::error::PickleError;
use crate::pickle::opcode::Opcode;

pub(super) struct Machine<'a> {
    pub(super) input: &'a [u8],
    pub(super) pos: usize,
    /// Offset of the opcode being executed (for errors).
    pub(super) op_pos: usize,
    pub(super) arena: Vec<Node<'a>>,
    pub(super) stack: Vec<Id>,
    /// Stack lengths at each open MARK.
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u64, Id>,
    /// Bytes that decoding and materializing may still produce.
    budget: usize,
}

impl<'a> Machine<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        Machine {
            input,
            pos: 0,
            op_pos: 0,
            arena: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            budget: input.len().saturating_mul(8).saturating_add(1 << 16),
        }
    }

    // --- errors and limits

    pub(super) fn malformed(&self, msg: impl Into<String>) -> PickleError {
        PickleError::Malformed { pos: self.op_pos, msg: msg.into() }
    }

    pub(super) fn truncated(&self, what: &'static str) -> PickleError {
        PickleError::Truncated { pos: self.op_pos, what }
    }

    /// An opcode feature files never contain (sets, out-of-band buffers, object creation, ...).
    pub(super) fn unsupported(&self, op: Opcode) -> PickleError {
        let name = match op {
            Opcode::EXT1 | Opcode::EXT2 | Opcode::EXT4 => "EXT",
            Opcode::NEXT_BUFFER => "NEXT_BUFFER (out-of-band buffers)",
            other => other.name(),
        };
        PickleError::UnsupportedOpcode { pos: self.op_pos, name }
    }

    /// Counts `bytes` of decoded output against the budget (8x the input size plus 64 KiB).
    pub(super) fn spend(&mut self, bytes: usize) -> Result<(), PickleError> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| PickleError::LimitExceeded {
            pos: self.op_pos,
            msg: format!("decoded data exceeds 8x the input size ({} bytes)", self.input.len()),
        })?;
        Ok(())
    }

    // --- arguments from the input

    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PickleError> {
        let input = self.input;
        let end = self.pos.checked_add(n).filter(|&end| end <= input.len()).ok_or(self.truncated(what))?;
        let bytes = &input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    pub(super) fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], PickleError> {
        let mut raw = [0u8; N];
        raw.copy_from_slice(self.take(N, what)?);
        Ok(raw)
    }

    /// A length field that must fit in the remaining input (checked again by `take`).
    pub(super) fn take_len(&mut self, len: u64, what: &'static str) -> Result<&'a [u8], PickleError> {
        let n = usize::try_from(len).map_err(|_| self.truncated(what))?;
        self.take(n, what)
    }

    /// A text-protocol argument: the bytes up to the next newline (excluded).
    pub(super) fn line(&mut self, what: &'static str) -> Result<&'a [u8], PickleError> {
        let rest = &self.input[self.pos..];
        let len = rest.iter().position(|&b| b == b'\n').ok_or(self.truncated(what))?;
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    pub(super) fn ascii_line(&mut self, what: &'static str) -> Result<&'a str, PickleError> {
        let line = self.line(what)?;
        std::str::from_utf8(line).map_err(|_| self.malformed(format!("{what} is not text")))
    }

    // --- the stack

    pub(super) fn push(&mut self, node: Node<'a>) {
        self.arena.push(node);
        self.stack.push(self.arena.len() - 1);
    }

    /// Lowest stack index the current MARK frame may pop to (Python moves the stack aside at MARK).
    pub(super) fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    pub(super) fn pop(&mut self) -> Result<Id, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack.pop().expect("checked non-empty"))
    }

    pub(super) fn top(&self) -> Result<Id, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack[self.stack.len() - 1])
    }

    /// The items above the innermost MARK, which is closed.
    pub(super) fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.malformed("no MARK to pop to"))?;
        Ok(self.stack.split_off(mark))
    }

    // --- typed views of arena objects

    /// The text of a str-like node (names of globals, dtype codes, byte orders).
    pub(super) fn text_of(&self, id: Id) -> Option<Cow<'_, str>> {
        match &self.arena[id] {
            Node::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Node::Latin1(b) => Some(Cow::Owned(latin1_decode(b))),
            _ => None,
        }
    }

    pub(super) fn tuple_of(&self, id: Id, what: &str) -> Result<&[Id], PickleError> {
        match &self.arena[id] {
            Node::Tuple(items) => Ok(items),
            _ => Err(self.malformed(format!("{what} is not a tuple"))),
        }
    }

    pub(super) fn int_of(&self, id: Id, what: &str) -> Result<i64, PickleError> {
        match self.arena[id] {
            Node::Int(i) => Ok(i),
            Node::Bool(b) => Ok(i64::from(b)),
            _ => Err(self.malformed(format!("{what} is not an int"))),
        }
    }
}
