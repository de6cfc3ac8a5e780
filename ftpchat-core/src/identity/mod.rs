//! Device identities (SPEC §16): a long-term Ed25519 signing key and X25519 agreement key
//! per device, their public half and its text encoding, fingerprints and safety numbers,
//! the local identity file and the passphrase-encrypted backup.
//!
//! Everything but [`DeviceIdentity::load_or_create`] is sans-IO: encodings, derivations and
//! the backup are pure functions over bytes (plus the OS random generator for new keys,
//! salts and nonces). Secrets zeroize on drop and never appear in `Debug` or in an error.

mod backup;
mod error;
mod keys;
mod store;

pub use backup::{BackupKdfParams, BACKUP_BEGIN, BACKUP_END};
pub use error::IdentityError;
pub use keys::{
    safety_number, DeviceIdentity, PublicIdentity, SharedSecret, PUBLIC_IDENTITY_PREFIX,
    SIGNATURE_LEN,
};
pub use store::IDENTITY_FILE_NAME;
