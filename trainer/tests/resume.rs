//! A training run's folder on the `tiny` preset: a run stopped after an epoch (by `--epochs` or by SIGKILL) and
//! resumed ends bitwise equal to the run that was never stopped, with one consistent metrics.jsonl; a non-empty
//! `--out` is refused untouched unless `--overwrite`; no half-written checkpoint is ever left; a diverging run
//! stops with an error and saves nothing non-finite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mvt_trainer::checkpoint::{self, ResumeState};
use mvt_trainer::history::{read_history, EpochRecord, METRICS_FILE};
use mvt_trainer::train;

mod support;
use support::{mvt_train, tiny_data, train_options, BIN, WORKSPACE};

const EPOCHS: usize = 4;

/// `mvt-train train` on tiny (conf/tiny.txt unless `config`), seed 5, title drop 0.4 (so the title-drop stream is
/// exercised), on the CPU, with `extra` arguments.
fn train_args(config: Option<&Path>, extra: &[&str]) -> Vec<String> {
    let config = config.map_or_else(|| Path::new(WORKSPACE).join("conf/tiny.txt"), Path::to_path_buf);
    let mut args: Vec<String> =
        ["train", "--config", config.to_str().unwrap(), "--data", tiny_data().to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(["--seed", "5", "--title-drop-rate", "0.4", "--device", "cpu"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn train(out: &Path, extra: &[&str]) -> Output {
    let mut args = train_args(None, extra);
    args.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
    Command::new(BIN).args(&args).output().unwrap()
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "mvt-train failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// Every file under `dir` (links followed) with its bytes, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            if path.symlink_metadata().unwrap().file_type().is_symlink() {
                files.insert(relative, std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes());
            } else if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The records without their timing, which is all that may differ between equal runs.
fn values(records: &[EpochRecord]) -> Vec<EpochRecord> {
    records.iter().map(|r| EpochRecord { seconds: 0.0, ..r.clone() }).collect()
}

/// A finished run folder: no temporaries, `best` and `last` resolve, one resume state, and the state's file set.
fn assert_clean_run_folder(out: &Path) {
    let names: Vec<String> =
        std::fs::read_dir(out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.starts_with(checkpoint::TEMPORARY_PREFIX)), "temporaries left: {names:?}");
    assert_eq!(names.iter().filter(|n| n.starts_with("resume_epoch")).count(), 1, "{names:?}");
    for link in [checkpoint::BEST, checkpoint::LAST] {
        let target = std::fs::canonicalize(out.join(link)).unwrap();
        assert!(target.join(checkpoint::WEIGHTS).is_file(), "{link} does not resolve to a checkpoint");
        assert!(target.join(checkpoint::PROVENANCE).is_file());
    }
    assert!(out.join(checkpoint::LAST).join(checkpoint::OPTIMIZER).is_file());
    assert!(out.join(checkpoint::LAST).join(checkpoint::STATE).is_file());
}

/// What must be equal between two runs of the same recipe: the last state's weights and optimizer state (bytes),
/// the best checkpoint's name and weights, the resume state, and the metrics but for their timing.
fn assert_same_run(a: &Path, b: &Path) {
    for file in [checkpoint::WEIGHTS, checkpoint::OPTIMIZER] {
        let read = |run: &Path| std::fs::read(run.join(checkpoint::LAST).join(file)).unwrap();
        assert!(read(a) == read(b), "last/{file} differs between {} and {}", a.display(), b.display());
    }
    let best = |run: &Path| std::fs::canonicalize(run.join(checkpoint::BEST)).unwrap();
    assert_eq!(best(a).file_name(), best(b).file_name());
    assert!(
        std::fs::read(best(a).join(checkpoint::WEIGHTS)).unwrap()
            == std::fs::read(best(b).join(checkpoint::WEIGHTS)).unwrap()
    );
    let state = |run: &Path| -> ResumeState {
        serde_json::from_slice(&std::fs::read(run.join(checkpoint::LAST).join(checkpoint::STATE)).unwrap()).unwrap()
    };
    assert_eq!(state(a), state(b));
    let (history_a, history_b) =
        (read_history(&a.join(METRICS_FILE)).unwrap(), read_history(&b.join(METRICS_FILE)).unwrap());
    assert_eq!(history_a.iter().map(|r| r.epoch).collect::<Vec<_>>(), (1..=EPOCHS).collect::<Vec<_>>());
    assert_eq!(values(&history_a), values(&history_b));
}

#[test]
fn a_run_stopped_after_an_epoch_or_killed_and_resumed_is_bitwise_the_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    // The uninterrupted run, in this process (the others run the binary: the same numbers either way).
    let straight = dir.path().join("straight");
    let mut options = train_options(&straight, EPOCHS);
    options.title_drop_rate = Some(0.4);
    train::run(&options).unwrap();
    assert_clean_run_folder(&straight);

    // Stopped after epoch 2 by --epochs, then resumed to the end (--out defaults to the resumed folder).
    let stopped = dir.path().join("stopped");
    assert_success(&train(&stopped, &["--epochs", "2"]));
    assert_eq!(read_history(&stopped.join(METRICS_FILE)).unwrap().len(), 2);
    let mut args = train_args(None, &["--epochs", &EPOCHS.to_string()]);
    args.extend(["--resume".to_string(), stopped.to_str().unwrap().to_string()]);
    let resumed = Command::new(BIN).args(&args).output().unwrap();
    assert_success(&resumed);
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("after epoch 2"));
    assert_clean_run_folder(&stopped);
    assert_same_run(&straight, &stopped);

    // Killed (SIGKILL) in the middle of the run, wherever it was, then resumed from its `best` link: the run
    // continues after its last completed epoch, not after its best.
    let killed = dir.path().join("killed");
    let mut args = train_args(None, &["--epochs", &EPOCHS.to_string()]);
    args.extend(["--out".to_string(), killed.to_str().unwrap().to_string()]);
    let mut child = Command::new(BIN).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while read_history(&killed.join(METRICS_FILE)).map_or(0, |h| h.len()) < 2 && started.elapsed().as_secs() < 120 {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Whatever the kill interrupted, `best` and `last` (once written) resolve to complete folders.
    for link in [checkpoint::BEST, checkpoint::LAST] {
        if let Ok(target) = std::fs::canonicalize(killed.join(link)) {
            assert!(target.join(checkpoint::PROVENANCE).is_file(), "{link} is half-written");
        }
    }
    let mut args = train_args(None, &["--epochs", &EPOCHS.to_string()]);
    args.extend(["--resume".to_string(), killed.join(checkpoint::BEST).to_str().unwrap().to_string()]);
    assert_success(&Command::new(BIN).args(&args).output().unwrap());
    assert_clean_run_folder(&killed);
    assert_same_run(&straight, &killed);

    // Resuming a finished run trains nothing and changes nothing.
    let before = snapshot(&straight);
    let mut args = train_args(None, &["--epochs", &EPOCHS.to_string()]);
    args.extend(["--resume".to_string(), straight.to_str().unwrap().to_string()]);
    let again = Command::new(BIN).args(&args).output().unwrap();
    assert_success(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to train"));
    assert_eq!(snapshot(&straight).keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>());
}

#[test]
fn a_non_empty_out_is_refused_untouched_and_overwrite_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    assert_success(&train(&out, &["--epochs", "2"]));
    let before = snapshot(&out);

    let refused = train(&out, &["--epochs", "1"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let expected = format!(
        "{} is not empty (an earlier run?): pass --resume {} to continue the run in it, or --overwrite to delete it \
         and train from scratch",
        out.display(),
        out.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(snapshot(&out) == before, "the refused run changed {}", out.display());

    // --resume and --overwrite exclude each other.
    let both = train(&out, &["--resume", out.to_str().unwrap(), "--overwrite"]);
    assert!(!both.status.success());
    assert!(snapshot(&out) == before);

    // --resume of a folder without a resume state says so.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let no_state = train(&empty, &["--resume", empty.to_str().unwrap()]);
    assert_eq!(no_state.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&no_state.stderr);
    assert!(stderr.contains("no resume state there"), "{stderr}");

    let overwritten = train(&out, &["--epochs", "1", "--overwrite"]);
    assert_success(&overwritten);
    assert_eq!(read_history(&out.join(METRICS_FILE)).unwrap().len(), 1);
    assert_clean_run_folder(&out);
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "the overwritten run is gone: {names:?}");
}

#[test]
fn a_diverging_run_stops_with_an_error_and_saves_nothing_non_finite() {
    let dir = tempfile::tempdir().unwrap();
    let conf = std::fs::read_to_string(Path::new(WORKSPACE).join("conf/tiny.txt")).unwrap();
    assert!(conf.contains("learning_rate = 0.002"));
    let absurd = dir.path().join("absurd.txt");
    std::fs::write(&absurd, conf.replace("learning_rate = 0.002", "learning_rate = 1e38")).unwrap();
    let out = dir.path().join("run");
    let mut args = train_args(Some(&absurd), &["--epochs", "3"]);
    args.extend(["--out".to_string(), out.to_str().unwrap().to_string()]);
    let output = mvt_train(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the training loss is not finite (") || stderr.contains("the validation loss is not finite ("),
        "{stderr}"
    );
    assert!(stderr.contains("stopping; nothing of epoch"), "{stderr}");
    assert!(stderr.contains(" at epoch ") || stderr.contains(" after epoch "), "{stderr}");
    // Whatever was saved before the loss diverged has finite metrics and parses.
    for record in read_history(&out.join(METRICS_FILE)).unwrap() {
        assert!(record.train_loss.is_finite() && record.val_loss.is_finite(), "{record:?}");
    }
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        assert!(!path.file_name().unwrap().to_string_lossy().starts_with(checkpoint::TEMPORARY_PREFIX));
        if path.join(checkpoint::PROVENANCE).is_file() {
            let ckpt = checkpoint::load(&path).unwrap();
            assert!(ckpt.provenance.val_loss.is_finite(), "{}", path.display());
        }
    }
}
