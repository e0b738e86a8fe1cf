//! `mvt-train train`: the original recipe (centered RMSProp, piecewise decay, L2, summed sigmoid BCE, validation
//! every epoch, a checkpoint whenever validation Hit@1 improves, early stop), with title drop, a cache of the
//! frozen encoder's outputs, seeded determinism, a progress bar, metrics.jsonl and a curves PNG.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mvt_formats::config::{Config, PoolMode, TextEncoder};
use mvt_formats::dataset::Video;
use mvt_formats::tokenizer::{build_vocab, TitleTokenizer};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind};

use crate::batch::{multi_hot, Batch};
use crate::checkpoint::{self, Provenance};
use crate::evaluate::{labels_of, load_data, score, tokenize};
use crate::metrics::hit_at_k;
use crate::model::{freeze_encoder, EncoderCache, FusionModel};
use crate::{encoder, plot};

/// Per-epoch metrics, one JSON line each in `metrics.jsonl`.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The training curves, rewritten after every epoch.
pub const CURVES_FILE: &str = "curves.png";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA when available, else CPU.
    Auto,
    Cpu,
    Cuda,
}

/// libtorch's CPU threads for this process. Many small ops per step make OpenMP's spin-waiting dominate when
/// the cores are shared: on the 2-core development machine one thread trained `tiny` 4x faster (wall) than two.
pub fn set_threads(threads: usize) -> Result<()> {
    if threads == 0 {
        bail!("--threads must be at least 1");
    }
    tch::set_num_threads(threads as i32);
    Ok(())
}

impl DeviceChoice {
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
            DeviceChoice::Cuda => bail!("--device cuda: no CUDA device is available to libtorch"),
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolArg {
    TextGuide,
    #[value(name = "self")]
    SelfAttention,
}

#[derive(clap::Args, Clone, Debug)]
pub struct TrainArgs {
    /// The original's INI configuration.
    #[arg(long, default_value = "conf/conf.txt")]
    pub config: PathBuf,
    /// Dataset directory in the original layout (class.txt, train.txt, val.txt, feature_files/).
    #[arg(long)]
    pub data: PathBuf,
    /// Output directory: checkpoints, `best`, metrics.jsonl, curves.png.
    #[arg(long)]
    pub out: PathBuf,
    /// HF-format BERT/ERNIE directory (model.safetensors, config.json, vocab.txt). Without it the text encoder is
    /// a trainable embedding over a vocabulary built from the training titles.
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Seeds initialization, shuffling, dropout and title drop: equal seeds give equal runs on the CPU.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Override `[TRAIN] epoch`.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Continue a run from its checkpoint (weights, tokenizer and model settings; the epoch after it).
    #[arg(long, conflicts_with = "init")]
    pub resume: Option<PathBuf>,
    /// Start from a checkpoint's weights, tokenizer and model settings, at epoch 1.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Override `lstm_pool_mode`.
    #[arg(long, value_enum)]
    pub pool_mode: Option<PoolArg>,
    /// Leave the image branch out.
    #[arg(long)]
    pub no_rgb: bool,
    /// Leave the audio branch out.
    #[arg(long)]
    pub no_audio: bool,
    /// Leave the text vector out of the head (text-guided pooling still reads the title).
    #[arg(long)]
    pub no_text: bool,
    /// Probability of blanking a whole training title (0.4 in the tutorial's best run).
    #[arg(long)]
    pub title_drop_rate: Option<f64>,
    /// Train the text encoder (the default for the embedding-only encoder).
    #[arg(long, conflicts_with = "freeze_encoder")]
    pub finetune_encoder: bool,
    /// Keep the text encoder fixed (the default for a pretrained encoder, `ernie_freeze`).
    #[arg(long)]
    pub freeze_encoder: bool,
    /// Run a frozen pretrained encoder on every batch instead of caching its outputs per title (for the
    /// benchmark of the cache).
    #[arg(long)]
    pub no_encoder_cache: bool,
    /// Override `[TRAIN] batch_size`.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// libtorch CPU threads (see [`set_threads`]).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

impl TrainArgs {
    /// The command line's defaults for `config`, `data` and `out` (CPU, seed 0, one thread): the base that
    /// programmatic runs (ablation rows, the cache benchmark, tests) change a few fields of.
    pub fn new(config: PathBuf, data: PathBuf, out: PathBuf) -> TrainArgs {
        TrainArgs {
            config,
            data,
            out,
            encoder: None,
            device: DeviceChoice::Cpu,
            seed: 0,
            epochs: None,
            resume: None,
            init: None,
            pool_mode: None,
            no_rgb: false,
            no_audio: false,
            no_text: false,
            title_drop_rate: None,
            finetune_encoder: false,
            freeze_encoder: false,
            no_encoder_cache: false,
            batch_size: None,
            threads: 1,
        }
    }

    fn overrides_model(&self) -> bool {
        self.encoder.is_some()
            || self.pool_mode.is_some()
            || self.no_rgb
            || self.no_audio
            || self.no_text
            || self.finetune_encoder
            || self.freeze_encoder
    }
}

/// One epoch's line in metrics.jsonl.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub learning_rate: f64,
    /// Mean loss per video, in training mode (dropout, title drop).
    pub train_loss: f64,
    pub train_hit_at_1: f64,
    pub train_hit_at_2: f64,
    pub val_loss: f64,
    pub val_hit_at_1: f64,
    pub val_hit_at_2: f64,
    pub seconds: f64,
}

/// What a finished run left.
pub struct TrainSummary {
    pub history: Vec<EpochRecord>,
    /// The best checkpoint's directory, if any epoch improved on the start.
    pub best: Option<PathBuf>,
}

/// Everything the model is built from when not starting from a checkpoint.
fn fresh_model_setup(args: &TrainArgs, config: &mut Config, train: &[Video]) -> Result<TitleTokenizer> {
    let model = &mut config.model;
    if let Some(pool) = args.pool_mode {
        model.pool_mode = match pool {
            PoolArg::TextGuide => PoolMode::TextGuide,
            PoolArg::SelfAttention => PoolMode::SelfAttention,
        };
    }
    model.use_rgb &= !args.no_rgb;
    model.use_audio &= !args.no_audio;
    model.use_text &= !args.no_text;
    let tokenizer = match &args.encoder {
        Some(dir) => {
            let (tokenizer, encoder_config) = encoder::load_pretrained_config(dir, model.text_max_len)?;
            model.text_encoder = TextEncoder::Pretrained(encoder_config);
            tokenizer
        }
        None => {
            let vocab = build_vocab(train.iter().map(|v| v.title.as_str()), 1);
            let tokenizer = TitleTokenizer::from_vocab(vocab, model.text_max_len)?;
            model.text_encoder =
                TextEncoder::Embedding { vocab_size: tokenizer.vocab_size(), dim: model.text_encoder.output_dim() };
            // A random embedding has nothing to keep: it trains unless asked otherwise.
            model.ernie_freeze = false;
            tokenizer
        }
    };
    if args.finetune_encoder || args.freeze_encoder {
        model.ernie_freeze = args.freeze_encoder;
    }
    Ok(tokenizer)
}

/// Learning rate of 1-based `epoch`: x `decay_gamma` after each of `decay_epochs` completed epochs.
pub fn learning_rate(config: &mvt_formats::config::TrainConfig, epoch: usize) -> f64 {
    let decays = config.decay_epochs.iter().filter(|&&boundary| boundary < epoch).count();
    config.learning_rate * config.decay_gamma.powi(decays as i32)
}

pub fn run(args: &TrainArgs) -> Result<TrainSummary> {
    set_threads(args.threads)?;
    let device = args.device.resolve()?;
    tch::manual_seed(args.seed as i64);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let start = args.resume.as_ref().or(args.init.as_ref()).map(|dir| checkpoint::load(dir)).transpose()?;
    if start.is_some() && args.overrides_model() {
        bail!("--resume / --init take the model settings from the checkpoint; drop the model options");
    }
    let mut config =
        Config::from_conf_file(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    if let Some(ckpt) = &start {
        config.model = ckpt.config.model.clone();
    }
    if let Some(epochs) = args.epochs {
        config.train.epochs = epochs;
    }
    if let Some(rate) = args.title_drop_rate {
        if !(0.0..=1.0).contains(&rate) {
            bail!("--title-drop-rate must be within [0, 1], got {rate}");
        }
        config.train.title_drop_rate = rate;
    }
    if let Some(size) = args.batch_size {
        config.train.batch_size = size;
    }
    if config.train.batch_size == 0 || config.train.valid_batch_size == 0 {
        bail!("batch sizes must be at least 1");
    }
    let train_set = load_data(&args.data, "train", &config.model)?;
    let val_set = load_data(&args.data, "val", &config.model)?;
    let classes = train_set.classes.clone();
    config.model.num_classes = classes.len();
    let tokenizer = match &start {
        Some(ckpt) => {
            if ckpt.classes != classes {
                bail!("the checkpoint's classes differ from {}/class.txt", args.data.display());
            }
            ckpt.tokenizer.clone()
        }
        None => fresh_model_setup(args, &mut config, &train_set.videos)?,
    };

    let mut vs = nn::VarStore::new(device);
    let model = FusionModel::new(&vs.root(), &config.model)?;
    match (&start, &args.encoder) {
        (Some(ckpt), _) => ckpt.load_weights(&mut vs)?,
        (None, Some(dir)) => encoder::load_pretrained_weights(&vs, dir)?,
        (None, None) => {}
    }
    if model.encoder_frozen() {
        freeze_encoder(&vs);
    }
    let mut optimizer =
        nn::RmsProp { alpha: 0.95, eps: 1e-6, wd: config.train.l2_weight_decay, momentum: 0.0, centered: true }
            .build(&vs, config.train.learning_rate)?;

    let pad_id = tokenizer.pad_id();
    let train_titles = tokenize(&tokenizer, &train_set.videos, false)?;
    let val_titles = tokenize(&tokenizer, &val_set.videos, false)?;
    let blank = tokenizer.encode("")?;
    let cache = if model.encoder_frozen()
        && !args.no_encoder_cache
        && matches!(config.model.text_encoder, TextEncoder::Pretrained(_))
    {
        let started = Instant::now();
        let all = train_titles.iter().chain(&val_titles).chain(std::iter::once(&blank)).map(Vec::as_slice);
        let cache = EncoderCache::build(&model, all, pad_id, config.train.valid_batch_size.max(64), device)?;
        println!("encoder cache: {} distinct titles in {:.1}s", cache.len(), started.elapsed().as_secs_f64());
        Some(cache)
    } else {
        None
    };

    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let (first_epoch, mut best_hit) = match (&start, &args.resume) {
        (Some(ckpt), Some(_)) => (ckpt.provenance.epoch + 1, ckpt.provenance.val_hit_at_1),
        _ => (1, f64::NEG_INFINITY),
    };
    let mut history: Vec<EpochRecord> =
        read_history(&args.out.join(METRICS_FILE))?.into_iter().filter(|r| r.epoch < first_epoch).collect();
    if first_epoch == 1 {
        // A fresh run replaces any old metrics in this output directory.
        history.clear();
        std::fs::write(args.out.join(METRICS_FILE), "")?;
    }
    let val_refs: Vec<&[i64]> = val_titles.iter().map(Vec::as_slice).collect();
    let val_labels = labels_of(&val_set.videos);
    let mut best_dir = None;
    let mut since_best = 0;
    for epoch in first_epoch..=config.train.epochs {
        let started = Instant::now();
        let lr = learning_rate(&config.train, epoch);
        optimizer.set_lr(lr);
        let mut order: Vec<usize> = (0..train_set.videos.len()).collect();
        order.shuffle(&mut rng);
        let bar = ProgressBar::new(order.len() as u64).with_style(
            ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed}<{eta}]")
                .expect("valid progress template"),
        );
        bar.set_prefix(format!("{epoch}/{}", config.train.epochs));
        let (mut loss_sum, mut hits1, mut hits2, mut seen) = (0.0, 0.0, 0.0, 0usize);
        for chunk in order.chunks(config.train.batch_size) {
            let videos: Vec<&Video> = chunk.iter().map(|&i| &train_set.videos[i]).collect();
            let titles: Vec<&[i64]> = chunk
                .iter()
                .map(|&i| {
                    let dropped =
                        config.train.title_drop_rate > 0.0 && rng.random::<f64>() < config.train.title_drop_rate;
                    if dropped {
                        blank.as_slice()
                    } else {
                        train_titles[i].as_slice()
                    }
                })
                .collect();
            let mut batch = Batch::new(&videos, &titles, pad_id, device)?;
            if let Some(cache) = &cache {
                cache.fill(&mut batch, &titles)?;
            }
            let targets = multi_hot(&videos, config.model.num_classes, device);
            let out = model.forward(&batch, true);
            let loss = model.loss(&out.logits, &targets);
            optimizer.backward_step(&loss);
            let probs = to_array(&out.probs.detach())?;
            let labels: Vec<Vec<usize>> = videos.iter().map(|v| v.labels.clone()).collect();
            let n = videos.len() as f64;
            loss_sum += loss.double_value(&[]);
            hits1 += hit_at_k(probs.view(), &labels, 1) * n;
            hits2 += hit_at_k(probs.view(), &labels, 2) * n;
            seen += videos.len();
            bar.inc(videos.len() as u64);
            bar.set_message(format!("loss {:.4} Hit@1 {:.3}", loss_sum / seen as f64, hits1 / seen as f64));
        }
        bar.finish_and_clear();
        let val =
            score(&model, &val_set.videos, &val_refs, pad_id, config.train.valid_batch_size, cache.as_ref(), device)?;
        let record = EpochRecord {
            epoch,
            learning_rate: lr,
            train_loss: loss_sum / seen as f64,
            train_hit_at_1: hits1 / seen as f64,
            train_hit_at_2: hits2 / seen as f64,
            val_loss: val.loss,
            val_hit_at_1: hit_at_k(val.probs.view(), &val_labels, 1),
            val_hit_at_2: hit_at_k(val.probs.view(), &val_labels, 2),
            seconds: started.elapsed().as_secs_f64(),
        };
        println!(
            "epoch {epoch}: lr {lr:.2e}  train loss {:.4} Hit@1 {:.2}  val loss {:.4} Hit@1 {:.2} Hit@2 {:.2}  ({:.1}s)",
            record.train_loss,
            record.train_hit_at_1 * 100.0,
            record.val_loss,
            record.val_hit_at_1 * 100.0,
            record.val_hit_at_2 * 100.0,
            record.seconds,
        );
        append_record(&args.out.join(METRICS_FILE), &record)?;
        history.push(record.clone());
        plot::training_curves(&args.out.join(CURVES_FILE), &history)?;
        if record.val_hit_at_1 > best_hit {
            best_hit = record.val_hit_at_1;
            since_best = 0;
            let name = checkpoint::dir_name(epoch, best_hit);
            let provenance = Provenance {
                trainer: format!("mvt-train {}", env!("CARGO_PKG_VERSION")),
                data_dir: args.data.display().to_string(),
                epoch,
                seed: args.seed,
                val_loss: record.val_loss,
                val_hit_at_1: record.val_hit_at_1,
                val_hit_at_2: record.val_hit_at_2,
            };
            checkpoint::save(&args.out.join(&name), &vs, &config, &tokenizer, &classes, &provenance)?;
            checkpoint::mark_best(&args.out, &name)?;
            println!("  saved {}", args.out.join(&name).display());
            best_dir = Some(args.out.join(name));
        } else {
            since_best += 1;
            if since_best >= config.train.early_stop {
                println!("early stop: no validation Hit@1 improvement in {since_best} epochs");
                break;
            }
        }
    }
    Ok(TrainSummary { history, best: best_dir })
}

/// A [B, C] probability tensor as an ndarray on the CPU.
pub fn to_array(probs: &tch::Tensor) -> Result<Array2<f32>> {
    let size = probs.size();
    let flat = Vec::<f32>::try_from(probs.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1))?;
    Ok(Array2::from_shape_vec((size[0] as usize, size[1] as usize), flat)?)
}

fn append_record(path: &Path, record: &EpochRecord) -> Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(record)?).with_context(|| format!("writing {}", path.display()))
}

/// The records already in metrics.jsonl (none if the file does not exist).
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).with_context(|| format!("parsing {}", path.display())))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `mvt-train bench-cache`: the epoch time of training with a frozen pretrained encoder, with and without the
/// per-title cache of its outputs (same seed, so the same numbers; only the time differs).
#[derive(clap::Args, Clone, Debug)]
pub struct BenchCacheArgs {
    #[arg(long, default_value = "conf/conf.txt")]
    pub config: PathBuf,
    #[arg(long)]
    pub data: PathBuf,
    /// HF-format BERT directory (model.safetensors, config.json, vocab.txt).
    #[arg(long)]
    pub encoder: PathBuf,
    /// Scratch directory for the two runs' outputs.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

pub fn run_bench_cache(args: &BenchCacheArgs) -> Result<()> {
    let mut seconds = [0.0; 2];
    for (cached, slot) in [true, false].into_iter().zip(seconds.iter_mut()) {
        let run_args = TrainArgs {
            encoder: Some(args.encoder.clone()),
            device: args.device,
            epochs: Some(args.epochs),
            freeze_encoder: true,
            no_encoder_cache: !cached,
            threads: args.threads,
            ..TrainArgs::new(
                args.config.clone(),
                args.data.clone(),
                args.out.join(if cached { "cached" } else { "uncached" }),
            )
        };
        let started = Instant::now();
        let summary = run(&run_args)?;
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
