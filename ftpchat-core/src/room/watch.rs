//! Background polling with adaptive intervals.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Room, RoomError, RoomEvent, SyncUpdate};
use crate::timeline::{Message, MessageId};

/// Receives what a watcher finds. Called on the watcher's thread: return quickly.
pub trait RoomListener: Send + Sync {
    /// New messages from others, in timeline order.
    fn on_messages(&self, messages: &[Message]);
    /// Own messages confirmed on the server.
    fn on_confirmed(&self, _ids: &[MessageId]) {}
    /// Messages delivered before that were edited, deleted or reacted to, as they are
    /// now ([`SyncUpdate::changed`]).
    fn on_changed(&self, _messages: &[Message]) {}
    /// Events (undecodable lines, TLS fallback, retries...).
    fn on_event(&self, _event: &RoomEvent) {}
    /// A sync failed; the watcher keeps trying with backoff. What the sync read before it
    /// failed still comes through the other callbacks.
    fn on_error(&self, _error: &RoomError) {}
}

/// Poll intervals: `min` while a conversation is active, doubling to `max` when idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Interval right after activity.
    pub min_interval: Duration,
    /// Interval when idle (and the longest backoff after errors).
    pub max_interval: Duration,
}

impl WatchOptions {
    /// Polls every `min_interval` while a conversation is active, doubling to
    /// `max_interval` when idle.
    pub fn new(min_interval: Duration, max_interval: Duration) -> Self {
        WatchOptions {
            min_interval,
            max_interval,
        }
    }
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            min_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(3),
        }
    }
}

/// A running watcher.
///
/// [`cancel`](Self::cancel) stops it without waiting: safe anywhere, including inside a
/// listener callback. Dropping the handle cancels too (and does not wait).
/// [`stop`](Self::stop) and [`join`](Self::join) wait for the thread, except when called
/// from the watcher's own thread (a listener callback), where they return at once.
///
/// After a cancel no new listener call starts (a callback already running finishes);
/// whatever the watcher read but did not hand to the listener goes back to the room, so
/// the next [`Room::sync`] or watcher returns it.
#[derive(Debug)]
pub struct WatchHandle {
    control: Arc<Control>,
}

/// What a handle and its thread share.
pub(crate) struct Control {
    cancelled: AtomicBool,
    room: Room,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchControl")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Stops the watcher without waiting for it.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.room.shared.wake.fire();
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Waits for the thread unless this is the thread.
    fn join(&self) {
        let mut slot = super::lock(&self.thread);
        let own = slot
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id());
        if own {
            return;
        }
        if let Some(t) = slot.take() {
            drop(slot);
            let _ = t.join();
        }
    }
}

impl WatchHandle {
    /// Stops the watcher without waiting for it: returns at once, from any thread,
    /// including from inside a listener callback. Idempotent.
    pub fn cancel(&self) {
        self.control.cancel();
    }

    /// `true` once [`cancel`](Self::cancel) (or [`Room::close`]) was called.
    pub fn is_cancelled(&self) -> bool {
        self.control.is_cancelled()
    }

    /// Cancels the watcher and waits for its thread (a sync in progress, a callback in
    /// progress). Called from the watcher's own thread it does not wait.
    pub fn stop(self) {
        self.control.cancel();
        self.control.join();
    }

    /// Waits until the watcher's thread has ended (after a [`cancel`](Self::cancel), or
    /// a [`Room::close`]). Called from the watcher's own thread it returns at once;
    /// without a cancel it waits as long as the watcher runs.
    pub fn join(&self) {
        self.control.join();
    }

    /// `true` while the thread runs.
    pub fn is_running(&self) -> bool {
        super::lock(&self.control.thread)
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    pub(crate) fn control(&self) -> &Arc<Control> {
        &self.control
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.control.cancel();
    }
}

pub(crate) fn start(
    room: Room,
    listener: Arc<dyn RoomListener>,
    options: WatchOptions,
) -> WatchHandle {
    let control = Arc::new(Control {
        cancelled: AtomicBool::new(false),
        room,
        thread: Mutex::new(None),
    });
    let worker = control.clone();
    let thread = std::thread::Builder::new()
        .name("ftpchat-watch".into())
        .spawn(move || run(&worker, listener.as_ref(), options))
        .ok();
    *super::lock(&control.thread) = thread;
    WatchHandle { control }
}

fn run(control: &Control, listener: &dyn RoomListener, options: WatchOptions) {
    let room = &control.room;
    let mut interval = options.min_interval;
    while !control.is_cancelled() && !room.is_closed() {
        let wakeup = room.wakeup();
        // A failed sync may still have read (others' messages after a refused delivery,
        // the events that explain a wrong password): taken while the sync's lock is held,
        // so it goes to this listener beside the error instead of waiting for a sync
        // that succeeds, which a stuck outbox never gives.
        let (update, error) = room.sync_then(None, |result| match result {
            Ok(update) => (update.unwrap_or_default(), None),
            Err(RoomError::Closed) => (SyncUpdate::default(), Some(RoomError::Closed)),
            Err(e) => (room.take_pending(), Some(e)),
        });
        if matches!(error, Some(RoomError::Closed)) {
            break;
        }
        if let Some(e) = &error {
            if !control.is_cancelled() {
                listener.on_error(e);
            }
        }
        let active = !update.messages.is_empty()
            || !update.confirmed.is_empty()
            || !update.changed.is_empty();
        deliver(control, listener, update);
        interval = if active {
            options.min_interval
        } else {
            (interval * 2).min(options.max_interval)
        };
        if control.is_cancelled() {
            break;
        }
        room.pause(&wakeup, interval);
    }
}

/// Hands `update` to the listener, checking for a cancel before each call; what is left
/// at a cancel goes back to the room.
fn deliver(control: &Control, listener: &dyn RoomListener, update: SyncUpdate) {
    let SyncUpdate {
        messages,
        confirmed,
        events,
        changed,
    } = update;
    let give_back = |messages, confirmed, events, changed| {
        control.room.requeue(SyncUpdate {
            messages,
            confirmed,
            events,
            changed,
        });
    };
    let mut events = events.into_iter();
    while let Some(event) = events.next() {
        if control.is_cancelled() {
            let rest = std::iter::once(event).chain(events).collect();
            return give_back(messages, confirmed, rest, changed);
        }
        listener.on_event(&event);
    }
    if !confirmed.is_empty() {
        if control.is_cancelled() {
            return give_back(messages, confirmed, Vec::new(), changed);
        }
        listener.on_confirmed(&confirmed);
    }
    if !messages.is_empty() {
        if control.is_cancelled() {
            return give_back(messages, Vec::new(), Vec::new(), changed);
        }
        listener.on_messages(&messages);
    }
    if !changed.is_empty() {
        if control.is_cancelled() {
            return give_back(Vec::new(), Vec::new(), Vec::new(), changed);
        }
        listener.on_changed(&changed);
    }
}
