//! The room's merge/sync state machine (SPEC.md §2 item 7, §9.2, §10) over arbitrary
//! log contents: valid records, replays within and across logs, records of another room
//! or another key, torn lines, CRLF, and garbage, written to several logs in arbitrary
//! increments between syncs, with every transfer delivered in arbitrary chunks. A reader
//! that synced along the way must end with exactly the timeline and the problem reports of
//! a reader that opens afterwards and reads every log whole; nothing is lost, duplicated or
//! forged, and an append-only log is never reported as replaced.
#![no_main]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{split_input, Rng};
use ftpchat_core::codec::FernetKey;
use ftpchat_core::codec::{
    Hlc, LineEncoder, NativeRecord, RecordBody, RecordId, RoomHeader, RoomId, WriterId,
};
use ftpchat_core::{Room, RoomConfig, RoomEvent};
use ftpchat_core::testing::{read_all, MemoryTransport};
use ftpchat_core::{
    Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
};
use libfuzzer_sys::fuzz_target;

/// Hands every read to the sink in arbitrary pieces, and while `cuts` is on, cuts some
/// reads short with a transient error (a dropped connection): the room must keep the lines
/// delivered before the cut (hostile_input.rs, `a_sync_cut_mid_read_loses_nothing_*`).
#[derive(Debug)]
struct Chunked {
    inner: MemoryTransport,
    rng: Mutex<u64>,
    cuts: std::sync::atomic::AtomicBool,
}

impl Transport for Chunked {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        self.inner.size(path)
    }
    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        let mut all = Vec::new();
        let n = self.inner.read_from(path, offset, &mut all)?;
        let mut state = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let mut rng = Rng::new(*state);
        *state = rng.next();
        let cut = self.cuts.load(std::sync::atomic::Ordering::SeqCst) && rng.chance(6);
        let mut rest = &all[..];
        while !rest.is_empty() {
            if cut && rng.chance(3) {
                return Err(TransportError::new(
                    TransportErrorKind::Transient,
                    "read_from",
                    "connection lost (fuzz)",
                ));
            }
            let take = 1 + rng.upto(rest.len().min(97) - 1);
            sink.write_all(&rest[..take])
                .map_err(|e| TransportError::from_io("read_from", "sink", e))?;
            rest = &rest[take..];
        }
        Ok(n)
    }
    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.inner.append(path, data)
    }
    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.inner.write_atomic(path, data)
    }
    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        self.inner.list(dir)
    }
    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.make_dir(path)
    }
    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.remove_file(path)
    }
    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.remove_dir(path)
    }
    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.inner.rename(from, to)
    }
}

const WRITERS: [WriterId; 3] = [WriterId([1; 16]), WriterId([2; 16]), WriterId([0xab; 16])];

fn config(name: &str, key: &FernetKey) -> RoomConfig {
    RoomConfig::native("r", name, "unused").with_key(key.clone())
}

/// Problem reports, sorted, as comparable tuples.
fn problems(events: &[RoomEvent]) -> Vec<(String, u64, String)> {
    let mut out: Vec<(String, u64, String)> = events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::UndecodableLine {
                file,
                offset,
                error,
                ..
            } => Some((file.clone(), *offset, format!("{error:?}"))),
            RoomEvent::ForeignRecord { file, offset } => {
                Some((file.clone(), *offset, "foreign writer".to_owned()))
            }
            RoomEvent::FileReplaced { file } => panic!("append-only log {file} seen as replaced"),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fuzz_target!(|input: &[u8]| {
    let (data, mut rng) = split_input(input);
    let key = FernetKey::from_bytes(&[7; 32]);
    let store = MemoryTransport::new();
    let plain: Arc<dyn Transport> = Arc::new(store.clone());
    Room::open(plain.clone(), config("creator", &key)).expect("create the room");
    let header_path = RemotePath::new("r/room.ftpchat").expect("path");
    let header = RoomHeader::parse(&read_all(plain.as_ref(), &header_path).expect("header"))
        .expect("parse header");
    let room = header.room_id;
    let other_key = FernetKey::from_bytes(&[8; 32]);

    // The final content of each log, built from the fuzz input.
    let mut logs: Vec<Vec<u8>> = vec![Vec::new(); WRITERS.len()];
    let mut lines: Vec<String> = Vec::new();
    let mut encoder = LineEncoder::new();
    let mut seq = 0u64;
    let mut bytes = data.iter().copied();
    let mut n_ops = 0;
    while let Some(op) = bytes.next() {
        n_ops += 1;
        if n_ops > 48 {
            break;
        }
        let log = usize::from(op >> 3) % WRITERS.len();
        let eol: &[u8] = if op & 0x80 != 0 { b"\r\n" } else { b"\n" };
        let mut record = |writer: WriterId, room: RoomId, rng: &mut Rng| {
            seq += 1;
            NativeRecord {
                id: RecordId((rng.next() as u128 ^ (u128::from(seq) << 64)).to_le_bytes()),
                room,
                writer,
                seq,
                hlc: Hlc(rng.next() % 8),
                sender: format!("s{}", rng.upto(3)),
                body: if rng.chance(8) {
                    RecordBody::Other {
                        kind: 4,
                        data: vec![1, 2],
                    }
                } else {
                    RecordBody::Text(format!("m{seq}"))
                },
            }
        };
        let line: Vec<u8> = match op % 8 {
            // A record in its writer's log, sometimes in another writer's (foreign).
            0..=2 => {
                let writer = if rng.chance(6) {
                    WRITERS[rng.upto(WRITERS.len() - 1)]
                } else {
                    WRITERS[log]
                };
                let line = encoder.native(&record(writer, room, &mut rng), &key);
                lines.push(line.clone());
                [line.as_bytes(), eol].concat()
            }
            // A replay of an earlier line, anywhere.
            3 if !lines.is_empty() => {
                let line = &lines[rng.upto(lines.len() - 1)];
                [line.as_bytes(), eol].concat()
            }
            // A record of another room under the same key.
            4 => {
                let mut other = room;
                other.0[15] ^= 0x55;
                let line = encoder.native(&record(WRITERS[log], other, &mut rng), &key);
                [line.as_bytes(), eol].concat()
            }
            // A record under another key (a wrong password, or forged).
            5 => {
                let line = encoder.native(&record(WRITERS[log], room, &mut rng), &other_key);
                [line.as_bytes(), eol].concat()
            }
            // A torn line: a prefix of a record, then the line ends.
            6 => {
                let line = encoder.native(&record(WRITERS[log], room, &mut rng), &key);
                let cut = rng.upto(line.len());
                [&line.as_bytes()[..cut], eol].concat()
            }
            // Raw bytes from the input (may hold LF, CR, NUL, anything).
            _ => {
                let n = usize::from(bytes.next().unwrap_or(0) % 16);
                bytes.by_ref().take(n).collect()
            }
        };
        logs[log].extend_from_slice(&line);
    }

    // Grow the logs in arbitrary increments, syncing a reader in between.
    let chunked = Arc::new(Chunked {
        inner: store.clone(),
        rng: Mutex::new(rng.next()),
        cuts: std::sync::atomic::AtomicBool::new(false),
    });
    let t: Arc<dyn Transport> = chunked.clone();
    let incremental = Room::open(t, config("incremental", &key)).expect("open");
    chunked
        .cuts
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let paths: Vec<RemotePath> = WRITERS
        .iter()
        .map(|w| RemotePath::new(&format!("r/logs/{}.log", w.to_hex())).expect("path"))
        .collect();
    let mut written = vec![0usize; logs.len()];
    let mut events = Vec::new();
    for _ in 0..64 {
        if written.iter().zip(&logs).all(|(w, l)| *w == l.len()) {
            break;
        }
        let i = rng.upto(logs.len() - 1);
        let n = rng.upto(logs[i].len() - written[i]);
        if n > 0 {
            store
                .append(&paths[i], &logs[i][written[i]..written[i] + n])
                .expect("append");
            written[i] += n;
        }
        if rng.chance(2) {
            match incremental.sync() {
                Ok(update) => events.extend(update.events),
                // A cut read: what it delivered must come with a later sync.
                Err(e) => assert!(e.is_transient(), "{e}"),
            }
        }
    }
    for i in 0..logs.len() {
        if written[i] < logs[i].len() {
            store
                .append(&paths[i], &logs[i][written[i]..])
                .expect("append");
        }
    }
    chunked
        .cuts
        .store(false, std::sync::atomic::Ordering::SeqCst);
    events.extend(incremental.sync().expect("sync").events);
    assert!(
        incremental.sync().expect("sync").is_empty(),
        "a quiet sync reports nothing"
    );

    let fresh = Room::open(plain, config("fresh", &key)).expect("open");
    let fresh_events = fresh.sync().expect("sync").events;

    let view = |room: &Room| {
        room.history(None, usize::MAX)
            .expect("history")
            .into_iter()
            .map(|m| (m.id, m.sender, m.text, m.timestamp_ms))
            .collect::<Vec<_>>()
    };
    let got = view(&incremental);
    assert_eq!(got, view(&fresh), "incremental and whole reads differ");
    assert_eq!(problems(&events), problems(&fresh_events));
    // Nothing forged: every message shown is a text record of this room, under this key.
    let mut ids: Vec<_> = got.iter().map(|m| m.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "a message is shown twice");
});
