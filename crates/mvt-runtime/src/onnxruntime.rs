//! ONNX Runtime: found at load time, version-checked, one environment per process, sessions on a chosen device.
//!
//! `libmvt.so` does not link libonnxruntime (ort's `load-dynamic`): a host ships whichever ONNX Runtime build it
//! wants (CPU or GPU) next to libmvt.so or names it. Search order, first hit wins:
//! 1. `Options::ort_library` (when set, it is the only candidate),
//! 2. the `MVT_ORT_LIB` environment variable (likewise exclusive),
//! 3. `libonnxruntime.so*` in the folder holding libmvt.so (or the executable the library is linked into; for an
//!    executable in an install tree's `bin/`, also the tree's `lib/`: `make install` and `make dist` put the pinned
//!    ONNX Runtime next to libmvt.so there),
//! 4. the build tree's `.venv` (the pinned onnxruntime wheel), so tests and demos run from a checkout.
//!
//! ort 2.0.0-rc.15 allows exactly one environment per process, ever, and loads one library per process; both are
//! created by the first successful [`runtime`] call and live until exit.

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::session::builder::PrepackedWeights;
use ort::session::Session;

use crate::error::MvtError;

/// Oldest ONNX Runtime this build accepts: the C API level ort is compiled for (the `api-NN` feature in
/// Cargo.toml), i.e. 1.NN. Older libraries lack functions ort calls.
pub const MIN_ORT_MINOR: u32 = ort::MINOR_VERSION;

/// Where inference runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    /// The CUDA execution provider on this GPU; fails the load when CUDA is unavailable.
    Cuda {
        device_id: i32,
    },
    /// CUDA on this GPU when it works, else the CPU.
    Auto {
        device_id: i32,
    },
}

/// The execution provider that a loaded model actually runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda { device_id: i32 },
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::Cpu => f.write_str("cpu"),
            Provider::Cuda { device_id } => write!(f, "cuda:{device_id}"),
        }
    }
}

/// The process's ONNX Runtime: the library loaded and its one environment.
pub struct Runtime {
    env: Environment,
    library: PathBuf,
    version: String,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serializes first-time loading so two threads never race to create the one environment.
static LOADING: Mutex<()> = Mutex::new(());

/// The process's runtime, loading it on first use. `requested` is `Options::ort_library`; once a library is loaded,
/// a request naming a different file fails instead of being silently ignored.
pub fn runtime(requested: Option<&Path>) -> Result<&'static Runtime, MvtError> {
    let _guard = LOADING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(loaded) = RUNTIME.get() {
        if let Some(path) = requested {
            if !same_file(path, &loaded.library) {
                return Err(MvtError::InvalidArgument(format!(
                    "ort_library {} requested, but this process already loaded ONNX Runtime from {} \
                     (one ONNX Runtime per process)",
                    path.display(),
                    loaded.library.display()
                )));
            }
        }
        return Ok(loaded);
    }
    let loaded = load(requested)?;
    Ok(RUNTIME.get_or_init(|| loaded))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

impl Runtime {
    /// The file ONNX Runtime was loaded from.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// ONNX Runtime's version string, e.g. "1.31.1".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A session for `model` (the ONNX file's bytes) on `device`, and the provider it runs on.
    /// `intra_threads` 0 lets ONNX Runtime choose; `prepacked` shares pre-packed weights between a model's sessions.
    pub fn session(
        &self,
        model: &[u8],
        device: Device,
        intra_threads: usize,
        prepacked: &PrepackedWeights,
    ) -> Result<(Session, Provider), MvtError> {
        match device {
            Device::Cpu => self.cpu_session(model, intra_threads, prepacked).map(|s| (s, Provider::Cpu)),
            Device::Cuda { device_id } => {
                self.cuda_session(model, device_id, intra_threads, prepacked).map(|s| (s, Provider::Cuda { device_id }))
            }
            Device::Auto { device_id } => match self.cuda_session(model, device_id, intra_threads, prepacked) {
                Ok(session) => Ok((session, Provider::Cuda { device_id })),
                Err(MvtError::Device(_)) => {
                    self.cpu_session(model, intra_threads, prepacked).map(|s| (s, Provider::Cpu))
                }
                Err(other) => Err(other),
            },
        }
    }

    fn builder(
        &self,
        intra_threads: usize,
        prepacked: &PrepackedWeights,
    ) -> Result<ort::session::builder::SessionBuilder, MvtError> {
        let internal = |e: ort::Error<_>| MvtError::Internal(format!("configuring an ONNX Runtime session: {e}"));
        let mut builder = Session::builder(&self.env)
            .map_err(|e| MvtError::Internal(format!("creating an ONNX Runtime session builder: {e}")))?
            .with_prepacked_weights(prepacked)
            .map_err(internal)?;
        if intra_threads > 0 {
            builder = builder.with_intra_threads(intra_threads).map_err(internal)?;
        }
        Ok(builder)
    }

    fn cpu_session(
        &self,
        model: &[u8],
        intra_threads: usize,
        prepacked: &PrepackedWeights,
    ) -> Result<Session, MvtError> {
        self.builder(intra_threads, prepacked)?
            .commit_from_memory(model)
            .map_err(|e| MvtError::Inference(format!("ONNX Runtime rejected the model: {e}")))
    }

    fn cuda_session(
        &self,
        model: &[u8],
        device_id: i32,
        intra_threads: usize,
        prepacked: &PrepackedWeights,
    ) -> Result<Session, MvtError> {
        if device_id < 0 {
            return Err(MvtError::InvalidArgument(format!("CUDA device id {device_id} is negative")));
        }
        let compiled_in =
            ep::CUDA::is_available().map_err(|e| MvtError::Device(format!("querying execution providers: {e}")))?;
        if !compiled_in {
            return Err(MvtError::Device(format!(
                "the ONNX Runtime at {} ({}) was built without the CUDA execution provider (use the onnxruntime-gpu build)",
                self.library.display(),
                self.version
            )));
        }
        let cuda = ep::CUDA::default().with_device_id(device_id).build().error_on_failure();
        self.builder(intra_threads, prepacked)?
            .with_execution_providers([cuda])
            .map_err(|e| MvtError::Device(format!("CUDA device {device_id}: {e}")))?
            .commit_from_memory(model)
            .map_err(|e| MvtError::Device(format!("CUDA device {device_id}: {e}")))
    }
}

/// Why one candidate library was not used.
enum Rejection {
    Unloadable(String),
    TooOld(String),
}

fn load(requested: Option<&Path>) -> Result<Runtime, MvtError> {
    let candidates = candidates(requested)?;
    let mut rejections = Vec::new();
    for (path, origin) in candidates {
        match probe(&path) {
            Ok(version) => {
                let builder = ort::init_from(&path)
                    .map_err(|e| MvtError::RuntimeMissing(format!("{} ({origin}): {e}", path.display())))?;
                let env = builder
                    .with_name("mvt")
                    .with_telemetry(false)
                    .build()
                    .map_err(|e| MvtError::Internal(format!("creating the ONNX Runtime environment: {e}")))?;
                return Ok(Runtime { env, library: path, version });
            }
            Err(rejection) => rejections.push((path, origin, rejection)),
        }
    }
    let too_old = rejections.iter().any(|(_, _, r)| matches!(r, Rejection::TooOld(_)));
    let report = rejections
        .iter()
        .map(|(path, origin, r)| {
            let why = match r {
                Rejection::Unloadable(m) | Rejection::TooOld(m) => m,
            };
            format!("{} ({origin}): {why}", path.display())
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(if too_old { MvtError::RuntimeVersion(report) } else { MvtError::RuntimeMissing(report) })
}

/// The files to try, in order, each with where it came from (for messages).
fn candidates(requested: Option<&Path>) -> Result<Vec<(PathBuf, &'static str)>, MvtError> {
    if let Some(path) = requested {
        return Ok(vec![(path.to_path_buf(), "options.ort_library")]);
    }
    if let Some(path) = std::env::var_os("MVT_ORT_LIB").filter(|v| !v.is_empty()) {
        return Ok(vec![(PathBuf::from(path), "MVT_ORT_LIB")]);
    }
    let mut searched = Vec::new();
    let mut found = Vec::new();
    if let Some(dir) = own_directory() {
        found.extend(onnxruntime_files(&dir).into_iter().map(|p| (p, "next to libmvt")));
        // A program linked with mvt (the `mvt` CLI) in an install tree's bin/ finds it in the tree's lib/.
        let install_lib = (dir.file_name() == Some(OsStr::new("bin"))).then(|| dir.with_file_name("lib"));
        searched.push(dir);
        if let Some(lib) = install_lib {
            found.extend(onnxruntime_files(&lib).into_iter().map(|p| (p, "the install tree's lib")));
            searched.push(lib);
        }
    }
    // This crate sits two folders below the checkout's root, where `make setup` puts the .venv.
    let venv_lib = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/lib"));
    if let Ok(entries) = std::fs::read_dir(venv_lib) {
        let mut pythons: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3."))
            .map(|e| e.path().join("site-packages/onnxruntime/capi"))
            .collect();
        pythons.sort();
        for dir in pythons {
            found.extend(onnxruntime_files(&dir).into_iter().map(|p| (p, "the project's .venv")));
            searched.push(dir);
        }
    } else {
        searched.push(venv_lib.to_path_buf());
    }
    if found.is_empty() {
        let searched = searched.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(MvtError::RuntimeMissing(format!(
            "no libonnxruntime.so* in {searched}; set MVT_ORT_LIB or options.ort_library to the library's path"
        )));
    }
    Ok(found)
}

/// `libonnxruntime.so`, `libonnxruntime.so.1`, `libonnxruntime.so.1.31.1`... in `dir`, shortest name first (the
/// unversioned link is what a packager points at the preferred build).
fn onnxruntime_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n == "libonnxruntime.so" || n.starts_with("libonnxruntime.so."))
        })
        .collect();
    files.sort_by_key(|p| (p.as_os_str().len(), p.clone()));
    files
}

/// The folder of the shared object (or executable) this code was loaded from.
fn own_directory() -> Option<PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let address = own_directory as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables; `info` is a valid out-pointer.
    if unsafe { libc::dladdr(address, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr returned a NUL-terminated path owned by the loader.
    let file = unsafe { CStr::from_ptr(info.dli_fname) };
    let file = PathBuf::from(OsStr::from_bytes(file.to_bytes()));
    let file = file.canonicalize().unwrap_or(file);
    file.parent().map(Path::to_path_buf)
}

/// Opens `path` and reads ONNX Runtime's version through `OrtGetApiBase`, without touching ort's global state, so a
/// wrong file can be reported and the next candidate tried. A usable library stays open (ort opens it again).
fn probe(path: &Path) -> Result<String, Rejection> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Rejection::Unloadable("the path contains a NUL byte".into()))?;
    // SAFETY: dlopen with a valid C string; loading runs the library's initializers, as any ORT load does.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns the thread's last loader message or NULL.
        let message = unsafe { libc::dlerror() };
        let message = if message.is_null() {
            "dlopen failed".to_string()
        } else {
            unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
        };
        return Err(Rejection::Unloadable(message));
    }
    let close = |rejection: Rejection| {
        // SAFETY: `handle` came from dlopen above and nothing from it is used after this.
        unsafe { libc::dlclose(handle) };
        Err(rejection)
    };
    // SAFETY: dlsym on a live handle with a NUL-terminated name.
    let symbol = unsafe { libc::dlsym(handle, c"OrtGetApiBase".as_ptr()) };
    if symbol.is_null() {
        return close(Rejection::Unloadable("not an ONNX Runtime library (no OrtGetApiBase symbol)".into()));
    }
    // SAFETY: OrtGetApiBase has this signature in every ONNX Runtime release (C API stability guarantee).
    let get_api_base: unsafe extern "C" fn() -> *const ort::sys::OrtApiBase = unsafe { std::mem::transmute(symbol) };
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return close(Rejection::Unloadable("OrtGetApiBase returned NULL".into()));
    }
    // SAFETY: `base` points at the library's static OrtApiBase; the version string is static too.
    let version = unsafe { CStr::from_ptr(((*base).GetVersionString)()) }.to_string_lossy().into_owned();
    match check_version(&version) {
        Ok(()) => Ok(version),
        Err(message) => close(Rejection::TooOld(message)),
    }
}

/// Accepts ONNX Runtime 1.x with x >= [`MIN_ORT_MINOR`].
pub fn check_version(version: &str) -> Result<(), String> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(1)), Some(Ok(minor))) if minor >= MIN_ORT_MINOR => Ok(()),
        (Some(Ok(1)), Some(Ok(_))) => {
            Err(format!("version {version}, this build of mvt needs ONNX Runtime >= 1.{MIN_ORT_MINOR}"))
        }
        _ => Err(format!(
            "unrecognized ONNX Runtime version {version:?}, this build of mvt needs 1.{MIN_ORT_MINOR} or newer"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_check_accepts_the_minimum_and_newer_and_rejects_older() {
        assert!(check_version(&format!("1.{MIN_ORT_MINOR}.0")).is_ok());
        assert!(check_version("1.31.1").is_ok() || MIN_ORT_MINOR > 31);
        assert!(check_version(&format!("1.{}.2", MIN_ORT_MINOR - 1)).unwrap_err().contains("needs ONNX Runtime >="));
        assert!(check_version("2.0.0").is_err());
        assert!(check_version("garbage").is_err());
    }
}
