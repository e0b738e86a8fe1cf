//! `mvt-train train`: the original recipe (centered RMSProp, piecewise decay, L2, summed sigmoid BCE, validation
//! every epoch, a checkpoint whenever validation Hit@1 improves, early stop), with title drop, a cache of the
//! frozen encoder's outputs, seeded determinism, a progress bar, metrics.jsonl and a curves PNG.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mvt_formats::config::{Config, PoolMode, TextEncoder, TrainConfig};
use mvt_formats::dataset::{Dataset, Video};
use mvt_formats::tokenizer::{build_vocab, TitleTokenizer};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tch::nn::{self, OptimizerConfig};
use tch::Device;

use crate::batch::{multi_hot, Batch};
use crate::checkpoint::{self, Checkpoint, Provenance};
use crate::data::{labels_of, load_data, tokenize};
use crate::device::{set_threads, DeviceChoice};
use crate::encoder;
use crate::history::{EpochRecord, History};
use crate::metrics::hit_at_k;
use crate::model::{freeze_encoder, EncoderCache, FusionModel};
use crate::plot;
use crate::scoring::{score, to_array};

/// The training curves, rewritten after every epoch.
pub const CURVES_FILE: &str = "curves.png";

/// What to train and how. Start from [`TrainOptions::new`] and change the fields that differ.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The original's INI configuration.
    pub config: PathBuf,
    /// Dataset directory in the original layout (class.txt, train.txt, val.txt, feature_files/).
    pub data: PathBuf,
    /// Output directory: checkpoints, `best`, metrics.jsonl, curves.png.
    pub out: PathBuf,
    /// HF-format BERT/ERNIE directory (model.safetensors, config.json, vocab.txt). Without it the text encoder is
    /// a trainable embedding over a vocabulary built from the training titles.
    pub encoder: Option<PathBuf>,
    pub device: DeviceChoice,
    /// Seeds initialization, shuffling, dropout and title drop: equal seeds give equal runs on the CPU.
    pub seed: u64,
    /// Override `[TRAIN] epoch`.
    pub epochs: Option<usize>,
    /// Continue a run from its checkpoint (weights, tokenizer and model settings; the epoch after it).
    pub resume: Option<PathBuf>,
    /// Start from a checkpoint's weights, tokenizer and model settings, at epoch 1.
    pub init: Option<PathBuf>,
    /// Override `lstm_pool_mode`.
    pub pool_mode: Option<PoolMode>,
    /// Leave the image branch out.
    pub no_rgb: bool,
    /// Leave the audio branch out.
    pub no_audio: bool,
    /// Leave the text vector out of the head (text-guided pooling still reads the title).
    pub no_text: bool,
    /// Probability of blanking a whole training title (0.4 in the tutorial's best run).
    pub title_drop_rate: Option<f64>,
    /// Train the text encoder (the default for the embedding-only encoder).
    pub finetune_encoder: bool,
    /// Keep the text encoder fixed (the default for a pretrained encoder, `ernie_freeze`).
    pub freeze_encoder: bool,
    /// Run a frozen pretrained encoder on every batch instead of caching its outputs per title (for the
    /// benchmark of the cache).
    pub no_encoder_cache: bool,
    /// Override `[TRAIN] batch_size`.
    pub batch_size: Option<usize>,
    /// libtorch CPU threads (see [`set_threads`]).
    pub threads: usize,
}

impl TrainOptions {
    /// The command line's defaults for `config`, `data` and `out` (CPU, seed 0, one thread): the base that
    /// programmatic runs (ablation rows, the cache benchmark, tests) change a few fields of.
    pub fn new(config: PathBuf, data: PathBuf, out: PathBuf) -> TrainOptions {
        TrainOptions {
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

/// What a finished run left.
pub struct TrainSummary {
    pub history: Vec<EpochRecord>,
    /// The best checkpoint's directory, if any epoch improved on the start.
    pub best: Option<PathBuf>,
}

/// Learning rate of 1-based `epoch`: x `decay_gamma` after each of `decay_epochs` completed epochs.
pub fn learning_rate(config: &TrainConfig, epoch: usize) -> f64 {
    let decays = config.decay_epochs.iter().filter(|&&boundary| boundary < epoch).count();
    config.learning_rate * config.decay_gamma.powi(decays as i32)
}

/// Trains as `options` say, from scratch or from a checkpoint, until the last epoch or early stop.
pub fn run(options: &TrainOptions) -> Result<TrainSummary> {
    set_threads(options.threads)?;
    let device = options.device.resolve()?;
    tch::manual_seed(options.seed as i64);
    let rng = StdRng::seed_from_u64(options.seed);
    let start = starting_checkpoint(options)?;
    let mut config = resolve_config(options, start.as_ref())?;
    let train_set = load_data(&options.data, "train", &config.model)?;
    let val_set = load_data(&options.data, "val", &config.model)?;
    let classes = train_set.classes.clone();
    config.model.num_classes = classes.len();
    let tokenizer = match &start {
        Some(ckpt) => {
            if ckpt.classes != classes {
                bail!("the checkpoint's classes differ from {}/class.txt", options.data.display());
            }
            ckpt.tokenizer.clone()
        }
        None => fresh_model_setup(options, &mut config, &train_set.videos)?,
    };
    let (vs, model) = build_model(options, start.as_ref(), &config, device)?;
    let optimizer =
        nn::RmsProp { alpha: 0.95, eps: 1e-6, wd: config.train.l2_weight_decay, momentum: 0.0, centered: true }
            .build(&vs, config.train.learning_rate)?;
    let titles = Titles::new(&tokenizer, &train_set, &val_set)?;
    let cache = encoder_cache(options, &model, &config, &titles, tokenizer.pad_id(), device)?;

    std::fs::create_dir_all(&options.out).with_context(|| format!("creating {}", options.out.display()))?;
    let (first_epoch, best_hit) = match (&start, &options.resume) {
        (Some(ckpt), Some(_)) => (ckpt.provenance.epoch + 1, ckpt.provenance.val_hit_at_1),
        _ => (1, f64::NEG_INFINITY),
    };
    let history = History::start(&options.out, first_epoch)?;
    let val_labels = labels_of(&val_set.videos);
    let training = Training {
        options,
        device,
        config,
        classes,
        tokenizer,
        vs,
        model,
        optimizer,
        cache,
        train_set,
        val_set,
        val_labels,
        titles,
        rng,
        history,
        best_hit,
        best: None,
    };
    training.epochs(first_epoch)
}

/// The checkpoint named by `--resume` or `--init`, if any; it brings its own model settings.
fn starting_checkpoint(options: &TrainOptions) -> Result<Option<Checkpoint>> {
    let start = options.resume.as_ref().or(options.init.as_ref()).map(|dir| checkpoint::load(dir)).transpose()?;
    if start.is_some() && options.overrides_model() {
        bail!("--resume / --init take the model settings from the checkpoint; drop the model options");
    }
    Ok(start)
}

/// The configuration file with the checkpoint's model settings and the options' overrides applied.
fn resolve_config(options: &TrainOptions, start: Option<&Checkpoint>) -> Result<Config> {
    let mut config =
        Config::from_conf_file(&options.config).with_context(|| format!("reading {}", options.config.display()))?;
    if let Some(ckpt) = start {
        config.model = ckpt.config.model.clone();
    }
    if let Some(epochs) = options.epochs {
        config.train.epochs = epochs;
    }
    if let Some(rate) = options.title_drop_rate {
        if !(0.0..=1.0).contains(&rate) {
            bail!("--title-drop-rate must be within [0, 1], got {rate}");
        }
        config.train.title_drop_rate = rate;
    }
    if let Some(size) = options.batch_size {
        config.train.batch_size = size;
    }
    if config.train.batch_size == 0 || config.train.valid_batch_size == 0 {
        bail!("batch sizes must be at least 1");
    }
    Ok(config)
}

/// Everything the model is built from when not starting from a checkpoint.
fn fresh_model_setup(options: &TrainOptions, config: &mut Config, train: &[Video]) -> Result<TitleTokenizer> {
    let model = &mut config.model;
    if let Some(pool) = options.pool_mode {
        model.pool_mode = pool;
    }
    model.use_rgb &= !options.no_rgb;
    model.use_audio &= !options.no_audio;
    model.use_text &= !options.no_text;
    let tokenizer = match &options.encoder {
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
    if options.finetune_encoder || options.freeze_encoder {
        model.ernie_freeze = options.freeze_encoder;
    }
    Ok(tokenizer)
}

/// The model with its starting weights (the checkpoint's, or a pretrained encoder's), its encoder frozen if so
/// configured.
fn build_model(
    options: &TrainOptions,
    start: Option<&Checkpoint>,
    config: &Config,
    device: Device,
) -> Result<(nn::VarStore, FusionModel)> {
    let mut vs = nn::VarStore::new(device);
    let model = FusionModel::new(&vs.root(), &config.model)?;
    match (start, &options.encoder) {
        (Some(ckpt), _) => ckpt.load_weights(&mut vs)?,
        (None, Some(dir)) => encoder::load_pretrained_weights(&vs, dir)?,
        (None, None) => {}
    }
    if model.encoder_frozen() {
        freeze_encoder(&vs);
    }
    Ok((vs, model))
}

/// Every title tokenized once: the training and validation videos' (in split order) and the blank title that
/// title drop substitutes.
struct Titles {
    train: Vec<Vec<i64>>,
    val: Vec<Vec<i64>>,
    blank: Vec<i64>,
}

impl Titles {
    fn new(tokenizer: &TitleTokenizer, train_set: &Dataset, val_set: &Dataset) -> Result<Titles> {
        Ok(Titles {
            train: tokenize(tokenizer, &train_set.videos, false)?,
            val: tokenize(tokenizer, &val_set.videos, false)?,
            blank: tokenizer.encode("")?,
        })
    }

    fn val_refs(&self) -> Vec<&[i64]> {
        self.val.iter().map(Vec::as_slice).collect()
    }
}

/// The frozen pretrained encoder's output for every title, unless the encoder trains or the options turn the
/// cache off.
fn encoder_cache(
    options: &TrainOptions,
    model: &FusionModel,
    config: &Config,
    titles: &Titles,
    pad_id: i64,
    device: Device,
) -> Result<Option<EncoderCache>> {
    let pretrained = matches!(config.model.text_encoder, TextEncoder::Pretrained(_));
    if !model.encoder_frozen() || options.no_encoder_cache || !pretrained {
        return Ok(None);
    }
    let started = Instant::now();
    let all = titles.train.iter().chain(&titles.val).chain(std::iter::once(&titles.blank)).map(Vec::as_slice);
    let cache = EncoderCache::build(model, all, pad_id, config.train.valid_batch_size.max(64), device)?;
    println!("encoder cache: {} distinct titles in {:.1}s", cache.len(), started.elapsed().as_secs_f64());
    Ok(Some(cache))
}

/// Loss and Hit@1 / Hit@2 summed over the videos of a training epoch.
#[derive(Default)]
struct EpochTotals {
    loss: f64,
    hits1: f64,
    hits2: f64,
    videos: usize,
}

/// A run in progress: the model, its optimizer and what every epoch reads.
struct Training<'a> {
    options: &'a TrainOptions,
    device: Device,
    config: Config,
    classes: Vec<String>,
    tokenizer: TitleTokenizer,
    vs: nn::VarStore,
    model: FusionModel,
    optimizer: nn::Optimizer,
    cache: Option<EncoderCache>,
    train_set: Dataset,
    val_set: Dataset,
    val_labels: Vec<Vec<usize>>,
    titles: Titles,
    /// Shuffling and title drop.
    rng: StdRng,
    history: History,
    /// Validation Hit@1 of the best checkpoint so far (of the resumed run's, when resuming).
    best_hit: f64,
    /// This run's best checkpoint so far.
    best: Option<PathBuf>,
}

impl Training<'_> {
    /// Epochs `first_epoch..` until the configured last one or early stop: each recorded, plotted, and saved as
    /// a checkpoint when validation Hit@1 improves.
    fn epochs(mut self, first_epoch: usize) -> Result<TrainSummary> {
        let mut since_best = 0;
        for epoch in first_epoch..=self.config.train.epochs {
            let record = self.epoch(epoch)?;
            println!(
                "epoch {epoch}: lr {:.2e}  train loss {:.4} Hit@1 {:.2}  val loss {:.4} Hit@1 {:.2} Hit@2 {:.2}  ({:.1}s)",
                record.learning_rate,
                record.train_loss,
                record.train_hit_at_1 * 100.0,
                record.val_loss,
                record.val_hit_at_1 * 100.0,
                record.val_hit_at_2 * 100.0,
                record.seconds,
            );
            self.history.push(record.clone())?;
            plot::training_curves(&self.options.out.join(CURVES_FILE), self.history.records())?;
            if record.val_hit_at_1 > self.best_hit {
                self.best_hit = record.val_hit_at_1;
                since_best = 0;
                self.save_best(&record)?;
            } else {
                since_best += 1;
                if since_best >= self.config.train.early_stop {
                    println!("early stop: no validation Hit@1 improvement in {since_best} epochs");
                    break;
                }
            }
        }
        Ok(TrainSummary { history: self.history.into_records(), best: self.best })
    }

    /// Trains epoch `epoch` and validates: its record.
    fn epoch(&mut self, epoch: usize) -> Result<EpochRecord> {
        let started = Instant::now();
        let learning_rate = learning_rate(&self.config.train, epoch);
        self.optimizer.set_lr(learning_rate);
        let totals = self.train_epoch(epoch)?;
        let val = score(
            &self.model,
            &self.val_set.videos,
            &self.titles.val_refs(),
            self.tokenizer.pad_id(),
            self.config.train.valid_batch_size,
            self.cache.as_ref(),
            self.device,
        )?;
        let seen = totals.videos as f64;
        Ok(EpochRecord {
            epoch,
            learning_rate,
            train_loss: totals.loss / seen,
            train_hit_at_1: totals.hits1 / seen,
            train_hit_at_2: totals.hits2 / seen,
            val_loss: val.loss,
            val_hit_at_1: hit_at_k(val.probs.view(), &self.val_labels, 1),
            val_hit_at_2: hit_at_k(val.probs.view(), &self.val_labels, 2),
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// One pass over the shuffled training videos, one optimizer step per batch, with a progress bar.
    fn train_epoch(&mut self, epoch: usize) -> Result<EpochTotals> {
        let train = &self.config.train;
        let mut order: Vec<usize> = (0..self.train_set.videos.len()).collect();
        order.shuffle(&mut self.rng);
        let bar = ProgressBar::new(order.len() as u64).with_style(
            ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed}<{eta}]")
                .expect("valid progress template"),
        );
        bar.set_prefix(format!("{epoch}/{}", train.epochs));
        let mut totals = EpochTotals::default();
        for chunk in order.chunks(train.batch_size) {
            let videos: Vec<&Video> = chunk.iter().map(|&i| &self.train_set.videos[i]).collect();
            let titles: Vec<&[i64]> = chunk
                .iter()
                .map(|&i| {
                    let dropped = train.title_drop_rate > 0.0 && self.rng.random::<f64>() < train.title_drop_rate;
                    if dropped {
                        self.titles.blank.as_slice()
                    } else {
                        self.titles.train[i].as_slice()
                    }
                })
                .collect();
            let mut batch = Batch::new(&videos, &titles, self.tokenizer.pad_id(), self.device)?;
            if let Some(cache) = &self.cache {
                cache.fill(&mut batch, &titles)?;
            }
            let targets = multi_hot(&videos, self.config.model.num_classes, self.device);
            let out = self.model.forward(&batch, true);
            let loss = self.model.loss(&out.logits, &targets);
            self.optimizer.backward_step(&loss);
            let probs = to_array(&out.probs.detach())?;
            let labels: Vec<Vec<usize>> = videos.iter().map(|v| v.labels.clone()).collect();
            let n = videos.len() as f64;
            totals.loss += loss.double_value(&[]);
            totals.hits1 += hit_at_k(probs.view(), &labels, 1) * n;
            totals.hits2 += hit_at_k(probs.view(), &labels, 2) * n;
            totals.videos += videos.len();
            bar.inc(videos.len() as u64);
            bar.set_message(format!(
                "loss {:.4} Hit@1 {:.3}",
                totals.loss / totals.videos as f64,
                totals.hits1 / totals.videos as f64
            ));
        }
        bar.finish_and_clear();
        Ok(totals)
    }

    /// Saves the model as the checkpoint of `record`'s epoch and points `best` at it.
    fn save_best(&mut self, record: &EpochRecord) -> Result<()> {
        let out = &self.options.out;
        let name = checkpoint::dir_name(record.epoch, record.val_hit_at_1);
        let provenance = Provenance {
            trainer: format!("mvt-train {}", env!("CARGO_PKG_VERSION")),
            data_dir: self.options.data.display().to_string(),
            epoch: record.epoch,
            seed: self.options.seed,
            val_loss: record.val_loss,
            val_hit_at_1: record.val_hit_at_1,
            val_hit_at_2: record.val_hit_at_2,
        };
        checkpoint::save(&out.join(&name), &self.vs, &self.config, &self.tokenizer, &self.classes, &provenance)?;
        checkpoint::mark_best(out, &name)?;
        println!("  saved {}", out.join(&name).display());
        self.best = Some(out.join(name));
        Ok(())
    }
}
