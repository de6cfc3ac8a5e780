//! The one place where core errors become Python exceptions.
//!
//! The exception classes are defined in Python (`ftpchat/_errors.py`); this module only
//! decides which class a core error maps to and builds an instance of it. The mapping
//! runs in two steps so that a watcher thread can record an error without the GIL:
//! [`Failure::from`] classifies a core error (pure Rust), [`Failure::to_pyerr`] builds the
//! Python exception.
//!
//! Messages come from the core errors' `Display`, which never includes passwords or keys
//! (locations are shown without their password).

use ftpchat_core::codec::compat::CompatEncodeError;
use ftpchat_core::codec::FernetError;
use ftpchat_core::DecodeError;
use ftpchat_core::KdfError;
use ftpchat_core::{AttachmentError, ErrorKind, RoomError};
use ftpchat_core::{GroupError, IdentityError};
use ftpchat_core::{TransportError, TransportErrorKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The Python module that defines the exception hierarchy.
const ERRORS_MODULE: &str = "ftpchat._errors";

/// A classified failure: the Python exception class to raise and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The class name in `ftpchat._errors`.
    class: &'static str,
    /// The message (never contains secrets).
    message: String,
    /// `True` when retrying later may succeed.
    transient: bool,
    /// The attributes of some classes beyond the message.
    detail: Detail,
}

/// The attributes an exception class has beyond `message` and `transient`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Detail {
    None,
    /// `TransportError`, `InvalidPath`: the kind of transport failure and the operation.
    Transport {
        kind: &'static str,
        operation: &'static str,
    },
    /// `FileTooLarge`: the file's size and the limit, in bytes.
    FileTooLarge {
        size: u64,
        limit: u64,
    },
    /// `LocalFileError`: the local path and the OS error number, if any.
    LocalFile {
        path: String,
        errno: Option<i32>,
    },
}

impl Failure {
    /// A failure of class `class` (a name defined in `ftpchat/_errors.py`).
    pub(crate) fn new(class: &'static str, message: impl Into<String>) -> Self {
        Failure {
            class,
            message: message.into(),
            transient: false,
            detail: Detail::None,
        }
    }

    /// An argument the core has no type for (a layout name, a codec name...).
    pub(crate) fn invalid_config(message: impl Into<String>) -> Self {
        Failure::new("InvalidConfig", message)
    }

    /// The room was closed.
    pub(crate) fn closed() -> Self {
        Failure::from(RoomError::Closed)
    }

    /// Builds the Python exception.
    pub(crate) fn to_pyerr(&self, py: Python<'_>) -> PyErr {
        self.instantiate(py)
            .map(PyErr::from_value)
            .unwrap_or_else(|import_error| {
                // Only a broken installation gets here (ftpchat._errors missing).
                let err = PyRuntimeError::new_err(format!("{}: {}", self.class, self.message));
                err.set_cause(py, Some(import_error));
                err
            })
    }

    /// An instance of the exception class (not raised), e.g. for `on_error` callbacks.
    pub(crate) fn instantiate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let class = py.import(ERRORS_MODULE)?.getattr(self.class)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("transient", self.transient)?;
        match &self.detail {
            Detail::None => {}
            Detail::Transport { kind, operation } => {
                kwargs.set_item("kind", kind)?;
                kwargs.set_item("operation", operation)?;
            }
            Detail::FileTooLarge { size, limit } => {
                kwargs.set_item("size", size)?;
                kwargs.set_item("limit", limit)?;
            }
            Detail::LocalFile { path, errno } => {
                kwargs.set_item("path", path)?;
                kwargs.set_item("errno", errno)?;
            }
        }
        class.call((self.message.as_str(),), Some(&kwargs))
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        Python::attach(|py| failure.to_pyerr(py))
    }
}

fn transport_kind_name(kind: TransportErrorKind) -> &'static str {
    match kind {
        TransportErrorKind::Transient => "transient",
        TransportErrorKind::NotFound => "not_found",
        TransportErrorKind::PermissionDenied => "permission_denied",
        TransportErrorKind::AlreadyExists => "already_exists",
        TransportErrorKind::InvalidPath => "invalid_path",
        TransportErrorKind::Unsupported => "unsupported",
        _ => "permanent",
    }
}

/// The one table from the core's [`ErrorKind`] to a class in `ftpchat/_errors.py`; the
/// core decides the kind and whether it is transient.
fn class_of(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Transport(_) => "TransportError",
        ErrorKind::WrongPassword => "WrongPassword",
        ErrorKind::InvalidHeader => "CorruptRoom",
        ErrorKind::HeaderChanged => "HeaderChanged",
        ErrorKind::NotFound => "RoomNotFound",
        ErrorKind::InvalidConfig => "InvalidConfig",
        ErrorKind::InvalidPath => "InvalidPath",
        ErrorKind::InvalidName => "InvalidName",
        ErrorKind::MessageTooLarge => "MessageTooLarge",
        ErrorKind::LocalState | ErrorKind::LocalStore => "LocalStateError",
        ErrorKind::LockTimeout => "LockTimeout",
        ErrorKind::Closed => "RoomClosed",
        ErrorKind::NotAMember => "NotAMember",
        ErrorKind::Membership => "MembershipError",
        ErrorKind::Unsupported => "Unsupported",
        ErrorKind::UnknownMessage => "UnknownMessage",
        ErrorKind::NotAllowed => "NotAllowed",
        ErrorKind::FileTooLarge => "FileTooLarge",
        ErrorKind::Cancelled => "TransferCancelled",
        ErrorKind::BadAttachment => "BadAttachment",
        ErrorKind::LocalFile => "LocalFileError",
        _ => "Error",
    }
}

impl From<&RoomError> for Failure {
    fn from(e: &RoomError) -> Self {
        let detail = match e {
            RoomError::Transport(t) => Detail::Transport {
                kind: transport_kind_name(t.kind()),
                operation: t.operation(),
            },
            RoomError::FileTooLarge { size, limit } => Detail::FileTooLarge {
                size: *size,
                limit: *limit,
            },
            RoomError::LocalFile { path, source } => Detail::LocalFile {
                path: path.to_string_lossy().into_owned(),
                errno: source.raw_os_error(),
            },
            _ => Detail::None,
        };
        Failure {
            class: class_of(e.kind()),
            message: e.to_string(),
            transient: e.is_transient(),
            detail,
        }
    }
}

impl From<&TransportError> for Failure {
    fn from(e: &TransportError) -> Self {
        // Classified by the core like any room error; the message is the transport's.
        let kind = match e.kind() {
            TransportErrorKind::InvalidPath => ErrorKind::InvalidPath,
            kind => ErrorKind::Transport(kind),
        };
        Failure {
            class: class_of(kind),
            message: e.to_string(),
            transient: kind.is_transient(),
            detail: Detail::Transport {
                kind: transport_kind_name(e.kind()),
                operation: e.operation(),
            },
        }
    }
}

/// The exception this module raises for a core error of kind `kind` (an
/// `ErrorKind` name such as `"lock_timeout"`, or `"transport:<kind>"` with a transport
/// kind such as `"transient"`), not raised. For tests that check the kind table against
/// the other bindings' (the same kinds map to the same classes and transience).
#[pyfunction]
pub(crate) fn _error_for_kind<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyAny>> {
    use TransportErrorKind as T;
    let transport = |k| RoomError::Transport(TransportError::new(k, "test", kind.to_owned()));
    let error = match kind {
        "wrong_password" => RoomError::WrongPassword,
        "header_changed" => RoomError::HeaderChanged,
        "not_found" => RoomError::NotFound(kind.into()),
        "invalid_config" => RoomError::InvalidConfig(kind.into()),
        "invalid_name" => RoomError::InvalidName(kind.into()),
        "message_too_large" => RoomError::MessageTooLarge,
        "local_state" => RoomError::LocalState(std::io::Error::other(kind)),
        "lock_timeout" => RoomError::LockTimeout,
        "closed" => RoomError::Closed,
        "not_a_member" => RoomError::NotAMember,
        "membership" => RoomError::Membership(kind.into()),
        "unsupported" => RoomError::Unsupported(kind.into()),
        "unknown_message" => RoomError::UnknownMessage(ftpchat_core::MessageId([0; 16])),
        "not_allowed" => RoomError::NotAllowed(kind.into()),
        "file_too_large" => RoomError::FileTooLarge {
            size: 2048,
            limit: 1024,
        },
        "cancelled" => RoomError::Cancelled,
        "bad_attachment" => RoomError::BadAttachment(AttachmentError::Missing),
        "local_file" => RoomError::LocalFile {
            path: "missing.bin".into(),
            source: std::io::Error::from_raw_os_error(2),
        },
        "transport:transient" => transport(T::Transient),
        "transport:not_found" => transport(T::NotFound),
        "transport:permission_denied" => transport(T::PermissionDenied),
        "transport:already_exists" => transport(T::AlreadyExists),
        "transport:unsupported" => transport(T::Unsupported),
        "transport:permanent" => transport(T::Permanent),
        "invalid_path" => transport(T::InvalidPath),
        other => {
            return Err(
                Failure::invalid_config(format!("unknown error kind {other:?}")).to_pyerr(py),
            )
        }
    };
    Failure::from(&error).instantiate(py)
}

impl From<RoomError> for Failure {
    fn from(e: RoomError) -> Self {
        Failure::from(&e)
    }
}

impl From<TransportError> for Failure {
    fn from(e: TransportError) -> Self {
        Failure::from(&e)
    }
}

impl From<DecodeError> for Failure {
    fn from(e: DecodeError) -> Self {
        let class = match e {
            DecodeError::WrongKeyOrTampered => "WrongPassword",
            DecodeError::NoKey(_) => "InvalidConfig",
            _ => "CorruptRecord",
        };
        Failure::new(class, e.to_string())
    }
}

impl From<FernetError> for Failure {
    fn from(e: FernetError) -> Self {
        let class = match e {
            FernetError::AuthenticationFailed => "WrongPassword",
            FernetError::InvalidKey => "InvalidConfig",
            _ => "CorruptRecord",
        };
        Failure::new(class, e.to_string())
    }
}

impl From<KdfError> for Failure {
    fn from(e: KdfError) -> Self {
        Failure::invalid_config(e.to_string())
    }
}

/// Identity errors (the core has no `ErrorKind` for them: they are not room errors):
/// a bad public identity text, a backup and its passphrase, the identity file.
impl From<IdentityError> for Failure {
    fn from(e: IdentityError) -> Self {
        use IdentityError as E;
        let class = match e {
            E::MissingPrefix
            | E::InvalidEncoding
            | E::WrongLength { .. }
            | E::InvalidSigningKey => "InvalidIdentity",
            E::WrongPassphrase => "WrongPassphrase",
            E::MalformedBackup { .. }
            | E::TruncatedBackup
            | E::UnsupportedBackupVersion { .. }
            | E::UnsupportedBackupKdf { .. }
            | E::KdfParamsOutOfBounds { .. }
            | E::BackupTampered => "InvalidBackup",
            E::NotARegularFile { .. }
            | E::UnsupportedFileVersion { .. }
            | E::TruncatedFile
            | E::CorruptFile { .. }
            | E::Io { .. } => "IdentityFileError",
            _ => "IdentityError",
        };
        Failure::new(class, e.to_string())
    }
}

/// Group errors outside a room call: only invitation parsing reaches the binding (its
/// messages name what is wrong, never the URL or its key).
impl From<GroupError> for Failure {
    fn from(e: GroupError) -> Self {
        let class = match e {
            GroupError::InvalidInvitation { .. } => "InvalidInvitation",
            _ => "MembershipError",
        };
        Failure::new(class, e.to_string())
    }
}

impl From<CompatEncodeError> for Failure {
    fn from(e: CompatEncodeError) -> Self {
        Failure::new("InvalidName", e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            Failure::from(RoomError::WrongPassword).class,
            "WrongPassword"
        );
        let t = TransportError::new(TransportErrorKind::Transient, "append", "timed out");
        let f = Failure::from(RoomError::Transport(t));
        assert_eq!(f.class, "TransportError");
        assert!(f.transient);
        assert_eq!(
            f.detail,
            Detail::Transport {
                kind: "transient",
                operation: "append"
            }
        );
        let p = TransportError::new(TransportErrorKind::InvalidPath, "open", "empty");
        assert_eq!(Failure::from(p).class, "InvalidPath");
        assert_eq!(
            Failure::from(DecodeError::WrongKeyOrTampered).class,
            "WrongPassword"
        );
        assert_eq!(
            Failure::from(DecodeError::NotARecord).class,
            "CorruptRecord"
        );
        assert_eq!(
            Failure::from(FernetError::InvalidKey).class,
            "InvalidConfig"
        );
        let lock = Failure::from(RoomError::LockTimeout);
        assert_eq!((lock.class, lock.transient), ("LockTimeout", true));
        assert_eq!(Failure::from(RoomError::Closed).class, "RoomClosed");
        assert_eq!(
            Failure::from(RoomError::HeaderChanged).class,
            "HeaderChanged"
        );
        assert_eq!(Failure::from(RoomError::NotAMember).class, "NotAMember");
        assert_eq!(
            Failure::from(RoomError::NotAMemberRoom).class,
            "MembershipError"
        );
        assert_eq!(
            Failure::from(RoomError::Unsupported("x".into())).class,
            "Unsupported"
        );
        assert_eq!(
            Failure::from(RoomError::UnknownMessage(ftpchat_core::MessageId([1; 16]))).class,
            "UnknownMessage"
        );
        assert_eq!(
            Failure::from(RoomError::NotAllowed("x".into())).class,
            "NotAllowed"
        );
        let big = Failure::from(RoomError::FileTooLarge { size: 9, limit: 8 });
        assert_eq!(big.class, "FileTooLarge");
        assert_eq!(big.detail, Detail::FileTooLarge { size: 9, limit: 8 });
        assert_eq!(
            Failure::from(RoomError::Cancelled).class,
            "TransferCancelled"
        );
        let bad = Failure::from(RoomError::BadAttachment(AttachmentError::Missing));
        assert_eq!((bad.class, bad.transient), ("BadAttachment", false));
        let local = Failure::from(RoomError::LocalFile {
            path: "a/b.txt".into(),
            source: std::io::Error::from_raw_os_error(2),
        });
        assert_eq!(local.class, "LocalFileError");
        assert_eq!(
            local.detail,
            Detail::LocalFile {
                path: "a/b.txt".to_owned(),
                errno: Some(2)
            }
        );
        assert_eq!(
            Failure::from(IdentityError::WrongPassphrase).class,
            "WrongPassphrase"
        );
        assert_eq!(
            Failure::from(IdentityError::MissingPrefix).class,
            "InvalidIdentity"
        );
    }
}
