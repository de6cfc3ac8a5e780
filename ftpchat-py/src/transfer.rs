//! Attachment transfers: the `Transfer` class (cancel from any thread) and the glue that
//! turns a Python progress callback into the core's `Transfer`.
//!
//! The core does the transfer on the calling thread, with the GIL released; it calls the
//! progress closure at the start, about every MiB and at the end. The closure takes the
//! GIL only for that: it runs pending signal handlers (so Ctrl-C stops a long transfer,
//! as it stops a blocked `Watch`) and then the Python callback. An exception from either
//! cancels the transfer (and the caller's `Transfer`) and is raised from the call instead
//! of the core's `Cancelled`.

use std::sync::{Arc, Mutex, MutexGuard};

use ftpchat_core::{RoomError, Transfer};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::errors::Failure;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The core transfer of one running call, emptied when the call ends (the core
/// transfer's progress closure holds this slot: emptying it breaks the cycle).
type Slot = Arc<Mutex<Option<Transfer>>>;

/// Cancels transfers of `Room.send_file` and `Room.save_attachment`: pass it as
/// `transfer=` and call `cancel()` from another thread or from the progress callback.
/// The call then raises `TransferCancelled` (within 64 KiB). A cancelled `Transfer`
/// stays cancelled: a call given one fails at once. A cancelled download keeps what it
/// verified (a `.part` file beside the target) and the next `save_attachment` of the
/// same message to the same path resumes from there.
#[pyclass(module = "ftpchat", name = "Transfer", frozen)]
pub(crate) struct PyTransfer {
    /// Cancelled by `cancel()`; a call that starts afterwards is cancelled at once.
    token: Transfer,
    /// The core transfers of the calls running with this `Transfer` now.
    running: Mutex<Vec<Slot>>,
}

#[pymethods]
impl PyTransfer {
    /// A transfer that is not cancelled.
    #[new]
    fn new() -> Self {
        PyTransfer {
            token: Transfer::new(),
            running: Mutex::new(Vec::new()),
        }
    }

    /// Stops the calls running with this transfer (and any later one): they raise
    /// `TransferCancelled`. Returns at once; safe from any thread, also inside the
    /// progress callback.
    fn cancel(&self) {
        self.token.cancel();
        for slot in lock(&self.running).iter() {
            if let Some(transfer) = lock(slot).as_ref() {
                transfer.cancel();
            }
        }
    }

    /// `True` once `cancel()` was called.
    #[getter]
    fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    fn __repr__(&self) -> String {
        let state = if self.cancelled() {
            "cancelled"
        } else {
            "not cancelled"
        };
        format!("<ftpchat.Transfer {state}>")
    }
}

/// One call's transfer: the core `Transfer` it runs with, wired to the Python progress
/// callback and to the caller's `Transfer`.
pub(crate) struct Call {
    core: Transfer,
    slot: Slot,
    /// The first exception of the callback (or of a signal handler).
    raised: Arc<Mutex<Option<PyErr>>>,
    owner: Option<Py<PyTransfer>>,
}

impl Call {
    /// Prepares a call with `progress(done, total)` (if given) and the caller's
    /// `Transfer` (if given). Raises `TypeError` when `progress` is not callable.
    pub(crate) fn new(
        py: Python<'_>,
        progress: Option<Py<PyAny>>,
        owner: Option<Py<PyTransfer>>,
    ) -> PyResult<Self> {
        if let Some(callback) = &progress {
            if !callback.bind(py).is_callable() {
                return Err(PyTypeError::new_err("progress must be callable"));
            }
        }
        let slot: Slot = Arc::new(Mutex::new(None));
        let raised: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
        let core = Transfer::with_progress({
            let (slot, raised) = (slot.clone(), raised.clone());
            move |done, total| report(&progress, &slot, &raised, done, total)
        });
        *lock(&slot) = Some(core.clone());
        if let Some(owner) = &owner {
            let owner = owner.get();
            lock(&owner.running).push(slot.clone());
            // After registering: a `cancel()` that did not see this call set the token.
            if owner.token.is_cancelled() {
                core.cancel();
            }
        }
        Ok(Call {
            core,
            slot,
            raised,
            owner,
        })
    }

    /// The core transfer to run the call with.
    pub(crate) fn transfer(&self) -> &Transfer {
        &self.core
    }

    /// The call's outcome: the callback's exception if it raised one (even when the
    /// transfer had completed by then; the caller's `Transfer` is then cancelled too),
    /// else the core's result.
    pub(crate) fn finish<T>(self, result: Result<T, RoomError>) -> PyResult<T> {
        if let Some(e) = lock(&self.raised).take() {
            if let Some(owner) = &self.owner {
                owner.get().cancel();
            }
            return Err(e);
        }
        Ok(result.map_err(Failure::from)?)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        lock(&self.slot).take();
        if let Some(owner) = &self.owner {
            lock(&owner.get().running).retain(|s| !Arc::ptr_eq(s, &self.slot));
        }
    }
}

/// The core's progress closure: with the GIL, runs pending signal handlers and the
/// callback; the first exception cancels the transfer and is kept for `Call::finish`.
fn report(
    callback: &Option<Py<PyAny>>,
    slot: &Slot,
    raised: &Mutex<Option<PyErr>>,
    done: u64,
    total: u64,
) {
    if lock(raised).is_some() {
        return;
    }
    let result = Python::attach(|py| {
        py.check_signals()?;
        if let Some(callback) = callback {
            callback.call1(py, (done, total))?;
        }
        Ok::<_, PyErr>(())
    });
    if let Err(e) = result {
        *lock(raised) = Some(e);
        if let Some(transfer) = lock(slot).as_ref() {
            transfer.cancel();
        }
    }
}
