//! A member room's membership cache in the store (schema version 5): the commits of its
//! membership log, the epoch secrets this device opened and each writer's newest state
//! file. A cache: the server holds the commits and state files, and the secrets are
//! unwrapped from the commits with the device's identity.

use rusqlite::params;
use zeroize::Zeroizing;

use super::{LocalStore, StoreError};

impl LocalStore {
    /// The cached commits of `room`, in order.
    pub(crate) fn cached_commits(&self, room: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let conn = self.lock();
        (|| {
            conn.prepare_cached(
                "SELECT c.data FROM commits AS c JOIN rooms AS r ON r.id = c.room
                 WHERE r.key = ?1 ORDER BY c.n",
            )?
            .query_map([room], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<Vec<u8>>>>()
        })()
        .map_err(|e| self.err(e))
    }

    /// Adds `commits` after the cached ones of `room` (`replace`: instead of them), and
    /// `key` (an epoch and its secret) to its epoch secrets, in one transaction. With
    /// `replace`, the epoch secrets are dropped first (they may belong to the commits
    /// replaced).
    pub(crate) fn cache_membership(
        &self,
        room: &str,
        commits: &[&[u8]],
        replace: bool,
        key: Option<(u64, &[u8; 32])>,
    ) -> Result<(), StoreError> {
        self.write_room(room, |tx, id| {
            if replace {
                tx.execute("DELETE FROM commits WHERE room = ?1", [id])?;
                tx.execute("DELETE FROM epoch_keys WHERE room = ?1", [id])?;
            }
            let next: i64 = tx.query_row(
                "SELECT coalesce(max(n) + 1, 0) FROM commits WHERE room = ?1",
                [id],
                |r| r.get(0),
            )?;
            let mut insert =
                tx.prepare("INSERT INTO commits(room, n, data) VALUES (?1, ?2, ?3)")?;
            for (n, commit) in (next..).zip(commits) {
                insert.execute(params![id, n, commit])?;
            }
            drop(insert);
            if let Some((epoch, secret)) = key {
                tx.execute(
                    "INSERT OR REPLACE INTO epoch_keys(room, epoch, secret) VALUES (?1, ?2, ?3)",
                    params![id, i64::try_from(epoch).unwrap_or(i64::MAX), &secret[..]],
                )?;
            }
            Ok(())
        })
    }

    /// The cached epoch secrets of `room`, by epoch; `None` when there are none (then the
    /// commits are checked and the secrets unwrapped again).
    #[allow(clippy::type_complexity)]
    pub(crate) fn cached_epoch_keys(
        &self,
        room: &str,
    ) -> Result<Option<Vec<(u64, Zeroizing<[u8; 32]>)>>, StoreError> {
        let conn = self.lock();
        let rows = (|| {
            conn.prepare_cached(
                "SELECT k.epoch, k.secret FROM epoch_keys AS k JOIN rooms AS r ON r.id = k.room
                 WHERE r.key = ?1 ORDER BY k.epoch",
            )?
            .query_map([room], |r| {
                Ok((r.get::<_, i64>(0)?, Zeroizing::new(r.get::<_, Vec<u8>>(1)?)))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(|e| self.err(e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        rows.into_iter()
            .map(|(epoch, secret)| {
                let epoch = u64::try_from(epoch).ok();
                let secret: Option<[u8; 32]> = secret.as_slice().try_into().ok();
                match (epoch, secret) {
                    (Some(e), Some(s)) => Ok((e, Zeroizing::new(s))),
                    _ => Err(StoreError::corrupt(
                        &self.path,
                        "a cached epoch secret is invalid",
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The cached state files of `room`: per writer, its counter and the file's bytes.
    #[allow(clippy::type_complexity)]
    pub(crate) fn cached_device_states(
        &self,
        room: &str,
    ) -> Result<Vec<([u8; 16], u64, Vec<u8>)>, StoreError> {
        let conn = self.lock();
        let rows = (|| {
            conn.prepare_cached(
                "SELECT d.writer, d.counter, d.data FROM device_states AS d
                 JOIN rooms AS r ON r.id = d.room WHERE r.key = ?1 ORDER BY d.writer",
            )?
            .query_map([room], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(writer, counter, data)| {
                match (writer.as_slice().try_into(), u64::try_from(counter)) {
                    (Ok(writer), Ok(counter)) => Ok((writer, counter, data)),
                    _ => Err(StoreError::corrupt(
                        &self.path,
                        "a cached state file's writer or counter is invalid",
                    )),
                }
            })
            .collect()
    }

    /// Keeps `states` (writer, counter, bytes) as the newest state file of their writers
    /// in `room`, in one transaction.
    pub(crate) fn cache_device_states(
        &self,
        room: &str,
        states: &[([u8; 16], u64, &[u8])],
    ) -> Result<(), StoreError> {
        if states.is_empty() {
            return Ok(());
        }
        self.write_room(room, |tx, id| {
            let mut upsert = tx.prepare(
                "INSERT INTO device_states(room, writer, counter, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(room, writer) DO UPDATE
                 SET counter = excluded.counter, data = excluded.data",
            )?;
            for (writer, counter, data) in states {
                let counter = i64::try_from(*counter).unwrap_or(i64::MAX);
                upsert.execute(params![id, &writer[..], counter, data])?;
            }
            Ok(())
        })
    }
}
