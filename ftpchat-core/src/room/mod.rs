//! The room engine: what a user means by "a chat".
//!
//! [`Room::send`] puts a message in the local timeline (pending) and the outbox and
//! returns its id at once; [`Room::sync`] delivers the outbox with confirmation and reads
//! only what is new; [`Room::watch`] does both in the background with adaptive polling.
//!
//! Two layouts (SPEC.md, "Room layouts"):
//! - **Native**: each device appends only to its own log, so no two clients write one
//!   file; the timeline is the union of all logs ordered by hybrid logical clock, writer
//!   id and sequence, deduplicated by record id.
//! - **Shared file**: FTPChat's single file; each append is confirmed by reading the new
//!   tail and repeated if the line is missing; an optional directory lock serialises
//!   writers for servers whose `APPE` is not atomic.

mod attach;
mod config;
mod decide;
mod engine;
mod error;
mod io;
mod layout;
mod lock;
mod members;
mod presence;
mod state;
mod stored;
mod task;
mod view;
mod watch;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

pub use attach::{AttachmentError, Transfer};
pub use config::{
    default_compat_kdf, Clock, Credentials, Layout, MemberAccess, Password, RoomConfig,
    StateLocation, SystemClock, Wakeup, WriteCodec, DEFAULT_MAX_ATTACHMENT_SIZE,
};
pub use error::ErrorKind;
pub use presence::{
    PresenceInfo, PresenceState, SeenBy, PRESENCE_REFRESH_MS, PRESENCE_TTL_MS, TYPING_TTL_MS,
};
#[cfg(feature = "testing")]
pub(crate) use stored::downgrade_to_state_files;
pub use task::Background;
pub use watch::{RoomListener, WatchHandle, WatchOptions};

use crate::crypto::KdfError;
use crate::format::{
    compat::CompatEncodeError, Codec, DecodeError, HeaderError, RecordBody, RecordId,
};
use crate::group::{Change, Invitation, Member, MemberId, Role};
use crate::identity::{DeviceIdentity, PublicIdentity};
use crate::store::StoreError;
use crate::timeline::{Message, MessageId};
use crate::transport::{InvalidPath, Transport, TransportError, TransportEvent};
use engine::RoomCore;
use state::Outgoing;

/// The longest message text accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 64 * 1024;
/// The longest display name accepted, in bytes.
pub const MAX_NAME_LEN: usize = crate::format::native::MAX_SENDER_LEN;
/// The most logs a native room reads (more are reported once and ignored).
pub const MAX_LOGS: usize = layout::native::MAX_LOGS;
/// The most bytes of incomplete last lines a native room keeps in memory across all its
/// logs; beyond it, tails are read again when their log grows.
pub const MAX_KEPT_TAILS: u64 = layout::native::MAX_KEPT_TAILS;

/// Why a room operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The server or folder failed; [`TransportError::is_transient`] says whether a later
    /// retry may work. Unsent messages stay in the outbox.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The password does not open this room. In a shared file: lines fail authentication
    /// and none succeeds, so nothing is written (a line under the wrong key would stop
    /// FTPChat 1.7 readers).
    #[error("wrong password for this room")]
    WrongPassword,
    /// The room header is invalid or hostile (e.g. absurd KDF parameters).
    #[error("invalid room header: {0}")]
    Header(HeaderError),
    /// The native room does not exist and creation was not allowed.
    #[error("room not found: {0}")]
    NotFound(String),
    /// The configuration cannot work (e.g. a 1.6 room without a password).
    #[error("invalid room configuration: {0}")]
    InvalidConfig(String),
    /// A room path, file or name was refused (CR, LF, NUL, `..`, absolute...).
    #[error("invalid path: {0}")]
    InvalidPath(#[from] InvalidPath),
    /// A display name was refused.
    #[error("invalid display name: {0}")]
    InvalidName(String),
    /// The text is longer than [`MAX_TEXT_LEN`].
    #[error("message is longer than {MAX_TEXT_LEN} bytes")]
    MessageTooLarge,
    /// KDF parameters out of bounds.
    #[error(transparent)]
    Kdf(#[from] KdfError),
    /// The local state folder failed.
    #[error("local state: {0}")]
    LocalState(#[source] std::io::Error),
    /// The local store of the room's messages failed (rooms with a state folder keep
    /// their messages in [`StateLocation::store_path`]). A damaged store
    /// ([`StoreError::Corrupt`]) says how to recover: close the rooms of that folder,
    /// delete the store with [`LocalStore::remove`](crate::LocalStore::remove) and open
    /// them again; each room reads its history from the server again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The shared-file lock stayed taken longer than the configured wait.
    #[error("timed out waiting for the chat file lock")]
    LockTimeout,
    /// The native room's header is not the one this device opened before: the room was
    /// deleted and created again under its name, or someone who knows the password
    /// replaced the header (e.g. with a weaker key derivation). Nothing was read or
    /// written; open with [`RoomConfig::accept_changed_header`] to trust the new header.
    #[error(
        "the room header changed since this device last opened the room (re-created, or \
         replaced by someone who knows the password); nothing was read or written"
    )]
    HeaderChanged,
    /// The room was closed with [`Room::close`].
    #[error("the room is closed")]
    Closed,
    /// This device is not (or no longer) a member of the member room: it cannot write,
    /// and reads nothing sent after its removal.
    #[error("this device is not a member of the room")]
    NotAMember,
    /// A member-room operation (members, invitations) on a password room or shared file.
    #[error("not a member room: the room has no membership")]
    NotAMemberRoom,
    /// A membership change was refused (not allowed for its author, or it lost a race
    /// to a change that made it invalid), or the membership log cannot be read.
    #[error("membership: {0}")]
    Membership(String),
    /// The room cannot do this: e.g. a FTPChat chat file cannot carry edits, deletes or
    /// reactions (its readers would stop at a line they cannot read).
    #[error("not supported in this room: {0}")]
    Unsupported(String),
    /// No message with this id is in the room's timeline (not read yet, or not a text
    /// message).
    #[error("no such message: {0}")]
    UnknownMessage(MessageId),
    /// Only a message's author may edit or delete it, and a deleted message cannot be
    /// changed.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The file is larger than the room's attachment limit
    /// ([`RoomConfig::with_max_attachment_size`]); refused before anything was sent or
    /// written.
    #[error("the file has {size} bytes, more than this room's limit of {limit}")]
    FileTooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The transfer was cancelled ([`Transfer::cancel`]). A cancelled download keeps
    /// what it verified and resumes from there next time.
    #[error("the transfer was cancelled")]
    Cancelled,
    /// An attachment's blob is missing, of the wrong size, tampered with or does not
    /// match its hash. Nothing was written to the target path.
    #[error("bad attachment: {0}")]
    BadAttachment(#[from] AttachmentError),
    /// A local file could not be read (sending) or written (saving).
    #[error("local file {path}: {source}")]
    LocalFile {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

impl From<HeaderError> for RoomError {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::WrongPassword => RoomError::WrongPassword,
            other => RoomError::Header(other),
        }
    }
}

impl From<CompatEncodeError> for RoomError {
    fn from(e: CompatEncodeError) -> Self {
        RoomError::InvalidName(e.to_string())
    }
}

/// Something the caller should know that is not an error of the call itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoomEvent {
    /// A line that is not a record or did not decode; reported once, skipped. Its
    /// `Display` names the likely cause ([`likely_cause`]).
    UndecodableLine {
        /// The file it is in.
        file: String,
        /// Its byte offset.
        offset: u64,
        /// The codec its first bytes announce, if any.
        codec: Option<Codec>,
        /// Why.
        error: DecodeError,
    },
    /// A FTPChat 1.5 line in a shared file whose room writes 1.6 or 1.7: it has no key,
    /// so anyone with write access could have written it under any name. Not shown
    /// unless [`RoomConfig::show_unauthenticated`] is set.
    UnauthenticatedLine {
        /// The file it is in.
        file: String,
        /// Its byte offset.
        offset: u64,
    },
    /// Lines in a shared file fail authentication and none has succeeded: the password
    /// (or the 1.6/1.7 KDF parameters) are probably wrong. Reported once, instead of one
    /// event per line; [`Room::sync`] fails with [`RoomError::WrongPassword`] meanwhile.
    WrongPassword {
        /// How many lines failed so far.
        failed_lines: u64,
    },
    /// A native record found in another writer's log (moved or forged): skipped.
    ForeignRecord {
        /// The log it was found in.
        file: String,
        /// Its byte offset.
        offset: u64,
    },
    /// A native record that an earlier run already accepted from this log appeared again
    /// after the saved read position (a replay): dropped.
    ReplayedRecord {
        /// The log it is in.
        file: String,
        /// Its byte offset.
        offset: u64,
    },
    /// A file shrank or changed under the reader; it is re-read without duplicates.
    FileReplaced {
        /// The file.
        file: String,
    },
    /// A delivery attempt failed and will be retried.
    DeliveryRetry {
        /// Attempt number (1-based).
        attempt: u32,
        /// The error, without secrets.
        error: String,
    },
    /// The native room's header differs from the one this client opened before, and the
    /// caller accepted it ([`RoomConfig::accept_changed_header`]); without that, opening
    /// fails with [`RoomError::HeaderChanged`].
    HeaderChanged,
    /// An expired shared-file lock (a crashed client's) was removed.
    StaleLockRemoved,
    /// A sync read more new messages than an update carries (a room with a local store
    /// returns the 1,000 newest): the `messages` older ones are in the store only, where
    /// [`Room::history`] pages them.
    MessagesLeftOut {
        /// How many new messages were left out of this update.
        messages: u64,
    },
    /// Unsent messages saved by an earlier run do not decode under this run's password:
    /// they stay saved, unsent, and go out when the room is opened with the password they
    /// were written under.
    OutboxHeld {
        /// How many.
        messages: usize,
    },
    /// This device's own log holds records it did not write: its state was copied to
    /// another device, or restored from a backup older than the log. Two devices must not
    /// share a writer id, so this one continues under a new one; its unsent messages go
    /// to the new log, nothing is lost or shown twice.
    WriterIdConflict {
        /// The log that another device also writes.
        file: String,
        /// The new writer id (32 hex digits).
        new_writer: String,
    },
    /// The room has more logs than a room reads ([`MAX_LOGS`]); the rest are ignored.
    /// Reported once.
    TooManyLogs {
        /// How many were ignored at the poll that reported it.
        ignored: usize,
    },
    /// A file could not be read (gone, or not readable); the others still are.
    UnreadableFile {
        /// The file.
        file: String,
        /// Why, without secrets.
        error: String,
    },
    /// From the transport: TLS fallback, reconnects.
    Transport(TransportEvent),
    /// Member rooms: the membership changed; `epoch` is the new epoch.
    MembershipChanged {
        /// The new epoch.
        epoch: u64,
    },
    /// Member rooms: the commit of `epoch` is invalid (forged, not allowed, malformed);
    /// it is not applied and nothing after it is read. Reported once.
    MembershipRejected {
        /// The epoch of the rejected commit.
        epoch: u64,
        /// Why, in words.
        reason: String,
    },
    /// Member rooms: this device was removed. It reads nothing sent afterwards and can no
    /// longer write.
    RemovedFromRoom,
    /// Member rooms: a signed record was refused: a bad signature, a broken or forked
    /// chain, a device the membership does not allow (a non-member, a removed member
    /// after its removal), or an unsigned record.
    RecordRefused {
        /// The log it is in.
        file: String,
        /// Its byte offset.
        offset: u64,
        /// Why, in words.
        reason: String,
    },
    /// Member rooms: a record reuses the id of another writer's record; the first one
    /// accepted stays.
    DuplicateRecordId {
        /// The log it is in.
        file: String,
        /// Its byte offset.
        offset: u64,
    },
    /// Member rooms: a private record sealed to this device does not open (altered, or
    /// sealed wrongly by its sender); it is not shown.
    PrivateRecordRefused {
        /// The record's id.
        record: MessageId,
        /// Why, in words.
        reason: String,
    },
    /// An edit, delete or reaction was refused: an edit or delete by someone other than
    /// the message's author, or a change to a record that is not a text message. The
    /// message is unchanged.
    ChangeRefused {
        /// The refused record's id.
        change: MessageId,
        /// The message it tried to change.
        target: MessageId,
        /// Why, in words.
        reason: String,
    },
    /// Member rooms: another device published a new presence or read position (SPEC
    /// §18); [`Room::presence`] and [`Room::seen_by`] tell what changed. Expiry changes
    /// presence without an event.
    PresenceChanged,
}

/// The likely cause of an undecodable line, in words for a user: which client's line it
/// looks like and what probably went wrong.
pub fn likely_cause(codec: Option<Codec>, error: &DecodeError) -> String {
    use DecodeError as E;
    match (codec, error) {
        (_, E::LineTooLong) => error.to_string(),
        (Some(Codec::Native), E::WrongKeyOrTampered) => {
            "looks like an ftpchat record under another room key, or an altered record".into()
        }
        (Some(c), E::WrongKeyOrTampered) => {
            format!("looks like {c} with another password (or salt), or an altered line")
        }
        (Some(c), E::NoKey(_)) => format!("looks like {c}, but this room has no password"),
        (Some(c), E::NotARecord | E::BadToken(_)) => {
            format!("starts like {c} but is malformed (a torn or altered line)")
        }
        (Some(c), E::UnsupportedVersion { .. }) => {
            format!("starts like {c} but has an unknown version ({error})")
        }
        (Some(c), E::TooLarge) => {
            format!("{c} line that decompresses past the limit (a decompression bomb)")
        }
        (Some(c), E::Compression(_) | E::InvalidUtf8 | E::Malformed(_)) => {
            format!("{c} line that decrypts but whose content is corrupt ({error})")
        }
        (Some(c), E::ForeignRoom) => format!("{c} record of another room"),
        (Some(c), E::NoEpochKey { epoch }) => format!(
            "{c} record of epoch {epoch}, whose key this device does not hold (sent before it \
             joined or after it was removed)"
        ),
        (None, _) => "not a line of FTPChat 1.5, 1.6, 1.7 or ftpchat".into(),
    }
}

impl std::fmt::Display for RoomEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoomEvent::UndecodableLine {
                file,
                offset,
                codec,
                error,
            } => write!(
                f,
                "{file} at byte {offset}: {}",
                likely_cause(*codec, error)
            ),
            RoomEvent::UnauthenticatedLine { file, offset } => write!(
                f,
                "{file} at byte {offset}: a keyless FTPChat 1.5 line (anyone with write \
                 access could have written it); not shown"
            ),
            RoomEvent::WrongPassword { failed_lines } => write!(
                f,
                "{failed_lines} lines fail authentication and none succeeds: wrong password \
                 (or salt/iterations)"
            ),
            RoomEvent::ForeignRecord { file, offset } => {
                write!(
                    f,
                    "{file} at byte {offset}: a record of another writer, skipped"
                )
            }
            RoomEvent::ReplayedRecord { file, offset } => {
                write!(f, "{file} at byte {offset}: a replayed record, dropped")
            }
            RoomEvent::FileReplaced { file } => write!(f, "{file} was replaced; re-read"),
            RoomEvent::DeliveryRetry { attempt, error } => {
                write!(f, "delivery attempt {attempt} failed: {error}")
            }
            RoomEvent::HeaderChanged => {
                f.write_str("the room header changed; the new one was accepted")
            }
            RoomEvent::WriterIdConflict { file, new_writer } => write!(
                f,
                "{file} holds records this device did not write (a copied state folder or an \
                 old backup); continuing as writer {new_writer}"
            ),
            RoomEvent::TooManyLogs { ignored } => write!(
                f,
                "this room has more than {MAX_LOGS} logs; {ignored} were ignored"
            ),
            RoomEvent::StaleLockRemoved => f.write_str("an expired chat file lock was removed"),
            RoomEvent::MessagesLeftOut { messages } => write!(
                f,
                "{messages} older new messages are not in this update: page back with history()"
            ),
            RoomEvent::OutboxHeld { messages } => write!(
                f,
                "{messages} unsent messages were written under another password; they stay \
                 saved and go out when the room is opened with that password"
            ),
            RoomEvent::UnreadableFile { file, error } => {
                write!(f, "{file} cannot be read: {error}")
            }
            RoomEvent::Transport(e) => e.fmt(f),
            RoomEvent::MembershipChanged { epoch } => {
                write!(f, "the membership changed (epoch {epoch})")
            }
            RoomEvent::MembershipRejected { epoch, reason } => write!(
                f,
                "the membership change of epoch {epoch} was rejected ({reason}); later changes \
                 are not read"
            ),
            RoomEvent::RemovedFromRoom => f.write_str(
                "this device was removed from the room: it reads nothing sent from now on and \
                 cannot write",
            ),
            RoomEvent::RecordRefused {
                file,
                offset,
                reason,
            } => write!(f, "{file} at byte {offset}: record refused: {reason}"),
            RoomEvent::DuplicateRecordId { file, offset } => write!(
                f,
                "{file} at byte {offset}: reuses another writer's record id; dropped"
            ),
            RoomEvent::ChangeRefused {
                change,
                target,
                reason,
            } => write!(f, "change {change} to message {target} refused: {reason}"),
            RoomEvent::PrivateRecordRefused { record, reason } => {
                write!(f, "private message {record} refused: {reason}")
            }
            RoomEvent::PresenceChanged => {
                f.write_str("a member's presence or read position changed")
            }
        }
    }
}

/// What a [`Room::sync`] brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncUpdate {
    /// Messages not returned by an earlier sync, in timeline order (other clients'
    /// messages; own messages appear in `confirmed` instead). A room with a state folder
    /// returns at most the 1,000 newest of one sync (its memory holds a window of the
    /// newest messages): [`RoomEvent::MessagesLeftOut`] counts the older ones, which
    /// [`Room::history`] pages from the local store.
    pub messages: Vec<Message>,
    /// Own messages now confirmed on the server.
    pub confirmed: Vec<MessageId>,
    /// Events since the last sync.
    pub events: Vec<RoomEvent>,
    /// Messages returned before (by a sync or [`Room::history`]) that were edited,
    /// deleted or reacted to since, as they are now; each at most once.
    pub changed: Vec<Message>,
}

impl SyncUpdate {
    /// New messages of this update left out of [`messages`](Self::messages) (the
    /// [`RoomEvent::MessagesLeftOut`] events): a room with a state folder returns the
    /// 1,000 newest of one sync, and [`Room::history`] pages the others.
    pub fn messages_left_out(&self) -> u64 {
        self.events
            .iter()
            .map(|e| match e {
                RoomEvent::MessagesLeftOut { messages } => *messages,
                _ => 0,
            })
            .sum()
    }

    /// `true` when nothing happened.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.confirmed.is_empty()
            && self.events.is_empty()
            && self.changed.is_empty()
    }

    /// Appends `later` (what a later sync brought) to this update.
    pub fn append(&mut self, later: SyncUpdate) {
        // Moving into an empty list takes the other's buffer instead of copying it (a
        // first sync can bring hundreds of thousands of messages).
        fn join<T>(into: &mut Vec<T>, later: Vec<T>) {
            if into.is_empty() {
                *into = later;
            } else {
                into.extend(later);
            }
        }
        join(&mut self.messages, later.messages);
        join(&mut self.confirmed, later.confirmed);
        join(&mut self.events, later.events);
        // A message changed again, or first returned here, is returned once, as it is now.
        for m in later.changed {
            if let Some(new) = self.messages.iter_mut().find(|x| x.id == m.id) {
                *new = m;
            } else if let Some(old) = self.changed.iter_mut().find(|x| x.id == m.id) {
                *old = m;
            } else {
                self.changed.push(m);
            }
        }
    }
}

/// What [`Room::sync_within`] brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncWithin {
    /// Everything read and not returned before: the sync's update when it completed,
    /// otherwise what earlier calls left and what the running sync has read so far.
    pub update: SyncUpdate,
    /// `true` when a whole sync ran within the budget.
    pub completed: bool,
}

/// A chat room over a transport. Cheap to clone (all clones are one room); `Send + Sync`.
///
/// [`Room::send`] puts a message in the local timeline (pending) and the outbox and
/// returns its id at once; [`Room::sync`] delivers the outbox with confirmation and reads
/// only what is new; [`Room::watch`] does both in the background with adaptive polling.
///
/// Two layouts (SPEC.md, "Room layouts"; see [`Layout`]):
/// - **Native**: each device appends only to its own log, so no two clients write one
///   file; the timeline is the union of all logs ordered by hybrid logical clock, writer
///   id and sequence, deduplicated by record id.
/// - **Shared file**: FTPChat's single file; each append is confirmed by reading the new
///   tail and repeated if the line is missing; an optional directory lock serialises
///   writers for servers whose `APPE` is not atomic.
#[derive(Clone)]
pub struct Room {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("transport", &self.shared.transport.describe())
            .finish_non_exhaustive()
    }
}

struct Shared {
    transport: Arc<dyn Transport>,
    /// The engine and the view of this room's layout.
    core: Box<dyn RoomCore>,
    /// Wakes watchers when a message is sent, a watcher is cancelled or the room closed.
    wake: Arc<config::Signal>,
    /// The room's clock: watchers pause between polls on it.
    clock: Arc<dyn Clock>,
    /// Updates read but not handed to any consumer yet (a background sync whose handle
    /// was dropped, a watcher cancelled while delivering): the next sync returns them
    /// first. Each message, confirmation and event is in exactly one place: here, in
    /// the view's pending update, or handed out.
    queue: Mutex<SyncUpdate>,
    /// Set by [`Room::close`].
    closed: AtomicBool,
    /// [`RoomConfig::max_attachment_size`].
    max_attachment_size: u64,
    /// The watchers [`Room::close`] cancels.
    watchers: Mutex<Vec<Weak<watch::Control>>>,
    /// Held for a whole sync and while its result is handed over or given back, so that
    /// a sync that starts later finds given-back updates in the queue.
    syncs: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Room {
    /// Opens (or creates) a room. For a native room this reads the header and checks the
    /// password (the key derivation takes a moment: call it off the UI thread).
    ///
    /// Fails with [`RoomError::InvalidConfig`] when the configuration asks for a lock
    /// ([`RoomConfig::with_lock`]) on a native room (native rooms need none: each device
    /// appends only to its own log). On a transport that cannot append
    /// ([`Capabilities::append`](crate::Capabilities) is `false`: S3, WebDAV) a native
    /// room uses the segment layout (SPEC §9.5), which needs
    /// [`Capabilities::create_only`](crate::Capabilities); a FTPChat chat file there fails
    /// with [`RoomError::Unsupported`] before anything is sent.
    pub fn open(transport: Arc<dyn Transport>, config: RoomConfig) -> Result<Room, RoomError> {
        if config.native_lock {
            return Err(RoomError::InvalidConfig(
                "a lock applies to shared-file rooms only (a native room needs none)".into(),
            ));
        }
        // A store that cannot append (S3, WebDAV) keeps a native room's logs as segments
        // written once each (SPEC §9.5); a FTPChat chat file is one file every client
        // appends to, which such a store cannot hold.
        let caps = transport.capabilities();
        let transport: Arc<dyn Transport> = match (&config.layout, caps.append) {
            (_, true) => transport,
            (config::Layout::Native { dir }, false) if caps.create_only => {
                let mut segments = layout::segments::SegmentStore::new(transport, dir)?;
                if let StateLocation::Folder(folder) = &config.state {
                    // In the local store (a cache of what the server holds): a restart
                    // reads the feed from where this device stopped instead of listing
                    // every log. A store that does not open fails the open below.
                    let identity = engine::state_identity(&segments, dir);
                    let cache = state::StateFile::new(folder, &identity)
                        .ok()
                        .and_then(|legacy| {
                            let legacy = legacy.sibling("segments");
                            stored::SegmentCache::open(folder, identity, &legacy).ok()
                        });
                    if let Some(cache) = cache {
                        segments = segments.with_cache(cache);
                    }
                }
                Arc::new(segments)
            }
            (config::Layout::Native { .. }, false) => {
                return Err(RoomError::Unsupported(format!(
                    "{} can neither append nor create a file only if it is missing, and a room needs one of them",
                    transport.describe()
                )))
            }
            (_, false) => {
                return Err(RoomError::Unsupported(format!(
                    "{} cannot append to a file (an object store), and a FTPChat chat file is one file every client appends to; use a native room there",
                    transport.describe()
                )))
            }
        };
        let core = engine::open(transport.as_ref(), &config)?;
        let clock = config.clock.clone();
        Ok(Room {
            shared: Arc::new(Shared {
                transport,
                core,
                wake: Arc::default(),
                clock,
                queue: Mutex::new(SyncUpdate::default()),
                closed: AtomicBool::new(false),
                max_attachment_size: config.max_attachment_size,
                watchers: Mutex::new(Vec::new()),
                syncs: Mutex::new(()),
            }),
        })
    }

    /// [`open`](Self::open) on a thread of its own (connecting and the key derivation
    /// take a moment); wait for or await the returned handle.
    pub fn open_in_background(
        transport: Arc<dyn Transport>,
        config: RoomConfig,
    ) -> Background<Result<Room, RoomError>> {
        Background::spawn("ftpchat-open", move || Room::open(transport, config), drop)
    }

    fn check_open(&self) -> Result<(), RoomError> {
        if self.is_closed() {
            Err(RoomError::Closed)
        } else {
            Ok(())
        }
    }

    /// Sends `text`: it is in the timeline (pending) and the outbox when this returns; it
    /// reaches the server on the next [`sync`](Self::sync) or from a watcher. No I/O here.
    pub fn send(&self, text: &str) -> Result<MessageId, RoomError> {
        self.check_open()?;
        let id = self.shared.core.send(text)?;
        self.shared.wake.fire();
        Ok(id)
    }

    /// Replaces the text of one of this user's messages (SPEC §8.4.1): every client that
    /// reads the edit shows `text` instead, and the newest edit wins. Applied to this
    /// room's timeline at once and sent like a message. Returns the edit's own id.
    ///
    /// Native rooms only ([`RoomError::Unsupported`] for a FTPChat chat file). Fails with
    /// [`RoomError::UnknownMessage`] for a message not in the timeline and
    /// [`RoomError::NotAllowed`] for another user's message or a deleted one. In a
    /// password room "this user" is this device's log (anyone with the password can
    /// forge one); in a member room it is the member, so any of its devices may edit.
    pub fn edit(&self, message: &MessageId, text: &str) -> Result<MessageId, RoomError> {
        self.change(RecordBody::Edit {
            target: RecordId(message.0),
            text: text.to_owned(),
        })
    }

    /// Deletes one of this user's messages (SPEC §8.4.1): every client that reads the
    /// delete drops its text and reactions and shows it as deleted. Final: a deleted
    /// message cannot be edited. Errors as [`edit`](Self::edit).
    pub fn delete(&self, message: &MessageId) -> Result<MessageId, RoomError> {
        self.change(RecordBody::Delete {
            target: RecordId(message.0),
        })
    }

    /// Reacts to a message, this user's own included: `reaction` (e.g. `"👍"`, or several
    /// separated by spaces, at most [`MAX_REACTION_LEN`](crate::codec::MAX_REACTION_LEN)
    /// bytes) replaces this user's earlier reaction to it; an empty one withdraws it.
    /// Errors as [`edit`](Self::edit), but any member may react.
    pub fn react(&self, message: &MessageId, reaction: &str) -> Result<MessageId, RoomError> {
        if reaction.len() > crate::format::MAX_REACTION_LEN {
            return Err(RoomError::MessageTooLarge);
        }
        let reaction = reaction.split_whitespace().collect::<Vec<_>>().join(" ");
        self.change(RecordBody::Reaction {
            target: RecordId(message.0),
            removed: reaction.is_empty(),
            reaction,
        })
    }

    fn change(&self, body: RecordBody) -> Result<MessageId, RoomError> {
        self.check_open()?;
        if let Some(target) = body.target() {
            self.shared
                .core
                .prepare_change(self.shared.transport.as_ref(), &MessageId(target.0))?;
        }
        let id = self.shared.core.send_change(body)?;
        self.shared.wake.fire();
        Ok(id)
    }

    /// Delivers the outbox (with confirmation) and reads what is new. Returns only what
    /// earlier syncs did not. On error, unsent messages stay queued and what was already
    /// read (it reads even when delivery failed) is returned by the next successful sync,
    /// or at once by [`take_pending`](Self::take_pending); a watcher hands it to its
    /// listener beside the error, so a stuck outbox or a wrong password hides nothing.
    ///
    /// Every message, confirmation and event is returned exactly once per room, to
    /// whichever consumer reads it first: this call, another thread's sync, a watcher,
    /// or a [`sync_in_background`](Self::sync_in_background) (whose result goes back to
    /// the room if its handle is dropped unread). With a state folder, new messages
    /// beyond the 1,000 newest of one sync are counted instead
    /// ([`SyncUpdate::messages`]).
    pub fn sync(&self) -> Result<SyncUpdate, RoomError> {
        self.sync_then(None, |result| {
            result.map(|update| update.unwrap_or_default())
        })
    }

    /// Syncs unless `deadline` has passed when the engine is free (`Ok(None)`), and
    /// calls `then` with the result while still holding the engine: what `then` does
    /// with the update (hand it over, or give it back to the queue) is done before any
    /// other sync can read the queue.
    fn sync_then<R>(
        &self,
        deadline: Option<Instant>,
        then: impl FnOnce(Result<Option<SyncUpdate>, RoomError>) -> R,
    ) -> R {
        if let Err(e) = self.check_open() {
            return then(Err(e));
        }
        let _one_sync = lock(&self.shared.syncs);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return then(Ok(None));
        }
        if let Err(e) = self.check_open() {
            return then(Err(e));
        }
        let result = self
            .shared
            .core
            .sync(self.shared.transport.as_ref())
            .map(|fresh| {
                let mut update = std::mem::take(&mut *lock(&self.shared.queue));
                update.append(fresh);
                Some(update)
            });
        then(result)
    }

    /// Takes what was read and not handed out yet, without I/O: what earlier calls left
    /// in the room's queue and what a sync in progress has read so far.
    pub fn take_pending(&self) -> SyncUpdate {
        let mut update = std::mem::take(&mut *lock(&self.shared.queue));
        update.append(self.shared.core.take_update());
        update
    }

    /// Gives back what a consumer took but could not hand on (e.g. messages a binding
    /// queued for an iterator that was dropped unread): it goes in front of the room's
    /// queue and the next sync or watcher returns it. Give back only what this room
    /// handed out, once.
    pub fn give_back(&self, update: SyncUpdate) {
        self.requeue(update);
    }

    /// Puts an update nobody took back in front of the room's queue: the next sync
    /// returns it first.
    pub(crate) fn requeue(&self, mut update: SyncUpdate) {
        if update.is_empty() {
            return;
        }
        let mut queue = lock(&self.shared.queue);
        update.append(std::mem::take(&mut *queue));
        *queue = update;
    }

    /// [`sync`](Self::sync) on a thread of its own: wait for the handle
    /// ([`Background::wait`]) or await it. If the handle is dropped before its result is
    /// taken (the caller gave up, an async task was cancelled), the update goes back to
    /// the room and the next sync or watcher returns it: nothing is lost.
    pub fn sync_in_background(&self) -> Background<Result<SyncUpdate, RoomError>> {
        let (room, back) = (self.clone(), self.clone());
        Background::spawn_with(
            "ftpchat-sync",
            move |deliver| {
                room.sync_then(None, |result| {
                    deliver.deliver(result.map(|update| update.unwrap_or_default()));
                });
            },
            move |result| {
                if let Ok(update) = result {
                    back.requeue(update);
                }
            },
        )
    }

    /// One sync within `budget` from now, for background windows where the OS grants a
    /// few seconds. Returns by the deadline (plus scheduling), without I/O on the
    /// caller's thread: the sync runs on a thread of its own.
    ///
    /// No sync starts after the deadline (e.g. after waiting for another call's sync);
    /// one already running is not interrupted: it finishes in the background and its
    /// update goes to the room's queue, for the next sync or watcher. `completed` says
    /// whether a whole sync ran in time. Errors of a sync that completed in time are
    /// returned.
    pub fn sync_within(&self, budget: Duration) -> Result<SyncWithin, RoomError> {
        self.check_open()?;
        let now = Instant::now();
        // A budget too large for the clock is as good as none.
        let deadline = now.checked_add(budget);
        let (room, back) = (self.clone(), self.clone());
        let task = Background::spawn_with(
            "ftpchat-sync-within",
            move |deliver| room.sync_then(deadline, |result| deliver.deliver(result)),
            move |result| {
                if let Ok(Some(update)) = result {
                    back.requeue(update);
                }
            },
        );
        let waited = match deadline {
            Some(d) => task.wait(d.saturating_duration_since(Instant::now())),
            None => task.wait(Duration::MAX),
        };
        match waited {
            Ok(Ok(Some(update))) => Ok(SyncWithin {
                update,
                completed: true,
            }),
            Ok(Err(e)) => Err(e),
            Ok(Ok(None)) | Err(_) => Ok(SyncWithin {
                update: self.take_pending(),
                completed: false,
            }),
        }
    }

    /// [`sync_within`](Self::sync_within) on a thread of its own (the caller does not
    /// block even for the budget). If the handle is dropped unread, the update goes back
    /// to the room like that of a dropped [`sync_in_background`](Self::sync_in_background).
    pub fn sync_within_in_background(
        &self,
        budget: Duration,
    ) -> Background<Result<SyncWithin, RoomError>> {
        let (room, back) = (self.clone(), self.clone());
        Background::spawn(
            "ftpchat-sync-within",
            move || room.sync_within(budget),
            move |result| {
                if let Ok(within) = result {
                    back.requeue(within.update);
                }
            },
        )
    }

    /// [`flush`](Self::flush) on a thread of its own.
    pub fn flush_in_background(&self) -> Background<Result<(), RoomError>> {
        let room = self.clone();
        Background::spawn("ftpchat-flush", move || room.flush(), drop)
    }

    /// [`history`](Self::history) on a thread of its own.
    pub fn history_in_background(
        &self,
        before: Option<MessageId>,
        limit: usize,
    ) -> Background<Result<Vec<Message>, RoomError>> {
        let room = self.clone();
        Background::spawn(
            "ftpchat-history",
            move || room.history(before.as_ref(), limit),
            drop,
        )
    }

    /// Closes the room: cancels its watchers (without waiting for them), waits for a
    /// sync in progress, and saves the local state (outbox, read positions). Later calls
    /// that read, write or start work fail with [`RoomError::Closed`]; getters without
    /// I/O keep working. Idempotent: only the first call can fail (saving the state).
    ///
    /// Unsent messages are not delivered (call [`flush`](Self::flush) first for that);
    /// with a state folder they go out when the room is opened again.
    pub fn close(&self) -> Result<(), RoomError> {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let watchers = std::mem::take(&mut *lock(&self.shared.watchers));
        for w in watchers.iter().filter_map(Weak::upgrade) {
            w.cancel();
        }
        self.shared.wake.fire();
        let _no_sync = lock(&self.shared.syncs);
        self.shared.core.save()
    }

    /// Member rooms: the members, with their roles, devices and fingerprints, as of the
    /// last sync. [`RoomError::NotAMemberRoom`] for other rooms.
    pub fn members(&self) -> Result<Vec<Member>, RoomError> {
        self.shared.core.members().ok_or(RoomError::NotAMemberRoom)
    }

    /// Member rooms: this device's identity (its fingerprint is what others verify).
    pub fn identity(&self) -> Option<Arc<DeviceIdentity>> {
        self.shared.core.identity()
    }

    /// Member rooms (admins): a one-time invitation with `role`. Whoever holds it can join
    /// once, as a new member; share it over a channel you trust (it carries a secret).
    /// `location` is what the invitee passes to [`open_location`](crate::open_location).
    pub fn invite(&self, role: Role, location: &str) -> Result<Invitation, RoomError> {
        self.check_open()?;
        self.shared
            .core
            .invite(self.shared.transport.as_ref(), role, location)
    }

    /// Member rooms (admins): adds the member whose device identity is `device` (e.g.
    /// read from its fingerprint-verified `ftpchat-id1:` text). With `share_history`, the
    /// new member can also read what was sent before; otherwise it reads from its join on.
    /// Returns the new epoch.
    pub fn add_member(
        &self,
        device: PublicIdentity,
        role: Role,
        share_history: bool,
    ) -> Result<u64, RoomError> {
        self.change_members(Change::Add {
            device,
            role,
            share_history,
        })
    }

    /// Member rooms: links another device of this device's member (the other device
    /// gives its `ftpchat-id1:` text). Returns the new epoch.
    pub fn link_device(
        &self,
        device: PublicIdentity,
        share_history: bool,
    ) -> Result<u64, RoomError> {
        let me = self.identity().ok_or(RoomError::NotAMemberRoom)?;
        let members = self.members()?;
        let mine = members
            .iter()
            .find(|m| m.devices.iter().any(|d| *d == me.public()))
            .ok_or(RoomError::NotAMember)?;
        self.change_members(Change::AddDevice {
            member: mine.id,
            device,
            share_history,
        })
    }

    /// Member rooms (admins, or a member leaving): removes `member`. Its devices get no
    /// key of the new epoch, and everyone refuses what they write after the last record
    /// this device had read from them. Returns the new epoch.
    pub fn remove_member(&self, member: &MemberId) -> Result<u64, RoomError> {
        self.change_members(Change::Remove {
            member: *member,
            cuts: Vec::new(), // filled in from what this device has read
        })
    }

    /// Member rooms (admins): makes `member` an admin. Returns the new epoch.
    pub fn promote(&self, member: &MemberId) -> Result<u64, RoomError> {
        self.change_members(Change::Promote { member: *member })
    }

    /// Upgrades this native password room to a member room whose first admin is
    /// `identity` (SPEC §17.11), after delivering the outbox. Every record written so far
    /// stays history, readable with the password; nothing unsigned written afterwards is
    /// accepted. Password clients can no longer open the room (its header is version 2).
    /// This room object is closed: open the room again with
    /// [`RoomConfig::member_room`] and, to read the old records,
    /// [`RoomConfig::with_legacy_password`]; then add or invite the other members.
    pub fn upgrade_to_member_room(&self, identity: &DeviceIdentity) -> Result<(), RoomError> {
        self.check_open()?;
        {
            let _one_sync = lock(&self.shared.syncs);
            self.shared
                .core
                .upgrade(self.shared.transport.as_ref(), identity)?;
        }
        self.close()
    }

    fn change_members(&self, change: Change) -> Result<u64, RoomError> {
        self.check_open()?;
        let _one_sync = lock(&self.shared.syncs);
        self.shared
            .core
            .change_members(self.shared.transport.as_ref(), change)
    }

    /// `true` after [`close`](Self::close).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Delivers the outbox without reading (e.g. before closing).
    pub fn flush(&self) -> Result<(), RoomError> {
        self.check_open()?;
        self.shared.core.flush(self.shared.transport.as_ref())
    }

    /// Up to `limit` messages of the room's conversation before `before` (or the newest),
    /// oldest first: not private messages ([`private_history`](Self::private_history)),
    /// not those of blocked members. Empty when `before` is not a message of the room.
    ///
    /// A room with a state folder ([`StateLocation::Folder`]) reads its local store:
    /// no I/O with the server, also while the server is unreachable. Only when the store
    /// does not hold the room's history yet (a state folder from before the store, or a
    /// store deleted to recover from damage) does the first call download the history
    /// the saved read positions skipped, once, and store it. A room without a state
    /// folder downloads that history on the first call after a restart.
    pub fn history(
        &self,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError> {
        self.check_open()?;
        self.shared
            .core
            .history(self.shared.transport.as_ref(), None, before, limit)
    }

    /// Up to `limit` messages of the room's conversation whose text or attachment name
    /// contains every word of `query`, **newest first**, starting just before `before`
    /// (the newest when `None`): pass the last message of a page as `before` for the next
    /// page. Like [`history`](Self::history): no private messages, none of blocked
    /// members, read from the local store without the server.
    ///
    /// `query` is what a user typed, never query syntax: words are separated by spaces
    /// and punctuation; case and accents are ignored (`cafe` finds "Café"); each word
    /// matches the words it starts (`meet` finds "meeting"; a one-letter word matches
    /// only itself); quotes, `*`, `-`, `AND`, `OR`, `NEAR` are plain words or separators.
    /// Punctuation and emoji are not indexed and find nothing. A query without a word
    /// finds nothing.
    ///
    /// Needs a state folder ([`StateLocation::Folder`]), where the local store is:
    /// [`RoomError::Unsupported`] otherwise. [`RoomError::Store`] when the store fails.
    pub fn search(
        &self,
        query: &str,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError> {
        self.check_open()?;
        self.shared
            .core
            .search(self.shared.transport.as_ref(), query, before, limit)
    }

    /// [`search`](Self::search) on a thread of its own.
    pub fn search_in_background(
        &self,
        query: &str,
        before: Option<MessageId>,
        limit: usize,
    ) -> Background<Result<Vec<Message>, RoomError>> {
        let (room, query) = (self.clone(), query.to_owned());
        Background::spawn(
            "ftpchat-search",
            move || room.search(&query, before.as_ref(), limit),
            drop,
        )
    }

    /// Member rooms: [`history`](Self::history) of the private conversation with `member`
    /// (with this user's own member id: notes to itself).
    pub fn private_history(
        &self,
        member: &MemberId,
        before: Option<&MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, RoomError> {
        self.check_open()?;
        self.shared
            .core
            .history(self.shared.transport.as_ref(), Some(*member), before, limit)
    }

    /// Member rooms: sends `text` privately to `member` (SPEC §8.4.2): only `member`'s
    /// devices and this member's devices can read it; other members see that a private
    /// message went from this member to `member`, and its size; the server sees a record
    /// like any other. It waits in `member`'s room log until they come online, however
    /// long that takes, and is shown once, in the conversation [`Message::private`] names.
    /// No I/O here, like [`send`](Self::send).
    ///
    /// Fails with [`RoomError::NotAMemberRoom`] in other rooms, [`RoomError::Membership`]
    /// when `member` is not a current member, [`RoomError::NotAMember`] when this device
    /// is not one. Devices `member` links later cannot read it.
    pub fn send_private(&self, member: &MemberId, text: &str) -> Result<MessageId, RoomError> {
        self.check_open()?;
        let id = self.shared.core.send_private(*member, text)?;
        self.shared.wake.fire();
        Ok(id)
    }

    /// Member rooms: blocks `member` on every device of this member, across restarts:
    /// their messages, private ones included, are not returned by syncs or histories
    /// (until [`unblock`](Self::unblock)). The block list is a private record to this
    /// member itself: `member` is not told (SPEC §8.4.2). No I/O here.
    pub fn block(&self, member: &MemberId) -> Result<(), RoomError> {
        self.check_open()?;
        self.shared.core.set_blocked(*member, true)?;
        self.shared.wake.fire();
        Ok(())
    }

    /// Member rooms: undoes [`block`](Self::block); the member's messages show again.
    pub fn unblock(&self, member: &MemberId) -> Result<(), RoomError> {
        self.check_open()?;
        self.shared.core.set_blocked(*member, false)?;
        self.shared.wake.fire();
        Ok(())
    }

    /// Member rooms: the members this member blocks (on any of its devices).
    pub fn blocked(&self) -> Vec<MemberId> {
        self.shared.core.blocked()
    }

    /// A message by id, if this client has seen it.
    pub fn message(&self, id: &MessageId) -> Option<Message> {
        self.shared.core.message(id)
    }

    /// Messages waiting in the outbox.
    pub fn outbox_len(&self) -> usize {
        self.shared.core.outbox_len()
    }

    /// Test tool: how many messages the room holds in memory. With a state folder that is
    /// a window of the newest (plus pending ones); the local store holds the rest.
    #[cfg(feature = "testing")]
    pub fn messages_in_memory(&self) -> usize {
        self.shared.core.messages_in_memory()
    }

    /// The transport's description (for a status line).
    pub fn describe(&self) -> String {
        self.shared.transport.describe()
    }

    /// This client's display name.
    pub fn display_name(&self) -> String {
        self.shared.core.display_name()
    }

    /// Starts a background poller that delivers and reads, calling `listener`; it stops
    /// when the handle is cancelled ([`WatchHandle::cancel`]), stopped
    /// ([`WatchHandle::stop`]) or dropped, or the room is closed. On a closed room the
    /// watcher ends at once without calling the listener. Between full syncs of a native
    /// room it only checks the room's doorbell (one `SIZE`; SPEC §9.2.1), so an idle
    /// watcher with the default [`WatchOptions`] sees a message within about a second for
    /// about one command per second.
    pub fn watch(&self, listener: Arc<dyn RoomListener>, options: WatchOptions) -> WatchHandle {
        let handle = watch::start(self.clone(), listener, options);
        let mut watchers = lock(&self.shared.watchers);
        watchers.retain(|w| w.strong_count() > 0);
        watchers.push(Arc::downgrade(handle.control()));
        drop(watchers);
        // A close racing with this call must not leave the watcher running.
        if self.is_closed() {
            handle.cancel();
        }
        handle
    }

    /// A wake-up that fires at the next send, watcher cancel or close.
    fn wakeup(&self) -> Wakeup {
        self.shared.wake.wakeup()
    }

    /// The doorbell's size now (one `SIZE`); `None` when the room has none, it is
    /// missing, or the check failed (the watcher then polls in full).
    fn doorbell_size(&self) -> Option<u64> {
        let (path, _) = self.shared.core.doorbell()?;
        self.shared.transport.size(&path).ok().flatten()
    }

    /// A watcher's pause between polls, on the room's clock.
    fn pause(&self, wakeup: &Wakeup, interval: Duration) {
        self.shared.clock.wait(wakeup, interval);
    }
}

pub(crate) type Outbox = VecDeque<Outgoing>;
