//! The shared-file layout: FTPChat's single chat file, one line per message, appended by
//! every client; each append is confirmed by reading the new tail, and an optional lock
//! serialises writers for servers whose `APPE` is not atomic (SPEC §5, §9.1).

use std::sync::Mutex;

use super::{derive, Layout, Opened, Writer};
use crate::crypto::FernetKey;
use crate::format::{
    Codec, CompatMessage, DecodeError, Keyring, LineDecoder, LineEncoder, Record, WriterId,
};
use crate::room::config::{Clock, RoomConfig, WriteCodec};
use crate::room::decide::{batch_data, Delivery, Observed, Step, Tail};
use crate::room::io::{drive, read_new, undecodable, LineItem, ReadOutput};
use crate::room::lock::FileLock;
use crate::room::state::{key_check, Outgoing, SavedState};
use crate::room::view::{compat_message, local_timestamp, View};
use crate::room::{lock, RoomError, RoomEvent};
use crate::timeline::{FileReader, Message, MessageId, MessageStatus, SortKey};
use crate::transport::{RemotePath, Transport, TransportError, TransportErrorKind};

/// Order numbers below this are reserved for history loaded after a restart.
const HISTORY_SLOTS: u64 = 1 << 48;

/// Encodes this client's lines in the room's codec (FTPChat 1.5, 1.6 or 1.7).
pub(crate) struct SharedWriter {
    codec: WriteCodec,
    key: Option<FernetKey>,
    /// Order of own lines not yet read back at their place in the file.
    pending_order: u64,
}

impl Writer for SharedWriter {
    fn encode(
        &mut self,
        text: &str,
        name: &str,
        now_ms: u64,
        offset_secs: i32,
        encoder: &mut LineEncoder,
    ) -> Result<(Outgoing, Message), RoomError> {
        let local = local_timestamp(now_ms, offset_secs);
        let mut body = text.to_owned();
        // The 1.5 and 1.6 GUIs end every message with a newline (their readers expect
        // it); 1.7 strips trailing white space from the whole plaintext.
        if self.codec != WriteCodec::Fernet17 && !body.ends_with('\n') {
            body.push('\n');
        }
        let mut compat = CompatMessage::new(local, name.to_owned(), body)?;
        let line = match (self.codec, self.key.as_ref()) {
            (WriteCodec::Fernet16, Some(k)) => encoder.fernet16(&compat, k, now_ms / 1000),
            (WriteCodec::Fernet17, Some(k)) => {
                // Show what readers will see: the stripped text.
                compat = CompatMessage::parse(&compat.to_plaintext_17());
                encoder.fernet17(&compat, k, now_ms / 1000)
            }
            // `open` refuses keyed codecs without a key.
            _ => encoder.legacy15(&compat),
        };
        self.pending_order += 1;
        let codec = self.codec.codec();
        let id = MessageId::of_compat(codec, line.as_bytes(), &compat);
        let mut message = compat_message(id, codec, &compat, None);
        message.status = MessageStatus::Pending;
        message.is_own = true;
        let key = SortKey::File {
            pending: 1,
            order: self.pending_order,
        };
        Ok((Outgoing { id, key, line }, message))
    }

    fn restore(&mut self, out: &Outgoing) {
        if let SortKey::File { order, .. } = out.key {
            self.pending_order = self.pending_order.max(order);
        }
    }
}

/// The shared file as this client knows it.
#[derive(Debug)]
struct SharedFile {
    path: RemotePath,
    /// Where the confirmation of an append that may have landed must start, while it has
    /// not been done or did not find every line (one torn just before its LF becomes
    /// whole when another writer appends after it).
    unconfirmed_from: Option<u64>,
    /// The file ended where the reader stopped after our last confirmed append.
    verified: bool,
}

/// Reading and appending to FTPChat's shared chat file.
pub(crate) struct SharedLayout {
    file: SharedFile,
    /// The codec this client writes.
    codec: Codec,
    reader: FileReader,
    lock: Option<FileLock>,
    /// Identifies this client in the lock file.
    writer_tag: String,
    /// Arrival counter for the file's order.
    file_order: u64,
    any_authenticated: bool,
    auth_failures: u64,
    wrong_password_reported: bool,
    /// Keyless (FTPChat 1.5) lines are reported, not shown: the room writes 1.6 or 1.7.
    hide_unauthenticated: bool,
    /// A poll has completed in this run.
    polled: bool,
    /// The fingerprint of the key, saved with the read position.
    key_check: Option<String>,
}

impl SharedLayout {
    /// Opens the shared file `file` written with `codec`; no I/O (the file may not exist
    /// yet).
    pub fn open(
        file: &str,
        codec: WriteCodec,
        with_lock: bool,
        config: &RoomConfig,
        saved: SavedState,
    ) -> Result<Opened<Self>, RoomError> {
        let path = RemotePath::new(file)?;
        let key = derive(&config.credentials, &config.compat_kdf);
        let authenticated = codec.codec().is_authenticated();
        if authenticated && key.is_none() {
            return Err(RoomError::InvalidConfig(format!(
                "{} rooms need a password or key",
                codec.codec()
            )));
        }
        if codec == WriteCodec::Legacy15 {
            // Refuse a name 1.5 cannot carry now, not at the first send.
            CompatMessage::new(local_timestamp(0, 0), config.display_name.clone(), "")?;
        }
        let key_check = key.as_ref().map(key_check);
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
        let history_loaded = saved.cursors.is_empty() || !same_key;
        let lock = with_lock
            .then(|| FileLock::new(&path, config.lock_ttl, config.lock_wait))
            .transpose()?;
        // Unsent messages saved by an earlier run may have landed before it ended (killed
        // between the append and the save): look for them from the saved read position
        // (they were appended after it) before appending again.
        let unconfirmed_from = (!saved.outbox.is_empty()).then(|| reader.committed());
        let layout = SharedLayout {
            file: SharedFile {
                path,
                unconfirmed_from,
                verified: false,
            },
            codec: codec.codec(),
            reader,
            lock,
            writer_tag: saved.writer.unwrap_or_else(WriterId::random).to_hex(),
            // After what an earlier run stored (a local store keeps the keys of every run).
            file_order: if history_loaded { 0 } else { HISTORY_SLOTS }
                .max(saved.file_order_floor.unwrap_or(0)),
            any_authenticated: false,
            auth_failures: 0,
            wrong_password_reported: false,
            hide_unauthenticated: authenticated && !config.show_unauthenticated,
            polled: false,
            key_check,
        };
        Ok(Opened {
            layout,
            writer: SharedWriter {
                codec,
                key: key.clone(),
                pending_order: 0,
            },
            keys: Keyring {
                fernet: key,
                native: None,
            },
            epochs: None,
            saved,
            history_loaded,
            events: Vec::new(),
        })
    }

    /// Takes the lines read from the file into the view.
    fn absorb(&mut self, items: Vec<LineItem>, view: &mut View<SharedWriter>) {
        let file = &self.file.path;
        for item in items {
            let at = (item.offset, item.codec);
            match item.result {
                Ok(Record::Compat { codec, .. })
                    if !codec.is_authenticated() && self.hide_unauthenticated =>
                {
                    view.events.push(RoomEvent::UnauthenticatedLine {
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
                    let message = compat_message(item.line_id, codec, &message, token_time);
                    view.insert(key, message);
                }
                Err(DecodeError::WrongKeyOrTampered) if !self.any_authenticated => {
                    // Probably the password: one event, not one per line.
                    self.auth_failures += 1;
                }
                Ok(_) => view
                    .events
                    .push(undecodable(file, at, DecodeError::NotARecord)),
                Err(error) => view.events.push(undecodable(file, at, error)),
            }
        }
    }

    /// After a read: one event when no line decoded, probably for a wrong password.
    fn report_wrong_password(&mut self, view: &mut View<SharedWriter>) {
        if self.auth_failures > 0 && !self.any_authenticated && !self.wrong_password_reported {
            self.wrong_password_reported = true;
            view.events.push(RoomEvent::WrongPassword {
                failed_lines: self.auth_failures,
            });
        }
    }
}

impl Layout for SharedLayout {
    type Writer = SharedWriter;
    /// About one TCP segment, so a dropped connection almost never tears a line in a file
    /// that other clients' readers must decode line by line.
    const MAX_BATCH_BYTES: usize = 1200;
    const CONFIRMED_ON_DELIVERY: bool = false;

    fn must_read_first(&self) -> bool {
        self.codec.is_authenticated() && !self.polled
    }

    fn write_refusal(&self) -> Option<RoomError> {
        // A line under the wrong key would stop every FTPChat 1.7 reader for good. (An
        // empty file proves nothing wrong.)
        let wrong_key =
            self.codec.is_authenticated() && self.auth_failures > 0 && !self.any_authenticated;
        wrong_key.then_some(RoomError::WrongPassword)
    }

    fn deliver(
        &mut self,
        t: &dyn Transport,
        clock: &dyn Clock,
        lines: &[&[u8]],
        events: &mut Vec<RoomEvent>,
    ) -> Result<Vec<bool>, RoomError> {
        let reader = (self.reader.read_pos(), self.reader.pending_len());
        let Some(l) = self.lock.clone() else {
            let mut delivery = SharedDelivery::new(&mut self.file, reader, lines);
            return Ok(drive(t, lines, &mut delivery)?);
        };
        let held = l.acquire(t, clock, &self.writer_tag, events)?;
        // Appends only within the lock's lifetime (others may break it after).
        let mut delivery = SharedDelivery::new(&mut self.file, reader, lines);
        let result = drive(&held.guard(t, clock), lines, &mut delivery);
        // Removes only our own lock; a failed release expires with its lifetime.
        let _ = l.release(t, &held);
        Ok(result?)
    }

    fn poll(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<SharedWriter>>,
        events: &mut Vec<RoomEvent>,
    ) -> Result<(), TransportError> {
        // Out of `self` while the read hands its batches to `absorb`.
        let mut reader = std::mem::take(&mut self.reader);
        let path = self.file.path.clone();
        let result =
            match t.size(&path) {
                Ok(Some(size)) => read_new(
                    t,
                    &path,
                    size,
                    &mut reader,
                    decoder,
                    true,
                    &mut |out| match out {
                        ReadOutput::Lines(items) => self.absorb(items, &mut lock(view)),
                        ReadOutput::Event(e) => events.push(e),
                    },
                ),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
        self.reader = reader;
        self.report_wrong_password(&mut lock(view));
        self.polled |= result.is_ok();
        result
    }

    fn load_history(
        &mut self,
        t: &dyn Transport,
        decoder: &mut LineDecoder,
        view: &Mutex<View<SharedWriter>>,
    ) -> Result<(), RoomError> {
        let limit = self.reader.committed();
        let mut reader = FileReader::default();
        let path = self.file.path.clone();
        let mut read = 0u64;
        let result = read_new(t, &path, limit, &mut reader, decoder, true, &mut |out| {
            let ReadOutput::Lines(items) = out else {
                return; // problems before the read position were reported when first read
            };
            let mut v = lock(view);
            // History goes before everything read this session (whose order numbers start
            // at HISTORY_SLOTS when state was resumed).
            for item in items.into_iter().filter(|i| i.offset < limit) {
                let order = read;
                read += 1;
                if let Ok(Record::Compat {
                    codec,
                    message,
                    token_time,
                }) = item.result
                {
                    if !codec.is_authenticated() && self.hide_unauthenticated {
                        continue;
                    }
                    let key = SortKey::File { pending: 0, order };
                    let message = compat_message(item.line_id, codec, &message, token_time);
                    v.timeline.insert(key, message);
                }
            }
        });
        result?;
        Ok(())
    }

    fn save(&self, _view: &View<SharedWriter>, saved: &mut SavedState) {
        saved.writer = WriterId::from_hex(&self.writer_tag);
        saved
            .cursors
            .insert(self.file.path.to_string(), self.reader.state());
        saved.key_check = self.key_check.clone();
    }
}

/// What the shared-file delivery waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SharedWait {
    /// The read-back of an earlier append whose confirmation did not finish.
    EarlierConfirm,
    Size,
    Tail,
    Append,
    Confirm,
    Nothing,
}

/// Appending a batch to the shared file and confirming each line by reading the new
/// tail, as a state machine; lines the server lost come back `false`, so the engine
/// appends them again.
///
/// An earlier append whose confirmation did not finish may have landed, in part or whole:
/// it is looked for first, so no line is in the file twice (FTPChat readers show every
/// copy). A file that ends mid-line gets a LF first (a blank line, which every FTPChat
/// reader skips), unless the partial line is the start of one of our lines, left by an
/// append of ours that a dropped connection tore: then the rest of that line completes
/// it, so no undecodable fragment of ours stays in the file (FTPChat 1.7 readers stop at
/// the first line they cannot decrypt). That rest goes alone, and the lines after it only
/// once it is confirmed whole: another writer's append can land between the torn start
/// and its rest, and the later lines, had they gone with the rest, would then be in the
/// file before the line that is appended again, out of the order they were sent in.
struct SharedDelivery<'a> {
    file: &'a mut SharedFile,
    /// The reader's position and incomplete tail length.
    reader: (u64, u64),
    lines: &'a [&'a [u8]],
    landed: Vec<bool>,
    /// Where the confirmation of this append starts.
    from: u64,
    appended: Option<Result<(), TransportError>>,
    /// The index in `lines` of the torn line the append in flight completes.
    completing: Option<usize>,
    waiting: SharedWait,
    next: Option<Step>,
}

impl<'a> SharedDelivery<'a> {
    fn new(file: &'a mut SharedFile, reader: (u64, u64), lines: &'a [&'a [u8]]) -> Self {
        let mut d = SharedDelivery {
            landed: vec![false; lines.len()],
            file,
            reader,
            lines,
            from: 0,
            appended: None,
            completing: None,
            waiting: SharedWait::Nothing,
            next: None,
        };
        match d.file.unconfirmed_from {
            Some(from) => d.ask(SharedWait::EarlierConfirm, d.confirm_step(from)),
            None => d.size_or_done(),
        }
        d
    }

    fn ask(&mut self, waiting: SharedWait, step: Step) {
        self.waiting = waiting;
        self.next = Some(step);
    }

    fn confirm_step(&self, from: u64) -> Step {
        Step::Confirm {
            path: self.file.path.clone(),
            from,
        }
    }

    fn finish(&mut self, result: Result<Vec<bool>, TransportError>) {
        self.ask(SharedWait::Nothing, Step::Done(result));
    }

    fn pending(&self) -> Vec<&'a [u8]> {
        let lines: &'a [&'a [u8]] = self.lines;
        lines
            .iter()
            .zip(&self.landed)
            .filter(|(_, &l)| !l)
            .map(|(line, _)| *line)
            .collect()
    }

    fn size_or_done(&mut self) {
        if self.pending().is_empty() {
            self.file.unconfirmed_from = None;
            let landed = self.landed.clone();
            return self.finish(Ok(landed));
        }
        let step = Step::Size(self.file.path.clone());
        self.ask(SharedWait::Size, step);
    }

    fn plan_append(&mut self, tail: Tail) {
        let pending = self.pending();
        let (data, start) = match tail {
            Tail::EndsWithLf { end } => (batch_data(false, pending.iter().copied()), end),
            Tail::Partial { end } => (batch_data(true, pending.iter().copied()), end),
            Tail::OwnPrefix { line, start, len } => {
                // The lines before it were in the same torn append, so they are there (the
                // confirmation checks). Only its rest now; the lines after it next.
                let mut data = pending[line][len..].to_vec();
                data.push(b'\n');
                self.completing = self
                    .landed
                    .iter()
                    .enumerate()
                    .filter(|(_, &landed)| !landed)
                    .nth(line)
                    .map(|(i, _)| i);
                (data, start)
            }
        };
        // Confirm from where the reader knows the file reached when that is earlier than
        // SIZE said: a server that overstates SIZE must not hide our own lines.
        let from = match self.reader.0 {
            0 => start,
            seen => seen.min(start),
        };
        self.from = self.file.unconfirmed_from.map_or(from, |e| e.min(from));
        self.file.unconfirmed_from = Some(self.from);
        let step = Step::Append {
            path: self.file.path.clone(),
            data,
        };
        self.ask(SharedWait::Append, step);
    }
}

impl Delivery for SharedDelivery<'_> {
    fn next(&mut self) -> Step {
        self.next
            .take()
            .unwrap_or_else(|| Step::Done(Ok(self.landed.clone())))
    }

    fn observe(&mut self, outcome: Result<Observed, TransportError>) {
        match (self.waiting, outcome) {
            // Whether or not the append failed, it may have landed: read back.
            (SharedWait::Append, outcome) => {
                self.appended = Some(outcome.map(|_| ()));
                self.file.verified = false;
                let step = self.confirm_step(self.from);
                self.ask(SharedWait::Confirm, step);
            }
            // No file (yet): nothing an earlier attempt or run appended landed in it.
            (SharedWait::EarlierConfirm, Err(e)) if e.kind() == TransportErrorKind::NotFound => {
                self.size_or_done();
            }
            // Lines already confirmed (a completed torn line, an earlier append's) count as
            // delivered: reported as an error, they would be looked for next time from
            // where that delivery's append starts, which may be after them, and sent twice.
            // What is in flight stays to be confirmed (`unconfirmed_from`).
            (_, Err(_)) if self.landed.iter().any(|&l| l) => {
                let landed = self.landed.clone();
                self.finish(Ok(landed));
            }
            (_, Err(e)) => self.finish(Err(e)),
            (SharedWait::EarlierConfirm, Ok(Observed::Confirmed(c))) => {
                self.landed = c.found;
                self.size_or_done();
            }
            (SharedWait::Size, Ok(Observed::Size(size))) => {
                let size = size.unwrap_or(0);
                let (read_pos, pending_len) = self.reader;
                let clean =
                    size == 0 || (self.file.verified && read_pos == size && pending_len == 0);
                if clean {
                    return self.plan_append(Tail::EndsWithLf { end: size });
                }
                let from = Tail::read_from(size, &self.pending());
                let step = Step::ReadTail {
                    path: self.file.path.clone(),
                    from,
                };
                self.ask(SharedWait::Tail, step);
            }
            (SharedWait::Tail, Ok(Observed::Tail { from, bytes })) => {
                let tail = Tail::classify(from, &bytes, &self.pending());
                self.plan_append(tail);
            }
            (SharedWait::Confirm, Ok(Observed::Confirmed(c))) => {
                for (l, f) in self.landed.iter_mut().zip(c.found) {
                    *l |= f;
                }
                // A line of ours torn just before its LF becomes whole when another writer
                // appends after it with a leading LF: until every line is found, the next
                // delivery looks again from here before appending, or it would be there twice.
                self.file.unconfirmed_from = (!self.landed.iter().all(|&l| l)).then_some(self.from);
                if self.landed.iter().any(|&l| l) {
                    self.file.verified = true;
                } else if let Some(Err(e)) = self.appended.take() {
                    return self.finish(Err(e));
                }
                if self.completing.take().is_some_and(|i| self.landed[i]) {
                    // The torn line is whole: now the lines after it.
                    return self.size_or_done();
                }
                let landed = self.landed.clone();
                self.finish(Ok(landed));
            }
            (waiting, Ok(other)) => self.finish(Err(TransportError::new(
                TransportErrorKind::Permanent,
                "deliver",
                format!("internal: {other:?} while waiting for {waiting:?}"),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::decide::Confirmation;

    fn file(unconfirmed_from: Option<u64>, verified: bool) -> SharedFile {
        SharedFile {
            path: RemotePath::new("chat.txt").unwrap(),
            unconfirmed_from,
            verified,
        }
    }

    fn confirmed(found: &[bool], end: u64) -> Result<Observed, TransportError> {
        Ok(Observed::Confirmed(Confirmation {
            found: found.to_vec(),
            end,
            ends_with_lf: true,
            others: 0,
        }))
    }

    fn cut() -> TransportError {
        TransportError::new(TransportErrorKind::Transient, "append", "cut")
    }

    /// The next step, which must be a tail read: where it reads from.
    fn tail_read(d: &mut SharedDelivery<'_>) -> u64 {
        let Step::ReadTail { from, .. } = d.next() else {
            panic!("expected a tail read")
        };
        from
    }

    /// The next step, which must be an append: its data.
    fn append_data(d: &mut SharedDelivery<'_>) -> Vec<u8> {
        let Step::Append { data, .. } = d.next() else {
            panic!("expected an append")
        };
        data
    }

    const TORN: [&[u8]; 2] = [b"gAAAA-one", b"gAAAA-two"];

    /// A delivery of [`TORN`] to a file (read up to 90) that ends in "gAAAA-o", the torn
    /// start of the first line, up to the append that completes it.
    fn completing_the_first_line(f: &mut SharedFile) -> SharedDelivery<'_> {
        let mut d = SharedDelivery::new(f, (90, 0), &TORN);
        assert!(matches!(d.next(), Step::Size(_)));
        d.observe(Ok(Observed::Size(Some(97))));
        let from = tail_read(&mut d);
        assert_eq!(from, 87);
        d.observe(Ok(Observed::Tail {
            from,
            bytes: b"xx\ngAAAA-o".to_vec(),
        }));
        // The rest of the torn line alone.
        assert_eq!(append_data(&mut d), b"ne\n");
        d
    }

    #[test]
    fn an_own_torn_line_is_completed_and_the_append_confirmed_even_when_it_reported_an_error() {
        let mut f = file(None, false);
        let mut d = completing_the_first_line(&mut f);
        d.observe(Err(cut()));
        // Confirmed from where our torn line starts.
        assert!(matches!(d.next(), Step::Confirm { from: 90, .. }));
        d.observe(confirmed(&[true, false], 100));
        // Whole: the next line follows it.
        assert!(matches!(d.next(), Step::Size(_)));
        d.observe(Ok(Observed::Size(Some(100))));
        let from = tail_read(&mut d);
        d.observe(Ok(Observed::Tail {
            from,
            bytes: b"gAAAA-one\n".to_vec(),
        }));
        assert_eq!(append_data(&mut d), b"gAAAA-two\n");
        d.observe(Ok(Observed::Appended));
        assert!(matches!(d.next(), Step::Confirm { from: 90, .. }));
        d.observe(confirmed(&[true, true], 110));
        assert!(matches!(d.next(), Step::Done(Ok(l)) if l == [true, true]));
        assert_eq!((f.unconfirmed_from, f.verified), (None, true));
    }

    #[test]
    fn a_failure_after_a_completed_torn_line_still_reports_it_delivered() {
        let mut f = file(None, false);
        let mut d = completing_the_first_line(&mut f);
        d.observe(Ok(Observed::Appended));
        d.next();
        d.observe(confirmed(&[true, false], 100));
        assert!(matches!(d.next(), Step::Size(_)));
        d.observe(Err(cut()));
        // The first line is delivered; the second is looked for from the torn line next time.
        assert!(matches!(d.next(), Step::Done(Ok(l)) if l == [true, false]));
        assert_eq!(f.unconfirmed_from, Some(90));
    }

    #[test]
    fn a_torn_line_whose_rest_did_not_make_it_whole_ends_the_delivery_with_nothing_after_it() {
        let mut f = file(None, false);
        let mut d = completing_the_first_line(&mut f);
        d.observe(Ok(Observed::Appended));
        d.next();
        // Another writer's line came between the torn start and its rest.
        d.observe(confirmed(&[false, false], 120));
        assert!(matches!(d.next(), Step::Done(Ok(l)) if l == [false, false]));
        assert_eq!(f.unconfirmed_from, Some(90), "looked for again next time");
    }

    #[test]
    fn an_unfinished_confirmation_is_done_before_appending_again() {
        let mut f = file(Some(40), false);
        let lines: [&[u8]; 2] = [b"one", b"two"];
        let mut d = SharedDelivery::new(&mut f, (40, 0), &lines);
        assert!(matches!(d.next(), Step::Confirm { from: 40, .. }));
        d.observe(confirmed(&[true, false], 48));
        assert!(matches!(d.next(), Step::Size(_)));
        d.observe(Ok(Observed::Size(Some(48))));
        // Not known to be clean: the tail is read, it ends with LF.
        let from = tail_read(&mut d);
        d.observe(Ok(Observed::Tail {
            from,
            bytes: b"one\n".to_vec(),
        }));
        assert_eq!(append_data(&mut d), b"two\n");
        d.observe(Ok(Observed::Appended));
        assert!(matches!(d.next(), Step::Confirm { from: 40, .. }));
        d.observe(confirmed(&[false, true], 52));
        assert!(matches!(d.next(), Step::Done(Ok(l)) if l == [true, true]));
    }

    #[test]
    fn a_lost_append_reports_its_error_and_keeps_the_confirmation_pending_on_a_failed_read() {
        let mut f = file(None, true);
        let lines: [&[u8]; 1] = [b"one"];
        let mut d = SharedDelivery::new(&mut f, (10, 0), &lines);
        d.next();
        d.observe(Ok(Observed::Size(Some(10))));
        // Verified and read to the end: clean, no tail read.
        assert!(matches!(d.next(), Step::Append { .. }));
        d.observe(Err(cut()));
        assert!(matches!(d.next(), Step::Confirm { from: 10, .. }));
        d.observe(confirmed(&[false], 10));
        assert!(matches!(d.next(), Step::Done(Err(_))));

        let mut f = file(None, true);
        let mut d = SharedDelivery::new(&mut f, (10, 0), &lines);
        d.next();
        d.observe(Ok(Observed::Size(Some(10))));
        d.next();
        d.observe(Ok(Observed::Appended));
        d.next();
        d.observe(Err(cut()));
        assert!(matches!(d.next(), Step::Done(Err(_))));
        assert_eq!(f.unconfirmed_from, Some(10));
    }
}
