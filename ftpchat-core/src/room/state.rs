//! A room's local state: writer id, sequence, clock, read positions and outbox, so a
//! restarted client neither re-reads history nor loses or repeats a message.
//!
//! It is saved in the local store (schema version 4: `room_state` holds this text without
//! the outbox lines, `outbox` one row per unsent message), in the same transaction as the
//! messages a sync read (`Engine::persist`). Versions before kept it in a state file
//! beside the store, `room-<id>.state`, replaced atomically (temporary file + rename); a
//! room opening a folder with such a file moves it into the store and deletes it
//! (`RoomStore::load_saved`). The text, one field per line:
//!
//! ```text
//! ftpchat-state 1
//! writer <hex>
//! seq <n>
//! hlc <n>
//! own-log <len> <ends-with-lf 0|1>
//! cursor <base64url file name> <committed offset> <base64url overlap>
//! seq-seen <base64url log name> <highest seq accepted>
//! outbox <message id hex> <sort key> <line>
//! key-check <16 hex>
//! retired <writer id hex>
//! anchor <hash of commit 0, hex>                      (member rooms)
//! generation <writer generation>                       (member rooms)
//! prev <hash of the own log's last record, hex>        (member rooms)
//! chain <b64url log name> <seq> <record hash hex> <device key hex> [<unread hash hex>]  (member rooms)
//! blocked-at <sort key of the newest block list>        (member rooms)
//! blocked <member id hex>                               (member rooms)
//! stored 1                  (the local store holds every message before the positions)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;

use crate::format::{Hlc, WriterId};
use crate::timeline::{MessageId, ReaderState, SortKey};

/// One message waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub id: MessageId,
    pub key: SortKey,
    pub line: String,
}

/// Everything persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SavedState {
    pub writer: Option<WriterId>,
    pub seq: u64,
    pub hlc: Hlc,
    pub own_log_len: u64,
    pub own_log_ends_with_lf: bool,
    pub cursors: BTreeMap<String, ReaderState>,
    pub outbox: Vec<Outgoing>,
    /// The native room header, so the room opens while the server is unreachable.
    pub header: Option<String>,
    /// Highest sequence number accepted per native log (replay protection).
    pub max_seq: BTreeMap<String, u64>,
    /// Which key read the shared file up to the saved position ([`key_check`]): a run with
    /// another key must read the file again to learn whether that key is the room's.
    pub key_check: Option<String>,
    /// Writer ids this device used before switching (its records there are its own).
    pub retired: Vec<WriterId>,
    /// Member rooms: the hash of commit 0 (the room's trust anchor).
    pub anchor: Option<[u8; 32]>,
    /// Member rooms: this device's writer generation.
    pub generation: u64,
    /// Member rooms: the hash of this device's last record (the next one's `prev`).
    pub prev: Option<[u8; 32]>,
    /// Member rooms: each log's last accepted record (seq, hash, device key).
    pub chains: BTreeMap<String, ChainState>,
    /// Member rooms: the members this member blocks, and the place of the block list that
    /// said so (SPEC §8.4.2); kept here because a restart does not read that record again.
    pub blocked: Option<(SortKey, Vec<[u8; 16]>)>,
    /// The local store holds every message before the read positions (rooms with a state
    /// folder; see `room/stored.rs`).
    pub stored: bool,
    /// Shared files with a local store: the greatest arrival order stored, so that this
    /// run numbers the lines it reads after it (not part of the state file's text).
    pub file_order_floor: Option<u64>,
    /// Member rooms: where the membership log, the epoch secrets and the state files
    /// read are cached, in the local store (not part of the state's text).
    pub member_cache: Option<crate::room::members::MemberCache>,
}

/// A member room log's chain tip as saved: seq, record hash, device key, and the hash of
/// an unreadable line after it.
pub(crate) type ChainState = (u64, [u8; 32], [u8; 32], Option<[u8; 32]>);

/// 32 bytes from 64 hex digits.
pub(crate) fn hex32(s: &str) -> Option<[u8; 32]> {
    let v = hex_decode(s)?;
    v.try_into().ok()
}

/// Bytes from hex digits; `None` for anything else (`from_str_radix` alone would take a
/// sign, as in `+f`).
fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Lower-case hex digits.
pub(crate) fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// A short fingerprint of a key for the state file: 8 bytes of SHA-256 under a domain
/// string. It lets no one decrypt anything the state file does not already hold.
pub(crate) fn key_check(key: &crate::crypto::FernetKey) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(b"ftpchat state key check\0");
    hash.update(key.to_base64().as_bytes());
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

const MAGIC: &str = "ftpchat-state 1";

fn key_to_text(key: &SortKey) -> String {
    match key {
        SortKey::Native {
            hlc,
            writer,
            seq,
            id,
        } => {
            format!("n:{}:{}:{}:{}", hlc.0, writer.to_hex(), seq, id.to_hex())
        }
        SortKey::File { pending, order } => format!("f:{pending}:{order}"),
    }
}

fn key_from_text(s: &str) -> Option<SortKey> {
    let mut parts = s.split(':');
    match parts.next()? {
        "n" => Some(SortKey::Native {
            hlc: Hlc(parts.next()?.parse().ok()?),
            writer: WriterId::from_hex(parts.next()?)?,
            seq: parts.next()?.parse().ok()?,
            id: MessageId::from_hex(parts.next()?)?,
        }),
        "f" => Some(SortKey::File {
            pending: parts.next()?.parse().ok()?,
            order: parts.next()?.parse().ok()?,
        }),
        _ => None,
    }
}

impl SavedState {
    /// The state as text, without the outbox (which the local store keeps as rows).
    pub fn encode_state(&self) -> String {
        let mut out = format!("{MAGIC}\n");
        if let Some(w) = &self.writer {
            out += &format!("writer {}\n", w.to_hex());
        }
        out += &format!("seq {}\nhlc {}\n", self.seq, self.hlc.0);
        out += &format!(
            "own-log {} {}\n",
            self.own_log_len,
            u8::from(self.own_log_ends_with_lf)
        );
        if let Some(h) = &self.header {
            out += &format!("header {}\n", B64.encode(h));
        }
        for (name, c) in &self.cursors {
            out += &format!(
                "cursor {} {} {}\n",
                B64.encode(name),
                c.committed,
                B64.encode(&c.overlap)
            );
        }
        for (name, seq) in &self.max_seq {
            out += &format!("seq-seen {} {seq}\n", B64.encode(name));
        }
        if let Some(check) = &self.key_check {
            out += &format!("key-check {check}\n");
        }
        for w in &self.retired {
            out += &format!("retired {}\n", w.to_hex());
        }
        if let Some(a) = &self.anchor {
            out += &format!("anchor {}\n", hex_encode(a));
        }
        if self.generation > 0 {
            out += &format!("generation {}\n", self.generation);
        }
        if let Some(p) = &self.prev {
            out += &format!("prev {}\n", hex_encode(p));
        }
        for (name, (seq, hash, device, unread)) in &self.chains {
            out += &format!(
                "chain {} {seq} {} {}",
                B64.encode(name),
                hex_encode(hash),
                hex_encode(device)
            );
            if let Some(u) = unread {
                out += &format!(" {}", hex_encode(u));
            }
            out.push('\n');
        }
        if let Some((at, list)) = &self.blocked {
            out += &format!("blocked-at {}\n", key_to_text(at));
            for m in list {
                out += &format!("blocked {}\n", hex_encode(m));
            }
        }
        if self.stored {
            out += "stored 1\n";
        }
        out
    }

    /// The whole state file of a version before schema 4 of the local store: the state
    /// text and the outbox lines.
    #[cfg(any(test, feature = "testing"))]
    pub fn encode(&self) -> String {
        let mut out = self.encode_state();
        for o in &self.outbox {
            out += &format!(
                "outbox {} {} {}\n",
                o.id.to_hex(),
                key_to_text(&o.key),
                o.line
            );
        }
        out
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut s = SavedState::default();
        for line in lines {
            let mut f = line.split(' ');
            match f.next()? {
                "writer" => s.writer = Some(WriterId::from_hex(f.next()?)?),
                "seq" => s.seq = f.next()?.parse().ok()?,
                "hlc" => s.hlc = Hlc(f.next()?.parse().ok()?),
                "own-log" => {
                    s.own_log_len = f.next()?.parse().ok()?;
                    s.own_log_ends_with_lf = f.next()? == "1";
                }
                "header" => s.header = Some(String::from_utf8(B64.decode(f.next()?).ok()?).ok()?),
                "cursor" => {
                    let name = String::from_utf8(B64.decode(f.next()?).ok()?).ok()?;
                    let committed = f.next()?.parse().ok()?;
                    let overlap = B64.decode(f.next().unwrap_or_default()).ok()?;
                    s.cursors.insert(name, ReaderState { committed, overlap });
                }
                "seq-seen" => {
                    let name = String::from_utf8(B64.decode(f.next()?).ok()?).ok()?;
                    s.max_seq.insert(name, f.next()?.parse().ok()?);
                }
                "key-check" => s.key_check = Some(f.next()?.to_owned()),
                "retired" => s.retired.push(WriterId::from_hex(f.next()?)?),
                "anchor" => s.anchor = Some(hex32(f.next()?)?),
                "generation" => s.generation = f.next()?.parse().ok()?,
                "prev" => s.prev = Some(hex32(f.next()?)?),
                "chain" => {
                    let name = String::from_utf8(B64.decode(f.next()?).ok()?).ok()?;
                    let seq = f.next()?.parse().ok()?;
                    let hash = hex32(f.next()?)?;
                    let device = hex32(f.next()?)?;
                    let unread = match f.next() {
                        Some(u) => Some(hex32(u)?),
                        None => None,
                    };
                    s.chains.insert(name, (seq, hash, device, unread));
                }
                "blocked-at" => s.blocked = Some((key_from_text(f.next()?)?, Vec::new())),
                "blocked" => {
                    let m: [u8; 16] = hex_decode(f.next()?)?.try_into().ok()?;
                    s.blocked.as_mut()?.1.push(m);
                }
                "stored" => s.stored = f.next()? == "1",
                "outbox" => s.outbox.push(Outgoing {
                    id: MessageId::from_hex(f.next()?)?,
                    key: key_from_text(f.next()?)?,
                    line: f.next()?.to_owned(),
                }),
                _ => {}
            }
        }
        Some(s)
    }
}

/// Reads and writes one state file.
#[derive(Debug, Clone)]
pub(crate) struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file for a room identified by `identity` inside `folder`.
    pub fn new(folder: &Path, identity: &str) -> std::io::Result<Self> {
        use sha2::Digest;
        std::fs::create_dir_all(folder)?;
        let digest = sha2::Sha256::digest(identity.as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(StateFile {
            path: folder.join(format!("room-{name}.state")),
        })
    }

    /// A file of the same room in the state folder (`room-<id>.<extension>`: the state
    /// file's name with another extension).
    pub fn sibling(&self, extension: &str) -> PathBuf {
        self.path.with_extension(extension)
    }

    pub fn load(&self) -> std::io::Result<Option<SavedState>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => SavedState::decode(&text).map(Some).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("state file {} is corrupt", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the state file of a version before schema 4 of the local store (test tools
    /// make such folders to test the migration).
    #[cfg(any(test, feature = "testing"))]
    pub fn save(&self, state: &SavedState) -> std::io::Result<()> {
        replace_file(&self.path, state.encode().as_bytes())
    }

    /// Deletes the file (moved into the store); a missing file is fine.
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Replaces the local file `path` with `data` as one step: written to `<path>.tmp`, synced
/// to disk, then renamed over `path`, so a crash leaves the old file or the new one, never
/// a part. The temporary file is removed when a step fails. (Tests only now: the room's
/// state and caches are in the local store.)
#[cfg(any(test, feature = "testing"))]
fn replace_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut s = SavedState {
            writer: Some(WriterId([5; 16])),
            seq: 42,
            hlc: Hlc(123_456),
            own_log_len: 999,
            own_log_ends_with_lf: true,
            header: Some("ftpchat-room 1\nroom-id: x\n".into()),
            retired: vec![WriterId([6; 16]), WriterId([7; 16])],
            anchor: Some([9; 32]),
            generation: 2,
            prev: Some([0xab; 32]),
            stored: true,
            blocked: Some((
                SortKey::Native {
                    hlc: Hlc(77),
                    writer: WriterId([3; 16]),
                    seq: 4,
                    id: MessageId([8; 16]),
                },
                vec![[0xc1; 16], [0xc2; 16]],
            )),
            ..Default::default()
        };
        s.chains
            .insert("ab.log".into(), (3, [0x0f; 32], [0x1e; 32], None));
        s.chains
            .insert("cd.log".into(), (0, [0; 32], [0; 32], Some([0x2d; 32])));
        s.cursors.insert(
            "logs/ab cd.log".into(),
            ReaderState {
                committed: 77,
                overlap: b"xy\n".to_vec(),
            },
        );
        s.cursors.insert("empty".into(), ReaderState::default());
        s.max_seq.insert("ab.log".into(), 17);
        s.outbox.push(Outgoing {
            id: MessageId([1; 16]),
            key: SortKey::Native {
                hlc: Hlc(9),
                writer: WriterId([5; 16]),
                seq: 42,
                id: MessageId([1; 16]),
            },
            line: "ftc2:gAAAA==".into(),
        });
        s.outbox.push(Outgoing {
            id: MessageId([2; 16]),
            key: SortKey::File {
                pending: 1,
                order: 3,
            },
            line: "eJw=".into(),
        });
        assert_eq!(SavedState::decode(&s.encode()), Some(s.clone()));

        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path(), "room").unwrap();
        assert_eq!(file.load().unwrap(), None);
        file.save(&s).unwrap();
        assert_eq!(file.load().unwrap(), Some(s));
        std::fs::write(&file.path, "garbage").unwrap();
        assert!(file.load().is_err());
    }
}
