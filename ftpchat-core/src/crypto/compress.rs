//! zlib with bounded output and reused state.
//!
//! Setting up a zlib stream costs more than compressing an 80-byte message, so a
//! [`Deflater`] and an [`Inflater`] keep their state and reset it between messages.
//! Inflating stops at a caller-given limit: a decompression bomb costs at most that much
//! memory and yields a typed error.
//!
//! The two directions use different libraries on purpose. Compressing must give the bytes
//! CPython's `zlib.compress` gives (FTPChat lines are compared byte for byte with the real
//! clients'), so [`Deflater`] is real zlib (flate2 over libz-sys). Inflating has exactly one
//! correct output for a valid stream, so [`Inflater`] uses whichever inflater is fastest on
//! FTPChat's tiny messages: zlib-rs, through its safe API (BENCHMARKS.md §1 has the
//! comparison).

use flate2::{Compress, Compression, FlushCompress, Status};

/// The zlib level Python's `zlib.compress` uses by default (FTPChat's level).
pub const ZLIB_LEVEL: u32 = 6;

/// Why inflating failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompressionError {
    /// The output would exceed the limit: a decompression bomb or an oversized record.
    #[error("decompressed data exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was hit.
        limit: usize,
    },
    /// Not a valid zlib stream (bad header, bad checksum, corrupt data).
    #[error("not a valid zlib stream")]
    Corrupt,
    /// The stream ended before its end marker.
    #[error("zlib stream is truncated")]
    Truncated,
    /// Bytes follow the end of the zlib stream.
    #[error("trailing bytes after the zlib stream")]
    TrailingData,
}

/// A reusable zlib compressor at [`ZLIB_LEVEL`].
pub struct Deflater {
    stream: Compress,
}

impl Default for Deflater {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deflater")
    }
}

impl Deflater {
    /// A compressor producing the same bytes as Python's `zlib.compress(data)`.
    pub fn new() -> Self {
        Deflater {
            stream: Compress::new(Compression::new(ZLIB_LEVEL), true),
        }
    }

    /// Appends the zlib stream of `input` to `out`.
    pub fn compress_into(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.stream.reset();
        // zlib's worst case is input + 0.1% + a few bytes; reserve it so one call suffices.
        out.reserve(input.len() + input.len() / 1000 + 64);
        loop {
            let consumed = self.stream.total_in() as usize;
            let status = self
                .stream
                .compress_vec(&input[consumed..], out, FlushCompress::Finish)
                .unwrap_or_else(|_| unreachable!("compressing into a Vec cannot fail"));
            match status {
                Status::StreamEnd => return,
                Status::Ok | Status::BufError => out.reserve(out.capacity().max(64)),
            }
        }
    }

    /// The zlib stream of `input`.
    pub fn compress(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.compress_into(input, &mut out);
        out
    }
}

/// A reusable zlib decompressor with an output limit.
///
/// It inflates into a buffer of its own, kept between calls (zeroed once, grown only as far
/// as `limit + 1` bytes), so decoding a line allocates nothing.
pub struct Inflater {
    stream: zlib_rs::Inflate,
    /// Output buffer; all of `buf.len()` is usable (initialised) space.
    buf: Vec<u8>,
}

/// The first output buffer: every chat message of usual size fits, so it rarely grows.
const INITIAL_OUTPUT: usize = 4096;
/// A buffer grown past this (a big record, a bomb stopped at its limit) is given back at
/// the next call, so one large line does not pin its memory for the decoder's lifetime.
const KEEP_OUTPUT: usize = 64 * 1024;
/// zlib's largest window (2^15), as Python's `zlib.compress` writes.
const WINDOW_BITS: u8 = 15;

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflater")
    }
}

impl Inflater {
    /// A zlib (RFC 1950) decompressor.
    pub fn new() -> Self {
        Inflater {
            stream: zlib_rs::Inflate::new(true, WINDOW_BITS),
            buf: Vec::new(),
        }
    }

    /// Inflates one complete zlib stream, refusing to produce more than `limit` bytes, and
    /// returns the output, which lives in the inflater until the next call.
    pub fn inflate(&mut self, input: &[u8], limit: usize) -> Result<&[u8], CompressionError> {
        self.stream.reset(true);
        // Never more than limit + 1 bytes of room: the one extra byte tells "exactly at the
        // limit" from "over it".
        let cap = limit.saturating_add(1);
        let want = input.len().saturating_mul(4).max(INITIAL_OUTPUT).min(cap);
        if self.buf.len() > KEEP_OUTPUT && self.buf.len() > want {
            self.buf = Vec::new();
        }
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        loop {
            let consumed = usize::try_from(self.stream.total_in()).unwrap_or(usize::MAX);
            let produced = usize::try_from(self.stream.total_out()).unwrap_or(usize::MAX);
            let room = self.buf.len().min(cap);
            let status = self
                .stream
                .decompress(
                    input.get(consumed..).unwrap_or_default(),
                    &mut self.buf[produced..room],
                    zlib_rs::InflateFlush::Finish,
                )
                .map_err(|_| CompressionError::Corrupt)?;
            let now_in = usize::try_from(self.stream.total_in()).unwrap_or(usize::MAX);
            let now_out = usize::try_from(self.stream.total_out()).unwrap_or(usize::MAX);
            if now_out > limit {
                return Err(CompressionError::TooLarge { limit });
            }
            match status {
                zlib_rs::Status::StreamEnd => {
                    return if now_in < input.len() {
                        Err(CompressionError::TrailingData)
                    } else {
                        Ok(&self.buf[..now_out])
                    };
                }
                zlib_rs::Status::Ok | zlib_rs::Status::BufError => {
                    if now_out == room {
                        // Output full and still under the limit: room to grow.
                        let grown = room.saturating_mul(2).max(INITIAL_OUTPUT).min(cap);
                        self.buf.resize(grown, 0);
                    } else if now_in >= input.len() || (now_in == consumed && now_out == produced) {
                        // Room left in the buffer and nothing more to read: input ran out.
                        return Err(CompressionError::Truncated);
                    }
                }
            }
        }
    }

    /// Inflates one complete zlib stream into `out` (cleared first), refusing to produce
    /// more than `limit` bytes.
    pub fn decompress_into(
        &mut self,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), CompressionError> {
        out.clear();
        out.extend_from_slice(self.inflate(input, limit)?);
        Ok(())
    }

    /// Inflates one complete zlib stream, refusing to produce more than `limit` bytes.
    pub fn decompress(&mut self, input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
        Ok(self.inflate(input, limit)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_reused_state() {
        let mut d = Deflater::new();
        let mut i = Inflater::new();
        for msg in [&b""[..], b"a", b"hello hello hello", &[0u8; 10_000]] {
            let z = d.compress(msg);
            assert_eq!(i.decompress(&z, 1 << 20).unwrap(), msg);
        }
    }

    #[test]
    fn limit_stops_bombs() {
        let mut d = Deflater::new();
        let bomb = d.compress(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20_000);
        let mut i = Inflater::new();
        assert_eq!(
            i.decompress(&bomb, 1 << 20),
            Err(CompressionError::TooLarge { limit: 1 << 20 })
        );
        // Exactly at the limit is fine.
        let exact = d.compress(&[7u8; 4096]);
        assert_eq!(i.decompress(&exact, 4096).unwrap().len(), 4096);
        assert!(i.decompress(&exact, 4095).is_err());
    }

    #[test]
    fn extreme_limits_are_handled() {
        let z = Deflater::new().compress(b"hello, hello, hello");
        let mut i = Inflater::new();
        for limit in [0usize, 1, 10, 18] {
            let got = i.decompress(&z, limit);
            assert!(
                matches!(got, Err(CompressionError::TooLarge { .. })),
                "{limit}: {got:?}"
            );
        }
        assert_eq!(i.decompress(&z, 19).unwrap(), b"hello, hello, hello");
        assert_eq!(i.decompress(&z, 62).unwrap(), b"hello, hello, hello");
        let big = vec![7u8; 100_000];
        let z = Deflater::new().compress(&big);
        assert_eq!(i.decompress(&z, usize::MAX).unwrap(), big);
    }

    #[test]
    fn inflates_like_real_zlib_across_buffer_sizes() {
        // Sizes around the first buffer and its doublings, text-like and incompressible.
        let mut d = Deflater::new();
        let mut i = Inflater::new();
        let mut x: u32 = 1;
        for len in [
            0, 1, 90, 4095, 4096, 4097, 8192, 8193, 70_000, 120, 300_000, 5,
        ] {
            let data: Vec<u8> = (0..len)
                .map(|k| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    if k % 3 == 0 {
                        (x >> 24) as u8
                    } else {
                        b"hello chat "[k % 11]
                    }
                })
                .collect();
            let z = d.compress(&data);
            let mut reference = flate2::Decompress::new(true);
            let mut want = Vec::with_capacity(len + 1);
            let st = reference
                .decompress_vec(&z, &mut want, flate2::FlushDecompress::Finish)
                .unwrap();
            assert_eq!(st, Status::StreamEnd);
            assert_eq!(want, data);
            assert_eq!(i.inflate(&z, len).unwrap(), &data[..], "{len}");
            assert_eq!(i.inflate(&z, usize::MAX).unwrap(), &data[..], "{len}");
            if len > 0 {
                assert_eq!(
                    i.inflate(&z, len - 1),
                    Err(CompressionError::TooLarge { limit: len - 1 })
                );
            }
        }
    }

    #[test]
    fn corrupt_truncated_and_trailing() {
        let mut d = Deflater::new();
        let mut i = Inflater::new();
        let z = d.compress(b"some text to compress, some text to compress");
        assert_eq!(
            i.decompress(&z[..z.len() - 3], 1000),
            Err(CompressionError::Truncated)
        );
        assert_eq!(
            i.decompress(b"not zlib at all", 1000),
            Err(CompressionError::Corrupt)
        );
        let mut extra = z.clone();
        extra.extend_from_slice(b"xx");
        assert_eq!(
            i.decompress(&extra, 1000),
            Err(CompressionError::TrailingData)
        );
        let mut flipped = z.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1; // Adler-32 checksum
        assert_eq!(i.decompress(&flipped, 1000), Err(CompressionError::Corrupt));
    }
}
