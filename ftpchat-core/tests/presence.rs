//! Presence and seen receipts (SPEC §18) of member rooms on a real FTP server (the
//! in-process libunftp server; vsftpd and pyftpdlib too when `.ci/ftp-servers.sh`
//! announces them), on a simulated clock: members see each other online, typing and last
//! active; a device that stops syncing goes offline by expiry; "seen by N of M"; receipts
//! off publish no read position; a restart keeps the read position; and the attackers of
//! SPEC §13: a member publishing for another device, a removed member, a server replaying
//! an older state file, a tampered file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use ftpchat_core::codec::state::{
    decode_state_file, encode_state_file, parse_state_file_name, state_file_name, PresenceBody,
    PRESENCE_KIND,
};
use ftpchat_core::codec::{
    derive_writer_id, ChainLink, Deflater, Hlc, Keyring, LineDecoder, NativeRecord, RecordBody,
    RecordId, SignedRecord, WriterId,
};
use ftpchat_core::testing::ManualClock as SimClock;
use ftpchat_core::{
    Clock, DeviceIdentity, MemberId, PresenceInfo, PresenceState, RemotePath, Role, Room,
    RoomConfig, RoomError, RoomEvent, SyncUpdate, Transport, PRESENCE_REFRESH_MS, PRESENCE_TTL_MS,
    TYPING_TTL_MS,
};
use support::ftp_server::{FtpServerTransports, TestFtpServer};
use support::members::{epoch_key, offline, room_id_of};

const DIR: &str = "team";
const HOUR_MS: u64 = 3_600_000;

/// Simulated time, starting now.
fn sim_clock() -> Arc<SimClock> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    Arc::new(SimClock::at(now))
}

struct Device {
    name: &'static str,
    identity: Arc<DeviceIdentity>,
    state: tempfile::TempDir,
}

impl Device {
    fn new(name: &'static str) -> Device {
        Device {
            name,
            identity: Arc::new(DeviceIdentity::generate()),
            state: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, clock: &Arc<SimClock>) -> RoomConfig {
        RoomConfig::member_room(DIR, self.name, self.identity.clone())
            .with_state_dir(self.state.path())
            .with_clock(clock.clone())
    }

    fn open(&self, t: &Arc<dyn Transport>, clock: &Arc<SimClock>) -> Room {
        Room::open(t.clone(), self.config(clock)).unwrap()
    }

    fn member(&self) -> MemberId {
        MemberId::of(&self.identity.public())
    }

    fn fingerprint(&self) -> String {
        self.identity.public().fingerprint()
    }
}

/// Alice creates the room and adds the others; everyone opens it and syncs twice.
fn team(
    t: &Arc<dyn Transport>,
    clock: &Arc<SimClock>,
    devices: &[&Device],
    configs: impl Fn(&Device, RoomConfig) -> RoomConfig,
) -> Vec<Room> {
    let admin = Room::open(t.clone(), configs(devices[0], devices[0].config(clock))).unwrap();
    for d in &devices[1..] {
        admin
            .add_member(d.identity.public(), Role::Member, true)
            .unwrap();
    }
    let mut rooms = vec![admin];
    for d in &devices[1..] {
        rooms.push(Room::open(t.clone(), configs(d, d.config(clock))).unwrap());
    }
    // The first round publishes (and reads the earlier ones), the second reads the rest.
    for r in rooms.iter().chain(&rooms) {
        sync_clean(r);
    }
    rooms
}

/// Syncs and checks that nothing but presence news was reported.
fn sync_clean(room: &Room) -> SyncUpdate {
    let update = room.sync().unwrap();
    for e in &update.events {
        assert!(
            matches!(
                e,
                RoomEvent::PresenceChanged | RoomEvent::MembershipChanged { .. }
            ),
            "unexpected event: {e}"
        );
    }
    update
}

fn of(room: &Room, who: &Device) -> PresenceInfo {
    room.presence()
        .unwrap()
        .into_iter()
        .find(|p| p.member == who.member())
        .unwrap()
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

fn logs() -> RemotePath {
    RemotePath::new(&format!("{DIR}/logs")).unwrap()
}

/// The state files on the server: (name, writer, counter).
fn state_files(t: &Arc<dyn Transport>) -> Vec<(String, WriterId, u64)> {
    let mut v: Vec<_> = t
        .list(&logs())
        .unwrap()
        .into_iter()
        .filter_map(|e| parse_state_file_name(&e.name).map(|(w, c)| (e.name, w, c)))
        .collect();
    v.sort();
    v
}

fn read(t: &Arc<dyn Transport>, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    t.read_from(&RemotePath::new(path).unwrap(), 0, &mut out)
        .unwrap();
    out
}

fn write(t: &Arc<dyn Transport>, name: &str, data: &[u8]) {
    let path = RemotePath::new(&format!("{DIR}/logs/{name}")).unwrap();
    t.write_atomic(&path, data).unwrap();
}

fn writer_of(t: &Arc<dyn Transport>, d: &Device) -> WriterId {
    derive_writer_id(room_id_of(t), &d.identity.public().signing_key_bytes(), 0)
}

/// The state file of `d` on the server (there is exactly one).
fn state_file_of(t: &Arc<dyn Transport>, d: &Device) -> (String, u64, Vec<u8>) {
    let writer = writer_of(t, d);
    let mine: Vec<_> = state_files(t)
        .into_iter()
        .filter(|(_, w, _)| *w == writer)
        .collect();
    assert_eq!(mine.len(), 1, "one state file per device: {mine:?}");
    let (name, _, counter) = mine.into_iter().next().unwrap();
    let data = read(t, &format!("{DIR}/logs/{name}"));
    (name, counter, data)
}

/// The presence body in `d`'s state file, decoded with a member's key.
fn published_body(t: &Arc<dyn Transport>, d: &Device, reader: &DeviceIdentity) -> PresenceBody {
    let (epoch, key) = epoch_key(t, reader);
    let mut decoder = LineDecoder::new(Keyring::default());
    decoder.add_epoch_key(room_id_of(t), epoch, key);
    let (_, _, data) = state_file_of(t, d);
    decode_state_file(&data, writer_of(t, d), &mut decoder)
        .unwrap()
        .body
}

/// A state record's file, signed by `signer` but naming `device`'s key (forged when they
/// differ), under the epoch key a member holds.
fn forged_state(
    t: &Arc<dyn Transport>,
    signer: &DeviceIdentity,
    device: [u8; 32],
    state: PresenceState,
    now_ms: u64,
) -> Vec<u8> {
    let (epoch, key) = epoch_key(t, signer);
    let body = PresenceBody {
        state,
        valid_until: Hlc::new(now_ms + PRESENCE_TTL_MS, 0),
        last_active: None,
        read: None,
        typing_until: None,
    };
    let record = NativeRecord {
        id: RecordId::random(),
        room: room_id_of(t),
        writer: WriterId::default(),
        seq: 1,
        hlc: Hlc::new(now_ms + 50_000, 0),
        sender: "Bob".into(),
        body: RecordBody::Other {
            kind: PRESENCE_KIND,
            data: body.encode(),
        },
    };
    let link = ChainLink {
        epoch,
        prev: [0; 32],
        generation: 0,
    };
    let mut signed = SignedRecord::forge(record, link, device, signer);
    encode_state_file(&mut signed, &key, &mut Deflater::default())
}

fn ftp(server: &TestFtpServer) -> Arc<dyn Transport> {
    Arc::new(server.transport())
}

/// Every test scenario on one server.
fn on_servers(scenario: impl Fn(Arc<dyn Transport>)) {
    let server = TestFtpServer::start();
    scenario(ftp(&server));
    for var in [support::VSFTPD_URL, support::PYFTPDLIB_URL] {
        if let Some(external) = support::external(var) {
            let t =
                support::ftp_server::transport_in_fresh_dir(external.config_builder(), "presence");
            scenario(Arc::new(t));
        }
    }
}

#[test]
fn members_see_each_other_online_typing_and_last_active() {
    on_servers(|t| {
        let clock = sim_clock();
        let (a, b, c) = (
            Device::new("Alice"),
            Device::new("Bob"),
            Device::new("Carol"),
        );
        let rooms = team(&t, &clock, &[&a, &b, &c], |_, cfg| cfg);
        let (alice, bob, carol) = (&rooms[0], &rooms[1], &rooms[2]);
        for room in [alice, bob, carol] {
            let p = room.presence().unwrap();
            assert_eq!(p.len(), 3);
            assert!(p
                .iter()
                .all(|p| p.state == PresenceState::Online && !p.typing));
            assert_eq!(p.iter().filter(|p| p.is_self).count(), 1);
        }
        let bob_seen = of(alice, &b);
        assert_eq!(bob_seen.display_name, "Bob");
        assert_eq!(bob_seen.fingerprint, b.fingerprint());
        assert_eq!(bob_seen.last_active_ms, Some(clock.now_ms()));
        // One state file per device, next to the logs.
        assert_eq!(state_files(&t).len(), 3);

        // Bob types: Alice sees it at her next sync, and it ends by itself.
        clock.advance(Duration::from_millis(1_000));
        bob.set_typing(true).unwrap();
        sync_clean(bob);
        sync_clean(alice);
        let p = of(alice, &b);
        assert!(p.typing);
        assert_eq!(p.state, PresenceState::Online);
        assert_eq!(p.last_active_ms, Some(clock.now_ms()));
        clock.advance(Duration::from_millis(TYPING_TTL_MS));
        let p = of(alice, &b);
        assert!(!p.typing, "typing ends without a new state file");
        assert_eq!(p.state, PresenceState::Online);

        // Away, then sending a message: last active moves at Bob's next publish.
        carol.set_presence(PresenceState::Away).unwrap();
        sync_clean(carol);
        sync_clean(alice);
        assert_eq!(of(alice, &c).state, PresenceState::Away);
        // Replaced, never appended: still one state file per device.
        assert_eq!(state_files(&t).len(), 3);
    });
}

#[test]
fn devices_that_stop_syncing_go_offline_by_expiry_and_the_last_hour_is_a_filter() {
    on_servers(|t| {
        let clock = sim_clock();
        let (a, b, c) = (
            Device::new("Alice"),
            Device::new("Bob"),
            Device::new("Carol"),
        );
        let rooms = team(&t, &clock, &[&a, &b, &c], |_, cfg| cfg);
        let (alice, bob) = (&rooms[0], &rooms[1]);
        let carol_left = clock.now_ms();
        // Carol's device vanishes (no goodbye): it never syncs again. Alice and Bob do.
        for _ in 0..3 {
            clock.advance(Duration::from_millis(PRESENCE_REFRESH_MS));
            sync_clean(bob);
            sync_clean(alice);
        }
        let now = clock.now_ms();
        assert!(now > carol_left + PRESENCE_TTL_MS);
        let p = of(alice, &c);
        assert_eq!(p.state, PresenceState::Offline);
        assert_eq!(p.last_seen_ms, Some(carol_left + PRESENCE_TTL_MS));
        assert_eq!(
            of(alice, &b).state,
            PresenceState::Online,
            "refreshed in time"
        );
        // "Online in the last hour": Carol yes, for an hour after she vanished.
        let last_hour: Vec<MemberId> = alice
            .presence()
            .unwrap()
            .into_iter()
            .filter(|p| p.seen_within(now, HOUR_MS))
            .map(|p| p.member)
            .collect();
        assert_eq!(last_hour.len(), 3);
        clock.advance(Duration::from_millis(HOUR_MS));
        sync_clean(bob);
        sync_clean(alice);
        let now = clock.now_ms();
        let p = alice.presence().unwrap();
        let recent: Vec<_> = p.iter().filter(|p| p.seen_within(now, HOUR_MS)).collect();
        assert_eq!(recent.len(), 2);
        assert!(recent.iter().all(|p| p.member != c.member()));

        // An explicit goodbye is seen at once.
        bob.set_presence(PresenceState::Offline).unwrap();
        sync_clean(bob);
        sync_clean(alice);
        assert_eq!(of(alice, &b).state, PresenceState::Offline);
        // And a goodbye is not refreshed: an idle sync writes nothing.
        let before = state_file_of(&t, &b);
        clock.advance(Duration::from_millis(3 * PRESENCE_REFRESH_MS));
        sync_clean(bob);
        assert_eq!(state_file_of(&t, &b), before);
        // Coming back.
        bob.set_presence(PresenceState::Online).unwrap();
        sync_clean(bob);
        sync_clean(alice);
        assert_eq!(of(alice, &b).state, PresenceState::Online);
    });
}

#[test]
fn seen_by_n_of_m_and_receipts_off_publish_no_read_position() {
    on_servers(|t| {
        let clock = sim_clock();
        let devices = [
            Device::new("Alice"),
            Device::new("Bob"),
            Device::new("Carol"),
            Device::new("Dan"),
        ];
        let refs: Vec<&Device> = devices.iter().collect();
        // Carol turned receipts off.
        let rooms = team(&t, &clock, &refs, |d, cfg| {
            cfg.with_read_receipts(d.name != "Carol")
        });
        let (alice, bob, carol, dan) = (&rooms[0], &rooms[1], &rooms[2], &rooms[3]);
        let first = alice.send("first").unwrap();
        clock.advance(Duration::from_millis(10));
        let second = alice.send("second").unwrap();
        sync_clean(alice);
        for r in [bob, carol, dan] {
            assert_eq!(sync_clean(r).messages.len(), 2);
        }
        assert_eq!(alice.seen_by(&first).unwrap().readers, vec![]);
        assert_eq!(alice.seen_by(&first).unwrap().of, 3);
        // Bob read both, Dan only the first, Carol both (but publishes nothing).
        assert!(bob.mark_read(&second).unwrap());
        assert!(
            !bob.mark_read(&first).unwrap(),
            "a read position moves forward only"
        );
        assert!(dan.mark_read(&first).unwrap());
        assert!(carol.mark_read(&second).unwrap());
        for r in [bob, carol, dan] {
            sync_clean(r);
        }
        assert!(sync_clean(alice)
            .events
            .contains(&RoomEvent::PresenceChanged));
        let seen = alice.seen_by(&first).unwrap();
        let mut bob_dan = vec![devices[1].member(), devices[3].member()];
        bob_dan.sort();
        assert_eq!((seen.readers, seen.of), (bob_dan, 3));
        let seen = alice.seen_by(&second).unwrap();
        assert_eq!((seen.readers, seen.of), (vec![devices[1].member()], 3));
        // Bob sees it the same way, Alice (the author) not counted: of = 3 members.
        let seen = bob.seen_by(&second).unwrap();
        assert_eq!(seen.of, 3);
        assert_eq!(seen.readers, vec![devices[1].member()]);
        // What is on the server: Bob's file carries his position, Carol's none.
        let bob_body = published_body(&t, &devices[1], &devices[0].identity);
        assert_eq!(bob_body.read.map(|r| r.record.0), Some(second.0));
        let carol_body = published_body(&t, &devices[2], &devices[0].identity);
        assert_eq!(carol_body.read, None);
        assert_eq!(carol_body.state, PresenceState::Online);
        // A message nobody knows.
        assert!(matches!(
            alice.seen_by(&ftpchat_core::MessageId([7; 16])),
            Err(RoomError::UnknownMessage(_))
        ));
    });
}

/// Alice and Bob (`a`, `b`) in a room; Alice sends a message, Bob reads it and publishes
/// his read position. Returns their rooms and the message.
fn bob_reads_a_message(
    t: &Arc<dyn Transport>,
    clock: &Arc<SimClock>,
    a: &Device,
    b: &Device,
) -> (Vec<Room>, ftpchat_core::MessageId) {
    let rooms = team(t, clock, &[a, b], |_, cfg| cfg);
    let (alice, bob) = (&rooms[0], &rooms[1]);
    let id = alice.send("read me").unwrap();
    sync_clean(alice);
    sync_clean(bob);
    bob.mark_read(&id).unwrap();
    sync_clean(bob);
    (rooms, id)
}

#[test]
fn a_restart_keeps_the_read_position_and_cleans_up_old_state_files() {
    let server = TestFtpServer::start();
    let t = ftp(&server);
    let clock = sim_clock();
    let (a, b) = (Device::new("Alice"), Device::new("Bob"));
    let (rooms, id) = bob_reads_a_message(&t, &clock, &a, &b);
    let (alice, bob) = (&rooms[0], &rooms[1]);
    let (_, counter, _) = state_file_of(&t, &b);
    bob.close().unwrap();
    // A crash left an older file behind too.
    let leftover = state_file_name(writer_of(&t, &b), 1);
    if counter > 1 {
        write(&t, &leftover, b"stale");
    }
    clock.advance(Duration::from_millis(PRESENCE_TTL_MS + 1));
    sync_clean(alice);
    assert_eq!(of(alice, &b).state, PresenceState::Offline);
    // Bob again: he starts from his own state file as his store kept it, and his first
    // sync publishes the next one with the same read position; the older names are
    // removed.
    let bob = b.open(&t, &clock);
    sync_clean(&bob);
    let (_, next, _) = state_file_of(&t, &b);
    assert!(next > counter);
    sync_clean(alice);
    assert_eq!(of(alice, &b).state, PresenceState::Online);
    assert_eq!(alice.seen_by(&id).unwrap().readers, vec![b.member()]);
}

/// Presence and "seen by" are kept in the local store: a room reopened with the network
/// down shows who read what and who was present, and online again it does not download a
/// state file it already holds (a same-named file the server swapped in goes unread).
#[test]
fn presence_and_seen_by_show_offline_after_a_restart_and_known_state_files_are_not_read_again() {
    let server = TestFtpServer::start();
    let t = ftp(&server);
    let clock = sim_clock();
    let (a, b) = (Device::new("Alice"), Device::new("Bob"));
    let (rooms, id) = bob_reads_a_message(&t, &clock, &a, &b);
    let alice = &rooms[0];
    sync_clean(alice);
    assert_eq!(alice.seen_by(&id).unwrap().readers, vec![b.member()]);
    let before = of(alice, &b);
    assert_eq!(before.state, PresenceState::Online);
    for room in &rooms {
        room.close().unwrap();
    }
    drop(rooms);

    let alice = Room::open(offline(&t), a.config(&clock)).unwrap();
    assert!(alice.sync().is_err(), "the network is down");
    assert_eq!(alice.seen_by(&id).unwrap().readers, vec![b.member()]);
    let bob_then = of(&alice, &b);
    assert_eq!(bob_then.display_name, "Bob");
    assert_eq!(bob_then.last_active_ms, before.last_active_ms);
    assert_eq!(
        bob_then.state,
        PresenceState::Online,
        "his state still holds"
    );
    clock.advance(Duration::from_millis(PRESENCE_TTL_MS + 1));
    let bob_later = of(&alice, &b);
    assert_eq!(bob_later.state, PresenceState::Offline, "and runs out");
    assert!(bob_later.seen_within(clock.now_ms(), HOUR_MS));
    alice.close().unwrap();
    drop(alice);

    // The server swaps garbage in under the name of Bob's state file: Alice already holds
    // that file, reads no state file again, and refuses nothing.
    let (name, _, _) = state_file_of(&t, &b);
    write(&t, &name, b"garbage\n");
    let alice = a.open(&t, &clock);
    sync_clean(&alice);
    assert_eq!(alice.seen_by(&id).unwrap().readers, vec![b.member()]);
    assert_eq!(of(&alice, &b).display_name, "Bob");
}

#[test]
fn a_member_cannot_publish_presence_for_another_device() {
    let server = TestFtpServer::start();
    let t = ftp(&server);
    let clock = sim_clock();
    let (a, b, m) = (
        Device::new("Alice"),
        Device::new("Bob"),
        Device::new("Mallory"),
    );
    let rooms = team(&t, &clock, &[&a, &b, &m], |_, cfg| cfg);
    let (alice, bob) = (&rooms[0], &rooms[1]);
    bob.set_presence(PresenceState::Away).unwrap();
    sync_clean(bob);
    sync_clean(alice);
    assert_eq!(of(alice, &b).state, PresenceState::Away);
    let bob_writer = writer_of(&t, &b);
    let bob_key = b.identity.public().signing_key_bytes();
    let mallory_key = m.identity.public().signing_key_bytes();
    let now = clock.now_ms();

    // 1. Mallory's own valid record, under Bob's writer id: the name is not hers.
    let own = forged_state(&t, &m.identity, mallory_key, PresenceState::Online, now);
    write(&t, &state_file_name(bob_writer, 50), &own);
    let got = alice.sync().unwrap();
    assert_eq!(refusals(&got).len(), 1, "{:?}", got.events);
    assert!(
        refusals(&got)[0].contains("writer id"),
        "{:?}",
        refusals(&got)
    );
    assert_eq!(of(alice, &b).state, PresenceState::Away);

    // 2. A record naming Bob's key (so its writer id is Bob's), signed by Mallory.
    let forged = forged_state(&t, &m.identity, bob_key, PresenceState::Online, now);
    write(&t, &state_file_name(bob_writer, 60), &forged);
    let got = alice.sync().unwrap();
    assert_eq!(refusals(&got).len(), 1, "{:?}", got.events);
    assert!(
        refusals(&got)[0].contains("signature"),
        "{:?}",
        refusals(&got)
    );
    assert_eq!(of(alice, &b).state, PresenceState::Away);
    assert!(!got.events.contains(&RoomEvent::PresenceChanged));

    // Bob's next publish goes above the forged names and cleans them up (his own sync
    // reports the forgery under his name too).
    bob.set_presence(PresenceState::Online).unwrap();
    assert_eq!(refusals(&bob.sync().unwrap()).len(), 1);
    sync_clean(alice);
    assert_eq!(of(alice, &b).state, PresenceState::Online);
    let (_, counter, _) = state_file_of(&t, &b);
    assert_eq!(counter, 61);
}

#[test]
fn a_removed_members_state_file_is_refused() {
    let server = TestFtpServer::start();
    let t = ftp(&server);
    let clock = sim_clock();
    let (a, b, c) = (
        Device::new("Alice"),
        Device::new("Bob"),
        Device::new("Carol"),
    );
    let rooms = team(&t, &clock, &[&a, &b, &c], |_, cfg| cfg);
    let (alice, bob, carol) = (&rooms[0], &rooms[1], &rooms[2]);
    let (carol_name, _, carol_file) = state_file_of(&t, &c);
    alice.remove_member(&c.member()).unwrap();
    sync_clean(bob);
    assert!(bob
        .presence()
        .unwrap()
        .iter()
        .all(|p| p.member != c.member()));
    // Carol, removed, publishes nothing more (she holds no current key).
    let _ = carol.sync();
    assert_eq!(state_file_of(&t, &c).0, carol_name);
    // By hand, with the old epoch key she holds: refused by everyone.
    let carol_key = c.identity.public().signing_key_bytes();
    let fresh = forged_state(
        &t,
        &c.identity,
        carol_key,
        PresenceState::Online,
        clock.now_ms(),
    );
    write(&t, &state_file_name(writer_of(&t, &c), 90), &fresh);
    let got = bob.sync().unwrap();
    assert_eq!(refusals(&got).len(), 1, "{:?}", got.events);
    assert!(refusals(&got)[0].contains("not an active device"));
    // Her old file under a new name: refused too.
    write(&t, &state_file_name(writer_of(&t, &c), 91), &carol_file);
    assert_eq!(refusals(&bob.sync().unwrap()).len(), 1);
    assert!(bob
        .presence()
        .unwrap()
        .iter()
        .all(|p| p.member != c.member()));
}

#[test]
fn a_replayed_older_state_does_not_move_presence_back() {
    let server = TestFtpServer::start();
    let t = ftp(&server);
    let clock = sim_clock();
    let (a, b) = (Device::new("Alice"), Device::new("Bob"));
    let rooms = team(&t, &clock, &[&a, &b], |_, cfg| cfg);
    let (alice, bob) = (&rooms[0], &rooms[1]);
    let (_, _, online) = state_file_of(&t, &b);
    clock.advance(Duration::from_millis(1_000));
    bob.set_presence(PresenceState::Away).unwrap();
    sync_clean(bob);
    sync_clean(alice);
    assert_eq!(of(alice, &b).state, PresenceState::Away);
    // The server puts Bob's older file back, under a name newer than any.
    write(&t, &state_file_name(writer_of(&t, &b), 1_000), &online);
    let got = alice.sync().unwrap();
    assert_eq!(refusals(&got).len(), 1, "{:?}", got.events);
    assert!(refusals(&got)[0].contains("older"));
    assert_eq!(of(alice, &b).state, PresenceState::Away);
    // Read once: the next poll does not download it again (one listing, nothing else).
    assert!(alice.sync().unwrap().events.is_empty());
}

#[test]
fn tampered_or_hostile_state_files_are_refused_with_an_event() {
    let server = TestFtpServer::start();
    let t = ftp(&server);
    let clock = sim_clock();
    let (a, b) = (Device::new("Alice"), Device::new("Bob"));
    let rooms = team(&t, &clock, &[&a, &b], |_, cfg| cfg);
    let (alice, bob) = (&rooms[0], &rooms[1]);
    let (_, _, good) = state_file_of(&t, &b);
    let bob_writer = writer_of(&t, &b);
    let mut flipped = good.clone();
    flipped[60] ^= 0x01;
    let hostile: Vec<Vec<u8>> = vec![
        flipped,
        b"not a record\n".to_vec(),
        Vec::new(),
        vec![b'x'; 100_000],
        [good.clone(), good.clone()].concat(),
        good[..good.len() - 1].to_vec(),
    ];
    for (i, data) in hostile.iter().enumerate() {
        write(&t, &state_file_name(bob_writer, 100 + i as u64), data);
        let got = alice.sync().unwrap();
        assert_eq!(refusals(&got).len(), 1, "case {i}: {:?}", got.events);
        assert_eq!(of(alice, &b).state, PresenceState::Online, "case {i}");
    }
    // A name that is not a state file (nor a log): ignored, like any other file.
    write(&t, "notes.state", b"whatever");
    assert!(alice.sync().unwrap().events.is_empty());
    // Bob still publishes (above the hostile names) and is read again.
    bob.set_presence(PresenceState::Away).unwrap();
    assert_eq!(refusals(&bob.sync().unwrap()).len(), 1);
    sync_clean(alice);
    assert_eq!(of(alice, &b).state, PresenceState::Away);
}

#[test]
fn presence_off_publishes_nothing_and_other_rooms_have_none() {
    let server = TestFtpServer::start();
    let t = ftp(&server);
    let clock = sim_clock();
    let (a, b) = (Device::new("Alice"), Device::new("Bob"));
    let rooms = team(&t, &clock, &[&a, &b], |d, cfg| {
        cfg.with_presence(d.name != "Bob")
    });
    let (alice, bob) = (&rooms[0], &rooms[1]);
    assert_eq!(state_files(&t).len(), 1, "only Alice publishes");
    assert!(matches!(bob.presence(), Err(RoomError::InvalidConfig(_))));
    assert_eq!(of(alice, &b).state, PresenceState::Offline);
    assert_eq!(of(alice, &b).last_seen_ms, None);
    // Messages are unaffected by the state files beside the logs.
    alice.send("hello").unwrap();
    sync_clean(alice);
    assert_eq!(sync_clean(bob).messages.len(), 1);

    // A password room and a FTPChat file have no presence.
    let t2: Arc<dyn Transport> = Arc::new(server.transport());
    let native = Room::open(
        t2.clone(),
        RoomConfig::native("pw-room", "Alice", "pw").with_native_iterations(1_000),
    )
    .unwrap();
    native.sync().unwrap();
    assert!(matches!(native.presence(), Err(RoomError::NotAMemberRoom)));
    assert!(matches!(
        native.set_presence(PresenceState::Away),
        Err(RoomError::NotAMemberRoom)
    ));
    let shared = Room::open(
        t2,
        RoomConfig::shared_file("chat.txt", ftpchat_core::WriteCodec::Fernet17, "Alice")
            .with_password("pw"),
    )
    .unwrap();
    assert!(matches!(shared.presence(), Err(RoomError::NotAMemberRoom)));
}
