//! The typed configuration shared by the trainer, the exported model file and the library.
//!
//! `conf/conf.txt` (the original's INI file, read unchanged by `conf_txt`) maps onto [`Config`]; the
//! resolved [`ModelConfig`] travels inside every checkpoint and every exported model file as JSON.

use serde::{Deserialize, Serialize};

/// How a sequence (frames or audio segments) is pooled into one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// The original default: the text vector joins every step before the attention FC.
    TextGuide,
    /// FC(1) + softmax over the sequence alone (any other `lstm_pool_mode` in the original).
    SelfAttention,
}

/// The classifier's output nonlinearity (`loss_type` in the original).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossType {
    Sigmoid,
    Softmax,
}

/// BERT/ERNIE transformer hyper-parameters, deserialized from an HF `config.json` (extra fields ignored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    /// "relu" (ERNIE 1.0), "gelu" (erf form, BERT) or "gelu_new" / "gelu_pytorch_tanh" (tanh form).
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Dropout after the embeddings and each sub-layer, in training only (BERT and ERNIE 1.0: 0.1).
    #[serde(default = "default_encoder_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention probabilities, in training only.
    #[serde(default = "default_encoder_dropout")]
    pub attention_probs_dropout_prob: f64,
}

fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_encoder_dropout() -> f64 {
    0.1
}

/// What turns token ids into the sequence the TextCNN reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TextEncoder {
    /// A BERT-architecture transformer with pretrained weights (HF names under `text.encoder.`).
    Pretrained(EncoderConfig),
    /// A trainable token embedding over a vocabulary built from the training titles.
    Embedding { vocab_size: usize, dim: usize },
}

impl TextEncoder {
    /// Width of the sequence the TextCNN reads.
    pub fn output_dim(&self) -> usize {
        match self {
            TextEncoder::Pretrained(c) => c.hidden_size,
            TextEncoder::Embedding { dim, .. } => *dim,
        }
    }
}

/// Everything that fixes the fused model's graph and weights' shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub num_classes: usize,
    /// Per-frame image feature width (2048 in the original).
    pub rgb_dim: usize,
    /// Per-segment audio feature width (128 in the original).
    pub audio_dim: usize,
    /// Hidden size of each direction of the image LSTM (512).
    pub lstm_size_img: usize,
    /// Hidden size of each direction of the audio LSTM (128).
    pub lstm_size_audio: usize,
    /// Dropout probability after each branch (0.5).
    pub drop_rate: f64,
    /// Max token count of a title including [CLS] and [SEP] (50).
    pub text_max_len: usize,
    pub pool_mode: PoolMode,
    /// Branch switches for the ablations: a branch that is off is not in the final concat.
    pub use_rgb: bool,
    pub use_audio: bool,
    /// The text vector in the final concat (text-guided pooling may still use it when this is off).
    pub use_text: bool,
    pub text_encoder: TextEncoder,
    /// Freeze the pretrained encoder (`ernie_freeze`).
    pub ernie_freeze: bool,
    /// TextCNN window sizes (2, 3, 4) and filters per window (256).
    pub textcnn_windows: Vec<usize>,
    pub textcnn_filters: usize,
    pub loss_type: LossType,
}

impl ModelConfig {
    /// Whether the text branch (tokenizer, encoder, TextCNN) runs at all.
    pub fn needs_text(&self) -> bool {
        self.use_text || self.pool_mode == PoolMode::TextGuide
    }
    /// Width of the TextCNN's output vector.
    pub fn text_dim(&self) -> usize {
        self.textcnn_windows.len() * self.textcnn_filters
    }
}

/// The training recipe (`[TRAIN]` and `[VALID]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub learning_rate: f64,
    /// Learning-rate factor at each of `decay_epochs` (0.2).
    pub decay_gamma: f64,
    pub decay_epochs: Vec<usize>,
    pub l2_weight_decay: f64,
    pub batch_size: usize,
    pub valid_batch_size: usize,
    /// Stop after this many epochs without a validation Hit@1 improvement.
    pub early_stop: usize,
    /// Probability of blanking a whole title during training (the tutorial's "title drop").
    pub title_drop_rate: f64,
}

/// Inference settings (`[INFER]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InferConfig {
    pub threshold: f64,
    pub batch_size: usize,
}

/// The whole resolved configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub model: ModelConfig,
    pub train: TrainConfig,
    pub infer: InferConfig,
}
