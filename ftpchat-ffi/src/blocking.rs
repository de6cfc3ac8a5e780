//! Running blocking core calls off the caller's thread, without an async runtime.
//!
//! The core is blocking (one FTP control connection, PBKDF2 that takes a moment). The
//! async exports and [`ChatRoom::sync_once`](crate::ChatRoom::sync_once) run the blocking
//! call on a short-lived thread and hand its result back through a [`Handoff`]: either
//! the waiter takes it, or, when the waiter gave up (a deadline passed, a coroutine or
//! Swift task was cancelled), a *rescue* function receives it, so a sync's messages are
//! never dropped on the floor.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::ChatError;

/// Where the worker's result goes when nobody waits for it any more.
type Rescue<T> = Box<dyn FnOnce(T) + Send>;

enum State<T> {
    /// The worker is running; the waker of an async waiter, if any.
    Running(Option<Waker>),
    /// The worker finished; nobody took the value yet.
    Done(T),
    /// The waiter took the value.
    Taken,
    /// The waiter gave up; the value goes (or went) to the rescue function.
    Abandoned,
}

/// One value passed from a worker thread to one waiter.
pub(crate) struct Handoff<T> {
    state: Mutex<State<T>>,
    done: Condvar,
    rescue: Mutex<Option<Rescue<T>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T: Send + 'static> Handoff<T> {
    /// A handoff whose value goes to `rescue` if the waiter gives up first.
    pub(crate) fn new(rescue: impl FnOnce(T) + Send + 'static) -> Arc<Self> {
        Arc::new(Handoff {
            state: Mutex::new(State::Running(None)),
            done: Condvar::new(),
            rescue: Mutex::new(Some(Box::new(rescue))),
        })
    }
}

impl<T> Handoff<T> {
    /// Called by the worker with its result.
    pub(crate) fn complete(&self, value: T) {
        let mut state = lock(&self.state);
        match std::mem::replace(&mut *state, State::Taken) {
            State::Running(waker) => {
                *state = State::Done(value);
                drop(state);
                self.done.notify_all();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            State::Abandoned => {
                *state = State::Abandoned;
                drop(state);
                self.rescue_value(value);
            }
            other @ (State::Done(_) | State::Taken) => *state = other,
        }
    }

    /// Blocks until the value arrives or `deadline` passes. On timeout the handoff is
    /// abandoned atomically: a value arriving later goes to the rescue function.
    pub(crate) fn wait_until(&self, deadline: Instant) -> Option<T> {
        let mut state = lock(&self.state);
        loop {
            if matches!(*state, State::Done(_)) {
                return match std::mem::replace(&mut *state, State::Taken) {
                    State::Done(v) => Some(v),
                    _ => None,
                };
            }
            let now = Instant::now();
            if now >= deadline {
                *state = State::Abandoned;
                return None;
            }
            state = self
                .done
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The waiter is gone: a value already delivered but not taken is rescued now, a later
    /// one when it arrives.
    fn abandon(&self) {
        let mut state = lock(&self.state);
        match std::mem::replace(&mut *state, State::Abandoned) {
            State::Done(v) => {
                drop(state);
                self.rescue_value(v);
            }
            State::Taken => *state = State::Taken,
            State::Running(_) | State::Abandoned => {}
        }
    }

    fn rescue_value(&self, value: T) {
        if let Some(rescue) = lock(&self.rescue).take() {
            rescue(value);
        }
    }

    fn poll_take(&self, waker: &Waker) -> Poll<Option<T>> {
        let mut state = lock(&self.state);
        match std::mem::replace(&mut *state, State::Taken) {
            State::Done(v) => Poll::Ready(Some(v)),
            State::Running(_) => {
                *state = State::Running(Some(waker.clone()));
                Poll::Pending
            }
            State::Taken => Poll::Ready(None),
            State::Abandoned => {
                *state = State::Abandoned;
                Poll::Ready(None)
            }
        }
    }
}

/// Starts `work` on a new thread named `name`; the handoff receives its result.
pub(crate) fn spawn<T: Send + 'static>(
    name: &str,
    handoff: &Arc<Handoff<T>>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<(), ChatError> {
    let target = handoff.clone();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || target.complete(work()))
        .map(drop)
        .map_err(|e| ChatError::Internal {
            reason: format!("cannot start a worker thread: {e}"),
        })
}

/// Runs the blocking `work` on its own thread and resolves when it is done, without any
/// async runtime: the foreign side (Kotlin coroutines, Swift concurrency) polls. If the
/// future is dropped first (the caller was cancelled), the work still finishes and its
/// successful result goes to `rescue`.
pub(crate) fn run<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, ChatError> + Send + 'static,
    rescue: impl FnOnce(T) + Send + 'static,
) -> BlockingFuture<Result<T, ChatError>> {
    let handoff = Handoff::new(move |result: Result<T, ChatError>| {
        if let Ok(value) = result {
            rescue(value);
        }
    });
    let early = spawn(name, &handoff, work).err();
    BlockingFuture { handoff, early }
}

/// The future [`run`] returns.
pub(crate) struct BlockingFuture<T> {
    handoff: Arc<Handoff<T>>,
    /// A result known before any work started (the thread could not be started).
    early: Option<ChatError>,
}

impl<T: Send + 'static> Future for BlockingFuture<Result<T, ChatError>> {
    type Output = Result<T, ChatError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(e) = self.early.take() {
            return Poll::Ready(Err(e));
        }
        self.handoff.poll_take(cx.waker()).map(|v| {
            v.unwrap_or_else(|| {
                Err(ChatError::Internal {
                    reason: "the result was already taken".into(),
                })
            })
        })
    }
}

impl<T> Drop for BlockingFuture<T> {
    fn drop(&mut self) {
        self.handoff.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::task::Wake;
    use std::time::Duration;

    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park_timeout(Duration::from_millis(100));
        }
    }

    fn rescued() -> (impl FnOnce(u32) + Send + 'static, mpsc::Receiver<u32>) {
        let (tx, rx) = mpsc::channel();
        (move |v| tx.send(v).unwrap(), rx)
    }

    #[test]
    fn waiter_gets_the_value_in_time() {
        let (rescue, rx) = rescued();
        let h = Handoff::new(rescue);
        spawn("t", &h, || 7).unwrap();
        assert_eq!(
            h.wait_until(Instant::now() + Duration::from_secs(10)),
            Some(7)
        );
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn late_value_goes_to_rescue() {
        let (rescue, rx) = rescued();
        let h = Handoff::new(rescue);
        let (go, wait) = mpsc::channel::<()>();
        spawn("t", &h, move || {
            wait.recv().unwrap();
            9
        })
        .unwrap();
        assert_eq!(
            h.wait_until(Instant::now() + Duration::from_millis(20)),
            None
        );
        go.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 9);
    }

    #[test]
    fn future_resolves_without_a_runtime() {
        let (rescue, rx) = rescued();
        let f = run("t", || Ok(5u32), rescue);
        assert_eq!(block_on(f), Ok(5));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn dropped_future_rescues_the_result() {
        // Dropped while running: rescued when the work finishes.
        let (rescue, rx) = rescued();
        let (go, wait) = mpsc::channel::<()>();
        let f = run(
            "t",
            move || {
                wait.recv().unwrap();
                Ok(1u32)
            },
            rescue,
        );
        drop(f);
        go.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);

        // Dropped after the work finished but before the value was taken: rescued at once.
        let (rescue, rx) = rescued();
        let mut f = Box::pin(run("t", || Ok(2u32), rescue));
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        if f.as_mut().poll(&mut cx).is_pending() {
            while !matches!(*lock(&f.handoff.state), State::Done(_)) {
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(f);
            assert_eq!(rx.try_recv().unwrap(), 2);
        }

        // Errors are not rescued.
        let (rescue, rx) = rescued();
        drop(run(
            "t",
            || Err(ChatError::Internal { reason: "x".into() }),
            rescue,
        ));
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
