//! Attachments (SPEC §8.4.3): a file goes to the server as an encrypted blob under the
//! room's `files/`, streamed chunk by chunk, and only then is its record queued; saving
//! one streams the blob back, opens each chunk as it arrives and writes verified plaintext
//! to a partial file beside the target, renamed into place once the hash matches.
//!
//! Both directions resume: an upload cut mid-way asks the server how much arrived and
//! appends the rest (chunks are sealed at their position, so any chunk can be sealed
//! again); a download keeps the chunks it verified in the partial file and asks for the
//! rest with `REST`, also in a later call after a cancel or a crash. Neither side holds
//! more than a chunk (64 KiB) and a write buffer.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Room, RoomError};
use crate::crypto::{
    blob_chunks, blob_len, random_bytes, BlobError, BlobKey, BlobOpener, BlobSealer, PushError,
    BLOB_CHUNK_LEN, BLOB_SEALED_CHUNK_LEN,
};
use crate::format::attachment::{is_refused_in_names, is_valid_file_name, MAX_FILE_NAME_LEN};
use crate::format::{AttachmentBody, RoomId};
use crate::timeline::MessageId;
use crate::transport::{RemotePath, Transport, TransportError, TransportErrorKind};

/// Transient failures in a row, without progress, before a transfer gives up.
const MAX_STALLED_ATTEMPTS: u32 = 5;
/// Progress is reported at most once per this many bytes (and at the end).
const PROGRESS_STEP: u64 = 1 << 20;
/// The write buffer of a download.
const WRITE_BUFFER: usize = 256 * 1024;

/// Why a blob could not be used (inside [`RoomError::BadAttachment`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The blob is not on the server (never written, or removed).
    #[error("the file is not on the server")]
    Missing,
    /// The blob's size is not the one its record implies (e.g. larger than announced).
    #[error("the stored file has {found} bytes, its message announces {expected}")]
    SizeMismatch {
        /// The size the record implies.
        expected: u64,
        /// The size on the server.
        found: u64,
    },
    /// The blob does not open: tampered with, truncated, reordered, from another room.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// Follows and controls one transfer ([`Room::send_file_with`],
/// [`Room::save_attachment_with`]): progress callbacks and cancelling from any thread.
/// Cheap to clone; clones control the same transfer.
#[derive(Clone, Default)]
pub struct Transfer {
    inner: Arc<TransferInner>,
}

#[derive(Default)]
struct TransferInner {
    cancelled: AtomicBool,
    progress: Option<Box<ProgressFn>>,
}

/// A progress callback: bytes of the file done so far and its size.
type ProgressFn = dyn Fn(u64, u64) + Send + Sync;

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Transfer {
    /// A transfer without progress reports (it can still be cancelled).
    pub fn new() -> Self {
        Transfer::default()
    }

    /// A transfer that calls `progress(done, total)` (bytes of the file) on the thread
    /// doing the transfer: at the start, then about every MiB, and once at the end.
    pub fn with_progress(progress: impl Fn(u64, u64) + Send + Sync + 'static) -> Self {
        Transfer {
            inner: Arc::new(TransferInner {
                cancelled: AtomicBool::new(false),
                progress: Some(Box::new(progress)),
            }),
        }
    }

    /// Stops the transfer soon (within one chunk); it fails with
    /// [`RoomError::Cancelled`]. Safe from any thread, including the progress callback.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), RoomError> {
        if self.is_cancelled() {
            Err(RoomError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Reports progress at most every [`PROGRESS_STEP`] bytes, and at the end.
struct Progress<'a> {
    transfer: &'a Transfer,
    total: u64,
    reported: Option<u64>,
}

impl<'a> Progress<'a> {
    fn new(transfer: &'a Transfer, total: u64) -> Self {
        Progress {
            transfer,
            total,
            reported: None,
        }
    }

    fn report(&mut self, done: u64) {
        let Some(f) = &self.transfer.inner.progress else {
            return;
        };
        let due = match self.reported {
            None => true,
            Some(last) => done >= last + PROGRESS_STEP || (done == self.total && last != done),
        };
        if due {
            self.reported = Some(done);
            f(done, self.total);
        }
    }
}

impl Room {
    /// Sends the file at `path` with a caption (may be empty): encrypts it in chunks
    /// into a blob under the room's `files/` (SPEC §8.4.3), then queues its message like
    /// [`send`](Self::send). Blocks while the file uploads; call it off the UI thread.
    ///
    /// Native rooms only ([`RoomError::Unsupported`] for a FTPChat chat file). Fails with
    /// [`RoomError::FileTooLarge`] (before any transfer) for a file over
    /// [`RoomConfig::max_attachment_size`](super::RoomConfig::max_attachment_size) and
    /// [`RoomError::LocalFile`] when the file cannot be read or changes while it is sent.
    /// A dropped connection resumes where the server's copy ends; after
    /// `MAX_STALLED_ATTEMPTS` failures without progress the transient error is
    /// returned and the partial blob removed.
    pub fn send_file(&self, path: impl AsRef<Path>, caption: &str) -> Result<MessageId, RoomError> {
        self.send_file_with(path, caption, &Transfer::new())
    }

    /// [`send_file`](Self::send_file) with progress reports and cancelling.
    pub fn send_file_with(
        &self,
        path: impl AsRef<Path>,
        caption: &str,
        transfer: &Transfer,
    ) -> Result<MessageId, RoomError> {
        self.check_open()?;
        if caption.len() > super::MAX_TEXT_LEN {
            return Err(RoomError::MessageTooLarge);
        }
        let (room, files_dir) = self.shared.core.attachment_site()?;
        let body = upload(
            self.shared.transport.as_ref(),
            room,
            &files_dir,
            path.as_ref(),
            caption,
            self.shared.max_attachment_size,
            transfer,
        )?;
        let id = self.shared.core.send_attachment(body)?;
        self.shared.wake.fire();
        Ok(id)
    }

    /// Downloads the file of message `message` to `target` (replacing it): the blob is
    /// opened chunk by chunk, verified against the record's hash, and only then renamed
    /// into place; nothing else is written but a partial file beside `target`
    /// (`.<name>.<blob>.part`, kept after a dropped connection or a cancel so the next
    /// call resumes, removed when the blob is bad).
    ///
    /// Fails with [`RoomError::UnknownMessage`] for a message not in the timeline,
    /// [`RoomError::Unsupported`] when it has no attachment (or was deleted),
    /// [`RoomError::FileTooLarge`] over the room's limit, [`RoomError::BadAttachment`]
    /// when the blob is missing, of the wrong size, tampered with or does not match its
    /// hash, and [`RoomError::LocalFile`] when `target` cannot be written.
    pub fn save_attachment(
        &self,
        message: &MessageId,
        target: impl AsRef<Path>,
    ) -> Result<(), RoomError> {
        self.save_attachment_with(message, target, &Transfer::new())
    }

    /// [`save_attachment`](Self::save_attachment) with progress reports and cancelling.
    pub fn save_attachment_with(
        &self,
        message: &MessageId,
        target: impl AsRef<Path>,
        transfer: &Transfer,
    ) -> Result<(), RoomError> {
        self.check_open()?;
        let found = self
            .shared
            .core
            .message(message)
            .ok_or(RoomError::UnknownMessage(*message))?;
        let Some(attachment) = found.attachment else {
            return Err(RoomError::Unsupported(
                "the message has no attachment (or it was deleted)".into(),
            ));
        };
        let (room, files_dir) = self.shared.core.attachment_site()?;
        download(
            self.shared.transport.as_ref(),
            room,
            &files_dir,
            attachment.body(),
            target.as_ref(),
            self.shared.max_attachment_size,
            transfer,
        )
    }
}

fn local(path: &Path) -> impl FnOnce(io::Error) -> RoomError + '_ {
    move |source| RoomError::LocalFile {
        path: path.to_owned(),
        source,
    }
}

/// The name a file is announced under: its own, with characters a record may not carry
/// replaced, at most [`MAX_FILE_NAME_LEN`] bytes.
pub(crate) fn announced_name(path: &Path) -> String {
    let raw = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if is_refused_in_names(c) { '_' } else { c };
        if name.len() + c.len_utf8() > MAX_FILE_NAME_LEN {
            break;
        }
        name.push(c);
    }
    if is_valid_file_name(&name) {
        name
    } else {
        "file".to_owned()
    }
}

/// The media type of `path` by its extension, `application/octet-stream` when unknown.
fn media_type(path: &Path) -> String {
    mime_guess::from_path(path)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// Encrypts and uploads `path` as a new blob; returns the record body that points to it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn upload(
    t: &dyn Transport,
    room: RoomId,
    files_dir: &RemotePath,
    path: &Path,
    caption: &str,
    limit: u64,
    transfer: &Transfer,
) -> Result<AttachmentBody, RoomError> {
    let mut file = File::open(path).map_err(local(path))?;
    let meta = file.metadata().map_err(local(path))?;
    if !meta.is_file() {
        return Err(local(path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let size = meta.len();
    if size > limit {
        return Err(RoomError::FileTooLarge { size, limit });
    }
    transfer.check()?;
    let blob_name: String = random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let record_path = format!("files/{blob_name}");
    let remote = files_dir.join(&blob_name)?;
    match with_retries(|| t.make_dir(files_dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let key = BlobKey::generate();
    let sealer = BlobSealer::new(&key, room, &record_path, size);
    let mut hash = Hashing {
        hash: Sha256::new(),
        chunks: 0,
    };
    let mut progress = Progress::new(transfer, size);
    progress.report(0);
    let result = send_blob(
        t,
        &remote,
        &mut file,
        path,
        &sealer,
        size,
        &mut hash,
        &mut progress,
        transfer,
    );
    // A cancel during the last progress report still counts: nothing is queued.
    if let Err(e) = result.and_then(|()| transfer.check()) {
        // Nobody can use a partial (or unannounced) blob: no record points to it.
        let _ = t.remove_file(&remote);
        return Err(e);
    }
    Ok(AttachmentBody {
        name: announced_name(path),
        size,
        media_type: media_type(path),
        path: record_path,
        sha256: hash.hash.finalize().into(),
        key,
        caption: caption.to_owned(),
    })
}

/// The plaintext hash, fed each chunk once however often it is sealed again.
struct Hashing {
    hash: Sha256,
    chunks: u64,
}

/// Appends the blob until the server holds all of it, resuming after cut transfers.
#[allow(clippy::too_many_arguments)]
fn send_blob(
    t: &dyn Transport,
    remote: &RemotePath,
    file: &mut File,
    path: &Path,
    sealer: &BlobSealer,
    size: u64,
    hash: &mut Hashing,
    progress: &mut Progress<'_>,
    transfer: &Transfer,
) -> Result<(), RoomError> {
    let expected = blob_len(size);
    let mut offset = 0u64;
    let mut stalled = 0u32;
    loop {
        let mut source = SealingSource::at(file, path, sealer, size, offset, hash, progress)?;
        source.transfer = Some(transfer);
        let sent = t.append_from(remote, &mut source);
        if let Some(failure) = source.failure.take() {
            return Err(failure);
        }
        if source.finished {
            source.check_unchanged()?;
        }
        let cut = match sent {
            Ok(_) => None,
            Err(e) if e.kind() == TransportErrorKind::Transient => {
                log::debug!("attachment upload cut, resuming: {e}");
                Some(e)
            }
            Err(e) => return Err(e.into()),
        };
        // A completed transfer was confirmed by the server; after a cut, the server may
        // still be writing what it received.
        let stored = match cut {
            None => with_retries(|| t.size(remote))?.unwrap_or(0),
            Some(_) => settled_size(t, remote)?,
        };
        if stored == expected {
            return Ok(());
        }
        if stored > expected {
            return Err(AttachmentError::SizeMismatch {
                expected,
                found: stored,
            }
            .into());
        }
        // Progress is at least a chunk: a connection that cuts every transfer after a few
        // bytes ends the upload rather than crawling on.
        if stored >= offset + BLOB_SEALED_CHUNK_LEN as u64 {
            stalled = 0;
        } else {
            stalled += 1;
            if stalled >= MAX_STALLED_ATTEMPTS {
                return Err(match cut {
                    Some(e) => e.into(),
                    None => AttachmentError::SizeMismatch {
                        expected,
                        found: stored,
                    }
                    .into(),
                });
            }
        }
        offset = stored;
        transfer.check()?;
    }
}

/// The size of the blob on the server once it stops changing: after a cut transfer the
/// server may still be writing what it received.
fn settled_size(t: &dyn Transport, remote: &RemotePath) -> Result<u64, RoomError> {
    let mut last = with_retries(|| t.size(remote))?.unwrap_or(0);
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(20));
        let now = with_retries(|| t.size(remote))?.unwrap_or(0);
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// Runs a step that changes nothing (a size, a directory that may exist) again after a
/// transient failure, up to [`MAX_STALLED_ATTEMPTS`] times with a short pause.
fn with_retries<T>(
    mut step: impl FnMut() -> Result<T, TransportError>,
) -> Result<T, TransportError> {
    let mut attempt = 1;
    loop {
        match step() {
            Err(e)
                if e.kind() == TransportErrorKind::Transient && attempt < MAX_STALLED_ATTEMPTS =>
            {
                log::debug!("attachment transfer: {e}; trying again");
                std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The blob's bytes from `offset` on, sealed from the file as they are read.
struct SealingSource<'a, 't> {
    file: &'a mut File,
    path: &'a Path,
    sealer: &'a BlobSealer,
    size: u64,
    next_chunk: u64,
    buf: Vec<u8>,
    pos: usize,
    hash: &'a mut Hashing,
    progress: &'a mut Progress<'t>,
    transfer: Option<&'a Transfer>,
    failure: Option<RoomError>,
    finished: bool,
}

impl<'a, 't> SealingSource<'a, 't> {
    #[allow(clippy::too_many_arguments)]
    fn at(
        file: &'a mut File,
        path: &'a Path,
        sealer: &'a BlobSealer,
        size: u64,
        offset: u64,
        hash: &'a mut Hashing,
        progress: &'a mut Progress<'t>,
    ) -> Result<Self, RoomError> {
        let sealed_chunk = crate::crypto::BLOB_SEALED_CHUNK_LEN as u64;
        let chunk = offset / sealed_chunk;
        file.seek(SeekFrom::Start(chunk * BLOB_CHUNK_LEN as u64))
            .map_err(local(path))?;
        let mut source = SealingSource {
            file,
            path,
            sealer,
            size,
            next_chunk: chunk,
            buf: Vec::with_capacity(BLOB_CHUNK_LEN + 16),
            pos: 0,
            hash,
            progress,
            transfer: None,
            failure: None,
            finished: false,
        };
        let skip = (offset % sealed_chunk) as usize;
        if skip > 0 {
            source
                .fill()
                .map_err(|e| source.failure.take().unwrap_or_else(|| local(path)(e)))?;
            source.pos = skip;
        }
        Ok(source)
    }

    /// Seals the next chunk into `buf`.
    fn fill(&mut self) -> io::Result<()> {
        if let Some(t) = self.transfer {
            if t.is_cancelled() {
                self.failure = Some(RoomError::Cancelled);
                return Err(io::Error::other("cancelled"));
            }
        }
        let start = self.next_chunk * BLOB_CHUNK_LEN as u64;
        let len = (self.size - start).min(BLOB_CHUNK_LEN as u64) as usize;
        self.buf.clear();
        self.buf.resize(len, 0);
        if let Err(e) = self.file.read_exact(&mut self.buf) {
            let e = if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::other("the file became shorter while it was sent")
            } else {
                e
            };
            self.failure = Some(local(self.path)(e));
            return Err(io::Error::other("reading the file failed"));
        }
        if self.next_chunk == self.hash.chunks {
            self.hash.hash.update(&self.buf);
            self.hash.chunks += 1;
        }
        self.sealer.seal(self.next_chunk, &mut self.buf);
        self.next_chunk += 1;
        self.pos = 0;
        self.progress.report(start + len as u64);
        Ok(())
    }

    /// After the last chunk: the file must not have grown.
    fn check_unchanged(&mut self) -> Result<(), RoomError> {
        let mut probe = [0u8; 1];
        match self.file.read(&mut probe) {
            Ok(0) => Ok(()),
            Ok(_) => Err(local(self.path)(io::Error::other(
                "the file grew while it was sent",
            ))),
            Err(e) => Err(local(self.path)(e)),
        }
    }
}

impl Read for SealingSource<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            if self.next_chunk == self.sealer.chunks() {
                self.finished = true;
                return Ok(0);
            }
            self.fill()?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Downloads and opens the blob of `body` into `target`.
pub(crate) fn download(
    t: &dyn Transport,
    room: RoomId,
    files_dir: &RemotePath,
    body: &AttachmentBody,
    target: &Path,
    limit: u64,
    transfer: &Transfer,
) -> Result<(), RoomError> {
    if body.size > limit {
        return Err(RoomError::FileTooLarge {
            size: body.size,
            limit,
        });
    }
    transfer.check()?;
    let blob_name = body
        .path
        .strip_prefix("files/")
        .ok_or(AttachmentError::Missing)?;
    let remote = files_dir.join(blob_name)?;
    let expected = blob_len(body.size);
    match with_retries(|| t.size(&remote))? {
        None => return Err(AttachmentError::Missing.into()),
        Some(found) if found != expected => {
            return Err(AttachmentError::SizeMismatch { expected, found }.into())
        }
        Some(_) => {}
    }
    let Some(file_name) = target.file_name() else {
        return Err(local(target)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the target has no file name",
        )));
    };
    let part = target.with_file_name(format!(
        ".{}.{}.part",
        file_name.to_string_lossy(),
        &blob_name[..16]
    ));
    let mut opener = BlobOpener::new(&body.key, room, &body.path, body.size);
    let mut progress = Progress::new(transfer, body.size);
    let written = resume_part(&part, &mut opener, body.size)?;
    let file = OpenOptions::new()
        .append(true)
        .open(&part)
        .map_err(local(&part))?;
    let mut sink = OpeningSink {
        opener,
        out: BufWriter::with_capacity(WRITE_BUFFER, file),
        written,
        part: &part,
        progress: &mut progress,
        transfer,
        failure: None,
    };
    sink.progress.report(written);
    let chunks = blob_chunks(body.size);
    let mut stalled = 0u32;
    while sink.opener.opened_chunks() < chunks {
        let before = sink.opener.opened_chunks();
        let offset = sink.opener.blob_offset();
        let result = t.read_from(&remote, offset, &mut sink);
        if let Some(failure) = sink.failure.take() {
            let _ = sink.out.flush();
            if matches!(failure, RoomError::BadAttachment(_)) {
                drop(sink);
                let _ = std::fs::remove_file(&part);
            }
            return Err(failure);
        }
        match result {
            Ok(_) if sink.opener.opened_chunks() == chunks => break,
            Ok(_) => {}
            Err(e) if e.kind() == TransportErrorKind::NotFound => {
                let _ = sink.out.flush();
                return Err(AttachmentError::Missing.into());
            }
            Err(e) if e.kind() != TransportErrorKind::Transient => {
                let _ = sink.out.flush();
                return Err(e.into());
            }
            Err(e) => log::debug!("attachment download cut, resuming: {e}"),
        }
        sink.opener.discard_partial();
        stalled = if sink.opener.opened_chunks() > before {
            0
        } else {
            stalled + 1
        };
        if stalled >= MAX_STALLED_ATTEMPTS {
            let _ = sink.out.flush();
            let got = sink.opener.blob_offset();
            return Err(AttachmentError::Blob(BlobError::Truncated { got, expected }).into());
        }
        transfer.check()?;
    }
    let OpeningSink { opener, out, .. } = sink;
    let file = out.into_inner().map_err(|e| local(&part)(e.into_error()))?;
    file.sync_all().map_err(local(&part))?;
    drop(file);
    if let Err(e) = opener.finish(&body.sha256) {
        let _ = std::fs::remove_file(&part);
        return Err(AttachmentError::Blob(e).into());
    }
    // A cancel during the last progress report still counts: the verified file stays in
    // the partial file (the next save renames it at once).
    transfer.check()?;
    std::fs::rename(&part, target).map_err(local(target))?;
    progress.report(body.size);
    Ok(())
}

/// Opens (or creates) the partial file of a download and feeds the chunks an earlier call
/// verified to `opener`'s hash; returns how many plaintext bytes it holds.
fn resume_part(part: &Path, opener: &mut BlobOpener, size: u64) -> Result<u64, RoomError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(part)
        .map_err(local(part))?;
    let len = file.metadata().map_err(local(part))?.len().min(size);
    // Only whole chunks were written (each after it verified); a torn tail goes.
    let chunks = if len == size {
        blob_chunks(size)
    } else {
        len / BLOB_CHUNK_LEN as u64
    };
    let keep = (chunks * BLOB_CHUNK_LEN as u64).min(size);
    file.set_len(keep).map_err(local(part))?;
    let mut buf = vec![0u8; BLOB_CHUNK_LEN];
    let mut left = keep;
    while left > 0 {
        let n = (left as usize).min(buf.len());
        file.read_exact(&mut buf[..n]).map_err(local(part))?;
        opener.hash_opened(&buf[..n]);
        left -= n as u64;
    }
    opener.resume(chunks);
    Ok(keep)
}

/// Opens the blob's bytes as `read_from` streams them and appends the plaintext to the
/// partial file.
struct OpeningSink<'a, 't> {
    opener: BlobOpener,
    out: BufWriter<File>,
    written: u64,
    part: &'a Path,
    progress: &'a mut Progress<'t>,
    transfer: &'a Transfer,
    failure: Option<RoomError>,
}

impl Write for OpeningSink<'_, '_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.transfer.is_cancelled() {
            self.failure = Some(RoomError::Cancelled);
            return Err(io::Error::other("cancelled"));
        }
        // At most a chunk per call, so a cancel is noticed within a chunk even when the
        // transport hands over everything at once.
        let data = &data[..data.len().min(BLOB_SEALED_CHUNK_LEN)];
        let OpeningSink {
            opener,
            out,
            written,
            progress,
            ..
        } = self;
        let pushed = opener.push(data, &mut |plain: &[u8]| {
            out.write_all(plain)?;
            *written += plain.len() as u64;
            progress.report(*written);
            Ok::<_, io::Error>(())
        });
        match pushed {
            Ok(()) => Ok(data.len()),
            Err(PushError::Blob(e)) => {
                self.failure = Some(AttachmentError::Blob(e).into());
                Err(io::Error::other("the attachment does not open"))
            }
            Err(PushError::Sink(e)) => {
                let message = e.to_string();
                self.failure = Some(local(self.part)(e));
                Err(io::Error::other(message))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_names_are_one_safe_component() {
        let name = |p: &str| announced_name(Path::new(p));
        assert_eq!(name("/home/a/holiday photo.png"), "holiday photo.png");
        assert_eq!(name("a\nb\u{7}c.txt"), "a_b_c.txt");
        assert_eq!(name("back\\slash:colon"), "back_slash_colon");
        assert_eq!(name("photo\u{202e}gpj.exe"), "photo_gpj.exe");
        assert_eq!(name("/"), "file");
        assert_eq!(name(".."), "file");
        let long = name(&"é".repeat(200));
        assert!(long.len() <= MAX_FILE_NAME_LEN && is_valid_file_name(&long));
        assert!(long.chars().all(|c| c == 'é'));
    }

    #[test]
    fn media_types_come_from_the_extension() {
        assert_eq!(media_type(Path::new("a.PNG")), "image/png");
        assert_eq!(media_type(Path::new("a.pdf")), "application/pdf");
        assert_eq!(media_type(Path::new("noext")), "application/octet-stream");
    }
}
