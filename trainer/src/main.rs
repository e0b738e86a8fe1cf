//! `mvt-train`: make the synthetic benchmark, train, evaluate, ablate and export the fusion model.
//!
//! The command line is this binary's alone: `cli` holds each subcommand's flags and turns them into the plain
//! options structs that `mvt_trainer` and `mvt_synth` take.

mod cli;

use clap::{Parser, Subcommand};
use mvt_trainer::{ablate, devtools, evaluate, export, train};

use cli::ablate::AblateArgs;
use cli::devtools::{BarChartArgs, BenchCacheArgs, InitCheckpointArgs, MetricsArgs};
use cli::evaluate::EvalArgs;
use cli::export::ExportArgs;
use cli::synth::SynthArgs;
use cli::train::TrainArgs;

#[derive(Parser)]
#[command(name = "mvt-train", version, about = "Train and export the AttentionLstmErnie video tagger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic benchmark in the original's dataset layout.
    Synth(SynthArgs),
    /// Train the fusion model (the original recipe by default).
    Train(TrainArgs),
    /// Score a split with a checkpoint or an exported .onnx: loss, Hit@1, and a JSON report of every metric.
    Eval(EvalArgs),
    /// Train the original's ablation rows and print their Hit@1 / Hit@2 table.
    Ablate(AblateArgs),
    /// Export a checkpoint to one self-describing ONNX model file (docs/model-file.md).
    Export(ExportArgs),
    /// Write a checkpoint with random (untrained) weights, for export benchmarks and tests.
    #[command(hide = true)]
    InitCheckpoint(InitCheckpointArgs),
    /// Epoch time with and without the frozen encoder's per-title cache.
    #[command(hide = true)]
    BenchCache(BenchCacheArgs),
    /// The metrics report for probabilities and labels in a JSON file (for cross-checks).
    #[command(hide = true)]
    Metrics(MetricsArgs),
    /// A PNG bar chart from a JSON file (`make bench`'s chart).
    #[command(hide = true)]
    BarChart(BarChartArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Synth(args) => mvt_synth::run(&args.into()),
        Command::Train(args) => train::run(&args.into()).map(|_| ()),
        Command::Eval(args) => evaluate::run(&args.into()).map(|_| ()),
        Command::Ablate(args) => ablate::run(&args.into()).map(|_| ()),
        Command::Export(args) => export::run(&args.into()),
        Command::InitCheckpoint(args) => devtools::init_checkpoint(&args.into()),
        Command::BenchCache(args) => devtools::bench_cache(&args.into()),
        Command::Metrics(args) => devtools::metrics(&args.input),
        Command::BarChart(args) => devtools::bar_chart(&args.input, &args.out),
    }
}
