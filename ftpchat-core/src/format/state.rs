//! Device state files: presence and read position (SPEC §18). Sans-IO.
//!
//! Each device of a member room publishes one small file, `logs/<writer id>.<n>.state`,
//! replaced (a new name with a higher `n`, then the old one removed), never appended. It
//! holds exactly one signed line (SPEC §8.6) of kind 6 (presence) whose body is
//!
//! | sub-tag | field | type |
//! |---|---|---|
//! | 1 | state | varint: 0 offline, 1 online, 2 away, 3 typing |
//! | 2 | valid until | HLC (varint); the state is offline from then on |
//! | 3 | last active | HLC (varint), OPTIONAL: when the device's user last did something |
//! | 4 | read position | OPTIONAL, `{1: record id (16), 2: its HLC (varint)}` (kind 5's shape) |
//! | 5 | typing until | HLC (varint), OPTIONAL, only with state 3: typing ends then (online after) |
//!
//! The record is always `seq` 1 with a zero `prev` (it starts no chain): freshness comes
//! from its HLC alone, and a reader keeps the newest per device.

use super::native::{fields, get_varint, put_field, put_varint_field, MalformedRecord};
use super::{DecodeError, Hlc, LineDecoder, Record, RecordBody, RecordId, SignedRecord, WriterId};
use crate::crypto::{Deflater, FernetKey};

/// The suffix of state file names.
pub const STATE_SUFFIX: &str = ".state";
/// The largest state file a reader downloads (a real one is about 400 bytes).
pub const MAX_STATE_FILE_LEN: usize = 4096;
/// The record kind of a state record (presence, SPEC §8.4).
pub const PRESENCE_KIND: u64 = 6;
/// The longest counter in a state file name, in decimal digits (`u64::MAX` has 20).
const MAX_COUNTER_DIGITS: usize = 20;

mod sub {
    pub(crate) const STATE: u64 = 1;
    pub(crate) const VALID_UNTIL: u64 = 2;
    pub(crate) const LAST_ACTIVE: u64 = 3;
    pub(crate) const READ: u64 = 4;
    pub(crate) const TYPING_UNTIL: u64 = 5;
    pub(crate) const READ_ID: u64 = 1;
    pub(crate) const READ_HLC: u64 = 2;
}

/// A device's presence as written in its state record (and as set by its user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PresenceState {
    /// Not present (expired, or said goodbye).
    Offline,
    /// Present.
    Online,
    /// Present but away.
    Away,
    /// Present and typing. [`Room::presence`](crate::Room::presence) reports typing as
    /// [`PresenceInfo::typing`](crate::PresenceInfo::typing) with the state `Online`.
    Typing,
}

impl PresenceState {
    /// The wire code (SPEC §8.4).
    pub fn code(self) -> u64 {
        match self {
            PresenceState::Offline => 0,
            PresenceState::Online => 1,
            PresenceState::Away => 2,
            PresenceState::Typing => 3,
        }
    }

    /// The state of a wire code, if known.
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => PresenceState::Offline,
            1 => PresenceState::Online,
            2 => PresenceState::Away,
            3 => PresenceState::Typing,
            _ => return None,
        })
    }
}

/// How far a member has read: the newest message it has read, by record id and HLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadPosition {
    /// The record read up to (inclusive).
    pub record: RecordId,
    /// That record's HLC.
    pub hlc: Hlc,
}

/// The body of a state record (kind 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PresenceBody {
    /// The state.
    pub state: PresenceState,
    /// The state holds until then (the writer's HLC); offline afterwards.
    pub valid_until: Hlc,
    /// When the device's user last did something (OPTIONAL).
    pub last_active: Option<Hlc>,
    /// How far the device's user has read (absent when the user turned receipts off).
    pub read: Option<ReadPosition>,
    /// With [`PresenceState::Typing`]: typing ends then (online afterwards).
    pub typing_until: Option<Hlc>,
}

impl PresenceBody {
    /// The sub-field list, in ascending tag order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        put_varint_field(&mut out, sub::STATE, self.state.code());
        put_varint_field(&mut out, sub::VALID_UNTIL, self.valid_until.0);
        if let Some(a) = self.last_active {
            put_varint_field(&mut out, sub::LAST_ACTIVE, a.0);
        }
        if let Some(r) = self.read {
            let mut inner = Vec::with_capacity(32);
            put_field(&mut inner, sub::READ_ID, &r.record.0);
            put_varint_field(&mut inner, sub::READ_HLC, r.hlc.0);
            put_field(&mut out, sub::READ, &inner);
        }
        if let Some(t) = self.typing_until {
            put_varint_field(&mut out, sub::TYPING_UNTIL, t.0);
        }
        out
    }

    /// Parses a body with the rules of SPEC §8.2 (minimal varints, each known sub-tag
    /// once, unknown ones skipped). Fields 1 and 2 are required; an unknown state or a
    /// typing-until with another state than typing is invalid.
    pub fn decode(data: &[u8]) -> Result<Self, MalformedRecord> {
        let mut state = None;
        let mut valid_until = None;
        let mut last_active = None;
        let mut read = None;
        let mut typing_until = None;
        for field in fields(data) {
            let (t, v) = field?;
            let invalid = MalformedRecord::InvalidField(t);
            let once = |present: bool| match present {
                true => Err(MalformedRecord::DuplicateField(t)),
                false => Ok(()),
            };
            match t {
                sub::STATE => {
                    once(state.is_some())?;
                    let code = exact_varint(v).ok_or(invalid)?;
                    state = Some(PresenceState::from_code(code).ok_or(invalid)?);
                }
                sub::VALID_UNTIL => {
                    once(valid_until.is_some())?;
                    valid_until = Some(Hlc(exact_varint(v).ok_or(invalid)?));
                }
                sub::LAST_ACTIVE => {
                    once(last_active.is_some())?;
                    last_active = Some(Hlc(exact_varint(v).ok_or(invalid)?));
                }
                sub::READ => {
                    once(read.is_some())?;
                    read = Some(decode_read(v).ok_or(invalid)?);
                }
                sub::TYPING_UNTIL => {
                    once(typing_until.is_some())?;
                    typing_until = Some(Hlc(exact_varint(v).ok_or(invalid)?));
                }
                _ => {}
            }
        }
        let state = state.ok_or(MalformedRecord::MissingField(sub::STATE))?;
        let valid_until = valid_until.ok_or(MalformedRecord::MissingField(sub::VALID_UNTIL))?;
        if typing_until.is_some() && state != PresenceState::Typing {
            return Err(MalformedRecord::InvalidField(sub::TYPING_UNTIL));
        }
        Ok(PresenceBody {
            state,
            valid_until,
            last_active,
            read,
            typing_until,
        })
    }
}

fn decode_read(data: &[u8]) -> Option<ReadPosition> {
    let mut id = None;
    let mut hlc = None;
    for field in fields(data) {
        let (t, v) = field.ok()?;
        match t {
            sub::READ_ID if id.is_none() => id = Some(RecordId(<[u8; 16]>::try_from(v).ok()?)),
            sub::READ_HLC if hlc.is_none() => hlc = Some(Hlc(exact_varint(v)?)),
            sub::READ_ID | sub::READ_HLC => return None,
            _ => {}
        }
    }
    Some(ReadPosition {
        record: id?,
        hlc: hlc?,
    })
}

fn exact_varint(v: &[u8]) -> Option<u64> {
    match get_varint(v) {
        Ok((n, [])) => Some(n),
        _ => None,
    }
}

/// The name of `writer`'s state file number `counter`: `<32 hex>.<counter>.state`.
pub fn state_file_name(writer: WriterId, counter: u64) -> String {
    format!("{}.{counter}{STATE_SUFFIX}", writer.to_hex())
}

/// The writer and counter of a state file name; `None` for any other name (the counter
/// is decimal, at least 1, without leading zeros).
pub fn parse_state_file_name(name: &str) -> Option<(WriterId, u64)> {
    let stem = name.strip_suffix(STATE_SUFFIX)?;
    let (hex, counter) = stem.split_once('.')?;
    let writer = WriterId::from_hex(hex)?;
    if hex.len() != 32
        || counter.is_empty()
        || counter.len() > MAX_COUNTER_DIGITS
        || !counter.bytes().all(|b| b.is_ascii_digit())
        || counter.starts_with('0')
    {
        return None;
    }
    Some((writer, counter.parse().ok()?))
}

/// Why a state file was refused (SPEC §18.4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateFileError {
    /// Larger than [`MAX_STATE_FILE_LEN`].
    #[error("the state file is larger than {MAX_STATE_FILE_LEN} bytes")]
    TooLarge,
    /// Not exactly one line ending in LF.
    #[error("the state file is not one line ending in LF")]
    NotOneLine,
    /// The line does not decode.
    #[error("the state record does not decode: {0}")]
    Decode(DecodeError),
    /// Not a signed record.
    #[error("the state record is not signed")]
    NotSigned,
    /// A signed record of another kind than presence (6).
    #[error("the state record is of kind {0}, not presence (6)")]
    NotPresence(u64),
    /// Not `seq` 1.
    #[error("the state record has seq {0}, not 1")]
    NotFirst(u64),
    /// The body's sub-fields are malformed.
    #[error("the presence body is malformed: {0}")]
    Body(MalformedRecord),
    /// The record's writer id (derived from its device key) is not the file name's.
    #[error("the state record's writer id is not the one in the file name")]
    WriterMismatch,
    /// The signature does not verify.
    #[error("the state record's signature does not verify")]
    BadSignature,
}

/// A decoded, signature-checked state record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    /// The signed record (kind 6, `seq` 1).
    pub signed: SignedRecord,
    /// Its body.
    pub body: PresenceBody,
}

/// The bytes of a state file: the signed record's line and a LF. The record MUST be of
/// kind 6, `seq` 1, with a zero `prev` (see [`SignedRecord::sign`]).
pub fn encode_state_file(
    signed: &mut SignedRecord,
    key: &FernetKey,
    deflater: &mut Deflater,
) -> Vec<u8> {
    let mut line = signed.encode_line(key, deflater).into_bytes();
    line.push(b'\n');
    line
}

/// Decodes and checks a state file read from `<file_writer>.<n>.state`: one line ending
/// in LF, a signed record of kind 6 and `seq` 1 under an epoch key `decoder` holds, whose
/// writer id is `file_writer`, whose signature verifies and whose body parses. The
/// membership check is the caller's (SPEC §18.4).
pub fn decode_state_file(
    data: &[u8],
    file_writer: WriterId,
    decoder: &mut LineDecoder,
) -> Result<StateRecord, StateFileError> {
    if data.len() > MAX_STATE_FILE_LEN {
        return Err(StateFileError::TooLarge);
    }
    let line = data
        .strip_suffix(b"\n")
        .filter(|l| !l.contains(&b'\n') && !l.contains(&b'\r'))
        .ok_or(StateFileError::NotOneLine)?;
    let signed = match decoder.decode_line(line).map_err(StateFileError::Decode)? {
        Record::Signed(s) => *s,
        _ => return Err(StateFileError::NotSigned),
    };
    if signed.record.writer != file_writer {
        return Err(StateFileError::WriterMismatch);
    }
    let kind = signed.record.body.kind_code();
    let RecordBody::Other { data: body, .. } = &signed.record.body else {
        return Err(StateFileError::NotPresence(kind));
    };
    if kind != PRESENCE_KIND {
        return Err(StateFileError::NotPresence(kind));
    }
    if signed.record.seq != 1 {
        return Err(StateFileError::NotFirst(signed.record.seq));
    }
    signed
        .verify_signature()
        .map_err(|_| StateFileError::BadSignature)?;
    let body = PresenceBody::decode(body).map_err(StateFileError::Body)?;
    Ok(StateRecord { signed, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::signed::ChainLink;
    use crate::format::{derive_writer_id, Keyring, NativeRecord, RoomId};
    use crate::identity::DeviceIdentity;

    fn body() -> PresenceBody {
        PresenceBody {
            state: PresenceState::Typing,
            valid_until: Hlc::new(1_800_000_120_000, 0),
            last_active: Some(Hlc::new(1_800_000_000_000, 3)),
            read: Some(ReadPosition {
                record: RecordId([9; 16]),
                hlc: Hlc::new(1_799_999_000_000, 1),
            }),
            typing_until: Some(Hlc::new(1_800_000_010_000, 0)),
        }
    }

    #[test]
    fn bodies_round_trip_and_bad_ones_are_refused() {
        let b = body();
        assert_eq!(PresenceBody::decode(&b.encode()), Ok(b));
        let bare = PresenceBody {
            state: PresenceState::Online,
            valid_until: Hlc(5),
            last_active: None,
            read: None,
            typing_until: None,
        };
        assert_eq!(bare.encode(), [1, 1, 1, 2, 1, 5]);
        assert_eq!(PresenceBody::decode(&bare.encode()), Ok(bare));
        // Unknown sub-tags are skipped.
        let mut extra = bare.encode();
        extra.extend_from_slice(&[9, 1, 0]);
        assert_eq!(PresenceBody::decode(&extra), Ok(bare));
        // Unknown state, duplicate, missing, non-minimal varint, typing-until when online.
        let bad: [&[u8]; 5] = [
            &[1, 1, 4, 2, 1, 5],
            &[1, 1, 1, 1, 1, 1, 2, 1, 5],
            &[1, 1, 1],
            &[1, 2, 0x81, 0x00, 2, 1, 5],
            &[1, 1, 1, 2, 1, 5, 5, 1, 6],
        ];
        for data in bad {
            assert!(PresenceBody::decode(data).is_err(), "{data:?}");
        }
    }

    #[test]
    fn file_names_are_strict() {
        let w = WriterId([0xab; 16]);
        let name = state_file_name(w, 42);
        assert_eq!(name, format!("{}.42.state", "ab".repeat(16)));
        assert_eq!(parse_state_file_name(&name), Some((w, 42)));
        let hex = "ab".repeat(16);
        for bad in [
            format!("{hex}.0.state"),
            format!("{hex}.042.state"),
            format!("{hex}..state"),
            format!("{hex}.4a.state"),
            format!("{hex}.99999999999999999999.state"),
            format!("{}.1.state", "AB".repeat(16)),
            format!("{hex}.1.log"),
            format!("{hex}.log"),
            format!(".{hex}.1.state"),
        ] {
            assert_eq!(parse_state_file_name(&bad), None, "{bad}");
        }
    }

    #[test]
    fn state_files_round_trip_and_are_bound_to_their_name() {
        let me = DeviceIdentity::generate();
        let room = RoomId([4; 16]);
        let key = FernetKey::generate();
        let record = NativeRecord {
            id: RecordId::random(),
            room,
            writer: WriterId::default(),
            seq: 1,
            hlc: Hlc::new(1_800_000_000_000, 0),
            sender: "Alice".into(),
            body: RecordBody::Other {
                kind: PRESENCE_KIND,
                data: body().encode(),
            },
        };
        let link = ChainLink {
            epoch: 2,
            prev: [0; 32],
            generation: 0,
        };
        let mut signed = SignedRecord::sign(record, link, &me);
        let file = encode_state_file(&mut signed, &key, &mut Deflater::default());
        let writer = derive_writer_id(room, &me.public().signing_key_bytes(), 0);
        let mut decoder = LineDecoder::new(Keyring::default());
        decoder.add_epoch_key(room, 2, key);
        let got = decode_state_file(&file, writer, &mut decoder).unwrap();
        assert_eq!(got.body, body());
        assert_eq!(
            decode_state_file(&file, WriterId([1; 16]), &mut decoder),
            Err(StateFileError::WriterMismatch)
        );
        assert_eq!(
            decode_state_file(&file[..file.len() - 1], writer, &mut decoder),
            Err(StateFileError::NotOneLine)
        );
        let mut two = file.clone();
        two.extend_from_slice(&file);
        assert_eq!(
            decode_state_file(&two, writer, &mut decoder),
            Err(StateFileError::NotOneLine)
        );
        let mut tampered = file.clone();
        tampered[40] ^= 1;
        assert!(matches!(
            decode_state_file(&tampered, writer, &mut decoder),
            Err(StateFileError::Decode(_))
        ));
    }
}
