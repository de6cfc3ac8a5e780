//! The CPU side of a poll (issue 8, bench 2 without the network): an idle poll and a poll
//! that finds 10 new messages, against histories of 1,000 / 10,000 / 100,000 messages in
//! an in-memory store, for a shared FTPChat 1.6 file and a native room. The FTP version with
//! round trips and bytes is the `poll-cost` harness.
//! `cargo bench -p ftpchat-benches --bench poll_memory`.

#![allow(missing_docs, clippy::expect_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ftpchat_benches::corpus::{self, Codec, RoomKeys};
use ftpchat_core::codec::{Hlc, LineEncoder, NativeRecord, RecordBody, RecordId, WriterId};
use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::{RemotePath, Transport};
use ftpchat_core::{Room, RoomConfig, WriteCodec};

fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A store holding a shared 1.6 file of `n` messages, and the room reading it (synced).
fn shared(n: usize, keys: &RoomKeys) -> (MemoryTransport, Room) {
    let store = MemoryTransport::new();
    let lines = corpus::lines(Codec::Fernet16, n, 41, keys);
    store
        .write_atomic(&path("chat.txt"), &corpus::file_of(&lines))
        .expect("write");
    let room = Room::open(
        Arc::new(store.clone()),
        RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, "reader")
            .with_key(keys.fernet.clone()),
    )
    .expect("open");
    assert_eq!(room.sync().expect("sync").messages.len(), n);
    (store, room)
}

/// A store holding a native room of `n` messages in 4 logs, and a reader (synced).
fn native(n: usize, keys: &RoomKeys) -> (MemoryTransport, Room) {
    let store = MemoryTransport::new();
    store
        .make_dir(&path("room"))
        .and_then(|()| store.make_dir(&path("room/logs")))
        .expect("dirs");
    store
        .write_atomic(
            &path("room/room.ftpchat"),
            keys.header(1_795_000_000).as_bytes(),
        )
        .expect("header");
    for (name, bytes) in corpus::native_logs(n, 4, 42, keys) {
        store
            .write_atomic(&path(&format!("room/logs/{name}")), &bytes)
            .expect("log");
    }
    let room = Room::open(
        Arc::new(store.clone()),
        RoomConfig::native("room", "reader", "unused").with_key(keys.native.clone()),
    )
    .expect("open");
    assert_eq!(room.sync().expect("sync").messages.len(), n);
    (store, room)
}

fn path(p: &str) -> RemotePath {
    RemotePath::new(p).expect("path")
}

fn polls(c: &mut Criterion) {
    let keys = RoomKeys::fixed(2);
    let sizes: &[usize] = if full() {
        &[1_000, 10_000, 100_000]
    } else {
        &[100]
    };
    let mut g = c.benchmark_group("poll_memory");
    for &n in sizes {
        let (store, room) = shared(n, &keys);
        g.bench_function(format!("shared_v16_idle/{n}"), |b| {
            b.iter(|| assert!(room.sync().expect("sync").messages.is_empty()))
        });
        // Fresh lines each time: identical lines would be taken for the same messages.
        let mut seed = 43;
        g.bench_function(format!("shared_v16_10_new/{n}"), |b| {
            b.iter_batched(
                || {
                    seed += 1;
                    let ten = corpus::file_of(&corpus::lines(Codec::Fernet16, 10, seed, &keys));
                    store.append(&path("chat.txt"), &ten).expect("append")
                },
                |()| assert_eq!(room.sync().expect("sync").messages.len(), 10),
                BatchSize::PerIteration,
            )
        });

        let (store, room) = native(n, &keys);
        g.bench_function(format!("native_idle/{n}"), |b| {
            b.iter(|| assert!(room.sync().expect("sync").messages.is_empty()))
        });
        // 10 new records each time, from one more writer whose log grows.
        let mut rng = corpus::Rng::new(44);
        let mut enc = LineEncoder::new();
        let writer = WriterId(rng.bytes16());
        let log = path(&format!("room/logs/{}.log", writer.to_hex()));
        let mut seq = 0u64;
        g.bench_function(format!("native_10_new/{n}"), |b| {
            b.iter_batched(
                || {
                    let mut data = Vec::new();
                    for text in corpus::texts(10, rng.next_u64()) {
                        seq += 1;
                        let record = NativeRecord {
                            id: RecordId(rng.bytes16()),
                            room: keys.room,
                            writer,
                            seq,
                            hlc: Hlc::new(1_796_000_000_000 + seq * 1000, 0),
                            sender: "eve".into(),
                            body: RecordBody::Text(text),
                        };
                        data.extend_from_slice(enc.native(&record, &keys.native).as_bytes());
                        data.push(b'\n');
                    }
                    store.append(&log, &data).expect("append");
                },
                |()| assert_eq!(room.sync().expect("sync").messages.len(), 10),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, polls);
criterion_main!(benches);
