use crate::format::Hlc;

/// A remote time more than this far ahead of our wall clock does not advance our clock
/// (it is still ordered by its value): one broken or hostile clock cannot drag every
/// client's timestamps into the future.
pub(crate) const MAX_FORWARD_DRIFT_MS: u64 = 24 * 60 * 60 * 1000;

/// A hybrid logical clock (Kulkarni et al., 2014): timestamps that follow wall time but
/// never go backwards and always exceed every timestamp observed, so a reply sorts after
/// the message it answers even when the replier's clock is behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A clock that has seen `last` (e.g. restored from saved state).
    pub(crate) fn new(last: Hlc) -> Self {
        HlcClock { last }
    }

    /// The latest timestamp issued or observed.
    pub(crate) fn last(&self) -> Hlc {
        self.last
    }

    /// A timestamp for a new local event at wall time `wall_ms`.
    pub(crate) fn tick(&mut self, wall_ms: u64) -> Hlc {
        let (l, c) = (self.last.wall_ms(), self.last.counter());
        self.last = if wall_ms > l {
            Hlc::new(wall_ms, 0)
        } else if c < u16::MAX {
            Hlc::new(l, c + 1)
        } else {
            // Counter exhausted: borrow the next millisecond.
            Hlc::new(l + 1, 0)
        };
        self.last
    }

    /// Takes a remote timestamp into account.
    pub(crate) fn observe(&mut self, remote: Hlc, wall_ms: u64) {
        if remote.wall_ms() > wall_ms.saturating_add(MAX_FORWARD_DRIFT_MS) {
            return;
        }
        if remote > self.last {
            self.last = remote;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_follows_wall_time() {
        let mut c = HlcClock::default();
        let a = c.tick(1000);
        let b = c.tick(1000);
        let d = c.tick(999); // wall clock went back
        let e = c.tick(2000);
        assert!(a < b && b < d && d < e);
        assert_eq!(e, Hlc::new(2000, 0));
    }

    #[test]
    fn replies_sort_after_what_they_answer_despite_skew() {
        let mut fast = HlcClock::default();
        let mut slow = HlcClock::default();
        let question = fast.tick(10 * 60 * 1000 + 5_000);
        slow.observe(question, 5_000); // ten minutes behind
        let reply = slow.tick(5_001);
        assert!(reply > question);
    }

    #[test]
    fn far_future_does_not_drag_the_clock() {
        let mut c = HlcClock::default();
        c.observe(Hlc::new(MAX_FORWARD_DRIFT_MS + 10_000, 0), 1_000);
        assert_eq!(c.tick(1_000), Hlc::new(1_000, 0));
    }

    #[test]
    fn counter_overflow_borrows_a_millisecond() {
        let mut c = HlcClock::new(Hlc::new(5, u16::MAX));
        assert_eq!(c.tick(5), Hlc::new(6, 0));
    }
}
