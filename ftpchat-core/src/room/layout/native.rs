//! The native layout: a header (`room.ftpchat`) and one append-only log per device under
//! `logs/`, so no two clients write one file (SPEC §8, §9.2).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{derive, Layout, Opened, Writer};
use crate::crypto::{FernetKey, KdfParams};
use crate::format::{
    derive_writer_id, line_hash, ChainLink, DecodeError, HeaderError, Keyring, LineDecoder,
    LineEncoder, NativeRecord, Record, RecordBody, RecordHash, RecordId, RoomHeader, RoomId,
    SignedRecord, WriterId,
};
use crate::group::private::{open_private, seal_private};
use crate::group::{Change, Invitation, LogCut, Member, MemberId, Membership, Role};
use crate::identity::DeviceIdentity;
use crate::room::config::{Clock, Credentials, MemberAccess, RoomConfig};
use crate::room::decide::{batch_data, Delivery, Observed, Step};
use crate::room::io::{drive, read_new, undecodable, unreadable, LineItem, ReadOutput};
use crate::room::members::{
    check_run, header_version, may_write, member_header, parse_member_header, ChainTip, Chains,
    Entry, LegacyCutSink, MemberHeader, MemberRoom, Refusal,
};
use crate::room::presence::SharedBoard;
use crate::room::state::{Outgoing, SavedState};
use crate::room::view::{native_key, native_message, View};
use crate::room::{lock, RoomError, RoomEvent};
use crate::timeline::{Author, FileReader, HlcClock, Message, MessageId, MessageStatus};
use crate::transport::{self, RemotePath, Transport, TransportError, TransportErrorKind};

#[path = "native_presence.rs"]
mod presence;

pub(crate) const HEADER_FILE: &str = "room.ftpchat";
pub(crate) const LOGS_DIR: &str = "logs";

/// The doorbell (SPEC §9.2.1): `logs/doorbell`, one byte appended after each delivery
/// others should see promptly, so idle readers check one size instead of listing.
pub(crate) const DOORBELL_FILE: &str = "doorbell";

/// What a ring appends.
const RING: &[u8] = b"\n";
/// The most bytes of incomplete last lines a native room keeps across all its logs; over
/// it, tails are parked (read again when their log grows), so a server that ends many
/// logs mid-line costs bandwidth, not memory.
pub(crate) const MAX_KEPT_TAILS: u64 = 1024 * 1024;
/// The most logs a native room reads; more are ignored and reported once.
pub(crate) const MAX_LOGS: usize = 10_000;

/// Encodes this device's records: its writer id, sequence and hybrid logical clock.
pub(crate) struct NativeWriter {
    /// The room key; in a member room, the current epoch's message key.
    key: FernetKey,
    room: RoomId,
    writer: WriterId,
    seq: u64,
    clock: HlcClock,
    /// Member rooms: how this device signs and chains its records.
    signer: Option<Signer>,
}

/// How a device signs its records in a member room (SPEC §8.6).
pub(crate) struct Signer {
    identity: Arc<DeviceIdentity>,
    /// The epoch whose key `NativeWriter::key` is; `None` while this device holds no
    /// current epoch key (not a member yet, or removed): it cannot write.
    epoch: Option<u64>,
    /// The hash of this device's last record in its log (zeros before the first).
    prev: RecordHash,
    generation: u64,
    /// The member this device belongs to (the author of its records), once known.
    member: Option<MemberId>,
    /// The membership as last read: whose devices a private record is sealed to.
    membership: Option<Membership>,
}

impl NativeWriter {
    /// Encodes a record as this writer's next line: signed and chained in a member room.
    fn line(
        &mut self,
        record: &NativeRecord,
        encoder: &mut LineEncoder,
    ) -> Result<String, RoomError> {
        match &mut self.signer {
            None => Ok(encoder.native(record, &self.key)),
            Some(s) => {
                let epoch = s.epoch.ok_or(RoomError::NotAMember)?;
                let link = ChainLink {
                    epoch,
                    prev: s.prev,
                    generation: s.generation,
                };
                let mut signed = SignedRecord::sign(record.clone(), link, &s.identity);
                let line = encoder.signed(&mut signed, &self.key);
                s.prev = signed.hash();
                Ok(line)
            }
        }
    }
}

impl Writer for NativeWriter {
    fn room_id(&self) -> Option<RoomId> {
        Some(self.room)
    }

    fn encode(
        &mut self,
        text: &str,
        name: &str,
        now_ms: u64,
        _offset_secs: i32,
        encoder: &mut LineEncoder,
    ) -> Result<(Outgoing, Message), RoomError> {
        let (out, record) =
            self.encode_record(RecordBody::Text(text.to_owned()), name, now_ms, encoder)?;
        let mut message = native_message(&record, text.to_owned(), true);
        message.signer = self.signer_fingerprint();
        message.status = MessageStatus::Pending;
        Ok((out, message))
    }

    fn encode_record(
        &mut self,
        body: RecordBody,
        name: &str,
        now_ms: u64,
        encoder: &mut LineEncoder,
    ) -> Result<(Outgoing, NativeRecord), RoomError> {
        self.encode_with_id(RecordId::random(), body, name, now_ms, encoder)
    }

    fn encode_private(
        &mut self,
        to: MemberId,
        inner: RecordBody,
        name: &str,
        now_ms: u64,
        encoder: &mut LineEncoder,
    ) -> Result<(Outgoing, NativeRecord), RoomError> {
        let s = self.signer.as_ref().ok_or(RoomError::NotAMemberRoom)?;
        let (Some(ms), Some(me)) = (&s.membership, s.member) else {
            return Err(RoomError::NotAMember);
        };
        let recipient = ms
            .member(&to)
            .ok_or_else(|| RoomError::Membership(format!("{to} is not a member of the room")))?;
        let own = ms.member(&me).ok_or(RoomError::NotAMember)?;
        let mut devices = recipient.devices.clone();
        for d in &own.devices {
            if !devices.contains(d) {
                devices.push(d.clone());
            }
        }
        let id = RecordId::random();
        let body = seal_private(self.room, id, to, &devices, &inner)
            .map_err(|e| RoomError::Membership(e.to_string()))?;
        self.encode_with_id(id, body, name, now_ms, encoder)
    }

    fn open_private(&self, record: &NativeRecord) -> Result<Option<RecordBody>, String> {
        let Some(s) = &self.signer else {
            return Ok(None);
        };
        open_private(&s.identity, self.room, record.id, &record.body).map_err(|e| e.to_string())
    }

    fn author(&self) -> Result<Author, RoomError> {
        match &self.signer {
            None => Ok(Author(self.writer.0)),
            Some(s) => s.member.map(|m| Author(m.0)).ok_or(RoomError::NotAMember),
        }
    }

    fn observe(&mut self, record: &NativeRecord, now_ms: u64) {
        self.clock.observe(record.hlc, now_ms);
    }

    fn signer_fingerprint(&self) -> Option<String> {
        self.signer
            .as_ref()
            .map(|s| s.identity.public().fingerprint())
    }
}

impl NativeWriter {
    /// Encodes `body` as this writer's next record, with the given record id.
    fn encode_with_id(
        &mut self,
        id: RecordId,
        body: RecordBody,
        name: &str,
        now_ms: u64,
        encoder: &mut LineEncoder,
    ) -> Result<(Outgoing, NativeRecord), RoomError> {
        if let Some(s) = &self.signer {
            if s.epoch.is_none() {
                return Err(RoomError::NotAMember);
            }
        }
        self.seq += 1;
        let record = NativeRecord {
            id,
            room: self.room,
            writer: self.writer,
            seq: self.seq,
            hlc: self.clock.tick(now_ms),
            sender: name.to_owned(),
            body,
        };
        let line = self.line(&record, encoder)?;
        let out = Outgoing {
            id: MessageId(record.id.0),
            key: native_key(&record),
            line,
        };
        Ok((out, record))
    }
}

/// This device's own log, as far as this device knows it.
#[derive(Debug)]
struct OwnLog {
    name: String,
    path: RemotePath,
    len: u64,
    ends_with_lf: bool,
    /// `false` after any failed append and at start: check the log before appending.
    verified: bool,
    /// The check found records this device did not write: another device uses this
    /// writer id (a copied state folder) or the state is older than the log (a restored
    /// backup). Delivery switches to a new writer id before appending again.
    conflict: bool,
}

/// Reading every device's log and appending to this device's own.
pub(crate) struct NativeLayout {
    logs_dir: RemotePath,
    own: OwnLog,
    readers: HashMap<String, FileReader>,
    /// Highest sequence number accepted from each log, saved with the read positions.
    max_seq: HashMap<String, u64>,
    /// `max_seq` as restored at open: records at or below it were accepted by an earlier
    /// run, so a copy after the saved read position is a replay. (Within one run the
    /// record id catches copies; a record moved within a log is still shown.)
    restored_max_seq: HashMap<String, u64>,
    /// Logs this device wrote under earlier writer ids (its messages there are its own).
    retired: Vec<String>,
    /// Bytes of incomplete last lines kept across all logs (bounded by MAX_KEPT_TAILS).
    kept_tails: u64,
    /// `MAX_LOGS` was reported.
    too_many_logs_reported: bool,
    header_text: String,
    /// Member rooms: the membership and this device's place in it.
    members: Option<MemberRoom>,
    /// Member rooms: each log's last accepted record.
    chains: Chains,
    /// Member rooms: presence and read positions (SPEC §18).
    presence: Option<presence::NativePresence>,
    /// The doorbell's size as the last listing of `logs/` showed it (`None`: not there).
    bell: Option<u64>,
    /// Member rooms: when `epochs/` was last listed (room clock, ms) and the doorbell's
    /// size then; `None`: not yet in this run.
    membership_read: Option<(u64, Option<u64>)>,
}

/// The longest a member room goes without listing `epochs/` while its doorbell is quiet
/// (SPEC §9.2.1): membership commits ring, so this only bounds how late a commit whose
/// ring was lost is found.
const MEMBERSHIP_READ_GAP_MS: u64 = 300_000;

impl NativeLayout {
    /// Opens (or creates) the room in `dir`: reads the header, checks the key, refuses a
    /// header that changed since this device last opened the room unless accepted.
    pub fn open(
        t: &dyn Transport,
        dir: &str,
        config: &RoomConfig,
        mut saved: SavedState,
    ) -> Result<Opened<Self>, RoomError> {
        let room_dir = RemotePath::new(dir)?;
        if let Some(Credentials::Member(access)) = &config.credentials {
            return Self::open_member(t, room_dir, config, access, saved);
        }
        let (header, created_key) =
            load_or_create_header(t, &room_dir, config, saved.header.as_deref())?;
        let key = match created_key {
            Some(k) => k,
            None => derive(&config.credentials, &header.kdf).ok_or_else(needs_key)?,
        };
        header.verify_key(&key)?;
        let mut history_loaded = saved.cursors.is_empty();
        let mut events = Vec::new();
        // A header unlike the one this client opened before: another room now has this
        // name, or someone who knows the password replaced it (e.g. with a weaker KDF).
        // Never used unless the caller accepts it (SPEC §9.2).
        let header_changed = saved
            .header
            .as_deref()
            .and_then(|h| RoomHeader::parse(h.as_bytes()).ok())
            .is_some_and(|old| old.room_id != header.room_id || old.kdf != header.kdf);
        if header_changed {
            if !config.accept_changed_header {
                return Err(RoomError::HeaderChanged);
            }
            // Another room: nothing saved about the old one applies. Unsent messages stay
            // saved (held: they do not decode under the new key).
            saved = SavedState {
                outbox: std::mem::take(&mut saved.outbox),
                ..SavedState::default()
            };
            history_loaded = true;
            events.push(RoomEvent::HeaderChanged);
        }
        let writer = saved.writer.unwrap_or_else(WriterId::random);
        let logs_dir = room_dir.join(LOGS_DIR)?;
        let name = log_name(writer);
        let layout = NativeLayout {
            own: OwnLog {
                path: logs_dir.join(&name)?,
                name,
                len: saved.own_log_len,
                ends_with_lf: saved.own_log_ends_with_lf || saved.own_log_len == 0,
                verified: false,
                conflict: false,
            },
            logs_dir,
            readers: saved
                .cursors
                .iter()
                .map(|(name, c)| (name.clone(), FileReader::resume(c.clone())))
                .collect(),
            max_seq: saved.max_seq.clone().into_iter().collect(),
            restored_max_seq: saved.max_seq.clone().into_iter().collect(),
            retired: saved.retired.iter().map(|w| log_name(*w)).collect(),
            kept_tails: 0,
            too_many_logs_reported: false,
            header_text: header.encode(),
            members: None,
            chains: Chains::new(),
            presence: None,
            bell: None,
            membership_read: None,
        };
        Ok(Opened {
            layout,
            writer: NativeWriter {
                key: key.clone(),
                room: header.room_id,
                writer,
                seq: saved.seq,
                clock: HlcClock::new(saved.hlc),
                signer: None,
            },
            keys: Keyring {
                fernet: None,
                native: Some((key, header.room_id)),
            },
            epochs: None,
            saved,
            history_loaded,
            events,
        })
    }

    /// Opens (or creates) a member room: header version 2, the membership log under
    /// `epochs/`, records signed by this device's identity (SPEC §9.4, §17). Joining with
    /// an invitation accepts it (the invitation's key adds this device).
    fn open_member(
        t: &dyn Transport,
        room_dir: RemotePath,
        config: &RoomConfig,
        access: &MemberAccess,
        mut saved: SavedState,
    ) -> Result<Opened<Self>, RoomError> {
        let clock = config.clock.as_ref();
        let invitation = access.invitation.as_deref();
        let may_create = config.create && invitation.is_none();
        let cached_header = saved.header.as_deref().map(str::as_bytes);
        let (header, created) =
            load_or_create_member_header(t, &room_dir, config, may_create, cached_header)?;
        let room = header.room;
        let mut events = Vec::new();
        if let Some(inv) = invitation {
            if inv.room() != room {
                return Err(RoomError::Membership(
                    "the invitation is for another room than the one at this location".into(),
                ));
            }
        }
        let saved_room = saved
            .header
            .as_deref()
            .and_then(|h| parse_member_header(h.as_bytes()).ok())
            .map(|h| h.room);
        let mut history_loaded = saved.cursors.is_empty();
        // This device's state from before the room was upgraded: its old log is history
        // it wrote; everything else starts again for the member room (SPEC §17.11).
        let upgraded_from = saved
            .header
            .as_deref()
            .filter(|h| header_version(h.as_bytes()) == Some(1))
            .and_then(|h| RoomHeader::parse(h.as_bytes()).ok())
            .filter(|old| old.room_id == room);
        if upgraded_from.is_some() {
            let mut retired = std::mem::take(&mut saved.retired);
            retired.extend(saved.writer);
            saved = SavedState {
                outbox: std::mem::take(&mut saved.outbox),
                retired,
                member_cache: saved.member_cache.take(),
                ..SavedState::default()
            };
            history_loaded = true;
        } else if saved_room.is_some_and(|r| r != room)
            || (saved.header.is_some() && saved_room.is_none())
        {
            if !config.accept_changed_header {
                return Err(RoomError::HeaderChanged);
            }
            saved = SavedState {
                outbox: std::mem::take(&mut saved.outbox),
                ..SavedState::default()
            };
            history_loaded = true;
            events.push(RoomEvent::HeaderChanged);
        }
        let anchor = match (saved.anchor, invitation.map(Invitation::anchor)) {
            (Some(a), Some(b)) if a != b => {
                return Err(RoomError::Membership(
                    "the invitation names another membership history than the one this device \
                     saved for the room"
                        .into(),
                ))
            }
            (a, b) => a.or(b),
        };
        let mut member = MemberRoom::new(
            access.identity.clone(),
            room,
            &room_dir,
            anchor,
            saved.member_cache.clone(),
        )?;
        // An upgraded password room: with the old password, its records before the
        // upgrade are read too.
        let legacy_key = match (&header.legacy, &access.legacy_password) {
            (Some(old), Some(password)) => {
                let key = crate::crypto::derive_key(password.expose(), &old.kdf);
                old.verify_key(&key)?;
                Some((key, room))
            }
            _ => None,
        };
        let mut decoder = LineDecoder::new(Keyring {
            fernet: None,
            native: legacy_key,
        });
        if created {
            member.create(t, clock.now_ms())?;
            write_member_header(t, &room_dir, room, None)?;
        } else {
            member.load_cache(&mut decoder);
        }
        match member.sync(t, &mut decoder, &mut events) {
            Ok(_) => {}
            // Offline: a room opened before opens from its cached membership, so the user
            // reads what is saved and queues messages.
            Err(e) if e.is_transient() && member.membership().is_some() => {}
            Err(e) => return Err(e.into()),
        }
        if member.membership().is_none() {
            return Err(RoomError::Membership(
                "the room's membership log has no valid commit 0".into(),
            ));
        }
        if let Some(inv) = invitation {
            member.accept(t, clock, &mut decoder, inv, &mut events)?;
        }
        let device = member.device;
        let generation = saved.generation;
        let writer = derive_writer_id(room, &device, generation);
        let logs_dir = room_dir.join(LOGS_DIR)?;
        let name = log_name(writer);
        let mut presence = presence::NativePresence::new(
            config.presence(),
            device,
            clock.now_ms(),
            saved.member_cache.clone(),
        );
        presence.restore(
            &mut decoder,
            member.membership(),
            member.members(),
            clock.now_ms(),
        );
        let (epoch, key) = match member.current_key() {
            Some((e, k)) => (Some(e), k),
            None => (None, FernetKey::generate()),
        };
        let own_member = member
            .membership()
            .and_then(|m| m.member_id_of_device(&device));
        let own_membership = member.membership().cloned();
        let layout = NativeLayout {
            own: OwnLog {
                path: logs_dir.join(&name)?,
                name,
                len: saved.own_log_len,
                ends_with_lf: saved.own_log_ends_with_lf || saved.own_log_len == 0,
                verified: false,
                conflict: false,
            },
            logs_dir,
            readers: saved
                .cursors
                .iter()
                .map(|(name, c)| (name.clone(), FileReader::resume(c.clone())))
                .collect(),
            max_seq: HashMap::new(),
            restored_max_seq: HashMap::new(),
            retired: saved.retired.iter().map(|w| log_name(*w)).collect(),
            kept_tails: 0,
            too_many_logs_reported: false,
            header_text: member_header(room, header.legacy.as_ref()),
            members: Some(member),
            chains: saved
                .chains
                .iter()
                .map(|(n, (seq, hash, device, unread))| {
                    let tip = ChainTip {
                        seq: *seq,
                        hash: *hash,
                        device: *device,
                        unread: *unread,
                    };
                    (n.clone(), tip)
                })
                .collect(),
            presence: Some(presence),
            bell: None,
            membership_read: None,
        };
        Ok(Opened {
            layout,
            writer: NativeWriter {
                key,
                room,
                writer,
                seq: saved.seq,
                clock: HlcClock::new(saved.hlc),
                signer: Some(Signer {
                    identity: access.identity.clone(),
                    epoch,
                    prev: saved.prev.unwrap_or([0; 32]),
                    generation,
                    member: own_member,
                    membership: own_membership,
                }),
            },
            keys: decoder.keys().clone(),
            epochs: decoder.epoch_keys().cloned(),
            saved,
            history_loaded,
            events,
        })
    }

    /// After the membership changed: the writer encrypts under the newest epoch it holds
    /// (none once removed); a removed device's unsent messages can never be delivered,
    /// so they are kept, unsent, and reported once (`OutboxHeld`).
    fn after_membership_change(&self, v: &mut View<NativeWriter>) {
        self.refresh_writer(&mut v.writer);
        if self.members.as_ref().is_some_and(|m| !m.is_member()) && !v.outbox.is_empty() {
            let messages = v.outbox.len();
            let held: Vec<_> = v.outbox.drain(..).collect();
            v.held.extend(held);
            v.events.push(RoomEvent::OutboxHeld { messages });
        }
    }

    /// After the membership changed: the writer encrypts under the newest epoch it holds
    /// the key of (none once removed).
    fn refresh_writer(&self, w: &mut NativeWriter) {
        let (Some(m), Some(s)) = (&self.members, &mut w.signer) else {
            return;
        };
        match m.current_key() {
            Some((epoch, key)) => {
                s.epoch = Some(epoch);
                w.key = key;
            }
            None => s.epoch = None,
        }
        s.member = m
            .membership()
            .and_then(|ms| ms.member_id_of_device(&m.device));
        s.membership = m.membership().cloned();
    }

    /// Publishes a membership change (member rooms only).
    /// Rings the doorbell (SPEC §9.2.1): appends one byte to `logs/doorbell`, creating
    /// it. Best effort: a failed ring only delays readers until their next full poll.
    pub(super) fn ring(&self, t: &dyn Transport) {
        if let Ok(path) = self.logs_dir.join(DOORBELL_FILE) {
            if let Err(e) = t.append(&path, RING) {
                log::debug!("could not ring the doorbell: {e}");
            }
        }
    }

    pub(crate) fn publish_change(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
        author: Option<&DeviceIdentity>,
        change: Change,
    ) -> Result<u64, RoomError> {
        let m = self.members.as_mut().ok_or(RoomError::NotAMemberRoom)?;
        let mut events = Vec::new();
        let identity = m.identity.clone();
        let result = m.publish(
            t,
            clock,
            decoder,
            author.unwrap_or(&identity),
            change,
            &mut events,
        );
        let mut v = lock(view);
        v.events.extend(events);
        self.after_membership_change(&mut v);
        drop(v);
        if result.is_ok() {
            self.ring(t);
        }
        result
    }

    /// Member rooms: lists `epochs/` and applies new commits when the doorbell changed
    /// since the last time (a commit rings after it is written), when there is no
    /// doorbell, and at least every [`MEMBERSHIP_READ_GAP_MS`] (SPEC §9.2.1). Records of
    /// an epoch this device does not know read it too (`decode_newer_epochs`).
    fn read_membership_if_due(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError> {
        let Some(m) = &mut self.members else {
            return Ok(());
        };
        let now = lock(view).clock.now_ms();
        let due = match self.membership_read {
            None => true,
            Some((at, bell)) => {
                self.bell.is_none()
                    || bell != self.bell
                    || now.saturating_sub(at) >= MEMBERSHIP_READ_GAP_MS
            }
        };
        if !due {
            return Ok(());
        }
        if m.sync(t, decoder, events)? {
            self.after_membership_change(&mut lock(view));
        }
        self.membership_read = Some((now, self.bell));
        Ok(())
    }

    /// `true` when the own log holds exactly what this device knows it wrote, so nothing
    /// of the outbox landed there (a failed append may have written it).
    fn own_log_is_as_expected(&self, t: &dyn Transport) -> Result<bool, TransportError> {
        if self.own.verified {
            return Ok(true);
        }
        Ok(match t.size(&self.own.path)? {
            Some(size) => size == self.own.len && self.own.ends_with_lf,
            None => self.own.len == 0,
        })
    }

    /// The newest epoch of the membership this device has read (0 in a password room).
    fn known_epoch(&self) -> u64 {
        self.members
            .as_ref()
            .and_then(|m| m.membership())
            .map_or(0, |m| m.epoch())
    }

    /// Member rooms: lines of an epoch newer than the membership this device has read
    /// (its commit appeared after this poll read `epochs/`): read the membership again
    /// and decode them now, so they are not skipped for good.
    fn decode_newer_epochs(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
        items: &mut [LineItem],
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError> {
        let known = self.known_epoch();
        let Some(m) = &mut self.members else {
            return Ok(());
        };
        if !needs_newer_epoch(items, known) || !m.sync(t, decoder, events)? {
            return Ok(());
        }
        self.after_membership_change(&mut lock(view));
        for item in items.iter_mut() {
            if let (Err(DecodeError::NoEpochKey { .. }), Some(raw)) = (&item.result, &item.raw) {
                item.result = decoder.decode_line(raw);
            }
        }
        Ok(())
    }

    /// Where the logs of `member`'s devices stand as far as this device has read them:
    /// what stays valid after its removal (SPEC §17).
    fn cuts_for(&self, member: &MemberId) -> Vec<LogCut> {
        let Some(m) = self.members.as_ref().and_then(|m| m.membership()) else {
            return Vec::new();
        };
        let Some(member) = m.member(member) else {
            return Vec::new();
        };
        let devices: Vec<[u8; 32]> = member
            .devices
            .iter()
            .map(|d| d.signing_key_bytes())
            .collect();
        let mut cuts: Vec<LogCut> = self
            .chains
            .iter()
            .filter(|(_, tip)| tip.seq > 0 && devices.contains(&tip.device))
            .filter_map(|(name, tip)| {
                Some(LogCut {
                    writer: log_writer(name)?,
                    seq: tip.seq,
                    record_hash: tip.hash,
                })
            })
            .collect();
        cuts.sort_by_key(|c| c.writer);
        cuts
    }

    /// `true` for a log this device writes, or wrote under an earlier writer id.
    fn is_own(&self, log_name: &str) -> bool {
        log_name == self.own.name || self.retired.iter().any(|r| r == log_name)
    }

    /// Continues under a new writer id (and a new, empty log): another device writes with
    /// the old one, or this state is older than the log. Unsent records are re-encoded for
    /// the new log with the same record ids, so nothing is lost or shown twice; the old
    /// log stays, and its records stay this device's own.
    fn rotate_writer(
        &mut self,
        v: &mut View<NativeWriter>,
        decoder: &mut LineDecoder,
    ) -> Result<(), RoomError> {
        let old_log = self.own.path.to_string();
        // A member room's writer id is derived from the device key: the next generation.
        let new = match &mut v.writer.signer {
            Some(s) => {
                s.generation += 1;
                s.prev = [0; 32];
                let device = s.identity.public().signing_key_bytes();
                derive_writer_id(v.writer.room, &device, s.generation)
            }
            None => WriterId::random(),
        };
        let name = log_name(new);
        self.own = OwnLog {
            path: self.logs_dir.join(&name)?,
            name,
            len: 0,
            ends_with_lf: true,
            verified: false,
            conflict: false,
        };
        self.retired.push(log_name(v.writer.writer));
        let w = &mut v.writer;
        w.writer = new;
        w.seq = 0;
        for out in v.outbox.iter_mut() {
            // Every outbox line decodes under this run's key (others are held at open).
            let mut record = match decoder.decode_line(out.line.as_bytes()) {
                Ok(Record::Native(record)) => record,
                Ok(Record::Signed(signed)) => signed.record.clone(),
                _ => continue,
            };
            w.seq += 1;
            record.writer = new;
            record.seq = w.seq;
            let Ok(line) = w.line(&record, &mut v.encoder) else {
                continue; // no current epoch key: this device cannot write any more
            };
            out.line = line;
            out.key = native_key(&record);
            v.timeline.move_pending(&out.id, out.key);
        }
        v.events.push(RoomEvent::WriterIdConflict {
            file: old_log,
            new_writer: new.to_hex(),
        });
        Ok(())
    }

    /// Takes the native records of one log into the view: those of another writer, and
    /// (in a poll) those an earlier run accepted, are reported instead. `new` is `false`
    /// for history.
    fn absorb(
        &mut self,
        name: &str,
        path: &RemotePath,
        items: Vec<LineItem>,
        history: Option<&mut ChainTip>,
        view: &mut View<NativeWriter>,
        events: &mut Vec<RoomEvent>,
    ) {
        let Some(writer) = log_writer(name) else {
            return;
        };
        if self.members.is_some() {
            return self.absorb_signed(name, writer, path, items, history, view, events);
        }
        let new = history.is_none();
        let own = self.is_own(name);
        let restored = match new {
            true => self.restored_max_seq.get(name).copied().unwrap_or(0),
            false => 0,
        };
        let max_seq = self.max_seq.entry(name.to_owned()).or_default();
        for item in items {
            let at = (item.offset, item.codec);
            match item.result {
                Ok(Record::Native(record)) if record.writer != writer => {
                    events.push(RoomEvent::ForeignRecord {
                        file: path.to_string(),
                        offset: item.offset,
                    })
                }
                // Accepted by an earlier run: a copy (after a restart the timeline does
                // not hold the original to dedupe against).
                Ok(Record::Native(record)) if record.seq <= restored => {
                    events.push(RoomEvent::ReplayedRecord {
                        file: path.to_string(),
                        offset: item.offset,
                    })
                }
                Ok(Record::Native(record)) => {
                    if new {
                        *max_seq = (*max_seq).max(record.seq);
                    }
                    view.absorb_native(&record, own, new, Author(record.writer.0));
                }
                Ok(_) => events.push(undecodable(path, at, DecodeError::NotARecord)),
                Err(error) => events.push(undecodable(path, at, error)),
            }
        }
    }
}

impl NativeLayout {
    /// A member room's records of one log: accepted only when they continue the log's
    /// chain, are covered by a verified signature and the membership allows their device
    /// (SPEC §9.4); everything else is reported, never silently dropped.
    #[allow(clippy::too_many_arguments)]
    fn absorb_signed(
        &mut self,
        name: &str,
        writer: WriterId,
        path: &RemotePath,
        items: Vec<LineItem>,
        history: Option<&mut ChainTip>,
        view: &mut View<NativeWriter>,
        events: &mut Vec<RoomEvent>,
    ) {
        let Some(members) = &self.members else {
            return;
        };
        let new = history.is_none();
        let file = path.to_string();
        let legacy_seq = members
            .membership()
            .and_then(|m| m.legacy_cuts().iter().find(|c| c.writer == writer))
            .map_or(0, |c| c.seq);
        let legacy_own = self.is_own(name);
        let mut lines: Vec<(u64, Result<SignedRecord, RecordHash>)> = Vec::new();
        for item in items {
            let at = (item.offset, item.codec);
            match item.result {
                Ok(Record::Signed(r)) if r.record.writer != writer => {
                    events.push(RoomEvent::ForeignRecord {
                        file: file.clone(),
                        offset: item.offset,
                    })
                }
                Ok(Record::Signed(r)) => lines.push((item.offset, Ok(*r))),
                // A record of the password room this room was upgraded from: history up
                // to the upgrade's cut of its log (SPEC §17.11), read with the old password.
                Ok(Record::Native(r)) if r.writer == writer && legacy_seq >= r.seq => {
                    view.absorb_native(&r, legacy_own, new, Author(r.writer.0))
                }
                Ok(_) => events.push(RoomEvent::RecordRefused {
                    file: file.clone(),
                    offset: item.offset,
                    reason: match legacy_seq {
                        0 => "an unsigned record in a member room".into(),
                        _ => "an unsigned record after the room's upgrade".into(),
                    },
                }),
                // The upgraded password room's records, without its password: history
                // this reader chose not to read.
                Err(DecodeError::NoKey(_)) if legacy_seq > 0 => {}
                Err(error @ DecodeError::NoEpochKey { epoch }) => {
                    if let Some(raw) = &item.raw {
                        lines.push((item.offset, Err(line_hash(raw))));
                    }
                    // Lines of epochs before this device joined (or after it left) are
                    // expected: not problems.
                    if new && members.expects_key(epoch) {
                        events.push(undecodable(path, at, error));
                    }
                }
                Err(error) => events.push(undecodable(path, at, error)),
            }
        }
        if lines.is_empty() {
            return;
        }
        // History has its own chain walk (from the start of the log, over its batches).
        let tip = match history {
            None => self.chains.entry(name.to_owned()).or_default(),
            Some(tip) => tip,
        };
        let entries: Vec<Entry<'_>> = lines
            .iter()
            .map(|(_, l)| match l {
                Ok(r) => Entry::Record(r),
                Err(h) => Entry::Unreadable(*h),
            })
            .collect();
        let verdict = check_run(
            tip,
            &entries,
            // A copy is a record id this log already gave (an id of another writer's
            // is a duplicate, reported below).
            |r| {
                let id = MessageId(r.record.id.0);
                match view.writer_of(&id) {
                    Some(w) => w == r.record.writer,
                    None => view.timeline.contains(&id),
                }
            },
            |r, hash| may_write(members.membership(), r, hash),
        );
        if new {
            for (i, refusal) in &verdict.refused {
                events.push(RoomEvent::RecordRefused {
                    file: file.clone(),
                    offset: lines[*i].0,
                    reason: match refusal {
                        Refusal::BadSignature(e) => e.to_string(),
                        Refusal::Broken => "it does not continue its log's chain (a gap, \
                                            reordering or truncation)"
                            .into(),
                        Refusal::Fork => "another record already holds its place in the \
                                          log's chain (a fork)"
                            .into(),
                        Refusal::NotAllowed(why) => why.clone(),
                    },
                });
            }
        }
        for i in verdict.accepted {
            let (offset, Ok(r)) = &lines[i] else {
                continue;
            };
            let id = MessageId(r.record.id.0);
            if view.writer_of(&id).is_some_and(|w| w != r.record.writer) {
                // Another writer's record already has this id: the first one stays.
                if new {
                    events.push(RoomEvent::DuplicateRecordId {
                        file: file.clone(),
                        offset: *offset,
                    });
                }
                continue;
            }
            let signer = members
                .membership()
                .and_then(|m| m.member_of_device(&r.device))
                .and_then(|m| {
                    m.devices
                        .iter()
                        .find(|d| d.signing_key_bytes() == r.device)
                        .map(|d| d.fingerprint())
                });
            let own = r.device == members.device;
            // The author is the member (any of its devices may edit its messages).
            let author = members
                .membership()
                .and_then(|m| m.member_id_of_device(&r.device))
                .map_or(Author(r.record.writer.0), |m| Author(m.0));
            view.absorb_signed(&r.record, own, new, signer, author);
        }
    }
}

/// `true` when a line is of an epoch newer than `known`: the membership must be read
/// again before it can be decoded.
fn needs_newer_epoch(items: &[LineItem], known: u64) -> bool {
    items
        .iter()
        .any(|i| matches!(i.result, Err(DecodeError::NoEpochKey { epoch }) if epoch > known))
}

/// Re-signs and re-encrypts a member room's outbox under the writer's current epoch, when
/// its first line is of an older one: same record ids, sequence numbers and chain start.
fn reencode_outbox(v: &mut View<NativeWriter>, decoder: &mut LineDecoder) {
    let Some(epoch) = v.writer.signer.as_ref().and_then(|s| s.epoch) else {
        return;
    };
    let first = v
        .outbox
        .front()
        .and_then(|o| match decoder.decode_line(o.line.as_bytes()) {
            Ok(Record::Signed(r)) => Some(r),
            _ => None,
        });
    let Some(first) = first.filter(|r| r.epoch < epoch) else {
        return;
    };
    if let Some(s) = &mut v.writer.signer {
        s.prev = first.prev;
    }
    let View {
        outbox,
        writer,
        encoder,
        ..
    } = v;
    for out in outbox.iter_mut() {
        let Ok(Record::Signed(r)) = decoder.decode_line(out.line.as_bytes()) else {
            continue;
        };
        if let Ok(line) = writer.line(&r.record, encoder) {
            out.line = line;
        }
    }
}

/// The doorbell's size in a listing of `logs/` (asked of the server when the listing
/// gives no size); `None` when it is not there.
fn doorbell_size(
    t: &dyn Transport,
    logs_dir: &RemotePath,
    entries: &[transport::DirEntry],
) -> Option<u64> {
    let entry = entries
        .iter()
        .find(|e| !e.is_dir && e.name == DOORBELL_FILE)?;
    match entry.size {
        Some(size) => Some(size),
        None => t.size(&logs_dir.join(DOORBELL_FILE).ok()?).ok().flatten(),
    }
}

/// Which logs a poll reads, and at which size: the pure part of a poll.
#[derive(Debug, Default, PartialEq, Eq)]
struct PollPlan {
    /// Log names with the size the listing gave (`None`: ask the server).
    reads: Vec<(String, Option<u64>)>,
    /// Logs over [`MAX_LOGS`], not read.
    ignored: usize,
}

fn plan_poll(entries: &[transport::DirEntry], known: &HashMap<String, FileReader>) -> PollPlan {
    let mut plan = PollPlan::default();
    let mut tracked = known.len();
    for entry in entries {
        if entry.is_dir || log_writer(&entry.name).is_none() {
            continue;
        }
        if !known.contains_key(&entry.name) {
            if tracked >= MAX_LOGS {
                plan.ignored += 1;
                continue;
            }
            tracked += 1;
        }
        plan.reads.push((entry.name.clone(), entry.size));
    }
    plan
}

impl Layout for NativeLayout {
    type Writer = NativeWriter;
    const MAX_BATCH_BYTES: usize = 256 * 1024;
    const CONFIRMED_ON_DELIVERY: bool = true;

    fn room_dir(&self) -> Option<RemotePath> {
        self.logs_dir.parent()
    }

    fn poll_cost(&self) -> u32 {
        // A listing is two commands (PASV, LIST). A member room lists `epochs/` too, but
        // while the doorbell is quiet only every MEMBERSHIP_READ_GAP_MS: counted in
        // `upkeep_per_sec`.
        if self.members.is_some() && self.bell.is_none() {
            4
        } else {
            2
        }
    }

    fn upkeep_per_sec(&self) -> f64 {
        if self.members.is_none() {
            return 0.0;
        }
        let membership = 2.0 / (MEMBERSHIP_READ_GAP_MS as f64 / 1000.0);
        let presence = self.presence.as_ref().map_or(0.0, |p| p.upkeep_per_sec());
        membership + presence
    }

    fn doorbell(&self) -> Option<(RemotePath, Option<u64>)> {
        Some((self.logs_dir.join(DOORBELL_FILE).ok()?, self.bell))
    }

    fn deliver(
        &mut self,
        t: &dyn Transport,
        _clock: &dyn Clock,
        lines: &[&[u8]],
        events: &mut Vec<RoomEvent>,
    ) -> Result<Vec<bool>, RoomError> {
        let mut delivery = OwnLogDelivery::new(&mut self.own, lines);
        let result = drive(t, lines, &mut delivery);
        events.append(&mut delivery.events);
        if result.as_ref().is_ok_and(|landed| landed.contains(&true)) {
            self.ring(t);
        }
        Ok(result?)
    }

    fn before_delivery(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError> {
        let Some(m) = &mut self.members else {
            return Ok(());
        };
        if lock(view).outbox.is_empty() || !m.sync(t, decoder, events)? {
            return Ok(());
        }
        self.after_membership_change(&mut lock(view));
        // Re-encrypt what waits under an older epoch, unless an append of it may have
        // landed (then the log is checked first, and the lines go as they are: changing
        // them now could put two versions of one record in the log).
        if self.own_log_is_as_expected(t)? {
            reencode_outbox(&mut lock(view), decoder);
        }
        Ok(())
    }

    fn after_delivery(
        &mut self,
        view: &mut View<NativeWriter>,
        decoder: &mut LineDecoder,
    ) -> Result<bool, RoomError> {
        if !std::mem::take(&mut self.own.conflict) {
            return Ok(false);
        }
        self.rotate_writer(view, decoder)?;
        Ok(true)
    }

    fn poll(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError> {
        let entries = match t.list(&self.logs_dir) {
            Ok(e) => Some(e),
            Err(e) if e.kind() == TransportErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        self.bell = entries
            .as_ref()
            .and_then(|e| doorbell_size(t, &self.logs_dir, e));
        // The membership before the records: they are judged by what it says now.
        self.read_membership_if_due(t, decoder, view, events)?;
        let Some(entries) = entries else {
            return Ok(());
        };
        let plan = plan_poll(&entries, &self.readers);
        let mut seen_own = false;
        for (name, listed) in plan.reads {
            let path = self.logs_dir.join(&name)?;
            let size = match listed {
                Some(s) => s,
                None => match t.size(&path) {
                    Ok(size) => size.unwrap_or(0),
                    Err(e) if !e.is_transient() => {
                        events.push(unreadable(&path, &e));
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            let current = name == self.own.name;
            seen_own |= current;
            if current && size != self.own.len {
                // Someone else appended to, truncated or replaced our log: check it before
                // our next append.
                self.own.verified = false;
            }
            // Out of the map while the read hands its batches to `absorb`.
            let mut reader = self.readers.remove(&name).unwrap_or_default();
            self.kept_tails -= reader.pending_len().min(self.kept_tails);
            let known_epoch = self.known_epoch();
            // Lines from the first one of an epoch this device has no key for yet wait
            // for the read's end: the membership is read then, and they decode again.
            let mut held: Vec<LineItem> = Vec::new();
            let result = read_new(
                t,
                &path,
                size,
                &mut reader,
                decoder,
                false,
                &mut |out| match out {
                    ReadOutput::Event(e) => events.push(e),
                    ReadOutput::Lines(items) => {
                        if held.is_empty() && !needs_newer_epoch(&items, known_epoch) {
                            self.absorb(&name, &path, items, None, &mut lock(view), events);
                        } else {
                            held.extend(items);
                        }
                    }
                },
            );
            if self.kept_tails + reader.pending_len() > MAX_KEPT_TAILS {
                reader.park_tail(size);
            }
            self.kept_tails += reader.pending_len();
            self.readers.insert(name.clone(), reader);
            if !held.is_empty() {
                self.decode_newer_epochs(t, decoder, view, &mut held, events)?;
                self.absorb(&name, &path, held, None, &mut lock(view), events);
            }
            match result {
                Ok(()) => {}
                // One log nobody may read (or that vanished) must not stop the room.
                Err(e) if !e.is_transient() => events.push(unreadable(&path, &e)),
                Err(e) => return Err(e),
            }
        }
        if !seen_own && self.own.len > 0 {
            self.own.verified = false; // deleted
        }
        self.poll_presence(t, &entries, decoder, view, events)?;
        if plan.ignored > 0 && !self.too_many_logs_reported {
            self.too_many_logs_reported = true;
            events.push(RoomEvent::TooManyLogs {
                ignored: plan.ignored,
            });
        }
        Ok(())
    }

    fn load_history(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
    ) -> Result<(), RoomError> {
        let logs: Vec<(String, u64)> = self
            .readers
            .iter()
            .map(|(n, r)| (n.clone(), r.committed()))
            .collect();
        for (name, limit) in logs {
            if log_writer(&name).is_none() {
                continue;
            }
            let path = self.logs_dir.join(&name)?;
            let mut reader = FileReader::default();
            // Problems before the read positions were reported when they were first read.
            let mut ignored = Vec::new();
            // History is read again from the start of each log: its own chain walk.
            let mut tip = ChainTip::default();
            let result = read_new(t, &path, limit, &mut reader, decoder, false, &mut |out| {
                if let ReadOutput::Lines(items) = out {
                    let items = items.into_iter().filter(|i| i.offset < limit).collect();
                    let v = &mut lock(view);
                    self.absorb(&name, &path, items, Some(&mut tip), v, &mut ignored);
                    ignored.clear();
                }
            });
            match result {
                Ok(()) => {}
                Err(e) if !e.is_transient() => continue,
                // Incomplete: the next call tries again (the timeline dedupes).
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn save(&self, view: &View<NativeWriter>, saved: &mut SavedState) {
        let w = &view.writer;
        saved.header = Some(self.header_text.clone());
        saved.writer = Some(w.writer);
        saved.seq = w.seq;
        saved.hlc = w.clock.last();
        saved.own_log_len = self.own.len;
        saved.own_log_ends_with_lf = self.own.ends_with_lf;
        for (name, reader) in &self.readers {
            saved.cursors.insert(name.clone(), reader.state());
        }
        saved.max_seq = self.max_seq.iter().map(|(n, s)| (n.clone(), *s)).collect();
        saved.retired = self.retired.iter().filter_map(|n| log_writer(n)).collect();
        if let (Some(m), Some(s)) = (&self.members, &w.signer) {
            saved.anchor = m.anchor();
            saved.generation = s.generation;
            saved.prev = Some(s.prev);
            saved.chains = self
                .chains
                .iter()
                .map(|(n, tip)| (n.clone(), (tip.seq, tip.hash, tip.device, tip.unread)))
                .collect();
        }
    }

    fn write_refusal(&self) -> Option<RoomError> {
        match &self.members {
            Some(m) if !m.is_member() => Some(RoomError::NotAMember),
            _ => None,
        }
    }

    fn members(&self) -> Option<Vec<Member>> {
        self.members.as_ref().map(MemberRoom::members)
    }

    fn presence_board(&self) -> Option<SharedBoard> {
        self.presence.as_ref().map(|p| p.board.clone())
    }

    fn change_members(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
        change: Change,
    ) -> Result<u64, RoomError> {
        let change = match change {
            Change::Remove { member, cuts } if cuts.is_empty() => Change::Remove {
                member,
                cuts: self.cuts_for(&member),
            },
            other => other,
        };
        self.publish_change(t, clock, decoder, view, None, change)
    }

    fn invite(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
        role: Role,
        location: &str,
    ) -> Result<Invitation, RoomError> {
        let invite = DeviceIdentity::generate();
        let change = Change::Invite {
            invite: invite.public(),
            role,
        };
        self.publish_change(t, clock, decoder, view, None, change)?;
        let m = self.members.as_ref().ok_or(RoomError::NotAMemberRoom)?;
        let anchor = m.anchor().ok_or(RoomError::NotAMemberRoom)?;
        Invitation::new(location, m.room(), anchor, role, &invite)
            .map_err(|e| RoomError::Membership(e.to_string()))
    }

    fn identity(&self) -> Option<Arc<DeviceIdentity>> {
        self.members.as_ref().map(|m| m.identity.clone())
    }

    fn upgrade(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        decoder: &mut LineDecoder,
        identity: &DeviceIdentity,
    ) -> Result<(), RoomError> {
        if self.members.is_some() {
            return Err(RoomError::InvalidConfig(
                "this is a member room already".into(),
            ));
        }
        let header = RoomHeader::parse(self.header_text.as_bytes())?;
        // Where each log ends now: its records up to there stay the room's history.
        let mut legacy = Vec::new();
        let entries = match t.list(&self.logs_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == TransportErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for entry in entries.iter().filter(|e| !e.is_dir) {
            let Some(writer) = log_writer(&entry.name) else {
                continue;
            };
            let mut sink = LegacyCutSink::new(decoder, writer);
            t.read_from(&self.logs_dir.join(&entry.name)?, 0, &mut sink)?;
            legacy.extend(sink.last);
        }
        legacy.sort_by_key(|c| c.writer);
        let room_dir = self
            .logs_dir
            .parent()
            .ok_or_else(|| RoomError::InvalidConfig("the room has no directory".into()))?;
        let epochs = room_dir.join(crate::room::members::EPOCHS_DIR)?;
        transport::make_dir_all(t, &epochs)?;
        match t.make_dir(&epochs.join("0")?) {
            Ok(()) => {}
            Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {
                return Err(RoomError::Membership(
                    "the room was upgraded (or is being upgraded) by another member".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let (_, commit, _) =
            crate::group::Membership::upgrade(header.room_id, identity, clock.now_ms(), legacy)
                .map_err(|e| RoomError::Membership(e.to_string()))?;
        t.write_atomic(
            &epochs.join("0")?.join(crate::room::members::COMMIT_FILE)?,
            &commit.encode(),
        )?;
        // Last: from now on every client that reads the header sees a member room.
        write_member_header(t, &room_dir, header.room_id, Some(&header))
    }
}

/// What the own-log delivery waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnLogWait {
    Size,
    Confirm,
    Append { bytes: u64 },
    Nothing,
}

/// Appending a batch to the own log, as a state machine.
///
/// Before appending after any doubt (at start, after a failed append, after a poll saw
/// the log change) it looks at the log: lines already there (an append that timed out
/// after writing) are not sent again; a log that ends mid-line (a torn append) gets a LF
/// first, so the fragment stays its own line. A log that is gone or shorter than expected
/// (deleted or truncated by someone else) is reported and continued at its current end.
/// Records this device did not write after the expected end set `conflict` and nothing is
/// appended: the engine switches to a new writer id (SPEC §9.2).
struct OwnLogDelivery<'a> {
    log: &'a mut OwnLog,
    lines: &'a [&'a [u8]],
    landed: Vec<bool>,
    waiting: OwnLogWait,
    next: Option<Step>,
    events: Vec<RoomEvent>,
}

impl<'a> OwnLogDelivery<'a> {
    fn new(log: &'a mut OwnLog, lines: &'a [&'a [u8]]) -> Self {
        let mut d = OwnLogDelivery {
            landed: vec![false; lines.len()],
            log,
            lines,
            waiting: OwnLogWait::Nothing,
            next: None,
            events: Vec::new(),
        };
        if d.log.verified {
            d.plan_append();
        } else {
            d.waiting = OwnLogWait::Size;
            d.next = Some(Step::Size(d.log.path.clone()));
        }
        d
    }

    fn finish(&mut self, result: Result<Vec<bool>, TransportError>) {
        self.waiting = OwnLogWait::Nothing;
        self.next = Some(Step::Done(result));
    }

    fn plan_append(&mut self) {
        let lf = !self.log.ends_with_lf;
        let unsent = self
            .lines
            .iter()
            .zip(&self.landed)
            .filter(|(_, &l)| !l)
            .map(|(line, _)| *line);
        let data = batch_data(lf, unsent);
        if data.len() <= usize::from(lf) {
            let landed = self.landed.clone();
            return self.finish(Ok(landed));
        }
        // A missing logs/ directory means the room was deleted: the append reports it
        // (NotFound) rather than recreate a room without its header.
        self.waiting = OwnLogWait::Append {
            bytes: data.len() as u64,
        };
        self.next = Some(Step::Append {
            path: self.log.path.clone(),
            data,
        });
    }
}

impl Delivery for OwnLogDelivery<'_> {
    fn next(&mut self) -> Step {
        self.next
            .take()
            .unwrap_or_else(|| Step::Done(Ok(self.landed.clone())))
    }

    fn observe(&mut self, outcome: Result<Observed, TransportError>) {
        let log = &mut *self.log;
        match (self.waiting, outcome) {
            (OwnLogWait::Append { .. }, Err(e)) => {
                log.verified = false;
                self.finish(Err(e));
            }
            (_, Err(e)) => self.finish(Err(e)),
            (OwnLogWait::Size, Ok(Observed::Size(size))) => {
                if size.unwrap_or(0) < log.len {
                    self.events.push(RoomEvent::FileReplaced {
                        file: log.path.to_string(),
                    });
                }
                match size {
                    None => {
                        log.len = 0;
                        log.ends_with_lf = true;
                    }
                    Some(size) if size != log.len => {
                        let from = log.len.min(size);
                        self.waiting = OwnLogWait::Confirm;
                        self.next = Some(Step::Confirm {
                            path: log.path.clone(),
                            from,
                        });
                        return;
                    }
                    Some(_) => {}
                }
                log.verified = true;
                self.plan_append();
            }
            (OwnLogWait::Confirm, Ok(Observed::Confirmed(seen))) => {
                log.len = seen.end;
                log.ends_with_lf = seen.ends_with_lf;
                self.landed = seen.found;
                if seen.others > 0 {
                    log.conflict = true;
                    let landed = self.landed.clone();
                    return self.finish(Ok(landed));
                }
                log.verified = true;
                self.plan_append();
            }
            (OwnLogWait::Append { bytes }, Ok(Observed::Appended)) => {
                log.len += bytes;
                log.ends_with_lf = true;
                let all = vec![true; self.lines.len()];
                self.finish(Ok(all));
            }
            (waiting, Ok(other)) => self.finish(Err(TransportError::new(
                TransportErrorKind::Permanent,
                "deliver",
                format!("internal: {other:?} while waiting for {waiting:?}"),
            ))),
        }
    }
}

/// Reads the native room header, creating the room when it is missing and allowed.
/// Returns the header and, when this client created it, the key it derived. Waits for
/// another client's header on the room's clock.
fn load_or_create_header(
    t: &dyn Transport,
    room_dir: &RemotePath,
    config: &RoomConfig,
    cached: Option<&str>,
) -> Result<(RoomHeader, Option<FernetKey>), RoomError> {
    let header_path = room_dir.join(HEADER_FILE)?;
    let mut waited = Duration::ZERO;
    let mut pause = Duration::from_millis(50);
    loop {
        match transport::read_bounded(t, &header_path, crate::format::header::MAX_HEADER_LEN) {
            Ok(Some(bytes)) if header_version(&bytes) == Some(2) => {
                return Err(RoomError::InvalidConfig(
                    "this is a member room (header version 2): open it with a device identity \
                     (RoomConfig::member_room) or an invitation"
                        .into(),
                ))
            }
            Ok(Some(bytes)) => return Ok((RoomHeader::parse(&bytes)?, None)),
            Ok(None) => return Err(HeaderError::Malformed.into()),
            Err(e) if e.kind() == TransportErrorKind::NotFound => {}
            // Offline: a room opened before opens from its saved header, so the user can
            // read what is cached and queue messages.
            Err(e) if e.is_transient() && cached.is_some() => {
                return Ok((
                    RoomHeader::parse(cached.unwrap_or_default().as_bytes())?,
                    None,
                ));
            }
            Err(e) => return Err(e.into()),
        }
        if !config.create {
            return Err(RoomError::NotFound(room_dir.to_string()));
        }
        if let Some(parent) = room_dir.parent() {
            transport::make_dir_all(t, &parent)?;
        }
        match t.make_dir(room_dir) {
            Ok(()) => {
                // We created the directory, so we write the header; others wait for it.
                let kdf = KdfParams::new(
                    crate::crypto::random_bytes::<{ KdfParams::DEFAULT_SALT_LEN }>().to_vec(),
                    u64::from(config.native_iterations),
                )?;
                let key = derive(&config.credentials, &kdf).ok_or_else(needs_key)?;
                let header =
                    RoomHeader::new(RoomId::random(), kdf, &key, config.clock.now_ms() / 1000);
                transport::make_dir_all(t, &room_dir.join(LOGS_DIR)?)?;
                t.write_atomic(&header_path, header.encode().as_bytes())?;
                return Ok((header, Some(key)));
            }
            Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {
                // Another client is creating it: wait for its header, within bounds.
                if waited > Duration::from_secs(15) {
                    return Err(RoomError::NotFound(format!(
                        "{room_dir} exists but has no {HEADER_FILE}"
                    )));
                }
                config.clock.sleep(pause);
                waited += pause;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads a member room's header (version 2), creating the room when it is missing and
/// `may_create`. Returns the room id and whether this client created it. The header is
/// written last, after `logs/` and commit 0, so whoever sees it finds a room ready.
fn load_or_create_member_header(
    t: &dyn Transport,
    room_dir: &RemotePath,
    config: &RoomConfig,
    may_create: bool,
    cached: Option<&[u8]>,
) -> Result<(MemberHeader, bool), RoomError> {
    let header_path = room_dir.join(HEADER_FILE)?;
    let mut waited = Duration::ZERO;
    let mut pause = Duration::from_millis(50);
    loop {
        match transport::read_bounded(t, &header_path, crate::format::header::MAX_HEADER_LEN) {
            Ok(Some(bytes)) => {
                if header_version(&bytes) == Some(1) {
                    return Err(RoomError::InvalidConfig(
                        "this is a password room (header version 1): open it with a password"
                            .into(),
                    ));
                }
                return Ok((parse_member_header(&bytes)?, false));
            }
            Ok(None) => return Err(HeaderError::Malformed.into()),
            Err(e) if e.kind() == TransportErrorKind::NotFound => {}
            Err(e) if e.is_transient() && cached.is_some() => {
                return Ok((parse_member_header(cached.unwrap_or_default())?, false));
            }
            Err(e) => return Err(e.into()),
        }
        if !may_create {
            return Err(RoomError::NotFound(room_dir.to_string()));
        }
        if let Some(parent) = room_dir.parent() {
            transport::make_dir_all(t, &parent)?;
        }
        match t.make_dir(room_dir) {
            Ok(()) => {
                let room = RoomId::random();
                transport::make_dir_all(t, &room_dir.join(LOGS_DIR)?)?;
                return Ok((MemberHeader { room, legacy: None }, true));
            }
            Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {
                if waited > Duration::from_secs(15) {
                    return Err(RoomError::NotFound(format!(
                        "{room_dir} exists but has no {HEADER_FILE}"
                    )));
                }
                config.clock.sleep(pause);
                waited += pause;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes a new member room's header, once its membership log exists.
fn write_member_header(
    t: &dyn Transport,
    room_dir: &RemotePath,
    room: RoomId,
    legacy: Option<&RoomHeader>,
) -> Result<(), RoomError> {
    let text = member_header(room, legacy);
    t.write_atomic(&room_dir.join(HEADER_FILE)?, text.as_bytes())?;
    Ok(())
}

fn needs_key() -> RoomError {
    RoomError::InvalidConfig("a native room needs a password or key".into())
}

fn log_name(writer: WriterId) -> String {
    format!("{}.log", writer.to_hex())
}

/// The writer id a log file name belongs to (`<32 hex>.log`); other names are ignored.
fn log_writer(name: &str) -> Option<WriterId> {
    name.strip_suffix(".log").and_then(WriterId::from_hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::decide::Confirmation;

    fn own_log(len: u64, verified: bool) -> OwnLog {
        OwnLog {
            name: "a.log".into(),
            path: RemotePath::new("r/logs/a.log").unwrap(),
            len,
            ends_with_lf: true,
            verified,
            conflict: false,
        }
    }

    fn expect_append(step: Step) -> Vec<u8> {
        match step {
            Step::Append { data, .. } => data,
            other => panic!("expected an append, got {other:?}"),
        }
    }

    #[test]
    fn a_verified_log_is_appended_to_at_once() {
        let mut log = own_log(10, true);
        let lines: [&[u8]; 2] = [b"one", b"two"];
        let mut d = OwnLogDelivery::new(&mut log, &lines);
        assert_eq!(expect_append(d.next()), b"one\ntwo\n");
        d.observe(Ok(Observed::Appended));
        assert!(matches!(d.next(), Step::Done(Ok(l)) if l == [true, true]));
        assert_eq!((log.len, log.ends_with_lf), (18, true));
    }

    #[test]
    fn after_a_doubt_lines_already_there_are_not_sent_again_and_a_torn_end_gets_a_lf() {
        let mut log = own_log(10, false);
        let lines: [&[u8]; 2] = [b"one", b"two"];
        let mut d = OwnLogDelivery::new(&mut log, &lines);
        assert!(matches!(d.next(), Step::Size(_)));
        d.observe(Ok(Observed::Size(Some(16))));
        assert!(matches!(d.next(), Step::Confirm { from: 10, .. }));
        d.observe(Ok(Observed::Confirmed(Confirmation {
            found: vec![true, false],
            end: 16,
            ends_with_lf: false,
            others: 0,
        })));
        assert_eq!(expect_append(d.next()), b"\ntwo\n");
        d.observe(Ok(Observed::Appended));
        assert!(matches!(d.next(), Step::Done(Ok(l)) if l == [true, true]));
        assert!(log.verified);
        assert_eq!(log.len, 21);
    }

    #[test]
    fn records_of_another_device_stop_the_delivery_with_a_conflict() {
        let mut log = own_log(10, false);
        let lines: [&[u8]; 1] = [b"one"];
        let mut d = OwnLogDelivery::new(&mut log, &lines);
        d.next();
        d.observe(Ok(Observed::Size(Some(50))));
        d.next();
        d.observe(Ok(Observed::Confirmed(Confirmation {
            found: vec![false],
            end: 50,
            ends_with_lf: true,
            others: 1,
        })));
        assert!(matches!(d.next(), Step::Done(Ok(l)) if l == [false]));
        assert!(log.conflict && !log.verified);
    }

    #[test]
    fn a_deleted_log_is_reported_and_continued_and_a_failed_append_is_doubted() {
        let mut log = own_log(10, false);
        let lines: [&[u8]; 1] = [b"one"];
        let mut d = OwnLogDelivery::new(&mut log, &lines);
        d.next();
        d.observe(Ok(Observed::Size(None)));
        assert!(matches!(&d.events[..], [RoomEvent::FileReplaced { .. }]));
        assert_eq!(expect_append(d.next()), b"one\n");
        d.observe(Err(TransportError::new(
            TransportErrorKind::Transient,
            "append",
            "cut",
        )));
        assert!(matches!(d.next(), Step::Done(Err(_))));
        assert!(!log.verified);
        assert_eq!(log.len, 0);
    }

    #[test]
    fn a_poll_reads_at_most_max_logs_and_skips_other_names() {
        let mut entries = vec![
            transport::DirEntry {
                name: "notes.txt".into(),
                is_dir: false,
                size: Some(1),
            },
            transport::DirEntry {
                name: format!("{}.log", WriterId([1; 16]).to_hex()),
                is_dir: true,
                size: None,
            },
        ];
        for i in 0..MAX_LOGS as u64 + 3 {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.to_be_bytes());
            entries.push(transport::DirEntry {
                name: log_name(WriterId(id)),
                is_dir: false,
                size: Some(i),
            });
        }
        let plan = plan_poll(&entries, &HashMap::new());
        assert_eq!((plan.reads.len(), plan.ignored), (MAX_LOGS, 3));
    }

    /// Thousands of logs that end in incomplete lines just under the per-log limit: the
    /// room keeps at most MAX_KEPT_TAILS of them (plus the one read last).
    #[test]
    fn kept_tails_stay_within_the_room_budget() {
        use crate::room::engine::Engine;
        use crate::transport::memory::MemoryTransport;
        let t = MemoryTransport::new();
        let config = RoomConfig::native("r", "bob", "pw").with_native_iterations(1_000);
        let Ok((mut engine, view)) = Engine::<NativeLayout>::open_native(&t, &config) else {
            panic!("open")
        };
        let tail = vec![b'x'; 15 * 1024];
        for i in 0..1_000u64 {
            let mut id = [0x66u8; 16];
            id[..8].copy_from_slice(&i.to_be_bytes());
            let path = RemotePath::new(&format!("r/logs/{}.log", WriterId(id).to_hex())).unwrap();
            t.append(&path, &tail).unwrap();
        }
        engine.sync(&t, &view).unwrap();
        let layout = engine.layout();
        let kept: u64 = layout.readers.values().map(FileReader::pending_len).sum();
        assert!(kept <= MAX_KEPT_TAILS, "{kept} bytes of tails kept");
        assert_eq!(kept, layout.kept_tails);
        assert!(kept > MAX_KEPT_TAILS / 2, "the budget is used: {kept}");
    }
}
