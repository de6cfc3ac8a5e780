//! The local store through the public API only: what an application (or the room, later)
//! does with it. The store's own unit tests (`src/store/tests.rs`) cover the details.

#![allow(clippy::unwrap_used)]

use ftpchat_core::codec::{Hlc, SortKey, Timeline, WriterId};
use ftpchat_core::{Codec, LocalStore, Message, MessageId, MessageStatus, StoreError};

const ROOM: &str = "ftp://chat.example/rooms/lobby";

fn message(i: u64, text: &str) -> (SortKey, Message) {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&i.to_be_bytes());
    let id = MessageId(id);
    let key = SortKey::Native {
        hlc: Hlc::new(1_780_000_000_000 + i * 1000, 0),
        writer: WriterId([(i % 3) as u8; 16]),
        seq: i,
        id,
    };
    let mut m = Message::new(id, format!("user{}", i % 3), text, Codec::Native);
    m.timestamp_ms = Some(1_780_000_000_000 + i * 1000);
    (key, m)
}

#[test]
fn a_room_reopens_on_its_newest_page_and_pages_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let all: Vec<_> = (0..500)
        .map(|i| message(i, &format!("message {i} about lunch")))
        .collect();
    let store = LocalStore::open(&path).unwrap();
    for chunk in all.chunks(64) {
        store.put_messages(ROOM, chunk).unwrap();
    }
    store.close().unwrap();

    let store = LocalStore::open(&path).unwrap();
    let mut timeline = Timeline::new();
    for (k, m) in &all {
        timeline.insert(*k, m.clone());
    }
    let newest = store.page(ROOM, None, 50).unwrap();
    assert_eq!(newest, timeline.page(None, 50));
    assert_eq!(newest.last().unwrap().text, "message 499 about lunch");
    let older = store.page(ROOM, Some(&newest[0].id), 50).unwrap();
    assert_eq!(older, timeline.page(Some(&newest[0].id), 50));
    assert_eq!(store.count(ROOM).unwrap(), 500);

    let hits = store.search(ROOM, "LUNCH", None, 20).unwrap();
    assert_eq!(hits.len(), 20);
    assert_eq!(hits[0].text, "message 499 about lunch", "newest first");
    let next = store.search(ROOM, "lunch", Some(&hits[19].id), 20).unwrap();
    assert_eq!(next[0].text, "message 479 about lunch");
    assert!(store.search(ROOM, "\"lunch\" NEAR(* -x", None, 20).is_ok());
}

#[test]
fn a_pending_message_is_confirmed_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("s.sqlite")).unwrap();
    let (key, mut m) = message(1, "hello");
    m.status = MessageStatus::Pending;
    m.is_own = true;
    store.put_messages(ROOM, &[(key, m.clone())]).unwrap();
    m.status = MessageStatus::Confirmed;
    store.put_messages(ROOM, &[(key, m.clone())]).unwrap();
    assert_eq!(store.get(ROOM, &m.id).unwrap(), Some(m));
    assert_eq!(store.count(ROOM).unwrap(), 1);
}

#[test]
fn damaged_and_newer_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
    let err = LocalStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(!err.is_transient());
    LocalStore::remove(&path).unwrap();
    let store = LocalStore::open(&path).unwrap();
    store.put_messages(ROOM, &[message(1, "x")]).unwrap();
    store.close().unwrap();

    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 1000).unwrap();
    drop(conn);
    let err = LocalStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::Newer { version: 1000, .. }),
        "{err:?}"
    );
}
