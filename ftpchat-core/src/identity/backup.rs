//! The passphrase-encrypted identity backup (SPEC §16.6): Argon2id with bounded parameters
//! and XChaCha20-Poly1305, the header bound as associated data. Sans-IO.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::error::IdentityError;
use super::keys::DeviceIdentity;
use crate::crypto::random_bytes;

/// The armor's first line.
pub const BACKUP_BEGIN: &str = "-----BEGIN FTPCHAT IDENTITY BACKUP-----";
/// The armor's last line.
pub const BACKUP_END: &str = "-----END FTPCHAT IDENTITY BACKUP-----";
const MAGIC: &[u8; 4] = b"ftcb";
const VERSION: u8 = 1;
/// Argon2id, version 0x13 (RFC 9106).
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const CHECK_LEN: usize = 16;
/// magic, version, kdf, memory, iterations, parallelism, salt, nonce, key check.
const HEADER_LEN: usize = 4 + 1 + 1 + 4 + 4 + 4 + SALT_LEN + NONCE_LEN + CHECK_LEN;
/// Ed25519 seed and X25519 secret.
const PLAINTEXT_LEN: usize = 64;
const TAG_LEN: usize = 16;
const BLOB_LEN: usize = HEADER_LEN + PLAINTEXT_LEN + TAG_LEN;
/// Armored input longer than this is refused before decoding.
const MAX_ARMORED_LEN: usize = 4096;
/// Base64 characters per armored line.
const LINE_WIDTH: usize = 64;

/// Argon2id cost parameters of a backup, within fixed bounds (SPEC §16.6) so that a
/// hostile backup cannot demand hours of work or gigabytes of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackupKdfParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl BackupKdfParams {
    /// Least memory accepted: 8 MiB.
    pub const MIN_MEMORY_KIB: u32 = 8 * 1024;
    /// Most memory accepted: 256 MiB.
    pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
    /// Most passes accepted (at least 1).
    pub const MAX_ITERATIONS: u32 = 16;
    /// Most lanes accepted (at least 1).
    pub const MAX_PARALLELISM: u32 = 4;
    /// What [`DeviceIdentity::export_backup`] uses: 64 MiB, 3 passes, 1 lane (RFC 9106
    /// §4's second recommendation, with one lane).
    pub const DEFAULT: Self = Self {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Parameters within the bounds.
    ///
    /// # Errors
    /// [`IdentityError::KdfParamsOutOfBounds`] outside them.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, IdentityError> {
        let ok = (Self::MIN_MEMORY_KIB..=Self::MAX_MEMORY_KIB).contains(&memory_kib)
            && (1..=Self::MAX_ITERATIONS).contains(&iterations)
            && (1..=Self::MAX_PARALLELISM).contains(&parallelism);
        if !ok {
            return Err(IdentityError::KdfParamsOutOfBounds {
                memory_kib,
                iterations,
                parallelism,
            });
        }
        Ok(Self {
            memory_kib,
            iterations,
            parallelism,
        })
    }

    /// Memory in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Passes over memory.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Lanes.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// 64 bytes of Argon2id: the AEAD key, then the key check (first 16 of the rest).
    fn derive(&self, passphrase: &str, salt: &[u8; SALT_LEN]) -> Zeroizing<[u8; 64]> {
        let mut out = Zeroizing::new([0u8; 64]);
        // Within the bounds both calls cannot fail; an error would be a bug in them.
        #[allow(clippy::expect_used)]
        {
            let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(64))
                .expect("bounded Argon2 parameters are valid");
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
                .expect("Argon2 accepts a 16-byte salt and 64-byte output");
        }
        out
    }
}

impl Default for BackupKdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl DeviceIdentity {
    /// This identity's secret keys encrypted with `passphrase`, as armored text a user can
    /// store or print (SPEC §16.6). Uses [`BackupKdfParams::DEFAULT`] and a random salt and
    /// nonce. Whoever has the text and the passphrase has this identity: ask for a strong
    /// passphrase.
    pub fn export_backup(&self, passphrase: &str) -> String {
        self.export_backup_with(passphrase, BackupKdfParams::DEFAULT)
    }

    /// [`DeviceIdentity::export_backup`] with other Argon2id costs.
    pub fn export_backup_with(&self, passphrase: &str, params: BackupKdfParams) -> String {
        self.seal(passphrase, params, random_bytes(), random_bytes())
    }

    /// [`DeviceIdentity::export_backup_with`] with a fixed salt and nonce, for test vectors.
    /// Never for production: a repeated nonce under one passphrase and salt breaks the
    /// encryption.
    #[cfg(feature = "deterministic")]
    pub fn export_backup_deterministic(
        &self,
        passphrase: &str,
        params: BackupKdfParams,
        salt: [u8; 16],
        nonce: [u8; 24],
    ) -> String {
        self.seal(passphrase, params, salt, nonce)
    }

    fn seal(
        &self,
        passphrase: &str,
        params: BackupKdfParams,
        salt: [u8; SALT_LEN],
        nonce: [u8; NONCE_LEN],
    ) -> String {
        let derived = params.derive(passphrase, &salt);
        let mut blob = Vec::with_capacity(BLOB_LEN);
        blob.extend_from_slice(MAGIC);
        blob.push(VERSION);
        blob.push(KDF_ARGON2ID);
        blob.extend_from_slice(&params.memory_kib.to_be_bytes());
        blob.extend_from_slice(&params.iterations.to_be_bytes());
        blob.extend_from_slice(&params.parallelism.to_be_bytes());
        blob.extend_from_slice(&salt);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&derived[32..32 + CHECK_LEN]);
        debug_assert_eq!(blob.len(), HEADER_LEN);
        let secrets = self.secret_bytes();
        let cipher = XChaCha20Poly1305::new(derived[..32].into());
        #[allow(clippy::expect_used)]
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secrets.as_ref(),
                    aad: &blob,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts 64 bytes");
        blob.extend_from_slice(&sealed);
        armor(&blob)
    }

    /// Reads a backup made by [`DeviceIdentity::export_backup`].
    ///
    /// # Errors
    /// Each a distinct [`IdentityError`]: [`MalformedBackup`](IdentityError::MalformedBackup)
    /// (no armor, not base64, trailing bytes, too long), [`TruncatedBackup`](IdentityError::TruncatedBackup),
    /// [`UnsupportedBackupVersion`](IdentityError::UnsupportedBackupVersion),
    /// [`UnsupportedBackupKdf`](IdentityError::UnsupportedBackupKdf),
    /// [`KdfParamsOutOfBounds`](IdentityError::KdfParamsOutOfBounds) (checked before any
    /// work), [`WrongPassphrase`](IdentityError::WrongPassphrase) (also a changed salt,
    /// parameter or key check) and [`BackupTampered`](IdentityError::BackupTampered) (the
    /// passphrase is right but the nonce or encrypted keys were changed).
    pub fn import_backup(text: &str, passphrase: &str) -> Result<DeviceIdentity, IdentityError> {
        let blob = dearmor(text)?;
        if blob.len() < MAGIC.len() + 2 {
            return Err(IdentityError::TruncatedBackup);
        }
        if &blob[..4] != MAGIC {
            return Err(IdentityError::MalformedBackup {
                reason: "wrong magic bytes",
            });
        }
        if blob[4] != VERSION {
            return Err(IdentityError::UnsupportedBackupVersion { version: blob[4] });
        }
        if blob[5] != KDF_ARGON2ID {
            return Err(IdentityError::UnsupportedBackupKdf { kdf: blob[5] });
        }
        if blob.len() < BLOB_LEN {
            return Err(IdentityError::TruncatedBackup);
        }
        if blob.len() > BLOB_LEN {
            return Err(IdentityError::MalformedBackup {
                reason: "unexpected bytes after the encrypted keys",
            });
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([blob[i], blob[i + 1], blob[i + 2], blob[i + 3]]);
        let params = BackupKdfParams::new(u32_at(6), u32_at(10), u32_at(14))?;
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&blob[18..34]);
        let nonce = XNonce::from_slice(&blob[34..58]);
        let check = &blob[58..HEADER_LEN];
        let derived = params.derive(passphrase, &salt);
        if !bool::from(derived[32..32 + CHECK_LEN].ct_eq(check)) {
            return Err(IdentityError::WrongPassphrase);
        }
        let cipher = XChaCha20Poly1305::new(derived[..32].into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    nonce,
                    Payload {
                        msg: &blob[HEADER_LEN..],
                        aad: &blob[..HEADER_LEN],
                    },
                )
                .map_err(|_| IdentityError::BackupTampered)?,
        );
        if plain.len() != PLAINTEXT_LEN {
            return Err(IdentityError::BackupTampered);
        }
        let mut ed = Zeroizing::new([0u8; 32]);
        let mut x = Zeroizing::new([0u8; 32]);
        ed.copy_from_slice(&plain[..32]);
        x.copy_from_slice(&plain[32..]);
        Ok(DeviceIdentity::from_secret_bytes_inner(&mut ed, &mut x))
    }
}

/// BEGIN line, base64 in lines of 64 characters, END line, each ending with LF.
fn armor(blob: &[u8]) -> String {
    let b64 = STANDARD.encode(blob);
    let mut out = String::with_capacity(b64.len() + 100);
    out.push_str(BACKUP_BEGIN);
    out.push('\n');
    for chunk in b64.as_bytes().chunks(LINE_WIDTH) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(BACKUP_END);
    out.push('\n');
    out
}

fn dearmor(text: &str) -> Result<Vec<u8>, IdentityError> {
    if text.len() > MAX_ARMORED_LEN {
        return Err(IdentityError::MalformedBackup {
            reason: "the text is too long",
        });
    }
    let body =
        text.trim_start()
            .strip_prefix(BACKUP_BEGIN)
            .ok_or(IdentityError::MalformedBackup {
                reason: "no BEGIN line",
            })?;
    let Some((b64, after)) = body.split_once(BACKUP_END) else {
        return Err(IdentityError::TruncatedBackup);
    };
    if !after.trim().is_empty() {
        return Err(IdentityError::MalformedBackup {
            reason: "text after the END line",
        });
    }
    let compact: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|_| IdentityError::MalformedBackup {
            reason: "the body is not valid base64",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_constants() {
        assert_eq!(HEADER_LEN, 74);
        assert_eq!(BLOB_LEN, 154);
    }

    #[test]
    fn bounds() {
        assert!(BackupKdfParams::new(8 * 1024, 1, 1).is_ok());
        assert!(BackupKdfParams::new(256 * 1024, 16, 4).is_ok());
        for (m, t, p) in [
            (8191, 1, 1),
            (262_145, 1, 1),
            (8192, 0, 1),
            (8192, 17, 1),
            (8192, 1, 0),
            (8192, 1, 5),
        ] {
            assert!(matches!(
                BackupKdfParams::new(m, t, p),
                Err(IdentityError::KdfParamsOutOfBounds { .. })
            ));
        }
    }
}
