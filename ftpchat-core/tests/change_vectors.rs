//! Edits, deletes and reactions (SPEC §8.4.1, vectors §8.8): `testdata/changes-v1.json`
//! both ways. Forward: the fixed inputs encode to the published signed lines byte for
//! byte. Backward: the published lines, decoded from the file alone and applied to a
//! timeline in many orders, give the published result (the refused changes refused).
//! `ftpchat-py/tests/test_change_vectors.py` re-derives the same file in Python.
//!
//! Regenerate (only when the format or the rules change on purpose, with a SPEC change):
//! `FTPCHAT_WRITE_CHANGE_VECTORS=1 cargo test -p ftpchat-core --test change_vectors`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/vector_inputs.rs"]
mod vector_inputs;

use std::collections::BTreeMap;
use std::path::PathBuf;
use vector_inputs::{identity, room};

use ftpchat_core::codec::{
    Author, ChainLink, ChangeKind, Deflater, Hlc, LineDecoder, MessageChange, NativeRecord, Record,
    RecordBody, RecordId, RoomId, SignedRecord, SortKey, Timeline, WriterId,
};
use ftpchat_core::{Codec, DeviceIdentity, FernetKey, Message, MessageId};
use serde_json::{json, Value};

const VECTORS: &str = "changes-v1.json";

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(VECTORS)
}

const EPOCH: u64 = 1;

fn message_key() -> FernetKey {
    vector_inputs::message_key(EPOCH)
}

fn epoch_secret() -> [u8; 32] {
    vector_inputs::epoch_secret(EPOCH)
}

/// alice and bob, with the display names their records carry.
fn identities() -> Vec<(&'static str, &'static str, DeviceIdentity)> {
    vec![
        ("alice", "Alice", identity("alice")),
        ("bob", "Bob", identity("bob")),
    ]
}
/// 2026-12-05 12:00:00 UTC.
const T0_MS: u64 = 1_796_472_000_000;

fn id(n: u8) -> RecordId {
    RecordId([n; 16])
}

/// The scenario: (name, signer, HLC step, record id byte, body).
fn scenario() -> Vec<(&'static str, usize, u64, u8, RecordBody)> {
    let (m1, m2) = (id(0xa1), id(0xa2));
    let react = |target, reaction: &str, removed| RecordBody::Reaction {
        target,
        reaction: reaction.into(),
        removed,
    };
    vec![
        (
            "m1: alice's text",
            0,
            1,
            0xa1,
            RecordBody::Text("helo".into()),
        ),
        (
            "m2: alice's text",
            0,
            2,
            0xa2,
            RecordBody::Text("second".into()),
        ),
        (
            "e1: alice edits m1",
            0,
            3,
            0xb1,
            RecordBody::Edit {
                target: m1,
                text: "hello".into(),
            },
        ),
        (
            "x1: bob edits m1 (refused: not the author)",
            1,
            4,
            0xc1,
            RecordBody::Edit {
                target: m1,
                text: "forged".into(),
            },
        ),
        ("r1: bob reacts to m1", 1, 5, 0xd1, react(m1, "👍", false)),
        (
            "e2: alice edits m1 again (the newest edit wins)",
            0,
            6,
            0xb2,
            RecordBody::Edit {
                target: m1,
                text: "hello!".into(),
            },
        ),
        (
            "r2: bob's newer reaction to m1 replaces r1",
            1,
            7,
            0xd2,
            react(m1, "🎉 👍", false),
        ),
        (
            "r3: alice reacts to her own m1",
            0,
            8,
            0xd3,
            react(m1, "👍", false),
        ),
        (
            "x2: bob deletes m2 (refused: not the author)",
            1,
            9,
            0xc2,
            RecordBody::Delete { target: m2 },
        ),
        ("r4: bob reacts to m2", 1, 10, 0xd4, react(m2, "😂", false)),
        (
            "r5: bob withdraws his reaction to m2 (removed flag)",
            1,
            11,
            0xd5,
            react(m2, "", true),
        ),
        (
            "d1: alice deletes m2",
            0,
            12,
            0xe1,
            RecordBody::Delete { target: m2 },
        ),
        (
            "e3: alice edits m2 after deleting it (ignored: a delete is final)",
            0,
            13,
            0xb3,
            RecordBody::Edit {
                target: m2,
                text: "too late".into(),
            },
        ),
    ]
}

fn compute_vectors() -> Value {
    let ids = identities();
    let key = message_key();
    let mut deflater = Deflater::default();
    let mut tips: Vec<(u64, [u8; 32])> = vec![(0, [0; 32]); ids.len()];
    let mut records = Vec::new();
    for (i, (name, signer, step, rid, body)) in scenario().into_iter().enumerate() {
        let (label, sender, identity) = &ids[signer];
        let (seq, prev) = tips[signer];
        let record = NativeRecord {
            id: id(rid),
            room: room(),
            writer: WriterId::default(),
            seq: seq + 1,
            hlc: Hlc::new(T0_MS + step * 1000, 0),
            sender: (*sender).into(),
            body,
        };
        let body_hex = hex::encode(record.body.encode());
        let kind = record.body.kind_code();
        let link = ChainLink {
            epoch: EPOCH,
            prev,
            generation: 0,
        };
        let mut signed = SignedRecord::sign(record, link, identity);
        let iv = [0x40 + i as u8; 16];
        let line = signed.encode_line_with_iv(&key, iv, &mut deflater);
        tips[signer] = (seq + 1, signed.hash());
        records.push(json!({
            "name": name,
            "signer": label,
            "record_id": signed.record.id.to_hex(),
            "writer_id": signed.record.writer.to_hex(),
            "seq": signed.record.seq,
            "hlc": signed.record.hlc.0,
            "sender": signed.record.sender,
            "kind": kind,
            "body_hex": body_hex,
            "iv_hex": hex::encode(iv),
            "line": line,
        }));
    }
    let reaction = |r: &str, senders: &[&str]| json!({"reaction": r, "senders": senders});
    json!({
        "description": "SPEC §8.4.1 and §8.8: edits, deletes and reactions in a member room. \
            Each record is a signed line (SPEC §8.6) of epoch 1 of signed-records-v1.json, \
            signed by the identities of identity-v1.json; each is one member with one device, \
            so a record's author is its signer. Applying the records in any order gives \
            `expected`; the records of `refused` are refused.",
        "room_id": room().to_hex(),
        "epoch": EPOCH,
        "epoch_secret_hex": hex::encode(epoch_secret()),
        "message_key": message_key().to_base64().as_str(),
        "identities": ids.iter().map(|(label, _, d)| json!({
            "name": label,
            "device_hex": hex::encode(d.public().signing_key_bytes()),
        })).collect::<Vec<_>>(),
        "records": records,
        "expected": {
            id(0xa1).to_hex(): {
                "text": "hello!", "edited": true, "deleted": false,
                "reactions": [reaction("👍", &["Bob", "Alice"]), reaction("🎉", &["Bob"])],
            },
            id(0xa2).to_hex(): {
                "text": "", "edited": false, "deleted": true, "reactions": [],
            },
        },
        "refused": [id(0xc1).to_hex(), id(0xc2).to_hex()],
    })
}

#[test]
fn the_inputs_encode_to_the_published_lines() {
    let computed = compute_vectors();
    if std::env::var_os("FTPCHAT_WRITE_CHANGE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&computed).unwrap();
        std::fs::write(path(), text + "\n").unwrap();
    }
    let published: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    assert_eq!(computed, published);
}

/// The records decoded from the file alone, with their authors.
fn published_records() -> (Value, Vec<(SignedRecord, Author)>) {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let key = FernetKey::from_base64(v["message_key"].as_str().unwrap()).unwrap();
    let room = RoomId::from_hex(v["room_id"].as_str().unwrap()).unwrap();
    let mut decoder = LineDecoder::new(Default::default());
    decoder.add_epoch_key(room, v["epoch"].as_u64().unwrap(), key);
    let authors: BTreeMap<String, Author> = v["identities"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, x)| {
            (
                x["device_hex"].as_str().unwrap().to_owned(),
                Author([i as u8; 16]),
            )
        })
        .collect();
    let records = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let Record::Signed(s) = decoder
                .decode_line(r["line"].as_str().unwrap().as_bytes())
                .unwrap()
            else {
                panic!("not a signed record")
            };
            s.verify_signature().unwrap();
            assert_eq!(
                hex::encode(s.record.body.encode()),
                r["body_hex"].as_str().unwrap()
            );
            let author = authors[&hex::encode(s.device)];
            (*s, author)
        })
        .collect();
    (v, records)
}

/// Applies the records in `order` to a fresh timeline, as a room does.
fn apply(records: &[(SignedRecord, Author)], order: &[usize]) -> (Timeline, Vec<MessageId>) {
    let mut t = Timeline::new();
    let mut refused = Vec::new();
    for &i in order {
        let (s, author) = &records[i];
        let r = &s.record;
        let key = SortKey::Native {
            hlc: r.hlc,
            writer: r.writer,
            seq: r.seq,
            id: MessageId(r.id.0),
        };
        let kind = match &r.body {
            RecordBody::Text(text) => {
                let m = Message::new(
                    MessageId(r.id.0),
                    r.sender.clone(),
                    text.clone(),
                    Codec::Native,
                );
                t.insert_authored(key, m, *author);
                None
            }
            RecordBody::Edit { text, .. } => Some(ChangeKind::Edit(text.clone())),
            RecordBody::Delete { .. } => Some(ChangeKind::Delete),
            RecordBody::Reaction {
                reaction, removed, ..
            } => Some(ChangeKind::React(if *removed {
                String::new()
            } else {
                reaction.clone()
            })),
            other => panic!("unexpected {other:?}"),
        };
        if let (Some(kind), Some(target)) = (kind, r.body.target()) {
            t.apply_change(MessageChange {
                id: MessageId(r.id.0),
                key,
                author: *author,
                sender: r.sender.clone(),
                own: false,
                target: MessageId(target.0),
                kind,
            });
        }
        refused.extend(t.take_refused_changes().into_iter().map(|c| c.id));
    }
    refused.sort();
    (t, refused)
}

#[test]
fn the_published_records_give_the_published_result_in_any_order() {
    let (v, records) = published_records();
    let n = records.len();
    let mut orders: Vec<Vec<usize>> = vec![(0..n).collect(), (0..n).rev().collect()];
    // Rotations, and a deterministic shuffle of each: targets before and after changes.
    for shift in 1..n {
        orders.push((0..n).map(|i| (i + shift) % n).collect());
        orders.push((0..n).map(|i| (i * 7 + shift) % n).collect());
    }
    let mut expected_refused: Vec<MessageId> = v["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| MessageId::from_hex(x.as_str().unwrap()).unwrap())
        .collect();
    expected_refused.sort();
    for order in &orders {
        let (t, refused) = apply(&records, order);
        assert_eq!(refused, expected_refused, "order {order:?}");
        for (target, want) in v["expected"].as_object().unwrap() {
            let m = t.get(&MessageId::from_hex(target).unwrap()).unwrap();
            let reactions: Vec<Value> = m
                .reactions
                .iter()
                .map(|r| json!({"reaction": r.reaction, "senders": r.senders}))
                .collect();
            let got = json!({
                "text": m.text, "edited": m.edited, "deleted": m.deleted, "reactions": reactions,
            });
            assert_eq!(&got, want, "order {order:?}");
        }
    }
}
