//! Background watchers: the core's `Room::watch` behind a Python iterator (`Watch`) or
//! Python callbacks (`Subscription`).
//!
//! The core's watch handle does the work: `cancel()` never waits (safe in a callback and
//! in a destructor run by Python's garbage collector with the GIL held; dropping the
//! handle cancels too), and `stop()` waits for the thread, always with the GIL released
//! (the thread may be waiting for the GIL to call a callback). Called from a callback,
//! `stop()` returns at once (the core does not join its own thread).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use ftpchat_core::{Message, MessageId};
use ftpchat_core::{
    Room, RoomError, RoomEvent, RoomListener, SyncUpdate, WatchHandle, WatchOptions,
};
use pyo3::prelude::*;

use crate::convert;
use crate::errors::Failure;

/// How long a blocked iterator waits between checks for signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Poll intervals from seconds, as the core wants them.
pub(crate) fn options(min_interval: f64, max_interval: f64) -> Result<WatchOptions, Failure> {
    let duration = |secs: f64, what: &str| {
        Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                Failure::invalid_config(format!("{what} must be a positive number of seconds"))
            })
    };
    let min = duration(min_interval, "min_interval")?;
    let max = duration(max_interval, "max_interval")?;
    if max < min {
        return Err(Failure::invalid_config(
            "max_interval must not be less than min_interval",
        ));
    }
    Ok(WatchOptions::new(min, max))
}

/// A running core watcher, stoppable once from any thread.
#[derive(Debug)]
pub(crate) struct WatchSlot {
    handle: Mutex<Option<WatchHandle>>,
}

/// Every live watcher, so `ftpchat` can stop them at interpreter exit (a watcher thread
/// calling into a finalizing interpreter would hang or crash).
static LIVE: Mutex<Vec<Weak<WatchSlot>>> = Mutex::new(Vec::new());

impl WatchSlot {
    /// Registers a started watcher.
    pub(crate) fn register(handle: WatchHandle) -> Arc<WatchSlot> {
        let slot = Arc::new(WatchSlot {
            handle: Mutex::new(Some(handle)),
        });
        let mut live = lock(&LIVE);
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&slot));
        slot
    }

    /// Stops the watcher without waiting for it.
    pub(crate) fn cancel(&self) {
        if let Some(handle) = lock(&self.handle).as_ref() {
            handle.cancel();
        }
    }

    /// Stops the watcher and waits for its thread, with the GIL released.
    pub(crate) fn stop(&self, py: Python<'_>) {
        let handle = lock(&self.handle).take();
        if let Some(handle) = handle {
            py.detach(move || handle.stop());
        }
    }

    /// `true` while the watcher thread runs.
    pub(crate) fn is_running(&self) -> bool {
        lock(&self.handle)
            .as_ref()
            .is_some_and(WatchHandle::is_running)
    }
}

/// Stops every live watcher (registered with `atexit` by the Python package).
#[pyfunction]
pub(crate) fn _stop_all_watches(py: Python<'_>) {
    let slots: Vec<Arc<WatchSlot>> = lock(&LIVE).drain(..).filter_map(|w| w.upgrade()).collect();
    for slot in slots {
        slot.stop(py);
    }
}

/// What the iterator's listener records.
#[derive(Debug, Default)]
struct Shared {
    last_error: Mutex<Option<Failure>>,
}

/// Pushes messages into the iterator's queue; no GIL needed. Once the iterator is gone
/// (`tx` taken), messages go back to the room instead.
struct QueueListener {
    tx: Arc<Mutex<Option<Sender<Message>>>>,
    room: Room,
    shared: Arc<Shared>,
}

impl RoomListener for QueueListener {
    fn on_messages(&self, messages: &[Message]) {
        let tx = lock(&self.tx);
        match tx.as_ref() {
            Some(tx) => {
                for m in messages {
                    // The receiver lives as long as `tx` is set (see `PyWatch`'s drop).
                    let _ = tx.send(m.clone());
                }
            }
            None => {
                let mut back = SyncUpdate::default();
                back.messages = messages.to_vec();
                self.room.give_back(back);
            }
        }
    }

    fn on_error(&self, error: &RoomError) {
        *lock(&self.shared.last_error) = Some(Failure::from(error));
    }
}

/// An iterator over the messages a background watcher receives (see `Room.watch`).
///
/// Iteration blocks (with the GIL released) until a message arrives, and ends once the
/// watcher is stopped (`stop()`, leaving a `with` block, or closing the room) and the
/// queue is drained. Ctrl-C interrupts a blocked iteration.
#[pyclass(module = "ftpchat", name = "Watch", frozen)]
pub(crate) struct PyWatch {
    slot: Arc<WatchSlot>,
    rx: Mutex<Receiver<Message>>,
    /// The listener's sender, taken when this iterator is dropped. Weak: the listener
    /// owns it, so the queue disconnects (iteration ends) when the watcher thread ends.
    tx: Weak<Mutex<Option<Sender<Message>>>>,
    room: Room,
    shared: Arc<Shared>,
}

impl Drop for PyWatch {
    /// Cancels the watcher (without waiting) and gives the messages nobody read back to
    /// the room, so the next `sync()` returns them: an iterator dropped unread loses
    /// nothing.
    fn drop(&mut self) {
        self.slot.cancel();
        // No message enters the queue after this; later ones go back to the room.
        if let Some(tx) = self.tx.upgrade() {
            drop(lock(&tx).take());
        }
        let unread: Vec<Message> = lock(&self.rx).try_iter().collect();
        let mut back = SyncUpdate::default();
        back.messages = unread;
        self.room.give_back(back);
    }
}

impl PyWatch {
    /// Starts a watcher on `room`.
    pub(crate) fn start(room: &Room, options: WatchOptions) -> (PyWatch, Arc<WatchSlot>) {
        let (tx, rx) = mpsc::channel();
        let tx = Arc::new(Mutex::new(Some(tx)));
        let shared = Arc::new(Shared::default());
        let listener = Arc::new(QueueListener {
            tx: tx.clone(),
            room: room.clone(),
            shared: shared.clone(),
        });
        let slot = WatchSlot::register(room.watch(listener, options));
        let watch = PyWatch {
            slot: slot.clone(),
            rx: Mutex::new(rx),
            tx: Arc::downgrade(&tx),
            room: room.clone(),
            shared,
        };
        (watch, slot)
    }

    /// The next message, waiting at most `timeout` (forever if `None`); `None` on timeout
    /// or when the watcher has stopped and the queue is empty.
    fn next_message(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Option<Message>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let wait = match deadline {
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(SIGNAL_CHECK),
                None => SIGNAL_CHECK,
            };
            let received = py.detach(|| lock(&self.rx).recv_timeout(wait));
            match received {
                Ok(m) => return Ok(Some(m)),
                // The watcher thread ended (stopped) and everything queued was read.
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Timeout) => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                }
            }
        }
    }
}

#[pymethods]
impl PyWatch {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.next_message(py, None)? {
            Some(m) => Ok(Some(convert::message(py, &m)?)),
            None => Ok(None),
        }
    }

    /// The next message, waiting at most `timeout` seconds (forever if `None`); `None`
    /// when none arrived in time or the watcher has stopped.
    #[pyo3(signature = (timeout = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let timeout = timeout
            .map(|t| {
                Duration::try_from_secs_f64(t).map_err(|_| {
                    Failure::invalid_config("timeout must be a non-negative number of seconds")
                })
            })
            .transpose()?;
        match self.next_message(py, timeout)? {
            Some(m) => Ok(Some(convert::message(py, &m)?)),
            None => Ok(None),
        }
    }

    /// Stops the watcher (waiting for its thread). Messages already queued can still be
    /// read; then iteration ends.
    fn stop(&self, py: Python<'_>) {
        self.slot.stop(py);
    }

    /// Stops the watcher without waiting for it (returns at once, from any thread). What
    /// it read and did not queue yet goes back to the room, for the next `sync()`.
    fn cancel(&self) {
        self.slot.cancel();
    }

    /// `True` while the background watcher runs.
    #[getter]
    fn running(&self) -> bool {
        self.slot.is_running()
    }

    /// The last error the watcher met (it keeps retrying with backoff), or `None`.
    #[getter]
    fn last_error<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let failure = lock(&self.shared.last_error).clone();
        failure.map(|f| f.instantiate(py)).transpose()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.stop(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.slot.is_running() {
            "running"
        } else {
            "stopped"
        };
        format!("<ftpchat.Watch {state}>")
    }
}

/// The Python callbacks of `Room.listen`, each optional.
pub(crate) struct Callbacks {
    pub(crate) on_message: Option<Py<PyAny>>,
    pub(crate) on_confirmed: Option<Py<PyAny>>,
    pub(crate) on_changed: Option<Py<PyAny>>,
    pub(crate) on_event: Option<Py<PyAny>>,
    pub(crate) on_error: Option<Py<PyAny>>,
}

/// Calls Python callbacks from the watcher thread (with the GIL).
struct CallbackListener(Callbacks);

/// Calls `callback(make(py))`; an exception goes to `sys.unraisablehook` (printed by
/// default) and the watcher carries on.
fn call<F>(callback: &Option<Py<PyAny>>, make: F)
where
    F: for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>,
{
    if let Some(callback) = callback {
        Python::attach(|py| {
            let callback = callback.bind(py);
            if let Err(e) = make(py).and_then(|arg| callback.call1((arg,))) {
                e.write_unraisable(py, Some(callback));
            }
        });
    }
}

impl RoomListener for CallbackListener {
    fn on_messages(&self, messages: &[Message]) {
        for m in messages {
            call(&self.0.on_message, |py| convert::message(py, m));
        }
    }

    fn on_confirmed(&self, ids: &[MessageId]) {
        for id in ids {
            call(&self.0.on_confirmed, |py| {
                Ok(pyo3::types::PyString::new(py, &id.to_hex()).into_any())
            });
        }
    }

    fn on_changed(&self, messages: &[Message]) {
        for m in messages {
            call(&self.0.on_changed, |py| convert::message(py, m));
        }
    }

    fn on_event(&self, event: &RoomEvent) {
        call(&self.0.on_event, |py| convert::event(py, event));
    }

    fn on_error(&self, error: &RoomError) {
        let failure = Failure::from(error);
        call(&self.0.on_error, |py| failure.instantiate(py));
    }
}

/// A background watcher calling Python callbacks (see `Room.listen`). It runs until
/// `stop()`, the end of a `with` block, or the room's `close()`; dropping this object
/// does not stop it.
#[pyclass(module = "ftpchat", name = "Subscription", frozen)]
pub(crate) struct PySubscription {
    slot: Arc<WatchSlot>,
}

impl PySubscription {
    /// Starts a watcher on `room` calling the given callbacks.
    pub(crate) fn start(
        room: &Room,
        options: WatchOptions,
        callbacks: Callbacks,
    ) -> (PySubscription, Arc<WatchSlot>) {
        let listener = Arc::new(CallbackListener(callbacks));
        let slot = WatchSlot::register(room.watch(listener, options));
        (PySubscription { slot: slot.clone() }, slot)
    }
}

#[pymethods]
impl PySubscription {
    /// Stops the watcher, waiting for its thread (and a callback in progress). Called
    /// from one of this watcher's callbacks it does not wait.
    fn stop(&self, py: Python<'_>) {
        self.slot.stop(py);
    }

    /// Stops the watcher without waiting for it: returns at once, from any thread and
    /// from inside a callback. No callback starts after it returns (one already running
    /// finishes); what the watcher read and did not hand over goes back to the room, for
    /// the next `sync()`.
    fn cancel(&self) {
        self.slot.cancel();
    }

    /// `True` while the background watcher runs.
    #[getter]
    fn running(&self) -> bool {
        self.slot.is_running()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.stop(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.slot.is_running() {
            "running"
        } else {
            "stopped"
        };
        format!("<ftpchat.Subscription {state}>")
    }
}
