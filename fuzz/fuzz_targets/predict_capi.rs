//! The predict path through the C ABI, as a C host drives it: random batch sizes, frame counts, feature widths
//! (right and wrong), values (NaN and infinities included), NULL arrays and titles of random bytes, on the
//! stand-in model of tests/support (whose probabilities have a closed form). Every call must either fail with a
//! status and a message, leaving `*out` NULL, or return one finite probability vector per video equal to the
//! closed form; the result's accessors and JSON must work. Buffers always hold what the counts claim (the
//! function's documented contract), so any out-of-bounds access is the library's.
#![no_main]

use std::ffi::{c_char, CStr};
use std::ptr;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result as ArbitraryResult, Unstructured};
use libfuzzer_sys::fuzz_target;
use mvt::guard::mvt_last_error;
use mvt::model::{mvt_load, mvt_model_info, mvt_predict, mvt_tokenize, MvtModel, MvtModelInfo, MvtVideo};
use mvt::options::{mvt_default_options, MvtOptions};
use mvt::result::{
    mvt_result_count, mvt_result_free, mvt_result_json, mvt_result_probabilities, mvt_result_tags, mvt_string_free,
};
use mvt_runtime::error::MvtStatus;
use mvt_test_support::fixture;

/// Frames above this are refused (options.max_frames), so the fuzzer reaches the limit cheaply.
const MAX_FRAMES: usize = 24;

struct Loaded {
    model: *mut MvtModel,
    info: MvtModelInfo,
    _dir: tempfile::TempDir,
}
// The handle is thread-safe (mvt.h) and lives for the whole run.
unsafe impl Send for Loaded {}
unsafe impl Sync for Loaded {}

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = fixture::write_model(dir.path());
        let path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        let mut options = std::mem::MaybeUninit::<MvtOptions>::uninit();
        unsafe {
            assert_eq!(mvt_default_options(options.as_mut_ptr(), size_of::<MvtOptions>()), MvtStatus::MvtOk);
        }
        let mut options = unsafe { options.assume_init() };
        options.sessions = 1;
        options.intra_threads = 1;
        options.batch_size = 2; // batches of 2: longer calls are cut into chunks
        options.max_frames = MAX_FRAMES;
        let mut model = ptr::null_mut();
        let status = unsafe { mvt_load(path.as_ptr(), &options, &mut model) };
        assert_eq!(status, MvtStatus::MvtOk, "{}", last_error());
        let mut info: MvtModelInfo = unsafe { std::mem::zeroed() };
        info.struct_size = size_of::<MvtModelInfo>();
        assert_eq!(unsafe { mvt_model_info(model, &mut info) }, MvtStatus::MvtOk);
        Loaded { model, info, _dir: dir }
    })
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(mvt_last_error()) }.to_string_lossy().into_owned()
}

/// One video as the fuzzer describes it, with buffers that hold what its counts claim.
struct Video {
    rgb: Vec<f32>,
    rgb_frames: usize,
    rgb_dim: usize,
    audio: Vec<f32>,
    audio_frames: usize,
    audio_dim: usize,
    title: Vec<u8>,
    null_rgb: bool,
    null_audio: bool,
    null_title: bool,
}

fn value(u: &mut Unstructured) -> ArbitraryResult<f32> {
    Ok(match u.int_in_range(0u8..=63)? {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        _ => f32::from(u.arbitrary::<i8>()?) / 32.0, // [-4, 4]: sums stay far from overflow
    })
}

fn width(u: &mut Unstructured, right: usize) -> ArbitraryResult<usize> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => 0,
        1 => right + 1,
        2 => right - 1,
        _ => right,
    })
}

fn video(u: &mut Unstructured, info: &MvtModelInfo) -> ArbitraryResult<Video> {
    let rgb_frames = u.int_in_range(0..=MAX_FRAMES + 2)?;
    let audio_frames = u.int_in_range(0..=MAX_FRAMES + 2)?;
    let rgb_dim = width(u, info.rgb_dim)?;
    let audio_dim = width(u, info.audio_dim)?;
    let rgb = (0..rgb_frames * rgb_dim).map(|_| value(u)).collect::<ArbitraryResult<_>>()?;
    let audio = (0..audio_frames * audio_dim).map(|_| value(u)).collect::<ArbitraryResult<_>>()?;
    let title_len = u.int_in_range(0..=200usize)?;
    let title = u.bytes(title_len.min(u.len()))?.to_vec();
    Ok(Video {
        rgb,
        rgb_frames,
        rgb_dim,
        audio,
        audio_frames,
        audio_dim,
        title,
        null_rgb: u.ratio(1, 32)?,
        null_audio: u.ratio(1, 32)?,
        null_title: u.ratio(1, 32)?,
    })
}

fn as_c(v: &Video) -> MvtVideo {
    let or_null = |null: bool, p: *const f32| if null { ptr::null() } else { p };
    MvtVideo {
        rgb: or_null(v.null_rgb, v.rgb.as_ptr()),
        rgb_frames: v.rgb_frames,
        rgb_dim: v.rgb_dim,
        audio: or_null(v.null_audio, v.audio.as_ptr()),
        audio_frames: v.audio_frames,
        audio_dim: v.audio_dim,
        title: if v.null_title { ptr::null() } else { v.title.as_ptr().cast::<c_char>() },
        title_len: v.title.len(),
    }
}

/// The closed form of the stand-in model (tests/support/src/fixture.rs) for a video the library accepted.
fn expected(v: &Video, model: *const MvtModel) -> Vec<f64> {
    let rows = |data: &[f32], frames: usize, dim: usize| -> Vec<Vec<f32>> {
        (0..frames).map(|r| data[r * dim..(r + 1) * dim].to_vec()).collect()
    };
    let mut ids = [0i64; 64];
    let mut count = 0usize;
    let title = if v.title.is_empty() { ptr::null() } else { v.title.as_ptr().cast::<c_char>() };
    let status = unsafe { mvt_tokenize(model, title, v.title.len(), ids.as_mut_ptr(), ids.len(), &mut count) };
    assert_eq!(status, MvtStatus::MvtOk, "a title mvt_predict accepted does not tokenize: {}", last_error());
    fixture::expected_probabilities(
        &rows(&v.rgb, v.rgb_frames, v.rgb_dim),
        &rows(&v.audio, v.audio_frames, v.audio_dim),
        &ids[..count],
    )
}

fn run(data: &[u8]) -> ArbitraryResult<()> {
    let loaded = loaded();
    let mut u = Unstructured::new(data);
    let count = u.int_in_range(0..=5usize)?;
    let videos = (0..count).map(|_| video(&mut u, &loaded.info)).collect::<ArbitraryResult<Vec<_>>>()?;
    let c_videos: Vec<MvtVideo> = videos.iter().map(as_c).collect();
    let mut result = ptr::NonNull::<mvt::result::MvtResult>::dangling().as_ptr();
    let status = unsafe { mvt_predict(loaded.model, c_videos.as_ptr(), count, &mut result) };
    if status != MvtStatus::MvtOk {
        assert!(result.is_null(), "a failed mvt_predict left *out set");
        assert!(!last_error().is_empty(), "a failed mvt_predict left no message");
        return Ok(());
    }
    assert_eq!(unsafe { mvt_result_count(result) }, count);
    for (i, v) in videos.iter().enumerate() {
        let mut classes = 0usize;
        let probs = unsafe { mvt_result_probabilities(result, i, &mut classes) };
        assert_eq!(classes, loaded.info.num_classes);
        let probs = unsafe { std::slice::from_raw_parts(probs, classes) };
        for (got, want) in probs.iter().zip(expected(v, loaded.model)) {
            assert!(got.is_finite() && (f64::from(*got) - want).abs() < 1e-4, "video {i}: {got} != {want}");
        }
        let mut tags = usize::MAX;
        assert!(!unsafe { mvt_result_tags(result, i, &mut tags) }.is_null());
        assert!(tags <= classes);
    }
    let json = unsafe { mvt_result_json(result, ptr::null()) };
    assert!(!json.is_null(), "{}", last_error());
    unsafe { mvt_string_free(json) };
    unsafe { mvt_result_free(result) };
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
