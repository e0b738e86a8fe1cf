//! The library's one error type and the C ABI's status codes.
//!
//! Every failure a caller can cause or meet has its own kind, so a C host can branch on the code and show the message
//! (`mvt_last_error`). Messages name the offending video and position so a bad row in a batch of 64 can be found.

use std::path::PathBuf;

/// Status returned by every fallible C function (`mvt_status` in `mvt.h`). 0 is success; values never change
/// meaning between releases (new kinds get new numbers).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MvtStatus {
    /// Success.
    MvtOk = 0,
    /// A required pointer argument was NULL.
    MvtErrNullPointer = 1,
    /// An argument is out of range: options (struct size, device, pool size), an index past the end.
    MvtErrInvalidArgument = 2,
    /// A video's feature width differs from the model's `rgb_dim` / `audio_dim`.
    MvtErrDimension = 3,
    /// A video has no image frames, or more frames or segments than `max_frames`.
    MvtErrFrameCount = 4,
    /// A feature value is NaN or infinite.
    MvtErrNonFinite = 5,
    /// A title is not valid UTF-8.
    MvtErrInvalidUtf8 = 6,
    /// The model file cannot be read, or is not an ONNX file, or ONNX Runtime rejects it.
    MvtErrModelFile = 7,
    /// The ONNX file has no (or broken) mvt metadata: it was not exported by `mvt-train export`.
    MvtErrModelMetadata = 8,
    /// libonnxruntime was not found or could not be loaded.
    MvtErrRuntimeMissing = 9,
    /// The libonnxruntime found is older than the minimum this build needs.
    MvtErrRuntimeVersion = 10,
    /// The requested device (CUDA) is not available.
    MvtErrDevice = 11,
    /// ONNX Runtime failed while running the model.
    MvtErrInference = 12,
    /// Reading a dataset (list file or feature files) failed.
    MvtErrDataset = 13,
    /// A bug in mvt (a caught panic); the handle stays usable but the call failed.
    MvtErrInternal = 14,
}

/// What went wrong; `status()` gives the C code, `Display` the message.
#[derive(Debug, thiserror::Error)]
pub enum MvtError {
    #[error("{0} is NULL")]
    NullPointer(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("video {video}: {what} features have width {got}, the model expects {expected}")]
    Dimension { video: usize, what: &'static str, got: usize, expected: usize },
    #[error("video {video}: {message}")]
    FrameCount { video: usize, message: String },
    #[error("video {video}: {what} feature at frame {frame}, column {column} is {value} (features must be finite)")]
    NonFinite { video: usize, what: &'static str, frame: usize, column: usize, value: f32 },
    #[error("video {video}: the title is not valid UTF-8 ({detail})")]
    InvalidUtf8 { video: usize, detail: String },
    #[error("model file {path}: {message}")]
    ModelFile { path: PathBuf, message: String },
    #[error("model file {path}: {message}")]
    ModelMetadata { path: PathBuf, message: String },
    #[error("ONNX Runtime not found or not loadable: {0}")]
    RuntimeMissing(String),
    #[error("ONNX Runtime too old: {0}")]
    RuntimeVersion(String),
    #[error("device unavailable: {0}")]
    Device(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("dataset: {0}")]
    Dataset(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl MvtError {
    pub fn status(&self) -> MvtStatus {
        match self {
            MvtError::NullPointer(_) => MvtStatus::MvtErrNullPointer,
            MvtError::InvalidArgument(_) => MvtStatus::MvtErrInvalidArgument,
            MvtError::Dimension { .. } => MvtStatus::MvtErrDimension,
            MvtError::FrameCount { .. } => MvtStatus::MvtErrFrameCount,
            MvtError::NonFinite { .. } => MvtStatus::MvtErrNonFinite,
            MvtError::InvalidUtf8 { .. } => MvtStatus::MvtErrInvalidUtf8,
            MvtError::ModelFile { .. } => MvtStatus::MvtErrModelFile,
            MvtError::ModelMetadata { .. } => MvtStatus::MvtErrModelMetadata,
            MvtError::RuntimeMissing(_) => MvtStatus::MvtErrRuntimeMissing,
            MvtError::RuntimeVersion(_) => MvtStatus::MvtErrRuntimeVersion,
            MvtError::Device(_) => MvtStatus::MvtErrDevice,
            MvtError::Inference(_) => MvtStatus::MvtErrInference,
            MvtError::Dataset(_) => MvtStatus::MvtErrDataset,
            MvtError::Internal(_) => MvtStatus::MvtErrInternal,
        }
    }
}
