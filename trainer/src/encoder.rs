//! The text encoder: title ids `[B, L]` -> sequence `[B, L, E]` for the TextCNN.
//!
//! Either a BERT/ERNIE-architecture post-LN transformer (docs/model.md) whose parameters carry HF `BertModel`
//! names under `text.encoder.` and load from an HF `model.safetensors`, or a trainable token embedding
//! (`text.embedding.weight`) over a vocabulary built from the training titles.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use mvt_formats::config::{EncoderConfig, TextEncoder};
use mvt_formats::tokenizer::TitleTokenizer;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// The VarStore prefix of the encoder's parameters (frozen ones are excluded from training).
pub const ENCODER_PREFIX: &str = "text.encoder.";

/// Initial scale of the trainable token embedding (tch's default is 1). RMSProp moves a weight by about the learning
/// rate per step whatever its scale, so at scale 1 the rarely seen title tokens barely moved in a short run: on the
/// `small` preset a text-only model reached 20% validation Hit@1 at scale 1 and 30% at 0.1 (ceiling 43), same
/// recipe. At 0.1 the TextCNN's inputs also start inside tanh's linear range instead of saturating it.
const EMBEDDING_INIT_STDEV: f64 = 0.1;

/// The files of an HF BERT directory that the trainer reads.
pub const CONFIG_FILE: &str = "config.json";
pub const VOCAB_FILE: &str = "vocab.txt";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The feed-forward nonlinearity, by its HF `hidden_act` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// ERNIE 1.0.
    Relu,
    /// BERT's exact (erf) GELU.
    Gelu,
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
}

impl Activation {
    pub fn from_hf_name(name: &str) -> Result<Self> {
        Ok(match name {
            "relu" => Activation::Relu,
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            other => bail!("encoder hidden_act `{other}` is not supported (relu, gelu, gelu_new, gelu_pytorch_tanh)"),
        })
    }

    fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Relu => x.relu(),
            Activation::Gelu => x.gelu("none"),
            Activation::GeluTanh => x.gelu("tanh"),
        }
    }
}

/// Rejects a config that could not build a working encoder.
fn check_config(config: &EncoderConfig) -> Result<Activation> {
    let activation = Activation::from_hf_name(&config.hidden_act)?;
    ensure!(
        config.num_attention_heads > 0 && config.hidden_size % config.num_attention_heads == 0,
        "encoder hidden_size {} is not a multiple of num_attention_heads {}",
        config.hidden_size,
        config.num_attention_heads
    );
    ensure!(config.type_vocab_size > 0, "encoder type_vocab_size must be at least 1");
    for (name, p) in [
        ("hidden_dropout_prob", config.hidden_dropout_prob),
        ("attention_probs_dropout_prob", config.attention_probs_dropout_prob),
    ] {
        ensure!((0.0..1.0).contains(&p), "encoder {name} must be within [0, 1), got {p}");
    }
    Ok(activation)
}

/// The encoder config and the matching tokenizer of an HF BERT directory (config.json + vocab.txt), checked
/// against each other: every token id has an embedding row, every position of a `max_len` title an embedding.
pub fn load_pretrained_config(dir: &Path, max_len: usize) -> Result<(TitleTokenizer, EncoderConfig)> {
    let config_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let config: EncoderConfig =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", config_path.display()))?;
    check_config(&config).with_context(|| format!("in {}", config_path.display()))?;
    let vocab_path = dir.join(VOCAB_FILE);
    let tokenizer = TitleTokenizer::from_vocab_file(&vocab_path, max_len)
        .with_context(|| format!("loading {}", vocab_path.display()))?;
    ensure!(
        tokenizer.vocab_size() <= config.vocab_size,
        "{} holds {} tokens but the encoder embeds only {} (vocab_size)",
        vocab_path.display(),
        tokenizer.vocab_size(),
        config.vocab_size
    );
    ensure!(
        max_len <= config.max_position_embeddings,
        "titles of {max_len} tokens exceed the encoder's {} positions",
        config.max_position_embeddings
    );
    Ok((tokenizer, config))
}

/// The HF name a safetensors entry maps to among our encoder parameters, or `None` for entries the encoder does
/// not use (pooler, task heads, the `position_ids` buffer). Accepts the `bert.` prefix of `BertFor*` checkpoints
/// and the old TensorFlow-converted `LayerNorm.gamma` / `.beta` names.
fn encoder_name(stored: &str) -> Option<String> {
    let name = stored.strip_prefix("bert.").unwrap_or(stored);
    if !(name.starts_with("embeddings.") || name.starts_with("encoder.")) || name == "embeddings.position_ids" {
        return None;
    }
    let renamed = if let Some(base) = name.strip_suffix("LayerNorm.gamma") {
        format!("{base}LayerNorm.weight")
    } else if let Some(base) = name.strip_suffix("LayerNorm.beta") {
        format!("{base}LayerNorm.bias")
    } else {
        name.to_owned()
    };
    Some(renamed)
}

/// Copies an HF `model.safetensors` (in `dir`) into the model's `text.encoder.` parameters. Every encoder
/// parameter must be present with its exact shape, and the file must hold no encoder tensor the model lacks
/// (e.g. more layers than the config says); the pooler and task heads are skipped.
pub fn load_pretrained_weights(vs: &nn::VarStore, dir: &Path) -> Result<()> {
    let path = dir.join(WEIGHTS_FILE);
    let mut stored: HashMap<String, Tensor> = HashMap::new();
    for (name, tensor) in Tensor::read_safetensors(&path).with_context(|| format!("reading {}", path.display()))? {
        if let Some(key) = encoder_name(&name) {
            ensure!(stored.insert(key.clone(), tensor).is_none(), "{} holds `{key}` twice", path.display());
        }
    }
    let targets: HashMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .filter_map(|(name, tensor)| name.strip_prefix(ENCODER_PREFIX).map(|key| (key.to_owned(), tensor)))
        .collect();
    ensure!(!targets.is_empty(), "the model has no pretrained text encoder to load {} into", path.display());
    let missing: BTreeSet<&String> = targets.keys().filter(|k| !stored.contains_key(*k)).collect();
    ensure!(missing.is_empty(), "{} lacks encoder tensors: {missing:?}", path.display());
    let unexpected: BTreeSet<&String> = stored.keys().filter(|k| !targets.contains_key(*k)).collect();
    ensure!(
        unexpected.is_empty(),
        "{} holds encoder tensors the config does not describe: {unexpected:?}",
        path.display()
    );
    for (key, target) in &targets {
        let source = &stored[key];
        ensure!(
            source.size() == target.size(),
            "{}: `{key}` has shape {:?}, the config needs {:?}",
            path.display(),
            source.size(),
            target.size()
        );
        let mut target = target.shallow_clone();
        tch::no_grad(|| target.copy_(&source.to_kind(target.kind()).to_device(target.device())));
    }
    Ok(())
}

fn bert_linear(p: nn::Path, input: usize, output: usize) -> nn::Linear {
    // BERT's initialization; pretrained weights overwrite it.
    let config = nn::LinearConfig {
        ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.02 },
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    nn::linear(p, input as i64, output as i64, config)
}

fn bert_embedding(p: nn::Path, rows: usize, dim: usize) -> nn::Embedding {
    let config = nn::EmbeddingConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.02 }, ..Default::default() };
    nn::embedding(p, rows as i64, dim as i64, config)
}

fn bert_layer_norm(p: nn::Path, config: &EncoderConfig) -> nn::LayerNorm {
    let ln = nn::LayerNormConfig { eps: config.layer_norm_eps, ..Default::default() };
    nn::layer_norm(p, vec![config.hidden_size as i64], ln)
}

/// One post-LN transformer layer (HF `encoder.layer.{i}`).
#[derive(Debug)]
struct Layer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attention_output: nn::Linear,
    attention_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    output_norm: nn::LayerNorm,
}

impl Layer {
    fn new(p: nn::Path, config: &EncoderConfig) -> Self {
        let (h, inner) = (config.hidden_size, config.intermediate_size);
        let attention = &p / "attention";
        Layer {
            query: bert_linear(&attention / "self" / "query", h, h),
            key: bert_linear(&attention / "self" / "key", h, h),
            value: bert_linear(&attention / "self" / "value", h, h),
            attention_output: bert_linear(&attention / "output" / "dense", h, h),
            attention_norm: bert_layer_norm(&attention / "output" / "LayerNorm", config),
            intermediate: bert_linear(&p / "intermediate" / "dense", h, inner),
            output: bert_linear(&p / "output" / "dense", inner, h),
            output_norm: bert_layer_norm(&p / "output" / "LayerNorm", config),
        }
    }
}

/// The BERT/ERNIE transformer (HF `BertModel` without the pooler).
#[derive(Debug)]
pub struct Bert {
    word_embeddings: nn::Embedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: nn::Embedding,
    embedding_norm: nn::LayerNorm,
    layers: Vec<Layer>,
    activation: Activation,
    heads: i64,
    hidden_dropout: f64,
    attention_dropout: f64,
}

impl Bert {
    /// Parameters under `p` with HF `BertModel` names (`embeddings.…`, `encoder.layer.{i}.…`).
    pub fn new(p: &nn::Path, config: &EncoderConfig) -> Result<Self> {
        let activation = check_config(config)?;
        let (h, embeddings) = (config.hidden_size, p / "embeddings");
        Ok(Bert {
            word_embeddings: bert_embedding(&embeddings / "word_embeddings", config.vocab_size, h),
            position_embeddings: bert_embedding(&embeddings / "position_embeddings", config.max_position_embeddings, h),
            token_type_embeddings: bert_embedding(&embeddings / "token_type_embeddings", config.type_vocab_size, h),
            embedding_norm: bert_layer_norm(&embeddings / "LayerNorm", config),
            layers: (0..config.num_hidden_layers).map(|i| Layer::new(p / "encoder" / "layer" / i, config)).collect(),
            activation,
            heads: config.num_attention_heads as i64,
            hidden_dropout: config.hidden_dropout_prob,
            attention_dropout: config.attention_probs_dropout_prob,
        })
    }

    /// `ids` [B, L] (L <= max_position_embeddings), `mask` [B, L] 1 on real tokens -> [B, L, hidden].
    /// Sentence ids are all 0 and positions 0..L, as in the original's single-title input.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let positions = Tensor::arange(ids.size()[1], (Kind::Int64, ids.device()));
        let embedded = ids.apply(&self.word_embeddings)
            + positions.apply(&self.position_embeddings)
            + self.token_type_embeddings.ws.get(0);
        // (1 - m) * -10000 on the keys: a padded key's weight underflows to exactly 0 beside any real one.
        let additive_mask = ((mask.to_kind(embedded.kind()) - 1.0) * 10000.0).unsqueeze(1).unsqueeze(1);
        let mut x = embedded.apply(&self.embedding_norm).dropout(self.hidden_dropout, train);
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &additive_mask, train);
        }
        x
    }

    fn layer_forward(&self, layer: &Layer, x: &Tensor, additive_mask: &Tensor, train: bool) -> Tensor {
        let (b, l, h) = x.size3().expect("encoder activations are [B, L, hidden]");
        let head_dim = h / self.heads;
        let split_heads = |t: Tensor| t.view([b, l, self.heads, head_dim]).transpose(1, 2);
        let q = split_heads(x.apply(&layer.query));
        let k = split_heads(x.apply(&layer.key));
        let v = split_heads(x.apply(&layer.value));
        let scores = q.matmul(&k.transpose(-1, -2)) / (head_dim as f64).sqrt() + additive_mask;
        let weights = scores.softmax(-1, scores.kind()).dropout(self.attention_dropout, train);
        let context = weights.matmul(&v).transpose(1, 2).contiguous().view([b, l, h]);
        let attended = context.apply(&layer.attention_output).dropout(self.hidden_dropout, train);
        let x = (attended + x).apply(&layer.attention_norm);
        let inner = self.activation.apply(&x.apply(&layer.intermediate));
        let out = inner.apply(&layer.output).dropout(self.hidden_dropout, train);
        (out + x).apply(&layer.output_norm)
    }
}

/// What the fusion model calls: one of the two encoders, built from the config's [`TextEncoder`].
#[derive(Debug)]
pub enum TextEncoderModule {
    /// `text.encoder.…` (HF names).
    Pretrained(Box<Bert>),
    /// `text.embedding.weight` [V, E].
    Embedding(nn::Embedding),
}

impl TextEncoderModule {
    /// `p` is the text branch's root (`text`): the transformer lives under `p/encoder`, the embedding under
    /// `p/embedding`.
    pub fn new(p: &nn::Path, encoder: &TextEncoder) -> Result<Self> {
        Ok(match encoder {
            TextEncoder::Pretrained(config) => {
                TextEncoderModule::Pretrained(Box::new(Bert::new(&(p / "encoder"), config)?))
            }
            TextEncoder::Embedding { vocab_size, dim } => {
                ensure!(*vocab_size > 0 && *dim > 0, "the token embedding needs a vocabulary and a width");
                TextEncoderModule::Embedding(nn::embedding(
                    p / "embedding",
                    *vocab_size as i64,
                    *dim as i64,
                    nn::EmbeddingConfig {
                        ws_init: nn::Init::Randn { mean: 0.0, stdev: EMBEDDING_INIT_STDEV },
                        ..Default::default()
                    },
                ))
            }
        })
    }

    /// `ids`, `mask` [B, L] -> [B, L, E]. Dropout (pretrained encoder only) acts when `train`. Rows past each
    /// title's end are not zeroed here: the caller masks them.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        match self {
            TextEncoderModule::Pretrained(bert) => bert.forward(ids, mask, train),
            TextEncoderModule::Embedding(embedding) => embedding.forward(ids),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn tiny_config() -> EncoderConfig {
        serde_json::from_str(
            r#"{"vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
                "intermediate_size": 16, "hidden_act": "relu", "max_position_embeddings": 12}"#,
        )
        .unwrap()
    }

    fn model(config: &EncoderConfig) -> (nn::VarStore, TextEncoderModule) {
        let vs = nn::VarStore::new(Device::Cpu);
        let module = TextEncoderModule::new(&(vs.root() / "text"), &TextEncoder::Pretrained(config.clone())).unwrap();
        (vs, module)
    }

    fn batch() -> (Tensor, Tensor) {
        let ids = Tensor::from_slice(&[2i64, 7, 9, 3, 0, 0, 2, 5, 3, 0, 0, 0]).view([2, 6]);
        let mask = ids.ne(0).to_kind(Kind::Int64);
        (ids, mask)
    }

    /// The tiny model's encoder tensors saved as an HF checkpoint would hold them (`bert.` prefix, a pooler,
    /// the position_ids buffer), with `edit` applied to the list first.
    fn save_hf(vs: &nn::VarStore, dir: &Path, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) {
        let mut tensors: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(name, t)| (format!("bert.{}", name.strip_prefix(ENCODER_PREFIX).unwrap()), t))
            .collect();
        tensors.push(("bert.pooler.dense.weight".into(), Tensor::zeros([8, 8], (Kind::Float, Device::Cpu))));
        tensors.push(("bert.embeddings.position_ids".into(), Tensor::arange(12, (Kind::Int64, Device::Cpu))));
        edit(&mut tensors);
        Tensor::write_safetensors(&tensors, dir.join(WEIGHTS_FILE)).unwrap();
    }

    #[test]
    fn hf_checkpoint_round_trip_and_clear_errors() {
        let config = tiny_config();
        let (source_vs, source) = model(&config);
        let (target_vs, target) = model(&config);
        let dir = tempfile::tempdir().unwrap();
        let (ids, mask) = batch();

        save_hf(&source_vs, dir.path(), |_| {});
        load_pretrained_weights(&target_vs, dir.path()).unwrap();
        let diff = (source.forward(&ids, &mask, false) - target.forward(&ids, &mask, false)).abs().max();
        assert_eq!(diff.double_value(&[]), 0.0);

        let error = |edit: fn(&mut Vec<(String, Tensor)>)| {
            save_hf(&source_vs, dir.path(), edit);
            format!("{:#}", load_pretrained_weights(&target_vs, dir.path()).unwrap_err())
        };
        let missing = error(|t| t.retain(|(n, _)| n != "bert.encoder.layer.1.output.dense.bias"));
        assert!(missing.contains("lacks") && missing.contains("encoder.layer.1.output.dense.bias"), "{missing}");
        let misshaped = error(|t| {
            let at = t.iter().position(|(n, _)| n == "bert.embeddings.word_embeddings.weight").unwrap();
            t[at].1 = Tensor::zeros([21, 8], (Kind::Float, Device::Cpu));
        });
        assert!(misshaped.contains("word_embeddings.weight") && misshaped.contains("[21, 8]"), "{misshaped}");
        let extra = error(|t| {
            t.push(("encoder.layer.2.output.dense.bias".into(), Tensor::zeros([8], (Kind::Float, Device::Cpu))))
        });
        assert!(extra.contains("encoder.layer.2.output.dense.bias"), "{extra}");
    }

    #[test]
    fn tensorflow_layer_norm_names_are_accepted() {
        assert_eq!(encoder_name("bert.embeddings.LayerNorm.gamma").unwrap(), "embeddings.LayerNorm.weight");
        assert_eq!(
            encoder_name("encoder.layer.3.output.LayerNorm.beta").unwrap(),
            "encoder.layer.3.output.LayerNorm.bias"
        );
        assert_eq!(
            encoder_name("bert.encoder.layer.0.attention.self.query.beta").unwrap(),
            "encoder.layer.0.attention.self.query.beta"
        );
        assert_eq!(encoder_name("bert.pooler.dense.bias"), None);
        assert_eq!(encoder_name("cls.predictions.bias"), None);
    }

    #[test]
    fn padding_never_changes_real_tokens_and_dropout_only_trains() {
        let (_vs, encoder) = model(&tiny_config());
        let (ids, mask) = batch();
        let padded = encoder.forward(&ids, &mask, false);
        let alone = encoder.forward(&ids.narrow(1, 0, 3).narrow(0, 1, 1), &mask.narrow(1, 0, 3).narrow(0, 1, 1), false);
        let diff = (padded.narrow(0, 1, 1).narrow(1, 0, 3) - alone).abs().max().double_value(&[]);
        assert!(diff <= 1e-6, "padding moved real tokens by {diff}");
        assert!(encoder.forward(&ids, &mask, false).equal(&padded));
        tch::manual_seed(1);
        assert!(!encoder.forward(&ids, &mask, true).equal(&padded));
    }

    #[test]
    fn bad_configs_are_errors() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut config = tiny_config();
        config.hidden_act = "swish".into();
        let err = TextEncoderModule::new(&vs.root(), &TextEncoder::Pretrained(config)).unwrap_err();
        assert!(err.to_string().contains("swish"));
        let mut config = tiny_config();
        config.num_attention_heads = 3;
        assert!(TextEncoderModule::new(&vs.root(), &TextEncoder::Pretrained(config)).is_err());
        assert!(TextEncoderModule::new(&vs.root(), &TextEncoder::Embedding { vocab_size: 0, dim: 4 }).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(load_pretrained_config(dir.path(), 50).unwrap_err().to_string().contains(CONFIG_FILE));
    }

    #[test]
    fn embedding_encoder_looks_up_rows() {
        let vs = nn::VarStore::new(Device::Cpu);
        let encoder =
            TextEncoderModule::new(&(vs.root() / "text"), &TextEncoder::Embedding { vocab_size: 10, dim: 4 }).unwrap();
        let weight = vs.variables()["text.embedding.weight"].shallow_clone();
        let (ids, mask) = (Tensor::from_slice(&[3i64, 0]).view([1, 2]), Tensor::from_slice(&[1i64, 0]).view([1, 2]));
        let out = encoder.forward(&ids, &mask, true);
        assert!(out.get(0).get(0).equal(&weight.get(3)));
        assert_eq!(out.size(), [1, 2, 4]);
    }
}
