//! mvt-runtime: the safe Rust API of mvt. Load one model file (exported by `mvt-train export`) and tag videos
//! from per-frame image features, audio features and the title on ONNX Runtime.
//!
//! Modules, in call order: `onnxruntime` (finds and checks libonnxruntime, one environment per process) ->
//! `predict` (the model: load, tokenize, predict) -> `tag_dataset` (every video of a list in the original's
//! layout) -> `output_json` (the original's output.json). Every failure is one [`error::MvtError`].

pub mod error;
pub mod onnxruntime;
pub mod output_json;
pub mod predict;
pub mod tag_dataset;
