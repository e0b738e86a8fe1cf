//! Batch inference over a dataset in the original layout (`mvt infer`, the C API's dataset reader): the
//! original's inference.sh, reading `<data>/class.txt`, a list file and `<data>/feature_files/*.pkl`.
//!
//! A bad row never fails the whole list: the reader leaves it out with its line, name and reason (missing or
//! unreadable feature file, non-finite features, a line that is not UTF-8, more frames than `max_frames`, ...).

use std::path::Path;

use crate::error::MvtError;
use crate::predict::{Model, Prediction, VideoInput};
use mvt_formats::dataset::{load_split, Dataset, LoadOptions, SkipReason, SkippedRow};
use mvt_formats::tokenizer::{TokenizerError, MAX_TITLE_PREFIX_CHARS};

/// The videos of `list` (a split file: `name<TAB>title[<TAB>labels]`, relative to `data` or absolute) with
/// features of the model's widths, ready for [`Model::predict`]. Rows without known labels are kept (inference
/// needs no labels); rows the original skipped (missing or unreadable feature file, duplicate, ...), lines that are
/// not UTF-8, videos with non-finite features, videos with more image frames or audio segments than the model's
/// `max_frames` and titles the model's tokenizer refuses are left out, each in `report.skipped` with its line and reason. Fails only when class.txt or the
/// list cannot be read, or feature widths contradict the model.
pub fn load_videos(model: &Model, data: &Path, list: &str) -> Result<Dataset, MvtError> {
    let meta = model.metadata();
    let options = LoadOptions {
        rgb_dim: meta.rgb_dim,
        audio_dim: meta.audio_dim,
        keep_unlabeled: true,
        max_frames: Some(model.max_frames()),
    };
    let mut dataset = load_split(data, list, &options).map_err(|e| MvtError::Dataset(e.to_string()))?;
    // A title the tokenizer refuses would fail its whole batch: leave the row out like the reader's own skips.
    // Only a title of more than MAX_TITLE_PREFIX_CHARS characters can be refused (a shorter one is its own
    // prefix), so the others are not tokenized here as well as at predict.
    let videos = std::mem::take(&mut dataset.videos);
    for video in videos {
        if video.title.len() <= MAX_TITLE_PREFIX_CHARS {
            dataset.videos.push(video);
            continue;
        }
        match model.tokenizer().encode(&video.title) {
            Ok(_) => dataset.videos.push(video),
            Err(refused @ TokenizerError::TitleTooLong { .. }) => dataset.report.skipped.push(SkippedRow {
                line: video.line,
                name: video.name,
                reason: SkipReason::UnusableTitle(refused.to_string()),
            }),
            Err(other) => return Err(MvtError::Internal(format!("tokenizing the title of {}: {other}", video.name))),
        }
    }
    dataset.report.skipped.sort_by_key(|row| row.line);
    Ok(dataset)
}

/// Predictions for every video of `dataset`, one model batch (`Options::batch_size`) per call, reporting
/// `progress(done, total)` after each. Fails as a whole on a video `Model::predict` rejects: [`load_videos`] leaves
/// those out.
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
