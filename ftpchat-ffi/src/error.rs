//! The one error type of the bindings.

use ftpchat_core::{ErrorKind, RoomError};
use ftpchat_core::{GroupError, IdentityError};
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
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
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
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The native room does not exist and `create` was off.
    #[error("{reason}")]
    NotFound {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The options cannot work (a 1.6 or 1.7 room without a password, KDF parameters out
    /// of bounds...).
    #[error("{reason}")]
    InvalidConfig {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The display name was refused.
    #[error("{reason}")]
    InvalidName {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The text is longer than the core's limit (64 KiB).
    #[error("{reason}")]
    MessageTooLarge {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The room header on the server is invalid or hostile.
    #[error("{reason}")]
    InvalidHeader {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The native room's header is not the one this device opened before (the room was
    /// re-created, or replaced by someone who knows the password). Nothing was read or
    /// written; open with `RoomOptions.accept_changed_header` to trust the new header.
    #[error("{reason}")]
    HeaderChanged {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The local state folder failed.
    #[error("{reason}")]
    LocalState {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The shared-file lock stayed taken too long.
    #[error("{reason}")]
    LockTimeout {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// An argument of a binding call was refused (a malformed message id, watch
    /// intervals out of range).
    #[error("{reason}")]
    InvalidArgument {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The room was shut down with `shutdown()` (the core's `close()`).
    #[error("{reason}")]
    Closed {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// Member rooms: this device is not (or no longer) a member: it cannot send and
    /// reads nothing sent after its removal.
    #[error("{reason}")]
    NotAMember {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// Member rooms: a membership change was refused (not allowed for this device's role,
    /// the last admin leaving, an unknown member...) or lost a race; or a membership call
    /// on a password room or shared file.
    #[error("{reason}")]
    Membership {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The text is not a valid `ftpchat://join?...` invitation URL. The reason says what
    /// is wrong and never contains the URL (it carries a secret).
    #[error("{reason}")]
    InvalidInvitation {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// A public identity text is not a valid `ftpchat-id1:...` identity.
    #[error("{reason}")]
    InvalidIdentity {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The passphrase does not open the identity backup.
    #[error("{reason}")]
    WrongPassphrase {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// Not an identity backup, truncated, altered, or with a format or parameters this
    /// version does not accept.
    #[error("{reason}")]
    InvalidBackup {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The identity file cannot be read or written, is corrupt or is not a regular file
    /// (it is never replaced by a new identity), or another identity failure.
    #[error("{reason}")]
    IdentityFile {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The room cannot do this: an FTPChat shared file carries no edits, deletes or
    /// reactions (its readers would stop at a line they cannot read). Nothing was queued.
    #[error("{reason}")]
    Unsupported {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// No message with this id is in the room's timeline (not read yet, or not a text
    /// message).
    #[error("{reason}")]
    UnknownMessage {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// Not allowed for this user: only a message's author may edit or delete it, and a
    /// deleted message cannot be edited. Nothing was queued.
    #[error("{reason}")]
    NotAllowed {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The file is larger than the room's attachment limit
    /// (`RoomOptions.max_attachment_size`, default 100 MiB): refused before anything was
    /// sent or written, by `send_file` for the local file and by `save_attachment` for
    /// the size its message announces.
    #[error("{reason}")]
    FileTooLarge {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason (the file's size and the limit).
        reason: String,
    },
    /// The transfer was cancelled with `ChatTransfer.cancel()`. An upload queued no
    /// message; a download left its target as it was and resumes from its partial file next
    /// time.
    #[error("{reason}")]
    Cancelled {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// The attachment's encrypted file on the server is missing, of the wrong size,
    /// tampered with or does not match its message's hash. Nothing was written to the
    /// target path.
    #[error("{reason}")]
    BadAttachment {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
    /// A local file could not be read (`send_file`: missing, not a regular file, changed
    /// while it was sent) or written (`save_attachment`: the target or its partial file).
    #[error("{reason}")]
    LocalFile {
        /// `true` when a later retry may succeed (never for this variant).
        transient: bool,
        /// Human-readable reason (the path and what failed).
        reason: String,
    },
    /// Anything else (a failure the bindings do not know yet, no thread could be
    /// started).
    #[error("{reason}")]
    Internal {
        /// `true` when a later retry may succeed (only `LockTimeout` among these).
        transient: bool,
        /// Human-readable reason.
        reason: String,
    },
}

impl ChatError {
    /// `true` when a later retry may succeed (the core's `RoomError::is_transient`).
    pub fn is_transient(&self) -> bool {
        match self {
            ChatError::Transport { transient, .. }
            | ChatError::WrongPassword { transient, .. }
            | ChatError::InvalidPath { transient, .. }
            | ChatError::NotFound { transient, .. }
            | ChatError::InvalidConfig { transient, .. }
            | ChatError::InvalidName { transient, .. }
            | ChatError::MessageTooLarge { transient, .. }
            | ChatError::InvalidHeader { transient, .. }
            | ChatError::HeaderChanged { transient, .. }
            | ChatError::LocalState { transient, .. }
            | ChatError::LockTimeout { transient, .. }
            | ChatError::InvalidArgument { transient, .. }
            | ChatError::Closed { transient, .. }
            | ChatError::NotAMember { transient, .. }
            | ChatError::Membership { transient, .. }
            | ChatError::InvalidInvitation { transient, .. }
            | ChatError::InvalidIdentity { transient, .. }
            | ChatError::WrongPassphrase { transient, .. }
            | ChatError::InvalidBackup { transient, .. }
            | ChatError::IdentityFile { transient, .. }
            | ChatError::Unsupported { transient, .. }
            | ChatError::UnknownMessage { transient, .. }
            | ChatError::NotAllowed { transient, .. }
            | ChatError::FileTooLarge { transient, .. }
            | ChatError::Cancelled { transient, .. }
            | ChatError::BadAttachment { transient, .. }
            | ChatError::LocalFile { transient, .. }
            | ChatError::Internal { transient, .. } => *transient,
        }
    }

    pub(crate) fn closed() -> Self {
        ChatError::from(RoomError::Closed)
    }

    pub(crate) fn invalid_argument(reason: impl Into<String>) -> Self {
        ChatError::InvalidArgument {
            transient: false,
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(reason: impl Into<String>) -> Self {
        ChatError::Internal {
            transient: false,
            reason: reason.into(),
        }
    }
}

/// A Kotlin/Swift listener threw something other than a `ChatError`.
impl From<uniffi::UnexpectedUniFFICallbackError> for ChatError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ChatError::internal(format!("listener failed: {}", e.reason))
    }
}

/// The transport failure of an [`ErrorKind::Transport`], one to one.
fn transport_failure(kind: TransportErrorKind) -> TransportFailure {
    match kind {
        TransportErrorKind::Transient => TransportFailure::Transient,
        TransportErrorKind::NotFound => TransportFailure::NotFound,
        TransportErrorKind::PermissionDenied => TransportFailure::PermissionDenied,
        TransportErrorKind::AlreadyExists => TransportFailure::AlreadyExists,
        TransportErrorKind::Unsupported => TransportFailure::Unsupported,
        _ => TransportFailure::Permanent,
    }
}

/// The one table from the core's [`ErrorKind`] to a variant; the core decides the kind
/// and whether it is transient.
fn from_kind(kind: ErrorKind, transient: bool, reason: String) -> ChatError {
    match kind {
        ErrorKind::Transport(kind) => ChatError::Transport {
            kind: transport_failure(kind),
            transient,
            reason,
        },
        ErrorKind::WrongPassword => ChatError::WrongPassword { transient, reason },
        ErrorKind::InvalidHeader => ChatError::InvalidHeader { transient, reason },
        ErrorKind::HeaderChanged => ChatError::HeaderChanged { transient, reason },
        ErrorKind::NotFound => ChatError::NotFound { transient, reason },
        ErrorKind::InvalidConfig => ChatError::InvalidConfig { transient, reason },
        ErrorKind::InvalidPath => ChatError::InvalidPath { transient, reason },
        ErrorKind::InvalidName => ChatError::InvalidName { transient, reason },
        ErrorKind::MessageTooLarge => ChatError::MessageTooLarge { transient, reason },
        ErrorKind::LocalState | ErrorKind::LocalStore => {
            ChatError::LocalState { transient, reason }
        }
        ErrorKind::LockTimeout => ChatError::LockTimeout { transient, reason },
        ErrorKind::Closed => ChatError::Closed { transient, reason },
        ErrorKind::NotAMember => ChatError::NotAMember { transient, reason },
        ErrorKind::Membership => ChatError::Membership { transient, reason },
        ErrorKind::Unsupported => ChatError::Unsupported { transient, reason },
        ErrorKind::UnknownMessage => ChatError::UnknownMessage { transient, reason },
        ErrorKind::NotAllowed => ChatError::NotAllowed { transient, reason },
        ErrorKind::FileTooLarge => ChatError::FileTooLarge { transient, reason },
        ErrorKind::Cancelled => ChatError::Cancelled { transient, reason },
        ErrorKind::BadAttachment => ChatError::BadAttachment { transient, reason },
        ErrorKind::LocalFile => ChatError::LocalFile { transient, reason },
        _ => ChatError::Internal { transient, reason },
    }
}

impl From<&RoomError> for ChatError {
    fn from(e: &RoomError) -> Self {
        from_kind(e.kind(), e.is_transient(), e.to_string())
    }
}

impl From<RoomError> for ChatError {
    fn from(e: RoomError) -> Self {
        ChatError::from(&e)
    }
}

impl From<&TransportError> for ChatError {
    fn from(e: &TransportError) -> Self {
        // Classified by the core like any room error.
        let reason = e.to_string();
        let kind = match e.kind() {
            TransportErrorKind::InvalidPath => ErrorKind::InvalidPath,
            kind => ErrorKind::Transport(kind),
        };
        from_kind(kind, e.is_transient(), reason)
    }
}

impl From<TransportError> for ChatError {
    fn from(e: TransportError) -> Self {
        ChatError::from(&e)
    }
}

/// Identity errors (not room errors: the core gives them no `ErrorKind`).
impl From<IdentityError> for ChatError {
    fn from(e: IdentityError) -> Self {
        use IdentityError as E;
        let (transient, reason) = (false, e.to_string());
        match e {
            E::MissingPrefix
            | E::InvalidEncoding
            | E::WrongLength { .. }
            | E::InvalidSigningKey => ChatError::InvalidIdentity { transient, reason },
            E::WrongPassphrase => ChatError::WrongPassphrase { transient, reason },
            E::MalformedBackup { .. }
            | E::TruncatedBackup
            | E::UnsupportedBackupVersion { .. }
            | E::UnsupportedBackupKdf { .. }
            | E::KdfParamsOutOfBounds { .. }
            | E::BackupTampered => ChatError::InvalidBackup { transient, reason },
            _ => ChatError::IdentityFile { transient, reason },
        }
    }
}

/// Group errors outside a room call: only invitation parsing reaches the bindings.
impl From<GroupError> for ChatError {
    fn from(e: GroupError) -> Self {
        let (transient, reason) = (false, e.to_string());
        match e {
            GroupError::InvalidInvitation { .. } => {
                ChatError::InvalidInvitation { transient, reason }
            }
            _ => ChatError::Membership { transient, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftpchat_core::AttachmentError;

    #[test]
    fn kinds_map_one_to_one_and_transience_comes_from_the_core() {
        let e = ChatError::from(RoomError::LockTimeout);
        assert!(
            matches!(
                e,
                ChatError::LockTimeout {
                    transient: true,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.is_transient());
        let e = ChatError::from(RoomError::Closed);
        assert!(
            matches!(
                e,
                ChatError::Closed {
                    transient: false,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = ChatError::from(RoomError::HeaderChanged);
        assert!(matches!(e, ChatError::HeaderChanged { .. }), "{e:?}");
        let t = TransportError::new(TransportErrorKind::Transient, "append", "timed out");
        let e = ChatError::from(RoomError::Transport(t));
        assert!(matches!(
            e,
            ChatError::Transport {
                kind: TransportFailure::Transient,
                transient: true,
                ..
            }
        ));
        let p = TransportError::new(TransportErrorKind::InvalidPath, "open", "empty");
        assert!(matches!(ChatError::from(p), ChatError::InvalidPath { .. }));
        let e = ChatError::from(RoomError::NotAMember);
        assert!(matches!(e, ChatError::NotAMember { .. }), "{e:?}");
        let e = ChatError::from(RoomError::NotAMemberRoom);
        assert!(matches!(e, ChatError::Membership { .. }), "{e:?}");
        let e = ChatError::from(IdentityError::WrongPassphrase);
        assert!(matches!(e, ChatError::WrongPassphrase { .. }), "{e:?}");
        let e = ChatError::from(RoomError::Unsupported("chat file".into()));
        assert!(
            matches!(
                e,
                ChatError::Unsupported {
                    transient: false,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = ChatError::from(RoomError::UnknownMessage(ftpchat_core::MessageId([3; 16])));
        assert!(matches!(e, ChatError::UnknownMessage { .. }), "{e:?}");
        let e = ChatError::from(RoomError::NotAllowed("not the author".into()));
        assert!(matches!(e, ChatError::NotAllowed { .. }), "{e:?}");
        let e = ChatError::from(RoomError::FileTooLarge {
            size: 2048,
            limit: 1024,
        });
        assert!(
            matches!(&e, ChatError::FileTooLarge { transient: false, reason }
                if reason.contains("2048") && reason.contains("1024")),
            "{e:?}"
        );
        let e = ChatError::from(RoomError::Cancelled);
        assert!(
            matches!(
                e,
                ChatError::Cancelled {
                    transient: false,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = ChatError::from(RoomError::BadAttachment(AttachmentError::Missing));
        assert!(matches!(e, ChatError::BadAttachment { .. }), "{e:?}");
        let e = ChatError::from(RoomError::LocalFile {
            path: "/nowhere/x.bin".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert!(
            matches!(&e, ChatError::LocalFile { transient: false, reason }
                if reason.contains("/nowhere/x.bin")),
            "{e:?}"
        );
    }
}
