//! `mvt-train export`.

use std::path::PathBuf;

use mvt_trainer::export::ExportOptions;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Checkpoint directory (model.safetensors, config.json, tokenizer.json, classes.txt, provenance).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The ONNX file to write.
    #[arg(long)]
    out: PathBuf,
    /// Default decision threshold stored in the file [default: the checkpoint config's INFER threshold].
    #[arg(long)]
    threshold: Option<f64>,
}

impl From<ExportArgs> for ExportOptions {
    fn from(args: ExportArgs) -> ExportOptions {
        ExportOptions { checkpoint: args.checkpoint, out: args.out, threshold: args.threshold }
    }
}
