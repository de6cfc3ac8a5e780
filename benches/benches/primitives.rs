//! Where a codec's time goes: the FTPChat 1.6 line split into its steps (the outer standard
//! base64 layer, the token's base64url, HMAC, AES-CBC, inflate, UTF-8 + parse), each with the
//! primitives ftpchat-core uses, the inflaters we compared for decoding (real zlib, zlib-rs,
//! libdeflate, miniz_oxide), and zlib with a fresh stream per message against a reused one
//! (the per-call setup cost that PITFALLS.md warns about); and the whole `LineDecoder` per
//! line for 1.6 and 1.7. `cargo bench -p ftpchat-benches --bench primitives`.

#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use ftpchat_benches::corpus::{self, Codec, RoomKeys};
use ftpchat_core::codec::{CompatMessage, Keyring, LineDecoder};
use ftpchat_core::codec::{Deflater, Inflater};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn fernet16_steps(c: &mut Criterion) {
    let keys = RoomKeys::fixed(1);
    let lines = corpus::lines(Codec::Fernet16, 100, 31, &keys);
    let lines17 = corpus::lines(Codec::Fernet17, 100, 31, &keys);
    let raw_key = {
        // The key bytes, through the public base64 form.
        let b64 = keys.fernet.to_base64();
        URL_SAFE.decode(b64.as_bytes()).expect("key")
    };
    // A 1.6 line is standard base64 of the token's text; the token text is base64url.
    let token_texts: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| STANDARD.decode(l).expect("outer base64"))
        .collect();
    let tokens: Vec<Vec<u8>> = token_texts
        .iter()
        .map(|t| URL_SAFE.decode(t).expect("token"))
        .collect();
    let mut plain = Vec::new();
    let mut inflater = Inflater::new();
    let compressed: Vec<Vec<u8>> = tokens
        .iter()
        .map(|t| {
            let (signed, _) = t.split_at(t.len() - 32);
            let mut buf = signed[25..].to_vec();
            let dec =
                cbc::Decryptor::<aes::Aes128>::new(raw_key[16..].into(), signed[9..25].into());
            let n = dec
                .decrypt_padded_mut::<Pkcs7>(&mut buf)
                .expect("padding")
                .len();
            buf.truncate(n);
            buf
        })
        .collect();
    let texts: Vec<String> = compressed
        .iter()
        .map(|z| {
            inflater
                .decompress_into(z, 1 << 18, &mut plain)
                .expect("inflate");
            String::from_utf8(plain.clone()).expect("utf-8")
        })
        .collect();

    let mut g = c.benchmark_group("v16_decode_steps");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("0_outer_base64_standard", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for l in &lines {
                out.clear();
                STANDARD.decode_vec(l, &mut out).expect("b64");
                black_box(&out);
            }
        })
    });
    g.bench_function("1_base64url", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for t in &token_texts {
                out.clear();
                URL_SAFE.decode_vec(t, &mut out).expect("b64");
                black_box(&out);
            }
        })
    });
    g.bench_function("2_hmac_verify_keyed_per_call", |b| {
        b.iter(|| {
            for t in &tokens {
                let (signed, tag) = t.split_at(t.len() - 32);
                let mut mac = HmacSha256::new_from_slice(&raw_key[..16]).expect("key");
                mac.update(signed);
                mac.verify_slice(tag).expect("mac");
            }
        })
    });
    g.bench_function("2_hmac_verify_keyed_once", |b| {
        let keyed = HmacSha256::new_from_slice(&raw_key[..16]).expect("key");
        b.iter(|| {
            for t in &tokens {
                let (signed, tag) = t.split_at(t.len() - 32);
                let mut mac = keyed.clone();
                mac.update(signed);
                mac.verify_slice(tag).expect("mac");
            }
        })
    });
    g.bench_function("3_aes_cbc_decrypt", |b| {
        let mut buf = Vec::new();
        b.iter(|| {
            for t in &tokens {
                let signed = &t[..t.len() - 32];
                buf.clear();
                buf.extend_from_slice(&signed[25..]);
                let dec =
                    cbc::Decryptor::<aes::Aes128>::new(raw_key[16..].into(), signed[9..25].into());
                black_box(dec.decrypt_padded_mut::<Pkcs7>(&mut buf).expect("padding"));
            }
        })
    });
    // Inflaters for the decoding side (encoding must stay real zlib, byte-exact with
    // CPython). Each inflates every message into a reused buffer and checks the stream end.
    g.bench_function("4_inflate_zlib_reused", |b| {
        let mut d = Decompress::new(true);
        let mut out = vec![0u8; 4096];
        b.iter(|| {
            for z in &compressed {
                d.reset(true);
                let st = d
                    .decompress(z, &mut out, FlushDecompress::Finish)
                    .expect("inflate");
                assert_eq!(st, Status::StreamEnd);
                black_box(&out[..d.total_out() as usize]);
            }
        })
    });
    g.bench_function("4_inflate_zlib_fresh_stream", |b| {
        b.iter(|| {
            for z in &compressed {
                let mut d = Decompress::new(true);
                let mut out = Vec::with_capacity(512);
                d.decompress_vec(z, &mut out, FlushDecompress::Finish)
                    .expect("inflate");
                black_box(&out);
            }
        })
    });
    g.bench_function("4_inflate_zlib_rs_reused", |b| {
        let mut d = zlib_rs::Inflate::new(true, 15);
        let mut out = vec![0u8; 4096];
        b.iter(|| {
            for z in &compressed {
                d.reset(true);
                let st = d
                    .decompress(z, &mut out, zlib_rs::InflateFlush::Finish)
                    .expect("inflate");
                assert_eq!(st, zlib_rs::Status::StreamEnd);
                black_box(&out[..d.total_out() as usize]);
            }
        })
    });
    g.bench_function("4_inflate_zlib_rs_one_shot", |b| {
        let mut out = vec![0u8; 4096];
        b.iter(|| {
            for z in &compressed {
                let (got, rc) =
                    zlib_rs::decompress_slice(&mut out, z, zlib_rs::InflateConfig::default());
                assert_eq!(rc, zlib_rs::ReturnCode::Ok);
                black_box(got);
            }
        })
    });
    g.bench_function("4_inflate_libdeflate_reused", |b| {
        let mut d = libdeflater::Decompressor::new();
        let mut out = vec![0u8; 4096];
        b.iter(|| {
            for z in &compressed {
                let n = d.zlib_decompress(z, &mut out).expect("inflate");
                black_box(&out[..n]);
            }
        })
    });
    g.bench_function("4_inflate_fdeflate_fresh", |b| {
        b.iter(|| {
            for z in &compressed {
                black_box(
                    fdeflate::decompress_to_vec_bounded(z, 1 << 18)
                        .ok()
                        .expect("inflate"),
                );
            }
        })
    });
    g.bench_function("4_inflate_zune_inflate_fresh", |b| {
        b.iter(|| {
            for z in &compressed {
                let opts = zune_inflate::DeflateOptions::default().set_limit(1 << 18);
                black_box(
                    zune_inflate::DeflateDecoder::new_with_options(z, opts)
                        .decode_zlib()
                        .unwrap_or_else(|_| panic!("inflate")),
                );
            }
        })
    });
    g.bench_function("4_inflate_miniz_oxide_reused", |b| {
        use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
        let mut state = Box::new(DecompressorOxide::new());
        let mut out = vec![0u8; 1 << 12];
        b.iter(|| {
            for z in &compressed {
                state.init();
                let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
                    | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
                    | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32;
                let (status, _, n) = decompress(&mut state, z, &mut out, 0, flags);
                assert_eq!(status, miniz_oxide::inflate::TINFLStatus::Done);
                black_box(&out[..n]);
            }
        })
    });
    g.bench_function("4_inflate_ftpchat_inflater", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for z in &compressed {
                inflater
                    .decompress_into(z, 1 << 18, &mut out)
                    .expect("inflate");
                black_box(&out);
            }
        })
    });
    g.bench_function("5_utf8_and_parse", |b| {
        b.iter(|| {
            for t in &texts {
                let s = std::str::from_utf8(t.as_bytes()).expect("utf-8");
                black_box(CompatMessage::parse(s));
            }
        })
    });
    // The whole decoder, per line (what the steps above add up to).
    let mut dec = LineDecoder::new(Keyring {
        fernet: Some(keys.fernet.clone()),
        native: None,
    });
    g.bench_function("6_line_decoder_v16", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(dec.decode_line(l.as_bytes()).expect("decodes"));
            }
        })
    });
    g.bench_function("6_line_decoder_v17", |b| {
        b.iter(|| {
            for l in &lines17 {
                black_box(dec.decode_line(l.as_bytes()).expect("decodes"));
            }
        })
    });
    g.finish();

    let plaintexts: Vec<String> = corpus::compat_messages(&corpus::texts(100, 32))
        .iter()
        .map(CompatMessage::to_plaintext)
        .collect();
    let mut g = c.benchmark_group("v16_encode_steps");
    g.throughput(Throughput::Elements(plaintexts.len() as u64));
    g.bench_function("1_zlib_deflate_reused", |b| {
        let mut d = Deflater::new();
        let mut out = Vec::new();
        b.iter(|| {
            for p in &plaintexts {
                out.clear();
                d.compress_into(p.as_bytes(), &mut out);
                black_box(&out);
            }
        })
    });
    g.bench_function("1_zlib_deflate_fresh_stream", |b| {
        b.iter(|| {
            for p in &plaintexts {
                let mut z = Compress::new(Compression::new(6), true);
                let mut out = Vec::with_capacity(256);
                z.compress_vec(p.as_bytes(), &mut out, FlushCompress::Finish)
                    .expect("deflate");
                black_box(&out);
            }
        })
    });
    g.bench_function("2_random_iv", |b| {
        b.iter(|| {
            for _ in &plaintexts {
                black_box(ftpchat_core::codec::random_bytes::<16>());
            }
        })
    });
    g.bench_function("3_aes_cbc_encrypt", |b| {
        let mut buf = vec![0u8; 256];
        b.iter(|| {
            for p in &compressed {
                buf[..p.len()].copy_from_slice(p);
                let enc =
                    cbc::Encryptor::<aes::Aes128>::new(raw_key[16..].into(), (&[7u8; 16]).into());
                black_box(
                    enc.encrypt_padded_mut::<Pkcs7>(&mut buf, p.len())
                        .expect("room"),
                );
            }
        })
    });
    g.bench_function("4_hmac_sign", |b| {
        let keyed = HmacSha256::new_from_slice(&raw_key[..16]).expect("key");
        b.iter(|| {
            for t in &tokens {
                let mut mac = keyed.clone();
                mac.update(&t[..t.len() - 32]);
                black_box(mac.finalize());
            }
        })
    });
    g.bench_function("5_base64url", |b| {
        b.iter(|| {
            for t in &tokens {
                black_box(URL_SAFE.encode(t));
            }
        })
    });
    g.bench_function("6_outer_base64_standard", |b| {
        b.iter(|| {
            for t in &token_texts {
                black_box(STANDARD.encode(t));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, fernet16_steps);
criterion_main!(benches);
