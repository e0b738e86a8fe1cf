//! The mvt model file: one ONNX file whose `metadata_props` carry everything a deployment needs besides the
//! graph (classes, threshold, tokenizer, feature dims, the empty-audio rule, the model config, provenance).
//!
//! This module is the schema shared by the exporter (which writes [`ModelMetadata::to_props`] and
//! [`input_signature`] / [`output_signature`]) and the library (which checks a file with [`read_model_metadata`]
//! before ONNX Runtime sees it). docs/model-file.md describes the same keys for people.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{ModelConfig, TextEncoder};
use crate::onnx::{
    raw_fields, DataType, Dim, GraphSignature, ModelHeader, ModelProto, OnnxError, StringStringEntryProto,
    ValueInfoProto,
};
use crate::tokenizer::TitleTokenizer;

/// The file-format version this build writes and reads. 2: files carry `mvt.digest` (version 1 files had none).
pub const FORMAT_VERSION: u32 = 2;

/// The `metadata_props` keys.
pub mod keys {
    pub const FORMAT_VERSION: &str = "mvt.format_version";
    pub const CLASSES: &str = "mvt.classes";
    pub const THRESHOLD: &str = "mvt.threshold";
    pub const TOKENIZER: &str = "mvt.tokenizer";
    pub const TEXT_MAX_LEN: &str = "mvt.text_max_len";
    pub const RGB_DIM: &str = "mvt.rgb_dim";
    pub const AUDIO_DIM: &str = "mvt.audio_dim";
    pub const EMPTY_AUDIO_FRAMES: &str = "mvt.empty_audio_frames";
    pub const MODEL_CONFIG: &str = "mvt.model_config";
    pub const PROVENANCE: &str = "mvt.provenance";
    pub const DIGEST: &str = "mvt.digest";
    pub const PRECISION: &str = "mvt.precision";
    pub const QUANTIZATION: &str = "mvt.quantization";
}

/// The arithmetic of the graph's weight products (`mvt.precision`; files without the key are fp32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Every weight and activation in f32: the trainer's arithmetic to about 1e-6.
    #[default]
    Fp32,
    /// Dynamic quantization: int8 weights (symmetric, one scale per output channel) and uint8 activations
    /// quantized per tensor at run time, for every weight product (docs/model-file.md "Precision").
    Int8,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Int8 => "int8",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Precision::Fp32, Precision::Int8].into_iter().find(|p| p.as_str() == text)
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest values a model file may declare. Each number in the metadata sizes something the library
/// allocates or loops over (padded batches, class lists, tokenizer tables), so each has a ceiling far above any
/// real model (the original: 2048-d frames, 128-d audio, 512 / 128 LSTMs, 768-wide ERNIE with 18000 tokens and
/// 513 positions, 50-token titles, ~100s of classes) but low enough that a corrupted or hostile number fails
/// here with its key named, instead of asking for terabytes on the first video.
pub mod limits {
    /// The model file itself: the protobuf limit (2 GiB - 1), checked on the file's size before reading.
    pub const MAX_MODEL_FILE_BYTES: u64 = crate::onnx::MAX_FILE_BYTES;
    /// `mvt.rgb_dim`, `mvt.audio_dim`: features per frame / audio segment.
    pub const MAX_FEATURE_DIM: usize = 65_536;
    /// Every other width of the model config: LSTM sizes, encoder hidden and feed-forward sizes, TextCNN filters,
    /// embedding width.
    pub const MAX_WIDTH: usize = 65_536;
    /// `mvt.classes` (and the config's `num_classes`).
    pub const MAX_CLASSES: usize = 100_000;
    /// One class name, in UTF-8 bytes.
    pub const MAX_CLASS_NAME_BYTES: usize = 1024;
    /// `mvt.text_max_len`: BERT/ERNIE's 512 positions.
    pub const MAX_TEXT_MAX_LEN: usize = 512;
    /// `mvt.empty_audio_frames`: the library's largest `max_frames` (mvt-runtime `limits::MAX_FRAMES`, 24 hours at
    /// one frame per second); `Model::load` also refuses more than its own `max_frames`.
    pub const MAX_EMPTY_AUDIO_FRAMES: usize = 86_400;
    /// Tokenizer vocabulary and the encoder's `vocab_size` (the largest real vocabularies have ~250k tokens).
    pub const MAX_VOCAB_SIZE: usize = 1_000_000;
    /// Encoder layers and `max_position_embeddings` / `type_vocab_size`.
    pub const MAX_LAYERS: usize = 1024;
    pub const MAX_POSITIONS: usize = 65_536;
    /// TextCNN windows (how many, and each one's size is at most `MAX_TEXT_MAX_LEN`).
    pub const MAX_TEXTCNN_WINDOWS: usize = 64;
}

/// Where a model came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The training data as the trainer recorded it (dataset directory, split sizes, ...).
    #[serde(default)]
    pub training_data: serde_json::Value,
    /// The epoch after which the exported checkpoint was saved.
    #[serde(default)]
    pub epoch: Option<usize>,
    /// Validation metrics of that checkpoint (name -> value), as the trainer recorded them.
    #[serde(default)]
    pub validation_metrics: BTreeMap<String, f64>,
    /// The program that wrote the file, e.g. "mvt-train 0.1.0".
    pub exporter_version: String,
}

/// Everything an mvt model file says about itself, decoded and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMetadata {
    /// Class names in output order (`probs[:, i]` is `classes[i]`).
    pub classes: Vec<String>,
    /// The default decision threshold on `probs`.
    pub threshold: f64,
    /// The tokenizer as `tokenizer.json` text (the `tokenizers` crate's format).
    pub tokenizer_json: String,
    /// Max tokens of a title including [CLS] and [SEP].
    pub text_max_len: usize,
    pub rgb_dim: usize,
    pub audio_dim: usize,
    /// A video without audio features gets this many zero rows.
    pub empty_audio_frames: usize,
    pub model_config: ModelConfig,
    pub provenance: Provenance,
    /// `mvt.precision`.
    pub precision: Precision,
    /// `mvt.quantization`: how a quantized graph was made, in words (`None` for fp32).
    pub quantization: Option<String>,
}

/// Why a file is not a usable mvt model.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error(transparent)]
    Onnx(#[from] OnnxError),
    #[error(
        "not an mvt model: the ONNX file has no `{}` metadata (was it exported by `mvt-train export`?)",
        keys::FORMAT_VERSION
    )]
    NotMvtModel,
    #[error("unsupported mvt model format version {found:?} (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion { found: String },
    #[error("the mvt model file has no `{0}` metadata")]
    MissingKey(&'static str),
    /// `source`: the JSON error, when the value did not parse.
    #[error("invalid `{key}` metadata: {reason}")]
    InvalidKey { key: &'static str, reason: String, source: Option<serde_json::Error> },
    #[error("the model graph does not match the mvt model signature: {0}")]
    Signature(String),
    #[error("the `{}` metadata is given more than once", shown(.0))]
    DuplicateKey(String),
    #[error(
        "the mvt model file has no `{}` metadata, so its integrity cannot be checked (re-export it with `mvt-train export`)",
        keys::DIGEST
    )]
    NoDigest,
    /// A byte of the file changed after export: the graph, a weight or a metadata value.
    #[error("{path}: the model file is corrupted (digest mismatch: stored {}, computed {computed})", shown(.stored))]
    Corrupted { path: String, stored: String, computed: String },
}

impl ModelMetadata {
    /// Build the metadata of a model from its config; the classes, tokenizer and provenance come from training.
    pub fn new(
        model_config: ModelConfig,
        classes: Vec<String>,
        threshold: f64,
        tokenizer_json: String,
        provenance: Provenance,
    ) -> Self {
        Self {
            text_max_len: model_config.text_max_len,
            rgb_dim: model_config.rgb_dim,
            audio_dim: model_config.audio_dim,
            empty_audio_frames: crate::feature_file::EMPTY_AUDIO_FRAMES,
            classes,
            threshold,
            tokenizer_json,
            model_config,
            provenance,
            precision: Precision::Fp32,
            quantization: None,
        }
    }

    /// The `metadata_props` entries, in a fixed order.
    pub fn to_props(&self) -> Vec<(String, String)> {
        [
            (keys::FORMAT_VERSION, FORMAT_VERSION.to_string()),
            (keys::CLASSES, to_json(&self.classes)),
            (keys::THRESHOLD, self.threshold.to_string()),
            (keys::TOKENIZER, self.tokenizer_json.clone()),
            (keys::TEXT_MAX_LEN, self.text_max_len.to_string()),
            (keys::RGB_DIM, self.rgb_dim.to_string()),
            (keys::AUDIO_DIM, self.audio_dim.to_string()),
            (keys::EMPTY_AUDIO_FRAMES, self.empty_audio_frames.to_string()),
            (keys::MODEL_CONFIG, to_json(&self.model_config)),
            (keys::PROVENANCE, to_json(&self.provenance)),
            (keys::PRECISION, self.precision.to_string()),
        ]
        .into_iter()
        .chain(self.quantization.clone().map(|how| (keys::QUANTIZATION, how)))
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Decode and check the `metadata_props` of a model file: the format version, no key twice, every number
    /// within [`limits`] and consistent with the model config, the class names, and the embedded tokenizer
    /// ([`ModelMetadata::tokenizer`]). `mvt.digest` is not checked here (it needs the file's bytes:
    /// [`model_metadata_from_bytes`]).
    pub fn from_props(props: &[(String, String)]) -> Result<Self, ModelFileError> {
        let get = |key: &'static str| props.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let require = |key: &'static str| get(key).ok_or(ModelFileError::MissingKey(key));
        let invalid = |key: &'static str, reason: String| ModelFileError::InvalidKey { key, reason, source: None };
        let count = |key: &'static str, max: usize| -> Result<usize, ModelFileError> {
            let text = require(key)?;
            match text.trim().parse::<usize>() {
                Ok(n) if n > max => Err(invalid(key, format!("{n} is more than {max}, the most this build accepts"))),
                Ok(n) if n > 0 => Ok(n),
                _ => Err(invalid(key, format!("expected a positive integer, found {:?}", shown(text)))),
            }
        };
        fn json<T: serde::de::DeserializeOwned>(key: &'static str, text: &str) -> Result<T, ModelFileError> {
            serde_json::from_str(text).map_err(|e| ModelFileError::InvalidKey {
                key,
                reason: e.to_string(),
                source: Some(e),
            })
        }

        check_version(props)?;
        let mut seen = HashSet::with_capacity(props.len());
        if let Some((key, _)) = props.iter().find(|(k, _)| !seen.insert(k.as_str())) {
            return Err(ModelFileError::DuplicateKey(key.clone()));
        }

        let model_config: ModelConfig = json(keys::MODEL_CONFIG, require(keys::MODEL_CONFIG)?)?;
        check_config(&model_config).map_err(|reason| invalid(keys::MODEL_CONFIG, reason))?;
        let classes: Vec<String> = json(keys::CLASSES, require(keys::CLASSES)?)?;
        if classes.len() != model_config.num_classes {
            return Err(invalid(
                keys::CLASSES,
                format!("{} class names for a model with {} classes", classes.len(), model_config.num_classes),
            ));
        }
        check_class_names(&classes).map_err(|reason| invalid(keys::CLASSES, reason))?;
        let threshold_text = require(keys::THRESHOLD)?;
        let threshold = match threshold_text.trim().parse::<f64>() {
            Ok(t) if (0.0..=1.0).contains(&t) => t,
            _ => {
                let reason = format!("expected a number in [0, 1], found {:?}", shown(threshold_text));
                return Err(invalid(keys::THRESHOLD, reason));
            }
        };
        // The dims are stored on their own for readers that do not parse the config; they must agree with it.
        let agree = |key: &'static str, stored: usize, in_config: usize| {
            if stored == in_config {
                Ok(stored)
            } else {
                Err(invalid(key, format!("{stored} disagrees with the model config's {in_config}")))
            }
        };
        use limits::*;
        let text_max_len =
            agree(keys::TEXT_MAX_LEN, count(keys::TEXT_MAX_LEN, MAX_TEXT_MAX_LEN)?, model_config.text_max_len)?;
        let rgb_dim = agree(keys::RGB_DIM, count(keys::RGB_DIM, MAX_FEATURE_DIM)?, model_config.rgb_dim)?;
        let audio_dim = agree(keys::AUDIO_DIM, count(keys::AUDIO_DIM, MAX_FEATURE_DIM)?, model_config.audio_dim)?;
        let empty_audio_frames = count(keys::EMPTY_AUDIO_FRAMES, MAX_EMPTY_AUDIO_FRAMES)?;
        let provenance = json(keys::PROVENANCE, require(keys::PROVENANCE)?)?;
        let precision = match get(keys::PRECISION) {
            None => Precision::Fp32,
            Some(text) => Precision::parse(text).ok_or_else(|| {
                invalid(keys::PRECISION, format!("expected \"fp32\" or \"int8\", found {:?}", shown(text)))
            })?,
        };
        let quantization = match (precision, get(keys::QUANTIZATION)) {
            (Precision::Int8, how) => Some(how.ok_or(ModelFileError::MissingKey(keys::QUANTIZATION))?.to_string()),
            (Precision::Fp32, None) => None,
            (Precision::Fp32, Some(_)) => {
                let reason = "given for an fp32 model (it describes int8 quantization)".to_string();
                return Err(invalid(keys::QUANTIZATION, reason));
            }
        };

        let meta = Self {
            classes,
            threshold,
            tokenizer_json: require(keys::TOKENIZER)?.to_string(),
            text_max_len,
            rgb_dim,
            audio_dim,
            empty_audio_frames,
            model_config,
            provenance,
            precision,
            quantization,
        };
        meta.tokenizer()?;
        Ok(meta)
    }

    /// The embedded tokenizer, loaded and checked against the rest of the metadata: it truncates to
    /// `text_max_len`, and its vocabulary (size and largest id) fits the text encoder's `vocab_size` and
    /// [`limits::MAX_VOCAB_SIZE`]. The one check of the tokenizer: [`ModelMetadata::from_props`] runs it, and the
    /// library loads its tokenizer through it.
    pub fn tokenizer(&self) -> Result<TitleTokenizer, ModelFileError> {
        let invalid = |reason: String| ModelFileError::InvalidKey { key: keys::TOKENIZER, reason, source: None };
        let vocab_size = match &self.model_config.text_encoder {
            TextEncoder::Pretrained(encoder) => encoder.vocab_size,
            TextEncoder::Embedding { vocab_size, .. } => *vocab_size,
        };
        let too_many = |tokens: usize| {
            invalid(format!(
                "the tokenizer's vocabulary has {tokens} tokens, more than the text encoder's vocab_size {vocab_size} \
                 (at most {})",
                limits::MAX_VOCAB_SIZE
            ))
        };
        // Counted on the JSON text first: a loaded vocabulary costs ~25 times its text.
        if let Some(tokens) = vocab_entries(&self.tokenizer_json) {
            if tokens > limits::MAX_VOCAB_SIZE || tokens > vocab_size {
                return Err(too_many(tokens));
            }
        }
        let tokenizer = TitleTokenizer::from_json(&self.tokenizer_json)
            .map_err(|e| invalid(format!("the embedded tokenizer does not load: {e}")))?;
        if tokenizer.max_len() != self.text_max_len {
            return Err(invalid(format!(
                "the tokenizer truncates titles to {} tokens but `{}` is {}",
                tokenizer.max_len(),
                keys::TEXT_MAX_LEN,
                self.text_max_len
            )));
        }
        let (tokens, largest_id) = (tokenizer.vocab_size(), tokenizer.max_token_id());
        if tokens > limits::MAX_VOCAB_SIZE || tokens > vocab_size {
            return Err(too_many(tokens));
        }
        if largest_id.is_some_and(|id| id as usize >= vocab_size) {
            return Err(invalid(format!(
                "the tokenizer has token id {}, past the text encoder's vocab_size {vocab_size}",
                largest_id.unwrap_or_default()
            )));
        }
        Ok(tokenizer)
    }
}

/// The entries of a tokenizer.json's `model.vocab`, counted without building anything (`None`: not that shape;
/// the tokenizer's own parser then reports what is wrong).
fn vocab_entries(json: &str) -> Option<usize> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Count(usize);
    impl<'de> Visitor<'de> for Count {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a vocabulary")
        }
        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<usize, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                self.0 += 1;
            }
            Ok(self.0)
        }
        fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<usize, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {
                self.0 += 1;
            }
            Ok(self.0)
        }
    }
    struct Vocab(usize);
    impl<'de> Deserialize<'de> for Vocab {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Count(0)).map(Vocab)
        }
    }
    #[derive(Deserialize)]
    struct Model {
        vocab: Option<Vocab>,
    }
    #[derive(Deserialize)]
    struct TokenizerJson {
        model: Option<Model>,
    }
    let parsed: TokenizerJson = serde_json::from_str(json).ok()?;
    parsed.model?.vocab.map(|v| v.0)
}

/// `mvt.format_version`: present (else the file is "not an mvt model"), once, and this build's.
fn check_version(props: &[(String, String)]) -> Result<(), ModelFileError> {
    let mut versions = props.iter().filter(|(k, _)| k == keys::FORMAT_VERSION).map(|(_, v)| v);
    let version = versions.next().ok_or(ModelFileError::NotMvtModel)?;
    if versions.next().is_some() {
        return Err(ModelFileError::DuplicateKey(keys::FORMAT_VERSION.into()));
    }
    if version.trim() != FORMAT_VERSION.to_string() {
        return Err(ModelFileError::UnsupportedVersion { found: shown(version) });
    }
    Ok(())
}

/// Every number of the model config within [`limits`] (the reason names the field).
fn check_config(c: &ModelConfig) -> Result<(), String> {
    use limits::*;
    let within = |name: &str, value: usize, min: usize, max: usize| {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(format!("{name} is {value}; it must be between {min} and {max}"))
        }
    };
    let fraction = |name: &str, value: f64| {
        if (0.0..=1.0).contains(&value) {
            Ok(())
        } else {
            Err(format!("{name} is {value}; it must be between 0 and 1"))
        }
    };
    within("num_classes", c.num_classes, 1, MAX_CLASSES)?;
    within("rgb_dim", c.rgb_dim, 1, MAX_FEATURE_DIM)?;
    within("audio_dim", c.audio_dim, 1, MAX_FEATURE_DIM)?;
    within("lstm_size_img", c.lstm_size_img, 1, MAX_WIDTH)?;
    within("lstm_size_audio", c.lstm_size_audio, 1, MAX_WIDTH)?;
    fraction("drop_rate", c.drop_rate)?;
    within("text_max_len", c.text_max_len, 3, MAX_TEXT_MAX_LEN)?;
    within("textcnn_windows (count)", c.textcnn_windows.len(), 0, MAX_TEXTCNN_WINDOWS)?;
    for &window in &c.textcnn_windows {
        within("a textcnn window", window, 1, MAX_TEXT_MAX_LEN)?;
    }
    within("textcnn_filters", c.textcnn_filters, 1, MAX_WIDTH)?;
    match &c.text_encoder {
        TextEncoder::Embedding { vocab_size, dim } => {
            within("text_encoder.vocab_size", *vocab_size, 1, MAX_VOCAB_SIZE)?;
            within("text_encoder.dim", *dim, 1, MAX_WIDTH)
        }
        TextEncoder::Pretrained(e) => {
            within("text_encoder.vocab_size", e.vocab_size, 1, MAX_VOCAB_SIZE)?;
            within("text_encoder.hidden_size", e.hidden_size, 1, MAX_WIDTH)?;
            within("text_encoder.num_hidden_layers", e.num_hidden_layers, 0, MAX_LAYERS)?;
            within("text_encoder.num_attention_heads", e.num_attention_heads, 1, e.hidden_size)?;
            within("text_encoder.intermediate_size", e.intermediate_size, 1, MAX_WIDTH)?;
            within("text_encoder.max_position_embeddings", e.max_position_embeddings, c.text_max_len, MAX_POSITIONS)?;
            within("text_encoder.type_vocab_size", e.type_vocab_size, 1, MAX_LAYERS)?;
            fraction("text_encoder.hidden_dropout_prob", e.hidden_dropout_prob)?;
            fraction("text_encoder.attention_probs_dropout_prob", e.attention_probs_dropout_prob)?;
            if (0.0..=1.0).contains(&e.layer_norm_eps) {
                Ok(())
            } else {
                Err(format!("text_encoder.layer_norm_eps is {}; it must be between 0 and 1", e.layer_norm_eps))
            }
        }
    }
}

/// Class names are output labels: non-empty, at most [`limits::MAX_CLASS_NAME_BYTES`], no control characters
/// (NUL would cut the name short in C), no name twice.
fn check_class_names(classes: &[String]) -> Result<(), String> {
    let mut first_index = std::collections::HashMap::with_capacity(classes.len());
    for (index, name) in classes.iter().enumerate() {
        if name.is_empty() {
            return Err(format!("class {index} has an empty name"));
        }
        if name.len() > limits::MAX_CLASS_NAME_BYTES {
            let max = limits::MAX_CLASS_NAME_BYTES;
            return Err(format!("class {index} has a name of {} bytes, more than {max}", name.len()));
        }
        if let Some(c) = name.chars().find(|c| c.is_control()) {
            return Err(format!(
                "class {index} {:?} contains the control character U+{:04X}",
                shown(name),
                u32::from(c)
            ));
        }
        if let Some(first) = first_index.insert(name.as_str(), index) {
            return Err(format!("duplicate class name {:?} (classes {first} and {index})", shown(name)));
        }
    }
    Ok(())
}

/// The graph inputs every mvt model has, in order (docs/model.md): B, T1, T2 and L are dynamic.
pub fn input_signature(rgb_dim: usize, audio_dim: usize) -> Vec<ValueInfoProto> {
    use Dim::{Fixed, Named};
    vec![
        ValueInfoProto::tensor("rgb", DataType::Float, &[Named("B"), Named("T1"), Fixed(rgb_dim as i64)]),
        ValueInfoProto::tensor("rgb_len", DataType::Int64, &[Named("B")]),
        ValueInfoProto::tensor("audio", DataType::Float, &[Named("B"), Named("T2"), Fixed(audio_dim as i64)]),
        ValueInfoProto::tensor("audio_len", DataType::Int64, &[Named("B")]),
        ValueInfoProto::tensor("text_ids", DataType::Int64, &[Named("B"), Named("L")]),
        ValueInfoProto::tensor("text_mask", DataType::Int64, &[Named("B"), Named("L")]),
    ]
}

/// The graph outputs every mvt model has, in order.
pub fn output_signature(num_classes: usize) -> Vec<ValueInfoProto> {
    use Dim::{Fixed, Named};
    vec![
        ValueInfoProto::tensor("probs", DataType::Float, &[Named("B"), Fixed(num_classes as i64)]),
        ValueInfoProto::tensor("rgb_attention", DataType::Float, &[Named("B"), Named("T1")]),
        ValueInfoProto::tensor("audio_attention", DataType::Float, &[Named("B"), Named("T2")]),
    ]
}

/// Check that a graph declares exactly the mvt inputs and outputs: names, order, element types, ranks and fixed
/// sizes (the symbolic names of dynamic dimensions may differ).
pub fn check_signature(graph: &GraphSignature, meta: &ModelMetadata) -> Result<(), ModelFileError> {
    let compare = |what: &str, found: &[ValueInfoProto], expected: &[ValueInfoProto]| {
        let names = |v: &[ValueInfoProto]| v.iter().map(|x| x.name.clone()).collect::<Vec<_>>();
        if names(found) != names(expected) {
            // At most 12 names of a hostile list, each cut short.
            let mut listed: Vec<String> = found.iter().take(12).map(|x| format!("{:?}", shown(&x.name))).collect();
            if found.len() > 12 {
                listed.push(format!("... ({} in all)", found.len()));
            }
            return Err(ModelFileError::Signature(format!(
                "{what} are [{}], expected {:?}",
                listed.join(", "),
                names(expected)
            )));
        }
        for (f, e) in found.iter().zip(expected) {
            let (Some((f_type, f_shape)), Some((e_type, e_shape))) = (f.tensor_type(), e.tensor_type()) else {
                return Err(ModelFileError::Signature(format!("{what} `{}` is not a tensor", f.name)));
            };
            let fits = f_type == e_type
                && f_shape.len() == e_shape.len()
                && f_shape.iter().zip(&e_shape).all(|(a, b)| match b {
                    Dim::Fixed(n) => *a == Dim::Fixed(*n),
                    Dim::Named(_) => matches!(a, Dim::Named(_)),
                });
            if !fits {
                return Err(ModelFileError::Signature(format!(
                    "{what} `{}` has type {} and shape {:?}, expected type {} and shape {:?}",
                    f.name,
                    type_name(f_type),
                    f_shape,
                    type_name(e_type),
                    e_shape
                )));
            }
        }
        Ok(())
    };
    compare("inputs", &graph.input, &input_signature(meta.rgb_dim, meta.audio_dim))?;
    compare("outputs", &graph.output, &output_signature(meta.classes.len()))
}

fn type_name(elem_type: i32) -> String {
    DataType::try_from(elem_type).map(|t| format!("{t:?}")).unwrap_or_else(|_| format!("#{elem_type}"))
}

/// Read an ONNX file (bounded: [`crate::onnx::read_file`]), verify its digest, decode its mvt metadata and
/// check its graph signature, without loading weights into ONNX Runtime.
pub fn read_model_metadata(path: &Path) -> Result<ModelMetadata, ModelFileError> {
    let bytes = crate::onnx::read_file(path)?;
    model_metadata_from_bytes(&bytes, &path.display().to_string())
}

/// [`read_model_metadata`] for a file already in memory (e.g. the bytes handed to ONNX Runtime next); `source`
/// names them in errors. In order: the bytes are protobuf, the digest (when there is one) matches, the
/// metadata is mvt's and of this version, the digest is there, the metadata is valid, the graph signature fits.
pub fn model_metadata_from_bytes(bytes: &[u8], source: &str) -> Result<ModelMetadata, ModelFileError> {
    if bytes.is_empty() {
        return Err(OnnxError::Empty { path: source.to_string() }.into());
    }
    // The digest is checked on the raw fields first, so a flipped byte is reported as corruption rather than as
    // whatever it broke (a string that is no longer UTF-8, a number out of range). Two passes over the fields,
    // nothing kept but (at most two) digest entries: the field's first byte and the value.
    let mut digests: Vec<(usize, String)> = Vec::new();
    for field in raw_fields(bytes) {
        let field = field.map_err(|reason| OnnxError::Malformed { path: source.to_string(), reason })?;
        if field.number == METADATA_PROPS_FIELD && digests.len() < 2 {
            if let Ok(entry) = StringStringEntryProto::decode(&bytes[field.payload.clone()]) {
                if entry.key == keys::DIGEST {
                    digests.push((field.field.start, entry.value));
                }
            }
        }
    }
    if let [(digest_at, stored)] = digests.as_slice() {
        if stored.starts_with(DIGEST_PREFIX) {
            let others = raw_fields(bytes).map_while(Result::ok).filter(|f| f.field.start != *digest_at);
            let computed = digest_of(others.map(|f| &bytes[f.field]));
            if &computed != stored {
                return Err(ModelFileError::Corrupted { path: source.to_string(), stored: stored.clone(), computed });
            }
        }
    }
    let header = ModelHeader::parse(bytes, source)?;
    let props: Vec<(String, String)> = header.metadata_props.into_iter().map(|e| (e.key, e.value)).collect();
    check_version(&props)?;
    match digests.as_slice() {
        [] => return Err(ModelFileError::NoDigest),
        [(_, stored)] if !stored.starts_with(DIGEST_PREFIX) => {
            let reason = format!("expected \"{DIGEST_PREFIX}<64 hex digits>\", found {:?}", shown(stored));
            return Err(ModelFileError::InvalidKey { key: keys::DIGEST, reason, source: None });
        }
        [_] => {}
        _ => return Err(ModelFileError::DuplicateKey(keys::DIGEST.into())),
    }
    let meta = ModelMetadata::from_props(&props)?;
    let graph = header.graph.ok_or_else(|| ModelFileError::Signature("the file has no graph".into()))?;
    check_signature(&graph, &meta)?;
    Ok(meta)
}

/// `metadata_props` in `ModelProto`.
const METADATA_PROPS_FIELD: u32 = 14;
const DIGEST_PREFIX: &str = "sha256:";

/// `sha256:` and the lowercase hex SHA-256 of the parts, concatenated.
fn digest_of<'a>(parts: impl Iterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    parts.for_each(|part| hasher.update(part));
    let hash = hasher.finalize();
    let mut text = String::with_capacity(DIGEST_PREFIX.len() + 64);
    text.push_str(DIGEST_PREFIX);
    for byte in hash {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// `model` with its `mvt.digest`: the SHA-256 of the file's bytes without that entry (docs/model-file.md). Any
/// old digest entry is dropped, the model is encoded and hashed, and the new entry goes last in
/// `metadata_props`, which prost encodes last, so it is the file's last field. The exporter seals every file.
pub fn sealed(mut model: ModelProto) -> ModelProto {
    model.metadata_props.retain(|e| e.key != keys::DIGEST);
    let value = digest_of(std::iter::once(model.encode_to_vec().as_slice()));
    model.metadata_props.push(StringStringEntryProto { key: keys::DIGEST.into(), value });
    model
}

/// A value from the file, cut to 80 characters for an error message.
fn shown(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// JSON text of a plain value (serializing these types cannot fail).
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes to JSON")
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn json_errors_are_kept() {
        let props =
            |config: &str| [(keys::FORMAT_VERSION, FORMAT_VERSION.to_string()), (keys::MODEL_CONFIG, config.into())];
        let props = props("a,b").map(|(k, v)| (k.to_string(), v));
        let err = ModelMetadata::from_props(&props).unwrap_err();
        assert!(matches!(err, ModelFileError::InvalidKey { key: keys::MODEL_CONFIG, .. }), "{err}");
        assert!(err.to_string().starts_with("invalid `mvt.model_config` metadata: expected value"), "{err}");
        assert!(err.source().is_some_and(|e| e.is::<serde_json::Error>()));
    }
}
