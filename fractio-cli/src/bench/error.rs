//! Errors of the bench: an engine that failed, a read that returned the
//! wrong thing, a worker that died, bad arguments.

use std::fmt;

/// Why a bench run failed.
#[derive(Debug)]
pub enum Error {
    /// An engine returned an error (its message).
    Engine(String),
    /// A read did not return what was written: the run is invalid.
    Mismatch(Mismatch),
    /// An I/O error of the bench itself (spawning, files, output).
    Io(std::io::Error),
    /// A worker process failed; its message is inside.
    Worker(String),
    /// The arguments cannot be run.
    Usage(String),
}

/// A read that returned something else than the workload wrote.
#[derive(Debug)]
pub struct Mismatch {
    pub workload: &'static str,
    /// The key read, as text (keys are ASCII).
    pub key: String,
    /// What was expected and what came back.
    pub detail: String,
}

impl Mismatch {
    /// The error of a mismatch on `key` during `workload`.
    #[cold]
    pub fn error(workload: &'static str, key: &[u8], detail: impl Into<String>) -> Error {
        Error::Mismatch(Mismatch {
            workload,
            key: String::from_utf8_lossy(key).into_owned(),
            detail: detail.into(),
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Engine(message) => write!(f, "engine error: {message}"),
            Error::Mismatch(m) => write!(
                f,
                "verification mismatch in workload {}: key {:?}: {}",
                m.workload, m.key, m.detail
            ),
            Error::Io(err) => write!(f, "I/O error: {err}"),
            Error::Worker(message) => write!(f, "{message}"),
            Error::Usage(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::Io(err)
    }
}

/// Turns an engine's error into a bench error.
pub fn engine_err(err: impl fmt::Display) -> Error {
    Error::Engine(err.to_string())
}

/// Result of the bench.
pub type Result<T, E = Error> = std::result::Result<T, E>;
