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

/// When a watcher polls (SPEC §9.2.1, "Doorbell").
///
/// A native room whose writers ring its doorbell is watched with one cheap check per
/// interval (the doorbell's size: one `SIZE`) and read in full only when the doorbell
/// changed, at least every `full_poll_interval` (for writers that do not ring, and for
/// presence), and when this client has something to deliver or publish. A room without a
/// doorbell (and a FTPChat shared file, whose poll is one `SIZE` already) is polled in
/// full. Intervals: `min_interval` right after activity, doubling to `max_interval` when
/// idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Interval right after activity.
    pub min_interval: Duration,
    /// Interval of the cheap checks when idle (and the longest backoff after errors).
    /// A full poll that costs more (a native room without a doorbell: a listing, or two
    /// in a member room) waits that many times as long, so an idle watcher sends about
    /// one command per `max_interval` either way.
    pub max_interval: Duration,
    /// About the longest time between two full polls of a room whose doorbell is quiet
    /// (counted in idle intervals: every `full_poll_interval / max_interval` turns): how
    /// late a writer that does not ring (an older client) is seen at most.
    pub full_poll_interval: Duration,
    /// Check the doorbell between full polls (default `true`); `false` polls in full at
    /// every interval, as ftpchat did before the doorbell.
    pub doorbell: bool,
}

impl WatchOptions {
    /// Polls every `min_interval` while a conversation is active, doubling to
    /// `max_interval` when idle; the other fields keep their defaults.
    pub fn new(min_interval: Duration, max_interval: Duration) -> Self {
        WatchOptions {
            min_interval,
            max_interval,
            ..WatchOptions::default()
        }
    }

    /// The longest time between two full polls while the doorbell is quiet.
    pub fn with_full_poll_interval(mut self, interval: Duration) -> Self {
        self.full_poll_interval = interval;
        self
    }

    /// Whether to check the doorbell between full polls.
    pub fn with_doorbell(mut self, doorbell: bool) -> Self {
        self.doorbell = doorbell;
        self
    }
}

impl Default for WatchOptions {
    /// 250 ms after activity, 1 s when idle, a full poll about every 60 s: a message
    /// in an idle room is seen within about a second for about one command per second.
    fn default() -> Self {
        WatchOptions {
            min_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(1),
            full_poll_interval: Duration::from_secs(60),
            doorbell: true,
        }
    }
}

/// What a watcher does at its next turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Poll {
    /// A whole sync: deliver, list, read what grew.
    Full,
    /// Ask the doorbell's size; a full poll follows only if it changed.
    Bell,
}

/// The watcher's decisions, pure: given the time, what it was asked to do and what the
/// last polls saw, what to poll next and how long to pause. The driver (`run`) performs
/// the polls and waits on the room's clock.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    options: WatchOptions,
    /// Commands a full poll costs when nothing is new (1: a shared file's `SIZE`;
    /// 2: a native room's listing; 4: a member room's two listings without a doorbell).
    full_cost: u32,
    /// Commands per second the room spends besides polling (presence, membership
    /// checks): what is left of the budget paces the polls.
    upkeep_per_sec: f64,
    /// The current interval: `min_interval` after activity, doubling to the idle one.
    interval: Duration,
    /// When the last full poll started (room clock, ms); `None`: none yet.
    last_full_ms: Option<u64>,
    /// Doorbell checks since the last full poll.
    checks: u32,
    /// The doorbell's size as last seen (by a listing or a check); `None`: no doorbell.
    bell: Option<u64>,
}

impl Schedule {
    pub fn new(options: WatchOptions, full_cost: u32) -> Self {
        Schedule {
            options,
            full_cost: full_cost.max(1),
            upkeep_per_sec: 0.0,
            interval: options.min_interval,
            last_full_ms: None,
            checks: 0,
            bell: None,
        }
    }

    /// What a full poll costs and what the room spends besides polling, as the room
    /// says now (they change with the doorbell, the peers present...).
    pub fn set_costs(&mut self, full_cost: u32, upkeep_per_sec: f64) {
        self.full_cost = full_cost.max(1);
        self.upkeep_per_sec = if upkeep_per_sec.is_finite() {
            upkeep_per_sec.max(0.0)
        } else {
            0.0
        };
    }

    /// Turns (checks and the full poll) per safety cycle: `full_poll_interval` in
    /// idle intervals.
    fn turns(&self) -> u32 {
        let max = self.options.max_interval.as_secs_f64();
        if max <= 0.0 {
            return 1;
        }
        let turns = (self.options.full_poll_interval.as_secs_f64() / max).round();
        (turns as u32).max(1)
    }

    /// What to poll at `now_ms`. `urgent`: something waits to be delivered or published
    /// (a send, a presence change woke the watcher), which only a full poll does.
    /// `refresh`: a member room's presence is due for its periodic refresh, done by a
    /// full poll once the last one is as old as a full poll's share of the budget.
    pub fn next(&self, now_ms: u64, urgent: bool, refresh: bool) -> Poll {
        let Some(last) = self.last_full_ms else {
            return Poll::Full;
        };
        if urgent || !self.options.doorbell || self.bell.is_none() {
            return Poll::Full;
        }
        let since = Duration::from_millis(now_ms.saturating_sub(last));
        let share = self.options.max_interval * self.full_cost;
        if self.checks + 1 >= self.turns() || (refresh && since >= share) {
            Poll::Full
        } else {
            Poll::Bell
        }
    }

    /// A full poll started at `now_ms` is done: `bell` is the doorbell's size its listing
    /// showed (`None`: no doorbell), `active` whether it brought or delivered anything.
    pub fn full_done(&mut self, now_ms: u64, bell: Option<u64>, active: bool) {
        self.last_full_ms = Some(now_ms);
        self.checks = 0;
        self.bell = bell;
        self.step(active);
    }

    /// A doorbell check saw `size` (`None`: missing, or the check failed). `true`: it
    /// changed (compared with `!=`: a replaced, shorter doorbell counts), so poll in full
    /// now. A missing doorbell also answers `true`: the full poll that follows finds out
    /// and falls back to full polls until one appears.
    pub fn bell_checked(&mut self, size: Option<u64>) -> bool {
        let changed = size.is_none() || size != self.bell;
        self.checks += 1;
        if !changed {
            self.step(false);
        }
        changed
    }

    fn step(&mut self, active: bool) {
        self.interval = if active {
            self.options.min_interval
        } else {
            (self.interval * 2).min(self.idle_interval())
        };
    }

    /// The idle interval of the polls this schedule makes now. With a doorbell: a cycle
    /// of `turns` turns (`turns - 1` checks of one command, then a full poll of
    /// `full_cost`) takes `turns - 1 + full_cost` idle intervals, spread evenly over its
    /// turns, so that the average stays one command per `max_interval`. Without a
    /// doorbell: `max_interval` per command a full poll costs.
    /// The upkeep (`upkeep_per_sec`) takes its share of the budget first: the polls
    /// share what is left, so they come that much further apart (never more than twice).
    fn idle_interval(&self) -> Duration {
        let max = self.options.max_interval;
        let polls = if !self.options.doorbell {
            max
        } else if self.bell.is_none() {
            max * self.full_cost
        } else {
            let turns = self.turns();
            max * (turns - 1 + self.full_cost) / turns
        };
        let left = 1.0 - self.upkeep_per_sec * max.as_secs_f64();
        polls.div_f64(left.max(0.5))
    }

    /// How long to pause before the next turn.
    pub fn pause(&self) -> Duration {
        self.interval
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

/// The longest gap between two full polls of a room with presence: peers' state files are
/// read at full polls only, and a peer's state outlives its next publish by
/// `PRESENCE_TTL_MS - PRESENCE_REFRESH_MS` (120 s). Reading at most every half of that keeps
/// a present peer from showing offline between two reads, with room for a late publish.
const PRESENCE_READ_GAP: Duration =
    Duration::from_millis((super::PRESENCE_TTL_MS - super::PRESENCE_REFRESH_MS) / 2);

/// The options a watcher runs with: `options`, with full polls at least every
/// [`PRESENCE_READ_GAP`] when the room has presence.
fn effective_options(options: WatchOptions, presence: bool) -> WatchOptions {
    if presence {
        let gap = options.full_poll_interval.min(PRESENCE_READ_GAP);
        options.with_full_poll_interval(gap)
    } else {
        options
    }
}

fn run(control: &Control, listener: &dyn RoomListener, options: WatchOptions) {
    let room = &control.room;
    let options = effective_options(options, room.shared.core.presence_board().is_some());
    let mut schedule = Schedule::new(options, room.shared.core.poll_cost());
    // Fired by a send, a presence change, a cancel or a close since the last full poll.
    let mut woken: Option<super::Wakeup> = None;
    while !control.is_cancelled() && !room.is_closed() {
        let now = room.shared.clock.now_ms();
        let urgent = woken.as_ref().is_some_and(super::Wakeup::is_fired)
            || room.shared.core.outbox_len() > 0;
        let refresh = room.shared.core.publish_due(now);
        let full = match schedule.next(now, urgent, refresh) {
            Poll::Full => true,
            Poll::Bell => schedule.bell_checked(room.doorbell_size()),
        };
        if full {
            let wakeup = room.wakeup();
            let active = full_poll(control, listener);
            if control.is_cancelled() {
                break;
            }
            schedule.set_costs(
                room.shared.core.poll_cost(),
                room.shared.core.upkeep_per_sec(),
            );
            schedule.full_done(
                now,
                room.shared.core.doorbell().and_then(|(_, s)| s),
                active,
            );
            woken = Some(wakeup);
        }
        let Some(wakeup) = &woken else { break };
        if control.is_cancelled() {
            break;
        }
        room.pause(wakeup, schedule.pause());
    }
}

/// One whole sync, handed to the listener; `true` when it brought or delivered anything.
fn full_poll(control: &Control, listener: &dyn RoomListener) -> bool {
    let room = &control.room;
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
        control.cancel();
        return false;
    }
    if let Some(e) = &error {
        if !control.is_cancelled() {
            listener.on_error(e);
        }
    }
    let active =
        !update.messages.is_empty() || !update.confirmed.is_empty() || !update.changed.is_empty();
    deliver(control, listener, update);
    active
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::{PRESENCE_REFRESH_MS, PRESENCE_TTL_MS};

    const S: u64 = 1_000;

    fn options() -> WatchOptions {
        WatchOptions::default()
    }

    #[test]
    fn rooms_with_presence_poll_in_full_often_enough_to_keep_peers_online() {
        let defaults = WatchOptions::default();
        assert_eq!(defaults.full_poll_interval, Duration::from_secs(60));
        // Without presence the caller's safety interval stands, also a long one.
        let long = defaults.with_full_poll_interval(Duration::from_secs(300));
        assert_eq!(
            effective_options(long, false).full_poll_interval,
            Duration::from_secs(300)
        );
        // With presence: a peer publishing every 5 min with a 7 min lifetime, read at
        // most every minute, is never seen older than 6 min, so it never expires while
        // present.
        let capped = effective_options(long, true);
        assert_eq!(capped.full_poll_interval, Duration::from_secs(60));
        assert_eq!(effective_options(defaults, true), defaults);
        let worst_age = PRESENCE_REFRESH_MS + capped.full_poll_interval.as_millis() as u64;
        assert!(worst_age < PRESENCE_TTL_MS, "{worst_age} ms");
        // A shorter interval the caller chose is kept.
        let short = defaults.with_full_poll_interval(Duration::from_secs(10));
        assert_eq!(
            effective_options(short, true).full_poll_interval,
            Duration::from_secs(10)
        );
    }

    #[test]
    fn the_upkeep_of_a_room_comes_out_of_the_budget() {
        // A member room with one present peer: membership checks (2 commands per 5 min)
        // and presence (6 to publish + 2 to read a peer, per 5 min).
        let upkeep = 2.0 / 300.0 + 8.0 / 300.0;
        let mut s = Schedule::new(options(), 2);
        s.set_costs(2, upkeep);
        s.full_done(0, Some(1), false);
        let (commands, _, longest) = idle_run(&mut s, 0, 3_600, 2);
        let total = commands as f64 + upkeep * 3_600.0;
        assert!(total <= 3_600.0 + 4.0, "{total} commands in an idle hour");
        assert!(total >= 3_550.0, "only {total} commands in an idle hour");
        // The checks come a little further apart, well within the latency target.
        assert!(
            longest > Duration::from_millis(1_030) && longest < Duration::from_millis(1_060),
            "{longest:?}"
        );
        // An absurd upkeep never stops the polls: at most twice as far apart.
        s.set_costs(2, 1e9);
        s.full_done(0, Some(1), false);
        let (_, _, longest) = idle_run(&mut s, 0, 600, 2);
        assert!(longest <= Duration::from_millis(2_100), "{longest:?}");
        s.set_costs(2, f64::NAN);
        assert!(s.idle_interval() < Duration::from_millis(1_050));
    }

    /// Runs `schedule` idle (the doorbell never changes) from `start` for `secs`:
    /// (commands sent, full polls, longest pause).
    fn idle_run(schedule: &mut Schedule, start: u64, secs: u64, cost: u32) -> (u64, u64, Duration) {
        let (mut now, mut commands, mut fulls, mut longest) = (start, 0, 0, Duration::ZERO);
        while now < start + secs * S {
            match schedule.next(now, false, false) {
                Poll::Full => {
                    let bell = schedule.bell;
                    schedule.full_done(now, bell, false);
                    commands += u64::from(cost);
                    fulls += 1;
                }
                Poll::Bell => {
                    let bell = schedule.bell;
                    assert!(
                        !schedule.bell_checked(bell),
                        "an unchanged doorbell polls in full"
                    );
                    commands += 1;
                }
            }
            longest = longest.max(schedule.pause());
            now += schedule.pause().as_millis() as u64;
        }
        (commands, fulls, longest)
    }

    #[test]
    fn the_first_turn_polls_in_full_and_a_quiet_doorbell_is_then_only_checked() {
        let mut s = Schedule::new(options(), 2);
        assert_eq!(s.next(0, false, false), Poll::Full);
        s.full_done(0, Some(7), false);
        assert_eq!(s.next(S, false, false), Poll::Bell);
        assert!(!s.bell_checked(Some(7)));
        assert_eq!(s.next(2 * S, false, false), Poll::Bell);
    }

    #[test]
    fn a_changed_doorbell_polls_in_full_also_when_it_shrank_or_vanished() {
        let mut s = Schedule::new(options(), 2);
        s.full_done(0, Some(7), false);
        assert!(s.bell_checked(Some(8)), "grown");
        assert!(s.bell_checked(Some(3)), "replaced by a shorter file");
        assert!(s.bell_checked(None), "gone, or the check failed");
        // The full poll that follows sees it gone: full polls from then on.
        s.full_done(S, None, false);
        assert_eq!(s.next(2 * S, false, false), Poll::Full);
        assert_eq!(s.next(100 * S, false, false), Poll::Full);
    }

    #[test]
    fn a_full_poll_comes_at_the_safety_interval_or_when_something_waits() {
        let mut s = Schedule::new(options(), 2);
        s.full_done(0, Some(1), false);
        // 60 turns per cycle by default: 59 checks, then a full poll.
        for i in 1..60 {
            assert_eq!(s.next(i * S, false, false), Poll::Bell, "turn {i}");
            assert!(!s.bell_checked(Some(1)));
        }
        assert_eq!(s.next(60 * S, false, false), Poll::Full);
        s.full_done(60 * S, Some(1), false);
        assert_eq!(
            s.next(61 * S, true, false),
            Poll::Full,
            "an outbox or a wake-up"
        );
        // A presence refresh waits until a full poll's share of the budget (2 s for a
        // cost of 2) has passed.
        assert_eq!(s.next(61 * S, false, true), Poll::Bell);
        assert_eq!(s.next(62 * S, false, true), Poll::Full);
    }

    #[test]
    fn activity_polls_at_the_minimum_then_backs_off_to_the_idle_interval() {
        let mut s = Schedule::new(options(), 2);
        s.full_done(0, Some(1), true);
        assert_eq!(s.pause(), Duration::from_millis(250));
        assert!(!s.bell_checked(Some(1)));
        assert_eq!(s.pause(), Duration::from_millis(500));
        assert!(!s.bell_checked(Some(1)));
        assert!(!s.bell_checked(Some(1)));
        let idle = s.pause();
        assert!(idle >= Duration::from_secs(1) && idle < Duration::from_millis(1_050));
    }

    #[test]
    fn an_idle_watcher_sends_at_most_one_command_per_idle_interval() {
        for cost in [1, 2, 4] {
            // With a doorbell: checks about every second, a full poll about every minute.
            let mut s = Schedule::new(options(), cost);
            s.full_done(0, Some(1), false);
            let (commands, fulls, longest) = idle_run(&mut s, 0, 3_600, cost);
            assert!(
                commands <= 3_600 + 4,
                "cost {cost}: {commands} commands in an hour"
            );
            assert!(
                commands >= 3_550,
                "cost {cost}: only {commands} commands in an hour"
            );
            assert!(
                (56..=61).contains(&fulls),
                "cost {cost}: {fulls} full polls"
            );
            assert!(
                longest <= Duration::from_millis(1_050),
                "cost {cost}: {longest:?}"
            );
            // Without one: a full poll per `cost` seconds.
            let mut s = Schedule::new(options(), cost);
            let (commands, fulls, longest) = idle_run(&mut s, 0, 3_600, cost);
            // (plus the few quick polls of the first seconds, before the back-off)
            assert!(commands <= 3_620, "cost {cost}: {commands}");
            assert_eq!(commands, fulls * u64::from(cost));
            assert_eq!(longest, Duration::from_secs(u64::from(cost)));
        }
    }

    #[test]
    fn without_the_doorbell_every_turn_is_a_full_poll_as_before() {
        let o = WatchOptions::new(Duration::from_millis(250), Duration::from_secs(3))
            .with_doorbell(false);
        let mut s = Schedule::new(o, 4);
        s.full_done(0, Some(1), false);
        assert_eq!(s.next(S, false, false), Poll::Full);
        let (_, _, longest) = idle_run(&mut s, 0, 60, 4);
        assert_eq!(longest, Duration::from_secs(3));
    }
}
