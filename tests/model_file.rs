//! The model-file schema: metadata round trip, every rejection, and the ONNX header reader.

use mvt_formats::config::{LossType, ModelConfig, PoolMode, TextEncoder};
use mvt_formats::model_file::{
    input_signature, keys, model_metadata_from_bytes, output_signature, read_model_metadata, ModelFileError,
    ModelMetadata, Provenance,
};
use mvt_formats::onnx::{GraphProto, ModelHeader, ModelProto, StringStringEntryProto, IR_VERSION};

fn config() -> ModelConfig {
    ModelConfig {
        num_classes: 3,
        rgb_dim: 6,
        audio_dim: 4,
        lstm_size_img: 5,
        lstm_size_audio: 3,
        drop_rate: 0.5,
        text_max_len: 12,
        pool_mode: PoolMode::TextGuide,
        use_rgb: true,
        use_audio: true,
        use_text: true,
        text_encoder: TextEncoder::Embedding { vocab_size: 30, dim: 8 },
        ernie_freeze: true,
        textcnn_windows: vec![2, 3, 4],
        textcnn_filters: 4,
        loss_type: LossType::Sigmoid,
    }
}

fn metadata() -> ModelMetadata {
    let provenance = Provenance {
        training_data: serde_json::json!({"data_dir": "out/small"}),
        epoch: Some(7),
        validation_metrics: [("hit_at_1".to_string(), 0.625)].into_iter().collect(),
        exporter_version: "mvt-train 0.1.0".into(),
    };
    let classes = vec!["猫".to_string(), "dog, \"quoted\"".to_string(), "c".to_string()];
    ModelMetadata::new(config(), classes, 0.35, r#"{"model": {"type": "WordPiece"}}"#.into(), provenance)
}

fn with(props: &[(String, String)], key: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<_> = props.iter().filter(|(k, _)| k != key).cloned().collect();
    if let Some(v) = value {
        out.push((key.to_string(), v.to_string()));
    }
    out
}

#[test]
fn metadata_round_trips_through_props() {
    let meta = metadata();
    let props = meta.to_props();
    assert_eq!(props.iter().find(|(k, _)| k == keys::FORMAT_VERSION).unwrap().1, "1");
    assert_eq!(props.iter().find(|(k, _)| k == keys::EMPTY_AUDIO_FRAMES).unwrap().1, "10");
    assert_eq!(ModelMetadata::from_props(&props).unwrap(), meta);
}

#[test]
fn each_bad_metadata_gets_its_own_error() {
    let props = metadata().to_props();
    let err = |p: Vec<(String, String)>| ModelMetadata::from_props(&p).unwrap_err();
    assert!(matches!(err(with(&props, keys::FORMAT_VERSION, None)), ModelFileError::NotMvtModel));
    assert!(matches!(err(with(&props, keys::FORMAT_VERSION, Some("2"))), ModelFileError::UnsupportedVersion { .. }));
    for key in [keys::CLASSES, keys::THRESHOLD, keys::TOKENIZER, keys::MODEL_CONFIG, keys::PROVENANCE, keys::RGB_DIM] {
        assert!(matches!(err(with(&props, key, None)), ModelFileError::MissingKey(k) if k == key), "{key}");
    }
    let invalid = [
        (keys::THRESHOLD, "1.5"),
        (keys::THRESHOLD, "high"),
        (keys::CLASSES, r#"["a", "b"]"#),
        (keys::CLASSES, "a,b,c"),
        (keys::TOKENIZER, "not json"),
        (keys::RGB_DIM, "7"),
        (keys::TEXT_MAX_LEN, "-3"),
        (keys::EMPTY_AUDIO_FRAMES, "0"),
        (keys::MODEL_CONFIG, "{}"),
        (keys::PROVENANCE, "[]"),
    ];
    for (key, value) in invalid {
        let e = err(with(&props, key, Some(value)));
        assert!(matches!(e, ModelFileError::InvalidKey { key: k, .. } if k == key), "{key}={value}: {e}");
    }
}

fn model_file(meta: &ModelMetadata, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let model = ModelProto {
        ir_version: IR_VERSION,
        graph: Some(GraphProto {
            name: "g".into(),
            input: input_signature(meta.rgb_dim, meta.audio_dim),
            output: output_signature(meta.classes.len()),
            ..Default::default()
        }),
        metadata_props: meta.to_props().into_iter().map(|(key, value)| StringStringEntryProto { key, value }).collect(),
        ..Default::default()
    };
    let path = dir.path().join("m.onnx");
    model.write(&path).unwrap();
    path
}

#[test]
fn reads_metadata_and_checks_the_signature_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let meta = metadata();
    let path = model_file(&meta, &dir);
    assert_eq!(read_model_metadata(&path).unwrap(), meta);
    assert_eq!(model_metadata_from_bytes(&std::fs::read(&path).unwrap(), "in memory").unwrap(), meta);
    let e = model_metadata_from_bytes(b"\xff\xff\xff", "in memory").unwrap_err();
    assert!(e.to_string().contains("in memory is not an ONNX model"), "{e}");
    let header = ModelHeader::read(&path).unwrap();
    assert_eq!(header.ir_version, IR_VERSION);
    assert_eq!(header.graph.unwrap().input.len(), 6);

    // The same file for a model whose feature width differs from the graph's declared input.
    let mut other = meta.clone();
    other.rgb_dim = 9;
    other.model_config.rgb_dim = 9;
    let model_bytes = std::fs::read(&path).unwrap();
    let mut model: ModelProto = prost::Message::decode(model_bytes.as_slice()).unwrap();
    model.metadata_props =
        other.to_props().into_iter().map(|(key, value)| StringStringEntryProto { key, value }).collect();
    model.write(&path).unwrap();
    let e = read_model_metadata(&path).unwrap_err();
    assert!(matches!(e, ModelFileError::Signature(ref m) if m.contains("rgb")), "{e}");
}

#[test]
fn rejects_files_that_are_not_mvt_models() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\xff\xff\xff\xff not a protobuf").unwrap();
    assert!(matches!(read_model_metadata(&garbage).unwrap_err(), ModelFileError::Onnx(_)));
    let plain = dir.path().join("plain.onnx");
    ModelProto { ir_version: IR_VERSION, ..Default::default() }.write(&plain).unwrap();
    assert!(matches!(read_model_metadata(&plain).unwrap_err(), ModelFileError::NotMvtModel));
    assert!(matches!(read_model_metadata(&dir.path().join("missing.onnx")).unwrap_err(), ModelFileError::Onnx(_)));
}
