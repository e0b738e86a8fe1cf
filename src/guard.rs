//! The guard every export runs behind: panic catching, the thread-local message of the last failure
//! (`mvt_last_error`), and the checks that turn a caller's raw pointers and strings into Rust references.
//!
//! The helpers that read through a raw pointer are `unsafe fn`s: each states what its caller must guarantee, and
//! the exports pass on the guarantees the header asks of a C caller. A NULL pointer is always checked here, never
//! trusted, and fails with `MVT_ERR_NULL_POINTER` naming the argument.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

use mvt_runtime::error::{MvtError, MvtStatus};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// True while this thread runs inside an mvt export (between entering and leaving [`guarded`]).
    static IN_MVT_CALL: Cell<bool> = const { Cell::new(false) };
    /// What the panic hook recorded for the panic being unwound on this thread (message and location).
    static PANIC_TEXT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static PANIC_HOOK: Once = Once::new();

/// The message of the last failed mvt call on the calling thread ("" if none failed yet). Never NULL. The
/// string is owned by the library and valid until the next failing mvt call on this thread; copy it to keep it.
/// Each thread has its own message, so concurrent calls never see each other's errors. Never fails; thread-safe.
#[no_mangle]
pub extern "C" fn mvt_last_error() -> *const c_char {
    let mut message = c"mvt_last_error failed".as_ptr();
    quietly(|| message = LAST_ERROR.with(|slot| slot.borrow().as_ptr()));
    message
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

/// The panic hook's decision for one panic: inside an mvt export on this thread, the message and location are
/// recorded for [`guarded`] (which turns them into `MVT_ERR_INTERNAL` and the mvt_last_error text) and `true` says
/// "handled, print nothing"; outside one, `false` leaves the panic to the hook that was installed before ours.
pub(crate) fn record_panic(info: &PanicHookInfo<'_>) -> bool {
    // `try_with`: a panic while this thread's locals are being torn down is not ours to handle.
    if !IN_MVT_CALL.try_with(Cell::get).unwrap_or(false) {
        return false;
    }
    let text = match info.location() {
        Some(at) => format!("{} at {}:{}:{}", panic_message(info.payload()), at.file(), at.line(), at.column()),
        None => panic_message(info.payload()),
    };
    PANIC_TEXT.try_with(|slot| *slot.borrow_mut() = Some(text)).is_ok()
}

/// Installs, once per process, the panic hook that keeps panics inside mvt exports off the host's stderr
/// ([`record_panic`]); every other panic goes to the hook installed before (the host's own, or Rust's default).
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !record_panic(info) {
                previous(info);
            }
        }));
    });
}

/// Marks this thread as inside an mvt export until dropped (restoring the previous state, so a nested call
/// leaves the outer one marked).
struct InCall(bool);

impl InCall {
    fn enter() -> InCall {
        InCall(IN_MVT_CALL.with(|flag| flag.replace(true)))
    }
}

impl Drop for InCall {
    fn drop(&mut self) {
        let _ = IN_MVT_CALL.try_with(|flag| flag.set(self.0));
    }
}

/// Runs `body`, turning its error or panic into `fallback` plus a recorded message and status. A panic prints
/// nothing (the hook of [`install_panic_hook`]); its message and location become the mvt_last_error text.
pub(crate) fn guarded<T>(fallback: T, body: impl FnOnce() -> Result<T, MvtError>) -> (T, MvtStatus) {
    install_panic_hook();
    let outcome = {
        let _in_call = InCall::enter();
        catch_unwind(AssertUnwindSafe(body))
    };
    match outcome {
        Ok(Ok(value)) => (value, MvtStatus::MvtOk),
        Ok(Err(error)) => {
            set_last_error(&error.to_string());
            (fallback, error.status())
        }
        Err(payload) => {
            let recorded = PANIC_TEXT.with(|slot| slot.borrow_mut().take());
            let text = recorded.unwrap_or_else(|| panic_message(payload.as_ref()));
            let error = MvtError::Internal(format!("panic in mvt: {text}"));
            set_last_error(&error.to_string());
            (fallback, error.status())
        }
    }
}

/// Runs `body` for an export that never fails (the frees): a panic is caught and dropped, printing nothing.
pub(crate) fn quietly(body: impl FnOnce()) {
    install_panic_hook();
    let _in_call = InCall::enter();
    if catch_unwind(AssertUnwindSafe(body)).is_err() {
        PANIC_TEXT.with(|slot| slot.borrow_mut().take());
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
        quietly(move || drop(boxed));
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
    if len > isize::MAX as usize {
        return Err(MvtError::InvalidArgument(format!(
            "video {video}: title_len {len} is larger than any buffer can be"
        )));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The panic hook is process-wide and what matters is the process's stderr, so the panics run in a child: this
    /// test binary again, running only [`child_panics_inside_and_outside_a_call`].
    #[test]
    fn a_panic_in_a_call_reaches_last_error_and_not_stderr() {
        let run = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "guard::tests::child_panics_inside_and_outside_a_call", "--nocapture"])
            .args(["--test-threads", "1"])
            .env("MVT_GUARD_PANIC_CHILD", "1")
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
        assert!(run.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "the child ran no test: {stdout}");
        assert!(
            stdout.contains("last error: internal error: panic in mvt: boom inside mvt at src/guard.rs:"),
            "{stdout}"
        );
        assert!(!stderr.contains("boom inside mvt"), "a panic inside an mvt call was printed:\n{stderr}");
        // A panic of the host's own, outside any mvt call, still reaches the hook installed before ours.
        assert!(stderr.contains("host panic outside mvt"), "{stderr}");
    }

    #[test]
    fn child_panics_inside_and_outside_a_call() {
        if std::env::var_os("MVT_GUARD_PANIC_CHILD").is_none() {
            return;
        }
        let (value, status) = guarded(7, || -> Result<i32, MvtError> { panic!("boom inside mvt") });
        assert_eq!((value, status), (7, MvtStatus::MvtErrInternal));
        // SAFETY: mvt_last_error never returns NULL, and the string lives until the next failing call.
        let message = unsafe { CStr::from_ptr(mvt_last_error()) }.to_string_lossy().into_owned();
        println!("last error: {message}");
        // The same in a nested call, and the thread is marked outside a call again afterwards.
        let (_, status) = guarded((), || {
            guarded((), || -> Result<(), MvtError> { panic!("nested boom inside mvt") })
                .1
                .eq(&MvtStatus::MvtErrInternal)
                .then_some(())
                .ok_or(MvtError::Internal("nested".into()))
        });
        assert_eq!(status, MvtStatus::MvtOk);
        assert!(!IN_MVT_CALL.with(Cell::get));
        assert!(std::panic::catch_unwind(|| panic!("host panic outside mvt")).is_err());
    }
}
