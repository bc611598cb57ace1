//! The watcher's link duty: every pass reads the graph and the link networks, and a pure
//! [`plan`] decides what to do; [`LinkDuty::apply`] does it and goes on past errors. It runs
//! the same code the commands run (`graph::store` to write, `links::realize` to attach,
//! `links::network` to make and remove networks, `links::prune` to decide what is dead).
//!
//! - **Guardian of the graph**: the registry read from its copy, or gone with its copy, is
//!   written back (from the copy, from the links the link networks still show, and from the
//!   graph of the watcher's last committed read).
//! - **Links**: every parent with links (added with `docker link connect`, declared by
//!   `docker link run` or by compose labels) has its link network, and the network holds the
//!   parent and each child under its aliases, nobody else.
//! - **Housekeeping**: a link network whose parent no longer exists goes.
//!
//! A parent whose realization keeps failing is quarantined: retried only when an event names
//! it or its backoff ends, and reported with the reason; it never holds up the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::status::Quarantined;
use super::Dirty;
use crate::cancel::Cancel;
use crate::docker::engine::Engine;
use crate::graph::model::{short, Node, Source, Stored, View, ROOT};
use crate::graph::ops::Op;
use crate::graph::store::Origin;
use crate::links::network::{self, LinkNetwork};
use crate::links::pool::Pool;
use crate::links::session::Session;
use crate::links::{prune, realize};

/// Failures in a row before a parent is quarantined.
const QUARANTINE_AFTER: u32 = 3;
/// How long a quarantined parent waits before it is tried again without an event.
const QUARANTINE_FOR: Duration = Duration::from_secs(300);
/// A link network younger than this is never removed: `docker link connect` makes the network
/// of a parent that may be newer than the pass's listing.
const NETWORK_GRACE: i64 = 15;
/// `docker link run` makes its network before the parent exists (the parent then claims it by
/// label): such a network is removed only when unclaimed for this long.
const UNCLAIMED_GRACE: i64 = 120;

/// What one pass does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Write the registry back. `edges`: links to put back (from the last committed read).
    RestoreRegistry {
        edges: Vec<crate::graph::model::Edge>,
    },
    /// Make the parent's link network (it has links and no network).
    EnsureNetwork { parent: String, network: String },
    /// Bring the parent's link network in line with the graph.
    Realize { parent: String },
    RemoveNetwork {
        network: String,
        reason: &'static str,
    },
}

/// What a pass looks at.
#[derive(Debug, Clone)]
pub(crate) struct Input<'a> {
    pub view: &'a View,
    pub origin: &'a Origin,
    /// The graph must be written back (read from its copy, or links rebuilt).
    pub needs_restore: bool,
    /// The graph of the last pass that read a committed generation.
    pub last: Option<&'a Stored>,
    pub networks: &'a [LinkNetwork],
    pub dirty: &'a Dirty,
    /// Parents not to touch now (quarantined, no event since).
    pub held: &'a BTreeSet<String>,
    /// The daemon's clock, seconds.
    pub now: i64,
    /// The registry namespace this watcher keeps.
    pub ns: &'a str,
}

/// Whether a parent's links are this namespace's to keep: its own label says so, or its link
/// network is one of ours, or this graph holds links of it; a parent that says nothing (a
/// compose service with `docker-link.links`) belongs to the default namespace.
fn belongs(view: &View, node: &Node, ns: &str, networks: &BTreeSet<&str>) -> bool {
    if let Some(n) = node.labels.get(crate::labels::NAMESPACE) {
        return n == ns;
    }
    networks.contains(network::network_of(node).as_str())
        || view
            .children(&node.id)
            .any(|(_, _, source)| source == Source::Registry)
        || ns == "default"
}

/// The parents of the view: containers that exist and have at least one link.
fn parents(view: &View) -> BTreeSet<String> {
    view.edges
        .keys()
        .map(|(p, _)| p)
        .filter(|p| *p != ROOT && view.node(p).is_some())
        .cloned()
        .collect()
}

/// The parents whose links this namespace keeps.
pub(crate) fn our_parents(view: &View, ns: &str, networks: &[LinkNetwork]) -> BTreeSet<String> {
    let existing: BTreeSet<&str> = networks.iter().map(|n| n.name.as_str()).collect();
    parents(view)
        .into_iter()
        .filter(|p| {
            view.node(p)
                .is_some_and(|n| belongs(view, n, ns, &existing))
        })
        .collect()
}

/// The container a `create` or `start` event names, as a node of the graph (its labels come
/// with the event; no inspect needed).
pub(crate) fn started_node(e: &crate::docker::engine::Event) -> Option<Node> {
    use crate::docker::engine::State;
    let state = match (e.kind.as_str(), e.action.as_str()) {
        ("container", "create") => State::Created,
        ("container", "start") => State::Running,
        _ => return None,
    };
    let mut labels = e.attributes.clone();
    let name = labels.remove("name")?;
    let image = labels.remove("image").unwrap_or_default();
    Some(Node {
        id: e.id.clone(),
        names: vec![name],
        image,
        state,
        labels,
    })
}

/// The express lane for one started container: the last pass's view with the new container in
/// place of whatever had its docker name (compose and `docker run` after `docker rm` replace a
/// container under the same name, and declared links follow names and services), and the
/// parents whose link networks it must join now, each with its network's id. None when there
/// is nothing to do at once: the container was known (a restart keeps its endpoints; the engine
/// reattaches them), or no parent of ours with a network links it. Networks to make and
/// everything else are the next pass's.
pub(crate) fn express_plan(
    last: &View,
    stored: &Stored,
    networks: &[LinkNetwork],
    ns: &str,
    started: Node,
) -> Option<(View, Vec<(String, String)>)> {
    // Known and started before: a restart, whose endpoints the engine brings back itself. A
    // container the last pass saw only created (`docker run` is create, then start) counts as
    // new: that pass may or may not have attached it.
    if last
        .node(&started.id)
        .is_some_and(|n| n.state != crate::docker::engine::State::Created)
    {
        return None;
    }
    let docker_names: BTreeSet<String> = started
        .names
        .iter()
        .filter(|n| !n.contains('/'))
        .cloned()
        .collect();
    let id = started.id.clone();
    let nodes: Vec<Node> = last
        .nodes
        .values()
        .filter(|n| n.id != id && !n.names.iter().any(|x| docker_names.contains(x)))
        .cloned()
        .chain(std::iter::once(started))
        .collect();
    let view = View::build(nodes, stored);
    let by_name: BTreeMap<&str, &str> = networks
        .iter()
        .map(|n| (n.name.as_str(), n.id.as_str()))
        .collect();
    let todo: Vec<(String, String)> = our_parents(&view, ns, networks)
        .into_iter()
        .filter(|p| *p == id || view.children(p).any(|(_, c, _)| c == id))
        .filter_map(|p| {
            let net = network::network_of(view.node(&p)?);
            let net_id = by_name.get(net.as_str())?.to_string();
            Some((p, net_id))
        })
        .collect();
    (!todo.is_empty()).then_some((view, todo))
}

pub(crate) fn plan(input: &Input) -> Vec<Action> {
    let mut actions = Vec::new();
    let view = input.view;
    match input.origin {
        Origin::Committed => {}
        Origin::Copy { .. } => actions.push(Action::RestoreRegistry { edges: Vec::new() }),
        Origin::Missing => {
            let edges: Vec<_> = input
                .last
                .map(|s| s.edges.iter().cloned().collect())
                .unwrap_or_default();
            if input.needs_restore || !edges.is_empty() {
                actions.push(Action::RestoreRegistry { edges });
            }
        }
    }
    let existing: BTreeSet<&str> = input.networks.iter().map(|n| n.name.as_str()).collect();
    let parents = parents(view);
    // A dirty container: itself if a parent, and the parents that link to it.
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for id in &input.dirty.ids {
        if parents.contains(id) {
            touched.insert(id.clone());
        }
        touched.extend(view.parents(id).into_iter().map(|(p, _, _)| p.to_string()));
    }
    for parent in &parents {
        let Some(node) = view.node(parent) else {
            continue;
        };
        if !belongs(view, node, input.ns, &existing) {
            continue;
        }
        let net = network::network_of(node);
        let dirty = input.dirty.all
            || touched.contains(parent)
            || input.dirty.networks.contains(&net)
            || !existing.contains(net.as_str());
        if !dirty || (input.held.contains(parent) && !touched.contains(parent)) {
            continue;
        }
        if !existing.contains(net.as_str()) {
            actions.push(Action::EnsureNetwork {
                parent: parent.clone(),
                network: net,
            });
        }
        actions.push(Action::Realize {
            parent: parent.clone(),
        });
    }
    // Housekeeping, with the same rule as `docker link prune`.
    let containers: BTreeSet<String> = view.nodes.keys().cloned().collect();
    let claimed: BTreeSet<String> = view
        .nodes
        .values()
        .filter_map(|n| n.labels.get(crate::labels::NETWORK).cloned())
        .collect();
    let (made_for_parent, made_by_run): (Vec<LinkNetwork>, Vec<LinkNetwork>) = input
        .networks
        .iter()
        .cloned()
        .partition(|n| !n.parent.is_empty());
    for (networks, until) in [
        (made_for_parent, NETWORK_GRACE),
        (made_by_run, UNCLAIMED_GRACE),
    ] {
        let removals = prune::plan(&prune::Input {
            networks,
            containers: containers.clone(),
            claimed: claimed.clone(),
            now: input.now,
            until,
        });
        actions.extend(removals.into_iter().map(|r| Action::RemoveNetwork {
            network: r.network,
            reason: r.reason,
        }));
    }
    actions
}

/// What the last pass saw, for the express lane.
#[derive(Debug)]
pub(crate) struct Seen {
    view: View,
    /// The graph `view` was built over.
    stored: Stored,
    networks: Vec<LinkNetwork>,
    /// Parents the lane leaves to the passes.
    quarantined: BTreeSet<String>,
}

/// The express lane: a new container that a parent of ours links by name or service (or a
/// new parent whose network exists) joins the link networks at once, beside whatever pass is
/// running, without waiting for the debounce or a full read. It acts on `create`: connecting
/// a created container is a few ms of bookkeeping for the engine, and the start then brings
/// the link up with the container, where a connect just after the start costs the engine
/// three times an idle one (`docker run` and compose start right after creating, so the
/// lane races the start; on `start` it tries again, and finds nothing to do when it won).
/// The passes that follow check everything as usual, the reachability rules included.
#[derive(Clone)]
pub(crate) struct Express<E: Engine> {
    engine: E,
    ns: String,
    seen: Arc<Mutex<Option<Arc<Seen>>>>,
}

impl<E: Engine + Clone + Send + Sync + 'static> Express<E> {
    /// The work a `start` event calls for, to run on its own task; None when there is none.
    /// It resolves to the number of parents realized.
    pub(crate) fn job(
        &self,
        e: &crate::docker::engine::Event,
    ) -> Option<impl std::future::Future<Output = usize> + Send + 'static> {
        let started = started_node(e)?;
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let Some((view, todo)) =
            express_plan(&seen.view, &seen.stored, &seen.networks, &self.ns, started)
        else {
            tracing::debug!("express lane: nothing to link at once for {}", short(&e.id));
            return None;
        };
        let todo: Vec<(String, String)> = todo
            .into_iter()
            .filter(|(p, _)| !seen.quarantined.contains(p))
            .collect();
        let engine = self.engine.clone();
        let (id, time) = (e.id.clone(), e.time_nano);
        Some(async move {
            let t0 = Instant::now();
            let mut realized = 0;
            for (parent, net_id) in &todo {
                let mut scope: BTreeSet<String> = BTreeSet::from([parent.clone()]);
                scope.extend(view.children(parent).map(|(_, c, _)| c.to_string()));
                match realize::realize_on(&engine, &view, parent, scope, net_id).await {
                    Ok(()) => realized += 1,
                    // The pass that follows tries again and counts the failure.
                    Err(e) => tracing::debug!(
                        "express lane for {}: {}",
                        short(parent),
                        crate::describe(&e)
                    ),
                }
            }
            tracing::debug!(
                "express lane: {} linked in {} ms, {} ms after the daemon's event",
                short(&id),
                t0.elapsed().as_millis(),
                (crate::docker::clock::now_nanos() - time) / 1_000_000
            );
            realized
        })
    }
}

/// A parent that failed, and since when.
#[derive(Debug, Clone)]
struct Failure {
    count: u32,
    reason: String,
    since: i64,
    until: Option<Instant>,
}

/// What a pass did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    /// Parents realized.
    pub realized: usize,
    pub restored: bool,
    pub removed: Vec<String>,
    /// (object, kind, message) of each failed action.
    pub errors: Vec<(String, &'static str, String)>,
    /// Links in the graph after the pass.
    pub links: usize,
    /// The reachability rules were (re)written.
    pub rules_written: bool,
}

pub(crate) struct LinkDuty<E: Engine> {
    engine: E,
    ns: String,
    pool: Pool,
    cancel: Cancel,
    last: Option<Stored>,
    failures: BTreeMap<String, Failure>,
    /// Containers whose labels hold entries that were left out, and why (since when).
    bad_labels: BTreeMap<String, (String, i64)>,
    /// Reachability rules; None when not asked for.
    pub(crate) rules: Option<super::rules::Rules>,
    /// What the express lane works from, refreshed by every pass.
    express: Express<E>,
}

impl<E: Engine + Clone> LinkDuty<E> {
    pub(crate) fn new(engine: E, ns: &str, pool: Pool, cancel: Cancel) -> LinkDuty<E> {
        LinkDuty {
            engine: engine.clone(),
            ns: ns.to_string(),
            pool,
            cancel,
            last: None,
            failures: BTreeMap::new(),
            bad_labels: BTreeMap::new(),
            rules: None,
            express: Express {
                engine,
                ns: ns.to_string(),
                seen: Default::default(),
            },
        }
    }

    /// The quarantined parents and the containers with bad labels, for the status.
    pub(crate) fn quarantined(&self) -> Vec<Quarantined> {
        let failing = self
            .failures
            .iter()
            .filter(|(_, f)| f.count >= QUARANTINE_AFTER)
            .map(|(id, f)| Quarantined {
                object: short(id).to_string(),
                reason: f.reason.clone(),
                since: f.since,
                failures: f.count,
            });
        let labels = self
            .bad_labels
            .iter()
            .map(|(id, (reason, since))| Quarantined {
                object: short(id).to_string(),
                reason: reason.clone(),
                since: *since,
                failures: 0,
            });
        failing.chain(labels).collect()
    }

    /// Notes the containers whose labels hold entries that were left out (said once each).
    fn check_labels(&mut self, view: &View, now: i64) {
        let mut seen = BTreeMap::new();
        for node in view.nodes.values() {
            let (_, bad) = crate::graph::model::declared_checked(node);
            if bad.is_empty() {
                continue;
            }
            let reason = format!("labels left out: {}", bad.join("; "));
            let since = match self.bad_labels.get(&node.id) {
                Some((r, since)) if *r == reason => *since,
                _ => {
                    tracing::warn!("{}: {reason}", view.display(&node.id));
                    now
                }
            };
            seen.insert(node.id.clone(), (reason, since));
        }
        self.bad_labels = seen;
    }

    /// The express lane's handle: it works beside the passes, from the last one's view.
    pub(crate) fn express(&self) -> Express<E> {
        self.express.clone()
    }

    /// One pass: read, plan, apply.
    pub(crate) async fn pass(&mut self, dirty: &Dirty) -> anyhow::Result<Report> {
        let (mut session, snap) =
            Session::open(self.engine.clone(), &self.ns, self.cancel.clone(), None).await?;
        for w in std::mem::take(&mut session.warnings) {
            tracing::warn!("{w}");
        }
        let networks = network::list(&self.engine, &self.ns, false).await?;
        let now = snap.server_time.unwrap_or_else(crate::docker::clock::now);
        let instant = Instant::now();
        let held: BTreeSet<String> = self
            .failures
            .iter()
            .filter(|(_, f)| f.until.is_some_and(|u| u > instant))
            .map(|(id, _)| id.clone())
            .collect();
        let actions = plan(&Input {
            view: &snap.view,
            origin: &snap.origin,
            needs_restore: session.needs_restore(&snap),
            last: self.last.as_ref(),
            networks: &networks,
            dirty,
            held: &held,
            now,
            ns: &self.ns,
        });
        if snap.origin == Origin::Committed {
            self.last = Some(snap.payload.stored.clone());
        }
        self.check_labels(&snap.view, now);
        let mut report = Report::default();
        let mut view = snap.view.clone();
        let mut stored = snap.payload.stored.clone();
        let mut touched_networks = false;
        let mut realized_ids: Vec<String> = Vec::new();
        for action in actions {
            if self.cancel.is_cancelled() {
                break;
            }
            match action {
                Action::RestoreRegistry { edges } => {
                    let op = if edges.is_empty() {
                        Op::Touch
                    } else {
                        Op::Restore { edges }
                    };
                    match session.write(op).await {
                        Ok(w) => {
                            tracing::warn!(
                                "the registry was gone: wrote it back as generation {} ({} names and links)",
                                w.generation,
                                w.stored.edges.len()
                            );
                            view = w.view.clone();
                            stored = w.stored.clone();
                            self.last = Some(w.stored);
                            report.restored = true;
                        }
                        Err(e) => {
                            report
                                .errors
                                .push(("registry".into(), "registry", crate::describe(&e)))
                        }
                    }
                }
                Action::EnsureNetwork {
                    parent,
                    network: net,
                } => {
                    let label = view
                        .node(&parent)
                        .is_some_and(|n| !n.labels.contains_key(crate::labels::NETWORK))
                        .then_some(parent.as_str());
                    touched_networks = true;
                    if let Err(e) =
                        network::ensure(&self.engine, &self.pool, &self.ns, &net, label).await
                    {
                        self.failed(&parent, now, &crate::describe(&e));
                        report
                            .errors
                            .push((parent.clone(), "network", crate::describe(&e)));
                    } else {
                        tracing::info!("made the link network {net} of {}", view.display(&parent));
                    }
                }
                Action::Realize { parent } => {
                    let mut scope: BTreeSet<String> = BTreeSet::from([parent.clone()]);
                    scope.extend(view.children(&parent).map(|(_, c, _)| c.to_string()));
                    realized_ids.extend(scope.iter().cloned());
                    match realize::realize(&self.engine, &view, &parent, scope).await {
                        Ok(()) => {
                            self.failures.remove(&parent);
                            report.realized += 1;
                        }
                        Err(e) => {
                            self.failed(&parent, now, &crate::describe(&e));
                            report
                                .errors
                                .push((parent.clone(), "realize", crate::describe(&e)));
                        }
                    }
                }
                Action::RemoveNetwork {
                    network: net,
                    reason,
                } => {
                    touched_networks = true;
                    match network::remove(&self.engine, &net).await {
                        Ok(()) => {
                            tracing::info!("removed the link network {net}: {reason}");
                            report.removed.push(net);
                        }
                        Err(e) => report
                            .errors
                            .push((net, "housekeeping", crate::describe(&e))),
                    }
                }
            }
        }
        report.links = view.edges.keys().filter(|(p, _)| p != ROOT).count();
        // What the actions changed is read again: new networks, new endpoints.
        let networks = if touched_networks {
            network::list(&self.engine, &self.ns, false).await?
        } else {
            networks
        };
        if let Some(mut rules) = self.rules.take() {
            let mut changed = dirty.clone();
            changed.ids.extend(realized_ids);
            let parents = our_parents(&view, &self.ns, &networks);
            match rules
                .sync(&self.engine, &view, &parents, &networks, &changed)
                .await
            {
                Ok(wrote) => report.rules_written = wrote,
                Err(e) => report
                    .errors
                    .push(("rules".into(), "rules", crate::describe(&e))),
            }
            self.rules = Some(rules);
        }
        let quarantined = self
            .failures
            .iter()
            .filter(|(_, f)| f.count >= QUARANTINE_AFTER)
            .map(|(id, _)| id.clone())
            .collect();
        *self.express.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(Seen {
            view,
            stored,
            networks,
            quarantined,
        }));
        Ok(report)
    }

    fn failed(&mut self, parent: &str, now: i64, reason: &str) {
        let f = self.failures.entry(parent.to_string()).or_insert(Failure {
            count: 0,
            reason: String::new(),
            since: now,
            until: None,
        });
        f.count += 1;
        f.reason = reason.to_string();
        if f.count >= QUARANTINE_AFTER {
            if f.count == QUARANTINE_AFTER {
                tracing::warn!(
                    "quarantined {}: {reason} ({} failures in a row; retried on its next event or in {} s)",
                    short(parent),
                    f.count,
                    QUARANTINE_FOR.as_secs()
                );
            }
            f.until = Some(Instant::now() + QUARANTINE_FOR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::fixtures::{edge, id, node};

    use crate::links::network::fixture as net;

    /// a links b (registry), c is a parent whose network is gone, d was removed.
    fn world() -> (View, Stored, Vec<LinkNetwork>) {
        let mut stored = Stored::new();
        stored.edges.insert(edge(&id('a'), "redis", &id('b')));
        stored.edges.insert(edge(&id('c'), "db", &id('b')));
        stored.edges.insert(edge(ROOT, "db1", &id('b')));
        let view = View::build(
            vec![
                node('a', &["web"]),
                node('b', &["redis"]),
                node('c', &["api"]),
            ],
            &stored,
        );
        let old = "2026-12-02T11:00:00Z";
        let networks = vec![
            net(&network::name_for(&id('a')), &id('a'), old),
            net(&network::name_for(&id('d')), &id('d'), old),
            net(
                &network::name_for(&id('e')),
                &id('e'),
                "2026-12-02T11:59:55Z",
            ),
        ];
        (view, stored, networks)
    }

    #[test]
    fn the_express_lane_links_a_replaced_child_at_once() {
        use crate::docker::engine::Event;
        // p declares `redis:db` (a docker name); q links b in the registry; o is another
        // namespace's parent declaring the same child.
        let mut p = node('p', &["web"]);
        p.labels
            .insert(crate::labels::LINKS.into(), "redis:db".into());
        let mut o = node('o', &["other"]);
        o.labels
            .insert(crate::labels::LINKS.into(), "redis:cache".into());
        o.labels
            .insert(crate::labels::NAMESPACE.into(), "elsewhere".into());
        let mut stored = Stored::new();
        stored.edges.insert(edge(&id('q'), "db", &id('b')));
        let mut created = node('c', &["redis-new"]);
        created.state = crate::docker::engine::State::Created;
        let last = View::build(
            vec![p, o, node('q', &["api"]), node('b', &["redis"]), created],
            &stored,
        );
        let networks = vec![
            net(
                &network::name_for(&id('p')),
                &id('p'),
                "2026-12-02T11:00:00Z",
            ),
            net(
                &network::name_for(&id('q')),
                &id('q'),
                "2026-12-02T11:00:00Z",
            ),
            net(
                &network::name_for(&id('o')),
                &id('o'),
                "2026-12-02T11:00:00Z",
            ),
        ];
        let start = |c: char, name: &str, labels: &[(&str, &str)]| {
            let mut attributes: crate::docker::engine::Labels = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            attributes.insert("name".into(), name.into());
            attributes.insert("image".into(), "img".into());
            Event {
                kind: "container".into(),
                action: "start".into(),
                id: id(c),
                attributes,
                time_nano: 0,
            }
        };
        let p_net = |c: char| (id(c), format!("{}-id", network::name_for(&id(c))));
        // (what, event, parents linked at once)
        type Case<'a> = (&'a str, Event, Vec<(String, String)>);
        let table: Vec<Case> = vec![
            (
                "a new container under the declared child's name joins its parent's network",
                start('n', "redis", &[]),
                vec![p_net('p')],
            ),
            (
                "the same container started again: the engine reattaches it",
                start('b', "redis", &[]),
                vec![],
            ),
            (
                "a container the last pass saw only created counts as new",
                start('c', "redis", &[]),
                vec![p_net('p')],
            ),
            ("a name nobody links", start('n', "cache", &[]), vec![]),
            (
                "a new parent whose network does not exist yet waits for the pass",
                start('n', "web2", &[(crate::labels::LINKS, "redis:db")]),
                vec![],
            ),
        ];
        for (what, event, want) in table {
            let node = started_node(&event).expect(what);
            let got = express_plan(&last, &stored, &networks, "default", node)
                .map(|(_, todo)| todo)
                .unwrap_or_default();
            assert_eq!(got, want, "{what}");
        }
        let mut create = start('n', "redis", &[]);
        create.action = "create".into();
        assert_eq!(
            express_plan(
                &last,
                &stored,
                &networks,
                "default",
                started_node(&create).unwrap()
            )
            .map(|(_, todo)| todo),
            Some(vec![p_net('p')]),
            "a created container is linked before it starts"
        );
        let mut die = start('n', "redis", &[]);
        die.action = "die".into();
        assert!(
            started_node(&die).is_none(),
            "only creates and starts take the lane"
        );
    }

    fn now() -> i64 {
        crate::docker::clock::rfc3339("2026-12-02T12:00:00Z").unwrap()
    }

    #[test]
    fn plans() {
        let (view, stored, networks) = world();
        let all = Dirty {
            all: true,
            ..Default::default()
        };
        let only_b = Dirty {
            ids: BTreeSet::from([id('b')]),
            ..Default::default()
        };
        let nothing = Dirty::default();
        let held_a = BTreeSet::from([id('a')]);
        let none = BTreeSet::new();
        let realize = |c: char| Action::Realize { parent: id(c) };
        let ensure_c = Action::EnsureNetwork {
            parent: id('c'),
            network: network::name_for(&id('c')),
        };
        let remove_d = Action::RemoveNetwork {
            network: network::name_for(&id('d')),
            reason: "its parent container no longer exists",
        };
        let committed = Origin::Committed;
        let missing = Origin::Missing;
        let copy = Origin::Copy { generation: 4 };
        // (what, origin, last, dirty, held, expected)
        type Case<'a> = (
            &'a str,
            &'a Origin,
            Option<&'a Stored>,
            &'a Dirty,
            &'a BTreeSet<String>,
            Vec<Action>,
        );
        let table: Vec<Case> = vec![
            (
                "a resync realizes every parent, makes the missing network, removes the dead one",
                &committed,
                None,
                &all,
                &none,
                vec![
                    realize('a'),
                    ensure_c.clone(),
                    realize('c'),
                    remove_d.clone(),
                ],
            ),
            (
                "an event on a child realizes its parents; a missing network is made anyway",
                &committed,
                None,
                &only_b,
                &none,
                vec![
                    realize('a'),
                    ensure_c.clone(),
                    realize('c'),
                    remove_d.clone(),
                ],
            ),
            (
                "no event: only what is missing or dead",
                &committed,
                None,
                &nothing,
                &none,
                vec![ensure_c.clone(), realize('c'), remove_d.clone()],
            ),
            (
                "a quarantined parent waits for an event of its own",
                &committed,
                None,
                &all,
                &held_a,
                vec![ensure_c.clone(), realize('c'), remove_d.clone()],
            ),
            (
                "the registry read from its copy is written back",
                &copy,
                None,
                &nothing,
                &none,
                vec![
                    Action::RestoreRegistry { edges: vec![] },
                    ensure_c.clone(),
                    realize('c'),
                    remove_d.clone(),
                ],
            ),
            (
                "the registry gone with its copy: the last graph goes back",
                &missing,
                Some(&stored),
                &nothing,
                &none,
                vec![
                    Action::RestoreRegistry {
                        edges: stored.edges.iter().cloned().collect(),
                    },
                    ensure_c.clone(),
                    realize('c'),
                    remove_d.clone(),
                ],
            ),
        ];
        for (what, origin, last, dirty, held, want) in table {
            let got = plan(&Input {
                view: &view,
                origin,
                needs_restore: false,
                last,
                networks: &networks,
                dirty,
                held,
                now: now(),
                ns: "t",
            });
            assert_eq!(got, want, "{what}");
        }
    }

    /// Declared parents: one labelled for this namespace, one for another, one unlabelled
    /// (compose): the default namespace's watcher takes the unlabelled one.
    #[test]
    fn declared_parents_belong_to_one_namespace() {
        let declared = |c: char, ns: Option<&str>| {
            let mut n = node(c, &[&format!("p{c}")]);
            n.labels
                .insert(crate::labels::LINKS.into(), format!("{}:db", id('z')));
            if let Some(ns) = ns {
                n.labels.insert(crate::labels::NAMESPACE.into(), ns.into());
            }
            n
        };
        let view = View::build(
            vec![
                declared('a', Some("t")),
                declared('b', Some("other")),
                declared('c', None),
                node('z', &["db"]),
            ],
            &Stored::new(),
        );
        let all = Dirty {
            all: true,
            ..Default::default()
        };
        for (ns, want) in [("t", ['a']), ("default", ['c']), ("third", [' '])] {
            let want: Vec<Action> = want
                .iter()
                .filter(|c| **c != ' ')
                .flat_map(|c| {
                    [
                        Action::EnsureNetwork {
                            parent: id(*c),
                            network: network::name_for(&id(*c)),
                        },
                        Action::Realize { parent: id(*c) },
                    ]
                })
                .collect();
            let got = plan(&Input {
                view: &view,
                origin: &Origin::Committed,
                needs_restore: false,
                last: None,
                networks: &[],
                dirty: &all,
                held: &BTreeSet::new(),
                now: now(),
                ns,
            });
            assert_eq!(got, want, "{ns}");
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Against the in-memory daemon: a link made by the duty, the registry removed with its
    /// copy and written back from the duty's last read, the network of a removed parent gone.
    #[test]
    fn passes_against_the_fake_daemon() {
        use crate::docker::fake::Fake;
        use crate::graph::store::Store;
        let fake = Fake::new();
        let parent = fake.run("web", &[], &[]);
        let child = fake.run("redis", &["6379/tcp"], &[]);
        let pool = Pool::from_setting(None).unwrap();
        rt().block_on(async {
            let store = Store::new(&fake, "t", Cancel::new());
            let link = Op::Batch {
                ops: vec![
                    Op::Add {
                        edge: edge(ROOT, "db1", &child),
                    },
                    Op::Add {
                        edge: edge(&parent, "cache", &child),
                    },
                ],
            };
            store.write(None, link).await.unwrap();
            let mut duty = LinkDuty::new(fake.clone(), "t", pool, Cancel::new());
            let all = Dirty {
                all: true,
                ..Default::default()
            };
            let report = duty.pass(&all).await.unwrap();
            assert_eq!(report.errors, []);
            assert_eq!(report.realized, 1);
            let net = network::name_for(&parent);
            let members = |fake: &Fake| {
                fake.world()
                    .containers
                    .values()
                    .filter(|c| c.networks.contains_key(&net))
                    .map(|c| c.spec.name.clone())
                    .collect::<BTreeSet<_>>()
            };
            assert_eq!(
                members(&fake),
                BTreeSet::from(["redis".to_string(), "web".to_string()])
            );

            // The registry and its copy removed by hand: written back.
            {
                let mut w = fake.world();
                w.containers
                    .retain(|_, c| !c.spec.labels.contains_key(crate::labels::GENERATION));
                w.volumes.clear();
            }
            let report = duty.pass(&Dirty::default()).await.unwrap();
            assert!(report.restored, "{report:?}");
            let snap = store.load().await.unwrap();
            assert_eq!(snap.origin, Origin::Committed);
            assert_eq!(snap.payload.stored.edges.len(), 2);

            // The parent removed: its network goes (once older than the grace).
            fake.world().containers.remove(&parent);
            fake.advance(NETWORK_GRACE + 1);
            let report = duty.pass(&Dirty::default()).await.unwrap();
            assert_eq!(report.removed, std::slice::from_ref(&net));
        });
    }

    #[test]
    fn a_network_event_realizes_its_parent() {
        let (view, _, networks) = world();
        let dirty = Dirty {
            networks: BTreeSet::from([network::name_for(&id('a'))]),
            ..Default::default()
        };
        let got = plan(&Input {
            view: &view,
            origin: &Origin::Committed,
            needs_restore: false,
            last: None,
            networks: &networks,
            dirty: &dirty,
            held: &BTreeSet::new(),
            now: now(),
            ns: "t",
        });
        assert!(
            got.contains(&Action::Realize { parent: id('a') }),
            "{got:?}"
        );
    }
}
