//! Where a chat lives, as the examples take it on the command line: a URL or folder path
//! whose **last component names the room** (the room directory of a native room, the chat
//! file of an FTPChat room), the rest being where the transport is rooted.
//!
//! | argument | transport root | room |
//! |---|---|---|
//! | `ftp://bob:pw@host:2121/chats/lobby` | `ftp://bob:pw@host:2121/chats` | `lobby` |
//! | `ftps://host/chat.txt` (with `--compat`) | `ftps://host` | `chat.txt` |
//! | `ftpes://...` | the same as `ftps://`: TLS required, never plain FTP | |
//! | `/home/me/Sync/lobby`, `file:///home/me/Sync/lobby` | the folder `/home/me/Sync` | `lobby` |
//! | `sftp://bob@host/chats/lobby` | `sftp://bob@host/chats` | `lobby` |
//! | `webdav://bob@host/dav/lobby`, `webdavs://...` | `webdav://bob@host/dav` | `lobby` |
//! | `s3://bucket/chats/lobby` | `s3://bucket/chats` | `lobby` |
//!
//! SFTP, WebDAV and S3 need the examples' cargo feature `stores`; without it they fail with
//! an error naming the feature. S3 takes its endpoint and access key from the usual
//! `AWS_*` variables; a native room there (and on WebDAV) uses the segment layout.
//!
//! An FTP URL with a user but no password (`ftp://bob@host/lobby`) takes the login password
//! from `FTPCHAT_FTP_PASSWORD` or asks for it, so it never has to be typed on a command line.
//!
//! SFTP checks the server's host key against `~/.ssh/known_hosts`, or the file named by
//! `FTPCHAT_SSH_KNOWN_HOSTS`, or accepts exactly the key whose `SHA256:...` fingerprint
//! `FTPCHAT_SSH_HOST_FINGERPRINT` gives; `FTPCHAT_SSH_KEY` names a private key file to log
//! in with (then no password is asked for).

use std::sync::Arc;
use std::time::Duration;

use ftpchat_core::LocalTransport;
use ftpchat_core::Transport;
use ftpchat_core::{open_location, OpenOptions};
use ftpchat_core::{FtpConfigBuilder, FtpTransport};

/// The environment variable holding a login password (when the URL has none): FTP, SFTP,
/// WebDAV.
pub const FTP_PASSWORD_ENV: &str = "FTPCHAT_FTP_PASSWORD";

/// A private key file (OpenSSH format) for SFTP logins.
pub const SSH_KEY_ENV: &str = "FTPCHAT_SSH_KEY";
/// The `SHA256:...` fingerprint of the SFTP server's host key, accepted instead of
/// known_hosts.
pub const SSH_HOST_FINGERPRINT_ENV: &str = "FTPCHAT_SSH_HOST_FINGERPRINT";
/// A known_hosts file to check SFTP host keys against instead of `~/.ssh/known_hosts`.
pub const SSH_KNOWN_HOSTS_ENV: &str = "FTPCHAT_SSH_KNOWN_HOSTS";

/// A non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A parsed chat location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What kind of store it is.
    pub kind: TargetKind,
    /// The transport root: a URL without the room component, or a folder path.
    pub base: String,
    /// The room directory (native) or chat file (FTPChat), one path component, decoded.
    pub room: String,
}

/// The kind of store a [`Target`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `ftp://`: plain FTP.
    Ftp,
    /// `ftps://`: explicit FTPS, TLS required.
    Ftps,
    /// `ftpes://`: another name for `ftps://` (explicit FTPS, TLS required, no fallback).
    Ftpes,
    /// A local (or synced) folder.
    Folder,
    /// `sftp://`: SFTP over SSH (feature `stores`).
    Sftp,
    /// `webdav://` or `webdavs://`: a WebDAV folder (feature `stores`).
    WebDav,
    /// `s3://bucket/prefix`: an S3 bucket (feature `stores`).
    S3,
}

impl TargetKind {
    /// `true` for the FTP kinds.
    pub fn is_ftp(self) -> bool {
        matches!(self, TargetKind::Ftp | TargetKind::Ftps | TargetKind::Ftpes)
    }

    /// `true` for the kinds whose URL may carry a login (FTP, SFTP, WebDAV).
    pub fn has_login(self) -> bool {
        self.is_ftp() || matches!(self, TargetKind::Sftp | TargetKind::WebDav)
    }
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Escapes everything but RFC 3986 unreserved characters (for a password in a URL).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Target {
    /// Parses a location (see the [module documentation](self)).
    pub fn parse(location: &str) -> Result<Target, String> {
        let location = location.trim();
        if location.is_empty() {
            return Err("empty location".into());
        }
        let Some((scheme, rest)) = location.split_once("://") else {
            return Self::folder(location);
        };
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "ftp" => TargetKind::Ftp,
            "ftps" => TargetKind::Ftps,
            "ftpes" => TargetKind::Ftpes,
            "file" => return Self::folder(rest),
            "sftp" => TargetKind::Sftp,
            "webdav" | "webdavs" => TargetKind::WebDav,
            "s3" => TargetKind::S3,
            other => {
                return Err(format!(
                    "unsupported scheme {other:?} (use ftp://, ftps://, ftpes://, sftp://, webdav://, webdavs://, s3://, file:// or a folder path)"
                ))
            }
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p.trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.ends_with('@') {
            return Err("the URL has no host".into());
        }
        let (parent, leaf) = match path.rsplit_once('/') {
            Some((parent, leaf)) => (parent, leaf),
            None => ("", path),
        };
        let room = percent_decode(leaf);
        if room.is_empty() {
            return Err(format!(
                "the URL must end with the room, e.g. {scheme}://{}/lobby",
                host_part(authority)
            ));
        }
        let base = if parent.is_empty() {
            format!("{scheme}://{authority}")
        } else {
            format!("{scheme}://{authority}/{parent}")
        };
        Ok(Target { kind, base, room })
    }

    fn folder(path: &str) -> Result<Target, String> {
        let trimmed = path.trim_end_matches('/');
        let p = std::path::Path::new(trimmed);
        let room = p
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .ok_or_else(|| format!("{path:?} does not end with a room name"))?
            .to_owned();
        let base = match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.display().to_string(),
            _ => ".".to_owned(),
        };
        Ok(Target {
            kind: TargetKind::Folder,
            base,
            room,
        })
    }

    /// For FTP, SFTP and WebDAV URLs: the user name when the URL names one without a
    /// password.
    pub fn user_without_password(&self) -> Option<String> {
        if !self.kind.has_login() {
            return None;
        }
        let rest = self.base.split_once("://").map(|(_, r)| r)?;
        let authority = rest.split('/').next()?;
        let (userinfo, _) = authority.rsplit_once('@')?;
        (!userinfo.contains(':')).then(|| percent_decode(userinfo))
    }

    /// Fills in the login password when the URL names a user without one: from
    /// `FTPCHAT_FTP_PASSWORD`, else typed at a prompt that does not echo.
    pub fn with_login_password(self) -> Result<Target, String> {
        let Some(user) = self.user_without_password() else {
            return Ok(self);
        };
        if self.kind == TargetKind::Sftp && env_var(SSH_KEY_ENV).is_some() {
            // The key logs in.
            return Ok(self);
        }
        let what = match self.kind {
            TargetKind::Sftp => "SFTP",
            TargetKind::WebDav => "WebDAV",
            _ => "FTP",
        };
        let prompt = format!("{what} password for {user}: ");
        let password = crate::secret::from_env_or_prompt(FTP_PASSWORD_ENV, &prompt)
            .map_err(|e| format!("FTP password: {e}"))?;
        Ok(self.with_password(&password))
    }

    /// The base with `password` inserted after the user (percent-encoded).
    pub fn with_password(&self, password: &str) -> Target {
        let mut t = self.clone();
        if let Some((scheme, rest)) = self.base.split_once("://") {
            if let Some((userinfo, after)) = rest.split_once('@') {
                if !userinfo.contains(':') && !userinfo.contains('/') {
                    t.base = format!("{scheme}://{userinfo}:{}@{after}", percent_encode(password));
                }
            }
        }
        t
    }

    /// The base for display: the URL without any password.
    pub fn display_base(&self) -> String {
        let Some((scheme, rest)) = self.base.split_once("://") else {
            return self.base.clone();
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, format!("/{p}")),
            None => (rest, String::new()),
        };
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{user}@{host}")
            }
            None => authority.to_owned(),
        };
        format!("{scheme}://{authority}{path}")
    }
}

fn host_part(authority: &str) -> &str {
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// An opened transport, with the FTP transport kept apart so its TLS state can be shown.
#[derive(Debug, Clone)]
pub struct OpenedTransport {
    /// The transport to give a room.
    pub transport: Arc<dyn Transport>,
    /// The same transport when it is FTP/FTPS.
    pub ftp: Option<Arc<FtpTransport>>,
    /// What a status line shows for a store other than FTP ("local folder", "SSH"...).
    pub label: &'static str,
}

impl OpenedTransport {
    /// "TLS", "no TLS", "local folder", "SSH", "HTTPS" or "HTTP", for a status line
    /// (`None` before an FTP connection is made).
    pub fn security(&self) -> Option<&'static str> {
        match &self.ftp {
            Some(ftp) => ftp.is_secure().map(|s| if s { "TLS" } else { "no TLS" }),
            None => Some(self.label),
        }
    }
}

/// Options for [`open_transport`].
#[derive(Debug, Clone, Default)]
pub struct TransportOptions {
    /// PEM certificate(s) to trust for FTPS instead of the system's web roots.
    pub ca_pem: Option<String>,
    /// Connect timeout for FTP (default: the core's).
    pub connect_timeout: Option<Duration>,
    /// Socket read/write timeout for FTP (default: the core's).
    pub io_timeout: Option<Duration>,
}

/// Opens the transport rooted at `target.base`. The password, if the URL has a user but no
/// password, must have been filled in with [`Target::with_password`] first.
pub fn open_transport(
    target: &Target,
    options: &TransportOptions,
) -> Result<OpenedTransport, String> {
    if target.kind == TargetKind::Folder {
        let path = std::path::Path::new(&target.base);
        if !path.is_dir() {
            return Err(format!("folder {} not found", path.display()));
        }
        return Ok(OpenedTransport {
            transport: Arc::new(LocalTransport::new(path)),
            ftp: None,
            label: "local folder",
        });
    }
    if !target.kind.is_ftp() {
        let mut open = OpenOptions::default();
        if let Some(pem) = &options.ca_pem {
            open = open.with_ca_pem(pem.clone());
        }
        if let (Some(c), Some(io)) = (options.connect_timeout, options.io_timeout) {
            open = open.with_timeouts(c, io);
        }
        if target.kind == TargetKind::Sftp {
            if let Some(key) = env_var(SSH_KEY_ENV) {
                open = open.with_ssh_key_file(key);
            }
            if let Some(fingerprint) = env_var(SSH_HOST_FINGERPRINT_ENV) {
                open = open.with_host_fingerprint(fingerprint);
            }
            if let Some(file) = env_var(SSH_KNOWN_HOSTS_ENV) {
                open = open.with_known_hosts(file);
            }
        }
        let transport = open_location(&target.base, &open).map_err(|e| e.to_string())?;
        let label = match target.kind {
            TargetKind::Sftp => "SSH",
            _ if target.base.starts_with("webdavs://") => "HTTPS",
            TargetKind::WebDav => "HTTP",
            _ => "S3",
        };
        return Ok(OpenedTransport {
            transport,
            ftp: None,
            label,
        });
    }
    // The scheme alone sets the TLS policy: `ftps` and `ftpes` require TLS (no fallback).
    let mut builder = FtpConfigBuilder::from_url(&target.base).map_err(|e| e.to_string())?;
    if let Some(pem) = &options.ca_pem {
        builder = builder.ca_pem(pem);
    }
    if let Some(t) = options.connect_timeout {
        builder = builder.connect_timeout(t);
    }
    if let Some(t) = options.io_timeout {
        builder = builder.io_timeout(t);
    }
    let config = builder.build().map_err(|e| e.to_string())?;
    let ftp = Arc::new(FtpTransport::new(config));
    Ok(OpenedTransport {
        transport: ftp.clone(),
        ftp: Some(ftp),
        label: "FTP",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn object_store_urls_split_at_the_room_and_keep_their_login() {
        let t = Target::parse("s3://bucket/chats/lobby").unwrap();
        assert_eq!(
            (t.kind, t.base.as_str(), t.room.as_str()),
            (TargetKind::S3, "s3://bucket/chats", "lobby")
        );
        let t = Target::parse("webdavs://ann@dav.example/remote.php/dav/team").unwrap();
        assert_eq!(t.kind, TargetKind::WebDav);
        assert_eq!(t.base, "webdavs://ann@dav.example/remote.php/dav");
        assert_eq!(t.user_without_password().as_deref(), Some("ann"));
        assert_eq!(
            t.with_password("p@ss").base,
            "webdavs://ann:p%40ss@dav.example/remote.php/dav"
        );
        let t = Target::parse("sftp://bob:pw@host:2222/home/bob/lobby").unwrap();
        assert_eq!(t.kind, TargetKind::Sftp);
        assert_eq!(t.display_base(), "sftp://bob@host:2222/home/bob");
        assert!(Target::parse("gopher://x/lobby")
            .unwrap_err()
            .contains("s3://"));
        assert!(!TargetKind::S3.has_login() && TargetKind::Sftp.has_login());
    }

    #[test]
    fn ftp_urls_split_at_the_room() {
        let t = Target::parse("ftp://bob:p%40ss@127.0.0.1:2121/chats/lobby/").unwrap();
        assert_eq!(t.kind, TargetKind::Ftp);
        assert_eq!(t.base, "ftp://bob:p%40ss@127.0.0.1:2121/chats");
        assert_eq!(t.room, "lobby");
        assert_eq!(t.display_base(), "ftp://bob@127.0.0.1:2121/chats");
        assert_eq!(t.user_without_password(), None);

        let t = Target::parse("ftps://host/my%20chat.txt").unwrap();
        assert_eq!(
            (t.kind, t.base.as_str(), t.room.as_str()),
            (TargetKind::Ftps, "ftps://host", "my chat.txt")
        );
        let t = Target::parse("FTPES://alice@host/r").unwrap();
        assert_eq!(t.kind, TargetKind::Ftpes);
        assert_eq!(t.user_without_password().as_deref(), Some("alice"));
        let t = t.with_password("p:w@/x");
        assert_eq!(t.base, "FTPES://alice:p%3Aw%40%2Fx@host");
        assert_eq!(t.user_without_password(), None);
        assert_eq!(t.display_base(), "FTPES://alice@host");
    }

    #[test]
    fn ftpes_requires_tls() {
        for location in ["ftpes://bob:pw@127.0.0.1:1/r", "FTPES://127.0.0.1:1/r"] {
            let target = Target::parse(location).unwrap();
            let opened = open_transport(&target, &TransportOptions::default()).unwrap();
            let ftp = opened.ftp.unwrap();
            assert_eq!(
                ftp.config().tls_policy(),
                ftpchat_core::TlsPolicy::Required,
                "{location}"
            );
        }
    }

    #[test]
    fn refuses_incomplete_locations() {
        assert!(Target::parse("ftp://host").is_err());
        assert!(Target::parse("ftp://host/").is_err());
        assert!(Target::parse("ftp:///lobby").is_err());
        assert!(Target::parse("gopher://host/x").is_err());
        assert!(Target::parse("").is_err());
        assert!(Target::parse("/").is_err());
    }

    #[test]
    fn folders() {
        let t = Target::parse("/srv/sync/lobby").unwrap();
        assert_eq!(
            (t.kind, t.base.as_str(), t.room.as_str()),
            (TargetKind::Folder, "/srv/sync", "lobby")
        );
        let t = Target::parse("file:///srv/chat.txt").unwrap();
        assert_eq!((t.base.as_str(), t.room.as_str()), ("/srv", "chat.txt"));
        let t = Target::parse("lobby").unwrap();
        assert_eq!((t.base.as_str(), t.room.as_str()), (".", "lobby"));
        assert_eq!(t.user_without_password(), None);
    }

    #[test]
    fn percent_coding_round_trips() {
        for s in ["plain", "p@ss:w/rd %", "ünï"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
