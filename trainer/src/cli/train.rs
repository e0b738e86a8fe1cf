//! `mvt-train train`.

use std::path::PathBuf;

use mvt_formats::config::PoolMode;
use mvt_trainer::device::DeviceChoice;
use mvt_trainer::train::TrainOptions;

use super::choice;

#[derive(clap::Args, Clone, Debug)]
pub struct TrainArgs {
    /// The original's INI configuration.
    #[arg(long, default_value = "conf/conf.txt")]
    config: PathBuf,
    /// Dataset directory in the original layout (class.txt, train.txt, val.txt, feature_files/).
    #[arg(long)]
    data: PathBuf,
    /// Output directory: checkpoints, `best`, `last`, metrics.jsonl, curves.png. Must be empty or missing unless
    /// --resume or --overwrite; with --resume it defaults to the resumed run's folder.
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// HF-format BERT/ERNIE directory (model.safetensors, config.json, vocab.txt). Without it the text encoder is
    /// a trainable embedding over a vocabulary built from the training titles.
    #[arg(long)]
    encoder: Option<PathBuf>,
    #[arg(long, value_parser = choice::device(), default_value = "auto")]
    device: DeviceChoice,
    /// Seeds initialization, shuffling, dropout and title drop: equal seeds give equal runs on the CPU.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Override `[TRAIN] epoch`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Continue the run in this training output directory after its last completed epoch (weights, optimizer
    /// state, settings, seed, early-stop counters; later records and checkpoints are dropped).
    #[arg(long, conflicts_with_all = ["init", "overwrite"])]
    resume: Option<PathBuf>,
    /// Delete a non-empty --out (an earlier run) and train from scratch.
    #[arg(long)]
    overwrite: bool,
    /// Start from a checkpoint's weights, tokenizer and model settings, at epoch 1.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Override `lstm_pool_mode`.
    #[arg(long, value_parser = choice::pool_mode())]
    pool_mode: Option<PoolMode>,
    /// Leave the image branch out.
    #[arg(long)]
    no_rgb: bool,
    /// Leave the audio branch out.
    #[arg(long)]
    no_audio: bool,
    /// Leave the text vector out of the head (text-guided pooling still reads the title).
    #[arg(long)]
    no_text: bool,
    /// Probability of blanking a whole training title (0.4 in the tutorial's best run).
    #[arg(long)]
    title_drop_rate: Option<f64>,
    /// Train the text encoder (the default for the embedding-only encoder).
    #[arg(long, conflicts_with = "freeze_encoder")]
    finetune_encoder: bool,
    /// Keep the text encoder fixed (the default for a pretrained encoder, `ernie_freeze`).
    #[arg(long)]
    freeze_encoder: bool,
    /// Run a frozen pretrained encoder on every batch instead of caching its outputs per title (for the
    /// benchmark of the cache).
    #[arg(long)]
    no_encoder_cache: bool,
    /// Override `[TRAIN] batch_size`.
    #[arg(long)]
    batch_size: Option<usize>,
    /// libtorch CPU threads (see [`set_threads`]).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Most share of a split's rows that may be unusable (missing, unreadable or hostile feature files, NaN
    /// features, rows without labels) before training refuses to start, in [0, 1].
    #[arg(long, default_value_t = mvt_trainer::data::DEFAULT_MAX_UNUSABLE)]
    max_unusable: f64,
}

impl From<TrainArgs> for TrainOptions {
    fn from(args: TrainArgs) -> TrainOptions {
        TrainOptions {
            config: args.config,
            data: args.data,
            out: args.out.or_else(|| args.resume.clone()).unwrap_or_default(),
            encoder: args.encoder,
            device: args.device,
            seed: args.seed,
            epochs: args.epochs,
            resume: args.resume,
            overwrite: args.overwrite,
            init: args.init,
            pool_mode: args.pool_mode,
            no_rgb: args.no_rgb,
            no_audio: args.no_audio,
            no_text: args.no_text,
            title_drop_rate: args.title_drop_rate,
            finetune_encoder: args.finetune_encoder,
            freeze_encoder: args.freeze_encoder,
            no_encoder_cache: args.no_encoder_cache,
            batch_size: args.batch_size,
            threads: args.threads,
            max_unusable: args.max_unusable,
        }
    }
}
