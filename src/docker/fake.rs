//! An in-memory daemon for unit tests of the core: the store's compare-and-swap, the link
//! plans' apply, prune. It keeps the rules the core depends on (unique names, removal of a
//! running container refused without force, overlapping subnets refused, addresses assigned
//! on start, `unless-stopped` after a daemon restart, `docker container prune`), and can be
//! made to fail: a "crash" after N calls (the plugin killed at that step) or one error at a
//! chosen call.
//!
//! It also plays the registry's own process: starting a container whose command is
//! `__idle --copy PATH` writes its `DOCKER_LINK_GRAPH` variable to PATH in its volume, as the
//! real process does inside the container.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::engine::{
    Attach, ContainerInfo, ContainerSpec, ContainerSummary, DaemonInfo, Endpoint, Engine,
    EngineError, Event, EventFilter, Events, Labels, ListFilter, Listing, Member, NetworkInfo,
    NetworkSpec, Result, State, VolumeInfo,
};
use super::stream::ExecStream;
use crate::links::pool::Subnet;

#[derive(Debug, Clone)]
pub(crate) struct FakeContainer {
    pub(crate) spec: ContainerSpec,
    pub(crate) id: String,
    pub(crate) state: State,
    pub(crate) created: i64,
    pub(crate) started: bool,
    pub(crate) exposed_ports: Vec<String>,
    /// Network name → endpoint (ip empty while not running).
    pub(crate) networks: BTreeMap<String, Endpoint>,
    /// Files written into it through the archive API, by absolute path.
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    /// Signals its main process was sent (by a command run in it), in order.
    pub(crate) signals: Vec<String>,
}

/// Answers `exec` in the fake: (the container, the command, its added environment) → its
/// output.
pub(crate) type ExecFn =
    dyn Fn(&mut FakeContainer, &[String], &[String]) -> super::engine::ExecOutput + Send + Sync;

#[derive(Clone)]
pub(crate) struct ExecHandler(pub(crate) Arc<ExecFn>);

impl std::fmt::Debug for ExecHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecHandler")
    }
}

/// Answers `exec_attach` in the fake: the command → our end of a pipe whose other end the
/// test serves (None: the command cannot run).
pub(crate) type AttachFn = dyn Fn(&[String]) -> Option<tokio::io::DuplexStream> + Send + Sync;

#[derive(Clone)]
pub(crate) struct AttachHandler(pub(crate) Arc<AttachFn>);

impl std::fmt::Debug for AttachHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttachHandler")
    }
}

#[derive(Debug, Clone)]
pub(crate) struct FakeNetwork {
    pub(crate) spec: NetworkSpec,
    pub(crate) id: String,
    pub(crate) created: i64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct FakeVolume {
    pub(crate) labels: Labels,
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    /// RFC 3339, as the daemon reports it.
    pub(crate) created: String,
}

/// Which calls fail.
#[derive(Debug, Clone, Default)]
enum Fault {
    #[default]
    None,
    /// Every call from the n-th on answers "unavailable": the process was killed there.
    CrashAfter(usize),
    /// The n-th call answers this error; the others go through.
    FailAt(usize, EngineError),
    /// The next call whose description starts with this answers the error, once.
    FailOn(String, EngineError),
}

#[derive(Debug)]
pub(crate) struct World {
    pub(crate) containers: BTreeMap<String, FakeContainer>,
    pub(crate) networks: BTreeMap<String, FakeNetwork>,
    pub(crate) volumes: BTreeMap<String, FakeVolume>,
    /// The daemon's clock, seconds: this plus the real time since the world was made.
    pub(crate) clock: i64,
    born: std::time::Instant,
    next_id: u64,
    /// Every call, in order: `create_container docker-link-registry-3`, …
    pub(crate) calls: Vec<String>,
    fault: Fault,
    /// Container events to subscribers.
    events: tokio::sync::broadcast::Sender<Event>,
    /// How `exec` answers (default: exit 0, no output).
    pub(crate) exec: Option<ExecHandler>,
    /// How `exec_attach` answers (default: the command ends at once, as one that is missing).
    pub(crate) attach: Option<AttachHandler>,
}

impl Default for World {
    fn default() -> World {
        World {
            containers: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            clock: 1_800_000_000,
            born: std::time::Instant::now(),
            next_id: 0,
            calls: Vec::new(),
            fault: Fault::None,
            events: tokio::sync::broadcast::channel(1024).0,
            exec: None,
            attach: None,
        }
    }
}

/// A fake daemon; clones share one world (several "processes" against one daemon).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fake {
    world: Arc<Mutex<World>>,
}

fn not_found(what: String) -> EngineError {
    EngineError::NotFound {
        message: format!("no such object: {what}"),
        what,
    }
}

fn conflict(what: String, message: &str) -> EngineError {
    EngineError::Conflict {
        what,
        message: message.to_string(),
    }
}

impl Fake {
    pub(crate) fn new() -> Fake {
        Fake::default()
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls from the n-th on (counting from now, 0 = the next call) fail as if the process
    /// making them had been killed.
    pub(crate) fn crash_after(&self, n: usize) {
        let mut w = self.world();
        let at = w.calls.len() + n;
        w.fault = Fault::CrashAfter(at);
    }

    /// The n-th call from now answers `err`.
    pub(crate) fn fail_at(&self, n: usize, err: EngineError) {
        let mut w = self.world();
        let at = w.calls.len() + n;
        w.fault = Fault::FailAt(at, err);
    }

    /// The next call of this kind (`start_container`, `create_volume`, ...) answers `err`.
    pub(crate) fn fail_on(&self, call: &str, err: EngineError) {
        self.world().fault = Fault::FailOn(call.to_string(), err);
    }

    pub(crate) fn heal(&self) {
        self.world().fault = Fault::None;
    }

    pub(crate) fn advance(&self, secs: i64) {
        self.world().clock += secs;
    }

    /// A user's container: created and started, with exposed ports.
    pub(crate) fn run(&self, name: &str, ports: &[&str], labels: &[(&str, &str)]) -> String {
        let mut w = self.world();
        let id = w.new_id();
        let created = w.now();
        w.containers.insert(
            id.clone(),
            FakeContainer {
                spec: ContainerSpec {
                    name: name.to_string(),
                    image: "busybox".to_string(),
                    labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    ..Default::default()
                },
                id: id.clone(),
                state: State::Running,
                created,
                started: true,
                exposed_ports: ports.iter().map(|p| p.to_string()).collect(),
                networks: BTreeMap::new(),
                files: BTreeMap::new(),
                signals: Vec::new(),
            },
        );
        id
    }

    /// `docker stop` of every running container.
    pub(crate) fn stop_all(&self) {
        let mut w = self.world();
        for c in w.containers.values_mut() {
            if c.state == State::Running {
                c.state = State::Exited;
                for ep in c.networks.values_mut() {
                    ep.ip.clear();
                }
            }
        }
    }

    /// `docker container prune -f`: every container that is not running.
    pub(crate) fn prune_containers(&self) -> usize {
        let mut w = self.world();
        let before = w.containers.len();
        w.containers.retain(|_, c| c.state == State::Running);
        before - w.containers.len()
    }

    /// A daemon restart. `restart_policies` false is the crash case seen on Engine 28 after
    /// `kill -9` of dockerd: nothing comes back ("restart canceled").
    pub(crate) fn restart_daemon(&self, restart_policies: bool) {
        self.stop_all();
        if restart_policies {
            let ids: Vec<String> = self
                .world()
                .containers
                .values()
                .filter(|c| c.spec.keep_running && c.started)
                .map(|c| c.id.clone())
                .collect();
            let mut w = self.world();
            for id in ids {
                w.start(&id);
            }
        }
    }

    pub(crate) fn names(&self, role: &str) -> Vec<(String, State)> {
        self.world()
            .containers
            .values()
            .filter(|c| c.spec.labels.get(crate::labels::ROLE).map(String::as_str) == Some(role))
            .map(|c| (c.spec.name.clone(), c.state))
            .collect()
    }

    /// Counts a call and applies the fault plan. Yields first, as a real request would, so
    /// that concurrent writers interleave at every call.
    async fn call(&self, what: String) -> Result<MutexGuard<'_, World>> {
        tokio::task::yield_now().await;
        let mut w = self.world();
        let n = w.calls.len();
        w.calls.push(what.clone());
        match &w.fault {
            Fault::CrashAfter(at) if n >= *at => Err(EngineError::Unavailable {
                what,
                reason: "the fake was told to crash".to_string(),
            }),
            Fault::FailAt(at, err) if n == *at => Err(err.clone()),
            Fault::FailOn(call, err) if what.starts_with(call.as_str()) => {
                let err = err.clone();
                w.fault = Fault::None;
                Err(err)
            }
            _ => Ok(w),
        }
    }
}

impl World {
    /// A container event, as the daemon sends it (the labels among the attributes).
    fn emit(&self, action: &str, id: &str) {
        let Some(c) = self.containers.get(id) else {
            return;
        };
        let mut attributes = c.spec.labels.clone();
        attributes.insert("name".into(), c.spec.name.clone());
        let _ = self.events.send(Event {
            kind: "container".into(),
            action: action.into(),
            id: id.into(),
            attributes,
            time_nano: self.now() * 1_000_000_000,
        });
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock + self.born.elapsed().as_secs() as i64
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:016x}", 0x00c0_ffee_0000_0000_u64 + self.next_id).repeat(4)
    }

    pub(crate) fn find(&self, id_or_name: &str) -> Option<String> {
        if self.containers.contains_key(id_or_name) {
            return Some(id_or_name.to_string());
        }
        self.containers
            .values()
            .find(|c| {
                c.spec.name == id_or_name
                    || (id_or_name.len() >= 12 && c.id.starts_with(id_or_name))
            })
            .map(|c| c.id.clone())
    }

    /// A network's name from its name or id, as the daemon accepts either.
    fn net_name(&self, name_or_id: &str) -> Option<String> {
        if self.networks.contains_key(name_or_id) {
            return Some(name_or_id.to_string());
        }
        self.networks
            .values()
            .find(|n| n.id == name_or_id)
            .map(|n| n.spec.name.clone())
    }

    fn subnet_of(&self, net: &str) -> Option<Subnet> {
        self.networks
            .get(net)
            .and_then(|n| Subnet::parse_normalizing(&n.spec.subnet).ok())
    }

    fn used_ips(&self, net: &str) -> Vec<Ipv4Addr> {
        self.containers
            .values()
            .filter_map(|c| c.networks.get(net))
            .flat_map(|e| e.ip.parse::<Ipv4Addr>().ok().into_iter().chain(e.static_ip))
            .collect()
    }

    fn assign(&mut self, id: &str) {
        let nets: Vec<String> = self.containers[id].networks.keys().cloned().collect();
        for net in nets {
            let Some(subnet) = self.subnet_of(&net) else {
                continue;
            };
            let used = self.used_ips(&net);
            let ep = &self.containers[id].networks[&net];
            let ip = match ep.static_ip {
                Some(ip) => ip,
                None => {
                    let base = u32::from(subnet.addr);
                    let Some(ip) = (2..subnet.size() as u32 - 1)
                        .map(|k| Ipv4Addr::from(base + k))
                        .find(|ip| !used.contains(ip))
                    else {
                        continue;
                    };
                    ip
                }
            };
            if let Some(c) = self.containers.get_mut(id) {
                if let Some(ep) = c.networks.get_mut(&net) {
                    ep.ip = ip.to_string();
                }
            }
        }
    }

    fn start(&mut self, id: &str) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        c.state = State::Running;
        c.started = true;
        self.run_process(id);
        self.assign(id);
    }

    /// What a container's process does as it starts: the registry's writes its copy of the
    /// graph into its volume.
    fn run_process(&mut self, id: &str) {
        let Some(c) = self.containers.get(id) else {
            return;
        };
        let spec = c.spec.clone();
        if spec.cmd.first().map(String::as_str) == Some(crate::graph::store::IDLE_ARG) {
            let path = spec
                .cmd
                .iter()
                .skip_while(|a| *a != "--copy")
                .nth(1)
                .cloned();
            let graph = spec
                .env
                .iter()
                .find_map(|e| e.strip_prefix("DOCKER_LINK_GRAPH="));
            if let (Some(path), Some(graph), Some((vol, target))) = (path, graph, &spec.volume) {
                if let Some(file) = path.strip_prefix(&format!("{target}/")) {
                    let v = self.volumes.entry(vol.clone()).or_default();
                    v.files.insert(file.to_string(), graph.as_bytes().to_vec());
                }
            }
        }
    }
}

/// Seconds since the epoch as RFC 3339 (UTC), the inverse of `clock::rfc3339`.
fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The daemon's name filter is a regular expression; the core only sends `^/x$` with `x`
/// escaped, which this reads without a regex engine.
fn pattern(p: &str, s: &str) -> bool {
    let p = p.strip_prefix('^').unwrap_or(p);
    let (p, exact) = match p.strip_suffix('$') {
        Some(p) => (p, true),
        None => (p, false),
    };
    let literal = p.replace('\\', "");
    if exact {
        s == literal
    } else {
        s.starts_with(&literal)
    }
}

fn has_labels(labels: &Labels, want: &[String]) -> bool {
    want.iter().all(|kv| match kv.split_once('=') {
        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
        None => labels.contains_key(kv.as_str()),
    })
}

impl Engine for Fake {
    async fn list_containers(&self, filter: &ListFilter) -> Result<Listing> {
        let w = self.call("list_containers".into()).await?;
        Ok(Listing {
            containers: w
                .containers
                .values()
                .filter(|c| has_labels(&c.spec.labels, &filter.labels))
                .filter(|c| {
                    filter
                        .network
                        .as_ref()
                        .is_none_or(|n| w.net_name(n).is_some_and(|n| c.networks.contains_key(&n)))
                })
                .filter(|c| {
                    filter.names.is_empty()
                        || filter
                            .names
                            .iter()
                            .any(|p| pattern(p, &format!("/{}", c.spec.name)))
                })
                .filter(|c| {
                    filter.ids.is_empty() || filter.ids.iter().any(|p| c.id.starts_with(p.as_str()))
                })
                .map(|c| ContainerSummary {
                    id: c.id.clone(),
                    names: vec![c.spec.name.clone()],
                    image: c.spec.image.clone(),
                    image_id: format!("sha256:{}", c.spec.image),
                    state: c.state,
                    labels: c.spec.labels.clone(),
                    created: c.created,
                    volumes: c.spec.volume.iter().map(|(v, _)| v.clone()).collect(),
                    mount_points: c.spec.volume.iter().map(|(_, t)| t.clone()).collect(),
                    tcp_ports: c
                        .exposed_ports
                        .iter()
                        .filter_map(|p| p.strip_suffix("/tcp"))
                        .filter_map(|p| p.parse().ok())
                        .collect(),
                    networks: c
                        .networks
                        .iter()
                        .map(|(n, e)| (n.clone(), e.ip.clone()))
                        .collect(),
                    network_mode: "default".into(),
                    health: String::new(),
                })
                .collect(),
            server_time: Some(w.now()),
        })
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo> {
        let what = format!("inspecting container {}", short(id));
        let w = self
            .call(format!("inspect_container {}", short(id)))
            .await?;
        let id = w.find(id).ok_or_else(|| not_found(what.clone()))?;
        let c = &w.containers[&id];
        Ok(ContainerInfo {
            id: c.id.clone(),
            name: c.spec.name.clone(),
            state: Some(c.state),
            pid: if c.state == State::Running { 4242 } else { 0 },
            started_at: if c.started {
                "2026-12-01T00:00:00Z".into()
            } else {
                "0001-01-01T00:00:00Z".into()
            },
            error: String::new(),
            exit_code: 0,
            image: c.spec.image.clone(),
            env: c.spec.env.clone(),
            exposed_ports: c.exposed_ports.clone(),
            labels: c.spec.labels.clone(),
            networks: c.networks.clone(),
            network_mode: if c.spec.no_network {
                "none".into()
            } else {
                "default".into()
            },
        })
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let what = format!("creating container {}", spec.name);
        let mut w = self.call(format!("create_container {}", spec.name)).await?;
        if w.containers.values().any(|c| c.spec.name == spec.name) {
            return Err(conflict(what, "the name is already in use"));
        }
        if let Some((vol, _)) = &spec.volume {
            w.volumes.entry(vol.clone()).or_default();
        }
        let id = w.new_id();
        let created = w.now();
        w.containers.insert(
            id.clone(),
            FakeContainer {
                spec: spec.clone(),
                id: id.clone(),
                state: State::Created,
                created,
                started: false,
                exposed_ports: Vec::new(),
                networks: BTreeMap::new(),
                files: BTreeMap::new(),
                signals: Vec::new(),
            },
        );
        w.emit("create", &id);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let what = format!("starting container {}", short(id));
        let mut w = self.call(format!("start_container {}", short(id))).await?;
        let id = w.find(id).ok_or_else(|| not_found(what))?;
        w.start(&id);
        w.emit("start", &id);
        Ok(())
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<()> {
        let what = format!("removing container {}", short(id));
        let mut w = self
            .call(format!("remove_container {} force={force}", short(id)))
            .await?;
        let id = w.find(id).ok_or_else(|| not_found(what.clone()))?;
        if !force && w.containers[&id].state == State::Running {
            return Err(conflict(what, "stop the container before removing it"));
        }
        w.emit("destroy", &id);
        w.containers.remove(&id);
        Ok(())
    }

    async fn get_archive(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        let what = format!("reading {path} of container {}", short(id));
        let w = self
            .call(format!("get_archive {} {path}", short(id)))
            .await?;
        let id = w.find(id).ok_or_else(|| not_found(what.clone()))?;
        if let Some(data) = w.containers[&id].files.get(path) {
            let name = path.rsplit('/').next().unwrap_or(path);
            return Ok(super::self_image::tar_of(&[(name, 0o644, data.as_slice())]));
        }
        let Some((vol, target)) = &w.containers[&id].spec.volume else {
            return Err(not_found(what));
        };
        if path != target {
            return Err(not_found(what));
        }
        let files = w
            .volumes
            .get(vol)
            .map(|v| v.files.clone())
            .unwrap_or_default();
        let base = target.trim_start_matches('/');
        let entries: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|(name, data)| (format!("{base}/{name}"), data))
            .collect();
        let refs: Vec<(&str, u32, &[u8])> = entries
            .iter()
            .map(|(n, d)| (n.as_str(), 0o644, d.as_slice()))
            .collect();
        Ok(super::self_image::tar_of(&refs))
    }

    async fn put_archive(&self, id: &str, path: &str, tar: Vec<u8>) -> Result<()> {
        let what = format!("writing into {path} of container {}", short(id));
        let mut w = self
            .call(format!("put_archive {} {path}", short(id)))
            .await?;
        let id = w.find(id).ok_or_else(|| not_found(what.clone()))?;
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries = archive.entries().map_err(|e| EngineError::Other {
            what: what.clone(),
            status: Some(400),
            message: e.to_string(),
        })?;
        let c = w.containers.get_mut(&id).ok_or_else(|| not_found(what))?;
        for mut entry in entries.flatten() {
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut data = Vec::new();
            let _ = std::io::Read::read_to_end(&mut entry, &mut data);
            let full = format!(
                "{}/{}",
                path.trim_end_matches('/'),
                name.trim_start_matches("./")
            );
            c.files.insert(full, data);
        }
        Ok(())
    }

    async fn exec_env(
        &self,
        id: &str,
        cmd: &[String],
        env: &[String],
    ) -> Result<super::engine::ExecOutput> {
        let what = format!("running a command in container {}", short(id));
        let mut w = self
            .call(format!("exec {} {}", short(id), cmd.join(" ")))
            .await?;
        let id = w.find(id).ok_or_else(|| not_found(what.clone()))?;
        if w.containers[&id].state != State::Running {
            return Err(conflict(what, "the container is not running"));
        }
        // `mv -f SRC DST` renames a file, as in the container.
        if let [mv, f, src, dst] = cmd {
            if mv == "mv" && f == "-f" {
                let c = w
                    .containers
                    .get_mut(&id)
                    .ok_or_else(|| not_found(what.clone()))?;
                return Ok(match c.files.remove(src) {
                    Some(data) => {
                        c.files.insert(dst.clone(), data);
                        super::engine::ExecOutput::default()
                    }
                    None => super::engine::ExecOutput {
                        code: 1,
                        stderr: format!("mv: can't rename '{src}': No such file or directory")
                            .into_bytes(),
                        ..Default::default()
                    },
                });
            }
        }
        let handler = w.exec.clone();
        let c = w
            .containers
            .get_mut(&id)
            .ok_or_else(|| not_found(what.clone()))?;
        Ok(match handler {
            Some(handler) => (handler.0)(c, cmd, env),
            None => super::engine::ExecOutput::default(),
        })
    }

    async fn exec_attach(&self, id: &str, cmd: &[String]) -> Result<ExecStream> {
        let what = format!("running a command in container {}", short(id));
        let w = self
            .call(format!("exec_attach {} {}", short(id), cmd.join(" ")))
            .await?;
        let id = w.find(id).ok_or_else(|| not_found(what.clone()))?;
        if w.containers[&id].state != State::Running {
            return Err(conflict(what, "the container is not running"));
        }
        let ours = match &w.attach {
            Some(h) => (h.0)(cmd),
            None => None,
        };
        // A command that cannot run: a stream that ends at once.
        let ours = ours.unwrap_or_else(|| tokio::io::duplex(1).0);
        Ok(ExecStream::new(Box::new(ours), false))
    }

    async fn list_networks(&self, labels: &[String]) -> Result<Vec<NetworkInfo>> {
        let w = self.call("list_networks".into()).await?;
        Ok(w.networks
            .values()
            .filter(|n| has_labels(&n.spec.labels, labels))
            .map(|n| NetworkInfo {
                id: n.id.clone(),
                name: n.spec.name.clone(),
                labels: n.spec.labels.clone(),
                created: Some(rfc3339(n.created)),
                internal: n.spec.internal,
                subnets: vec![n.spec.subnet.clone()],
                members: BTreeMap::new(),
                bridge: None,
            })
            .collect())
    }

    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo> {
        let what = format!("inspecting network {name}");
        let w = self.call(format!("inspect_network {name}")).await?;
        let name = w.net_name(name).ok_or_else(|| not_found(what.clone()))?;
        let name = name.as_str();
        let n = w.networks.get(name).ok_or_else(|| not_found(what))?;
        Ok(NetworkInfo {
            id: n.id.clone(),
            name: n.spec.name.clone(),
            labels: n.spec.labels.clone(),
            created: Some(format!("@{}", n.created)),
            internal: n.spec.internal,
            subnets: vec![n.spec.subnet.clone()],
            members: w
                .containers
                .values()
                .filter(|c| c.state == State::Running)
                .filter_map(|c| {
                    let ep = c.networks.get(name)?;
                    Some((c.id.clone(), Member { ip: ep.ip.clone() }))
                })
                .collect(),
            bridge: None,
        })
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<()> {
        let what = format!("creating network {} ({})", spec.name, spec.subnet);
        let mut w = self.call(format!("create_network {}", spec.name)).await?;
        if w.networks.contains_key(&spec.name) {
            return Err(conflict(what, "network with name already exists"));
        }
        let subnet = Subnet::parse_normalizing(&spec.subnet).map_err(|e| EngineError::Other {
            what: what.clone(),
            status: Some(400),
            message: e.to_string(),
        })?;
        let overlaps = w
            .networks
            .values()
            .filter_map(|n| Subnet::parse_normalizing(&n.spec.subnet).ok())
            .any(|s| s.overlaps(&subnet));
        if overlaps {
            return Err(EngineError::Overlap {
                what,
                message: "Pool overlaps with other one on this address space".into(),
            });
        }
        let id = w.new_id();
        let created = w.now();
        w.networks.insert(
            spec.name.clone(),
            FakeNetwork {
                spec: spec.clone(),
                id,
                created,
            },
        );
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        let what = format!("removing network {name}");
        let mut w = self.call(format!("remove_network {name}")).await?;
        let Some(name) = w.net_name(name) else {
            return Err(not_found(what));
        };
        let name = name.as_str();
        if w.containers.values().any(|c| c.networks.contains_key(name)) {
            return Err(EngineError::Other {
                what,
                status: Some(403),
                message: "error while removing network: network has active endpoints".into(),
            });
        }
        w.networks.remove(name);
        Ok(())
    }

    async fn connect(&self, network: &str, container: &str, attach: &Attach) -> Result<()> {
        let what = format!("connecting {} to {network}", short(container));
        let mut w = self
            .call(format!("connect {} {network}", short(container)))
            .await?;
        let network = w.net_name(network).ok_or_else(|| not_found(what.clone()))?;
        let network = network.as_str();
        let id = w.find(container).ok_or_else(|| not_found(what.clone()))?;
        let subnet = w
            .subnet_of(network)
            .ok_or_else(|| not_found(what.clone()))?;
        if w.containers[&id].networks.contains_key(network) {
            return Err(EngineError::Other {
                what,
                status: Some(403),
                message: "endpoint already exists in network".into(),
            });
        }
        if let Some(ip) = attach.ipv4 {
            if !subnet.contains(ip) || w.used_ips(network).contains(&ip) {
                return Err(EngineError::Other {
                    what,
                    status: Some(400),
                    message: format!("address {ip} is not available"),
                });
            }
        }
        let running = w.containers[&id].state == State::Running;
        if let Some(c) = w.containers.get_mut(&id) {
            c.networks.insert(
                network.to_string(),
                Endpoint {
                    ip: String::new(),
                    aliases: attach.aliases.clone(),
                    static_ip: attach.ipv4,
                },
            );
        }
        if running {
            w.assign(&id);
        }
        Ok(())
    }

    async fn disconnect(&self, network: &str, container: &str) -> Result<()> {
        let what = format!("disconnecting {} from {network}", short(container));
        let mut w = self
            .call(format!("disconnect {} {network}", short(container)))
            .await?;
        let network = w.net_name(network).ok_or_else(|| not_found(what.clone()))?;
        let network = network.as_str();
        let id = w.find(container).ok_or_else(|| not_found(what.clone()))?;
        let c = w
            .containers
            .get_mut(&id)
            .ok_or_else(|| not_found(what.clone()))?;
        if c.networks.remove(network).is_none() {
            return Err(not_found(what));
        }
        Ok(())
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<()> {
        let mut w = self.call(format!("create_volume {name}")).await?;
        let created = rfc3339(w.now());
        w.volumes
            .entry(name.to_string())
            .or_insert_with(|| FakeVolume {
                labels: labels.clone(),
                files: BTreeMap::new(),
                created,
            });
        Ok(())
    }

    async fn list_volumes(&self, labels: &[String]) -> Result<Vec<VolumeInfo>> {
        let w = self.call("list_volumes".into()).await?;
        Ok(w.volumes
            .iter()
            .filter(|(_, v)| has_labels(&v.labels, labels))
            .map(|(name, v)| VolumeInfo {
                name: name.clone(),
                labels: v.labels.clone(),
                created_at: Some(v.created.clone()),
            })
            .collect())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        let what = format!("removing volume {name}");
        let mut w = self.call(format!("remove_volume {name}")).await?;
        if w.containers
            .values()
            .any(|c| c.spec.volume.as_ref().is_some_and(|(v, _)| v == name))
        {
            return Err(conflict(what, "volume is in use"));
        }
        w.volumes.remove(name).ok_or_else(|| not_found(what))?;
        Ok(())
    }

    async fn self_image(&self) -> anyhow::Result<String> {
        let _w = self.call("self_image".into()).await?;
        Ok("docker-link:fake".into())
    }

    async fn empty_image(&self) -> anyhow::Result<String> {
        let _w = self.call("empty_image".into()).await?;
        Ok("docker-link-empty:1".into())
    }

    fn events(&self, filter: &EventFilter) -> Events {
        use futures_util::StreamExt;
        let rx = self.world().events.subscribe();
        let filter = filter.clone();
        futures_util::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((Ok(e), rx)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |e| {
            let keep = match e {
                Ok(e) => {
                    (filter.kinds.is_empty() || filter.kinds.contains(&e.kind))
                        && (filter.actions.is_empty() || filter.actions.contains(&e.action))
                        && has_labels(&e.attributes, &filter.labels)
                }
                Err(_) => true,
            };
            std::future::ready(keep)
        })
        .boxed()
    }

    async fn info(&self) -> Result<DaemonInfo> {
        let _w = self.call("info".into()).await?;
        Ok(DaemonInfo {
            id: "fake".into(),
            version: "0.0".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_round_trip() {
        for t in [0, 951_868_801, 1_796_161_212] {
            assert_eq!(crate::docker::clock::rfc3339(&super::rfc3339(t)), Some(t));
        }
    }
}
