//! The bindings' API from Rust (what Kotlin and Swift call, without the FFI): error
//! mapping, no secrets in errors, subscriptions, sync_once, carried-over results, FTPChat
//! 1.5/1.6/1.7 shared files (the real clients' chat file, wrong passwords, keyless lines,
//! held outboxes), edits, deletes and reactions (a forged edit reported as refused),
//! in member rooms private messages, blocking, presence and seen receipts, and
//! attachments (progress, cancel, the size limit).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftpchat_ffi::{
    describe_location, validate_room_path, ChatAttachment, ChatError, ChatEvent, ChatListener,
    ChatMessage, ChatReaction, ChatRoom, ChatTransfer, ChatUpdate, Identity, MemberRole,
    MessageCodec, MessageStatus, PresenceState, RoomLayout, RoomOptions, S3Credentials, SeenBy,
    StoreOptions, Subscription, TransferListener, TransportFailure, UpdateStream,
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
        show_unauthenticated: false,
        lock: false,
        accept_changed_header: false,
        presence: true,
        read_receipts: true,
        max_attachment_size: None,
        store: None,
    }
}

fn shared(file: &str, name: &str, layout: RoomLayout) -> RoomOptions {
    RoomOptions {
        layout,
        native_iterations: None,
        ..options(file, name)
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
    errors: Mutex<Option<Sender<ChatError>>>,
    changed: Mutex<Option<Sender<ChatMessage>>>,
}

fn listener() -> (Box<Forward>, Receiver<ChatMessage>, Receiver<String>) {
    let (m_tx, m_rx) = mpsc::channel();
    let (c_tx, c_rx) = mpsc::channel();
    (
        Box::new(Forward {
            messages: Mutex::new(m_tx),
            confirmed: Mutex::new(c_tx),
            errors: Mutex::new(None),
            changed: Mutex::new(None),
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
    fn on_changed(&self, messages: Vec<ChatMessage>) -> Result<(), ChatError> {
        if let Some(tx) = &*self.changed.lock().unwrap() {
            for m in messages {
                let _ = tx.send(m);
            }
        }
        Ok(())
    }
    fn on_event(&self, _event: ChatEvent) -> Result<(), ChatError> {
        Ok(())
    }
    fn on_error(&self, error: ChatError) -> Result<(), ChatError> {
        if let Some(tx) = &*self.errors.lock().unwrap() {
            let _ = tx.send(error);
        }
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

// --- FTPChat shared files -----------------------------------------------------------------

/// The password of the real clients' chat file (`ftpchat-1.6-1.7-chat.expected.json`).
const REAL_PASSWORD: &str = "correct horse";

fn testdata(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ftpchat-core/tests/testdata")
        .join(name)
}

/// The lines of a chat file (without their LF).
fn file_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The value of every `"key": "..."` string in a small JSON file, in order (JSON escapes
/// `\n`, `\"`, `\\` undone; the expected file has no others).
fn json_strings(json: &str, key: &str) -> Vec<String> {
    let pattern = format!("\"{key}\": \"");
    let mut out = Vec::new();
    let mut rest = json;
    while let Some(start) = rest.find(&pattern) {
        rest = &rest[start + pattern.len()..];
        let mut value = String::new();
        let mut chars = rest.char_indices();
        loop {
            let (i, c) = chars.next().expect("unterminated JSON string");
            match c {
                '"' => {
                    rest = &rest[i + 1..];
                    break;
                }
                '\\' => match chars.next().unwrap().1 {
                    'n' => value.push('\n'),
                    other @ ('"' | '\\' | '/') => value.push(other),
                    other => panic!("unexpected escape \\{other}"),
                },
                c => value.push(c),
            }
        }
        out.push(value);
    }
    out
}

#[test]
fn a_17_shared_file_between_two_binding_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap().to_owned();
    let opts = |name: &str| shared("chat.txt", name, RoomLayout::SharedFile17);
    let alice = ChatRoom::new(folder.clone(), Some(PASSWORD.into()), opts("Alice")).unwrap();
    let bob = ChatRoom::new(folder.clone(), Some(PASSWORD.into()), opts("Bob")).unwrap();

    // 1.7 strips trailing white space; the sender's own copy shows what readers get.
    let id = alice.send("hello in 1.7  \n".into()).unwrap();
    assert_eq!(
        alice.message(id.clone()).unwrap().unwrap().text,
        "hello in 1.7"
    );
    assert_eq!(alice.sync().unwrap().confirmed, vec![id.clone()]);
    let m = bob.sync().unwrap().messages;
    assert_eq!(m.len(), 1, "{m:?}");
    let m = &m[0];
    assert_eq!(
        (m.id.as_str(), m.sender.as_str(), m.text.as_str()),
        (id.as_str(), "Alice", "hello in 1.7")
    );
    assert_eq!(m.codec, MessageCodec::Fernet17);
    assert!(!m.is_own && m.status == MessageStatus::Confirmed);
    assert!(
        m.local_time.as_deref().is_some_and(|t| t.len() == 16),
        "{m:?}"
    );

    bob.send("two\nlines".into()).unwrap();
    bob.sync().unwrap();
    let m = alice.sync().unwrap().messages;
    assert_eq!(
        (m[0].sender.as_str(), m[0].text.as_str()),
        ("Bob", "two\nlines")
    );

    // On disk: one raw Fernet token per line, as the FTPChat 1.7 client writes.
    let lines = file_lines(&dir.path().join("chat.txt"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("gAAAAA")), "{lines:?}");

    // A 1.6 room writes the 1.6 client's line (the token base64-encoded again) into the
    // same file, and both rooms read every line shape.
    let carol = ChatRoom::new(
        folder,
        Some(PASSWORD.into()),
        shared("chat.txt", "Carol", RoomLayout::SharedFile16),
    )
    .unwrap();
    let seen = carol.sync().unwrap().messages;
    assert_eq!(seen.len(), 2);
    carol.send("from 1.6".into()).unwrap();
    carol.sync().unwrap();
    let m = alice.sync().unwrap().messages;
    assert_eq!(
        (m[0].text.as_str(), m[0].codec),
        ("from 1.6", MessageCodec::Fernet16)
    );
    let lines = file_lines(&dir.path().join("chat.txt"));
    assert!(lines[2].starts_with("Z0FBQUFB"), "{lines:?}");
}

#[test]
fn the_real_clients_chat_file_opens_with_only_the_password() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        testdata("ftpchat-1.6-1.7-chat.txt"),
        dir.path().join("chat.txt"),
    )
    .unwrap();
    let expected = std::fs::read_to_string(testdata("ftpchat-1.6-1.7-chat.expected.json")).unwrap();
    assert_eq!(json_strings(&expected, "password"), [REAL_PASSWORD]);
    let clients = json_strings(&expected, "client");
    let senders = json_strings(&expected, "sender");
    let plaintexts = json_strings(&expected, "plaintext");
    assert_eq!(clients.len(), 6);

    // Nothing but the password: the salt and iterations default to the clients'.
    let room = ChatRoom::new(
        dir.path().to_str().unwrap().into(),
        Some(REAL_PASSWORD.into()),
        shared("chat.txt", "Reader", RoomLayout::SharedFile17),
    )
    .unwrap();
    let update = room.sync().unwrap();
    assert!(update.events.is_empty(), "{:?}", update.events);
    assert_eq!(update.messages.len(), 6, "{:?}", update.messages);
    for (i, m) in update.messages.iter().enumerate() {
        // "YYYY-MM-DD HH:MM:sender: text"; 1.6's trailing "\n" (from its Tk text box) is
        // not shown.
        let (time, rest) = plaintexts[i].split_at(16);
        let text = rest
            .strip_prefix(&format!(":{}: ", senders[i]))
            .unwrap_or_else(|| panic!("{:?}", plaintexts[i]));
        let text = text.strip_suffix('\n').unwrap_or(text);
        assert_eq!(m.sender, senders[i]);
        assert_eq!(m.text, text);
        assert_eq!(m.local_time.as_deref(), Some(time));
        let codec = match clients[i].as_str() {
            "1.6" => MessageCodec::Fernet16,
            "1.7" => MessageCodec::Fernet17,
            other => panic!("client {other}"),
        };
        assert_eq!(m.codec, codec, "{m:?}");
    }

    // An answer goes in as a 1.7 line after the clients' lines.
    room.send("ftpchat was here".into()).unwrap();
    room.sync().unwrap();
    let lines = file_lines(&dir.path().join("chat.txt"));
    assert_eq!(lines.len(), 7);
    assert!(lines[6].starts_with("gAAAAA"));
}

#[test]
fn a_wrong_password_in_a_shared_file_is_a_typed_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let chat = dir.path().join("chat.txt");
    std::fs::copy(testdata("ftpchat-1.6-1.7-chat.txt"), &chat).unwrap();
    let before = std::fs::read(&chat).unwrap();
    let wrong = "wrong-horse-8086";
    let eve = ChatRoom::new(
        dir.path().to_str().unwrap().into(),
        Some(wrong.into()),
        shared("chat.txt", "Eve", RoomLayout::SharedFile17),
    )
    .unwrap();
    eve.send("must not be written".into()).unwrap();
    for e in [eve.sync().unwrap_err(), eve.flush().unwrap_err()] {
        assert!(matches!(e, ChatError::WrongPassword { .. }), "{e:?}");
        assert!(!format!("{e:?} {e}").contains(wrong));
    }
    let r = eve.sync_once(20_000);
    assert!(matches!(r, Err(ChatError::WrongPassword { .. })), "{r:?}");
    assert_eq!(std::fs::read(&chat).unwrap(), before, "nothing is written");
    assert_eq!(eve.outbox_len().unwrap(), 1, "the message is kept");

    // A subscription reports it as an error.
    let (l, _m, _c) = listener();
    let (e_tx, e_rx) = mpsc::channel();
    *l.errors.lock().unwrap() = Some(e_tx);
    let sub = eve.watch(l, 10, 100).unwrap();
    let e = e_rx.recv_timeout(WAIT).unwrap();
    assert!(matches!(e, ChatError::WrongPassword { .. }), "{e:?}");
    sub.cancel();
    assert_eq!(std::fs::read(&chat).unwrap(), before);

    // A room that writes 1.5 only reads: there the bad lines are one event.
    let reader = ChatRoom::new(
        dir.path().to_str().unwrap().into(),
        Some(wrong.into()),
        shared("chat.txt", "Eve", RoomLayout::SharedFile15),
    )
    .unwrap();
    let u = reader.sync().unwrap();
    assert!(u.messages.is_empty(), "{u:?}");
    assert_eq!(u.events, [ChatEvent::WrongPassword { failed_lines: 6 }]);
}

#[test]
fn keyless_lines_in_a_keyed_file_are_reported_unless_shown() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap().to_owned();
    let old = ChatRoom::new(
        folder.clone(),
        None,
        shared("chat.txt", "Mallory", RoomLayout::SharedFile15),
    )
    .unwrap();
    old.send("keyless".into()).unwrap();
    old.sync().unwrap();
    let alice = ChatRoom::new(
        folder.clone(),
        Some(PASSWORD.into()),
        shared("chat.txt", "Alice", RoomLayout::SharedFile17),
    )
    .unwrap();
    alice.send("keyed".into()).unwrap();
    alice.sync().unwrap();
    // A torn 1.6 line, for the likely cause of an undecodable line.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("chat.txt"))
        .unwrap();
    std::io::Write::write_all(&mut file, b"Z0FBQUFBQnJ!\n").unwrap();
    drop(file);

    let bob = ChatRoom::new(
        folder.clone(),
        Some(PASSWORD.into()),
        shared("chat.txt", "Bob", RoomLayout::SharedFile17),
    )
    .unwrap();
    let u = bob.sync().unwrap();
    assert_eq!(
        u.messages
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>(),
        ["keyed"]
    );
    assert_eq!(u.events.len(), 2, "{:?}", u.events);
    assert_eq!(
        u.events[0],
        ChatEvent::UnauthenticatedLine {
            file: "chat.txt".into(),
            offset: 0
        }
    );
    match &u.events[1] {
        ChatEvent::UndecodableLine {
            file,
            codec,
            reason,
            ..
        } => {
            assert_eq!(file, "chat.txt");
            assert_eq!(*codec, Some(MessageCodec::Fernet16));
            assert!(
                reason.contains("FTPChat 1.6") && reason.contains("malformed"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }

    let mut show = shared("chat.txt", "Carol", RoomLayout::SharedFile17);
    show.show_unauthenticated = true;
    let carol = ChatRoom::new(folder, Some(PASSWORD.into()), show).unwrap();
    let u = carol.sync().unwrap();
    let seen: Vec<_> = u
        .messages
        .iter()
        .map(|m| (m.sender.as_str(), m.text.as_str(), m.codec))
        .collect();
    assert_eq!(
        seen,
        [
            ("Mallory", "keyless", MessageCodec::Legacy15),
            ("Alice", "keyed", MessageCodec::Fernet17)
        ]
    );
}

#[test]
fn an_outbox_saved_under_another_password_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap().to_owned();
    let opts = || RoomOptions {
        state_dir: Some(state.path().to_str().unwrap().into()),
        ..shared("sub/chat.txt", "Alice", RoomLayout::SharedFile17)
    };
    // The chat file's folder does not exist yet: the message stays in the saved outbox.
    let first = ChatRoom::new(folder.clone(), Some(PASSWORD.into()), opts()).unwrap();
    first
        .send("written under the first password".into())
        .unwrap();
    assert!(first.sync().is_err());
    first.shutdown();

    let other = ChatRoom::new(folder.clone(), Some("another password".into()), opts()).unwrap();
    assert_eq!(other.outbox_len().unwrap(), 0);
    let u = other.sync().unwrap();
    assert_eq!(u.events, [ChatEvent::OutboxHeld { messages: 1 }]);
    other.shutdown();

    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let again = ChatRoom::new(folder, Some(PASSWORD.into()), opts()).unwrap();
    assert_eq!(again.outbox_len().unwrap(), 1);
    assert_eq!(again.sync().unwrap().confirmed.len(), 1);
    let lines = file_lines(&dir.path().join("sub/chat.txt"));
    assert_eq!(lines.len(), 1);
}

#[test]
fn shared_file_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap().to_owned();
    for layout in [RoomLayout::SharedFile16, RoomLayout::SharedFile17] {
        let e = ChatRoom::new(folder.clone(), None, shared("c.txt", "A", layout)).unwrap_err();
        assert!(matches!(e, ChatError::InvalidConfig { .. }), "{e:?}");
        let mut bad = shared("c.txt", "A", layout);
        bad.compat_iterations = Some(0);
        let e = ChatRoom::new(folder.clone(), Some(PASSWORD.into()), bad).unwrap_err();
        assert!(matches!(e, ChatError::InvalidConfig { .. }), "{e:?}");
    }

    // Other KDF values (e.g. files of ftpchat's earlier "1.6" layout, salt `ftpchat`): the
    // room opens only with the same values.
    let mut custom = shared("c.txt", "A", RoomLayout::SharedFile17);
    custom.compat_salt = Some(b"ftpchat".to_vec());
    custom.compat_iterations = Some(1_000);
    let a = ChatRoom::new(folder.clone(), Some(PASSWORD.into()), custom.clone()).unwrap();
    a.send("custom kdf".into()).unwrap();
    a.sync().unwrap();
    custom.display_name = "B".into();
    let b = ChatRoom::new(folder.clone(), Some(PASSWORD.into()), custom).unwrap();
    assert_eq!(b.sync().unwrap().messages[0].text, "custom kdf");
    let default = ChatRoom::new(
        folder,
        Some(PASSWORD.into()),
        shared("c.txt", "C", RoomLayout::SharedFile17),
    )
    .unwrap();
    assert!(matches!(
        default.sync(),
        Err(ChatError::WrongPassword { .. })
    ));
}

// --- what the core gives the bindings (issue 13) ------------------------------------------

#[test]
fn a_lock_on_a_native_room_is_refused_and_locktimeout_is_transient() {
    let mut o = options("room", "A");
    o.lock = true;
    let e = ChatRoom::new(memory("lock"), Some(PASSWORD.into()), o).unwrap_err();
    assert!(
        matches!(
            e,
            ChatError::InvalidConfig {
                transient: false,
                ..
            }
        ),
        "{e:?}"
    );
    let e = ChatError::from(ftpchat_core::RoomError::LockTimeout);
    assert!(matches!(
        e,
        ChatError::LockTimeout {
            transient: true,
            ..
        }
    ));
    assert!(e.is_transient());
}

#[test]
fn a_changed_header_is_refused_unless_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("server");
    std::fs::create_dir(&folder).unwrap();
    let folder = folder.to_str().unwrap().to_owned();
    let state = dir.path().join("state").to_str().unwrap().to_owned();
    let with_state = |accept: bool| RoomOptions {
        state_dir: Some(state.clone()),
        accept_changed_header: accept,
        ..options("r", "A")
    };
    ChatRoom::new(folder.clone(), Some(PASSWORD.into()), with_state(false))
        .unwrap()
        .shutdown();
    std::fs::remove_dir_all(dir.path().join("server/r")).unwrap();
    drop(ChatRoom::new(folder.clone(), Some(PASSWORD.into()), options("r", "B")).unwrap());
    let e = ChatRoom::new(folder.clone(), Some(PASSWORD.into()), with_state(false)).unwrap_err();
    assert!(matches!(e, ChatError::HeaderChanged { .. }), "{e:?}");
    ChatRoom::new(folder, Some(PASSWORD.into()), with_state(true)).unwrap();
}

#[test]
fn cancel_and_stop_inside_a_callback_return_and_nothing_is_lost() {
    struct CancelInside {
        sub: Arc<std::sync::Mutex<Option<Arc<Subscription>>>>,
        done: std::sync::Mutex<std::sync::mpsc::Sender<Duration>>,
    }
    impl ChatListener for CancelInside {
        fn on_messages(&self, _m: Vec<ChatMessage>) -> Result<(), ChatError> {
            let sub = loop {
                if let Some(s) = self.sub.lock().unwrap().clone() {
                    break s;
                }
                std::thread::yield_now();
            };
            let start = Instant::now();
            sub.cancel();
            sub.stop();
            let _ = self.done.lock().unwrap().send(start.elapsed());
            Ok(())
        }
        fn on_confirmed(&self, _ids: Vec<String>) -> Result<(), ChatError> {
            Ok(())
        }
        fn on_changed(&self, _m: Vec<ChatMessage>) -> Result<(), ChatError> {
            Ok(())
        }
        fn on_event(&self, _e: ChatEvent) -> Result<(), ChatError> {
            Ok(())
        }
        fn on_error(&self, _e: ChatError) -> Result<(), ChatError> {
            Ok(())
        }
    }
    let location = memory("cancel-inside");
    let alice = open(&location, "Alice");
    let bob = open(&location, "Bob");
    alice.send("first".into()).unwrap();
    alice.sync().unwrap();
    let slot = Arc::new(std::sync::Mutex::new(None));
    let (tx, rx) = std::sync::mpsc::channel();
    let sub = bob
        .watch(
            Box::new(CancelInside {
                sub: slot.clone(),
                done: std::sync::Mutex::new(tx),
            }),
            10,
            50,
        )
        .unwrap();
    *slot.lock().unwrap() = Some(sub.clone());
    let took = rx.recv_timeout(WAIT).unwrap();
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(!sub.is_active());
    alice.send("second".into()).unwrap();
    alice.sync().unwrap();
    let texts: Vec<_> = bob
        .sync()
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["second"]);
}

#[test]
fn a_dropped_async_sync_gives_its_update_to_the_next_sync() {
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let location = memory("dropped-async");
    let alice = open(&location, "Alice");
    let bob = open(&location, "Bob");
    alice.send("keep me".into()).unwrap();
    alice.sync().unwrap();
    let mut texts = Vec::new();
    {
        let mut f = Box::pin(bob.clone().sync_async());
        let waker = Waker::from(Arc::new(Noop));
        // Polled once (the sync starts), then dropped like a cancelled coroutine. (Should
        // the sync have finished within that first poll, its update is simply returned.)
        if let Poll::Ready(r) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
            texts.extend(r.unwrap().messages.into_iter().map(|m| m.text));
        }
    }
    let deadline = Instant::now() + WAIT;
    while texts.is_empty() && Instant::now() < deadline {
        texts.extend(bob.sync().unwrap().messages.into_iter().map(|m| m.text));
    }
    assert_eq!(texts, ["keep me"]);
    assert!(bob.sync().unwrap().messages.is_empty());
}

fn folder_room(folder: &std::path::Path, name: &str) -> Arc<ChatRoom> {
    ChatRoom::new(
        folder.to_str().unwrap().into(),
        Some(PASSWORD.into()),
        options("room", name),
    )
    .unwrap()
}

#[test]
fn edits_deletes_and_reactions_reach_the_other_room_and_its_listener() {
    let folder = tempfile::tempdir().unwrap();
    let alice = folder_room(folder.path(), "Alice");
    let bob = folder_room(folder.path(), "Bob");
    let id = alice.send("helo".into()).unwrap();
    alice.sync().unwrap();
    let first = bob.sync().unwrap().messages;
    assert_eq!(first.len(), 1);
    assert!(!first[0].edited && !first[0].deleted && first[0].reactions.is_empty());

    // The author edits: her timeline at once, Bob's listener once it reads the edit.
    let (l, _messages, _confirmed) = listener();
    let (changed_tx, changed) = mpsc::channel();
    *l.changed.lock().unwrap() = Some(changed_tx);
    let sub = bob.watch(l, 10, 100).unwrap();
    let edit = alice.edit(id.clone(), "hello".into()).unwrap();
    assert!(edit.len() == 32 && edit != id, "{edit}");
    let mine = alice.message(id.clone()).unwrap().unwrap();
    assert!(mine.edited && mine.text == "hello", "{mine:?}");
    alice.sync().unwrap();
    let m = changed.recv_timeout(WAIT).unwrap();
    assert_eq!((m.id.as_str(), m.text.as_str()), (id.as_str(), "hello"));
    assert!(m.edited && !m.deleted, "{m:?}");
    sub.stop();

    // Any member reacts; the update's `changed` carries the message as it is now.
    bob.react(id.clone(), "👍".into()).unwrap();
    bob.sync().unwrap();
    let update = alice.sync().unwrap();
    assert!(
        update.messages.is_empty() && !update.is_empty(),
        "{update:?}"
    );
    assert_eq!(update.changed.len(), 1, "{update:?}");
    assert_eq!(
        update.changed[0].reactions,
        [ChatReaction {
            reaction: "👍".into(),
            senders: vec!["Bob".into()],
            own: false,
        }]
    );
    bob.react(id.clone(), String::new()).unwrap();
    assert!(bob
        .message(id.clone())
        .unwrap()
        .unwrap()
        .reactions
        .is_empty());

    // Refusals, each its own variant; nothing is queued.
    let outbox = bob.outbox_len().unwrap();
    let e = bob.edit(id.clone(), "pwned".into()).unwrap_err();
    assert!(
        matches!(
            e,
            ChatError::NotAllowed {
                transient: false,
                ..
            }
        ),
        "{e:?}"
    );
    let e = bob.delete(id.clone()).unwrap_err();
    assert!(matches!(e, ChatError::NotAllowed { .. }), "{e:?}");
    let e = bob.react("07".repeat(16), "👍".into()).unwrap_err();
    assert!(matches!(e, ChatError::UnknownMessage { .. }), "{e:?}");
    let e = bob.edit("not hex".into(), "x".into()).unwrap_err();
    assert!(matches!(e, ChatError::InvalidArgument { .. }), "{e:?}");
    let e = bob.react(id.clone(), "👍".repeat(17)).unwrap_err();
    assert!(matches!(e, ChatError::MessageTooLarge { .. }), "{e:?}");
    assert_eq!(bob.outbox_len().unwrap(), outbox);

    // The author deletes, for good.
    alice.delete(id.clone()).unwrap();
    alice.sync().unwrap();
    let update = bob.sync().unwrap();
    let gone = update.changed.iter().find(|m| m.id == id).unwrap();
    assert!(gone.deleted && !gone.edited && gone.text.is_empty() && gone.reactions.is_empty());
    let e = alice.edit(id.clone(), "back".into()).unwrap_err();
    assert!(matches!(e, ChatError::NotAllowed { .. }), "{e:?}");
    // A newcomer reads the message as it is now.
    let first = folder_room(folder.path(), "Carol").sync().unwrap();
    let shown = first.messages.iter().find(|m| m.id == id).unwrap();
    assert!(shown.deleted && shown.text.is_empty(), "{first:?}");
    assert!(first.changed.is_empty(), "{first:?}");
}

#[test]
fn a_shared_file_refuses_changes_as_unsupported() {
    let location = memory("changes-shared");
    let room = ChatRoom::new(
        location,
        Some(PASSWORD.into()),
        shared("chat.txt", "Carol", RoomLayout::SharedFile17),
    )
    .unwrap();
    let own = room.send("hi".into()).unwrap();
    for e in [
        room.edit(own.clone(), "x".into()).unwrap_err(),
        room.delete(own.clone()).unwrap_err(),
        room.react(own.clone(), "👍".into()).unwrap_err(),
    ] {
        assert!(
            matches!(
                e,
                ChatError::Unsupported {
                    transient: false,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    assert_eq!(room.outbox_len().unwrap(), 1);
}

/// Anyone with the password can write a record into a log of their own (SPEC §13): an
/// edit of Alice's message from another writer is refused by readers and reported.
#[test]
fn a_forged_edit_is_refused_and_reported_as_change_refused() {
    use ftpchat_core::codec::{
        derive_key, Hlc, LineEncoder, NativeRecord, RecordBody, RecordId, RoomHeader, WriterId,
    };
    let folder = tempfile::tempdir().unwrap();
    let alice = folder_room(folder.path(), "Alice");
    let id = alice.send("I owe Mallory nothing".into()).unwrap();
    alice.sync().unwrap();
    let bob = folder_room(folder.path(), "Bob");
    assert_eq!(bob.sync().unwrap().messages.len(), 1);

    let dir = folder.path().join("room");
    let header = RoomHeader::parse(&std::fs::read(dir.join("room.ftpchat")).unwrap()).unwrap();
    let key = derive_key(PASSWORD, &header.kdf);
    let target = ftpchat_core::MessageId::from_hex(&id).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let record = NativeRecord {
        id: RecordId::random(),
        room: header.room_id,
        writer: WriterId::random(),
        seq: 1,
        hlc: Hlc::new(now, 0),
        sender: "Mallory".into(),
        body: RecordBody::Edit {
            target: RecordId(target.0),
            text: "I owe Mallory 1000".into(),
        },
    };
    let line = LineEncoder::new().native(&record, &key);
    let log = dir.join(format!("logs/{}.log", record.writer.to_hex()));
    std::fs::write(log, format!("{line}\n")).unwrap();

    let update = bob.sync().unwrap();
    let refused: Vec<_> = update
        .events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::ChangeRefused {
                change,
                target,
                reason,
            } => Some((change.clone(), target.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{update:?}");
    let (change, refused_target, reason) = &refused[0];
    assert_eq!(
        (change, refused_target),
        (&record.id.to_hex(), &id),
        "{update:?}"
    );
    assert!(reason.contains("author"), "{reason}");
    let m = bob.message(id).unwrap().unwrap();
    assert!(m.text == "I owe Mallory nothing" && !m.edited, "{m:?}");
}

/// Alice (admin) creates a member room in a folder; Bob and Carol join with invitations.
struct Trio {
    alice: Arc<ChatRoom>,
    bob: Arc<ChatRoom>,
    carol: Arc<ChatRoom>,
    alice_id: String,
    bob_id: String,
    carol_id: String,
    _folder: tempfile::TempDir,
}

fn member_options(name: &str) -> RoomOptions {
    RoomOptions {
        native_iterations: None,
        ..options("team", name)
    }
}

fn trio() -> Trio {
    let folder = tempfile::tempdir().unwrap();
    let location = folder.path().to_str().unwrap().to_owned();
    let ids: Vec<Arc<Identity>> = (0..3).map(|_| Identity::generate()).collect();
    let alice =
        ChatRoom::open_member_room(location.clone(), ids[0].clone(), member_options("Alice"))
            .unwrap();
    let join = |identity: &Arc<Identity>, name: &str| {
        let link = alice.invite(MemberRole::Member, location.clone()).unwrap();
        ChatRoom::join(link, identity.clone(), member_options(name), None).unwrap()
    };
    let bob = join(&ids[1], "Bob");
    let carol = join(&ids[2], "Carol");
    for room in [&alice, &bob, &carol, &alice] {
        room.sync().unwrap();
    }
    let members = alice.members().unwrap();
    let id_of = |identity: &Arc<Identity>| {
        let fingerprint = identity.fingerprint();
        members
            .iter()
            .find(|m| m.fingerprints[0] == fingerprint)
            .unwrap()
            .id
            .clone()
    };
    Trio {
        alice_id: id_of(&ids[0]),
        bob_id: id_of(&ids[1]),
        carol_id: id_of(&ids[2]),
        alice,
        bob,
        carol,
        _folder: folder,
    }
}

/// Syncs `room` until `done()`; returns every message read.
fn sync_until(room: &ChatRoom, mut done: impl FnMut(&[ChatMessage]) -> bool) -> Vec<ChatMessage> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while !done(&got) {
        assert!(Instant::now() < deadline, "gave up waiting: {got:?}");
        got.extend(room.sync().unwrap().messages);
    }
    got
}

fn has(messages: &[ChatMessage], text: &str) -> bool {
    messages.iter().any(|m| m.text == text)
}

fn texts(messages: &[ChatMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

#[test]
fn a_private_message_reaches_its_recipient_only() {
    let t = trio();
    let secret = t
        .alice
        .send_private(t.bob_id.clone(), "for Bob only".into())
        .unwrap();
    let mine = t.alice.message(secret.clone()).unwrap().unwrap();
    assert_eq!(mine.private_with.as_deref(), Some(t.bob_id.as_str()));
    t.alice.send("hello everyone".into()).unwrap();
    t.alice.sync().unwrap();
    assert_eq!(
        texts(&t.alice.history(None, 10).unwrap()),
        ["hello everyone"]
    );
    let page = t.alice.private_history(t.bob_id.clone(), None, 10).unwrap();
    assert_eq!(texts(&page), ["for Bob only"]);

    let got = sync_until(&t.bob, |m| {
        has(m, "for Bob only") && has(m, "hello everyone")
    });
    let private: Vec<_> = got.iter().filter(|m| m.private_with.is_some()).collect();
    assert_eq!(private.len(), 1, "{got:?}");
    assert_eq!(private[0].id, secret);
    assert_eq!(
        private[0].private_with.as_deref(),
        Some(t.alice_id.as_str())
    );
    assert!(!private[0].is_own);
    assert_eq!(texts(&t.bob.history(None, 10).unwrap()), ["hello everyone"]);
    let page = t.bob.private_history(t.alice_id.clone(), None, 10).unwrap();
    assert_eq!(texts(&page), ["for Bob only"]);

    // Carol holds the room's keys but reads only the room's message.
    let got = sync_until(&t.carol, |m| has(m, "hello everyone"));
    assert!(!has(&got, "for Bob only"), "{got:?}");
    assert!(t.carol.message(secret).unwrap().is_none());
    assert!(t
        .carol
        .private_history(t.alice_id.clone(), None, 10)
        .unwrap()
        .is_empty());

    // Typed refusals, nothing queued.
    let outbox = t.carol.outbox_len().unwrap();
    let e = t
        .carol
        .send_private("55".repeat(16), "to nobody".into())
        .unwrap_err();
    assert!(
        matches!(
            e,
            ChatError::Membership {
                transient: false,
                ..
            }
        ),
        "{e:?}"
    );
    let e = t.carol.send_private("nope".into(), "x".into()).unwrap_err();
    assert!(matches!(e, ChatError::InvalidArgument { .. }), "{e:?}");
    let e = t
        .carol
        .private_history("nope".into(), None, 10)
        .unwrap_err();
    assert!(matches!(e, ChatError::InvalidArgument { .. }), "{e:?}");
    assert_eq!(t.carol.outbox_len().unwrap(), outbox);
}

#[test]
fn block_hides_a_member_until_unblocked() {
    let t = trio();
    t.carol.send("before the block".into()).unwrap();
    t.carol.sync().unwrap();
    sync_until(&t.bob, |m| has(m, "before the block"));

    assert!(t.bob.blocked().unwrap().is_empty());
    t.bob.block(t.carol_id.clone()).unwrap();
    assert_eq!(t.bob.blocked().unwrap(), vec![t.carol_id.clone()]);
    let e = t.bob.block(t.bob_id.clone()).unwrap_err();
    assert!(matches!(e, ChatError::NotAllowed { .. }), "{e:?}");
    t.bob.sync().unwrap();

    t.carol.send("after the block".into()).unwrap();
    t.carol
        .send_private(t.bob_id.clone(), "psst, Bob".into())
        .unwrap();
    t.carol.sync().unwrap();
    t.alice.send("alice still talks".into()).unwrap();
    t.alice.sync().unwrap();
    let got = sync_until(&t.bob, |m| has(m, "alice still talks"));
    assert!(
        !has(&got, "after the block") && !has(&got, "psst, Bob"),
        "{got:?}"
    );
    let history = t.bob.history(None, 50).unwrap();
    assert!(!has(&history, "before the block") && !has(&history, "after the block"));
    assert!(t
        .bob
        .private_history(t.carol_id.clone(), None, 10)
        .unwrap()
        .is_empty());

    t.bob.unblock(t.carol_id.clone()).unwrap();
    t.bob.sync().unwrap();
    assert!(t.bob.blocked().unwrap().is_empty());
    let history = t.bob.history(None, 50).unwrap();
    assert!(has(&history, "before the block") && has(&history, "after the block"));
    let page = t.bob.private_history(t.carol_id.clone(), None, 10).unwrap();
    assert_eq!(texts(&page), ["psst, Bob"]);
}

#[test]
fn presence_typing_and_seen_by() {
    let t = trio();
    let presence = t.alice.presence().unwrap();
    let mut ids = vec![t.alice_id.clone(), t.bob_id.clone(), t.carol_id.clone()];
    ids.sort();
    assert_eq!(
        presence
            .iter()
            .map(|p| p.member.clone())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(presence
        .iter()
        .all(|p| p.state == PresenceState::Online && !p.typing));
    assert_eq!(presence.iter().filter(|p| p.is_self).count(), 1);
    let of = |room: &ChatRoom, member: &str| {
        room.presence()
            .unwrap()
            .into_iter()
            .find(|p| p.member == member)
            .unwrap()
    };
    let bob = of(&t.alice, &t.bob_id);
    assert_eq!(bob.display_name, "Bob");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        bob.last_seen_ms.is_some() && bob.last_active_ms.is_some(),
        "{bob:?}"
    );
    assert!(bob.seen_within(now, 0));

    // Bob types, Carol goes away then offline: Alice sees it after syncs, with events.
    t.bob.set_typing(true).unwrap();
    t.bob.sync().unwrap();
    t.carol.set_presence(PresenceState::Away).unwrap();
    t.carol.sync().unwrap();
    let deadline = Instant::now() + WAIT;
    let mut events = Vec::new();
    while !(of(&t.alice, &t.bob_id).typing
        && of(&t.alice, &t.carol_id).state == PresenceState::Away)
    {
        assert!(Instant::now() < deadline, "{events:?}");
        events.extend(t.alice.sync().unwrap().events);
    }
    assert!(events.contains(&ChatEvent::PresenceChanged), "{events:?}");
    t.carol.set_presence(PresenceState::Offline).unwrap();
    t.carol.sync().unwrap();
    while of(&t.alice, &t.carol_id).state != PresenceState::Offline {
        assert!(Instant::now() < deadline);
        t.alice.sync().unwrap();
    }
    let carol = of(&t.alice, &t.carol_id);
    assert!(carol.seen_within(now, 3_600_000));
    assert!(!carol.seen_within(now + 7_200_000, 3_600_000));

    // Seen receipts.
    let id = t.alice.send("read me".into()).unwrap();
    t.alice.sync().unwrap();
    sync_until(&t.bob, |m| has(m, "read me"));
    sync_until(&t.carol, |m| has(m, "read me"));
    let unseen = t.alice.seen_by(id.clone()).unwrap();
    assert_eq!(
        unseen,
        SeenBy {
            readers: vec![],
            of: 2
        }
    );
    assert!(t.bob.mark_read(id.clone()).unwrap());
    assert!(!t.bob.mark_read(id.clone()).unwrap(), "only forward");
    t.bob.sync().unwrap();
    while t.alice.seen_by(id.clone()).unwrap().readers != vec![t.bob_id.clone()] {
        assert!(Instant::now() < deadline);
        t.alice.sync().unwrap();
    }
    let e = t.alice.seen_by("07".repeat(16)).unwrap_err();
    assert!(matches!(e, ChatError::UnknownMessage { .. }), "{e:?}");
    let e = t.alice.mark_read("x".into()).unwrap_err();
    assert!(matches!(e, ChatError::InvalidArgument { .. }), "{e:?}");
}

#[test]
fn presence_off_and_password_rooms_are_typed_errors() {
    let folder = tempfile::tempdir().unwrap();
    let location = folder.path().to_str().unwrap().to_owned();
    let off = RoomOptions {
        presence: false,
        ..member_options("Alice")
    };
    let room = ChatRoom::open_member_room(location.clone(), Identity::generate(), off).unwrap();
    let e = room.presence().unwrap_err();
    assert!(matches!(e, ChatError::InvalidConfig { .. }), "{e:?}");
    let e = room.set_typing(true).unwrap_err();
    assert!(matches!(e, ChatError::InvalidConfig { .. }), "{e:?}");

    let room = open(&memory("presence"), "Alice");
    let id = room.send("hi".into()).unwrap();
    let someone = "ab".repeat(16);
    let results = [
        room.send_private(someone.clone(), "x".into()).map(drop),
        room.block(someone.clone()),
        room.unblock(someone.clone()),
        room.presence().map(drop),
        room.set_presence(PresenceState::Away),
        room.set_typing(false),
        room.mark_read(id.clone()).map(drop),
        room.seen_by(id).map(drop),
    ];
    for r in results {
        let e = r.unwrap_err();
        assert!(matches!(e, ChatError::Membership { .. }), "{e:?}");
    }
    assert!(room.blocked().unwrap().is_empty());
    assert!(room.private_history(someone, None, 10).unwrap().is_empty());
    for options in [
        RoomOptions {
            presence: false,
            ..options("room", "A")
        },
        RoomOptions {
            read_receipts: false,
            ..options("room", "A")
        },
    ] {
        let e = ChatRoom::new(memory("presence"), Some(PASSWORD.into()), options).unwrap_err();
        assert!(matches!(e, ChatError::InvalidConfig { .. }), "{e:?}");
    }
}

#[test]
fn private_and_presence_events_map_to_their_variants() {
    use ftpchat_core::RoomEvent;
    let refused = RoomEvent::PrivateRecordRefused {
        record: ftpchat_core::MessageId([0xab; 16]),
        reason: "does not open".into(),
    };
    assert_eq!(
        ChatEvent::from(&refused),
        ChatEvent::PrivateRecordRefused {
            record: "ab".repeat(16),
            reason: "does not open".into()
        }
    );
    assert_eq!(
        ChatEvent::from(&RoomEvent::PresenceChanged),
        ChatEvent::PresenceChanged
    );
}

/// Records progress reports; cancels its transfer once `cancel_at` bytes are done.
struct Progress {
    reports: Mutex<Vec<(u64, u64)>>,
    cancel_at: Option<u64>,
    transfer: Mutex<Option<Arc<ChatTransfer>>>,
}

struct Reporter(Arc<Progress>);

impl TransferListener for Reporter {
    fn on_progress(&self, done: u64, total: u64) -> Result<(), ChatError> {
        let p = &self.0;
        p.reports.lock().unwrap().push((done, total));
        if p.cancel_at.is_some_and(|at| done >= at) {
            if let Some(t) = p.transfer.lock().unwrap().as_ref() {
                t.cancel();
            }
        }
        Ok(())
    }
}

fn progress(cancel_at: Option<u64>) -> (Arc<Progress>, Arc<ChatTransfer>) {
    let p = Arc::new(Progress {
        reports: Mutex::new(Vec::new()),
        cancel_at,
        transfer: Mutex::new(None),
    });
    let t = ChatTransfer::new(Some(Box::new(Reporter(p.clone()))));
    *p.transfer.lock().unwrap() = Some(t.clone());
    (p, t)
}

#[test]
fn attachments_go_both_ways_with_progress_cancel_and_limit() {
    let folder = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let alice = folder_room(folder.path(), "Alice");
    let bob = folder_room(folder.path(), "Bob");
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 777u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let source = files.path().join("report.pdf");
    std::fs::write(&source, &data).unwrap();
    let size = data.len() as u64;

    let (sent, transfer) = progress(None);
    let id = alice
        .send_file(
            source.to_str().unwrap().into(),
            "the report".into(),
            Some(transfer),
        )
        .unwrap();
    let reports = sent.reports.lock().unwrap().clone();
    assert_eq!(reports.first(), Some(&(0, size)), "{reports:?}");
    assert_eq!(reports.last(), Some(&(size, size)), "{reports:?}");
    let expected = ChatAttachment {
        name: "report.pdf".into(),
        size,
        media_type: "application/pdf".into(),
    };
    let mine = alice.message(id.clone()).unwrap().unwrap();
    assert_eq!(mine.attachment.as_ref(), Some(&expected), "{mine:?}");
    assert_eq!(mine.text, "the report");
    alice.sync().unwrap();
    let got = sync_until(&bob, |m| m.iter().any(|m| m.id == id));
    let theirs = got.iter().find(|m| m.id == id).unwrap();
    assert_eq!(theirs.attachment.as_ref(), Some(&expected), "{theirs:?}");

    // Cancelled from the listener: typed error, no target; the next save resumes.
    let target = files.path().join("saved.pdf");
    let (_cancelled, transfer) = progress(Some(1));
    let e = bob
        .save_attachment(
            id.clone(),
            target.to_str().unwrap().into(),
            Some(transfer.clone()),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            ChatError::Cancelled {
                transient: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(transfer.is_cancelled() && !target.exists());
    bob.save_attachment(id.clone(), target.to_str().unwrap().into(), None)
        .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);

    // Errors: a text message, an unknown id, a missing local file, the size limit.
    let text = alice.send("no file".into()).unwrap();
    let e = alice
        .save_attachment(text, target.to_str().unwrap().into(), None)
        .unwrap_err();
    assert!(matches!(e, ChatError::Unsupported { .. }), "{e:?}");
    let e = alice
        .save_attachment("07".repeat(16), target.to_str().unwrap().into(), None)
        .unwrap_err();
    assert!(matches!(e, ChatError::UnknownMessage { .. }), "{e:?}");
    let missing = files.path().join("missing.bin");
    let e = alice
        .send_file(missing.to_str().unwrap().into(), String::new(), None)
        .unwrap_err();
    assert!(matches!(e, ChatError::LocalFile { .. }), "{e:?}");
    let small = ChatRoom::new(
        folder.path().to_str().unwrap().into(),
        Some(PASSWORD.into()),
        RoomOptions {
            max_attachment_size: Some(1024),
            ..options("room", "Carol")
        },
    )
    .unwrap();
    let e = small
        .send_file(source.to_str().unwrap().into(), String::new(), None)
        .unwrap_err();
    assert!(
        matches!(
            e,
            ChatError::FileTooLarge {
                transient: false,
                ..
            }
        ),
        "{e:?}"
    );
    sync_until(&small, |m| m.iter().any(|m| m.id == id));
    let other = files.path().join("other.pdf");
    let e = small
        .save_attachment(id, other.to_str().unwrap().into(), None)
        .unwrap_err();
    assert!(matches!(e, ChatError::FileTooLarge { .. }), "{e:?}");
    assert!(!other.exists());
}

// --- Async calls and the update stream, driven without a runtime ---------------------

/// A tiny executor: polls `future` on this thread, parking between wake-ups; panics when
/// it is not ready within [`WAIT`] (a test never hangs).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the future was not ready within {WAIT:?}");
        std::thread::park_timeout(left);
    }
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    use std::task::{Context, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    future.poll(&mut Context::from_waker(&waker))
}

/// Takes updates from `stream` until `done` holds for what was taken; returns it all.
fn next_until(
    stream: &Arc<UpdateStream>,
    mut done: impl FnMut(&[ChatUpdate]) -> bool,
) -> Vec<ChatUpdate> {
    let mut taken = Vec::new();
    while !done(&taken) {
        let update = block_on(stream.clone().next())
            .unwrap()
            .expect("the stream ended");
        assert!(!update.is_empty(), "next() returned an empty update");
        taken.push(update);
    }
    taken
}

fn texts_in(updates: &[ChatUpdate]) -> Vec<String> {
    updates
        .iter()
        .flat_map(|u| u.messages.iter().map(|m| m.text.clone()))
        .collect()
}

#[test]
fn the_update_stream_delivers_the_other_rooms_messages_and_own_confirmations() {
    let location = memory("stream");
    let alice = open(&location, "Alice");
    let bob = open(&location, "Bob");
    let stream = bob.update_stream(10, 50).unwrap();
    assert!(stream.is_active() && stream.is_running());

    // Nothing yet: next() is pending at once (it never blocks its caller).
    {
        let mut next = std::pin::pin!(stream.clone().next());
        assert!(poll_once(next.as_mut()).is_pending());
    } // dropped like a cancelled coroutine: takes nothing

    alice.send("hello Bob".into()).unwrap();
    alice.sync().unwrap();
    let got = next_until(&stream, |u| texts_in(u).contains(&"hello Bob".to_owned()));
    assert_eq!(texts_in(&got), ["hello Bob"]);
    let m = &got
        .iter()
        .find(|u| !u.messages.is_empty())
        .unwrap()
        .messages[0];
    assert_eq!((m.sender.as_str(), m.is_own), ("Alice", false));

    // Own sends: the stream's watcher delivers them and reports the confirmation.
    let id = bob.send("hi Alice".into()).unwrap();
    next_until(&stream, |u| u.iter().any(|u| u.confirmed.contains(&id)));
    assert_eq!(bob.outbox_len().unwrap(), 0);
    assert_eq!(texts(&alice.sync().unwrap().messages), ["hi Alice"]);
    // Each message went to one consumer: the stream, not a later sync.
    assert!(bob.sync().unwrap().messages.is_empty());
}

#[test]
fn a_cancelled_update_stream_ends_at_once() {
    let bob = open(&memory("stream-cancel"), "Bob");
    let stream = bob.update_stream(10, 20).unwrap();
    // A next() pending on another thread returns None when the stream is cancelled.
    let waiting = {
        let stream = stream.clone();
        std::thread::spawn(move || block_on(stream.next()))
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !waiting.is_finished(),
        "next() returned with nothing to return"
    );
    stream.cancel();
    assert!(waiting.join().unwrap().unwrap().is_none());
    assert!(!stream.is_active());
    assert!(block_on(stream.clone().next()).unwrap().is_none());
    stream.cancel(); // idempotent
    assert!(block_on(stream.clone().next()).unwrap().is_none());
    let deadline = Instant::now() + WAIT;
    while stream.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !stream.is_running(),
        "the watcher's thread is still running"
    );
}

#[test]
fn a_cancelled_update_stream_gives_what_it_did_not_hand_out_back_to_the_room() {
    let location = memory("stream-give-back");
    let alice = open(&location, "Alice");
    let bob = open(&location, "Bob");
    let stream = bob.update_stream(10, 20).unwrap();
    alice.send("unread".into()).unwrap();
    alice.sync().unwrap();
    // The watcher's sync that delivers Bob's message also reads Alice's: once the outbox
    // is empty, both are in the stream's queue, and nobody takes them.
    let own = bob.send("mine".into()).unwrap();
    let deadline = Instant::now() + WAIT;
    while bob.outbox_len().unwrap() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(bob.outbox_len().unwrap(), 0, "the watcher did not sync");
    std::thread::sleep(Duration::from_millis(200));
    stream.cancel();
    assert!(block_on(stream.clone().next()).unwrap().is_none());
    let back = bob.sync().unwrap();
    assert_eq!(texts(&back.messages), ["unread"]);
    assert!(back.confirmed.contains(&own), "{back:?}");
    // Once: the next sync has only what is new.
    alice.send("later".into()).unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["later"]);
}

#[test]
fn a_dropped_update_stream_stops_its_watcher() {
    let location = memory("stream-drop");
    let alice = open(&location, "Alice");
    let bob = open(&location, "Bob");
    let stream = bob.update_stream(10, 20).unwrap();
    drop(stream); // Kotlin close() / garbage collection, Swift deinit
    std::thread::sleep(Duration::from_millis(100));
    alice.send("after drop".into()).unwrap();
    alice.sync().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(texts(&bob.sync().unwrap().messages), ["after drop"]);
}

#[test]
fn the_update_stream_ends_when_the_room_shuts_down() {
    let location = memory("stream-shutdown");
    let bob = open(&location, "Bob");
    let stream = bob.update_stream(10, 50).unwrap();
    let waiting = {
        let stream = stream.clone();
        std::thread::spawn(move || block_on(stream.next()))
    };
    std::thread::sleep(Duration::from_millis(50));
    bob.shutdown();
    assert!(waiting.join().unwrap().unwrap().is_none());
    assert!(!stream.is_active());
    assert!(block_on(stream.clone().next()).unwrap().is_none());
    assert!(matches!(
        bob.update_stream(10, 50),
        Err(ChatError::Closed { .. })
    ));
}

#[test]
fn update_stream_intervals_are_checked() {
    let bob = open(&memory("stream-intervals"), "Bob");
    for (min, max) in [(0, 100), (9, 100), (200, 100), (10, 86_400_001)] {
        let r = bob.update_stream(min, max);
        assert!(
            matches!(r, Err(ChatError::InvalidArgument { .. })),
            "{min} {max}: {r:?}"
        );
    }
}

#[test]
fn the_update_stream_throws_a_failed_sync_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let chat = dir.path().join("chat.txt");
    std::fs::copy(testdata("ftpchat-1.6-1.7-chat.txt"), &chat).unwrap();
    let before = std::fs::read(&chat).unwrap();
    let eve = ChatRoom::new(
        dir.path().to_str().unwrap().into(),
        Some("wrong-horse-8086".into()),
        shared("chat.txt", "Eve", RoomLayout::SharedFile17),
    )
    .unwrap();
    eve.send("must not be written".into()).unwrap();
    let stream = eve.update_stream(10, 20).unwrap();
    let mut errors = 0;
    while errors < 2 {
        match block_on(stream.clone().next()) {
            Err(ChatError::WrongPassword { .. }) => errors += 1,
            Ok(Some(update)) => assert!(update.messages.is_empty(), "{update:?}"),
            other => panic!("{other:?}"),
        }
        assert!(stream.is_active());
    }
    stream.cancel();
    assert_eq!(std::fs::read(&chat).unwrap(), before, "nothing is written");
}

#[test]
fn async_member_calls_run_without_a_runtime() {
    let folder = tempfile::tempdir().unwrap();
    let location = folder.path().to_str().unwrap().to_owned();
    let ids: Vec<Arc<Identity>> = (0..2).map(|_| Identity::generate()).collect();
    let alice = block_on(ChatRoom::open_member_room_async(
        location.clone(),
        ids[0].clone(),
        member_options("Alice"),
    ))
    .unwrap();
    let link = block_on(
        alice
            .clone()
            .invite_async(MemberRole::Member, location.clone()),
    )
    .unwrap();
    assert!(link.starts_with("ftpchat://join?"), "{link}");
    let bad = block_on(ChatRoom::join_async(
        "ftpchat://join?nonsense".into(),
        ids[1].clone(),
        member_options("Bob"),
        None,
    ));
    assert!(
        matches!(bad, Err(ChatError::InvalidInvitation { .. })),
        "{bad:?}"
    );
    let bob = block_on(ChatRoom::join_async(
        link,
        ids[1].clone(),
        member_options("Bob"),
        None,
    ))
    .unwrap();
    block_on(alice.clone().sync_async()).unwrap();
    let members = alice.members().unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    let bob_id = members
        .iter()
        .find(|m| m.fingerprints[0] == ids[1].fingerprint())
        .unwrap()
        .id
        .clone();
    let promoted = block_on(alice.clone().promote_async(bob_id.clone())).unwrap();
    let removed = block_on(alice.clone().remove_member_async(bob_id.clone())).unwrap();
    assert!(removed > promoted, "{promoted} {removed}");
    assert_eq!(alice.members().unwrap().len(), 1);
    // Errors map as those of the blocking call.
    let unknown = "00".repeat(16);
    let e = block_on(alice.clone().promote_async(unknown.clone())).unwrap_err();
    let blocking = alice.promote(unknown).unwrap_err();
    assert_eq!(
        std::mem::discriminant(&e),
        std::mem::discriminant(&blocking),
        "{e:?} {blocking:?}"
    );
    assert!(!matches!(e, ChatError::Internal { .. }), "{e:?}");

    block_on(bob.clone().shutdown_async());
    assert!(bob.is_shut_down());
    let closed = block_on(bob.clone().invite_async(MemberRole::Member, location));
    assert!(
        matches!(closed, Err(ChatError::Closed { .. })),
        "{closed:?}"
    );
}

/// Holds the first progress report until told to go on.
struct Gate {
    started: Mutex<Sender<()>>,
    go: Mutex<Receiver<()>>,
}

impl TransferListener for Gate {
    fn on_progress(&self, done: u64, _total: u64) -> Result<(), ChatError> {
        if done == 0 {
            let _ = self.started.lock().unwrap().send(());
            let _ = self.go.lock().unwrap().recv_timeout(WAIT);
        }
        Ok(())
    }
}

#[test]
fn async_attachments_go_both_ways_and_a_dropped_call_cancels_its_transfer() {
    let folder = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let alice = folder_room(folder.path(), "Alice");
    let bob = folder_room(folder.path(), "Bob");
    let data: Vec<u8> = (0..2 * 1024 * 1024 + 99u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let source = files.path().join("photo.jpg");
    std::fs::write(&source, &data).unwrap();

    let id = block_on(alice.clone().send_file_async(
        source.to_str().unwrap().into(),
        "a photo".into(),
        None,
    ))
    .unwrap();
    block_on(alice.clone().sync_async()).unwrap();
    let got = sync_until(&bob, |m| m.iter().any(|m| m.id == id));
    assert_eq!(got.iter().find(|m| m.id == id).unwrap().text, "a photo");
    let target = files.path().join("saved.jpg");
    block_on(
        bob.clone()
            .save_attachment_async(id.clone(), target.to_str().unwrap().into(), None),
    )
    .unwrap();
    assert!(
        std::fs::read(&target).unwrap() == data,
        "the saved copy differs"
    );

    // An upload whose call is dropped (a cancelled coroutine) is cancelled: the transfer
    // is held at its start until the call is gone, then stops; nothing is queued.
    let (started_tx, started) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let transfer = ChatTransfer::new(Some(Box::new(Gate {
        started: Mutex::new(started_tx),
        go: Mutex::new(go_rx),
    })));
    {
        let mut call = std::pin::pin!(alice.clone().send_file_async(
            source.to_str().unwrap().into(),
            "never".into(),
            Some(transfer.clone()),
        ));
        assert!(poll_once(call.as_mut()).is_pending());
        started.recv_timeout(WAIT).unwrap();
        assert!(!transfer.is_cancelled());
    }
    assert!(transfer.is_cancelled(), "dropping the call did not cancel");
    go.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        alice.outbox_len().unwrap(),
        0,
        "a cancelled upload queued a message"
    );
    // And a dropped download leaves the target as it was.
    let (started_tx, started) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let transfer = ChatTransfer::new(Some(Box::new(Gate {
        started: Mutex::new(started_tx),
        go: Mutex::new(go_rx),
    })));
    let other = files.path().join("other.jpg");
    {
        let mut call = std::pin::pin!(bob.clone().save_attachment_async(
            id,
            other.to_str().unwrap().into(),
            Some(transfer.clone()),
        ));
        assert!(poll_once(call.as_mut()).is_pending());
        started.recv_timeout(WAIT).unwrap();
    }
    assert!(transfer.is_cancelled());
    go.send(()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!other.exists(), "a cancelled download wrote its target");
}

/// `search` reads the local store of the state folder (newest first, paged); without a
/// state folder it is `Unsupported`, and a damaged store is `LocalState` with the
/// recovery in its reason.
#[test]
fn search_reads_the_local_store_and_a_damaged_one_says_how_to_recover() {
    let location = memory("search");
    let state = tempfile::tempdir().unwrap();
    let with_state = || RoomOptions {
        state_dir: Some(state.path().to_str().unwrap().into()),
        ..options("room", "Bob")
    };
    let alice = open(&location, "Alice");
    for i in 0..12 {
        let text = if i % 3 == 0 {
            format!("lunch {i}")
        } else {
            format!("note {i}")
        };
        alice.send(text).unwrap();
    }
    alice.sync().unwrap();
    let bob = ChatRoom::new(location.clone(), Some(PASSWORD.into()), with_state()).unwrap();
    assert_eq!(bob.sync().unwrap().messages.len(), 12);
    let first = bob.search("Lunch".into(), None, 2).unwrap();
    let texts: Vec<_> = first.iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts, ["lunch 9", "lunch 6"]);
    let next = bob
        .search("lunch".into(), Some(first[1].id.clone()), 5)
        .unwrap();
    let texts: Vec<_> = next.iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts, ["lunch 3", "lunch 0"]);
    // The async variant reads the same page (on its own thread).
    let found = block_on(
        bob.clone()
            .search_async("lunch".into(), Some(first[1].id.clone()), 5),
    );
    let texts: Vec<_> = found.unwrap().iter().map(|m| m.text.clone()).collect();
    assert_eq!(texts, ["lunch 3", "lunch 0"]);
    assert!(matches!(
        alice.search("lunch".into(), None, 5),
        Err(ChatError::Unsupported { .. })
    ));
    bob.shutdown();
    drop(bob);

    let store = state.path().join("store.sqlite");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
    std::fs::write(&store, vec![0x5a; 8192]).unwrap();
    match ChatRoom::new(location, Some(PASSWORD.into()), with_state()) {
        Err(ChatError::LocalState { transient, reason }) => {
            assert!(!transient);
            assert!(
                reason.contains("damaged") && reason.contains("delete it"),
                "{reason}"
            );
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("a damaged store opened"),
    }
}

/// `RoomOptions.store` can be logged: the S3 secret and session token never show, and a
/// nonsensical timeout is refused before any I/O.
#[test]
fn store_options_keep_the_s3_secret_out_of_debug_and_refuse_zero_timeouts() {
    let credentials = S3Credentials::new(
        "AKIDFFITEST".into(),
        "s3-secret-never-shown-4711".into(),
        Some("session-token-never-shown-0815".into()),
    );
    let o = RoomOptions {
        store: Some(StoreOptions {
            s3_endpoint: Some("http://127.0.0.1:9".into()),
            s3_credentials: Some(credentials.clone()),
            ..StoreOptions::default()
        }),
        ..options("room", "Alice")
    };
    let shown = format!("{o:?}");
    assert!(shown.contains("AKIDFFITEST"), "{shown}");
    assert!(!shown.contains("s3-secret-never-shown-4711"), "{shown}");
    assert!(!shown.contains("session-token-never-shown-0815"), "{shown}");
    // Records compare credentials by identity, never by secret.
    assert_eq!(o.clone(), o);
    let other = S3Credentials::new(
        "AKIDFFITEST".into(),
        "s3-secret-never-shown-4711".into(),
        None,
    );
    let mut o2 = o.clone();
    o2.store.as_mut().unwrap().s3_credentials = Some(other);
    assert_ne!(o, o2);

    for (name, store) in [
        (
            "connectTimeoutMs",
            StoreOptions {
                connect_timeout_ms: Some(0),
                ..StoreOptions::default()
            },
        ),
        (
            "ioTimeoutMs",
            StoreOptions {
                io_timeout_ms: Some(0),
                ..StoreOptions::default()
            },
        ),
    ] {
        let zero = RoomOptions {
            store: Some(store),
            ..options("room", "Alice")
        };
        match ChatRoom::new(memory("zero-timeout"), Some(PASSWORD.into()), zero) {
            Err(ChatError::InvalidArgument { reason, .. }) => {
                assert!(reason.contains(name), "{reason}")
            }
            other => panic!("{name} = 0: {:?}", other.map(|_| ())),
        }
    }
    // Timeouts that make sense are accepted (a folder ignores them).
    let ok = RoomOptions {
        store: Some(StoreOptions {
            connect_timeout_ms: Some(2_000),
            io_timeout_ms: Some(5_000),
            ..StoreOptions::default()
        }),
        ..options("room", "Alice")
    };
    let dir = tempfile::tempdir().unwrap();
    let room = ChatRoom::new(
        dir.path().to_str().unwrap().into(),
        Some(PASSWORD.into()),
        ok,
    )
    .unwrap();
    room.send("hello".into()).unwrap();
    room.sync().unwrap();
    room.shutdown();
}

/// Without the `stores` feature the object-store and SSH locations are a clear
/// `Transport(kind: Unsupported)` naming the feature, not a confusing parse or connection error.
#[cfg(not(feature = "stores"))]
#[test]
fn object_store_and_ssh_locations_need_the_stores_feature() {
    for location in [
        "s3://bucket/chat",
        "webdav://127.0.0.1:9/chat",
        "webdavs://127.0.0.1:9/chat",
        "sftp://u@127.0.0.1:9/chat",
    ] {
        match ChatRoom::new(
            location.into(),
            Some(PASSWORD.into()),
            options("room", "Alice"),
        ) {
            Err(ChatError::Transport {
                kind: TransportFailure::Unsupported,
                transient: false,
                reason,
            }) => assert!(reason.contains("feature"), "{location}: {reason}"),
            other => panic!("{location}: {:?}", other.map(|_| ())),
        }
    }
}

/// With a state folder a sync carries the 1,000 newest new messages and says how many it
/// left out; `history` pages the older ones from the local store.
#[test]
fn a_long_sync_with_a_state_folder_reports_the_messages_it_left_out() {
    let location = memory("left-out");
    let state = tempfile::tempdir().unwrap();
    let alice = open(&location, "Alice");
    for i in 0..1_200 {
        alice.send(format!("m{i}")).unwrap();
    }
    alice.sync().unwrap();
    let bob = ChatRoom::new(
        location,
        Some(PASSWORD.into()),
        RoomOptions {
            state_dir: Some(state.path().to_str().unwrap().into()),
            ..options("room", "Bob")
        },
    )
    .unwrap();
    let u = bob.sync().unwrap();
    assert_eq!(u.messages.len(), 1_000);
    assert_eq!(u.messages[0].text, "m200");
    assert!(
        u.events
            .contains(&ChatEvent::MessagesLeftOut { messages: 200 }),
        "{:?}",
        u.events
    );
    let before = u.messages[0].id.clone();
    let older = bob.history(Some(before), 500).unwrap();
    assert_eq!(older.len(), 200);
    assert_eq!(older[0].text, "m0");
}
