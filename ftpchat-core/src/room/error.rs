//! The one classification of room errors that applications and bindings use.
//!
//! [`RoomError::kind`] says what kind of failure an error is and
//! [`RoomError::is_transient`] whether retrying later may work. Both are decided here
//! and nowhere else: the Python exceptions and the Kotlin/Swift `ChatError` variants are
//! tables over [`ErrorKind`].

use super::RoomError;
use crate::transport::TransportErrorKind;

/// What kind of failure a [`RoomError`] is: one value per way an application reacts.
///
/// Bindings map each kind to one exception class or error variant. New kinds may be
/// added; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server or folder failed; the transport's own kind says how (never
    /// [`TransportErrorKind::InvalidPath`]: that is [`ErrorKind::InvalidPath`]).
    Transport(TransportErrorKind),
    /// The password (or key) does not open the room ([`RoomError::WrongPassword`]).
    WrongPassword,
    /// The room header is invalid or hostile ([`RoomError::Header`]).
    InvalidHeader,
    /// The room header changed since this device opened the room
    /// ([`RoomError::HeaderChanged`]).
    HeaderChanged,
    /// The native room does not exist and creation was not allowed
    /// ([`RoomError::NotFound`]).
    NotFound,
    /// The configuration cannot work, including KDF parameters out of bounds
    /// ([`RoomError::InvalidConfig`], [`RoomError::Kdf`]).
    InvalidConfig,
    /// A path was refused before anything was sent ([`RoomError::InvalidPath`], or a
    /// transport error of kind [`TransportErrorKind::InvalidPath`]).
    InvalidPath,
    /// A display name was refused ([`RoomError::InvalidName`]).
    InvalidName,
    /// The text is too long ([`RoomError::MessageTooLarge`]).
    MessageTooLarge,
    /// The local state folder failed ([`RoomError::LocalState`]).
    LocalState,
    /// The local store of messages failed ([`RoomError::Store`]): damaged (delete it, the
    /// room reads its history from the server again), from a newer ftpchat, locked by
    /// another process, or a disk error.
    LocalStore,
    /// The shared-file lock stayed taken too long ([`RoomError::LockTimeout`]);
    /// transient.
    LockTimeout,
    /// The room was closed ([`RoomError::Closed`]).
    Closed,
    /// This device is not a member of the member room ([`RoomError::NotAMember`]).
    NotAMember,
    /// A membership operation failed or was refused ([`RoomError::Membership`],
    /// [`RoomError::NotAMemberRoom`]).
    Membership,
    /// The room cannot do this ([`RoomError::Unsupported`]).
    Unsupported,
    /// No such message ([`RoomError::UnknownMessage`]).
    UnknownMessage,
    /// Not allowed for this user, e.g. editing another member's message
    /// ([`RoomError::NotAllowed`]).
    NotAllowed,
    /// The file is over the room's attachment limit ([`RoomError::FileTooLarge`]).
    FileTooLarge,
    /// The transfer was cancelled ([`RoomError::Cancelled`]).
    Cancelled,
    /// The attachment's blob is missing or does not verify ([`RoomError::BadAttachment`]).
    BadAttachment,
    /// A local file could not be read or written ([`RoomError::LocalFile`]).
    LocalFile,
}

impl ErrorKind {
    /// `true` when retrying later may succeed: a transient transport failure or a lock
    /// that another client held too long.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Transport(TransportErrorKind::Transient) | ErrorKind::LockTimeout
        )
    }

    /// A stable lower-case name (`"wrong_password"`, `"transport"`, ...), the same in
    /// every binding.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Transport(_) => "transport",
            ErrorKind::WrongPassword => "wrong_password",
            ErrorKind::InvalidHeader => "invalid_header",
            ErrorKind::HeaderChanged => "header_changed",
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidPath => "invalid_path",
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::MessageTooLarge => "message_too_large",
            ErrorKind::LocalState => "local_state",
            ErrorKind::LocalStore => "local_store",
            ErrorKind::LockTimeout => "lock_timeout",
            ErrorKind::Closed => "closed",
            ErrorKind::NotAMember => "not_a_member",
            ErrorKind::Membership => "membership",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::UnknownMessage => "unknown_message",
            ErrorKind::NotAllowed => "not_allowed",
            ErrorKind::FileTooLarge => "file_too_large",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::BadAttachment => "bad_attachment",
            ErrorKind::LocalFile => "local_file",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorKind::Transport(kind) => write!(f, "transport ({kind})"),
            other => f.write_str(other.name()),
        }
    }
}

impl RoomError {
    /// What kind of failure this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            RoomError::Transport(t) => match t.kind() {
                TransportErrorKind::InvalidPath => ErrorKind::InvalidPath,
                kind => ErrorKind::Transport(kind),
            },
            RoomError::WrongPassword => ErrorKind::WrongPassword,
            RoomError::Header(_) => ErrorKind::InvalidHeader,
            RoomError::HeaderChanged => ErrorKind::HeaderChanged,
            RoomError::NotFound(_) => ErrorKind::NotFound,
            RoomError::InvalidConfig(_) | RoomError::Kdf(_) => ErrorKind::InvalidConfig,
            RoomError::InvalidPath(_) => ErrorKind::InvalidPath,
            RoomError::InvalidName(_) => ErrorKind::InvalidName,
            RoomError::MessageTooLarge => ErrorKind::MessageTooLarge,
            RoomError::LocalState(_) => ErrorKind::LocalState,
            RoomError::Store(_) => ErrorKind::LocalStore,
            RoomError::LockTimeout => ErrorKind::LockTimeout,
            RoomError::Closed => ErrorKind::Closed,
            RoomError::NotAMember => ErrorKind::NotAMember,
            RoomError::Membership(_) | RoomError::NotAMemberRoom => ErrorKind::Membership,
            RoomError::Unsupported(_) => ErrorKind::Unsupported,
            RoomError::UnknownMessage(_) => ErrorKind::UnknownMessage,
            RoomError::NotAllowed(_) => ErrorKind::NotAllowed,
            RoomError::FileTooLarge { .. } => ErrorKind::FileTooLarge,
            RoomError::Cancelled => ErrorKind::Cancelled,
            RoomError::BadAttachment(_) => ErrorKind::BadAttachment,
            RoomError::LocalFile { .. } => ErrorKind::LocalFile,
        }
    }

    /// `true` when retrying later may succeed; the same as `self.kind().is_transient()`.
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportError;

    #[test]
    fn kinds_and_transience() {
        assert_eq!(RoomError::LockTimeout.kind(), ErrorKind::LockTimeout);
        assert!(RoomError::LockTimeout.is_transient());
        assert!(!RoomError::WrongPassword.is_transient());
        assert!(!RoomError::Closed.is_transient());
        let t = TransportError::new(TransportErrorKind::Transient, "append", "timed out");
        let e = RoomError::Transport(t);
        assert_eq!(
            e.kind(),
            ErrorKind::Transport(TransportErrorKind::Transient)
        );
        assert!(e.is_transient());
        let p = TransportError::new(TransportErrorKind::InvalidPath, "open", "empty");
        assert_eq!(RoomError::Transport(p).kind(), ErrorKind::InvalidPath);
        let n = TransportError::new(TransportErrorKind::NotFound, "size", "gone");
        assert!(!RoomError::Transport(n).is_transient());
    }
}
