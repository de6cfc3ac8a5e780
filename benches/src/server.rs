//! The FTP server a networked bench talks to, on 127.0.0.1 only.
//!
//! By default a harness starts its **own** vsftpd (needs root and `/usr/sbin/vsftpd`, as
//! `.ci/ftp-servers.sh` installs it) on a free port, with a fresh root in a temporary
//! folder and `log_ftp_protocol=YES`, so every FTP command the client sends is counted from
//! the server's log. `--server pyftpdlib` starts a private pyftpdlib (`ThreadedFTPServer`)
//! from the bench venv instead. `--server url:ftp://...` (or `FTPCHAT_BENCH_FTP_URL`) uses a
//! server that is already running; files go to a fresh sub-folder that is removed after.
//! Private servers are stopped (their process killed by id) when the handle drops.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ftpchat_core::{make_dir_all, RemotePath, Transport};
use ftpchat_core::{FtpConfigBuilder, FtpTransport};

use crate::python;

/// Which server to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerKind {
    /// A private vsftpd (the default).
    Vsftpd,
    /// A private pyftpdlib.
    Pyftpdlib,
    /// An already running server at this URL.
    Url(String),
}

impl ServerKind {
    /// Parses `vsftpd`, `pyftpdlib` or `url:<URL>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "vsftpd" => Ok(ServerKind::Vsftpd),
            "pyftpdlib" => Ok(ServerKind::Pyftpdlib),
            _ => s
                .strip_prefix("url:")
                .map(|u| ServerKind::Url(u.to_owned()))
                .ok_or_else(|| format!("unknown server {s:?}: use vsftpd, pyftpdlib or url:<URL>")),
        }
    }

    /// The default: `FTPCHAT_BENCH_FTP_URL` if set, else a private vsftpd.
    pub fn default_from_env() -> Self {
        match std::env::var("FTPCHAT_BENCH_FTP_URL") {
            Ok(url) if !url.is_empty() => ServerKind::Url(url),
            _ => ServerKind::Vsftpd,
        }
    }
}

/// A running (or borrowed) FTP server. See the [module documentation](self).
#[derive(Debug)]
pub struct FtpServer {
    name: String,
    /// URL of the folder the bench may use (credentials included).
    url: String,
    child: Option<Child>,
    /// The server's log of FTP commands (private vsftpd only).
    command_log: Option<PathBuf>,
    /// Local path of the folder `url` points to (private servers only).
    local_dir: Option<PathBuf>,
    /// A sub-folder created on an external server, removed on drop.
    external_dir: Option<(String, String)>,
    _work: Option<tempfile::TempDir>,
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) -> Result<(), String> {
    wait_for_addr("127.0.0.1", port, child, what)
}

fn wait_for_addr(addr: &str, port: u16, child: &mut Child, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect((addr, port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited at start: {status}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{what} did not listen on {addr}:{port} within 15 s"
    ))
}

/// A passive port range unlikely to collide with `.ci/ftp-servers.sh` (40000-41399) or the
/// in-process test server (50000-59999).
fn passive_range(port: u16) -> (u16, u16) {
    let base = 42_000 + (port % 60) * 100;
    (base, base + 99)
}

impl FtpServer {
    /// Starts (or connects to) the server `kind` names.
    pub fn start(kind: &ServerKind) -> Result<FtpServer, String> {
        match kind {
            ServerKind::Vsftpd => Self::start_vsftpd(),
            ServerKind::Pyftpdlib => Self::start_pyftpdlib(),
            ServerKind::Url(url) => Self::external(url),
        }
    }

    fn start_vsftpd() -> Result<FtpServer, String> {
        Self::start_vsftpd_at("127.0.0.1", None)
    }

    /// A private vsftpd listening on `addr`, started in the network namespace `netns`
    /// (`ip netns exec`) when given: the server end of a [`ShapedLink`](crate::link::ShapedLink),
    /// whose client end this process runs in.
    pub fn start_vsftpd_at(addr: &str, netns: Option<&str>) -> Result<FtpServer, String> {
        let bin = ["/usr/sbin/vsftpd", "/usr/bin/vsftpd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("vsftpd is not installed (bash .ci/ftp-servers.sh installs it)")?;
        let work = tempfile::Builder::new()
            .prefix("ftpchat-bench-vsftpd-")
            .tempdir()
            .map_err(|e| format!("temporary folder: {e}"))?;
        let root = work.path().join("root");
        let pub_dir = root.join("pub");
        fs::create_dir_all(&pub_dir).map_err(|e| format!("{}: {e}", pub_dir.display()))?;
        fs::create_dir_all("/var/run/vsftpd/empty")
            .map_err(|e| format!("secure_chroot_dir: {e}"))?;
        // vsftpd refuses a writable anonymous root; uploads go to pub/, owned by `ftp`.
        let (uid, gid) = ftp_user().ok_or("no `ftp` user (bash .ci/ftp-servers.sh creates it)")?;
        set_mode(work.path(), 0o755)?;
        set_mode(&root, 0o755)?;
        std::os::unix::fs::chown(&pub_dir, Some(uid), Some(gid))
            .map_err(|e| format!("chown pub/ to ftp (run as root): {e}"))?;
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let (pmin, pmax) = passive_range(port);
        let log = work.path().join("vsftpd.log");
        let conf = work.path().join("vsftpd.conf");
        let text = format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address={addr}\nlisten_port={port}\n\
             background=NO\nseccomp_sandbox=NO\nanonymous_enable=YES\nlocal_enable=NO\n\
             no_anon_password=YES\nanon_root={root}\nwrite_enable=YES\nanon_upload_enable=YES\n\
             anon_mkdir_write_enable=YES\nanon_other_write_enable=YES\nanon_umask=022\n\
             anon_world_readable_only=YES\nftp_username=ftp\npasv_enable=YES\n\
             pasv_address={addr}\npasv_min_port={pmin}\npasv_max_port={pmax}\n\
             connect_from_port_20=NO\nsecure_chroot_dir=/var/run/vsftpd/empty\n\
             xferlog_enable=YES\nxferlog_std_format=NO\nlog_ftp_protocol=YES\n\
             vsftpd_log_file={log}\ndirmessage_enable=NO\nuse_localtime=NO\nmax_clients=200\n\
             max_per_ip=200\nidle_session_timeout=600\n",
            root = root.display(),
            log = log.display(),
        );
        fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        set_mode(&conf, 0o600)?;
        let out = fs::File::create(work.path().join("vsftpd.out"))
            .map_err(|e| format!("vsftpd output file: {e}"))?;
        let mut command = match netns {
            Some(netns) => {
                // `ip netns exec` execs vsftpd: the child is the server itself.
                let mut c = Command::new("ip");
                c.args(["netns", "exec", netns, bin]);
                c
            }
            None => Command::new(bin),
        };
        let mut child = command
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("start vsftpd: {e}"))?;
        if let Err(e) = wait_for_addr(addr, port, &mut child, "vsftpd") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(FtpServer {
            name: "vsftpd".into(),
            url: format!("ftp://{addr}:{port}/pub"),
            child: Some(child),
            command_log: Some(log),
            local_dir: Some(pub_dir),
            external_dir: None,
            _work: Some(work),
        })
    }

    fn start_pyftpdlib() -> Result<FtpServer, String> {
        let py = python::venv_python()?;
        let work = tempfile::Builder::new()
            .prefix("ftpchat-bench-pyftpdlib-")
            .tempdir()
            .map_err(|e| format!("temporary folder: {e}"))?;
        let root = work.path().join("root");
        fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let (pmin, pmax) = passive_range(port);
        let out = fs::File::create(work.path().join("pyftpdlib.out"))
            .map_err(|e| format!("pyftpdlib output file: {e}"))?;
        let mut child = Command::new(py)
            .arg(python::script("ftpd.py"))
            .args([
                root.display().to_string(),
                port.to_string(),
                pmin.to_string(),
                pmax.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("start pyftpdlib: {e}"))?;
        if let Err(e) = wait_for_port(port, &mut child, "pyftpdlib") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(FtpServer {
            name: "pyftpdlib".into(),
            url: format!("ftp://bench:bench@127.0.0.1:{port}"),
            child: Some(child),
            command_log: None,
            local_dir: Some(root),
            external_dir: None,
            _work: Some(work),
        })
    }

    fn external(url: &str) -> Result<FtpServer, String> {
        let host_ok = url::host_is_loopback(url);
        if !host_ok {
            return Err(format!("{url}: benches only talk to 127.0.0.1 / localhost"));
        }
        let base = FtpTransport::new(
            FtpConfigBuilder::from_url(url)
                .and_then(|b| b.build())
                .map_err(|e| format!("{url}: {e}"))?,
        );
        let dir = format!(
            "ftpchat-bench-{}-{}",
            std::process::id(),
            unix_ms() % 1_000_000
        );
        let path = RemotePath::new(&dir).map_err(|e| e.to_string())?;
        make_dir_all(&base, &path).map_err(|e| format!("{url}: cannot create {dir}: {e}"))?;
        let sub = format!("{}/{dir}", url.trim_end_matches('/'));
        Ok(FtpServer {
            name: format!("external ({})", redact(url)),
            url: sub,
            child: None,
            command_log: None,
            local_dir: None,
            external_dir: Some((url.to_owned(), dir)),
            _work: None,
        })
    }

    /// `vsftpd`, `pyftpdlib` or `external (...)`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the bench folder (may hold credentials: do not print it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bench folder on the local disk, for private servers.
    pub fn local_dir(&self) -> Option<&Path> {
        self.local_dir.as_deref()
    }

    /// A transport on `sub` (a folder below the bench folder, created if missing), with
    /// generous timeouts for 100 MB transfers.
    pub fn transport(&self, sub: &str) -> Result<FtpTransport, String> {
        if !sub.is_empty() {
            let base = self.transport_at_root()?;
            let path = RemotePath::new(sub).map_err(|e| e.to_string())?;
            make_dir_all(&base, &path).map_err(|e| format!("create {sub}: {e}"))?;
            base.disconnect();
        }
        self.open(sub)
    }

    /// A transport on the existing folder `sub` (nothing is sent until its first use).
    pub fn open(&self, sub: &str) -> Result<FtpTransport, String> {
        let url = if sub.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{sub}", self.url.trim_end_matches('/'))
        };
        let config = FtpConfigBuilder::from_url(&url)
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(10))
            .io_timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(FtpTransport::new(config))
    }

    fn transport_at_root(&self) -> Result<FtpTransport, String> {
        let config = FtpConfigBuilder::from_url(&self.url)
            .map_err(|e| e.to_string())?
            .build()
            .map_err(|e| e.to_string())?;
        Ok(FtpTransport::new(config))
    }

    /// Host, port, user, password and folder of `sub` for clients other than ftpchat (the
    /// Python baselines): `(host, port, user, password, dir)`.
    pub fn login_parts(&self, sub: &str) -> (String, u16, String, String, String) {
        let parsed = url::split(&self.url);
        let dir = match (parsed.4.as_str(), sub) {
            ("", s) => s.to_owned(),
            (d, "") => d.to_owned(),
            (d, s) => format!("{d}/{s}"),
        };
        (parsed.0, parsed.1, parsed.2, parsed.3, dir)
    }

    /// `true` when FTP commands can be counted from the server's log.
    pub fn counts_commands(&self) -> bool {
        self.command_log.is_some()
    }

    /// A position in the command log; [`commands_since`](Self::commands_since) counts what
    /// was logged after it.
    pub fn log_mark(&self) -> u64 {
        self.command_log
            .as_ref()
            .and_then(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// FTP commands the server logged since `mark` (`None` when the server does not log
    /// them).
    pub fn commands_since(&self, mark: u64) -> Option<u64> {
        let path = self.command_log.as_ref()?;
        let mut f = fs::File::open(path).ok()?;
        f.seek(SeekFrom::Start(mark)).ok()?;
        let mut text = String::new();
        f.read_to_string(&mut text).ok()?;
        Some(text.matches("FTP command:").count() as u64)
    }

    /// The commands logged since `mark`, e.g. `["SIZE chat.txt", ...]` (for the report).
    pub fn command_names_since(&self, mark: u64) -> Vec<String> {
        let Some(path) = self.command_log.as_ref() else {
            return Vec::new();
        };
        let Ok(mut f) = fs::File::open(path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(mark)).is_err() {
            return Vec::new();
        }
        let mut text = String::new();
        let _ = f.read_to_string(&mut text);
        text.lines()
            .filter_map(|l| l.split_once("FTP command: "))
            .filter_map(|(_, rest)| rest.rsplit_once(", \""))
            .map(|(_, cmd)| {
                cmd.trim_end_matches('"')
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        if let Some((url, dir)) = self.external_dir.take() {
            if let Ok(t) = FtpConfigBuilder::from_url(&url)
                .and_then(|b| b.build())
                .map(FtpTransport::new)
            {
                if let Ok(path) = RemotePath::new(&dir) {
                    remove_tree(&t, &path);
                }
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Removes a folder and everything in it (best effort).
pub fn remove_tree(t: &dyn Transport, dir: &RemotePath) {
    if let Ok(entries) = t.list(dir) {
        for e in entries {
            let Ok(p) = dir.join(&e.name) else { continue };
            if e.is_dir {
                remove_tree(t, &p);
            } else {
                let _ = t.remove_file(&p);
            }
        }
    }
    let _ = t.remove_dir(dir);
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// uid and gid of the `ftp` user, from /etc/passwd.
fn ftp_user() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&"ftp") && f.len() > 3)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .flatten()
    })
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn redact(url: &str) -> String {
    let (host, port, user, _, dir) = url::split(url);
    if user.is_empty() || user == "anonymous" {
        format!("ftp://{host}:{port}/{dir}")
    } else {
        format!("ftp://{user}:***@{host}:{port}/{dir}")
    }
}

/// Minimal URL handling for the parts the benches need.
mod url {
    /// `(host, port, user, password, dir)` of an `ftp://` URL, percent-decoded.
    pub fn split(url: &str) -> (String, u16, String, String, String) {
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let (authority, dir) = rest.split_once('/').unwrap_or((rest, ""));
        let (creds, hostport) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (user, password) = match creds {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (decode(u), decode(p)),
                None => (decode(c), String::new()),
            },
            None => ("anonymous".to_owned(), "anonymous@".to_owned()),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(21)),
            None => (hostport.to_owned(), 21),
        };
        (
            host,
            port,
            user,
            password,
            decode(dir.trim_end_matches('/')),
        )
    }

    /// `true` for 127.0.0.0/8, localhost and [::1].
    pub fn host_is_loopback(url: &str) -> bool {
        let host = split(url).0;
        host == "localhost" || host == "[::1]" || host.starts_with("127.")
    }

    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn splits() {
            assert_eq!(
                super::split("ftp://u:p%40x@127.0.0.1:2122/a/b"),
                (
                    "127.0.0.1".into(),
                    2122,
                    "u".into(),
                    "p@x".into(),
                    "a/b".into()
                )
            );
            let anon = super::split("ftp://127.0.0.1:2121/pub");
            assert_eq!((anon.2.as_str(), anon.4.as_str()), ("anonymous", "pub"));
            assert!(super::host_is_loopback("ftp://127.0.0.1:1/x"));
            assert!(!super::host_is_loopback("ftp://10.0.0.1:1/x"));
        }
    }
}
