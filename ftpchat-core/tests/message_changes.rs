//! Edits, deletes and reactions (SPEC §8.4.1) between real rooms on a real FTP server,
//! and the attacks of SPEC §13: a member editing or deleting another member's message by
//! writing the records by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use ftpchat_core::codec::{NativeRecord, RecordBody, RecordId};
use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::{
    ErrorKind, Message, MessageId, Reaction, Room, RoomConfig, RoomEvent, SyncUpdate, Transport,
    WriteCodec,
};
use support::ftp_server::{FtpServerTransports, TestFtpServer};
use support::members::*;

fn ftp() -> (TestFtpServer, Arc<dyn Transport>) {
    let server = TestFtpServer::start();
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    (server, t)
}

fn one(messages: &[Message]) -> &Message {
    assert_eq!(messages.len(), 1, "{messages:?}");
    &messages[0]
}

fn refused_changes(update: &SyncUpdate) -> Vec<(MessageId, String)> {
    update
        .events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::ChangeRefused { target, reason, .. } => Some((*target, reason.clone())),
            _ => None,
        })
        .collect()
}

fn reactions(m: &Message) -> Vec<(&str, usize, bool)> {
    m.reactions
        .iter()
        .map(|r: &Reaction| (r.reaction.as_str(), r.senders.len(), r.own))
        .collect()
}

#[test]
fn edits_deletes_and_reactions_reach_every_member_on_a_real_ftp_server() {
    let (_server, t) = ftp();
    let (_a, alice, _b, bob) = alice_and_bob(&t);
    let id = alice.send("helo").unwrap();
    alice.sync().unwrap();
    assert_eq!(one(&bob.sync().unwrap().messages).text, "helo");

    // The author edits: her own timeline changes at once, Bob's at his next sync.
    alice.edit(&id, "hello").unwrap();
    let mine = alice.message(&id).unwrap();
    assert!(mine.edited && mine.text == "hello");
    alice.sync().unwrap();
    let got = bob.sync().unwrap();
    assert!(got.messages.is_empty(), "an edit is not a new message");
    let changed = one(&got.changed);
    assert_eq!((changed.id, changed.text.as_str()), (id, "hello"));
    assert!(changed.edited && !changed.deleted);

    // Reactions: Bob's newest replaces his earlier one; Alice's own is marked own.
    bob.react(&id, "👍").unwrap();
    bob.react(&id, "🎉  👍").unwrap();
    alice.react(&id, "👍").unwrap();
    bob.sync().unwrap();
    alice.sync().unwrap();
    let got = alice.sync().unwrap();
    let now = alice.message(&id).unwrap();
    assert_eq!(
        reactions(&now),
        [("👍", 2, true), ("🎉", 1, false)],
        "{got:?}"
    );
    // In the timeline order of the two reactions: the devices' clocks decide (SPEC §9.3).
    let mut senders = now.reactions[0].senders.clone();
    senders.sort();
    assert_eq!(senders, ["Alice", "Bob"]);
    let got = bob.sync().unwrap();
    assert_eq!(
        reactions(one(&got.changed)),
        [("👍", 2, true), ("🎉", 1, true)]
    );

    // An empty reaction withdraws it.
    bob.react(&id, "").unwrap();
    bob.sync().unwrap();
    let got = alice.sync().unwrap();
    assert_eq!(reactions(one(&got.changed)), [("👍", 1, true)]);

    // Nobody else may edit or delete; the API refuses before writing anything.
    assert_eq!(
        bob.edit(&id, "pwned").unwrap_err().kind(),
        ErrorKind::NotAllowed
    );
    assert_eq!(bob.delete(&id).unwrap_err().kind(), ErrorKind::NotAllowed);
    assert_eq!(
        bob.edit(&MessageId([7; 16]), "x").unwrap_err().kind(),
        ErrorKind::UnknownMessage
    );
    assert_eq!(bob.outbox_len(), 0);

    // The author deletes: the text and reactions are gone everywhere, for good.
    alice.delete(&id).unwrap();
    alice.sync().unwrap();
    let got = bob.sync().unwrap();
    let gone = one(&got.changed);
    assert!(gone.deleted && gone.text.is_empty() && gone.reactions.is_empty());
    assert_eq!(
        alice.edit(&id, "back").unwrap_err().kind(),
        ErrorKind::NotAllowed
    );
    // A reopened room shows the same, from its history.
    drop(bob);
    let bob = _b.create(&t, "Bob");
    let history = bob.history(None, 100).unwrap();
    let shown = history.iter().find(|m| m.id == id).unwrap();
    assert!(shown.deleted && shown.text.is_empty());
}

/// SPEC §13: a member holds the epoch key and signs with its own device key, so it can
/// write any record into its own log. Edits and deletes of another member's message are
/// refused by every reader (reported), whatever order the logs are read in; its reaction
/// counts once, as its own.
#[test]
fn a_member_cannot_edit_or_delete_another_members_message() {
    let (_server, t) = ftp();
    let (_a, alice, b, bob) = alice_and_bob(&t);
    let id = alice.send("I owe Bob nothing").unwrap();
    alice.sync().unwrap();
    bob.sync().unwrap();

    let (epoch, key) = epoch_key(&t, &b.identity);
    let target = RecordId(id.0);
    for body in [
        RecordBody::Edit {
            target,
            text: "I owe Bob 1000".into(),
        },
        RecordBody::Delete { target },
        RecordBody::Reaction {
            target,
            reaction: "💸".into(),
            removed: false,
        },
    ] {
        append_as_member(&t, &b.identity, epoch, &key, record(body));
    }
    let got = alice.sync().unwrap();
    let refused = refused_changes(&got);
    assert_eq!(refused.len(), 2, "{:?}", got.events);
    assert!(refused
        .iter()
        .all(|(t, why)| *t == id && why.contains("author")));
    let m = one(&got.changed);
    assert_eq!(m.text, "I owe Bob nothing");
    assert!(!m.edited && !m.deleted);
    assert_eq!(reactions(m), [("💸", 1, false)]);

    // A member who joins later reads Bob's log and Alice's in whatever order: the same.
    let c = Device::new();
    alice
        .add_member(c.identity.public(), ftpchat_core::Role::Member, true)
        .unwrap();
    let carol = c.create(&t, "Carol");
    let got = carol.sync().unwrap();
    let m = got.messages.iter().find(|m| m.id == id).unwrap();
    assert_eq!(m.text, "I owe Bob nothing");
    assert!(!m.deleted);
    assert_eq!(refused_changes(&got).len(), 2);
}

/// Any device of the author may edit: the author is the member, not the device.
#[test]
fn another_device_of_the_author_may_edit_and_delete() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let (a, alice, _b, bob) = alice_and_bob(&t);
    let id = alice.send("from my laptop").unwrap();
    alice.sync().unwrap();
    bob.sync().unwrap();
    let phone = Device::new();
    alice.link_device(phone.identity.public(), true).unwrap();
    let alice_phone = phone.create(&t, "Alice");
    alice_phone.sync().unwrap();
    alice_phone.edit(&id, "from my phone").unwrap();
    alice_phone.sync().unwrap();
    let got = bob.sync().unwrap();
    assert_eq!(one(&got.changed).text, "from my phone");
    assert!(refused_changes(&got).is_empty());
    drop(a);
}

/// Password rooms: the author is the writer (one device's log); a FTPChat chat file
/// cannot carry changes at all.
#[test]
fn password_rooms_edit_by_writer_and_chat_files_refuse_changes() {
    let (_server, t) = ftp();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let open = |name: &str, state: &std::path::Path| {
        let config = RoomConfig::native("plain", name, "pw").with_state_dir(state);
        Room::open(t.clone(), config).unwrap()
    };
    let alice = open("Alice", dir_a.path());
    let bob = open("Bob", dir_b.path());
    let id = alice.send("typo").unwrap();
    alice.sync().unwrap();
    bob.sync().unwrap();
    alice.edit(&id, "fixed").unwrap();
    bob.react(&id, "👀").unwrap();
    assert_eq!(bob.delete(&id).unwrap_err().kind(), ErrorKind::NotAllowed);
    alice.sync().unwrap();
    bob.sync().unwrap();
    let got = alice.sync().unwrap();
    assert_eq!(reactions(one(&got.changed)), [("👀", 1, false)]);
    let m = bob.message(&id).unwrap();
    assert_eq!((m.text.as_str(), m.edited), ("fixed", true));

    let shared = Room::open(
        t.clone(),
        RoomConfig::shared_file("chat.txt", WriteCodec::Fernet17, "Carol").with_password("pw"),
    )
    .unwrap();
    let own = shared.send("hi").unwrap();
    for err in [
        shared.edit(&own, "x").unwrap_err(),
        shared.react(&own, "👍").unwrap_err(),
        shared.delete(&own).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }
}

/// Changes wait in the outbox like messages: made offline and saved, they are shown
/// again after a restart and delivered by the next sync.
#[test]
fn an_unsent_edit_survives_a_restart() {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().unwrap();
    let open = || {
        Room::open(
            t.clone(),
            RoomConfig::native("plain", "Alice", "pw").with_state_dir(state.path()),
        )
        .unwrap()
    };
    let alice = open();
    let id = alice.send("draft").unwrap();
    alice.sync().unwrap();
    alice.edit(&id, "final").unwrap();
    alice.close().unwrap();
    let alice = open();
    assert_eq!(alice.outbox_len(), 1);
    let m = alice.history(None, 10).unwrap().pop().unwrap();
    assert_eq!((m.text.as_str(), m.edited), ("final", true));
    alice.sync().unwrap();
    let other = tempfile::tempdir().unwrap();
    let bob = Room::open(
        t.clone(),
        RoomConfig::native("plain", "Bob", "pw").with_state_dir(other.path()),
    )
    .unwrap();
    let got = bob.sync().unwrap();
    assert_eq!(one(&got.messages).text, "final");
}

fn record(body: RecordBody) -> NativeRecord {
    record_by("Bob", body)
}
