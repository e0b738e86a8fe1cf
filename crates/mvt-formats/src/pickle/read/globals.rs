//! The object family: globals (only the known callables, [`Global`]), REDUCE calling them and BUILD completing
//! a numpy dtype or array. Everything else that would create an object is refused. The numpy objects themselves
//! are rebuilt by [`crate::pickle::numpy`]; this module turns the pickle's arguments into its inputs.

use std::borrow::Cow;

use ndarray::{Dimension, IxDyn};

use super::machine::Machine;
use super::node::{Global, Id, Node};
use crate::pickle::codecs::{i128_to_le, latin1_encode};
use crate::pickle::error::PickleError;
use crate::pickle::numpy::{DType, NdArray, Scalar};
use crate::pickle::opcode::Opcode;

impl<'a> Machine<'a> {
    /// Runs one opcode of the object family ([`Opcode::family`]).
    pub(super) fn object_op(&mut self, op: Opcode) -> Result<(), PickleError> {
        match op {
            Opcode::GLOBAL => {
                let module = self.ascii_line("GLOBAL module")?;
                let name = self.ascii_line("GLOBAL name")?;
                let global = self.global(module, name)?;
                self.push(Node::Global(global))
            }
            Opcode::STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(module), Some(name)) = (self.text_of(module), self.text_of(name)) else {
                    return Err(self.malformed("STACK_GLOBAL needs two strings"));
                };
                let global = self.global(&module, &name)?;
                self.push(Node::Global(global))
            }
            Opcode::INST => {
                // INST names a class to instantiate: refused like any other global.
                let module = self.ascii_line("INST module")?;
                let name = self.ascii_line("INST name")?;
                return Err(PickleError::RefusedGlobal { pos: self.op_pos, name: format!("{module}.{name}") });
            }
            Opcode::REDUCE => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let node = self.reduce(callable, args)?;
                self.push(node)
            }
            Opcode::BUILD => {
                let state = self.pop()?;
                let target = self.top()?;
                self.build(target, state)?
            }
            other => return Err(self.unsupported(other)), // OBJ, NEWOBJ(_EX), EXT1/2/4, (BIN)PERSID
        }
        Ok(())
    }

    fn global(&self, module: &str, name: &str) -> Result<Global, PickleError> {
        Global::resolve(module, name)
            .ok_or_else(|| PickleError::RefusedGlobal { pos: self.op_pos, name: format!("{module}.{name}") })
    }

    /// REDUCE: calls one of the allowed globals on an argument tuple.
    fn reduce(&mut self, callable: Id, args: Id) -> Result<Node<'a>, PickleError> {
        let Node::Global(global) = self.arena[callable] else {
            return Err(self.malformed("REDUCE on something that is not a global"));
        };
        let args = self.tuple_of(args, "REDUCE arguments")?.to_vec();
        let arg = |i: usize| self.argument(global, &args, i);
        match global {
            Global::Reconstruct => {
                if !matches!(self.arena[arg(0)?], Node::Global(Global::NdarrayType)) {
                    return Err(self.malformed("_reconstruct of something other than numpy.ndarray"));
                }
                Ok(Node::PendingArray)
            }
            Global::DTypeType => {
                let code = self.text_of(arg(0)?).ok_or_else(|| self.malformed("dtype code is not a string"))?;
                let dtype = DType::parse(&code).map_err(|code| {
                    self.malformed(format!("unsupported numpy dtype {code:?} (numeric dtypes only)"))
                })?;
                Ok(Node::DType(dtype))
            }
            Global::FromBuffer => self.frombuffer(&args),
            Global::Scalar => {
                let dtype = self.dtype_of(arg(0)?)?;
                let scalar = self.make_array(dtype, IxDyn(&[]), false, arg(1)?)?;
                Ok(scalar_node(&scalar))
            }
            Global::CodecsEncode => self.codecs_encode(&args),
            Global::BytesType if args.is_empty() => Ok(Node::Bytes(Cow::Borrowed(&[]))),
            Global::BytesType | Global::NdarrayType => Err(self.malformed(format!("unsupported call of {global:?}"))),
        }
    }

    /// Argument `i` of a call of `global`.
    fn argument(&self, global: Global, args: &[Id], i: usize) -> Result<Id, PickleError> {
        args.get(i).copied().ok_or_else(|| self.malformed(format!("{global:?} needs argument {i}")))
    }

    /// `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`: protocol 5's array with in-band data.
    fn frombuffer(&mut self, args: &[Id]) -> Result<Node<'a>, PickleError> {
        let arg = |i: usize| self.argument(Global::FromBuffer, args, i);
        let (buffer, dtype, shape, order) = (arg(0)?, arg(1)?, arg(2)?, arg(3)?);
        let dtype = self.dtype_of(dtype)?;
        let shape = self.shape_of(shape)?;
        let fortran = match self.text_of(order).as_deref() {
            Some("C") => false,
            Some("F") => true,
            _ => return Err(self.malformed("_frombuffer order is not 'C' or 'F'")),
        };
        Ok(Node::Array(self.make_array(dtype, shape, fortran, buffer)?))
    }

    /// `_codecs.encode(text, 'latin1')`: how protocol 2 pickles `bytes`.
    fn codecs_encode(&mut self, args: &[Id]) -> Result<Node<'a>, PickleError> {
        let text = self.argument(Global::CodecsEncode, args, 0)?;
        let text = self.text_of(text).ok_or_else(|| self.malformed("_codecs.encode of a non-string"))?;
        let encoding = self.argument(Global::CodecsEncode, args, 1)?;
        let encoding = self.text_of(encoding).map(|e| e.to_ascii_lowercase().replace('_', "-"));
        if !matches!(encoding.as_deref(), Some("latin1" | "latin-1" | "iso-8859-1")) {
            return Err(self.malformed("_codecs.encode with an encoding other than latin1"));
        }
        let bytes = latin1_encode(&text).ok_or_else(|| self.malformed("latin1 string has a code point above 255"))?;
        self.spend(bytes.len())?;
        Ok(Node::Bytes(Cow::Owned(bytes)))
    }

    /// BUILD: gives a dtype its byte order, or a reconstructed array its shape, dtype and data.
    fn build(&mut self, target: Id, state: Id) -> Result<(), PickleError> {
        let state = self.tuple_of(state, "BUILD state")?.to_vec();
        let built = match self.arena[target] {
            Node::DType(dtype) => Node::DType(self.dtype_state(dtype, &state)?),
            Node::PendingArray => Node::Array(self.array_state(&state)?),
            _ => return Err(self.malformed("BUILD on an object that is not a numpy dtype or array")),
        };
        self.arena[target] = built;
        Ok(())
    }

    /// A dtype's `__setstate__`: (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata]).
    fn dtype_state(&self, mut dtype: DType, state: &[Id]) -> Result<DType, PickleError> {
        let order = state.get(1).and_then(|&o| self.text_of(o));
        dtype.big_endian = order
            .as_deref()
            .and_then(DType::big_endian_order)
            .ok_or_else(|| self.malformed("dtype state has no byte order"))?;
        if state.iter().skip(2).take(3).any(|&i| !matches!(self.arena[i], Node::None)) {
            return Err(self.malformed("structured or subarray dtypes are not supported"));
        }
        Ok(dtype)
    }

    /// An ndarray's `__setstate__`: (version, shape, dtype, is_fortran, data), or the same without the version.
    fn array_state(&mut self, state: &[Id]) -> Result<NdArray, PickleError> {
        let fields = match state.len() {
            5 => &state[1..],
            4 => state,
            n => return Err(self.malformed(format!("ndarray state has {n} fields"))),
        };
        let shape = self.shape_of(fields[0])?;
        let dtype = self.dtype_of(fields[1])?;
        let fortran = self.int_of(fields[2], "is_fortran")? != 0;
        self.make_array(dtype, shape, fortran, fields[3])
    }

    fn dtype_of(&self, id: Id) -> Result<DType, PickleError> {
        match self.arena[id] {
            Node::DType(d) => Ok(d),
            _ => Err(self.malformed("expected a numpy dtype")),
        }
    }

    fn shape_of(&self, id: Id) -> Result<IxDyn, PickleError> {
        let dims = self.tuple_of(id, "array shape")?;
        let shape = dims
            .iter()
            .map(|&d| {
                usize::try_from(self.int_of(d, "array dimension")?)
                    .map_err(|_| self.malformed("negative array dimension"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IxDyn(&shape))
    }

    /// Raw bytes of array data: bytes, bytearray, a Python 2 str, or a str of code points < 256.
    fn data_of(&self, id: Id) -> Result<Cow<'_, [u8]>, PickleError> {
        match &self.arena[id] {
            Node::Bytes(b) | Node::Latin1(b) => Ok(Cow::Borrowed(b.as_ref())),
            Node::Str(s) => {
                latin1_encode(s).map(Cow::Owned).ok_or_else(|| self.malformed("array data str is not latin-1"))
            }
            _ => Err(self.malformed("array data is not bytes")),
        }
    }

    /// The array of `shape` whose data is the bytes object `data`, its length checked and its size budgeted.
    fn make_array(&mut self, dtype: DType, shape: IxDyn, fortran: bool, data: Id) -> Result<NdArray, PickleError> {
        let needed = dtype.data_len(&shape);
        let data_len = self.data_of(data)?.len();
        if needed != Some(data_len) {
            return Err(self.malformed(format!(
                "array data has {data_len} bytes but shape {:?} of {} needs {}",
                shape.slice(),
                dtype.element.code(),
                needed.map_or_else(|| "more than fits in memory".to_string(), |n| n.to_string())
            )));
        }
        self.spend(data_len)?;
        let data = self.data_of(data)?;
        Ok(dtype.array(shape, fortran, &data))
    }
}

/// A numpy scalar (a 0-d array) as the plain Python value it stands for.
fn scalar_node(scalar: &NdArray) -> Node<'static> {
    match scalar.first_scalar() {
        None => Node::None,
        Some(Scalar::Bool(b)) => Node::Bool(b),
        Some(Scalar::Float(x)) => Node::Float(x),
        Some(Scalar::Int(v)) => i64::try_from(v).map_or_else(|_| Node::BigInt(i128_to_le(v)), Node::Int),
    }
}
