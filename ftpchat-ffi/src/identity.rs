//! [`Identity`]: a device identity (SPEC §16), member records, roles and the
//! conversions of public identity texts, invitations and member ids.

use std::sync::Arc;

use ftpchat_core::{DeviceIdentity, Invitation, Member, MemberId, Password, PublicIdentity, Role};

use crate::ChatError;

/// A member's role in a member room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MemberRole {
    /// May add, invite, remove and promote members.
    Admin,
    /// May read, write, link its own devices and leave.
    Member,
}

impl From<MemberRole> for Role {
    fn from(r: MemberRole) -> Self {
        match r {
            MemberRole::Admin => Role::Admin,
            MemberRole::Member => Role::Member,
        }
    }
}

impl From<Role> for MemberRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => MemberRole::Admin,
            _ => MemberRole::Member,
        }
    }
}

/// A member of a member room, as of the last sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RoomMember {
    /// The member id: 32 lowercase hex characters (what `removeMember` and `promote`
    /// take).
    pub id: String,
    /// Admin or member.
    pub role: MemberRole,
    /// The public identities (`ftpchat-id1:...`) of its devices.
    pub devices: Vec<String>,
    /// The fingerprints of `devices`, in the same order (what people compare).
    pub fingerprints: Vec<String>,
    /// The epoch at which it joined.
    pub joined_epoch: u64,
}

impl From<&Member> for RoomMember {
    fn from(m: &Member) -> Self {
        RoomMember {
            id: m.id.to_string(),
            role: m.role.into(),
            devices: m.devices.iter().map(ToString::to_string).collect(),
            fingerprints: m.devices.iter().map(PublicIdentity::fingerprint).collect(),
            joined_epoch: m.joined_epoch,
        }
    }
}

/// A public identity from its `ftpchat-id1:` text, or `ChatError.InvalidIdentity`.
pub(crate) fn public_identity(text: &str) -> Result<PublicIdentity, ChatError> {
    Ok(text.parse::<PublicIdentity>()?)
}

/// An invitation from its URL, or `ChatError.InvalidInvitation` (never quoting the URL).
pub(crate) fn invitation(url: &str) -> Result<Invitation, ChatError> {
    Ok(Invitation::parse(url)?)
}

/// A member id from its 32 hex characters (the core has `Display` only).
pub(crate) fn member_id(hex: &str) -> Result<MemberId, ChatError> {
    let bad = || ChatError::invalid_argument("a member id is 32 hexadecimal characters");
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(MemberId(id))
}

/// A device identity: the long-term keys that sign this device's records in member
/// rooms. Its [`public_identity`](Self::public_identity) text is what an admin adds; its
/// [`fingerprint`](Self::fingerprint) is what people compare. The secret keys leave it
/// only in an encrypted backup.
#[derive(uniffi::Object)]
pub struct Identity {
    pub(crate) inner: Arc<DeviceIdentity>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.inner.public().fingerprint())
            .finish_non_exhaustive()
    }
}

impl Identity {
    pub(crate) fn wrap(inner: Arc<DeviceIdentity>) -> Arc<Self> {
        Arc::new(Identity { inner })
    }
}

#[uniffi::export]
impl Identity {
    /// The identity kept in folder `dir` (e.g. the app's files directory), created on
    /// first use. A corrupt file fails with `ChatError.IdentityFile` and is never
    /// replaced. *Blocking* (file I/O).
    #[uniffi::constructor]
    pub fn load_or_create(dir: String) -> Result<Arc<Self>, ChatError> {
        let identity = DeviceIdentity::load_or_create(std::path::Path::new(&dir))?;
        Ok(Identity::wrap(Arc::new(identity)))
    }

    /// A new identity in memory (not saved: keep a backup).
    #[uniffi::constructor]
    pub fn generate() -> Arc<Self> {
        Identity::wrap(Arc::new(DeviceIdentity::generate()))
    }

    /// The identity in an armored backup made by [`export_backup`](Self::export_backup).
    /// Fails with `ChatError.WrongPassphrase` or `ChatError.InvalidBackup`. *Blocking*
    /// (Argon2id takes about a second).
    #[uniffi::constructor]
    pub fn import_backup(text: String, passphrase: String) -> Result<Arc<Self>, ChatError> {
        let passphrase = Password::new(passphrase);
        let identity = DeviceIdentity::import_backup(&text, passphrase.expose())?;
        Ok(Identity::wrap(Arc::new(identity)))
    }

    /// An armored backup of the secret keys, encrypted under `passphrase` (Argon2id +
    /// XChaCha20-Poly1305). *Blocking* (about a second).
    pub fn export_backup(&self, passphrase: String) -> String {
        let passphrase = Password::new(passphrase);
        self.inner.export_backup(passphrase.expose())
    }

    /// The public identity text (`ftpchat-id1:...`): give it to an admin to be added.
    pub fn public_identity(&self) -> String {
        self.inner.public().to_string()
    }

    /// The fingerprint: six groups of five digits, compared out of band.
    pub fn fingerprint(&self) -> String {
        self.inner.public().fingerprint()
    }
}

/// The safety number of two public identity texts: twelve groups of five digits, the
/// same whichever way round. Fails with `ChatError.InvalidIdentity` for a bad text.
#[uniffi::export]
pub fn safety_number(a: String, b: String) -> Result<String, ChatError> {
    Ok(ftpchat_core::safety_number(
        &public_identity(&a)?,
        &public_identity(&b)?,
    ))
}

/// The fingerprint of a public identity text (`ftpchat-id1:...`). Fails with
/// `ChatError.InvalidIdentity` for a bad text.
#[uniffi::export]
pub fn public_fingerprint(public_identity: String) -> Result<String, ChatError> {
    Ok(self::public_identity(&public_identity)?.fingerprint())
}
