//! Framing + codec detection + every decoder, fed arbitrary bytes: never panics, and any
//! split of the input gives the same records as the whole.
#![no_main]

use ftpchat_core::crypto::FernetKey;
use ftpchat_core::format::{Keyring, LineDecoder, RoomId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = FernetKey::from_bytes(&[7; 32]);
    let keys = Keyring { fernet16: Some(key.clone()), native: Some((key, RoomId([3; 16]))) };
    let whole = LineDecoder::new(keys.clone()).decode_bytes(data, 0);
    assert_eq!(whole.committed_offset + whole.incomplete_tail, data.len() as u64);
    let split = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let mut decoder = LineDecoder::new(keys);
    let mut framer = ftpchat_core::format::LineFramer::new(0);
    let mut parts = ftpchat_core::format::DecodedFile::default();
    for chunk in [&data[..split], &data[split..]] {
        framer.feed(chunk, |f| decoder.decode_frame(f, &mut parts));
    }
    assert_eq!(parts.records, whole.records);
    assert_eq!(parts.problems, whole.problems);
});
