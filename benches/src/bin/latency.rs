//! Bench 3: end-to-end latency, from `send` on one client to the message reaching
//! another client's listener, over a loopback FTP server, with default settings.
//!
//! Each pair is two rooms (sender A, receiver B) with their own FTP connections, both
//! running `Room::watch` with the default `WatchOptions` (poll every 250 ms after activity,
//! doubling to 3 s when idle), as an app would. Scenarios:
//! - `idle`: messages 4-7 s apart, so the receiver has backed off to its idle interval;
//! - `conversation`: messages 0.5-2 s apart, the receiver still polling quickly;
//! - `floor`: no watcher; A sends and flushes, B syncs in a tight loop: the cost of the
//!   pipeline itself (delivery + one poll), without waiting for a poll.
//!
//! Several pairs run at once (each in its own room) to collect samples faster.
//!
//! `cargo run --release -p ftpchat-benches --bin latency [-- --quick] [--pairs 4]
//!  [--samples 30] [--scenarios idle,conversation,floor] [--layouts native,v16]`

#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ftpchat_benches::corpus::{self, Codec, RoomKeys};
use ftpchat_benches::server::FtpServer;
use ftpchat_benches::stats::{fmt_ms, summarize, Table};
use ftpchat_benches::{emit, machine, Args};
use ftpchat_core::Message;
use ftpchat_core::{RemotePath, Transport};
use ftpchat_core::{Room, RoomConfig, RoomListener, WatchOptions, WriteCodec};

/// Arrival times by message text.
#[derive(Default)]
struct Arrivals {
    seen: Mutex<HashMap<String, Instant>>,
    cv: Condvar,
}

impl Arrivals {
    fn record(&self, messages: &[Message]) {
        let now = Instant::now();
        let mut seen = self.seen.lock().expect("lock");
        for m in messages {
            seen.entry(m.text.clone()).or_insert(now);
        }
        self.cv.notify_all();
    }

    /// Waits until `text` has arrived (or `timeout`); its arrival time.
    fn wait(&self, text: &str, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut seen = self.seen.lock().expect("lock");
        loop {
            if let Some(t) = seen.get(text) {
                return Some(*t);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            seen = self.cv.wait_timeout(seen, left).expect("lock").0;
        }
    }
}

struct Listener(Arc<Arrivals>);

impl RoomListener for Listener {
    fn on_messages(&self, messages: &[Message]) {
        self.0.record(messages);
    }
}

struct Quiet;

impl RoomListener for Quiet {
    fn on_messages(&self, _: &[Message]) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Native,
    Shared16,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Native => "native room",
            Layout::Shared16 => "shared file, FTPChat 1.6",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Layout::Native => "native",
            Layout::Shared16 => "v16",
        }
    }
}

fn path(p: &str) -> RemotePath {
    RemotePath::new(p).expect("path")
}

/// Creates the room folder `sub` with 1,000 messages of history; returns the two configs.
fn setup(
    server: &FtpServer,
    sub: &str,
    layout: Layout,
    keys: &RoomKeys,
) -> (RoomConfig, RoomConfig) {
    let t = server.transport(sub).expect("transport");
    match layout {
        Layout::Native => {
            t.make_dir(&path("room")).expect("mkdir");
            t.make_dir(&path("room/logs")).expect("mkdir");
            t.write_atomic(
                &path("room/room.ftpchat"),
                keys.header(1_795_000_000).as_bytes(),
            )
            .expect("header");
            for (name, bytes) in corpus::native_logs(1_000, 2, 5, keys) {
                t.write_atomic(&path(&format!("room/logs/{name}")), &bytes)
                    .expect("log");
            }
        }
        Layout::Shared16 => {
            let file = corpus::file_of(&corpus::lines(Codec::Fernet16, 1_000, 5, keys));
            t.write_atomic(&path("chat.txt"), &file).expect("upload");
        }
    }
    t.disconnect();
    let config = |name: &str| match layout {
        Layout::Native => RoomConfig::native("room", name, "unused").with_key(keys.native.clone()),
        Layout::Shared16 => RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, name)
            .with_key(keys.fernet.clone()),
    };
    (config("alice"), config("bob"))
}

/// One pair's samples (milliseconds) for a scenario.
fn run_pair(
    server: &FtpServer,
    sub: &str,
    layout: Layout,
    keys: &RoomKeys,
    scenario: &str,
    samples: usize,
    seed: u64,
) -> Vec<f64> {
    let (ca, cb) = setup(server, sub, layout, keys);
    let a = Room::open(Arc::new(server.open(sub).expect("transport")), ca).expect("open A");
    let b = Room::open(Arc::new(server.open(sub).expect("transport")), cb).expect("open B");
    // Both have the history before the clock starts.
    a.sync().expect("sync A");
    b.sync().expect("sync B");
    let arrivals = Arc::new(Arrivals::default());
    let mut rng = corpus::Rng::new(seed);
    let mut out = Vec::with_capacity(samples);
    let texts = corpus::texts(samples, seed);
    let (gap_min, gap_max) = match scenario {
        "idle" => (4_000, 7_000),
        "conversation" => (500, 2_000),
        _ => (50, 150),
    };
    if scenario == "floor" {
        // B polls in a tight loop (bounded by a deadline) on its own thread.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let poller = {
            let (b, arrivals, stop) = (b.clone(), arrivals.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(600);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
                    if let Ok(u) = b.sync() {
                        arrivals.record(&u.messages);
                    }
                }
            })
        };
        for (i, t) in texts.iter().enumerate() {
            std::thread::sleep(Duration::from_millis(
                gap_min + rng.below(gap_max - gap_min),
            ));
            let text = format!("{i} {t}");
            let t0 = Instant::now();
            a.send(&text).expect("send");
            a.flush().expect("flush");
            let got = arrivals
                .wait(&text, Duration::from_secs(30))
                .expect("arrived");
            out.push(got.duration_since(t0).as_secs_f64() * 1000.0);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = poller.join();
        return out;
    }
    let wa = a.watch(Arc::new(Quiet), WatchOptions::default());
    let wb = b.watch(
        Arc::new(Listener(arrivals.clone())),
        WatchOptions::default(),
    );
    // Let B's watcher reach its idle interval before the first message.
    std::thread::sleep(Duration::from_millis(gap_min));
    let mut sent = Vec::with_capacity(samples);
    for (i, t) in texts.iter().enumerate() {
        let text = format!("{i} {t}");
        sent.push((text.clone(), Instant::now()));
        a.send(&text).expect("send");
        std::thread::sleep(Duration::from_millis(
            gap_min + rng.below(gap_max - gap_min),
        ));
    }
    for (text, t0) in sent {
        let got = arrivals
            .wait(&text, Duration::from_secs(60))
            .expect("message arrived within 60 s");
        out.push(got.duration_since(t0).as_secs_f64() * 1000.0);
    }
    wa.stop();
    wb.stop();
    out
}

fn main() {
    let args = Args::parse();
    let quick = args.quick;
    let pairs = args.num("pairs", if quick { 1 } else { 4 }) as usize;
    let samples = args.num("samples", if quick { 2 } else { 30 }) as usize;
    let scenarios: Vec<String> = args
        .get("scenarios")
        .unwrap_or(if quick {
            "conversation,floor"
        } else {
            "idle,conversation,floor"
        })
        .split(',')
        .map(str::to_owned)
        .collect();
    let layouts: Vec<Layout> = args
        .get("layouts")
        .unwrap_or("native,v16")
        .split(',')
        .filter_map(|l| match l {
            "native" => Some(Layout::Native),
            "v16" => Some(Layout::Shared16),
            _ => None,
        })
        .collect();
    let server = FtpServer::start(&args.server).unwrap_or_else(|e| {
        eprintln!("latency: no FTP server: {e}");
        std::process::exit(1)
    });
    let keys = RoomKeys::fixed(4);

    let mut t = Table::new(&[
        "layout", "scenario", "samples", "median", "p90", "p99", "max", "min",
    ]);
    for &layout in &layouts {
        for scenario in &scenarios {
            let floor = scenario == "floor";
            let per_pair = if floor { samples * 3 } else { samples };
            eprintln!(
                "latency: {} / {scenario}: {pairs} pairs x {per_pair} messages",
                layout.name()
            );
            let all: Vec<f64> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..pairs)
                    .map(|p| {
                        let (server, keys) = (&server, &keys);
                        let sub = format!("lat-{scenario}-{}-{p}", layout.tag());
                        s.spawn(move || {
                            run_pair(
                                server,
                                &sub,
                                layout,
                                keys,
                                scenario,
                                per_pair,
                                77 + p as u64,
                            )
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("pair thread"))
                    .collect()
            });
            let sum = summarize(&all);
            t.row(vec![
                layout.name().into(),
                scenario.clone(),
                sum.n.to_string(),
                fmt_ms(sum.median),
                fmt_ms(sum.p90),
                fmt_ms(sum.p99),
                fmt_ms(sum.max),
                fmt_ms(sum.min),
            ]);
        }
    }
    let mut out = format!(
        "### Bench 3: end-to-end latency, send → shown on another client ({}; server: {})\n\nMachine: {}\n\n\
         Default `WatchOptions` (250 ms after activity, doubling to 3 s when idle) on both clients; \
         {pairs} sender/receiver pairs at once, each pair in its own room with 1,000 messages of history. \
         `idle`: messages 4-7 s apart; `conversation`: 0.5-2 s apart; `floor`: receiver polls in a tight loop \
         (pipeline cost only).\n\n",
        if quick { "quick smoke run" } else { "full run" },
        server.name(),
        machine()
    );
    out.push_str(&t.markdown());
    out.push('\n');
    emit(&args, &out);
}
