//! Private messages and blocking (SPEC §8.4.2) between real member rooms on a real FTP
//! server, and the attackers of SPEC §13: a member who is not the recipient (it holds the
//! epoch key and reads the raw logs), the server (it reads the files), and a blocked member
//! who tries to unblock itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use ftpchat_core::codec::{Hlc, LineDecoder, NativeRecord, Record, RecordBody, RecordId, WriterId};
use ftpchat_core::testing::{seal_private, ManualClock};
use ftpchat_core::{
    ErrorKind, Invitation, MemberId, Message, Role, Room, RoomConfig, RoomEvent, SyncUpdate,
    Transport,
};
use support::ftp_server::{FtpServerTransports, TestFtpServer};
use support::members::*;

/// 2026-12-05 12:00 UTC.
const START_MS: u64 = 1_796_472_000_000;

fn ftp() -> (TestFtpServer, Arc<dyn Transport>) {
    let server = TestFtpServer::start();
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    (server, t)
}

fn open(t: &Arc<dyn Transport>, d: &Device, name: &str, clock: &Arc<ManualClock>) -> Room {
    let config = RoomConfig::member_room(DIR, name, d.identity.clone())
        .with_state_dir(d.state.path())
        .with_clock(clock.clone());
    Room::open(t.clone(), config).unwrap()
}

fn join(
    t: &Arc<dyn Transport>,
    d: &Device,
    name: &str,
    url: &str,
    clock: &Arc<ManualClock>,
) -> Room {
    let config = RoomConfig::join(
        DIR,
        name,
        d.identity.clone(),
        Invitation::parse(url).unwrap(),
    )
    .with_state_dir(d.state.path())
    .with_clock(clock.clone());
    Room::open(t.clone(), config).unwrap()
}

/// Alice (admin), Bob and Carol, all on one simulated clock.
struct Trio {
    clock: Arc<ManualClock>,
    a: Device,
    b: Device,
    c: Device,
    alice: Room,
    bob: Room,
    carol: Room,
}

fn trio(t: &Arc<dyn Transport>) -> Trio {
    let clock = Arc::new(ManualClock::at(START_MS));
    let (a, b, c) = (Device::new(), Device::new(), Device::new());
    let alice = open(t, &a, "Alice", &clock);
    let url = alice.invite(Role::Member, "ftp://x/team").unwrap().to_url();
    let bob = join(t, &b, "Bob", &url, &clock);
    let url = alice.invite(Role::Member, "ftp://x/team").unwrap().to_url();
    let carol = join(t, &c, "Carol", &url, &clock);
    for r in [&alice, &bob, &carol, &alice] {
        r.sync().unwrap();
    }
    Trio {
        clock,
        a,
        b,
        c,
        alice,
        bob,
        carol,
    }
}

fn texts(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

fn events_of(update: &SyncUpdate) -> Vec<String> {
    update.events.iter().map(ToString::to_string).collect()
}

/// SPEC §8.4.2: only the recipient's and the sender's devices read a private message; it
/// waits on the server while the recipient is away (three simulated days here) and is
/// delivered once, in its own conversation.
#[test]
fn a_private_message_reaches_only_its_recipient_even_days_later() {
    let (_server, t) = ftp();
    let Trio {
        clock,
        a,
        b,
        c,
        alice,
        bob,
        carol,
    } = trio(&t);
    let (alice_id, bob_id) = (member_id_of(&alice, &a), member_id_of(&alice, &b));
    bob.close().unwrap();
    drop(bob);

    let secret = alice.send_private(&bob_id, "the secret plans").unwrap();
    alice.send("hello everyone").unwrap();
    let mine = alice.message(&secret).unwrap();
    assert_eq!(mine.private, Some(bob_id));
    alice.sync().unwrap();
    assert_eq!(
        texts(&alice.history(None, 10).unwrap()),
        ["hello everyone"],
        "the room's conversation holds no private message"
    );
    assert_eq!(
        texts(&alice.private_history(&bob_id, None, 10).unwrap()),
        ["the secret plans"]
    );

    // Carol, a member holding the epoch key, sees the room's message only.
    let got = carol.sync().unwrap();
    assert_eq!(texts(&got.messages), ["hello everyone"]);
    assert!(carol.message(&secret).is_none());
    assert!(carol
        .private_history(&alice_id, None, 10)
        .unwrap()
        .is_empty());
    // By hand, with her epoch key: the record decodes, its body is sealed, not for her.
    let (epoch, key) = epoch_key(&t, &c.identity);
    let mut decoder = LineDecoder::new(Default::default());
    decoder.add_epoch_key(room_id_of(&t), epoch, key);
    let alice_log = log_path(ftpchat_core::codec::derive_writer_id(
        room_id_of(&t),
        &a.identity.public().signing_key_bytes(),
        0,
    ));
    let raw = read_all(&t, &alice_log);
    assert!(!contains(&raw, b"secret plans"), "the server reads nothing");
    let mut sealed = 0;
    for line in raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Ok(Record::Signed(r)) = decoder.decode_line(line) else {
            continue;
        };
        if let RecordBody::Private {
            recipient,
            sealed: s,
            ..
        } = &r.record.body
        {
            assert_eq!(
                *recipient, bob_id.0,
                "members see whom it is for (SPEC §13)"
            );
            assert!(!contains(s, b"secret plans"));
            sealed += 1;
        }
    }
    assert_eq!(sealed, 1);

    // Three days later Bob comes back: the message is there, once.
    clock.advance(Duration::from_secs(3 * 24 * 3600));
    let bob = open(&t, &b, "Bob", &clock);
    let got = bob.sync().unwrap();
    let private: Vec<&Message> = got
        .messages
        .iter()
        .filter(|m| m.private.is_some())
        .collect();
    assert_eq!(private.len(), 1, "{:?}", got.messages);
    assert_eq!(private[0].text, "the secret plans");
    assert_eq!(
        private[0].private,
        Some(alice_id),
        "the conversation is with Alice"
    );
    assert!(!private[0].is_own);
    assert_eq!(
        private[0].signer.as_deref(),
        Some(a.identity.public().fingerprint().as_str())
    );
    assert!(bob.sync().unwrap().messages.is_empty());
    bob.close().unwrap();
    let bob = open(&t, &b, "Bob", &clock);
    assert!(
        bob.sync().unwrap().messages.is_empty(),
        "delivered once, also across a restart"
    );
    assert_eq!(
        texts(&bob.private_history(&alice_id, None, 10).unwrap()),
        ["the secret plans"]
    );

    // Bob answers privately; Alice's conversation with Bob has both, in order.
    bob.send_private(&alice_id, "received").unwrap();
    bob.sync().unwrap();
    let got = alice.sync().unwrap();
    assert_eq!(got.messages[0].private, Some(bob_id));
    assert_eq!(
        texts(&alice.private_history(&bob_id, None, 10).unwrap()),
        ["the secret plans", "received"]
    );
    assert!(texts(&carol.sync().unwrap().messages).is_empty());

    // Only current members can be written to.
    let stranger = MemberId([0x55; 16]);
    assert_eq!(
        alice.send_private(&stranger, "hi").unwrap_err().kind(),
        ErrorKind::Membership
    );
}

/// A private message is read on every device of both members, and an edit of it stays
/// private.
#[test]
fn private_messages_reach_every_device_of_both_members_and_edits_stay_private() {
    let (_server, t) = ftp();
    let Trio {
        clock,
        a,
        b,
        c,
        alice,
        bob,
        carol,
    } = trio(&t);
    let (alice_id, bob_id) = (member_id_of(&alice, &a), member_id_of(&alice, &b));
    let phone = Device::new();
    bob.link_device(phone.identity.public(), true).unwrap();
    let bob_phone = open(&t, &phone, "Bob", &clock);
    bob_phone.sync().unwrap();
    alice.sync().unwrap();

    let id = alice
        .send_private(&bob_id, "one for both of your devices")
        .unwrap();
    alice
        .edit(&id, "one for both of your devices (edited)")
        .unwrap();
    alice.sync().unwrap();
    for room in [&bob, &bob_phone] {
        room.sync().unwrap();
        let m = room.message(&id).unwrap();
        assert_eq!(m.text, "one for both of your devices (edited)");
        assert!(m.edited);
        assert_eq!(m.private, Some(alice_id));
    }
    // Carol sees neither the message nor the edit's text.
    let got = carol.sync().unwrap();
    assert!(got.messages.is_empty() && got.changed.is_empty());
    let alice_log = read_all(
        &t,
        &log_path(ftpchat_core::codec::derive_writer_id(
            room_id_of(&t),
            &a.identity.public().signing_key_bytes(),
            0,
        )),
    );
    let (epoch, key) = epoch_key(&t, &c.identity);
    let mut decoder = LineDecoder::new(Default::default());
    decoder.add_epoch_key(room_id_of(&t), epoch, key);
    let bodies: Vec<RecordBody> = alice_log
        .split(|&b| b == b'\n')
        .filter_map(|l| match decoder.decode_line(l) {
            Ok(Record::Signed(r)) => Some(r.record.body.clone()),
            _ => None,
        })
        .collect();
    assert!(
        !bodies.iter().any(|b| matches!(b, RecordBody::Edit { .. })),
        "the edit of a private message is private too"
    );
    // Bob's phone answers; Bob's other device has the answer as its own.
    let reply = bob_phone.send_private(&alice_id, "from my phone").unwrap();
    bob_phone.sync().unwrap();
    bob.sync().unwrap();
    let m = bob.message(&reply).unwrap();
    assert!(
        !m.is_own,
        "another device's message (is_own is this device's)"
    );
    assert_eq!(m.private, Some(alice_id));
}

/// Blocking (SPEC §8.4.2): hides the member's messages and private messages on every
/// device of the blocker, survives restarts, can be undone; the blocked member learns
/// nothing and cannot unblock itself.
#[test]
fn blocking_hides_a_member_everywhere_and_only_the_blocker_undoes_it() {
    let (_server, t) = ftp();
    let Trio {
        clock,
        a,
        b,
        c,
        alice,
        bob,
        carol,
    } = trio(&t);
    let (bob_id, carol_id) = (member_id_of(&alice, &b), member_id_of(&alice, &c));
    let phone = Device::new();
    bob.link_device(phone.identity.public(), true).unwrap();
    let bob_phone = open(&t, &phone, "Bob", &clock);
    bob_phone.sync().unwrap();

    carol.send("before the block").unwrap();
    carol.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["before the block"]);

    bob.block(&carol_id).unwrap();
    assert_eq!(bob.blocked(), [carol_id]);
    assert_eq!(
        bob.block(&bob_id).unwrap_err().kind(),
        ErrorKind::NotAllowed,
        "nobody blocks themselves"
    );
    bob.sync().unwrap();
    carol.send("after the block").unwrap();
    carol.send_private(&bob_id, "psst, bob").unwrap();
    carol.sync().unwrap();
    alice.send("alice still talks").unwrap();
    alice.sync().unwrap();

    let got = bob.sync().unwrap();
    assert_eq!(
        texts(&got.messages),
        ["alice still talks"],
        "{:?}",
        events_of(&got)
    );
    assert!(!texts(&bob.history(None, 50).unwrap()).contains(&"before the block"));
    assert!(bob.private_history(&carol_id, None, 10).unwrap().is_empty());
    // Bob's other device follows the block list.
    let got = bob_phone.sync().unwrap();
    assert_eq!(bob_phone.blocked(), [carol_id]);
    assert!(!texts(&got.messages).contains(&"after the block"));
    // Others are not affected; Carol reads nothing of the block (it is sealed to Bob).
    alice.sync().unwrap();
    assert!(texts(&alice.history(None, 50).unwrap()).contains(&"after the block"));
    let got = carol.sync().unwrap();
    assert_eq!(texts(&got.messages), ["alice still talks"], "{got:?}");
    assert!(got.events.is_empty(), "{got:?}");
    assert!(carol.blocked().is_empty());

    // A restart keeps the block.
    bob.close().unwrap();
    let bob = open(&t, &b, "Bob", &clock);
    bob.sync().unwrap();
    assert_eq!(bob.blocked(), [carol_id]);
    assert!(!texts(&bob.history(None, 50).unwrap()).contains(&"after the block"));

    // Carol, by hand, seals an empty block list to Bob's devices in her own log: Bob's
    // list is his own, written by his member to itself, so it changes nothing.
    let (epoch, key) = epoch_key(&t, &c.identity);
    let devices: Vec<_> = alice
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.id == bob_id)
        .unwrap()
        .devices;
    let id = RecordId::random();
    let body = seal_private(
        room_id_of(&t),
        id,
        bob_id,
        &devices,
        &RecordBody::BlockList(vec![]),
    )
    .unwrap();
    append_as_member(&t, &c.identity, epoch, &key, record(id, body));
    bob.sync().unwrap();
    assert_eq!(bob.blocked(), [carol_id], "a member cannot unblock itself");

    // Bob unblocks: her messages show again, on both devices.
    bob.unblock(&carol_id).unwrap();
    bob.sync().unwrap();
    assert!(bob.blocked().is_empty());
    let history = bob.history(None, 50).unwrap();
    assert!(texts(&history).contains(&"before the block"));
    assert!(texts(&history).contains(&"after the block"));
    assert_eq!(
        texts(&bob.private_history(&carol_id, None, 10).unwrap()),
        ["psst, bob"]
    );
    bob_phone.sync().unwrap();
    assert!(bob_phone.blocked().is_empty());
    drop(a);
}

/// A private record sealed to this device that does not open is reported, not shown.
#[test]
fn a_tampered_private_message_is_refused_and_reported() {
    let (_server, t) = ftp();
    let Trio {
        a: _a,
        b,
        c,
        alice,
        bob,
        carol: _carol,
        ..
    } = trio(&t);
    let bob_id = member_id_of(&alice, &b);
    let (epoch, key) = epoch_key(&t, &c.identity);
    let devices: Vec<_> = alice
        .members()
        .unwrap()
        .into_iter()
        .find(|m| m.id == bob_id)
        .unwrap()
        .devices;
    // Sealed for another record id: the sealed body does not open in this record.
    let body = seal_private(
        room_id_of(&t),
        RecordId::random(),
        bob_id,
        &devices,
        &RecordBody::Text("moved".into()),
    )
    .unwrap();
    let id = RecordId::random();
    append_as_member(&t, &c.identity, epoch, &key, record(id, body));
    let got = bob.sync().unwrap();
    assert!(got.messages.is_empty());
    assert!(got.events.iter().any(|e| matches!(
        e,
        RoomEvent::PrivateRecordRefused { record, .. } if record.0 == id.0
    )));
}

/// Private messages need members: a password room refuses them clearly.
#[test]
fn password_rooms_have_no_private_messages() {
    let t: Arc<dyn Transport> = Arc::new(ftpchat_core::testing::MemoryTransport::new());
    let room = Room::open(t, RoomConfig::native("plain", "Alice", "pw")).unwrap();
    let err = room.send_private(&MemberId([1; 16]), "hi").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Membership, "{err}");
    assert_eq!(
        room.block(&MemberId([1; 16])).unwrap_err().kind(),
        ErrorKind::Membership
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn record(id: RecordId, body: RecordBody) -> NativeRecord {
    NativeRecord {
        id,
        room: Default::default(),
        writer: WriterId::default(),
        seq: 0,
        hlc: Hlc::new(START_MS + 60_000, 0),
        sender: "Carol".into(),
        body,
    }
}
