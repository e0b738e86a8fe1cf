//! `mvt-train`: make the synthetic benchmark, train, evaluate, ablate and export the fusion model.
use clap::{Parser, Subcommand};
use mvt_trainer::{ablate, evaluate, export, train};

use mvt_synth as synth;

#[derive(Parser)]
#[command(name = "mvt-train", version, about = "Train and export the AttentionLstmErnie video tagger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic benchmark in the original's dataset layout.
    Synth(synth::SynthArgs),
    /// Train the fusion model (the original recipe by default).
    Train(train::TrainArgs),
    /// Score a split with a checkpoint or an exported .onnx: loss, Hit@1, and a JSON report of every metric.
    Eval(evaluate::EvalArgs),
    /// Train the original's ablation rows and print their Hit@1 / Hit@2 table.
    Ablate(ablate::AblateArgs),
    /// Export a checkpoint to one self-describing ONNX model file (docs/model-file.md).
    Export(export::ExportArgs),
    /// Write a checkpoint with random (untrained) weights, for export benchmarks and tests.
    #[command(hide = true)]
    InitCheckpoint(export::InitCheckpointArgs),
    /// Epoch time with and without the frozen encoder's per-title cache.
    #[command(hide = true)]
    BenchCache(train::BenchCacheArgs),
    /// The metrics report for probabilities and labels in a JSON file (for cross-checks).
    #[command(hide = true)]
    Metrics(evaluate::MetricsArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Synth(args) => synth::run(&args),
        Command::Train(args) => train::run(&args).map(|_| ()),
        Command::Eval(args) => evaluate::run(&args).map(|_| ()),
        Command::Ablate(args) => ablate::run(&args).map(|_| ()),
        Command::Export(args) => export::run(&args),
        Command::InitCheckpoint(args) => export::run_init_checkpoint(&args),
        Command::BenchCache(args) => train::run_bench_cache(&args),
        Command::Metrics(args) => evaluate::run_metrics(&args),
    }
}
