//! A missing, foreign or too old libonnxruntime fails the load with its own code and a message naming the file.
//! Its own test binary: no test here may load a working ONNX Runtime (one per process, first load wins).

use mvt_test_support::fixture;

use std::path::Path;
use std::process::Command;

use mvt_runtime::error::MvtStatus;
use mvt_runtime::predict::{Model, Options};

/// A shared library that looks like ONNX Runtime 1.10 to the version probe (`OrtGetApiBase` and a version string).
fn fake_old_onnxruntime(dir: &Path) -> std::path::PathBuf {
    let source = dir.join("fake_ort.c");
    std::fs::write(
        &source,
        r#"typedef struct { const void *(*GetApi)(unsigned); const char *(*GetVersionString)(void); } OrtApiBase;
static const void *get_api(unsigned version) { (void)version; return 0; }
static const char *version_string(void) { return "1.10.0"; }
static const OrtApiBase base = { get_api, version_string };
const OrtApiBase *OrtGetApiBase(void) { return &base; }
"#,
    )
    .unwrap();
    let library = dir.join("libonnxruntime.so.1.10.0");
    let status =
        Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&library).arg(&source).status().expect("cc runs");
    assert!(status.success());
    library
}

#[test]
fn missing_foreign_and_old_runtimes_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture::write_model(dir.path());
    let load = |library: Option<&Path>| {
        let options = Options { ort_library: library.map(Path::to_path_buf), ..Options::default() };
        let error = Model::load(&model, &options).err().expect("no working ONNX Runtime is offered");
        (error.status(), error.to_string())
    };

    let (status, message) = load(Some(&dir.path().join("libonnxruntime.so.404")));
    assert_eq!(status, MvtStatus::MvtErrRuntimeMissing, "{message}");
    assert!(message.contains("libonnxruntime.so.404") && message.contains("options.ort_library"), "{message}");

    let (status, message) = load(Some(&fake_old_onnxruntime(dir.path())));
    assert_eq!(status, MvtStatus::MvtErrRuntimeVersion, "{message}");
    assert!(message.contains("version 1.10.0") && message.contains("needs ONNX Runtime >= 1.17"), "{message}");

    let (status, message) = load(Some(Path::new("libc.so.6")));
    assert_eq!(status, MvtStatus::MvtErrRuntimeMissing, "{message}");
    assert!(message.contains("not an ONNX Runtime library"), "{message}");

    // MVT_ORT_LIB, when set, is the only candidate (no silent fallback to another library).
    std::env::set_var("MVT_ORT_LIB", dir.path().join("nowhere.so"));
    let (status, message) = load(None);
    std::env::remove_var("MVT_ORT_LIB");
    assert_eq!(status, MvtStatus::MvtErrRuntimeMissing, "{message}");
    assert!(message.contains("nowhere.so (MVT_ORT_LIB)"), "{message}");
}
