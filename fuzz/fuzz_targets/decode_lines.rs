//! Framing + codec detection + every decoder (SPEC.md §2–§3), fed arbitrary bytes: never
//! panics, every line is accounted for, and any split of the input gives the same records,
//! problems, committed offset and tail as the whole (§2 item 7).
#![no_main]

mod common;

use common::{chunks, cuts, split_input};
use ftpchat_core::codec::FernetKey;
use ftpchat_core::codec::{DecodedFile, Keyring, LineDecoder, LineFramer, RoomId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (data, mut rng) = split_input(input);
    let key = FernetKey::from_bytes(&[7; 32]);
    let keys = match rng.upto(3) {
        0 => Keyring::default(),
        3 => common::vector_keyring(),
        1 => Keyring {
            fernet: Some(key.clone()),
            native: None,
        },
        _ => Keyring {
            fernet: Some(key.clone()),
            native: Some((key, RoomId([3; 16]))),
        },
    };
    let whole = LineDecoder::new(keys.clone()).decode_bytes(data, 0);
    assert_eq!(
        whole.committed_offset + whole.incomplete_tail,
        data.len() as u64
    );

    // Every complete non-empty line is either a record or a problem, in file order.
    let mut offsets: Vec<u64> = whole.records.iter().map(|r| r.offset).collect();
    offsets.extend(whole.problems.iter().map(|p| p.offset));
    let n = offsets.len();
    offsets.sort_unstable();
    offsets.dedup();
    assert_eq!(offsets.len(), n, "a line was reported twice");

    let points = cuts(&mut rng, data.len(), 8);
    let mut decoder = LineDecoder::new(keys);
    let mut framer = LineFramer::new(0);
    let mut parts = DecodedFile::default();
    for chunk in chunks(data, &points) {
        framer.feed(chunk, |f| decoder.decode_frame(f, &mut parts));
    }
    parts.committed_offset = framer.committed_offset();
    parts.incomplete_tail = framer.pending_len();
    assert_eq!(parts, whole, "split at {points:?} differs from whole");
});
