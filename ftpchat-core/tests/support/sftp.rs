//! The OpenSSH sshd that `.ci/sftp-server.sh` starts, announced by `FTPCHAT_TEST_SFTP_*`.

use std::path::PathBuf;
use std::time::Duration;

use ftpchat_core::{SftpConfig, SftpTransport};

use super::env_or_skip;

/// `sftp://user:password@127.0.0.1:port/chat` (contains the password: do not print it).
pub const SFTP_URL: &str = "FTPCHAT_TEST_SFTP_URL";
/// The test user's private key file (ed25519, no passphrase).
pub const SFTP_KEY: &str = "FTPCHAT_TEST_SFTP_KEY";
/// A known_hosts file that lists the server's host key.
pub const SFTP_KNOWN_HOSTS: &str = "FTPCHAT_TEST_SFTP_KNOWN_HOSTS";
/// The host key's `SHA256:...` fingerprint.
pub const SFTP_FINGERPRINT: &str = "FTPCHAT_TEST_SFTP_FINGERPRINT";
/// sshd's pid file (its children serve the sessions).
pub const SFTP_PIDFILE: &str = "FTPCHAT_TEST_SFTP_PIDFILE";

/// The announced sshd.
#[derive(Debug, Clone)]
pub struct SftpServer {
    /// Its URL, with the password.
    pub url: String,
    /// The user's private key.
    pub key: PathBuf,
    /// known_hosts with the server's key.
    pub known_hosts: PathBuf,
    /// The host key fingerprint.
    pub fingerprint: String,
    /// sshd's pid file.
    pub pidfile: PathBuf,
}

/// The sshd from the environment; `None` after a note outside CI, a panic under CI.
pub fn external_sftp() -> Option<SftpServer> {
    Some(SftpServer {
        url: env_or_skip(SFTP_URL)?,
        key: env_or_skip(SFTP_KEY)?.into(),
        known_hosts: env_or_skip(SFTP_KNOWN_HOSTS)?.into(),
        fingerprint: env_or_skip(SFTP_FINGERPRINT)?,
        pidfile: env_or_skip(SFTP_PIDFILE)?.into(),
    })
}

impl SftpServer {
    /// The URL's configuration (password login), checked against the known_hosts file.
    pub fn config(&self) -> SftpConfig {
        SftpConfig::from_url(&self.url)
            .unwrap_or_else(|e| panic!("the SFTP URL in the environment does not parse: {e}"))
            .with_known_hosts(&self.known_hosts)
            .with_timeouts(Duration::from_secs(5), Duration::from_secs(15))
    }

    /// The URL without its password (`sftp://user@host:port/chat`).
    pub fn url_without_password(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap();
        let (userinfo, hostpath) = rest.rsplit_once('@').unwrap();
        let user = userinfo.split(':').next().unwrap();
        format!("{scheme}://{user}@{hostpath}")
    }

    /// A transport with the URL's configuration.
    pub fn transport(&self) -> SftpTransport {
        SftpTransport::new(self.config()).unwrap()
    }
}
