//! Codec throughput (issue 8, bench 1), Rust side: decode and encode of ~80-byte messages
//! for each codec, a whole 10,000-line file, key derivation, and a room's first sync of a
//! 10,000-message file. The Python baselines of the same run come from the
//! `codec-throughput` harness (`cargo run --release -p ftpchat-benches --bin codec-throughput`).
//!
//! `cargo bench -p ftpchat-benches --bench codecs`; under `cargo test --benches` each
//! benchmark runs once on small inputs (the CI smoke pass).

#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ftpchat_benches::corpus::{self, Codec, RoomKeys};
use ftpchat_core::codec::{derive_key, KdfParams};
use ftpchat_core::codec::{Keyring, LineDecoder, LineEncoder};
use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::{RemotePath, Transport};
use ftpchat_core::{Room, RoomConfig, WriteCodec};

/// `cargo bench` passes `--bench`; anything else (cargo test --benches) is a smoke run.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn decoder(keys: &RoomKeys) -> LineDecoder {
    LineDecoder::new(Keyring {
        fernet: Some(keys.fernet.clone()),
        native: Some((keys.native.clone(), keys.room)),
    })
}

fn per_message(c: &mut Criterion) {
    let keys = RoomKeys::fixed(1);
    let batch = 100;
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(batch as u64));
    for codec in Codec::ALL {
        let lines = corpus::lines(codec, batch, 11, &keys);
        let mut dec = decoder(&keys);
        g.bench_function(codec.tag(), |b| {
            b.iter(|| {
                for l in &lines {
                    black_box(dec.decode_line(l.as_bytes()).expect("decodes"));
                }
            })
        });
    }
    g.finish();

    let texts = corpus::texts(batch, 12);
    let compat = corpus::compat_messages(&texts);
    let mut rng = corpus::Rng::new(5);
    let writer = ftpchat_core::codec::WriterId(rng.bytes16());
    let records = corpus::native_records(&texts, keys.room, &[writer], 1_795_000_000_000, &mut rng);
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(batch as u64));
    let mut enc = LineEncoder::new();
    g.bench_function("v15", |b| {
        b.iter(|| {
            for m in &compat {
                black_box(enc.legacy15(m));
            }
        })
    });
    g.bench_function("v16", |b| {
        b.iter(|| {
            for m in &compat {
                black_box(enc.fernet16(m, &keys.fernet, 1_795_000_000));
            }
        })
    });
    g.bench_function("v17", |b| {
        b.iter(|| {
            for m in &compat {
                black_box(enc.fernet17(m, &keys.fernet, 1_795_000_000));
            }
        })
    });
    g.bench_function("native", |b| {
        b.iter(|| {
            for r in &records {
                black_box(enc.native(r, &keys.native));
            }
        })
    });
    g.finish();
}

fn whole_file(c: &mut Criterion) {
    let keys = RoomKeys::fixed(1);
    let n = if full() { 10_000 } else { 200 };
    let mut g = c.benchmark_group("file_10k");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    for codec in Codec::ALL {
        let file = corpus::file_of(&corpus::lines(codec, n, 21, &keys));
        let mut dec = decoder(&keys);
        g.bench_function(codec.tag(), |b| {
            b.iter(|| {
                let out = dec.decode_bytes(&file, 0);
                assert_eq!(out.records.len(), n);
                black_box(out)
            })
        });
    }
    // The whole room path: open (key given, no PBKDF2) and first sync of a shared file.
    for (codec, tag) in [
        (WriteCodec::Fernet16, "room_first_sync_v16"),
        (WriteCodec::Legacy15, "room_first_sync_v15"),
    ] {
        let lines = corpus::lines(
            if codec == WriteCodec::Fernet16 {
                Codec::Fernet16
            } else {
                Codec::Legacy15
            },
            n,
            22,
            &keys,
        );
        let store = MemoryTransport::new();
        store
            .write_atomic(
                &RemotePath::new("chat.txt").expect("path"),
                &corpus::file_of(&lines),
            )
            .expect("write");
        g.bench_function(tag, |b| {
            b.iter_batched(
                || {
                    let config = RoomConfig::shared_file("chat.txt", codec, "bench")
                        .with_key(keys.fernet.clone());
                    Room::open(Arc::new(store.clone()), config).expect("open")
                },
                |room| {
                    let update = room.sync().expect("sync");
                    assert_eq!(update.messages.len(), n);
                    update
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn kdf(c: &mut Criterion) {
    let mut g = c.benchmark_group("kdf");
    g.sample_size(10);
    let iterations: &[u64] = if full() {
        &[100_000, 600_000]
    } else {
        &[1_000]
    };
    for &it in iterations {
        let params = KdfParams::new(b"ftpchat".to_vec(), it).expect("params");
        g.bench_function(format!("pbkdf2_{it}"), |b| {
            b.iter(|| black_box(derive_key(corpus::PASSWORD, &params)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = per_message, whole_file, kdf
}
criterion_main!(benches);
