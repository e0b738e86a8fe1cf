//! `mvt_result`: the predictions of one mvt_predict call, its accessors, the original's output.json
//! (`mvt_result_json`) and the string that returns (`mvt_string_free`).
//!
//! A result owns everything its accessors hand out (arrays, tags, the class names the tags point at), so it stays
//! valid after its model is freed, and it is immutable: every accessor is thread-safe.

use std::ffi::{c_char, CStr, CString};
use std::sync::Arc;

use mvt_runtime::error::MvtError;
use mvt_runtime::output_json::inference_json;
use mvt_runtime::predict::{Prediction, Tag};

use crate::guard::{c_string, free_box, guarded, non_null, quietly};

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

impl MvtResult {
    /// The result of `predictions`, whose tags name classes of `class_names` (shared with the model handle).
    pub(crate) fn new(predictions: Vec<Prediction>, class_names: &Arc<Vec<CString>>) -> MvtResult {
        let c_tags = |tags: &[Tag]| -> Vec<MvtTag> {
            tags.iter()
                .map(|t| MvtTag { name: class_names[t.index].as_ptr(), index: t.index, score: t.score })
                .collect()
        };
        MvtResult {
            tags: predictions.iter().map(|p| c_tags(&p.tags)).collect(),
            top_k: predictions.iter().map(|p| c_tags(&p.top_k)).collect(),
            predictions,
            _class_names: Arc::clone(class_names),
        }
    }
}

/// Destroys a result; NULL is ignored. Arrays, tags and names from it become invalid. Never fails. Not
/// thread-safe with respect to the same result: no other call may be using it (or use it afterwards).
///
/// # Safety
/// `result` is NULL or a result from mvt_predict that has not been freed yet; nothing uses it during or after
/// the call.
#[no_mangle]
pub unsafe extern "C" fn mvt_result_free(result: *mut MvtResult) {
    // SAFETY: the caller's contract: NULL or a live result of ours, freed once.
    unsafe { free_box(result) }
}

/// Number of videos in the result; 0 for a NULL result (which also sets mvt_last_error). Thread-safe (results
/// are immutable).
///
/// # Safety
/// `result` is NULL or a live result from mvt_predict.
#[no_mangle]
pub unsafe extern "C" fn mvt_result_count(result: *const MvtResult) -> usize {
    // SAFETY: the caller's contract.
    guarded(0, || Ok(unsafe { non_null(result, "result") }?.predictions.len())).0
}

/// The result and its prediction `video`; fails for NULL and for a video out of range.
///
/// # Safety
/// `result` is NULL or a live result from mvt_predict, alive for `'a`.
unsafe fn prediction<'a>(result: *const MvtResult, video: usize) -> Result<(&'a MvtResult, &'a Prediction), MvtError> {
    // SAFETY: the caller's contract.
    let result: &'a MvtResult = unsafe { non_null(result, "result") }?;
    let p = result.predictions.get(video).ok_or_else(|| {
        MvtError::InvalidArgument(format!("video {video} out of range (the result has {})", result.predictions.len()))
    })?;
    Ok((result, p))
}

/// Runs an array accessor: the array's pointer, or NULL on failure; stores its length into `*count` when `count`
/// is non-NULL (0 on failure).
///
/// # Safety
/// `count` is NULL or points at a writable `usize`.
unsafe fn array_out<'a, T: 'a>(count: *mut usize, body: impl FnOnce() -> Result<&'a [T], MvtError>) -> *const T {
    let (slice, _) = guarded(None, || body().map(Some));
    if !count.is_null() {
        // SAFETY: non-NULL, writable (the caller's contract).
        unsafe { *count = slice.map_or(0, <[T]>::len) };
    }
    slice.map_or(std::ptr::null(), <[T]>::as_ptr)
}

/// The probabilities of video `video` (one per class, class order), `*count` = number of classes. The array is
/// owned by the result (valid until mvt_result_free). Returns NULL (and *count = 0) for a NULL result or video out
/// of range (MVT_ERR_NULL_POINTER / MVT_ERR_INVALID_ARGUMENT in mvt_last_error). `count` may be NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result from mvt_predict; `count` is NULL or points at a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn mvt_result_probabilities(
    result: *const MvtResult,
    video: usize,
    count: *mut usize,
) -> *const f32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { array_out(count, || Ok(prediction(result, video)?.1.probabilities.as_slice())) }
}

/// The tags of video `video`: classes with probability >= threshold, best first; `*count` = how many (may be 0: the
/// pointer is then non-NULL but must not be read). The tags and their names are owned by the result (valid until
/// mvt_result_free). NULL on failure (as mvt_result_probabilities). Thread-safe.
///
/// # Safety
/// As mvt_result_probabilities.
#[no_mangle]
pub unsafe extern "C" fn mvt_result_tags(result: *const MvtResult, video: usize, count: *mut usize) -> *const MvtTag {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        array_out(count, || {
            let (r, _) = prediction(result, video)?;
            Ok(r.tags[video].as_slice())
        })
    }
}

/// The options.top_k best classes of video `video`, best first, whatever their probability (none when top_k was 0).
/// Same conventions as mvt_result_tags.
///
/// # Safety
/// As mvt_result_probabilities.
#[no_mangle]
pub unsafe extern "C" fn mvt_result_top_k(result: *const MvtResult, video: usize, count: *mut usize) -> *const MvtTag {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        array_out(count, || {
            let (r, _) = prediction(result, video)?;
            Ok(r.top_k[video].as_slice())
        })
    }
}

/// Attention weights over video `video`'s image frames (one per frame given, summing to 1; all 0 when the model
/// has no image branch). Same conventions as mvt_result_probabilities.
///
/// # Safety
/// As mvt_result_probabilities.
#[no_mangle]
pub unsafe extern "C" fn mvt_result_rgb_attention(
    result: *const MvtResult,
    video: usize,
    count: *mut usize,
) -> *const f32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { array_out(count, || Ok(prediction(result, video)?.1.rgb_attention.as_slice())) }
}

/// Attention weights over the audio segments the model saw (for a video without audio: empty_audio_frames zero
/// rows). Same conventions as mvt_result_probabilities.
///
/// # Safety
/// As mvt_result_probabilities.
#[no_mangle]
pub unsafe extern "C" fn mvt_result_audio_attention(
    result: *const MvtResult,
    video: usize,
    count: *mut usize,
) -> *const f32 {
    // SAFETY: the caller's contract, passed on.
    unsafe { array_out(count, || Ok(prediction(result, video)?.1.audio_attention.as_slice())) }
}

/// The result as the original inference's output.json (byte-identical to `mvt infer`):
/// `[{"video_id": ..., "labels": [[name, score], ...]}, ...]`, labels in class order. `video_ids` is NULL (ids are
/// "0", "1", ...) or an array of mvt_result_count NUL-terminated UTF-8 strings, read during the call only. Returns
/// a new NUL-terminated string the caller owns and frees with mvt_string_free, or NULL on failure, the reason in
/// mvt_last_error: a NULL result ("result is NULL"), a NULL id ("video_ids[i] is NULL") or an id that is not UTF-8
/// ("video_ids[i]: the video id is not valid UTF-8 (...)"). Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result from mvt_predict; `video_ids` is NULL or points at mvt_result_count(result)
/// readable pointers, each NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mvt_result_json(result: *const MvtResult, video_ids: *const *const c_char) -> *mut c_char {
    guarded(std::ptr::null_mut(), || {
        // SAFETY: the caller's contract.
        let result = unsafe { non_null(result, "result") }?;
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
                    // SAFETY: each entry is NULL or a NUL-terminated string (the caller's contract).
                    let id = unsafe { non_null(p, &format!("video_ids[{i}]")) }?;
                    // SAFETY: as above: non-NULL, so NUL-terminated.
                    let id = unsafe { CStr::from_ptr(id) };
                    id.to_str().map(str::to_owned).map_err(|e| {
                        MvtError::InvalidArgument(format!("video_ids[{i}]: the video id is not valid UTF-8 ({e})"))
                    })
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

/// Frees a string returned by mvt_result_json; NULL is ignored. Never fails. Thread-safe for distinct strings.
///
/// # Safety
/// `text` is NULL or a string from mvt_result_json that has not been freed yet; nothing uses it during or after
/// the call.
#[no_mangle]
pub unsafe extern "C" fn mvt_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: `text` came from CString::into_raw in this library and is freed once (the caller's contract).
        let text = unsafe { CString::from_raw(text) };
        quietly(move || drop(text));
    }
}
