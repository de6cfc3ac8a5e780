//! A device whose own log does not match its saved state: a state folder copied to a
//! second device, a backup restored after more was sent, an own log deleted by someone
//! else; and waits (delivery backoff) that run on the injected clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::testing::{FaultyTransport, Op};
use ftpchat_core::LocalTransport;
use ftpchat_core::Message;
use ftpchat_core::{Clock, Room, RoomConfig, RoomEvent};
use ftpchat_core::{RemotePath, Transport, TransportErrorKind};

const PW: &str = "correct horse";

fn native(who: &str) -> RoomConfig {
    RoomConfig::native("r", who, PW).with_native_iterations(1_000)
}

fn open_with_state(t: &Arc<dyn Transport>, who: &str, state: &Path) -> Room {
    Room::open(t.clone(), native(who).with_state_dir(state)).unwrap()
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The logs of room `r` (not the doorbell, `logs/doorbell`).
fn logs(server: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(server.join("r/logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

fn conflicts(events: &[RoomEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, RoomEvent::WriterIdConflict { .. }))
        .count()
}

/// A state folder copied to a second device: both start from the same writer id and
/// sequence number. The second one to append finds the other's record in "its" log,
/// switches to a new writer id, and nobody, not even a reader that restarted in between
/// (whose replay rule drops a reused sequence number), loses a message.
#[test]
fn a_copied_state_folder_takes_a_new_writer_id_and_loses_nothing() {
    let server = tempfile::tempdir().unwrap();
    let (state_a, state_b, state_r) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));

    let a = open_with_state(&t, "Ann", state_a.path());
    a.send("a1").unwrap();
    a.sync().unwrap();
    drop(a);
    support::copy_state_folder(state_a.path(), state_b.path());

    let a = open_with_state(&t, "Ann", state_a.path());
    a.send("a2").unwrap();
    a.sync().unwrap();
    // A reader reads a1 and a2, saves its position, and stops.
    let r = open_with_state(&t, "Rex", state_r.path());
    assert_eq!(texts(&r.sync().unwrap().messages), ["a1", "a2"]);
    drop(r);

    // The copy sends with the sequence number a2 already has.
    let b = open_with_state(&t, "Ann", state_b.path());
    b.send("b2").unwrap();
    let update = b.sync().unwrap();
    assert_eq!(conflicts(&update.events), 1, "{:?}", update.events);
    assert_eq!(logs(server.path()).len(), 2, "the copy writes its own log");
    assert_eq!(b.outbox_len(), 0);
    // Its later messages go to its new log too, also after a restart.
    b.send("b3").unwrap();
    b.sync().unwrap();
    drop(b);
    let b = open_with_state(&t, "Ann", state_b.path());
    b.send("b4").unwrap();
    assert_eq!(conflicts(&b.sync().unwrap().events), 0);
    assert_eq!(logs(server.path()).len(), 2);

    // The reader that restarted shows the copy's messages (before the fix it dropped b2
    // as a replay of a2's sequence number).
    let r = open_with_state(&t, "Rex", state_r.path());
    assert_eq!(
        sorted(texts(&r.sync().unwrap().messages)),
        ["b2", "b3", "b4"]
    );
    let fresh = Room::open(t.clone(), native("Fay")).unwrap();
    assert_eq!(
        sorted(texts(&fresh.sync().unwrap().messages)),
        ["a1", "a2", "b2", "b3", "b4"]
    );
    // The first device keeps its log; both devices' histories are the same.
    a.send("a3").unwrap();
    assert_eq!(conflicts(&a.sync().unwrap().events), 0);
    assert_eq!(logs(server.path()).len(), 2);
    let everything = ["a1", "a2", "a3", "b2", "b3", "b4"];
    assert_eq!(sorted(texts(&a.history(None, 100).unwrap())), everything);
    b.sync().unwrap();
    let b_history = b.history(None, 100).unwrap();
    assert_eq!(sorted(texts(&b_history)), everything);
    // The copy's messages in the old log are still its own.
    assert!(b_history.iter().all(|m| m.is_own), "{b_history:?}");
}

/// A state folder restored from a backup older than the log: the device would reuse the
/// sequence numbers of what it sent after the backup.
#[test]
fn a_restored_backup_does_not_reuse_sequence_numbers() {
    let server = tempfile::tempdir().unwrap();
    let (state, backup, state_r) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let a = open_with_state(&t, "Ann", state.path());
    a.send("m1").unwrap();
    a.sync().unwrap();
    drop(a);
    support::copy_state_folder(state.path(), backup.path());
    let a = open_with_state(&t, "Ann", state.path());
    a.send("m2").unwrap();
    a.send("m3").unwrap();
    a.sync().unwrap();
    drop(a);
    let r = open_with_state(&t, "Rex", state_r.path());
    assert_eq!(texts(&r.sync().unwrap().messages), ["m1", "m2", "m3"]);
    drop(r);

    support::copy_state_folder(backup.path(), state.path());
    let a = open_with_state(&t, "Ann", state.path());
    a.send("m4").unwrap();
    assert_eq!(conflicts(&a.sync().unwrap().events), 1);
    let r = open_with_state(&t, "Rex", state_r.path());
    assert_eq!(texts(&r.sync().unwrap().messages), ["m4"]);
    let history = a.history(None, 100).unwrap();
    // The restored clock last saw m1: m4 may carry m3's millisecond and sort before it
    // (HLC ties break by writer id, and m4 is in the new log).
    assert_eq!(sorted(texts(&history)), ["m1", "m2", "m3", "m4"]);
    assert!(history.iter().all(|m| m.is_own));
}

/// A crash after an append landed and before the state was saved: the device finds its
/// own unsent records in its log, counts them delivered, and keeps its writer id.
#[test]
fn records_of_a_crashed_run_are_recognised_not_a_conflict() {
    let server = tempfile::tempdir().unwrap();
    let (state, before_sync) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let a = open_with_state(&t, "Ann", state.path());
    a.send("one").unwrap();
    a.sync().unwrap();
    a.send("two").unwrap();
    a.send("three").unwrap();
    drop(a);
    // The state as it was on disk before the sync that delivered "two" and "three".
    support::copy_state_folder(state.path(), before_sync.path());
    let a = open_with_state(&t, "Ann", state.path());
    a.sync().unwrap();
    drop(a);
    support::copy_state_folder(before_sync.path(), state.path());

    let a = open_with_state(&t, "Ann", state.path());
    assert_eq!(a.outbox_len(), 2);
    let update = a.sync().unwrap();
    assert_eq!(conflicts(&update.events), 0, "{:?}", update.events);
    assert_eq!(update.confirmed.len(), 2);
    assert_eq!(logs(server.path()).len(), 1);
    let fresh = Room::open(t.clone(), native("Fay")).unwrap();
    assert_eq!(
        texts(&fresh.sync().unwrap().messages),
        ["one", "two", "three"]
    );
}

/// Someone deletes a device's log: the device reports it and keeps sending (SPEC §9.2),
/// instead of failing every sync with "not found".
#[test]
fn a_deleted_own_log_is_started_again() {
    let server = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let a = open_with_state(&t, "Ann", state.path());
    a.send("one").unwrap();
    a.sync().unwrap();
    let reader = Room::open(t.clone(), native("Rex")).unwrap();
    assert_eq!(texts(&reader.sync().unwrap().messages), ["one"]);

    let log = server.path().join("r/logs").join(&logs(server.path())[0]);
    let replaced = |events: &[RoomEvent]| {
        events
            .iter()
            .any(|e| matches!(e, RoomEvent::FileReplaced { file } if file.ends_with(".log")))
    };
    // Deleted while the device runs: its next append writes the log again, and the next
    // poll notices that the log is not what the device expects.
    std::fs::remove_file(&log).unwrap();
    a.send("two, a longer line").unwrap();
    let first = a.sync().unwrap();
    assert_eq!(first.confirmed.len(), 1);
    a.send("three").unwrap();
    let second = a.sync().unwrap();
    assert_eq!(second.confirmed.len(), 1);
    assert!(
        replaced(&first.events) || replaced(&second.events),
        "{first:?} {second:?}"
    );
    assert!(log.exists(), "the log is written again");
    assert_eq!(
        texts(&reader.sync().unwrap().messages),
        ["two, a longer line", "three"]
    );
    drop(a);
    // Deleted while the device is away: before the fix every sync failed with NotFound.
    std::fs::remove_file(&log).unwrap();
    let a = open_with_state(&t, "Ann", state.path());
    a.send("four, after a restart").unwrap();
    let update = a.sync().unwrap();
    assert_eq!(update.confirmed.len(), 1);
    assert!(replaced(&update.events), "{:?}", update.events);
    assert_eq!(
        texts(&reader.sync().unwrap().messages),
        ["four, after a restart"]
    );
    assert_eq!(a.outbox_len(), 0);
}

/// A clock that records the waits asked of it instead of sleeping.
#[derive(Debug, Default)]
struct RecordingClock {
    now: AtomicU64,
    slept: Mutex<Vec<Duration>>,
}

impl Clock for RecordingClock {
    fn now_ms(&self) -> u64 {
        1_700_000_000_000 + self.now.load(Ordering::SeqCst)
    }
    fn sleep(&self, duration: Duration) {
        self.now
            .fetch_add(duration.as_millis() as u64, Ordering::SeqCst);
        self.slept.lock().unwrap().push(duration);
    }
}

/// The delivery backoff waits on the room's clock, so retries run on simulated time.
#[test]
fn delivery_backoff_waits_on_the_injected_clock() {
    let store = MemoryTransport::new();
    let faulty = Arc::new(FaultyTransport::new(store.clone()));
    let t: Arc<dyn Transport> = faulty.clone();
    let clock = Arc::new(RecordingClock::default());
    let room = Room::open(t, native("Ann").with_clock(clock.clone())).unwrap();
    room.send("hello").unwrap();
    for n in 1..=3 {
        faulty.fail_nth(Op::Append, n, TransportErrorKind::Transient);
    }
    let started = std::time::Instant::now();
    let update = room.sync().unwrap();
    assert_eq!(update.confirmed.len(), 1);
    let retries = update
        .events
        .iter()
        .filter(|e| matches!(e, RoomEvent::DeliveryRetry { .. }))
        .count();
    assert_eq!(retries, 3);
    let slept = clock.slept.lock().unwrap().clone();
    assert_eq!(
        slept,
        [20, 40, 80].map(Duration::from_millis),
        "doubling backoff, on the clock"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // One log (and the doorbell its one delivery rang): the retries made no second one.
    let names: Vec<String> = store
        .list(&RemotePath::new("r/logs").unwrap())
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        store
            .size(&RemotePath::new("r/logs/doorbell").unwrap())
            .unwrap(),
        Some(1)
    );
}
