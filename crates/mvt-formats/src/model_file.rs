//! The mvt model file: one ONNX file whose `metadata_props` carry everything a deployment needs besides the
//! graph (classes, threshold, tokenizer, feature dims, the empty-audio rule, the model config, provenance).
//!
//! This module is the schema shared by the exporter (which writes [`ModelMetadata::to_props`] and
//! [`input_signature`] / [`output_signature`]) and the library (which checks a file with [`read_model_metadata`]
//! before ONNX Runtime sees it). docs/model-file.md describes the same keys for people.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::onnx::{DataType, Dim, GraphSignature, ModelHeader, OnnxError, ValueInfoProto};

/// The file-format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

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
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Decode and check the `metadata_props` of a model file.
    pub fn from_props(props: &[(String, String)]) -> Result<Self, ModelFileError> {
        let get = |key: &'static str| props.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let require = |key: &'static str| get(key).ok_or(ModelFileError::MissingKey(key));
        let invalid = |key: &'static str, reason: String| ModelFileError::InvalidKey { key, reason, source: None };
        let count = |key: &'static str| -> Result<usize, ModelFileError> {
            let text = require(key)?;
            match text.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(invalid(key, format!("expected a positive integer, found {text:?}"))),
            }
        };
        fn json<T: serde::de::DeserializeOwned>(key: &'static str, text: &str) -> Result<T, ModelFileError> {
            serde_json::from_str(text).map_err(|e| ModelFileError::InvalidKey {
                key,
                reason: e.to_string(),
                source: Some(e),
            })
        }

        let version = get(keys::FORMAT_VERSION).ok_or(ModelFileError::NotMvtModel)?;
        if version.trim() != FORMAT_VERSION.to_string() {
            return Err(ModelFileError::UnsupportedVersion { found: version.to_string() });
        }

        let model_config: ModelConfig = json(keys::MODEL_CONFIG, require(keys::MODEL_CONFIG)?)?;
        let classes: Vec<String> = json(keys::CLASSES, require(keys::CLASSES)?)?;
        if classes.len() != model_config.num_classes {
            return Err(invalid(
                keys::CLASSES,
                format!("{} class names for a model with {} classes", classes.len(), model_config.num_classes),
            ));
        }
        let threshold_text = require(keys::THRESHOLD)?;
        let threshold = match threshold_text.trim().parse::<f64>() {
            Ok(t) if (0.0..=1.0).contains(&t) => t,
            _ => {
                return Err(invalid(keys::THRESHOLD, format!("expected a number in [0, 1], found {threshold_text:?}")))
            }
        };
        let tokenizer_json = require(keys::TOKENIZER)?.to_string();
        match serde_json::from_str::<serde_json::Value>(&tokenizer_json) {
            Ok(serde_json::Value::Object(_)) => {}
            parsed => {
                let reason = "expected the text of a tokenizer.json (a JSON object)".into();
                return Err(ModelFileError::InvalidKey { key: keys::TOKENIZER, reason, source: parsed.err() });
            }
        }
        // The dims are stored on their own for readers that do not parse the config; they must agree with it.
        let agree = |key: &'static str, stored: usize, in_config: usize| {
            if stored == in_config {
                Ok(stored)
            } else {
                Err(invalid(key, format!("{stored} disagrees with the model config's {in_config}")))
            }
        };
        let text_max_len = agree(keys::TEXT_MAX_LEN, count(keys::TEXT_MAX_LEN)?, model_config.text_max_len)?;
        let rgb_dim = agree(keys::RGB_DIM, count(keys::RGB_DIM)?, model_config.rgb_dim)?;
        let audio_dim = agree(keys::AUDIO_DIM, count(keys::AUDIO_DIM)?, model_config.audio_dim)?;
        let empty_audio_frames = count(keys::EMPTY_AUDIO_FRAMES)?;
        let provenance = json(keys::PROVENANCE, require(keys::PROVENANCE)?)?;

        Ok(Self {
            classes,
            threshold,
            tokenizer_json,
            text_max_len,
            rgb_dim,
            audio_dim,
            empty_audio_frames,
            model_config,
            provenance,
        })
    }
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
            return Err(ModelFileError::Signature(format!(
                "{what} are {:?}, expected {:?}",
                names(found),
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

/// Read an ONNX file's header, decode its mvt metadata and check its graph signature, without loading weights
/// into ONNX Runtime.
pub fn read_model_metadata(path: &Path) -> Result<ModelMetadata, ModelFileError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { path: path.display().to_string(), source })?;
    model_metadata_from_bytes(&bytes, &path.display().to_string())
}

/// [`read_model_metadata`] for a file already in memory (e.g. the bytes handed to ONNX Runtime next); `source`
/// names them in errors.
pub fn model_metadata_from_bytes(bytes: &[u8], source: &str) -> Result<ModelMetadata, ModelFileError> {
    let header = ModelHeader::parse(bytes, source)?;
    let props: Vec<(String, String)> = header.metadata_props.into_iter().map(|e| (e.key, e.value)).collect();
    let meta = ModelMetadata::from_props(&props)?;
    let graph = header.graph.ok_or_else(|| ModelFileError::Signature("the file has no graph".into()))?;
    check_signature(&graph, &meta)?;
    Ok(meta)
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
