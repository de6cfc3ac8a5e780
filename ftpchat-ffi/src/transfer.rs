//! Attachment transfers: the progress callback and the handle that cancels one.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use ftpchat_core::Transfer;

use crate::ChatError;

/// Follows the progress of an attachment transfer. Implemented in Kotlin or Swift and
/// given to a [`ChatTransfer`].
///
/// Called on the thread doing the transfer (the one that called
/// [`ChatRoom::send_file`](crate::ChatRoom::send_file) or
/// [`ChatRoom::save_attachment`](crate::ChatRoom::save_attachment)), one call at a time,
/// while the transfer waits: return quickly and post to the UI. A callback that throws is
/// contained: the transfer goes on. Implementations need not declare `throws`. Calling
/// [`ChatTransfer::cancel`] from a callback is allowed.
#[uniffi::export(callback_interface)]
pub trait TransferListener: Send + Sync {
    /// `done` bytes of the file's `total` are transferred: called at the start (a resumed
    /// download starts where it left off), then about every MiB, and with `done == total`
    /// when the last bytes are through. The call's result says whether the transfer
    /// succeeded.
    fn on_progress(&self, done: u64, total: u64) -> Result<(), ChatError>;
}

/// Follows and controls one attachment transfer (the core's `Transfer`): pass it to
/// [`ChatRoom::send_file`](crate::ChatRoom::send_file) or
/// [`ChatRoom::save_attachment`](crate::ChatRoom::save_attachment) to get progress
/// reports and to cancel from another thread. No I/O.
///
/// Use one per transfer: once cancelled it stays cancelled, and every call it is passed
/// to fails with `ChatError.Cancelled`.
#[derive(uniffi::Object)]
pub struct ChatTransfer {
    inner: Transfer,
}

impl std::fmt::Debug for ChatTransfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTransfer")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl ChatTransfer {
    /// The core's transfer (a clone shares its state).
    pub(crate) fn core(&self) -> &Transfer {
        &self.inner
    }
}

#[uniffi::export]
impl ChatTransfer {
    /// A transfer that reports its progress to `listener` (`null`/`nil`: no reports; it
    /// can still be cancelled).
    #[uniffi::constructor(default(listener = None))]
    pub fn new(listener: Option<Box<dyn TransferListener>>) -> Arc<Self> {
        let inner = match listener {
            None => Transfer::new(),
            Some(listener) => Transfer::with_progress(move |done, total| {
                // A foreign exception arrives as an `Err` (see
                // `From<UnexpectedUniFFICallbackError>`) and is dropped; `catch_unwind` is
                // a second line of defence for unwinding builds.
                let _ = catch_unwind(AssertUnwindSafe(|| listener.on_progress(done, total)));
            }),
        };
        Arc::new(ChatTransfer { inner })
    }

    /// Stops the transfer soon (within one 64 KiB chunk): the call doing it fails with
    /// `ChatError.Cancelled`. Returns at once, from any thread, including the UI thread
    /// and the listener's callback. A cancelled download leaves the target as it was and
    /// keeps what it verified in a partial file beside it (`.<name>.<blob>.part`): the
    /// next `save_attachment` to the same target resumes from there. A cancelled upload
    /// removes its partial blob and queues no message. Idempotent.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// `true` after [`cancel`](Self::cancel).
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}
