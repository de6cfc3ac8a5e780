use crate::format::{Frame, LineFramer};

/// How many bytes before the resume point a reader re-reads and compares, to notice a
/// file that was replaced by one of the same or greater size.
pub const OVERLAP_LEN: usize = 32;

/// An incomplete last line longer than this is not kept between reads (see
/// [`FileReader::park_long_tail`]): a room with many logs ending mid-line holds no more
/// than this per log.
pub const MAX_KEPT_TAIL: u64 = 16 * 1024;

/// What a reader wants to do about a file of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPlan {
    /// Nothing new: no transfer.
    UpToDate,
    /// Read from `offset` to the end (the overlap, then new bytes).
    ReadFrom {
        /// Where to start (`REST`).
        offset: u64,
    },
    /// The file shrank: it was truncated or replaced. Reset and read from 0.
    Restart,
}

/// What a reader needs to resume after a restart: the offset after the last complete
/// line and the bytes just before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReaderState {
    /// Offset just after the last complete line read.
    pub committed: u64,
    /// Up to [`OVERLAP_LEN`] bytes ending at `committed`.
    pub overlap: Vec<u8>,
}

/// The last OVERLAP_LEN bytes of `older ++ newer`, without copying `newer` whole.
fn last_bytes(older: &[u8], newer: &[u8]) -> Vec<u8> {
    if newer.len() >= OVERLAP_LEN {
        return newer[newer.len() - OVERLAP_LEN..].to_vec();
    }
    let from_older = OVERLAP_LEN - newer.len();
    let mut out = older[older.len().saturating_sub(from_older)..].to_vec();
    out.extend_from_slice(newer);
    out
}

/// The file changed under the reader: the bytes before the resume point differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced;

/// Incremental reader of one append-only file: knows where it is, asks for only the new
/// bytes, frames them into lines and notices a replaced file. Sans-IO.
#[derive(Debug, Clone)]
pub struct FileReader {
    framer: LineFramer,
    /// Bytes fed so far (committed lines plus the incomplete tail).
    read_pos: u64,
    /// The last OVERLAP_LEN bytes fed (ending at `read_pos`).
    window: Vec<u8>,
    /// Overlap still to be verified in the current read.
    verify: Vec<u8>,
    committed_overlap: Vec<u8>,
    /// Set when a long incomplete tail was dropped: the file size then. Until the size
    /// changes there is nothing new to read.
    parked_at: Option<u64>,
}

impl Default for FileReader {
    fn default() -> Self {
        Self::resume(ReaderState::default())
    }
}

impl FileReader {
    /// A reader that resumes from saved state (or starts at 0 with the default).
    pub fn resume(state: ReaderState) -> Self {
        let overlap = state.overlap[state.overlap.len().saturating_sub(OVERLAP_LEN)..].to_vec();
        FileReader {
            framer: LineFramer::new(state.committed),
            read_pos: state.committed,
            window: overlap.clone(),
            verify: Vec::new(),
            committed_overlap: overlap,
            parked_at: None,
        }
    }

    /// Where to resume after a restart.
    pub fn state(&self) -> ReaderState {
        ReaderState {
            committed: self.framer.committed_offset(),
            overlap: self.committed_overlap.clone(),
        }
    }

    /// Bytes consumed so far, including an incomplete last line.
    pub fn read_pos(&self) -> u64 {
        self.read_pos
    }

    /// Offset just after the last complete line.
    pub fn committed(&self) -> u64 {
        self.framer.committed_offset()
    }

    /// Length of the incomplete last line seen (0 when the file ends with LF).
    pub fn pending_len(&self) -> u64 {
        self.framer.pending_len()
    }

    /// What to do about a file that now has `size` bytes.
    pub fn plan(&self, size: u64) -> ReadPlan {
        use std::cmp::Ordering::*;
        if self.parked_at == Some(size) {
            return ReadPlan::UpToDate;
        }
        match size.cmp(&self.read_pos) {
            Equal => ReadPlan::UpToDate,
            Less => ReadPlan::Restart,
            Greater => ReadPlan::ReadFrom {
                offset: self.read_pos - self.overlap_before_read_pos().len() as u64,
            },
        }
    }

    fn overlap_before_read_pos(&self) -> &[u8] {
        &self.window[self.window.len().saturating_sub(OVERLAP_LEN)..]
    }

    /// Starts ingesting a read that begins at the offset [`plan`](Self::plan) gave.
    pub fn begin_read(&mut self) {
        self.parked_at = None;
        self.verify = self.overlap_before_read_pos().to_vec();
    }

    /// Ingests the next chunk of the read, calling `on_frame` for each complete line.
    /// Returns [`Replaced`] when the overlap does not match; then [`reset`](Self::reset)
    /// and read from 0.
    pub fn push(
        &mut self,
        mut chunk: &[u8],
        on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), Replaced> {
        if !self.verify.is_empty() {
            let n = self.verify.len().min(chunk.len());
            if chunk[..n] != self.verify[..n] {
                return Err(Replaced);
            }
            self.verify.drain(..n);
            chunk = &chunk[n..];
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let committed_before = self.framer.committed_offset();
        let read_before = self.read_pos;
        self.framer.feed(chunk, on_frame);
        self.read_pos += chunk.len() as u64;
        // If this chunk moved the committed point (to just after an LF inside it), keep
        // the OVERLAP_LEN bytes before it: they lie in the old window and this chunk.
        let committed = self.framer.committed_offset();
        if committed != committed_before {
            let end = (committed - read_before) as usize; // within this chunk
            self.committed_overlap = last_bytes(&self.window, &chunk[..end]);
        }
        // Only the bytes just before read_pos are needed to verify the next read; the
        // incomplete line itself is held once, by the framer.
        self.window = last_bytes(&self.window, chunk);
        Ok(())
    }

    /// Ends a read; a read that delivered less than the overlap proves nothing new.
    pub fn end_read(&mut self) {
        self.verify.clear();
    }

    /// After a read of a file of `size` bytes: if its incomplete last line is longer than
    /// [`MAX_KEPT_TAIL`], forget it and resume at the last complete line, so memory does
    /// not grow with the number of files ending mid-line. The tail is read again only
    /// when the file's size changes.
    pub fn park_long_tail(&mut self, size: u64) {
        if self.framer.pending_len() > MAX_KEPT_TAIL {
            self.park_tail(size);
        }
    }

    /// Like [`park_long_tail`](Self::park_long_tail) whatever the tail's length: a room
    /// over its memory budget for incomplete lines parks them all.
    pub fn park_tail(&mut self, size: u64) {
        // A tail already over the line limit is being skipped and costs no memory: keep
        // skipping it (so only new bytes are read), rather than re-read it later.
        if self.framer.pending_len() > 0 && !self.framer.is_discarding() {
            let committed = self.framer.committed_offset();
            self.framer = LineFramer::new(committed);
            self.read_pos = committed;
            self.window = self.committed_overlap.clone();
            self.parked_at = Some(size);
        }
    }

    /// Forgets everything: the next plan reads from 0.
    pub fn reset(&mut self) {
        *self = FileReader::default();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lines(reader: &mut FileReader, chunk: &[u8]) -> Result<Vec<String>, Replaced> {
        let mut out = Vec::new();
        reader.push(chunk, |f| {
            if let Frame::Line { bytes, .. } = f {
                out.push(String::from_utf8_lossy(bytes).into_owned());
            }
        })?;
        Ok(out)
    }

    fn read(reader: &mut FileReader, file: &[u8]) -> Result<Vec<String>, Replaced> {
        match reader.plan(file.len() as u64) {
            ReadPlan::UpToDate => Ok(vec![]),
            ReadPlan::Restart => Err(Replaced),
            ReadPlan::ReadFrom { offset } => {
                reader.begin_read();
                let out = lines(reader, &file[offset as usize..]);
                reader.end_read();
                out
            }
        }
    }

    #[test]
    fn reads_only_new_bytes_and_waits_for_complete_lines() {
        let mut r = FileReader::default();
        let mut file = b"one\ntw".to_vec();
        assert_eq!(read(&mut r, &file).unwrap(), vec!["one"]);
        assert_eq!(r.plan(file.len() as u64), ReadPlan::UpToDate);
        file.extend_from_slice(b"o\nthree\n");
        assert_eq!(read(&mut r, &file).unwrap(), vec!["two", "three"]);
        assert_eq!(r.state().committed, file.len() as u64);
        assert_eq!(r.state().overlap, file[file.len() - 14..].to_vec());
    }

    #[test]
    fn detects_replacement_and_shrinking() {
        let mut r = FileReader::default();
        read(&mut r, b"aaaa\nbbbb\n").unwrap();
        assert_eq!(r.plan(3), ReadPlan::Restart);
        assert_eq!(read(&mut r, b"xxxx\nyyyy\nzzzz\n"), Err(Replaced));
    }

    #[test]
    fn resumes_from_saved_state() {
        let file = b"first line\nsecond line\npartial";
        let mut r = FileReader::default();
        read(&mut r, file).unwrap();
        let saved = r.state();
        assert_eq!(saved.committed, 23);
        let mut resumed = FileReader::resume(saved);
        let mut longer = file.to_vec();
        longer.extend_from_slice(b" done\n");
        assert_eq!(read(&mut resumed, &longer).unwrap(), vec!["partial done"]);
        // A different file of the same prefix length is noticed after resuming too.
        let mut resumed = FileReader::resume(r.state());
        let mut other = b"FIRST LINE\nSECOND LINE\n".to_vec();
        other.extend_from_slice(b"more\n");
        assert_eq!(read(&mut resumed, &other), Err(Replaced));
    }

    #[test]
    fn saved_overlap_matches_the_committed_offset_after_a_long_line() {
        let mut r = FileReader::default();
        let mut data = b"first line\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', crate::format::MAX_LINE_LEN + 100));
        r.begin_read();
        r.push(&data, |_| {}).unwrap();
        r.end_read();
        let state = r.state();
        assert_eq!(
            (state.committed, state.overlap.as_slice()),
            (11, &b"first line\n"[..])
        );
        let mut resumed = FileReader::resume(state);
        data.extend_from_slice(b"\nok\n");
        assert_eq!(read(&mut resumed, &data).unwrap(), vec!["ok"]);
    }

    #[test]
    fn long_incomplete_tails_are_parked_not_kept() {
        let mut r = FileReader::default();
        let mut file = b"done\n".to_vec();
        file.extend(std::iter::repeat_n(b'y', MAX_KEPT_TAIL as usize + 1));
        assert_eq!(read(&mut r, &file).unwrap(), vec!["done"]);
        r.park_long_tail(file.len() as u64);
        assert_eq!(r.pending_len(), 0);
        assert_eq!(r.read_pos(), 5);
        assert_eq!(
            r.plan(file.len() as u64),
            ReadPlan::UpToDate,
            "no re-read while unchanged"
        );
        file.extend_from_slice(b"\nnext\n");
        let lines = read(&mut r, &file).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], "next");
    }

    #[test]
    fn overlap_check_spans_tiny_chunks() {
        let mut r = FileReader::default();
        read(&mut r, b"hello world\n").unwrap();
        let file = b"hello world\nnext\n";
        let ReadPlan::ReadFrom { offset } = r.plan(file.len() as u64) else {
            panic!()
        };
        r.begin_read();
        let mut got = Vec::new();
        for b in &file[offset as usize..] {
            got.extend(lines(&mut r, std::slice::from_ref(b)).unwrap());
        }
        r.end_read();
        assert_eq!(got, vec!["next"]);
    }
}
