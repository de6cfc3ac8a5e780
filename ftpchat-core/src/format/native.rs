//! The native record (ftpchat 2): what the FTPChat formats cannot carry.
//!
//! Line: `ftc2:` + Fernet token (room key) of the payload.
//! Payload: `version (1) || flags || body`, where flags bit 0 means the body is
//! zlib-compressed (set only when that makes it shorter) and the other bits are zero.
//! Body: a sequence of fields `tag (varint) || length (varint) || value`. Unknown tags
//! are skipped, so old readers survive new writers; each known tag appears at most once.
//! See SPEC.md, "Native codec", for the normative text.

use std::fmt;

use super::attachment::AttachmentBody;
use super::DecodeError;
use crate::crypto::{Deflater, FernetKey, Inflater};

/// The prefix that marks a native line.
pub const NATIVE_PREFIX: &[u8] = b"ftc2:";
/// The payload version this code writes and reads.
pub const PAYLOAD_VERSION: u8 = 1;
/// The longest payload body accepted after decompression.
pub const MAX_BODY_LEN: usize = 256 * 1024;
/// The longest sender display name accepted, in bytes.
pub const MAX_SENDER_LEN: usize = 256;

const FLAG_COMPRESSED: u8 = 0x01;

/// Field tags of the record body (SPEC.md, "Native codec").
pub(crate) mod tag {
    pub(crate) const RECORD_ID: u64 = 1;
    pub(crate) const ROOM_ID: u64 = 2;
    pub(crate) const WRITER_ID: u64 = 3;
    pub(crate) const SEQ: u64 = 4;
    pub(crate) const HLC: u64 = 5;
    pub(crate) const SENDER: u64 = 6;
    pub(crate) const KIND: u64 = 7;
    pub(crate) const BODY: u64 = 8;
}

macro_rules! id128 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                $name(crate::crypto::random_bytes::<16>())
            }

            /// Lowercase hex, 32 characters.
            pub fn to_hex(&self) -> String {
                use fmt::Write as _;
                self.0.iter().fold(String::with_capacity(32), |mut s, b| {
                    let _ = write!(s, "{b:02x}");
                    s
                })
            }

            /// Parses 32 hex characters.
            pub fn from_hex(s: &str) -> Option<Self> {
                // Exactly 32 lowercase hex digits: one spelling per id.
                if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return None;
                }
                let mut out = [0u8; 16];
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
                }
                Some($name(out))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

id128!(
    /// A record's 128-bit random id: dedupe and idempotent retries.
    RecordId
);
id128!(
    /// A room's 128-bit random id, bound into every record so records cannot be moved
    /// between rooms unnoticed.
    RoomId
);
id128!(
    /// A writer (device) id; each writer appends only to its own log.
    WriterId
);

/// A hybrid logical clock timestamp: milliseconds since the Unix epoch in the high 48
/// bits, a counter in the low 16. Orders events across clients whose clocks disagree.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hlc(pub u64);

impl Hlc {
    /// Builds from wall-clock milliseconds and a counter.
    pub fn new(wall_ms: u64, counter: u16) -> Self {
        Hlc((wall_ms << 16) | u64::from(counter))
    }
    /// The physical part, milliseconds since the Unix epoch.
    pub fn wall_ms(self) -> u64 {
        self.0 >> 16
    }
    /// The logical counter.
    pub fn counter(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({}ms+{})", self.wall_ms(), self.counter())
    }
}

/// Record kinds (SPEC.md lists each body's encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// A text message; body = UTF-8 text.
    Text,
    /// Replaces the text of an earlier text record of the same author.
    Edit,
    /// Deletes an earlier text record of the same author.
    Delete,
    /// A member's reaction to an earlier record (replaces their earlier one).
    Reaction,
    /// Reserved: the writer has read up to a record.
    ReadReceipt,
    /// Reserved: online / away / typing.
    Presence,
    /// A file whose encrypted blob is stored beside the logs (SPEC §8.4.3).
    Attachment,
    /// Reserved: join, leave, rename.
    Membership,
    /// A record body sealed to the devices of two members (SPEC §8.4.2).
    Private,
    /// Inside a private record to oneself only: the members this member blocks.
    BlockList,
}

impl RecordKind {
    /// The wire code.
    pub fn code(self) -> u64 {
        match self {
            RecordKind::Text => 1,
            RecordKind::Edit => 2,
            RecordKind::Delete => 3,
            RecordKind::Reaction => 4,
            RecordKind::ReadReceipt => 5,
            RecordKind::Presence => 6,
            RecordKind::Attachment => 7,
            RecordKind::Membership => 8,
            RecordKind::Private => 9,
            RecordKind::BlockList => 10,
        }
    }

    /// The kind for a wire code, if known.
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            1 => RecordKind::Text,
            2 => RecordKind::Edit,
            3 => RecordKind::Delete,
            4 => RecordKind::Reaction,
            5 => RecordKind::ReadReceipt,
            6 => RecordKind::Presence,
            7 => RecordKind::Attachment,
            8 => RecordKind::Membership,
            9 => RecordKind::Private,
            10 => RecordKind::BlockList,
            _ => return None,
        })
    }
}

/// What a record carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordBody {
    /// A text message.
    Text(String),
    /// A new text for an earlier text record of the same author (SPEC §8.4.1).
    Edit {
        /// The record edited.
        target: RecordId,
        /// Its new text.
        text: String,
    },
    /// Deletes an earlier text record of the same author (SPEC §8.4.1).
    Delete {
        /// The record deleted.
        target: RecordId,
    },
    /// A reaction to an earlier text record; it replaces the author's earlier reaction to
    /// it, and an empty or removed one retracts it (SPEC §8.4.1).
    Reaction {
        /// The record reacted to.
        target: RecordId,
        /// The reaction, e.g. an emoji; at most [`MAX_REACTION_LEN`] bytes.
        reaction: String,
        /// Sub-field 3: the reaction is withdrawn.
        removed: bool,
    },
    /// A body only some members can read (SPEC §8.4.2): sealed with a one-time key that
    /// is wrapped to each device of the recipient member and of the sender's member.
    Private {
        /// The member it is for (16 bytes; the sender's own member for a note to itself).
        recipient: [u8; 16],
        /// The wrapped one-time key, one [`PRIVATE_WRAP_LEN`]-byte wrap per device.
        wraps: Vec<[u8; PRIVATE_WRAP_LEN]>,
        /// The sealed inner body.
        sealed: Vec<u8>,
    },
    /// The members this member blocks (SPEC §8.4.2); only meaningful inside a private
    /// record a member writes to itself.
    BlockList(Vec<[u8; 16]>),
    /// A file whose encrypted blob lies under the room's `files/` (SPEC §8.4.3).
    Attachment(Box<AttachmentBody>),
    /// A kind this version does not interpret (reserved or unknown): kept, not shown.
    Other {
        /// The kind's wire code.
        kind: u64,
        /// The body bytes, as written.
        data: Vec<u8>,
    },
}

/// The longest reaction accepted, in bytes of UTF-8.
pub const MAX_REACTION_LEN: usize = 64;
/// Bytes of one wrap of a private record's key: the device's Ed25519 key (32), the HPKE
/// encapsulated key (32), the sealed 32-byte key and its tag (48).
pub const PRIVATE_WRAP_LEN: usize = 112;
/// The most wraps (devices) one private record carries.
pub const MAX_PRIVATE_WRAPS: usize = 64;
/// The most members one block list names.
pub const MAX_BLOCKED: usize = 4096;

/// Sub-field tags of the bodies of kinds 2-4 (SPEC §8.4).
mod sub {
    pub(super) const TARGET: u64 = 1;
    pub(super) const TEXT: u64 = 2;
    pub(super) const REMOVED: u64 = 3;
    pub(super) const SEALED: u64 = 3;
}

impl RecordBody {
    /// The wire code of this body's kind.
    pub fn kind_code(&self) -> u64 {
        match self {
            RecordBody::Text(_) => RecordKind::Text.code(),
            RecordBody::Edit { .. } => RecordKind::Edit.code(),
            RecordBody::Delete { .. } => RecordKind::Delete.code(),
            RecordBody::Reaction { .. } => RecordKind::Reaction.code(),
            RecordBody::Private { .. } => RecordKind::Private.code(),
            RecordBody::BlockList(_) => RecordKind::BlockList.code(),
            RecordBody::Attachment(_) => RecordKind::Attachment.code(),
            RecordBody::Other { kind, .. } => *kind,
        }
    }

    /// The record this body changes (an edit, a delete or a reaction).
    pub fn target(&self) -> Option<RecordId> {
        match self {
            RecordBody::Edit { target, .. }
            | RecordBody::Delete { target }
            | RecordBody::Reaction { target, .. } => Some(*target),
            _ => None,
        }
    }

    /// The body field's bytes as this version writes them.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            RecordBody::Text(text) => out.extend_from_slice(text.as_bytes()),
            RecordBody::Edit { target, text } => {
                put_field(&mut out, sub::TARGET, &target.0);
                put_field(&mut out, sub::TEXT, text.as_bytes());
            }
            RecordBody::Delete { target } => put_field(&mut out, sub::TARGET, &target.0),
            RecordBody::Reaction {
                target,
                reaction,
                removed,
            } => {
                put_field(&mut out, sub::TARGET, &target.0);
                put_field(&mut out, sub::TEXT, reaction.as_bytes());
                // OPTIONAL, default 0: written only when set.
                if *removed {
                    put_varint_field(&mut out, sub::REMOVED, 1);
                }
            }
            RecordBody::Private {
                recipient,
                wraps,
                sealed,
            } => {
                put_field(&mut out, sub::TARGET, recipient);
                put_field(&mut out, sub::TEXT, &wraps.concat());
                put_field(&mut out, sub::SEALED, sealed);
            }
            RecordBody::BlockList(members) => put_field(&mut out, sub::TARGET, &members.concat()),
            RecordBody::Attachment(body) => return body.encode(),
            RecordBody::Other { data, .. } => out.extend_from_slice(data),
        }
        out
    }

    /// Parses the body of a record of kind `kind`. A malformed body of a kind this
    /// version interprets is an invalid body field (SPEC §8.4); other kinds are kept as
    /// they are.
    pub fn decode(kind: u64, body: &[u8]) -> Result<Self, MalformedRecord> {
        let invalid = MalformedRecord::InvalidField(tag::BODY);
        let utf8 = |v: &[u8]| {
            std::str::from_utf8(v)
                .map(str::to_owned)
                .map_err(|_| invalid)
        };
        let Some(known) = RecordKind::from_code(kind) else {
            return Ok(RecordBody::Other {
                kind,
                data: body.to_vec(),
            });
        };
        if matches!(known, RecordKind::Private | RecordKind::BlockList) {
            return decode_private(known, body);
        }
        if known == RecordKind::Attachment {
            return Ok(RecordBody::Attachment(Box::new(AttachmentBody::decode(
                body,
            )?)));
        }
        let (mut target, mut text, mut removed) = (None, None, None);
        if matches!(
            known,
            RecordKind::Edit | RecordKind::Delete | RecordKind::Reaction
        ) {
            for field in fields(body) {
                let (t, v) = field.map_err(|_| invalid)?;
                let fresh = match t {
                    sub::TARGET => target
                        .replace(RecordId(v.try_into().map_err(|_| invalid)?))
                        .is_none(),
                    sub::TEXT => text.replace(utf8(v)?).is_none(),
                    // Not a sub-field of an edit or a delete: skipped like any unknown one.
                    sub::REMOVED if known == RecordKind::Reaction => {
                        let flag = match get_varint(v) {
                            Ok((0, [])) => false,
                            Ok((1, [])) => true,
                            _ => return Err(invalid),
                        };
                        removed.replace(flag).is_none()
                    }
                    _ => true,
                };
                if !fresh {
                    return Err(invalid);
                }
            }
        }
        Ok(match known {
            RecordKind::Text => RecordBody::Text(utf8(body)?),
            RecordKind::Edit => RecordBody::Edit {
                target: target.ok_or(invalid)?,
                text: text.ok_or(invalid)?,
            },
            RecordKind::Delete => RecordBody::Delete {
                target: target.ok_or(invalid)?,
            },
            RecordKind::Reaction => {
                let reaction = text.ok_or(invalid)?;
                if reaction.len() > MAX_REACTION_LEN {
                    return Err(invalid);
                }
                RecordBody::Reaction {
                    target: target.ok_or(invalid)?,
                    reaction,
                    removed: removed.unwrap_or(false),
                }
            }
            _ => RecordBody::Other {
                kind,
                data: body.to_vec(),
            },
        })
    }
}

/// The bodies of kinds 9 and 10 (SPEC §8.4.2).
fn decode_private(kind: RecordKind, body: &[u8]) -> Result<RecordBody, MalformedRecord> {
    let invalid = MalformedRecord::InvalidField(tag::BODY);
    let mut seen: [Option<&[u8]>; 4] = [None; 4];
    for field in fields(body) {
        let (t, v) = field.map_err(|_| invalid)?;
        if let Some(slot) = seen.get_mut(t as usize).filter(|_| t >= 1) {
            if slot.replace(v).is_some() {
                return Err(invalid);
            }
        }
    }
    let chunks = |v: &[u8], n: usize, max: usize| -> Result<Vec<Vec<u8>>, MalformedRecord> {
        if !v.len().is_multiple_of(n) || v.len() / n > max {
            return Err(invalid);
        }
        Ok(v.chunks(n).map(<[u8]>::to_vec).collect())
    };
    if kind == RecordKind::BlockList {
        let list = seen[1].ok_or(invalid)?;
        let members = chunks(list, 16, MAX_BLOCKED)?
            .into_iter()
            .map(|c| c.try_into().map_err(|_| invalid))
            .collect::<Result<Vec<[u8; 16]>, _>>()?;
        return Ok(RecordBody::BlockList(members));
    }
    let recipient: [u8; 16] = seen[1].ok_or(invalid)?.try_into().map_err(|_| invalid)?;
    let wraps = chunks(seen[2].ok_or(invalid)?, PRIVATE_WRAP_LEN, MAX_PRIVATE_WRAPS)?
        .into_iter()
        .map(|c| c.try_into().map_err(|_| invalid))
        .collect::<Result<Vec<[u8; PRIVATE_WRAP_LEN]>, _>>()?;
    if wraps.is_empty() {
        return Err(invalid);
    }
    Ok(RecordBody::Private {
        recipient,
        wraps,
        sealed: seen[3].ok_or(invalid)?.to_vec(),
    })
}

/// A native record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NativeRecord {
    /// Unique id of this record.
    pub id: RecordId,
    /// The room it belongs to.
    pub room: RoomId,
    /// The device that wrote it.
    pub writer: WriterId,
    /// Per-writer sequence number, starting at 1.
    pub seq: u64,
    /// Hybrid logical clock time of writing.
    pub hlc: Hlc,
    /// The sender's display name (chosen by the sender; not proof of identity).
    pub sender: String,
    /// The content.
    pub body: RecordBody,
}

/// Why a native payload is malformed (after it authenticated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedRecord {
    /// Payload is empty or shorter than version + flags.
    #[error("payload too short")]
    TooShort,
    /// Flag bits this version does not know are set.
    #[error("unknown payload flags 0x{0:02x}")]
    UnknownFlags(u8),
    /// A varint runs past the end or over 64 bits.
    #[error("bad varint")]
    BadVarint,
    /// A field's length runs past the end.
    #[error("field length runs past the end")]
    FieldOverrun,
    /// A known field appears twice.
    #[error("field {0} appears twice")]
    DuplicateField(u64),
    /// A required field is absent.
    #[error("required field {0} is missing")]
    MissingField(u64),
    /// A field has the wrong length or type.
    #[error("field {0} has an invalid value")]
    InvalidField(u64),
}

/// LEB128 encoding of `v` onto `out`.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a minimal LEB128 varint; returns it and the rest.
pub(crate) fn get_varint(data: &[u8]) -> Result<(u64, &[u8]), MalformedRecord> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        let chunk = u64::from(b & 0x7f);
        if i == 9 && chunk > 1 {
            return Err(MalformedRecord::BadVarint);
        }
        value |= chunk << (7 * i);
        if b & 0x80 == 0 {
            // Refuse non-minimal encodings so each value has one encoding.
            if i > 0 && b == 0 {
                return Err(MalformedRecord::BadVarint);
            }
            return Ok((value, &data[i + 1..]));
        }
    }
    Err(MalformedRecord::BadVarint)
}

pub(crate) fn put_field(out: &mut Vec<u8>, tag: u64, value: &[u8]) {
    put_varint(out, tag);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

pub(crate) fn put_varint_field(out: &mut Vec<u8>, tag: u64, value: u64) {
    let mut buf = Vec::with_capacity(10);
    put_varint(&mut buf, value);
    put_field(out, tag, &buf);
}

/// Iterates `(tag, value)` over a TLV body.
pub(crate) fn fields(
    mut data: &[u8],
) -> impl Iterator<Item = Result<(u64, &[u8]), MalformedRecord>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let step = (|| {
            let (tag, rest) = get_varint(data)?;
            let (len, rest) = get_varint(rest)?;
            let len = usize::try_from(len).map_err(|_| MalformedRecord::FieldOverrun)?;
            if len > rest.len() {
                return Err(MalformedRecord::FieldOverrun);
            }
            let (value, rest) = rest.split_at(len);
            Ok((tag, value, rest))
        })();
        match step {
            Ok((tag, value, rest)) => {
                data = rest;
                Some(Ok((tag, value)))
            }
            Err(e) => {
                data = &[];
                Some(Err(e))
            }
        }
    })
}

impl NativeRecord {
    /// The body fields, uncompressed, in ascending tag order.
    pub fn encode_fields(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.sender.len());
        put_field(&mut out, tag::RECORD_ID, &self.id.0);
        put_field(&mut out, tag::ROOM_ID, &self.room.0);
        put_field(&mut out, tag::WRITER_ID, &self.writer.0);
        put_varint_field(&mut out, tag::SEQ, self.seq);
        put_varint_field(&mut out, tag::HLC, self.hlc.0);
        put_field(&mut out, tag::SENDER, self.sender.as_bytes());
        put_varint_field(&mut out, tag::KIND, self.body.kind_code());
        match &self.body {
            RecordBody::Text(text) => put_field(&mut out, tag::BODY, text.as_bytes()),
            RecordBody::Other { data, .. } => put_field(&mut out, tag::BODY, data),
            body => put_field(&mut out, tag::BODY, &body.encode()),
        }
        out
    }

    /// Parses body fields (already decompressed).
    pub fn decode_fields(data: &[u8]) -> Result<Self, MalformedRecord> {
        let mut id = None;
        let mut room = None;
        let mut writer = None;
        let mut seq = None;
        let mut hlc = None;
        let mut sender = None;
        let mut kind = None;
        let mut body: Option<&[u8]> = None;
        fn set<T>(slot: &mut Option<T>, tag: u64, value: T) -> Result<(), MalformedRecord> {
            if slot.replace(value).is_some() {
                return Err(MalformedRecord::DuplicateField(tag));
            }
            Ok(())
        }
        let id16 = |tag: u64, v: &[u8]| -> Result<[u8; 16], MalformedRecord> {
            v.try_into().map_err(|_| MalformedRecord::InvalidField(tag))
        };
        let varint = |tag: u64, v: &[u8]| -> Result<u64, MalformedRecord> {
            match get_varint(v) {
                Ok((n, [])) => Ok(n),
                _ => Err(MalformedRecord::InvalidField(tag)),
            }
        };
        for field in fields(data) {
            let (t, v) = field?;
            match t {
                tag::RECORD_ID => set(&mut id, t, RecordId(id16(t, v)?))?,
                tag::ROOM_ID => set(&mut room, t, RoomId(id16(t, v)?))?,
                tag::WRITER_ID => set(&mut writer, t, WriterId(id16(t, v)?))?,
                tag::SEQ => set(&mut seq, t, varint(t, v)?)?,
                tag::HLC => set(&mut hlc, t, Hlc(varint(t, v)?))?,
                tag::SENDER => {
                    if v.len() > MAX_SENDER_LEN {
                        return Err(MalformedRecord::InvalidField(t));
                    }
                    let name =
                        std::str::from_utf8(v).map_err(|_| MalformedRecord::InvalidField(t))?;
                    set(&mut sender, t, name.to_owned())?
                }
                tag::KIND => set(&mut kind, t, varint(t, v)?)?,
                tag::BODY => set(&mut body, t, v)?,
                _ => {} // unknown field: skipped (forward compatibility)
            }
        }
        let kind = kind.ok_or(MalformedRecord::MissingField(tag::KIND))?;
        let body = body.ok_or(MalformedRecord::MissingField(tag::BODY))?;
        let body = RecordBody::decode(kind, body)?;
        Ok(NativeRecord {
            id: id.ok_or(MalformedRecord::MissingField(tag::RECORD_ID))?,
            room: room.ok_or(MalformedRecord::MissingField(tag::ROOM_ID))?,
            writer: writer.ok_or(MalformedRecord::MissingField(tag::WRITER_ID))?,
            seq: seq.ok_or(MalformedRecord::MissingField(tag::SEQ))?,
            hlc: hlc.ok_or(MalformedRecord::MissingField(tag::HLC))?,
            sender: sender.ok_or(MalformedRecord::MissingField(tag::SENDER))?,
            body,
        })
    }

    /// The payload (version, flags, body), compressed only where that is shorter.
    pub fn encode_payload(&self, deflater: &mut Deflater) -> Vec<u8> {
        let fields = self.encode_fields();
        let mut compressed = Vec::with_capacity(fields.len() + 2);
        compressed.extend_from_slice(&[PAYLOAD_VERSION, FLAG_COMPRESSED]);
        deflater.compress_into(&fields, &mut compressed);
        if compressed.len() < fields.len() + 2 {
            compressed
        } else {
            let mut plain = Vec::with_capacity(fields.len() + 2);
            plain.extend_from_slice(&[PAYLOAD_VERSION, 0]);
            plain.extend_from_slice(&fields);
            plain
        }
    }

    /// Parses a payload (after decryption).
    pub fn decode_payload(payload: &[u8], inflater: &mut Inflater) -> Result<Self, DecodeError> {
        let (&version, rest) = payload
            .split_first()
            .ok_or(DecodeError::Malformed(MalformedRecord::TooShort))?;
        if version != PAYLOAD_VERSION {
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
                .decompress(body, MAX_BODY_LEN)
                .map_err(DecodeError::from_compression)?;
            Self::decode_fields(&inflated).map_err(DecodeError::Malformed)
        } else {
            if body.len() > MAX_BODY_LEN {
                return Err(DecodeError::TooLarge);
            }
            Self::decode_fields(body).map_err(DecodeError::Malformed)
        }
    }

    /// The full line (without LF): `ftc2:` + Fernet token. The token's timestamp is the
    /// record's HLC wall time in seconds.
    pub fn encode_line(&self, key: &FernetKey, deflater: &mut Deflater) -> String {
        let payload = self.encode_payload(deflater);
        let token = key.encrypt(&payload, self.hlc.wall_ms() / 1000);
        prefixed(&token)
    }

    /// [`encode_line`](Self::encode_line) with a fixed IV, for vectors.
    #[cfg(feature = "deterministic")]
    pub fn encode_line_with_iv(
        &self,
        key: &FernetKey,
        iv: [u8; 16],
        deflater: &mut Deflater,
    ) -> String {
        let payload = self.encode_payload(deflater);
        prefixed(&key.encrypt_with_iv(&payload, self.hlc.wall_ms() / 1000, iv))
    }
}

fn prefixed(token: &str) -> String {
    let mut line = String::with_capacity(NATIVE_PREFIX.len() + token.len());
    line.push_str("ftc2:");
    line.push_str(token);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_minimal_and_bounded() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(get_varint(&buf).unwrap(), (v, &[][..]));
        }
        assert!(get_varint(&[0x80, 0x00]).is_err()); // non-minimal zero
        assert!(get_varint(&[0xff; 11]).is_err());
        assert!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_err());
        assert!(get_varint(&[0x80]).is_err());
    }

    #[test]
    fn hlc_parts() {
        let h = Hlc::new(1_700_000_000_123, 7);
        assert_eq!((h.wall_ms(), h.counter()), (1_700_000_000_123, 7));
        assert!(Hlc::new(5, 0) > Hlc::new(4, 65535));
    }

    #[test]
    fn ids_hex() {
        let id = RecordId::random();
        assert_eq!(RecordId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(RecordId::from_hex("zz"), None);
        assert_eq!(RecordId::from_hex(&"é".repeat(16)), None);
    }
}
