//! numpy in pickles: the numeric dtypes, arrays rebuilt from their dtype, shape, memory order and raw data (what
//! `_reconstruct` + BUILD, `_frombuffer` and `scalar` carry), and the writer's float32 arrays exactly as
//! `ndarray.__reduce__` produces them.

use ndarray::{Array2, ArrayD, Dimension, IxDyn, ShapeBuilder};

use super::opcode::Opcode;
use super::write::Writer;

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

/// A numeric dtype with its byte order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DType {
    pub element: ElementType,
    pub big_endian: bool,
}

impl DType {
    /// The argument of `numpy.dtype(...)`: an optional byte order (`<`, `>`, `|`, `=`) and numpy's code. An
    /// unsupported code is returned without its byte order.
    pub fn parse(code: &str) -> Result<DType, &str> {
        let (big_endian, code) = match code.as_bytes().first() {
            Some(b'>') => (true, &code[1..]),
            Some(b'<' | b'|' | b'=') => (false, &code[1..]),
            _ => (false, code),
        };
        ElementType::from_code(code).map(|element| DType { element, big_endian }).ok_or(code)
    }

    /// The byte order of a dtype's pickled state: `Some(big_endian)`, `None` for anything but `<`, `>`, `|`, `=`.
    pub fn big_endian_order(order: &str) -> Option<bool> {
        match order {
            ">" => Some(true),
            "<" | "|" | "=" => Some(false),
            _ => None,
        }
    }

    /// How many data bytes an array of this dtype and `shape` holds; `None` when that overflows.
    pub fn data_len(self, shape: &IxDyn) -> Option<usize> {
        let count = shape.slice().iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        count.and_then(|c| c.checked_mul(self.element.size()))
    }

    /// The array of `shape` in `data`, whose length the caller checked against [`DType::data_len`].
    pub fn array(self, shape: IxDyn, fortran: bool, data: &[u8]) -> NdArray {
        NdArray::decode(self.element, self.big_endian, shape, fortran, data)
    }
}

/// The Python value of a numpy scalar (a 0-d array's one element).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar {
    Bool(bool),
    Int(i128),
    Float(f64),
}

impl NdArray {
    /// The first element as a Python value (how numpy pickles a scalar such as `np.int64(3)`: a 0-d array);
    /// `None` for an empty array.
    pub(crate) fn first_scalar(&self) -> Option<Scalar> {
        match self {
            NdArray::Bool(a) => a.first().map(|&b| Scalar::Bool(b)),
            NdArray::F32(a) => a.first().map(|&x| Scalar::Float(f64::from(x))),
            NdArray::F64(a) => a.first().map(|&x| Scalar::Float(x)),
            NdArray::I8(a) => a.first().map(|&x| Scalar::Int(x.into())),
            NdArray::I16(a) => a.first().map(|&x| Scalar::Int(x.into())),
            NdArray::I32(a) => a.first().map(|&x| Scalar::Int(x.into())),
            NdArray::I64(a) => a.first().map(|&x| Scalar::Int(x.into())),
            NdArray::U8(a) => a.first().map(|&x| Scalar::Int(x.into())),
            NdArray::U16(a) => a.first().map(|&x| Scalar::Int(x.into())),
            NdArray::U32(a) => a.first().map(|&x| Scalar::Int(x.into())),
            NdArray::U64(a) => a.first().map(|&x| Scalar::Int(x.into())),
        }
    }
}

impl Writer {
    /// `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` then `__setstate__((1, shape, dtype('<f4'),
    /// False, data))`: exactly what `ndarray.__reduce__` produces, data in C order, little-endian.
    pub fn f32_array(&mut self, a: &Array2<f32>) {
        self.global("numpy.core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.int(0);
        self.op(Opcode::TUPLE1);
        self.bytes(b"b");
        self.op(Opcode::TUPLE3);
        self.op(Opcode::REDUCE);
        self.op(Opcode::MARK);
        self.int(1);
        let (rows, cols) = a.dim();
        for n in [rows, cols] {
            self.int(i64::try_from(n).expect("an array dimension over i64"));
        }
        self.op(Opcode::TUPLE2);
        self.f32_dtype();
        self.op(Opcode::NEWFALSE);
        self.bytes_header(4 * a.len());
        for v in a.iter() {
            self.raw(&v.to_le_bytes());
        }
        self.op(Opcode::TUPLE);
        self.op(Opcode::BUILD);
    }

    /// `numpy.dtype('f4', False, True)` with state `(3, '<', None, None, None, -1, -1, 0)`.
    fn f32_dtype(&mut self) {
        self.global("numpy", "dtype");
        self.str("f4");
        self.op(Opcode::NEWFALSE);
        self.op(Opcode::NEWTRUE);
        self.op(Opcode::TUPLE3);
        self.op(Opcode::REDUCE);
        self.op(Opcode::MARK);
        self.int(3);
        self.str("<");
        self.op(Opcode::NONE);
        self.op(Opcode::NONE);
        self.op(Opcode::NONE);
        self.int(-1);
        self.int(-1);
        self.int(0);
        self.op(Opcode::TUPLE);
        self.op(Opcode::BUILD);
    }
}
