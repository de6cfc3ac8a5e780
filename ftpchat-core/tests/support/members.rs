//! Member rooms for tests: devices, the invited pair, and the tools of an attacker who
//! holds a member's keys (read the room id and epoch keys, find a log's chain tip, append
//! signed records by hand).

use std::sync::Arc;

use ftpchat_core::codec::{
    ChainLink, Deflater, FernetKey, Hlc, NativeRecord, RecordBody, RecordId, RoomId, SignedRecord,
    WriterId,
};
use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::{
    Commit, DeviceIdentity, Invitation, RemotePath, Role, Room, RoomConfig, RoomEvent, Transport,
};

pub const DIR: &str = "team";

pub struct Device {
    pub identity: Arc<DeviceIdentity>,
    pub state: tempfile::TempDir,
}

impl Device {
    pub fn new() -> Device {
        Device {
            identity: Arc::new(DeviceIdentity::generate()),
            state: tempfile::tempdir().unwrap(),
        }
    }

    pub fn create(&self, t: &Arc<dyn Transport>, name: &str) -> Room {
        let config = RoomConfig::member_room(DIR, name, self.identity.clone())
            .with_state_dir(self.state.path());
        Room::open(t.clone(), config).unwrap()
    }

    pub fn join(&self, t: &Arc<dyn Transport>, name: &str, invitation: &str) -> Room {
        let invitation = Invitation::parse(invitation).unwrap();
        let config = RoomConfig::join(DIR, name, self.identity.clone(), invitation)
            .with_state_dir(self.state.path());
        Room::open(t.clone(), config).unwrap()
    }

    pub fn fingerprint(&self) -> String {
        self.identity.public().fingerprint()
    }
}

pub fn memory() -> Arc<dyn Transport> {
    Arc::new(MemoryTransport::new())
}

/// Alice creates, invites Bob (string → URL → parse), both chat; senders come from keys.
pub fn alice_and_bob(t: &Arc<dyn Transport>) -> (Device, Room, Device, Room) {
    let (a, b) = (Device::new(), Device::new());
    let alice = a.create(t, "Alice");
    let invitation = alice.invite(Role::Member, "memory://team").unwrap();
    let url = invitation.to_url();
    assert!(url.starts_with("ftpchat://join?"));
    let bob = b.join(t, "Bob", &url);
    // Joining is not a removal, though the device was no member before it accepted.
    let first = bob.sync().unwrap();
    assert!(!first
        .events
        .iter()
        .any(|e| matches!(e, RoomEvent::RemovedFromRoom)));
    bob.give_back(first);
    alice.sync().unwrap();
    (a, alice, b, bob)
}

pub fn room_id_of(t: &Arc<dyn Transport>) -> RoomId {
    let header = read_all(t, &RemotePath::new(&format!("{DIR}/room.ftpchat")).unwrap());
    let text = String::from_utf8(header).unwrap();
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("room-id: "))
        .unwrap();
    RoomId::from_hex(hex.trim()).unwrap()
}

pub fn read_all(t: &Arc<dyn Transport>, path: &RemotePath) -> Vec<u8> {
    let mut out = Vec::new();
    t.read_from(path, 0, &mut out).unwrap();
    out
}

pub fn log_path(writer: WriterId) -> RemotePath {
    RemotePath::new(&format!("{DIR}/logs/{}.log", writer.to_hex())).unwrap()
}

/// The newest epoch key `me` can open from the membership log, with its epoch.
pub fn epoch_key(t: &Arc<dyn Transport>, me: &DeviceIdentity) -> (u64, FernetKey) {
    let room = room_id_of(t);
    let mut best = None;
    for n in 0.. {
        let path = RemotePath::new(&format!("{DIR}/epochs/{n}/commit")).unwrap();
        let mut bytes = Vec::new();
        if t.read_from(&path, 0, &mut bytes).is_err() {
            break;
        }
        let commit = Commit::decode(&bytes).unwrap();
        if let Ok(Some(secret)) = commit.open_secret(me) {
            best = Some((n, secret.message_key(room, n)));
        }
    }
    best.expect("some epoch key")
}

/// Seq and hash of the last record of `log` (decoded with `key`).
pub fn last_record(
    t: &Arc<dyn Transport>,
    log: &RemotePath,
    _me: &DeviceIdentity,
    epoch: u64,
    key: &FernetKey,
) -> (u64, [u8; 32]) {
    use ftpchat_core::codec::{Inflater, Keyring, LineDecoder, Record};
    let room = room_id_of(t);
    let mut decoder = LineDecoder::new(Keyring::default());
    decoder.add_epoch_key(room, epoch, key.clone());
    let _ = Inflater::default();
    let bytes = read_all(t, log);
    let mut last = (0, [0; 32]);
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if let Ok(Record::Signed(r)) = decoder.decode_line(line) {
            last = (r.record.seq, r.hash());
        }
    }
    last
}

pub fn member_id_of(room: &Room, who: &Device) -> ftpchat_core::MemberId {
    room.members()
        .unwrap()
        .into_iter()
        .find(|m| {
            m.devices
                .iter()
                .any(|d| d.fingerprint() == who.fingerprint())
        })
        .unwrap()
        .id
}

/// Appends `record` as `who`'s next record in its own log (generation 0): the writer id,
/// `seq` and `prev` continue the log's chain, signed with `who`'s key under `key`, so only
/// what the record says can make readers refuse it.
pub fn append_as_member(
    t: &Arc<dyn Transport>,
    who: &DeviceIdentity,
    epoch: u64,
    key: &FernetKey,
    mut record: NativeRecord,
) {
    let room = room_id_of(t);
    let writer = ftpchat_core::codec::derive_writer_id(room, &who.public().signing_key_bytes(), 0);
    let log = log_path(writer);
    let (seq, prev) = match t.size(&log).unwrap() {
        Some(_) => last_record(t, &log, who, epoch, key),
        None => (0, [0; 32]),
    };
    record.room = room;
    record.seq = seq + 1;
    let link = ChainLink {
        epoch,
        prev,
        generation: 0,
    };
    let mut signed = SignedRecord::sign(record, link, who);
    let line = signed.encode_line(key, &mut Deflater::default());
    t.append(&log, format!("{line}\n").as_bytes()).unwrap();
}

/// A record of `body` sent now by `sender`, for [`append_as_member`] (which fills in the
/// room, writer and sequence number).
pub fn record_by(sender: &str, body: RecordBody) -> NativeRecord {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    NativeRecord {
        id: RecordId::random(),
        room: Default::default(),
        writer: WriterId::default(),
        seq: 0,
        hlc: Hlc::new(now, 0),
        sender: sender.into(),
        body,
    }
}

/// `t` with the network down: every call fails as transient, as when a device is offline
/// (a room then opens from what its state folder keeps).
pub fn offline(
    t: &Arc<dyn Transport>,
) -> Arc<ftpchat_core::testing::FaultyTransport<dyn Transport>> {
    use ftpchat_core::testing::{FaultyTransport, Op};
    use ftpchat_core::TransportErrorKind;
    let offline = Arc::new(FaultyTransport::from_arc(t.clone()));
    for op in Op::ALL {
        offline.fail_after_nth(op, 1, TransportErrorKind::Transient);
        for n in 1..50 {
            offline.fail_nth(op, n, TransportErrorKind::Transient);
        }
    }
    offline
}
