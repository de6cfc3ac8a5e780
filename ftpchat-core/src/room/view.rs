//! What the user sees and sends: the timeline, the outbox and what the next sync returns.
//! CPU only, never held across I/O; generic over the layout's [`Writer`], so a view can
//! only be paired with the layout that writes its lines.

use std::sync::Arc;

use super::config::Clock;
use super::layout::Writer;
use super::state::Outgoing;
use super::{Outbox, RoomError, RoomEvent, SyncUpdate};
use crate::format::{Codec, CompatMessage, LegacyTimestamp, LineEncoder, NativeRecord, RecordBody};
use crate::timeline::{Inserted, Message, MessageId, MessageStatus, SortKey, Timeline};

/// The timeline, the outbox and what the next sync returns.
pub(crate) struct View<W> {
    pub timeline: Timeline,
    pub outbox: Outbox,
    /// Unsent lines from an earlier run that do not decode under this run's key: kept in
    /// the state file, never delivered under a key that may be wrong.
    pub held: Vec<Outgoing>,
    pub events: Vec<RoomEvent>,
    pub display_name: String,
    new_messages: Vec<(SortKey, Message)>,
    confirmed: Vec<MessageId>,
    pub writer: W,
    pub encoder: LineEncoder,
    pub clock: Arc<dyn Clock>,
}

impl<W: Writer> View<W> {
    pub fn new(writer: W, display_name: String, clock: Arc<dyn Clock>) -> Self {
        View {
            timeline: Timeline::new(),
            outbox: Outbox::new(),
            held: Vec::new(),
            events: Vec::new(),
            display_name,
            new_messages: Vec::new(),
            confirmed: Vec::new(),
            writer,
            encoder: LineEncoder::new(),
            clock,
        }
    }

    /// Encodes `text` as this client's next line: pending in the timeline, queued in the
    /// outbox.
    pub fn send(&mut self, text: &str) -> Result<MessageId, RoomError> {
        let now = self.clock.now_ms();
        let offset = self.clock.local_offset_secs(now);
        let (out, message) =
            self.writer
                .encode(text, &self.display_name, now, offset, &mut self.encoder)?;
        let id = out.id;
        self.timeline.insert(out.key, message);
        self.outbox.push_back(out);
        Ok(id)
    }

    /// Everything gathered since the last call.
    pub fn take_update(&mut self) -> SyncUpdate {
        SyncUpdate {
            messages: {
                // In timeline order, whatever order the files were read in.
                let mut new = std::mem::take(&mut self.new_messages);
                new.sort_by_key(|(key, _)| *key);
                new.into_iter().map(|(_, m)| m).collect()
            },
            confirmed: std::mem::take(&mut self.confirmed),
            events: std::mem::take(&mut self.events),
        }
    }

    /// Adds a message read from the server (or confirms an own one); it is returned by
    /// the next sync unless it was already there.
    pub fn insert(&mut self, key: SortKey, message: Message) {
        let id = message.id;
        match self.timeline.insert(key, message.clone()) {
            Inserted::New => self.new_messages.push((key, message)),
            Inserted::Confirmed => self.confirmed.push(id),
            Inserted::Duplicate => {}
        }
    }

    /// Marks an own message as on the server (an append to the own log was verified).
    pub fn confirm(&mut self, out: &Outgoing) {
        if let Some(mut m) = self.timeline.get(&out.id).cloned() {
            m.status = MessageStatus::Confirmed;
            self.insert(out.key, m);
        }
    }

    /// A native record from the server: shown if it is a text, kept for deduplication
    /// otherwise. `new` is `false` for history loaded after a restart (not returned by
    /// sync).
    pub fn absorb_native(&mut self, record: &NativeRecord, own: bool, new: bool) {
        self.absorb_signed(record, own, new, None);
    }

    /// [`absorb_native`](Self::absorb_native) for a member room's record, with the
    /// fingerprint of the member device that signed it.
    pub fn absorb_signed(
        &mut self,
        record: &NativeRecord,
        own: bool,
        new: bool,
        signer: Option<String>,
    ) {
        let now = self.clock.now_ms();
        self.writer.observe(record, now);
        match &record.body {
            RecordBody::Text(text) => {
                let key = native_key(record);
                let mut message = native_message(record, text.clone(), own);
                message.signer = signer;
                if new {
                    self.insert(key, message);
                } else {
                    self.timeline.insert(key, message);
                }
            }
            // Not shown, but kept: a later record with its id is a copy (SPEC §8.4).
            RecordBody::Other { .. } => {
                self.timeline.insert_hidden(MessageId(record.id.0));
            }
        }
    }
}

/// FTPChat's local timestamp for `now_ms` at a UTC offset.
pub(crate) fn local_timestamp(now_ms: u64, offset_secs: i32) -> LegacyTimestamp {
    use chrono::{Datelike, Timelike};
    let secs = (now_ms / 1000) as i64 + i64::from(offset_secs);
    let t = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .naive_utc();
    LegacyTimestamp {
        year: t.year().clamp(0, 9999) as u16,
        month: t.month() as u8,
        day: t.day() as u8,
        hour: t.hour() as u8,
        minute: t.minute() as u8,
    }
}

/// Where a native record sorts in the timeline.
pub(crate) fn native_key(record: &NativeRecord) -> SortKey {
    SortKey::Native {
        hlc: record.hlc,
        writer: record.writer,
        seq: record.seq,
        id: MessageId(record.id.0),
    }
}

/// A native record as a message, confirmed (as read from the server); the sender marks
/// its own new messages pending, as `compat_message`'s callers do.
pub(crate) fn native_message(record: &NativeRecord, text: String, own: bool) -> Message {
    Message {
        id: MessageId(record.id.0),
        sender: record.sender.clone(),
        text,
        timestamp_ms: Some(record.hlc.wall_ms()),
        local_time: None,
        status: MessageStatus::Confirmed,
        codec: Codec::Native,
        is_own: own,
        signer: None,
    }
}

/// A FTPChat line as a message, confirmed.
pub(crate) fn compat_message(
    id: MessageId,
    codec: Codec,
    m: &CompatMessage,
    token_time: Option<u64>,
) -> Message {
    // Show the text without the newline FTPChat's GUI appends.
    let text = m.text.strip_suffix('\n').unwrap_or(&m.text).to_owned();
    Message {
        id,
        sender: m.username.clone().unwrap_or_default(),
        text,
        timestamp_ms: token_time.map(|s| s.saturating_mul(1000)),
        local_time: m.timestamp,
        status: MessageStatus::Confirmed,
        codec,
        is_own: false,
        signer: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_timestamps() {
        let ts = local_timestamp(1_764_873_000_000, 3600);
        assert_eq!(ts.to_string(), "2025-12-04 19:30");
    }
}
