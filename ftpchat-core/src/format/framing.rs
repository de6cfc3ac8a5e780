//! Framing: a chat file is bytes; a record is a line ending in LF.
//!
//! A CR right before the LF is dropped (Windows writers), empty lines are skipped, a line
//! longer than the limit is reported and skipped without being buffered, and bytes after
//! the last LF are an incomplete line (perhaps still being written) that is not a record
//! yet. The framer is incremental: feeding a file in any split gives the same frames as
//! feeding it whole.

/// The longest line accepted, in bytes, excluding the CR/LF (SPEC.md, "Framing").
pub const MAX_LINE_LEN: usize = 256 * 1024;

/// One complete line found by a [`LineFramer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A non-empty line, without its CR/LF.
    Line {
        /// Byte offset of the line's first byte in the file.
        offset: u64,
        /// The line's bytes.
        bytes: &'a [u8],
    },
    /// A line longer than the limit; its bytes were not kept.
    TooLong {
        /// Byte offset of the line's first byte in the file.
        offset: u64,
        /// Its length in bytes, without CR/LF.
        len: u64,
    },
}

/// Splits a byte stream into lines incrementally, with bounded memory.
#[derive(Debug, Clone)]
pub struct LineFramer {
    max_line: usize,
    /// Bytes of the current, unfinished line (empty while discarding).
    partial: Vec<u8>,
    /// Offset just past the last LF: where the next line starts.
    committed: u64,
    /// Length of the current line when it is being discarded as too long, and whether
    /// its last byte so far is a CR (which is not part of the line if LF follows).
    discarding: Option<(u64, bool)>,
}

impl LineFramer {
    /// A framer for a stream that starts at `offset` in the file, with the default limit.
    pub fn new(offset: u64) -> Self {
        Self::with_max_line(offset, MAX_LINE_LEN)
    }

    /// A framer with a custom line limit.
    pub fn with_max_line(offset: u64, max_line: usize) -> Self {
        LineFramer {
            max_line,
            partial: Vec::new(),
            committed: offset,
            discarding: None,
        }
    }

    /// Offset just past the last complete line: a reader that resumes here loses nothing.
    pub fn committed_offset(&self) -> u64 {
        self.committed
    }

    /// `true` while the current incomplete line is over the limit and being skipped
    /// (its bytes are counted, not kept).
    pub fn is_discarding(&self) -> bool {
        self.discarding.is_some()
    }

    /// Bytes received after the last LF (an incomplete line).
    pub fn pending_len(&self) -> u64 {
        match self.discarding {
            Some((len, _)) => len,
            None => self.partial.len() as u64,
        }
    }

    /// Feeds `data`, calling `on_frame` for each complete line in order.
    pub fn feed(&mut self, mut data: &[u8], mut on_frame: impl FnMut(Frame<'_>)) {
        while !data.is_empty() {
            let newline = memchr_lf(data);
            let (chunk, rest, complete) = match newline {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            if let Some((len, ends_with_cr)) = self.discarding.as_mut() {
                *len += chunk.len() as u64;
                if let Some(&last) = chunk.last() {
                    *ends_with_cr = last == b'\r';
                }
            } else if self.partial.len() + chunk.len() > self.max_line + 1 {
                // +1: a CR that belongs to the CRLF may still follow the limit's last byte.
                let ends_with_cr = chunk.last().or(self.partial.last()) == Some(&b'\r');
                self.discarding = Some(((self.partial.len() + chunk.len()) as u64, ends_with_cr));
                self.partial = Vec::new();
            } else if !complete {
                self.partial.extend_from_slice(chunk);
            }
            if complete {
                let offset = self.committed;
                self.committed += self.pending_len_with(chunk) + 1;
                self.emit(offset, chunk, &mut on_frame);
            }
            data = rest;
        }
    }

    fn pending_len_with(&self, chunk: &[u8]) -> u64 {
        match self.discarding {
            Some((len, _)) => len,
            None => (self.partial.len() + chunk.len()) as u64,
        }
    }

    fn emit(&mut self, offset: u64, chunk: &[u8], on_frame: &mut impl FnMut(Frame<'_>)) {
        if let Some((len, ends_with_cr)) = self.discarding.take() {
            on_frame(Frame::TooLong {
                offset,
                len: len - u64::from(ends_with_cr),
            });
            return;
        }
        let line: &[u8] = if self.partial.is_empty() {
            chunk
        } else {
            self.partial.extend_from_slice(chunk);
            &self.partial
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > self.max_line {
            on_frame(Frame::TooLong {
                offset,
                len: line.len() as u64,
            });
        } else if !line.is_empty() {
            on_frame(Frame::Line {
                offset,
                bytes: line,
            });
        }
        self.partial.clear();
    }
}

fn memchr_lf(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Owned {
        Line(u64, Vec<u8>),
        TooLong(u64, u64),
    }

    fn frames(framer: &mut LineFramer, data: &[u8]) -> Vec<Owned> {
        let mut out = Vec::new();
        framer.feed(data, |f| {
            out.push(match f {
                Frame::Line { offset, bytes } => Owned::Line(offset, bytes.to_vec()),
                Frame::TooLong { offset, len } => Owned::TooLong(offset, len),
            })
        });
        out
    }

    #[test]
    fn lines_crlf_blank_and_tail() {
        let mut f = LineFramer::new(0);
        let got = frames(&mut f, b"a\r\n\nbb\n\r\nccc");
        assert_eq!(
            got,
            vec![
                Owned::Line(0, b"a".to_vec()),
                Owned::Line(4, b"bb".to_vec())
            ]
        );
        assert_eq!(f.committed_offset(), 9);
        assert_eq!(f.pending_len(), 3);
        let got = frames(&mut f, b"\n");
        assert_eq!(got, vec![Owned::Line(9, b"ccc".to_vec())]);
        assert_eq!(f.committed_offset(), 13);
    }

    #[test]
    fn only_one_cr_is_dropped() {
        let mut f = LineFramer::new(0);
        assert_eq!(
            frames(&mut f, b"x\r\r\n"),
            vec![Owned::Line(0, b"x\r".to_vec())]
        );
    }

    #[test]
    fn too_long_lines_are_skipped_with_bounded_memory() {
        let mut f = LineFramer::with_max_line(0, 4);
        let mut got = frames(&mut f, b"1234\n12345");
        got.extend(frames(&mut f, b"6789"));
        assert!(f.partial.capacity() <= 16);
        got.extend(frames(&mut f, b"\r\nok\n"));
        assert_eq!(
            got,
            vec![
                Owned::Line(0, b"1234".to_vec()),
                Owned::TooLong(5, 9),
                Owned::Line(16, b"ok".to_vec())
            ]
        );
        // A line at the limit followed by CRLF is fine.
        let mut f = LineFramer::with_max_line(0, 4);
        assert_eq!(
            frames(&mut f, b"1234\r\n"),
            vec![Owned::Line(0, b"1234".to_vec())]
        );
        let mut f = LineFramer::with_max_line(0, 4);
        assert_eq!(frames(&mut f, b"12345\r\n"), vec![Owned::TooLong(0, 5)]);
    }

    #[test]
    fn any_split_equals_whole() {
        let data = b"first\r\nsecond line\n\nthird\r\n0123456789abcdef\nlast";
        let mut whole = LineFramer::with_max_line(0, 10);
        let expected = frames(&mut whole, data);
        for split in 0..data.len() {
            for split2 in split..data.len() {
                let mut f = LineFramer::with_max_line(0, 10);
                let mut got = frames(&mut f, &data[..split]);
                got.extend(frames(&mut f, &data[split..split2]));
                got.extend(frames(&mut f, &data[split2..]));
                assert_eq!(got, expected, "split at {split},{split2}");
                assert_eq!(f.committed_offset(), whole.committed_offset());
            }
        }
    }
}
