//! The fixed inputs the generated vectors share (`signed-records-v1.json`,
//! `state-v1.json`, `changes-v1.json`, `private-v1.json`): the identities of
//! `identity-v1.json` (and carol, a third member), one room id, and the epochs 1 and 300
//! with their secrets. Included by the vector tests with
//! `#[path = "support/vector_inputs.rs"] mod vector_inputs;` (without the FTP server).

#![allow(dead_code)]

use ftpchat_core::codec::RoomId;
use ftpchat_core::{DeviceIdentity, EpochSecret, FernetKey};

/// 32 bytes counting up from `first`: the seeds of the fixed identities.
pub fn seeds(first: u8) -> [u8; 32] {
    std::array::from_fn(|i| first.wrapping_add(i as u8))
}

/// Name, first byte of the Ed25519 seed, first byte of the X25519 secret: alice and bob
/// of `identity-v1.json`, and carol.
pub const SEEDS: [(&str, u8, u8); 3] = [
    ("alice", 0x01, 0x41),
    ("bob", 0x81, 0xc1),
    ("carol", 0x21, 0x61),
];

/// The fixed identity named `name` (alice, bob or carol).
pub fn identity(name: &str) -> DeviceIdentity {
    let (_, ed, x) = SEEDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .expect("a fixed identity");
    DeviceIdentity::from_secret_bytes(seeds(*ed), seeds(*x))
}

/// The identities of `identity-v1.json`: alice and bob.
pub fn identities() -> Vec<(&'static str, DeviceIdentity)> {
    vec![("alice", identity("alice")), ("bob", identity("bob"))]
}

/// The room of the vectors.
pub fn room() -> RoomId {
    RoomId(std::array::from_fn(|i| 0x30 + i as u8))
}

/// Epoch number and its secret. Epoch 300: a multi-digit epoch, a two-byte varint.
pub fn epochs() -> Vec<(u64, [u8; 32])> {
    vec![
        (1, std::array::from_fn(|i| 0xe0 + i as u8)),
        (300, std::array::from_fn(|i| 0x70 + i as u8)),
    ]
}

/// The secret of `epoch` (1 or 300).
pub fn epoch_secret(epoch: u64) -> [u8; 32] {
    let (_, secret) = epochs()
        .into_iter()
        .find(|(e, _)| *e == epoch)
        .expect("epoch 1 or 300");
    secret
}

/// The Fernet key of `epoch`'s records in the vectors' room.
pub fn message_key(epoch: u64) -> FernetKey {
    EpochSecret::from_bytes(epoch_secret(epoch)).message_key(room(), epoch)
}
