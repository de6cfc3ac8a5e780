//! Crash safety (issue 17, item 5): processes that send and read a room with a state
//! folder (a native room, and an FTPChat 1.7 shared file) are killed with SIGKILL at random
//! moments, many times, on real FTP servers (the in-process libunftp one, and vsftpd when
//! `FTPCHAT_TEST_VSFTPD_URL` is set), and restarted on the same state folders. After a
//! final clean run:
//!
//! - every message whose `send` returned is on the server exactly once, and no message is
//!   there twice (counted on the raw log lines, not only through a reader that
//!   deduplicates);
//! - the local store of the killed reader (and of the killed sender) holds every message of
//!   the server exactly once, in the order a fresh reader sees them.
//!
//! The killed processes are this test binary itself (`harness = false`): run with
//! `FTPCHAT_CRASH_ROLE` set, `main` plays a child instead of the test. Random choices come
//! from a seed that is printed; `FTPCHAT_CRASH_SEED=<n>` replays one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpchat_core::testing::read_all;
use ftpchat_core::{
    open_location, Message, OpenOptions, RemotePath, Room, RoomConfig, RoomEvent, Transport,
};
use ftpchat_examples::server::{EmbeddedServer, ServerConfig};
use ftpchat_examples::users;

const ROOM_PASSWORD: &str = "crash room pw";
const FTP_USER: &str = "alice";
const FTP_PASSWORD: &str = "crashpw";
/// Kill rounds per server in a native room, and in a shared file; each round kills one
/// sender and one reader.
const NATIVE_ROUNDS: u64 = 16;
const SHARED_ROUNDS: u64 = 10;
/// A server's rounds stop early after this long (slow machines), but not before
/// `MIN_ROUNDS`.
const ROUNDS_BUDGET: Duration = Duration::from_secs(40);
const MIN_ROUNDS: u64 = 6;
/// A child is killed this long after it starts, at most (uniformly from 0): long enough
/// to open the room and run several syncs, so kills land everywhere in between.
const MAX_KILL_DELAY_MS: u64 = 1_200;

const ROLE: &str = "FTPCHAT_CRASH_ROLE";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        return child(&role);
    }
    // What libtest would do with `cargo test` arguments: `--list`, `--ignored` (this test
    // is not), and name filters (`cargo test -p ftpchat-examples export` skips it).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("crash_safety: test");
        return;
    }
    let name = "crash_safety";
    let mut filters = Vec::new();
    let mut skipped = false;
    let mut words = args.iter();
    while let Some(a) = words.next() {
        match a.as_str() {
            "--ignored" => skipped = true,
            "--skip" => skipped |= words.next().is_some_and(|p| name.contains(p.as_str())),
            a if !a.starts_with('-') => filters.push(a),
            _ => {}
        }
    }
    let skip = skipped || (!filters.is_empty() && !filters.iter().any(|f| name.contains(f)));
    if skip {
        println!("test result: ok. 0 passed; 0 failed; 1 filtered out");
        return;
    }
    run_test();
    println!("test crash_safety ... ok");
}

/// SplitMix64: a few random numbers from a printed seed, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------------------------------
// The children.
// ---------------------------------------------------------------------------------------

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// A native room (a folder), or an FTPChat 1.7 shared file (`shared`).
fn open_room(url: &str, room: &str, who: &str, state: Option<&Path>, shared: bool) -> Room {
    let transport = open_location(url, &OpenOptions::default()).expect("open the location");
    let base = if shared {
        RoomConfig::shared_file(room, ftpchat_core::WriteCodec::Fernet17, who)
            .with_password(ROOM_PASSWORD)
            .with_compat_kdf(ftpchat_core::KdfParams::new(b"crashsalt".to_vec(), 1_000).unwrap())
    } else {
        RoomConfig::native(room, who, ROOM_PASSWORD).with_native_iterations(1_000)
    };
    let mut config = base
        // Only messages go to the server: the raw line count below is exact.
        .with_presence(false)
        .with_read_receipts(false);
    if let Some(state) = state {
        config = config.with_state_dir(state);
    }
    Room::open(transport, config).expect("open the room")
}

/// Every message of `room` in its order, paging back through `history` (the local store
/// when the room has a state folder).
fn all_history(room: &Room) -> Vec<Message> {
    let mut all: Vec<Message> = Vec::new();
    let mut before = None;
    loop {
        let page = room.history(before.as_ref(), 50).expect("history");
        if page.is_empty() {
            return all;
        }
        before = Some(page[0].id);
        all.splice(0..0, page);
    }
}

/// One line per message: `<id> <text>`.
fn print_messages(messages: &[Message]) {
    let mut out = std::io::stdout().lock();
    for m in messages {
        writeln!(out, "{} {}", m.id, m.text).unwrap();
    }
    out.flush().unwrap();
}

fn child(role: &str) {
    let url = env("FTPCHAT_CRASH_URL");
    let room_dir = env("FTPCHAT_CRASH_ROOM");
    let state = PathBuf::from(env("FTPCHAT_CRASH_STATE"));
    let mut rng = Rng(env("FTPCHAT_CRASH_SEED").parse().unwrap());
    let shared = env("FTPCHAT_CRASH_LAYOUT") == "shared";
    match role {
        // Sends numbered messages and syncs until killed. `acked <text>` is printed only
        // after `send` returned: from then on the message must not be lost.
        "send" => {
            let tag = env("FTPCHAT_CRASH_TAG");
            let room = open_room(&url, &room_dir, "sender", Some(&state), shared);
            let mut n = 0;
            loop {
                // A few sends, with pauses (as a user types) in which a kill finds
                // them only in the saved outbox, then a sync.
                for _ in 0..=rng.below(3) {
                    let text = format!("{tag}.{n}");
                    n += 1;
                    room.send(&text).expect("send");
                    println!("acked {text}");
                    std::thread::sleep(Duration::from_millis(rng.below(30)));
                }
                if let Err(e) = room.sync() {
                    eprintln!("sync: {e}");
                }
            }
        }
        // Syncs until killed.
        "read" => {
            let room = open_room(&url, &room_dir, "reader", Some(&state), shared);
            loop {
                if let Err(e) = room.sync() {
                    eprintln!("sync: {e}");
                }
                std::thread::sleep(Duration::from_millis(rng.below(20)));
            }
        }
        // The clean run: delivers what is left, reads what is new, and prints the
        // room's history (from the local store).
        "final" => {
            let room = open_room(&url, &room_dir, "final", Some(&state), shared);
            for tries in 1.. {
                match room.sync() {
                    Ok(_) if room.outbox_len() == 0 => break,
                    Ok(_) => {}
                    Err(e) => assert!(tries < 20, "the final sync keeps failing: {e}"),
                }
                assert!(tries < 20, "the final run cannot empty the outbox");
                std::thread::sleep(Duration::from_millis(200));
            }
            assert_eq!(room.outbox_len(), 0, "the final run left messages unsent");
            print_messages(&all_history(&room));
            room.close().unwrap();
        }
        other => panic!("unknown {ROLE} {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------

fn run_test() {
    let seed = std::env::var("FTPCHAT_CRASH_SEED")
        .ok()
        .map(|s| s.parse().expect("FTPCHAT_CRASH_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash_safety: seed {seed} (replay with FTPCHAT_CRASH_SEED={seed})");
    let mut rng = Rng(seed);

    // The in-process libunftp server, always.
    let dir = tempfile::tempdir().unwrap();
    let users_file = dir.path().join("users");
    users::add_user(&users_file, FTP_USER, FTP_PASSWORD).unwrap();
    let mut config = ServerConfig::new(dir.path().join("root"), &users_file);
    config.port = 0;
    let server = EmbeddedServer::start(config).unwrap();
    let url = format!(
        "ftp://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{}",
        server.port()
    );
    crash_loop("libunftp", &url, false, dir.path(), seed, &mut rng);
    crash_loop("libunftp", &url, true, dir.path(), seed, &mut rng);

    // vsftpd, when the external servers run.
    if let Some(url) = external_url("FTPCHAT_TEST_VSFTPD_URL") {
        crash_loop("vsftpd", &url, false, dir.path(), seed, &mut rng);
        crash_loop("vsftpd", &url, true, dir.path(), seed, &mut rng);
    }
}

/// The URL in `var`; `None` after a note when it is not set, a failure under CI.
fn external_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            let ci = std::env::var("CI").map(|v| v.to_ascii_lowercase());
            let note =
                format!("{var} is not set: run `.ci/ftp-servers.sh` and export its variables");
            assert!(
                !matches!(ci.as_deref(), Ok("true") | Ok("1")),
                "CI=true but {note}"
            );
            eprintln!("note: skipping the crash test against an external server: {note}");
            None
        }
    }
}

/// A child process of `role` on the room, with the state folder `state`.
/// How a child finds its room: the URL, the room, its layout.
struct Place<'a> {
    url: &'a str,
    room: &'a str,
    shared: bool,
}

fn spawn(role: &str, at: &Place<'_>, state: &Path, seed: u64, tag: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(
            "FTPCHAT_CRASH_LAYOUT",
            if at.shared { "shared" } else { "native" },
        )
        .env("FTPCHAT_CRASH_URL", at.url)
        .env("FTPCHAT_CRASH_ROOM", at.room)
        .env("FTPCHAT_CRASH_STATE", state)
        .env("FTPCHAT_CRASH_SEED", seed.to_string())
        .env("FTPCHAT_CRASH_TAG", tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Kills `child` (SIGKILL) and returns its standard output. A child that ended by
/// itself before the kill failed (they loop until killed): that fails the test.
fn kill(mut child: Child, what: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the {what} ended before it was killed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a child to its end; it must succeed. Returns its `<id> <text>` lines.
fn run_clean(role: &str, at: &Place<'_>, state: &Path, seed: u64) -> Vec<(String, String)> {
    let out = spawn(role, at, state, seed, "-")
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "the clean {role} run on {} failed ({}):\n{}",
        state.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (id, text) = l.split_once(' ').expect("<id> <text>");
            (id.to_owned(), text.to_owned())
        })
        .collect()
}

fn crash_loop(server: &str, url: &str, shared: bool, scratch: &Path, seed: u64, rng: &mut Rng) {
    let room = format!("crash-{seed}-{}", rng.below(1 << 32));
    let at = Place {
        url,
        room: &room,
        shared,
    };
    let layout = if shared { "shared" } else { "native" };
    let sender_state = scratch.join(format!("{server}-{layout}-sender"));
    let reader_state = scratch.join(format!("{server}-{layout}-reader"));
    let server = &format!("{server} ({layout})");
    let max_rounds = if shared { SHARED_ROUNDS } else { NATIVE_ROUNDS };
    // The room exists before the children start (they must not race to create it).
    let transport: Arc<dyn Transport> = open_location(url, &OpenOptions::default()).unwrap();
    drop(open_room(url, &room, "maker", None, shared));

    let started = Instant::now();
    let mut acked: Vec<String> = Vec::new();
    let mut rounds = 0;
    while rounds < max_rounds && (rounds < MIN_ROUNDS || started.elapsed() < ROUNDS_BUDGET) {
        let tag = format!("r{rounds}");
        let sender = spawn("send", &at, &sender_state, rng.next(), &tag);
        let reader = spawn("read", &at, &reader_state, rng.next(), &tag);
        let sender_at = Duration::from_millis(rng.below(MAX_KILL_DELAY_MS));
        let reader_at = Duration::from_millis(rng.below(MAX_KILL_DELAY_MS));
        let t0 = Instant::now();
        // Kill the one due first, then the other.
        let mut due = [
            (sender_at, Some(sender), "sender"),
            (reader_at, Some(reader), "reader"),
        ];
        due.sort_by_key(|d| d.0);
        for (at, child, what) in &mut due {
            std::thread::sleep(at.saturating_sub(t0.elapsed()));
            let out = kill(child.take().unwrap(), what);
            if *what == "sender" {
                // Only whole lines count: the kill may cut the last one.
                acked.extend(
                    out.split_inclusive('\n')
                        .filter_map(|l| l.strip_suffix('\n')?.strip_prefix("acked "))
                        .map(str::to_owned),
                );
            }
        }
        rounds += 1;
    }
    println!(
        "crash_safety: {server}: {rounds} rounds, {} kills, {} messages acknowledged, {:.1} s",
        rounds * 2,
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        !acked.is_empty(),
        "no send was acknowledged: the kills came too early"
    );

    // The clean runs: the sender delivers what is left; both print their stores.
    let sender_store = run_clean("final", &at, &sender_state, rng.next());
    let reader_store = run_clean("final", &at, &reader_state, rng.next());

    // A fresh reader (no state) sees the server's messages once each (it deduplicates
    // by id: the raw count below catches a record written twice).
    let fresh = open_room(url, &room, "fresh", None, shared);
    let update = fresh.sync().unwrap();
    let torn = update
        .events
        .iter()
        .filter(|e| matches!(e, RoomEvent::UndecodableLine { .. }))
        .count();
    let messages: Vec<(String, String)> = all_history(&fresh)
        .iter()
        .map(|m| (m.id.to_string(), m.text.clone()))
        .collect();

    // No message twice: one id per text (a message re-encoded after a crash would have a
    // new id), and as many records in the logs as messages.
    let mut by_text: HashMap<&str, usize> = HashMap::new();
    for (_, text) in &messages {
        *by_text.entry(text).or_default() += 1;
    }
    let twice: Vec<_> = by_text.iter().filter(|(_, &n)| n > 1).collect();
    assert!(
        twice.is_empty(),
        "{server}: messages on the server twice: {twice:?}"
    );
    let lines = record_lines(transport.as_ref(), &room, shared);
    assert_eq!(
        lines - torn,
        messages.len(),
        "{server}: {lines} lines in the logs ({torn} torn) for {} messages: a record was \
         written twice",
        messages.len()
    );

    // No acknowledged message lost.
    let on_server: HashSet<&str> = messages.iter().map(|(_, t)| t.as_str()).collect();
    let lost: Vec<_> = acked
        .iter()
        .filter(|t| !on_server.contains(t.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{server}: {} of {} acknowledged messages are not on the server: {lost:?}",
        lost.len(),
        acked.len()
    );

    // The killed processes' stores hold the server's messages, once, in its order.
    for (who, store) in [("reader", &reader_store), ("sender", &sender_store)] {
        if store != &messages {
            let stored: HashSet<_> = store.iter().collect();
            let missing: Vec<_> = messages.iter().filter(|m| !stored.contains(m)).collect();
            let server_set: HashSet<_> = messages.iter().collect();
            let extra: Vec<_> = store.iter().filter(|m| !server_set.contains(m)).collect();
            panic!(
                "{server}: the {who}'s store differs from the server ({} stored, {} on the \
                 server); missing: {missing:?}; not on the server or twice: {extra:?}",
                store.len(),
                messages.len()
            );
        }
    }
    remove_room(transport.as_ref(), &room, shared);
    println!(
        "crash_safety: {server}: {} messages on the server ({} unacknowledged sends among \
         them, {torn} torn lines), stores of the killed sender and reader match",
        messages.len(),
        messages.len() - acked.len()
    );
}

/// Complete lines in the room's logs (`logs/*.log`), read raw from the server.
fn record_lines(transport: &dyn Transport, room: &str, shared: bool) -> usize {
    if shared {
        let bytes = read_all(transport, &RemotePath::new(room).unwrap()).unwrap();
        return bytes
            .split_inclusive(|&b| b == b'\n')
            .filter(|l| l.ends_with(b"\n") && l.len() > 1)
            .count();
    }
    let logs = RemotePath::new(&format!("{room}/logs")).unwrap();
    transport
        .list(&logs)
        .unwrap()
        .iter()
        .filter(|e| !e.is_dir && e.name.ends_with(".log"))
        .map(|e| {
            let path = RemotePath::new(&format!("{room}/logs/{}", e.name)).unwrap();
            let bytes = read_all(transport, &path).unwrap();
            bytes
                .split_inclusive(|&b| b == b'\n')
                .filter(|l| l.ends_with(b"\n") && l.len() > 1)
                .count()
        })
        .sum()
}

/// Removes the room's files and folders (two levels: `logs/`, `files/`), so runs leave
/// nothing on a shared server. Best effort: what fails stays.
fn remove_room(transport: &dyn Transport, room: &str, shared: bool) {
    let Ok(dir) = RemotePath::new(room) else {
        return;
    };
    if shared {
        let _ = transport.remove_file(&dir);
        return;
    }
    for entry in transport.list(&dir).unwrap_or_default() {
        let Ok(path) = dir.join(&entry.name) else {
            continue;
        };
        if entry.is_dir {
            for inner in transport.list(&path).unwrap_or_default() {
                if let Ok(p) = path.join(&inner.name) {
                    let _ = transport.remove_file(&p);
                }
            }
            let _ = transport.remove_dir(&path);
        } else {
            let _ = transport.remove_file(&path);
        }
    }
    let _ = transport.remove_dir(&dir);
}
