//! One logged-in control connection ([`Session`]) and what outlives it ([`State`]):
//! TCP connect with timeouts, the greeting, passive mode, TLS (see [`tls`](super::tls)),
//! `USER`/`PASS`, `TYPE I`, `CWD` into the root, `FEAT`, and reconnecting with backoff.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use suppaftp::types::FileType;
use suppaftp::{Encoding, FtpError, Mode, RustlsFtpStream, Utf8Encoding};
use zeroize::Zeroizing;

use super::reply::{map_error, Failure, ReplyCode};
use super::secret::Password;
use super::tls::{self, Upgrade};
use super::{FtpConfig, TlsPolicy};
use crate::transport::{TransportError, TransportErrorKind};

/// Pause between `234` and the TLS handshake on a repeated connection attempt; doubled per
/// attempt (libunftp can lose a ClientHello that arrives before it switches to TLS).
const TLS_UPGRADE_PAUSE: Duration = Duration::from_millis(50);
/// First delay between connection attempts; doubled after each failure.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest delay between connection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// What suppaftp sees (and may log) as the password; the encoding swaps in the real one.
const PASSWORD_PLACEHOLDER: &str = "********";

/// What the server is known to support; `None` until learned.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Features {
    pub(super) mlsd: Option<bool>,
    /// `LIST -a` (show dot files) is understood.
    pub(super) list_all: Option<bool>,
    pub(super) rest: Option<bool>,
    pub(super) size: Option<bool>,
}

/// What a transport keeps across connections.
#[derive(Default)]
pub(super) struct State {
    pub(super) session: Option<Session>,
    pub(super) features: Features,
    /// A connection was made before, so the next one is a reconnect.
    pub(super) connected_before: bool,
    /// The server accepted `AUTH TLS` on some connection: a later refusal is not believed.
    pub(super) tls_offered: bool,
}

/// A connection [`State::ensure_session`] made, for the transport to report.
pub(super) struct Connected {
    /// How many attempts it took.
    pub(super) attempts: u32,
    /// There was a connection before this one.
    pub(super) reconnect: bool,
    /// Why the connection is in plain text although TLS was preferred.
    pub(super) tls_fallback: Option<String>,
}

impl State {
    /// Connects if there is no session, trying `connect_attempts` times with backoff.
    /// Returns the new connection, or `None` if the current one is kept.
    pub(super) fn ensure_session(
        &mut self,
        config: &FtpConfig,
    ) -> Result<Option<Connected>, TransportError> {
        if self.session.is_some() {
            return Ok(None);
        }
        let attempts = config.connect_attempts.max(1);
        let mut delay = BACKOFF_START;
        let mut attempt: u32 = 1;
        loop {
            // The first attempt starts TLS at once; later ones give the server time to switch.
            let tls_pause = if attempt == 1 {
                Duration::ZERO
            } else {
                (TLS_UPGRADE_PAUSE * 2u32.pow(attempt.saturating_sub(2).min(4))).min(BACKOFF_MAX)
            };
            match Session::open(config, &mut self.features, &mut self.tls_offered, tls_pause) {
                Ok((session, tls_fallback)) => {
                    let reconnect = self.connected_before;
                    if reconnect {
                        log::info!(
                            "ftp: reconnected to {} after {attempt} attempt(s)",
                            config.describe_with_scheme(session.secure)
                        );
                    }
                    self.connected_before = true;
                    self.session = Some(session);
                    return Ok(Some(Connected {
                        attempts: attempt,
                        reconnect,
                        tls_fallback,
                    }));
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

    /// Replaces a connection that no longer answers `NOOP`, before a command with an effect.
    pub(super) fn probe(
        &mut self,
        config: &FtpConfig,
    ) -> Result<Option<Connected>, TransportError> {
        let alive = match self.session.as_mut() {
            Some(session) => session.ftp.noop().is_ok(),
            None => false,
        };
        if alive {
            return Ok(None);
        }
        self.session = None;
        self.ensure_session(config)
    }
}

/// One logged-in control connection.
pub(super) struct Session {
    pub(super) ftp: RustlsFtpStream,
    pub(super) secure: bool,
    /// The working directory after changing into the root, to return to after `CWD` checks.
    pub(super) home: Option<String>,
    /// The password this session logged in with: scrubbed from every error it reports.
    password: Password,
}

impl Session {
    /// Opens a logged-in session; also returns the TLS fallback reason, if any.
    fn open(
        config: &FtpConfig,
        features: &mut Features,
        tls_offered: &mut bool,
        tls_pause: Duration,
    ) -> Result<(Session, Option<String>), TransportError> {
        let password = config.login_password();
        let plain = open_plain(config)?;
        let (ftp, secure, fallback) = match (&config.tls_client, config.tls) {
            (None, _) | (_, TlsPolicy::Disabled) => (plain, false, None),
            (Some(client), _) => {
                match tls::upgrade(plain, client, config, tls_offered, tls_pause)? {
                    Upgrade::Secure(ftp) => (ftp, true, None),
                    // The refused stream was consumed by the upgrade; start over in plain.
                    Upgrade::Refused { reason } => (open_plain(config)?, false, Some(reason)),
                }
            }
        };
        let mut session = Session {
            ftp,
            secure,
            home: None,
            password,
        };
        session.login(config)?;
        session
            .ftp
            .transfer_type(FileType::Binary)
            .map_err(|e| session.fail("connect", "TYPE I", e).error)?;
        if let Some(root) = &config.root {
            if let Err(e) = session.ftp.cwd(root.as_str()) {
                let failure = session.fail("connect", "root directory", e);
                return Err(match failure.error.kind() {
                    TransportErrorKind::NotFound => TransportError::new(
                        TransportErrorKind::NotFound,
                        "connect",
                        format!("root directory {root} does not exist"),
                    ),
                    _ => failure.error,
                });
            }
        }
        session.home = session.ftp.pwd().ok();
        if let Ok(feat) = session.ftp.feat() {
            let has = |name: &str| feat.keys().any(|k| k.eq_ignore_ascii_case(name));
            features.mlsd = Some(has("MLST") || has("MLSD"));
            if has("REST") {
                features.rest.get_or_insert(true);
            }
            if has("SIZE") {
                features.size.get_or_insert(true);
            }
        }
        Ok((session, fallback))
    }

    /// Maps a suppaftp error of `operation` on `subject`, with the password scrubbed from
    /// whatever the server said.
    pub(super) fn fail(&self, operation: &'static str, subject: &str, err: FtpError) -> Failure {
        map_error(operation, subject, err, &self.password)
    }

    /// `USER`/`PASS`. The password goes through [`PasswordEncoding`] so suppaftp's logs only
    /// ever see [`PASSWORD_PLACEHOLDER`].
    fn login(&mut self, config: &FtpConfig) -> Result<(), TransportError> {
        let user = config.login_user();
        self.ftp.set_encoding(PasswordEncoding {
            line: self.password.pass_command(),
        });
        let result = self.ftp.login(user, PASSWORD_PLACEHOLDER);
        // Drops the encoding, and with it the zeroizing copy of the PASS line.
        self.ftp.set_encoding(Utf8Encoding);
        result.map_err(|err| {
            let refused = ReplyCode::of(&err).is_some_and(ReplyCode::refuses_login);
            let failure = self.fail("login", "login", err);
            if refused {
                TransportError::new(
                    TransportErrorKind::Permanent,
                    "login",
                    format!(
                        "login as {user} refused (bad credentials?): {}",
                        failure.error
                    ),
                )
            } else {
                failure.error
            }
        })
    }

    /// Says goodbye (`QUIT`); errors do not matter, the connection is closed either way.
    pub(super) fn quit(mut self) {
        let _ = self.ftp.quit();
    }
}

/// Opens a TCP connection to the configured host with the configured timeouts.
fn connect_tcp(config: &FtpConfig) -> Result<TcpStream, TransportError> {
    let address = (config.host.as_str(), config.port);
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| {
            TransportError::from_io("connect", format!("cannot resolve {}", config.host), e)
        })?
        .collect();
    let mut last_err = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, config.connect_timeout) {
            Ok(stream) => {
                let io_timeout = Some(config.io_timeout);
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
            config.host, config.port
        ),
        last_err,
    ))
}

/// Connects, reads the greeting and sets up passive mode with timeouts.
fn open_plain(config: &FtpConfig) -> Result<RustlsFtpStream, TransportError> {
    let tcp = connect_tcp(config)?;
    let ipv6 = tcp.peer_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    // Nothing has been sent that the greeting could echo: there is nothing to scrub.
    let mut ftp = RustlsFtpStream::connect_with_stream(tcp)
        .map_err(|e| map_error("connect", "greeting", e, &Password::default()).error)?;
    let connect_timeout = config.connect_timeout;
    let io_timeout = config.io_timeout;
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
