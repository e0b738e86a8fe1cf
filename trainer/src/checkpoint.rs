//! A checkpoint directory, named like the original's (`AttentionLstmErnie_epoch{E}_acc{Hit@1}`), holding
//! everything needed to rebuild the model without the training data:
//! `model.safetensors` (the VarStore, docs/model.md names), `config.json` (the resolved [`Config`]),
//! `tokenizer.json`, `classes.txt` and `provenance.json` (what the exporter copies into the model file).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mvt_formats::config::Config;
use mvt_formats::tokenizer::TitleTokenizer;
use serde::{Deserialize, Serialize};
use tch::nn;

use crate::model::FusionModel;

pub const WEIGHTS: &str = "model.safetensors";
pub const CONFIG: &str = "config.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const CLASSES: &str = "classes.txt";
pub const PROVENANCE: &str = "provenance.json";
/// A symlink in the training output directory naming the best checkpoint so far.
pub const BEST: &str = "best";

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
    format!("AttentionLstmErnie_epoch{epoch}_acc{:.1}", hit_at_1 * 100.0)
}

/// Writes a checkpoint directory `dir` (created; an existing one is overwritten).
pub fn save(
    dir: &Path,
    vs: &nn::VarStore,
    config: &Config,
    tokenizer: &TitleTokenizer,
    classes: &[String],
    provenance: &Provenance,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    vs.save(dir.join(WEIGHTS)).with_context(|| format!("writing {}", dir.join(WEIGHTS).display()))?;
    write(dir, CONFIG, &serde_json::to_string_pretty(config)?)?;
    write(dir, TOKENIZER, &tokenizer.to_json())?;
    write(dir, CLASSES, &classes.iter().map(|c| format!("{c}\n")).collect::<String>())?;
    write(dir, PROVENANCE, &serde_json::to_string_pretty(provenance)?)
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
    pub fn load_weights(&self, vs: &mut nn::VarStore) -> Result<()> {
        let path = self.dir.join(WEIGHTS);
        vs.load(&path).with_context(|| format!("loading {} (does it match config.json?)", path.display()))
    }
}

/// Points `out/best` at the checkpoint directory `name` (a sibling inside `out`).
pub fn mark_best(out: &Path, name: &str) -> Result<()> {
    let link = out.join(BEST);
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(&link).with_context(|| format!("replacing {}", link.display()))?;
    }
    std::os::unix::fs::symlink(name, &link).with_context(|| format!("linking {} -> {name}", link.display()))
}
