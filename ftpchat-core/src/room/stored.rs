//! A room's messages and state in the local store (issue 17): what a room with a state
//! folder puts there after each sync, and how it pages and searches them.
//!
//! The store is one SQLite file per state folder ([`STORE_FILE`]), shared by every room
//! of that folder (one connection per file and process) and keyed by the transport's
//! description and the room's path. One transaction per save is what makes it crash
//! safe (`Engine::persist`, [`RoomStore::put_and_save`]): the messages a sync read, the
//! read positions and the outbox rows are on disk together when it returns, or none of
//! them, so a crash never leaves a read position ahead of the stored messages, nor a
//! stored pending message or edit that no outbox will send. Putting a message again
//! replaces it, so a message is never stored twice. (Before store schema 4 the state was
//! a file beside the store, saved in a careful order around the store's transaction;
//! [`RoomStore::load_saved`] moves such a file into the store.)
//!
//! The saved state says whether the store holds everything before its read positions
//! (`stored 1`): then the room pages and searches the store without reading the server.
//! Otherwise (a state folder from before the store) the first page or search reads the
//! history the positions skip once, as rooms without a store do, and puts it into the
//! store.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::layout::Writer;
use super::state::{Outgoing, SavedState, StateFile};
use super::view::View;
use super::{lock, RoomError};
use crate::group::MemberId;
use crate::store::{LocalStore, OutboxRow, RoomSave, StoreError};
use crate::timeline::{Author, Message, MessageId, MessageStatus, SortKey, StoredIds};

/// The store's file name in a state folder.
pub(crate) const STORE_FILE: &str = "store.sqlite";

/// How many of the newest messages a room with a local store keeps in memory (besides
/// pending ones and ones not stored yet); the store holds the rest.
pub(crate) const MEMORY_WINDOW: usize = 1_000;

/// A sync of a room with a local store stores what it read and drops older messages from
/// memory whenever the timeline holds this many, so a long history is read in bounded
/// memory (one store transaction per this many messages).
pub(crate) const SPILL_AT: usize = 8 * MEMORY_WINDOW;

/// Rows read at a time when a filter (private messages, blocked members) drops some.
const MIN_CHUNK: usize = 32;

/// The stores open in this process, by file: rooms of one folder share one connection.
static OPEN_STORES: Mutex<Option<HashMap<PathBuf, Weak<LocalStore>>>> = Mutex::new(None);

/// Opens the store at `path`, or shares the one this process already has open.
fn shared_store(path: &Path) -> Result<Arc<LocalStore>, RoomError> {
    let mut open = lock(&OPEN_STORES);
    let open = open.get_or_insert_with(HashMap::new);
    open.retain(|_, w| w.strong_count() > 0);
    if let Some(store) = open.get(path).and_then(Weak::upgrade) {
        return Ok(store);
    }
    let store = Arc::new(LocalStore::open(path)?);
    open.insert(path.to_path_buf(), Arc::downgrade(&store));
    Ok(store)
}

/// Where a room's segment layout (SPEC §9.5) keeps what it knows of the logs' objects
/// and the feed between runs (`SegmentStore::with_cache`): a row of the local store
/// (table `segment_cache`).
pub(crate) struct SegmentCache {
    store: Arc<LocalStore>,
    /// The room's key in the store.
    room: String,
}

impl SegmentCache {
    /// The segment cache of the room `key` in the store of the state folder `folder`. The
    /// file `legacy` of a version before (`room-<id>.segments`) moves into the store,
    /// unless the store has one already, and is deleted.
    pub fn open(folder: &Path, key: String, legacy: &Path) -> Result<Self, RoomError> {
        let cache = SegmentCache {
            store: shared_store(&folder.join(STORE_FILE))?,
            room: key,
        };
        if let Ok(text) = std::fs::read_to_string(legacy) {
            if cache.load().is_none() {
                cache.save(Some(&text))?;
            }
            // Gone once the store holds it (or holds a newer one).
            let _ = std::fs::remove_file(legacy);
        }
        Ok(cache)
    }

    /// The saved text; `None` when there is none or it cannot be read (a cache: the
    /// room lists the logs instead; logged).
    pub fn load(&self) -> Option<String> {
        self.store.segment_cache(&self.room).unwrap_or_else(|e| {
            log::warn!("segment cache: {e}");
            None
        })
    }

    /// Saves `text` (committed when this returns); `None` deletes the saved one.
    pub fn save(&self, text: Option<&str>) -> Result<(), crate::store::StoreError> {
        self.store.save_segment_cache(&self.room, text)
    }
}

/// What a room saved: its state (with its outbox), the state's text and the outbox rows
/// as the store holds them.
pub(crate) type LoadedState = (SavedState, String, Vec<OutboxRow>);

impl OutboxRow {
    /// The row at `pos` for an unsent message.
    pub(crate) fn new(pos: i64, o: &Outgoing) -> Self {
        OutboxRow {
            pos,
            id: o.id,
            key: o.key,
            line: o.line.clone(),
        }
    }

    fn to_outgoing(&self) -> Outgoing {
        Outgoing {
            id: self.id,
            key: self.key,
            line: self.line.clone(),
        }
    }

    /// `true` when this row holds `o`.
    pub(crate) fn holds(&self, o: &Outgoing) -> bool {
        self.id == o.id && self.key == o.key && self.line == o.line
    }
}

/// A random non-zero run number.
fn new_run() -> i64 {
    loop {
        let run = i64::from_le_bytes(crate::crypto::random_bytes());
        if run != 0 {
            return run;
        }
    }
}

impl StoredIds for RoomStore {
    fn stored_in_this_run(&self, id: &MessageId) -> bool {
        self.store
            .stored_in_run(&self.key, id, self.run)
            .unwrap_or_else(|e| {
                log::warn!("local store: {e}");
                false
            })
    }
}

/// One room's part of a local store.
pub(crate) struct RoomStore {
    store: Arc<LocalStore>,
    /// The room's key in the store (the state file's identity).
    key: String,
    /// `true` once the store holds every message before the saved read positions.
    complete: AtomicBool,
    /// Targets of changes already looked for in the store (each is looked up once).
    looked_up: Mutex<HashSet<MessageId>>,
    /// This run's number (random, non-zero): every row this room stores is marked with
    /// it, so the rows say which messages were read in this run ([`StoredIds`]).
    run: i64,
}

impl RoomStore {
    /// Opens the store of the state folder `folder` for the room `key`.
    pub fn open(folder: &Path, key: String) -> Result<Self, RoomError> {
        let store = shared_store(&folder.join(STORE_FILE))?;
        Ok(RoomStore {
            store,
            key,
            complete: AtomicBool::new(false),
            looked_up: Mutex::new(HashSet::new()),
            run: new_run(),
        })
    }

    /// Decides at open whether the store holds the room's history: `history_loaded`
    /// (nothing before the read positions), or an earlier run said so and the room is
    /// still in the store (not deleted since).
    pub fn set_complete_at_open(
        &self,
        history_loaded: bool,
        saved_stored: bool,
    ) -> Result<(), RoomError> {
        let complete = history_loaded || (saved_stored && self.store.holds_room(&self.key)?);
        self.complete.store(complete, Ordering::SeqCst);
        Ok(())
    }

    /// Forgets what the store holds of this room: the room at this place was re-created
    /// (its header changed and the caller accepted it), so the old room's messages must
    /// not show in the new one's history or search.
    pub fn forget(&self) -> Result<(), RoomError> {
        self.store.forget_room(&self.key)?;
        lock(&self.looked_up).clear();
        Ok(())
    }

    /// The greatest arrival order of a stored shared-file message (see
    /// [`LocalStore::max_file_order`]).
    pub fn max_file_order(&self) -> Result<Option<u64>, RoomError> {
        Ok(self.store.max_file_order(&self.key)?)
    }

    /// `true` when the store holds everything before the read positions.
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::SeqCst)
    }

    /// Records that the store now holds everything before the read positions.
    pub fn mark_complete(&self) {
        self.complete.store(true, Ordering::SeqCst);
    }

    /// Puts the messages the view added or changed since the last call into the store,
    /// in one transaction (a long read spilling, a page or a search, without the room's
    /// state). On failure they stay marked, for the next call. Without `own_pending`,
    /// this user's pending messages stay marked too: they are stored with the outbox rows
    /// that send them, by [`put_and_save`](Self::put_and_save).
    pub fn put_touched<W: Writer>(
        &self,
        view: &mut View<W>,
        own_pending: bool,
    ) -> Result<(), RoomError> {
        let mut touched = view.timeline.take_touched();
        if !own_pending {
            let (later, now): (Vec<_>, Vec<_>) = touched
                .into_iter()
                .partition(|(_, m, _)| m.is_own && m.status == MessageStatus::Pending);
            view.timeline.retouch(later.iter().map(|(_, m, _)| m.id));
            touched = now;
        }
        if touched.is_empty() {
            return Ok(());
        }
        let batch: Vec<(&SortKey, &Message, Option<Author>)> =
            touched.iter().map(|(k, m, a)| (k, m, *a)).collect();
        if let Err(e) = self.store.put_authored(&self.key, &batch, self.run) {
            view.timeline.retouch(touched.iter().map(|(_, m, _)| m.id));
            return Err(e.into());
        }
        Ok(())
    }

    /// Puts every message the view added or changed since the last call into the store,
    /// with `save` (the room's state and outbox changes), in one transaction: the read
    /// positions never run ahead of the stored messages, and no pending message is stored
    /// without the outbox row that sends it. On failure the messages stay marked.
    pub fn put_and_save<W: Writer>(
        &self,
        view: &mut View<W>,
        save: &RoomSave<'_>,
    ) -> Result<(), RoomError> {
        let touched = view.timeline.take_touched();
        let batch: Vec<(&SortKey, &Message, Option<Author>)> =
            touched.iter().map(|(k, m, a)| (k, m, *a)).collect();
        if let Err(e) = self.store.put_and_save(&self.key, &batch, self.run, save) {
            view.timeline.retouch(touched.iter().map(|(_, m, _)| m.id));
            return Err(e.into());
        }
        Ok(())
    }

    /// The state and the outbox this room saved: from the store, or from the state file
    /// `legacy` of a version before the store kept them, which is then moved into the
    /// store (one transaction) and deleted. Also returns the state's text and the outbox
    /// rows as stored.
    pub fn load_saved(&self, legacy: &StateFile) -> Result<LoadedState, RoomError> {
        if let Some((text, rows)) = self.store.load_saved(&self.key)? {
            let mut saved = SavedState::decode(&text).ok_or_else(|| {
                StoreError::corrupt(self.store.path(), "a room's saved state is invalid")
            })?;
            saved.outbox = rows.iter().map(OutboxRow::to_outgoing).collect();
            // Left by a run that moved it into the store and stopped before deleting it.
            legacy.remove().map_err(RoomError::LocalState)?;
            return Ok((saved, text, rows));
        }
        let Some(saved) = legacy.load().map_err(RoomError::LocalState)? else {
            return Ok((SavedState::default(), String::new(), Vec::new()));
        };
        let text = saved.encode_state();
        let rows: Vec<OutboxRow> = (0..)
            .zip(&saved.outbox)
            .map(|(pos, o)| OutboxRow::new(pos, o))
            .collect();
        let save = RoomSave {
            state: Some(&text),
            outbox_removed: &[],
            outbox_added: &rows,
        };
        self.store.put_and_save(&self.key, &[], self.run, &save)?;
        legacy.remove().map_err(RoomError::LocalState)?;
        Ok((saved, text, rows))
    }

    /// The room's member cache (member rooms: commits, epoch secrets, state files), in
    /// the same store.
    pub fn member_cache(&self) -> super::members::MemberCache {
        super::members::MemberCache::new(self.store.clone(), self.key.clone())
    }

    /// `true` when a change read in this run waits for a message that only the store
    /// holds (read by an earlier run): the room must read its history to apply it.
    pub fn holds_awaited<W: Writer>(&self, view: &View<W>) -> Result<bool, RoomError> {
        let awaited = view.timeline.awaited_targets();
        if awaited.is_empty() {
            return Ok(false);
        }
        let mut looked_up = lock(&self.looked_up);
        for id in awaited {
            if looked_up.contains(&id) {
                continue;
            }
            if self.store.key_of(&self.key, &id)?.is_some() {
                return Ok(true);
            }
            // Not stored either: it comes with a later sync, if ever.
            looked_up.insert(id);
        }
        Ok(false)
    }

    /// A stored message by id.
    pub fn message(&self, id: &MessageId) -> Result<Option<Message>, RoomError> {
        Ok(self.store.get(&self.key, id)?)
    }

    /// A stored message with where it sorts and its author.
    pub fn entry(
        &self,
        id: &MessageId,
    ) -> Result<Option<(SortKey, Message, Option<Author>)>, RoomError> {
        Ok(self.store.entry(&self.key, id)?)
    }

    /// Where a stored message sorts.
    pub fn sort_key(&self, id: &MessageId) -> Result<Option<SortKey>, RoomError> {
        Ok(self.store.key_of(&self.key, id)?)
    }

    /// Up to `limit` messages of one conversation (the room's with `None`) before
    /// `before`, oldest first, without blocked members' messages: pages of the store,
    /// filtered, until `limit` are kept or the room's beginning is reached.
    pub fn page<W: Writer>(
        &self,
        view: &View<W>,
        conversation: Option<MemberId>,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let chunk = limit.max(MIN_CHUNK);
        let mut kept: Vec<Vec<Message>> = Vec::new();
        let mut count = 0;
        let mut cursor = before.copied();
        loop {
            let rows = self
                .store
                .page_authored(&self.key, cursor.as_ref(), chunk)?;
            let Some((first, _)) = rows.first() else {
                break;
            };
            cursor = Some(first.id);
            let end = rows.len() < chunk;
            let shown: Vec<Message> = rows
                .into_iter()
                .filter(|(m, a)| m.private == conversation && shows(view, m, *a))
                .map(|(m, _)| m)
                .collect();
            count += shown.len();
            kept.push(shown);
            if end || count >= limit {
                break;
            }
        }
        // Oldest chunk first, then the newest `limit` messages.
        let mut page: Vec<Message> = kept.into_iter().rev().flatten().collect();
        if page.len() > limit {
            page.drain(..page.len() - limit);
        }
        Ok(page)
    }

    /// Up to `limit` messages of the room's conversation that match `query`, newest
    /// first, before `before`, without blocked members' messages.
    pub fn search<W: Writer>(
        &self,
        view: &View<W>,
        query: &str,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let chunk = limit.max(MIN_CHUNK);
        let mut found = Vec::new();
        let mut cursor = before.copied();
        loop {
            let rows = self
                .store
                .search_authored(&self.key, query, cursor.as_ref(), chunk)?;
            let Some((last, _)) = rows.last() else {
                break;
            };
            cursor = Some(last.id);
            let end = rows.len() < chunk;
            found.extend(
                rows.into_iter()
                    .filter(|(m, a)| m.private.is_none() && shows(view, m, *a))
                    .map(|(m, _)| m),
            );
            if end || found.len() >= limit {
                break;
            }
        }
        found.truncate(limit);
        Ok(found)
    }
}

/// `true` when a stored message may be shown: not by a member this member blocks.
fn shows<W: Writer>(view: &View<W>, m: &Message, author: Option<Author>) -> bool {
    if !view.blocks_anyone() {
        return true;
    }
    let author = author.or_else(|| view.timeline.author_of(&m.id));
    !author.is_some_and(|a| view.blocks(a))
}

/// Turns the state folder `folder` into what a version before store schema 4 left (for
/// migration tests): each room's saved state and outbox written to its state file
/// (`room-<id>.state`), its segment cache to `room-<id>.segments`, and a store of
/// schema version 3 without them. Returns the files written.
#[cfg(feature = "testing")]
pub(crate) fn downgrade_to_state_files(folder: &Path) -> Result<Vec<PathBuf>, RoomError> {
    let store_path = folder.join(STORE_FILE);
    let keys: Vec<String> = {
        let store = LocalStore::open(&store_path)?;
        let keys = store.room_keys()?;
        store.close()?;
        keys
    };
    let mut written = Vec::new();
    for key in keys {
        let room = RoomStore::open(folder, key.clone())?;
        let Some((text, rows)) = room.store.load_saved(&key)? else {
            continue;
        };
        let mut saved = SavedState::decode(&text)
            .ok_or_else(|| StoreError::corrupt(&store_path, "a room's saved state is invalid"))?;
        saved.outbox = rows.iter().map(OutboxRow::to_outgoing).collect();
        let file = StateFile::new(folder, &key).map_err(RoomError::LocalState)?;
        file.save(&saved).map_err(RoomError::LocalState)?;
        written.push(file.sibling("state"));
        if let Some(text) = room.store.segment_cache(&key)? {
            std::fs::write(file.sibling("segments"), text).map_err(RoomError::LocalState)?;
            written.push(file.sibling("segments"));
        }
    }
    crate::store::downgrade_to_version_3(&store_path)?;
    Ok(written)
}
