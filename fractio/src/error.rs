//! The one error type of the crate.
//!
//! Operating errors (I/O failures, corrupt bytes, bad caller input) are
//! `Result`s; a broken internal invariant is a panic. A corruption always
//! names the file and the byte offset where it was found.

use std::path::PathBuf;

/// Everything that can go wrong in a fractio call.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operating system reported an I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// Stored bytes failed a checksum or could not be decoded.
    #[error("corruption in {} at offset {offset}: {reason}", file.display())]
    Corruption {
        /// The file holding the bad bytes.
        file: PathBuf,
        /// Where in the file the bad bytes start.
        offset: u64,
        /// What was wrong with them.
        reason: String,
    },

    /// The caller passed something fractio does not accept (an oversized
    /// key, an invalid option); nothing was written.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The database directory is already open, in this process or another.
    #[error("database directory {} is already open (locked)", .0.display())]
    Locked(PathBuf),

    /// An earlier write to the log or manifest failed, so the database no
    /// longer knows what is on disk; it refuses writes until it is reopened.
    /// Reads still work.
    #[error("database refuses writes after an earlier failure: {0}")]
    ReadOnly(String),
}

impl Error {
    /// Builds a [`Error::Corruption`].
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Error {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// Whether this is a [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
