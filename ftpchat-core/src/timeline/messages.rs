use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::changes::{Applied, Author, Changes, MessageChange, Reaction, RefusedChange};
use crate::format::{Codec, CompatMessage, Hlc, LegacyTimestamp, WriterId};
use crate::group::MemberId;

/// A message's id: a native record's id, or for a FTPChat line a hash of its content
/// (see [`MessageId::of_compat`]), so the same line read twice is one message.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// Lowercase hex, 32 characters.
    pub fn to_hex(&self) -> String {
        crate::format::RecordId(self.0).to_hex()
    }

    /// Parses 32 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        crate::format::RecordId::from_hex(s).map(|r| MessageId(r.0))
    }

    /// The id of a FTPChat message: for a 1.6 or 1.7 line, the SHA-256 of the decoded
    /// Fernet token (so a copy with other base64 padding, or the same token in the other
    /// client's line shape, is the same message); for a 1.5 line, of the plaintext (its
    /// encoding is deterministic up to the zlib implementation). First 16 bytes.
    pub fn of_compat(codec: Codec, line: &[u8], message: &CompatMessage) -> Self {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        let token = match codec {
            Codec::Fernet17 => crate::crypto::fernet::token_bytes(line),
            Codec::Fernet16 => {
                let mut raw = Vec::new();
                crate::format::compat::unwrap_fernet16_into(line, &mut raw)
                    .ok()
                    .and_then(|()| crate::crypto::fernet::token_bytes(&raw))
            }
            _ => None,
        };
        match token {
            Some(raw) => {
                // The domain string predates 1.7 support; ids in saved state depend on it.
                hash.update(b"ftpchat 1.6 line\0");
                hash.update(raw);
            }
            None => {
                hash.update(b"ftpchat 1.5 line\0");
                hash.update(message.to_plaintext().as_bytes());
            }
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash.finalize()[..16]);
        MessageId(id)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.to_hex())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Whether a message is on the server yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Sent locally, not yet confirmed on the server (in the outbox).
    Pending,
    /// Read back from the server.
    Confirmed,
}

/// A chat message as an application shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// The sender's display name (chosen by the sender; not proof of identity).
    pub sender: String,
    /// The text.
    pub text: String,
    /// When it was written, milliseconds since the Unix epoch (UTC), when known: the HLC
    /// time of native records, the token time of FTPChat 1.6 lines.
    pub timestamp_ms: Option<u64>,
    /// The writer's local time as written in a FTPChat line (no time zone).
    pub local_time: Option<LegacyTimestamp>,
    /// Pending or confirmed.
    pub status: MessageStatus,
    /// The codec of its line.
    pub codec: Codec,
    /// `true` when this client sent it. In a member room: signed by this device's key.
    pub is_own: bool,
    /// Member rooms: the fingerprint (SPEC §16.3) of the device that signed it, which the
    /// membership says belongs to a member. `None` for records that carry no signature.
    pub signer: Option<String>,
    /// Its author changed its text (SPEC §8.4.1); `text` is the newest edit's.
    pub edited: bool,
    /// Its author deleted it: `text` and `reactions` are empty, `edited` is `false`.
    pub deleted: bool,
    /// The members' reactions, the most chosen first.
    pub reactions: Vec<Reaction>,
    /// Member rooms: `Some(member)` for a private message (SPEC §8.4.2) of this user's
    /// conversation with `member` (this user's own member id for a note to itself); `None`
    /// for a message to the whole room.
    pub private: Option<MemberId>,
    /// A file sent with this message (SPEC §8.4.3); `text` is its caption. Download it
    /// with [`Room::save_attachment`](crate::Room::save_attachment). `None` once deleted.
    pub attachment: Option<Attachment>,
}

/// A file attached to a message: its name, size and media type as the sender announced
/// them. The key and place of its encrypted blob stay inside (never in `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    body: std::sync::Arc<crate::format::AttachmentBody>,
}

impl Attachment {
    pub(crate) fn new(body: crate::format::AttachmentBody) -> Self {
        Attachment {
            body: std::sync::Arc::new(body),
        }
    }

    /// The file's name (one path component, checked when the record was read: no `/`,
    /// `\`, `:` or control characters).
    pub fn name(&self) -> &str {
        &self.body.name
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.body.size
    }

    /// The media type the sender announced, e.g. `image/png`.
    pub fn media_type(&self) -> &str {
        &self.body.media_type
    }

    pub(crate) fn body(&self) -> &crate::format::AttachmentBody {
        &self.body
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.name())
            .field("size", &self.size())
            .field("media_type", &self.media_type())
            .finish_non_exhaustive()
    }
}

impl Message {
    /// A confirmed message of another client, with no time (set the public fields for
    /// the rest). Rooms build their messages themselves; this is for tests and for tools
    /// that show messages of their own.
    pub fn new(
        id: MessageId,
        sender: impl Into<String>,
        text: impl Into<String>,
        codec: Codec,
    ) -> Self {
        Message {
            id,
            sender: sender.into(),
            text: text.into(),
            timestamp_ms: None,
            local_time: None,
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
}

/// Where a message sorts in the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SortKey {
    /// Native rooms: hybrid logical clock, then writer id, then sequence number.
    Native {
        /// HLC time.
        hlc: Hlc,
        /// Writer id.
        writer: WriterId,
        /// Per-writer sequence.
        seq: u64,
        /// Record id: the last tie-break, so every client orders even a misbehaving
        /// writer's records the same way.
        id: MessageId,
    },
    /// Shared files: file order (an arrival counter), pending messages last.
    File {
        /// 0 for confirmed lines, 1 for pending ones (after every confirmed line).
        pending: u8,
        /// Arrival order.
        order: u64,
    },
}

/// The merged, ordered, deduplicated messages of a room.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    by_key: BTreeMap<SortKey, Message>,
    keys: HashMap<MessageId, SortKey>,
    /// Ids of accepted records that are not shown (kinds this version does not display):
    /// kept so a later record with the same id is a duplicate (SPEC §8.4).
    hidden: HashSet<MessageId>,
    /// Edits, deletes and reactions, and who wrote each shown message.
    changes: Changes,
    /// Shown messages added or changed since [`Timeline::take_touched`] last ran, when
    /// tracked ([`Timeline::track_touched`]; a room with a local store tracks them).
    touched: Option<HashSet<MessageId>>,
    /// With a local store: how many of the newest messages [`Timeline::evict_stored`]
    /// keeps in memory. The store holds older ones and [`Timeline::restore`] brings one
    /// back.
    window: Option<usize>,
    /// Which messages were evicted in this run: a copy read later is a duplicate, and a
    /// change to one applies once it is restored (its earlier changes are known here).
    evicted: Evicted,
}

/// Where a timeline that drops stored messages from memory asks which of them it read
/// in this run (a room's local store, by its rows), so that it keeps none of their ids.
pub(crate) trait StoredIds: Send + Sync {
    /// `true` when the message `id` was stored in this run. A store that cannot tell
    /// answers `false`: a copy may then show twice, but nothing new is lost.
    fn stored_in_this_run(&self, id: &MessageId) -> bool;
}

/// The messages [`Timeline::evict_stored`] dropped from memory in this run. Asked only
/// about ids the timeline does not hold.
#[derive(Clone)]
enum Evicted {
    /// Their ids, in memory (no store to ask was given).
    Held(HashSet<MessageId>),
    /// Only whether any was: the store knows which ([`Timeline::ask_store_for_evicted`]).
    Store {
        store: Arc<dyn StoredIds>,
        any: bool,
        /// The store's recent answers: a new record is asked about several times while
        /// it is checked and inserted, and each answer is a query.
        answers: StoreAnswers,
    },
}

/// The store's answers to [`StoredIds::stored_in_this_run`] since the timeline last
/// handed messages to the store ([`Timeline::take_touched`], the only way a row of this
/// run is written), at most [`StoreAnswers::MAX`] of them. A clone starts empty.
#[derive(Default)]
struct StoreAnswers(Mutex<HashMap<MessageId, bool>>);

impl StoreAnswers {
    /// Enough for the records of a few reads; cleared when full.
    const MAX: usize = 4_096;

    fn get_or_ask(&self, id: &MessageId, ask: impl FnOnce() -> bool) -> bool {
        let mut answers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(answer) = answers.get(id) {
            return *answer;
        }
        let answer = ask();
        if answers.len() >= Self::MAX {
            answers.clear();
        }
        answers.insert(*id, answer);
        answer
    }

    fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Clone for StoreAnswers {
    fn clone(&self) -> Self {
        StoreAnswers::default()
    }
}

impl Default for Evicted {
    fn default() -> Self {
        Evicted::Held(HashSet::new())
    }
}

impl Evicted {
    fn add(&mut self, id: MessageId) {
        match self {
            Evicted::Held(ids) => {
                ids.insert(id);
            }
            Evicted::Store { any, .. } => *any = true,
        }
    }

    fn contains(&self, id: &MessageId) -> bool {
        match self {
            Evicted::Held(ids) => ids.contains(id),
            Evicted::Store {
                store,
                any,
                answers,
            } => *any && answers.get_or_ask(id, || store.stored_in_this_run(id)),
        }
    }

    /// Forgets `id` (restored to memory). The store variant needs nothing: the timeline
    /// holds the id again, and holding it comes first.
    fn remove(&mut self, id: &MessageId) {
        if let Evicted::Held(ids) = self {
            ids.remove(id);
        }
    }
}

impl fmt::Debug for Evicted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evicted::Held(ids) => write!(f, "Evicted({} ids)", ids.len()),
            Evicted::Store { any, .. } => write!(f, "Evicted(in the store, any: {any})"),
        }
    }
}

/// What [`Timeline::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new message.
    New,
    /// A pending message of ours was confirmed.
    Confirmed,
    /// Already known: dropped.
    Duplicate,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of messages held in memory (all of them unless a window is set).
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// `true` when no message is held in memory.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Keeps at most `window` messages in memory, besides pending and unstored ones, when
    /// [`evict_stored`](Self::evict_stored) runs: for a room whose local store holds the
    /// rest (it tracks touched messages, [`track_touched`](Self::track_touched)).
    pub(crate) fn set_window(&mut self, window: usize) {
        self.window = Some(window);
    }

    /// From now on, asks `store` which messages were evicted in this run instead of
    /// keeping their ids: memory then stays bounded however long the history. Given at
    /// open, before anything is evicted.
    pub(crate) fn ask_store_for_evicted(&mut self, store: Arc<dyn StoredIds>) {
        debug_assert!(
            matches!(&self.evicted, Evicted::Held(ids) if ids.is_empty()),
            "given after an eviction"
        );
        self.evicted = Evicted::Store {
            store,
            any: false,
            answers: StoreAnswers::default(),
        };
    }

    /// `true` when `id` is a shown message that was evicted in this run: known, but
    /// only the store holds it.
    pub(crate) fn is_evicted(&self, id: &MessageId) -> bool {
        !self.keys.contains_key(id) && self.evicted.contains(id)
    }

    /// Drops from memory the oldest messages beyond the window that the store holds:
    /// confirmed (a pending one may still move or be confirmed), not touched since the
    /// last [`take_touched`](Self::take_touched) (not stored yet) and not in `keep`. Only
    /// their ids stay, so a copy read later is still a duplicate (and the authors of those
    /// with changes, which stay too). Returns how many were dropped.
    pub(crate) fn evict_stored(&mut self, keep: &HashSet<MessageId>) -> usize {
        let (Some(window), Some(touched)) = (self.window, self.touched.as_ref()) else {
            return 0;
        };
        let excess = self.by_key.len().saturating_sub(window);
        if excess == 0 {
            return 0;
        }
        let doomed: Vec<SortKey> = self
            .by_key
            .iter()
            .filter(|(_, m)| {
                m.status == MessageStatus::Confirmed
                    && !touched.contains(&m.id)
                    && !keep.contains(&m.id)
            })
            .map(|(k, _)| *k)
            .take(excess)
            .collect();
        for k in &doomed {
            if let Some(m) = self.by_key.remove(k) {
                self.keys.remove(&m.id);
                self.changes.forget_author(&m.id);
                self.evicted.add(m.id);
            }
        }
        doomed.len()
    }

    /// Brings an evicted message back into memory, as the store holds it (at `key`, by
    /// `author`), so a change can apply to it. `false` (nothing done) when `message` is
    /// not an evicted one or `key` is taken.
    pub(crate) fn restore(
        &mut self,
        key: SortKey,
        message: Message,
        author: Option<Author>,
    ) -> bool {
        if !self.is_evicted(&message.id) || self.by_key.contains_key(&key) {
            return false;
        }
        let id = message.id;
        self.evicted.remove(&id);
        self.keys.insert(id, key);
        self.by_key.insert(key, message);
        // Changes that waited for it (it had none when it was evicted, or it would have
        // kept its author) apply now.
        if let (Some(author), None) = (author, self.changes.author_of(&id)) {
            if self.changes.message_shown(id, author) {
                self.render(&id);
            }
        }
        true
    }

    /// `true` when a record with this id is known (shown or hidden).
    pub fn contains(&self, id: &MessageId) -> bool {
        self.keys.contains_key(id) || self.hidden.contains(id) || self.evicted.contains(id)
    }

    /// Accepts a record that is not shown (a kind this version does not display), for
    /// deduplication: `false` when its id was already known, shown or hidden.
    pub fn insert_hidden(&mut self, id: MessageId) -> bool {
        !self.keys.contains_key(&id)
            && !self.hidden.contains(&id)
            && !self.evicted.contains(&id)
            && self.hidden.insert(id)
    }

    /// Moves a pending message to another place (its record was re-encoded before it
    /// reached the server). `false` when `id` is unknown, confirmed, or `key` is taken.
    pub fn move_pending(&mut self, id: &MessageId, key: SortKey) -> bool {
        let Some(old_key) = self.keys.get(id).copied() else {
            return false;
        };
        let pending = self.by_key.get(&old_key).map(|m| m.status) == Some(MessageStatus::Pending);
        if !pending || self.by_key.contains_key(&key) {
            return false;
        }
        if let Some(m) = self.by_key.remove(&old_key) {
            self.by_key.insert(key, m);
            self.keys.insert(*id, key);
        }
        self.touch(id);
        true
    }

    /// From now on, remembers which shown messages are added or changed (inserted,
    /// confirmed, moved, edited, deleted, reacted to, given a status), for
    /// [`take_touched`](Self::take_touched).
    pub(crate) fn track_touched(&mut self) {
        self.touched.get_or_insert_with(HashSet::new);
    }

    /// The shown messages added or changed since the last call, as they are now, each
    /// with its place and its author when known; forgets them.
    pub(crate) fn take_touched(&mut self) -> Vec<(SortKey, Message, Option<Author>)> {
        let Some(touched) = self.touched.as_mut() else {
            return Vec::new();
        };
        let ids = std::mem::take(touched);
        // These may be stored in this run now: earlier answers may be stale.
        if let Evicted::Store { answers, .. } = &self.evicted {
            answers.clear();
        }
        ids.into_iter()
            .filter_map(|id| {
                let key = *self.keys.get(&id)?;
                let m = self.by_key.get(&key)?.clone();
                Some((key, m, self.changes.author_of(&id)))
            })
            .collect()
    }

    /// Remembers `ids` as touched again (a store write that failed is retried later).
    pub(crate) fn retouch(&mut self, ids: impl IntoIterator<Item = MessageId>) {
        if let Some(touched) = self.touched.as_mut() {
            touched.extend(ids);
        }
    }

    /// Ids of messages that changes wait for (not read in this run).
    pub(crate) fn awaited_targets(&self) -> Vec<MessageId> {
        self.changes
            .waiting_targets()
            .filter(|id| !self.contains(id))
            .collect()
    }

    fn touch(&mut self, id: &MessageId) {
        if let Some(touched) = self.touched.as_mut() {
            touched.insert(*id);
        }
    }

    /// The writer of a shown native message, by id.
    pub fn writer_of(&self, id: &MessageId) -> Option<WriterId> {
        match self.keys.get(id)? {
            SortKey::Native { writer, .. } => Some(*writer),
            SortKey::File { .. } => None,
        }
    }

    /// Where a shown message sorts, by id.
    pub fn key_of(&self, id: &MessageId) -> Option<SortKey> {
        self.keys.get(id).copied()
    }

    /// A message by id.
    pub fn get(&self, id: &MessageId) -> Option<&Message> {
        self.keys.get(id).and_then(|k| self.by_key.get(k))
    }

    /// Adds a message; a confirmed copy of a pending message confirms it (moving it to
    /// `key`); any other known id is a duplicate.
    pub fn insert(&mut self, key: SortKey, message: Message) -> Inserted {
        if self.hidden.contains(&message.id) || self.is_evicted(&message.id) {
            return Inserted::Duplicate;
        }
        if let Some(old_key) = self.keys.get(&message.id).copied() {
            let confirms = message.status == MessageStatus::Confirmed
                && self.by_key.get(&old_key).map(|m| m.status) == Some(MessageStatus::Pending);
            if !confirms {
                return Inserted::Duplicate;
            }
            if let Some(mut old) = self.by_key.remove(&old_key) {
                old.status = MessageStatus::Confirmed;
                old.timestamp_ms = old.timestamp_ms.or(message.timestamp_ms);
                self.keys.insert(old.id, key);
                self.by_key.insert(key, old);
            }
            self.touch(&message.id);
            return Inserted::Confirmed;
        }
        if self.by_key.contains_key(&key) {
            // Another message already holds this place (a writer reusing a sequence
            // number): the first one stays.
            return Inserted::Duplicate;
        }
        self.keys.insert(message.id, key);
        self.touch(&message.id);
        self.by_key.insert(key, message);
        Inserted::New
    }

    /// Adds a text message whose author is known (native rooms), so that its author may
    /// edit or delete it; changes read before it apply now.
    pub fn insert_authored(&mut self, key: SortKey, message: Message, author: Author) -> Inserted {
        let id = message.id;
        let inserted = self.insert(key, message);
        let first_known = inserted != Inserted::Duplicate && self.changes.author_of(&id).is_none();
        if first_known && self.changes.message_shown(id, author) {
            self.render(&id);
        }
        inserted
    }

    /// Applies an edit, a delete or a reaction (SPEC §8.4.1). A change whose id is
    /// already known is a copy; a change is kept until its target is read.
    pub fn apply_change(&mut self, change: MessageChange) -> Applied {
        if !self.insert_hidden(change.id) {
            return Applied::Unchanged;
        }
        let target_shown = match self.keys.get(&change.target) {
            Some(SortKey::Native { .. }) => Some(true),
            Some(SortKey::File { .. }) => Some(false),
            None if self.hidden.contains(&change.target) => Some(false),
            None => None,
        };
        let applied = self.changes.apply(change, target_shown);
        if let Applied::Changed(id) = applied {
            self.render(&id);
        }
        applied
    }

    /// Sets the status of a shown message (an own message shown before it is sent).
    pub fn set_status(&mut self, id: &MessageId, status: MessageStatus) {
        if let Some(m) = self.keys.get(id).and_then(|k| self.by_key.get_mut(k)) {
            m.status = status;
        }
        self.touch(id);
    }

    /// The author of a shown native message.
    pub fn author_of(&self, id: &MessageId) -> Option<Author> {
        self.changes.author_of(id)
    }

    /// Changes refused since the last call (an edit or delete by someone other than the
    /// author, a change to a record that is not a text message).
    pub fn take_refused_changes(&mut self) -> Vec<RefusedChange> {
        self.changes.take_refused()
    }

    fn render(&mut self, id: &MessageId) {
        if let Some(m) = self.keys.get(id).and_then(|k| self.by_key.get_mut(k)) {
            self.changes.render(m);
        }
        self.touch(id);
    }

    /// Up to `limit` messages that `keep` accepts (given each message and its author, when
    /// known) just before `before` (or the newest when `None`), in chronological order.
    pub fn page_where(
        &self,
        before: Option<&MessageId>,
        limit: usize,
        keep: impl Fn(&Message, Option<Author>) -> bool,
    ) -> Vec<Message> {
        let range = match before.map(|id| self.keys.get(id)) {
            Some(Some(k)) => self.by_key.range(..*k),
            Some(None) => return Vec::new(),
            None => self.by_key.range(..),
        };
        let mut page: Vec<Message> = range
            .rev()
            .filter(|(_, m)| keep(m, self.changes.author_of(&m.id)))
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect();
        page.reverse();
        page
    }

    /// All messages in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Message> {
        self.by_key.values()
    }

    /// Up to `limit` messages just before `before` (or the newest when `None`), in
    /// chronological order.
    pub fn page(&self, before: Option<&MessageId>, limit: usize) -> Vec<Message> {
        let upper = before.and_then(|id| self.keys.get(id));
        let mut page: Vec<Message> = match upper {
            Some(k) => self
                .by_key
                .range(..*k)
                .rev()
                .take(limit)
                .map(|(_, m)| m.clone())
                .collect(),
            None if before.is_some() => Vec::new(),
            None => self.by_key.values().rev().take(limit).cloned().collect(),
        };
        page.reverse();
        page
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msg(id: u8, status: MessageStatus) -> Message {
        Message {
            id: MessageId([id; 16]),
            sender: "s".into(),
            text: format!("m{id}"),
            timestamp_ms: None,
            local_time: None,
            status,
            codec: Codec::Native,
            is_own: false,
            signer: None,
            edited: false,
            deleted: false,
            reactions: Vec::new(),
            private: None,
            attachment: None,
        }
    }

    fn key(hlc: u64) -> SortKey {
        SortKey::Native {
            hlc: Hlc(hlc),
            writer: WriterId([0; 16]),
            seq: hlc,
            id: MessageId([hlc as u8; 16]),
        }
    }

    #[test]
    fn dedupes_orders_and_confirms() {
        let mut t = Timeline::new();
        assert_eq!(
            t.insert(key(2), msg(2, MessageStatus::Confirmed)),
            Inserted::New
        );
        assert_eq!(
            t.insert(key(1), msg(1, MessageStatus::Confirmed)),
            Inserted::New
        );
        assert_eq!(
            t.insert(key(1), msg(1, MessageStatus::Confirmed)),
            Inserted::Duplicate
        );
        assert_eq!(
            t.insert(key(3), msg(3, MessageStatus::Pending)),
            Inserted::New
        );
        assert_eq!(
            t.insert(key(3), msg(3, MessageStatus::Confirmed)),
            Inserted::Confirmed
        );
        assert_eq!(
            t.insert(key(3), msg(3, MessageStatus::Confirmed)),
            Inserted::Duplicate
        );
        let texts: Vec<_> = t.iter().map(|m| m.text.clone()).collect();
        assert_eq!(texts, ["m1", "m2", "m3"]);
        assert!(t.iter().all(|m| m.status == MessageStatus::Confirmed));
    }

    #[test]
    fn eviction_keeps_the_window_pending_and_unstored_messages_and_their_ids() {
        let mut t = Timeline::new();
        t.track_touched();
        t.set_window(3);
        for i in 1..=6 {
            t.insert(key(i), msg(i as u8, MessageStatus::Confirmed));
        }
        t.insert(key(7), msg(7, MessageStatus::Pending));
        assert_eq!(t.evict_stored(&HashSet::new()), 0, "nothing is stored yet");
        assert_eq!(t.take_touched().len(), 7);
        // 7 held, window 3: the 4 oldest confirmed ones go; the pending one stays.
        assert_eq!(t.evict_stored(&HashSet::new()), 4);
        let held: Vec<_> = t.iter().map(|m| m.text.clone()).collect();
        assert_eq!(held, ["m5", "m6", "m7"]);
        for i in 1..=4u8 {
            let id = MessageId([i; 16]);
            assert!(t.is_evicted(&id) && t.contains(&id) && t.get(&id).is_none());
            // Only the id stays in memory: the store knows its place.
            assert_eq!(t.key_of(&id), None);
        }
        assert!(t.keys.len() == 3 && matches!(&t.evicted, Evicted::Held(ids) if ids.len() == 4));
        // A copy of an evicted message is still a duplicate.
        assert_eq!(
            t.insert(key(1), msg(1, MessageStatus::Confirmed)),
            Inserted::Duplicate
        );
        // Brought back (as the store holds it), it sorts where it did.
        assert!(t.restore(key(2), msg(2, MessageStatus::Confirmed), None));
        assert!(
            !t.restore(key(2), msg(2, MessageStatus::Confirmed), None),
            "held again"
        );
        assert!(
            !t.restore(key(9), msg(9, MessageStatus::Confirmed), None),
            "never known"
        );
        assert_eq!(t.key_of(&MessageId([2; 16])), Some(key(2)));
        assert_eq!(
            t.page(None, 10).first().map(|m| m.id),
            Some(MessageId([2; 16]))
        );
        // Touched (not stored yet): kept until stored.
        t.set_status(&MessageId([5; 16]), MessageStatus::Confirmed);
        assert_eq!(t.evict_stored(&HashSet::new()), 1, "only m2 may go");
        assert!(t.get(&MessageId([5; 16])).is_some());
        // Without a store (no tracking) nothing is evicted.
        let mut plain = Timeline::new();
        plain.set_window(1);
        plain.insert(key(1), msg(1, MessageStatus::Confirmed));
        plain.insert(key(2), msg(2, MessageStatus::Confirmed));
        assert_eq!(plain.evict_stored(&HashSet::new()), 0);
    }

    /// With a store to ask, the timeline keeps no id of what it evicts: the store says
    /// which ids were stored in this run, and the timeline asks it only about ids it does
    /// not hold, once anything was evicted.
    #[test]
    fn evicted_ids_are_asked_of_the_store_and_not_kept() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        #[derive(Default)]
        struct Rows {
            stored: Mutex<HashSet<MessageId>>,
            asked: AtomicUsize,
        }
        impl StoredIds for Rows {
            fn stored_in_this_run(&self, id: &MessageId) -> bool {
                self.asked.fetch_add(1, Ordering::SeqCst);
                self.stored.lock().unwrap().contains(id)
            }
        }
        let rows = Arc::new(Rows::default());
        let mut t = Timeline::new();
        t.track_touched();
        t.set_window(2);
        t.ask_store_for_evicted(rows.clone());
        for i in 1..=5 {
            t.insert(key(i), msg(i as u8, MessageStatus::Confirmed));
        }
        assert_eq!(rows.asked.load(Ordering::SeqCst), 0, "nothing evicted yet");
        for (_, m, _) in t.take_touched() {
            rows.stored.lock().unwrap().insert(m.id);
        }
        assert_eq!(t.evict_stored(&HashSet::new()), 3);
        assert!(matches!(t.evicted, Evicted::Store { any: true, .. }));
        // The store answers for the evicted ones; held ones never reach it.
        let asked = rows.asked.load(Ordering::SeqCst);
        for i in 1..=3u8 {
            assert!(t.is_evicted(&MessageId([i; 16])) && t.contains(&MessageId([i; 16])));
        }
        assert!(!t.is_evicted(&MessageId([4; 16])) && t.contains(&MessageId([4; 16])));
        // Once for each evicted id (is_evicted, then contains from the answers), never
        // for the held one.
        assert_eq!(rows.asked.load(Ordering::SeqCst), asked + 3);
        assert!(t.is_evicted(&MessageId([1; 16])));
        assert_eq!(rows.asked.load(Ordering::SeqCst), asked + 3);
        // A copy of an evicted one is a duplicate; a new id is new.
        assert_eq!(
            t.insert(key(1), msg(1, MessageStatus::Confirmed)),
            Inserted::Duplicate
        );
        assert!(!t.insert_hidden(MessageId([2; 16])), "a shown id, evicted");
        assert_eq!(
            t.insert(key(6), msg(6, MessageStatus::Confirmed)),
            Inserted::New
        );
        // Restored, it is held again (the store still has its row): not evicted, and not
        // restored twice.
        assert!(t.restore(key(2), msg(2, MessageStatus::Confirmed), None));
        assert!(!t.is_evicted(&MessageId([2; 16])));
        assert!(!t.restore(key(2), msg(2, MessageStatus::Confirmed), None));
        assert!(
            !t.restore(key(9), msg(9, MessageStatus::Confirmed), None),
            "never stored"
        ); // A new id is asked once however often it is checked, until messages are handed
           // to the store (one may be it): then asked again.
        let new = MessageId([7; 16]);
        let asked = rows.asked.load(Ordering::SeqCst);
        assert!(!t.is_evicted(&new) && !t.contains(&new) && !t.is_evicted(&new));
        assert_eq!(rows.asked.load(Ordering::SeqCst), asked + 1);
        // (The oldest place: evicted first.)
        t.insert(key(0), msg(7, MessageStatus::Confirmed));
        for (_, m, _) in t.take_touched() {
            rows.stored.lock().unwrap().insert(m.id);
        }
        assert!(t.evict_stored(&HashSet::new()) > 0);
        assert!(t.is_evicted(&new), "stored and evicted since: asked again");
        assert_eq!(rows.asked.load(Ordering::SeqCst), asked + 2);
    }

    /// An evicted message's changes stay known (with its author), so an older edit read
    /// after it was restored does not win; a message without changes keeps nothing but
    /// its id, and gets its author back when restored.
    #[test]
    fn an_evicted_message_keeps_its_changes_and_only_its_id_otherwise() {
        use crate::timeline::changes::ChangeKind;
        let alice = Author([1; 16]);
        let edit = |n: u8, text: &str| MessageChange {
            id: MessageId([100 + n; 16]),
            key: key(u64::from(n) + 10),
            author: alice,
            sender: "alice".into(),
            own: false,
            target: MessageId([1; 16]),
            kind: ChangeKind::Edit(text.into()),
        };
        let mut t = Timeline::new();
        t.track_touched();
        t.set_window(0);
        t.insert_authored(key(1), msg(1, MessageStatus::Confirmed), alice);
        t.insert_authored(key(2), msg(2, MessageStatus::Confirmed), alice);
        assert!(matches!(
            t.apply_change(edit(2, "newer")),
            Applied::Changed(_)
        ));
        let stored: Vec<_> = t.take_touched().into_iter().map(|(_, m, _)| m).collect();
        assert_eq!(t.evict_stored(&HashSet::new()), 2);
        assert_eq!(
            t.author_of(&MessageId([1; 16])),
            Some(alice),
            "it has changes"
        );
        assert_eq!(t.author_of(&MessageId([2; 16])), None, "only its id");
        // Back as the store holds it (edited), an older edit changes nothing.
        let m1 = stored.iter().find(|m| m.id == MessageId([1; 16])).unwrap();
        assert_eq!(m1.text, "newer");
        assert!(t.restore(key(1), m1.clone(), Some(alice)));
        assert_eq!(t.apply_change(edit(1, "older")), Applied::Unchanged);
        assert_eq!(t.get(&MessageId([1; 16])).unwrap().text, "newer");
        assert!(t.restore(key(2), msg(2, MessageStatus::Confirmed), Some(alice)));
        assert_eq!(t.author_of(&MessageId([2; 16])), Some(alice));
    }

    #[test]
    fn hidden_records_count_for_deduplication() {
        let mut t = Timeline::new();
        assert!(t.insert_hidden(MessageId([7; 16])));
        assert!(
            !t.insert_hidden(MessageId([7; 16])),
            "a second copy is a duplicate"
        );
        // A shown record reusing a hidden record's id is dropped: the first one stays.
        assert_eq!(
            t.insert(key(1), msg(7, MessageStatus::Confirmed)),
            Inserted::Duplicate
        );
        assert!(t.is_empty() && t.contains(&MessageId([7; 16])));
        assert_eq!(
            t.insert(key(2), msg(8, MessageStatus::Confirmed)),
            Inserted::New
        );
        assert!(!t.insert_hidden(MessageId([8; 16])), "already shown");
    }

    #[test]
    fn only_pending_messages_move() {
        let mut t = Timeline::new();
        t.insert(key(1), msg(1, MessageStatus::Pending));
        t.insert(key(2), msg(2, MessageStatus::Confirmed));
        assert!(t.move_pending(&MessageId([1; 16]), key(5)));
        assert!(!t.move_pending(&MessageId([2; 16]), key(6)), "confirmed");
        assert!(!t.move_pending(&MessageId([1; 16]), key(2)), "place taken");
        assert!(!t.move_pending(&MessageId([9; 16]), key(7)), "unknown");
        let order: Vec<_> = t.iter().map(|m| m.id.0[0]).collect();
        assert_eq!(order, [2, 1]);
        assert_eq!(
            t.insert(key(5), msg(1, MessageStatus::Confirmed)),
            Inserted::Confirmed
        );
    }

    #[test]
    fn pages_backwards() {
        let mut t = Timeline::new();
        for i in 1..=10 {
            t.insert(key(u64::from(i)), msg(i, MessageStatus::Confirmed));
        }
        let newest = t.page(None, 3);
        assert_eq!(
            newest.iter().map(|m| m.id.0[0]).collect::<Vec<_>>(),
            [8, 9, 10]
        );
        let older = t.page(Some(&newest[0].id), 3);
        assert_eq!(
            older.iter().map(|m| m.id.0[0]).collect::<Vec<_>>(),
            [5, 6, 7]
        );
        assert!(t.page(Some(&MessageId([99; 16])), 3).is_empty());
    }
}
