//! Key pairs, the public identity and its text encoding, fingerprints and safety numbers.
//! Sans-IO.

use std::fmt;
use std::hash::{Hash, Hasher};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use x25519_dalek::StaticSecret;

use super::error::IdentityError;
use crate::crypto::random_bytes;

/// The prefix of a public identity's text form (SPEC §16.2).
pub const PUBLIC_IDENTITY_PREFIX: &str = "ftpchat-id1:";
/// The length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of a public identity: the Ed25519 public key then the X25519 public key.
pub(crate) const PUBLIC_IDENTITY_LEN: usize = 64;
/// Domain separation for the fingerprint hash (SPEC §16.3), followed by one 0x00 byte.
const FINGERPRINT_DOMAIN: &[u8] = b"ftpchat-fingerprint-v1";
/// Groups of five digits in a fingerprint; a safety number has twice as many.
const FINGERPRINT_GROUPS: usize = 6;

/// A device's long-term secret keys: an Ed25519 signing key and an X25519 agreement key.
///
/// Made with [`DeviceIdentity::generate`], kept with [`DeviceIdentity::load_or_create`],
/// carried to another install with [`DeviceIdentity::export_backup`]. Both secrets are
/// zeroized when it is dropped; `Debug` shows only the public fingerprint.
pub struct DeviceIdentity {
    signing: SigningKey,
    agreement: StaticSecret,
    public: PublicIdentity,
}

impl DeviceIdentity {
    /// A new identity from the operating system's secure random generator.
    ///
    /// # Panics
    /// If the OS has no random source (see `crypto::random_bytes`).
    pub fn generate() -> Self {
        let mut ed = zeroize::Zeroizing::new(random_bytes::<32>());
        let mut x = zeroize::Zeroizing::new(random_bytes::<32>());
        Self::from_secret_bytes_inner(&mut ed, &mut x)
    }

    /// An identity from explicit secret keys: the 32-byte Ed25519 seed and the 32-byte
    /// X25519 secret (as stored in the identity file). For test vectors only.
    #[cfg(feature = "deterministic")]
    pub fn from_secret_bytes(signing_seed: [u8; 32], agreement_secret: [u8; 32]) -> Self {
        let mut ed = zeroize::Zeroizing::new(signing_seed);
        let mut x = zeroize::Zeroizing::new(agreement_secret);
        Self::from_secret_bytes_inner(&mut ed, &mut x)
    }

    /// Builds from secret bytes the caller zeroizes.
    pub(crate) fn from_secret_bytes_inner(ed: &mut [u8; 32], x: &mut [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(ed);
        let agreement = StaticSecret::from(*x);
        zeroize::Zeroize::zeroize(ed);
        zeroize::Zeroize::zeroize(x);
        let public = PublicIdentity {
            signing: signing.verifying_key(),
            agreement: x25519_dalek::PublicKey::from(&agreement),
        };
        Self {
            signing,
            agreement,
            public,
        }
    }

    /// The secret bytes (Ed25519 seed, X25519 secret) for the identity file and backup.
    pub(crate) fn secret_bytes(&self) -> zeroize::Zeroizing<[u8; 64]> {
        let mut out = zeroize::Zeroizing::new([0u8; 64]);
        out[..32].copy_from_slice(self.signing.as_bytes());
        let x = zeroize::Zeroizing::new(self.agreement.to_bytes());
        out[32..].copy_from_slice(x.as_ref());
        out
    }

    /// The public half: both public keys.
    pub fn public(&self) -> PublicIdentity {
        self.public.clone()
    }

    /// Signs `msg` with the Ed25519 key (RFC 8032, pure Ed25519). The bytes are signed as
    /// they are: protocols built on this MUST put their own context string in `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(msg).to_bytes()
    }

    /// X25519 agreement with another identity's agreement key (RFC 7748). The raw shared
    /// secret is meant as input to a KDF, never as a key by itself.
    ///
    /// # Errors
    /// [`IdentityError::NonContributoryAgreement`] if the result is all zero (the other
    /// key has low order).
    pub fn agree(&self, their: &PublicIdentity) -> Result<SharedSecret, IdentityError> {
        let shared = self.agreement.diffie_hellman(&their.agreement);
        if !shared.was_contributory() {
            return Err(IdentityError::NonContributoryAgreement);
        }
        Ok(SharedSecret(shared))
    }
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("fingerprint", &self.public.fingerprint())
            .field("secret_keys", &"<redacted>")
            .finish()
    }
}

/// The result of an X25519 agreement: 32 bytes, zeroized on drop, redacted in `Debug`.
pub struct SharedSecret(x25519_dalek::SharedSecret);

impl SharedSecret {
    /// The 32 shared bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// A device's public keys: what others store, verify signatures with, and agree keys with.
///
/// Text form: `ftpchat-id1:` followed by the unpadded base64url of the 32-byte Ed25519
/// public key and the 32-byte X25519 public key (SPEC §16.2); [`fmt::Display`] writes it,
/// [`str::parse`] reads it.
#[derive(Clone)]
pub struct PublicIdentity {
    signing: VerifyingKey,
    agreement: x25519_dalek::PublicKey,
}

impl PublicIdentity {
    /// The 64 bytes: Ed25519 public key then X25519 public key.
    pub fn to_bytes(&self) -> [u8; PUBLIC_IDENTITY_LEN] {
        let mut out = [0u8; PUBLIC_IDENTITY_LEN];
        out[..32].copy_from_slice(self.signing.as_bytes());
        out[32..].copy_from_slice(self.agreement.as_bytes());
        out
    }

    /// Reads the 64 bytes of [`PublicIdentity::to_bytes`].
    ///
    /// # Errors
    /// [`IdentityError::WrongLength`], or [`IdentityError::InvalidSigningKey`] for an
    /// Ed25519 key that is not a point or has small order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        let bytes: &[u8; PUBLIC_IDENTITY_LEN] =
            bytes.try_into().map_err(|_| IdentityError::WrongLength {
                what: "public identity",
                expected: PUBLIC_IDENTITY_LEN,
                found: bytes.len(),
            })?;
        let mut ed = [0u8; 32];
        ed.copy_from_slice(&bytes[..32]);
        let mut x = [0u8; 32];
        x.copy_from_slice(&bytes[32..]);
        let signing =
            VerifyingKey::from_bytes(&ed).map_err(|_| IdentityError::InvalidSigningKey)?;
        if signing.is_weak() {
            return Err(IdentityError::InvalidSigningKey);
        }
        Ok(Self {
            signing,
            agreement: x25519_dalek::PublicKey::from(x),
        })
    }

    /// The Ed25519 public key.
    pub fn signing_key_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The X25519 public key.
    pub fn agreement_key_bytes(&self) -> [u8; 32] {
        self.agreement.to_bytes()
    }

    /// Verifies an Ed25519 signature over `msg` strictly (`verify_strict`: no small-order
    /// components, canonical `S`).
    ///
    /// # Errors
    /// [`IdentityError::WrongLength`] if `signature` is not 64 bytes,
    /// [`IdentityError::BadSignature`] if it does not verify.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<(), IdentityError> {
        let sig: &[u8; SIGNATURE_LEN] =
            signature
                .try_into()
                .map_err(|_| IdentityError::WrongLength {
                    what: "signature",
                    expected: SIGNATURE_LEN,
                    found: signature.len(),
                })?;
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.signing
            .verify_strict(msg, &sig)
            .map_err(|_| IdentityError::BadSignature)
    }

    /// The fingerprint people compare: six groups of five decimal digits separated by
    /// single spaces (SPEC §16.3), from SHA-256 over a domain string and both public keys.
    pub fn fingerprint(&self) -> String {
        let digits = self.fingerprint_digits();
        group_digits(&digits)
    }

    /// The fingerprint's 30 digits without spaces.
    fn fingerprint_digits(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(FINGERPRINT_DOMAIN);
        hasher.update([0u8]);
        hasher.update(self.to_bytes());
        let hash = hasher.finalize();
        let mut out = String::with_capacity(FINGERPRINT_GROUPS * 5);
        for chunk in hash.chunks_exact(5).take(FINGERPRINT_GROUPS) {
            let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            out.push_str(&format!("{:05}", value % 100_000));
        }
        out
    }
}

/// The safety number of two identities: both fingerprints' digits, the smaller first
/// (compared as digit strings), in twelve groups of five digits (SPEC §16.3). Both people
/// compute the same number whichever way round they pass the identities.
pub fn safety_number(a: &PublicIdentity, b: &PublicIdentity) -> String {
    let (fa, fb) = (a.fingerprint_digits(), b.fingerprint_digits());
    let joined = if fa <= fb { fa + &fb } else { fb + &fa };
    group_digits(&joined)
}

/// Digits in groups of five separated by single spaces.
fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 5);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for PublicIdentity {}

impl Hash for PublicIdentity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.to_bytes().hash(state);
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicIdentity")
            .field(&self.to_string())
            .finish()
    }
}

impl fmt::Display for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PUBLIC_IDENTITY_PREFIX)?;
        f.write_str(&URL_SAFE_NO_PAD.encode(self.to_bytes()))
    }
}

impl std::str::FromStr for PublicIdentity {
    type Err = IdentityError;

    /// Parses the text form. Exact: no white space, no padding, canonical base64url.
    fn from_str(s: &str) -> Result<Self, IdentityError> {
        let rest = s
            .strip_prefix(PUBLIC_IDENTITY_PREFIX)
            .ok_or(IdentityError::MissingPrefix)?;
        // 64 bytes are 86 characters; refuse long inputs before decoding them.
        if rest.len() > 100 {
            return Err(IdentityError::WrongLength {
                what: "public identity",
                expected: PUBLIC_IDENTITY_LEN,
                found: rest.len() / 4 * 3,
            });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(rest)
            .map_err(|_| IdentityError::InvalidEncoding)?;
        Self::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_grouping() {
        let id = DeviceIdentity::generate();
        let p = id.public();
        let text = p.to_string();
        assert!(text.starts_with(PUBLIC_IDENTITY_PREFIX));
        assert_eq!(text.len(), PUBLIC_IDENTITY_PREFIX.len() + 86);
        assert_eq!(text.parse::<PublicIdentity>().unwrap(), p);
        let fp = p.fingerprint();
        assert_eq!(fp.len(), 35);
        assert!(fp
            .split(' ')
            .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())));
    }

    #[test]
    fn group_digits_spaces_every_five() {
        assert_eq!(group_digits("0123456789"), "01234 56789");
        assert_eq!(group_digits(""), "");
    }

    #[test]
    fn debug_of_a_shared_secret_is_redacted() {
        let (a, b) = (DeviceIdentity::generate(), DeviceIdentity::generate());
        let s = a.agree(&b.public()).unwrap();
        assert_eq!(format!("{s:?}"), "SharedSecret(<redacted>)");
    }
}
