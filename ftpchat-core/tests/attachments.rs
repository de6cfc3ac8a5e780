//! Attachments (SPEC §8.4.3) between real rooms: streamed encryption, resumable transfers
//! over a connection cut mid-transfer (a proxy in front of a real FTP server, and a real
//! FTPS server stopped mid-transfer), progress, cancel, the size limit, deletion, and the
//! hostile inputs of SPEC §13: a blob larger than announced, a wrong hash, a path outside
//! `files/`, a record pointing at another room's blob, a blob that never appears.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fault_proxy;
mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ftpchat_core::codec::{
    blob_len, AttachmentBody, BlobKey, BlobSealer, NativeRecord, RecordBody, RecordId, RoomId,
    BLOB_CHUNK_LEN,
};
use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::{
    AttachmentError, BlobError, ErrorKind, Message, MessageId, RemotePath, Room, RoomConfig,
    RoomError, RoomEvent, Transfer, Transport, TransportErrorKind,
};
use sha2::{Digest, Sha256};
use support::ftp_server::{FtpServerTransports, TestFtpServer};
use support::members::*;

const PW: &str = "attachment test password";

fn password_room(t: &Arc<dyn Transport>, dir: &str, who: &str) -> Room {
    Room::open(
        t.clone(),
        RoomConfig::native(dir, who, PW).with_native_iterations(1_000),
    )
    .unwrap()
}

/// A file of `len` pseudo-random bytes in `dir`.
fn make_file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let mut data = Vec::with_capacity(len);
    let mut x: u32 = 0x9e37_79b9 ^ len as u32;
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push(x as u8);
    }
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    path
}

fn sha(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).unwrap()).into()
}

fn one_attachment(update: &[Message]) -> &Message {
    let found: Vec<&Message> = update.iter().filter(|m| m.attachment.is_some()).collect();
    assert_eq!(found.len(), 1, "{update:?}");
    found[0]
}

fn files_in(t: &Arc<dyn Transport>, dir: &str) -> Vec<String> {
    match t.list(&RemotePath::new(&format!("{dir}/files")).unwrap()) {
        Ok(entries) => entries.into_iter().map(|e| e.name).collect(),
        Err(e) if e.kind() == TransportErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_file_goes_both_ways_on_a_real_ftp_server_and_the_server_sees_no_plaintext() {
    let server = TestFtpServer::start();
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    let alice = password_room(&t, "rooms/files", "Alice");
    let bob = password_room(&t, "rooms/files", "Bob");
    let tmp = tempfile::tempdir().unwrap();
    // Three full chunks and a partial one, with a recognisable plaintext marker.
    let source = make_file(tmp.path(), "holiday photo.png", 3 * BLOB_CHUNK_LEN + 1234);
    let mut data = std::fs::read(&source).unwrap();
    data[..16].copy_from_slice(b"PLAINTEXT-MARKER");
    std::fs::write(&source, &data).unwrap();

    let id = alice.send_file(&source, "the view").unwrap();
    let mine = alice.message(&id).unwrap();
    let a = mine.attachment.as_ref().unwrap();
    assert_eq!(
        (a.name(), a.size(), a.media_type(), mine.text.as_str()),
        (
            "holiday photo.png",
            data.len() as u64,
            "image/png",
            "the view"
        )
    );
    alice.sync().unwrap();

    // The server holds one blob of exactly the announced size, without the plaintext.
    let names = files_in(&t, "rooms/files");
    assert_eq!(names.len(), 1, "{names:?}");
    let mut stored = Vec::new();
    t.read_from(
        &RemotePath::new(&format!("rooms/files/files/{}", names[0])).unwrap(),
        0,
        &mut stored,
    )
    .unwrap();
    assert_eq!(stored.len() as u64, blob_len(data.len() as u64));
    assert!(!stored.windows(16).any(|w| w == b"PLAINTEXT-MARKER"));
    assert!(!String::from_utf8_lossy(&stored).contains("holiday"));

    let update = bob.sync().unwrap();
    let theirs = one_attachment(&update.messages);
    assert_eq!(theirs.id, id);
    assert_eq!(
        theirs.attachment.as_ref().unwrap().name(),
        "holiday photo.png"
    );
    let target = tmp.path().join("saved.png");
    bob.save_attachment(&id, &target).unwrap();
    assert_eq!(sha(&target), sha(&source));
    // Nothing but the target was written.
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["holiday photo.png", "saved.png"]);

    // Bob answers with a file of his own (an empty one: one empty last chunk).
    let empty = make_file(tmp.path(), "empty.txt", 0);
    let back = bob.send_file(&empty, "").unwrap();
    bob.sync().unwrap();
    let got = alice.sync().unwrap();
    let m = one_attachment(&got.messages);
    assert_eq!(m.id, back);
    assert_eq!(m.attachment.as_ref().unwrap().media_type(), "text/plain");
    let copy = tmp.path().join("copy.txt");
    alice.save_attachment(&back, &copy).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), b"");
}

#[test]
fn progress_is_reported_and_a_cancelled_download_resumes_where_it_stopped() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = password_room(&t, "r", "Alice");
    let bob = password_room(&t, "r", "Bob");
    let tmp = tempfile::tempdir().unwrap();
    let len = 5 * (1 << 20) + 77;
    let source = make_file(tmp.path(), "big.bin", len);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let transfer =
        Transfer::with_progress(move |done, total| s.lock().unwrap().push((done, total)));
    let id = alice.send_file_with(&source, "", &transfer).unwrap();
    let reports = seen.lock().unwrap().clone();
    assert_eq!(reports.first(), Some(&(0, len as u64)));
    assert_eq!(reports.last(), Some(&(len as u64, len as u64)));
    assert!(reports.len() >= 6, "{reports:?}");
    assert!(reports.windows(2).all(|w| w[0].0 < w[1].0), "{reports:?}");
    alice.sync().unwrap();
    bob.sync().unwrap();

    // Cancel after about 2 MiB: the error is typed, the target is not written.
    let target = tmp.path().join("out.bin");
    let cancel_at = 2 << 20;
    let handle = Arc::new(Mutex::new(None::<Transfer>));
    let h = handle.clone();
    let transfer = Transfer::with_progress(move |done, _| {
        if done >= cancel_at {
            if let Some(t) = h.lock().unwrap().as_ref() {
                t.cancel();
            }
        }
    });
    *handle.lock().unwrap() = Some(transfer.clone());
    let err = bob
        .save_attachment_with(&id, &target, &transfer)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(!target.exists());

    // The next call resumes: it starts at the verified chunks, not at zero.
    let first = Arc::new(AtomicU64::new(u64::MAX));
    let f = first.clone();
    let transfer = Transfer::with_progress(move |done, _| {
        let _ = f.compare_exchange(u64::MAX, done, Ordering::SeqCst, Ordering::SeqCst);
    });
    bob.save_attachment_with(&id, &target, &transfer).unwrap();
    let resumed_at = first.load(Ordering::SeqCst);
    assert!(
        resumed_at >= cancel_at && resumed_at.is_multiple_of(BLOB_CHUNK_LEN as u64),
        "{resumed_at}"
    );
    assert_eq!(sha(&target), sha(&source));
    // The partial file is gone.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
}

#[test]
fn the_size_limit_refuses_before_upload_and_shared_files_refuse_attachments() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let small = Room::open(
        t.clone(),
        RoomConfig::native("r", "Alice", PW)
            .with_native_iterations(1_000)
            .with_max_attachment_size(1000),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "a.bin", 1001);
    let err = small.send_file(&source, "").unwrap_err();
    assert!(
        matches!(
            err,
            RoomError::FileTooLarge {
                size: 1001,
                limit: 1000
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::FileTooLarge);
    assert!(files_in(&t, "r").is_empty(), "nothing was uploaded");
    assert_eq!(small.outbox_len(), 0);
    assert_eq!(ftpchat_core::DEFAULT_MAX_ATTACHMENT_SIZE, 100 << 20);

    let missing = small.send_file(tmp.path().join("nope"), "").unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::LocalFile, "{missing}");

    let shared = Room::open(
        t.clone(),
        RoomConfig::shared_file("chat.txt", ftpchat_core::WriteCodec::Fernet17, "Alice")
            .with_password(PW),
    )
    .unwrap();
    let ok = make_file(tmp.path(), "b.bin", 10);
    let err = shared.send_file(&ok, "").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

#[test]
fn deleting_an_attachment_message_deletes_its_blob() {
    let server = TestFtpServer::start();
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    let (_a, alice, _b, bob) = alice_and_bob(&t);
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "notes.pdf", 100_000);
    let id = alice.send_file(&source, "draft").unwrap();
    alice.sync().unwrap();
    let got = bob.sync().unwrap();
    assert_eq!(
        one_attachment(&got.messages).signer,
        alice.message(&id).unwrap().signer
    );
    assert_eq!(files_in(&t, DIR).len(), 1);

    // Bob may not delete it.
    let err = bob.delete(&id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotAllowed);

    alice.delete(&id).unwrap();
    let m = alice.message(&id).unwrap();
    assert!(m.deleted && m.attachment.is_none());
    alice.sync().unwrap();
    assert!(files_in(&t, DIR).is_empty(), "the blob is removed");

    bob.sync().unwrap();
    let err = bob
        .save_attachment(&id, tmp.path().join("x.pdf"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

#[test]
fn an_upload_cut_mid_transfer_resumes_through_a_proxy_in_front_of_a_real_server() {
    let server = TestFtpServer::start();
    let proxy = fault_proxy::FaultProxy::start(server.port());
    let config = ftpchat_core::FtpConfig::from_url(&proxy.url()).unwrap();
    let t: Arc<dyn Transport> = Arc::new(ftpchat_core::FtpTransport::new(config));
    let direct: Arc<dyn Transport> = Arc::new(server.root_transport());
    let alice = password_room(&t, "rooms/cut", "Alice");
    let bob = password_room(&direct, "rooms/cut", "Bob");
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "video.mp4", 3 << 20);

    // The first two uploads are cut after 1 MiB and after 200 KiB.
    proxy.cut_upload(1 << 20, 1);
    let id = alice.send_file(&source, "").unwrap();
    let appends = proxy.count("APPE");
    assert!(
        appends >= 2,
        "the upload was resumed with another APPE: {appends}"
    );
    alice.sync().unwrap();
    bob.sync().unwrap();
    let target = tmp.path().join("copy.mp4");
    bob.save_attachment(&id, &target).unwrap();
    assert_eq!(sha(&target), sha(&source));
}

#[test]
fn a_download_cut_mid_transfer_resumes_with_rest_through_a_proxy() {
    let server = TestFtpServer::start();
    let proxy = fault_proxy::FaultProxy::start(server.port());
    let config = ftpchat_core::FtpConfig::from_url(&proxy.url()).unwrap();
    let t: Arc<dyn Transport> = Arc::new(ftpchat_core::FtpTransport::new(config));
    let direct: Arc<dyn Transport> = Arc::new(server.root_transport());
    let alice = password_room(&direct, "rooms/cut2", "Alice");
    let bob = password_room(&t, "rooms/cut2", "Bob");
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "song.ogg", (2 << 20) + 5);
    let id = alice.send_file(&source, "").unwrap();
    alice.sync().unwrap();
    bob.sync().unwrap();

    proxy.cut_download("RETR", 700_000, 2);
    let target = tmp.path().join("copy.ogg");
    bob.save_attachment(&id, &target).unwrap();
    assert_eq!(sha(&target), sha(&source));
    let rests: Vec<String> = proxy
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("REST "))
        .collect();
    assert!(
        rests.iter().any(|r| r != "REST 0"),
        "the download resumed at an offset: {rests:?}"
    );
}

#[test]
fn transfers_resume_when_a_real_ftps_server_goes_away_mid_transfer() {
    let server = Arc::new(Mutex::new(TestFtpServer::builder().ftps().start()));
    let t: Arc<dyn Transport> = Arc::new(server.lock().unwrap().transport());
    let alice = password_room(&t, "rooms/tls", "Alice");
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "archive.zip", 4 << 20);

    // The server restarts (closing every connection) once 1 MiB is on its way, from the
    // transfer's own progress callback: the upload resumes on a new TLS connection.
    let restart_at = |server: Arc<Mutex<TestFtpServer>>| {
        let fired = AtomicU64::new(0);
        Transfer::with_progress(move |done, _| {
            if done >= 1 << 20 && fired.swap(1, Ordering::SeqCst) == 0 {
                server.lock().unwrap().restart();
            }
        })
    };
    let reconnected = |t: &Arc<dyn Transport>| {
        t.take_events()
            .iter()
            .any(|e| matches!(e, ftpchat_core::TransportEvent::Reconnected { .. }))
    };
    let id = alice
        .send_file_with(&source, "", &restart_at(server.clone()))
        .unwrap();
    assert!(
        reconnected(&t),
        "the upload was cut and went on after a reconnect"
    );
    alice.sync().unwrap();

    let target = tmp.path().join("copy.zip");
    alice
        .save_attachment_with(&id, &target, &restart_at(server.clone()))
        .unwrap();
    assert!(
        reconnected(&t),
        "the download was cut and went on after a reconnect"
    );
    assert_eq!(sha(&target), sha(&source));
}

// ----- hostile input (SPEC §13): a member (Bob) writes records by hand -----

fn attachment_record(body: AttachmentBody) -> NativeRecord {
    record_by("Bob", RecordBody::Attachment(Box::new(body)))
}

fn sealed_blob(key: &BlobKey, room: RoomId, path: &str, data: &[u8]) -> Vec<u8> {
    BlobSealer::new(key, room, path, data.len() as u64).seal_all(data)
}

fn random_blob_path() -> String {
    let id = RecordId::random();
    format!("files/{}", id.to_hex())
}

fn body_for(data: &[u8], path: &str, key: &BlobKey) -> AttachmentBody {
    AttachmentBody {
        name: "invoice.pdf".into(),
        size: data.len() as u64,
        media_type: "application/pdf".into(),
        path: path.into(),
        sha256: Sha256::digest(data).into(),
        key: key.clone(),
        caption: String::new(),
    }
}

fn put_blob(t: &Arc<dyn Transport>, dir: &str, path: &str, blob: &[u8]) {
    let _ = t.make_dir(&RemotePath::new(&format!("{dir}/files")).unwrap());
    t.write_atomic(&RemotePath::new(&format!("{dir}/{path}")).unwrap(), blob)
        .unwrap();
}

/// Alice tries to save `id`: the error, and that nothing at all was written locally.
fn save_fails(alice: &Room, id: MessageId) -> RoomError {
    let tmp = tempfile::tempdir().unwrap();
    let err = alice
        .save_attachment(&id, tmp.path().join("out.pdf"))
        .unwrap_err();
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "{err}: left {left:?}");
    err
}

#[test]
fn hostile_blobs_are_typed_errors_and_write_nothing() {
    let server = TestFtpServer::start();
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    let (_a, alice, b, bob) = alice_and_bob(&t);
    let (epoch, key) = epoch_key(&t, &b.identity);
    let room = room_id_of(&t);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();

    type Expected = fn(&RoomError) -> bool;
    let mut cases: Vec<(&str, MessageId, Expected)> = Vec::new();
    let send = |body: AttachmentBody| -> MessageId {
        let record = attachment_record(body);
        let id = MessageId(record.id.0);
        append_as_member(&t, &b.identity, epoch, &key, record);
        id
    };

    // 1. A blob that never appears.
    let k = BlobKey::generate();
    let id = send(body_for(&data, &random_blob_path(), &k));
    cases.push(("missing", id, |e| {
        matches!(e, RoomError::BadAttachment(AttachmentError::Missing))
    }));

    // 2. A blob larger than announced (the server or a member appended to it).
    let (k, path) = (BlobKey::generate(), random_blob_path());
    let mut blob = sealed_blob(&k, room, &path, &data);
    blob.extend_from_slice(b"more");
    put_blob(&t, DIR, &path, &blob);
    let id = send(body_for(&data, &path, &k));
    cases.push(("larger", id, |e| {
        matches!(
            e,
            RoomError::BadAttachment(AttachmentError::SizeMismatch { .. })
        )
    }));

    // 3. A wrong hash: the blob opens, but is not the announced content.
    let (k, path) = (BlobKey::generate(), random_blob_path());
    put_blob(&t, DIR, &path, &sealed_blob(&k, room, &path, &data));
    let mut lying = body_for(&data, &path, &k);
    lying.sha256 = Sha256::digest(b"something else").into();
    let id = send(lying);
    cases.push(("hash", id, |e| {
        matches!(
            e,
            RoomError::BadAttachment(AttachmentError::Blob(BlobError::HashMismatch))
        )
    }));

    // 4. A blob of another room, copied here under the name its record gives: it is
    //    bound to its room, so it does not open.
    let other = RoomId([0x55; 16]);
    let (k, path) = (BlobKey::generate(), random_blob_path());
    put_blob(&t, DIR, &path, &sealed_blob(&k, other, &path, &data));
    let id = send(body_for(&data, &path, &k));
    cases.push(("other room", id, |e| {
        matches!(
            e,
            RoomError::BadAttachment(AttachmentError::Blob(BlobError::Tampered { chunk: 0 }))
        )
    }));

    // 5. A blob moved to another name (a swap of two attachments' blobs).
    let (k, path) = (BlobKey::generate(), random_blob_path());
    put_blob(
        &t,
        DIR,
        &path,
        &sealed_blob(&k, room, &random_blob_path(), &data),
    );
    let id = send(body_for(&data, &path, &k));
    cases.push(("moved", id, |e| {
        matches!(
            e,
            RoomError::BadAttachment(AttachmentError::Blob(BlobError::Tampered { chunk: 0 }))
        )
    }));

    // 6. Chunks swapped on the server.
    let (k, path) = (BlobKey::generate(), random_blob_path());
    let mut blob = sealed_blob(&k, room, &path, &data);
    let sealed = ftpchat_core::codec::BLOB_SEALED_CHUNK_LEN;
    let (first, rest) = blob.split_at_mut(sealed);
    first.swap_with_slice(&mut rest[..sealed]);
    put_blob(&t, DIR, &path, &blob);
    let id = send(body_for(&data, &path, &k));
    cases.push(("swapped", id, |e| {
        matches!(
            e,
            RoomError::BadAttachment(AttachmentError::Blob(BlobError::Tampered { chunk: 0 }))
        )
    }));

    // 7. Paths outside `files/`: the record itself is refused (reported, not shown).
    let mut refused = Vec::new();
    for path in [
        "../other/files/0123456789abcdef0123456789abcdef",
        "files/../logs/x",
        "logs/0123456789abcdef0123456789abcdef",
        "/etc/passwd",
    ] {
        let k = BlobKey::generate();
        refused.push(send(body_for(&data, path, &k)));
    }
    drop(bob);

    let update = alice.sync().unwrap();
    for id in &refused {
        assert!(
            update.messages.iter().all(|m| m.id != *id) && alice.message(id).is_none(),
            "a record with a path outside files/ is not shown"
        );
    }
    let undecodable = update
        .events
        .iter()
        .filter(|e| matches!(e, RoomEvent::UndecodableLine { .. }))
        .count();
    assert_eq!(undecodable, refused.len(), "{:?}", update.events);
    for (what, id, expected) in cases {
        let m = alice
            .message(&id)
            .unwrap_or_else(|| panic!("{what}: not shown"));
        assert!(m.attachment.is_some(), "{what}");
        let err = save_fails(&alice, id);
        assert!(expected(&err), "{what}: {err:?}");
        assert_eq!(err.kind(), ErrorKind::BadAttachment, "{what}");
    }
}

#[test]
fn a_blob_tampered_with_on_the_server_is_caught_and_the_partial_file_removed() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = password_room(&t, "r", "Alice");
    let bob = password_room(&t, "r", "Bob");
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "a.bin", 300_000);
    let id = alice.send_file(&source, "").unwrap();
    alice.sync().unwrap();
    bob.sync().unwrap();
    let name = files_in(&t, "r").pop().unwrap();
    let path = RemotePath::new(&format!("r/files/{name}")).unwrap();
    let mut blob = Vec::new();
    t.read_from(&path, 0, &mut blob).unwrap();
    blob[200_000] ^= 0x01;
    t.write_atomic(&path, &blob).unwrap();

    let err = save_fails(&bob, id);
    assert!(
        matches!(
            err,
            RoomError::BadAttachment(AttachmentError::Blob(BlobError::Tampered { chunk: 3 }))
        ),
        "{err:?}"
    );
}

/// The external servers CI runs (vsftpd plain and FTPS, pyftpdlib plain and FTPS): a file
/// goes up and comes back whole on each, in a fresh folder.
#[test]
fn files_round_trip_on_the_external_servers() {
    let servers = [
        ("vsftpd", support::external(support::VSFTPD_URL)),
        (
            "vsftpd ftps",
            support::external_tls(support::VSFTPD_FTPS_URL),
        ),
        ("pyftpdlib", support::external(support::PYFTPDLIB_URL)),
        ("pyftpdlib ftps", support::external_ftps()),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "report.pdf", 2 * BLOB_CHUNK_LEN + 99);
    for (name, server) in servers {
        let Some(server) = server else { continue };
        let t: Arc<dyn Transport> = Arc::new(support::ftp_server::transport_in_fresh_dir(
            server.config_builder(),
            "attach",
        ));
        let alice = password_room(&t, "room", "Alice");
        let bob = password_room(&t, "room", "Bob");
        let id = alice.send_file(&source, name).unwrap();
        alice.sync().unwrap();
        let got = bob.sync().unwrap();
        assert_eq!(one_attachment(&got.messages).text, name);
        let target = tmp.path().join(format!("{}.pdf", name.replace(' ', "-")));
        bob.save_attachment(&id, &target).unwrap();
        assert_eq!(sha(&target), sha(&source), "{name}");
    }
}

/// The fault transport tears appends and cuts reads mid-transfer, and fails sizes: every
/// transfer resumes and the file arrives whole.
#[test]
fn transfers_survive_torn_appends_cut_reads_and_failed_sizes() {
    use ftpchat_core::testing::{FaultyTransport, Op};
    let faulty = Arc::new(FaultyTransport::new(MemoryTransport::new()));
    let t: Arc<dyn Transport> = faulty.clone();
    let alice = password_room(&t, "r", "Alice");
    let bob = password_room(&t, "r", "Bob");
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "data.bin", (3 << 20) + 4321);

    // The blob goes up 1 MiB per append (the default `append_from`): the second is torn
    // after 100,000 bytes, the fourth after 0; the size asked after the first cut fails.
    faulty
        .cut_append_after(2, 100_000)
        .cut_append_after(4, 0)
        .fail_nth(Op::Size, 1, TransportErrorKind::Transient);
    let id = alice.send_file(&source, "").unwrap();
    assert_eq!(faulty.faults_injected(), 3, "{:?}", faulty.injected());
    alice.sync().unwrap();
    bob.sync().unwrap();

    // The download is cut twice, at 1.5 MB and (resumed) 10 bytes further.
    faulty.cut_read_after(1, 1_500_000).cut_read_after(2, 10);
    let target = tmp.path().join("copy.bin");
    bob.save_attachment(&id, &target).unwrap();
    assert_eq!(faulty.faults_injected(), 5, "{:?}", faulty.injected());
    assert_eq!(sha(&target), sha(&source));

    // Failures that never stop: a typed transient error after a bounded number of tries,
    // and no partial blob left behind.
    let before = files_in(&t, "r").len();
    for n in 1..=50 {
        faulty.cut_append_after(n, 10);
    }
    let err = alice.send_file(&source, "").unwrap_err();
    assert!(err.is_transient(), "{err}");
    faulty.clear_faults();
    assert_eq!(
        files_in(&t, "r").len(),
        before,
        "the partial blob was removed"
    );
}

/// A cancel from the last progress report (done == total) still cancels: nothing is
/// queued, no blob is left, no target is written; the next save finishes at once.
#[test]
fn a_cancel_at_the_last_progress_report_still_cancels() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let alice = password_room(&t, "r", "Alice");
    let tmp = tempfile::tempdir().unwrap();
    let source = make_file(tmp.path(), "a.bin", 200_000);
    let at_end = || {
        let slot = Arc::new(Mutex::new(None::<Transfer>));
        let s = slot.clone();
        let transfer = Transfer::with_progress(move |done, total| {
            if done == total {
                s.lock().unwrap().as_ref().unwrap().cancel();
            }
        });
        *slot.lock().unwrap() = Some(transfer.clone());
        transfer
    };
    let err = alice.send_file_with(&source, "", &at_end()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert_eq!(alice.outbox_len(), 0);
    assert!(files_in(&t, "r").is_empty());

    let id = alice.send_file(&source, "").unwrap();
    let target = tmp.path().join("b.bin");
    let err = alice
        .save_attachment_with(&id, &target, &at_end())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(!target.exists());
    alice.save_attachment(&id, &target).unwrap();
    assert_eq!(sha(&target), sha(&source));
}
