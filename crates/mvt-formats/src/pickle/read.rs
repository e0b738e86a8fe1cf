//! A restricted unpickler: it runs the pickle virtual machine over data only and never executes anything.
//!
//! It understands every opcode of protocols 0 to 5 that plain data needs (dict, list, tuple, str, bytes, int,
//! float, bool, None, memo, FRAME, MARK) and exactly the globals numpy uses to pickle a numeric array or
//! scalar: `numpy.core.multiarray._reconstruct` / `numpy._core.multiarray._reconstruct` + `numpy.ndarray` +
//! `numpy.dtype` (BUILD with the state tuple), `numpy{.core,._core}.numeric._frombuffer` (protocol 5, in-band
//! buffer), `numpy{.core,._core}.multiarray.scalar`, and `_codecs.encode` / `builtins.bytes` (how protocol 2
//! writes bytes). Every other global is refused with its name. Python 2 `str` (STRING, BINSTRING,
//! SHORT_BINSTRING) is decoded as latin-1, like the original's `pickle.load(f, encoding='iso-8859-1')`.
//!
//! Safety: no recursion while reading (nesting is materialized with a depth limit), every length is checked
//! against the remaining input before anything is allocated, and the total decoded size is capped by a
//! multiple of the input size, so a lying or hostile file gives a [`PickleError`], never a panic or an
//! unbounded allocation.

use std::borrow::Cow;
use std::collections::HashMap;

use ndarray::{ArrayD, Dimension, IxDyn, ShapeBuilder};


/// Why a pickle was not loaded. `pos` is the byte offset of the opcode being executed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PickleError {
    #[error("truncated pickle: {what} at byte {pos} runs past the end of the input")]
    Truncated { pos: usize, what: &'static str },
    #[error("unknown pickle opcode 0x{op:02x} at byte {pos}")]
    UnknownOpcode { pos: usize, op: u8 },
    #[error("unsupported pickle opcode {name} at byte {pos} (feature files never contain it)")]
    UnsupportedOpcode { pos: usize, name: &'static str },
    #[error("refused global {name} at byte {pos}: only numpy arrays and scalars may be reconstructed")]
    RefusedGlobal { pos: usize, name: String },
    #[error("malformed pickle at byte {pos}: {msg}")]
    Malformed { pos: usize, msg: String },
    #[error("pickle exceeds a safety limit at byte {pos}: {msg}")]
    LimitExceeded { pos: usize, msg: String },
    #[error("not a feature file: {0}")]
    NotFeatureFile(String),
}

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

/// Implemented by every element type a numeric array can hold.
trait Element: Copy {
    const SIZE: usize;
    fn decode(bytes: &[u8], big_endian: bool) -> Self;
    /// The value as numpy's `astype(float32)` gives it.
    fn to_f32(self) -> f32;
}

impl Element for bool {
    const SIZE: usize = 1;
    fn decode(bytes: &[u8], _: bool) -> Self {
        bytes[0] != 0
    }
    fn to_f32(self) -> f32 {
        f32::from(u8::from(self))
    }
}

macro_rules! numeric_element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn decode(bytes: &[u8], big_endian: bool) -> Self {
                let mut raw = [0u8; std::mem::size_of::<$t>()];
                raw.copy_from_slice(bytes);
                if big_endian { <$t>::from_be_bytes(raw) } else { <$t>::from_le_bytes(raw) }
            }
            fn to_f32(self) -> f32 {
                self as f32
            }
        }
    )*};
}
numeric_element!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

/// Declares the supported element types once: [`ElementType`] (with its numpy code), [`NdArray`] and the
/// per-type dispatch, so that the table below is the only list of them.
macro_rules! element_types {
    ($(($variant:ident, $t:ty, $code:literal)),* $(,)?) => {
        /// A numpy dtype this reader accepts (numpy's `kind + itemsize` code in parentheses).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ElementType { $(#[doc = $code] $variant),* }

        impl ElementType {
            /// From numpy's dtype code (`'f4'`, `'i8'`, `'b1'`, ...).
            fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some(ElementType::$variant),)* _ => None }
            }
            pub fn size(self) -> usize {
                match self { $(ElementType::$variant => <$t as Element>::SIZE),* }
            }
            pub fn code(self) -> &'static str {
                match self { $(ElementType::$variant => $code),* }
            }
        }

        /// A numeric numpy array (any dimensionality, C or Fortran memory order preserved).
        #[derive(Clone, Debug, PartialEq)]
        pub enum NdArray { $($variant(ArrayD<$t>)),* }

        impl NdArray {
            pub fn element_type(&self) -> ElementType {
                match self { $(NdArray::$variant(_) => ElementType::$variant),* }
            }
            pub fn shape(&self) -> &[usize] {
                match self { $(NdArray::$variant(a) => a.shape()),* }
            }
            /// The array as float32 in standard (C) layout; a C-ordered float32 array is moved, not copied.
            pub fn into_f32(self) -> ArrayD<f32> {
                match self {
                    NdArray::F32(a) if a.is_standard_layout() => a,
                    $(NdArray::$variant(a) => {
                        let values = a.iter().map(|&x| x.to_f32()).collect();
                        ArrayD::from_shape_vec(a.raw_dim(), values).expect("same element count as the source")
                    })*
                }
            }
            fn decode(element: ElementType, big_endian: bool, shape: IxDyn, fortran: bool, data: &[u8]) -> Self {
                match element {
                    $(ElementType::$variant => NdArray::$variant(decode_elements::<$t>(data, big_endian, shape, fortran))),*
                }
            }
        }
    };
}
element_types!(
    (Bool, bool, "b1"),
    (I8, i8, "i1"),
    (I16, i16, "i2"),
    (I32, i32, "i4"),
    (I64, i64, "i8"),
    (U8, u8, "u1"),
    (U16, u16, "u2"),
    (U32, u32, "u4"),
    (U64, u64, "u8"),
    (F32, f32, "f4"),
    (F64, f64, "f8"),
);

/// `data.len()` is exactly the element count times `T::SIZE` (checked by the caller).
fn decode_elements<T: Element>(data: &[u8], big_endian: bool, shape: IxDyn, fortran: bool) -> ArrayD<T> {
    let values: Vec<T> = data.chunks_exact(T::SIZE).map(|c| T::decode(c, big_endian)).collect();
    ArrayD::from_shape_vec(shape.set_f(fortran), values).expect("element count checked against the shape")
}

/// Reads one pickle (the first; bytes after its STOP are ignored, as `pickle.load` does).
pub fn load(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut machine = Machine::new(bytes);
    let root = machine.run()?;
    machine.materialize(root, 0)
}

/// Nested containers deeper than this are refused (feature files nest 3 levels).
const MAX_DEPTH: usize = 200;
/// Integer literals longer than this are refused (Python's own limit for str -> int).
const MAX_INT_DIGITS: usize = 4300;

type Id = usize;

/// The callables this reader knows; anything else is refused when the pickle names it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Global {
    Reconstruct,
    NdarrayType,
    DTypeType,
    FromBuffer,
    Scalar,
    CodecsEncode,
    BytesType,
}

fn resolve_global(module: &str, name: &str) -> Option<Global> {
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

#[derive(Clone, Copy, Debug)]
struct DType {
    element: ElementType,
    big_endian: bool,
}

/// An object of the pickle machine. Objects live in an arena and refer to each other by index, so that memo
/// sharing and later mutation (SETITEMS after BINPUT, BUILD) behave as in Python without reference cycles.
enum Node<'a> {
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

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed (for errors).
    op_pos: usize,
    arena: Vec<Node<'a>>,
    stack: Vec<Id>,
    /// Stack lengths at each open MARK.
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    /// Bytes that decoding and materializing may still produce.
    budget: usize,
}

impl<'a> Machine<'a> {
    fn new(input: &'a [u8]) -> Self {
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

    fn malformed(&self, msg: impl Into<String>) -> PickleError {
        PickleError::Malformed { pos: self.op_pos, msg: msg.into() }
    }

    fn spend(&mut self, bytes: usize) -> Result<(), PickleError> {
        self.budget = self.budget.checked_sub(bytes).ok_or_else(|| PickleError::LimitExceeded {
            pos: self.op_pos,
            msg: format!("decoded data exceeds 8x the input size ({} bytes)", self.input.len()),
        })?;
        Ok(())
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PickleError> {
        let input = self.input;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= input.len())
            .ok_or(PickleError::Truncated { pos: self.op_pos, what })?;
        let bytes = &input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], PickleError> {
        let mut raw = [0u8; N];
        raw.copy_from_slice(self.take(N, what)?);
        Ok(raw)
    }

    /// A length field that must fit in the remaining input (checked again by `take`).
    fn take_len(&mut self, len: u64, what: &'static str) -> Result<&'a [u8], PickleError> {
        let n = usize::try_from(len).map_err(|_| PickleError::Truncated { pos: self.op_pos, what })?;
        self.take(n, what)
    }

    /// A text-protocol argument: the bytes up to the next newline (excluded).
    fn line(&mut self, what: &'static str) -> Result<&'a [u8], PickleError> {
        let rest = &self.input[self.pos..];
        let len = rest.iter().position(|&b| b == b'\n').ok_or(PickleError::Truncated { pos: self.op_pos, what })?;
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    fn ascii_line(&mut self, what: &'static str) -> Result<&'a str, PickleError> {
        let line = self.line(what)?;
        std::str::from_utf8(line).map_err(|_| self.malformed(format!("{what} is not text")))
    }

    fn push(&mut self, node: Node<'a>) {
        self.arena.push(node);
        self.stack.push(self.arena.len() - 1);
    }

    /// Lowest stack index the current MARK frame may pop to (Python moves the stack aside at MARK).
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Id, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack.pop().expect("checked non-empty"))
    }

    fn top(&self) -> Result<Id, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.malformed("stack underflow"));
        }
        Ok(self.stack[self.stack.len() - 1])
    }

    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.malformed("no MARK to pop to"))?;
        Ok(self.stack.split_off(mark))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let id = self.top()?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        let id = *self.memo.get(&key).ok_or_else(|| self.malformed(format!("memo key {key} was never stored")))?;
        self.stack.push(id);
        Ok(())
    }

    fn decimal(&self, text: &str, what: &str) -> Result<u64, PickleError> {
        text.trim().parse().map_err(|_| self.malformed(format!("{what} {text:?} is not a number")))
    }

    fn utf8(&self, bytes: &'a [u8]) -> Result<Node<'a>, PickleError> {
        let text = std::str::from_utf8(bytes).map_err(|e| self.malformed(format!("invalid UTF-8 string: {e}")))?;
        Ok(Node::Str(Cow::Borrowed(text)))
    }

    /// The text of a str-like node (names of globals, dtype codes, byte orders).
    fn text_of(&self, id: Id) -> Option<Cow<'_, str>> {
        match &self.arena[id] {
            Node::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Node::Latin1(b) => Some(Cow::Owned(b.iter().map(|&c| char::from(c)).collect())),
            _ => None,
        }
    }

    /// Raw bytes of array data: bytes, bytearray, a Python 2 str, or a str of code points < 256.
    fn data_of(&self, id: Id) -> Result<Cow<'_, [u8]>, PickleError> {
        match &self.arena[id] {
            Node::Bytes(b) | Node::Latin1(b) => Ok(Cow::Borrowed(b.as_ref())),
            Node::Str(s) => {
                latin1_bytes(s).map(Cow::Owned).ok_or_else(|| self.malformed("array data str is not latin-1"))
            }
            _ => Err(self.malformed("array data is not bytes")),
        }
    }

    fn tuple_of(&self, id: Id, what: &str) -> Result<&[Id], PickleError> {
        match &self.arena[id] {
            Node::Tuple(items) => Ok(items),
            _ => Err(self.malformed(format!("{what} is not a tuple"))),
        }
    }

    fn int_of(&self, id: Id, what: &str) -> Result<i64, PickleError> {
        match self.arena[id] {
            Node::Int(i) => Ok(i),
            Node::Bool(b) => Ok(i64::from(b)),
            _ => Err(self.malformed(format!("{what} is not an int"))),
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

    fn dtype_of(&self, id: Id) -> Result<DType, PickleError> {
        match self.arena[id] {
            Node::DType(d) => Ok(d),
            _ => Err(self.malformed("expected a numpy dtype")),
        }
    }

    fn make_array(&mut self, dtype: DType, shape: IxDyn, fortran: bool, data: Id) -> Result<NdArray, PickleError> {
        let count = shape.slice().iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let needed = count.and_then(|c| c.checked_mul(dtype.element.size()));
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
        Ok(NdArray::decode(dtype.element, dtype.big_endian, shape, fortran, &data))
    }

    /// Runs opcodes until STOP; returns the object left on top.
    fn run(&mut self) -> Result<Id, PickleError> {
        loop {
            self.op_pos = self.pos;
            let [op] = self.take_array::<1>("opcode")?;
            match op {
                // --- framing and protocol
                0x80 => {
                    let [proto] = self.take_array::<1>("PROTO")?;
                    if proto > 5 {
                        return Err(self.malformed(format!("unsupported protocol {proto}")));
                    }
                }
                0x95 => {
                    // FRAME: only a read-ahead hint; the frame must still lie inside the input.
                    let len = u64::from_le_bytes(self.take_array("FRAME")?);
                    let remaining = (self.input.len() - self.pos) as u64;
                    if len > remaining {
                        return Err(PickleError::Truncated { pos: self.op_pos, what: "FRAME" });
                    }
                }
                b'.' => return self.pop(),
                // --- stack and marks
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let id = self.top()?;
                    self.stack.push(id);
                }
                // --- memo
                b'p' => {
                    let key = self.ascii_line("PUT")?;
                    let key = self.decimal(key, "PUT key")?;
                    self.memo_put(key)?
                }
                b'q' => {
                    let [key] = self.take_array::<1>("BINPUT")?;
                    self.memo_put(key.into())?
                }
                b'r' => {
                    let key = u32::from_le_bytes(self.take_array("LONG_BINPUT")?);
                    self.memo_put(key.into())?
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo_put(key)?
                }
                b'g' => {
                    let key = self.ascii_line("GET")?;
                    let key = self.decimal(key, "GET key")?;
                    self.memo_get(key)?
                }
                b'h' => {
                    let [key] = self.take_array::<1>("BINGET")?;
                    self.memo_get(key.into())?
                }
                b'j' => {
                    let key = u32::from_le_bytes(self.take_array("LONG_BINGET")?);
                    self.memo_get(key.into())?
                }
                // --- constants and numbers
                b'N' => self.push(Node::None),
                0x88 => self.push(Node::Bool(true)),
                0x89 => self.push(Node::Bool(false)),
                b'K' => {
                    let [v] = self.take_array::<1>("BININT1")?;
                    self.push(Node::Int(v.into()))
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take_array("BININT2")?);
                    self.push(Node::Int(v.into()))
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take_array("BININT")?);
                    self.push(Node::Int(v.into()))
                }
                0x8a => {
                    let [n] = self.take_array::<1>("LONG1")?;
                    let bytes = self.take(n.into(), "LONG1")?;
                    self.push(int_node_from_le(bytes))
                }
                0x8b => {
                    let n = i32::from_le_bytes(self.take_array("LONG4")?);
                    let n = u64::try_from(n).map_err(|_| self.malformed("negative LONG4 length"))?;
                    let bytes = self.take_len(n, "LONG4")?;
                    self.spend(bytes.len())?;
                    self.push(int_node_from_le(bytes))
                }
                b'I' => {
                    let text = self.ascii_line("INT")?;
                    let node = match text {
                        "00" => Node::Bool(false),
                        "01" => Node::Bool(true),
                        _ => self.decimal_int(text)?,
                    };
                    self.push(node)
                }
                b'L' => {
                    let text = self.ascii_line("LONG")?;
                    let node = self.decimal_int(text.strip_suffix('L').unwrap_or(text))?;
                    self.push(node)
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take_array("BINFLOAT")?);
                    self.push(Node::Float(v))
                }
                b'F' => {
                    let text = self.ascii_line("FLOAT")?;
                    let v =
                        text.trim().parse().map_err(|_| self.malformed(format!("FLOAT {text:?} is not a number")))?;
                    self.push(Node::Float(v))
                }
                // --- strings and bytes
                b'X' => {
                    let n = u32::from_le_bytes(self.take_array("BINUNICODE")?);
                    let bytes = self.take_len(n.into(), "BINUNICODE")?;
                    let node = self.utf8(bytes)?;
                    self.push(node)
                }
                0x8c => {
                    let [n] = self.take_array::<1>("SHORT_BINUNICODE")?;
                    let bytes = self.take(n.into(), "SHORT_BINUNICODE")?;
                    let node = self.utf8(bytes)?;
                    self.push(node)
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.take_array("BINUNICODE8")?);
                    let bytes = self.take_len(n, "BINUNICODE8")?;
                    let node = self.utf8(bytes)?;
                    self.push(node)
                }
                b'V' => {
                    let line = self.line("UNICODE")?;
                    let text =
                        raw_unicode_unescape(line).ok_or_else(|| self.malformed("bad raw-unicode-escape string"))?;
                    self.push(Node::Str(Cow::Owned(text)))
                }
                b'T' => {
                    let n = i32::from_le_bytes(self.take_array("BINSTRING")?);
                    let n = u64::try_from(n).map_err(|_| self.malformed("negative BINSTRING length"))?;
                    let bytes = self.take_len(n, "BINSTRING")?;
                    self.push(Node::Latin1(Cow::Borrowed(bytes)))
                }
                b'U' => {
                    let [n] = self.take_array::<1>("SHORT_BINSTRING")?;
                    let bytes = self.take(n.into(), "SHORT_BINSTRING")?;
                    self.push(Node::Latin1(Cow::Borrowed(bytes)))
                }
                b'S' => {
                    let line = self.line("STRING")?;
                    let bytes = python_string_literal(line).ok_or_else(|| self.malformed("bad STRING literal"))?;
                    self.push(Node::Latin1(Cow::Owned(bytes)))
                }
                b'B' => {
                    let n = u32::from_le_bytes(self.take_array("BINBYTES")?);
                    let bytes = self.take_len(n.into(), "BINBYTES")?;
                    self.push(Node::Bytes(Cow::Borrowed(bytes)))
                }
                b'C' => {
                    let [n] = self.take_array::<1>("SHORT_BINBYTES")?;
                    let bytes = self.take(n.into(), "SHORT_BINBYTES")?;
                    self.push(Node::Bytes(Cow::Borrowed(bytes)))
                }
                0x8e | 0x96 => {
                    // BINBYTES8 and BYTEARRAY8 (protocol 5's in-band buffer for numpy's _frombuffer).
                    let what = if op == 0x8e { "BINBYTES8" } else { "BYTEARRAY8" };
                    let n = u64::from_le_bytes(self.take_array(what)?);
                    let bytes = self.take_len(n, what)?;
                    self.push(Node::Bytes(Cow::Borrowed(bytes)))
                }
                // --- containers
                b')' => self.push(Node::Tuple(Vec::new())),
                b']' => self.push(Node::List(Vec::new())),
                b'}' => self.push(Node::Dict(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items))
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < self.floor() + n {
                        return Err(self.malformed("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Node::Tuple(items))
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items))
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(&items)?;
                    self.push(Node::Dict(pairs))
                }
                b'a' => {
                    let item = self.pop()?;
                    self.list_extend(&[item])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.list_extend(&items)?
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.dict_extend(vec![(key, value)])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(&items)?;
                    self.dict_extend(pairs)?
                }
                // --- globals and calls
                b'c' => {
                    let module = self.ascii_line("GLOBAL module")?;
                    let name = self.ascii_line("GLOBAL name")?;
                    let global = self.global(module, name)?;
                    self.push(Node::Global(global))
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (self.text_of(module), self.text_of(name)) else {
                        return Err(self.malformed("STACK_GLOBAL needs two strings"));
                    };
                    let global = self.global(&module, &name)?;
                    self.push(Node::Global(global))
                }
                b'i' => {
                    // INST names a class to instantiate: refused like any other global.
                    let module = self.ascii_line("INST module")?;
                    let name = self.ascii_line("INST name")?;
                    return Err(PickleError::RefusedGlobal { pos: self.op_pos, name: format!("{module}.{name}") });
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let node = self.reduce(callable, args)?;
                    self.push(node)
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(target, state)?
                }
                _ => {
                    let name = match op {
                        b'P' => "PERSID",
                        b'Q' => "BINPERSID",
                        b'o' => "OBJ",
                        0x81 => "NEWOBJ",
                        0x92 => "NEWOBJ_EX",
                        0x82..=0x84 => "EXT",
                        0x8f => "EMPTY_SET",
                        0x90 => "ADDITEMS",
                        0x91 => "FROZENSET",
                        0x97 => "NEXT_BUFFER (out-of-band buffers)",
                        0x98 => "READONLY_BUFFER",
                        _ => return Err(PickleError::UnknownOpcode { pos: self.op_pos, op }),
                    };
                    return Err(PickleError::UnsupportedOpcode { pos: self.op_pos, name });
                }
            }
        }
    }

    fn global(&self, module: &str, name: &str) -> Result<Global, PickleError> {
        resolve_global(module, name)
            .ok_or_else(|| PickleError::RefusedGlobal { pos: self.op_pos, name: format!("{module}.{name}") })
    }

    fn decimal_int(&self, text: &str) -> Result<Node<'a>, PickleError> {
        let text = text.trim();
        if let Ok(v) = text.parse::<i64>() {
            return Ok(Node::Int(v));
        }
        big_int_from_decimal(text)
            .map(Node::BigInt)
            .ok_or_else(|| self.malformed(format!("integer literal {:?} is not a number", truncate(text))))
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

    /// REDUCE: calls one of the allowed globals on an argument tuple.
    fn reduce(&mut self, callable: Id, args: Id) -> Result<Node<'a>, PickleError> {
        let Node::Global(global) = self.arena[callable] else {
            return Err(self.malformed("REDUCE on something that is not a global"));
        };
        let args = self.tuple_of(args, "REDUCE arguments")?.to_vec();
        let arg =
            |i: usize| args.get(i).copied().ok_or_else(|| self.malformed(format!("{global:?} needs argument {i}")));
        match global {
            Global::Reconstruct => {
                if !matches!(self.arena[arg(0)?], Node::Global(Global::NdarrayType)) {
                    return Err(self.malformed("_reconstruct of something other than numpy.ndarray"));
                }
                Ok(Node::PendingArray)
            }
            Global::DTypeType => {
                let code = self.text_of(arg(0)?).ok_or_else(|| self.malformed("dtype code is not a string"))?;
                let (big_endian, code) = match code.as_bytes().first() {
                    Some(b'>') => (true, &code[1..]),
                    Some(b'<' | b'|' | b'=') => (false, &code[1..]),
                    _ => (false, &code[..]),
                };
                let element = ElementType::from_code(code)
                    .ok_or_else(|| self.malformed(format!("unsupported numpy dtype {code:?} (numeric dtypes only)")))?;
                Ok(Node::DType(DType { element, big_endian }))
            }
            Global::FromBuffer => {
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
            Global::Scalar => {
                let dtype = self.dtype_of(arg(0)?)?;
                let scalar = self.make_array(dtype, IxDyn(&[]), false, arg(1)?)?;
                Ok(scalar_node(scalar))
            }
            Global::CodecsEncode => {
                let text = self.text_of(arg(0)?).ok_or_else(|| self.malformed("_codecs.encode of a non-string"))?;
                let encoding = self.text_of(arg(1)?).map(|e| e.to_ascii_lowercase().replace('_', "-"));
                if !matches!(encoding.as_deref(), Some("latin1" | "latin-1" | "iso-8859-1")) {
                    return Err(self.malformed("_codecs.encode with an encoding other than latin1"));
                }
                let bytes =
                    latin1_bytes(&text).ok_or_else(|| self.malformed("latin1 string has a code point above 255"))?;
                self.spend(bytes.len())?;
                Ok(Node::Bytes(Cow::Owned(bytes)))
            }
            Global::BytesType if args.is_empty() => Ok(Node::Bytes(Cow::Borrowed(&[]))),
            Global::BytesType | Global::NdarrayType => Err(self.malformed(format!("unsupported call of {global:?}"))),
        }
    }

    /// BUILD: gives a dtype its byte order, or a reconstructed array its shape, dtype and data.
    fn build(&mut self, target: Id, state: Id) -> Result<(), PickleError> {
        let state = self.tuple_of(state, "BUILD state")?.to_vec();
        match self.arena[target] {
            Node::DType(mut dtype) => {
                // (version, byte order, subarray, names, fields, elsize, alignment, flags[, metadata])
                let order = state.get(1).and_then(|&o| self.text_of(o));
                dtype.big_endian = match order.as_deref() {
                    Some(">") => true,
                    Some("<" | "|" | "=") => false,
                    _ => return Err(self.malformed("dtype state has no byte order")),
                };
                if state.iter().skip(2).take(3).any(|&i| !matches!(self.arena[i], Node::None)) {
                    return Err(self.malformed("structured or subarray dtypes are not supported"));
                }
                self.arena[target] = Node::DType(dtype);
                Ok(())
            }
            Node::PendingArray => {
                // (version, shape, dtype, is_fortran, data), or the same without the version.
                let fields = match state.len() {
                    5 => &state[1..],
                    4 => &state[..],
                    n => return Err(self.malformed(format!("ndarray state has {n} fields"))),
                };
                let shape = self.shape_of(fields[0])?;
                let dtype = self.dtype_of(fields[1])?;
                let fortran = self.int_of(fields[2], "is_fortran")? != 0;
                let array = self.make_array(dtype, shape, fortran, fields[3])?;
                self.arena[target] = Node::Array(array);
                Ok(())
            }
            _ => Err(self.malformed("BUILD on an object that is not a numpy dtype or array")),
        }
    }

    /// Turns the object graph into a [`Value`] tree (shared objects are copied; size and depth are capped).
    fn materialize(&mut self, id: Id, depth: usize) -> Result<Value, PickleError> {
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
            Node::Latin1(b) => Value::Str(b.iter().map(|&c| char::from(c)).collect()),
            Node::Bytes(b) => Value::Bytes(b.to_vec()),
            Node::Array(a) => Value::Array(a.clone()),
            Node::List(items) | Node::Tuple(items) => {
                let is_list = matches!(self.arena[id], Node::List(_));
                let items = items.clone();
                let values = items.into_iter().map(|i| self.materialize(i, depth + 1)).collect::<Result<_, _>>()?;
                if is_list {
                    Value::List(values)
                } else {
                    Value::Tuple(values)
                }
            }
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
}

/// The element of a 0-d array (how numpy pickles a scalar such as `np.int64(3)`) as a plain node.
fn scalar_node(scalar: NdArray) -> Node<'static> {
    let int = |v: Option<i128>| match v.map(i64::try_from) {
        Some(Ok(i)) => Node::Int(i),
        Some(Err(_)) => Node::BigInt(minimal_twos_complement(v.unwrap_or_default().to_le_bytes().to_vec())),
        None => Node::None,
    };
    match scalar {
        NdArray::Bool(a) => a.first().map_or(Node::None, |&b| Node::Bool(b)),
        NdArray::F32(a) => a.first().map_or(Node::None, |&x| Node::Float(f64::from(x))),
        NdArray::F64(a) => a.first().map_or(Node::None, |&x| Node::Float(x)),
        NdArray::I8(a) => int(a.first().map(|&x| i128::from(x))),
        NdArray::I16(a) => int(a.first().map(|&x| i128::from(x))),
        NdArray::I32(a) => int(a.first().map(|&x| i128::from(x))),
        NdArray::I64(a) => int(a.first().map(|&x| i128::from(x))),
        NdArray::U8(a) => int(a.first().map(|&x| i128::from(x))),
        NdArray::U16(a) => int(a.first().map(|&x| i128::from(x))),
        NdArray::U32(a) => int(a.first().map(|&x| i128::from(x))),
        NdArray::U64(a) => int(a.first().map(|&x| i128::from(x))),
    }
}

/// LONG1/LONG4 payload (little-endian two's complement) as an int node.
fn int_node_from_le(bytes: &[u8]) -> Node<'static> {
    if bytes.len() <= 8 {
        let fill = if bytes.last().is_some_and(|&b| b & 0x80 != 0) { 0xff } else { 0 };
        let mut raw = [fill; 8];
        raw[..bytes.len()].copy_from_slice(bytes);
        Node::Int(i64::from_le_bytes(raw))
    } else {
        Node::BigInt(bytes.to_vec())
    }
}

/// A decimal integer literal as little-endian two's complement bytes.
fn big_int_from_decimal(text: &str) -> Option<Vec<u8>> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > MAX_INT_DIGITS || !digits.bytes().all(|d| d.is_ascii_digit()) {
        return None;
    }
    // magnitude = magnitude * 10 + digit, in base 256
    let mut magnitude: Vec<u8> = Vec::new();
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for byte in magnitude.iter_mut() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        if carry > 0 {
            magnitude.push(carry as u8);
        }
    }
    magnitude.push(0); // room for the sign bit
    if negative {
        // two's complement: invert and add one
        let mut carry = 1u16;
        for byte in magnitude.iter_mut() {
            let v = u16::from(!*byte) + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
    }
    Some(minimal_twos_complement(magnitude))
}

/// Drops top bytes that only repeat the sign of the byte below: the minimal form LONG1 stores.
fn minimal_twos_complement(mut bytes: Vec<u8>) -> Vec<u8> {
    while let [.., below, top] = bytes[..] {
        let redundant = (top == 0 && below & 0x80 == 0) || (top == 0xff && below & 0x80 != 0);
        if !redundant {
            break;
        }
        bytes.pop();
    }
    bytes
}

fn latin1_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// Python's raw-unicode-escape (protocol 0 UNICODE): latin-1 bytes with `\uXXXX` and `\UXXXXXXXX` escapes.
fn raw_unicode_unescape(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let width = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            (b, _) => {
                out.push(char::from(b));
                i += 1;
                continue;
            }
        };
        let hex = std::str::from_utf8(bytes.get(i + 2..i + 2 + width)?).ok()?;
        out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
        i += 2 + width;
    }
    Some(out)
}

/// A protocol 0 STRING argument: a quoted Python 2 string literal (`'...'` or `"..."`) with backslash escapes.
fn python_string_literal(line: &[u8]) -> Option<Vec<u8>> {
    let quote = *line.first()?;
    if line.len() < 2 || !matches!(quote, b'\'' | b'"') || line[line.len() - 1] != quote {
        return None;
    }
    let body = &line[1..line.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let escape = *body.get(i + 1)?;
        i += 2;
        match escape {
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'v' => out.push(0x0b),
            b'\n' => {}
            b'x' => {
                let hex = std::str::from_utf8(body.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                // up to three octal digits, the first already read
                let mut value = u32::from(escape - b'0');
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(value as u8);
            }
            other => out.extend_from_slice(&[b'\\', other]),
        }
    }
    Some(out)
}

fn truncate(text: &str) -> &str {
    text.char_indices().nth(40).map_or(text, |(i, _)| &text[..i])
}
