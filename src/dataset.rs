//! `mvt_dataset`: the videos of a list file in the original's layout (`class.txt`, the list,
//! `feature_files/<video>.pkl`), read by libmvt for programs that have the original's feature files, handed out as
//! `mvt_video`s ready for mvt_predict.
//!
//! A dataset owns its features, titles and ids and is immutable: every accessor is thread-safe.

use std::ffi::{c_char, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use mvt_formats::dataset::Dataset;
use mvt_runtime::error::{MvtError, MvtStatus};
use mvt_runtime::tag_dataset::load_videos;

use crate::guard::{c_str, c_string, clear_out, free_box, guarded, non_null, status};
use crate::model::{MvtModel, MvtVideo};

/// Videos read from a dataset in the original layout (opaque): a convenience for programs that have the
/// original's feature files (`<data>/class.txt`, a list file, `<data>/feature_files/<video>.pkl`) rather than their
/// own feature extractor. Create with mvt_dataset_open, destroy with mvt_dataset_free.
pub struct MvtDataset {
    dataset: Dataset,
    ids: Vec<CString>,
    /// The rows left out, as (1-based list-file line, name, reason).
    skipped: Vec<(usize, CString, CString)>,
}

/// Reads every video of `list_file` (`name<TAB>title[<TAB>labels]` lines; relative to `data_dir` or absolute)
/// with the feature widths of `model`, and stores a new dataset in `*out` (NULL on failure); the caller owns it and
/// frees it with mvt_dataset_free. It does not refer to `model` afterwards. Rows the original skipped (missing or
/// unreadable feature file, duplicate name), rows with non-finite features, lines that are not UTF-8 and videos
/// with more frames than the model's max_frames are left out, each with its reason (mvt_dataset_skipped_count,
/// mvt_dataset_skipped), so every video of the dataset passes mvt_predict's checks; rows without labels are kept.
/// Fails with MVT_ERR_NULL_POINTER, MVT_ERR_INVALID_ARGUMENT (list_file not UTF-8) or MVT_ERR_DATASET (unreadable
/// class.txt or list, features of the wrong width). Thread-safe. The dataset holds all features in memory.
///
/// # Safety
/// `model` is NULL or a live handle from mvt_load; `data_dir` and `list_file` are NULL or NUL-terminated strings;
/// `out` is NULL or points at a writable `mvt_dataset *`.
#[no_mangle]
pub unsafe extern "C" fn mvt_dataset_open(
    model: *const MvtModel,
    data_dir: *const c_char,
    list_file: *const c_char,
    out: *mut *mut MvtDataset,
) -> MvtStatus {
    status(|| {
        // SAFETY (every block below): the caller's contract for each pointer.
        unsafe { clear_out(out) }?;
        let handle = unsafe { non_null(model, "model") }?;
        let data_dir = PathBuf::from(OsStr::from_bytes(unsafe { c_str(data_dir, "data_dir") }?.to_bytes()));
        let list_file = unsafe { c_str(list_file, "list_file") }?
            .to_str()
            .map_err(|e| MvtError::InvalidArgument(format!("list_file is not UTF-8: {e}")))?;
        let mut dataset = load_videos(handle.model(), &data_dir, list_file)?;
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
        let skipped = dataset
            .report
            .skipped
            .iter()
            .map(|row| (row.line, c_string(&row.name), c_string(&row.reason.to_string())))
            .collect();
        unsafe { *out = Box::into_raw(Box::new(MvtDataset { dataset, ids, skipped })) };
        Ok(())
    })
}

/// Number of videos in the dataset; 0 for a NULL dataset (which also sets mvt_last_error). Thread-safe.
///
/// # Safety
/// `dataset` is NULL or a live dataset from mvt_dataset_open.
#[no_mangle]
pub unsafe extern "C" fn mvt_dataset_count(dataset: *const MvtDataset) -> usize {
    // SAFETY: the caller's contract.
    guarded(0, || Ok(unsafe { non_null(dataset, "dataset") }?.dataset.videos.len())).0
}

/// Fills the caller's `*video` with video `index`'s features and title and `*video_id` (may be NULL) with its name
/// from the list file; all pointers point into the dataset (owned by it, valid until mvt_dataset_free), ready for
/// mvt_predict. A video without audio has already been given its empty_audio_frames zero rows. Fails with
/// MVT_ERR_NULL_POINTER or MVT_ERR_INVALID_ARGUMENT (index >= count); nothing is written then. Thread-safe.
///
/// # Safety
/// `dataset` is NULL or a live dataset from mvt_dataset_open; `video` is NULL or points at a writable mvt_video;
/// `video_id` is NULL or points at a writable `const char *`.
#[no_mangle]
pub unsafe extern "C" fn mvt_dataset_video(
    dataset: *const MvtDataset,
    index: usize,
    video: *mut MvtVideo,
    video_id: *mut *const c_char,
) -> MvtStatus {
    status(|| {
        // SAFETY: the caller's contract.
        let handle = unsafe { non_null(dataset, "dataset") }?;
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
        // SAFETY: `video` is non-NULL and writable; `video_id` is checked before writing (the caller's contract).
        unsafe {
            *video = filled;
            if !video_id.is_null() {
                *video_id = handle.ids[index].as_ptr();
            }
        }
        Ok(())
    })
}

/// Number of list-file rows mvt_dataset_open left out (each with its reason: mvt_dataset_skipped); 0 for a NULL
/// dataset (which also sets mvt_last_error). Thread-safe.
///
/// # Safety
/// `dataset` is NULL or a live dataset from mvt_dataset_open.
#[no_mangle]
pub unsafe extern "C" fn mvt_dataset_skipped_count(dataset: *const MvtDataset) -> usize {
    // SAFETY: the caller's contract.
    guarded(0, || Ok(unsafe { non_null(dataset, "dataset") }?.skipped.len())).0
}

/// Skipped row `index` (in list-file order): `*line` its 1-based line in the list file, `*name` its first field and
/// `*reason` why it was left out (e.g. "missing feature file <path>", "unreadable feature file <path>: refused
/// global posix.system"). Any of the three out-pointers may be NULL; the strings are owned by the dataset and valid
/// until mvt_dataset_free. Fails with MVT_ERR_NULL_POINTER or MVT_ERR_INVALID_ARGUMENT (index >= the skipped
/// count); nothing is written then. Thread-safe.
///
/// # Safety
/// `dataset` is NULL or a live dataset from mvt_dataset_open; `line` is NULL or points at a writable size_t;
/// `name` and `reason` are NULL or point at a writable `const char *`.
#[no_mangle]
pub unsafe extern "C" fn mvt_dataset_skipped(
    dataset: *const MvtDataset,
    index: usize,
    line: *mut usize,
    name: *mut *const c_char,
    reason: *mut *const c_char,
) -> MvtStatus {
    status(|| {
        // SAFETY: the caller's contract.
        let handle = unsafe { non_null(dataset, "dataset") }?;
        let (row_line, row_name, row_reason) = handle.skipped.get(index).ok_or_else(|| {
            MvtError::InvalidArgument(format!(
                "skipped row {index} out of range (the dataset skipped {})",
                handle.skipped.len()
            ))
        })?;
        // SAFETY: each out-pointer is checked for NULL before writing (the caller's contract).
        unsafe {
            if !line.is_null() {
                *line = *row_line;
            }
            if !name.is_null() {
                *name = row_name.as_ptr();
            }
            if !reason.is_null() {
                *reason = row_reason.as_ptr();
            }
        }
        Ok(())
    })
}

/// Destroys a dataset; NULL is ignored. Never fails. The mvt_video arrays and ids from mvt_dataset_video become
/// invalid (results already predicted from them stay valid). Not thread-safe with respect to the same dataset: no
/// other call may be using it (or use it afterwards).
///
/// # Safety
/// `dataset` is NULL or a dataset from mvt_dataset_open that has not been freed yet; nothing uses it (or a pointer
/// from it) during or after the call.
#[no_mangle]
pub unsafe extern "C" fn mvt_dataset_free(dataset: *mut MvtDataset) {
    // SAFETY: the caller's contract: NULL or a live dataset of ours, freed once.
    unsafe { free_box(dataset) }
}
