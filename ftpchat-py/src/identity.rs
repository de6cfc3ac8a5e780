//! `ftpchat.Identity` and `ftpchat.safety_number`: a device identity (SPEC §16) around the
//! core's `DeviceIdentity`, and conversions of public identity texts, invitations and
//! member ids for the member-room calls of `room.rs`.

use std::path::PathBuf;
use std::sync::Arc;

use ftpchat_core::{safety_number as core_safety_number, Role};
use ftpchat_core::{DeviceIdentity, Invitation, MemberId, PublicIdentity};
use pyo3::prelude::*;

use crate::errors::Failure;

/// A public identity from its `ftpchat-id1:` text, or `InvalidIdentity`.
pub(crate) fn public_identity(text: &str) -> Result<PublicIdentity, Failure> {
    Ok(text.parse::<PublicIdentity>()?)
}

/// An invitation from its URL, or `InvalidInvitation` (whose message never contains the
/// URL).
pub(crate) fn invitation(url: &str) -> Result<Invitation, Failure> {
    Ok(Invitation::parse(url)?)
}

/// A role from its name.
pub(crate) fn role(name: &str) -> Result<Role, Failure> {
    match name {
        "admin" => Ok(Role::Admin),
        "member" => Ok(Role::Member),
        other => Err(Failure::invalid_config(format!(
            "role must be \"admin\" or \"member\", not {other:?}"
        ))),
    }
}

/// A role's name.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        _ => "member",
    }
}

/// A member id from its 32 hex digits (the core has `Display` only).
pub(crate) fn member_id(hex: &str) -> Result<MemberId, Failure> {
    let bad = || Failure::invalid_config(format!("not a member id (32 hex digits): {hex:?}"));
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    Ok(MemberId(id))
}

/// A device identity: the long-term keys that sign this device's records in member rooms.
/// Its `public` text is what others add; its `fingerprint` is what people compare. The
/// secret keys never leave it except in an encrypted backup (`export_backup`); the repr
/// shows the fingerprint only.
#[pyclass(module = "ftpchat", name = "Identity", frozen)]
pub(crate) struct PyIdentity {
    pub(crate) inner: Arc<DeviceIdentity>,
}

impl PyIdentity {
    pub(crate) fn new(inner: Arc<DeviceIdentity>) -> Self {
        PyIdentity { inner }
    }
}

#[pymethods]
impl PyIdentity {
    /// The identity kept in `dir` (the file `device-identity` in it), created on first use
    /// (`0600`, written atomically). A corrupt file raises `IdentityFileError` and is
    /// never replaced. Releases the GIL.
    #[staticmethod]
    fn load_or_create(py: Python<'_>, dir: PathBuf) -> PyResult<Self> {
        let identity = py
            .detach(move || DeviceIdentity::load_or_create(&dir))
            .map_err(Failure::from)?;
        Ok(PyIdentity::new(Arc::new(identity)))
    }

    /// A new identity in memory (not saved anywhere: keep a backup).
    #[staticmethod]
    fn generate() -> Self {
        PyIdentity::new(Arc::new(DeviceIdentity::generate()))
    }

    /// The identity in an armored backup made by `export_backup`. Raises
    /// `WrongPassphrase` or `InvalidBackup`. Releases the GIL (Argon2id takes a moment).
    #[staticmethod]
    fn import_backup(py: Python<'_>, text: &str, passphrase: &str) -> PyResult<Self> {
        let (text, passphrase) = (text.to_owned(), zeroizing(passphrase));
        let identity = py
            .detach(move || DeviceIdentity::import_backup(&text, passphrase.expose()))
            .map_err(Failure::from)?;
        Ok(PyIdentity::new(Arc::new(identity)))
    }

    /// An armored backup of the secret keys, encrypted under `passphrase` (Argon2id +
    /// XChaCha20-Poly1305). Releases the GIL.
    fn export_backup(&self, py: Python<'_>, passphrase: &str) -> String {
        let (identity, passphrase) = (self.inner.clone(), zeroizing(passphrase));
        py.detach(move || identity.export_backup(passphrase.expose()))
    }

    /// The public identity text (`ftpchat-id1:...`): give it to an admin to be added.
    #[getter]
    fn public(&self) -> String {
        self.inner.public().to_string()
    }

    /// The fingerprint: six groups of five digits, compared out of band.
    #[getter]
    fn fingerprint(&self) -> String {
        self.inner.public().fingerprint()
    }

    fn __repr__(&self) -> String {
        format!("<ftpchat.Identity {}>", self.inner.public().fingerprint())
    }
}

/// A passphrase copy that is wiped when dropped.
fn zeroizing(s: &str) -> ftpchat_core::Password {
    ftpchat_core::Password::new(s)
}

/// The safety number of two public identities (`ftpchat-id1:` texts): twelve groups of
/// five digits, the same whichever way round. Raises `InvalidIdentity` for a bad text.
#[pyfunction]
pub(crate) fn safety_number(a: &str, b: &str) -> PyResult<String> {
    Ok(core_safety_number(
        &public_identity(a)?,
        &public_identity(b)?,
    ))
}

/// The fingerprint of a public identity text (`ftpchat-id1:...`). Raises
/// `InvalidIdentity` for a bad text.
#[pyfunction]
pub(crate) fn fingerprint(public: &str) -> PyResult<String> {
    Ok(public_identity(public)?.fingerprint())
}
