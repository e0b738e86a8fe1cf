//! `mvt infer`, `mvt info` and `mvt dataset` on the stand-in model (mvt-test-support's fixture) and a dataset in the original layout written
//! here: the output.json equals the library's predictions and is byte-identical to Python's
//! `json.dump(..., ensure_ascii=False, indent=4)` of the same data.

use std::process::Command;

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
    assert!(stderr.contains("4 videos tagged (1 skipped)"), "{stderr}");
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
