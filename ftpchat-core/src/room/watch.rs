//! Background polling with adaptive intervals.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Room, RoomError, RoomEvent};
use crate::timeline::{Message, MessageId};

/// Receives what a watcher finds. Called on the watcher's thread: return quickly.
pub trait RoomListener: Send + Sync {
    /// New messages from others, in timeline order.
    fn on_messages(&self, messages: &[Message]);
    /// Own messages confirmed on the server.
    fn on_confirmed(&self, _ids: &[MessageId]) {}
    /// Events (undecodable lines, TLS fallback, retries...).
    fn on_event(&self, _event: &RoomEvent) {}
    /// A sync failed; the watcher keeps trying with backoff.
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

/// A running watcher; dropping it stops the thread (and waits for it).
#[derive(Debug)]
pub struct WatchHandle {
    stop: Arc<AtomicBool>,
    room: Room,
    thread: Option<JoinHandle<()>>,
}

impl WatchHandle {
    /// Stops the watcher and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    /// `true` while the thread runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let (count, cvar) = &self.room.shared.wake;
        *super::lock(count) += 1;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub(crate) fn start(
    room: Room,
    listener: Arc<dyn RoomListener>,
    options: WatchOptions,
) -> WatchHandle {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (room, stop) = (room.clone(), stop.clone());
        std::thread::Builder::new()
            .name("ftpchat-watch".into())
            .spawn(move || run(room, listener, options, stop))
            .ok()
    };
    WatchHandle { stop, room, thread }
}

fn run(room: Room, listener: Arc<dyn RoomListener>, options: WatchOptions, stop: Arc<AtomicBool>) {
    let mut interval = options.min_interval;
    while !stop.load(Ordering::SeqCst) {
        let seen = room.sends_so_far();
        let active = match room.sync() {
            Ok(update) => {
                for event in &update.events {
                    listener.on_event(event);
                }
                if !update.confirmed.is_empty() {
                    listener.on_confirmed(&update.confirmed);
                }
                if !update.messages.is_empty() {
                    listener.on_messages(&update.messages);
                }
                !update.messages.is_empty() || !update.confirmed.is_empty()
            }
            Err(e) => {
                listener.on_error(&e);
                false
            }
        };
        interval = if active {
            options.min_interval
        } else {
            (interval * 2).min(options.max_interval)
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        room.wait_for_send(seen, interval);
    }
}
