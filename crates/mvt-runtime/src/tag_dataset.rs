//! Batch inference over a dataset in the original layout (`mvt infer`, the C API's dataset reader): the
//! original's inference.sh, reading `<data>/class.txt`, a list file and `<data>/feature_files/*.pkl`.

use std::path::Path;

use crate::error::MvtError;
use crate::predict::{Model, Prediction, VideoInput};
use mvt_formats::dataset::{load_split, Dataset, LoadOptions};

/// The videos of `list` (a split file: `name<TAB>title[<TAB>labels]`, relative to `data` or absolute) with
/// features of the model's widths. Rows without known labels are kept (inference needs no labels); rows the
/// original skipped for other reasons (missing or unreadable feature file, duplicate) are in `report.skipped`.
pub fn load_videos(model: &Model, data: &Path, list: &str) -> Result<Dataset, MvtError> {
    let meta = model.metadata();
    let options = LoadOptions { rgb_dim: meta.rgb_dim, audio_dim: meta.audio_dim, keep_unlabeled: true };
    load_split(data, list, &options).map_err(|e| MvtError::Dataset(e.to_string()))
}

/// Predictions for every video of `dataset`, one model batch (`Options::batch_size`) per call, reporting
/// `progress(done, total)` after each.
pub fn predict_dataset(
    model: &Model,
    dataset: &Dataset,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Prediction>, MvtError> {
    let total = dataset.videos.len();
    let mut predictions = Vec::with_capacity(total);
    for batch in dataset.videos.chunks(model.batch_size()) {
        let inputs: Vec<VideoInput<'_>> =
            batch.iter().map(|v| VideoInput { rgb: v.rgb.view(), audio: v.audio.view(), title: &v.title }).collect();
        predictions.extend(model.predict(&inputs)?);
        progress(predictions.len(), total);
    }
    Ok(predictions)
}
