//! # ftpchat-core
//!
//! Encrypted chat whose only server is a plain file server: FTP, FTPS, or a (synced)
//! folder. This crate is the protocol of `SPEC.md`: the chat-file formats and their crypto,
//! the transports, and the [`Room`] that sends, delivers and reads messages.
//!
//! # A first chat
//!
//! A room lives on a [`Transport`]. Here both people use one folder through a
//! [`LocalTransport`]; over the network it would be an `FtpTransport` (or any location
//! string through [`open_location`]). Each `Room` keeps its own state (its writer id, its
//! outbox, how far it has read) in a local folder, so two people on one machine need two
//! state folders.
//!
//! ```
//! use std::sync::Arc;
//! use ftpchat_core::{LocalTransport, Room, RoomConfig};
//!
//! let shared = tempfile::tempdir()?; // the "server": any folder, FTP or FTPS site
//! let (alice_state, bob_state) = (tempfile::tempdir()?, tempfile::tempdir()?);
//!
//! // Alice creates the room "lobby" (a native room: one append-only log per device).
//! let alice = Room::open(
//!     Arc::new(LocalTransport::new(shared.path())),
//!     RoomConfig::native("lobby", "Alice", "correct horse").with_state_dir(alice_state.path()),
//! )?;
//! // `send` does no I/O: the message is pending in Alice's timeline and outbox.
//! let id = alice.send("Hello, Bob!")?;
//! // `sync` delivers the outbox (confirming each line by reading it back) and reads
//! // what others wrote.
//! let update = alice.sync()?;
//! assert!(update.confirmed.contains(&id));
//!
//! // Bob joins with the same room name and password, and reads.
//! let bob = Room::open(
//!     Arc::new(LocalTransport::new(shared.path())),
//!     RoomConfig::native("lobby", "Bob", "correct horse").with_state_dir(bob_state.path()),
//! )?;
//! let update = bob.sync()?;
//! for message in &update.messages {
//!     println!("{}: {}", message.sender, message.text);
//! }
//! assert_eq!(update.messages[0].text, "Hello, Bob!");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Next steps:
//! - [`Room::watch`] polls in the background and calls a [`RoomListener`].
//! - [`RoomConfig::shared_file`] opens a chat file of the FTPChat 1.5/1.6/1.7 clients
//!   ([`WriteCodec`] chooses which client's lines to write).
//! - Problems that are not errors (an undecodable line, a replaced file, a retry) come
//!   back as [`RoomEvent`]s in each [`SyncUpdate`]; [`likely_cause`] explains a
//!   [`DecodeError`] to a person. Errors are one [`RoomError`] per call, with
//!   [`RoomError::is_transient`].
//!
//! # What is public
//!
//! - At the crate root: the room ([`Room`], [`RoomConfig`], [`Message`], their events,
//!   errors and options), the keys ([`FernetKey`], [`KdfParams`], [`derive_key`]), device
//!   identities ([`DeviceIdentity`], [`PublicIdentity`], [`safety_number`]), the local
//!   message store ([`LocalStore`]: history and full-text search on this device) and the
//!   transports ([`Transport`], [`RemotePath`], [`LocalTransport`], `FtpTransport`,
//!   [`open_location`], ...).
//! - [`codec`]: the sans-IO layer below the room (lines to records, records to an ordered
//!   timeline) for tools that read chat files without a room, test vectors, fuzzers and
//!   benchmarks.
//! - `testing` (cargo feature `testing`): an in-memory transport, a fault-injecting wrapper,
//!   and the transport conformance suite (`conformance_tests!`) to check your own
//!   [`Transport`].
//!
//! # Cargo features
//!
//! - `ftp` (default): the FTP and FTPS transport (suppaftp + rustls with ring; no OpenSSL).
//! - `sftp`: the SFTP transport (`sftp://`; russh with ring).
//! - `s3`: the S3 transport (`s3://bucket/prefix`; Apache OpenDAL, reqwest + rustls with
//!   ring). S3 objects cannot be appended to: the transport offers create-only writes and
//!   paged listings instead (`Capabilities::create_only`, `Capabilities::list_after`).
//! - `webdav`: the WebDAV transport (`webdav://`, `webdavs://`; reqwest + rustls with
//!   ring, quick-xml). WebDAV files cannot be appended to either: the transport offers
//!   create-only writes (`PUT` with `If-None-Match: *`).
//! - `testing`: the `testing` module and the `conformance_tests!` macro. For tests and
//!   benchmarks; not meant for release builds.
//! - `deterministic`: encoders with a caller-supplied IV, salt and time, identities from
//!   given secret bytes and backups with a given salt and nonce, for test vectors. Never for
//!   production.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod codec;
mod crypto;
mod format;
mod group;
mod identity;
mod room;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod timeline;
mod transport;

pub use crate::crypto::{derive_key, BlobError, FernetKey, KdfError, KdfParams};
pub use crate::format::{
    Codec, DecodeError, HeaderError, LegacyTimestamp, FTPCHAT_ITERATIONS, FTPCHAT_SALT,
};
pub use crate::group::{
    Change, Commit, EpochSecret, GroupError, Invitation, LogCut, Member, MemberId, Membership,
    PendingInvite, Role, WriteRefusal, COMMIT_VERSION, INVITATION_PREFIX, MAX_COMMIT_LEN, MAX_CUTS,
    MAX_DEVICES_PER_MEMBER, MAX_HISTORY, MAX_INVITATION_LEN, MAX_LEGACY_LOGS, MAX_MEMBERS,
    MAX_PENDING_INVITES, MAX_RECIPIENTS,
};
pub use crate::identity::{
    safety_number, BackupKdfParams, DeviceIdentity, IdentityError, PublicIdentity, SharedSecret,
    BACKUP_BEGIN, BACKUP_END, IDENTITY_FILE_NAME, PUBLIC_IDENTITY_PREFIX, SIGNATURE_LEN,
};
pub use crate::room::{
    default_compat_kdf, likely_cause, AttachmentError, Background, Clock, Credentials, ErrorKind,
    Layout, MemberAccess, Password, PresenceInfo, PresenceState, Room, RoomConfig, RoomError,
    RoomEvent, RoomListener, SeenBy, StateLocation, SyncUpdate, SyncWithin, SystemClock, Transfer,
    Wakeup, WatchHandle, WatchOptions, WriteCodec, DEFAULT_MAX_ATTACHMENT_SIZE, MAX_KEPT_TAILS,
    MAX_LOGS, MAX_NAME_LEN, MAX_TEXT_LEN, PRESENCE_REFRESH_MS, PRESENCE_TTL_MS, TYPING_TTL_MS,
};
pub use crate::store::{LocalStore, StoreError};
pub use crate::timeline::{Attachment, Message, MessageId, MessageStatus, Reaction};
#[cfg(feature = "ftp")]
pub use crate::transport::ftp::{
    FtpConfig, FtpConfigBuilder, FtpConfigError, FtpTransport, TlsPolicy,
};
pub use crate::transport::local::LocalTransport;
#[cfg(feature = "s3")]
pub use crate::transport::s3::{S3Config, S3Transport};
#[cfg(feature = "sftp")]
pub use crate::transport::sftp::{HostKeyCheck, SftpConfig, SftpError, SftpTransport};
#[cfg(feature = "webdav")]
pub use crate::transport::webdav::{HttpStatus, WebDavConfig, WebDavTransport};
pub use crate::transport::{
    make_dir_all, open_location, read_bounded, Capabilities, DirEntry, InvalidPath, OpenOptions,
    RemotePath, S3Credentials, Transport, TransportError, TransportErrorKind, TransportEvent,
    MAX_PATH_LEN, STREAM_CHUNK_LEN,
};

/// The README's code runs as a doctest, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
