//! Core values to Python objects: messages, sync results and events become the frozen
//! dataclasses of `ftpchat/_types.py`; times become `datetime` objects.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use ftpchat_core::format::{Codec, LegacyTimestamp};
use ftpchat_core::log::{Message, MessageStatus};
use ftpchat_core::room::{RoomEvent, SyncUpdate};
use ftpchat_core::transport::TransportEvent;
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
        _ => "NATIVE",
    }
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
    kwargs.set_item(
        "codec",
        types.getattr("Codec")?.getattr(codec_member(m.codec))?,
    )?;
    kwargs.set_item("is_own", m.is_own)?;
    types.getattr("Message")?.call((), Some(&kwargs))
}

/// A tuple of `ftpchat.Message`.
pub(crate) fn messages<'py>(py: Python<'py>, ms: &[Message]) -> PyResult<Bound<'py, PyTuple>> {
    let items = ms
        .iter()
        .map(|m| message(py, m))
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, items)
}

/// What an event is, as `(kind, description, file, offset)`.
fn describe_event(e: &RoomEvent) -> (&'static str, String, Option<&str>, Option<u64>) {
    match e {
        RoomEvent::UndecodableLine { file, offset, .. } => (
            "undecodable_line",
            e.to_string(),
            Some(file),
            Some(*offset),
        ),
        RoomEvent::WrongPassword { failed_lines } => (
            "wrong_password",
            format!(
                "{failed_lines} line(s) failed authentication and none succeeded: \
                 wrong password or 1.6 salt/iterations?"
            ),
            None,
            None,
        ),
        RoomEvent::ForeignRecord { file, offset } => (
            "foreign_record",
            format!("{file} at byte {offset}: a record from another writer's log, skipped"),
            Some(file),
            Some(*offset),
        ),
        RoomEvent::FileReplaced { file } => (
            "file_replaced",
            format!("{file} shrank or changed and is read again"),
            Some(file),
            None,
        ),
        RoomEvent::DeliveryRetry { attempt, error } => (
            "delivery_retry",
            format!("delivery attempt {attempt} failed: {error}"),
            None,
            None,
        ),
        RoomEvent::StaleLockRemoved => (
            "stale_lock_removed",
            "an expired chat-file lock was removed".to_owned(),
            None,
            None,
        ),
        RoomEvent::ReplayedRecord { file, offset } => (
            "replayed_record",
            format!("a record already read before a restart appeared again in {file} at {offset}; dropped"),
            Some(file),
            Some(*offset),
        ),
        RoomEvent::UnreadableFile { file, error } => (
            "unreadable_file",
            format!("{file} could not be read: {error}"),
            Some(file),
            None,
        ),
        RoomEvent::Transport(TransportEvent::TlsFallback { reason }) => (
            "tls_fallback",
            format!("TLS unavailable, the connection is NOT encrypted: {reason}"),
            None,
            None,
        ),
        RoomEvent::Transport(TransportEvent::Reconnected { attempts }) => (
            "reconnected",
            format!("reconnected after {attempts} attempt(s)"),
            None,
            None,
        ),
        RoomEvent::Transport(TransportEvent::Retrying { operation, error }) => (
            "retrying",
            format!("retrying {operation}: {error}"),
            None,
            None,
        ),
        other => ("other", format!("{other:?}"), None, None),
    }
}

/// A `ftpchat.Event`.
pub(crate) fn event<'py>(py: Python<'py>, e: &RoomEvent) -> PyResult<Bound<'py, PyAny>> {
    let (kind, description, file, offset) = describe_event(e);
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", kind)?;
    kwargs.set_item("description", description)?;
    kwargs.set_item("file", file)?;
    kwargs.set_item("offset", offset)?;
    py.import(TYPES_MODULE)?
        .getattr("Event")?
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
    py.import(TYPES_MODULE)?
        .getattr("SyncResult")?
        .call((), Some(&kwargs))
}

/// A `ftpchat.CompatMessage` (the parts of a FTPChat plaintext).
pub(crate) fn compat_message<'py>(
    py: Python<'py>,
    m: &ftpchat_core::format::CompatMessage,
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
