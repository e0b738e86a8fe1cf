//! The objects of the pickle machine and the callables it knows.

use std::borrow::Cow;

use crate::pickle::numpy::{DType, NdArray};

/// An object's index in the machine's arena.
pub(super) type Id = usize;

/// An object of the pickle machine. Objects live in an arena and refer to each other by index, so that memo
/// sharing and later mutation (SETITEMS after BINPUT, BUILD) behave as in Python without reference cycles.
pub(super) enum Node<'a> {
    None,
    Bool(bool),
    Int(i64),
    BigInt(Vec<u8>),
    Float(f64),
    Str(Cow<'a, str>),
    /// A Python 2 `str`: raw bytes, read as latin-1 text (or as array data).
    Latin1(Cow<'a, [u8]>),
    Bytes(Cow<'a, [u8]>),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Global(Global),
    DType(DType),
    /// `_reconstruct(ndarray, ...)` before BUILD gives it shape, dtype and data.
    PendingArray,
    Array(NdArray),
}

/// The callables this reader knows; anything else is refused when the pickle names it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Global {
    Reconstruct,
    NdarrayType,
    DTypeType,
    FromBuffer,
    Scalar,
    CodecsEncode,
    BytesType,
}

impl Global {
    /// `module.name` if it is one of the known callables.
    pub(super) fn resolve(module: &str, name: &str) -> Option<Global> {
        Some(match (module, name) {
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => Global::Reconstruct,
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Global::Scalar,
            ("numpy.core.numeric" | "numpy._core.numeric", "_frombuffer") => Global::FromBuffer,
            ("numpy", "ndarray") => Global::NdarrayType,
            ("numpy", "dtype") => Global::DTypeType,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("builtins" | "__builtin__", "bytes") => Global::BytesType,
            _ => return None,
        })
    }
}
