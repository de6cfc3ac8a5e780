//! Native payload parsing (SPEC.md §8): `NativeRecord::decode_payload` and `decode_fields`
//! on arbitrary bytes never panic and give typed errors; what parses re-encodes to a
//! canonical form that parses to the same record; the payload path agrees with the fields
//! path; and the same bytes sent as an authenticated line (encrypted under the room key)
//! decode exactly as the bare payload does, with the room id bound (`ForeignRoom`).
#![no_main]

use ftpchat_core::codec::{Deflater, FernetKey, Inflater};
use ftpchat_core::codec::native::{MAX_BODY_LEN, MAX_SENDER_LEN};
use ftpchat_core::codec::{
    DecodeError, Keyring, LineDecoder, NativeRecord, Record, RecordBody, RoomId, MAX_LINE_LEN,
};
use libfuzzer_sys::fuzz_target;

fn decoder(key: &FernetKey, room: RoomId) -> LineDecoder {
    LineDecoder::new(Keyring {
        fernet: None,
        native: Some((key.clone(), room)),
    })
}

fn check_record(record: &NativeRecord, key: &FernetKey) {
    assert!(record.sender.len() <= MAX_SENDER_LEN);
    if let RecordBody::Other { kind, .. } = &record.body {
        assert!(
            !(1..=4).contains(kind),
            "texts, edits, deletes and reactions must decode to their own variants"
        );
    }
    // Canonical re-encoding parses back to the same record, by both paths.
    let fields = record.encode_fields();
    assert_eq!(NativeRecord::decode_fields(&fields).as_ref(), Ok(record));
    let mut deflater = Deflater::new();
    let payload = record.encode_payload(&mut deflater);
    assert_eq!(
        NativeRecord::decode_payload(&payload, &mut Inflater::new()).as_ref(),
        Ok(record)
    );
    // And as a full line: the right room decodes it, any other room refuses it.
    let line = record.encode_line(key, &mut deflater);
    if line.len() <= MAX_LINE_LEN {
        let got = decoder(key, record.room).decode_line(line.as_bytes());
        assert_eq!(got, Ok(Record::Native(record.clone())));
        let mut other = record.room;
        other.0[0] ^= 1;
        let got = decoder(key, other).decode_line(line.as_bytes());
        assert_eq!(got, Err(DecodeError::ForeignRoom));
    }
}

fuzz_target!(|data: &[u8]| {
    let key = FernetKey::from_bytes(&[9; 32]);
    let mut inflater = Inflater::new();
    let payload = NativeRecord::decode_payload(data, &mut inflater);
    let fields = NativeRecord::decode_fields(data);

    // The payload header rules, in the order SPEC.md §8.1 gives.
    match data {
        [] => assert!(matches!(payload, Err(DecodeError::Malformed(_)))),
        [v, ..] if *v != 1 => assert_eq!(
            payload,
            Err(DecodeError::UnsupportedVersion {
                version: u64::from(*v)
            })
        ),
        [_] => assert!(matches!(payload, Err(DecodeError::Malformed(_)))),
        [_, flags, ..] if flags & !1 != 0 => {
            assert!(matches!(payload, Err(DecodeError::Malformed(_))))
        }
        [_, 0, body @ ..] => {
            if body.len() > MAX_BODY_LEN {
                assert_eq!(payload, Err(DecodeError::TooLarge));
            } else {
                assert_eq!(
                    payload.clone(),
                    NativeRecord::decode_fields(body).map_err(DecodeError::Malformed)
                );
            }
        }
        [_, _, body @ ..] => {
            // Compressed: the body must be one complete zlib stream within the limit.
            match inflater.decompress(body, MAX_BODY_LEN) {
                Ok(inflated) => assert_eq!(
                    payload.clone(),
                    NativeRecord::decode_fields(&inflated).map_err(DecodeError::Malformed)
                ),
                Err(_) => assert!(matches!(
                    payload,
                    Err(DecodeError::TooLarge | DecodeError::Compression(_))
                )),
            }
        }
    }

    for record in [payload.as_ref().ok(), fields.as_ref().ok()]
        .into_iter()
        .flatten()
    {
        check_record(record, &key);
    }

    // The fuzzer's bytes as fields inside a compressed payload decode as the fields do.
    if data.len() <= MAX_BODY_LEN {
        let mut compressed = vec![1u8, 1];
        compressed.extend_from_slice(&Deflater::new().compress(data));
        assert_eq!(
            NativeRecord::decode_payload(&compressed, &mut inflater),
            fields.clone().map_err(DecodeError::Malformed)
        );
    }

    // The same bytes, authenticated: a native line under the room key decodes exactly as
    // the bare payload (plus the room check).
    let room = RoomId([3; 16]);
    let line = format!("ftc2:{}", key.encrypt(data, 0));
    if line.len() <= MAX_LINE_LEN {
        let want = payload.and_then(|r| {
            if r.room == room {
                Ok(Record::Native(r))
            } else {
                Err(DecodeError::ForeignRoom)
            }
        });
        assert_eq!(decoder(&key, room).decode_line(line.as_bytes()), want);
        // Without the key, or with another key, nothing is revealed or forged.
        let other = FernetKey::from_bytes(&[8; 32]);
        assert_eq!(
            decoder(&other, room).decode_line(line.as_bytes()),
            Err(DecodeError::WrongKeyOrTampered)
        );
        assert!(matches!(
            LineDecoder::new(Keyring::default()).decode_line(line.as_bytes()),
            Err(DecodeError::NoKey(_))
        ));
    }
});
