//! Private records (SPEC §8.4.2): an inner body sealed with a one-time key, the key
//! wrapped with HPKE to each active device of the recipient member and of the sender's
//! member. Other members see that a private record went from the sender to the recipient,
//! and its size; the server sees a record like any other.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::Zeroizing;

use super::commit::MemberId;
use super::error::GroupError;
use super::wrap::{open, seal, Wrapped, ENC_LEN, WRAPPED_LEN};
use crate::crypto::random_bytes;
use crate::format::native::{fields, get_varint, put_field, put_varint_field};
use crate::format::native::{MAX_PRIVATE_WRAPS, PRIVATE_WRAP_LEN};
use crate::format::{RecordBody, RecordId, RoomId};
use crate::identity::{DeviceIdentity, PublicIdentity};

/// HPKE `info` prefix of a private record's wrapped key (SPEC §8.4.2).
pub(crate) const PRIVATE_WRAP_INFO: &[u8] = b"ftpchat-private-wrap-v1";
/// Associated-data prefix of a private record's sealed body (SPEC §8.4.2).
pub(crate) const PRIVATE_SEAL_CONTEXT: &[u8] = b"ftpchat-private-v1";

/// Seals `inner` for the devices `to` (the recipient member's and the sender member's
/// active devices): the body of private record `record` of room `room`.
pub(crate) fn seal_private(
    room: RoomId,
    record: RecordId,
    recipient: MemberId,
    to: &[PublicIdentity],
    inner: &RecordBody,
) -> Result<RecordBody, GroupError> {
    if to.is_empty() || to.len() > MAX_PRIVATE_WRAPS {
        return Err(GroupError::LimitExceeded {
            what: "devices of a private message",
            max: MAX_PRIVATE_WRAPS,
        });
    }
    let key = Zeroizing::new(random_bytes::<32>());
    let mut wraps = Vec::with_capacity(to.len());
    for device in to {
        let w = seal(device, PRIVATE_WRAP_INFO, room, 0, &record.0, &key)?;
        let mut bytes = [0u8; PRIVATE_WRAP_LEN];
        bytes[..32].copy_from_slice(&w.recipient);
        bytes[32..32 + ENC_LEN].copy_from_slice(&w.enc);
        bytes[32 + ENC_LEN..].copy_from_slice(&w.ciphertext);
        wraps.push(bytes);
    }
    let mut plain = Zeroizing::new(Vec::new());
    put_varint_field(&mut plain, 1, inner.kind_code());
    put_field(&mut plain, 2, &inner.encode());
    let sealed = cipher(&key)
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: &plain,
                aad: &aad(room, record, recipient),
            },
        )
        .map_err(|_| GroupError::Malformed {
            reason: "a private body could not be sealed",
        })?;
    Ok(RecordBody::Private {
        recipient: recipient.0,
        wraps,
        sealed,
    })
}

/// Opens a private record's body with this device's key: `Ok(None)` when it holds no wrap
/// for this device (it is not for this device), the inner body otherwise. An inner body
/// that is itself private is refused.
pub(crate) fn open_private(
    me: &DeviceIdentity,
    room: RoomId,
    record: RecordId,
    body: &RecordBody,
) -> Result<Option<RecordBody>, GroupError> {
    let RecordBody::Private {
        recipient,
        wraps,
        sealed,
    } = body
    else {
        return Ok(None);
    };
    let mine = me.public().signing_key_bytes();
    let Some(wrap) = wraps.iter().find(|w| w[..32] == mine) else {
        return Ok(None);
    };
    let mut enc = [0u8; ENC_LEN];
    enc.copy_from_slice(&wrap[32..32 + ENC_LEN]);
    let mut ciphertext = [0u8; WRAPPED_LEN];
    ciphertext.copy_from_slice(&wrap[32 + ENC_LEN..]);
    let w = Wrapped {
        recipient: mine,
        enc,
        ciphertext,
    };
    let key = open(me, &w, PRIVATE_WRAP_INFO, room, 0, &record.0)?;
    let plain = Zeroizing::new(
        cipher(&key)
            .decrypt(
                &Nonce::default(),
                Payload {
                    msg: sealed,
                    aad: &aad(room, record, MemberId(*recipient)),
                },
            )
            .map_err(|_| GroupError::UnwrapFailed)?,
    );
    let (mut kind, mut inner) = (None, None);
    let malformed = GroupError::Malformed {
        reason: "a private record's inner body is malformed",
    };
    for field in fields(&plain) {
        let (tag, value) = field.map_err(|_| malformed.clone())?;
        let fresh = match tag {
            1 => match get_varint(value) {
                Ok((k, [])) => kind.replace(k).is_none(),
                _ => return Err(malformed),
            },
            2 => inner.replace(value).is_none(),
            _ => true,
        };
        if !fresh {
            return Err(malformed);
        }
    }
    let (Some(kind), Some(inner)) = (kind, inner) else {
        return Err(malformed);
    };
    match RecordBody::decode(kind, inner) {
        Ok(RecordBody::Private { .. }) | Err(_) => Err(malformed),
        Ok(body) => Ok(Some(body)),
    }
}

fn cipher(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(Key::from_slice(key))
}

/// `"ftpchat-private-v1" || 0x00 || room id || record id || recipient member id`: a
/// sealed body opens only in its own record. (The key is used once, so the nonce is 0.)
fn aad(room: RoomId, record: RecordId, recipient: MemberId) -> Vec<u8> {
    let mut a = Vec::with_capacity(PRIVATE_SEAL_CONTEXT.len() + 1 + 48);
    a.extend_from_slice(PRIVATE_SEAL_CONTEXT);
    a.push(0);
    a.extend_from_slice(&room.0);
    a.extend_from_slice(&record.0);
    a.extend_from_slice(&recipient.0);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_wrapped_devices_open_it_and_only_in_its_record() {
        let (alice, bob, eve) = (
            DeviceIdentity::generate(),
            DeviceIdentity::generate(),
            DeviceIdentity::generate(),
        );
        let room = RoomId([1; 16]);
        let id = RecordId([2; 16]);
        let to = MemberId([3; 16]);
        let inner = RecordBody::Text("psst".into());
        let body = seal_private(room, id, to, &[bob.public(), alice.public()], &inner).unwrap();
        for me in [&alice, &bob] {
            assert_eq!(
                open_private(me, room, id, &body).unwrap(),
                Some(inner.clone())
            );
        }
        assert_eq!(open_private(&eve, room, id, &body).unwrap(), None);
        // Moved to another record or room, or retargeted: it no longer opens.
        assert!(open_private(&bob, room, RecordId([9; 16]), &body).is_err());
        assert!(open_private(&bob, RoomId([9; 16]), id, &body).is_err());
        let RecordBody::Private {
            wraps, mut sealed, ..
        } = body.clone()
        else {
            unreachable!()
        };
        let retargeted = RecordBody::Private {
            recipient: [7; 16],
            wraps: wraps.clone(),
            sealed: sealed.clone(),
        };
        assert!(open_private(&bob, room, id, &retargeted).is_err());
        sealed[0] ^= 1;
        let tampered = RecordBody::Private {
            recipient: to.0,
            wraps,
            sealed,
        };
        assert!(open_private(&bob, room, id, &tampered).is_err());
        // It round-trips through the record body encoding.
        assert_eq!(
            RecordBody::decode(body.kind_code(), &body.encode()).unwrap(),
            body
        );
    }
}
