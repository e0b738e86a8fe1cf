//! A checkpoint directory, named like the original's (`AttentionLstmErnie_epoch{E}_acc{Hit@1}`), holding
//! everything needed to rebuild the model without the training data:
//! `model.safetensors` (the VarStore, docs/model.md names), `config.json` (the resolved [`Config`]),
//! `tokenizer.json`, `classes.txt` and `provenance.json` (what the exporter copies into the model file).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context, Result};
use mvt_formats::atomic_file::{publish_folder, sync_folder};
use mvt_formats::config::Config;
use mvt_formats::tokenizer::TitleTokenizer;
use serde::{Deserialize, Serialize};
use tch::nn;

use crate::model::FusionModel;
use crate::weights_check::{check_finite, check_safetensors_length};

pub const WEIGHTS: &str = "model.safetensors";
pub const CONFIG: &str = "config.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const CLASSES: &str = "classes.txt";
pub const PROVENANCE: &str = "provenance.json";
/// A symlink in the training output directory naming the best checkpoint so far.
pub const BEST: &str = "best";
/// A symlink in the training output directory naming the resume state of the last completed epoch.
pub const LAST: &str = "last";
/// In a resume state: the optimizer's running averages and step counts.
pub const OPTIMIZER: &str = "optimizer.safetensors";
/// In a resume state: the [`ResumeState`].
pub const STATE: &str = "state.json";
/// Prefix of whatever is being written in a training output directory (staged folders, temporary files and links):
/// never a finished file.
pub const TEMPORARY_PREFIX: &str = ".mvt-tmp-";
const CHECKPOINT_PREFIX: &str = "AttentionLstmErnie_epoch";
const RESUME_PREFIX: &str = "resume_epoch";

/// Where a checkpoint came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Provenance {
    pub trainer: String,
    pub data_dir: String,
    pub epoch: usize,
    pub seed: u64,
    pub val_loss: f64,
    pub val_hit_at_1: f64,
    pub val_hit_at_2: f64,
}

/// A checkpoint read back (the weights are loaded into a VarStore separately, after the model is built).
pub struct Checkpoint {
    pub dir: PathBuf,
    pub config: Config,
    pub tokenizer: TitleTokenizer,
    pub classes: Vec<String>,
    pub provenance: Provenance,
}

/// `AttentionLstmErnie_epoch{E}_acc{Hit@1 x 100, one decimal}`.
pub fn dir_name(epoch: usize, hit_at_1: f64) -> String {
    format!("{CHECKPOINT_PREFIX}{epoch}_acc{:.1}", hit_at_1 * 100.0)
}

/// `resume_epoch{E}`: the resume state after epoch `E` (`last` names the newest).
pub fn resume_dir_name(epoch: usize) -> String {
    format!("{RESUME_PREFIX}{epoch}")
}

/// The epoch of a checkpoint or resume-state folder name.
fn epoch_of(name: &str) -> Option<usize> {
    let rest = name.strip_prefix(CHECKPOINT_PREFIX).or_else(|| name.strip_prefix(RESUME_PREFIX))?;
    rest.split('_').next()?.parse().ok()
}

/// What a checkpoint folder holds, borrowed from the run that saves it.
pub struct Contents<'a> {
    pub vs: &'a nn::VarStore,
    pub config: &'a Config,
    pub tokenizer: &'a TitleTokenizer,
    pub classes: &'a [String],
    pub provenance: &'a Provenance,
}

/// Writes a checkpoint directory `dir` atomically: staged in a temporary folder beside it, every file fsynced, then
/// renamed into place (an existing `dir` of the same name is replaced). Refuses non-finite metrics.
pub fn save(dir: &Path, contents: &Contents<'_>) -> Result<()> {
    save_with(dir, contents, |_| Ok(()))
}

/// [`save`], with `extra` writing more files into the staged folder before it is published.
pub fn save_with(dir: &Path, contents: &Contents<'_>, extra: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let Contents { vs, config, tokenizer, classes, provenance } = contents;
    let metrics = [
        ("val_loss", provenance.val_loss),
        ("val_hit_at_1", provenance.val_hit_at_1),
        ("val_hit_at_2", provenance.val_hit_at_2),
    ];
    if let Some((name, value)) = metrics.into_iter().find(|(_, v)| !v.is_finite()) {
        bail!("refusing to save {}: its {name} is {value}, not a finite number", dir.display());
    }
    let parent = parent(dir);
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = dir.file_name().map_or("checkpoint".into(), |n| n.to_string_lossy().into_owned());
    let staged = temporary(parent, &name);
    let written = (|| {
        std::fs::create_dir(&staged).with_context(|| format!("creating {}", staged.display()))?;
        vs.save(staged.join(WEIGHTS)).with_context(|| format!("writing {}", dir.join(WEIGHTS).display()))?;
        write(&staged, CONFIG, &serde_json::to_string_pretty(config)?)?;
        write(&staged, TOKENIZER, &tokenizer.to_json())?;
        write(&staged, CLASSES, &classes.iter().map(|c| format!("{c}\n")).collect::<String>())?;
        write(&staged, PROVENANCE, &serde_json::to_string_pretty(provenance)?)?;
        extra(&staged)?;
        sync_files(&staged)?;
        replace_folder(&staged, dir)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    written.with_context(|| format!("saving the checkpoint {}", dir.display()))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

fn read(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading checkpoint file {}", path.display()))
}

/// Reads a checkpoint directory (or a training output directory, whose `best` link is followed).
pub fn load(dir: &Path) -> Result<Checkpoint> {
    let dir = if dir.join(BEST).exists() { dir.join(BEST) } else { dir.to_path_buf() };
    if !dir.join(WEIGHTS).is_file() {
        bail!("{} is not a checkpoint directory (no {WEIGHTS})", dir.display());
    }
    let config: Config = serde_json::from_str(&read(&dir, CONFIG)?).context("parsing config.json")?;
    let tokenizer = TitleTokenizer::from_json(&read(&dir, TOKENIZER)?).context("parsing tokenizer.json")?;
    let classes: Vec<String> = read(&dir, CLASSES)?.lines().map(str::to_owned).collect();
    if classes.len() != config.model.num_classes {
        bail!(
            "{}: {} classes in {CLASSES} but num_classes = {}",
            dir.display(),
            classes.len(),
            config.model.num_classes
        );
    }
    let provenance = serde_json::from_str(&read(&dir, PROVENANCE)?).context("parsing provenance.json")?;
    Ok(Checkpoint { dir, config, tokenizer, classes, provenance })
}

impl Checkpoint {
    /// The model of this checkpoint with its weights, on `device`.
    pub fn build_model(&self, device: tch::Device) -> Result<(nn::VarStore, FusionModel)> {
        let mut vs = nn::VarStore::new(device);
        let model = FusionModel::new(&vs.root(), &self.config.model)?;
        self.load_weights(&mut vs)?;
        Ok((vs, model))
    }

    /// Loads the weights into `vs`, which must hold exactly the variables of a model built from `self.config`.
    /// A truncated file and non-finite weights are refused by name (eval, export, --init and --resume alike).
    pub fn load_weights(&self, vs: &mut nn::VarStore) -> Result<()> {
        let path = self.dir.join(WEIGHTS);
        check_safetensors_length(&path)?;
        vs.load(&path).with_context(|| format!("loading {} (does it match config.json?)", path.display()))?;
        check_finite(vs, &path)
    }
}

/// Points `out/best` at the checkpoint directory `name` (a sibling inside `out`), atomically: the new link is made
/// under a temporary name and renamed over the old one.
pub fn mark_best(out: &Path, name: &str) -> Result<()> {
    switch_link(out, BEST, name)
}

/// Where a run stands after a completed epoch, beside the weights and the optimizer state in `resume_epoch{E}/`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResumeState {
    /// The last completed epoch.
    pub epoch: usize,
    /// The run's seed: every epoch's shuffling, title drop and dropout are drawn from (seed, epoch).
    pub seed: u64,
    /// The best checkpoint so far (a folder in the run folder) and its validation Hit@1.
    pub best: Option<String>,
    pub best_hit_at_1: Option<f64>,
    /// Completed epochs since the best one (early stop).
    pub epochs_since_best: usize,
}

/// A resume state read back: the state, its checkpoint (weights, settings, tokenizer) and the run folder.
pub struct Resume {
    pub state: ResumeState,
    pub checkpoint: Checkpoint,
    /// The training output directory the state belongs to.
    pub run: PathBuf,
}

/// Saves the state after `state.epoch` as `out/resume_epoch{E}` (atomically, with `save_optimizer` writing the
/// optimizer's file), points `out/last` at it, then deletes the previous state.
pub fn save_resume_state(
    out: &Path,
    state: &ResumeState,
    contents: &Contents<'_>,
    save_optimizer: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let name = resume_dir_name(state.epoch);
    let previous = std::fs::read_link(out.join(LAST)).ok();
    save_with(&out.join(&name), contents, |dir| {
        save_optimizer(&dir.join(OPTIMIZER))?;
        write(dir, STATE, &serde_json::to_string_pretty(state)?)
    })?;
    switch_link(out, LAST, &name)?;
    match previous {
        Some(previous) if previous != Path::new(&name) => remove_folder(&out.join(previous)),
        _ => Ok(()),
    }
}

/// The resume state `--resume PATH` names: PATH is a training output directory (its `last` is read), a resume state
/// itself, or a checkpoint inside a training output directory (that directory's `last` is read: a run always resumes
/// after its last completed epoch).
pub fn load_resume_state(path: &Path) -> Result<Resume> {
    let resolved =
        std::fs::canonicalize(path).with_context(|| format!("--resume {}: no such folder", path.display()))?;
    let state_dir = if resolved.join(STATE).is_file() {
        resolved.clone()
    } else if resolved.join(LAST).exists() {
        std::fs::canonicalize(resolved.join(LAST))?
    } else if resolved.join(WEIGHTS).is_file() && resolved.parent().is_some_and(|run| run.join(LAST).exists()) {
        std::fs::canonicalize(resolved.parent().unwrap_or(&resolved).join(LAST))?
    } else {
        bail!(
            "--resume {}: no resume state there (a training output directory keeps one in `{LAST}` after every \
             completed epoch; a run stopped during its first epoch has none: start it again with --overwrite); to \
             start a new run from a checkpoint's weights use --init",
            path.display()
        );
    };
    let text = read(&state_dir, STATE)?;
    let state: ResumeState =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", state_dir.join(STATE).display()))?;
    let checkpoint = load(&state_dir)?;
    let run = state_dir.parent().map(Path::to_path_buf).context("a resume state has a parent folder")?;
    Ok(Resume { state, checkpoint, run })
}

/// Makes the run folder agree with the resume state `state_name` after epoch `state.epoch`: no temporaries of a killed
/// run, no older or newer resume states, no checkpoint of a later epoch, `best` on the state's best checkpoint.
pub fn roll_back_to(out: &Path, state_name: &str, state: &ResumeState) -> Result<()> {
    for entry in std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let later = epoch_of(&name).is_some_and(|epoch| epoch > state.epoch);
        let stale_state = name.starts_with(RESUME_PREFIX) && name != state_name;
        if name.starts_with(TEMPORARY_PREFIX) || later || stale_state {
            remove_folder(&out.join(&name))?;
        }
    }
    match &state.best {
        Some(best) if out.join(best).join(WEIGHTS).is_file() => mark_best(out, best),
        Some(best) => bail!("{}: the run's best checkpoint {best} is missing", out.display()),
        None => remove_folder(&out.join(BEST)),
    }
}

/// Checks that `out` can take a new run: it is missing or empty, or `overwrite` is set.
pub fn check_new_run_folder(out: &Path, overwrite: bool) -> Result<()> {
    if overwrite || is_empty_or_missing(out)? {
        return Ok(());
    }
    bail!(
        "{} is not empty (an earlier run?): pass --resume {} to continue the run in it, or --overwrite to delete it and \
         train from scratch",
        out.display(),
        out.display()
    )
}

/// Makes `out` an empty folder for a new run; with `overwrite`, an existing one is first renamed aside (one atomic
/// step: a reader sees the old run or none), then deleted.
pub fn prepare_new_run_folder(out: &Path, overwrite: bool) -> Result<()> {
    check_new_run_folder(out, overwrite)?;
    if !is_empty_or_missing(out)? {
        let name = out.file_name().map_or("run".into(), |n| n.to_string_lossy().into_owned());
        let aside = temporary(parent(out), &format!("overwritten-{name}"));
        std::fs::rename(out, &aside).with_context(|| format!("moving {} aside to overwrite it", out.display()))?;
        sync_folder(parent(out)).with_context(|| format!("syncing {}", parent(out).display()))?;
        std::fs::remove_dir_all(&aside).with_context(|| format!("deleting {}", aside.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))
}

fn is_empty_or_missing(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// A fresh name for something `what` being written in `folder`.
pub fn temporary(folder: &Path, what: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    folder.join(format!("{TEMPORARY_PREFIX}{what}-{}-{count}", std::process::id()))
}

/// Points the symlink `folder/link` at `target` atomically (a new link renamed over the old one).
pub fn switch_link(folder: &Path, link: &str, target: &str) -> Result<()> {
    let staged = temporary(folder, link);
    let path = folder.join(link);
    std::os::unix::fs::symlink(target, &staged).with_context(|| format!("linking {} -> {target}", path.display()))?;
    if let Err(e) = std::fs::rename(&staged, &path) {
        let _ = std::fs::remove_file(&staged);
        return Err(e).with_context(|| format!("replacing {}", path.display()));
    }
    sync_folder(folder).with_context(|| format!("syncing {}", folder.display()))
}

/// Deletes a folder, link or file if present; a folder is first renamed to a temporary name, so that a kill
/// leaves no half-deleted checkpoint under its real name.
fn remove_folder(path: &Path) -> Result<()> {
    let Ok(metadata) = path.symlink_metadata() else { return Ok(()) };
    if !metadata.is_dir() {
        return std::fs::remove_file(path).with_context(|| format!("deleting {}", path.display()));
    }
    let name = path.file_name().map_or("folder".into(), |n| n.to_string_lossy().into_owned());
    let doomed = if name.starts_with(TEMPORARY_PREFIX) { path.to_path_buf() } else { temporary(parent(path), &name) };
    if doomed != path {
        std::fs::rename(path, &doomed).with_context(|| format!("deleting {}", path.display()))?;
    }
    std::fs::remove_dir_all(&doomed).with_context(|| format!("deleting {}", path.display()))
}

/// Publishes the finished folder `staged` as `dir`, replacing a folder already there.
fn replace_folder(staged: &Path, dir: &Path) -> Result<()> {
    let old = dir.symlink_metadata().is_ok().then(|| temporary(parent(dir), "replaced"));
    if let Some(old) = &old {
        std::fs::rename(dir, old).with_context(|| format!("replacing {}", dir.display()))?;
    }
    publish_folder(staged, dir).with_context(|| format!("publishing {}", dir.display()))?;
    match old {
        Some(old) if old.is_dir() => std::fs::remove_dir_all(&old).context("deleting the replaced folder"),
        Some(old) => std::fs::remove_file(&old).context("deleting the replaced file"),
        None => Ok(()),
    }
}

/// fsync on every file in `dir` and on `dir` itself.
fn sync_files(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        std::fs::File::open(&path)
            .and_then(|file| file.sync_all())
            .with_context(|| format!("syncing {}", path.display()))?;
    }
    sync_folder(dir).with_context(|| format!("syncing {}", dir.display()))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}
