//! What `load` returns: plain Python data and numeric numpy arrays.

use super::numpy::NdArray;

/// A loaded pickle. Containers keep file order; a dict is a list of pairs (pickle never repeats a key;
/// [`Value::get`] returns the last entry, as Python would keep).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer outside i64: little-endian two's complement, as LONG1/LONG4 store it.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    /// `bytes` or `bytearray`.
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Array(NdArray),
}

impl Value {
    /// The value under a string key (str or bytes) of a dict; `None` for a missing key or a non-dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(entries) => entries.iter().rev().find(|(k, _)| k.is_key(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    fn is_key(&self, key: &str) -> bool {
        match self {
            Value::Str(s) => s == key,
            Value::Bytes(b) => b == key.as_bytes(),
            _ => false,
        }
    }

    /// Removes and returns the value under a string key of a dict (the last one, as [`Value::get`]).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        match self {
            Value::Dict(entries) => {
                let index = entries.iter().rposition(|(k, _)| k.is_key(key))?;
                Some(entries.swap_remove(index).1)
            }
            _ => None,
        }
    }

    /// Short name of the Python type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Array(_) => "ndarray",
        }
    }
}
