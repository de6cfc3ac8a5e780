//! The one error type of the bindings.

use ftpchat_core::RoomError;
use ftpchat_core::{TransportError, TransportErrorKind};

/// What kind of transport failure a [`ChatError::Transport`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TransportFailure {
    /// Worth retrying later: a dropped connection, a timeout, a busy server.
    Transient,
    /// A file or directory does not exist.
    NotFound,
    /// The server or file system refused access (e.g. a wrong FTP login).
    PermissionDenied,
    /// Something exists already.
    AlreadyExists,
    /// The server or location cannot do this (e.g. an unknown location scheme).
    Unsupported,
    /// Anything else that retrying will not fix (bad credentials, TLS refused).
    Permanent,
}

/// Why a call failed. Flat: every variant carries a human-readable `reason` (built from
/// the core's messages, which never contain passwords) and at most a few plain fields.
///
/// In Kotlin this is `ChatException` with one subclass per variant; in Swift the enum
/// `ChatError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ChatError {
    /// The password does not open this room: opening a native room, or syncing/flushing
    /// an FTPChat 1.6/1.7 shared file whose lines all fail authentication (then nothing
    /// is written and the outbox is kept). For a shared file it can also mean other salt
    /// or iterations (`RoomOptions.compat_salt`, `compat_iterations`).
    #[error("{reason}")]
    WrongPassword {
        /// Human-readable reason.
        reason: String,
    },
    /// The server or folder failed. Unsent messages stay in the outbox.
    #[error("{reason}")]
    Transport {
        /// What kind of failure.
        kind: TransportFailure,
        /// `true` when a later retry may succeed.
        transient: bool,
        /// Human-readable reason (operation and server reply; never a password).
        reason: String,
    },
    /// A room path, file name or location was refused (CR, LF, NUL, `..`, absolute,
    /// empty...).
    #[error("{reason}")]
    InvalidPath {
        /// Human-readable reason.
        reason: String,
    },
    /// The native room does not exist and `create` was off.
    #[error("{reason}")]
    NotFound {
        /// Human-readable reason.
        reason: String,
    },
    /// The options cannot work (a 1.6 or 1.7 room without a password, KDF parameters out
    /// of bounds...).
    #[error("{reason}")]
    InvalidConfig {
        /// Human-readable reason.
        reason: String,
    },
    /// The display name was refused.
    #[error("{reason}")]
    InvalidName {
        /// Human-readable reason.
        reason: String,
    },
    /// The text is longer than the core's limit (64 KiB).
    #[error("{reason}")]
    MessageTooLarge {
        /// Human-readable reason.
        reason: String,
    },
    /// The room header on the server is invalid or hostile.
    #[error("{reason}")]
    InvalidHeader {
        /// Human-readable reason.
        reason: String,
    },
    /// The local state folder failed.
    #[error("{reason}")]
    LocalState {
        /// Human-readable reason.
        reason: String,
    },
    /// The shared-file lock stayed taken too long.
    #[error("{reason}")]
    LockTimeout {
        /// Human-readable reason.
        reason: String,
    },
    /// An argument of a binding call was refused (a malformed message id, watch
    /// intervals out of range).
    #[error("{reason}")]
    InvalidArgument {
        /// Human-readable reason.
        reason: String,
    },
    /// The room was shut down with `shutdown()`.
    #[error("{reason}")]
    Closed {
        /// Human-readable reason.
        reason: String,
    },
    /// Anything else (a failure the bindings do not know yet, no thread could be
    /// started).
    #[error("{reason}")]
    Internal {
        /// Human-readable reason.
        reason: String,
    },
}

impl ChatError {
    /// `true` when a later retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChatError::Transport {
                transient: true,
                ..
            }
        )
    }

    pub(crate) fn closed() -> Self {
        ChatError::Closed {
            reason: "the room was shut down".into(),
        }
    }

    pub(crate) fn invalid_argument(reason: impl Into<String>) -> Self {
        ChatError::InvalidArgument {
            reason: reason.into(),
        }
    }
}

/// A Kotlin/Swift listener threw something other than a `ChatError`.
impl From<uniffi::UnexpectedUniFFICallbackError> for ChatError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ChatError::Internal {
            reason: format!("listener failed: {}", e.reason),
        }
    }
}

impl From<&TransportError> for ChatError {
    fn from(e: &TransportError) -> Self {
        let reason = e.to_string();
        let kind = match e.kind() {
            TransportErrorKind::InvalidPath => return ChatError::InvalidPath { reason },
            TransportErrorKind::Transient => TransportFailure::Transient,
            TransportErrorKind::NotFound => TransportFailure::NotFound,
            TransportErrorKind::PermissionDenied => TransportFailure::PermissionDenied,
            TransportErrorKind::AlreadyExists => TransportFailure::AlreadyExists,
            TransportErrorKind::Unsupported => TransportFailure::Unsupported,
            _ => TransportFailure::Permanent,
        };
        ChatError::Transport {
            kind,
            transient: e.is_transient(),
            reason,
        }
    }
}

impl From<TransportError> for ChatError {
    fn from(e: TransportError) -> Self {
        ChatError::from(&e)
    }
}

impl From<&RoomError> for ChatError {
    fn from(e: &RoomError) -> Self {
        let reason = e.to_string();
        match e {
            RoomError::Transport(t) => t.into(),
            RoomError::WrongPassword => ChatError::WrongPassword { reason },
            // A changed header is refused like an invalid one; `reason` says why.
            RoomError::Header(_) | RoomError::HeaderChanged => ChatError::InvalidHeader { reason },
            RoomError::NotFound(_) => ChatError::NotFound { reason },
            RoomError::InvalidConfig(_) | RoomError::Kdf(_) => ChatError::InvalidConfig { reason },
            RoomError::InvalidPath(_) => ChatError::InvalidPath { reason },
            RoomError::InvalidName(_) => ChatError::InvalidName { reason },
            RoomError::MessageTooLarge => ChatError::MessageTooLarge { reason },
            RoomError::LocalState(_) => ChatError::LocalState { reason },
            RoomError::LockTimeout => ChatError::LockTimeout { reason },
            _ => ChatError::Internal { reason },
        }
    }
}

impl From<RoomError> for ChatError {
    fn from(e: RoomError) -> Self {
        ChatError::from(&e)
    }
}
