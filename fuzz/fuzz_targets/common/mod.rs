//! Helpers shared by the fuzz targets (each target includes this module; not all use all).
#![allow(dead_code)]

use ftpchat_core::codec::Frame;

/// Splits a fuzz input into the data and a seed for the split points: the last 8 bytes
/// (when there are at least 8) are the seed, so a seed file is any chat file with 8 bytes
/// appended, and the fuzzer controls the splits by mutating them.
pub fn split_input(input: &[u8]) -> (&[u8], Rng) {
    if input.len() >= 8 {
        let (data, seed) = input.split_at(input.len() - 8);
        let mut s = [0u8; 8];
        s.copy_from_slice(seed);
        (data, Rng::new(u64::from_le_bytes(s)))
    } else {
        (input, Rng::new(input.len() as u64))
    }
}

/// xorshift64*: deterministic, so every crash reproduces from its input.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..=max`.
    pub fn upto(&mut self, max: usize) -> usize {
        if max == 0 {
            0
        } else {
            (self.next() % (max as u64 + 1)) as usize
        }
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in.max(1))
    }
}

/// Up to `max_cuts` sorted cut points in `0..=len` (repeats allowed: empty chunks).
pub fn cuts(rng: &mut Rng, len: usize, max_cuts: usize) -> Vec<usize> {
    let n = rng.upto(max_cuts);
    let mut points: Vec<usize> = (0..n).map(|_| rng.upto(len)).collect();
    // Sometimes cut everywhere: byte-by-byte feeding.
    if len <= 256 && rng.chance(16) {
        points = (0..=len).collect();
    }
    points.sort_unstable();
    points
}

/// `data` split at `points` (sorted), including empty chunks.
pub fn chunks<'a>(data: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for &p in points {
        out.push(&data[start..p]);
        start = p;
    }
    out.push(&data[start..]);
    out
}

/// A frame with its bytes copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Line(u64, Vec<u8>),
    TooLong(u64, u64),
}

impl From<Frame<'_>> for Owned {
    fn from(f: Frame<'_>) -> Self {
        match f {
            Frame::Line { offset, bytes } => Owned::Line(offset, bytes.to_vec()),
            Frame::TooLong { offset, len } => Owned::TooLong(offset, len),
        }
    }
}

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    out
}

/// The keys of the test vectors, so that seeds made from them decode into records:
/// FTPChat 1.6 lines of `ftpchat-1.6.jsonl` (password `secret`, salt `ftpchat`, 100,000
/// iterations) and native lines of `native-v2.jsonl` (password `pw`, same salt; room
/// `0f1e2d3c…`). Hard-coded: deriving them costs 100,000 PBKDF2 iterations.
pub fn vector_keyring() -> ftpchat_core::codec::Keyring {
    use ftpchat_core::codec::FernetKey;
    use ftpchat_core::codec::{Keyring, RoomId};
    let k16 = unhex::<32>("2cce5b17d0746f2fc193684ffff4aa5f15d8d3592b61ba9c4bee2eea669905a1");
    let k2 = unhex::<32>("95b925f8633f8c9bb29295e0b3c6583123fbc15cededfb18b07225378ae873c0");
    Keyring {
        fernet: Some(FernetKey::from_bytes(&k16)),
        native: Some((
            FernetKey::from_bytes(&k2),
            RoomId(unhex::<16>("0f1e2d3c4b5a69788796a5b4c3d2e1f0")),
        )),
    }
}
