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
use ftpchat_core::RoomError;
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
    /// For `TransportError`: the kind of transport failure and the operation.
    transport: Option<(&'static str, &'static str)>,
}

impl Failure {
    /// A failure of class `class` (a name defined in `ftpchat/_errors.py`).
    pub(crate) fn new(class: &'static str, message: impl Into<String>) -> Self {
        Failure {
            class,
            message: message.into(),
            transient: false,
            transport: None,
        }
    }

    /// An argument the core has no type for (a layout name, a codec name...).
    pub(crate) fn invalid_config(message: impl Into<String>) -> Self {
        Failure::new("InvalidConfig", message)
    }

    /// The room was closed.
    pub(crate) fn closed() -> Self {
        Failure::new("RoomClosed", "the room is closed")
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
        if let Some((kind, operation)) = self.transport {
            kwargs.set_item("kind", kind)?;
            kwargs.set_item("operation", operation)?;
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

impl From<&TransportError> for Failure {
    fn from(e: &TransportError) -> Self {
        let class = match e.kind() {
            TransportErrorKind::InvalidPath => "InvalidPath",
            _ => "TransportError",
        };
        Failure {
            class,
            message: e.to_string(),
            transient: e.is_transient(),
            transport: Some((transport_kind_name(e.kind()), e.operation())),
        }
    }
}

impl From<&RoomError> for Failure {
    fn from(e: &RoomError) -> Self {
        let class = match e {
            RoomError::Transport(t) => return Failure::from(t),
            RoomError::WrongPassword => "WrongPassword",
            // A changed header is refused like an invalid one; its message says why.
            RoomError::Header(_) | RoomError::HeaderChanged => "CorruptRoom",
            RoomError::NotFound(_) => "RoomNotFound",
            RoomError::InvalidConfig(_) | RoomError::Kdf(_) => "InvalidConfig",
            RoomError::InvalidPath(_) => "InvalidPath",
            RoomError::InvalidName(_) => "InvalidName",
            RoomError::MessageTooLarge => "MessageTooLarge",
            RoomError::LocalState(_) => "LocalStateError",
            RoomError::LockTimeout => "LockTimeout",
            _ => "Error",
        };
        Failure {
            transient: e.is_transient(),
            ..Failure::new(class, e.to_string())
        }
    }
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
        assert_eq!(f.transport, Some(("transient", "append")));
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
    }
}
