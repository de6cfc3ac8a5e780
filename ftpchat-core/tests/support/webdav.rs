//! The wsgidav WebDAV server that `.ci/webdav-server.sh` starts, announced by
//! `FTPCHAT_TEST_WEBDAV_*`.

use std::time::Duration;

use ftpchat_core::{WebDavConfig, WebDavTransport};

use super::env_or_skip;

/// `webdav://127.0.0.1:<port>/chat` (no credentials in it).
pub const WEBDAV_URL: &str = "FTPCHAT_TEST_WEBDAV_URL";
/// `webdavs://127.0.0.1:<port>/chat`: the same folder over HTTPS.
pub const WEBDAVS_URL: &str = "FTPCHAT_TEST_WEBDAVS_URL";
/// Path of the PEM certificate the HTTPS server uses (the CA to trust).
pub const WEBDAV_CA: &str = "FTPCHAT_TEST_WEBDAV_CA";
/// The user name (HTTP Basic).
pub const WEBDAV_USER: &str = "FTPCHAT_TEST_WEBDAV_USER";
/// Its password (do not print it).
pub const WEBDAV_PASSWORD: &str = "FTPCHAT_TEST_WEBDAV_PASSWORD";

/// The announced WebDAV server.
#[derive(Debug, Clone)]
pub struct WebDavServer {
    /// `webdav://127.0.0.1:<port>/chat`.
    pub url: String,
    /// `webdavs://127.0.0.1:<port>/chat`.
    pub tls_url: String,
    /// The PEM certificate to trust for [`tls_url`](Self::tls_url).
    pub ca_pem: String,
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// The server from the environment; `None` after a note outside CI, a panic under CI.
pub fn external_webdav() -> Option<WebDavServer> {
    Some(WebDavServer {
        url: env_or_skip(WEBDAV_URL)?,
        tls_url: env_or_skip(WEBDAVS_URL)?,
        ca_pem: std::fs::read_to_string(env_or_skip(WEBDAV_CA)?)
            .unwrap_or_else(|e| panic!("{WEBDAV_CA} cannot be read: {e}")),
        user: env_or_skip(WEBDAV_USER)?,
        password: env_or_skip(WEBDAV_PASSWORD)?,
    })
}

impl WebDavServer {
    /// The configuration of [`url`](Self::url) with the credentials and test timeouts.
    pub fn config(&self) -> WebDavConfig {
        self.config_for(&self.url)
    }

    /// The configuration of [`tls_url`](Self::tls_url), trusting [`ca_pem`](Self::ca_pem).
    pub fn tls_config(&self) -> WebDavConfig {
        self.config_for(&self.tls_url).with_ca_pem(&self.ca_pem)
    }

    /// A transport on [`tls_url`](Self::tls_url).
    pub fn tls_transport(&self) -> WebDavTransport {
        WebDavTransport::new(self.tls_config()).unwrap()
    }

    fn config_for(&self, url: &str) -> WebDavConfig {
        WebDavConfig::from_url(url)
            .unwrap_or_else(|e| panic!("the WebDAV URL does not parse: {e}"))
            .with_credentials(&self.user, &self.password)
            .with_timeouts(Duration::from_secs(5), Duration::from_secs(20))
    }

    /// A transport on the announced URL.
    pub fn transport(&self) -> WebDavTransport {
        WebDavTransport::new(self.config()).unwrap()
    }

    /// [`url`](Self::url) with the credentials in it (percent-encoded), for `open_location`.
    pub fn url_with_credentials(&self) -> String {
        self.with_credentials(&self.url)
    }

    /// `url` with the credentials in it (percent-encoded).
    pub fn with_credentials(&self, url: &str) -> String {
        let encode = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        let (scheme, rest) = url.split_once("://").unwrap();
        format!(
            "{scheme}://{}:{}@{rest}",
            encode(&self.user),
            encode(&self.password)
        )
    }
}
