//! Attachments (SPEC.md §8.4.3): the kind-7 body parser and the blob opener on arbitrary
//! bytes. Mode byte 0: `RecordBody::decode(7, ..)` never panics, gives a typed error or a body
//! whose every field passes the §8.4.3 checks and that re-encodes to the same body. Mode 1:
//! the rest is a blob, pushed in pieces of varying sizes through `BlobOpener` for a file size
//! taken from the input; it never panics, writes no plaintext before its chunk opened, and a
//! random blob never opens (the key is fixed and the input cannot forge a tag).
#![no_main]

use ftpchat_core::codec::{
    blob_len, is_blob_path, is_valid_file_name, is_valid_media_type, BlobKey, BlobOpener,
    PushError, RecordBody, RecordKind, RoomId, MAX_ANNOUNCED_SIZE,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        match RecordBody::decode(RecordKind::Attachment.code(), rest) {
            Ok(RecordBody::Attachment(body)) => {
                assert!(is_valid_file_name(&body.name));
                assert!(is_valid_media_type(&body.media_type));
                assert!(is_blob_path(&body.path));
                assert!(body.size <= MAX_ANNOUNCED_SIZE);
                let again = RecordBody::decode(RecordKind::Attachment.code(), &body.encode());
                assert_eq!(again, Ok(RecordBody::Attachment(body)));
            }
            Ok(other) => panic!("a kind-7 body decoded as {other:?}"),
            Err(_) => {}
        }
        return;
    }
    let Some((size_bytes, blob)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let size = u64::from(u32::from_le_bytes(*size_bytes) % (1 << 20));
    let key = BlobKey::from_bytes([7; 32]);
    let mut opener = BlobOpener::new(&key, RoomId([1; 16]), "files/00000000000000000000000000000000", size);
    let mut opened = 0u64;
    let mut step = 1 + usize::from(mode >> 1);
    let mut left = blob;
    while !left.is_empty() {
        let n = step.min(left.len());
        let pushed = opener.push(&left[..n], &mut |plain: &[u8]| {
            opened += plain.len() as u64;
            Ok::<_, ()>(())
        });
        match pushed {
            Ok(()) => {}
            Err(PushError::Blob(_)) => break,
            Err(PushError::Sink(())) => unreachable!(),
        }
        left = &left[n..];
        step = step * 3 % 70_001 + 1;
    }
    assert_eq!(opened, 0, "random bytes opened under a fixed key");
    assert!(blob_len(size) >= size);
});
