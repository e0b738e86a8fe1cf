//! Hostile and broken inputs to `mvt-train`, each with the message and exit status the user gets: a hostile
//! pickle and NaN features in the training data (reported, kept in the run folder, and fatal above
//! `--max-unusable`), a truncated or non-finite checkpoint at `eval`, and `export` over an existing model when
//! the write fails part-way or cannot start.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use mvt_formats::dataset::feature_path;
use mvt_formats::feature_file::{read_feature_file, write_feature_file};
use mvt_trainer::checkpoint;
use mvt_trainer::data::LOAD_REPORT_FILE;

// `train_options` is for in-process training, which these tests do not use.
#[allow(dead_code)]
mod support;
use support::{mvt_train, tiny_data, BIN, WORKSPACE};

/// The tiny dataset with two bad training rows, and one epoch trained on it.
struct HostileRun {
    data: PathBuf,
    /// The run folder of the one-epoch training.
    run: PathBuf,
    train: Output,
    /// The feature file of the row whose image features hold a NaN.
    nan_file: PathBuf,
    /// The file the hostile pickle would create if it ran.
    marker: PathBuf,
    /// Rows of train.txt.
    train_rows: usize,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn conf() -> String {
    Path::new(WORKSPACE).join("conf/tiny.txt").display().to_string()
}

/// Copies the tiny dataset, makes its first training row's feature file a pickle calling `posix.system` and puts
/// a NaN in the second's image features, then trains one epoch on it.
fn hostile_run() -> &'static HostileRun {
    static RUN: OnceLock<HostileRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let data = root.join("data");
        std::fs::create_dir_all(data.join("feature_files")).unwrap();
        for entry in std::fs::read_dir(tiny_data().join("feature_files")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), data.join("feature_files").join(entry.file_name())).unwrap();
        }
        for file in ["class.txt", "train.txt", "val.txt"] {
            std::fs::copy(tiny_data().join(file), data.join(file)).unwrap();
        }
        let rows = std::fs::read_to_string(data.join("train.txt")).unwrap();
        let names: Vec<&str> = rows.lines().map(|l| l.split('\t').next().unwrap()).collect();
        let marker = root.join("PWNED");
        let evil = format!("cposix\nsystem\n(S'touch {}'\ntR.", marker.display());
        std::fs::write(feature_path(&data, names[0]), evil).unwrap();
        let nan_file = feature_path(&data, names[1]);
        let mut features = read_feature_file(&std::fs::read(&nan_file).unwrap()).unwrap();
        features.rgb[[1, 2]] = f32::NAN;
        std::fs::write(&nan_file, write_feature_file(&features)).unwrap();

        let run = root.join("run");
        let (d, r) = (data.to_str().unwrap(), run.to_str().unwrap());
        let train = mvt_train(&["train", "--config", &conf(), "--data", d, "--out", r, "--epochs", "1", "--seed", "5"]);
        HostileRun { data, run, train, nan_file, marker, train_rows: names.len() }
    })
}

/// A copy of the hostile run's best checkpoint, in a fresh folder.
fn checkpoint_copy() -> (tempfile::TempDir, PathBuf) {
    let run = hostile_run();
    assert!(run.train.status.success(), "training failed: {}", text(&run.train.stderr));
    let best = checkpoint::load(&run.run).unwrap().dir;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("ckpt");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(best).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
    }
    (dir, copy)
}

fn eval(ckpt: &Path, split: &str) -> Output {
    let data = hostile_run().data.to_str().unwrap();
    mvt_train(&["eval", "--checkpoint", ckpt.to_str().unwrap(), "--data", data, "--split", split])
}

#[test]
fn training_reports_the_hostile_and_nan_rows_and_keeps_the_report_in_the_run_folder() {
    let run = hostile_run();
    let (stdout, stderr) = (text(&run.train.stdout), text(&run.train.stderr));
    assert!(run.train.status.success(), "{stderr}");
    assert!(!run.marker.exists(), "the hostile pickle ran a command");
    let kept = run.train_rows - 2;
    for expected in [
        format!("train.txt: {kept} videos from {} rows (2 skipped)", run.train_rows),
        "  skipped rows (non-finite features: 1, unreadable feature file: 1):".to_string(),
        "refused global posix.system".to_string(),
        format!("features not finite in {}: image feature at frame 1, column 2 is NaN", run.nan_file.display()),
    ] {
        assert!(stdout.contains(&expected), "{expected:?} not in:\n{stdout}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.run.join(LOAD_REPORT_FILE)).unwrap()).unwrap();
    assert_eq!(report["max_unusable"], 0.05);
    let train = &report["splits"][0];
    assert_eq!(train["split"], "train.txt");
    assert_eq!(train["rows"], run.train_rows);
    assert_eq!(train["videos"], kept);
    let kinds: Vec<&str> = train["skipped"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["unreadable feature file", "non-finite features"]);
    assert!(train["skipped"][0]["reason"].as_str().unwrap().contains("refused global posix.system"));
    assert_eq!(report["splits"][1]["split"], "val.txt");
    assert_eq!(report["splits"][1]["skipped"].as_array().unwrap().len(), 0);
}

#[test]
fn more_unusable_rows_than_allowed_stop_training_before_it_starts() {
    let run = hostile_run();
    let out = run.run.with_file_name("strict");
    let args = |limit: &str| {
        let (d, o) = (run.data.to_str().unwrap(), out.to_str().unwrap());
        mvt_train(&["train", "--config", &conf(), "--data", d, "--out", o, "--epochs", "1", "--max-unusable", limit])
    };
    let strict = args("0.005");
    assert_eq!(strict.status.code(), Some(1));
    let share = 200.0 / run.train_rows as f64;
    let expected = format!(
        "train.txt: 2 of {} rows are unusable ({share:.2}%), more than --max-unusable 0.005 (0.50%) allows",
        run.train_rows
    );
    assert!(text(&strict.stderr).contains(&expected), "{expected:?} not in:\n{}", text(&strict.stderr));
    assert!(text(&strict.stdout).contains("refused global posix.system"), "{}", text(&strict.stdout));
    assert!(!out.exists(), "a refused run left {}", out.display());
    let nonsense = args("1.5");
    assert_eq!(nonsense.status.code(), Some(1));
    assert!(text(&nonsense.stderr).contains("--max-unusable 1.5 is not a fraction in [0, 1]"));
}

#[test]
fn eval_prints_the_load_report() {
    let (_dir, ckpt) = checkpoint_copy();
    let done = eval(&ckpt, "train");
    assert!(done.status.success(), "{}", text(&done.stderr));
    let stdout = text(&done.stdout);
    assert!(stdout.contains("skipped rows (non-finite features: 1, unreadable feature file: 1)"), "{stdout}");
    assert!(stdout.contains("refused global posix.system") && stdout.contains("loss: "), "{stdout}");
}

#[test]
fn eval_says_a_truncated_weights_file_is_truncated() {
    let (_dir, ckpt) = checkpoint_copy();
    let weights = ckpt.join(checkpoint::WEIGHTS);
    let size = std::fs::metadata(&weights).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&weights).unwrap().set_len(size / 2).unwrap();
    let done = eval(&ckpt, "val");
    assert_eq!(done.status.code(), Some(1));
    let expected =
        format!("{} is truncated: {} bytes, but its safetensors header says {size}", weights.display(), size / 2);
    let stderr = text(&done.stderr);
    assert!(stderr.contains(&expected), "{expected:?} not in:\n{stderr}");
    assert!(!stderr.contains("does it match config.json"), "{stderr}");
    // Cut inside the header: the header's length field is what is missing.
    std::fs::OpenOptions::new().write(true).open(&weights).unwrap().set_len(20).unwrap();
    let stderr = text(&eval(&ckpt, "val").stderr);
    assert!(stderr.contains("is truncated (or not a safetensors file): 20 bytes"), "{stderr}");
}

#[test]
fn eval_refuses_non_finite_weights_naming_the_tensor() {
    let (_dir, ckpt) = checkpoint_copy();
    let weights = ckpt.join(checkpoint::WEIGHTS);
    let mut bytes = std::fs::read(&weights).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let (name, tensor) = header.iter().find(|(_, t)| t.get("dtype").is_some_and(|d| d == "F32")).unwrap();
    let start = 8 + header_len + tensor["data_offsets"][0].as_u64().unwrap() as usize;
    bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&weights, bytes).unwrap();
    let done = eval(&ckpt, "val");
    assert_eq!(done.status.code(), Some(1));
    let stderr = text(&done.stderr);
    let expected = format!("the checkpoint's weights are not finite: tensor {name} of {}", weights.display());
    assert!(stderr.contains(&expected), "{expected:?} not in:\n{stderr}");
    assert!(stderr.contains("has 1 non-finite values (1 NaN, 0 infinite)"), "{stderr}");
    assert!(!text(&done.stdout).contains("loss: NaN"));
}

/// `mvt-train export` of the hostile run's checkpoint to `out`, under `sh -c '<prelude>; exec mvt-train ...'`.
fn export(out: &Path, prelude: &str) -> Output {
    let ckpt = checkpoint::load(&hostile_run().run).unwrap().dir;
    Command::new("sh")
        .args(["-c", &format!("{prelude}; exec \"$0\" \"$@\""), BIN, "export", "--checkpoint"])
        .args([ckpt.as_os_str(), OsStr::new("--out"), out.as_os_str()])
        .output()
        .unwrap()
}

#[test]
fn export_over_an_existing_model_keeps_it_when_the_write_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model.onnx");
    let first = export(&out, "true");
    assert!(first.status.success(), "{}", text(&first.stderr));
    let good = std::fs::read(&out).unwrap();
    assert!(good.len() > 4096, "{} bytes", good.len());
    // A file-size limit of 2 blocks: killed by SIGXFSZ part-way through the temporary file.
    let killed = export(&out, "ulimit -f 2");
    assert!(!killed.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), good, "the previous model changed");
    // The same limit with SIGXFSZ ignored: the write fails with EFBIG, reported, and the temporary file removed.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path != out {
            std::fs::remove_file(path).unwrap();
        }
    }
    let refused = export(&out, "trap '' XFSZ; ulimit -f 2");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains(&format!("cannot write {}: File too large", out.display())), "{stderr}");
    assert_eq!(std::fs::read(&out).unwrap(), good, "the previous model changed");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["model.onnx"]);
}

#[test]
fn export_to_an_unwritable_path_says_cannot_write() {
    let out = Path::new("/proc/mvt-export-test/model.onnx");
    let done = export(out, "true");
    assert_eq!(done.status.code(), Some(1));
    let stderr = text(&done.stderr);
    assert!(stderr.contains("cannot write /proc/mvt-export-test/model.onnx: "), "{stderr}");
    assert!(!stderr.contains("cannot read"), "{stderr}");
}
