//! PBKDF2-HMAC-SHA256 key derivation, bounded so a hostile header cannot demand
//! unbounded work.

use std::fmt;

use zeroize::Zeroizing;

use super::fernet::FernetKey;

/// The fewest iterations accepted. FTPChat 1.6 files may use any value their client
/// chose, so this is low; new native rooms use [`KdfParams::DEFAULT_ITERATIONS`].
pub const MIN_ITERATIONS: u32 = 1;
/// The most iterations accepted (about 15 s on a phone); more is refused as hostile.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// The longest salt accepted, in bytes.
pub const MAX_SALT_LEN: usize = 1024;

/// Why key derivation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KdfError {
    /// The iteration count is outside [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`].
    #[error("PBKDF2 iteration count {iterations} is outside the accepted range {MIN_ITERATIONS}..={MAX_ITERATIONS}")]
    IterationsOutOfRange {
        /// The refused count.
        iterations: u64,
    },
    /// The salt is longer than [`MAX_SALT_LEN`].
    #[error("salt is longer than {MAX_SALT_LEN} bytes")]
    SaltTooLong,
}

/// Salt and iteration count for PBKDF2-HMAC-SHA256.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KdfParams {
    salt: Vec<u8>,
    iterations: u32,
}

impl KdfParams {
    /// Iterations for new native rooms (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
    pub const DEFAULT_ITERATIONS: u32 = 600_000;
    /// Length of the random salt of a new native room.
    pub const DEFAULT_SALT_LEN: usize = 16;

    /// Validates the parameters.
    pub fn new(salt: impl Into<Vec<u8>>, iterations: u64) -> Result<Self, KdfError> {
        let salt = salt.into();
        if salt.len() > MAX_SALT_LEN {
            return Err(KdfError::SaltTooLong);
        }
        let iterations = u32::try_from(iterations)
            .ok()
            .filter(|i| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(i))
            .ok_or(KdfError::IterationsOutOfRange { iterations })?;
        Ok(KdfParams { salt, iterations })
    }

    /// A fresh random salt with the default iteration count.
    pub fn generate() -> Self {
        KdfParams {
            salt: super::random_bytes::<{ Self::DEFAULT_SALT_LEN }>().to_vec(),
            iterations: Self::DEFAULT_ITERATIONS,
        }
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl fmt::Debug for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The salt is public (it sits in the room header); showing its length is enough.
        f.debug_struct("KdfParams")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish()
    }
}

/// Derives the 32-byte Fernet key: PBKDF2-HMAC-SHA256(password as UTF-8, salt,
/// iterations). This is slow on purpose; derive once per room and keep the key.
pub fn derive_key(password: &str, params: &KdfParams) -> FernetKey {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        password.as_bytes(),
        &params.salt,
        params.iterations,
        out.as_mut(),
    );
    FernetKey::from_bytes(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        assert!(matches!(
            KdfParams::new(b"s".to_vec(), 0),
            Err(KdfError::IterationsOutOfRange { iterations: 0 })
        ));
        assert!(matches!(
            KdfParams::new(b"s".to_vec(), u64::from(MAX_ITERATIONS) + 1),
            Err(KdfError::IterationsOutOfRange { .. })
        ));
        assert!(matches!(
            KdfParams::new(b"s".to_vec(), u64::MAX),
            Err(KdfError::IterationsOutOfRange { .. })
        ));
        assert_eq!(
            KdfParams::new(vec![0; MAX_SALT_LEN + 1], 1),
            Err(KdfError::SaltTooLong)
        );
        assert!(KdfParams::new(vec![0; MAX_SALT_LEN], u64::from(MAX_ITERATIONS)).is_ok());
    }

    #[test]
    fn generated_salts_differ() {
        let a = KdfParams::generate();
        let b = KdfParams::generate();
        assert_ne!(a.salt(), b.salt());
        assert_eq!(a.iterations(), KdfParams::DEFAULT_ITERATIONS);
    }
}
