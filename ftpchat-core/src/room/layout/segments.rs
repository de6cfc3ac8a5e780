//! The segment layout (SPEC §9.5): a native room on a store that cannot append (S3,
//! WebDAV), built from objects that are each written once.
//!
//! A native room needs append-only files that one device writes: each device's log, the
//! attachment blobs. [`SegmentStore`] gives them on a store with create-only writes:
//!
//! - An appendable file `P` is the folder `P/` of its **segments**, each named by the
//!   offset of its first byte (`0000000000000000`, `0000000000000123`, ...) and written
//!   with a create-only write. Two devices appending at one offset (a copied writer id)
//!   cannot both succeed: the second sees the first's records, as after a lost append
//!   race on FTP, and moves to a new writer id.
//! - Every segment of a log gets a **feed marker**: `feed/<n>`, numbered from 0 without
//!   gaps, claimed with a create-only write, saying which log grew and by how much.
//!   Readers list the feed after the last marker they read once in a run, then read the
//!   next marker by its name: an idle poll is one read of a missing object however many
//!   writers and markers the room has, and delivery costs the same at any history size.
//!   A marker `ring` stands for the doorbell (presence and membership changes).
//! - Writers **compact**: 16 consecutive segments of one size class become one object
//!   named `<first>-<end>` holding the same bytes, and the 16 are deleted. Offsets do not
//!   change, so readers never notice beyond refreshing a listing.
//!
//! The engine above sees files that can be appended to; everything else (the header,
//! membership commits, presence files) passes through unchanged. A read goes to the end
//! this client knows (from its last listing, `size` or the feed), as the engine always
//! asks one of those first; reading where nothing is known yet lists the file's folder.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::transport::{
    Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
    TransportEvent,
};

use super::native::{DOORBELL_FILE, HEADER_FILE, LOGS_DIR};
use crate::room::state::{hex32, hex_encode};
use crate::room::stored::SegmentCache;

/// The folder of feed markers, beside `logs/`.
pub(crate) const FEED_DIR: &str = "feed";
/// Attachment blobs: appendable files too.
const FILES_DIR: &str = "files";
/// Digits of a segment's offset and of a marker's number (zero-padded so that names sort
/// as numbers).
const OFFSET_DIGITS: usize = 16;
const MARKER_DIGITS: usize = 12;
/// This many consecutive segments of one size class are merged into one.
const MERGE_RUN: usize = 16;
/// No merged object grows beyond this.
const MAX_MERGED_LEN: u64 = 16 * 1024 * 1024;
/// A feed page.
const FEED_PAGE: usize = 1000;
/// The other entries of `logs/` (presence files) are listed at least this often, and
/// after every `ring` marker.
const OTHERS_MAX_AGE: Duration = Duration::from_secs(60);
/// Bytes of this run's own segments kept for merging without reading them back.
const MAX_RECENT_BYTES: usize = 4 * 1024 * 1024;
/// Written create-only into each folder made through this layout (see `make_dir`).
const CLAIM_FILE: &str = ".claim";
/// Bytes kept of each file's end (more than a reader's look-back).
const TAIL_LEN: usize = 256;
/// The first line of the segment cache ([`SegmentStore::with_cache`]).
const CACHE_VERSION: &str = "ftpchat-segment-cache 1";
/// Claims of a feed number lost to other writers before giving up for this time.
const MAX_CLAIM_ATTEMPTS: usize = 64;

/// A native room's files on a store without appends (see the module docs).
pub(crate) struct SegmentStore {
    inner: Arc<dyn Transport>,
    logs: RemotePath,
    files: RemotePath,
    feed: RemotePath,
    /// The room header: the segment cache belongs to the room whose header it saw.
    header: RemotePath,
    state: Mutex<State>,
    /// The local segment cache (see [`SegmentStore::with_cache`]).
    cache: Option<SegmentCache>,
}

impl std::fmt::Debug for SegmentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentStore")
            .field("inner", &self.inner.describe())
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// Each appendable file this run knows (by path): its segments.
    files: HashMap<String, Segments>,
    /// Feed markers read (the number of the next one); `None`: not looked for yet.
    feed_len: Option<u64>,
    /// The feed was listed once in this run: from then on the next marker is read by its
    /// name ([`SegmentStore::read_feed`]).
    feed_listed: bool,
    /// A marker the doorbell read ahead (its number and bytes), for the next
    /// [`SegmentStore::read_feed`].
    peeked: Option<(u64, Vec<u8>)>,
    /// Every log's segments were listed once in this run.
    logs_listed: bool,
    /// The other entries of `logs/` (presence files), when they were listed, and whether
    /// a `ring` marker came since.
    others: Vec<DirEntry>,
    others_at: Option<Instant>,
    others_stale: bool,
    /// Markers of segments that landed but whose claim failed: claimed at the next call.
    unmarked: Vec<String>,
    /// The last thing this client wrote was a segment marker, which readers notice as
    /// the doorbell would: a ring right after it (every delivery rings) is not claimed.
    marker_rang: bool,
    /// What the saved segment cache holds ([`State::knowledge`]); `None`: not saved.
    cache_saved: Option<Knowledge>,
    /// Saving the cache failed: it was removed and is not used again in this run.
    cache_broken: bool,
    /// SHA-256 of the room header this knowledge is about (read or written in this run,
    /// or the one the cache was saved with).
    room_header: Option<[u8; 32]>,
}

/// A summary of what a client knows of the logs: the feed markers read, and the number
/// and the summed ends of the logs' objects. It changes whenever the cache would.
type Knowledge = (Option<u64>, usize, u64);

impl State {
    /// What this client knows of the logs in `logs` (see [`Knowledge`]).
    fn knowledge(&self, logs: &RemotePath) -> Knowledge {
        let prefix = format!("{logs}/");
        let (mut objects, mut ends) = (0usize, 0u64);
        for (path, segs) in &self.files {
            if path.starts_with(&prefix) {
                objects += segs.objects.len() + 1;
                ends = ends.wrapping_add(segs.end());
            }
        }
        (self.feed_len, objects, ends)
    }
}

/// The segments of one appendable file.
#[derive(Default)]
struct Segments {
    /// Start offset → (end offset, object name). Of two objects at one start (a segment
    /// and the merge that replaces it) the longer is kept.
    objects: BTreeMap<u64, (u64, String)>,
    /// Bytes of segments this run wrote (start → bytes), for merging without reading.
    recent: BTreeMap<u64, Vec<u8>>,
    recent_len: usize,
    /// The last bytes read or written (start offset, bytes): a reader reads a little
    /// before where it stopped (to check the file is the one it read), and this spares
    /// it a request for an object it has already read.
    tail: Option<(u64, Vec<u8>)>,
    /// The folder exists (an empty file is an empty folder).
    exists: bool,
}

impl Segments {
    fn end(&self) -> u64 {
        self.objects.values().map(|(e, _)| *e).max().unwrap_or(0)
    }

    fn insert(&mut self, start: u64, end: u64, name: String) {
        let slot = self.objects.entry(start).or_insert((end, name.clone()));
        if end > slot.0 {
            *slot = (end, name);
        }
        self.exists = true;
    }

    /// The object holding byte `pos`: (start, end, name).
    fn covering(&self, pos: u64) -> Option<(u64, u64, String)> {
        self.objects
            .range(..=pos)
            .rev()
            .find(|(_, (end, _))| *end > pos)
            .map(|(s, (e, n))| (*s, *e, n.clone()))
    }

    /// The name after which a listing finds only newer segments.
    fn last_name(&self) -> Option<String> {
        self.objects.values().map(|(_, n)| n.clone()).max()
    }

    /// Keeps the last `TAIL_LEN` bytes of `data`, which ends at `end`.
    fn keep_tail(&mut self, end: u64, data: &[u8]) {
        let keep = &data[data.len().saturating_sub(TAIL_LEN)..];
        let start = end - keep.len() as u64;
        // Extend a tail this continues, so short reads still leave TAIL_LEN bytes.
        let mut bytes = match self.tail.take() {
            Some((s, mut old)) if s + old.len() as u64 == start => {
                old.extend_from_slice(keep);
                old
            }
            _ => keep.to_vec(),
        };
        let cut = bytes.len().saturating_sub(TAIL_LEN);
        bytes.drain(..cut);
        self.tail = Some((end - bytes.len() as u64, bytes));
    }

    /// The kept bytes from `pos` on, if the tail holds `pos`.
    fn tail_from(&self, pos: u64) -> Option<&[u8]> {
        let (start, bytes) = self.tail.as_ref()?;
        let end = start + bytes.len() as u64;
        (pos >= *start && pos < end).then(|| &bytes[(pos - start) as usize..])
    }

    fn remember(&mut self, start: u64, data: &[u8]) {
        if self.recent_len + data.len() > MAX_RECENT_BYTES {
            self.recent.clear();
            self.recent_len = 0;
        }
        if data.len() <= MAX_RECENT_BYTES {
            self.recent.insert(start, data.to_vec());
            self.recent_len += data.len();
        }
    }
}

/// A segment's or a merged object's name.
fn segment_name(start: u64, end: Option<u64>) -> String {
    match end {
        None => format!("{start:0OFFSET_DIGITS$}"),
        Some(end) => format!("{start:0OFFSET_DIGITS$}-{end:0OFFSET_DIGITS$}"),
    }
}

/// Parses a listed object of an appendable file: (start, end). `None`: not a segment.
fn parse_segment(entry: &DirEntry) -> Option<(u64, u64)> {
    if entry.is_dir {
        return None;
    }
    let digits = |s: &str| {
        (s.len() == OFFSET_DIGITS && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match entry.name.split_once('-') {
        None => {
            let start = digits(&entry.name)?;
            Some((start, start.checked_add(entry.size?)?))
        }
        Some((a, b)) => {
            let (start, end) = (digits(a)?, digits(b)?);
            // A merged object whose size disagrees with its name is not trusted.
            (end > start && entry.size.is_none_or(|s| s == end - start)).then_some((start, end))
        }
    }
}

fn marker_name(n: u64) -> String {
    format!("{n:0MARKER_DIGITS$}")
}

/// What a feed marker says (SPEC §9.5).
#[derive(Debug, PartialEq, Eq)]
enum Marker {
    /// Log `name` has a segment of `len` bytes at `start`.
    Segment { log: String, start: u64, len: u64 },
    /// The doorbell rang.
    Ring,
}

impl Marker {
    fn encode(&self) -> String {
        match self {
            Marker::Segment { log, start, len } => format!("seg {log} {start} {len}\n"),
            Marker::Ring => "ring\n".into(),
        }
    }

    fn parse(bytes: &[u8]) -> Option<Marker> {
        let text = std::str::from_utf8(bytes).ok()?.strip_suffix('\n')?;
        let mut parts = text.split(' ');
        let marker = match parts.next()? {
            "seg" => {
                let log = parts.next()?;
                RemotePath::validate_name(log).ok()?;
                Marker::Segment {
                    log: log.to_owned(),
                    start: parts.next()?.parse().ok()?,
                    len: parts.next()?.parse().ok()?,
                }
            }
            "ring" => Marker::Ring,
            _ => return None,
        };
        parts.next().is_none().then_some(marker)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn not_found(op: &'static str, path: &RemotePath) -> TransportError {
    TransportError::new(
        TransportErrorKind::NotFound,
        op,
        format!("{path}: no such file"),
    )
}

/// Which size class a segment is in when merging (powers of 16 bytes).
fn size_class(len: u64) -> u32 {
    (64 - len.leading_zeros()) / 4
}

impl SegmentStore {
    /// The segment layout of the native room in `room_dir` on `inner`.
    pub(crate) fn new(inner: Arc<dyn Transport>, room_dir: &str) -> Result<Self, TransportError> {
        let room = RemotePath::new(room_dir)?;
        Ok(SegmentStore {
            logs: room.join(LOGS_DIR)?,
            files: room.join(FILES_DIR)?,
            feed: room.join(FEED_DIR)?,
            header: room.join(HEADER_FILE)?,
            inner,
            state: Mutex::new(State::default()),
            cache: None,
        })
    }

    /// Keeps what this client learns of the logs' segments (each log's objects, and how
    /// far it read the feed) in the local store (`cache`), and starts from what an
    /// earlier run kept there: a restart then reads only the feed after that point and one
    /// listing of `logs/`, instead of listing every log's folder and searching the feed's
    /// end.
    ///
    /// It is a cache. It is saved (committed) before an operation that learned something
    /// returns, so it never knows less than the read positions the room saves afterwards;
    /// it may know less than the server (the feed tells the rest), and an object it names
    /// that was merged away since is found again by listing. A missing, unreadable or
    /// malformed cache is ignored; one that cannot be saved is deleted.
    pub(crate) fn with_cache(mut self, cache: SegmentCache) -> Self {
        if let Some(restored) = cache.load().and_then(|text| self.decode_cache(&text)) {
            let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
            *st = restored;
            st.cache_saved = Some(st.knowledge(&self.logs));
        }
        self.cache = Some(cache);
        self
    }

    /// The cache's text: a version line, the feed markers read, and one line per object
    /// of each log (`seg <log> <start> <end> <object name>`).
    fn encode_cache(&self, st: &State) -> String {
        let prefix = format!("{}/", self.logs);
        let header = hex_encode(&st.room_header.unwrap_or_default());
        let mut out = format!(
            "{CACHE_VERSION}\nroom {header}\nfeed {}\n",
            st.feed_len.unwrap_or(0)
        );
        let mut logs: Vec<(&str, &Segments)> = st
            .files
            .iter()
            .filter_map(|(path, segs)| {
                let name = path.strip_prefix(&prefix)?;
                (segs.exists && !name.contains('/')).then_some((name, segs))
            })
            .collect();
        logs.sort_by_key(|(name, _)| *name);
        for (name, segs) in logs {
            if segs.objects.is_empty() {
                out.push_str(&format!("log {name}\n"));
            }
            for (start, (end, object)) in &segs.objects {
                out.push_str(&format!("seg {name} {start} {end} {object}\n"));
            }
        }
        out
    }

    /// A state from a cache's text; `None` if any line is not what `encode_cache` writes.
    fn decode_cache(&self, text: &str) -> Option<State> {
        let mut lines = text.lines();
        if lines.next()? != CACHE_VERSION {
            return None;
        }
        let header = hex32(lines.next()?.strip_prefix("room ")?)?;
        let feed: u64 = lines.next()?.strip_prefix("feed ")?.parse().ok()?;
        let mut st = State {
            feed_len: Some(feed),
            logs_listed: true,
            room_header: Some(header),
            ..State::default()
        };
        for line in lines {
            let mut parts = line.split(' ');
            let (kind, log) = (parts.next()?, parts.next()?);
            RemotePath::validate_name(log).ok()?;
            if !log.ends_with(".log") {
                return None;
            }
            let path = self.logs.join(log).ok()?;
            let segs = st.files.entry(path.as_str().to_owned()).or_default();
            segs.exists = true;
            match kind {
                "log" => {}
                "seg" => {
                    let start: u64 = parts.next()?.parse().ok()?;
                    let end: u64 = parts.next()?.parse().ok()?;
                    let object = parts.next()?;
                    let single = object == segment_name(start, None);
                    if end <= start || !(single || object == segment_name(start, Some(end))) {
                        return None;
                    }
                    segs.insert(start, end, object.to_owned());
                }
                _ => return None,
            }
            if parts.next().is_some() {
                return None;
            }
        }
        Some(st)
    }

    /// The room header this client read or wrote: knowledge about another room (one that
    /// was deleted and made again under this name) is dropped, and the cache with it.
    fn seen_header(&self, hash: [u8; 32]) {
        let mut st = lock(&self.state);
        if st.room_header != Some(hash) {
            *st = State {
                room_header: Some(hash),
                cache_broken: st.cache_broken,
                unmarked: std::mem::take(&mut st.unmarked),
                ..State::default()
            };
        }
    }

    /// Saves the cache if this client learned something since it was last saved.
    fn save_cache(&self, st: &mut State) {
        let Some(cache) = &self.cache else { return };
        let knowledge = st.knowledge(&self.logs);
        if st.cache_broken || st.room_header.is_none() || st.cache_saved == Some(knowledge) {
            return;
        }
        match cache.save(Some(&self.encode_cache(st))) {
            Ok(()) => st.cache_saved = Some(knowledge),
            Err(e) => {
                // A cache that knows less than the read positions saved next would send
                // readers back to the start of those logs: none is better.
                log::warn!("segment cache: {e}");
                let _ = cache.save(None);
                st.cache_broken = true;
            }
        }
    }

    /// `true` for the files this layout keeps as segments: logs and attachment blobs.
    fn is_segmented(&self, path: &RemotePath) -> bool {
        let Some(parent) = path.parent() else {
            return false;
        };
        (parent == self.logs && path.file_name().ends_with(".log")) || parent == self.files
    }

    fn is_doorbell(&self, path: &RemotePath) -> bool {
        path.parent().as_ref() == Some(&self.logs) && path.file_name() == DOORBELL_FILE
    }

    /// Lists the segments of `path` that `state` does not know yet (all of them the first
    /// time, or with `full`). `Ok(false)`: the file does not exist.
    fn refresh(
        &self,
        st: &mut State,
        path: &RemotePath,
        full: bool,
    ) -> Result<bool, TransportError> {
        let key = path.as_str().to_owned();
        if full {
            st.files.remove(&key);
        }
        let mut after = st.files.get(&key).and_then(Segments::last_name);
        loop {
            let page = match self.inner.list_after(path, after.as_deref(), FEED_PAGE) {
                Ok(p) => p,
                Err(e) if e.kind() == TransportErrorKind::NotFound => {
                    st.files.remove(&key);
                    return Ok(false);
                }
                Err(e) => return Err(e),
            };
            let segs = st.files.entry(key.clone()).or_default();
            segs.exists = true;
            for entry in &page {
                let size = match entry.size {
                    Some(s) => Some(s),
                    None if !entry.is_dir => self.inner.size(&path.join(&entry.name)?)?,
                    None => None,
                };
                let entry = DirEntry::file(entry.name.clone(), size);
                if let Some((start, end)) = parse_segment(&entry) {
                    segs.insert(start, end, entry.name.clone());
                }
            }
            if page.len() < FEED_PAGE {
                return Ok(true);
            }
            after = page.last().map(|e| e.list_key().into_owned());
        }
    }

    /// The number of feed markers on the server (they have no gaps): found by doubling,
    /// then bisecting, a marker's existence, so it costs about 2·log₂(n) requests once.
    fn find_feed_len(&self) -> Result<u64, TransportError> {
        let exists = |n: u64| -> Result<bool, TransportError> {
            Ok(self
                .inner
                .size(&self.feed.join(&marker_name(n))?)?
                .is_some())
        };
        if !exists(0)? {
            return Ok(0);
        }
        let (mut lo, mut hi) = (0u64, 1u64); // lo exists, hi is to be tried
        while exists(hi)? {
            lo = hi;
            hi = hi.saturating_mul(2);
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if exists(mid)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(hi)
    }

    fn feed_len(&self, st: &mut State) -> Result<u64, TransportError> {
        if let Some(n) = st.feed_len {
            return Ok(n);
        }
        let n = self.find_feed_len()?;
        st.feed_len = Some(n);
        Ok(n)
    }

    /// Reads the markers after those already read. The first time in a run it lists the
    /// feed after the last one read (which also finds markers past a gap); after that it
    /// reads the next marker by its name until one is missing, so a poll costs one read
    /// however many markers the store keeps (a listing of `feed/` on a store that cannot
    /// list after a name, such as WebDAV, would carry every marker's name).
    fn read_feed(&self, st: &mut State) -> Result<(), TransportError> {
        if !st.feed_listed {
            self.list_feed(st)?;
            st.feed_listed = true;
            return Ok(());
        }
        // At most a page per call, like a listing: a server answering every name cannot
        // keep a poll going; the rest waits for the next call (the doorbell shows it).
        for _ in 0..FEED_PAGE {
            let next = self.feed_len(st)?;
            let Some(bytes) = self.next_marker(st, next)? else {
                return Ok(());
            };
            self.apply_marker(st, &bytes)?;
            st.feed_len = Some(next + 1);
        }
        Ok(())
    }

    /// Marker `n`: the one the doorbell read ahead if that is `n`, else read now.
    fn next_marker(&self, st: &mut State, n: u64) -> Result<Option<Vec<u8>>, TransportError> {
        match st.peeked.take() {
            Some((m, bytes)) if m == n => Ok(Some(bytes)),
            _ => self.read_marker(n),
        }
    }

    /// The bytes of marker `n`; `None` when it does not exist (yet).
    fn read_marker(&self, n: u64) -> Result<Option<Vec<u8>>, TransportError> {
        let mut bytes = Vec::new();
        match self
            .inner
            .read_from(&self.feed.join(&marker_name(n))?, 0, &mut bytes)
        {
            Ok(_) => Ok(Some(bytes)),
            Err(e) if e.kind() == TransportErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists the feed after the last marker read and reads each new marker.
    fn list_feed(&self, st: &mut State) -> Result<(), TransportError> {
        st.peeked = None;
        let mut next = self.feed_len(st)?;
        loop {
            let after = next.checked_sub(1).map(marker_name);
            let page = match self
                .inner
                .list_after(&self.feed, after.as_deref(), FEED_PAGE)
            {
                Ok(p) => p,
                Err(e) if e.kind() == TransportErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            for entry in &page {
                if entry.is_dir || entry.name.len() != MARKER_DIGITS {
                    continue;
                }
                let Ok(n) = entry.name.parse::<u64>() else {
                    continue;
                };
                if n != next {
                    // Markers have no gaps unless someone deleted some: read every log.
                    st.logs_listed = false;
                }
                // Gone since the listing: read as a marker nobody can parse.
                let bytes = self.read_marker(n)?.unwrap_or_default();
                self.apply_marker(st, &bytes)?;
                next = n + 1;
                st.feed_len = Some(next);
            }
            if page.len() < FEED_PAGE {
                return Ok(());
            }
        }
    }

    /// Takes in what one marker says.
    fn apply_marker(&self, st: &mut State, bytes: &[u8]) -> Result<(), TransportError> {
        match Marker::parse(bytes) {
            Some(Marker::Segment { log, start, len }) => {
                let path = self.logs.join(&log)?;
                let segs = st.files.entry(path.as_str().to_owned()).or_default();
                if start <= segs.end() {
                    segs.insert(start, start + len, segment_name(start, None));
                } else {
                    // An earlier segment's marker is missing (its writer was cut off
                    // between the two writes): list that log.
                    self.refresh(st, &path, false)?;
                }
            }
            Some(Marker::Ring) => st.others_stale = true,
            // A marker nobody can read (or written by a newer version) still moves the
            // feed on; the periodic listing of logs/ catches what it meant.
            None => {}
        }
        Ok(())
    }

    /// Claims the next feed number for `marker`.
    fn claim(&self, st: &mut State, marker: &str) -> Result<(), TransportError> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let n = self.feed_len(st)?;
            match self
                .inner
                .write_new(&self.feed.join(&marker_name(n))?, marker.as_bytes())
            {
                Ok(()) => {
                    // Every marker before n was read: n = feed_len.
                    st.feed_len = Some(n + 1);
                    return Ok(());
                }
                Err(e) if e.kind() == TransportErrorKind::AlreadyExists => self.read_feed(st)?,
                Err(e) if e.kind() == TransportErrorKind::NotFound => {
                    self.ensure_dir(&self.feed)?
                }
                Err(e) => return Err(e),
            }
        }
        Err(TransportError::new(
            TransportErrorKind::Transient,
            "append",
            format!("{}: other writers kept claiming the next marker", self.feed),
        ))
    }

    /// Makes the folder `dir` on the store below; one that exists already is what was
    /// wanted (no claim: see `make_dir` for folders that are claims).
    fn ensure_dir(&self, dir: &RemotePath) -> Result<(), TransportError> {
        match self.inner.make_dir(dir) {
            Err(e) if e.kind() == TransportErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    }

    /// Claims the markers an earlier call could not.
    fn claim_unmarked(&self, st: &mut State) -> Result<(), TransportError> {
        while let Some(marker) = st.unmarked.first().cloned() {
            self.claim(st, &marker)?;
            st.unmarked.remove(0);
        }
        Ok(())
    }

    /// `logs/` as the engine expects it: each log with its length, the doorbell (its
    /// "size" is the number of feed markers), and the other files there.
    fn list_logs(&self) -> Result<Vec<DirEntry>, TransportError> {
        let mut st = lock(&self.state);
        let listed = self.list_logs_locked(&mut st);
        // Before the caller reads up to these sizes and saves how far: see `with_cache`.
        self.save_cache(&mut st);
        listed
    }

    fn list_logs_locked(&self, st: &mut State) -> Result<Vec<DirEntry>, TransportError> {
        let _ = self.claim_unmarked(st);
        self.read_feed(st)?;
        let others_old = st.others_at.is_none_or(|at| at.elapsed() >= OTHERS_MAX_AGE);
        if !st.logs_listed || st.others_stale || others_old {
            let full = !st.logs_listed;
            let entries = self.inner.list(&self.logs)?;
            let mut others = Vec::new();
            for entry in entries {
                if entry.is_dir && entry.name.ends_with(".log") {
                    let path = self.logs.join(&entry.name)?;
                    if full || !st.files.contains_key(path.as_str()) {
                        self.refresh(st, &path, false)?;
                    }
                } else if !entry.is_dir && entry.name != DOORBELL_FILE && entry.name != CLAIM_FILE {
                    others.push(entry);
                }
            }
            st.others = others;
            st.others_at = Some(Instant::now());
            st.others_stale = false;
            st.logs_listed = true;
        }
        let prefix = format!("{}/", self.logs);
        let mut out: Vec<DirEntry> = st
            .files
            .iter()
            .filter_map(|(path, segs)| {
                let name = path.strip_prefix(&prefix)?;
                (!name.contains('/') && segs.exists).then(|| DirEntry::file(name, Some(segs.end())))
            })
            .collect();
        out.push(DirEntry::file(DOORBELL_FILE, st.feed_len));
        out.extend(st.others.iter().cloned());
        Ok(out)
    }

    /// The doorbell's "size": the feed's length, plus one when a marker is waiting. Once
    /// the feed was listed in this run, the next marker is read (and kept for
    /// [`read_feed`](Self::read_feed)): one read, found or not.
    fn doorbell_size(&self) -> Result<Option<u64>, TransportError> {
        let mut st = lock(&self.state);
        let n = self.feed_len(&mut st)?;
        let waiting = if st.feed_listed {
            st.peeked = self.next_marker(&mut st, n)?.map(|bytes| (n, bytes));
            st.peeked.is_some()
        } else {
            let after = n.checked_sub(1).map(marker_name);
            match self.inner.list_after(&self.feed, after.as_deref(), 1) {
                Ok(page) => !page.is_empty(),
                Err(e) if e.kind() == TransportErrorKind::NotFound => false,
                Err(e) => return Err(e),
            }
        };
        Ok(Some(n + u64::from(waiting)))
    }

    fn append_segment(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let mut st = lock(&self.state);
        let _ = self.claim_unmarked(&mut st);
        let known = st.files.get(path.as_str()).is_some_and(|s| s.exists);
        if !known && !self.refresh(&mut st, path, false)? {
            self.ensure_dir(path)?;
            st.files.entry(path.as_str().to_owned()).or_default().exists = true;
        }
        if data.is_empty() {
            return Ok(());
        }
        let start = st.files[path.as_str()].end();
        let name = segment_name(start, None);
        match self.inner.write_new(&path.join(&name)?, data) {
            Ok(()) => {}
            Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {
                // Another device (or an earlier attempt of ours that seemed to fail)
                // wrote at this offset: the engine looks at the file and decides.
                self.refresh(&mut st, path, false)?;
                return Err(TransportError::new(
                    TransportErrorKind::Transient,
                    "append",
                    format!("{path}: another segment was written at offset {start} first"),
                ));
            }
            Err(e) => return Err(e),
        }
        let segs = st.files.get_mut(path.as_str()).expect("known above");
        segs.insert(start, start + data.len() as u64, name);
        segs.remember(start, data);
        segs.keep_tail(start + data.len() as u64, data);
        if path.parent().as_ref() == Some(&self.logs) {
            let marker = Marker::Segment {
                log: path.file_name().to_owned(),
                start,
                len: data.len() as u64,
            }
            .encode();
            if self.claim(&mut st, &marker).is_ok() {
                st.marker_rang = true;
            } else {
                // The segment is there: the append succeeded. Readers find it by the next
                // marker of this log, or this one once a later call claims it.
                st.unmarked.push(marker);
            }
        }
        // Compaction is housekeeping: a failure leaves more, smaller objects.
        let _ = self.compact(&mut st, path);
        self.save_cache(&mut st);
        Ok(())
    }

    /// Merges the trailing run of segments of one size class once it is `MERGE_RUN` long.
    fn compact(&self, st: &mut State, path: &RemotePath) -> Result<(), TransportError> {
        loop {
            let segs = &st.files[path.as_str()];
            let objects: Vec<(u64, u64, String)> = segs
                .objects
                .iter()
                .map(|(s, (e, n))| (*s, *e, n.clone()))
                .collect();
            let Some(last) = objects.last() else {
                return Ok(());
            };
            let class = size_class(last.1 - last.0);
            let run: Vec<&(u64, u64, String)> = objects
                .iter()
                .rev()
                .take_while(|(s, e, _)| size_class(e - s) == class)
                .take(MERGE_RUN)
                .collect();
            if run.len() < MERGE_RUN {
                return Ok(());
            }
            let (start, end) = (run[run.len() - 1].0, run[0].1);
            // Only a contiguous run with no gaps or overlaps, and never too large.
            let contiguous = run.windows(2).all(|w| w[1].1 == w[0].0);
            if !contiguous || end - start > MAX_MERGED_LEN {
                return Ok(());
            }
            let mut merged = Vec::with_capacity((end - start) as usize);
            for (s, _, name) in run.iter().rev() {
                match segs.recent.get(s) {
                    Some(bytes) => merged.extend_from_slice(bytes),
                    None => {
                        self.inner.read_from(&path.join(name)?, 0, &mut merged)?;
                    }
                }
            }
            if merged.len() as u64 != end - start {
                return Ok(());
            }
            let name = segment_name(start, Some(end));
            match self.inner.write_new(&path.join(&name)?, &merged) {
                Ok(()) => {}
                Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            let old: Vec<String> = run.iter().map(|(_, _, n)| n.clone()).collect();
            let starts: Vec<u64> = run.iter().map(|(s, _, _)| *s).collect();
            let segs = st.files.get_mut(path.as_str()).expect("listed");
            for s in &starts {
                segs.objects.remove(s);
                if let Some(b) = segs.recent.remove(s) {
                    segs.recent_len -= b.len();
                }
            }
            segs.insert(start, end, name.clone());
            for n in old {
                if n != name {
                    let _ = self.inner.remove_file(&path.join(&n)?);
                }
            }
        }
    }

    fn read_segments(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        let mut st = lock(&self.state);
        let read = self.read_segments_locked(&mut st, path, offset, sink);
        // Before the caller saves how far it read: see `with_cache`.
        self.save_cache(&mut st);
        read
    }

    fn read_segments_locked(
        &self,
        st: &mut State,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        if !st.files.get(path.as_str()).is_some_and(|s| s.exists)
            && !self.refresh(st, path, false)?
        {
            return Err(not_found("read_from", path));
        }
        let mut pos = offset;
        let mut total = 0;
        let mut relisted = false;
        loop {
            let segs = &st.files[path.as_str()];
            if let Some(kept) = segs.tail_from(pos) {
                // Objects never change once written: what was read there is still there.
                sink.write_all(kept)
                    .map_err(|e| TransportError::from_io("read_from", path.to_string(), e))?;
                total += kept.len() as u64;
                pos += kept.len() as u64;
                continue;
            }
            let Some((start, end, name)) = segs.covering(pos) else {
                if relisted || total > 0 {
                    // The end as this run knows it (a listing or the feed told the
                    // caller about it): read there, done.
                    return Ok(total);
                }
                // Past what this run knows: look for newer segments once.
                relisted = true;
                if !self.refresh(st, path, false)? {
                    return Err(not_found("read_from", path));
                }
                continue;
            };
            let mut counting = Counting {
                sink,
                n: 0,
                tail: Vec::new(),
            };
            match self
                .inner
                .read_from(&path.join(&name)?, pos - start, &mut counting)
            {
                Ok(_) => {}
                // Merged away since it was listed: list again and read the merge.
                Err(e)
                    if e.kind() == TransportErrorKind::NotFound && counting.n == 0 && !relisted =>
                {
                    relisted = true;
                    if !self.refresh(st, path, true)? {
                        return Err(not_found("read_from", path));
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
            let (n, tail) = (counting.n, counting.tail);
            total += n;
            pos += n;
            if let Some(segs) = st.files.get_mut(path.as_str()) {
                segs.keep_tail(pos, &tail);
            }
            if pos < end {
                // The object is shorter than its name or listing said: stop here.
                return Ok(total);
            }
        }
    }

    fn remove_segments(&self, path: &RemotePath) -> Result<(), TransportError> {
        let mut st = lock(&self.state);
        if !self.refresh(&mut st, path, true)? {
            return Err(not_found("remove_file", path));
        }
        let names: Vec<String> = st.files[path.as_str()]
            .objects
            .values()
            .map(|(_, n)| n.clone())
            .collect();
        for name in names {
            match self.inner.remove_file(&path.join(&name)?) {
                Ok(()) => {}
                Err(e) if e.kind() == TransportErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        st.files.remove(path.as_str());
        match self.inner.remove_dir(path) {
            Err(e) if e.kind() != TransportErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A sink that hashes what passes through to `sink`.
struct Hashing<'a> {
    sink: &'a mut dyn Write,
    hash: sha2::Sha256,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.sink.write(buf)?;
        sha2::Digest::update(&mut self.hash, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

/// A sink that counts what passes through and keeps its last `TAIL_LEN` bytes.
struct Counting<'a> {
    sink: &'a mut dyn Write,
    n: u64,
    tail: Vec<u8>,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.sink.write(buf)?;
        self.n += n as u64;
        self.tail.extend_from_slice(&buf[..n]);
        let cut = self.tail.len().saturating_sub(TAIL_LEN);
        self.tail.drain(..cut);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

impl Transport for SegmentStore {
    fn capabilities(&self) -> Capabilities {
        let inner = self.inner.capabilities();
        // Appends at one offset exclude each other (create-only), so none is lost.
        Capabilities::new(true, true, true, true).with_create_only(inner.create_only)
    }

    fn describe(&self) -> String {
        format!("{} (segment layout)", self.inner.describe())
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        if self.is_doorbell(path) {
            return self.doorbell_size();
        }
        if !self.is_segmented(path) {
            return self.inner.size(path);
        }
        let mut st = lock(&self.state);
        let exists = self.refresh(&mut st, path, false);
        self.save_cache(&mut st);
        Ok(exists?.then(|| st.files[path.as_str()].end()))
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        if self.is_segmented(path) {
            self.read_segments(path, offset, sink)
        } else if *path == self.header && offset == 0 && self.cache.is_some() {
            // Hashed on its way to the caller (whose sink bounds it).
            let mut hashing = Hashing {
                sink,
                hash: sha2::Sha256::default(),
            };
            let n = self.inner.read_from(path, 0, &mut hashing)?;
            self.seen_header(sha2::Digest::finalize(hashing.hash).into());
            Ok(n)
        } else {
            self.inner.read_from(path, offset, sink)
        }
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        if self.is_doorbell(path) {
            let mut st = lock(&self.state);
            if std::mem::take(&mut st.marker_rang) {
                return Ok(());
            }
            return self.claim(&mut st, &Marker::Ring.encode());
        }
        if !self.is_segmented(path) {
            return Err(TransportError::new(
                TransportErrorKind::Unsupported,
                "append",
                format!("{path}: only logs and attachments can be appended to here"),
            ));
        }
        self.append_segment(path, data)
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        // Something else changed (presence, membership): the next ring is claimed.
        lock(&self.state).marker_rang = false;
        self.inner.write_atomic(path, data)?;
        if *path == self.header {
            self.seen_header(<sha2::Sha256 as sha2::Digest>::digest(data).into());
        }
        Ok(())
    }

    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        // Something else changed (presence, membership): the next ring is claimed.
        lock(&self.state).marker_rang = false;
        self.inner.write_new(path, data)
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        if *dir == self.logs {
            return self.list_logs();
        }
        let mut entries = self.inner.list(dir)?;
        entries.retain(|e| e.is_dir || e.name != CLAIM_FILE);
        if *dir != self.files {
            return Ok(entries);
        }
        // Blobs are folders of segments: shown as files (their size on request).
        Ok(entries
            .into_iter()
            .map(|e| {
                if e.is_dir {
                    DirEntry::file(e.name, None)
                } else {
                    e
                }
            })
            .collect())
    }

    /// A folder made here is a claim (the room, an epoch): on a store whose folders are
    /// only key prefixes (S3) making one is not atomic, so the claim is completed by a
    /// create-only write of `.claim` inside it, which exactly one client wins.
    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        lock(&self.state).marker_rang = false;
        self.inner.make_dir(path)?;
        match self.inner.write_new(&path.join(CLAIM_FILE)?, b"") {
            Err(e) if e.kind() == TransportErrorKind::AlreadyExists => Err(TransportError::new(
                TransportErrorKind::AlreadyExists,
                "make_dir",
                format!("{path}: another client made it first"),
            )),
            other => other,
        }
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        if self.is_segmented(path) {
            self.remove_segments(path)
        } else {
            self.inner.remove_file(path)
        }
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        match self.inner.remove_file(&path.join(CLAIM_FILE)?) {
            Err(e) if e.kind() != TransportErrorKind::NotFound => return Err(e),
            _ => {}
        }
        self.inner.remove_dir(path)
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.inner.rename(from, to)
    }

    fn take_events(&self) -> Vec<TransportEvent> {
        self.inner.take_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::memory::MemoryTransport;

    #[test]
    fn markers_round_trip_and_refuse_anything_else() {
        let seg = Marker::Segment {
            log: "ab.log".into(),
            start: 12,
            len: 34,
        };
        assert_eq!(Marker::parse(seg.encode().as_bytes()), Some(seg));
        assert_eq!(Marker::parse(b"ring\n"), Some(Marker::Ring));
        for bad in [
            &b"seg ../x 1 2\n"[..],
            b"seg a.log 1\n",
            b"seg a.log 1 2 3\n",
            b"ring",
            b"seg a.log -1 2\n",
            b"other\n",
        ] {
            assert_eq!(Marker::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn segment_names_parse_back_and_merges_must_match_their_size() {
        let e = |name: String, size| DirEntry::file(name, Some(size));
        assert_eq!(parse_segment(&e(segment_name(5, None), 7)), Some((5, 12)));
        assert_eq!(
            parse_segment(&e(segment_name(5, Some(12)), 7)),
            Some((5, 12))
        );
        assert_eq!(parse_segment(&e(segment_name(5, Some(12)), 6)), None);
        assert_eq!(parse_segment(&e("5".into(), 7)), None);
        assert_eq!(parse_segment(&DirEntry::dir(segment_name(0, None))), None);
    }

    #[test]
    fn the_segment_cache_round_trips_and_refuses_anything_else() {
        let (_mem, s) = store();
        let mut st = State {
            feed_len: Some(7),
            room_header: Some([0xab; 32]),
            ..State::default()
        };
        let log = |name: &str| format!("room/logs/{name}");
        let a = st.files.entry(log("a.log")).or_default();
        a.insert(0, 4096, segment_name(0, Some(4096)));
        a.insert(4096, 4100, segment_name(4096, None));
        st.files.entry(log("empty.log")).or_default().exists = true;
        // Blobs are not cached.
        st.files
            .entry("room/files/0123".into())
            .or_default()
            .insert(0, 9, segment_name(0, None));
        let text = s.encode_cache(&st);
        assert_eq!(
            text,
            format!(
                "{CACHE_VERSION}\nroom {}\nfeed 7\nseg a.log 0 4096 0000000000000000-0000000000004096\n\
                 seg a.log 4096 4100 0000000000004096\nlog empty.log\n",
                "ab".repeat(32)
            )
        );
        let back = s.decode_cache(&text).unwrap();
        assert_eq!(back.feed_len, Some(7));
        assert_eq!(back.room_header, Some([0xab; 32]));
        assert!(back.logs_listed);
        assert_eq!(back.files.len(), 2);
        assert_eq!(back.files[&log("a.log")].end(), 4100);
        assert!(back.files[&log("empty.log")].exists);
        assert_eq!(s.encode_cache(&back), text);

        let head = format!("{CACHE_VERSION}\nroom {}\nfeed 7\n", "ab".repeat(32));
        for bad in [
            "seg a.log 0 10 0000000000000001\n",  // name and start disagree
            "seg a.log 10 10 0000000000000010\n", // empty
            "seg a.log 0 10 0000000000000000-0000000000000011\n", // merge name, other end
            "seg a.txt 0 10 0000000000000000\n",  // not a log
            "seg ../a.log 0 10 0000000000000000\n", // not a name
            "seg a.log 0 10 0000000000000000 extra\n", // trailing field
            "log\n",
            "blob a.log\n",
        ] {
            assert!(s.decode_cache(&format!("{head}{bad}")).is_none(), "{bad}");
        }
        for bad_head in [
            String::new(),
            "ftpchat-segment-cache 2\nroom 00\nfeed 1\n".to_owned(),
            format!("{CACHE_VERSION}\nroom {}\nfeed 1\n", "zz".repeat(32)),
            format!("{CACHE_VERSION}\nfeed 1\n"),
            format!("{CACHE_VERSION}\nroom {}\nfeed x\n", "ab".repeat(32)),
        ] {
            assert!(s.decode_cache(&bad_head).is_none(), "{bad_head:?}");
        }
    }

    fn store() -> (MemoryTransport, SegmentStore) {
        let mem = MemoryTransport::new();
        mem.make_dir(&RemotePath::new("room").unwrap()).unwrap();
        mem.make_dir(&RemotePath::new("room/logs").unwrap())
            .unwrap();
        let s = SegmentStore::new(Arc::new(mem.clone()), "room").unwrap();
        (mem, s)
    }

    fn read_all(t: &dyn Transport, p: &RemotePath, from: u64) -> Vec<u8> {
        let mut out = Vec::new();
        t.read_from(p, from, &mut out).unwrap();
        out
    }

    #[test]
    fn a_log_is_its_segments_and_compaction_keeps_every_byte_at_its_offset() {
        let (mem, s) = store();
        let log = RemotePath::new("room/logs/aa.log").unwrap();
        let mut expected = Vec::new();
        for i in 0..40 {
            let line = format!("line {i:03}\n");
            s.append(&log, line.as_bytes()).unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        assert_eq!(s.size(&log).unwrap(), Some(expected.len() as u64));
        assert_eq!(read_all(&s, &log, 0), expected);
        assert_eq!(read_all(&s, &log, 17), expected[17..]);
        // 40 segments: two runs of 16 merged, 8 left.
        let objects = mem.list(&log).unwrap();
        assert_eq!(objects.len(), 2 + 8, "{objects:?}");
        // Every segment got a marker, numbered without gaps.
        let markers = mem.list(&RemotePath::new("room/feed").unwrap()).unwrap();
        assert_eq!(markers.len(), 40);
        // A second client (another run) reads the same bytes through the merges.
        let fresh = SegmentStore::new(Arc::new(mem.clone()), "room").unwrap();
        let listed = fresh.list(&RemotePath::new("room/logs").unwrap()).unwrap();
        assert!(listed
            .iter()
            .any(|e| e.name == "aa.log" && e.size == Some(expected.len() as u64)));
        assert!(listed
            .iter()
            .any(|e| e.name == DOORBELL_FILE && e.size == Some(40)));
        assert_eq!(read_all(&fresh, &log, 3), expected[3..]);
    }

    #[test]
    fn two_appends_at_one_offset_cannot_both_land() {
        let (mem, a) = store();
        let b = SegmentStore::new(Arc::new(mem.clone()), "room").unwrap();
        let log = RemotePath::new("room/logs/cc.log").unwrap();
        a.append(&log, b"from a\n").unwrap();
        // b lists the file before its first append, so it appends after a's segment.
        b.append(&log, b"from b\n").unwrap();
        // a appends at its stale end (where b's segment is): refused, the file intact.
        let err = a.append(&log, b"again a\n").unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(read_all(&b, &log, 0), b"from a\nfrom b\n");
        // After the refusal a knows the real end and appends after it.
        a.append(&log, b"again a\n").unwrap();
        // A read goes to the end b knows; asking the size (or listing) looks further.
        assert_eq!(read_all(&b, &log, 0), b"from a\nfrom b\n");
        assert_eq!(b.size(&log).unwrap(), Some(22));
        assert_eq!(read_all(&b, &log, 0), b"from a\nfrom b\nagain a\n");
    }

    #[test]
    fn a_reader_learns_of_new_segments_from_the_feed_with_one_listing() {
        let (mem, writer) = store();
        let reader = SegmentStore::new(Arc::new(mem.clone()), "room").unwrap();
        let logs = RemotePath::new("room/logs").unwrap();
        let log = RemotePath::new("room/logs/dd.log").unwrap();
        writer.append(&log, b"one\n").unwrap();
        let first = reader.list(&logs).unwrap();
        assert!(first
            .iter()
            .any(|e| e.name == "dd.log" && e.size == Some(4)));
        let bell = reader.size(&logs.join(DOORBELL_FILE).unwrap()).unwrap();
        writer.append(&log, b"two\n").unwrap();
        // The doorbell check sees a waiting marker.
        assert_ne!(
            reader.size(&logs.join(DOORBELL_FILE).unwrap()).unwrap(),
            bell
        );
        let second = reader.list(&logs).unwrap();
        assert!(second
            .iter()
            .any(|e| e.name == "dd.log" && e.size == Some(8)));
        assert_eq!(read_all(&reader, &log, 4), b"two\n");
    }
}

#[cfg(test)]
mod vectors {
    use super::*;
    use crate::transport::memory::MemoryTransport;

    /// `segments-v1.json` (SPEC §15): a reader recovers every log and the feed's length
    /// from the objects, and refuses the bad markers and names.
    #[test]
    fn segments_v1_vectors() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/testdata/segments-v1.json")).unwrap();
        let mem = MemoryTransport::new();
        let mut paths: Vec<(&String, &serde_json::Value)> =
            v["objects"].as_object().unwrap().iter().collect();
        paths.sort_by_key(|(p, _)| p.as_str());
        for (path, content) in paths {
            let path = RemotePath::new(path).unwrap();
            crate::transport::make_dir_all(&mem, &path.parent().unwrap()).unwrap();
            mem.write_atomic(&path, content.as_str().unwrap().as_bytes())
                .unwrap();
        }
        let room = v["room"].as_str().unwrap();
        let store = SegmentStore::new(Arc::new(mem), room).unwrap();
        let logs_dir = RemotePath::new(&format!("{room}/logs")).unwrap();
        let listed = store.list(&logs_dir).unwrap();
        for (name, content) in v["logs"].as_object().unwrap() {
            let content = content.as_str().unwrap().as_bytes();
            let entry = listed.iter().find(|e| &e.name == name).unwrap();
            assert_eq!(entry.size, Some(content.len() as u64), "{name}");
            let mut got = Vec::new();
            store
                .read_from(&logs_dir.join(name).unwrap(), 0, &mut got)
                .unwrap();
            assert_eq!(got, content, "{name}");
        }
        let bell = listed.iter().find(|e| e.name == DOORBELL_FILE).unwrap();
        assert_eq!(bell.size, v["feed_len"].as_u64());
        assert!(!listed.iter().any(|e| e.name == CLAIM_FILE));
        for bad in v["bad_markers"].as_array().unwrap() {
            assert_eq!(
                Marker::parse(bad.as_str().unwrap().as_bytes()),
                None,
                "{bad}"
            );
        }
        for bad in v["bad_segment_names"].as_array().unwrap() {
            let entry = DirEntry::file(bad[0].as_str().unwrap(), bad[1].as_u64());
            assert_eq!(parse_segment(&entry), None, "{bad}");
        }
    }
}
