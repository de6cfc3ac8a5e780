//! The transport conformance suite: one set of cases that every [`Transport`] must pass.
//!
//! # Fixture contract
//!
//! Every case takes `make: &dyn Fn() -> Box<dyn Transport>`. Each call to `make` returns a
//! new transport instance (for FTP: a new connection) on **one shared store**; a case may
//! call it several times to get several clients of the same store. Cases never assume the
//! store is empty: each works only under its own directory, named uniquely by case, process,
//! time and a counter, so cases can run in parallel against one server (and against one
//! left over from an earlier run). A case removes its directory when it passes and leaves
//! it for inspection when it fails.
//!
//! Nothing here assumes more than the [`Transport`] trait documents, plus that a parent
//! directory must exist before something is made in it (see
//! [`append_in_missing_dir_is_not_found`]).
//!
//! # Use
//!
//! ```
//! mod memory {
//!     use ftpchat_core::testing::MemoryTransport;
//!     use ftpchat_core::Transport;
//!
//!     ftpchat_core::conformance_tests!({
//!         let store = MemoryTransport::new();
//!         move || Box::new(store.clone()) as Box<dyn Transport>
//!     });
//! }
//! ```
//!
//! [`conformance_tests!`](crate::conformance_tests) makes one `#[test]` per case (so a
//! failure names its case) plus a check that the macro and [`CASES`] list the same cases.
//! [`run_all`] runs every case in one test instead. Each case is also a public function
//! taking the fixture, to run a chosen few.
//!
//! A case fails by panicking (these are assertions), with the transport's
//! [`describe`](Transport::describe) and what was expected in the message.

// Panicking is how a case fails.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::transport::{
    make_dir_all, read_all, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
};

/// Makes a new client of the shared store under test.
pub type Make<'a> = &'a dyn Fn() -> Box<dyn Transport>;

/// One conformance case.
pub type Case = fn(Make<'_>);

/// Every case, by name. [`conformance_tests!`](crate::conformance_tests) must list the same
/// names in the same order.
pub const CASES: &[(&str, Case)] = &[
    ("describe_is_not_empty", describe_is_not_empty),
    ("size_of_missing_file_is_none", size_of_missing_file_is_none),
    ("empty_file_has_size_zero", empty_file_has_size_zero),
    (
        "append_empty_creates_empty_file",
        append_empty_creates_empty_file,
    ),
    (
        "read_missing_file_is_not_found",
        read_missing_file_is_not_found,
    ),
    (
        "read_at_or_past_end_returns_zero",
        read_at_or_past_end_returns_zero,
    ),
    ("read_from_middle", read_from_middle),
    ("append_creates_file", append_creates_file),
    ("append_twice_concatenates", append_twice_concatenates),
    (
        "append_in_missing_dir_is_not_found",
        append_in_missing_dir_is_not_found,
    ),
    ("size_tracks_appends", size_tracks_appends),
    (
        "binary_data_round_trips_byte_exact",
        binary_data_round_trips_byte_exact,
    ),
    ("write_atomic_creates_file", write_atomic_creates_file),
    (
        "write_atomic_replaces_content",
        write_atomic_replaces_content,
    ),
    (
        "write_atomic_leaves_only_the_target",
        write_atomic_leaves_only_the_target,
    ),
    (
        "write_atomic_in_missing_dir_is_not_found",
        write_atomic_in_missing_dir_is_not_found,
    ),
    (
        "list_shows_files_with_sizes_and_dirs",
        list_shows_files_with_sizes_and_dirs,
    ),
    ("list_shows_dot_files", list_shows_dot_files),
    ("list_of_empty_dir_is_empty", list_of_empty_dir_is_empty),
    (
        "list_of_missing_dir_is_not_found",
        list_of_missing_dir_is_not_found,
    ),
    ("make_dir_creates_a_dir", make_dir_creates_a_dir),
    (
        "make_dir_existing_is_already_exists",
        make_dir_existing_is_already_exists,
    ),
    (
        "make_dir_in_missing_parent_is_not_found",
        make_dir_in_missing_parent_is_not_found,
    ),
    ("make_dir_all_creates_parents", make_dir_all_creates_parents),
    ("remove_file_removes", remove_file_removes),
    (
        "remove_missing_file_is_not_found",
        remove_missing_file_is_not_found,
    ),
    ("remove_dir_removes_empty_dir", remove_dir_removes_empty_dir),
    (
        "remove_missing_dir_is_not_found",
        remove_missing_dir_is_not_found,
    ),
    ("remove_non_empty_dir_fails", remove_non_empty_dir_fails),
    ("rename_moves_file", rename_moves_file),
    ("rename_across_directories", rename_across_directories),
    (
        "rename_replaces_existing_target",
        rename_replaces_existing_target,
    ),
    (
        "rename_missing_source_is_not_found",
        rename_missing_source_is_not_found,
    ),
    (
        "rename_directory_moves_contents",
        rename_directory_moves_contents,
    ),
    ("unicode_names_round_trip", unicode_names_round_trip),
    (
        "special_character_names_round_trip",
        special_character_names_round_trip,
    ),
    ("whitespace_in_names", whitespace_in_names),
    ("large_file_in_chunks", large_file_in_chunks),
    (
        "append_from_streams_a_large_source",
        append_from_streams_a_large_source,
    ),
    (
        "clients_see_each_others_writes",
        clients_see_each_others_writes,
    ),
    (
        "concurrent_appends_to_separate_files",
        concurrent_appends_to_separate_files,
    ),
    (
        "concurrent_appends_to_one_file_when_atomic",
        concurrent_appends_to_one_file_when_atomic,
    ),
    ("write_new_creates_only_once", write_new_creates_only_once),
    (
        "write_new_race_has_one_winner",
        write_new_race_has_one_winner,
    ),
    (
        "list_after_pages_in_key_order",
        list_after_pages_in_key_order,
    ),
];

/// Makes one `#[test]` per conformance case, each building its own fixture from the given
/// expression (evaluated once per test; it must yield a `Fn() -> Box<dyn Transport>`).
/// Invoke it inside its own module per transport (the test names are the case names).
/// Needs the `testing` feature of `ftpchat-core`; see [`testing`](crate::testing).
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:expr) => {
        $crate::conformance_tests!(@cases $fixture;
            describe_is_not_empty,
            size_of_missing_file_is_none,
            empty_file_has_size_zero,
            append_empty_creates_empty_file,
            read_missing_file_is_not_found,
            read_at_or_past_end_returns_zero,
            read_from_middle,
            append_creates_file,
            append_twice_concatenates,
            append_in_missing_dir_is_not_found,
            size_tracks_appends,
            binary_data_round_trips_byte_exact,
            write_atomic_creates_file,
            write_atomic_replaces_content,
            write_atomic_leaves_only_the_target,
            write_atomic_in_missing_dir_is_not_found,
            list_shows_files_with_sizes_and_dirs,
            list_shows_dot_files,
            list_of_empty_dir_is_empty,
            list_of_missing_dir_is_not_found,
            make_dir_creates_a_dir,
            make_dir_existing_is_already_exists,
            make_dir_in_missing_parent_is_not_found,
            make_dir_all_creates_parents,
            remove_file_removes,
            remove_missing_file_is_not_found,
            remove_dir_removes_empty_dir,
            remove_missing_dir_is_not_found,
            remove_non_empty_dir_fails,
            rename_moves_file,
            rename_across_directories,
            rename_replaces_existing_target,
            rename_missing_source_is_not_found,
            rename_directory_moves_contents,
            unicode_names_round_trip,
            special_character_names_round_trip,
            whitespace_in_names,
            large_file_in_chunks,
            append_from_streams_a_large_source,
            clients_see_each_others_writes,
            concurrent_appends_to_separate_files,
            concurrent_appends_to_one_file_when_atomic,
            write_new_creates_only_once,
            write_new_race_has_one_winner,
            list_after_pages_in_key_order,
        );
    };
    (@cases $fixture:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let make = $fixture;
                $crate::testing::conformance::$case(&make);
            }
        )*

        #[test]
        fn every_conformance_case_has_a_test() {
            let generated: &[&str] = &[$(stringify!($case)),*];
            let listed: Vec<&str> = $crate::testing::conformance::CASES.iter().map(|(name, _)| *name).collect();
            assert_eq!(generated, listed.as_slice(), "conformance_tests! and CASES disagree");
        }
    };
}

/// Runs every case in order, naming each on stderr before it runs.
pub fn run_all(make: Make<'_>) {
    for (name, case) in CASES {
        eprintln!("conformance: {name}");
        case(make);
    }
}

// ---------------------------------------------------------------------------------------
// Fixture and helpers

static CASE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One client and the unique directory a case works in.
struct CaseDir {
    t: Box<dyn Transport>,
    dir: RemotePath,
}

impl CaseDir {
    fn new(make: Make<'_>, case: &str) -> Self {
        let t = make();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "conformance-{case}-{}-{nanos}-{}",
            std::process::id(),
            CASE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = RemotePath::new(&name).unwrap();
        t.make_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: make_dir({dir}) for the case: {e}", t.describe()));
        CaseDir { t, dir }
    }

    /// `rel` under the case directory.
    fn path(&self, rel: &str) -> RemotePath {
        self.dir.join(rel).unwrap()
    }

    fn t(&self) -> &dyn Transport {
        &*self.t
    }

    /// Prefixes assertion messages with the transport under test.
    fn ctx(&self, what: &str) -> String {
        format!("[{}] {what}", self.t.describe())
    }

    /// Removes the case directory (best effort: a leftover is harmless).
    fn finish(self) {
        remove_tree(&*self.t, &self.dir);
    }
}

fn remove_tree(t: &dyn Transport, dir: &RemotePath) {
    if let Ok(entries) = t.list(dir) {
        for entry in entries {
            let Ok(child) = dir.join(&entry.name) else {
                continue;
            };
            if entry.is_dir {
                remove_tree(t, &child);
            } else {
                let _ = t.remove_file(&child);
            }
        }
    }
    let _ = t.remove_dir(dir);
}

/// Creates or extends a file for cases that are not about `append`: appends when the
/// transport can, else replaces the file with `write_atomic` (the cases only put data into
/// files they just made, so the content is the same either way on a fresh file).
#[track_caller]
fn put(t: &dyn Transport, path: &RemotePath, data: &[u8]) {
    let result = if t.capabilities().append {
        t.append(path, data)
    } else {
        t.write_atomic(path, data)
    };
    result.unwrap_or_else(|e| panic!("[{}] writing {path}: {e}", t.describe()));
}

/// `true` when the transport claims `append`; otherwise checks that `append` is refused
/// with [`TransportErrorKind::Unsupported`] and creates nothing, and returns `false` (the
/// calling case, about appending, has nothing more to check).
fn can_append(c: &CaseDir) -> bool {
    if c.t().capabilities().append {
        return true;
    }
    let f = c.path("append-refused.log");
    expect_kind(
        c.t().append(&f, b"x"),
        TransportErrorKind::Unsupported,
        &c.ctx("append on a transport without `append`"),
    );
    assert_eq!(
        size(c.t(), &f),
        None,
        "{}",
        c.ctx("a refused append created a file")
    );
    false
}

/// Reads from `offset`, checking the returned count matches what reached the sink.
fn read(t: &dyn Transport, path: &RemotePath, offset: u64) -> Vec<u8> {
    let mut sink = Vec::new();
    let n = t
        .read_from(path, offset, &mut sink)
        .unwrap_or_else(|e| panic!("[{}] read_from({path}, {offset}): {e}", t.describe()));
    assert_eq!(
        n,
        sink.len() as u64,
        "[{}] read_from({path}, {offset}) returned {n} but wrote {} bytes",
        t.describe(),
        sink.len()
    );
    sink
}

fn size(t: &dyn Transport, path: &RemotePath) -> Option<u64> {
    t.size(path)
        .unwrap_or_else(|e| panic!("[{}] size({path}): {e}", t.describe()))
}

#[track_caller]
fn expect_kind<T: Debug>(
    result: Result<T, TransportError>,
    kind: TransportErrorKind,
    what: &str,
) -> TransportError {
    match result {
        Ok(v) => panic!("{what}: expected a {kind} error, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{what}: wrong error kind: {e}");
            e
        }
    }
}

/// Deterministic, incompressible-looking bytes, so a shifted or repeated chunk shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Every byte value plus the sequences an ASCII-mode transfer would rewrite.
fn tricky_bytes() -> Vec<u8> {
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend_from_slice(b"line\nwindows\r\nold-mac\rnul\0\0\r\r\n\n\r");
    data.extend((0..=255u8).rev());
    data
}

fn by_name(entries: Vec<DirEntry>) -> BTreeMap<String, DirEntry> {
    let mut map = BTreeMap::new();
    for entry in entries {
        let name = entry.name.clone();
        assert!(
            map.insert(name.clone(), entry).is_none(),
            "listing names {name:?} twice"
        );
    }
    map
}

/// Checks a file entry's size, allowing `None` only for transports whose listings do not
/// carry sizes.
fn check_listed_file(c: &CaseDir, entry: &DirEntry, want: u64) {
    assert!(
        !entry.is_dir,
        "{}",
        c.ctx(&format!("{entry:?} should be a file"))
    );
    if c.t().capabilities().listing_with_sizes {
        assert_eq!(
            entry.size,
            Some(want),
            "{}",
            c.ctx(&format!("size of {entry:?}"))
        );
    } else {
        assert!(
            entry.size.is_none() || entry.size == Some(want),
            "{}",
            c.ctx(&format!("size of {entry:?}"))
        );
    }
}

// ---------------------------------------------------------------------------------------
// describe

/// `describe` says something (and the fixture works).
pub fn describe_is_not_empty(make: Make<'_>) {
    let c = CaseDir::new(make, "describe");
    assert!(!c.t().describe().trim().is_empty());
    c.finish();
}

// ---------------------------------------------------------------------------------------
// size and read_from

/// `size` of a missing file, also one in a missing directory, is `None`.
pub fn size_of_missing_file_is_none(make: Make<'_>) {
    let c = CaseDir::new(make, "size-missing");
    assert_eq!(
        size(c.t(), &c.path("nope.txt")),
        None,
        "{}",
        c.ctx("missing file")
    );
    assert_eq!(
        size(c.t(), &c.path("no-dir/nope.txt")),
        None,
        "{}",
        c.ctx("file in a missing directory")
    );
    c.finish();
}

/// An empty file (written with `write_atomic`) has size 0 and reads as nothing.
pub fn empty_file_has_size_zero(make: Make<'_>) {
    let c = CaseDir::new(make, "size-empty");
    let f = c.path("empty");
    c.t().write_atomic(&f, b"").unwrap();
    assert_eq!(size(c.t(), &f), Some(0), "{}", c.ctx("size"));
    assert_eq!(read(c.t(), &f, 0), b"", "{}", c.ctx("read"));
    c.finish();
}

/// Appending nothing still creates the file ("creating the file when it does not exist").
pub fn append_empty_creates_empty_file(make: Make<'_>) {
    let c = CaseDir::new(make, "append-empty");
    if !can_append(&c) {
        c.finish();
        return;
    }
    let f = c.path("empty.log");
    c.t().append(&f, b"").unwrap();
    assert_eq!(
        size(c.t(), &f),
        Some(0),
        "{}",
        c.ctx("size after empty append")
    );
    c.t().append(&f, b"x").unwrap();
    c.t().append(&f, b"").unwrap();
    assert_eq!(read(c.t(), &f, 0), b"x", "{}", c.ctx("content"));
    c.finish();
}

/// Reading a missing file, also one in a missing directory, is `NotFound`, and writes
/// nothing to the sink.
pub fn read_missing_file_is_not_found(make: Make<'_>) {
    let c = CaseDir::new(make, "read-missing");
    for rel in ["nope.txt", "no-dir/nope.txt"] {
        let mut sink = Vec::new();
        expect_kind(
            c.t().read_from(&c.path(rel), 0, &mut sink),
            TransportErrorKind::NotFound,
            &c.ctx(&format!("read_from({rel})")),
        );
        assert!(sink.is_empty(), "{}", c.ctx("sink after a failed read"));
    }
    expect_kind(
        read_all(c.t(), &c.path("nope.txt")),
        TransportErrorKind::NotFound,
        &c.ctx("read_all"),
    );
    c.finish();
}

/// Reading at the end, past it, or from an empty file returns 0 bytes and succeeds.
pub fn read_at_or_past_end_returns_zero(make: Make<'_>) {
    let c = CaseDir::new(make, "read-past-end");
    let f = c.path("f");
    put(c.t(), &f, b"0123456789");
    for offset in [10, 11, 1000, 1 << 40] {
        assert_eq!(
            read(c.t(), &f, offset),
            b"",
            "{}",
            c.ctx(&format!("offset {offset}"))
        );
    }
    let empty = c.path("empty");
    c.t().write_atomic(&empty, b"").unwrap();
    for offset in [0, 1, 100] {
        assert_eq!(
            read(c.t(), &empty, offset),
            b"",
            "{}",
            c.ctx(&format!("empty file, offset {offset}"))
        );
    }
    c.finish();
}

/// Reading from an offset returns exactly the tail.
pub fn read_from_middle(make: Make<'_>) {
    let c = CaseDir::new(make, "read-middle");
    let f = c.path("f");
    let data = b"0123456789abcdefghij";
    put(c.t(), &f, data);
    for offset in [0usize, 1, 7, 10, 19] {
        assert_eq!(
            read(c.t(), &f, offset as u64),
            &data[offset..],
            "{}",
            c.ctx(&format!("offset {offset}"))
        );
    }
    c.finish();
}

// ---------------------------------------------------------------------------------------
// append

/// `append` creates a missing file with the data.
pub fn append_creates_file(make: Make<'_>) {
    let c = CaseDir::new(make, "append-creates");
    if !can_append(&c) {
        c.finish();
        return;
    }
    let f = c.path("new.log");
    c.t().append(&f, b"first line\n").unwrap();
    assert_eq!(size(c.t(), &f), Some(11), "{}", c.ctx("size"));
    assert_eq!(read(c.t(), &f, 0), b"first line\n", "{}", c.ctx("content"));
    c.finish();
}

/// Two appends concatenate, in order.
pub fn append_twice_concatenates(make: Make<'_>) {
    let c = CaseDir::new(make, "append-twice");
    if !can_append(&c) {
        c.finish();
        return;
    }
    let f = c.path("log");
    c.t().append(&f, b"one\n").unwrap();
    c.t().append(&f, b"two\n").unwrap();
    assert_eq!(read(c.t(), &f, 0), b"one\ntwo\n", "{}", c.ctx("content"));
    assert_eq!(read(c.t(), &f, 4), b"two\n", "{}", c.ctx("tail"));
    c.finish();
}

/// Appending in a directory that does not exist is `NotFound` (FTP `APPE` and `open(2)`
/// both refuse; nothing creates parents implicitly).
pub fn append_in_missing_dir_is_not_found(make: Make<'_>) {
    let c = CaseDir::new(make, "append-missing-dir");
    if !can_append(&c) {
        c.finish();
        return;
    }
    expect_kind(
        c.t().append(&c.path("no-dir/f.log"), b"x"),
        TransportErrorKind::NotFound,
        &c.ctx("append in a missing directory"),
    );
    expect_kind(
        c.t().list(&c.path("no-dir")),
        TransportErrorKind::NotFound,
        &c.ctx("the directory must not have been created"),
    );
    c.finish();
}

/// `size` follows every append exactly.
pub fn size_tracks_appends(make: Make<'_>) {
    let c = CaseDir::new(make, "size-tracks");
    if !can_append(&c) {
        c.finish();
        return;
    }
    let f = c.path("log");
    let mut expected = 0u64;
    for (i, len) in [1usize, 10, 100, 1000, 3].into_iter().enumerate() {
        c.t().append(&f, &pattern(len, i as u64)).unwrap();
        expected += len as u64;
        assert_eq!(
            size(c.t(), &f),
            Some(expected),
            "{}",
            c.ctx(&format!("after append {i}"))
        );
    }
    c.finish();
}

/// All 256 byte values, `\n`, `\r\n`, lone `\r` and `\0` round-trip byte for byte through
/// `append`, `write_atomic`, `size` and `read_from` at any offset (an ASCII-mode transfer
/// fails this).
pub fn binary_data_round_trips_byte_exact(make: Make<'_>) {
    let c = CaseDir::new(make, "binary");
    let data = tricky_bytes();
    let mut want = data.clone();
    want.push(b'\n');

    // Appended in pieces that split "\r\n" across two appends (written whole by a
    // transport that cannot append).
    let appended = c.path("appended.bin");
    if c.t().capabilities().append {
        let split = data.windows(2).position(|w| w == b"\r\n").unwrap() + 1;
        c.t().append(&appended, &data[..split]).unwrap();
        c.t().append(&appended, &data[split..]).unwrap();
        c.t().append(&appended, b"\n").unwrap();
    } else {
        c.t().write_atomic(&appended, &want).unwrap();
    }
    assert_eq!(
        size(c.t(), &appended),
        Some(want.len() as u64),
        "{}",
        c.ctx("size")
    );
    assert!(
        read(c.t(), &appended, 0) == want,
        "{}",
        c.ctx("appended bytes differ")
    );
    for offset in 0..want.len() {
        if matches!(want[offset], b'\r' | b'\n' | 0) || offset % 37 == 0 {
            assert!(
                read(c.t(), &appended, offset as u64) == want[offset..],
                "{}",
                c.ctx(&format!("tail from {offset} differs"))
            );
        }
    }

    let atomic = c.path("atomic.bin");
    c.t().write_atomic(&atomic, &data).unwrap();
    assert_eq!(
        size(c.t(), &atomic),
        Some(data.len() as u64),
        "{}",
        c.ctx("size")
    );
    assert!(
        read(c.t(), &atomic, 0) == data,
        "{}",
        c.ctx("written bytes differ")
    );
    c.finish();
}

// ---------------------------------------------------------------------------------------
// write_atomic

/// `write_atomic` creates a missing file.
pub fn write_atomic_creates_file(make: Make<'_>) {
    let c = CaseDir::new(make, "atomic-creates");
    let f = c.path("header.json");
    c.t().write_atomic(&f, b"{\"v\":1}").unwrap();
    assert_eq!(read(c.t(), &f, 0), b"{\"v\":1}", "{}", c.ctx("content"));
    c.finish();
}

/// `write_atomic` replaces the whole content, including with something shorter.
pub fn write_atomic_replaces_content(make: Make<'_>) {
    let c = CaseDir::new(make, "atomic-replaces");
    let f = c.path("header");
    put(c.t(), &f, b"appended before\n");
    c.t()
        .write_atomic(&f, b"a much longer replacement text")
        .unwrap();
    assert_eq!(
        read(c.t(), &f, 0),
        b"a much longer replacement text",
        "{}",
        c.ctx("longer")
    );
    c.t().write_atomic(&f, b"short").unwrap();
    assert_eq!(size(c.t(), &f), Some(5), "{}", c.ctx("size after shorter"));
    assert_eq!(read(c.t(), &f, 0), b"short", "{}", c.ctx("shorter"));
    c.finish();
}

/// After `write_atomic` the directory holds the target and no temporary file.
pub fn write_atomic_leaves_only_the_target(make: Make<'_>) {
    let c = CaseDir::new(make, "atomic-clean");
    let f = c.path("state");
    c.t().write_atomic(&f, b"1").unwrap();
    c.t().write_atomic(&f, b"22").unwrap();
    let names: Vec<String> = c
        .t()
        .list(&c.dir)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, vec!["state".to_owned()], "{}", c.ctx("listing"));
    c.finish();
}

/// `write_atomic` in a missing directory is `NotFound`.
pub fn write_atomic_in_missing_dir_is_not_found(make: Make<'_>) {
    let c = CaseDir::new(make, "atomic-missing-dir");
    expect_kind(
        c.t().write_atomic(&c.path("no-dir/f"), b"x"),
        TransportErrorKind::NotFound,
        &c.ctx("write_atomic in a missing directory"),
    );
    c.finish();
}

// ---------------------------------------------------------------------------------------
// list

/// `list` names every file and directory once (no `.`/`..`), tells them apart, and gives
/// file sizes (when [`Capabilities::listing_with_sizes`]); nested directories list too.
///
/// [`Capabilities::listing_with_sizes`]: crate::Capabilities
pub fn list_shows_files_with_sizes_and_dirs(make: Make<'_>) {
    let c = CaseDir::new(make, "list");
    put(c.t(), &c.path("a.log"), b"abc");
    c.t().write_atomic(&c.path("b.json"), b"").unwrap();
    put(c.t(), &c.path("c.bin"), &pattern(4097, 1));
    c.t().make_dir(&c.path("sub")).unwrap();
    c.t().make_dir(&c.path("sub/inner")).unwrap();
    put(c.t(), &c.path("sub/deep.txt"), b"12345");

    let entries = by_name(c.t().list(&c.dir).unwrap());
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["a.log", "b.json", "c.bin", "sub"],
        "{}",
        c.ctx("names")
    );
    check_listed_file(&c, &entries["a.log"], 3);
    check_listed_file(&c, &entries["b.json"], 0);
    check_listed_file(&c, &entries["c.bin"], 4097);
    assert!(entries["sub"].is_dir, "{}", c.ctx("sub is a directory"));

    let nested = by_name(c.t().list(&c.path("sub")).unwrap());
    let names: Vec<&str> = nested.keys().map(String::as_str).collect();
    assert_eq!(names, ["deep.txt", "inner"], "{}", c.ctx("nested names"));
    check_listed_file(&c, &nested["deep.txt"], 5);
    assert!(nested["inner"].is_dir, "{}", c.ctx("inner is a directory"));
    c.finish();
}

/// Names starting with a dot are listed like any other (FTP `LIST` hides them on some
/// servers unless asked; a transport must not).
pub fn list_shows_dot_files(make: Make<'_>) {
    let c = CaseDir::new(make, "list-dot");
    put(c.t(), &c.path(".hidden"), b"x");
    c.t().make_dir(&c.path(".hidden-dir")).unwrap();
    put(c.t(), &c.path("visible"), b"y");
    let entries = by_name(c.t().list(&c.dir).unwrap());
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [".hidden", ".hidden-dir", "visible"],
        "{}",
        c.ctx("names")
    );
    c.finish();
}

/// An empty directory lists as nothing (no `.` or `..`).
pub fn list_of_empty_dir_is_empty(make: Make<'_>) {
    let c = CaseDir::new(make, "list-empty");
    let d = c.path("empty");
    c.t().make_dir(&d).unwrap();
    assert_eq!(
        c.t().list(&d).unwrap(),
        vec![],
        "{}",
        c.ctx("empty directory")
    );
    c.finish();
}

/// Listing a missing directory is `NotFound`.
pub fn list_of_missing_dir_is_not_found(make: Make<'_>) {
    let c = CaseDir::new(make, "list-missing");
    expect_kind(
        c.t().list(&c.path("nope")),
        TransportErrorKind::NotFound,
        &c.ctx("list of a missing directory"),
    );
    expect_kind(
        c.t().list(&c.path("nope/deeper")),
        TransportErrorKind::NotFound,
        &c.ctx("list below a missing directory"),
    );
    c.finish();
}

// ---------------------------------------------------------------------------------------
// make_dir

/// `make_dir` makes a directory that lists and holds files.
pub fn make_dir_creates_a_dir(make: Make<'_>) {
    let c = CaseDir::new(make, "mkdir");
    let d = c.path("room");
    c.t().make_dir(&d).unwrap();
    let entries = c.t().list(&c.dir).unwrap();
    assert_eq!(entries.len(), 1, "{}", c.ctx("listing"));
    assert!(
        entries[0].is_dir && entries[0].name == "room",
        "{}",
        c.ctx("entry")
    );
    put(c.t(), &c.path("room/f"), b"x");
    assert_eq!(size(c.t(), &c.path("room/f")), Some(1));
    c.finish();
}

/// `make_dir` on an existing directory is `AlreadyExists`, also from another client: the
/// test-and-set a lock is built on.
pub fn make_dir_existing_is_already_exists(make: Make<'_>) {
    let c = CaseDir::new(make, "mkdir-exists");
    let d = c.path("lock");
    c.t().make_dir(&d).unwrap();
    expect_kind(
        c.t().make_dir(&d),
        TransportErrorKind::AlreadyExists,
        &c.ctx("second make_dir"),
    );
    let other = make();
    expect_kind(
        other.make_dir(&d),
        TransportErrorKind::AlreadyExists,
        &c.ctx("make_dir from another client"),
    );
    c.t().remove_dir(&d).unwrap();
    other.make_dir(&d).unwrap();
    c.finish();
}

/// `make_dir` makes one level only: a missing parent is `NotFound`.
pub fn make_dir_in_missing_parent_is_not_found(make: Make<'_>) {
    let c = CaseDir::new(make, "mkdir-no-parent");
    expect_kind(
        c.t().make_dir(&c.path("a/b")),
        TransportErrorKind::NotFound,
        &c.ctx("make_dir with a missing parent"),
    );
    c.finish();
}

/// [`make_dir_all`] makes missing parents and accepts existing ones.
pub fn make_dir_all_creates_parents(make: Make<'_>) {
    let c = CaseDir::new(make, "mkdir-all");
    let deep = c.path("a/b/c/d");
    make_dir_all(c.t(), &deep).unwrap();
    make_dir_all(c.t(), &deep).unwrap();
    make_dir_all(c.t(), &c.path("a/b/other")).unwrap();
    assert_eq!(
        c.t().list(&deep).unwrap(),
        vec![],
        "{}",
        c.ctx("deep directory")
    );
    let names: Vec<String> = by_name(c.t().list(&c.path("a/b")).unwrap())
        .into_keys()
        .collect();
    assert_eq!(names, ["c", "other"], "{}", c.ctx("siblings"));
    c.finish();
}

// ---------------------------------------------------------------------------------------
// remove_file and remove_dir

/// `remove_file` removes a file and only it.
pub fn remove_file_removes(make: Make<'_>) {
    let c = CaseDir::new(make, "rm");
    put(c.t(), &c.path("gone"), b"x");
    put(c.t(), &c.path("kept"), b"y");
    c.t().remove_file(&c.path("gone")).unwrap();
    assert_eq!(
        size(c.t(), &c.path("gone")),
        None,
        "{}",
        c.ctx("removed file")
    );
    assert_eq!(
        size(c.t(), &c.path("kept")),
        Some(1),
        "{}",
        c.ctx("other file")
    );
    c.finish();
}

/// Removing a missing file is `NotFound`.
pub fn remove_missing_file_is_not_found(make: Make<'_>) {
    let c = CaseDir::new(make, "rm-missing");
    expect_kind(
        c.t().remove_file(&c.path("nope")),
        TransportErrorKind::NotFound,
        &c.ctx("remove_file of a missing file"),
    );
    c.finish();
}

/// `remove_dir` removes an empty directory.
pub fn remove_dir_removes_empty_dir(make: Make<'_>) {
    let c = CaseDir::new(make, "rmdir");
    let d = c.path("d");
    c.t().make_dir(&d).unwrap();
    c.t().remove_dir(&d).unwrap();
    expect_kind(
        c.t().list(&d),
        TransportErrorKind::NotFound,
        &c.ctx("removed directory"),
    );
    assert_eq!(
        c.t().list(&c.dir).unwrap(),
        vec![],
        "{}",
        c.ctx("parent listing")
    );
    c.t().make_dir(&d).unwrap(); // the name is free again
    c.finish();
}

/// Removing a missing directory is `NotFound`.
pub fn remove_missing_dir_is_not_found(make: Make<'_>) {
    let c = CaseDir::new(make, "rmdir-missing");
    expect_kind(
        c.t().remove_dir(&c.path("nope")),
        TransportErrorKind::NotFound,
        &c.ctx("remove_dir of a missing directory"),
    );
    c.finish();
}

/// `remove_dir` of a non-empty directory fails, not as transient, and removes nothing.
pub fn remove_non_empty_dir_fails(make: Make<'_>) {
    let c = CaseDir::new(make, "rmdir-non-empty");
    let d = c.path("d");
    c.t().make_dir(&d).unwrap();
    put(c.t(), &c.path("d/f"), b"x");
    let err = c
        .t()
        .remove_dir(&d)
        .expect_err(&c.ctx("remove_dir of a non-empty directory succeeded"));
    assert!(
        !err.is_transient(),
        "{}",
        c.ctx(&format!("retrying cannot help: {err}"))
    );
    assert_eq!(
        size(c.t(), &c.path("d/f")),
        Some(1),
        "{}",
        c.ctx("file survives")
    );
    c.finish();
}

// ---------------------------------------------------------------------------------------
// rename

/// `rename` moves a file: the old name is gone, the new one has the bytes.
pub fn rename_moves_file(make: Make<'_>) {
    let c = CaseDir::new(make, "rename");
    put(c.t(), &c.path("old"), b"payload");
    c.t().rename(&c.path("old"), &c.path("new")).unwrap();
    assert_eq!(size(c.t(), &c.path("old")), None, "{}", c.ctx("old name"));
    assert_eq!(
        read(c.t(), &c.path("new"), 0),
        b"payload",
        "{}",
        c.ctx("new name")
    );
    c.finish();
}

/// `rename` moves a file into another directory.
pub fn rename_across_directories(make: Make<'_>) {
    let c = CaseDir::new(make, "rename-dirs");
    c.t().make_dir(&c.path("a")).unwrap();
    c.t().make_dir(&c.path("b")).unwrap();
    put(c.t(), &c.path("a/f"), b"moved");
    c.t().rename(&c.path("a/f"), &c.path("b/g")).unwrap();
    assert_eq!(
        c.t().list(&c.path("a")).unwrap(),
        vec![],
        "{}",
        c.ctx("source dir")
    );
    assert_eq!(
        read(c.t(), &c.path("b/g"), 0),
        b"moved",
        "{}",
        c.ctx("target")
    );
    c.finish();
}

/// `rename` over an existing file replaces it.
pub fn rename_replaces_existing_target(make: Make<'_>) {
    let c = CaseDir::new(make, "rename-replace");
    put(c.t(), &c.path("new"), b"fresh");
    put(c.t(), &c.path("current"), b"stale content, longer");
    c.t().rename(&c.path("new"), &c.path("current")).unwrap();
    assert_eq!(size(c.t(), &c.path("new")), None, "{}", c.ctx("source"));
    assert_eq!(
        read(c.t(), &c.path("current"), 0),
        b"fresh",
        "{}",
        c.ctx("target")
    );
    let names: Vec<String> = c
        .t()
        .list(&c.dir)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["current"], "{}", c.ctx("listing"));
    c.finish();
}

/// Renaming a missing file is `NotFound` and creates nothing.
pub fn rename_missing_source_is_not_found(make: Make<'_>) {
    let c = CaseDir::new(make, "rename-missing");
    expect_kind(
        c.t().rename(&c.path("nope"), &c.path("target")),
        TransportErrorKind::NotFound,
        &c.ctx("rename of a missing file"),
    );
    assert_eq!(size(c.t(), &c.path("target")), None, "{}", c.ctx("target"));
    c.finish();
}

/// Renaming a directory moves everything in it.
pub fn rename_directory_moves_contents(make: Make<'_>) {
    let c = CaseDir::new(make, "rename-dir");
    make_dir_all(c.t(), &c.path("staging/sub")).unwrap();
    put(c.t(), &c.path("staging/top.txt"), b"top");
    put(c.t(), &c.path("staging/sub/deep.txt"), b"deep");
    c.t().rename(&c.path("staging"), &c.path("final")).unwrap();
    expect_kind(
        c.t().list(&c.path("staging")),
        TransportErrorKind::NotFound,
        &c.ctx("old directory"),
    );
    assert_eq!(
        read(c.t(), &c.path("final/top.txt"), 0),
        b"top",
        "{}",
        c.ctx("top")
    );
    assert_eq!(
        read(c.t(), &c.path("final/sub/deep.txt"), 0),
        b"deep",
        "{}",
        c.ctx("deep")
    );
    c.finish();
}

// ---------------------------------------------------------------------------------------
// names

fn check_names_round_trip(c: &CaseDir, dir_name: &str, file_names: &[&str]) {
    let d = c.path(dir_name);
    c.t().make_dir(&d).unwrap();
    for (i, name) in file_names.iter().enumerate() {
        let f = d.join(name).unwrap();
        let content = format!("{i}:{name}");
        put(c.t(), &f, content.as_bytes());
        assert_eq!(
            size(c.t(), &f),
            Some(content.len() as u64),
            "{}",
            c.ctx(&format!("size of {name:?}"))
        );
        assert_eq!(
            read(c.t(), &f, 0),
            content.as_bytes(),
            "{}",
            c.ctx(&format!("content of {name:?}"))
        );
    }
    let listed: Vec<String> = by_name(c.t().list(&d).unwrap()).into_keys().collect();
    let mut want: Vec<String> = file_names.iter().map(|n| n.to_string()).collect();
    want.sort();
    assert_eq!(
        listed,
        want,
        "{}",
        c.ctx(&format!("names listed in {dir_name:?}"))
    );
    let dir_listed: Vec<String> = c
        .t()
        .list(&c.dir)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(dir_listed, [dir_name], "{}", c.ctx("directory name listed"));

    let first = d.join(file_names[0]).unwrap();
    let renamed = d.join(&format!("renamed {}", file_names[0])).unwrap();
    c.t().rename(&first, &renamed).unwrap();
    c.t().remove_file(&renamed).unwrap();
    assert_eq!(size(c.t(), &renamed), None, "{}", c.ctx("removed"));
}

/// Non-ASCII names (sent as UTF-8) work in every operation and list back unchanged.
pub fn unicode_names_round_trip(make: Make<'_>) {
    let c = CaseDir::new(make, "unicode");
    check_names_round_trip(
        &c,
        "ünï côdé 目录",
        &["ünï côdé 文件.txt", "emoji 🦀.log", "Ελληνικά", "עברית.txt"],
    );
    c.finish();
}

/// Names with spaces and characters that shells, globs or FTP command parsers treat
/// specially work in every operation. (None of `< > : " | ? *`, which Windows forbids.)
pub fn special_character_names_round_trip(make: Make<'_>) {
    let c = CaseDir::new(make, "special");
    check_names_round_trip(
        &c,
        "dir with spaces",
        &[
            "with space.txt",
            "-la",
            "#hash",
            "100%.txt",
            "semi;colon",
            "quote'.txt",
            "brackets[1].txt",
            "~tilde",
            "plus+equals=",
            "a,b&c",
            "{braces}",
        ],
    );
    c.finish();
}

/// Inner spaces round-trip; leading and trailing ones are refused at the seam, because
/// FTP servers that trim command arguments and Windows folders would change the name.
pub fn whitespace_in_names(make: Make<'_>) {
    let c = CaseDir::new(make, "whitespace");
    check_names_round_trip(&c, "spaces", &["double  space", "a b c"]);
    // Servers and file systems trim edge white space inconsistently, so the seam refuses it.
    for edge in [" leading space", "trailing space ", "  "] {
        assert_eq!(
            RemotePath::new(edge),
            Err(crate::InvalidPath::EdgeWhitespace),
            "{edge:?}"
        );
    }
    c.finish();
}

// ---------------------------------------------------------------------------------------
// size, concurrency

/// A 3 MiB file built from 48 appends of 64 KiB reads back exactly, from the start, the
/// middle and near the end.
pub fn large_file_in_chunks(make: Make<'_>) {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 48;
    let c = CaseDir::new(make, "large");
    let appends = c.t().capabilities().append;
    let f = c.path("big.bin");
    let mut want = Vec::with_capacity(CHUNK * CHUNKS);
    for i in 0..CHUNKS {
        let chunk = pattern(CHUNK, i as u64 + 100);
        if appends {
            c.t().append(&f, &chunk).unwrap();
        }
        want.extend_from_slice(&chunk);
    }
    if !appends {
        // One 3 MiB object instead; the ranged reads below are the point.
        c.t().write_atomic(&f, &want).unwrap();
    }
    let len = want.len() as u64;
    assert_eq!(size(c.t(), &f), Some(len), "{}", c.ctx("size"));
    for offset in [len - 1000, len - 1, len / 2 + 12_345] {
        let tail = read(c.t(), &f, offset);
        assert!(
            tail == want[offset as usize..],
            "{}",
            c.ctx(&format!("tail from {offset} differs"))
        );
    }
    assert!(
        read(c.t(), &f, 0) == want,
        "{}",
        c.ctx("whole file differs")
    );
    c.finish();
}

/// `append_from` streams a 2.5 MiB source (read in small, odd pieces) after what the file
/// holds, returns the bytes it read, and creates a missing file; a failing source is an
/// error, not a success.
pub fn append_from_streams_a_large_source(make: Make<'_>) {
    /// A reader that hands out at most 7,777 bytes per call, then fails if asked to.
    struct Trickle<'a> {
        data: &'a [u8],
        fail_at_end: bool,
    }
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.data.is_empty() && self.fail_at_end {
                return Err(std::io::Error::other("source failed"));
            }
            let n = buf.len().min(self.data.len()).min(7_777);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }
    let c = CaseDir::new(make, "append-from");
    if !can_append(&c) {
        c.finish();
        return;
    }
    let f = c.path("stream.bin");
    c.t().append(&f, b"head:").unwrap();
    let body = pattern(5 * 512 * 1024 + 3, 7);
    let mut source = Trickle {
        data: &body,
        fail_at_end: false,
    };
    let n = c.t().append_from(&f, &mut source).unwrap();
    assert_eq!(n, body.len() as u64, "{}", c.ctx("bytes read"));
    let mut want = b"head:".to_vec();
    want.extend_from_slice(&body);
    assert_eq!(
        size(c.t(), &f),
        Some(want.len() as u64),
        "{}",
        c.ctx("size")
    );
    assert!(read(c.t(), &f, 0) == want, "{}", c.ctx("content differs"));

    let g = c.path("new.bin");
    let mut small = Trickle {
        data: b"fresh",
        fail_at_end: false,
    };
    assert_eq!(c.t().append_from(&g, &mut small).unwrap(), 5);
    assert_eq!(read(c.t(), &g, 0), b"fresh", "{}", c.ctx("created"));

    let h = c.path("failing.bin");
    let mut failing = Trickle {
        data: b"partial",
        fail_at_end: true,
    };
    assert!(
        c.t().append_from(&h, &mut failing).is_err(),
        "{}",
        c.ctx("a failing source must fail the append")
    );
    c.finish();
}

/// What one client writes, another client of the same store reads.
pub fn clients_see_each_others_writes(make: Make<'_>) {
    let c = CaseDir::new(make, "two-clients");
    let other = make();
    let f = c.path("shared.log");
    put(c.t(), &f, b"from one\n");
    assert_eq!(
        size(&*other, &f),
        Some(9),
        "{}",
        c.ctx("other client's size")
    );
    if c.t().capabilities().append {
        other.append(&f, b"from two\n").unwrap();
    } else {
        other.write_atomic(&f, b"from one\nfrom two\n").unwrap();
    }
    assert_eq!(
        read(c.t(), &f, 9),
        b"from two\n",
        "{}",
        c.ctx("first client's read")
    );
    c.finish();
}

fn thread_lines(thread: usize, count: usize) -> Vec<String> {
    // Lengths vary so torn or misplaced writes show.
    (0..count)
        .map(|i| {
            format!(
                "thread {thread} line {i} {}\n",
                "x".repeat((i * 7 + thread) % 23)
            )
        })
        .collect()
}

/// Several threads, each with its own client, append to their own files at once; every
/// file ends up with exactly its thread's lines in order.
pub fn concurrent_appends_to_separate_files(make: Make<'_>) {
    const THREADS: usize = 4;
    const LINES: usize = 25;
    let c = CaseDir::new(make, "concurrent");
    if !can_append(&c) {
        c.finish();
        return;
    }
    let clients: Vec<Box<dyn Transport>> = (0..THREADS).map(|_| make()).collect();
    std::thread::scope(|scope| {
        for (thread, client) in clients.iter().enumerate() {
            let f = c.path(&format!("writer-{thread}.log"));
            scope.spawn(move || {
                for line in thread_lines(thread, LINES) {
                    client.append(&f, line.as_bytes()).unwrap();
                }
            });
        }
    });
    for thread in 0..THREADS {
        let got = read(c.t(), &c.path(&format!("writer-{thread}.log")), 0);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            thread_lines(thread, LINES).concat(),
            "{}",
            c.ctx(&format!("file of thread {thread}"))
        );
    }
    c.finish();
}

/// When a transport claims `atomic_concurrent_append`, several clients appending to one
/// file at once lose and tear nothing: every line is there once, each client's in order.
/// (Skipped for transports that do not claim it.)
pub fn concurrent_appends_to_one_file_when_atomic(make: Make<'_>) {
    const THREADS: usize = 4;
    const LINES: usize = 25;
    let c = CaseDir::new(make, "concurrent-one-file");
    if !c.t().capabilities().atomic_concurrent_append {
        c.finish();
        return;
    }
    let f = c.path("shared.log");
    let clients: Vec<Box<dyn Transport>> = (0..THREADS).map(|_| make()).collect();
    std::thread::scope(|scope| {
        for (thread, client) in clients.iter().enumerate() {
            let f = &f;
            scope.spawn(move || {
                for line in thread_lines(thread, LINES) {
                    client.append(f, line.as_bytes()).unwrap();
                }
            });
        }
    });
    let text = String::from_utf8(read(c.t(), &f, 0)).unwrap();
    for thread in 0..THREADS {
        let prefix = format!("thread {thread} line ");
        let got: Vec<String> = text
            .split_inclusive('\n')
            .filter(|line| line.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            got,
            thread_lines(thread, LINES),
            "{}",
            c.ctx(&format!("lines of thread {thread}"))
        );
    }
    assert_eq!(
        text.len(),
        (0..THREADS)
            .map(|t| thread_lines(t, LINES).concat().len())
            .sum::<usize>(),
        "{}",
        c.ctx("total length (torn or extra data)")
    );
    c.finish();
}

// ---------------------------------------------------------------------------------------
// write_new (put-if-absent) and list_after

/// `write_new` creates a missing file with the data and refuses (`AlreadyExists`, content
/// unchanged) a second time, over a `write_atomic` file and over a directory; a missing
/// parent is `NotFound`. A transport without `create_only` refuses it as `Unsupported`
/// and creates nothing.
pub fn write_new_creates_only_once(make: Make<'_>) {
    let c = CaseDir::new(make, "write-new");
    let f = c.path("claim");
    if !c.t().capabilities().create_only {
        expect_kind(
            c.t().write_new(&f, b"x"),
            TransportErrorKind::Unsupported,
            &c.ctx("write_new without `create_only`"),
        );
        assert_eq!(
            size(c.t(), &f),
            None,
            "{}",
            c.ctx("a refused write_new created a file")
        );
        c.finish();
        return;
    }
    c.t().write_new(&f, b"first\r\n\0").unwrap();
    assert_eq!(read(c.t(), &f, 0), b"first\r\n\0", "{}", c.ctx("created"));
    expect_kind(
        c.t().write_new(&f, b"second"),
        TransportErrorKind::AlreadyExists,
        &c.ctx("write_new over an existing file"),
    );
    assert_eq!(read(c.t(), &f, 0), b"first\r\n\0", "{}", c.ctx("kept"));

    let g = c.path("replaced");
    c.t().write_atomic(&g, b"atomic").unwrap();
    expect_kind(
        c.t().write_new(&g, b"new"),
        TransportErrorKind::AlreadyExists,
        &c.ctx("write_new over a write_atomic file"),
    );
    assert_eq!(read(c.t(), &g, 0), b"atomic", "{}", c.ctx("kept"));

    let d = c.path("dir");
    c.t().make_dir(&d).unwrap();
    expect_kind(
        c.t().write_new(&d, b"x"),
        TransportErrorKind::AlreadyExists,
        &c.ctx("write_new over a directory"),
    );

    c.t().write_new(&c.path("empty"), b"").unwrap();
    assert_eq!(size(c.t(), &c.path("empty")), Some(0), "{}", c.ctx("empty"));

    expect_kind(
        c.t().write_new(&c.path("no-dir/f"), b"x"),
        TransportErrorKind::NotFound,
        &c.ctx("write_new in a missing directory"),
    );
    c.finish();
}

/// Several clients `write_new` one name at once: exactly one succeeds, every other gets
/// `AlreadyExists`, and the file holds the winner's data. (Skipped without `create_only`.)
pub fn write_new_race_has_one_winner(make: Make<'_>) {
    const CLIENTS: usize = 6;
    const ROUNDS: usize = 3;
    let c = CaseDir::new(make, "write-new-race");
    if !c.t().capabilities().create_only {
        c.finish();
        return;
    }
    let clients: Vec<Box<dyn Transport>> = (0..CLIENTS).map(|_| make()).collect();
    for round in 0..ROUNDS {
        let f = c.path(&format!("epoch-{round}"));
        let barrier = std::sync::Barrier::new(CLIENTS);
        let outcomes: Vec<Result<(), TransportError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = clients
                .iter()
                .enumerate()
                .map(|(i, client)| {
                    let (f, barrier) = (&f, &barrier);
                    scope.spawn(move || {
                        let data = format!("client {i} of round {round}");
                        barrier.wait();
                        client.write_new(f, data.as_bytes())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<usize> = (0..CLIENTS).filter(|&i| outcomes[i].is_ok()).collect();
        assert_eq!(
            winners.len(),
            1,
            "{}",
            c.ctx(&format!(
                "round {round}: winners {winners:?}, outcomes {outcomes:?}"
            ))
        );
        for (i, outcome) in outcomes.iter().enumerate() {
            if let Err(e) = outcome {
                assert_eq!(
                    e.kind(),
                    TransportErrorKind::AlreadyExists,
                    "{}",
                    c.ctx(&format!("round {round}, client {i}: {e}"))
                );
            }
        }
        assert_eq!(
            read(c.t(), &f, 0),
            format!("client {} of round {round}", winners[0]).as_bytes(),
            "{}",
            c.ctx("the winner's data")
        );
    }
    c.finish();
}

/// `list_after` returns entries sorted by `list_key` (a directory as `name/`), strictly
/// after the given key, at most `limit`; paging with the last key walks the directory
/// once. A missing directory is `NotFound`.
pub fn list_after_pages_in_key_order(make: Make<'_>) {
    let c = CaseDir::new(make, "list-after");
    // '-' and '.' sort before '/', '0' after it: the directory `a` lists as `a/` between.
    for (i, name) in ["b", "a0", "a.txt", "a-b", ".dot", "c 1", "c 10", "c 2"]
        .iter()
        .enumerate()
    {
        put(c.t(), &c.path(name), &pattern(i + 1, i as u64));
    }
    c.t().make_dir(&c.path("a")).unwrap();
    let want = [
        ".dot", "a-b", "a.txt", "a/", "a0", "b", "c 1", "c 10", "c 2",
    ];
    let keys = |entries: &[DirEntry]| -> Vec<String> {
        entries.iter().map(|e| e.list_key().into_owned()).collect()
    };

    let all = c.t().list_after(&c.dir, None, 100).unwrap();
    assert_eq!(keys(&all), want, "{}", c.ctx("everything"));
    for e in &all {
        if e.is_dir {
            assert_eq!(e.name, "a", "{}", c.ctx("directory entry"));
        } else {
            let i = ["b", "a0", "a.txt", "a-b", ".dot", "c 1", "c 10", "c 2"]
                .iter()
                .position(|n| *n == e.name)
                .unwrap();
            check_listed_file(&c, e, i as u64 + 1);
        }
    }

    for limit in [1, 2, 4] {
        let mut walked = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = c.t().list_after(&c.dir, after.as_deref(), limit).unwrap();
            assert!(
                page.len() <= limit,
                "{}",
                c.ctx(&format!("page of {} > {limit}", page.len()))
            );
            walked.extend(keys(&page));
            if page.len() < limit {
                break;
            }
            after = page.last().map(|e| e.list_key().into_owned());
            assert!(
                walked.len() <= want.len(),
                "{}",
                c.ctx("paging does not end")
            );
        }
        assert_eq!(walked, want, "{}", c.ctx(&format!("paged by {limit}")));
    }

    let after_key =
        |key: &str, limit: usize| keys(&c.t().list_after(&c.dir, Some(key), limit).unwrap());
    assert_eq!(
        after_key("a.txt", 3),
        ["a/", "a0", "b"],
        "{}",
        c.ctx("after a.txt")
    );
    assert_eq!(
        after_key("a", 2),
        ["a-b", "a.txt"],
        "{}",
        c.ctx("after a (not a key)")
    );
    assert_eq!(
        after_key("a/", 1),
        ["a0"],
        "{}",
        c.ctx("after the directory")
    );
    assert_eq!(
        after_key("c 1", 10),
        ["c 10", "c 2"],
        "{}",
        c.ctx("after c 1")
    );
    assert!(
        after_key("c 2", 10).is_empty(),
        "{}",
        c.ctx("after the last")
    );
    assert!(after_key("zzz", 10).is_empty(), "{}", c.ctx("past the end"));
    assert!(
        c.t().list_after(&c.dir, None, 0).unwrap().is_empty(),
        "{}",
        c.ctx("limit 0")
    );
    assert!(
        c.t().list_after(&c.path("a"), None, 10).unwrap().is_empty(),
        "{}",
        c.ctx("empty directory")
    );
    expect_kind(
        c.t().list_after(&c.path("missing"), None, 10),
        TransportErrorKind::NotFound,
        &c.ctx("list_after of a missing directory"),
    );
    c.finish();
}
