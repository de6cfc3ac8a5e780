//! Proves each fault mode of `FaultyTransport` does what it says.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ftpchat_core::testing::read_all;
use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::testing::{Fault, FaultyTransport, InjectedFault, Op};
use ftpchat_core::{RemotePath, Transport, TransportErrorKind};

fn p(s: &str) -> RemotePath {
    RemotePath::new(s).unwrap()
}

/// A fresh store and a faulty client of it.
fn setup() -> (MemoryTransport, FaultyTransport<MemoryTransport>) {
    let store = MemoryTransport::new();
    let faulty = FaultyTransport::new(store.clone());
    (store, faulty)
}

/// Calls `op` once on `t` with harmless arguments inside `d`.
fn call(t: &dyn Transport, op: Op) -> Result<(), TransportErrorKind> {
    let f = p("d/f");
    let r = match op {
        Op::Size => t.size(&f).map(drop),
        Op::ReadFrom => t.read_from(&f, 0, &mut Vec::new()).map(drop),
        Op::Append => t.append(&f, b"x"),
        Op::WriteAtomic => t.write_atomic(&f, b"x"),
        Op::List => t.list(&p("d")).map(drop),
        Op::MakeDir => t.make_dir(&p("d/sub")),
        Op::RemoveFile => t.remove_file(&f),
        Op::RemoveDir => t.remove_dir(&p("d/sub")),
        Op::Rename => t.rename(&f, &p("d/g")),
    };
    r.map_err(|e| e.kind())
}

/// Prepares `store` so `call(op)` succeeds on it.
fn prepare(store: &MemoryTransport, op: Op) {
    store.make_dir(&p("d")).unwrap();
    match op {
        Op::Size | Op::ReadFrom | Op::RemoveFile | Op::Rename => {
            store.append(&p("d/f"), b"data").unwrap()
        }
        Op::RemoveDir => store.make_dir(&p("d/sub")).unwrap(),
        _ => {}
    }
}

/// A fingerprint of the store's visible state, to tell whether an operation happened.
fn snapshot(store: &MemoryTransport) -> Vec<(String, Option<u64>)> {
    let mut out: Vec<_> = store
        .list(&p("d"))
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.size))
        .collect();
    out.sort();
    out
}

#[test]
fn without_faults_everything_passes_and_is_counted() {
    let (store, faulty) = setup();
    faulty.make_dir(&p("d")).unwrap();
    faulty.append(&p("d/f"), b"hello").unwrap();
    assert_eq!(faulty.size(&p("d/f")).unwrap(), Some(5));
    assert_eq!(read_all(&faulty, &p("d/f")).unwrap(), b"hello");
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"hello");
    assert_eq!(faulty.calls(Op::MakeDir), 1);
    assert_eq!(faulty.calls(Op::Append), 1);
    assert_eq!(faulty.calls(Op::Size), 1);
    assert_eq!(faulty.calls(Op::ReadFrom), 1);
    assert_eq!(faulty.calls(Op::List), 0);
    assert_eq!(faulty.total_calls(), 4);
    assert_eq!(faulty.faults_injected(), 0);
    assert_eq!(faulty.capabilities(), store.capabilities());
    assert!(faulty.describe().contains(&store.describe()));
}

#[test]
fn fail_nth_fails_exactly_that_call_without_doing_it() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    faulty.fail_nth(Op::Append, 2, TransportErrorKind::Transient);
    faulty.append(&p("d/f"), b"one\n").unwrap();
    let err = faulty.append(&p("d/f"), b"two\n").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Transient);
    assert_eq!(err.operation(), "append");
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"one\n");
    faulty.append(&p("d/f"), b"three\n").unwrap();
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"one\nthree\n");
    assert_eq!(faulty.calls(Op::Append), 3);
    assert_eq!(
        faulty.injected(),
        vec![InjectedFault {
            op: Op::Append,
            call: 2,
            fault: Fault::FailBefore(TransportErrorKind::Transient),
        }]
    );
    assert_eq!(faulty.pending_faults(), 0);
}

#[test]
fn fail_nth_works_for_every_operation_and_kind() {
    let kinds = [
        TransportErrorKind::Transient,
        TransportErrorKind::NotFound,
        TransportErrorKind::PermissionDenied,
        TransportErrorKind::Permanent,
    ];
    for op in Op::ALL {
        for kind in kinds {
            let (store, faulty) = setup();
            prepare(&store, op);
            let before = snapshot(&store);
            faulty.fail_nth(op, 1, kind);
            assert_eq!(call(&faulty, op), Err(kind), "{op} with {kind}");
            assert_eq!(snapshot(&store), before, "{op} must not have been done");
            // Only that one call: the next one goes through.
            assert_eq!(call(&faulty, op), Ok(()), "{op} after the fault");
            let mutates = !matches!(op, Op::Size | Op::ReadFrom | Op::List);
            if mutates {
                assert_ne!(snapshot(&store), before, "{op} is done on the retry");
            }
        }
    }
}

#[test]
fn nth_counts_from_when_the_fault_is_armed() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    for _ in 0..5 {
        faulty.append(&p("d/f"), b"x").unwrap();
    }
    faulty.fail_nth(Op::Append, 1, TransportErrorKind::Transient);
    assert!(faulty.append(&p("d/f"), b"x").is_err());
    assert_eq!(faulty.injected()[0].call, 6);
    // Other operations do not advance the append counter.
    faulty.fail_nth(Op::Append, 2, TransportErrorKind::Transient);
    faulty.size(&p("d/f")).unwrap();
    faulty.append(&p("d/f"), b"x").unwrap();
    assert!(faulty.append(&p("d/f"), b"x").is_err());
}

#[test]
fn cut_append_after_writes_exactly_k_bytes_then_fails_transient() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    faulty.cut_append_after(1, 3);
    let err = faulty.append(&p("d/f"), b"hello world").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Transient);
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"hel");
    assert_eq!(faulty.injected()[0].fault, Fault::CutAppend { kept: 3 });
    // The next append is whole, after the torn bytes.
    faulty.append(&p("d/f"), b"!").unwrap();
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"hel!");
}

#[test]
fn before_nth_runs_its_hook_once_just_before_that_call_which_then_goes_on_as_planned() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    let other = faulty.clone();
    // The hook appends through the same wrapper: no lock is held while it runs.
    faulty
        .before_nth(Op::Append, 2, move || {
            other.append(&p("d/f"), b"[other]").unwrap()
        })
        .cut_append_after(2, 2);
    assert_eq!(faulty.pending_faults(), 2);
    faulty.append(&p("d/f"), b"one ").unwrap();
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"one ");
    let err = faulty.append(&p("d/f"), b"two ").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Transient);
    faulty.append(&p("d/f"), b"three").unwrap();
    // The hook's append came first, then the torn second call, once.
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"one [other]twthree");
    assert_eq!(faulty.calls(Op::Append), 4, "the hook's call is counted");
    assert_eq!(faulty.pending_faults(), 0);
    // Cleared like faults.
    faulty.before_nth(Op::Size, 1, || panic!("cleared"));
    faulty.clear_faults();
    faulty.size(&p("d/f")).unwrap();
}

#[test]
fn cut_append_at_zero_creates_the_file_and_beyond_the_length_keeps_all() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    faulty.cut_append_after(1, 0).cut_append_after(2, 100);
    assert!(faulty.append(&p("d/f"), b"abc").unwrap_err().is_transient());
    assert_eq!(store.size(&p("d/f")).unwrap(), Some(0));
    assert!(faulty.append(&p("d/f"), b"abc").unwrap_err().is_transient());
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"abc");
    let kept: Vec<Fault> = faulty.injected().iter().map(|f| f.fault).collect();
    assert_eq!(
        kept,
        [Fault::CutAppend { kept: 0 }, Fault::CutAppend { kept: 3 }]
    );
}

#[test]
fn timeout_after_write_writes_everything_then_fails_transient() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    faulty.timeout_after_write(1);
    let err = faulty.append(&p("d/f"), b"line\n").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Transient);
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"line\n");
    // Why exactly-once needs care: a blind retry duplicates the line.
    faulty.append(&p("d/f"), b"line\n").unwrap();
    assert_eq!(read_all(&store, &p("d/f")).unwrap(), b"line\nline\n");
}

#[test]
fn fail_after_nth_does_the_operation_then_reports_the_error() {
    let (store, faulty) = setup();
    faulty.fail_after_nth(Op::MakeDir, 1, TransportErrorKind::Transient);
    assert!(faulty.make_dir(&p("lock")).unwrap_err().is_transient());
    assert!(store.list(&p("lock")).is_ok(), "the directory was made");
    // The retry sees its own lock: the case a lock protocol must survive.
    assert_eq!(
        faulty.make_dir(&p("lock")).unwrap_err().kind(),
        TransportErrorKind::AlreadyExists
    );
}

#[test]
fn failing_inner_call_returns_the_real_error_and_is_not_counted_as_injected() {
    let (_store, faulty) = setup();
    faulty.timeout_after_write(1);
    let err = faulty.append(&p("missing-dir/f"), b"x").unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::NotFound);
    assert_eq!(faulty.faults_injected(), 0);
    assert_eq!(
        faulty.pending_faults(),
        0,
        "the fault was used up by that call"
    );
}

#[test]
fn cut_read_after_delivers_k_bytes_then_fails_transient() {
    let (store, faulty) = setup();
    store.append(&p("f"), b"0123456789").unwrap();
    faulty.cut_read_after(1, 4);
    let mut sink = Vec::new();
    let err = faulty.read_from(&p("f"), 2, &mut sink).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Transient);
    assert_eq!(sink, b"2345");
    assert_eq!(faulty.injected()[0].fault, Fault::CutRead { kept: 4 });
    let mut sink = Vec::new();
    assert_eq!(faulty.read_from(&p("f"), 2, &mut sink).unwrap(), 8);
}

#[test]
fn latency_delays_every_call() {
    let (_store, faulty) = setup();
    faulty.latency(Duration::from_millis(20));
    let start = Instant::now();
    for _ in 0..3 {
        faulty.size(&p("f")).unwrap();
    }
    assert!(start.elapsed() >= Duration::from_millis(60));
    faulty.latency(Duration::ZERO);
    let start = Instant::now();
    faulty.size(&p("f")).unwrap();
    assert!(start.elapsed() < Duration::from_millis(20));
}

#[test]
fn clones_share_faults_and_counters() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    let handed_out: Box<dyn Transport> = Box::new(faulty.clone());
    faulty.fail_nth(Op::Append, 1, TransportErrorKind::Transient);
    assert!(handed_out.append(&p("d/f"), b"x").is_err());
    assert_eq!(faulty.calls(Op::Append), 1);
    assert_eq!(faulty.faults_injected(), 1);
}

#[test]
fn clear_faults_disarms_everything() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    faulty
        .fail_nth(Op::Append, 1, TransportErrorKind::Transient)
        .random_faults(1, 1.0);
    assert_eq!(faulty.pending_faults(), 1);
    faulty.clear_faults();
    assert_eq!(faulty.pending_faults(), 0);
    for _ in 0..20 {
        faulty.append(&p("d/f"), b"x").unwrap();
    }
}

/// Runs a fixed workload, ignoring errors, and returns what happened.
fn random_run(
    seed: u64,
    probability: f64,
) -> (
    Vec<InjectedFault>,
    Vec<u8>,
    Vec<Result<(), TransportErrorKind>>,
) {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    store.append(&p("d/log"), b"").unwrap(); // so reads never fail for real
    faulty.random_faults(seed, probability);
    let mut results = Vec::new();
    for i in 0..200u32 {
        let line = format!("message {i}\n");
        results.push(
            faulty
                .append(&p("d/log"), line.as_bytes())
                .map_err(|e| e.kind()),
        );
        results.push(
            faulty
                .read_from(&p("d/log"), u64::from(i), &mut Vec::new())
                .map(drop)
                .map_err(|e| e.kind()),
        );
        results.push(faulty.size(&p("d/log")).map(drop).map_err(|e| e.kind()));
    }
    (
        faulty.injected(),
        read_all(&store, &p("d/log")).unwrap(),
        results,
    )
}

#[test]
fn random_faults_are_deterministic_for_a_seed() {
    let a = random_run(1234, 0.3);
    let b = random_run(1234, 0.3);
    assert_eq!(a, b);
    let c = random_run(4321, 0.3);
    assert_ne!(a.0, c.0, "another seed gives other faults");
}

#[test]
fn random_faults_use_every_mode_and_roughly_the_probability() {
    let (injected, _, results) = random_run(99, 0.3);
    let calls = results.len() as f64;
    let rate = injected.len() as f64 / calls;
    assert!((0.2..0.4).contains(&rate), "fault rate {rate}");
    let has = |pred: &dyn Fn(&InjectedFault) -> bool| injected.iter().any(pred);
    assert!(has(
        &|f| f.op == Op::Append && matches!(f.fault, Fault::FailBefore(_))
    ));
    assert!(has(&|f| matches!(f.fault, Fault::CutAppend { .. })));
    assert!(has(
        &|f| f.op == Op::Append && matches!(f.fault, Fault::FailAfter(_))
    ));
    assert!(has(
        &|f| f.op == Op::ReadFrom && matches!(f.fault, Fault::FailBefore(_))
    ));
    assert!(has(&|f| matches!(f.fault, Fault::CutRead { .. })));
    assert!(has(&|f| f.op == Op::Size));
    // Every injected error is transient, and every failure was injected.
    let failures = results.iter().filter(|r| r.is_err()).count();
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(TransportErrorKind::Transient))));
    assert_eq!(failures, injected.len());
}

#[test]
fn random_faults_probability_extremes() {
    let (none, log, _) = random_run(5, 0.0);
    assert!(none.is_empty());
    assert_eq!(
        log.len(),
        (0..200)
            .map(|i| format!("message {i}\n").len())
            .sum::<usize>()
    );
    let (all, _, results) = random_run(5, 1.0);
    assert_eq!(all.len(), results.len());
    assert!(results.iter().all(Result::is_err));
}

#[test]
fn random_cut_appends_tear_strictly_inside_the_data() {
    let (injected, _, _) = random_run(7, 0.5);
    for f in injected {
        if let Fault::CutAppend { kept } = f.fault {
            let len = format!("message {}\n", f.call - 1).len();
            assert!(kept < len, "{f:?} kept {kept} of {len}");
        }
    }
}

#[test]
fn faulty_transport_is_usable_from_many_threads() {
    let (store, faulty) = setup();
    store.make_dir(&p("d")).unwrap();
    faulty.random_faults(3, 0.2);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let faulty = faulty.clone();
            scope.spawn(move || {
                for i in 0..50 {
                    let _ = faulty.append(&p(&format!("d/{t}")), format!("{i}\n").as_bytes());
                }
            });
        }
    });
    assert_eq!(faulty.calls(Op::Append), 200);
    assert!(faulty.faults_injected() > 0);
}

#[test]
fn wraps_a_trait_object() {
    let store = MemoryTransport::new();
    let boxed: Box<dyn Transport> = Box::new(store.clone());
    let faulty = FaultyTransport::<dyn Transport>::from_arc(std::sync::Arc::from(boxed));
    faulty.cut_append_after(1, 2);
    assert!(faulty
        .append(&p("f"), b"abcdef")
        .unwrap_err()
        .is_transient());
    assert_eq!(read_all(&store, &p("f")).unwrap(), b"ab");
    assert_eq!(faulty.inner().describe(), store.describe());
}
