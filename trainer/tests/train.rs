//! Training end to end on the `tiny` synthetic preset: it learns (well above chance, fused beats image-only),
//! equal seeds give identical runs, a run resumes after its last epoch (bitwise: tests/resume.rs), `eval` reports
//! every metric, and training
//! with the real pretrained MiniLM encoder (frozen, cached) runs.

use std::sync::{Mutex, MutexGuard};

use mvt_formats::config::PoolMode;
use mvt_trainer::checkpoint;
use mvt_trainer::history::{read_history, METRICS_FILE};
use mvt_trainer::train::{self, TrainSummary};

mod support;
use mvt_test_support::venv;
use support::{mvt_train, tiny_data, train_options};

/// libtorch's global RNG is shared by the test threads: one training at a time keeps runs reproducible.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn best_hit(summary: &TrainSummary) -> f64 {
    summary.history.iter().map(|r| r.val_hit_at_1).fold(0.0, f64::max)
}

#[test]
fn fused_model_learns_well_above_chance_and_beats_image_only() {
    let _guard = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let fused = train::run(&train_options(&dir.path().join("fused"), 6)).unwrap();
    let mut image_only = train_options(&dir.path().join("image"), 6);
    image_only.no_audio = true;
    image_only.no_text = true;
    image_only.pool_mode = Some(PoolMode::SelfAttention);
    let image_only = train::run(&image_only).unwrap();
    let (fused_hit, image_hit) = (best_hit(&fused), best_hit(&image_only));
    // 8 classes: chance is 1/8 (the most frequent class about 1/4).
    assert!(fused_hit > 0.6, "fused validation Hit@1 {fused_hit}");
    assert!(fused_hit > image_hit, "fused {fused_hit} <= image-only {image_hit}");
    // The best checkpoint is complete and named after its epoch and accuracy.
    let best = std::fs::canonicalize(dir.path().join("fused").join(checkpoint::BEST)).unwrap();
    let record = fused.history.iter().max_by(|a, b| a.val_hit_at_1.total_cmp(&b.val_hit_at_1)).unwrap();
    let name = best.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("AttentionLstmErnie_epoch"), "{name}");
    assert!(name.ends_with(&format!("_acc{:.1}", record.val_hit_at_1 * 100.0)), "{name}");
    for file in
        [checkpoint::WEIGHTS, checkpoint::CONFIG, checkpoint::TOKENIZER, checkpoint::CLASSES, checkpoint::PROVENANCE]
    {
        assert!(best.join(file).is_file(), "{file} missing");
    }
    assert!(dir.path().join("fused").join(train::CURVES_FILE).is_file());
}

#[test]
fn equal_seeds_give_identical_runs_and_a_run_resumes_after_its_checkpoint() {
    let _guard = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, title_drop: f64| {
        let mut a = train_options(&dir.path().join(name), 2);
        a.title_drop_rate = Some(title_drop);
        train::run(&a).unwrap()
    };
    let (first, second) = (run("a", 0.4), run("b", 0.4));
    let strip =
        |s: &TrainSummary| s.history.iter().map(|r| (r.train_loss, r.val_loss, r.val_hit_at_1)).collect::<Vec<_>>();
    assert_eq!(strip(&first), strip(&second));
    let weights =
        |name: &str| std::fs::read(dir.path().join(name).join(checkpoint::BEST).join(checkpoint::WEIGHTS)).unwrap();
    assert_eq!(weights("a"), weights("b"));
    // Another seed differs.
    let mut other = train_options(&dir.path().join("c"), 1);
    other.seed = 6;
    assert_ne!(strip(&train::run(&other).unwrap())[0], strip(&first)[0]);

    // Resume run "a" for one more epoch: it continues after its last completed epoch (2) and its history.
    let mut resume = train_options(&dir.path().join("a"), 3);
    resume.resume = Some(dir.path().join("a"));
    let resumed = train::run(&resume).unwrap();
    let epochs: Vec<usize> = resumed.history.iter().map(|r| r.epoch).collect();
    let expected: Vec<usize> = (1..=3).collect();
    assert_eq!(epochs, expected);
    let on_disk = read_history(&dir.path().join("a").join(METRICS_FILE)).unwrap();
    assert_eq!(on_disk.iter().map(|r| r.epoch).collect::<Vec<_>>(), expected);
    // Model options conflict with a checkpoint's settings.
    let mut conflicting = resume.clone();
    conflicting.no_text = true;
    assert!(train::run(&conflicting).is_err());
}

#[test]
fn eval_prints_loss_then_hit1_and_writes_every_metric() {
    let _guard = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    train::run(&train_options(dir.path(), 1)).unwrap();
    let report = dir.path().join("report.json");
    let out = mvt_train(&[
        "eval",
        "--device",
        "cpu",
        "--checkpoint",
        dir.path().to_str().unwrap(),
        "--data",
        tiny_data().to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    // After the split's load report: `loss: ...` then `Hit@1: ...`, like the original.
    let lines: Vec<&str> = stdout.lines().skip_while(|line| !line.starts_with("loss: ")).collect();
    assert!(lines.len() >= 2 && lines[1].starts_with("Hit@1: "), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for key in ["hit_at_1", "hit_at_2", "hit_at_3", "hit_at_5", "gap_at_20", "map", "perr", "loss"] {
        assert!(json[key].as_f64().is_some(), "{key} missing in {json}");
    }
    assert_eq!(json["per_class"].as_array().unwrap().len(), 8);
    assert_eq!(json["videos"], 100);
    // The report's Hit@1 is the one training recorded for this checkpoint.
    let ckpt = checkpoint::load(dir.path()).unwrap();
    assert!((json["hit_at_1"].as_f64().unwrap() - ckpt.provenance.val_hit_at_1).abs() < 1e-12);
    // A missing checkpoint is a clear error.
    let bad = mvt_train(&["eval", "--checkpoint", "/nonexistent", "--data", tiny_data().to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a checkpoint directory"));
}

#[test]
fn training_with_the_real_pretrained_encoder_frozen_runs_end_to_end() {
    let _guard = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let mut a = train_options(dir.path(), 2);
    a.encoder = Some(venv::minilm_dir());
    let summary = train::run(&a).unwrap();
    assert_eq!(summary.history.len(), 2);
    assert!(best_hit(&summary) > 0.3, "Hit@1 {}", best_hit(&summary));
    let ckpt = checkpoint::load(dir.path()).unwrap();
    assert!(ckpt.config.model.ernie_freeze);
    assert!(matches!(ckpt.config.model.text_encoder, mvt_formats::config::TextEncoder::Pretrained(_)));
    // The frozen encoder's weights are the pretrained ones, unchanged by training.
    let trained = tch::Tensor::read_safetensors(ckpt.dir.join(checkpoint::WEIGHTS)).unwrap();
    let pretrained = tch::Tensor::read_safetensors(venv::minilm_dir().join("model.safetensors")).unwrap();
    let word = |list: &[(String, tch::Tensor)], name: &str| {
        list.iter().find(|(n, _)| n == name).map(|(_, t)| t.shallow_clone()).unwrap()
    };
    let diff = (word(&trained, "text.encoder.embeddings.word_embeddings.weight")
        - word(&pretrained, "embeddings.word_embeddings.weight"))
    .abs()
    .max()
    .double_value(&[]);
    assert_eq!(diff, 0.0);
}
