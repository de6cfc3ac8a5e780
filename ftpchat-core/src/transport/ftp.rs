//! FTP and explicit FTPS (`AUTH TLS`) transport over suppaftp's blocking client and rustls.
//!
//! [`FtpTransport`] keeps **one** control connection, opened on first use (or by
//! [`FtpTransport::connect`]) and reused by every operation behind a mutex. After each login
//! it switches to binary (`TYPE I`), uses passive mode (`PASV` with the control connection's
//! address, so a server cannot point data connections elsewhere; `EPSV` over IPv6) and
//! changes into the configured root directory.
//!
//! # Paths and the root directory
//!
//! The root directory of the URL (`ftp://host/chat/room1`) is relative to the login directory.
//! The transport sends `CWD chat/room1` after every login, so each [`RemotePath`] is sent
//! as-is, relative to that working directory. A missing root is a `NotFound` error on connect.
//! Paths reach the server only as validated [`RemotePath`] strings (no CR/LF/NUL, `..`,
//! absolute paths); suppaftp refuses CR/LF in command lines as a second line of defence.
//!
//! # Operations
//!
//! | trait method | FTP |
//! |---|---|
//! | `size` | `SIZE` (550 → `None`); a listing of the parent if `SIZE` is unsupported |
//! | `read_from` | `REST n` + `RETR`, streamed into the sink; without `REST`, `RETR` and skip |
//! | `append` | `APPE` |
//! | `write_atomic` | `STOR .name.<random>.tmp` in the same directory, then `RNFR`/`RNTO` |
//! | `list` | `MLSD` if the server has it, else `LIST` (Unix or DOS format), else `NLST`+`SIZE` |
//! | `make_dir` | `MKD`; a refusal for a path that exists afterwards is `AlreadyExists` |
//! | `remove_file`, `remove_dir` | `DELE`, `RMD` |
//! | `rename` | `RNFR`+`RNTO`; if refused because the target exists, `DELE` it and retry |
//!
//! # Errors, reconnects and retries
//!
//! 4xx replies and I/O errors (reset, EOF, timeouts) are [`TransportErrorKind::Transient`];
//! 550 is `NotFound` (or `PermissionDenied` when the reply or a follow-up check says the
//! file exists); 553 is `PermissionDenied`; 530/532/430 at login are `Permanent`;
//! 500/502/504 are `Unsupported`; TLS certificate failures are `Permanent`.
//!
//! When the control connection is lost, the next operation reconnects with bounded
//! exponential backoff (`connect_attempts`, 100 ms doubling to 1 s) and reports
//! [`TransportEvent::Reconnected`]. An operation that failed because the connection dropped is
//! repeated once on the new connection only when repeating it cannot apply it twice: `size`,
//! `read_from` (resumed at the bytes already delivered), `list`, the temporary upload of
//! `write_atomic`, and any operation that failed before its effect was requested (e.g. an
//! `APPE` whose data connection never opened). An `append` whose data may have been sent is
//! **not** repeated: it returns `Transient` and the caller decides (the room engine confirms
//! appends by reading back). Commands with a single effect (`MKD`, `DELE`, `RMD`, `RNTO`)
//! are preceded by a `NOOP` probe so a stale connection is replaced before they are sent.
//!
//! # Secrets
//!
//! The password is kept in zeroizing memory, redacted from `Debug`, absent from
//! [`describe`](Transport::describe) and scrubbed from server replies quoted in errors. It
//! is sent after `AUTH TLS` when TLS is in use. suppaftp logs every command line at `trace`
//! level; the transport sends `PASS` through a one-shot encoding that substitutes the real
//! password only on the wire, so even that log shows a placeholder.
//!
//! # Server notes
//!
//! Measured on 127.0.0.1 against libunftp 0.24 (in-process, `unftp-sbe-fs`), pyftpdlib 2.2.0
//! (`ThreadedFTPServer`, plain and `TLS_FTPHandler`) and vsftpd 3.0.3 (Debian 12, plain and
//! `ssl_enable`); all pass the conformance suite. What differed, and what the transport does:
//!
//! | | libunftp | pyftpdlib | vsftpd |
//! |---|---|---|---|
//! | `TYPE I` | `200 Always in binary mode` | 200 | 200 |
//! | `MLSD` | yes | yes | `500 Unknown command` |
//! | `MLSD`/`LIST` of a missing dir | 550 | `501 No such directory` / 550 | `LIST`: **226, empty** |
//! | `LIST` hides dot files | no | no | **yes** (`LIST -a` shows them) |
//! | `MKD` existing dir | `550 File not found` | `550 File exists` | `550 Create directory operation failed` |
//! | `MKD` in a missing dir | `550 File not found` | `550 No such file or directory` | same text as existing |
//! | `APPE`/`STOR` in a missing dir | 550 | 550 | **`553 Could not create file`** |
//! | `DELE` missing | `550 File not found` | `550 No such file or directory` | `550 Delete operation failed` |
//! | `DELE` of a directory | `550 File not found` | `550 Is a directory` | `550 Delete operation failed` |
//! | `RMD` non-empty | `550 Directory not empty` | same | `550 Remove directory operation failed` |
//! | `SIZE` of a directory | **`213 4096`** | 550 | 550 |
//! | `REST` past the end + `RETR` | 226, no data | **`554 REST position (10) > file size (3)`** | 226, no data |
//! | `AUTH TLS`, TLS off | `502 TLS/SSL not configured` | `500 Command "AUTH" not understood` | `500 Unknown command` |
//! | idle timeout | unsolicited `221 Session timed out` | | |
//!
//! - **Transfer type**: suppaftp starts in ASCII mode, which turns LF into CRLF on upload and
//!   makes pyftpdlib refuse `SIZE`/`REST`; `TYPE I` is sent after every login.
//! - **Listings**: `MLSD` when the server has it (`FEAT` lists `MLST`; a 500/502/504 also
//!   switches to `LIST` for the rest of the session), else `LIST -a` (plain `LIST` if `-a`
//!   is refused) parsed as `ls -l` output, the name being everything after the single space
//!   that follows the date (so leading, trailing and double spaces survive), or DOS format;
//!   unparsable `LIST` output falls back to `NLST` plus `SIZE` per name. A listing that is
//!   refused with any 5xx, or that comes back empty from `LIST`, is confirmed with `CWD dir`
//!   (and `CWD` back) and is `NotFound` when the directory does not exist.
//!   `capabilities().listing_with_sizes` is false until `FEAT` has shown `MLST`.
//! - **Ambiguous 550/553**: the reply text is not reliable (libunftp says "File not found"
//!   for an existing directory, vsftpd gives the same text for every cause), so refusals are
//!   settled by looking: `MKD` refused for a path that is then a directory (or a file) is
//!   `AlreadyExists`, else `NotFound` if the parent is missing, else `PermissionDenied`;
//!   a refused `APPE`/`STOR` whose parent directory is missing is `NotFound`; a refused
//!   `DELE` is `NotFound` if nothing is there, `Permanent` for a directory, else
//!   `PermissionDenied`; a refused `RMD` is `NotFound` if nothing is there, else
//!   `Permanent` (not empty, not a directory); a refused `RETR` is `NotFound` if `SIZE`
//!   finds nothing.
//! - **REST past the end**: pyftpdlib's 554 (any refusal of a resumed `RETR`) is followed by
//!   `SIZE`: an offset at or past the end reads 0 bytes, a missing file is `NotFound`.
//! - **SIZE of a directory**: libunftp answers with 4096; `size()` passes that on (the
//!   protocol never asks for the size of a directory).
//! - **Unsolicited replies**: libunftp closes idle sessions with `221 Session timed out`,
//!   which the next command reads as its reply. Any 1xx-3xx reply where another was expected
//!   means replies and commands are out of step: the connection is dropped and, for
//!   repeatable operations, the operation is repeated on a new one.
//! - **Empty transfers over TLS**: a TLS data connection that ends without `close_notify`
//!   (pyftpdlib) is treated as complete when the server then confirms the transfer with 226.
//! - **AUTH TLS refused** (any reply, see the table): with [`TlsPolicy::Preferred`] the
//!   transport reconnects in plain text and reports [`TransportEvent::TlsFallback`]; with
//!   [`TlsPolicy::Required`] it is a `Permanent` error before the password is sent.
//! - **FTPS**: vsftpd needs `require_ssl_reuse=NO` (suppaftp's data connections do not
//!   resume the control connection's TLS session). libunftp loses the TLS ClientHello when
//!   it arrives before its control loop has switched to TLS after `234` (a race in its
//!   select loop; 19 of 300 connects failed with three concurrent clients here): the client
//!   sees "corrupt message of type InvalidContentType", a transient error, and the
//!   connect backoff tries again, pausing 50 ms (doubling per attempt) between `234` and the
//!   handshake; 0 of 300 failed that way. Certificates must be `CA:FALSE` with a SAN for the
//!   name connected to; a certificate from another CA, or for another name, is `Permanent`.
//! - **Rename onto an existing file** replaces it on all three; the `DELE`-then-rename
//!   fallback is for servers that refuse.
//! - **Concurrent APPE**: vsftpd and pyftpdlib kept every line from 8 concurrent writers;
//!   libunftp lost most (it appends at a size read earlier). Hence
//!   `atomic_concurrent_append` is `false` ("not known").
//! - **pyftpdlib passive ports**: its session threads pick passive ports independently and
//!   a collision closes the session (`EADDRINUSE`); the transport sees a lost connection and
//!   repeats the operation when that is safe (an `APPE` whose data connection never opened).

mod config;
mod listing;
mod reply;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use suppaftp::types::FileType;
use suppaftp::{Encoding, FtpError, Mode, RustlsConnector, RustlsFtpStream, Status, Utf8Encoding};
use zeroize::Zeroizing;

pub use config::{
    FtpConfig, FtpConfigBuilder, FtpConfigError, TlsPolicy, DEFAULT_CONNECT_ATTEMPTS,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, DEFAULT_PORT,
};

use self::listing::Line;
use self::reply::{map_error, reply_code, reply_text, Failure};
use super::{
    Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
    TransportEvent,
};

/// The largest directory listing read (about 300,000 entries); more is an error.
const MAX_LISTING_BYTES: usize = 16 << 20;
/// Pause between `234` and the TLS handshake on a repeated connection attempt; doubled per
/// attempt (libunftp can lose a ClientHello that arrives before it switches to TLS).
const TLS_UPGRADE_PAUSE: Duration = Duration::from_millis(50);
/// First delay between connection attempts; doubled after each failure.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest delay between connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Events kept until [`Transport::take_events`] is called; older ones are dropped.
const MAX_PENDING_EVENTS: usize = 64;
/// Size of the buffer used to stream downloads into the caller's sink.
const COPY_BUFFER: usize = 64 * 1024;
/// What suppaftp sees (and may log) as the password; the encoding swaps in the real one.
const PASSWORD_PLACEHOLDER: &str = "********";

/// An FTP or FTPS [`Transport`]. See the [module documentation](self).
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

/// What the server is known to support; `None` until learned.
#[derive(Debug, Default, Clone, Copy)]
struct Features {
    mlsd: Option<bool>,
    /// `LIST -a` (show dot files) is understood.
    list_all: Option<bool>,
    rest: Option<bool>,
    size: Option<bool>,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    features: Features,
    /// A connection was made before, so the next one is a reconnect.
    connected_before: bool,
}

/// One logged-in control connection.
struct Session {
    ftp: RustlsFtpStream,
    secure: bool,
    /// The working directory after changing into the root, to return to after `CWD` checks.
    home: Option<String>,
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
        if let Some(mut session) = state.session.take() {
            let _ = session.ftp.quit();
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

    fn password(&self) -> &str {
        &self.config.password
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
                self.probe(&mut state)?;
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

    /// Replaces a connection that no longer answers `NOOP`, before a command with an effect.
    fn probe(&self, state: &mut State) -> Result<(), TransportError> {
        let alive = match state.session.as_mut() {
            Some(session) => session.ftp.noop().is_ok(),
            None => false,
        };
        if !alive {
            state.session = None;
            self.ensure_session(state)?;
        }
        Ok(())
    }

    /// Connects if there is no session, trying `connect_attempts` times with backoff.
    /// Returns whether a new connection was made.
    fn ensure_session(&self, state: &mut State) -> Result<bool, TransportError> {
        if state.session.is_some() {
            return Ok(false);
        }
        let attempts = self.config.connect_attempts.max(1);
        let mut delay = BACKOFF_START;
        let mut attempt: u32 = 1;
        loop {
            // The first attempt starts TLS at once; later ones give the server time to switch.
            let tls_pause = if attempt == 1 {
                Duration::ZERO
            } else {
                (TLS_UPGRADE_PAUSE * 2u32.pow(attempt.saturating_sub(2).min(4))).min(BACKOFF_MAX)
            };
            match self.open_session(&mut state.features, tls_pause) {
                Ok((session, fallback)) => {
                    if let Some(reason) = fallback {
                        self.push_event(TransportEvent::TlsFallback { reason });
                    }
                    if state.connected_before {
                        log::info!(
                            "ftp: reconnected to {} after {attempt} attempt(s)",
                            self.config.describe_with_scheme(session.secure)
                        );
                        self.push_event(TransportEvent::Reconnected { attempts: attempt });
                    }
                    state.connected_before = true;
                    state.session = Some(session);
                    self.set_status(state);
                    return Ok(true);
                }
                Err(err) if err.is_transient() && attempt < attempts => {
                    log::debug!("ftp: connection attempt {attempt} failed: {err}");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(BACKOFF_MAX);
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Opens a TCP connection to the configured host with the configured timeouts.
    fn connect_tcp(&self) -> Result<TcpStream, TransportError> {
        let address = (self.config.host.as_str(), self.config.port);
        let addrs: Vec<SocketAddr> = address
            .to_socket_addrs()
            .map_err(|e| {
                TransportError::from_io(
                    "connect",
                    format!("cannot resolve {}", self.config.host),
                    e,
                )
            })?
            .collect();
        let mut last_err = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.config.connect_timeout) {
                Ok(stream) => {
                    let io_timeout = Some(self.config.io_timeout);
                    let configured = stream
                        .set_read_timeout(io_timeout)
                        .and_then(|()| stream.set_write_timeout(io_timeout))
                        .and_then(|()| stream.set_nodelay(true));
                    match configured {
                        Ok(()) => return Ok(stream),
                        Err(e) => last_err = e,
                    }
                }
                Err(e) => last_err = e,
            }
        }
        Err(TransportError::with_source(
            TransportErrorKind::Transient,
            "connect",
            format!(
                "cannot connect to {}:{}: {last_err}",
                self.config.host, self.config.port
            ),
            last_err,
        ))
    }

    /// Connects, reads the greeting and sets up passive mode with timeouts.
    fn open_plain(&self) -> Result<RustlsFtpStream, TransportError> {
        let tcp = self.connect_tcp()?;
        let ipv6 = tcp.peer_addr().map(|a| a.is_ipv6()).unwrap_or(false);
        let mut ftp = RustlsFtpStream::connect_with_stream(tcp)
            .map_err(|e| map_error("connect", "greeting", e, "").error)?;
        let connect_timeout = self.config.connect_timeout;
        let io_timeout = self.config.io_timeout;
        ftp = ftp.passive_stream_builder(move |addr| {
            let stream = TcpStream::connect_timeout(&addr, connect_timeout)
                .map_err(FtpError::ConnectionError)?;
            stream
                .set_read_timeout(Some(io_timeout))
                .and_then(|()| stream.set_write_timeout(Some(io_timeout)))
                .map_err(FtpError::ConnectionError)?;
            Ok(stream)
        });
        if ipv6 {
            ftp.set_mode(Mode::ExtendedPassive);
        } else {
            ftp.set_mode(Mode::Passive);
            // Data connections go to the control connection's address, whatever PASV says.
            ftp.set_passive_nat_workaround(true);
        }
        Ok(ftp)
    }

    /// Opens a logged-in session; also returns the TLS fallback reason, if any.
    fn open_session(
        &self,
        features: &mut Features,
        tls_pause: Duration,
    ) -> Result<(Session, Option<String>), TransportError> {
        let plain = self.open_plain()?;
        let (mut ftp, secure, fallback) = match (&self.config.tls_client, self.config.tls) {
            (None, _) | (_, TlsPolicy::Disabled) => (plain, false, None),
            (Some(tls), policy) => {
                let connector = UpgradeConnector {
                    inner: RustlsConnector::from(Arc::clone(tls)),
                    pause: Mutex::new(Some(tls_pause).filter(|p| !p.is_zero())),
                };
                match plain.into_secure(connector, self.config.server_name()) {
                    Ok(ftp) => (ftp, true, None),
                    // Only a refusal (5xx) means "no TLS here"; a 4xx (busy) is not a reason
                    // to send the password in plain text.
                    Err(err @ FtpError::UnexpectedResponse(_))
                        if policy == TlsPolicy::Preferred
                            && matches!(reply_code(&err), Some(500..=599)) =>
                    {
                        let reason = format!(
                            "server refused AUTH TLS: {}",
                            reply_text(&err).unwrap_or_default()
                        );
                        log::warn!("ftp: {reason}; continuing without TLS");
                        // The refused stream was consumed by `into_secure`; start over in plain.
                        (self.open_plain()?, false, Some(reason))
                    }
                    Err(err) => {
                        let mut failure = map_error("connect", "AUTH TLS", err, "");
                        if failure.error.kind() != TransportErrorKind::Transient {
                            failure.error = TransportError::new(
                                TransportErrorKind::Permanent,
                                "connect",
                                failure.error.to_string(),
                            );
                        }
                        return Err(failure.error);
                    }
                }
            }
        };
        self.login(&mut ftp)?;
        ftp.transfer_type(FileType::Binary)
            .map_err(|e| map_error("connect", "TYPE I", e, self.password()).error)?;
        if let Some(root) = &self.config.root {
            ftp.cwd(root.as_str()).map_err(|e| {
                let mut failure = map_error("connect", "root directory", e, self.password());
                if failure.error.kind() == TransportErrorKind::NotFound {
                    failure.error = TransportError::new(
                        TransportErrorKind::NotFound,
                        "connect",
                        format!("root directory {root} does not exist"),
                    );
                }
                failure.error
            })?;
        }
        let home = ftp.pwd().ok();
        if let Ok(feat) = ftp.feat() {
            let has = |name: &str| feat.keys().any(|k| k.eq_ignore_ascii_case(name));
            features.mlsd = Some(has("MLST") || has("MLSD"));
            if has("REST") {
                features.rest.get_or_insert(true);
            }
            if has("SIZE") {
                features.size.get_or_insert(true);
            }
        }
        Ok((Session { ftp, secure, home }, fallback))
    }

    /// USER/PASS. The password goes through [`PasswordEncoding`] so suppaftp's logs only
    /// ever see [`PASSWORD_PLACEHOLDER`].
    fn login(&self, ftp: &mut RustlsFtpStream) -> Result<(), TransportError> {
        let password = self.config.login_password();
        ftp.set_encoding(PasswordEncoding {
            line: Zeroizing::new(format!("PASS {password}\r\n")),
        });
        let result = ftp.login(self.config.login_user(), PASSWORD_PLACEHOLDER);
        ftp.set_encoding(Utf8Encoding);
        result.map_err(|err| {
            let code = reply_code(&err);
            let mut failure = map_error("login", "login", err, password);
            if matches!(code, Some(430 | 530 | 532 | 332)) {
                failure.error = TransportError::new(
                    TransportErrorKind::Permanent,
                    "login",
                    format!(
                        "login as {} refused (bad credentials?): {}",
                        self.config.login_user(),
                        failure.error
                    ),
                );
            }
            failure.error
        })
    }
}

/// rustls, pausing once before the control connection's handshake when asked to (see
/// [`TLS_UPGRADE_PAUSE`]); data connections go through unchanged.
#[derive(Debug)]
struct UpgradeConnector {
    inner: RustlsConnector,
    pause: Mutex<Option<Duration>>,
}

impl suppaftp::TlsConnector for UpgradeConnector {
    type Stream = <RustlsConnector as suppaftp::TlsConnector>::Stream;

    fn connect(&self, domain: &str, stream: TcpStream) -> suppaftp::FtpResult<Self::Stream> {
        let pause = match self.pause.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(pause) = pause {
            std::thread::sleep(pause);
        }
        self.inner.connect(domain, stream)
    }
}

/// Encodes command lines as UTF-8, except the placeholder `PASS` line, which becomes the
/// real one. suppaftp logs command lines before encoding them, so logs never see the password.
struct PasswordEncoding {
    line: Zeroizing<String>,
}

impl std::fmt::Debug for PasswordEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordEncoding(<redacted>)")
    }
}

impl Encoding for PasswordEncoding {
    fn decode(&self, bytes: &[u8]) -> String {
        Utf8Encoding.decode(bytes)
    }

    fn encode(&self, text: &str) -> io::Result<Vec<u8>> {
        if text.strip_prefix("PASS ") == Some(&format!("{PASSWORD_PLACEHOLDER}\r\n")) {
            Ok(self.line.as_bytes().to_vec())
        } else {
            Utf8Encoding.encode(text)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Operations on one session. Each returns a `Failure` saying whether it may be repeated.

/// Which part of a transfer failed.
enum DataError {
    /// Reading or writing the data connection.
    Network(io::Error),
    /// Writing into the caller's sink.
    Sink(io::Error),
}

impl Session {
    /// `CWD path` and back: whether `path` is a directory. Leaves the working directory as
    /// it was (an error returning is a lost connection).
    fn dir_exists(&mut self, path: &str, password: &str) -> Result<bool, Failure> {
        match self.ftp.cwd(path) {
            Ok(()) => {
                self.return_home(path, password)?;
                Ok(true)
            }
            Err(err @ FtpError::UnexpectedResponse(_)) => {
                let code = reply_code(&err).unwrap_or(0);
                if (500..600).contains(&code) {
                    Ok(false)
                } else {
                    Err(map_error("stat", path, err, password))
                }
            }
            Err(err) => Err(map_error("stat", path, err, password)),
        }
    }

    fn return_home(&mut self, from: &str, password: &str) -> Result<(), Failure> {
        let result = match &self.home {
            Some(home) => self.ftp.cwd(home.as_str()),
            None => (0..from.split('/').count()).try_for_each(|_| self.ftp.cdup()),
        };
        result.map_err(|err| {
            // The working directory is now unknown: the connection must be replaced.
            let mut failure = map_error("stat", "return to the root directory", err, password);
            failure.connection_lost = true;
            failure
        })
    }

    /// `SIZE`, with 550 meaning "no such file"; `Ok(Err(()))` when SIZE is unsupported.
    fn size_of(&mut self, path: &str, password: &str) -> Result<Result<Option<u64>, ()>, Failure> {
        match self.ftp.size(path) {
            Ok(n) => Ok(Ok(Some(n as u64))),
            Err(err @ FtpError::UnexpectedResponse(_)) => match reply_code(&err) {
                Some(550) => Ok(Ok(None)),
                Some(500 | 502 | 504) => Ok(Err(())),
                _ => Err(map_error("size", path, err, password)),
            },
            Err(err) => Err(map_error("size", path, err, password)),
        }
    }

    /// Reads a data connection opened by `open` to its end, handing chunks to `chunk`, then
    /// reads the transfer's completion reply. On failure, also returns the bytes delivered.
    fn read_data(
        &mut self,
        operation: &'static str,
        subject: &str,
        open: impl FnOnce(&mut RustlsFtpStream) -> Result<Transfer, FtpError>,
        chunk: impl FnMut(&[u8]) -> io::Result<()>,
        password: &str,
    ) -> Result<u64, (Failure, u64)> {
        read_transfer(&mut self.ftp, operation, subject, open, chunk, password)
    }

    /// Lines of a listing command (`MLSD dir`, `LIST dir`, `NLST dir`).
    fn listing_lines(
        &mut self,
        command: &str,
        dir: &str,
        password: &str,
    ) -> Result<Vec<String>, Failure> {
        let mut bytes = Vec::new();
        let line = format!("{command} {dir}");
        self.read_data(
            "list",
            dir,
            |ftp| {
                ftp.custom_data_command(line, &[Status::AboutToSend, Status::AlreadyOpen])
                    .map(|(_, stream)| stream)
            },
            |chunk| {
                // A directory anyone can fill must not make a poll allocate without bound.
                if bytes.len() + chunk.len() > MAX_LISTING_BYTES {
                    return Err(io::Error::other(format!(
                        "the listing is larger than {} MiB",
                        MAX_LISTING_BYTES >> 20
                    )));
                }
                bytes.extend_from_slice(chunk);
                Ok(())
            },
            password,
        )
        .map_err(|(f, _)| f)?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.trim().is_empty())
            .collect())
    }
}

impl FtpTransport {
    fn do_size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        let password = self.password();
        let by_size = self.run("size", Kind::Idempotent, |s, features| {
            if features.size == Some(false) {
                return Ok(Err(()));
            }
            let result = s.size_of(path.as_str(), password)?;
            if result.is_err() {
                features.size = Some(false);
            }
            Ok(result)
        })?;
        match by_size {
            Ok(size) => Ok(size),
            // No SIZE: find the file in its directory's listing.
            Err(()) => {
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

    fn do_read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        let password = self.password();
        let name = path.as_str();
        // Bytes already handed to the sink: a repeated attempt resumes after them.
        let mut delivered = 0u64;
        self.run("read", Kind::Idempotent, |s, features| {
            loop {
                let start = offset + delivered;
                let use_rest = start > 0 && features.rest != Some(false);
                // Without REST the whole file comes again: skip what is not wanted.
                let mut skip = if use_rest { 0 } else { start };
                let result = s.read_data(
                    "read",
                    name,
                    |ftp| {
                        if use_rest {
                            ftp.resume_transfer(start as usize)?;
                        }
                        ftp.retr_as_stream(name)
                    },
                    |chunk| {
                        let drop_n = skip.min(chunk.len() as u64) as usize;
                        skip -= drop_n as u64;
                        let rest = &chunk[drop_n..];
                        if !rest.is_empty() {
                            sink.write_all(rest)?;
                            delivered += rest.len() as u64;
                        }
                        Ok(())
                    },
                    password,
                );
                let (failure, _) = match result {
                    Ok(_) => return Ok(delivered),
                    Err(e) => e,
                };
                if failure.connection_lost {
                    return Err(failure);
                }
                let code = reply_code_of(&failure);
                match code {
                    // REST not implemented: read everything and skip.
                    Some(500 | 502 | 504) if use_rest => {
                        features.rest = Some(false);
                        continue;
                    }
                    // 550: missing, or refused for another reason.
                    Some(550) => {
                        return match s.size_of(name, password)? {
                            Ok(None) => Err(Failure::final_error(TransportError::new(
                                TransportErrorKind::NotFound,
                                "read",
                                format!("{name}: no such file"),
                            ))),
                            _ => Err(failure),
                        }
                    }
                    // REST past the end (pyftpdlib 554): nothing to read if the file is shorter.
                    Some(_) if start > 0 => match s.size_of(name, password)? {
                        Ok(Some(size)) if size <= start => return Ok(delivered),
                        Ok(None) => {
                            return Err(Failure::final_error(TransportError::new(
                                TransportErrorKind::NotFound,
                                "read",
                                format!("{name}: no such file"),
                            )))
                        }
                        _ => return Err(failure),
                    },
                    _ => return Err(failure),
                }
            }
        })
    }

    fn do_append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let password = self.password();
        let name = path.as_str();
        self.run("append", Kind::Effect, |s, _| {
            let mut stream = s
                .ftp
                .append_with_stream(name)
                // Nothing was sent yet, so this may be repeated on a new connection.
                .map_err(|e| map_error("append", name, e, password).retry_safe(true))
                .map_err(|f| missing_parent_or(s, "append", name, f, password))?;
            if let Err(e) = stream.write_all(data).and_then(|()| stream.flush()) {
                drop(stream);
                let mut failure = map_error("append", name, FtpError::ConnectionError(e), password);
                failure.connection_lost = true;
                return Err(failure);
            }
            stream
                .finish()
                .map_err(|e| map_error("append", name, e, password))
        })
    }

    fn do_store(
        &self,
        operation: &'static str,
        name: &str,
        data: &[u8],
    ) -> Result<(), TransportError> {
        let password = self.password();
        self.run(operation, Kind::Idempotent, |s, _| {
            let mut stream = s
                .ftp
                .put_with_stream(name)
                .map_err(|e| map_error(operation, name, e, password))
                .map_err(|f| missing_parent_or(s, operation, name, f, password))?;
            if let Err(e) = stream.write_all(data).and_then(|()| stream.flush()) {
                drop(stream);
                let mut failure =
                    map_error(operation, name, FtpError::ConnectionError(e), password);
                failure.connection_lost = true;
                return Err(failure);
            }
            stream
                .finish()
                .map_err(|e| map_error(operation, name, e, password))
        })
    }

    fn do_write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let temp = temp_sibling(path)?;
        self.do_store("write_atomic", temp.as_str(), data)?;
        if let Err(err) = self.do_rename("write_atomic", &temp, path) {
            // Best effort: do not leave the temporary file behind.
            let _ = self.do_remove_file(&temp);
            return Err(err);
        }
        Ok(())
    }

    fn do_rename(
        &self,
        operation: &'static str,
        from: &RemotePath,
        to: &RemotePath,
    ) -> Result<(), TransportError> {
        let password = self.password();
        let (from_s, to_s) = (from.as_str(), to.as_str());
        self.run(operation, Kind::Effect, |s, _| {
            let mut target_removed = false;
            loop {
                s.ftp
                    .custom_command(format!("RNFR {from_s}"), &[Status::RequestFilePending])
                    .map_err(|e| map_error(operation, from_s, e, password).retry_safe(true))?;
                match s.ftp.custom_command(
                    format!("RNTO {to_s}"),
                    &[Status::RequestedFileActionOk, Status::CommandOk],
                ) {
                    Ok(_) => return Ok(()),
                    Err(err @ FtpError::UnexpectedResponse(_)) if !target_removed => {
                        // Some servers refuse to replace an existing file: remove it, try again.
                        if matches!(s.size_of(to_s, password)?, Ok(Some(_))) {
                            s.ftp
                                .rm(to_s)
                                .map_err(|e| map_error(operation, to_s, e, password))?;
                            target_removed = true;
                            continue;
                        }
                        return Err(map_error(operation, to_s, err, password));
                    }
                    Err(err) => return Err(map_error(operation, to_s, err, password)),
                }
            }
        })
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<DirEntry>, TransportError> {
        let password = self.password();
        self.run("list", Kind::Idempotent, |s, features| {
            if features.mlsd != Some(false) {
                match s.listing_lines("MLSD", dir, password) {
                    Ok(lines) => {
                        let mut entries = Vec::new();
                        let mut unparsable = 0;
                        for line in &lines {
                            match listing::parse_mlsd_line(line) {
                                Line::Entry(e) => entries.push(e),
                                Line::Skip => {}
                                Line::Unparsable => unparsable += 1,
                            }
                        }
                        if unparsable == 0 {
                            features.mlsd = Some(true);
                            return Ok(entries);
                        }
                        log::debug!("ftp: {unparsable} MLSD line(s) not understood; using LIST");
                    }
                    Err(f) if matches!(reply_code_of(&f), Some(500 | 502 | 504)) => {
                        features.mlsd = Some(false);
                    }
                    Err(f) => return Err(missing_dir_or(s, dir, f, password)),
                }
            }
            list_without_mlsd(s, features, dir, password)
                .map_err(|f| missing_dir_or(s, dir, f, password))
        })
    }

    fn do_make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        let password = self.password();
        let name = path.as_str();
        self.run("make_dir", Kind::Effect, |s, _| match s.ftp.mkdir(name) {
            Ok(()) => Ok(()),
            Err(err @ FtpError::UnexpectedResponse(_)) => {
                let code = reply_code(&err);
                // 521 is "already exists" on some servers; others (libunftp, vsftpd,
                // pyftpdlib) say 550, so look.
                if code == Some(521)
                    || s.dir_exists(name, password)?
                    || matches!(s.size_of(name, password)?, Ok(Some(_)))
                {
                    return Err(Failure::final_error(TransportError::new(
                        TransportErrorKind::AlreadyExists,
                        "make_dir",
                        format!("{name}: already exists"),
                    )));
                }
                let mut failure = map_error("make_dir", name, err, password);
                if failure.error.kind() == TransportErrorKind::NotFound {
                    // 550 for a path that does not exist: a missing parent, or a refusal.
                    let parent_missing = match path.parent() {
                        Some(parent) => !s.dir_exists(parent.as_str(), password)?,
                        None => false,
                    };
                    if !parent_missing {
                        failure.error = TransportError::new(
                            TransportErrorKind::PermissionDenied,
                            "make_dir",
                            failure.error.to_string(),
                        );
                    }
                }
                Err(failure)
            }
            Err(err) => Err(map_error("make_dir", name, err, password)),
        })
    }

    fn do_remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        let password = self.password();
        let name = path.as_str();
        self.run("remove_file", Kind::Effect, |s, _| match s.ftp.rm(name) {
            Ok(()) => Ok(()),
            Err(err) if reply_code(&err) == Some(550) => {
                // vsftpd says "Delete operation failed" either way: look.
                let mut failure = map_error("remove_file", name, err, password);
                // Check for a directory first: libunftp reports a size for directories.
                let kind = if s.dir_exists(name, password)? {
                    TransportErrorKind::Permanent
                } else if matches!(s.size_of(name, password)?, Ok(Some(_))) {
                    TransportErrorKind::PermissionDenied
                } else {
                    TransportErrorKind::NotFound
                };
                failure.error = TransportError::new(kind, "remove_file", failure.error.to_string());
                Err(failure)
            }
            Err(err) => Err(map_error("remove_file", name, err, password)),
        })
    }

    fn do_remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        let password = self.password();
        let name = path.as_str();
        self.run("remove_dir", Kind::Effect, |s, _| match s.ftp.rmdir(name) {
            Ok(()) => Ok(()),
            Err(err) if reply_code(&err) == Some(550) => {
                let mut failure = map_error("remove_dir", name, err, password);
                // Not found, or refused (not empty, not a directory, no permission).
                if s.dir_exists(name, password)? {
                    failure.error = TransportError::new(
                        TransportErrorKind::Permanent,
                        "remove_dir",
                        failure.error.to_string(),
                    );
                } else if matches!(s.size_of(name, password)?, Ok(Some(_))) {
                    failure.error = TransportError::new(
                        TransportErrorKind::Permanent,
                        "remove_dir",
                        format!("{name}: not a directory"),
                    );
                } else {
                    failure.error = TransportError::new(
                        TransportErrorKind::NotFound,
                        "remove_dir",
                        failure.error.to_string(),
                    );
                }
                Err(failure)
            }
            Err(err) => Err(map_error("remove_dir", name, err, password)),
        })
    }
}

/// The reply code of a failure, if it came from a refused command.
fn reply_code_of(failure: &Failure) -> Option<u32> {
    failure.code
}

/// A refused upload (`APPE`, `STOR`) into a directory that does not exist is `NotFound`
/// (vsftpd answers 553 "Could not create file" either way).
fn missing_parent_or(
    s: &mut Session,
    operation: &'static str,
    path: &str,
    failure: Failure,
    password: &str,
) -> Failure {
    let refused = matches!(failure.code, Some(550 | 553));
    let Some((parent, _)) = path.rsplit_once('/') else {
        return failure;
    };
    if !refused {
        return failure;
    }
    match s.dir_exists(parent, password) {
        Ok(false) => Failure::final_error(TransportError::new(
            TransportErrorKind::NotFound,
            operation,
            format!("{parent}: no such directory ({})", failure.error),
        )),
        Ok(true) => failure,
        Err(lost) => lost,
    }
}

/// A refused listing of a directory that does not exist is `NotFound`, whatever the reply
/// (pyftpdlib answers `MLSD` of a missing directory with 501).
fn missing_dir_or(s: &mut Session, dir: &str, failure: Failure, password: &str) -> Failure {
    let refused = matches!(failure.code, Some(code) if (500..600).contains(&code));
    if !refused || failure.error.kind() == TransportErrorKind::NotFound {
        return failure;
    }
    match s.dir_exists(dir, password) {
        Ok(false) => Failure::final_error(TransportError::new(
            TransportErrorKind::NotFound,
            "list",
            format!("{dir}: no such directory ({})", failure.error),
        )),
        Ok(true) => failure,
        Err(lost) => lost,
    }
}

/// `LIST -a` (vsftpd hides dot files from plain `LIST`), else `LIST`, falling back to
/// `NLST` + `SIZE` when lines are not understood. An empty listing is confirmed with `CWD`
/// (vsftpd lists a missing directory as empty).
fn list_without_mlsd(
    s: &mut Session,
    features: &mut Features,
    dir: &str,
    password: &str,
) -> Result<Vec<DirEntry>, Failure> {
    // A directory starting with '-' would read as options.
    let try_all = features.list_all != Some(false) && !dir.starts_with('-');
    let lines = if try_all {
        match s.listing_lines("LIST -a", dir, password) {
            Ok(lines) => {
                features.list_all = Some(true);
                lines
            }
            Err(f) if matches!(f.code, Some(500..=599)) => {
                let lines = s.listing_lines("LIST", dir, password)?;
                features.list_all = Some(false);
                lines
            }
            Err(f) => return Err(f),
        }
    } else {
        s.listing_lines("LIST", dir, password)?
    };
    let mut entries = Vec::new();
    let mut understood = true;
    for line in &lines {
        match listing::parse_list_line(line) {
            Line::Entry(e) => entries.push(e),
            Line::Skip => {}
            Line::Unparsable => {
                understood = false;
                break;
            }
        }
    }
    if !understood {
        entries.clear();
        for line in s.listing_lines("NLST", dir, password)? {
            let Some(name) = listing::parse_nlst_line(&line) else {
                continue;
            };
            let full = if dir == "." {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            let entry = match s.size_of(&full, password)? {
                Ok(Some(size)) => DirEntry {
                    name,
                    is_dir: false,
                    size: Some(size),
                },
                _ if s.dir_exists(&full, password)? => DirEntry {
                    name,
                    is_dir: true,
                    size: None,
                },
                _ => DirEntry {
                    name,
                    is_dir: false,
                    size: None,
                },
            };
            entries.push(entry);
        }
    }
    if entries.is_empty() && dir != "." && !s.dir_exists(dir, password)? {
        return Err(Failure::final_error(TransportError::new(
            TransportErrorKind::NotFound,
            "list",
            format!("{dir}: no such directory"),
        )));
    }
    Ok(entries)
}

/// The data connection of a transfer on the session's stream type.
type Transfer = TransferOf<RustlsFtpStream>;

/// Names `TransferStream<T>` for an `ImplFtpStream<T>` (suppaftp does not export `T`).
type TransferOf<S> = <S as HasTransfer>::Transfer;

/// Maps a suppaftp client type to its transfer stream type.
trait HasTransfer {
    type Transfer: Read;
}

impl<T: suppaftp::TlsStream> HasTransfer for suppaftp::ImplFtpStream<T> {
    type Transfer = suppaftp::TransferStream<T>;
}

/// See [`Session::read_data`].
fn read_transfer<T: suppaftp::TlsStream>(
    ftp: &mut suppaftp::ImplFtpStream<T>,
    operation: &'static str,
    subject: &str,
    open: impl FnOnce(&mut suppaftp::ImplFtpStream<T>) -> Result<suppaftp::TransferStream<T>, FtpError>,
    mut chunk: impl FnMut(&[u8]) -> io::Result<()>,
    password: &str,
) -> Result<u64, (Failure, u64)> {
    let mut stream = open(ftp).map_err(|e| (map_error(operation, subject, e, password), 0))?;
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0u64;
    let outcome = loop {
        match stream.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = chunk(&buf[..n]) {
                    break Err(DataError::Sink(e));
                }
                total += n as u64;
            }
            // A TLS data connection closed without close_notify (pyftpdlib does this):
            // the completion reply below says whether the transfer was complete.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(DataError::Network(e)),
        }
    };
    let finished = stream.finish();
    match outcome {
        Ok(()) => match finished {
            Ok(()) => Ok(total),
            Err(e) => Err((map_error(operation, subject, e, password), total)),
        },
        Err(DataError::Sink(e)) => Err((
            Failure {
                error: TransportError::from_io(
                    operation,
                    format!("{subject}: writing to the sink failed"),
                    e,
                ),
                connection_lost: finished.is_err(),
                retry_safe: false,
                code: None,
            },
            total,
        )),
        Err(DataError::Network(e)) => {
            let mut failure = map_error(operation, subject, FtpError::ConnectionError(e), password);
            failure.connection_lost = true;
            Err((failure, total))
        }
    }
}

/// A unique hidden sibling of `path` for `write_atomic`: `.name.<random>.tmp`.
fn temp_sibling(path: &RemotePath) -> Result<RemotePath, TransportError> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| {
        TransportError::new(
            TransportErrorKind::Permanent,
            "write_atomic",
            format!("no randomness: {e}"),
        )
    })?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!(".{}.{suffix}.tmp", path.file_name());
    let temp = match path.parent() {
        Some(parent) => parent.join(&name)?,
        None => RemotePath::new(&name)?,
    };
    Ok(temp)
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
        self.do_size(path)
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        self.do_read_from(path, offset, sink)
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.do_append(path, data)
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.do_write_atomic(path, data)
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        self.list_dir(dir.as_str())
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.do_make_dir(path)
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.do_remove_file(path)
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.do_remove_dir(path)
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.do_rename("rename", from, to)
    }

    fn take_events(&self) -> Vec<TransportEvent> {
        let mut events = match self.events.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *events)
    }
}
