//! Attachments (issue 16, SPEC §8.4.3): sending and receiving a large file (1 GiB by
//! default) with `Room::send_file_with` / `Room::save_attachment_with`, against a raw FTP
//! transfer of the same file to the same server in the same run, through the same
//! `FtpTransport` type. One process per transfer (this binary with `--child MODE`):
//!
//! - `raw-up`: `Transport::append_from` of the plaintext file (one `APPE`);
//! - `att-up`: `Room::send_file_with` (64 KiB chunks read, hashed and sealed with
//!   ChaCha20-Poly1305 STREAM as they are sent, one `APPE`), timed to its return; the
//!   record is flushed after the clock stops;
//! - `raw-down`: `Transport::read_from` (one `RETR`) into a new local file;
//! - `att-down`: `Room::save_attachment_with` (`RETR` streamed, each chunk opened and
//!   appended to a partial file, SHA-256 checked, `fsync`, rename), timed to its return;
//! - for information, `raw-down-file` (the raw download written in 256 KiB writes, then
//!   `fsync`): what the attachment download does to the local file, without the crypto.
//!
//! Peak RSS is each child's `VmHWM` (`/proc/self/status`), so it is that transfer's alone;
//! the FTP server is another process (a private vsftpd by default), so its memory is not
//! counted. Each round runs every transfer once, the raw one and the attachment one of
//! each direction alternating which goes first; before each, the previous download is
//! deleted, `sync` (the command) flushes dirty pages and the harness waits 3 s, so every
//! transfer starts from the same state. Ratios compare the transfers of one round; the
//! table gives medians over the rounds.
//!
//! With `--link RATE` (`1gbit`, `2500mbit`, ...; root and iproute2) the private vsftpd and
//! the transfers run in two network namespaces joined by a veth pair shaped to that rate
//! ([`ftpchat_benches::link`]): a LAN-like link instead of loopback, for both the raw and
//! the attachment transfers. The harness re-runs itself in the client's namespace.
//!
//! `cargo run --release -p ftpchat-benches --bin attachments [-- --quick] [--mib 1024]
//!  [--rounds 3] [--modes raw-up,att-up,...] [--pause-ms 3000]
//!  [--server vsftpd|pyftpdlib|url:URL] [--link RATE] [--out FILE]`

#![allow(clippy::expect_used)]

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpchat_benches::link::{self, ShapedLink};
use ftpchat_benches::server::{remove_tree, FtpServer, ServerKind};
use ftpchat_benches::stats::{fmt_bytes, fmt_ratio, sig3, summarize, Table};
use ftpchat_benches::{emit, load, machine, rss, Args};
use ftpchat_core::{
    FtpConfigBuilder, FtpTransport, RemotePath, Room, RoomConfig, Transfer, Transport,
    TransportErrorKind,
};
use serde_json::{json, Value};

/// Counts peak heap bytes (what a transfer holds, as opposed to RSS, which also counts
/// the binary, the libraries and the allocator's kept pages).
#[global_allocator]
static GLOBAL: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

const PASSWORD: &str = "attachment bench password";
const ROOM: &str = "room";
const RAW: &str = "raw";
/// Buffer size of the source file's writer.
const CHUNK: usize = 64 * 1024;
/// The write size of `raw-down-file`: the attachment download's write buffer
/// (`WRITE_BUFFER` in `ftpchat-core/src/room/attach.rs`).
const FILE_WRITE: usize = 256 * 1024;

/// One kind of transfer: its mode, its row in the table, and the mode it is compared with.
struct Mode {
    name: &'static str,
    label: &'static str,
    against: Option<usize>,
}

const MODES: [Mode; 5] = [
    Mode {
        name: "raw-up",
        label: "raw upload: `append_from` of the plaintext file (one `APPE`)",
        against: None,
    },
    Mode {
        name: "att-up",
        label: "attachment upload: `Room::send_file_with`",
        against: Some(0),
    },
    Mode {
        name: "raw-down",
        label: "raw download: `read_from` into a new file (one `RETR`)",
        against: None,
    },
    Mode {
        name: "att-down",
        label: "attachment download: `Room::save_attachment_with`",
        against: Some(2),
    },
    Mode {
        name: "raw-down-file",
        label: "(information) raw download in 256 KiB writes, then `fsync`: the attachment \
                download's file work without the crypto",
        against: None,
    },
];

fn path(p: &str) -> RemotePath {
    RemotePath::new(p).expect("path")
}

/// A transport on the bench folder, with timeouts generous enough for 1 GiB.
fn transport(url: &str) -> FtpTransport {
    FtpTransport::new(
        FtpConfigBuilder::from_url(url)
            .expect("url")
            .connect_timeout(Duration::from_secs(10))
            .io_timeout(Duration::from_secs(300))
            .build()
            .expect("config"),
    )
}

fn room_config(who: &str) -> RoomConfig {
    RoomConfig::native(ROOM, who, PASSWORD)
        .with_native_iterations(1_000)
        .with_max_attachment_size(u64::MAX)
}

/// Writes `len` pseudo-random (incompressible) bytes to `path`.
fn make_file(path: &Path, len: u64) {
    let mut out = BufWriter::with_capacity(CHUNK, File::create(path).expect("create"));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        for w in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n]).expect("write");
        left -= n as u64;
    }
    out.into_inner()
        .expect("flush")
        .sync_all()
        .expect("sync source");
}

/// CPU seconds this process used so far, `(user, system)`, from `/proc/self/stat`
/// (clock ticks of 1/100 s).
fn cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (which may hold spaces) ends with `)`; utime and stime are fields
    // 14 and 15 of the line, 12 and 13 after the name.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

/// A sink that writes to its file in whole `FILE_WRITE` writes (the last one shorter).
struct Chunked {
    file: File,
    buf: Vec<u8>,
}

impl Write for Chunked {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(FILE_WRITE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == FILE_WRITE {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

// --- child side ---------------------------------------------------------------------------

fn child(mode: &str, args: &Args) {
    let url = args.get("url").unwrap_or_default().to_owned();
    let dir = PathBuf::from(args.get("dir").unwrap_or("."));
    let round = args.num("round", 0);
    let caption = format!("round {round}");
    let source = dir.join("source.bin");
    let raw_name = format!("{RAW}/round-{round}.bin");
    let mut secs = 0.0;
    let mut bytes = 0u64;
    match mode {
        "baseline" => {}
        "raw-up" => {
            let t = transport(&url);
            let mut file = File::open(&source).expect("source");
            let start = Instant::now();
            bytes = t
                .append_from(&path(&raw_name), &mut file)
                .expect("raw upload");
            secs = start.elapsed().as_secs_f64();
            let stored = t.size(&path(&raw_name)).expect("size");
            assert_eq!(stored, Some(bytes), "the server holds the whole file");
        }
        "att-up" => {
            let t: Arc<dyn Transport> = Arc::new(transport(&url));
            let room = Room::open(t, room_config("sender")).expect("open");
            let start = Instant::now();
            room.send_file_with(&source, &caption, &Transfer::new())
                .expect("send_file");
            secs = start.elapsed().as_secs_f64();
            bytes = std::fs::metadata(&source).expect("source").len();
            room.flush().expect("flush");
            room.close().expect("close");
        }
        "raw-down" | "raw-down-file" => {
            let t = transport(&url);
            let target = dir.join("raw-down.bin");
            let mut file = File::create(&target).expect("target");
            let start = Instant::now();
            if mode == "raw-down-file" {
                let mut sink = Chunked {
                    file,
                    buf: Vec::with_capacity(FILE_WRITE),
                };
                bytes = t
                    .read_from(&path(&raw_name), 0, &mut sink)
                    .expect("raw download");
                sink.flush().expect("write");
                file = sink.file;
                file.sync_all().expect("fsync");
            } else {
                bytes = t
                    .read_from(&path(&raw_name), 0, &mut file)
                    .expect("raw download");
            }
            secs = start.elapsed().as_secs_f64();
            drop(file);
            assert_eq!(std::fs::metadata(&target).expect("target").len(), bytes);
        }
        "att-down" => {
            let t: Arc<dyn Transport> = Arc::new(transport(&url));
            let room = Room::open(t, room_config("receiver")).expect("open");
            let update = room.sync().expect("sync");
            let id = update
                .messages
                .iter()
                .find(|m| m.text == caption && m.attachment.is_some())
                .map(|m| m.id)
                .expect("the round's attachment");
            drop(update);
            let target = dir.join("att-down.bin");
            let start = Instant::now();
            room.save_attachment_with(&id, &target, &Transfer::new())
                .expect("save_attachment");
            secs = start.elapsed().as_secs_f64();
            bytes = std::fs::metadata(&target).expect("target").len();
            room.close().expect("close");
        }
        other => panic!("unknown child mode {other}"),
    }
    let (hwm, _) = rss();
    let (user, system) = cpu_secs();
    println!(
        "{}",
        json!({
            "mode": mode, "secs": secs, "bytes": bytes, "hwm": hwm,
            "heap_peak": GLOBAL.peak_usage(), "cpu_user": user, "cpu_sys": system,
        })
    );
}

// --- parent side --------------------------------------------------------------------------

fn spawn_child(mode: &str, url: &str, dir: &Path, round: u64) -> Value {
    let round = round.to_string();
    let args: [&OsStr; 6] = [
        "--url".as_ref(),
        url.as_ref(),
        "--round".as_ref(),
        round.as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
    ];
    ftpchat_benches::run_child(mode, args)
}

/// Before a measurement: removes the downloaded files (every download writes a new file),
/// flushes dirty pages (the previous transfer's writes) and waits, so each transfer starts
/// from the same state of the page cache and the disk. The quick run only removes.
fn settle(dir: &Path, quick: bool, pause: Duration) {
    let _ = std::fs::remove_file(dir.join("raw-down.bin"));
    let _ = std::fs::remove_file(dir.join("att-down.bin"));
    if !quick {
        let _ = Command::new("sync").status();
    }
    std::thread::sleep(pause);
}

/// The 1-minute load average.
fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Removes what a round left on the server: its raw file and the blobs.
fn clean_round(t: &FtpTransport, round: u64) {
    let _ = t.remove_file(&path(&format!("{RAW}/round-{round}.bin")));
    let files = path(&format!("{ROOM}/files"));
    if let Ok(entries) = t.list(&files) {
        for e in entries.into_iter().filter(|e| !e.is_dir) {
            let _ = t.remove_file(&files.join(&e.name).expect("name"));
        }
    }
}

/// Bytes in MiB (the unit of the 32 MiB target): `5.9 MiB`.
fn fmt_mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1_048_576.0)
}

#[derive(Default)]
struct Samples {
    rate: Vec<f64>,
    ratio: Vec<f64>,
    hwm: Vec<u64>,
    heap: Vec<u64>,
    cpu_user: Vec<f64>,
    cpu_sys: Vec<f64>,
}

/// The order of the modes in round `round`: each pair (raw, attachment) alternates which
/// goes first.
fn order(round: u64) -> [usize; 5] {
    if round.is_multiple_of(2) {
        [0, 1, 2, 3, 4]
    } else {
        [1, 0, 3, 2, 4]
    }
}

/// `--link RATE`: makes the shaped link, runs this harness again (same arguments) in the
/// client's namespace with the server's namespace named, and returns its exit code.
fn run_over_link(rate: &str) -> i32 {
    let shaped = ShapedLink::new(rate).unwrap_or_else(|e| {
        eprintln!("attachments: --link {rate}: {e}");
        std::process::exit(1)
    });
    eprintln!(
        "attachments: link of {} between {} and {}",
        shaped.rate(),
        shaped.server_ns(),
        shaped.client_ns()
    );
    let exe = std::env::current_exe().expect("current exe");
    let status = Command::new("ip")
        .args(["netns", "exec", shaped.client_ns()])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .args(["--in-link", shaped.server_ns()])
        .status()
        .expect("run the harness in the client namespace");
    status.code().unwrap_or(1)
}

fn main() {
    let args = Args::parse();
    if let Some(mode) = args.get("child") {
        child(mode, &args);
        return;
    }
    let quick = args.quick;
    let mib = args.num("mib", if quick { 4 } else { 1024 });
    let rounds = args.num("rounds", if quick { 1 } else { 3 });
    let pause = Duration::from_millis(args.num("pause-ms", if quick { 0 } else { 3_000 }));
    let wanted: Vec<&str> = args
        .get("modes")
        .map(|m| m.split(',').map(str::trim).collect())
        .unwrap_or_else(|| MODES.iter().map(|m| m.name).collect());
    if let Some(bad) = wanted.iter().find(|w| !MODES.iter().any(|m| m.name == **w)) {
        eprintln!("attachments: unknown mode {bad}");
        std::process::exit(2);
    }
    for (down, up) in [("att-down", "att-up"), ("raw-down", "raw-up")] {
        let needs = wanted.iter().any(|w| w.starts_with(down));
        if needs && !wanted.contains(&up) {
            eprintln!("attachments: --modes: {down} downloads what {up} uploads");
            std::process::exit(2);
        }
    }
    let size = mib << 20;
    if args.get("link").is_some() && !matches!(args.server, ServerKind::Vsftpd) {
        eprintln!("attachments: --link runs a private vsftpd; leave out --server");
        std::process::exit(2);
    }
    if let (Some(rate), None) = (args.get("link"), args.get("in-link")) {
        std::process::exit(run_over_link(rate));
    }
    let server = match args.get("in-link") {
        Some(server_ns) => FtpServer::start_vsftpd_at(link::SERVER_ADDR, Some(server_ns)),
        None => FtpServer::start(&args.server),
    }
    .unwrap_or_else(|e| {
        eprintln!("attachments: no FTP server: {e}");
        std::process::exit(1)
    });
    eprintln!(
        "attachments: {mib} MiB, {rounds} rounds, server {}",
        server.name()
    );
    let work = tempfile::Builder::new()
        .prefix("ftpchat-bench-attachments-")
        .tempdir()
        .expect("temporary folder");
    let dir = work.path();
    let started = Instant::now();
    make_file(&dir.join("source.bin"), size);
    eprintln!(
        "attachments: wrote the source file in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // The room and the raw folder exist before the first measurement.
    let url = server.url().to_owned();
    let root = transport(&url);
    match root.make_dir(&path(RAW)) {
        Ok(()) => {}
        Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {}
        Err(e) => panic!("mkdir {RAW}: {e}"),
    }
    let setup: Arc<dyn Transport> = Arc::new(transport(&url));
    Room::open(setup, room_config("setup"))
        .expect("create the room")
        .close()
        .expect("close");
    let baseline = spawn_child("baseline", &url, dir, 0);

    let mut samples: Vec<Samples> = MODES.iter().map(|_| Samples::default()).collect();
    let mut loads = Vec::new();
    for round in 0..rounds {
        let mut rates = [0.0f64; MODES.len()];
        for i in order(round) {
            let mode = &MODES[i];
            if !wanted.contains(&mode.name) {
                continue;
            }
            settle(dir, quick, pause);
            loads.push(load1());
            let r = spawn_child(mode.name, &url, dir, round);
            let bytes = r["bytes"].as_u64().unwrap_or(0);
            assert_eq!(bytes, size, "{} moved the whole file", mode.name);
            let secs = r["secs"].as_f64().unwrap_or(f64::NAN);
            let rate = bytes as f64 / secs / 1e6;
            let (user, system) = (
                r["cpu_user"].as_f64().unwrap_or(0.0),
                r["cpu_sys"].as_f64().unwrap_or(0.0),
            );
            let hwm = r["hwm"].as_u64().unwrap_or(0);
            eprintln!(
                "attachments: round {round} {:<18} {:>6} MB/s {:>7.3} s  CPU user {user:.2} s, \
                 system {system:.2} s  peak RSS {}",
                mode.name,
                sig3(rate),
                secs,
                fmt_mib(hwm),
            );
            rates[i] = rate;
            let s = &mut samples[i];
            s.rate.push(rate);
            s.cpu_user.push(user);
            s.cpu_sys.push(system);
            s.hwm.push(hwm);
            s.heap.push(r["heap_peak"].as_u64().unwrap_or(0));
        }
        for (i, mode) in MODES.iter().enumerate() {
            if let Some(j) = mode.against {
                if rates[i] > 0.0 && rates[j] > 0.0 {
                    samples[i].ratio.push(rates[i] / rates[j]);
                }
            }
        }
        clean_round(&root, round);
    }
    remove_tree(&root, &path(ROOM));
    remove_tree(&root, &path(RAW));
    drop(work);

    let gib = size as f64 / f64::from(1u32 << 30);
    let mut t = Table::new(&[
        "transfer",
        "MB/s (median)",
        "per round (MB/s)",
        "attachment / raw (median)",
        "per round",
        "peak RSS (VmHWM, max)",
        "heap peak",
        "CPU user + system per GiB (median)",
    ]);
    for (mode, s) in MODES.iter().zip(&samples) {
        if s.rate.is_empty() {
            continue;
        }
        let list = |v: &[f64], f: &dyn Fn(f64) -> String| {
            v.iter().map(|x| f(*x)).collect::<Vec<_>>().join(", ")
        };
        t.row(vec![
            mode.label.to_owned(),
            format!("**{}**", sig3(summarize(&s.rate).median)),
            list(&s.rate, &sig3),
            if s.ratio.is_empty() {
                "-".to_owned()
            } else {
                format!("**{}**", fmt_ratio(summarize(&s.ratio).median))
            },
            list(&s.ratio, &fmt_ratio),
            format!("**{}**", fmt_mib(s.hwm.iter().copied().max().unwrap_or(0))),
            fmt_bytes(s.heap.iter().copied().max().unwrap_or(0) as f64),
            format!(
                "{} + {} s",
                sig3(summarize(&s.cpu_user).median / gib),
                sig3(summarize(&s.cpu_sys).median / gib)
            ),
        ]);
    }
    let ratio = |i: usize| fmt_ratio(summarize(&samples[i].ratio).median);
    // Same round: the attachment download against its file work alone (crypto's share).
    let file_work: Vec<f64> = samples[3]
        .rate
        .iter()
        .zip(&samples[4].rate)
        .map(|(a, b)| a / b)
        .collect();
    let worst_rss = [1, 3].iter().flat_map(|&i| samples[i].hwm.iter()).max();
    let loads = summarize(&loads);
    let place = match args.get("link") {
        Some(rate) => format!(
            "in a network namespace, reached over a veth pair shaped to {rate} (tbf) from the \
             client's namespace"
        ),
        None => "on 127.0.0.1".to_owned(),
    };
    let mut out = format!(
        "### Attachments: a {mib} MiB file ({})\n\nMachine: {}\n\nServer: {} {place} (its \
         own process). {rounds} rounds, every transfer in its own process; 1-minute load \
         average before the transfers {}-{} (median {}). Process baseline (binary, allocator, \
         no work): {}.\n\n",
        if quick { "quick smoke run" } else { "full run" },
        machine(),
        server.name(),
        sig3(loads.min),
        sig3(loads.max),
        sig3(loads.median),
        fmt_mib(baseline["hwm"].as_u64().unwrap_or(0)),
    );
    out.push_str(&t.markdown());
    out.push_str(&format!(
        "\nTargets: attachment / raw ≥ 0.8x each way: upload **{}**, download **{}**; peak RSS \
         < 32 MiB: **{}** (the larger of the two attachment transfers). Attachment download / \
         its file work alone (raw download in 256 KiB writes + `fsync`, same round): {}. Finished with {}.\n",
        ratio(1),
        ratio(3),
        fmt_mib(worst_rss.copied().unwrap_or(0)),
        if file_work.is_empty() {
            "-".to_owned()
        } else {
            fmt_ratio(summarize(&file_work).median)
        },
        load(),
    ));
    emit(&args, &out);
}
