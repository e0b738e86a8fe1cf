//! `mvt-train ablate`.

use std::path::PathBuf;

use mvt_trainer::ablate::AblateOptions;
use mvt_trainer::device::DeviceChoice;

use super::choice;

#[derive(clap::Args, Clone, Debug)]
pub struct AblateArgs {
    #[arg(long, default_value = "conf/conf.txt")]
    config: PathBuf,
    #[arg(long)]
    data: PathBuf,
    /// Each row trains into OUT/<row>; the table is also written to OUT/ablation.md.
    #[arg(long, default_value = "out/ablate")]
    out: PathBuf,
    /// Override `[TRAIN] epoch` for every row.
    #[arg(long)]
    epochs: Option<usize>,
    /// A pretrained encoder for every text row (as `train --encoder`).
    #[arg(long)]
    encoder: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_parser = choice::device(), default_value = "auto")]
    device: DeviceChoice,
    /// libtorch CPU threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Delete the rows of an earlier ablation in OUT and train them again (without it, such rows are refused).
    #[arg(long)]
    overwrite: bool,
}

impl From<AblateArgs> for AblateOptions {
    fn from(args: AblateArgs) -> AblateOptions {
        AblateOptions {
            config: args.config,
            data: args.data,
            out: args.out,
            epochs: args.epochs,
            encoder: args.encoder,
            seed: args.seed,
            device: args.device,
            threads: args.threads,
            overwrite: args.overwrite,
        }
    }
}
