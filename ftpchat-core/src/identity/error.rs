//! The one error type of the identity module.

use std::path::PathBuf;

/// Why an identity operation failed. Messages never contain secret bytes or passphrases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    // --- public identities and signatures ---
    /// A public identity text does not start with `ftpchat-id1:`.
    #[error("not a ftpchat public identity (expected the prefix \"ftpchat-id1:\")")]
    MissingPrefix,
    /// The part after the prefix is not unpadded, canonical base64url.
    #[error("the public identity is not valid unpadded base64url")]
    InvalidEncoding,
    /// A key, identity or signature has the wrong number of bytes.
    #[error("{what} must be {expected} bytes, got {found}")]
    WrongLength {
        /// What was being read ("public identity", "signature", ...).
        what: &'static str,
        /// The required length.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The Ed25519 public key is not a valid point or has small order.
    #[error("the Ed25519 public key is invalid or weak (small order)")]
    InvalidSigningKey,
    /// A signature does not verify (another key, another message, or altered).
    #[error("the signature does not verify")]
    BadSignature,
    /// The X25519 agreement gave a non-contributory (all-zero) result: the other public key
    /// has low order.
    #[error("key agreement refused: the other X25519 public key has low order")]
    NonContributoryAgreement,

    // --- the local identity file ---
    /// The identity file path is a symbolic link or not a regular file; it is left alone.
    #[error("{} is not a regular file (a symbolic link or something else); refusing to use it", path.display())]
    NotARegularFile {
        /// The refused path.
        path: PathBuf,
    },
    /// The identity file names a format version this build does not know.
    #[error("the identity file has an unsupported version ({version:?})")]
    UnsupportedFileVersion {
        /// The version text found (at most 32 characters).
        version: String,
    },
    /// The identity file ends early (fewer lines than the format has, or no final newline).
    #[error("the identity file is truncated")]
    TruncatedFile,
    /// The identity file is damaged; it is kept as it is, never replaced by a new identity.
    #[error("the identity file is corrupt: {reason}")]
    CorruptFile {
        /// What is wrong (no secret material).
        reason: &'static str,
    },
    /// Reading or writing the identity file failed.
    #[error("identity file I/O on {}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    // --- the encrypted backup ---
    /// The text is not an armored backup (no `BEGIN`/`END` lines, bad base64, too long).
    #[error("not a ftpchat identity backup: {reason}")]
    MalformedBackup {
        /// What is wrong.
        reason: &'static str,
    },
    /// The backup is shorter than its format requires (cut off).
    #[error("the identity backup is truncated")]
    TruncatedBackup,
    /// The backup has a format version this build does not know.
    #[error("the identity backup has an unsupported version {version}")]
    UnsupportedBackupVersion {
        /// The version byte.
        version: u8,
    },
    /// The backup names a key derivation function this build does not know.
    #[error("the identity backup uses an unknown key derivation function {kdf}")]
    UnsupportedBackupKdf {
        /// The KDF id byte.
        kdf: u8,
    },
    /// The backup's Argon2id parameters are outside the accepted bounds (SPEC §16.6);
    /// refused before any work.
    #[error("the identity backup's Argon2id parameters are outside the accepted bounds (memory {memory_kib} KiB, {iterations} passes, {parallelism} lanes)")]
    KdfParamsOutOfBounds {
        /// Memory in KiB.
        memory_kib: u32,
        /// Passes.
        iterations: u32,
        /// Lanes.
        parallelism: u32,
    },
    /// The passphrase does not match the backup's key check.
    #[error("wrong passphrase for this identity backup")]
    WrongPassphrase,
    /// The passphrase is right but the encrypted keys (or nonce) were altered.
    #[error("the identity backup was altered: authentication failed")]
    BackupTampered,
}
