//! Signed records (SPEC §8.6, vectors §8.7): the vectors in
//! `testdata/signed-records-v1.json` both ways (forward: the fixed inputs encode to the
//! published lines byte for byte; backward: every published field is checked from the file
//! alone), the chains they form, and the refused lines (each with its typed error).
//! `ftpchat-py/tests/test_signed_vectors.py` re-derives the same file with Python's
//! `cryptography`, `hashlib` and `zlib`.
//!
//! Regenerate the vectors (only when the format changes on purpose, with a SPEC change):
//! `FTPCHAT_WRITE_SIGNED_VECTORS=1 cargo test -p ftpchat-core --test signed_records`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/vector_inputs.rs"]
mod vector_inputs;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use vector_inputs::{epochs, identities, message_key, room, seeds};

use ftpchat_core::codec::signed::{
    RECORD_HASH_CONTEXT, RECORD_SIGNATURE_CONTEXT, SIGNED_PAYLOAD_VERSION, WRITER_ID_CONTEXT,
};
use ftpchat_core::codec::{
    derive_writer_id, line_hash, ChainLink, DecodeError, Deflater, EpochKeys, FernetKey, Hlc,
    Inflater, Keyring, LineDecoder, NativeRecord, Record, RecordBody, RecordId, RoomId,
    SignatureError, SignedRecord, WriterId,
};
use ftpchat_core::{DeviceIdentity, EpochSecret, PublicIdentity};
use serde_json::{json, Value};

const VECTORS: &str = "signed-records-v1.json";
const IDENTITY_VECTORS: &str = "identity-v1.json";

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name)
}

fn read_json(name: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(testdata(name)).unwrap()).unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k} in {v}"))
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("field {k} in {v}"))
}

fn hx(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(s(v, k)).unwrap()
}

fn h32(v: &Value, k: &str) -> [u8; 32] {
    hx(v, k).try_into().unwrap()
}

fn h16(v: &Value, k: &str) -> [u8; 16] {
    hx(v, k).try_into().unwrap()
}

// ---- Fixed inputs -------------------------------------------------------------------

/// 2026-12-05 11:00:00 UTC.
const T0_MS: u64 = 1_796_468_400_000;

/// One published record: who signs, its chain link (the previous case in its log, by
/// index) and the record itself (its writer id is derived when signing).
struct Case {
    name: &'static str,
    signer: usize,
    epoch: u64,
    generation: u64,
    prev: Option<usize>,
    iv: [u8; 16],
    record: NativeRecord,
}

fn record(i: u8, seq: u64, sender: &str, body: RecordBody) -> NativeRecord {
    NativeRecord {
        id: RecordId(std::array::from_fn(|j| (0xa0 + 0x10 * i) | j as u8)),
        room: room(),
        writer: WriterId::default(),
        seq,
        hlc: Hlc::new(T0_MS + 1500 * u64::from(i), u16::from(i)),
        sender: sender.into(),
        body,
    }
}

fn text(t: &str) -> RecordBody {
    RecordBody::Text(t.into())
}

fn cases() -> Vec<Case> {
    let case = |name, signer, epoch, generation, prev, i: u8, record| Case {
        name,
        signer,
        epoch,
        generation,
        prev,
        iv: [0x10 + i; 16],
        record,
    };
    vec![
        case(
            "alice-g0-seq1",
            0,
            1,
            0,
            None,
            0,
            record(
                0,
                1,
                "Alice",
                text("Hello, members! This record is signed."),
            ),
        ),
        case(
            "alice-g0-seq2-compressed",
            0,
            1,
            0,
            Some(0),
            1,
            record(
                1,
                2,
                "Alice",
                text(&("signed and chained, ".repeat(24) + "end.")),
            ),
        ),
        case(
            "alice-g0-seq3",
            0,
            1,
            0,
            Some(1),
            2,
            record(2, 3, "Alice", text("third in the chain")),
        ),
        case(
            "alice-g1-seq1",
            0,
            1,
            1,
            None,
            3,
            record(
                3,
                1,
                "Alice",
                text("generation 1: a new log after a writer-id conflict"),
            ),
        ),
        case(
            "alice-g1-seq2-opaque-kind",
            0,
            1,
            1,
            Some(3),
            4,
            record(
                4,
                2,
                "Alice",
                RecordBody::Other {
                    kind: 9999,
                    data: b"\x00\xffopaque, not UTF-8".to_vec(),
                },
            ),
        ),
        case(
            "bob-g0-seq1-epoch300",
            1,
            300,
            0,
            None,
            5,
            record(5, 1, "Bob \u{b7} \u{2713}", text("Bob writes at epoch 300")),
        ),
    ]
}

// ---- Helpers over raw payloads ------------------------------------------------------

/// The token of a signed line (after `ftc3:<epoch>:`).
fn token_of(line: &str) -> &str {
    let rest = line.strip_prefix("ftc3:").unwrap();
    &rest[rest.find(':').unwrap() + 1..]
}

/// Decrypts a signed line with `key` and returns (compressed?, fields).
fn open(line: &str, key: &FernetKey) -> (bool, Vec<u8>) {
    let payload = key.decrypt(token_of(line).as_bytes()).unwrap().plaintext;
    assert_eq!(payload[0], SIGNED_PAYLOAD_VERSION);
    let compressed = payload[1] & 1 == 1;
    let fields = if compressed {
        Inflater::new().decompress(&payload[2..], 1 << 20).unwrap()
    } else {
        payload[2..].to_vec()
    };
    (compressed, fields)
}

/// Splits full fields into (the signed part, the signature): the signature field is last,
/// tag 15, length 64.
fn split_signature(fields: &[u8]) -> (&[u8], [u8; 64]) {
    let at = fields.len() - 66;
    assert_eq!(&fields[at..at + 2], &[15, 64]);
    (&fields[..at], fields[at + 2..].try_into().unwrap())
}

fn signed_message(signed_part: &[u8]) -> Vec<u8> {
    [RECORD_SIGNATURE_CONTEXT, &[0], signed_part].concat()
}

/// `fields` with the signature field of `signer` over them appended.
fn sign_fields(mut fields: Vec<u8>, signer: &DeviceIdentity) -> Vec<u8> {
    let sig = signer.sign(&signed_message(&fields));
    fields.extend_from_slice(&[15, 64]);
    fields.extend_from_slice(&sig);
    fields
}

/// An uncompressed payload of version `version` sealed under `key` as `ftc3:<epoch_text>:`.
fn seal(key: &FernetKey, epoch_text: &str, version: u8, fields: &[u8], case: &Case) -> String {
    let payload = [&[version, 0][..], fields].concat();
    let t = case.record.hlc.wall_ms() / 1000;
    format!(
        "ftc3:{epoch_text}:{}",
        key.encrypt_with_iv(&payload, t, case.iv)
    )
}

/// Where the value of the (first) field `tag` lies in `fields`.
fn field_range(fields: &[u8], tag: u8) -> std::ops::Range<usize> {
    let mut i = 0;
    while i < fields.len() {
        // Only used on short records: every tag and length is one byte.
        let (t, len) = (fields[i], fields[i + 1] as usize);
        assert!(
            t < 0x80 && len < 0x80,
            "field_range only walks short fields"
        );
        if t == tag {
            return i + 2..i + 2 + len;
        }
        i += 2 + len;
    }
    panic!("no field {tag}");
}

fn body_bytes(body: &RecordBody) -> Vec<u8> {
    body.encode()
}

fn keys_json(list: &[(u64, &FernetKey)]) -> Value {
    list.iter()
        .map(|(e, k)| json!({"epoch": e, "message_key": k.to_base64().as_str()}))
        .collect()
}

// ---- The vectors ----------------------------------------------------------------------

/// The vectors as this implementation computes them from the fixed inputs.
fn compute_vectors() -> Value {
    let ids = identities();
    let room = room();
    let mut deflater = Deflater::new();
    let cases = cases();
    let mut lines: Vec<String> = Vec::new();
    let mut hashes: Vec<[u8; 32]> = Vec::new();
    let mut records = Vec::new();
    for c in &cases {
        let (name, id) = &ids[c.signer];
        let key = message_key(c.epoch);
        let link = ChainLink {
            epoch: c.epoch,
            prev: c.prev.map_or([0; 32], |j| hashes[j]),
            generation: c.generation,
        };
        let mut signed = SignedRecord::sign(c.record.clone(), link, id);
        let line = signed.encode_line_with_iv(&key, c.iv, &mut deflater);
        assert_eq!(signed.hash(), line_hash(line.as_bytes()));
        let (compressed, fields) = open(&line, &key);
        let (signed_part, signature) = split_signature(&fields);
        let secret = epochs().into_iter().find(|(e, _)| *e == c.epoch).unwrap().1;
        records.push(json!({
            "name": c.name,
            "signer": name,
            "epoch": c.epoch,
            "epoch_secret_hex": hex::encode(secret),
            "message_key": key.to_base64().as_str(),
            "room_id": room.to_hex(),
            "record_id": c.record.id.to_hex(),
            "writer_id": signed.record.writer.to_hex(),
            "generation": c.generation,
            "seq": c.record.seq,
            "hlc": c.record.hlc.0,
            "timestamp": c.record.hlc.wall_ms() / 1000,
            "sender": c.record.sender,
            "kind": c.record.body.kind_code(),
            "body_hex": hex::encode(body_bytes(&c.record.body)),
            "prev_hex": hex::encode(link.prev),
            "device_hex": hex::encode(signed.device),
            "iv_hex": hex::encode(c.iv),
            "compressed": compressed,
            "signed_message_hex": hex::encode(signed_message(signed_part)),
            "signature_hex": hex::encode(signature),
            "line": line,
            "line_hash_hex": hex::encode(signed.hash()),
        }));
        hashes.push(signed.hash());
        lines.push(line);
    }

    // Refused lines, each with the keys its decoder holds and the typed outcome.
    let (k1, k300) = (message_key(1), message_key(300));
    let all_keys = keys_json(&[(1, &k1), (300, &k300)]);
    let (alice, bob) = (&ids[0].1, &ids[1].1);
    let first = &cases[0];
    let (_, fields1) = open(&lines[0], &k1);
    let (signed1, _) = split_signature(&fields1);
    let mut invalid = Vec::new();
    let mut refuse = |name: &str, why: &str, line: String, keys: &Value, decode: &str| {
        let mut v = json!({
            "name": name,
            "description": why,
            "line": line,
            "decoder_keys": keys,
            "decode": decode,
        });
        if decode == "ok" {
            v["verify_signature"] = json!("BadSignature");
        }
        invalid.push(v);
    };
    let relabelled = lines[0].replacen("ftc3:1:", "ftc3:300:", 1);
    refuse(
        "epoch-relabelled-key-held-under-other-epoch",
        "alice-g0-seq1's token under the prefix ftc3:300:, the decoder holding epoch 1's key as epoch 300's: it decrypts, but field 9 says 1",
        relabelled.clone(),
        &keys_json(&[(300, &k1)]),
        "Malformed(InvalidField(9))",
    );
    refuse(
        "epoch-relabelled",
        "the same line, the decoder holding the real keys: epoch 300's key does not open it",
        relabelled,
        &all_keys,
        "WrongKeyOrTampered",
    );
    refuse(
        "unknown-epoch",
        "alice-g0-seq1's token under ftc3:7:, an epoch the decoder holds no key for",
        lines[0].replacen("ftc3:1:", "ftc3:7:", 1),
        &all_keys,
        "NoEpochKey { epoch: 7 }",
    );
    refuse(
        "epoch-not-minimal",
        "ftc3:01: (a leading zero): not a signed line",
        lines[0].replacen("ftc3:1:", "ftc3:01:", 1),
        &all_keys,
        "NotARecord",
    );
    let mut tampered = fields1.clone();
    let last = tampered.len() - 64;
    tampered[last] ^= 0x01;
    refuse(
        "tampered-signature",
        "alice-g0-seq1 with the first signature byte xor 0x01, re-encrypted: it decodes, the signature fails",
        seal(&k1, "1", SIGNED_PAYLOAD_VERSION, &tampered, first),
        &all_keys,
        "ok",
    );
    let mut forged = SignedRecord::forge(
        first.record.clone(),
        ChainLink {
            epoch: 1,
            prev: [0; 32],
            generation: 0,
        },
        alice.public().signing_key_bytes(),
        bob,
    );
    refuse(
        "forged-device",
        "names alice's device (and her writer id) but is signed by bob: it decodes, the signature fails",
        forged.encode_line_with_iv(&k1, first.iv, &mut deflater),
        &all_keys,
        "ok",
    );
    let mut other_writer = signed1.to_vec();
    let w = field_range(&other_writer, 3);
    other_writer[w]
        .copy_from_slice(&derive_writer_id(room, &alice.public().signing_key_bytes(), 1).0);
    refuse(
        "writer-id-not-derived",
        "alice-g0-seq1 claiming alice's generation-1 writer id while saying generation 0, validly signed by alice",
        seal(&k1, "1", SIGNED_PAYLOAD_VERSION, &sign_fields(other_writer, alice), first),
        &all_keys,
        "Malformed(InvalidField(3))",
    );
    let mut wrong_prev = SignedRecord::sign(
        first.record.clone(),
        ChainLink {
            epoch: 1,
            prev: hashes[0],
            generation: 0,
        },
        alice,
    );
    refuse(
        "first-record-with-prev",
        "seq 1 whose prev is not zeros, validly signed",
        wrong_prev.encode_line_with_iv(&k1, first.iv, &mut deflater),
        &all_keys,
        "Malformed(InvalidField(10))",
    );
    let mut no_prev = SignedRecord::sign(
        cases[2].record.clone(),
        ChainLink {
            epoch: 1,
            prev: [0; 32],
            generation: 0,
        },
        alice,
    );
    refuse(
        "later-record-without-prev",
        "seq 3 whose prev is zeros, validly signed",
        no_prev.encode_line_with_iv(&k1, cases[2].iv, &mut deflater),
        &all_keys,
        "Malformed(InvalidField(10))",
    );
    let trailing = [&fields1[..], &[16, 1, 0]].concat();
    refuse(
        "field-after-signature",
        "alice-g0-seq1 with an (unknown, tag 16) field after the signature",
        seal(&k1, "1", SIGNED_PAYLOAD_VERSION, &trailing, first),
        &all_keys,
        "Malformed(InvalidField(15))",
    );
    refuse(
        "payload-version-1",
        "alice-g0-seq1's fields in a version 1 payload under ftc3:1:",
        seal(&k1, "1", 1, &fields1, first),
        &all_keys,
        "UnsupportedVersion { version: 1 }",
    );

    json!({
        "description": "ftpchat signed records (SPEC §8.6, §8.7): payload version 2 in ftc3: lines, under epoch message keys (SPEC §17.3). Generated by ftpchat-core tests/signed_records.rs; checked independently with Python's cryptography, hashlib and zlib in ftpchat-py/tests/test_signed_vectors.py.",
        "domains": {
            "signature": std::str::from_utf8(RECORD_SIGNATURE_CONTEXT).unwrap(),
            "record_hash": std::str::from_utf8(RECORD_HASH_CONTEXT).unwrap(),
            "writer_id": std::str::from_utf8(WRITER_ID_CONTEXT).unwrap(),
            "epoch_key": "ftpchat-epoch-key-v1",
        },
        "identities": ids.iter().map(|(name, id)| json!({
            "name": name,
            "ed25519_seed_hex": hex::encode(match *name { "alice" => seeds(0x01), _ => seeds(0x81) }),
            "ed25519_public_hex": hex::encode(id.public().signing_key_bytes()),
        })).collect::<Vec<_>>(),
        "room_id": room.to_hex(),
        "epochs": epochs().iter().map(|(e, secret)| json!({
            "epoch": e,
            "secret_hex": hex::encode(secret),
            "message_key": message_key(*e).to_base64().as_str(),
        })).collect::<Vec<_>>(),
        "records": records,
        "invalid": invalid,
    })
}

fn decoder_for(keys: &Value) -> LineDecoder {
    let mut map = BTreeMap::new();
    for k in keys.as_array().unwrap() {
        map.insert(
            u(k, "epoch"),
            FernetKey::from_base64(s(k, "message_key")).unwrap(),
        );
    }
    LineDecoder::with_epoch_keys(
        Keyring::default(),
        Some(EpochKeys {
            room: room(),
            keys: map,
        }),
    )
}

fn signed(record: Record) -> SignedRecord {
    match record {
        Record::Signed(r) => *r,
        other => panic!("not a signed record: {other:?}"),
    }
}

#[test]
fn vectors_match_both_ways() {
    let want = compute_vectors();
    if std::env::var_os("FTPCHAT_WRITE_SIGNED_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&want).unwrap() + "\n";
        fs::write(testdata(VECTORS), text).unwrap();
    }
    let got = read_json(VECTORS);
    // Forward: the same inputs give the same outputs, field by field.
    assert_eq!(got, want);

    // Backward: every published output is read and checked from the file alone.
    let room = RoomId::from_hex(s(&got, "room_id")).unwrap();
    // The identities are those of identity-v1.json.
    let identity_vectors = read_json(IDENTITY_VECTORS);
    let mut devices: BTreeMap<String, PublicIdentity> = BTreeMap::new();
    for (v, iv) in got["identities"]
        .as_array()
        .unwrap()
        .iter()
        .zip(identity_vectors["identities"].as_array().unwrap())
    {
        assert_eq!(s(v, "name"), s(iv, "name"));
        assert_eq!(s(v, "ed25519_seed_hex"), s(iv, "ed25519_seed_hex"));
        assert_eq!(s(v, "ed25519_public_hex"), s(iv, "ed25519_public_hex"));
        let p: PublicIdentity = s(iv, "public_identity").parse().unwrap();
        devices.insert(s(v, "name").to_string(), p);
    }
    assert_eq!(devices.len(), 2);
    // Epoch keys: HKDF of the secrets (SPEC §17.3). One decoder gets them through
    // `with_epoch_keys`, another through `add_epoch_key`.
    let mut by_add = LineDecoder::default();
    for e in got["epochs"].as_array().unwrap() {
        let key = EpochSecret::from_bytes(h32(e, "secret_hex")).message_key(room, u(e, "epoch"));
        assert_eq!(key.to_base64().as_str(), s(e, "message_key"));
        by_add.add_epoch_key(room, u(e, "epoch"), key);
    }
    let mut by_with = decoder_for(&got["epochs"]);

    let records = got["records"].as_array().unwrap();
    assert_eq!(records.len(), 6);
    // Per log (writer id): (seq, prev, hash) of each record.
    type Link = (u64, [u8; 32], [u8; 32]);
    let mut logs: BTreeMap<String, Vec<Link>> = BTreeMap::new();
    let mut compressed = [0, 0];
    for v in records {
        let line = s(v, "line");
        let a = signed(by_add.decode_line(line.as_bytes()).unwrap());
        let b = signed(by_with.decode_line(line.as_bytes()).unwrap());
        assert_eq!(a, b);
        let r = &a.record;
        assert!(line.starts_with(&format!("ftc3:{}:gAAAAA", u(v, "epoch"))));
        assert_eq!(a.epoch, u(v, "epoch"));
        assert_eq!(r.room, room);
        assert_eq!(s(v, "room_id"), room.to_hex());
        assert_eq!(r.id.0, h16(v, "record_id"));
        assert_eq!(r.writer.0, h16(v, "writer_id"));
        assert_eq!(r.seq, u(v, "seq"));
        assert_eq!(r.hlc.0, u(v, "hlc"));
        assert_eq!(r.hlc.wall_ms() / 1000, u(v, "timestamp"));
        assert_eq!(r.sender, s(v, "sender"));
        assert_eq!(r.body.kind_code(), u(v, "kind"));
        assert_eq!(body_bytes(&r.body), hx(v, "body_hex"));
        assert_eq!(a.prev, h32(v, "prev_hex"));
        assert_eq!(a.device, h32(v, "device_hex"));
        assert_eq!(a.generation, u(v, "generation"));
        // The signer named is the device in the record.
        let signer = &devices[s(v, "signer")];
        assert_eq!(a.device, signer.signing_key_bytes());
        // The writer id is derived from the device, room and generation.
        assert_eq!(r.writer, derive_writer_id(room, &a.device, a.generation));
        // The hash is the line's.
        assert_eq!(a.hash(), line_hash(line.as_bytes()));
        assert_eq!(a.hash(), h32(v, "line_hash_hex"));
        a.verify_signature().unwrap();
        // The published signature and signed message: what the line holds, and valid
        // under the signer's key on their own.
        let key = FernetKey::from_base64(s(v, "message_key")).unwrap();
        let secret = EpochSecret::from_bytes(h32(v, "epoch_secret_hex"));
        assert_eq!(
            secret.message_key(room, a.epoch).to_base64().as_str(),
            s(v, "message_key")
        );
        let (was_compressed, fields) = open(line, &key);
        assert_eq!(was_compressed, v["compressed"].as_bool().unwrap());
        compressed[usize::from(was_compressed)] += 1;
        let (signed_part, signature) = split_signature(&fields);
        assert_eq!(signed_message(signed_part), hx(v, "signed_message_hex"));
        assert_eq!(signature.to_vec(), hx(v, "signature_hex"));
        signer
            .verify(&hx(v, "signed_message_hex"), &hx(v, "signature_hex"))
            .unwrap();
        // The record decoded from the payload alone is the same (its hash is set from
        // the line only by the line decoder).
        let payload = key.decrypt(token_of(line).as_bytes()).unwrap();
        let direct =
            SignedRecord::decode_payload(&payload.plaintext, a.epoch, &mut Inflater::new())
                .unwrap();
        assert_eq!(direct.record, a.record);
        assert_eq!(payload.timestamp, u(v, "timestamp"));
        // A decoder without this epoch's key cannot read it.
        let mut other = LineDecoder::default();
        other.add_epoch_key(room, a.epoch + 1, key.clone());
        assert_eq!(
            other.decode_line(line.as_bytes()),
            Err(DecodeError::NoEpochKey { epoch: a.epoch })
        );
        // Re-encoding with the published IV gives the same line.
        let mut again = a.clone();
        assert_eq!(
            again.encode_line_with_iv(&key, h16(v, "iv_hex"), &mut Deflater::new()),
            line
        );
        logs.entry(r.writer.to_hex())
            .or_default()
            .push((r.seq, a.prev, a.hash()));
    }
    // Both storage forms are covered (a zero `prev` compresses: every seq 1 and the long
    // text are stored compressed, alice's seq 3 and her kind 9999 record are not).
    assert_eq!(compressed, [2, 4]);
    // Chains: per log, seq 1.. in order, each prev the previous line's hash.
    assert_eq!(logs.len(), 3);
    let mut lengths: Vec<usize> = logs.values().map(Vec::len).collect();
    lengths.sort_unstable();
    assert_eq!(lengths, [1, 2, 3]);
    for log in logs.values() {
        let mut tip = [0u8; 32];
        for (i, (seq, prev, hash)) in log.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1);
            assert_eq!(*prev, tip);
            tip = *hash;
        }
    }
}

#[test]
fn refused_lines_give_their_typed_errors() {
    let got = read_json(VECTORS);
    let invalid = got["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 11);
    let mut bad_signatures = 0;
    for v in invalid {
        let name = s(v, "name");
        let mut decoder = decoder_for(&v["decoder_keys"]);
        let result = decoder.decode_line(s(v, "line").as_bytes());
        match s(v, "decode") {
            "ok" => {
                let r = signed(result.unwrap_or_else(|e| panic!("{name}: {e:?}")));
                assert_eq!(r.hash(), line_hash(s(v, "line").as_bytes()), "{name}");
                assert_eq!(s(v, "verify_signature"), "BadSignature");
                assert_eq!(
                    r.verify_signature(),
                    Err(SignatureError::BadSignature),
                    "{name}"
                );
                bad_signatures += 1;
            }
            want => {
                let err = result.expect_err(name);
                assert_eq!(format!("{err:?}"), want, "{name}");
                assert!(v.get("verify_signature").is_none());
            }
        }
    }
    assert_eq!(bad_signatures, 2);
}

/// Every byte of the signed fields is covered: changing any one (and re-encrypting so the
/// line still authenticates) gives a refused line or a failing signature.
#[test]
fn every_signed_byte_is_covered() {
    let got = read_json(VECTORS);
    let v = &got["records"][0];
    let key = FernetKey::from_base64(s(v, "message_key")).unwrap();
    let line = s(v, "line");
    let (_, fields) = open(line, &key);
    let mut decoder = decoder_for(&got["epochs"]);
    let (mut refused, mut bad) = (0, 0);
    for i in 0..fields.len() {
        let mut changed = fields.clone();
        changed[i] ^= 0x01;
        let payload = [&[SIGNED_PAYLOAD_VERSION, 0][..], &changed].concat();
        let l = format!(
            "ftc3:1:{}",
            key.encrypt_with_iv(&payload, u(v, "timestamp"), h16(v, "iv_hex"))
        );
        match decoder.decode_line(l.as_bytes()) {
            Err(_) => refused += 1,
            Ok(r) => {
                assert!(signed(r).verify_signature().is_err(), "byte {i}");
                bad += 1;
            }
        }
    }
    // Some changes break the structure, most only the signature.
    assert!(refused > 0 && bad > refused, "{refused} {bad}");
}
