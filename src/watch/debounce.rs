//! When a pass runs after events: a trailing debounce with a maximum wait. A burst of events
//! (compose bringing up twenty services, a daemon restart) becomes one pass that sees all of
//! it, and a steady trickle still gets a pass at least every `max_wait`.

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
}
