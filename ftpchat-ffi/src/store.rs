//! [`StoreOptions`] and [`S3Credentials`]: how to reach SFTP, S3 and WebDAV locations,
//! for what a location URL cannot carry (mobile apps have no `~/.ssh/known_hosts` and no
//! `AWS_*` environment).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ftpchat_core::OpenOptions;

use crate::{ChatError, RoomOptions};

/// How to reach the location of a room beyond what its URL says: TLS roots, timeouts,
/// the SFTP host key and login key, the S3 endpoint and access key. Every field is
/// optional; the defaults are those of the core's `OpenOptions` (for S3: the `AWS_*`
/// environment variables, then AWS itself). Holds no secrets (the S3 secret key is in the
/// opaque [`S3Credentials`] object), so it can be logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct StoreOptions {
    /// Connect timeout in milliseconds (FTP, WebDAV); default 10 s.
    #[uniffi(default = None)]
    pub connect_timeout_ms: Option<u64>,
    /// Read/write timeout in milliseconds (FTP, WebDAV; also the SFTP per-request and
    /// the S3 request timeout); default 30 s.
    #[uniffi(default = None)]
    pub io_timeout_ms: Option<u64>,
    /// SFTP: the known_hosts file to check the server's host key against (default
    /// `~/.ssh/known_hosts`, which apps usually do not have: give this or
    /// `ssh_host_fingerprint`).
    #[uniffi(default = None)]
    pub ssh_known_hosts: Option<String>,
    /// SFTP: accept exactly the host key with this `SHA256:...` fingerprint (as
    /// `ssh-keygen -lf` prints it) instead of consulting known_hosts.
    #[uniffi(default = None)]
    pub ssh_host_fingerprint: Option<String>,
    /// SFTP: a private key file (OpenSSH format, ed25519 or ECDSA, unencrypted) to log in
    /// with, tried before the URL's password.
    #[uniffi(default = None)]
    pub ssh_key_file: Option<String>,
    /// S3: the endpoint, e.g. `https://s3.example.net` or `http://127.0.0.1:9000`
    /// (path-style requests); default `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, else AWS.
    #[uniffi(default = None)]
    pub s3_endpoint: Option<String>,
    /// S3: the region; default `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    #[uniffi(default = None)]
    pub s3_region: Option<String>,
    /// S3: the access key; default `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`, else
    /// unsigned requests.
    #[uniffi(default = None)]
    pub s3_credentials: Option<Arc<S3Credentials>>,
}

/// An S3 access key: its id, its secret and, for temporary credentials, a session token.
/// Opaque on purpose: the secret cannot be read back, never shows in `toString()` /
/// `description` or in errors, and is zeroized when the object is destroyed.
#[derive(uniffi::Object)]
pub struct S3Credentials {
    inner: ftpchat_core::S3Credentials,
}

#[uniffi::export]
impl S3Credentials {
    /// An access key id and its secret (and a session token for temporary credentials).
    #[uniffi::constructor(default(session_token = None))]
    pub fn new(
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    ) -> Arc<Self> {
        let mut inner = ftpchat_core::S3Credentials::new(access_key_id, secret_access_key);
        if let Some(token) = session_token {
            inner = inner.with_session_token(token);
        }
        Arc::new(S3Credentials { inner })
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The core's Debug redacts the secret and the token.
        self.inner.fmt(f)
    }
}

// Two records are equal when they hold the same credentials object: the secret is not
// compared (nor exposed through a comparison).
impl PartialEq for S3Credentials {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for S3Credentials {}

/// The core's transport options for a room's `options` (`ca_pem` and `store`).
pub(crate) fn open_options(o: &RoomOptions) -> Result<OpenOptions, ChatError> {
    let mut options = OpenOptions::default();
    if let Some(pem) = &o.ca_pem {
        options = options.with_ca_pem(pem.clone());
    }
    let Some(store) = &o.store else {
        return Ok(options);
    };
    let millis = |name: &str, ms: Option<u64>| -> Result<Option<Duration>, ChatError> {
        match ms {
            Some(0) => Err(ChatError::invalid_argument(format!(
                "store.{name} must be at least 1 ms"
            ))),
            other => Ok(other.map(Duration::from_millis)),
        }
    };
    options.connect_timeout = millis("connectTimeoutMs", store.connect_timeout_ms)?;
    options.io_timeout = millis("ioTimeoutMs", store.io_timeout_ms)?;
    if let Some(path) = &store.ssh_known_hosts {
        options = options.with_known_hosts(PathBuf::from(path));
    }
    if let Some(fingerprint) = &store.ssh_host_fingerprint {
        options = options.with_host_fingerprint(fingerprint.clone());
    }
    if let Some(path) = &store.ssh_key_file {
        options = options.with_ssh_key_file(PathBuf::from(path));
    }
    if let Some(endpoint) = &store.s3_endpoint {
        options = options.with_s3_endpoint(endpoint.clone());
    }
    if let Some(region) = &store.s3_region {
        options = options.with_s3_region(region.clone());
    }
    if let Some(credentials) = &store.s3_credentials {
        options = options.with_s3_credentials(credentials.inner.clone());
    }
    Ok(options)
}
