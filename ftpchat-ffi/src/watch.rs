//! Listener callbacks and the subscription handle that stops them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use ftpchat_core::{Message, MessageId};
use ftpchat_core::{Room, RoomError, RoomEvent, RoomListener, WatchHandle, WatchOptions};

use crate::{ChatError, ChatEvent, ChatMessage};

/// Receives what a subscription finds. Implemented in Kotlin or Swift.
///
/// Called on a background thread (one per subscription), never the UI thread, one call
/// at a time: return quickly and post the work to the UI. A callback that throws (any
/// exception in Kotlin, any error in Swift) is contained: the subscription keeps running.
/// Implementations need not declare `throws`. Calling [`Subscription::cancel`] or
/// [`Subscription::stop`] from a callback is allowed (both return at once there).
#[uniffi::export(callback_interface)]
pub trait ChatListener: Send + Sync {
    /// New messages from others, in timeline order.
    fn on_messages(&self, messages: Vec<ChatMessage>) -> Result<(), ChatError>;
    /// Ids (hex) of own messages now confirmed on the server.
    fn on_confirmed(&self, ids: Vec<String>) -> Result<(), ChatError>;
    /// Messages delivered before that were edited, deleted or reacted to, as they are
    /// now (replace them where they are shown).
    fn on_changed(&self, messages: Vec<ChatMessage>) -> Result<(), ChatError>;
    /// An event (undecodable or keyless line, reconnection, retry...).
    fn on_event(&self, event: ChatEvent) -> Result<(), ChatError>;
    /// A sync failed; the subscription keeps trying with backoff (a shared file that the
    /// password does not open reports `WrongPassword` on every round).
    fn on_error(&self, error: ChatError) -> Result<(), ChatError>;
}

/// Adapts the core's listener to the foreign one: converts types, contains failures.
struct Adapter(Box<dyn ChatListener>);

impl Adapter {
    /// Calls the listener; the watcher must survive a buggy callback. A foreign exception
    /// arrives as an `Err` (see `From<UnexpectedUniFFICallbackError>`) and is dropped;
    /// `catch_unwind` is a second line of defence for unwinding builds.
    fn call(&self, f: impl FnOnce(&dyn ChatListener) -> Result<(), ChatError>) {
        let _ = catch_unwind(AssertUnwindSafe(|| f(self.0.as_ref())));
    }
}

impl RoomListener for Adapter {
    fn on_messages(&self, messages: &[Message]) {
        self.call(|l| l.on_messages(messages.iter().map(ChatMessage::from).collect()));
    }

    fn on_confirmed(&self, ids: &[MessageId]) {
        self.call(|l| l.on_confirmed(ids.iter().map(MessageId::to_hex).collect()));
    }

    fn on_changed(&self, messages: &[Message]) {
        self.call(|l| l.on_changed(messages.iter().map(ChatMessage::from).collect()));
    }

    fn on_event(&self, event: &RoomEvent) {
        self.call(|l| l.on_event(ChatEvent::from(event)));
    }

    fn on_error(&self, error: &RoomError) {
        self.call(|l| l.on_error(ChatError::from(error)));
    }
}

/// A running subscription from [`ChatRoom::watch`](crate::ChatRoom::watch): the core's
/// watch handle.
///
/// [`cancel`](Self::cancel) stops it; so does destroying it (Kotlin `close()` /
/// `destroy()` / garbage collection, Swift `deinit`) or shutting the room down.
#[derive(uniffi::Object)]
pub struct Subscription {
    handle: WatchHandle,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Subscription {
    pub(crate) fn start(
        room: &Room,
        listener: Box<dyn ChatListener>,
        options: WatchOptions,
    ) -> Self {
        Subscription {
            handle: room.watch(Arc::new(Adapter(listener)), options),
        }
    }
}

#[uniffi::export]
impl Subscription {
    /// Stops the subscription without waiting: returns at once, from any thread
    /// (including the UI thread and the listener's own callbacks). No callback starts
    /// after it returns; one already running on the watcher's thread finishes. What the
    /// watcher read and did not hand over yet goes back to the room, for the next sync.
    /// Idempotent.
    pub fn cancel(&self) {
        self.handle.cancel();
    }

    /// Cancels and waits until the watcher's thread has ended (a sync or a callback in
    /// progress). *Blocking*; called from a callback of this subscription it does not
    /// wait.
    pub fn stop(&self) {
        self.handle.cancel();
        self.handle.join();
    }

    /// `true` until [`cancel`](Self::cancel) (or the room's shutdown).
    pub fn is_active(&self) -> bool {
        !self.handle.is_cancelled()
    }
}
