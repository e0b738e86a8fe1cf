//! The `mvt` command line: dataset summaries, batch inference (`infer`), model metadata (`info`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use mvt_formats::atomic_file::write_atomic;
use mvt_formats::config::Config;
use mvt_formats::dataset::{load_split, LoadOptions};
use mvt_formats::model_file::read_model_metadata;
use mvt_runtime::output_json::inference_json;
use mvt_runtime::predict::{Model, Options};
use mvt_runtime::tag_dataset::{load_videos, predict_dataset};

#[derive(Parser)]
#[command(name = "mvt", version, about = "Native multimodal short-video tagging")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load splits of a dataset in the original layout and print what was loaded and what was skipped.
    Dataset {
        /// Folder with class.txt, the split files and feature_files/.
        #[arg(long)]
        data: PathBuf,
        /// The original's conf.txt (feature widths and class count are checked against it).
        #[arg(long, default_value = "conf/conf.txt")]
        config: PathBuf,
        /// Split files to load (repeatable).
        #[arg(long = "split", default_values = ["train.txt", "val.txt"])]
        splits: Vec<String>,
    },
    /// Tag every video of a list file with a model file and write the original's output.json.
    ///
    /// A bad row (missing, unreadable or non-finite feature file, more frames than --max-frames, a line that is not
    /// UTF-8, a duplicate name) is skipped with a warning naming its list line and file; the summary counts the
    /// skips per reason.
    ///
    /// Exit status: 0 at least one video was tagged and the output written (skipped rows are reported on stderr);
    /// 1 an error (model, list or class.txt unreadable, output not writable); 2 bad usage; 3 nothing to tag (every
    /// row skipped, or no rows). On 1 and 3 the output file is not written: a previous one stays as it was.
    Infer(InferArgs),
    /// Print a model file's metadata (classes, threshold, dims, tokenizer, config, provenance).
    Info {
        /// The mvt model file (.onnx).
        model: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    // Rust ignores SIGPIPE, which turns `mvt info model.onnx | head` into a panic on the next print; a command-line
    // tool should end quietly like any other Unix filter instead.
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match Cli::parse().command {
        Command::Dataset { data, config, splits } => dataset(&data, &config, &splits),
        Command::Infer(args) => infer(&args),
        Command::Info { model } => info(&model),
    }
}

fn dataset(data: &std::path::Path, config: &std::path::Path, splits: &[String]) -> anyhow::Result<()> {
    let config = Config::from_conf_file(config)?;
    let opts = LoadOptions::for_training(&config.model);
    for split in splits {
        let dataset =
            load_split(data, split, &opts).with_context(|| format!("loading {split} from {}", data.display()))?;
        print!("{}", dataset.summary());
        if dataset.classes.len() != config.model.num_classes {
            println!(
                "  note: class.txt has {} classes, conf.txt num_classes = {}",
                dataset.classes.len(),
                config.model.num_classes
            );
        }
    }
    Ok(())
}

#[derive(clap::Args)]
struct InferArgs {
    /// The mvt model file (.onnx, from `mvt-train export`).
    #[arg(long)]
    model: PathBuf,
    /// Folder with class.txt and feature_files/.
    #[arg(long)]
    data: PathBuf,
    /// List file (`name<TAB>title[<TAB>labels]` per line), relative to --data or absolute.
    #[arg(long, default_value = "val.txt")]
    list: String,
    /// Where to write the JSON (the original's output.json).
    #[arg(long)]
    out: PathBuf,
    /// Tag threshold (default: the model file's, 0.5 in the original's [INFER]).
    #[arg(long)]
    threshold: Option<f64>,
    /// Videos per batch (the original's [INFER] batch_size).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// List each video's K best classes, best first, instead of the classes above the threshold.
    #[arg(long)]
    top_k: Option<usize>,
    /// Most image frames or audio segments a video may have; longer videos are skipped with a warning.
    #[arg(long, default_value_t = Options::default().max_frames)]
    max_frames: usize,
}

/// `mvt infer`'s exit status when no video of the list could be tagged (nothing is written then).
const EXIT_NOTHING_TAGGED: i32 = 3;

fn infer(args: &InferArgs) -> anyhow::Result<()> {
    let options = Options {
        threshold: args.threshold,
        batch_size: args.batch_size,
        top_k: args.top_k.unwrap_or(0),
        max_frames: args.max_frames,
        ..Options::default()
    };
    let model = Model::load(&args.model, &options)?;
    let dataset = load_videos(&model, &args.data, &args.list)?;
    let report = &dataset.report;
    for skipped in &report.skipped {
        eprintln!("warning: {} line {} ({}): {}; skipped", args.list, skipped.line, skipped.name, skipped.reason);
    }
    let skips = skip_summary(report);
    if dataset.videos.is_empty() {
        eprintln!(
            "error: nothing to tag: {} rows in {}, {}; {} not written",
            report.rows,
            args.list,
            skips,
            args.out.display()
        );
        std::process::exit(EXIT_NOTHING_TAGGED);
    }
    let bar = indicatif::ProgressBar::new(dataset.videos.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} videos, {per_sec}, eta {eta}")
            .expect("the progress template is valid"),
    );
    let predictions = predict_dataset(&model, &dataset, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let labels =
        predictions
            .iter()
            .map(|p| if args.top_k.is_some() { p.top_k.iter().collect() } else { p.labels_in_class_order() });
    let json = inference_json(dataset.videos.iter().map(|v| v.name.as_str()).zip(labels));
    write_atomic(&args.out, json.as_bytes()).with_context(|| format!("cannot write {}", args.out.display()))?;
    let runtime = model.runtime();
    eprintln!(
        "{} videos tagged, {} on {} (ONNX Runtime {} from {}) -> {}",
        predictions.len(),
        skips,
        model.provider(),
        runtime.version(),
        runtime.library().display(),
        args.out.display()
    );
    Ok(())
}

/// "2 skipped (missing feature file: 1, too many frames: 1)", or "0 skipped".
fn skip_summary(report: &mvt_formats::dataset::LoadReport) -> String {
    if report.skipped.is_empty() {
        return "0 skipped".into();
    }
    let counts: Vec<String> = report.skip_counts().iter().map(|(kind, n)| format!("{kind}: {n}")).collect();
    format!("{} skipped ({})", report.skipped.len(), counts.join(", "))
}

fn info(path: &std::path::Path) -> anyhow::Result<()> {
    // The same checks `Model::load` runs on the file (digest, limits, tokenizer against the metadata).
    let meta = read_model_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let tokenizer = meta.tokenizer()?;
    println!("model file: {}", path.display());
    println!("classes: {}", meta.classes.len());
    for (index, name) in meta.classes.iter().enumerate() {
        println!("  {index}\t{name}");
    }
    println!("threshold: {}", meta.threshold);
    println!("image features: {}-d, audio features: {}-d", meta.rgb_dim, meta.audio_dim);
    println!("empty audio: {} zero rows", meta.empty_audio_frames);
    println!("title: at most {} tokens, vocabulary of {}", meta.text_max_len, tokenizer.vocab_size());
    match &meta.quantization {
        Some(how) => println!("precision: {} ({how})", meta.precision),
        None => println!("precision: {}", meta.precision),
    }
    println!("model config: {}", serde_json::to_string_pretty(&meta.model_config)?);
    let provenance = &meta.provenance;
    println!("exported by: {}", provenance.exporter_version);
    if let Some(epoch) = provenance.epoch {
        println!("checkpoint epoch: {epoch}");
    }
    for (metric, value) in &provenance.validation_metrics {
        println!("validation {metric}: {value}");
    }
    if !provenance.training_data.is_null() {
        println!("training data: {}", provenance.training_data);
    }
    Ok(())
}
