//! Members and epochs (SPEC §17): what opening a member room costs after the first sync.
//! A history of 1,000 commits over 50 members (create, add 49 members, then alternately
//! remove one and add a new one) is built once, outside the timed loop; the benchmarks
//! time replaying the decoded commits, and decoding them from bytes (signature checks
//! included) plus replaying.
//!
//! `cargo bench -p ftpchat-benches --bench membership`; under `cargo test --benches` it
//! runs once on a 60-commit history (the CI smoke pass).

#![allow(missing_docs, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ftpchat_core::codec::RoomId;
use ftpchat_core::{Change, Commit, DeviceIdentity, MemberId, Membership, Role};

/// `cargo bench` passes `--bench`; anything else (cargo test --benches) is a smoke run.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Commits 0..`total` over `members` members (the admin included).
fn history(members: usize, total: usize) -> Vec<Commit> {
    let admin = DeviceIdentity::generate();
    let (mut state, c0, _) = Membership::create(RoomId([1; 16]), &admin, 0);
    let mut commits = vec![c0];
    let mut present: Vec<MemberId> = Vec::new();
    let next = |state: &mut Membership, change: Change, commits: &mut Vec<Commit>| {
        let (c, _) = state
            .propose(&admin, change, commits.len() as u64, &[])
            .expect("valid change");
        state.apply(&c).expect("applies");
        commits.push(c);
    };
    let add = |present: &mut Vec<MemberId>| {
        let d = DeviceIdentity::generate();
        present.push(MemberId::of(&d.public()));
        Change::Add {
            device: d.public(),
            role: Role::Member,
            share_history: false,
        }
    };
    while commits.len() < members {
        let ch = add(&mut present);
        next(&mut state, ch, &mut commits);
    }
    while commits.len() < total {
        let ch = if commits.len() % 2 == 0 {
            Change::Remove {
                member: present.remove(0),
                cuts: vec![],
            }
        } else {
            add(&mut present)
        };
        next(&mut state, ch, &mut commits);
    }
    commits
}

fn open_room(c: &mut Criterion) {
    let (members, total) = if full() { (50, 1000) } else { (10, 60) };
    let t = Instant::now();
    let commits = history(members, total);
    let bytes: Vec<Vec<u8>> = commits.iter().map(Commit::encode).collect();
    let size: usize = bytes.iter().map(Vec::len).sum();
    println!(
        "membership: built {total} commits over {members} members in {:.0} ms, {} KiB stored",
        t.elapsed().as_secs_f64() * 1e3,
        size / 1024
    );

    // One plain measurement to print ms per open, besides criterion's statistics.
    let runs = if full() { 10 } else { 1 };
    let t = Instant::now();
    for _ in 0..runs {
        let decoded: Vec<Commit> = bytes
            .iter()
            .map(|b| Commit::decode(b).expect("decodes"))
            .collect();
        black_box(Membership::replay(&decoded).expect("replays"));
    }
    println!(
        "membership: decode + replay of {total} commits: {:.1} ms per open",
        t.elapsed().as_secs_f64() * 1e3 / f64::from(runs)
    );

    let mut g = c.benchmark_group("membership");
    g.sample_size(10);
    g.bench_function(format!("replay_{total}_commits_{members}_members"), |b| {
        b.iter(|| black_box(Membership::replay(black_box(&commits)).expect("replays")))
    });
    g.bench_function(
        format!("decode_replay_{total}_commits_{members}_members"),
        |b| {
            b.iter(|| {
                let decoded: Vec<Commit> = bytes
                    .iter()
                    .map(|b| Commit::decode(b).expect("decodes"))
                    .collect();
                black_box(Membership::replay(&decoded).expect("replays"))
            })
        },
    );
    g.finish();
}

/// What a user waits for: `Room::open` of a member room whose 1,000 commits are cached
/// beside its state (the first sync already happened), on an in-memory server, against
/// opening a password room with the same state folder in the same run.
fn open_member_room(c: &mut Criterion) {
    use ftpchat_core::testing::MemoryTransport;
    use ftpchat_core::{Room, RoomConfig, Transport};
    use std::sync::Arc;
    let (members, total) = if full() { (50, 1000) } else { (10, 60) };
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    let state = tempfile::tempdir().expect("temp dir");
    let admin = Arc::new(DeviceIdentity::generate());
    let config =
        || RoomConfig::member_room("bench", "admin", admin.clone()).with_state_dir(state.path());
    let started = Instant::now();
    let room = Room::open(t.clone(), config()).expect("creates");
    let mut present = Vec::new();
    let mut commits = 1;
    while commits < total {
        if commits < members || commits % 2 == 1 {
            let d = DeviceIdentity::generate();
            present.push(MemberId::of(&d.public()));
            room.add_member(d.public(), Role::Member, false)
                .expect("adds");
        } else {
            room.remove_member(&present.remove(0)).expect("removes");
        }
        commits += 1;
    }
    room.send("hello").expect("sends");
    room.sync().expect("syncs");
    room.close().expect("closes");
    drop(room);
    println!(
        "member room: built {total} commits over {members} members through Room in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let password_state = tempfile::tempdir().expect("temp dir");
    let password = || {
        RoomConfig::native("bench-password", "admin", "pw")
            .with_native_iterations(1_000)
            .with_state_dir(password_state.path())
    };
    Room::open(t.clone(), password())
        .expect("creates")
        .close()
        .expect("closes");

    let runs = if full() { 10 } else { 1 };
    let time = |open: &dyn Fn() -> Room| {
        let t0 = Instant::now();
        for _ in 0..runs {
            black_box(open()).close().expect("closes");
        }
        t0.elapsed().as_secs_f64() * 1e3 / f64::from(runs)
    };
    let member_ms = time(&|| Room::open(t.clone(), config()).expect("opens"));
    let password_ms = time(&|| Room::open(t.clone(), password()).expect("opens"));
    println!(
        "member room: Room::open after the first sync, {total} commits / {members} members: \
         {member_ms:.1} ms (password room, same run: {password_ms:.2} ms)"
    );
    let mut g = c.benchmark_group("room_open");
    g.sample_size(10);
    g.bench_function(
        format!("member_room_{total}_commits_{members}_members"),
        |b| b.iter(|| black_box(Room::open(t.clone(), config()).expect("opens"))),
    );
    g.bench_function("password_room", |b| {
        b.iter(|| black_box(Room::open(t.clone(), password()).expect("opens")))
    });
    g.finish();
}

criterion_group!(benches, open_room, open_member_room);
criterion_main!(benches);
