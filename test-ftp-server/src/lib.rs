//! The in-process FTP(S) server of ftpchat's tests: libunftp with the `unftp-sbe-fs`
//! file-system back end, on 127.0.0.1 and a free port, served by its own tokio runtime on
//! a background thread, rooted at a fresh temporary directory.
//!
//! ```no_run
//! use ftpchat_test_ftp_server::TestFtpServer;
//!
//! let server = TestFtpServer::start(); // plain FTP, anonymous
//! let ftps = TestFtpServer::builder().ftps().start(); // explicit FTPS (plain also allowed)
//! println!("{} {}", server.url(), ftps.ca_pem().unwrap_or_default());
//! ```
//!
//! The server accepts any user name and password (libunftp's anonymous authenticator).
//! Dropping the handle stops the server and closes every connection. It knows nothing of
//! ftpchat: the tests' support code builds transports from [`TestFtpServer::url`],
//! [`TestFtpServer::ca_pem`] and [`TestFtpServer::fresh_dir`].

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`TestFtpServer`] waits for the server to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Options for a [`TestFtpServer`].
#[derive(Debug, Clone, Default)]
pub struct TestFtpServerBuilder {
    ftps: bool,
    idle_timeout: Option<Duration>,
}

impl TestFtpServerBuilder {
    /// Offers explicit FTPS (`AUTH TLS`) with a fresh self-signed certificate for
    /// `localhost` and `127.0.0.1`. Plain connections are still accepted.
    pub fn ftps(mut self) -> Self {
        self.ftps = true;
        self
    }

    /// Closes control connections idle for this long (whole seconds, at least 1).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(self) -> TestFtpServer {
        let root = tempfile::tempdir().expect("temporary directory for the FTP root");
        let tls = self.ftps.then(TlsMaterial::generate);
        let port = free_port();
        let mut server = TestFtpServer {
            port,
            root,
            tls,
            idle_timeout: self.idle_timeout,
            running: None,
            next_dir: AtomicU32::new(0),
        };
        server.launch();
        server
    }
}

/// A self-signed certificate and its key, written to files for libunftp.
#[derive(Debug)]
struct TlsMaterial {
    dir: tempfile::TempDir,
    cert_pem: String,
}

impl TlsMaterial {
    /// A fresh self-signed certificate (`CA:FALSE`, SAN `localhost` and `127.0.0.1`), the
    /// shape rustls accepts as a server certificate and as its own trust anchor.
    fn generate() -> TlsMaterial {
        let (cert_pem, key_pem) = self_signed_cert();
        let dir = tempfile::tempdir().expect("temporary directory for TLS files");
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("write cert");
        std::fs::write(dir.path().join("key.pem"), key_pem).expect("write key");
        TlsMaterial { dir, cert_pem }
    }

    /// The certificate in PEM, to trust as a CA.
    fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    fn cert_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn key_file(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}

/// A self-signed certificate and key in PEM, for `localhost` and `127.0.0.1`.
pub fn self_signed_cert() -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key pair");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("certificate parameters");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).expect("self-signed certificate");
    (cert.pem(), key.serialize_pem())
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

/// A running in-process FTP server; stops on drop. See the [crate documentation](crate).
pub struct TestFtpServer {
    port: u16,
    root: tempfile::TempDir,
    tls: Option<TlsMaterial>,
    idle_timeout: Option<Duration>,
    running: Option<Running>,
    next_dir: AtomicU32,
}

impl std::fmt::Debug for TestFtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestFtpServer")
            .field("url", &self.url())
            .field("root", &self.root.path())
            .finish()
    }
}

impl TestFtpServer {
    /// A plain anonymous server.
    pub fn start() -> TestFtpServer {
        TestFtpServer::builder().start()
    }

    /// Options for a server.
    pub fn builder() -> TestFtpServerBuilder {
        TestFtpServerBuilder::default()
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ftps://127.0.0.1:PORT` for an FTPS server, else `ftp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "ftps" } else { "ftp" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// `ftp://127.0.0.1:PORT`, plain, whatever the server offers.
    pub fn plain_url(&self) -> String {
        format!("ftp://127.0.0.1:{}", self.port)
    }

    /// The certificate to trust, for an FTPS server.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(TlsMaterial::cert_pem)
    }

    /// The directory served as `/`.
    pub fn root_dir(&self) -> &Path {
        self.root.path()
    }

    /// A new, empty subdirectory of the root (`t1`, `t2`, ...), so tests sharing a server
    /// do not see each other's files: its name, relative to the root.
    pub fn fresh_dir(&self) -> String {
        let n = self.next_dir.fetch_add(1, Ordering::SeqCst) + 1;
        let dir = format!("t{n}");
        std::fs::create_dir_all(self.root.path().join(&dir)).expect("create test directory");
        dir
    }

    /// Stops the server, closing every connection, and starts it again on the same port
    /// with the same files.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Stops the server and closes every connection (a later [`restart`](Self::restart)
    /// brings it back).
    pub fn stop(&mut self) {
        self.running = None;
    }

    fn launch(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (err_tx, err_rx) = std::sync::mpsc::channel::<String>();
        let root = self.root.path().to_path_buf();
        let tls = self.tls.as_ref().map(|t| (t.cert_file(), t.key_file()));
        let idle = self.idle_timeout.map(|d| d.as_secs().max(1));
        let address = format!("127.0.0.1:{}", self.port);
        let thread = std::thread::Builder::new()
            .name(format!("libunftp-{}", self.port))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = err_tx.send(format!("tokio runtime: {e}"));
                        return;
                    }
                };
                let mut builder = libunftp::ServerBuilder::new(Box::new(move || {
                    unftp_sbe_fs::Filesystem::new(root.clone()).expect("file-system back end")
                }))
                .greeting("ftpchat test server")
                .passive_ports(50000..=59999);
                if let Some((cert, key)) = tls {
                    builder = builder.ftps(cert, key);
                }
                if let Some(secs) = idle {
                    builder = builder.idle_session_timeout(secs);
                }
                let server = match builder.build() {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = err_tx.send(format!("libunftp build: {e}"));
                        return;
                    }
                };
                runtime.block_on(async move {
                    tokio::select! {
                        result = server.listen(address) => {
                            if let Err(e) = result {
                                let _ = err_tx.send(format!("libunftp listen: {e}"));
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Dropping the runtime cancels every session task and closes its sockets.
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("spawn the FTP server thread");
        self.running = Some(Running {
            shutdown: Some(tx),
            thread: Some(thread),
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(err) = err_rx.try_recv() {
                panic!("in-process FTP server failed to start: {err}");
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "in-process FTP server did not accept connections on port {} within {:?}",
                self.port,
                START_TIMEOUT
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestFtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}
