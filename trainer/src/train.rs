//! `mvt-train train`: the original recipe (centered RMSProp, piecewise decay, L2, summed sigmoid BCE, validation
//! every epoch, a checkpoint whenever validation Hit@1 improves, early stop), with title drop, a cache of the
//! frozen encoder's outputs, seeded determinism, a progress bar, metrics.jsonl and a curves PNG.
//!
//! Every epoch also leaves a resume state (`last`: weights, optimizer state, early-stop counters); every random
//! stream of an epoch is seeded from (seed, epoch), so a run stopped after any epoch and resumed ends bitwise equal
//! (on the CPU) to the run that was never stopped. A non-finite loss stops the run before anything of its epoch
//! is written.

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
use tch::nn;
use tch::Device;

use crate::batch::{multi_hot, Batch};
use crate::checkpoint::{self, Checkpoint, Provenance, Resume, ResumeState};
use crate::data::{labels_of, load_train_val, tokenize, write_load_report, DEFAULT_MAX_UNUSABLE};
use crate::device::{set_threads, DeviceChoice};
use crate::encoder;
use crate::history::{EpochRecord, History};
use crate::metrics::hit_at_k;
use crate::model::{freeze_encoder, EncoderCache, FusionModel};
use crate::plot;
use crate::scoring::{score, to_array};

use crate::optimizer::{RmsProp, RmsPropConfig};

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
    /// Continue the run in this training output directory after its last completed epoch (its `last` state:
    /// weights, optimizer, settings, seed, counters). A checkpoint inside the directory names the directory.
    pub resume: Option<PathBuf>,
    /// Delete a non-empty `out` and train from scratch (without it a non-empty `out` is refused).
    pub overwrite: bool,
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
    /// Most share of a split's rows that may be unusable (skipped) before training refuses to start, in [0, 1].
    pub max_unusable: f64,
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
            overwrite: false,
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
            max_unusable: DEFAULT_MAX_UNUSABLE,
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
    /// The run's best checkpoint directory (of the whole run, when resumed), if any.
    pub best: Option<PathBuf>,
}

/// Learning rate of 1-based `epoch`: x `decay_gamma` after each of `decay_epochs` completed epochs.
pub fn learning_rate(config: &TrainConfig, epoch: usize) -> f64 {
    let decays = config.decay_epochs.iter().filter(|&&boundary| boundary < epoch).count();
    config.learning_rate * config.decay_gamma.powi(decays as i32)
}

/// The recipe's RMSProp (docs/training.md): centered, rho 0.95, eps 1e-6, no momentum, L2 as weight decay.
pub fn rms_prop_config(config: &TrainConfig) -> RmsPropConfig {
    RmsPropConfig { alpha: 0.95, eps: 1e-6, weight_decay: config.l2_weight_decay, momentum: 0.0, centered: true }
}

/// The seed of random stream `stream` in `epoch` of a run seeded with `seed` (splitmix64 of the three).
pub fn epoch_seed(seed: u64, epoch: usize, stream: u64) -> u64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    mix(seed ^ mix((epoch as u64) << 8 | stream)) >> 1
}

/// Trains as `options` say, from scratch, from a checkpoint's weights (`init`) or on from the last completed epoch
/// of a run (`resume`), until the last epoch or early stop.
pub fn run(options: &TrainOptions) -> Result<TrainSummary> {
    set_threads(options.threads)?;
    let device = options.device.resolve()?;
    if options.resume.is_some() && (options.overwrite || options.init.is_some()) {
        bail!("--resume continues a run in its own folder: it excludes --overwrite and --init");
    }
    let resume = options.resume.as_deref().map(checkpoint::load_resume_state).transpose()?;
    let out = match &resume {
        Some(resume) => resume_folder(options, resume)?,
        None => {
            checkpoint::check_new_run_folder(&options.out, options.overwrite)?;
            options.out.clone()
        }
    };
    let seed = resume.as_ref().map_or(options.seed, |r| r.state.seed);
    tch::manual_seed(seed as i64);
    let start = match resume.as_ref() {
        Some(_) => {
            if options.overrides_model() {
                bail!("--resume / --init take the model settings from the checkpoint; drop the model options");
            }
            None
        }
        None => init_checkpoint(options)?,
    };
    let start_ref = resume.as_ref().map(|r| &r.checkpoint).or(start.as_ref());
    let mut config = resolve_config(options, start_ref, resume.is_some())?;
    let (train_set, val_set) = load_train_val(&options.data, &config.model, options.max_unusable)?;
    let classes = train_set.classes.clone();
    config.model.num_classes = classes.len();
    let tokenizer = match start_ref {
        Some(ckpt) => {
            if ckpt.classes != classes {
                bail!("the checkpoint's classes differ from {}/class.txt", options.data.display());
            }
            ckpt.tokenizer.clone()
        }
        None => fresh_model_setup(options, &mut config, &train_set.videos)?,
    };
    let (vs, model) = build_model(options, start_ref, &config, device)?;
    let mut optimizer = RmsProp::new(&vs, rms_prop_config(&config.train), config.train.learning_rate);
    let titles = Titles::new(&tokenizer, &train_set, &val_set)?;
    let cache = encoder_cache(options, &model, &config, &titles, tokenizer.pad_id(), device)?;

    let (history, progress) = match &resume {
        Some(resume) => {
            optimizer.load(&resume.checkpoint.dir.join(checkpoint::OPTIMIZER))?;
            let state_name = resume.checkpoint.dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            checkpoint::roll_back_to(&out, &state_name, &resume.state)?;
            println!("resuming {} after epoch {}", out.display(), resume.state.epoch);
            (History::resume(&out, resume.state.epoch)?, resume.state.clone())
        }
        None => {
            checkpoint::prepare_new_run_folder(&out, options.overwrite)?;
            let fresh = ResumeState { epoch: 0, seed, best: None, best_hit_at_1: None, epochs_since_best: 0 };
            (History::new(&out), fresh)
        }
    };
    write_load_report(&out, &[&train_set.report, &val_set.report], options.max_unusable)?;
    let val_labels = labels_of(&val_set.videos);
    let training = Training {
        options,
        out,
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
        rng: StdRng::seed_from_u64(seed),
        history,
        progress,
    };
    training.epochs()
}

/// The run folder of a resume state, which `--out` must name (or a folder inside it: the command line's `--out`
/// defaults to the `--resume` path).
fn resume_folder(options: &TrainOptions, resume: &Resume) -> Result<PathBuf> {
    let out = std::fs::canonicalize(&options.out).unwrap_or_else(|_| options.out.clone());
    if !out.starts_with(&resume.run) {
        bail!(
            "--resume continues the run in {}: --out {} is another folder (give the same one, or leave --out out)",
            resume.run.display(),
            options.out.display()
        );
    }
    Ok(resume.run.clone())
}

/// The checkpoint named by `--init`, if any; it brings its own model settings.
fn init_checkpoint(options: &TrainOptions) -> Result<Option<Checkpoint>> {
    let start = options.init.as_ref().map(|dir| checkpoint::load(dir)).transpose()?;
    if start.is_some() && options.overrides_model() {
        bail!("--resume / --init take the model settings from the checkpoint; drop the model options");
    }
    Ok(start)
}

/// The configuration file with the checkpoint's model settings and the options' overrides applied; a resumed run
/// keeps its whole resolved configuration (the recipe included; only the overrides apply).
fn resolve_config(options: &TrainOptions, start: Option<&Checkpoint>, resuming: bool) -> Result<Config> {
    let mut config = match start {
        Some(ckpt) if resuming => ckpt.config.clone(),
        _ => {
            Config::from_conf_file(&options.config).with_context(|| format!("reading {}", options.config.display()))?
        }
    };
    if let (Some(ckpt), false) = (start, resuming) {
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
    /// The run folder.
    out: PathBuf,
    device: Device,
    config: Config,
    classes: Vec<String>,
    tokenizer: TitleTokenizer,
    vs: nn::VarStore,
    model: FusionModel,
    optimizer: RmsProp,
    cache: Option<EncoderCache>,
    train_set: Dataset,
    val_set: Dataset,
    val_labels: Vec<Vec<usize>>,
    titles: Titles,
    /// Shuffling and title drop, reseeded from (seed, epoch) at every epoch.
    rng: StdRng,
    history: History,
    /// Where the run stands after its last completed epoch: seed, best checkpoint, early-stop counter.
    progress: ResumeState,
}

impl Training<'_> {
    /// The epochs after `progress.epoch` until the configured last one or early stop: each recorded, plotted, saved
    /// as a checkpoint when validation Hit@1 improves, and saved as the resume state.
    fn epochs(mut self) -> Result<TrainSummary> {
        // Stop after `early_stop` epochs without improvement (an improving epoch never stops the run).
        let (patience, last_epoch) = (self.config.train.early_stop.max(1), self.config.train.epochs);
        let running = |progress: &ResumeState| progress.epoch < last_epoch && progress.epochs_since_best < patience;
        if self.progress.epoch > 0 && !running(&self.progress) {
            println!("the run already ended after epoch {}: nothing to train", self.progress.epoch);
        }
        while running(&self.progress) {
            let epoch = self.progress.epoch + 1;
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
            plot::training_curves(&self.out.join(CURVES_FILE), self.history.records())?;
            let improved = record.val_hit_at_1 > self.progress.best_hit_at_1.unwrap_or(f64::NEG_INFINITY);
            if improved {
                self.save_best(&record)?;
            }
            self.progress.epoch = epoch;
            self.progress.epochs_since_best = if improved { 0 } else { self.progress.epochs_since_best + 1 };
            self.save_state(&record)?;
            if self.progress.epochs_since_best >= patience {
                println!("early stop: no validation Hit@1 improvement in {} epochs", self.progress.epochs_since_best);
            }
        }
        let best = self.progress.best.as_ref().map(|name| self.out.join(name));
        Ok(TrainSummary { history: self.history.into_records(), best })
    }

    /// Trains epoch `epoch` and validates: its record. A non-finite training or validation loss stops the run here,
    /// before anything of the epoch is written.
    fn epoch(&mut self, epoch: usize) -> Result<EpochRecord> {
        let started = Instant::now();
        let learning_rate = learning_rate(&self.config.train, epoch);
        self.optimizer.set_lr(learning_rate);
        // Every random stream of the epoch is a function of (seed, epoch) alone: a resumed run draws the same.
        tch::manual_seed(epoch_seed(self.progress.seed, epoch, 0) as i64);
        self.rng = StdRng::seed_from_u64(epoch_seed(self.progress.seed, epoch, 1));
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
        if !val.loss.is_finite() {
            bail!(
                "the validation loss is not finite ({}) after epoch {epoch}: stopping; nothing of epoch {epoch} was \
                 saved (a lower learning rate may help)",
                val.loss
            );
        }
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
        let steps = order.len().div_ceil(train.batch_size);
        for (step, chunk) in order.chunks(train.batch_size).enumerate() {
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
            let loss_value = loss.double_value(&[]);
            if !loss_value.is_finite() {
                bar.finish_and_clear();
                bail!(
                    "the training loss is not finite ({loss_value}) at epoch {epoch}, step {} of {steps}: stopping; \
                     nothing of epoch {epoch} was saved (a lower learning rate may help)",
                    step + 1
                );
            }
            self.optimizer.backward_step(&loss);
            let probs = to_array(&out.probs.detach())?;
            let labels: Vec<Vec<usize>> = videos.iter().map(|v| v.labels.clone()).collect();
            let n = videos.len() as f64;
            totals.loss += loss_value;
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

    fn provenance(&self, record: &EpochRecord) -> Provenance {
        Provenance {
            trainer: format!("mvt-train {}", env!("CARGO_PKG_VERSION")),
            data_dir: self.options.data.display().to_string(),
            epoch: record.epoch,
            seed: self.progress.seed,
            val_loss: record.val_loss,
            val_hit_at_1: record.val_hit_at_1,
            val_hit_at_2: record.val_hit_at_2,
        }
    }

    /// Saves the model as the checkpoint of `record`'s epoch and points `best` at it.
    fn save_best(&mut self, record: &EpochRecord) -> Result<()> {
        let name = checkpoint::dir_name(record.epoch, record.val_hit_at_1);
        let provenance = self.provenance(record);
        let dir = self.out.join(&name);
        checkpoint::save(&dir, &self.contents(&provenance))?;
        checkpoint::mark_best(&self.out, &name)?;
        println!("  saved {}", dir.display());
        self.progress.best = Some(name);
        self.progress.best_hit_at_1 = Some(record.val_hit_at_1);
        Ok(())
    }

    /// Saves where the run stands after `record`'s epoch as the `last` resume state.
    fn save_state(&self, record: &EpochRecord) -> Result<()> {
        let provenance = self.provenance(record);
        checkpoint::save_resume_state(&self.out, &self.progress, &self.contents(&provenance), |path| {
            self.optimizer.save(path)
        })
    }

    /// The run's checkpoint contents with `provenance`.
    fn contents<'a>(&'a self, provenance: &'a Provenance) -> checkpoint::Contents<'a> {
        checkpoint::Contents {
            vs: &self.vs,
            config: &self.config,
            tokenizer: &self.tokenizer,
            classes: &self.classes,
            provenance,
        }
    }
}
