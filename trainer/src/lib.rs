//! mvt-trainer: the AttentionLstmErnie fusion model in tch, its training, evaluation, ablations and export.
//!
//! Modules in pipeline order, each using only modules listed before it: `device` (where the model runs),
//! `data` (a split as the trainer reads it), `metrics` (tagging metrics of a probability matrix), `batch`
//! (padding videos into tensors), `encoder` -> `model`, `optimizer` (centered RMSProp whose state can be saved),
//! `weights_check` (a weights file's length and values), `checkpoint`, `scoring` (a model's probabilities and
//! loss), `history` (per-epoch metrics) -> `plot`, then the commands: `train`, `evaluate`, `ablate`, `export`,
//! and `devtools` (the hidden developer commands). The command line lives in the `mvt-train` binary alone: these
//! modules take plain options structs.

pub mod ablate;
pub mod batch;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod devtools;
pub mod encoder;
pub mod evaluate;
pub mod export;
pub mod history;
pub mod metrics;
pub mod model;
pub mod optimizer;
pub mod plot;
pub mod scoring;
pub mod train;
pub mod weights_check;
