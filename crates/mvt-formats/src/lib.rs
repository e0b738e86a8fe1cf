//! mvt-formats: the original MultimodalVideoTag's data formats and mvt's model file, read and written. No ONNX
//! Runtime and no libtorch: the trainer, the benchmark generator and the runtime all build on it.
//!
//! Stages, one module each, in pipeline order: `conf_txt` (the original's `conf.txt`, read unchanged) ->
//! `config` (the typed configuration) -> `pickle` (a restricted unpickler and writer) -> `feature_file` (one
//! video's `.pkl`) -> `dataset` (`class.txt`, split files, `feature_files/`) -> `tokenizer` (titles) -> `onnx`
//! (the ONNX messages we write and read) -> `model_file` (the `mvt.*` metadata of an exported model).

pub mod atomic_file;
pub mod conf_txt;
pub mod config;
pub mod dataset;
pub mod feature_file;
pub mod model_file;
pub mod onnx;
pub mod pickle;
pub mod tokenizer;
