//! Property tests: every codec round-trips, framing is split-independent, and no input
//! makes the decoder panic.
#![allow(clippy::unwrap_used)]

use ftpchat_core::codec::compat::{self, CompatMessage, LegacyTimestamp};
use ftpchat_core::codec::native::{Hlc, NativeRecord, RecordBody, RecordId, RoomId, WriterId};
use ftpchat_core::codec::{Deflater, FernetKey, Inflater};
use ftpchat_core::codec::{Frame, Keyring, LineDecoder, LineEncoder, LineFramer, Record};
use proptest::prelude::*;

fn key() -> FernetKey {
    FernetKey::from_bytes(&[7; 32])
}

fn timestamp() -> impl Strategy<Value = LegacyTimestamp> {
    (0u16..10000, 1u8..13, 1u8..32, 0u8..24, 0u8..60).prop_map(
        |(year, month, day, hour, minute)| LegacyTimestamp {
            year,
            month,
            day,
            hour,
            minute,
        },
    )
}

fn record() -> impl Strategy<Value = NativeRecord> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u64>(),
        any::<u64>(),
        "\\PC{0,40}",
        prop_oneof![
            ".*".prop_map(RecordBody::Text),
            (
                2u64..1_000_000,
                proptest::collection::vec(any::<u8>(), 0..200)
            )
                .prop_map(|(kind, data)| RecordBody::Other { kind, data }),
        ],
    )
        .prop_map(|(id, writer, seq, hlc, sender, body)| NativeRecord {
            id: RecordId(id),
            room: RoomId([3; 16]),
            writer: WriterId(writer),
            seq,
            hlc: Hlc(hlc),
            sender,
            body,
        })
}

proptest! {
    #[test]
    fn legacy_round_trip(text in ".*") {
        let line = compat::encode_legacy(&text, &mut Deflater::new());
        prop_assert_eq!(compat::decode_legacy(line.as_bytes(), &mut Inflater::new()).unwrap(), text);
    }

    #[test]
    fn plaintext_parse_is_lossless(text in ".*") {
        prop_assert_eq!(CompatMessage::parse(&text).to_plaintext(), text);
    }

    #[test]
    fn structured_messages_round_trip_through_both_compat_codecs(
        ts in timestamp(), user in "[^\r\n]{0,20}", text in ".*", now in any::<u32>()
    ) {
        prop_assume!(!user.contains(": "));
        let msg = CompatMessage::new(ts, user, text).unwrap();
        let mut enc = LineEncoder::new();
        let mut dec = LineDecoder::new(Keyring { fernet: Some(key()), native: None });
        for line in [enc.legacy15(&msg), enc.fernet16(&msg, &key(), u64::from(now))] {
            match dec.decode_line(line.as_bytes()).unwrap() {
                Record::Compat { message, .. } => prop_assert_eq!(&message, &msg),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn native_round_trip(rec in record()) {
        let line = LineEncoder::new().native(&rec, &key());
        let mut dec = LineDecoder::new(Keyring { fernet: None, native: Some((key(), RoomId([3; 16]))) });
        prop_assert_eq!(dec.decode_line(line.as_bytes()).unwrap(), Record::Native(rec));
    }

    #[test]
    fn framing_is_split_independent(data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..300), cut in any::<prop::sample::Index>()) {
        let collect = |chunks: &[&[u8]]| {
            let mut f = LineFramer::with_max_line(0, 16);
            let mut out = Vec::new();
            for c in chunks {
                f.feed(c, |fr| out.push(match fr {
                    Frame::Line { offset, bytes } => (offset, Some(bytes.to_vec())),
                    Frame::TooLong { offset, .. } => (offset, None),
                }));
            }
            (out, f.committed_offset(), f.pending_len())
        };
        let at = cut.index(data.len() + 1);
        prop_assert_eq!(collect(&[&data]), collect(&[&data[..at], &data[at..]]));
    }

    #[test]
    fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..500)) {
        let mut dec = LineDecoder::new(Keyring { fernet: Some(key()), native: Some((key(), RoomId([3; 16]))) });
        let out = dec.decode_bytes(&data, 0);
        prop_assert_eq!(out.committed_offset + out.incomplete_tail, data.len() as u64);
    }

    #[test]
    fn prefixed_garbage_is_a_typed_error(body in "[A-Za-z0-9_=-]{0,120}", head in prop_oneof![Just("e"), Just("g"), Just("ftc2:")]) {
        let mut dec = LineDecoder::new(Keyring { fernet: Some(key()), native: Some((key(), RoomId([3; 16]))) });
        let line = format!("{head}{body}");
        // Either a record (astronomically unlikely) or a typed error; never a panic.
        let _ = dec.decode_line(line.as_bytes());
    }
}
