//! The model-file schema: metadata round trip, every rejection with its message, the limits, the digest (every
//! flipped byte of a real file is caught), the bounded file read, and the ONNX header reader.

use std::path::{Path, PathBuf};

use mvt_formats::config::TextEncoder;
use mvt_formats::model_file::{
    input_signature, keys, limits, model_metadata_from_bytes, output_signature, read_model_metadata, sealed,
    ModelFileError, ModelMetadata, Precision, FORMAT_VERSION,
};
use mvt_formats::onnx::{GraphProto, ModelHeader, ModelProto, OnnxError, StringStringEntryProto, IR_VERSION};
use mvt_formats::tokenizer::TitleTokenizer;
use mvt_runtime::error::MvtStatus;
use mvt_runtime::predict::{Model, Options};
use mvt_test_support::fixture;
use prost::Message;

type Props = Vec<(String, String)>;

fn metadata() -> ModelMetadata {
    fixture::metadata()
}

fn with(props: &[(String, String)], key: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<_> = props.iter().filter(|(k, _)| k != key).cloned().collect();
    if let Some(v) = value {
        out.push((key.to_string(), v.to_string()));
    }
    out
}

/// The props with the model config's JSON edited.
fn with_config(props: &[(String, String)], edit: impl Fn(&mut serde_json::Value)) -> Vec<(String, String)> {
    let mut config: serde_json::Value =
        serde_json::from_str(&props.iter().find(|(k, _)| k == keys::MODEL_CONFIG).unwrap().1).unwrap();
    edit(&mut config);
    with(props, keys::MODEL_CONFIG, Some(&config.to_string()))
}

fn classes(names: &[&str]) -> String {
    serde_json::to_string(names).unwrap()
}

#[test]
fn metadata_round_trips_through_props() {
    let meta = metadata();
    let props = meta.to_props();
    assert_eq!(FORMAT_VERSION, 2);
    assert_eq!(props.iter().find(|(k, _)| k == keys::FORMAT_VERSION).unwrap().1, "2");
    assert_eq!(props.iter().find(|(k, _)| k == keys::EMPTY_AUDIO_FRAMES).unwrap().1, "10");
    assert_eq!(ModelMetadata::from_props(&props).unwrap(), meta);
    assert_eq!(props.iter().find(|(k, _)| k == keys::PRECISION).unwrap().1, "fp32");
    assert!(!props.iter().any(|(k, _)| k == keys::QUANTIZATION));
    // An INT8 file says how it was quantized; a file from before `mvt.precision` is fp32.
    let int8 = ModelMetadata {
        precision: Precision::Int8,
        quantization: Some("dynamic, per-channel int8 weights".into()),
        ..meta.clone()
    };
    assert_eq!(ModelMetadata::from_props(&int8.to_props()).unwrap(), int8);
    let unquantized = with(&int8.to_props(), keys::QUANTIZATION, None);
    let e = ModelMetadata::from_props(&unquantized).unwrap_err();
    assert!(matches!(e, ModelFileError::MissingKey(k) if k == keys::QUANTIZATION), "{e}");
    assert_eq!(ModelMetadata::from_props(&with(&props, keys::PRECISION, None)).unwrap(), meta);
    // The limit the metadata enforces is the library's own largest max_frames.
    assert_eq!(limits::MAX_EMPTY_AUDIO_FRAMES, mvt_runtime::predict::limits::MAX_FRAMES);
    assert_eq!(limits::MAX_MODEL_FILE_BYTES, i32::MAX as u64);
}

#[test]
fn each_bad_metadata_gets_its_own_error() {
    let props = metadata().to_props();
    let err = |p: Vec<(String, String)>| ModelMetadata::from_props(&p).unwrap_err();
    assert!(matches!(err(with(&props, keys::FORMAT_VERSION, None)), ModelFileError::NotMvtModel));
    let e = err(with(&props, keys::FORMAT_VERSION, Some("1")));
    assert!(matches!(e, ModelFileError::UnsupportedVersion { .. }), "{e}");
    assert_eq!(e.to_string(), "unsupported mvt model format version \"1\" (this build reads version 2)");
    for key in [keys::CLASSES, keys::THRESHOLD, keys::TOKENIZER, keys::MODEL_CONFIG, keys::PROVENANCE, keys::RGB_DIM] {
        assert!(matches!(err(with(&props, key, None)), ModelFileError::MissingKey(k) if k == key), "{key}");
    }
    let config_edit = |edit: fn(&mut serde_json::Value)| with_config(&props, edit);
    let tokenizer_12 = {
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e", "f", "g"];
        TitleTokenizer::from_vocab(vocab.iter().map(|s| s.to_string()).collect(), fixture::TEXT_MAX_LEN)
            .unwrap()
            .to_json()
    };
    let id_past_vocab = fixture::tokenizer().to_json().replace("\"dog\":6", "\"dog\":1000");
    assert_ne!(id_past_vocab, fixture::tokenizer().to_json());
    // (props, the key the error names, a fragment of its message)
    let cases: Vec<(Props, &str, &str)> = vec![
        (with(&props, keys::THRESHOLD, Some("1.5")), keys::THRESHOLD, "expected a number in [0, 1], found \"1.5\""),
        (with(&props, keys::THRESHOLD, Some("high")), keys::THRESHOLD, "found \"high\""),
        (with(&props, keys::CLASSES, Some(r#"["a", "b"]"#)), keys::CLASSES, "2 class names for a model with 3"),
        (with(&props, keys::CLASSES, Some("a,b,c")), keys::CLASSES, "expected value"),
        (with(&props, keys::TOKENIZER, Some("not json")), keys::TOKENIZER, "the embedded tokenizer does not load"),
        (with(&props, keys::RGB_DIM, Some("7")), keys::RGB_DIM, "7 disagrees with the model config's 6"),
        (with(&props, keys::TEXT_MAX_LEN, Some("-3")), keys::TEXT_MAX_LEN, "expected a positive integer"),
        (with(&props, keys::EMPTY_AUDIO_FRAMES, Some("0")), keys::EMPTY_AUDIO_FRAMES, "expected a positive integer"),
        (with(&props, keys::MODEL_CONFIG, Some("{}")), keys::MODEL_CONFIG, "missing field"),
        (with(&props, keys::PROVENANCE, Some("[]")), keys::PROVENANCE, "expected struct Provenance"),
        (with(&props, keys::PRECISION, Some("int4")), keys::PRECISION, "expected \"fp32\" or \"int8\", found \"int4\""),
        (with(&props, keys::QUANTIZATION, Some("by hand")), keys::QUANTIZATION, "given for an fp32 model"),
        // Item 1: every number within limits, the key named.
        (
            with(&props, keys::EMPTY_AUDIO_FRAMES, Some("100000000000")),
            keys::EMPTY_AUDIO_FRAMES,
            "100000000000 is more than 86400, the most this build accepts",
        ),
        (with(&props, keys::EMPTY_AUDIO_FRAMES, Some("1e11")), keys::EMPTY_AUDIO_FRAMES, "found \"1e11\""),
        (with(&props, keys::RGB_DIM, Some("1099511627776")), keys::RGB_DIM, "1099511627776 is more than 65536"),
        (with(&props, keys::AUDIO_DIM, Some("65537")), keys::AUDIO_DIM, "65537 is more than 65536"),
        (with(&props, keys::TEXT_MAX_LEN, Some("1099511627776")), keys::TEXT_MAX_LEN, "is more than 512"),
        (
            config_edit(|c| c["num_classes"] = 1_000_000_000.into()),
            keys::MODEL_CONFIG,
            "num_classes is 1000000000; it must be between 1 and 100000",
        ),
        (config_edit(|c| c["rgb_dim"] = (1u64 << 40).into()), keys::MODEL_CONFIG, "rgb_dim is 1099511627776"),
        (config_edit(|c| c["lstm_size_img"] = 0.into()), keys::MODEL_CONFIG, "lstm_size_img is 0"),
        (config_edit(|c| c["text_max_len"] = 100_000.into()), keys::MODEL_CONFIG, "text_max_len is 100000"),
        (config_edit(|c| c["textcnn_windows"] = vec![2, 9999].into()), keys::MODEL_CONFIG, "window is 9999"),
        (config_edit(|c| c["textcnn_filters"] = (1u64 << 33).into()), keys::MODEL_CONFIG, "textcnn_filters is"),
        (config_edit(|c| c["drop_rate"] = 2.5.into()), keys::MODEL_CONFIG, "drop_rate is 2.5"),
        (
            config_edit(|c| c["text_encoder"]["vocab_size"] = 5_000_000.into()),
            keys::MODEL_CONFIG,
            "text_encoder.vocab_size is 5000000; it must be between 1 and 1000000",
        ),
        // Item 5: class names.
        (with(&props, keys::CLASSES, Some(&classes(&["a", "b", "a"]))), keys::CLASSES, "duplicate class name \"a\""),
        (with(&props, keys::CLASSES, Some(&classes(&["a", "b\0x", "c"]))), keys::CLASSES, "control character U+0000"),
        (with(&props, keys::CLASSES, Some(&classes(&["a", "b", "\u{7}"]))), keys::CLASSES, "U+0007"),
        (with(&props, keys::CLASSES, Some(&classes(&["a", "", "c"]))), keys::CLASSES, "class 1 has an empty name"),
        (
            with(&props, keys::CLASSES, Some(&classes(&["a", &"x".repeat(1025), "c"]))),
            keys::CLASSES,
            "class 1 has a name of 1025 bytes, more than 1024",
        ),
        // Item 4: the tokenizer against the rest of the metadata.
        (
            with(&with_config(&props, |c| c["text_max_len"] = 9.into()), keys::TEXT_MAX_LEN, Some("9")),
            keys::TOKENIZER,
            "the tokenizer truncates titles to 8 tokens but `mvt.text_max_len` is 9",
        ),
        (
            with(&props, keys::TOKENIZER, Some(&tokenizer_12)),
            keys::TOKENIZER,
            "the tokenizer's vocabulary has 12 tokens, more than the text encoder's vocab_size 9",
        ),
        (
            with(&props, keys::TOKENIZER, Some(&id_past_vocab)),
            keys::TOKENIZER,
            "the tokenizer has token id 1000, past the text encoder's vocab_size 9",
        ),
    ];
    for (p, key, fragment) in cases {
        let e = err(p);
        assert!(matches!(e, ModelFileError::InvalidKey { key: k, .. } if k == key), "{key}: {e}");
        assert!(e.to_string().starts_with(&format!("invalid `{key}` metadata: ")), "{e}");
        assert!(e.to_string().contains(fragment), "{key}: {e} lacks {fragment:?}");
    }

    // Item 5: a key given twice, whichever.
    for key in [keys::THRESHOLD, keys::FORMAT_VERSION, "author"] {
        let mut twice = props.clone();
        twice.push((key.into(), "0.5".into()));
        twice.push((key.into(), "0.5".into()));
        let e = err(twice);
        assert!(matches!(e, ModelFileError::DuplicateKey(ref k) if k == key), "{e}");
        assert_eq!(e.to_string(), format!("the `{key}` metadata is given more than once"));
    }
}

/// A sealed file of the fixture model, with `edit` applied to its metadata props before sealing.
fn sealed_file(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<StringStringEntryProto>)) -> PathBuf {
    let mut model = fixture::model_proto(&metadata());
    edit(&mut model.metadata_props);
    let path = dir.join(name);
    sealed(model).write(&path).unwrap();
    path
}

fn set(props: &mut [StringStringEntryProto], key: &str, value: &str) {
    props.iter_mut().find(|e| e.key == key).unwrap().value = value.into();
}

#[test]
fn reads_metadata_and_checks_the_signature_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let meta = metadata();
    let path = fixture::write_model(dir.path());
    assert_eq!(read_model_metadata(&path).unwrap(), meta);
    assert_eq!(model_metadata_from_bytes(&std::fs::read(&path).unwrap(), "in memory").unwrap(), meta);
    let e = model_metadata_from_bytes(b"\xff\xff\xff", "in memory").unwrap_err();
    assert!(e.to_string().starts_with("in memory: not an ONNX file ("), "{e}");
    let header = ModelHeader::read(&path).unwrap();
    assert_eq!(header.ir_version, IR_VERSION);
    assert_eq!(header.graph.unwrap().input.len(), 6);
    assert_eq!(header.metadata_props.last().unwrap().key, keys::DIGEST);

    // The same file for a model whose feature width differs from the graph's declared input (sealed again).
    let mut other = meta.clone();
    other.rgb_dim = 9;
    other.model_config.rgb_dim = 9;
    let mut model: ModelProto = Message::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    model.metadata_props =
        other.to_props().into_iter().map(|(key, value)| StringStringEntryProto { key, value }).collect();
    sealed(model).write(&path).unwrap();
    let e = read_model_metadata(&path).unwrap_err();
    assert!(matches!(e, ModelFileError::Signature(ref m) if m.contains("rgb")), "{e}");
}

#[test]
fn rejects_files_that_are_not_mvt_models() {
    let dir = tempfile::tempdir().unwrap();
    let shown = |name: &str| dir.path().join(name).display().to_string();
    let read = |name: &str| read_model_metadata(&dir.path().join(name)).unwrap_err();
    std::fs::write(dir.path().join("garbage.onnx"), b"\xff\xff\xff\xff not a protobuf").unwrap();
    let e = read("garbage.onnx");
    assert!(matches!(e, ModelFileError::Onnx(OnnxError::Malformed { .. })), "{e}");
    assert!(e.to_string().starts_with(&format!("{}: not an ONNX file (", shown("garbage.onnx"))), "{e}");
    std::fs::write(dir.path().join("text.onnx"), "this is not a model\n").unwrap();
    assert!(read("text.onnx").to_string().contains("text.onnx: not an ONNX file ("));

    // Item 2: an empty file is not "a file without mvt metadata".
    std::fs::write(dir.path().join("empty.onnx"), b"").unwrap();
    let e = read("empty.onnx");
    assert!(matches!(e, ModelFileError::Onnx(OnnxError::Empty { .. })), "{e}");
    assert_eq!(e.to_string(), format!("{}: not an ONNX file (0 bytes)", shown("empty.onnx")));

    // A truncated model breaks the framing.
    let good = std::fs::read(fixture::write_model(dir.path())).unwrap();
    std::fs::write(dir.path().join("truncated.onnx"), &good[..good.len() / 2]).unwrap();
    let e = read("truncated.onnx");
    assert!(e.to_string().contains("truncated.onnx: not an ONNX file (field "), "{e}");
    assert!(e.to_string().ends_with("runs past the end (the file is truncated))"), "{e}");

    let plain = dir.path().join("plain.onnx");
    ModelProto { ir_version: IR_VERSION, ..Default::default() }.write(&plain).unwrap();
    let e = read_model_metadata(&plain).unwrap_err();
    assert!(matches!(e, ModelFileError::NotMvtModel), "{e}");
    assert!(e.to_string().contains("has no `mvt.format_version` metadata"), "{e}");
    let e = read("missing.onnx");
    assert!(matches!(e, ModelFileError::Onnx(OnnxError::Io { .. })), "{e}");
    assert!(e.to_string().starts_with(&format!("cannot read {}: ", shown("missing.onnx"))), "{e}");
}

#[test]
fn devices_folders_and_oversized_files_are_refused_before_reading() {
    // Item 6: checked on the file's type and size, so /dev/zero and a sparse huge file return at once.
    let dir = tempfile::tempdir().unwrap();
    let e = read_model_metadata(Path::new("/dev/zero")).unwrap_err();
    assert!(matches!(e, ModelFileError::Onnx(OnnxError::NotRegularFile { .. })), "{e}");
    assert_eq!(e.to_string(), "/dev/zero: not a regular file (a character device)");
    let e = read_model_metadata(dir.path()).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: not a regular file (a directory)", dir.path().display()));

    // A named pipe: opening it would wait for a writer, so it is refused before opening.
    let pipe = dir.path().join("pipe.onnx");
    assert!(std::process::Command::new("mkfifo").arg(&pipe).status().unwrap().success());
    let e = read_model_metadata(&pipe).unwrap_err();
    assert_eq!(e.to_string(), format!("{}: not a regular file (a pipe)", pipe.display()));

    let huge = dir.path().join("huge.onnx");
    std::fs::File::create(&huge).unwrap().set_len(limits::MAX_MODEL_FILE_BYTES + 1).unwrap();
    let e = read_model_metadata(&huge).unwrap_err();
    assert!(matches!(e, ModelFileError::Onnx(OnnxError::TooLarge { .. })), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: 2147483648 bytes, more than a model file may have (2147483647 bytes, the protobuf limit)",
            huge.display()
        )
    );
    // The library reads through the same function.
    for (path, fragment) in [
        (Path::new("/dev/zero"), "not a regular file (a character device)"),
        (huge.as_path(), "more than a model file may have"),
    ] {
        let e = Model::load(path, &Options::default()).err().unwrap();
        assert_eq!(e.status(), MvtStatus::MvtErrModelFile, "{e}");
        assert!(e.to_string().contains(fragment), "{e}");
    }
}

#[test]
fn the_digest_is_required_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let good = fixture::write_model(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let model: ModelProto = Message::decode(bytes.as_slice()).unwrap();
    let stored = model.metadata_props.iter().find(|e| e.key == keys::DIGEST).unwrap().value.clone();
    assert!(stored.starts_with("sha256:") && stored.len() == 7 + 64, "{stored}");
    // Sealing is idempotent and re-encoding the same model gives the same bytes.
    assert_eq!(sealed(model.clone()).encode_to_vec(), bytes);

    // The digest is SHA-256 of the file without its digest entry (the last field), as docs/model-file.md says.
    let mut unsealed = model.clone();
    unsealed.metadata_props.retain(|e| e.key != keys::DIGEST);
    let unsealed_bytes = unsealed.encode_to_vec();
    assert_eq!(&bytes[..unsealed_bytes.len()], unsealed_bytes.as_slice());
    let unsealed_path = dir.path().join("unsealed.onnx");
    std::fs::write(&unsealed_path, &unsealed_bytes).unwrap();
    let e = read_model_metadata(&unsealed_path).unwrap_err();
    assert!(matches!(e, ModelFileError::NoDigest), "{e}");
    assert_eq!(
        e.to_string(),
        "the mvt model file has no `mvt.digest` metadata, so its integrity cannot be checked (re-export it with \
         `mvt-train export`)"
    );

    // A changed value, sealed or not.
    let path = dir.path().join("edited.onnx");
    let mut edited = model.clone();
    set(&mut edited.metadata_props, keys::THRESHOLD, "0.25");
    edited.write(&path).unwrap();
    let e = read_model_metadata(&path).unwrap_err();
    assert!(matches!(e, ModelFileError::Corrupted { .. }), "{e}");
    let resealed = sealed(edited);
    let computed = &resealed.metadata_props.last().unwrap().value;
    assert_ne!(computed, &stored);
    let expected = format!("the model file is corrupted (digest mismatch: stored {stored}, computed {computed})");
    assert_eq!(e.to_string(), format!("{}: {expected}", path.display()));
    resealed.write(&path).unwrap();
    assert_eq!(read_model_metadata(&path).unwrap().threshold, 0.25);

    // A digest that is not SHA-256, or given twice.
    let odd = sealed_file(dir.path(), "odd.onnx", |_| {});
    let mut odd_model: ModelProto = Message::decode(std::fs::read(&odd).unwrap().as_slice()).unwrap();
    set(&mut odd_model.metadata_props, keys::DIGEST, "md5:abc");
    odd_model.write(&odd).unwrap();
    let e = read_model_metadata(&odd).unwrap_err();
    assert_eq!(e.to_string(), "invalid `mvt.digest` metadata: expected \"sha256:<64 hex digits>\", found \"md5:abc\"");
    let mut twice = odd_model.clone();
    twice.metadata_props.push(StringStringEntryProto { key: keys::DIGEST.into(), value: stored.clone() });
    twice.write(&odd).unwrap();
    let e = read_model_metadata(&odd).unwrap_err();
    assert_eq!(e.to_string(), "the `mvt.digest` metadata is given more than once");

    // Version 1 files (no digest) are refused by their version first.
    let v1 = sealed_file(dir.path(), "v1.onnx", |p| set(p, keys::FORMAT_VERSION, "1"));
    let mut v1_model: ModelProto = Message::decode(std::fs::read(&v1).unwrap().as_slice()).unwrap();
    v1_model.metadata_props.retain(|e| e.key != keys::DIGEST);
    v1_model.write(&v1).unwrap();
    assert!(matches!(read_model_metadata(&v1).unwrap_err(), ModelFileError::UnsupportedVersion { .. }));
}

/// Millions of tiny metadata entries or input declarations would decode to many times the file's size: the
/// header reader counts them on the raw bytes first.
#[test]
fn oversized_headers_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let many = sealed_file(dir.path(), "many.onnx", |p| {
        p.extend((0..2000).map(|i| StringStringEntryProto { key: format!("k{i}"), value: String::new() }))
    });
    let e = read_model_metadata(&many).unwrap_err();
    assert!(matches!(e, ModelFileError::Onnx(OnnxError::HeaderTooLarge { .. })), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: 2012 metadata entries, more than a model file may have (1024, a limit of mvt's reader)",
            many.display()
        )
    );
    let mut model = fixture::model_proto(&metadata());
    let graph = model.graph.as_mut().unwrap();
    let input = graph.input[0].clone();
    graph.input.extend(std::iter::repeat_n(input.clone(), 40_000));
    let e = model_metadata_from_bytes(&sealed(model).encode_to_vec(), "wide").unwrap_err();
    assert!(e.to_string().starts_with("wide: "), "{e}");
    assert!(e.to_string().contains(" bytes of graph inputs and outputs, more than a model file may have (1048576"));
    // Under that limit a wrong signature is reported, its list of names cut short.
    let mut model = fixture::model_proto(&metadata());
    model.graph.as_mut().unwrap().input.extend(std::iter::repeat_n(input, 1000));
    let e = model_metadata_from_bytes(&sealed(model).encode_to_vec(), "wide").unwrap_err();
    assert!(matches!(e, ModelFileError::Signature(_)), "{e}");
    assert!(e.to_string().contains(r#""text_mask", "rgb", "rgb", "rgb", "rgb", "rgb", "rgb", ... (1006 in all)]"#));
}

/// Item 3: a changed byte anywhere in a real exported fixture file is caught before the file is used: every
/// position, three different changes each. No region of the file is exempt, so no changed file may load.
#[test]
fn every_changed_byte_of_a_model_file_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture::write_model(dir.path())).unwrap();
    let (mut corrupted, mut not_onnx, mut no_digest, mut bad_digest) = (0, 0, 0, 0);
    for at in 0..bytes.len() {
        for change in [0x01u8, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[at] ^= change;
            let e = match model_metadata_from_bytes(&flipped, "flipped") {
                Ok(_) => panic!("byte {at} ^ {change:#x} of {} went unnoticed", bytes.len()),
                Err(e) => e,
            };
            let message = e.to_string();
            match e {
                ModelFileError::Corrupted { .. } => {
                    assert!(message.starts_with("flipped: the model file is corrupted (digest mismatch"), "{message}");
                    corrupted += 1
                }
                ModelFileError::Onnx(_) => {
                    assert!(message.starts_with("flipped: not an ONNX file ("), "{message}");
                    not_onnx += 1
                }
                // The flip hit the digest entry's own key or tag.
                ModelFileError::NoDigest => no_digest += 1,
                // The flip hit the digest's "sha256:" prefix.
                ModelFileError::InvalidKey { key: keys::DIGEST, .. } => bad_digest += 1,
                other => panic!("byte {at} ^ {change:#x}: unexpected error {other}"),
            }
        }
    }
    println!(
        "{} bytes x 3 changes: {corrupted} corrupted, {not_onnx} not ONNX, {no_digest} no digest, {bad_digest} bad \
         digest",
        bytes.len()
    );
    assert!(corrupted > bytes.len() * 2, "most changes are digest mismatches");
}

/// Item 1 and 4 through `Model::load`: the checks run before ONNX Runtime is even looked for.
#[test]
fn model_load_refuses_bad_files_with_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let status_of = |path: &Path, options: &Options| {
        let e = Model::load(path, options).err().expect("the file is refused");
        (e.status(), e.to_string())
    };
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let (status, message) = status_of(&empty, &Options::default());
    assert_eq!(status, MvtStatus::MvtErrModelFile);
    assert!(message.ends_with("empty.onnx: not an ONNX file (0 bytes)"), "{message}");

    let over = sealed_file(dir.path(), "over.onnx", |p| set(p, keys::EMPTY_AUDIO_FRAMES, "5000"));
    let (status, message) = status_of(&over, &Options::default());
    assert_eq!(status, MvtStatus::MvtErrModelMetadata);
    assert!(
        message.ends_with(
            "over.onnx: `mvt.empty_audio_frames` is 5000, more than max_frames 3600: every video without audio \
             would exceed the frame limit"
        ),
        "{message}"
    );
    let huge = sealed_file(dir.path(), "huge.onnx", |p| set(p, keys::EMPTY_AUDIO_FRAMES, "100000000000"));
    let (status, message) = status_of(&huge, &Options::default());
    assert_eq!(status, MvtStatus::MvtErrModelMetadata);
    assert!(message.contains("invalid `mvt.empty_audio_frames` metadata: 100000000000 is more than 86400"));

    let mismatch = sealed_file(dir.path(), "mismatch.onnx", |p| {
        set(p, keys::TEXT_MAX_LEN, "9");
        let mut config = fixture::config();
        config.text_max_len = 9;
        set(p, keys::MODEL_CONFIG, &serde_json::to_string(&config).unwrap());
    });
    let (status, message) = status_of(&mismatch, &Options::default());
    assert_eq!(status, MvtStatus::MvtErrModelMetadata);
    assert!(message.contains("the tokenizer truncates titles to 8 tokens but `mvt.text_max_len` is 9"), "{message}");
    // `mvt info`'s reader refuses it with the same message.
    assert!(read_model_metadata(&mismatch).unwrap_err().to_string().contains("the tokenizer truncates titles"));

    let duplicate = sealed_file(dir.path(), "duplicate.onnx", |p| {
        p.insert(0, StringStringEntryProto { key: keys::THRESHOLD.into(), value: "0.5".into() })
    });
    let (status, message) = status_of(&duplicate, &Options::default());
    assert_eq!(status, MvtStatus::MvtErrModelMetadata);
    assert!(message.ends_with("the `mvt.threshold` metadata is given more than once"), "{message}");

    let mut bytes = std::fs::read(fixture::write_model(dir.path())).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    let flipped = dir.path().join("flipped.onnx");
    std::fs::write(&flipped, &bytes).unwrap();
    let (status, message) = status_of(&flipped, &Options::default());
    assert_eq!(status, MvtStatus::MvtErrModelFile);
    assert!(message.contains("flipped.onnx: the model file is corrupted (digest mismatch"), "{message}");

    // A class list with a NUL and the embedding's vocabulary are checked the same way.
    let nul = sealed_file(dir.path(), "nul.onnx", |p| set(p, keys::CLASSES, &classes(&["a\0", "b", "c"])));
    let (status, message) = status_of(&nul, &Options::default());
    assert_eq!(status, MvtStatus::MvtErrModelMetadata);
    assert!(message.contains("invalid `mvt.classes` metadata: class 0 \"a\\0\" contains the control character"));
    assert!(matches!(fixture::config().text_encoder, TextEncoder::Embedding { vocab_size: 9, .. }));
}

/// The digest's cost: seal (encode + SHA-256) and verify (frame scan + SHA-256 + header decode) a 100 MB model.
/// `cargo test --release -p mvt --test model_file digest_cost -- --ignored --nocapture`
#[test]
#[ignore = "a timing, run by hand"]
fn digest_cost_per_100_mb() {
    let mut model = fixture::model_proto(&metadata());
    let values: Vec<f32> = (0..25_000_000).map(|i| i as f32).collect();
    let graph = model.graph.as_mut().unwrap();
    graph.initializer.push(mvt_formats::onnx::TensorProto::from_f32("padding", &[values.len() as i64], &values));
    let start = std::time::Instant::now();
    let model = sealed(model);
    let seal = start.elapsed();
    let bytes = model.encode_to_vec();
    assert!(bytes.len() >= 100_000_000);
    let start = std::time::Instant::now();
    model_metadata_from_bytes(&bytes, "100 MB").unwrap();
    let verify = start.elapsed();
    println!(
        "{} MB: seal {:.0} ms (an extra encode + SHA-256), verify {:.0} ms (frame scan + SHA-256 + header decode)",
        bytes.len() / 1_000_000,
        seal.as_secs_f64() * 1e3,
        verify.as_secs_f64() * 1e3
    );
}

/// A hand-built file with just the signature: the schema check without the fixture's graph.
#[test]
fn signature_only_file_with_metadata_reads() {
    let dir = tempfile::tempdir().unwrap();
    let meta = metadata();
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
    sealed(model).write(&path).unwrap();
    assert_eq!(read_model_metadata(&path).unwrap(), meta);
}
