//! What the user sees and sends: the timeline, the outbox and what the next sync returns.
//! CPU only, never held across I/O; generic over the layout's [`Writer`], so a view can
//! only be paired with the layout that writes its lines.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::config::Clock;
use super::layout::Writer;
use super::state::Outgoing;
use super::stored::{RoomStore, MEMORY_WINDOW, SPILL_AT};
use super::{Outbox, RoomError, RoomEvent, SyncUpdate};
use crate::format::{
    AttachmentBody, Codec, CompatMessage, LegacyTimestamp, LineEncoder, NativeRecord, RecordBody,
    WriterId,
};
use crate::group::MemberId;
use crate::timeline::{
    Applied, Attachment, Author, ChangeKind, Inserted, Message, MessageChange, MessageId,
    MessageStatus, SortKey, Timeline,
};

/// The timeline, the outbox and what the next sync returns.
pub(crate) struct View<W> {
    pub timeline: Timeline,
    pub outbox: Outbox,
    /// Unsent lines from an earlier run that do not decode under this run's key: kept in
    /// the state file, never delivered under a key that may be wrong.
    pub held: Vec<Outgoing>,
    pub events: Vec<RoomEvent>,
    pub display_name: String,
    /// Messages new since the last update (the timeline holds each until then).
    new_messages: Vec<(SortKey, MessageId)>,
    confirmed: Vec<MessageId>,
    /// Messages whose edits, delete or reactions changed since the last update.
    changed: Vec<MessageId>,
    /// With a local store: new messages left out of the next update (older than the
    /// [`MEMORY_WINDOW`] newest new ones; the store holds them).
    left_out: u64,
    /// A store write during this sync failed: no more until the next update (the sync's
    /// own save reports the error).
    spill_failed: bool,
    /// Member rooms: the members this member blocks (SPEC §8.4.2), and the place of the
    /// block list that said so (the newest one wins).
    blocked: BTreeSet<MemberId>,
    blocked_at: Option<SortKey>,
    /// Blobs of attachments this member deleted (the delete record's id, the blob's path
    /// in the room): removed from the server once the delete is there (SPEC §8.4.3).
    pub blob_removals: Vec<(MessageId, String)>,
    pub writer: W,
    pub encoder: LineEncoder,
    pub clock: Arc<dyn Clock>,
    /// With a local store: where messages evicted from the timeline's window are read
    /// back from when a change applies to them.
    pub store: Option<Arc<RoomStore>>,
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
            changed: Vec::new(),
            left_out: 0,
            spill_failed: false,
            blocked: BTreeSet::new(),
            blocked_at: None,
            blob_removals: Vec::new(),
            writer,
            encoder: LineEncoder::new(),
            clock,
            store: None,
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
        match self.writer.author() {
            Ok(author) => self.timeline.insert_authored(out.key, message, author),
            Err(_) => self.timeline.insert(out.key, message),
        };
        self.outbox.push_back(out);
        Ok(id)
    }

    /// Encodes an attachment record (its blob is already on the server) as this client's
    /// next line: pending in the timeline, queued in the outbox.
    pub fn send_attachment(&mut self, body: AttachmentBody) -> Result<MessageId, RoomError> {
        let now = self.clock.now_ms();
        let author = self.writer.author()?;
        let (out, record) = self.writer.encode_record(
            RecordBody::Attachment(Box::new(body)),
            &self.display_name,
            now,
            &mut self.encoder,
        )?;
        let Some(mut message) = shown_message(&record, true) else {
            return Err(RoomError::Unsupported("not an attachment".into()));
        };
        message.status = MessageStatus::Pending;
        message.signer = self.writer.signer_fingerprint();
        let id = out.id;
        self.timeline.insert_authored(out.key, message, author);
        self.outbox.push_back(out);
        Ok(id)
    }

    /// Encodes an edit, delete or reaction as this client's next line, applies it to the
    /// timeline at once and queues it. Refused before anything is written when the target
    /// is not a text message here, or (edits, deletes) not this user's or deleted.
    pub fn send_change(&mut self, body: RecordBody) -> Result<MessageId, RoomError> {
        let Some(target) = body.target().map(|t| MessageId(t.0)) else {
            return Err(RoomError::Unsupported("not a change".into()));
        };
        let author = self.writer.author()?;
        self.load_evicted(&target);
        let Some(message) = self.timeline.get(&target) else {
            return Err(RoomError::UnknownMessage(target));
        };
        if !matches!(body, RecordBody::Reaction { .. }) {
            if message.deleted {
                return Err(RoomError::NotAllowed("the message is deleted".into()));
            }
            if self.timeline.author_of(&target) != Some(author) {
                return Err(RoomError::NotAllowed(
                    "only its author may edit or delete a message".into(),
                ));
            }
        }
        // A change of a private message is private too: its text must not reach others.
        let conversation = message.private;
        let now = self.clock.now_ms();
        let (out, record) = match conversation {
            Some(to) => {
                let (out, mut record) = self.writer.encode_private(
                    to,
                    body.clone(),
                    &self.display_name,
                    now,
                    &mut self.encoder,
                )?;
                record.body = body;
                (out, record)
            }
            None => self
                .writer
                .encode_record(body, &self.display_name, now, &mut self.encoder)?,
        };
        let id = out.id;
        self.apply_change(&record, author, true, true);
        self.outbox.push_back(out);
        Ok(id)
    }

    /// Member rooms: encodes `text` as a private message to member `to` (SPEC §8.4.2):
    /// pending in the timeline in the conversation with `to`, queued in the outbox.
    pub fn send_private(&mut self, to: MemberId, text: &str) -> Result<MessageId, RoomError> {
        if self.writer.signer_fingerprint().is_none() {
            return Err(RoomError::NotAMemberRoom);
        }
        let author = self.writer.author()?;
        let now = self.clock.now_ms();
        let inner = RecordBody::Text(text.to_owned());
        let (out, record) = self.writer.encode_private(
            to,
            inner.clone(),
            &self.display_name,
            now,
            &mut self.encoder,
        )?;
        let id = out.id;
        let signer = self.writer.signer_fingerprint();
        self.absorb_opened(&record, inner, to, author, true, false, signer);
        self.timeline.set_status(&id, MessageStatus::Pending);
        self.outbox.push_back(out);
        Ok(id)
    }

    /// Member rooms: blocks (`block`) or unblocks `member` on every device of this member:
    /// a new block list, sealed to this member's devices only, applied here at once.
    pub fn set_blocked(&mut self, member: MemberId, block: bool) -> Result<(), RoomError> {
        if self.writer.signer_fingerprint().is_none() {
            return Err(RoomError::NotAMemberRoom);
        }
        let author = self.writer.author()?;
        let me = MemberId(author.0);
        if member == me {
            return Err(RoomError::NotAllowed("you cannot block yourself".into()));
        }
        let mut list = self.blocked.clone();
        let changed = if block {
            list.insert(member)
        } else {
            list.remove(&member)
        };
        if !changed {
            return Ok(());
        }
        let inner = RecordBody::BlockList(list.iter().map(|m| m.0).collect());
        let now = self.clock.now_ms();
        let (out, record) = self.writer.encode_private(
            me,
            inner.clone(),
            &self.display_name,
            now,
            &mut self.encoder,
        )?;
        self.absorb_opened(&record, inner, me, author, true, false, None);
        self.outbox.push_back(out);
        Ok(())
    }

    /// The block list as saved in the state file (a restart does not read it again).
    pub fn blocked_state(&self) -> Option<(SortKey, Vec<[u8; 16]>)> {
        let at = self.blocked_at?;
        Some((at, self.blocked.iter().map(|m| m.0).collect()))
    }

    /// The block list saved by an earlier run.
    pub fn restore_blocked(&mut self, (at, list): (SortKey, Vec<[u8; 16]>)) {
        self.blocked_at = Some(at);
        self.blocked = list.into_iter().map(MemberId).collect();
    }

    /// The members this member blocks.
    pub fn blocked(&self) -> Vec<MemberId> {
        self.blocked.iter().copied().collect()
    }

    /// `true` when this member blocks anyone.
    pub fn blocks_anyone(&self) -> bool {
        !self.blocked.is_empty()
    }

    /// `true` when this member blocks the member `author`.
    pub fn blocks(&self, author: Author) -> bool {
        self.blocked.contains(&MemberId(author.0))
    }

    /// Reports `id` as changed with the next update (a message an earlier run returned,
    /// changed by a record read now).
    pub fn mark_changed(&mut self, id: MessageId) {
        self.changed.push(id);
    }

    /// `true` when `message` may be shown: not by a blocked member.
    pub fn shows(&self, message: &Message) -> bool {
        self.blocked.is_empty()
            || !self
                .timeline
                .author_of(&message.id)
                .is_some_and(|a| self.blocked.contains(&MemberId(a.0)))
    }

    /// Everything gathered since the last call.
    pub fn take_update(&mut self) -> SyncUpdate {
        self.trim_new_messages();
        if self.left_out > 0 {
            self.events.push(RoomEvent::MessagesLeftOut {
                messages: std::mem::take(&mut self.left_out),
            });
        }
        self.spill_failed = false;
        // In timeline order, whatever order the files were read in; as they are now (a
        // change read after a message in the same sync is already applied).
        let mut new = std::mem::take(&mut self.new_messages);
        new.sort_by_key(|(key, _)| *key);
        let messages: Vec<Message> = new
            .into_iter()
            .filter_map(|(_, id)| self.timeline.get(&id).cloned())
            .filter(|m| self.shows(m))
            .collect();
        let mut changed: Vec<MessageId> = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        changed.dedup();
        // A long read may have stored and dropped a changed message: read it back.
        for id in &changed {
            self.load_evicted(id);
        }
        let changed = changed
            .into_iter()
            .filter(|id| !messages.iter().any(|m| m.id == *id))
            .filter_map(|id| self.timeline.get(&id).cloned())
            .filter(|m| self.shows(m))
            .collect();
        // Nothing waits to be reported now: older messages the store holds may go.
        self.timeline.evict_stored(&HashSet::new());
        SyncUpdate {
            messages,
            confirmed: std::mem::take(&mut self.confirmed),
            events: std::mem::take(&mut self.events),
            changed,
        }
    }

    /// With a local store, keeps the [`MEMORY_WINDOW`] newest of the new messages for the
    /// next update and counts the others as left out (the store holds them).
    fn trim_new_messages(&mut self) {
        if self.store.is_none() || self.new_messages.len() <= MEMORY_WINDOW {
            return;
        }
        self.new_messages.sort_by_key(|(key, _)| *key);
        let excess = self.new_messages.len() - MEMORY_WINDOW;
        self.new_messages.drain(..excess);
        self.left_out += excess as u64;
    }

    /// During a long read (a first sync, a history): once the timeline holds
    /// [`SPILL_AT`] messages, puts what was read into the store and drops older messages
    /// from memory, keeping those the next update reports. A store that fails is not
    /// written again until the next update; the sync's save reports its error.
    fn spill_if_full(&mut self) {
        if self.timeline.len() < SPILL_AT || self.spill_failed {
            return;
        }
        let Some(store) = self.store.clone() else {
            return;
        };
        if let Err(e) = store.put_touched(self, false) {
            log::warn!("local store: {e}");
            self.spill_failed = true;
            return;
        }
        self.trim_new_messages();
        let keep: HashSet<MessageId> = (self.new_messages.iter().map(|(_, id)| *id))
            .chain(self.changed.iter().copied())
            .collect();
        self.timeline.evict_stored(&keep);
    }

    /// Brings `id` back into the timeline from the store when it was evicted from the
    /// window, so a change can apply to it (and read its attachment). A store that cannot
    /// read it leaves it out: the change is kept and shows when the message is next read.
    fn load_evicted(&mut self, id: &MessageId) {
        if !self.timeline.is_evicted(id) {
            return;
        }
        let Some(store) = &self.store else { return };
        match store.entry(id) {
            Ok(Some((key, message, author))) => {
                self.timeline.restore(key, message, author);
            }
            Ok(None) => log::warn!("local store: message {id} is not there"),
            Err(e) => log::warn!("local store: {e}"),
        }
    }

    /// The writer of a shown native message, also of one only the store holds now (a
    /// record with its id from another writer is then reported, not taken for a copy).
    pub fn writer_of(&self, id: &MessageId) -> Option<WriterId> {
        if !self.timeline.is_evicted(id) {
            return self.timeline.writer_of(id);
        }
        let key = self.store.as_ref()?.sort_key(id).unwrap_or_else(|e| {
            log::warn!("local store: {e}");
            None
        });
        match key? {
            SortKey::Native { writer, .. } => Some(writer),
            SortKey::File { .. } => None,
        }
    }

    /// Adds a message read from the server (or confirms an own one); it is returned by
    /// the next sync unless it was already there.
    pub fn insert(&mut self, key: SortKey, message: Message) {
        let id = message.id;
        match self.timeline.insert(key, message) {
            Inserted::New => self.new_messages.push((key, id)),
            Inserted::Confirmed => self.confirmed.push(id),
            Inserted::Duplicate => {}
        }
        self.spill_if_full();
    }

    /// Marks an own message as on the server (an append to the own log was verified).
    pub fn confirm(&mut self, out: &Outgoing) {
        if let Some(mut m) = self.timeline.get(&out.id).cloned() {
            m.status = MessageStatus::Confirmed;
            self.insert(out.key, m);
        }
    }

    /// A native record from the server: shown if it is a text, applied if it changes a
    /// message, kept for deduplication otherwise. `author` is who wrote it (SPEC §8.4.1);
    /// `new` is `false` for history loaded after a restart (not returned by sync).
    pub fn absorb_native(&mut self, record: &NativeRecord, own: bool, new: bool, author: Author) {
        self.absorb_signed(record, own, new, None, author);
    }

    /// [`absorb_native`](Self::absorb_native) for a member room's record, with the
    /// fingerprint of the member device that signed it.
    pub fn absorb_signed(
        &mut self,
        record: &NativeRecord,
        own: bool,
        new: bool,
        signer: Option<String>,
        author: Author,
    ) {
        let now = self.clock.now_ms();
        self.writer.observe(record, now);
        let RecordBody::Private { recipient, .. } = &record.body else {
            self.absorb_body(record, None, author, own, new, signer);
            return self.spill_if_full();
        };
        match self.writer.open_private(record) {
            Ok(Some(inner)) => {
                // The conversation is with the other member: the recipient when this
                // member sent it, the sender otherwise.
                let mine = self.writer.author().ok() == Some(author);
                let with = if mine {
                    MemberId(*recipient)
                } else {
                    MemberId(author.0)
                };
                self.absorb_opened(record, inner, with, author, own, new, signer);
            }
            // Not for this device: kept for deduplication, not shown.
            Ok(None) => {
                self.timeline.insert_hidden(MessageId(record.id.0));
            }
            Err(reason) => {
                self.timeline.insert_hidden(MessageId(record.id.0));
                if new {
                    self.events.push(RoomEvent::PrivateRecordRefused {
                        record: MessageId(record.id.0),
                        reason,
                    });
                }
            }
        }
        self.spill_if_full();
    }

    /// The opened inner body of private record `record` of the conversation `with`.
    #[allow(clippy::too_many_arguments)]
    fn absorb_opened(
        &mut self,
        record: &NativeRecord,
        inner: RecordBody,
        with: MemberId,
        author: Author,
        own: bool,
        new: bool,
        signer: Option<String>,
    ) {
        let mut opened = record.clone();
        opened.body = inner;
        self.absorb_body(&opened, Some(with), author, own, new, signer);
    }

    /// A record's body (a private record's inner one, with its conversation `private`):
    /// a text is shown, a change applied, this member's own block list taken; the rest
    /// is kept for deduplication only (SPEC §8.4).
    fn absorb_body(
        &mut self,
        record: &NativeRecord,
        private: Option<MemberId>,
        author: Author,
        own: bool,
        new: bool,
        signer: Option<String>,
    ) {
        let key = native_key(record);
        match &record.body {
            RecordBody::Text(_) | RecordBody::Attachment(_) => {
                let Some(mut message) = shown_message(record, own) else {
                    return;
                };
                message.signer = signer;
                message.private = private;
                let id = message.id;
                match self.timeline.insert_authored(key, message, author) {
                    Inserted::New if new => self.new_messages.push((key, id)),
                    Inserted::Confirmed if new => self.confirmed.push(id),
                    _ => {}
                }
                self.report_refused_changes(new);
            }
            RecordBody::Edit { .. } | RecordBody::Delete { .. } | RecordBody::Reaction { .. } => {
                self.apply_change(record, author, own, new);
            }
            // Only this member's own list, to itself, counts; the newest one wins.
            RecordBody::BlockList(list)
                if private == Some(MemberId(author.0))
                    && self.writer.author().ok() == Some(author)
                    && self.blocked_at.is_none_or(|k| k < key) =>
            {
                self.timeline.insert_hidden(MessageId(record.id.0));
                self.blocked_at = Some(key);
                self.blocked = list.iter().map(|m| MemberId(*m)).collect();
            }
            // Not shown, but kept: a later record with its id is a copy (SPEC §8.4).
            _ => {
                self.timeline.insert_hidden(MessageId(record.id.0));
            }
        }
    }

    /// An own record of the outbox saved by an earlier run: a text is shown pending, a
    /// change applied again.
    pub fn restore_own(&mut self, key: SortKey, record: &NativeRecord, signer: Option<String>) {
        let author = self.writer.author();
        match &record.body {
            RecordBody::Text(_) | RecordBody::Attachment(_) => {
                let Some(mut message) = shown_message(record, true) else {
                    return;
                };
                message.status = MessageStatus::Pending;
                message.signer = signer;
                match author {
                    Ok(a) => self.timeline.insert_authored(key, message, a),
                    Err(_) => self.timeline.insert(key, message),
                };
            }
            RecordBody::Private { recipient, .. } => {
                if let (Ok(a), Ok(Some(inner))) = (author, self.writer.open_private(record)) {
                    let id = MessageId(record.id.0);
                    self.absorb_opened(record, inner, MemberId(*recipient), a, true, false, signer);
                    self.timeline.set_status(&id, MessageStatus::Pending);
                }
            }
            _ => {
                if let Ok(a) = author {
                    self.apply_change(record, a, true, false);
                }
            }
        }
    }

    /// Applies an edit, delete or reaction record to the timeline; `new` reports what it
    /// changed (and what was refused) with the next update.
    fn apply_change(&mut self, record: &NativeRecord, author: Author, own: bool, new: bool) {
        let kind = match &record.body {
            RecordBody::Edit { text, .. } => ChangeKind::Edit(text.clone()),
            RecordBody::Delete { .. } => ChangeKind::Delete,
            RecordBody::Reaction {
                reaction, removed, ..
            } => ChangeKind::React(if *removed {
                String::new()
            } else {
                reaction.clone()
            }),
            _ => return,
        };
        let Some(target) = record.body.target() else {
            return;
        };
        // A copy of a known change (a history re-read) changes nothing: no store read.
        if !self.timeline.contains(&MessageId(record.id.0)) {
            self.load_evicted(&MessageId(target.0));
        }
        // This member deletes one of its files: its blob goes too, once the delete is on
        // the server (any of the member's devices may do it; removing twice is harmless).
        if matches!(record.body, RecordBody::Delete { .. })
            && self.writer.author().ok() == Some(author)
            && self.timeline.author_of(&MessageId(target.0)) == Some(author)
        {
            if let Some(a) = self
                .timeline
                .get(&MessageId(target.0))
                .and_then(|m| m.attachment.as_ref())
            {
                self.blob_removals
                    .push((MessageId(record.id.0), a.body().path.clone()));
            }
        }
        let applied = self.timeline.apply_change(MessageChange {
            id: MessageId(record.id.0),
            key: native_key(record),
            author,
            sender: record.sender.clone(),
            own,
            target: MessageId(target.0),
            kind,
        });
        if let (Applied::Changed(id), true) = (applied, new) {
            self.changed.push(id);
        }
        self.report_refused_changes(new);
    }

    fn report_refused_changes(&mut self, new: bool) {
        for r in self.timeline.take_refused_changes() {
            if new {
                self.events.push(RoomEvent::ChangeRefused {
                    change: r.id,
                    target: r.target,
                    reason: r.reason.to_owned(),
                });
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
        edited: false,
        deleted: false,
        reactions: Vec::new(),
        private: None,
        attachment: None,
    }
}

/// The message a shown record (a text or an attachment) becomes; `None` for other kinds.
pub(crate) fn shown_message(record: &NativeRecord, own: bool) -> Option<Message> {
    match &record.body {
        RecordBody::Text(text) => Some(native_message(record, text.clone(), own)),
        RecordBody::Attachment(body) => {
            let mut message = native_message(record, body.caption.clone(), own);
            message.attachment = Some(Attachment::new((**body).clone()));
            Some(message)
        }
        _ => None,
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
        edited: false,
        deleted: false,
        reactions: Vec::new(),
        private: None,
        attachment: None,
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
