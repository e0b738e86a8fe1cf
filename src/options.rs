//! `mvt_options` and `mvt_device`: what a caller can ask of mvt_load, the defaults (`mvt_default_options`), and
//! reading a caller's struct of any older layout into the Rust API's [`Options`].

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use mvt_runtime::error::{MvtError, MvtStatus};
use mvt_runtime::onnxruntime::Device;
use mvt_runtime::predict::Options;

use crate::guard::{check_struct_size, status};

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
/// appended, and `struct_size` tells the library which of them the caller's header knew. The struct is the
/// caller's; mvt_load only reads it during the call (it copies what it keeps).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MvtOptions {
    /// sizeof(mvt_options) as the caller compiled it (set by mvt_default_options).
    pub struct_size: usize,
    /// Path of libonnxruntime.so to use, or NULL to search: env MVT_ORT_LIB, then next to libmvt.so, then the
    /// build tree's .venv. Only one ONNX Runtime can be loaded per process: the first successful mvt_load decides.
    /// Read (and copied) during mvt_load only.
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

/// The defaults in this library's full layout, with `struct_size` as given.
fn defaults(struct_size: usize) -> MvtOptions {
    let defaults = Options::default();
    MvtOptions {
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
    }
}

/// Fills `*options` with the defaults (CPU, a pool of up to 4 sessions sharing the cores, batch_size 64,
/// max_frames 3600, the model's threshold, no top-k) and sets options->struct_size = struct_size. Pass
/// sizeof(mvt_options). Only the first struct_size bytes are written, so a program built against an older header
/// keeps working with a newer library. The struct is the caller's (stack or heap); nothing is allocated.
/// Returns MVT_ERR_NULL_POINTER for a NULL `options`, MVT_ERR_INVALID_ARGUMENT when struct_size is too small to
/// hold struct_size itself or larger than this library's mvt_options (nothing is written then). Thread-safe.
///
/// # Safety
/// `options` is NULL or points at `struct_size` writable bytes (alignment is not required).
#[no_mangle]
pub unsafe extern "C" fn mvt_default_options(options: *mut MvtOptions, struct_size: usize) -> MvtStatus {
    status(|| {
        if options.is_null() {
            return Err(MvtError::NullPointer("options".into()));
        }
        check_struct_size("mvt_options", struct_size, std::mem::size_of::<MvtOptions>())?;
        let filled = defaults(struct_size);
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

/// Reads a caller's mvt_options (NULL: the defaults), taking library defaults for fields past its struct_size.
/// Fails with MVT_ERR_INVALID_ARGUMENT for a struct_size out of range or a device that is no mvt_device; the
/// Rust API checks the other values when the model loads.
///
/// # Safety
/// A non-NULL `options` points at readable memory of at least `size_of::<usize>()` bytes and at least its
/// `struct_size` bytes (alignment is not required), and its `ort_library` is NULL or a NUL-terminated string.
pub(crate) unsafe fn read_options(options: *const MvtOptions) -> Result<Options, MvtError> {
    let mut filled = Options::default();
    if options.is_null() {
        return Ok(filled);
    }
    // SAFETY: non-NULL, and the caller promises at least struct_size readable bytes; read the size first.
    let given = unsafe { options.cast::<usize>().read_unaligned() };
    check_struct_size("mvt_options", given, std::mem::size_of::<MvtOptions>())?;
    // Start from the library defaults so fields the caller's header lacks have sane values.
    let mut raw = defaults(std::mem::size_of::<MvtOptions>());
    // SAFETY: copies the caller's `given` (<= size_of::<MvtOptions>()) bytes over the defaults; every field is
    // plain data, so any bytes a C caller stored form a valid MvtOptions (the device is checked below).
    unsafe { std::ptr::copy_nonoverlapping(options.cast::<u8>(), (&mut raw as *mut MvtOptions).cast::<u8>(), given) };
    let device_id = raw.device_id;
    filled.device = match raw.device {
        0 => Device::Cpu,
        1 => Device::Cuda { device_id },
        2 => Device::Auto { device_id },
        other => return Err(MvtError::InvalidArgument(format!("options.device is {other}, not an mvt_device"))),
    };
    if !raw.ort_library.is_null() {
        // SAFETY: a non-NULL ort_library is a NUL-terminated string (the caller's contract).
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
