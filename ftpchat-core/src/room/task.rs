//! Blocking room calls run off the caller's thread, without an async runtime.
//!
//! The core is blocking (one FTP control connection, a key derivation that takes a
//! moment). [`Background`] runs one call on a short-lived thread and hands its result to
//! whoever waits: a blocking [`Background::wait`] with a timeout, or `.await` (it
//! implements [`Future`], so Kotlin coroutines and Swift tasks can poll it through
//! UniFFI). If the handle is dropped before its result is taken, the result is not lost:
//! a sync's update goes back to the room's queue and the next sync (or watcher) returns
//! it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::lock;

/// What happens to a result nobody took.
type Orphan<T> = Box<dyn FnOnce(T) + Send>;

enum Slot<T> {
    /// The work is running; the waker of an async waiter, if any.
    Running(Option<Waker>),
    /// The work finished; nobody took the result yet.
    Done(T),
    /// The result was taken.
    Taken,
    /// The handle was dropped; the result goes (or went) to the orphan function.
    Abandoned,
}

struct State<T> {
    slot: Mutex<Slot<T>>,
    done: Condvar,
    orphan: Mutex<Option<Orphan<T>>>,
}

impl<T> State<T> {
    fn complete(&self, value: T) {
        let mut slot = lock(&self.slot);
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Running(waker) => {
                *slot = Slot::Done(value);
                drop(slot);
                self.done.notify_all();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            Slot::Abandoned => {
                *slot = Slot::Abandoned;
                drop(slot);
                self.orphaned(value);
            }
            other @ (Slot::Done(_) | Slot::Taken) => *slot = other,
        }
    }

    fn orphaned(&self, value: T) {
        if let Some(orphan) = lock(&self.orphan).take() {
            orphan(value);
        }
    }
}

/// A blocking room call running on its own thread: [`Room::sync_in_background`],
/// [`Room::flush_in_background`], [`Room::history_in_background`],
/// [`Room::open_in_background`](super::Room::open_in_background).
///
/// Take the result with [`wait`](Self::wait) (blocking, with a timeout) or by awaiting
/// it (any executor, or none: it only needs its waker called). Dropping the handle never
/// blocks and never cancels the work; the result of a dropped
/// [`sync_in_background`](super::Room::sync_in_background) goes back to the room, so the
/// next sync returns its messages, confirmations and events. Awaiting a handle whose
/// result was already taken is a logic error and panics.
///
/// [`Room::sync_in_background`]: super::Room::sync_in_background
/// [`Room::flush_in_background`]: super::Room::flush_in_background
/// [`Room::history_in_background`]: super::Room::history_in_background
#[must_use = "dropping the handle leaves the work running and its result unread"]
pub struct Background<T> {
    state: Arc<State<T>>,
}

impl<T> fmt::Debug for Background<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Hands a [`Background`]'s result over; lets the work deliver it while it still holds a
/// lock (a sync delivers before another sync can start, so a result dropped unread is
/// back in the room's queue before that sync reads the queue).
pub(crate) struct Deliver<T>(Arc<State<T>>);

impl<T> Deliver<T> {
    /// Delivers the result: to the waiter, or to the orphan function when the handle
    /// was dropped.
    pub(crate) fn deliver(self, value: T) {
        self.0.complete(value);
    }
}

impl<T: Send + 'static> Background<T> {
    /// Runs any blocking `work` on a thread of its own (for calls the room has no
    /// `*_in_background` method for, e.g. opening a location and a room together). A
    /// result nobody takes is dropped. If no thread can be started, `work` runs on the
    /// caller's thread.
    pub fn run(work: impl FnOnce() -> T + Send + 'static) -> Self {
        Self::spawn("ftpchat-background", work, drop)
    }

    /// Runs `work` on a new thread named `name`; a result nobody takes goes to `orphan`.
    /// If no thread can be started, `work` runs on the caller's thread.
    pub(crate) fn spawn(
        name: &str,
        work: impl FnOnce() -> T + Send + 'static,
        orphan: impl FnOnce(T) + Send + 'static,
    ) -> Self {
        Self::spawn_with(name, move |d| d.deliver(work()), orphan)
    }

    /// Like [`spawn`](Self::spawn), the work delivering its result itself.
    pub(crate) fn spawn_with(
        name: &str,
        work: impl FnOnce(Deliver<T>) + Send + 'static,
        orphan: impl FnOnce(T) + Send + 'static,
    ) -> Self {
        let state = Arc::new(State {
            slot: Mutex::new(Slot::Running(None)),
            done: Condvar::new(),
            orphan: Mutex::new(Some(Box::new(orphan) as Orphan<T>)),
        });
        // The closure is kept in a shared cell so that it can still run inline when
        // the thread cannot be started.
        let job = Arc::new(Mutex::new(Some(work)));
        let (thread_job, worker) = (job.clone(), state.clone());
        let spawned = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                if let Some(work) = lock(&thread_job).take() {
                    work(Deliver(worker));
                }
            });
        if spawned.is_err() {
            if let Some(work) = lock(&job).take() {
                work(Deliver(state.clone()));
            }
        }
        Background { state }
    }
}

impl<T> Background<T> {
    /// `true` once the work has finished (its result may have been taken).
    pub fn is_finished(&self) -> bool {
        !matches!(*lock(&self.state.slot), Slot::Running(_))
    }

    /// Waits up to `timeout` for the result. On timeout the handle comes back (`Err`):
    /// wait again, await it, or drop it (the result then goes back to the room, see the
    /// type's documentation).
    pub fn wait(self, timeout: Duration) -> Result<T, Self> {
        let deadline = Instant::now().checked_add(timeout);
        let mut slot = lock(&self.state.slot);
        loop {
            if matches!(*slot, Slot::Done(_)) {
                if let Slot::Done(v) = std::mem::replace(&mut *slot, Slot::Taken) {
                    return Ok(v);
                }
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() || !matches!(*slot, Slot::Running(_)) {
                drop(slot);
                return Err(self);
            }
            slot = self
                .state
                .done
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl<T> Future for Background<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = lock(&self.state.slot);
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Done(v) => Poll::Ready(v),
            Slot::Running(_) => {
                *slot = Slot::Running(Some(cx.waker().clone()));
                Poll::Pending
            }
            Slot::Taken | Slot::Abandoned => {
                panic!("ftpchat Background polled after its result was taken")
            }
        }
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        let mut slot = lock(&self.state.slot);
        match std::mem::replace(&mut *slot, Slot::Abandoned) {
            Slot::Done(v) => {
                drop(slot);
                self.state.orphaned(v);
            }
            Slot::Taken => *slot = Slot::Taken,
            Slot::Running(_) | Slot::Abandoned => {}
        }
    }
}
