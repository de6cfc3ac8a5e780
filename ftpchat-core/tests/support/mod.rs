//! Shared test support: real FTP servers for transport and room-engine tests.
//!
//! - [`ftp_server::TestFtpServer`]: an in-process libunftp server (plain or FTPS), always
//!   available.
//! - External servers started by `.ci/ftp-servers.sh` and announced through environment
//!   variables ([`PYFTPDLIB_URL`], [`VSFTPD_URL`], [`FTPS_URL`] + [`FTPS_CA`]). When one is
//!   missing, the helpers panic under `CI=true` (the run must not silently skip) and
//!   otherwise print a note and return `None`, so the test returns early:
//!
//! ```ignore
//! let Some(server) = support::external(support::PYFTPDLIB_URL) else { return };
//! ```

// Each test crate uses a different part of this module.
#![allow(dead_code)]

pub mod ftp_server;
pub mod members;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(any(feature = "s3", feature = "webdav"))]
pub mod segments;
#[cfg(feature = "sftp")]
pub mod sftp;
#[cfg(feature = "webdav")]
pub mod webdav;

use std::time::Duration;

use ftpchat_core::FtpConfigBuilder;

/// URL of a writable pyftpdlib server, e.g. `ftp://user:pass@127.0.0.1:2122`.
pub const PYFTPDLIB_URL: &str = "FTPCHAT_TEST_PYFTPDLIB_URL";
/// URL of a writable vsftpd server, e.g. `ftp://127.0.0.1:2121/pub` (anonymous).
pub const VSFTPD_URL: &str = "FTPCHAT_TEST_VSFTPD_URL";
/// URL of an explicit-FTPS server, e.g. `ftps://user:pass@127.0.0.1:2123`.
pub const FTPS_URL: &str = "FTPCHAT_TEST_FTPS_URL";
/// URL of vsftpd with explicit FTPS (its certificate chains to [`FTPS_CA`] too).
pub const VSFTPD_FTPS_URL: &str = "FTPCHAT_TEST_VSFTPD_FTPS_URL";
/// Path of the PEM certificate (CA) that [`FTPS_URL`]'s server certificate chains to.
pub const FTPS_CA: &str = "FTPCHAT_TEST_FTPS_CA";

/// Whether this is a CI run (`CI=true` or `CI=1`), where missing servers are failures.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Ok("true") | Ok("1")
    )
}

/// An external server announced through the environment.
#[derive(Debug, Clone)]
pub struct ExternalServer {
    /// Its URL (may contain a password; do not print it).
    pub url: String,
    /// The CA certificate to trust, in PEM, for FTPS servers.
    pub ca_pem: Option<String>,
}

impl ExternalServer {
    /// A configuration builder from the URL with the CA and test timeouts.
    pub fn config_builder(&self) -> FtpConfigBuilder {
        let mut builder = FtpConfigBuilder::from_url(&self.url)
            .unwrap_or_else(|e| panic!("the URL in the environment does not parse: {e}"))
            .connect_timeout(Duration::from_secs(5))
            .io_timeout(Duration::from_secs(15));
        if let Some(pem) = &self.ca_pem {
            builder = builder.ca_pem(pem);
        }
        builder
    }
}

/// The value of `var`, or `None` after a note (outside CI); panics under CI.
pub fn env_or_skip(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ => {
            let note = format!(
                "{var} is not set: run `.ci/ftp-servers.sh` and export the variables it prints"
            );
            if in_ci() {
                panic!("CI=true but {note}");
            }
            eprintln!("note: skipping a test against an external FTP server: {note}");
            None
        }
    }
}

/// The external server whose URL is in `url_var` (no CA).
pub fn external(url_var: &str) -> Option<ExternalServer> {
    env_or_skip(url_var).map(|url| ExternalServer { url, ca_pem: None })
}

/// The external FTPS server: [`FTPS_URL`] and the CA file named by [`FTPS_CA`].
pub fn external_ftps() -> Option<ExternalServer> {
    external_tls(FTPS_URL)
}

/// An external FTPS server whose URL is in `url_var`, trusting the CA file named by
/// [`FTPS_CA`].
pub fn external_tls(url_var: &str) -> Option<ExternalServer> {
    let url = env_or_skip(url_var)?;
    let ca_path = env_or_skip(FTPS_CA)?;
    let ca_pem = std::fs::read_to_string(&ca_path)
        .unwrap_or_else(|e| panic!("{FTPS_CA}={ca_path} cannot be read: {e}"));
    Some(ExternalServer {
        url,
        ca_pem: Some(ca_pem),
    })
}

/// The local store of the state folder `state` (its SQLite file), opened directly.
pub fn local_store(state: &std::path::Path) -> rusqlite::Connection {
    let path = ftpchat_core::StateLocation::Folder(state.to_path_buf())
        .store_path()
        .unwrap();
    rusqlite::Connection::open(path).unwrap()
}

/// The segment cache's text in the state folder `state`, a row of the store's table
/// `segment_cache` (the folder holds one room).
pub fn segment_cache(state: &std::path::Path) -> String {
    local_store(state)
        .query_row("SELECT text FROM segment_cache", [], |r| r.get(0))
        .expect("a segment cache in the local store")
}

/// Replaces the files of state folder `to` with those of `from` (a backup restored, or a
/// state folder copied to another device).
pub fn copy_state_folder(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(to).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(path).unwrap();
        }
    }
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
