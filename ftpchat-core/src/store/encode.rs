//! How values are laid out in the store's columns: the sort key as a BLOB whose byte
//! order is [`SortKey`]'s order, and a [`Message`]'s fields.

use rusqlite::types::Type;

use crate::format::native::{fields, get_varint, put_field, put_varint_field};
use crate::format::{AttachmentBody, Codec, Hlc, LegacyTimestamp, WriterId};
use crate::group::MemberId;
use crate::timeline::{Attachment, Author, Message, MessageId, MessageStatus, Reaction, SortKey};

/// First byte of a native sort key. `SortKey::Native` sorts before `SortKey::File` (the
/// derived `Ord` compares variants in declaration order), so its tag is smaller.
const NATIVE_TAG: u8 = 0;
/// First byte of a shared-file sort key.
const FILE_TAG: u8 = 1;
/// Length of an encoded native key: tag, HLC, writer, seq, id.
const NATIVE_LEN: usize = 1 + 8 + 16 + 8 + 16;
/// Length of an encoded shared-file key: tag, pending, order.
const FILE_LEN: usize = 1 + 1 + 8;

/// Encodes a sort key so that comparing the bytes (`memcmp`, as SQLite compares BLOBs)
/// gives exactly `SortKey`'s `Ord`: a tag byte in variant order, then each field in
/// declaration order as fixed-width big-endian bytes. Keys of one variant all have the
/// same length, so no key is a proper prefix of another of its variant, and the tag
/// decides between variants.
pub(crate) fn encode_key(key: &SortKey) -> Vec<u8> {
    match key {
        SortKey::Native {
            hlc,
            writer,
            seq,
            id,
        } => {
            let mut out = Vec::with_capacity(NATIVE_LEN);
            out.push(NATIVE_TAG);
            out.extend_from_slice(&hlc.0.to_be_bytes());
            out.extend_from_slice(&writer.0);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&id.0);
            out
        }
        SortKey::File { pending, order } => {
            let mut out = Vec::with_capacity(FILE_LEN);
            out.push(FILE_TAG);
            out.push(*pending);
            out.extend_from_slice(&order.to_be_bytes());
            out
        }
    }
}

/// The inverse of [`encode_key`]; `None` for bytes it never writes.
pub(crate) fn decode_key(bytes: &[u8]) -> Option<SortKey> {
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let id_at = |at: usize| -> Option<[u8; 16]> { bytes.get(at..at + 16)?.try_into().ok() };
    match (bytes.first()?, bytes.len()) {
        (&NATIVE_TAG, NATIVE_LEN) => Some(SortKey::Native {
            hlc: Hlc(u64_at(1)?),
            writer: WriterId(id_at(9)?),
            seq: u64_at(25)?,
            id: MessageId(id_at(33)?),
        }),
        (&FILE_TAG, FILE_LEN) => Some(SortKey::File {
            pending: bytes[1],
            order: u64_at(2)?,
        }),
        _ => None,
    }
}

/// The message columns, in the order [`message_from_row`] reads them.
pub(crate) const MESSAGE_COLUMNS: &str = "id, sender, text, timestamp_ms, local_time, status, \
     codec, own, signer, edited, deleted, reactions, private, attachment, author";

/// A message as bound to the columns of [`MESSAGE_COLUMNS`] (plus `file_name`, which the
/// full-text index reads). A deleted message keeps no text, reactions or attachment.
pub(crate) struct MessageRow {
    pub id: Vec<u8>,
    pub sender: String,
    pub text: String,
    pub file_name: Option<String>,
    pub timestamp_ms: Option<i64>,
    pub local_time: Option<i64>,
    pub status: i64,
    pub codec: i64,
    pub own: bool,
    pub signer: Option<String>,
    pub edited: bool,
    pub deleted: bool,
    pub reactions: Option<Vec<u8>>,
    pub private: Option<Vec<u8>>,
    pub attachment: Option<Vec<u8>>,
}

impl MessageRow {
    pub fn new(m: &Message) -> Self {
        let kept = !m.deleted;
        MessageRow {
            id: m.id.0.to_vec(),
            sender: m.sender.clone(),
            text: if kept { m.text.clone() } else { String::new() },
            file_name: m
                .attachment
                .as_ref()
                .filter(|_| kept)
                .map(|a| a.name().to_owned()),
            // Bit for bit: u64 values above i64::MAX come back as they were.
            timestamp_ms: m.timestamp_ms.map(|t| t as i64),
            local_time: m.local_time.map(pack_local_time),
            status: match m.status {
                MessageStatus::Pending => 0,
                MessageStatus::Confirmed => 1,
            },
            codec: codec_code(m.codec),
            own: m.is_own,
            signer: m.signer.clone(),
            edited: m.edited && kept,
            deleted: m.deleted,
            reactions: Some(&m.reactions)
                .filter(|r| kept && !r.is_empty())
                .map(|r| encode_reactions(r)),
            private: m.private.map(|p| p.0.to_vec()),
            attachment: m
                .attachment
                .as_ref()
                .filter(|_| kept)
                .map(|a| a.body().encode()),
        }
    }
}

fn codec_code(codec: Codec) -> i64 {
    match codec {
        Codec::Legacy15 => 15,
        Codec::Fernet16 => 16,
        Codec::Fernet17 => 17,
        Codec::Native => 2,
    }
}

fn codec_from_code(code: i64) -> Option<Codec> {
    Some(match code {
        15 => Codec::Legacy15,
        16 => Codec::Fernet16,
        17 => Codec::Fernet17,
        2 => Codec::Native,
        _ => return None,
    })
}

fn pack_local_time(t: LegacyTimestamp) -> i64 {
    (i64::from(t.year) << 32)
        | (i64::from(t.month) << 24)
        | (i64::from(t.day) << 16)
        | (i64::from(t.hour) << 8)
        | i64::from(t.minute)
}

fn unpack_local_time(v: i64) -> Option<LegacyTimestamp> {
    if !(0..1 << 48).contains(&v) {
        return None;
    }
    Some(LegacyTimestamp {
        year: (v >> 32) as u16,
        month: (v >> 24) as u8,
        day: (v >> 16) as u8,
        hour: (v >> 8) as u8,
        minute: v as u8,
    })
}

mod reaction_tag {
    pub(super) const ENTRY: u64 = 1;
    pub(super) const REACTION: u64 = 1;
    pub(super) const OWN: u64 = 2;
    pub(super) const SENDER: u64 = 3;
}

/// Reactions as TLV fields (the record format's helpers): one field per reaction, holding
/// its text, `own` and each sender in order.
fn encode_reactions(reactions: &[Reaction]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in reactions {
        let mut entry = Vec::with_capacity(16 + r.reaction.len());
        put_field(&mut entry, reaction_tag::REACTION, r.reaction.as_bytes());
        put_varint_field(&mut entry, reaction_tag::OWN, u64::from(r.own));
        for s in &r.senders {
            put_field(&mut entry, reaction_tag::SENDER, s.as_bytes());
        }
        put_field(&mut out, reaction_tag::ENTRY, &entry);
    }
    out
}

fn decode_reactions(bytes: &[u8]) -> Option<Vec<Reaction>> {
    let text = |v: &[u8]| std::str::from_utf8(v).ok().map(str::to_owned);
    let mut out = Vec::new();
    for field in fields(bytes) {
        let (tag, entry) = field.ok()?;
        if tag != reaction_tag::ENTRY {
            return None;
        }
        let (mut reaction, mut own, mut senders) = (None, None, Vec::new());
        for f in fields(entry) {
            match f.ok()? {
                (reaction_tag::REACTION, v) if reaction.is_none() => reaction = Some(text(v)?),
                (reaction_tag::OWN, v) if own.is_none() => match get_varint(v).ok()? {
                    (b @ 0..=1, []) => own = Some(b == 1),
                    _ => return None,
                },
                (reaction_tag::SENDER, v) => senders.push(text(v)?),
                _ => return None,
            }
        }
        out.push(Reaction {
            reaction: reaction?,
            senders,
            own: own?,
        });
    }
    Some(out)
}

/// A column holds a value the store never writes: the file is damaged or not ours.
fn invalid(column: usize, what: &'static str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Blob, what.into())
}

fn id16(column: usize, v: &[u8]) -> rusqlite::Result<[u8; 16]> {
    v.try_into()
        .map_err(|_| invalid(column, "an id is not 16 bytes"))
}

/// Reads a message and its author from the columns of [`MESSAGE_COLUMNS`], starting at
/// `at`.
pub(crate) fn authored_from_row(
    row: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<(Message, Option<Author>)> {
    let message = message_from_row(row, at)?;
    let author = match row.get::<_, Option<Vec<u8>>>(at + 14)? {
        Some(b) => Some(Author(id16(at + 14, &b)?)),
        None => None,
    };
    Ok((message, author))
}

/// Reads a message from the columns of [`MESSAGE_COLUMNS`], starting at `at`.
pub(crate) fn message_from_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Message> {
    let id: Vec<u8> = row.get(at)?;
    let status = match row.get::<_, i64>(at + 5)? {
        0 => MessageStatus::Pending,
        1 => MessageStatus::Confirmed,
        _ => return Err(invalid(at + 5, "unknown message status")),
    };
    let codec =
        codec_from_code(row.get(at + 6)?).ok_or_else(|| invalid(at + 6, "unknown codec"))?;
    let local_time = match row.get::<_, Option<i64>>(at + 4)? {
        Some(v) => Some(unpack_local_time(v).ok_or_else(|| invalid(at + 4, "bad local time"))?),
        None => None,
    };
    let reactions = match row.get::<_, Option<Vec<u8>>>(at + 11)? {
        Some(b) => decode_reactions(&b).ok_or_else(|| invalid(at + 11, "bad reactions"))?,
        None => Vec::new(),
    };
    let private = match row.get::<_, Option<Vec<u8>>>(at + 12)? {
        Some(b) => Some(MemberId(id16(at + 12, &b)?)),
        None => None,
    };
    let attachment = match row.get::<_, Option<Vec<u8>>>(at + 13)? {
        Some(b) => Some(Attachment::new(
            AttachmentBody::decode(&b).map_err(|_| invalid(at + 13, "bad attachment"))?,
        )),
        None => None,
    };
    let mut m = Message::new(
        MessageId(id16(at, &id)?),
        row.get::<_, String>(at + 1)?,
        row.get::<_, String>(at + 2)?,
        codec,
    );
    m.timestamp_ms = row.get::<_, Option<i64>>(at + 3)?.map(|t| t as u64);
    m.local_time = local_time;
    m.status = status;
    m.is_own = row.get(at + 7)?;
    m.signer = row.get(at + 8)?;
    m.edited = row.get(at + 9)?;
    m.deleted = row.get(at + 10)?;
    m.reactions = reactions;
    m.private = private;
    m.attachment = attachment;
    Ok(m)
}
