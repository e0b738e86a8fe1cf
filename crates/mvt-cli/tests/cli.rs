//! `mvt infer`, `mvt info` and `mvt dataset` on the stand-in model (mvt-test-support's fixture) and a dataset in the original layout written
//! here: the output.json equals the library's predictions and is byte-identical to Python's
//! `json.dump(..., ensure_ascii=False, indent=4)` of the same data. Bad rows are skipped naming their line and
//! file, and a run that tags nothing or fails leaves a previous output file alone.

use std::path::Path;
use std::process::{Command, Output};

use mvt_formats::dataset::FEATURE_DIR;
use mvt_formats::feature_file::{read_feature_file, write_feature_file};

use mvt_runtime::output_json::inference_json;
use mvt_runtime::predict::{Model, Options};
use mvt_test_support::fixture::{self, write_dataset};
use mvt_test_support::{layout, venv};

#[test]
fn infer_writes_the_originals_output_json() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = fixture::write_model(dir.path());
    write_dataset(dir.path());
    let out = dir.path().join("output.json");
    let run = Command::new(env!("CARGO_BIN_EXE_mvt"))
        .args(["infer", "--model"])
        .arg(&model_path)
        .arg("--data")
        .arg(dir.path())
        .args(["--list", "val.txt", "--batch-size", "2", "--threshold", "0.45", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("e5.mp4") && stderr.contains("missing feature file"), "{stderr}");
    assert!(stderr.contains("4 videos tagged, 1 skipped (missing feature file: 1)"), "{stderr}");
    let written = std::fs::read_to_string(&out).unwrap();

    // The same videos through the library give the same document.
    let model = Model::load(&model_path, &Options { threshold: Some(0.45), ..Options::default() }).unwrap();
    let dataset = mvt_runtime::tag_dataset::load_videos(&model, dir.path(), "val.txt").unwrap();
    let predictions = mvt_runtime::tag_dataset::predict_dataset(&model, &dataset, |_, _| {}).unwrap();
    let expected = inference_json(
        dataset.videos.iter().map(|v| v.name.as_str()).zip(predictions.iter().map(|p| p.labels_in_class_order())),
    );
    assert_eq!(written, expected);
    let parsed: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 4);
    assert!(parsed.as_array().unwrap().iter().any(|v| !v["labels"].as_array().unwrap().is_empty()));

    // Python re-dumps it to the very same bytes.
    let redump = venv::python()
        .args(["-c", "import json,sys; d=json.load(open(sys.argv[1], encoding='utf-8')); sys.stdout.buffer.write(json.dumps(d, ensure_ascii=False, indent=4).encode('utf-8'))"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(redump.status.success(), "{}", String::from_utf8_lossy(&redump.stderr));
    assert_eq!(String::from_utf8(redump.stdout).unwrap(), written);

    // --top-k lists the K best classes, best first, whatever the threshold.
    let run = Command::new(env!("CARGO_BIN_EXE_mvt"))
        .args(["infer", "--top-k", "2", "--model"])
        .arg(&model_path)
        .arg("--data")
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let parsed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for video in parsed.as_array().unwrap() {
        let labels = video["labels"].as_array().unwrap();
        assert_eq!(labels.len(), 2);
        assert!(labels[0][1].as_f64().unwrap() >= labels[1][1].as_f64().unwrap());
    }
}

#[test]
fn info_prints_the_metadata_and_rejects_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = fixture::write_model(dir.path());
    let run = Command::new(env!("CARGO_BIN_EXE_mvt")).arg("info").arg(&model_path).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success());
    assert!(
        stdout.contains("classes: 3") && stdout.contains("1\t拍人-萌娃") && stdout.contains("threshold: 0.5"),
        "{stdout}"
    );
    assert!(
        stdout.contains("image features: 6-d, audio features: 4-d") && stdout.contains("library test fixture"),
        "{stdout}"
    );

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x01\x12\x03abc junk").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_mvt")).arg("info").arg(&garbage).output().unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("garbage.onnx"));
}

#[test]
fn mvt_dataset_prints_both_splits() {
    let dir = layout::data_dir("游戏-射击\n拍人-萌娃\n美食-烹饪\n", "a.mp4\tt\t游戏-射击\n", &["a", "b"], 6, 3);
    std::fs::write(dir.path().join("val.txt"), "b.mp4\tt\t拍人-萌娃\nzzz.mp4\tt\t拍人-萌娃\n").unwrap();
    let conf = std::fs::read_to_string(venv::workspace().join("conf/conf.txt")).unwrap();
    let conf = conf.replace("feature_dims = [[2048], [128], [5, 50, 1]]", "feature_dims = [[6], [3], [5, 50, 1]]");
    std::fs::write(dir.path().join("conf.txt"), conf).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mvt"))
        .args(["dataset", "--data"])
        .arg(dir.path())
        .arg("--config")
        .arg(dir.path().join("conf.txt"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("train.txt: 1 videos from 1 rows (0 skipped)"), "{stdout}");
    assert!(stdout.contains("val.txt: 1 videos from 2 rows (1 skipped)"), "{stdout}");
    assert!(stdout.contains("line 2 zzz.mp4: missing feature file"), "{stdout}");

    // the shipped conf says 2048-d: a clear error, non-zero exit
    let out = Command::new(env!("CARGO_BIN_EXE_mvt"))
        .args(["dataset", "--data"])
        .arg(dir.path())
        .arg("--config")
        .arg(venv::workspace().join("conf/conf.txt"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("image features are 6-d but the configuration says 2048"), "{stderr}");
}

/// `mvt infer` on the fixture model and `dir`'s dataset, with `extra` arguments.
fn infer(dir: &Path, list: &str, extra: &[&str]) -> (Output, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_mvt"))
        .args(["infer", "--model"])
        .arg(dir.join("fixture.onnx"))
        .arg("--data")
        .arg(dir)
        .args(["--list", list, "--out"])
        .arg(dir.join("output.json"))
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (run, stderr)
}

/// The fixture's dataset and model, plus `nan.pkl` (a1's features with a NaN) and `inf.pkl` (an infinite audio
/// value), and the list `bad.txt`: line 1 a good row, 2 NaN features, 3 long.mp4 (13 frames), 4 a title that is not
/// UTF-8, 5 infinite audio, 6 a good row.
fn bad_rows_dataset() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fixture::write_model(dir.path());
    write_dataset(dir.path());
    let features = dir.path().join(FEATURE_DIR);
    let mut file = read_feature_file(&std::fs::read(features.join("a1.pkl")).unwrap()).unwrap();
    file.rgb[[1, 2]] = f32::NAN;
    std::fs::write(features.join("nan.pkl"), write_feature_file(&file)).unwrap();
    let mut file = read_feature_file(&std::fs::read(features.join("d4.pkl")).unwrap()).unwrap();
    file.audio[[0, 0]] = f32::INFINITY;
    std::fs::write(features.join("inf.pkl"), write_feature_file(&file)).unwrap();
    let mut file = read_feature_file(&std::fs::read(features.join("a1.pkl")).unwrap()).unwrap();
    for _ in 0..10 {
        let row = file.rgb.row(0).to_owned();
        file.rgb.push_row(row.view()).unwrap();
    }
    std::fs::write(features.join("long.pkl"), write_feature_file(&file)).unwrap();
    let mut list = b"a1.mp4\tcat\tother\nnan.mp4\tcat dog\n".to_vec();
    list.extend_from_slice(b"long.mp4\tlong one\nlatin.mp4\tcaf\xe9 au lait\tother\ninf.mp4\tdog\nd4.mp4\tdog\n");
    std::fs::write(dir.path().join("bad.txt"), list).unwrap();
    std::fs::copy(features.join("a1.pkl"), features.join("latin.pkl")).unwrap();
    dir
}

#[test]
fn infer_skips_bad_rows_naming_line_and_file() {
    let dir = bad_rows_dataset();
    let (run, stderr) = infer(dir.path(), "bad.txt", &["--max-frames", "12"]);
    assert!(run.status.success(), "{stderr}");
    let nan = format!(
        "bad.txt line 2 (nan.mp4): features not finite in {}",
        dir.path().join("feature_files/nan.pkl").display()
    );
    assert!(stderr.contains(&nan) && stderr.contains("image feature at frame 1, column 2 is NaN"), "{stderr}");
    assert!(stderr.contains("bad.txt line 5 (inf.mp4)") && stderr.contains("inf.pkl"), "{stderr}");
    let long = format!(
        "bad.txt line 3 (long.mp4): {} has 13 image frames, more than max_frames 12; skipped",
        dir.path().join("feature_files/long.pkl").display()
    );
    assert!(stderr.contains(&long), "{stderr}");
    assert!(
        stderr.contains("bad.txt line 4 (latin.mp4): the title is not valid UTF-8 (invalid utf-8 sequence of 1 bytes from index 3); skipped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 videos tagged, 4 skipped (non-finite features: 2, not UTF-8: 1, too many frames: 1)"),
        "{stderr}"
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("output.json")).unwrap()).unwrap();
    let ids: Vec<&str> = written.as_array().unwrap().iter().map(|v| v["video_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a1.mp4", "d4.mp4"]);
}

#[test]
fn infer_that_tags_nothing_exits_3_and_keeps_the_previous_output() {
    let dir = bad_rows_dataset();
    std::fs::write(dir.path().join("gone.txt"), "gone1.mp4\tx\ngone2.mp4\ty\n").unwrap();
    let previous = "[\"previous run\"]";
    std::fs::write(dir.path().join("output.json"), previous).unwrap();
    let (run, stderr) = infer(dir.path(), "gone.txt", &[]);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("gone.txt line 1 (gone1.mp4): missing feature file"), "{stderr}");
    let output = dir.path().join("output.json");
    assert!(
        stderr.contains(&format!(
            "error: nothing to tag: 2 rows in gone.txt, 2 skipped (missing feature file: 2); {} not written",
            output.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&output).unwrap(), previous);

    // An empty list tags nothing too.
    std::fs::write(dir.path().join("empty.txt"), "\n").unwrap();
    let (run, stderr) = infer(dir.path(), "empty.txt", &[]);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("nothing to tag: 0 rows in empty.txt, 0 skipped"), "{stderr}");

    // A failing run (a model file that is not one) exits 1 and leaves the output alone as well.
    std::fs::write(dir.path().join("fixture.onnx"), b"not a model").unwrap();
    let (run, stderr) = infer(dir.path(), "bad.txt", &[]);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("fixture.onnx"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), previous);

    // Usage errors are clap's 2.
    let (run, _) = infer(dir.path(), "bad.txt", &["--top-k", "-1"]);
    assert_eq!(run.status.code(), Some(2));
}
