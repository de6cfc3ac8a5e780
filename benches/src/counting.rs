//! A [`Transport`] wrapper that counts calls and bytes, for round trips and transfer
//! volume of a poll.
//!
//! How calls map to FTP commands on [`FtpTransport`](ftpchat_core::FtpTransport)
//! once the session is logged in (its module documentation has the full table):
//!
//! | call | FTP commands (round trips) | data connection |
//! |---|---|---|
//! | `size` | `SIZE` (1) | no |
//! | `read_from(0)` | `PASV`, `RETR` (2, plus the `226` at the end) | yes: the payload |
//! | `read_from(n > 0)` | `PASV`, `REST n`, `RETR` (3, plus `226`) | yes: the payload |
//! | `list` | `PASV`, `MLSD` (or `LIST -a` on vsftpd) (2, plus `226`) | yes: the listing |
//! | `append` | `NOOP` probe, `PASV`, `APPE` (3, plus `226`) | yes: the line |
//! | `write_atomic` | `PASV`, `STOR` tmp, `NOOP`, `RNFR`, `RNTO` (5) | yes |
//!
//! A new connection adds the greeting, `USER`, `PASS`, `TYPE I`, `CWD` (and `FEAT` on first
//! use). The harnesses also count the commands a private vsftpd logs, which settles the
//! exact number (see [`crate::server`]).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use ftpchat_core::{Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportEvent};

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `size` calls.
    pub size: u64,
    /// `read_from` calls.
    pub read_from: u64,
    /// `read_from` calls with offset 0 (whole-file reads).
    pub read_whole: u64,
    /// `list` calls.
    pub list: u64,
    /// `append` calls.
    pub append: u64,
    /// `write_atomic` calls.
    pub write_atomic: u64,
    /// `make_dir`, `remove_file`, `remove_dir` and `rename` calls.
    pub other: u64,
    /// Bytes delivered by `read_from` (payload read).
    pub bytes_read: u64,
    /// Bytes sent by `append` and `write_atomic`.
    pub bytes_written: u64,
    /// Directory entries returned by `list`.
    pub entries_listed: u64,
}

impl Counts {
    /// Every transport call.
    pub fn calls(&self) -> u64 {
        self.size + self.read_from + self.list + self.append + self.write_atomic + self.other
    }

    /// FTP command round trips these calls cost on a logged-in session, by the table of
    /// the [module documentation](self) (data connections not counted).
    pub fn ftp_commands_estimate(&self) -> u64 {
        let resumed = self.read_from - self.read_whole;
        self.size
            + 2 * self.read_whole
            + 3 * resumed
            + 2 * self.list
            + 3 * self.append
            + 5 * self.write_atomic
            + 2 * self.other
    }

    /// Data connections opened (one per read, listing, append, upload).
    pub fn data_connections(&self) -> u64 {
        self.read_from + self.list + self.append + self.write_atomic
    }

    /// `self - earlier`, field by field.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            size: self.size - earlier.size,
            read_from: self.read_from - earlier.read_from,
            read_whole: self.read_whole - earlier.read_whole,
            list: self.list - earlier.list,
            append: self.append - earlier.append,
            write_atomic: self.write_atomic - earlier.write_atomic,
            other: self.other - earlier.other,
            bytes_read: self.bytes_read - earlier.bytes_read,
            bytes_written: self.bytes_written - earlier.bytes_written,
            entries_listed: self.entries_listed - earlier.entries_listed,
        }
    }

    /// A compact description of the calls, e.g. `1 SIZE` or `1 LIST + 1 REST/RETR`.
    pub fn describe_calls(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |n: u64, what: &str| {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        };
        add(self.size, "size");
        add(self.list, "list");
        add(self.read_from, "read");
        add(self.append, "append");
        add(self.write_atomic, "upload");
        add(self.other, "other");
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(" + ")
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    size: AtomicU64,
    read_from: AtomicU64,
    read_whole: AtomicU64,
    list: AtomicU64,
    append: AtomicU64,
    write_atomic: AtomicU64,
    other: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    entries_listed: AtomicU64,
}

/// Counts the calls and bytes going through an inner transport. See the
/// [module documentation](self).
#[derive(Debug)]
pub struct CountingTransport<T> {
    inner: T,
    counters: Counters,
}

impl<T: Transport> CountingTransport<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        CountingTransport {
            inner,
            counters: Counters::default(),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            size: get(&c.size),
            read_from: get(&c.read_from),
            read_whole: get(&c.read_whole),
            list: get(&c.list),
            append: get(&c.append),
            write_atomic: get(&c.write_atomic),
            other: get(&c.other),
            bytes_read: get(&c.bytes_read),
            bytes_written: get(&c.bytes_written),
            entries_listed: get(&c.entries_listed),
        }
    }
}

fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

impl<T: Transport> Transport for CountingTransport<T> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        bump(&self.counters.size, 1);
        self.inner.size(path)
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        bump(&self.counters.read_from, 1);
        if offset == 0 {
            bump(&self.counters.read_whole, 1);
        }
        // Count what reaches the sink, also when the read fails half-way.
        let mut counting = CountingSink { inner: sink, n: 0 };
        let result = self.inner.read_from(path, offset, &mut counting);
        bump(&self.counters.bytes_read, counting.n);
        result
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        bump(&self.counters.append, 1);
        bump(&self.counters.bytes_written, data.len() as u64);
        self.inner.append(path, data)
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        bump(&self.counters.write_atomic, 1);
        bump(&self.counters.bytes_written, data.len() as u64);
        self.inner.write_atomic(path, data)
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        bump(&self.counters.list, 1);
        let entries = self.inner.list(dir)?;
        bump(&self.counters.entries_listed, entries.len() as u64);
        Ok(entries)
    }

    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        bump(&self.counters.write_atomic, 1);
        bump(&self.counters.bytes_written, data.len() as u64);
        self.inner.write_new(path, data)
    }

    fn list_after(
        &self,
        dir: &RemotePath,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, TransportError> {
        bump(&self.counters.list, 1);
        let entries = self.inner.list_after(dir, after, limit)?;
        bump(&self.counters.entries_listed, entries.len() as u64);
        Ok(entries)
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        bump(&self.counters.other, 1);
        self.inner.make_dir(path)
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        bump(&self.counters.other, 1);
        self.inner.remove_file(path)
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        bump(&self.counters.other, 1);
        self.inner.remove_dir(path)
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        bump(&self.counters.other, 1);
        self.inner.rename(from, to)
    }

    fn take_events(&self) -> Vec<TransportEvent> {
        self.inner.take_events()
    }
}

struct CountingSink<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for CountingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ftpchat_core::testing::MemoryTransport;

    #[test]
    fn counts_calls_and_bytes() {
        let t = CountingTransport::new(MemoryTransport::new());
        let p = RemotePath::new("chat.txt").unwrap();
        t.append(&p, b"hello\n").unwrap();
        let before = t.counts();
        assert_eq!(t.size(&p).unwrap(), Some(6));
        let mut buf = Vec::new();
        t.read_from(&p, 2, &mut buf).unwrap();
        let d = t.counts().since(&before);
        assert_eq!(
            (d.size, d.read_from, d.read_whole, d.bytes_read),
            (1, 1, 0, 4)
        );
        assert_eq!(d.calls(), 2);
        assert_eq!(d.ftp_commands_estimate(), 4);
        assert_eq!(d.describe_calls(), "1 size + 1 read");
    }
}
