//! Device identity texts (SPEC.md §16): arbitrary text as a public identity or as an
//! armored backup is a typed error or a value that round-trips, never a panic; a backup's
//! Argon2id costs stay within their bounds (§16.4), so no input runs for long.
#![no_main]

use ftpchat_core::{DeviceIdentity, PublicIdentity};
use libfuzzer_sys::fuzz_target;

/// The passphrase of the backup in `identity-v1.json` (a seed of this target).
const PASSPHRASE: &str = "correct horse battery staple \u{2713}";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(public) = text.parse::<PublicIdentity>() {
        assert_eq!(public.to_string(), text, "one text per identity");
        let again = PublicIdentity::from_bytes(&public.to_bytes()).expect("its bytes parse");
        assert_eq!(again, public);
        assert_eq!(public.fingerprint().len(), 35);
    }
    if let Ok(id) = DeviceIdentity::import_backup(text, PASSPHRASE) {
        // Only an untampered backup opens: signing and verifying work.
        id.public()
            .verify(b"fuzz", &id.sign(b"fuzz"))
            .expect("a restored identity verifies its own signature");
    }
});
