//! Deterministic chat data: ~80-byte texts, FTPChat 1.5/1.6 lines, native records and whole
//! chat files, the same on every run (a seeded generator, no randomness but the IVs).

use ftpchat_core::codec::{derive_key, FernetKey, KdfParams};
use ftpchat_core::codec::{
    CompatMessage, Hlc, LegacyTimestamp, LineEncoder, NativeRecord, RecordBody, RecordId, RoomId,
    WriterId,
};

/// The password every benchmark room uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// A small, fast, seeded generator (xorshift64*): benchmark data must not depend on the OS.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// 16 random bytes (for ids).
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        out
    }
}

const WORDS: &[&str] = &[
    "the", "meeting", "is", "moved", "to", "tomorrow", "at", "nine", "please", "bring", "your",
    "notes", "and", "the", "blue", "folder", "I", "will", "be", "late", "train", "delayed",
    "again", "did", "you", "see", "new", "build", "works", "on", "my", "machine", "lunch", "today",
    "maybe", "pizza", "or", "sushi", "ok", "thanks", "sounds", "good", "let's", "ship", "it",
    "review", "done", "merged", "can", "someone", "check", "server", "logs", "weekend", "plans",
    "coffee", "break", "in", "five", "minutes", "who", "has", "key", "for", "room", "B",
    "deadline", "Friday", "café", "déjà", "vu", "naïve", "😀",
];

/// A chat text of about `target` bytes (never more than `target + 12`), made of words.
pub fn text(rng: &mut Rng, target: usize) -> String {
    let mut s = String::with_capacity(target + 16);
    while s.len() + 4 < target {
        if !s.is_empty() {
            s.push(if rng.below(9) == 0 { ',' } else { ' ' });
            if s.ends_with(',') {
                s.push(' ');
            }
        }
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s.push(match rng.below(3) {
        0 => '.',
        1 => '!',
        _ => '?',
    });
    s
}

/// `n` texts of 60 to 100 bytes (80 on average), from `seed`.
pub fn texts(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let target = 60 + rng.below(41) as usize;
            text(&mut rng, target)
        })
        .collect()
}

/// FTPChat messages (timestamp, user, text + "\n" as the GUI writes) for `texts`.
pub fn compat_messages(texts: &[String]) -> Vec<CompatMessage> {
    const USERS: &[&str] = &["alice", "bob", "carol", "dave"];
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let minute = i as u32;
            let ts = LegacyTimestamp {
                year: 2026,
                month: 11,
                day: (1 + (minute / 1440) % 28) as u8,
                hour: ((minute / 60) % 24) as u8,
                minute: (minute % 60) as u8,
            };
            CompatMessage::new(ts, USERS[i % USERS.len()], format!("{t}\n"))
                .unwrap_or_else(|_| unreachable!("fixed user names are valid"))
        })
        .collect()
}

/// Everything a benchmark room needs: its id and key, and the KDF parameters the key was
/// derived with (derived once, here).
#[derive(Debug, Clone)]
pub struct RoomKeys {
    /// The native room's id.
    pub room: RoomId,
    /// The native room's key.
    pub native: FernetKey,
    /// The native room's KDF parameters.
    pub native_kdf: KdfParams,
    /// The FTPChat 1.6 and 1.7 key (the clients' KDF: their constant salt, 100,000
    /// iterations).
    pub fernet: FernetKey,
}

impl RoomKeys {
    /// Derives both keys from [`PASSWORD`]: PBKDF2 at 600,000 and 100,000 iterations, so
    /// this takes a moment; call it once.
    pub fn derive(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let native_kdf = KdfParams::new(rng.bytes16().to_vec(), 600_000)
            .unwrap_or_else(|_| unreachable!("constant parameters are in range"));
        let native = derive_key(PASSWORD, &native_kdf);
        let fernet = derive_key(PASSWORD, &ftpchat_core::default_compat_kdf());
        RoomKeys {
            room: RoomId(rng.bytes16()),
            native,
            native_kdf,
            fernet,
        }
    }

    /// Keys made from fixed bytes, without PBKDF2 (for quick runs and CPU benches).
    pub fn fixed(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut a = [0u8; 32];
        a[..16].copy_from_slice(&rng.bytes16());
        a[16..].copy_from_slice(&rng.bytes16());
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(&rng.bytes16());
        b[16..].copy_from_slice(&rng.bytes16());
        RoomKeys {
            room: RoomId(rng.bytes16()),
            native: FernetKey::from_bytes(&a),
            native_kdf: KdfParams::new(rng.bytes16().to_vec(), 600_000)
                .unwrap_or_else(|_| unreachable!("constant parameters are in range")),
            fernet: FernetKey::from_bytes(&b),
        }
    }

    /// The native room header (`room.ftpchat`) for these keys.
    pub fn header(&self, now_secs: u64) -> String {
        ftpchat_core::codec::RoomHeader::new(
            self.room,
            self.native_kdf.clone(),
            &self.native,
            now_secs,
        )
        .encode()
    }
}

/// The codecs a chat file can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// FTPChat 1.5 (no key).
    Legacy15,
    /// FTPChat 1.6 (Fernet, the token base64-encoded once more).
    Fernet16,
    /// FTPChat 1.7 (the raw Fernet token).
    Fernet17,
    /// ftpchat native records.
    Native,
}

impl Codec {
    /// All four.
    pub const ALL: [Codec; 4] = [
        Codec::Legacy15,
        Codec::Fernet16,
        Codec::Fernet17,
        Codec::Native,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Legacy15 => "FTPChat 1.5",
            Codec::Fernet16 => "FTPChat 1.6",
            Codec::Fernet17 => "FTPChat 1.7",
            Codec::Native => "native",
        }
    }

    /// A file-name friendly tag.
    pub fn tag(self) -> &'static str {
        match self {
            Codec::Legacy15 => "v15",
            Codec::Fernet16 => "v16",
            Codec::Fernet17 => "v17",
            Codec::Native => "native",
        }
    }
}

/// Native records for `texts`, written by `writers` writers in turn (seq per writer), HLC
/// times one second apart from `start_ms`.
pub fn native_records(
    texts: &[String],
    room: RoomId,
    writers: &[WriterId],
    start_ms: u64,
    rng: &mut Rng,
) -> Vec<NativeRecord> {
    let mut seqs = vec![0u64; writers.len()];
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let w = i % writers.len();
            seqs[w] += 1;
            NativeRecord {
                id: RecordId(rng.bytes16()),
                room,
                writer: writers[w],
                seq: seqs[w],
                hlc: Hlc::new(start_ms + i as u64 * 1000, 0),
                sender: ["alice", "bob", "carol", "dave"][w % 4].to_owned(),
                body: RecordBody::Text(t.clone()),
            }
        })
        .collect()
}

/// Encodes `n` messages (texts from `seed`) as lines of `codec`; native lines belong to
/// one writer.
pub fn lines(codec: Codec, n: usize, seed: u64, keys: &RoomKeys) -> Vec<String> {
    let texts = texts(n, seed);
    let mut enc = LineEncoder::new();
    match codec {
        Codec::Legacy15 => compat_messages(&texts)
            .iter()
            .map(|m| enc.legacy15(m))
            .collect(),
        Codec::Fernet16 => compat_messages(&texts)
            .iter()
            .map(|m| enc.fernet16(m, &keys.fernet, 1_795_000_000))
            .collect(),
        Codec::Fernet17 => compat_messages(&texts)
            .iter()
            .map(|m| enc.fernet17(m, &keys.fernet, 1_795_000_000))
            .collect(),
        Codec::Native => {
            let mut rng = Rng::new(seed ^ 0x5EED);
            let writer = WriterId(rng.bytes16());
            native_records(&texts, keys.room, &[writer], 1_795_000_000_000, &mut rng)
                .iter()
                .map(|r| enc.native(r, &keys.native))
                .collect()
        }
    }
}

/// Joins lines into a chat file (LF after each line).
pub fn file_of(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}

/// A native room's logs: `writers` logs holding `n` records between them, as
/// `(file name, bytes)`.
pub fn native_logs(n: usize, writers: usize, seed: u64, keys: &RoomKeys) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng::new(seed ^ 0x10C5);
    let ids: Vec<WriterId> = (0..writers.max(1))
        .map(|_| WriterId(rng.bytes16()))
        .collect();
    let mut logs: Vec<Vec<u8>> = vec![Vec::new(); ids.len()];
    let mut seqs = vec![0u64; ids.len()];
    let mut enc = LineEncoder::new();
    // In slices, so a 100 MB room never holds all texts at once.
    let chunk = 10_000;
    let mut done = 0;
    while done < n {
        let m = chunk.min(n - done);
        for (i, t) in texts(m, seed.wrapping_add(done as u64))
            .into_iter()
            .enumerate()
        {
            let k = done + i;
            let w = k % ids.len();
            seqs[w] += 1;
            let record = NativeRecord {
                id: RecordId(rng.bytes16()),
                room: keys.room,
                writer: ids[w],
                seq: seqs[w],
                hlc: Hlc::new(1_795_000_000_000 + k as u64 * 1000, 0),
                sender: ["alice", "bob", "carol", "dave"][w % 4].to_owned(),
                body: RecordBody::Text(t),
            };
            logs[w].extend_from_slice(enc.native(&record, &keys.native).as_bytes());
            logs[w].push(b'\n');
        }
        done += m;
    }
    ids.iter()
        .zip(logs)
        .map(|(id, bytes)| (format!("{}.log", id.to_hex()), bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftpchat_core::codec::{Keyring, LineDecoder, Record};

    #[test]
    fn texts_are_about_80_bytes() {
        let t = texts(1000, 7);
        let mean = t.iter().map(String::len).sum::<usize>() as f64 / t.len() as f64;
        assert!((70.0..=90.0).contains(&mean), "mean {mean}");
        assert_eq!(t, texts(1000, 7));
    }

    #[test]
    fn lines_decode() {
        let keys = RoomKeys::fixed(1);
        let mut dec = LineDecoder::new(Keyring {
            fernet: Some(keys.fernet.clone()),
            native: Some((keys.native.clone(), keys.room)),
        });
        for codec in Codec::ALL {
            for l in lines(codec, 20, 3, &keys) {
                assert!(dec.decode_line(l.as_bytes()).is_ok(), "{codec:?}");
            }
        }
        let logs = native_logs(25, 4, 9, &keys);
        assert_eq!(logs.len(), 4);
        let mut seqs = Vec::new();
        for (_, bytes) in &logs {
            let file = dec.decode_bytes(bytes, 0);
            assert!(file.problems.is_empty());
            for r in file.records {
                if let Record::Native(r) = r.record {
                    seqs.push((r.writer, r.seq));
                }
            }
        }
        assert_eq!(seqs.len(), 25);
    }
}
