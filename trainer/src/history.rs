//! A training run's per-epoch metrics: [`EpochRecord`]s, one JSON line each in the output directory's
//! `metrics.jsonl`, rewritten atomically as the epochs finish.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mvt_formats::atomic_file::write_atomic;
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

/// The records of a run, in memory and in its output directory's metrics.jsonl, which is rewritten whole and
/// atomically after every epoch (a temporary file renamed over it): a kill or a full disk leaves the previous
/// version, never a torn line.
pub struct History {
    path: PathBuf,
    records: Vec<EpochRecord>,
}

impl History {
    /// The history of a new run in `out` (an empty folder): no records yet.
    pub fn new(out: &Path) -> History {
        History { path: out.join(METRICS_FILE), records: Vec::new() }
    }

    /// The history of a run in `out` resumed after `last_epoch`: its records of epochs 1..=`last_epoch`, which must
    /// all be there once; records of later epochs (written before the run was stopped, past its last saved state)
    /// are dropped, and the file rewritten atomically.
    pub fn resume(out: &Path, last_epoch: usize) -> Result<History> {
        let path = out.join(METRICS_FILE);
        let records: Vec<EpochRecord> = read_history(&path)?.into_iter().filter(|r| r.epoch <= last_epoch).collect();
        let epochs: Vec<usize> = records.iter().map(|r| r.epoch).collect();
        if !epochs.iter().copied().eq(1..=last_epoch) {
            bail!(
                "{} does not hold epochs 1..={last_epoch} once each (found {epochs:?}): cannot continue its record",
                path.display()
            );
        }
        let history = History { path, records };
        history.write()?;
        Ok(history)
    }

    /// Adds `record` to the records and rewrites metrics.jsonl with it; on failure neither changes.
    pub fn push(&mut self, record: EpochRecord) -> Result<()> {
        self.records.push(record);
        let written = self.write();
        if written.is_err() {
            self.records.pop();
        }
        written
    }

    fn write(&self) -> Result<()> {
        let mut text = String::new();
        for record in &self.records {
            text.push_str(&serde_json::to_string(record)?);
            text.push('\n');
        }
        write_atomic(&self.path, text.as_bytes()).with_context(|| format!("writing {}", self.path.display()))
    }

    pub fn records(&self) -> &[EpochRecord] {
        &self.records
    }

    pub fn into_records(self) -> Vec<EpochRecord> {
        self.records
    }
}
