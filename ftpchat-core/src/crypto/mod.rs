//! Cryptography: key derivation ([`kdf`]), Fernet tokens ([`fernet`]) and bounded zlib
//! ([`compress`]).
//!
//! Everything here is sans-IO: the caller passes the time and, for deterministic tests,
//! the IV. Keys zeroize on drop and never print in `Debug`.

pub(crate) mod blob;
pub(crate) mod compress;
pub(crate) mod fernet;
pub(crate) mod kdf;

pub use blob::{
    blob_chunks, blob_len, BlobError, BlobKey, BlobOpener, BlobSealer, PushError, BLOB_CHUNK_LEN,
    BLOB_SEALED_CHUNK_LEN, BLOB_TAG_LEN,
};
pub use compress::{CompressionError, Deflater, Inflater};
pub use fernet::{FernetError, FernetKey};
pub use kdf::{derive_key, KdfError, KdfParams};

/// Fills `buf` with bytes from the operating system's secure random generator.
///
/// # Panics
/// Panics if the OS has no random source, as every mainstream platform does; continuing
/// without randomness would reuse IVs and ids.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}
