//! The local store (issue 17): one SQLite file per user that keeps the messages of all its
//! rooms, so a room opens on its newest messages at once, pages back through its history
//! without the server, and searches it.
//!
//! [`LocalStore`] is the public object. Inside, by concern: `schema.rs` (tables, schema
//! version, migrations), `encode.rs` (the sort key as bytes, a message's columns),
//! `query.rs` (a user's search text as an FTS5 query), `error.rs` ([`StoreError`]).
//!
//! Design decisions:
//!
//! - **Crash safety.** WAL journal with `synchronous = FULL`: a commit is on disk when the
//!   call returns, also across a power cut. `NORMAL` would only lose the last commits on a
//!   power cut, never corrupt, but a room's outbox is saved here (`saved.rs`, schema 4):
//!   `send` returns once its message is saved, so a commit must be on disk. The cost is
//!   one `fsync` per transaction, which takes a whole sync's messages and read positions.
//! - **Order.** The sort key is stored as a BLOB whose byte order is [`SortKey`]'s `Ord`
//!   (`encode::encode_key`), so SQLite's index order is the timeline's order and
//!   [`LocalStore::page`] pages exactly like [`Timeline::page`](crate::codec::Timeline::page).
//! - **Search.** FTS5 with the `unicode61` tokenizer, diacritics removed (`cafe` finds
//!   "café"), case folded; words match as prefixes (`query.rs`). Results come newest
//!   first in timeline order: the index is walked newest-arrival first and stops as soon
//!   as no older row can rank (`messages.bound`, see `schema.rs`), so when messages arrive
//!   roughly in order a search reads about as many rows as it returns, however common
//!   the word.
//! - **Privacy.** The store holds message text, senders and **attachment keys in the
//!   clear** (the key is needed to save the file later), protected by the operating
//!   system account like the identity file: the file is created `0600` on Unix. Encrypting
//!   columns is a later step. A deleted message keeps no text, reactions or attachment;
//!   `secure_delete` and FTS5's `secure-delete` overwrite the old text in the file and
//!   remove its words from the index (once the WAL is checkpointed, at the latest when the
//!   last connection closes).

mod encode;
mod error;
mod membership;
mod query;
mod saved;
mod schema;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

pub use error::StoreError;
#[cfg(feature = "testing")]
pub(crate) use saved::downgrade_to_version_3;
pub(crate) use saved::{OutboxRow, RoomSave};

use crate::timeline::{Author, Message, MessageId, SortKey};
use encode::{
    authored_from_row, decode_key, encode_key, message_from_row, MessageRow, MESSAGE_COLUMNS,
};

/// How long a call waits for another process's lock on the file before
/// [`StoreError::Busy`].
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Bits of `messages.n` numbering the messages of one room (the room id is above them).
const ROOM_SHIFT: u32 = 40;
/// The largest arrival number within a room.
const MAX_N: i64 = (1 << ROOM_SHIFT) - 1;
/// The largest room id (`id << 40` must fit an `i64`).
const MAX_ROOM_ID: i64 = (1 << (63 - ROOM_SHIFT)) - 1;
/// Greater than every encoded sort key (they start with 0 or 1).
const AFTER_ALL_KEYS: &[u8] = &[0xff];

/// A page of a room's messages before a sort key, newest first (reversed by the caller):
/// a walk of the `(room, sort)` index.
fn page_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room = ?1 AND sort < ?2 ORDER BY sort DESC LIMIT ?3"
    )
}

/// The local store of one user: the messages of all its rooms in one SQLite file (WAL
/// mode, full-text index), safe to share between threads (`Send + Sync`; calls are
/// serialised on one connection).
///
/// Rooms are named by a **room key**, a string the caller chooses that is stable for a
/// room on its server (e.g. the transport's description and the room's path, as the state
/// files are keyed). A room exists once a message is put into it; reading a room that
/// does not exist finds nothing.
///
/// ```
/// use ftpchat_core::codec::{Hlc, SortKey, WriterId};
/// use ftpchat_core::{Codec, LocalStore, Message, MessageId};
///
/// let dir = tempfile::tempdir()?;
/// let store = LocalStore::open(dir.path().join("store.sqlite"))?;
/// let id = MessageId([1; 16]);
/// let key = SortKey::Native { hlc: Hlc(1), writer: WriterId([2; 16]), seq: 1, id };
/// store.put_messages("ftp://server/rooms/lobby", &[(key, Message::new(id, "Alice", "Lunch at noon?", Codec::Native))])?;
///
/// let newest = store.page("ftp://server/rooms/lobby", None, 50)?;
/// assert_eq!(newest[0].text, "Lunch at noon?");
/// let found = store.search("ftp://server/rooms/lobby", "lunch", None, 50)?;
/// assert_eq!(found[0].id, id);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// **Privacy.** The store holds message text, senders and **attachment keys in the clear**
/// (a key is needed to save its file later), protected by the operating system account
/// like the identity file: the file is created readable by its owner only (`0600` on
/// Unix, as are SQLite's `-wal` and `-shm` files beside it). Encrypting columns is a later
/// step. A deleted message keeps no text, reactions or attachment: the old text is
/// overwritten in the file and its words are removed from the search index (in the file
/// itself once SQLite's write-ahead log is checkpointed, at the latest when the store is
/// closed).
///
/// **Errors and recovery.** A damaged file is [`StoreError::Corrupt`], found when it is
/// opened or when the damaged part is first read ([`LocalStore::check`] reads it all).
/// The recovery is to delete it ([`LocalStore::remove`]) and open it again: the rooms
/// read their history from the server again, as a new device does (a room's read
/// positions and outbox are in the store too: messages not sent yet are lost with it).
/// A file written by a newer ftpchat is [`StoreError::Newer`] and left alone.
pub struct LocalStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// The schema version this ftpchat writes (`PRAGMA user_version`). A store with a
    /// lower version is migrated when opened; a higher one is [`StoreError::Newer`].
    pub const SCHEMA_VERSION: i64 = schema::SCHEMA_VERSION;

    /// Opens the store at `path`, creating it (and its folder) when missing, and migrates
    /// an older schema. Refuses a file that is not a store or is damaged
    /// ([`StoreError::Corrupt`]) and one from a newer ftpchat ([`StoreError::Newer`]).
    ///
    /// Opening reads only the file's header and schema, not its messages: it takes about a
    /// millisecond whatever the store holds.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        create_private(&path).map_err(io)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags)
            .map_err(|e| StoreError::from_sqlite(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StoreError::from_sqlite(&path, e))?;
        schema::prepare(&mut conn, &path)?;
        Ok(LocalStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the store at `path`: the file and SQLite's `-wal`, `-shm` and `-journal`
    /// files beside it (a `-wal` left behind could be replayed into a new store of the same
    /// name). Missing files are not an error. Every [`LocalStore`] of this file must be
    /// dropped first. This is the recovery from [`StoreError::Corrupt`].
    pub fn remove(path: impl AsRef<Path>) -> Result<(), StoreError> {
        let path = path.as_ref();
        for suffix in ["-wal", "-shm", "-journal", ""] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            match std::fs::remove_file(&name) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StoreError::Io {
                        path: PathBuf::from(name),
                        source: e,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Closes the store, reporting an error that dropping it would only log. Committed
    /// messages are safe either way.
    pub fn close(self) -> Result<(), StoreError> {
        let conn = self
            .conn
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        conn.close()
            .map_err(|(_, e)| StoreError::from_sqlite(&self.path, e))
    }

    /// Reads the whole file and checks it (SQLite's `quick_check` and the full-text
    /// index's integrity check): [`StoreError::Corrupt`] when anything is damaged. Takes
    /// time in proportion to the store's size (140 ms for 100,000 messages in the benchmark),
    /// so it is not part of [`LocalStore::open`]; run it when a damaged store is suspected,
    /// or now and then in the background.
    pub fn check(&self) -> Result<(), StoreError> {
        let conn = self.lock();
        let problems = (|| {
            let mut stmt = conn.prepare("PRAGMA quick_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })()
        .map_err(|e| self.err(e))?;
        if problems != ["ok"] {
            return Err(StoreError::corrupt(&self.path, problems.join("; ")));
        }
        conn.execute(
            "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .map_err(|e| match self.err(e) {
            // FTS5 reports a damaged index as SQLITE_CORRUPT_VTAB; anything else is too.
            StoreError::Database { detail, .. } => StoreError::corrupt(&self.path, detail),
            other => other,
        })?;
        Ok(())
    }

    /// Stores messages of `room` in one transaction, each under its sort key, and returns
    /// how many were stored. The messages are on disk when this returns (one `fsync`; put
    /// a whole sync's messages in one call), so save a read position that covers them only
    /// after.
    ///
    /// A message whose id is already stored replaces the stored one (an edit, a delete, a
    /// reaction, a confirmation: the caller puts a message again whenever it changes), and
    /// moves with it when its key changed (a pending message confirmed). When one id is
    /// given twice, the later one counts. A message whose key is held by another message
    /// is not stored (as [`Timeline::insert`](crate::codec::Timeline::insert) keeps the
    /// first message at a place).
    ///
    /// A deleted message ([`Message::deleted`]) is stored without its text, reactions and
    /// attachment, whatever the given message holds.
    pub fn put_messages(
        &self,
        room: &str,
        messages: &[(SortKey, Message)],
    ) -> Result<usize, StoreError> {
        let authored: Vec<(&SortKey, &Message, Option<Author>)> =
            messages.iter().map(|(k, m)| (k, m, None)).collect();
        self.put_authored(room, &authored, 0)
    }

    /// [`put_messages`](Self::put_messages) with each message's author (the room knows
    /// it; `None` when there is none, as for FTPChat lines), marking each row as stored
    /// by `run` (see [`stored_in_run`](Self::stored_in_run)).
    pub(crate) fn put_authored(
        &self,
        room: &str,
        messages: &[(&SortKey, &Message, Option<Author>)],
        run: i64,
    ) -> Result<usize, StoreError> {
        self.put_and_save(room, messages, run, &RoomSave::default())
    }

    /// A batch for [`put_batch`]: the last copy of each id, with encoded keys, in key
    /// order (new rows are numbered in key order, so that a batch read out of order, one
    /// log after another, arrives in order).
    fn batch<'m>(
        messages: &[(&SortKey, &'m Message, Option<Author>)],
    ) -> Vec<(Vec<u8>, &'m Message, Option<Author>)> {
        let mut last: HashMap<MessageId, usize> = HashMap::with_capacity(messages.len());
        for (i, (_, m, _)) in messages.iter().enumerate() {
            last.insert(m.id, i);
        }
        let mut batch: Vec<(Vec<u8>, &Message, Option<Author>)> = messages
            .iter()
            .enumerate()
            .filter(|(i, (_, m, _))| last.get(&m.id) == Some(i))
            .map(|(_, (k, m, a))| (encode_key(k), *m, *a))
            .collect();
        batch.sort_by(|a, b| a.0.cmp(&b.0));
        batch
    }

    /// Runs `write` in one immediate transaction with the id of `room`'s row (created when
    /// missing), and commits when it succeeds: on disk when this returns, or nothing.
    fn write_room<T>(
        &self,
        room: &str,
        write: impl FnOnce(&rusqlite::Transaction<'_>, i64) -> Result<T, PutError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.lock();
        (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = room_row(&tx, room)?.id;
            let out = write(&tx, id)?;
            tx.commit()?;
            Ok(out)
        })()
        .map_err(|e: PutError| self.put_error(e))
    }

    fn put_error(&self, e: PutError) -> StoreError {
        match e {
            PutError::Sql(e) => self.err(e),
            PutError::Limit(what) => StoreError::Database {
                path: self.path.clone(),
                detail: what.into(),
            },
        }
    }

    /// Up to `limit` messages of `room` just before the message `before` in timeline order
    /// (the newest when `None`), oldest first, like
    /// [`Timeline::page`](crate::codec::Timeline::page): pass the first message of a page
    /// as `before` to get the page before it. Empty when `before` is not in the room.
    pub fn page(
        &self,
        room: &str,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(self
            .page_authored(room, before, limit)?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// [`page`](Self::page) with each message's author, when stored.
    pub(crate) fn page_authored(
        &self,
        room: &str,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<(Message, Option<Author>)>, StoreError> {
        let conn = self.lock();
        let page = (|| {
            let Some(room) = room_id(&conn, room)? else {
                return Ok(Vec::new());
            };
            let upper = match before {
                Some(id) => match sort_of(&conn, room, id)? {
                    Some(sort) => sort,
                    None => return Ok(Vec::new()),
                },
                None => AFTER_ALL_KEYS.to_vec(),
            };
            let mut stmt = conn.prepare(&page_sql())?;
            let rows = stmt.query_map(params![room, upper, sql_limit(limit)], |r| {
                authored_from_row(r, 0)
            })?;
            let mut page = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            page.reverse();
            Ok(page)
        })()
        .map_err(|e| self.err(e))?;
        Ok(page)
    }

    /// Up to `limit` messages of `room` that match `query`, **newest first** (timeline
    /// order), starting just before the message `before` when given: pass the last
    /// message of a page as `before` to get the next page. Empty when `before` is not in
    /// the room or the query has no word.
    ///
    /// `query` is what a user typed, never query syntax: every word must appear in the
    /// message's text or its attachment's file name, case and accents ignored, each word
    /// matching the words it starts (`meet` finds "meeting"; a one-letter word matches
    /// only itself). Quotes, `*`, `-`, `NEAR` and the like are plain words or separators.
    /// Punctuation and emoji are not indexed, so they find nothing.
    pub fn search(
        &self,
        room: &str,
        query: &str,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(self
            .search_authored(room, query, before, limit)?
            .into_iter()
            .map(|(m, _)| m)
            .collect())
    }

    /// [`search`](Self::search) with each message's author, when stored.
    pub(crate) fn search_authored(
        &self,
        room: &str,
        query: &str,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<(Message, Option<Author>)>, StoreError> {
        let Some(fts) = query::fts_query(query) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.lock();
        let found = (|| {
            let Some(room) = room_id(&conn, room)? else {
                return Ok(Vec::new());
            };
            let upper = match before {
                Some(id) => match sort_of(&conn, room, id)? {
                    Some(sort) => sort,
                    None => return Ok(Vec::new()),
                },
                None => AFTER_ALL_KEYS.to_vec(),
            };
            let (best, _) = search_rows(&conn, room, &fts, &upper, limit)?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE n = ?1"
            ))?;
            best.into_iter()
                .map(|n| stmt.query_row([n], |r| authored_from_row(r, 0)))
                .collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(|e| self.err(e))?;
        Ok(found)
    }

    /// The message `id` of `room`, if stored.
    pub fn get(&self, room: &str, id: &MessageId) -> Result<Option<Message>, StoreError> {
        let conn = self.lock();
        conn.query_row(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages
                 WHERE room = (SELECT id FROM rooms WHERE key = ?1) AND id = ?2"
            ),
            params![room, id.0.as_slice()],
            |r| message_from_row(r, 0),
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// The message `id` of `room` with where it sorts and its author, if stored: what a
    /// room needs to take it back into memory.
    pub(crate) fn entry(
        &self,
        room: &str,
        id: &MessageId,
    ) -> Result<Option<(SortKey, Message, Option<Author>)>, StoreError> {
        let conn = self.lock();
        let found = conn
            .query_row(
                &format!(
                    "SELECT sort, {MESSAGE_COLUMNS} FROM messages
                     WHERE room = (SELECT id FROM rooms WHERE key = ?1) AND id = ?2"
                ),
                params![room, id.0.as_slice()],
                |r| Ok((r.get::<_, Vec<u8>>(0)?, authored_from_row(r, 1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        found
            .map(|(sort, (message, author))| {
                let key = decode_key(&sort)
                    .ok_or_else(|| StoreError::corrupt(&self.path, "a sort key is invalid"))?;
                Ok((key, message, author))
            })
            .transpose()
    }

    /// `true` when `room` holds message `id` as stored last by `run` (a non-zero run
    /// number given to [`put_authored`](Self::put_authored)).
    pub(crate) fn stored_in_run(
        &self,
        room: &str,
        id: &MessageId,
        run: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.lock();
        (|| {
            let mut stmt = conn.prepare_cached(
                "SELECT 1 FROM messages
                 WHERE room = (SELECT id FROM rooms WHERE key = ?1) AND id = ?2 AND run = ?3",
            )?;
            stmt.exists(params![room, &id.0[..], run])
        })()
        .map_err(|e| self.err(e))
    }

    /// Where the message `id` of `room` sorts, if stored.
    pub fn key_of(&self, room: &str, id: &MessageId) -> Result<Option<SortKey>, StoreError> {
        let conn = self.lock();
        let sort = (|| match room_id(&conn, room)? {
            Some(room) => sort_of(&conn, room, id),
            None => Ok(None),
        })()
        .map_err(|e| self.err(e))?;
        sort.map(|s| {
            decode_key(&s).ok_or_else(|| StoreError::corrupt(&self.path, "a sort key is invalid"))
        })
        .transpose()
    }

    /// The greatest arrival order of a confirmed shared-file message of `room`
    /// (`SortKey::File { pending: 0, order }`), if any: a room resumed over a store
    /// numbers what it reads after it, so keys of different runs never meet.
    pub(crate) fn max_file_order(&self, room: &str) -> Result<Option<u64>, StoreError> {
        let lower = encode_key(&SortKey::File {
            pending: 0,
            order: 0,
        });
        let upper = encode_key(&SortKey::File {
            pending: 1,
            order: 0,
        });
        let conn = self.lock();
        let sort: Option<Vec<u8>> = conn
            .query_row(
                "SELECT max(sort) FROM messages
                 WHERE room = (SELECT id FROM rooms WHERE key = ?1) AND sort >= ?2 AND sort < ?3",
                params![room, lower, upper],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        match sort.map(|s| decode_key(&s)) {
            None => Ok(None),
            Some(Some(SortKey::File { order, .. })) => Ok(Some(order)),
            Some(_) => Err(StoreError::corrupt(&self.path, "a sort key is invalid")),
        }
    }

    /// Deletes every stored message of `room` (and their search entries) and its
    /// membership cache, in one transaction: the room at that place is another one now
    /// (re-created), and nothing of the old one may show in its history or search.
    /// Returns how many messages were deleted.
    pub(crate) fn forget_room(&self, room: &str) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let deleted = tx.execute(
                "DELETE FROM messages WHERE room = (SELECT id FROM rooms WHERE key = ?1)",
                [room],
            )?;
            tx.execute("UPDATE rooms SET newest = NULL WHERE key = ?1", [room])?;
            // And its membership and presence cache (schema 5): another room's.
            for table in ["commits", "epoch_keys", "device_states"] {
                tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE room = (SELECT id FROM rooms WHERE key = ?1)"
                    ),
                    [room],
                )?;
            }
            tx.commit()?;
            Ok(u64::try_from(deleted).unwrap_or(0))
        })()
        .map_err(|e| self.err(e))
    }

    /// `true` when at least one message of `room` is stored (one index lookup, where
    /// [`count`](Self::count) reads them all).
    pub(crate) fn holds_room(&self, room: &str) -> Result<bool, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages
                 WHERE room = (SELECT id FROM rooms WHERE key = ?1))",
            [room],
            |r| r.get::<_, bool>(0),
        )
        .map_err(|e| self.err(e))
    }

    /// How many messages of `room` are stored (deleted ones included, as the timeline
    /// shows them).
    pub fn count(&self, room: &str) -> Result<u64, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT count(*) FROM messages WHERE room = (SELECT id FROM rooms WHERE key = ?1)",
            [room],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(|e| self.err(e))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held rolled its transaction back when the
        // transaction was dropped: the connection is usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(&self.path, e)
    }
}

/// Why a put failed: SQLite, or a numbering limit of this schema.
enum PutError {
    Sql(rusqlite::Error),
    Limit(&'static str),
}

impl From<rusqlite::Error> for PutError {
    fn from(e: rusqlite::Error) -> Self {
        PutError::Sql(e)
    }
}

/// A room's row: its id, the number its next message gets, and its newest sort key.
struct RoomRow {
    id: i64,
    next_n: i64,
    newest: Option<Vec<u8>>,
}

/// The row of `room`, created when missing; a room id beyond what message numbers can
/// hold is refused.
fn room_row(tx: &rusqlite::Transaction<'_>, room: &str) -> Result<RoomRow, PutError> {
    let row = match tx
        .query_row(
            "SELECT id, next_n, newest FROM rooms WHERE key = ?1",
            [room],
            |r| {
                Ok(RoomRow {
                    id: r.get(0)?,
                    next_n: r.get(1)?,
                    newest: r.get(2)?,
                })
            },
        )
        .optional()?
    {
        Some(row) => row,
        None => {
            tx.execute("INSERT INTO rooms(key) VALUES (?1)", [room])?;
            RoomRow {
                id: tx.last_insert_rowid(),
                next_n: 0,
                newest: None,
            }
        }
    };
    if !(1..=MAX_ROOM_ID).contains(&row.id) {
        return Err(PutError::Limit("too many rooms in one store"));
    }
    Ok(row)
}

/// Stores a batch (encoded keys, sorted, one entry per id) in the open transaction.
fn put_batch(
    tx: &rusqlite::Transaction<'_>,
    room: &str,
    batch: &[(Vec<u8>, &Message, Option<Author>)],
    run: i64,
) -> Result<usize, PutError> {
    let RoomRow {
        id: room,
        mut next_n,
        mut newest,
    } = room_row(tx, room)?;
    let first_n = next_n;
    let mut by_id = tx.prepare("SELECT n, sort FROM messages WHERE room = ?1 AND id = ?2")?;
    let mut by_sort = tx.prepare("SELECT id FROM messages WHERE room = ?1 AND sort = ?2")?;
    let mut delete = tx.prepare("DELETE FROM messages WHERE n = ?1")?;
    let mut insert = tx.prepare(
        "INSERT INTO messages(n, room, sort, bound, id, sender, text, file_name, timestamp_ms,
             local_time, status, codec, own, signer, edited, deleted, reactions, private,
             attachment, author, run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20, ?21)",
    )?;
    let mut update = tx.prepare(
        "UPDATE messages SET sender = ?2, text = ?3, file_name = ?4, timestamp_ms = ?5,
             local_time = ?6, status = ?7, codec = ?8, own = ?9, signer = ?10, edited = ?11,
             deleted = ?12, reactions = ?13, private = ?14, attachment = ?15, author = ?16,
             run = ?17
         WHERE n = ?1",
    )?;
    let mut stored = 0;
    for (sort, message, author) in batch {
        let row = MessageRow::new(message);
        let author = author.map(|a| a.0.to_vec());
        let existing = by_id
            .query_row(params![room, row.id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()?;
        if let Some((n, old_sort)) = &existing {
            if old_sort == sort {
                update.execute(params![
                    n,
                    row.sender,
                    row.text,
                    row.file_name,
                    row.timestamp_ms,
                    row.local_time,
                    row.status,
                    row.codec,
                    row.own,
                    row.signer,
                    row.edited,
                    row.deleted,
                    row.reactions,
                    row.private,
                    row.attachment,
                    author,
                    run
                ])?;
                stored += 1;
                continue;
            }
        }
        let holder: Option<Vec<u8>> = by_sort
            .query_row(params![room, sort], |r| r.get(0))
            .optional()?;
        if holder.is_some() {
            log::debug!("local store: a message's place is taken by another; not stored");
            continue;
        }
        if let Some((n, _)) = existing {
            // Its key changed: store it again under a new arrival number, so that every
            // row's bound stays above the keys of the rows that arrived before it.
            delete.execute([n])?;
        }
        if next_n > MAX_N {
            return Err(PutError::Limit("too many messages in one room"));
        }
        let n = (room << ROOM_SHIFT) | next_n;
        next_n += 1;
        if newest.as_ref().is_none_or(|newest| sort > newest) {
            newest = Some(sort.clone());
        }
        let bound = newest.as_ref().filter(|newest| *newest > sort);
        insert.execute(params![
            n,
            room,
            sort,
            bound,
            row.id,
            row.sender,
            row.text,
            row.file_name,
            row.timestamp_ms,
            row.local_time,
            row.status,
            row.codec,
            row.own,
            row.signer,
            row.edited,
            row.deleted,
            row.reactions,
            row.private,
            row.attachment,
            author,
            run
        ])?;
        stored += 1;
    }
    // The new rows are one range of `n`: indexed in one statement (schema version 3).
    if next_n > first_n {
        tx.execute(
            "INSERT INTO messages_fts(rowid, text, file_name)
             SELECT n, text, file_name FROM messages WHERE n >= ?1 AND n < ?2",
            params![
                (room << ROOM_SHIFT) | first_n,
                (room << ROOM_SHIFT) | next_n
            ],
        )?;
    }
    tx.execute(
        "UPDATE rooms SET next_n = ?2, newest = ?3 WHERE id = ?1",
        params![room, next_n, newest],
    )?;
    Ok(stored)
}

/// The search query: a room's matches (its rowid range), newest arrival first, each with
/// its sort key and bound. FTS5 walks its index backwards (no sorting).
const SEARCH_SQL: &str = "SELECT m.n, m.sort, m.bound
     FROM messages_fts CROSS JOIN messages AS m ON m.n = messages_fts.rowid
     WHERE messages_fts MATCH ?1 AND messages_fts.rowid BETWEEN ?2 AND ?3
     ORDER BY messages_fts.rowid DESC";

/// The rows (`n`) of the `limit` greatest sort keys below `upper` among the matches of
/// `fts` in `room`, greatest first, and how many matches were read to find them.
///
/// The matches come newest arrival first. `best` keeps the `limit` greatest keys so far;
/// once it is full and its smallest key is above a row's bound, neither that row nor any
/// that arrived before it can rank (each sorts at or below that bound): stop.
fn search_rows(
    conn: &Connection,
    room: i64,
    fts: &str,
    upper: &[u8],
    limit: usize,
) -> rusqlite::Result<(Vec<i64>, usize)> {
    let mut stmt = conn.prepare(SEARCH_SQL)?;
    let first = room << ROOM_SHIFT;
    let mut rows = stmt.query(params![fts, first, first | MAX_N])?;
    let mut best: BinaryHeap<Reverse<(Vec<u8>, i64)>> = BinaryHeap::new();
    let mut read = 0;
    while let Some(row) = rows.next()? {
        read += 1;
        let n: i64 = row.get(0)?;
        let sort: Vec<u8> = row.get(1)?;
        let bound: Option<Vec<u8>> = row.get(2)?;
        if best.len() == limit {
            let bound = bound.as_deref().unwrap_or(&sort);
            if best
                .peek()
                .is_some_and(|Reverse((min, _))| min.as_slice() > bound)
            {
                break;
            }
        }
        if sort.as_slice() < upper {
            best.push(Reverse((sort, n)));
            if best.len() > limit {
                best.pop();
            }
        }
    }
    // `into_sorted_vec` of `Reverse` items: the greatest key first.
    let rows = best
        .into_sorted_vec()
        .into_iter()
        .map(|Reverse((_, n))| n)
        .collect();
    Ok((rows, read))
}

fn room_id(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT id FROM rooms WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

fn sort_of(conn: &Connection, room: i64, id: &MessageId) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT sort FROM messages WHERE room = ?1 AND id = ?2",
        params![room, id.0.as_slice()],
        |r| r.get(0),
    )
    .optional()
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Creates the file readable by its owner only, when missing (SQLite gives its `-wal` and
/// `-shm` files the same permissions).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
