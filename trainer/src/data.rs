//! The dataset as the trainer consumes it: a split read with the model's widths, its videos' labels and their
//! tokenized titles; the load report of each split printed, checked against the share of unusable rows allowed
//! and kept in the run folder.

use std::path::Path;

use anyhow::{anyhow, bail, ensure, Context, Result};
use mvt_formats::atomic_file::write_atomic;
use mvt_formats::config::ModelConfig;
use mvt_formats::dataset::{load_split, Dataset, LoadOptions, LoadReport, Video};
use mvt_formats::tokenizer::TitleTokenizer;

/// `--max-unusable`'s default: training stops before it starts when more than this share of a split's rows is
/// skipped (missing, unreadable or hostile feature files, non-finite features, rows without labels, ...).
pub const DEFAULT_MAX_UNUSABLE: f64 = 0.05;
/// The load reports of the training run's splits, in its output folder.
pub const LOAD_REPORT_FILE: &str = "load_report.json";

/// Reads `{split}.txt` of `data` with the widths the model expects, silently (see [`load_reported`]).
pub fn load_data(data: &Path, split: &str, config: &ModelConfig) -> Result<Dataset> {
    load(data, split, config, false)
}

/// [`load_data`], printing the split's load report first: videos kept, skip counts per reason and the first
/// skipped rows with their reasons (what `mvt dataset` prints about them).
pub fn load_reported(data: &Path, split: &str, config: &ModelConfig) -> Result<Dataset> {
    load(data, split, config, true)
}

fn load(data: &Path, split: &str, config: &ModelConfig, print: bool) -> Result<Dataset> {
    let file = format!("{split}.txt");
    let dataset = load_split(data, &file, &LoadOptions::for_training(config))
        .with_context(|| format!("loading {}", data.join(&file).display()))?;
    if print {
        print!("{}", dataset.report.summary());
    }
    if dataset.videos.is_empty() {
        bail!("{} has no usable video", data.join(&file).display());
    }
    Ok(dataset)
}

/// The training and validation splits, their load reports printed; an error when more than `max_unusable` (a
/// fraction in [0, 1]) of either split's rows is unusable.
pub fn load_train_val(data: &Path, config: &ModelConfig, max_unusable: f64) -> Result<(Dataset, Dataset)> {
    ensure!((0.0..=1.0).contains(&max_unusable), "--max-unusable {max_unusable} is not a fraction in [0, 1]");
    let train = load_reported(data, "train", config)?;
    let val = load_reported(data, "val", config)?;
    check_unusable(&train.report, max_unusable)?;
    check_unusable(&val.report, max_unusable)?;
    Ok((train, val))
}

/// An error naming the split, the share of its rows that is unusable and the limit, when the share is above it.
pub fn check_unusable(report: &LoadReport, max_unusable: f64) -> Result<()> {
    let share = report.unusable_share();
    if share > max_unusable {
        bail!(
            "{}: {} of {} rows are unusable ({:.2}%), more than --max-unusable {max_unusable} ({:.2}%) allows; \
             the skipped rows and their reasons are listed above",
            report.split,
            report.skipped.len(),
            report.rows,
            share * 100.0,
            max_unusable * 100.0
        );
    }
    Ok(())
}

/// Writes the splits' load reports to `out/`[`LOAD_REPORT_FILE`] (atomically): for each split its rows, videos,
/// share of unusable rows, skip counts, every skipped row (line, name, reason kind and text), unknown labels and
/// padded audio tracks.
pub fn write_load_report(out: &Path, reports: &[&LoadReport], max_unusable: f64) -> Result<()> {
    let splits: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let skipped: Vec<serde_json::Value> = r
                .skipped
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "line": s.line, "name": s.name, "kind": s.reason.kind(), "reason": s.reason.to_string(),
                    })
                })
                .collect();
            serde_json::json!({
                "split": r.split,
                "rows": r.rows,
                "videos": r.rows - r.skipped.len(),
                "unusable_share": r.unusable_share(),
                "skip_counts": r.skip_counts(),
                "skipped": skipped,
                "unknown_labels": r.unknown_labels,
                "padded_audio": r.padded_audio,
            })
        })
        .collect();
    let json = serde_json::json!({ "max_unusable": max_unusable, "splits": splits });
    let path = out.join(LOAD_REPORT_FILE);
    write_atomic(&path, serde_json::to_string_pretty(&json)?.as_bytes())
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
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
