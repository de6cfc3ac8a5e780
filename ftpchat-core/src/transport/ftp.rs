//! FTP and explicit FTPS (`AUTH TLS`) transport over suppaftp's blocking client and rustls.

// The code is split by concern:
// - `session`: one logged-in control connection (connect, greeting, passive mode, login,
//   `TYPE I`, root `CWD`, `FEAT`) and reconnecting with backoff;
// - `tls`: `AUTH TLS`/`PBSZ`/`PROT` and the only decision about plain text;
// - `commands`: `SIZE`, `CWD` checks, `MKD`, `DELE`, `RMD`, `RNFR`/`RNTO`, listings;
// - `transfer`: data connections (`RETR` with `REST`, `APPE`, `STOR`, listing downloads);
// - `reply`: `ReplyCode`, the one way replies are read, and errors (`Failure`);
// - `secret`: the password; `config`: settings and URLs; `listing`: listing parsers.
// This file holds the public transport: locking, the retry rules and the events.

mod commands;
mod config;
mod listing;
mod reply;
mod secret;
mod session;
mod tls;
mod transfer;

use std::io::{Read, Write};
use std::sync::{Mutex, MutexGuard};

pub use config::{FtpConfig, FtpConfigBuilder, FtpConfigError, TlsPolicy};

use self::commands::Unsupported;
use self::reply::Failure;
use self::session::{Connected, Features, Session, State};
use super::{
    Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
    TransportEvent,
};

/// Events kept until [`Transport::take_events`] is called; older ones are dropped.
const MAX_PENDING_EVENTS: usize = 64;

/// FTP and explicit FTPS (`AUTH TLS`) transport over suppaftp's blocking client and rustls.
///
/// [`FtpTransport`] keeps **one** control connection, opened on first use (or by
/// [`FtpTransport::connect`]) and reused by every operation behind a mutex. After each login
/// it switches to binary (`TYPE I`), uses passive mode (`PASV` with the control connection's
/// address, so a server cannot point data connections elsewhere; `EPSV` over IPv6) and
/// changes into the configured root directory.
///
/// # Paths and the root directory
///
/// The root directory of the URL (`ftp://host/chat/room1`) is relative to the login directory.
/// The transport sends `CWD chat/room1` after every login, so each [`RemotePath`] is sent
/// as-is, relative to that working directory. A missing root is a `NotFound` error on connect.
/// Paths reach the server only as validated [`RemotePath`] strings (no CR/LF/NUL, `..`,
/// absolute paths); suppaftp refuses CR/LF in command lines as a second line of defence.
///
/// # Operations
///
/// | trait method | FTP |
/// |---|---|
/// | `size` | `SIZE` (550 → `None`); a listing of the parent if `SIZE` is unsupported |
/// | `read_from` | `REST n` + `RETR`, streamed into the sink; without `REST`, `RETR` and skip |
/// | `append`, `append_from` | `APPE` (streamed for `append_from`) |
/// | `write_atomic` | `STOR .name.<random>.tmp` in the same directory, then `RNFR`/`RNTO` |
/// | `list` | `MLSD` if the server has it, else `LIST` (Unix or DOS format), else `NLST`+`SIZE` |
/// | `make_dir` | `MKD`; a refusal for a path that exists afterwards is `AlreadyExists` |
/// | `remove_file`, `remove_dir` | `DELE`, `RMD` |
/// | `rename` | `RNFR`+`RNTO`; if refused because the target exists, `DELE` it and retry |
///
/// # Errors, reconnects and retries
///
/// 4xx replies and I/O errors (reset, EOF, timeouts) are [`TransportErrorKind::Transient`];
/// 550 is `NotFound` (or `PermissionDenied` when the reply or a follow-up check says the
/// file exists); 553 is `PermissionDenied`; 530/532/430 at login are `Permanent`;
/// 500/502/504 are `Unsupported`; TLS certificate failures are `Permanent`.
///
/// When the control connection is lost, the next operation reconnects with bounded
/// exponential backoff (`connect_attempts`, 100 ms doubling to 1 s) and reports
/// [`TransportEvent::Reconnected`]. An operation that failed because the connection dropped is
/// repeated once on the new connection only when repeating it cannot apply it twice: `size`,
/// `read_from` (resumed at the bytes already delivered), `list`, the temporary upload of
/// `write_atomic`, and any operation that failed before its effect was requested (e.g. an
/// `APPE` whose data connection never opened). An `append` whose data may have been sent is
/// **not** repeated: it returns `Transient` and the caller decides (the room engine confirms
/// appends by reading back). Commands with a single effect (`MKD`, `DELE`, `RMD`, `RNTO`)
/// are preceded by a `NOOP` probe so a stale connection is replaced before they are sent.
///
/// # TLS
///
/// `ftps://` and `ftpes://` (the same thing: explicit FTPS) require TLS: `AUTH TLS`, the
/// handshake with certificate verification, `PBSZ 0` and `PROT P` all succeed before `USER`
/// and `PASS` are sent, or the connection fails with a `Permanent` error and the password is
/// never sent. Plain text is only ever the caller's choice, [`TlsPolicy::Preferred`] set in
/// code (never a default, never implied by a URL), and even then only after the server
/// refused `AUTH TLS` as not supported (500, 502, 504, 534); it is reported as
/// [`TransportEvent::TlsFallback`]. A failed handshake, any other reply, or a refusal from a
/// server that accepted `AUTH TLS` before is an error: an active attacker can cause those.
/// See [`TlsPolicy`].
///
/// # Secrets
///
/// The password is kept in zeroizing memory (one copy, shared by the configuration and the
/// session that logs in with it), redacted from `Debug`, absent from
/// [`describe`](Transport::describe) and scrubbed from server replies quoted in errors. It
/// is sent after `AUTH TLS` when TLS is in use. suppaftp logs every command line at `trace`
/// level; the transport sends `PASS` through a one-shot encoding that substitutes the real
/// password only on the wire, so even that log shows a placeholder.
///
/// # Server notes
///
/// Measured on 127.0.0.1 against libunftp 0.24 (in-process, `unftp-sbe-fs`), pyftpdlib 2.2.0
/// (`ThreadedFTPServer`, plain and `TLS_FTPHandler`) and vsftpd 3.0.3 (Debian 12, plain and
/// `ssl_enable`); all pass the conformance suite. What differed, and what the transport does:
///
/// | | libunftp | pyftpdlib | vsftpd |
/// |---|---|---|---|
/// | `TYPE I` | `200 Always in binary mode` | 200 | 200 |
/// | `MLSD` | yes | yes | `500 Unknown command` |
/// | `MLSD`/`LIST` of a missing dir | 550 | `501 No such directory` / 550 | `LIST`: **226, empty** |
/// | `LIST` hides dot files | no | no | **yes** (`LIST -a` shows them) |
/// | `MKD` existing dir | `550 File not found` | `550 File exists` | `550 Create directory operation failed` |
/// | `MKD` in a missing dir | `550 File not found` | `550 No such file or directory` | same text as existing |
/// | `APPE`/`STOR` in a missing dir | 550 | 550 | **`553 Could not create file`** |
/// | `DELE` missing | `550 File not found` | `550 No such file or directory` | `550 Delete operation failed` |
/// | `DELE` of a directory | `550 File not found` | `550 Is a directory` | `550 Delete operation failed` |
/// | `RMD` non-empty | `550 Directory not empty` | same | `550 Remove directory operation failed` |
/// | `SIZE` of a directory | **`213 4096`** | 550 | 550 |
/// | `REST` past the end + `RETR` | 226, no data | **`554 REST position (10) > file size (3)`** | 226, no data |
/// | `AUTH TLS`, TLS off | `502 TLS/SSL not configured` | `500 Command "AUTH" not understood` | `500 Unknown command` |
/// | idle timeout | unsolicited `221 Session timed out` | | |
///
/// - **Transfer type**: suppaftp starts in ASCII mode, which turns LF into CRLF on upload and
///   makes pyftpdlib refuse `SIZE`/`REST`; `TYPE I` is sent after every login.
/// - **Listings**: `MLSD` when the server has it (`FEAT` lists `MLST`; a 500/502/504 also
///   switches to `LIST` for the rest of the session), else `LIST -a` (plain `LIST` if `-a`
///   is refused) parsed as `ls -l` output, the name being everything after the single space
///   that follows the date (so leading, trailing and double spaces survive), or DOS format;
///   unparsable `LIST` output falls back to `NLST` plus `SIZE` per name. A listing that is
///   refused with any 5xx, or that comes back empty from `LIST`, is confirmed with `CWD dir`
///   (and `CWD` back) and is `NotFound` when the directory does not exist.
///   `capabilities().listing_with_sizes` is false until `FEAT` has shown `MLST`.
/// - **Ambiguous 550/553**: the reply text is not reliable (libunftp says "File not found"
///   for an existing directory, vsftpd gives the same text for every cause), so refusals are
///   settled by looking: `MKD` refused for a path that is then a directory (or a file) is
///   `AlreadyExists`, else `NotFound` if the parent is missing, else `PermissionDenied`;
///   a refused `APPE`/`STOR` whose parent directory is missing is `NotFound`; a refused
///   `DELE` is `NotFound` if nothing is there, `Permanent` for a directory, else
///   `PermissionDenied`; a refused `RMD` is `NotFound` if nothing is there, else
///   `Permanent` (not empty, not a directory); a refused `RETR` is `NotFound` if `SIZE`
///   finds nothing.
/// - **REST past the end**: pyftpdlib's 554 (any refusal of a resumed `RETR`) is followed by
///   `SIZE`: an offset at or past the end reads 0 bytes, a missing file is `NotFound`.
/// - **SIZE of a directory**: libunftp answers with 4096; `size()` passes that on (the
///   protocol never asks for the size of a directory).
/// - **Unsolicited replies**: libunftp closes idle sessions with `221 Session timed out`,
///   which the next command reads as its reply. Any 1xx-3xx reply where another was expected
///   means replies and commands are out of step: the connection is dropped and, for
///   repeatable operations, the operation is repeated on a new one.
/// - **Empty transfers over TLS**: a TLS data connection that ends without `close_notify`
///   (pyftpdlib) is treated as complete when the server then confirms the transfer with 226.
/// - **AUTH TLS refused** (500 or 502, see the table): with [`TlsPolicy::Required`] (every
///   `ftps://` and `ftpes://` URL) it is a `Permanent` error before the password is sent;
///   with [`TlsPolicy::Preferred`] the transport reconnects in plain text and reports
///   [`TransportEvent::TlsFallback`].
/// - **FTPS**: vsftpd needs `require_ssl_reuse=NO` (suppaftp's data connections do not
///   resume the control connection's TLS session). libunftp loses the TLS ClientHello when
///   it arrives before its control loop has switched to TLS after `234` (a race in its
///   select loop; 19 of 300 connects failed with three concurrent clients here): the client
///   sees "corrupt message of type InvalidContentType", a transient error, and the
///   connect backoff tries again, pausing 50 ms (doubling per attempt) between `234` and the
///   handshake; 0 of 300 failed that way. Certificates must be `CA:FALSE` with a SAN for the
///   name connected to; a certificate from another CA, or for another name, is `Permanent`.
/// - **Rename onto an existing file** replaces it on all three; the `DELE`-then-rename
///   fallback is for servers that refuse.
/// - **Concurrent APPE**: vsftpd and pyftpdlib kept every line from 8 concurrent writers;
///   libunftp lost most (it appends at a size read earlier). Hence
///   `atomic_concurrent_append` is `false` ("not known").
pub struct FtpTransport {
    config: FtpConfig,
    state: Mutex<State>,
    /// What `capabilities`, `describe` and `is_secure` report, kept outside `state` so they
    /// answer at once while an operation holds the connection.
    status: Mutex<Known>,
    events: Mutex<Vec<TransportEvent>>,
}

/// A copy of what the connection has learned, for the non-blocking accessors.
#[derive(Debug, Default, Clone, Copy)]
struct Known {
    features: Features,
    secure: Option<bool>,
}

/// Whether an operation may be repeated on a new connection after its connection dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Reading, or writing somewhere only this call uses: repeat after reconnecting.
    Idempotent,
    /// One command with an effect: probe the connection first; repeat only failures that
    /// the operation marks as happening before the effect was requested.
    Effect,
}

impl FtpTransport {
    /// A transport that connects on first use.
    pub fn new(config: FtpConfig) -> Self {
        FtpTransport {
            config,
            state: Mutex::new(State::default()),
            status: Mutex::new(Known::default()),
            events: Mutex::new(Vec::new()),
        }
    }

    /// Parses `url` (see [`FtpConfig::from_url`]) into a transport that connects on first use.
    pub fn from_url(url: &str) -> Result<Self, TransportError> {
        Ok(FtpTransport::new(FtpConfig::from_url(url)?))
    }

    /// Connects and logs in now, so that bad credentials or certificates show up at once.
    pub fn connect(config: FtpConfig) -> Result<Self, TransportError> {
        let transport = FtpTransport::new(config);
        {
            let mut state = transport.lock_state();
            transport.ensure_session(&mut state)?;
        }
        Ok(transport)
    }

    /// The configuration.
    pub fn config(&self) -> &FtpConfig {
        &self.config
    }

    /// Whether the current (or last) connection is encrypted; `None` before the first one.
    pub fn is_secure(&self) -> Option<bool> {
        self.status().secure
    }

    /// Closes the control connection (politely, with `QUIT`); the next operation reconnects.
    pub fn disconnect(&self) {
        let mut state = self.lock_state();
        if let Some(session) = state.session.take() {
            session.quit();
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                // A panic mid-command leaves the connection in an unknown state: drop it.
                let mut guard = poisoned.into_inner();
                guard.session = None;
                guard
            }
        }
    }

    fn status(&self) -> Known {
        match self.status.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn set_status(&self, state: &State) {
        let mut status = match self.status.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        status.features = state.features;
        if let Some(session) = &state.session {
            status.secure = Some(session.secure);
        }
    }

    fn push_event(&self, event: TransportEvent) {
        let mut events = match self.events.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if events.len() >= MAX_PENDING_EVENTS {
            events.remove(0);
        }
        events.push(event);
    }

    /// Connects if there is no session (see [`State::ensure_session`]) and reports a new
    /// connection. Returns whether a new connection was made.
    fn ensure_session(&self, state: &mut State) -> Result<bool, TransportError> {
        let connected = state.ensure_session(&self.config)?;
        Ok(self.connected(state, connected))
    }

    /// Reports a new connection, if one was made: the TLS fallback, the reconnect.
    fn connected(&self, state: &State, connected: Option<Connected>) -> bool {
        let Some(connected) = connected else {
            return false;
        };
        if let Some(reason) = connected.tls_fallback {
            self.push_event(TransportEvent::TlsFallback { reason });
        }
        if connected.reconnect {
            self.push_event(TransportEvent::Reconnected {
                attempts: connected.attempts,
            });
        }
        self.set_status(state);
        true
    }

    /// Runs `op` on a logged-in session, reconnecting and repeating it as described in the
    /// module documentation.
    fn run<T>(
        &self,
        operation: &'static str,
        kind: Kind,
        mut op: impl FnMut(&mut Session, &mut Features) -> Result<T, Failure>,
    ) -> Result<T, TransportError> {
        let mut state = self.lock_state();
        let mut retried = false;
        loop {
            let fresh = self.ensure_session(&mut state)?;
            if kind == Kind::Effect && !fresh {
                // A stale connection is replaced before a command with an effect is sent.
                let connected = state.probe(&self.config)?;
                self.connected(&state, connected);
            }
            let State {
                session, features, ..
            } = &mut *state;
            let Some(session) = session.as_mut() else {
                return Err(TransportError::new(
                    TransportErrorKind::Transient,
                    operation,
                    "not connected",
                ));
            };
            let result = op(session, features);
            self.set_status(&state);
            match result {
                Ok(value) => return Ok(value),
                Err(failure) => {
                    if failure.connection_lost {
                        state.session = None;
                    }
                    let repeat = failure.connection_lost
                        && (kind == Kind::Idempotent || failure.retry_safe)
                        && !retried;
                    if !repeat {
                        return Err(failure.error);
                    }
                    log::debug!("ftp: {operation} failed, retrying: {}", failure.error);
                    self.push_event(TransportEvent::Retrying {
                        operation,
                        error: failure.error.to_string(),
                    });
                    retried = true;
                }
            }
        }
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<DirEntry>, TransportError> {
        self.run("list", Kind::Idempotent, |s, features| {
            s.list(features, dir)
        })
    }

    fn rename_as(
        &self,
        operation: &'static str,
        from: &RemotePath,
        to: &RemotePath,
    ) -> Result<(), TransportError> {
        self.run(operation, Kind::Effect, |s, _| {
            s.rename(operation, from, to)
        })
    }
}

impl std::fmt::Debug for FtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpTransport")
            .field("url", &self.describe())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Transport for FtpTransport {
    fn capabilities(&self) -> Capabilities {
        let features = self.status().features;
        Capabilities::new(
            true,
            features.rest != Some(false),
            features.mlsd == Some(true),
            false,
        )
    }

    fn describe(&self) -> String {
        let secure = match self.config.tls {
            TlsPolicy::Required => true,
            TlsPolicy::Disabled => false,
            TlsPolicy::Preferred => self.status().secure.unwrap_or(true),
        };
        self.config.describe_with_scheme(secure)
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        let by_size = self.run("size", Kind::Idempotent, |s, features| {
            s.size(features, path)
        })?;
        match by_size {
            Ok(size) => Ok(size),
            // No SIZE: find the file in its directory's listing.
            Err(Unsupported) => {
                let entries = match path.parent() {
                    Some(parent) => self.list(&parent),
                    None => self.list_dir("."),
                };
                let entries = match entries {
                    Ok(e) => e,
                    Err(e) if e.kind() == TransportErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e),
                };
                Ok(entries
                    .into_iter()
                    .find(|e| e.name == path.file_name() && !e.is_dir)
                    .and_then(|e| e.size.or(Some(0))))
            }
        }
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        // Bytes already handed to the sink: a repeated attempt resumes after them.
        let mut delivered = 0u64;
        self.run("read", Kind::Idempotent, |s, features| {
            s.read_from(features, path, offset, &mut delivered, sink)
        })
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.run("append", Kind::Effect, |s, _| s.append(path, data))
    }

    fn append_from(&self, path: &RemotePath, source: &mut dyn Read) -> Result<u64, TransportError> {
        // Not repeated once data may have been sent: the caller resumes from `size`.
        self.run("append", Kind::Effect, |s, _| s.append_from(path, source))
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let temp = transfer::temp_sibling(path)?;
        // The temporary name is this call's alone, so the upload may be repeated.
        self.run("write_atomic", Kind::Idempotent, |s, _| {
            s.store("write_atomic", &temp, data)
        })?;
        if let Err(err) = self.rename_as("write_atomic", &temp, path) {
            // Best effort: do not leave the temporary file behind.
            let _ = self.remove_file(&temp);
            return Err(err);
        }
        Ok(())
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        self.list_dir(dir.as_str())
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run("make_dir", Kind::Effect, |s, _| s.make_dir(path))
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run("remove_file", Kind::Effect, |s, _| s.remove_file(path))
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run("remove_dir", Kind::Effect, |s, _| s.remove_dir(path))
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.rename_as("rename", from, to)
    }

    fn take_events(&self) -> Vec<TransportEvent> {
        let mut events = match self.events.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *events)
    }
}
