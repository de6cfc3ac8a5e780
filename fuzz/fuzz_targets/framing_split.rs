//! `LineFramer` (SPEC.md §2): any split of the input gives the same frames, committed offset
//! and pending length as the whole; frames are consistent with the bytes (offsets, CR
//! handling, the line limit) and cover the input exactly.
#![no_main]

mod common;

use common::{chunks, cuts, split_input, Owned};
use ftpchat_core::codec::{LineFramer, MAX_LINE_LEN};
use libfuzzer_sys::fuzz_target;

fn run(max_line: usize, start: u64, parts: &[&[u8]]) -> (Vec<Owned>, u64, u64) {
    let mut framer = LineFramer::with_max_line(start, max_line);
    let mut frames = Vec::new();
    for part in parts {
        framer.feed(part, |f| frames.push(Owned::from(f)));
    }
    (frames, framer.committed_offset(), framer.pending_len())
}

fuzz_target!(|input: &[u8]| {
    let (data, mut rng) = split_input(input);
    // Small limits exercise the too-long path; the real one is checked too.
    let max_line = match rng.upto(3) {
        0 => MAX_LINE_LEN,
        _ => 1 + rng.upto(40),
    };
    let start = rng.next() % (1 << 40);
    let whole = run(max_line, start, &[data]);
    let points = cuts(&mut rng, data.len(), 12);
    let split = run(max_line, start, &chunks(data, &points));
    assert_eq!(split, whole, "split at {points:?} differs from whole");

    let (frames, committed, pending) = whole;
    let end = start + data.len() as u64;
    assert_eq!(committed + pending, end);
    let last_lf = data.iter().rposition(|&b| b == b'\n');
    assert_eq!(committed, start + last_lf.map_or(0, |i| i as u64 + 1));

    // Every frame is a line of the input, in order, within the committed part.
    let mut prev_end = start;
    for frame in &frames {
        let (offset, len) = match frame {
            Owned::Line(offset, bytes) => {
                assert!(!bytes.is_empty() && bytes.len() <= max_line);
                assert!(!bytes.contains(&b'\n'));
                let at = (offset - start) as usize;
                assert_eq!(&data[at..at + bytes.len()], &bytes[..]);
                (*offset, bytes.len() as u64)
            }
            Owned::TooLong(offset, len) => {
                assert!(*len as usize > max_line);
                (*offset, *len)
            }
        };
        assert!(offset >= prev_end, "frames overlap or go backwards");
        let at = (offset - start) as usize;
        // The line ends at the next LF, with at most one CR dropped before it.
        let lf = at
            + data[at..]
                .iter()
                .position(|&b| b == b'\n')
                .expect("complete line");
        let raw = (lf - at) as u64;
        assert!(raw == len || (raw == len + 1 && data[lf - 1] == b'\r'));
        if raw == len + 1 {
            // The dropped CR is the line's last byte.
            assert_eq!(data[lf - 1], b'\r');
        } else if raw > 0 {
            assert_ne!(data[lf - 1], b'\r', "a CR before LF must be dropped");
        }
        prev_end = offset + raw + 1;
    }
    assert!(prev_end <= committed);
    // Lines that produced no frame are empty (after dropping one CR).
    let produced: usize = frames.len();
    let nonempty = data[..last_lf.map_or(0, |i| i + 1)]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && *l != b"\r")
        .count();
    assert_eq!(produced, nonempty);
});
