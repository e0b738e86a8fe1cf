//! The original's feature files: Python pickles of
//! `{'video': str, 'feature': {'image_pkl': ndarray[T1, D1], 'audio_pkl': ndarray[T2, D2]}, 'label': list}`.
//!
//! `read` is a restricted unpickler: it understands only what such files contain and never executes anything.
//! `write` produces files that real Python (pickle + numpy) loads, for the synthetic benchmark.

mod read;
mod write;

pub use read::*;
pub use write::*;
