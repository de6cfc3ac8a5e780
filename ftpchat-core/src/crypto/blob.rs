//! Attachment blobs (SPEC §8.4.3): a file encrypted in chunks with the STREAM construction
//! (Hoang, Reyhanitabar, Rogaway, Vizár) over ChaCha20-Poly1305, as the RustCrypto `aead`
//! crate implements it (`StreamBE32`: a 7-byte nonce prefix, a 32-bit big-endian chunk
//! counter and a last-chunk flag). Each chunk is authenticated at its position, and only
//! the last one carries the flag, so truncation, reordering and chunk swaps fail to open.
//!
//! Sans-IO: [`BlobSealer`] seals chunk `i` of a file (any chunk, in any order, so an upload
//! can resume in the middle), [`BlobOpener`] opens a blob's bytes as they arrive and keeps
//! at most one chunk. Neither holds a whole file.

use chacha20poly1305::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::format::RoomId;

/// Plaintext bytes per chunk (64 KiB, as `age` uses).
pub const BLOB_CHUNK_LEN: usize = 64 * 1024;
/// Bytes a chunk grows by when sealed (the Poly1305 tag).
pub const BLOB_TAG_LEN: usize = 16;
/// Sealed bytes per full chunk.
pub const BLOB_SEALED_CHUNK_LEN: usize = BLOB_CHUNK_LEN + BLOB_TAG_LEN;
/// HKDF `info` prefix of a blob's stream key (SPEC §8.4.3).
pub(crate) const BLOB_KEY_INFO: &[u8] = b"ftpchat-blob-v1";

/// The random 32-byte key of one attachment (record sub-field 6). Zeroized on drop,
/// redacted from `Debug`, compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BlobKey([u8; 32]);

impl BlobKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        BlobKey(super::random_bytes::<32>())
    }

    /// A key from its 32 bytes (as carried in a record).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        BlobKey(bytes)
    }

    /// The key's bytes, for encoding the record.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobKey(<redacted>)")
    }
}

impl PartialEq for BlobKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for BlobKey {}

impl std::hash::Hash for BlobKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Never the key: records are hashed for deduplication by their other fields.
        state.write_u8(0);
    }
}

/// The number of chunks of a `len`-byte file: at least one (an empty file is one empty
/// last chunk).
pub fn blob_chunks(len: u64) -> u64 {
    len.div_ceil(BLOB_CHUNK_LEN as u64).max(1)
}

/// The size of the blob of a `len`-byte file.
pub fn blob_len(len: u64) -> u64 {
    len + BLOB_TAG_LEN as u64 * blob_chunks(len)
}

/// Why a blob does not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// A chunk failed authentication: tampered, reordered, swapped, from another blob,
    /// room or key, or the last chunk is not where the announced size puts it.
    #[error("chunk {chunk} of the attachment failed authentication")]
    Tampered {
        /// The chunk's index.
        chunk: u64,
    },
    /// More bytes than the announced size allows.
    #[error("the attachment is larger than announced ({expected} bytes)")]
    TooLong {
        /// The blob size the record implies.
        expected: u64,
    },
    /// The blob ended before the announced size.
    #[error("the attachment is truncated: {got} of {expected} bytes")]
    Truncated {
        /// Bytes received.
        got: u64,
        /// The blob size the record implies.
        expected: u64,
    },
    /// The opened file's SHA-256 is not the one the record announced.
    #[error("the attachment's content does not match its hash")]
    HashMismatch,
}

/// The stream cipher of one blob: its key bound to the room and the blob's path.
fn stream(key: &BlobKey, room: RoomId, path: &str) -> StreamBE32<ChaCha20Poly1305> {
    let hk = Hkdf::<Sha256>::new(Some(&room.0), key.as_bytes());
    let mut info = Vec::with_capacity(BLOB_KEY_INFO.len() + 1 + path.len());
    info.extend_from_slice(BLOB_KEY_INFO);
    info.push(0);
    info.extend_from_slice(path.as_bytes());
    let mut okm = zeroize::Zeroizing::new([0u8; 32]);
    #[allow(clippy::expect_used)]
    hk.expand(&info, okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    StreamBE32::new(okm.as_ref().into(), &Default::default())
}

/// Seals the chunks of one file into its blob.
pub struct BlobSealer {
    stream: StreamBE32<ChaCha20Poly1305>,
    chunks: u64,
}

impl std::fmt::Debug for BlobSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobSealer")
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl BlobSealer {
    /// A sealer for a `len`-byte file stored at `path` (`files/<name>`) of room `room`.
    pub fn new(key: &BlobKey, room: RoomId, path: &str, len: u64) -> Self {
        BlobSealer {
            stream: stream(key, room, path),
            chunks: blob_chunks(len),
        }
    }

    /// The number of chunks.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// The whole blob of `data` (the file this sealer was made for), in memory: for test
    /// vectors and small files; transfers seal chunk by chunk with [`seal`](Self::seal).
    ///
    /// # Panics
    /// When `data` is not as long as the file this sealer was made for (a caller bug).
    pub fn seal_all(&self, data: &[u8]) -> Vec<u8> {
        assert_eq!(
            blob_chunks(data.len() as u64),
            self.chunks,
            "not this sealer's file"
        );
        let mut blob = Vec::with_capacity(blob_len(data.len() as u64) as usize);
        for i in 0..self.chunks {
            let start = (i as usize * BLOB_CHUNK_LEN).min(data.len());
            let end = (start + BLOB_CHUNK_LEN).min(data.len());
            let mut buf = data[start..end].to_vec();
            self.seal(i, &mut buf);
            blob.extend_from_slice(&buf);
        }
        blob
    }

    /// Seals chunk `index` in place: `buf` holds its plaintext (exactly
    /// [`BLOB_CHUNK_LEN`] bytes except for the last chunk) and gets the tag appended.
    ///
    /// # Panics
    /// When `index` is not a chunk of this file (a caller bug).
    pub fn seal(&self, index: u64, buf: &mut Vec<u8>) {
        assert!(index < self.chunks, "chunk {index} of {}", self.chunks);
        let last = index + 1 == self.chunks;
        #[allow(clippy::expect_used)]
        self.stream
            .encrypt_in_place(index as u32, last, b"", buf)
            .expect("a chunk of at most 64 KiB always seals");
    }
}

/// Opens a blob's bytes as they arrive, one chunk at a time, and hashes the plaintext.
pub struct BlobOpener {
    stream: StreamBE32<ChaCha20Poly1305>,
    chunks: u64,
    expected: u64,
    /// The next chunk to open.
    next: u64,
    /// Sealed bytes of the chunk being received.
    buf: Vec<u8>,
    hash: Sha256,
}

impl std::fmt::Debug for BlobOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobOpener")
            .field("next", &self.next)
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl BlobOpener {
    /// An opener for the blob of a `len`-byte file at `path` of room `room`.
    pub fn new(key: &BlobKey, room: RoomId, path: &str, len: u64) -> Self {
        BlobOpener {
            stream: stream(key, room, path),
            chunks: blob_chunks(len),
            expected: blob_len(len),
            next: 0,
            buf: Vec::with_capacity(BLOB_SEALED_CHUNK_LEN),
            hash: Sha256::new(),
        }
    }

    /// Continues after `chunks` chunks an earlier run opened (their plaintext goes to
    /// [`hash_opened`](Self::hash_opened) first): expects the blob from chunk `chunks`.
    pub fn resume(&mut self, chunks: u64) {
        self.next = chunks.min(self.chunks);
        self.buf.clear();
    }

    /// Hashes plaintext an earlier run opened (see [`resume`](Self::resume)).
    pub fn hash_opened(&mut self, opened: &[u8]) {
        self.hash.update(opened);
    }

    /// Where in the blob the next byte belongs: a resumed download starts here.
    pub fn blob_offset(&self) -> u64 {
        self.next * BLOB_SEALED_CHUNK_LEN as u64
    }

    /// Forgets a partly received chunk (its transfer was cut; it comes again).
    pub fn discard_partial(&mut self) {
        self.buf.clear();
    }

    /// Chunks opened so far.
    pub fn opened_chunks(&self) -> u64 {
        self.next
    }

    /// Takes `data` (the blob's next bytes) and calls `out` with each chunk's plaintext as
    /// soon as it opened. Nothing unauthenticated ever reaches `out`.
    pub fn push<E>(
        &mut self,
        mut data: &[u8],
        out: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), PushError<E>> {
        while !data.is_empty() {
            if self.next >= self.chunks {
                return Err(PushError::Blob(BlobError::TooLong {
                    expected: self.expected,
                }));
            }
            let want = self.sealed_len(self.next) - self.buf.len();
            let take = want.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if take == want {
                self.open_chunk()?;
                out(&self.buf).map_err(PushError::Sink)?;
                self.buf.clear();
                self.next += 1;
            }
        }
        Ok(())
    }

    /// Checks that the whole blob arrived and its plaintext has the announced hash.
    pub fn finish(self, sha256: &[u8; 32]) -> Result<(), BlobError> {
        if self.next < self.chunks {
            let got = self.blob_offset() + self.buf.len() as u64;
            return Err(BlobError::Truncated {
                got,
                expected: self.expected,
            });
        }
        use subtle::ConstantTimeEq;
        if bool::from(self.hash.finalize().as_slice().ct_eq(sha256)) {
            Ok(())
        } else {
            Err(BlobError::HashMismatch)
        }
    }

    fn sealed_len(&self, index: u64) -> usize {
        if index + 1 < self.chunks {
            BLOB_SEALED_CHUNK_LEN
        } else {
            (self.expected - index * BLOB_SEALED_CHUNK_LEN as u64) as usize
        }
    }

    fn open_chunk<E>(&mut self) -> Result<(), PushError<E>> {
        let last = self.next + 1 == self.chunks;
        self.stream
            .decrypt_in_place(self.next as u32, last, b"", &mut self.buf)
            .map_err(|_| PushError::Blob(BlobError::Tampered { chunk: self.next }))?;
        self.hash.update(&self.buf);
        Ok(())
    }
}

/// Why [`BlobOpener::push`] stopped.
#[derive(Debug)]
pub enum PushError<E> {
    /// The blob is bad.
    Blob(BlobError),
    /// The caller's sink failed.
    Sink(E),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_all(key: &BlobKey, room: RoomId, path: &str, data: &[u8]) -> Vec<u8> {
        BlobSealer::new(key, room, path, data.len() as u64).seal_all(data)
    }

    fn open_all(
        key: &BlobKey,
        room: RoomId,
        path: &str,
        len: u64,
        blob: &[u8],
        step: usize,
    ) -> Result<Vec<u8>, BlobError> {
        let mut opener = BlobOpener::new(key, room, path, len);
        let mut out = Vec::new();
        for piece in blob.chunks(step.max(1)) {
            opener
                .push(piece, &mut |p: &[u8]| {
                    out.extend_from_slice(p);
                    Ok::<_, ()>(())
                })
                .map_err(|e| match e {
                    PushError::Blob(b) => b,
                    PushError::Sink(()) => unreachable!(),
                })?;
        }
        let hash: [u8; 32] = Sha256::digest(&out).into();
        opener.finish(&hash)?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        let key = BlobKey::generate();
        let room = RoomId([7; 16]);
        for len in [
            0,
            1,
            BLOB_CHUNK_LEN - 1,
            BLOB_CHUNK_LEN,
            BLOB_CHUNK_LEN + 1,
            3 * BLOB_CHUNK_LEN,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let blob = seal_all(&key, room, "files/a", &data);
            assert_eq!(blob.len() as u64, blob_len(len as u64), "len {len}");
            for step in [1, 1000, BLOB_SEALED_CHUNK_LEN, blob.len()] {
                assert_eq!(
                    open_all(&key, room, "files/a", len as u64, &blob, step).unwrap(),
                    data
                );
            }
        }
    }

    #[test]
    fn truncation_reordering_swaps_and_rebinding_fail() {
        let key = BlobKey::generate();
        let room = RoomId([7; 16]);
        let len = 3 * BLOB_CHUNK_LEN + 10;
        let data = vec![42u8; len];
        let blob = seal_all(&key, room, "files/a", &data);
        let n = len as u64;
        // Truncated at a chunk boundary: the announced size wants more.
        let cut = &blob[..2 * BLOB_SEALED_CHUNK_LEN];
        assert!(matches!(
            open_all(&key, room, "files/a", n, cut, 4096),
            Err(BlobError::Truncated { .. })
        ));
        // A truncated blob presented as a shorter file: the last-chunk flag is missing.
        assert_eq!(
            open_all(&key, room, "files/a", 2 * BLOB_CHUNK_LEN as u64, cut, 4096),
            Err(BlobError::Tampered { chunk: 1 })
        );
        // Two chunks swapped.
        let mut swapped = blob.clone();
        let (a, b) = swapped.split_at_mut(BLOB_SEALED_CHUNK_LEN);
        a.swap_with_slice(&mut b[..BLOB_SEALED_CHUNK_LEN]);
        assert_eq!(
            open_all(&key, room, "files/a", n, &swapped, 4096),
            Err(BlobError::Tampered { chunk: 0 })
        );
        // Extra bytes.
        let mut long = blob.clone();
        long.push(0);
        assert!(matches!(
            open_all(&key, room, "files/a", n, &long, 4096),
            Err(BlobError::TooLong { .. })
        ));
        // Another path, room or key.
        for (k, r, p) in [
            (key.clone(), room, "files/b"),
            (key.clone(), RoomId([8; 16]), "files/a"),
            (BlobKey::generate(), room, "files/a"),
        ] {
            assert_eq!(
                open_all(&k, r, p, n, &blob, 4096),
                Err(BlobError::Tampered { chunk: 0 })
            );
        }
        // A flipped bit.
        let mut flipped = blob.clone();
        flipped[BLOB_SEALED_CHUNK_LEN + 5] ^= 1;
        assert_eq!(
            open_all(&key, room, "files/a", n, &flipped, 4096),
            Err(BlobError::Tampered { chunk: 1 })
        );
    }

    #[test]
    fn a_wrong_hash_is_reported() {
        let key = BlobKey::generate();
        let room = RoomId([1; 16]);
        let blob = seal_all(&key, room, "files/a", b"hello");
        let mut opener = BlobOpener::new(&key, room, "files/a", 5);
        opener.push(&blob, &mut |_: &[u8]| Ok::<_, ()>(())).unwrap();
        assert_eq!(opener.finish(&[0; 32]), Err(BlobError::HashMismatch));
    }

    #[test]
    fn key_debug_is_redacted() {
        let key = BlobKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "BlobKey(<redacted>)");
    }
}
