//! Room layouts (SPEC.md, "Room layouts"): how a room's lines are laid out on the server.
//!
//! A layout is a pair: a [`Layout`] (where lines go and how they are read back) and its
//! [`Writer`] (how this client encodes a message). The engine and the view are generic
//! over the layout, and the writer is the layout's associated type, so a native writer
//! can never be paired with a shared file's I/O. Layouts decide; the driver in
//! `room::io` performs their transport steps and the engine waits on the room's clock.
//!
//! - [`native::NativeLayout`]: one append-only log per device under `logs/`.
//! - [`segments::SegmentStore`]: the native layout on a store that cannot append (S3,
//!   WebDAV): each log a folder of segments written once, and a feed of markers.
//! - [`shared::SharedLayout`]: FTPChat's single shared file, confirmed appends, an
//!   optional lock.

pub(crate) mod native;
pub(crate) mod segments;
pub(crate) mod shared;

use std::sync::{Arc, Mutex};

use crate::group::{Change, Invitation, Member, MemberId, Role};
use crate::identity::DeviceIdentity;

use super::config::{Clock, Credentials};
use super::state::{Outgoing, SavedState};
use super::view::View;
use super::{RoomError, RoomEvent};
use crate::crypto::{derive_key, FernetKey, KdfParams};
use crate::format::{EpochKeys, Keyring, LineDecoder, LineEncoder, NativeRecord, RecordBody};
use crate::timeline::{Author, Message};
use crate::transport::{Transport, TransportError};

/// How this client encodes its messages. CPU only: it lives in the view.
pub(crate) trait Writer: Send + 'static {
    /// Encodes `text` sent by `name` at `now_ms` (local offset `offset_secs`): the
    /// outbox entry and the pending message the sender sees.
    fn encode(
        &mut self,
        text: &str,
        name: &str,
        now_ms: u64,
        offset_secs: i32,
        encoder: &mut LineEncoder,
    ) -> Result<(Outgoing, Message), RoomError>;

    /// Encodes an edit, a delete or a reaction (SPEC §8.4.1) as this client's next line:
    /// the outbox entry and the record. A layout whose lines cannot carry one refuses.
    fn encode_record(
        &mut self,
        _body: RecordBody,
        _name: &str,
        _now_ms: u64,
        _encoder: &mut LineEncoder,
    ) -> Result<(Outgoing, NativeRecord), RoomError> {
        Err(no_changes())
    }

    /// Member rooms: encodes `inner` as a private record (SPEC §8.4.2) to member `to`,
    /// sealed to its devices and this member's: the outbox entry and the record.
    fn encode_private(
        &mut self,
        _to: MemberId,
        _inner: RecordBody,
        _name: &str,
        _now_ms: u64,
        _encoder: &mut LineEncoder,
    ) -> Result<(Outgoing, NativeRecord), RoomError> {
        Err(RoomError::NotAMemberRoom)
    }

    /// Member rooms: the inner body of a private record sealed to this device; `Ok(None)`
    /// when it is not for this device, an error when it should open and does not.
    fn open_private(&self, _record: &NativeRecord) -> Result<Option<RecordBody>, String> {
        Ok(None)
    }

    /// Who this client's records are by (native rooms): only that author may edit or
    /// delete them. Fails where records have no author (a FTPChat chat file) or this
    /// device is not a member.
    fn author(&self) -> Result<Author, RoomError> {
        Err(no_changes())
    }

    /// An unsent message of an earlier run, back in the outbox.
    fn restore(&mut self, _out: &Outgoing) {}

    /// A native record read from the server (its clock moves the writer's clock).
    fn observe(&mut self, _record: &NativeRecord, _now_ms: u64) {}

    /// Member rooms: the fingerprint this device's messages are signed with.
    fn signer_fingerprint(&self) -> Option<String> {
        None
    }

    /// Native rooms: the room's id (attachment blobs are bound to it, SPEC §8.4.3).
    fn room_id(&self) -> Option<crate::format::RoomId> {
        None
    }
}

fn no_changes() -> RoomError {
    RoomError::Unsupported("a FTPChat chat file cannot carry edits, deletes or reactions".into())
}

/// Where a room's lines go and how they are read back.
pub(crate) trait Layout: Send + Sized + 'static {
    /// The writer whose lines this layout delivers.
    type Writer: Writer;

    /// Native rooms: the room's directory (attachment blobs go under its `files/`).
    fn room_dir(&self) -> Option<crate::transport::RemotePath> {
        None
    }

    /// What a poll that finds nothing new costs, in commands (FTP round trips): the
    /// watcher's budget unit (a shared file: one `SIZE`).
    fn poll_cost(&self) -> u32 {
        1
    }

    /// Commands per second the room spends besides polling while idle (member rooms:
    /// presence refreshes and reads, membership checks), taken out of the watcher's
    /// budget.
    fn upkeep_per_sec(&self) -> f64 {
        0.0
    }

    /// Native rooms: the doorbell (SPEC §9.2.1) and its size as the last poll's listing
    /// showed it (`None`: not there).
    fn doorbell(&self) -> Option<(crate::transport::RemotePath, Option<u64>)> {
        None
    }

    /// The most bytes one append carries (a single longer line still goes alone).
    const MAX_BATCH_BYTES: usize;

    /// `true` when a verified append confirms a message; otherwise it is confirmed when a
    /// poll reads it at its place in the file.
    const CONFIRMED_ON_DELIVERY: bool;

    /// The room must be read before anything is written (a keyed shared file not read in
    /// this run: the file tells whether our key is the room's).
    fn must_read_first(&self) -> bool {
        false
    }

    /// Why nothing may be written now, if so.
    fn write_refusal(&self) -> Option<RoomError> {
        None
    }

    /// Before a delivery: a member room reads its membership, so what goes out is
    /// encrypted under the newest epoch (never under a key a removed member still holds).
    fn before_delivery(
        &mut self,
        _t: &dyn Transport,
        _decoder: &mut LineDecoder,
        _view: &Mutex<View<Self::Writer>>,
        _events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError> {
        Ok(())
    }

    /// Delivers `lines` in one append; returns which of them are now on the server.
    fn deliver(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        lines: &[&[u8]],
        events: &mut Vec<RoomEvent>,
    ) -> Result<Vec<bool>, RoomError>;

    /// After a delivery: `true` when the layout changed what the outbox holds (a new
    /// writer id re-encoded it), so the engine saves state and delivers again.
    fn after_delivery(
        &mut self,
        _view: &mut View<Self::Writer>,
        _decoder: &mut LineDecoder,
    ) -> Result<bool, RoomError> {
        Ok(false)
    }

    /// Reads what is new into the view.
    fn poll(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<Self::Writer>>,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError>;

    /// Brings what lies before the restored read positions into the timeline (not
    /// returned by sync as new).
    fn load_history(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<Self::Writer>>,
    ) -> Result<(), RoomError>;

    /// Writes this layout's part of the local state.
    fn save(&self, view: &View<Self::Writer>, saved: &mut SavedState);

    /// Member rooms: the members, their devices and roles (`None`: not a member room).
    fn members(&self) -> Option<Vec<Member>> {
        None
    }

    /// Member rooms: publishes a membership change by this device; returns its epoch.
    fn change_members(
        &mut self,
        _t: &dyn Transport,
        _clock: &dyn Clock,
        _decoder: &mut LineDecoder,
        _view: &Mutex<View<Self::Writer>>,
        _change: Change,
    ) -> Result<u64, RoomError> {
        Err(RoomError::NotAMemberRoom)
    }

    /// Member rooms: registers a one-time invitation with `role` and returns it, naming
    /// `location` as where the room is.
    fn invite(
        &mut self,
        _t: &dyn Transport,
        _clock: &dyn Clock,
        _decoder: &mut LineDecoder,
        _view: &Mutex<View<Self::Writer>>,
        _role: Role,
        _location: &str,
    ) -> Result<Invitation, RoomError> {
        Err(RoomError::NotAMemberRoom)
    }

    /// Member rooms: this device's identity.
    fn identity(&self) -> Option<Arc<DeviceIdentity>> {
        None
    }

    /// Member rooms: presence and read positions (SPEC §18), shared with the room.
    fn presence_board(&self) -> Option<super::presence::SharedBoard> {
        None
    }

    /// Password rooms: upgrades the room to a member room whose first admin is
    /// `identity` (SPEC §17.11).
    fn upgrade(
        &mut self,
        _t: &dyn Transport,
        _clock: &dyn Clock,
        _decoder: &mut LineDecoder,
        _identity: &DeviceIdentity,
    ) -> Result<(), RoomError> {
        Err(RoomError::InvalidConfig(
            "only a native password room can be upgraded to a member room".into(),
        ))
    }
}

/// A layout as opened, with what the engine needs to start.
pub(crate) struct Opened<L: Layout> {
    pub layout: L,
    pub writer: L::Writer,
    pub keys: Keyring,
    /// A member room's epoch keys, as far as the membership was read at open.
    pub epochs: Option<EpochKeys>,
    /// The saved state, with what no longer applies removed.
    pub saved: SavedState,
    /// Everything before the restored read positions is in the timeline already (there
    /// are none, or they were dropped).
    pub history_loaded: bool,
    pub events: Vec<RoomEvent>,
}

/// The key the credentials give under `kdf`.
pub(crate) fn derive(credentials: &Option<Credentials>, kdf: &KdfParams) -> Option<FernetKey> {
    match credentials {
        Some(Credentials::Password(p)) => Some(derive_key(p.expose(), kdf)),
        Some(Credentials::Key(k)) => Some(k.as_ref().clone()),
        Some(Credentials::Member(_)) | None => None,
    }
}
