//! Epoch secrets, their message keys, and wrapping a secret to a device's X25519 key with
//! HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305).

use std::fmt;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use super::error::GroupError;
use crate::crypto::{random_bytes, FernetKey};
use crate::format::RoomId;
use crate::identity::{DeviceIdentity, PublicIdentity};

type Kem = X25519HkdfSha256;

/// Bytes of an HPKE encapsulated key (an X25519 public key).
pub(crate) const ENC_LEN: usize = 32;
/// Bytes of a wrapped 32-byte secret: ciphertext and 16-byte tag.
pub(crate) const WRAPPED_LEN: usize = 32 + 16;

/// HKDF `info` prefix of epoch message keys (SPEC §17.3).
const MESSAGE_KEY_INFO: &[u8] = b"ftpchat-epoch-key-v1";
/// HPKE `info` prefix of a wrapped epoch secret (SPEC §17.3).
pub(crate) const EPOCH_WRAP_INFO: &[u8] = b"ftpchat-epoch-wrap-v1";
/// HPKE `info` prefix of a wrapped history bundle key (SPEC §17.3).
pub(crate) const HISTORY_WRAP_INFO: &[u8] = b"ftpchat-history-wrap-v1";

/// The secret of one epoch: 32 random bytes from which the epoch's message key is
/// derived. Zeroized on drop; `Debug` prints `EpochSecret(..)`.
#[derive(Clone)]
pub struct EpochSecret(Zeroizing<[u8; 32]>);

impl EpochSecret {
    /// A fresh secret from the operating system's random generator.
    ///
    /// # Panics
    /// If the OS has no random source.
    pub fn generate() -> Self {
        EpochSecret(Zeroizing::new(random_bytes::<32>()))
    }

    /// A secret from given bytes. For test vectors only.
    #[cfg(feature = "deterministic")]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EpochSecret(Zeroizing::new(bytes))
    }

    pub(crate) fn from_array(bytes: [u8; 32]) -> Self {
        EpochSecret(Zeroizing::new(bytes))
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The Fernet key of messages in `epoch`: HKDF-SHA256 (RFC 5869) with
    /// `ikm` = the secret, `salt` = the room id, `info` = `"ftpchat-epoch-key-v1" || 0x00 ||
    /// epoch as u64 big-endian`, 32 bytes of output (signing key then encryption key, as
    /// Fernet orders them).
    pub fn message_key(&self, room: RoomId, epoch: u64) -> FernetKey {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&room.0), self.0.as_ref());
        let mut info = Vec::with_capacity(MESSAGE_KEY_INFO.len() + 9);
        info.extend_from_slice(MESSAGE_KEY_INFO);
        info.push(0);
        info.extend_from_slice(&epoch.to_be_bytes());
        let mut okm = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
        if hk.expand(&info, okm.as_mut()).is_err() {
            unreachable!("HKDF-SHA256 can always expand 32 bytes");
        }
        FernetKey::from_bytes(&okm)
    }
}

impl fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochSecret(..)")
    }
}

/// A 32-byte secret sealed to one device: its Ed25519 key names the recipient.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Wrapped {
    pub(crate) recipient: [u8; 32],
    pub(crate) enc: [u8; ENC_LEN],
    pub(crate) ciphertext: [u8; WRAPPED_LEN],
}

/// HPKE `info`: `prefix || 0x00 || room id || epoch u64 BE || recipient Ed25519 key`.
pub(crate) fn wrap_info(prefix: &[u8], room: RoomId, epoch: u64, recipient: &[u8; 32]) -> Vec<u8> {
    let mut info = Vec::with_capacity(prefix.len() + 1 + 16 + 8 + 32);
    info.extend_from_slice(prefix);
    info.push(0);
    info.extend_from_slice(&room.0);
    info.extend_from_slice(&epoch.to_be_bytes());
    info.extend_from_slice(recipient);
    info
}

/// Seals `secret` to `to`'s X25519 key.
pub(crate) fn seal(
    to: &PublicIdentity,
    info_prefix: &[u8],
    room: RoomId,
    epoch: u64,
    aad: &[u8],
    secret: &[u8; 32],
) -> Result<Wrapped, GroupError> {
    let recipient = to.signing_key_bytes();
    let pk =
        <Kem as hpke::Kem>::PublicKey::from_bytes(&to.agreement_key_bytes()).map_err(|_| {
            GroupError::Malformed {
                reason: "bad X25519 key",
            }
        })?;
    let info = wrap_info(info_prefix, room, epoch, &recipient);
    // rand_core 0.9's OsRng is getrandom 0.3; `UnwrapErr` panics if the OS has no random
    // source, as `crypto::random_bytes` does.
    let mut rng = rand_core::UnwrapErr(rand_core::OsRng);
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk,
        &info,
        secret,
        aad,
        &mut rng,
    )
    // Sealing fails only on a low-order recipient key (a zero shared secret).
    .map_err(|_| GroupError::Malformed {
        reason: "a recipient's X25519 key has low order",
    })?;
    let ciphertext: [u8; WRAPPED_LEN] =
        ct.as_slice()
            .try_into()
            .map_err(|_| GroupError::Malformed {
                reason: "unexpected HPKE ciphertext length",
            })?;
    let mut enc_bytes = [0u8; ENC_LEN];
    enc_bytes.copy_from_slice(&enc.to_bytes());
    Ok(Wrapped {
        recipient,
        enc: enc_bytes,
        ciphertext,
    })
}

/// Opens a secret sealed to `me`.
pub(crate) fn open(
    me: &DeviceIdentity,
    w: &Wrapped,
    info_prefix: &[u8],
    room: RoomId,
    epoch: u64,
    aad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, GroupError> {
    let secrets = me.secret_bytes();
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&secrets[32..])
        .map_err(|_| GroupError::UnwrapFailed)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&w.enc)
        .map_err(|_| GroupError::UnwrapFailed)?;
    let info = wrap_info(info_prefix, room, epoch, &w.recipient);
    let pt = Zeroizing::new(
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            &info,
            &w.ciphertext,
            aad,
        )
        .map_err(|_| GroupError::UnwrapFailed)?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if pt.len() != 32 {
        return Err(GroupError::UnwrapFailed);
    }
    out.copy_from_slice(&pt);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};

    use super::*;

    type HmacSha256 = Hmac<sha2::Sha256>;

    fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    #[test]
    fn message_key_is_rfc5869_hkdf_written_out() {
        let room = RoomId([9; 16]);
        let s = EpochSecret::from_array([3; 32]);
        // Extract then one block of expand (L = 32 = HashLen).
        let prk = hmac(&room.0, &[&[3u8; 32]]);
        let mut info = b"ftpchat-epoch-key-v1\0".to_vec();
        info.extend_from_slice(&7u64.to_be_bytes());
        let okm = hmac(&prk, &[&info, &[1u8]]);
        assert_eq!(s.message_key(room, 7), FernetKey::from_bytes(&okm));
        assert_ne!(s.message_key(room, 8), FernetKey::from_bytes(&okm));
    }

    #[test]
    fn wraps_open_only_with_the_same_binding() {
        let room = RoomId([1; 16]);
        let me = DeviceIdentity::generate();
        let other = DeviceIdentity::generate();
        let w = seal(&me.public(), EPOCH_WRAP_INFO, room, 4, b"hdr", &[5; 32]).unwrap();
        assert_eq!(
            *open(&me, &w, EPOCH_WRAP_INFO, room, 4, b"hdr").unwrap(),
            [5; 32]
        );
        for (prefix, r, e, aad) in [
            (HISTORY_WRAP_INFO, room, 4, &b"hdr"[..]),
            (EPOCH_WRAP_INFO, RoomId([2; 16]), 4, b"hdr"),
            (EPOCH_WRAP_INFO, room, 5, b"hdr"),
            (EPOCH_WRAP_INFO, room, 4, b"hdx"),
        ] {
            assert_eq!(
                open(&me, &w, prefix, r, e, aad).unwrap_err(),
                GroupError::UnwrapFailed
            );
        }
        assert_eq!(
            open(&other, &w, EPOCH_WRAP_INFO, room, 4, b"hdr").unwrap_err(),
            GroupError::UnwrapFailed
        );
        assert_eq!(
            format!("{:?}", EpochSecret::from_array([5; 32])),
            "EpochSecret(..)"
        );
    }
}
