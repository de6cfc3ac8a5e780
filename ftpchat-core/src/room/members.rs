//! Member rooms (SPEC §9.4, §17): a native room whose records are signed and chained, and
//! whose keys change by epoch as admins add and remove members.
//!
//! - The membership log: `epochs/<n>/commit`, one signed commit per epoch. `MKD epochs/<n>`
//!   is the claim that gives concurrent changes one order; [`MemberRoom::sync`] reads and
//!   checks what is new, [`MemberRoom::publish`] claims the next epoch and writes a change.
//! - The record checks: [`Chains`] decides, per log, which signed records are accepted:
//!   chained to the log's last accepted record, written by a device the membership allows
//!   at that epoch and place, and covered by a verified signature (one per run of records
//!   read together: each signature covers the hash chain before it).

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;
use std::time::Duration;

use crate::format::{
    line_hash, HeaderError, LineDecoder, RecordHash, RoomHeader, RoomId, SignatureError,
    SignedRecord, WriterId,
};
use crate::group::{Change, Commit, EpochSecret, Invitation, LogCut, Member, Membership};
use crate::identity::DeviceIdentity;
use crate::room::config::Clock;
use crate::room::{RoomError, RoomEvent};
use crate::store::LocalStore;
use crate::transport::{self, RemotePath, Transport, TransportError, TransportErrorKind};

/// The membership log's directory inside the room.
pub(crate) const EPOCHS_DIR: &str = "epochs";
/// The commit's file inside `epochs/<n>/`.
pub(crate) const COMMIT_FILE: &str = "commit";
/// How long a client that lost the claim of an epoch waits for the winner's commit.
const CLAIM_WAIT: Duration = Duration::from_secs(30);
/// How many times a change is re-proposed after losing the claim to another.
const MAX_CLAIM_ATTEMPTS: u32 = 8;

/// A member room's header: its room id and, for a room upgraded from a password room, the
/// password room's key derivation (its old records stay readable with the password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberHeader {
    pub room: RoomId,
    pub legacy: Option<RoomHeader>,
}

/// The header of a member room (`ftpchat-room 2`), with the upgraded password room's
/// key derivation as `legacy-` fields.
pub(crate) fn member_header(room: RoomId, legacy: Option<&RoomHeader>) -> String {
    let mut out = format!(
        "ftpchat-room 2\nroom-id: {}\nmembership: epochs\n",
        room.to_hex()
    );
    if let Some(old) = legacy {
        // The version 1 header's fields after its room id, each as `legacy-<name>`.
        for line in old.encode().lines().skip(2) {
            out += &format!("legacy-{line}\n");
        }
    }
    out
}

/// Parses a member room's header. Same line rules as version 1 (§9.2).
pub(crate) fn parse_member_header(data: &[u8]) -> Result<MemberHeader, HeaderError> {
    if data.len() > crate::format::header::MAX_HEADER_LEN {
        return Err(HeaderError::Malformed);
    }
    let text = std::str::from_utf8(data).map_err(|_| HeaderError::Malformed)?;
    let mut lines = text.lines();
    let version = lines
        .next()
        .unwrap_or_default()
        .strip_prefix("ftpchat-room ")
        .ok_or(HeaderError::NotAHeader)?;
    if version != "2" {
        return Err(HeaderError::UnsupportedVersion(
            version.chars().take(32).collect(),
        ));
    }
    let (mut room, mut membership) = (None, None);
    let mut legacy = String::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HeaderError::Malformed)?;
        let slot = match name.trim() {
            "room-id" => (&mut room, "room-id"),
            "membership" => (&mut membership, "membership"),
            other => {
                if let Some(field) = other.strip_prefix("legacy-") {
                    legacy += &format!("{field}: {}\n", value.trim());
                }
                continue;
            }
        };
        if slot.0.replace(value.trim()).is_some() {
            return Err(HeaderError::InvalidField(slot.1));
        }
    }
    if membership.ok_or(HeaderError::MissingField("membership"))? != "epochs" {
        return Err(HeaderError::InvalidField("membership"));
    }
    let room = RoomId::from_hex(room.ok_or(HeaderError::MissingField("room-id"))?)
        .ok_or(HeaderError::InvalidField("room-id"))?;
    let legacy = if legacy.is_empty() {
        None
    } else {
        // The password room's header as it was (same room id), checked by its own rules.
        let old = format!("ftpchat-room 1\nroom-id: {}\n{legacy}", room.to_hex());
        Some(RoomHeader::parse(old.as_bytes())?)
    };
    Ok(MemberHeader { room, legacy })
}

/// The last record of each password-room log, as its cut when the room is upgraded: the
/// highest `seq` of the log's records (of its own writer) and that line's hash.
pub(crate) struct LegacyCutSink<'a> {
    framer: crate::format::LineFramer,
    decoder: &'a mut LineDecoder,
    writer: WriterId,
    pub last: Option<LogCut>,
}

impl<'a> LegacyCutSink<'a> {
    pub fn new(decoder: &'a mut LineDecoder, writer: WriterId) -> Self {
        LegacyCutSink {
            framer: crate::format::LineFramer::new(0),
            decoder,
            writer,
            last: None,
        }
    }
}

impl std::io::Write for LegacyCutSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (decoder, writer, last) = (&mut *self.decoder, self.writer, &mut self.last);
        self.framer.feed(buf, |frame| {
            if let crate::format::Frame::Line { bytes, .. } = frame {
                if let Ok(crate::format::Record::Native(r)) = decoder.decode_line(bytes) {
                    if r.writer == writer && last.as_ref().is_none_or(|c| r.seq > c.seq) {
                        *last = Some(LogCut {
                            writer,
                            seq: r.seq,
                            record_hash: line_hash(bytes),
                        });
                    }
                }
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The header's version: `Some(2)` for a member room, `Some(1)` for a password room.
pub(crate) fn header_version(data: &[u8]) -> Option<u32> {
    let first = data.split(|&b| b == b'\n').next()?;
    let v = first.strip_prefix(b"ftpchat-room ")?;
    std::str::from_utf8(v).ok()?.trim_end().parse().ok()
}

/// This device in a member room: its identity, the membership as far as read, and the
/// epoch secrets it holds.
pub(crate) struct MemberRoom {
    pub identity: Arc<DeviceIdentity>,
    pub device: [u8; 32],
    room: RoomId,
    epochs_dir: RemotePath,
    membership: Option<Membership>,
    /// The hash commit 0 must have (from an invitation, or saved by an earlier run).
    anchor: Option<[u8; 32]>,
    secrets: BTreeMap<u64, EpochSecret>,
    /// The epoch whose commit was rejected (reported once; nothing after it is read).
    rejected: Option<u64>,
    /// This device has been a member (so losing that is a removal, not "not yet joined").
    was_member: bool,
    removed_reported: bool,
    /// The local copy of the membership log, so opening does not download it again.
    cache: Option<MemberCache>,
}

/// What a member room keeps of the server in the local store, so opening neither
/// downloads nor unwraps it again: the membership log's commits and the epoch secrets this
/// device opened (`commits`, `epoch_keys`; schema 5), and each writer's newest state file
/// (`device_states`) so presence and read receipts show before the first sync. Commits are
/// public (their secrets are wrapped), and each is checked again when loaded unless the
/// secrets are cached too (they were checked when first read); state files are checked
/// again when loaded. The secrets are derivable from the public commits and the identity
/// file, which lives in the same folder: keeping them changes no threat. A cache: a failed
/// write only costs a download at the next open (logged).
#[derive(Clone)]
pub(crate) struct MemberCache {
    store: Arc<LocalStore>,
    /// The room's key in the store.
    room: String,
}

impl std::fmt::Debug for MemberCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberCache")
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

impl PartialEq for MemberCache {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store) && self.room == other.room
    }
}

impl Eq for MemberCache {}

impl MemberCache {
    /// The cache of the room `room` in `store`.
    pub fn new(store: Arc<LocalStore>, room: String) -> Self {
        MemberCache { store, room }
    }

    fn logged<T: Default>(result: Result<T, crate::store::StoreError>) -> T {
        result.unwrap_or_else(|e| {
            log::warn!("member cache: {e}");
            T::default()
        })
    }

    /// The cached commits, in order.
    fn load(&self) -> Vec<Vec<u8>> {
        Self::logged(self.store.cached_commits(&self.room))
    }

    /// Replaces the cache with `commits` (a new room, or after a damaged or rejected
    /// entry) and the epoch secrets with `key`.
    fn rewrite(&self, commits: &[Vec<u8>], key: Option<(u64, &EpochSecret)>) {
        let commits: Vec<&[u8]> = commits.iter().map(Vec::as_slice).collect();
        let key = key.map(|(epoch, secret)| (epoch, secret.expose()));
        Self::logged(self.store.cache_membership(&self.room, &commits, true, key));
    }

    /// The cached epoch secrets; `None` when there are none (then they are unwrapped).
    fn load_keys(&self) -> Option<Vec<(u64, EpochSecret)>> {
        let keys = Self::logged(self.store.cached_epoch_keys(&self.room))?;
        Some(
            keys.into_iter()
                .map(|(epoch, secret)| (epoch, EpochSecret::from_array(*secret)))
                .collect(),
        )
    }

    /// Adds an epoch secret.
    fn append_key(&self, epoch: u64, secret: &EpochSecret) {
        let key = Some((epoch, secret.expose()));
        Self::logged(self.store.cache_membership(&self.room, &[], false, key));
    }

    /// Adds one commit after the cached ones.
    fn append(&self, commit: &[u8]) {
        Self::logged(
            self.store
                .cache_membership(&self.room, &[commit], false, None),
        );
    }

    /// The cached state files (presence, SPEC §18): per writer, its counter and bytes.
    pub fn load_states(&self) -> Vec<(WriterId, u64, Vec<u8>)> {
        Self::logged(self.store.cached_device_states(&self.room))
            .into_iter()
            .map(|(writer, counter, data)| (WriterId(writer), counter, data))
            .collect()
    }

    /// Keeps `states` as their writers' newest state files.
    pub fn keep_states(&self, states: &[(WriterId, u64, Vec<u8>)]) {
        let states: Vec<([u8; 16], u64, &[u8])> = states
            .iter()
            .map(|(w, c, data)| (w.0, *c, data.as_slice()))
            .collect();
        Self::logged(self.store.cache_device_states(&self.room, &states));
    }
}

impl MemberRoom {
    pub fn new(
        identity: Arc<DeviceIdentity>,
        room: RoomId,
        room_dir: &RemotePath,
        anchor: Option<[u8; 32]>,
        cache: Option<MemberCache>,
    ) -> Result<Self, RoomError> {
        Ok(MemberRoom {
            cache,
            device: identity.public().signing_key_bytes(),
            identity,
            room,
            epochs_dir: room_dir.join(EPOCHS_DIR)?,
            membership: None,
            anchor,
            secrets: BTreeMap::new(),
            rejected: None,
            was_member: false,
            removed_reported: false,
        })
    }

    pub fn room(&self) -> RoomId {
        self.room
    }

    pub fn membership(&self) -> Option<&Membership> {
        self.membership.as_ref()
    }

    /// The hash of commit 0, once known.
    pub fn anchor(&self) -> Option<[u8; 32]> {
        self.anchor
    }

    /// `true` while this device is an active member.
    pub fn is_member(&self) -> bool {
        self.membership
            .as_ref()
            .and_then(|m| m.member_of_device(&self.device))
            .is_some()
    }

    /// `true` when this device should hold the key of `epoch`: it is a member and the
    /// epoch is not before the first one it holds (older ones predate its join).
    pub fn expects_key(&self, epoch: u64) -> bool {
        self.is_member()
            && self
                .secrets
                .keys()
                .next()
                .is_some_and(|first| epoch >= *first)
    }

    /// The newest epoch this device holds the secret of, with its message key.
    pub fn current_key(&self) -> Option<(u64, crate::crypto::FernetKey)> {
        let epoch = self.membership.as_ref()?.epoch();
        let secret = self.secrets.get(&epoch)?;
        Some((epoch, secret.message_key(self.room, epoch)))
    }

    /// Creates the membership log of a new room: commit 0 by this device.
    pub fn create(&mut self, t: &dyn Transport, now_ms: u64) -> Result<(), RoomError> {
        let (membership, commit, secret) = Membership::create(self.room, &self.identity, now_ms);
        transport::make_dir_all(t, &self.epochs_dir)?;
        let dir = self.epochs_dir.join("0")?;
        t.make_dir(&dir)?;
        let bytes = commit.encode();
        t.write_atomic(&dir.join(COMMIT_FILE)?, &bytes)?;
        if let Some(cache) = &self.cache {
            cache.rewrite(&[bytes], Some((0, &secret)));
        }
        self.anchor = Some(commit.hash());
        self.secrets.insert(0, secret);
        self.membership = Some(membership);
        self.was_member = true;
        Ok(())
    }

    /// Applies the locally cached commits (checked as if they came from the server), so an
    /// open reads only what is newer from the server. A cached commit that does not apply
    /// (a cache from another room of that name) drops the cache from there on.
    pub fn load_cache(&mut self, decoder: &mut LineDecoder) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        let commits = cache.load();
        let keys = cache.load_keys();
        let anchor_before = self.anchor;
        let mut good = 0;
        for (n, bytes) in commits.iter().enumerate() {
            // Verified when they were first read; the secrets come from the cache.
            let trusted = keys.is_some();
            if self
                .apply_commit(n as u64, bytes, decoder, trusted)
                .is_err()
            {
                break;
            }
            good += 1;
        }
        if good < commits.len() {
            cache.rewrite(&commits[..good], None);
            self.secrets.clear();
            decoder.clear_epoch_keys();
            // Start again from the server, checking everything.
            self.membership = None;
            self.anchor = anchor_before;
            self.cache = Some(cache);
            return;
        }
        if let Some(keys) = keys {
            let known = self.membership.as_ref().map_or(0, Membership::epoch);
            for (epoch, secret) in keys.into_iter().filter(|(e, _)| *e <= known) {
                decoder.add_epoch_key(self.room, epoch, secret.message_key(self.room, epoch));
                self.secrets.insert(epoch, secret);
            }
        }
        self.cache = Some(cache);
        self.was_member |= self.is_member();
    }

    /// Reads and applies the commits after the known epoch. Returns `true` when the
    /// membership changed. New epoch keys go to `decoder`. A commit that does not apply is
    /// reported once and nothing after it is read (a hostile or broken change is never
    /// half-applied).
    pub fn sync(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        events: &mut Vec<RoomEvent>,
    ) -> Result<bool, TransportError> {
        let entries = match t.list(&self.epochs_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == TransportErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut numbers: Vec<u64> = entries
            .iter()
            .filter(|e| e.is_dir)
            .filter_map(|e| epoch_number(&e.name))
            .collect();
        numbers.sort_unstable();
        let mut changed = false;
        let next = |m: &Option<Membership>| m.as_ref().map_or(0, |m| m.epoch() + 1);
        for n in numbers {
            if n < next(&self.membership) {
                continue;
            }
            if n != next(&self.membership) || self.rejected.is_some() {
                break; // a gap: the commit before it is not there yet
            }
            let path = self.epochs_dir.join(&n.to_string())?.join(COMMIT_FILE)?;
            let bytes = match transport::read_bounded(t, &path, crate::group::MAX_COMMIT_LEN) {
                Ok(Some(b)) => b,
                // Claimed but not written yet (or over the bound): read again next time.
                Ok(None) => {
                    self.reject(n, "the commit is larger than the limit".into(), events);
                    break;
                }
                Err(e) if e.kind() == TransportErrorKind::NotFound => break,
                Err(e) => return Err(e),
            };
            match self.apply_bytes(n, &bytes, decoder) {
                Ok(()) => {
                    if let Some(cache) = &self.cache {
                        cache.append(&bytes);
                    }
                    changed = true;
                    events.push(RoomEvent::MembershipChanged { epoch: n });
                }
                Err(reason) => {
                    self.reject(n, reason, events);
                    break;
                }
            }
        }
        self.note_removal(events);
        Ok(changed)
    }

    /// Reports (once) that this device, a member before, is no longer one.
    fn note_removal(&mut self, events: &mut Vec<RoomEvent>) {
        if self.is_member() {
            self.was_member = true;
        } else if self.was_member && !self.removed_reported {
            self.removed_reported = true;
            events.push(RoomEvent::RemovedFromRoom);
        }
    }

    fn reject(&mut self, epoch: u64, reason: String, events: &mut Vec<RoomEvent>) {
        if self.rejected != Some(epoch) {
            self.rejected = Some(epoch);
            events.push(RoomEvent::MembershipRejected { epoch, reason });
        }
    }

    /// Decodes, checks and applies commit `n`, and takes the secrets it gives this device.
    fn apply_bytes(
        &mut self,
        n: u64,
        bytes: &[u8],
        decoder: &mut LineDecoder,
    ) -> Result<(), String> {
        self.apply_commit(n, bytes, decoder, false)
    }

    /// [`apply_bytes`](Self::apply_bytes); `cached`: a commit from this device's own cache,
    /// verified when it was first read, whose secrets are in the cache (not unwrapped
    /// again).
    fn apply_commit(
        &mut self,
        n: u64,
        bytes: &[u8],
        decoder: &mut LineDecoder,
        cached: bool,
    ) -> Result<(), String> {
        let commit = match cached {
            true => Commit::decode_verified_before(bytes),
            false => Commit::decode(bytes),
        }
        .map_err(|e| e.to_string())?;
        if commit.epoch != n {
            return Err(format!(
                "epochs/{n} holds the commit of epoch {}",
                commit.epoch
            ));
        }
        match &mut self.membership {
            None => {
                if let Some(anchor) = self.anchor {
                    if commit.hash() != anchor {
                        return Err("commit 0 is not the room's (its hash differs from the \
                                    invitation's or the saved one)"
                            .into());
                    }
                }
                let m =
                    Membership::replay(std::slice::from_ref(&commit)).map_err(|e| e.to_string())?;
                if m.room() != self.room {
                    return Err("commit 0 names another room".into());
                }
                self.anchor = Some(commit.hash());
                self.membership = Some(m);
            }
            Some(m) => m.apply(&commit).map_err(|e| e.to_string())?,
        }
        if !cached {
            self.take_secrets(&commit, decoder);
        }
        Ok(())
    }

    /// Keeps the epoch secrets a commit gives this device, and their keys in `decoder`.
    fn take_secrets(&mut self, commit: &Commit, decoder: &mut LineDecoder) {
        let mut taken = Vec::new();
        if let Ok(Some(secret)) = commit.open_secret(&self.identity) {
            taken.push((commit.epoch, secret));
        }
        if let Ok(history) = commit.open_history(&self.identity) {
            taken.extend(history);
        }
        for (epoch, secret) in taken {
            if self.secrets.contains_key(&epoch) {
                continue;
            }
            decoder.add_epoch_key(self.room, epoch, secret.message_key(self.room, epoch));
            if let Some(cache) = &self.cache {
                cache.append_key(epoch, &secret);
            }
            self.secrets.insert(epoch, secret);
        }
    }

    /// Proposes `change` as `author` on the newest membership and writes it as the next
    /// epoch. Losing the claim to another client (its `MKD` came first) means reading its
    /// commit and proposing again on top of it, where the change may no longer be allowed
    /// (e.g. the author was removed by it): then this fails with the reason.
    pub fn publish(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        decoder: &mut LineDecoder,
        author: &DeviceIdentity,
        change: Change,
        events: &mut Vec<RoomEvent>,
    ) -> Result<u64, RoomError> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            self.sync(t, decoder, events)?;
            if let Some(epoch) = self.rejected {
                return Err(RoomError::Membership(format!(
                    "the membership log is stuck at a rejected commit (epoch {epoch})"
                )));
            }
            let m = self
                .membership
                .as_ref()
                .ok_or_else(|| RoomError::Membership("the membership log is empty".into()))?;
            let history: Vec<(u64, &EpochSecret)> = if change_shares_history(&change) {
                self.secrets.iter().map(|(e, s)| (*e, s)).collect()
            } else {
                Vec::new()
            };
            let (commit, _secret) = m
                .propose(author, change.clone(), clock.now_ms(), &history)
                .map_err(|e| RoomError::Membership(e.to_string()))?;
            let n = commit.epoch;
            let dir = self.epochs_dir.join(&n.to_string())?;
            match t.make_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {
                    // Another change claimed epoch n first: wait for its commit, then
                    // propose again on top of it.
                    self.wait_for(t, clock, decoder, n, events)?;
                    continue;
                }
                Err(e) if e.kind() == TransportErrorKind::NotFound => {
                    transport::make_dir_all(t, &self.epochs_dir)?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let bytes = commit.encode();
            store_claimed(t, clock, &dir, &bytes)?;
            self.apply_bytes(n, &bytes, decoder)
                .map_err(RoomError::Membership)?;
            if let Some(cache) = &self.cache {
                cache.append(&bytes);
            }
            events.push(RoomEvent::MembershipChanged { epoch: n });
            return Ok(n);
        }
        Err(RoomError::Membership(
            "other changes kept claiming the next epoch first".into(),
        ))
    }

    fn wait_for(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        decoder: &mut LineDecoder,
        epoch: u64,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), RoomError> {
        let mut waited = Duration::ZERO;
        let mut pause = Duration::from_millis(50);
        loop {
            self.sync(t, decoder, events)?;
            let known = self.membership.as_ref().map_or(0, Membership::epoch);
            if known >= epoch || self.rejected.is_some() {
                return Ok(());
            }
            if waited >= CLAIM_WAIT {
                return Err(RoomError::Membership(format!(
                    "epochs/{epoch} was claimed but its commit did not appear"
                )));
            }
            clock.sleep(pause);
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Accepts an invitation: the invitation's key adds this device as a member.
    pub fn accept(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        decoder: &mut LineDecoder,
        invitation: &Invitation,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), RoomError> {
        self.sync(t, decoder, events)?;
        if self.is_member() {
            return Ok(());
        }
        let invite = invitation.invite_identity();
        let device = self.identity.public();
        self.publish(
            t,
            clock,
            decoder,
            &invite,
            Change::Accept { device },
            events,
        )?;
        Ok(())
    }

    /// Members with their devices and roles.
    pub fn members(&self) -> Vec<Member> {
        self.membership
            .as_ref()
            .map(|m| m.members().cloned().collect())
            .unwrap_or_default()
    }
}

/// Writes a commit into the epoch directory this client claimed. Retried: an empty claim
/// stops every membership change (SPEC §17.1). If it cannot be written, the claim is given
/// back (the directory removed, which only works while it is empty).
fn store_claimed(
    t: &dyn Transport,
    clock: &dyn Clock,
    dir: &RemotePath,
    bytes: &[u8],
) -> Result<(), RoomError> {
    let path = dir.join(COMMIT_FILE)?;
    let mut pause = Duration::from_millis(100);
    let mut last = None;
    for _ in 0..4 {
        match t.write_atomic(&path, bytes) {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() => {
                last = Some(e);
                clock.sleep(pause);
                pause *= 2;
            }
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    // It may have landed before the error: then the claim is complete.
    if let Ok(Some(found)) = transport::read_bounded(t, &path, crate::group::MAX_COMMIT_LEN) {
        if found == bytes {
            return Ok(());
        }
    }
    let _ = t.remove_dir(dir);
    Err(last
        .map(RoomError::Transport)
        .unwrap_or_else(|| RoomError::Membership("the commit could not be stored".into())))
}

fn change_shares_history(change: &Change) -> bool {
    matches!(
        change,
        Change::Add {
            share_history: true,
            ..
        } | Change::AddDevice {
            share_history: true,
            ..
        }
    )
}

/// `epochs/<n>`: a minimal decimal number.
fn epoch_number(name: &str) -> Option<u64> {
    if name.is_empty() || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    if !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// Where a log's chain stands: its last accepted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ChainTip {
    pub seq: u64,
    pub hash: RecordHash,
    /// The device whose log it is (known once a record was accepted).
    pub device: [u8; 32],
    /// The hash of the last line after the tip that this reader cannot decrypt (an epoch
    /// before it joined): the next record it can read may continue the chain from there.
    pub unread: Option<RecordHash>,
}

/// One line of a log's run, as the chain check sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry<'a> {
    /// A decoded signed record.
    Record(&'a SignedRecord),
    /// A signed line of an epoch this reader holds no key for, by its line hash.
    Unreadable(RecordHash),
}

/// Why a signed record was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its signature (or that of the record that covers it) does not verify.
    BadSignature(SignatureError),
    /// It does not continue its log's chain: a gap, a reordering, a truncation.
    Broken,
    /// Another record already holds its place in the chain.
    Fork,
    /// Its writer may not write it (not a member, removed, an epoch it had no key for).
    NotAllowed(String),
}

/// The decision for one log's run of signed records read together.
#[derive(Debug, Default)]
pub(crate) struct RunVerdict {
    /// Indexes (into the run) of the records accepted.
    pub accepted: Vec<usize>,
    /// Indexes of records refused, and why.
    pub refused: Vec<(usize, Refusal)>,
    /// Indexes of exact copies of accepted records (a retried append): dropped quietly.
    pub copies: Vec<usize>,
}

/// Decides which records of one log's run are accepted (SPEC §9.4). Pure: `known` says
/// whether a record id was already accepted from this log (a copy), `allowed` asks the
/// membership.
pub(crate) fn check_run(
    tip: &mut ChainTip,
    run: &[Entry<'_>],
    known: impl Fn(&SignedRecord) -> bool,
    allowed: impl Fn(&SignedRecord, &RecordHash) -> Result<(), String>,
) -> RunVerdict {
    let mut verdict = RunVerdict::default();
    // Records that extend the chain, in order: (index, record).
    let mut chained: Vec<(usize, &SignedRecord)> = Vec::new();
    let mut head = *tip;
    for (i, entry) in run.iter().enumerate() {
        let r = match entry {
            Entry::Unreadable(hash) => {
                head.unread = Some(*hash);
                continue;
            }
            Entry::Record(r) => *r,
        };
        let (hash, seq) = (r.hash(), r.record.seq);
        if seq <= head.seq {
            if (seq == head.seq && hash == head.hash) || known(r) {
                verdict.copies.push(i);
            } else {
                verdict.refused.push((i, Refusal::Fork));
            }
            continue;
        }
        let prev = if head.seq == 0 { [0u8; 32] } else { head.hash };
        let next = seq == head.seq + 1 && r.prev == prev;
        // Past lines this reader cannot decrypt, the chain continues by their hashes.
        let after_unread = head.unread.is_some_and(|u| u == r.prev);
        if !(next || after_unread) {
            verdict.refused.push((i, Refusal::Broken));
            continue;
        }
        head = ChainTip {
            seq,
            hash,
            device: r.device,
            unread: None,
        };
        chained.push((i, r));
    }
    // One signature covers the chain before it: verify from the end until one holds.
    let mut covered = 0;
    for k in (0..chained.len()).rev() {
        let (i, r) = chained[k];
        match r.verify_signature() {
            Ok(()) => {
                covered = k + 1;
                break;
            }
            Err(e) => verdict.refused.push((i, Refusal::BadSignature(e))),
        }
    }
    for &(i, r) in &chained[..covered] {
        match allowed(r, &r.hash()) {
            Ok(()) => verdict.accepted.push(i),
            Err(reason) => verdict.refused.push((i, Refusal::NotAllowed(reason))),
        }
    }
    let last_covered = covered.checked_sub(1).map(|k| chained[k]);
    if let Some((_, r)) = last_covered {
        tip.seq = r.record.seq;
        tip.hash = r.hash();
        tip.device = r.device;
        tip.unread = None;
    }
    // An unreadable line after everything accepted may still be where the chain goes on.
    let from = last_covered.map_or(0, |(i, _)| i + 1);
    if let Some(hash) = run[from..].iter().rev().find_map(|e| match e {
        Entry::Unreadable(h) => Some(*h),
        Entry::Record(_) => None,
    }) {
        tip.unread = Some(hash);
    }
    verdict.refused.sort_by_key(|(i, _)| *i);
    verdict
}

/// Per-log chain tips of a member room, saved with the read positions.
pub(crate) type Chains = HashMap<String, ChainTip>;

/// The membership's verdict on a record: may its device write it there?
pub(crate) fn may_write(
    membership: Option<&Membership>,
    record: &SignedRecord,
    hash: &RecordHash,
) -> Result<(), String> {
    let m = membership.ok_or("the membership log is not read yet")?;
    m.may_write(
        &record.device,
        record.record.writer,
        record.record.seq,
        record.epoch,
        hash,
    )
    .map_err(|e| e.to_string())
}
