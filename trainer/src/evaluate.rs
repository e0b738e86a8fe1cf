//! `mvt-train eval`: score a split with a checkpoint or an exported model file and write the metrics report.
//!
//! The report is computed from a probability matrix and the true labels alone ([`report`]), so any source of
//! probabilities (this trainer's model, an exported ONNX file run by the `mvt` library) yields the same metrics.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mvt_formats::dataset::{Dataset, Video};
use mvt_runtime::predict::{Model, Options};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::data::{labels_of, load_reported};
use crate::device::{set_threads, DeviceChoice};
use crate::metrics;
use crate::scoring::{loss_from_probs, score_with_checkpoint, Scores};

/// Hit@k reported for these k (the original's `top_n`).
pub const TOP_N: [usize; 4] = [1, 2, 3, 5];
/// GAP is computed over each video's 20 best classes (YouTube-8M).
pub const GAP_TOP_K: usize = 20;

/// What to score and where the results go.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// A checkpoint directory, a training output directory (its `best` checkpoint is used), or an exported
    /// `.onnx` model file (run through the `mvt` library).
    pub checkpoint: PathBuf,
    /// Dataset directory in the original layout (class.txt, {split}.txt, feature_files/).
    pub data: PathBuf,
    /// Which list file to score: `{split}.txt`.
    pub split: String,
    /// Where the JSON report goes; `None`: `eval_{split}.json` inside the checkpoint directory, or
    /// `MODEL.eval_{split}.json` beside a model file.
    pub report: Option<PathBuf>,
    /// Also write every video's probabilities here: `[{"video_id": name in the list file, "probs": [per class]}]`.
    pub predictions: Option<PathBuf>,
    /// Blank every title (the "without title" column of the ablation table).
    pub no_titles: bool,
    pub device: DeviceChoice,
    /// libtorch CPU threads (ONNX Runtime's intra-op threads for a model file).
    pub threads: usize,
}

/// One class's line in the report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassReport {
    pub class: String,
    /// Average precision; absent when no video of the split has this class.
    pub ap: Option<f64>,
    pub support: usize,
}

/// Everything `eval` reports. Rates are fractions in [0, 1].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub videos: usize,
    /// Mean loss per video (the training loss, summed over classes); absent when only probabilities are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    pub hit_at_1: f64,
    pub hit_at_2: f64,
    pub hit_at_3: f64,
    pub hit_at_5: f64,
    pub gap_at_20: f64,
    pub map: f64,
    pub perr: f64,
    pub at_threshold: metrics::ThresholdScores,
    pub per_class: Vec<ClassReport>,
}

/// The report for `probs` [videos, classes] against `labels` (true class indices per video).
pub fn report(
    probs: ArrayView2<f32>,
    labels: &[Vec<usize>],
    classes: &[String],
    threshold: f64,
    loss: Option<f64>,
) -> Report {
    let hit = |k| metrics::hit_at_k(probs, labels, k);
    let per_class = metrics::per_class_ap(probs, labels);
    Report {
        videos: probs.nrows(),
        loss,
        hit_at_1: hit(TOP_N[0]),
        hit_at_2: hit(TOP_N[1]),
        hit_at_3: hit(TOP_N[2]),
        hit_at_5: hit(TOP_N[3]),
        gap_at_20: metrics::gap_at_k(probs, labels, GAP_TOP_K),
        map: metrics::mean_ap(&per_class),
        perr: metrics::perr(probs, labels),
        at_threshold: metrics::at_threshold(probs, labels, threshold),
        per_class: classes
            .iter()
            .zip(per_class)
            .map(|(class, (ap, support))| ClassReport { class: class.clone(), ap, support })
            .collect(),
    }
}

/// A split scored by one model, with what the report needs from that model.
struct ScoredSplit {
    data: Dataset,
    scores: Scores,
    classes: Vec<String>,
    threshold: f64,
    /// Where the report goes without `--report`.
    default_report: PathBuf,
}

/// Scores the split, prints its loss and Hit@1, and writes the report (and the predictions, if asked).
pub fn run(options: &EvalOptions) -> Result<Report> {
    set_threads(options.threads)?;
    // A checkpoint is a directory; anything else must be an exported model file.
    let scored = if options.checkpoint.is_file() { score_model_file(options)? } else { score_checkpoint(options)? };
    let ScoredSplit { data, scores, classes, threshold, default_report } = scored;
    if !scores.loss.is_finite() {
        bail!(
            "the loss is not finite ({}) on {}.txt: are the weights of {} finite?",
            scores.loss,
            options.split,
            options.checkpoint.display()
        );
    }
    let report = report(scores.probs.view(), &labels_of(&data.videos), &classes, threshold, Some(scores.loss));
    println!("loss: {:.6}", scores.loss);
    println!("Hit@1: {:.2}", report.hit_at_1 * 100.0);
    let path = options.report.clone().unwrap_or(default_report);
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("report: {}", path.display());
    if let Some(path) = &options.predictions {
        write_predictions(path, &data.videos, scores.probs.view())?;
        println!("predictions: {}", path.display());
    }
    Ok(report)
}

fn score_checkpoint(options: &EvalOptions) -> Result<ScoredSplit> {
    let device = options.device.resolve()?;
    let ckpt = checkpoint::load(&options.checkpoint)?;
    let (_vs, model) = ckpt.build_model(device)?;
    let data = load_reported(&options.data, &options.split, &ckpt.config.model)?;
    if data.classes != ckpt.classes {
        bail!("{}/class.txt differs from the checkpoint's classes.txt", options.data.display());
    }
    let scores = score_with_checkpoint(&ckpt, &model, &data.videos, options.no_titles, device)?;
    let default_report = ckpt.dir.join(format!("eval_{}.json", options.split));
    Ok(ScoredSplit { data, scores, classes: ckpt.classes, threshold: ckpt.config.infer.threshold, default_report })
}

/// The split scored by an exported model file through the `mvt` library (classes, threshold and input widths
/// from the file's metadata); the loss is computed from the probabilities.
fn score_model_file(options: &EvalOptions) -> Result<ScoredSplit> {
    let runtime_options = Options {
        device: options.device.onnxruntime(),
        sessions: 1,
        intra_threads: options.threads,
        ..Options::default()
    };
    let model = Model::load(&options.checkpoint, &runtime_options)?;
    let config = &model.metadata().model_config;
    let mut data = load_reported(&options.data, &options.split, config)?;
    if data.classes != model.classes() {
        bail!("{}/class.txt differs from the classes of {}", options.data.display(), options.checkpoint.display());
    }
    if options.no_titles {
        data.videos.iter_mut().for_each(|v| v.title.clear());
    }
    let predictions = mvt_runtime::tag_dataset::predict_dataset(&model, &data, |_, _| {})?;
    let classes = model.classes().len();
    let probs = Array2::from_shape_vec(
        (predictions.len(), classes),
        predictions.into_iter().flat_map(|p| p.probabilities).collect(),
    )?;
    let loss = loss_from_probs(probs.view(), &labels_of(&data.videos), config.loss_type);
    let mut default_report = options.checkpoint.clone().into_os_string();
    default_report.push(format!(".eval_{}.json", options.split));
    Ok(ScoredSplit {
        scores: Scores { probs, loss },
        classes: model.classes().to_vec(),
        threshold: model.threshold(),
        default_report: default_report.into(),
        data,
    })
}

/// `[{"video_id": ..., "probs": [...]}, ...]` in the order of `videos`.
fn write_predictions(path: &Path, videos: &[Video], probs: ArrayView2<f32>) -> Result<()> {
    #[derive(Serialize)]
    struct VideoProbs<'a> {
        video_id: &'a str,
        probs: Vec<f32>,
    }
    let entries: Vec<VideoProbs> =
        videos.iter().zip(probs.rows()).map(|(v, row)| VideoProbs { video_id: &v.name, probs: row.to_vec() }).collect();
    std::fs::write(path, serde_json::to_string(&entries)?).with_context(|| format!("writing {}", path.display()))
}
