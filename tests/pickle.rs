//! The restricted unpickler against pickles written by real Python + numpy (tests/support/make_pickles.py,
//! run at test time with the project's venv), Python 2 style files, code-running pickles, and broken input.

use std::path::PathBuf;
use std::sync::OnceLock;

use mvt_formats::feature_file::read_feature_file;
use mvt_formats::pickle::{load, NdArray, PickleError, Value};
use serde_json::{json, Value as Json};

use mvt_test_support::venv;

/// The cases written once per test binary: (folder, case names).
fn cases() -> &'static (tempfile::TempDir, Vec<String>) {
    static CASES: OnceLock<(tempfile::TempDir, Vec<String>)> = OnceLock::new();
    CASES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let status = venv::python()
            .arg(venv::workspace().join("tests/support/make_pickles.py"))
            .arg(dir.path())
            .status()
            .expect("run make_pickles.py");
        assert!(status.success(), "make_pickles.py failed");
        let names = std::fs::read_to_string(dir.path().join("cases.txt")).unwrap();
        let names = names.lines().map(str::to_string).collect();
        (dir, names)
    })
}

fn case_path(name: &str) -> PathBuf {
    cases().0.path().join(name)
}

fn case_bytes(name: &str) -> Vec<u8> {
    std::fs::read(case_path(&format!("{name}.pkl"))).unwrap()
}

fn expected(name: &str) -> Json {
    serde_json::from_str(&std::fs::read_to_string(case_path(&format!("{name}.json"))).unwrap()).unwrap()
}

/// The same tagged JSON form as make_pickles.py's `tagged`.
fn tagged(value: &Value) -> Json {
    match value {
        Value::None => json!({"t": "none"}),
        Value::Bool(b) => json!({"t": "bool", "v": b}),
        Value::Int(i) => json!({"t": "int", "v": i}),
        Value::BigInt(bytes) => json!({"t": "bigint", "hex": hex(bytes)}),
        Value::Float(f) => json!({"t": "float", "bits": float_bits(*f)}),
        Value::Str(s) => json!({"t": "str", "v": s}),
        Value::Bytes(b) => json!({"t": "bytes", "hex": hex(b)}),
        Value::List(items) => {
            json!({"t": "list", "v": items.iter().map(tagged).collect::<Vec<_>>()})
        }
        Value::Tuple(items) => {
            json!({"t": "tuple", "v": items.iter().map(tagged).collect::<Vec<_>>()})
        }
        Value::Dict(entries) => {
            json!({"t": "dict", "v": entries.iter().map(|(k, v)| json!([tagged(k), tagged(v)])).collect::<Vec<_>>()})
        }
        Value::Array(array) => {
            let data: Vec<Json> = match array {
                NdArray::Bool(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::I8(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::I16(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::I32(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::I64(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::U8(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::U16(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::U32(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::U64(a) => a.iter().map(|&x| json!(x)).collect(),
                NdArray::F32(a) => a.iter().map(|&x| float_bits(f64::from(x))).collect(),
                NdArray::F64(a) => a.iter().map(|&x| float_bits(x)).collect(),
            };
            json!({"t": "array", "dtype": array.element_type().code(), "shape": array.shape(), "data": data})
        }
    }
}

/// Where two tagged values first differ, for a readable failure.
fn difference(got: &Json, want: &Json, path: &str) -> String {
    match (got, want) {
        (Json::Array(g), Json::Array(w)) if g.len() == w.len() => g
            .iter()
            .zip(w)
            .enumerate()
            .find(|(_, (g, w))| g != w)
            .map_or(String::new(), |(i, (g, w))| difference(g, w, &format!("{path}[{i}]"))),
        (Json::Object(g), Json::Object(w)) if g.len() == w.len() => g
            .iter()
            .find(|(k, v)| w.get(*k) != Some(*v))
            .map_or(String::new(), |(k, v)| difference(v, &w[k], &format!("{path}.{k}"))),
        _ => format!("at {path}: got {got}, want {want}"),
    }
}

/// Exact form of a float (JSON numbers go through decimal).
fn float_bits(x: f64) -> Json {
    json!(format!("{:016x}", x.to_bits()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn python_pickles_load_with_identical_values() {
    let names = &cases().1;
    assert!(names.len() >= 190, "expected every protocol x dtype case, got {}", names.len());
    for protocol in 0..=5 {
        assert!(names.iter().any(|n| n.starts_with(&format!("p{protocol}_"))), "no protocol {protocol} case");
    }
    let mut failures = Vec::new();
    for name in names {
        match load(&case_bytes(name)) {
            Ok(value) if tagged(&value) == expected(name) => {}
            Ok(value) => failures.push(format!("{name}: {}", difference(&tagged(&value), &expected(name), "$"))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), names.len(), failures.join("\n"));
}

/// The expected float32 matrix of a tagged array (numpy's astype(float32) of the stored values).
fn expected_matrix(array: &Json) -> ndarray::Array2<f32> {
    let shape = array["shape"].as_array().unwrap();
    let (rows, cols) = (shape[0].as_u64().unwrap() as usize, shape[1].as_u64().unwrap() as usize);
    let bits = |x: &Json| u64::from_str_radix(x.as_str().unwrap(), 16).unwrap();
    let data = array["data"].as_array().unwrap().iter().map(|x| f64::from_bits(bits(x)) as f32).collect();
    ndarray::Array2::from_shape_vec((rows, cols), data).unwrap()
}

/// `{'k': v}` of a tagged dict.
fn entry<'a>(dict: &'a Json, key: &str) -> &'a Json {
    let entries = dict["v"].as_array().unwrap();
    let pair = entries.iter().find(|kv| kv[0]["v"] == key).unwrap_or_else(|| panic!("no {key}"));
    &pair[1]
}

#[test]
fn feature_files_convert_to_f32_matrices() {
    let names: Vec<&String> = cases().1.iter().filter(|n| n.contains("feature_file")).collect();
    assert!(names.len() >= 30, "{} feature file cases", names.len());
    for name in names {
        let file = read_feature_file(&case_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = expected(name);
        let feature = entry(&want, "feature");
        assert_eq!(file.rgb, expected_matrix(entry(feature, "image_pkl")), "{name} image");
        assert_eq!(file.audio, expected_matrix(entry(feature, "audio_pkl")), "{name} audio");
        assert!(file.rgb.is_standard_layout() && file.audio.is_standard_layout(), "{name} layout");
        assert_eq!(file.video, entry(&want, "video")["v"].as_str().unwrap(), "{name} video");
        let labels: Vec<i64> =
            entry(&want, "label")["v"].as_array().unwrap().iter().map(|l| l["v"].as_i64().unwrap()).collect();
        assert_eq!(file.labels, labels, "{name} labels");
    }
    // The Python 2 file's name was a latin-1 str, as encoding='iso-8859-1' reads it.
    assert_eq!(read_feature_file(&case_bytes("py2_protocol2_feature_file")).unwrap().video, "café déjà.mp4");
}

#[test]
fn feature_file_shapes_are_checked() {
    // a dict without 'feature', an array instead of a dict: errors naming the problem
    let err = read_feature_file(&case_bytes("p4_plain_data")).unwrap_err();
    assert!(matches!(err, PickleError::NotFeatureFile(ref m) if m.contains("'feature'")), "{err}");
    let err = read_feature_file(&case_bytes("p2_f4")).unwrap_err();
    assert!(err.to_string().contains("top level is a ndarray"), "{err}");
    // Empty 1-D image array means 0 rows; a 3-D one is refused (assembled from real pickles of each part).
    let with = |image: &[u8]| -> Vec<u8> {
        // protocol 0 text: {'feature': {'image_pkl': <image>, 'audio_pkl': <image>}}, with the array pickles
        // spliced in without their STOP
        let body = &image[..image.len() - 1];
        let mut out = b"(S'feature'\n(S'image_pkl'\n".to_vec();
        out.extend_from_slice(body);
        out.extend_from_slice(b"S'audio_pkl'\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"dd.");
        out
    };
    // The spliced copies store the same memo keys; the second overwrites the first harmlessly.
    let empty = read_feature_file(&with(&case_bytes("p0_empty_1d"))).unwrap();
    assert_eq!(empty.rgb.dim(), (0, 0));
    assert!(empty.labels.is_empty() && empty.video.is_empty());
    let err = read_feature_file(&with(&case_bytes("p0_fortran_big_endian_3d"))).unwrap_err();
    assert!(err.to_string().contains("'image_pkl' has shape [3, 2, 4]"), "{err}");
}

#[test]
fn code_running_globals_are_refused_by_name() {
    let list = std::fs::read_to_string(case_path("refused.txt")).unwrap();
    let mut checked = 0;
    for line in list.lines() {
        let (file, global) = line.split_once('\t').unwrap();
        let bytes = std::fs::read(case_path(file)).unwrap();
        let err = load(&bytes).unwrap_err();
        assert!(matches!(&err, PickleError::RefusedGlobal { name, .. } if name == global), "{file}: {err}");
        assert!(err.to_string().contains(&format!("refused global {global}")), "{file}: {err}");
        assert!(read_feature_file(&bytes).is_err());
        checked += 1;
    }
    assert_eq!(checked, 12);
    assert!(!case_path("marker").exists(), "a refused pickle ran code");

    // Hand-written: GLOBAL, INST and STACK_GLOBAL naming os.system.
    for bytes in [
        &b"cos\nsystem\n(S'echo hi'\ntR."[..],
        b"(S'echo hi'\nios\nsystem\n.",
        b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02hi\x85R.",
    ] {
        let err = load(bytes).unwrap_err();
        assert!(err.to_string().contains("refused global os.system"), "{err}");
    }
}

#[test]
fn python2_strings_read_as_latin1() {
    // SHORT_BINSTRING and BINSTRING with bytes >= 0x80: latin-1 code points, as encoding='iso-8859-1' gives.
    assert_eq!(load(b"\x80\x02U\x03a\xe9\xff.").unwrap(), Value::Str("aé\u{ff}".into()));
    assert_eq!(load(b"\x80\x02T\x02\x00\x00\x00\xe0b.").unwrap(), Value::Str("àb".into()));
}

#[test]
fn truncated_at_every_offset_is_an_error() {
    let mut checked = 0;
    for name in cases()
        .1
        .iter()
        .filter(|n| n.contains("feature_file_empty_audio") || n.starts_with("py2_") || n.contains("plain_data"))
    {
        let bytes = case_bytes(name);
        for end in 0..bytes.len() {
            let prefix = &bytes[..end];
            assert!(load(prefix).is_err(), "{name} cut at {end} loaded");
            assert!(read_feature_file(prefix).is_err(), "{name} cut at {end} loaded as a feature file");
            checked += 1;
        }
    }
    assert!(checked > 10_000, "{checked} prefixes");
    let err = load(&case_bytes("p2_f4")[..40]).unwrap_err();
    assert!(matches!(err, PickleError::Truncated { .. }), "{err}");
}

/// xorshift64*: a fixed sequence, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[test]
fn randomly_corrupted_files_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut errors, mut total) = (0, 0);
    for name in
        cases().1.iter().filter(|n| n.contains("feature_file") || n.contains("plain_data") || n.ends_with("_f4"))
    {
        let original = case_bytes(name);
        for _ in 0..150 {
            let mut bytes = original.clone();
            match rng.below(3) {
                0 => {
                    for _ in 0..=rng.below(4) {
                        let at = rng.below(bytes.len());
                        bytes[at] = rng.below(256) as u8;
                    }
                }
                1 => {
                    let at = rng.below(bytes.len());
                    bytes.remove(at);
                }
                _ => {
                    let at = rng.below(bytes.len());
                    bytes.insert(at, rng.below(256) as u8);
                }
            }
            // Some corruptions still form a valid pickle (a changed float); none may panic.
            errors += usize::from(load(&bytes).is_err());
            let _ = read_feature_file(&bytes);
            total += 1;
        }
    }
    assert!(total > 5_000 && errors > total / 4, "{errors} errors of {total}");
}

#[test]
fn hostile_input_is_bounded() {
    // Lengths far beyond the input.
    for bytes in [
        &b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f."[..],
        b"\x80\x04\x8d\x00\x00\x00\x00\x00\x00\x00\x80.",
        b"\x80\x05\x96\xff\xff\xff\xff\xff\xff\xff\xffab.",
        b"X\xff\xff\xff\xffab.",
        b"\x80\x04\x95\xff\xff\xff\xff\x00\x00\x00\x00N.",
        b"\x8b\xff\xff\xff\x7f.",
    ] {
        assert!(matches!(load(bytes), Err(PickleError::Truncated { .. })), "{bytes:?}");
    }
    // A tuple of the same object twice, nested 64 times: 2^64 leaves if copied naively.
    let mut bomb = b"\x80\x02N".to_vec();
    for _ in 0..64 {
        bomb.extend_from_slice(b"q\x00h\x00\x86");
    }
    bomb.push(b'.');
    assert!(matches!(load(&bomb), Err(PickleError::LimitExceeded { .. })), "{:?}", load(&bomb));
    // 100 000 nested lists: refused by depth, no stack overflow.
    let mut deep = vec![b']'; 100_000];
    deep.extend(std::iter::repeat_n(b'a', 99_999));
    deep.push(b'.');
    let err = load(&deep).unwrap_err();
    assert!(err.to_string().contains("nesting deeper"), "{err}");
    // One memoized 4000-byte buffer decoded into an array 10 000 times: capped by the decode budget.
    let mut decode_bomb = b"\x80\x05\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93\x94(\x96".to_vec();
    decode_bomb.extend_from_slice(&4000u64.to_le_bytes());
    decode_bomb.extend(std::iter::repeat_n(0u8, 4000));
    decode_bomb.extend_from_slice(b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f4\x89\x88\x87R(K\x03\x8c\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbM\xe8\x03\x85\x8c\x01Ct\x94R");
    for _ in 0..10_000 {
        decode_bomb.extend_from_slice(b"0h\x00h\x01R");
    }
    decode_bomb.push(b'.');
    let err = load(&decode_bomb).unwrap_err();
    assert!(matches!(err, PickleError::LimitExceeded { .. }), "{err}");
    // The same pickle with one decode is fine.
    let single = [&decode_bomb[..decode_bomb.len() - 10_000 * 6 - 1], b"."].concat();
    assert!(matches!(load(&single), Ok(Value::Array(NdArray::F32(ref a))) if a.len() == 1000));
}

#[test]
fn unsupported_and_unknown_opcodes_are_named() {
    let err = load(b"\x80\x04\x8f.").unwrap_err();
    assert!(err.to_string().contains("EMPTY_SET"), "{err}");
    let err = load(b"\x80\x05\x97.").unwrap_err();
    assert!(err.to_string().contains("out-of-band"), "{err}");
    let err = load(b"\x80\x02\xff.").unwrap_err();
    assert_eq!(err, PickleError::UnknownOpcode { pos: 2, op: 0xff });
    assert!(load(b"\x80\x06N.").unwrap_err().to_string().contains("protocol 6"));
}
