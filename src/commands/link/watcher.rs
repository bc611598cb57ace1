//! `docker link watcher start|stop|status|logs|run`: the background reconciler as a container
//! on the daemon it watches (`start`), or in the terminal (`run --foreground`). The loop
//! itself is `crate::watch`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::docker::endpoint::Host;
use crate::docker::engine::{ContainerSpec, Engine, Labels, ListFilter};
use crate::docker::Daemon;
use crate::output::{self, Format};
use crate::watch::status::Status;
use crate::Ctx;

/// Where the watcher writes its status inside its container.
const STATUS_FILE: &str = "/run/docker-link/status.json";
/// On the watcher's container: its `--icc` setting.
const ICC_LABEL: &str = "docker-link.icc";
/// Whether the watcher's container has the net duty's privileges (`true`/`false`).
const NET_LABEL: &str = "docker-link.watcher.net";
/// The daemon's socket inside the watcher's container.
const SOCKET_IN: &str = "/var/run/docker.sock";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Start the watcher container on the daemon (replaces one of another version).
    Start(StartArgs),
    /// Stop and remove the watcher container.
    Stop,
    /// Show the watcher's state and figures.
    Status(StatusArgs),
    /// Show the watcher's logs (`docker logs` of its container).
    Logs(LogsArgs),
    /// Run the watcher's loop in this process.
    Run(RunArgs),
    /// The keeper's loop: start the watcher again after a kill (runs in the keeper container).
    #[command(hide = true)]
    Keep,
}

#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// The daemon's socket on the daemon's host, bound into the watcher (default: the
    /// endpoint's own socket when it is local, else /var/run/docker.sock).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Serve Prometheus metrics on this address of the daemon host's network namespace.
    #[arg(long, default_value = "127.0.0.1:9387")]
    pub metrics: String,
    /// `--icc=false`: on the default bridge too, a container accepts new connections only
    /// along its links, as the engine's `--icc=false` did.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub icc: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// table, json, or a Go template.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Follow the log.
    #[arg(short, long)]
    pub follow: bool,
    /// Lines from the end.
    #[arg(long)]
    pub tail: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run in this process, in the foreground (the only mode; `start` runs it in a container).
    #[arg(long)]
    pub foreground: bool,
    /// Write the status here after every pass.
    #[arg(long)]
    pub status_file: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (`127.0.0.1:9387`); off when not given.
    #[arg(long)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Do not enforce reachability with nf_tables rules (links still resolve and connect).
    #[arg(long)]
    pub no_rules: bool,
    /// `--icc=false`: on the default bridge too, a container accepts new connections only
    /// along its links, as the engine's `--icc=false` did.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub icc: bool,
    /// Keep the keeper container alive (set by `start`, whose watcher has one).
    #[arg(long, hide = true)]
    pub keeper: bool,
    /// Leave the net duty off: set by `start` for a container made without its privileges.
    #[arg(long, hide = true)]
    pub no_net: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Run(a) => run_here(a, ctx),
        Sub::Start(a) => start(a, ctx),
        Sub::Stop => stop(ctx),
        Sub::Status(a) => status(a, ctx),
        Sub::Logs(a) => logs(a, ctx),
        Sub::Keep => keep(ctx),
    }
}

/// The keeper container's process: keeps the watcher alive until SIGTERM.
fn keep(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        tracing::info!("keeping the watcher of {}", ctx.config.registry);
        crate::watch::keeper::keep(
            &daemon,
            crate::labels::WATCHER_ROLE,
            &ctx.config.registry,
            &ctx.cancel,
        )
        .await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The keeper container's name for the registry namespace `ns`.
pub(crate) fn keeper_name(ns: &str) -> String {
    format!("{}-keeper", container_name(ns))
}

/// The watcher container's name for the registry namespace `ns`.
pub(crate) fn container_name(ns: &str) -> String {
    if ns == "default" {
        "docker-link-watcher".to_string()
    } else {
        format!("docker-link-watcher-{ns}")
    }
}

fn run_here(args: RunArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if !args.foreground {
        return Err(crate::commands::Usage(
            "`docker link watcher run` needs --foreground (`docker link watcher start` runs it in a container)"
                .into(),
        )
        .into());
    }
    let pool = ctx.config.pool()?;
    // A local daemon may live in a network namespace of its own: its bridges, and so the
    // rules, are there (found through the socket's peer).
    let rules = if args.no_rules {
        None
    } else {
        let netns = match &crate::docker::resolve(&ctx.globals)?.host {
            // In the container `start` made (the one with a keeper), the network is the
            // daemon's own (`--network host` of that daemon): nothing to find. With the host's
            // PID namespace (the net duty's), the daemon's process is visible but its
            // namespace is not ours to open (it has every capability; we have a few).
            _ if args.keeper => None,
            Host::Unix(path) => {
                crate::sys::netns::NetNs::of_socket_peer(path).with_context(|| {
                    format!("finding the namespace of the daemon at {}", path.display())
                })?
            }
            _ => None,
        };
        Some(crate::watch::RulesConfig {
            netns,
            icc_off: !args.icc,
        })
    };
    ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let opts = crate::watch::Options {
            status_file: args.status_file,
            metrics: args.metrics,
            keeper: args.keeper,
            no_net: args.no_net.then(|| {
                "the watcher's container has no net privileges (no project was up when it was \
                 made): `docker net up` makes it again with them"
                    .to_string()
            }),
            ..Default::default()
        };
        crate::watch::run(
            daemon,
            &ctx.config.registry,
            pool,
            opts,
            rules,
            ctx.cancel.clone(),
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The watcher container, if there is one (any state).
async fn find(
    daemon: &Daemon,
    ns: &str,
) -> anyhow::Result<Option<crate::docker::engine::ContainerSummary>> {
    find_role(daemon, crate::labels::WATCHER_ROLE, ns).await
}

async fn find_role(
    daemon: &Daemon,
    role: &str,
    ns: &str,
) -> anyhow::Result<Option<crate::docker::engine::ContainerSummary>> {
    let listing = daemon
        .list_containers(&ListFilter {
            labels: vec![crate::labels::role(role), crate::labels::namespace(ns)],
            ..Default::default()
        })
        .await?;
    Ok(listing.containers.into_iter().next())
}

fn start(args: StartArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let metrics: std::net::SocketAddr = args.metrics.parse().map_err(|e| {
        crate::commands::Usage(format!("invalid --metrics {:?}: {e}", args.metrics))
    })?;
    let said = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let socket = socket_of(ctx, args.socket.as_deref())?;
        ensure_running(&daemon, ctx, &socket, metrics, args.icc).await
    })?;
    output::info(&said.message);
    Ok(ExitCode::SUCCESS)
}

/// The daemon's socket on its own host: given, the endpoint's own when it is local, else the
/// usual path.
fn socket_of(ctx: &Ctx, given: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    Ok(match (given, &crate::docker::resolve(&ctx.globals)?.host) {
        (Some(s), _) => s.to_path_buf(),
        (None, Host::Unix(p)) => p.clone(),
        (None, _) => PathBuf::from(SOCKET_IN),
    })
}

/// For the commands that need the watcher (`docker link run`, `connect`): starts it when it
/// is not running (unless `DOCKER_LINK_WATCHER=off`) and says so; a failure is a warning, the
/// command's own work is done. The default graph's watcher serves metrics on the usual port,
/// another graph's on a free one (several graphs' watchers share the host's namespace).
pub(crate) async fn start_if_needed(daemon: &Daemon, ctx: &Ctx) {
    if !ctx.config.auto_watcher {
        return;
    }
    let port = if ctx.config.registry == "default" {
        9387
    } else {
        0
    };
    let metrics = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let started = async {
        let socket = socket_of(ctx, None)?;
        // A running watcher's own setting stays: find it first.
        let icc = match find(daemon, &ctx.config.registry).await? {
            Some(c) => c.labels.get(ICC_LABEL).map(String::as_str) != Some("false"),
            None => true,
        };
        ensure_running(daemon, ctx, &socket, metrics, icc).await
    };
    match started.await {
        Ok(s) if s.started => output::info(&format!(
            "{}: it keeps links and proxies in step as containers come and go (`docker link watcher status`)",
            s.message
        )),
        Ok(_) => {}
        Err(e) => output::warn(&format!(
            "the watcher could not be started ({}): links stay as made now, but nothing \
             repairs them (`docker link watcher start`)",
            crate::describe(&e)
        )),
    }
}

/// What [`ensure_running`] did.
pub(crate) struct Ensured {
    pub started: bool,
    pub message: String,
}

/// Starts the watcher unless one of this binary is running; replaces one of another binary.
/// Says what it did.
pub(crate) async fn ensure_running(
    daemon: &Daemon,
    ctx: &Ctx,
    socket: &std::path::Path,
    metrics: std::net::SocketAddr,
    icc: bool,
) -> anyhow::Result<Ensured> {
    let ns = &ctx.config.registry;
    let name = container_name(ns);
    let bin = daemon.static_binary().await?;
    // The net duty's privileges only while a project is up (`docker net up` stored it).
    let net = !crate::net::store::load_all(daemon, Some(ns))
        .await
        .context("listing the projects docker net keeps")?
        .is_empty();
    if let Some(c) = find(daemon, ns).await? {
        // The same binary with the same settings; anything else is replaced.
        let same = c.labels.get(crate::labels::BINARY_SHA256) == Some(&bin.sha256)
            && c.labels.get(ICC_LABEL).map(String::as_str) == Some(icc.to_string().as_str())
            && c.labels.get(NET_LABEL).map(String::as_str) == Some(net.to_string().as_str());
        if same && c.state == crate::docker::engine::State::Running {
            ensure_keeper(daemon, ctx, socket).await?;
            return Ok(Ensured {
                started: false,
                message: format!("the watcher {name} is running"),
            });
        }
        // Another version, or stopped: never two at once, so the old one goes first.
        crate::docker::engine::remove_if_present(daemon, &c.id, true)
            .await
            .with_context(|| format!("removing the old watcher {name}"))?;
    }
    let image = daemon
        .self_image()
        .await
        .context("preparing the watcher's image")?;
    let mut labels = Labels::from([
        (
            crate::labels::ROLE.to_string(),
            crate::labels::WATCHER_ROLE.to_string(),
        ),
        (crate::labels::NAMESPACE.to_string(), ns.clone()),
        (crate::labels::BINARY_SHA256.to_string(), bin.sha256.clone()),
    ]);
    labels.insert("docker-link.metrics".into(), metrics.to_string());
    labels.insert(ICC_LABEL.into(), icc.to_string());
    labels.insert(NET_LABEL.into(), net.to_string());
    let mut env = vec![
        format!("DOCKER_HOST=unix://{SOCKET_IN}"),
        format!("DOCKER_LINK_REGISTRY={ns}"),
        "DOCKER_LINK_LOG=info".to_string(),
        "DOCKER_LINK_LOG_FORMAT=json".to_string(),
    ];
    if let Some(pool) = &ctx.config.pool {
        env.push(format!("DOCKER_LINK_POOL={pool}"));
    }
    let mut binds = vec![format!("{}:{SOCKET_IN}", socket.display())];
    // nf_tables rules in the daemon host's namespace: the one capability the link duty needs
    // besides the socket. The net duty enters containers' namespaces (the host's PID
    // namespace, setns: CAP_SYS_ADMIN) and the projects' switch namespaces pinned under
    // /run/netns; `docker net up` made that a shared mount, so namespaces pinned after the
    // watcher started reach it too.
    let mut cap_add = vec!["NET_ADMIN".to_string()];
    if net {
        // setns into containers' namespaces; SYS_PTRACE to open `/proc/<pid>/ns/net` of a
        // container whose capabilities are not a subset of ours (the kernel's ptrace check).
        cap_add.push("SYS_ADMIN".to_string());
        cap_add.push("SYS_PTRACE".to_string());
        let dir = crate::sys::netns::NAMED_DIR;
        binds.push(format!("{dir}:{dir}:rslave"));
    }
    let spec = ContainerSpec {
        name: name.clone(),
        image,
        cmd: [
            "link",
            "watcher",
            "run",
            "--foreground",
            "--status-file",
            STATUS_FILE,
            "--metrics",
            &metrics.to_string(),
            &format!("--icc={icc}"),
            "--keeper",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain((!net).then(|| "--no-net".to_string()))
        .collect(),
        env,
        labels,
        keep_running: true,
        binds,
        host_network: true,
        cap_add,
        pid_host: net,
        ..Default::default()
    };
    let id = match daemon.create_container(&spec).await {
        Ok(id) => id,
        // Another command started it at the same moment: one watcher, theirs.
        Err(e) if e.is_conflict() => {
            return Ok(Ensured {
                started: false,
                message: format!("the watcher {name} is running"),
            })
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("creating the watcher {name}"))),
    };
    daemon
        .start_container(&id)
        .await
        .with_context(|| format!("starting the watcher {name}"))?;
    ensure_keeper(daemon, ctx, socket).await?;
    Ok(Ensured {
        started: true,
        message: format!("started the watcher {name} (metrics on {metrics} of the daemon's host)"),
    })
}

/// The watcher's keeper (`watch::keeper`): a container of the same binary with the socket
/// and no network, that starts the watcher again after `docker kill` (which Docker's restart
/// policies take for a stop by hand). Made or replaced like the watcher.
async fn ensure_keeper(daemon: &Daemon, ctx: &Ctx, socket: &std::path::Path) -> anyhow::Result<()> {
    let ns = &ctx.config.registry;
    let name = keeper_name(ns);
    let bin = daemon.static_binary().await?;
    if let Some(c) = find_role(daemon, crate::labels::KEEPER_ROLE, ns).await? {
        if c.labels.get(crate::labels::BINARY_SHA256) == Some(&bin.sha256)
            && c.state == crate::docker::engine::State::Running
        {
            return Ok(());
        }
        crate::docker::engine::remove_if_present(daemon, &c.id, true)
            .await
            .with_context(|| format!("removing the old keeper {name}"))?;
    }
    let image = daemon
        .self_image()
        .await
        .context("preparing the keeper's image")?;
    let spec = ContainerSpec {
        name: name.clone(),
        image,
        cmd: ["link", "watcher", "keep"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        env: vec![
            format!("DOCKER_HOST=unix://{SOCKET_IN}"),
            format!("DOCKER_LINK_REGISTRY={ns}"),
            "DOCKER_LINK_LOG=info".to_string(),
            "DOCKER_LINK_LOG_FORMAT=json".to_string(),
        ],
        labels: Labels::from([
            (
                crate::labels::ROLE.to_string(),
                crate::labels::KEEPER_ROLE.to_string(),
            ),
            (crate::labels::NAMESPACE.to_string(), ns.clone()),
            (crate::labels::BINARY_SHA256.to_string(), bin.sha256.clone()),
        ]),
        keep_running: true,
        no_network: true,
        binds: vec![format!("{}:{SOCKET_IN}", socket.display())],
        ..Default::default()
    };
    let id = match daemon.create_container(&spec).await {
        Ok(id) => id,
        // Another command made it at the same moment.
        Err(e) if e.is_conflict() => return Ok(()),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("creating the keeper {name}"))),
    };
    daemon
        .start_container(&id)
        .await
        .with_context(|| format!("starting the keeper {name}"))?;
    Ok(())
}

fn stop(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let ns = ctx.config.registry.clone();
    let removed = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        // The keeper first: it would start the watcher again.
        if let Some(k) = find_role(&daemon, crate::labels::KEEPER_ROLE, &ns).await? {
            crate::docker::engine::remove_if_present(&daemon, &k.id, true).await?;
        }
        match find(&daemon, &ns).await? {
            Some(c) => {
                crate::docker::engine::remove_if_present(&daemon, &c.id, true).await?;
                anyhow::Ok(true)
            }
            None => anyhow::Ok(false),
        }
    })?;
    let name = container_name(&ns);
    output::info(&if removed {
        format!("stopped and removed the watcher {name}")
    } else {
        format!("no watcher {name} was running")
    });
    Ok(ExitCode::SUCCESS)
}

/// What `status` prints.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Shown {
    name: String,
    state: String,
    healthy: bool,
    /// The keeper container's state (`none` when there is none).
    keeper: String,
    #[serde(flatten)]
    status: Option<Status>,
}

fn status(args: StatusArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let ns = ctx.config.registry.clone();
    let name = container_name(&ns);
    let shown = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let Some(c) = find(&daemon, &ns).await? else {
            return anyhow::Ok(None);
        };
        let keeper = find_role(&daemon, crate::labels::KEEPER_ROLE, &ns)
            .await?
            .map_or("none".to_string(), |k| k.state.as_str().to_string());
        let status = match daemon.get_archive(&c.id, STATUS_FILE).await {
            Ok(tar) => file_in_tar(&tar).and_then(|b| serde_json::from_slice::<Status>(&b).ok()),
            Err(_) => None,
        };
        anyhow::Ok(Some(Shown {
            name: name.clone(),
            state: c.state.as_str().to_string(),
            keeper,
            healthy: c.state == crate::docker::engine::State::Running
                && status.as_ref().is_some_and(Status::healthy),
            status,
        }))
    })?;
    let Some(shown) = shown else {
        output::info(&format!(
            "no watcher {name} on this daemon (`docker link watcher start`)"
        ));
        return Ok(ExitCode::from(1));
    };
    if !args.format.is_table() {
        output::print_inspect(&args.format, &[&shown])?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = vec![
        format!("Name:\t{}", shown.name),
        format!("State:\t{}", shown.state),
        format!("Healthy:\t{}", shown.healthy),
        format!("Keeper:\t{}", shown.keeper),
    ];
    if let Some(s) = &shown.status {
        let now = crate::docker::clock::now();
        let ms = |q| {
            s.latency.quantile(q).map_or("-".to_string(), |v| {
                format!("≤ {} ms", (v * 1000.0).round())
            })
        };
        lines.extend([
            format!("Version:\t{}", s.version),
            format!("Uptime:\t{}s", now - s.started),
            format!("Duties:\t{}", s.duties.join(", ")),
            format!(
                "Rules:\t{} ({} writes)",
                s.rules.as_deref().unwrap_or("off"),
                s.rule_writes
            ),
            format!(
                "Metrics:\t{}",
                s.metrics
                    .as_deref()
                    .map_or("off".to_string(), |m| format!("http://{m}/metrics"))
            ),
            format!(
                "Last event:\t{}",
                s.last_event.as_ref().map_or("-".to_string(), |e| format!(
                    "{} {} {} ({}s ago, applied {} ms after)",
                    e.kind,
                    e.action,
                    e.object,
                    now - e.time,
                    e.lag_ms
                ))
            ),
            format!("Events:\t{}", s.events_seen),
            format!("Passes:\t{} (last {} ms)", s.passes, s.last_pass_ms),
            format!("Resyncs:\t{}", s.resyncs),
            format!("Event to applied:\tp50 {}, p99 {}", ms(0.5), ms(0.99)),
            format!("Links:\t{}", s.links),
            format!("Registry restores:\t{}", s.registry_restores),
            format!("Networks removed:\t{}", s.networks_removed),
            format!("Errors:\t{}", s.errors_by_kind.values().sum::<u64>()),
        ]);
        for q in &s.quarantined {
            lines.push(format!(
                "Quarantined:\t{} ({} failures): {}",
                q.object, q.failures, q.reason
            ));
        }
        for e in s.recent_errors.iter().rev().take(5) {
            lines.push(format!(
                "Recent error:\t{} {}: {}",
                e.kind, e.object, e.message
            ));
        }
    } else {
        lines.push("Status:\tnot written yet".to_string());
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    output::write_stdout(output::tabwrite(&text).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The first regular file of a tar (`GET /containers/{id}/archive` of one file).
fn file_in_tar(tar: &[u8]) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    let mut entry = archive.entries().ok()?.flatten().next()?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut out).ok()?;
    Some(out)
}

fn logs(args: LogsArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let mut cmd = super::run::docker_cli(ctx);
    cmd.arg("logs");
    if args.follow {
        cmd.arg("--follow");
    }
    if let Some(t) = &args.tail {
        cmd.args(["--tail", t]);
    }
    cmd.arg(container_name(&ctx.config.registry));
    let status = cmd.status().context("running the docker CLI")?;
    Ok(ExitCode::from(
        status.code().unwrap_or(125).clamp(0, 255) as u8
    ))
}
