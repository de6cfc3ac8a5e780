//! The optional shared-file lock: an atomic `MKD` of `<file>.lock`, with an owner file
//! that says when it expires, so a crashed client cannot hold it forever.
//!
//! The owner file also carries a random nonce per acquisition. A holder that stalled past
//! its lock's lifetime may find that another client broke the lock and took it: the nonce
//! lets it release only a lock that is still its own, and [`Held::guard`] refuses to
//! append once the lifetime is over. Every wait and expiry runs on the room's [`Clock`]
//! (tests drive it with simulated time).

use std::io::Write;
use std::time::Duration;

use super::config::Clock;
use super::{RoomError, RoomEvent};
use crate::transport::{
    self, Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
    TransportEvent,
};

/// The largest owner file read.
const MAX_OWNER_LEN: usize = 1024;
/// Extra time allowed beyond an expiry for clocks that disagree.
const CLOCK_SKEW_ALLOWANCE_MS: u64 = 10_000;

#[derive(Debug, Clone)]
pub(crate) struct FileLock {
    dir: RemotePath,
    owner: RemotePath,
    ttl: Duration,
    wait: Duration,
}

/// One acquisition of a [`FileLock`]: needed to release it and to append under it.
#[derive(Debug)]
pub(crate) struct Held {
    /// Random, in the owner file: tells our acquisition from a successor's.
    nonce: String,
    /// Our clock's time when the lock expires (as written in the owner file).
    expires_ms: u64,
}

/// Time spent waiting since a moment: the clock's difference, but at least what was
/// slept since, so a wall clock stepped back cannot make a wait endless.
#[derive(Debug, Clone, Copy)]
struct Since {
    at_ms: u64,
    slept: Duration,
}

impl Since {
    fn now(clock: &dyn Clock, slept: Duration) -> Self {
        Since {
            at_ms: clock.now_ms(),
            slept,
        }
    }

    fn elapsed(&self, clock: &dyn Clock, slept: Duration) -> Duration {
        let by_clock = Duration::from_millis(clock.now_ms().saturating_sub(self.at_ms));
        by_clock.max(slept.saturating_sub(self.slept))
    }
}

impl FileLock {
    pub fn new(file: &RemotePath, ttl: Duration, wait: Duration) -> Result<Self, RoomError> {
        let dir = RemotePath::new(&format!("{file}.lock"))?;
        let owner = dir.join("owner")?;
        Ok(FileLock {
            dir,
            owner,
            ttl,
            wait,
        })
    }

    /// Takes the lock, waiting (bounded) while another client holds it and removing it
    /// when its owner let it expire.
    pub fn acquire(
        &self,
        t: &dyn Transport,
        clock: &dyn Clock,
        writer_tag: &str,
        events: &mut Vec<RoomEvent>,
    ) -> Result<Held, RoomError> {
        let mut slept = Duration::ZERO;
        let started = Since::now(clock, slept);
        let mut pause = Duration::from_millis(2);
        let mut ownerless_since: Option<Since> = None;
        let allowance = Duration::from_millis(CLOCK_SKEW_ALLOWANCE_MS);
        loop {
            match t.make_dir(&self.dir) {
                Ok(()) => {
                    let nonce = hex(&crate::crypto::random_bytes::<16>());
                    let expires_ms = clock.now_ms().saturating_add(millis(self.ttl));
                    let owner = format!("expires {expires_ms} {writer_tag} {nonce}\n");
                    if let Err(e) = t.append(&self.owner, owner.as_bytes()) {
                        // We made the directory; no one else writes an owner file into it.
                        let _ = self.remove(t);
                        return Err(e.into());
                    }
                    return Ok(Held { nonce, expires_ms });
                }
                Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {
                    // An owner file is one short line; a huge one is not read into memory.
                    let expiry = match transport::read_bounded(t, &self.owner, MAX_OWNER_LEN) {
                        Ok(bytes) => bytes.as_deref().and_then(parse_owner).map(|o| o.expires),
                        Err(e) if e.kind() == TransportErrorKind::NotFound => None,
                        Err(e) => return Err(e.into()),
                    };
                    let stale = match expiry {
                        Some(expires) => {
                            ownerless_since = None;
                            clock.now_ms() > expires.saturating_add(CLOCK_SKEW_ALLOWANCE_MS)
                        }
                        // No owner file, or one still being written: give it the lock's
                        // lifetime (the holder may be between its MKD and its write).
                        None => {
                            ownerless_since
                                .get_or_insert_with(|| Since::now(clock, slept))
                                .elapsed(clock, slept)
                                > self.ttl + allowance
                        }
                    };
                    if stale {
                        self.remove(t)?;
                        events.push(RoomEvent::StaleLockRemoved);
                        // Bounded even if a hostile server keeps showing stale locks.
                        if started.elapsed(clock, slept) <= self.wait {
                            continue;
                        }
                    }
                }
                Err(e) => return Err(e.into()),
            }
            if started.elapsed(clock, slept) > self.wait {
                return Err(RoomError::LockTimeout);
            }
            // Jitter keeps waiting clients from retrying in lockstep.
            let jitter = u64::from(crate::crypto::random_bytes::<1>()[0] % 8);
            let nap = pause + Duration::from_millis(jitter);
            clock.sleep(nap);
            slept += nap;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Releases the lock if it is still ours: a lock broken (after we let it expire) and
    /// taken by another client is theirs, and stays.
    pub fn release(&self, t: &dyn Transport, held: &Held) -> Result<(), RoomError> {
        match transport::read_bounded(t, &self.owner, MAX_OWNER_LEN) {
            Ok(Some(bytes))
                if parse_owner(&bytes).and_then(|o| o.nonce) == Some(held.nonce.as_str()) =>
            {
                self.remove(t)
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == TransportErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the lock, whoever holds it (tolerating parts that are already gone).
    fn remove(&self, t: &dyn Transport) -> Result<(), RoomError> {
        for result in [t.remove_file(&self.owner), t.remove_dir(&self.dir)] {
            match result {
                Ok(()) => {}
                Err(e) if e.kind() == TransportErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl Held {
    /// `t`, but refusing to append once this lock's lifetime is over by `clock`: others
    /// may have broken it by then. The refusal is transient, so the delivery is retried
    /// under a newly acquired lock.
    pub fn guard<'a>(&'a self, t: &'a dyn Transport, clock: &'a dyn Clock) -> Guarded<'a> {
        Guarded {
            inner: t,
            held: self,
            clock,
        }
    }
}

/// A transport that appends only while a [`Held`] lock is within its lifetime.
#[derive(Debug)]
pub(crate) struct Guarded<'a> {
    inner: &'a dyn Transport,
    held: &'a Held,
    clock: &'a dyn Clock,
}

impl Transport for Guarded<'_> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        self.inner.size(path)
    }
    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        self.inner.read_from(path, offset, sink)
    }
    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        // Checked right before the append: the reads before it may have taken long.
        if self.clock.now_ms() >= self.held.expires_ms {
            return Err(TransportError::new(
                TransportErrorKind::Transient,
                "append",
                format!("{path}: the lock expired before the append (another client may hold it now); not appended"),
            ));
        }
        self.inner.append(path, data)
    }
    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.inner.write_atomic(path, data)
    }
    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.inner.write_new(path, data)
    }
    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        self.inner.list(dir)
    }
    fn list_after(
        &self,
        dir: &RemotePath,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, TransportError> {
        self.inner.list_after(dir, after, limit)
    }
    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.make_dir(path)
    }
    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.remove_file(path)
    }
    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.inner.remove_dir(path)
    }
    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.inner.rename(from, to)
    }
    fn take_events(&self) -> Vec<TransportEvent> {
        self.inner.take_events()
    }
}

/// The parsed owner line `expires <unix-ms> <writer-id> [<nonce>]` (older ftpchat versions
/// wrote no nonce; only the first two words matter to others).
struct Owner<'a> {
    expires: u64,
    nonce: Option<&'a str>,
}

fn parse_owner(bytes: &[u8]) -> Option<Owner<'_>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut words = text.split_whitespace();
    (words.next()? == "expires").then_some(())?;
    let expires = words.next()?.parse().ok()?;
    let _writer = words.next();
    Some(Owner {
        expires,
        nonce: words.next(),
    })
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::transport::memory::MemoryTransport;

    #[derive(Debug)]
    struct FakeClock(AtomicU64);

    impl Clock for FakeClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
        fn sleep(&self, d: Duration) {
            self.0.fetch_add(millis(d), Ordering::SeqCst);
        }
    }

    fn p(s: &str) -> RemotePath {
        RemotePath::new(s).unwrap()
    }

    #[test]
    fn each_acquisition_writes_its_own_nonce_and_releases_only_it() {
        let t = MemoryTransport::new();
        let clock = FakeClock(AtomicU64::new(1_000));
        let lock =
            FileLock::new(&p("c.txt"), Duration::from_secs(30), Duration::from_secs(1)).unwrap();
        let mut events = Vec::new();
        let first = lock.acquire(&t, &clock, "aa", &mut events).unwrap();
        let owner = transport::read_all(&t, &p("c.txt.lock/owner")).unwrap();
        assert_eq!(
            String::from_utf8(owner).unwrap(),
            format!("expires 31000 aa {}\n", first.nonce)
        );
        assert_eq!(first.nonce.len(), 32);
        lock.release(&t, &first).unwrap();
        let second = lock.acquire(&t, &clock, "aa", &mut events).unwrap();
        assert_ne!(first.nonce, second.nonce);
        // A stale acquisition's release leaves the current one alone.
        lock.release(&t, &first).unwrap();
        assert!(t.size(&p("c.txt.lock/owner")).unwrap().is_some());
        lock.release(&t, &second).unwrap();
        assert_eq!(t.size(&p("c.txt.lock/owner")).unwrap(), None);
        assert!(t.list(&p("c.txt.lock")).is_err());
    }

    #[test]
    fn the_guard_refuses_appends_once_the_lifetime_is_over() {
        let t = MemoryTransport::new();
        let clock = FakeClock(AtomicU64::new(1_000));
        let lock =
            FileLock::new(&p("c.txt"), Duration::from_secs(30), Duration::from_secs(1)).unwrap();
        let held = lock.acquire(&t, &clock, "aa", &mut Vec::new()).unwrap();
        let guarded = held.guard(&t, &clock);
        guarded.append(&p("c.txt"), b"in time\n").unwrap();
        clock.sleep(Duration::from_secs(30));
        let err = guarded.append(&p("c.txt"), b"too late\n").unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(t.size(&p("c.txt")).unwrap(), Some(8));
    }
}
