//! The exported ONNX graph, run by ONNX Runtime, equals the tch model's eval forward within 1e-5 (probs and both
//! attention outputs) for every variant the trainer supports, on batches with lengths 1..300, empty titles and
//! mixed lengths; the INT8 export of each variant stays within [`INT8_PROBS_TOLERANCE`] (probabilities) and
//! [`INT8_ATTENTION_TOLERANCE`] (attention weights) of it; `mvt-train export`
//! writes a file whose metadata reads back.

use mvt_formats::config::{
    Config, EncoderConfig, InferConfig, LossType, ModelConfig, PoolMode, TextEncoder, TrainConfig,
};
use mvt_formats::model_file::{read_model_metadata, ModelMetadata, Precision, Provenance};
use mvt_formats::tokenizer::TitleTokenizer;
use mvt_runtime::onnxruntime::Device as OrtDevice;
use mvt_trainer::batch::Batch;
use mvt_trainer::checkpoint;
use mvt_trainer::export::{build_graph, model_proto, ExportOptions, Weights};
use mvt_trainer::model::FusionModel;
use ort::session::builder::PrepackedWeights;
use ort::value::Tensor as OrtTensor;
use prost::Message;
use tch::{nn, Device, Kind, Tensor};

const TOLERANCE: f32 = 1e-5;
/// INT8 (dynamic quantization) against the f32 forward (docs/model-file.md "Precision"): the probabilities, and
/// the attention weights, which a softmax over up to 300 random-weight scores makes more sensitive.
const INT8_PROBS_TOLERANCE: f32 = 0.02;
const INT8_ATTENTION_TOLERANCE: f32 = 0.05;

fn small_config() -> ModelConfig {
    ModelConfig {
        num_classes: 7,
        rgb_dim: 12,
        audio_dim: 6,
        lstm_size_img: 8,
        lstm_size_audio: 5,
        drop_rate: 0.5,
        text_max_len: 16,
        pool_mode: PoolMode::TextGuide,
        use_rgb: true,
        use_audio: true,
        use_text: true,
        text_encoder: TextEncoder::Embedding { vocab_size: 50, dim: 10 },
        ernie_freeze: true,
        textcnn_windows: vec![2, 3, 4],
        textcnn_filters: 6,
        loss_type: LossType::Sigmoid,
    }
}

fn bert(hidden_act: &str) -> TextEncoder {
    TextEncoder::Pretrained(EncoderConfig {
        vocab_size: 60,
        hidden_size: 16,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 24,
        hidden_act: hidden_act.into(),
        max_position_embeddings: 40,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.1,
    })
}

/// libtorch's generator is global and the tests run in parallel: each test draws its model and batches under
/// this lock, so that its numbers (and the INT8 errors they give) do not depend on the scheduling.
static TCH_GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `config`'s [`random_model`] for `seed` and its [`batches`], drawn under [`TCH_GENERATOR`].
fn seeded_model_and_batches(config: &ModelConfig, seed: i64) -> (nn::VarStore, FusionModel, Vec<Batch>) {
    let _generator = TCH_GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (vs, model) = random_model(config, seed);
    (vs, model, batches(config))
}

/// A model with every parameter randomized (noise on top of the initialization, so that no default such as a
/// LayerNorm's 1 / 0 or a zero bias can hide a misplaced weight).
fn random_model(config: &ModelConfig, seed: i64) -> (nn::VarStore, FusionModel) {
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = FusionModel::new(&vs.root(), config).expect("model builds");
    tch::no_grad(|| {
        // In name order: `variables()` is a HashMap, and the noise must not depend on its iteration order.
        let mut variables: Vec<_> = vs.variables().into_iter().collect();
        variables.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, mut var) in variables {
            let noisy = &var + var.randn_like() * 0.1;
            var.copy_(&noisy);
        }
    });
    (vs, model)
}

/// A padded batch: features zero past each length, titles of `title_lens` ids (2 = an empty title).
fn batch(config: &ModelConfig, rgb_lens: &[i64], audio_lens: &[i64], title_lens: &[i64], seed: i64) -> Batch {
    tch::manual_seed(seed);
    let b = rgb_lens.len() as i64;
    let padded = |lens: &[i64], dim: usize| {
        let steps = *lens.iter().max().unwrap();
        let valid = Tensor::arange(steps, (Kind::Int64, Device::Cpu))
            .unsqueeze(0)
            .lt_tensor(&Tensor::from_slice(lens).unsqueeze(1));
        Tensor::randn([b, steps, dim as i64], (Kind::Float, Device::Cpu)) * valid.unsqueeze(2).to_kind(Kind::Float)
    };
    let vocab = match &config.text_encoder {
        TextEncoder::Embedding { vocab_size, .. } => *vocab_size,
        TextEncoder::Pretrained(c) => c.vocab_size,
    } as i64;
    let width = *title_lens.iter().max().unwrap();
    let mask = Tensor::arange(width, (Kind::Int64, Device::Cpu))
        .unsqueeze(0)
        .lt_tensor(&Tensor::from_slice(title_lens).unsqueeze(1));
    let ids = Tensor::randint_low(1, vocab, [b, width], (Kind::Int64, Device::Cpu)) * mask.to_kind(Kind::Int64);
    Batch {
        rgb: padded(rgb_lens, config.rgb_dim),
        rgb_len: Tensor::from_slice(rgb_lens),
        audio: padded(audio_lens, config.audio_dim),
        audio_len: Tensor::from_slice(audio_lens),
        text_ids: ids,
        text_mask: mask.to_kind(Kind::Int64),
        text_encoded: None,
    }
}

fn batches(config: &ModelConfig) -> Vec<Batch> {
    vec![
        // Mixed lengths 1..300, empty titles ([CLS] [SEP] only) next to full ones.
        batch(config, &[1, 300, 37, 150, 2], &[300, 1, 10, 77, 3], &[2, 16, 5, 2, 9], 11),
        // One video of one frame, one segment and an empty title.
        batch(config, &[1], &[1], &[2], 12),
        // No padding anywhere.
        batch(config, &[20, 20, 20], &[9, 9, 9], &[7, 7, 7], 13),
    ]
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(&t.contiguous().view(-1).to_kind(Kind::Float)).unwrap()
}

fn ints(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(&t.contiguous().view(-1)).unwrap()
}

/// probs, rgb_attention and audio_attention from ONNX Runtime for `model` (the file's bytes).
fn run_onnx(model: &[u8], batch: &Batch) -> [Vec<f32>; 3] {
    let runtime = mvt_runtime::onnxruntime::runtime(None).expect("ONNX Runtime loads (the .venv's onnxruntime)");
    let (mut session, _) =
        runtime.session(model, OrtDevice::Cpu, 1, &PrepackedWeights::new()).expect("ORT accepts the model");
    let f32_input = |t: &Tensor| OrtTensor::from_array((t.size(), values(t))).unwrap();
    let i64_input = |t: &Tensor| OrtTensor::from_array((t.size(), ints(t))).unwrap();
    let outputs = session
        .run(ort::inputs![
            "rgb" => f32_input(&batch.rgb),
            "rgb_len" => i64_input(&batch.rgb_len),
            "audio" => f32_input(&batch.audio),
            "audio_len" => i64_input(&batch.audio_len),
            "text_ids" => i64_input(&batch.text_ids),
            "text_mask" => i64_input(&batch.text_mask),
        ])
        .expect("ORT runs the model");
    ["probs", "rgb_attention", "audio_attention"]
        .map(|name| outputs[name].try_extract_tensor::<f32>().unwrap().1.to_vec())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Exports `config`'s random model in `precision` and compares ORT with tch on every batch within that
/// precision's bound.
fn check(name: &str, config: &ModelConfig, seed: i64, precision: Precision) {
    let tolerances = match precision {
        Precision::Fp32 => [TOLERANCE; 3],
        Precision::Int8 => [INT8_PROBS_TOLERANCE, INT8_ATTENTION_TOLERANCE, INT8_ATTENTION_TOLERANCE],
    };
    let (vs, model, batches) = seeded_model_and_batches(config, seed);
    let graph =
        build_graph(config, &Weights::new(vs.variables()), precision, &[]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
    let classes = (0..config.num_classes).map(|c| format!("class{c}")).collect();
    let provenance = Provenance {
        training_data: serde_json::Value::Null,
        epoch: None,
        validation_metrics: Default::default(),
        exporter_version: "test".into(),
    };
    let metadata = ModelMetadata::new(config.clone(), classes, 0.5, "{}".into(), provenance);
    let bytes = model_proto(graph, &metadata).encode_to_vec();
    let outputs = ["probs", "rgb_attention", "audio_attention"];
    let mut worst = [0f32; 3];
    for (i, batch) in batches.iter().enumerate() {
        let expected = tch::no_grad(|| model.forward(batch, false));
        let got = run_onnx(&bytes, batch);
        let expected = [&expected.probs, &expected.rgb_attention, &expected.audio_attention];
        for (k, output) in outputs.iter().enumerate() {
            let diff = max_abs_diff(&values(expected[k]), &got[k]);
            assert!(diff <= tolerances[k], "{name} ({precision}), batch {i}, {output}: max |tch - onnx| = {diff:e}");
            worst[k] = worst[k].max(diff);
        }
        // Attention is exactly 0 on padding in the exported graph too.
        for (attention, lens) in [(&got[1], &batch.rgb_len), (&got[2], &batch.audio_len)] {
            let steps = attention.len() / lens.size()[0] as usize;
            for (b, len) in ints(lens).into_iter().enumerate() {
                assert!(
                    attention[b * steps + len as usize..(b + 1) * steps].iter().all(|&a| a == 0.0),
                    "{name}: padding attention"
                );
            }
        }
    }
    println!("{name} ({precision}): max |tch - onnx| = {worst:?} ({outputs:?})");
}

#[test]
fn every_small_variant_matches_tch() {
    let base = small_config();
    let variants: Vec<(&str, ModelConfig)> = vec![
        ("text_guide, all branches, sigmoid", base.clone()),
        (
            "self, all branches, softmax",
            ModelConfig { pool_mode: PoolMode::SelfAttention, loss_type: LossType::Softmax, ..base.clone() },
        ),
        ("text_guide, image off", ModelConfig { use_rgb: false, ..base.clone() }),
        ("text_guide, audio off", ModelConfig { use_audio: false, ..base.clone() }),
        ("text_guide, text off the head", ModelConfig { use_text: false, ..base.clone() }),
        ("self, no text branch", ModelConfig { pool_mode: PoolMode::SelfAttention, use_text: false, ..base.clone() }),
        ("text only", ModelConfig { use_rgb: false, use_audio: false, ..base.clone() }),
        ("windows 1 and 5", ModelConfig { textcnn_windows: vec![5, 1], ..base.clone() }),
    ];
    for (i, (name, config)) in variants.iter().enumerate() {
        for precision in [Precision::Fp32, Precision::Int8] {
            check(name, config, 100 + i as i64, precision);
        }
    }
}

#[test]
fn pretrained_encoder_variants_match_tch() {
    let base = small_config();
    let variants = [
        ("bert relu, frozen, text_guide", ModelConfig { text_encoder: bert("relu"), ..base.clone() }),
        (
            "bert gelu, fine-tuned, self",
            ModelConfig {
                text_encoder: bert("gelu"),
                ernie_freeze: false,
                pool_mode: PoolMode::SelfAttention,
                ..base.clone()
            },
        ),
        (
            "bert gelu_new, text only",
            ModelConfig { text_encoder: bert("gelu_new"), use_rgb: false, use_audio: false, ..base.clone() },
        ),
    ];
    for (i, (name, config)) in variants.iter().enumerate() {
        for precision in [Precision::Fp32, Precision::Int8] {
            check(name, config, 200 + i as i64, precision);
        }
    }
}

#[test]
fn default_sequence_sizes_match_tch() {
    let config = ModelConfig {
        rgb_dim: 2048,
        audio_dim: 128,
        lstm_size_img: 512,
        lstm_size_audio: 128,
        textcnn_filters: 32,
        ..small_config()
    };
    for precision in [Precision::Fp32, Precision::Int8] {
        check("default sizes 2048/128, 512/128", &config, 300, precision);
    }
}

/// `mvt-train export` on a saved checkpoint: the file carries the checkpoint's metadata and computes its model.
#[test]
fn export_command_writes_a_self_describing_file() {
    let model_config = small_config();
    let (vs, model, batches) = seeded_model_and_batches(&model_config, 400);
    let dir = tempfile::tempdir().unwrap();
    let ckpt_dir = dir.path().join("ckpt");
    let config = Config {
        model: model_config.clone(),
        train: TrainConfig {
            epochs: 1,
            learning_rate: 7e-4,
            decay_gamma: 0.2,
            decay_epochs: vec![5],
            l2_weight_decay: 8e-4,
            batch_size: 4,
            valid_batch_size: 4,
            early_stop: 3,
            title_drop_rate: 0.0,
        },
        infer: InferConfig { threshold: 0.5, batch_size: 4 },
    };
    let vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..45).map(|i| format!("w{i}")))
        .collect();
    let tokenizer = TitleTokenizer::from_vocab(vocab, model_config.text_max_len).unwrap();
    let classes: Vec<String> = (0..model_config.num_classes).map(|c| format!("tag {c}")).collect();
    let provenance = checkpoint::Provenance {
        trainer: "mvt-train test".into(),
        data_dir: "data/tiny".into(),
        epoch: 3,
        seed: 7,
        val_loss: 1.25,
        val_hit_at_1: 0.5,
        val_hit_at_2: 0.75,
    };
    let contents = checkpoint::Contents {
        vs: &vs,
        config: &config,
        tokenizer: &tokenizer,
        classes: &classes,
        provenance: &provenance,
    };
    checkpoint::save(&ckpt_dir, &contents).unwrap();
    let out = dir.path().join("model.onnx");
    mvt_trainer::export::run(&ExportOptions {
        checkpoint: ckpt_dir.clone(),
        out: out.clone(),
        threshold: Some(0.3),
        precision: Precision::Fp32,
        keep_fp32: vec![],
    })
    .unwrap();

    let meta = read_model_metadata(&out).unwrap();
    assert_eq!(meta.classes, classes);
    assert_eq!(meta.threshold, 0.3);
    assert_eq!(meta.model_config, model_config);
    assert_eq!(meta.empty_audio_frames, 10);
    assert_eq!(meta.provenance.epoch, Some(3));
    assert_eq!(meta.provenance.validation_metrics["hit_at_1"], 0.5);
    assert_eq!(TitleTokenizer::from_json(&meta.tokenizer_json).unwrap().to_json(), tokenizer.to_json());

    let batch = &batches[0];
    let expected = tch::no_grad(|| model.forward(batch, false));
    let got = run_onnx(&std::fs::read(&out).unwrap(), batch);
    assert!(max_abs_diff(&values(&expected.probs), &got[0]) <= TOLERANCE);

    // A threshold outside [0, 1] is refused.
    let bad = ExportOptions {
        checkpoint: ckpt_dir,
        out: dir.path().join("bad.onnx"),
        threshold: Some(1.5),
        precision: Precision::Fp32,
        keep_fp32: vec![],
    };
    assert!(mvt_trainer::export::run(&bad).is_err());
}
