//! Bench 3: end-to-end latency, from `send` on one client to the message reaching
//! another client's listener, over a loopback FTP server, with default settings.
//!
//! Each pair is two rooms (sender A, receiver B) with their own FTP connections, both
//! running `Room::watch` as an app would, with one of two watch settings (`--modes`):
//! - `after`: the default `WatchOptions` (checks of the doorbell, SPEC §9.2.1, every
//!   ~1 s when idle, a full poll about every minute; 250 ms after activity);
//! - `before`: what the defaults were before the doorbell: full polls, 250 ms after
//!   activity doubling to 3 s (`WatchOptions::new(250 ms, 3 s).with_doorbell(false)`).
//!
//! Scenarios:
//! - `idle`: messages 4-7 s apart, so the receiver has backed off to its idle interval;
//! - `conversation`: messages 0.5-2 s apart, the receiver still polling quickly;
//! - `floor`: no watcher; A sends and flushes, B syncs in a tight loop: the cost of the
//!   pipeline itself (delivery + one poll), without waiting for a poll;
//! - `cost`: after one message sent and read (so a native room has its doorbell), nobody
//!   sends for `--idle-secs` (120 s): the FTP commands each idle client
//!   (both watchers of every pair) sends per second, counted per client by a counting
//!   transport (`counting.rs`'s command table) and, on the private vsftpd, in total from
//!   its command log.
//!
//! Layouts (`--layouts`): `native` (password room), `member` (member room, presence on,
//! the default), `v16` (a FTPChat 1.6 shared file). Every layout and mode of a scenario
//! runs at once (several pairs each, each pair in its own room), so all of them meet the
//! same load.
//!
//! `cargo run --release -p ftpchat-benches --bin latency [-- --quick] [--pairs 2]
//!  [--samples 45] [--scenarios idle,conversation,cost,floor] [--layouts native,member,v16]
//!  [--modes before,after] [--idle-secs 120]`

#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ftpchat_benches::corpus::{self, Codec, RoomKeys};
use ftpchat_benches::counting::CountingTransport;
use ftpchat_benches::server::FtpServer;
use ftpchat_benches::stats::{fmt_ms, summarize, Table};
use ftpchat_benches::{emit, machine, Args};
use ftpchat_core::Message;
use ftpchat_core::{DeviceIdentity, FtpTransport, Role};
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
    fn on_error(&self, error: &ftpchat_core::RoomError) {
        eprintln!("latency: receiver: {error}");
    }
}

struct Quiet;

impl RoomListener for Quiet {
    fn on_messages(&self, _: &[Message]) {}
    fn on_error(&self, error: &ftpchat_core::RoomError) {
        eprintln!("latency: sender: {error}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Native,
    Member,
    Shared16,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Native => "native password room",
            Layout::Member => "member room (presence on)",
            Layout::Shared16 => "shared file, FTPChat 1.6",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Layout::Native => "native",
            Layout::Member => "member",
            Layout::Shared16 => "v16",
        }
    }
}

/// The watch settings a pair runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The defaults before the doorbell.
    Before,
    /// Today's defaults.
    After,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Before => "before (full polls, 3 s)",
            Mode::After => "after (doorbell, 1 s)",
        }
    }

    fn options(self) -> WatchOptions {
        match self {
            Mode::Before => WatchOptions::new(Duration::from_millis(250), Duration::from_secs(3))
                .with_doorbell(false),
            Mode::After => WatchOptions::default(),
        }
    }
}

type Counted = Arc<CountingTransport<FtpTransport>>;

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
        Layout::Member => {
            t.disconnect();
            // A third device creates the room and writes the history (a device that
            // reopened its room without its saved state would fork its own chain).
            let [idh, ida, idb] = [(); 3].map(|_| Arc::new(DeviceIdentity::generate()));
            let config = |name: &str, id: &Arc<DeviceIdentity>| {
                RoomConfig::member_room("room", name, id.clone())
            };
            let admin = Room::open(
                Arc::new(server.open(sub).expect("open")),
                config("carol", &idh),
            )
            .expect("create");
            for id in [&ida, &idb] {
                admin
                    .add_member(id.public(), Role::Member, false)
                    .expect("add");
            }
            for text in corpus::texts(1_000, 5) {
                admin.send(&text).expect("send");
            }
            admin.sync().expect("history");
            admin.close().expect("close");
            return (config("alice", &ida), config("bob", &idb));
        }
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
        Layout::Native | Layout::Member => {
            RoomConfig::native("room", name, "unused").with_key(keys.native.clone())
        }
        Layout::Shared16 => RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, name)
            .with_key(keys.fernet.clone()),
    };
    (config("alice"), config("bob"))
}

/// What one pair measured.
#[derive(Default)]
struct PairResult {
    /// Latencies (milliseconds).
    samples: Vec<f64>,
    /// `cost`: estimated FTP commands each client sent while idle.
    commands: Vec<u64>,
}

/// One pair's samples (milliseconds) for a scenario.
#[allow(clippy::too_many_arguments)]
fn run_pair(
    server: &FtpServer,
    sub: &str,
    layout: Layout,
    mode: Mode,
    keys: &RoomKeys,
    scenario: &str,
    samples: usize,
    seed: u64,
    idle: &IdleWindow,
) -> PairResult {
    let (ca, cb) = setup(server, sub, layout, keys);
    let (ta, tb): (Counted, Counted) = (
        Arc::new(CountingTransport::new(server.open(sub).expect("transport"))),
        Arc::new(CountingTransport::new(server.open(sub).expect("transport"))),
    );
    let a = Room::open(ta.clone(), ca).expect("open A");
    let b = Room::open(tb.clone(), cb).expect("open B");
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
        return PairResult {
            samples: out,
            commands: Vec::new(),
        };
    }
    if scenario == "cost" {
        // A room where people talk: one message sent and read (in a native room its
        // delivery rings the doorbell, which the history written here did not).
        a.send("hello").expect("send");
        a.sync().expect("sync A");
        b.sync().expect("sync B");
    }
    let wa = a.watch(Arc::new(Quiet), mode.options());
    let wb = b.watch(Arc::new(Listener(arrivals.clone())), mode.options());
    if scenario == "cost" {
        // Everyone reaches the idle interval, then the window opens for all pairs at once.
        let (before_a, before_b) = idle.wait_open(|| (ta.counts(), tb.counts()));
        let (after_a, after_b) = idle.wait_closed(|| (ta.counts(), tb.counts()));
        wa.stop();
        wb.stop();
        return PairResult {
            samples: Vec::new(),
            commands: vec![
                after_a.since(&before_a).ftp_commands_estimate(),
                after_b.since(&before_b).ftp_commands_estimate(),
            ],
        };
    }
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
    PairResult {
        samples: out,
        commands: Vec::new(),
    }
}

/// The `cost` scenario's common idle window: it opens `warmup` after every pair is
/// watching, and every pair takes its counters when it opens and when it closes.
struct IdleWindow {
    warmup: Duration,
    length: Duration,
    ready: std::sync::Barrier,
    start: Mutex<Option<Instant>>,
}

impl IdleWindow {
    fn new(pairs: usize, warmup: Duration, length: Duration) -> Self {
        IdleWindow {
            warmup,
            length,
            ready: std::sync::Barrier::new(pairs.max(1)),
            start: Mutex::new(None),
        }
    }

    fn opens_at(&self) -> Instant {
        self.start.lock().expect("lock").expect("the window is set")
    }

    fn wait_open<T>(&self, take: impl FnOnce() -> T) -> T {
        if self.ready.wait().is_leader() {
            *self.start.lock().expect("lock") = Some(Instant::now() + self.warmup);
        }
        self.ready.wait();
        let at = self.opens_at();
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        take()
    }

    fn wait_closed<T>(&self, take: impl FnOnce() -> T) -> T {
        let at = self.opens_at() + self.length;
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        take()
    }
}

fn main() {
    let args = Args::parse();
    let quick = args.quick;
    let pairs = args.num("pairs", if quick { 1 } else { 2 }) as usize;
    let samples = args.num("samples", if quick { 2 } else { 45 }) as usize;
    let idle_secs = args.num("idle-secs", if quick { 3 } else { 120 });
    let list = |name: &str, default: &str| -> Vec<String> {
        args.get(name)
            .unwrap_or(default)
            .split(',')
            .map(str::to_owned)
            .collect()
    };
    let scenarios = list(
        "scenarios",
        if quick {
            "conversation,cost,floor"
        } else {
            "idle,conversation,cost,floor"
        },
    );
    let layouts: Vec<Layout> = list("layouts", "native,member,v16")
        .iter()
        .filter_map(|l| match l.as_str() {
            "native" => Some(Layout::Native),
            "member" => Some(Layout::Member),
            "v16" => Some(Layout::Shared16),
            _ => None,
        })
        .collect();
    let modes: Vec<Mode> = list("modes", "before,after")
        .iter()
        .filter_map(|m| match m.as_str() {
            "before" => Some(Mode::Before),
            "after" => Some(Mode::After),
            _ => None,
        })
        .collect();
    let server = FtpServer::start(&args.server).unwrap_or_else(|e| {
        eprintln!("latency: no FTP server: {e}");
        std::process::exit(1)
    });
    let keys = RoomKeys::fixed(4);

    let mut t = Table::new(&[
        "layout", "watch", "scenario", "samples", "median", "p90", "p99", "max", "min",
    ]);
    let mut cost = Table::new(&[
        "layout",
        "watch",
        "idle clients",
        "commands/s per client (mean)",
        "max of one client",
    ]);
    let mut cost_total = String::new();
    for scenario in &scenarios {
        let floor = scenario == "floor";
        let per_pair = if floor { samples * 3 } else { samples };
        // The floor has no watcher: one mode is enough.
        let combos: Vec<(Layout, Mode)> = layouts
            .iter()
            .flat_map(|&l| {
                let modes = if floor {
                    &modes[modes.len() - 1..]
                } else {
                    &modes[..]
                };
                modes.iter().map(move |&m| (l, m))
            })
            .collect();
        eprintln!(
            "latency: {scenario}: {} layouts x modes, {pairs} pairs each x {per_pair} messages",
            combos.len()
        );
        let idle = IdleWindow::new(
            combos.len() * pairs,
            Duration::from_secs(if quick { 2 } else { 15 }),
            Duration::from_secs(idle_secs),
        );
        let mark = server.log_mark();
        let results: Vec<((Layout, Mode), PairResult)> = std::thread::scope(|s| {
            let handles: Vec<_> = combos
                .iter()
                .flat_map(|&(layout, mode)| (0..pairs).map(move |p| (layout, mode, p)))
                .map(|(layout, mode, p)| {
                    let (server, keys, idle) = (&server, &keys, &idle);
                    let sub = format!("lat-{scenario}-{}-{mode:?}-{p}", layout.tag());
                    s.spawn(move || {
                        let r = run_pair(
                            server,
                            &sub,
                            layout,
                            mode,
                            keys,
                            scenario,
                            per_pair,
                            77 + p as u64,
                            idle,
                        );
                        ((layout, mode), r)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("pair thread"))
                .collect()
        });
        if scenario == "cost" {
            let mut all = 0;
            for combo in &combos {
                let per_client: Vec<f64> = results
                    .iter()
                    .filter(|(c, _)| c == combo)
                    .flat_map(|(_, r)| r.commands.iter())
                    .map(|&c| c as f64 / idle_secs as f64)
                    .collect();
                all += per_client.len();
                let mean = per_client.iter().sum::<f64>() / per_client.len().max(1) as f64;
                let max = per_client.iter().copied().fold(0.0, f64::max);
                cost.row(vec![
                    combo.0.name().into(),
                    combo.1.name().into(),
                    per_client.len().to_string(),
                    format!("{mean:.3}"),
                    format!("{max:.3}"),
                ]);
            }
            if let Some(total) = server.commands_since(mark) {
                // The log also holds the set-up and the warm-up before the window.
                cost_total = format!(
                    "\nThe server's command log counted {total} commands for the whole scenario \
                     ({all} clients, set-up and {}-s warm-up included).\n",
                    if quick { 2 } else { 15 }
                );
            }
            continue;
        }
        for combo in &combos {
            let all: Vec<f64> = results
                .iter()
                .filter(|(c, _)| c == combo)
                .flat_map(|(_, r)| r.samples.iter().copied())
                .collect();
            let sum = summarize(&all);
            t.row(vec![
                combo.0.name().into(),
                if floor {
                    "-".into()
                } else {
                    combo.1.name().into()
                },
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
         Watch settings: `after` = default `WatchOptions` (doorbell checks every ~1 s when idle, a full poll \
         about every minute, 250 ms after activity); `before` = full polls, 250 ms doubling to 3 s (the \
         defaults before the doorbell). {pairs} sender/receiver pairs per layout and setting, all at once, \
         each pair in its own room with 1,000 messages of history. `idle`: messages 4-7 s apart; \
         `conversation`: 0.5-2 s apart; `floor`: receiver polls in a tight loop (pipeline cost only); \
         `cost`: nobody sends for {idle_secs} s.\n\n",
        if quick { "quick smoke run" } else { "full run" },
        server.name(),
        machine()
    );
    out.push_str(&t.markdown());
    if scenarios.iter().any(|s| s == "cost") {
        out.push_str(&format!(
            "\nFTP commands per second per idle client ({idle_secs} s, both clients of each pair; \
             counted per client by call, see `counting.rs`):\n\n"
        ));
        out.push_str(&cost.markdown());
        out.push_str(&cost_total);
    }
    out.push('\n');
    emit(&args, &out);
}
