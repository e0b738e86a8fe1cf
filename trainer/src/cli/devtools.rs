//! The hidden developer commands: `init-checkpoint`, `bench-cache`, `metrics`, `bar-chart`.

use std::path::PathBuf;

use mvt_trainer::device::DeviceChoice;
use mvt_trainer::devtools::{BenchCacheOptions, InitCheckpointOptions};

use super::choice;

#[derive(clap::Args)]
pub struct InitCheckpointArgs {
    /// The resolved configuration as JSON (a checkpoint's `config.json`).
    #[arg(long)]
    config: PathBuf,
    /// The tokenizer's vocab.txt (one token per line, BERT special tokens included).
    #[arg(long)]
    vocab: PathBuf,
    /// The checkpoint directory to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: i64,
}

impl From<InitCheckpointArgs> for InitCheckpointOptions {
    fn from(args: InitCheckpointArgs) -> InitCheckpointOptions {
        InitCheckpointOptions { config: args.config, vocab: args.vocab, out: args.out, seed: args.seed }
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct BenchCacheArgs {
    #[arg(long, default_value = "conf/conf.txt")]
    config: PathBuf,
    #[arg(long)]
    data: PathBuf,
    /// HF-format BERT directory (model.safetensors, config.json, vocab.txt).
    #[arg(long)]
    encoder: PathBuf,
    /// Scratch directory for the two runs' outputs.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    #[arg(long, value_parser = choice::device(), default_value = "auto")]
    device: DeviceChoice,
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

impl From<BenchCacheArgs> for BenchCacheOptions {
    fn from(args: BenchCacheArgs) -> BenchCacheOptions {
        BenchCacheOptions {
            config: args.config,
            data: args.data,
            encoder: args.encoder,
            out: args.out,
            epochs: args.epochs,
            device: args.device,
            threads: args.threads,
        }
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct MetricsArgs {
    /// JSON `{"probs": [[f32]], "labels": [[class index]], "threshold": f64 (optional, 0.5)}`.
    #[arg(long)]
    pub input: PathBuf,
}

#[derive(clap::Args, Clone, Debug)]
pub struct BarChartArgs {
    /// JSON `{"title": str, "unit": str, "panels": [{"title": str, "bars": [{"label": str, "value": f64}]}]}`.
    #[arg(long)]
    pub input: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}
