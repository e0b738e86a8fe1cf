//! The dataset as the trainer consumes it: a split read with the model's widths, its videos' labels and their
//! tokenized titles.

use std::path::Path;

use anyhow::{bail, Context, Result};
use mvt_formats::config::ModelConfig;
use mvt_formats::dataset::{load_split, Dataset, LoadOptions, Video};
use mvt_formats::tokenizer::TitleTokenizer;

/// Reads `{split}.txt` of `data` with the widths the model expects.
pub fn load_data(data: &Path, split: &str, config: &ModelConfig) -> Result<Dataset> {
    let file = format!("{split}.txt");
    let dataset = load_split(data, &file, &LoadOptions::for_training(config))
        .with_context(|| format!("loading {}", data.join(&file).display()))?;
    if dataset.videos.is_empty() {
        bail!("{} has no usable video", data.join(&file).display());
    }
    Ok(dataset)
}

/// Each video's true class indices.
pub fn labels_of(videos: &[Video]) -> Vec<Vec<usize>> {
    videos.iter().map(|v| v.labels.clone()).collect()
}

/// Tokenizes every title (or the empty title for every video when `blank`).
pub fn tokenize(tokenizer: &TitleTokenizer, videos: &[Video], blank: bool) -> Result<Vec<Vec<i64>>> {
    videos
        .iter()
        .map(|v| {
            tokenizer
                .encode(if blank { "" } else { &v.title })
                .with_context(|| format!("tokenizing the title of {}", v.name))
        })
        .collect()
}
