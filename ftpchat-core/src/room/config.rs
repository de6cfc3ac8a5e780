use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::crypto::{FernetKey, KdfParams};
use crate::group::Invitation;
use crate::identity::DeviceIdentity;

/// Which codec a shared-file room writes (it reads all of them). Write 1.7 whenever a
/// FTPChat 1.7 client reads the file: a 1.7 client stops showing anything at the first
/// line it cannot decrypt. Write 1.6 only for files that 1.6 clients alone read (they
/// show 1.7 lines undecoded), and 1.5 only for 1.5 clients (no key). See SPEC §5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteCodec {
    /// FTPChat 1.5 lines. **No key: anyone can read them, anyone can write them.**
    Legacy15,
    /// FTPChat 1.6 lines: base64 of a Fernet token. Needs a password.
    Fernet16,
    /// FTPChat 1.7 lines: a raw Fernet token of the `rstrip()`ped text. Needs a password.
    /// With other KDF parameters ([`RoomConfig::with_compat_kdf`]) this is also ftpchat's
    /// parameterised raw-token codec.
    Fernet17,
}

impl WriteCodec {
    /// The line codec it writes.
    pub fn codec(self) -> crate::format::Codec {
        use crate::format::Codec;
        match self {
            WriteCodec::Legacy15 => Codec::Legacy15,
            WriteCodec::Fernet16 => Codec::Fernet16,
            WriteCodec::Fernet17 => Codec::Fernet17,
        }
    }
}

/// How the room is laid out on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// ftpchat's native room: a directory with a header and one log per device, so no two
    /// clients write one file. Safe on every server.
    Native {
        /// The room directory, relative to the transport root.
        dir: String,
    },
    /// FTPChat's layout: one file every client appends to. Loses lines on servers whose
    /// `APPE` is not atomic (e.g. libunftp) unless `lock` is set.
    SharedFile {
        /// The chat file, relative to the transport root.
        file: String,
        /// The codec this client writes.
        codec: WriteCodec,
        /// Take a directory lock around each append (for servers whose `APPE` is not
        /// atomic). All writers must use it for it to help.
        lock: bool,
    },
}

/// A chat password. Zeroized on drop; `Debug` shows nothing.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Password(Zeroizing::new(password.into()))
    }

    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password::new(s)
    }
}

/// How the room key is obtained.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A password; the key is derived with the room's (or the compat) KDF parameters.
    Password(Password),
    /// An already derived key (e.g. cached by the app).
    Key(Box<FernetKey>),
    /// A member room: this device's identity, and the invitation it joins with (none
    /// to create the room or to open it as a member).
    Member(MemberAccess),
}

/// How a device enters a member room (SPEC §17): its identity, and the invitation it
/// joins with the first time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemberAccess {
    /// This device's identity; its key signs every record and opens the epoch keys.
    pub identity: Arc<DeviceIdentity>,
    /// The invitation to accept (the first open of a room this device was invited to).
    pub invitation: Option<Box<Invitation>>,
    /// The password of the password room this member room was upgraded from: with it, the
    /// records written before the upgrade are shown too (SPEC §17.11).
    pub legacy_password: Option<Password>,
}

/// Where a room keeps its local state (writer id, read positions, outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateLocation {
    /// Nothing survives the process: a new writer id each time, unsent messages lost on
    /// exit.
    Memory,
    /// A folder on this device holding one local store ([`StateLocation::store_path`])
    /// with the state and the messages of all its rooms (and the membership log and epoch
    /// secrets member rooms cache). Unsent messages are delivered after a restart;
    /// read messages are paged and searched from the store, without the server. A
    /// folder of a version that kept a state file per room (`room-<id>.state`) is moved
    /// into the store when the room is opened.
    Folder(PathBuf),
}

impl StateLocation {
    /// The local store ([`LocalStore`](crate::LocalStore)) of a state folder, which keeps
    /// the messages of every room of that folder; `None` for [`StateLocation::Memory`].
    /// To recover from a damaged store ([`StoreError::Corrupt`](crate::StoreError)),
    /// close the rooms and delete it with [`LocalStore::remove`](crate::LocalStore::remove):
    /// the rooms read the server again as a new device does, and messages not sent yet
    /// are lost with it.
    pub fn store_path(&self) -> Option<PathBuf> {
        match self {
            StateLocation::Memory => None,
            StateLocation::Folder(folder) => Some(folder.join(super::stored::STORE_FILE)),
        }
    }
}

/// The wall clock a room uses (milliseconds since the Unix epoch). Replaceable so tests
/// can model skewed clocks, and run every wait of a room on simulated time: delivery
/// retries, the shared-file lock's waits and expiry, the wait for a room header, and a
/// watcher's pause between polls.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in milliseconds since the Unix epoch (UTC).
    fn now_ms(&self) -> u64;

    /// Waits about `duration` (the shared-file lock's backoff while another client holds
    /// it). A simulated clock advances its `now_ms` by `duration` instead of waiting.
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    /// Waits about `duration` unless `wakeup` fires first (a message was sent, the
    /// watcher was cancelled or the room closed): a watcher's pause between polls.
    /// Returns `true` when woken. A simulated clock advances its `now_ms` by `duration`
    /// unless [`Wakeup::is_fired`].
    fn wait(&self, wakeup: &Wakeup, duration: Duration) -> bool {
        wakeup.block(duration)
    }

    /// This device's offset from UTC in seconds at `ms`, for FTPChat's local timestamps.
    fn local_offset_secs(&self, ms: u64) -> i32 {
        use chrono::{Local, Offset, TimeZone};
        let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
        Local
            .timestamp_opt(secs, 0)
            .single()
            .map(|t| t.offset().fix().local_minus_utc())
            .unwrap_or(0)
    }
}

/// What a watcher waits for between polls ([`Clock::wait`]): fired when a message is
/// sent, the watcher is cancelled or the room is closed after the wake-up was taken.
#[derive(Debug)]
pub struct Wakeup {
    signal: Arc<Signal>,
    seen: u64,
}

/// A counter and a condition variable: each firing adds one.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    count: Mutex<u64>,
    fired: Condvar,
}

impl Signal {
    /// Wakes every waiter whose wake-up was taken before.
    pub(crate) fn fire(&self) {
        *super::lock(&self.count) += 1;
        self.fired.notify_all();
    }

    /// A wake-up that fires at the next [`fire`](Self::fire).
    pub(crate) fn wakeup(self: &Arc<Self>) -> Wakeup {
        let seen = *super::lock(&self.count);
        Wakeup {
            signal: self.clone(),
            seen,
        }
    }
}

impl Wakeup {
    /// `true` when it fired since it was taken.
    pub fn is_fired(&self) -> bool {
        *super::lock(&self.signal.count) != self.seen
    }

    /// Blocks the thread for up to `timeout` of real time, or until it fires; `true`
    /// when it fired. What [`Clock::wait`] does unless a clock simulates time.
    pub fn block(&self, timeout: Duration) -> bool {
        let count = super::lock(&self.signal.count);
        let (count, _) = self
            .signal
            .fired
            .wait_timeout_while(count, timeout, |c| *c == self.seen)
            .unwrap_or_else(|e| e.into_inner());
        *count != self.seen
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// The KDF parameters of FTPChat 1.6 and 1.7 rooms unless told otherwise: those of the
/// real clients ([`crate::format::FTPCHAT_SALT`], 100,000 iterations of PBKDF2-HMAC-SHA256).
pub fn default_compat_kdf() -> KdfParams {
    crate::format::ftpchat_client_kdf()
}

/// Everything needed to open a room. Build one with [`RoomConfig::native`] or
/// [`RoomConfig::shared_file`] and the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoomConfig {
    /// Layout and path.
    pub layout: Layout,
    /// The name shown with this client's messages.
    pub display_name: String,
    /// Password or key; `None` only for FTPChat 1.5 shared files.
    pub credentials: Option<Credentials>,
    /// KDF parameters for FTPChat 1.6 and 1.7 lines (default: the real clients').
    pub compat_kdf: KdfParams,
    /// Show FTPChat 1.5 lines in a shared file whose room writes an authenticated codec
    /// (1.6, 1.7). They carry no key, so anyone with write access to the file could have
    /// written them under any name; by default they are reported
    /// ([`super::RoomEvent::UnauthenticatedLine`]) and not shown.
    pub show_unauthenticated: bool,
    /// PBKDF2 iterations for a native room this client creates (default 600,000).
    pub native_iterations: u32,
    /// Open a native room whose header differs from the one saved in the state folder
    /// (default `false`: [`super::RoomError::HeaderChanged`]). Set it only when the user
    /// knows the room was re-created: a member who knows the password could otherwise
    /// replace the header, e.g. with a weaker key derivation.
    pub accept_changed_header: bool,
    /// Create a native room that does not exist yet.
    pub create: bool,
    /// Where local state lives.
    pub state: StateLocation,
    /// The wall clock.
    pub clock: Arc<dyn Clock>,
    /// Attempts per message per sync before giving up until the next sync.
    pub append_attempts: u32,
    /// How long a shared-file lock is valid.
    pub lock_ttl: Duration,
    /// How long to wait for a shared-file lock before failing the delivery.
    pub lock_wait: Duration,
    /// [`with_lock`](Self::with_lock) asked for a lock on a native room: refused by
    /// [`Room::open`](super::Room::open).
    pub(crate) native_lock: bool,
    /// Member rooms: publish this device's presence and read the others' (SPEC §18;
    /// default `true`). Other rooms have no presence.
    pub presence: bool,
    /// Member rooms with presence: publish how far this device's user has read, so
    /// senders see "seen by" (default `true`). Off: no read position is published.
    pub read_receipts: bool,
    /// The largest file this client sends or downloads as an attachment (default
    /// [`DEFAULT_MAX_ATTACHMENT_SIZE`], 100 MiB). Larger ones are refused before any
    /// transfer with [`RoomError::FileTooLarge`](super::RoomError::FileTooLarge).
    pub max_attachment_size: u64,
}

/// The default [`RoomConfig::max_attachment_size`]: 100 MiB.
pub const DEFAULT_MAX_ATTACHMENT_SIZE: u64 = 100 << 20;

impl RoomConfig {
    fn base(layout: Layout, display_name: impl Into<String>) -> Self {
        RoomConfig {
            layout,
            display_name: display_name.into(),
            credentials: None,
            compat_kdf: default_compat_kdf(),
            show_unauthenticated: false,
            native_iterations: KdfParams::DEFAULT_ITERATIONS,
            accept_changed_header: false,
            create: true,
            state: StateLocation::Memory,
            clock: Arc::new(SystemClock),
            append_attempts: 5,
            lock_ttl: Duration::from_secs(30),
            lock_wait: Duration::from_secs(60),
            native_lock: false,
            presence: true,
            read_receipts: true,
            max_attachment_size: DEFAULT_MAX_ATTACHMENT_SIZE,
        }
    }

    /// The presence settings.
    pub(crate) fn presence(&self) -> super::presence::PresenceConfig {
        super::presence::PresenceConfig {
            enabled: self.presence,
            receipts: self.read_receipts,
        }
    }

    /// A native room in directory `dir`, created if missing.
    pub fn native(
        dir: impl Into<String>,
        display_name: impl Into<String>,
        password: impl Into<Password>,
    ) -> Self {
        let mut c = Self::base(Layout::Native { dir: dir.into() }, display_name);
        c.credentials = Some(Credentials::Password(password.into()));
        c
    }

    /// A member room in directory `dir` (SPEC §17): records signed by `identity`, keys by
    /// epoch, members added and removed by admins. Created if missing, with this device
    /// as its first admin; otherwise opened as a member (this device must be one: invite
    /// it, or open with [`join`](Self::join)).
    pub fn member_room(
        dir: impl Into<String>,
        display_name: impl Into<String>,
        identity: Arc<DeviceIdentity>,
    ) -> Self {
        let mut c = Self::base(Layout::Native { dir: dir.into() }, display_name);
        c.credentials = Some(Credentials::Member(MemberAccess {
            identity,
            invitation: None,
            legacy_password: None,
        }));
        c
    }

    /// Joins the member room of `invitation`, in directory `dir` of the transport its
    /// location names, as `identity`. Never creates a room.
    pub fn join(
        dir: impl Into<String>,
        display_name: impl Into<String>,
        identity: Arc<DeviceIdentity>,
        invitation: Invitation,
    ) -> Self {
        let mut c = Self::base(Layout::Native { dir: dir.into() }, display_name);
        c.credentials = Some(Credentials::Member(MemberAccess {
            identity,
            invitation: Some(Box::new(invitation)),
            legacy_password: None,
        }));
        c.create = false;
        c
    }

    /// Member rooms upgraded from a password room: the old password, so the records
    /// written before the upgrade are read too. Ignored by other rooms.
    pub fn with_legacy_password(mut self, password: impl Into<Password>) -> Self {
        if let Some(Credentials::Member(access)) = &mut self.credentials {
            access.legacy_password = Some(password.into());
        }
        self
    }

    /// A FTPChat shared file written with `codec` (set the password with
    /// [`with_password`](Self::with_password) for 1.6 and 1.7).
    pub fn shared_file(
        file: impl Into<String>,
        codec: WriteCodec,
        display_name: impl Into<String>,
    ) -> Self {
        Self::base(
            Layout::SharedFile {
                file: file.into(),
                codec,
                lock: false,
            },
            display_name,
        )
    }

    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<Password>) -> Self {
        self.credentials = Some(Credentials::Password(password.into()));
        self
    }

    /// Sets an already derived key.
    pub fn with_key(mut self, key: FernetKey) -> Self {
        self.credentials = Some(Credentials::Key(Box::new(key)));
        self
    }

    /// Sets the FTPChat 1.6/1.7 KDF parameters (only for files whose clients were built
    /// with another salt or iteration count).
    pub fn with_compat_kdf(mut self, kdf: KdfParams) -> Self {
        self.compat_kdf = kdf;
        self
    }

    /// Shows (`true`) or hides (the default) keyless FTPChat 1.5 lines in a room that
    /// writes 1.6 or 1.7; see [`RoomConfig::show_unauthenticated`].
    pub fn with_unauthenticated(mut self, show: bool) -> Self {
        self.show_unauthenticated = show;
        self
    }

    /// Sets the PBKDF2 iterations for a native room this client creates.
    pub fn with_native_iterations(mut self, iterations: u32) -> Self {
        self.native_iterations = iterations;
        self
    }

    /// Trusts a native room header that differs from the saved one; see
    /// [`RoomConfig::accept_changed_header`].
    pub fn with_changed_header_accepted(mut self, accept: bool) -> Self {
        self.accept_changed_header = accept;
        self
    }

    /// Keeps state in `folder` (created if missing).
    pub fn with_state_dir(mut self, folder: impl Into<PathBuf>) -> Self {
        self.state = StateLocation::Folder(folder.into());
        self
    }

    /// Takes a directory lock around each shared-file append. A native room takes no
    /// lock: asking for one there makes [`Room::open`](super::Room::open) fail with
    /// [`RoomError::InvalidConfig`](super::RoomError::InvalidConfig).
    pub fn with_lock(mut self, lock: bool) -> Self {
        match &mut self.layout {
            Layout::SharedFile { lock: l, .. } => *l = lock,
            Layout::Native { .. } => self.native_lock = lock,
        }
        self
    }

    /// Uses another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Member rooms: publishes this device's presence (online, away, typing, last active,
    /// and its read position) in one small state file replaced at each change and every
    /// five minutes while it syncs, and reads the other devices' (SPEC §18). Default
    /// `true`; `false` publishes and reads nothing, and the presence calls fail with
    /// [`RoomError::InvalidConfig`](super::RoomError::InvalidConfig).
    pub fn with_presence(mut self, presence: bool) -> Self {
        self.presence = presence;
        self
    }

    /// Member rooms: publishes how far this device's user has read
    /// ([`Room::mark_read`](super::Room::mark_read)), so senders see who has seen their
    /// messages. Default `true`; `false` publishes no read position (presence is still
    /// published).
    pub fn with_read_receipts(mut self, receipts: bool) -> Self {
        self.read_receipts = receipts;
        self
    }

    /// The largest attachment this client sends or downloads (default 100 MiB).
    pub fn with_max_attachment_size(mut self, bytes: u64) -> Self {
        self.max_attachment_size = bytes;
        self
    }

    /// Fails instead of creating a missing native room.
    pub fn must_exist(mut self) -> Self {
        self.create = false;
        self
    }
}
