//! The local store (issue 17): a room of 100,000 messages in a `LocalStore`, then, in each
//! of several runs (median reported), the calls that make a room start at once and
//! search: open the store and read the newest page of 50, page back 50 from the middle,
//! search a common and a rare word (first page of 50). Also the insert rate (the store
//! filled a sync's worth at a time, and one message per call), and the file size.
//!
//! The messages arrive in order, as they do once a room is up to date. A second store
//! holds the same messages loaded the worst way for search (the history read backwards,
//! newest batch first) to show what a search costs then.
//!
//! No server is involved. Every run opens the store again (SQLite's cache is empty); the
//! operating system's file cache is warm, as for an application started again.
//!
//! Then the same through a `Room` (issue 17, second step): a room of the same messages on
//! an in-memory server, read once by a room with a state folder (which stores them), then
//! in each run reopened with the network down (every call of the transport fails as a
//! dropped connection does) and asked for its newest 50 messages (`Room::open` +
//! `Room::history`), and searched.
//!
//! `cargo run --release -p ftpchat-benches --bin store [-- --quick] [--messages 100000]
//!  [--runs 9] [--batch 500] [--dir FOLDER (keep the stores)] [--out FILE]`

#![allow(clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ftpchat_benches::corpus::{self, Rng};
use ftpchat_benches::stats::{fmt_bytes, fmt_ms, sig3, summarize, thousands, Table};
use ftpchat_benches::{emit, load, machine, Args};
use ftpchat_core::codec::{Hlc, SortKey, WriterId};
use ftpchat_core::testing::{FaultyTransport, MemoryTransport, Op};
use ftpchat_core::{
    Codec, LocalStore, Message, MessageId, Room, RoomConfig, Transport, TransportErrorKind,
};

const ROOM: &str = "ftp://chat.example:21/rooms/lobby";
const COMMON: &str = "the";
const RARE: &str = "xylophone";
const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin"];
/// Target for each measured call (issue 17).
const TARGET_MS: f64 = 50.0;

/// A vocabulary of made-up words for a long tail (Zipf-distributed), so that the index
/// has many terms as real chat does, not only the corpus's 75 words.
fn vocabulary(rng: &mut Rng, n: usize) -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "te", "sa", "ru", "po", "ne", "vi", "da", "gor", "an", "el", "is", "un",
        "tra", "ber", "mon", "qui", "zel", "fa", "do", "re", "wu",
    ];
    (0..n)
        .map(|_| {
            (0..2 + rng.below(3))
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
                .collect()
        })
        .collect()
}

/// `n` messages of five users, one every ~30 s, in timeline order: a corpus chat text
/// with one or two words of the long tail, and the rare word in 20 of them.
fn messages(n: u64) -> (Vec<(SortKey, Message)>, usize) {
    let mut rng = Rng::new(17);
    let vocab = vocabulary(&mut rng, 20_000);
    // Cumulative Zipf weights (exponent 1).
    let mut cumulative = Vec::with_capacity(vocab.len());
    let mut total = 0.0;
    for rank in 1..=vocab.len() {
        total += 1.0 / rank as f64;
        cumulative.push(total);
    }
    let mut seq = [0u64; 5];
    let mut common = 0;
    let out = (0..n)
        .map(|i| {
            let user = rng.below(USERS.len() as u64) as usize;
            seq[user] += 1;
            let target = 40 + rng.below(41) as usize;
            let mut text = corpus::text(&mut rng, target);
            for _ in 0..1 + rng.below(2) {
                let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
                let word = &vocab[cumulative.partition_point(|&c| c < x).min(vocab.len() - 1)];
                text = format!("{text} {word}");
            }
            if i % (n / 20).max(1) == n / 40 {
                text = format!("{text} {RARE}");
            }
            if text
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w.to_lowercase().starts_with(COMMON))
            {
                common += 1;
            }
            let wall = 1_780_000_000_000 + i * 30_000 + rng.below(20_000);
            let id = MessageId(rng.bytes16());
            let key = SortKey::Native {
                hlc: Hlc::new(wall, 0),
                writer: WriterId([user as u8 + 1; 16]),
                seq: seq[user],
                id,
            };
            let mut m = Message::new(id, USERS[user], text, Codec::Native);
            m.timestamp_ms = Some(wall);
            (key, m)
        })
        .collect();
    (out, common)
}

fn file_size(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(path) + size(Path::new(&wal))
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// What the room part measured.
struct RoomRuns {
    /// Seconds for the first sync of the reading room (reads and stores everything).
    first_sync_s: f64,
    /// `Room::open` + `history(None, 50)` with the network down, per run.
    reopen_ms: Vec<f64>,
    /// `Room::open` alone, per run.
    open_ms: Vec<f64>,
    /// `Room::search` of the common word, first 50, per run.
    search_ms: Vec<f64>,
    /// How many sends queued without a sync, and the times of each (saved in the
    /// store with its outbox row before it returns).
    sends: usize,
    send_ms: Vec<f64>,
}

/// A room of `all`'s texts; a reader with a state folder in `dir` reads it once, then is
/// reopened `runs` times with the network down.
fn room_runs(all: &[(SortKey, Message)], runs: usize, dir: &Path) -> RoomRuns {
    const PW: &str = "bench password";
    let config =
        |who: &str| RoomConfig::native("rooms/lobby", who, PW).with_native_iterations(1_000);
    let server = MemoryTransport::new();
    let t: Arc<dyn Transport> = Arc::new(server.clone());
    let writer = Room::open(t.clone(), config("alice")).expect("open the writer");
    for (_, m) in all {
        writer.send(&m.text).expect("send");
    }
    writer.sync().expect("deliver");
    let state = dir.join("room-state");
    let _ = std::fs::remove_dir_all(&state);
    let reader = Room::open(t.clone(), config("bob").with_state_dir(&state)).expect("open");
    let start = Instant::now();
    let read = reader.sync().expect("first sync");
    let first_sync_s = start.elapsed().as_secs_f64();
    // The update carries the newest messages; the store holds every one.
    let left_out = read.messages_left_out();
    assert_eq!(read.messages.len() as u64 + left_out, all.len() as u64);
    reader.close().expect("close");
    drop(reader);

    let newest_text = &all[all.len() - 1].1.text;
    let (mut reopen_ms, mut open_ms, mut search_ms) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        // The network is down: the first calls of every operation fail as a dropped
        // connection does (the room makes at most a few at open).
        let down = FaultyTransport::new(server.clone());
        for op in Op::ALL {
            for nth in 1..=8 {
                down.fail_nth(op, nth, TransportErrorKind::Transient);
            }
        }
        let down = Arc::new(down);
        let t = Instant::now();
        let room =
            Room::open(down.clone(), config("bob").with_state_dir(&state)).expect("reopen offline");
        open_ms.push(ms_since(t));
        let newest = room.history(None, 50).expect("history");
        reopen_ms.push(ms_since(t));
        assert_eq!(newest.len(), 50);
        assert_eq!(&newest[49].text, newest_text, "the newest message last");
        let t = Instant::now();
        let hits = room.search(COMMON, None, 50).expect("search");
        search_ms.push(ms_since(t));
        assert!(!hits.is_empty());
        assert_eq!(
            down.faults_injected(),
            1,
            "only the header read met the network"
        );
        drop(room);
    }
    // Sends without a sync (as offline): the outbox grows by one each time. A send makes
    // no request; it saves before it returns, and its cost must not grow with the outbox
    // (the last sends against the first, same run).
    let room = Room::open(t.clone(), config("bob").with_state_dir(&state)).expect("open");
    let sends = all.len().min(2_000);
    let send_ms: Vec<f64> = all[..sends]
        .iter()
        .map(|(_, m)| {
            let t = Instant::now();
            room.send(&m.text).expect("send");
            ms_since(t)
        })
        .collect();
    assert_eq!(room.outbox_len(), sends);
    RoomRuns {
        first_sync_s,
        reopen_ms,
        open_ms,
        search_ms,
        sends,
        send_ms,
    }
}

fn main() {
    let args = Args::parse();
    let n = args
        .num("messages", if args.quick { 3_000 } else { 100_000 })
        .max(40);
    let runs = args.num("runs", if args.quick { 3 } else { 9 }).max(1) as usize;
    let batch = args.num("batch", 500).max(1) as usize;
    // The machine and its load before the fill (other builds may be running).
    let machine_before = machine();
    // `--dir`: keep the stores there (to inspect them), instead of a temporary folder.
    let temp = tempfile::tempdir().expect("temporary folder");
    let dir = args.get("dir").map_or(temp.path(), Path::new);
    std::fs::create_dir_all(dir).expect("--dir");
    for name in ["ordered.sqlite", "backwards.sqlite"] {
        LocalStore::remove(dir.join(name)).expect("remove an old store");
    }
    let (all, common_count) = messages(n);

    // Fill in order, a sync's worth (`batch`) per call.
    let ordered = dir.join("ordered.sqlite");
    let start = Instant::now();
    let store = LocalStore::open(&ordered).expect("open");
    for chunk in all.chunks(batch) {
        store.put_messages(ROOM, chunk).expect("put");
    }
    store.close().expect("close");
    let fill_s = start.elapsed().as_secs_f64();
    let size = file_size(&ordered);

    // The same messages, the newest batch first (history read backwards).
    let backwards = dir.join("backwards.sqlite");
    let store = LocalStore::open(&backwards).expect("open");
    for chunk in all.chunks(batch).rev() {
        store.put_messages(ROOM, chunk).expect("put");
    }
    store.close().expect("close");

    let middle = all[all.len() / 2].1.id;
    let (mut open_ms, mut open_page_ms, mut middle_ms) = (vec![], vec![], vec![]);
    let (mut common_ms, mut rare_ms, mut backwards_ms) = (vec![], vec![], vec![]);
    let mut rare_found = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let store = LocalStore::open(&ordered).expect("open");
        open_ms.push(ms_since(t));
        let newest = store.page(ROOM, None, 50).expect("page");
        open_page_ms.push(ms_since(t));
        assert_eq!(newest.len(), 50);
        assert_eq!(
            newest[49].id,
            all[all.len() - 1].1.id,
            "the newest message last"
        );

        let t = Instant::now();
        let page = store.page(ROOM, Some(&middle), 50).expect("page");
        middle_ms.push(ms_since(t));
        assert_eq!(page.len(), 50);
        assert_eq!(page[49].id, all[all.len() / 2 - 1].1.id);

        let t = Instant::now();
        let hits = store.search(ROOM, COMMON, None, 50).expect("search");
        common_ms.push(ms_since(t));
        assert_eq!(hits.len(), 50.min(common_count));

        let t = Instant::now();
        let hits = store.search(ROOM, RARE, None, 50).expect("search");
        rare_ms.push(ms_since(t));
        rare_found = hits.len();
        assert!(hits
            .windows(2)
            .all(|w| w[0].timestamp_ms >= w[1].timestamp_ms));
        store.close().expect("close");

        let store = LocalStore::open(&backwards).expect("open");
        let t = Instant::now();
        let hits = store.search(ROOM, COMMON, None, 50).expect("search");
        backwards_ms.push(ms_since(t));
        assert_eq!(hits.len(), 50.min(common_count));
        store.close().expect("close");
    }

    // One message per call: one transaction, one fsync (synchronous = FULL).
    let store = LocalStore::open(&ordered).expect("open");
    let mut single_ms = Vec::new();
    for (key, m) in all.iter().take(if args.quick { 10 } else { 50 }) {
        let t = Instant::now();
        store
            .put_messages("ftp://chat.example:21/rooms/other", &[(*key, m.clone())])
            .expect("put");
        single_ms.push(ms_since(t));
    }
    // A whole-file check (SQLite's quick_check and the FTS5 integrity check).
    let t = Instant::now();
    store.check().expect("check");
    let check_ms = vec![ms_since(t)];
    store.close().expect("close");

    let room = room_runs(&all, runs, dir);

    let mut table = Table::new(&["call", "median", "min", "max", "target"]);
    let mut row = |name: &str, samples: &[f64], target: bool| {
        let s = summarize(samples);
        let verdict = match (target, s.median < TARGET_MS) {
            (false, _) => "-".to_owned(),
            (true, true) => format!("< {TARGET_MS} ms: met"),
            (true, false) => format!("< {TARGET_MS} ms: **missed**"),
        };
        table.row(vec![
            name.to_owned(),
            format!("**{}**", fmt_ms(s.median)),
            fmt_ms(s.min),
            fmt_ms(s.max),
            verdict,
        ]);
    };
    row("open the store + newest page of 50", &open_page_ms, true);
    row("(part) open the store alone", &open_ms, false);
    row("page back 50 from the middle", &middle_ms, true);
    row(
        &format!(
            "search `{COMMON}` (common: {} messages), first 50",
            thousands(common_count as u64)
        ),
        &common_ms,
        true,
    );
    row(
        &format!("search `{RARE}` (rare: {rare_found} messages), first 50"),
        &rare_ms,
        true,
    );
    row(
        &format!("search `{COMMON}`, history stored backwards (worst order)"),
        &backwards_ms,
        false,
    );
    row(
        "put one message (one transaction, one fsync)",
        &single_ms,
        false,
    );
    row("check the whole store (once)", &check_ms, false);
    row(
        "**Room**, network down: `Room::open` + `history(None, 50)`",
        &room.reopen_ms,
        true,
    );
    row(
        "(part) `Room::open` alone (PBKDF2 at 1,000 iterations)",
        &room.open_ms,
        false,
    );
    row(
        &format!("**Room**, network down: `search(\"{COMMON}\")`, first 50"),
        &room.search_ms,
        true,
    );

    let tenth = (room.sends / 10).max(1);
    let first = summarize(&room.send_ms[..tenth]).median;
    let last = summarize(&room.send_ms[room.sends - tenth..]).median;
    row(
        &format!(
            "**Room** `send`, first {tenth} of {} queued (outbox 0-{tenth})",
            room.sends
        ),
        &room.send_ms[..tenth],
        false,
    );
    row(
        &format!(
            "**Room** `send`, last {tenth} (outbox {}-{}): **{:.2}x** the first",
            room.sends - tenth,
            room.sends,
            last / first
        ),
        &room.send_ms[room.sends - tenth..],
        false,
    );

    let out = format!(
        "## Local store: {} messages in one room\n\n{machine_before}\nafter the runs: {}\n\n\
         fill: {} messages in calls of {batch}, in order: {:.2} s (**{} messages/s**); \
         file {} ({} bytes per message)\n\nRoom: the first sync of a reader with a state \
         folder (reads, decodes and stores all {} messages): {:.2} s\n\n{}\n{runs} runs; \
         each opens the store again (SQLite cache empty, OS file cache warm).\n",
        thousands(n),
        load(),
        thousands(n),
        fill_s,
        sig3(n as f64 / fill_s),
        fmt_bytes(size as f64),
        size / n,
        thousands(n),
        room.first_sync_s,
        table.markdown(),
    );
    emit(&args, &out);
}
