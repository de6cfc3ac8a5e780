//! # ftpchat-ffi
//!
//! UniFFI bindings of [`ftpchat_core`] for Kotlin (Android, JVM) and Swift (iOS, macOS):
//! thin wrappers that hold the core's objects.
//!
//! - [`ChatRoom`]: open or create a room on a location (`ftp://`, `ftps://`, `ftpes://`,
//!   a folder, `memory://`; with feature `stores` also `sftp://`, `s3://`, `webdav(s)://`), [`send`](ChatRoom::send), [`sync`](ChatRoom::sync),
//!   [`sync_once`](ChatRoom::sync_once) for background windows,
//!   [`history`](ChatRoom::history), [`watch`](ChatRoom::watch),
//!   [`shutdown`](ChatRoom::shutdown) (the core's `Room::close`; Kotlin's `close()` is
//!   `AutoCloseable`'s); `*_async` variants of every blocking call for Kotlin coroutines
//!   and Swift concurrency (no Rust runtime: each awaits the core's `Background` handle, a
//!   blocking call on a short-lived thread whose sync result goes back to the room if the
//!   caller gives up; a dropped attachment call cancels its transfer).
//!
//! The bindings only convert types and errors: session behaviour (exactly-once
//! updates, non-blocking cancel, close, error classification) is the core's.
//! - [`ChatListener`]: a callback interface implemented in Kotlin or Swift;
//!   [`Subscription`] stops it.
//! - [`UpdateStream`] ([`ChatRoom::update_stream`]): the same watcher with an async
//!   [`next`](UpdateStream::next) instead of a listener; Kotlin's `Flow<ChatUpdate>`
//!   (`kotlin/FtpChatFlow.kt`) and Swift's `AsyncThrowingStream` (`swift/FtpChatAsync.swift`)
//!   are hand-written adapters over it, shipped beside the generated bindings.
//! - [`ChatMessage`], [`ChatUpdate`], [`ChatEvent`], [`RoomOptions`]: plain records.
//! - [`ChatError`]: one flat error enum whose reasons never contain secrets.
//! - Member rooms (SPEC §17): an [`Identity`] per device; open with
//!   [`ChatRoom::open_member_room`] or join with [`ChatRoom::join`] and an invitation
//!   URL; [`members`](ChatRoom::members) ([`RoomMember`], [`MemberRole`]),
//!   [`invite`](ChatRoom::invite), [`add_member`](ChatRoom::add_member),
//!   [`remove_member`](ChatRoom::remove_member), [`promote`](ChatRoom::promote),
//!   [`link_device`](ChatRoom::link_device); [`ChatMessage::signer`];
//!   [`safety_number`] and [`public_fingerprint`].
//! - Edits, deletes and reactions (SPEC §8.4.1): [`edit`](ChatRoom::edit),
//!   [`delete`](ChatRoom::delete), [`react`](ChatRoom::react); [`ChatMessage::edited`],
//!   [`ChatMessage::deleted`], [`ChatMessage::reactions`] ([`ChatReaction`]);
//!   [`ChatUpdate::changed`] and [`ChatListener::on_changed`].
//! - Private messages and blocking (member rooms, SPEC §8.4.2):
//!   [`send_private`](ChatRoom::send_private), [`private_history`](ChatRoom::private_history),
//!   [`ChatMessage::private_with`]; [`block`](ChatRoom::block),
//!   [`unblock`](ChatRoom::unblock), [`blocked`](ChatRoom::blocked).
//! - Presence and seen receipts (member rooms, SPEC §18): [`presence`](ChatRoom::presence)
//!   ([`PresenceInfo`], [`PresenceState`]), [`set_presence`](ChatRoom::set_presence),
//!   [`set_typing`](ChatRoom::set_typing), [`mark_read`](ChatRoom::mark_read),
//!   [`seen_by`](ChatRoom::seen_by) ([`SeenBy`]); [`RoomOptions::presence`] and
//!   [`RoomOptions::read_receipts`]; [`ChatEvent::PresenceChanged`].
//! - Attachments (native rooms, SPEC §8.4.3): [`send_file`](ChatRoom::send_file) and
//!   [`save_attachment`](ChatRoom::save_attachment) (*blocking* while the file
//!   transfers), with an optional [`ChatTransfer`] for progress ([`TransferListener`]) and
//!   cancelling from another thread; [`ChatMessage::attachment`] ([`ChatAttachment`]);
//!   [`RoomOptions::max_attachment_size`].
//! - SFTP, S3 and WebDAV locations (feature `stores`): `sftp://`, `s3://bucket/prefix`,
//!   `webdav://`, `webdavs://`, reached with [`RoomOptions::store`] ([`StoreOptions`]: host
//!   key, endpoint, timeouts; [`S3Credentials`], opaque, for the access key).
//!
//! Blocking calls do network I/O: never call them on the UI thread (see [`ChatRoom`]).
//!
//! Generate the bindings with this crate's `uniffi-bindgen` binary in library mode:
//! `cargo run -p ftpchat-ffi --bin uniffi-bindgen -- generate --library
//! target/debug/libftpchat_ffi.so --language kotlin --out-dir out --no-format`.

// UniFFI's scaffolding macros generate `extern "C"` functions and `unsafe` blocks; the
// workspace denies `unsafe_code`, so this crate opts out. No hand-written code here uses
// `unsafe`.
#![allow(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod identity;
mod room;
mod store;
mod stream;
mod transfer;
mod types;
mod watch;

pub use error::{ChatError, TransportFailure};
pub use identity::{public_fingerprint, safety_number, Identity, MemberRole, RoomMember};
pub use room::{ChatRoom, MAX_WATCH_INTERVAL_MS, MIN_WATCH_INTERVAL_MS};
pub use store::{S3Credentials, StoreOptions};
pub use stream::UpdateStream;
pub use transfer::{ChatTransfer, TransferListener};
pub use types::{
    ChatAttachment, ChatEvent, ChatMessage, ChatReaction, ChatUpdate, MessageCodec, MessageStatus,
    PresenceInfo, PresenceState, RoomLayout, RoomOptions, SeenBy, SyncOnceResult,
};
pub use watch::{ChatListener, Subscription};

use ftpchat_core::RoomError;
use ftpchat_core::{open_location, OpenOptions, RemotePath};

uniffi::setup_scaffolding!("ftpchat");

/// The version of these bindings (and of the core they wrap).
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Checks a room directory or chat file path the way opening a room will, without any
/// I/O (for validating user input). Fails with `InvalidPath` for CR, LF, NUL, `..`,
/// absolute paths and the like.
#[uniffi::export]
pub fn validate_room_path(path: String) -> Result<(), ChatError> {
    RemotePath::new(&path)
        .map(drop)
        .map_err(|e| ChatError::from(RoomError::from(e)))
}

/// How a location would be shown in a status line (`ftps://host:21/chat`), without
/// connecting: the password of an FTP URL is never part of it. Fails for a location that
/// cannot be opened (unknown scheme, malformed URL).
#[uniffi::export]
pub fn describe_location(location: String) -> Result<String, ChatError> {
    Ok(open_location(&location, &OpenOptions::default())?.describe())
}
