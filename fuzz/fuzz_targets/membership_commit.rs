//! Membership commits (SPEC.md §17): arbitrary bytes as a commit are a typed error or a
//! commit whose canonical encoding is exactly those bytes; a decoded commit replays as a
//! one-commit history, and opens (or not) for a device, without panicking. The same bytes
//! are also tried as an invitation URL. Seeds: the `commit_hex` of `membership-v1.json`.
#![no_main]

use std::sync::OnceLock;

use ftpchat_core::{Commit, DeviceIdentity, Invitation, Membership, MAX_COMMIT_LEN};
use libfuzzer_sys::fuzz_target;

fn me() -> &'static DeviceIdentity {
    static ME: OnceLock<DeviceIdentity> = OnceLock::new();
    ME.get_or_init(DeviceIdentity::generate)
}

fuzz_target!(|data: &[u8]| {
    assert!(data.len() <= MAX_COMMIT_LEN || Commit::decode(data).is_err());
    if let Ok(commit) = Commit::decode(data) {
        assert_eq!(commit.encode(), data, "one encoding per commit");
        assert_eq!(commit.hash(), Commit::decode(data).expect("decodes twice").hash());
        let _ = Membership::replay(std::slice::from_ref(&commit));
        let _ = commit.open_secret(me());
        let _ = commit.open_history(me());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(inv) = Invitation::parse(text) {
            let again = Invitation::parse(&inv.to_url()).expect("its URL parses");
            assert_eq!(again.room(), inv.room());
            assert_eq!(again.location(), inv.location());
            assert_eq!(again.anchor(), inv.anchor());
        }
    }
});
