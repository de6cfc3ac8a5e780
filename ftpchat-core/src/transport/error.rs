use std::error::Error as StdError;
use std::fmt;

use super::path::InvalidPath;

/// What kind of failure a [`TransportError`] is; callers retry only
/// [`Transient`](TransportErrorKind::Transient) ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Worth retrying: a dropped connection, a timeout, a busy server (FTP 4xx).
    Transient,
    /// The file or directory does not exist.
    NotFound,
    /// The server or file system refused access, or the folder transport refused a
    /// symbolic link or special file (it follows none below its root).
    PermissionDenied,
    /// The file or directory exists already (`make_dir`).
    AlreadyExists,
    /// A path was refused before anything was sent.
    InvalidPath,
    /// The transport cannot do this (e.g. a server without `APPE`).
    Unsupported,
    /// Anything else that retrying will not fix (bad credentials, TLS refused).
    Permanent,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Transient => "transient",
            TransportErrorKind::NotFound => "not found",
            TransportErrorKind::PermissionDenied => "permission denied",
            TransportErrorKind::AlreadyExists => "already exists",
            TransportErrorKind::InvalidPath => "invalid path",
            TransportErrorKind::Unsupported => "unsupported",
            TransportErrorKind::Permanent => "permanent",
        })
    }
}

/// A transport failure: a [`kind`](Self::kind), a message, and the underlying error.
///
/// Messages never contain passwords: implementations build them from operations, paths
/// and server replies only.
#[derive(Debug, thiserror::Error)]
#[error("{kind} error during {operation}: {message}")]
pub struct TransportError {
    kind: TransportErrorKind,
    operation: &'static str,
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl TransportError {
    /// Builds an error without an underlying source.
    pub fn new(
        kind: TransportErrorKind,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        TransportError {
            kind,
            operation,
            message: message.into(),
            source: None,
        }
    }

    /// Builds an error that wraps `source`.
    pub fn with_source(
        kind: TransportErrorKind,
        operation: &'static str,
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        TransportError {
            kind,
            operation,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Maps an I/O error, choosing the kind from `io::ErrorKind`.
    pub fn from_io(
        operation: &'static str,
        message: impl Into<String>,
        err: std::io::Error,
    ) -> Self {
        use std::io::ErrorKind as K;
        let kind = match err.kind() {
            K::NotFound => TransportErrorKind::NotFound,
            K::PermissionDenied => TransportErrorKind::PermissionDenied,
            K::AlreadyExists => TransportErrorKind::AlreadyExists,
            K::TimedOut
            | K::Interrupted
            | K::WouldBlock
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::ConnectionRefused
            | K::NotConnected
            | K::BrokenPipe
            | K::UnexpectedEof => TransportErrorKind::Transient,
            K::Unsupported => TransportErrorKind::Unsupported,
            _ => TransportErrorKind::Permanent,
        };
        Self::with_source(kind, operation, message, err)
    }

    /// The kind of failure.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The operation that failed (`"append"`, `"size"`, ...).
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// `true` when retrying may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == TransportErrorKind::Transient
    }
}

impl From<InvalidPath> for TransportError {
    fn from(err: InvalidPath) -> Self {
        TransportError::with_source(
            TransportErrorKind::InvalidPath,
            "path",
            err.to_string(),
            err,
        )
    }
}
