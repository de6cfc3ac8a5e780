//! The I/O of presence and read positions in a member room (SPEC §18): after a poll's
//! listing of `logs/`, download the state files whose names are new, check them and
//! offer them to the [`Board`]; then publish this device's state file when it is due
//! (write the next name atomically, remove the older ones). The decisions are the
//! board's (`room/presence.rs`).

use std::sync::{Arc, Mutex};

use super::{NativeLayout, NativeWriter};
use crate::crypto::Deflater;
use crate::format::state::{
    decode_state_file, encode_state_file, state_file_name, StateRecord, MAX_STATE_FILE_LEN,
    PRESENCE_KIND,
};
use crate::format::{
    derive_writer_id, ChainLink, LineDecoder, NativeRecord, RecordBody, RecordId, SignedRecord,
    WriterId,
};
use crate::group::{Member, MemberId, Membership};
use crate::room::members::MemberCache;
use crate::room::presence::{
    plan_fetches, state_allowed, Board, Offered, PresenceConfig, PRESENCE_REFRESH_MS,
};
use crate::room::view::View;
use crate::room::{lock, RoomEvent};
use crate::timeline::HlcClock;
use crate::transport::{self, DirEntry, Transport, TransportError};

/// A member room's presence: the board it shares with the room, and how it publishes.
pub(crate) struct NativePresence {
    pub board: Arc<Mutex<Board>>,
    deflater: Deflater,
    /// The HLC of this device's state records (above every own one read).
    clock: HlcClock,
    /// Where the newest state file of each writer is kept between runs.
    cache: Option<MemberCache>,
}

impl NativePresence {
    pub fn new(
        config: PresenceConfig,
        device: [u8; 32],
        now_ms: u64,
        cache: Option<MemberCache>,
    ) -> Self {
        NativePresence {
            board: Arc::new(Mutex::new(Board::new(config, device, now_ms))),
            deflater: Deflater::default(),
            clock: HlcClock::default(),
            cache,
        }
    }

    /// Offers the state files an earlier run kept (checked again against the membership
    /// as cached), so presence and "seen by" show before the first sync and the files
    /// that did not change since are not downloaded again. A file that fails the checks
    /// now (its member was removed) is skipped; the next poll reads what the server has.
    pub fn restore(
        &mut self,
        decoder: &mut LineDecoder,
        membership: Option<&Membership>,
        members: Vec<Member>,
        now_ms: u64,
    ) {
        let mut board = lock(&self.board);
        if !board.config.enabled {
            return;
        }
        board.set_members(members);
        let Some(cache) = &self.cache else {
            return;
        };
        let own_device = board.own_device();
        for (writer, counter, data) in cache.load_states() {
            let Ok((record, member)) = check_state_file(&data, writer, decoder, membership) else {
                continue;
            };
            let s = &record.signed;
            if s.device == own_device {
                self.clock.observe(s.record.hlc, now_ms);
            }
            // Seen either way: reading it again would only find it older (a replay).
            board.seen.insert(writer, counter);
            board.offer(
                s.device,
                member,
                &s.record.sender,
                s.record.hlc,
                record.body,
            );
        }
    }
}

/// Checks a state file of `writer` (SPEC §18.4): one line holding a state record signed by
/// that writer's device, an active device of a current member, in an epoch it may write.
fn check_state_file(
    data: &[u8],
    writer: WriterId,
    decoder: &mut LineDecoder,
    membership: Option<&Membership>,
) -> Result<(StateRecord, MemberId), String> {
    let record = decode_state_file(data, writer, decoder).map_err(|e| e.to_string())?;
    let member = state_allowed(membership, &record.signed)?;
    Ok((record, member))
}

/// Commands to publish this device's state (FTP: `PASV`, `STOR` of a temporary name,
/// `RNFR`, `RNTO`, `DELE` of the previous file, and a spare for a `SIZE`/`MKD`).
const PUBLISH_COMMANDS: f64 = 6.0;
/// Commands to read a peer's replaced state file (`PASV`, `RETR`).
const READ_COMMANDS: f64 = 2.0;

impl NativePresence {
    /// What presence costs an idle device per second, on average: its own refresh and
    /// reading each other present device's refresh, once per [`PRESENCE_REFRESH_MS`].
    pub fn upkeep_per_sec(&self) -> f64 {
        let board = lock(&self.board);
        if !board.config.enabled {
            return 0.0;
        }
        let peers = board.seen.len().saturating_sub(1) as f64;
        (PUBLISH_COMMANDS + READ_COMMANDS * peers) / (PRESENCE_REFRESH_MS as f64 / 1000.0)
    }
}

impl NativeLayout {
    /// After a poll listed `logs/` (`entries`) and read the logs: reads the state files
    /// that are new, then publishes this device's state when it is due. A state file
    /// that cannot be read now is tried again at the next poll; one that fails the checks
    /// is reported once. Publishing failures are tried again at the next sync.
    pub(super) fn poll_presence(
        &mut self,
        t: &dyn Transport,
        entries: &[DirEntry],
        decoder: &mut LineDecoder,
        view: &Mutex<View<NativeWriter>>,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError> {
        let (Some(p), Some(m)) = (&mut self.presence, &self.members) else {
            return Ok(());
        };
        if !lock(&p.board).config.enabled {
            return Ok(());
        }
        let now = lock(view).clock.now_ms();
        let (room, generation, sender) = {
            let v = lock(view);
            let generation = v.writer.signer.as_ref().map_or(0, |s| s.generation);
            (v.writer.room, generation, v.display_name.clone())
        };
        let own_writer = derive_writer_id(room, &m.device, generation);
        let membership = m.membership();
        let plan = {
            let mut board = lock(&p.board);
            board.set_members(m.members());
            plan_fetches(entries, &board.seen, own_writer)
        };
        let mut changed = false;
        // The files accepted, kept in the store once read.
        let mut keep = Vec::new();
        for (name, writer, counter) in &plan.fetch {
            let path = self.logs_dir.join(name)?;
            let data = match transport::read_bounded(t, &path, MAX_STATE_FILE_LEN) {
                Ok(data) => data,
                // Replaced since the listing: its successor is read at the next poll.
                Err(e) if e.kind() == transport::TransportErrorKind::NotFound => {
                    continue;
                }
                Err(e) if e.is_transient() => return Err(e),
                Err(_) => None,
            };
            let checked = data
                .as_deref()
                .ok_or_else(|| format!("a state file larger than {MAX_STATE_FILE_LEN} bytes"))
                .and_then(|d| check_state_file(d, *writer, decoder, membership));
            let mut board = lock(&p.board);
            board.seen.insert(*writer, *counter);
            let (record, member) = match checked {
                Ok(ok) => ok,
                Err(reason) => {
                    events.push(RoomEvent::RecordRefused {
                        file: path.to_string(),
                        offset: 0,
                        reason: format!("state file refused: {reason}"),
                    });
                    continue;
                }
            };
            let s = &record.signed;
            if s.device == m.device {
                p.clock.observe(s.record.hlc, now);
            }
            match board.offer(
                s.device,
                member,
                &s.record.sender,
                s.record.hlc,
                record.body,
            ) {
                Offered::Accepted => {
                    changed |= s.device != m.device;
                    if let Some(data) = data {
                        keep.push((*writer, *counter, data));
                    }
                }
                Offered::Older => events.push(RoomEvent::RecordRefused {
                    file: path.to_string(),
                    offset: 0,
                    reason: "state file refused: older than a state already read from \
                             this device (a replay)"
                        .into(),
                }),
            }
        }
        if changed {
            events.push(RoomEvent::PresenceChanged);
        }
        if let Some(cache) = &p.cache {
            cache.keep_states(&keep);
        }

        // Publish: only a device that holds the current epoch's key.
        let Some((epoch, key)) = m.current_key() else {
            return Ok(());
        };
        let Some(membership) = membership else {
            return Ok(());
        };
        let Some(member) = membership.member_of_device(&m.device).map(|x| x.id) else {
            return Ok(());
        };
        let (body, change) = {
            let board = lock(&p.board);
            if !board.due(now) {
                return Ok(());
            }
            let change = board.is_change();
            if let Some(h) = board.newest_hlc(&m.device) {
                p.clock.observe(h, now);
            }
            (board.next_body(now), change)
        };
        let hlc = p.clock.tick(now);
        let record = NativeRecord {
            id: RecordId::random(),
            room,
            writer: own_writer,
            seq: 1,
            hlc,
            sender: sender.clone(),
            body: RecordBody::Other {
                kind: PRESENCE_KIND,
                data: body.encode(),
            },
        };
        let link = ChainLink {
            epoch,
            prev: [0; 32],
            generation,
        };
        let mut signed = SignedRecord::sign(record, link, &m.identity);
        let file = encode_state_file(&mut signed, &key, &mut p.deflater);
        let counter = {
            let board = lock(&p.board);
            let listed = plan.own.iter().map(|(_, c)| *c).max().unwrap_or(0);
            board
                .seen
                .get(&own_writer)
                .copied()
                .unwrap_or(0)
                .max(listed)
                + 1
        };
        let name = state_file_name(own_writer, counter);
        match t.write_atomic(&self.logs_dir.join(&name)?, &file) {
            Ok(()) => {}
            Err(e) if e.is_transient() => return Err(e),
            // A server that refuses it: presence is best effort, the chat goes on.
            Err(_) => return Ok(()),
        }
        let mut board = lock(&p.board);
        let previous = board.seen.insert(own_writer, counter);
        board.published(now, member, &sender, hlc, body);
        drop(board);
        if let Some(cache) = &p.cache {
            cache.keep_states(&[(own_writer, counter, file)]);
        }
        // The older names (also a crash's leftover): removed; failures are harmless, the
        // next publish tries again.
        let mut old: Vec<String> = plan.own.iter().map(|(n, _)| n.clone()).collect();
        if let Some(c) = previous.filter(|c| *c < counter) {
            old.push(state_file_name(own_writer, c));
        }
        old.sort();
        old.dedup();
        for n in old.iter().filter(|n| **n != name) {
            if let Ok(path) = self.logs_dir.join(n) {
                let _ = t.remove_file(&path);
            }
        }
        // A change (online, away, typing, a read position) rings; the periodic refresh
        // does not (readers see it at their next full poll).
        if change {
            self.ring(t);
        }
        Ok(())
    }
}
