//! `mvt infer` and `mvt info` on the stand-in model (tests/fixture) and a dataset in the original layout written
//! here: the output.json equals the library's predictions and is byte-identical to Python's
//! `json.dump(..., ensure_ascii=False, indent=4)` of the same data.

mod fixture;

use std::path::Path;
use std::process::Command;

use mvt::pickle::{write_feature_file, FeatureFile};
use mvt::predict::{inference_json, Model, Options};
use ndarray::Array2;

fn write_dataset(dir: &Path) {
    std::fs::write(dir.join("class.txt"), fixture::CLASSES.join("\n") + "\n").unwrap();
    std::fs::create_dir_all(dir.join("feature_files")).unwrap();
    let rows = [
        ("a1.mp4", "cat dog", "游戏-沙盒", 3, 2),
        ("b2.mp4", "", "other", 1, 0),
        ("c3.mp4", "游戏 \"quoted\"", "", 7, 5),
        ("d4.mp4", "dog", "拍人-萌娃,other", 4, 1),
        ("e5.mp4", "no feature file", "other", 0, 0),
    ];
    let mut list = String::new();
    for (i, (name, title, labels, frames, segments)) in rows.iter().enumerate() {
        list.push_str(&format!("{name}\t{title}\t{labels}\n"));
        if *frames == 0 {
            continue;
        }
        let values = |n: usize, d: usize, s: usize| {
            Array2::from_shape_fn((n, d), |(t, k)| ((s + t * 5 + k * 3) % 7) as f32 / 3.0 - 1.0)
        };
        let file = FeatureFile {
            video: name.to_string(),
            rgb: values(*frames, fixture::RGB_DIM, i),
            audio: values(*segments, fixture::AUDIO_DIM, i + 9),
            labels: vec![],
        };
        let stem = name.split('.').next().unwrap();
        std::fs::write(dir.join("feature_files").join(format!("{stem}.pkl")), write_feature_file(&file)).unwrap();
    }
    std::fs::write(dir.join("val.txt"), list).unwrap();
}

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
    let dataset = mvt::infer::load_videos(&model, dir.path(), "val.txt").unwrap();
    let predictions = mvt::infer::predict_dataset(&model, &dataset, |_, _| {}).unwrap();
    let expected = inference_json(
        dataset.videos.iter().map(|v| v.name.as_str()).zip(predictions.iter().map(|p| p.labels_in_class_order())),
    );
    assert_eq!(written, expected);
    let parsed: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 4);
    assert!(parsed.as_array().unwrap().iter().any(|v| !v["labels"].as_array().unwrap().is_empty()));

    // Python re-dumps it to the very same bytes.
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let redump = Command::new(python)
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
fn the_c_dataset_reader_feeds_mvt_predict_the_same_videos() {
    use mvt::error::MvtStatus;
    use mvt::ffi::*;
    use std::ffi::{CStr, CString};
    let dir = tempfile::tempdir().unwrap();
    let model_path = fixture::write_model(dir.path());
    write_dataset(dir.path());
    let c = |s: &str| CString::new(s).unwrap();
    let mut model = std::ptr::null_mut();
    assert_eq!(mvt_load(c(model_path.to_str().unwrap()).as_ptr(), std::ptr::null(), &mut model), MvtStatus::MvtOk);
    let mut dataset = std::ptr::null_mut();
    let data = c(dir.path().to_str().unwrap());
    assert_eq!(
        mvt_dataset_open(model, data.as_ptr(), c("missing.txt").as_ptr(), &mut dataset),
        MvtStatus::MvtErrDataset
    );
    assert!(dataset.is_null());
    assert_eq!(mvt_dataset_open(model, data.as_ptr(), c("val.txt").as_ptr(), &mut dataset), MvtStatus::MvtOk);
    let count = mvt_dataset_count(dataset);
    assert_eq!(count, 4);
    let mut videos = Vec::new();
    let mut ids = Vec::new();
    for i in 0..count {
        let mut video = std::mem::MaybeUninit::<MvtVideo>::zeroed();
        let mut id = std::ptr::null();
        assert_eq!(mvt_dataset_video(dataset, i, video.as_mut_ptr(), &mut id), MvtStatus::MvtOk);
        videos.push(unsafe { video.assume_init() });
        ids.push(id);
    }
    assert_eq!(unsafe { CStr::from_ptr(ids[2]) }.to_str().unwrap(), "c3.mp4");
    assert_eq!(
        mvt_dataset_video(dataset, count, videos.as_mut_ptr(), std::ptr::null_mut()),
        MvtStatus::MvtErrInvalidArgument
    );
    let mut result = std::ptr::null_mut();
    assert_eq!(mvt_predict(model, videos.as_ptr(), count, &mut result), MvtStatus::MvtOk);
    let json = mvt_result_json(result, ids.as_ptr());
    let text = unsafe { CStr::from_ptr(json) }.to_str().unwrap().to_owned();

    let rust_model = Model::load(&model_path, &Options::default()).unwrap();
    let rust_dataset = mvt::infer::load_videos(&rust_model, dir.path(), "val.txt").unwrap();
    let predictions = mvt::infer::predict_dataset(&rust_model, &rust_dataset, |_, _| {}).unwrap();
    let names = rust_dataset.videos.iter().map(|v| v.name.as_str());
    assert_eq!(text, inference_json(names.zip(predictions.iter().map(|p| p.labels_in_class_order()))));
    mvt_string_free(json);
    mvt_result_free(result);
    mvt_dataset_free(dataset);
    mvt_free(model);
}
