//! `testdata/state-v1.json` (SPEC §18.6): state files of presence and read position,
//! both ways. Forward: the fixed inputs (identities of `identity-v1.json`, epoch secrets,
//! IVs) encode to exactly the published files. Backward: each published file decodes and
//! verifies to its inputs from the file alone; each invalid one is refused with the stated
//! error. `FTPCHAT_WRITE_STATE_VECTORS=1` rewrites the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/vector_inputs.rs"]
mod vector_inputs;

use std::path::PathBuf;
use vector_inputs::{epochs, identities, message_key, room};

use ftpchat_core::codec::state::{
    decode_state_file, parse_state_file_name, state_file_name, PresenceBody, PresenceState,
    ReadPosition, PRESENCE_KIND,
};
use ftpchat_core::codec::{
    derive_writer_id, ChainLink, Deflater, Hlc, Keyring, LineDecoder, NativeRecord, RecordBody,
    RecordId, SignedRecord, WriterId,
};
use serde_json::{json, Value};

const VECTORS: &str = "state-v1.json";

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name)
}

/// 2026-12-05 11:00:00 UTC.
const T0_MS: u64 = 1_796_468_400_000;

struct Case {
    name: &'static str,
    signer: usize,
    /// The device key the record names (the signer's unless forged).
    device: usize,
    epoch: u64,
    generation: u64,
    counter: u64,
    iv: [u8; 16],
    record: NativeRecord,
    prev: [u8; 32],
}

fn presence(
    state: PresenceState,
    valid_s: u64,
    active: Option<u64>,
    read: Option<(u8, u64)>,
    typing: Option<u64>,
) -> Vec<u8> {
    PresenceBody {
        state,
        valid_until: Hlc::new(T0_MS + valid_s * 1000, 0),
        last_active: active.map(|ms| Hlc::new(ms, 0)),
        read: read.map(|(i, ms)| ReadPosition {
            record: RecordId([i; 16]),
            hlc: Hlc::new(ms, 7),
        }),
        typing_until: typing.map(|ms| Hlc::new(ms, 0)),
    }
    .encode()
}

fn record(i: u8, seq: u64, sender: &str, kind: u64, body: Vec<u8>) -> NativeRecord {
    NativeRecord {
        id: RecordId(std::array::from_fn(|j| (0x40 + 0x10 * i) | j as u8)),
        room: room(),
        writer: WriterId::default(),
        seq,
        hlc: Hlc::new(T0_MS + 1000 * u64::from(i), u16::from(i)),
        sender: sender.into(),
        body: if kind == 1 {
            RecordBody::Text(String::from_utf8(body).unwrap())
        } else {
            RecordBody::Other { kind, data: body }
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn case(
    name: &'static str,
    signer: usize,
    device: usize,
    epoch: u64,
    generation: u64,
    counter: u64,
    i: u8,
    record: NativeRecord,
) -> Case {
    Case {
        name,
        signer,
        device,
        epoch,
        generation,
        counter,
        iv: [0x20 + i; 16],
        prev: [0; 32],
        record,
    }
}

/// The published state files.
fn valid_cases() -> Vec<Case> {
    let read = Some((0xa5, T0_MS - 60_000));
    vec![
        case(
            "alice-online-read",
            0,
            0,
            1,
            0,
            1,
            0,
            record(
                0,
                1,
                "Alice",
                PRESENCE_KIND,
                presence(PresenceState::Online, 120, Some(T0_MS - 5_000), read, None),
            ),
        ),
        case(
            "bob-typing-no-receipts",
            1,
            1,
            300,
            0,
            7,
            1,
            record(
                1,
                1,
                "Bób",
                PRESENCE_KIND,
                presence(
                    PresenceState::Typing,
                    121,
                    Some(T0_MS + 1_000),
                    None,
                    Some(T0_MS + 11_000),
                ),
            ),
        ),
        case(
            "alice-g1-away",
            0,
            0,
            1,
            1,
            12,
            2,
            record(
                2,
                1,
                "Alice",
                PRESENCE_KIND,
                presence(PresenceState::Away, 122, None, read, None),
            ),
        ),
        case(
            "alice-goodbye",
            0,
            0,
            1,
            0,
            18_446_744_073_709_551_615,
            3,
            record(
                3,
                1,
                "Alice",
                PRESENCE_KIND,
                presence(PresenceState::Offline, 3, Some(T0_MS + 3_000), read, None),
            ),
        ),
    ]
}

/// State files a reader MUST refuse, with the file name's writer (by case) and the error.
fn invalid_cases() -> Vec<(Case, &'static str, &'static str)> {
    let ok = || presence(PresenceState::Online, 120, None, None, None);
    let mut second = case(
        "seq-2",
        0,
        0,
        1,
        0,
        2,
        5,
        record(5, 2, "Alice", PRESENCE_KIND, ok()),
    );
    second.prev = [0x11; 32];
    vec![
        (
            case(
                "bob-in-alices-name",
                1,
                1,
                1,
                0,
                3,
                4,
                record(4, 1, "Bob", PRESENCE_KIND, ok()),
            ),
            "alice",
            "WriterMismatch",
        ),
        (second, "self", "NotFirst(2)"),
        (
            case(
                "text-kind",
                0,
                0,
                1,
                0,
                4,
                6,
                record(6, 1, "Alice", 1, b"hello".to_vec()),
            ),
            "self",
            "NotPresence(1)",
        ),
        (
            case(
                "forged-by-bob",
                1,
                0,
                1,
                0,
                5,
                7,
                record(7, 1, "Alice", PRESENCE_KIND, ok()),
            ),
            "self",
            "BadSignature",
        ),
        (
            case(
                "unknown-state",
                0,
                0,
                1,
                0,
                6,
                8,
                record(8, 1, "Alice", PRESENCE_KIND, vec![1, 1, 4, 2, 1, 5]),
            ),
            "self",
            "Body(InvalidField(1))",
        ),
    ]
}

/// The file of a case, and its signed record.
fn encode(c: &Case) -> (Vec<u8>, SignedRecord, WriterId) {
    let ids = identities();
    let link = ChainLink {
        epoch: c.epoch,
        prev: c.prev,
        generation: c.generation,
    };
    let device = ids[c.device].1.public().signing_key_bytes();
    let mut signed = if c.signer == c.device {
        SignedRecord::sign(c.record.clone(), link, &ids[c.signer].1)
    } else {
        SignedRecord::forge(c.record.clone(), link, device, &ids[c.signer].1)
    };
    let mut line = signed
        .encode_line_with_iv(&message_key(c.epoch), c.iv, &mut Deflater::new())
        .into_bytes();
    line.push(b'\n');
    let writer = derive_writer_id(room(), &device, c.generation);
    (line, signed, writer)
}

fn compute_vectors() -> Value {
    let ids = identities();
    let files: Vec<Value> = valid_cases()
        .iter()
        .map(|c| {
            let (file, signed, writer) = encode(c);
            let RecordBody::Other { data, kind } = &c.record.body else {
                unreachable!()
            };
            json!({
                "name": c.name,
                "signer": ids[c.signer].0,
                "epoch": c.epoch,
                "generation": c.generation,
                "counter": c.counter,
                "file_name": state_file_name(writer, c.counter),
                "writer_id": writer.to_hex(),
                "device_hex": hex::encode(signed.device),
                "record_id": c.record.id.to_hex(),
                "room_id": room().to_hex(),
                "seq": 1,
                "prev_hex": hex::encode([0u8; 32]),
                "hlc": c.record.hlc.0,
                "timestamp": c.record.hlc.wall_ms() / 1000,
                "sender": c.record.sender,
                "kind": kind,
                "body_hex": hex::encode(data),
                "iv_hex": hex::encode(c.iv),
                "file": String::from_utf8(file).unwrap(),
            })
        })
        .collect();
    let invalid: Vec<Value> = invalid_cases()
        .iter()
        .map(|(c, named, error)| {
            let (file, _, writer) = encode(c);
            let file_writer = match *named {
                "alice" => derive_writer_id(room(), &ids[0].1.public().signing_key_bytes(), 0),
                _ => writer,
            };
            json!({
                "name": c.name,
                "epoch": c.epoch,
                "file_name": state_file_name(file_writer, c.counter),
                "file": String::from_utf8(file).unwrap(),
                "error": error,
            })
        })
        .collect();
    json!({
        "description": "ftpchat state files (SPEC §18): one signed kind-6 line per file, \
                        named <writer id>.<counter>.state. Identities of identity-v1.json; \
                        epoch keys as in signed-records-v1.json (SPEC §17.3).",
        "room_id": room().to_hex(),
        "identities": ids.iter().map(|(n, d)| json!({
            "name": n,
            "ed25519_public_hex": hex::encode(d.public().signing_key_bytes()),
        })).collect::<Vec<_>>(),
        "epochs": epochs().iter().map(|(e, s)| json!({
            "epoch": e,
            "secret_hex": hex::encode(s),
            "message_key": message_key(*e).to_base64().as_str(),
        })).collect::<Vec<_>>(),
        "files": files,
        "invalid": invalid,
    })
}

fn decoder() -> LineDecoder {
    let mut d = LineDecoder::new(Keyring::default());
    for (e, _) in epochs() {
        d.add_epoch_key(room(), e, message_key(e));
    }
    d
}

#[test]
fn state_vectors_match_both_ways() {
    let want = compute_vectors();
    if std::env::var_os("FTPCHAT_WRITE_STATE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&want).unwrap() + "\n";
        std::fs::write(testdata(VECTORS), text).unwrap();
    }
    let got: Value =
        serde_json::from_str(&std::fs::read_to_string(testdata(VECTORS)).unwrap()).unwrap();
    assert_eq!(got, want);

    // Backward, from the file alone.
    let mut decoder = decoder();
    let files = got["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    for v in files {
        let (writer, counter) = parse_state_file_name(v["file_name"].as_str().unwrap()).unwrap();
        assert_eq!(counter, v["counter"].as_u64().unwrap());
        assert_eq!(writer.to_hex(), v["writer_id"].as_str().unwrap());
        let data = v["file"].as_str().unwrap().as_bytes();
        let r = decode_state_file(data, writer, &mut decoder).unwrap();
        assert_eq!(
            r.signed.record.id.to_hex(),
            v["record_id"].as_str().unwrap()
        );
        assert_eq!(r.signed.record.hlc.0, v["hlc"].as_u64().unwrap());
        assert_eq!(r.signed.record.sender, v["sender"].as_str().unwrap());
        assert_eq!(
            hex::encode(r.signed.device),
            v["device_hex"].as_str().unwrap()
        );
        assert_eq!(r.signed.epoch, v["epoch"].as_u64().unwrap());
        assert_eq!(r.signed.generation, v["generation"].as_u64().unwrap());
        assert_eq!(
            hex::encode(r.body.encode()),
            v["body_hex"].as_str().unwrap()
        );
    }
    // The body sub-fields, spelled out for the first two.
    let r = decode_state_file(
        files[1]["file"].as_str().unwrap().as_bytes(),
        parse_state_file_name(files[1]["file_name"].as_str().unwrap())
            .unwrap()
            .0,
        &mut decoder,
    )
    .unwrap();
    assert_eq!(r.body.state, PresenceState::Typing);
    assert_eq!(r.body.read, None);
    assert_eq!(r.body.typing_until, Some(Hlc::new(T0_MS + 11_000, 0)));
    let invalid = got["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 5);
    for v in invalid {
        let (writer, _) = parse_state_file_name(v["file_name"].as_str().unwrap()).unwrap();
        let data = v["file"].as_str().unwrap().as_bytes();
        let err = decode_state_file(data, writer, &mut decoder).unwrap_err();
        assert_eq!(
            format!("{err:?}"),
            v["error"].as_str().unwrap(),
            "{}",
            v["name"]
        );
    }
}
