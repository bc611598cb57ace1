//! When a pass runs after events: a trailing debounce with a maximum wait. A burst of events
//! (compose bringing up twenty services, a daemon restart) becomes one pass that sees all of
//! it, and a steady trickle still gets a pass at least every `max_wait`. Each event waits for
//! its own quiet: the daemon's listing shows a `start` as soon as it is sent, a `die` only a
//! moment later.
//!
//! And when a proxy may reload ([`Burst`], [`Hold`]): at once for a lone change, but during a burst of
//! containers coming and going (a hundred `docker start`s spread over the seconds the engine
//! needs for them) once when the burst ends, with a reload after `max_hold`, then after
//! twice and four times that, while it lasts. Every reload restarts the engine's workers (memory doubles for a moment, idle
//! keep-alive connections close), so a storm of them costs what the routes gain.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct Debounce {
    max_wait: Duration,
    /// The first event since the last pass, and when the pass is due by the quiet alone (the
    /// latest of each event's time plus its quiet).
    first: Option<Instant>,
    settled: Option<Instant>,
}

impl Debounce {
    pub(crate) fn new(max_wait: Duration) -> Debounce {
        Debounce {
            max_wait,
            first: None,
            settled: None,
        }
    }

    /// An event arrived at `now`, after which the daemon's listing says what it did within
    /// `quiet` (see [`super::Options`]).
    pub(crate) fn note(&mut self, now: Instant, quiet: Duration) {
        self.first.get_or_insert(now);
        let at = now + quiet;
        self.settled = Some(self.settled.map_or(at, |s| s.max(at)));
    }

    /// When the pass is due: each event's quiet after it, but no later than `max_wait` after
    /// the first. None when nothing is pending.
    pub(crate) fn due(&self) -> Option<Instant> {
        let (first, settled) = (self.first?, self.settled?);
        Some(settled.min(first + self.max_wait))
    }

    /// The time the oldest pending event has waited, and forgets them all (a pass starts).
    pub(crate) fn take(&mut self, now: Instant) -> Option<Duration> {
        self.settled = None;
        self.first.take().map(|f| now.saturating_duration_since(f))
    }
}

/// Burst detection (see the module's documentation): a burst is at least `count` distinct
/// containers created, started, stopped or changed health within `window`; it ends when fewer than
/// `count` did within the last `window`, or after `quiet` without any. The window is wide
/// because a loaded engine starts a container every second or so; the quiet ends a quick
/// burst without making its last routes wait for the window.
#[derive(Debug, Clone)]
pub(crate) struct Burst {
    window: Duration,
    count: usize,
    quiet: Duration,
    /// Container events within the last `window` (time, container).
    recent: VecDeque<(Instant, String)>,
}

impl Burst {
    pub(crate) fn new(window: Duration, count: usize, quiet: Duration) -> Burst {
        Burst {
            window,
            count: count.max(1),
            quiet,
            recent: VecDeque::new(),
        }
    }

    /// A container was created, started, stopped, went away or changed health at `at`.
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

    /// When the burst of `relevant` containers under way at `now` ends if nothing more
    /// happens: `window` after the `count`-th most recent distinct one's last event, or
    /// `quiet` after the last, whichever comes first. None: no burst. (A proxy counts only
    /// the containers it routes or routed: other churn on the daemon never holds it.)
    pub(crate) fn ends(&self, now: Instant, relevant: impl Fn(&str) -> bool) -> Option<Instant> {
        let mut last: BTreeMap<&str, Instant> = BTreeMap::new();
        for (t, id) in &self.recent {
            if now.saturating_duration_since(*t) < self.window && relevant(id) {
                last.insert(id, *t);
            }
        }
        let mut times: Vec<Instant> = last.into_values().collect();
        if times.len() < self.count {
            return None;
        }
        times.sort_unstable_by(|a, b| b.cmp(a));
        Some((times[self.count - 1] + self.window).min(times[0] + self.quiet)).filter(|&e| e > now)
    }
}

/// The hold on one proxy's reloads during a burst. Each hold of the same burst is twice as
/// long as the one before (up to four times the first): a burst's routes wait `max` at first,
/// and one that goes on for a minute and more costs a few reloads, not one per `max`.
#[derive(Debug, Clone)]
pub(crate) struct Hold {
    max: Duration,
    /// When the current hold began (a changed configuration was first held back).
    since: Option<Instant>,
    /// Holds that ended in a reload while this burst lasts.
    ended: u32,
}

impl Hold {
    pub(crate) fn new(max: Duration) -> Hold {
        Hold {
            max,
            since: None,
            ended: 0,
        }
    }

    /// The proxy's configuration changed at `now`, with a burst ending at `burst_ends`: None
    /// to reload now, or the instant to look again (the burst's end, or the hold's length
    /// after it began, whichever comes first).
    pub(crate) fn until(&mut self, now: Instant, burst_ends: Option<Instant>) -> Option<Instant> {
        let Some(ends) = burst_ends.filter(|&e| e > now) else {
            self.since = None;
            self.ended = 0;
            return None;
        };
        let since = *self.since.get_or_insert(now);
        let until = ends.min(since + self.max * (1 << self.ended.min(2)));
        if until <= now {
            self.since = None;
            self.ended += 1;
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
        let mut d = Debounce::new(ms(500));
        assert_eq!(d.due(), None);
        // (event at, its quiet, pass due at) as the events arrive.
        let table = [
            (0, 100, 100),
            (50, 100, 150),
            (140, 100, 240),
            // A quick event does not bring forward what a slower one before it waits for...
            (150, 5, 240),
            // ...and a slow one after a quick one pushes it back.
            (230, 100, 330),
            (320, 100, 420),
            (410, 100, 500),
            (490, 100, 500),
        ];
        for (at, quiet, due) in table {
            d.note(t0 + ms(at), ms(quiet));
            assert_eq!(d.due(), Some(t0 + ms(due)), "event at {at} ms");
        }
        assert_eq!(d.take(t0 + ms(500)), Some(ms(500)));
        assert_eq!(d.due(), None);
        // A lone quick event: due after its own quiet.
        d.note(t0 + ms(600), ms(5));
        assert_eq!(d.due(), Some(t0 + ms(605)));
    }

    #[test]
    fn a_lone_change_reloads_at_once_a_burst_when_it_ends() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut burst = Burst::new(ms(10_000), 4, ms(3000));
        let mut hold = Hold::new(ms(10_000));
        let mut changed = |burst: &mut Burst, at: u64| {
            let at = t0 + ms(at);
            let ends = burst.ends(at, |id| id != "other");
            hold.until(at, ends).map(|t| (t - t0).as_millis() as u64)
        };
        // (container event at, or a changed configuration at: the expected answer), in ms.
        enum Step {
            Event(u64, String),
            Change(u64, Option<u64>),
        }
        use Step::*;
        let mut table = vec![
            // One container starting and stopping again and again: never a burst.
            Event(0, "web".into()),
            Change(30, None),
            Event(300, "web".into()),
            Change(330, None),
            Event(600, "web".into()),
            Change(630, None),
            // Three containers: not yet (another one, not relevant, does not count).
            Event(650, "other".into()),
            Event(700, "a".into()),
            Event(800, "b".into()),
            Change(830, None),
            // A fourth within the window: held until 3 s of quiet (before the window after
            // the fourth most recent, 10.6 s).
            Event(900, "c".into()),
            Change(930, Some(3900)),
            Change(3900, None),
            // A loaded engine: a container every 1.5 s from 20 s on; the burst would end 3 s
            // after the last start, the hold ends 10 s after it began (34.53 s).
            Event(20_000, "d0".into()),
            Event(21_500, "d1".into()),
            Event(23_000, "d2".into()),
            Event(24_500, "d3".into()),
            Change(24_530, Some(27_500)),
        ];
        for i in 4..=9 {
            table.push(Event(20_000 + 1500 * i, format!("d{i}")));
        }
        table.extend([Change(34_500, Some(34_530)), Change(34_530, None)]);
        for i in 10..=12 {
            table.push(Event(20_000 + 1500 * i, format!("d{i}")));
        }
        // A new hold, until 3 s after the last start (38 s).
        table.extend([Change(38_100, Some(41_000)), Change(41_000, None)]);
        for step in table {
            match step {
                Event(at, id) => burst.note(t0 + ms(at), &id),
                Change(at, want) => {
                    assert_eq!(changed(&mut burst, at), want, "a change at {at} ms")
                }
            }
        }
    }

    #[test]
    fn the_holds_of_a_long_burst_grow() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut burst = Burst::new(ms(10_000), 4, ms(3000));
        let mut hold = Hold::new(ms(10_000));
        // A container every 500 ms for 150 s, the configuration changed by each: reloads
        // after 10 s of hold, then 20, then 40 and 40 again (the cap); then once more 3 s
        // after the last start.
        let mut reloads = Vec::new();
        for i in 0..=300u64 {
            let at = t0 + ms(500 * i);
            burst.note(at, &format!("c{i}"));
            let at = at + ms(30);
            if hold.until(at, burst.ends(at, |_| true)).is_none() {
                reloads.push((at - t0).as_millis() as u64);
            }
        }
        let end = t0 + ms(153_030);
        assert_eq!(hold.until(end, burst.ends(end, |_| true)), None);
        reloads.push(153_030);
        // The first three starts are no burst yet (four make one).
        assert_eq!(
            reloads,
            [30, 530, 1030, 11_530, 32_030, 72_530, 113_030, 153_030]
        );
        // The burst over, the next one's first hold is `max` again.
        let at = t0 + ms(200_000);
        for i in 0..4 {
            burst.note(at, &format!("n{i}"));
        }
        assert_eq!(
            hold.until(at, burst.ends(at, |_| true)),
            Some(at + ms(3000))
        );
    }
}
