//! Bench 4: concurrent writers. 8 clients, each with its own FTP connection, write into one
//! native room at once; messages per second until all are delivered (each confirmed), then
//! a fresh reader checks that every message arrived exactly once.
//!
//! Modes: `flush` (each client delivers every message as soon as it is sent: `send` +
//! `flush`), `sync` (each client sends and reads the others' messages: `send` + `sync`, as
//! a chat client with a busy conversation does). For comparison, the same with 8 writers
//! appending to one shared FTPChat 1.6 file (append + confirmation by reading back).
//!
//! `cargo run --release -p ftpchat-benches --bin writers [-- --quick] [--writers 8]
//!  [--messages 200] [--server vsftpd|pyftpdlib]`

#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use ftpchat_benches::corpus::{self, Codec, RoomKeys};
use ftpchat_benches::server::FtpServer;
use ftpchat_benches::stats::{fmt_ms, sig3, summarize, thousands, Table};
use ftpchat_benches::{emit, machine, Args};
use ftpchat_core::{RemotePath, Transport};
use ftpchat_core::{Room, RoomConfig, WriteCodec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Native,
    Shared16,
}

fn path(p: &str) -> RemotePath {
    RemotePath::new(p).expect("path")
}

struct Outcome {
    elapsed_s: f64,
    per_message_ms: Vec<f64>,
    expected: usize,
    found_unique: usize,
    duplicates: usize,
    retries: usize,
}

fn run(
    server: &FtpServer,
    keys: &RoomKeys,
    target: Target,
    mode: &str,
    writers: usize,
    messages: usize,
) -> Outcome {
    let sub = format!("writers-{mode}-{}", matches!(target, Target::Native) as u8);
    let setup = server.transport(&sub).expect("transport");
    match target {
        Target::Native => {
            setup.make_dir(&path("room")).expect("mkdir");
            setup.make_dir(&path("room/logs")).expect("mkdir");
            setup
                .write_atomic(
                    &path("room/room.ftpchat"),
                    keys.header(1_795_000_000).as_bytes(),
                )
                .expect("header");
        }
        Target::Shared16 => {
            // Start from a chat with some history, as a real one has.
            let file = corpus::file_of(&corpus::lines(Codec::Fernet16, 100, 6, keys));
            setup
                .write_atomic(&path("chat.txt"), &file)
                .expect("upload");
        }
    }
    setup.disconnect();
    let config = |name: String| match target {
        Target::Native => RoomConfig::native("room", name, "unused").with_key(keys.native.clone()),
        Target::Shared16 => RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, name)
            .with_key(keys.fernet.clone()),
    };
    let rooms: Vec<Room> = (0..writers)
        .map(|w| {
            let room = Room::open(
                Arc::new(server.open(&sub).expect("transport")),
                config(format!("w{w}")),
            )
            .expect("open");
            room.sync().expect("first sync");
            room
        })
        .collect();
    let texts = corpus::texts(messages, 8);
    let barrier = Arc::new(Barrier::new(writers + 1));
    let (elapsed, per_message, retries) = std::thread::scope(|s| {
        let handles: Vec<_> = rooms
            .iter()
            .enumerate()
            .map(|(w, room)| {
                let (barrier, texts) = (barrier.clone(), &texts);
                s.spawn(move || {
                    let mut times = Vec::with_capacity(texts.len());
                    let mut retries = 0usize;
                    barrier.wait();
                    for (i, t) in texts.iter().enumerate() {
                        let text = format!("[w{w}:{i}] {t}");
                        let start = Instant::now();
                        room.send(&text).expect("send");
                        // A failed delivery stays queued: try again (bounded).
                        let mut attempts = 0;
                        loop {
                            attempts += 1;
                            let ok = if mode == "sync" {
                                room.sync().map(|_| ())
                            } else {
                                room.flush()
                            };
                            match ok {
                                Ok(()) if room.outbox_len() == 0 => break,
                                Ok(()) => {}
                                Err(e) => {
                                    assert!(attempts < 20, "w{w}: delivery keeps failing: {e}");
                                }
                            }
                            retries += 1;
                        }
                        times.push(start.elapsed().as_secs_f64() * 1000.0);
                    }
                    (times, retries)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut all = Vec::new();
        let mut retries = 0;
        for h in handles {
            let (t, r) = h.join().expect("writer thread");
            all.extend(t);
            retries += r;
        }
        (start.elapsed().as_secs_f64(), all, retries)
    });
    // A fresh reader: every message exactly once?
    let reader = Room::open(
        Arc::new(server.open(&sub).expect("transport")),
        config("reader".into()),
    )
    .expect("open reader");
    let shown = reader.sync().expect("reader sync").messages;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for m in &shown {
        if m.text.starts_with("[w") {
            *counts.entry(m.text.clone()).or_default() += 1;
        }
    }
    let expected = writers * messages;
    let found_unique = (0..writers)
        .flat_map(|w| (0..messages).map(move |i| (w, i)))
        .filter(|(w, i)| counts.contains_key(&format!("[w{w}:{i}] {}", texts[*i])))
        .count();
    let duplicates = counts.values().map(|c| c - 1).sum();
    if let Some(local) = server.local_dir() {
        let _ = std::fs::remove_dir_all(local.join(&sub));
    }
    Outcome {
        elapsed_s: elapsed,
        per_message_ms: per_message,
        expected,
        found_unique,
        duplicates,
        retries,
    }
}

fn main() {
    let args = Args::parse();
    let quick = args.quick;
    let writers = args.num("writers", 8) as usize;
    let messages = args.num("messages", if quick { 5 } else { 200 }) as usize;
    let server = FtpServer::start(&args.server).unwrap_or_else(|e| {
        eprintln!("writers: no FTP server: {e}");
        std::process::exit(1)
    });
    let keys = RoomKeys::fixed(5);
    let mut t = Table::new(&[
        "room",
        "each client per message",
        "messages",
        "wall time",
        "messages/s (all writers)",
        "delivery per message: median",
        "p99",
        "lost",
        "duplicated",
        "extra delivery rounds",
    ]);
    let mut lossless = true;
    for (target, mode) in [
        (Target::Native, "flush"),
        (Target::Native, "sync"),
        (Target::Shared16, "flush"),
    ] {
        eprintln!("writers: {writers} writers x {messages} messages, {target:?} / {mode}");
        let o = run(&server, &keys, target, mode, writers, messages);
        let s = summarize(&o.per_message_ms);
        let lost = o.expected - o.found_unique;
        if target == Target::Native {
            lossless &= lost == 0 && o.duplicates == 0;
        }
        t.row(vec![
            match target {
                Target::Native => "native room".into(),
                Target::Shared16 => "shared file, FTPChat 1.6 (for comparison)".into(),
            },
            match mode {
                "sync" => "`send` + `sync` (deliver, then read the others)".into(),
                _ => "`send` + `flush` (deliver)".into(),
            },
            thousands(o.expected as u64),
            format!("{} s", sig3(o.elapsed_s)),
            sig3(o.expected as f64 / o.elapsed_s),
            fmt_ms(s.median),
            fmt_ms(s.p99),
            lost.to_string(),
            o.duplicates.to_string(),
            o.retries.to_string(),
        ]);
    }
    let mut out = format!(
        "### Bench 4: {writers} concurrent writers ({}; server: {})\n\nMachine: {}\n\n\
         Each writer is a separate client (own FTP connection, own thread) sending {messages} messages \
         of ~80 bytes one at a time; the clock runs from a common start until the last is confirmed. \
         A fresh reader then counts what arrived.\n\n",
        if quick { "quick smoke run" } else { "full run" },
        server.name(),
        machine()
    );
    out.push_str(&t.markdown());
    out.push_str(&format!(
        "\nNative room with zero loss: {}.\n\n",
        if lossless { "yes" } else { "**no**" }
    ));
    emit(&args, &out);
    if !lossless {
        std::process::exit(1);
    }
}
