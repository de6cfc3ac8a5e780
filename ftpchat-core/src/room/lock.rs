//! The optional shared-file lock: an atomic `MKD` of `<file>.lock`, with an owner file
//! that says when it expires, so a crashed client cannot hold it forever.

use std::time::{Duration, Instant};

use super::config::Clock;
use super::{RoomError, RoomEvent};
use crate::transport::{self, RemotePath, Transport, TransportErrorKind};

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
    ) -> Result<(), RoomError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(2);
        let mut ownerless_since: Option<Instant> = None;
        loop {
            match t.make_dir(&self.dir) {
                Ok(()) => {
                    let expires = clock.now_ms() + self.ttl.as_millis() as u64;
                    let owner = format!("expires {expires} {writer_tag}\n");
                    if let Err(e) = t.append(&self.owner, owner.as_bytes()) {
                        let _ = self.release(t);
                        return Err(e.into());
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == TransportErrorKind::AlreadyExists => {
                    // An owner file is one short line; a huge one is not read into memory.
                    let expiry = match transport::read_bounded(t, &self.owner, MAX_OWNER_LEN) {
                        Ok(bytes) => bytes.as_deref().and_then(parse_expiry),
                        Err(e) if e.kind() == TransportErrorKind::NotFound => None,
                        Err(e) => return Err(e.into()),
                    };
                    let stale = match expiry {
                        Some(expires) => {
                            ownerless_since = None;
                            clock.now_ms() > expires + CLOCK_SKEW_ALLOWANCE_MS
                        }
                        // No owner file, or one still being written: give it the lock's
                        // lifetime (the holder may be between its MKD and its write).
                        None => {
                            ownerless_since.get_or_insert_with(Instant::now).elapsed()
                                > self.ttl + Duration::from_millis(CLOCK_SKEW_ALLOWANCE_MS)
                        }
                    };
                    if stale {
                        self.release(t)?;
                        events.push(RoomEvent::StaleLockRemoved);
                        continue;
                    }
                }
                Err(e) => return Err(e.into()),
            }
            if started.elapsed() > self.wait {
                return Err(RoomError::LockTimeout);
            }
            // Jitter keeps waiting clients from retrying in lockstep.
            let jitter = u64::from(crate::crypto::random_bytes::<1>()[0] % 8);
            std::thread::sleep(pause + Duration::from_millis(jitter));
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Removes the lock (tolerating parts that are already gone).
    pub fn release(&self, t: &dyn Transport) -> Result<(), RoomError> {
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

fn parse_expiry(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut words = text.split_whitespace();
    (words.next()? == "expires").then_some(())?;
    words.next()?.parse().ok()
}
