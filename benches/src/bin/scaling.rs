//! Bench: what a native room costs in requests on a store that cannot append (the segment
//! layout, SPEC §9.5) as it grows from 10 to 1,000 writers (SCALING.md).
//!
//! For each room size: `writers` devices each open the room, send one message and flush;
//! then a reader opens the room and reads everything, polls once with nothing new, and one
//! writer sends one more message that the reader polls for; last the reader restarts from
//! its state folder (with the segment cache) and polls. Every request of the reader and of
//! that writer is counted (and the bytes they carry).
//!
//! Backends: the in-memory store told to refuse appends (as an object store does), and,
//! built with `--features s3` and given `FTPCHAT_TEST_S3_*` (`.ci/s3-server.sh`), a real
//! S3 server.
//!
//! `cargo run --release -p ftpchat-benches --bin scaling [--features s3] -- [--quick]
//!  [--writers 10,100,1000] [--backends memory,s3]`

#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use ftpchat_benches::counting::{CountingTransport, Counts};
use ftpchat_benches::stats::{thousands, Table};
use ftpchat_benches::{emit, machine, Args};
use ftpchat_core::testing::{FaultyTransport, MemoryTransport};
use ftpchat_core::{Room, RoomConfig, Transport};

fn config(room: &str, who: &str) -> RoomConfig {
    RoomConfig::native(room, who, "bench password").with_native_iterations(1_000)
}

/// A fresh store of `backend` (a new prefix each time), or `None` when it is not there.
fn store(backend: &str, run: &str) -> Option<Arc<dyn Transport>> {
    match backend {
        "memory" => {
            let t = FaultyTransport::new(MemoryTransport::new());
            t.refuse_appends();
            Some(Arc::new(t))
        }
        "s3" => s3_store(run),
        other => {
            eprintln!("unknown backend {other}");
            None
        }
    }
}

#[cfg(feature = "s3")]
fn s3_store(run: &str) -> Option<Arc<dyn Transport>> {
    use ftpchat_core::{open_location, OpenOptions, S3Credentials};
    let var = |n: &str| std::env::var(n).ok();
    let url = var("FTPCHAT_TEST_S3_URL")?;
    let options = OpenOptions::default()
        .with_s3_endpoint(var("FTPCHAT_TEST_S3_ENDPOINT")?)
        .with_s3_region(var("FTPCHAT_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".into()))
        .with_s3_credentials(S3Credentials::new(
            var("FTPCHAT_TEST_S3_ACCESS_KEY")?,
            var("FTPCHAT_TEST_S3_SECRET_KEY")?,
        ));
    Some(open_location(&format!("{url}/scaling-{run}"), &options).expect("open S3"))
}

#[cfg(not(feature = "s3"))]
fn s3_store(_run: &str) -> Option<Arc<dyn Transport>> {
    eprintln!("scaling: built without feature s3; skipping the S3 backend");
    None
}

/// Requests a server logged so far (`--http-log`: moto's log, one line per request), to
/// count HTTP requests where one transport call makes several (an S3 read is a `HEAD`
/// then a ranged `GET`).
fn http_requests(log: Option<&str>) -> Option<u64> {
    let text = std::fs::read_to_string(log?).ok()?;
    Some(text.lines().filter(|l| l.contains(" HTTP/1.1")).count() as u64)
}

struct Row {
    /// HTTP requests of each phase (open, idle, send, receive, restart), when a log was
    /// given.
    http: Option<[u64; 5]>,
    open: Counts,
    idle: Counts,
    send: Counts,
    receive: Counts,
    restart: Counts,
    setup_secs: f64,
}

fn measure(t: Arc<dyn Transport>, writers: usize, log: Option<&str>) -> Row {
    let room = "room";
    let started = Instant::now();
    Room::open(Arc::clone(&t), config(room, "creator")).expect("create");
    for w in 0..writers {
        let r = Room::open(Arc::clone(&t), config(room, &format!("writer {w}"))).expect("open");
        r.send(&format!("hello from writer {w}")).expect("send");
        r.flush().expect("flush");
    }
    let setup_secs = started.elapsed().as_secs_f64();

    let mut http = [0u64; 5];
    let mut mark = http_requests(log);
    let mut phase = |i: usize| {
        let now = http_requests(log);
        if let (Some(a), Some(b)) = (mark, now) {
            http[i] = b - a;
        }
        mark = now;
    };
    let state = tempfile::tempdir().expect("state folder");
    let reader_config = || config(room, "reader").with_state_dir(state.path());
    let reader_t = Arc::new(CountingTransport::new(Arc::clone(&t)));
    let reader = Room::open(reader_t.clone(), reader_config()).expect("reader");
    let got = reader.sync().expect("first sync");
    let left_out = got.messages_left_out();
    assert_eq!(
        got.messages.len() as u64 + left_out,
        writers as u64,
        "the reader reads every writer (the update carries the newest)"
    );
    let open = reader_t.counts();
    phase(0);
    let before = reader_t.counts();
    assert!(reader.sync().expect("idle").messages.is_empty());
    let idle = reader_t.counts().since(&before);
    phase(1);

    let sender_t = Arc::new(CountingTransport::new(Arc::clone(&t)));
    let sender = Room::open(sender_t.clone(), config(room, "sender")).expect("sender");
    sender.sync().expect("sender catches up");
    // Settle the reader on the sender's first poll (nothing of it is new).
    reader.sync().expect("settle");
    phase(2);
    let before_send = sender_t.counts();
    sender.send("one more").expect("send");
    sender.flush().expect("flush");
    let send = sender_t.counts().since(&before_send);
    phase(2);
    let before = reader_t.counts();
    let got = reader.sync().expect("receive");
    assert_eq!(got.messages.len(), 1);
    let receive = reader_t.counts().since(&before);
    phase(3);
    reader.close().expect("close");
    drop(reader);
    let restart_t = Arc::new(CountingTransport::new(Arc::clone(&t)));
    let reader = Room::open(restart_t.clone(), reader_config()).expect("restart");
    assert!(reader.sync().expect("restart sync").messages.is_empty());
    let restart = restart_t.counts();
    phase(4);
    Row {
        http: log.map(|_| http),
        open,
        idle,
        send,
        receive,
        restart,
        setup_secs,
    }
}

fn main() {
    let args = Args::parse();
    let sizes = args.list(
        "writers",
        if args.quick {
            &[10, 30]
        } else {
            &[10, 100, 1000]
        },
    );
    let backends: Vec<String> = args
        .get("backends")
        .unwrap_or("memory,s3")
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut out = String::new();
    out.push_str(&format!(
        "## Scaling of the segment layout ({})\n\n",
        machine()
    ));
    let mut table = Table::new(&[
        "backend",
        "writers",
        "reader open + first sync",
        "idle poll",
        "send 1 message",
        "receive it",
        "restart from the state folder",
        "bytes sent / received",
        "setup",
    ]);
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    for backend in &backends {
        for &n in &sizes {
            let Some(t) = store(backend, &format!("{run}-{n}")) else {
                continue;
            };
            let log = (backend == "s3").then(|| args.get("http-log")).flatten();
            let row = measure(t, n as usize, log);
            let http = |i: usize| {
                row.http
                    .map_or(String::new(), |h| format!("; {} HTTP", h[i]))
            };
            table.row(vec![
                backend.clone(),
                thousands(n),
                format!(
                    "{} ({}{})",
                    thousands(row.open.calls()),
                    row.open.describe_calls(),
                    http(0)
                ),
                format!(
                    "{} ({}{})",
                    row.idle.calls(),
                    row.idle.describe_calls(),
                    http(1)
                ),
                format!(
                    "{} ({}{})",
                    row.send.calls(),
                    row.send.describe_calls(),
                    http(2)
                ),
                format!(
                    "{} ({}{})",
                    row.receive.calls(),
                    row.receive.describe_calls(),
                    http(3)
                ),
                format!(
                    "{} ({}{})",
                    thousands(row.restart.calls()),
                    row.restart.describe_calls(),
                    http(4)
                ),
                format!("{} / {}", row.send.bytes_written, row.receive.bytes_read),
                format!("{:.1} s", row.setup_secs),
            ]);
        }
    }
    out.push_str(&table.markdown());
    out.push_str(
        "\nRequests are transport calls; with `--http-log` (moto's log) the S3 rows add the \
         HTTP requests the server saw in that phase (an S3 read is one GET; a create-only write \
         checks its folder first). Setup: the writers' opens and sends.\n",
    );
    emit(&args, &out);
}
