//! mvt: native multimodal short-video tagging.
//!
//! One ONNX model file (exported by `mvt-train`) and this library tag short videos from per-frame image features,
//! audio features and the title. Stages, one module each, in pipeline order:
//! `conf` / `config` (settings) -> `pickle` + `dataset` (the original's data layout) -> `tokenizer` ->
//! `onnx` + `model_file` (the self-describing model file) -> `runtime` (ONNX Runtime, found at load) ->
//! `predict` (the safe Rust API) -> `ffi` (the C ABI over it).

pub mod conf;
pub mod config;
pub mod dataset;
pub mod error;
pub mod ffi;
pub mod infer;
pub mod model_file;
pub mod onnx;
pub mod pickle;
pub mod predict;
pub mod runtime;
pub mod tokenizer;
