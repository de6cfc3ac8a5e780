//! A room's updates as a pull stream ([`UpdateStream`]), for Kotlin `Flow` and Swift
//! `AsyncThrowingStream` (the adapters ship beside the generated bindings).
//!
//! The core's watcher does the work, exactly as for [`ChatRoom::watch`]; its listener here
//! only queues what it is handed, and an async [`UpdateStream::next`] takes the queue. The
//! future is plain `std` (a mutex and wakers): any executor can poll it, no runtime is
//! involved.
//!
//! [`ChatRoom::watch`]: crate::ChatRoom::watch

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use ftpchat_core::{Message, MessageId};
use ftpchat_core::{
    Room, RoomError, RoomEvent, RoomListener, SyncUpdate, WatchHandle, WatchOptions,
};

use crate::{ChatError, ChatUpdate};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the watcher handed over and nobody took yet.
#[derive(Default)]
struct Queue {
    /// Everything read since the last `next()`, merged.
    update: SyncUpdate,
    /// The newest error the watcher met since the last `next()`.
    error: Option<ChatError>,
    /// No more updates will come: cancelled, or the watcher's thread ended.
    ended: bool,
    /// Cancelled by the consumer: nothing is handed out any more; what arrives goes back
    /// to the room.
    cancelled: bool,
    /// Wakers of pending `next()` futures, by future.
    wakers: Vec<(u64, Waker)>,
    next_waiter: u64,
}

impl Queue {
    fn wake_all(&mut self) -> Vec<Waker> {
        self.wakers.drain(..).map(|(_, w)| w).collect()
    }
}

struct Shared {
    queue: Mutex<Queue>,
    room: Room,
}

impl Shared {
    /// Queues part of a watcher round, or gives it back to the room after a cancel.
    fn push(&self, part: SyncUpdate) {
        let mut queue = lock(&self.queue);
        if queue.cancelled {
            drop(queue);
            self.room.give_back(part);
            return;
        }
        queue.update.append(part);
        let wakers = queue.wake_all();
        drop(queue);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Ends the stream; with `cancelled`, gives what nobody read back to the room.
    fn end(&self, cancelled: bool) {
        let mut queue = lock(&self.queue);
        queue.ended = true;
        let unread = if cancelled && !queue.cancelled {
            queue.cancelled = true;
            queue.error = None;
            std::mem::take(&mut queue.update)
        } else {
            SyncUpdate::default()
        };
        let wakers = queue.wake_all();
        drop(queue);
        self.room.give_back(unread);
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The watcher's listener: queues what it is handed. Dropped when the watcher's thread
/// ends, which ends the stream.
struct Feed(Arc<Shared>);

impl RoomListener for Feed {
    fn on_messages(&self, messages: &[Message]) {
        let mut part = SyncUpdate::default();
        part.messages = messages.to_vec();
        self.0.push(part);
    }

    fn on_confirmed(&self, ids: &[MessageId]) {
        let mut part = SyncUpdate::default();
        part.confirmed = ids.to_vec();
        self.0.push(part);
    }

    fn on_changed(&self, messages: &[Message]) {
        let mut part = SyncUpdate::default();
        part.changed = messages.to_vec();
        self.0.push(part);
    }

    fn on_event(&self, event: &RoomEvent) {
        let mut part = SyncUpdate::default();
        part.events = vec![event.clone()];
        self.0.push(part);
    }

    fn on_error(&self, error: &RoomError) {
        let mut queue = lock(&self.0.queue);
        if queue.cancelled {
            return;
        }
        queue.error = Some(ChatError::from(error));
        let wakers = queue.wake_all();
        drop(queue);
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.0.end(false);
    }
}

/// A room's updates as a stream, from [`ChatRoom::update_stream`](crate::ChatRoom::update_stream):
/// a background watcher (the same as [`ChatRoom::watch`](crate::ChatRoom::watch)'s)
/// whose findings are taken with the async [`next`](Self::next) instead of a listener.
///
/// Kotlin: `room.updates()` (a `Flow<ChatUpdate>`, in `FtpChatFlow.kt`) wraps it;
/// Swift: `room.updates()` (an `AsyncThrowingStream<ChatUpdate, Error>`, in
/// `FtpChatAsync.swift`). Each message, confirmation and event goes to exactly one
/// consumer of the room: this stream, a listener, or a sync.
///
/// [`cancel`](Self::cancel) ends it; so does destroying it (Kotlin `close()`, garbage
/// collection, Swift `deinit`) or shutting the room down. A `next()` in progress keeps
/// the object alive until it returns: to end that call, `cancel()` rather than destroy.
#[derive(uniffi::Object)]
pub struct UpdateStream {
    shared: Arc<Shared>,
    handle: WatchHandle,
}

impl std::fmt::Debug for UpdateStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateStream")
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}

impl UpdateStream {
    pub(crate) fn start(room: &Room, options: WatchOptions) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            room: room.clone(),
        });
        let handle = room.watch(Arc::new(Feed(shared.clone())), options);
        UpdateStream { shared, handle }
    }
}

impl Drop for UpdateStream {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[uniffi::export]
impl UpdateStream {
    /// The next update: everything the watcher read since the last call (messages from
    /// others, confirmations of own messages, events, changed messages), never empty.
    /// Waits until there is something. `null`/`nil` once the stream has ended: at once
    /// after [`cancel`](Self::cancel); after the room's shutdown, when what was read
    /// before has been taken.
    ///
    /// A failed sync (the watcher keeps retrying with backoff) is thrown by the next call
    /// as its `ChatError` (only the newest one since the previous call); the stream goes
    /// on, so calling `next` again continues with what the watcher reads afterwards.
    ///
    /// Cancelling the call (the Kotlin coroutine; Swift tasks do not cancel UniFFI calls)
    /// takes nothing from the stream. Should the cancellation arrive just as UniFFI
    /// hands a finished result over, UniFFI drops that update (its messages are still in
    /// [`ChatRoom::history`](crate::ChatRoom::history)). No I/O on the calling thread.
    pub async fn next(self: Arc<Self>) -> Result<Option<ChatUpdate>, ChatError> {
        let taken = Next {
            shared: self.shared.clone(),
            waiter: None,
        }
        .await?;
        // Converted outside the queue's lock (a first sync can bring many messages).
        Ok(taken.map(ChatUpdate::from))
    }

    /// Ends the stream without waiting: returns at once, from any thread. The watcher
    /// stops (a sync in progress finishes on its thread, which then ends); pending and
    /// later [`next`](Self::next) calls return `null`/`nil`; what was read and not taken
    /// goes back to the room, for the next sync or listener. Idempotent.
    pub fn cancel(&self) {
        self.handle.cancel();
        self.shared.end(true);
    }

    /// `true` until [`cancel`](Self::cancel) or the room's shutdown.
    pub fn is_active(&self) -> bool {
        !self.handle.is_cancelled() && !lock(&self.shared.queue).ended
    }

    /// `true` while the watcher's thread runs (it ends soon after a cancel: once a sync
    /// in progress has finished).
    pub fn is_running(&self) -> bool {
        self.handle.is_running()
    }
}

/// One `next()`: ready when the queue has something or the stream has ended.
struct Next {
    shared: Arc<Shared>,
    /// Its entry in the queue's wakers, while pending.
    waiter: Option<u64>,
}

impl Future for Next {
    type Output = Result<Option<SyncUpdate>, ChatError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = self.shared.clone();
        let mut queue = lock(&shared.queue);
        let ready = if queue.cancelled {
            Some(Ok(None))
        } else if !queue.update.is_empty() {
            Some(Ok(Some(std::mem::take(&mut queue.update))))
        } else if let Some(e) = queue.error.take() {
            Some(Err(e))
        } else if queue.ended {
            Some(Ok(None))
        } else {
            None
        };
        if let Some(waiter) = self.waiter {
            queue.wakers.retain(|(id, _)| *id != waiter);
        }
        match ready {
            Some(result) => {
                self.waiter = None;
                Poll::Ready(result)
            }
            None => {
                let waiter = match self.waiter {
                    Some(id) => id,
                    None => {
                        queue.next_waiter += 1;
                        queue.next_waiter
                    }
                };
                queue.wakers.push((waiter, cx.waker().clone()));
                drop(queue);
                self.waiter = Some(waiter);
                Poll::Pending
            }
        }
    }
}

impl Drop for Next {
    /// A dropped (cancelled) call leaves no waker behind.
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter {
            lock(&self.shared.queue)
                .wakers
                .retain(|(id, _)| *id != waiter);
        }
    }
}
