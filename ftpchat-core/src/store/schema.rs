//! The store's tables, its schema version (`PRAGMA user_version`) and the migrations
//! between versions.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// `PRAGMA application_id` of a store: `ftcs`. A database with another id is not ours.
pub(crate) const APPLICATION_ID: i64 = 0x6674_6373;

/// Migration `i` takes a store from schema version `i` to `i + 1`; the last index + 1 is
/// the version this build writes. Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// The schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 1: rooms, messages and the full-text index of their text.
///
/// - `rooms.id` numbers a room key (the caller's string); `next_n` is the next arrival
///   number of a message row in that room and `newest` the greatest sort key ever stored
///   there.
/// - `messages.n` is `room id << 40 | arrival number`: the rows of a room are one range of
///   rowids, so a full-text query stays within a room by a rowid range, and within a room
///   rowid order is arrival order. A message whose sort key changes is stored again under a
///   new `n`.
/// - `messages.sort` is the encoded `SortKey` (`encode::encode_key`: byte order = key
///   order); `(room, sort)` and `(room, id)` are unique.
/// - `messages.bound` is the greatest sort key in the room when the row was stored, if
///   greater than the row's own (NULL otherwise, the usual case of messages arriving in
///   order): no row stored before it sorts after its `bound`, which lets a search walking
///   rows newest-arrival-first stop as soon as nothing older can still rank.
/// - `messages_fts` is an FTS5 index over `text` and `file_name` with the `messages` table
///   as external content (the text is stored once), kept in step by triggers, with FTS5's
///   `secure-delete` on: an edit or a delete removes the old words from the index itself.
///   No column sizes (`columnsize = 0`): they serve only relevance ranking, and results
///   are in timeline order.
pub(super) const V1: &str = "
CREATE TABLE rooms (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    next_n INTEGER NOT NULL DEFAULT 0,
    newest BLOB
);
CREATE TABLE messages (
    n INTEGER PRIMARY KEY,
    room INTEGER NOT NULL,
    sort BLOB NOT NULL,
    bound BLOB,
    id BLOB NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    file_name TEXT,
    timestamp_ms INTEGER,
    local_time INTEGER,
    status INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    own INTEGER NOT NULL,
    signer TEXT,
    edited INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    reactions BLOB,
    private BLOB,
    attachment BLOB
);
CREATE UNIQUE INDEX messages_by_sort ON messages(room, sort);
CREATE UNIQUE INDEX messages_by_id ON messages(room, id);
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, file_name,
    content = 'messages', content_rowid = 'n',
    tokenize = 'unicode61 remove_diacritics 2',
    columnsize = 0
);
INSERT INTO messages_fts(messages_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, text, file_name) VALUES (new.n, new.text, new.file_name);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text, file_name)
        VALUES ('delete', old.n, old.text, old.file_name);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, file_name ON messages
WHEN old.text IS NOT new.text OR old.file_name IS NOT new.file_name BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text, file_name)
        VALUES ('delete', old.n, old.text, old.file_name);
    INSERT INTO messages_fts(rowid, text, file_name) VALUES (new.n, new.text, new.file_name);
END;
";

/// Version 2: `messages.author`, who wrote a message as the room's rules tell (the member
/// in a member room, the writer id in a password room; 16 bytes, NULL for FTPChat lines),
/// so that a room filters blocked members and lets a message's author edit it without
/// reading the message's record again.
const V2: &str = "ALTER TABLE messages ADD COLUMN author BLOB;";

/// Version 3:
/// - `messages.run`, the run (one open of the room in one process, a random non-zero
///   number) that stored the row last; 0 for rows stored without one. A room that drops
///   messages from memory tells a copy of one it read in this run by its row, so it keeps
///   no id of them in memory.
/// - New rows enter the full-text index once per batch (`put_batch`: one `INSERT ...
///   SELECT` over the batch's rows), not by a trigger per row: FTS5 writes its pending
///   terms to disk at every statement savepoint, so a trigger made each row a new index
///   segment to merge, about a third of a first sync's time.
const V3: &str = "ALTER TABLE messages ADD COLUMN run INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER messages_fts_insert;";

/// Version 4: what a room saved in its state file (`room-<id>.state`) before, so that a
/// save is one transaction with the messages it stores.
/// - `room_state.text` is the room's saved state (writer, clock, read positions, chain
///   tips, block list: `room::state`'s text without its outbox lines).
/// - `outbox` holds the room's unsent messages, one row each, in `pos` order (a send adds
///   one row instead of rewriting the outbox); `sort` is the message's encoded sort key and
///   `line` the line or record that delivers it.
const V4: &str = "
CREATE TABLE room_state (
    room INTEGER PRIMARY KEY,
    text TEXT NOT NULL
);
CREATE TABLE outbox (
    room INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    id BLOB NOT NULL,
    sort BLOB NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (room, pos)
) WITHOUT ROWID;
";

/// Version 5: the caches of a room's membership, presence and segments (they were the files
/// `room-<id>.commits`, `room-<id>.keys` and `room-<id>.segments` beside the state), so a
/// reopen neither downloads nor unwraps them again.
/// - `commits`: commit `n` of the room's membership log, its bytes as on the server
///   (checked again when loaded unless the epoch secrets are cached too). A rowid table:
///   a commit can be kilobytes, and SQLite advises against `WITHOUT ROWID` for rows over a
///   twentieth of a page.
/// - `epoch_keys`: the epoch secrets this device opened (32 bytes each).
/// - `device_states`: the newest state file (presence and read position, SPEC §18) read
///   or published of each writer, its bytes as on the server and its counter, so that
///   presence and "seen by" show before the first sync and unchanged files are not
///   downloaded again. Checked again when loaded.
/// - `segment_cache`: on a server without appends, what the room's segment layout knows
///   of the logs' objects and how far it read the feed (SPEC §9.5; its own text format,
///   `room::layout::segments`), so a restart reads only the feed's news. It was the file
///   `room-<id>.segments`.
const V5: &str = "
CREATE TABLE commits (
    room INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (room, n)
);
CREATE TABLE epoch_keys (
    room INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    secret BLOB NOT NULL,
    PRIMARY KEY (room, epoch)
) WITHOUT ROWID;
CREATE TABLE device_states (
    room INTEGER NOT NULL,
    writer BLOB NOT NULL,
    counter INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (room, writer)
);
CREATE TABLE segment_cache (
    room INTEGER PRIMARY KEY,
    text TEXT NOT NULL
);
";

/// Sets the connection's pragmas, refuses files that are not stores or are newer, and
/// creates or migrates the schema.
pub(crate) fn prepare(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |e| StoreError::from_sqlite(path, e);
    // The first statement that reads the file: a file that is not a database fails here
    // (SQLITE_NOTADB). WAL: readers do not block the writer, and a crash mid-write leaves
    // the last committed state.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // E.g. a file system without shared memory: SQLite keeps its rollback journal,
        // which is as crash-safe, only slower with concurrent readers.
        log::warn!(
            "local store {}: journal mode {mode}, not WAL",
            path.display()
        );
    }
    conn.execute_batch(
        // FULL: a commit is on disk when `put_messages` returns (see the module docs).
        // secure_delete: replaced and deleted content is overwritten with zeros.
        // cell_size_check: damaged pages are reported as corrupt rather than misread.
        // journal_size_limit: the WAL is cut back to 4 MiB after a checkpoint.
        "PRAGMA synchronous = FULL;
         PRAGMA secure_delete = ON;
         PRAGMA cell_size_check = ON;
         PRAGMA journal_size_limit = 4194304;",
    )
    .map_err(sql)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let app_id: i64 = tx
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(sql)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    if app_id != APPLICATION_ID && (app_id != 0 || version != 0) {
        return Err(StoreError::corrupt(
            path,
            format!("not an ftpchat store (application id {app_id:#x})"),
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            path: path.to_path_buf(),
            version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 0 {
        return Err(StoreError::corrupt(
            path,
            format!("schema version {version}"),
        ));
    }
    if version == 0 {
        let objects: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(sql)?;
        if objects > 0 {
            return Err(StoreError::corrupt(
                path,
                "not an ftpchat store (a database with tables and no schema version)",
            ));
        }
    }
    if version < SCHEMA_VERSION {
        migrate(&tx, version).map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

/// Runs the migrations from `from` to [`SCHEMA_VERSION`] (all in the caller's
/// transaction, so a crash leaves the old version whole) and records the new version.
fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    let from = usize::try_from(from).unwrap_or(0);
    for step in MIGRATIONS.iter().skip(from) {
        conn.execute_batch(step)?;
    }
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
}
