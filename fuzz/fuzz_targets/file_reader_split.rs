//! Incremental reading and merging (SPEC.md §2 item 7, §9.2, §10):
//! - `log::FileReader` + `LineDecoder` reading a growing file over several polls, each
//!   transfer split into arbitrary chunks, with restarts from saved state in between, yield
//!   exactly what decoding the whole file yields (no line lost, none twice), and never ask
//!   for more than the overlap before what they have;
//! - a file that shrinks is restarted; a file whose overlap bytes changed is reported as
//!   replaced, and re-reading it from 0 yields what decoding it whole yields;
//! - `log::Timeline`: inserting the same messages (with replays, and pending copies that
//!   get confirmed) in any order gives the same final order and statuses.
#![no_main]

mod common;

use common::{chunks, cuts, split_input, Rng};
use ftpchat_core::codec::{Codec, DecodedFile, Hlc, Keyring, LineDecoder, WriterId};
use ftpchat_core::codec::{FileReader, ReadPlan, SortKey, Timeline, OVERLAP_LEN};
use ftpchat_core::{Message, MessageId, MessageStatus};
use libfuzzer_sys::fuzz_target;

fn keys() -> Keyring {
    common::vector_keyring()
}

/// Reads `file` (the current content) as one poll; returns false if the reader saw a
/// replacement.
fn poll(
    reader: &mut FileReader,
    decoder: &mut LineDecoder,
    out: &mut DecodedFile,
    file: &[u8],
    rng: &mut Rng,
) -> Result<(), ()> {
    let before = reader.read_pos();
    match reader.plan(file.len() as u64) {
        ReadPlan::UpToDate => assert_eq!(before, file.len() as u64),
        ReadPlan::Restart => {
            assert!((file.len() as u64) < before);
            return Err(());
        }
        ReadPlan::ReadFrom { offset } => {
            assert!(offset <= before && before - offset <= OVERLAP_LEN as u64);
            assert!((file.len() as u64) > before);
            reader.begin_read();
            let region = &file[offset as usize..];
            let points = cuts(rng, region.len(), 6);
            for chunk in chunks(region, &points) {
                if reader
                    .push(chunk, |f| decoder.decode_frame(f, out))
                    .is_err()
                {
                    reader.end_read();
                    return Err(());
                }
            }
            reader.end_read();
            assert_eq!(reader.read_pos(), file.len() as u64);
        }
    }
    Ok(())
}

fn read_growing(data: &[u8], rng: &mut Rng) -> (FileReader, DecodedFile) {
    let mut sizes: Vec<usize> = (0..rng.upto(6)).map(|_| rng.upto(data.len())).collect();
    sizes.push(data.len());
    sizes.sort_unstable();
    let mut reader = FileReader::default();
    let mut decoder = LineDecoder::new(keys());
    let mut got = DecodedFile::default();
    for size in sizes {
        if rng.chance(4) {
            // A restart: resume from the saved state (committed offset + overlap).
            reader = FileReader::resume(reader.state());
        }
        poll(&mut reader, &mut decoder, &mut got, &data[..size], rng)
            .expect("an appended-to file must never look replaced");
    }
    (reader, got)
}

fn check_replacement(reader: &mut FileReader, old: &[u8], new: &[u8], rng: &mut Rng) {
    let pos = reader.read_pos() as usize;
    let mut decoder = LineDecoder::new(keys());
    let mut out = DecodedFile::default();
    let result = poll(reader, &mut decoder, &mut out, new, rng);
    let k = OVERLAP_LEN.min(pos);
    let overlap_changed = new.len() > pos && new[pos - k..pos] != old[pos - k..pos];
    if new.len() < pos || overlap_changed {
        assert!(result.is_err(), "a shrunk or changed file was not noticed");
        reader.reset();
        let mut out = DecodedFile::default();
        poll(reader, &mut decoder, &mut out, new, rng).expect("read from 0");
        let whole = LineDecoder::new(keys()).decode_bytes(new, 0);
        assert_eq!(out.records, whole.records);
        assert_eq!(out.problems, whole.problems);
    } else {
        assert!(result.is_ok());
    }
}

fn timeline_is_order_independent(data: &[u8], rng: &mut Rng) {
    // Messages are functions of their id, so equal ids are replays of one record; a
    // status bit makes some of them our own pending copies.
    let native = rng.chance(2);
    let items: Vec<(SortKey, Message)> = data
        .chunks(2)
        .take(64)
        .map(|c| {
            let seed = c[0];
            let pending = c.get(1).is_some_and(|b| b & 1 == 1);
            let id = MessageId([seed; 16]);
            let key = if native {
                SortKey::Native {
                    hlc: Hlc(u64::from(seed % 4)),
                    writer: WriterId([seed % 3; 16]),
                    seq: u64::from(seed % 5),
                    id,
                }
            } else {
                SortKey::File {
                    pending: u8::from(pending),
                    order: u64::from(seed),
                }
            };
            let codec = if native {
                Codec::Native
            } else {
                Codec::Legacy15
            };
            let mut message = Message::new(id, String::new(), seed.to_string(), codec);
            message.timestamp_ms = Some(u64::from(seed));
            message.status = if pending {
                MessageStatus::Pending
            } else {
                MessageStatus::Confirmed
            };
            message.is_own = pending;
            (key, message)
        })
        .collect();
    let build = |order: &[usize]| {
        let mut t = Timeline::new();
        for &i in order {
            let (key, m) = &items[i];
            t.insert(*key, m.clone());
        }
        t.iter()
            .map(|m| (m.id, m.status))
            .collect::<Vec<(MessageId, MessageStatus)>>()
    };
    let forward: Vec<usize> = (0..items.len()).collect();
    let mut shuffled = forward.clone();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.upto(i));
    }
    let a = build(&forward);
    assert_eq!(a, build(&shuffled), "timeline depends on insertion order");
    let mut ids: Vec<MessageId> = a.iter().map(|(id, _)| *id).collect();
    ids.dedup();
    assert_eq!(ids.len(), a.len(), "a message appears twice");
}

fuzz_target!(|input: &[u8]| {
    let (data, mut rng) = split_input(input);
    let whole = LineDecoder::new(keys()).decode_bytes(data, 0);
    let (mut reader, got) = read_growing(data, &mut rng);
    assert_eq!(got.records, whole.records);
    assert_eq!(got.problems, whole.problems);
    assert_eq!(reader.committed(), whole.committed_offset);
    assert_eq!(reader.pending_len(), whole.incomplete_tail);
    assert_eq!(reader.state().committed, whole.committed_offset);
    assert!(reader.state().overlap.len() <= OVERLAP_LEN);

    // Then the file is replaced: shrunk, changed inside or before the overlap, or grown.
    let mut new = data[..rng.upto(data.len())].to_vec();
    if rng.chance(2) && !new.is_empty() {
        let at = rng.upto(new.len() - 1);
        new[at] = new[at].wrapping_add(1 + rng.upto(254) as u8);
    }
    let extra = rng.upto(64);
    new.extend((0..extra).map(|_| rng.next() as u8));
    check_replacement(&mut reader, data, &new, &mut rng);

    timeline_is_order_independent(data, &mut rng);
});
