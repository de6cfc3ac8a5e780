//! The embedded server (`serve`, and `chat` without a location): users file, refused
//! logins, lock-out, revocation, FTPS, and the `serve` binary itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpchat_core::{FtpConfigBuilder, FtpTransport};
use ftpchat_core::{RemotePath, Transport, TransportErrorKind};
use ftpchat_core::{Room, RoomConfig};
use ftpchat_examples::server::{self, EmbeddedServer, Lockout, ServerConfig};
use ftpchat_examples::users;
use suppaftp::{FtpError, FtpStream, Status};

/// A served folder and a users file outside it, with alice and bob.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        users::add_user(&dir.path().join("users"), "alice", "alice-pw").unwrap();
        users::add_user(&dir.path().join("users"), "bob", "bob-pw").unwrap();
        Setup { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn users(&self) -> PathBuf {
        self.dir.path().join("users")
    }

    fn config(&self) -> ServerConfig {
        ServerConfig::new(self.root(), self.users())
    }

    fn start(&self, lockout: Option<Lockout>) -> EmbeddedServer {
        let mut config = self.config();
        config.lockout = lockout;
        EmbeddedServer::start(config).unwrap()
    }
}

/// Logs in with a raw FTP client: `Ok` or the reply code of the refusal.
fn login(port: u16, user: &str, password: &str) -> Result<(), Status> {
    let mut ftp = FtpStream::connect(("127.0.0.1", port)).expect("connect");
    ftp.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let result = match ftp.login(user, password) {
        Ok(()) => Ok(()),
        Err(FtpError::UnexpectedResponse(r)) => Err(r.status),
        Err(e) => panic!("login {user}: {e}"),
    };
    let _ = ftp.quit();
    result
}

#[test]
fn listed_user_logs_in_others_are_refused() {
    let setup = Setup::new();
    let server = setup.start(None);
    assert_eq!(login(server.port(), "alice", "alice-pw"), Ok(()));
    assert_eq!(login(server.port(), "bob", "bob-pw"), Ok(()));
    assert_eq!(
        login(server.port(), "eve", "alice-pw"),
        Err(Status::NotLoggedIn),
        "unlisted user"
    );
    assert_eq!(
        login(server.port(), "alice", "bob-pw"),
        Err(Status::NotLoggedIn),
        "wrong password"
    );
    assert_eq!(
        login(server.port(), "anonymous", "x@"),
        Err(Status::NotLoggedIn),
        "no anonymous access"
    );
}

#[test]
fn logged_in_user_can_chat_in_a_native_room() {
    let setup = Setup::new();
    let server = setup.start(None);
    let transport = |user: &str, pw: &str| -> Arc<FtpTransport> {
        let config = FtpConfigBuilder::from_url(&format!("ftp://127.0.0.1:{}", server.port()))
            .unwrap()
            .user(user)
            .password(pw)
            .build()
            .unwrap();
        Arc::new(FtpTransport::new(config))
    };
    let config =
        |name: &str| RoomConfig::native("lobby", name, "room pw").with_native_iterations(1000);
    let alice = Room::open(transport("alice", "alice-pw"), config("alice")).unwrap();
    let bob = Room::open(transport("bob", "bob-pw"), config("bob")).unwrap();
    alice.send("hi bob").unwrap();
    alice.sync().unwrap();
    let got = bob.sync().unwrap();
    assert_eq!(got.messages.len(), 1);
    assert_eq!(
        (
            got.messages[0].sender.as_str(),
            got.messages[0].text.as_str()
        ),
        ("alice", "hi bob")
    );
    assert!(
        setup.root().join("lobby").is_dir(),
        "the room is in the served folder"
    );

    // Wrong login: a permanent error, not "offline".
    let eve = transport("eve", "x");
    let err = eve.list(&RemotePath::new("lobby").unwrap()).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent);
}

#[test]
fn lockout_blocks_the_user_even_with_the_right_password() {
    let setup = Setup::new();
    let server = setup.start(Some(Lockout {
        max_failures: 3,
        block_for: Duration::from_secs(60),
    }));
    let port = server.port();
    assert_eq!(login(port, "alice", "alice-pw"), Ok(()));
    for _ in 0..3 {
        assert_eq!(login(port, "alice", "guess"), Err(Status::NotLoggedIn));
    }
    assert_eq!(
        login(port, "alice", "alice-pw"),
        Err(Status::NotLoggedIn),
        "blocked after 3 failures"
    );
    // The block is per user: bob is not affected.
    assert_eq!(login(port, "bob", "bob-pw"), Ok(()));
}

#[test]
fn lockout_ends_after_the_block_period_and_two_failures_do_not_block() {
    let setup = Setup::new();
    let server = setup.start(Some(Lockout {
        max_failures: 3,
        block_for: Duration::from_secs(2),
    }));
    let port = server.port();
    for _ in 0..2 {
        assert_eq!(login(port, "bob", "guess"), Err(Status::NotLoggedIn));
    }
    assert_eq!(
        login(port, "bob", "bob-pw"),
        Ok(()),
        "2 failures do not block"
    );
    for _ in 0..3 {
        assert_eq!(login(port, "alice", "guess"), Err(Status::NotLoggedIn));
    }
    assert_eq!(login(port, "alice", "alice-pw"), Err(Status::NotLoggedIn));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(login(port, "alice", "alice-pw"), Ok(()), "block expired");
}

#[test]
fn removing_a_line_revokes_access_at_the_next_login() {
    let setup = Setup::new();
    let server = setup.start(None);
    assert_eq!(login(server.port(), "bob", "bob-pw"), Ok(()));
    let text = std::fs::read_to_string(setup.users()).unwrap();
    let without_bob: String = text
        .lines()
        .filter(|l| !l.starts_with("bob:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(setup.users(), without_bob).unwrap();
    assert_eq!(
        login(server.port(), "bob", "bob-pw"),
        Err(Status::NotLoggedIn)
    );
    assert_eq!(login(server.port(), "alice", "alice-pw"), Ok(()));
    users::add_user(&setup.users(), "bob", "new-pw").unwrap();
    assert_eq!(login(server.port(), "bob", "new-pw"), Ok(()));
    assert_eq!(
        login(server.port(), "bob", "bob-pw"),
        Err(Status::NotLoggedIn)
    );
}

#[test]
fn secrets_inside_the_served_folder_are_refused() {
    let setup = Setup::new();
    let inside = setup.root().join("users");
    std::fs::copy(setup.users(), &inside).unwrap();
    let err = EmbeddedServer::start(ServerConfig::new(setup.root(), &inside)).unwrap_err();
    assert!(err.to_string().contains("must not be inside"), "{err}");
    let missing = ServerConfig::new(setup.root(), setup.dir.path().join("nope"));
    assert!(EmbeddedServer::start(missing).is_err());
}

#[test]
fn ftps_with_a_self_signed_certificate() {
    let setup = Setup::new();
    let tls = server::write_self_signed(&setup.dir.path().join("tls"), &[]).unwrap();
    let ca = std::fs::read_to_string(&tls.cert).unwrap();
    let mut config = setup.config();
    config.tls = Some(tls);
    config.require_tls = true;
    let server = EmbeddedServer::start(config).unwrap();
    assert!(server.tls());

    let transport = FtpTransport::new(
        FtpConfigBuilder::from_url(&format!(
            "ftps://alice:alice-pw@127.0.0.1:{}",
            server.port()
        ))
        .unwrap()
        .ca_pem(&ca)
        .connect_attempts(5)
        .build()
        .unwrap(),
    );
    let file = RemotePath::new("hello.txt").unwrap();
    transport.append(&file, b"over tls\n").unwrap();
    assert_eq!(transport.is_secure(), Some(true));
    assert_eq!(
        std::fs::read(setup.root().join("hello.txt")).unwrap(),
        b"over tls\n"
    );
    // TLS is required: a plain login is refused.
    assert!(login(server.port(), "alice", "alice-pw").is_err());
}

const SERVE: &str = env!("CARGO_BIN_EXE_serve");

/// Kills the child on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` on a free port and returns it with its port (read from its output).
fn spawn_serve(root: &Path, users: &Path, extra: &[&str]) -> (Running, u16) {
    let mut child = Command::new(SERVE)
        .args(["--root".as_ref(), root.as_os_str()])
        .args(["--users".as_ref(), users.as_os_str()])
        .args(["--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut port = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("127.0.0.1:").nth(1) {
            port = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|p| p.parse().ok());
        }
        if line.starts_with("ready") || Instant::now() > deadline {
            break;
        }
    }
    (running, port.expect("serve printed its address"))
}

#[test]
fn serve_binary_adds_users_serves_and_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.txt");
    let root = dir.path().join("chats");
    for (name, pw) in [("carol", "carol pw"), ("dave", "dave:pw@x")] {
        let out = Command::new(SERVE)
            .args(["add-user", "--users"])
            .arg(&users)
            .arg(name)
            .env("FTPCHAT_FTP_PASSWORD", pw)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(!text.contains("carol pw"), "no plaintext passwords");
    assert_eq!(text.lines().count(), 2);

    let (serve, port) = spawn_serve(
        &root,
        &users,
        &["--max-failures", "3", "--block-secs", "60"],
    );
    assert_eq!(login(port, "carol", "carol pw"), Ok(()));
    assert_eq!(login(port, "dave", "dave:pw@x"), Ok(()));
    assert_eq!(login(port, "mallory", "carol pw"), Err(Status::NotLoggedIn));
    assert_eq!(login(port, "carol", "wrong"), Err(Status::NotLoggedIn));

    let out = Command::new(SERVE)
        .args(["remove-user", "--users"])
        .arg(&users)
        .arg("carol")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(login(port, "carol", "carol pw"), Err(Status::NotLoggedIn));
    assert_eq!(login(port, "dave", "dave:pw@x"), Ok(()));
    drop(serve);

    // Passwords are refused on the command line.
    let out = Command::new(SERVE)
        .args(["add-user", "--users"])
        .arg(&users)
        .args(["erin", "--password", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FTPCHAT_FTP_PASSWORD"));
}

#[test]
fn serve_binary_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.txt");
    users::add_user(&users, "alice", "pw").unwrap();
    let tls_dir = dir.path().join("tls");
    let (_serve, port) = spawn_serve(
        &dir.path().join("root"),
        &users,
        &["--self-signed", tls_dir.to_str().unwrap(), "--require-tls"],
    );
    let ca = std::fs::read_to_string(tls_dir.join("cert.pem")).unwrap();
    let transport = FtpTransport::new(
        FtpConfigBuilder::from_url(&format!("ftps://alice:pw@127.0.0.1:{port}"))
            .unwrap()
            .ca_pem(&ca)
            .connect_attempts(5)
            .build()
            .unwrap(),
    );
    transport
        .append(&RemotePath::new("t.txt").unwrap(), b"x")
        .unwrap();
    assert_eq!(transport.is_secure(), Some(true));
}
