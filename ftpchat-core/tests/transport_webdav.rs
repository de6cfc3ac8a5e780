//! The WebDAV transport against a real WebDAV server (wsgidav, `.ci/webdav-server.sh`,
//! announced by `FTPCHAT_TEST_WEBDAV_*`; required under `CI=true`): the conformance suite
//! (no append; create-only writes), a wrong password, awkward names, create-only writes
//! over existing files, ranged reads, refused and dropped connections, redacted passwords,
//! and `open_location`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use ftpchat_core::{
    open_location, HttpStatus, OpenOptions, RemotePath, Transport, TransportError,
    TransportErrorKind, WebDavConfig, WebDavTransport,
};
use support::webdav::external_webdav;

mod conformance {
    use ftpchat_core::Transport;

    ftpchat_core::conformance_tests!({
        let Some(server) = crate::support::webdav::external_webdav() else {
            return;
        };
        move || Box::new(server.transport()) as Box<dyn Transport>
    });
}

/// The same suite over HTTPS (`webdavs://`, trusting the server's certificate).
mod conformance_tls {
    use ftpchat_core::Transport;

    ftpchat_core::conformance_tests!({
        let Some(server) = crate::support::webdav::external_webdav() else {
            return;
        };
        move || Box::new(server.tls_transport()) as Box<dyn Transport>
    });
}

/// A fresh folder under the test root, made on `t`.
fn fresh_dir(t: &dyn Transport, what: &str) -> RemotePath {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = RemotePath::new(&format!("{what}-{}-{nanos}", std::process::id())).unwrap();
    t.make_dir(&dir).unwrap();
    dir
}

fn read(t: &dyn Transport, path: &RemotePath, offset: u64) -> Vec<u8> {
    let mut got = Vec::new();
    let n = t.read_from(path, offset, &mut got).unwrap();
    assert_eq!(n, got.len() as u64);
    got
}

#[test]
fn capabilities_and_refused_append() {
    let Some(server) = external_webdav() else {
        return;
    };
    let t = server.transport();
    let caps = t.capabilities();
    assert!(!caps.append && caps.create_only && !caps.list_after && caps.resume_reads);
    let dir = fresh_dir(&t, "append");
    let f = dir.join("log").unwrap();
    let err = t.append(&f, b"x").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Unsupported, "{err}");
    assert_eq!(t.size(&f).unwrap(), None);
    let err = t.append_from(&f, &mut &b"streamed"[..]).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Unsupported, "{err}");
}

#[test]
fn a_wrong_password_is_permission_denied_and_not_shown() {
    let Some(server) = external_webdav() else {
        return;
    };
    let secret = "wrong-password-do-not-print";
    let config = server.config().with_credentials(&server.user, secret);
    let t = WebDavTransport::new(config.clone()).unwrap();
    let dir = RemotePath::new("anything").unwrap();
    let checks: [(&str, Result<(), TransportError>); 4] = [
        ("list", t.list(&dir).map(drop)),
        ("size", t.size(&dir).map(drop)),
        ("write_new", t.write_new(&dir, b"x")),
        ("make_dir", t.make_dir(&dir)),
    ];
    for (what, result) in checks {
        let err = result.unwrap_err();
        assert_eq!(
            err.kind(),
            TransportErrorKind::PermissionDenied,
            "{what}: {err}"
        );
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(secret), "{what}: {shown}");
            assert!(!shown.contains(&server.password), "{what}: {shown}");
        }
    }
    // The HTTP status is the source.
    let err = t.list(&dir).unwrap_err();
    let status = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<HttpStatus>())
        .expect("an HttpStatus source");
    assert_eq!(status.0.as_u16(), 401);
    // Without any credentials: refused the same way.
    let anonymous = WebDavTransport::new(WebDavConfig::from_url(&server.url).unwrap()).unwrap();
    let err = anonymous.list(&dir).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::PermissionDenied, "{err}");
}

#[test]
fn awkward_names_round_trip() {
    let Some(server) = external_webdav() else {
        return;
    };
    let t = server.transport();
    let dir = fresh_dir(&t, "names");
    let sub = dir.join("dir #1 100% ü").unwrap();
    t.make_dir(&sub).unwrap();
    let names = [
        "with space.txt",
        "100%.txt",
        "%41%",
        "#hash",
        "a#b?c",
        "ünï côdé 文件",
        "emoji 🦀",
        "plus+&=;,'",
        "%2F",
        "..dots",
        "tilde~",
    ];
    for (i, name) in names.iter().enumerate() {
        let f = sub.join(name).unwrap();
        t.write_atomic(&f, format!("{i}:{name}").as_bytes())
            .unwrap();
        assert_eq!(read(&t, &f, 0), format!("{i}:{name}").as_bytes(), "{name}");
        assert_eq!(
            t.size(&f).unwrap(),
            Some(format!("{i}:{name}").len() as u64)
        );
    }
    let mut listed: Vec<String> = t.list(&sub).unwrap().into_iter().map(|e| e.name).collect();
    listed.sort();
    let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(listed, want);
    let dirs: Vec<_> = t.list(&dir).unwrap();
    assert_eq!(dirs.len(), 1);
    assert!(
        dirs[0].is_dir && dirs[0].name == "dir #1 100% ü",
        "{dirs:?}"
    );
    // Rename and remove with such names too.
    let from = sub.join("a#b?c").unwrap();
    let to = sub.join("renamed #2 %20").unwrap();
    t.rename(&from, &to).unwrap();
    assert_eq!(t.size(&from).unwrap(), None);
    assert_eq!(read(&t, &to, 0), b"4:a#b?c");
    t.remove_file(&to).unwrap();
    assert_eq!(t.size(&to).unwrap(), None);
}

#[test]
fn write_new_over_an_existing_file_keeps_the_old_content() {
    let Some(server) = external_webdav() else {
        return;
    };
    let t = server.transport();
    let other = server.transport();
    let dir = fresh_dir(&t, "create-only");
    let f = dir.join("claim").unwrap();
    t.write_new(&f, b"first").unwrap();
    for client in [&t, &other] {
        let err = client.write_new(&f, b"second, longer").unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::AlreadyExists, "{err}");
        assert_eq!(read(&t, &f, 0), b"first");
    }
    // write_atomic still replaces it; write_new stays refused.
    t.write_atomic(&f, b"replaced").unwrap();
    let err = other.write_new(&f, b"x").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::AlreadyExists, "{err}");
    assert_eq!(read(&other, &f, 0), b"replaced");
}

#[test]
fn reads_at_an_offset() {
    let Some(server) = external_webdav() else {
        return;
    };
    let t = server.transport();
    let dir = fresh_dir(&t, "ranged");
    let f = dir.join("blob.bin").unwrap();
    let data: Vec<u8> = (0..300_017u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    t.write_atomic(&f, &data).unwrap();
    assert_eq!(t.size(&f).unwrap(), Some(data.len() as u64));
    for offset in [0, 1, 65_536, 299_999, data.len() as u64 - 1] {
        assert!(
            read(&t, &f, offset) == data[offset as usize..],
            "from {offset}"
        );
    }
    for offset in [data.len() as u64, data.len() as u64 + 100] {
        assert!(read(&t, &f, offset).is_empty(), "from {offset}");
    }
    let empty = dir.join("empty").unwrap();
    t.write_new(&empty, b"").unwrap();
    assert!(read(&t, &empty, 0).is_empty());
    assert!(read(&t, &empty, 5).is_empty());
    let err = t
        .read_from(&dir.join("missing").unwrap(), 5, &mut Vec::new())
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");
    // A directory is not a file: a non-transient error, not its listing page.
    let err = t.read_from(&dir, 0, &mut Vec::new()).unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

/// Nothing listens on the port, or a server that closes every connection at once: a
/// transient error, never a panic or a hang.
#[test]
fn refused_and_dropped_connections_are_transient() {
    let quick = |url: &str| {
        let config = WebDavConfig::from_url(url)
            .unwrap()
            .with_credentials("u", "pw-not-shown")
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));
        WebDavTransport::new(config).unwrap()
    };
    // A port that was just free (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = quick(&format!("webdav://u@127.0.0.1:{port}/chat"));
    let f = RemotePath::new("f").unwrap();
    let results: [Result<(), TransportError>; 3] = [
        refused.size(&f).map(drop),
        refused.write_new(&f, b"x"),
        refused.read_from(&f, 0, &mut Vec::new()).map(drop),
    ];
    for result in results {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Transient, "{err}");
        assert!(
            !format!("{err} {err:?}").contains("pw-not-shown"),
            "{err:?}"
        );
    }

    // Accepts, reads a little, and closes without answering.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = std::sync::Arc::clone(&stop);
    let server = std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let mut stream = stream.unwrap();
            let _ = std::io::Read::read(&mut stream, &mut [0u8; 64]);
            drop(stream);
        }
    });
    let dropping = quick(&format!("webdav://u@{addr}/chat"));
    let results: [Result<(), TransportError>; 3] = [
        dropping.list(&f).map(drop),
        dropping.write_atomic(&f, b"x"),
        dropping.read_from(&f, 3, &mut Vec::new()).map(drop),
    ];
    for result in results {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Transient, "{err}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = std::net::TcpStream::connect(addr);
    server.join().unwrap();
}

#[test]
fn the_password_stays_out_of_debug_and_describe() {
    let Some(server) = external_webdav() else {
        return;
    };
    let config = server.config();
    let t = server.transport();
    let opened = open_location(&server.url_with_credentials(), &OpenOptions::default()).unwrap();
    for shown in [
        format!("{config:?}"),
        config.describe(),
        format!("{t:?}"),
        t.describe(),
        format!("{opened:?}"),
        opened.describe(),
    ] {
        assert!(!shown.contains(&server.password), "{shown}");
        assert!(!shown.contains("dav%20p"), "{shown}");
        assert!(shown.contains(&server.user), "{shown}");
    }
    // A failure names the path, not the password.
    let missing = RemotePath::new("no-such-dir/x").unwrap();
    let err = t.write_atomic(&missing, b"x").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound, "{err}");
    assert!(
        !format!("{err} {err:?}").contains(&server.password),
        "{err:?}"
    );
}

#[test]
fn open_location_opens_webdav_urls() {
    let Some(server) = external_webdav() else {
        return;
    };
    let options =
        OpenOptions::default().with_timeouts(Duration::from_secs(5), Duration::from_secs(20));
    let t = open_location(&server.url_with_credentials(), &options).unwrap();
    assert!(t.describe().starts_with("webdav://"), "{}", t.describe());
    assert!(t.capabilities().create_only);
    let name = RemotePath::new(&format!("open-location-{}", std::process::id())).unwrap();
    t.write_atomic(&name, b"hello\n").unwrap();
    assert_eq!(t.size(&name).unwrap(), Some(6));
    let again = open_location(&server.url_with_credentials(), &options).unwrap();
    let mut got = Vec::new();
    again.read_from(&name, 2, &mut got).unwrap();
    assert_eq!(got, b"llo\n");
    t.remove_file(&name).unwrap();
    assert_eq!(again.size(&name).unwrap(), None);
}

#[test]
fn webdavs_trusts_the_given_ca_and_only_it() {
    let Some(server) = external_webdav() else {
        return;
    };
    // With the CA (through `open_location` and `OpenOptions::ca_pem`): the same folder as
    // over plain HTTP.
    let options = OpenOptions::default()
        .with_ca_pem(&server.ca_pem)
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(20));
    let tls = open_location(&server.with_credentials(&server.tls_url), &options).unwrap();
    assert!(
        tls.describe().starts_with("webdavs://"),
        "{}",
        tls.describe()
    );
    let name = RemotePath::new(&format!("over-tls-{}", std::process::id())).unwrap();
    tls.write_new(&name, b"sealed").unwrap();
    let plain = server.transport();
    assert_eq!(read(&plain, &name, 0), b"sealed");
    plain.remove_file(&name).unwrap();

    // Without it (the webpki roots): the self-signed certificate is refused, permanently,
    // and nothing about the password is said.
    let config = WebDavConfig::from_url(&server.tls_url)
        .unwrap()
        .with_credentials(&server.user, &server.password)
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(5));
    let untrusting = WebDavTransport::new(config).unwrap();
    let err = untrusting.size(&name).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err:?}");
    assert!(
        !format!("{err} {err:?}").contains(&server.password),
        "{err:?}"
    );

    // Plain HTTP to the HTTPS port fails; it never silently works.
    let wrong = server.tls_url.replacen("webdavs://", "webdav://", 1);
    let config = WebDavConfig::from_url(&wrong)
        .unwrap()
        .with_credentials(&server.user, &server.password)
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(5));
    assert!(WebDavTransport::new(config).unwrap().size(&name).is_err());
}

#[test]
fn a_native_room_on_webdav_uses_the_segment_layout_and_a_chat_file_is_refused() {
    let Some(server) = external_webdav() else {
        return;
    };
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    let dir = fresh_dir(&*t, "room");
    support::segments::chat_in_segments_and_refuse_a_chat_file(&t, &dir, "webdav://");
}

#[test]
fn hostile_names_and_urls_are_refused_before_any_request() {
    // No server needed: nothing is sent (nothing listens on port 1 either).
    for bad in ["a\r\nb", "a\0b", "a\nb", "a\rb", "../x", "/abs", "a//b"] {
        let err: TransportError = RemotePath::new(bad).unwrap_err().into();
        assert_eq!(err.kind(), TransportErrorKind::InvalidPath, "{bad:?}");
    }
    for url in [
        "webdav://u:secret-in-url@127.0.0.1:1/ch%0Dat",
        "webdav://u:secret-in-url@127.0.0.1:1/ch%0Aat",
        "webdav://u:secret-in-url@127.0.0.1:1/ch%00at",
        "webdavs://u:secret-in-url@127.0.0.1:1/a/../b",
        "webdavs://u:secret-in-url@127.0.0.1:1/a/%2e%2e/b",
        "webdav://u:secret-in-url@127.0.0.1:1/a?b",
        "webdav://u:secret-in-url@127.0.0.1:1/a#b",
    ] {
        let err = open_location(url, &OpenOptions::default()).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::InvalidPath, "{url}");
        assert!(
            !format!("{err} {err:?}").contains("secret-in-url"),
            "{err:?}"
        );
    }
}

/// A one-request-per-connection HTTP server that answers every request with `answer`
/// (after reading the request head), and records the request heads.
fn canned_server(
    answer: &'static str,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&heads);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            // Read the body too: closing with unread data would reset the connection.
            let body_len = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let _ = stream.read_exact(&mut vec![0u8; body_len]);
            seen.lock().unwrap().push(head);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (addr, heads)
}

fn canned_transport(addr: std::net::SocketAddr, root: &str) -> WebDavTransport {
    let config = WebDavConfig::from_url(&format!("webdav://u:pw@{addr}/{root}"))
        .unwrap()
        .with_timeouts(Duration::from_secs(2), Duration::from_secs(2));
    WebDavTransport::new(config).unwrap()
}

#[test]
fn a_server_that_ignores_the_range_is_read_from_the_offset() {
    let (addr, heads) = canned_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
    );
    let t = canned_transport(addr, "r");
    let f = RemotePath::new("d/f").unwrap();
    assert_eq!(read(&t, &f, 4), b"456789");
    assert_eq!(read(&t, &f, 0), b"0123456789");
    assert!(read(&t, &f, 10).is_empty());
    let heads = heads.lock().unwrap();
    assert!(
        heads[0].starts_with("GET /r/d/f HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].to_ascii_lowercase().contains("range: bytes=4-"),
        "{}",
        heads[0]
    );
    assert!(
        !heads[1].to_ascii_lowercase().contains("range:"),
        "{}",
        heads[1]
    );
}

#[test]
fn a_range_other_than_the_one_asked_for_is_refused() {
    let (addr, _) = canned_server(
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
    );
    let t = canned_transport(addr, "r");
    let mut got = Vec::new();
    let err = t
        .read_from(&RemotePath::new("f").unwrap(), 4, &mut got)
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
    assert!(got.is_empty());
}

#[test]
fn a_listing_behind_a_path_rewriting_proxy_is_read() {
    // The server lives under another path than the URL's: its hrefs start with /dav/.
    let (addr, heads) = canned_server(concat!(
        "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n",
        r#"<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">"#,
        r#"<D:response><D:href>http://other/dav/room/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"#,
        r#"<D:response><D:href>/dav/room/a%20b.log</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>7</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"#,
        r#"<D:response><D:href>/dav/room/sub/</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"#,
        r#"<D:response><D:href>/dav/room/sub/deeper</D:href><D:propstat><D:prop><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"#,
        "</D:multistatus>"
    ));
    let t = canned_transport(addr, "chat");
    let mut listed = t.list(&RemotePath::new("room").unwrap()).unwrap();
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        (listed[0].name.as_str(), listed[0].size),
        ("a b.log", Some(7))
    );
    assert!(listed[1].is_dir && listed[1].name == "sub", "{listed:?}");
    let heads = heads.lock().unwrap();
    assert!(
        heads[0].starts_with("PROPFIND /chat/room/ HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].to_ascii_lowercase().contains("depth: 1"),
        "{}",
        heads[0]
    );
}
