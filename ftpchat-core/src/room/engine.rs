//! The room driver's two halves: [`View`] (timeline, outbox, send; CPU only) and
//! [`Engine`] (delivery and reading over the transport).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::{Clock, Credentials, Layout, RoomConfig, StateLocation, WriteCodec};
use super::lock::FileLock;
use super::state::{Outgoing, SavedState, StateFile};
use super::{lock, Outbox, RoomError, RoomEvent, SyncUpdate, MAX_NAME_LEN};
use crate::crypto::{derive_key, FernetKey, KdfParams};
use crate::format::{
    Codec, CompatMessage, DecodeError, Frame, HeaderError, Keyring, LegacyTimestamp, LineDecoder,
    LineEncoder, LineFramer, NativeRecord, Record, RecordBody, RoomHeader, RoomId, WriterId,
};
use crate::timeline::{
    FileReader, HlcClock, Inserted, Message, MessageId, MessageStatus, ReadPlan, SortKey, Timeline,
};
use crate::transport::{self, RemotePath, Transport, TransportError, TransportErrorKind};

const HEADER_FILE: &str = "room.ftpchat";
const LOGS_DIR: &str = "logs";
/// The most lines one append carries.
const MAX_BATCH_LINES: usize = 256;
/// The most bytes one append to an own log carries (a single longer line still goes alone).
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// The most bytes one append to a shared file carries (a single longer line still goes
/// alone): about one TCP segment, so a dropped connection almost never tears a line in a
/// file that other clients' readers must decode line by line.
const MAX_SHARED_BATCH_BYTES: usize = 1200;
/// Order numbers below this are reserved for history loaded after a restart.
const HISTORY_SLOTS: u64 = 1 << 48;
/// The most bytes of incomplete last lines a native room keeps across all its logs; over
/// it, tails are parked (read again when their log grows), so a server that ends many
/// logs mid-line costs bandwidth, not memory.
pub(crate) const MAX_KEPT_TAILS: u64 = 1024 * 1024;
/// The most logs a native room reads; more are ignored and reported once.
pub(crate) const MAX_LOGS: usize = 10_000;

/// How this client writes.
enum Sender {
    Native {
        key: FernetKey,
        room: RoomId,
        writer: WriterId,
        seq: u64,
        clock: HlcClock,
    },
    Shared {
        codec: WriteCodec,
        key: Option<FernetKey>,
        pending_order: u64,
    },
}

/// What the user sees and sends. Never held across I/O.
pub(crate) struct View {
    pub timeline: Timeline,
    pub outbox: Outbox,
    /// Unsent lines from an earlier run that do not decode under this run's key: kept in
    /// the state file, never delivered under a key that may be wrong.
    held: Vec<Outgoing>,
    pub events: Vec<RoomEvent>,
    pub display_name: String,
    new_messages: Vec<(SortKey, Message)>,
    confirmed: Vec<MessageId>,
    sender: Sender,
    encoder: LineEncoder,
    clock: Arc<dyn Clock>,
}

impl View {
    pub fn send(&mut self, text: &str) -> Result<MessageId, RoomError> {
        let now = self.clock.now_ms();
        let (id, key, line, message) = match &mut self.sender {
            Sender::Native {
                key,
                room,
                writer,
                seq,
                clock,
            } => {
                *seq += 1;
                let record = NativeRecord {
                    id: crate::format::RecordId::random(),
                    room: *room,
                    writer: *writer,
                    seq: *seq,
                    hlc: clock.tick(now),
                    sender: self.display_name.clone(),
                    body: RecordBody::Text(text.to_owned()),
                };
                let line = self.encoder.native(&record, key);
                let sort = native_key(&record);
                let mut message = native_message(&record, text.to_owned(), true);
                message.status = MessageStatus::Pending;
                (message.id, sort, line, message)
            }
            Sender::Shared {
                codec,
                key,
                pending_order,
            } => {
                let local = local_timestamp(now, self.clock.local_offset_secs(now));
                let mut body = text.to_owned();
                // The 1.5 and 1.6 GUIs end every message with a newline (their readers
                // expect it); 1.7 strips trailing white space from the whole plaintext.
                if *codec != WriteCodec::Fernet17 && !body.ends_with('\n') {
                    body.push('\n');
                }
                let mut compat = CompatMessage::new(local, self.display_name.clone(), body)?;
                let line = match (*codec, key.as_ref()) {
                    (WriteCodec::Fernet16, Some(k)) => {
                        self.encoder.fernet16(&compat, k, now / 1000)
                    }
                    (WriteCodec::Fernet17, Some(k)) => {
                        // Show what readers will see: the stripped text.
                        compat = CompatMessage::parse(&compat.to_plaintext_17());
                        self.encoder.fernet17(&compat, k, now / 1000)
                    }
                    // `open` refuses keyed codecs without a key.
                    _ => self.encoder.legacy15(&compat),
                };
                *pending_order += 1;
                let sort = SortKey::File {
                    pending: 1,
                    order: *pending_order,
                };
                let codec = codec.codec();
                let mut message = compat_message(
                    MessageId::of_compat(codec, line.as_bytes(), &compat),
                    codec,
                    &compat,
                    None,
                );
                message.status = MessageStatus::Pending;
                message.is_own = true;
                (message.id, sort, line, message)
            }
        };
        self.timeline.insert(key, message);
        self.outbox.push_back(Outgoing { id, key, line });
        Ok(id)
    }

    pub fn take_update(&mut self) -> SyncUpdate {
        SyncUpdate {
            messages: {
                // In timeline order, whatever order the files were read in.
                let mut new = std::mem::take(&mut self.new_messages);
                new.sort_by_key(|(key, _)| *key);
                new.into_iter().map(|(_, m)| m).collect()
            },
            confirmed: std::mem::take(&mut self.confirmed),
            events: std::mem::take(&mut self.events),
        }
    }

    fn insert(&mut self, key: SortKey, message: Message) {
        let id = message.id;
        match self.timeline.insert(key, message.clone()) {
            Inserted::New => self.new_messages.push((key, message)),
            Inserted::Confirmed => self.confirmed.push(id),
            Inserted::Duplicate => {}
        }
    }

    fn observe(&mut self, record: &NativeRecord) {
        if let Sender::Native { clock, .. } = &mut self.sender {
            clock.observe(record.hlc, self.clock.now_ms());
        }
    }
}

fn local_timestamp(now_ms: u64, offset_secs: i32) -> LegacyTimestamp {
    use chrono::{Datelike, Timelike};
    let secs = (now_ms / 1000) as i64 + i64::from(offset_secs);
    let t = chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .naive_utc();
    LegacyTimestamp {
        year: t.year().clamp(0, 9999) as u16,
        month: t.month() as u8,
        day: t.day() as u8,
        hour: t.hour() as u8,
        minute: t.minute() as u8,
    }
}

fn native_key(record: &NativeRecord) -> SortKey {
    SortKey::Native {
        hlc: record.hlc,
        writer: record.writer,
        seq: record.seq,
        id: MessageId(record.id.0),
    }
}

/// A native record as a message, confirmed (as read from the server); the sender marks
/// its own new messages pending, as `compat_message`'s callers do.
fn native_message(record: &NativeRecord, text: String, own: bool) -> Message {
    Message {
        id: MessageId(record.id.0),
        sender: record.sender.clone(),
        text,
        timestamp_ms: Some(record.hlc.wall_ms()),
        local_time: None,
        status: MessageStatus::Confirmed,
        codec: Codec::Native,
        is_own: own,
    }
}

fn compat_message(
    id: MessageId,
    codec: Codec,
    m: &CompatMessage,
    token_time: Option<u64>,
) -> Message {
    // Show the text without the newline FTPChat's GUI appends.
    let text = m.text.strip_suffix('\n').unwrap_or(&m.text).to_owned();
    Message {
        id,
        sender: m.username.clone().unwrap_or_default(),
        text,
        timestamp_ms: token_time.map(|s| s.saturating_mul(1000)),
        local_time: m.timestamp,
        status: MessageStatus::Confirmed,
        codec,
        is_own: false,
    }
}

struct NativeIo {
    logs_dir: RemotePath,
    own_name: String,
    own_log: RemotePath,
    own_len: u64,
    own_ends_with_lf: bool,
    /// `false` after any failed append and at start: check the log before appending.
    own_verified: bool,
    readers: HashMap<String, FileReader>,
    /// Highest sequence number accepted from each log, saved with the read positions.
    max_seq: HashMap<String, u64>,
    /// `max_seq` as restored at open: records at or below it were accepted by an earlier
    /// run, so a copy after the saved read position is a replay. (Within one run the
    /// record id catches copies; a record moved within a log is still shown.)
    restored_max_seq: HashMap<String, u64>,
    /// Logs this device wrote under earlier writer ids (its messages there are its own).
    retired: Vec<String>,
    /// The own-log check found records this device did not write: another device uses
    /// this writer id (a copied state folder) or the state is older than the log (a
    /// restored backup). Delivery switches to a new writer id before appending again.
    conflict: bool,
    /// Bytes of incomplete last lines kept across all logs (bounded by MAX_KEPT_TAILS).
    kept_tails: u64,
    /// `MAX_LOGS` was reported.
    too_many_logs_reported: bool,
}

impl NativeIo {
    /// `true` for a log this device writes, or wrote under an earlier writer id.
    fn is_own(&self, log_name: &str) -> bool {
        log_name == self.own_name || self.retired.iter().any(|r| r == log_name)
    }
}

struct SharedIo {
    file: RemotePath,
    /// The codec this client writes.
    codec: Codec,
    /// Where the confirmation of an append that may have landed must start, while it has
    /// not been done.
    unconfirmed_from: Option<u64>,
    reader: FileReader,
    lock: Option<FileLock>,
    verified: bool,
}

enum Io {
    Native(NativeIo),
    Shared(SharedIo),
}

/// Delivery and reading state; one sync at a time.
pub(crate) struct Engine {
    io: Io,
    decoder: LineDecoder,
    state_file: Option<StateFile>,
    last_saved: String,
    /// `true` once everything before the read positions is in the timeline.
    history_loaded: bool,
    /// Arrival counter for shared-file order.
    file_order: u64,
    any_authenticated: bool,
    auth_failures: u64,
    wrong_password_reported: bool,
    /// Keyless (FTPChat 1.5) lines are reported, not shown: the room writes 1.6 or 1.7.
    hide_unauthenticated: bool,
    /// A poll has completed in this run.
    polled: bool,
    /// The fingerprint of the shared file's key, saved with the read position.
    key_check: Option<String>,
    append_attempts: u32,
    clock: Arc<dyn Clock>,
    writer_tag: String,
    header_text: Option<String>,
}

/// One decoded line with where it came from.
struct LineItem {
    offset: u64,
    line_id: MessageId,
    /// The codec the line's first bytes announce (for explaining failures).
    codec: Option<Codec>,
    result: Result<Record, DecodeError>,
}

fn undecodable(file: &RemotePath, item: (u64, Option<Codec>), error: DecodeError) -> RoomEvent {
    RoomEvent::UndecodableLine {
        file: file.to_string(),
        offset: item.0,
        codec: item.1,
        error,
    }
}

/// A `Write` sink that frames and decodes as bytes arrive, so a large file never sits
/// in memory whole.
struct DecodingSink<'a> {
    reader: &'a mut FileReader,
    decoder: &'a mut LineDecoder,
    items: Vec<LineItem>,
    replaced: bool,
    hash_lines: bool,
}

impl Write for DecodingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (decoder, items, hash) = (&mut *self.decoder, &mut self.items, self.hash_lines);
        let pushed = self.reader.push(buf, |frame| match frame {
            Frame::Line { offset, bytes } => {
                let result = decoder.decode_line(bytes);
                let line_id = match (&result, hash) {
                    (Ok(Record::Compat { codec, message, .. }), true) => {
                        MessageId::of_compat(*codec, bytes, message)
                    }
                    _ => MessageId([0; 16]),
                };
                items.push(LineItem {
                    offset,
                    line_id,
                    codec: crate::format::detect(bytes),
                    result,
                })
            }
            Frame::TooLong { offset, .. } => items.push(LineItem {
                offset,
                line_id: MessageId([0; 16]),
                codec: None,
                result: Err(DecodeError::LineTooLong),
            }),
        });
        match pushed {
            Ok(()) => Ok(buf.len()),
            Err(_) => {
                self.replaced = true;
                Err(std::io::Error::other("file was replaced"))
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads what is new in one file. Returns the decoded lines, also those that arrived
/// before a transfer failed, beside the result; a replaced file is re-read from the start
/// (the timeline drops what it already has).
fn read_new(
    t: &dyn Transport,
    path: &RemotePath,
    size: u64,
    reader: &mut FileReader,
    decoder: &mut LineDecoder,
    hash_lines: bool,
    events: &mut Vec<RoomEvent>,
) -> (Vec<LineItem>, Result<(), TransportError>) {
    let mut items = Vec::new();
    for _ in 0..2 {
        let offset = match reader.plan(size) {
            ReadPlan::UpToDate => return (items, Ok(())),
            ReadPlan::Restart => {
                events.push(RoomEvent::FileReplaced {
                    file: path.to_string(),
                });
                reader.reset();
                0
            }
            ReadPlan::ReadFrom { offset } => offset,
        };
        reader.begin_read();
        let mut sink = DecodingSink {
            reader,
            decoder,
            items: Vec::new(),
            replaced: false,
            hash_lines,
        };
        let result = t.read_from(path, offset, &mut sink);
        let (replaced, got) = (sink.replaced, sink.items);
        items.extend(got);
        reader.end_read();
        if replaced {
            events.push(RoomEvent::FileReplaced {
                file: path.to_string(),
            });
            reader.reset();
            continue;
        }
        if result.is_ok() {
            reader.park_long_tail(size);
        }
        // A read cut short keeps what arrived (the reader has moved past it, so the
        // caller must use these items even with the error); the next read resumes after.
        return (items, result.map(|_| ()));
    }
    (items, Ok(()))
}

/// What a read-back of a file region showed: which wanted lines are in it as complete
/// lines, where the file ends and whether it ends with LF.
struct Confirmation {
    found: Vec<bool>,
    end: u64,
    ends_with_lf: bool,
    /// Complete native records in the region that are none of the wanted lines (nor a
    /// torn start of one).
    others: u64,
}

/// A sink that frames a region as it streams in and ticks off wanted lines, so confirming
/// an append costs bounded memory however much others appended meanwhile.
struct ConfirmSink<'a> {
    framer: LineFramer,
    /// The region's first byte is preceded by this one (read to learn whether the region
    /// starts mid-line); `None` once consumed or when the region starts the file.
    expect_prev: bool,
    skip_first_line: bool,
    start: u64,
    wanted: HashMap<&'a [u8], Vec<usize>>,
    found: Vec<bool>,
    last: Option<u8>,
    received: u64,
    others: u64,
}

impl Write for ConfirmSink<'_> {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len();
        if self.expect_prev && !buf.is_empty() {
            self.expect_prev = false;
            self.skip_first_line = buf[0] != b'\n';
            self.last = Some(buf[0]);
            buf = &buf[1..];
        }
        let (wanted, found, others, skip, start) = (
            &self.wanted,
            &mut self.found,
            &mut self.others,
            self.skip_first_line,
            self.start,
        );
        self.framer.feed(buf, |frame| {
            if let Frame::Line { offset, bytes } = frame {
                if skip && offset == start {
                    return; // the tail of a line that began before the region
                }
                match wanted.get(bytes) {
                    Some(indices) => indices.iter().for_each(|&i| found[i] = true),
                    None if bytes.starts_with(crate::format::native::NATIVE_PREFIX)
                        && !wanted.keys().any(|w| w.starts_with(bytes)) =>
                    {
                        *others += 1
                    }
                    None => {}
                }
            }
        });
        if let Some(&b) = buf.last() {
            self.last = Some(b);
        }
        self.received += buf.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads `path` from `from` to its end and reports which of `lines` are there.
fn confirm_lines(
    t: &dyn Transport,
    path: &RemotePath,
    from: u64,
    lines: &[&[u8]],
) -> Result<Confirmation, TransportError> {
    let mut wanted: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        wanted.entry(line).or_default().push(i);
    }
    let mut sink = ConfirmSink {
        framer: LineFramer::new(from),
        expect_prev: from > 0,
        skip_first_line: false,
        start: from,
        wanted,
        found: vec![false; lines.len()],
        last: None,
        received: 0,
        others: 0,
    };
    t.read_from(path, from.saturating_sub(1), &mut sink)?;
    Ok(Confirmation {
        end: from + sink.received,
        ends_with_lf: sink.last.is_none_or(|b| b == b'\n'),
        found: sink.found,
        others: sink.others,
    })
}

/// How a shared file ends, seen before appending to it.
#[derive(Debug, PartialEq, Eq)]
enum Tail {
    /// With LF (or empty) at `end`.
    EndsWithLf { end: u64 },
    /// Mid-line, in a line that is not the start of ours.
    Partial { end: u64 },
    /// Mid-line, in the first `len` bytes (possibly all) of our line number `line`, which
    /// start at `start`.
    OwnPrefix { line: usize, start: u64, len: usize },
}

/// Reads the end of `path` (at most one of our lines' worth) to tell how it ends; `size`
/// is the size the server gave just before.
fn file_tail(
    t: &dyn Transport,
    path: &RemotePath,
    size: u64,
    ours: &[&[u8]],
) -> Result<Tail, TransportError> {
    let longest = ours.iter().map(|l| l.len()).max().unwrap_or(0);
    let from = size.saturating_sub(longest as u64 + 1);
    let mut bytes = Vec::new();
    t.read_from(path, from, &mut bytes)?;
    let end = from + bytes.len() as u64;
    if bytes.last().is_none_or(|&b| b == b'\n') {
        return Ok(Tail::EndsWithLf { end });
    }
    let fragment = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(lf) => &bytes[lf + 1..],
        // No line start within reach: longer than our line, so not ours.
        None if from > 0 => return Ok(Tail::Partial { end }),
        None => &bytes[..],
    };
    // A line of ours torn just before its LF needs only the LF. (A torn append whose
    // confirmation failed is retried whole, so the torn line need not be the first.)
    Ok(match ours.iter().position(|l| l.starts_with(fragment)) {
        Some(line) => Tail::OwnPrefix {
            line,
            start: end - fragment.len() as u64,
            len: fragment.len(),
        },
        None => Tail::Partial { end },
    })
}

/// The bytes of one append: an optional leading LF, then each line and LF.
fn batch_data<'a>(leading_lf: bool, lines: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut data = Vec::new();
    if leading_lf {
        data.push(b'\n');
    }
    for line in lines {
        data.extend_from_slice(line);
        data.push(b'\n');
    }
    data
}

fn validate_display_name(name: &str) -> Result<(), RoomError> {
    if name.len() > MAX_NAME_LEN {
        return Err(RoomError::InvalidName(format!(
            "longer than {MAX_NAME_LEN} bytes"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(RoomError::InvalidName(
            "contains a control character".into(),
        ));
    }
    Ok(())
}

fn derive(credentials: &Option<Credentials>, kdf: &KdfParams) -> Option<FernetKey> {
    match credentials {
        Some(Credentials::Password(p)) => Some(derive_key(p.expose(), kdf)),
        Some(Credentials::Key(k)) => Some(k.as_ref().clone()),
        None => None,
    }
}

/// Reads the native room header, creating the room when it is missing and allowed.
/// Returns the header and, when this client created it, the key it derived.
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
            Ok(Some(bytes)) => return Ok((RoomHeader::parse(&bytes)?, None)),
            Ok(None) => return Err(HeaderError::Malformed.into()),
            Err(e) if e.kind() == TransportErrorKind::NotFound => {}
            // Offline: a room opened before opens from its saved header, so the user
            // can read what is cached and queue messages.
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
                let key = derive(&config.credentials, &kdf).ok_or_else(|| {
                    RoomError::InvalidConfig("a native room needs a password or key".into())
                })?;
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

/// Opens a room: the engine and the view.
pub(crate) fn open(t: &dyn Transport, config: &RoomConfig) -> Result<(Engine, View), RoomError> {
    validate_display_name(&config.display_name)?;
    let layout_path = match &config.layout {
        Layout::Native { dir } => dir.clone(),
        Layout::SharedFile { file, .. } => file.clone(),
    };
    let state_file = match &config.state {
        StateLocation::Memory => None,
        StateLocation::Folder(folder) => Some(
            StateFile::new(folder, &format!("{}\n{layout_path}", t.describe()))
                .map_err(RoomError::LocalState)?,
        ),
    };
    let mut saved = match &state_file {
        Some(f) => f.load().map_err(RoomError::LocalState)?.unwrap_or_default(),
        None => SavedState::default(),
    };
    let mut history_loaded = saved.cursors.is_empty();
    let mut key_check = None;

    let mut header_changed = false;
    let mut hide_unauthenticated = false;
    let (io, sender, keys, writer_tag, header_text) = match &config.layout {
        Layout::Native { dir } => {
            let room_dir = RemotePath::new(dir)?;
            let (header, created_key) =
                load_or_create_header(t, &room_dir, config, saved.header.as_deref())?;
            let key = match created_key {
                Some(k) => k,
                None => derive(&config.credentials, &header.kdf).ok_or_else(|| {
                    RoomError::InvalidConfig("a native room needs a password or key".into())
                })?,
            };
            header.verify_key(&key)?;
            // A header unlike the one this client opened before: another room now has
            // this name, or someone who knows the password replaced it (e.g. with a
            // weaker KDF). Never used unless the caller accepts it (SPEC §9.2).
            header_changed = saved
                .header
                .as_deref()
                .and_then(|h| RoomHeader::parse(h.as_bytes()).ok())
                .is_some_and(|old| old.room_id != header.room_id || old.kdf != header.kdf);
            if header_changed {
                if !config.accept_changed_header {
                    return Err(RoomError::HeaderChanged);
                }
                // Another room: nothing saved about the old one applies. Unsent messages
                // stay saved (held: they do not decode under the new key).
                saved = SavedState {
                    outbox: std::mem::take(&mut saved.outbox),
                    ..SavedState::default()
                };
                history_loaded = true;
            }
            let writer = saved.writer.unwrap_or_else(WriterId::random);
            let logs_dir = room_dir.join(LOGS_DIR)?;
            let own_name = format!("{}.log", writer.to_hex());
            let own_log = logs_dir.join(&own_name)?;
            let readers = saved
                .cursors
                .iter()
                .map(|(name, c)| (name.clone(), FileReader::resume(c.clone())))
                .collect();
            let io = Io::Native(NativeIo {
                logs_dir,
                own_name,
                own_log,
                own_len: saved.own_log_len,
                own_ends_with_lf: saved.own_log_ends_with_lf || saved.own_log_len == 0,
                own_verified: false,
                readers,
                max_seq: saved.max_seq.clone().into_iter().collect(),
                restored_max_seq: saved.max_seq.clone().into_iter().collect(),
                retired: saved
                    .retired
                    .iter()
                    .map(|w| format!("{}.log", w.to_hex()))
                    .collect(),
                conflict: false,
                kept_tails: 0,
                too_many_logs_reported: false,
            });
            let header_text = header.encode();
            let sender = Sender::Native {
                key: key.clone(),
                room: header.room_id,
                writer,
                seq: saved.seq,
                clock: HlcClock::new(saved.hlc),
            };
            let keys = Keyring {
                fernet: None,
                native: Some((key, header.room_id)),
            };
            (io, sender, keys, writer.to_hex(), Some(header_text))
        }
        Layout::SharedFile { file, codec, lock } => {
            let path = RemotePath::new(file)?;
            let key = derive(&config.credentials, &config.compat_kdf);
            if codec.codec().is_authenticated() && key.is_none() {
                return Err(RoomError::InvalidConfig(format!(
                    "{} rooms need a password or key",
                    codec.codec()
                )));
            }
            hide_unauthenticated = codec.codec().is_authenticated() && !config.show_unauthenticated;
            if *codec == WriteCodec::Legacy15 {
                CompatMessage::new(local_timestamp(0, 0), config.display_name.clone(), "")?;
            }
            key_check = key.as_ref().map(super::state::key_check);
            // Read with another key than last time: start over, so the first poll learns
            // whether this key is the room's before anything is written (§9.1).
            let same_key = saved.key_check.is_none() || saved.key_check == key_check;
            let reader = saved
                .cursors
                .get(path.as_str())
                .filter(|_| same_key)
                .cloned()
                .map(FileReader::resume)
                .unwrap_or_default();
            history_loaded |= !same_key;
            let lock = lock
                .then(|| FileLock::new(&path, config.lock_ttl, config.lock_wait))
                .transpose()?;
            let io = Io::Shared(SharedIo {
                file: path,
                codec: codec.codec(),
                unconfirmed_from: None,
                reader,
                lock,
                verified: false,
            });
            let sender = Sender::Shared {
                codec: *codec,
                key: key.clone(),
                pending_order: 0,
            };
            let tag = saved.writer.unwrap_or_else(WriterId::random).to_hex();
            (
                io,
                sender,
                Keyring {
                    fernet: key,
                    native: None,
                },
                tag,
                None,
            )
        }
    };

    let mut decoder = LineDecoder::new(keys);
    let mut view = View {
        timeline: Timeline::new(),
        outbox: Outbox::new(),
        held: Vec::new(),
        events: Vec::new(),
        display_name: config.display_name.clone(),
        new_messages: Vec::new(),
        confirmed: Vec::new(),
        sender,
        encoder: LineEncoder::new(),
        clock: config.clock.clone(),
    };
    if header_changed {
        view.events.push(RoomEvent::HeaderChanged);
    }
    // Unsent messages from an earlier run: back in the outbox and the timeline.
    for out in saved.outbox {
        let message = match decoder.decode_line(out.line.as_bytes()) {
            Ok(Record::Native(r)) => match &r.body {
                RecordBody::Text(text) => Some(native_message(&r, text.clone(), true)),
                _ => None,
            },
            Ok(Record::Compat {
                codec,
                message,
                token_time,
            }) => Some(compat_message(out.id, codec, &message, token_time)),
            Err(_) => {
                // Written under another password than this run's: keep it saved, but never
                // send it under a key that may be wrong (it would stall FTPChat 1.7 readers).
                view.held.push(out);
                continue;
            }
        };
        if let Some(mut message) = message {
            message.status = MessageStatus::Pending;
            message.is_own = true;
            view.timeline.insert(out.key, message);
        }
        if let (SortKey::File { order, .. }, Sender::Shared { pending_order, .. }) =
            (&out.key, &mut view.sender)
        {
            *pending_order = (*pending_order).max(*order);
        }
        view.outbox.push_back(out);
    }
    if !view.held.is_empty() {
        view.events.push(RoomEvent::OutboxHeld {
            messages: view.held.len(),
        });
    }
    let engine = Engine {
        io,
        decoder,
        state_file,
        last_saved: String::new(),
        history_loaded,
        file_order: if history_loaded { 0 } else { HISTORY_SLOTS },
        any_authenticated: false,
        auth_failures: 0,
        wrong_password_reported: false,
        hide_unauthenticated,
        polled: false,
        key_check,
        append_attempts: config.append_attempts.max(1),
        clock: config.clock.clone(),
        writer_tag,
        header_text,
    };
    Ok((engine, view))
}

impl Engine {
    pub fn sync(&mut self, t: &dyn Transport, view: &Mutex<View>) -> Result<(), RoomError> {
        if self.key_unproven() {
            // Read first: the file tells whether our key is the room's before we write.
            self.poll(t, view)?;
        }
        // Read even when delivery failed: one stuck message must not stop the room.
        let delivered = self.flush(t, view);
        let polled = self.poll(t, view);
        delivered.and(polled)
    }

    /// A keyed shared file not read yet in this run: read before writing.
    fn key_unproven(&self) -> bool {
        matches!(&self.io, Io::Shared(io) if io.codec.is_authenticated()) && !self.polled
    }

    /// A keyed shared file whose keyed lines all fail authentication: our key is not the
    /// room's. (An empty file proves nothing wrong.)
    fn wrong_key(&self) -> bool {
        matches!(&self.io, Io::Shared(io) if io.codec.is_authenticated())
            && self.auth_failures > 0
            && !self.any_authenticated
    }

    /// Delivers the outbox in order, each message exactly once. Messages go in batches:
    /// one append carries up to [`MAX_BATCH_LINES`] lines, and each line is confirmed on
    /// its own, so a torn or partly lost batch resends only what is missing.
    pub fn flush(&mut self, t: &dyn Transport, view: &Mutex<View>) -> Result<(), RoomError> {
        if self.key_unproven() {
            self.poll(t, view)?;
        }
        if self.wrong_key() {
            // A line under the wrong key would stop every FTPChat 1.7 reader for good.
            return Err(RoomError::WrongPassword);
        }
        let mut failures = 0u32;
        loop {
            let max_bytes = match self.io {
                Io::Native(_) => MAX_BATCH_BYTES,
                Io::Shared(_) => MAX_SHARED_BATCH_BYTES,
            };
            let batch: Vec<Outgoing> = {
                let v = lock(view);
                let mut bytes = 0;
                v.outbox
                    .iter()
                    .take(MAX_BATCH_LINES)
                    .take_while(|o| {
                        bytes += o.line.len() + 1;
                        bytes <= max_bytes || bytes == o.line.len() + 1
                    })
                    .cloned()
                    .collect()
            };
            if batch.is_empty() {
                return Ok(());
            }
            let lines: Vec<&[u8]> = batch.iter().map(|o| o.line.as_bytes()).collect();
            let mut events = Vec::new();
            let result = self.deliver(t, &lines, &mut events);
            let mut v = lock(view);
            v.events.extend(events);
            if let Ok(landed) = &result {
                for (out, _) in batch.iter().zip(landed).filter(|(_, &l)| l) {
                    v.outbox.retain(|o| o.id != out.id);
                    if matches!(self.io, Io::Native(_)) {
                        // Appended and verified: confirmed. (Shared files are confirmed
                        // when the poll reads the line at its place in the file.)
                        if let Some(mut m) = v.timeline.get(&out.id).cloned() {
                            m.status = MessageStatus::Confirmed;
                            v.insert(out.key, m);
                        }
                    }
                }
            }
            if self.take_conflict() {
                self.rotate_writer(&mut v)?;
                self.persist(&v)?;
                continue;
            }
            let error = match result {
                Ok(landed) if landed.iter().any(|&l| l) => {
                    failures = 0;
                    // Record progress so a crash now does not resend.
                    self.persist(&v)?;
                    continue;
                }
                Ok(_) => RoomError::Transport(TransportError::new(
                    TransportErrorKind::Transient,
                    "append",
                    "the server lost the appended lines (concurrent APPE is not atomic here)",
                )),
                Err(e) => e,
            };
            failures += 1;
            if !error.is_transient() || failures >= self.append_attempts {
                return Err(error);
            }
            v.events.push(RoomEvent::DeliveryRetry {
                attempt: failures,
                error: error.to_string(),
            });
            drop(v);
            self.clock
                .sleep(Duration::from_millis(10u64 << failures.min(6)));
        }
    }

    /// Takes the flag the own-log check sets when the log holds records this device did
    /// not write.
    fn take_conflict(&mut self) -> bool {
        match &mut self.io {
            Io::Native(io) => std::mem::take(&mut io.conflict),
            Io::Shared(_) => false,
        }
    }

    /// Continues under a new writer id (and a new, empty log): another device writes with
    /// the old one, or this state is older than the log. Unsent records are re-encoded for
    /// the new log with the same record ids, so nothing is lost or shown twice; the old
    /// log stays, and its records stay this device's own.
    fn rotate_writer(&mut self, v: &mut View) -> Result<(), RoomError> {
        let (
            Io::Native(io),
            Sender::Native {
                key, writer, seq, ..
            },
        ) = (&mut self.io, &mut v.sender)
        else {
            return Ok(());
        };
        let old_log = io.own_log.to_string();
        let new = WriterId::random();
        io.retired.push(std::mem::replace(
            &mut io.own_name,
            format!("{}.log", new.to_hex()),
        ));
        io.own_log = io.logs_dir.join(&io.own_name)?;
        io.own_len = 0;
        io.own_ends_with_lf = true;
        io.own_verified = false;
        *writer = new;
        *seq = 0;
        self.writer_tag = new.to_hex();
        for out in v.outbox.iter_mut() {
            // Every outbox line decodes under this run's key (others are held at open).
            if let Ok(Record::Native(mut record)) = self.decoder.decode_line(out.line.as_bytes()) {
                *seq += 1;
                record.writer = new;
                record.seq = *seq;
                out.line = v.encoder.native(&record, key);
                out.key = native_key(&record);
                v.timeline.move_pending(&out.id, out.key);
            }
        }
        v.events.push(RoomEvent::WriterIdConflict {
            file: old_log,
            new_writer: new.to_hex(),
        });
        Ok(())
    }

    /// Delivers `lines` in one append; returns which of them are now on the server.
    fn deliver(
        &mut self,
        t: &dyn Transport,
        lines: &[&[u8]],
        events: &mut Vec<RoomEvent>,
    ) -> Result<Vec<bool>, RoomError> {
        match &mut self.io {
            Io::Native(io) => Self::deliver_native(t, io, lines, events).map_err(RoomError::from),
            Io::Shared(io) => {
                let Some(l) = io.lock.clone() else {
                    return Self::deliver_shared(t, io, lines).map_err(RoomError::from);
                };
                let held = l.acquire(t, self.clock.as_ref(), &self.writer_tag, events)?;
                // Appends only within the lock's lifetime (others may break it after).
                let result = Self::deliver_shared(&held.guard(t, self.clock.as_ref()), io, lines);
                // Removes only our own lock; a failed release expires with its lifetime.
                let _ = l.release(t, &held);
                result.map_err(RoomError::from)
            }
        }
    }

    /// Appends to our own log. Before appending after any doubt, looks at the log: lines
    /// already there (an append that timed out after writing) are not sent again; if the
    /// log ends mid-line (a torn append), start with LF so the fragment stays its own line.
    ///
    /// A log that is gone or shorter than expected (deleted or truncated by someone else)
    /// is reported and continued at its current end. Records this device did not write
    /// after the expected end set `conflict` and nothing is appended: the caller switches
    /// to a new writer id (SPEC §9.2).
    fn deliver_native(
        t: &dyn Transport,
        io: &mut NativeIo,
        lines: &[&[u8]],
        events: &mut Vec<RoomEvent>,
    ) -> Result<Vec<bool>, TransportError> {
        let mut landed = vec![false; lines.len()];
        if !io.own_verified {
            let size = t.size(&io.own_log)?;
            if size.unwrap_or(0) < io.own_len {
                events.push(RoomEvent::FileReplaced {
                    file: io.own_log.to_string(),
                });
            }
            match size {
                None => {
                    io.own_len = 0;
                    io.own_ends_with_lf = true;
                }
                Some(size) if size != io.own_len => {
                    let start = io.own_len.min(size);
                    let seen = confirm_lines(t, &io.own_log, start, lines)?;
                    io.own_len = seen.end;
                    io.own_ends_with_lf = seen.ends_with_lf;
                    landed = seen.found;
                    if seen.others > 0 {
                        io.conflict = true;
                        return Ok(landed);
                    }
                }
                Some(_) => {}
            }
            io.own_verified = true;
        }
        let data = batch_data(
            !io.own_ends_with_lf,
            lines
                .iter()
                .zip(&landed)
                .filter(|(_, &l)| !l)
                .map(|(line, _)| *line),
        );
        if data.len() <= usize::from(!io.own_ends_with_lf) {
            return Ok(landed);
        }
        // A missing logs/ directory means the room was deleted: report it (NotFound) rather
        // than recreate a room without its header.
        match t.append(&io.own_log, &data) {
            Ok(()) => {
                io.own_len += data.len() as u64;
                io.own_ends_with_lf = true;
                Ok(vec![true; lines.len()])
            }
            Err(e) => {
                io.own_verified = false;
                Err(e)
            }
        }
    }

    /// Appends to the shared file and confirms each line by reading the new tail; lines
    /// the server lost come back `false`, so the caller appends them again.
    ///
    /// A file that ends mid-line gets a LF first (a blank line, which every FTPChat reader
    /// skips), unless the partial line is the start of one of our lines, left by an
    /// append of ours that a dropped connection tore: then the rest of that line completes
    /// it, so no undecodable fragment of ours stays in the file (FTPChat 1.7 readers stop
    /// at the first line they cannot decrypt).
    fn deliver_shared(
        t: &dyn Transport,
        io: &mut SharedIo,
        lines: &[&[u8]],
    ) -> Result<Vec<bool>, TransportError> {
        // An earlier append whose confirmation did not finish may have landed, in part or
        // whole: look before appending again, so no line is in the file twice (FTPChat
        // readers show every copy).
        let mut landed = match io.unconfirmed_from {
            Some(from) => confirm_lines(t, &io.file, from, lines)?.found,
            None => vec![false; lines.len()],
        };
        let pending: Vec<&[u8]> = lines
            .iter()
            .zip(&landed)
            .filter(|(_, &l)| !l)
            .map(|(line, _)| *line)
            .collect();
        if pending.is_empty() {
            io.unconfirmed_from = None;
            return Ok(landed);
        }
        let size0 = t.size(&io.file)?.unwrap_or(0);
        let clean = size0 == 0
            || (io.verified && io.reader.read_pos() == size0 && io.reader.pending_len() == 0);
        let tail = if clean {
            Tail::EndsWithLf { end: size0 }
        } else {
            file_tail(t, &io.file, size0, &pending)?
        };
        let (data, start) = match tail {
            Tail::EndsWithLf { end } => (batch_data(false, pending.iter().copied()), end),
            Tail::Partial { end } => (batch_data(true, pending.iter().copied()), end),
            Tail::OwnPrefix { line, start, len } => {
                // The lines before it were in the same torn append, so they are there.
                let mut data = pending[line][len..].to_vec();
                data.push(b'\n');
                data.extend(batch_data(false, pending[line + 1..].iter().copied()));
                (data, start)
            }
        };
        // Confirm from where the reader knows the file reached when that is earlier than
        // SIZE said: a server that overstates SIZE must not hide our own lines.
        let from = match io.reader.read_pos() {
            0 => start,
            seen => seen.min(start),
        };
        let from = io
            .unconfirmed_from
            .map_or(from, |earlier| earlier.min(from));
        io.unconfirmed_from = Some(from);
        let appended = t.append(&io.file, &data);
        io.verified = false;
        let found = confirm_lines(t, &io.file, from, lines)?.found;
        io.unconfirmed_from = None;
        for (l, f) in landed.iter_mut().zip(found) {
            *l |= f;
        }
        if landed.iter().any(|&l| l) {
            io.verified = true;
            return Ok(landed);
        }
        appended?;
        Ok(landed)
    }

    fn poll(&mut self, t: &dyn Transport, view: &Mutex<View>) -> Result<(), RoomError> {
        let mut events = Vec::new();
        let result = match &mut self.io {
            Io::Native(io) => Self::poll_native(t, io, &mut self.decoder, view, &mut events),
            Io::Shared(io) => {
                let (items, result) = Self::poll_shared(t, io, &mut self.decoder, &mut events);
                let file = io.file.clone();
                self.absorb_shared(items, &file, view, &mut events);
                result
            }
        };
        lock(view).events.extend(events);
        self.polled |= result.is_ok();
        result.map_err(RoomError::from)
    }

    fn poll_native(
        t: &dyn Transport,
        io: &mut NativeIo,
        decoder: &mut LineDecoder,
        view: &Mutex<View>,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError> {
        let entries = match t.list(&io.logs_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == TransportErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut ignored = 0usize;
        let mut seen_own = false;
        for entry in entries {
            let Some(writer) = log_writer(&entry.name) else {
                continue;
            };
            if entry.is_dir {
                continue;
            }
            if io.readers.len() >= MAX_LOGS && !io.readers.contains_key(&entry.name) {
                ignored += 1;
                continue;
            }
            let path = io.logs_dir.join(&entry.name)?;
            let size = match entry.size {
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
            let current = entry.name == io.own_name;
            seen_own |= current;
            if current && size != io.own_len {
                // Someone else appended to, truncated or replaced our log: check it
                // before our next append.
                io.own_verified = false;
            }
            let reader = io.readers.entry(entry.name.clone()).or_default();
            io.kept_tails -= reader.pending_len().min(io.kept_tails);
            let (items, result) = read_new(t, &path, size, reader, decoder, false, events);
            if io.kept_tails + reader.pending_len() > MAX_KEPT_TAILS {
                reader.park_tail(size);
            }
            io.kept_tails += reader.pending_len();
            let own = io.is_own(&entry.name);
            let restored = io.restored_max_seq.get(&entry.name).copied().unwrap_or(0);
            let max_seq = io.max_seq.entry(entry.name.clone()).or_default();
            let mut v = lock(view);
            for item in items {
                match item.result {
                    Ok(Record::Native(record)) if record.writer != writer => {
                        events.push(RoomEvent::ForeignRecord {
                            file: path.to_string(),
                            offset: item.offset,
                        })
                    }
                    // Accepted by an earlier run: a copy (after a restart the timeline
                    // does not hold the original to dedupe against).
                    Ok(Record::Native(record)) if record.seq <= restored => {
                        events.push(RoomEvent::ReplayedRecord {
                            file: path.to_string(),
                            offset: item.offset,
                        })
                    }
                    Ok(Record::Native(record)) => {
                        *max_seq = (*max_seq).max(record.seq);
                        v.observe(&record);
                        match &record.body {
                            RecordBody::Text(text) => {
                                let key = native_key(&record);
                                v.insert(key, native_message(&record, text.clone(), own));
                            }
                            // Not shown, but kept: a later record with its id is a copy.
                            RecordBody::Other { .. } => {
                                v.timeline.insert_hidden(MessageId(record.id.0));
                            }
                        }
                    }
                    Ok(_) => events.push(undecodable(
                        &path,
                        (item.offset, item.codec),
                        DecodeError::NotARecord,
                    )),
                    Err(error) => events.push(undecodable(&path, (item.offset, item.codec), error)),
                }
            }
            drop(v);
            match result {
                Ok(()) => {}
                // One log nobody may read (or that vanished) must not stop the room.
                Err(e) if !e.is_transient() => events.push(unreadable(&path, &e)),
                Err(e) => return Err(e),
            }
        }
        if !seen_own && io.own_len > 0 {
            io.own_verified = false; // deleted
        }
        if ignored > 0 && !io.too_many_logs_reported {
            io.too_many_logs_reported = true;
            events.push(RoomEvent::TooManyLogs { ignored });
        }
        Ok(())
    }

    fn poll_shared(
        t: &dyn Transport,
        io: &mut SharedIo,
        decoder: &mut LineDecoder,
        events: &mut Vec<RoomEvent>,
    ) -> (Vec<LineItem>, Result<(), TransportError>) {
        match t.size(&io.file) {
            Ok(Some(size)) => read_new(t, &io.file, size, &mut io.reader, decoder, true, events),
            Ok(None) => (Vec::new(), Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        }
    }

    fn absorb_shared(
        &mut self,
        items: Vec<LineItem>,
        file: &RemotePath,
        view: &Mutex<View>,
        events: &mut Vec<RoomEvent>,
    ) {
        let mut v = lock(view);
        for item in items {
            match item.result {
                Ok(Record::Compat { codec, .. })
                    if !codec.is_authenticated() && self.hide_unauthenticated =>
                {
                    events.push(RoomEvent::UnauthenticatedLine {
                        file: file.to_string(),
                        offset: item.offset,
                    })
                }
                Ok(Record::Compat {
                    codec,
                    message,
                    token_time,
                }) => {
                    if codec.is_authenticated() {
                        self.any_authenticated = true;
                    }
                    self.file_order += 1;
                    let key = SortKey::File {
                        pending: 0,
                        order: self.file_order,
                    };
                    v.insert(
                        key,
                        compat_message(item.line_id, codec, &message, token_time),
                    );
                }
                Err(DecodeError::WrongKeyOrTampered) if !self.any_authenticated => {
                    // Probably the password: one event, not one per line.
                    self.auth_failures += 1;
                }
                Ok(_) => events.push(undecodable(
                    file,
                    (item.offset, item.codec),
                    DecodeError::NotARecord,
                )),
                Err(error) => events.push(undecodable(file, (item.offset, item.codec), error)),
            }
        }
        if self.auth_failures > 0 && !self.any_authenticated && !self.wrong_password_reported {
            self.wrong_password_reported = true;
            events.push(RoomEvent::WrongPassword {
                failed_lines: self.auth_failures,
            });
        }
    }

    /// After a restart with saved read positions, brings what lies before them into the
    /// timeline (without returning it from `sync` as new).
    pub fn load_history(&mut self, t: &dyn Transport, view: &Mutex<View>) -> Result<(), RoomError> {
        if self.history_loaded {
            return Ok(());
        }
        let mut scratch_view_events = Vec::new();
        match &mut self.io {
            Io::Native(io) => {
                let names: Vec<(String, u64)> = io
                    .readers
                    .iter()
                    .map(|(n, r)| (n.clone(), r.committed()))
                    .collect();
                for (name, limit) in names {
                    let Some(writer) = log_writer(&name) else {
                        continue;
                    };
                    let path = io.logs_dir.join(&name)?;
                    let mut reader = FileReader::default();
                    let (items, result) = read_new(
                        t,
                        &path,
                        limit,
                        &mut reader,
                        &mut self.decoder,
                        false,
                        &mut scratch_view_events,
                    );
                    match result {
                        Ok(()) => {}
                        Err(e) if !e.is_transient() => continue,
                        // Incomplete: the next call tries again (the timeline dedupes).
                        Err(e) => return Err(e.into()),
                    }
                    let mut v = lock(view);
                    let own = io.is_own(&name);
                    for item in items.into_iter().filter(|i| i.offset < limit) {
                        let Ok(Record::Native(r)) = item.result else {
                            continue;
                        };
                        if r.writer != writer {
                            continue;
                        }
                        match &r.body {
                            RecordBody::Text(text) => {
                                let m = native_message(&r, text.clone(), own);
                                v.timeline.insert(native_key(&r), m);
                            }
                            RecordBody::Other { .. } => {
                                v.timeline.insert_hidden(MessageId(r.id.0));
                            }
                        }
                    }
                }
            }
            Io::Shared(io) => {
                let limit = io.reader.committed();
                let mut reader = FileReader::default();
                let (items, result) = read_new(
                    t,
                    &io.file,
                    limit,
                    &mut reader,
                    &mut self.decoder,
                    true,
                    &mut scratch_view_events,
                );
                result?;
                let mut v = lock(view);
                // History goes before everything read this session (whose order numbers
                // start at HISTORY_SLOTS when state was resumed).
                for (i, item) in items.into_iter().filter(|i| i.offset < limit).enumerate() {
                    if let Ok(Record::Compat {
                        codec,
                        message,
                        token_time,
                    }) = item.result
                    {
                        if !codec.is_authenticated() && self.hide_unauthenticated {
                            continue;
                        }
                        let key = SortKey::File {
                            pending: 0,
                            order: i as u64,
                        };
                        v.timeline.insert(
                            key,
                            compat_message(item.line_id, codec, &message, token_time),
                        );
                    }
                }
            }
        }
        self.history_loaded = true;
        Ok(())
    }

    /// Saves local state when it changed.
    pub fn persist(&mut self, view: &View) -> Result<(), RoomError> {
        let Some(file) = &self.state_file else {
            return Ok(());
        };
        let mut saved = SavedState {
            outbox: view.outbox.iter().chain(&view.held).cloned().collect(),
            header: self.header_text.clone(),
            ..Default::default()
        };
        match (&self.io, &view.sender) {
            (
                Io::Native(io),
                Sender::Native {
                    writer, seq, clock, ..
                },
            ) => {
                saved.writer = Some(*writer);
                saved.seq = *seq;
                saved.hlc = clock.last();
                saved.own_log_len = io.own_len;
                saved.own_log_ends_with_lf = io.own_ends_with_lf;
                for (name, reader) in &io.readers {
                    saved.cursors.insert(name.clone(), reader.state());
                }
                saved.max_seq = io.max_seq.iter().map(|(n, s)| (n.clone(), *s)).collect();
                saved.retired = io.retired.iter().filter_map(|n| log_writer(n)).collect();
            }
            (Io::Shared(io), _) => {
                saved.writer = WriterId::from_hex(&self.writer_tag);
                saved.cursors.insert(io.file.to_string(), io.reader.state());
                saved.key_check = self.key_check.clone();
            }
            _ => {}
        }
        let text = saved.encode();
        if text != self.last_saved {
            file.save(&saved).map_err(RoomError::LocalState)?;
            self.last_saved = text;
        }
        Ok(())
    }
}

fn unreadable(path: &RemotePath, e: &TransportError) -> RoomEvent {
    RoomEvent::UnreadableFile {
        file: path.to_string(),
        error: e.to_string(),
    }
}

/// The writer id a log file name belongs to (`<32 hex>.log`); other names are ignored.
fn log_writer(name: &str) -> Option<WriterId> {
    name.strip_suffix(".log").and_then(WriterId::from_hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_counts_whole_lines_only() {
        use crate::transport::memory::MemoryTransport;
        let t = MemoryTransport::new();
        let p = RemotePath::new("f").unwrap();
        t.append(&p, b"xxabc\nabc\r\ntorn-abc").unwrap();
        let lines: [&[u8]; 3] = [b"abc", b"xxabc", b"torn-abc"];
        let c = confirm_lines(&t, &p, 0, &lines).unwrap();
        assert_eq!(c.found, [true, true, false]); // the last line is incomplete
        assert_eq!((c.end, c.ends_with_lf), (19, false));
        // From offset 2 the first segment continues an earlier line: not a line of its own.
        let c = confirm_lines(&t, &p, 2, &[b"abc"]).unwrap();
        assert_eq!(c.found, [true]); // (found at offset 6)
        let c = confirm_lines(&t, &p, 2, &[b"xxabc"]).unwrap();
        assert_eq!(c.found, [false]);
        let c = confirm_lines(&t, &p, 7, &[b"bc"]).unwrap();
        assert_eq!(c.found, [false]);
        assert_eq!(batch_data(true, [&b"a"[..], b"b"].into_iter()), b"\na\nb\n");
    }

    /// Thousands of logs that end in incomplete lines just under the per-log limit: the
    /// room keeps at most MAX_KEPT_TAILS of them (plus the one read last).
    #[test]
    fn kept_tails_stay_within_the_room_budget() {
        use crate::transport::memory::MemoryTransport;
        let t = MemoryTransport::new();
        let config = RoomConfig::native("r", "bob", "pw").with_native_iterations(1_000);
        let (mut engine, view) = open(&t, &config).unwrap();
        let view = Mutex::new(view);
        let tail = vec![b'x'; 15 * 1024];
        for i in 0..1_000u64 {
            let mut id = [0x66u8; 16];
            id[..8].copy_from_slice(&i.to_be_bytes());
            let path = RemotePath::new(&format!("r/logs/{}.log", WriterId(id).to_hex())).unwrap();
            t.append(&path, &tail).unwrap();
        }
        engine.sync(&t, &view).unwrap();
        let Io::Native(io) = &engine.io else {
            unreachable!()
        };
        let kept: u64 = io.readers.values().map(FileReader::pending_len).sum();
        assert!(kept <= MAX_KEPT_TAILS, "{kept} bytes of tails kept");
        assert_eq!(kept, io.kept_tails);
        assert!(kept > MAX_KEPT_TAILS / 2, "the budget is used: {kept}");
    }

    #[test]
    fn local_timestamps() {
        let ts = local_timestamp(1_764_873_000_000, 3600);
        assert_eq!(ts.to_string(), "2025-12-04 19:30");
    }
}
