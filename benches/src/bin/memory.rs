//! Bench 5: peak memory while syncing a large history (100 MB by default).
//!
//! The parent writes a native room (4 writers' logs, ~300-byte lines) of the given size to
//! a local folder, then starts a **separate process** (this binary with `--child MODE`)
//! per measurement and reads its peak RSS (`VmHWM` of `/proc/self/status`) from it:
//!
//! - `baseline`: the child doing nothing (the process's own footprint).
//! - `stream`: every log read through `Transport::read_from` into the sans-IO reader
//!   (`FileReader` + `LineDecoder`), each record decoded and dropped: what the streaming
//!   read path itself costs.
//! - `room`: `Room::open` + `sync()` over the folder: the whole client, which keeps every
//!   decoded message in its timeline (and returns them all from this first sync).
//! - `room-ftp`: the same over FTP from a private vsftpd serving that folder.
//! - `room-store`: `room` with a state folder, whose local store lets the room keep only a
//!   window of the newest messages in memory.
//! - `whole-file`: for contrast, each log downloaded whole into memory, then decoded.
//!
//! `cargo run --release -p ftpchat-benches --bin memory [-- --quick] [--mb 100,10]
//! [--modes room,room-store]`

#![allow(clippy::expect_used)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ftpchat_benches::corpus::{self, RoomKeys};
use ftpchat_benches::server::{FtpServer, ServerKind};
use ftpchat_benches::stats::{fmt_bytes, sig3, thousands, Table};
use ftpchat_benches::{emit, machine, rss, Args};
use ftpchat_core::codec::FileReader;
use ftpchat_core::codec::{Frame, Keyring, LineDecoder};
use ftpchat_core::testing::read_all;
use ftpchat_core::FtpTransport;
use ftpchat_core::LocalTransport;
use ftpchat_core::{RemotePath, Transport};
use ftpchat_core::{Room, RoomConfig};
use serde_json::{json, Value};

const KEY_SEED: u64 = 6;

/// Counts live and peak heap bytes, to tell what a mode keeps from what it needed for a
/// moment (RSS alone cannot: the allocator keeps freed pages). `peak_alloc` wraps the
/// system allocator, so the benches need no unsafe code of their own.
#[global_allocator]
static GLOBAL: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

mod heap {
    /// `(live, peak)` heap bytes.
    pub fn stats() -> (usize, usize) {
        (super::GLOBAL.current_usage(), super::GLOBAL.peak_usage())
    }
}

fn path(p: &str) -> RemotePath {
    RemotePath::new(p).expect("path")
}

/// Writes a native room of about `bytes` bytes under `dir/room`; returns (records, bytes).
fn generate(dir: &Path, bytes: u64, keys: &RoomKeys) -> (u64, u64) {
    let sample = corpus::native_logs(1_000, 1, 1, keys);
    let per_line = sample[0].1.len() as f64 / 1_000.0;
    let n = (bytes as f64 / per_line).round() as usize;
    let room = dir.join("room");
    std::fs::create_dir_all(room.join("logs")).expect("mkdir");
    std::fs::write(room.join("room.ftpchat"), keys.header(1_795_000_000)).expect("header");
    let mut total = 0;
    for (name, data) in corpus::native_logs(n, 4, 2, keys) {
        total += data.len() as u64;
        std::fs::write(room.join("logs").join(name), data).expect("log");
    }
    (n as u64, total)
}

// --- child side ---------------------------------------------------------------------------

fn child(mode: &str, dir: &Path, url: Option<&str>) {
    let keys = RoomKeys::fixed(KEY_SEED);
    let start = Instant::now();
    let (before_hwm, _) = rss();
    let mut records = 0u64;
    let mut after_rss = 0u64;
    let mut kept_heap = 0usize;
    match mode {
        "baseline" => {}
        "stream" => {
            let t = LocalTransport::new(dir.join("room"));
            let mut dec = LineDecoder::new(Keyring {
                fernet: None,
                native: Some((keys.native.clone(), keys.room)),
            });
            for entry in t.list(&path("logs")).expect("list") {
                let mut reader = FileReader::default();
                reader.begin_read();
                let mut sink = StreamSink {
                    reader: &mut reader,
                    decoder: &mut dec,
                    records: 0,
                };
                t.read_from(&path(&format!("logs/{}", entry.name)), 0, &mut sink)
                    .expect("read");
                records += sink.records;
                reader.end_read();
            }
        }
        "room" | "room-ftp" | "room-store" => {
            let transport: Arc<dyn Transport> = match url {
                Some(u) => Arc::new(FtpTransport::from_url(u).expect("url")),
                None => Arc::new(LocalTransport::new(dir)),
            };
            let mut config =
                RoomConfig::native("room", "reader", "unused").with_key(keys.native.clone());
            // A fresh state folder: the local store, which lets the room keep a window.
            let state = tempfile::tempdir().expect("state folder");
            if mode == "room-store" {
                config = config.with_state_dir(state.path());
            }
            let room = Room::open(transport, config).expect("open");
            let update = room.sync().expect("sync");
            // With a store the update carries the newest; it counts the others.
            let left_out = update.messages_left_out();
            records = update.messages.len() as u64 + left_out;
            drop(update);
            after_rss = rss().1;
            kept_heap = heap::stats().0;
            std::hint::black_box(&room);
        }
        "whole-file" => {
            let t = LocalTransport::new(dir.join("room"));
            let mut dec = LineDecoder::new(Keyring {
                fernet: None,
                native: Some((keys.native.clone(), keys.room)),
            });
            let mut kept = Vec::new();
            for entry in t.list(&path("logs")).expect("list") {
                let bytes = read_all(&t, &path(&format!("logs/{}", entry.name))).expect("read");
                let decoded = dec.decode_bytes(&bytes, 0);
                records += decoded.records.len() as u64;
                kept.push((bytes, decoded));
            }
            std::hint::black_box(&kept);
            kept_heap = heap::stats().0;
        }
        other => panic!("unknown child mode {other}"),
    }
    let (hwm, rss_now) = rss();
    let (live, peak_heap) = heap::stats();
    if kept_heap == 0 {
        kept_heap = live;
    }
    println!(
        "{}",
        json!({
            "mode": mode, "hwm": hwm, "hwm_before": before_hwm, "rss_end": rss_now,
            "rss_after_update_dropped": after_rss, "records": records,
            "heap_peak": peak_heap, "heap_kept": kept_heap,
            "secs": start.elapsed().as_secs_f64(),
        })
    );
}

/// Frames and decodes as bytes arrive; keeps nothing but a count.
struct StreamSink<'a> {
    reader: &'a mut FileReader,
    decoder: &'a mut LineDecoder,
    records: u64,
}

impl Write for StreamSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (decoder, records) = (&mut *self.decoder, &mut self.records);
        self.reader
            .push(buf, |frame| {
                if let Frame::Line { bytes, .. } = frame {
                    if decoder.decode_line(bytes).is_ok() {
                        *records += 1;
                    }
                }
            })
            .map_err(|_| std::io::Error::other("file replaced"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// --- parent side --------------------------------------------------------------------------

fn spawn_child(mode: &str, dir: &Path, url: Option<&str>) -> Value {
    let mut args: Vec<&OsStr> = vec!["--dir".as_ref(), dir.as_os_str()];
    if let Some(u) = url {
        args.extend([OsStr::new("--url"), OsStr::new(u)]);
    }
    ftpchat_benches::run_child(mode, args)
}

fn main() {
    let args = Args::parse();
    if let Some(mode) = args.get("child") {
        let dir = PathBuf::from(args.get("dir").expect("--dir"));
        child(mode, &dir, args.get("url"));
        return;
    }
    let quick = args.quick;
    let sizes = args.list("mb", if quick { &[2] } else { &[100, 10] });
    let keys = RoomKeys::fixed(KEY_SEED);
    // A private vsftpd for the FTP mode; the room is generated inside its folder.
    let server = match FtpServer::start(&match &args.server {
        ServerKind::Url(_) => ServerKind::Vsftpd,
        other => other.clone(),
    }) {
        Ok(s) if s.local_dir().is_some() => Some(s),
        Ok(_) => None,
        Err(e) => {
            eprintln!("memory: no private FTP server ({e}); skipping the FTP mode");
            None
        }
    };
    let mut t = Table::new(&[
        "history",
        "messages",
        "mode",
        "peak RSS (VmHWM)",
        "peak − process baseline",
        "per message",
        "of the history size",
        "heap peak",
        "heap still held at the end",
        "time",
    ]);
    for &mb in &sizes {
        let (dir, sub) = match server.as_ref().and_then(|s| s.local_dir()) {
            Some(local) => {
                let sub = format!("memory-{mb}");
                (local.join(&sub), Some(sub))
            }
            None => (tempfile::tempdir().expect("temporary folder").keep(), None),
        };
        std::fs::create_dir_all(&dir).expect("mkdir");
        eprintln!("memory: writing a {mb} MB native room to {}", dir.display());
        let (n, bytes) = generate(&dir, mb * 1_000_000, &keys);
        let base = spawn_child("baseline", &dir, None);
        let base_hwm = base["hwm"].as_u64().unwrap_or(0);
        let mut modes: Vec<(&str, Option<String>)> = vec![
            ("stream", None),
            ("room", None),
            ("room-store", None),
            ("whole-file", None),
        ];
        if let (Some(s), Some(sub)) = (&server, &sub) {
            modes.insert(2, ("room-ftp", Some(format!("{}/{sub}", s.url()))));
        }
        // `--modes room-store,stream`: only those (a 1 GB history in every mode needs
        // several GB of memory and minutes).
        if let Some(only) = args.get("modes") {
            let only: Vec<&str> = only.split(',').map(str::trim).collect();
            modes.retain(|(mode, _)| only.contains(mode));
        }
        for (mode, url) in modes {
            eprintln!("memory: {mb} MB, {mode}");
            let r = spawn_child(mode, &dir, url.as_deref());
            let hwm = r["hwm"].as_u64().unwrap_or(0);
            let got = r["records"].as_u64().unwrap_or(0);
            assert_eq!(got, n, "{mode} read every record");
            let over = hwm.saturating_sub(base_hwm) as f64;
            let after = r["rss_after_update_dropped"].as_u64().unwrap_or(0);
            t.row(vec![
                fmt_bytes(bytes as f64),
                thousands(n),
                match mode {
                    "stream" => "read path only: stream + decode, records dropped".into(),
                    "room" => "`Room` open + first sync, local folder".into(),
                    "room-ftp" => "`Room` open + first sync, over FTP (vsftpd)".into(),
                    "room-store" => {
                        "`Room` open + first sync, local folder, with a state folder (local store)"
                            .into()
                    }
                    _ => "whole-file download, then decode (contrast)".into(),
                },
                fmt_bytes(hwm as f64),
                fmt_bytes(over),
                format!("{} B", sig3(over / n.max(1) as f64)),
                format!("{}%", sig3(over / bytes as f64 * 100.0)),
                fmt_bytes(r["heap_peak"].as_f64().unwrap_or(0.0)),
                format!(
                    "{}{}",
                    fmt_bytes(r["heap_kept"].as_f64().unwrap_or(0.0)),
                    if after > 0 {
                        format!(" (RSS {})", fmt_bytes(after as f64))
                    } else {
                        String::new()
                    }
                ),
                format!("{} s", sig3(r["secs"].as_f64().unwrap_or(0.0))),
            ]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut out = format!(
        "### Bench 5: peak memory while syncing a large history ({})\n\nMachine: {}\n\n\
         A native room of 4 logs (~300-byte lines, ~80-byte texts); each row is a separate process, \
         peak RSS from its `/proc/self/status` (VmHWM). Process baseline (binary, allocator, no work): {}.\n\n",
        if quick { "quick smoke run" } else { "full run" },
        machine(),
        fmt_bytes(
            spawn_child("baseline", &std::env::temp_dir(), None)["hwm"]
                .as_u64()
                .unwrap_or(0) as f64
        ),
    );
    out.push_str(&t.markdown());
    out.push('\n');
    emit(&args, &out);
}
