//! The FTPChat formats: the 1.5 ("legacy"), 1.6 and 1.7 codecs and their shared plaintext
//! `"{YYYY-MM-DD HH:MM}:{username}: {text}"`.
//!
//! | client | line |
//! |---|---|
//! | 1.5 | `base64(zlib(substitute(plaintext)))` |
//! | 1.6 | `base64(Fernet(zlib(plaintext)))`: standard base64 of the token's ASCII text, so lines start `Z0FBQUFB` |
//! | 1.7 | `Fernet(zlib(plaintext.rstrip()))`: the token itself, lines start `gAAAAA` |
//!
//! 1.6 and 1.7 derive the Fernet key with PBKDF2-HMAC-SHA256 from the password, the
//! constant salt [`FTPCHAT_SALT`] and [`FTPCHAT_ITERATIONS`] ([`ftpchat_client_kdf`]).
//!
//! **The 1.5 codec has no key.** Its "encryption" is one fixed substitution over the 94
//! printable ASCII characters; anyone holding the table (it is public) reads every
//! message. It is supported to read old chats and talk to old clients, nothing more.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::DecodeError;
use crate::crypto::{Deflater, FernetKey, Inflater, KdfParams};

/// The PBKDF2 salt of the FTPChat 1.6 and 1.7 clients: a constant in the client, the same
/// for every chat and every user (so it adds nothing against a dictionary attack).
pub const FTPCHAT_SALT: &[u8] = b"q6334#Q0q8294%E$(#$%^&^%$#@!#%^YHB>$W#CX>E";
/// The PBKDF2-HMAC-SHA256 iterations of the FTPChat 1.6 and 1.7 clients.
pub const FTPCHAT_ITERATIONS: u32 = 100_000;

/// The key derivation of the real FTPChat 1.6 and 1.7 clients ([`FTPCHAT_SALT`],
/// [`FTPCHAT_ITERATIONS`]).
pub fn ftpchat_client_kdf() -> KdfParams {
    KdfParams::new(FTPCHAT_SALT.to_vec(), u64::from(FTPCHAT_ITERATIONS))
        .unwrap_or_else(|_| unreachable!("constant parameters are in range"))
}

/// The substitution of FTPChat 1.5: `PLAIN[i]` becomes `SUBSTITUTED[i]`. Every other
/// character (space, newline, non-ASCII) passes unchanged.
const PLAIN: &[u8; 94] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~0123456789";
const SUBSTITUTED: &[u8; 94] = b"2&~_3,gXP+QKm:NZyh9t!W8\"^jA#v(ofiT6JS@bC5*DsHxU0Gu\\F/7)=>w[R?nqr-<%}Bk]e4L'YVd|{Mz`cI.1aOE;p$l";

/// Byte-indexed tables built at compile time: identity except the 94 characters.
const fn table(from: &[u8; 94], to: &[u8; 94]) -> [u8; 128] {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = i as u8;
        i += 1;
    }
    let mut j = 0;
    while j < 94 {
        t[from[j] as usize] = to[j];
        j += 1;
    }
    t
}
const ENCODE_TABLE: [u8; 128] = table(PLAIN, SUBSTITUTED);
const DECODE_TABLE: [u8; 128] = table(SUBSTITUTED, PLAIN);

/// Standard base64 with padding on output; padding optional on input.
const LEGACY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Applies the 1.5 substitution to `text` (ASCII bytes only; UTF-8 stays valid because
/// multi-byte sequences are all >= 0x80 and pass unchanged).
pub fn substitute(text: &str) -> String {
    map_ascii(text, &ENCODE_TABLE)
}

/// Reverses [`substitute`].
pub fn unsubstitute(text: &str) -> String {
    map_ascii(text, &DECODE_TABLE)
}

fn map_ascii(text: &str, table: &[u8; 128]) -> String {
    let bytes: Vec<u8> = text
        .bytes()
        .map(|b| if b < 128 { table[b as usize] } else { b })
        .collect();
    // Only ASCII bytes changed, and only into ASCII bytes.
    String::from_utf8(bytes).unwrap_or_else(|_| unreachable!("ASCII-to-ASCII map keeps UTF-8"))
}

/// A minute-precision local time as FTPChat writes it: `YYYY-MM-DD HH:MM`. The time zone
/// is the writer's and is not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LegacyTimestamp {
    /// Year (0..=9999).
    pub year: u16,
    /// Month (1..=12).
    pub month: u8,
    /// Day of month (1..=31).
    pub day: u8,
    /// Hour (0..=23).
    pub hour: u8,
    /// Minute (0..=59).
    pub minute: u8,
}

impl LegacyTimestamp {
    /// Parses exactly `YYYY-MM-DD HH:MM`.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 16 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' {
            return None;
        }
        let num = |range: std::ops::Range<usize>| -> Option<u16> {
            let digits = &s[range];
            digits
                .bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| digits.parse().ok())
                .flatten()
        };
        let ts = LegacyTimestamp {
            year: num(0..4)?,
            month: u8::try_from(num(5..7)?).ok()?,
            day: u8::try_from(num(8..10)?).ok()?,
            hour: u8::try_from(num(11..13)?).ok()?,
            minute: u8::try_from(num(14..16)?).ok()?,
        };
        let valid = (1..=12).contains(&ts.month)
            && (1..=31).contains(&ts.day)
            && ts.hour < 24
            && ts.minute < 60;
        valid.then_some(ts)
    }
}

impl fmt::Display for LegacyTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}

/// The message inside a 1.5 or 1.6 line.
///
/// A plaintext that does not follow `"{timestamp}:{username}: {text}"` is kept whole in
/// `text` with no timestamp and no username, so nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompatMessage {
    /// The writer's local time, minute precision.
    pub timestamp: Option<LegacyTimestamp>,
    /// The name the writer chose; anyone can write any name.
    pub username: Option<String>,
    /// The message; FTPChat's GUI usually leaves a trailing "\n".
    pub text: String,
}

/// Why a message cannot be written in the FTPChat plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompatEncodeError {
    /// The username contains `": "` or a line break, which readers would split wrongly.
    #[error("username must not contain \": \", CR or LF")]
    InvalidUsername,
}

impl CompatMessage {
    /// A structured message.
    pub fn new(
        timestamp: LegacyTimestamp,
        username: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Self, CompatEncodeError> {
        let username = username.into();
        if username.contains(": ") || username.contains(['\r', '\n']) {
            return Err(CompatEncodeError::InvalidUsername);
        }
        Ok(CompatMessage {
            timestamp: Some(timestamp),
            username: Some(username),
            text: text.into(),
        })
    }

    /// Parses a plaintext: 16 characters of timestamp, `:`, the username up to the first
    /// `": "`, then the text. `"{timestamp}:{username}:"` with no `": "` (what FTPChat 1.7
    /// writes for an empty message, after `rstrip()`) is that username with an empty text.
    pub fn parse(plaintext: &str) -> Self {
        let structured = (|| {
            let timestamp = LegacyTimestamp::parse(plaintext.get(..16)?)?;
            let rest = plaintext.get(16..)?.strip_prefix(':')?;
            let (username, text) = match rest.find(": ") {
                Some(split) => (&rest[..split], &rest[split + 2..]),
                None => (rest.strip_suffix(':')?, ""),
            };
            Some(CompatMessage {
                timestamp: Some(timestamp),
                username: Some(username.to_owned()),
                text: text.to_owned(),
            })
        })();
        structured.unwrap_or_else(|| CompatMessage {
            timestamp: None,
            username: None,
            text: plaintext.to_owned(),
        })
    }

    /// The plaintext as FTPChat 1.5 and 1.6 write it; `parse(m.to_plaintext()) == m`.
    /// (1.7 writes it with trailing white space removed: [`Self::to_plaintext_17`].)
    pub fn to_plaintext(&self) -> String {
        match (&self.timestamp, &self.username) {
            (Some(ts), Some(user)) => format!("{ts}:{user}: {}", self.text),
            _ => self.text.clone(),
        }
    }

    /// The plaintext as FTPChat 1.7 writes it: Python's `rstrip()` of
    /// [`Self::to_plaintext`] (no trailing white space or newline).
    pub fn to_plaintext_17(&self) -> String {
        let mut text = self.to_plaintext();
        text.truncate(rstrip(&text).len());
        text
    }
}

/// Python's `str.rstrip()` with no argument: removes trailing characters for which
/// `str.isspace()` holds (Unicode White_Space, plus the separators U+001C..U+001F).
pub fn rstrip(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// The longest decompressed plaintext accepted from a 1.5 or 1.6 line.
pub const MAX_COMPAT_PLAINTEXT: usize = 256 * 1024;

/// Encodes a plaintext as a FTPChat 1.5 line (no trailing LF):
/// base64(zlib(substitute(text))).
pub fn encode_legacy(plaintext: &str, deflater: &mut Deflater) -> String {
    let substituted = substitute(plaintext);
    LEGACY_BASE64.encode(deflater.compress(substituted.as_bytes()))
}

/// Decodes a FTPChat 1.5 line to its plaintext.
pub fn decode_legacy(line: &[u8], inflater: &mut Inflater) -> Result<String, DecodeError> {
    let compressed = LEGACY_BASE64
        .decode(line)
        .map_err(|_| DecodeError::NotARecord)?;
    let substituted = inflater
        .decompress(&compressed, MAX_COMPAT_PLAINTEXT)
        .map_err(DecodeError::from_compression)?;
    let text = String::from_utf8(substituted).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok(unsubstitute(&text))
}

/// Encodes a plaintext as a raw-token line, the line shape of FTPChat 1.7:
/// Fernet(zlib(UTF-8 text)), timestamped `now` (seconds since the Unix epoch). The 1.7
/// client `rstrip()`s the plaintext first ([`CompatMessage::to_plaintext_17`]); this
/// function encodes exactly what it is given.
pub fn encode_fernet(
    plaintext: &str,
    key: &FernetKey,
    now: u64,
    deflater: &mut Deflater,
) -> String {
    key.encrypt(&deflater.compress(plaintext.as_bytes()), now)
}

/// [`encode_fernet`] with a fixed IV, for vectors.
#[cfg(feature = "deterministic")]
pub fn encode_fernet_with_iv(
    plaintext: &str,
    key: &FernetKey,
    now: u64,
    iv: [u8; 16],
    deflater: &mut Deflater,
) -> String {
    key.encrypt_with_iv(&deflater.compress(plaintext.as_bytes()), now, iv)
}

/// Encodes a plaintext as a FTPChat 1.6 line: standard base64 (with padding) of the
/// ASCII text of the raw token [`encode_fernet`] makes.
pub fn encode_fernet16(
    plaintext: &str,
    key: &FernetKey,
    now: u64,
    deflater: &mut Deflater,
) -> String {
    LEGACY_BASE64.encode(encode_fernet(plaintext, key, now, deflater))
}

/// [`encode_fernet16`] with a fixed IV, for vectors.
#[cfg(feature = "deterministic")]
pub fn encode_fernet16_with_iv(
    plaintext: &str,
    key: &FernetKey,
    now: u64,
    iv: [u8; 16],
    deflater: &mut Deflater,
) -> String {
    LEGACY_BASE64.encode(encode_fernet_with_iv(plaintext, key, now, iv, deflater))
}

/// The raw token inside a FTPChat 1.6 line (undoes the outer base64 layer), decoded into
/// `out` (cleared first).
pub fn unwrap_fernet16_into(line: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.clear();
    LEGACY_BASE64
        .decode_vec(line, out)
        .map_err(|_| DecodeError::NotARecord)
}

/// Decodes a FTPChat 1.6 line; returns the plaintext and the token's timestamp.
pub fn decode_fernet16(
    line: &[u8],
    key: &FernetKey,
    inflater: &mut Inflater,
) -> Result<(String, u64), DecodeError> {
    let mut token = Vec::new();
    unwrap_fernet16_into(line, &mut token)?;
    decode_fernet(&token, key, inflater)
}

/// Decodes a raw-token line (FTPChat 1.7's shape); returns the plaintext and the token's
/// timestamp.
pub fn decode_fernet(
    line: &[u8],
    key: &FernetKey,
    inflater: &mut Inflater,
) -> Result<(String, u64), DecodeError> {
    let mut scratch = Vec::new();
    let (timestamp, compressed) = key
        .decrypt_in_place(line, &mut scratch)
        .map_err(DecodeError::from_fernet)?;
    let plain = inflater
        .inflate(compressed, MAX_COMPAT_PLAINTEXT)
        .map_err(DecodeError::from_compression)?;
    let text = std::str::from_utf8(plain).map_err(|_| DecodeError::InvalidUtf8)?;
    Ok((text.to_owned(), timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_inverse_permutations() {
        for b in 0u8..128 {
            assert_eq!(DECODE_TABLE[ENCODE_TABLE[b as usize] as usize], b);
        }
        assert_eq!(ENCODE_TABLE[b' ' as usize], b' ');
        assert_eq!(ENCODE_TABLE[b'\n' as usize], b'\n');
    }

    #[test]
    fn parse_plaintext() {
        let m = CompatMessage::parse("2026-11-21 23:59:user:with:colons: text: more\n");
        assert_eq!(m.username.as_deref(), Some("user:with:colons"));
        assert_eq!(m.text, "text: more\n");
        assert_eq!(m.timestamp.unwrap().to_string(), "2026-11-21 23:59");
        for raw in [
            "hello",
            "2026-13-01 00:00:a: b",
            "2026-01-01 00:00 a: b",
            "2026-01-01 00:00:nocolon",
            "",
        ] {
            let m = CompatMessage::parse(raw);
            assert_eq!(m.timestamp, None, "{raw}");
            assert_eq!(m.to_plaintext(), raw);
        }
        let ok = CompatMessage::parse("2026-01-01 00:00:a: ");
        assert_eq!((ok.username.as_deref(), ok.text.as_str()), (Some("a"), ""));
        assert_eq!(ok.to_plaintext(), "2026-01-01 00:00:a: ");
        // FTPChat 1.7 rstrips an empty message down to "ts:name:".
        let bare = CompatMessage::parse("2026-01-01 00:00:a:b:");
        assert_eq!(
            (bare.username.as_deref(), bare.text.as_str()),
            (Some("a:b"), "")
        );
        assert_eq!(bare.to_plaintext_17(), "2026-01-01 00:00:a:b:");
    }

    #[test]
    fn rstrip_is_pythons() {
        assert_eq!(rstrip("a b \t\n\r\u{3000}\u{85}\u{1f}"), "a b");
        assert_eq!(rstrip("\n x"), "\n x");
        let m = CompatMessage::parse("2026-01-01 00:00:a: two\nlines  \n");
        assert_eq!(m.to_plaintext_17(), "2026-01-01 00:00:a: two\nlines");
    }

    #[test]
    fn usernames_that_would_misparse_are_refused() {
        let ts = LegacyTimestamp::parse("2026-01-01 10:00").unwrap();
        assert!(CompatMessage::new(ts, "a: b", "x").is_err());
        assert!(CompatMessage::new(ts, "a\nb", "x").is_err());
        assert!(CompatMessage::new(ts, "a:b", "x").is_ok());
    }
}
