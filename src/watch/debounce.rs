//! When a pass runs after events: a trailing debounce with a maximum wait. A burst of events
//! (compose bringing up twenty services, a daemon restart) becomes one pass that sees all of
//! it, and a steady trickle still gets a pass at least every `max_wait`.
//!
//! And when a proxy may reload ([`Burst`], [`Hold`]): at once for a lone change, but during a burst of
//! containers coming and going (a hundred `docker start`s spread over the seconds the engine
//! needs for them) once when the burst ends, with a reload at most every `max_hold` while it
//! lasts. Every reload restarts the engine's workers (memory doubles for a moment, idle
//! keep-alive connections close), so a storm of them costs what the routes gain.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Debounce {
    quiet: Duration,
    max_wait: Duration,
    /// The first and the last event since the last pass.
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Debounce {
    pub(crate) fn new(quiet: Duration, max_wait: Duration) -> Debounce {
        Debounce {
            quiet,
            max_wait,
            first: None,
            last: None,
        }
    }

    /// An event arrived at `now`.
    pub(crate) fn note(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// When the pass is due: `quiet` after the last event, but no later than `max_wait` after
    /// the first. None when nothing is pending.
    pub(crate) fn due(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        Some((last + self.quiet).min(first + self.max_wait))
    }

    /// The time the oldest pending event has waited, and forgets them all (a pass starts).
    pub(crate) fn take(&mut self, now: Instant) -> Option<Duration> {
        self.last = None;
        self.first.take().map(|f| now.saturating_duration_since(f))
    }
}

/// Burst detection (see the module's documentation): a burst is at least `count` distinct
/// containers started, stopped or changed health within `window`; it ends when fewer than
/// `count` did within the last `window`.
#[derive(Debug, Clone)]
pub(crate) struct Burst {
    window: Duration,
    count: usize,
    /// Container events within the last `window` (time, container).
    recent: VecDeque<(Instant, String)>,
}

impl Burst {
    pub(crate) fn new(window: Duration, count: usize) -> Burst {
        Burst {
            window,
            count: count.max(1),
            recent: VecDeque::new(),
        }
    }

    /// A container started, stopped, went away or changed health at `at`.
    pub(crate) fn note(&mut self, at: Instant, container: &str) {
        self.recent.push_back((at, container.to_string()));
        self.forget(at);
    }

    fn forget(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= self.window)
        {
            self.recent.pop_front();
        }
    }

    /// When the burst under way at `now` ends if nothing more happens: `window` after the
    /// `count`-th most recent distinct container's last event. None: no burst.
    pub(crate) fn ends(&mut self, now: Instant) -> Option<Instant> {
        self.forget(now);
        let mut last: BTreeMap<&str, Instant> = BTreeMap::new();
        for (t, id) in &self.recent {
            last.insert(id, *t);
        }
        let mut times: Vec<Instant> = last.into_values().collect();
        if times.len() < self.count {
            return None;
        }
        times.sort_unstable_by(|a, b| b.cmp(a));
        Some(times[self.count - 1] + self.window).filter(|&e| e > now)
    }
}

/// The hold on one proxy's reloads during a burst.
#[derive(Debug, Clone)]
pub(crate) struct Hold {
    max: Duration,
    /// When the current hold began (a changed configuration was first held back).
    since: Option<Instant>,
}

impl Hold {
    pub(crate) fn new(max: Duration) -> Hold {
        Hold { max, since: None }
    }

    /// The proxy's configuration changed at `now`, with a burst ending at `burst_ends`: None
    /// to reload now, or the instant to look again (the burst's end, or `max` after the hold
    /// began, whichever comes first).
    pub(crate) fn until(&mut self, now: Instant, burst_ends: Option<Instant>) -> Option<Instant> {
        let Some(ends) = burst_ends.filter(|&e| e > now) else {
            self.since = None;
            return None;
        };
        let since = *self.since.get_or_insert(now);
        let until = ends.min(since + self.max);
        if until <= now {
            self.since = None;
            return None;
        }
        Some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_with_a_maximum_wait() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Debounce::new(ms(100), ms(500));
        assert_eq!(d.due(), None);
        // (event at, pass due at) as the events arrive.
        let table = [
            (0, 100),
            (50, 150),
            (140, 240),
            (230, 330),
            (320, 420),
            (410, 500),
            (490, 500),
        ];
        for (at, due) in table {
            d.note(t0 + ms(at));
            assert_eq!(d.due(), Some(t0 + ms(due)), "event at {at} ms");
        }
        assert_eq!(d.take(t0 + ms(500)), Some(ms(500)));
        assert_eq!(d.due(), None);
        d.note(t0 + ms(600));
        assert_eq!(d.due(), Some(t0 + ms(700)));
    }

    #[test]
    fn a_lone_change_reloads_at_once_a_burst_when_it_ends() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut burst = Burst::new(ms(1000), 3);
        let mut hold = Hold::new(ms(10_000));
        let mut changed = |burst: &mut Burst, at: Instant| {
            let ends = burst.ends(at);
            hold.until(at, ends)
        };
        // (container event at, or a changed configuration at: the expected answer).
        enum Step {
            Event(u64, &'static str),
            Change(u64, Option<u64>),
        }
        use Step::*;
        let table = [
            // One container starting and stopping again and again: never a burst.
            Event(0, "web"),
            Change(30, None),
            Event(300, "web"),
            Change(330, None),
            Event(600, "web"),
            Change(630, None),
            // Two more containers within the window: a burst; held until a second after the
            // third most recent distinct container's event.
            Event(700, "a"),
            Event(800, "b"),
            Change(830, Some(1600)),
            Event(900, "c"),
            Change(930, Some(1700)),
            // Quiet since: the burst is over at 1.7 s.
            Change(1700, None),
            // A long burst: one container every 100 ms from 3 s on; held at most 10 s.
            Event(3000, "d0"),
            Event(3100, "d1"),
            Event(3200, "d2"),
            Change(3230, Some(4000)),
        ];
        for step in table {
            match step {
                Event(at, id) => burst.note(t0 + ms(at), id),
                Change(at, want) => assert_eq!(
                    changed(&mut burst, t0 + ms(at)),
                    want.map(|w| t0 + ms(w)),
                    "a change at {at} ms"
                ),
            }
        }
        for i in 3..=102u64 {
            burst.note(t0 + ms(3000 + 100 * i), &format!("d{i}"));
        }
        // Still starting at 13.2 s: held no longer than 10 s after 3.23 s.
        assert_eq!(changed(&mut burst, t0 + ms(13_200)), Some(t0 + ms(13_230)));
        assert_eq!(changed(&mut burst, t0 + ms(13_230)), None);
        for i in 103..120u64 {
            burst.note(t0 + ms(3000 + 100 * i), &format!("d{i}"));
        }
        // The next hold starts afresh: until the burst ends (the last event at 14.9 s, the
        // third most recent at 14.7 s).
        assert_eq!(changed(&mut burst, t0 + ms(14_950)), Some(t0 + ms(15_700)));
        assert_eq!(changed(&mut burst, t0 + ms(15_700)), None);
    }
}
