//! Why a pickle was not loaded.

/// Why a pickle was not loaded. `pos` is the byte offset of the opcode being executed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PickleError {
    #[error("truncated pickle: {what} at byte {pos} runs past the end of the input")]
    Truncated { pos: usize, what: &'static str },
    #[error("unknown pickle opcode 0x{op:02x} at byte {pos}")]
    UnknownOpcode { pos: usize, op: u8 },
    #[error("unsupported pickle opcode {name} at byte {pos} (feature files never contain it)")]
    UnsupportedOpcode { pos: usize, name: &'static str },
    #[error("refused global {name} at byte {pos}: only numpy arrays and scalars may be reconstructed")]
    RefusedGlobal { pos: usize, name: String },
    #[error("malformed pickle at byte {pos}: {msg}")]
    Malformed { pos: usize, msg: String },
    /// A unicode string (BINUNICODE, SHORT_BINUNICODE, BINUNICODE8) that is not UTF-8.
    #[error("malformed pickle at byte {pos}: invalid UTF-8 string: {source}")]
    InvalidUtf8 { pos: usize, source: std::str::Utf8Error },
    #[error("pickle exceeds a safety limit at byte {pos}: {msg}")]
    LimitExceeded { pos: usize, msg: String },
    #[error("not a feature file: {0}")]
    NotFeatureFile(String),
}
