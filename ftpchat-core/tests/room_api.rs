//! What the room gives applications and bindings (issue 13): a non-blocking watcher
//! cancel, `close()`, updates handed out exactly once across consumers and background
//! syncs, and one error classification.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::LocalTransport;
use ftpchat_core::{
    Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
};
use ftpchat_core::{
    ErrorKind, Room, RoomConfig, RoomError, RoomListener, SyncUpdate, WatchHandle, WatchOptions,
    WriteCodec,
};
use ftpchat_core::{Message, MessageId};

const PW: &str = "correct horse";
/// "Returns promptly": generous, while something else stays blocked until released.
const PROMPT: Duration = Duration::from_secs(2);
/// How long a test waits for something that should happen soon.
const PATIENCE: Duration = Duration::from_secs(30);

fn native(who: &str) -> RoomConfig {
    RoomConfig::native("rooms/api", who, PW).with_native_iterations(1_000)
}

fn open(t: &Arc<dyn Transport>, who: &str) -> Room {
    Room::open(t.clone(), native(who)).unwrap()
}

fn fast() -> WatchOptions {
    WatchOptions::new(Duration::from_millis(10), Duration::from_millis(50))
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

/// A transport whose listings block while the gate is closed (and say so on a channel).
#[derive(Debug)]
struct Gate {
    inner: MemoryTransport,
    closed: Mutex<bool>,
    opened: Condvar,
    entered: Mutex<Option<Sender<()>>>,
}

impl Gate {
    fn new(inner: MemoryTransport) -> Arc<Gate> {
        Arc::new(Gate {
            inner,
            closed: Mutex::new(false),
            opened: Condvar::new(),
            entered: Mutex::new(None),
        })
    }

    /// Closes the gate; the receiver hears each listing that blocks on it.
    fn close(&self) -> Receiver<()> {
        let (tx, rx) = mpsc::channel();
        *self.entered.lock().unwrap() = Some(tx);
        *self.closed.lock().unwrap() = true;
        rx
    }

    fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.opened.notify_all();
    }
}

impl Transport for Gate {
    fn capabilities(&self) -> Capabilities {
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
        let mut closed = self.closed.lock().unwrap();
        if *closed {
            if let Some(tx) = &*self.entered.lock().unwrap() {
                let _ = tx.send(());
            }
        }
        while *closed {
            closed = self.opened.wait(closed).unwrap();
        }
        drop(closed);
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

/// Records everything a watcher hands out.
#[derive(Default)]
struct Collect {
    messages: Mutex<Vec<String>>,
    confirmed: Mutex<Vec<MessageId>>,
}

impl RoomListener for Collect {
    fn on_messages(&self, messages: &[Message]) {
        self.messages.lock().unwrap().extend(texts(messages));
    }
    fn on_confirmed(&self, ids: &[MessageId]) {
        self.confirmed.lock().unwrap().extend_from_slice(ids);
    }
}

/// Calls `f` on the first batch of messages.
struct OnMessages<F: Fn() + Send + Sync>(F);

impl<F: Fn() + Send + Sync> RoomListener for OnMessages<F> {
    fn on_messages(&self, _messages: &[Message]) {
        (self.0)();
    }
}

/// Waits on another thread for `f`, bounded: `true` when it finished within `limit`.
fn finishes_within(limit: Duration, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(limit).is_ok()
}

fn counts(items: impl IntoIterator<Item = String>) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for item in items {
        *map.entry(item).or_insert(0) += 1;
    }
    map
}

fn assert_exactly_once(got: Vec<String>, expected: &[String]) {
    let got = counts(got);
    for text in expected {
        assert_eq!(got.get(text), Some(&1), "{text} not exactly once: {got:?}");
    }
    assert_eq!(got.len(), expected.len(), "unexpected messages: {got:?}");
}

// --- watch handle ------------------------------------------------------------------------

#[test]
fn cancel_and_stop_from_inside_a_callback_return_at_once() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, "Alice");
    let bob = open(&t, "Bob");
    alice.send("wake up").unwrap();
    alice.sync().unwrap();

    let slot: Arc<Mutex<Option<WatchHandle>>> = Arc::new(Mutex::new(None));
    let (done_tx, done) = mpsc::channel::<(Duration, bool, bool)>();
    let done_tx = Mutex::new(Some(done_tx));
    let in_callback = slot.clone();
    let listener = OnMessages(move || {
        // Wait until the test stored the handle.
        let handle = loop {
            if let Some(h) = in_callback.lock().unwrap().take() {
                break h;
            }
            std::thread::yield_now();
        };
        let start = Instant::now();
        handle.cancel();
        let cancelled = handle.is_cancelled();
        // Waiting for the watcher's own thread must not deadlock.
        handle.join();
        let running_inside = handle.is_running();
        handle.stop();
        if let Some(tx) = done_tx.lock().unwrap().take() {
            tx.send((start.elapsed(), cancelled, running_inside))
                .unwrap();
        }
    });
    let handle = bob.watch(Arc::new(listener), fast());
    *slot.lock().unwrap() = Some(handle);
    let (elapsed, cancelled, running_inside) = done.recv_timeout(PATIENCE).unwrap();
    assert!(
        elapsed < PROMPT,
        "cancel+join+stop inside a callback took {elapsed:?}"
    );
    assert!(cancelled);
    assert!(running_inside, "the watcher's own thread is still running");

    // The watcher is gone: what Alice sends next is for Bob's own sync.
    alice.send("after").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["after"]);
}

#[test]
fn dropping_the_handle_does_not_wait_for_a_blocked_listener() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, "Alice");
    let bob = open(&t, "Bob");
    alice.send("first").unwrap();
    alice.sync().unwrap();

    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release_tx, release) = mpsc::channel::<()>();
    let (entered_tx, release) = (Mutex::new(entered_tx), Mutex::new(release));
    let listener = OnMessages(move || {
        entered_tx.lock().unwrap().send(()).unwrap();
        // Blocked until the test releases it.
        release.lock().unwrap().recv().unwrap();
    });
    let handle = bob.watch(Arc::new(listener), fast());
    entered.recv_timeout(PATIENCE).unwrap();

    // On another thread, so that a drop that waited would fail the test, not hang it.
    assert!(
        finishes_within(PROMPT, move || drop(handle)),
        "dropping the handle waited for the blocked listener"
    );

    // A cancel from another thread does not wait either.
    let handle = Arc::new(bob.watch(Arc::new(Collect::default()), fast()));
    let cancelled = handle.clone();
    assert!(finishes_within(PROMPT, move || cancelled.cancel()));
    drop(handle);

    release_tx.send(()).unwrap();
    // Nothing lost: the blocked watcher consumed "first"; "second" is Bob's to sync once
    // the cancelled watchers are out of the way.
    alice.send("second").unwrap();
    alice.sync().unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while !seen.contains(&"second".to_owned()) && Instant::now() < deadline {
        seen.extend(texts(&bob.sync().unwrap().messages));
    }
    assert_eq!(seen, ["second"]);
}

#[test]
fn stop_from_another_thread_waits_for_the_watcher() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let bob = open(&t, "Bob");
    let handle = bob.watch(Arc::new(Collect::default()), fast());
    assert!(handle.is_running());
    handle.cancel();
    handle.join();
    assert!(!handle.is_running());
    handle.stop();
}

// --- close -------------------------------------------------------------------------------

#[test]
fn close_cancels_watchers_saves_the_outbox_and_fails_later_calls() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(dir.path().join("server")).unwrap();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(dir.path().join("server")));
    let config = || native("Alice").with_state_dir(&state);
    let alice = Room::open(t.clone(), config()).unwrap();
    let gate = Arc::new(alice.watch(Arc::new(Collect::default()), fast()));
    assert!(!alice.is_closed());

    alice.close().unwrap();
    assert!(alice.is_closed());
    assert!(gate.is_cancelled(), "close cancels the room's watchers");
    let joined = gate.clone();
    assert!(finishes_within(PATIENCE, move || joined.join()));
    assert!(!gate.is_running());
    alice.close().unwrap(); // idempotent

    for result in [
        alice.send("x").map(drop),
        alice.sync().map(drop),
        alice.flush(),
        alice.history(None, 10).map(drop),
        alice.sync_within(Duration::from_secs(1)).map(drop),
        alice.sync_in_background().wait(PATIENCE).unwrap().map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, RoomError::Closed), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Closed);
        assert!(!err.is_transient());
    }
    // Getters without I/O still answer; a watcher on a closed room ends at once.
    assert_eq!(alice.display_name(), "Alice");
    let late = alice.watch(Arc::new(Collect::default()), fast());
    assert!(late.is_cancelled());
    late.stop();

    // The outbox is saved by close: a message sent before it goes out after a reopen.
    let bob = Room::open(t.clone(), native("Bob")).unwrap();
    let carol = Room::open(
        t.clone(),
        native("Carol").with_state_dir(dir.path().join("c")),
    )
    .unwrap();
    carol.send("kept").unwrap();
    carol.close().unwrap();
    let carol = Room::open(
        t.clone(),
        native("Carol").with_state_dir(dir.path().join("c")),
    )
    .unwrap();
    assert_eq!(carol.outbox_len(), 1);
    carol.sync().unwrap();
    assert_eq!(carol.outbox_len(), 0);
    assert!(texts(&bob.sync().unwrap().messages).contains(&"kept".to_owned()));
}

// --- exactly once across consumers -------------------------------------------------------

#[test]
fn a_watcher_and_sync_together_see_every_message_and_confirmation_once() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, "Alice");
    let bob = open(&t, "Bob");
    let collect = Arc::new(Collect::default());
    let watcher = bob.watch(collect.clone(), fast());

    let mut expected = Vec::new();
    let mut own = Vec::new();
    let mut synced = Vec::new();
    let mut confirmed_by_sync = Vec::new();
    for round in 0..20 {
        for i in 0..3 {
            let text = format!("a{round}-{i}");
            alice.send(&text).unwrap();
            expected.push(text);
        }
        alice.sync().unwrap();
        own.push(bob.send(&format!("b{round}")).unwrap());
        let update = bob.sync().unwrap();
        synced.extend(texts(&update.messages));
        confirmed_by_sync.extend(update.confirmed);
    }
    watcher.stop();
    let update = bob.sync().unwrap();
    synced.extend(texts(&update.messages));
    confirmed_by_sync.extend(update.confirmed);

    let by_watcher = collect.messages.lock().unwrap().clone();
    assert!(!synced.is_empty() || !by_watcher.is_empty());
    let mut all = synced;
    all.extend(by_watcher);
    assert_exactly_once(all, &expected);

    let mut confirmed = confirmed_by_sync;
    confirmed.extend(collect.confirmed.lock().unwrap().iter().copied());
    assert_exactly_once(
        confirmed.iter().map(MessageId::to_hex).collect(),
        &own.iter().map(MessageId::to_hex).collect::<Vec<_>>(),
    );
}

#[test]
fn two_threads_syncing_see_every_message_once() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, "Alice");
    let bob = open(&t, "Bob");
    let expected: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let stop_rx = Arc::new(Mutex::new(stop_rx));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (bob, stop) = (bob.clone(), stop_rx.clone());
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    got.extend(texts(&bob.sync().unwrap().messages));
                    if !matches!(
                        stop.lock().unwrap().try_recv(),
                        Err(mpsc::TryRecvError::Empty)
                    ) {
                        return got;
                    }
                }
            })
        })
        .collect();
    for chunk in expected.chunks(10) {
        for text in chunk {
            alice.send(text).unwrap();
        }
        alice.sync().unwrap();
    }
    drop(stop_tx);
    let mut all: Vec<String> = readers
        .into_iter()
        .flat_map(|r| r.join().unwrap())
        .collect();
    all.extend(texts(&bob.sync().unwrap().messages));
    assert_exactly_once(all, &expected);
}

// --- background syncs --------------------------------------------------------------------

#[test]
fn a_background_sync_dropped_before_it_completes_loses_nothing() {
    let store = MemoryTransport::new();
    let t: Arc<dyn Transport> = Arc::new(store.clone());
    let alice = open(&t, "Alice");
    let gate = Gate::new(store.clone());
    let bob_t: Arc<dyn Transport> = gate.clone();
    let bob = open(&bob_t, "Bob");
    alice.send("late").unwrap();
    alice.sync().unwrap();
    let own = bob.send("mine").unwrap();

    let entered = gate.close();
    let task = bob.sync_in_background();
    entered.recv_timeout(PATIENCE).unwrap();
    // Still running: the handle comes back from a short wait, and drops without blocking.
    let task = task.wait(Duration::from_millis(1)).unwrap_err();
    assert!(!task.is_finished());
    let start = Instant::now();
    drop(task);
    assert!(start.elapsed() < PROMPT);
    gate.open();

    let update = bob.sync().unwrap();
    assert_eq!(texts(&update.messages), ["late"]);
    assert_eq!(update.confirmed, [own]);
    assert!(bob.sync().unwrap().is_empty());
}

#[test]
fn a_finished_background_sync_dropped_unread_goes_back_to_the_room() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, "Alice");
    let bob = open(&t, "Bob");
    alice.send("one").unwrap();
    alice.sync().unwrap();
    let task = bob.sync_in_background();
    // Wait for it to finish without taking the result.
    let deadline = Instant::now() + PATIENCE;
    while !task.is_finished() && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(task.is_finished());
    drop(task);
    alice.send("two").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["one", "two"]);
}

#[test]
fn a_background_sync_resolves_as_a_future_without_a_runtime() {
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, "Alice");
    let bob = open(&t, "Bob");
    alice.send("async").unwrap();
    alice.sync().unwrap();
    let mut task = std::pin::pin!(bob.sync_in_background());
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + PATIENCE;
    let update: SyncUpdate = loop {
        if let Poll::Ready(result) = task.as_mut().poll(&mut cx) {
            break result.unwrap();
        }
        assert!(Instant::now() < deadline);
        std::thread::park_timeout(Duration::from_millis(100));
    };
    assert_eq!(texts(&update.messages), ["async"]);
}

#[test]
fn sync_within_returns_by_its_deadline_and_the_late_sync_comes_next() {
    let store = MemoryTransport::new();
    let t: Arc<dyn Transport> = Arc::new(store.clone());
    let alice = open(&t, "Alice");
    let gate = Gate::new(store.clone());
    let bob_t: Arc<dyn Transport> = gate.clone();
    let bob = open(&bob_t, "Bob");
    alice.send("late").unwrap();
    alice.sync().unwrap();

    let _entered = gate.close();
    let start = Instant::now();
    let r = bob.sync_within(Duration::from_millis(50)).unwrap();
    assert!(start.elapsed() < PROMPT);
    assert!(!r.completed);
    assert!(r.update.messages.is_empty());
    gate.open();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["late"]);

    alice.send("in time").unwrap();
    alice.sync().unwrap();
    let r = bob.sync_within(PATIENCE).unwrap();
    assert!(r.completed);
    assert_eq!(texts(&r.update.messages), ["in time"]);
}

// --- errors and configuration ------------------------------------------------------------

#[test]
fn error_kinds_and_transience() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let _alice = open(&t, "Alice");
    let err = Room::open(t.clone(), RoomConfig::native("rooms/api", "Eve", "wrong")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongPassword);
    assert!(!err.is_transient());

    let err = Room::open(
        t.clone(),
        RoomConfig::native("rooms/missing", "x", PW).must_exist(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let err = Room::open(t.clone(), RoomConfig::native("../up", "x", PW)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidPath);
    assert_eq!(err.kind().name(), "invalid_path");

    let room = open(&t, "Bob");
    let err = room.send(&"x".repeat(70_000)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MessageTooLarge);

    assert_eq!(RoomError::LockTimeout.kind(), ErrorKind::LockTimeout);
    assert!(RoomError::LockTimeout.is_transient());
    let transient = RoomError::Transport(TransportError::new(
        TransportErrorKind::Transient,
        "append",
        "timed out",
    ));
    assert_eq!(
        transient.kind(),
        ErrorKind::Transport(TransportErrorKind::Transient)
    );
    assert!(transient.is_transient());
    let denied = RoomError::Transport(TransportError::new(
        TransportErrorKind::PermissionDenied,
        "append",
        "550",
    ));
    assert!(!denied.is_transient());
    assert_eq!(denied.kind().name(), "transport");
}

#[test]
fn a_lock_on_a_native_room_is_refused_at_open() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let err = Room::open(t.clone(), native("Alice").with_lock(true)).unwrap_err();
    assert!(matches!(err, RoomError::InvalidConfig(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    // A shared file takes one; a native room without it opens.
    Room::open(
        t.clone(),
        RoomConfig::shared_file("chat.txt", WriteCodec::Legacy15, "Bob").with_lock(true),
    )
    .unwrap();
    open(&t, "Alice");
}

#[test]
fn what_a_consumer_gives_back_comes_first_with_the_next_sync() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = open(&t, "Alice");
    let bob = open(&t, "Bob");
    alice.send("one").unwrap();
    alice.sync().unwrap();
    let taken = bob.sync().unwrap();
    assert_eq!(texts(&taken.messages), ["one"]);
    bob.give_back(taken);
    alice.send("two").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.take_pending().messages), ["one"]);
    assert_eq!(texts(&bob.sync().unwrap().messages), ["two"]);
}

/// A simulated clock for a watcher: each pause is recorded and returns at once, until
/// `pauses` have been taken; later pauses block on real time until woken.
#[derive(Debug)]
struct PauseRecorder {
    pauses: usize,
    taken: Mutex<Vec<Duration>>,
    woken: Mutex<Vec<bool>>,
}

impl ftpchat_core::Clock for PauseRecorder {
    fn now_ms(&self) -> u64 {
        1_764_873_000_000
    }

    fn wait(&self, wakeup: &ftpchat_core::Wakeup, duration: Duration) -> bool {
        let mut taken = self.taken.lock().unwrap();
        if taken.len() < self.pauses {
            taken.push(duration);
            let fired = wakeup.is_fired();
            self.woken.lock().unwrap().push(fired);
            return fired;
        }
        drop(taken);
        wakeup.block(PATIENCE)
    }
}

#[derive(Default)]
struct Nobody;
impl RoomListener for Nobody {
    fn on_messages(&self, _: &[Message]) {}
}

/// A watcher pauses between polls on the room's clock: in an idle room the pause doubles
/// from the shortest to the idle interval, on simulated time (no real waiting), and a
/// cancel wakes a watcher that waits.
#[test]
fn a_watcher_pauses_on_the_rooms_clock() {
    let clock = Arc::new(PauseRecorder {
        pauses: 6,
        taken: Mutex::new(Vec::new()),
        woken: Mutex::new(Vec::new()),
    });
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let room = Room::open(t, native("alice").with_clock(clock.clone())).unwrap();
    let started = Instant::now();
    let handle = room.watch(
        Arc::new(Nobody),
        WatchOptions::new(Duration::from_secs(60), Duration::from_secs(600)),
    );
    while clock.taken.lock().unwrap().len() < 6 {
        assert!(
            started.elapsed() < PATIENCE,
            "the watcher did not pause 6 times"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Six pauses of 2 to 10 minutes each took no real time.
    assert!(started.elapsed() < PATIENCE);
    let minutes: Vec<u64> = clock
        .taken
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.as_secs() / 60)
        .collect();
    // Nobody wrote yet, so the room has no doorbell: full polls (a listing, two
    // commands) back off to twice the longest interval, one command per interval.
    assert_eq!(minutes, [2, 4, 8, 16, 20, 20]);
    assert!(clock.woken.lock().unwrap().iter().all(|w| !w));
    // The seventh pause blocks until the cancel wakes it.
    handle.stop();
}

/// Records what a watcher hands out, errors included.
#[derive(Default)]
struct Everything {
    messages: Mutex<Vec<String>>,
    events: Mutex<Vec<String>>,
    errors: Mutex<Vec<ErrorKind>>,
}

impl RoomListener for Everything {
    fn on_messages(&self, messages: &[Message]) {
        self.messages.lock().unwrap().extend(texts(messages));
    }
    fn on_event(&self, event: &ftpchat_core::RoomEvent) {
        self.events.lock().unwrap().push(format!("{event:?}"));
    }
    fn on_error(&self, error: &RoomError) {
        self.errors.lock().unwrap().push(error.kind());
    }
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A device whose appends are refused for good (e.g. a read-only login) keeps showing
/// what others write: every sync fails on the stuck outbox, but what it read is handed to
/// the watcher beside the error, and to `take_pending` for a caller that syncs itself.
#[test]
fn a_stuck_outbox_does_not_hide_what_others_write() {
    let store = Arc::new(MemoryTransport::new());
    let alice = Room::open(store.clone(), native("alice")).unwrap();
    alice.sync().unwrap();
    let faulty = Arc::new(ftpchat_core::testing::FaultyTransport::from_arc(
        store.clone(),
    ));
    let bob = Room::open(faulty.clone(), native("bob")).unwrap();
    for n in 1..=10_000 {
        faulty.fail_nth(
            ftpchat_core::testing::Op::Append,
            n,
            TransportErrorKind::PermissionDenied,
        );
    }
    bob.send("refused").unwrap();
    alice.send("first").unwrap();
    alice.sync().unwrap();

    // A caller that syncs itself gets the error, and what was read from take_pending.
    let err = bob.sync().unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Transport(TransportErrorKind::PermissionDenied)
    );
    assert!(!err.is_transient());
    assert_eq!(texts(&bob.take_pending().messages), ["first"]);

    // A watcher shows every later message, and reports the error.
    let seen = Arc::new(Everything::default());
    let handle = bob.watch(seen.clone(), fast());
    alice.send("second").unwrap();
    alice.sync().unwrap();
    wait_for("the second message", || {
        seen.messages.lock().unwrap().iter().any(|m| m == "second")
    });
    assert!(!seen.errors.lock().unwrap().is_empty());
    handle.stop();
    assert_eq!(*seen.messages.lock().unwrap(), ["second"]);
    assert_eq!(bob.outbox_len(), 1, "the refused message stays queued");
}

/// In a FTPChat 1.7 file, a wrong password makes every sync fail (nothing may be written
/// under a wrong key), and the event that explains it still reaches the watcher.
#[test]
fn a_wrong_password_reaches_the_watcher_as_an_event_beside_the_error() {
    let store: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let config = |who: &str, pw: &str| {
        RoomConfig::shared_file("chat.txt", WriteCodec::Fernet17, who).with_password(pw)
    };
    let alice = Room::open(store.clone(), config("alice", PW)).unwrap();
    alice.send("hello").unwrap();
    alice.sync().unwrap();
    let mallory = Room::open(store.clone(), config("mallory", "guess")).unwrap();
    mallory.send("not under a wrong key").unwrap();
    let seen = Arc::new(Everything::default());
    let handle = mallory.watch(seen.clone(), fast());
    wait_for("the wrong-password event", || {
        seen.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.starts_with("WrongPassword"))
    });
    handle.stop();
    assert!(seen
        .errors
        .lock()
        .unwrap()
        .contains(&ErrorKind::WrongPassword));
    assert!(seen.messages.lock().unwrap().is_empty());
}
