//! The watcher: one long-running, level-triggered reconciler per daemon. It subscribes to the
//! daemon's events first, then reads everything (so nothing falls between the two), and runs
//! a pass of every duty whenever events say something changed: a trailing debounce with a
//! maximum wait turns a burst into one pass. Every pass computes what should be from labels
//! and the graph, observes the daemon, plans with pure code and applies; a pass after an event
//! looks harder at the objects the events named, a resync at everything.
//!
//! The stream ends when the daemon restarts or the connection drops: the watcher reconnects
//! with `since` (the daemon replays what it still has), and resyncs everything when the gap
//! may have lost events (the daemon was down, its ID changed, or the gap is wide). A periodic
//! pass, at most once a minute, is the backstop; idle, nothing else wakes.
//!
//! The duties live beside this loop: links ([`links`]) today; the proxy and net duties join
//! the same loop.

pub(crate) mod debounce;
pub(crate) mod keeper;
pub(crate) mod links;
pub(crate) mod net;
pub(crate) mod proxy;
pub(crate) mod rules;
pub(crate) mod status;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::cancel::Cancel;
use crate::docker::engine::{Engine, Event, EventFilter, Events};
use debounce::{Burst, Debounce};
use status::{LastEvent, Status};

/// How the loop runs.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// A pass runs this long after the last event of a burst...
    pub quiet: Duration,
    /// ...or this long after a container's `start`, whose listing is up to date when the
    /// event is sent (the daemon saves the new state first)...
    pub quiet_start: Duration,
    /// ...and no later than this after its first event.
    pub max_wait: Duration,
    /// A burst: this many containers created, starting, stopping or changing health...
    pub burst_count: usize,
    /// ...within this window; it ends when fewer did within the last window...
    pub burst_window: Duration,
    /// ...or after this long without any.
    pub burst_quiet: Duration,
    /// During a burst a proxy reloads when it ends, or this long after its configuration
    /// first changed, whichever comes first.
    pub max_hold: Duration,
    /// A full pass at least this often, events or not.
    pub backstop: Duration,
    /// A reconnect later than this after the last event resyncs everything.
    pub max_gap: Duration,
    /// Where the status is written after every pass (atomically).
    pub status_file: Option<PathBuf>,
    /// Where the Prometheus metrics are served (`127.0.0.1:9387`).
    pub metrics: Option<std::net::SocketAddr>,
    /// Keep the keeper container alive (the watcher runs in a container that has one).
    pub keeper: bool,
    /// Why the net duty cannot run in this process although it is root (a watcher container
    /// made without the net duty's privileges), when so.
    pub no_net: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            // Not less: a pass 14 ms after a `die` event read a listing that still gave the
            // stopped container's route in 4 of 30 stops (Engine 20.10), and nothing came
            // after it but the backstop a minute later.
            quiet: Duration::from_millis(30),
            // Enough for the events of one `docker run` (create, connect, start) and a
            // compose project's next services to come in one pass.
            quiet_start: Duration::from_millis(5),
            max_wait: Duration::from_millis(250),
            // A loaded engine starts a container every second or two (CI's did): the window
            // and the quiet are wide enough to see that as the burst it is.
            burst_count: 4,
            burst_window: Duration::from_secs(10),
            burst_quiet: Duration::from_secs(3),
            max_hold: Duration::from_secs(10),
            backstop: Duration::from_secs(60),
            max_gap: Duration::from_secs(30),
            status_file: None,
            metrics: None,
            keeper: false,
            no_net: None,
        }
    }
}

/// How reachability is enforced.
#[derive(Debug)]
pub(crate) struct RulesConfig {
    /// The daemon's network namespace when it is not the watcher's own.
    pub netns: Option<crate::sys::netns::NetNs>,
    /// `--icc=false`: on the default bridge too, new connections only along links.
    pub icc_off: bool,
}

/// What the events since the last pass named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Dirty {
    /// Everything: a start, a resync, the backstop.
    pub all: bool,
    /// Container ids.
    pub ids: BTreeSet<String>,
    /// Network names.
    pub networks: BTreeSet<String>,
    /// Containers that died, and containers that started (a restart is both).
    pub died: BTreeSet<String>,
    pub started: BTreeSet<String>,
}

impl Dirty {
    fn is_empty(&self) -> bool {
        !self.all && self.ids.is_empty() && self.networks.is_empty()
    }

    /// Records what an event names.
    fn note(&mut self, e: &Event) {
        match e.kind.as_str() {
            "network" => {
                if let Some(name) = e.attributes.get("name") {
                    self.networks.insert(name.clone());
                }
                if let Some(c) = e.attributes.get("container") {
                    self.ids.insert(c.clone());
                }
            }
            _ => {
                self.ids.insert(e.id.clone());
                match e.action.as_str() {
                    "die" => {
                        self.died.insert(e.id.clone());
                    }
                    "start" => {
                        self.started.insert(e.id.clone());
                    }
                    _ => {}
                }
            }
        }
    }

    /// Containers this dirty set says died, and not started again, that `listing` still
    /// shows running: Engine 20.10 sends `die` a moment before its listing says so (a pass
    /// 14 ms after the event saw it running in 4 of 30 stops).
    pub(crate) fn died_but_listed_running(
        &self,
        listing: &[crate::docker::engine::ContainerSummary],
    ) -> Vec<String> {
        self.died
            .iter()
            .filter(|id| !self.started.contains(*id))
            .filter(|id| {
                listing
                    .iter()
                    .any(|c| &c.id == *id && c.state == crate::docker::engine::State::Running)
            })
            .cloned()
            .collect()
    }
}

/// The container and network actions a pass may have to answer.
const ACTIONS: [&str; 9] = [
    "create",
    "start",
    "die",
    "destroy",
    "rename",
    "unpause",
    "connect",
    "disconnect",
    // `health_status: healthy|unhealthy` (the daemon matches the prefix): a proxy takes an
    // unhealthy server out.
    "health_status",
];

fn subscribe<E: Engine>(engine: &E, since: Option<i64>) -> Events {
    engine.events(&EventFilter {
        kinds: vec!["container".into(), "network".into()],
        labels: Vec::new(),
        actions: ACTIONS.iter().map(|a| a.to_string()).collect(),
        since,
    })
}

/// Why the loop resyncs after a reconnect, if it must.
pub(crate) fn must_resync(
    old_id: &str,
    new_id: &str,
    attempts: u32,
    gap: Duration,
    max_gap: Duration,
) -> Option<&'static str> {
    if old_id != new_id {
        Some("the daemon's ID changed")
    } else if attempts > 1 {
        // The daemon did not answer at once: it restarted (its replay buffer is in memory).
        Some("the daemon was unreachable")
    } else if gap > max_gap {
        Some("the gap is wider than the daemon's replay")
    } else {
        None
    }
}

fn unix_now() -> i64 {
    crate::docker::clock::now()
}

/// What the loop hears between passes: what is dirty, the debounce, the last event.
struct Ears {
    dirty: Dirty,
    debounce: Debounce,
    /// The quiet after an event ([`Options::quiet`], [`Options::quiet_start`]).
    quiet: Duration,
    quiet_start: Duration,
    /// Containers coming and going, for the proxy duty's hold during bursts.
    burst: Burst,
    last_event_secs: Option<i64>,
    last_event_at: Instant,
    /// The express lane's jobs report here: parents realized, and how long after the event.
    done: tokio::sync::mpsc::UnboundedSender<(usize, Duration)>,
}

impl Ears {
    /// One event: it names what is dirty, restarts the debounce, and a create or start may take the
    /// express lane on a task of its own (passes may be running meanwhile).
    fn hear<E: Engine + Clone + Send + Sync + 'static>(
        &mut self,
        e: &Event,
        status: &mut Status,
        express: &links::Express<E>,
    ) {
        status.events_seen += 1;
        self.last_event_secs = Some(e.time_nano / 1_000_000_000);
        self.last_event_at = Instant::now();
        status.last_event = Some(LastEvent {
            kind: e.kind.clone(),
            action: e.action.clone(),
            object: crate::graph::model::short(&e.id).to_string(),
            time: e.time_nano / 1_000_000_000,
            lag_ms: 0,
        });
        self.dirty.note(e);
        let quiet = if e.kind == "container" && e.action == "start" {
            self.quiet_start
        } else {
            self.quiet
        };
        self.debounce.note(Instant::now(), quiet);
        if e.kind == "container"
            && (matches!(e.action.as_str(), "create" | "start" | "die" | "destroy")
                || e.action.starts_with("health_status"))
        {
            self.burst.note(Instant::now(), &e.id);
        }
        if let Some(job) = express.job(e) {
            status.express += 1;
            let done = self.done.clone();
            let heard = Instant::now();
            tokio::spawn(async move {
                let n = job.await;
                let _ = done.send((n, heard.elapsed()));
            });
        }
    }
}

/// Runs the watcher until `cancel`. `rules`: enforce reachability, with the daemon's network
/// namespace when it is not ours.
pub(crate) async fn run<E: Engine + Clone + Send + Sync + 'static>(
    engine: E,
    ns: &str,
    pool: crate::links::pool::Pool,
    opts: Options,
    rules: Option<RulesConfig>,
    cancel: Cancel,
) -> anyhow::Result<()> {
    let mut status = Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: unix_now(),
        duties: vec!["links".into(), "proxy".into()],
        ..Default::default()
    };
    let metrics = match opts.metrics {
        Some(addr) => Some(serve_metrics(addr).await?),
        None => None,
    };
    status.metrics = metrics.as_ref().map(|m| m.addr.to_string());
    // Events first, then the first read (the resync pass): nothing falls in between.
    let mut stream = subscribe(&engine, None);
    let mut daemon_id = engine.info().await?.id;
    status.daemon_id = daemon_id.clone();
    let mut duty = links::LinkDuty::new(engine.clone(), ns, pool, cancel.clone());
    let mut proxy_duty = proxy::ProxyDuty::new(engine.clone(), ns, opts.max_hold);
    let mut net_duty = net::NetDuty::new(engine.clone(), ns, opts.no_net.clone());
    status.duties.push(match &net_duty.unavailable {
        None => "net".to_string(),
        Some(why) => format!("net (unavailable: {why})"),
    });
    if let Some(config) = rules {
        let config_icc_off = config.icc_off;
        let mut r = rules::Rules::new(ns, config.netns, config.icc_off);
        r.probe().await;
        status.rules = Some(match &r.unavailable {
            None => format!(
                "enforced (nf_tables table inet {}{})",
                rules::table_name(ns),
                if config_icc_off {
                    "; --icc=false on the default bridge"
                } else {
                    ""
                }
            ),
            Some(why) => format!("unavailable: {why}"),
        });
        duty.rules = Some(r);
    }
    let express = duty.express();
    if opts.keeper {
        // The keeper starts this watcher again after a kill; this keeps the keeper.
        let (engine, ns, cancel) = (engine.clone(), ns.to_string(), cancel.clone());
        tokio::spawn(async move {
            keeper::keep(&engine, crate::labels::KEEPER_ROLE, &ns, &cancel).await;
        });
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut ears = Ears {
        dirty: Dirty {
            all: true,
            ..Default::default()
        },
        debounce: Debounce::new(opts.max_wait),
        quiet: opts.quiet,
        quiet_start: opts.quiet_start,
        burst: Burst::new(opts.burst_window, opts.burst_count, opts.burst_quiet),
        last_event_secs: None,
        last_event_at: Instant::now(),
        done: done_tx,
    };
    status.resyncs += 1;
    let mut next_backstop = Instant::now() + opts.backstop;
    // After a failed pass: when to try again, and the pause that grows with each failure.
    let mut retry_at: Option<Instant> = None;
    let mut retry_after = Duration::ZERO;
    // A proxy held its reload back during a burst: when to look again (a pass of the proxy
    // duty alone, if no event is due before).
    let mut proxy_due: Option<Instant> = None;
    // Containers re-checked because the listing still showed them running after their `die`.
    let mut rechecks: std::collections::BTreeMap<String, u8> = Default::default();
    // Idle this long after work, the pages the work touched go back (`sys::memory`): the
    // watcher's steady state is a few pages of the binary and a small heap.
    const TRIM_AFTER: Duration = Duration::from_secs(3);
    let mut trim_at: Option<Instant> = Some(Instant::now() + TRIM_AFTER);
    // The stream ended (while a pass ran, or now): reconnect before anything else.
    let mut ended: Option<String> = None;
    tracing::info!(
        "watching (debounce {} ms, {} ms after a start, at most {} ms)",
        opts.quiet.as_millis(),
        opts.quiet_start.as_millis(),
        opts.max_wait.as_millis()
    );
    loop {
        while let Ok((n, took)) = done_rx.try_recv() {
            if n > 0 {
                status.latency.observe(took);
            }
            trim_at = Some(Instant::now() + TRIM_AFTER);
        }
        if let Some(why) = ended.take() {
            tracing::warn!("the event stream ended ({why}): reconnecting");
            let Some((s, id, attempts)) = reconnect(&engine, ears.last_event_secs, &cancel).await
            else {
                break;
            };
            stream = s;
            let gap = if ears.last_event_secs.is_some() {
                ears.last_event_at.elapsed()
            } else {
                Duration::MAX
            };
            if let Some(reason) = must_resync(&daemon_id, &id, attempts, gap, opts.max_gap) {
                tracing::info!("resync: {reason}");
                ears.dirty.all = true;
                status.resyncs += 1;
            }
            daemon_id = id;
            status.daemon_id = daemon_id.clone();
            // The daemon answers again: a pass that failed while it was away is tried now, not
            // after the pause its failures had grown to.
            retry_at = None;
            retry_after = Duration::ZERO;
        }
        let now = Instant::now();
        let backing_off = retry_at.is_some_and(|t| t > now);
        let due = !backing_off && (ears.dirty.all || ears.debounce.due().is_some_and(|d| d <= now));
        let events_due = due && !ears.dirty.is_empty();
        let proxy_only = !events_due && !backing_off && proxy_due.is_some_and(|t| t <= now);
        if events_due || proxy_only {
            let (waited, work) = if events_due {
                (ears.debounce.take(now), std::mem::take(&mut ears.dirty))
            } else {
                (None, Dirty::default())
            };
            let burst = ears.burst.clone();
            let t0 = Instant::now();
            // The stream is read while the pass runs: events land in the next pass's dirty
            // set, and creates and starts take the express lane at once. The proxy first:
            // its routes are what users wait for.
            let (proxy_report, rest) = {
                let pass = async {
                    let proxy = proxy_duty
                        .pass(&work, waited.map(|w| now - w), &burst)
                        .await;
                    if proxy_only {
                        return (proxy, None);
                    }
                    let net = net_duty.pass().await;
                    (proxy, Some((net, duty.pass(&work).await)))
                };
                tokio::pin!(pass);
                loop {
                    tokio::select! {
                        r = &mut pass => break r,
                        next = stream.next(), if ended.is_none() => match next {
                            Some(Ok(e)) => ears.hear(&e, &mut status, &express),
                            Some(Err(e)) => ended = Some(format!("{e}")),
                            None => ended = Some("the daemon closed it".to_string()),
                        },
                    }
                }
            };
            proxy_due = None;
            match proxy_report {
                Ok(r) => {
                    proxy_due = r.held;
                    // A stop the listing did not show yet: look again after the debounce, a
                    // few times at most (else only the backstop would, a minute later).
                    rechecks.retain(|id, _| r.not_yet_stopped.contains(id));
                    for id in r.not_yet_stopped {
                        let n = rechecks.entry(id.clone()).or_insert(0u8);
                        if *n < 10 {
                            *n += 1;
                            tracing::debug!(
                                "{} died but is listed running: again",
                                crate::graph::model::short(&id)
                            );
                            ears.dirty.ids.insert(id.clone());
                            ears.dirty.died.insert(id);
                            ears.debounce.note(Instant::now(), opts.quiet);
                        }
                    }
                    for (object, kind, message) in r.errors {
                        tracing::warn!("{kind} {object}: {message}");
                        status.error(unix_now(), &object, kind, message);
                    }
                }
                Err(e) => {
                    tracing::warn!("proxy pass failed: {}", crate::describe(&e));
                    status.error(unix_now(), "daemon", "proxy", crate::describe(&e));
                }
            }
            if let Some((net_report, result)) = rest {
                for (object, kind, message) in &net_report.errors {
                    tracing::warn!("{kind} {object}: {message}");
                    status.error(unix_now(), object, kind, message.clone());
                }
                match result {
                    Ok(report) => {
                        retry_at = None;
                        retry_after = Duration::ZERO;
                        let t = unix_now();
                        for (object, kind, message) in &report.errors {
                            tracing::warn!(
                                "{kind} {}: {message}",
                                crate::graph::model::short(object)
                            );
                            status.error(t, object, kind, message.clone());
                        }
                        status.links = report.links as u64;
                        status.networks_removed += report.removed.len() as u64;
                        status.registry_restores += u64::from(report.restored);
                        status.rule_writes += u64::from(report.rules_written);
                        if let Some(w) = waited {
                            status.latency.observe(w + t0.elapsed());
                            if let Some(e) = status.last_event.as_mut() {
                                e.lag_ms = (w + t0.elapsed()).as_millis() as u64;
                            }
                        }
                    }
                    Err(e) => {
                        // The read failed (the daemon went away mid-pass): everything again, after
                        // a growing pause (the stream's end, if the daemon is down, reconnects
                        // meanwhile).
                        tracing::warn!("pass failed: {}", crate::describe(&e));
                        status.error(unix_now(), "daemon", "read", crate::describe(&e));
                        ears.dirty.all = true;
                        retry_after = (retry_after * 2)
                            .clamp(Duration::from_millis(250), Duration::from_secs(10));
                        retry_at = Some(Instant::now() + retry_after);
                    }
                }
            }
            status.passes += 1;
            status.last_pass_ms = t0.elapsed().as_millis() as u64;
            status.quarantined = duty.quarantined();
            status.updated = unix_now();
            write_status(&opts, &status);
            if let Some(m) = &metrics {
                m.publish(status.metrics());
            }
            if !proxy_only {
                next_backstop = Instant::now() + opts.backstop;
            }
            trim_at = Some(Instant::now() + TRIM_AFTER);
            continue;
        }
        let mut wake = ears
            .debounce
            .due()
            .unwrap_or(next_backstop)
            .min(next_backstop);
        if ears.dirty.all {
            wake = now;
        }
        if let Some(t) = proxy_due {
            wake = wake.min(t);
        }
        if let Some(t) = retry_at {
            wake = wake.max(t);
        }
        if let Some(t) = trim_at.filter(|_| ears.dirty.is_empty()) {
            wake = wake.min(t);
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            next = stream.next() => match next {
                Some(Ok(e)) => ears.hear(&e, &mut status, &express),
                Some(Err(e)) => ended = Some(format!("{e}")),
                None => ended = Some("the daemon closed it".to_string()),
            },
            Some((n, took)) = done_rx.recv() => {
                if n > 0 {
                    status.latency.observe(took);
                }
                trim_at = Some(Instant::now() + TRIM_AFTER);
            }
            () = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                if now >= next_backstop {
                    ears.dirty.all = true;
                }
                if trim_at.is_some_and(|t| t <= now) && ears.dirty.is_empty() {
                    trim_at = None;
                    crate::sys::memory::release_unneeded_pages();
                }
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Subscribes again (replaying from `since`) once the daemon answers; the new stream, the
/// daemon's ID and how many attempts it took. None when cancelled.
async fn reconnect<E: Engine>(
    engine: &E,
    since: Option<i64>,
    cancel: &Cancel,
) -> Option<(Events, String, u32)> {
    let mut attempts = 0u32;
    let mut backoff = Duration::from_millis(100);
    loop {
        attempts += 1;
        let stream = subscribe(engine, since);
        match engine.info().await {
            Ok(info) => return Some((stream, info.id, attempts)),
            Err(e) => tracing::debug!("the daemon does not answer yet: {e}"),
        }
        cancel.sleep(backoff).await;
        if cancel.is_cancelled() {
            return None;
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Writes the status file atomically (a reader never sees half of it).
fn write_status(opts: &Options, status: &Status) {
    let Some(path) = &opts.status_file else {
        return;
    };
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(status).unwrap_or_default())?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        tracing::debug!("writing the status file {}: {e}", path.display());
    }
}

/// The metrics endpoint: the last text published, to every `GET`.
pub(crate) struct Metrics {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    /// As bound (port 0 picks one).
    addr: std::net::SocketAddr,
}

impl Metrics {
    fn publish(&self, text: String) {
        *self.text.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }
}

/// Serves Prometheus text on `addr` (plain HTTP/1.0 answers; one request per connection).
async fn serve_metrics(addr: std::net::SocketAddr) -> anyhow::Result<Metrics> {
    use anyhow::Context as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("serving metrics on {addr}"))?;
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!("metrics on http://{addr}/metrics");
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let shared = text.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                continue;
            };
            let body = shared.lock().unwrap_or_else(|p| p.into_inner()).clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let response = if request.starts_with("GET /metrics")
                    || request.starts_with("GET / ")
                {
                    format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
                };
                let _ = conn.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(Metrics { text, addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_decisions() {
        let s = Duration::from_secs;
        let table = [
            ("a", "a", 1, s(1), None),
            ("a", "b", 1, s(1), Some("the daemon's ID changed")),
            ("a", "a", 3, s(1), Some("the daemon was unreachable")),
            (
                "a",
                "a",
                1,
                s(60),
                Some("the gap is wider than the daemon's replay"),
            ),
        ];
        for (old, new, attempts, gap, want) in table {
            assert_eq!(must_resync(old, new, attempts, gap, s(30)), want);
        }
    }

    #[test]
    fn events_name_what_is_dirty() {
        let mut d = Dirty::default();
        assert!(d.is_empty());
        d.note(&Event {
            kind: "container".into(),
            action: "start".into(),
            id: "c1".into(),
            attributes: Default::default(),
            time_nano: 0,
        });
        d.note(&Event {
            kind: "network".into(),
            action: "disconnect".into(),
            id: "n1".into(),
            attributes: [
                ("name".to_string(), "docker-link-x".to_string()),
                ("container".to_string(), "c2".to_string()),
            ]
            .into(),
            time_nano: 0,
        });
        assert_eq!(d.ids, BTreeSet::from(["c1".to_string(), "c2".to_string()]));
        assert_eq!(d.networks, BTreeSet::from(["docker-link-x".to_string()]));
        assert!(!d.all);
        // c1 died after its start (a restart: no re-check); c3 died only.
        for (action, id) in [("die", "c1"), ("die", "c3")] {
            d.note(&Event {
                kind: "container".into(),
                action: action.into(),
                id: id.into(),
                attributes: Default::default(),
                time_nano: 0,
            });
        }
        let listed = |id: &str, state| crate::docker::engine::ContainerSummary {
            id: id.into(),
            state,
            ..Default::default()
        };
        use crate::docker::engine::State;
        let listing = [listed("c1", State::Running), listed("c3", State::Running)];
        assert_eq!(d.died_but_listed_running(&listing), ["c3"]);
        let listing = [listed("c1", State::Running), listed("c3", State::Exited)];
        assert!(d.died_but_listed_running(&listing).is_empty());
    }
}
