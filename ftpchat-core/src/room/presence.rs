//! Presence and seen receipts (SPEC §18): the pure part and the [`Room`] calls.
//!
//! Each device of a member room publishes one small state file
//! (`logs/<writer id>.<n>.state`, `format/state.rs`) that says whether it is online, away
//! or typing, until when, when its user was last active, and how far its user has read.
//! The [`Board`] decides everything without I/O: which state files a listing shows as new
//! ([`plan_fetches`]), whether a record moves a device's state forward ([`Board::offer`]),
//! when this device must publish ([`Board::due`]) and what ([`Board::next_body`]), what
//! presence looks like now (expiry on the room's clock, [`Board::presence`]) and who has
//! seen a message ([`Board::seen_by`]). The native layout does the I/O
//! (`layout/native_presence.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{lock, Room, RoomError};
use crate::format::state::{parse_state_file_name, PresenceBody, ReadPosition};
use crate::format::{Hlc, SignedRecord, WriterId};
use crate::group::{Member, MemberId, Membership};
use crate::timeline::{MessageId, SortKey};
use crate::transport::DirEntry;

pub use crate::format::state::PresenceState;

/// How long a published presence holds (its valid-until is this far ahead): the
/// refresh, plus two of the longest gaps between a reader's reads of it
/// (`(PRESENCE_TTL_MS - PRESENCE_REFRESH_MS) / 2`, one minute), so a present device never
/// shows offline between two reads. A device that vanishes without a goodbye shows
/// offline at most this long after its last publish.
pub const PRESENCE_TTL_MS: u64 = 420_000;
/// A device publishes again this long after its last publish, so its presence never
/// runs out while it syncs. Five minutes keeps an idle room's presence to a few
/// commands a minute (issue 19: about one command a second per idle client in all);
/// changes (online, away, typing, a read position) are published at once.
pub const PRESENCE_REFRESH_MS: u64 = 300_000;
/// How long "typing" lasts after [`Room::set_typing`].
pub const TYPING_TTL_MS: u64 = 10_000;

/// A member's presence, aggregated over its devices ([`Room::presence`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceInfo {
    /// The member.
    pub member: MemberId,
    /// The fingerprint of the member's first device (SPEC §16.3).
    pub fingerprint: String,
    /// The display name of the member's newest state record (empty before any).
    pub display_name: String,
    /// `true` for this device's own member.
    pub is_self: bool,
    /// The best state of its devices now: `Online` over `Away` over `Offline`. A device
    /// whose state's valid-until has passed is offline (no goodbye needed). Never
    /// `Typing`: see [`typing`](Self::typing).
    pub state: PresenceState,
    /// `true` while one of its devices is typing.
    pub typing: bool,
    /// Until when it was last known present, in ms since the Unix epoch (its state's
    /// valid-until, or now while it is online, or the time of its goodbye); `None`
    /// before any state was read.
    pub last_seen_ms: Option<u64>,
    /// When its user was last active (sent, read, typed, came online), as its devices
    /// said; `None` when unknown.
    pub last_active_ms: Option<u64>,
}

impl PresenceInfo {
    /// `true` when it is online now or was present within `window_ms` before `now_ms`
    /// ("who was online in the last hour" is `seen_within(now, 3_600_000)`).
    pub fn seen_within(&self, now_ms: u64, window_ms: u64) -> bool {
        self.state != PresenceState::Offline
            || self
                .last_seen_ms
                .is_some_and(|t| t.saturating_add(window_ms) >= now_ms)
    }
}

/// Who has seen a message ([`Room::seen_by`]): "seen by `readers.len()` of `of`".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeenBy {
    /// The members (other than its author) one of whose devices has read it or a later
    /// message, in member id order.
    pub readers: Vec<MemberId>,
    /// How many members there are other than its author.
    pub of: usize,
}

/// Presence settings of a room ([`RoomConfig::with_presence`](super::RoomConfig::with_presence),
/// [`RoomConfig::with_read_receipts`](super::RoomConfig::with_read_receipts)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PresenceConfig {
    /// Publish and read state files.
    pub enabled: bool,
    /// Publish this device's read position.
    pub receipts: bool,
}

/// What a state file listing asks for ([`plan_fetches`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FetchPlan {
    /// State files to download: the newest of each writer whose name is new.
    pub fetch: Vec<(String, WriterId, u64)>,
    /// Every state file of `own` writer, with its counter (to clean up after a publish).
    pub own: Vec<(String, u64)>,
}

/// Which state files of a listing are new: per writer the one with the highest counter,
/// if above what was seen before. Other names (logs, temporary files, directories) are
/// not state files.
pub(crate) fn plan_fetches(
    entries: &[DirEntry],
    seen: &HashMap<WriterId, u64>,
    own: WriterId,
) -> FetchPlan {
    let mut newest: HashMap<WriterId, (u64, &str)> = HashMap::new();
    let mut plan = FetchPlan::default();
    for e in entries.iter().filter(|e| !e.is_dir) {
        let Some((writer, counter)) = parse_state_file_name(&e.name) else {
            continue;
        };
        if writer == own {
            plan.own.push((e.name.clone(), counter));
        }
        let best = newest.entry(writer).or_insert((counter, &e.name));
        if counter > best.0 {
            *best = (counter, &e.name);
        }
    }
    let mut fetch: Vec<_> = newest
        .into_iter()
        .filter(|(w, (c, _))| seen.get(w).is_none_or(|s| c > s))
        .map(|(w, (c, name))| (name.to_owned(), w, c))
        .collect();
    fetch.sort();
    plan.fetch = fetch;
    plan
}

/// The membership's verdict on a state record: its device must be an active device of a
/// current member, and its epoch one the device may write in (SPEC §18.4).
pub(crate) fn state_allowed(
    membership: Option<&Membership>,
    record: &SignedRecord,
) -> Result<MemberId, String> {
    let m = membership.ok_or("the membership log is not read yet")?;
    let member = m
        .member_of_device(&record.device)
        .ok_or("its device is not an active device of a member")?;
    m.may_write(
        &record.device,
        record.record.writer,
        1,
        record.epoch,
        &record.hash(),
    )
    .map_err(|e| e.to_string())?;
    Ok(member.id)
}

/// One device's newest accepted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceState {
    pub member: MemberId,
    pub sender: String,
    /// The record's HLC: a state replaces another only with a higher one.
    pub hlc: Hlc,
    pub body: PresenceBody,
}

/// What [`Board::offer`] did with a state record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// It is the device's newest state now.
    Accepted,
    /// The device has a state at least as new (a replay, or a copy): ignored.
    Older,
}

/// This device's own settings.
#[derive(Debug, Clone, Default)]
struct Local {
    /// `None`: online (the default).
    state: Option<PresenceState>,
    typing_until_ms: Option<u64>,
    last_active_ms: u64,
    read: Option<ReadPosition>,
    /// Where `read` sorts (unknown for a position adopted from an earlier run's file).
    read_key: Option<SortKey>,
    /// Changed since the last publish.
    dirty: bool,
}

/// Presence and read positions of a member room: this device's settings, every device's
/// newest state, and the publishing schedule. Shared between the layout (which feeds it
/// during a poll) and the [`Room`] calls (which read it without waiting for a sync).
#[derive(Debug)]
pub(crate) struct Board {
    pub config: PresenceConfig,
    /// This device's Ed25519 key.
    own_device: [u8; 32],
    local: Local,
    /// When this device last published (`None`: not in this run).
    published_at: Option<u64>,
    /// The highest state file counter seen per writer (fetched or published).
    pub seen: HashMap<WriterId, u64>,
    devices: HashMap<[u8; 32], DeviceState>,
    members: Vec<Member>,
}

impl Board {
    pub fn new(config: PresenceConfig, own_device: [u8; 32], now_ms: u64) -> Self {
        Board {
            config,
            own_device,
            local: Local {
                last_active_ms: now_ms,
                ..Local::default()
            },
            published_at: None,
            seen: HashMap::new(),
            devices: HashMap::new(),
            members: Vec::new(),
        }
    }

    /// This device's Ed25519 key.
    pub fn own_device(&self) -> [u8; 32] {
        self.own_device
    }

    /// The membership as of the last poll.
    pub fn set_members(&mut self, members: Vec<Member>) {
        self.members = members;
    }

    /// A verified, allowed state record of `device` (member `member`): kept when its HLC
    /// is above the device's current one. A state of this device from an earlier run
    /// gives back the read position it published, if this run has none yet.
    pub fn offer(
        &mut self,
        device: [u8; 32],
        member: MemberId,
        sender: &str,
        hlc: Hlc,
        body: PresenceBody,
    ) -> Offered {
        if self.devices.get(&device).is_some_and(|d| d.hlc >= hlc) {
            return Offered::Older;
        }
        if device == self.own_device && self.local.read.is_none() {
            self.local.read = body.read;
        }
        let state = DeviceState {
            member,
            sender: sender.to_owned(),
            hlc,
            body,
        };
        self.devices.insert(device, state);
        Offered::Accepted
    }

    /// The newest state HLC of `device`, if any (a publish must exceed it).
    pub fn newest_hlc(&self, device: &[u8; 32]) -> Option<Hlc> {
        self.devices.get(device).map(|d| d.hlc)
    }

    /// Sets this device's state. `Typing` is [`set_typing(true)`](Self::set_typing).
    pub fn set_state(&mut self, state: PresenceState, now_ms: u64) {
        if state == PresenceState::Typing {
            return self.set_typing(true, now_ms);
        }
        if state != PresenceState::Offline {
            self.local.last_active_ms = now_ms;
        }
        self.local.state = Some(state);
        self.local.typing_until_ms = None;
        self.local.dirty = true;
    }

    /// Starts (for [`TYPING_TTL_MS`]) or ends typing. Typing again while typing extends
    /// it only once more than half of it has passed, so a keystroke handler that calls
    /// this on every key does not make every sync publish.
    pub fn set_typing(&mut self, typing: bool, now_ms: u64) {
        let was = self.typing(now_ms);
        if !typing {
            self.local.typing_until_ms = None;
            self.local.dirty |= was;
            return;
        }
        self.local.last_active_ms = now_ms;
        if self.local.state == Some(PresenceState::Offline) {
            self.local.state = None;
        }
        let fresh = self
            .local
            .typing_until_ms
            .is_some_and(|u| was && u >= now_ms + TYPING_TTL_MS / 2);
        if !fresh {
            self.local.typing_until_ms = Some(now_ms + TYPING_TTL_MS);
            self.local.dirty = true;
        }
    }

    fn typing(&self, now_ms: u64) -> bool {
        self.local.typing_until_ms.is_some_and(|t| now_ms < t)
    }

    /// The user did something (sent a message): remembered as last active, published
    /// with the next state.
    pub fn touch(&mut self, now_ms: u64) {
        self.local.last_active_ms = self.local.last_active_ms.max(now_ms);
    }

    /// Moves this device's read position to `position` (sorting at `key`) if that is
    /// after the current one in timeline order; `true` when it moved.
    pub fn mark_read(&mut self, position: ReadPosition, key: SortKey, now_ms: u64) -> bool {
        let forward = match (self.local.read, self.local.read_key) {
            (None, _) => true,
            (Some(_), Some(current)) => key > current,
            (Some(current), None) => position.hlc > current.hlc,
        };
        if !forward {
            return false;
        }
        self.local.read = Some(position);
        self.local.read_key = Some(key);
        self.local.last_active_ms = now_ms;
        self.local.dirty |= self.config.receipts;
        true
    }

    /// Whether this device must publish now: the first time in this run, after a
    /// change, and [`PRESENCE_REFRESH_MS`] after the last publish so that its state does
    /// not run out. An offline state is published once.
    pub fn due(&self, now_ms: u64) -> bool {
        if !self.config.enabled {
            return false;
        }
        let Some(at) = self.published_at else {
            return true;
        };
        if self.local.dirty {
            return true;
        }
        if self.local.state == Some(PresenceState::Offline) {
            return false;
        }
        now_ms >= at.saturating_add(PRESENCE_REFRESH_MS)
    }

    /// Whether the publish that is due tells something new (the first of this run, or a
    /// change), rather than refreshing an unchanged state.
    pub fn is_change(&self) -> bool {
        self.published_at.is_none() || self.local.dirty
    }

    /// The body this device publishes now.
    pub fn next_body(&self, now_ms: u64) -> PresenceBody {
        let typing = self.typing(now_ms);
        let state = match self.local.state {
            Some(PresenceState::Offline) => PresenceState::Offline,
            _ if typing => PresenceState::Typing,
            Some(s) => s,
            None => PresenceState::Online,
        };
        PresenceBody {
            state,
            valid_until: Hlc::new(now_ms.saturating_add(PRESENCE_TTL_MS), 0),
            last_active: Some(Hlc::new(self.local.last_active_ms, 0)),
            read: self.local.read.filter(|_| self.config.receipts),
            typing_until: self
                .local
                .typing_until_ms
                .filter(|_| typing)
                .map(|t| Hlc::new(t, 0)),
        }
    }

    /// This device published `body` at `now_ms` (as `hlc`, member `member`).
    pub fn published(
        &mut self,
        now_ms: u64,
        member: MemberId,
        sender: &str,
        hlc: Hlc,
        body: PresenceBody,
    ) {
        self.published_at = Some(now_ms);
        self.local.dirty = false;
        let device = self.own_device;
        self.offer(device, member, sender, hlc, body);
    }

    /// Every current member's presence at `now_ms`.
    pub fn presence(&self, now_ms: u64) -> Vec<PresenceInfo> {
        let mut out: Vec<PresenceInfo> = self
            .members
            .iter()
            .map(|m| {
                let keys: Vec<[u8; 32]> = m.devices.iter().map(|d| d.signing_key_bytes()).collect();
                let mut info = PresenceInfo {
                    member: m.id,
                    fingerprint: m
                        .devices
                        .first()
                        .map(|d| d.fingerprint())
                        .unwrap_or_default(),
                    display_name: String::new(),
                    is_self: keys.contains(&self.own_device),
                    state: PresenceState::Offline,
                    typing: false,
                    last_seen_ms: None,
                    last_active_ms: None,
                };
                let mut newest = Hlc(0);
                for d in keys.iter().filter_map(|k| self.devices.get(k)) {
                    if d.member != m.id {
                        continue;
                    }
                    if d.hlc >= newest {
                        newest = d.hlc;
                        info.display_name.clone_from(&d.sender);
                    }
                    let (state, typing) = effective(&d.body, now_ms);
                    if rank(state) > rank(info.state) {
                        info.state = state;
                    }
                    info.typing |= typing;
                    let seen = match d.body.state {
                        PresenceState::Offline => d.hlc.wall_ms(),
                        _ => d.body.valid_until.wall_ms().min(now_ms),
                    };
                    info.last_seen_ms = info.last_seen_ms.max(Some(seen));
                    let active = d.body.last_active.map(Hlc::wall_ms);
                    info.last_active_ms = info.last_active_ms.max(active);
                }
                info
            })
            .collect();
        out.sort_by_key(|a| a.member);
        out
    }

    /// Who has seen the message `id` sorting at `key`, written by the device whose
    /// fingerprint is `author` (none: unknown). `key_of` gives where a read position's
    /// record sorts, if this device knows it.
    pub fn seen_by(
        &self,
        id: MessageId,
        key: SortKey,
        author: Option<&str>,
        key_of: &dyn Fn(&MessageId) -> Option<SortKey>,
    ) -> SeenBy {
        let mut seen = SeenBy::default();
        for m in &self.members {
            if author.is_some_and(|a| m.devices.iter().any(|d| d.fingerprint() == a)) {
                continue;
            }
            seen.of += 1;
            let read = m.devices.iter().any(|d| {
                let device = d.signing_key_bytes();
                let local = (device == self.own_device)
                    .then_some(self.local.read)
                    .flatten();
                let published = self
                    .devices
                    .get(&device)
                    .filter(|s| s.member == m.id)
                    .and_then(|s| s.body.read);
                [local, published]
                    .into_iter()
                    .flatten()
                    .any(|p| covers(p, id, key, key_of))
            });
            if read {
                seen.readers.push(m.id);
            }
        }
        seen.readers.sort();
        seen
    }
}

/// Whether read position `p` is at or after the message `id` (sorting at `key`) in
/// timeline order: the same record, or a record sorting at or after it; when this device
/// does not know `p`'s record, a higher HLC.
pub(crate) fn covers(
    p: ReadPosition,
    id: MessageId,
    key: SortKey,
    key_of: &dyn Fn(&MessageId) -> Option<SortKey>,
) -> bool {
    let read = MessageId(p.record.0);
    if read == id {
        return true;
    }
    if let Some(k) = key_of(&read) {
        return k >= key;
    }
    match key {
        SortKey::Native { hlc, .. } => p.hlc > hlc,
        SortKey::File { .. } => false,
    }
}

/// A device's state at `now_ms`: offline once its valid-until has passed; typing until
/// its typing-until (then online).
pub(crate) fn effective(body: &PresenceBody, now_ms: u64) -> (PresenceState, bool) {
    if body.state == PresenceState::Offline || now_ms >= body.valid_until.wall_ms() {
        return (PresenceState::Offline, false);
    }
    match body.state {
        PresenceState::Typing => {
            let typing = body.typing_until.is_none_or(|t| now_ms < t.wall_ms());
            (PresenceState::Online, typing)
        }
        other => (other, false),
    }
}

fn rank(s: PresenceState) -> u8 {
    match s {
        PresenceState::Online | PresenceState::Typing => 2,
        PresenceState::Away => 1,
        _ => 0,
    }
}

/// The board of a member room with presence on.
pub(crate) type SharedBoard = Arc<Mutex<Board>>;

impl Room {
    fn board(&self) -> Result<&SharedBoard, RoomError> {
        let board = self
            .shared
            .core
            .presence_board()
            .ok_or(RoomError::NotAMemberRoom)?;
        if !lock(board).config.enabled {
            return Err(RoomError::InvalidConfig(
                "presence is turned off for this room (RoomConfig::with_presence)".into(),
            ));
        }
        Ok(board)
    }

    /// Member rooms: every member's presence now, by member id: online, away or offline
    /// (a device whose state ran out is offline: devices that vanish go offline by expiry),
    /// typing, when it was last seen and last active. As of the last [`sync`](Self::sync)
    /// (which reads the state files that changed), evaluated on the room's clock at each
    /// call: call it again on a timer to see expiries. A room with a local store starts
    /// from the state files its last run read, so this (and [`seen_by`](Self::seen_by))
    /// answers before the first sync and with the network down.
    ///
    /// Errors: [`RoomError::NotAMemberRoom`] for password rooms and FTPChat shared files
    /// (they have no presence), [`RoomError::InvalidConfig`] when presence is off.
    pub fn presence(&self) -> Result<Vec<PresenceInfo>, RoomError> {
        let now = self.shared.clock.now_ms();
        Ok(lock(self.board()?).presence(now))
    }

    /// Member rooms: sets this device's presence (`Online`, the default, `Away`, or
    /// `Offline`: published once, a goodbye; `Typing` is [`set_typing(true)`](Self::set_typing)).
    /// Published at the next [`sync`](Self::sync). Errors as [`presence`](Self::presence).
    pub fn set_presence(&self, state: PresenceState) -> Result<(), RoomError> {
        let now = self.shared.clock.now_ms();
        lock(self.board()?).set_state(state, now);
        self.shared.wake.fire();
        Ok(())
    }

    /// Member rooms: this device's user is typing (for [`TYPING_TTL_MS`], extended by
    /// calling it again) or stopped. Published at the next [`sync`](Self::sync).
    pub fn set_typing(&self, typing: bool) -> Result<(), RoomError> {
        let now = self.shared.clock.now_ms();
        lock(self.board()?).set_typing(typing, now);
        self.shared.wake.fire();
        Ok(())
    }

    /// Member rooms: this device's user has read up to message `id` (inclusive). The read
    /// position only moves forward in timeline order; `Ok(false)` when `id` is not after
    /// it. Published at the next [`sync`](Self::sync) unless receipts are off
    /// ([`RoomConfig::with_read_receipts`](super::RoomConfig::with_read_receipts)). Errors:
    /// as [`presence`](Self::presence), and [`RoomError::UnknownMessage`] for a message this
    /// device does not know.
    pub fn mark_read(&self, id: &MessageId) -> Result<bool, RoomError> {
        let board = self.board()?;
        let key = self
            .shared
            .core
            .sort_key(id)
            .ok_or(RoomError::UnknownMessage(*id))?;
        let SortKey::Native { hlc, .. } = key else {
            return Err(RoomError::NotAMemberRoom);
        };
        let position = ReadPosition {
            record: crate::format::RecordId(id.0),
            hlc,
        };
        let now = self.shared.clock.now_ms();
        Ok(lock(board).mark_read(position, key, now))
    }

    /// Member rooms: which members (other than the message's author) have read message
    /// `id` or a later one, as their devices' published read positions say (a member who
    /// turned receipts off never appears). Errors as [`mark_read`](Self::mark_read).
    pub fn seen_by(&self, id: &MessageId) -> Result<SeenBy, RoomError> {
        let board = self.board()?;
        let core = &self.shared.core;
        let key = core.sort_key(id).ok_or(RoomError::UnknownMessage(*id))?;
        let author = core.message(id).and_then(|m| m.signer);
        let key_of = |m: &MessageId| core.sort_key(m);
        let seen = lock(board).seen_by(*id, key, author.as_deref(), &key_of);
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::RecordId;
    use crate::identity::DeviceIdentity;

    const T: u64 = 1_800_000_000_000;

    fn config() -> PresenceConfig {
        PresenceConfig {
            enabled: true,
            receipts: true,
        }
    }

    fn entry(name: String) -> DirEntry {
        DirEntry::file(name, Some(300))
    }

    fn key(ms: u64, n: u8) -> SortKey {
        SortKey::Native {
            hlc: Hlc::new(ms, 0),
            writer: WriterId([n; 16]),
            seq: 1,
            id: MessageId([n; 16]),
        }
    }

    fn pos(ms: u64, n: u8) -> ReadPosition {
        ReadPosition {
            record: RecordId([n; 16]),
            hlc: Hlc::new(ms, 0),
        }
    }

    #[test]
    fn a_listing_asks_only_for_new_names_the_newest_per_writer() {
        use crate::format::state::state_file_name;
        let (a, b, me) = (WriterId([1; 16]), WriterId([2; 16]), WriterId([3; 16]));
        let entries = vec![
            entry(state_file_name(a, 4)),
            entry(state_file_name(a, 5)),
            entry(state_file_name(b, 9)),
            entry(state_file_name(me, 2)),
            entry(format!("{}.log", a.to_hex())),
            entry(format!(".{}.7.state", b.to_hex())),
            DirEntry::dir(state_file_name(b, 10)),
        ];
        let seen = HashMap::from([(b, 9)]);
        let plan = plan_fetches(&entries, &seen, me);
        assert_eq!(
            plan.fetch,
            vec![
                (state_file_name(a, 5), a, 5),
                (state_file_name(me, 2), me, 2)
            ]
        );
        assert_eq!(plan.own, vec![(state_file_name(me, 2), 2)]);
        // Nothing new: nothing to fetch (an idle poll is the listing alone).
        let seen = HashMap::from([(a, 5), (b, 9), (me, 2)]);
        assert!(plan_fetches(&entries, &seen, me).fetch.is_empty());
    }

    fn board_with(members: &[&DeviceIdentity]) -> (Board, Vec<MemberId>) {
        let mut board = Board::new(config(), members[0].public().signing_key_bytes(), T);
        let ms: Vec<Member> = members
            .iter()
            .map(|d| Member {
                id: MemberId::of(&d.public()),
                role: crate::group::Role::Member,
                devices: vec![d.public()],
                joined_epoch: 0,
            })
            .collect();
        let ids = ms.iter().map(|m| m.id).collect();
        board.set_members(ms);
        (board, ids)
    }

    fn online(until_ms: u64) -> PresenceBody {
        PresenceBody {
            state: PresenceState::Online,
            valid_until: Hlc::new(until_ms, 0),
            last_active: Some(Hlc::new(until_ms - PRESENCE_TTL_MS, 0)),
            read: None,
            typing_until: None,
        }
    }

    #[test]
    fn presence_expires_and_older_states_do_not_move_it_back() {
        let (me, bob) = (DeviceIdentity::generate(), DeviceIdentity::generate());
        let (mut board, ids) = board_with(&[&me, &bob]);
        let bob_key = bob.public().signing_key_bytes();
        let body = online(T + PRESENCE_TTL_MS);
        assert_eq!(
            board.offer(bob_key, ids[1], "Bob", Hlc::new(T, 0), body),
            Offered::Accepted
        );
        let bob_now = |b: &Board, now| {
            b.presence(now)
                .into_iter()
                .find(|p| p.member == ids[1])
                .unwrap()
        };
        let p = bob_now(&board, T + 1000);
        assert_eq!(
            (p.state, p.display_name.as_str()),
            (PresenceState::Online, "Bob")
        );
        assert_eq!(p.last_seen_ms, Some(T + 1000));
        assert_eq!(p.last_active_ms, Some(T));
        // Expiry: offline without a goodbye; last seen is when it ran out.
        let later = T + PRESENCE_TTL_MS + 1;
        let p = bob_now(&board, later);
        assert_eq!(p.state, PresenceState::Offline);
        assert_eq!(p.last_seen_ms, Some(T + PRESENCE_TTL_MS));
        assert!(p.seen_within(later, 3_600_000));
        assert!(!p.seen_within(later + 3_600_000, 3_600_000));
        // A goodbye, then a replayed older "online": stays offline.
        let bye = PresenceBody {
            state: PresenceState::Offline,
            ..online(T + 5000 + PRESENCE_TTL_MS)
        };
        board.offer(bob_key, ids[1], "Bob", Hlc::new(T + 5000, 0), bye);
        assert_eq!(
            board.offer(bob_key, ids[1], "Bob", Hlc::new(T, 0), body),
            Offered::Older
        );
        assert_eq!(bob_now(&board, T + 6000).state, PresenceState::Offline);
    }

    #[test]
    fn typing_ends_by_itself_and_publishing_follows_the_schedule() {
        let me = DeviceIdentity::generate();
        let (mut board, _) = board_with(&[&me]);
        assert!(board.due(T), "first sync after open");
        let b = board.next_body(T);
        assert_eq!(b.state, PresenceState::Online);
        assert_eq!(b.valid_until, Hlc::new(T + PRESENCE_TTL_MS, 0));
        board.published(T, MemberId([0; 16]), "me", Hlc::new(T, 0), b);
        assert!(!board.due(T + PRESENCE_REFRESH_MS - 1));
        assert!(board.due(T + PRESENCE_REFRESH_MS));
        board.set_typing(true, T + 100);
        assert!(board.due(T + 100));
        let b = board.next_body(T + 100);
        assert_eq!(b.state, PresenceState::Typing);
        assert_eq!(b.typing_until, Some(Hlc::new(T + 100 + TYPING_TTL_MS, 0)));
        assert_eq!(effective(&b, T + 200), (PresenceState::Online, true));
        assert_eq!(
            effective(&b, T + 100 + TYPING_TTL_MS),
            (PresenceState::Online, false)
        );
        board.published(T + 100, MemberId([0; 16]), "me", Hlc::new(T + 100, 0), b);
        // Typing again soon after is not a new publish; after half the time it is.
        board.set_typing(true, T + 200);
        assert!(!board.due(T + 200));
        board.set_typing(true, T + 100 + TYPING_TTL_MS / 2 + 1);
        assert!(board.due(T + 100 + TYPING_TTL_MS / 2 + 1));
        board.set_typing(false, T + 100 + TYPING_TTL_MS / 2 + 2);
        assert_eq!(
            board.next_body(T + 100 + TYPING_TTL_MS).state,
            PresenceState::Online
        );
        // A goodbye is published once.
        board.set_state(PresenceState::Offline, T + 200);
        assert!(board.due(T + 200));
        let bye = board.next_body(T + 200);
        assert_eq!(bye.state, PresenceState::Offline);
        board.published(T + 200, MemberId([0; 16]), "me", Hlc::new(T + 200, 0), bye);
        assert!(!board.due(T + 10 * PRESENCE_REFRESH_MS));
    }

    #[test]
    fn read_positions_only_move_forward_and_receipts_off_publishes_none() {
        let me = DeviceIdentity::generate();
        let (mut board, _) = board_with(&[&me]);
        assert!(board.mark_read(pos(T + 10, 2), key(T + 10, 2), T));
        assert!(!board.mark_read(pos(T + 5, 1), key(T + 5, 1), T));
        assert!(!board.mark_read(pos(T + 10, 2), key(T + 10, 2), T));
        assert!(board.mark_read(pos(T + 10, 3), key(T + 10, 3), T));
        assert_eq!(board.next_body(T).read, Some(pos(T + 10, 3)));
        board.config.receipts = false;
        assert_eq!(board.next_body(T).read, None);
    }

    #[test]
    fn seen_by_counts_members_other_than_the_author_by_timeline_order() {
        let (me, bob, carol) = (
            DeviceIdentity::generate(),
            DeviceIdentity::generate(),
            DeviceIdentity::generate(),
        );
        let (mut board, ids) = board_with(&[&me, &bob, &carol]);
        // Bob read up to message 5 (known here), Carol up to message 9 (unknown here, by HLC).
        let mut b = online(T + PRESENCE_TTL_MS);
        b.read = Some(pos(T + 5, 5));
        board.offer(
            bob.public().signing_key_bytes(),
            ids[1],
            "Bob",
            Hlc::new(T, 0),
            b,
        );
        let mut c = online(T + PRESENCE_TTL_MS);
        c.read = Some(pos(T + 9, 9));
        board.offer(
            carol.public().signing_key_bytes(),
            ids[2],
            "Carol",
            Hlc::new(T, 0),
            c,
        );
        let known = |m: &MessageId| (m.0[0] == 5).then(|| key(T + 5, 5));
        let author = me.public().fingerprint();
        let seen = board.seen_by(MessageId([4; 16]), key(T + 4, 4), Some(&author), &known);
        let mut both = vec![ids[1], ids[2]];
        both.sort();
        assert_eq!((seen.readers, seen.of), (both, 2));
        let seen = board.seen_by(MessageId([7; 16]), key(T + 7, 7), Some(&author), &known);
        assert_eq!((seen.readers, seen.of), (vec![ids[2]], 2));
        let seen = board.seen_by(MessageId([9; 16]), key(T + 9, 9), Some(&author), &known);
        assert_eq!((seen.readers, seen.of), (vec![ids[2]], 2));
        let seen = board.seen_by(MessageId([10; 16]), key(T + 10, 10), Some(&author), &known);
        assert_eq!((seen.readers, seen.of), (vec![], 2));
        // Bob's message: Bob is not counted; this device's own position counts for it.
        board.mark_read(pos(T + 9, 9), key(T + 9, 9), T);
        let bob_fp = bob.public().fingerprint();
        let seen = board.seen_by(MessageId([8; 16]), key(T + 8, 8), Some(&bob_fp), &known);
        let mut me_carol = vec![ids[0], ids[2]];
        me_carol.sort();
        assert_eq!((seen.readers, seen.of), (me_carol, 2));
    }
}
