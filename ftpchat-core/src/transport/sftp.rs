//! SFTP transport (`sftp://`) over russh and russh-sftp (pure Rust, ring; no OpenSSL).
//!
//! The core is blocking and sans-IO; this transport owns a private tokio current-thread
//! runtime and runs each operation to completion on it (`block_on`) under a mutex, so the
//! [`Transport`] trait stays blocking and no tokio runtime leaks to the caller.

use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh_sftp::client::error::Error as SftpClientError;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};
use zeroize::Zeroizing;

use super::{
    Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
    TransportEvent,
};

/// Events kept until [`Transport::take_events`] is called; older ones are dropped.
const MAX_PENDING_EVENTS: usize = 64;
/// Bytes per SFTP read or write request (32 KiB: every server accepts it, RFC draft
/// `filexfer-02` §3 asks servers to support at least this).
const CHUNK: usize = 32 * 1024;
/// The OpenSSH extension that renames onto an existing file atomically (`rename(2)`).
const POSIX_RENAME: &str = "posix-rename@openssh.com";

/// Why an SFTP connection was refused before any file operation: the typed source of a
/// [`TransportError`] (find it with `err.source()` and `downcast_ref::<SftpError>()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SftpError {
    /// The server refused every credential offered (password and/or key).
    #[error("authentication failed for user {user:?} (the server refused the password or key)")]
    AuthFailed {
        /// The user name (never the password).
        user: String,
    },
    /// The server's host key is not in the known_hosts file and does not match a pinned
    /// fingerprint, and trust-on-first-use was not enabled.
    #[error("unknown host key for {host}: {fingerprint} (add it to known_hosts, pin it, or enable trust-on-first-use)")]
    UnknownHostKey {
        /// `host` or `[host]:port`, as in known_hosts.
        host: String,
        /// The key's `SHA256:...` fingerprint.
        fingerprint: String,
    },
    /// The server's host key differs from the one recorded or pinned: possibly an attack.
    #[error("host key mismatch for {host}: the server presented {fingerprint}, which differs from the recorded key")]
    HostKeyMismatch {
        /// `host` or `[host]:port`, as in known_hosts.
        host: String,
        /// The presented key's `SHA256:...` fingerprint.
        fingerprint: String,
    },
    /// The private key file could not be read or decoded (wrong passphrase, unsupported
    /// type: this build has ed25519 and ECDSA keys, not RSA).
    #[error("private key file {path:?} could not be loaded: {reason}")]
    KeyFile {
        /// The file given.
        path: PathBuf,
        /// Why (without key material).
        reason: String,
    },
    /// The location or an option is malformed.
    #[error("invalid sftp location: {0}")]
    InvalidUrl(String),
}

/// How the server's host key is checked. There is no "accept anything" setting: an
/// unknown key is accepted only with [`HostKeyCheck::TrustOnFirstUse`], chosen explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostKeyCheck {
    /// An OpenSSH known_hosts file (plain or hashed host names); `None` is
    /// `~/.ssh/known_hosts`. The default.
    KnownHosts(Option<PathBuf>),
    /// Exactly this key, by its OpenSSH fingerprint (`SHA256:base64`, as `ssh-keygen -l`
    /// prints it).
    Fingerprint(String),
    /// Check the known_hosts file (`None`: `~/.ssh/known_hosts`); a key it does not list is
    /// accepted on first connect and pinned in memory for this transport's reconnects (the
    /// file is not written). A key that contradicts the file is still refused.
    TrustOnFirstUse(Option<PathBuf>),
}

/// Settings of an [`SftpTransport`]: host, user, credentials, host key check, timeouts.
///
/// Build one from a location with [`SftpConfig::from_url`] and refine it with the
/// `with_*` methods. `Debug` never shows the password.
#[derive(Clone)]
pub struct SftpConfig {
    host: String,
    port: u16,
    user: String,
    password: Option<Arc<Zeroizing<String>>>,
    key_file: Option<PathBuf>,
    key_passphrase: Option<Arc<Zeroizing<String>>>,
    root: String,
    host_key: HostKeyCheck,
    connect_timeout: Duration,
    io_timeout: Duration,
    connect_attempts: u32,
}

impl fmt::Debug for SftpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file)
            .field(
                "key_passphrase",
                &self.key_passphrase.as_ref().map(|_| "<redacted>"),
            )
            .field("root", &self.root)
            .field("host_key", &self.host_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .finish()
    }
}

impl SftpConfig {
    /// Parses `sftp://user[:password]@host[:port]/path`.
    ///
    /// User and password are percent-decoded (`%40` for `@`, `%3A` for `:`); the user is
    /// required. The port defaults to 22. The path, percent-decoded, is the root directory,
    /// relative to the login (home) directory; a double slash makes it absolute
    /// (`sftp://u@host//srv/chat` is `/srv/chat`). The host key is checked against
    /// `~/.ssh/known_hosts` unless an option says otherwise.
    pub fn from_url(url: &str) -> Result<SftpConfig, TransportError> {
        let invalid = |msg: String| {
            TransportError::with_source(
                TransportErrorKind::InvalidPath,
                "open",
                format!("invalid sftp location: {msg}"),
                SftpError::InvalidUrl(msg),
            )
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if parsed.scheme() != "sftp" {
            return Err(invalid(format!("scheme {:?} is not sftp", parsed.scheme())));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host".into()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let user = percent_decode(parsed.username()).ok_or_else(|| invalid("bad user".into()))?;
        if user.is_empty() {
            return Err(invalid("no user name (sftp://user@host/path)".into()));
        }
        let password = match parsed.password() {
            Some(p) => Some(percent_decode(p).ok_or_else(|| invalid("bad password".into()))?),
            None => None,
        };
        let raw_path = parsed.path();
        let absolute = raw_path.starts_with("//");
        let mut components = Vec::new();
        for segment in raw_path.split('/').filter(|s| !s.is_empty()) {
            let decoded =
                percent_decode(segment).ok_or_else(|| invalid("bad root directory".into()))?;
            if decoded.chars().any(char::is_control) || decoded.contains('/') {
                return Err(invalid("control character in the root directory".into()));
            }
            components.push(decoded.to_string());
        }
        let mut root = components.join("/");
        if absolute {
            root.insert(0, '/');
        }
        if user.chars().any(char::is_control)
            || password
                .as_ref()
                .is_some_and(|p| p.chars().any(char::is_control))
        {
            return Err(invalid("control character in the user or password".into()));
        }
        Ok(SftpConfig {
            host,
            port: parsed.port().unwrap_or(22),
            user: user.to_string(),
            password: password.map(Arc::new),
            key_file: None,
            key_passphrase: None,
            root,
            host_key: HostKeyCheck::KnownHosts(None),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            connect_attempts: 3,
        })
    }

    /// Logs in with this password (replacing one from the URL).
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Arc::new(Zeroizing::new(password.into())));
        self
    }

    /// Logs in with this private key file (OpenSSH format, ed25519 or ECDSA), tried before
    /// the password. `passphrase` decrypts an encrypted key.
    pub fn with_key_file(mut self, path: impl Into<PathBuf>, passphrase: Option<&str>) -> Self {
        self.key_file = Some(path.into());
        self.key_passphrase = passphrase.map(|p| Arc::new(Zeroizing::new(p.to_owned())));
        self
    }

    /// Sets how the host key is checked (default: `~/.ssh/known_hosts`).
    pub fn with_host_key_check(mut self, check: HostKeyCheck) -> Self {
        self.host_key = check;
        self
    }

    /// Checks the host key against this known_hosts file.
    pub fn with_known_hosts(self, path: impl Into<PathBuf>) -> Self {
        self.with_host_key_check(HostKeyCheck::KnownHosts(Some(path.into())))
    }

    /// Accepts exactly the host key with this `SHA256:...` fingerprint.
    pub fn with_host_fingerprint(self, fingerprint: impl Into<String>) -> Self {
        self.with_host_key_check(HostKeyCheck::Fingerprint(fingerprint.into()))
    }

    /// Sets the connect timeout (TCP, key exchange and login) and the per-request timeout.
    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> Self {
        self.connect_timeout = connect;
        self.io_timeout = io;
        self
    }

    /// How many times a connect is tried (with 100 ms doubling to 1 s between) before a
    /// transient failure is returned; at least 1.
    pub fn with_connect_attempts(mut self, attempts: u32) -> Self {
        self.connect_attempts = attempts.max(1);
        self
    }

    /// `host` for port 22, else `[host]:port`: the known_hosts spelling.
    fn host_label(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }

    fn remote(&self, path: &RemotePath) -> String {
        if self.root.is_empty() {
            path.as_str().to_owned()
        } else if self.root == "/" {
            format!("/{}", path.as_str())
        } else {
            format!("{}/{}", self.root, path.as_str())
        }
    }
}

fn percent_decode(s: &str) -> Option<Zeroizing<String>> {
    let bytes = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(Zeroizing::new(std::str::from_utf8(&out).ok()?.to_owned()))
}

/// What the host key check decided, kept for the error message.
#[derive(Debug, Clone)]
enum KeyVerdict {
    Accepted,
    Unknown(String),
    Mismatch(String),
}

/// russh's callback object: checks the host key and records the verdict.
struct Client {
    config: Arc<SftpConfig>,
    /// A key accepted earlier by trust-on-first-use, required on reconnects.
    pinned: Arc<Mutex<Option<PublicKey>>>,
    verdict: Arc<Mutex<Option<KeyVerdict>>>,
}

impl Client {
    fn check(&self, key: &PublicKey) -> KeyVerdict {
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        if let Some(pinned) = lock(&self.pinned).as_ref() {
            return if pinned == key {
                KeyVerdict::Accepted
            } else {
                KeyVerdict::Mismatch(fingerprint)
            };
        }
        let known_hosts = |path: &Option<PathBuf>| -> Result<bool, ()> {
            let result = match path {
                Some(p) => {
                    russh::keys::check_known_hosts_path(&self.config.host, self.config.port, key, p)
                }
                None => russh::keys::check_known_hosts(&self.config.host, self.config.port, key),
            };
            match result {
                Ok(found) => Ok(found),
                Err(russh::keys::Error::KeyChanged { .. }) => Err(()),
                // No home directory or an unreadable file: nothing is known.
                Err(_) => Ok(false),
            }
        };
        match &self.config.host_key {
            HostKeyCheck::Fingerprint(want) => {
                let want = want.trim();
                let want = want.strip_prefix("SHA256:").unwrap_or(want);
                let got = fingerprint.strip_prefix("SHA256:").unwrap_or(&fingerprint);
                if want.trim_end_matches('=') == got.trim_end_matches('=') {
                    KeyVerdict::Accepted
                } else {
                    KeyVerdict::Mismatch(fingerprint)
                }
            }
            HostKeyCheck::KnownHosts(path) => match known_hosts(path) {
                Ok(true) => KeyVerdict::Accepted,
                Ok(false) => KeyVerdict::Unknown(fingerprint),
                Err(()) => KeyVerdict::Mismatch(fingerprint),
            },
            HostKeyCheck::TrustOnFirstUse(path) => match known_hosts(path) {
                Ok(_) => {
                    *lock(&self.pinned) = Some(key.clone());
                    KeyVerdict::Accepted
                }
                Err(()) => KeyVerdict::Mismatch(fingerprint),
            },
        }
    }
}

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // Host certificates are not supported: only plain keys are checked.
        let verdict = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => self.check(key),
            _ => KeyVerdict::Unknown("a host certificate (not supported)".into()),
        };
        let ok = matches!(verdict, KeyVerdict::Accepted);
        *lock(&self.verdict) = Some(verdict);
        Ok(ok)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One logged-in SSH connection with its SFTP channel.
struct Conn {
    handle: russh::client::Handle<Client>,
    sftp: RawSftpSession,
    posix_rename: bool,
}

/// A failed operation: the error, and whether the connection is gone.
struct Fail {
    err: TransportError,
    lost: bool,
}

impl Fail {
    fn new(kind: TransportErrorKind, op: &'static str, msg: impl Into<String>) -> Self {
        Fail {
            err: TransportError::new(kind, op, msg),
            lost: false,
        }
    }
}

/// Maps an SFTP client error: status replies by code, everything else (I/O, timeout,
/// closed session) as a lost connection.
fn sftp_fail(op: &'static str, what: &str, e: SftpClientError) -> Fail {
    let (kind, lost) = match &e {
        SftpClientError::Status(s) => match s.status_code {
            StatusCode::NoSuchFile => (TransportErrorKind::NotFound, false),
            StatusCode::PermissionDenied => (TransportErrorKind::PermissionDenied, false),
            StatusCode::OpUnsupported => (TransportErrorKind::Unsupported, false),
            StatusCode::NoConnection | StatusCode::ConnectionLost => {
                (TransportErrorKind::Transient, true)
            }
            _ => (TransportErrorKind::Permanent, false),
        },
        SftpClientError::Limited(_) => (TransportErrorKind::Permanent, false),
        _ => (TransportErrorKind::Transient, true),
    };
    Fail {
        err: TransportError::with_source(kind, op, what.to_owned(), e),
        lost,
    }
}

fn is_eof(e: &SftpClientError) -> bool {
    matches!(e, SftpClientError::Status(s) if s.status_code == StatusCode::Eof)
}

/// Whether an operation may be repeated on a new connection after its connection dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Reading, or writing somewhere only this call uses: repeat once after reconnecting.
    Idempotent,
    /// An effect on shared state: never repeated (it may have been applied).
    Effect,
}

struct State {
    runtime: tokio::runtime::Runtime,
    conn: Option<Conn>,
    /// A connection was dropped after an error: the next connect is a reconnect.
    dropped: bool,
}

/// SFTP transport over russh + russh-sftp (pure Rust with ring; no OpenSSL).
///
/// # Locations
///
/// `sftp://user[:password]@host[:port]/path`, see [`SftpConfig::from_url`]. Credentials:
/// the password from the URL or [`SftpConfig::with_password`], and/or a private key file
/// ([`SftpConfig::with_key_file`], tried first). The host key is checked against a
/// known_hosts file (default `~/.ssh/known_hosts`) or a pinned fingerprint
/// ([`HostKeyCheck`]); an unknown or changed key is a `Permanent` error whose source is
/// [`SftpError::UnknownHostKey`] / [`SftpError::HostKeyMismatch`], unless
/// [`HostKeyCheck::TrustOnFirstUse`] was chosen. Refused credentials are `Permanent` with
/// source [`SftpError::AuthFailed`].
///
/// # Operations
///
/// | trait method | SFTP (protocol version 3) |
/// |---|---|
/// | `size` | `STAT` (`NO_SUCH_FILE` → `None`) |
/// | `read_from` | `OPEN` read, `READ` 32 KiB at a time from the offset until `EOF` |
/// | `append`, `append_from` | `OPEN` with `APPEND|CREAT`, `FSTAT`, `WRITE`s at the end, `CLOSE` |
/// | `write_atomic` | `OPEN .name.<random>.tmp` (`CREAT|TRUNC|EXCL`), `WRITE`s, rename onto the target |
/// | `list` | `OPENDIR` + `READDIR` (sizes included) |
/// | `make_dir` | `MKDIR`; a `FAILURE` for a path that then exists is `AlreadyExists` |
/// | `remove_file`, `remove_dir` | `REMOVE`, `RMDIR` |
/// | `rename` | `posix-rename@openssh.com` when offered, else `RENAME` |
///
/// **Rename gap**: plain SFTP v3 `RENAME` refuses an existing target. Without
/// `posix-rename@openssh.com` (OpenSSH has it), `rename` removes the target and renames
/// again, so for a moment the target is missing (readers of a `write_atomic` file may see
/// `NotFound` and retry).
///
/// **Appends**: with `SSH_FXF_APPEND` OpenSSH opens the file `O_APPEND` and ignores the
/// write offset, so each `WRITE` lands at the end whatever other clients do. The offset
/// sent is the size seen by `FSTAT`, for servers that honour offsets instead.
/// `atomic_concurrent_append` is `false` ("not known"): it depends on the server, and an
/// append larger than one request (32 KiB) is several `WRITE`s that another client's
/// append may land between. The room engine's records are far smaller.
///
/// # Errors, reconnects and retries
///
/// `NO_SUCH_FILE` is `NotFound`, `PERMISSION_DENIED` is `PermissionDenied`,
/// `OP_UNSUPPORTED` is `Unsupported`, other status codes are `Permanent`; I/O errors,
/// timeouts and a closed session are `Transient` and drop the connection. The next
/// operation reconnects (up to `connect_attempts`, 100 ms doubling to 1 s) and reports
/// [`TransportEvent::Reconnected`]. As with FTP, operations that cannot apply twice
/// (`size`, `read_from` resumed at the bytes delivered, `list`, the temporary upload of
/// `write_atomic`) are repeated once on the new connection; an effect (`append`, `mkdir`,
/// `remove`, `rename`) that may have reached the server is not repeated: it returns
/// `Transient` and the caller decides (the room engine confirms appends by reading back).
///
/// # Secrets
///
/// The password and key passphrase are zeroized on drop and never appear in `Debug`,
/// [`describe`](Transport::describe) or errors. russh receives a plain `String` copy of the
/// password for each login (its API takes one) and holds the loaded private key.
///
/// # Gaps
///
/// Password login uses the SSH `password` method; a server that offers only
/// `keyboard-interactive` for passwords refuses it (`AuthFailed`). RSA keys and SSH
/// certificates are not supported in this build (russh without its `rsa` feature);
/// ed25519 and ECDSA keys are. No SSH agent.
pub struct SftpTransport {
    config: Arc<SftpConfig>,
    state: Mutex<State>,
    pinned: Arc<Mutex<Option<PublicKey>>>,
    events: Mutex<Vec<TransportEvent>>,
}

impl fmt::Debug for SftpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpTransport")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SftpTransport {
    /// A transport for `config`; nothing is sent until the first operation (or
    /// [`connect`](Self::connect)).
    pub fn new(config: SftpConfig) -> Result<Self, TransportError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| TransportError::from_io("open", "starting the SFTP runtime", e))?;
        Ok(SftpTransport {
            config: Arc::new(config),
            state: Mutex::new(State {
                runtime,
                conn: None,
                dropped: false,
            }),
            pinned: Arc::new(Mutex::new(None)),
            events: Mutex::new(Vec::new()),
        })
    }

    /// A transport for `sftp://...` with the default options.
    pub fn from_url(url: &str) -> Result<Self, TransportError> {
        Self::new(SftpConfig::from_url(url)?)
    }

    /// Connects and logs in now (otherwise the first operation does).
    pub fn connect(&self) -> Result<(), TransportError> {
        let mut state = lock(&self.state);
        self.ensure(&mut state).map_err(|f| f.err)
    }

    fn push_event(&self, event: TransportEvent) {
        let mut events = lock(&self.events);
        if events.len() >= MAX_PENDING_EVENTS {
            events.remove(0);
        }
        events.push(event);
    }

    fn ensure(&self, state: &mut State) -> Result<(), Fail> {
        if state.conn.as_ref().is_some_and(|c| !c.handle.is_closed()) {
            return Ok(());
        }
        let reconnect = state.conn.is_some() || state.dropped;
        if let Some(old) = state.conn.take() {
            drop(old);
        }
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match state
                .runtime
                .block_on(connect(self.config.clone(), self.pinned.clone()))
            {
                Ok(conn) => {
                    state.conn = Some(conn);
                    state.dropped = false;
                    if reconnect {
                        self.push_event(TransportEvent::Reconnected { attempts: attempt });
                    }
                    return Ok(());
                }
                Err(f) if f.err.is_transient() && attempt < self.config.connect_attempts => {
                    log::debug!("sftp connect attempt {attempt} failed: {}", f.err);
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
                Err(f) => return Err(f),
            }
        }
    }

    /// Runs `op` on a live connection; repeats an idempotent one once after a drop.
    fn run<T>(
        &self,
        kind: Kind,
        op: impl AsyncFn(&Conn, &SftpConfig) -> Result<T, Fail>,
    ) -> Result<T, TransportError> {
        let mut state = lock(&self.state);
        let mut repeated = false;
        loop {
            self.ensure(&mut state).map_err(|f| f.err)?;
            let State {
                runtime,
                conn,
                dropped,
            } = &mut *state;
            let Some(c) = conn.as_ref() else {
                continue;
            };
            match runtime.block_on(op(c, &self.config)) {
                Ok(v) => return Ok(v),
                Err(f) if f.lost => {
                    *conn = None;
                    *dropped = true;
                    if kind == Kind::Idempotent && !repeated {
                        repeated = true;
                        self.push_event(TransportEvent::Retrying {
                            operation: f.err.operation(),
                            error: f.err.to_string(),
                        });
                        continue;
                    }
                    return Err(f.err);
                }
                Err(f) => return Err(f.err),
            }
        }
    }
}

async fn connect(
    config: Arc<SftpConfig>,
    pinned: Arc<Mutex<Option<PublicKey>>>,
) -> Result<Conn, Fail> {
    let verdict = Arc::new(Mutex::new(None));
    let client = Client {
        config: config.clone(),
        pinned,
        verdict: verdict.clone(),
    };
    let ssh_config = Arc::new(russh::client::Config {
        inactivity_timeout: None,
        keepalive_interval: None,
        nodelay: true,
        ..Default::default()
    });
    let host_label = config.host_label();
    let timed = |what: &'static str| {
        let msg = format!("{what} {host_label} timed out");
        move |_| Fail {
            err: TransportError::new(TransportErrorKind::Transient, "connect", msg),
            lost: true,
        }
    };
    let connected = tokio::time::timeout(
        config.connect_timeout,
        russh::client::connect(ssh_config, (config.host.as_str(), config.port), client),
    )
    .await
    .map_err(timed("connecting to"))?;
    let mut handle = match connected {
        Ok(h) => h,
        Err(e) => {
            let verdict = lock(&verdict).clone();
            let (kind, source) = match verdict {
                Some(KeyVerdict::Unknown(fingerprint)) => (
                    TransportErrorKind::Permanent,
                    SftpError::UnknownHostKey {
                        host: host_label.clone(),
                        fingerprint,
                    },
                ),
                Some(KeyVerdict::Mismatch(fingerprint)) => (
                    TransportErrorKind::Permanent,
                    SftpError::HostKeyMismatch {
                        host: host_label.clone(),
                        fingerprint,
                    },
                ),
                _ => {
                    return Err(Fail {
                        err: ssh_error("connect", format!("connecting to {host_label}"), e),
                        lost: true,
                    })
                }
            };
            return Err(Fail {
                err: TransportError::with_source(kind, "connect", source.to_string(), source),
                lost: true,
            });
        }
    };

    let auth = async {
        let mut ok = false;
        if let Some(path) = &config.key_file {
            let key = russh::keys::load_secret_key(
                path,
                config.key_passphrase.as_ref().map(|p| p.as_str()),
            )
            .map_err(|e| {
                let source = SftpError::KeyFile {
                    path: path.clone(),
                    reason: e.to_string(),
                };
                Fail {
                    err: TransportError::with_source(
                        TransportErrorKind::Permanent,
                        "connect",
                        source.to_string(),
                        source,
                    ),
                    lost: true,
                }
            })?;
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| ssh_fail("authenticating", e))?
                .flatten();
            ok = handle
                .authenticate_publickey(
                    config.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(|e| ssh_fail("authenticating", e))?
                .success();
        }
        if !ok {
            if let Some(password) = &config.password {
                ok = handle
                    .authenticate_password(config.user.clone(), password.as_str())
                    .await
                    .map_err(|e| ssh_fail("authenticating", e))?
                    .success();
            }
        }
        if !ok {
            let source = SftpError::AuthFailed {
                user: config.user.clone(),
            };
            return Err(Fail {
                err: TransportError::with_source(
                    TransportErrorKind::Permanent,
                    "connect",
                    source.to_string(),
                    source,
                ),
                lost: true,
            });
        }
        let channel = handle
            .channel_open_session()
            .await
            .map_err(|e| ssh_fail("opening a session channel", e))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| ssh_fail("starting the sftp subsystem", e))?;
        let sftp = RawSftpSession::new(channel.into_stream());
        sftp.set_timeout(config.io_timeout.as_secs().max(1));
        let version = sftp
            .init()
            .await
            .map_err(|e| sftp_fail("connect", "SFTP init", e))?;
        let posix_rename = version
            .extensions
            .get(POSIX_RENAME)
            .is_some_and(|v| v == "1");
        if !config.root.is_empty() {
            let attrs = sftp
                .stat(config.root.clone())
                .await
                .map_err(|e| sftp_fail("connect", "root directory", e))?;
            if !attrs.attrs.is_dir() {
                return Err(Fail::new(
                    TransportErrorKind::NotFound,
                    "connect",
                    "the root directory is not a directory",
                ));
            }
        }
        Ok((sftp, posix_rename))
    };
    let (sftp, posix_rename) = tokio::time::timeout(config.connect_timeout, auth)
        .await
        .map_err(timed("logging in to"))??;
    Ok(Conn {
        handle,
        sftp,
        posix_rename,
    })
}

fn ssh_error(op: &'static str, what: String, e: russh::Error) -> TransportError {
    let kind = match &e {
        russh::Error::IO(io) => {
            return TransportError::from_io(
                op,
                format!("{what}: {io}"),
                std::io::Error::new(io.kind(), io.to_string()),
            )
        }
        russh::Error::NoCommonAlgo { .. } | russh::Error::UnknownKey => {
            TransportErrorKind::Permanent
        }
        _ => TransportErrorKind::Transient,
    };
    TransportError::with_source(kind, op, what, e)
}

fn ssh_fail(what: &str, e: russh::Error) -> Fail {
    Fail {
        err: ssh_error("connect", what.to_owned(), e),
        lost: true,
    }
}

/// Opens `path` with `flags`, returning the handle.
async fn open(c: &Conn, op: &'static str, path: &str, flags: OpenFlags) -> Result<String, Fail> {
    c.sftp
        .open(path.to_owned(), flags, FileAttributes::empty())
        .await
        .map(|h| h.handle)
        .map_err(|e| sftp_fail(op, path, e))
}

async fn close(c: &Conn, op: &'static str, path: &str, handle: String) -> Result<(), Fail> {
    c.sftp
        .close(handle)
        .await
        .map(|_| ())
        .map_err(|e| sftp_fail(op, path, e))
}

/// Writes everything `next` yields at the end of the open `handle`; returns the bytes.
async fn write_all(
    c: &Conn,
    op: &'static str,
    path: &str,
    handle: &str,
    mut offset: u64,
    next: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), Fail>,
) -> Result<u64, Fail> {
    let mut total = 0;
    let mut buf = Vec::with_capacity(CHUNK);
    loop {
        buf.clear();
        next(&mut buf)?;
        if buf.is_empty() {
            return Ok(total);
        }
        let len = buf.len() as u64;
        c.sftp
            .write(handle.to_owned(), offset, buf.clone())
            .await
            .map_err(|e| sftp_fail(op, path, e))?;
        offset += len;
        total += len;
    }
}

/// A source of chunks from a byte slice.
fn slice_chunks(mut data: &[u8]) -> impl FnMut(&mut Vec<u8>) -> Result<(), Fail> + '_ {
    move |buf| {
        let n = data.len().min(CHUNK);
        buf.extend_from_slice(&data[..n]);
        data = &data[n..];
        Ok(())
    }
}

async fn append_stream(
    c: &Conn,
    path: &str,
    next: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), Fail>,
) -> Result<u64, Fail> {
    let op = "append";
    let handle = open(
        c,
        op,
        path,
        OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE,
    )
    .await?;
    let result = async {
        let start = c
            .sftp
            .fstat(handle.clone())
            .await
            .map_err(|e| sftp_fail(op, path, e))?
            .attrs
            .size
            .unwrap_or(0);
        write_all(c, op, path, &handle, start, next).await
    }
    .await;
    let closed = close(c, op, path, handle).await;
    let total = result?;
    closed?;
    Ok(total)
}

/// Encodes an SSH string (u32 length, bytes).
fn ssh_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

async fn rename_remote(c: &Conn, from: &str, to: &str) -> Result<(), Fail> {
    let op = "rename";
    if c.posix_rename {
        let mut data = Vec::new();
        ssh_string(&mut data, from);
        ssh_string(&mut data, to);
        return match c.sftp.extended(POSIX_RENAME, data).await {
            Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
            Ok(Packet::Status(s)) => Err(sftp_fail(op, from, SftpClientError::Status(s))),
            Ok(_) => Err(Fail::new(
                TransportErrorKind::Permanent,
                op,
                "unexpected reply to posix-rename",
            )),
            Err(e) => Err(sftp_fail(op, from, e)),
        };
    }
    match c.sftp.rename(from.to_owned(), to.to_owned()).await {
        Ok(_) => Ok(()),
        Err(SftpClientError::Status(s)) if s.status_code == StatusCode::Failure => {
            // SFTP v3 RENAME refuses an existing target: remove it and try again (the gap
            // documented on `SftpTransport`). Only when the source exists.
            if c.sftp.lstat(from.to_owned()).await.is_err() {
                return Err(sftp_fail(op, from, SftpClientError::Status(s)));
            }
            c.sftp
                .remove(to.to_owned())
                .await
                .map_err(|e| sftp_fail(op, to, e))?;
            c.sftp
                .rename(from.to_owned(), to.to_owned())
                .await
                .map(|_| ())
                .map_err(|e| sftp_fail(op, from, e))
        }
        Err(e) => Err(sftp_fail(op, from, e)),
    }
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (nanos as u64).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Transport for SftpTransport {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true, true, true, false)
    }

    fn describe(&self) -> String {
        let c = &self.config;
        let root = if c.root.starts_with('/') {
            format!("/{}", c.root)
        } else {
            c.root.clone()
        };
        if c.port == 22 {
            format!("sftp://{}@{}/{}", c.user, c.host, root)
        } else {
            format!("sftp://{}@{}:{}/{}", c.user, c.host, c.port, root)
        }
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        self.run(Kind::Idempotent, async |c, cfg| {
            let p = cfg.remote(path);
            match c.sftp.stat(p.clone()).await {
                Ok(attrs) => Ok(Some(attrs.attrs.size.unwrap_or(0))),
                Err(SftpClientError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                    Ok(None)
                }
                Err(e) => Err(sftp_fail("size", &p, e)),
            }
        })
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        let delivered = std::cell::Cell::new(0u64);
        let sink = std::cell::RefCell::new(sink);
        self.run(Kind::Idempotent, async |c, cfg| {
            let op = "read_from";
            let p = cfg.remote(path);
            let handle = open(c, op, &p, OpenFlags::READ).await?;
            let result = async {
                loop {
                    let at = offset + delivered.get();
                    match c.sftp.read(handle.clone(), at, CHUNK as u32).await {
                        Ok(data) if data.data.is_empty() => return Ok(()),
                        Ok(data) => {
                            sink.borrow_mut().write_all(&data.data).map_err(|e| Fail {
                                err: TransportError::from_io(
                                    op,
                                    format!("{p}: writing to the sink failed"),
                                    e,
                                ),
                                lost: false,
                            })?;
                            delivered.set(delivered.get() + data.data.len() as u64);
                        }
                        Err(e) if is_eof(&e) => return Ok(()),
                        Err(e) => return Err(sftp_fail(op, &p, e)),
                    }
                }
            }
            .await;
            let closed = close(c, op, &p, handle).await;
            result?;
            // A failed close after a complete read loses nothing.
            if let Err(f) = closed {
                if f.lost {
                    log::debug!("sftp close after read failed: {}", f.err);
                }
            }
            Ok(delivered.get())
        })
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.run(Kind::Effect, async |c, cfg| {
            let p = cfg.remote(path);
            if data.is_empty() {
                // Create the file (or leave it): one OPEN and CLOSE.
                let handle = open(
                    c,
                    "append",
                    &p,
                    OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE,
                )
                .await?;
                return close(c, "append", &p, handle).await;
            }
            let mut chunks = slice_chunks(data);
            append_stream(c, &p, &mut chunks).await.map(|_| ())
        })
    }

    fn append_from(&self, path: &RemotePath, source: &mut dyn Read) -> Result<u64, TransportError> {
        let source = std::cell::RefCell::new(source);
        self.run(Kind::Effect, async |c, cfg| {
            let p = cfg.remote(path);
            let mut next = |buf: &mut Vec<u8>| -> Result<(), Fail> {
                buf.resize(CHUNK, 0);
                let mut filled = 0;
                let mut src = source.borrow_mut();
                while filled < CHUNK {
                    match src.read(&mut buf[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err(Fail {
                                err: TransportError::from_io(
                                    "append",
                                    format!("{p}: reading the data to send failed"),
                                    e,
                                ),
                                lost: false,
                            })
                        }
                    }
                }
                buf.truncate(filled);
                Ok(())
            };
            append_stream(c, &p, &mut next).await
        })
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let temp_name = format!(".{}.{}.tmp", path.file_name(), random_suffix());
        let temp = match path.parent() {
            Some(parent) => parent.join(&temp_name)?,
            None => RemotePath::new(&temp_name)?,
        };
        // The upload goes to a name only this call uses: repeatable.
        self.run(Kind::Idempotent, async |c, cfg| {
            let op = "write_atomic";
            let t = cfg.remote(&temp);
            let handle = open(
                c,
                op,
                &t,
                OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
            )
            .await?;
            let mut chunks = slice_chunks(data);
            let written = write_all(c, op, &t, &handle, 0, &mut chunks).await;
            let closed = close(c, op, &t, handle).await;
            written.and(closed)
        })?;
        let renamed = self.run(Kind::Effect, async |c, cfg| {
            rename_remote(c, &cfg.remote(&temp), &cfg.remote(path)).await
        });
        if renamed.is_err() {
            let _ = self.run(Kind::Effect, async |c, cfg| {
                c.sftp
                    .remove(cfg.remote(&temp))
                    .await
                    .map(|_| ())
                    .map_err(|e| sftp_fail("write_atomic", "temporary file", e))
            });
        }
        renamed
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        self.run(Kind::Idempotent, async |c, cfg| {
            let op = "list";
            let p = cfg.remote(dir);
            let handle = c
                .sftp
                .opendir(p.clone())
                .await
                .map_err(|e| sftp_fail(op, &p, e))?
                .handle;
            let mut entries = Vec::new();
            let result = loop {
                match c.sftp.readdir(handle.clone()).await {
                    Ok(name) => {
                        for f in name.files {
                            if f.filename == "." || f.filename == ".." {
                                continue;
                            }
                            if f.attrs.is_dir() {
                                entries.push(DirEntry::dir(f.filename));
                            } else {
                                entries.push(DirEntry::file(f.filename, f.attrs.size));
                            }
                        }
                    }
                    Err(e) if is_eof(&e) => break Ok(()),
                    Err(e) => break Err(sftp_fail(op, &p, e)),
                }
            };
            let _ = close(c, op, &p, handle).await;
            result.map(|()| entries)
        })
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run(Kind::Effect, async |c, cfg| {
            let p = cfg.remote(path);
            match c.sftp.mkdir(p.clone(), FileAttributes::empty()).await {
                Ok(_) => Ok(()),
                Err(SftpClientError::Status(s)) if s.status_code == StatusCode::Failure => {
                    // OpenSSH answers FAILURE for EEXIST: settle it by looking.
                    if c.sftp.lstat(p.clone()).await.is_ok() {
                        Err(Fail::new(
                            TransportErrorKind::AlreadyExists,
                            "make_dir",
                            format!("{p} exists already"),
                        ))
                    } else {
                        Err(sftp_fail("make_dir", &p, SftpClientError::Status(s)))
                    }
                }
                Err(e) => Err(sftp_fail("make_dir", &p, e)),
            }
        })
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run(Kind::Effect, async |c, cfg| {
            let p = cfg.remote(path);
            c.sftp
                .remove(p.clone())
                .await
                .map(|_| ())
                .map_err(|e| sftp_fail("remove_file", &p, e))
        })
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run(Kind::Effect, async |c, cfg| {
            let p = cfg.remote(path);
            c.sftp
                .rmdir(p.clone())
                .await
                .map(|_| ())
                .map_err(|e| sftp_fail("remove_dir", &p, e))
        })
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.run(Kind::Effect, async |c, cfg| {
            rename_remote(c, &cfg.remote(from), &cfg.remote(to)).await
        })
    }

    fn take_events(&self) -> Vec<TransportEvent> {
        std::mem::take(&mut *lock(&self.events))
    }
}

impl Drop for SftpTransport {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        let State { runtime, conn, .. } = &mut *state;
        if let Some(c) = conn.take() {
            let _ = c.sftp.close_session();
            let _ = runtime.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(1),
                    c.handle
                        .disconnect(russh::Disconnect::ByApplication, "", "en"),
                )
                .await
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c =
            SftpConfig::from_url("sftp://alice:s3cret%3Ap%40ss@127.0.0.1:2222/chat/room").unwrap();
        assert_eq!(c.user, "alice");
        assert_eq!(
            c.password.as_deref().map(|p| p.as_str()),
            Some("s3cret:p@ss")
        );
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 2222));
        assert_eq!(c.root, "chat/room");
        assert_eq!(c.host_label(), "[127.0.0.1]:2222");
        assert!(!format!("{c:?}").contains("s3cret"));
        let t = SftpTransport::new(c).unwrap();
        assert_eq!(t.describe(), "sftp://alice@127.0.0.1:2222/chat/room");
        assert!(!format!("{t:?}").contains("s3cret"));

        let abs = SftpConfig::from_url("sftp://bob@example.org//srv/chat").unwrap();
        assert_eq!((abs.root.as_str(), abs.port), ("/srv/chat", 22));
        assert_eq!(
            abs.remote(&RemotePath::new("a/b").unwrap()),
            "/srv/chat/a/b"
        );
        assert_eq!(abs.host_label(), "example.org");
        let home = SftpConfig::from_url("sftp://bob@example.org").unwrap();
        assert_eq!(home.remote(&RemotePath::new("x").unwrap()), "x");

        for bad in [
            "sftp://example.org/chat",
            "sftp://u@/chat",
            "ftp://u@host/chat",
            "sftp://u@host/a%0Ab",
            "sftp://u%0D@host/a",
            "sftp://u:%ZZ@host/a",
        ] {
            let err = SftpConfig::from_url(bad).unwrap_err();
            assert_eq!(err.kind(), TransportErrorKind::InvalidPath, "{bad}");
        }
    }
}
