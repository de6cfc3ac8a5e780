//! Opening a transport from a location string ([`open_location`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use zeroize::Zeroizing;

use super::local::LocalTransport;
use super::memory::MemoryTransport;
use super::{Transport, TransportError, TransportErrorKind};

/// Options that a location string cannot carry.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// PEM certificate(s) to trust for FTPS and `webdavs://` instead of the webpki roots.
    pub ca_pem: Option<String>,
    /// FTP and WebDAV connect timeout (default 10 s); mobile background windows want less.
    pub connect_timeout: Option<std::time::Duration>,
    /// FTP read/write timeout (default 30 s); also the SFTP per-request timeout, the S3
    /// request timeout and the WebDAV read/write timeout.
    pub io_timeout: Option<std::time::Duration>,
    /// SFTP: a private key file (OpenSSH format, ed25519 or ECDSA) to log in with, tried
    /// before the URL's password.
    pub ssh_key_file: Option<std::path::PathBuf>,
    /// SFTP: the known_hosts file to check the host key against (default
    /// `~/.ssh/known_hosts`).
    pub ssh_known_hosts: Option<std::path::PathBuf>,
    /// SFTP: accept exactly the host key with this `SHA256:...` fingerprint instead of
    /// consulting known_hosts.
    pub ssh_host_fingerprint: Option<String>,
    /// SFTP: accept a host key that known_hosts does not list (trust on first use; a key
    /// that contradicts known_hosts is still refused). Off unless set explicitly.
    pub ssh_trust_on_first_use: bool,
    /// S3: the endpoint (e.g. `http://127.0.0.1:9000`); else `AWS_ENDPOINT_URL_S3` /
    /// `AWS_ENDPOINT_URL`, else AWS.
    pub s3_endpoint: Option<String>,
    /// S3: the region; else `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub s3_region: Option<String>,
    /// S3: the access key; else `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
    /// (+ `AWS_SESSION_TOKEN`), else unsigned requests.
    pub s3_credentials: Option<S3Credentials>,
}

/// An S3 access key: its id and secret (and a session token for temporary credentials).
/// The secret and the token are zeroized on drop and never shown by `Debug`.
#[derive(Clone)]
// Read only by the S3 transport; kept without it so `OpenOptions` has one shape.
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub struct S3Credentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: Zeroizing<String>,
    pub(crate) session_token: Option<Zeroizing<String>>,
}

impl S3Credentials {
    /// An access key id and its secret.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        S3Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: Zeroizing::new(secret_access_key.into()),
            session_token: None,
        }
    }

    /// Adds the session token of temporary credentials.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Zeroizing::new(token.into()));
        self
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl OpenOptions {
    /// Trust these PEM certificate(s) for FTPS and `webdavs://`.
    pub fn with_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// SFTP: log in with this private key file.
    pub fn with_ssh_key_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ssh_key_file = Some(path.into());
        self
    }

    /// SFTP: check the host key against this known_hosts file.
    pub fn with_known_hosts(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ssh_known_hosts = Some(path.into());
        self
    }

    /// SFTP: accept exactly the host key with this `SHA256:...` fingerprint.
    pub fn with_host_fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.ssh_host_fingerprint = Some(fingerprint.into());
        self
    }

    /// SFTP: accept an unknown host key on first connect (explicit opt-in).
    pub fn with_trust_on_first_use(mut self, trust: bool) -> Self {
        self.ssh_trust_on_first_use = trust;
        self
    }

    /// S3: the endpoint, e.g. `http://127.0.0.1:9000` (path-style requests).
    pub fn with_s3_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.s3_endpoint = Some(endpoint.into());
        self
    }

    /// S3: the region.
    pub fn with_s3_region(mut self, region: impl Into<String>) -> Self {
        self.s3_region = Some(region.into());
        self
    }

    /// S3: the access key.
    pub fn with_s3_credentials(mut self, credentials: S3Credentials) -> Self {
        self.s3_credentials = Some(credentials);
        self
    }

    /// Sets the connect and read/write timeouts (FTP, WebDAV; SFTP and S3 use `io`).
    pub fn with_timeouts(mut self, connect: std::time::Duration, io: std::time::Duration) -> Self {
        self.connect_timeout = Some(connect);
        self.io_timeout = Some(io);
        self
    }
}

fn memory_stores() -> &'static Mutex<HashMap<String, MemoryTransport>> {
    static STORES: OnceLock<Mutex<HashMap<String, MemoryTransport>>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// Opens the transport a location names. Nothing is sent until the first operation.
///
/// Every binding and example accepts the same forms:
///
/// | location | transport |
/// |---|---|
/// | `ftp://user:pass@host:port/dir` | FTP, plain (no TLS) |
/// | `ftps://user:pass@host:port/dir` | explicit FTPS (`AUTH TLS`), TLS required |
/// | `ftpes://...` | the same as `ftps://`: TLS required, never a fallback to plain FTP |
/// | `sftp://user[:pass]@host[:port]/dir` | SFTP over SSH (feature `sftp`); `dir` is relative to the login directory, `//dir` absolute; host key from known_hosts or a pinned fingerprint (see [`OpenOptions`]) |
/// | `s3://bucket/prefix` | an S3 bucket, or a folder in one (feature `s3`); endpoint, region and access key from [`OpenOptions`] or `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`; objects cannot be appended to (see [`Capabilities`](super::Capabilities)) |
/// | `webdav://[user[:pass]@]host[:port]/dir` | WebDAV over plain HTTP (feature `webdav`); files cannot be appended to |
/// | `webdavs://[user[:pass]@]host[:port]/dir` | WebDAV over HTTPS (feature `webdav`); the CA from [`OpenOptions::ca_pem`], else the webpki roots |
/// | `file:///abs/path` or a plain path | a local (or synced) folder |
/// | `memory://name` | an in-memory store shared by every open of `name` in this process |
///
/// No location falls back from TLS to plain FTP: a server that refuses `AUTH TLS` is an
/// error before the password is sent. Plain FTP with a fallback is only available in code,
/// with [`TlsPolicy::Preferred`](super::ftp::TlsPolicy::Preferred).
pub fn open_location(
    location: &str,
    options: &OpenOptions,
) -> Result<Arc<dyn Transport>, TransportError> {
    // Without the `ftp` feature the options (all FTP settings) are unused.
    #[cfg(not(any(feature = "ftp", feature = "sftp", feature = "s3", feature = "webdav")))]
    let _ = options;
    let scheme = location
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        #[cfg(feature = "ftp")]
        Some("ftp" | "ftps" | "ftpes") => {
            use super::ftp::{FtpConfigBuilder, FtpTransport};
            // The URL alone sets the TLS policy: `ftps` and `ftpes` require TLS.
            let mut builder = FtpConfigBuilder::from_url(location)?;
            if let Some(pem) = &options.ca_pem {
                builder = builder.ca_pem(pem);
            }
            if let Some(t) = options.connect_timeout {
                builder = builder.connect_timeout(t);
            }
            if let Some(t) = options.io_timeout {
                builder = builder.io_timeout(t);
            }
            Ok(Arc::new(FtpTransport::new(builder.build()?)))
        }
        #[cfg(feature = "sftp")]
        Some("sftp") => {
            use super::sftp::{HostKeyCheck, SftpConfig, SftpTransport};
            let mut config = SftpConfig::from_url(location)?;
            if let Some(key) = &options.ssh_key_file {
                config = config.with_key_file(key, None);
            }
            let known = options.ssh_known_hosts.clone();
            config = config.with_host_key_check(match &options.ssh_host_fingerprint {
                Some(fp) => HostKeyCheck::Fingerprint(fp.clone()),
                None if options.ssh_trust_on_first_use => HostKeyCheck::TrustOnFirstUse(known),
                None => HostKeyCheck::KnownHosts(known),
            });
            if options.connect_timeout.is_some() || options.io_timeout.is_some() {
                config = config.with_timeouts(
                    options
                        .connect_timeout
                        .unwrap_or(std::time::Duration::from_secs(10)),
                    options.io_timeout.unwrap_or(std::time::Duration::from_secs(30)),
                );
            }
            Ok(Arc::new(SftpTransport::new(config)?))
        }
        #[cfg(feature = "s3")]
        Some("s3") => {
            use super::s3::{S3Config, S3Transport};
            let mut config = S3Config::from_url(location)?;
            if let Some(endpoint) = &options.s3_endpoint {
                config = config.with_endpoint(endpoint);
            }
            if let Some(region) = &options.s3_region {
                config = config.with_region(region);
            }
            if let Some(credentials) = &options.s3_credentials {
                config = config.with_credentials(credentials.clone());
            }
            if let Some(t) = options.io_timeout {
                config = config.with_timeout(t);
            }
            Ok(Arc::new(S3Transport::new(config.with_env())?))
        }
        #[cfg(feature = "webdav")]
        Some("webdav" | "webdavs") => {
            use super::webdav::{WebDavConfig, WebDavTransport};
            let mut config = WebDavConfig::from_url(location)?;
            if let Some(pem) = &options.ca_pem {
                config = config.with_ca_pem(pem);
            }
            if options.connect_timeout.is_some() || options.io_timeout.is_some() {
                config = config.with_timeouts(
                    options
                        .connect_timeout
                        .unwrap_or(std::time::Duration::from_secs(10)),
                    options.io_timeout.unwrap_or(std::time::Duration::from_secs(30)),
                );
            }
            Ok(Arc::new(WebDavTransport::new(config)?))
        }
        #[cfg(not(feature = "webdav"))]
        Some(scheme @ ("webdav" | "webdavs")) => Err(TransportError::new(
            TransportErrorKind::Unsupported,
            "open",
            format!("{scheme}:// locations need ftpchat-core's `webdav` feature, which this build lacks"),
        )),
        Some("file") => {
            let path = &location["file://".len()..];
            Ok(Arc::new(LocalTransport::new(path)))
        }
        Some("memory") => {
            let name = location["memory://".len()..].to_owned();
            let mut stores = memory_stores().lock().unwrap_or_else(|e| e.into_inner());
            Ok(Arc::new(stores.entry(name).or_default().clone()))
        }
        Some(other) => Err(TransportError::new(
            TransportErrorKind::Unsupported,
            "open",
            format!("unsupported location scheme {other:?} (use ftp, ftps, ftpes, sftp, s3, webdav, webdavs, file or memory; sftp, s3 and webdav need the features of those names)"),
        )),
        None if location.is_empty() => Err(TransportError::new(
            TransportErrorKind::InvalidPath,
            "open",
            "empty location",
        )),
        None => Ok(Arc::new(LocalTransport::new(location))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::RemotePath;

    #[test]
    fn schemes() {
        let o = OpenOptions::default();
        let a = open_location("memory://shared-test", &o).unwrap();
        let b = open_location("memory://shared-test", &o).unwrap();
        let p = RemotePath::new("x").unwrap();
        a.append(&p, b"hi").unwrap();
        assert_eq!(b.size(&p).unwrap(), Some(2));
        assert_eq!(
            open_location("memory://other", &o)
                .unwrap()
                .size(&p)
                .unwrap(),
            None
        );

        let dir = tempfile::tempdir().unwrap();
        let local = open_location(dir.path().to_str().unwrap(), &o).unwrap();
        assert!(local.describe().starts_with("file://"));
        let url = format!("file://{}", dir.path().display());
        assert_eq!(
            open_location(&url, &o).unwrap().describe(),
            local.describe()
        );

        let ftp = open_location("ftp://u:secret@127.0.0.1:2999/dir", &o).unwrap();
        assert!(!ftp.describe().contains("secret"));
        // `ftpes` is explicit FTPS with TLS required, like `ftps`.
        for url in [
            "ftpes://u:secret@127.0.0.1:2999/dir",
            "FTPES://127.0.0.1:2999",
        ] {
            let ftpes = open_location(url, &o).unwrap();
            assert!(ftpes.describe().starts_with("ftps://"), "{url}");
        }
        // sftp:// with the feature: parsed (nothing sent), no password in `describe`;
        // without it: unsupported, not mistaken for a folder.
        let sftp = open_location("sftp://u:secret@127.0.0.1:2999/dir", &o);
        #[cfg(feature = "sftp")]
        assert_eq!(sftp.unwrap().describe(), "sftp://u@127.0.0.1:2999/dir");
        #[cfg(not(feature = "sftp"))]
        assert_eq!(sftp.unwrap_err().kind(), TransportErrorKind::Unsupported);
        // s3:// likewise (credentials are refused in the URL).
        let s3 = open_location("s3://bucket/room", &o);
        #[cfg(feature = "s3")]
        assert!(s3.unwrap().describe().starts_with("s3://bucket/room"));
        #[cfg(not(feature = "s3"))]
        assert_eq!(s3.unwrap_err().kind(), TransportErrorKind::Unsupported);
        // webdav:// and webdavs:// likewise (the password stays out of `describe`).
        for url in [
            "webdav://u:secret@127.0.0.1:2999/dir",
            "WEBDAVS://u:secret@127.0.0.1:2999/dir",
        ] {
            let dav = open_location(url, &o);
            #[cfg(feature = "webdav")]
            {
                let shown = dav.unwrap().describe();
                assert!(shown.ends_with("://u@127.0.0.1:2999/dir"), "{shown}");
                assert!(!shown.contains("secret"), "{shown}");
            }
            #[cfg(not(feature = "webdav"))]
            {
                let err = dav.unwrap_err();
                assert_eq!(err.kind(), TransportErrorKind::Unsupported, "{url}");
                assert!(err.to_string().contains("`webdav` feature"), "{err}");
            }
        }
        let err = open_location("gopher://x", &o).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Unsupported);
        assert_eq!(
            open_location("", &o).unwrap_err().kind(),
            TransportErrorKind::InvalidPath
        );
    }
}
