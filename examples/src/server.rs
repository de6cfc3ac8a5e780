//! The embedded FTP/FTPS server: libunftp serving one folder, with logins checked against a
//! users file ([`crate::users`]) and a lock-out after repeated failed logins. Used by the
//! `serve` binary and by `chat` when it is started without a location.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libunftp::options::{FailedLoginsBlock, FailedLoginsPolicy, FtpsRequired};

use crate::users::UsersFileAuthenticator;

/// How long [`EmbeddedServer::start`] waits for the server to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Failed logins before a user is blocked, by default.
pub const DEFAULT_MAX_FAILURES: u32 = 3;
/// How long a blocked user stays blocked after the last failed attempt, by default.
pub const DEFAULT_BLOCK: Duration = Duration::from_secs(60);

/// A certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate (chain), PEM.
    pub cert: PathBuf,
    /// The private key, PEM.
    pub key: PathBuf,
}

/// The lock-out policy: after `max_failures` wrong passwords for one user name, every login
/// as that user (even with the right password) is refused until `block_for` has passed
/// since the last failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Wrong passwords in a row that block the user.
    pub max_failures: u32,
    /// How long the block lasts after the last failure.
    pub block_for: Duration,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout {
            max_failures: DEFAULT_MAX_FAILURES,
            block_for: DEFAULT_BLOCK,
        }
    }
}

/// What the embedded server serves and how.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The folder served as `/` (created if missing).
    pub root: PathBuf,
    /// The address to listen on (127.0.0.1 by default; 0.0.0.0 for a LAN).
    pub bind: IpAddr,
    /// The control port; 0 picks a free one.
    pub port: u16,
    /// The users file (see [`crate::users`]); must not be inside `root`.
    pub users_file: PathBuf,
    /// Offer explicit FTPS (`AUTH TLS`) with this certificate.
    pub tls: Option<TlsFiles>,
    /// Refuse clients that do not switch to TLS (needs `tls`).
    pub require_tls: bool,
    /// Failed-logins policy; `None` turns the lock-out off.
    pub lockout: Option<Lockout>,
}

impl ServerConfig {
    /// Serves `root` on 127.0.0.1 (a free port), users from `users_file`, plain FTP, with the
    /// default lock-out (3 failures, 60 s).
    pub fn new(root: impl Into<PathBuf>, users_file: impl Into<PathBuf>) -> Self {
        ServerConfig {
            root: root.into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            users_file: users_file.into(),
            tls: None,
            require_tls: false,
            lockout: Some(Lockout::default()),
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// A file or socket operation failed.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// libunftp refused to build or listen.
    #[error("FTP server: {0}")]
    Server(String),
}

struct Running {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running embedded server on its own thread and tokio runtime; stops (closing every
/// connection) when dropped.
pub struct EmbeddedServer {
    addr: SocketAddr,
    root: PathBuf,
    tls: bool,
    _running: Running,
}

impl std::fmt::Debug for EmbeddedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedServer")
            .field("addr", &self.addr)
            .field("root", &self.root)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `true` when `inner` is `outer` or inside it (after resolving both).
fn is_inside(inner: &Path, outer: &Path) -> bool {
    let resolve = |p: &Path| -> PathBuf {
        // The file may not exist yet: resolve its folder.
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) if !p.exists() => parent
                .canonicalize()
                .map(|d| d.join(name))
                .unwrap_or_else(|_| p.to_path_buf()),
            _ => p.canonicalize().unwrap_or_else(|_| p.to_path_buf()),
        }
    };
    resolve(inner).starts_with(resolve(outer))
}

/// A port that was free a moment ago on `ip`.
pub fn free_port(ip: IpAddr) -> std::io::Result<u16> {
    Ok(TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// `true` when nothing listens on `ip:port` and it can be bound.
pub fn port_is_free(ip: IpAddr, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}

impl EmbeddedServer {
    /// Starts serving and returns once the server accepts connections.
    pub fn start(config: ServerConfig) -> Result<EmbeddedServer, ServerError> {
        std::fs::create_dir_all(&config.root)
            .map_err(|e| ServerError::Io(format!("create {}", config.root.display()), e))?;
        if !config.users_file.is_file() {
            return Err(ServerError::Config(format!(
                "users file {} not found (create it with `serve add-user`)",
                config.users_file.display()
            )));
        }
        let secret_inside = |p: &Path| is_inside(p, &config.root);
        if secret_inside(&config.users_file)
            || config
                .tls
                .as_ref()
                .is_some_and(|t| secret_inside(&t.key) || secret_inside(&t.cert))
        {
            return Err(ServerError::Config(
                "the users file and TLS files must not be inside the served folder \
                 (FTP users could read or change them)"
                    .into(),
            ));
        }
        if config.require_tls && config.tls.is_none() {
            return Err(ServerError::Config(
                "requiring TLS needs a certificate".into(),
            ));
        }
        let port = match config.port {
            0 => {
                free_port(config.bind).map_err(|e| ServerError::Io("find a free port".into(), e))?
            }
            p => p,
        };
        let addr = SocketAddr::new(config.bind, port);

        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (err_tx, err_rx) = std::sync::mpsc::channel::<String>();
        let thread_config = config.clone();
        let thread = std::thread::Builder::new()
            .name(format!("ftp-server-{port}"))
            .spawn(move || serve(thread_config, addr, rx, err_tx))
            .map_err(|e| ServerError::Io("spawn the server thread".into(), e))?;
        let running = Running {
            shutdown: Some(tx),
            thread: Some(thread),
        };

        let deadline = Instant::now() + START_TIMEOUT;
        let probe = SocketAddr::new(
            if config.bind.is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                config.bind
            },
            port,
        );
        loop {
            if let Ok(err) = err_rx.try_recv() {
                return Err(ServerError::Server(err));
            }
            if TcpStream::connect_timeout(&probe, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(ServerError::Server(format!(
                    "no connection on {addr} within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(EmbeddedServer {
            addr,
            root: config.root,
            tls: config.tls.is_some(),
            _running: running,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The folder it serves.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `true` when it offers FTPS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// Stops the server and closes every connection (the same as dropping it).
    pub fn stop(self) {}
}

/// The server thread: a tokio runtime running libunftp until `shutdown` fires.
fn serve(
    config: ServerConfig,
    addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Receiver<()>,
    errors: std::sync::mpsc::Sender<String>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = errors.send(format!("tokio runtime: {e}"));
            return;
        }
    };
    let root = config.root.clone();
    let authenticator = Arc::new(UsersFileAuthenticator::new(&config.users_file));
    let mut builder = libunftp::ServerBuilder::with_authenticator(
        Box::new(move || match unftp_sbe_fs::Filesystem::new(root.clone()) {
            Ok(fs) => fs,
            // The root was created before the server started; losing it is fatal.
            Err(e) => panic!("cannot serve {}: {e}", root.display()),
        }),
        authenticator,
    )
    .greeting("ftpchat embedded server");
    if let Some(tls) = &config.tls {
        builder = builder.ftps(tls.cert.clone(), tls.key.clone());
        if config.require_tls {
            builder = builder.ftps_required(FtpsRequired::All, FtpsRequired::All);
        }
    }
    if let Some(lockout) = config.lockout {
        builder = builder.failed_logins_policy(FailedLoginsPolicy::new(
            lockout.max_failures,
            lockout.block_for,
            FailedLoginsBlock::User,
        ));
    }
    let server = match builder.build() {
        Ok(server) => server,
        Err(e) => {
            let _ = errors.send(format!("build: {e}"));
            return;
        }
    };
    runtime.block_on(async move {
        tokio::select! {
            result = server.listen(addr.to_string()) => {
                if let Err(e) = result {
                    let _ = errors.send(format!("listen on {addr}: {e}"));
                }
            }
            _ = shutdown => {}
        }
    });
    // Dropping the runtime cancels every session task and closes its sockets.
    runtime.shutdown_timeout(Duration::from_secs(2));
}

/// A self-signed certificate (`CA:FALSE`, SAN `localhost`, `127.0.0.1` and `extra_names`)
/// and its key, in PEM: the shape rustls accepts as a server certificate and, given to the
/// client, as its own trust anchor.
pub fn self_signed_cert(extra_names: &[String]) -> Result<(String, String), ServerError> {
    let err = |e: rcgen::Error| ServerError::Config(format!("certificate: {e}"));
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    names.extend(extra_names.iter().cloned());
    let mut params = rcgen::CertificateParams::new(names).map_err(err)?;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes a fresh self-signed certificate and key (see [`self_signed_cert`]) as
/// `cert.pem` and `key.pem` (owner-only) into `dir`.
pub fn write_self_signed(dir: &Path, extra_names: &[String]) -> Result<TlsFiles, ServerError> {
    let (cert_pem, key_pem) = self_signed_cert(extra_names)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| ServerError::Io(format!("create {}", dir.display()), e))?;
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, cert_pem)
        .map_err(|e| ServerError::Io(format!("write {}", files.cert.display()), e))?;
    crate::users::write_private(&files.key, key_pem.as_bytes())
        .map_err(|e| ServerError::Io(format!("write {}", files.key.display()), e))?;
    Ok(files)
}
