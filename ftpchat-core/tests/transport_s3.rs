//! The S3 transport against a real S3 server (moto, `.ci/s3-server.sh`, announced by
//! `FTPCHAT_TEST_S3_*`; required under `CI=true`): the conformance suite (no append;
//! create-only writes and paged listings), racing create-only writes, ranged reads,
//! refused names, redacted secrets, `open_location`, and the clear refusal of a room.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use ftpchat_core::{
    open_location, OpenOptions, RemotePath, Room, RoomConfig, RoomError, S3Config, S3Credentials,
    S3Transport, Transport, TransportError, TransportErrorKind,
};
use support::s3::{external_s3, RequestLog};

mod conformance {
    use ftpchat_core::Transport;

    ftpchat_core::conformance_tests!({
        let Some(server) = crate::support::s3::external_s3() else {
            return;
        };
        move || Box::new(server.transport()) as Box<dyn Transport>
    });
}

/// A fresh folder under the test prefix, made on `t`.
fn fresh_dir(t: &dyn Transport, what: &str) -> RemotePath {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = RemotePath::new(&format!("{what}-{}-{nanos}", std::process::id())).unwrap();
    t.make_dir(&dir).unwrap();
    dir
}

#[test]
fn capabilities_and_refused_append() {
    let Some(server) = external_s3() else {
        return;
    };
    let t = server.transport();
    let caps = t.capabilities();
    assert!(!caps.append && caps.create_only && caps.list_after && caps.resume_reads);
    let dir = fresh_dir(&t, "append");
    let f = dir.join("log").unwrap();
    let err = t.append(&f, b"x").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Unsupported, "{err}");
    assert_eq!(t.size(&f).unwrap(), None);
    let err = t.append_from(&f, &mut &b"streamed"[..]).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Unsupported, "{err}");
}

#[test]
fn write_new_race_across_many_clients_has_one_winner() {
    let Some(server) = external_s3() else {
        return;
    };
    const CLIENTS: usize = 8;
    let clients: Vec<S3Transport> = (0..CLIENTS).map(|_| server.transport()).collect();
    let dir = fresh_dir(&clients[0], "race");
    for round in 0..5 {
        let f = dir.join(&format!("claim-{round}")).unwrap();
        let barrier = std::sync::Barrier::new(CLIENTS);
        let outcomes: Vec<Result<(), TransportError>> = std::thread::scope(|s| {
            let handles: Vec<_> = clients
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let (f, barrier) = (&f, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        c.write_new(f, format!("winner {i}").as_bytes())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..CLIENTS).filter(|&i| outcomes[i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
        for e in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            // AlreadyExists; a 409 (concurrent conditional write) would be Transient.
            assert!(
                matches!(
                    e.kind(),
                    TransportErrorKind::AlreadyExists | TransportErrorKind::Transient
                ),
                "{e}"
            );
        }
        let mut got = Vec::new();
        clients[0].read_from(&f, 0, &mut got).unwrap();
        assert_eq!(got, format!("winner {}", winners[0]).as_bytes());
    }
}

#[test]
fn list_after_pages_a_large_directory() {
    let Some(server) = external_s3() else {
        return;
    };
    let t = server.transport();
    let dir = fresh_dir(&t, "paging");
    let names: Vec<String> = (0..45).map(|i| format!("seg-{i:04}")).collect();
    for name in names.iter().rev() {
        t.write_new(&dir.join(name).unwrap(), name.as_bytes())
            .unwrap();
    }
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = t.list_after(&dir, after.as_deref(), 10).unwrap();
        pages += 1;
        walked.extend(page.iter().map(|e| e.name.clone()));
        if page.len() < 10 {
            break;
        }
        after = page.last().map(|e| e.list_key().into_owned());
    }
    assert_eq!(walked, names);
    assert_eq!(pages, 5);
    let tail = t.list_after(&dir, Some("seg-0040"), 100).unwrap();
    assert_eq!(
        tail.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["seg-0041", "seg-0042", "seg-0043", "seg-0044"]
    );
    assert!(tail.iter().all(|e| e.size == Some(8)));
}

#[test]
fn ranged_reads_of_a_large_object() {
    let Some(server) = external_s3() else {
        return;
    };
    let t = server.transport();
    let dir = fresh_dir(&t, "ranged");
    let f = dir.join("blob.bin").unwrap();
    // 9 MiB, streamed from one GET into the sink (no read holds it whole).
    let data: Vec<u8> = (0..9 * 1024 * 1024 + 17)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    t.write_atomic(&f, &data).unwrap();
    assert_eq!(t.size(&f).unwrap(), Some(data.len() as u64));
    for offset in [
        0,
        1,
        8 * 1024 * 1024 - 1,
        8 * 1024 * 1024,
        data.len() as u64 - 3,
    ] {
        let mut got = Vec::new();
        let n = t.read_from(&f, offset, &mut got).unwrap();
        assert_eq!(n, got.len() as u64);
        assert!(got == data[offset as usize..], "from {offset}");
    }
    for offset in [data.len() as u64, data.len() as u64 + 100] {
        let mut got = Vec::new();
        assert_eq!(t.read_from(&f, offset, &mut got).unwrap(), 0);
        assert!(got.is_empty());
    }
    let err = t
        .read_from(&dir.join("missing").unwrap(), 5, &mut Vec::new())
        .unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound);
}

/// What a poll costs in HTTP requests (SCALING.md): a listing that finds nothing new is
/// one request, and so is a read of any size at any offset.
#[test]
fn a_poll_costs_one_request_per_listing_and_per_read() {
    let (Some(server), Some(log)) = (external_s3(), RequestLog::from_env()) else {
        return;
    };
    let t = server.transport();
    let dir = fresh_dir(&t, "requests");
    let folder = dir.as_str().to_owned();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    for name in ["000000000000", "000000000001", "000000000002"] {
        t.write_new(&dir.join(name).unwrap(), &data).unwrap();
    }
    let cost = |what: &str, f: &mut dyn FnMut()| {
        let before = log.count(&folder);
        f();
        let requests = log.count(&folder) - before;
        assert_eq!(requests, 1, "{what}: {requests} HTTP requests");
    };
    cost(
        "an idle poll (nothing after the last name read)",
        &mut || {
            assert!(t
                .list_after(&dir, Some("000000000002"), 64)
                .unwrap()
                .is_empty());
        },
    );
    cost("a poll finding one new name", &mut || {
        let page = t.list_after(&dir, Some("000000000001"), 64).unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].name, "000000000002");
        assert_eq!(page[0].size, Some(data.len() as u64));
    });
    cost("a whole listing", &mut || {
        assert_eq!(t.list(&dir).unwrap().len(), 3);
    });
    let f = dir.join("000000000001").unwrap();
    for offset in [0, 1, 299_999] {
        cost(&format!("a read from {offset}"), &mut || {
            let mut got = Vec::new();
            assert_eq!(t.read_from(&f, offset, &mut got).unwrap(), 300_000 - offset);
            assert!(got == data[offset as usize..]);
        });
    }
    for offset in [300_000, 300_001] {
        cost(
            &format!("a read at or past the end ({offset})"),
            &mut || {
                assert_eq!(t.read_from(&f, offset, &mut Vec::new()).unwrap(), 0);
            },
        );
    }
    cost("a read of a missing file", &mut || {
        let err = t
            .read_from(&dir.join("missing").unwrap(), 0, &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::NotFound);
    });
    let empty = dir.join("empty").unwrap();
    t.make_dir(&empty).unwrap();
    let missing = dir.join("missing-dir").unwrap();
    cost(
        "a whole listing of an empty folder (its marker)",
        &mut || {
            assert!(t.list(&empty).unwrap().is_empty());
        },
    );
    cost("a whole listing of a missing folder", &mut || {
        assert_eq!(
            t.list(&missing).unwrap_err().kind(),
            TransportErrorKind::NotFound
        );
    });
    // Where nothing comes back after `after`, a second request tells an empty folder from
    // a missing one.
    let before = log.count(&folder);
    assert!(t.list_after(&empty, Some("x"), 10).unwrap().is_empty());
    let err = t.list_after(&missing, Some("x"), 10).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound);
    assert_eq!(
        log.count(&folder) - before,
        4,
        "two listings of 2 requests each"
    );
}

#[test]
fn hostile_names_and_urls_are_refused_before_any_request() {
    // No server needed: nothing is sent. (The endpoint points nowhere; a request would fail
    // with a transport error, not InvalidPath.)
    for bad in ["a\r\nb", "a\0b", "a\nb", "a\rb", "../x", "/abs"] {
        let err: TransportError = RemotePath::new(bad).unwrap_err().into();
        assert_eq!(err.kind(), TransportErrorKind::InvalidPath, "{bad:?}");
    }
    for url in [
        "s3://bucket/ch%0Dat",
        "s3://bucket/ch%0Aat",
        "s3://bucket/ch%00at",
        "s3://bucket/a/../b",
        "s3://AKID:secret-in-url@bucket/x",
    ] {
        let err = open_location(url, &OpenOptions::default()).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::InvalidPath, "{url}");
        assert!(!err.to_string().contains("secret-in-url"), "{err}");
    }
}

#[test]
fn secrets_stay_out_of_debug_and_errors() {
    let Some(server) = external_s3() else {
        return;
    };
    let secret = "wrong-secret-do-not-print";
    let config = server
        .config_for(&server.url)
        .with_credentials(S3Credentials::new(&server.access_key, secret));
    let shown = format!("{config:?}");
    assert!(!shown.contains(secret), "{shown}");
    let t = S3Transport::new(config).unwrap();
    assert!(!format!("{t:?}").contains(secret));
    assert!(!t.describe().contains(secret));
    // moto accepts any key, so this succeeds or fails without the secret in the error.
    let dir = RemotePath::new("secret-check").unwrap();
    if let Err(e) = t.list(&dir) {
        assert!(!e.to_string().contains(secret), "{e}");
        assert!(!format!("{e:?}").contains(secret), "{e:?}");
    }
    let right = server.transport();
    assert!(!format!("{right:?}").contains(&server.secret_key));
    let options = OpenOptions::default().with_s3_credentials(server.credentials());
    assert!(!format!("{options:?}").contains(&server.secret_key));
}

#[test]
fn open_location_opens_s3_urls_with_options() {
    let Some(server) = external_s3() else {
        return;
    };
    let options = OpenOptions::default()
        .with_s3_endpoint(&server.endpoint)
        .with_s3_region(&server.region)
        .with_s3_credentials(server.credentials());
    let t = open_location(&server.url, &options).unwrap();
    assert!(t.describe().starts_with(&server.url), "{}", t.describe());
    assert!(t.capabilities().create_only);
    let name = RemotePath::new(&format!("open-location-{}", std::process::id())).unwrap();
    t.write_atomic(&name, b"hello\n").unwrap();
    assert_eq!(t.size(&name).unwrap(), Some(6));
    // The same object through a second open: one store.
    let again = open_location(&server.url, &options).unwrap();
    let mut got = Vec::new();
    again.read_from(&name, 2, &mut got).unwrap();
    assert_eq!(got, b"llo\n");
    t.remove_file(&name).unwrap();
    assert_eq!(again.size(&name).unwrap(), None);
}

#[test]
fn a_native_room_on_s3_uses_the_segment_layout_and_a_chat_file_is_refused() {
    let Some(server) = external_s3() else {
        return;
    };
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    let dir = fresh_dir(&*t, "room");
    support::segments::chat_in_segments_and_refuse_a_chat_file(&t, &dir, "s3://");
}

#[test]
fn a_chat_file_is_refused_before_anything_is_sent() {
    // Nothing listens on port 1: a request would fail as transient, not as unsupported.
    let config = S3Config::from_url("s3://bucket/rooms")
        .unwrap()
        .with_endpoint("http://127.0.0.1:1")
        .with_credentials(S3Credentials::new("id", "secret"));
    let t: Arc<dyn Transport> = Arc::new(S3Transport::new(config).unwrap());
    let shared = RoomConfig::shared_file("chat.txt", ftpchat_core::WriteCodec::Fernet17, "alice")
        .with_password("pw");
    let err = Room::open(t, shared).unwrap_err();
    assert!(matches!(err, RoomError::Unsupported(_)), "{err}");
    assert!(err.to_string().contains("cannot append"), "{err}");
}
