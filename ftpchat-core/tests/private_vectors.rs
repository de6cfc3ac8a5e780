//! Private records and block lists (SPEC §8.4.2, vectors §8.9): `testdata/private-v1.json`.
//! HPKE's ephemeral keys and the one-time keys are random, so the lines are stored, not
//! re-derived: each decodes under the epoch key, its signature verifies, and it opens to the
//! published inner body for exactly the devices it names (the third identity, a member
//! that is neither sender nor recipient, opens none). `ftpchat-py/tests/test_private_vectors.py`
//! opens the same lines with HPKE written from RFC 9180 on Python's `cryptography`.
//!
//! Regenerate (only when the format changes on purpose, with a SPEC change):
//! `FTPCHAT_WRITE_PRIVATE_VECTORS=1 cargo test -p ftpchat-core --test private_vectors`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/vector_inputs.rs"]
mod vector_inputs;

use std::path::PathBuf;
use vector_inputs::{identity, room, seeds, SEEDS};

use ftpchat_core::codec::{
    ChainLink, Deflater, Hlc, LineDecoder, NativeRecord, Record, RecordBody, RecordId, RoomId,
    SignedRecord, WriterId,
};
use ftpchat_core::testing::seal_private;
use ftpchat_core::{DeviceIdentity, FernetKey, MemberId};
use serde_json::{json, Value};

const VECTORS: &str = "private-v1.json";

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(VECTORS)
}

/// alice and bob of `identity-v1.json`, and carol (seeds 0x21.., 0x61..), each a member
/// with one device.
const EPOCH: u64 = 1;

fn message_key() -> FernetKey {
    vector_inputs::message_key(EPOCH)
}

/// alice, bob and carol.
fn identities() -> Vec<(&'static str, DeviceIdentity)> {
    SEEDS
        .iter()
        .map(|(name, _, _)| (*name, identity(name)))
        .collect()
}
/// 2026-12-05 13:00:00 UTC.
const T0_MS: u64 = 1_796_475_600_000;

fn member(i: usize) -> MemberId {
    MemberId::of(&identities()[i].1.public())
}

/// (name, signer, recipient, inner, record id byte).
fn scenario() -> Vec<(&'static str, usize, usize, RecordBody, u8)> {
    vec![
        (
            "alice to bob: a private text",
            0,
            1,
            RecordBody::Text("meet me at five".into()),
            0xa1,
        ),
        (
            "bob to alice: the answer",
            1,
            0,
            RecordBody::Text("see you then".into()),
            0xa2,
        ),
        (
            "alice to bob: an edit of her private text",
            0,
            1,
            RecordBody::Edit {
                target: RecordId([0xa1; 16]),
                text: "meet me at six".into(),
            },
            0xa3,
        ),
        (
            "alice to herself: her block list (carol)",
            0,
            0,
            RecordBody::BlockList(vec![member(2).0]),
            0xa4,
        ),
    ]
}

fn generate() -> Value {
    let ids = identities();
    let key = message_key();
    let mut deflater = Deflater::default();
    let mut tips = [(0u64, [0u8; 32]); 3];
    let mut records = Vec::new();
    for (i, (name, signer, to, inner, rid)) in scenario().into_iter().enumerate() {
        let record_id = RecordId([rid; 16]);
        let mut devices = vec![ids[to].1.public()];
        if signer != to {
            devices.push(ids[signer].1.public());
        }
        let body = seal_private(room(), record_id, member(to), &devices, &inner).unwrap();
        let (seq, prev) = tips[signer];
        let record = NativeRecord {
            id: record_id,
            room: room(),
            writer: WriterId::default(),
            seq: seq + 1,
            hlc: Hlc::new(T0_MS + i as u64 * 1000, 0),
            sender: ids[signer].0.into(),
            body,
        };
        let link = ChainLink {
            epoch: EPOCH,
            prev,
            generation: 0,
        };
        let mut signed = SignedRecord::sign(record, link, &ids[signer].1);
        let line = signed.encode_line_with_iv(&key, [0x50 + i as u8; 16], &mut deflater);
        tips[signer] = (seq + 1, signed.hash());
        let opened_by: Vec<&str> = devices
            .iter()
            .map(|d| ids.iter().find(|(_, x)| x.public() == *d).unwrap().0)
            .collect();
        records.push(json!({
            "name": name,
            "signer": ids[signer].0,
            "recipient": ids[to].0,
            "record_id": record_id.to_hex(),
            "opened_by": opened_by,
            "inner_kind": inner.kind_code(),
            "inner_body_hex": hex::encode(inner.encode()),
            "line": line,
        }));
    }
    json!({
        "description": "SPEC §8.4.2 and §8.9: private records in a member room, signed lines \
            (SPEC §8.6) of epoch 1 of signed-records-v1.json. HPKE ephemeral keys and the \
            one-time keys are random: the lines are stored. Each line opens, for each device \
            in `opened_by` and no other, to `inner_kind` and `inner_body_hex`.",
        "room_id": room().to_hex(),
        "epoch": EPOCH,
        "message_key": message_key().to_base64().as_str(),
        "identities": ids.iter().zip(SEEDS).enumerate().map(|(i, ((name, d), (_, ed, x)))| {
            json!({
                "name": name,
                "member_id": member(i).to_string(),
                "ed25519_public_hex": hex::encode(d.public().signing_key_bytes()),
                "x25519_public_hex": hex::encode(d.public().agreement_key_bytes()),
                "ed25519_seed_hex": hex::encode(seeds(ed)),
                "x25519_secret_hex": hex::encode(seeds(x)),
            })
        }).collect::<Vec<_>>(),
        "records": records,
    })
}

#[test]
fn the_published_private_records_open_for_exactly_their_devices() {
    if std::env::var_os("FTPCHAT_WRITE_PRIVATE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generate()).unwrap();
        std::fs::write(path(), text + "\n").unwrap();
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let ids = identities();
    let room = RoomId::from_hex(v["room_id"].as_str().unwrap()).unwrap();
    assert_eq!(room, self::room());
    let key = FernetKey::from_base64(v["message_key"].as_str().unwrap()).unwrap();
    assert_eq!(key, message_key());
    for (i, x) in v["identities"].as_array().unwrap().iter().enumerate() {
        assert_eq!(x["member_id"].as_str().unwrap(), member(i).to_string());
    }
    let mut decoder = LineDecoder::new(Default::default());
    decoder.add_epoch_key(room, EPOCH, key);
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), scenario().len());
    for (r, (name, signer, to, inner, rid)) in records.iter().zip(scenario()) {
        assert_eq!(r["name"], name);
        let Record::Signed(s) = decoder
            .decode_line(r["line"].as_str().unwrap().as_bytes())
            .unwrap()
        else {
            panic!("{name}: not a signed record")
        };
        s.verify_signature().unwrap();
        assert_eq!(s.device, ids[signer].1.public().signing_key_bytes());
        assert_eq!(s.record.id, RecordId([rid; 16]));
        let RecordBody::Private { recipient, .. } = &s.record.body else {
            panic!("{name}: not private")
        };
        assert_eq!(*recipient, member(to).0, "{name}");
        assert_eq!(r["inner_body_hex"], hex::encode(inner.encode()));
        let opened_by: Vec<&str> = r["opened_by"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap())
            .collect();
        for (who, identity) in &ids {
            let opened = ftpchat_core::testing::open_private(identity, room, &s.record).unwrap();
            if opened_by.contains(who) {
                assert_eq!(opened.as_ref(), Some(&inner), "{name}: {who}");
            } else {
                assert_eq!(opened, None, "{name}: {who} holds no wrap");
            }
        }
        // Moved into another record, the sealed body does not open.
        let mut moved = s.record.clone();
        moved.id = RecordId([0x77; 16]);
        let holder = &ids[to].1;
        assert!(ftpchat_core::testing::open_private(holder, room, &moved).is_err());
    }
}
