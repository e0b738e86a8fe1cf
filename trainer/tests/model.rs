//! The fusion model's padding invariance: a video's outputs alone equal its outputs inside a batch of longer
//! videos (and longer titles), for both pooling modes and both text encoders; attention is exactly 0 on padding.

use mvt_formats::config::{EncoderConfig, LossType, ModelConfig, PoolMode, TextEncoder};
use mvt_formats::dataset::Video;
use mvt_trainer::batch::Batch;
use mvt_trainer::model::{FusionModel, Output};
use ndarray::Array2;
use tch::{nn, Device, Kind, Tensor};

const RGB_DIM: usize = 12;
const AUDIO_DIM: usize = 5;

fn config(pool_mode: PoolMode, text_encoder: TextEncoder) -> ModelConfig {
    ModelConfig {
        num_classes: 6,
        rgb_dim: RGB_DIM,
        audio_dim: AUDIO_DIM,
        lstm_size_img: 7,
        lstm_size_audio: 4,
        drop_rate: 0.5,
        text_max_len: 12,
        pool_mode,
        use_rgb: true,
        use_audio: true,
        use_text: true,
        text_encoder,
        ernie_freeze: true,
        textcnn_windows: vec![2, 3, 4],
        textcnn_filters: 5,
        loss_type: LossType::Sigmoid,
    }
}

fn tiny_bert() -> TextEncoder {
    let config: EncoderConfig = serde_json::from_str(
        r#"{"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 16, "hidden_act": "gelu", "max_position_embeddings": 16}"#,
    )
    .unwrap();
    TextEncoder::Pretrained(config)
}

/// A video with `frames` image frames and `segments` audio segments of deterministic pseudo-random values.
fn video(seed: u64, frames: usize, segments: usize) -> Video {
    let value = |i: usize| (((seed as usize * 7919 + i * 104729) % 1000) as f32 / 500.0) - 1.0;
    Video {
        line: seed as usize + 1,
        name: format!("v{seed}"),
        title: String::new(),
        labels: vec![seed as usize % 6],
        rgb: Array2::from_shape_fn((frames, RGB_DIM), |(t, d)| value(t * RGB_DIM + d)),
        audio: Array2::from_shape_fn((segments, AUDIO_DIM), |(t, d)| value(1000 + t * AUDIO_DIM + d)),
    }
}

fn run(model: &FusionModel, videos: &[&Video], titles: &[&[i64]]) -> Output {
    let batch = Batch::new(videos, titles, 0, Device::Cpu).unwrap();
    tch::no_grad(|| model.forward(&batch, false))
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Padding zeros still move an LSTM state (through its biases), so equality also proves that the backward
/// direction starts at each video's own last frame.
fn check_padding_invariance(pool_mode: PoolMode, text_encoder: TextEncoder) {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = FusionModel::new(&vs.root(), &config(pool_mode, text_encoder)).unwrap();
    let short = video(1, 3, 2);
    let long = [video(2, 9, 7), video(3, 6, 11)];
    let short_title: &[i64] = &[2, 7, 9, 3];
    let long_titles: [&[i64]; 2] = [&[2, 5, 6, 7, 8, 9, 10, 11, 3], &[2, 3]];

    let alone = run(&model, &[&short], &[short_title]);
    let mixed = run(&model, &[&long[0], &short, &long[1]], &[long_titles[0], short_title, long_titles[1]]);
    let (rgb_steps, audio_steps) = (short.rgb.nrows() as i64, short.audio.nrows() as i64);
    for (what, a, b) in [
        ("logits", alone.logits.get(0), mixed.logits.get(1)),
        ("probs", alone.probs.get(0), mixed.probs.get(1)),
        ("rgb attention", alone.rgb_attention.get(0), mixed.rgb_attention.get(1).narrow(0, 0, rgb_steps)),
        ("audio attention", alone.audio_attention.get(0), mixed.audio_attention.get(1).narrow(0, 0, audio_steps)),
    ] {
        let diff = max_diff(&a, &b);
        assert!(diff <= 1e-6, "{pool_mode:?}: {what} alone vs in a batch differ by {diff}");
    }
    // Attention is a distribution over the real steps and exactly 0 on padding.
    let padding = mixed.rgb_attention.get(1).narrow(0, rgb_steps, mixed.rgb_attention.size()[1] - rgb_steps);
    assert_eq!(padding.abs().max().double_value(&[]), 0.0);
    let total = mixed.audio_attention.sum_dim_intlist([1].as_slice(), false, Kind::Float);
    assert!(max_diff(&total, &Tensor::ones([3], (Kind::Float, Device::Cpu))) < 1e-6);
}

#[test]
fn embedding_encoder_text_guided_is_padding_invariant() {
    check_padding_invariance(PoolMode::TextGuide, TextEncoder::Embedding { vocab_size: 30, dim: 6 });
}

#[test]
fn embedding_encoder_self_attention_is_padding_invariant() {
    check_padding_invariance(PoolMode::SelfAttention, TextEncoder::Embedding { vocab_size: 30, dim: 6 });
}

#[test]
fn pretrained_encoder_text_guided_is_padding_invariant() {
    check_padding_invariance(PoolMode::TextGuide, tiny_bert());
}

#[test]
fn pretrained_encoder_self_attention_is_padding_invariant() {
    check_padding_invariance(PoolMode::SelfAttention, tiny_bert());
}

#[test]
fn switched_off_branches_leave_zero_attention_and_a_narrower_head() {
    tch::manual_seed(4);
    let vs = nn::VarStore::new(Device::Cpu);
    let mut cfg = config(PoolMode::SelfAttention, TextEncoder::Embedding { vocab_size: 30, dim: 6 });
    cfg.use_rgb = false;
    cfg.use_text = false;
    let model = FusionModel::new(&vs.root(), &cfg).unwrap();
    let names = vs.variables();
    assert!(!names.keys().any(|n| n.starts_with("rgb.") || n.starts_with("text.")), "{:?}", names.keys());
    assert_eq!(names["head.weight"].size(), [6, 2 * 4]);
    let v = video(5, 4, 3);
    let out = run(&model, &[&v], &[&[2, 3]]);
    assert_eq!(out.rgb_attention.abs().max().double_value(&[]), 0.0);
    assert_eq!(out.rgb_attention.size(), [1, 4]);
}

#[test]
fn parameter_names_follow_the_model_document() {
    let vs = nn::VarStore::new(Device::Cpu);
    FusionModel::new(&vs.root(), &config(PoolMode::TextGuide, TextEncoder::Embedding { vocab_size: 30, dim: 6 }))
        .unwrap();
    let shapes: std::collections::HashMap<String, Vec<i64>> =
        vs.variables().into_iter().map(|(n, t)| (n, t.size())).collect();
    let expect = |name: &str, shape: &[i64]| assert_eq!(shapes.get(name).map(Vec::as_slice), Some(shape), "{name}");
    expect("text.embedding.weight", &[30, 6]);
    for k in [2, 3, 4] {
        expect(&format!("text.conv{k}.weight"), &[5, 6, k]);
        expect(&format!("text.conv{k}.bias"), &[5]);
    }
    for (p, h, d) in [("rgb", 7, RGB_DIM as i64), ("audio", 4, AUDIO_DIM as i64)] {
        for suffix in ["", "_reverse"] {
            expect(&format!("{p}.lstm.weight_ih_l0{suffix}"), &[4 * h, d]);
            expect(&format!("{p}.lstm.weight_hh_l0{suffix}"), &[4 * h, h]);
            expect(&format!("{p}.lstm.bias_ih_l0{suffix}"), &[4 * h]);
            expect(&format!("{p}.lstm.bias_hh_l0{suffix}"), &[4 * h]);
        }
        expect(&format!("{p}.att.weight"), &[2 * h, 2 * h + 15]);
        expect(&format!("{p}.att.bias"), &[2 * h]);
        expect(&format!("{p}.score.weight"), &[1, 2 * h]);
        expect(&format!("{p}.score.bias"), &[1]);
    }
    expect("head.weight", &[6, 14 + 8 + 15]);
    expect("head.bias", &[6]);
    assert_eq!(shapes.len(), 1 + 6 + 2 * (8 + 4) + 2);
}
