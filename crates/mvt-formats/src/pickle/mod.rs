//! Python pickles of plain data and numeric numpy arrays: a restricted unpickler ([`load`]) and a writer
//! ([`Writer`]). The feature-file schema built on them is [`crate::feature_file`].
//!
//! The unpickler runs the pickle virtual machine over data only and never executes anything. It understands
//! every opcode of protocols 0 to 5 that plain data needs (dict, list, tuple, str, bytes, int, float, bool,
//! None, memo, FRAME, MARK) and exactly the globals numpy uses to pickle a numeric array or scalar:
//! `numpy.core.multiarray._reconstruct` / `numpy._core.multiarray._reconstruct` + `numpy.ndarray` +
//! `numpy.dtype` (BUILD with the state tuple), `numpy{.core,._core}.numeric._frombuffer` (protocol 5, in-band
//! buffer), `numpy{.core,._core}.multiarray.scalar`, and `_codecs.encode` / `builtins.bytes` (how protocol 2
//! writes bytes). Every other global is refused with its name. Python 2 `str` (STRING, BINSTRING,
//! SHORT_BINSTRING) is decoded as latin-1, like the original's `pickle.load(f, encoding='iso-8859-1')`.
//!
//! Safety: no recursion while reading (nesting is materialized with a depth limit), every length is checked
//! against the remaining input before anything is allocated, and the total decoded size is capped by a
//! multiple of the input size, so a lying or hostile file gives a [`PickleError`], never a panic or an
//! unbounded allocation.
//!
//! Modules, each using only those listed before it: `error`, `opcode` (the one opcode table), `codecs` (Python
//! text and integer codecs), `write` (the writer), `numpy` (dtypes, array reconstruction and the writer's
//! arrays), `value` (what `load` returns), `read` (the machine, one module per opcode family).

mod codecs;
mod error;
mod numpy;
mod opcode;
mod read;
mod value;
mod write;

pub use error::PickleError;
pub use numpy::{ElementType, NdArray};
pub use opcode::{Family, Opcode};
pub use read::load;
pub use value::Value;
pub use write::{Writer, WRITE_PROTOCOL};
