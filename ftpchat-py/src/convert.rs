//! Core values to Python objects: messages, sync results and events become the frozen
//! dataclasses of `ftpchat/_types.py`; times become `datetime` objects.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ftpchat_core::TransportEvent;
use ftpchat_core::{Attachment, Member, Message, MessageStatus, Reaction};
use ftpchat_core::{Codec, LegacyTimestamp};
use ftpchat_core::{PresenceInfo, PresenceState, SeenBy};
use ftpchat_core::{RoomEvent, SyncUpdate};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The Python module that defines the value types.
const TYPES_MODULE: &str = "ftpchat._types";

/// `timestamp_ms` as an aware UTC datetime.
pub(crate) fn utc_from_ms(ms: u64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)
}

/// A FTPChat local time as a naive datetime (`None` for a date that does not exist,
/// such as February 31, which the line format cannot rule out).
pub(crate) fn naive_from_legacy(t: &LegacyTimestamp) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(i32::from(t.year), u32::from(t.month), u32::from(t.day))?.and_hms_opt(
        u32::from(t.hour),
        u32::from(t.minute),
        0,
    )
}

fn codec_member(codec: Codec) -> &'static str {
    match codec {
        Codec::Legacy15 => "FTPCHAT_15",
        Codec::Fernet16 => "FTPCHAT_16",
        Codec::Fernet17 => "FTPCHAT_17",
        _ => "NATIVE",
    }
}

/// A `ftpchat.Codec` member.
fn codec_value<'py>(py: Python<'py>, codec: Codec) -> PyResult<Bound<'py, PyAny>> {
    py.import(TYPES_MODULE)?
        .getattr("Codec")?
        .getattr(codec_member(codec))
}

/// A `ftpchat.Message`.
pub(crate) fn message<'py>(py: Python<'py>, m: &Message) -> PyResult<Bound<'py, PyAny>> {
    let types = py.import(TYPES_MODULE)?;
    let status = match m.status {
        MessageStatus::Pending => "PENDING",
        MessageStatus::Confirmed => "CONFIRMED",
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item("id", m.id.to_hex())?;
    kwargs.set_item("sender", &m.sender)?;
    kwargs.set_item("text", &m.text)?;
    kwargs.set_item("timestamp", m.timestamp_ms.and_then(utc_from_ms))?;
    kwargs.set_item(
        "local_time",
        m.local_time.as_ref().and_then(naive_from_legacy),
    )?;
    kwargs.set_item("status", types.getattr("MessageStatus")?.getattr(status)?)?;
    kwargs.set_item("codec", codec_value(py, m.codec)?)?;
    kwargs.set_item("is_own", m.is_own)?;
    kwargs.set_item("signer", m.signer.as_deref())?;
    kwargs.set_item("edited", m.edited)?;
    kwargs.set_item("deleted", m.deleted)?;
    let reactions = m
        .reactions
        .iter()
        .map(|r| reaction(py, &types, r))
        .collect::<PyResult<Vec<_>>>()?;
    kwargs.set_item("reactions", PyTuple::new(py, reactions)?)?;
    kwargs.set_item("private", m.private.map(|id| id.to_string()))?;
    kwargs.set_item(
        "attachment",
        m.attachment
            .as_ref()
            .map(|a| attachment(py, &types, a))
            .transpose()?,
    )?;
    types.getattr("Message")?.call((), Some(&kwargs))
}

/// A `ftpchat.Attachment` (what the sender announced; the blob's key stays in the core).
fn attachment<'py>(
    py: Python<'py>,
    types: &Bound<'py, PyModule>,
    a: &Attachment,
) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("name", a.name())?;
    kwargs.set_item("size", a.size())?;
    kwargs.set_item("media_type", a.media_type())?;
    types.getattr("Attachment")?.call((), Some(&kwargs))
}

/// A `ftpchat.Reaction`.
fn reaction<'py>(
    py: Python<'py>,
    types: &Bound<'py, PyModule>,
    r: &Reaction,
) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("reaction", &r.reaction)?;
    kwargs.set_item("senders", PyTuple::new(py, &r.senders)?)?;
    kwargs.set_item("own", r.own)?;
    types.getattr("Reaction")?.call((), Some(&kwargs))
}

/// A tuple of `ftpchat.Message`.
pub(crate) fn messages<'py>(py: Python<'py>, ms: &[Message]) -> PyResult<Bound<'py, PyTuple>> {
    let items = ms
        .iter()
        .map(|m| message(py, m))
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, items)
}

/// What an event is about: its kind, and its file, offset and codec when it has them.
struct EventParts<'a> {
    kind: &'static str,
    file: Option<&'a str>,
    offset: Option<u64>,
    codec: Option<Codec>,
    epoch: Option<u64>,
    /// `change_refused`: the message the change tried to change, and the change's id.
    target: Option<String>,
    change: Option<String>,
    /// `private_record_refused`: the refused record's id.
    record: Option<String>,
}

impl<'a> EventParts<'a> {
    fn new(kind: &'static str) -> Self {
        EventParts {
            kind,
            file: None,
            offset: None,
            codec: None,
            epoch: None,
            target: None,
            change: None,
            record: None,
        }
    }

    fn at(mut self, file: &'a str, offset: Option<u64>) -> Self {
        self.file = Some(file);
        self.offset = offset;
        self
    }
}

fn event_parts(e: &RoomEvent) -> EventParts<'_> {
    match e {
        RoomEvent::UndecodableLine {
            file,
            offset,
            codec,
            ..
        } => EventParts {
            codec: *codec,
            ..EventParts::new("undecodable_line").at(file, Some(*offset))
        },
        RoomEvent::UnauthenticatedLine { file, offset } => {
            EventParts::new("unauthenticated_line").at(file, Some(*offset))
        }
        RoomEvent::WrongPassword { .. } => EventParts::new("wrong_password"),
        RoomEvent::ForeignRecord { file, offset } => {
            EventParts::new("foreign_record").at(file, Some(*offset))
        }
        RoomEvent::FileReplaced { file } => EventParts::new("file_replaced").at(file, None),
        RoomEvent::DeliveryRetry { .. } => EventParts::new("delivery_retry"),
        RoomEvent::HeaderChanged => EventParts::new("header_changed"),
        RoomEvent::StaleLockRemoved => EventParts::new("stale_lock_removed"),
        RoomEvent::OutboxHeld { .. } => EventParts::new("outbox_held"),
        RoomEvent::MessagesLeftOut { .. } => EventParts::new("messages_left_out"),
        RoomEvent::ReplayedRecord { file, offset } => {
            EventParts::new("replayed_record").at(file, Some(*offset))
        }
        RoomEvent::UnreadableFile { file, .. } => EventParts::new("unreadable_file").at(file, None),
        RoomEvent::Transport(TransportEvent::TlsFallback { .. }) => EventParts::new("tls_fallback"),
        RoomEvent::Transport(TransportEvent::Reconnected { .. }) => EventParts::new("reconnected"),
        RoomEvent::Transport(TransportEvent::Retrying { .. }) => EventParts::new("retrying"),
        RoomEvent::MembershipChanged { epoch } => EventParts {
            epoch: Some(*epoch),
            ..EventParts::new("membership_changed")
        },
        RoomEvent::MembershipRejected { epoch, .. } => EventParts {
            epoch: Some(*epoch),
            ..EventParts::new("membership_rejected")
        },
        RoomEvent::RemovedFromRoom => EventParts::new("removed_from_room"),
        RoomEvent::RecordRefused { file, offset, .. } => {
            EventParts::new("record_refused").at(file, Some(*offset))
        }
        RoomEvent::DuplicateRecordId { file, offset } => {
            EventParts::new("duplicate_record_id").at(file, Some(*offset))
        }
        RoomEvent::ChangeRefused { change, target, .. } => EventParts {
            target: Some(target.to_hex()),
            change: Some(change.to_hex()),
            ..EventParts::new("change_refused")
        },
        RoomEvent::PrivateRecordRefused { record, .. } => EventParts {
            record: Some(record.to_hex()),
            ..EventParts::new("private_record_refused")
        },
        RoomEvent::PresenceChanged => EventParts::new("presence_changed"),
        _ => EventParts::new("other"),
    }
}

/// A sentence about the event: the core's own, except for transport events (the core
/// shows those in debug form).
fn describe_event(e: &RoomEvent) -> String {
    match e {
        RoomEvent::Transport(TransportEvent::TlsFallback { reason }) => {
            format!("TLS unavailable, the connection is NOT encrypted: {reason}")
        }
        RoomEvent::Transport(TransportEvent::Reconnected { attempts }) => {
            format!("reconnected after {attempts} attempt(s)")
        }
        RoomEvent::Transport(TransportEvent::Retrying { operation, error }) => {
            format!("retrying {operation}: {error}")
        }
        other => other.to_string(),
    }
}

/// A `ftpchat.Event`.
pub(crate) fn event<'py>(py: Python<'py>, e: &RoomEvent) -> PyResult<Bound<'py, PyAny>> {
    let parts = event_parts(e);
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", parts.kind)?;
    kwargs.set_item("description", describe_event(e))?;
    kwargs.set_item("file", parts.file)?;
    kwargs.set_item("offset", parts.offset)?;
    kwargs.set_item(
        "codec",
        parts.codec.map(|c| codec_value(py, c)).transpose()?,
    )?;
    kwargs.set_item("epoch", parts.epoch)?;
    kwargs.set_item("target", parts.target)?;
    kwargs.set_item("change", parts.change)?;
    kwargs.set_item("record", parts.record)?;
    py.import(TYPES_MODULE)?
        .getattr("Event")?
        .call((), Some(&kwargs))
}

/// A `ftpchat.Member`.
pub(crate) fn member<'py>(py: Python<'py>, m: &Member) -> PyResult<Bound<'py, PyAny>> {
    let devices = PyTuple::new(py, m.devices.iter().map(ToString::to_string))?;
    let fingerprints = PyTuple::new(py, m.devices.iter().map(|d| d.fingerprint()))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("id", m.id.to_string())?;
    kwargs.set_item("role", crate::identity::role_name(m.role))?;
    kwargs.set_item("devices", devices)?;
    kwargs.set_item("fingerprints", fingerprints)?;
    kwargs.set_item("joined_epoch", m.joined_epoch)?;
    py.import(TYPES_MODULE)?
        .getattr("Member")?
        .call((), Some(&kwargs))
}

/// The `ftpchat.PresenceState` member of a core state.
fn presence_state_member(state: PresenceState) -> &'static str {
    match state {
        PresenceState::Online => "ONLINE",
        PresenceState::Away => "AWAY",
        PresenceState::Typing => "TYPING",
        _ => "OFFLINE",
    }
}

/// The core state of a `ftpchat.PresenceState` value (`"online"`, `"away"`, `"offline"`,
/// `"typing"`), or `None`.
pub(crate) fn presence_state(value: &str) -> Option<PresenceState> {
    Some(match value {
        "online" => PresenceState::Online,
        "away" => PresenceState::Away,
        "offline" => PresenceState::Offline,
        "typing" => PresenceState::Typing,
        _ => return None,
    })
}

/// A `ftpchat.PresenceInfo`.
pub(crate) fn presence_info<'py>(py: Python<'py>, p: &PresenceInfo) -> PyResult<Bound<'py, PyAny>> {
    let types = py.import(TYPES_MODULE)?;
    let state = types
        .getattr("PresenceState")?
        .getattr(presence_state_member(p.state))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("member", p.member.to_string())?;
    kwargs.set_item("fingerprint", &p.fingerprint)?;
    kwargs.set_item("display_name", &p.display_name)?;
    kwargs.set_item("is_self", p.is_self)?;
    kwargs.set_item("state", state)?;
    kwargs.set_item("typing", p.typing)?;
    kwargs.set_item("last_seen", p.last_seen_ms.and_then(utc_from_ms))?;
    kwargs.set_item("last_active", p.last_active_ms.and_then(utc_from_ms))?;
    types.getattr("PresenceInfo")?.call((), Some(&kwargs))
}

/// A `ftpchat.SeenBy`.
pub(crate) fn seen_by<'py>(py: Python<'py>, s: &SeenBy) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item(
        "readers",
        PyTuple::new(py, s.readers.iter().map(ToString::to_string))?,
    )?;
    kwargs.set_item("of", s.of)?;
    py.import(TYPES_MODULE)?
        .getattr("SeenBy")?
        .call((), Some(&kwargs))
}

/// A `ftpchat.SyncResult`.
pub(crate) fn sync_update<'py>(py: Python<'py>, u: &SyncUpdate) -> PyResult<Bound<'py, PyAny>> {
    let confirmed = PyTuple::new(py, u.confirmed.iter().map(|id| id.to_hex()))?;
    let events = u
        .events
        .iter()
        .map(|e| event(py, e))
        .collect::<PyResult<Vec<_>>>()?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("messages", messages(py, &u.messages)?)?;
    kwargs.set_item("confirmed", confirmed)?;
    kwargs.set_item("events", PyTuple::new(py, events)?)?;
    kwargs.set_item("changed", messages(py, &u.changed)?)?;
    py.import(TYPES_MODULE)?
        .getattr("SyncResult")?
        .call((), Some(&kwargs))
}

/// A `ftpchat.CompatMessage` (the parts of a FTPChat plaintext).
pub(crate) fn compat_message<'py>(
    py: Python<'py>,
    m: &ftpchat_core::codec::CompatMessage,
) -> PyResult<Bound<'py, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item(
        "local_time",
        m.timestamp.as_ref().and_then(naive_from_legacy),
    )?;
    kwargs.set_item("username", m.username.as_deref())?;
    kwargs.set_item("text", &m.text)?;
    py.import(TYPES_MODULE)?
        .getattr("CompatMessage")?
        .call((), Some(&kwargs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftpchat_core::MessageId;

    #[test]
    fn private_and_presence_events_have_their_kinds() {
        let refused = RoomEvent::PrivateRecordRefused {
            record: MessageId([0xab; 16]),
            reason: "does not open".into(),
        };
        let parts = event_parts(&refused);
        assert_eq!(parts.kind, "private_record_refused");
        assert_eq!(parts.record, Some("ab".repeat(16)));
        assert_eq!(parts.target, None);
        let parts = event_parts(&RoomEvent::PresenceChanged);
        assert_eq!((parts.kind, parts.record), ("presence_changed", None));
    }

    #[test]
    fn presence_states_round_trip_through_their_values() {
        for (value, member) in [
            ("online", "ONLINE"),
            ("away", "AWAY"),
            ("offline", "OFFLINE"),
            ("typing", "TYPING"),
        ] {
            let state = presence_state(value).unwrap();
            assert_eq!(presence_state_member(state), member);
        }
        assert_eq!(presence_state("Online"), None);
        assert_eq!(presence_state(""), None);
    }
}
