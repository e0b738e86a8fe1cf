//! `mvt_model`: a loaded model file (`mvt_load`, `mvt_free`), what it reports (`mvt_model_info`,
//! `mvt_class_name`), its tokenizer (`mvt_tokenize`) and tagging videos (`mvt_video`, `mvt_predict`).
//!
//! A handle is immutable after mvt_load: every call but mvt_free is thread-safe on one handle (the Rust API's
//! session pool serializes what must be).

use std::ffi::{c_char, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;

use ndarray::ArrayView2;

use mvt_runtime::error::{MvtError, MvtStatus};
use mvt_runtime::predict::{Model, VideoInput};

use crate::guard::{c_str, c_string, check_struct_size, clear_out, free_box, guarded, non_null, status, title_str};
use crate::options::{read_options, MvtOptions};
use crate::result::MvtResult;

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

impl MvtModel {
    /// The Rust API's model behind the handle.
    pub(crate) fn model(&self) -> &Model {
        &self.model
    }
}

/// Loads the mvt model file at `model_path` (NUL-terminated) with `options` (NULL: defaults; read during the call
/// only) and stores a new handle in `*out` (set to NULL on failure). The caller owns the handle and frees it with
/// mvt_free.
/// Fails with MVT_ERR_NULL_POINTER, MVT_ERR_INVALID_ARGUMENT (options), MVT_ERR_MODEL_FILE (unreadable, not ONNX,
/// rejected by ONNX Runtime), MVT_ERR_MODEL_METADATA (an ONNX file without valid mvt metadata),
/// MVT_ERR_RUNTIME_MISSING / MVT_ERR_RUNTIME_VERSION (libonnxruntime not found / too old), MVT_ERR_DEVICE (CUDA
/// requested but unusable). Thread-safe; loading is slow (it builds every session), do it once.
///
/// # Safety
/// `model_path` is NULL or a NUL-terminated string; `options` is NULL or an mvt_options whose first struct_size
/// bytes are readable (filled by mvt_default_options) with `ort_library` NULL or NUL-terminated; `out` is NULL or
/// points at a writable `mvt_model *`.
#[no_mangle]
pub unsafe extern "C" fn mvt_load(
    model_path: *const c_char,
    options: *const MvtOptions,
    out: *mut *mut MvtModel,
) -> MvtStatus {
    status(|| {
        // SAFETY (every block below): the caller's contract for each pointer.
        unsafe { clear_out(out) }?;
        let path = unsafe { c_str(model_path, "model_path") }?;
        let path = PathBuf::from(OsStr::from_bytes(path.to_bytes()));
        let options = unsafe { read_options(options) }?;
        let model = Model::load(&path, &options)?;
        let class_names = Arc::new(model.classes().iter().map(|c| c_string(c)).collect());
        let handle = MvtModel {
            provider: c_string(&model.provider().to_string()),
            ort_version: c_string(model.runtime().version()),
            ort_library: c_string(&model.runtime().library().display().to_string()),
            class_names,
            model,
        };
        unsafe { *out = Box::into_raw(Box::new(handle)) };
        Ok(())
    })
}

/// Destroys a handle from mvt_load; NULL is ignored. Never fails. Results and datasets made with it stay valid;
/// the strings of mvt_model_info and mvt_class_name become invalid. Not thread-safe with respect to the same
/// handle: no other call may be using `model` (or use it afterwards).
///
/// # Safety
/// `model` is NULL or a handle from mvt_load that has not been freed yet; nothing uses it during or after the call.
#[no_mangle]
pub unsafe extern "C" fn mvt_free(model: *mut MvtModel) {
    // SAFETY: the caller's contract: NULL or a live handle of ours, freed once.
    unsafe { free_box(model) }
}

/// Fills `*info` (set info->struct_size = sizeof(mvt_info) first; only that many bytes are written) with
/// the model's dims, classes count, threshold, pool size, and the execution provider and ONNX Runtime in use.
/// The struct is the caller's; its strings point into the handle (valid until mvt_free). Fails with
/// MVT_ERR_NULL_POINTER or MVT_ERR_INVALID_ARGUMENT (struct_size; nothing is written then). Thread-safe.
///
/// # Safety
/// `model` is NULL or a live handle from mvt_load; `info` is NULL or points at an mvt_info whose struct_size is
/// set and whose first struct_size bytes are writable.
#[no_mangle]
pub unsafe extern "C" fn mvt_model_info(model: *const MvtModel, info: *mut MvtModelInfo) -> MvtStatus {
    status(|| {
        // SAFETY: the caller's contract.
        let handle = unsafe { non_null(model, "model") }?;
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
/// `model` is NULL (MVT_ERR_NULL_POINTER) or index >= num_classes (MVT_ERR_INVALID_ARGUMENT), the message in
/// mvt_last_error. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live handle from mvt_load.
#[no_mangle]
pub unsafe extern "C" fn mvt_class_name(model: *const MvtModel, index: usize) -> *const c_char {
    guarded(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        let handle = unsafe { non_null(model, "model") }?;
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
/// does (only a bounded prefix of a huge title is examined: the ids equal the whole title's). Writes the ids to the
/// caller's `ids[0..*count]`; `capacity` is the room in `ids` (text_max_len always suffices). `ids` NULL with
/// `capacity` 0 is a size query: it succeeds, writing only *count. Fails with MVT_ERR_NULL_POINTER (model, count,
/// a NULL title with title_len > 0, or ids NULL with capacity > 0), MVT_ERR_INVALID_UTF8, or
/// MVT_ERR_INVALID_ARGUMENT when capacity is too small (*count then holds the number needed). Thread-safe.
///
/// # Safety
/// `model` is NULL or a live handle from mvt_load; `title` is NULL or points at `title_len` readable bytes; `ids`
/// is NULL or points at `capacity` writable int64_t; `count` is NULL or points at a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn mvt_tokenize(
    model: *const MvtModel,
    title: *const c_char,
    title_len: usize,
    ids: *mut i64,
    capacity: usize,
    count: *mut usize,
) -> MvtStatus {
    status(|| {
        // SAFETY: the caller's contract.
        let handle = unsafe { non_null(model, "model") }?;
        if count.is_null() {
            return Err(MvtError::NullPointer("count".into()));
        }
        if ids.is_null() && capacity > 0 {
            return Err(MvtError::NullPointer(format!("ids (with capacity {capacity})")));
        }
        // SAFETY: the caller's contract.
        let title = unsafe { title_str(0, title, title_len) }?;
        let encoded = handle.model.title_ids(title, "the title")?;
        // SAFETY: `count` is non-NULL and writable.
        unsafe { *count = encoded.len() };
        if ids.is_null() {
            // The size query (capacity 0): *count is all the caller asked for.
            return Ok(());
        }
        if encoded.len() > capacity {
            return Err(MvtError::InvalidArgument(format!(
                "capacity {capacity} is too small: the title has {} ids (*count holds the number needed)",
                encoded.len()
            )));
        }
        // SAFETY: the caller provides `capacity` >= encoded.len() writable ids.
        unsafe { std::ptr::copy_nonoverlapping(encoded.as_ptr(), ids, encoded.len()) };
        Ok(())
    })
}

/// Views of the caller's arrays, checked in this order before any slice is formed: the width (rgb_dim /
/// audio_dim must be the model's), the frame count (max_frames), NULL, then the frames x width product for overflow.
///
/// # Safety
/// Every non-NULL pointer of `videos` points at as many readable elements as its counts say (frames x dim floats,
/// title_len bytes), unchanged for `'a`.
unsafe fn video_inputs<'a>(handle: &MvtModel, videos: &'a [MvtVideo]) -> Result<Vec<VideoInput<'a>>, MvtError> {
    let meta = handle.model.metadata();
    let features = |video: usize,
                    what: &'static str,
                    data: *const f32,
                    frames: usize,
                    dim: usize|
     -> Result<ArrayView2<'a, f32>, MvtError> {
        let (field, expected) = if what == "image" { ("rgb", meta.rgb_dim) } else { ("audio", meta.audio_dim) };
        // A track without rows carries no width (audio_frames 0 is "no audio"; rgb_frames 0 fails just below).
        if frames > 0 && dim != expected {
            let what = if what == "image" { "image (rgb_dim)" } else { "audio (audio_dim)" };
            return Err(MvtError::Dimension { video, what, got: dim, expected });
        }
        handle.model.check_frame_count(video, what, frames)?;
        if frames == 0 {
            return Ok(ArrayView2::from_shape((0, dim), &[]).expect("an empty view has a valid shape"));
        }
        if data.is_null() {
            return Err(MvtError::NullPointer(format!("video {video}: {field} (with {frames} frames)")));
        }
        // frames <= max_frames and dim is the model's: this cannot overflow, but a raw slice is formed only from a
        // length that was checked.
        let len = frames.checked_mul(dim).filter(|n| *n <= isize::MAX as usize / 4).ok_or_else(|| {
            MvtError::FrameCount { video, message: format!("{frames} {what} frames x {dim} columns overflows") }
        })?;
        // SAFETY: the caller promises `frames * dim` readable floats at `data` for the duration of the call.
        let slice = unsafe { std::slice::from_raw_parts(data, len) };
        Ok(ArrayView2::from_shape((frames, dim), slice).expect("the slice length is frames * dim"))
    };
    videos
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let rgb = features(i, "image", v.rgb, v.rgb_frames, v.rgb_dim)?;
            let audio = features(i, "audio", v.audio, v.audio_frames, v.audio_dim)?;
            // SAFETY: the caller promises `title_len` readable bytes at a non-NULL title.
            let title = unsafe { title_str(i, v.title, v.title_len) }?;
            Ok(VideoInput { rgb, audio, title })
        })
        .collect()
}

/// Tags `count` videos (`videos[0..count]`, borrowed only during the call) and stores a new result in `*out`
/// (NULL on failure); the caller owns it and frees it with mvt_result_free. All inputs are checked before any work;
/// one bad video fails the whole call, and the message names its index and the offending frame/column.
/// Each video's arguments are checked in this order: rgb_dim, rgb_frames, rgb, audio_dim, audio_frames, audio, then
/// the title; then every video's features. Fails with MVT_ERR_NULL_POINTER, MVT_ERR_DIMENSION (rgb_dim/audio_dim
/// differ from the model's, for a track with frames), MVT_ERR_FRAME_COUNT (no image frames, or more than
/// max_frames), MVT_ERR_NON_FINITE (NaN/Inf feature), MVT_ERR_INVALID_UTF8 (title), MVT_ERR_INFERENCE (ONNX Runtime
/// failed). count == 0 gives an empty result. Only a bounded prefix of a huge title is tokenized (mvt_tokenize).
/// Thread-safe: any number of threads may call mvt_predict on one handle at once (up to `sessions` run in parallel,
/// the rest wait); results equal those of serial calls.
///
/// # Safety
/// `model` is NULL or a live handle from mvt_load; `videos` is NULL or points at `count` readable mvt_video, each
/// of whose non-NULL arrays holds as many readable elements as its counts say (rgb_frames x rgb_dim floats,
/// audio_frames x audio_dim floats, title_len bytes) during the call; `out` is NULL or points at a writable
/// `mvt_result *`.
#[no_mangle]
pub unsafe extern "C" fn mvt_predict(
    model: *const MvtModel,
    videos: *const MvtVideo,
    count: usize,
    out: *mut *mut MvtResult,
) -> MvtStatus {
    status(|| {
        // SAFETY (every block below): the caller's contract for each pointer.
        unsafe { clear_out(out) }?;
        let handle = unsafe { non_null(model, "model") }?;
        let videos: &[MvtVideo] = if count == 0 {
            &[]
        } else if videos.is_null() {
            return Err(MvtError::NullPointer("videos".into()));
        } else {
            unsafe { std::slice::from_raw_parts(videos, count) }
        };
        let inputs = unsafe { video_inputs(handle, videos) }?;
        let predictions = handle.model.predict(&inputs)?;
        let result = MvtResult::new(predictions, &handle.class_names);
        unsafe { *out = Box::into_raw(Box::new(result)) };
        Ok(())
    })
}
