//! The library on a stand-in model file (tests/fixture): the Rust API's arithmetic plumbing, padding, chunking,
//! threads and every input error, and the C ABI's pointer handling, options versioning, accessors and codes.

use std::ffi::{c_char, CStr, CString};
use std::path::Path;
use std::ptr;

use mvt::dataset::*;
use mvt::guard::mvt_last_error;
use mvt::model::*;
use mvt::options::*;
use mvt::result::*;
use mvt::{mvt_abi_version, mvt_version, MVT_ABI_VERSION};
use mvt_runtime::error::{MvtError, MvtStatus};
use mvt_runtime::onnxruntime::{Device, Provider};
use mvt_runtime::output_json::{inference_json, python_float_repr};
use mvt_runtime::predict::{Model, Options, VideoInput};
use mvt_test_support::fixture;
use ndarray::Array2;

/// A deterministic video: `frames` rows of `dim` values from `seed`.
fn features(frames: usize, dim: usize, seed: usize) -> Array2<f32> {
    Array2::from_shape_fn((frames, dim), |(t, d)| (((seed * 31 + t * 7 + d * 3) % 13) as f32 - 6.0) / 6.0)
}

fn rows(a: &Array2<f32>) -> Vec<Vec<f32>> {
    a.rows().into_iter().map(|r| r.to_vec()).collect()
}

struct Video {
    rgb: Array2<f32>,
    audio: Array2<f32>,
    title: String,
}

fn videos() -> Vec<Video> {
    let titles =
        ["cat dog", "", "游戏 cat cat", "dog", "unknown words here", "游", "cat", "dog dog dog dog dog dog dog"];
    titles
        .iter()
        .enumerate()
        .map(|(i, title)| Video {
            rgb: features(1 + (i * 5) % 9, fixture::RGB_DIM, i),
            // Every third video has no audio.
            audio: features(if i % 3 == 1 { 0 } else { 2 + i % 4 }, fixture::AUDIO_DIM, i + 100),
            title: title.to_string(),
        })
        .collect()
}

fn inputs(videos: &[Video]) -> Vec<VideoInput<'_>> {
    videos.iter().map(|v| VideoInput { rgb: v.rgb.view(), audio: v.audio.view(), title: &v.title }).collect()
}

fn load(dir: &Path, options: &Options) -> Model {
    Model::load(&fixture::write_model(dir), options).expect("the fixture model loads")
}

#[test]
fn predictions_follow_the_model_inputs_padding_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(dir.path(), &Options { top_k: 2, ..Options::default() });
    assert_eq!(model.provider(), Provider::Cpu);
    let videos = videos();
    let predictions = model.predict(&inputs(&videos)).unwrap();
    assert_eq!(predictions.len(), videos.len());
    let tokenizer = fixture::tokenizer();
    for (video, prediction) in videos.iter().zip(&predictions) {
        let ids = tokenizer.encode(&video.title).unwrap();
        let expected = fixture::expected_probabilities(&rows(&video.rgb), &rows(&video.audio), &ids);
        for (got, want) in prediction.probabilities.iter().zip(&expected) {
            assert!((f64::from(*got) - want).abs() <= 1e-5, "{got} vs {want}");
        }
        assert_eq!(prediction.rgb_attention.len(), video.rgb.nrows());
        let audio_rows = if video.audio.nrows() == 0 { 10 } else { video.audio.nrows() };
        assert_eq!(prediction.audio_attention.len(), audio_rows);
        if video.audio.nrows() == 0 {
            assert!(prediction.audio_attention.iter().all(|&a| a == 0.0), "empty audio is zero rows");
        }
        for (t, a) in prediction.rgb_attention.iter().enumerate() {
            let mean = video.rgb.row(t).mean().unwrap();
            assert!((a - mean).abs() <= 1e-6);
        }
        // Tags: every class >= 0.5, best first.
        let mut above: Vec<usize> = (0..3).filter(|&k| f64::from(prediction.probabilities[k]) >= 0.5).collect();
        above.sort_by(|&a, &b| prediction.probabilities[b].total_cmp(&prediction.probabilities[a]));
        assert_eq!(prediction.tags.iter().map(|t| t.index).collect::<Vec<_>>(), above);
        for tag in &prediction.tags {
            assert_eq!(tag.name, fixture::CLASSES[tag.index]);
            assert_eq!(tag.score, prediction.probabilities[tag.index]);
        }
        assert_eq!(prediction.top_k.len(), 2);
        assert!(prediction.top_k[0].score >= prediction.top_k[1].score);
    }
    // The fixture's classes must not all sit on one side of the threshold, or the tag test proves nothing.
    let tagged: usize = predictions.iter().map(|p| p.tags.len()).sum();
    assert!(tagged > 0 && tagged < 3 * predictions.len());
}

#[test]
fn chunking_and_batching_give_the_results_of_single_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture::write_model(dir.path());
    let chunked = Model::load(&path, &Options { batch_size: 3, ..Options::default() }).unwrap();
    let videos = videos();
    let all = chunked.predict(&inputs(&videos)).unwrap();
    // Equal up to float rounding: ONNX Runtime's kernels may sum in a different order for another batch shape.
    let close = |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6);
    for (i, video) in videos.iter().enumerate() {
        let single = &chunked.predict(&inputs(std::slice::from_ref(video))).unwrap()[0];
        assert!(close(&single.probabilities, &all[i].probabilities), "video {i}");
        assert!(close(&single.rgb_attention, &all[i].rgb_attention), "video {i}");
        assert!(close(&single.audio_attention, &all[i].audio_attention), "video {i}");
        let indices = |p: &mvt_runtime::predict::Prediction| p.tags.iter().map(|t| t.index).collect::<Vec<_>>();
        assert_eq!(indices(single), indices(&all[i]), "video {i}");
    }
    assert!(chunked.predict(&[]).unwrap().is_empty());
}

#[test]
fn eight_threads_on_one_model_match_serial_results() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(dir.path(), &Options { sessions: 3, intra_threads: 1, ..Options::default() });
    let videos = videos();
    let serial: Vec<_> = videos.iter().map(|v| model.predict(&inputs(std::slice::from_ref(v))).unwrap()).collect();
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (model, videos, serial) = (&model, &videos, &serial);
            scope.spawn(move || {
                for round in 0..20 {
                    let i = (thread + round) % videos.len();
                    assert_eq!(model.predict(&inputs(&videos[i..i + 1])).unwrap(), serial[i]);
                }
            });
        }
    });
}

#[test]
fn bad_inputs_fail_with_their_own_error_naming_the_video() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(dir.path(), &Options { max_frames: 20, ..Options::default() });
    let good = videos();
    let check = |mutate: &dyn Fn(&mut Vec<Video>), status: MvtStatus, needle: &str| {
        let mut videos = videos();
        mutate(&mut videos);
        let error = model.predict(&inputs(&videos)).unwrap_err();
        assert_eq!(error.status(), status, "{error}");
        assert!(error.to_string().contains(needle), "{error:?} lacks {needle:?}");
    };
    check(
        &|v| v[2].rgb = features(3, fixture::RGB_DIM + 1, 0),
        MvtStatus::MvtErrDimension,
        "video 2: image (rgb_dim) features have width 7, the model expects 6",
    );
    // The width before the frame count: a wrong width with too many frames is a width error.
    check(
        &|v| v[2].rgb = features(21, fixture::RGB_DIM + 1, 0),
        MvtStatus::MvtErrDimension,
        "video 2: image (rgb_dim) features have width 7",
    );
    check(&|v| v[4].audio = features(3, 5, 0), MvtStatus::MvtErrDimension, "video 4: audio");
    check(&|v| v[1].rgb = features(0, fixture::RGB_DIM, 0), MvtStatus::MvtErrFrameCount, "video 1: no image frames");
    check(
        &|v| v[3].rgb = features(21, fixture::RGB_DIM, 0),
        MvtStatus::MvtErrFrameCount,
        "video 3: 21 image frames, more than max_frames 20",
    );
    check(
        &|v| v[5].audio = features(21, fixture::AUDIO_DIM, 0),
        MvtStatus::MvtErrFrameCount,
        "video 5: 21 audio frames",
    );
    check(
        &|v| v[1].rgb[[2, 3]] = f32::NAN,
        MvtStatus::MvtErrNonFinite,
        "video 1: image feature at frame 2, column 3 is NaN",
    );
    check(
        &|v| v[6].audio[[1, 0]] = f32::NEG_INFINITY,
        MvtStatus::MvtErrNonFinite,
        "video 6: audio feature at frame 1, column 0 is -inf",
    );
    // The failed calls left the model usable.
    assert_eq!(model.predict(&inputs(&good)).unwrap().len(), good.len());
}

#[test]
fn unusable_model_files_and_options_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let status_of =
        |path: &Path, options: &Options| Model::load(path, options).err().map(|e| (e.status(), e.to_string()));

    let (status, message) = status_of(&dir.path().join("missing.onnx"), &Options::default()).unwrap();
    assert_eq!(status, MvtStatus::MvtErrModelFile, "{message}");

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\xff\xff\xff\xff this is not protobuf").unwrap();
    let (status, message) = status_of(&garbage, &Options::default()).unwrap();
    assert_eq!(status, MvtStatus::MvtErrModelFile, "{message}");

    // A valid ONNX model without mvt metadata (a "foreign" file).
    let mut foreign = fixture::model_proto(&fixture::metadata());
    foreign.metadata_props.clear();
    let foreign_path = dir.path().join("foreign.onnx");
    foreign.write(&foreign_path).unwrap();
    let (status, message) = status_of(&foreign_path, &Options::default()).unwrap();
    assert_eq!(status, MvtStatus::MvtErrModelMetadata);
    assert!(message.contains("not an mvt model"), "{message}");

    // mvt metadata on a graph ONNX Runtime cannot run (a node with an unknown operator).
    let mut broken = fixture::model_proto(&fixture::metadata());
    broken.graph.as_mut().unwrap().node[0].op_type = "NoSuchOperator".into();
    let broken_path = dir.path().join("broken.onnx");
    broken.write(&broken_path).unwrap();
    let (status, message) = status_of(&broken_path, &Options::default()).unwrap();
    assert_eq!(status, MvtStatus::MvtErrModelFile, "{message}");

    let good = fixture::write_model(dir.path());
    for (options, needle) in [
        (Options { sessions: 0, ..Options::default() }, "sessions"),
        (Options { batch_size: 0, ..Options::default() }, "batch_size"),
        (Options { max_frames: 0, ..Options::default() }, "max_frames"),
        (Options { threshold: Some(1.5), ..Options::default() }, "threshold"),
    ] {
        let (status, message) = status_of(&good, &options).unwrap();
        assert_eq!(status, MvtStatus::MvtErrInvalidArgument);
        assert!(message.contains(needle), "{message}");
    }
    // This ONNX Runtime (the CPU wheel) has no CUDA: `cuda` fails clearly, `auto` falls back to the CPU.
    let cuda = Model::load(&good, &Options { device: Device::Cuda { device_id: 0 }, ..Options::default() });
    if let Err(error) = &cuda {
        assert_eq!(error.status(), MvtStatus::MvtErrDevice, "{error}");
    }
    let auto = Model::load(&good, &Options { device: Device::Auto { device_id: 0 }, ..Options::default() }).unwrap();
    assert_eq!(auto.provider(), if cuda.is_ok() { Provider::Cuda { device_id: 0 } } else { Provider::Cpu });
}

#[test]
fn the_model_file_tokenizer_equals_the_one_it_was_made_from() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(dir.path(), &Options::default());
    let original = fixture::tokenizer();
    let titles = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/titles.txt")).unwrap();
    let titles: Vec<&str> = titles.lines().collect();
    assert!(titles.len() > 100);
    assert_eq!(model.tokenizer().encode_batch(&titles).unwrap(), original.encode_batch(&titles).unwrap());
}

#[test]
fn inference_json_is_the_originals_format() {
    let dir = tempfile::tempdir().unwrap();
    let model = load(dir.path(), &Options { threshold: Some(0.0), ..Options::default() });
    let videos = videos();
    let predictions = model.predict(&inputs(&videos[..1])).unwrap();
    let json = inference_json([("a.mp4", predictions[0].labels_in_class_order())]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    let labels = parsed[0]["labels"].as_array().unwrap();
    // Threshold 0: every class, in class order, names unescaped.
    assert_eq!(labels.len(), 3);
    assert!(json.contains("\"游戏-沙盒\""));
    for (k, label) in labels.iter().enumerate() {
        assert_eq!(label[0], fixture::CLASSES[k]);
        // The score is printed as Python's repr of the float32 widened to float64, and reads back exactly.
        let repr = python_float_repr(f64::from(predictions[0].probabilities[k]));
        assert!(json.contains(&format!("\n                {repr}\n")), "{json}");
        assert_eq!(repr.parse::<f64>().unwrap(), f64::from(predictions[0].probabilities[k]));
    }
}

// ---- The C ABI (exports taking pointers are `unsafe fn`s: their `# Safety` is the header's contract) ----

fn last_error() -> String {
    unsafe { CStr::from_ptr(mvt_last_error()) }.to_string_lossy().into_owned()
}

fn c_load(path: &Path, options: Option<&MvtOptions>) -> (MvtStatus, *mut MvtModel) {
    let path = CString::new(path.to_str().unwrap()).unwrap();
    let mut model = ptr::null_mut();
    let status = unsafe { mvt_load(path.as_ptr(), options.map_or(ptr::null(), |o| o as *const _), &mut model) };
    (status, model)
}

fn default_options() -> MvtOptions {
    let mut options = std::mem::MaybeUninit::<MvtOptions>::zeroed();
    assert_eq!(
        unsafe { mvt_default_options(options.as_mut_ptr(), std::mem::size_of::<MvtOptions>()) },
        MvtStatus::MvtOk
    );
    unsafe { options.assume_init() }
}

fn c_video(v: &Video) -> MvtVideo {
    MvtVideo {
        rgb: v.rgb.as_ptr(),
        rgb_frames: v.rgb.nrows(),
        rgb_dim: v.rgb.ncols(),
        audio: if v.audio.nrows() == 0 { ptr::null() } else { v.audio.as_ptr() },
        audio_frames: v.audio.nrows(),
        audio_dim: v.audio.ncols(),
        title: v.title.as_ptr().cast(),
        title_len: v.title.len(),
    }
}

#[test]
fn c_abi_round_trip_matches_the_rust_api() {
    assert_eq!(mvt_abi_version(), MVT_ABI_VERSION);
    assert_eq!(unsafe { CStr::from_ptr(mvt_version()) }.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    let dir = tempfile::tempdir().unwrap();
    let path = fixture::write_model(dir.path());
    let mut options = default_options();
    options.top_k = 2;
    let (status, model) = c_load(&path, Some(&options));
    assert_eq!(status, MvtStatus::MvtOk, "{}", last_error());

    let mut info = std::mem::MaybeUninit::<MvtModelInfo>::zeroed();
    unsafe { (*info.as_mut_ptr()).struct_size = std::mem::size_of::<MvtModelInfo>() };
    assert_eq!(unsafe { mvt_model_info(model, info.as_mut_ptr()) }, MvtStatus::MvtOk);
    let info = unsafe { info.assume_init() };
    assert_eq!((info.num_classes, info.rgb_dim, info.audio_dim, info.text_max_len), (3, 6, 4, 8));
    assert_eq!(unsafe { CStr::from_ptr(info.provider) }.to_str().unwrap(), "cpu");
    assert!(unsafe { CStr::from_ptr(info.ort_version) }.to_str().unwrap().starts_with("1."));
    assert_eq!(unsafe { CStr::from_ptr(mvt_class_name(model, 1)) }.to_str().unwrap(), "拍人-萌娃");
    assert!(unsafe { mvt_class_name(model, 3) }.is_null());
    assert!(last_error().contains("class index 3 out of range"));

    let title = "游戏 cat";
    let (mut ids, mut count) = ([0i64; 8], 0usize);
    assert_eq!(
        unsafe { mvt_tokenize(model, title.as_ptr().cast(), title.len(), ids.as_mut_ptr(), 8, &mut count) },
        MvtStatus::MvtOk
    );
    assert_eq!(ids[..count], fixture::tokenizer().encode(title).unwrap()[..]);
    assert_eq!(
        unsafe { mvt_tokenize(model, title.as_ptr().cast(), title.len(), ids.as_mut_ptr(), 2, &mut count) },
        MvtStatus::MvtErrInvalidArgument
    );
    assert_eq!(count, 5);
    assert_eq!(
        last_error(),
        "invalid argument: capacity 2 is too small: the title has 5 ids (*count holds the number needed)"
    );
    // ids NULL: with capacity 0 a size query, with room claimed a NULL pointer.
    count = 0;
    assert_eq!(
        unsafe { mvt_tokenize(model, title.as_ptr().cast(), title.len(), ptr::null_mut(), 0, &mut count) },
        MvtStatus::MvtOk
    );
    assert_eq!(count, 5);
    assert_eq!(
        unsafe { mvt_tokenize(model, title.as_ptr().cast(), title.len(), ptr::null_mut(), 64, &mut count) },
        MvtStatus::MvtErrNullPointer
    );
    assert_eq!(last_error(), "ids (with capacity 64) is NULL");
    // A huge title costs a bounded prefix and gives the ids of the whole.
    let huge = "cat dog 游戏 ".repeat(1 << 20);
    assert_eq!(
        unsafe { mvt_tokenize(model, huge.as_ptr().cast(), huge.len(), ids.as_mut_ptr(), 8, &mut count) },
        MvtStatus::MvtOk
    );
    assert_eq!(ids[..count], fixture::tokenizer().encode_whole(&huge[..4096]).unwrap()[..]);

    let videos = videos();
    let c_videos: Vec<MvtVideo> = videos.iter().map(c_video).collect();
    let mut result = ptr::null_mut();
    assert_eq!(
        unsafe { mvt_predict(model, c_videos.as_ptr(), c_videos.len(), &mut result) },
        MvtStatus::MvtOk,
        "{}",
        last_error()
    );
    let rust =
        Model::load(&path, &Options { top_k: 2, ..Options::default() }).unwrap().predict(&inputs(&videos)).unwrap();
    assert_eq!(unsafe { mvt_result_count(result) }, videos.len());
    for (i, expected) in rust.iter().enumerate() {
        let mut n = 0;
        let probs = unsafe { mvt_result_probabilities(result, i, &mut n) };
        assert_eq!(unsafe { std::slice::from_raw_parts(probs, n) }, expected.probabilities.as_slice());
        let tags = unsafe { mvt_result_tags(result, i, &mut n) };
        let tags = unsafe { std::slice::from_raw_parts(tags, n) };
        assert_eq!(tags.len(), expected.tags.len());
        for (c, r) in tags.iter().zip(&expected.tags) {
            assert_eq!(
                (unsafe { CStr::from_ptr(c.name) }.to_str().unwrap(), c.index, c.score),
                (r.name.as_str(), r.index, r.score)
            );
        }
        let top = unsafe { mvt_result_top_k(result, i, &mut n) };
        assert!(!top.is_null());
        assert_eq!(n, 2);
        let attention = unsafe { mvt_result_rgb_attention(result, i, &mut n) };
        assert_eq!(unsafe { std::slice::from_raw_parts(attention, n) }, expected.rgb_attention.as_slice());
        let attention = unsafe { mvt_result_audio_attention(result, i, &mut n) };
        assert_eq!(unsafe { std::slice::from_raw_parts(attention, n) }, expected.audio_attention.as_slice());
    }
    let mut n = 7;
    assert!(unsafe { mvt_result_probabilities(result, videos.len(), &mut n) }.is_null());
    assert_eq!(n, 0);
    assert!(last_error().contains("out of range"));

    let ids: Vec<CString> = (0..videos.len()).map(|i| CString::new(format!("video-{i}.mp4")).unwrap()).collect();
    let id_ptrs: Vec<*const c_char> = ids.iter().map(|s| s.as_ptr()).collect();
    let json = unsafe { mvt_result_json(result, id_ptrs.as_ptr()) };
    let text = unsafe { CStr::from_ptr(json) }.to_str().unwrap().to_owned();
    unsafe { mvt_string_free(json) };
    let id_strings: Vec<String> = ids.iter().map(|s| s.to_str().unwrap().to_owned()).collect();
    assert_eq!(
        text,
        inference_json(id_strings.iter().map(String::as_str).zip(rust.iter().map(|p| p.labels_in_class_order())))
    );
    // The result outlives the model.
    unsafe { mvt_free(model) };
    assert_eq!(unsafe { mvt_result_count(result) }, videos.len());
    unsafe { mvt_result_free(result) };
}

#[test]
fn c_abi_rejects_bad_pointers_options_and_inputs_with_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = fixture::write_model(dir.path());
    let c_path = CString::new(path.to_str().unwrap()).unwrap();
    let mut model = ptr::null_mut();
    assert_eq!(unsafe { mvt_load(ptr::null(), ptr::null(), &mut model) }, MvtStatus::MvtErrNullPointer);
    assert!(last_error().contains("model_path is NULL"));
    assert_eq!(unsafe { mvt_load(c_path.as_ptr(), ptr::null(), ptr::null_mut()) }, MvtStatus::MvtErrNullPointer);
    assert_eq!(unsafe { mvt_default_options(ptr::null_mut(), 80) }, MvtStatus::MvtErrNullPointer);

    // Options from an older header (only the fields up to `device_id`) get defaults for the rest.
    let mut old = default_options();
    old.struct_size = std::mem::offset_of!(MvtOptions, sessions);
    old.sessions = 0; // past struct_size: must be ignored
    let (status, model) = c_load(&path, Some(&old));
    assert_eq!(status, MvtStatus::MvtOk, "{}", last_error());
    unsafe { mvt_free(model) };
    let mut too_big = default_options();
    too_big.struct_size += 8;
    assert_eq!(c_load(&path, Some(&too_big)).0, MvtStatus::MvtErrInvalidArgument);
    assert!(last_error().contains("struct_size"));
    let mut bad_device = default_options();
    bad_device.device = 7;
    assert_eq!(c_load(&path, Some(&bad_device)).0, MvtStatus::MvtErrInvalidArgument);
    assert!(last_error().contains("options.device is 7"));
    let mut no_sessions = default_options();
    no_sessions.sessions = 0;
    assert_eq!(c_load(&path, Some(&no_sessions)).0, MvtStatus::MvtErrInvalidArgument);
    assert_eq!(c_load(&dir.path().join("nope.onnx"), None).0, MvtStatus::MvtErrModelFile);

    let mut options = default_options();
    options.max_frames = 50;
    let (status, model) = c_load(&path, Some(&options));
    assert_eq!(status, MvtStatus::MvtOk);
    let videos = videos();
    let predict = |mutate: &dyn Fn(&mut MvtVideo)| -> MvtStatus {
        let mut c_videos: Vec<MvtVideo> = videos.iter().map(c_video).collect();
        mutate(&mut c_videos[1]);
        let mut result = ptr::null_mut();
        let status = unsafe { mvt_predict(model, c_videos.as_ptr(), c_videos.len(), &mut result) };
        assert!(result.is_null() == (status != MvtStatus::MvtOk));
        unsafe { mvt_result_free(result) };
        status
    };
    assert_eq!(predict(&|_| {}), MvtStatus::MvtOk);
    assert_eq!(predict(&|v| v.rgb = ptr::null()), MvtStatus::MvtErrNullPointer);
    assert!(last_error().contains("video 1: rgb"));
    assert_eq!(predict(&|v| v.audio_frames = 3), MvtStatus::MvtErrNullPointer); // video 1 has no audio: NULL
    assert_eq!(predict(&|v| v.rgb_dim = 5), MvtStatus::MvtErrDimension);
    assert_eq!(last_error(), "video 1: image (rgb_dim) features have width 5, the model expects 6");
    // The width is checked before the frame count, and before any product with it is formed.
    assert_eq!(predict(&|v| v.rgb_dim = usize::MAX), MvtStatus::MvtErrDimension);
    assert!(last_error().contains("image (rgb_dim) features have width 18446744073709551615"), "{}", last_error());
    assert_eq!(
        predict(&|v| {
            v.rgb_dim = usize::MAX;
            v.rgb_frames = usize::MAX
        }),
        MvtStatus::MvtErrDimension
    );
    assert_eq!(
        predict(&|v| {
            v.audio = v.rgb;
            v.audio_frames = 2;
            v.audio_dim = usize::MAX
        }),
        MvtStatus::MvtErrDimension
    );
    assert_eq!(
        last_error(),
        "video 1: audio (audio_dim) features have width 18446744073709551615, the model expects 4"
    );
    static TITLE: [u8; 1] = [b'a'];
    assert_eq!(
        predict(&|v| {
            v.title = TITLE.as_ptr().cast();
            v.title_len = usize::MAX
        }),
        MvtStatus::MvtErrInvalidArgument
    );
    assert!(last_error().contains("video 1: title_len 18446744073709551615 is larger than any buffer"));
    assert_eq!(predict(&|v| v.rgb_frames = 0), MvtStatus::MvtErrFrameCount);
    // A frame count far beyond the buffer is refused before any memory is touched.
    assert_eq!(predict(&|v| v.rgb_frames = usize::MAX / 2), MvtStatus::MvtErrFrameCount);
    static BAD_UTF8: [u8; 3] = [b'a', 0xff, b'b'];
    assert_eq!(
        predict(&|v| {
            v.title = BAD_UTF8.as_ptr().cast();
            v.title_len = 3
        }),
        MvtStatus::MvtErrInvalidUtf8
    );
    assert!(last_error().contains("video 1: the title is not valid UTF-8"));
    assert_eq!(
        predict(&|v| {
            v.title = ptr::null();
            v.title_len = 2
        }),
        MvtStatus::MvtErrNullPointer
    );

    let mut result = ptr::null_mut();
    assert_eq!(unsafe { mvt_predict(ptr::null(), ptr::null(), 0, &mut result) }, MvtStatus::MvtErrNullPointer);
    assert_eq!(unsafe { mvt_predict(model, ptr::null(), 2, &mut result) }, MvtStatus::MvtErrNullPointer);
    assert_eq!(unsafe { mvt_predict(model, ptr::null(), 0, &mut result) }, MvtStatus::MvtOk);
    assert_eq!(unsafe { mvt_result_count(result) }, 0);
    unsafe { mvt_result_free(result) };
    assert_eq!(unsafe { mvt_result_count(ptr::null()) }, 0);
    assert!(unsafe { mvt_result_tags(ptr::null(), 0, ptr::null_mut()) }.is_null());
    assert!(unsafe { mvt_result_json(ptr::null(), ptr::null()) }.is_null());
    assert_eq!(last_error(), "result is NULL");
    let c_videos: Vec<MvtVideo> = videos.iter().map(c_video).collect();
    assert_eq!(unsafe { mvt_predict(model, c_videos.as_ptr(), 1, &mut result) }, MvtStatus::MvtOk);
    let bad_id: &[u8] = b"vid\xff\0";
    assert!(unsafe { mvt_result_json(result, [bad_id.as_ptr().cast::<c_char>()].as_ptr()) }.is_null());
    assert_eq!(
        last_error(),
        "invalid argument: video_ids[0]: the video id is not valid UTF-8 (invalid utf-8 sequence of 1 bytes from \
         index 3)"
    );
    assert!(unsafe { mvt_result_json(result, [ptr::null::<c_char>()].as_ptr()) }.is_null());
    assert_eq!(last_error(), "video_ids[0] is NULL");
    unsafe { mvt_result_free(result) };
    assert_eq!(unsafe { mvt_model_info(model, ptr::null_mut()) }, MvtStatus::MvtErrNullPointer);
    unsafe {
        mvt_free(model);
        mvt_free(ptr::null_mut());
        mvt_result_free(ptr::null_mut());
        mvt_string_free(ptr::null_mut());
    }
}

#[test]
fn errors_convert_to_distinct_codes() {
    let codes: Vec<MvtStatus> = [
        MvtError::NullPointer("x".into()),
        MvtError::InvalidArgument(String::new()),
        MvtError::Dimension { video: 0, what: "image", got: 1, expected: 2 },
        MvtError::FrameCount { video: 0, message: String::new() },
        MvtError::NonFinite { video: 0, what: "image", frame: 0, column: 0, value: f32::NAN },
        MvtError::InvalidUtf8 { video: 0, detail: String::new() },
        MvtError::ModelFile { path: "m".into(), message: String::new() },
        MvtError::ModelMetadata { path: "m".into(), message: String::new() },
        MvtError::RuntimeMissing(String::new()),
        MvtError::RuntimeVersion(String::new()),
        MvtError::Device(String::new()),
        MvtError::Inference(String::new()),
        MvtError::Dataset(String::new()),
        MvtError::Internal(String::new()),
    ]
    .iter()
    .map(MvtError::status)
    .collect();
    let mut unique = codes.iter().map(|c| *c as i32).collect::<Vec<_>>();
    unique.sort();
    unique.dedup();
    assert_eq!(unique, (1..=14).collect::<Vec<_>>());
}

#[test]
fn the_c_dataset_reader_feeds_mvt_predict_the_same_videos() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = fixture::write_model(dir.path());
    fixture::write_dataset(dir.path());
    let c = |s: &str| CString::new(s).unwrap();
    let mut model = std::ptr::null_mut();
    assert_eq!(
        unsafe { mvt_load(c(model_path.to_str().unwrap()).as_ptr(), std::ptr::null(), &mut model) },
        MvtStatus::MvtOk
    );
    let mut dataset = std::ptr::null_mut();
    let data = c(dir.path().to_str().unwrap());
    assert_eq!(
        unsafe { mvt_dataset_open(model, data.as_ptr(), c("missing.txt").as_ptr(), &mut dataset) },
        MvtStatus::MvtErrDataset
    );
    assert!(dataset.is_null());
    assert_eq!(
        unsafe { mvt_dataset_open(model, data.as_ptr(), c("val.txt").as_ptr(), &mut dataset) },
        MvtStatus::MvtOk
    );
    let count = unsafe { mvt_dataset_count(dataset) };
    // The row without a feature file is reported with the reader's reason, through the C ABI.
    assert_eq!(unsafe { mvt_dataset_skipped_count(dataset) }, 1);
    let (mut line, mut name, mut reason) = (0usize, std::ptr::null(), std::ptr::null());
    assert_eq!(unsafe { mvt_dataset_skipped(dataset, 0, &mut line, &mut name, &mut reason) }, MvtStatus::MvtOk);
    assert_eq!((line, unsafe { CStr::from_ptr(name) }.to_str().unwrap()), (5, "e5.mp4"));
    assert!(unsafe { CStr::from_ptr(reason) }.to_str().unwrap().starts_with("missing feature file"));
    assert_eq!(
        unsafe { mvt_dataset_skipped(dataset, 1, &mut line, std::ptr::null_mut(), std::ptr::null_mut()) },
        MvtStatus::MvtErrInvalidArgument
    );
    assert_eq!(unsafe { mvt_dataset_skipped_count(std::ptr::null()) }, 0);
    assert_eq!(count, 4);
    let mut videos = Vec::new();
    let mut ids = Vec::new();
    for i in 0..count {
        let mut video = std::mem::MaybeUninit::<MvtVideo>::zeroed();
        let mut id = std::ptr::null();
        assert_eq!(unsafe { mvt_dataset_video(dataset, i, video.as_mut_ptr(), &mut id) }, MvtStatus::MvtOk);
        videos.push(unsafe { video.assume_init() });
        ids.push(id);
    }
    assert_eq!(unsafe { CStr::from_ptr(ids[2]) }.to_str().unwrap(), "c3.mp4");
    assert_eq!(
        unsafe { mvt_dataset_video(dataset, count, videos.as_mut_ptr(), std::ptr::null_mut()) },
        MvtStatus::MvtErrInvalidArgument
    );
    let mut result = std::ptr::null_mut();
    assert_eq!(unsafe { mvt_predict(model, videos.as_ptr(), count, &mut result) }, MvtStatus::MvtOk);
    let json = unsafe { mvt_result_json(result, ids.as_ptr()) };
    let text = unsafe { CStr::from_ptr(json) }.to_str().unwrap().to_owned();

    let rust_model = Model::load(&model_path, &Options::default()).unwrap();
    let rust_dataset = mvt_runtime::tag_dataset::load_videos(&rust_model, dir.path(), "val.txt").unwrap();
    let predictions = mvt_runtime::tag_dataset::predict_dataset(&rust_model, &rust_dataset, |_, _| {}).unwrap();
    let names = rust_dataset.videos.iter().map(|v| v.name.as_str());
    assert_eq!(text, inference_json(names.zip(predictions.iter().map(|p| p.labels_in_class_order()))));
    unsafe {
        mvt_string_free(json);
        mvt_result_free(result);
        mvt_dataset_free(dataset);
        mvt_free(model);
    }
}
