//! The local-folder transport never follows a symbolic link below its root (SPEC §11): a
//! shared or synchronised folder is writable by others, and a planted link must not make a
//! client append to, or read, a file outside the folder.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ftpchat_core::LocalTransport;
use ftpchat_core::Message;
use ftpchat_core::{RemotePath, Transport, TransportErrorKind};
use ftpchat_core::{Room, RoomConfig, RoomError, RoomEvent};

const PW: &str = "correct horse";

fn p(s: &str) -> RemotePath {
    RemotePath::new(s).unwrap()
}

fn native(dir: &str, who: &str) -> RoomConfig {
    RoomConfig::native(dir, who, PW).with_native_iterations(1_000)
}

fn folder(root: &Path) -> Arc<dyn Transport> {
    Arc::new(LocalTransport::new(root))
}

fn texts(messages: &[Message]) -> Vec<String> {
    let mut texts: Vec<_> = messages.iter().map(|m| m.text.clone()).collect();
    texts.sort();
    texts
}

fn history(room: &Room) -> Vec<String> {
    texts(&room.history(None, usize::MAX).unwrap())
}

/// Every file below `dir` (following nothing) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The one log in `<room>/logs` (the room's only writer so far; the doorbell it rang is
/// not a log).
fn only_log(root: &Path, room: &str) -> PathBuf {
    let logs: Vec<_> = fs::read_dir(root.join(room).join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    logs[0].clone()
}

fn assert_refused(err: &RoomError) {
    match err {
        RoomError::Transport(e) => {
            assert_eq!(e.kind(), TransportErrorKind::PermissionDenied, "{e}")
        }
        other => panic!("expected a refused transport operation, got {other:?}"),
    }
}

#[test]
fn a_planted_log_symlink_is_neither_appended_to_nor_read() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let t = folder(root.path());

    let alice = Room::open(t.clone(), native("r", "Alice")).unwrap();
    alice.send("from alice").unwrap();
    alice.sync().unwrap();
    let alice_log = only_log(root.path(), "r");
    let bob = Room::open(t.clone(), native("r", "Bob")).unwrap();
    bob.send("from bob").unwrap();
    bob.sync().unwrap();

    // Carol writes a log in this room; before anyone reads it, it is moved outside the
    // folder and a link left in its place (were it followed, Alice would show her message).
    let logs_before: Vec<_> = fs::read_dir(root.path().join("r/logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let carol = Room::open(t.clone(), native("r", "Carol")).unwrap();
    carol.send("read through a link").unwrap();
    carol.flush().unwrap();
    let planted = fs::read_dir(root.path().join("r/logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|path| !logs_before.contains(path) && path.extension().is_some_and(|x| x == "log"))
        .unwrap();
    let secret = outside.path().join("carol.log");
    fs::rename(&planted, &secret).unwrap();
    symlink(&secret, &planted).unwrap();

    // And Alice's own log now points at her shell profile.
    let profile = outside.path().join(".profile");
    fs::write(&profile, b"export PATH=/usr/bin\n").unwrap();
    fs::remove_file(&alice_log).unwrap();
    symlink(&profile, &alice_log).unwrap();
    let before = snapshot(outside.path());

    alice.send("must not land in .profile").unwrap();
    let err = alice.sync().unwrap_err();
    assert_refused(&err);
    assert_eq!(
        snapshot(outside.path()),
        before,
        "a file outside was modified"
    );
    assert_eq!(alice.outbox_len(), 1);
    // The readable log still is; the linked one is not read.
    assert_eq!(
        history(&alice),
        ["from alice", "from bob", "must not land in .profile"]
    );

    // Bob's room keeps working and reports the link as unreadable.
    bob.send("still here").unwrap();
    let update = bob.sync().unwrap();
    let unreadable: Vec<_> = update
        .events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::UnreadableFile { file, error } => Some((file.clone(), error.clone())),
            _ => None,
        })
        .collect();
    assert!(
        unreadable
            .iter()
            .any(|(file, error)| planted.ends_with(file) && error.contains("permission denied")),
        "{:?}",
        update.events
    );
    assert_eq!(history(&bob), ["from alice", "from bob", "still here"]);
    assert_eq!(
        snapshot(outside.path()),
        before,
        "a file outside was modified"
    );
    // Removing the link through the transport is refused too: its target stays.
    let t_err = t
        .remove_file(&p(&format!(
            "r/logs/{}",
            planted.file_name().unwrap().to_str().unwrap()
        )))
        .unwrap_err();
    assert_eq!(t_err.kind(), TransportErrorKind::PermissionDenied);
    assert_eq!(snapshot(outside.path()), before);
}

#[test]
fn a_symlinked_logs_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let t = folder(root.path());
    let alice = Room::open(t.clone(), native("r", "Alice")).unwrap();
    alice.send("one").unwrap();
    alice.sync().unwrap();

    // Someone moves the logs away and leaves a link to a directory outside.
    let logs = root.path().join("r/logs");
    let away = outside.path().join("logs");
    fs::rename(&logs, &away).unwrap();
    symlink(&away, &logs).unwrap();
    let before = snapshot(outside.path());

    alice.send("two").unwrap();
    assert_refused(&alice.sync().unwrap_err());
    // A newcomer opens the room (its header is real) but cannot read or write its logs.
    let bob = Room::open(t.clone(), native("r", "Bob")).unwrap();
    assert_refused(&bob.sync().unwrap_err());
    bob.send("three").unwrap();
    assert_refused(&bob.sync().unwrap_err());
    for op in [
        t.list(&p("r/logs")).unwrap_err(),
        t.append(&p("r/logs/x.log"), b"x").unwrap_err(),
        t.write_atomic(&p("r/logs/x"), b"x").unwrap_err(),
        t.make_dir(&p("r/logs")).unwrap_err(),
        t.remove_dir(&p("r/logs")).unwrap_err(),
    ] {
        assert_eq!(op.kind(), TransportErrorKind::PermissionDenied, "{op}");
    }
    assert_eq!(
        snapshot(outside.path()),
        before,
        "a file outside was modified"
    );
    assert!(fs::symlink_metadata(&logs)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_symlinked_room_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    // A real room outside the folder, and a link to it inside.
    let mallory = Room::open(folder(outside.path()), native("room", "Mallory")).unwrap();
    mallory.send("outside").unwrap();
    mallory.sync().unwrap();
    symlink(outside.path().join("room"), root.path().join("r")).unwrap();
    let before = snapshot(outside.path());

    let t = folder(root.path());
    let err = Room::open(t.clone(), native("r", "Alice")).unwrap_err();
    assert_refused(&err);
    let err = Room::open(t.clone(), native("r/sub", "Alice")).unwrap_err();
    assert_refused(&err);
    assert_eq!(
        t.size(&p("r/room.ftpchat")).unwrap_err().kind(),
        TransportErrorKind::PermissionDenied
    );
    assert_eq!(
        snapshot(outside.path()),
        before,
        "a file outside was modified"
    );

    // Other rooms in the same folder keep working.
    let ok = Room::open(t.clone(), native("ok", "Alice")).unwrap();
    ok.send("fine").unwrap();
    ok.sync().unwrap();
    assert_eq!(history(&ok), ["fine"]);
    assert_eq!(snapshot(outside.path()), before);
}
