//! `mvt-train eval` on an exported `.onnx` (through the `mvt` library) gives the checkpoint's metrics: the same
//! Hit@k, probabilities within 1e-5 and the same loss, computed from the probabilities.

use std::path::Path;

use mvt_formats::config::{Config, LossType, TextEncoder};
use mvt_trainer::model::FusionModel;
use mvt_trainer::scoring::loss_from_probs;
use ndarray::Array2;
use serde_json::Value;
use tch::{nn, Device, Kind, Tensor};

mod support;
use support::{mvt_train, tiny_data, train_options, WORKSPACE};

const TOLERANCE: f64 = 1e-5;

/// Runs `eval` on `model` (a checkpoint or model file); returns stdout, the JSON report and the predictions.
fn eval(model: &Path, out: &Path, name: &str) -> (String, Value, Value) {
    let (report, predictions) = (out.join(format!("{name}.report.json")), out.join(format!("{name}.probs.json")));
    let run = mvt_train(&[
        "eval",
        "--device",
        "cpu",
        "--checkpoint",
        model.to_str().unwrap(),
        "--data",
        tiny_data().to_str().unwrap(),
        "--split",
        "val",
        "--report",
        report.to_str().unwrap(),
        "--predictions",
        predictions.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "eval {name}: {}", String::from_utf8_lossy(&run.stderr));
    let read = |path: &Path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    (String::from_utf8(run.stdout).unwrap(), read(&report), read(&predictions))
}

#[test]
fn onnx_eval_reports_the_checkpoints_metrics_and_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    mvt_trainer::train::run(&train_options(&dir.path().join("run"), 2)).unwrap();
    let model = dir.path().join("model.onnx");
    let export = mvt_train(&[
        "export",
        "--checkpoint",
        dir.path().join("run/best").to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(export.status.success(), "export: {}", String::from_utf8_lossy(&export.stderr));

    let (ckpt_stdout, ckpt_report, ckpt_probs) = eval(&dir.path().join("run"), dir.path(), "checkpoint");
    let (onnx_stdout, onnx_report, onnx_probs) = eval(&model, dir.path(), "onnx");

    // Both print the same Hit@1 line, and report the same Hit@k and loss.
    let hit_line = |stdout: &str| stdout.lines().find(|l| l.starts_with("Hit@1: ")).unwrap().to_owned();
    assert_eq!(hit_line(&ckpt_stdout), hit_line(&onnx_stdout));
    assert_eq!(ckpt_report["videos"], 100);
    for key in ["videos", "hit_at_1", "hit_at_2", "hit_at_3", "hit_at_5"] {
        assert_eq!(ckpt_report[key], onnx_report[key], "{key}");
    }
    for key in ["gap_at_20", "map", "perr"] {
        let (a, b) = (ckpt_report[key].as_f64().unwrap(), onnx_report[key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-4, "{key}: checkpoint {a}, onnx {b}");
    }
    let (a, b) = (ckpt_report["loss"].as_f64().unwrap(), onnx_report["loss"].as_f64().unwrap());
    assert!(a > 0.0 && (a - b).abs() <= TOLERANCE * a, "loss: checkpoint {a}, onnx {b}");

    // One entry per video of val.txt, in its order, each with a probability per class.
    let (ckpt_probs, onnx_probs) = (ckpt_probs.as_array().unwrap(), onnx_probs.as_array().unwrap());
    assert_eq!(ckpt_probs.len(), 100);
    assert_eq!(ckpt_probs.len(), onnx_probs.len());
    for (c, o) in ckpt_probs.iter().zip(onnx_probs) {
        assert_eq!(c["video_id"], o["video_id"]);
        let (c, o) = (c["probs"].as_array().unwrap(), o["probs"].as_array().unwrap());
        assert_eq!((c.len(), o.len()), (8, 8));
        for (c, o) in c.iter().zip(o) {
            let (c, o) = (c.as_f64().unwrap(), o.as_f64().unwrap());
            assert!((c - o).abs() <= TOLERANCE, "probability {c} vs {o}");
        }
    }

    // A file that is not a model is a clear error.
    let not_a_model = dir.path().join("checkpoint.report.json");
    let bad =
        mvt_train(&["eval", "--checkpoint", not_a_model.to_str().unwrap(), "--data", tiny_data().to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not an ONNX file"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn loss_from_probabilities_equals_the_training_loss_for_both_loss_types() {
    let mut config = Config::from_conf_file(&Path::new(WORKSPACE).join("conf/tiny.txt")).unwrap().model;
    if let TextEncoder::Embedding { vocab_size, .. } = &mut config.text_encoder {
        *vocab_size = 100;
    }
    let labels = [vec![0], vec![2, 5], vec![], vec![7, 1, 3], vec![4], vec![6]];
    let (videos, classes) = (labels.len(), config.num_classes);
    let mut multi_hot = vec![0f32; videos * classes];
    for (v, video_labels) in labels.iter().enumerate() {
        video_labels.iter().for_each(|&c| multi_hot[v * classes + c] = 1.0);
    }
    let targets = Tensor::from_slice(&multi_hot).view([videos as i64, classes as i64]);
    tch::manual_seed(3);
    let logits = Tensor::randn([videos as i64, classes as i64], (Kind::Float, Device::Cpu)) * 3.0;
    for loss_type in [LossType::Sigmoid, LossType::Softmax] {
        config.loss_type = loss_type;
        let model = FusionModel::new(&nn::VarStore::new(Device::Cpu).root(), &config).unwrap();
        let expected = model.loss(&logits, &targets).double_value(&[]) / videos as f64;
        let probs = match loss_type {
            LossType::Sigmoid => logits.sigmoid(),
            LossType::Softmax => logits.softmax(1, Kind::Float),
        };
        let probs =
            Array2::from_shape_vec((videos, classes), Vec::<f32>::try_from(probs.flatten(0, -1)).unwrap()).unwrap();
        let got = loss_from_probs(probs.view(), &labels, loss_type);
        assert!(expected > 0.0 && (got - expected).abs() <= TOLERANCE * expected, "{loss_type:?}: {got} vs {expected}");
    }
}
