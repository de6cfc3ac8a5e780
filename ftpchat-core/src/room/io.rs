//! The driver's side of the engine: the I/O that the layouts' decisions ask for. Reads
//! stream through sinks that frame and decode as bytes arrive (a large file never sits in
//! memory whole), and [`drive`] performs a [`Delivery`]'s steps on a transport.

use std::collections::HashMap;
use std::io::Write;

use super::decide::{Confirmation, Delivery, Observed, Step};
use super::RoomEvent;
use crate::format::{Codec, DecodeError, Frame, LineDecoder, LineFramer, Record};
use crate::timeline::{FileReader, MessageId, ReadPlan};
use crate::transport::{RemotePath, Transport, TransportError};

/// One decoded line with where it came from.
pub(crate) struct LineItem {
    pub offset: u64,
    pub line_id: MessageId,
    /// The codec the line's first bytes announce (for explaining failures).
    pub codec: Option<Codec>,
    pub result: Result<Record, DecodeError>,
    /// The line's bytes when it is a signed line whose epoch key the reader lacks: a
    /// member room decodes it again once it read that epoch's commit, and follows its
    /// log's chain past it by its hash.
    pub raw: Option<Vec<u8>>,
}

pub(crate) fn undecodable(
    file: &RemotePath,
    item: (u64, Option<Codec>),
    error: DecodeError,
) -> RoomEvent {
    RoomEvent::UndecodableLine {
        file: file.to_string(),
        offset: item.0,
        codec: item.1,
        error,
    }
}

/// Lines a streamed read hands on at once: a large file is absorbed a batch at a time,
/// never decoded whole (a 250 MB log would otherwise be one Vec of decoded records).
const READ_BATCH_LINES: usize = 1024;
/// ... or fewer, once their lines hold this many bytes.
const READ_BATCH_BYTES: usize = 1 << 20;

/// What a streamed read hands its caller, in file order.
pub(crate) enum ReadOutput {
    /// Decoded lines, at most a batch ([`READ_BATCH_LINES`], [`READ_BATCH_BYTES`]).
    Lines(Vec<LineItem>),
    /// Something the read found about the file (it was replaced).
    Event(RoomEvent),
}

/// A `Write` sink that frames and decodes as bytes arrive and hands the lines on in
/// batches, so a large file never sits in memory whole, as bytes or as records.
struct DecodingSink<'a> {
    reader: &'a mut FileReader,
    decoder: &'a mut LineDecoder,
    items: Vec<LineItem>,
    item_bytes: usize,
    replaced: bool,
    hash_lines: bool,
    out: &'a mut dyn FnMut(ReadOutput),
}

impl DecodingSink<'_> {
    /// Frames and decodes `buf` into `items`.
    fn push(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let (decoder, items, hash) = (&mut *self.decoder, &mut self.items, self.hash_lines);
        let item_bytes = &mut self.item_bytes;
        let pushed = self.reader.push(buf, |frame| match frame {
            Frame::Line { offset, bytes } => {
                *item_bytes += bytes.len();
                let result = decoder.decode_line(bytes);
                let line_id = match (&result, hash) {
                    (Ok(Record::Compat { codec, message, .. }), true) => {
                        MessageId::of_compat(*codec, bytes, message)
                    }
                    _ => MessageId([0; 16]),
                };
                let raw =
                    matches!(result, Err(DecodeError::NoEpochKey { .. })).then(|| bytes.to_vec());
                items.push(LineItem {
                    offset,
                    line_id,
                    codec: crate::format::detect(bytes),
                    result,
                    raw,
                })
            }
            Frame::TooLong { offset, .. } => items.push(LineItem {
                offset,
                line_id: MessageId([0; 16]),
                codec: None,
                result: Err(DecodeError::LineTooLong),
                raw: None,
            }),
        });
        pushed.map_err(|_| {
            self.replaced = true;
            std::io::Error::other("file was replaced")
        })
    }

    fn hand_on(&mut self) {
        if !self.items.is_empty() {
            self.item_bytes = 0;
            (self.out)(ReadOutput::Lines(std::mem::take(&mut self.items)));
        }
    }
}

impl Write for DecodingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A transport may hand over a whole file in one call (the memory transport does):
        // frame it a piece at a time so the batches stay small.
        for piece in buf.chunks(READ_BATCH_BYTES / 4) {
            self.push(piece)?;
            if self.items.len() >= READ_BATCH_LINES || self.item_bytes >= READ_BATCH_BYTES {
                self.hand_on();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads what is new in one file and hands its decoded lines to `out` in batches as they
/// arrive, also those that arrived before a transfer failed (the reader has moved past
/// them, so the caller must use them even with the error; the next read resumes after).
/// A replaced file is re-read from the start (the timeline drops what it already has).
pub(crate) fn read_new(
    t: &dyn Transport,
    path: &RemotePath,
    size: u64,
    reader: &mut FileReader,
    decoder: &mut LineDecoder,
    hash_lines: bool,
    out: &mut dyn FnMut(ReadOutput),
) -> Result<(), TransportError> {
    for _ in 0..2 {
        let offset = match reader.plan(size) {
            ReadPlan::UpToDate => return Ok(()),
            ReadPlan::Restart => {
                out(ReadOutput::Event(RoomEvent::FileReplaced {
                    file: path.to_string(),
                }));
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
            item_bytes: 0,
            replaced: false,
            hash_lines,
            out: &mut *out,
        };
        let result = t.read_from(path, offset, &mut sink);
        sink.hand_on();
        let replaced = sink.replaced;
        reader.end_read();
        if replaced {
            out(ReadOutput::Event(RoomEvent::FileReplaced {
                file: path.to_string(),
            }));
            reader.reset();
            continue;
        }
        if result.is_ok() {
            reader.park_long_tail(size);
        }
        return result.map(|_| ());
    }
    Ok(())
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
                    // A record this batch does not hold, password room or member room
                    // (the torn start of one of ours aside): another writer's, or an
                    // earlier run's whose state this one does not have.
                    None if is_record_line(bytes)
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

/// `true` for a native record line of either version (`ftc2:` password room, `ftc3:`
/// member room).
fn is_record_line(bytes: &[u8]) -> bool {
    bytes.starts_with(crate::format::native::NATIVE_PREFIX)
        || bytes.starts_with(crate::format::signed::SIGNED_PREFIX)
}

/// Reads `path` from `from` to its end and reports which of `lines` are there.
pub(crate) fn confirm_lines(
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

/// Performs `delivery`'s steps on `t` until it is done; `lines` are the batch's lines
/// (what a confirmation looks for).
pub(crate) fn drive(
    t: &dyn Transport,
    lines: &[&[u8]],
    delivery: &mut dyn Delivery,
) -> Result<Vec<bool>, TransportError> {
    loop {
        let outcome = match delivery.next() {
            Step::Done(result) => return result,
            Step::Size(path) => t.size(&path).map(Observed::Size),
            Step::Confirm { path, from } => {
                confirm_lines(t, &path, from, lines).map(Observed::Confirmed)
            }
            Step::ReadTail { path, from } => {
                let mut bytes = Vec::new();
                t.read_from(&path, from, &mut bytes)
                    .map(|_| Observed::Tail { from, bytes })
            }
            Step::Append { path, data } => t.append(&path, &data).map(|()| Observed::Appended),
        };
        delivery.observe(outcome);
    }
}

pub(crate) fn unreadable(path: &RemotePath, e: &TransportError) -> RoomEvent {
    RoomEvent::UnreadableFile {
        file: path.to_string(),
        error: e.to_string(),
    }
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
    }
}
