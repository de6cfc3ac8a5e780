//! A room with a state folder keeps its messages and its state in the local store (issue
//! 17): each sync stores what it read with its read positions in one transaction, paging back and
//! searching read the store and not the server, a damaged store is a typed error with a
//! recovery, and a room reopened while its server is down shows its newest messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{mpsc, Arc};
use std::time::Duration;

use ftpchat_core::testing::{FaultyTransport, MemoryTransport, Op};
use ftpchat_core::{
    ErrorKind, LocalStore, Message, RemotePath, Room, RoomConfig, RoomError, RoomEvent,
    StateLocation, StoreError, Transport, TransportError, WriteCodec,
};
use support::ftp_server::{FtpServerTransports, TestFtpServer};

const PW: &str = "correct horse";
const DIR: &str = "rooms/stored";

fn config(who: &str, state: &std::path::Path) -> RoomConfig {
    RoomConfig::native(DIR, who, PW)
        .with_native_iterations(1_000)
        .with_state_dir(state)
}

fn memory_config(who: &str) -> RoomConfig {
    RoomConfig::native(DIR, who, PW).with_native_iterations(1_000)
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

fn store_of(state: &std::path::Path) -> std::path::PathBuf {
    StateLocation::Folder(state.to_path_buf())
        .store_path()
        .unwrap()
}

/// The saved state of the one room of a state folder, as its store holds it.
fn saved_state(state: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(store_of(state)).unwrap();
    conn.query_row("SELECT text FROM room_state", [], |r| r.get(0))
        .unwrap()
}

/// Another process holding the store's write lock (past the busy timeout, while the
/// connection lives in a transaction): the room cannot save.
fn lock_store(state: &std::path::Path) -> rusqlite::Connection {
    let other = rusqlite::Connection::open(store_of(state)).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    other
}

/// Every message of the room, paging back through `history` 7 at a time.
fn all_history(room: &Room) -> Vec<String> {
    let mut all: Vec<Message> = Vec::new();
    let mut before = None;
    loop {
        let page = room.history(before.as_ref(), 7).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        before = Some(page[0].id);
        all.splice(0..0, page);
    }
    texts(&all)
}

#[test]
fn a_sync_stores_its_messages_once_and_keeps_changes() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    let ids: Vec<_> = (0..30)
        .map(|i| alice.send(&format!("message {i}")).unwrap())
        .collect();
    alice.sync().unwrap();
    assert_eq!(bob.sync().unwrap().messages.len(), 30);
    bob.send("bob's own").unwrap();
    bob.sync().unwrap();

    assert_eq!(bob.history(None, usize::MAX).unwrap().len(), 31);
    // Syncing again, reopening and syncing: nothing is stored twice.
    bob.sync().unwrap();
    bob.close().unwrap();
    drop(bob);
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    bob.sync().unwrap();
    let stored = bob.history(None, usize::MAX).unwrap();
    assert_eq!(stored.len(), 31);
    assert_eq!(stored.last().unwrap().text, "bob's own");
    assert!(stored.last().unwrap().is_own);

    // Edits, deletes and reactions read by a sync reach the stored copies, also of
    // messages read by the earlier run (the change waits for its target, which only the
    // store holds: the room reads its history once to apply it).
    alice.edit(&ids[3], "message 3, edited").unwrap();
    alice.delete(&ids[4]).unwrap();
    alice.react(&ids[5], "👍").unwrap();
    alice.sync().unwrap();
    let update = bob.sync().unwrap();
    let mut changed: Vec<_> = update.changed.iter().map(|m| m.id).collect();
    changed.sort();
    let mut want = vec![ids[3], ids[4], ids[5]];
    want.sort();
    assert_eq!(changed, want, "{update:?}");
    bob.close().unwrap();
    drop(bob);
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    let stored = bob.history(None, usize::MAX).unwrap();
    assert_eq!(stored[3].text, "message 3, edited");
    assert!(stored[3].edited);
    assert!(stored[4].deleted && stored[4].text.is_empty());
    assert_eq!(stored[5].reactions[0].reaction, "👍");
    // Bob edits his own message of an earlier run (only the store held it; the room reads
    // its history to check that he wrote it).
    let own = stored.last().unwrap().id;
    bob.edit(&own, "bob's own, edited").unwrap();
    bob.sync().unwrap();
    assert_eq!(bob.message(&own).unwrap().text, "bob's own, edited");
    let stored = bob.history(None, usize::MAX).unwrap();
    assert_eq!(stored.last().unwrap().text, "bob's own, edited");
    // The deleted text is not in the store's search index either.
    assert!(bob.search("message 4", None, 10).unwrap().is_empty());
    assert_eq!(bob.search("message 3", None, 10).unwrap()[0].id, ids[3]);
}

/// A FTPChat shared file numbers its lines by arrival; each run of a room with a store
/// numbers after what earlier runs stored, so every run's lines are stored, in file order.
#[test]
fn a_shared_file_room_stores_the_lines_of_every_run_in_file_order() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let shared = |who: &str| RoomConfig::shared_file("chat.txt", WriteCodec::Legacy15, who);
    let alice = Room::open(t.clone(), shared("alice")).unwrap();
    let mut want = Vec::new();
    for run in 0..4 {
        for i in 0..3 {
            let text = format!("run {run} line {i}");
            alice.send(&text).unwrap();
            want.push(text);
        }
        alice.sync().unwrap();
        let bob = Room::open(t.clone(), shared("bob").with_state_dir(state.path())).unwrap();
        let read = bob.sync().unwrap();
        assert_eq!(read.messages.len(), 3, "run {run}: only the new lines");
        assert_eq!(texts(&bob.history(None, 100).unwrap()), want, "run {run}");
        bob.close().unwrap();
    }
    let found = {
        let bob = Room::open(t.clone(), shared("bob").with_state_dir(state.path())).unwrap();
        bob.search("line 2", None, 10).unwrap()
    };
    // Every word must match: "2" is in "line 2" and in "run 2".
    assert_eq!(
        texts(&found),
        [
            "run 3 line 2",
            "run 2 line 2",
            "run 2 line 1",
            "run 2 line 0",
            "run 1 line 2",
            "run 0 line 2"
        ]
    );
}

/// The messages and the read positions are saved in one transaction: when the store
/// cannot be written, the sync fails with a store error and the saved read positions stay
/// where they were.
#[test]
fn a_failed_store_write_leaves_the_read_positions_behind() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    alice.send("first").unwrap();
    alice.sync().unwrap();
    bob.sync().unwrap();
    let before = saved_state(state.path());

    alice.send("second").unwrap();
    alice.sync().unwrap();
    // Another process holds the store's write lock past the busy timeout.
    let other = lock_store(state.path());
    let err = bob.sync().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LocalStore, "{err}");
    assert!(
        matches!(err, RoomError::Store(StoreError::Busy { .. })),
        "{err:?}"
    );
    assert_eq!(
        saved_state(state.path()),
        before,
        "the read positions did not move past the unstored message"
    );
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);
    // What the failed sync read is handed out once, and stored by the next save.
    let got = bob.sync().unwrap();
    assert_eq!(texts(&got.messages), ["second"]);
    assert_ne!(saved_state(state.path()), before);
    bob.close().unwrap();
    drop(bob);
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(texts(&bob.history(None, 10).unwrap()), ["first", "second"]);
}

#[test]
fn history_and_search_read_the_store_not_the_server() {
    let server = MemoryTransport::new();
    let memory: Arc<dyn Transport> = Arc::new(server.clone());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(memory.clone(), memory_config("Alice")).unwrap();
    let want: Vec<String> = (0..100)
        .map(|i| {
            if i % 10 == 0 {
                format!("lunch plan {i}")
            } else {
                format!("message {i}")
            }
        })
        .collect();
    for text in &want {
        alice.send(text).unwrap();
    }
    alice.sync().unwrap();
    let bob = Room::open(memory.clone(), config("Bob", state.path())).unwrap();
    bob.sync().unwrap();
    bob.close().unwrap();
    drop(bob);

    // Reopened over a transport that counts its calls.
    let faulty = Arc::new(FaultyTransport::new(server.clone()));
    let t: Arc<dyn Transport> = faulty.clone();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    let calls = faulty.total_calls();
    let reads = faulty.calls(Op::ReadFrom);
    assert_eq!(all_history(&bob), want);
    let hits = bob.search("LUNCH", None, 4).unwrap();
    assert_eq!(
        texts(&hits),
        [
            "lunch plan 90",
            "lunch plan 80",
            "lunch plan 70",
            "lunch plan 60"
        ],
        "newest first"
    );
    let next = bob.search("lunch", Some(&hits[3].id), 4).unwrap();
    assert_eq!(
        texts(&next),
        [
            "lunch plan 50",
            "lunch plan 40",
            "lunch plan 30",
            "lunch plan 20"
        ]
    );
    assert!(bob.search("", None, 4).unwrap().is_empty());
    assert!(bob.search("\"lunch\" OR NEAR(*", None, 4).is_ok());
    assert_eq!(
        faulty.total_calls(),
        calls,
        "paging and searching made no call to the server"
    );
    assert_eq!(
        faulty.calls(Op::ReadFrom),
        reads,
        "only the header was read, at open"
    );

    // A room without a state folder has nothing before it downloads the room again, and
    // cannot search.
    let plain = Room::open(t.clone(), memory_config("Carol")).unwrap();
    assert!(plain.history(None, 5).unwrap().is_empty());
    let reads = faulty.calls(Op::ReadFrom);
    plain.sync().unwrap();
    assert!(faulty.calls(Op::ReadFrom) > reads);
    assert_eq!(plain.history(None, 5).unwrap().len(), 5);
    assert_eq!(
        plain.search("lunch", None, 5).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[test]
fn a_damaged_store_is_a_typed_error_and_the_room_rebuilds_it_from_the_server() {
    let server = MemoryTransport::new();
    let t: Arc<dyn Transport> = Arc::new(server.clone());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    for i in 0..20 {
        alice.send(&format!("message {i}")).unwrap();
    }
    alice.sync().unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    bob.sync().unwrap();
    bob.close().unwrap();
    drop(bob);

    let path = store_of(state.path());
    LocalStore::remove(&path).unwrap();
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Room::open(t.clone(), config("Bob", state.path())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LocalStore);
    assert!(!err.is_transient());
    assert!(
        matches!(err, RoomError::Store(StoreError::Corrupt { .. })),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("damaged") && message.contains("LocalStore::remove"),
        "{message}"
    );

    // The documented recovery: delete the store; the room reads its history again, as a
    // new device does (the read positions were in the store too).
    LocalStore::remove(&path).unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(bob.sync().unwrap().messages.len(), 20);
    let history = bob.history(None, 100).unwrap();
    assert_eq!(history.len(), 20);
    assert_eq!(history[19].text, "message 19");
    bob.close().unwrap();
    drop(bob);
    let store = LocalStore::open(&path).unwrap();
    store.check().unwrap();
    drop(store);
    // Rebuilt: the next run pages the store again, with the server gone.
    let offline = Arc::new(FaultyTransport::new(server.clone()));
    let bob = Room::open(offline.clone(), config("Bob", state.path())).unwrap();
    let calls = offline.total_calls();
    assert_eq!(bob.history(None, 100).unwrap(), history);
    assert_eq!(offline.total_calls(), calls);
}

/// Reopened while its FTP server is down, a room shows its newest messages from the
/// store and searches them; syncing fails with a transient transport error and works
/// again once the server is back.
#[test]
fn a_room_reopened_with_the_server_down_shows_its_newest_messages() {
    let mut server = TestFtpServer::start();
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    for i in 0..120 {
        alice.send(&format!("note {i}")).unwrap();
    }
    alice.sync().unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(bob.sync().unwrap().messages.len(), 120);
    bob.close().unwrap();
    drop(bob);
    drop(alice);

    server.stop();
    let down: Arc<dyn Transport> = Arc::new(ftpchat_core::FtpTransport::new(
        server
            .config_builder()
            .root("t1")
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
    ));
    let bob = Room::open(down.clone(), config("Bob", state.path())).unwrap();
    let newest = bob.history(None, 50).unwrap();
    assert_eq!(newest.len(), 50);
    assert_eq!(newest[0].text, "note 70");
    assert_eq!(newest[49].text, "note 119");
    assert_eq!(texts(&bob.search("note 7", None, 1).unwrap()), ["note 7"]);
    let err = bob.sync().unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    // Sending works offline too; the message is pending and stored.
    bob.send("written offline").unwrap();
    let newest = bob.history(None, 1).unwrap();
    assert_eq!(texts(&newest), ["written offline"]);

    server.restart();
    bob.sync().unwrap();
    assert_eq!(bob.outbox_len(), 0);
}

/// A room deleted and created again under the same name is another room: once the user
/// accepts its new header, nothing the store kept of the old one shows in its history or
/// its search, and the new room's messages are stored as usual.
#[test]
fn a_re_created_room_shows_nothing_of_the_old_one() {
    let server = tempfile::tempdir().unwrap();
    let t: Arc<dyn Transport> = Arc::new(ftpchat_core::LocalTransport::new(server.path()));
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), config("Alice", state.path())).unwrap();
    alice.send("old room secret").unwrap();
    alice.sync().unwrap();
    alice.close().unwrap();
    drop(alice);
    assert_eq!(
        LocalStore::open(store_of(state.path()))
            .unwrap()
            .search(&room_key_of(&t), "secret", None, 10)
            .unwrap()
            .len(),
        1,
        "the old room's message is stored"
    );

    std::fs::remove_dir_all(server.path().join(DIR)).unwrap();
    let other = Room::open(t.clone(), memory_config("Carol")).unwrap();
    other.send("new room hello").unwrap();
    other.sync().unwrap();

    // Without accepting the new header, nothing is read (as before the store).
    let err = Room::open(t.clone(), config("Alice", state.path())).unwrap_err();
    assert!(matches!(err, RoomError::HeaderChanged), "{err:?}");
    let alice = Room::open(
        t.clone(),
        config("Alice", state.path()).with_changed_header_accepted(true),
    )
    .unwrap();
    alice.sync().unwrap();
    assert_eq!(all_history(&alice), ["new room hello"]);
    assert!(alice.search("secret", None, 10).unwrap().is_empty());
    assert_eq!(alice.search("hello", None, 10).unwrap().len(), 1);
    alice.close().unwrap();
    drop(alice);
    // Reopened offline from the store: still only the new room.
    let alice = Room::open(t.clone(), config("Alice", state.path())).unwrap();
    assert_eq!(texts(&alice.history(None, 50).unwrap()), ["new room hello"]);
}

/// The key under which a room of `DIR` on `t` is stored (what `Room` uses: the
/// transport's description and the room's path).
fn room_key_of(t: &Arc<dyn Transport>) -> String {
    format!("{}\n{DIR}", t.describe())
}

/// A state folder from before the local store (a state file without `stored 1`, no
/// `store.sqlite`) migrates on first open: the room keeps its read positions and its
/// unsent messages, reads the history its positions skip once, puts it into a new store,
/// and from then on pages and searches the store, also with the server gone.
#[test]
fn a_state_folder_from_before_the_store_migrates_on_first_open() {
    let server = MemoryTransport::new();
    let t: Arc<dyn Transport> = Arc::new(server.clone());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    for i in 0..30 {
        alice.send(&format!("old {i}")).unwrap();
    }
    alice.sync().unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(bob.sync().unwrap().messages.len(), 30);
    // Queued (saved in the state file) but never delivered by the old version.
    bob.send("queued before the upgrade").unwrap();
    drop(bob);

    // What the version before the store left: a state file, no store, and no `stored`
    // line.
    let files = ftpchat_core::testing::downgrade_state_folder(state.path()).unwrap();
    assert_eq!(files.len(), 1);
    let file = files[0].clone();
    LocalStore::remove(store_of(state.path())).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.lines().any(|l| l == "stored 1"), "{text}");
    let old: String = text
        .lines()
        .filter(|l| *l != "stored 1")
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, old).unwrap();
    alice.send("new after the upgrade").unwrap();
    alice.sync().unwrap();

    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(bob.outbox_len(), 1, "the unsent message survived");
    let update = bob.sync().unwrap();
    // Only what is new since the saved positions is new; the history is not shown again.
    assert_eq!(texts(&update.messages), ["new after the upgrade"]);
    assert_eq!(bob.outbox_len(), 0);
    let mut want: Vec<String> = (0..30).map(|i| format!("old {i}")).collect();
    want.push("queued before the upgrade".into());
    want.push("new after the upgrade".into());
    let mut got = all_history(&bob);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(bob.search("upgrade", None, 10).unwrap().len(), 2);
    bob.close().unwrap();
    drop(bob);
    let delivered = texts(&alice.sync().unwrap().messages);
    assert_eq!(delivered, ["queued before the upgrade"], "delivered once");

    // Migrated: the state moved into the store, which now answers without the server.
    assert!(!file.exists(), "the state file was moved into the store");
    assert!(saved_state(state.path()).lines().any(|l| l == "stored 1"));
    let offline = Arc::new(FaultyTransport::new(server.clone()));
    let bob = Room::open(offline.clone(), config("Bob", state.path())).unwrap();
    let calls = offline.total_calls();
    assert_eq!(bob.history(None, 100).unwrap().len(), 32);
    assert_eq!(bob.search("old 7", None, 5).unwrap().len(), 1);
    assert_eq!(offline.total_calls(), calls, "no request after open");
}

/// A state folder of the version before the store kept the rooms' state (a store of
/// schema 3 with messages, a state file beside it) migrates on first open, offline: the
/// state and the unsent messages move into the store and the file is deleted; the history
/// is still paged from the store. A state file left beside a store that already holds
/// the room's state (a run that stopped between moving it and deleting it) is stale: it
/// is deleted, and its outbox is not sent again.
#[test]
fn a_state_file_beside_a_version_3_store_moves_into_the_store() {
    let server = MemoryTransport::new();
    let t: Arc<dyn Transport> = Arc::new(server.clone());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    for i in 0..12 {
        alice.send(&format!("old {i}")).unwrap();
    }
    alice.sync().unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(bob.sync().unwrap().messages.len(), 12);
    bob.send("queued one").unwrap();
    bob.send("queued two").unwrap();
    bob.close().unwrap();
    drop(bob);

    let files = ftpchat_core::testing::downgrade_state_folder(state.path()).unwrap();
    assert_eq!(files.len(), 1);
    let file = files[0].clone();
    let old_file = std::fs::read(&file).unwrap();
    // The membership cache files of that version (a cache: dropped, not moved).
    let caches = [file.with_extension("commits"), file.with_extension("keys")];
    for cache in &caches {
        std::fs::write(cache, b"an old cache").unwrap();
    }
    assert!(
        String::from_utf8_lossy(&old_file)
            .lines()
            .filter(|l| l.starts_with("outbox "))
            .count()
            == 2
    );
    {
        let conn = rusqlite::Connection::open(store_of(state.path())).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 3);
    }

    // Everything comes from the store and the old file: no request after open.
    let offline = Arc::new(FaultyTransport::new(server.clone()));
    let bob = Room::open(offline.clone(), config("Bob", state.path())).unwrap();
    let calls = offline.total_calls();
    assert!(!file.exists(), "the state file was moved into the store");
    assert!(
        caches.iter().all(|c| !c.exists()),
        "the old caches are gone"
    );
    assert_eq!(bob.outbox_len(), 2);
    let page = texts(&bob.history(None, 3).unwrap());
    assert_eq!(page, ["old 11", "queued one", "queued two"]);
    assert_eq!(all_history(&bob).len(), 14);
    assert_eq!(offline.total_calls(), calls, "no request after open");
    bob.close().unwrap();
    drop(bob);

    // A stale file from a run that stopped before deleting it: the store's state wins.
    std::fs::write(&file, &old_file).unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert!(!file.exists(), "the stale state file was deleted");
    assert_eq!(bob.outbox_len(), 2);
    let update = bob.sync().unwrap();
    assert!(update.messages.is_empty(), "nothing read again");
    assert_eq!(bob.outbox_len(), 0);
    bob.close().unwrap();
    drop(bob);
    std::fs::write(&file, &old_file).unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(bob.outbox_len(), 0, "the stale outbox is not sent again");
    bob.sync().unwrap();
    let delivered = texts(&alice.sync().unwrap().messages);
    assert_eq!(delivered, ["queued one", "queued two"], "delivered once");
}

/// A send saves its outbox row and its pending message in one transaction. Saved apart,
/// a process killed between the two (the crash test, `examples/tests/crash_safety.rs`,
/// found it) left a message in the store that no outbox held: shown pending forever,
/// never sent. Here the store cannot be written, as if the process died there.
#[test]
fn a_send_whose_outbox_was_not_saved_leaves_no_message_in_the_store() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    bob.send("saved").unwrap();
    bob.sync().unwrap();
    let other = lock_store(state.path());
    let err = bob.send("never queued").unwrap_err();
    assert!(
        matches!(err, RoomError::Store(StoreError::Busy { .. })),
        "{err:?}"
    );
    // The process ends without another save.
    drop(bob);
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);

    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(bob.outbox_len(), 0);
    assert_eq!(
        texts(&bob.history(None, 10).unwrap()),
        ["saved"],
        "the store holds no message that no outbox will send"
    );
    bob.sync().unwrap();
    assert_eq!(texts(&bob.history(None, 10).unwrap()), ["saved"]);
}

/// A shared file room killed after its append landed and before it saved looks for its
/// unsent lines in the file before appending them again: FTPChat readers would show a
/// second copy (found by `examples/tests/crash_safety.rs` on a shared file). Here the
/// store cannot be written after the append, as if the process died there.
#[test]
fn a_shared_file_append_that_landed_before_a_crash_is_not_appended_again() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let config = || {
        RoomConfig::shared_file("chat.txt", WriteCodec::Legacy15, "Bob")
            .with_state_dir(state.path())
    };
    let bob = Room::open(t.clone(), config()).unwrap();
    bob.send("first").unwrap();
    bob.sync().unwrap();
    bob.send("once").unwrap();
    let other = lock_store(state.path());
    let err = bob.sync().unwrap_err();
    assert!(
        matches!(err, RoomError::Store(StoreError::Busy { .. })),
        "{err:?}"
    );
    // The process ends: its saved outbox still holds the message that landed.
    drop(bob);
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);

    let bob = Room::open(t.clone(), config()).unwrap();
    assert_eq!(bob.outbox_len(), 1);
    bob.sync().unwrap();
    assert_eq!(bob.outbox_len(), 0);
    let file = ftpchat_core::testing::read_all(
        t.as_ref(),
        &ftpchat_core::RemotePath::new("chat.txt").unwrap(),
    )
    .unwrap();
    // FTPChat 1.5 lines are compressed: count them (two messages, two lines).
    let text = String::from_utf8_lossy(&file);
    assert_eq!(text.lines().filter(|l| !l.is_empty()).count(), 2, "{text}");
    assert_eq!(texts(&bob.history(None, 10).unwrap()), ["first", "once"]);
}

/// A transport whose next `list` waits until the test lets it go: a sync held there
/// holds the room.
#[derive(Debug)]
struct Gated {
    inner: Arc<dyn Transport>,
    gate: std::sync::Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl Gated {
    /// Arms the gate: returns (entered, go).
    fn arm(&self) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel();
        *self.gate.lock().unwrap() = Some((entered_tx, go_rx));
        (entered_rx, go_tx)
    }
}

impl Transport for Gated {
    fn capabilities(&self) -> ftpchat_core::Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        self.inner.size(path)
    }
    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn std::io::Write,
    ) -> Result<u64, TransportError> {
        self.inner.read_from(path, offset, sink)
    }
    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.inner.append(path, data)
    }
    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.inner.write_atomic(path, data)
    }
    fn list(&self, dir: &RemotePath) -> Result<Vec<ftpchat_core::DirEntry>, TransportError> {
        let gate = self.gate.lock().unwrap().take();
        if let Some((entered, go)) = gate {
            entered.send(()).unwrap();
            go.recv().unwrap();
        }
        self.inner.list(dir)
    }
    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.make_dir(path)
    }
    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.remove_file(path)
    }
    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.remove_dir(path)
    }
    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.inner.rename(from, to)
    }
}

/// A send made while a sync holds the room is saved at the sync's end: its pending
/// message goes into the store with the outbox row that sends it, so a crash there (here:
/// the store cannot be written) leaves no message shown pending forever and never sent.
#[test]
fn a_send_during_a_sync_is_stored_only_after_its_outbox_is_saved() {
    let gated = Arc::new(Gated {
        inner: Arc::new(MemoryTransport::new()),
        gate: std::sync::Mutex::new(None),
    });
    let t: Arc<dyn Transport> = gated.clone();
    let state = tempfile::tempdir().unwrap();
    let bob = Arc::new(Room::open(t.clone(), config("Bob", state.path())).unwrap());
    bob.send("saved").unwrap();
    bob.sync().unwrap();

    let (entered, go) = gated.arm();
    let syncing = {
        let bob = bob.clone();
        std::thread::spawn(move || bob.sync())
    };
    entered.recv().unwrap();
    // The sync holds the room: this send is queued, saved at the sync's end.
    bob.send("during the sync").unwrap();
    // A page read meanwhile does not store it either (the outbox row is not saved yet).
    assert_eq!(texts(&bob.history(None, 10).unwrap()), ["saved"]);
    let other = lock_store(state.path());
    go.send(()).unwrap();
    let err = syncing.join().unwrap().unwrap_err();
    assert!(
        matches!(err, RoomError::Store(StoreError::Busy { .. })),
        "{err:?}"
    );
    // The process ends without another save.
    drop(bob);
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);

    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    bob.sync().unwrap();
    assert_eq!(bob.outbox_len(), 0);
    let pending: Vec<String> = bob
        .history(None, 10)
        .unwrap()
        .into_iter()
        .filter(|m| m.status == ftpchat_core::MessageStatus::Pending)
        .map(|m| m.text)
        .collect();
    assert!(
        pending.is_empty(),
        "stored pending with an empty outbox (never sent): {pending:?}"
    );
}

/// A shared file whose folder does not exist yet: the send stays queued, in this run and
/// in the next; once the folder exists the same room delivers it, once. (Looking for an
/// earlier attempt's lines in a file that is not there found "not found", and the room
/// never delivered again.)
#[test]
fn a_shared_file_that_does_not_exist_yet_gets_its_queued_messages_once_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let t: Arc<dyn Transport> = Arc::new(ftpchat_core::LocalTransport::new(dir.path()));
    let state = tempfile::tempdir().unwrap();
    let config = || {
        RoomConfig::shared_file("sub/chat.txt", WriteCodec::Legacy15, "Bob")
            .with_state_dir(state.path())
    };
    let bob = Room::open(t.clone(), config()).unwrap();
    bob.send("queued").unwrap();
    let err = bob.sync().unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Transport(ftpchat_core::TransportErrorKind::NotFound),
        "{err:?}"
    );
    // The same run, after the folder appeared.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    bob.sync().unwrap();
    assert_eq!(bob.outbox_len(), 0);
    bob.send("second").unwrap();
    drop(bob);
    // The next run (its outbox saved while the file was not there) delivers it too.
    std::fs::remove_file(dir.path().join("sub/chat.txt")).unwrap();
    let bob = Room::open(t.clone(), config()).unwrap();
    assert_eq!(bob.outbox_len(), 1);
    bob.sync().unwrap();
    assert_eq!(bob.outbox_len(), 0);
    let text = std::fs::read_to_string(dir.path().join("sub/chat.txt")).unwrap();
    assert_eq!(text.lines().filter(|l| !l.is_empty()).count(), 1, "{text}");
}

/// With a state folder a room keeps only a window of its newest messages in memory (issue
/// 17): the store holds the rest, pages and searches them, changes read later still reach
/// them (in the store and in the update), this user can still change its own old
/// messages, and a copy of an evicted message is still a duplicate.
#[test]
fn a_room_keeps_a_window_in_memory_and_changes_still_reach_older_messages() {
    const N: usize = 1_500;
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    let own = bob.send("bob's first").unwrap();
    bob.sync().unwrap();
    // Alice reads it first, so her messages come after it in the room's order even when
    // both clocks read the same millisecond (HLC ties break by device, not by send time).
    alice.sync().unwrap();
    let ids: Vec<_> = (0..N)
        .map(|i| alice.send(&format!("message {i}")).unwrap())
        .collect();
    alice.sync().unwrap();
    // The update carries the 1,000 newest; the store has the 500 older ones.
    let update = bob.sync().unwrap();
    assert_eq!(texts(&update.messages)[0], "message 500");
    assert_eq!(update.messages.len(), 1_000);
    assert_eq!(update.messages_left_out(), 500);
    let held = bob.messages_in_memory();
    assert!(held <= 1_000, "{held} messages held in memory");
    assert_eq!(alice.messages_in_memory(), N + 1, "no store: everything");
    assert!(bob.message(&ids[0]).is_some(), "read back from the store");

    // Alice changes three of the oldest messages; bob reads the changes.
    alice.edit(&ids[0], "message 0, edited").unwrap();
    alice.react(&ids[1], "👍").unwrap();
    alice.delete(&ids[2]).unwrap();
    alice.sync().unwrap();
    let update = bob.sync().unwrap();
    assert!(update.messages.is_empty());
    let changed: std::collections::HashMap<_, _> =
        update.changed.iter().map(|m| (m.id, m)).collect();
    assert_eq!(changed.len(), 3, "{:?}", update.changed);
    assert_eq!(changed[&ids[0]].text, "message 0, edited");
    assert!(changed[&ids[0]].edited);
    assert_eq!(changed[&ids[1]].reactions[0].reaction, "👍");
    assert!(changed[&ids[2]].deleted);
    // The store holds the changed messages.
    assert_eq!(bob.message(&ids[0]).unwrap().text, "message 0, edited");
    let history = all_history(&bob);
    assert_eq!(history.len(), N + 1);
    assert_eq!(history[1], "message 0, edited");
    assert_eq!(history[3], "", "deleted");
    assert!(bob.messages_in_memory() <= 1_000);

    // Bob edits his own message, long out of the window.
    bob.edit(&own, "bob's first, edited").unwrap();
    bob.sync().unwrap();
    let update = alice.sync().unwrap();
    assert_eq!(texts(&update.changed), ["bob's first, edited"]);
    assert_eq!(bob.message(&own).unwrap().text, "bob's first, edited");

    // A copy of alice's first record, appended to her log again, is no new message.
    let logs = RemotePath::new(&format!("{DIR}/logs")).unwrap();
    let log = t
        .list(&logs)
        .unwrap()
        .into_iter()
        .find(|e| e.name.ends_with(".log") && e.size.unwrap_or(0) > 10_000)
        .expect("alice's log");
    let log = logs.join(&log.name).unwrap();
    let data = ftpchat_core::testing::read_all(t.as_ref(), &log).unwrap();
    let first = &data[..=data.iter().position(|b| *b == b'\n').unwrap()];
    t.append(&log, first).unwrap();
    let update = bob.sync().unwrap();
    assert!(update.messages.is_empty(), "{:?}", texts(&update.messages));
    assert_eq!(all_history(&bob).len(), N + 1);
}

/// A first sync longer than the room keeps in memory stores what it read as it goes and
/// drops older messages from memory (issue 17): every message is stored once, in order,
/// and a change read in the same sync reaches a message already dropped.
#[test]
fn a_long_first_sync_stores_as_it_goes_and_loses_nothing() {
    const N: usize = 20_000;
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    let carol = Room::open(t.clone(), memory_config("Carol")).unwrap();
    let ids: Vec<_> = (0..N)
        .map(|i| {
            let room = if i % 3 == 0 { &carol } else { &alice };
            room.send(&format!("message {i}")).unwrap()
        })
        .collect();
    alice.sync().unwrap();
    carol.sync().unwrap();
    alice.edit(&ids[1], "message 1, edited").unwrap();
    alice.sync().unwrap();
    // Alice holds every message in memory (no store): the order every reader agrees on.
    let expected = all_history(&alice);
    assert_eq!(expected.len(), N);
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    let update = bob.sync().unwrap();
    assert_eq!(update.messages.len(), 1_000);
    assert_eq!(texts(&update.messages), expected[N - 1_000..]);
    assert!(update.events.contains(&RoomEvent::MessagesLeftOut {
        messages: (N - 1_000) as u64
    }));
    assert!(bob.messages_in_memory() <= 1_000);
    let store = LocalStore::open(store_of(state.path())).unwrap();
    assert_eq!(store.count(&room_key_of(&t)).unwrap(), N as u64);
    drop(store);
    assert!(expected.contains(&"message 1, edited".to_owned()));
    assert_eq!(all_history(&bob), expected);
    assert!(bob.message(&ids[1]).unwrap().edited);
}

/// After a restart, a change to a message of an earlier run makes the room read its
/// history (with the window, storing and dropping as it goes): the changed message is
/// reported even when that long read dropped it from memory again. The room reads the
/// logs in no fixed order; with four reacting members, the reactions' logs come before
/// the message's in most runs, where nothing else brings the message back into memory.
#[test]
fn a_change_to_an_old_message_after_a_restart_is_reported_after_a_long_history_read() {
    const N: usize = 10_000;
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let alice = Room::open(t.clone(), memory_config("Alice")).unwrap();
    let ids: Vec<_> = (0..N)
        .map(|i| alice.send(&format!("message {i}")).unwrap())
        .collect();
    alice.sync().unwrap();
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    assert_eq!(bob.sync().unwrap().messages_left_out(), (N - 1_000) as u64);
    bob.close().unwrap();
    drop(bob);

    for i in 0..4 {
        let carol = Room::open(t.clone(), memory_config(&format!("Carol {i}"))).unwrap();
        carol.sync().unwrap();
        carol.react(&ids[0], "👍").unwrap();
        carol.sync().unwrap();
    }
    let bob = Room::open(t.clone(), config("Bob", state.path())).unwrap();
    let update = bob.sync().unwrap();
    assert!(update.messages.is_empty());
    assert_eq!(update.changed.len(), 1, "{:?}", update.changed);
    assert_eq!(update.changed[0].id, ids[0]);
    assert_eq!(update.changed[0].reactions[0].senders.len(), 4);
    assert!(bob.messages_in_memory() <= 1_000);
    assert_eq!(bob.message(&ids[0]).unwrap().reactions[0].senders.len(), 4);
}
