//! Signed, chained native records (payload version 2, member rooms; SPEC §8.6).
//!
//! Line: `ftc3:<epoch>:` + Fernet token under the epoch's message key. The epoch is in the
//! clear so a reader picks the key without trying every epoch.
//! Payload: `0x02 || flags || body`, flags as in payload version 1. Body: the fields of a
//! version 1 record (tags 1–8) and
//!
//! | tag | field |
//! |---|---|
//! | 9 | epoch (varint; MUST equal the line's) |
//! | 10 | previous record hash (32 bytes; zeros for `seq` 1) |
//! | 11 | the writing device's Ed25519 public key (32 bytes) |
//! | 12 | writer generation (varint) |
//! | 15 | Ed25519 signature (64 bytes), the last field |
//!
//! The signature covers `"ftpchat-record-v2" || 0x00 || every field byte before it`, so it
//! covers the previous record's hash (the hash of its line, ciphertext included): a valid
//! signature on a record authenticates the whole chain before it (SPEC §9.4 verifies one
//! signature per read run), and a reader that cannot decrypt earlier records (it joined
//! later) still follows the chain.

use sha2::{Digest, Sha256};

use super::native::{
    fields, get_varint, put_field, put_varint_field, tag, MalformedRecord, NativeRecord,
};
use super::{DecodeError, RoomId, WriterId};
use crate::crypto::{Deflater, FernetKey, Inflater};
use crate::identity::{DeviceIdentity, SIGNATURE_LEN};

/// The prefix that marks a signed native line.
pub const SIGNED_PREFIX: &[u8] = b"ftc3:";
/// The payload version of signed records.
pub const SIGNED_PAYLOAD_VERSION: u8 = 2;
/// Domain string of record signatures (followed by one 0x00 byte).
pub const RECORD_SIGNATURE_CONTEXT: &[u8] = b"ftpchat-record-v2";
/// Domain string of record hashes (followed by one 0x00 byte).
pub const RECORD_HASH_CONTEXT: &[u8] = b"ftpchat-record-hash-v2";
/// Domain string of writer ids derived from keys (followed by one 0x00 byte).
pub const WRITER_ID_CONTEXT: &[u8] = b"ftpchat-writer-id-v2";
/// The longest epoch number in a line, in decimal digits (`u64::MAX` has 20).
const MAX_EPOCH_DIGITS: usize = 20;

const FLAG_COMPRESSED: u8 = 0x01;

/// Tags of the fields only signed records carry.
mod signed_tag {
    pub(crate) const EPOCH: u64 = 9;
    pub(crate) const PREV: u64 = 10;
    pub(crate) const DEVICE: u64 = 11;
    pub(crate) const GENERATION: u64 = 12;
    pub(crate) const SIGNATURE: u64 = 15;
}

/// A record's hash: what the next record of its log names as `prev`.
pub type RecordHash = [u8; 32];

/// The writer id of `device` (its Ed25519 public key) in `room`, for a writer
/// `generation` (0 first; a device that finds another copy of itself writing under its
/// id moves to the next): the first 16 bytes of
/// `SHA-256("ftpchat-writer-id-v2" || 0x00 || room id || device || generation as u64 BE)`.
pub fn derive_writer_id(room: RoomId, device: &[u8; 32], generation: u64) -> WriterId {
    let mut h = Sha256::new();
    h.update(WRITER_ID_CONTEXT);
    h.update([0u8]);
    h.update(room.0);
    h.update(device);
    h.update(generation.to_be_bytes());
    let digest = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    WriterId(id)
}

/// A signed native record: a version 1 record plus its epoch, chain link, signer and
/// signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SignedRecord {
    /// The record (its writer id is derived from `device` and `generation`).
    pub record: NativeRecord,
    /// The epoch whose key encrypted it.
    pub epoch: u64,
    /// The hash of the previous record's line in its log (zeros for `seq` 1).
    pub prev: RecordHash,
    /// The writing device's Ed25519 public key.
    pub device: [u8; 32],
    /// The writer generation of `device` in this room.
    pub generation: u64,
    /// Every field byte, signature included: what the hash covers.
    fields: Vec<u8>,
    /// Where the signature field starts in `fields`: the signed part ends there.
    signed_len: usize,
    signature: [u8; SIGNATURE_LEN],
    /// The hash of the line it was decoded from or last encoded to (zeros before).
    hash: RecordHash,
}

/// What a writer fixes for its next signed record, besides the record itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainLink {
    /// The epoch whose key encrypts it.
    pub epoch: u64,
    /// The hash of the writer's previous record (zeros before the first).
    pub prev: RecordHash,
    /// The writer generation.
    pub generation: u64,
}

/// Why a signed record is not what its signer signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The device key is not a valid Ed25519 key (or has small order).
    #[error("the signer's key is not a valid Ed25519 key")]
    BadKey,
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
}

impl SignedRecord {
    /// Signs `record` as `identity` with `link`, returning the signed record. The record's
    /// writer id MUST be [`derive_writer_id`] of the identity, room and generation; it is
    /// set here so it cannot disagree.
    pub fn sign(record: NativeRecord, link: ChainLink, identity: &DeviceIdentity) -> Self {
        let device = identity.public().signing_key_bytes();
        Self::build(record, link, device, identity)
    }

    /// A record that names `device` as its signer but is signed by `signer`: what a
    /// member can write without the named device's secret key. For attack tests only.
    #[cfg(feature = "testing")]
    pub fn forge(
        record: NativeRecord,
        link: ChainLink,
        device: [u8; 32],
        signer: &DeviceIdentity,
    ) -> Self {
        Self::build(record, link, device, signer)
    }

    /// The fields of `record` naming `device`, signed by `signer` (the same device for
    /// [`sign`](Self::sign)).
    fn build(
        mut record: NativeRecord,
        link: ChainLink,
        device: [u8; 32],
        signer: &DeviceIdentity,
    ) -> Self {
        record.writer = derive_writer_id(record.room, &device, link.generation);
        let mut fields = record.encode_fields();
        put_varint_field(&mut fields, signed_tag::EPOCH, link.epoch);
        put_field(&mut fields, signed_tag::PREV, &link.prev);
        put_field(&mut fields, signed_tag::DEVICE, &device);
        put_varint_field(&mut fields, signed_tag::GENERATION, link.generation);
        let signed_len = fields.len();
        let signature = signer.sign(&signed_message(&fields));
        put_field(&mut fields, signed_tag::SIGNATURE, &signature);
        SignedRecord {
            record,
            epoch: link.epoch,
            prev: link.prev,
            device,
            generation: link.generation,
            fields,
            signed_len,
            signature,
            hash: [0; 32],
        }
    }

    /// This record's hash: [`line_hash`] of the line it was decoded from, or last encoded
    /// to by [`encode_line`](Self::encode_line); zeros before either.
    pub fn hash(&self) -> RecordHash {
        self.hash
    }

    /// Sets the hash of the line this record was read from.
    pub(crate) fn set_line(&mut self, line: &[u8]) {
        self.hash = line_hash(line);
    }

    /// Checks the signature against the record's own device key (strict Ed25519).
    pub fn verify_signature(&self) -> Result<(), SignatureError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.device)
            .map_err(|_| SignatureError::BadKey)?;
        if key.is_weak() {
            return Err(SignatureError::BadKey);
        }
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify_strict(&signed_message(&self.fields[..self.signed_len]), &sig)
            .map_err(|_| SignatureError::BadSignature)
    }

    /// The payload (version 2, flags, body), compressed only where that is shorter.
    pub fn encode_payload(&self, deflater: &mut Deflater) -> Vec<u8> {
        let mut compressed = Vec::with_capacity(self.fields.len() + 2);
        compressed.extend_from_slice(&[SIGNED_PAYLOAD_VERSION, FLAG_COMPRESSED]);
        deflater.compress_into(&self.fields, &mut compressed);
        if compressed.len() < self.fields.len() + 2 {
            compressed
        } else {
            let mut plain = Vec::with_capacity(self.fields.len() + 2);
            plain.extend_from_slice(&[SIGNED_PAYLOAD_VERSION, 0]);
            plain.extend_from_slice(&self.fields);
            plain
        }
    }

    /// The line (without LF): `ftc3:<epoch>:` + the token of the payload under `key`
    /// (the epoch's message key), timestamped with the HLC wall time in seconds. Sets
    /// [`hash`](Self::hash) to the new line's.
    pub fn encode_line(&mut self, key: &FernetKey, deflater: &mut Deflater) -> String {
        let token = key.encrypt(
            &self.encode_payload(deflater),
            self.record.hlc.wall_ms() / 1000,
        );
        let line = self.prefixed(&token);
        self.set_line(line.as_bytes());
        line
    }

    /// [`encode_line`](Self::encode_line) with a fixed IV, for vectors.
    #[cfg(feature = "deterministic")]
    pub fn encode_line_with_iv(
        &mut self,
        key: &FernetKey,
        iv: [u8; 16],
        deflater: &mut Deflater,
    ) -> String {
        let payload = self.encode_payload(deflater);
        let line =
            self.prefixed(&key.encrypt_with_iv(&payload, self.record.hlc.wall_ms() / 1000, iv));
        self.set_line(line.as_bytes());
        line
    }

    fn prefixed(&self, token: &str) -> String {
        format!("ftc3:{}:{token}", self.epoch)
    }

    /// Parses a payload (after decryption) of a line that named `line_epoch`. Checks the
    /// structure, the epoch and the writer id's derivation; the signature is checked by
    /// [`verify_signature`](Self::verify_signature) (a reader verifies one record per
    /// chained run, SPEC §9.4).
    pub fn decode_payload(
        payload: &[u8],
        line_epoch: u64,
        inflater: &mut Inflater,
    ) -> Result<Self, DecodeError> {
        let (&version, rest) = payload
            .split_first()
            .ok_or(DecodeError::Malformed(MalformedRecord::TooShort))?;
        if version != SIGNED_PAYLOAD_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                version: u64::from(version),
            });
        }
        let (&flags, body) = rest
            .split_first()
            .ok_or(DecodeError::Malformed(MalformedRecord::TooShort))?;
        if flags & !FLAG_COMPRESSED != 0 {
            return Err(DecodeError::Malformed(MalformedRecord::UnknownFlags(flags)));
        }
        if flags & FLAG_COMPRESSED != 0 {
            let inflated = inflater
                .inflate(body, super::native::MAX_BODY_LEN)
                .map_err(DecodeError::from_compression)?;
            Self::decode_fields(inflated.to_vec(), line_epoch)
        } else {
            if body.len() > super::native::MAX_BODY_LEN {
                return Err(DecodeError::TooLarge);
            }
            Self::decode_fields(body.to_vec(), line_epoch)
        }
    }

    fn decode_fields(data: Vec<u8>, line_epoch: u64) -> Result<Self, DecodeError> {
        let malformed = DecodeError::Malformed;
        let record = NativeRecord::decode_fields(&data).map_err(malformed)?;
        let mut epoch = None;
        let mut prev = None;
        let mut device = None;
        let mut generation = None;
        let mut signature: Option<(usize, [u8; SIGNATURE_LEN])> = None;
        let mut offset = 0usize;
        for field in fields(&data) {
            let (t, v) = field.map_err(malformed)?;
            // Where this field ends: the field iterator yields values as subslices.
            let value_start = v.as_ptr() as usize - data.as_ptr() as usize;
            let field_start = offset;
            offset = value_start + v.len();
            if signature.is_some() {
                // The signature must be the last field: nothing may follow it unsigned.
                return Err(malformed(MalformedRecord::InvalidField(
                    signed_tag::SIGNATURE,
                )));
            }
            let once = |present: bool| {
                if present {
                    Err(malformed(MalformedRecord::DuplicateField(t)))
                } else {
                    Ok(())
                }
            };
            let invalid = || malformed(MalformedRecord::InvalidField(t));
            match t {
                signed_tag::EPOCH => {
                    once(epoch.is_some())?;
                    epoch = Some(exact_varint(v).ok_or_else(invalid)?);
                }
                signed_tag::PREV => {
                    once(prev.is_some())?;
                    prev = Some(<[u8; 32]>::try_from(v).map_err(|_| invalid())?);
                }
                signed_tag::DEVICE => {
                    once(device.is_some())?;
                    device = Some(<[u8; 32]>::try_from(v).map_err(|_| invalid())?);
                }
                signed_tag::GENERATION => {
                    once(generation.is_some())?;
                    generation = Some(exact_varint(v).ok_or_else(invalid)?);
                }
                signed_tag::SIGNATURE => {
                    let sig = <[u8; SIGNATURE_LEN]>::try_from(v).map_err(|_| invalid())?;
                    signature = Some((field_start, sig));
                }
                _ => {}
            }
        }
        let missing = |t| malformed(MalformedRecord::MissingField(t));
        let epoch = epoch.ok_or_else(|| missing(signed_tag::EPOCH))?;
        let prev = prev.ok_or_else(|| missing(signed_tag::PREV))?;
        let device = device.ok_or_else(|| missing(signed_tag::DEVICE))?;
        let generation = generation.ok_or_else(|| missing(signed_tag::GENERATION))?;
        let (signed_len, signature) = signature.ok_or_else(|| missing(signed_tag::SIGNATURE))?;
        if epoch != line_epoch {
            return Err(malformed(MalformedRecord::InvalidField(signed_tag::EPOCH)));
        }
        if record.writer != derive_writer_id(record.room, &device, generation) {
            return Err(malformed(MalformedRecord::InvalidField(tag::WRITER_ID)));
        }
        if (record.seq == 1) != (prev == [0u8; 32]) {
            return Err(malformed(MalformedRecord::InvalidField(signed_tag::PREV)));
        }
        Ok(SignedRecord {
            record,
            epoch,
            prev,
            device,
            generation,
            fields: data,
            signed_len,
            signature,
            hash: [0; 32],
        })
    }
}

/// A signed line's hash: `SHA-256("ftpchat-record-hash-v2" || 0x00 || line)`, over the
/// line's bytes as stored (without CR/LF). Over the ciphertext, so that a reader that cannot
/// decrypt a record (it joined later) still follows its log's chain past it.
pub fn line_hash(line: &[u8]) -> RecordHash {
    let mut h = Sha256::new();
    h.update(RECORD_HASH_CONTEXT);
    h.update([0u8]);
    h.update(line);
    h.finalize().into()
}

/// Splits a signed line into its epoch and token; `None` if it is not `ftc3:<epoch>:…`
/// with a minimal decimal epoch.
pub(crate) fn split_line(line: &[u8]) -> Option<(u64, &[u8])> {
    let rest = line.strip_prefix(SIGNED_PREFIX)?;
    let colon = rest
        .iter()
        .take(MAX_EPOCH_DIGITS + 1)
        .position(|&b| b == b':')?;
    let digits = &rest[..colon];
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
    {
        return None;
    }
    let epoch = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
    Some((epoch, &rest[colon + 1..]))
}

fn signed_message(fields: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(RECORD_SIGNATURE_CONTEXT.len() + 1 + fields.len());
    m.extend_from_slice(RECORD_SIGNATURE_CONTEXT);
    m.push(0);
    m.extend_from_slice(fields);
    m
}

fn exact_varint(v: &[u8]) -> Option<u64> {
    match get_varint(v) {
        Ok((n, [])) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Hlc, RecordBody, RecordId};

    fn record(seq: u64) -> NativeRecord {
        NativeRecord {
            id: RecordId([seq as u8; 16]),
            room: RoomId([7; 16]),
            writer: WriterId::default(),
            seq,
            hlc: Hlc::new(1_700_000_000_000, 0),
            sender: "Alice".into(),
            body: RecordBody::Text("hi".into()),
        }
    }

    #[test]
    fn round_trip_and_chain() {
        let me = DeviceIdentity::generate();
        let key = FernetKey::generate();
        let (mut d, mut i) = (Deflater::default(), Inflater::default());
        let mut first = SignedRecord::sign(
            record(1),
            ChainLink {
                epoch: 3,
                prev: [0; 32],
                generation: 0,
            },
            &me,
        );
        let line = first.encode_line(&key, &mut d);
        assert!(line.starts_with("ftc3:3:gAAAAA"));
        let (epoch, token) = split_line(line.as_bytes()).unwrap();
        let payload = key.decrypt(token).unwrap().plaintext;
        let mut back = SignedRecord::decode_payload(&payload, epoch, &mut i).unwrap();
        back.set_line(line.as_bytes());
        assert_eq!(back, first);
        back.verify_signature().unwrap();
        assert_eq!(back.hash(), line_hash(line.as_bytes()));
        // Another epoch on the line than inside: refused.
        assert!(SignedRecord::decode_payload(&payload, 4, &mut i).is_err());
    }

    #[test]
    fn epoch_text_is_minimal() {
        assert_eq!(split_line(b"ftc3:0:x"), Some((0, &b"x"[..])));
        assert_eq!(split_line(b"ftc3:01:x"), None);
        assert_eq!(split_line(b"ftc3::x"), None);
        assert_eq!(split_line(b"ftc3:99999999999999999999:x"), None); // over u64
        assert_eq!(split_line(b"ftc3:1"), None);
    }
}
