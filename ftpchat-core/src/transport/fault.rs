//! A fault-injecting wrapper around any [`Transport`], for testing exactly-once delivery.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{
    Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
    TransportEvent,
};

/// One operation of the [`Transport`] trait (the ones that touch the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// [`Transport::size`].
    Size,
    /// [`Transport::read_from`].
    ReadFrom,
    /// [`Transport::append`].
    Append,
    /// [`Transport::write_atomic`].
    WriteAtomic,
    /// [`Transport::list`].
    List,
    /// [`Transport::make_dir`].
    MakeDir,
    /// [`Transport::remove_file`].
    RemoveFile,
    /// [`Transport::remove_dir`].
    RemoveDir,
    /// [`Transport::rename`].
    Rename,
}

impl Op {
    /// Every operation, in declaration order.
    pub const ALL: [Op; 9] = [
        Op::Size,
        Op::ReadFrom,
        Op::Append,
        Op::WriteAtomic,
        Op::List,
        Op::MakeDir,
        Op::RemoveFile,
        Op::RemoveDir,
        Op::Rename,
    ];

    /// The trait method's name, as used in [`TransportError::operation`].
    pub const fn name(self) -> &'static str {
        match self {
            Op::Size => "size",
            Op::ReadFrom => "read_from",
            Op::Append => "append",
            Op::WriteAtomic => "write_atomic",
            Op::List => "list",
            Op::MakeDir => "make_dir",
            Op::RemoveFile => "remove_file",
            Op::RemoveDir => "remove_dir",
            Op::Rename => "rename",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an injected fault did to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The call failed with this kind without reaching the inner transport.
    FailBefore(TransportErrorKind),
    /// The call was done on the inner transport, then failed with this kind (a lost reply,
    /// such as a timeout after a complete upload).
    FailAfter(TransportErrorKind),
    /// Only the first `kept` bytes were appended, then the call failed as transient (a
    /// torn write).
    CutAppend {
        /// How many bytes reached the inner transport.
        kept: usize,
    },
    /// Only the first `kept` bytes were written to the sink, then the call failed as
    /// transient (a download cut short).
    CutRead {
        /// How many bytes reached the sink.
        kept: u64,
    },
}

/// A record of one injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedFault {
    /// The operation that was broken.
    pub op: Op,
    /// Which call of that operation it was, counting from 1 since the wrapper was made.
    pub call: u64,
    /// What was done.
    pub fault: Fault,
}

/// A fault armed for one future call.
#[derive(Debug, Clone, Copy)]
struct Armed {
    op: Op,
    /// The value of the op's call counter at which to fire.
    at_call: u64,
    plan: Plan,
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Pass,
    FailBefore(TransportErrorKind),
    FailAfter(TransportErrorKind),
    /// Append at most this many bytes, then fail.
    CutAppend(usize),
    /// Deliver at most this many bytes of a read, then fail.
    CutRead(u64),
    /// Deliver `raw % tail_len` bytes of a read (a true cut), then fail.
    CutReadRandom(u64),
}

/// splitmix64: tiny, seedable, good enough to pick faults.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (for small `n`; the modulo bias is negligible here).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

#[derive(Debug, Clone)]
struct RandomFaults {
    rng: SplitMix64,
    probability: f64,
}

impl RandomFaults {
    /// Draws the plan for one call. One draw decides whether to fault, so the stream of
    /// decisions depends only on the sequence of calls (and append lengths).
    fn plan(&mut self, op: Op, append_len: usize) -> Plan {
        if self.rng.next_f64() >= self.probability {
            return Plan::Pass;
        }
        match op {
            Op::Append => match self.rng.below(3) {
                0 => Plan::FailBefore(TransportErrorKind::Transient),
                1 if append_len > 0 => {
                    // Strictly fewer bytes than asked: a real tear (0 creates the file only).
                    Plan::CutAppend(self.rng.below(append_len as u64) as usize)
                }
                1 => Plan::FailBefore(TransportErrorKind::Transient),
                _ => Plan::FailAfter(TransportErrorKind::Transient),
            },
            Op::ReadFrom => match self.rng.below(2) {
                0 => Plan::FailBefore(TransportErrorKind::Transient),
                _ => Plan::CutReadRandom(self.rng.next_u64()),
            },
            _ => Plan::FailBefore(TransportErrorKind::Transient),
        }
    }
}

/// Something another client does just before one future call (see
/// [`FaultyTransport::before_nth`]).
struct ArmedHook {
    op: Op,
    at_call: u64,
    hook: Box<dyn FnOnce() + Send>,
}

impl fmt::Debug for ArmedHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmedHook")
            .field("op", &self.op)
            .field("at_call", &self.at_call)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    calls: [u64; Op::ALL.len()],
    armed: Vec<Armed>,
    hooks: Vec<ArmedHook>,
    random: Option<RandomFaults>,
    latency: Duration,
    injected: Vec<InjectedFault>,
    /// Behaves like an object store: no appends.
    no_append: bool,
}

/// A fault-injecting wrapper around any [`Transport`], for testing exactly-once delivery.
///
/// [`FaultyTransport`] passes every call to the transport it wraps, except the calls it
/// was told to break. It can fail a call before doing it, do it and then report an error
/// (the reply was lost), tear an append after some bytes, cut a read short, add latency,
/// and break calls at random from a seed. It counts calls and injected faults so tests can
/// assert that a fault really happened.
///
/// ```
/// use ftpchat_core::testing::{FaultyTransport, Op};
/// use ftpchat_core::testing::MemoryTransport;
/// use ftpchat_core::{RemotePath, Transport, TransportErrorKind};
///
/// let store = MemoryTransport::new();
/// let faulty = FaultyTransport::new(store.clone());
/// faulty.cut_append_after(1, 3); // the next append writes 3 bytes, then fails
///
/// let log = RemotePath::new("chat.log").unwrap();
/// let err = faulty.append(&log, b"hello\n").unwrap_err();
/// assert_eq!(err.kind(), TransportErrorKind::Transient);
/// assert_eq!(store.size(&log).unwrap(), Some(3));
/// assert_eq!(faulty.calls(Op::Append), 1);
/// assert_eq!(faulty.faults_injected(), 1);
/// ```
///
/// Configuration methods take `&self`, so faults can be armed at any point of a test.
/// Clones share the configuration and counters: hand one clone to the code under test and
/// keep another to arm faults and read counters. Call numbers ("the n-th append") count
/// from the moment a fault is armed: `1` is the next call.
///
/// All injected errors are [`TransportErrorKind::Transient`] unless a kind is given.
pub struct FaultyTransport<T: ?Sized> {
    inner: Arc<T>,
    state: Arc<Mutex<State>>,
}

impl<T: ?Sized> Clone for FaultyTransport<T> {
    fn clone(&self) -> Self {
        FaultyTransport {
            inner: Arc::clone(&self.inner),
            state: Arc::clone(&self.state),
        }
    }
}

impl<T: ?Sized> FaultyTransport<T> {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Counters and a list of armed faults stay consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for FaultyTransport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("FaultyTransport")
            .field("inner", &self.inner)
            .field("calls", &state.calls)
            .field("armed", &state.armed.len())
            .field("random", &state.random.as_ref().map(|r| r.probability))
            .field("latency", &state.latency)
            .field("injected", &state.injected.len())
            .finish()
    }
}

fn injected_error(op: Op, kind: TransportErrorKind, what: &str) -> TransportError {
    TransportError::new(kind, op.name(), format!("injected fault: {what}"))
}

impl<T: Transport> FaultyTransport<T> {
    /// Wraps `inner` with no faults configured: every call passes through.
    pub fn new(inner: T) -> Self {
        Self::from_arc(Arc::new(inner))
    }
}

impl<T: Transport + ?Sized> FaultyTransport<T> {
    /// Wraps a shared transport, which may be a trait object: a
    /// `FaultyTransport<dyn Transport>` made from `Arc::from(boxed_transport)` wraps
    /// whatever a fixture returns.
    pub fn from_arc(inner: Arc<T>) -> Self {
        FaultyTransport {
            inner,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// The wrapped transport, to inspect the store behind the faults.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    fn arm(&self, op: Op, nth: usize, plan: Plan) -> &Self {
        assert!(nth >= 1, "call numbers start at 1 (the next call)");
        let mut state = self.lock();
        let at_call = state.calls[op.index()] + nth as u64;
        state.armed.push(Armed { op, at_call, plan });
        drop(state);
        self
    }

    /// The `nth` call of `op` from now (1 = the next one) fails with `kind` without
    /// reaching the inner transport.
    ///
    /// # Panics
    /// If `nth` is 0.
    pub fn fail_nth(&self, op: Op, nth: usize, kind: TransportErrorKind) -> &Self {
        self.arm(op, nth, Plan::FailBefore(kind))
    }

    /// The `nth` call of `op` from now is done on the inner transport, then fails with
    /// `kind`: the reply was lost. (`make_dir` succeeds but says it failed; a retry then
    /// sees [`AlreadyExists`](TransportErrorKind::AlreadyExists).)
    ///
    /// # Panics
    /// If `nth` is 0.
    pub fn fail_after_nth(&self, op: Op, nth: usize, kind: TransportErrorKind) -> &Self {
        self.arm(op, nth, Plan::FailAfter(kind))
    }

    /// The `nth_append` append from now writes only its first `keep_bytes` bytes (all of
    /// them if it has fewer) to the inner transport, then fails as transient: a torn
    /// write. With `keep_bytes == 0` the file is still created, as `APPE` would.
    ///
    /// # Panics
    /// If `nth_append` is 0.
    pub fn cut_append_after(&self, nth_append: usize, keep_bytes: usize) -> &Self {
        self.arm(Op::Append, nth_append, Plan::CutAppend(keep_bytes))
    }

    /// The `nth_append` append from now is fully done on the inner transport, then fails
    /// as a transient "timed out" error: the classic cause of duplicated lines.
    ///
    /// # Panics
    /// If `nth_append` is 0.
    pub fn timeout_after_write(&self, nth_append: usize) -> &Self {
        self.arm(
            Op::Append,
            nth_append,
            Plan::FailAfter(TransportErrorKind::Transient),
        )
    }

    /// The `nth_read` `read_from` from now writes at most `keep_bytes` bytes to the sink,
    /// then fails as transient: a download cut short. The sink keeps what it got.
    ///
    /// # Panics
    /// If `nth_read` is 0.
    pub fn cut_read_after(&self, nth_read: usize, keep_bytes: u64) -> &Self {
        self.arm(Op::ReadFrom, nth_read, Plan::CutRead(keep_bytes))
    }

    /// Runs `hook` once, just before the `nth` call of `op` from now (1 = the next one)
    /// goes on as planned: what another client does at that moment, such as appending to
    /// the same file between this client's read of its end and its append. It makes a
    /// race deterministic. The hook runs on the calling thread, with no lock held, so it
    /// may use this transport too (its calls are counted).
    ///
    /// # Panics
    /// If `nth` is 0.
    pub fn before_nth(&self, op: Op, nth: usize, hook: impl FnOnce() + Send + 'static) -> &Self {
        assert!(nth >= 1, "call numbers start at 1 (the next call)");
        let mut state = self.lock();
        let at_call = state.calls[op.index()] + nth as u64;
        state.hooks.push(ArmedHook {
            op,
            at_call,
            hook: Box::new(hook),
        });
        drop(state);
        self
    }

    /// Sleeps `per_call` before every operation (`Duration::ZERO` turns it off).
    pub fn latency(&self, per_call: Duration) -> &Self {
        self.lock().latency = per_call;
        self
    }

    /// Breaks each call with `probability` (clamped to `0..=1`), choosing, from a PRNG
    /// seeded with `seed`: fail before doing it (any operation); for an append, also cut
    /// it at a random length shorter than the data, or time out after doing it; for a
    /// read, also cut it short at a random length. Faults armed with the other methods
    /// take precedence. The choices are deterministic for a given seed and sequence of
    /// calls (which threads calling concurrently do not guarantee).
    pub fn random_faults(&self, seed: u64, probability: f64) -> &Self {
        let probability = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        self.lock().random = Some(RandomFaults {
            rng: SplitMix64(seed),
            probability,
        });
        self
    }

    /// Makes the wrapped store behave like an object store from now on: capabilities say
    /// it cannot append, and every append (and streamed append) fails with
    /// [`TransportErrorKind::Unsupported`]. For testing what runs on S3 or WebDAV on a
    /// memory or folder store.
    pub fn refuse_appends(&self) -> &Self {
        self.lock().no_append = true;
        self
    }

    /// Disarms every pending fault, hook and random mode (latency and counters stay): the
    /// network is healthy again.
    pub fn clear_faults(&self) -> &Self {
        let mut state = self.lock();
        state.armed.clear();
        state.hooks.clear();
        state.random = None;
        drop(state);
        self
    }

    /// How many times `op` was called (including calls that failed).
    pub fn calls(&self, op: Op) -> u64 {
        self.lock().calls[op.index()]
    }

    /// How many operations were called in all.
    pub fn total_calls(&self) -> u64 {
        self.lock().calls.iter().sum()
    }

    /// How many faults were injected. A call whose inner operation failed on its own is
    /// not counted: it returned the real error.
    pub fn faults_injected(&self) -> u64 {
        self.lock().injected.len() as u64
    }

    /// Every injected fault, in order.
    pub fn injected(&self) -> Vec<InjectedFault> {
        self.lock().injected.clone()
    }

    /// How many armed faults and hooks have not fired yet.
    pub fn pending_faults(&self) -> usize {
        let state = self.lock();
        state.armed.len() + state.hooks.len()
    }

    /// Counts the call, runs its hook, picks its plan, and sleeps the configured latency.
    fn begin(&self, op: Op, append_len: usize) -> (u64, Plan) {
        let mut state = self.lock();
        state.calls[op.index()] += 1;
        let call = state.calls[op.index()];
        if let Some(i) = state
            .hooks
            .iter()
            .position(|h| h.op == op && h.at_call == call)
        {
            let hook = state.hooks.remove(i).hook;
            drop(state);
            hook();
            state = self.lock();
        }
        let plan = if let Some(i) = state
            .armed
            .iter()
            .position(|a| a.op == op && a.at_call == call)
        {
            state.armed.remove(i).plan
        } else if let Some(random) = state.random.as_mut() {
            random.plan(op, append_len)
        } else {
            Plan::Pass
        };
        let latency = state.latency;
        drop(state);
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        (call, plan)
    }

    fn record(&self, op: Op, call: u64, fault: Fault) {
        self.lock().injected.push(InjectedFault { op, call, fault });
    }

    /// Runs a call that is not an append or a read: only fail-before and fail-after apply.
    fn run<R>(
        &self,
        op: Op,
        call_inner: impl FnOnce(&T) -> Result<R, TransportError>,
    ) -> Result<R, TransportError> {
        let (call, plan) = self.begin(op, 0);
        match plan {
            Plan::FailBefore(kind) => {
                self.record(op, call, Fault::FailBefore(kind));
                Err(injected_error(op, kind, "failed before the operation"))
            }
            Plan::FailAfter(kind) => {
                call_inner(&self.inner)?;
                self.record(op, call, Fault::FailAfter(kind));
                Err(injected_error(op, kind, "done, then the reply was lost"))
            }
            // Cuts are only armed for appends and reads.
            Plan::Pass | Plan::CutAppend(_) | Plan::CutRead(_) | Plan::CutReadRandom(_) => {
                call_inner(&self.inner)
            }
        }
    }
}

impl<T: Transport + ?Sized> Transport for FaultyTransport<T> {
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        if self.lock().no_append {
            caps.append = false;
            caps.atomic_concurrent_append = false;
        }
        caps
    }

    fn describe(&self) -> String {
        // Transparent: the room keys its local state by this description, and a wrapped
        // transport is the same store.
        self.inner.describe()
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        self.run(Op::Size, |t| t.size(path))
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        const OP: Op = Op::ReadFrom;
        let (call, plan) = self.begin(OP, 0);
        match plan {
            Plan::FailBefore(kind) => {
                self.record(OP, call, Fault::FailBefore(kind));
                Err(injected_error(OP, kind, "failed before the operation"))
            }
            Plan::FailAfter(kind) => {
                self.inner.read_from(path, offset, sink)?;
                self.record(OP, call, Fault::FailAfter(kind));
                Err(injected_error(OP, kind, "done, then the reply was lost"))
            }
            Plan::CutRead(_) | Plan::CutReadRandom(_) => {
                // Read it all here, then hand the sink only a prefix.
                let mut tail = Vec::new();
                self.inner.read_from(path, offset, &mut tail)?;
                let tail_len = tail.len() as u64;
                let kept = match plan {
                    Plan::CutReadRandom(raw) if tail_len > 0 => raw % tail_len,
                    Plan::CutRead(keep) => keep.min(tail_len),
                    _ => 0,
                };
                let kept_len = usize::try_from(kept).unwrap_or(tail.len());
                sink.write_all(&tail[..kept_len]).map_err(|e| {
                    TransportError::from_io(OP.name(), format!("{path}: writing to sink"), e)
                })?;
                self.record(OP, call, Fault::CutRead { kept });
                Err(injected_error(
                    OP,
                    TransportErrorKind::Transient,
                    &format!("connection lost after {kept} bytes"),
                ))
            }
            Plan::Pass | Plan::CutAppend(_) => self.inner.read_from(path, offset, sink),
        }
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        const OP: Op = Op::Append;
        if self.lock().no_append {
            return Err(TransportError::new(
                TransportErrorKind::Unsupported,
                OP.name(),
                format!("{path}: this store cannot append (refuse_appends)"),
            ));
        }
        let (call, plan) = self.begin(OP, data.len());
        match plan {
            Plan::FailBefore(kind) => {
                self.record(OP, call, Fault::FailBefore(kind));
                Err(injected_error(OP, kind, "failed before the operation"))
            }
            Plan::FailAfter(kind) => {
                self.inner.append(path, data)?;
                self.record(OP, call, Fault::FailAfter(kind));
                Err(injected_error(
                    OP,
                    kind,
                    "timed out waiting for the reply (the data was written)",
                ))
            }
            Plan::CutAppend(keep) => {
                let kept = keep.min(data.len());
                self.inner.append(path, &data[..kept])?;
                self.record(OP, call, Fault::CutAppend { kept });
                Err(injected_error(
                    OP,
                    TransportErrorKind::Transient,
                    &format!("connection lost after {kept} of {} bytes", data.len()),
                ))
            }
            Plan::Pass | Plan::CutRead(_) | Plan::CutReadRandom(_) => self.inner.append(path, data),
        }
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.run(Op::WriteAtomic, |t| t.write_atomic(path, data))
    }

    /// Counted and faulted as [`Op::WriteAtomic`].
    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.run(Op::WriteAtomic, |t| t.write_new(path, data))
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        self.run(Op::List, |t| t.list(dir))
    }

    /// Counted and faulted as [`Op::List`].
    fn list_after(
        &self,
        dir: &RemotePath,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, TransportError> {
        self.run(Op::List, |t| t.list_after(dir, after, limit))
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run(Op::MakeDir, |t| t.make_dir(path))
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run(Op::RemoveFile, |t| t.remove_file(path))
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        self.run(Op::RemoveDir, |t| t.remove_dir(path))
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.run(Op::Rename, |t| t.rename(from, to))
    }

    fn take_events(&self) -> Vec<TransportEvent> {
        self.inner.take_events()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_names_match_declaration_order() {
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(op.index(), i);
        }
        assert_eq!(Op::ReadFrom.to_string(), "read_from");
    }

    #[test]
    fn splitmix_is_deterministic_and_in_range() {
        let mut a = SplitMix64(42);
        let mut b = SplitMix64(42);
        for _ in 0..1000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
            assert!(a.below(7) < 7);
            b.below(7);
        }
        assert_eq!(a.below(0), 0);
        // The published first output of splitmix64 seeded with 0.
        assert_eq!(SplitMix64(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn random_plans_respect_the_probability_extremes() {
        let mut never = RandomFaults {
            rng: SplitMix64(1),
            probability: 0.0,
        };
        let mut always = RandomFaults {
            rng: SplitMix64(1),
            probability: 1.0,
        };
        for op in Op::ALL {
            for _ in 0..50 {
                assert_eq!(never.plan(op, 10), Plan::Pass);
                assert_ne!(always.plan(op, 10), Plan::Pass);
            }
        }
    }

    #[test]
    fn random_cuts_are_strictly_shorter() {
        let mut random = RandomFaults {
            rng: SplitMix64(7),
            probability: 1.0,
        };
        for _ in 0..500 {
            if let Plan::CutAppend(kept) = random.plan(Op::Append, 5) {
                assert!(kept < 5);
            }
        }
    }
}
