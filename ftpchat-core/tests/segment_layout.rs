//! Native rooms on a store that cannot append (SPEC §9.5, the segment layout), played on
//! memory and folder stores told to refuse appends, as S3 and WebDAV do: two devices
//! chat, an idle poll costs the same with 10 and 100 writers, delivery costs the same at
//! any history size, member rooms (signatures, private messages, removal) and
//! attachments work, a copied state folder is refused by the create-only write and moves
//! to a new writer id, and a FTPChat chat file is refused with a clear error.
//! The same room against a real S3 server is in `transport_s3.rs` and `room_servers.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use ftpchat_core::testing::{FaultyTransport, MemoryTransport, Op};
use ftpchat_core::{
    LocalTransport, Message, RemotePath, Role, Room, RoomConfig, RoomError, RoomEvent, Transport,
    WriteCodec,
};
use support::members::Device;

const PW: &str = "correct horse";

fn object_store() -> (FaultyTransport<MemoryTransport>, Arc<dyn Transport>) {
    let t = FaultyTransport::new(MemoryTransport::new());
    t.refuse_appends();
    let shared: Arc<dyn Transport> = Arc::new(t.clone());
    (t, shared)
}

fn native(who: &str) -> RoomConfig {
    RoomConfig::native("r", who, PW).with_native_iterations(1_000)
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn names(t: &dyn Transport, dir: &str) -> Vec<String> {
    let mut n: Vec<String> = t
        .list(&RemotePath::new(dir).unwrap())
        .unwrap()
        .into_iter()
        .map(|e| {
            if e.is_dir {
                format!("{}/", e.name)
            } else {
                e.name
            }
        })
        .collect();
    n.sort();
    n
}

/// Every call the store saw.
fn requests(t: &FaultyTransport<MemoryTransport>) -> u64 {
    t.total_calls()
}

#[test]
fn two_devices_chat_in_a_room_on_a_store_that_cannot_append() {
    let (raw, t) = object_store();
    let alice = Room::open(t.clone(), native("alice")).unwrap();
    let bob = Room::open(t.clone(), native("bob")).unwrap();
    alice.send("hello").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["hello"]);
    bob.send("hi").unwrap();
    bob.send("how are you").unwrap();
    bob.sync().unwrap();
    let got = alice.sync().unwrap();
    assert_eq!(texts(&got.messages), ["hi", "how are you"]);
    assert!(got.messages.iter().all(|m| !m.is_own));
    assert_eq!(raw.calls(Op::Append), 0, "nothing was appended");

    // On the server: each log a folder of segments named by offset, and a feed.
    let mut logs = names(raw.inner(), "r/logs");
    // `.claim` completes the claim of the folder (made create-only after it).
    assert!(logs.contains(&".claim".to_string()), "{logs:?}");
    logs.retain(|n| n != ".claim");
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(logs.iter().all(|n| n.ends_with(".log/")), "{logs:?}");
    let first = names(
        raw.inner(),
        &format!("r/logs/{}", logs[0].trim_end_matches('/')),
    );
    assert!(first[0].starts_with("0000000000000000"), "{first:?}");
    let feed = names(raw.inner(), "r/feed");
    assert_eq!(feed[0], "000000000000");
    assert!(feed.len() >= 2, "{feed:?}");

    // A third device reads the whole history; a restart of one reads nothing twice.
    let carol = Room::open(t.clone(), native("carol")).unwrap();
    assert_eq!(
        texts(&carol.sync().unwrap().messages),
        ["hello", "hi", "how are you"]
    );
    assert!(carol.sync().unwrap().messages.is_empty());
}

#[test]
fn a_chat_file_on_a_store_that_cannot_append_is_refused_before_anything_is_sent() {
    let (raw, t) = object_store();
    let config =
        RoomConfig::shared_file("chat.txt", WriteCodec::Fernet17, "alice").with_password("pw");
    let err = Room::open(t, config).unwrap_err();
    assert!(matches!(err, RoomError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("cannot append"), "{err}");
    assert_eq!(raw.total_calls(), 0);
}

#[test]
fn a_store_with_neither_appends_nor_create_only_writes_is_refused() {
    // A folder store refusing appends but not create-only writes would work; a transport
    // that can do neither cannot hold a room.
    struct Neither(MemoryTransport);
    impl std::fmt::Debug for Neither {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Neither")
        }
    }
    impl Transport for Neither {
        fn capabilities(&self) -> ftpchat_core::Capabilities {
            ftpchat_core::Capabilities::new(false, true, true, false)
        }
        fn describe(&self) -> String {
            "neither://".into()
        }
        fn size(&self, p: &RemotePath) -> Result<Option<u64>, ftpchat_core::TransportError> {
            self.0.size(p)
        }
        fn read_from(
            &self,
            p: &RemotePath,
            o: u64,
            s: &mut dyn std::io::Write,
        ) -> Result<u64, ftpchat_core::TransportError> {
            self.0.read_from(p, o, s)
        }
        fn append(&self, p: &RemotePath, d: &[u8]) -> Result<(), ftpchat_core::TransportError> {
            self.0.append(p, d)
        }
        fn write_atomic(
            &self,
            p: &RemotePath,
            d: &[u8],
        ) -> Result<(), ftpchat_core::TransportError> {
            self.0.write_atomic(p, d)
        }
        fn list(
            &self,
            p: &RemotePath,
        ) -> Result<Vec<ftpchat_core::DirEntry>, ftpchat_core::TransportError> {
            self.0.list(p)
        }
        fn make_dir(&self, p: &RemotePath) -> Result<(), ftpchat_core::TransportError> {
            self.0.make_dir(p)
        }
        fn remove_file(&self, p: &RemotePath) -> Result<(), ftpchat_core::TransportError> {
            self.0.remove_file(p)
        }
        fn remove_dir(&self, p: &RemotePath) -> Result<(), ftpchat_core::TransportError> {
            self.0.remove_dir(p)
        }
        fn rename(
            &self,
            a: &RemotePath,
            b: &RemotePath,
        ) -> Result<(), ftpchat_core::TransportError> {
            self.0.rename(a, b)
        }
    }
    let err = Room::open(Arc::new(Neither(MemoryTransport::new())), native("alice")).unwrap_err();
    assert!(matches!(err, RoomError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("create a file only if"), "{err}");
}

/// `writers` devices each send one message; then a reader that has read everything
/// polls with nothing new. Returns what that idle poll cost: requests, and listings among
/// them.
fn idle_poll_cost(writers: usize) -> (u64, u64) {
    let (raw, t) = object_store();
    let reader = Room::open(t.clone(), native("reader")).unwrap();
    for w in 0..writers {
        let room = Room::open(t.clone(), native(&format!("w{w}"))).unwrap();
        room.send(&format!("from {w}")).unwrap();
        room.sync().unwrap();
    }
    assert_eq!(reader.sync().unwrap().messages.len(), writers);
    let (before, lists) = (requests(&raw), raw.calls(Op::List));
    assert!(reader.sync().unwrap().messages.is_empty());
    (requests(&raw) - before, raw.calls(Op::List) - lists)
}

#[test]
fn an_idle_poll_costs_one_request_with_10_or_100_writers() {
    let ten = idle_poll_cost(10);
    let hundred = idle_poll_cost(100);
    // A read of the next marker, found missing: no listing, whose size on a store without
    // `start-after` (WebDAV) would grow with every marker ever written.
    assert_eq!(ten, (1, 0), "one read of the next marker");
    assert_eq!(hundred, ten);
}

/// A flood of feed markers (a hostile member or server writing thousands of `ring`s) is
/// read a page at a time: a poll stays bounded, and the next polls catch up.
#[test]
fn a_flood_of_feed_markers_is_read_a_page_per_poll() {
    let (raw, t) = object_store();
    let alice = Room::open(t.clone(), native("alice")).unwrap();
    let bob = Room::open(t.clone(), native("bob")).unwrap();
    alice.send("before").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["before"]);
    let feed = RemotePath::new("r/feed").unwrap();
    let first = names(&raw, "r/feed").len() as u64;
    for n in first..first + 2_500 {
        raw.write_new(&feed.join(&format!("{n:012}")).unwrap(), b"ring\n")
            .unwrap();
    }
    alice.send("after").unwrap();
    alice.sync().unwrap();
    let mut got = Vec::new();
    let mut polls = 0;
    while got.is_empty() {
        let reads = raw.calls(Op::ReadFrom);
        got = texts(&bob.sync().unwrap().messages);
        let read = raw.calls(Op::ReadFrom) - reads;
        assert!(read <= 1_100, "poll {polls} read {read} objects");
        polls += 1;
        assert!(polls <= 4, "still nothing after {polls} polls");
    }
    assert_eq!(got, ["after"]);
    assert!(polls >= 3, "2,500 markers and a segment in {polls} polls");
}

/// What one message costs its sender and one reader, after `history` earlier messages.
fn delivery_cost(history: usize) -> (u64, u64) {
    let (raw, t) = object_store();
    let sender = Room::open(t.clone(), native("sender")).unwrap();
    let reader = Room::open(t.clone(), native("reader")).unwrap();
    for i in 0..history {
        sender.send(&format!("old {i}")).unwrap();
        // One segment each: the history is many small objects (and merges).
        sender.sync().unwrap();
    }
    assert_eq!(reader.sync().unwrap().messages.len(), history);
    // Settle: the sender's poll reads its own markers.
    sender.sync().unwrap();
    let before = requests(&raw);
    sender.send("new").unwrap();
    sender.sync().unwrap();
    let sent = requests(&raw) - before;
    let (before, lists) = (requests(&raw), raw.calls(Op::List));
    assert_eq!(texts(&reader.sync().unwrap().messages), ["new"]);
    assert_eq!(
        raw.calls(Op::List),
        lists,
        "the reader reads markers by name"
    );
    (sent, requests(&raw) - before)
}

#[test]
fn delivering_a_message_costs_the_same_at_any_history_size() {
    let (send_small, read_small) = delivery_cost(3);
    let (send_large, read_large) = delivery_cost(300);
    // Reading: the marker, the next one (missing), the segment.
    assert_eq!(read_small, 3);
    assert_eq!(read_large, read_small);
    // Sending: the segment and its marker (a merge now and then adds more), then the
    // sender's own poll.
    assert!(send_small <= 4, "{send_small}");
    assert!(send_large <= send_small + 1, "{send_large} vs {send_small}");
}

#[test]
fn member_rooms_with_private_messages_attachments_and_removal_work_on_segments() {
    let (_raw, t) = object_store();
    let (a, b) = (Device::new(), Device::new());
    let alice = a.create(&t, "Alice");
    let invitation = alice.invite(Role::Member, "s3://bucket/team").unwrap();
    let bob = b.join(&t, "Bob", &invitation.to_url());
    alice.sync().unwrap();

    alice.send("hello Bob").unwrap();
    alice.sync().unwrap();
    let got = bob.sync().unwrap();
    assert_eq!(texts(&got.messages), ["hello Bob"]);
    assert_eq!(
        got.messages[0].signer.as_deref(),
        Some(a.fingerprint().as_str())
    );

    // A private message.
    let alice_id = alice
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.devices.iter().any(|d| d.fingerprint() == a.fingerprint()))
        .unwrap()
        .id;
    bob.send_private(&alice_id, "just for you").unwrap();
    bob.sync().unwrap();
    alice.sync().unwrap();
    let private = alice
        .private_history(&alice_id_of(&alice, &b), None, 10)
        .unwrap();
    assert_eq!(texts(&private), ["just for you"]);

    // An attachment of a few hundred KiB goes up in segments and comes back whole.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("photo.bin");
    let data: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&source, &data).unwrap();
    let id = alice.send_file(&source, "a photo").unwrap();
    alice.sync().unwrap();
    bob.sync().unwrap();
    let target = dir.path().join("saved.bin");
    bob.save_attachment(&id, &target).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);

    // Removal locks Bob out: he cannot read what Alice sends afterwards.
    let bob_id = alice_id_of(&alice, &b);
    alice.remove_member(&bob_id).unwrap();
    alice.send("after removal").unwrap();
    alice.sync().unwrap();
    let after = bob.sync().unwrap();
    assert!(after
        .events
        .iter()
        .any(|e| matches!(e, RoomEvent::RemovedFromRoom)));
    assert!(!texts(&after.messages).contains(&"after removal".to_string()));
}

/// The member id of `who`'s device as `room` lists it.
fn alice_id_of(room: &Room, who: &Device) -> ftpchat_core::MemberId {
    room.members()
        .unwrap()
        .into_iter()
        .find(|m| {
            m.devices
                .iter()
                .any(|d| d.fingerprint() == who.fingerprint())
        })
        .unwrap()
        .id
}

#[test]
fn a_copied_state_folder_is_refused_by_the_create_only_write_and_moves_to_a_new_log() {
    let server = tempfile::tempdir().unwrap();
    let local = FaultyTransport::new(LocalTransport::new(server.path()));
    local.refuse_appends();
    let t: Arc<dyn Transport> = Arc::new(local);
    let (state_a, state_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let open =
        |who: &str, state: &Path| Room::open(t.clone(), native(who).with_state_dir(state)).unwrap();
    let a = open("Ann", state_a.path());
    a.send("a1").unwrap();
    a.sync().unwrap();
    drop(a);
    support::copy_state_folder(state_a.path(), state_b.path());
    let a = open("Ann", state_a.path());
    a.send("a2").unwrap();
    a.sync().unwrap();
    // The copy writes at the offset where a2 is: the create-only write refuses it, and
    // it finds a record it did not write there.
    let b = open("Ann", state_b.path());
    b.send("b2").unwrap();
    let update = b.sync().unwrap();
    assert!(
        update
            .events
            .iter()
            .any(|e| matches!(e, RoomEvent::WriterIdConflict { .. })),
        "{:?}",
        update.events
    );
    assert_eq!(b.outbox_len(), 0);
    let logs: Vec<_> = std::fs::read_dir(server.path().join("r/logs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .collect();
    assert_eq!(logs.len(), 2, "the copy writes its own log");
    let fresh = Room::open(t.clone(), native("Fay")).unwrap();
    assert_eq!(
        sorted(texts(&fresh.sync().unwrap().messages)),
        ["a1", "a2", "b2"]
    );
}

/// Replaces the segment cache in `state` by `text` (`None`: deletes it).
fn set_segment_cache(state: &Path, text: Option<&str>) {
    let db = support::local_store(state);
    match text {
        Some(text) => assert_eq!(
            db.execute("UPDATE segment_cache SET text = ?1", [text])
                .unwrap(),
            1
        ),
        None => assert_eq!(db.execute("DELETE FROM segment_cache", []).unwrap(), 1),
    }
}

#[test]
fn a_restart_reads_the_feed_from_where_it_stopped_instead_of_listing_every_log() {
    let (raw, t) = object_store();
    let writers = 30;
    for w in 0..writers {
        let room = Room::open(t.clone(), native(&format!("w{w}"))).unwrap();
        room.send(&format!("from {w}")).unwrap();
        room.sync().unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let reader = Room::open(t.clone(), native("reader").with_state_dir(state.path())).unwrap();
    assert_eq!(reader.sync().unwrap().messages.len(), writers);
    reader.close().unwrap();
    drop(reader);
    let late = Room::open(t.clone(), native("late")).unwrap();
    late.send("while you were away").unwrap();
    late.sync().unwrap();

    // The same state three times: with its segment cache, without (as before the
    // cache), and as a version before the store left it (a file beside the state file).
    let (cached, uncached) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let downgraded = tempfile::tempdir().unwrap();
    support::copy_state_folder(state.path(), cached.path());
    support::copy_state_folder(state.path(), uncached.path());
    support::copy_state_folder(state.path(), downgraded.path());
    set_segment_cache(uncached.path(), None);
    let files = ftpchat_core::testing::downgrade_state_folder(downgraded.path()).unwrap();
    let legacy = files
        .iter()
        .find(|f| f.extension().is_some_and(|x| x == "segments"))
        .expect("the segment cache as a file")
        .clone();
    let restart = |dir: &Path| {
        let before = requests(&raw);
        let room = Room::open(t.clone(), native("reader").with_state_dir(dir)).unwrap();
        let got = texts(&room.sync().unwrap().messages);
        (requests(&raw) - before, got)
    };
    let (with_cache, got_cached) = restart(cached.path());
    let (without, got_uncached) = restart(uncached.path());
    println!(
        "restart with {writers} writers: {with_cache} requests with the cache, {without} without"
    );
    assert_eq!(got_cached, ["while you were away"]);
    assert_eq!(got_uncached, got_cached);
    assert!(
        without >= writers as u64,
        "without the cache every log is listed: {without}"
    );
    assert!(
        with_cache <= 12,
        "with it, the feed after the last marker read and one listing of logs/: {with_cache} (without: {without})"
    );
    // The cache was brought up to date: the next restart reads nothing new.
    let (again, got) = restart(cached.path());
    assert!(got.is_empty(), "{got:?}");
    assert!(again <= with_cache, "{again} vs {with_cache}");
    // The file of the version before moves into the store and serves the same way.
    let (migrated, got) = restart(downgraded.path());
    assert_eq!(got, ["while you were away"]);
    assert!(migrated <= with_cache, "{migrated} vs {with_cache}");
    assert!(!legacy.exists(), "the file is gone once the store holds it");
    assert!(support::segment_cache(downgraded.path()).contains("\nfeed "));
}

#[test]
fn a_stale_or_damaged_segment_cache_loses_and_repeats_nothing() {
    let (_raw, t) = object_store();
    let state = tempfile::tempdir().unwrap();
    let open = || Room::open(t.clone(), native("reader").with_state_dir(state.path())).unwrap();
    let writer = Room::open(t.clone(), native("writer")).unwrap();
    let send = |text: &str| {
        writer.send(text).unwrap();
        writer.sync().unwrap();
    };
    for i in 0..20 {
        send(&format!("early {i}"));
    }
    let reader = open();
    assert_eq!(reader.sync().unwrap().messages.len(), 20);
    reader.close().unwrap();
    drop(reader);
    let old_cache = support::segment_cache(state.path());

    // More messages (the writer merges its first 16 segments away), read and saved.
    for i in 0..20 {
        send(&format!("middle {i}"));
    }
    let reader = open();
    assert_eq!(reader.sync().unwrap().messages.len(), 20);
    reader.close().unwrap();
    drop(reader);

    // An older cache than the read positions (restored from a backup): nothing lost,
    // nothing shown twice.
    set_segment_cache(state.path(), Some(&old_cache));
    send("after the backup");
    let reader = open();
    assert_eq!(
        texts(&reader.sync().unwrap().messages),
        ["after the backup"]
    );
    reader.close().unwrap();
    drop(reader);

    // A damaged cache is ignored.
    for junk in [
        "not a cache\n",
        "ftpchat-segment-cache 1\nroom zz\nfeed 3\n",
        "",
    ] {
        set_segment_cache(state.path(), Some(junk));
        send("after damage");
        let reader = open();
        assert_eq!(texts(&reader.sync().unwrap().messages), ["after damage"]);
        reader.close().unwrap();
    }
    let fresh = Room::open(t.clone(), native("fresh")).unwrap();
    assert_eq!(fresh.sync().unwrap().messages.len(), 20 + 20 + 1 + 3);
}

#[test]
fn a_room_made_again_under_its_name_is_not_read_through_the_old_rooms_segment_cache() {
    let server = tempfile::tempdir().unwrap();
    let local = FaultyTransport::new(LocalTransport::new(server.path()));
    local.refuse_appends();
    let t: Arc<dyn Transport> = Arc::new(local);
    let state = tempfile::tempdir().unwrap();
    let ann = Room::open(t.clone(), native("ann")).unwrap();
    for i in 0..8 {
        ann.send(&format!("old room {i}")).unwrap();
        ann.sync().unwrap();
    }
    drop(ann);
    let reader = Room::open(t.clone(), native("reader").with_state_dir(state.path())).unwrap();
    assert_eq!(reader.sync().unwrap().messages.len(), 8);
    reader.close().unwrap();
    drop(reader);

    // The room is deleted and made again under its name: a new header, a shorter feed.
    std::fs::remove_dir_all(server.path().join("r")).unwrap();
    let bea = Room::open(t.clone(), native("bea")).unwrap();
    bea.send("new room").unwrap();
    bea.sync().unwrap();
    let reader = Room::open(
        t.clone(),
        native("reader")
            .with_state_dir(state.path())
            .with_changed_header_accepted(true),
    )
    .unwrap();
    let got = reader.sync().unwrap();
    assert_eq!(texts(&got.messages), ["new room"], "{:?}", got.events);
    bea.send("and another").unwrap();
    bea.sync().unwrap();
    assert_eq!(texts(&reader.sync().unwrap().messages), ["and another"]);
}
