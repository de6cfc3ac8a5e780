//! Chat-file formats: framing, the three codecs, codec detection, and the native room
//! header. Sans-IO: bytes in, records and typed per-line problems out.
//!
//! A reader recognises each line's codec by its first bytes (SPEC.md, "Detection"):
//!
//! | line starts with | codec |
//! |---|---|
//! | `ftc2:` | native (ftpchat 2) |
//! | `ftc3:` | signed native (member rooms) |
//! | `g` (Fernet version byte 0x80 in URL-safe base64) | FTPChat 1.7 (a raw Fernet token) |
//! | `Z` (the token's first character `g` in standard base64) | FTPChat 1.6 (base64 of a Fernet token) |
//! | `e` (zlib header 0x78 in standard base64) | FTPChat 1.5 |
//! | anything else | not a record |

pub mod attachment;
pub mod compat;
pub(crate) mod framing;
pub(crate) mod header;
pub mod native;
pub mod signed;
pub mod state;

use std::fmt;

pub use attachment::{AttachmentBody, FILES_DIR, MAX_FILE_NAME_LEN};
pub use compat::{
    ftpchat_client_kdf, CompatMessage, LegacyTimestamp, FTPCHAT_ITERATIONS, FTPCHAT_SALT,
};
pub use framing::{Frame, LineFramer, MAX_LINE_LEN};
pub use header::{HeaderError, RoomHeader};
pub use native::{
    Hlc, NativeRecord, RecordBody, RecordId, RecordKind, RoomId, WriterId, MAX_REACTION_LEN,
};
pub use signed::{
    derive_writer_id, line_hash, ChainLink, RecordHash, SignatureError, SignedRecord,
};

use crate::crypto::{CompressionError, Deflater, FernetError, FernetKey, Inflater};

/// The codecs a chat file may mix, one per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// FTPChat 1.5: substitution + zlib + base64. **No key: protects nothing.**
    Legacy15,
    /// FTPChat 1.6: PBKDF2-HMAC-SHA256 + Fernet + zlib, the token base64-encoded once
    /// more (lines start `Z0FBQUFB`).
    Fernet16,
    /// FTPChat 1.7: PBKDF2-HMAC-SHA256 + Fernet + zlib, the raw token (lines start
    /// `gAAAAA`). With other KDF parameters, also ftpchat's parameterised raw-token codec.
    Fernet17,
    /// ftpchat 2 native records, signed (`ftc3:`, member rooms) or not (`ftc2:`).
    Native,
}

impl Codec {
    /// `true` for codecs whose lines are authenticated by a key (all but FTPChat 1.5).
    pub fn is_authenticated(self) -> bool {
        !matches!(self, Codec::Legacy15)
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::Legacy15 => "FTPChat 1.5",
            Codec::Fernet16 => "FTPChat 1.6",
            Codec::Fernet17 => "FTPChat 1.7",
            Codec::Native => "ftpchat native",
        })
    }
}

/// Detects a line's codec from its first bytes, without decoding it.
pub fn detect(line: &[u8]) -> Option<Codec> {
    if line.starts_with(native::NATIVE_PREFIX) || line.starts_with(signed::SIGNED_PREFIX) {
        Some(Codec::Native)
    } else {
        match line.first() {
            Some(b'g') => Some(Codec::Fernet17),
            Some(b'Z') => Some(Codec::Fernet16),
            Some(b'e') => Some(Codec::Legacy15),
            _ => None,
        }
    }
}

/// Why one line did not yield a record. Reported beside the good records; never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The line is not in any known codec (or is not valid base64 for its codec).
    #[error("line is not a chat record")]
    NotARecord,
    /// The line is longer than [`MAX_LINE_LEN`].
    #[error("line is longer than the {MAX_LINE_LEN}-byte limit")]
    LineTooLong,
    /// The line needs a key that the reader was not given.
    #[error("no key configured for {0} records")]
    NoKey(Codec),
    /// The MAC did not verify: the password is wrong or the line was altered.
    #[error("authentication failed: wrong password, or the record was altered")]
    WrongKeyOrTampered,
    /// The Fernet token is malformed (truncated, bad length).
    #[error("malformed token: {0}")]
    BadToken(FernetError),
    /// An unknown Fernet version byte or native payload version.
    #[error("unsupported version {version}")]
    UnsupportedVersion {
        /// The version found.
        version: u64,
    },
    /// Decompressed content would exceed the limit (a decompression bomb).
    #[error("record is larger than the decompression limit")]
    TooLarge,
    /// The compressed data is corrupt.
    #[error("corrupt compressed data: {0}")]
    Compression(CompressionError),
    /// The text is not UTF-8.
    #[error("record text is not valid UTF-8")]
    InvalidUtf8,
    /// An authenticated native payload that does not parse.
    #[error("malformed native record: {0}")]
    Malformed(native::MalformedRecord),
    /// An authenticated native record that names another room.
    #[error("native record belongs to another room")]
    ForeignRoom,
    /// A signed record of an epoch whose key this reader does not hold: written before
    /// it joined, after it was removed, or for an epoch it has not read yet.
    #[error("no key for epoch {epoch}")]
    NoEpochKey {
        /// The epoch the line names.
        epoch: u64,
    },
}

impl DecodeError {
    pub(crate) fn from_fernet(err: FernetError) -> Self {
        match err {
            FernetError::AuthenticationFailed => DecodeError::WrongKeyOrTampered,
            FernetError::NotBase64 => DecodeError::NotARecord,
            FernetError::UnsupportedVersion(v) => DecodeError::UnsupportedVersion {
                version: u64::from(v),
            },
            other => DecodeError::BadToken(other),
        }
    }

    pub(crate) fn from_compression(err: CompressionError) -> Self {
        match err {
            CompressionError::TooLarge { .. } => DecodeError::TooLarge,
            other => DecodeError::Compression(other),
        }
    }

    /// `true` for the error a wrong password produces.
    pub fn is_authentication_failure(&self) -> bool {
        matches!(self, DecodeError::WrongKeyOrTampered)
    }
}

/// A decoded record of any codec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Record {
    /// A FTPChat 1.5 or 1.6 message.
    Compat {
        /// Which of the two.
        codec: Codec,
        /// The message.
        message: CompatMessage,
        /// The Fernet timestamp (1.6 only), seconds since the Unix epoch.
        token_time: Option<u64>,
    },
    /// A native record.
    Native(NativeRecord),
    /// A signed native record (member rooms). Its signature is not checked yet: see
    /// [`SignedRecord::verify_signature`].
    Signed(Box<SignedRecord>),
}

/// The keys a reader holds.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// Key for FTPChat 1.6 and 1.7 lines (both use one key derivation).
    pub fernet: Option<FernetKey>,
    /// Key and room for native lines.
    pub native: Option<(FernetKey, RoomId)>,
}

/// The message keys of a member room's epochs that a reader holds (SPEC §17).
#[derive(Debug, Clone)]
pub struct EpochKeys {
    /// The room.
    pub room: RoomId,
    /// Message key per epoch.
    pub keys: std::collections::BTreeMap<u64, FernetKey>,
}

impl EpochKeys {
    /// No keys yet, for `room`.
    pub fn new(room: RoomId) -> Self {
        EpochKeys {
            room,
            keys: Default::default(),
        }
    }
}

/// Decodes lines of any codec, reusing zlib state and buffers across lines: a line's token
/// is decoded into one buffer and decrypted where it lies, and inflated into the
/// inflater's own buffer, so the only allocations per line are the record's own strings.
#[derive(Debug, Default)]
pub struct LineDecoder {
    keys: Keyring,
    /// Epoch message keys of a member room, for signed lines.
    epochs: Option<EpochKeys>,
    inflater: Inflater,
    /// Base64-decoded token of the current line; its ciphertext is decrypted in place.
    token_bytes: Vec<u8>,
    /// The raw token inside the current FTPChat 1.6 line.
    unwrapped: Vec<u8>,
}

impl LineDecoder {
    /// A decoder holding `keys`.
    pub fn new(keys: Keyring) -> Self {
        LineDecoder {
            keys,
            ..Default::default()
        }
    }

    /// The keys.
    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// Adds an epoch's message key (a member room's reader learns them as it reads the
    /// membership log).
    pub fn add_epoch_key(&mut self, room: RoomId, epoch: u64, key: FernetKey) {
        self.epochs
            .get_or_insert_with(|| EpochKeys::new(room))
            .keys
            .insert(epoch, key);
    }

    /// Forgets every epoch key (a member room reading its membership again).
    pub fn clear_epoch_keys(&mut self) {
        self.epochs = None;
    }

    /// The epoch keys held (member rooms).
    pub fn epoch_keys(&self) -> Option<&EpochKeys> {
        self.epochs.as_ref()
    }

    /// A decoder holding `keys` and a member room's epoch keys.
    pub fn with_epoch_keys(keys: Keyring, epochs: Option<EpochKeys>) -> Self {
        LineDecoder {
            keys,
            epochs,
            ..Default::default()
        }
    }

    /// Decodes one line (without CR/LF).
    pub fn decode_line(&mut self, line: &[u8]) -> Result<Record, DecodeError> {
        if line.len() > MAX_LINE_LEN {
            return Err(DecodeError::LineTooLong);
        }
        match detect(line).ok_or(DecodeError::NotARecord)? {
            Codec::Legacy15 => {
                let plaintext = compat::decode_legacy(line, &mut self.inflater)?;
                Ok(Record::Compat {
                    codec: Codec::Legacy15,
                    message: CompatMessage::parse(&plaintext),
                    token_time: None,
                })
            }
            codec @ (Codec::Fernet16 | Codec::Fernet17) => {
                let key = self.keys.fernet.as_ref().ok_or(DecodeError::NoKey(codec))?;
                let token = if codec == Codec::Fernet16 {
                    compat::unwrap_fernet16_into(line, &mut self.unwrapped)?;
                    &self.unwrapped[..]
                } else {
                    line
                };
                let (time, compressed) = key
                    .decrypt_in_place(token, &mut self.token_bytes)
                    .map_err(DecodeError::from_fernet)?;
                let text = self
                    .inflater
                    .inflate(compressed, compat::MAX_COMPAT_PLAINTEXT)
                    .map_err(DecodeError::from_compression)?;
                let text = std::str::from_utf8(text).map_err(|_| DecodeError::InvalidUtf8)?;
                Ok(Record::Compat {
                    codec,
                    message: CompatMessage::parse(text),
                    token_time: Some(time),
                })
            }
            Codec::Native if line.starts_with(signed::SIGNED_PREFIX) => {
                let (epoch, token) = signed::split_line(line).ok_or(DecodeError::NotARecord)?;
                let epochs = self
                    .epochs
                    .as_ref()
                    .ok_or(DecodeError::NoKey(Codec::Native))?;
                let key = epochs
                    .keys
                    .get(&epoch)
                    .ok_or(DecodeError::NoEpochKey { epoch })?;
                let (_, payload) = key
                    .decrypt_in_place(token, &mut self.token_bytes)
                    .map_err(DecodeError::from_fernet)?;
                let mut record = SignedRecord::decode_payload(payload, epoch, &mut self.inflater)?;
                record.set_line(line);
                if record.record.room != epochs.room {
                    return Err(DecodeError::ForeignRoom);
                }
                Ok(Record::Signed(Box::new(record)))
            }
            Codec::Native => {
                let (key, room) = self
                    .keys
                    .native
                    .as_ref()
                    .ok_or(DecodeError::NoKey(Codec::Native))?;
                let token = &line[native::NATIVE_PREFIX.len()..];
                let (_, payload) = key
                    .decrypt_in_place(token, &mut self.token_bytes)
                    .map_err(DecodeError::from_fernet)?;
                let record = NativeRecord::decode_payload(payload, &mut self.inflater)?;
                if record.room != *room {
                    return Err(DecodeError::ForeignRoom);
                }
                Ok(Record::Native(record))
            }
        }
    }
}

/// Encoders for the three codecs, reusing zlib state.
#[derive(Debug, Default)]
pub struct LineEncoder {
    deflater: Deflater,
}

impl LineEncoder {
    /// A new encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A FTPChat 1.5 line (no LF).
    pub fn legacy15(&mut self, message: &CompatMessage) -> String {
        compat::encode_legacy(&message.to_plaintext(), &mut self.deflater)
    }

    /// A FTPChat 1.6 line (no LF) timestamped `now` (Unix seconds): the token of the
    /// plaintext, base64-encoded once more.
    pub fn fernet16(&mut self, message: &CompatMessage, key: &FernetKey, now: u64) -> String {
        compat::encode_fernet16(&message.to_plaintext(), key, now, &mut self.deflater)
    }

    /// A FTPChat 1.7 line (no LF) timestamped `now` (Unix seconds): the raw token of the
    /// plaintext with trailing white space removed, as the 1.7 client writes it.
    pub fn fernet17(&mut self, message: &CompatMessage, key: &FernetKey, now: u64) -> String {
        compat::encode_fernet(&message.to_plaintext_17(), key, now, &mut self.deflater)
    }

    /// A native line (no LF).
    pub fn native(&mut self, record: &NativeRecord, key: &FernetKey) -> String {
        record.encode_line(key, &mut self.deflater)
    }

    /// A signed native line (no LF) under an epoch's message key.
    pub fn signed(&mut self, record: &mut SignedRecord, key: &FernetKey) -> String {
        record.encode_line(key, &mut self.deflater)
    }
}

/// One line that did not decode, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// Byte offset of the line in the file.
    pub offset: u64,
    /// The line's bytes (empty for a line too long to keep), for showing as-is.
    pub raw: Vec<u8>,
    /// What went wrong.
    pub error: DecodeError,
}

/// A record with the offset of its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedRecord {
    /// Byte offset of the line in the file.
    pub offset: u64,
    /// The record.
    pub record: Record,
}

/// Everything a whole (or partial) file yielded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedFile {
    /// Good records, in file order.
    pub records: Vec<LocatedRecord>,
    /// Lines that did not decode, in file order.
    pub problems: Vec<LineProblem>,
    /// Offset just after the last complete line.
    pub committed_offset: u64,
    /// Bytes after the last LF: an incomplete line, not a record yet.
    pub incomplete_tail: u64,
}

impl LineDecoder {
    /// Frames and decodes `data`, which starts at `offset` in its file.
    pub fn decode_bytes(&mut self, data: &[u8], offset: u64) -> DecodedFile {
        let mut framer = LineFramer::new(offset);
        let mut out = DecodedFile::default();
        framer.feed(data, |frame| self.decode_frame(frame, &mut out));
        out.committed_offset = framer.committed_offset();
        out.incomplete_tail = framer.pending_len();
        out
    }

    /// Decodes one frame into `out`.
    pub fn decode_frame(&mut self, frame: Frame<'_>, out: &mut DecodedFile) {
        match frame {
            Frame::Line { offset, bytes } => match self.decode_line(bytes) {
                Ok(record) => out.records.push(LocatedRecord { offset, record }),
                Err(error) => out.problems.push(LineProblem {
                    offset,
                    raw: bytes.to_vec(),
                    error,
                }),
            },
            Frame::TooLong { offset, .. } => out.problems.push(LineProblem {
                offset,
                raw: Vec::new(),
                error: DecodeError::LineTooLong,
            }),
        }
    }
}
