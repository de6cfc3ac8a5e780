//! [`ChatRoom`]: the room object of the bindings.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ftpchat_core::open_location;
use ftpchat_core::KdfParams;
use ftpchat_core::MessageId;
use ftpchat_core::{
    default_compat_kdf, Background, Password, Room, RoomConfig, RoomError, Transfer, WatchOptions,
    WriteCodec,
};

use crate::identity::{self, Identity, MemberRole, RoomMember};
use crate::store;
use crate::stream::UpdateStream;
use crate::transfer::ChatTransfer;
use crate::watch::{ChatListener, Subscription};
use crate::{ChatError, ChatMessage, ChatUpdate, RoomLayout, RoomOptions, SyncOnceResult};
use crate::{PresenceInfo, PresenceState, SeenBy};

/// Shortest accepted watch interval, in milliseconds.
pub const MIN_WATCH_INTERVAL_MS: u64 = 10;
/// Longest accepted watch interval, in milliseconds (one day).
pub const MAX_WATCH_INTERVAL_MS: u64 = 24 * 60 * 60 * 1000;

/// The core room of a [`ChatRoom`]; `None` after [`ChatRoom::shutdown`].
struct Inner {
    room: RwLock<Option<Room>>,
    describe: String,
    display_name: String,
}

impl Inner {
    fn room(&self) -> Result<Room, ChatError> {
        self.room
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(ChatError::closed)
    }

    fn shutdown(&self) {
        let room = self.room.write().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(room) = room {
            // Cancels the room's watchers (without waiting) and saves its state; a
            // failure to save leaves the outbox as the last save had it.
            let _ = room.close();
        }
    }
}

fn parse_id(hex: &str) -> Result<MessageId, ChatError> {
    MessageId::from_hex(hex).ok_or_else(|| {
        ChatError::invalid_argument("a message id is 32 hexadecimal characters".to_owned())
    })
}

/// Checks watch intervals (milliseconds) and makes the core's options.
fn watch_options(min_interval_ms: u64, max_interval_ms: u64) -> Result<WatchOptions, ChatError> {
    if !(MIN_WATCH_INTERVAL_MS..=MAX_WATCH_INTERVAL_MS).contains(&min_interval_ms)
        || !(min_interval_ms..=MAX_WATCH_INTERVAL_MS).contains(&max_interval_ms)
    {
        return Err(ChatError::invalid_argument(format!(
            "watch intervals must satisfy {MIN_WATCH_INTERVAL_MS} <= min <= max <= \
             {MAX_WATCH_INTERVAL_MS} ms (got {min_interval_ms} and {max_interval_ms})"
        )));
    }
    Ok(WatchOptions::new(
        Duration::from_millis(min_interval_ms),
        Duration::from_millis(max_interval_ms),
    ))
}

/// Cancels an attachment transfer when an async call is dropped before it finished (its
/// Kotlin coroutine was cancelled).
struct CancelOnDrop(Option<Transfer>);

impl CancelOnDrop {
    /// The call finished: nothing to cancel.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(transfer) = self.0.take() {
            transfer.cancel();
        }
    }
}

/// The transfer an async attachment call uses: the caller's, or a new one.
fn transfer_of(transfer: Option<Arc<ChatTransfer>>) -> Transfer {
    transfer.map(|t| t.core().clone()).unwrap_or_default()
}

/// Builds the core configuration. The password moves into a zeroizing [`Password`].
fn room_config(password: Option<String>, o: &RoomOptions) -> Result<RoomConfig, ChatError> {
    if !o.presence || !o.read_receipts {
        return Err(ChatError::from(RoomError::InvalidConfig(
            "presence and readReceipts apply to member rooms only".into(),
        )));
    }
    let password = password.map(Password::new);
    let mut config = match o.layout {
        RoomLayout::Native => {
            let password = password.ok_or_else(|| {
                ChatError::from(RoomError::InvalidConfig(
                    "a native room needs a password".into(),
                ))
            })?;
            RoomConfig::native(o.room.clone(), o.display_name.clone(), password)
        }
        RoomLayout::SharedFile17 | RoomLayout::SharedFile16 | RoomLayout::SharedFile15 => {
            let codec = match o.layout {
                RoomLayout::SharedFile17 => WriteCodec::Fernet17,
                RoomLayout::SharedFile16 => WriteCodec::Fernet16,
                _ => WriteCodec::Legacy15,
            };
            let c = RoomConfig::shared_file(o.room.clone(), codec, o.display_name.clone())
                .with_unauthenticated(o.show_unauthenticated);
            match password {
                Some(p) => c.with_password(p),
                None => c,
            }
        }
    };
    if !o.create {
        config = config.must_exist();
    }
    if let Some(dir) = &o.state_dir {
        config = config.with_state_dir(dir);
    }
    if let Some(iterations) = o.native_iterations {
        config = config.with_native_iterations(iterations);
    }
    if o.compat_salt.is_some() || o.compat_iterations.is_some() {
        let default = default_compat_kdf();
        let salt = o
            .compat_salt
            .clone()
            .unwrap_or_else(|| default.salt().to_vec());
        let iterations = o.compat_iterations.unwrap_or(default.iterations());
        let kdf = KdfParams::new(salt, u64::from(iterations)).map_err(RoomError::from)?;
        config = config.with_compat_kdf(kdf);
    }
    if let Some(bytes) = o.max_attachment_size {
        config = config.with_max_attachment_size(bytes);
    }
    // The core refuses a lock on a native room (`InvalidConfig`).
    Ok(config
        .with_lock(o.lock)
        .with_changed_header_accepted(o.accept_changed_header))
}

fn open(
    location: &str,
    password: Option<String>,
    options: &RoomOptions,
) -> Result<Arc<ChatRoom>, ChatError> {
    let config = room_config(password, options)?;
    let transport = open_location(location, &store::open_options(options)?)?;
    Ok(wrap(Room::open(transport, config)?))
}

/// The member-room configuration: `options` gives the room, the display name, `create`,
/// `state_dir`, `accept_changed_header`, `presence`, `read_receipts` and
/// `max_attachment_size`; password-room options are refused.
fn member_config(
    identity: &Identity,
    invitation: Option<ftpchat_core::Invitation>,
    o: &RoomOptions,
) -> Result<RoomConfig, ChatError> {
    if o.layout != RoomLayout::Native
        || o.native_iterations.is_some()
        || o.compat_salt.is_some()
        || o.compat_iterations.is_some()
        || o.show_unauthenticated
        || o.lock
    {
        return Err(ChatError::from(RoomError::InvalidConfig(
            "a member room is a native room without a password: layout must be Native, and \
             nativeIterations, compatSalt, compatIterations, showUnauthenticated and lock do \
             not apply"
                .into(),
        )));
    }
    let id = identity.inner.clone();
    let mut config = match invitation {
        Some(invitation) => {
            RoomConfig::join(o.room.clone(), o.display_name.clone(), id, invitation)
        }
        None => RoomConfig::member_room(o.room.clone(), o.display_name.clone(), id),
    };
    if !o.create {
        config = config.must_exist();
    }
    if let Some(dir) = &o.state_dir {
        config = config.with_state_dir(dir);
    }
    if let Some(bytes) = o.max_attachment_size {
        config = config.with_max_attachment_size(bytes);
    }
    Ok(config
        .with_changed_header_accepted(o.accept_changed_header)
        .with_presence(o.presence)
        .with_read_receipts(o.read_receipts))
}

fn open_member(
    location: &str,
    config: RoomConfig,
    options: &RoomOptions,
) -> Result<Arc<ChatRoom>, ChatError> {
    let transport = open_location(location, &store::open_options(options)?)?;
    Ok(wrap(Room::open(transport, config)?))
}

fn wrap(room: Room) -> Arc<ChatRoom> {
    Arc::new(ChatRoom {
        inner: Arc::new(Inner {
            describe: room.describe(),
            display_name: room.display_name(),
            room: RwLock::new(Some(room)),
        }),
    })
}

/// A chat room on an FTP/FTPS server or a folder.
///
/// **Threads.** Calls marked *blocking* do network or disk I/O (and opening derives a
/// key, which takes a moment): never call them on the UI thread. Use the `*_async`
/// variants (Kotlin `suspend`, Swift `async`; no Rust runtime is involved, each call runs
/// on a short-lived thread) or call the blocking ones from `Dispatchers.IO` / a
/// background `DispatchQueue`. [`send`](Self::send) and the getters do no I/O.
///
/// **Lifetime.** [`shutdown`](Self::shutdown) stops the room's subscriptions and
/// releases the connection; later calls fail with `ChatError.Closed`. Destroying the
/// object (Kotlin `close()`/`destroy()`, garbage collection, Swift `deinit`) shuts it
/// down too, so keep the room referenced while a subscription should run.
#[derive(uniffi::Object)]
pub struct ChatRoom {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChatRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatRoom")
            .field("location", &self.inner.describe)
            .finish_non_exhaustive()
    }
}

impl Drop for ChatRoom {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

#[uniffi::export]
impl ChatRoom {
    /// Opens (or creates) a room. *Blocking*: connects and, for a native room, reads the
    /// header and checks the password.
    ///
    /// `location` is `ftp://user:pass@host:port/dir` (plain FTP), `ftps://...` or
    /// `ftpes://...` (two names for explicit FTPS: TLS required, never a fallback to plain
    /// FTP; without TLS the connection fails before the FTP password is sent),
    /// `file:///path` or a plain folder path, or `memory://name` (in-process, for tests);
    /// percent-encode `:` and `@` in the FTP user and password. `password` is the room
    /// password (`null`/`nil` only for FTPChat 1.5 files; a 1.6/1.7 shared file needs
    /// nothing else, the real clients' salt and iterations being the default). Neither
    /// appears in errors or in [`describe`](Self::describe).
    #[uniffi::constructor]
    pub fn new(
        location: String,
        password: Option<String>,
        options: RoomOptions,
    ) -> Result<Arc<Self>, ChatError> {
        open(&location, password, &options)
    }

    /// [`new`](Self::new) without blocking the caller.
    #[uniffi::constructor]
    pub async fn open_async(
        location: String,
        password: Option<String>,
        options: RoomOptions,
    ) -> Result<Arc<Self>, ChatError> {
        Background::run(move || open(&location, password, &options)).await
    }

    /// Opens (or creates) a member room (SPEC §17) as `identity`: no password; records
    /// are signed by the device's key. Created if missing (this device its first admin),
    /// otherwise opened as a member (this device must be one). `options.layout` must be
    /// `Native`; give a `state_dir` to keep the room's keys across restarts. *Blocking.*
    #[uniffi::constructor]
    pub fn open_member_room(
        location: String,
        identity: Arc<Identity>,
        options: RoomOptions,
    ) -> Result<Arc<Self>, ChatError> {
        let config = member_config(&identity, None, &options)?;
        open_member(&location, config, &options)
    }

    /// Joins the member room of `invitation` (a `ftpchat://join?...` URL from an admin's
    /// [`invite`](Self::invite)) as `identity`, in directory `options.room` of `location`
    /// (`null`/`nil`: the location written in the invitation). Never creates a room; open
    /// it later with [`open_member_room`](Self::open_member_room). A malformed URL fails
    /// with `ChatError.InvalidInvitation`, whose reason never contains the URL.
    /// *Blocking.*
    #[uniffi::constructor]
    pub fn join(
        invitation: String,
        identity: Arc<Identity>,
        options: RoomOptions,
        location: Option<String>,
    ) -> Result<Arc<Self>, ChatError> {
        let invitation = identity::invitation(&invitation)?;
        let location = location.unwrap_or_else(|| invitation.location().to_owned());
        let config = member_config(&identity, Some(invitation), &options)?;
        open_member(&location, config, &options)
    }

    /// [`open_member_room`](Self::open_member_room) without blocking the caller.
    #[uniffi::constructor]
    pub async fn open_member_room_async(
        location: String,
        identity: Arc<Identity>,
        options: RoomOptions,
    ) -> Result<Arc<Self>, ChatError> {
        let config = member_config(&identity, None, &options)?;
        Background::run(move || open_member(&location, config, &options)).await
    }

    /// [`join`](Self::join) without blocking the caller. Cancelling the call does not
    /// stop the join (the invitation is used up either way).
    #[uniffi::constructor]
    pub async fn join_async(
        invitation: String,
        identity: Arc<Identity>,
        options: RoomOptions,
        location: Option<String>,
    ) -> Result<Arc<Self>, ChatError> {
        let invitation = identity::invitation(&invitation)?;
        let location = location.unwrap_or_else(|| invitation.location().to_owned());
        let config = member_config(&identity, Some(invitation), &options)?;
        Background::run(move || open_member(&location, config, &options)).await
    }

    /// Member rooms: the members as of the last sync. `ChatError.Membership` for other
    /// rooms. No I/O.
    pub fn members(&self) -> Result<Vec<RoomMember>, ChatError> {
        let members = self.inner.room()?.members()?;
        Ok(members.iter().map(RoomMember::from).collect())
    }

    /// Member rooms: this device's identity; `null`/`nil` for other rooms.
    pub fn identity(&self) -> Result<Option<Arc<Identity>>, ChatError> {
        Ok(self.inner.room()?.identity().map(Identity::wrap))
    }

    /// Member rooms (admins): a one-time invitation URL (`ftpchat://join?...`) with
    /// `role`; `location` is what the invitee will open (it is written in the URL). The
    /// URL is a secret: whoever holds it can join once. *Blocking.*
    pub fn invite(&self, role: MemberRole, location: String) -> Result<String, ChatError> {
        let invitation = self.inner.room()?.invite(role.into(), &location)?;
        Ok(invitation.to_url())
    }

    /// Member rooms (admins): adds the device whose public identity text
    /// (`ftpchat-id1:...`, fingerprint verified out of band) is `public_identity` as a new
    /// member with `role`; with `share_history` it can read earlier messages too. Returns
    /// the new epoch. *Blocking.*
    pub fn add_member(
        &self,
        public_identity: String,
        role: MemberRole,
        share_history: bool,
    ) -> Result<u64, ChatError> {
        let device = identity::public_identity(&public_identity)?;
        Ok(self
            .inner
            .room()?
            .add_member(device, role.into(), share_history)?)
    }

    /// Member rooms: links another device (its public identity text) to this device's
    /// member. Returns the new epoch. *Blocking.*
    pub fn link_device(
        &self,
        public_identity: String,
        share_history: bool,
    ) -> Result<u64, ChatError> {
        let device = identity::public_identity(&public_identity)?;
        Ok(self.inner.room()?.link_device(device, share_history)?)
    }

    /// Member rooms (admins, or a member removing itself to leave): removes the member
    /// `member_id` (32 hex characters, `RoomMember.id`). Its devices read nothing sent
    /// afterwards and can no longer send. Returns the new epoch. *Blocking.*
    pub fn remove_member(&self, member_id: String) -> Result<u64, ChatError> {
        let id = identity::member_id(&member_id)?;
        Ok(self.inner.room()?.remove_member(&id)?)
    }

    /// Member rooms (admins): makes the member `member_id` an admin. Returns the new
    /// epoch. *Blocking.*
    pub fn promote(&self, member_id: String) -> Result<u64, ChatError> {
        let id = identity::member_id(&member_id)?;
        Ok(self.inner.room()?.promote(&id)?)
    }

    /// [`invite`](Self::invite) without blocking the caller. A cancelled call still
    /// finishes on its thread; the invitation it wrote is then unused (its URL is lost).
    pub async fn invite_async(
        self: Arc<Self>,
        role: MemberRole,
        location: String,
    ) -> Result<String, ChatError> {
        let room = self.inner.room()?;
        let invitation = Background::run(move || room.invite(role.into(), &location)).await?;
        Ok(invitation.to_url())
    }

    /// [`add_member`](Self::add_member) without blocking the caller. A cancelled call
    /// still finishes on its thread (the member is added).
    pub async fn add_member_async(
        self: Arc<Self>,
        public_identity: String,
        role: MemberRole,
        share_history: bool,
    ) -> Result<u64, ChatError> {
        let device = identity::public_identity(&public_identity)?;
        let room = self.inner.room()?;
        Ok(Background::run(move || room.add_member(device, role.into(), share_history)).await?)
    }

    /// [`link_device`](Self::link_device) without blocking the caller. A cancelled call
    /// still finishes on its thread.
    pub async fn link_device_async(
        self: Arc<Self>,
        public_identity: String,
        share_history: bool,
    ) -> Result<u64, ChatError> {
        let device = identity::public_identity(&public_identity)?;
        let room = self.inner.room()?;
        Ok(Background::run(move || room.link_device(device, share_history)).await?)
    }

    /// [`remove_member`](Self::remove_member) without blocking the caller. A cancelled
    /// call still finishes on its thread.
    pub async fn remove_member_async(self: Arc<Self>, member_id: String) -> Result<u64, ChatError> {
        let id = identity::member_id(&member_id)?;
        let room = self.inner.room()?;
        Ok(Background::run(move || room.remove_member(&id)).await?)
    }

    /// [`promote`](Self::promote) without blocking the caller. A cancelled call still
    /// finishes on its thread.
    pub async fn promote_async(self: Arc<Self>, member_id: String) -> Result<u64, ChatError> {
        let id = identity::member_id(&member_id)?;
        let room = self.inner.room()?;
        Ok(Background::run(move || room.promote(&id)).await?)
    }

    /// Queues `text` and returns the new message's id (hex). No I/O: the message is in
    /// the timeline as pending and reaches the server on the next sync or from a
    /// subscription (which is woken at once).
    pub fn send(&self, text: String) -> Result<String, ChatError> {
        Ok(self.inner.room()?.send(&text)?.to_hex())
    }

    /// Replaces the text of one of this user's messages (id `message_id`, hex) with
    /// `text`; every device that reads the edit shows the new text (the newest edit wins)
    /// with `edited` set. Applied to this room's timeline at once and sent like a message;
    /// returns the edit's own id. No I/O.
    ///
    /// Native rooms only (`ChatError.Unsupported` for an FTPChat shared file). Fails with
    /// `ChatError.UnknownMessage` for a message not in the timeline and
    /// `ChatError.NotAllowed` for another user's message or a deleted one. In a password
    /// room "this user" is this device's log (kept across restarts with a `state_dir`); in
    /// a member room, the member (any of its devices).
    pub fn edit(&self, message_id: String, text: String) -> Result<String, ChatError> {
        let id = parse_id(&message_id)?;
        Ok(self.inner.room()?.edit(&id, &text)?.to_hex())
    }

    /// Deletes one of this user's messages: every device that reads the delete shows it
    /// with `deleted` set, no text and no reactions. Final: a deleted message cannot be
    /// edited. Returns the delete's own id. No I/O. Fails as [`edit`](Self::edit).
    pub fn delete(&self, message_id: String) -> Result<String, ChatError> {
        let id = parse_id(&message_id)?;
        Ok(self.inner.room()?.delete(&id)?.to_hex())
    }

    /// Reacts to a message, this user's own included: `reaction` (e.g. `"👍"`, or several
    /// separated by spaces, at most 64 bytes) replaces this user's earlier reaction to it;
    /// an empty one withdraws it. Returns the reaction's own id. No I/O. Fails as
    /// [`edit`](Self::edit) (but any member may react), and with
    /// `ChatError.MessageTooLarge` for a reaction over 64 bytes.
    pub fn react(&self, message_id: String, reaction: String) -> Result<String, ChatError> {
        let id = parse_id(&message_id)?;
        Ok(self.inner.room()?.react(&id, &reaction)?.to_hex())
    }

    /// Member rooms: queues `text` as a private message to the member `member_id` (32 hex
    /// characters, `RoomMember.id`; this member's own id for a note to itself) and
    /// returns its id (SPEC §8.4.2). Only that member's devices and this member's can
    /// read it; the others see that a private message went from this member to that one,
    /// and its size. It is shown in [`private_history`](Self::private_history) (with
    /// `ChatMessage.privateWith` set), not in [`history`](Self::history). No I/O, like
    /// [`send`](Self::send).
    ///
    /// Fails with `ChatError.Membership` in password rooms or when `member_id` is not a
    /// current member, `ChatError.NotAMember` when this device is not one,
    /// `ChatError.InvalidArgument` for a malformed id.
    pub fn send_private(&self, member_id: String, text: String) -> Result<String, ChatError> {
        let id = identity::member_id(&member_id)?;
        Ok(self.inner.room()?.send_private(&id, &text)?.to_hex())
    }

    /// Member rooms: up to `limit` messages of the private conversation with the member
    /// `member_id` before the message with id `before` (or the newest), oldest first, as
    /// [`history`](Self::history) for the room's conversation (empty in password rooms).
    /// *Blocking.*
    pub fn private_history(
        &self,
        member_id: String,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let member = identity::member_id(&member_id)?;
        let before = before.as_deref().map(parse_id).transpose()?;
        let page = self
            .inner
            .room()?
            .private_history(&member, before.as_ref(), limit as usize)?;
        Ok(page.iter().map(ChatMessage::from).collect())
    }

    /// Member rooms: blocks the member `member_id` on every device of this member, across
    /// restarts: their messages, private ones included, are no longer returned by syncs,
    /// listeners or histories (until [`unblock`](Self::unblock)). The member is not told.
    /// No I/O. Fails with `ChatError.Membership` in password rooms and
    /// `ChatError.NotAllowed` for this member itself.
    pub fn block(&self, member_id: String) -> Result<(), ChatError> {
        let id = identity::member_id(&member_id)?;
        Ok(self.inner.room()?.block(&id)?)
    }

    /// Member rooms: undoes [`block`](Self::block); the member's messages show again. No
    /// I/O.
    pub fn unblock(&self, member_id: String) -> Result<(), ChatError> {
        let id = identity::member_id(&member_id)?;
        Ok(self.inner.room()?.unblock(&id)?)
    }

    /// Member rooms: the ids of the members this member blocks (empty elsewhere). No I/O.
    pub fn blocked(&self) -> Result<Vec<String>, ChatError> {
        let blocked = self.inner.room()?.blocked();
        Ok(blocked.iter().map(ToString::to_string).collect())
    }

    /// Member rooms: every member's presence now, ordered by member id: online, away or
    /// offline (a device whose state ran out is offline), typing, last seen and last
    /// active. As of the last sync (which reads the state files that changed), evaluated
    /// on the clock at each call: call it again on a timer to see expiries. No I/O.
    ///
    /// Fails with `ChatError.Membership` in password rooms and shared files,
    /// `ChatError.InvalidConfig` when the room was opened with `presence = false`.
    pub fn presence(&self) -> Result<Vec<PresenceInfo>, ChatError> {
        let presence = self.inner.room()?.presence()?;
        Ok(presence.iter().map(PresenceInfo::from).collect())
    }

    /// Member rooms: sets this device's presence (`Online`, the default, `Away`, or
    /// `Offline`: published once, a goodbye; `Typing` is [`set_typing(true)`](Self::set_typing)).
    /// Published at the next sync. No I/O. Fails as [`presence`](Self::presence).
    pub fn set_presence(&self, state: PresenceState) -> Result<(), ChatError> {
        Ok(self.inner.room()?.set_presence(state.into())?)
    }

    /// Member rooms: this device's user is typing (for a few seconds, extended by calling
    /// it again, e.g. on each key) or stopped. Published at the next sync. No I/O. Fails
    /// as [`presence`](Self::presence).
    pub fn set_typing(&self, typing: bool) -> Result<(), ChatError> {
        Ok(self.inner.room()?.set_typing(typing)?)
    }

    /// Member rooms: this device's user has read up to the message `message_id`
    /// (inclusive). The read position only moves forward in timeline order: `false` when
    /// the message is not after it. Published at the next sync unless the room was
    /// opened with `read_receipts = false`. No I/O. Fails as [`presence`](Self::presence),
    /// and with `ChatError.UnknownMessage` for a message this device
    /// does not know.
    pub fn mark_read(&self, message_id: String) -> Result<bool, ChatError> {
        let id = parse_id(&message_id)?;
        Ok(self.inner.room()?.mark_read(&id)?)
    }

    /// Member rooms: which members (other than its author) have read the message
    /// `message_id` or a later one, as their devices' published read positions say, and
    /// how many members there are besides its author ("seen by 2 of 3"). As of the last
    /// sync; no I/O. Fails as [`mark_read`](Self::mark_read).
    pub fn seen_by(&self, message_id: String) -> Result<SeenBy, ChatError> {
        let id = parse_id(&message_id)?;
        Ok(SeenBy::from(&self.inner.room()?.seen_by(&id)?))
    }

    /// Sends the file at `path` (a local file path) with a caption (may be empty) and
    /// returns the message's id. *Blocking* while the file uploads: call it from an I/O
    /// thread (`Dispatchers.IO`, a background `DispatchQueue`), never the UI thread.
    ///
    /// The file is encrypted in chunks into a blob under the room's `files/` (SPEC
    /// §8.4.3); once all of it is on the server its message is queued like a
    /// [`send`](Self::send) (pending until the next sync delivers it). Its
    /// [`ChatMessage::attachment`](crate::ChatMessage::attachment) carries the file's
    /// name, size and media type (guessed from the extension). A dropped connection
    /// resumes where the server's copy ends. `transfer` reports progress and cancels
    /// (`null`/`nil`: neither).
    ///
    /// Native rooms only: an FTPChat shared file fails with `ChatError.Unsupported`.
    /// Fails with `ChatError.FileTooLarge` (before any transfer) over
    /// `RoomOptions.max_attachment_size`, `ChatError.LocalFile` when the file cannot be
    /// read or changes while it is sent, `ChatError.MessageTooLarge` for a caption over
    /// 64 KiB, `ChatError.Cancelled` after [`ChatTransfer::cancel`] (nothing is queued
    /// and the partial blob is removed), `ChatError.Transport` when the server keeps
    /// failing.
    #[uniffi::method(default(transfer = None))]
    pub fn send_file(
        &self,
        path: String,
        caption: String,
        transfer: Option<Arc<ChatTransfer>>,
    ) -> Result<String, ChatError> {
        let room = self.inner.room()?;
        let id = match &transfer {
            Some(t) => room.send_file_with(&path, &caption, t.core())?,
            None => room.send_file(&path, &caption)?,
        };
        Ok(id.to_hex())
    }

    /// Downloads the file of the message `message_id` to `path` (a local file path,
    /// replaced if it exists). *Blocking* while the file downloads: call it from an I/O
    /// thread, never the UI thread.
    ///
    /// The encrypted blob is opened chunk by chunk and checked against the message's
    /// hash; only then is `path` written (renamed into place). Until then the verified
    /// part is kept in a partial file beside `path` (`.<name>.<blob>.part`): after a
    /// dropped connection, a cancel or a crash, the next call to the same `path` resumes
    /// from it. `transfer` reports progress and cancels (`null`/`nil`: neither).
    ///
    /// Fails with `ChatError.UnknownMessage` for a message this device has not read,
    /// `ChatError.Unsupported` when it has no attachment (or was deleted),
    /// `ChatError.FileTooLarge` over `RoomOptions.max_attachment_size`,
    /// `ChatError.BadAttachment` when the blob is missing, of the wrong size, tampered
    /// with or does not match the hash (nothing is written), `ChatError.LocalFile` when
    /// `path` or its partial file cannot be written, `ChatError.Cancelled` after
    /// [`ChatTransfer::cancel`] (`path` is left as it was), `ChatError.InvalidArgument`
    /// for a malformed id.
    #[uniffi::method(default(transfer = None))]
    pub fn save_attachment(
        &self,
        message_id: String,
        path: String,
        transfer: Option<Arc<ChatTransfer>>,
    ) -> Result<(), ChatError> {
        let id = parse_id(&message_id)?;
        let room = self.inner.room()?;
        match &transfer {
            Some(t) => room.save_attachment_with(&id, &path, t.core())?,
            None => room.save_attachment(&id, &path)?,
        }
        Ok(())
    }

    /// [`send_file`](Self::send_file) without blocking the caller: the upload runs on a
    /// thread of its own. Cancelling the Kotlin coroutine cancels the transfer (as
    /// [`ChatTransfer::cancel`] would: nothing is queued, the partial blob is removed);
    /// Swift tasks do not cancel UniFFI calls, use `transfer` there.
    #[uniffi::method(default(transfer = None))]
    pub async fn send_file_async(
        self: Arc<Self>,
        path: String,
        caption: String,
        transfer: Option<Arc<ChatTransfer>>,
    ) -> Result<String, ChatError> {
        let room = self.inner.room()?;
        let transfer = transfer_of(transfer);
        let guard = CancelOnDrop(Some(transfer.clone()));
        let sent = Background::run(move || room.send_file_with(&path, &caption, &transfer)).await;
        guard.disarm();
        Ok(sent?.to_hex())
    }

    /// [`save_attachment`](Self::save_attachment) without blocking the caller: the
    /// download runs on a thread of its own. Cancelling the Kotlin coroutine cancels the
    /// transfer (`path` is left as it was; the next save to it resumes); Swift tasks do
    /// not cancel UniFFI calls, use `transfer` there.
    #[uniffi::method(default(transfer = None))]
    pub async fn save_attachment_async(
        self: Arc<Self>,
        message_id: String,
        path: String,
        transfer: Option<Arc<ChatTransfer>>,
    ) -> Result<(), ChatError> {
        let id = parse_id(&message_id)?;
        let room = self.inner.room()?;
        let transfer = transfer_of(transfer);
        let guard = CancelOnDrop(Some(transfer.clone()));
        let saved = Background::run(move || room.save_attachment_with(&id, &path, &transfer)).await;
        guard.disarm();
        Ok(saved?)
    }

    /// Delivers the outbox (with confirmation) and reads what is new. *Blocking.*
    ///
    /// Returns only what earlier syncs and subscriptions did not (each message,
    /// confirmation and event goes to exactly one of them): while a subscription runs,
    /// most messages arrive through its listener instead.
    ///
    /// In an FTPChat 1.6/1.7 shared file whose lines do not open with the password (and
    /// none does), fails with `ChatError.WrongPassword` and writes nothing (a line under
    /// another key would stop every FTPChat 1.7 reader); the outbox is kept.
    pub fn sync(&self) -> Result<ChatUpdate, ChatError> {
        Ok(self.inner.room()?.sync()?.into())
    }

    /// One sync within `budget_ms` milliseconds from now, for background windows where
    /// the OS grants a few seconds (iOS background refresh, Android WorkManager). Returns
    /// by the deadline. *Blocking* for at most the budget.
    ///
    /// Best effort: no sync starts after the deadline (e.g. after waiting for another
    /// call's sync), but one already running is not interrupted. It finishes in the
    /// background (if the OS lets the process run) and its results are returned by the
    /// next sync, `sync_once` or listener delivery; `completed` is then `false`. A
    /// subscription's own sync in progress can delay the start.
    pub fn sync_once(&self, budget_ms: u64) -> Result<SyncOnceResult, ChatError> {
        let room = self.inner.room()?;
        let within = room.sync_within(Duration::from_millis(budget_ms))?;
        Ok(SyncOnceResult::new(within, room.outbox_len()))
    }

    /// Delivers the outbox without reading, e.g. before the app is suspended. *Blocking.*
    /// Fails with `ChatError.WrongPassword` like [`sync`](Self::sync).
    pub fn flush(&self) -> Result<(), ChatError> {
        Ok(self.inner.room()?.flush()?)
    }

    /// Up to `limit` messages of the room's conversation before the message with id
    /// `before` (or the newest), oldest first: not private messages
    /// ([`private_history`](Self::private_history)), not those of blocked members.
    /// *Blocking*: with a state folder it reads the local store (no server I/O, also
    /// offline); without one, the first call after a restart downloads the history that
    /// saved read positions skipped.
    pub fn history(
        &self,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let before = before.as_deref().map(parse_id).transpose()?;
        let page = self
            .inner
            .room()?
            .history(before.as_ref(), limit as usize)?;
        Ok(page.iter().map(ChatMessage::from).collect())
    }

    /// Up to `limit` messages of the room's conversation that contain every word of
    /// `query` (case and accents ignored; a word matches the words it starts), newest
    /// first, starting just before the message with id `before` (pass the last message of
    /// a page for the next one). Reads the local store of the room's state folder, not the
    /// server: `ChatError.Unsupported` for a room without one, `ChatError.LocalState` when
    /// the store fails (a damaged one says how to recover). *Blocking* (local disk only).
    pub fn search(
        &self,
        query: String,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let before = before.as_deref().map(parse_id).transpose()?;
        let found = self
            .inner
            .room()?
            .search(&query, before.as_ref(), limit as usize)?;
        Ok(found.iter().map(ChatMessage::from).collect())
    }

    /// [`sync`](Self::sync) without blocking the caller.
    ///
    /// Cancelling the coroutine or task does not interrupt the sync: it finishes, and its
    /// update goes back to the room, for the next sync or listener delivery. (If the
    /// cancellation arrives just as UniFFI hands the finished result over, UniFFI drops
    /// that update; its messages are still in [`history`](Self::history).)
    pub async fn sync_async(self: Arc<Self>) -> Result<ChatUpdate, ChatError> {
        let task = self.inner.room()?.sync_in_background();
        Ok(task.await?.into())
    }

    /// [`sync_once`](Self::sync_once) without blocking the caller. Cancelled, its update
    /// goes back to the room like that of [`sync_async`](Self::sync_async).
    pub async fn sync_once_async(
        self: Arc<Self>,
        budget_ms: u64,
    ) -> Result<SyncOnceResult, ChatError> {
        let room = self.inner.room()?;
        let within = room
            .sync_within_in_background(Duration::from_millis(budget_ms))
            .await?;
        Ok(SyncOnceResult::new(within, room.outbox_len()))
    }

    /// [`flush`](Self::flush) without blocking the caller.
    pub async fn flush_async(self: Arc<Self>) -> Result<(), ChatError> {
        let task = self.inner.room()?.flush_in_background();
        Ok(task.await?)
    }

    /// [`history`](Self::history) without blocking the caller.
    pub async fn history_async(
        self: Arc<Self>,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let before = before.as_deref().map(parse_id).transpose()?;
        let task = self
            .inner
            .room()?
            .history_in_background(before, limit as usize);
        Ok(task.await?.iter().map(ChatMessage::from).collect())
    }

    /// [`search`](Self::search) without blocking the caller.
    pub async fn search_async(
        self: Arc<Self>,
        query: String,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let before = before.as_deref().map(parse_id).transpose()?;
        let task = self
            .inner
            .room()?
            .search_in_background(&query, before, limit as usize);
        Ok(task.await?.iter().map(ChatMessage::from).collect())
    }

    /// [`private_history`](Self::private_history) without blocking the caller.
    pub async fn private_history_async(
        self: Arc<Self>,
        member_id: String,
        before: Option<String>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let member = identity::member_id(&member_id)?;
        let before = before.as_deref().map(parse_id).transpose()?;
        let room = self.inner.room()?;
        let task =
            Background::run(move || room.private_history(&member, before.as_ref(), limit as usize));
        Ok(task.await?.iter().map(ChatMessage::from).collect())
    }

    /// A message by id (hex), if this device has seen it. No I/O.
    pub fn message(&self, id: String) -> Result<Option<ChatMessage>, ChatError> {
        let id = parse_id(&id)?;
        Ok(self
            .inner
            .room()?
            .message(&id)
            .as_ref()
            .map(ChatMessage::from))
    }

    /// Messages waiting to be delivered. No I/O.
    pub fn outbox_len(&self) -> Result<u64, ChatError> {
        Ok(self.inner.room()?.outbox_len() as u64)
    }

    /// Where the room is, for a status line (`ftps://host:21/chat`); never a password.
    pub fn describe(&self) -> String {
        self.inner.describe.clone()
    }

    /// This device's display name.
    pub fn display_name(&self) -> String {
        self.inner.display_name.clone()
    }

    /// Starts a background watcher that delivers the outbox and reads new messages,
    /// polling every `min_interval_ms` while the chat is active and backing off to
    /// `max_interval_ms` when idle (sending wakes it at once). The listener is called on
    /// the watcher's thread (never the UI thread): return quickly and post to the UI.
    ///
    /// Stop it with [`Subscription::cancel`] (or by destroying the subscription or the
    /// room). Intervals must satisfy `10 <= min_interval_ms <= max_interval_ms <=
    /// 86_400_000`. No I/O on the calling thread.
    pub fn watch(
        &self,
        listener: Box<dyn ChatListener>,
        min_interval_ms: u64,
        max_interval_ms: u64,
    ) -> Result<Arc<Subscription>, ChatError> {
        let options = watch_options(min_interval_ms, max_interval_ms)?;
        let room = self.inner.room()?;
        Ok(Arc::new(Subscription::start(&room, listener, options)))
    }

    /// Starts a background watcher like [`watch`](Self::watch) (same intervals, same
    /// rules) whose findings are taken with the async [`UpdateStream::next`] instead of a
    /// listener: the primitive under Kotlin's `room.updates()` (`Flow<ChatUpdate>`) and
    /// Swift's `room.updates()` (`AsyncThrowingStream`). No I/O on the calling thread.
    pub fn update_stream(
        &self,
        min_interval_ms: u64,
        max_interval_ms: u64,
    ) -> Result<Arc<UpdateStream>, ChatError> {
        let options = watch_options(min_interval_ms, max_interval_ms)?;
        let room = self.inner.room()?;
        Ok(Arc::new(UpdateStream::start(&room, options)))
    }

    /// Closes the room (the core's `Room::close`): cancels its subscriptions (without
    /// waiting for them), waits for a sync in progress, saves the local state and
    /// releases the connection. Later calls fail with `ChatError.Closed`. Unsent
    /// messages stay in the state folder, if one was given. Idempotent.
    ///
    /// Named `shutdown` because UniFFI's Kotlin classes implement `AutoCloseable`, whose
    /// `close()` destroys the object (that also shuts the room down). Swift has the same
    /// name for symmetry.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }

    /// [`shutdown`](Self::shutdown) without blocking the caller (it waits for a sync in
    /// progress and saves the state). Cancelling the call does not stop the shutdown.
    pub async fn shutdown_async(self: Arc<Self>) {
        let inner = self.inner.clone();
        Background::run(move || inner.shutdown()).await;
    }

    /// `true` after [`shutdown`](Self::shutdown).
    pub fn is_shut_down(&self) -> bool {
        self.inner.room().is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftpchat_core::testing::{FaultyTransport, MemoryTransport};
    use std::time::Instant;

    fn room(transport: FaultyTransport<MemoryTransport>, name: &str) -> Arc<ChatRoom> {
        let config = RoomConfig::native("r", name, "pw").with_native_iterations(1_000);
        wrap(Room::open(Arc::new(transport), config).unwrap())
    }

    #[test]
    fn a_sync_past_the_deadline_finishes_and_its_messages_come_next() {
        let store = MemoryTransport::new();
        let alice = room(FaultyTransport::new(store.clone()), "Alice");
        let slow = FaultyTransport::new(store.clone());
        let bob = room(slow.clone(), "Bob");
        alice.send("late".into()).unwrap();
        alice.sync().unwrap();

        slow.latency(Duration::from_millis(100));
        let start = Instant::now();
        let r = bob.sync_once(30).unwrap();
        assert!(!r.completed && r.update.is_empty(), "{r:?}");
        assert!(start.elapsed() < Duration::from_millis(1_000));
        slow.clear_faults();
        // Waits for the late sync (it holds the I/O gate), then returns what it read.
        let texts: Vec<_> = bob
            .sync()
            .unwrap()
            .messages
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["late"]);
    }

    #[test]
    fn sync_once_starts_nothing_after_its_deadline() {
        let store = MemoryTransport::new();
        let slow = FaultyTransport::new(store.clone());
        let bob = room(slow.clone(), "Bob");
        slow.latency(Duration::from_millis(150));
        let busy = bob.clone();
        let other = std::thread::spawn(move || busy.sync().unwrap());
        // Let the other sync take the gate, then try a short window.
        std::thread::sleep(Duration::from_millis(50));
        let r = bob.sync_once(20).unwrap();
        assert!(!r.completed);
        other.join().unwrap();
        let calls = slow.total_calls();
        // Give a wrongly started late sync time to show up in the counters.
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            slow.total_calls(),
            calls,
            "a sync started after the deadline"
        );
    }
}
