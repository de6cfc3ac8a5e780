//! The doorbell of native rooms (SPEC §9.2.1) on a real FTP server (the in-process
//! libunftp server): a delivery rings it; an idle watcher checks its size instead of
//! listing and reads in full when it changed; a room without one is polled in full; a
//! writer that does not ring is still seen, at the watcher's safety poll.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftpchat_core::testing::{FaultyTransport, Op};
use ftpchat_core::{
    Capabilities, DirEntry, FtpTransport, Message, RemotePath, Room, RoomConfig, RoomListener,
    Transport, TransportError, TransportEvent, WatchHandle, WatchOptions,
};
use support::ftp_server::{unique_name, FtpServerTransports, TestFtpServer};

const PW: &str = "doorbell test";

/// A client of `dir` on `server`: its own connection, its own counters.
fn client(server: &TestFtpServer, dir: &str) -> Arc<FaultyTransport<FtpTransport>> {
    let config = server.config_builder().root(dir).build().unwrap();
    Arc::new(FaultyTransport::new(FtpTransport::new(config)))
}

fn fresh_dir(server: &TestFtpServer) -> String {
    let dir = unique_name("bell");
    std::fs::create_dir_all(server.root_dir().join(&dir)).unwrap();
    dir
}

fn open(t: Arc<dyn Transport>, who: &str) -> Room {
    let config = RoomConfig::native("room", who, PW).with_native_iterations(1_000);
    Room::open(t, config).unwrap()
}

/// The doorbell's size as the server has it (`None`: missing).
fn bell_size(server: &TestFtpServer, dir: &str) -> Option<u64> {
    std::fs::metadata(server.root_dir().join(dir).join("room/logs/doorbell"))
        .ok()
        .map(|m| m.len())
}

/// A writer that does not ring (an older client): appends to the doorbell are dropped.
#[derive(Debug)]
struct NoRing(Arc<dyn Transport>);

impl Transport for NoRing {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        self.0.size(path)
    }
    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn std::io::Write,
    ) -> Result<u64, TransportError> {
        self.0.read_from(path, offset, sink)
    }
    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        if path.as_str().ends_with("/doorbell") {
            return Ok(());
        }
        self.0.append(path, data)
    }
    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.0.write_atomic(path, data)
    }
    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        self.0.list(dir)
    }
    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.0.make_dir(path)
    }
    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.0.remove_file(path)
    }
    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.0.remove_dir(path)
    }
    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.0.rename(from, to)
    }
    fn take_events(&self) -> Vec<TransportEvent> {
        self.0.take_events()
    }
}

#[derive(Default)]
struct Collect(Mutex<Vec<String>>);

impl RoomListener for Collect {
    fn on_messages(&self, messages: &[Message]) {
        let mut seen = self.0.lock().unwrap();
        seen.extend(messages.iter().map(|m| m.text.clone()));
    }
}

impl Collect {
    fn has(&self, text: &str) -> bool {
        self.0.lock().unwrap().iter().any(|t| t == text)
    }
}

/// Waits up to 20 s for `done`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts `reader` watching with fast intervals and the given safety interval.
fn watch(reader: &Room, safety: Duration) -> (Arc<Collect>, WatchHandle) {
    let seen = Arc::new(Collect::default());
    let options = WatchOptions::new(Duration::from_millis(5), Duration::from_millis(20))
        .with_full_poll_interval(safety);
    let handle = reader.watch(seen.clone(), options);
    (seen, handle)
}

#[test]
fn deliveries_ring_and_an_idle_watcher_checks_the_doorbell_instead_of_listing() {
    let server = TestFtpServer::start();
    let dir = fresh_dir(&server);
    let alice = open(client(&server, &dir), "alice");
    alice.send("first").unwrap();
    alice.sync().unwrap();
    assert_eq!(bell_size(&server, &dir), Some(1), "one delivery, one ring");

    let bob_t = client(&server, &dir);
    let bob = open(bob_t.clone(), "bob");
    // No safety poll within the test: only the doorbell can make the watcher list.
    let (seen, handle) = watch(&bob, Duration::from_secs(3_600));
    wait_for("the first message", || seen.has("first"));
    let sizes = bob_t.calls(Op::Size);
    wait_for("idle checks", || bob_t.calls(Op::Size) >= sizes + 20);
    let lists = bob_t.calls(Op::List);
    let sizes = bob_t.calls(Op::Size);
    wait_for("more idle checks", || bob_t.calls(Op::Size) >= sizes + 20);
    assert_eq!(bob_t.calls(Op::List), lists, "an idle watcher listed");

    alice.send("rung").unwrap();
    alice.sync().unwrap();
    assert_eq!(bell_size(&server, &dir), Some(2));
    wait_for("the rung message", || seen.has("rung"));
    assert!(bob_t.calls(Op::List) > lists, "read without listing?");
    handle.stop();
}

#[test]
fn a_room_without_a_doorbell_is_polled_in_full() {
    let server = TestFtpServer::start();
    let dir = fresh_dir(&server);
    let alice = open(Arc::new(NoRing(client(&server, &dir))), "alice");
    alice.send("first").unwrap();
    alice.sync().unwrap();
    assert_eq!(bell_size(&server, &dir), None);

    let bob_t = client(&server, &dir);
    let bob = open(bob_t.clone(), "bob");
    let (seen, handle) = watch(&bob, Duration::from_secs(3_600));
    wait_for("the first message", || seen.has("first"));
    let (lists, sizes) = (bob_t.calls(Op::List), bob_t.calls(Op::Size));
    wait_for("idle full polls", || bob_t.calls(Op::List) >= lists + 5);
    assert_eq!(
        bob_t.calls(Op::Size),
        sizes,
        "checked a doorbell that is not there"
    );

    alice.send("unrung").unwrap();
    alice.sync().unwrap();
    wait_for("the message", || seen.has("unrung"));
    handle.stop();
}

#[test]
fn a_writer_that_does_not_ring_is_seen_at_the_safety_poll() {
    let server = TestFtpServer::start();
    let dir = fresh_dir(&server);
    let alice = open(client(&server, &dir), "alice");
    alice.send("from a ringing writer").unwrap();
    alice.sync().unwrap();
    let carol = open(Arc::new(NoRing(client(&server, &dir))), "carol");
    carol.sync().unwrap();

    let bob_t = client(&server, &dir);
    let bob = open(bob_t.clone(), "bob");
    // 20 ms checks, a full poll every 25 turns.
    let (seen, handle) = watch(&bob, Duration::from_millis(500));
    wait_for("the first message", || seen.has("from a ringing writer"));
    let (lists, sizes) = (bob_t.calls(Op::List), bob_t.calls(Op::Size));
    wait_for("idle turns", || bob_t.calls(Op::Size) >= sizes + 100);
    let (idle_lists, idle_sizes) = (bob_t.calls(Op::List) - lists, bob_t.calls(Op::Size) - sizes);
    assert!(idle_lists >= 1, "no safety poll in {idle_sizes} checks");
    assert!(
        idle_lists * 10 <= idle_sizes,
        "{idle_lists} full polls for {idle_sizes} checks"
    );

    carol.send("from a silent writer").unwrap();
    carol.sync().unwrap();
    assert_eq!(bell_size(&server, &dir), Some(1), "carol rang");
    wait_for("the silent writer's message", || {
        seen.has("from a silent writer")
    });
    handle.stop();
}
