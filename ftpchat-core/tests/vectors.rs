//! The shared test vectors (made by the original FTPChat code and Python's
//! `cryptography`) and ftpchat's own native vectors. These are facts: every
//! implementation must agree with them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ftpchat_core::codec::compat::{self, CompatMessage};
use ftpchat_core::codec::native::{Hlc, NativeRecord, RecordBody, RecordId, RoomId, WriterId};
use ftpchat_core::codec::{derive_key, Deflater, FernetError, FernetKey, Inflater, KdfParams};
use ftpchat_core::codec::{Codec, DecodeError, Keyring, LineDecoder, Record};
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name)
}

fn jsonl(name: &str) -> Vec<Value> {
    std::fs::read_to_string(testdata(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k} in {v}"))
}

#[test]
fn legacy_lines_decode_and_encode_byte_for_byte() {
    let vectors = jsonl("legacy-v1.5.jsonl");
    assert_eq!(vectors.len(), 55);
    let mut inflater = Inflater::new();
    let mut deflater = Deflater::new();
    let mut same_bytes = 0;
    for v in &vectors {
        let plaintext = s(v, "plaintext");
        let line = s(v, "line");
        assert_eq!(
            compat::decode_legacy(line.as_bytes(), &mut inflater).unwrap(),
            plaintext
        );
        assert_eq!(compat::substitute(plaintext), s(v, "substituted"));
        assert_eq!(compat::unsubstitute(s(v, "substituted")), plaintext);
        let ours = compat::encode_legacy(plaintext, &mut deflater);
        assert_eq!(
            compat::decode_legacy(ours.as_bytes(), &mut inflater).unwrap(),
            plaintext
        );
        // Compressed bytes may differ between zlib implementations (zlib-rs matches
        // CPython on short texts, not on long runs); count, don't require.
        same_bytes += usize::from(ours == line);
    }
    assert!(same_bytes > 0);
}

#[test]
fn legacy_chat_file_yields_exactly_the_expected_messages() {
    let data = std::fs::read(testdata("legacy-v1.5-chat.txt")).unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("legacy-v1.5-chat.expected.json")).unwrap(),
    )
    .unwrap();
    let decoded = LineDecoder::new(Keyring::default()).decode_bytes(&data, 0);

    let want: Vec<(String, String, String)> = expected["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                s(m, "timestamp").into(),
                s(m, "username").into(),
                s(m, "text").into(),
            )
        })
        .collect();
    let got: Vec<(String, String, String)> = decoded
        .records
        .iter()
        .map(|r| match &r.record {
            Record::Compat {
                codec: Codec::Legacy15,
                message,
                ..
            } => (
                message.timestamp.unwrap().to_string(),
                message.username.clone().unwrap(),
                message.text.clone(),
            ),
            other => panic!("unexpected record {other:?}"),
        })
        .collect();
    assert_eq!(got, want);

    let bad: Vec<String> = decoded
        .problems
        .iter()
        .map(|p| String::from_utf8(p.raw.clone()).unwrap())
        .collect();
    let want_bad: Vec<String> = expected["undecodable_complete_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bad, want_bad);
    assert_eq!(decoded.problems[0].error, DecodeError::NotARecord);
    assert_eq!(
        decoded.incomplete_tail,
        expected["trailing_incomplete_bytes"].as_u64().unwrap()
    );
    assert_eq!(
        decoded.committed_offset + decoded.incomplete_tail,
        data.len() as u64
    );
}

#[test]
fn pbkdf2_keys_match_python() {
    let vectors = jsonl("pbkdf2-sha256.jsonl");
    assert_eq!(vectors.len(), 7);
    for v in vectors {
        let params = KdfParams::new(
            hex::decode(s(&v, "salt_hex")).unwrap(),
            v["iterations"].as_u64().unwrap(),
        )
        .unwrap();
        let key = derive_key(s(&v, "password"), &params);
        assert_eq!(key.to_base64().as_str(), s(&v, "fernet_key"));
        let raw = hex::decode(s(&v, "key_hex")).unwrap();
        assert_eq!(
            key,
            FernetKey::from_bytes(raw.as_slice().try_into().unwrap())
        );
    }
}

#[test]
fn fernet_tokens_match_python_byte_for_byte_and_invalid_ones_are_typed() {
    let vectors = jsonl("fernet.jsonl");
    let (mut valid, mut invalid) = (0, 0);
    for v in vectors {
        let key = FernetKey::from_base64(s(&v, "key")).unwrap();
        let token = s(&v, "token");
        if let Some(kind) = v["invalid"].as_str() {
            invalid += 1;
            let err = key.decrypt(token.as_bytes()).unwrap_err();
            let want = match kind {
                "tampered_ciphertext" | "tampered_hmac" | "wrong_key" => {
                    FernetError::AuthenticationFailed
                }
                "wrong_version" => FernetError::UnsupportedVersion(0x81),
                "truncated" => FernetError::Truncated,
                "not_base64" => FernetError::NotBase64,
                other => panic!("unknown invalid kind {other}"),
            };
            assert_eq!(err, want, "{kind}");
            // The `fernet` crate rejects them too.
            let other = fernet::Fernet::new(s(&v, "key")).unwrap();
            assert!(
                other.decrypt_at_time(token, None, 1_800_000_000).is_err(),
                "{kind}"
            );
            continue;
        }
        valid += 1;
        let plaintext = hex::decode(s(&v, "plaintext_hex")).unwrap();
        let iv: [u8; 16] = hex::decode(s(&v, "iv_hex")).unwrap().try_into().unwrap();
        let time = v["timestamp"].as_u64().unwrap();
        assert_eq!(key.encrypt_with_iv(&plaintext, time, iv), token);
        let opened = key.decrypt(token.as_bytes()).unwrap();
        assert_eq!(
            (opened.plaintext, opened.timestamp),
            (plaintext.clone(), time)
        );
        // Cross-check with the `fernet` crate both ways.
        let other = fernet::Fernet::new(s(&v, "key")).unwrap();
        // (Like Python, the crate refuses tokens over 60 s in the future, so give it the time.)
        assert_eq!(other.decrypt_at_time(token, None, time).unwrap(), plaintext);
        let theirs = other.encrypt_at_time(&plaintext, 1_700_000_000);
        assert_eq!(key.decrypt(theirs.as_bytes()).unwrap().plaintext, plaintext);
        let ours = key.encrypt(&plaintext, 1_700_000_000);
        assert_eq!(
            other.decrypt_at_time(&ours, None, 1_700_000_000).unwrap(),
            plaintext
        );
    }
    assert!(
        valid >= 10 && invalid == 6,
        "valid {valid} invalid {invalid}"
    );
}

/// `ftpchat-1.6.jsonl` pins the parameterised raw-token codec: FTPChat 1.7's line shape
/// under other KDF parameters (not what the real 1.6 client writes).
#[test]
fn raw_token_lines_decode_with_their_parameters() {
    let vectors = jsonl("ftpchat-1.6.jsonl");
    assert_eq!(vectors.len(), 18);
    let mut deflater = Deflater::new();
    let mut keys = std::collections::HashMap::new();
    for v in vectors {
        let salt = hex::decode(s(&v, "salt_hex")).unwrap();
        let iterations = v["iterations"].as_u64().unwrap();
        let password = s(&v, "password").to_owned();
        let key = keys
            .entry((password.clone(), salt.clone(), iterations))
            .or_insert_with(|| derive_key(&password, &KdfParams::new(salt, iterations).unwrap()))
            .clone();
        let mut decoder = LineDecoder::new(Keyring {
            fernet: Some(key.clone()),
            native: None,
        });
        let plaintext = s(&v, "plaintext");
        match decoder.decode_line(s(&v, "line").as_bytes()).unwrap() {
            Record::Compat {
                codec: Codec::Fernet17,
                message,
                token_time: Some(_),
            } => assert_eq!(message.to_plaintext(), plaintext),
            other => panic!("{other:?}"),
        }
        let ours = compat::encode_fernet(plaintext, &key, 1_764_000_000, &mut deflater);
        let mut inflater = Inflater::new();
        assert_eq!(
            compat::decode_fernet(ours.as_bytes(), &key, &mut inflater)
                .unwrap()
                .0,
            plaintext
        );
        // A wrong password is an authentication failure, not a corrupt line.
        let mut wrong = LineDecoder::new(Keyring {
            fernet: Some(FernetKey::generate()),
            native: None,
        });
        assert_eq!(
            wrong.decode_line(s(&v, "line").as_bytes()),
            Err(DecodeError::WrongKeyOrTampered)
        );
    }
}

/// Fixed inputs for the native vectors; `native-v2.jsonl` holds what they encode to.
fn native_cases() -> Vec<(NativeRecord, [u8; 16])> {
    let room = RoomId::from_hex("0f1e2d3c4b5a69788796a5b4c3d2e1f0").unwrap();
    let writer = WriterId::from_hex("00112233445566778899aabbccddeeff").unwrap();
    let base = NativeRecord {
        id: RecordId::from_hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf").unwrap(),
        room,
        writer,
        seq: 1,
        hlc: Hlc::new(1_763_683_200_000, 0),
        sender: "Ahmed".into(),
        body: RecordBody::Text("Salam! anyone here?".into()),
    };
    let mut cases = vec![base.clone()];
    cases.push(NativeRecord {
        id: RecordId::from_hex("b0b1b2b3b4b5b6b7b8b9babbbcbdbebf").unwrap(),
        seq: 2,
        hlc: Hlc::new(1_763_683_200_000, 1),
        sender: "Sara · سارة".into(),
        body: RecordBody::Text("emoji 😀, newline\nand a long repeated tail ".repeat(8)),
        ..base.clone()
    });
    cases.push(NativeRecord {
        id: RecordId::from_hex("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf").unwrap(),
        seq: 300,
        hlc: Hlc::new(1_763_683_260_123, 65535),
        sender: String::new(),
        body: RecordBody::Text(String::new()),
        ..base.clone()
    });
    cases.push(NativeRecord {
        id: RecordId::from_hex("d0d1d2d3d4d5d6d7d8d9dadbdcdddedf").unwrap(),
        seq: u64::MAX,
        hlc: Hlc(u64::MAX),
        sender: "bot".into(),
        // A reaction (kind 4, SPEC §8.4.1): body `01 10 <a0..af> 02 04 f0 9f 91 8d`.
        body: RecordBody::Reaction {
            target: RecordId::from_hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf").unwrap(),
            reaction: "👍".into(),
            removed: false,
        },
        ..base.clone()
    });
    cases.push(NativeRecord {
        id: RecordId::from_hex("e0e1e2e3e4e5e6e7e8e9eaebecedeeef").unwrap(),
        seq: 5,
        sender: "future".into(),
        body: RecordBody::Other {
            kind: 9999, // unknown kind from a newer writer
            data: b"opaque".to_vec(),
        },
        ..base
    });
    cases
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r, [i as u8 + 0x10; 16]))
        .collect()
}

const NATIVE_KEY: &str = "lbkl-GM_jJuykpXgs8ZYMSP7wVzt7fsYsHIlN4roc8A=";

#[test]
fn native_vectors_decode_and_reencode() {
    let key = FernetKey::from_base64(NATIVE_KEY).unwrap();
    let mut deflater = Deflater::new();
    let cases = native_cases();
    let path = testdata("native-v2.jsonl");
    if std::env::var_os("FTPCHAT_REGENERATE_VECTORS").is_some() {
        let lines: Vec<String> = cases
            .iter()
            .map(|(r, iv)| {
                serde_json::json!({
                    "key": NATIVE_KEY,
                    "room_id": r.room.to_hex(),
                    "iv_hex": hex::encode(iv),
                    "record_id": r.id.to_hex(),
                    "writer_id": r.writer.to_hex(),
                    "seq": r.seq,
                    "hlc": r.hlc.0,
                    "sender": r.sender,
                    "kind": r.body.kind_code(),
                    "body_hex": hex::encode(r.body.encode()),
                    "line": r.encode_line_with_iv(&key, *iv, &mut deflater),
                })
                .to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }
    let vectors = jsonl("native-v2.jsonl");
    assert_eq!(vectors.len(), cases.len());
    for (v, (record, iv)) in vectors.iter().zip(&cases) {
        let mut decoder = LineDecoder::new(Keyring {
            fernet: None,
            native: Some((key.clone(), record.room)),
        });
        let line = s(v, "line");
        assert_eq!(
            decoder.decode_line(line.as_bytes()).unwrap(),
            Record::Native(record.clone())
        );
        assert_eq!(record.encode_line_with_iv(&key, *iv, &mut deflater), line);
        // The JSON fields describe the record independently of this code.
        assert_eq!(s(v, "record_id"), record.id.to_hex());
        assert_eq!(v["seq"].as_u64().unwrap(), record.seq);
        assert_eq!(v["hlc"].as_u64().unwrap(), record.hlc.0);
        assert_eq!(s(v, "sender"), record.sender);
        // Another room's key check: same key, other room id => ForeignRoom.
        let mut other_room = LineDecoder::new(Keyring {
            fernet: None,
            native: Some((key.clone(), RoomId([9; 16]))),
        });
        assert_eq!(
            other_room.decode_line(line.as_bytes()),
            Err(DecodeError::ForeignRoom)
        );
    }
}

#[test]
fn legacy_messages_compose_with_the_chat_plaintext() {
    let ts = compat::LegacyTimestamp::parse("2025-12-04 18:30").unwrap();
    let msg = CompatMessage::new(ts, "ahmed", "Salam! anyone here?\n").unwrap();
    let mut enc = ftpchat_core::codec::LineEncoder::new();
    let line = enc.legacy15(&msg);
    let decoded = LineDecoder::new(Keyring::default())
        .decode_line(line.as_bytes())
        .unwrap();
    assert_eq!(
        decoded,
        Record::Compat {
            codec: Codec::Legacy15,
            message: msg,
            token_time: None
        }
    );
}
