//! The original's feature files: Python pickles of
//! `{'video': str, 'feature': {'image_pkl': ndarray[T1, D1], 'audio_pkl': ndarray[T2, D2]}, 'label': list}`.
//!
//! `read` is a restricted unpickler: it understands only what such files contain and never executes anything.
//! `write` produces files that real Python (pickle + numpy) loads, for the synthetic benchmark.

mod read;
mod write;

pub use read::*;
pub use write::*;

use ndarray::Array2;

/// One feature file's content.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureFile {
    /// The `video` field: the video's file name or URL.
    pub video: String,
    /// `feature.image_pkl`: one row per sampled frame.
    pub rgb: Array2<f32>,
    /// `feature.audio_pkl`: one row per 960 ms audio segment (may have 0 rows).
    pub audio: Array2<f32>,
    /// The `label` field (class indices in the original's files).
    pub labels: Vec<i64>,
}
