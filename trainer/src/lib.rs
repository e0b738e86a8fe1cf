//! mvt-trainer: the AttentionLstmErnie fusion model in tch, its training, evaluation, ablations and export.
//! Modules in pipeline order: `batch` (padding videos into tensors) -> `encoder` + `model` -> `train`
//! (with `checkpoint`, `plot`) -> `metrics` + `evaluate` -> `ablate` -> `export`.

pub mod ablate;
pub mod batch;
pub mod checkpoint;
pub mod encoder;
pub mod evaluate;
pub mod export;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod train;
