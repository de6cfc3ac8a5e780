//! The seam between the protocol and a file store.

use std::fmt;
use std::io::{Read, Write};

mod error;
mod path;

#[cfg(any(test, feature = "testing"))]
pub(crate) mod fault;
#[cfg(feature = "ftp")]
pub(crate) mod ftp;
pub(crate) mod local;
/// Always built: `open_location` serves `memory://` (the bindings' tests and examples use
/// it); public only through `testing` (feature `testing`).
pub(crate) mod memory;
mod open;
#[cfg(feature = "s3")]
pub(crate) mod s3;
#[cfg(feature = "sftp")]
pub(crate) mod sftp;
#[cfg(feature = "webdav")]
pub(crate) mod webdav;

pub use error::{TransportError, TransportErrorKind};
pub use open::{open_location, OpenOptions, S3Credentials};
pub use path::{InvalidPath, RemotePath, MAX_PATH_LEN};

/// Bytes per `append` of the default [`Transport::append_from`] (1 MiB).
pub const STREAM_CHUNK_LEN: usize = 1 << 20;

/// What a transport can do, so callers can choose a strategy.
///
/// Build one with [`Capabilities::new`] (the four original flags; the newer ones start
/// `false`) and the `with_*` methods for the newer flags, so a transport written against an
/// older version keeps compiling and claims nothing it does not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `append` is supported natively (FTP `APPE`, `O_APPEND`).
    pub append: bool,
    /// `read_from` with a non-zero offset transfers only the tail (FTP `REST`).
    pub resume_reads: bool,
    /// `list` returns sizes in one round trip (FTP `MLSD`, a local `readdir`).
    pub listing_with_sizes: bool,
    /// Concurrent appends to one file from several connections are known to be atomic.
    /// `false` means "not known", not "known to lose data".
    pub atomic_concurrent_append: bool,
    /// [`Transport::write_new`] is supported and atomic: of several clients creating one
    /// name at once exactly one succeeds, and readers see no file or the whole content
    /// (memory, a local folder, S3 conditional puts). `false`: `write_new` fails with
    /// [`TransportErrorKind::Unsupported`].
    pub create_only: bool,
    /// [`Transport::list_after`] is served by the store itself, one request per page (S3
    /// `start-after`), instead of listing the whole directory and filtering. The call works
    /// either way; this says whether paging saves the server work.
    pub list_after: bool,
}

impl Capabilities {
    /// Builds a capability set from the original four flags (the struct is
    /// non-exhaustive, so other crates use this); `create_only` and `list_after` start
    /// `false`: set them with [`with_create_only`](Self::with_create_only) and
    /// [`with_list_after`](Self::with_list_after).
    pub const fn new(
        append: bool,
        resume_reads: bool,
        listing_with_sizes: bool,
        atomic_concurrent_append: bool,
    ) -> Self {
        Capabilities {
            append,
            resume_reads,
            listing_with_sizes,
            atomic_concurrent_append,
            create_only: false,
            list_after: false,
        }
    }

    /// Sets [`create_only`](Self::create_only).
    pub const fn with_create_only(mut self, create_only: bool) -> Self {
        self.create_only = create_only;
        self
    }

    /// Sets [`list_after`](Self::list_after).
    pub const fn with_list_after(mut self, list_after: bool) -> Self {
        self.list_after = list_after;
        self
    }
}

/// One entry of a directory listing; build one with [`DirEntry::file`] or
/// [`DirEntry::dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirEntry {
    /// The entry's name (one path component, never containing `/`).
    pub name: String,
    /// `true` for a directory.
    pub is_dir: bool,
    /// The size in bytes for a file, when the listing carries it.
    pub size: Option<u64>,
}

impl DirEntry {
    /// A file, with its size when the listing carries it.
    pub fn file(name: impl Into<String>, size: Option<u64>) -> Self {
        DirEntry {
            name: name.into(),
            is_dir: false,
            size,
        }
    }

    /// A directory.
    pub fn dir(name: impl Into<String>) -> Self {
        DirEntry {
            name: name.into(),
            is_dir: true,
            size: None,
        }
    }

    /// The key [`Transport::list_after`] orders and pages by: the name of a file, the name
    /// followed by `/` for a directory (the order in which object stores list keys).
    pub fn list_key(&self) -> std::borrow::Cow<'_, str> {
        if self.is_dir {
            std::borrow::Cow::Owned(format!("{}/", self.name))
        } else {
            std::borrow::Cow::Borrowed(&self.name)
        }
    }
}

/// Something a transport wants its user to know that is not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportEvent {
    /// TLS was preferred but the server did not offer it; the connection is plain text.
    TlsFallback {
        /// Why TLS could not be used (the server's reply, without secrets).
        reason: String,
    },
    /// The connection was lost and made again.
    Reconnected {
        /// How many attempts it took.
        attempts: u32,
    },
    /// An operation failed transiently and is being retried.
    Retrying {
        /// The operation, e.g. `"append"`.
        operation: &'static str,
        /// The error, without secrets.
        error: String,
    },
}

impl fmt::Display for TransportEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportEvent::TlsFallback { reason } => {
                write!(
                    f,
                    "TLS not available, the connection is plain text: {reason}"
                )
            }
            TransportEvent::Reconnected { attempts } => {
                write!(f, "reconnected after {attempts} attempt(s)")
            }
            TransportEvent::Retrying { operation, error } => {
                write!(f, "{operation} failed, retrying: {error}")
            }
        }
    }
}

/// A file store the protocol runs over: the seam between the protocol and a file store.
///
/// A `Transport` is anything that can tell a file's size, read a file from an offset,
/// append to a file, replace a file atomically, list a directory with sizes, make and
/// remove directories, and rename. The room engine needs nothing else, so the same chat
/// runs over FTP, FTPS, a local (or synced) folder, or memory.
///
/// Every path crosses this seam as a [`RemotePath`]: relative to the transport's root,
/// validated once when it is built. CR, LF and NUL (FTP command injection), `..`,
/// `.`, empty components, backslashes and absolute paths are rejected there, so no
/// implementation has to re-check them.
///
/// The trait is blocking: the FTP control channel is serial, Python calls it with the GIL
/// released, and mobile apps call it from I/O threads.
///
/// Implementations must be `Send + Sync`; a transport with one connection serialises
/// calls internally.
///
/// Common rules: a missing parent directory makes `append`, `write_atomic` and
/// `make_dir` fail with [`TransportErrorKind::NotFound`]. Operations on the wrong type of
/// entry (reading a directory, removing a non-empty directory) fail with a non-transient
/// kind. `list` includes names that start with `.`; the room engine ignores them (they are
/// temporary files of `write_atomic`).
pub trait Transport: Send + Sync + fmt::Debug {
    /// What this transport supports.
    fn capabilities(&self) -> Capabilities;

    /// A human-readable description for status lines (`ftps://host:21/chat`), never
    /// containing a password.
    fn describe(&self) -> String;

    /// The size of a file, or `None` when it does not exist.
    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError>;

    /// Writes the bytes of `path` from `offset` to its end into `sink` and returns how
    /// many were written. Reading at or past the end writes nothing and returns 0.
    /// A missing file is [`TransportErrorKind::NotFound`]. When this fails, `sink` may
    /// already hold a prefix of the data (a transfer cut mid-way): the caller must discard
    /// it or account for it.
    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError>;

    /// Appends `data` to `path`, creating the file when it does not exist.
    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError>;

    /// Appends everything `source` yields to `path` (creating it), streaming, and returns
    /// the number of bytes read from `source`. For large files (attachment blobs), so no
    /// side holds the whole file: FTP sends one `APPE` and streams the data connection.
    ///
    /// When this fails, an unknown prefix of what was read may have been appended (a
    /// transfer cut mid-way): the caller asks [`size`](Self::size) and resumes from
    /// there. An error from `source` stops the transfer with an error of this transport.
    ///
    /// The default appends [`STREAM_CHUNK_LEN`] bytes at a time with
    /// [`append`](Self::append).
    fn append_from(&self, path: &RemotePath, source: &mut dyn Read) -> Result<u64, TransportError> {
        let mut buf = vec![0u8; STREAM_CHUNK_LEN];
        let mut total = 0u64;
        loop {
            let mut filled = 0;
            while filled < buf.len() {
                match source.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(TransportError::from_io(
                            "append",
                            format!("{path}: reading the data to send failed"),
                            e,
                        ))
                    }
                }
            }
            if filled == 0 {
                return Ok(total);
            }
            self.append(path, &buf[..filled])?;
            total += filled as u64;
        }
    }

    /// Replaces `path` with `data` so readers see either the old or the new content
    /// (written under a temporary name, then renamed).
    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError>;

    /// Creates `path` with `data` only if nothing exists there yet (put-if-absent):
    /// an existing file or directory is [`TransportErrorKind::AlreadyExists`] and is left
    /// untouched. Where [`Capabilities::create_only`] is `true` this is atomic: of several
    /// clients creating one name at once exactly one succeeds, and readers see either no
    /// file or all of `data`. A missing parent directory is [`TransportErrorKind::NotFound`].
    ///
    /// The default fails with [`TransportErrorKind::Unsupported`]: a check followed by a
    /// write would not be atomic, and callers rely on the one winner.
    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let _ = data;
        Err(TransportError::new(
            TransportErrorKind::Unsupported,
            "write_new",
            format!(
                "{path}: {} cannot create a file only if it is absent",
                self.describe()
            ),
        ))
    }

    /// Lists a directory. A missing directory is [`TransportErrorKind::NotFound`].
    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError>;

    /// Lists at most `limit` entries of `dir` whose [`DirEntry::list_key`] (the name; for a
    /// directory the name and `/`) is strictly greater than `after` (all entries when
    /// `None`), sorted ascending by that key in byte order. To page through a directory,
    /// pass the last entry's `list_key()` as the next `after`; a page shorter than `limit`
    /// is the last one. A missing directory is [`TransportErrorKind::NotFound`].
    ///
    /// The default lists the whole directory and filters; where
    /// [`Capabilities::list_after`] is `true` the store does the work (S3 `start-after`).
    fn list_after(
        &self,
        dir: &RemotePath,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, TransportError> {
        Ok(page_after(self.list(dir)?, after, limit))
    }

    /// Makes one directory. An existing one is [`TransportErrorKind::AlreadyExists`]:
    /// this is the atomic test-and-set that a lock is built on.
    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError>;

    /// Removes a file.
    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError>;

    /// Removes an empty directory.
    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError>;

    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError>;

    /// Events since the last call (TLS fallback, reconnects). Empty by default.
    fn take_events(&self) -> Vec<TransportEvent> {
        Vec::new()
    }
}

macro_rules! forward_transport {
    ($($ty:ty),*) => {$(
        impl<T: Transport + ?Sized> Transport for $ty {
            fn capabilities(&self) -> Capabilities { (**self).capabilities() }
            fn describe(&self) -> String { (**self).describe() }
            fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> { (**self).size(path) }
            fn read_from(&self, path: &RemotePath, offset: u64, sink: &mut dyn Write) -> Result<u64, TransportError> {
                (**self).read_from(path, offset, sink)
            }
            fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> { (**self).append(path, data) }
            fn append_from(&self, path: &RemotePath, source: &mut dyn Read) -> Result<u64, TransportError> {
                (**self).append_from(path, source)
            }
            fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
                (**self).write_atomic(path, data)
            }
            fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
                (**self).write_new(path, data)
            }
            fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> { (**self).list(dir) }
            fn list_after(&self, dir: &RemotePath, after: Option<&str>, limit: usize) -> Result<Vec<DirEntry>, TransportError> {
                (**self).list_after(dir, after, limit)
            }
            fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> { (**self).make_dir(path) }
            fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> { (**self).remove_file(path) }
            fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> { (**self).remove_dir(path) }
            fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> { (**self).rename(from, to) }
            fn take_events(&self) -> Vec<TransportEvent> { (**self).take_events() }
        }
    )*};
}

forward_transport!(std::sync::Arc<T>, Box<T>);

/// Sorts `entries` by [`DirEntry::list_key`], keeps those after `after`, at most `limit`
/// (the default [`Transport::list_after`]; also for transports that filter a listing).
pub(crate) fn page_after(
    mut entries: Vec<DirEntry>,
    after: Option<&str>,
    limit: usize,
) -> Vec<DirEntry> {
    entries.sort_by(|a, b| a.list_key().cmp(&b.list_key()));
    if let Some(after) = after {
        entries.retain(|e| &*e.list_key() > after);
    }
    entries.truncate(limit);
    entries
}

/// Makes a directory and all missing parents; existing ones are fine.
pub fn make_dir_all(transport: &dyn Transport, path: &RemotePath) -> Result<(), TransportError> {
    let mut prefix: Option<RemotePath> = None;
    for component in path.components() {
        let next = match &prefix {
            None => RemotePath::new(component)?,
            Some(p) => p.join(component)?,
        };
        match transport.make_dir(&next) {
            Ok(()) => {}
            Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        prefix = Some(next);
    }
    Ok(())
}

/// Reads a whole small file, refusing to hold more than `limit` bytes: `Ok(None)` when the
/// file is larger (anyone with write access can make a small file huge).
pub fn read_bounded(
    transport: &dyn Transport,
    path: &RemotePath,
    limit: usize,
) -> Result<Option<Vec<u8>>, TransportError> {
    struct Limited {
        buf: Vec<u8>,
        limit: usize,
        over: bool,
    }
    impl Write for Limited {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if self.buf.len() + data.len() > self.limit {
                self.over = true;
                return Err(std::io::Error::other("file is larger than the limit"));
            }
            self.buf.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Limited {
        buf: Vec::new(),
        limit,
        over: false,
    };
    match transport.read_from(path, 0, &mut sink) {
        _ if sink.over => Ok(None),
        Ok(_) => Ok(Some(sink.buf)),
        Err(e) => Err(e),
    }
}

/// Reads a whole file into memory (for small files such as a room header).
#[cfg(any(test, feature = "testing"))]
pub fn read_all(transport: &dyn Transport, path: &RemotePath) -> Result<Vec<u8>, TransportError> {
    let mut buf = Vec::new();
    transport.read_from(path, 0, &mut buf)?;
    Ok(buf)
}
