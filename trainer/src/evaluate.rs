//! `mvt-train eval`: score a split with a checkpoint or an exported model file and write the metrics report.
//!
//! The report is computed from a probability matrix and the true labels alone ([`report`]), so any source of
//! probabilities (this trainer's model, an exported ONNX file run by the `mvt` library) yields the same metrics.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mvt_formats::config::LossType;
use mvt_formats::dataset::{load_split, Dataset, LoadOptions, Video};
use mvt_runtime::predict::{Model, Options};
use mvt_formats::tokenizer::TitleTokenizer;
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::batch::{multi_hot, Batch};
use crate::checkpoint::{self, Checkpoint};
use crate::metrics;
use crate::model::{EncoderCache, FusionModel};
use crate::train::{set_threads, DeviceChoice};

/// Hit@k reported for these k (the original's `top_n`).
pub const TOP_N: [usize; 4] = [1, 2, 3, 5];
/// GAP is computed over each video's 20 best classes (YouTube-8M).
pub const GAP_TOP_K: usize = 20;

#[derive(clap::Args, Clone, Debug)]
pub struct EvalArgs {
    /// A checkpoint directory, a training output directory (its `best` checkpoint is used), or an exported
    /// `.onnx` model file (run through the `mvt` library).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Dataset directory in the original layout (class.txt, {split}.txt, feature_files/).
    #[arg(long)]
    pub data: PathBuf,
    /// Which list file to score: `{split}.txt`.
    #[arg(long, default_value = "val")]
    pub split: String,
    /// Where the JSON report goes; default `eval_{split}.json` inside the checkpoint directory, or
    /// `MODEL.eval_{split}.json` beside a model file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Also write every video's probabilities here: `[{"video_id": name in the list file, "probs": [per class]}]`.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Blank every title (the "without title" column of the ablation table).
    #[arg(long)]
    pub no_titles: bool,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// libtorch CPU threads (ONNX Runtime's intra-op threads for a model file).
    #[arg(long, default_value_t = 1)]
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

/// A model's scores on a list of videos.
pub struct Scores {
    /// [videos, classes].
    pub probs: Array2<f32>,
    /// Mean training loss per video.
    pub loss: f64,
}

/// Runs the model (inference mode) over `videos` with their tokenized `titles`, `batch_size` at a time.
pub fn score(
    model: &FusionModel,
    videos: &[Video],
    titles: &[&[i64]],
    pad_id: i64,
    batch_size: usize,
    cache: Option<&EncoderCache>,
    device: Device,
) -> Result<Scores> {
    let classes = model.config().num_classes;
    let mut probs = Vec::with_capacity(videos.len() * classes);
    let mut loss_sum = 0.0;
    tch::no_grad(|| -> Result<()> {
        for (chunk, chunk_titles) in videos.chunks(batch_size.max(1)).zip(titles.chunks(batch_size.max(1))) {
            let refs: Vec<&Video> = chunk.iter().collect();
            let mut batch = Batch::new(&refs, chunk_titles, pad_id, device)?;
            if let Some(cache) = cache {
                cache.fill(&mut batch, chunk_titles)?;
            }
            let out = model.forward(&batch, false);
            loss_sum += model.loss(&out.logits, &multi_hot(&refs, classes, device)).double_value(&[]);
            probs.extend(Vec::<f32>::try_from(out.probs.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1))?);
        }
        Ok(())
    })?;
    let probs = Array2::from_shape_vec((videos.len(), classes), probs)?;
    Ok(Scores { probs, loss: loss_sum / videos.len().max(1) as f64 })
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

/// Reads `{split}.txt` of `data` with the widths the model expects.
pub fn load_data(data: &Path, split: &str, config: &mvt_formats::config::ModelConfig) -> Result<Dataset> {
    let file = format!("{split}.txt");
    let dataset = load_split(data, &file, &LoadOptions::for_training(config))
        .with_context(|| format!("loading {}", data.join(&file).display()))?;
    if dataset.videos.is_empty() {
        bail!("{} has no usable video", data.join(&file).display());
    }
    Ok(dataset)
}

/// A checkpoint's scores on `videos` (every title blanked when `blank_titles`), in validation batches.
pub fn score_with_checkpoint(
    ckpt: &Checkpoint,
    model: &FusionModel,
    videos: &[Video],
    blank_titles: bool,
    device: Device,
) -> Result<Scores> {
    let titles = tokenize(&ckpt.tokenizer, videos, blank_titles)?;
    let refs: Vec<&[i64]> = titles.iter().map(Vec::as_slice).collect();
    score(model, videos, &refs, ckpt.tokenizer.pad_id(), ckpt.config.train.valid_batch_size, None, device)
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

pub fn run(args: &EvalArgs) -> Result<Report> {
    set_threads(args.threads)?;
    // A checkpoint is a directory; anything else must be an exported model file.
    let scored = if args.checkpoint.is_file() { score_model_file(args)? } else { score_checkpoint(args)? };
    let ScoredSplit { data, scores, classes, threshold, default_report } = scored;
    let report = report(scores.probs.view(), &labels_of(&data.videos), &classes, threshold, Some(scores.loss));
    println!("loss: {:.6}", scores.loss);
    println!("Hit@1: {:.2}", report.hit_at_1 * 100.0);
    let path = args.report.clone().unwrap_or(default_report);
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("report: {}", path.display());
    if let Some(path) = &args.predictions {
        write_predictions(path, &data.videos, scores.probs.view())?;
        println!("predictions: {}", path.display());
    }
    Ok(report)
}

fn score_checkpoint(args: &EvalArgs) -> Result<ScoredSplit> {
    let device = args.device.resolve()?;
    let ckpt = checkpoint::load(&args.checkpoint)?;
    let (_vs, model) = ckpt.build_model(device)?;
    let data = load_data(&args.data, &args.split, &ckpt.config.model)?;
    if data.classes != ckpt.classes {
        bail!("{}/class.txt differs from the checkpoint's classes.txt", args.data.display());
    }
    let scores = score_with_checkpoint(&ckpt, &model, &data.videos, args.no_titles, device)?;
    let default_report = ckpt.dir.join(format!("eval_{}.json", args.split));
    Ok(ScoredSplit { data, scores, classes: ckpt.classes, threshold: ckpt.config.infer.threshold, default_report })
}

/// The split scored by an exported model file through the `mvt` library (classes, threshold and input widths
/// from the file's metadata); the loss is computed from the probabilities.
fn score_model_file(args: &EvalArgs) -> Result<ScoredSplit> {
    let device = match args.device {
        DeviceChoice::Auto => mvt_runtime::onnxruntime::Device::Auto { device_id: 0 },
        DeviceChoice::Cpu => mvt_runtime::onnxruntime::Device::Cpu,
        DeviceChoice::Cuda => mvt_runtime::onnxruntime::Device::Cuda { device_id: 0 },
    };
    let options = Options { device, sessions: 1, intra_threads: args.threads, ..Options::default() };
    let model = Model::load(&args.checkpoint, &options)?;
    let config = &model.metadata().model_config;
    let mut data = load_data(&args.data, &args.split, config)?;
    if data.classes != model.classes() {
        bail!("{}/class.txt differs from the classes of {}", args.data.display(), args.checkpoint.display());
    }
    if args.no_titles {
        data.videos.iter_mut().for_each(|v| v.title.clear());
    }
    let predictions = mvt_runtime::tag_dataset::predict_dataset(&model, &data, |_, _| {})?;
    let classes = model.classes().len();
    let probs = Array2::from_shape_vec(
        (predictions.len(), classes),
        predictions.into_iter().flat_map(|p| p.probabilities).collect(),
    )?;
    let loss = loss_from_probs(probs.view(), &labels_of(&data.videos), config.loss_type);
    let mut default_report = args.checkpoint.clone().into_os_string();
    default_report.push(format!(".eval_{}.json", args.split));
    Ok(ScoredSplit {
        scores: Scores { probs, loss },
        classes: model.classes().to_vec(),
        threshold: model.threshold(),
        default_report: default_report.into(),
        data,
    })
}

/// Probabilities are kept this far from 0 and 1 before the log, so a probability that rounded to 0 or 1 in f32
/// costs a finite ln(1e-7) ~ -16 instead of infinity.
const PROB_FLOOR: f64 = 1e-7;

/// The mean training loss per video ([`FusionModel::loss`] / videos) from probabilities alone, for models that
/// output no logits. Equals the logit-based loss up to f32 rounding of the probabilities.
pub fn loss_from_probs(probs: ArrayView2<f32>, labels: &[Vec<usize>], loss_type: LossType) -> f64 {
    let ln = |p: f32| f64::from(p).clamp(PROB_FLOOR, 1.0 - PROB_FLOOR).ln();
    let total: f64 = probs
        .rows()
        .into_iter()
        .zip(labels)
        .map(|(row, labels)| match loss_type {
            LossType::Sigmoid => {
                row.iter().enumerate().map(|(c, &p)| if labels.contains(&c) { -ln(p) } else { -ln(1.0 - p) }).sum()
            }
            // Cross-entropy against the uniform distribution over the video's labels.
            LossType::Softmax => -labels.iter().map(|&c| ln(row[c])).sum::<f64>() / labels.len().max(1) as f64,
        })
        .sum();
    total / probs.nrows().max(1) as f64
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

/// `mvt-train metrics` (hidden): the report for probabilities and labels given as JSON, for cross-checks.
#[derive(clap::Args, Clone, Debug)]
pub struct MetricsArgs {
    /// JSON `{"probs": [[f32]], "labels": [[class index]], "threshold": f64 (optional, 0.5)}`.
    #[arg(long)]
    pub input: PathBuf,
}

#[derive(Deserialize)]
struct MetricsInput {
    probs: Vec<Vec<f32>>,
    labels: Vec<Vec<usize>>,
    #[serde(default = "half")]
    threshold: f64,
}

fn half() -> f64 {
    0.5
}

pub fn run_metrics(args: &MetricsArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let input: MetricsInput = serde_json::from_str(&text).context("parsing the metrics input")?;
    let classes = input.probs.first().map_or(0, Vec::len);
    if input.probs.iter().any(|row| row.len() != classes) || input.labels.len() != input.probs.len() {
        bail!("probs must be a rectangular [videos, classes] matrix with one label list per video");
    }
    if input.labels.iter().flatten().any(|&c| c >= classes) {
        bail!("a label index is >= the number of classes ({classes})");
    }
    let probs = Array2::from_shape_vec((input.probs.len(), classes), input.probs.concat())?;
    let names: Vec<String> = (0..classes).map(|c| c.to_string()).collect();
    println!("{}", serde_json::to_string_pretty(&report(probs.view(), &input.labels, &names, input.threshold, None))?);
    Ok(())
}
