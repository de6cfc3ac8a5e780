//! Signed records (issue 14; SPEC §8.6, §9.4): what signing and verifying add to native
//! record encode and decode, measured in the same run. Issue criterion: at most 2x the
//! native (payload version 1) throughput.
//!
//! - `signed_encode/native_v1`: encode 100 version 1 records of one writer (zlib + Fernet);
//! - `signed_encode/signed_v2`: sign (Ed25519) and encode the same 100 records as one
//!   chained log (each `prev` the previous line's hash);
//! - `signed_decode/native_v1`: decode the 100 version 1 lines;
//! - `signed_decode/signed_v2_verify_last`: decode the 100 signed lines (decrypt, parse,
//!   writer-id derivation, line hash), check the chain links and verify **one** signature,
//!   the last record's: what a reader does per run of records (SPEC §9.4 step 4);
//! - `signed_decode/signed_v2_verify_each`: the same, verifying every signature (for
//!   information: what a reader without the chain rule would pay);
//! - `signed_decode/signed_v2_no_verify`: decoding alone;
//! - `signed_parts/*`: one record's Ed25519 signing (`SignedRecord::sign`, no encoding),
//!   signature check (`verify_signature`) and line hash, to explain the ratios.
//!
//! `cargo bench -p ftpchat-benches --bench signed`; under `cargo test --benches` each
//! benchmark runs once (the CI smoke pass).

#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ftpchat_benches::corpus::{self, RoomKeys};
use ftpchat_core::codec::{
    line_hash, ChainLink, FernetKey, Keyring, LineDecoder, LineEncoder, NativeRecord, Record,
    SignedRecord, WriterId,
};
use ftpchat_core::{DeviceIdentity, EpochSecret};

/// Records per run: one poll's worth of one log.
const RUN: usize = 100;
const EPOCH: u64 = 3;

struct Fixture {
    identity: DeviceIdentity,
    native_key: FernetKey,
    epoch_key: FernetKey,
    records: Vec<NativeRecord>,
    native_lines: Vec<String>,
    signed_lines: Vec<String>,
    keys: RoomKeys,
}

fn fixture() -> Fixture {
    let keys = RoomKeys::fixed(1);
    let texts = corpus::texts(RUN, 12);
    let mut rng = corpus::Rng::new(5);
    let writer = WriterId(rng.bytes16());
    let records = corpus::native_records(&texts, keys.room, &[writer], 1_795_000_000_000, &mut rng);
    let identity = DeviceIdentity::generate();
    let epoch_key = EpochSecret::generate().message_key(keys.room, EPOCH);
    let mut enc = LineEncoder::new();
    let native_lines = records
        .iter()
        .map(|r| enc.native(r, &keys.native))
        .collect();
    let (_, signed_lines) = sign_all(&records, &identity, &epoch_key, &mut enc);
    let mean = |lines: &Vec<String>| lines.iter().map(String::len).sum::<usize>() / lines.len();
    println!(
        "signed: mean line length {} bytes (version 1) vs {} bytes (signed), {RUN} records",
        mean(&native_lines),
        mean(&signed_lines)
    );
    Fixture {
        identity,
        native_key: keys.native.clone(),
        epoch_key,
        records,
        native_lines,
        signed_lines,
        keys,
    }
}

/// Signs and encodes `records` as one chained log.
fn sign_all(
    records: &[NativeRecord],
    identity: &DeviceIdentity,
    key: &FernetKey,
    enc: &mut LineEncoder,
) -> (Vec<SignedRecord>, Vec<String>) {
    let mut prev = [0u8; 32];
    let mut out = Vec::with_capacity(records.len());
    let mut lines = Vec::with_capacity(records.len());
    for r in records {
        let link = ChainLink {
            epoch: EPOCH,
            prev,
            generation: 0,
        };
        let mut s = SignedRecord::sign(r.clone(), link, identity);
        lines.push(enc.signed(&mut s, key));
        prev = s.hash();
        out.push(s);
    }
    (out, lines)
}

fn signed_decoder(f: &Fixture) -> LineDecoder {
    let mut d = LineDecoder::default();
    d.add_epoch_key(f.keys.room, EPOCH, f.epoch_key.clone());
    d
}

/// Decodes a run of signed lines and checks its chain; returns the records.
fn decode_run(dec: &mut LineDecoder, lines: &[String]) -> Vec<SignedRecord> {
    let mut tip = [0u8; 32];
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let Record::Signed(r) = dec.decode_line(l.as_bytes()).expect("decodes") else {
            panic!("not a signed record");
        };
        assert_eq!(r.prev, tip, "chain");
        tip = r.hash();
        out.push(*r);
    }
    out
}

fn encode(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("signed_encode");
    g.throughput(Throughput::Elements(RUN as u64));
    let mut enc = LineEncoder::new();
    g.bench_function("native_v1", |b| {
        b.iter(|| {
            for r in &f.records {
                black_box(enc.native(r, &f.native_key));
            }
        })
    });
    // Signing takes the record by value: the clones are made outside the timed part.
    g.bench_function("signed_v2", |b| {
        b.iter_batched(
            || f.records.clone(),
            |records| {
                let mut prev = [0u8; 32];
                for r in records {
                    let link = ChainLink {
                        epoch: EPOCH,
                        prev,
                        generation: 0,
                    };
                    let mut s = SignedRecord::sign(r, link, &f.identity);
                    black_box(enc.signed(&mut s, &f.epoch_key));
                    prev = s.hash();
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("signed_decode");
    g.throughput(Throughput::Elements(RUN as u64));
    let mut native = LineDecoder::new(Keyring {
        fernet: None,
        native: Some((f.native_key.clone(), f.keys.room)),
    });
    g.bench_function("native_v1", |b| {
        b.iter(|| {
            for l in &f.native_lines {
                black_box(native.decode_line(l.as_bytes()).expect("decodes"));
            }
        })
    });
    let mut dec = signed_decoder(&f);
    g.bench_function("signed_v2_verify_last", |b| {
        b.iter(|| {
            let run = decode_run(&mut dec, &f.signed_lines);
            run.last()
                .expect("a run")
                .verify_signature()
                .expect("verifies");
            black_box(run)
        })
    });
    g.bench_function("signed_v2_verify_each", |b| {
        b.iter(|| {
            let run = decode_run(&mut dec, &f.signed_lines);
            for r in &run {
                r.verify_signature().expect("verifies");
            }
            black_box(run)
        })
    });
    g.bench_function("signed_v2_no_verify", |b| {
        b.iter(|| black_box(decode_run(&mut dec, &f.signed_lines)))
    });
    g.finish();
}

fn parts(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("signed_parts");
    let record = f.records[1].clone();
    let link = ChainLink {
        epoch: EPOCH,
        prev: [7; 32],
        generation: 0,
    };
    g.bench_function("sign", |b| {
        b.iter_batched(
            || record.clone(),
            |r| black_box(SignedRecord::sign(r, link, &f.identity)),
            BatchSize::SmallInput,
        )
    });
    let run = decode_run(&mut signed_decoder(&f), &f.signed_lines);
    g.bench_function("verify_signature", |b| {
        b.iter(|| black_box(&run[1]).verify_signature().expect("verifies"))
    });
    let line = f.signed_lines[1].as_bytes();
    g.bench_function("line_hash", |b| {
        b.iter(|| black_box(line_hash(black_box(line))))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = encode, decode, parts
}
criterion_main!(benches);
