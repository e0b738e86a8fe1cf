//! Developer commands, hidden in `mvt-train`'s help: an untrained checkpoint for export benchmarks and tests
//! (`init-checkpoint`), the encoder cache's benchmark (`bench-cache`) and the metrics report of given
//! probabilities, for cross-checks against reference implementations (`metrics`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mvt_formats::config::Config;
use mvt_formats::tokenizer::TitleTokenizer;
use ndarray::Array2;
use serde::Deserialize;
use tch::nn;

use crate::checkpoint::{self, Provenance};
use crate::device::DeviceChoice;
use crate::evaluate::report;
use crate::model::FusionModel;
use crate::train::{self, TrainOptions};

/// An untrained checkpoint: what it is made from and where it goes.
#[derive(Clone, Debug)]
pub struct InitCheckpointOptions {
    /// The resolved configuration as JSON (a checkpoint's `config.json`).
    pub config: PathBuf,
    /// The tokenizer's vocab.txt (one token per line, BERT special tokens included).
    pub vocab: PathBuf,
    /// The checkpoint directory to write.
    pub out: PathBuf,
    pub seed: i64,
}

/// Writes a checkpoint whose weights are the model's random initialization (classes `class0`, `class1`, ...).
pub fn init_checkpoint(options: &InitCheckpointOptions) -> Result<()> {
    let text =
        std::fs::read_to_string(&options.config).with_context(|| format!("reading {}", options.config.display()))?;
    let config: Config =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", options.config.display()))?;
    let tokenizer = TitleTokenizer::from_vocab_file(&options.vocab, config.model.text_max_len)?;
    tch::manual_seed(options.seed);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    FusionModel::new(&vs.root(), &config.model)?;
    let classes: Vec<String> = (0..config.model.num_classes).map(|c| format!("class{c}")).collect();
    let provenance = Provenance {
        trainer: format!("mvt-train {} init-checkpoint (random weights, untrained)", env!("CARGO_PKG_VERSION")),
        data_dir: String::new(),
        epoch: 0,
        seed: options.seed as u64,
        val_loss: 0.0,
        val_hit_at_1: 0.0,
        val_hit_at_2: 0.0,
    };
    let contents = checkpoint::Contents {
        vs: &vs,
        config: &config,
        tokenizer: &tokenizer,
        classes: &classes,
        provenance: &provenance,
    };
    checkpoint::save(&options.out, &contents)?;
    println!("random-weight checkpoint -> {}", options.out.display());
    Ok(())
}

/// The cache benchmark: two short trainings with a frozen pretrained encoder, with and without the per-title
/// cache of its outputs.
#[derive(Clone, Debug)]
pub struct BenchCacheOptions {
    pub config: PathBuf,
    pub data: PathBuf,
    /// HF-format BERT directory (model.safetensors, config.json, vocab.txt).
    pub encoder: PathBuf,
    /// Scratch directory for the two runs' outputs.
    pub out: PathBuf,
    pub epochs: usize,
    pub device: DeviceChoice,
    pub threads: usize,
}

/// Prints the epoch time with and without the cache (same seed, so the same numbers; only the time differs).
pub fn bench_cache(options: &BenchCacheOptions) -> Result<()> {
    let mut seconds = [0.0; 2];
    for (cached, slot) in [true, false].into_iter().zip(seconds.iter_mut()) {
        let run_options = TrainOptions {
            encoder: Some(options.encoder.clone()),
            device: options.device,
            epochs: Some(options.epochs),
            freeze_encoder: true,
            no_encoder_cache: !cached,
            threads: options.threads,
            // A benchmark's runs are scratch: each measurement starts afresh.
            overwrite: true,
            ..TrainOptions::new(
                options.config.clone(),
                options.data.clone(),
                options.out.join(if cached { "cached" } else { "uncached" }),
            )
        };
        let started = Instant::now();
        let summary = train::run(&run_options)?;
        let epochs = summary.history.len().max(1) as f64;
        *slot = summary.history.iter().map(|r| r.seconds).sum::<f64>() / epochs;
        println!(
            "{}: {:.1}s per epoch (train + validation), {:.1}s in all",
            if cached { "cached encoder outputs" } else { "encoder on every batch" },
            *slot,
            started.elapsed().as_secs_f64()
        );
    }
    println!("epoch-time speed-up from the cache: x{:.2}", seconds[1] / seconds[0]);
    Ok(())
}

/// The input of [`metrics`].
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

/// Prints the `eval` report (without loss) for the JSON file `input`:
/// `{"probs": [[f32]], "labels": [[class index]], "threshold": f64 (optional, 0.5)}`; classes are named by index.
pub fn metrics(input: &Path) -> Result<()> {
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
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

/// Draws the bar chart described by the JSON file `input` ([`crate::plot::BarChart`]) into the PNG `out`.
pub fn bar_chart(input: &Path, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let chart: crate::plot::BarChart = serde_json::from_str(&text).context("parsing the bar chart")?;
    crate::plot::bar_chart(out, &chart)?;
    println!("bar chart: {}", out.display());
    Ok(())
}
