//! The seam between the core and a Docker daemon: the few calls the graph store and link
//! realization make, as one small trait ([`Engine`]) with two implementations, the real daemon
//! ([`super::daemon::Daemon`], bollard over our transports) and an in-memory fake
//! (`super::fake`, for unit tests of the store's compare-and-swap and of every plan's apply).
//!
//! Answers are our own lean types, not bollard's models: the core reads only what it uses, the
//! fake has little to imitate, and API differences between engines (20.10 to 29) are absorbed
//! in one place. Errors are mapped once, in the implementation, into [`EngineError`]'s typed
//! variants: no caller matches a status code or a message text.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;

/// Labels of an object, sorted (deterministic output and comparisons).
pub(crate) type Labels = BTreeMap<String, String>;

/// What went wrong, as callers branch on it. `what` names the operation and its object
/// ("creating container docker-link-registry-4").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{what}: {message}")]
    NotFound { what: String, message: String },
    /// A name that is taken, a removal already in progress, a running container that a
    /// removal without force refused.
    #[error("{what}: {message}")]
    Conflict { what: String, message: String },
    /// A network's address range overlaps another network's.
    #[error("{what}: {message}")]
    Overlap { what: String, message: String },
    /// The daemon did not answer (connection refused or cut, timeout).
    #[error("{what}: the daemon stopped answering ({reason})")]
    Unavailable { what: String, reason: String },
    #[error("{what}: {message}")]
    Other {
        what: String,
        status: Option<u16>,
        message: String,
    },
}

impl EngineError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::NotFound { .. })
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, EngineError::Conflict { .. })
    }

    pub fn is_overlap(&self) -> bool {
        matches!(self, EngineError::Overlap { .. })
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, EngineError::Unavailable { .. })
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            EngineError::Unavailable { .. } => Some(
                "the daemon stopped answering during the command; when it is back, run the \
                 command again (`docker link prune` removes what a cut-off command left)"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, EngineError>;

/// A container's state as `docker ps` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum State {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl State {
    pub fn parse(s: &str) -> State {
        match s {
            "created" => State::Created,
            "running" => State::Running,
            "paused" => State::Paused,
            "restarting" => State::Restarting,
            "removing" => State::Removing,
            "exited" => State::Exited,
            "dead" => State::Dead,
            _ => State::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Unknown => "unknown",
        }
    }

    /// Whether the container was ever started: `created` is the only state that says no.
    pub fn ever_started(self) -> bool {
        self != State::Created
    }
}

/// One container of a listing (`GET /containers/json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    /// Docker names without the leading slash; legacy link names (`web/db`) included.
    pub names: Vec<String>,
    pub image: String,
    pub image_id: String,
    pub state: State,
    pub labels: Labels,
    /// Creation time, seconds since the epoch (the daemon's clock).
    pub created: i64,
    /// Names of the volumes it mounts.
    pub volumes: Vec<String>,
    /// Where it mounts anything (volumes and binds): `/var/lib/mysql`, ...
    pub mount_points: Vec<String>,
    /// Its exposed TCP ports (published or not).
    pub tcp_ports: Vec<u16>,
    /// Network name → its address there (empty while stopped).
    pub networks: BTreeMap<String, String>,
    /// `HostConfig.NetworkMode`: `default`, `host`, a network name, `container:…`.
    pub network_mode: String,
    /// Docker's health status (`healthy`, `unhealthy`, `starting`), empty without a check.
    pub health: String,
}

/// A listing, with the daemon's clock when it answered (its `Date` header): ages of objects
/// are judged on the daemon's clock, never on ours (a remote daemon's may differ).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub containers: Vec<ContainerSummary>,
    pub server_time: Option<i64>,
}

/// Which containers to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// `key=value` labels that must all be present.
    pub labels: Vec<String>,
    /// Only those configured on this network (stopped ones included).
    pub network: Option<String>,
    /// Only those with a name matching one of these patterns (the daemon's `name` filter: a
    /// regular expression against `/name`).
    pub names: Vec<String>,
    /// Only those whose id starts with one of these (the daemon's `id` filter is a prefix
    /// match, not a regular expression: `^` matches nothing).
    pub ids: Vec<String>,
}

/// One network endpoint of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The address it has now; empty while the container is not running.
    pub ip: String,
    /// Aliases as configured, without the engine's own short-id alias.
    pub aliases: Vec<String>,
    /// The address it was given explicitly (`--ip`), kept across restarts.
    pub static_ip: Option<Ipv4Addr>,
}

/// What the core reads of `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    /// Without the leading slash.
    pub name: String,
    pub state: Option<State>,
    pub pid: i64,
    /// Empty, or `0001-01-01…`, when it never started.
    pub started_at: String,
    /// Why the last start failed, if it did.
    pub error: String,
    /// The last run's exit code (0 when it never ran or stopped cleanly).
    pub exit_code: i64,
    pub image: String,
    pub env: Vec<String>,
    /// `6379/tcp`, …
    pub exposed_ports: Vec<String>,
    pub labels: Labels,
    pub networks: BTreeMap<String, Endpoint>,
    pub network_mode: String,
}

impl ContainerInfo {
    pub fn running(&self) -> bool {
        self.state == Some(State::Running)
    }

    pub fn ever_started(&self) -> bool {
        !self.started_at.is_empty() && !self.started_at.starts_with("0001-")
    }
}

/// A container to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub labels: Labels,
    /// Restart policy `unless-stopped`.
    pub keep_running: bool,
    /// `--network none`.
    pub no_network: bool,
    /// A named volume and where it is mounted.
    pub volume: Option<(String, String)>,
    /// Host paths bound in, `SOURCE:TARGET[:ro]` (the watcher's daemon socket).
    pub binds: Vec<String>,
    /// `--network host`: the daemon's own network namespace (the watcher's metrics on its
    /// loopback, its rules on the daemon's bridges).
    pub host_network: bool,
    /// Capabilities added (`NET_ADMIN` for the watcher's nf_tables rules).
    pub cap_add: Vec<String>,
    /// `--pid host`: the host's processes, so their network namespaces (the watcher's net
    /// duty opens containers' namespaces by `/proc/<pid>/ns/net`).
    pub pid_host: bool,
    /// Published ports, `[IP:]HOST:CONTAINER[/tcp]` as `docker run -p` writes them.
    pub publish: Vec<String>,
    /// Namespaced kernel settings, `--sysctl KEY=VALUE` (`net.ipv4.ip_forward` for the
    /// port forwarder of `docker net`).
    pub sysctls: BTreeMap<String, String>,
}

/// What a command run with [`Engine::exec`] gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its exit code; 126 or 127 when it could not be run (not found, not executable).
    pub code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Standard error, else standard output, trimmed (what to show when it failed).
    pub fn message(&self) -> String {
        let err = String::from_utf8_lossy(&self.stderr);
        let text = if err.trim().is_empty() {
            String::from_utf8_lossy(&self.stdout)
        } else {
            err
        };
        text.trim().to_string()
    }
}

/// One member of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// The address the member has there now (`10.199.0.2/26` without the prefix).
    pub ip: String,
}

/// What the core reads of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub labels: Labels,
    /// When it was made (RFC 3339), if the daemon says.
    pub created: Option<String>,
    pub internal: bool,
    /// IPv4 subnets of its IPAM configuration.
    pub subnets: Vec<String>,
    /// Running members by container id (only an inspect fills this; a listing leaves it
    /// empty, as the daemon does).
    pub members: BTreeMap<String, Member>,
    /// The bridge interface's name when the network's options set it (`docker0` for the
    /// default bridge); Docker names the others `br-<12 hex of the id>`.
    pub bridge: Option<String>,
}

/// A network to create: bridge, with one explicit IPv4 subnet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub labels: Labels,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
}

/// How a container joins a network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attach {
    pub aliases: Vec<String>,
    /// A fixed address (it survives restarts of the container and of the daemon).
    pub ipv4: Option<Ipv4Addr>,
}

/// A named volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeInfo {
    pub name: String,
    pub labels: Labels,
    /// RFC 3339, if the daemon says.
    pub created_at: Option<String>,
}

/// One event of the daemon's stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `container`, `network`, `volume`, …
    pub kind: String,
    /// `create`, `start`, `die`, `destroy`, `connect`, …
    pub action: String,
    /// The object's id.
    pub id: String,
    /// The actor's attributes (a container's labels, name and image).
    pub attributes: Labels,
    pub time_nano: i64,
}

/// Which events to stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub kinds: Vec<String>,
    /// `key=value` attributes that must all be present.
    pub labels: Vec<String>,
    pub actions: Vec<String>,
    /// Replay from this time (seconds since the epoch, the daemon's clock).
    pub since: Option<i64>,
}

/// A stream of events; it ends when the daemon closes it.
pub type Events = futures_util::stream::BoxStream<'static, Result<Event>>;

/// The daemon itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonInfo {
    /// Changes when the daemon's state is replaced (a new data root): resync everything.
    pub id: String,
    pub version: String,
}

/// The calls the core makes. Every method maps its errors into [`EngineError`].
///
/// Futures are `Send` so the watcher's multi-thread runtime can run the same core as the
/// one-shot commands' current-thread runtime.
pub trait Engine: Send + Sync {
    fn list_containers(&self, filter: &ListFilter) -> impl Future<Output = Result<Listing>> + Send;
    fn inspect_container(&self, id: &str) -> impl Future<Output = Result<ContainerInfo>> + Send;
    /// Returns the new container's id. A taken name is [`EngineError::Conflict`].
    fn create_container(&self, spec: &ContainerSpec)
        -> impl Future<Output = Result<String>> + Send;
    /// Starting a running container is not an error.
    fn start_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Without `force`, a running container is refused ([`EngineError::Conflict`]).
    fn remove_container(&self, id: &str, force: bool) -> impl Future<Output = Result<()>> + Send;
    /// A tar of `path` inside the container (its volumes included).
    fn get_archive(&self, id: &str, path: &str) -> impl Future<Output = Result<Vec<u8>>> + Send;
    /// Extracts a tar into directory `path` of the container (created or running).
    fn put_archive(
        &self,
        id: &str,
        path: &str,
        tar: Vec<u8>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Runs a command as root in a running container and waits for it: its output and exit
    /// code (a command that fails is an answer, not an error).
    fn exec(&self, id: &str, cmd: &[String]) -> impl Future<Output = Result<ExecOutput>> + Send {
        self.exec_env(id, cmd, &[])
    }
    /// [`Engine::exec`] with `KEY=VALUE` variables added to the command's environment (which,
    /// unlike its arguments, the daemon's `exec_create` event does not show).
    fn exec_env(
        &self,
        id: &str,
        cmd: &[String],
        env: &[String],
    ) -> impl Future<Output = Result<ExecOutput>> + Send;

    /// Starts a command as root in a running container with its standard input and output
    /// held open, for a conversation of many requests without an exec each. It ends when the
    /// stream is dropped (its standard input closes) or the container stops.
    fn exec_attach(
        &self,
        id: &str,
        cmd: &[String],
    ) -> impl Future<Output = Result<super::stream::ExecStream>> + Send;

    /// Networks with all of these `key=value` labels (members left empty).
    fn list_networks(
        &self,
        labels: &[String],
    ) -> impl Future<Output = Result<Vec<NetworkInfo>>> + Send;
    fn inspect_network(&self, name: &str) -> impl Future<Output = Result<NetworkInfo>> + Send;
    /// A taken name is [`EngineError::Conflict`], a subnet in use [`EngineError::Overlap`].
    fn create_network(&self, spec: &NetworkSpec) -> impl Future<Output = Result<()>> + Send;
    fn remove_network(&self, name: &str) -> impl Future<Output = Result<()>> + Send;
    fn connect(
        &self,
        network: &str,
        container: &str,
        attach: &Attach,
    ) -> impl Future<Output = Result<()>> + Send;
    fn disconnect(&self, network: &str, container: &str)
        -> impl Future<Output = Result<()>> + Send;

    /// Creating a volume that exists returns it unchanged (the daemon's behaviour).
    fn create_volume(&self, name: &str, labels: &Labels)
        -> impl Future<Output = Result<()>> + Send;
    fn list_volumes(
        &self,
        labels: &[String],
    ) -> impl Future<Output = Result<Vec<VolumeInfo>>> + Send;
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// The image of the plugin's own static binary (imported when missing).
    fn self_image(&self) -> impl Future<Output = anyhow::Result<String>> + Send;
    /// An empty image, for containers that are created and never started.
    fn empty_image(&self) -> impl Future<Output = anyhow::Result<String>> + Send;

    fn info(&self) -> impl Future<Output = Result<DaemonInfo>> + Send;

    /// Subscribes to the daemon's events (subscribe first, then list: nothing is missed).
    fn events(&self, filter: &EventFilter) -> Events;
}

/// `docker rm -f` that counts a container already gone as removed.
pub async fn remove_if_present<E: Engine + ?Sized>(
    engine: &E,
    id: &str,
    force: bool,
) -> Result<()> {
    match engine.remove_container(id, force).await {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}
