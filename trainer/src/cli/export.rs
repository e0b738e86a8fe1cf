//! `mvt-train export`.

use std::path::PathBuf;

use mvt_formats::model_file::Precision;
use mvt_trainer::export::{Component, ExportOptions};

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
    /// The weight products' arithmetic: fp32 (exact), or int8 (dynamic quantization, per-channel int8 weights;
    /// docs/model-file.md "Precision").
    #[arg(long, value_enum, default_value = "fp32")]
    precision: PrecisionArg,
    /// With --precision int8: parts of the model whose weight products stay f32 (comma-separated), where a
    /// trained model's INT8 error comes from (scripts/int8_accuracy.py reports it per part).
    #[arg(long, value_enum, value_delimiter = ',')]
    keep_fp32: Vec<ComponentArg>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum ComponentArg {
    Encoder,
    Textcnn,
    Lstm,
    Pooling,
    Head,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum PrecisionArg {
    Fp32,
    Int8,
}

impl From<ExportArgs> for ExportOptions {
    fn from(args: ExportArgs) -> ExportOptions {
        let precision = match args.precision {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Int8 => Precision::Int8,
        };
        let keep_fp32 = args
            .keep_fp32
            .into_iter()
            .map(|part| match part {
                ComponentArg::Encoder => Component::Encoder,
                ComponentArg::Textcnn => Component::TextCnn,
                ComponentArg::Lstm => Component::Lstm,
                ComponentArg::Pooling => Component::Pooling,
                ComponentArg::Head => Component::Head,
            })
            .collect();
        ExportOptions { checkpoint: args.checkpoint, out: args.out, threshold: args.threshold, precision, keep_fp32 }
    }
}
