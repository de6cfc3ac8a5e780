//! Where a codec's time goes: the FTPChat 1.6 line split into its steps (base64, HMAC,
//! AES-CBC, zlib, UTF-8 + parse), each with the primitives ftpchat-core uses, and zlib
//! with a fresh stream per message against a reused one (the per-call setup cost that
//! PITFALLS.md warns about). `cargo bench -p ftpchat-benches --bench primitives`.

#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use ftpchat_benches::corpus::{self, Codec, RoomKeys};
use ftpchat_core::crypto::{Deflater, Inflater};
use ftpchat_core::format::CompatMessage;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn fernet16_steps(c: &mut Criterion) {
    let keys = RoomKeys::fixed(1);
    let lines = corpus::lines(Codec::Fernet16, 100, 31, &keys);
    let raw_key = {
        // The key bytes, through the public base64 form.
        let b64 = keys.fernet.to_base64();
        base64::engine::general_purpose::URL_SAFE
            .decode(b64.as_bytes())
            .expect("key")
    };
    let tokens: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| {
            base64::engine::general_purpose::URL_SAFE
                .decode(l)
                .expect("token")
        })
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
    g.bench_function("1_base64", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for l in &lines {
                out.clear();
                base64::engine::general_purpose::URL_SAFE
                    .decode_vec(l, &mut out)
                    .expect("b64");
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
    g.bench_function("4_zlib_inflate_reused", |b| {
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
    g.bench_function("4_zlib_inflate_fresh_stream", |b| {
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
    g.bench_function("4_zlib_inflate_miniz_oxide_reused", |b| {
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
    g.bench_function("5_utf8_and_parse", |b| {
        b.iter(|| {
            for t in &texts {
                let s = std::str::from_utf8(t.as_bytes()).expect("utf-8");
                black_box(CompatMessage::parse(s));
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
    g.bench_function("1_zlib_deflate_miniz_oxide_reused", |b| {
        use miniz_oxide::deflate::core::{
            compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
        };
        let mut c = Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
            6, 15, 0,
        )));
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            for p in &plaintexts {
                c.reset();
                out.clear();
                let (status, _) =
                    compress_to_output(&mut c, p.as_bytes(), TDEFLFlush::Finish, |chunk| {
                        out.extend_from_slice(chunk);
                        true
                    });
                assert_eq!(status, miniz_oxide::deflate::core::TDEFLStatus::Done);
                black_box(&out);
            }
        })
    });
    g.bench_function("2_random_iv", |b| {
        b.iter(|| {
            for _ in &plaintexts {
                black_box(ftpchat_core::crypto::random_bytes::<16>());
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
        b.iter(|| {
            for t in &tokens {
                let mut mac = HmacSha256::new_from_slice(&raw_key[..16]).expect("key");
                mac.update(&t[..t.len() - 32]);
                black_box(mac.finalize());
            }
        })
    });
    g.bench_function("5_base64", |b| {
        b.iter(|| {
            for t in &tokens {
                black_box(base64::engine::general_purpose::URL_SAFE.encode(t));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, fernet16_steps);
criterion_main!(benches);
