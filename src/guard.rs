//! The guard every export runs behind: panic catching, the thread-local message of the last failure
//! (`mvt_last_error`), and the checks that turn a caller's raw pointers and strings into Rust references.
//!
//! The helpers that read through a raw pointer are `unsafe fn`s: each states what its caller must guarantee, and
//! the exports pass on the guarantees the header asks of a C caller. A NULL pointer is always checked here, never
//! trusted, and fails with `MVT_ERR_NULL_POINTER` naming the argument.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use mvt_runtime::error::{MvtError, MvtStatus};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// The message of the last failed mvt call on the calling thread ("" if none failed yet). Never NULL. The
/// string is owned by the library and valid until the next failing mvt call on this thread; copy it to keep it.
/// Each thread has its own message, so concurrent calls never see each other's errors. Never fails; thread-safe.
#[no_mangle]
pub extern "C" fn mvt_last_error() -> *const c_char {
    catch_unwind(|| LAST_ERROR.with(|slot| slot.borrow().as_ptr())).unwrap_or(c"mvt_last_error failed".as_ptr())
}

fn set_last_error(message: &str) {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = c_string(message));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Runs `body`, turning its error or panic into `fallback` plus a recorded message and status.
pub(crate) fn guarded<T>(fallback: T, body: impl FnOnce() -> Result<T, MvtError>) -> (T, MvtStatus) {
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

/// [`guarded`] for exports that return only a status.
pub(crate) fn status(body: impl FnOnce() -> Result<(), MvtError>) -> MvtStatus {
    guarded((), body).1
}

/// Frees a `Box<T>` this library handed out with `Box::into_raw`; NULL is ignored. A panic in a destructor is
/// caught (the host never sees an unwind).
///
/// # Safety
/// `pointer` is NULL or came from `Box::into_raw(Box<T>)` in this library, has not been freed, and nothing uses it
/// during or after the call.
pub(crate) unsafe fn free_box<T>(pointer: *mut T) {
    if !pointer.is_null() {
        // SAFETY: the caller's contract: a live box of ours, freed exactly once.
        let boxed = unsafe { Box::from_raw(pointer) };
        let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
    }
}

/// `pointer` as a reference; NULL fails with `MVT_ERR_NULL_POINTER` naming `name`.
///
/// # Safety
/// A non-NULL `pointer` points at a live, aligned, initialized `T` that nothing mutates for `'a`.
pub(crate) unsafe fn non_null<'a, T>(pointer: *const T, name: &str) -> Result<&'a T, MvtError> {
    // SAFETY: the caller's contract for a non-NULL pointer; NULL gives None.
    unsafe { pointer.as_ref() }.ok_or_else(|| MvtError::NullPointer(name.to_string()))
}

/// A caller's out-parameter, checked and cleared: fails with `MVT_ERR_NULL_POINTER` ("out is NULL") for NULL,
/// else stores NULL so that `*out` is NULL whenever the call fails.
///
/// # Safety
/// A non-NULL `out` points at writable storage for one pointer.
pub(crate) unsafe fn clear_out<T>(out: *mut *mut T) -> Result<(), MvtError> {
    if out.is_null() {
        return Err(MvtError::NullPointer("out".into()));
    }
    // SAFETY: non-NULL and writable (the caller's contract).
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}

/// A NUL-terminated C string; NULL fails with `MVT_ERR_NULL_POINTER` naming `name`.
///
/// # Safety
/// A non-NULL `pointer` points at a NUL-terminated string that stays unchanged for `'a`.
pub(crate) unsafe fn c_str<'a>(pointer: *const c_char, name: &str) -> Result<&'a CStr, MvtError> {
    if pointer.is_null() {
        return Err(MvtError::NullPointer(name.to_string()));
    }
    // SAFETY: non-NULL and NUL-terminated (the caller's contract).
    Ok(unsafe { CStr::from_ptr(pointer) })
}

/// A caller's title bytes as text (`video` names it in messages): NULL is fine with `len` 0 (the empty title).
///
/// # Safety
/// A non-NULL `title` points at `len` readable bytes that stay unchanged for `'a`.
pub(crate) unsafe fn title_str<'a>(video: usize, title: *const c_char, len: usize) -> Result<&'a str, MvtError> {
    if len == 0 {
        return Ok("");
    }
    if title.is_null() {
        return Err(MvtError::NullPointer(format!("video {video}: title (with title_len {len})")));
    }
    // SAFETY: non-NULL, `len` readable bytes (the caller's contract).
    let bytes = unsafe { std::slice::from_raw_parts(title.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| MvtError::InvalidUtf8 { video, detail: e.to_string() })
}

/// Text as a C string; an interior NUL (possible in a file name or a class name) is written as `\0`.
pub(crate) fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).expect("NUL bytes were replaced")
}

/// Checks a caller's `struct_size` for a versioned struct (`name`, this library's size `ours`): it must hold at
/// least `struct_size` itself and at most our struct (a caller's header can be older, never newer).
pub(crate) fn check_struct_size(name: &str, given: usize, ours: usize) -> Result<(), MvtError> {
    if given < std::mem::size_of::<usize>() || given > ours {
        return Err(MvtError::InvalidArgument(format!(
            "{name}.struct_size is {given}; this library (ABI {}) accepts {} to {ours} \
             (initialize with sizeof({name}))",
            crate::MVT_ABI_VERSION,
            std::mem::size_of::<usize>()
        )));
    }
    Ok(())
}
