//! The FTP transport against real servers: the in-process libunftp server (plain and FTPS)
//! always, and pyftpdlib, vsftpd and an external FTPS server when `.ci/ftp-servers.sh` has
//! announced them (required under `CI=true`).

#![allow(clippy::unwrap_used)]

mod fault_proxy;
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fault_proxy::FaultProxy;
use ftpchat_core::testing::read_all;
use ftpchat_core::{
    open_location, InvalidPath, OpenOptions, RemotePath, Transport, TransportErrorKind,
    TransportEvent,
};
use ftpchat_core::{FtpConfig, FtpConfigBuilder, FtpTransport, TlsPolicy};
use support::ftp_server::{self, FtpServerTransports, TestFtpServer};

fn p(s: &str) -> RemotePath {
    RemotePath::new(s).unwrap()
}

// ---------------------------------------------------------------------------------------
// A focused behaviour suite, run against every server.

fn basic_suite(t: &dyn Transport) {
    // size / append / read_from
    assert_eq!(t.size(&p("chat.log")).unwrap(), None);
    t.append(&p("chat.log"), b"one\n").unwrap();
    t.append(&p("chat.log"), b"two\r\nthree\n").unwrap();
    assert_eq!(t.size(&p("chat.log")).unwrap(), Some(15));
    assert_eq!(read_all(t, &p("chat.log")).unwrap(), b"one\ntwo\r\nthree\n");
    let mut tail = Vec::new();
    assert_eq!(t.read_from(&p("chat.log"), 4, &mut tail).unwrap(), 11);
    assert_eq!(tail, b"two\r\nthree\n");
    let mut nothing = Vec::new();
    assert_eq!(t.read_from(&p("chat.log"), 15, &mut nothing).unwrap(), 0);
    assert_eq!(t.read_from(&p("chat.log"), 99, &mut nothing).unwrap(), 0);
    assert!(nothing.is_empty());
    let err = t.read_from(&p("missing.log"), 0, &mut nothing).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");

    // binary data survives (no ASCII-mode conversion)
    let binary: Vec<u8> = (0..=255u8).chain([b'\n', b'\r', 0, b'\n']).collect();
    t.write_atomic(&p("bin"), &binary).unwrap();
    assert_eq!(read_all(t, &p("bin")).unwrap(), binary);

    // directories
    t.make_dir(&p("room")).unwrap();
    let err = t.make_dir(&p("room")).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::AlreadyExists, "{err}");
    let err = t.make_dir(&p("nope/deeper")).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");
    assert_eq!(t.list(&p("room")).unwrap(), vec![]);
    t.append(&p("room/a.log"), b"12345").unwrap();
    t.make_dir(&p("room/sub")).unwrap();
    let mut entries = t.list(&p("room")).unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0].name, "a.log");
    assert!(!entries[0].is_dir);
    assert_eq!(entries[0].size, Some(5));
    assert_eq!(entries[1].name, "sub");
    assert!(entries[1].is_dir);
    let err = t.list(&p("no-such-dir")).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");

    // write_atomic replaces, leaves no temporary file
    t.write_atomic(&p("room/header"), b"v1").unwrap();
    t.write_atomic(&p("room/header"), b"version 2").unwrap();
    assert_eq!(read_all(t, &p("room/header")).unwrap(), b"version 2");
    let names: Vec<String> = t
        .list(&p("room"))
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

    // rename, also over an existing file
    t.rename(&p("room/a.log"), &p("room/b.log")).unwrap();
    assert_eq!(t.size(&p("room/a.log")).unwrap(), None);
    assert_eq!(t.size(&p("room/b.log")).unwrap(), Some(5));
    t.append(&p("room/c.log"), b"c").unwrap();
    t.rename(&p("room/c.log"), &p("room/b.log")).unwrap();
    assert_eq!(read_all(t, &p("room/b.log")).unwrap(), b"c");
    let err = t.rename(&p("room/zzz"), &p("room/yyy")).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");

    // removal
    let err = t.remove_file(&p("room/zzz")).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");
    t.remove_file(&p("room/b.log")).unwrap();
    t.remove_file(&p("room/header")).unwrap();
    t.remove_dir(&p("room/sub")).unwrap();
    let err = t.remove_dir(&p("room/sub")).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");
    t.remove_dir(&p("room")).unwrap();
    assert_eq!(t.size(&p("room/b.log")).unwrap(), None);

    // a bigger file streams through
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    t.write_atomic(&p("big"), &big).unwrap();
    let mut out = Vec::new();
    assert_eq!(t.read_from(&p("big"), 100_000, &mut out).unwrap(), 200_000);
    assert_eq!(out, &big[100_000..]);

    let caps = t.capabilities();
    assert!(caps.append);
    assert!(!caps.atomic_concurrent_append);
}

// ---------------------------------------------------------------------------------------
// In-process libunftp

#[test]
fn libunftp_plain_basic() {
    let server = TestFtpServer::start();
    let t = server.transport();
    basic_suite(&t);
    assert!(t.capabilities().listing_with_sizes, "libunftp has MLSD");
    assert_eq!(t.is_secure(), Some(false));
}

#[test]
fn libunftp_ftps_basic() {
    let server = TestFtpServer::builder().ftps().start();
    let t = FtpTransport::new(
        server
            .config_builder()
            .root(&make_subdir(&server, "ftps"))
            // libunftp fails ~2% of AUTH TLS upgrades under load: allow more attempts.
            .connect_attempts(6)
            .build()
            .unwrap(),
    );
    basic_suite(&t);
    assert_eq!(t.is_secure(), Some(true));
    assert!(t.describe().starts_with("ftps://127.0.0.1:"));
}

fn make_subdir(server: &TestFtpServer, name: &str) -> String {
    std::fs::create_dir_all(server.root_dir().join(name)).unwrap();
    name.to_owned()
}

// ---------------------------------------------------------------------------------------
// External servers (skipped with a note unless announced; required under CI)

#[test]
fn pyftpdlib_basic() {
    let Some(server) = support::external(support::PYFTPDLIB_URL) else {
        return;
    };
    let t = ftp_server::transport_in_fresh_dir(server.config_builder(), "basic");
    basic_suite(&t);
}

#[test]
fn vsftpd_basic() {
    let Some(server) = support::external(support::VSFTPD_URL) else {
        return;
    };
    let t = ftp_server::transport_in_fresh_dir(server.config_builder(), "basic");
    basic_suite(&t);
}

#[test]
fn external_ftps_basic() {
    let Some(server) = support::external_ftps() else {
        return;
    };
    let t = ftp_server::transport_in_fresh_dir(server.config_builder(), "basic");
    basic_suite(&t);
    assert_eq!(t.is_secure(), Some(true));
}

#[test]
fn vsftpd_ftps_basic() {
    let Some(server) = support::external_tls(support::VSFTPD_FTPS_URL) else {
        return;
    };
    let t = ftp_server::transport_in_fresh_dir(server.config_builder(), "basic");
    basic_suite(&t);
    assert_eq!(t.is_secure(), Some(true));
}

// ---------------------------------------------------------------------------------------
// The shared conformance suite (`ftpchat_core::testing::conformance`), one module per server.

mod conformance_libunftp {
    use ftpchat_core::Transport;

    use crate::support::ftp_server::{FtpServerTransports, TestFtpServer};

    // Each test gets its own server; `make` opens a new connection to it each call.
    ftpchat_core::conformance_tests!({
        let server = TestFtpServer::start();
        move || Box::new(server.root_transport()) as Box<dyn Transport>
    });
}

mod conformance_libunftp_ftps {
    use ftpchat_core::FtpTransport;
    use ftpchat_core::Transport;

    use crate::support::ftp_server::{FtpServerTransports, TestFtpServer};

    ftpchat_core::conformance_tests!({
        let server = TestFtpServer::builder().ftps().start();
        move || {
            // libunftp fails ~2% of AUTH TLS upgrades under load: allow more attempts.
            let config = server.config_builder().connect_attempts(6).build().unwrap();
            Box::new(FtpTransport::new(config)) as Box<dyn Transport>
        }
    });
}

/// Conformance against an external server; returns from the test (after a note) when the
/// server is not announced, and fails under CI.
macro_rules! external_conformance {
    ($module:ident, $server:expr) => {
        mod $module {
            use ftpchat_core::FtpTransport;
            use ftpchat_core::Transport;

            #[allow(unused_imports)]
            use crate::support;

            ftpchat_core::conformance_tests!({
                let Some(server) = $server else {
                    return;
                };
                move || {
                    let config = server.config_builder().build().unwrap();
                    Box::new(FtpTransport::new(config)) as Box<dyn Transport>
                }
            });
        }
    };
}

external_conformance!(
    conformance_pyftpdlib,
    support::external(support::PYFTPDLIB_URL)
);
external_conformance!(conformance_vsftpd, support::external(support::VSFTPD_URL));
external_conformance!(conformance_external_ftps, support::external_ftps());
external_conformance!(
    conformance_vsftpd_ftps,
    support::external_tls(support::VSFTPD_FTPS_URL)
);

// ---------------------------------------------------------------------------------------
// Configuration

#[test]
fn url_parsing() {
    let c = FtpConfig::from_url("ftp://127.0.0.1").unwrap();
    assert_eq!((c.host(), c.port(), c.user()), ("127.0.0.1", 21, None));
    assert_eq!(c.tls_policy(), TlsPolicy::Disabled);
    assert!(c.root().is_none());

    let c =
        FtpConfig::from_url("ftps://al%40ice:p%40ss%3Aw%2Fd@example.org/chat/room%201/").unwrap();
    assert_eq!(
        (c.host(), c.port(), c.user()),
        ("example.org", 21, Some("al@ice"))
    );
    assert_eq!(c.tls_policy(), TlsPolicy::Required);
    assert_eq!(c.root().unwrap().as_str(), "chat/room 1");
    let t = FtpTransport::new(c);
    assert_eq!(t.describe(), "ftps://al%40ice@example.org:21/chat/room 1");

    let c = FtpConfig::from_url("ftp://u:pw@[::1]:2121").unwrap();
    assert_eq!((c.host(), c.port()), ("::1", 2121));
    assert_eq!(FtpTransport::new(c).describe(), "ftp://u@[::1]:2121");

    assert!(FtpConfig::from_url("http://example.org").is_err());
    assert!(FtpConfig::from_url("ftp://").is_err());
    assert!(FtpConfig::from_url("ftp://example.org/a%5Cb").is_err());
    assert!(FtpConfig::from_url("ftp://example.org/a%00b").is_err());
    assert!(FtpConfig::from_url("ftp://u:p%0D%0AQUIT@example.org").is_err());
    assert!(FtpConfig::builder("example.org")
        .user("a\r\nb")
        .build()
        .is_err());
    assert!(FtpConfig::builder("example.org")
        .ca_pem("not a pem")
        .build()
        .is_err());

    let c = FtpConfig::builder("example.org")
        .port(990)
        .user("bob")
        .password("pw")
        .root("/x/y/")
        .tls(TlsPolicy::Preferred)
        .io_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    assert_eq!(c.root().unwrap().as_str(), "x/y");
    assert_eq!(c.io_timeout(), Duration::from_secs(3));
}

#[test]
fn password_is_never_shown() {
    let secret = "S3cr3t-Pa55";
    let url = format!("ftps://bob:{secret}@127.0.0.1:1/room");
    let builder = FtpConfigBuilder::from_url(&url).unwrap();
    assert!(!format!("{builder:?}").contains(secret));
    let config = builder.build().unwrap();
    assert!(!format!("{config:?}").contains(secret));
    let t = FtpTransport::new(config);
    assert!(!format!("{t:?}").contains(secret));
    assert_eq!(t.describe(), "ftps://bob@127.0.0.1:1/room");
}

#[test]
fn remote_path_refuses_command_injection() {
    assert_eq!(
        RemotePath::new("x\r\nDELE y"),
        Err(InvalidPath::ControlCharacter)
    );
    assert_eq!(
        RemotePath::new("x\nDELE y"),
        Err(InvalidPath::ControlCharacter)
    );
    assert_eq!(RemotePath::new("../etc"), Err(InvalidPath::BadComponent));
}

// ---------------------------------------------------------------------------------------
// Credentials, TLS policy and certificates

/// A scripted server that refuses any login with 530 and records what it received.
fn refusing_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        // A bounded number of connections (the transport retries at most a few times).
        for _ in 0..4 {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer.write_all(b"220 scripted\r\n").unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                log.lock().unwrap().push(line.trim_end().to_owned());
                let reply: &[u8] = if line.starts_with("USER") {
                    b"331 password please\r\n"
                } else if line.starts_with("PASS") {
                    b"530 Login incorrect.\r\n"
                } else if line.starts_with("AUTH") {
                    b"502 no TLS here\r\n"
                } else {
                    b"530 log in first\r\n"
                };
                if writer.write_all(reply).is_err() {
                    break;
                }
                line.clear();
            }
        }
    });
    (port, seen)
}

#[test]
fn bad_credentials_are_permanent_and_the_password_stays_secret() {
    let secret = "wrong-Pa55word";
    let (port, seen) = refusing_server();
    let config = FtpConfig::from_url(&format!("ftp://bob:{secret}@127.0.0.1:{port}")).unwrap();
    let err = FtpTransport::connect(config).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("530"), "{shown}");
    // The real password did go to the server (the placeholder is only for logs).
    let lines = seen.lock().unwrap().clone();
    assert!(lines.contains(&format!("PASS {secret}")), "{lines:?}");
    // Permanent: no reconnect attempts.
    assert_eq!(lines.iter().filter(|l| l.starts_with("USER")).count(), 1);
}

/// Collects every log record of this test binary (all levels, all crates).
struct CapturingLogger(Mutex<Vec<String>>);

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut lines = self.0.lock().unwrap();
        if lines.len() < 200_000 {
            lines.push(format!(
                "{} {}: {}",
                record.level(),
                record.target(),
                record.args()
            ));
        }
    }

    fn flush(&self) {}
}

static LOGGER: CapturingLogger = CapturingLogger(Mutex::new(Vec::new()));

#[test]
fn logs_never_contain_the_password() {
    // Trace level makes suppaftp log every command line it sends, PASS included.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
    let secret = "l0gged-Pa55word";

    // A refused login...
    let (port, _) = refusing_server();
    let config = FtpConfig::from_url(&format!("ftp://bob:{secret}@127.0.0.1:{port}")).unwrap();
    assert!(FtpTransport::connect(config).is_err());

    // ...and a working session with a reconnect (libunftp accepts any password).
    let mut server = TestFtpServer::start();
    let config = server
        .config_builder()
        .user("bob")
        .password(secret)
        .root(&make_subdir(&server, "logs"))
        .tls(TlsPolicy::Preferred)
        .build()
        .unwrap();
    let t = FtpTransport::connect(config).unwrap();
    t.append(&p("a"), b"x").unwrap();
    server.restart();
    assert_eq!(t.size(&p("a")).unwrap(), Some(1));

    let lines = LOGGER.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("PASS")),
        "suppaftp's trace log was captured"
    );
    let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(secret)).collect();
    assert!(leaks.is_empty(), "{leaks:?}");
}

#[test]
fn pyftpdlib_bad_password_is_permanent() {
    let Some(server) = support::external(support::PYFTPDLIB_URL) else {
        return;
    };
    let config = server.config_builder().build().unwrap();
    let Some(user) = config.user() else {
        eprintln!(
            "note: {} logs in anonymously; no password to get wrong",
            support::PYFTPDLIB_URL
        );
        return;
    };
    let secret = "definitely-Wrong-9";
    let config = server
        .config_builder()
        .user(user)
        .password(secret)
        .build()
        .unwrap();
    let err = FtpTransport::connect(config).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
    assert!(!format!("{err} {err:?}").contains(secret));
}

#[test]
fn preferred_tls_falls_back_on_a_plain_server_and_reports_it() {
    let server = TestFtpServer::start();
    let config = server
        .config_builder()
        .tls(TlsPolicy::Preferred)
        .root(&make_subdir(&server, "pref"))
        .build()
        .unwrap();
    let t = FtpTransport::connect(config).unwrap();
    t.append(&p("x"), b"hello").unwrap();
    assert_eq!(t.size(&p("x")).unwrap(), Some(5));
    assert_eq!(t.is_secure(), Some(false));
    assert!(t.describe().starts_with("ftp://"), "{}", t.describe());
    let events = t.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TransportEvent::TlsFallback { .. })),
        "{events:?}"
    );
}

#[test]
fn preferred_tls_uses_tls_when_offered() {
    let server = TestFtpServer::builder().ftps().start();
    let config = server
        .config_builder()
        .tls(TlsPolicy::Preferred)
        .connect_attempts(6)
        .build()
        .unwrap();
    let t = FtpTransport::connect(config).unwrap();
    assert_eq!(t.is_secure(), Some(true));
    assert!(t
        .take_events()
        .iter()
        .all(|e| !matches!(e, TransportEvent::TlsFallback { .. })));
}

#[test]
fn required_tls_fails_on_a_plain_server() {
    let server = TestFtpServer::start();
    let config = FtpConfigBuilder::from_url(&server.plain_url())
        .unwrap()
        .tls(TlsPolicy::Required)
        .build()
        .unwrap();
    let err = FtpTransport::connect(config).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
}

// ---------------------------------------------------------------------------------------
// TLS downgrades: the password must never go out in plain text unless the caller chose
// `TlsPolicy::Preferred` in code and the server refused `AUTH TLS` as unsupported.

/// A plain libunftp server (it answers `AUTH TLS` with `502 TLS/SSL not configured`) behind
/// a proxy that records every command line.
fn plain_server_behind_proxy() -> (TestFtpServer, FaultProxy) {
    let server = TestFtpServer::start();
    let proxy = FaultProxy::start(server.port());
    (server, proxy)
}

#[test]
fn ftps_and_ftpes_urls_never_fall_back_to_plain_text() {
    let secret = "d0wngrade-Pa55";
    for scheme in ["ftps", "ftpes", "FTPES"] {
        let (_server, proxy) = plain_server_behind_proxy();
        let url = format!("{scheme}://bob:{secret}@127.0.0.1:{}/", proxy.port());
        let t = open_location(&url, &OpenOptions::default()).unwrap();
        let result = t.size(&p("x"));
        let commands = proxy.commands();
        assert!(
            commands.iter().any(|c| c.eq_ignore_ascii_case("AUTH TLS")),
            "{scheme}: {commands:?}"
        );
        assert_eq!(proxy.count("PASS"), 0, "{scheme}: {commands:?}");
        assert_eq!(proxy.count("USER"), 0, "{scheme}: {commands:?}");
        let err = result.unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Permanent, "{scheme}: {err}");
        assert!(err.to_string().contains("TLS"), "{scheme}: {err}");
        assert!(!format!("{err} {err:?}").contains(secret));
        assert!(
            t.take_events()
                .iter()
                .all(|e| !matches!(e, TransportEvent::TlsFallback { .. })),
            "{scheme}"
        );
        // The same through the configuration API.
        let config = FtpConfig::from_url(&url.to_ascii_lowercase()).unwrap();
        assert_eq!(config.tls_policy(), TlsPolicy::Required, "{scheme}");
        let err = FtpTransport::connect(config).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Permanent, "{scheme}: {err}");
        assert_eq!(proxy.count("PASS"), 0, "{scheme}: {:?}", proxy.commands());
    }
}

#[test]
fn preferred_tls_falls_back_only_when_auth_tls_is_unsupported() {
    let secret = "pref3rred-Pa55";
    let preferred = |proxy: &FaultProxy| {
        FtpConfigBuilder::from_url(&format!("ftp://bob:{secret}@127.0.0.1:{}/", proxy.port()))
            .unwrap()
            .tls(TlsPolicy::Preferred)
            .connect_attempts(1)
            .build()
            .unwrap()
    };
    // "Not supported" refusals: plain text, reported, as the caller asked for.
    for reply in [
        None,
        Some("500 AUTH not understood"),
        Some("502 Command not implemented"),
        Some("504 Not for that parameter"),
        Some("534 Request denied for policy reasons"),
    ] {
        let (_server, proxy) = plain_server_behind_proxy();
        if let Some(reply) = reply {
            proxy.garbage("AUTH", 100, format!("{reply}\r\n").as_bytes());
        }
        let t = FtpTransport::connect(preferred(&proxy)).unwrap();
        t.append(&p("x"), b"hi").unwrap();
        assert_eq!(t.is_secure(), Some(false));
        let events = t.take_events();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, TransportEvent::TlsFallback { .. })),
            "{reply:?}: {events:?}"
        );
        assert_eq!(proxy.count("PASS"), 1, "{reply:?}");
    }
    // Anything else is not "TLS is not supported here": no password in plain text.
    for reply in [
        "530 Please login with USER and PASS",
        "550 Not now",
        "554 Transaction failed",
        "421 Too many users",
        "431 Security resource unavailable",
    ] {
        let (_server, proxy) = plain_server_behind_proxy();
        proxy.garbage("AUTH", 100, format!("{reply}\r\n").as_bytes());
        let result = FtpTransport::connect(preferred(&proxy));
        assert_eq!(proxy.count("PASS"), 0, "{reply}: {:?}", proxy.commands());
        let err = result.unwrap_err();
        assert!(!format!("{err} {err:?}").contains(secret));
    }
}

/// A scripted server that accepts `AUTH TLS` with 234 on its first connection and answers
/// the TLS handshake with `garbage`, then refuses `AUTH TLS` with 502 on later connections:
/// what an active attacker stripping TLS could do. Records every command line.
fn broken_handshake_server(garbage: &'static [u8]) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for connection in 0..4 {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer.write_all(b"220 scripted\r\n").unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                log.lock().unwrap().push(line.trim_end().to_owned());
                let reply: &[u8] = if line.starts_with("AUTH") && connection == 0 {
                    let _ = writer.write_all(b"234 go ahead\r\n");
                    // Whatever the client sends as its ClientHello gets garbage back.
                    let mut hello = [0u8; 512];
                    let _ = std::io::Read::read(reader.get_mut(), &mut hello);
                    let _ = writer.write_all(garbage);
                    break;
                } else if line.starts_with("AUTH") {
                    b"502 no TLS here\r\n"
                } else if line.starts_with("USER") {
                    b"331 password please\r\n"
                } else {
                    b"230 whatever you say\r\n"
                };
                if writer.write_all(reply).is_err() {
                    break;
                }
                line.clear();
            }
        }
    });
    (port, seen)
}

#[test]
fn preferred_tls_never_falls_back_after_a_failed_handshake() {
    for garbage in [
        &b"500 pretend TLS is not supported\r\n"[..],
        &b"\x15\x03\x03\x00\x02\x02\x28"[..],
        &b""[..],
    ] {
        let (port, seen) = broken_handshake_server(garbage);
        let config = FtpConfigBuilder::from_url(&format!("ftp://bob:pw-S3cret@127.0.0.1:{port}"))
            .unwrap()
            .tls(TlsPolicy::Preferred)
            .connect_attempts(2)
            .connect_timeout(Duration::from_secs(2))
            .io_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let t = FtpTransport::new(config);
        let result = t.size(&p("x"));
        let lines = seen.lock().unwrap().clone();
        assert!(
            lines
                .iter()
                .all(|l| !l.starts_with("PASS") && !l.starts_with("USER")),
            "{lines:?}"
        );
        let err = result.unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
        assert!(t
            .take_events()
            .iter()
            .all(|e| !matches!(e, TransportEvent::TlsFallback { .. })));
    }
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let server = TestFtpServer::builder().ftps().start();
    let (other_ca, _) = ftp_server::self_signed_cert();
    std::fs::write(server.root_dir().join("secret.txt"), b"do not leak").unwrap();
    for ca in [Some(other_ca), None] {
        let mut builder = FtpConfigBuilder::from_url(&server.url()).unwrap();
        if let Some(pem) = &ca {
            builder = builder.ca_pem(pem);
        }
        let t = FtpTransport::new(builder.build().unwrap());
        let err = t.size(&p("secret.txt")).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
        assert!(err.to_string().contains("TLS"), "{err}");
        let mut sink = Vec::new();
        assert!(t.read_from(&p("secret.txt"), 0, &mut sink).is_err());
        assert!(sink.is_empty());
    }
    // Nothing was written by the refused clients.
    let names: Vec<_> = std::fs::read_dir(server.root_dir()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn the_right_certificate_for_another_name_is_refused() {
    // The certificate names localhost and 127.0.0.1, not example.org.
    let server = TestFtpServer::builder().ftps().start();
    let config = server
        .config_builder()
        .tls_server_name("example.org")
        .build()
        .unwrap();
    let err = FtpTransport::connect(config).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
}

// ---------------------------------------------------------------------------------------
// Reconnects

#[test]
fn reconnects_after_the_server_drops_the_connection() {
    let mut server = TestFtpServer::start();
    let t = server.transport();
    t.append(&p("a"), b"123").unwrap();
    assert!(t.take_events().is_empty());
    server.restart();
    assert_eq!(t.size(&p("a")).unwrap(), Some(3));
    let events = t.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TransportEvent::Reconnected { .. })),
        "{events:?}"
    );
    // Operations with an effect probe the connection first, so they survive a restart too.
    server.restart();
    t.append(&p("a"), b"45").unwrap();
    assert_eq!(read_all(&t, &p("a")).unwrap(), b"12345");
    server.restart();
    t.make_dir(&p("d")).unwrap();
    assert_eq!(
        t.make_dir(&p("d")).unwrap_err().kind(),
        TransportErrorKind::AlreadyExists
    );
}

#[test]
fn reconnects_after_an_idle_timeout() {
    let server = TestFtpServer::builder()
        .idle_timeout(Duration::from_secs(1))
        .start();
    let t = server.transport();
    t.append(&p("a"), b"x").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let mut out = Vec::new();
    assert_eq!(t.read_from(&p("a"), 0, &mut out).unwrap(), 1);
    assert!(t
        .take_events()
        .iter()
        .any(|e| matches!(e, TransportEvent::Reconnected { .. })));
}

#[test]
fn a_stopped_server_gives_a_transient_error() {
    let mut server = TestFtpServer::start();
    let t = FtpTransport::new(
        server
            .config_builder()
            .connect_attempts(2)
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    assert_eq!(t.size(&p("x")).unwrap(), None);
    server.stop();
    let err = t.size(&p("x")).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Transient, "{err}");
    server.restart();
    assert_eq!(t.size(&p("x")).unwrap(), None);
}

#[test]
fn a_missing_root_is_not_found() {
    let server = TestFtpServer::start();
    let config = server
        .config_builder()
        .root("no/such/root")
        .build()
        .unwrap();
    let err = FtpTransport::connect(config).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");
}
