//! Connection settings for [`FtpTransport`](super::FtpTransport): from a URL or a builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use zeroize::Zeroizing;

use super::secret::Password;
use crate::transport::{InvalidPath, RemotePath, TransportError, TransportErrorKind};

/// The default FTP control port, for both `ftp://` and explicit `ftps://`.
pub(crate) const DEFAULT_PORT: u16 = 21;
/// Default time allowed to open a TCP connection (control or data).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a single read or write on a control or data socket may block.
pub(crate) const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of connection attempts before an operation gives up.
pub(crate) const DEFAULT_CONNECT_ATTEMPTS: u32 = 3;

/// The user name sent when a URL or builder has none.
const ANONYMOUS_USER: &str = "anonymous";
/// The conventional anonymous password (an e-mail-like identifier, no secret).
const ANONYMOUS_PASSWORD: &str = "ftpchat@";

/// Whether the control and data connections are encrypted (explicit FTPS: `AUTH TLS`, then
/// `PBSZ 0` and `PROT P`, so that the password and every transfer go over TLS).
///
/// Plain text is only ever the caller's explicit choice. `ftps://` and `ftpes://` URLs (two
/// names for explicit FTPS) and the builder's default are [`Required`](Self::Required),
/// `ftp://` is [`Disabled`](Self::Disabled). [`Preferred`](Self::Preferred) is never a
/// default and no URL scheme implies it: it must be set in code with
/// [`FtpConfigBuilder::tls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TlsPolicy {
    /// TLS or nothing: a refused `AUTH TLS`, a failed handshake or a certificate that does
    /// not verify is an error, before the password is sent. `ftps://` and `ftpes://` URLs.
    #[default]
    Required,
    /// TLS when the server supports it. Plain text (the password included) only when the
    /// server answers `AUTH TLS` with a "not supported" refusal (500, 502, 504 or 534); the
    /// fallback is reported as
    /// [`TransportEvent::TlsFallback`](crate::transport::TransportEvent::TlsFallback).
    ///
    /// Anything else is an error, never a reason to fall back, because an active attacker
    /// can cause it: another reply to `AUTH TLS` (a 4xx, 530, 550...), a TLS handshake that
    /// fails or breaks off after the server accepted `AUTH TLS`, a certificate that fails
    /// verification, and a refusal from a server that accepted `AUTH TLS` before on the same
    /// transport.
    Preferred,
    /// Plain FTP, no `AUTH TLS`. `ftp://` URLs.
    Disabled,
}

/// Why an FTP configuration was refused. Messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FtpConfigError {
    /// The URL could not be parsed (the message names the problem, not the URL).
    #[error("invalid FTP URL: {0}")]
    InvalidUrl(String),
    /// The URL scheme is not `ftp`, `ftps` or `ftpes`.
    #[error("unsupported URL scheme {0:?} (expected ftp, ftps or ftpes)")]
    UnsupportedScheme(String),
    /// No host name or address was given.
    #[error("no host given")]
    MissingHost,
    /// The root directory is not a valid relative path.
    #[error("invalid root directory: {0}")]
    InvalidRoot(InvalidPath),
    /// The user name or password contains CR, LF or NUL (FTP command injection) or is not UTF-8.
    #[error("the {0} contains a control character or invalid percent-encoding")]
    InvalidCredential(&'static str),
    /// The CA certificate PEM could not be read or contains no certificate.
    #[error("invalid CA certificate: {0}")]
    InvalidCaCertificate(String),
    /// The TLS client configuration could not be built.
    #[error("TLS configuration failed: {0}")]
    Tls(String),
}

impl From<FtpConfigError> for TransportError {
    fn from(err: FtpConfigError) -> Self {
        let kind = match err {
            FtpConfigError::InvalidRoot(_) => TransportErrorKind::InvalidPath,
            _ => TransportErrorKind::Permanent,
        };
        TransportError::with_source(kind, "config", err.to_string(), err)
    }
}

/// Settings of an FTP or FTPS connection. Build with [`FtpConfig::from_url`] or
/// [`FtpConfig::builder`].
///
/// The password is held in memory that is zeroed on drop (shared, not copied, by clones and
/// by the transport's sessions) and never appears in `Debug`,
/// [`describe`](crate::transport::Transport::describe), errors or logs.
#[derive(Clone)]
pub struct FtpConfig {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: Option<String>,
    pub(super) password: Password,
    pub(super) root: Option<RemotePath>,
    pub(super) tls: TlsPolicy,
    pub(super) tls_server_name: Option<String>,
    pub(super) tls_client: Option<Arc<rustls::ClientConfig>>,
    pub(super) custom_ca: bool,
    pub(super) connect_timeout: Duration,
    pub(super) io_timeout: Duration,
    pub(super) connect_attempts: u32,
}

impl FtpConfig {
    /// Parses `ftp://[user[:password]@]host[:port][/dir]` or the same with `ftps://` or
    /// `ftpes://`.
    ///
    /// User and password are percent-decoded; without a user the login is anonymous. The
    /// port defaults to 21 for every scheme (`ftps://` and its synonym `ftpes://` mean
    /// explicit FTPS, `AUTH TLS`). `ftps://` and `ftpes://` set [`TlsPolicy::Required`],
    /// `ftp://` [`TlsPolicy::Disabled`]; no scheme falls back to plain text. The path,
    /// percent-decoded, is the root directory, relative to the login directory. Certificates
    /// are checked against the webpki roots; use [`FtpConfigBuilder::from_url`] to add a CA.
    pub fn from_url(url: &str) -> Result<FtpConfig, FtpConfigError> {
        FtpConfigBuilder::from_url(url)?.build()
    }

    /// Starts a builder for `host` with the defaults: port 21, anonymous login,
    /// [`TlsPolicy::Required`], webpki roots, a 10 s connect timeout, a 30 s read/write
    /// timeout and 3 connection attempts.
    pub fn builder(host: impl Into<String>) -> FtpConfigBuilder {
        FtpConfigBuilder::new(host)
    }

    /// The host name or address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The control port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The login name, or `None` for anonymous.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The root directory all paths are relative to, or `None` for the login directory.
    pub fn root(&self) -> Option<&RemotePath> {
        self.root.as_ref()
    }

    /// The TLS policy.
    pub fn tls_policy(&self) -> TlsPolicy {
        self.tls
    }

    /// Time allowed to open a TCP connection.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Time a single socket read or write may block.
    pub fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// The URL without the password: `ftps://user@host:port/dir`. `secure` chooses the scheme.
    pub(super) fn describe_with_scheme(&self, secure: bool) -> String {
        let scheme = if secure { "ftps" } else { "ftp" };
        let user = match &self.user {
            Some(u) => format!("{}@", escape_userinfo(u)),
            None => String::new(),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let root = self
            .root
            .as_ref()
            .map(|r| format!("/{r}"))
            .unwrap_or_default();
        format!("{scheme}://{user}{host}:{}{root}", self.port)
    }

    /// The name sent with USER.
    pub(super) fn login_user(&self) -> &str {
        self.user.as_deref().unwrap_or(ANONYMOUS_USER)
    }

    /// The password sent with PASS: a share of the configured one, or the anonymous one.
    pub(super) fn login_password(&self) -> Password {
        if self.user.is_none() && self.password.is_empty() {
            Password::from(ANONYMOUS_PASSWORD.to_owned())
        } else {
            self.password.clone()
        }
    }

    /// The name the server certificate must match.
    pub(super) fn server_name(&self) -> &str {
        self.tls_server_name.as_deref().unwrap_or(&self.host)
    }
}

impl fmt::Debug for FtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("root", &self.root)
            .field("tls", &self.tls)
            .field("tls_server_name", &self.tls_server_name)
            .field("custom_ca", &self.custom_ca)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("connect_attempts", &self.connect_attempts)
            .finish()
    }
}

/// Builds an [`FtpConfig`]; every setting is checked in [`build`](Self::build).
#[derive(Clone)]
pub struct FtpConfigBuilder {
    host: String,
    port: u16,
    user: Option<String>,
    password: Password,
    root: Option<String>,
    tls: TlsPolicy,
    tls_server_name: Option<String>,
    ca_pem: Vec<u8>,
    connect_timeout: Duration,
    io_timeout: Duration,
    connect_attempts: u32,
}

impl FtpConfigBuilder {
    /// A builder for `host` with the defaults listed at [`FtpConfig::builder`].
    pub fn new(host: impl Into<String>) -> Self {
        FtpConfigBuilder {
            host: host.into(),
            port: DEFAULT_PORT,
            user: None,
            password: Password::default(),
            root: None,
            tls: TlsPolicy::Required,
            tls_server_name: None,
            ca_pem: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            io_timeout: DEFAULT_IO_TIMEOUT,
            connect_attempts: DEFAULT_CONNECT_ATTEMPTS,
        }
    }

    /// A builder filled from a URL as described at [`FtpConfig::from_url`], so that a CA,
    /// timeouts or another TLS policy can be added before [`build`](Self::build).
    pub fn from_url(url: &str) -> Result<Self, FtpConfigError> {
        let parsed = url::Url::parse(url).map_err(|e| FtpConfigError::InvalidUrl(e.to_string()))?;
        let tls = match parsed.scheme() {
            "ftp" => TlsPolicy::Disabled,
            // Both are explicit FTPS (`AUTH TLS`); neither may fall back to plain text.
            "ftps" | "ftpes" => TlsPolicy::Required,
            other => return Err(FtpConfigError::UnsupportedScheme(other.to_owned())),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(FtpConfigError::MissingHost)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let mut builder = FtpConfigBuilder::new(percent_decode(host, "host")?.as_str()).tls(tls);
        if let Some(port) = parsed.port() {
            builder = builder.port(port);
        }
        if !parsed.username().is_empty() {
            builder = builder.user(percent_decode(parsed.username(), "user name")?.as_str());
        }
        if let Some(password) = parsed.password() {
            builder.password = Password::from(percent_decode(password, "password")?);
        }
        let mut components = Vec::new();
        for segment in parsed.path_segments().into_iter().flatten() {
            if segment.is_empty() {
                continue;
            }
            components.push(percent_decode(segment, "root directory")?.to_string());
        }
        if !components.is_empty() {
            builder = builder.root(&components.join("/"));
        }
        Ok(builder)
    }

    /// The control port (default 21).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Logs in as `user` instead of anonymously.
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    /// The password; it is moved into zeroizing memory.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Password::from(password.into());
        self
    }

    /// Logs in anonymously (the default), forgetting any user and password.
    pub fn anonymous(mut self) -> Self {
        self.user = None;
        self.password = Password::default();
        self
    }

    /// The directory, relative to the login directory, that all paths are relative to.
    /// The transport changes into it (`CWD`) after every login. Empty means none.
    pub fn root(mut self, dir: &str) -> Self {
        let dir = dir.trim_matches('/');
        self.root = if dir.is_empty() {
            None
        } else {
            Some(dir.to_owned())
        };
        self
    }

    /// The TLS policy (default [`TlsPolicy::Required`]). [`TlsPolicy::Preferred`] allows
    /// plain text, the password included, when the server does not support TLS.
    pub fn tls(mut self, policy: TlsPolicy) -> Self {
        self.tls = policy;
        self
    }

    /// Trusts the CA certificate(s) in `pem` instead of the webpki roots. May be called
    /// more than once to trust several.
    pub fn ca_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.ca_pem.extend_from_slice(pem.as_ref());
        self.ca_pem.push(b'\n');
        self
    }

    /// The name the server certificate must carry, when it differs from the host connected
    /// to (e.g. connecting to an address whose certificate names a host).
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.tls_server_name = Some(name.into());
        self
    }

    /// Time allowed to open a TCP connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time a single socket read or write may block (default 30 s).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// How many times connecting is tried, with exponential backoff from 100 ms to 1 s,
    /// before an operation fails (default 3, at least 1).
    pub fn connect_attempts(mut self, attempts: u32) -> Self {
        self.connect_attempts = attempts.max(1);
        self
    }

    /// Checks the settings and builds the TLS client configuration.
    pub fn build(self) -> Result<FtpConfig, FtpConfigError> {
        if self.host.is_empty() {
            return Err(FtpConfigError::MissingHost);
        }
        if has_control(&self.host) {
            return Err(FtpConfigError::InvalidUrl(
                "host contains a control character".into(),
            ));
        }
        if let Some(user) = &self.user {
            if user.is_empty() || has_control(user) {
                return Err(FtpConfigError::InvalidCredential("user name"));
            }
        }
        if self.password.has_control() {
            return Err(FtpConfigError::InvalidCredential("password"));
        }
        let root = match &self.root {
            Some(dir) => Some(RemotePath::new(dir).map_err(FtpConfigError::InvalidRoot)?),
            None => None,
        };
        let custom_ca = !self.ca_pem.iter().all(u8::is_ascii_whitespace);
        let tls_client = match self.tls {
            TlsPolicy::Disabled => None,
            TlsPolicy::Required | TlsPolicy::Preferred => Some(client_config(if custom_ca {
                Some(&self.ca_pem)
            } else {
                None
            })?),
        };
        Ok(FtpConfig {
            host: self.host,
            port: self.port,
            user: self.user,
            password: self.password,
            root,
            tls: self.tls,
            tls_server_name: self.tls_server_name,
            tls_client,
            custom_ca,
            connect_timeout: self.connect_timeout,
            io_timeout: self.io_timeout,
            connect_attempts: self.connect_attempts.max(1),
        })
    }
}

impl fmt::Debug for FtpConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpConfigBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("root", &self.root)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// A rustls client configuration with the ring provider installed explicitly (so that
/// another crate's provider can never make rustls panic), trusting `ca_pem` if given and
/// the webpki roots otherwise.
fn client_config(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, FtpConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &pem[..])
                .collect::<Result<_, _>>()
                .map_err(|e| FtpConfigError::InvalidCaCertificate(e.to_string()))?;
            if certs.is_empty() {
                return Err(FtpConfigError::InvalidCaCertificate(
                    "no certificate found in the PEM".into(),
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| FtpConfigError::InvalidCaCertificate(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FtpConfigError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Decodes `%XX` escapes; the result must be UTF-8. Zeroizing because it may be a password.
fn percent_decode(s: &str, what: &'static str) -> Result<Zeroizing<String>, FtpConfigError> {
    let bytes = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(FtpConfigError::InvalidCredential(what))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = std::str::from_utf8(&out).map_err(|_| FtpConfigError::InvalidCredential(what))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Escapes the characters that would change the meaning of a URL's user part.
fn escape_userinfo(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for c in user.chars() {
        match c {
            '%' | '@' | ':' | '/' | '?' | '#' | ' ' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%3A", "x").unwrap().as_str(), "a@b:");
        assert!(percent_decode("%zz", "x").is_err());
        assert!(percent_decode("%4", "x").is_err());
        assert!(percent_decode("%ff", "x").is_err());
    }

    #[test]
    fn userinfo_escaping() {
        assert_eq!(escape_userinfo("a@b:c"), "a%40b%3Ac");
    }
}
