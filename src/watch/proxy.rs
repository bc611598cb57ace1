//! The watcher's proxy duty: every pass reads the containers once (one listing), and for each
//! proxy of this namespace (`docker proxy up` labels it) builds the route table and applies it
//! with the same code `docker proxy reload` runs (`crate::proxy::apply`). A pass whose
//! rendering is byte-identical to the last one this watcher applied to that proxy does not
//! touch the proxy at all (no read, no reload). During a burst of containers coming and going
//! a changed configuration is held back (`debounce::Hold`): one reload when the burst ends, or
//! one per `max_hold` while it lasts, instead of one per pass. The time from the first event
//! that changed the configuration to the confirmed reload is recorded in the proxy's state
//! (`docker proxy status`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::debounce::{Burst, Hold};
use super::Dirty;
use crate::docker::engine::{Engine, State};
use crate::proxy::apply::{self, Proxy, ProxyState};
use crate::proxy::render::Renderer;
use crate::proxy::session::{Session, SessionError};

/// How long after a commit session failed to open the duty tries again.
const SESSION_RETRY: std::time::Duration = std::time::Duration::from_secs(30);
/// The same, when the proxy's image cannot hold one (it might be replaced by one that can).
const SESSION_RETRY_UNSUPPORTED: std::time::Duration = std::time::Duration::from_secs(600);

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Proxies of this namespace.
    pub proxies: usize,
    pub reloads: u64,
    /// (object, kind, message), as the link duty reports them.
    pub errors: Vec<(String, &'static str, String)>,
    /// Routes left out of a configuration, `proxy/route: reason`.
    pub quarantined: Vec<String>,
    /// A changed configuration was held back during a burst: look again then.
    pub held: Option<Instant>,
    /// Containers that died (the events say) but the listing still shows running.
    pub not_yet_stopped: Vec<String>,
}

/// What the duty remembers of one proxy (by container id: a replaced proxy starts afresh).
struct Known {
    /// The template's label value (a changed template makes a new renderer).
    template: Option<String>,
    renderer: Renderer,
    state: ProxyState,
    /// The full rendering (every servable route) last applied: the same inputs again skip.
    last_full: Option<String>,
    /// The live configuration as this watcher left it (None: read it from the proxy).
    live: Option<String>,
    hold: Hold,
    /// When the first event behind a configuration held back arrived.
    pending_since: Option<Instant>,
    /// The containers the configuration last applied routes to (a burst of their stops
    /// counts as much as one of starts).
    routed: std::collections::BTreeSet<String>,
    /// The proxy's open commit session (reloads without an exec each), and when to try
    /// opening one again after it failed or broke.
    session: Option<Session>,
    session_retry: Option<Instant>,
}

pub(crate) struct ProxyDuty<E: Engine> {
    engine: E,
    ns: String,
    known: BTreeMap<String, Known>,
    max_hold: std::time::Duration,
    /// State writes under way (see [`ProxyDuty::write_later`]): per proxy, the sequence
    /// number of the last one written.
    written: BTreeMap<String, Arc<tokio::sync::Mutex<u64>>>,
    writes: u64,
    pending: Vec<tokio::task::JoinHandle<()>>,
}

impl<E: Engine + Clone + Send + Sync + 'static> ProxyDuty<E> {
    /// `max_hold`: the longest a changed configuration waits for a burst to end.
    pub(crate) fn new(engine: E, ns: &str, max_hold: std::time::Duration) -> ProxyDuty<E> {
        ProxyDuty {
            engine,
            ns: ns.to_string(),
            known: BTreeMap::new(),
            max_hold,
            written: BTreeMap::new(),
            writes: 0,
            pending: Vec::new(),
        }
    }

    /// Writes a proxy's state (what `docker proxy status` shows) on a task of its own: an
    /// archive upload is a round trip the next pass (the next route) should not wait for.
    /// Writes of one proxy never overtake each other: a write older than the last one
    /// written is dropped.
    fn write_later(&mut self, proxy: &Proxy, state: ProxyState) {
        self.writes += 1;
        let seq = self.writes;
        let last = self.written.entry(proxy.id.clone()).or_default().clone();
        let (engine, proxy) = (self.engine.clone(), proxy.clone());
        self.pending.retain(|h| !h.is_finished());
        self.pending.push(tokio::spawn(async move {
            let mut last = last.lock().await;
            if *last > seq {
                return;
            }
            if let Err(e) = apply::write_state(&engine, &proxy, &state).await {
                tracing::warn!("proxy {}: writing its state: {e}", proxy.name);
            }
            *last = seq;
        }));
    }

    /// Waits for the state writes under way.
    #[cfg(test)]
    pub(crate) async fn settle(&mut self) {
        for h in self.pending.drain(..) {
            let _ = h.await;
        }
    }

    /// One pass. `since`: when the first event of this pass arrived (None for a resync);
    /// `burst`: the containers that came and went lately.
    pub(crate) async fn pass(
        &mut self,
        dirty: &Dirty,
        since: Option<Instant>,
        burst: &Burst,
    ) -> anyhow::Result<Report> {
        let t0 = Instant::now();
        let (mut listing, proxies) = apply::observe(&self.engine).await?;
        tracing::debug!(
            "proxy duty: observed in {:?}, {:?} after the first event",
            t0.elapsed(),
            since.map(|s| s.elapsed())
        );
        let ours: Vec<Proxy> = proxies
            .into_iter()
            .filter(|p| {
                p.labels.get(crate::labels::NAMESPACE).map(String::as_str) == Some(self.ns.as_str())
            })
            .collect();
        self.known.retain(|id, _| ours.iter().any(|p| &p.id == id));
        self.written
            .retain(|id, _| ours.iter().any(|p| &p.id == id));
        let mut report = Report {
            proxies: ours.len(),
            not_yet_stopped: dirty.died_but_listed_running(&listing),
            ..Default::default()
        };
        // The events are right where the listing lags: a container that died is no backend,
        // whatever the listing says a moment after (no second pass to take its route out).
        for c in listing
            .iter_mut()
            .filter(|c| report.not_yet_stopped.contains(&c.id))
        {
            c.state = State::Exited;
        }
        for proxy in &ours {
            if proxy.state != State::Running {
                continue;
            }
            // A restarted proxy loads the live (last good) file by itself; a resync checks it
            // against the daemon again.
            if dirty.all {
                if let Some(k) = self.known.get_mut(&proxy.id) {
                    k.last_full = None;
                    k.live = None;
                }
            }
            if let Err(e) = self.one(proxy, &listing, since, burst, &mut report).await {
                report
                    .errors
                    .push((proxy.container.clone(), "proxy", crate::describe(&e)));
            }
        }
        Ok(report)
    }

    async fn one(
        &mut self,
        proxy: &Proxy,
        listing: &[crate::docker::engine::ContainerSummary],
        since: Option<Instant>,
        burst: &Burst,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let template = proxy.labels.get(apply::label::TEMPLATE).cloned();
        let fresh = self
            .known
            .get(&proxy.id)
            .is_none_or(|k| k.template != template);
        if fresh {
            let renderer = apply::renderer(&self.engine, proxy).await?;
            let state = apply::read_state(&self.engine, proxy).await;
            self.known.insert(
                proxy.id.clone(),
                Known {
                    template,
                    renderer,
                    state,
                    last_full: None,
                    live: None,
                    hold: Hold::new(self.max_hold),
                    pending_since: None,
                    routed: Default::default(),
                    session: None,
                    session_retry: None,
                },
            );
        }
        let Some(known) = self.known.get_mut(&proxy.id) else {
            return Ok(());
        };
        // Opened as soon as the proxy is seen, so that its first reload is as fast as the
        // others.
        if known.session.is_none() && known.session_retry.is_none_or(|t| Instant::now() >= t) {
            match Session::open(&self.engine, proxy).await {
                Ok(s) => {
                    tracing::debug!("proxy {}: commit session open", proxy.name);
                    known.session = Some(s);
                    known.session_retry = None;
                }
                Err(e) => {
                    let wait = match e {
                        SessionError::Unsupported(_) => SESSION_RETRY_UNSUPPORTED,
                        _ => SESSION_RETRY,
                    };
                    tracing::info!("proxy {}: {e}; reloading with an exec each", proxy.name);
                    known.session_retry = Some(Instant::now() + wait);
                }
            }
        }
        let table = apply::table(proxy, listing);
        let servable: Vec<_> = table
            .routes
            .iter()
            .filter(|r| proxy.engine.unsupported(r).is_none())
            .cloned()
            .collect();
        let full = known
            .renderer
            .render(&proxy.name, &proxy.listeners(), &servable, &table.streams)?
            .text;
        if known.last_full.as_deref() == Some(full.as_str()) {
            report.quarantined.extend(
                known
                    .state
                    .quarantined
                    .iter()
                    .map(|q| format!("{}/{}: {}", proxy.name, q.route, q.reason)),
            );
            // Nothing to reload, but a stopped backend's removal may free a network.
            let before = (known.state.joined.clone(), known.state.served.clone());
            leave(
                &self.engine,
                proxy,
                &table,
                listing,
                &mut known.state,
                report,
            )
            .await;
            if before != (known.state.joined.clone(), known.state.served.clone()) {
                let state = known.state.clone();
                self.write_later(proxy, state);
            }
            return Ok(());
        }
        let first = match (known.pending_since, since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tracing::debug!("proxy {}: rendered, changed", proxy.name);
        let routed: std::collections::BTreeSet<&str> = table
            .routes
            .iter()
            .flat_map(|r| r.servers.iter())
            .chain(table.streams.iter().flat_map(|s| s.servers.iter()))
            .map(|s| s.id.as_str())
            .collect();
        // Containers the proxy's rules choose that do not run yet count toward a burst: a
        // hundred `docker run`s at once are a burst from their creates on, before the first
        // start would reload alone.
        let selected: std::collections::BTreeSet<&str> = table
            .decisions
            .iter()
            .filter(|d| d.selected)
            .map(|d| d.id.as_str())
            .collect();
        let now = Instant::now();
        let burst_ends = burst.ends(now, |id| {
            routed.contains(id) || known.routed.contains(id) || selected.contains(id)
        });
        let routed: std::collections::BTreeSet<String> =
            routed.into_iter().map(str::to_string).collect();
        if let Some(until) = known.hold.until(now, burst_ends) {
            known.pending_since = first;
            report.held = Some(report.held.map_or(until, |h| h.min(until)));
            return Ok(());
        }
        known.pending_since = None;
        known.state.by = "watcher".into();
        let result = apply::apply(
            &self.engine,
            proxy,
            &known.renderer,
            &table,
            &mut known.state,
            apply::With {
                since: first,
                known_live: known.live.as_deref(),
                session: Some(&mut known.session),
            },
        )
        .await;
        if known.session.is_none() && known.session_retry.is_none() {
            // It broke during this apply: another one at the next pass.
            known.session_retry = Some(Instant::now());
        }
        match result {
            Ok(outcome) => {
                known.routed = routed;
                known.last_full = Some(full);
                known.live = Some(outcome.live.clone());
                if outcome.reloaded {
                    report.reloads += 1;
                    tracing::info!(
                        "proxy {}: {} routes, reloaded in {} ms{}",
                        proxy.name,
                        outcome.routes,
                        outcome.took.as_millis(),
                        if outcome.confirmed == Some(false) {
                            " (not confirmed)"
                        } else {
                            ""
                        }
                    );
                }
                for w in outcome.warnings {
                    report.errors.push((proxy.container.clone(), "proxy", w));
                }
                leave(
                    &self.engine,
                    proxy,
                    &table,
                    listing,
                    &mut known.state,
                    report,
                )
                .await;
                report.quarantined.extend(
                    outcome
                        .quarantined
                        .iter()
                        .map(|q| format!("{}/{}: {}", proxy.name, q.route, q.reason)),
                );
                let state = known.state.clone();
                self.write_later(proxy, state);
                Ok(())
            }
            Err(e) => {
                known.live = None;
                known.state.error = Some(e.to_string());
                let _ = apply::write_state(&self.engine, proxy, &known.state).await;
                Err(e.into())
            }
        }
    }
}

/// Leaves the networks no backend holds any more ([`apply::to_leave`]), saying so.
async fn leave<E: Engine>(
    engine: &E,
    proxy: &Proxy,
    table: &crate::proxy::model::RouteTable,
    listing: &[crate::docker::engine::ContainerSummary],
    state: &mut ProxyState,
    report: &mut Report,
) {
    let (left, failed) = apply::leave_unused(engine, proxy, table, listing, state).await;
    if !left.is_empty() {
        tracing::info!("proxy {}: left {}", proxy.name, left.join(", "));
    }
    for f in failed {
        report.errors.push((proxy.container.clone(), "proxy", f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::fake::Fake;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn all() -> Dirty {
        Dirty {
            all: true,
            ..Default::default()
        }
    }

    const PROXY: [(&str, &str); 5] = [
        ("docker-link.role", "proxy"),
        ("docker-link.registry", "default"),
        ("docker-link.proxy", "p"),
        ("docker-link.proxy.engine", "nginx"),
        ("docker-link.proxy.listen", "80"),
    ];

    fn duty(fake: &Fake) -> ProxyDuty<Fake> {
        ProxyDuty::new(fake.clone(), "default", std::time::Duration::from_secs(10))
    }

    /// A fake daemon running proxy `p` (its id) and a network `app` for backends.
    fn proxy_and_app(rt: &tokio::runtime::Runtime) -> (Fake, String) {
        let fake = Fake::new();
        crate::proxy::apply::tests::fake_engine(&fake);
        let pid = fake.run("p", &["80/tcp"], &PROXY);
        rt.block_on(fake.create_network(&crate::docker::engine::NetworkSpec {
            name: "app".into(),
            subnet: "10.0.0.0/24".into(),
            gateway: "10.0.0.254".into(),
            ..Default::default()
        }))
        .unwrap();
        (fake, pid)
    }

    /// A running backend `name` exposing port 80 on `app`.
    fn backend_on_app(rt: &tokio::runtime::Runtime, fake: &Fake, name: &str) -> String {
        let id = fake.run(name, &["80/tcp"], &[]);
        rt.block_on(fake.connect("app", &id, &Default::default()))
            .unwrap();
        id
    }

    fn burst() -> Burst {
        Burst::new(
            std::time::Duration::from_secs(10),
            4,
            std::time::Duration::from_secs(3),
        )
    }

    #[test]
    fn a_burst_of_its_backends_holds_the_reload_until_it_ends() {
        let rt = rt();
        let (fake, pid) = proxy_and_app(&rt);
        let mut duty = duty(&fake);
        // Other containers coming and going: no hold.
        let mut others = burst();
        for i in 0..5 {
            others.note(Instant::now(), &format!("other{i}"));
        }
        let r = rt.block_on(duty.pass(&all(), None, &others)).unwrap();
        assert_eq!((r.reloads, r.held), (1, None));
        // Four backends starting: held until the burst ends.
        let mut starts = burst();
        for i in 0..4 {
            let id = fake.run(&format!("w{i}"), &["80/tcp"], &[]);
            rt.block_on(fake.connect("app", &id, &Default::default()))
                .unwrap();
            starts.note(Instant::now(), &id);
        }
        let r = rt
            .block_on(duty.pass(&Dirty::default(), None, &starts))
            .unwrap();
        assert_eq!(r.reloads, 0);
        assert!(r.held.is_some());
        assert_eq!(fake.world().containers[&pid].signals, ["HUP"]);
        // The burst is over: the held configuration goes live.
        let r = rt
            .block_on(duty.pass(&Dirty::default(), None, &burst()))
            .unwrap();
        assert_eq!((r.reloads, r.held), (1, None));
        assert_eq!(fake.world().containers[&pid].signals, ["HUP", "HUP"]);
    }

    /// Containers the proxy would route, created and not started yet, make a burst: the
    /// first of them to start does not reload alone; others created at the same time (not
    /// chosen by the proxy) do not.
    #[test]
    fn containers_created_for_it_are_a_burst_before_they_start() {
        let rt = rt();
        let fake = Fake::new();
        crate::proxy::apply::tests::fake_engine(&fake);
        fake.run("p", &["80/tcp"], &PROXY);
        let mut duty = duty(&fake);
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        let created = |fake: &Fake, name: &str, ports: &[&str], events: &mut Burst| {
            let id = fake.run(name, ports, &[]);
            fake.world().containers.get_mut(&id).unwrap().state = State::Created;
            events.note(Instant::now(), &id);
            id
        };
        // Four containers the proxy does not route (no port exposed): no burst.
        let mut events = burst();
        let quiet: Vec<String> = (0..4)
            .map(|i| created(&fake, &format!("q{i}"), &[], &mut events))
            .collect();
        fake.world().containers.get_mut(&quiet[0]).unwrap().state = State::Running;
        let r = rt.block_on(duty.pass(&all(), None, &events)).unwrap();
        assert_eq!(
            (r.reloads, r.held),
            (0, None),
            "nothing of the proxy's changed"
        );
        // Four it would route: the first to start is held.
        let mut events = burst();
        let web: Vec<String> = (0..4)
            .map(|i| created(&fake, &format!("w{i}"), &["80/tcp"], &mut events))
            .collect();
        fake.world().containers.get_mut(&web[0]).unwrap().state = State::Running;
        let r = rt.block_on(duty.pass(&all(), None, &events)).unwrap();
        assert_eq!(r.reloads, 0);
        assert!(r.held.is_some());
    }

    /// A backend whose `die` the events brought is taken out in that pass even when the
    /// listing still shows it running (Engine 20.10's lags the event), and rechecked later.
    #[test]
    fn a_backend_that_died_is_taken_out_though_the_listing_lags() {
        let rt = rt();
        let (fake, pid) = proxy_and_app(&rt);
        let web = backend_on_app(&rt, &fake, "web");
        let mut duty = duty(&fake);
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        let live = || {
            let w = fake.world();
            String::from_utf8(w.containers[&pid].files["/etc/docker-link-proxy/nginx.conf"].clone())
                .unwrap()
        };
        assert!(live().contains("server_name web;"), "{}", live());
        // `die` heard; the listing still says running.
        let died = Dirty {
            ids: [web.clone()].into(),
            died: [web.clone()].into(),
            ..Default::default()
        };
        let r = rt.block_on(duty.pass(&died, None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        assert_eq!(r.not_yet_stopped, std::slice::from_ref(&web));
        assert!(!live().contains("server_name web;"), "{}", live());
    }

    /// A stopped backend keeps the network the proxy joined for it (its restart needs no
    /// reconnect); its removal, seen as a pass with nothing to reload, lets it go.
    #[test]
    fn the_network_joined_for_a_backend_is_left_when_it_is_removed_not_stopped() {
        let rt = rt();
        let (fake, pid) = proxy_and_app(&rt);
        let web = backend_on_app(&rt, &fake, "web");
        let mut duty = duty(&fake);
        let on_app = || fake.world().containers[&pid].networks.contains_key("app");
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        assert!(on_app());
        // Stopped: its route goes, the network stays.
        fake.world().containers.get_mut(&web).unwrap().state = State::Exited;
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        assert!(on_app(), "left at a stop");
        // Started again: routed with no connect.
        fake.world().containers.get_mut(&web).unwrap().state = State::Running;
        let calls = fake.world().calls.len();
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        let connects: Vec<String> = fake.world().calls[calls..]
            .iter()
            .filter(|c| c.starts_with("connect"))
            .cloned()
            .collect();
        assert!(connects.is_empty(), "{connects:?}");
        // Stopped, then removed: nothing to reload at the removal, and the network is left.
        fake.world().containers.get_mut(&web).unwrap().state = State::Exited;
        rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        rt.block_on(fake.remove_container(&web, true)).unwrap();
        let r = rt
            .block_on(duty.pass(&Dirty::default(), None, &burst()))
            .unwrap();
        assert_eq!(r.reloads, 0);
        assert!(!on_app(), "still on the network of a removed backend");
        rt.block_on(duty.settle());
        let raw = fake.world().containers[&pid].files[apply::STATE_FILE].clone();
        let state: ProxyState = serde_json::from_slice(&raw).unwrap();
        assert!(
            state.joined.is_empty() && state.served.is_empty(),
            "{state:?}"
        );
    }

    /// The duty opens a session when it first sees a proxy and reloads over it; when it
    /// breaks, that reload is an exec and the next pass opens another.
    #[test]
    fn reloads_go_over_the_session_opened_at_first_sight_and_a_broken_one_is_replaced() {
        use crate::proxy::session::tests as sessions;
        let rt = rt();
        let fake = Fake::new();
        crate::proxy::apply::tests::fake_engine(&fake);
        let served = sessions::serve(&fake, "docker-link-session ready", |_| (0, String::new()));
        let pid = fake.run("p", &["80/tcp"], &PROXY);
        let mut duty = duty(&fake);
        let state = |duty: &mut ProxyDuty<Fake>| {
            rt.block_on(duty.settle());
            let raw = fake.world().containers[&pid].files[apply::STATE_FILE].clone();
            serde_json::from_slice::<ProxyState>(&raw).unwrap()
        };
        let labels = |l: &[(&str, &str)]| {
            fake.world().containers.get_mut(&pid).unwrap().spec.labels = l
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        assert_eq!(served.opened(), 1);
        assert_eq!(served.seen().len(), 1);
        assert_eq!(state(&mut duty).commit, "session");
        // A change: the same session, no exec.
        let mut streams = PROXY.to_vec();
        streams.push(("docker-link.proxy.streams", "5432/tcp"));
        let calls = fake.world().calls.len();
        labels(&streams);
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        assert_eq!(served.opened(), 1);
        assert_eq!(served.seen().len(), 2);
        let new_calls = fake.world().calls[calls..].to_vec();
        assert!(
            !new_calls.iter().any(|c| c.starts_with("exec ")),
            "{new_calls:?}"
        );
        // The session's process is gone (the proxy restarted): the reload is an exec, and the
        // next pass opens a session again.
        duty.known.get_mut(&pid).unwrap().session = Some(rt.block_on(sessions::gone()));
        labels(&PROXY);
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.reloads, 1);
        assert_eq!(state(&mut duty).commit, "exec");
        assert!(duty.known[&pid].session.is_none());
        rt.block_on(duty.pass(&Dirty::default(), None, &burst()))
            .unwrap();
        assert_eq!(served.opened(), 2);
        assert!(duty.known[&pid].session.is_some());
    }

    #[test]
    fn proxies_of_the_namespace_reload_once_per_change() {
        let rt = rt();
        let fake = Fake::new();
        crate::proxy::apply::tests::fake_engine(&fake);
        let labels = PROXY;
        let pid = fake.run("p", &["80/tcp"], &labels);
        let mut other_ns = labels;
        other_ns[1] = ("docker-link.registry", "other");
        other_ns[2] = ("docker-link.proxy", "q");
        let qid = fake.run("q", &["80/tcp"], &other_ns);
        fake.run("web", &["80/tcp"], &[]);
        let mut duty = duty(&fake);
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!(r.proxies, 1);
        assert_eq!(r.errors, vec![]);
        // The backend has no address in the fake: nothing routed, but a configuration with
        // the probe and the default server is put in place.
        assert_eq!(r.reloads, 1);
        assert_eq!(fake.world().containers[&pid].signals, ["HUP"]);
        assert!(fake.world().containers[&qid].signals.is_empty());
        // The state, written on a task of its own.
        rt.block_on(duty.settle());
        let state = fake.world().containers[&pid].files[apply::STATE_FILE].clone();
        let state: ProxyState = serde_json::from_slice(&state).unwrap();
        assert_eq!((state.reloads, state.by.as_str()), (1, "watcher"));
        // Nothing changed: no read, no reload.
        let calls = fake.world().calls.len();
        let r = rt
            .block_on(duty.pass(&Dirty::default(), Some(Instant::now()), &burst()))
            .unwrap();
        assert_eq!(r.reloads, 0);
        let new_calls: Vec<String> = fake.world().calls[calls..].to_vec();
        assert_eq!(new_calls, ["list_containers"]);
        // A stopped proxy is left alone.
        fake.stop_all();
        let r = rt.block_on(duty.pass(&all(), None, &burst())).unwrap();
        assert_eq!((r.reloads, r.errors.len()), (0, 0));
    }
}
