//! The registry: the graph's home on the daemon, as labels of a container, one container per
//! generation, written by compare-and-swap on the daemon's unique container names.
//!
//! - **Commit.** A write creates the container of generation N+1 (exactly one writer wins its
//!   name), checks that no newer generation exists (a stale writer can find N+1's name free
//!   after cleanup), and starts it. A generation is committed once it was started: a
//!   created-only container is what `docker container prune` removes, and what an interrupted
//!   write leaves. Readers take the newest generation that was ever started; an uncommitted one
//!   is never read.
//! - **Old generations** go only when a newer one is committed: the writer of N+1 removes the
//!   generations older than N while it starts N+1, and N stays until N+2 is committed. So two
//!   registry containers run at rest, and a failed start always leaves a committed graph.
//! - **Leftovers.** A generation that stays created-only for [`ABANDONED_AFTER`] seconds (on the
//!   daemon's clock) was left by an interrupted write: the next writer removes it (without
//!   force, so one that was started meanwhile stays) and says so.
//! - **Contention.** A writer that loses the race, or finds a write in flight, hands its op to
//!   the next generation as an *intent* (a labelled volume: cheap to make, untouched by
//!   container prune) and waits. Whoever makes the next generation applies every pending
//!   intent in order, records each one's outcome in the generation, and removes the intents
//!   once committed; a waiting writer reads its outcome and exits with it. Many concurrent
//!   writers land in a few generations instead of one generation each.
//! - **Second copy.** Every generation mounts the volume `docker-link-graph[-ns]`, and its
//!   process writes its graph there when it starts (`graph::copy`). When no committed
//!   generation exists (all were stopped and pruned), reads fall back to that copy and say
//!   so; the next write restores the registry from it.
//!
//! Reads are one container listing, which also gives the live containers and their declared
//! labels.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::codec::{self, Outcome, Payload};
pub use super::copy::IDLE_ARG;
use super::copy::{self, COPY_DIR, GRAPH_ENV};
use super::model::{elements, Node, Stored, View, ROOT};
use super::ops::{apply_all, Op};
use crate::cancel::{Cancel, Interrupted};
use crate::docker::engine::{
    remove_if_present, ContainerSpec, ContainerSummary, Engine, EventFilter, Labels, ListFilter,
    State,
};
use crate::labels;

/// A generation created this many seconds ago (daemon clock) and never started was left by an
/// interrupted write. A live writer starts its generation within a second, but a daemon under
/// load (dozens of writers, a CI run beside them) has taken over 5 s, and removing a generation
/// while its start is under way kills it after it wrote its copy: readers then fall back to the
/// copy and say so. A live writer whose generation is taken anyway sees its start refused and
/// retries; nothing is lost either way, only time (a leftover of `kill -9` blocks writers this
/// long).
pub const ABANDONED_AFTER: i64 = 10;
/// Without the daemon's clock: how long a generation must be seen created-only.
const ABANDONED_LOCAL: Duration = Duration::from_secs(12);
/// An intent older than this (daemon clock) was left by a writer that is gone (a live one gives
/// up after [`WRITE_DEADLINE`] and removes its own): dropped, never applied.
const INTENT_TTL: i64 = 150;
/// A scoped read looks docker names up with the daemon's name filter only up to this many names;
/// beyond, it lists every container. The daemon compiles each name's regular expression once per
/// container it lists: at 300 containers one name costs it about 8 ms of CPU, a listing of
/// everything about 50 ms, and fifty names 420 ms (Engine 20.10; a leader applying fifty
/// intents sent such listings, and fifty writers at once saturated the daemon with them).
const MAX_NAME_PATTERNS: usize = 4;
/// A waiting writer takes the lead from the oldest intent when no generation came for this long
/// (its writer seems gone). A live leader reads and creates within it even on a daemon that
/// takes a second or two a create; a shorter wait made writers race the leader.
const LEADER_GONE: Duration = Duration::from_millis(2000);
/// How long a writer keeps trying when others keep winning.
const WRITE_DEADLINE: Duration = Duration::from_secs(90);

/// One registry generation as the listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub generation: u64,
    pub id: String,
    pub state: State,
    pub created: i64,
    pub image: String,
    pub volumes: Vec<String>,
}

/// Where the graph of a snapshot was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The newest committed generation.
    Committed,
    /// No generation is committed: the copy in the graph's volume, of this generation.
    Copy { generation: u64 },
    /// No generation and no copy: nothing was ever written, or everything was removed.
    Missing,
}

/// The graph as read in one listing.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The generation the graph is of (0 when none).
    pub generation: u64,
    pub payload: Payload,
    pub view: View,
    pub origin: Origin,
    /// This namespace's registry containers, every state.
    pub registries: Vec<Registry>,
    /// The daemon's clock at the listing.
    pub server_time: Option<i64>,
    /// What the user should be told (a fallback read, a restarted registry).
    pub warnings: Vec<String>,
    /// Read from the registry containers alone (a writer waiting its turn): no view of the
    /// other containers, no fallback.
    light: bool,
    /// The view holds only the containers a scope named (see [`Scope`]): enough to check the
    /// ops of that scope, not to purge edges of containers that are gone.
    scoped: bool,
}

impl Snapshot {
    pub fn stored(&self) -> &Stored {
        &self.payload.stored
    }

    /// True when the graph was read from its copy: the next write restores the registry.
    pub fn from_copy(&self) -> bool {
        matches!(self.origin, Origin::Copy { .. })
    }

    fn newest(&self) -> Option<&Registry> {
        self.registries
            .iter()
            .filter(|r| r.generation == self.generation && r.state.ever_started())
            .max_by_key(|r| r.created)
    }
}

/// What a scoped read must show besides the graph (see [`Store::load_scoped`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Names, paths and container references as the user wrote them (`db1`,
    /// `frontend/redis`, a short id).
    pub args: Vec<String>,
    /// Names a write adds or removes.
    pub names: Vec<String>,
    /// Full container ids.
    pub ids: Vec<String>,
}

impl Scope {
    pub fn of_args<S: AsRef<str>>(args: &[S]) -> Scope {
        Scope {
            args: args.iter().map(|a| a.as_ref().to_string()).collect(),
            ..Default::default()
        }
    }

    /// What the ops touch; None when they need every container (see [`Op::scope`]).
    fn of_ops<'o>(ops: impl IntoIterator<Item = &'o Op>) -> Option<Scope> {
        let mut scope = Scope::default();
        for op in ops {
            let (ids, names) = op.scope()?;
            scope.ids.extend(ids);
            scope.names.extend(names);
        }
        Some(scope)
    }
}

/// `s` as a literal inside the daemon's regular-expression filters.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn node_of(c: &ContainerSummary) -> Node {
    Node {
        id: c.id.clone(),
        names: c.names.clone(),
        image: c.image.clone(),
        state: c.state,
        labels: c.labels.clone(),
    }
}

/// A landed write: the graph it made, and whether anything changed.
#[derive(Debug, Clone)]
pub struct Written {
    pub generation: u64,
    pub stored: Stored,
    pub view: View,
    pub changed: bool,
    pub warnings: Vec<String>,
}

/// A graph's registry on one daemon.
pub struct Store<'a, E: Engine> {
    engine: &'a E,
    ns: String,
    cancel: Cancel,
}

/// What an attempt at making the next generation came to.
enum Lead {
    /// Committed: the graph, every outcome it records, and our own op's.
    Committed(Written, Vec<Outcome>, Result<(), String>),
    /// Our own op was refused and nobody else's was waiting: nothing written.
    Refused(anyhow::Error),
    Unchanged(Written),
    /// Another writer got there first.
    Lost,
}

/// How a waiting writer learns that something changed.
enum Wake {
    Unsubscribed,
    Events(crate::docker::engine::Events),
    Polling,
}

/// An intent on the daemon.
#[derive(Debug, Clone)]
struct Intent {
    name: String,
    created: i64,
    op: Op,
}

impl<'a, E: Engine> Store<'a, E> {
    pub fn new(engine: &'a E, ns: &str, cancel: Cancel) -> Store<'a, E> {
        Store {
            engine,
            ns: ns.to_string(),
            cancel,
        }
    }

    fn container_name(&self, generation: u64) -> String {
        if self.ns == "default" {
            format!("docker-link-registry-{generation}")
        } else {
            format!("docker-link-registry-{}-{generation}", self.ns)
        }
    }

    /// The volume of the graph's second copy.
    pub fn copy_volume(&self) -> String {
        if self.ns == "default" {
            "docker-link-graph".to_string()
        } else {
            format!("docker-link-graph-{}", self.ns)
        }
    }

    fn ours(&self, labels: &Labels, role: &str) -> bool {
        labels.get(labels::ROLE).map(String::as_str) == Some(role)
            && labels.get(labels::NAMESPACE).map(String::as_str) == Some(self.ns.as_str())
    }

    fn filter(&self, role: &str) -> Vec<String> {
        vec![labels::role(role), labels::namespace(&self.ns)]
    }

    /// Reads the graph: one `GET /containers/json?all=1`, plus the copy's volume when no
    /// generation is committed.
    pub async fn load(&self) -> anyhow::Result<Snapshot> {
        self.read(false).await
    }

    /// `light`: only this graph's registry containers (a filtered listing, cheap for the
    /// daemon while many writers wait their turn); the view is empty and nothing falls back.
    async fn read(&self, light: bool) -> anyhow::Result<Snapshot> {
        let filter = if light {
            ListFilter {
                labels: self.filter(labels::REGISTRY_ROLE),
                ..Default::default()
            }
        } else {
            ListFilter::default()
        };
        let listing = self.engine.list_containers(&filter).await?;
        let mut nodes = Vec::new();
        let mut registries = Vec::new();
        let mut graphs: HashMap<String, String> = HashMap::new();
        for c in listing.containers {
            match c.labels.get(labels::ROLE).map(String::as_str) {
                Some(labels::REGISTRY_ROLE) => {
                    if !self.ours(&c.labels, labels::REGISTRY_ROLE) {
                        continue;
                    }
                    let Some(generation) = c
                        .labels
                        .get(labels::GENERATION)
                        .and_then(|g| g.parse().ok())
                    else {
                        continue;
                    };
                    if let Some(g) = c.labels.get(labels::GRAPH) {
                        graphs.insert(c.id.clone(), g.clone());
                    }
                    registries.push(Registry {
                        generation,
                        id: c.id,
                        state: c.state,
                        created: c.created,
                        image: c.image_id,
                        volumes: c.volumes,
                    });
                }
                // The plugin's own machinery (watcher, proxies, readers) has no names to give.
                Some(_) => {}
                None => nodes.push(node_of(&c)),
            }
        }
        registries.sort_by_key(|r| r.generation);
        let mut warnings = Vec::new();
        let committed = registries
            .iter()
            .filter(|r| r.state.ever_started())
            .max_by_key(|r| r.generation)
            .cloned();
        let (generation, payload, origin) = match &committed {
            Some(r) => {
                let label = graphs.get(&r.id).map(String::as_str).unwrap_or_default();
                let payload = codec::decode(label).with_context(|| {
                    format!("reading the registry {}", self.container_name(r.generation))
                })?;
                if !light && !matches!(r.state, State::Running | State::Restarting | State::Paused)
                {
                    // Stopped (a daemon restart that brought nothing back, `docker stop`):
                    // `docker container prune` would take it. It is the graph: start it.
                    match self.engine.start_container(&r.id).await {
                        Ok(()) => tracing::info!(
                            "started the registry {} again (it was {})",
                            self.container_name(r.generation),
                            r.state.as_str()
                        ),
                        Err(e) => warnings.push(format!(
                            "the registry {} is {} and could not be started ({e}): `docker container prune` would remove the graph",
                            self.container_name(r.generation),
                            r.state.as_str()
                        )),
                    }
                }
                (r.generation, payload, Origin::Committed)
            }
            None if light => (0, Payload::default(), Origin::Missing),
            None => match self.read_copy().await? {
                // The copy is written by a generation's own process, so its generation was
                // started: one still listed as created is being started right now.
                Some((generation, payload))
                    if registries.iter().any(|r| r.generation == generation) =>
                {
                    (generation, payload, Origin::Committed)
                }
                // Listed before a concurrent write made that generation (the first write of
                // a graph, while this read made its reader): it is there now, committed.
                Some((generation, payload)) if self.listed_now(generation).await? => {
                    (generation, payload, Origin::Committed)
                }
                Some((generation, payload)) => {
                    // The first write of a graph in flight is no loss.
                    let in_flight = registries.iter().any(|r| {
                        !r.state.ever_started()
                            && listing
                                .server_time
                                .is_some_and(|now| now - r.created < ABANDONED_AFTER)
                    });
                    if !in_flight {
                        warnings.push(format!(
                            "no registry generation is left (removed by `docker container prune`?): the graph was \
                             read from its copy in the volume {} (generation {generation}); the next write restores \
                             the registry",
                            self.copy_volume()
                        ));
                    }
                    (generation, payload, Origin::Copy { generation })
                }
                None => (0, Payload::default(), Origin::Missing),
            },
        };
        let mut payload = payload;
        if payload.stored.schema == 0 {
            payload.stored = Stored::new();
        }
        let view = View::build(nodes, &payload.stored);
        Ok(Snapshot {
            generation,
            payload,
            view,
            origin,
            registries,
            server_time: listing.server_time,
            warnings,
            light,
            scoped: false,
        })
    }

    /// Reads the graph and only the containers `scope` names, instead of every container: the
    /// registry containers, the containers that declare names or links (labels), and those
    /// matching the scope's names (docker names, edges of those names) and ids. A few small
    /// filtered listings where one listing of everything costs the daemon in proportion to
    /// its containers: what lets many writers at once on a large daemon land quickly. Reads
    /// everything when no generation is committed (the fallbacks need it).
    pub async fn load_scoped(&self, scope: &Scope) -> anyhow::Result<Snapshot> {
        let mut snap = self.read(true).await?;
        if snap.origin != Origin::Committed {
            return self.load().await;
        }
        let mut found: BTreeMap<String, ContainerSummary> = BTreeMap::new();
        for label in [labels::NAMES, labels::LINKS] {
            let listing = self
                .engine
                .list_containers(&ListFilter {
                    labels: vec![label.to_string()],
                    ..Default::default()
                })
                .await?;
            found.extend(listing.containers.into_iter().map(|c| (c.id.clone(), c)));
        }
        let declared: Vec<Node> = found.values().map(node_of).collect();
        let stored = &snap.payload.stored;
        let elements: BTreeSet<&str> = scope
            .args
            .iter()
            .flat_map(|a| elements(a))
            .chain(scope.names.iter().map(String::as_str))
            .collect();
        // Ids: those given, the ends of every edge (stored or declared) named like an element,
        // and id prefixes among the elements.
        let mut ids: BTreeSet<String> = scope.ids.iter().cloned().collect();
        let declared_edges = declared.iter().flat_map(super::model::declared);
        for e in stored.edges.iter().cloned().chain(declared_edges) {
            if elements.contains(e.name.as_str()) {
                ids.insert(e.child.clone());
                if e.parent != ROOT {
                    ids.insert(e.parent.clone());
                }
            }
        }
        for e in &elements {
            if !e.is_empty() && e.len() <= 64 && e.bytes().all(|b| b.is_ascii_hexdigit()) {
                ids.insert(e.to_string());
            }
        }
        let names: Vec<String> = elements
            .iter()
            .filter(|e| !e.is_empty())
            .map(|e| format!("^/{}$", regex_escape(e)))
            .collect();
        if names.len() > MAX_NAME_PATTERNS {
            return self.load().await;
        }
        let mut named: BTreeSet<String> = BTreeSet::new();
        for filter in [
            ListFilter {
                ids: ids.into_iter().collect(),
                ..Default::default()
            },
            ListFilter {
                names,
                ..Default::default()
            },
        ] {
            if filter.ids.is_empty() && filter.names.is_empty() {
                continue;
            }
            let listing = self.engine.list_containers(&filter).await?;
            named.extend(listing.containers.iter().map(|c| c.id.clone()));
            found.extend(listing.containers.into_iter().map(|c| (c.id.clone(), c)));
        }
        // One hop further: realizing a parent's links needs every child of it in the view
        // (one missing would be taken for gone and disconnected), and a child's parents are
        // what a removal or rename realizes again.
        let edges = stored
            .edges
            .iter()
            .cloned()
            .chain(declared.iter().flat_map(super::model::declared));
        let neighbours: BTreeSet<String> = edges
            .filter(|e| e.parent != ROOT)
            .flat_map(|e| {
                let mut out = Vec::new();
                if named.contains(&e.parent) {
                    out.push(e.child.clone());
                }
                if named.contains(&e.child) {
                    out.push(e.parent.clone());
                }
                out
            })
            .filter(|id| !found.contains_key(id))
            .collect();
        // And any container whose docker name is an extra name of the named ones: it hides
        // that name, which the user is told.
        let hiding: Vec<String> = stored
            .edges
            .iter()
            .filter(|e| e.parent == ROOT && named.contains(&e.child))
            .map(|e| format!("^/{}$", regex_escape(&e.name)))
            .collect();
        if hiding.len() > MAX_NAME_PATTERNS {
            return self.load().await;
        }
        for filter in [
            ListFilter {
                ids: neighbours.into_iter().collect(),
                ..Default::default()
            },
            ListFilter {
                names: hiding,
                ..Default::default()
            },
        ] {
            if filter.ids.is_empty() && filter.names.is_empty() {
                continue;
            }
            let listing = self.engine.list_containers(&filter).await?;
            found.extend(listing.containers.into_iter().map(|c| (c.id.clone(), c)));
        }
        let nodes: Vec<Node> = found
            .values()
            .filter(|c| !c.labels.contains_key(labels::ROLE))
            .map(node_of)
            .collect();
        snap.view = View::build(nodes, stored);
        snap.light = false;
        snap.scoped = true;
        Ok(snap)
    }

    /// Whether a registry generation `generation` or newer is listed now.
    async fn listed_now(&self, generation: u64) -> anyhow::Result<bool> {
        let listing = self
            .engine
            .list_containers(&ListFilter {
                labels: self.filter(labels::REGISTRY_ROLE),
                ..Default::default()
            })
            .await?;
        Ok(listing
            .containers
            .iter()
            .filter_map(|c| c.labels.get(labels::GENERATION)?.parse::<u64>().ok())
            .any(|g| g >= generation))
    }

    /// The newest graph in the copy's volume, read through a container that is never started.
    async fn read_copy(&self) -> anyhow::Result<Option<(u64, Payload)>> {
        let volumes = self
            .engine
            .list_volumes(&self.filter(labels::GRAPH_COPY_ROLE))
            .await?;
        if !volumes.iter().any(|v| v.name == self.copy_volume()) {
            return Ok(None);
        }
        let image = self.engine.empty_image().await?;
        let spec = ContainerSpec {
            name: format!(
                "docker-link-graph-reader-{:012x}",
                crate::random_u64() & 0xffff_ffff_ffff
            ),
            image,
            labels: self.labels(labels::READER_ROLE),
            no_network: true,
            volume: Some((self.copy_volume(), COPY_DIR.to_string())),
            ..Default::default()
        };
        let id = self.engine.create_container(&spec).await?;
        let tar = self.engine.get_archive(&id, COPY_DIR).await;
        if let Err(e) = remove_if_present(self.engine, &id, true).await {
            tracing::debug!("removing the graph reader: {e}");
        }
        let Some((generation, label)) = copy::newest_in_tar(&tar?) else {
            return Ok(None);
        };
        let payload = codec::decode(&label).with_context(|| {
            format!(
                "reading the graph's copy in the volume {}",
                self.copy_volume()
            )
        })?;
        Ok(Some((generation, payload)))
    }

    fn labels(&self, role: &str) -> Labels {
        Labels::from([
            (labels::ROLE.to_string(), role.to_string()),
            (labels::NAMESPACE.to_string(), self.ns.clone()),
        ])
    }

    /// Writes `op` by compare-and-swap. `first` is a snapshot the caller has just read: the
    /// first attempt uses it instead of reading again (a stale one only costs a lost race).
    /// Returns once the op is in a committed generation, or refused (its error), or the write
    /// was interrupted before it was committed ([`Interrupted`]).
    pub async fn write(&self, first: Option<Snapshot>, op: Op) -> anyhow::Result<Written> {
        let mut first = first;
        let started = Instant::now();
        let mut intent: Option<String> = None;
        let mut attempt: u32 = 0;
        let mut seen: HashMap<String, Instant> = HashMap::new();
        let mut progress = (0u64, Instant::now());
        let mut warnings = Vec::new();
        // The containers of the last full read.
        let mut containers: Option<View> = None;
        // Registry starts and removals, which end a wait: subscribed when the first wait begins.
        let mut events = Wake::Unsubscribed;
        let result = loop {
            tracing::debug!(
                "write round: {attempt} pause(s), {} ms, intent {intent:?}",
                started.elapsed().as_millis()
            );
            if self.cancel.is_cancelled() {
                break match &intent {
                    None => Err(Interrupted("nothing was written".into()).into()),
                    Some(name) => self.withdraw(name, &op, &containers).await,
                };
            }
            if started.elapsed() > WRITE_DEADLINE {
                break Err(anyhow::anyhow!(
                    "the registry is too busy: gave up after {attempt} attempts in {}s",
                    WRITE_DEADLINE.as_secs()
                ));
            }
            // The caller's own read first; then only the registry containers, until leading.
            let snap = match first.take() {
                Some(s) => s,
                None => match self.read(true).await {
                    Ok(s) => s,
                    Err(e) => break Err(e),
                },
            };
            if !snap.light {
                containers = Some(snap.view.clone());
            }
            if let Some(name) = &intent {
                if snap.payload.outcome(name).is_some() {
                    break self
                        .landed(&snap, name, &op, &containers, std::mem::take(&mut warnings))
                        .await;
                }
            }
            if snap.generation != progress.0 {
                progress = (snap.generation, Instant::now());
            }
            match self.in_flight(&snap, &mut seen, &mut warnings).await {
                Ok(false) => {}
                Ok(true) => {
                    // Someone is writing: wait for its commit (or for it to be abandoned).
                    // Nothing is handed over yet, so a writer killed while it waits here
                    // leaves nothing that a later leader could apply (the in-flight write may
                    // be a leftover of a killed writer, and `kill -9` cannot take an intent
                    // back).
                    self.pause(&mut attempt, &mut events).await;
                    continue;
                }
                Err(e) => break Err(e),
            }
            let intents = match self.intents(&snap).await {
                Ok(i) => i,
                Err(e) => break Err(e),
            };
            if intent.is_none() && !intents.is_empty() {
                // Others wait already: queue behind them; their leader carries our op too.
                match self.publish(&op).await {
                    Ok(name) => intent = Some(name),
                    Err(e) => break Err(e),
                }
                self.pause(&mut attempt, &mut events).await;
                continue;
            }
            // Waiting writers let the oldest intent lead, unless it seems gone.
            if let Some(mine) = &intent {
                let rank = intents.iter().position(|i| i.name == *mine).unwrap_or(0);
                let stalled =
                    progress.1.elapsed() > LEADER_GONE + Duration::from_millis(200 * rank as u64);
                if rank > 0 && !stalled {
                    self.pause(&mut attempt, &mut events).await;
                    continue;
                }
            }
            if let Some(mine) = &intent {
                if !intents.iter().any(|i| i.name == *mine) {
                    // Gone without an outcome in the graph we just read: if a generation newer
                    // than that read applied it, the next read shows its outcome; if not, it
                    // was dropped, and this writer writes its op itself.
                    let fresh = match self.read(true).await {
                        Ok(s) => s,
                        Err(e) => break Err(e),
                    };
                    if fresh.payload.outcome(mine).is_some() || fresh.generation != snap.generation
                    {
                        continue;
                    }
                    intent = None;
                }
            }
            // To lead, read what the ops to apply touch (every container only for a purge): the
            // view they are checked against. The caller's own read serves when it is alone.
            let snap = if !snap.light && intents.is_empty() {
                snap
            } else {
                let own = if intent.is_some() { None } else { Some(&op) };
                let scope = Scope::of_ops(intents.iter().map(|i| &i.op).chain(own));
                let read = match &scope {
                    Some(scope) => self.load_scoped(scope).await,
                    None => self.load().await,
                };
                let read = match read {
                    Ok(s) => s,
                    Err(e) => break Err(e),
                };
                // A write may have started since the light read: then wait for it, as above.
                match self.in_flight(&read, &mut seen, &mut warnings).await {
                    Ok(false) => read,
                    Ok(true) => {
                        self.pause(&mut attempt, &mut events).await;
                        continue;
                    }
                    Err(e) => break Err(e),
                }
            };
            if intent
                .as_ref()
                .is_some_and(|mine| snap.payload.outcome(mine).is_some())
            {
                continue;
            }
            // Intents applied by the generation just read are done with.
            let intents: Vec<Intent> = intents
                .into_iter()
                .filter(|i| snap.payload.outcome(&i.name).is_none())
                .collect();
            let own = if intent.is_some() { None } else { Some(&op) };
            match self.lead(&snap, own, &intents).await {
                Ok(Lead::Committed(mut written, outcomes, own_result)) => {
                    written.warnings.append(&mut warnings);
                    // Leading as a waiter, our op was one of the intents.
                    let mine = match &intent {
                        Some(name) => outcomes
                            .iter()
                            .find(|o| o.intent == *name)
                            .and_then(|o| o.error.clone())
                            .map_or(Ok(()), Err),
                        None => own_result,
                    };
                    break match mine {
                        Ok(()) => Ok(written),
                        Err(e) => Err(anyhow::anyhow!("{e}")),
                    };
                }
                Ok(Lead::Unchanged(mut written)) => {
                    written.warnings.append(&mut warnings);
                    break Ok(written);
                }
                Ok(Lead::Refused(e)) => break Err(e),
                Ok(Lead::Lost) => {
                    // Another writer made the generation we wanted: hand our op to the next
                    // one, whoever makes it.
                    if intent.is_none() {
                        match self.publish(&op).await {
                            Ok(name) => intent = Some(name),
                            Err(e) => break Err(e),
                        }
                    }
                    self.pause(&mut attempt, &mut events).await;
                }
                Err(e) => break Err(e),
            }
        };
        if let Some(name) = &intent {
            // Applied (its outcome is committed) or not, it is done with.
            self.drop_intent(name).await;
        }
        result
    }

    /// Removes an intent; one already gone is fine.
    async fn drop_intent(&self, name: &str) {
        match self.engine.remove_volume(name).await {
            Err(e) if !e.is_not_found() => tracing::debug!("removing the intent {name}: {e}"),
            _ => {}
        }
    }

    /// What the committed outcome of the intent `name` (in `snap`) gives its writer: its error,
    /// or the graph as written over the containers of the writer's last full read (fresh
    /// enough for the links it touched: no full listing per waiter), else a read of what
    /// `op` touches.
    async fn landed(
        &self,
        snap: &Snapshot,
        name: &str,
        op: &Op,
        containers: &Option<View>,
        warnings: Vec<String>,
    ) -> anyhow::Result<Written> {
        if let Some(e) = snap.payload.outcome(name).and_then(|o| o.error.clone()) {
            anyhow::bail!("{e}");
        }
        let mut written = self.written(snap, true, warnings);
        let view = match containers {
            Some(v) => v.clone(),
            None => match Scope::of_ops([op]) {
                Some(scope) => self.load_scoped(&scope).await?.view,
                None => self.load().await?.view,
            },
        };
        written.view = view.with(&snap.payload.stored);
        Ok(written)
    }

    /// An interrupted writer's intent: taken back, so no later leader applies it. A leader may
    /// have carried it already: then the outcome it committed is the answer, and a generation
    /// still in flight may carry it.
    async fn withdraw(
        &self,
        name: &str,
        op: &Op,
        containers: &Option<View>,
    ) -> anyhow::Result<Written> {
        self.drop_intent(name).await;
        let snap = self.read(true).await?;
        if snap.payload.outcome(name).is_some() {
            return self.landed(&snap, name, op, containers, Vec::new()).await;
        }
        let in_flight = snap
            .registries
            .iter()
            .any(|r| !r.state.ever_started() && r.generation > snap.generation);
        Err(Interrupted(if in_flight {
            "a write in flight may still carry this change (see `docker ls`)".into()
        } else {
            "nothing was written".into()
        })
        .into())
    }

    fn written(&self, snap: &Snapshot, changed: bool, warnings: Vec<String>) -> Written {
        Written {
            generation: snap.generation,
            stored: snap.payload.stored.clone(),
            view: snap.view.clone(),
            changed,
            warnings,
        }
    }

    /// Whether a write is in flight (a generation newer than the committed one, created and not
    /// yet started). Leftovers of interrupted writes are removed on the way.
    async fn in_flight(
        &self,
        snap: &Snapshot,
        seen: &mut HashMap<String, Instant>,
        warnings: &mut Vec<String>,
    ) -> anyhow::Result<bool> {
        let mut busy = false;
        for r in snap.registries.iter().filter(|r| !r.state.ever_started()) {
            let first_seen = *seen.entry(r.id.clone()).or_insert_with(Instant::now);
            let abandoned = match snap.server_time {
                Some(now) => now - r.created >= ABANDONED_AFTER,
                None => first_seen.elapsed() >= ABANDONED_LOCAL,
            };
            if !abandoned {
                busy |= r.generation > snap.generation;
                continue;
            }
            // Without force: a generation that its writer started meanwhile stays.
            match self.engine.remove_container(&r.id, false).await {
                Ok(()) => {
                    if r.generation > snap.generation {
                        warnings.push(format!(
                            "removed {}, left uncommitted by an interrupted write: its change was not applied",
                            self.container_name(r.generation)
                        ));
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) if e.is_conflict() => busy = true,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(busy)
    }

    /// Hands `op` to whoever makes the next generation.
    async fn publish(&self, op: &Op) -> anyhow::Result<String> {
        let name = format!(
            "docker-link-intent-{}-{:016x}",
            self.ns,
            crate::random_u64()
        );
        let mut labels = self.labels(labels::INTENT_ROLE);
        labels.insert(
            labels::OP.to_string(),
            serde_json::to_string(op).context("encoding the write")?,
        );
        self.engine.create_volume(&name, &labels).await?;
        tracing::debug!("published the intent {name}");
        Ok(name)
    }

    /// Pending intents, oldest first. Those already applied (their outcome is committed) and
    /// those of writers long gone are removed.
    async fn intents(&self, snap: &Snapshot) -> anyhow::Result<Vec<Intent>> {
        let volumes = self
            .engine
            .list_volumes(&self.filter(labels::INTENT_ROLE))
            .await?;
        let mut out = Vec::new();
        for v in volumes {
            let created = v
                .created_at
                .as_deref()
                .and_then(crate::docker::clock::rfc3339)
                .or(snap.server_time)
                .unwrap_or_default();
            let expired = snap
                .server_time
                .is_some_and(|now| now - created > INTENT_TTL);
            let op = v
                .labels
                .get(labels::OP)
                .and_then(|j| serde_json::from_str::<Op>(j).ok());
            match op {
                Some(op) if !expired && snap.payload.outcome(&v.name).is_none() => {
                    out.push(Intent {
                        name: v.name,
                        created,
                        op,
                    });
                }
                _ => self.drop_intent(&v.name).await,
            }
        }
        out.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        Ok(out)
    }

    /// Tries to make the next generation from `snap`: pending intents, then `own`.
    async fn lead(
        &self,
        snap: &Snapshot,
        own: Option<&Op>,
        intents: &[Intent],
    ) -> anyhow::Result<Lead> {
        let mut base = snap.payload.stored.clone();
        // graphdb purges a removed container's edges; we do it lazily, on writes that read
        // every container (a scoped read does not see the others: it must not drop them).
        if !snap.scoped {
            base.purge(&|id| snap.view.nodes.contains_key(id));
        }
        let ops: Vec<&Op> = intents.iter().map(|i| &i.op).chain(own).collect();
        let (next, view, outcomes) = apply_all(&base, &snap.view, ops);
        let own_result = match own {
            Some(_) => outcomes
                .last()
                .cloned()
                .unwrap_or(Ok(()))
                .map_err(|e| e.to_string()),
            None => Ok(()),
        };
        if intents.is_empty() {
            if let Err(e) = &own_result {
                return Ok(Lead::Refused(anyhow::anyhow!("{e}")));
            }
            if next == snap.payload.stored && snap.origin == Origin::Committed {
                let mut w = self.written(snap, false, Vec::new());
                w.view = view;
                return Ok(Lead::Unchanged(w));
            }
        }
        let now = snap.server_time.unwrap_or_else(crate::docker::clock::now);
        let mut payload = Payload {
            stored: next,
            outcomes: snap.payload.outcomes.clone(),
        };
        for (i, o) in intents.iter().zip(&outcomes) {
            payload.outcomes.push(Outcome {
                intent: i.name.clone(),
                at: now,
                error: o.as_ref().err().map(|e| e.to_string()),
            });
        }
        payload.expire(now);
        // Always the base's successor: generation N is built on N-1 as committed, so a write in
        // flight under that number (not yet committed) makes this one lose, never skip it.
        let generation = snap.generation + 1;
        let t0 = Instant::now();
        let created = self.create(snap, generation, &payload).await;
        tracing::debug!(
            "creating generation {generation}: {} ms",
            t0.elapsed().as_millis()
        );
        let id = match created? {
            Some(id) => id,
            None => return Ok(Lead::Lost),
        };
        let created = t0.elapsed();
        // A generation's name is free again once it was superseded and removed: a writer that
        // read before that must not slip in under the newest one.
        let newer = self
            .engine
            .list_containers(&ListFilter {
                labels: self.filter(labels::REGISTRY_ROLE),
                ..Default::default()
            })
            .await?
            .containers
            .iter()
            .filter_map(|c| c.labels.get(labels::GENERATION)?.parse::<u64>().ok())
            .any(|g| g > generation);
        if newer {
            remove_if_present(self.engine, &id, true).await?;
            return Ok(Lead::Lost);
        }
        let checked = t0.elapsed();
        // Commit: start it. Generations older than the base are superseded by a committed
        // one already: they go at the same time. The base stays until the next write.
        let superseded: Vec<&Registry> = snap
            .registries
            .iter()
            .filter(|r| r.generation < snap.generation)
            .collect();
        let cleanup = async {
            for r in superseded {
                if let Err(e) = remove_if_present(self.engine, &r.id, true).await {
                    tracing::debug!("removing an old registry generation: {e}");
                }
            }
        };
        let (started, ()) = tokio::join!(self.engine.start_container(&id), cleanup);
        match started {
            Ok(()) => {}
            // Taken for a leftover by another writer (removed, or being removed: the daemon
            // refuses to start a container marked for removal): our change is not in.
            Err(e) if e.is_not_found() || e.is_conflict() => {
                let _ = remove_if_present(self.engine, &id, true).await;
                return Ok(Lead::Lost);
            }
            Err(e) => {
                let _ = remove_if_present(self.engine, &id, true).await;
                return Err(anyhow::Error::new(e)
                    .context(format!("committing {}", self.container_name(generation))));
            }
        }
        tracing::debug!(
            "committed {} with {} intent(s): create {} ms, newer-check {} ms, start {} ms",
            self.container_name(generation),
            intents.len(),
            created.as_millis(),
            (checked - created).as_millis(),
            (t0.elapsed() - checked).as_millis()
        );
        // Their outcomes are committed: the intents are done with (their writers remove them
        // too, once they have read their outcome; whoever is first).
        let removals = intents.iter().map(|i| self.drop_intent(&i.name));
        futures_util::future::join_all(removals).await;
        let written = Written {
            generation,
            stored: payload.stored,
            view,
            changed: true,
            warnings: Vec::new(),
        };
        Ok(Lead::Committed(written, payload.outcomes, own_result))
    }

    /// Creates generation `generation`'s container; None when another writer has it.
    async fn create(
        &self,
        snap: &Snapshot,
        generation: u64,
        payload: &Payload,
    ) -> anyhow::Result<Option<String>> {
        let image = match snap
            .newest()
            .map(|r| r.image.clone())
            .filter(|i| !i.is_empty())
        {
            Some(image) => image,
            None => self
                .engine
                .self_image()
                .await
                .context("preparing the registry image")?,
        };
        let volume = self.copy_volume();
        if !snap.newest().is_some_and(|r| r.volumes.contains(&volume)) {
            self.engine
                .create_volume(&volume, &self.labels(labels::GRAPH_COPY_ROLE))
                .await?;
        }
        let graph = codec::encode(payload);
        let mut labels = self.labels(labels::REGISTRY_ROLE);
        labels.insert(labels::GENERATION.to_string(), generation.to_string());
        labels.insert(labels::GRAPH.to_string(), graph.clone());
        let name = self.container_name(generation);
        let spec = ContainerSpec {
            name: name.clone(),
            image,
            // The self image's entrypoint is the binary itself.
            cmd: vec![
                IDLE_ARG.to_string(),
                "--copy".to_string(),
                format!("{COPY_DIR}/{}", copy::file_name(generation)),
            ],
            env: vec![format!("{GRAPH_ENV}={graph}")],
            labels,
            keep_running: true,
            no_network: true,
            volume: Some((volume, COPY_DIR.to_string())),
            ..Default::default()
        };
        match self.engine.create_container(&spec).await {
            Ok(id) => Ok(Some(id)),
            // The daemon's unique names make exactly one writer of a generation win.
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("writing the registry {name}"))),
        }
    }

    /// Waits for the next attempt: until a registry generation of this graph starts or goes
    /// (the daemon's events), or a jittered backstop passes (an abandoned write has no event,
    /// and an event may come before the subscription), or cancellation.
    async fn pause(&self, attempt: &mut u32, wake: &mut Wake) {
        use futures_util::StreamExt;
        *attempt += 1;
        if matches!(wake, Wake::Unsubscribed) {
            *wake = Wake::Events(self.engine.events(&EventFilter {
                kinds: vec!["container".into()],
                labels: self.filter(labels::REGISTRY_ROLE),
                actions: vec!["start".into(), "destroy".into()],
                since: None,
            }));
        }
        let jitter = crate::random_u64() % 100;
        let backstop = match wake {
            Wake::Events(_) => Duration::from_millis(300 + jitter),
            // Without events: poll, growing with the attempts.
            _ => Duration::from_millis(30 * u64::from((*attempt).min(6)) + jitter / 2),
        };
        let t0 = Instant::now();
        let ended = match wake {
            Wake::Events(stream) => tokio::select! {
                next = stream.next() => matches!(next, None | Some(Err(_))),
                _ = tokio::time::sleep(backstop) => false,
                _ = self.cancel.cancelled() => false,
            },
            _ => {
                self.cancel.sleep(backstop).await;
                false
            }
        };
        tracing::debug!("paused {} ms", t0.elapsed().as_millis());
        if ended {
            // The stream ended (a daemon that closes it): poll from now on.
            *wake = Wake::Polling;
        }
    }

    /// Removes every generation but the newest committed one, and leftovers of interrupted
    /// writes (`docker link prune`); returns how many.
    pub async fn prune(&self) -> anyhow::Result<usize> {
        let snap = self.load().await?;
        let mut removed = 0;
        for r in &snap.registries {
            let keep = r.generation == snap.generation && r.state.ever_started();
            // A generation newer than the committed one may be a write in flight.
            let young = !r.state.ever_started()
                && r.generation > snap.generation
                && snap
                    .server_time
                    .is_none_or(|now| now - r.created < ABANDONED_AFTER);
            if keep || young {
                continue;
            }
            match remove_if_present(self.engine, &r.id, true).await {
                Ok(()) => removed += 1,
                Err(e) if e.is_conflict() => {
                    // "removal already in progress": someone else is removing it.
                    tracing::debug!("{e}");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::EngineError;
    use crate::docker::fake::Fake;
    use crate::graph::model::{Edge, ROOT};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn name(id: &str, n: &str) -> Op {
        Op::Add {
            edge: Edge {
                parent: ROOT.into(),
                name: n.into(),
                child: id.into(),
            },
        }
    }

    fn store(fake: &Fake) -> Store<'_, Fake> {
        Store::new(fake, "t", Cancel::new())
    }

    /// The names the graph gives, as a reader sees them.
    async fn names(fake: &Fake) -> Vec<String> {
        let snap = store(fake).load().await.unwrap();
        let mut v: Vec<String> = snap
            .view
            .edges
            .iter()
            .filter(|(_, (_, s))| *s == crate::graph::model::Source::Registry)
            .map(|((_, n), _)| n.clone())
            .collect();
        v.sort();
        v
    }

    fn registries(fake: &Fake) -> Vec<(String, State)> {
        let mut v = fake.names(labels::REGISTRY_ROLE);
        v.sort();
        v
    }

    #[test]
    fn a_write_is_committed_by_starting_its_generation() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            let w = store(&fake).write(None, name(&c, "db1")).await.unwrap();
            assert!(w.changed);
            assert_eq!(w.generation, 1);
            assert_eq!(names(&fake).await, ["db1"]);
            assert_eq!(
                registries(&fake),
                [("docker-link-registry-t-1".to_string(), State::Running)]
            );
            // The registry's process wrote the copy.
            let copy = fake.world().volumes["docker-link-graph-t"].files.clone();
            assert_eq!(copy.keys().collect::<Vec<_>>(), ["graph-1"]);
            // The same write again changes nothing and writes nothing.
            let calls = fake.world().calls.len();
            let w = store(&fake).write(None, name(&c, "db1")).await.unwrap();
            assert!(!w.changed);
            assert!(!fake.world().calls[calls..]
                .iter()
                .any(|c| c.starts_with("create_container")));
            // Two more: the older generation goes when the newer one's successor is committed.
            store(&fake).write(None, name(&c, "db2")).await.unwrap();
            store(&fake).write(None, name(&c, "db3")).await.unwrap();
            assert_eq!(
                registries(&fake),
                [
                    ("docker-link-registry-t-2".to_string(), State::Running),
                    ("docker-link-registry-t-3".to_string(), State::Running)
                ]
            );
            assert_eq!(names(&fake).await, ["db1", "db2", "db3"]);
        });
    }

    #[test]
    fn a_refused_write_writes_nothing() {
        let fake = Fake::new();
        let (a, b) = (fake.run("a", &[], &[]), fake.run("b", &[], &[]));
        rt().block_on(async {
            store(&fake).write(None, name(&a, "x1")).await.unwrap();
            let err = store(&fake).write(None, name(&b, "x1")).await.unwrap_err();
            assert!(err.to_string().contains("already taken"), "{err}");
            assert_eq!(registries(&fake).len(), 1);
        });
    }

    /// A graph holding "before", then a write of `during` whose daemon stops answering after
    /// `step` calls (and answers again after it): what that write returned.
    async fn crashed_write(
        fake: &Fake,
        c: &str,
        step: usize,
        during: &str,
    ) -> anyhow::Result<Written> {
        store(fake).write(None, name(c, "before")).await.unwrap();
        fake.crash_after(step);
        let result = store(fake).write(None, name(c, during)).await;
        fake.heal();
        result
    }

    /// The plugin killed at every step of a write: afterwards the change is there or it is
    /// not, nothing else moved, and neither `docker container prune` nor the next write loses
    /// anything.
    #[test]
    fn interrupted_at_every_step() {
        for step in 0..12 {
            let fake = Fake::new();
            let c = fake.run("c", &[], &[]);
            rt().block_on(async {
                let result = crashed_write(&fake, &c, step, "during").await;
                let seen = names(&fake).await;
                match &result {
                    Ok(_) => assert_eq!(seen, ["before", "during"], "step {step}"),
                    Err(_) => assert!(
                        seen == ["before"] || seen == ["before", "during"],
                        "step {step}: {seen:?}"
                    ),
                }
                // `docker container prune` right away: what readers saw survives.
                fake.prune_containers();
                assert_eq!(names(&fake).await, seen, "step {step}: lost by prune");
                // The next write, after the leftover is old, lands exactly.
                fake.advance(ABANDONED_AFTER + 1);
                let w = store(&fake).write(None, name(&c, "after")).await.unwrap();
                let mut want = seen.clone();
                want.push("after".into());
                want.sort();
                assert_eq!(names(&fake).await, want, "step {step}");
                assert!(w.warnings.iter().all(|w| w.contains("interrupted write")));
                // Nothing uncommitted is left behind.
                assert!(
                    registries(&fake).iter().all(|(_, s)| *s == State::Running),
                    "step {step}: {:?}",
                    registries(&fake)
                );
            });
        }
    }

    fn edge(parent: &str, n: &str, child: &str) -> Edge {
        Edge {
            parent: parent.into(),
            name: n.into(),
            child: child.into(),
        }
    }

    /// A scoped read shows the containers the user named (by docker name, extra name, path
    /// or id prefix), one hop of their links, and nothing else.
    #[test]
    fn a_scoped_read_holds_what_was_named_and_its_neighbours() {
        let fake = Fake::new();
        let web = fake.run("web", &[], &[]);
        let db = fake.run("db", &[], &[]);
        let cache = fake.run("cache", &[], &[]);
        let other = fake.run("other", &[], &[]);
        let lonely = fake.run("lonely", &[], &[]);
        rt().block_on(async {
            let ops = Op::Batch {
                ops: vec![
                    name(&db, "db1"),
                    name(&other, "o1"),
                    Op::Add {
                        edge: edge(&web, "redis", &db),
                    },
                    Op::Add {
                        edge: edge(&web, "kv", &cache),
                    },
                ],
            };
            store(&fake).write(None, ops).await.unwrap();
            // Made after o1 was given: its docker name hides the extra name.
            let _hider = fake.run("o1", &[], &[]);
            let table: &[(&[&str], &[&str])] = &[
                // An extra name: its container, and the parent linking to it.
                (&["db1"], &["db", "web"]),
                // A path: the parent by docker name, and every child of that parent.
                (&["web/redis"], &["cache", "db", "web"]),
                // An alias alone: the link's ends, and the parent's other children.
                (&["kv"], &["cache", "db", "web"]),
                // An id prefix.
                (&[&other[..other.len() - 4]], &["o1", "other"]),
                (&["lonely", "o1"], &["lonely", "o1", "other"]),
                // A name nobody has: nobody.
                (&["nobody"], &[]),
                // A regex character in a name is a literal.
                (&["d.1"], &[]),
                // A container whose docker name is an extra name of a named one.
                (&["other"], &["o1", "other"]),
            ];
            for (args, want) in table {
                let snap = store(&fake)
                    .load_scoped(&Scope::of_args(args))
                    .await
                    .unwrap();
                let mut seen: Vec<&str> = snap
                    .view
                    .nodes
                    .values()
                    .flat_map(|n| n.names.iter().map(String::as_str))
                    .collect();
                seen.sort();
                assert_eq!(seen, *want, "{args:?}");
                assert!(snap.scoped);
            }
            // More names than the daemon's name filter serves cheaply: everything is read.
            let many = ["a", "b", "c", "d", "db1"];
            assert!(many.len() > MAX_NAME_PATTERNS);
            let snap = store(&fake)
                .load_scoped(&Scope::of_args(&many))
                .await
                .unwrap();
            assert!(!snap.scoped);
            assert_eq!(snap.view.nodes.len(), 6, "every container");
            let _ = lonely;
        });
    }

    /// A write that read only its own containers keeps the names of every other one (a
    /// scoped view must never be taken for "those containers are gone").
    #[test]
    fn a_scoped_write_keeps_what_it_did_not_read() {
        let fake = Fake::new();
        let a = fake.run("a", &[], &[]);
        let b = fake.run("b", &[], &[]);
        rt().block_on(async {
            store(&fake).write(None, name(&a, "a1")).await.unwrap();
            let first = store(&fake)
                .load_scoped(&Scope::of_args(&["b", "b1"]))
                .await
                .unwrap();
            assert!(!first.view.nodes.contains_key(&a));
            store(&fake)
                .write(Some(first), name(&b, "b1"))
                .await
                .unwrap();
            assert_eq!(names(&fake).await, ["a1", "b1"]);
        });
    }

    /// A slow writer whose generation another writer took for a leftover: the daemon refuses
    /// to start a container marked for removal; the writer tries again and lands.
    #[test]
    fn a_generation_removed_under_its_writer_is_written_again() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            store(&fake).write(None, name(&c, "one")).await.unwrap();
            fake.fail_on(
                "start_container",
                EngineError::Conflict {
                    what: "starting container".into(),
                    message: "container is marked for removal and cannot be started".into(),
                },
            );
            let w = store(&fake).write(None, name(&c, "two")).await.unwrap();
            assert!(w.warnings.is_empty(), "{:?}", w.warnings);
            assert_eq!(names(&fake).await, ["one", "two"]);
            assert!(registries(&fake).iter().all(|(_, s)| *s == State::Running));
        });
    }

    #[test]
    fn a_leftover_is_reported_and_removed() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            store(&fake).write(None, name(&c, "one")).await.unwrap();
            // Killed between creating generation 2 and starting it.
            let creates = |f: &Fake| {
                f.world()
                    .calls
                    .iter()
                    .filter(|c| c.starts_with("create_container"))
                    .count()
            };
            let before = creates(&fake);
            let mut step = 0;
            loop {
                fake.crash_after(step);
                let _ = store(&fake).write(None, name(&c, "two")).await;
                fake.heal();
                if creates(&fake) > before
                    && registries(&fake).iter().any(|(_, s)| *s == State::Created)
                {
                    break;
                }
                step += 1;
                assert!(step < 20, "never stopped between create and start");
            }
            // Readers never take it for the graph.
            assert_eq!(names(&fake).await, ["one"]);
            fake.advance(ABANDONED_AFTER + 1);
            let w = store(&fake).write(None, name(&c, "three")).await.unwrap();
            assert!(
                w.warnings.iter().any(
                    |m| m.contains("docker-link-registry-t-2") && m.contains("was not applied")
                ),
                "{:?}",
                w.warnings
            );
            assert_eq!(names(&fake).await, ["one", "three"]);
        });
    }

    #[test]
    fn a_stale_writer_never_slips_under_the_newest_generation() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            store(&fake).write(None, name(&c, "aa")).await.unwrap();
            let stale = store(&fake).load().await.unwrap();
            for n in ["bb", "c2", "dd"] {
                store(&fake).write(None, name(&c, n)).await.unwrap();
            }
            // Generation 2 was removed by cleanup: the stale writer can create it, then finds
            // the newer ones, backs off, and lands on top of them.
            store(&fake)
                .write(Some(stale), name(&c, "ee"))
                .await
                .unwrap();
            assert_eq!(names(&fake).await, ["aa", "bb", "c2", "dd", "ee"]);
        });
    }

    #[test]
    fn the_graph_survives_stop_and_prune_through_its_copy() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            store(&fake).write(None, name(&c, "aa")).await.unwrap();
            store(&fake).write(None, name(&c, "bb")).await.unwrap();
            // `docker stop $(docker ps -q); docker container prune -f`.
            fake.stop_all();
            fake.prune_containers();
            let c = fake.run("c-again", &[], &[]);
            assert!(registries(&fake).is_empty());
            let snap = store(&fake).load().await.unwrap();
            assert_eq!(snap.origin, Origin::Copy { generation: 2 });
            assert!(snap.warnings[0].contains("copy"), "{:?}", snap.warnings);
            // The container the names belonged to is gone too: they are purged on the next
            // write, and the registry is back.
            let w = store(&fake).write(None, name(&c, "cc")).await.unwrap();
            assert_eq!(w.generation, 3);
            let snap = store(&fake).load().await.unwrap();
            assert_eq!(snap.origin, Origin::Committed);
            assert!(snap.warnings.is_empty());
        });
    }

    #[test]
    fn a_stopped_registry_is_started_again() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            store(&fake).write(None, name(&c, "aa")).await.unwrap();
            // dockerd killed: nothing came back ("restart canceled").
            fake.restart_daemon(false);
            assert!(registries(&fake).iter().all(|(_, s)| *s == State::Exited));
            // Reading the graph starts the registry again; the names are all there.
            assert_eq!(names(&fake).await, ["aa"]);
            assert!(registries(&fake).iter().all(|(_, s)| *s == State::Running));
            fake.prune_containers();
            assert_eq!(registries(&fake).len(), 1);
        });
    }

    #[test]
    fn many_writers_land_exactly() {
        let fake = Fake::new();
        let ids: Vec<String> = (0..30)
            .map(|i| fake.run(&format!("c{i}"), &[], &[]))
            .collect();
        rt().block_on(async {
            // 30 distinct names at once.
            let writes = ids.iter().enumerate().map(|(i, id)| {
                let fake = fake.clone();
                let op = name(id, &format!("n{i:02}"));
                async move { Store::new(&fake, "t", Cancel::new()).write(None, op).await }
            });
            let results = futures_util::future::join_all(writes).await;
            assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
            let want: Vec<String> = (0..30).map(|i| format!("n{i:02}")).collect();
            assert_eq!(names(&fake).await, want);
            // Fewer generations than writers: intents landed together.
            let generation = store(&fake).load().await.unwrap().generation;
            assert!(generation <= 3, "{generation} generations for 30 writers");

            // 20 writers of one name: one wins, 19 are told it is taken.
            let writes = ids[..20].iter().map(|id| {
                let fake = fake.clone();
                let op = name(id, "one");
                async move { Store::new(&fake, "t", Cancel::new()).write(None, op).await }
            });
            let results = futures_util::future::join_all(writes).await;
            let won = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(won, 1, "{results:?}");
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                assert!(r.to_string().contains("already taken"), "{r}");
            }
            // No intent is left behind.
            assert!(fake
                .world()
                .volumes
                .keys()
                .all(|v| !v.starts_with("docker-link-intent")));
        });
    }

    #[test]
    fn removals_racing_adds_are_exact() {
        let fake = Fake::new();
        let ids: Vec<String> = (0..10)
            .map(|i| fake.run(&format!("c{i}"), &[], &[]))
            .collect();
        rt().block_on(async {
            for (i, id) in ids.iter().enumerate() {
                store(&fake)
                    .write(None, name(id, &format!("old{i}")))
                    .await
                    .unwrap();
            }
            let snap = store(&fake).load().await.unwrap();
            let removes = ids.iter().enumerate().map(|(i, _)| {
                let (edge, source) = snap.view.edge(&format!("old{i}")).unwrap();
                Op::Remove {
                    edges: vec![crate::graph::ops::Removal {
                        edge,
                        source,
                        path: format!("old{i}"),
                    }],
                }
            });
            let adds = ids
                .iter()
                .enumerate()
                .map(|(i, id)| name(id, &format!("new{i}")));
            let ops: Vec<Op> = removes.zip(adds).flat_map(|(r, a)| [r, a]).collect();
            let writes = ops.into_iter().map(|op| {
                let fake = fake.clone();
                async move { Store::new(&fake, "t", Cancel::new()).write(None, op).await }
            });
            let results = futures_util::future::join_all(writes).await;
            assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
            let want: Vec<String> = (0..10).map(|i| format!("new{i}")).collect();
            assert_eq!(names(&fake).await, want);
        });
    }

    #[test]
    fn a_generation_is_always_built_on_its_predecessor() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            store(&fake).write(None, name(&c, "aa")).await.unwrap();
            let s = store(&fake);
            let base = s.load().await.unwrap();
            // Another writer has made generation 2 and not started it yet.
            s.create(&base, 2, &Payload::default())
                .await
                .unwrap()
                .unwrap();
            // A leader whose read shows generation 2 in flight on base 1 must lose, never
            // write generation 3 on top of 1 and past the one in flight.
            let seen = s.load().await.unwrap();
            assert_eq!(seen.generation, 1);
            let lead = s.lead(&seen, Some(&name(&c, "bb")), &[]).await.unwrap();
            assert!(matches!(lead, Lead::Lost));
            assert!(registries(&fake).iter().all(|(n, _)| !n.ends_with("-3")));
        });
    }

    #[test]
    fn cancelled_before_commit_writes_nothing() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            let cancel = Cancel::new();
            cancel.cancel();
            let err = Store::new(&fake, "t", cancel)
                .write(None, name(&c, "x"))
                .await
                .unwrap_err();
            assert!(err.downcast_ref::<Interrupted>().is_some(), "{err}");
            assert!(registries(&fake).is_empty());
        });
    }

    /// A writer that queued behind others (their intents pending), then was interrupted
    /// (Ctrl-C): its intent is taken back, and the leader that applies the others never
    /// applies it.
    #[test]
    fn an_interrupted_waiter_takes_its_intent_back() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            store(&fake).write(None, name(&c, "before")).await.unwrap();
            // Another writer's op, handed over and pending.
            let other = store(&fake).publish(&name(&c, "other")).await.unwrap();
            let cancel = Cancel::new();
            let waiter = Store::new(&fake, "t", cancel.clone());
            let write = waiter.write(None, name(&c, "waiting"));
            let stop = async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                cancel.cancel();
            };
            let (result, ()) = tokio::join!(write, stop);
            let err = result.unwrap_err();
            assert!(err.downcast_ref::<Interrupted>().is_some(), "{err}");
            assert!(err.to_string().contains("nothing was written"), "{err}");
            let intents = |fake: &Fake| -> Vec<String> {
                fake.world()
                    .volumes
                    .keys()
                    .filter(|v| v.starts_with("docker-link-intent"))
                    .cloned()
                    .collect()
            };
            assert_eq!(
                intents(&fake),
                [other],
                "only the other writer's intent is left"
            );
            // The next writer leads once the other seems gone, and carries its op too.
            store(&fake).write(None, name(&c, "after")).await.unwrap();
            assert_eq!(names(&fake).await, ["after", "before", "other"]);
            assert!(intents(&fake).is_empty());
        });
    }

    #[test]
    fn prune_keeps_the_committed_generation_and_writes_in_flight() {
        let fake = Fake::new();
        let c = fake.run("c", &[], &[]);
        rt().block_on(async {
            for n in ["aa", "bb", "c3"] {
                store(&fake).write(None, name(&c, n)).await.unwrap();
            }
            assert_eq!(store(&fake).prune().await.unwrap(), 1);
            assert_eq!(
                registries(&fake),
                [("docker-link-registry-t-3".to_string(), State::Running)]
            );
            assert_eq!(names(&fake).await, ["aa", "bb", "c3"]);
        });
    }
}
