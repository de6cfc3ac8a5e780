//! Member rooms (SPEC §9.4, §17) against real rooms, playing each attacker of SPEC §13's
//! threat table: a non-member, a member forging another's records, the server reordering,
//! replaying and moving lines, a removed member that keeps polling and writing (on a real
//! FTP server), and two admins racing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use ftpchat_core::codec::{
    ChainLink, Deflater, FernetKey, NativeRecord, RecordBody, RoomId, SignedRecord,
};
use ftpchat_core::{
    Commit, DeviceIdentity, ErrorKind, Invitation, Message, RemotePath, Role, Room, RoomConfig,
    RoomError, RoomEvent, SyncUpdate, Transport,
};
use support::ftp_server::{FtpServerTransports, TestFtpServer};
use support::members::*;

fn texts(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

fn all_texts(room: &Room) -> Vec<String> {
    room.history(None, 10_000)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect()
}

fn refusals(update: &SyncUpdate) -> Vec<String> {
    update
        .events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::RecordRefused { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn invited_members_chat_and_every_sender_comes_from_a_key() {
    let t = memory();
    let (a, alice, b, bob) = alice_and_bob(&t);
    alice.send("hello Bob").unwrap();
    alice.sync().unwrap();
    let got = bob.sync().unwrap();
    assert_eq!(texts(&got.messages), ["hello Bob"]);
    let m = &got.messages[0];
    assert_eq!(m.signer.as_deref(), Some(a.fingerprint().as_str()));
    assert!(!m.is_own);

    bob.send("hi Alice").unwrap();
    bob.sync().unwrap();
    let got = alice.sync().unwrap();
    assert_eq!(texts(&got.messages), ["hi Alice"]);
    assert_eq!(
        got.messages[0].signer.as_deref(),
        Some(b.fingerprint().as_str())
    );

    // members(): two, Alice admin, Bob member, each with its device's fingerprint.
    let members = alice.members().unwrap();
    assert_eq!(members.len(), 2);
    let role_of = |d: &Device| {
        members
            .iter()
            .find(|m| m.devices.iter().any(|x| x.fingerprint() == d.fingerprint()))
            .map(|m| m.role)
    };
    assert_eq!(role_of(&a), Some(Role::Admin));
    assert_eq!(role_of(&b), Some(Role::Member));
    // Bob sees the same list.
    assert_eq!(bob.members().unwrap().len(), 2);
}

#[test]
fn an_invitation_works_once_and_only_for_its_room() {
    let t = memory();
    let (_a, alice, _b, _bob) = alice_and_bob(&t);
    // The first invitation was consumed by Bob: replaying it for Carol is refused.
    let inv = alice.invite(Role::Member, "memory://team").unwrap();
    let url = inv.to_url();
    let carol = Device::new();
    let _c = carol.join(&t, "Carol", &url);
    let mallory = Device::new();
    let config = RoomConfig::join(
        DIR,
        "Mallory",
        mallory.identity.clone(),
        Invitation::parse(&url).unwrap(),
    );
    let err = Room::open(t.clone(), config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Membership, "{err}");

    // An invitation for another room (same path, other room id) is refused.
    let other = memory();
    let dave = Device::new();
    let config = RoomConfig::join(
        DIR,
        "Dave",
        dave.identity.clone(),
        Invitation::parse(&url).unwrap(),
    );
    let _elsewhere = Device::new().create(&other, "Owner");
    let err = Room::open(other, config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Membership, "{err}");
}

#[test]
fn a_non_member_reads_nothing_and_cannot_write() {
    let t = memory();
    let (_a, alice, _b, _bob) = alice_and_bob(&t);
    alice.send("members only").unwrap();
    alice.sync().unwrap();
    let eve = Device::new();
    let room = Room::open(
        t.clone(),
        RoomConfig::member_room(DIR, "Eve", eve.identity.clone()),
    )
    .unwrap();
    let got = room.sync().unwrap();
    assert!(got.messages.is_empty());
    assert!(room.history(None, 100).unwrap().is_empty());
    assert!(!room
        .members()
        .unwrap()
        .iter()
        .any(|m| m.devices.contains(&eve.identity.public())));
    assert_eq!(
        room.send("let me in").unwrap_err().kind(),
        ErrorKind::NotAMember
    );

    // Eve writes a record signed by her own key under a key she made up: nobody can
    // even decrypt it; under a real epoch key (as a removed member would have), it is
    // refused because her device is not a member.
    let room_id = room_id_of(&t);
    let key = FernetKey::generate();
    append_forged(&t, &eve.identity, room_id, 0, &key, 1, [0; 32], "forged");
    let got = alice.sync().unwrap();
    assert!(got.messages.is_empty());
    assert!(!got.events.is_empty());
    assert_eq!(all_texts(&alice), ["members only"]);
}

#[test]
fn forged_senders_moved_records_and_reordered_logs_are_refused_and_reported() {
    let t = memory();
    let (a, alice, b, bob) = alice_and_bob(&t);
    bob.send("one").unwrap();
    bob.send("two").unwrap();
    bob.sync().unwrap();
    alice.sync().unwrap();
    // The epoch key Bob (a member) holds.
    let (epoch, key) = epoch_key(&t, &b.identity);
    let room_id = room_id_of(&t);

    // 1. Bob signs a record that claims Alice's writer id: it cannot sit in her log
    //    (the writer id is derived from the signing key), and in his own log the writer
    //    id does not match the log name.
    let alice_writer =
        ftpchat_core::codec::derive_writer_id(room_id, &a.identity.public().signing_key_bytes(), 0);
    let mut record = text_record(room_id, 1, "I am Alice");
    record.writer = alice_writer;
    let mut signed = SignedRecord::sign(
        record,
        ChainLink {
            epoch,
            prev: [0; 32],
            generation: 0,
        },
        &b.identity,
    );
    // sign() derives the writer id from Bob's key: so the line lands in Bob's log as
    // Bob's record, and put into Alice's log it is a foreign record.
    let line = signed.encode_line(&key, &mut Deflater::default());
    let alice_log = log_path(alice_writer);
    t.append(&alice_log, format!("{line}\n").as_bytes())
        .unwrap();
    let got = bob.sync().unwrap();
    assert!(got.messages.is_empty());
    assert!(got
        .events
        .iter()
        .any(|e| matches!(e, RoomEvent::ForeignRecord { .. })));

    // 2. A record with Alice's key bytes but Bob's signature: the signature fails.
    let forged = forge_with_device(&b.identity, &a.identity, room_id, epoch, &key);
    t.append(&alice_log, format!("\n{forged}\n").as_bytes())
        .unwrap();
    let got = bob.sync().unwrap();
    assert!(got.messages.is_empty());
    assert!(
        refusals(&got)
            .iter()
            .any(|r| r.contains("signature") || r.contains("chain")),
        "{:?}",
        got.events
    );

    // 3. The server swaps Bob's two lines: a fresh reader refuses the reordered chain.
    let bob_log = log_path(ftpchat_core::codec::derive_writer_id(
        room_id,
        &b.identity.public().signing_key_bytes(),
        0,
    ));
    let text = String::from_utf8(read_all(&t, &bob_log)).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2);
    let swapped = format!("{}\n{}\n", lines[1], lines[0]);
    let t2 = memory();
    copy_room(&t, &t2);
    t2.write_atomic(&bob_log, swapped.as_bytes()).unwrap();
    let carol = Device::new();
    // Carol was added with history shared, so she could read both.
    alice
        .add_member(carol.identity.public(), Role::Member, true)
        .unwrap();
    copy_room(&t, &t2);
    t2.write_atomic(&bob_log, swapped.as_bytes()).unwrap();
    let carol_room = carol.create(&t2, "Carol");
    let got = carol_room.sync().unwrap();
    assert!(
        !texts(&got.messages).contains(&"one") || !texts(&got.messages).contains(&"two"),
        "a reordered log must not be accepted whole: {:?}",
        texts(&got.messages)
    );
    assert!(
        refusals(&got).iter().any(|r| r.contains("chain")),
        "{:?}",
        got.events
    );
}

#[test]
fn a_new_member_reads_from_its_join_unless_history_is_shared() {
    let t = memory();
    let (_a, alice, _b, bob) = alice_and_bob(&t);
    alice.send("before Carol and Dave").unwrap();
    alice.sync().unwrap();
    bob.sync().unwrap();
    let (carol, dave) = (Device::new(), Device::new());
    alice
        .add_member(carol.identity.public(), Role::Member, false)
        .unwrap();
    alice
        .add_member(dave.identity.public(), Role::Member, true)
        .unwrap();
    alice.send("after").unwrap();
    alice.sync().unwrap();
    let carol_room = carol.create(&t, "Carol");
    let dave_room = dave.create(&t, "Dave");
    let c = carol_room.sync().unwrap();
    let d = dave_room.sync().unwrap();
    assert_eq!(texts(&c.messages), ["after"]);
    assert_eq!(texts(&d.messages), ["before Carol and Dave", "after"]);
    // Bob's messages sent in the epoch Carol joined are readable for her too.
    bob.send("welcome").unwrap();
    bob.sync().unwrap();
    assert_eq!(texts(&carol_room.sync().unwrap().messages), ["welcome"]);
}

#[test]
fn two_admins_removing_each_other_at_once_one_wins_and_the_other_is_refused() {
    for _ in 0..5 {
        let t = memory();
        let (a, alice, b, bob) = alice_and_bob(&t);
        let bob_id = member_id_of(&alice, &b);
        alice.promote(&bob_id).unwrap();
        bob.sync().unwrap();
        let alice_id = member_id_of(&bob, &a);
        let barrier = std::sync::Barrier::new(2);
        let (ra, rb) = std::thread::scope(|s| {
            let x = s.spawn(|| {
                barrier.wait();
                alice.remove_member(&bob_id)
            });
            let y = s.spawn(|| {
                barrier.wait();
                bob.remove_member(&alice_id)
            });
            (x.join().unwrap(), y.join().unwrap())
        });
        // Exactly one removal happened; the loser's change, proposed again on top of the
        // winner's, is refused (its author is no longer a member).
        assert!(ra.is_ok() != rb.is_ok(), "{ra:?} {rb:?}");
        let loser = if ra.is_ok() { rb } else { ra };
        assert_eq!(loser.unwrap_err().kind(), ErrorKind::Membership);
        let (winner, removed) = if alice.members().unwrap().len() == 1
            && alice.identity().is_some()
            && member_ids(&alice).contains(&alice_id)
        {
            (&alice, &bob)
        } else {
            (&bob, &alice)
        };
        winner.sync().unwrap();
        assert_eq!(winner.members().unwrap().len(), 1);
        let got = removed.sync().unwrap();
        assert!(
            got.events
                .iter()
                .any(|e| matches!(e, RoomEvent::RemovedFromRoom))
                || removed.send("x").is_err()
        );
        assert_eq!(removed.send("x").unwrap_err().kind(), ErrorKind::NotAMember);
    }
}

fn member_ids(room: &Room) -> Vec<ftpchat_core::MemberId> {
    room.members().unwrap().into_iter().map(|m| m.id).collect()
}

#[test]
fn restarted_members_continue_their_chains() {
    let t = memory();
    let (a, alice, _b, bob) = alice_and_bob(&t);
    alice.send("first").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["first"]);
    alice.close().unwrap();
    drop(alice);
    let alice = a.create(&t, "Alice");
    alice.send("second").unwrap();
    alice.sync().unwrap();
    let got = bob.sync().unwrap();
    assert_eq!(texts(&got.messages), ["second"]);
    assert!(refusals(&got).is_empty(), "{:?}", got.events);
}

#[test]
fn password_rooms_and_member_rooms_refuse_each_other_clearly() {
    let t = memory();
    let (_a, _alice, _b, _bob) = alice_and_bob(&t);
    let err = Room::open(
        t.clone(),
        RoomConfig::native(DIR, "Old", "pw").with_native_iterations(1_000),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    Room::open(
        t.clone(),
        RoomConfig::native("old", "Old", "pw").with_native_iterations(1_000),
    )
    .unwrap();
    let err = Room::open(
        t.clone(),
        RoomConfig::member_room("old", "New", Arc::new(DeviceIdentity::generate())),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
}

/// SPEC §17's removal, on a real FTP server: Carol is removed and keeps polling and
/// writing, with her room object and by hand with the keys she still holds. She reads
/// nothing sent afterwards, and everything she writes after the cut is refused by all.
#[test]
fn a_removed_member_is_locked_out_on_a_real_ftp_server() {
    let server = TestFtpServer::start();
    let t: Arc<dyn Transport> = Arc::new(server.transport());
    let (a, alice, _b, bob) = alice_and_bob(&t);
    let carol = Device::new();
    alice
        .add_member(carol.identity.public(), Role::Member, false)
        .unwrap();
    let carol_room = carol.create(&t, "Carol");
    carol_room.send("Carol was here").unwrap();
    carol_room.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["Carol was here"]);
    let (old_epoch, old_key) = epoch_key(&t, &carol.identity);

    let carol_id = member_id_of(&alice, &carol);
    alice.remove_member(&carol_id).unwrap();
    alice.send("after Carol left").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["after Carol left"]);

    // Carol, who has not read the removal yet, queues a message; her room learns of the
    // removal at the next sync, keeps the message unsent (reported once), reads nothing
    // new, keeps syncing without errors, and refuses to write.
    carol_room.send("queued before she knew").unwrap();
    let got = carol_room.sync().unwrap();
    assert!(got
        .events
        .iter()
        .any(|e| matches!(e, RoomEvent::RemovedFromRoom)));
    assert!(got
        .events
        .iter()
        .any(|e| matches!(e, RoomEvent::OutboxHeld { messages: 1 })));
    assert_eq!(carol_room.outbox_len(), 0);
    carol_room.sync().unwrap();
    assert!(got.messages.is_empty(), "{:?}", texts(&got.messages));
    assert_eq!(
        carol_room.send("still here").unwrap_err().kind(),
        ErrorKind::NotAMember
    );

    // A hostile Carol writes anyway with the old epoch's key, continuing her chain, and
    // in a fresh log of another generation.
    let room_id = room_id_of(&t);
    let carol_writer = ftpchat_core::codec::derive_writer_id(
        room_id,
        &carol.identity.public().signing_key_bytes(),
        0,
    );
    let log = log_path(carol_writer);
    let (seq, prev) = last_record(&t, &log, &carol.identity, old_epoch, &old_key);
    append_forged(
        &t,
        &carol.identity,
        room_id,
        old_epoch,
        &old_key,
        seq + 1,
        prev,
        "sneaky",
    );
    append_forged_generation(
        &t,
        &carol.identity,
        room_id,
        old_epoch,
        &old_key,
        1,
        "new log",
    );
    // And she keeps polling: nothing Alice sends from now on is readable to her.
    alice.send("secret plans").unwrap();
    let alice_saw = alice.sync().unwrap();
    let got = carol_room.sync().unwrap();
    assert!(got.messages.is_empty(), "{:?}", texts(&got.messages));

    for got in [alice_saw, bob.sync().unwrap()] {
        let t = texts(&got.messages);
        assert!(!t.contains(&"sneaky") && !t.contains(&"new log"), "{t:?}");
        assert!(refusals(&got).len() >= 2, "{:?}", got.events);
    }
    // A member who joins later refuses them too (the membership log says so).
    let dave = Device::new();
    alice
        .add_member(dave.identity.public(), Role::Member, true)
        .unwrap();
    let dave_room = dave.create(&t, "Dave");
    let got = dave_room.sync().unwrap();
    let seen = texts(&got.messages);
    assert!(seen.contains(&"Carol was here"), "{seen:?}");
    assert!(seen.contains(&"secret plans"), "{seen:?}");
    assert!(
        !seen.iter().any(|s| *s == "sneaky" || *s == "new log"),
        "{seen:?}"
    );
    assert!(refusals(&got).len() >= 2, "{:?}", got.events);
    let _ = a;
}

/// A member (not an admin) writes the next commit itself: a validly signed removal of the
/// admin. Everyone rejects and reports it, nothing of it applies, and messages keep going
/// under the current epoch. (Further membership changes stop: the denial of service SPEC
/// §13 lists for members with write access.)
#[test]
fn a_forged_membership_change_by_a_member_is_rejected_by_everyone() {
    let t = memory();
    let (a, alice, b, bob) = alice_and_bob(&t);
    let state = membership_of(&t);
    let alice_id = ftpchat_core::MemberId::of(&a.identity.public());
    let recipients: Vec<_> = state.members().flat_map(|m| m.devices.clone()).collect();
    let (commit, _) = state
        .forge(
            &b.identity,
            ftpchat_core::Change::Remove {
                member: alice_id,
                cuts: Vec::new(),
            },
            state.epoch() + 1,
            Some(state.head()),
            Some(recipients),
        )
        .unwrap();
    let n = state.epoch() + 1;
    let dir = RemotePath::new(&format!("{DIR}/epochs/{n}")).unwrap();
    t.make_dir(&dir).unwrap();
    t.write_atomic(&dir.join("commit").unwrap(), &commit.encode())
        .unwrap();

    for room in [&alice, &bob] {
        let got = room.sync().unwrap();
        assert!(
            got.events
                .iter()
                .any(|e| matches!(e, RoomEvent::MembershipRejected { epoch, .. } if *epoch == n)),
            "{:?}",
            got.events
        );
        assert_eq!(room.members().unwrap().len(), 2);
    }
    alice.send("still here").unwrap();
    alice.sync().unwrap();
    assert_eq!(texts(&bob.sync().unwrap().messages), ["still here"]);
    let err = alice
        .add_member(DeviceIdentity::generate().public(), Role::Member, false)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Membership, "{err}");
}

/// The membership as the server's commits give it.
fn membership_of(t: &Arc<dyn Transport>) -> ftpchat_core::Membership {
    let mut commits = Vec::new();
    for n in 0.. {
        let path = RemotePath::new(&format!("{DIR}/epochs/{n}/commit")).unwrap();
        let mut bytes = Vec::new();
        if t.read_from(&path, 0, &mut bytes).is_err() {
            break;
        }
        commits.push(Commit::decode(&bytes).unwrap());
    }
    ftpchat_core::Membership::replay(&commits).unwrap()
}

/// SPEC §17.11: a member of a password room upgrades it. Its history stays readable with
/// the password; password clients can no longer open it, and what an old client still
/// appends is refused; new members read from their join on.
#[test]
fn a_password_room_upgraded_to_a_member_room_keeps_its_history() {
    let t = memory();
    let password = |who: &str, state: &std::path::Path| {
        RoomConfig::native(DIR, who, "old secret")
            .with_native_iterations(1_000)
            .with_state_dir(state)
    };
    let (a, b) = (Device::new(), Device::new());
    let alice_pw = Room::open(t.clone(), password("Alice", a.state.path())).unwrap();
    let bob_pw = Room::open(t.clone(), password("Bob", b.state.path())).unwrap();
    alice_pw.send("before 1").unwrap();
    alice_pw.sync().unwrap();
    // Bob reads it first, so his message comes after it even when both clocks read the
    // same millisecond (HLC ties break by device, not by send time).
    bob_pw.sync().unwrap();
    bob_pw.send("before 2").unwrap();
    bob_pw.sync().unwrap();

    alice_pw.upgrade_to_member_room(&a.identity).unwrap();
    assert!(alice_pw.is_closed());
    // Password clients cannot open it any more, with a clear error.
    let err = Room::open(t.clone(), password("Bob", b.state.path())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    // A second upgrade is refused.
    let err = bob_pw.upgrade_to_member_room(&b.identity).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Membership, "{err}");

    // Alice, now its admin, reads the old history with the old password.
    let alice = Room::open(
        t.clone(),
        RoomConfig::member_room(DIR, "Alice", a.identity.clone())
            .with_legacy_password("old secret")
            .with_state_dir(a.state.path()),
    )
    .unwrap();
    let got = alice.sync().unwrap();
    assert_eq!(texts(&got.messages), ["before 1", "before 2"]);
    assert!(got.messages[0].is_own && !got.messages[1].is_own);
    assert!(got.messages.iter().all(|m| m.signer.is_none()));
    alice.send("after").unwrap();
    alice.sync().unwrap();

    // Bob's old client keeps appending unsigned records: refused by members.
    bob_pw.send("too late").unwrap();
    bob_pw.sync().unwrap();
    let got = alice.sync().unwrap();
    assert!(got.messages.is_empty(), "{:?}", texts(&got.messages));
    assert!(
        refusals(&got)
            .iter()
            .any(|r| r.contains("after the room's upgrade")),
        "{:?}",
        got.events
    );

    // Bob is invited and joins with the old password: he reads the history too.
    let url = alice
        .invite(Role::Member, "memory://team")
        .unwrap()
        .to_url();
    let bob = Room::open(
        t.clone(),
        RoomConfig::join(
            DIR,
            "Bob",
            b.identity.clone(),
            Invitation::parse(&url).unwrap(),
        )
        .with_legacy_password("old secret")
        .with_state_dir(b.state.path()),
    )
    .unwrap();
    let got = bob.sync().unwrap();
    let seen = texts(&got.messages);
    assert!(
        seen.contains(&"before 1") && seen.contains(&"before 2"),
        "{seen:?}"
    );
    assert!(!seen.contains(&"too late"), "{seen:?}");
    // A wrong old password is refused, as in a password room.
    let err = Room::open(
        t.clone(),
        RoomConfig::member_room(DIR, "Alice", a.identity.clone()).with_legacy_password("wrong"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongPassword, "{err}");

    // Carol, without the old password, reads from her join on, with no noise about the
    // history she cannot read.
    let carol = Device::new();
    alice
        .add_member(carol.identity.public(), Role::Member, false)
        .unwrap();
    alice.send("for Carol").unwrap();
    alice.sync().unwrap();
    let got = carol.create(&t, "Carol").sync().unwrap();
    assert_eq!(texts(&got.messages), ["for Carol"]);
    assert!(
        !got.events
            .iter()
            .any(|e| matches!(e, RoomEvent::UndecodableLine { .. })),
        "{:?}",
        got.events
    );
}

/// The membership log is cached beside the state: reopening reads no commit from the
/// server, and a room opens offline from what is cached.
#[test]
fn a_reopened_room_reads_no_commit_again_and_opens_offline() {
    use ftpchat_core::testing::{FaultyTransport, Op};
    let t = memory();
    let a = Device::new();
    let alice = a.create(&t, "Alice");
    for _ in 0..20 {
        alice
            .add_member(DeviceIdentity::generate().public(), Role::Member, false)
            .unwrap();
    }
    alice.send("kept").unwrap();
    alice.sync().unwrap();
    alice.close().unwrap();
    drop(alice);

    let counting = Arc::new(FaultyTransport::from_arc(t.clone()));
    let reopened = Room::open(
        counting.clone(),
        RoomConfig::member_room(DIR, "Alice", a.identity.clone()).with_state_dir(a.state.path()),
    )
    .unwrap();
    assert_eq!(reopened.members().unwrap().len(), 21);
    // The header, and nothing of epochs/ but its listing: no commit was downloaded.
    assert_eq!(counting.calls(Op::ReadFrom), 1, "only the header is read");
    // The epoch keys come from the cache: the history still reads.
    let history: Vec<String> = reopened
        .history(None, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(history, ["kept"]);
    reopened.close().unwrap();
    drop(reopened);
    // The cache is in the local store (which is private to its owner), no file beside it.
    let store = ftpchat_core::StateLocation::Folder(a.state.path().to_path_buf())
        .store_path()
        .unwrap();
    let names: Vec<String> = std::fs::read_dir(a.state.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("room-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&store).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the store is private: {mode:o}");
    }
    // Without the cached keys the commits are checked and unwrapped again: same result.
    {
        let conn = rusqlite::Connection::open(&store).unwrap();
        let keys: i64 = conn
            .query_row("SELECT count(*) FROM epoch_keys", [], |r| r.get(0))
            .unwrap();
        assert!(keys > 0, "the epoch secrets are cached");
        conn.execute("DELETE FROM epoch_keys", []).unwrap();
    }
    let again = Room::open(
        t.clone(),
        RoomConfig::member_room(DIR, "Alice", a.identity.clone()).with_state_dir(a.state.path()),
    )
    .unwrap();
    let history: Vec<String> = again
        .history(None, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(history, ["kept"]);
    again.close().unwrap();
    drop(again);

    // Offline: every call fails as transient; the room still opens from its cache.
    let room = Room::open(
        offline(&t),
        RoomConfig::member_room(DIR, "Alice", a.identity.clone()).with_state_dir(a.state.path()),
    )
    .unwrap();
    assert_eq!(room.members().unwrap().len(), 21);
    room.send("queued offline").unwrap();
    assert_eq!(room.outbox_len(), 1);
}

// ---- attacker tools: what a member (or removed member) can do by hand ----

fn text_record(room: RoomId, seq: u64, text: &str) -> NativeRecord {
    NativeRecord {
        room,
        seq,
        ..record_by("someone", RecordBody::Text(text.into()))
    }
}

/// Appends a record signed by `who` to its own log (generation 0).
#[allow(clippy::too_many_arguments)]
fn append_forged(
    t: &Arc<dyn Transport>,
    who: &DeviceIdentity,
    room: RoomId,
    epoch: u64,
    key: &FernetKey,
    seq: u64,
    prev: [u8; 32],
    text: &str,
) {
    let link = ChainLink {
        epoch,
        prev,
        generation: 0,
    };
    let mut signed = SignedRecord::sign(text_record(room, seq, text), link, who);
    let line = signed.encode_line(key, &mut Deflater::default());
    t.append(
        &log_path(signed.record.writer),
        format!("{line}\n").as_bytes(),
    )
    .unwrap();
}

fn append_forged_generation(
    t: &Arc<dyn Transport>,
    who: &DeviceIdentity,
    room: RoomId,
    epoch: u64,
    key: &FernetKey,
    generation: u64,
    text: &str,
) {
    let link = ChainLink {
        epoch,
        prev: [0; 32],
        generation,
    };
    let mut signed = SignedRecord::sign(text_record(room, 1, text), link, who);
    let line = signed.encode_line(key, &mut Deflater::default());
    t.append(
        &log_path(signed.record.writer),
        format!("{line}\n").as_bytes(),
    )
    .unwrap();
}

/// A record that names `victim`'s device key but is signed by `signer`.
fn forge_with_device(
    signer: &DeviceIdentity,
    victim: &DeviceIdentity,
    room: RoomId,
    epoch: u64,
    key: &FernetKey,
) -> String {
    let mut forged = SignedRecord::forge(
        text_record(room, 1, "forged"),
        ChainLink {
            epoch,
            prev: [0; 32],
            generation: 0,
        },
        victim.public().signing_key_bytes(),
        signer,
    );
    forged.encode_line(key, &mut Deflater::default())
}

/// Copies every file of the room from one transport to another.
fn copy_room(from: &Arc<dyn Transport>, to: &Arc<dyn Transport>) {
    fn walk(from: &Arc<dyn Transport>, to: &Arc<dyn Transport>, dir: &str) {
        let path = RemotePath::new(dir).unwrap();
        let _ = to.make_dir(&path);
        for entry in from.list(&path).unwrap() {
            let child = format!("{dir}/{}", entry.name);
            if entry.is_dir {
                walk(from, to, &child);
            } else {
                let p = RemotePath::new(&child).unwrap();
                to.write_atomic(&p, &read_all(from, &p)).unwrap();
            }
        }
    }
    walk(from, to, DIR);
}

#[allow(dead_code)]
fn unused(_: RoomError) {}

/// A device that lost its state (a new state folder, or none) derives the same writer id
/// and so finds its log already written: it must not start a second chain in it (a fork
/// everyone refuses) but continue under its next generation's log, and every member
/// reads what it sends.
#[test]
fn a_device_that_lost_its_state_writes_a_new_log_that_everyone_reads() {
    let t = memory();
    let (_a, alice, b, bob) = alice_and_bob(&t);
    bob.send("before the loss").unwrap();
    bob.sync().unwrap();
    assert_eq!(texts(&alice.sync().unwrap().messages), ["before the loss"]);
    bob.close().unwrap();
    drop(bob);

    let new_folder = tempfile::tempdir().unwrap();
    let config =
        RoomConfig::member_room(DIR, "Bob", b.identity.clone()).with_state_dir(new_folder.path());
    let bob = Room::open(t.clone(), config).unwrap();
    // Sent before the first sync too: the outbox moves to the new log with it.
    bob.send("after the loss").unwrap();
    let update = bob.sync().unwrap();
    assert!(
        update
            .events
            .iter()
            .any(|e| matches!(e, RoomEvent::WriterIdConflict { .. })),
        "{:?}",
        update.events
    );
    let got = alice.sync().unwrap();
    assert_eq!(texts(&got.messages), ["after the loss"], "{:?}", got.events);
    assert!(refusals(&got).is_empty(), "{:?}", got.events);

    // Once more without any state folder: a third log, read as well.
    let bob_again = Room::open(
        t.clone(),
        RoomConfig::member_room(DIR, "Bob", b.identity.clone()),
    )
    .unwrap();
    let seen = bob_again.sync().unwrap();
    assert!(
        seen.messages.iter().all(|m| m.is_own),
        "{:?}",
        seen.messages
    );
    bob_again.send("no state at all").unwrap();
    bob_again.sync().unwrap();
    let got = alice.sync().unwrap();
    assert_eq!(
        texts(&got.messages),
        ["no state at all"],
        "{:?}",
        got.events
    );
    assert!(refusals(&got).is_empty(), "{:?}", got.events);
    // "after the loss" was sent on a fresh clock that had read nothing: it may carry the
    // millisecond of "before the loss" and sort before it (HLC ties break by writer id).
    let mut all = all_texts(&alice);
    all.sort();
    assert_eq!(
        all,
        ["after the loss", "before the loss", "no state at all"]
    );
}

/// A long log is read a batch of lines at a time, on a first sync and again when a
/// device reads its history from the server (here: a state folder from before the local
/// store migrates): the chain check goes on across batches (a batch boundary is not a
/// break in the chain), so nothing is refused and no message is missing.
#[test]
fn a_long_log_is_read_in_batches_and_its_chain_holds_across_them() {
    let t = memory();
    // Alice without a state folder: a send then costs no save (fast to write 2,500).
    let (a, b) = (Device::new(), Device::new());
    let alice = Room::open(
        t.clone(),
        RoomConfig::member_room(DIR, "Alice", a.identity.clone()),
    )
    .unwrap();
    let invitation = alice.invite(Role::Member, "memory://team").unwrap();
    let bob = b.join(&t, "Bob", &invitation.to_url());
    bob.sync().unwrap();
    let want: Vec<String> = (0..2_500).map(|i| format!("m{i}")).collect();
    for text in &want {
        alice.send(text).unwrap();
    }
    alice.sync().unwrap();
    let first = bob.sync().unwrap();
    assert!(refusals(&first).is_empty(), "{:?}", refusals(&first));
    assert_eq!(
        first.messages.len() as u64 + first.messages_left_out(),
        2_500
    );
    assert_eq!(first.messages.last().unwrap().text, "m2499");
    drop(bob);

    // What a version before the store left: a state file, no store, no `stored` line.
    // The reopened room reads its history from the server once, every log from its
    // start.
    let files = ftpchat_core::testing::downgrade_state_folder(b.state.path()).unwrap();
    assert_eq!(files.len(), 1);
    let state_file = files[0].clone();
    ftpchat_core::LocalStore::remove(
        ftpchat_core::StateLocation::Folder(b.state.path().to_path_buf())
            .store_path()
            .unwrap(),
    )
    .unwrap();
    let text = std::fs::read_to_string(&state_file).unwrap();
    let old: String = text
        .lines()
        .filter(|l| *l != "stored 1")
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text, "the state file said its store was complete");
    std::fs::write(&state_file, old).unwrap();
    let bob = b.create(&t, "Bob");
    assert_eq!(all_texts(&bob), want);
}

/// Runs `hook` once, just before the first read of a file under `logs/`: after the poll
/// read the membership, before it reads the records.
struct BeforeLogRead {
    inner: Arc<dyn Transport>,
    hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for BeforeLogRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeLogRead")
    }
}

impl Transport for BeforeLogRead {
    fn capabilities(&self) -> ftpchat_core::Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn size(&self, path: &RemotePath) -> Result<Option<u64>, ftpchat_core::TransportError> {
        self.inner.size(path)
    }
    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn std::io::Write,
    ) -> Result<u64, ftpchat_core::TransportError> {
        if path.as_str().contains("/logs/") {
            let hook = self.hook.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
        }
        self.inner.read_from(path, offset, sink)
    }
    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), ftpchat_core::TransportError> {
        self.inner.append(path, data)
    }
    fn write_atomic(
        &self,
        path: &RemotePath,
        data: &[u8],
    ) -> Result<(), ftpchat_core::TransportError> {
        self.inner.write_atomic(path, data)
    }
    fn list(
        &self,
        dir: &RemotePath,
    ) -> Result<Vec<ftpchat_core::DirEntry>, ftpchat_core::TransportError> {
        self.inner.list(dir)
    }
    fn make_dir(&self, path: &RemotePath) -> Result<(), ftpchat_core::TransportError> {
        self.inner.make_dir(path)
    }
    fn remove_file(&self, path: &RemotePath) -> Result<(), ftpchat_core::TransportError> {
        self.inner.remove_file(path)
    }
    fn remove_dir(&self, path: &RemotePath) -> Result<(), ftpchat_core::TransportError> {
        self.inner.remove_dir(path)
    }
    fn rename(
        &self,
        from: &RemotePath,
        to: &RemotePath,
    ) -> Result<(), ftpchat_core::TransportError> {
        self.inner.rename(from, to)
    }
}

/// A record of an epoch whose commit appeared after the poll read the membership (the
/// server is slow, or the admin quick) is decoded in that same poll: the read holds the
/// lines from the first one it cannot decode yet, reads the membership again, then
/// decodes them. Nothing of the log is skipped for good.
#[test]
fn records_of_an_epoch_committed_during_the_poll_are_read_in_that_poll() {
    let t = memory();
    let (_a, alice, b, _bob) = alice_and_bob(&t);
    let gate = Arc::new(BeforeLogRead {
        inner: t.clone(),
        hook: std::sync::Mutex::new(None),
    });
    let gated: Arc<dyn Transport> = gate.clone();
    drop(_bob);
    let bob = b.create(&gated, "Bob");
    bob.sync().unwrap();
    alice.send("before the commit").unwrap();
    alice.sync().unwrap();
    let alice = Arc::new(alice);
    let admin = alice.clone();
    *gate.hook.lock().unwrap() = Some(Box::new(move || {
        let carol = DeviceIdentity::generate();
        admin
            .add_member(carol.public(), Role::Member, false)
            .unwrap();
        admin.send("after the commit").unwrap();
        admin.sync().unwrap();
    }));
    let update = bob.sync().unwrap();
    assert!(gate.hook.lock().unwrap().is_none(), "the hook ran");
    assert_eq!(
        texts(&update.messages),
        ["before the commit", "after the commit"],
        "{:?}",
        update.events
    );
}

/// A member who writes a record under the id of an old message that only the reader's
/// store holds now (out of its memory window) is reported, not shown, and the message
/// stays as it was: the reader asks its store whose the id is.
#[test]
fn a_member_reusing_the_id_of_a_message_out_of_memory_is_reported() {
    let t = memory();
    let (a, b, dave) = (Device::new(), Device::new(), Device::new());
    let alice = Room::open(
        t.clone(),
        RoomConfig::member_room(DIR, "Alice", a.identity.clone()),
    )
    .unwrap();
    alice
        .add_member(dave.identity.public(), Role::Member, false)
        .unwrap();
    let invitation = alice.invite(Role::Member, "memory://team").unwrap();
    let bob = b.join(&t, "Bob", &invitation.to_url());
    bob.sync().unwrap();
    let ids: Vec<_> = (0..1_500)
        .map(|i| alice.send(&format!("m{i}")).unwrap())
        .collect();
    alice.sync().unwrap();
    bob.sync().unwrap();
    assert!(bob.messages_in_memory() <= 1_000, "m0 left Bob's memory");

    let (epoch, key) = epoch_key(&t, &dave.identity);
    let forged = NativeRecord {
        id: ftpchat_core::codec::RecordId(ids[0].0),
        ..record_by("Dave", RecordBody::Text("not m0".into()))
    };
    append_as_member(&t, &dave.identity, epoch, &key, forged);
    let update = bob.sync().unwrap();
    assert!(update.messages.is_empty(), "{:?}", texts(&update.messages));
    assert!(
        update
            .events
            .iter()
            .any(|e| matches!(e, RoomEvent::DuplicateRecordId { .. })),
        "{:?}",
        update.events
    );
    assert_eq!(bob.message(&ids[0]).unwrap().text, "m0");
}
