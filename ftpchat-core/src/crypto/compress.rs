//! zlib with bounded output and reused state.
//!
//! Setting up a zlib stream costs more than compressing an 80-byte message, so a
//! [`Deflater`] and an [`Inflater`] keep their state and reset it between messages.
//! Inflating stops at a caller-given limit: a decompression bomb costs at most that much
//! memory and yields a typed error.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

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
pub struct Inflater {
    stream: Decompress,
}

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
            stream: Decompress::new(true),
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
        self.stream.reset(true);
        out.clear();
        // Start near the usual ratio; grow geometrically, never past limit + 1 (the one
        // extra byte tells "exactly at the limit" from "over it").
        out.reserve(
            input
                .len()
                .saturating_mul(4)
                .max(64)
                .min(limit.saturating_add(1)),
        );
        loop {
            let consumed = self.stream.total_in() as usize;
            let status = self
                .stream
                .decompress_vec(&input[consumed..], out, FlushDecompress::Finish)
                .map_err(|_| CompressionError::Corrupt)?;
            if out.len() > limit {
                return Err(CompressionError::TooLarge { limit });
            }
            match status {
                Status::StreamEnd => {
                    return if (self.stream.total_in() as usize) < input.len() {
                        Err(CompressionError::TrailingData)
                    } else {
                        Ok(())
                    };
                }
                Status::Ok | Status::BufError => {
                    let made_progress = self.stream.total_in() as usize > consumed;
                    if out.len() < out.capacity() && !made_progress {
                        // Room left in the buffer and no input consumed: input ran out.
                        return Err(CompressionError::Truncated);
                    }
                    if out.len() == out.capacity() {
                        let room = out
                            .capacity()
                            .max(64)
                            .min(limit.saturating_add(1).saturating_sub(out.len()).max(1));
                        out.reserve(room);
                    }
                }
            }
        }
    }

    /// Inflates one complete zlib stream, refusing to produce more than `limit` bytes.
    pub fn decompress(&mut self, input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
        let mut out = Vec::new();
        self.decompress_into(input, limit, &mut out)?;
        Ok(out)
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
