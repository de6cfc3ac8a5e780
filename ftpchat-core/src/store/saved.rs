//! A room's saved state in the store (schema version 4): its state text and its outbox,
//! saved in the same transaction as the messages a sync read, so the read positions never
//! run ahead of the stored messages and no stored pending message lacks its outbox row.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::encode::{decode_key, encode_key};
use super::{put_batch, room_row, LocalStore, PutError, StoreError};
use crate::timeline::{Author, Message, MessageId, SortKey};

/// One unsent message as the store keeps it: its place in the outbox (`pos`, increasing in
/// sending order), its id and sort key, and the line or record that delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxRow {
    pub pos: i64,
    pub id: MessageId,
    pub key: SortKey,
    pub line: String,
}

/// What a room saves beside its messages: the state text when it changed, and the outbox
/// rows to delete (by `pos`) and to add.
#[derive(Debug, Default)]
pub(crate) struct RoomSave<'a> {
    pub state: Option<&'a str>,
    pub outbox_removed: &'a [i64],
    pub outbox_added: &'a [OutboxRow],
}

impl RoomSave<'_> {
    fn is_empty(&self) -> bool {
        self.state.is_none() && self.outbox_removed.is_empty() && self.outbox_added.is_empty()
    }
}

impl LocalStore {
    /// Stores `messages` (as [`put_authored`](Self::put_authored)) and `save` in one
    /// transaction: on disk together when this returns, or neither.
    pub(crate) fn put_and_save(
        &self,
        room: &str,
        messages: &[(&SortKey, &Message, Option<Author>)],
        run: i64,
        save: &RoomSave<'_>,
    ) -> Result<usize, StoreError> {
        if messages.is_empty() && save.is_empty() {
            return Ok(0);
        }
        let batch = Self::batch(messages);
        let mut conn = self.lock();
        (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored = if batch.is_empty() {
                0
            } else {
                put_batch(&tx, room, &batch, run)?
            };
            if !save.is_empty() {
                let id = room_row(&tx, room)?.id;
                if let Some(text) = save.state {
                    tx.execute(
                        "INSERT INTO room_state(room, text) VALUES (?1, ?2)
                         ON CONFLICT(room) DO UPDATE SET text = excluded.text",
                        params![id, text],
                    )?;
                }
                let mut delete = tx.prepare("DELETE FROM outbox WHERE room = ?1 AND pos = ?2")?;
                for pos in save.outbox_removed {
                    delete.execute(params![id, pos])?;
                }
                let mut insert = tx.prepare(
                    "INSERT INTO outbox(room, pos, id, sort, line) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for row in save.outbox_added {
                    insert.execute(params![
                        id,
                        row.pos,
                        row.id.0.to_vec(),
                        encode_key(&row.key),
                        row.line
                    ])?;
                }
            }
            tx.commit()?;
            Ok(stored)
        })()
        .map_err(|e: PutError| self.put_error(e))
    }

    /// The state text and the outbox (in sending order) that `room` saved, or `None` when
    /// it saved none in this store.
    pub(crate) fn load_saved(
        &self,
        room: &str,
    ) -> Result<Option<(String, Vec<OutboxRow>)>, StoreError> {
        let conn = self.lock();
        (|| {
            let Some((id, text)) = conn
                .query_row(
                    "SELECT s.room, s.text FROM room_state AS s JOIN rooms AS r ON r.id = s.room
                     WHERE r.key = ?1",
                    [room],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut rows = conn
                .prepare("SELECT pos, id, sort, line FROM outbox WHERE room = ?1 ORDER BY pos")?;
            let outbox = rows
                .query_map([id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some((text, outbox)))
        })()
        .map_err(|e| self.err(e))?
        .map(|(text, outbox)| {
            let outbox = outbox
                .into_iter()
                .map(|(pos, id, sort, line)| {
                    let id = <[u8; 16]>::try_from(id.as_slice()).ok().map(MessageId);
                    match (id, decode_key(&sort)) {
                        (Some(id), Some(key)) => Ok(OutboxRow { pos, id, key, line }),
                        _ => Err(StoreError::corrupt(
                            &self.path,
                            "an outbox row's id or sort key is invalid",
                        )),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((text, outbox))
        })
        .transpose()
    }
}

impl LocalStore {
    /// The segment cache of `room` (its text), if one is saved.
    pub(crate) fn segment_cache(&self, room: &str) -> Result<Option<String>, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT c.text FROM segment_cache AS c JOIN rooms AS r ON r.id = c.room
             WHERE r.key = ?1",
            [room],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Saves `text` as the segment cache of `room`; `None` deletes it.
    pub(crate) fn save_segment_cache(
        &self,
        room: &str,
        text: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write_room(room, |tx, id| {
            match text {
                Some(text) => tx.execute(
                    "INSERT INTO segment_cache(room, text) VALUES (?1, ?2)
                     ON CONFLICT(room) DO UPDATE SET text = excluded.text",
                    params![id, text],
                )?,
                None => tx.execute("DELETE FROM segment_cache WHERE room = ?1", [id])?,
            };
            Ok(())
        })
    }
}

impl LocalStore {
    /// The key of every room with a saved state.
    #[cfg(feature = "testing")]
    pub(crate) fn room_keys(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        (|| {
            conn.prepare("SELECT r.key FROM rooms AS r JOIN room_state AS s ON s.room = r.id")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })()
        .map_err(|e| self.err(e))
    }
}

/// Takes the store at `path` back to schema version 3 (what a version before schema 4
/// left, for migration tests): its saved states, outboxes and membership caches
/// (versions 4 and 5) are dropped.
#[cfg(feature = "testing")]
pub(crate) fn downgrade_to_version_3(path: &std::path::Path) -> Result<(), StoreError> {
    let conn = rusqlite::Connection::open(path).map_err(|e| StoreError::from_sqlite(path, e))?;
    conn.execute_batch(
        "DROP TABLE room_state; DROP TABLE outbox; DROP TABLE commits; DROP TABLE epoch_keys;
         DROP TABLE device_states; DROP TABLE segment_cache;
         PRAGMA user_version = 3;",
    )
    .map_err(|e| StoreError::from_sqlite(path, e))
}
