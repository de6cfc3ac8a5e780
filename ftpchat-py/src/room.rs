//! `ftpchat.open` and the `Room` class: a core room behind a lock that `close()` empties.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ftpchat_core::FernetKey;
use ftpchat_core::MessageId;
use ftpchat_core::{open_location, OpenOptions};
use ftpchat_core::{Room, RoomConfig, WriteCodec};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::codec::{bytes_or_str, compat_kdf};
use crate::convert;
use crate::errors::Failure;
use crate::identity::{self, PyIdentity};
use crate::transfer::{Call, PyTransfer};
use crate::watch::{self, PySubscription, PyWatch, WatchSlot};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn message_id_arg(id: &str) -> Result<MessageId, Failure> {
    MessageId::from_hex(id)
        .ok_or_else(|| Failure::invalid_config(format!("not a message id (32 hex digits): {id:?}")))
}

/// The `RoomConfig` the arguments of `open` describe. Only argument checking here: the
/// core validates names, paths and KDF parameters.
#[allow(clippy::too_many_arguments)]
fn config(
    room: &str,
    name: &str,
    password: Option<String>,
    key: Option<String>,
    layout: &str,
    codec: Option<&str>,
    salt: Option<Vec<u8>>,
    iterations: Option<u64>,
    show_unauthenticated: bool,
    create: bool,
    lock: bool,
    accept_changed_header: bool,
    state_dir: Option<PathBuf>,
    presence: Presence,
    max_attachment_size: Option<u64>,
) -> Result<RoomConfig, Failure> {
    if presence != Presence::default() {
        return Err(Failure::invalid_config(
            "presence and read_receipts apply to member rooms (identity=...) only",
        ));
    }
    let mut config = match layout {
        "native" => {
            if codec.is_some() || salt.is_some() || show_unauthenticated {
                return Err(Failure::invalid_config(
                    "codec, salt and show_unauthenticated apply to shared-file rooms \
                     (layout=\"shared\") only",
                ));
            }
            // A lock is refused by the core (`Room::open`), as in every binding.
            let mut c = RoomConfig::native(room, name, "").with_lock(lock);
            c.credentials = None;
            if let Some(iterations) = iterations {
                let iterations = u32::try_from(iterations)
                    .map_err(|_| Failure::invalid_config("iterations is too large"))?;
                c = c.with_native_iterations(iterations);
            }
            c
        }
        "shared" => {
            if max_attachment_size.is_some() {
                return Err(Failure::invalid_config(
                    "max_attachment_size applies to native rooms only (a FTPChat chat \
                     file carries no attachments)",
                ));
            }
            let codec = match codec.unwrap_or("1.7") {
                "1.7" => WriteCodec::Fernet17,
                "1.6" => WriteCodec::Fernet16,
                "1.5" => WriteCodec::Legacy15,
                other => {
                    return Err(Failure::invalid_config(format!(
                        "codec must be \"1.5\", \"1.6\" or \"1.7\", not {other:?}"
                    )))
                }
            };
            RoomConfig::shared_file(room, codec, name)
                .with_compat_kdf(compat_kdf(salt, iterations)?)
                .with_unauthenticated(show_unauthenticated)
                .with_lock(lock)
        }
        other => {
            return Err(Failure::invalid_config(format!(
                "layout must be \"native\" or \"shared\", not {other:?}"
            )))
        }
    };
    config = match (password, key) {
        (Some(_), Some(_)) => {
            return Err(Failure::invalid_config(
                "give a password or a key, not both",
            ))
        }
        (Some(password), None) => config.with_password(password),
        (None, Some(key)) => config.with_key(FernetKey::from_base64(&key)?),
        (None, None) => config,
    };
    if !create {
        config = config.must_exist();
    }
    if let Some(dir) = state_dir {
        config = config.with_state_dir(dir);
    }
    if let Some(bytes) = max_attachment_size {
        config = config.with_max_attachment_size(bytes);
    }
    Ok(config.with_changed_header_accepted(accept_changed_header))
}

/// The presence arguments of `open` (member rooms; SPEC §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Presence {
    /// `RoomConfig::with_presence`.
    enabled: bool,
    /// `RoomConfig::with_read_receipts`.
    read_receipts: bool,
}

impl Default for Presence {
    /// The core's defaults: both on.
    fn default() -> Self {
        Presence {
            enabled: true,
            read_receipts: true,
        }
    }
}

/// The `RoomConfig` of a member room: `identity` signs, `invitation` (a URL) joins.
/// Password-room arguments are refused rather than ignored.
#[allow(clippy::too_many_arguments)]
fn member_config(
    room: &str,
    name: &str,
    identity: Arc<ftpchat_core::DeviceIdentity>,
    invitation: Option<ftpchat_core::Invitation>,
    password_room_args: bool,
    layout: &str,
    create: bool,
    accept_changed_header: bool,
    state_dir: Option<PathBuf>,
    presence: Presence,
    max_attachment_size: Option<u64>,
) -> Result<RoomConfig, Failure> {
    if layout != "native" || password_room_args {
        return Err(Failure::invalid_config(
            "a member room (identity=...) is a native room without a password: password, \
             key, codec, salt, iterations, show_unauthenticated, lock and layout=\"shared\" \
             do not apply",
        ));
    }
    let mut config = match invitation {
        Some(invitation) => RoomConfig::join(room, name, identity, invitation),
        None => RoomConfig::member_room(room, name, identity),
    };
    if !create {
        config = config.must_exist();
    }
    if let Some(dir) = state_dir {
        config = config.with_state_dir(dir);
    }
    if let Some(bytes) = max_attachment_size {
        config = config.with_max_attachment_size(bytes);
    }
    Ok(config
        .with_changed_header_accepted(accept_changed_header)
        .with_presence(presence.enabled)
        .with_read_receipts(presence.read_receipts))
}

/// Opens (or creates) a room and returns a `Room`.
///
/// `location`: `ftp://user:pass@host[:port]/dir` (plain FTP), `ftps://...` (explicit
/// TLS, required), `ftpes://...` (the same: TLS required, never a fallback to plain
/// FTP), `file:///path` or a plain path (a local or synced folder), or `memory://name`
/// (in-process, shared by every open of `name`). Also `sftp://user:pass@host/dir`
/// (host key from `~/.ssh/known_hosts`), `webdav://user:pass@host/dir` and `webdavs://`,
/// and `s3://bucket/prefix` (endpoint, region and access key from the usual
/// `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`). S3 and
/// WebDAV cannot append: a native room uses the segment layout there (SPEC §9.5), and a
/// shared FTPChat file raises `Unsupported`.
///
/// `room`: the room directory (native layout) or the chat file (shared layout), relative
/// to the location. `name`: the display name shown with your messages.
///
/// `password` or `key` (a URL-safe base64 Fernet key, as `derive_key` returns): needed
/// for native rooms and FTPChat 1.6/1.7 files; FTPChat 1.5 files need none (they have no
/// key, so anyone can read them).
///
/// `layout`: `"native"` (ftpchat's room: one append-only log per device, safe on every
/// server) or `"shared"` (FTPChat's single file). `codec` (shared only): the lines this
/// client writes, named after the FTPChat client that writes them: `"1.7"` (default; a
/// raw Fernet token), `"1.6"` (base64 of a Fernet token) or `"1.5"` (no key); every
/// codec is read. Write `"1.7"` whenever a 1.7 client reads the file (it stops showing
/// anything at the first line it cannot decrypt); `"1.6"` only for files that 1.6
/// clients alone read. `salt` and `iterations` (shared only): the 1.6/1.7 key
/// derivation, by default the real clients' (`FTPCHAT_SALT`, `FTPCHAT_ITERATIONS`); for
/// a native room `iterations` sets the PBKDF2 cost of a room this call creates (default
/// `DEFAULT_NATIVE_ITERATIONS`). `show_unauthenticated` (shared only): also show keyless
/// 1.5 lines in a 1.6/1.7 room (anyone with write access could have written them under
/// any name; by default they are reported as `unauthenticated_line` events and not
/// shown). In a shared room whose file proves the password wrong, `sync()` and `flush()`
/// raise `WrongPassword` and nothing is written. `create=False` fails with
/// `RoomNotFound` instead of creating a missing native room. `lock` (shared only):
/// take a directory lock around each append, for servers whose APPE is not atomic (every
/// writer must use it); a native room refuses it with `InvalidConfig`.
/// `accept_changed_header` (native only): open a room whose header differs from the one
/// saved in `state_dir` (the room was re-created); without it that raises
/// `HeaderChanged`. Set it only when the user knows the room was re-created: a member who
/// knows the password could otherwise replace the header. `state_dir`: a folder where the room keeps its device id, read
/// positions and outbox across restarts (default: memory only). `ca_pem`: PEM
/// certificate(s) to trust for FTPS instead of the system's web roots.
///
/// **Member rooms** (SPEC §17): give `identity` (an `Identity`) instead of a password.
/// The room is created if missing (this device its first admin) or opened as a member
/// (this device must be one). To join with an invitation URL (`Room.invite` on an
/// admin's device), also give `invitation="ftpchat://join?..."`; `location` may then be
/// `None` to use the location written in the invitation. A join never creates a room;
/// after the first open, open the room with `identity` alone. `state_dir` keeps the
/// room's keys and read positions (recommended for member rooms). Password-room
/// arguments (`password`, `key`, `layout="shared"`, `codec`, `salt`, `iterations`,
/// `show_unauthenticated`, `lock`) raise `InvalidConfig` with `identity`; a bad URL
/// raises `InvalidInvitation` (whose message never contains the URL).
///
/// `presence` (member rooms, SPEC §18): publish this device's presence (online, away,
/// typing, last active, read position) in a small state file and read the other
/// devices'; `False` publishes and reads nothing, and the presence calls raise
/// `InvalidConfig`. `read_receipts` (member rooms): publish how far this device's user
/// has read (`Room.mark_read`), so senders see who has seen their messages. Both default
/// to `True`; turning either off for a password room raises `InvalidConfig`.
///
/// `max_attachment_size` (native and member rooms): the largest file in bytes this
/// client sends (`Room.send_file`) or downloads (`Room.save_attachment`); larger ones
/// raise `FileTooLarge` before any transfer. Default `DEFAULT_MAX_ATTACHMENT_SIZE`
/// (100 MiB); a shared-file room refuses it with `InvalidConfig` (it carries no files).
///
/// The GIL is released while connecting and deriving the key.
#[pyfunction]
#[pyo3(signature = (
    location, room, *, name, password = None, key = None, layout = "native", codec = None,
    salt = None, iterations = None, show_unauthenticated = false, create = true, lock = false,
    accept_changed_header = false, state_dir = None, ca_pem = None, identity = None,
    invitation = None, presence = true, read_receipts = true, max_attachment_size = None,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn open(
    py: Python<'_>,
    location: Option<&str>,
    room: &str,
    name: &str,
    password: Option<String>,
    key: Option<String>,
    layout: &str,
    codec: Option<&str>,
    salt: Option<&Bound<'_, PyAny>>,
    iterations: Option<u64>,
    show_unauthenticated: bool,
    create: bool,
    lock: bool,
    accept_changed_header: bool,
    state_dir: Option<PathBuf>,
    ca_pem: Option<String>,
    identity: Option<PyRef<'_, PyIdentity>>,
    invitation: Option<&str>,
    presence: bool,
    read_receipts: bool,
    max_attachment_size: Option<u64>,
) -> PyResult<PyRoom> {
    let presence = Presence {
        enabled: presence,
        read_receipts,
    };
    let salt = salt.map(bytes_or_str).transpose()?;
    if identity.is_none() && invitation.is_some() {
        return Err(
            Failure::invalid_config("an invitation needs identity=... to join with").into(),
        );
    }
    let invitation = invitation.map(identity::invitation).transpose()?;
    let location = match (location, &invitation) {
        (Some(location), _) => location.to_owned(),
        (None, Some(invitation)) => invitation.location().to_owned(),
        (None, None) => {
            return Err(
                Failure::invalid_config("location may be None only with an invitation").into(),
            )
        }
    };
    let config = match identity {
        Some(identity) => member_config(
            room,
            name,
            identity.inner.clone(),
            invitation,
            password.is_some()
                || key.is_some()
                || codec.is_some()
                || salt.is_some()
                || iterations.is_some()
                || show_unauthenticated
                || lock,
            layout,
            create,
            accept_changed_header,
            state_dir,
            presence,
            max_attachment_size,
        )?,
        None => config(
            room,
            name,
            password,
            key,
            layout,
            codec,
            salt,
            iterations,
            show_unauthenticated,
            create,
            lock,
            accept_changed_header,
            state_dir,
            presence,
            max_attachment_size,
        )?,
    };
    let mut options = OpenOptions::default();
    if let Some(pem) = ca_pem {
        options = options.with_ca_pem(pem);
    }
    let core = py.detach(|| -> Result<Room, Failure> {
        let transport = open_location(&location, &options)?;
        Ok(Room::open(transport, config)?)
    })?;
    Ok(PyRoom {
        room: Mutex::new(Some(core)),
        watches: Mutex::new(Vec::new()),
        subscriptions: Mutex::new(Vec::new()),
        label: format!("{room:?} ({layout})"),
    })
}

/// A chat room. Create one with `ftpchat.open`. Thread-safe; usable as a context manager
/// (leaving the block closes it).
#[pyclass(module = "ftpchat", name = "Room", frozen)]
pub(crate) struct PyRoom {
    room: Mutex<Option<Room>>,
    /// Iterators stop when Python drops them (a `for` loop that breaks): not kept alive.
    watches: Mutex<Vec<Weak<WatchSlot>>>,
    /// Callback watchers run until stopped or the room is closed or dropped, whether or
    /// not the caller keeps the `Subscription`.
    subscriptions: Mutex<Vec<Arc<WatchSlot>>>,
    label: String,
}

impl PyRoom {
    /// The core room (a cheap clone), or `RoomClosed`.
    fn core(&self) -> Result<Room, Failure> {
        lock(&self.room).clone().ok_or_else(Failure::closed)
    }

    fn track_watch(&self, slot: &Arc<WatchSlot>) {
        let mut watches = lock(&self.watches);
        watches.retain(|w| w.strong_count() > 0);
        watches.push(Arc::downgrade(slot));
    }

    fn track_subscription(&self, slot: Arc<WatchSlot>) {
        let mut subscriptions = lock(&self.subscriptions);
        subscriptions.retain(|s| s.is_running());
        subscriptions.push(slot);
    }
}

#[pymethods]
impl PyRoom {
    /// Queues `text` for sending and returns the message id (32 hex digits). The message
    /// is in the timeline as pending at once; `sync()`, `flush()` or a watcher delivers
    /// it. No network I/O.
    fn send(&self, py: Python<'_>, text: &str) -> PyResult<String> {
        let room = self.core()?;
        // No network I/O, but the outbox is saved (fsync) before it returns.
        Ok(py
            .detach(|| room.send(text))
            .map_err(Failure::from)?
            .to_hex())
    }

    /// Sends the file at `path` (a `str` or `os.PathLike`) with a caption (`Message.text`;
    /// may be empty) and returns the message id (32 hex digits), as `send` does: the file
    /// is encrypted and uploaded chunk by chunk under the room's `files/` folder, then
    /// its message is queued (the next `sync()`, `flush()` or watcher delivers it).
    /// Blocks while the file uploads, with the GIL released; an upload cut by the
    /// network resumes where the server's copy ends.
    ///
    /// `progress(done, total)` (bytes of the file) is called on this thread, with the
    /// GIL, at the start, about every MiB and at the end (`done == total`). With tqdm:
    ///
    /// ```python
    /// from tqdm import tqdm
    /// with tqdm(total=os.path.getsize(path), unit="B", unit_scale=True) as bar:
    ///     room.send_file(path, progress=lambda done, total: bar.update(done - bar.n))
    /// ```
    ///
    /// With rich (`with rich.progress.Progress() as p: task = p.add_task("upload")`):
    /// `progress=lambda done, total: p.update(task, completed=done, total=total)`.
    /// `transfer` (a `Transfer`): `transfer.cancel()` from another thread or from the
    /// callback stops the upload, which raises `TransferCancelled`; nothing is queued and
    /// the partial upload is removed. An exception raised by `progress` (or by a signal
    /// handler, e.g. `KeyboardInterrupt` on Ctrl-C) cancels the transfer likewise (and
    /// `transfer`) and is raised from this call, also at the last report
    /// (`done == total`): then too nothing is queued and the upload is removed.
    ///
    /// Native rooms only: a shared-file room raises `Unsupported`. Raises `FileTooLarge`
    /// before any transfer for a file over the room's `max_attachment_size`,
    /// `LocalFileError` when the file cannot be read (missing, not a regular file) or
    /// changes while it is sent, `MessageTooLarge` for a caption over `MAX_TEXT_LEN`
    /// bytes, `TransportError` when the server fails.
    #[pyo3(signature = (path, caption = "", *, progress = None, transfer = None))]
    fn send_file(
        &self,
        py: Python<'_>,
        path: PathBuf,
        caption: &str,
        progress: Option<Py<PyAny>>,
        transfer: Option<Py<PyTransfer>>,
    ) -> PyResult<String> {
        let room = self.core()?;
        let call = Call::new(py, progress, transfer)?;
        let result = py.detach(|| room.send_file_with(&path, caption, call.transfer()));
        Ok(call.finish(result)?.to_hex())
    }

    /// Downloads the file of message `message_id` (`Message.attachment` is set) to
    /// `path` (a `str` or `os.PathLike`), replacing it. The encrypted file is streamed,
    /// verified chunk by chunk and against its hash, written to a partial file beside
    /// `path` (`.<name>.<id>.part`) and renamed to `path` only once all of it verified:
    /// `path` is never left half-written. Blocks with the GIL released. After a cut
    /// connection, a cancel or a crash, the partial file is kept and the next call for
    /// the same message and path resumes from it.
    ///
    /// `progress` and `transfer` as for `send_file`: a cancelled download raises
    /// `TransferCancelled` and keeps its partial file; so does an exception raised by
    /// `progress`, also at the last report (`done == total`): `path` is not written then.
    ///
    /// Raises `UnknownMessage` for a message not in the timeline, `Unsupported` for one
    /// without an attachment (or deleted: its author's delete removes the file),
    /// `FileTooLarge` over the room's `max_attachment_size`, `BadAttachment` when the
    /// file is not on the server, has the wrong size, was altered or does not match its
    /// hash (the partial file is removed), `LocalFileError` when `path` cannot be
    /// written, `TransportError` when the server fails.
    #[pyo3(signature = (message_id, path, *, progress = None, transfer = None))]
    fn save_attachment(
        &self,
        py: Python<'_>,
        message_id: &str,
        path: PathBuf,
        progress: Option<Py<PyAny>>,
        transfer: Option<Py<PyTransfer>>,
    ) -> PyResult<()> {
        let id = message_id_arg(message_id)?;
        let room = self.core()?;
        let call = Call::new(py, progress, transfer)?;
        let result = py.detach(|| room.save_attachment_with(&id, &path, call.transfer()));
        call.finish(result)
    }

    /// Replaces the text of one of this user's messages (id `message_id`, 32 hex digits)
    /// with `text`; every client that reads the edit shows the new text (the newest edit
    /// wins) with `edited` set. Applied to this room's timeline at once and sent like a
    /// message (queued, no network I/O). Returns the edit's own id.
    ///
    /// Native rooms only: a shared-file room raises `Unsupported`. Raises
    /// `UnknownMessage` for a message not in the timeline and `NotAllowed` for another
    /// user's message or a deleted one. In a password room "this user" is this device's
    /// log (with `state_dir`, kept across restarts); in a member room, the member.
    fn edit(&self, py: Python<'_>, message_id: &str, text: &str) -> PyResult<String> {
        let id = message_id_arg(message_id)?;
        let room = self.core()?;
        Ok(py
            .detach(|| room.edit(&id, text))
            .map_err(Failure::from)?
            .to_hex())
    }

    /// Deletes one of this user's messages: every client that reads the delete shows it
    /// with `deleted` set, no text and no reactions. Final: a deleted message cannot be
    /// edited. Queued like `edit` (no network I/O); returns the delete's own id. Raises
    /// as `edit`.
    fn delete(&self, py: Python<'_>, message_id: &str) -> PyResult<String> {
        let id = message_id_arg(message_id)?;
        let room = self.core()?;
        Ok(py
            .detach(|| room.delete(&id))
            .map_err(Failure::from)?
            .to_hex())
    }

    /// Reacts to a message, this user's own included: `reaction` (e.g. `"👍"`, or several
    /// separated by spaces, at most 64 bytes) replaces this user's earlier reaction to
    /// it; `""` withdraws it. Queued like `edit` (no network I/O); returns the
    /// reaction's own id. Raises as `edit` (any member may react), and
    /// `MessageTooLarge` for a reaction over 64 bytes.
    fn react(&self, py: Python<'_>, message_id: &str, reaction: &str) -> PyResult<String> {
        let id = message_id_arg(message_id)?;
        let room = self.core()?;
        Ok(py
            .detach(|| room.react(&id, reaction))
            .map_err(Failure::from)?
            .to_hex())
    }

    /// Member rooms: queues `text` as a private message to the member `member_id` (32
    /// hex digits, `Member.id`; this member's own id for a note to itself) and returns
    /// its id (SPEC §8.4.2). Only that member's devices and this member's can read it;
    /// the others see that a private message went from this member to that one, and its
    /// size. It is shown in `private_history(member_id)` (with `Message.private` set), not
    /// in `history()`. No network I/O, like `send`.
    ///
    /// Raises `MembershipError` in password rooms or when `member_id` is not a current
    /// member, `NotAMember` when this device is not one, `InvalidConfig` for a malformed
    /// id.
    fn send_private(&self, py: Python<'_>, member_id: &str, text: &str) -> PyResult<String> {
        let id = identity::member_id(member_id)?;
        let room = self.core()?;
        Ok(py
            .detach(|| room.send_private(&id, text))
            .map_err(Failure::from)?
            .to_hex())
    }

    /// Member rooms: up to `limit` messages of the private conversation with the member
    /// `member_id` before message id `before` (or the newest), oldest first, as
    /// `history()` for the room's conversation (empty in password rooms). Releases the
    /// GIL.
    #[pyo3(signature = (member_id, limit = 100, *, before = None))]
    fn private_history<'py>(
        &self,
        py: Python<'py>,
        member_id: &str,
        limit: usize,
        before: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let member = identity::member_id(member_id)?;
        let before = before.map(message_id_arg).transpose()?;
        let room = self.core()?;
        let page = py
            .detach(move || room.private_history(&member, before.as_ref(), limit))
            .map_err(Failure::from)?;
        PyList::new(py, convert::messages(py, &page)?)
    }

    /// Member rooms: blocks the member `member_id` on every device of this member,
    /// across restarts: their messages, private ones included, are no longer returned by
    /// `sync()`, watchers or histories (until `unblock`). The member is not told. No
    /// network I/O. Raises `MembershipError` in password rooms.
    fn block(&self, py: Python<'_>, member_id: &str) -> PyResult<()> {
        let id = identity::member_id(member_id)?;
        let room = self.core()?;
        Ok(py.detach(|| room.block(&id)).map_err(Failure::from)?)
    }

    /// Member rooms: undoes `block`; the member's messages show again. No network I/O.
    fn unblock(&self, py: Python<'_>, member_id: &str) -> PyResult<()> {
        let id = identity::member_id(member_id)?;
        let room = self.core()?;
        Ok(py.detach(|| room.unblock(&id)).map_err(Failure::from)?)
    }

    /// Member rooms: the ids of the members this member blocks (empty elsewhere).
    fn blocked(&self) -> PyResult<Vec<String>> {
        let room = self.core()?;
        Ok(room.blocked().iter().map(ToString::to_string).collect())
    }

    /// Member rooms: every member's presence now, a list of `PresenceInfo` ordered by
    /// member id: online, away or offline (a device whose state ran out is offline),
    /// typing, last seen and last active. As of the last sync (which reads the state
    /// files that changed), evaluated on the clock at each call. No I/O.
    ///
    /// Raises `MembershipError` in password rooms and shared files, `InvalidConfig` when
    /// the room was opened with `presence=False`.
    fn presence<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let room = self.core()?;
        let infos = room.presence().map_err(Failure::from)?;
        let items = infos
            .iter()
            .map(|p| convert::presence_info(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Member rooms: sets this device's presence: a `PresenceState` or its value
    /// (`"online"`, the default, `"away"`, or `"offline"`: published once, a goodbye;
    /// `"typing"` is `set_typing(True)`). Published at the next sync. Raises as
    /// `presence`, and `InvalidConfig` for another value.
    fn set_presence(&self, state: &str) -> PyResult<()> {
        let parsed = convert::presence_state(state).ok_or_else(|| {
            Failure::invalid_config(format!(
                "state must be \"online\", \"away\", \"offline\" or \"typing\", not {state:?}"
            ))
        })?;
        let room = self.core()?;
        Ok(room.set_presence(parsed).map_err(Failure::from)?)
    }

    /// Member rooms: this device's user is typing (for a few seconds, extended by calling
    /// it again) or stopped. Published at the next sync. Raises as `presence`.
    fn set_typing(&self, typing: bool) -> PyResult<()> {
        let room = self.core()?;
        Ok(room.set_typing(typing).map_err(Failure::from)?)
    }

    /// Member rooms: this device's user has read up to message `message_id` (inclusive).
    /// The read position only moves forward in timeline order: returns `False` when the
    /// message is not after it. Published at the next sync unless the room was opened
    /// with `read_receipts=False`. Raises as `presence`, and `UnknownMessage` for a
    /// message this device does not know. No I/O.
    fn mark_read(&self, message_id: &str) -> PyResult<bool> {
        let id = message_id_arg(message_id)?;
        let room = self.core()?;
        Ok(room.mark_read(&id).map_err(Failure::from)?)
    }

    /// Member rooms: who has seen message `message_id`: a `SeenBy` with the ids of the
    /// members (other than its author) that read it or a later message, as their devices'
    /// published read positions say, and how many members there are besides its author.
    /// As of the last sync; no I/O. Raises as `mark_read`.
    fn seen_by<'py>(&self, py: Python<'py>, message_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let id = message_id_arg(message_id)?;
        let room = self.core()?;
        let seen = room.seen_by(&id).map_err(Failure::from)?;
        convert::seen_by(py, &seen)
    }

    /// Delivers the outbox (each append confirmed) and reads what is new. Returns a
    /// `SyncResult`: messages from others not returned before, ids of own messages now
    /// confirmed, and events. Releases the GIL during network I/O.
    ///
    /// Each new message is handed out once per `Room`: to `sync()` or to a watcher,
    /// whichever reads it first. Use one of them per `Room` (open the room again for a
    /// second consumer); `history()` always shows everything.
    fn sync<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let room = self.core()?;
        let update = py.detach(move || room.sync()).map_err(Failure::from)?;
        convert::sync_update(py, &update)
    }

    /// Delivers the outbox without reading. Releases the GIL.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let room = self.core()?;
        Ok(py.detach(move || room.flush()).map_err(Failure::from)?)
    }

    /// Up to `limit` messages of the room's conversation before message id `before` (or
    /// the newest), oldest first: not private messages (`private_history`), not those of
    /// blocked members. A room with `state_dir` reads its local store (no server I/O, also
    /// offline); without one, the first call after reopening downloads the older history.
    /// Releases the GIL.
    #[pyo3(signature = (limit = 100, *, before = None))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        limit: usize,
        before: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let before = before.map(message_id_arg).transpose()?;
        let room = self.core()?;
        let page = py
            .detach(move || room.history(before.as_ref(), limit))
            .map_err(Failure::from)?;
        PyList::new(py, convert::messages(py, &page)?)
    }

    /// Up to `limit` messages of the room's conversation that contain every word of
    /// `query` (case and accents ignored, each word matching the words it starts), newest
    /// first, starting just before message id `before` (pass the last message of a page
    /// for the next one). Read from the local store of `state_dir`, without the server;
    /// `Unsupported` for a room without `state_dir`. Releases the GIL.
    #[pyo3(signature = (query, limit = 50, *, before = None))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        query: &str,
        limit: usize,
        before: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let before = before.map(message_id_arg).transpose()?;
        let room = self.core()?;
        let query = query.to_owned();
        let found = py
            .detach(move || room.search(&query, before.as_ref(), limit))
            .map_err(Failure::from)?;
        PyList::new(py, convert::messages(py, &found)?)
    }

    /// The message with this id, if this client has seen it (no I/O).
    fn message<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let id = message_id_arg(id)?;
        let room = self.core()?;
        room.message(&id)
            .map(|m| convert::message(py, &m))
            .transpose()
    }

    /// Starts a background watcher and returns a `Watch`: iterate it to receive messages
    /// from others as they arrive (`for msg in room.watch(): ...`). It polls every
    /// `min_interval` seconds while the chat is active, backing off to `max_interval`.
    /// It yields new messages only: confirmations, events and changes to earlier
    /// messages (edits, deletes, reactions) are not handed out (`message(id)` shows a
    /// message as it is now); use `listen` for those.
    #[pyo3(signature = (*, min_interval = 0.25, max_interval = 1.0))]
    fn watch(&self, min_interval: f64, max_interval: f64) -> PyResult<PyWatch> {
        let options = watch::options(min_interval, max_interval)?;
        let room = self.core()?;
        let (watch, slot) = PyWatch::start(&room, options);
        self.track_watch(&slot);
        Ok(watch)
    }

    /// Starts a background watcher that calls `on_message(msg)` for each message from
    /// others, `on_confirmed(id)` for each own message confirmed on the server,
    /// `on_changed(msg)` for each message delivered before that was edited, deleted or
    /// reacted to (as it is now), `on_event(event)` and `on_error(exc)` (the watcher
    /// retries with backoff). The
    /// callbacks run on the watcher's thread; an exception in one is reported through
    /// `sys.unraisablehook` and the watcher carries on. The watcher runs until the
    /// returned `Subscription` is stopped or the room is closed (keeping the
    /// `Subscription` is not needed).
    #[pyo3(signature = (
        on_message = None, *, on_confirmed = None, on_changed = None, on_event = None,
        on_error = None, min_interval = 0.25, max_interval = 1.0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn listen(
        &self,
        on_message: Option<Py<PyAny>>,
        on_confirmed: Option<Py<PyAny>>,
        on_changed: Option<Py<PyAny>>,
        on_event: Option<Py<PyAny>>,
        on_error: Option<Py<PyAny>>,
        min_interval: f64,
        max_interval: f64,
    ) -> PyResult<PySubscription> {
        let options = watch::options(min_interval, max_interval)?;
        let room = self.core()?;
        let callbacks = watch::Callbacks {
            on_message,
            on_confirmed,
            on_changed,
            on_event,
            on_error,
        };
        let (subscription, slot) = PySubscription::start(&room, options, callbacks);
        self.track_subscription(slot);
        Ok(subscription)
    }

    /// Stops this room's watchers, delivers the outbox (unless `flush=False`), closes
    /// the core room (which saves its state) and releases the connection. Idempotent.
    /// Raises if delivery fails; the room is closed anyway (with `state_dir`,
    /// undelivered messages are sent on the next open). Later calls raise `RoomClosed`.
    #[pyo3(signature = (*, flush = true))]
    fn close(&self, py: Python<'_>, flush: bool) -> PyResult<()> {
        let Some(room) = lock(&self.room).take() else {
            return Ok(());
        };
        let mut watches: Vec<Arc<WatchSlot>> = lock(&self.watches)
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        watches.append(&mut lock(&self.subscriptions));
        for slot in &watches {
            slot.cancel();
        }
        let result = py.detach(move || {
            let flushed = if flush { room.flush() } else { Ok(()) };
            // Cancels any other watcher of this room and saves the state.
            let closed = room.close();
            flushed.and(closed)
        });
        // Wait for the watchers' threads (a callback may be running), without the GIL;
        // called from a callback, the core does not wait for its own thread.
        for slot in watches {
            slot.stop(py);
        }
        Ok(result.map_err(Failure::from)?)
    }

    /// Member rooms: the members as of the last sync, a list of `Member` (id, role,
    /// devices, fingerprints, joined epoch). Raises `MembershipError` for other rooms.
    /// No I/O.
    fn members<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let members = self.core()?.members().map_err(Failure::from)?;
        let items = members
            .iter()
            .map(|m| convert::member(py, m))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Member rooms (admins): a one-time invitation URL (`ftpchat://join?...`) with
    /// `role` (`"member"` or `"admin"`); `location` is what the invitee will open
    /// (e.g. `ftp://user:pass@host/dir`; it is written in the URL). The URL is a secret:
    /// whoever holds it can join once; share it over a channel you trust. Releases the
    /// GIL.
    #[pyo3(signature = (role = "member", *, location))]
    fn invite(&self, py: Python<'_>, role: &str, location: String) -> PyResult<String> {
        let role = identity::role(role)?;
        let room = self.core()?;
        let invitation = py
            .detach(move || room.invite(role, &location))
            .map_err(Failure::from)?;
        Ok(invitation.to_url())
    }

    /// Member rooms (admins): adds the device whose public identity text
    /// (`ftpchat-id1:...`, fingerprint verified out of band) is `public`, as a new member
    /// with `role`. With `share_history` it can also read what was sent before. Returns
    /// the new epoch. Releases the GIL.
    #[pyo3(signature = (public, role = "member", *, share_history = false))]
    fn add_member(
        &self,
        py: Python<'_>,
        public: &str,
        role: &str,
        share_history: bool,
    ) -> PyResult<u64> {
        let (device, role) = (identity::public_identity(public)?, identity::role(role)?);
        let room = self.core()?;
        Ok(py
            .detach(move || room.add_member(device, role, share_history))
            .map_err(Failure::from)?)
    }

    /// Member rooms: links another device (its public identity text) to this device's
    /// member. Returns the new epoch. Releases the GIL.
    #[pyo3(signature = (public, *, share_history = false))]
    fn link_device(&self, py: Python<'_>, public: &str, share_history: bool) -> PyResult<u64> {
        let device = identity::public_identity(public)?;
        let room = self.core()?;
        Ok(py
            .detach(move || room.link_device(device, share_history))
            .map_err(Failure::from)?)
    }

    /// Member rooms (admins, or a member removing itself to leave): removes the member
    /// with id `member_id` (32 hex digits, `Member.id`). Its devices read nothing sent
    /// afterwards and can no longer write. Returns the new epoch. Releases the GIL.
    fn remove_member(&self, py: Python<'_>, member_id: &str) -> PyResult<u64> {
        let id = identity::member_id(member_id)?;
        let room = self.core()?;
        Ok(py
            .detach(move || room.remove_member(&id))
            .map_err(Failure::from)?)
    }

    /// Member rooms (admins): makes the member `member_id` an admin. Returns the new
    /// epoch. Releases the GIL.
    fn promote(&self, py: Python<'_>, member_id: &str) -> PyResult<u64> {
        let id = identity::member_id(member_id)?;
        let room = self.core()?;
        Ok(py
            .detach(move || room.promote(&id))
            .map_err(Failure::from)?)
    }

    /// Member rooms: this device's `Identity`; `None` for other rooms.
    #[getter]
    fn identity(&self) -> PyResult<Option<PyIdentity>> {
        Ok(self.core()?.identity().map(PyIdentity::new))
    }

    /// `True` once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        lock(&self.room).is_none()
    }

    /// This client's display name.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.core()?.display_name())
    }

    /// Where the room is (the location without its password).
    #[getter]
    fn location(&self, py: Python<'_>) -> PyResult<String> {
        let room = self.core()?;
        Ok(py.detach(move || room.describe()))
    }

    /// How many sent messages wait for delivery.
    #[getter]
    fn outbox_len(&self) -> PyResult<usize> {
        Ok(self.core()?.outbox_len())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the room; the outbox is delivered first unless the block raised.
    #[pyo3(signature = (exc_type, _exc_value, _traceback))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py, exc_type.is_none())?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.core() {
            Ok(room) => {
                let (location, name) = py.detach(move || (room.describe(), room.display_name()));
                format!("<ftpchat.Room {} at {location} as {name:?}>", self.label)
            }
            Err(_) => format!("<ftpchat.Room {} closed>", self.label),
        }
    }
}
