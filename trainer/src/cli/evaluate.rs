//! `mvt-train eval`.

use std::path::PathBuf;

use mvt_trainer::device::DeviceChoice;
use mvt_trainer::evaluate::EvalOptions;

use super::choice;

#[derive(clap::Args, Clone, Debug)]
pub struct EvalArgs {
    /// A checkpoint directory, a training output directory (its `best` checkpoint is used), or an exported
    /// `.onnx` model file (run through the `mvt` library).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Dataset directory in the original layout (class.txt, {split}.txt, feature_files/).
    #[arg(long)]
    data: PathBuf,
    /// Which list file to score: `{split}.txt`.
    #[arg(long, default_value = "val")]
    split: String,
    /// Where the JSON report goes; default `eval_{split}.json` inside the checkpoint directory, or
    /// `MODEL.eval_{split}.json` beside a model file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also write every video's probabilities here: `[{"video_id": name in the list file, "probs": [per class]}]`.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Blank every title (the "without title" column of the ablation table).
    #[arg(long)]
    no_titles: bool,
    #[arg(long, value_parser = choice::device(), default_value = "auto")]
    device: DeviceChoice,
    /// libtorch CPU threads (ONNX Runtime's intra-op threads for a model file).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

impl From<EvalArgs> for EvalOptions {
    fn from(args: EvalArgs) -> EvalOptions {
        EvalOptions {
            checkpoint: args.checkpoint,
            data: args.data,
            split: args.split,
            report: args.report,
            predictions: args.predictions,
            no_titles: args.no_titles,
            device: args.device,
            threads: args.threads,
        }
    }
}
