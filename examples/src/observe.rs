//! A transport wrapper that watches what goes through it, for a status bar: whether the
//! server answers (online/offline) and how much of the files being read has arrived (a
//! download progress bar for a large history). It changes nothing it forwards.
//! Attachment files (`files/<blob>`) are not history: their transfers report their own
//! progress, so they are left out of it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ftpchat_core::{Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportEvent};

/// Whether the store answered the last operation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Connectivity {
    /// Nothing tried yet.
    #[default]
    Unknown,
    /// The last operation got an answer (a "not found" is an answer).
    Online,
    /// The last operation failed to reach the store; the message says why.
    Offline(String),
}

/// Bytes read so far against bytes known to be there, over every file read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bytes of the known files that have arrived.
    pub done: u64,
    /// Bytes of the known files (from listings and `size`).
    pub total: u64,
}

impl Progress {
    /// Bytes known but not yet read.
    pub fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.done)
    }

    /// `done / total`, between 0 and 1 (1 when nothing is known).
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.done.min(self.total) as f64) / (self.total as f64)
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    connectivity: Connectivity,
    /// Last known size of each file.
    sizes: HashMap<String, u64>,
    /// How far into each file reads have got.
    read_to: HashMap<String, u64>,
    /// When bytes last arrived.
    last_read: Option<Instant>,
}

/// Shared view of what an [`ObservedTransport`] saw; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    stats: Arc<Mutex<Stats>>,
}

impl Observer {
    fn lock(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the store answered the last operation.
    pub fn connectivity(&self) -> Connectivity {
        self.lock().connectivity.clone()
    }

    /// Download progress over every file seen.
    pub fn progress(&self) -> Progress {
        let stats = self.lock();
        let mut p = Progress::default();
        for (path, size) in &stats.sizes {
            p.total += size;
            p.done += stats.read_to.get(path).copied().unwrap_or(0).min(*size);
        }
        p
    }

    fn record<T>(&self, result: &Result<T, TransportError>) {
        let mut stats = self.lock();
        stats.connectivity = match result {
            Ok(_) => Connectivity::Online,
            Err(e) if e.is_transient() => Connectivity::Offline(e.to_string()),
            // A permanent error (not found, refused) is still an answer.
            Err(_) => Connectivity::Online,
        };
    }

    /// `true` when bytes arrived within `window`.
    pub fn reading_within(&self, window: Duration) -> bool {
        self.lock().last_read.is_some_and(|t| t.elapsed() <= window)
    }

    /// Records a file's size. The room engine reads whatever is new in a file right after
    /// it learns its size, so by the next time the size is seen, everything up to the
    /// previous size counts as read (a file that did not grow is never read again).
    fn size_of(&self, path: &str, size: u64) {
        if is_attachment(path) {
            return;
        }
        let mut stats = self.lock();
        if let Some(previous) = stats.sizes.insert(path.to_owned(), size) {
            let entry = stats.read_to.entry(path.to_owned()).or_insert(0);
            *entry = (*entry).max(previous);
        }
    }

    fn read_at(&self, path: &str, offset: u64, arrived: bool) {
        if is_attachment(path) {
            return;
        }
        let mut stats = self.lock();
        let entry = stats.read_to.entry(path.to_owned()).or_insert(0);
        *entry = (*entry).max(offset);
        if arrived {
            stats.last_read = Some(Instant::now());
        }
    }
}

/// `true` for an attachment's blob: `files/` and 32 hex digits at the end of the path.
fn is_attachment(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or_default();
    parts.next() == Some("files") && name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A transport that reports to an [`Observer`]; see the [module documentation](self).
#[derive(Debug)]
pub struct ObservedTransport {
    inner: Arc<dyn Transport>,
    observer: Observer,
}

impl ObservedTransport {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        ObservedTransport {
            inner,
            observer: Observer::default(),
        }
    }

    /// The observer to poll from a UI.
    pub fn observer(&self) -> Observer {
        self.observer.clone()
    }
}

/// Counts bytes into the observer as they arrive.
struct CountingSink<'a> {
    inner: &'a mut dyn Write,
    observer: &'a Observer,
    path: &'a str,
    position: u64,
}

impl Write for CountingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.position += n as u64;
        self.observer.read_at(self.path, self.position, true);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Transport for ObservedTransport {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        let result = self.inner.size(path);
        self.observer.record(&result);
        if let Ok(Some(size)) = result {
            self.observer.size_of(path.as_str(), size);
        }
        result
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        self.observer.read_at(path.as_str(), offset, false);
        let mut counting = CountingSink {
            inner: sink,
            observer: &self.observer,
            path: path.as_str(),
            position: offset,
        };
        let result = self.inner.read_from(path, offset, &mut counting);
        self.observer.record(&result);
        result
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let result = self.inner.append(path, data);
        self.observer.record(&result);
        result
    }

    fn append_from(&self, path: &RemotePath, source: &mut dyn Read) -> Result<u64, TransportError> {
        // Forwarded as it is (the default would cut a stream into many appends).
        let result = self.inner.append_from(path, source);
        self.observer.record(&result);
        result
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let result = self.inner.write_atomic(path, data);
        self.observer.record(&result);
        result
    }

    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let result = self.inner.write_new(path, data);
        self.observer.record(&result);
        result
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        let result = self.inner.list(dir);
        self.observer.record(&result);
        if let Ok(entries) = &result {
            // Only logs (`<writer>.log`): temporary files and locks are never read.
            let logs = entries
                .iter()
                .filter(|e| !e.is_dir && e.name.ends_with(".log") && !e.name.starts_with('.'));
            for entry in logs {
                if let (Some(size), Ok(path)) = (entry.size, dir.join(&entry.name)) {
                    self.observer.size_of(path.as_str(), size);
                }
            }
        }
        result
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        let result = self.inner.make_dir(path);
        self.observer.record(&result);
        result
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        let result = self.inner.remove_file(path);
        self.observer.record(&result);
        result
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        let result = self.inner.remove_dir(path);
        self.observer.record(&result);
        result
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        let result = self.inner.rename(from, to);
        self.observer.record(&result);
        result
    }

    fn take_events(&self) -> Vec<TransportEvent> {
        self.inner.take_events()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ftpchat_core::testing::{FaultyTransport, MemoryTransport, Op};
    use ftpchat_core::TransportErrorKind;

    #[test]
    fn tracks_progress_and_connectivity() {
        let memory = MemoryTransport::default();
        let dir = RemotePath::new("logs").unwrap();
        memory.make_dir(&dir).unwrap();
        let a = dir.join("a.log").unwrap();
        memory.append(&a, &[b'x'; 1000]).unwrap();
        let t = ObservedTransport::new(Arc::new(memory));
        let obs = t.observer();
        assert_eq!(obs.connectivity(), Connectivity::Unknown);
        t.list(&dir).unwrap();
        assert_eq!(obs.connectivity(), Connectivity::Online);
        assert_eq!(
            obs.progress(),
            Progress {
                done: 0,
                total: 1000
            }
        );
        let mut sink = Vec::new();
        t.read_from(&a, 200, &mut sink).unwrap();
        assert_eq!(
            obs.progress(),
            Progress {
                done: 1000,
                total: 1000
            }
        );
        assert_eq!(obs.progress().remaining(), 0);
        assert!(obs.reading_within(Duration::from_secs(60)));

        // A file that is listed again without growing counts as read.
        let b = dir.join("b.log").unwrap();
        t.append(&b, &[b'y'; 500]).unwrap();
        t.list(&dir).unwrap();
        assert_eq!(obs.progress().remaining(), 500);
        t.list(&dir).unwrap();
        assert_eq!(
            obs.progress(),
            Progress {
                done: 1500,
                total: 1500
            }
        );
    }

    #[test]
    fn attachments_are_not_history_and_streams_are_forwarded() {
        let memory = MemoryTransport::default();
        let t = ObservedTransport::new(Arc::new(memory));
        let obs = t.observer();
        let files = RemotePath::new("lobby/files").unwrap();
        t.make_dir(&RemotePath::new("lobby").unwrap()).unwrap();
        t.make_dir(&files).unwrap();
        let blob = files.join("0123456789abcdef0123456789abcdef").unwrap();
        let data = vec![7u8; 300_000];
        assert_eq!(t.append_from(&blob, &mut &data[..]).unwrap(), 300_000);
        assert_eq!(t.size(&blob).unwrap(), Some(300_000));
        let mut sink = Vec::new();
        t.read_from(&blob, 0, &mut sink).unwrap();
        assert_eq!(sink, data);
        assert_eq!(obs.progress(), Progress::default());
        assert!(!obs.reading_within(Duration::from_secs(60)));
        assert_eq!(obs.connectivity(), Connectivity::Online);
        assert!(is_attachment("a/files/0123456789abcdef0123456789abcdef"));
        assert!(!is_attachment("a/logs/0123456789abcdef0123456789abcdef"));
        assert!(!is_attachment("files/x.log"));
    }

    #[test]
    fn transient_errors_mean_offline() {
        let faulty = Arc::new(FaultyTransport::new(MemoryTransport::default()));
        faulty.fail_nth(Op::Size, 1, TransportErrorKind::Transient);
        let t = ObservedTransport::new(faulty);
        let obs = t.observer();
        let p = RemotePath::new("x").unwrap();
        assert!(t.size(&p).is_err());
        assert!(matches!(obs.connectivity(), Connectivity::Offline(_)));
        assert_eq!(t.size(&p).unwrap(), None);
        assert_eq!(obs.connectivity(), Connectivity::Online);
    }
}
