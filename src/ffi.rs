//! The C ABI (`include/mvt.h`, generated from this file by cbindgen): a thin layer over [`crate::predict`].
//!
//! Rules every export follows: it catches panics (a bug fails the call with `MVT_ERR_INTERNAL`, never unwinds into
//! or aborts the host), checks every pointer before use, records a message for `mvt_last_error` on failure, and
//! reports failure through its return value (a status, or NULL / 0 where documented). Doc comments here are the
//! header's documentation: ownership, thread safety, failure.

// The exports are called from C, where `unsafe` does not exist: they check every pointer for NULL and document
// the validity they must trust (the header's contract), rather than being `unsafe fn`s.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::cell::RefCell;
use std::ffi::OsStr;
use std::ffi::{c_char, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

use ndarray::ArrayView2;

use mvt_formats::dataset::Dataset;
use mvt_runtime::error::{MvtError, MvtStatus};
use mvt_runtime::tag_dataset::load_videos;
use mvt_runtime::predict::{inference_json, Model, Options, Prediction, Tag, VideoInput};
use mvt_runtime::onnxruntime::Device;

/// The ABI version of this header; `mvt_abi_version()` returns the library's. They must be equal: a library with a
/// different ABI version may lay out the structs differently.
pub const MVT_ABI_VERSION: u32 = 1;

/// Where inference runs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MvtDevice {
    /// The CPU (default).
    MvtDeviceCpu = 0,
    /// CUDA GPU `device_id`; mvt_load fails with MVT_ERR_DEVICE when CUDA cannot be used.
    MvtDeviceCuda = 1,
    /// CUDA GPU `device_id` when it works, else the CPU; mvt_model_info tells which one runs.
    MvtDeviceAuto = 2,
}

/// Load options. Always initialize with mvt_default_options, then change fields: new fields are only ever
/// appended, and `struct_size` tells the library which of them the caller's header knew.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MvtOptions {
    /// sizeof(mvt_options) as the caller compiled it (set by mvt_default_options).
    pub struct_size: usize,
    /// Path of libonnxruntime.so to use, or NULL to search: env MVT_ORT_LIB, then next to libmvt.so, then the
    /// build tree's .venv. Only one ONNX Runtime can be loaded per process: the first successful mvt_load decides.
    pub ort_library: *const c_char,
    /// An mvt_device value (an int in the struct so that any value a C caller stores can be checked).
    pub device: i32,
    /// CUDA device ordinal for MVT_DEVICE_CUDA / MVT_DEVICE_AUTO.
    pub device_id: i32,
    /// ONNX Runtime sessions in the handle's pool = how many mvt_predict calls on one handle run at the same time
    /// (>= 1; more calls wait for a free session).
    pub sessions: usize,
    /// Threads per session inside an operator (0: one per core).
    pub intra_threads: usize,
    /// Videos per ONNX Runtime run; mvt_predict splits larger batches into chunks of this size (>= 1).
    pub batch_size: usize,
    /// Most image frames or audio segments accepted per video (>= 1); more fails with MVT_ERR_FRAME_COUNT.
    pub max_frames: usize,
    /// Tag threshold on the probabilities in [0, 1]; a negative value uses the model file's threshold.
    pub threshold: f64,
    /// Number of best classes each result lists (mvt_result_top_k); 0 for none.
    pub top_k: usize,
}

/// One video's inputs, borrowed for the duration of mvt_predict only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MvtVideo {
    /// Image features, row-major [rgb_frames][rgb_dim]; rgb_frames >= 1.
    pub rgb: *const f32,
    pub rgb_frames: usize,
    /// Width of a row of `rgb`; must equal the model's (mvt_info.rgb_dim).
    pub rgb_dim: usize,
    /// Audio features, row-major [audio_frames][audio_dim]. audio_frames == 0 (audio may then be NULL) means the
    /// video has no audio: the model sees empty_audio_frames zero rows, as in training.
    pub audio: *const f32,
    pub audio_frames: usize,
    pub audio_dim: usize,
    /// The title as UTF-8 bytes (not necessarily NUL-terminated); NULL with title_len 0 is an empty title.
    pub title: *const c_char,
    pub title_len: usize,
}

/// A class and its probability.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MvtTag {
    /// The class name (UTF-8, NUL-terminated), owned by the result.
    pub name: *const c_char,
    /// The class index (position in mvt_result_probabilities).
    pub index: usize,
    pub score: f32,
}

/// What mvt_model_info reports. Strings are owned by the model handle and valid until mvt_free.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MvtModelInfo {
    /// sizeof(mvt_info) as the caller compiled it; set it before calling mvt_model_info.
    pub struct_size: usize,
    pub num_classes: usize,
    pub rgb_dim: usize,
    pub audio_dim: usize,
    /// Max title tokens including [CLS] and [SEP].
    pub text_max_len: usize,
    /// Zero rows that stand in for a video without audio.
    pub empty_audio_frames: usize,
    /// The threshold tags are cut at (the option's, else the model file's).
    pub threshold: f64,
    /// Sessions in the pool.
    pub sessions: usize,
    /// The execution provider that runs: "cpu" or "cuda:<id>".
    pub provider: *const c_char,
    /// The loaded ONNX Runtime's version, e.g. "1.31.1".
    pub ort_version: *const c_char,
    /// The file ONNX Runtime was loaded from.
    pub ort_library: *const c_char,
}

/// A loaded model (opaque). Create with mvt_load, destroy with mvt_free.
pub struct MvtModel {
    model: Model,
    class_names: Arc<Vec<CString>>,
    provider: CString,
    ort_version: CString,
    ort_library: CString,
}

/// The predictions of one mvt_predict call (opaque). Independent of the model handle: it stays valid after
/// mvt_free. Destroy with mvt_result_free.
pub struct MvtResult {
    predictions: Vec<Prediction>,
    tags: Vec<Vec<MvtTag>>,
    top_k: Vec<Vec<MvtTag>>,
    /// Keeps the names the tags point at alive.
    _class_names: Arc<Vec<CString>>,
}

// SAFETY: the raw pointers in MvtTag point into `_class_names`, immutable and owned by the result.
unsafe impl Send for MvtResult {}
unsafe impl Sync for MvtResult {}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let message = CString::new(message.replace('\0', "\\0")).expect("NUL bytes were replaced");
    LAST_ERROR.with(|slot| *slot.borrow_mut() = message);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `body`, turning its error or panic into `fallback` plus a recorded message and status.
fn guarded<T>(fallback: T, body: impl FnOnce() -> Result<T, MvtError>) -> (T, MvtStatus) {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => (value, MvtStatus::MvtOk),
        Ok(Err(error)) => {
            set_last_error(&error.to_string());
            (fallback, error.status())
        }
        Err(payload) => {
            let error = MvtError::Internal(format!("panic in mvt: {}", panic_message(payload.as_ref())));
            set_last_error(&error.to_string());
            (fallback, error.status())
        }
    }
}

fn status(body: impl FnOnce() -> Result<(), MvtError>) -> MvtStatus {
    guarded((), body).1
}

fn non_null<'a, T>(pointer: *const T, name: &str) -> Result<&'a T, MvtError> {
    // SAFETY: the caller promises a non-NULL pointer refers to a live, aligned T (the header's contract).
    unsafe { pointer.as_ref() }.ok_or_else(|| MvtError::NullPointer(name.to_string()))
}

fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).expect("NUL bytes were replaced")
}

/// The library's ABI version; compare with MVT_ABI_VERSION. Never fails; thread-safe.
#[no_mangle]
pub extern "C" fn mvt_abi_version() -> u32 {
    MVT_ABI_VERSION
}

/// The library's version, e.g. "0.1.0": a static string, never NULL, never freed. Thread-safe.
#[no_mangle]
pub extern "C" fn mvt_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The message of the last failed mvt call on the calling thread ("" if none failed yet). Never NULL. The
/// string is owned by the library and valid until the next failing mvt call on this thread; copy it to keep it.
/// Each thread has its own message, so concurrent calls never see each other's errors.
#[no_mangle]
pub extern "C" fn mvt_last_error() -> *const c_char {
    catch_unwind(|| LAST_ERROR.with(|slot| slot.borrow().as_ptr())).unwrap_or(c"mvt_last_error failed".as_ptr())
}

/// Fills `*options` with the defaults (CPU, a pool of up to 4 sessions sharing the cores, batch_size 64,
/// max_frames 3600, the model's threshold, no top-k) and sets options->struct_size = struct_size. Pass
/// sizeof(mvt_options). Only the first struct_size bytes are written, so a program built against an older header
/// keeps working with a newer library.
/// Returns MVT_ERR_NULL_POINTER for a NULL `options`, MVT_ERR_INVALID_ARGUMENT when struct_size is too small to
/// hold struct_size itself or larger than this library's mvt_options. Thread-safe.
#[no_mangle]
pub extern "C" fn mvt_default_options(options: *mut MvtOptions, struct_size: usize) -> MvtStatus {
    status(|| {
        if options.is_null() {
            return Err(MvtError::NullPointer("options".into()));
        }
        check_struct_size("mvt_options", struct_size, std::mem::size_of::<MvtOptions>())?;
        let defaults = Options::default();
        let filled = MvtOptions {
            struct_size,
            ort_library: std::ptr::null(),
            device: MvtDevice::MvtDeviceCpu as i32,
            device_id: 0,
            sessions: defaults.sessions,
            intra_threads: defaults.intra_threads,
            batch_size: defaults.batch_size,
            max_frames: defaults.max_frames,
            threshold: -1.0,
            top_k: defaults.top_k,
        };
        // SAFETY: the caller provides struct_size writable bytes at `options`; we copy at most that many.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (&filled as *const MvtOptions).cast::<u8>(),
                options.cast::<u8>(),
                struct_size,
            )
        };
        Ok(())
    })
}

fn check_struct_size(name: &str, given: usize, ours: usize) -> Result<(), MvtError> {
    if given < std::mem::size_of::<usize>() || given > ours {
        return Err(MvtError::InvalidArgument(format!(
            "{name}.struct_size is {given}; this library (ABI {MVT_ABI_VERSION}) accepts {} to {ours} \
             (initialize with sizeof({name}))",
            std::mem::size_of::<usize>()
        )));
    }
    Ok(())
}

/// Reads a caller's mvt_options, taking library defaults for fields past its struct_size.
fn read_options(options: *const MvtOptions) -> Result<Options, MvtError> {
    let mut filled = Options::default();
    if options.is_null() {
        return Ok(filled);
    }
    // SAFETY: non-NULL, and the caller promises at least struct_size readable bytes; read the size first.
    let given = unsafe { options.cast::<usize>().read_unaligned() };
    check_struct_size("mvt_options", given, std::mem::size_of::<MvtOptions>())?;
    let mut raw = std::mem::MaybeUninit::<MvtOptions>::uninit();
    // Start from the library defaults so fields the caller's header lacks have sane values.
    mvt_default_options(raw.as_mut_ptr(), std::mem::size_of::<MvtOptions>());
    // SAFETY: copies the caller's `given` bytes over the fully initialized defaults.
    let raw = unsafe {
        std::ptr::copy_nonoverlapping(options.cast::<u8>(), raw.as_mut_ptr().cast::<u8>(), given);
        raw.assume_init()
    };
    let device_id = raw.device_id;
    filled.device = match raw.device {
        0 => Device::Cpu,
        1 => Device::Cuda { device_id },
        2 => Device::Auto { device_id },
        other => return Err(MvtError::InvalidArgument(format!("options.device is {other}, not an mvt_device"))),
    };
    if !raw.ort_library.is_null() {
        // SAFETY: a non-NULL ort_library is a NUL-terminated string (the header's contract).
        let path = unsafe { CStr::from_ptr(raw.ort_library) };
        filled.ort_library = Some(PathBuf::from(OsStr::from_bytes(path.to_bytes())));
    }
    filled.sessions = raw.sessions;
    filled.intra_threads = raw.intra_threads;
    filled.batch_size = raw.batch_size;
    filled.max_frames = raw.max_frames;
    filled.threshold = if raw.threshold < 0.0 { None } else { Some(raw.threshold) };
    filled.top_k = raw.top_k;
    Ok(filled)
}

/// Loads the mvt model file at `model_path` (NUL-terminated) with `options` (NULL: defaults) and stores a new
/// handle in `*out` (set to NULL on failure). The caller owns the handle and frees it with mvt_free.
/// Fails with MVT_ERR_NULL_POINTER, MVT_ERR_INVALID_ARGUMENT (options), MVT_ERR_MODEL_FILE (unreadable, not ONNX,
/// rejected by ONNX Runtime), MVT_ERR_MODEL_METADATA (an ONNX file without valid mvt metadata),
/// MVT_ERR_RUNTIME_MISSING / MVT_ERR_RUNTIME_VERSION (libonnxruntime not found / too old), MVT_ERR_DEVICE (CUDA
/// requested but unusable). Thread-safe; loading is slow (it builds every session), do it once.
#[no_mangle]
pub extern "C" fn mvt_load(
    model_path: *const c_char,
    options: *const MvtOptions,
    out: *mut *mut MvtModel,
) -> MvtStatus {
    status(|| {
        if out.is_null() {
            return Err(MvtError::NullPointer("out".into()));
        }
        // SAFETY: `out` is non-NULL and points at writable storage for one pointer.
        unsafe { *out = std::ptr::null_mut() };
        if model_path.is_null() {
            return Err(MvtError::NullPointer("model_path".into()));
        }
        // SAFETY: non-NULL and NUL-terminated (the header's contract).
        let path = unsafe { CStr::from_ptr(model_path) };
        let path = PathBuf::from(OsStr::from_bytes(path.to_bytes()));
        let options = read_options(options)?;
        let model = Model::load(&path, &options)?;
        let class_names = Arc::new(model.classes().iter().map(|c| c_string(c)).collect());
        let handle = MvtModel {
            provider: c_string(&model.provider().to_string()),
            ort_version: c_string(model.runtime().version()),
            ort_library: c_string(&model.runtime().library().display().to_string()),
            class_names,
            model,
        };
        // SAFETY: as above.
        unsafe { *out = Box::into_raw(Box::new(handle)) };
        Ok(())
    })
}

/// Destroys a handle from mvt_load; NULL is ignored. Results from it stay valid. Not thread-safe with respect to
/// the same handle: no other call may be using `model` (or use it afterwards).
#[no_mangle]
pub extern "C" fn mvt_free(model: *mut MvtModel) {
    if !model.is_null() {
        // SAFETY: `model` came from mvt_load and is freed once (the header's contract).
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(model) })));
    }
}

/// Fills `*info` (set info->struct_size = sizeof(mvt_info) first; only that many bytes are written) with
/// the model's dims, classes count, threshold, pool size, and the execution provider and ONNX Runtime in use.
/// Strings point into the handle (valid until mvt_free). Fails with MVT_ERR_NULL_POINTER or
/// MVT_ERR_INVALID_ARGUMENT (struct_size). Thread-safe.
#[no_mangle]
pub extern "C" fn mvt_model_info(model: *const MvtModel, info: *mut MvtModelInfo) -> MvtStatus {
    status(|| {
        let handle = non_null(model, "model")?;
        if info.is_null() {
            return Err(MvtError::NullPointer("info".into()));
        }
        // SAFETY: non-NULL; the caller set struct_size, the first field.
        let given = unsafe { info.cast::<usize>().read_unaligned() };
        check_struct_size("mvt_info", given, std::mem::size_of::<MvtModelInfo>())?;
        let meta = handle.model.metadata();
        let filled = MvtModelInfo {
            struct_size: given,
            num_classes: meta.classes.len(),
            rgb_dim: meta.rgb_dim,
            audio_dim: meta.audio_dim,
            text_max_len: meta.text_max_len,
            empty_audio_frames: meta.empty_audio_frames,
            threshold: handle.model.threshold(),
            sessions: handle.model.session_count(),
            provider: handle.provider.as_ptr(),
            ort_version: handle.ort_version.as_ptr(),
            ort_library: handle.ort_library.as_ptr(),
        };
        // SAFETY: the caller provides `given` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping((&filled as *const MvtModelInfo).cast::<u8>(), info.cast::<u8>(), given)
        };
        Ok(())
    })
}

/// The name of class `index` (UTF-8, NUL-terminated, owned by the handle, valid until mvt_free), or NULL when
/// `model` is NULL or index >= num_classes (see mvt_last_error). Thread-safe.
#[no_mangle]
pub extern "C" fn mvt_class_name(model: *const MvtModel, index: usize) -> *const c_char {
    guarded(std::ptr::null(), || {
        let handle = non_null(model, "model")?;
        let name = handle.class_names.get(index).ok_or_else(|| {
            MvtError::InvalidArgument(format!(
                "class index {index} out of range (the model has {} classes)",
                handle.class_names.len()
            ))
        })?;
        Ok(name.as_ptr())
    })
    .0
}

/// The token ids the model gives `title` (`title_len` UTF-8 bytes; NULL with 0 is the empty title): `[CLS]
/// tokens [SEP]`, at most text_max_len ids, tokenized by the tokenizer in the model file exactly as mvt_predict
/// does. Writes the ids to `ids[0..*count]`; `capacity` is the room in `ids` (text_max_len always suffices).
/// Fails with MVT_ERR_NULL_POINTER, MVT_ERR_INVALID_UTF8, or MVT_ERR_INVALID_ARGUMENT when capacity is too small
/// (*count then holds the number needed). Thread-safe.
#[no_mangle]
pub extern "C" fn mvt_tokenize(
    model: *const MvtModel,
    title: *const c_char,
    title_len: usize,
    ids: *mut i64,
    capacity: usize,
    count: *mut usize,
) -> MvtStatus {
    status(|| {
        let handle = non_null(model, "model")?;
        if count.is_null() {
            return Err(MvtError::NullPointer("count".into()));
        }
        let title = title_str(0, title, title_len)?;
        let encoded =
            handle.model.tokenizer().encode(title).map_err(|e| MvtError::Internal(format!("tokenizing: {e}")))?;
        // SAFETY: `count` is non-NULL and writable.
        unsafe { *count = encoded.len() };
        if encoded.len() > capacity || ids.is_null() {
            return Err(MvtError::InvalidArgument(format!(
                "the title has {} ids, the buffer room for {capacity}",
                encoded.len()
            )));
        }
        // SAFETY: the caller provides `capacity` >= encoded.len() writable ids.
        unsafe { std::ptr::copy_nonoverlapping(encoded.as_ptr(), ids, encoded.len()) };
        Ok(())
    })
}

/// A caller's title bytes as text (`video` names it in messages).
fn title_str<'a>(video: usize, title: *const c_char, len: usize) -> Result<&'a str, MvtError> {
    if len == 0 {
        return Ok("");
    }
    if title.is_null() {
        return Err(MvtError::NullPointer(format!("video {video}: title (with title_len {len})")));
    }
    // SAFETY: the caller promises `len` readable bytes at `title`.
    let bytes = unsafe { std::slice::from_raw_parts(title.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| MvtError::InvalidUtf8 { video, detail: e.to_string() })
}

/// Views of the caller's arrays, checked for NULL, overflow and the frame cap before any slice is formed.
fn video_inputs<'a>(handle: &MvtModel, videos: &'a [MvtVideo]) -> Result<Vec<VideoInput<'a>>, MvtError> {
    let max_frames = handle.model.max_frames();
    let features = |video: usize,
                    what: &'static str,
                    data: *const f32,
                    frames: usize,
                    dim: usize|
     -> Result<ArrayView2<'a, f32>, MvtError> {
        handle.model.check_frame_count(video, what, frames)?;
        if frames == 0 {
            return Ok(ArrayView2::from_shape((0, dim), &[]).expect("an empty view has a valid shape"));
        }
        if data.is_null() {
            let field = if what == "image" { "rgb" } else { "audio" };
            return Err(MvtError::NullPointer(format!("video {video}: {field} (with {frames} frames)")));
        }
        let len =
            frames.checked_mul(dim).filter(|n| *n <= isize::MAX as usize / 4).ok_or_else(|| MvtError::FrameCount {
                video,
                message: format!("{frames} {what} frames x {dim} columns overflows (max_frames {max_frames})"),
            })?;
        // SAFETY: the caller promises `frames * dim` readable floats at `data` for the duration of the call.
        let slice = unsafe { std::slice::from_raw_parts(data, len) };
        Ok(ArrayView2::from_shape((frames, dim), slice).expect("the slice length is frames * dim"))
    };
    videos
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let title = title_str(i, v.title, v.title_len)?;
            Ok(VideoInput {
                rgb: features(i, "image", v.rgb, v.rgb_frames, v.rgb_dim)?,
                audio: features(i, "audio", v.audio, v.audio_frames, v.audio_dim)?,
                title,
            })
        })
        .collect()
}

/// Tags `count` videos (`videos[0..count]`, borrowed only during the call) and stores a new result in `*out`
/// (NULL on failure); the caller frees it with mvt_result_free. All inputs are checked before any work; one bad
/// video fails the whole call, and the message names its index and the offending frame/column.
/// Fails with MVT_ERR_NULL_POINTER, MVT_ERR_DIMENSION (rgb_dim/audio_dim differ from the model's),
/// MVT_ERR_FRAME_COUNT (no image frames, or more than max_frames), MVT_ERR_NON_FINITE (NaN/Inf feature),
/// MVT_ERR_INVALID_UTF8 (title), MVT_ERR_INFERENCE (ONNX Runtime failed). count == 0 gives an empty result.
/// Thread-safe: any number of threads may call mvt_predict on one handle at once (up to `sessions` run in parallel,
/// the rest wait); results equal those of serial calls.
#[no_mangle]
pub extern "C" fn mvt_predict(
    model: *const MvtModel,
    videos: *const MvtVideo,
    count: usize,
    out: *mut *mut MvtResult,
) -> MvtStatus {
    status(|| {
        if out.is_null() {
            return Err(MvtError::NullPointer("out".into()));
        }
        // SAFETY: non-NULL, writable for one pointer.
        unsafe { *out = std::ptr::null_mut() };
        let handle = non_null(model, "model")?;
        let videos: &[MvtVideo] = if count == 0 {
            &[]
        } else if videos.is_null() {
            return Err(MvtError::NullPointer("videos".into()));
        } else {
            // SAFETY: the caller promises `count` readable mvt_video structs.
            unsafe { std::slice::from_raw_parts(videos, count) }
        };
        let inputs = video_inputs(handle, videos)?;
        let predictions = handle.model.predict(&inputs)?;
        let names = &handle.class_names;
        let c_tags = |tags: &[Tag]| -> Vec<MvtTag> {
            tags.iter().map(|t| MvtTag { name: names[t.index].as_ptr(), index: t.index, score: t.score }).collect()
        };
        let result = MvtResult {
            tags: predictions.iter().map(|p| c_tags(&p.tags)).collect(),
            top_k: predictions.iter().map(|p| c_tags(&p.top_k)).collect(),
            predictions,
            _class_names: Arc::clone(names),
        };
        // SAFETY: as above.
        unsafe { *out = Box::into_raw(Box::new(result)) };
        Ok(())
    })
}

/// Destroys a result; NULL is ignored. No other call may be using it.
#[no_mangle]
pub extern "C" fn mvt_result_free(result: *mut MvtResult) {
    if !result.is_null() {
        // SAFETY: `result` came from mvt_predict and is freed once (the header's contract).
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(result) })));
    }
}

/// Number of videos in the result (0 for NULL). Thread-safe (results are immutable).
#[no_mangle]
pub extern "C" fn mvt_result_count(result: *const MvtResult) -> usize {
    guarded(0, || Ok(non_null(result, "result")?.predictions.len())).0
}

fn prediction<'a>(result: *const MvtResult, video: usize) -> Result<(&'a MvtResult, &'a Prediction), MvtError> {
    let result: &'a MvtResult = non_null(result, "result")?;
    let p = result.predictions.get(video).ok_or_else(|| {
        MvtError::InvalidArgument(format!("video {video} out of range (the result has {})", result.predictions.len()))
    })?;
    Ok((result, p))
}

/// Stores `len` into `*count` when count is non-NULL (0 on failure).
fn array_out<'a, T: 'a>(count: *mut usize, body: impl FnOnce() -> Result<&'a [T], MvtError>) -> *const T {
    let (slice, _) = guarded(None, || body().map(Some));
    if !count.is_null() {
        // SAFETY: non-NULL, writable (the header's contract).
        unsafe { *count = slice.map_or(0, <[T]>::len) };
    }
    slice.map_or(std::ptr::null(), <[T]>::as_ptr)
}

/// The probabilities of video `video` (one per class, class order), `*count` = number of classes. The array is owned
/// by the result. Returns NULL (and *count = 0) for a NULL result or video out of range. `count` may be NULL.
#[no_mangle]
pub extern "C" fn mvt_result_probabilities(result: *const MvtResult, video: usize, count: *mut usize) -> *const f32 {
    array_out(count, || Ok(prediction(result, video)?.1.probabilities.as_slice()))
}

/// The tags of video `video`: classes with probability >= threshold, best first; `*count` = how many (may be 0: the
/// pointer is then non-NULL but must not be read). Owned by the result. NULL on failure (as above).
#[no_mangle]
pub extern "C" fn mvt_result_tags(result: *const MvtResult, video: usize, count: *mut usize) -> *const MvtTag {
    array_out(count, || {
        let (r, _) = prediction(result, video)?;
        Ok(r.tags[video].as_slice())
    })
}

/// The options.top_k best classes of video `video`, best first, whatever their probability (none when top_k was 0).
/// Same conventions as mvt_result_tags.
#[no_mangle]
pub extern "C" fn mvt_result_top_k(result: *const MvtResult, video: usize, count: *mut usize) -> *const MvtTag {
    array_out(count, || {
        let (r, _) = prediction(result, video)?;
        Ok(r.top_k[video].as_slice())
    })
}

/// Attention weights over video `video`'s image frames (one per frame given, summing to 1; all 0 when the model
/// has no image branch). Same conventions as mvt_result_probabilities.
#[no_mangle]
pub extern "C" fn mvt_result_rgb_attention(result: *const MvtResult, video: usize, count: *mut usize) -> *const f32 {
    array_out(count, || Ok(prediction(result, video)?.1.rgb_attention.as_slice()))
}

/// Attention weights over the audio segments the model saw (for a video without audio: empty_audio_frames zero
/// rows). Same conventions as mvt_result_probabilities.
#[no_mangle]
pub extern "C" fn mvt_result_audio_attention(result: *const MvtResult, video: usize, count: *mut usize) -> *const f32 {
    array_out(count, || Ok(prediction(result, video)?.1.audio_attention.as_slice()))
}

/// The result as the original inference's output.json (byte-identical to `mvt infer`):
/// `[{"video_id": ..., "labels": [[name, score], ...]}, ...]`, labels in class order. `video_ids` is NULL (ids are
/// "0", "1", ...) or an array of mvt_result_count NUL-terminated UTF-8 strings. Returns a new NUL-terminated string
/// the caller frees with mvt_string_free, or NULL on failure (NULL result, NULL or non-UTF-8 id). Thread-safe.
#[no_mangle]
pub extern "C" fn mvt_result_json(result: *const MvtResult, video_ids: *const *const c_char) -> *mut c_char {
    guarded(std::ptr::null_mut(), || {
        let result = non_null(result, "result")?;
        let n = result.predictions.len();
        let ids: Vec<String> = if video_ids.is_null() {
            (0..n).map(|i| i.to_string()).collect()
        } else {
            // SAFETY: the caller promises mvt_result_count entries.
            let pointers = unsafe { std::slice::from_raw_parts(video_ids, n) };
            pointers
                .iter()
                .enumerate()
                .map(|(i, &p)| {
                    let id = non_null(p, &format!("video_ids[{i}]"))?;
                    // SAFETY: non-NULL and NUL-terminated.
                    let id = unsafe { CStr::from_ptr(id) };
                    id.to_str()
                        .map(str::to_owned)
                        .map_err(|e| MvtError::InvalidUtf8 { video: i, detail: format!("video id: {e}") })
                })
                .collect::<Result<_, _>>()?
        };
        let json = inference_json(
            ids.iter().map(String::as_str).zip(result.predictions.iter().map(Prediction::labels_in_class_order)),
        );
        Ok(c_string(&json).into_raw())
    })
    .0
}

/// Frees a string returned by mvt_result_json; NULL is ignored.
#[no_mangle]
pub extern "C" fn mvt_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: `text` came from CString::into_raw in this library and is freed once.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { CString::from_raw(text) })));
    }
}

/// Videos read from a dataset in the original layout (opaque): a convenience for programs that have the
/// original's feature files (`<data>/class.txt`, a list file, `<data>/feature_files/*.pkl`) rather than their own
/// feature extractor. Create with mvt_dataset_open, destroy with mvt_dataset_free.
pub struct MvtDataset {
    dataset: Dataset,
    ids: Vec<CString>,
}

/// Reads every video of `list_file` (`name<TAB>title[<TAB>labels]` lines; relative to `data_dir` or absolute)
/// with the feature widths of `model`, and stores a new dataset in `*out` (NULL on failure). Rows the original
/// skipped (missing or unreadable feature file, duplicate name) are left out; rows without labels are kept.
/// Fails with MVT_ERR_NULL_POINTER or MVT_ERR_DATASET (unreadable class.txt or list, features of the wrong width).
/// Thread-safe. The dataset holds all features in memory.
#[no_mangle]
pub extern "C" fn mvt_dataset_open(
    model: *const MvtModel,
    data_dir: *const c_char,
    list_file: *const c_char,
    out: *mut *mut MvtDataset,
) -> MvtStatus {
    status(|| {
        if out.is_null() {
            return Err(MvtError::NullPointer("out".into()));
        }
        // SAFETY: non-NULL, writable for one pointer.
        unsafe { *out = std::ptr::null_mut() };
        let handle = non_null(model, "model")?;
        let data_dir = PathBuf::from(OsStr::from_bytes(c_str(data_dir, "data_dir")?.to_bytes()));
        let list_file = c_str(list_file, "list_file")?
            .to_str()
            .map_err(|e| MvtError::InvalidArgument(format!("list_file is not UTF-8: {e}")))?;
        let mut dataset = load_videos(&handle.model, &data_dir, list_file)?;
        // mvt_video hands out row-major pointers: make sure every array is laid out that way.
        for video in &mut dataset.videos {
            if !video.rgb.is_standard_layout() {
                video.rgb = video.rgb.as_standard_layout().into_owned();
            }
            if !video.audio.is_standard_layout() {
                video.audio = video.audio.as_standard_layout().into_owned();
            }
        }
        let ids = dataset.videos.iter().map(|v| c_string(&v.name)).collect();
        // SAFETY: as above.
        unsafe { *out = Box::into_raw(Box::new(MvtDataset { dataset, ids })) };
        Ok(())
    })
}

fn c_str<'a>(pointer: *const c_char, name: &str) -> Result<&'a CStr, MvtError> {
    non_null(pointer, name)?;
    // SAFETY: non-NULL and NUL-terminated (the header's contract).
    Ok(unsafe { CStr::from_ptr(pointer) })
}

/// Number of videos in the dataset (0 for NULL). Thread-safe.
#[no_mangle]
pub extern "C" fn mvt_dataset_count(dataset: *const MvtDataset) -> usize {
    guarded(0, || Ok(non_null(dataset, "dataset")?.dataset.videos.len())).0
}

/// Fills `*video` with video `index`'s features and title and `*video_id` (may be NULL) with its name from the
/// list file; all pointers point into the dataset (valid until mvt_dataset_free), ready for mvt_predict. A video
/// without audio has already been given its empty_audio_frames zero rows. Fails with MVT_ERR_NULL_POINTER or
/// MVT_ERR_INVALID_ARGUMENT (index >= count). Thread-safe.
#[no_mangle]
pub extern "C" fn mvt_dataset_video(
    dataset: *const MvtDataset,
    index: usize,
    video: *mut MvtVideo,
    video_id: *mut *const c_char,
) -> MvtStatus {
    status(|| {
        let handle = non_null(dataset, "dataset")?;
        if video.is_null() {
            return Err(MvtError::NullPointer("video".into()));
        }
        let source = handle.dataset.videos.get(index).ok_or_else(|| {
            MvtError::InvalidArgument(format!(
                "video {index} out of range (the dataset has {})",
                handle.dataset.videos.len()
            ))
        })?;
        let filled = MvtVideo {
            rgb: source.rgb.as_ptr(),
            rgb_frames: source.rgb.nrows(),
            rgb_dim: source.rgb.ncols(),
            audio: source.audio.as_ptr(),
            audio_frames: source.audio.nrows(),
            audio_dim: source.audio.ncols(),
            title: source.title.as_ptr().cast(),
            title_len: source.title.len(),
        };
        // SAFETY: `video` is non-NULL and writable; `video_id` is checked before writing.
        unsafe {
            *video = filled;
            if !video_id.is_null() {
                *video_id = handle.ids[index].as_ptr();
            }
        }
        Ok(())
    })
}

/// Destroys a dataset; NULL is ignored. Pointers from mvt_dataset_video become invalid.
#[no_mangle]
pub extern "C" fn mvt_dataset_free(dataset: *mut MvtDataset) {
    if !dataset.is_null() {
        // SAFETY: `dataset` came from mvt_dataset_open and is freed once (the header's contract).
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(dataset) })));
    }
}
