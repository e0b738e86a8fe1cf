//! Shared by the trainer's integration tests: the `tiny` synthetic dataset and training options for
//! conf/tiny.txt (its widths, small layers, a constant learning rate: an epoch takes about a second).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use mvt_trainer::train::TrainOptions;

pub const BIN: &str = env!("CARGO_BIN_EXE_mvt-train");
pub const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The tiny dataset, made once per test binary by `mvt-train synth --preset tiny --seed 7`.
pub fn tiny_data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let data = tempfile::tempdir().unwrap().keep().join("tiny");
        let out = mvt_train(&["synth", "--preset", "tiny", "--seed", "7", "--out", data.to_str().unwrap()]);
        assert!(out.status.success(), "mvt-train synth failed: {}", String::from_utf8_lossy(&out.stderr));
        data
    })
}

/// Runs the `mvt-train` binary with `args`.
pub fn mvt_train(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Training on the tiny dataset with conf/tiny.txt, on the CPU, seed 5, into `out`.
pub fn train_options(out: &Path, epochs: usize) -> TrainOptions {
    TrainOptions {
        seed: 5,
        epochs: Some(epochs),
        ..TrainOptions::new(Path::new(WORKSPACE).join("conf/tiny.txt"), tiny_data().to_path_buf(), out.to_path_buf())
    }
}
