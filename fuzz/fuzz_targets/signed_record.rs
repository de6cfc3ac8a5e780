//! Signed records (SPEC.md §8.6) on arbitrary bytes, with the epoch keys of
//! `signed-records-v1.json` (epochs 1 and 300 of its room). The first byte picks the mode:
//!
//! - 0: the rest is a line for `LineDecoder::decode_line`;
//! - 1: the rest is a payload for `SignedRecord::decode_payload` (line epochs 1 and 300);
//! - 2: the rest is a payload, sealed under epoch 1's key (300's when the first byte is
//!   0x80 or more) as an `ftc3:` line and decoded by the line decoder, which must agree
//!   with the bare payload path.
//!
//! Nothing panics (decoding, `verify_signature`, `hash`); whatever decodes satisfies the
//! rules decoding promises: the epoch of the line, the derived writer id, zeros `prev`
//! exactly for `seq` 1, the line's hash.
#![no_main]

use ftpchat_core::codec::{
    derive_writer_id, line_hash, DecodeError, FernetKey, Inflater, LineDecoder, Record, RoomId,
    SignedRecord, MAX_LINE_LEN,
};
use libfuzzer_sys::fuzz_target;

/// `room_id` of signed-records-v1.json.
const ROOM: [u8; 16] = [
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
];
/// The message keys of epochs 1 and 300 in signed-records-v1.json.
const KEYS: [(u64, &str); 2] = [(1, KEY_EPOCH_1), (300, KEY_EPOCH_300)];
const KEY_EPOCH_1: &str = "qKY2N9j1uA6lrp5G1wAGFsSKSdEanrhxBLFNguj8ZCY=";
const KEY_EPOCH_300: &str = "IQzfCrpCPUcz0lkOn9Tb97iiSw2AKtw1nobQ4v40Ilo=";

fn key(epoch: u64) -> FernetKey {
    let (_, text) = KEYS
        .iter()
        .find(|(e, _)| *e == epoch)
        .expect("a vector epoch");
    FernetKey::from_base64(text).expect("a valid key")
}

fn decoder() -> LineDecoder {
    let mut d = LineDecoder::default();
    for (epoch, _) in KEYS {
        d.add_epoch_key(RoomId(ROOM), epoch, key(epoch));
    }
    d
}

/// What any decoded signed record satisfies.
fn check(r: &SignedRecord, line_epoch: u64) {
    assert_eq!(r.epoch, line_epoch);
    assert_eq!(
        r.record.writer,
        derive_writer_id(r.record.room, &r.device, r.generation)
    );
    assert_eq!(r.record.seq == 1, r.prev == [0u8; 32]);
    // Must not panic; random bytes almost never verify, the vectors' lines do.
    let _ = r.verify_signature();
}

fn decode_line(line: &[u8]) -> Result<Record, DecodeError> {
    let got = decoder().decode_line(line);
    if let Ok(Record::Signed(r)) = &got {
        assert!(line.starts_with(b"ftc3:"));
        check(r, r.epoch);
        assert!(line.starts_with(format!("ftc3:{}:", r.epoch).as_bytes()));
        assert_eq!(r.record.room, RoomId(ROOM));
        assert_eq!(r.hash(), line_hash(line));
    }
    got
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let _ = decode_line(data);
        }
        1 => {
            let mut inflater = Inflater::new();
            for epoch in [1, 300] {
                let got = SignedRecord::decode_payload(data, epoch, &mut inflater);
                if let Ok(r) = &got {
                    check(r, epoch);
                    // The hash is the line's: none yet.
                    assert_eq!(r.hash(), [0u8; 32]);
                    // The same payload on a line of another epoch: refused for its epoch.
                    assert_eq!(
                        SignedRecord::decode_payload(data, epoch + 1, &mut inflater),
                        Err(DecodeError::Malformed(
                            ftpchat_core::codec::native::MalformedRecord::InvalidField(9)
                        ))
                    );
                }
            }
        }
        _ => {
            let epoch = if mode >= 0x80 { 300 } else { 1 };
            let line = format!("ftc3:{epoch}:{}", key(epoch).encrypt(data, 0));
            if line.len() > MAX_LINE_LEN {
                return;
            }
            let want = SignedRecord::decode_payload(data, epoch, &mut Inflater::new());
            let got = decode_line(line.as_bytes());
            match (want, got) {
                (Ok(w), Ok(Record::Signed(g))) => {
                    assert_eq!(w.record, g.record);
                    assert_eq!(
                        (w.epoch, w.prev, w.device, w.generation),
                        (g.epoch, g.prev, g.device, g.generation)
                    );
                    assert_eq!(w.verify_signature(), g.verify_signature());
                }
                (Ok(w), Err(DecodeError::ForeignRoom)) => assert_ne!(w.record.room, RoomId(ROOM)),
                (Err(w), Err(g)) => assert_eq!(w, g),
                (w, g) => panic!("payload path {w:?}, line path {g:?}"),
            }
        }
    }
});
