//! Records and enums that cross the FFI: messages, events, updates, room options.

use ftpchat_core::Codec;
use ftpchat_core::TransportEvent;
use ftpchat_core::{likely_cause, RoomEvent, SyncUpdate, SyncWithin};
use ftpchat_core::{Attachment, Message, MessageId, MessageStatus as CoreStatus, Reaction};
use ftpchat_core::{PresenceInfo as CorePresence, PresenceState as CoreState, SeenBy as CoreSeen};

/// Whether a message is on the server yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MessageStatus {
    /// Sent on this device, not yet confirmed on the server (in the outbox).
    Pending,
    /// Read back from the server.
    Confirmed,
}

/// The wire format a message was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum MessageCodec {
    /// ftpchat native record (authenticated, bound to room and writer).
    Native,
    /// FTPChat 1.6 line: a Fernet token, base64-encoded once more (`Z0FBQUFB...`). Any
    /// member can write as any name.
    Fernet16,
    /// FTPChat 1.7 line: a raw Fernet token (`gAAAAA...`). Any member can write as any
    /// name.
    Fernet17,
    /// FTPChat 1.5 line: **no encryption**, anyone can read it and write it under any
    /// name. Show a warning.
    Legacy15,
    /// A codec these bindings do not know yet.
    Unknown,
}

impl From<Codec> for MessageCodec {
    fn from(c: Codec) -> Self {
        match c {
            Codec::Native => MessageCodec::Native,
            Codec::Fernet16 => MessageCodec::Fernet16,
            Codec::Fernet17 => MessageCodec::Fernet17,
            Codec::Legacy15 => MessageCodec::Legacy15,
            _ => MessageCodec::Unknown,
        }
    }
}

/// A chat message as an app shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatMessage {
    /// Its id: 32 lowercase hex characters. Stable across devices and restarts.
    pub id: String,
    /// The sender's display name (chosen by the sender: not proof of identity).
    pub sender: String,
    /// The text.
    pub text: String,
    /// When it was written, milliseconds since the Unix epoch (UTC), when known.
    pub timestamp_ms: Option<u64>,
    /// The writer's local time as written in an FTPChat line (`YYYY-MM-DD HH:MM`, no time
    /// zone), for FTPChat 1.5/1.6/1.7 messages.
    pub local_time: Option<String>,
    /// Pending or confirmed.
    pub status: MessageStatus,
    /// The wire format of its line.
    pub codec: MessageCodec,
    /// `true` when this device sent it.
    pub is_own: bool,
    /// Member rooms: the fingerprint of the device that signed it (compare it with the
    /// sender's fingerprint, verified out of band); `null`/`nil` elsewhere.
    pub signer: Option<String>,
    /// Its author changed its text ([`ChatRoom::edit`](crate::ChatRoom::edit)); `text` is
    /// the newest edit's.
    pub edited: bool,
    /// Its author deleted it ([`ChatRoom::delete`](crate::ChatRoom::delete)): `text` and
    /// `reactions` are empty and `edited` is `false`. Show it as deleted.
    pub deleted: bool,
    /// The members' reactions ([`ChatRoom::react`](crate::ChatRoom::react)), the most
    /// chosen first.
    pub reactions: Vec<ChatReaction>,
    /// Member rooms: for a private message
    /// ([`ChatRoom::send_private`](crate::ChatRoom::send_private), SPEC §8.4.2), the id
    /// of the other member of the private conversation (this member's own id for a note
    /// to itself); `null`/`nil` for a message to the whole room. (The core's
    /// `Message::private`; `private` is a keyword in Kotlin and Swift.)
    pub private_with: Option<String>,
    /// A file sent with this message ([`ChatRoom::send_file`](crate::ChatRoom::send_file),
    /// SPEC §8.4.3); `text` is its caption (may be empty). Download it with
    /// [`ChatRoom::save_attachment`](crate::ChatRoom::save_attachment). `null`/`nil` for
    /// a text message, and once the message is deleted.
    pub attachment: Option<ChatAttachment>,
}

/// A file attached to a message ([`ChatMessage::attachment`]), as its sender announced
/// it. The key and place of its encrypted copy on the server stay in the room.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatAttachment {
    /// The file's name: one path component (no `/`, `\`, `:` or control characters,
    /// checked when the message was read), chosen by the sender. Suggest it to the user;
    /// do not trust it as a path.
    pub name: String,
    /// The file's size in bytes (the download is checked against it).
    pub size: u64,
    /// The media type the sender announced (`image/png`, `application/octet-stream`...),
    /// not checked against the content.
    pub media_type: String,
}

impl From<&Attachment> for ChatAttachment {
    fn from(a: &Attachment) -> Self {
        ChatAttachment {
            name: a.name().to_owned(),
            size: a.size(),
            media_type: a.media_type().to_owned(),
        }
    }
}

/// One reaction to a message and who chose it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChatReaction {
    /// The reaction, e.g. an emoji.
    pub reaction: String,
    /// The display names of the authors who chose it, in timeline order of their choice.
    pub senders: Vec<String>,
    /// `true` when this user chose it.
    pub own: bool,
}

impl From<&Reaction> for ChatReaction {
    fn from(r: &Reaction) -> Self {
        ChatReaction {
            reaction: r.reaction.clone(),
            senders: r.senders.clone(),
            own: r.own,
        }
    }
}

impl From<&Message> for ChatMessage {
    fn from(m: &Message) -> Self {
        ChatMessage {
            id: m.id.to_hex(),
            sender: m.sender.clone(),
            text: m.text.clone(),
            timestamp_ms: m.timestamp_ms,
            local_time: m.local_time.map(|t| t.to_string()),
            status: match m.status {
                CoreStatus::Pending => MessageStatus::Pending,
                CoreStatus::Confirmed => MessageStatus::Confirmed,
            },
            codec: m.codec.into(),
            is_own: m.is_own,
            signer: m.signer.clone(),
            edited: m.edited,
            deleted: m.deleted,
            reactions: m.reactions.iter().map(ChatReaction::from).collect(),
            private_with: m.private.map(|id| id.to_string()),
            attachment: m.attachment.as_ref().map(ChatAttachment::from),
        }
    }
}

/// Something the app should know that is not an error of a call.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ChatEvent {
    /// A line that is not a record or did not decode; reported once, skipped.
    UndecodableLine {
        /// The file it is in.
        file: String,
        /// Its byte offset.
        offset: u64,
        /// The codec its first bytes announce (`null`/`nil`: none).
        codec: Option<MessageCodec>,
        /// The likely cause, in words for a user (e.g. "looks like FTPChat 1.7 with
        /// another password (or salt), or an altered line").
        reason: String,
    },
    /// A keyless FTPChat 1.5 line in a shared file whose room writes 1.6 or 1.7: anyone
    /// with write access to the file could have written it, under any name. Not shown
    /// unless [`RoomOptions::show_unauthenticated`] is set.
    UnauthenticatedLine {
        /// The file it is in.
        file: String,
        /// Its byte offset.
        offset: u64,
    },
    /// Lines of a shared file fail authentication and none succeeded: the password (or
    /// the 1.6/1.7 salt and iterations) are probably wrong. In a room that writes 1.6 or
    /// 1.7, `sync` and `flush` fail with `ChatError.WrongPassword` meanwhile and nothing
    /// is written; this event comes from rooms that write 1.5.
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
        reason: String,
    },
    /// An expired shared-file lock (a crashed client's) was removed.
    StaleLockRemoved,
    /// Unsent messages saved in the state folder by an earlier run do not decode under
    /// this run's password: they stay saved, unsent (not in `outboxLen`), and go out when
    /// the room is opened with the password they were written under.
    OutboxHeld {
        /// How many.
        messages: u64,
    },
    /// A sync read more new messages than an update carries (a room with a state folder
    /// returns the 1,000 newest): the `messages` older ones are in the local store only,
    /// where `history` pages them.
    MessagesLeftOut {
        /// How many new messages were left out of this update.
        messages: u64,
    },
    /// The connection went on in plain text because the server does not offer TLS. Not
    /// reported for locations opened by these bindings: `ftps://` and `ftpes://` both
    /// require TLS and never fall back to plain FTP (the connection fails instead), and
    /// `ftp://` never tries TLS. Only a transport configured in code to prefer TLS
    /// reports it.
    TlsFallback {
        /// Why TLS could not be used.
        reason: String,
    },
    /// The connection was lost and made again.
    Reconnected {
        /// How many attempts it took.
        attempts: u32,
    },
    /// An operation failed transiently and is being retried.
    Retrying {
        /// The operation, e.g. `append`.
        operation: String,
        /// The error, without secrets.
        reason: String,
    },
    /// Member rooms: the membership changed; `epoch` is the new epoch.
    MembershipChanged {
        /// The new epoch.
        epoch: u64,
    },
    /// Member rooms: the commit of `epoch` is invalid (forged, not allowed, malformed):
    /// not applied, and nothing after it is read. Reported once.
    MembershipRejected {
        /// The epoch of the rejected commit.
        epoch: u64,
        /// Why, in words.
        reason: String,
    },
    /// Member rooms: this device was removed. It reads nothing sent afterwards and can no
    /// longer send (`ChatError.NotAMember`).
    RemovedFromRoom,
    /// Member rooms: a signed record was refused (bad signature, broken or forked chain,
    /// a device the membership does not allow, or unsigned).
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
    /// An edit, delete or reaction was refused: an edit or delete by someone other than
    /// the message's author, or a change of something that is not a text message. The
    /// message is unchanged.
    ChangeRefused {
        /// The refused record's id (hex).
        change: String,
        /// The id (hex) of the message it tried to change.
        target: String,
        /// Why, in words.
        reason: String,
    },
    /// Member rooms: a private record sealed to this device does not open (altered, or
    /// sealed wrongly by its sender); it is not shown.
    PrivateRecordRefused {
        /// The refused record's id (hex).
        record: String,
        /// Why, in words.
        reason: String,
    },
    /// Member rooms: another device published a new presence or read position (SPEC
    /// §18); [`ChatRoom::presence`](crate::ChatRoom::presence) and
    /// [`ChatRoom::seen_by`](crate::ChatRoom::seen_by) tell what changed. Expiry changes
    /// presence without an event.
    PresenceChanged,
    /// An event these bindings do not know yet.
    Other {
        /// A description.
        description: String,
    },
}

impl From<&RoomEvent> for ChatEvent {
    fn from(e: &RoomEvent) -> Self {
        match e {
            RoomEvent::UndecodableLine {
                file,
                offset,
                codec,
                error,
            } => ChatEvent::UndecodableLine {
                file: file.clone(),
                offset: *offset,
                codec: codec.map(MessageCodec::from),
                reason: likely_cause(*codec, error),
            },
            RoomEvent::UnauthenticatedLine { file, offset } => ChatEvent::UnauthenticatedLine {
                file: file.clone(),
                offset: *offset,
            },
            RoomEvent::WrongPassword { failed_lines } => ChatEvent::WrongPassword {
                failed_lines: *failed_lines,
            },
            RoomEvent::ForeignRecord { file, offset } => ChatEvent::ForeignRecord {
                file: file.clone(),
                offset: *offset,
            },
            RoomEvent::FileReplaced { file } => ChatEvent::FileReplaced { file: file.clone() },
            RoomEvent::DeliveryRetry { attempt, error } => ChatEvent::DeliveryRetry {
                attempt: *attempt,
                reason: error.clone(),
            },
            RoomEvent::StaleLockRemoved => ChatEvent::StaleLockRemoved,
            RoomEvent::OutboxHeld { messages } => ChatEvent::OutboxHeld {
                messages: u64::try_from(*messages).unwrap_or(u64::MAX),
            },
            RoomEvent::MessagesLeftOut { messages } => ChatEvent::MessagesLeftOut {
                messages: *messages,
            },
            RoomEvent::Transport(TransportEvent::TlsFallback { reason }) => {
                ChatEvent::TlsFallback {
                    reason: reason.clone(),
                }
            }
            RoomEvent::Transport(TransportEvent::Reconnected { attempts }) => {
                ChatEvent::Reconnected {
                    attempts: *attempts,
                }
            }
            RoomEvent::Transport(TransportEvent::Retrying { operation, error }) => {
                ChatEvent::Retrying {
                    operation: (*operation).to_owned(),
                    reason: error.clone(),
                }
            }
            RoomEvent::MembershipChanged { epoch } => {
                ChatEvent::MembershipChanged { epoch: *epoch }
            }
            RoomEvent::MembershipRejected { epoch, reason } => ChatEvent::MembershipRejected {
                epoch: *epoch,
                reason: reason.clone(),
            },
            RoomEvent::RemovedFromRoom => ChatEvent::RemovedFromRoom,
            RoomEvent::RecordRefused {
                file,
                offset,
                reason,
            } => ChatEvent::RecordRefused {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            RoomEvent::DuplicateRecordId { file, offset } => ChatEvent::DuplicateRecordId {
                file: file.clone(),
                offset: *offset,
            },
            RoomEvent::ChangeRefused {
                change,
                target,
                reason,
            } => ChatEvent::ChangeRefused {
                change: change.to_hex(),
                target: target.to_hex(),
                reason: reason.clone(),
            },
            RoomEvent::PrivateRecordRefused { record, reason } => ChatEvent::PrivateRecordRefused {
                record: record.to_hex(),
                reason: reason.clone(),
            },
            RoomEvent::PresenceChanged => ChatEvent::PresenceChanged,
            other => ChatEvent::Other {
                description: other.to_string(),
            },
        }
    }
}

/// A device's presence ([`ChatRoom::set_presence`](crate::ChatRoom::set_presence),
/// [`PresenceInfo::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PresenceState {
    /// Not present: its state ran out, or it said goodbye.
    Offline,
    /// Present.
    Online,
    /// Present but away.
    Away,
    /// Present and typing: setting it is
    /// [`ChatRoom::set_typing(true)`](crate::ChatRoom::set_typing);
    /// [`ChatRoom::presence`](crate::ChatRoom::presence) reports typing as
    /// [`PresenceInfo::typing`] with `Online`.
    Typing,
}

impl From<PresenceState> for CoreState {
    fn from(s: PresenceState) -> Self {
        match s {
            PresenceState::Offline => CoreState::Offline,
            PresenceState::Online => CoreState::Online,
            PresenceState::Away => CoreState::Away,
            PresenceState::Typing => CoreState::Typing,
        }
    }
}

impl From<CoreState> for PresenceState {
    fn from(s: CoreState) -> Self {
        match s {
            CoreState::Online => PresenceState::Online,
            CoreState::Away => PresenceState::Away,
            CoreState::Typing => PresenceState::Typing,
            _ => PresenceState::Offline,
        }
    }
}

/// A member's presence over its devices ([`ChatRoom::presence`](crate::ChatRoom::presence)).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PresenceInfo {
    /// The member id (32 hex characters, `RoomMember.id`).
    pub member: String,
    /// The fingerprint of the member's first device.
    pub fingerprint: String,
    /// The display name of the member's newest state record (empty before any).
    pub display_name: String,
    /// `true` for this device's own member.
    pub is_self: bool,
    /// The best state of its devices now: `Online` over `Away` over `Offline` (a device
    /// whose state ran out is offline). Never `Typing`: see `typing`.
    pub state: PresenceState,
    /// `true` while one of its devices is typing.
    pub typing: bool,
    /// Until when it was last known present, ms since the Unix epoch (its state's
    /// valid-until, or now while it is online, or the time of its goodbye);
    /// `null`/`nil` before any state was read.
    pub last_seen_ms: Option<u64>,
    /// When its user was last active (sent, read, typed, came online), ms since the Unix
    /// epoch, as its devices said; `null`/`nil` when unknown.
    pub last_active_ms: Option<u64>,
}

impl From<&CorePresence> for PresenceInfo {
    fn from(p: &CorePresence) -> Self {
        PresenceInfo {
            member: p.member.to_string(),
            fingerprint: p.fingerprint.clone(),
            display_name: p.display_name.clone(),
            is_self: p.is_self,
            state: p.state.into(),
            typing: p.typing,
            last_seen_ms: p.last_seen_ms,
            last_active_ms: p.last_active_ms,
        }
    }
}

#[uniffi::export]
impl PresenceInfo {
    /// `true` when it is online or away now, or was present within `window_ms` before
    /// `now_ms` ("who was here in the last hour" is `seenWithin(now, 3_600_000)`). The
    /// rule of the core's `PresenceInfo::seen_within`.
    pub fn seen_within(&self, now_ms: u64, window_ms: u64) -> bool {
        self.state != PresenceState::Offline
            || self
                .last_seen_ms
                .is_some_and(|t| t.saturating_add(window_ms) >= now_ms)
    }
}

/// Who has seen a message ([`ChatRoom::seen_by`](crate::ChatRoom::seen_by)): "seen by
/// `readers.size` of `of`".
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SeenBy {
    /// The ids of the members (other than its author) one of whose devices has read it
    /// or a later message, in member id order.
    pub readers: Vec<String>,
    /// How many members there are other than its author.
    pub of: u32,
}

impl From<&CoreSeen> for SeenBy {
    fn from(s: &CoreSeen) -> Self {
        SeenBy {
            readers: s.readers.iter().map(ToString::to_string).collect(),
            of: u32::try_from(s.of).unwrap_or(u32::MAX),
        }
    }
}

/// What a sync brought: only what earlier syncs (and listeners) did not.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct ChatUpdate {
    /// New messages from others, in timeline order.
    pub messages: Vec<ChatMessage>,
    /// Ids (hex) of own messages now confirmed on the server.
    pub confirmed: Vec<String>,
    /// Events since the last sync.
    pub events: Vec<ChatEvent>,
    /// Messages returned before (by a sync, a listener or `history`) that were edited,
    /// deleted or reacted to since, as they are now; each at most once.
    pub changed: Vec<ChatMessage>,
}

impl ChatUpdate {
    /// `true` when nothing happened.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.confirmed.is_empty()
            && self.events.is_empty()
            && self.changed.is_empty()
    }
}

impl From<SyncUpdate> for ChatUpdate {
    fn from(u: SyncUpdate) -> Self {
        ChatUpdate {
            messages: u.messages.iter().map(ChatMessage::from).collect(),
            confirmed: u.confirmed.iter().map(MessageId::to_hex).collect(),
            events: u.events.iter().map(ChatEvent::from).collect(),
            changed: u.changed.iter().map(ChatMessage::from).collect(),
        }
    }
}

/// What [`ChatRoom::sync_once`](crate::ChatRoom::sync_once) did within its budget.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncOnceResult {
    /// What arrived (including results of earlier syncs that finished too late for their
    /// caller).
    pub update: ChatUpdate,
    /// `true` when a full sync (delivery and read) finished within the budget. `false`
    /// when it could not start in time or was still running at the deadline: it then
    /// finishes in the background and its results come with the next sync.
    pub completed: bool,
    /// Messages still waiting to be delivered (schedule another background window when
    /// this is not 0).
    pub outbox_len: u64,
}

impl SyncOnceResult {
    pub(crate) fn new(within: SyncWithin, outbox_len: usize) -> Self {
        SyncOnceResult {
            update: within.update.into(),
            completed: within.completed,
            outbox_len: outbox_len as u64,
        }
    }
}

/// How a room is laid out on the server.
///
/// A shared file is read whatever its lines are (1.5, 1.6, 1.7, each line on its own); the
/// layout says what this device writes. Pick the oldest FTPChat client that must read the
/// file: a 1.7 client stops showing anything after the first line it cannot decrypt, so
/// with any 1.7 client in the chat use [`SharedFile17`](Self::SharedFile17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RoomLayout {
    /// ftpchat's native room: a directory with one log per device. Recommended; safe on
    /// every server.
    Native,
    /// FTPChat 1.7 shared file: each line a raw Fernet token of the text without trailing
    /// white space (`gAAAAA...`). Needs a password. The shared-file layout to choose unless
    /// an older client must read the file. (Files written by ftpchat's earlier "1.6"
    /// layout, raw tokens under the salt `ftpchat`, are this layout with
    /// `compat_salt = "ftpchat"`.)
    SharedFile17,
    /// FTPChat 1.6 shared file: each line a Fernet token, base64-encoded once more
    /// (`Z0FBQUFB...`), as the real 1.6 client writes it. Needs a password. FTPChat 1.7
    /// clients stop reading at the first such line.
    SharedFile16,
    /// FTPChat 1.5 shared file. **No encryption**: for reading old chats and talking to
    /// old clients only.
    SharedFile15,
}

/// Options for opening a room. Holds no secrets (so it can be logged): the room password
/// and the location (whose URL may carry an FTP password) are separate arguments, and an
/// S3 secret key sits in the opaque [`S3Credentials`](crate::S3Credentials).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RoomOptions {
    /// The room directory (native) or chat file (shared file), relative to the location.
    pub room: String,
    /// The name shown with this device's messages.
    pub display_name: String,
    /// Native room or FTPChat shared file.
    pub layout: RoomLayout,
    /// Create a native room that does not exist yet (otherwise: `ChatError.NotFound`).
    #[uniffi(default = true)]
    pub create: bool,
    /// A folder for local state (writer id, read positions, unsent messages), e.g. the
    /// app's files directory. Without it nothing survives the process.
    #[uniffi(default = None)]
    pub state_dir: Option<String>,
    /// PEM certificate(s) to trust for FTPS instead of the system's web roots.
    #[uniffi(default = None)]
    pub ca_pem: Option<String>,
    /// PBKDF2 iterations for a native room this device creates (default 600,000).
    #[uniffi(default = None)]
    pub native_iterations: Option<u32>,
    /// The PBKDF2 salt of FTPChat 1.6/1.7 lines. Default (`null`/`nil`): the real clients'
    /// constant, the 42 ASCII bytes `q6334#Q0q8294%E$(#$%^&^%$#@!#%^YHB>$W#CX>E`, so a
    /// shared room needs only the password. Set it only for files whose clients were built
    /// with another salt (e.g. `ftpchat` for files of ftpchat's earlier "1.6" layout).
    #[uniffi(default = None)]
    pub compat_salt: Option<Vec<u8>>,
    /// The PBKDF2-HMAC-SHA256 iterations of FTPChat 1.6/1.7 lines. Default: the real
    /// clients' 100,000; set it only for files made with another count.
    #[uniffi(default = None)]
    pub compat_iterations: Option<u32>,
    /// Shared files written as 1.6 or 1.7: show keyless FTPChat 1.5 lines too. They carry
    /// no key, so anyone with write access to the file could have written them under any
    /// name; by default they are not shown and each is reported as
    /// [`ChatEvent::UnauthenticatedLine`]. (A room that writes 1.5 always shows them.)
    #[uniffi(default = false)]
    pub show_unauthenticated: bool,
    /// Shared files: take a directory lock around each append (for servers whose `APPE`
    /// is not atomic). Every writer must use it for it to help.
    #[uniffi(default = false)]
    pub lock: bool,
    /// Native rooms: open even if the room header differs from the one saved in
    /// `state_dir` (the room was re-created). Without it such a room fails with
    /// `ChatError.HeaderChanged`; set it only when the user knows the room was
    /// re-created: a member who knows the password could otherwise replace the header,
    /// e.g. with a weaker key derivation.
    #[uniffi(default = false)]
    pub accept_changed_header: bool,
    /// Member rooms (SPEC §18): publish this device's presence (online, away, typing,
    /// last active, read position) in a small state file and read the other devices'.
    /// `false` publishes and reads nothing, and the presence calls fail with
    /// `ChatError.InvalidConfig`. Password rooms refuse `false` (`InvalidConfig`).
    #[uniffi(default = true)]
    pub presence: bool,
    /// Member rooms: publish how far this device's user has read
    /// ([`ChatRoom::mark_read`](crate::ChatRoom::mark_read)), so senders see who has seen
    /// their messages (presence is still published). Password rooms refuse `false`.
    #[uniffi(default = true)]
    pub read_receipts: bool,
    /// Native rooms: the largest file, in bytes, this device sends or downloads as an
    /// attachment ([`ChatRoom::send_file`](crate::ChatRoom::send_file),
    /// [`ChatRoom::save_attachment`](crate::ChatRoom::save_attachment)); larger ones fail
    /// with `ChatError.FileTooLarge` before any transfer. Default (`null`/`nil`): the
    /// core's 100 MiB.
    #[uniffi(default = None)]
    pub max_attachment_size: Option<u64>,
    /// How to reach an SFTP, S3 or WebDAV location (host key, endpoint, access key,
    /// timeouts): what its URL cannot carry. Default (`null`/`nil`): the core's defaults.
    #[uniffi(default = None)]
    pub store: Option<crate::StoreOptions>,
}
