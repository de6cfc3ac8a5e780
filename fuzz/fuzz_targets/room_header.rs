//! Room header parsing (SPEC.md §9.2, §6): arbitrary bytes never panic and give typed
//! errors without any key derivation; what parses is within the KDF bounds and is stable
//! under parse → encode → parse; a header built from fuzzed parameters round-trips; and
//! checking a key against any parsed header never succeeds with a key that did not make it.
#![no_main]

use ftpchat_core::codec::{MAX_ITERATIONS, MAX_SALT_LEN, MIN_ITERATIONS};
use ftpchat_core::codec::{FernetKey, KdfParams};
use ftpchat_core::codec::MAX_HEADER_LEN;
use ftpchat_core::codec::{HeaderError, RoomHeader, RoomId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = FernetKey::from_bytes(&[5; 32]);
    match RoomHeader::parse(data) {
        Ok(header) => {
            assert!(data.len() <= MAX_HEADER_LEN);
            let iterations = header.kdf.iterations();
            assert!((MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations));
            assert!(header.kdf.salt().len() <= MAX_SALT_LEN);
            let text = header.encode();
            let again = RoomHeader::parse(text.as_bytes()).expect("an encoded header parses");
            assert_eq!(again, header);
            assert_eq!(again.encode(), text);
            // Whatever the key-check holds, a key that did not make it is refused with a
            // typed error (the fuzzer cannot forge an HMAC).
            match header.verify_key(&key) {
                Err(HeaderError::WrongPassword | HeaderError::InvalidField("key-check")) => {}
                other => panic!("unexpected key check result {other:?}"),
            }
        }
        Err(HeaderError::Malformed) => {}
        Err(e) => assert!(
            data.len() <= MAX_HEADER_LEN,
            "{e:?} for an oversized header"
        ),
    }
    if data.len() > MAX_HEADER_LEN {
        assert_eq!(RoomHeader::parse(data), Err(HeaderError::Malformed));
    }

    // A header made from fuzzed parameters round-trips and verifies with its own key only.
    if data.len() >= 24 {
        let mut id = [0u8; 16];
        id.copy_from_slice(&data[..16]);
        let mut n = [0u8; 8];
        n.copy_from_slice(&data[16..24]);
        let iterations = u64::from_le_bytes(n) % (u64::from(MAX_ITERATIONS) + 2);
        let salt = &data[24..];
        match KdfParams::new(salt.to_vec(), iterations) {
            Ok(kdf) => {
                let header = RoomHeader::new(RoomId(id), kdf, &key, iterations);
                let parsed = RoomHeader::parse(header.encode().as_bytes());
                if header.encode().len() <= MAX_HEADER_LEN {
                    let parsed = parsed.expect("a new header parses");
                    assert_eq!(parsed, header);
                    assert_eq!(parsed.verify_key(&key), Ok(()));
                    let other = FernetKey::from_bytes(&[6; 32]);
                    assert_eq!(parsed.verify_key(&other), Err(HeaderError::WrongPassword));
                } else {
                    assert_eq!(parsed, Err(HeaderError::Malformed));
                }
            }
            Err(_) => assert!(
                salt.len() > MAX_SALT_LEN
                    || !(u64::from(MIN_ITERATIONS)..=u64::from(MAX_ITERATIONS))
                        .contains(&iterations)
            ),
        }
    }
});
