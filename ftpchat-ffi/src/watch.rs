//! Listener callbacks and the subscription handle that stops them.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ftpchat_core::{Message, MessageId};
use ftpchat_core::{Room, RoomError, RoomEvent, RoomListener, WatchHandle, WatchOptions};

use crate::room::{lock, Inner};
use crate::{ChatError, ChatEvent, ChatMessage, ChatUpdate};

/// Receives what a subscription finds. Implemented in Kotlin or Swift.
///
/// Called on a background thread (one per subscription), never the UI thread, one call
/// at a time: return quickly and post the work to the UI. A callback that throws (any
/// exception in Kotlin, any error in Swift) is contained: the subscription keeps running.
/// Implementations need not declare `throws`. Calling [`Subscription::cancel`] from a
/// callback is allowed.
#[uniffi::export(callback_interface)]
pub trait ChatListener: Send + Sync {
    /// New messages from others, in timeline order.
    fn on_messages(&self, messages: Vec<ChatMessage>) -> Result<(), ChatError>;
    /// Ids (hex) of own messages now confirmed on the server.
    fn on_confirmed(&self, ids: Vec<String>) -> Result<(), ChatError>;
    /// An event (undecodable or keyless line, reconnection, retry...).
    fn on_event(&self, event: ChatEvent) -> Result<(), ChatError>;
    /// A sync failed; the subscription keeps trying with backoff (a shared file that the
    /// password does not open reports `WrongPassword` on every round).
    fn on_error(&self, error: ChatError) -> Result<(), ChatError>;
}

thread_local! {
    /// The delivery (by address) whose listener this thread is calling, if any.
    static DELIVERING: Cell<usize> = const { Cell::new(0) };
}

/// The listener of one subscription, and whether it may still be called.
struct Delivery {
    active: AtomicBool,
    /// Held while the listener is called: `cancel` takes it to wait for a callback in
    /// progress on another thread.
    calling: Mutex<()>,
    listener: Box<dyn ChatListener>,
    room: Arc<Inner>,
}

impl Delivery {
    fn id(&self) -> usize {
        self as *const Delivery as usize
    }

    /// Delivers what the room carried over, then `update`; stashes `update` in the room
    /// instead once the subscription is cancelled, so the next sync returns it.
    fn deliver(&self, update: ChatUpdate) {
        let _calling = lock(&self.calling);
        if !self.active.load(Ordering::SeqCst) {
            self.room.stash(update);
            return;
        }
        let carried = self.room.take_carry();
        let previous = DELIVERING.with(|d| d.replace(self.id()));
        for u in [carried, update] {
            for event in u.events {
                self.call(|l| l.on_event(event));
            }
            if !u.confirmed.is_empty() {
                self.call(|l| l.on_confirmed(u.confirmed));
            }
            if !u.messages.is_empty() {
                self.call(|l| l.on_messages(u.messages));
            }
        }
        DELIVERING.with(|d| d.set(previous));
    }

    fn deliver_error(&self, error: ChatError) {
        let _calling = lock(&self.calling);
        if self.active.load(Ordering::SeqCst) {
            let previous = DELIVERING.with(|d| d.replace(self.id()));
            self.call(|l| l.on_error(error));
            DELIVERING.with(|d| d.set(previous));
        }
    }

    /// Calls the listener; the watcher must survive a buggy callback. A foreign exception
    /// arrives as an `Err` (see `From<UnexpectedUniFFICallbackError>`) and is dropped;
    /// `catch_unwind` is a second line of defence for unwinding builds.
    fn call(&self, f: impl FnOnce(&dyn ChatListener) -> Result<(), ChatError>) {
        let _ = catch_unwind(AssertUnwindSafe(|| f(self.listener.as_ref())));
    }

    /// No callback starts after this returns, and none is still running unless this is
    /// called from the callback itself.
    fn deactivate(&self) {
        self.active.store(false, Ordering::SeqCst);
        if DELIVERING.with(|d| d.get()) != self.id() {
            drop(lock(&self.calling));
        }
    }
}

/// Adapts the core's listener to the foreign one.
struct Adapter(Arc<Delivery>);

impl RoomListener for Adapter {
    fn on_messages(&self, messages: &[Message]) {
        self.0.deliver(ChatUpdate {
            messages: messages.iter().map(ChatMessage::from).collect(),
            ..ChatUpdate::default()
        });
    }

    fn on_confirmed(&self, ids: &[MessageId]) {
        self.0.deliver(ChatUpdate {
            confirmed: ids.iter().map(MessageId::to_hex).collect(),
            ..ChatUpdate::default()
        });
    }

    fn on_event(&self, event: &RoomEvent) {
        self.0.deliver(ChatUpdate {
            events: vec![ChatEvent::from(event)],
            ..ChatUpdate::default()
        });
    }

    fn on_error(&self, error: &RoomError) {
        self.0.deliver_error(ChatError::from(error));
    }
}

/// A running watcher and its listener.
pub(crate) struct SubscriptionState {
    delivery: Arc<Delivery>,
    handle: Mutex<Option<WatchHandle>>,
}

impl SubscriptionState {
    pub(crate) fn start(
        inner: &Arc<Inner>,
        room: &Room,
        listener: Box<dyn ChatListener>,
        options: WatchOptions,
    ) -> Arc<Self> {
        let delivery = Arc::new(Delivery {
            active: AtomicBool::new(true),
            calling: Mutex::new(()),
            listener,
            room: inner.clone(),
        });
        // What earlier syncs left (e.g. a background sync that finished late) goes to
        // this listener first, on a thread of its own since the watcher calls only when
        // it finds something; the delivery lock keeps it ahead of the watcher's calls.
        if inner.has_carry() {
            let first = delivery.clone();
            // If no thread can be started, the carry stays for the next sync.
            let _ = std::thread::Builder::new()
                .name("ftpchat-watch-carry".into())
                .spawn(move || first.deliver(ChatUpdate::default()));
        }
        let handle = room.watch(Arc::new(Adapter(delivery.clone())), options);
        Arc::new(SubscriptionState {
            delivery,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Stops callbacks at once; the watcher thread stops in the background (it may be in
    /// the middle of a sync, whose results are then kept for the next sync).
    pub(crate) fn cancel(&self) {
        self.delivery.deactivate();
        if let Some(handle) = lock(&self.handle).take() {
            // If no thread can be started the closure (and so the handle) is dropped
            // here, which stops the watcher inline.
            let _ = std::thread::Builder::new()
                .name("ftpchat-watch-stop".into())
                .spawn(move || handle.stop());
        }
    }

    fn is_active(&self) -> bool {
        self.delivery.active.load(Ordering::SeqCst)
    }
}

/// A running subscription from [`ChatRoom::watch`](crate::ChatRoom::watch).
///
/// [`cancel`](Self::cancel) stops it; so does destroying it (Kotlin `close()` /
/// `destroy()` / garbage collection, Swift `deinit`) or shutting the room down.
#[derive(uniffi::Object)]
pub struct Subscription {
    state: Arc<SubscriptionState>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("active", &self.state.is_active())
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(state: Arc<SubscriptionState>) -> Self {
        Subscription { state }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.state.cancel();
    }
}

#[uniffi::export]
impl Subscription {
    /// Stops the subscription. When this returns no listener callback is running or will
    /// start (except the one calling `cancel`, if called from a callback). Does not wait
    /// for the watcher's network I/O: safe on the UI thread. Idempotent.
    pub fn cancel(&self) {
        self.state.cancel();
    }

    /// `true` until [`cancel`](Self::cancel) (or the room's shutdown).
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }
}
