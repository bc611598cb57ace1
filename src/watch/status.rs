//! What the watcher tells about itself: the status `docker link watcher status` shows (a JSON
//! file the watcher rewrites after every pass, read back through the daemon, so it works for
//! remote daemons without opening a port), and the same figures as Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Upper bounds (seconds) of the event → applied latency histogram.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// How many recent errors the status keeps.
const RECENT_ERRORS: usize = 20;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct Histogram {
    /// Cumulative counts per bucket of [`BUCKETS`], then +Inf.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub(crate) fn observe(&mut self, d: Duration) {
        if self.counts.len() != BUCKETS.len() + 1 {
            self.counts = vec![0; BUCKETS.len() + 1];
        }
        let s = d.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if s <= *bound {
                self.counts[i] += 1;
            }
        }
        self.counts[BUCKETS.len()] += 1;
        self.sum += s;
        self.count += 1;
    }

    /// The smallest bucket bound holding quantile `q` of the observations (None when empty).
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let want = (q * self.count as f64).ceil() as u64;
        BUCKETS
            .iter()
            .zip(&self.counts)
            .find(|(_, c)| **c >= want)
            .map(|(b, _)| *b)
            .or(Some(f64::INFINITY))
    }
}

/// An object the watcher stopped retrying for a while, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Quarantined {
    pub object: String,
    pub reason: String,
    /// Unix seconds.
    pub since: i64,
    pub failures: u32,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LastEvent {
    pub kind: String,
    pub action: String,
    pub object: String,
    /// Unix seconds (the daemon's clock).
    pub time: i64,
    /// From the event's time to the end of the pass that applied it.
    pub lag_ms: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RecentError {
    pub time: i64,
    pub object: String,
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Status {
    pub version: String,
    /// Unix seconds.
    pub started: i64,
    /// The last time the file was written (unix seconds): a stale one means a stuck watcher.
    pub updated: i64,
    pub duties: Vec<String>,
    pub daemon_id: String,
    /// Where the metrics are served, as bound (`127.0.0.1:9387`).
    pub metrics: Option<String>,
    /// Reachability rules: enforced, unavailable (and why), or not asked for (None).
    pub rules: Option<String>,
    /// Times the rules were (re)written.
    pub rule_writes: u64,
    pub events_seen: u64,
    pub passes: u64,
    /// Started containers linked at once by the express lane, before the debounced pass.
    #[serde(default)]
    pub express: u64,
    pub resyncs: u64,
    pub last_event: Option<LastEvent>,
    /// Apply errors by kind since start.
    pub errors_by_kind: BTreeMap<String, u64>,
    pub recent_errors: Vec<RecentError>,
    pub quarantined: Vec<Quarantined>,
    /// Event → applied latency.
    pub latency: Histogram,
    /// Duration of the last pass.
    pub last_pass_ms: u64,
    /// Links realized by the last full pass, link networks removed since start.
    pub links: u64,
    pub networks_removed: u64,
    pub registry_restores: u64,
}

impl Status {
    pub(crate) fn error(&mut self, now: i64, object: &str, kind: &str, message: String) {
        *self.errors_by_kind.entry(kind.to_string()).or_default() += 1;
        self.recent_errors.push(RecentError {
            time: now,
            object: object.to_string(),
            kind: kind.to_string(),
            message,
        });
        let excess = self.recent_errors.len().saturating_sub(RECENT_ERRORS);
        self.recent_errors.drain(..excess);
    }

    /// Healthy: no object quarantined and no error in the last pass.
    pub(crate) fn healthy(&self) -> bool {
        self.quarantined.is_empty()
            && self
                .recent_errors
                .last()
                .is_none_or(|e| e.time < self.updated - 60)
    }

    /// The Prometheus text exposition of the figures.
    pub(crate) fn metrics(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "docker_link_watcher_events_total",
            "Daemon events seen.",
            self.events_seen,
        );
        counter(
            "docker_link_watcher_passes_total",
            "Reconciliation passes run.",
            self.passes,
        );
        counter(
            "docker_link_watcher_express_total",
            "Started containers linked at once, before the debounced pass.",
            self.express,
        );
        counter(
            "docker_link_watcher_resyncs_total",
            "Full resyncs (start, reconnect after a gap, daemon change).",
            self.resyncs,
        );
        counter(
            "docker_link_watcher_registry_restores_total",
            "Times the graph's registry was written back after it disappeared.",
            self.registry_restores,
        );
        let _ = writeln!(
            out,
            "# HELP docker_link_watcher_apply_errors_total Apply errors by kind.\n\
             # TYPE docker_link_watcher_apply_errors_total counter"
        );
        for (kind, n) in &self.errors_by_kind {
            let _ = writeln!(
                out,
                "docker_link_watcher_apply_errors_total{{kind=\"{kind}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP docker_link_watcher_quarantined Objects the watcher stopped retrying.\n\
             # TYPE docker_link_watcher_quarantined gauge\n\
             docker_link_watcher_quarantined {}",
            self.quarantined.len()
        );
        let _ = writeln!(
            out,
            "# HELP docker_link_watcher_event_to_applied_seconds From a daemon event to the end of the pass that applied it.\n\
             # TYPE docker_link_watcher_event_to_applied_seconds histogram"
        );
        let h = &self.latency;
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "docker_link_watcher_event_to_applied_seconds_bucket{{le=\"{bound}\"}} {}",
                h.counts.get(i).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            out,
            "docker_link_watcher_event_to_applied_seconds_bucket{{le=\"+Inf\"}} {}\n\
             docker_link_watcher_event_to_applied_seconds_sum {}\n\
             docker_link_watcher_event_to_applied_seconds_count {}",
            h.count, h.sum, h.count
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_and_quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in [3, 4, 20, 30, 40, 60, 70, 80, 90, 2000] {
            h.observe(Duration::from_millis(ms));
        }
        assert_eq!(h.count, 10);
        assert_eq!(h.quantile(0.5), Some(0.05));
        assert_eq!(h.quantile(0.99), Some(2.5));
        assert_eq!(h.counts.last(), Some(&10));
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let mut s = Status {
            events_seen: 7,
            ..Default::default()
        };
        s.latency.observe(Duration::from_millis(30));
        s.error(100, "abc", "realize", "boom".into());
        let m = s.metrics();
        assert!(m.contains("docker_link_watcher_events_total 7\n"), "{m}");
        assert!(m.contains("docker_link_watcher_apply_errors_total{kind=\"realize\"} 1\n"));
        assert!(m.contains("docker_link_watcher_event_to_applied_seconds_bucket{le=\"0.05\"} 1\n"));
        assert!(m.contains("docker_link_watcher_event_to_applied_seconds_count 1\n"));
        // Every sample line is `name{labels} value`.
        for line in m.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            value.parse::<f64>().unwrap();
        }
    }

    #[test]
    fn recent_errors_are_bounded() {
        let mut s = Status::default();
        for i in 0..50 {
            s.error(i, "x", "k", format!("e{i}"));
        }
        assert_eq!(s.recent_errors.len(), RECENT_ERRORS);
        assert_eq!(s.recent_errors[0].message, "e30");
        assert_eq!(s.errors_by_kind["k"], 50);
    }
}
