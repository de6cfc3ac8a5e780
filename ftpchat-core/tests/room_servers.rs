//! The room engine against real FTP servers: 8 clients x 500 messages at once, every
//! client ends with all 4,000 exactly once and in the same order.
//!
//! - Native rooms on the in-process libunftp server (whose concurrent `APPE` loses
//!   data), pyftpdlib and vsftpd.
//! - Shared FTPChat files on vsftpd and pyftpdlib, and on libunftp with the lock.
//! - With the `sftp` feature: native rooms on OpenSSH's sshd (`.ci/sftp-server.sh`).
//! - With the `s3` and `webdav` features: native rooms in the segment layout on moto
//!   (`.ci/s3-server.sh`) and wsgidav (`.ci/webdav-server.sh`).
//!
//! External servers come from `.ci/ftp-servers.sh` (see `support`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Barrier};

use ftpchat_core::codec::KdfParams;
use ftpchat_core::Transport;
use ftpchat_core::{FtpConfigBuilder, FtpTransport};
use ftpchat_core::{Message, MessageStatus};
use ftpchat_core::{Room, RoomConfig, WriteCodec};
use support::ftp_server::{unique_name, FtpServerTransports, TestFtpServer};

const WRITERS: usize = 8;
const PER_WRITER: usize = 500;

fn transport(builder: &FtpConfigBuilder) -> Arc<dyn Transport> {
    Arc::new(FtpTransport::new(builder.clone().build().unwrap()))
}

fn sync_until_delivered(room: &Room) {
    for _ in 0..200 {
        match room.sync() {
            Ok(_) if room.outbox_len() == 0 => return,
            Ok(_) => {}
            Err(e) => eprintln!("sync failed, retrying: {e}"),
        }
    }
    panic!("outbox never drained");
}

/// Runs WRITERS clients at once, each sending PER_WRITER messages, and checks that every
/// client ends with the same complete, duplicate-free timeline.
fn run_concurrently(builder: &FtpConfigBuilder, config: impl Fn(usize) -> RoomConfig + Sync) {
    run_concurrently_on(&|| transport(builder), config);
}

/// [`run_concurrently`] with any transport: `make` gives each client its own connection.
fn run_concurrently_on(
    make: &(dyn Fn() -> Arc<dyn Transport> + Sync),
    config: impl Fn(usize) -> RoomConfig + Sync,
) {
    // Create the room once, so the writers race on messages, not on creation.
    Room::open(make(), config(usize::MAX)).unwrap();
    let barrier = Barrier::new(WRITERS);
    let timelines: Vec<Vec<Message>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (barrier, config) = (&barrier, &config);
                scope.spawn(move || {
                    let room = Room::open(make(), config(w)).unwrap();
                    barrier.wait();
                    for i in 0..PER_WRITER {
                        room.send(&format!("writer {w} message {i}")).unwrap();
                        if i % 50 == 49 {
                            sync_until_delivered(&room);
                        }
                    }
                    sync_until_delivered(&room);
                    // Everyone has delivered everything: read the rest.
                    barrier.wait();
                    room.sync().unwrap();
                    room.history(None, usize::MAX).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let reference: Vec<String> = timelines[0].iter().map(|m| m.text.clone()).collect();
    for (w, timeline) in timelines.iter().enumerate() {
        assert_eq!(
            timeline.len(),
            WRITERS * PER_WRITER,
            "client {w} message count"
        );
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for m in timeline {
            *seen.entry(m.text.as_str()).or_default() += 1;
            assert_eq!(m.status, MessageStatus::Confirmed);
        }
        assert!(seen.values().all(|&n| n == 1), "client {w} has duplicates");
        let texts: Vec<String> = timeline.iter().map(|m| m.text.clone()).collect();
        assert_eq!(texts, reference, "client {w} order differs");
        // Each writer's messages appear in the order it sent them.
        for writer in 0..WRITERS {
            let prefix = format!("writer {writer} message ");
            let order: Vec<usize> = texts
                .iter()
                .filter_map(|t| t.strip_prefix(&prefix))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(order, (0..PER_WRITER).collect::<Vec<_>>());
        }
    }
}

fn native(room: String) -> impl Fn(usize) -> RoomConfig + Sync {
    move |w| {
        RoomConfig::native(room.clone(), format!("client {w}"), "pw").with_native_iterations(1_000)
    }
}

fn shared(file: String, lock: bool) -> impl Fn(usize) -> RoomConfig + Sync {
    move |w| {
        RoomConfig::shared_file(file.clone(), WriteCodec::Fernet16, format!("client {w}"))
            .with_password("pw")
            .with_compat_kdf(KdfParams::new(b"ftpchat".to_vec(), 1_000).unwrap())
            .with_lock(lock)
    }
}

#[test]
fn native_room_8_writers_libunftp() {
    let server = TestFtpServer::start();
    run_concurrently(&server.config_builder(), native(unique_name("room")));
}

#[test]
fn native_room_8_writers_pyftpdlib() {
    let Some(server) = support::external(support::PYFTPDLIB_URL) else {
        return;
    };
    run_concurrently(&server.config_builder(), native(unique_name("room")));
}

#[test]
fn native_room_8_writers_vsftpd() {
    let Some(server) = support::external(support::VSFTPD_URL) else {
        return;
    };
    run_concurrently(&server.config_builder(), native(unique_name("room")));
}

#[test]
fn shared_file_8_writers_pyftpdlib() {
    let Some(server) = support::external(support::PYFTPDLIB_URL) else {
        return;
    };
    run_concurrently(
        &server.config_builder(),
        shared(unique_name("chat") + ".txt", false),
    );
}

#[test]
fn shared_file_8_writers_vsftpd() {
    let Some(server) = support::external(support::VSFTPD_URL) else {
        return;
    };
    run_concurrently(
        &server.config_builder(),
        shared(unique_name("chat") + ".txt", false),
    );
}

#[test]
fn shared_file_8_writers_libunftp_with_lock() {
    let server = TestFtpServer::start();
    run_concurrently(
        &server.config_builder(),
        shared(unique_name("chat") + ".txt", true),
    );
}

#[cfg(feature = "sftp")]
#[test]
fn native_room_8_writers_sftp() {
    let Some(server) = support::sftp::external_sftp() else {
        return;
    };
    let make = || Arc::new(server.transport()) as Arc<dyn Transport>;
    run_concurrently_on(&make, native(unique_name("room")));
}

#[cfg(feature = "s3")]
#[test]
fn native_room_8_writers_s3() {
    // A store that cannot append: the room uses the segment layout (SPEC §9.5).
    let Some(server) = support::s3::external_s3() else {
        return;
    };
    let make = || Arc::new(server.transport()) as Arc<dyn Transport>;
    run_concurrently_on(&make, native(unique_name("room")));
}

#[cfg(feature = "webdav")]
#[test]
fn native_room_8_writers_webdav() {
    // WebDAV cannot append either: the segment layout (SPEC §9.5).
    let Some(server) = support::webdav::external_webdav() else {
        return;
    };
    let make = || Arc::new(server.transport()) as Arc<dyn Transport>;
    run_concurrently_on(&make, native(unique_name("room")));
}
