//! A hostile or broken FTP server (issue 9): replies garbage, stalls mid-transfer or goes
//! silent, closes the connection in the middle of an append, or lies about sizes. The
//! transport must answer with typed, transient errors within its configured timeouts (no
//! hang), and the room must deliver every message exactly once after reconnecting, read
//! every message exactly once, and not spin.
//!
//! The faults come from `fault_proxy`: a proxy on 127.0.0.1 in front of the in-process
//! libunftp server of `support`, so the failing server and the recovering one are the same
//! files. Timeouts are short (`io_timeout` 1 s) to keep the tests fast.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_proxy;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_proxy::FaultProxy;
use ftpchat_core::codec::FernetKey;
use ftpchat_core::codec::{Keyring, LineDecoder, Record};
use ftpchat_core::testing::read_all;
use ftpchat_core::{FtpConfigBuilder, FtpTransport};
use ftpchat_core::{RemotePath, Transport, TransportErrorKind, TransportEvent};
use ftpchat_core::{Room, RoomConfig, RoomEvent, SyncUpdate, WriteCodec};
use support::ftp_server::{FtpServerTransports, TestFtpServer};

const IO_TIMEOUT: Duration = Duration::from_secs(1);

fn p(s: &str) -> RemotePath {
    RemotePath::new(s).unwrap()
}

/// A server, a proxy in front of it, and a fresh directory `name` on it.
fn setup(name: &str) -> (TestFtpServer, FaultProxy) {
    let server = TestFtpServer::start();
    std::fs::create_dir_all(server.root_dir().join(name)).unwrap();
    let proxy = FaultProxy::start(server.port());
    (server, proxy)
}

/// A transport through the proxy, rooted at `dir`, with short timeouts.
fn via(proxy: &FaultProxy, dir: &str) -> FtpTransport {
    FtpTransport::new(
        FtpConfigBuilder::from_url(&proxy.url())
            .unwrap()
            .root(dir)
            .io_timeout(IO_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .connect_attempts(2)
            .build()
            .unwrap(),
    )
}

/// A transport straight to the server, rooted at `dir`.
fn direct(server: &TestFtpServer, dir: &str) -> FtpTransport {
    FtpTransport::new(server.config_builder().root(dir).build().unwrap())
}

fn texts(update: &SyncUpdate) -> Vec<String> {
    update.messages.iter().map(|m| m.text.clone()).collect()
}

fn all_texts(room: &Room) -> Vec<String> {
    room.history(None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect()
}

fn undecodable(events: &[RoomEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, RoomEvent::UndecodableLine { .. }))
        .count()
}

/// Syncs until the outbox is empty (bounded); returns every update.
fn deliver(room: &Room) -> Vec<SyncUpdate> {
    let mut updates = Vec::new();
    for _ in 0..10 {
        if let Ok(u) = room.sync() {
            updates.push(u);
        }
        if room.outbox_len() == 0 {
            return updates;
        }
    }
    panic!("the outbox never drained");
}

fn key() -> FernetKey {
    FernetKey::from_bytes(&[42; 32])
}

fn native(who: &str) -> RoomConfig {
    RoomConfig::native("r", who, "unused").with_key(key())
}

/// Decoded texts of every complete line of a native log or shared file, in file order.
fn file_texts(bytes: &[u8]) -> Vec<String> {
    let out = LineDecoder::new(Keyring {
        fernet: Some(key()),
        native: None,
    })
    .decode_bytes(bytes, 0);
    out.records
        .iter()
        .map(|r| match &r.record {
            Record::Compat { message, .. } => message.text.trim_end().to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Garbage replies

#[test]
fn garbage_replies_are_typed_errors_within_the_timeout() {
    let (server, proxy) = setup("g");
    std::fs::write(server.root_dir().join("g/a.txt"), b"12345").unwrap();
    let t = via(&proxy, "g");
    assert_eq!(t.size(&p("a.txt")).unwrap(), Some(5));

    // Once: the connection is dropped and the size asked again on a new one.
    proxy.garbage("SIZE", 1, b"this is not an FTP reply\r\n");
    assert_eq!(t.size(&p("a.txt")).unwrap(), Some(5));
    let events = t.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TransportEvent::Reconnected { .. })),
        "{events:?}"
    );

    // Every time: a typed error, quickly.
    let huge = vec![b'9'; 2 << 20];
    let endless_multiline: Vec<u8> = std::iter::once(&b"213-start\r\n"[..])
        .chain(std::iter::repeat_n(&b"213-more\r\n"[..], 200_000))
        .flatten()
        .copied()
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no code", b"garbage\r\n".to_vec()),
        ("too short", b"21\r\n".to_vec()),
        ("unknown code", b"999 what is this\r\n".to_vec()),
        ("negative size", b"213 -5\r\n".to_vec()),
        (
            "overflowing size",
            b"213 99999999999999999999999999\r\n".to_vec(),
        ),
        ("not UTF-8", b"213 \xff\xfe\xfd\r\n".to_vec()),
        ("cut mid-line", b"213 12".to_vec()),
        ("2 MiB line", huge),
        ("endless multi-line reply", endless_multiline),
        ("positive but wrong", b"226 Transfer complete\r\n".to_vec()),
    ];
    for (what, reply) in cases {
        proxy.garbage("SIZE", 2, &reply);
        let started = Instant::now();
        let result = t.size(&p("a.txt"));
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(10),
            "{what}: took {elapsed:?}"
        );
        match result {
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    TransportErrorKind::Transient | TransportErrorKind::Permanent
                ),
                "{what}: {e}"
            ),
            Ok(size) => panic!("{what}: garbage accepted as size {size:?}"),
        }
        proxy.clear();
        // The next operation works again (on a new connection if needed).
        assert_eq!(t.size(&p("a.txt")).unwrap(), Some(5), "{what}");
    }

    // Garbage in place of the passive-mode reply.
    proxy.garbage("PASV", 2, b"227 Entering Passive Mode (300,0,0,1,1,1)\r\n");
    let err = t.read_from(&p("a.txt"), 0, &mut Vec::new()).unwrap_err();
    assert!(err.is_transient(), "{err}");
    proxy.clear();
    assert_eq!(read_all(&t, &p("a.txt")).unwrap(), b"12345");
}

// ---------------------------------------------------------------------------------------
// Stalls and silence

#[test]
fn a_download_that_stalls_times_out_and_resumes_without_duplicates() {
    let (server, proxy) = setup("s");
    std::fs::create_dir_all(server.root_dir().join("s/sub")).unwrap();
    std::fs::write(server.root_dir().join("s/sub/x"), b"x").unwrap();
    let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(server.root_dir().join("s/b.bin"), &content).unwrap();
    let t = via(&proxy, "s");

    // Once: the read times out after 1 s, reconnects and resumes at the byte it reached.
    proxy.stall_download("RETR", 1000, 1);
    let started = Instant::now();
    let mut got = Vec::new();
    assert_eq!(t.read_from(&p("b.bin"), 0, &mut got).unwrap(), 100_000);
    assert_eq!(got, content, "no byte lost or repeated");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        proxy.commands().iter().any(|c| c == "REST 1000"),
        "resumed at 1000"
    );

    // Every time: a transient error after a bounded time, with the prefix it got.
    proxy.stall_download("RETR", 500, 10);
    let started = Instant::now();
    let mut got = Vec::new();
    let err = t.read_from(&p("b.bin"), 0, &mut got).unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(got, content[..got.len()]);
    assert!(got.len() >= 500);
    proxy.clear();

    // A control connection that never answers.
    proxy.silence("SIZE", 10);
    let started = Instant::now();
    let err = t.size(&p("b.bin")).unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    proxy.clear();

    // A listing that stalls.
    proxy.stall_download("MLSD", 10, 10);
    let started = Instant::now();
    let err = t.list(&p("sub")).unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    proxy.clear();
    assert_eq!(t.size(&p("b.bin")).unwrap(), Some(100_000));
}

#[test]
fn a_room_reading_through_a_stall_gets_every_message_once() {
    let (server, proxy) = setup("rs");
    let writer_t: Arc<dyn Transport> = Arc::new(direct(&server, "rs"));
    let writer = Room::open(writer_t, native("writer")).unwrap();
    for i in 0..20 {
        writer.send(&format!("m{i}")).unwrap();
    }
    writer.sync().unwrap();

    let reader_t: Arc<dyn Transport> = Arc::new(via(&proxy, "rs"));
    let reader = Room::open(reader_t, native("reader")).unwrap();
    // The log's download stalls once: the transport times out, reconnects and resumes.
    proxy.stall_download("RETR", 700, 1);
    let started = Instant::now();
    let update = reader.sync().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(texts(&update), want);
    assert!(reader.sync().unwrap().messages.is_empty());
}

// ---------------------------------------------------------------------------------------
// The connection closes in the middle of an append

#[test]
fn a_native_append_cut_mid_transfer_is_delivered_exactly_once() {
    let (server, proxy) = setup("na");
    let alice_t: Arc<dyn Transport> = Arc::new(via(&proxy, "na"));
    let alice = Room::open(alice_t, native("alice")).unwrap();

    // The upload reaches the server only in part, then the connection closes.
    proxy.cut_upload(30, 1);
    alice.send("hello").unwrap();
    let updates = deliver(&alice);
    assert!(
        updates
            .iter()
            .flat_map(|u| &u.events)
            .any(|e| matches!(e, RoomEvent::DeliveryRetry { .. })),
        "the cut was noticed"
    );

    // The upload lands whole, but the client never hears so.
    proxy.drop_control_after_upload(1);
    alice.send("world").unwrap();
    deliver(&alice);
    // Both at once on the next one, for good measure.
    proxy.cut_upload(5, 1).drop_control_after_upload(1);
    alice.send("again").unwrap();
    deliver(&alice);
    assert!(proxy.count("APPE") >= 5, "{}", proxy.count("APPE"));

    let bob_t: Arc<dyn Transport> = Arc::new(direct(&server, "na"));
    let bob = Room::open(bob_t, native("bob")).unwrap();
    let update = bob.sync().unwrap();
    assert_eq!(texts(&update), ["hello", "world", "again"]);
    // The torn fragments are reported as lines, not shown.
    assert_eq!(undecodable(&update.events), 2, "{:?}", update.events);
    // Alice's own view: each once, all confirmed.
    assert_eq!(all_texts(&alice), ["hello", "world", "again"]);
    assert_eq!(alice.outbox_len(), 0);
}

#[test]
fn a_shared_file_append_cut_mid_transfer_is_delivered_exactly_once() {
    let (server, proxy) = setup("sa");
    let cfg =
        |who: &str| RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, who).with_key(key());
    let alice_t: Arc<dyn Transport> = Arc::new(via(&proxy, "sa"));
    let alice = Room::open(alice_t, cfg("alice")).unwrap();
    alice.send("first").unwrap();
    deliver(&alice);

    proxy.cut_upload(40, 1);
    alice.send("cut").unwrap();
    deliver(&alice);
    proxy.drop_control_after_upload(1);
    alice.send("landed").unwrap();
    deliver(&alice);

    let file = std::fs::read(server.root_dir().join("sa/chat.txt")).unwrap();
    assert_eq!(
        file_texts(&file),
        ["first", "cut", "landed"],
        "each line exactly once in the file"
    );
    let bob_t: Arc<dyn Transport> = Arc::new(direct(&server, "sa"));
    let bob = Room::open(bob_t, cfg("bob")).unwrap();
    let update = bob.sync().unwrap();
    assert_eq!(texts(&update), ["first", "cut", "landed"]);
    // The torn start of "cut" was completed by the retry (SPEC §9.1), so no fragment is
    // left for FTPChat 1.7 readers to stall on.
    assert_eq!(undecodable(&update.events), 0, "{:?}", update.events);
    assert_eq!(all_texts(&alice), ["first", "cut", "landed"]);
}

/// Over real FTP: an upload cut just before its line's LF leaves the line whole but
/// unended; another writer's append (after a LF of its own) ends it. The cut writer's next
/// sync finds it there and does not append it again (FTPChat readers would show it twice).
#[test]
fn a_shared_line_cut_before_its_lf_and_ended_by_another_writer_is_in_the_file_once() {
    let (server, proxy) = setup("se");
    let cfg =
        |who: &str| RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, who).with_key(key());
    let alice_t: Arc<dyn Transport> = Arc::new(via(&proxy, "se"));
    let mut alice_cfg = cfg("alice");
    alice_cfg.append_attempts = 1; // the sync ends at the cut
    let alice = Room::open(alice_t, alice_cfg).unwrap();
    alice.send("one").unwrap();
    deliver(&alice);
    let path = server.root_dir().join("se/chat.txt");
    let line_len = std::fs::read(&path).unwrap().len() - 1;

    alice.send("two").unwrap(); // as long as "one"'s line
    proxy.cut_upload(line_len as u64, 1);
    assert!(alice.sync().is_err());
    assert_eq!(
        std::fs::read(&path).unwrap().len(),
        2 * line_len + 1,
        "cut just before its LF"
    );
    let bob_t: Arc<dyn Transport> = Arc::new(direct(&server, "se"));
    let bob = Room::open(bob_t, cfg("bob")).unwrap();
    bob.send("bob").unwrap();
    deliver(&bob);

    deliver(&alice);
    let file = std::fs::read(&path).unwrap();
    assert_eq!(file_texts(&file), ["one", "two", "bob"]);
    assert_eq!(all_texts(&alice), ["one", "two", "bob"]);
}

// ---------------------------------------------------------------------------------------
// Lies about sizes

#[test]
fn a_server_lying_about_sizes_loses_and_repeats_nothing_and_does_not_spin() {
    for delta in [100i64, 1, -10] {
        let dir = format!("lie{}", delta.unsigned_abs());
        let (server, proxy) = setup(&dir);
        proxy.lie_about_size(delta).lie_in_listings(delta);
        let cfg = |who: &str| RoomConfig::shared_file("chat.txt", WriteCodec::Legacy15, who);
        // Writers straight to the server; readers through the lying proxy.
        let shared_writer = Room::open(Arc::new(direct(&server, &dir)), cfg("w")).unwrap();
        let native_writer = Room::open(Arc::new(direct(&server, &dir)), native("w")).unwrap();
        let shared_reader = Room::open(Arc::new(via(&proxy, &dir)), cfg("r")).unwrap();
        let native_reader = Room::open(Arc::new(via(&proxy, &dir)), native("r")).unwrap();
        let mut seen_shared = Vec::new();
        let mut seen_native = Vec::new();
        for round in 0..4 {
            for i in 0..3 {
                let text = format!("round {round} message {i}");
                shared_writer.send(&text).unwrap();
                native_writer.send(&text).unwrap();
            }
            shared_writer.sync().unwrap();
            native_writer.sync().unwrap();
            for _ in 0..2 {
                let retr_before = proxy.count("RETR");
                seen_shared.extend(texts(&shared_reader.sync().unwrap()));
                seen_native.extend(texts(&native_reader.sync().unwrap()));
                let retrs = proxy.count("RETR") - retr_before;
                // One read per file per sync at most (two files: the shared one, one log),
                // plus one full re-read each when a short size looks like a truncation.
                assert!(retrs <= 4, "delta {delta}: {retrs} downloads in one sync");
            }
        }
        let want: Vec<String> = (0..4)
            .flat_map(|r| (0..3).map(move |i| format!("round {r} message {i}")))
            .collect();
        assert_eq!(seen_shared, want, "delta {delta}: shared file");
        assert_eq!(seen_native, want, "delta {delta}: native room");
        assert_eq!(all_texts(&shared_reader), want);
        assert_eq!(all_texts(&native_reader), want);
    }
}

#[test]
fn a_native_writer_behind_a_lying_server_delivers_exactly_once() {
    // The writer's own log is checked by size after a failed append; the size lies.
    for delta in [100i64, -3] {
        let dir = format!("nw{}", delta.unsigned_abs());
        let (server, proxy) = setup(&dir);
        proxy.lie_about_size(delta).lie_in_listings(delta);
        let alice = Room::open(Arc::new(via(&proxy, &dir)), native("alice")).unwrap();
        alice.send("one").unwrap();
        deliver(&alice);
        proxy.cut_upload(25, 1);
        alice.send("two").unwrap();
        deliver(&alice);
        proxy.drop_control_after_upload(1);
        alice.send("three").unwrap();
        deliver(&alice);
        let bob = Room::open(Arc::new(direct(&server, &dir)), native("bob")).unwrap();
        assert_eq!(
            texts(&bob.sync().unwrap()),
            ["one", "two", "three"],
            "delta {delta}"
        );
        assert_eq!(all_texts(&alice), ["one", "two", "three"]);
    }
}

// ---------------------------------------------------------------------------------------
// Regressions found while hardening

// Both attempts of the transport stall mid-download: the sync fails, and the lines that
// arrived before the stall used to be lost (the reader had moved past them).

#[test]
fn a_sync_cut_mid_read_loses_nothing_over_ftp() {
    // Both attempts of the transport stall mid-download (hostile_server.rs covers one).
    let server = TestFtpServer::start();
    std::fs::create_dir_all(server.root_dir().join("rs")).unwrap();
    let proxy = FaultProxy::start(server.port());
    let direct: Arc<dyn Transport> = Arc::new(FtpTransport::new(
        server.config_builder().root("rs").build().unwrap(),
    ));
    let writer = Room::open(direct, native("writer")).unwrap();
    for i in 0..20 {
        writer.send(&format!("m{i}")).unwrap();
    }
    writer.sync().unwrap();
    let via: Arc<dyn Transport> = Arc::new(FtpTransport::new(
        FtpConfigBuilder::from_url(&proxy.url())
            .unwrap()
            .root("rs")
            .io_timeout(Duration::from_secs(1))
            .connect_attempts(2)
            .build()
            .unwrap(),
    ));
    let reader = Room::open(via, native("reader")).unwrap();
    proxy.stall_download("RETR", 700, 2);
    let mut seen = Vec::new();
    if let Ok(u) = reader.sync() {
        seen.extend(texts(&u));
    }
    for _ in 0..3 {
        seen.extend(texts(&reader.sync().unwrap()));
    }
    let want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(seen, want);
}

// A shared-file writer behind a server that overstates SIZE used to confirm its append
// by reading past the real end of the file, append again and again, and never poll.

#[test]
fn a_shared_file_writer_behind_a_server_overstating_size_delivers_once() {
    let server = TestFtpServer::start();
    std::fs::create_dir_all(server.root_dir().join("lie")).unwrap();
    let proxy = FaultProxy::start(server.port());
    proxy.lie_about_size(100);
    let via: Arc<dyn Transport> = Arc::new(FtpTransport::new(
        FtpConfigBuilder::from_url(&proxy.url())
            .unwrap()
            .root("lie")
            .io_timeout(Duration::from_secs(1))
            .build()
            .unwrap(),
    ));
    let cfg = RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, "alice").with_key(key());
    let alice = Room::open(via, cfg).unwrap();
    alice.send("first").unwrap();
    alice.sync().unwrap();
    alice.send("second").unwrap();
    for _ in 0..3 {
        let _ = alice.sync();
    }
    assert_eq!(alice.outbox_len(), 0, "the message never left the outbox");
    let file = std::fs::read(server.root_dir().join("lie/chat.txt")).unwrap();
    let out = LineDecoder::new(Keyring {
        fernet: Some(key()),
        native: None,
    })
    .decode_bytes(&file, 0);
    let lines: Vec<String> = out
        .records
        .iter()
        .map(|r| match &r.record {
            Record::Compat { message, .. } => message.text.trim_end().to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(lines, ["first", "second"], "each line once in the file");
}

// A listing without end (a hostile server, or millions of files) used to be collected
// whole into memory.

#[test]
fn an_endless_listing_is_refused_with_bounded_memory() {
    // Root cause: transport/ftp.rs:707 `Session::listing_lines` collects the whole
    // MLSD/LIST/NLST transfer into a Vec and then into Strings, without a bound; a server
    // (or anyone who can create millions of files) makes every poll allocate without limit.
    // Fix: stop reading after a bound (e.g. 16 MiB or 100,000 entries) with a typed error.
    let server = TestFtpServer::start();
    std::fs::create_dir_all(server.root_dir().join("big/logs")).unwrap();
    let proxy = FaultProxy::start(server.port());
    proxy.pad_listings(64 << 20);
    let t = FtpTransport::new(
        FtpConfigBuilder::from_url(&proxy.url())
            .unwrap()
            .root("big")
            .io_timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let result = t.list(&p("logs"));
    assert!(
        result.is_err(),
        "accepted a listing of {} entries",
        result.map(|e| e.len()).unwrap_or(0)
    );
}
