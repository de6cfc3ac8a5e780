//! Presence (issue 15, SPEC §18): the idle poll of a member room whose 20 devices are all
//! present (20 logs and 20 state files in `logs/`) against the same room without state
//! files (every device with presence off), in the same run, on a real FTP server on
//! 127.0.0.1. The reader of each room has read everything once; an idle poll is then the
//! listings alone. Polls of the two rooms alternate, so both see the same load. The clock
//! is frozen (simulated), so no refresh falls inside the measurement: a present device
//! adds one state file write per minute (`PRESENCE_REFRESH_MS`) on top.
//!
//! `cargo run --release -p ftpchat-benches --bin presence-poll [-- --quick] [--devices 20]
//!  [--polls 201] [--server vsftpd|pyftpdlib|url:URL]`

#![allow(clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpchat_benches::counting::{CountingTransport, Counts};
use ftpchat_benches::server::FtpServer;
use ftpchat_benches::stats::{fmt_ms, summarize};
use ftpchat_benches::{emit, machine, Args};
use ftpchat_core::{Clock, DeviceIdentity, Role, Room, RoomConfig, Transport};

/// A clock that does not move (no presence refresh during the measurement).
#[derive(Debug)]
struct Frozen(u64);

impl Clock for Frozen {
    fn now_ms(&self) -> u64 {
        self.0
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A member room of `devices` devices, each of which has synced (and published, if
/// `presence`) and sent one message; returns the first device's room, read up to date,
/// on a counting transport.
fn build(
    server: &FtpServer,
    sub: &str,
    devices: usize,
    presence: bool,
    clock: &Arc<Frozen>,
) -> (Room, Arc<CountingTransport<ftpchat_core::FtpTransport>>) {
    let t: Arc<dyn Transport> = Arc::new(server.transport(sub).expect("transport"));
    let ids: Vec<Arc<DeviceIdentity>> = (0..devices)
        .map(|_| Arc::new(DeviceIdentity::generate()))
        .collect();
    let config = |i: usize| {
        RoomConfig::member_room("room", format!("device {i}"), ids[i].clone())
            .with_clock(clock.clone())
            .with_presence(presence)
    };
    let admin = Room::open(t.clone(), config(0)).expect("create");
    for id in &ids[1..] {
        admin
            .add_member(id.public(), Role::Member, false)
            .expect("add");
    }
    for i in 1..devices {
        let room = Room::open(t.clone(), config(i)).expect("open");
        room.send(&format!("hello from {i}")).expect("send");
        room.sync().expect("sync");
        room.close().expect("close");
    }
    drop(admin);
    // The reader: the first device again, on its own counting connection.
    let counting = Arc::new(CountingTransport::new(server.open(sub).expect("open")));
    let reader = Room::open(counting.clone(), config(0)).expect("reader");
    reader.send("hello from 0").expect("send");
    reader.sync().expect("first sync");
    reader.sync().expect("second sync");
    (reader, counting)
}

struct Series {
    ms: Vec<f64>,
    counts: Vec<Counts>,
    commands: Vec<Option<u64>>,
}

fn poll(
    room: &Room,
    t: &CountingTransport<ftpchat_core::FtpTransport>,
    server: &FtpServer,
    s: &mut Series,
) {
    let before = t.counts();
    let mark = server.log_mark();
    let start = Instant::now();
    let update = room.sync().expect("poll");
    s.ms.push(start.elapsed().as_secs_f64() * 1000.0);
    // vsftpd writes its log asynchronously: give it a moment before counting.
    if server.counts_commands() {
        std::thread::sleep(Duration::from_millis(5));
    }
    s.commands.push(server.commands_since(mark));
    s.counts.push(t.counts().since(&before));
    assert!(update.messages.is_empty(), "an idle poll brings nothing");
}

fn main() {
    let args = Args::parse();
    let devices = args.num("devices", if args.quick { 4 } else { 20 }) as usize;
    let polls = args.num("polls", if args.quick { 5 } else { 201 }) as usize;
    let server = FtpServer::start(&args.server).unwrap_or_else(|e| {
        eprintln!("presence-poll: no FTP server: {e}");
        std::process::exit(1)
    });
    eprintln!("presence-poll: using {}, {devices} devices", server.name());
    let clock = Arc::new(Frozen(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    ));
    let (with, t_with) = build(&server, "present", devices, true, &clock);
    let (without, t_without) = build(&server, "absent", devices, false, &clock);
    let presence = with.presence().expect("presence");
    let online = presence
        .iter()
        .filter(|p| p.state == ftpchat_core::PresenceState::Online)
        .count();
    assert_eq!(online, devices, "every device is present");
    let empty = || Series {
        ms: Vec::new(),
        counts: Vec::new(),
        commands: Vec::new(),
    };
    let (mut a, mut b) = (empty(), empty());
    for i in 0..polls {
        // Alternate which goes first, so neither always polls right after the other.
        if i % 2 == 0 {
            poll(&with, &t_with, &server, &mut a);
            poll(&without, &t_without, &server, &mut b);
        } else {
            poll(&without, &t_without, &server, &mut b);
            poll(&with, &t_with, &server, &mut a);
        }
    }
    let row = |name: &str, s: &Series| {
        let sum = summarize(&s.ms);
        let c = s.counts.last().copied().unwrap_or_default();
        let cmds = s.commands.last().copied().flatten().map_or_else(
            || format!("~{}", c.ftp_commands_estimate()),
            |n| n.to_string(),
        );
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            fmt_ms(sum.median),
            fmt_ms(sum.p90),
            c.describe_calls(),
            c.entries_listed,
            cmds,
            c.bytes_read,
        )
    };
    let ratio = summarize(&a.ms).median / summarize(&b.ms).median;
    let mut out = format!(
        "## Presence: idle poll with {devices} present devices\n\n{}\nserver: {}; {polls} polls \
         of each room, alternating\n\n| room | median | p90 | calls | entries listed | FTP \
         cmds | payload bytes |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        machine(),
        server.name(),
    );
    out += &row(
        &format!("{devices} devices, {devices} state files (presence on)"),
        &a,
    );
    out += &row(
        &format!("{devices} devices, no state files (presence off)"),
        &b,
    );
    out += &format!("\nratio (median, on / off): **{ratio:.2}x** (target ≤ 1.5x)\n");
    emit(&args, &out);
}
