//! The optional shared-file lock (SPEC §9.1) on simulated time: a holder whose expired lock
//! was broken and retaken by another client must neither append under it nor remove the
//! successor's lock, and every wait and expiry runs on the room's injected clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpchat_core::testing::{read_all, MemoryTransport};
use ftpchat_core::{Capabilities, DirEntry, RemotePath, Transport, TransportError};
use ftpchat_core::{Clock, Room, RoomConfig, RoomError, RoomEvent, WriteCodec};

const LOCK_TTL_MS: u64 = 30_000;
const SKEW_ALLOWANCE_MS: u64 = 10_000;
const B_OWNER_TAG: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn p(s: &str) -> RemotePath {
    RemotePath::new(s).unwrap()
}

/// Simulated time: `sleep` advances it instead of waiting.
#[derive(Debug)]
struct FakeClock(AtomicU64);

impl FakeClock {
    fn new() -> Arc<Self> {
        Arc::new(FakeClock(AtomicU64::new(1_700_000_000_000)))
    }

    fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration.as_millis() as u64);
    }
}

fn locked_room(t: Arc<dyn Transport>, clock: Arc<FakeClock>, wait: Duration) -> Room {
    let mut cfg = RoomConfig::shared_file("c.txt", WriteCodec::Legacy15, "alice")
        .with_lock(true)
        .with_clock(clock);
    cfg.lock_ttl = Duration::from_millis(LOCK_TTL_MS);
    cfg.lock_wait = wait;
    Room::open(t, cfg).unwrap()
}

/// Plays client B against client A's room: the first time A, holding the lock, asks for
/// the chat file's size, A stalls past its lock's lifetime and B breaks the expired lock
/// and takes it (exactly as SPEC §9.1 steps 4, 1 and 2 describe).
#[derive(Debug)]
struct StallThenSteal {
    inner: MemoryTransport,
    clock: Arc<FakeClock>,
    fired: AtomicBool,
}

impl StallThenSteal {
    fn b_owner_line(&self) -> String {
        format!(
            "expires {} {B_OWNER_TAG} b-nonce\n",
            self.clock.now_ms() + LOCK_TTL_MS
        )
    }

    fn steal(&self) {
        self.clock.advance(LOCK_TTL_MS + SKEW_ALLOWANCE_MS + 1_000);
        let owner =
            String::from_utf8(read_all(&self.inner, &p("c.txt.lock/owner")).unwrap()).unwrap();
        let expires: u64 = owner.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(
            self.clock.now_ms() > expires + SKEW_ALLOWANCE_MS,
            "B may break it"
        );
        self.inner.remove_file(&p("c.txt.lock/owner")).unwrap();
        self.inner.remove_dir(&p("c.txt.lock")).unwrap();
        self.inner.make_dir(&p("c.txt.lock")).unwrap();
        let line = self.b_owner_line();
        self.inner
            .append(&p("c.txt.lock/owner"), line.as_bytes())
            .unwrap();
    }
}

impl Transport for StallThenSteal {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        let a_holds_the_lock = self.inner.size(&p("c.txt.lock/owner"))?.is_some();
        if path.as_str() == "c.txt" && a_holds_the_lock && !self.fired.swap(true, Ordering::SeqCst)
        {
            self.steal();
        }
        self.inner.size(path)
    }
    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        self.inner.read_from(path, offset, sink)
    }
    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.inner.append(path, data)
    }
    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.inner.write_atomic(path, data)
    }
    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
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

fn chat_len(store: &MemoryTransport) -> u64 {
    store.size(&p("c.txt")).unwrap().unwrap_or(0)
}

#[test]
fn a_holder_whose_expired_lock_was_retaken_neither_appends_nor_releases_it() {
    let store = MemoryTransport::new();
    let clock = FakeClock::new();
    let t = Arc::new(StallThenSteal {
        inner: store.clone(),
        clock: clock.clone(),
        fired: AtomicBool::new(false),
    });
    // B wrote before, so the chat file exists (as in any room in use).
    let b_room = locked_room(
        Arc::new(store.clone()),
        clock.clone(),
        Duration::from_secs(2),
    );
    b_room.send("earlier, from b").unwrap();
    b_room.sync().unwrap();
    let chat_before = read_all(&store, &p("c.txt")).unwrap();
    // A waits (on simulated time) less than B's lock lives, so B's lock stays valid.
    let alice = locked_room(t.clone(), clock.clone(), Duration::from_secs(2));
    alice.send("written under an expired lock?").unwrap();
    let result = alice.sync();
    assert!(t.fired.load(Ordering::SeqCst), "the stall was not staged");

    // B's lock is still there, untouched, and A did not append while its lock had
    // expired (both checked before failing, so a failure shows both).
    let owner = read_all(&store, &p("c.txt.lock/owner")).ok();
    let owner = owner.map(|o| String::from_utf8(o).unwrap());
    let b_lock_kept = owner.as_deref().is_some_and(|o| o.contains(B_OWNER_TAG));
    let a_appended = read_all(&store, &p("c.txt")).unwrap() != chat_before;
    assert!(
        b_lock_kept && !a_appended,
        "B's lock kept: {b_lock_kept} (owner file {owner:?}); A appended under an expired lock: {a_appended}"
    );
    // A waited for B instead (on simulated time), and keeps the message queued.
    assert!(matches!(result, Err(RoomError::LockTimeout)), "{result:?}");
    assert_eq!(alice.outbox_len(), 1);

    // B finishes; A delivers on its next sync, once.
    store.remove_file(&p("c.txt.lock/owner")).unwrap();
    store.remove_dir(&p("c.txt.lock")).unwrap();
    let update = alice.sync().unwrap();
    assert_eq!(update.confirmed.len(), 1);
    assert!(
        update.events.iter().any(|e| matches!(
            e,
            RoomEvent::DeliveryRetry { error, .. } if error.contains("expired")
        )),
        "{:?}",
        update.events
    );
    assert_eq!(alice.outbox_len(), 0);
    assert!(chat_len(&store) > chat_before.len() as u64);
    assert_eq!(store.size(&p("c.txt.lock/owner")).unwrap(), None);
}

#[test]
fn lock_waits_and_expiry_run_on_the_injected_clock() {
    let store = MemoryTransport::new();
    let clock = FakeClock::new();
    let t: Arc<dyn Transport> = Arc::new(store.clone());
    let alice = locked_room(t, clock.clone(), Duration::from_secs(60));
    let started = Instant::now();

    // A lock without an owner file (its holder crashed after MKD) is broken after the
    // lifetime plus the skew allowance of (simulated) waiting.
    store.make_dir(&p("c.txt.lock")).unwrap();
    let before = clock.now_ms();
    alice.send("one").unwrap();
    let update = alice.sync().unwrap();
    assert_eq!(update.confirmed.len(), 1);
    assert!(update.events.contains(&RoomEvent::StaleLockRemoved));
    assert!(clock.now_ms() - before >= LOCK_TTL_MS + SKEW_ALLOWANCE_MS);

    // Another holder's lock that expires in 5 s is broken 5 s + the allowance later.
    store.make_dir(&p("c.txt.lock")).unwrap();
    let expires = clock.now_ms() + 5_000;
    let line = format!("expires {expires} {B_OWNER_TAG} b-nonce\n");
    store
        .append(&p("c.txt.lock/owner"), line.as_bytes())
        .unwrap();
    alice.send("two").unwrap();
    let update = alice.sync().unwrap();
    assert_eq!(update.confirmed.len(), 1);
    assert!(update.events.contains(&RoomEvent::StaleLockRemoved));
    assert!(clock.now_ms() > expires + SKEW_ALLOWANCE_MS);

    // A lock that outlives the wait is a timeout, also on simulated time.
    store.make_dir(&p("c.txt.lock")).unwrap();
    let line = format!("expires {} {B_OWNER_TAG} b-nonce\n", u64::MAX / 2);
    store
        .append(&p("c.txt.lock/owner"), line.as_bytes())
        .unwrap();
    alice.send("three").unwrap();
    let err = alice.sync().unwrap_err();
    assert!(matches!(err, RoomError::LockTimeout), "{err:?}");

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?} of real time",
        started.elapsed()
    );
}
