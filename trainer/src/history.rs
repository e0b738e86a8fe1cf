//! A training run's per-epoch metrics: [`EpochRecord`]s, one JSON line each in the output directory's
//! `metrics.jsonl`, appended as the epochs finish.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Per-epoch metrics, one JSON line each in `metrics.jsonl`.
pub const METRICS_FILE: &str = "metrics.jsonl";

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

/// The records of a run, in memory and in its output directory's metrics.jsonl.
pub struct History {
    path: PathBuf,
    records: Vec<EpochRecord>,
}

impl History {
    /// The history of a run in `out` whose first epoch is `first_epoch`: a resumed run keeps the records of the
    /// epochs before it; a fresh run (epoch 1) replaces any old metrics in this output directory.
    pub fn start(out: &Path, first_epoch: usize) -> Result<History> {
        let path = out.join(METRICS_FILE);
        let mut records: Vec<EpochRecord> =
            read_history(&path)?.into_iter().filter(|r| r.epoch < first_epoch).collect();
        if first_epoch == 1 {
            records.clear();
            std::fs::write(&path, "")?;
        }
        Ok(History { path, records })
    }

    /// Appends `record` to metrics.jsonl and to the records.
    pub fn push(&mut self, record: EpochRecord) -> Result<()> {
        let path = &self.path;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{}", serde_json::to_string(&record)?).with_context(|| format!("writing {}", path.display()))?;
        self.records.push(record);
        Ok(())
    }

    pub fn records(&self) -> &[EpochRecord] {
        &self.records
    }

    pub fn into_records(self) -> Vec<EpochRecord> {
        self.records
    }
}
