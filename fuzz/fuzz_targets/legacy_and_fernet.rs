//! The FTPChat codecs (SPEC.md §4–§5, §7) and Fernet tokens (§5.1):
//! - a 1.5 line of arbitrary bytes never panics; what decodes re-encodes to a line that
//!   decodes to the same text, and its plaintext parses losslessly;
//! - base64(zlib(bytes)) decodes iff the bytes are UTF-8 within the limit (else the typed
//!   `InvalidUtf8` / `TooLarge`), and inflating never exceeds the limit;
//! - a valid token (1.7's line) around arbitrary bytes decodes identically through
//!   `compat::decode_fernet` and `LineDecoder`, and with the typed error for bad zlib or
//!   bad UTF-8; a token altered anywhere never yields other plaintext (no forgery);
//! - arbitrary bytes as a token or a key string give typed errors.
#![no_main]

mod common;

use common::split_input;
use ftpchat_core::codec::{CompressionError, Deflater, FernetKey, Inflater};
use ftpchat_core::codec::compat::{self, CompatMessage, MAX_COMPAT_PLAINTEXT};
use ftpchat_core::codec::{Codec, DecodeError, Keyring, LineDecoder, Record, MAX_LINE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let (data, mut rng) = split_input(input);
    let key = FernetKey::from_bytes(&[7; 32]);
    let mut inflater = Inflater::new();
    let mut deflater = Deflater::new();
    let mut decoder = LineDecoder::new(Keyring {
        fernet: Some(key.clone()),
        native: None,
    });

    // 1.5: arbitrary bytes as a line.
    if let Ok(text) = compat::decode_legacy(data, &mut inflater) {
        assert_eq!(CompatMessage::parse(&text).to_plaintext(), text);
        let line = compat::encode_legacy(&text, &mut deflater);
        assert_eq!(
            compat::decode_legacy(line.as_bytes(), &mut inflater).as_deref(),
            Ok(text.as_str())
        );
    }

    // Inflating arbitrary bytes stays within any limit, however small. (Limits below 64
    // used to panic: hostile_input.rs, `tiny_inflate_limits_do_not_panic`.)
    let limit = rng.upto(4096);
    if let Ok(out) = inflater.decompress(data, limit) {
        assert!(out.len() <= limit);
    }

    // 1.5: a well-formed line around arbitrary bytes.
    let zlib = deflater.compress(data);
    let line = {
        use std::fmt::Write as _;
        // Standard base64 with padding, as FTPChat writes it.
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in zlib.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    let _ = s.write_char(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s
    };
    let legacy = compat::decode_legacy(line.as_bytes(), &mut inflater);
    match std::str::from_utf8(data) {
        _ if data.len() > MAX_COMPAT_PLAINTEXT => assert_eq!(legacy, Err(DecodeError::TooLarge)),
        Ok(text) => assert_eq!(legacy, Ok(compat::unsubstitute(text))),
        Err(_) => assert_eq!(legacy, Err(DecodeError::InvalidUtf8)),
    }
    if line.len() <= MAX_LINE_LEN {
        let via_decoder = decoder.decode_line(line.as_bytes());
        match (&legacy, via_decoder) {
            (
                Ok(text),
                Ok(Record::Compat {
                    codec,
                    message,
                    token_time,
                }),
            ) => {
                assert_eq!(codec, Codec::Legacy15);
                assert_eq!(token_time, None);
                assert_eq!(message, CompatMessage::parse(text));
            }
            (Err(a), Err(b)) => assert_eq!(*a, b),
            (a, b) => panic!("decode_legacy {a:?} but LineDecoder {b:?}"),
        }
    }

    // Arbitrary bytes as a token.
    assert!(
        key.decrypt(data).is_err(),
        "an arbitrary token authenticated"
    );
    let _ = compat::decode_fernet(data, &key, &mut inflater);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = FernetKey::from_base64(text);
    }

    // Valid tokens (1.7 lines) around arbitrary bytes, as the zlib stream and as the plaintext.
    let time = rng.next();
    for (payload, compressed) in [(data, false), (&zlib[..], true)] {
        let token = key.encrypt(payload, time);
        let direct = compat::decode_fernet(token.as_bytes(), &key, &mut inflater);
        match inflater.decompress(payload, MAX_COMPAT_PLAINTEXT) {
            Ok(plain) => match String::from_utf8(plain) {
                Ok(text) => assert_eq!(direct, Ok((text, time))),
                Err(_) => assert_eq!(direct, Err(DecodeError::InvalidUtf8)),
            },
            Err(CompressionError::TooLarge { .. }) => {
                assert_eq!(direct, Err(DecodeError::TooLarge))
            }
            Err(e) => assert_eq!(direct, Err(DecodeError::Compression(e))),
        }
        if compressed && data.len() <= MAX_COMPAT_PLAINTEXT {
            assert!(direct.is_ok() || std::str::from_utf8(data).is_err());
        }
        if token.len() <= MAX_LINE_LEN {
            match (&direct, decoder.decode_line(token.as_bytes())) {
                (
                    Ok((text, t)),
                    Ok(Record::Compat {
                        codec,
                        message,
                        token_time,
                    }),
                ) => {
                    // A raw token is FTPChat 1.7's line shape.
                    assert_eq!(codec, Codec::Fernet17);
                    assert_eq!(token_time, Some(*t));
                    assert_eq!(message, CompatMessage::parse(text));
                }
                (Err(a), Err(b)) => assert_eq!(*a, b),
                (a, b) => panic!("decode_fernet {a:?} but LineDecoder {b:?}"),
            }
        }

        // An altered token never decrypts to anything else.
        let mut altered = token.clone().into_bytes();
        let at = rng.upto(altered.len() - 1);
        let byte = (rng.next() & 0x7f) as u8;
        if altered[at] != byte {
            altered[at] = byte;
            if let Ok(t) = key.decrypt(&altered) {
                assert_eq!(
                    t.plaintext, payload,
                    "altered token decrypted to other bytes"
                );
                assert_eq!(t.timestamp, time);
            }
        }
        // Truncated tokens too.
        let cut = rng.upto(token.len());
        if cut < token.len() {
            if let Ok(t) = key.decrypt(&token.as_bytes()[..cut]) {
                assert_eq!(
                    t.plaintext, payload,
                    "truncated token decrypted to other bytes"
                );
            }
        }
    }
});
