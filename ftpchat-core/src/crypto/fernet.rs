//! Fernet tokens (the format of Python's `cryptography.fernet`), built on RustCrypto's
//! AES-128-CBC and HMAC-SHA256.
//!
//! Token: `0x80 || timestamp (u64 BE) || IV (16) || AES-128-CBC(PKCS#7) ciphertext ||
//! HMAC-SHA256(signing key, everything before)`, URL-safe base64 with padding.
//!
//! We build tokens here rather than through the `fernet` crate because we need things it
//! does not offer: typed errors (a wrong key must be told apart from a token that is not
//! base64), a caller-supplied IV and time for byte-exact vectors, a key that zeroizes on
//! drop, and a decrypt into a reused buffer. The tests cross-check against the `fernet`
//! crate and against Python's tokens.

use std::fmt;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 0x80;
const HEADER_LEN: usize = 1 + 8 + 16;
const MAC_LEN: usize = 32;
const BLOCK: usize = 16;

/// Emits padded URL-safe base64 (Python rejects unpadded tokens) and reads either.
const TOKEN_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FernetError {
    /// The token is not URL-safe base64.
    #[error("token is not valid URL-safe base64")]
    NotBase64,
    /// The token is shorter than a header, one block and a MAC, or its ciphertext is not
    /// a whole number of blocks.
    #[error("token is truncated or has a malformed length")]
    Truncated,
    /// The first byte is not 0x80.
    #[error("token has unsupported version byte 0x{0:02x}")]
    UnsupportedVersion(u8),
    /// The HMAC does not match: the key is wrong or the token was altered.
    #[error("token authentication failed (wrong key or tampered token)")]
    AuthenticationFailed,
    /// The MAC matched but the padding is invalid; only a broken encoder does this.
    #[error("token decrypted to invalid padding")]
    BadPadding,
    /// A key string is not 32 bytes of URL-safe base64.
    #[error("a Fernet key must be 32 bytes of URL-safe base64")]
    InvalidKey,
}

/// A Fernet key: 16 bytes for HMAC-SHA256, 16 for AES-128. Zeroized on drop; `Debug`
/// shows nothing of it.
#[derive(Clone)]
pub struct FernetKey {
    bytes: Zeroizing<[u8; 32]>,
    // The AES key schedule, expanded once; `aes` zeroizes it on drop.
    cipher: aes::Aes128,
    // HMAC-SHA256 keyed once (the inner and outer pads already hashed); each token clones
    // it instead of keying again. Like the per-call MAC it replaces, this state is not
    // zeroized on drop (`hmac` 0.12 does not offer it); it is not the key, though it
    // would let one compute MACs under it.
    mac: HmacSha256,
}

/// A decrypted token: its timestamp (seconds since the Unix epoch, as the writer chose)
/// and plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct FernetToken {
    /// The timestamp inside the token. Fernet does not authenticate it as a clock; it is
    /// whatever the writer put there.
    pub timestamp: u64,
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

impl fmt::Debug for FernetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FernetToken")
            .field("timestamp", &self.timestamp)
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}

impl FernetKey {
    /// A key from 32 raw bytes (signing key first, as Fernet specifies).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let bytes = Zeroizing::new(*bytes);
        let cipher = aes::Aes128::new(bytes[16..].into());
        // HMAC accepts any key length, so this cannot fail.
        let mac = <HmacSha256 as Mac>::new_from_slice(&bytes[..16])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        FernetKey { bytes, cipher, mac }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let raw = Zeroizing::new(super::random_bytes::<32>());
        Self::from_bytes(&raw)
    }

    /// Parses the URL-safe base64 form that `Fernet.generate_key()` prints.
    pub fn from_base64(key: &str) -> Result<Self, FernetError> {
        let decoded = Zeroizing::new(
            TOKEN_BASE64
                .decode(key.trim())
                .map_err(|_| FernetError::InvalidKey)?,
        );
        let raw: &[u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| FernetError::InvalidKey)?;
        Ok(Self::from_bytes(raw))
    }

    /// The URL-safe base64 form, as Python's `Fernet` takes it.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(TOKEN_BASE64.encode(self.bytes.as_ref()))
    }

    fn signing_mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// Encrypts `plaintext` with a fresh random IV and the given time (seconds since the
    /// Unix epoch; the caller owns the clock).
    pub fn encrypt(&self, plaintext: &[u8], timestamp: u64) -> String {
        self.encrypt_with_iv_inner(plaintext, timestamp, super::random_bytes::<16>())
    }

    /// Encrypts with a caller-chosen IV: reproduces Python's tokens byte for byte. Reusing
    /// an IV under one key leaks plaintext equality, so this exists for test vectors only.
    #[cfg(feature = "deterministic")]
    pub fn encrypt_with_iv(&self, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> String {
        self.encrypt_with_iv_inner(plaintext, timestamp, iv)
    }

    fn encrypt_with_iv_inner(&self, plaintext: &[u8], timestamp: u64, iv: [u8; 16]) -> String {
        let padded_len = (plaintext.len() / BLOCK + 1) * BLOCK;
        let mut raw = Vec::with_capacity(HEADER_LEN + padded_len + MAC_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&iv);
        raw.extend_from_slice(plaintext);
        raw.resize(HEADER_LEN + padded_len, 0);
        let encryptor =
            cbc::Encryptor::<aes::Aes128>::inner_iv_init(self.cipher.clone(), &iv.into());
        encryptor
            .encrypt_padded_mut::<Pkcs7>(&mut raw[HEADER_LEN..], plaintext.len())
            .unwrap_or_else(|_| unreachable!("buffer is sized for PKCS#7 padding"));
        let mut mac = self.signing_mac();
        mac.update(&raw);
        raw.extend_from_slice(&mac.finalize().into_bytes());
        TOKEN_BASE64.encode(&raw)
    }

    /// Verifies and decrypts a token.
    pub fn decrypt(&self, token: &[u8]) -> Result<FernetToken, FernetError> {
        let mut plaintext = Vec::new();
        let timestamp = self.decrypt_into(token, &mut plaintext, &mut Vec::new())?;
        Ok(FernetToken {
            timestamp,
            plaintext,
        })
    }

    /// Verifies and decrypts a token into `out` (cleared first), using `scratch` for the
    /// decoded bytes; both buffers are reused across calls to avoid allocation. Returns the
    /// token's timestamp.
    pub fn decrypt_into(
        &self,
        token: &[u8],
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<u64, FernetError> {
        out.clear();
        let (timestamp, plaintext) = self.decrypt_in_place(token, scratch)?;
        out.extend_from_slice(plaintext);
        Ok(timestamp)
    }

    /// Verifies and decrypts a token without copying: the token is decoded into `scratch`
    /// (cleared first, reused across calls), its ciphertext decrypted where it lies, and
    /// the plaintext returned as a slice of `scratch` with the token's timestamp.
    pub fn decrypt_in_place<'a>(
        &self,
        token: &[u8],
        scratch: &'a mut Vec<u8>,
    ) -> Result<(u64, &'a [u8]), FernetError> {
        decode_token(token, scratch)?;
        let signed_len = scratch.len() - MAC_LEN;
        let (signed, tag) = scratch.split_at_mut(signed_len);
        let mut mac = self.signing_mac();
        mac.update(signed);
        mac.verify_slice(tag)
            .map_err(|_| FernetError::AuthenticationFailed)?;
        let (header, ciphertext) = signed.split_at_mut(HEADER_LEN);
        let mut timestamp = [0u8; 8];
        timestamp.copy_from_slice(&header[1..9]);
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&header[9..HEADER_LEN]);
        let decryptor =
            cbc::Decryptor::<aes::Aes128>::inner_iv_init(self.cipher.clone(), &iv.into());
        let plaintext = decryptor
            .decrypt_padded_mut::<Pkcs7>(ciphertext)
            .map_err(|_| FernetError::BadPadding)?;
        Ok((u64::from_be_bytes(timestamp), plaintext))
    }
}

/// Decodes base64 and checks version and length, without a key.
fn decode_token<'a>(token: &[u8], scratch: &'a mut Vec<u8>) -> Result<&'a [u8], FernetError> {
    scratch.clear();
    TOKEN_BASE64
        .decode_vec(token, scratch)
        .map_err(|_| FernetError::NotBase64)?;
    let raw = scratch.as_slice();
    if raw.len() < HEADER_LEN + BLOCK + MAC_LEN
        || !(raw.len() - HEADER_LEN - MAC_LEN).is_multiple_of(BLOCK)
    {
        // Report a wrong version before a bad length when the first byte says so.
        if let Some(&v) = raw.first() {
            if v != VERSION {
                return Err(FernetError::UnsupportedVersion(v));
            }
        }
        return Err(FernetError::Truncated);
    }
    if raw[0] != VERSION {
        return Err(FernetError::UnsupportedVersion(raw[0]));
    }
    Ok(raw)
}

/// The raw bytes of a token, however its base64 is padded: the same token written with
/// or without `=` padding gives the same bytes.
pub(crate) fn token_bytes(token: &[u8]) -> Option<Vec<u8>> {
    TOKEN_BASE64.decode(token).ok()
}

impl fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FernetKey(<redacted>)")
    }
}

impl PartialEq for FernetKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.bytes.ct_eq(other.bytes.as_ref()).into()
    }
}

impl Eq for FernetKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_typed_errors() {
        let key = FernetKey::generate();
        let token = key.encrypt(b"hello", 1_700_000_000);
        let plain = key.decrypt(token.as_bytes()).unwrap();
        assert_eq!(plain.plaintext, b"hello");
        assert_eq!(plain.timestamp, 1_700_000_000);

        let other = FernetKey::generate();
        assert_eq!(
            other.decrypt(token.as_bytes()),
            Err(FernetError::AuthenticationFailed)
        );
        assert_eq!(key.decrypt(b"gAAAA!!"), Err(FernetError::NotBase64));
        assert_eq!(
            key.decrypt(&token.as_bytes()[..40]),
            Err(FernetError::Truncated)
        );
        assert_eq!(key.decrypt(b""), Err(FernetError::Truncated));
    }

    #[test]
    fn debug_hides_key() {
        let key = FernetKey::generate();
        let shown = format!("{key:?}");
        assert!(!shown.contains(key.to_base64().as_str()));
        assert_eq!(shown, "FernetKey(<redacted>)");
    }

    #[test]
    fn empty_plaintext_is_one_block() {
        let key = FernetKey::generate();
        let token = key.encrypt(b"", 0);
        assert_eq!(key.decrypt(token.as_bytes()).unwrap().plaintext, b"");
    }
}
