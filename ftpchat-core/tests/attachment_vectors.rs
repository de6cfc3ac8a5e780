//! Attachments (SPEC §8.4.3, vectors §8.10): `testdata/attachments-v1.json` both ways.
//! Forward: the fixed inputs seal to the published blobs (their SHA-256, and the bytes of the
//! small ones) and encode to the published record bodies. Backward: the published bodies
//! decode to those fields and the blobs open to the files; the published malformed bodies
//! are refused. `ftpchat-py/tests/test_attachment_vectors.py` re-derives the same file with
//! Python's `cryptography`.
//!
//! Regenerate (only when the format changes on purpose, with a SPEC change):
//! `FTPCHAT_WRITE_ATTACHMENT_VECTORS=1 cargo test -p ftpchat-core --test attachment_vectors`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ftpchat_core::codec::{
    native, AttachmentBody, BlobKey, BlobOpener, BlobSealer, RecordBody, RecordKind, RoomId,
    BLOB_CHUNK_LEN,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const VECTORS: &str = "attachments-v1.json";
/// Blobs up to this size are published whole.
const PUBLISHED_BLOB_MAX: usize = 256;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(VECTORS)
}

fn room() -> RoomId {
    RoomId(std::array::from_fn(|i| 0x10 + i as u8))
}

/// The file of `size` bytes: byte i is (7·i + 3) mod 256.
fn file(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i.wrapping_mul(7) + 3) as u8).collect()
}

fn key(n: u8) -> BlobKey {
    BlobKey::from_bytes(std::array::from_fn(|i| n.wrapping_add(i as u8)))
}

/// (size, name, media type, caption, key byte, blob name byte)
fn cases() -> Vec<(usize, &'static str, &'static str, &'static str, u8, u8)> {
    vec![
        (0, "empty.txt", "text/plain", "", 0x20, 0xa0),
        (5, "hello.txt", "text/plain", "a greeting", 0x40, 0xa1),
        (
            BLOB_CHUNK_LEN,
            "one chunk.bin",
            "application/octet-stream",
            "",
            0x60,
            0xa2,
        ),
        (
            BLOB_CHUNK_LEN * 2 + 1000,
            "Ferien 🏖.jpg",
            "image/jpeg",
            "Strand",
            0x80,
            0xa3,
        ),
    ]
}

fn seal(key: &BlobKey, path: &str, data: &[u8]) -> Vec<u8> {
    BlobSealer::new(key, room(), path, data.len() as u64).seal_all(data)
}

fn body_of(case: &(usize, &str, &str, &str, u8, u8)) -> AttachmentBody {
    let (size, name, media_type, caption, k, b) = *case;
    AttachmentBody {
        name: name.into(),
        size: size as u64,
        media_type: media_type.into(),
        path: format!("files/{}", hex::encode([b; 16])),
        sha256: Sha256::digest(file(size)).into(),
        key: key(k),
        caption: caption.into(),
    }
}

/// Bodies a reader MUST refuse (§8.4.3), as (why, body bytes).
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let good = body_of(&cases()[1]);
    let with = |f: &dyn Fn(&mut AttachmentBody)| {
        let mut b = good.clone();
        f(&mut b);
        b.encode()
    };
    let mut missing_key = good.encode();
    // Drop the last field (sub-field 7, the caption) and then the key field before it.
    let caption_len = 2 + good.caption.len();
    missing_key.truncate(missing_key.len() - caption_len - 34);
    vec![
        (
            "path outside files/",
            with(&|b| b.path = "../files/0123456789abcdef0123456789abcdef".into()),
        ),
        (
            "path of another folder",
            with(&|b| b.path = "logs/0123456789abcdef0123456789abcdef".into()),
        ),
        (
            "path not 32 lowercase hex digits",
            with(&|b| b.path = "files/0123456789ABCDEF0123456789ABCDEF".into()),
        ),
        ("name with a slash", with(&|b| b.name = "a/b.txt".into())),
        (
            "name with a line feed",
            with(&|b| b.name = "a\nb.txt".into()),
        ),
        ("name ..", with(&|b| b.name = "..".into())),
        (
            "name with a right-to-left override",
            with(&|b| b.name = "invoice\u{202e}fdp.exe".into()),
        ),
        (
            "media type with a space",
            with(&|b| b.media_type = "text/plain; charset=utf-8".into()),
        ),
        ("size over 2^48", with(&|b| b.size = (1 << 48) + 1)),
        ("missing key", missing_key),
    ]
}

fn generate() -> Value {
    let mut out = Vec::new();
    for case in cases() {
        let body = body_of(&case);
        let data = file(case.0);
        let blob = seal(&body.key, &body.path, &data);
        let mut entry = json!({
            "name": body.name,
            "size": body.size,
            "media_type": body.media_type,
            "caption": body.caption,
            "path": body.path,
            "key_hex": hex::encode(body.key.as_bytes()),
            "sha256_hex": hex::encode(body.sha256),
            "chunks": ftpchat_core::codec::blob_chunks(body.size),
            "blob_len": blob.len(),
            "blob_sha256_hex": hex::encode(Sha256::digest(&blob)),
            "body_hex": hex::encode(body.encode()),
        });
        if blob.len() <= PUBLISHED_BLOB_MAX {
            entry["blob_hex"] = json!(hex::encode(&blob));
        }
        out.push(entry);
    }
    json!({
        "description": "SPEC §8.4.3 and §8.10: attachment blobs and record bodies (kind 7). \
            The file of each case has `size` bytes, byte i being (7*i + 3) mod 256. Sealing it \
            with `key_hex` at `path` in room `room_id` gives a blob of `blob_len` bytes whose \
            SHA-256 is `blob_sha256_hex` (and whose bytes are `blob_hex` when published); \
            `body_hex` is the record body. `malformed` bodies MUST be refused.",
        "room_id": hex::encode(room().0),
        "chunk_len": BLOB_CHUNK_LEN,
        "cases": out,
        "malformed": malformed()
            .into_iter()
            .map(|(why, bytes)| json!({"why": why, "body_hex": hex::encode(bytes)}))
            .collect::<Vec<_>>(),
    })
}

#[test]
fn attachment_vectors_match_both_ways() {
    let generated = generate();
    if std::env::var_os("FTPCHAT_WRITE_ATTACHMENT_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(path(), text).unwrap();
    }
    let published: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    assert_eq!(
        generated, published,
        "the vectors changed: regenerate only on purpose"
    );

    // Backward, from the file alone.
    let room = RoomId(
        hex::decode(published["room_id"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    );
    for case in published["cases"].as_array().unwrap() {
        let bytes = hex::decode(case["body_hex"].as_str().unwrap()).unwrap();
        let RecordBody::Attachment(body) =
            RecordBody::decode(RecordKind::Attachment.code(), &bytes).unwrap()
        else {
            panic!("not an attachment body");
        };
        assert_eq!(body.name, case["name"].as_str().unwrap());
        assert_eq!(body.size, case["size"].as_u64().unwrap());
        assert_eq!(body.path, case["path"].as_str().unwrap());
        assert_eq!(hex::encode(body.key.as_bytes()), case["key_hex"]);
        let data = file(body.size as usize);
        let blob = seal(&body.key, &body.path, &data);
        if let Some(h) = case["blob_hex"].as_str() {
            assert_eq!(hex::encode(&blob), h);
        }
        let mut opener = BlobOpener::new(&body.key, room, &body.path, body.size);
        let mut opened = Vec::new();
        opener
            .push(&blob, &mut |p: &[u8]| {
                opened.extend_from_slice(p);
                Ok::<_, ()>(())
            })
            .unwrap();
        opener.finish(&body.sha256).unwrap();
        assert_eq!(opened, data);
    }
    for bad in published["malformed"].as_array().unwrap() {
        let bytes = hex::decode(bad["body_hex"].as_str().unwrap()).unwrap();
        assert_eq!(
            RecordBody::decode(RecordKind::Attachment.code(), &bytes),
            Err(native::MalformedRecord::InvalidField(8)),
            "{}",
            bad["why"]
        );
    }
}
