//! The room engine over memory, local-folder and fault-injecting transports: exactly-once
//! delivery, ordering across skewed clocks, restarts, torn writes, replaced files, and
//! FTPChat 1.5/1.6 shared files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ftpchat_core::codec::{compat, DecodeError};
use ftpchat_core::codec::{Inflater, KdfParams};
use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::testing::{FaultyTransport, Op};
use ftpchat_core::LocalTransport;
use ftpchat_core::{
    Clock, Room, RoomConfig, RoomError, RoomEvent, RoomListener, WatchOptions, WriteCodec,
};
use ftpchat_core::{Message, MessageStatus};
use ftpchat_core::{RemotePath, Transport, TransportErrorKind};

const PW: &str = "correct horse";

fn native(name: &str, who: &str) -> RoomConfig {
    // Few iterations keep tests fast; the default (600,000) is tested in the KDF tests.
    RoomConfig::native(name, who, PW).with_native_iterations(1_000)
}

fn open(t: &Arc<dyn Transport>, config: RoomConfig) -> Room {
    Room::open(t.clone(), config).unwrap()
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

fn all(room: &Room) -> Vec<Message> {
    room.history(None, usize::MAX).unwrap()
}

/// Syncs until the outbox is empty, tolerating injected failures (bounded).
fn sync_until_delivered(room: &Room) {
    for _ in 0..10_000 {
        let _ = room.sync();
        if room.outbox_len() == 0 && room.sync().is_ok() {
            return;
        }
    }
    panic!("outbox never drained");
}

#[test]
fn two_clients_exchange_messages_in_one_order() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, native("rooms/lobby", "Alice"));
    let bob = open(&t, native("rooms/lobby", "Bob"));

    let id = alice.send("hello bob").unwrap();
    assert_eq!(alice.message(&id).unwrap().status, MessageStatus::Pending);
    let update = alice.sync().unwrap();
    assert_eq!(update.confirmed, vec![id]);
    assert_eq!(alice.message(&id).unwrap().status, MessageStatus::Confirmed);

    let update = bob.sync().unwrap();
    assert_eq!(texts(&update.messages), ["hello bob"]);
    assert_eq!(update.messages[0].sender, "Alice");
    assert!(!update.messages[0].is_own);
    bob.send("hi alice").unwrap();
    bob.sync().unwrap();
    // A second sync returns nothing new.
    assert!(bob.sync().unwrap().messages.is_empty());

    let update = alice.sync().unwrap();
    assert_eq!(texts(&update.messages), ["hi alice"]);
    assert_eq!(texts(&all(&alice)), texts(&all(&bob)));
    assert_eq!(texts(&all(&alice)), ["hello bob", "hi alice"]);
}

#[test]
fn wrong_password_is_one_typed_error() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    open(&t, native("r", "A"));
    let err = Room::open(t.clone(), RoomConfig::native("r", "B", "wrong")).unwrap_err();
    assert!(matches!(err, RoomError::WrongPassword), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("wrong\""));
    let err = Room::open(t.clone(), native("missing", "B").must_exist()).unwrap_err();
    assert!(matches!(err, RoomError::NotFound(_)), "{err:?}");
}

#[test]
fn hostile_names_are_refused_before_any_io() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    for bad in ["a\r\nDELE x", "../escape", "/abs", "a\0b"] {
        let err = Room::open(t.clone(), native(bad, "A")).unwrap_err();
        assert!(matches!(err, RoomError::InvalidPath(_)), "{bad:?}: {err:?}");
    }
    let err = Room::open(t.clone(), native("ok", "evil\nname")).unwrap_err();
    assert!(matches!(err, RoomError::InvalidName(_)));
    let err = Room::open(
        t.clone(),
        RoomConfig::shared_file("c.txt", WriteCodec::Legacy15, "a: b"),
    )
    .unwrap_err();
    assert!(matches!(err, RoomError::InvalidName(_)));
}

#[derive(Debug)]
struct OffsetClock(AtomicI64);

impl Clock for OffsetClock {
    fn now_ms(&self) -> u64 {
        let real = ftpchat_core::SystemClock.now_ms() as i64;
        (real + self.0.load(Ordering::SeqCst)) as u64
    }
}

#[test]
fn replies_sort_after_questions_with_a_clock_ten_minutes_behind() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, native("r", "Alice"));
    let behind = Arc::new(OffsetClock(AtomicI64::new(-10 * 60 * 1000)));
    let bob = open(&t, native("r", "Bob").with_clock(behind));
    alice.send("question?").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["question?"]);
    bob.send("answer!").unwrap();
    bob.sync().unwrap();
    alice.sync().unwrap();
    for room in [&alice, &bob] {
        assert_eq!(texts(&all(room)), ["question?", "answer!"]);
    }
}

#[test]
fn exactly_once_over_1000_sends_with_random_faults() {
    let store = MemoryTransport::new();
    let faulty = FaultyTransport::new(store.clone());
    let faulty_arc: Arc<FaultyTransport<MemoryTransport>> = Arc::new(faulty);
    let sender_t: Arc<dyn Transport> = faulty_arc.clone();
    let clean: Arc<dyn Transport> = Arc::new(store);
    let sender = open(&clean, native("r", "S")); // create cleanly, then write faulty
    drop(sender);
    let sender = open(&sender_t, native("r", "S"));
    let reader = open(&clean, native("r", "R"));
    faulty_arc.random_faults(0x5eed, 0.25);
    let mut sent = Vec::new();
    for i in 0..1000 {
        sent.push(sender.send(&format!("message {i}")).unwrap());
        if i % 3 == 0 {
            let _ = sender.sync();
        }
    }
    sync_until_delivered(&sender);
    faulty_arc.clear_faults();
    sender.sync().unwrap();
    assert!(
        faulty_arc.faults_injected() > 200,
        "{}",
        faulty_arc.faults_injected()
    );

    let update = reader.sync().unwrap();
    let got = texts(&update.messages);
    assert_eq!(got.len(), 1000, "each message exactly once");
    let want: Vec<String> = (0..1000).map(|i| format!("message {i}")).collect();
    assert_eq!(got, want, "in send order");
    // The sender's own view: all confirmed, same order, no duplicates.
    let mine = all(&sender);
    assert_eq!(texts(&mine), want);
    assert!(mine.iter().all(|m| m.status == MessageStatus::Confirmed));
    // Torn appends left fragments that were reported, not shown.
    assert!(update
        .events
        .iter()
        .any(|e| matches!(e, RoomEvent::UndecodableLine { .. })));
}

#[test]
fn timeout_after_a_successful_append_does_not_duplicate() {
    let store = MemoryTransport::new();
    let faulty = Arc::new(FaultyTransport::new(store.clone()));
    let t: Arc<dyn Transport> = faulty.clone();
    let room = open(&t, native("r", "A"));
    faulty.timeout_after_write(1);
    // Append 2 is the doorbell ring after "one" landed; 3 is "two", torn.
    faulty.cut_append_after(3, 10);
    // One sync each, so each message is its own append (the outbox sends in batches).
    room.send("one").unwrap();
    sync_until_delivered(&room);
    room.send("two").unwrap();
    sync_until_delivered(&room);
    let clean: Arc<dyn Transport> = Arc::new(store);
    let other = open(&clean, native("r", "B"));
    let update = other.sync().unwrap();
    assert_eq!(texts(&update.messages), ["one", "two"]);
    let torn: Vec<_> = update
        .events
        .iter()
        .filter(|e| matches!(e, RoomEvent::UndecodableLine { .. }))
        .collect();
    assert_eq!(torn.len(), 1, "{torn:?}");
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn outbox_survives_a_restart_and_delivers_once() {
    let server = temp();
    let state = temp();
    let local: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    // Opened once online: the header is cached in the state folder.
    open(&local, native("r", "A").with_state_dir(state.path()))
        .sync()
        .unwrap();
    let down = Arc::new(FaultyTransport::new(LocalTransport::new(server.path())));
    for op in Op::ALL {
        for n in 1..50 {
            down.fail_nth(op, n, TransportErrorKind::Transient);
        }
    }
    let offline_t: Arc<dyn Transport> = down.clone();
    let offline = open(&offline_t, native("r", "A").with_state_dir(state.path()));
    let id = offline.send("sent while offline").unwrap();
    let err = offline.sync().unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(offline.outbox_len(), 1);
    drop(offline);

    let again = open(&local, native("r", "A").with_state_dir(state.path()));
    assert_eq!(again.outbox_len(), 1);
    assert_eq!(again.message(&id).unwrap().status, MessageStatus::Pending);
    let update = again.sync().unwrap();
    assert_eq!(update.confirmed, vec![id]);
    drop(again);
    // Reopening once more sends nothing twice.
    let third = open(&local, native("r", "A").with_state_dir(state.path()));
    assert_eq!(third.outbox_len(), 0);
    third.sync().unwrap();
    let reader = open(&local, native("r", "B"));
    assert_eq!(
        texts(&reader.sync().unwrap().messages),
        ["sent while offline"]
    );
}

#[test]
fn restart_resumes_reading_and_history_pages_back() {
    let server = temp();
    let state = temp();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let writer = open(&t, native("r", "W"));
    for i in 0..5 {
        writer.send(&format!("old {i}")).unwrap();
    }
    writer.sync().unwrap();
    let reader = open(&t, native("r", "R").with_state_dir(state.path()));
    assert_eq!(reader.sync().unwrap().messages.len(), 5);
    drop(reader);
    writer.send("new").unwrap();
    writer.sync().unwrap();
    let reader = open(&t, native("r", "R").with_state_dir(state.path()));
    assert_eq!(
        texts(&reader.sync().unwrap().messages),
        ["new"],
        "only what is new"
    );
    let newest = reader.history(None, 2).unwrap();
    assert_eq!(texts(&newest), ["old 4", "new"]);
    let older = reader.history(Some(&newest[0].id), 10).unwrap();
    assert_eq!(texts(&older), ["old 0", "old 1", "old 2", "old 3"]);
    assert!(reader.sync().unwrap().messages.is_empty());
}

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name)
}

#[test]
fn shared_file_reads_ftpchat_15_and_appends_decodable_lines() {
    let server = temp();
    std::fs::copy(
        testdata("legacy-v1.5-chat.txt"),
        server.path().join("chat.txt"),
    )
    .unwrap();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let room = open(
        &t,
        RoomConfig::shared_file("chat.txt", WriteCodec::Legacy15, "ftpchat user"),
    );
    let update = room.sync().unwrap();
    let got: Vec<(String, String)> = update
        .messages
        .iter()
        .map(|m| (m.sender.clone(), m.text.clone()))
        .collect();
    assert_eq!(got.len(), 6);
    assert_eq!(got[0], ("ahmed".into(), "Salam! anyone here?".into()));
    assert_eq!(got[3], ("Omar K".into(), "multi\nline".into()));
    assert_eq!(got[5], ("user:odd".into(), "colon in name".into()));
    assert!(update.events.iter().any(|e| matches!(
        e,
        RoomEvent::UndecodableLine {
            error: DecodeError::NotARecord,
            ..
        }
    )));

    let id = room.send("hello from ftpchat").unwrap();
    let update = room.sync().unwrap();
    assert_eq!(update.confirmed, vec![id]);
    // The file ended in a torn record: our line starts on a fresh line and decodes as 1.5.
    let file = std::fs::read_to_string(server.path().join("chat.txt")).unwrap();
    let last = file.lines().last().unwrap();
    let plain = compat::decode_legacy(last.as_bytes(), &mut Inflater::new()).unwrap();
    assert!(
        plain.ends_with(":ftpchat user: hello from ftpchat\n"),
        "{plain:?}"
    );
    assert_eq!(&plain[4..5], "-");
    // Another reader sees six old messages and ours once.
    let other = open(
        &t,
        RoomConfig::shared_file("chat.txt", WriteCodec::Legacy15, "x"),
    );
    let msgs = other.sync().unwrap().messages;
    assert_eq!(msgs.len(), 7);
    assert_eq!(msgs[6].text, "hello from ftpchat");
}

#[test]
fn ftpchat_16_wrong_password_is_an_error_and_writes_nothing() {
    let server = temp();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let kdf = KdfParams::new(b"ftpchat".to_vec(), 1000).unwrap();
    let writer = open(
        &t,
        RoomConfig::shared_file("c16.txt", WriteCodec::Fernet16, "a")
            .with_password("right")
            .with_compat_kdf(kdf.clone()),
    );
    for i in 0..20 {
        writer.send(&format!("m{i}")).unwrap();
    }
    writer.sync().unwrap();
    let wrong = open(
        &t,
        RoomConfig::shared_file("c16.txt", WriteCodec::Fernet16, "b")
            .with_password("wrong")
            .with_compat_kdf(kdf.clone()),
    );
    // A wrong key is an error the caller cannot miss, and it writes nothing.
    let before = std::fs::read(server.path().join("c16.txt")).unwrap();
    wrong.send("must not be written").unwrap();
    let err = wrong.sync().unwrap_err();
    assert!(matches!(err, RoomError::WrongPassword), "{err:?}");
    assert!(!err.is_transient());
    assert!(matches!(wrong.sync(), Err(RoomError::WrongPassword)));
    assert_eq!(
        std::fs::read(server.path().join("c16.txt")).unwrap(),
        before
    );
    assert_eq!(wrong.outbox_len(), 1, "kept, not sent");
    let right = open(
        &t,
        RoomConfig::shared_file("c16.txt", WriteCodec::Fernet16, "b")
            .with_password("right")
            .with_compat_kdf(kdf),
    );
    assert_eq!(right.sync().unwrap().messages.len(), 20);
}

#[test]
fn replaced_file_is_reread_without_duplicates() {
    let server = temp();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let room = open(
        &t,
        RoomConfig::shared_file("c.txt", WriteCodec::Legacy15, "a"),
    );
    room.send("one").unwrap();
    room.send("two").unwrap();
    room.sync().unwrap();
    let reader = open(
        &t,
        RoomConfig::shared_file("c.txt", WriteCodec::Legacy15, "b"),
    );
    assert_eq!(reader.sync().unwrap().messages.len(), 2);
    // Someone rewrites the file: same lines in another order plus a new one.
    let content = std::fs::read_to_string(server.path().join("c.txt")).unwrap();
    let lines: Vec<&str> = content.lines().collect();
    let mut enc = ftpchat_core::codec::LineEncoder::new();
    let three = enc.legacy15(&compat::CompatMessage::parse("2026-01-01 00:00:c: three\n"));
    std::fs::write(
        server.path().join("c.txt"),
        format!("{}\n{}\n{three}\n", lines[1], lines[0]),
    )
    .unwrap();
    let update = reader.sync().unwrap();
    assert_eq!(texts(&update.messages), ["three"]);
    assert!(update
        .events
        .iter()
        .any(|e| matches!(e, RoomEvent::FileReplaced { .. })));
}

#[test]
fn foreign_records_in_another_log_are_rejected() {
    let server = temp();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let alice = open(&t, native("r", "Alice"));
    alice.send("authentic").unwrap();
    alice.sync().unwrap();
    // Copy Alice's record into a log named for another writer.
    let logs = server.path().join("r/logs");
    let alice_log = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .unwrap();
    std::fs::copy(&alice_log, logs.join(format!("{}.log", "ab".repeat(16)))).unwrap();
    let bob = open(&t, native("r", "Bob"));
    let update = bob.sync().unwrap();
    assert_eq!(texts(&update.messages), ["authentic"]);
    assert!(update
        .events
        .iter()
        .any(|e| matches!(e, RoomEvent::ForeignRecord { .. })));
}

#[derive(Default)]
struct Collect(Mutex<Vec<Message>>);

impl RoomListener for Collect {
    fn on_messages(&self, messages: &[Message]) {
        self.0.lock().unwrap().extend_from_slice(messages);
    }
}

#[test]
fn watch_delivers_and_notifies_then_stops_on_drop() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, native("r", "A"));
    let bob = open(&t, native("r", "B"));
    let seen = Arc::new(Collect::default());
    let options = WatchOptions::new(Duration::from_millis(10), Duration::from_millis(50));
    let bob_watch = bob.watch(seen.clone(), options);
    let alice_watch = alice.watch(Arc::new(Collect::default()), options);
    for i in 0..5 {
        alice.send(&format!("w{i}")).unwrap();
    }
    for _ in 0..500 {
        if seen.0.lock().unwrap().len() == 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        texts(&seen.0.lock().unwrap()),
        ["w0", "w1", "w2", "w3", "w4"]
    );
    assert!(bob_watch.is_running());
    drop(bob_watch);
    alice_watch.stop();
    alice.send("after stop").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(alice.outbox_len(), 1, "no watcher delivers after stop");
}

#[test]
fn many_writers_one_memory_room_agree() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    open(&t, native("r", "creator"));
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let t = t.clone();
            std::thread::spawn(move || {
                let room = open(&t, native("r", &format!("w{w}")));
                for i in 0..50 {
                    room.send(&format!("{w}-{i}")).unwrap();
                    if i % 10 == 0 {
                        room.sync().unwrap();
                    }
                }
                sync_until_delivered(&room);
                room
            })
        })
        .collect();
    let rooms: Vec<Room> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut orders = Vec::new();
    for room in &rooms {
        room.sync().unwrap();
        let msgs = all(room);
        let mut counts: HashMap<String, u32> = HashMap::new();
        for m in &msgs {
            *counts.entry(m.text.clone()).or_default() += 1;
        }
        assert_eq!(counts.len(), 200);
        assert!(counts.values().all(|&c| c == 1));
        orders.push(texts(&msgs));
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]));
    let _ = RemotePath::new("r").unwrap();
}

#[test]
fn a_message_sent_just_before_exit_survives_without_a_sync() {
    let server = temp();
    let state = temp();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let room = open(&t, native("r", "A").with_state_dir(state.path()));
    let id = room.send("sent, then the process died").unwrap();
    drop(room); // no sync, no flush
    let again = open(&t, native("r", "A").with_state_dir(state.path()));
    assert_eq!(again.outbox_len(), 1);
    assert_eq!(again.sync().unwrap().confirmed, vec![id]);
}

#[test]
fn a_deleted_room_is_reported_not_silently_recreated() {
    let server = temp();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let room = open(&t, native("r", "A"));
    room.send("one").unwrap();
    room.sync().unwrap();
    std::fs::remove_dir_all(server.path().join("r")).unwrap();
    room.send("two").unwrap();
    let err = room.sync().unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    assert_eq!(room.outbox_len(), 1, "the message stays queued");
    assert!(
        !server.path().join("r").exists(),
        "no headerless room was created"
    );
}

#[test]
fn a_replaced_room_header_is_refused_then_accepted_on_request() {
    let server = temp();
    let state = temp();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let first = open(&t, native("r", "A").with_state_dir(state.path()));
    first.send("in the old room").unwrap();
    first.sync().unwrap();
    drop(first);
    // The room is deleted and another one is created under the same name.
    std::fs::remove_dir_all(server.path().join("r")).unwrap();
    open(&t, native("r", "B"));
    let err = Room::open(t.clone(), native("r", "A").with_state_dir(state.path())).unwrap_err();
    assert!(matches!(err, RoomError::HeaderChanged), "{err:?}");
    let again = open(
        &t,
        native("r", "A")
            .with_state_dir(state.path())
            .with_changed_header_accepted(true),
    );
    again.send("in the new room").unwrap();
    let update = again.sync().unwrap();
    assert_eq!(update.confirmed.len(), 1);
    let reader = open(&t, native("r", "C"));
    assert_eq!(texts(&reader.sync().unwrap().messages), ["in the new room"]);
    assert!(
        update.events.contains(&RoomEvent::HeaderChanged),
        "{:?}",
        update.events
    );
    // Reopening the same room says nothing.
    let quiet = open(&t, native("r", "A").with_state_dir(state.path()));
    assert!(!quiet
        .sync()
        .unwrap()
        .events
        .contains(&RoomEvent::HeaderChanged));
}
