//! The bindings' API from Rust (what Kotlin and Swift call, without the FFI): error
//! mapping, no secrets in errors, subscriptions, sync_once, carried-over results.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftpchat_ffi::{
    describe_location, validate_room_path, ChatError, ChatEvent, ChatListener, ChatMessage,
    ChatRoom, MessageCodec, MessageStatus, RoomLayout, RoomOptions, TransportFailure,
};

const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(20);

fn options(room: &str, name: &str) -> RoomOptions {
    RoomOptions {
        room: room.into(),
        display_name: name.into(),
        layout: RoomLayout::Native,
        create: true,
        state_dir: None,
        ca_pem: None,
        native_iterations: Some(1_000),
        compat_salt: None,
        compat_iterations: None,
        lock: false,
    }
}

fn memory(label: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "memory://ffi-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn open(location: &str, name: &str) -> Arc<ChatRoom> {
    ChatRoom::new(
        location.into(),
        Some(PASSWORD.into()),
        options("room", name),
    )
    .unwrap()
}

/// Forwards what a subscription delivers to channels.
struct Forward {
    messages: Mutex<Sender<ChatMessage>>,
    confirmed: Mutex<Sender<String>>,
}

fn listener() -> (Box<Forward>, Receiver<ChatMessage>, Receiver<String>) {
    let (m_tx, m_rx) = mpsc::channel();
    let (c_tx, c_rx) = mpsc::channel();
    (
        Box::new(Forward {
            messages: Mutex::new(m_tx),
            confirmed: Mutex::new(c_tx),
        }),
        m_rx,
        c_rx,
    )
}

impl ChatListener for Forward {
    fn on_messages(&self, messages: Vec<ChatMessage>) -> Result<(), ChatError> {
        for m in messages {
            let _ = self.messages.lock().unwrap().send(m);
        }
        Ok(())
    }
    fn on_confirmed(&self, ids: Vec<String>) -> Result<(), ChatError> {
        for id in ids {
            let _ = self.confirmed.lock().unwrap().send(id);
        }
        Ok(())
    }
    fn on_event(&self, _event: ChatEvent) -> Result<(), ChatError> {
        Ok(())
    }
    fn on_error(&self, _error: ChatError) -> Result<(), ChatError> {
        Ok(())
    }
}

#[test]
fn send_sync_and_listen() {
    let location = memory("basic");
    let alice = open(&location, "Alice");
    let bob = open(&location, "Bob");
    let (l, messages, confirmed) = listener();
    let sub = bob.watch(l, 10, 100).unwrap();

    let id = alice.send("hello".into()).unwrap();
    assert_eq!(alice.outbox_len().unwrap(), 1);
    assert_eq!(
        alice.message(id.clone()).unwrap().unwrap().status,
        MessageStatus::Pending
    );
    assert_eq!(alice.sync().unwrap().confirmed, vec![id.clone()]);
    let m = messages.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (m.id.as_str(), m.sender.as_str(), m.text.as_str()),
        (id.as_str(), "Alice", "hello")
    );
    assert!(!m.is_own && m.codec == MessageCodec::Native && m.timestamp_ms.is_some());

    let own = bob.send("hi".into()).unwrap();
    assert_eq!(confirmed.recv_timeout(WAIT).unwrap(), own);
    assert_eq!(alice.sync().unwrap().messages[0].text, "hi");
    let page = alice.history(None, 10).unwrap();
    assert_eq!(
        page.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        ["hello", "hi"]
    );

    // After cancel no callback; what the stopped watcher read comes with the next sync.
    sub.cancel();
    assert!(!sub.is_active());
    alice.send("later".into()).unwrap();
    alice.sync().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(messages.try_recv().is_err());
    let texts: Vec<_> = bob
        .sync()
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["later"]);
}

#[test]
fn sync_once_keeps_its_deadline_and_loses_nothing() {
    let location = memory("once");
    let alice = open(&location, "Alice");
    let bob = open(&location, "Bob");
    alice.send("one".into()).unwrap();

    let start = Instant::now();
    let r = alice.sync_once(0).unwrap();
    assert!(!r.completed && r.outbox_len == 1, "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(2));

    let r = alice.sync_once(20_000).unwrap();
    assert!(r.completed && r.outbox_len == 0, "{r:?}");
    assert_eq!(r.update.confirmed.len(), 1);
    let r = bob.sync_once(20_000).unwrap();
    assert!(r.completed);
    assert_eq!(r.update.messages[0].text, "one");
}

#[test]
fn shutdown_and_drop_stop_everything() {
    let location = memory("shutdown");
    let room = open(&location, "Alice");
    let (l, _m, _c) = listener();
    let sub = room.watch(l, 10, 100).unwrap();
    room.shutdown();
    assert!(room.is_shut_down() && !sub.is_active());
    assert!(matches!(
        room.send("x".into()),
        Err(ChatError::Closed { .. })
    ));
    assert!(matches!(room.sync(), Err(ChatError::Closed { .. })));
    assert!(!room.describe().is_empty());

    let room = open(&location, "Alice");
    let (l, _m, _c) = listener();
    let sub = room.watch(l, 10, 100).unwrap();
    drop(room);
    assert!(!sub.is_active());
}

#[test]
fn errors_map_to_variants_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap().to_owned();
    drop(ChatRoom::new(folder.clone(), Some(PASSWORD.into()), options("r", "A")).unwrap());

    let wrong = "wrong-password-31337";
    let e = ChatRoom::new(folder.clone(), Some(wrong.into()), options("r", "A")).unwrap_err();
    assert!(matches!(e, ChatError::WrongPassword { .. }), "{e:?}");
    assert!(!format!("{e:?} {e}").contains(wrong));

    let e = ChatRoom::new(
        folder.clone(),
        Some(PASSWORD.into()),
        options("a\r\nb", "A"),
    )
    .unwrap_err();
    assert!(matches!(e, ChatError::InvalidPath { .. }), "{e:?}");
    assert!(matches!(
        validate_room_path("x\ny".into()),
        Err(ChatError::InvalidPath { .. })
    ));
    validate_room_path("rooms/lobby".into()).unwrap();

    let e = ChatRoom::new(
        "ftp://u:url-secret-1@127.0.0.1:9/a%0D%0Ab".into(),
        Some(PASSWORD.into()),
        options("r", "A"),
    )
    .unwrap_err();
    assert!(matches!(e, ChatError::InvalidPath { .. }), "{e:?}");
    assert!(!format!("{e:?}").contains("url-secret-1"));

    let e = ChatRoom::new(
        "ftp://u:url-secret-2@127.0.0.1:1/chat".into(),
        Some(PASSWORD.into()),
        options("r", "A"),
    )
    .unwrap_err();
    assert!(matches!(e, ChatError::Transport { .. }), "{e:?}");
    assert!(!format!("{e:?}").contains("url-secret-2") && !format!("{e:?}").contains(PASSWORD));

    let e = ChatRoom::new(
        "gopher://x".into(),
        Some(PASSWORD.into()),
        options("r", "A"),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ChatError::Transport {
                kind: TransportFailure::Unsupported,
                transient: false,
                ..
            }
        ),
        "{e:?}"
    );

    let mut missing = options("absent", "A");
    missing.create = false;
    let e = ChatRoom::new(folder.clone(), Some(PASSWORD.into()), missing).unwrap_err();
    assert!(matches!(e, ChatError::NotFound { .. }), "{e:?}");

    let e = ChatRoom::new(folder.clone(), None, options("r", "A")).unwrap_err();
    assert!(matches!(e, ChatError::InvalidConfig { .. }), "{e:?}");

    let room = ChatRoom::new(folder, Some(PASSWORD.into()), options("r", "A")).unwrap();
    let e = room.send("x".repeat(70_000)).unwrap_err();
    assert!(matches!(e, ChatError::MessageTooLarge { .. }), "{e:?}");
    assert!(matches!(
        room.history(Some("zz".into()), 1),
        Err(ChatError::InvalidArgument { .. })
    ));
    let (l, _m, _c) = listener();
    assert!(matches!(
        room.watch(l, 5, 100),
        Err(ChatError::InvalidArgument { .. })
    ));

    let shown = describe_location("ftps://a:loc-secret@example.invalid/chat".into()).unwrap();
    assert!(shown.contains("example.invalid") && !shown.contains("loc-secret"));
}

#[test]
fn huge_budget_is_no_budget() {
    let room = open(&memory("huge"), "Alice");
    room.send("x".into()).unwrap();
    let r = room.sync_once(u64::MAX).unwrap();
    assert!(r.completed && r.outbox_len == 0, "{r:?}");
}
