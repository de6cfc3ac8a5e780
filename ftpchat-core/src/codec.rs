//! The sans-IO layers below the [`Room`](crate::Room): bytes to records, records to an
//! ordered timeline. Nothing here touches a socket, a file or a clock.
//!
//! Most applications never need this module: a [`Room`](crate::Room) drives all of it.
//! It is for tools that read or write chat files without a room (a converter, a log
//! viewer), for test vectors, fuzzers and benchmarks.
//!
//! # Lines and records
//!
//! A chat file is a sequence of lines, each in one of the codecs a file may mix
//! (SPEC.md, "Detection"):
//!
//! | line starts with | codec |
//! |---|---|
//! | `ftc2:` | native (ftpchat 2), [`native`] |
//! | `ftc3:<epoch>:` | signed native (member rooms), [`signed`] |
//! | `g` (Fernet version byte 0x80 in URL-safe base64) | FTPChat 1.7 (a raw Fernet token), [`compat`] |
//! | `Z` (the token's first character `g` in standard base64) | FTPChat 1.6 (base64 of a Fernet token), [`compat`] |
//! | `e` (zlib header 0x78 in standard base64) | FTPChat 1.5, [`compat`] |
//! | anything else | not a record |
//!
//! [`LineFramer`] cuts a growing byte stream into lines (CR/LF, a [`MAX_LINE_LEN`] cap, an
//! incomplete tail); [`LineDecoder`] turns each line into a [`Record`] or a typed
//! [`DecodeError`] (a bad line is reported beside the good ones, never a failed read);
//! [`LineEncoder`] writes lines. [`RoomHeader`] is a native room's header file.
//!
//! # Keys and compression
//!
//! [`derive_key`] (PBKDF2 with bounds, [`KdfParams`]) gives a [`FernetKey`] (zeroized on
//! drop, redacted in `Debug`); [`Deflater`]/[`Inflater`] are zlib with reused state and an
//! output cap.
//!
//! # Records to messages
//!
//! [`FileReader`] decides where to read a growing file from (the 32-byte overlap check,
//! [`OVERLAP_LEN`], that notices a replaced file); [`Timeline`] merges, orders and
//! deduplicates [`Message`](crate::Message)s by [`SortKey`].

pub use crate::crypto::compress::ZLIB_LEVEL;
pub use crate::crypto::fernet::FernetToken;
pub use crate::crypto::kdf::{MAX_ITERATIONS, MAX_SALT_LEN, MIN_ITERATIONS};
pub use crate::crypto::{
    blob_chunks, blob_len, BlobKey, BlobOpener, BlobSealer, PushError, BLOB_CHUNK_LEN,
    BLOB_SEALED_CHUNK_LEN, BLOB_TAG_LEN,
};
pub use crate::crypto::{
    derive_key, random_bytes, CompressionError, Deflater, FernetError, FernetKey, Inflater,
    KdfError, KdfParams,
};
pub use crate::format::attachment::{
    is_blob_path, is_valid_file_name, is_valid_media_type, MAX_ANNOUNCED_SIZE, MAX_MEDIA_TYPE_LEN,
};
pub use crate::format::header::MAX_HEADER_LEN;
pub use crate::format::{
    attachment, compat, derive_writer_id, detect, ftpchat_client_kdf, line_hash, native, signed,
    state, AttachmentBody, ChainLink, Codec, CompatMessage, DecodeError, DecodedFile, EpochKeys,
    Frame, HeaderError, Hlc, Keyring, LegacyTimestamp, LineDecoder, LineEncoder, LineFramer,
    LineProblem, LocatedRecord, NativeRecord, Record, RecordBody, RecordHash, RecordId, RecordKind,
    RoomHeader, RoomId, SignatureError, SignedRecord, WriterId, FILES_DIR, FTPCHAT_ITERATIONS,
    FTPCHAT_SALT, MAX_FILE_NAME_LEN, MAX_LINE_LEN, MAX_REACTION_LEN,
};
pub use crate::timeline::reader::{Replaced, MAX_KEPT_TAIL};
pub use crate::timeline::{
    Applied, Author, ChangeKind, FileReader, Inserted, MessageChange, ReadPlan, ReaderState,
    RefusedChange, SortKey, Timeline, OVERLAP_LEN,
};
