//! The native room header: a small plaintext file holding what a client needs before it
//! can derive the room key.
//!
//! ```text
//! ftpchat-room 1
//! room-id: 0123456789abcdef0123456789abcdef
//! kdf: pbkdf2-sha256
//! salt: <URL-safe base64>
//! iterations: 600000
//! key-check: <Fernet token>
//! ```
//!
//! `key-check` is a token of the room key over a fixed text that names the room, so a
//! wrong password is reported once, when the room is opened. Unknown `name: value` lines
//! are ignored, so later versions can add fields.

use base64::Engine as _;

use super::RoomId;
use crate::crypto::{FernetError, FernetKey, KdfError, KdfParams};

/// The first line of a version-1 header.
pub(crate) const HEADER_MAGIC: &str = "ftpchat-room 1";
/// The largest header accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 16 * 1024;

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The file does not start with `ftpchat-room `.
    #[error("not an ftpchat room header")]
    NotAHeader,
    /// A header version this code does not read.
    #[error("unsupported room header version {0:?}")]
    UnsupportedVersion(String),
    /// The header is larger than [`MAX_HEADER_LEN`] or not UTF-8.
    #[error("room header is too large or not UTF-8")]
    Malformed,
    /// A required field is absent.
    #[error("room header lacks the {0} field")]
    MissingField(&'static str),
    /// A field is present twice or its value does not parse.
    #[error("room header field {0} is invalid")]
    InvalidField(&'static str),
    /// A key-derivation function other than PBKDF2-HMAC-SHA256.
    #[error("unsupported key derivation {0:?}")]
    UnsupportedKdf(String),
    /// The KDF parameters are out of bounds (e.g. absurd iteration counts).
    #[error(transparent)]
    Kdf(#[from] KdfError),
    /// The key check did not verify: the password is wrong.
    #[error("wrong password for this room")]
    WrongPassword,
}

/// A parsed room header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomHeader {
    /// The room's id.
    pub room_id: RoomId,
    /// Salt and iterations of the room key.
    pub kdf: KdfParams,
    /// The key-check token.
    pub key_check: String,
}

fn key_check_text(room: &RoomId) -> Vec<u8> {
    format!("ftpchat-room key check {}", room.to_hex()).into_bytes()
}

impl RoomHeader {
    /// A header for a new room; `key` must be the key derived from `kdf`.
    pub fn new(room_id: RoomId, kdf: KdfParams, key: &FernetKey, now: u64) -> Self {
        let key_check = key.encrypt(&key_check_text(&room_id), now);
        RoomHeader {
            room_id,
            kdf,
            key_check,
        }
    }

    /// Checks that `key` is this room's key.
    pub fn verify_key(&self, key: &FernetKey) -> Result<(), HeaderError> {
        match key.decrypt(self.key_check.as_bytes()) {
            Ok(token) if token.plaintext == key_check_text(&self.room_id) => Ok(()),
            Ok(_) | Err(FernetError::AuthenticationFailed) => Err(HeaderError::WrongPassword),
            Err(_) => Err(HeaderError::InvalidField("key-check")),
        }
    }

    /// The header file's bytes.
    pub fn encode(&self) -> String {
        format!(
            "{HEADER_MAGIC}\nroom-id: {}\nkdf: pbkdf2-sha256\nsalt: {}\niterations: {}\nkey-check: {}\n",
            self.room_id.to_hex(),
            base64::engine::general_purpose::URL_SAFE.encode(self.kdf.salt()),
            self.kdf.iterations(),
            self.key_check,
        )
    }

    /// Parses a header file.
    pub fn parse(data: &[u8]) -> Result<Self, HeaderError> {
        if data.len() > MAX_HEADER_LEN {
            return Err(HeaderError::Malformed);
        }
        let text = std::str::from_utf8(data).map_err(|_| HeaderError::Malformed)?;
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        let version = first
            .strip_prefix("ftpchat-room ")
            .ok_or(HeaderError::NotAHeader)?;
        if version != "1" {
            return Err(HeaderError::UnsupportedVersion(
                version.chars().take(32).collect(),
            ));
        }
        let (mut room, mut kdf, mut salt, mut iterations, mut check) =
            (None, None, None, None, None);
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(HeaderError::Malformed);
            };
            let value = value.trim();
            let slot = match name.trim() {
                "room-id" => (&mut room, "room-id"),
                "kdf" => (&mut kdf, "kdf"),
                "salt" => (&mut salt, "salt"),
                "iterations" => (&mut iterations, "iterations"),
                "key-check" => (&mut check, "key-check"),
                _ => continue, // unknown field: a later version's; ignored
            };
            if slot.0.replace(value).is_some() {
                return Err(HeaderError::InvalidField(slot.1));
            }
        }
        let room_id = RoomId::from_hex(room.ok_or(HeaderError::MissingField("room-id"))?)
            .ok_or(HeaderError::InvalidField("room-id"))?;
        let kdf_name = kdf.ok_or(HeaderError::MissingField("kdf"))?;
        if kdf_name != "pbkdf2-sha256" {
            return Err(HeaderError::UnsupportedKdf(
                kdf_name.chars().take(32).collect(),
            ));
        }
        let salt = base64::engine::general_purpose::URL_SAFE
            .decode(salt.ok_or(HeaderError::MissingField("salt"))?)
            .map_err(|_| HeaderError::InvalidField("salt"))?;
        let iterations = iterations.ok_or(HeaderError::MissingField("iterations"))?;
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HeaderError::InvalidField("iterations"));
        }
        let iterations: u64 = iterations
            .parse()
            .map_err(|_| HeaderError::InvalidField("iterations"))?;
        let kdf = KdfParams::new(salt, iterations)?;
        let key_check = check
            .ok_or(HeaderError::MissingField("key-check"))?
            .to_owned();
        Ok(RoomHeader {
            room_id,
            kdf,
            key_check,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::derive_key;

    fn sample() -> (RoomHeader, FernetKey) {
        let kdf = KdfParams::new(b"0123456789abcdef".to_vec(), 1000).unwrap();
        let key = derive_key("pw", &kdf);
        (
            RoomHeader::new(RoomId::random(), kdf, &key, 1_700_000_000),
            key,
        )
    }

    #[test]
    fn round_trip_and_key_check() {
        let (h, key) = sample();
        let parsed = RoomHeader::parse(h.encode().as_bytes()).unwrap();
        assert_eq!(parsed, h);
        parsed.verify_key(&key).unwrap();
        let wrong = derive_key("not pw", &h.kdf);
        assert_eq!(parsed.verify_key(&wrong), Err(HeaderError::WrongPassword));
    }

    #[test]
    fn hostile_headers_are_refused() {
        let (h, _) = sample();
        let text = h.encode();
        let absurd = text.replace("iterations: 1000", "iterations: 4000000000000");
        assert!(matches!(
            RoomHeader::parse(absurd.as_bytes()),
            Err(HeaderError::Kdf(KdfError::IterationsOutOfRange { .. }))
        ));
        assert_eq!(RoomHeader::parse(b"hello"), Err(HeaderError::NotAHeader));
        assert!(matches!(
            RoomHeader::parse(b"ftpchat-room 9\n"),
            Err(HeaderError::UnsupportedVersion(_))
        ));
        let dup = format!("{text}iterations: 5\n");
        assert_eq!(
            RoomHeader::parse(dup.as_bytes()),
            Err(HeaderError::InvalidField("iterations"))
        );
        let missing = text.replace("kdf: pbkdf2-sha256\n", "");
        assert_eq!(
            RoomHeader::parse(missing.as_bytes()),
            Err(HeaderError::MissingField("kdf"))
        );
        let scrypt = text.replace("pbkdf2-sha256", "scrypt");
        assert!(matches!(
            RoomHeader::parse(scrypt.as_bytes()),
            Err(HeaderError::UnsupportedKdf(_))
        ));
        assert_eq!(
            RoomHeader::parse(&vec![b'a'; MAX_HEADER_LEN + 1]),
            Err(HeaderError::Malformed)
        );
        let extended = format!("{text}future-field: yes\n");
        assert!(RoomHeader::parse(extended.as_bytes()).is_ok());
    }
}
