//! Bench 2: poll cost against history size, on a real FTP server on 127.0.0.1.
//!
//! For histories of 1,000 / 10,000 / 100,000 messages in three layouts (a shared FTPChat
//! 1.6 file, a shared 1.5 file, a native room of 4 writers): ftpchat's poll with nothing new
//! and with 10 new messages (time, transport calls, FTP commands from the server's log,
//! payload bytes), its first sync, and, on the same files and server, the original client's
//! refresh (Python `ftplib`: log in, `RETR` the whole file, decode every line) plus a Rust
//! reimplementation of that refresh (to separate transfer from decoding cost).
//!
//! `cargo run --release -p ftpchat-benches --bin poll-cost [-- --quick] [--sizes 1000,10000]
//!  [--server vsftpd|pyftpdlib|url:URL]`

#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use ftpchat_benches::corpus::{self, Codec, RoomKeys};
use ftpchat_benches::counting::{CountingTransport, Counts};
use ftpchat_benches::server::FtpServer;
use ftpchat_benches::stats::{fmt_bytes, fmt_ms, fmt_ratio, summarize, thousands, Table};
use ftpchat_benches::{emit, machine, python, Args};
use ftpchat_core::codec::{
    Hlc, Keyring, LineDecoder, LineEncoder, NativeRecord, RecordBody, RecordId, WriterId,
};
use ftpchat_core::testing::read_all;
use ftpchat_core::{RemotePath, Transport};
use ftpchat_core::{Room, RoomConfig, WriteCodec};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Shared16,
    Shared15,
    Native,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Shared16 => "shared file, FTPChat 1.6",
            Layout::Shared15 => "shared file, FTPChat 1.5",
            Layout::Native => "native room (4 writers)",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Layout::Shared16 => "v16",
            Layout::Shared15 => "v15",
            Layout::Native => "native",
        }
    }
}

/// One measured operation.
#[derive(Debug, Clone, Default)]
struct Op {
    ms: Vec<f64>,
    counts: Vec<Counts>,
    commands: Vec<Option<u64>>,
    command_names: Vec<String>,
}

impl Op {
    fn median_ms(&self) -> f64 {
        summarize(&self.ms).median
    }

    fn typical(&self) -> Counts {
        // Counters are the same on every poll of a kind; report the median by calls.
        let mut c = self.counts.clone();
        c.sort_by_key(|c| (c.calls(), c.bytes_read));
        c.get(c.len() / 2).copied().unwrap_or_default()
    }

    fn commands(&self) -> String {
        let mut v: Vec<u64> = self.commands.iter().flatten().copied().collect();
        if v.is_empty() {
            return format!("~{}", self.typical().ftp_commands_estimate());
        }
        v.sort_unstable();
        v[v.len() / 2].to_string()
    }
}

/// Results for one layout and history size.
#[derive(Debug, Default)]
struct Row {
    n: usize,
    file_bytes: u64,
    first_sync: Op,
    idle: Op,
    ten_new: Op,
    original: Option<Value>,
    rust_whole: Op,
}

fn main() {
    let args = Args::parse();
    let quick = args.quick;
    let sizes: Vec<usize> = args
        .list(
            "sizes",
            if quick {
                &[100, 1_000]
            } else {
                &[1_000, 10_000, 100_000]
            },
        )
        .into_iter()
        .map(|n| n as usize)
        .collect();
    let idle_polls = args.num("polls", if quick { 3 } else { 101 }) as usize;
    let new_polls = args.num("new-polls", if quick { 2 } else { 10 }) as usize;
    let layouts: Vec<Layout> = match args.get("layouts") {
        Some(l) => l
            .split(',')
            .filter_map(|t| match t {
                "v16" => Some(Layout::Shared16),
                "v15" => Some(Layout::Shared15),
                "native" => Some(Layout::Native),
                _ => None,
            })
            .collect(),
        None => vec![Layout::Shared16, Layout::Shared15, Layout::Native],
    };

    let server = FtpServer::start(&args.server).unwrap_or_else(|e| {
        eprintln!("poll-cost: no FTP server: {e}");
        std::process::exit(1)
    });
    eprintln!("poll-cost: using {}", server.name());
    let keys = RoomKeys::fixed(3);

    let mut results: Vec<(Layout, Row)> = Vec::new();
    for &n in &sizes {
        for &layout in &layouts {
            eprintln!("poll-cost: {} with {} messages", layout.name(), n);
            let row = measure(&server, &keys, layout, n, idle_polls, new_polls, quick);
            results.push((layout, row));
        }
    }

    let mut out = String::new();
    out.push_str(&format!(
        "### Bench 2: poll cost against history size ({}; server: {})\n\nMachine: {}\n\n",
        if quick { "quick smoke run" } else { "full run" },
        server.name(),
        machine()
    ));
    out.push_str(&format!(
        "Median of {idle_polls} idle polls and of {new_polls} polls finding 10 new messages each; \
         one warm FTP connection (the client's normal state). FTP commands are {}. \
         Payload = bytes delivered by `read_from` (file contents; listings not included).\n\n",
        if server.counts_commands() {
            "counted from the server's own log (`log_ftp_protocol=YES`)"
        } else {
            "estimated from the transport calls (see `counting.rs`); prefixed with ~"
        }
    ));
    for &layout in &layouts {
        out.push_str(&format!("#### {}\n\n", layout.name()));
        let mut t = Table::new(&[
            "history",
            "file size",
            "idle poll: time",
            "calls",
            "FTP cmds",
            "payload",
            "10 new: time",
            "calls",
            "FTP cmds",
            "payload",
            "first sync (open the chat)",
        ]);
        let rows: Vec<&Row> = results
            .iter()
            .filter(|(l, _)| *l == layout)
            .map(|(_, r)| r)
            .collect();
        for r in &rows {
            let (i, w) = (r.idle.typical(), r.ten_new.typical());
            t.row(vec![
                thousands(r.n as u64),
                fmt_bytes(r.file_bytes as f64),
                fmt_ms(r.idle.median_ms()),
                i.describe_calls(),
                r.idle.commands(),
                fmt_bytes(i.bytes_read as f64),
                fmt_ms(r.ten_new.median_ms()),
                w.describe_calls(),
                r.ten_new.commands(),
                fmt_bytes(w.bytes_read as f64),
                format!(
                    "{} ({})",
                    fmt_ms(r.first_sync.median_ms()),
                    fmt_bytes(r.first_sync.typical().bytes_read as f64)
                ),
            ]);
        }
        out.push_str(&t.markdown());
        if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
            if rows.len() > 1 {
                let idle = last.idle.median_ms() / first.idle.median_ms().max(1e-9);
                let new = last.ten_new.median_ms() / first.ten_new.median_ms().max(1e-9);
                out.push_str(&format!(
                    "\nFlatness, {} → {} messages: idle poll {} ({}), poll with 10 new {} ({}) — target ≤ 1.5x.\n",
                    thousands(first.n as u64),
                    thousands(last.n as u64),
                    fmt_ratio(idle),
                    verdict(idle),
                    fmt_ratio(new),
                    verdict(new),
                ));
            }
        }
        if layout != Layout::Native {
            out.push_str(
                "\nThe original client's refresh on the same file and server (every refresh; it has no \"nothing new\" case):\n\n",
            );
            let mut t = Table::new(&[
                "history",
                "original (Python ftplib + decode): time",
                "of which transfer",
                "of which decode",
                "FTP cmds",
                "payload",
                "ftpchat idle poll is faster by",
                "ftpchat 10-new poll is faster by",
                "Rust reimplementation of the refresh (transfer + Rust decode)",
            ]);
            for r in &rows {
                let Some(orig) = &r.original else { continue };
                let runs = orig
                    .get("runs")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let med = |k: &str| {
                    summarize(&runs.iter().map(|x| python::num(x, k)).collect::<Vec<_>>()).median
                };
                let total = med("total_ms");
                t.row(vec![
                    thousands(r.n as u64),
                    format!("{} (n={})", fmt_ms(total), runs.len()),
                    fmt_ms(med("transfer_ms")),
                    fmt_ms(med("decode_ms")),
                    format!("{:.0}", med("commands")),
                    fmt_bytes(med("bytes")),
                    fmt_ratio(total / r.idle.median_ms().max(1e-9)),
                    fmt_ratio(total / r.ten_new.median_ms().max(1e-9)),
                    format!(
                        "{} ({} cmds{})",
                        fmt_ms(r.rust_whole.median_ms()),
                        r.rust_whole.commands(),
                        if server.counts_commands() {
                            ""
                        } else {
                            " + login"
                        }
                    ),
                ]);
            }
            out.push_str(&t.markdown());
        }
        if let Some(r) = rows.first() {
            if !r.idle.command_names.is_empty() {
                out.push_str(&format!(
                    "\nCommands of one idle poll: `{}`; of one poll with 10 new: `{}`.\n",
                    r.idle.command_names.join(" "),
                    r.ten_new.command_names.join(" ")
                ));
            }
        }
        out.push('\n');
    }
    emit(&args, &out);
}

fn verdict(ratio: f64) -> &'static str {
    if ratio <= 1.5 {
        "met"
    } else {
        "missed"
    }
}

fn path(p: &str) -> RemotePath {
    RemotePath::new(p).expect("path")
}

/// Uploads the history, then measures everything for one layout and size.
fn measure(
    server: &FtpServer,
    keys: &RoomKeys,
    layout: Layout,
    n: usize,
    idle_polls: usize,
    new_polls: usize,
    quick: bool,
) -> Row {
    let sub = format!("poll-{}-{n}", layout.tag());
    let setup = server.transport(&sub).expect("transport");
    let mut row = Row {
        n,
        ..Default::default()
    };
    // --- the history ------------------------------------------------------------------
    let extra_writer = WriterId(corpus::Rng::new(n as u64).bytes16());
    match layout {
        Layout::Shared16 | Layout::Shared15 => {
            let codec = if layout == Layout::Shared16 {
                Codec::Fernet16
            } else {
                Codec::Legacy15
            };
            let file = corpus::file_of(&corpus::lines(codec, n, 100, keys));
            row.file_bytes = file.len() as u64;
            setup
                .write_atomic(&path("chat.txt"), &file)
                .expect("upload");
        }
        Layout::Native => {
            setup.make_dir(&path("room")).expect("mkdir");
            setup.make_dir(&path("room/logs")).expect("mkdir");
            setup
                .write_atomic(
                    &path("room/room.ftpchat"),
                    keys.header(1_795_000_000).as_bytes(),
                )
                .expect("header");
            for (name, bytes) in corpus::native_logs(n, 4, 100, keys) {
                row.file_bytes += bytes.len() as u64;
                setup
                    .write_atomic(&path(&format!("room/logs/{name}")), &bytes)
                    .expect("upload log");
            }
        }
    }
    setup.disconnect();

    // --- ftpchat's reader -------------------------------------------------------------
    let counting = Arc::new(CountingTransport::new(
        server.open(&sub).expect("transport"),
    ));
    let config = match layout {
        Layout::Shared16 => RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, "reader")
            .with_key(keys.fernet.clone()),
        Layout::Shared15 => RoomConfig::shared_file("chat.txt", WriteCodec::Legacy15, "reader"),
        Layout::Native => {
            RoomConfig::native("room", "reader", "unused").with_key(keys.native.clone())
        }
    };
    let room = Room::open(counting.clone(), config).expect("open");
    let measured = |op: &mut Op, expect: usize, f: &dyn Fn()| {
        f();
        let mark = server.log_mark();
        let before = counting.counts();
        let t = Instant::now();
        let got = room.sync().expect("sync").messages.len();
        op.ms.push(t.elapsed().as_secs_f64() * 1000.0);
        op.counts.push(counting.counts().since(&before));
        op.commands.push(server.commands_since(mark));
        if op.command_names.is_empty() {
            op.command_names = server.command_names_since(mark);
        }
        assert_eq!(got, expect, "messages shown by this sync");
    };
    measured(&mut row.first_sync, n, &|| {});
    for _ in 0..idle_polls {
        measured(&mut row.idle, 0, &|| {});
    }

    // 10 new messages per poll, appended by another client on its own connection.
    let writer = server.open(&sub).expect("writer transport");
    let mut enc = LineEncoder::new();
    let mut rng = corpus::Rng::new(n as u64 ^ 0xABCD);
    let mut seq = 0u64;
    for i in 0..new_polls {
        let texts = corpus::texts(10, 1_000 + i as u64);
        let (file, data) = match layout {
            Layout::Shared16 | Layout::Shared15 => {
                let msgs = corpus::compat_messages(&texts);
                let lines: Vec<String> = msgs
                    .iter()
                    .map(|m| {
                        if layout == Layout::Shared16 {
                            enc.fernet16(m, &keys.fernet, 1_795_000_000)
                        } else {
                            enc.legacy15(m)
                        }
                    })
                    .collect();
                ("chat.txt".to_owned(), corpus::file_of(&lines))
            }
            Layout::Native => {
                let mut data = Vec::new();
                for text in texts {
                    seq += 1;
                    let record = NativeRecord {
                        id: RecordId(rng.bytes16()),
                        room: keys.room,
                        writer: extra_writer,
                        seq,
                        hlc: Hlc::new(1_796_000_000_000 + seq * 1000, 0),
                        sender: "eve".into(),
                        body: RecordBody::Text(text),
                    };
                    data.extend_from_slice(enc.native(&record, &keys.native).as_bytes());
                    data.push(b'\n');
                }
                (format!("room/logs/{}.log", extra_writer.to_hex()), data)
            }
        };
        measured(&mut row.ten_new, 10, &|| {
            writer.append(&path(&file), &data).expect("append");
        });
    }
    writer.disconnect();
    counting.inner().disconnect();

    // --- the original's refresh, same file, same server ---------------------------------
    if layout != Layout::Native {
        let (host, port, user, password, dir) = server.login_parts(&sub);
        let repeats = match (layout, n, quick) {
            (_, _, true) => 1,
            (Layout::Shared15, n, _) if n >= 100_000 => 2,
            _ => 3,
        };
        let arg = json!({
            "host": host, "port": port, "user": user, "password": password, "dir": dir,
            "file": "chat.txt", "codec": layout.tag(), "repeats": repeats,
            "key": keys.fernet.to_base64().as_str(),
            "table": python::workspace_root().join("ftpchat-core/tests/testdata/legacy-v1.5-substitution.txt"),
        });
        let orig = python::run("original_poll.py", &arg).expect("original refresh (Python)");
        for run in orig
            .get("runs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert!(
                python::num(run, "messages") as usize >= n,
                "the original shows every message"
            );
        }
        row.original = Some(orig);

        // The same refresh in Rust: new connection, whole file, decode every line.
        let mut dec = LineDecoder::new(Keyring {
            fernet: Some(keys.fernet.clone()),
            native: None,
        });
        for _ in 0..3 {
            let mark = server.log_mark();
            let t = Instant::now();
            let fresh = CountingTransport::new(server.open(&sub).expect("transport"));
            let bytes = read_all(&fresh, &path("chat.txt")).expect("download");
            let decoded = dec.decode_bytes(&bytes, 0);
            fresh.inner().disconnect();
            row.rust_whole.ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(decoded.records.len() >= n);
            row.rust_whole.counts.push(fresh.counts());
            row.rust_whole.commands.push(server.commands_since(mark));
        }
    }
    // Leave the server tidy for the next layout (external servers are cleaned on drop).
    drop(room);
    cleanup(server, &sub);
    row
}

fn cleanup(server: &FtpServer, sub: &str) {
    if let Some(local) = server.local_dir() {
        let _ = std::fs::remove_dir_all(local.join(sub));
    }
}
