//! Members and epochs (SPEC §17): commits replayed under the rules, every rule violation
//! refused with its typed error and the state unchanged, attacker cases (removed members,
//! racing admins), history sharing, invitations, and the vectors in
//! `testdata/membership-v1.json`.
//!
//! Regenerate the vectors (only when the format changes on purpose, with a SPEC change):
//! `FTPCHAT_WRITE_MEMBERSHIP_VECTORS=1 cargo test -p ftpchat-core --test group vectors`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ftpchat_core::codec::{RoomId, WriterId};
use ftpchat_core::{
    Change, Commit, DeviceIdentity, EpochSecret, GroupError, Invitation, LogCut, MemberId,
    Membership, PublicIdentity, Role, WriteRefusal, MAX_COMMIT_LEN, MAX_INVITATION_LEN,
};
use serde_json::{json, Value};

const ROOM: RoomId = RoomId([7u8; 16]);

fn id(n: u8) -> DeviceIdentity {
    DeviceIdentity::from_secret_bytes([n; 32], [n.wrapping_add(100); 32])
}

fn mid(d: &DeviceIdentity) -> MemberId {
    MemberId::of(&d.public())
}

fn ed(d: &DeviceIdentity) -> [u8; 32] {
    d.public().signing_key_bytes()
}

/// Proposes, applies and returns the commit and secret; panics on error.
fn step(
    state: &mut Membership,
    log: &mut Vec<Commit>,
    author: &DeviceIdentity,
    change: Change,
) -> EpochSecret {
    let (c, s) = state.propose(author, change, 1_000, &[]).unwrap();
    state.apply(&c).unwrap();
    log.push(c);
    s
}

fn add(device: &DeviceIdentity, role: Role) -> Change {
    Change::Add {
        device: device.public(),
        role,
        share_history: false,
    }
}

/// The state is unchanged if its epoch, head and members are.
fn snapshot(s: &Membership) -> (u64, [u8; 32], Vec<(MemberId, Role, usize)>) {
    (
        s.epoch(),
        s.head(),
        s.members()
            .map(|m| (m.id, m.role, m.devices.len()))
            .collect(),
    )
}

/// Applying `c` fails with `want` and leaves the state as it was.
fn refused(state: &mut Membership, c: &Commit, want: GroupError) {
    let before = snapshot(state);
    assert_eq!(state.apply(c).unwrap_err(), want);
    assert_eq!(snapshot(state), before);
}

#[test]
fn create_add_invite_accept_promote_add_device_remove_replay() {
    let (alice, bob, carol, inv, bob2) = (id(1), id(2), id(3), id(4), id(5));
    let (mut s, c0, s0) = Membership::create(ROOM, &alice, 1);
    let mut log = vec![c0.clone()];
    assert_eq!(s.epoch(), 0);
    assert_eq!(s.head(), c0.hash());
    assert_eq!(
        c0.open_secret(&alice)
            .unwrap()
            .unwrap()
            .message_key(ROOM, 0),
        s0.message_key(ROOM, 0)
    );

    step(&mut s, &mut log, &alice, add(&bob, Role::Member));
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Invite {
            invite: inv.public(),
            role: Role::Member,
        },
    );
    assert_eq!(s.invites().count(), 1);
    // The invitation key reads the state while pending.
    assert!(log[2].open_secret(&inv).unwrap().is_some());
    step(
        &mut s,
        &mut log,
        &inv,
        Change::Accept {
            device: carol.public(),
        },
    );
    assert_eq!(s.invites().count(), 0);
    assert_eq!(s.member(&mid(&carol)).unwrap().role, Role::Member);
    assert_eq!(s.member(&mid(&carol)).unwrap().joined_epoch, 3);
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Promote { member: mid(&bob) },
    );
    step(
        &mut s,
        &mut log,
        &bob,
        Change::AddDevice {
            member: mid(&bob),
            device: bob2.public(),
            share_history: false,
        },
    );
    assert_eq!(
        s.member(&mid(&bob)).unwrap().devices,
        vec![bob.public(), bob2.public()]
    );
    assert_eq!(s.member_of_device(&ed(&bob2)).unwrap().id, mid(&bob));
    step(
        &mut s,
        &mut log,
        &bob,
        Change::Remove {
            member: mid(&alice),
            cuts: vec![],
        },
    );
    assert_eq!(s.epoch(), 6);
    assert!(s.member(&mid(&alice)).is_none());
    assert!(s.member_of_device(&ed(&alice)).is_none());

    // Replay from bytes gives the same state.
    let decoded: Vec<Commit> = log
        .iter()
        .map(|c| Commit::decode(&c.encode()).unwrap())
        .collect();
    let r = Membership::replay_anchored(&decoded, &c0.hash()).unwrap();
    assert_eq!(snapshot(&r), snapshot(&s));
    assert_eq!(
        Membership::replay_anchored(&decoded, &[0u8; 32]).unwrap_err(),
        GroupError::AnchorMismatch
    );
    assert_eq!(
        Membership::replay(&[]).unwrap_err(),
        GroupError::EmptyHistory
    );
    // Every active device opens the last epoch; alice does not.
    for d in [&bob, &bob2, &carol] {
        assert!(log[6].open_secret(d).unwrap().is_some());
    }
    assert!(log[6].open_secret(&alice).unwrap().is_none());
}

fn room3() -> (Membership, Vec<Commit>, [DeviceIdentity; 3]) {
    let (alice, bob, carol) = (id(1), id(2), id(3));
    let (mut s, c0, _) = Membership::create(ROOM, &alice, 1);
    let mut log = vec![c0];
    step(&mut s, &mut log, &alice, add(&bob, Role::Member));
    step(&mut s, &mut log, &alice, add(&carol, Role::Member));
    (s, log, [alice, bob, carol])
}

#[test]
fn non_admin_cannot_add_invite_remove_or_promote() {
    let (mut s, _, [alice, bob, carol]) = room3();
    let dave = id(9);
    for change in [
        add(&dave, Role::Member),
        Change::Invite {
            invite: dave.public(),
            role: Role::Admin,
        },
        Change::Remove {
            member: mid(&carol),
            cuts: vec![],
        },
        Change::Promote { member: mid(&bob) },
        Change::AddDevice {
            member: mid(&carol),
            device: dave.public(),
            share_history: false,
        },
    ] {
        let err = s.propose(&bob, change.clone(), 0, &[]).unwrap_err();
        assert!(matches!(err, GroupError::NotAllowed { .. }), "{err:?}");
        let (c, _) = s
            .forge(&bob, change, s.epoch() + 1, Some(s.head()), Some(vec![]))
            .unwrap();
        let before = snapshot(&s);
        assert!(matches!(
            s.apply(&c).unwrap_err(),
            GroupError::NotAllowed { .. }
        ));
        assert_eq!(snapshot(&s), before);
    }
    // An admin may do each of these.
    s.propose(&alice, Change::Promote { member: mid(&bob) }, 0, &[])
        .unwrap();
}

#[test]
fn removed_admin_cannot_act() {
    let (mut s, mut log, [alice, bob, carol]) = room3();
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Promote { member: mid(&bob) },
    );
    step(
        &mut s,
        &mut log,
        &bob,
        Change::Remove {
            member: mid(&alice),
            cuts: vec![],
        },
    );
    let err = s.propose(
        &alice,
        Change::Remove {
            member: mid(&carol),
            cuts: vec![],
        },
        0,
        &[],
    );
    assert_eq!(err.unwrap_err(), GroupError::UnknownAuthor);
    let (c, _) = s
        .forge(
            &alice,
            Change::Remove {
                member: mid(&carol),
                cuts: vec![],
            },
            s.epoch() + 1,
            Some(s.head()),
            Some(vec![bob.public()]),
        )
        .unwrap();
    refused(&mut s, &c, GroupError::UnknownAuthor);
    // A stranger neither.
    let (c, _) = s
        .forge(
            &id(77),
            add(&id(78), Role::Member),
            s.epoch() + 1,
            Some(s.head()),
            Some(vec![]),
        )
        .unwrap();
    refused(&mut s, &c, GroupError::UnknownAuthor);
}

#[test]
fn wrong_prev_wrong_epoch_skipped_epoch_wrong_room_genesis() {
    let (mut s, _, [alice, bob, _]) = room3();
    let fork = s.clone();
    let (a, _) = s
        .propose(&alice, Change::Promote { member: mid(&bob) }, 0, &[])
        .unwrap();
    let (b, _) = s
        .propose(&alice, add(&id(9), Role::Member), 0, &[])
        .unwrap();
    s.apply(&a).unwrap();
    // Stale: same epoch as the head.
    refused(
        &mut s,
        &b,
        GroupError::WrongEpoch {
            expected: 4,
            found: 3,
        },
    );
    // Right epoch, wrong prev: a commit following the fork's other branch.
    let mut other = fork.clone();
    other.apply(&b).unwrap();
    let (b2, _) = other
        .propose(&alice, add(&id(10), Role::Member), 0, &[])
        .unwrap();
    refused(&mut s, &b2, GroupError::WrongPrev);
    // Skipped epoch.
    let (c5, _) = s
        .forge(
            &alice,
            add(&id(11), Role::Member),
            s.epoch() + 2,
            Some(s.head()),
            None,
        )
        .unwrap();
    refused(
        &mut s,
        &c5,
        GroupError::WrongEpoch {
            expected: 4,
            found: 5,
        },
    );
    // Another room.
    let (_, c0, _) = Membership::create(RoomId([8; 16]), &alice, 0);
    refused(&mut s, &c0, GroupError::WrongRoom);
    // Create after epoch 0, and a history not starting with Create.
    let (c, _) = s
        .forge(
            &alice,
            Change::Create,
            s.epoch() + 1,
            Some(s.head()),
            Some(vec![]),
        )
        .unwrap();
    refused(&mut s, &c, GroupError::BadGenesis);
    assert_eq!(
        Membership::replay(&[a]).unwrap_err(),
        GroupError::BadGenesis
    );
    assert_eq!(
        s.propose(&alice, Change::Create, 0, &[]).unwrap_err(),
        GroupError::BadGenesis
    );
}

#[test]
fn forged_signature_and_tampered_bytes() {
    let (s, _, [alice, bob, carol]) = room3();
    let (c, _) = s
        .propose(&alice, Change::Promote { member: mid(&bob) }, 0, &[])
        .unwrap();
    let bytes = c.encode();
    // Flip one byte in each region: header, a wrapped key, the signature.
    let n = bytes.len();
    for at in [20, n / 2, n - 5] {
        let mut t = bytes.clone();
        t[at] ^= 0x01;
        let err = Commit::decode(&t).unwrap_err();
        assert!(
            matches!(err, GroupError::BadSignature | GroupError::Malformed { .. }),
            "byte {at}: {err:?}"
        );
    }
    // The same commit re-signed by another key than its author.
    let (forged, _) = s
        .forge(
            &bob,
            Change::Promote { member: mid(&bob) },
            s.epoch() + 1,
            Some(s.head()),
            Some(vec![alice.public(), bob.public(), carol.public()]),
        )
        .unwrap();
    let mut f = forged.clone();
    f.author = alice.public();
    let mut st = s.clone();
    refused(&mut st, &f, GroupError::BadSignature);
    assert_eq!(
        Commit::decode(&f.encode()).unwrap_err(),
        GroupError::BadSignature
    );
    // A field changed after signing is caught by apply too.
    let mut g = c.clone();
    g.time_ms += 1;
    refused(&mut st, &g, GroupError::BadSignature);
}

#[test]
fn tampered_wrapped_key_does_not_open() {
    let (s, _, [alice, bob, carol]) = room3();
    let (c, secret) = s
        .propose(&alice, Change::Promote { member: mid(&bob) }, 0, &[])
        .unwrap();
    // The wraps bind the header: a commit with another header around the same wraps is not
    // signed, and a ciphertext changed in place fails to open. Find bob's wrap ciphertext
    // (48 bytes after its `03 30` field header) and flip a bit, then open without the
    // signature check (decode refuses it first).
    let mut bytes = c.encode();
    let bob_key = ed(&bob);
    let pos = bytes.windows(32).position(|w| w == bob_key).unwrap();
    // recipient(32) | 02 20 enc(32) | 03 30 ct(48)
    let ct_at = pos + 32 + 2 + 32 + 2;
    bytes[ct_at] ^= 0x80;
    assert_eq!(
        Commit::decode(&bytes).unwrap_err(),
        GroupError::BadSignature
    );
    // Still: the genuine wraps open to the same secret for each recipient.
    for d in [&alice, &bob, &carol] {
        let got = c.open_secret(d).unwrap().unwrap();
        assert_eq!(got.message_key(ROOM, 3), secret.message_key(ROOM, 3));
    }
}

#[test]
fn wrap_set_must_match_devices_exactly() {
    let (mut s, _, [alice, bob, carol]) = room3();
    let change = Change::Promote { member: mid(&bob) };
    let e = s.epoch() + 1;
    let h = Some(s.head());
    // Missing a device.
    let (c, _) = s
        .forge(
            &alice,
            change.clone(),
            e,
            h,
            Some(vec![alice.public(), bob.public()]),
        )
        .unwrap();
    refused(&mut s, &c, GroupError::WrongRecipients);
    // An extra device (a stranger).
    let all = vec![
        alice.public(),
        bob.public(),
        carol.public(),
        id(50).public(),
    ];
    let (c, _) = s.forge(&alice, change.clone(), e, h, Some(all)).unwrap();
    refused(&mut s, &c, GroupError::WrongRecipients);
    // A removed member still in the set.
    let mut log = vec![];
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Remove {
            member: mid(&carol),
            cuts: vec![],
        },
    );
    let (c, _) = s
        .forge(
            &alice,
            change,
            s.epoch() + 1,
            Some(s.head()),
            Some(vec![alice.public(), bob.public(), carol.public()]),
        )
        .unwrap();
    refused(&mut s, &c, GroupError::WrongRecipients);
}

#[test]
fn removed_key_is_never_readded_and_last_admin_cannot_leave() {
    let (mut s, mut log, [alice, bob, carol]) = room3();
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Remove {
            member: mid(&carol),
            cuts: vec![],
        },
    );
    for change in [
        add(&carol, Role::Member),
        Change::Invite {
            invite: carol.public(),
            role: Role::Member,
        },
        Change::AddDevice {
            member: mid(&bob),
            device: carol.public(),
            share_history: false,
        },
        add(&bob, Role::Member),
    ] {
        assert_eq!(
            s.propose(&alice, change.clone(), 0, &[]).unwrap_err(),
            GroupError::KeyReused
        );
        let (c, _) = s
            .forge(&alice, change, s.epoch() + 1, Some(s.head()), Some(vec![]))
            .unwrap();
        refused(&mut s, &c, GroupError::KeyReused);
    }
    // Alice is the only admin: she may not leave; bob (a member) may.
    let leave = Change::Remove {
        member: mid(&alice),
        cuts: vec![],
    };
    assert_eq!(
        s.propose(&alice, leave.clone(), 0, &[]).unwrap_err(),
        GroupError::NoAdminLeft
    );
    let (c, _) = s
        .forge(
            &alice,
            leave,
            s.epoch() + 1,
            Some(s.head()),
            Some(vec![bob.public()]),
        )
        .unwrap();
    refused(&mut s, &c, GroupError::NoAdminLeft);
    step(
        &mut s,
        &mut log,
        &bob,
        Change::Remove {
            member: mid(&bob),
            cuts: vec![],
        },
    );
    assert_eq!(s.members().count(), 1);
    // Promoting an admin changes nothing.
    assert_eq!(
        s.propose(
            &alice,
            Change::Promote {
                member: mid(&alice)
            },
            0,
            &[]
        )
        .unwrap_err(),
        GroupError::NoEffect
    );
    assert_eq!(
        s.propose(&alice, Change::Promote { member: mid(&bob) }, 0, &[])
            .unwrap_err(),
        GroupError::UnknownMember
    );
}

#[test]
fn removed_member_is_locked_out() {
    let (mut s, mut log, [alice, bob, carol]) = room3();
    let w = WriterId([0xcc; 16]);
    let other_log = WriterId([0xdd; 16]);
    let cut = LogCut {
        writer: w,
        seq: 10,
        record_hash: [0x11; 32],
    };
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Remove {
            member: mid(&carol),
            cuts: vec![cut],
        },
    );
    let r = s.epoch();
    // It cannot open the next epoch's secret, nor any later one.
    assert!(log.last().unwrap().open_secret(&carol).unwrap().is_none());
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Promote { member: mid(&bob) },
    );
    assert!(log.last().unwrap().open_secret(&carol).unwrap().is_none());
    assert!(log.last().unwrap().open_secret(&bob).unwrap().is_some());
    // Records up to the cut, before the removal epoch, stay valid.
    let c = ed(&carol);
    assert_eq!(s.may_write(&c, w, 9, r - 1, &[0; 32]), Ok(()));
    assert_eq!(s.may_write(&c, w, 10, r - 1, &[0x11; 32]), Ok(()));
    assert_eq!(
        s.may_write(&c, w, 10, r - 1, &[0x12; 32]),
        Err(WriteRefusal::CutMismatch)
    );
    assert_eq!(
        s.may_write(&c, w, 11, r - 1, &[0; 32]),
        Err(WriteRefusal::AfterCut)
    );
    assert_eq!(
        s.may_write(&c, other_log, 1, r - 1, &[0; 32]),
        Err(WriteRefusal::AfterCut)
    );
    assert_eq!(
        s.may_write(&c, w, 1, r, &[0; 32]),
        Err(WriteRefusal::AfterRemoval {
            epoch: r,
            removed: r
        })
    );
    assert_eq!(
        s.may_write(&c, w, 1, r + 1, &[0; 32]),
        Err(WriteRefusal::AfterRemoval {
            epoch: r + 1,
            removed: r
        })
    );
    // Carol joined at epoch 2: nothing before.
    assert_eq!(
        s.may_write(&c, w, 1, 1, &[0; 32]),
        Err(WriteRefusal::BeforeJoin { epoch: 1, added: 2 })
    );
    // Active members: anything from their join to the current epoch.
    let b = ed(&bob);
    assert_eq!(s.may_write(&b, w, 99, s.epoch(), &[0; 32]), Ok(()));
    assert_eq!(
        s.may_write(&b, w, 1, s.epoch() + 1, &[0; 32]),
        Err(WriteRefusal::FutureEpoch {
            epoch: s.epoch() + 1,
            current: s.epoch()
        })
    );
    assert_eq!(
        s.may_write(&ed(&id(99)), w, 1, 0, &[0; 32]),
        Err(WriteRefusal::UnknownDevice)
    );
}

#[test]
fn two_admins_removing_each_other_first_wins() {
    let (mut s, mut log, [alice, bob, _]) = room3();
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Promote { member: mid(&bob) },
    );
    let (a, _) = s
        .propose(
            &alice,
            Change::Remove {
                member: mid(&bob),
                cuts: vec![],
            },
            0,
            &[],
        )
        .unwrap();
    let (b, _) = s
        .propose(
            &bob,
            Change::Remove {
                member: mid(&alice),
                cuts: vec![],
            },
            0,
            &[],
        )
        .unwrap();
    // Whoever claims `epochs/<n>` first wins; here alice.
    s.apply(&a).unwrap();
    let e = s.epoch();
    refused(
        &mut s,
        &b,
        GroupError::WrongEpoch {
            expected: e + 1,
            found: e,
        },
    );
    // Bob re-proposes on the new state: he is no longer a member.
    assert_eq!(
        s.propose(
            &bob,
            Change::Remove {
                member: mid(&alice),
                cuts: vec![]
            },
            0,
            &[]
        )
        .unwrap_err(),
        GroupError::UnknownAuthor
    );
    assert!(s.member(&mid(&alice)).is_some());
}

#[test]
fn add_racing_remove() {
    let (mut s, mut log, [alice, bob, carol]) = room3();
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Promote { member: mid(&bob) },
    );
    let dave = id(20);
    // Bob adds dave while alice removes bob: both built on the same state.
    let (add_c, _) = s.propose(&bob, add(&dave, Role::Member), 0, &[]).unwrap();
    let (rm, _) = s
        .propose(
            &alice,
            Change::Remove {
                member: mid(&bob),
                cuts: vec![],
            },
            0,
            &[],
        )
        .unwrap();
    let mut t = s.clone();
    // Order 1: remove wins; the add is stale and bob may no longer add.
    s.apply(&rm).unwrap();
    assert!(matches!(
        s.apply(&add_c).unwrap_err(),
        GroupError::WrongEpoch { .. }
    ));
    assert_eq!(
        s.propose(&bob, add(&dave, Role::Member), 0, &[])
            .unwrap_err(),
        GroupError::UnknownAuthor
    );
    // Order 2: the add wins; the removal is stale, re-proposed it succeeds and dave stays.
    t.apply(&add_c).unwrap();
    assert!(matches!(
        t.apply(&rm).unwrap_err(),
        GroupError::WrongEpoch { .. }
    ));
    let (rm2, _) = t
        .propose(
            &alice,
            Change::Remove {
                member: mid(&bob),
                cuts: vec![],
            },
            0,
            &[],
        )
        .unwrap();
    t.apply(&rm2).unwrap();
    assert!(t.member(&mid(&dave)).is_some());
    assert!(rm2.open_secret(&dave).unwrap().is_some());
    assert!(rm2.open_secret(&bob).unwrap().is_none());
    let _ = carol;
}

#[test]
fn new_member_reads_from_join_unless_history_shared() {
    let (alice, bob, carol) = (id(1), id(2), id(3));
    let (mut s, c0, s0) = Membership::create(ROOM, &alice, 1);
    let mut log = vec![c0];
    let s1 = step(&mut s, &mut log, &alice, add(&bob, Role::Member));
    let s2 = step(
        &mut s,
        &mut log,
        &alice,
        Change::Promote { member: mid(&bob) },
    );
    // Without history: carol opens only her join epoch.
    let (c3, s3) = s
        .propose(&alice, add(&carol, Role::Member), 0, &[])
        .unwrap();
    for (i, c) in log.iter().enumerate() {
        assert!(c.open_secret(&carol).unwrap().is_none(), "epoch {i}");
    }
    assert_eq!(
        c3.open_secret(&carol)
            .unwrap()
            .unwrap()
            .message_key(ROOM, 3),
        s3.message_key(ROOM, 3)
    );
    assert!(c3.open_history(&carol).unwrap().is_empty());
    // A history for a change that does not share it is refused.
    assert!(matches!(
        s.propose(&alice, add(&carol, Role::Member), 0, &[(0, &s0)])
            .unwrap_err(),
        GroupError::BadHistory { .. }
    ));
    // With history: exactly the shared epochs (1 and 2, not 0).
    let share = Change::Add {
        device: carol.public(),
        role: Role::Member,
        share_history: true,
    };
    let (c3h, _) = s.propose(&alice, share, 0, &[(2, &s2), (1, &s1)]).unwrap();
    let c3h = Commit::decode(&c3h.encode()).unwrap();
    s.clone().apply(&c3h).unwrap();
    let got = c3h.open_history(&carol).unwrap();
    assert_eq!(got.iter().map(|(e, _)| *e).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(got[0].1.message_key(ROOM, 1), s1.message_key(ROOM, 1));
    assert_eq!(got[1].1.message_key(ROOM, 2), s2.message_key(ROOM, 2));
    // Other members get nothing from the bundle.
    assert!(c3h.open_history(&bob).unwrap().is_empty());
    // Epochs must be before the commit's.
    let share = Change::Add {
        device: carol.public(),
        role: Role::Member,
        share_history: true,
    };
    assert!(matches!(
        s.propose(&alice, share, 0, &[(3, &s2)]).unwrap_err(),
        GroupError::BadHistory { .. }
    ));
    // A second device of bob with history.
    let bob2 = id(6);
    let (c, _) = s
        .propose(
            &bob,
            Change::AddDevice {
                member: mid(&bob),
                device: bob2.public(),
                share_history: true,
            },
            0,
            &[(1, &s1)],
        )
        .unwrap();
    assert_eq!(c.open_history(&bob2).unwrap().len(), 1);
}

#[test]
fn invitation_url_round_trip_and_errors() {
    let (alice, inv) = (id(1), id(4));
    let (s, c0, _) = Membership::create(ROOM, &alice, 1);
    let i = Invitation::new(
        "ftp://host/rooms/x y&z=ü",
        s.room(),
        c0.hash(),
        Role::Member,
        &inv,
    )
    .unwrap();
    let url = i.to_url();
    assert!(url.starts_with("ftpchat://join?v=1&room=07070707"));
    let p = Invitation::parse(&url).unwrap();
    assert_eq!(p.location(), "ftp://host/rooms/x y&z=ü");
    assert_eq!(p.room(), ROOM);
    assert_eq!(p.anchor(), c0.hash());
    assert_eq!(p.role(), Role::Member);
    assert_eq!(p.invite_public(), inv.public());
    assert_eq!(p.invite_identity().public(), inv.public());
    // Debug shows no secret.
    let key_part = url.split("key=").nth(1).unwrap().split('&').next().unwrap();
    let dbg = format!("{p:?} {i:?}");
    assert!(!dbg.contains(key_part) && !dbg.contains("key"), "{dbg}");

    let bad = |s: &str| match Invitation::parse(s) {
        Err(GroupError::InvalidInvitation { reason }) => reason,
        other => panic!("{s}: {other:?}"),
    };
    bad(&url.replace("ftpchat://join?", "ftpchat://joim?"));
    bad(&url.replace("v=1", "v=2"));
    bad(&url.replace("role=member", "role=owner"));
    bad(&format!("{url}&v=1"));
    bad(&url.replace(&key_part[..4], "!!!!"));
    bad(&url.replace(key_part, &key_part[..80]));
    bad(&url.replace("room=07", "room=0g"));
    bad(&format!("{url}%zz"));
    bad(&format!("{url}{}", "a".repeat(MAX_INVITATION_LEN)));
    bad("ftpchat://join?");
    // Unknown parameters are ignored.
    assert!(Invitation::parse(&format!("{url}&future=1")).is_ok());
}

#[test]
fn pending_invitation_can_be_revoked() {
    let (alice, inv, carol) = (id(1), id(4), id(3));
    let (mut s, c0, _) = Membership::create(ROOM, &alice, 1);
    let mut log = vec![c0];
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Invite {
            invite: inv.public(),
            role: Role::Admin,
        },
    );
    step(
        &mut s,
        &mut log,
        &alice,
        Change::Remove {
            member: MemberId::of(&inv.public()),
            cuts: vec![],
        },
    );
    assert!(log.last().unwrap().open_secret(&inv).unwrap().is_none());
    assert_eq!(
        s.propose(
            &inv,
            Change::Accept {
                device: carol.public()
            },
            0,
            &[]
        )
        .unwrap_err(),
        GroupError::UnknownAuthor
    );
}

#[test]
fn debug_shows_no_secret() {
    let alice = id(1);
    let (s, c0, secret) = Membership::create(ROOM, &alice, 1);
    assert_eq!(format!("{secret:?}"), "EpochSecret(..)");
    let dbg = format!("{s:?} {c0:?}");
    assert!(!dbg.contains("EpochSecret(["));
    let _ = EpochSecret::from_bytes([1; 32]);
}

#[test]
fn decode_is_bounded_and_never_panics() {
    assert!(matches!(
        Commit::decode(&vec![0u8; MAX_COMMIT_LEN + 1]).unwrap_err(),
        GroupError::TooLong { .. }
    ));
    assert!(matches!(
        Commit::decode(&[]).unwrap_err(),
        GroupError::Malformed { .. }
    ));
    let (s, _, [alice, bob, _]) = room3();
    let (c, _) = s
        .propose(&alice, Change::Promote { member: mid(&bob) }, 0, &[])
        .unwrap();
    let bytes = c.encode();
    for n in 0..bytes.len() {
        assert!(Commit::decode(&bytes[..n]).is_err());
    }
    // Version 2.
    let mut v2 = bytes.clone();
    v2[2] = 2;
    assert_eq!(
        Commit::decode(&v2).unwrap_err(),
        GroupError::UnsupportedVersion { version: 2 }
    );
    // A trailing unknown field.
    let mut t = bytes.clone();
    t.extend_from_slice(&[0x20, 0x00]);
    assert!(Commit::decode(&t).is_err());
}

// --- vectors ---

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/membership-v1.json")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The vector history: alice creates, adds bob, invites (key 4), the invitee accepts as
/// carol, bob's second device is linked with history, alice removes carol with a cut.
/// Identities are fixed; epoch secrets and HPKE ephemerals are random, so the file
/// records the commits' bytes, and the test checks decode, replay, hashes, members and
/// every device's `open_secret` (message keys of each epoch) against it.
fn generate_vectors() -> Value {
    let names = ["alice", "bob", "invite", "carol", "bob2"];
    let ids = [id(1), id(2), id(4), id(3), id(5)];
    let (alice, bob, inv, carol, bob2) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    let (mut s, c0, s0) = Membership::create(ROOM, alice, 1_700_000_000_000);
    let mut log = vec![c0];
    let mut secrets = vec![s0];
    let go = |s: &mut Membership, a: &DeviceIdentity, ch: Change, h: &[(u64, &EpochSecret)]| {
        let (c, sec) = s
            .propose(a, ch, 1_700_000_000_000 + s.epoch() + 1, h)
            .unwrap();
        s.apply(&c).unwrap();
        (c, sec)
    };
    let r = go(&mut s, alice, add(bob, Role::Member), &[]);
    log.push(r.0);
    secrets.push(r.1);
    let r = go(
        &mut s,
        alice,
        Change::Invite {
            invite: inv.public(),
            role: Role::Member,
        },
        &[],
    );
    log.push(r.0);
    secrets.push(r.1);
    let r = go(
        &mut s,
        inv,
        Change::Accept {
            device: carol.public(),
        },
        &[],
    );
    log.push(r.0);
    secrets.push(r.1);
    let hist = [(1u64, &secrets[1]), (2, &secrets[2]), (3, &secrets[3])];
    let r = go(
        &mut s,
        bob,
        Change::AddDevice {
            member: mid(bob),
            device: bob2.public(),
            share_history: true,
        },
        &hist,
    );
    log.push(r.0);
    secrets.push(r.1);
    let cut = LogCut {
        writer: WriterId([0xc0; 16]),
        seq: 3,
        record_hash: [0xab; 32],
    };
    let r = go(
        &mut s,
        alice,
        Change::Remove {
            member: mid(carol),
            cuts: vec![cut],
        },
        &[],
    );
    log.push(r.0);
    secrets.push(r.1);
    let devices: Vec<Value> = names
        .iter()
        .zip(ids.iter())
        .enumerate()
        .map(|(n, (name, d))| {
            let k = [1u8, 2, 4, 3, 5][n];
            json!({"name": name, "ed25519_seed_hex": hex(&[k; 32]),
                   "x25519_secret_hex": hex(&[k.wrapping_add(100); 32]),
                   "public_identity": d.public().to_string()})
        })
        .collect();
    let commits: Vec<Value> = log
        .iter()
        .enumerate()
        .map(|(e, c)| {
            let readers: Vec<&str> = names
                .iter()
                .zip(ids.iter())
                .filter(|(_, d)| c.open_secret(d).unwrap().is_some())
                .map(|(n, _)| *n)
                .collect();
            json!({"epoch": e, "commit_hex": hex(&c.encode()), "hash_hex": hex(&c.hash()),
                   "message_key": secrets[e].message_key(ROOM, e as u64).to_base64().to_string(),
                   "readers": readers})
        })
        .collect();
    let members: Vec<Value> = s
        .members()
        .map(|m| {
            json!({"id": m.id.to_string(), "role": format!("{:?}", m.role).to_lowercase(),
                        "devices": m.devices.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                        "joined_epoch": m.joined_epoch})
        })
        .collect();
    json!({
        "description": "SPEC §17 membership history: create (alice), add bob, invite, accept (carol), add bob2 sharing epochs 1-3, remove carol with a cut",
        "room_id": hex(&ROOM.0),
        "devices": devices,
        "commits": commits,
        "history_for_bob2": {"commit_epoch": 4, "epochs": [1, 2, 3]},
        "final_members": members,
        "final_epoch": s.epoch(),
        "final_head_hex": hex(&s.head()),
    })
}

#[test]
fn vectors() {
    let path = vectors_path();
    if std::env::var_os("FTPCHAT_WRITE_MEMBERSHIP_VECTORS").is_some() {
        let v = generate_vectors();
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let room = RoomId(unhex(v["room_id"].as_str().unwrap()).try_into().unwrap());
    let devices: Vec<(String, DeviceIdentity)> = v["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let ed: [u8; 32] = unhex(d["ed25519_seed_hex"].as_str().unwrap())
                .try_into()
                .unwrap();
            let x: [u8; 32] = unhex(d["x25519_secret_hex"].as_str().unwrap())
                .try_into()
                .unwrap();
            let di = DeviceIdentity::from_secret_bytes(ed, x);
            assert_eq!(
                di.public().to_string(),
                d["public_identity"].as_str().unwrap()
            );
            (d["name"].as_str().unwrap().to_string(), di)
        })
        .collect();
    let mut commits = vec![];
    for (e, c) in v["commits"].as_array().unwrap().iter().enumerate() {
        let bytes = unhex(c["commit_hex"].as_str().unwrap());
        let commit = Commit::decode(&bytes).unwrap();
        assert_eq!(commit.encode(), bytes, "canonical re-encoding");
        assert_eq!(hex(&commit.hash()), c["hash_hex"].as_str().unwrap());
        assert_eq!(commit.epoch, e as u64);
        let readers: Vec<&str> = c["readers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        for (name, d) in &devices {
            let got = commit.open_secret(d).unwrap();
            assert_eq!(
                got.is_some(),
                readers.contains(&name.as_str()),
                "epoch {e} {name}"
            );
            if let Some(sec) = got {
                assert_eq!(
                    sec.message_key(room, e as u64).to_base64().as_str(),
                    c["message_key"].as_str().unwrap()
                );
            }
        }
        commits.push(commit);
    }
    let anchor: [u8; 32] = commits[0].hash();
    let s = Membership::replay_anchored(&commits, &anchor).unwrap();
    assert_eq!(s.epoch(), v["final_epoch"].as_u64().unwrap());
    assert_eq!(hex(&s.head()), v["final_head_hex"].as_str().unwrap());
    let members: Vec<Value> = s
        .members()
        .map(|m| {
            json!({"id": m.id.to_string(), "role": format!("{:?}", m.role).to_lowercase(),
                        "devices": m.devices.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                        "joined_epoch": m.joined_epoch})
        })
        .collect();
    assert_eq!(Value::Array(members), v["final_members"]);
    // bob2's history: epochs 1-3 with the keys recorded for them.
    let bob2 = &devices.iter().find(|(n, _)| n == "bob2").unwrap().1;
    let h = commits[4].open_history(bob2).unwrap();
    assert_eq!(h.iter().map(|(e, _)| *e).collect::<Vec<_>>(), vec![1, 2, 3]);
    for (e, sec) in &h {
        assert_eq!(
            sec.message_key(room, *e).to_base64().as_str(),
            v["commits"][*e as usize]["message_key"].as_str().unwrap()
        );
    }
    // The member id rule, by hand.
    let alice = &devices[0].1;
    let mut pre = b"ftpchat-member-id-v1\0".to_vec();
    pre.extend_from_slice(&alice.public().to_bytes());
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(&pre);
    assert_eq!(MemberId::of(&alice.public()).0, d[..16]);
    let _: Option<PublicIdentity> = None;
}

#[test]
fn signed_wrap_to_the_wrong_agreement_key_is_an_error_for_its_recipient() {
    // A (malicious) admin wraps bob's copy to another X25519 key under bob's Ed25519 name:
    // the recipient set matches, so the commit applies, but bob's open is a typed error,
    // never a silent "not for me".
    let (mut s, _, [alice, bob, carol]) = room3();
    let mallory = id(66);
    let mut mixed = bob.public().signing_key_bytes().to_vec();
    mixed.extend_from_slice(&mallory.public().agreement_key_bytes());
    let fake_bob = PublicIdentity::from_bytes(&mixed).unwrap();
    let (c, secret) = s
        .forge(
            &alice,
            Change::Promote { member: mid(&bob) },
            s.epoch() + 1,
            Some(s.head()),
            Some(vec![alice.public(), fake_bob, carol.public()]),
        )
        .unwrap();
    s.apply(&c).unwrap();
    assert_eq!(c.open_secret(&bob).unwrap_err(), GroupError::UnwrapFailed);
    let got = c.open_secret(&carol).unwrap().unwrap();
    assert_eq!(got.message_key(ROOM, 3), secret.message_key(ROOM, 3));
}

/// SPEC §17.11: an upgrade is commit 0 with the password room's log cuts; it round-trips
/// byte for byte, replays to one admin with the cuts, and is refused anywhere else.
#[test]
fn upgrade_is_a_genesis_with_legacy_cuts() {
    let alice = id(1);
    let cuts = vec![
        LogCut {
            writer: WriterId([1; 16]),
            seq: 7,
            record_hash: [0xaa; 32],
        },
        LogCut {
            writer: WriterId([2; 16]),
            seq: 1,
            record_hash: [0xbb; 32],
        },
    ];
    let (state, c0, _) = Membership::upgrade(ROOM, &alice, 5, cuts.clone()).unwrap();
    assert_eq!(state.legacy_cuts(), &cuts[..]);
    let bytes = c0.encode();
    let back = Commit::decode(&bytes).unwrap();
    assert_eq!(back.encode(), bytes);
    assert_eq!(
        back.change,
        Change::Upgrade {
            legacy: cuts.clone()
        }
    );
    let replayed = Membership::replay(&[back]).unwrap();
    assert_eq!(replayed.legacy_cuts(), &cuts[..]);
    assert_eq!(replayed.members().count(), 1);
    // Only as commit 0: an upgrade proposed or forged later is refused.
    let mut s = replayed.clone();
    assert!(s
        .propose(
            &alice,
            Change::Upgrade {
                legacy: cuts.clone()
            },
            6,
            &[]
        )
        .is_err());
    let (late, _) = s
        .forge(
            &alice,
            Change::Upgrade { legacy: cuts },
            1,
            Some(s.head()),
            Some(vec![alice.public()]),
        )
        .unwrap();
    refused(&mut s, &late, GroupError::BadGenesis);
    // A created room has no legacy cuts.
    let (created, _, _) = Membership::create(ROOM, &alice, 5);
    assert!(created.legacy_cuts().is_empty());
}

/// Every invitation's URL parses again, whatever its location: a location is bounded by
/// its percent-encoded length (a 2,000-byte location of characters that encode to 3 bytes
/// each once made a URL over the parser's limit; found by fuzzing).
#[test]
fn an_invitation_url_always_parses_again() {
    let invite = id(3);
    let anchor = [5u8; 32];
    for location in [
        ":".repeat(682),
        "é".repeat(341),
        "a".repeat(2048),
        format!("ftp://host/{}", "%".repeat(600)),
    ] {
        let inv = Invitation::new(location.clone(), ROOM, anchor, Role::Member, &invite).unwrap();
        let url = inv.to_url();
        assert!(url.len() <= MAX_INVITATION_LEN, "{}", url.len());
        assert_eq!(Invitation::parse(&url).unwrap().location(), location);
    }
    for location in [":".repeat(683), "é".repeat(342), "a".repeat(2049)] {
        assert!(Invitation::new(location, ROOM, anchor, Role::Member, &invite).is_err());
    }
}
