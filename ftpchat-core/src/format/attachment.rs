//! The body of an attachment record (kind 7, SPEC §8.4.3): what the file is and where its
//! encrypted blob lies. Sans-IO; every field that reaches a path or a screen is checked
//! here, when the record is decoded.

use super::native::{fields, get_varint, put_field, put_varint_field, tag, MalformedRecord};
use crate::crypto::BlobKey;

/// The folder of a room that holds attachment blobs.
pub const FILES_DIR: &str = "files";
/// The longest attachment file name, in bytes of UTF-8.
pub const MAX_FILE_NAME_LEN: usize = 255;
/// The longest media type, in bytes.
pub const MAX_MEDIA_TYPE_LEN: usize = 127;
/// The largest file size a record may announce (2⁴⁸ bytes, 256 TiB): far beyond any
/// limit a room sets, and small enough that no size computation overflows.
pub const MAX_ANNOUNCED_SIZE: u64 = 1 << 48;

mod sub {
    pub(super) const NAME: u64 = 1;
    pub(super) const SIZE: u64 = 2;
    pub(super) const MEDIA_TYPE: u64 = 3;
    pub(super) const PATH: u64 = 4;
    pub(super) const SHA256: u64 = 5;
    pub(super) const KEY: u64 = 6;
    pub(super) const CAPTION: u64 = 7;
}

/// An attachment record's body: the file's name, size and media type, its blob's path and
/// key, the SHA-256 of its content and an optional caption. `Debug` never shows the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttachmentBody {
    /// The file's name: one path component, no control characters (checked on decode).
    pub name: String,
    /// The file's size in bytes.
    pub size: u64,
    /// Its media type, e.g. `image/png`.
    pub media_type: String,
    /// The blob's path relative to the room: `files/` and 32 lowercase hex digits.
    pub path: String,
    /// SHA-256 of the file's content.
    pub sha256: [u8; 32],
    /// The blob's key.
    pub key: BlobKey,
    /// A caption shown with the file; may be empty.
    pub caption: String,
}

impl AttachmentBody {
    /// The body bytes (sub-fields in ascending order; the caption only when not empty).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.name.len() + self.caption.len());
        put_field(&mut out, sub::NAME, self.name.as_bytes());
        put_varint_field(&mut out, sub::SIZE, self.size);
        put_field(&mut out, sub::MEDIA_TYPE, self.media_type.as_bytes());
        put_field(&mut out, sub::PATH, self.path.as_bytes());
        put_field(&mut out, sub::SHA256, &self.sha256);
        put_field(&mut out, sub::KEY, self.key.as_bytes());
        if !self.caption.is_empty() {
            put_field(&mut out, sub::CAPTION, self.caption.as_bytes());
        }
        out
    }

    /// Parses and checks a body; anything unsafe to show or to use as a path is
    /// malformed.
    pub fn decode(body: &[u8]) -> Result<Self, MalformedRecord> {
        let invalid = MalformedRecord::InvalidField(tag::BODY);
        let mut seen: [Option<&[u8]>; 8] = [None; 8];
        for field in fields(body) {
            let (t, v) = field.map_err(|_| invalid)?;
            if let Some(slot) = seen.get_mut(t as usize).filter(|_| t >= 1) {
                if slot.replace(v).is_some() {
                    return Err(invalid);
                }
            }
        }
        let text = |t: u64| -> Result<String, MalformedRecord> {
            let v = seen[t as usize].ok_or(invalid)?;
            std::str::from_utf8(v)
                .map(str::to_owned)
                .map_err(|_| invalid)
        };
        let name = text(sub::NAME)?;
        let size = match get_varint(seen[sub::SIZE as usize].ok_or(invalid)?) {
            Ok((size, [])) if size <= MAX_ANNOUNCED_SIZE => size,
            _ => return Err(invalid),
        };
        let media_type = text(sub::MEDIA_TYPE)?;
        let path = text(sub::PATH)?;
        let sha256: [u8; 32] = seen[sub::SHA256 as usize]
            .ok_or(invalid)?
            .try_into()
            .map_err(|_| invalid)?;
        let key: [u8; 32] = seen[sub::KEY as usize]
            .ok_or(invalid)?
            .try_into()
            .map_err(|_| invalid)?;
        let caption = match seen[sub::CAPTION as usize] {
            Some(_) => text(sub::CAPTION)?,
            None => String::new(),
        };
        if !is_valid_file_name(&name) || !is_valid_media_type(&media_type) || !is_blob_path(&path) {
            return Err(invalid);
        }
        Ok(AttachmentBody {
            name,
            size,
            media_type,
            path,
            sha256,
            key: BlobKey::from_bytes(key),
            caption,
        })
    }
}

/// `true` for a name that is safe as the last component of a local path and on one line
/// of a terminal: 1 to 255 bytes, not `.` or `..`, no `/`, `\`, `:`, control character or
/// bidirectional formatting character (which could make `gpj.exe` show as `exe.jpg`).
pub fn is_valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_LEN
        && name != "."
        && name != ".."
        && !name.chars().any(is_refused_in_names)
}

/// Characters a file name may not carry (§8.4.3): controls, path separators, `:`, and the
/// bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A–U+202E,
/// U+2066–U+2069).
pub fn is_refused_in_names(c: char) -> bool {
    c.is_control()
        || matches!(c, '/' | '\\' | ':')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `true` for a media type of printable ASCII without spaces (`type/subtype`).
pub fn is_valid_media_type(media_type: &str) -> bool {
    media_type.len() <= MAX_MEDIA_TYPE_LEN
        && media_type.contains('/')
        && media_type.bytes().all(|b| b.is_ascii_graphic())
}

/// `true` for `files/` followed by 32 lowercase hex digits, the only blob paths a record
/// may name (so no record can point outside the room's `files/`).
pub fn is_blob_path(path: &str) -> bool {
    path.strip_prefix("files/").is_some_and(|name| {
        name.len() == 32
            && name
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> AttachmentBody {
        AttachmentBody {
            name: "photo.png".into(),
            size: 70_000,
            media_type: "image/png".into(),
            path: format!("files/{}", "ab".repeat(16)),
            sha256: [3; 32],
            key: BlobKey::from_bytes([9; 32]),
            caption: "the view".into(),
        }
    }

    #[test]
    fn round_trips() {
        let b = body();
        assert_eq!(AttachmentBody::decode(&b.encode()).unwrap(), b);
        let no_caption = AttachmentBody {
            caption: String::new(),
            ..body()
        };
        assert_eq!(
            AttachmentBody::decode(&no_caption.encode()).unwrap(),
            no_caption
        );
        assert!(!format!("{b:?}").contains("9, 9"), "{b:?}");
    }

    #[test]
    fn hostile_fields_are_malformed() {
        let bad = |f: &dyn Fn(&mut AttachmentBody)| {
            let mut b = body();
            f(&mut b);
            AttachmentBody::decode(&b.encode()).is_err()
        };
        assert!(bad(&|b| b.path = "../other-room/files/x".into()));
        assert!(bad(&|b| b.path = "files/../../etc/passwd".into()));
        assert!(bad(
            &|b| b.path = "logs/abababababababababababababababab".into()
        ));
        assert!(bad(&|b| b.path = format!("files/{}", "AB".repeat(16))));
        assert!(bad(&|b| b.name = "../x".into()));
        assert!(bad(&|b| b.name = "a\nb".into()));
        assert!(bad(&|b| b.name = "a\0b".into()));
        assert!(bad(&|b| b.name = "..".into()));
        assert!(bad(&|b| b.name = "photo\u{202e}gpj.exe".into()));
        assert!(bad(&|b| b.name = String::new()));
        assert!(bad(&|b| b.name = "x".repeat(256)));
        assert!(bad(&|b| b.media_type = "text/plain\r\nX: y".into()));
        assert!(bad(&|b| b.size = MAX_ANNOUNCED_SIZE + 1));
        // A field of the wrong length.
        let mut bytes = Vec::new();
        put_field(&mut bytes, sub::NAME, b"x");
        assert!(AttachmentBody::decode(&bytes).is_err());
    }
}
