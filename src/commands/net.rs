//! `docker net`: declarative layer-2/3 links, bridges and tunnels between containers, from
//! conlink's `x-network` configuration. This module parses and prints; the configuration,
//! its validation and the topology live in [`crate::net`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::net::config::{self, BridgeMode, Defaults};
use crate::net::forward;
use crate::net::graph;
use crate::net::interp::Env;
use crate::net::realize;
use crate::net::sources::{self, Inputs, Project};
use crate::Ctx;

/// Wire containers with the links, bridges and tunnels a compose file's `x-network` declares.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Wire containers with declared layer-2/3 links, bridges and tunnels.\n\n\
    Reads conlink's `x-network` schema from compose files (top level and per service) and \
    network files (YAML or JSON), merged as conlink merges them, with the environment \
    interpolated and every error reported at once with its path.\n\n\
    `up` wires the project's running containers and stores the configuration; the watcher of \
    the same registry namespace (run as root on the daemon's host) wires containers as they \
    start and restart. `down` removes everything `up` made; `status` shows each link's state; \
    `wait` waits for an interface."
)]
pub struct Args {
    /// Compose file(s) to read `x-network` from (default: $COMPOSE_FILE, else compose.yaml
    /// or docker-compose.yml in this directory or the nearest parent).
    #[arg(short = 'f', long = "file", global = true, value_hint = clap::ValueHint::FilePath)]
    pub files: Vec<PathBuf>,
    /// Network configuration file(s), YAML or JSON (`:`-separated lists too).
    #[arg(long = "network-file", global = true, value_hint = clap::ValueHint::FilePath)]
    pub network_files: Vec<PathBuf>,
    /// Compose project name (default: $COMPOSE_PROJECT_NAME, the files' `name:`, the
    /// project directory's name).
    #[arg(short = 'p', long, global = true)]
    pub project: Option<String>,
    /// MTU of links that do not set one.
    #[arg(long, global = true, default_value_t = 65535, value_parser = clap::value_parser!(u32).range(68..=65535))]
    pub default_mtu: u32,
    /// Mode of bridges that do not set one.
    #[arg(long, global = true, default_value = "linux", value_parser = ["auto", "linux", "patch"])]
    pub default_bridge_mode: String,
    #[command(subcommand)]
    pub command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Create the declared links, bridges and tunnels for the running containers.
    Up,
    /// Remove every interface, bridge, tunnel and the switch namespace of the project.
    Down,
    /// Show every declared link with its state: up, waiting, failed (why), drift.
    Status(StatusArgs),
    /// Wait until a container's interface exists (and, with --ip, has its address).
    Wait(WaitArgs),
    /// Validate the merged, interpolated configuration; `--show` prints it as JSON.
    Config(ConfigArgs),
    /// Print the declared topology (containers, bridges, patches, tunnels).
    Graph(GraphArgs),
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Print the configuration as JSON (defaults filled in), as conlink's --show-config.
    #[arg(long)]
    pub show: bool,
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// The compose service (replica INDEX, 1 by default) or a container's name.
    #[arg(value_name = "SERVICE[:INDEX]")]
    pub target: String,
    /// The interface inside the container.
    pub dev: String,
    /// Also wait until it has an address (other than IPv6 link-local).
    #[arg(long)]
    pub ip: bool,
    /// Give up after this many seconds (exit 1).
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// `table`, `json`, or a Go template (`{{.Container}} {{.State}}`).
    #[arg(long, default_value = "table")]
    pub format: crate::output::Format,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Graphviz dot (`dot -Tsvg`) or JSON.
    #[arg(long, default_value = "dot", value_parser = ["dot", "json"])]
    pub format: String,
}

/// The configuration as the command read it.
struct Read {
    project: Project,
    config: config::NetConfig,
}

fn read(args: &Args) -> anyhow::Result<Read> {
    let inputs = Inputs {
        compose_files: args.files.clone(),
        network_files: args.network_files.clone(),
        project: args.project.clone(),
    };
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let env: Env = std::env::vars().collect();
    let project = sources::discover(&inputs, &cwd, &env)?;
    let defaults = Defaults {
        mtu: args.default_mtu,
        bridge_mode: BridgeMode::parse(&args.default_bridge_mode).unwrap_or(BridgeMode::Linux),
    };
    let loaded = config::load(&project.sources, &project.env, &project.scales, &defaults)?;
    for w in &loaded.warnings {
        crate::output::warn(w);
    }
    Ok(Read {
        project,
        config: loaded.config,
    })
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match &args.command {
        None => Err(super::Usage(
            "docker net needs a command: up, down, status, wait, config or graph (see docker net --help)"
                .to_string(),
        )
        .into()),
        Some(Sub::Up) => up(&args, ctx),
        Some(Sub::Down) => down(&args, ctx),
        Some(Sub::Status(st)) => status(&args, st, ctx),
        Some(Sub::Wait(w)) => wait(&args, w, ctx),
        Some(Sub::Config(c)) => {
            let r = read(&args)?;
            if c.show {
                let text = serde_json::to_string_pretty(&r.config)?;
                crate::output::write_stdout(format!("{text}\n").as_bytes())?;
            } else {
                crate::output::info(&format!(
                    "project {}: {} link{}, {} bridge{}, {} tunnel{}, {} command{}: valid",
                    r.project.name,
                    r.config.links.len(),
                    plural(r.config.links.len()),
                    r.config.bridges.len(),
                    plural(r.config.bridges.len()),
                    r.config.tunnels.len(),
                    plural(r.config.tunnels.len()),
                    r.config.commands.len(),
                    plural(r.config.commands.len()),
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Sub::Graph(g)) => {
            let r = read(&args)?;
            let graph = graph::build(&r.project.name, &r.config, &r.project.scales);
            let text = if g.format == "json" {
                format!("{}\n", serde_json::to_string_pretty(&graph)?)
            } else {
                graph::to_dot(&graph)
            };
            crate::output::write_stdout(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// What `up` cannot do yet, checked before anything is applied.
fn unsupported(config: &config::NetConfig) -> Vec<String> {
    let mut out = Vec::new();
    for l in &config.links {
        let who = format!("link {} of {}", l.dev, l.target());
        // netem's rate is done with tbf (this machine kind's kernels lack netem to test the
        // other options against).
        if let Ok((_, other)) = config::netem_rate(&l.netem) {
            if !other.is_empty() {
                out.push(format!(
                    "{who}: netem {} is not supported by this version (only rate, done with tbf)",
                    other.join(", ")
                ));
            }
        }
    }
    for b in &config.bridges {
        if b.mode == BridgeMode::Ovs {
            out.push(format!(
                "bridge {}: mode ovs needs Open vSwitch, which this version does not drive",
                b.bridge
            ));
        }
    }
    for t in &config.tunnels {
        if t.kind != config::TunnelType::Vxlan {
            out.push(format!(
                "tunnel {}: geneve is not supported by this version (vxlan only)",
                t.dev()
            ));
        }
        if !t.netem.is_empty() {
            out.push(format!(
                "tunnel {}: netem is not supported by this version yet",
                t.dev()
            ));
        }
    }
    out
}

fn up(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let r = read(args)?;
    let missing = unsupported(&r.config);
    if !missing.is_empty() {
        anyhow::bail!(
            "cannot realize this configuration:\n  {}",
            missing.join("\n  ")
        );
    }
    let project = r.project.name.clone();
    let (daemon, run) = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        crate::net::store::save(&daemon, &ctx.config.registry, &project, &r.config).await?;
        let publish = forward::publish(&r.config, &r.project.scales);
        let name = forward::container_name(&project);
        match forward::converge(&daemon, &ctx.config.registry, &project, &publish).await? {
            forward::Converged::Made => crate::output::info(&format!(
                "made the port forwarder {name}, publishing {}",
                publish.join(" ")
            )),
            forward::Converged::Remade => crate::output::info(&format!(
                "made the port forwarder {name} again, publishing {}",
                publish.join(" ")
            )),
            forward::Converged::Started => {
                crate::output::info(&format!("started the port forwarder {name}"))
            }
            forward::Converged::Removed => crate::output::info(&format!(
                "removed the port forwarder {name}: nothing is forwarded any more"
            )),
            forward::Converged::Kept | forward::Converged::Nothing => {}
        }
        let run = realize::running(&daemon, &project, &r.config).await?;
        anyhow::Ok((daemon, run))
    })?;
    let lock = crate::sys::pinned::lock()?;
    let mut outcome = realize::reconcile(&project, &r.config, run)?;
    drop(lock);
    // The watcher wires containers that start later: started, or made again with the net
    // duty's privileges, which it has only while a project is up. After this reconcile, so
    // that its first pass finds the links made (a pass at the same moment would make the same
    // objects: the kernel work takes that too, see `net::kernel::exists`).
    ctx.block_on(async {
        crate::commands::link::watcher::start_if_needed(&daemon, ctx).await;
        anyhow::Ok(())
    })?;
    // The containers this run wired: their commands, now that their links are up.
    let (ran, failed) = ctx.block_on(async {
        anyhow::Ok(realize::run_commands(&daemon, &r.config, &outcome.made).await)
    })?;
    outcome.errors.extend(failed);
    if ran > 0 {
        crate::output::info(&format!(
            "project {project}: {ran} command{} run",
            plural(ran)
        ));
    }
    if outcome.made_switch {
        crate::output::info(&format!(
            "made the switch namespace {}",
            crate::net::kernel::switch_ns_name(&project)
        ));
    }
    crate::output::info(&format!(
        "project {project}: {} link{} wired, {} change{} applied{}",
        outcome.wired,
        plural(outcome.wired),
        outcome.changes,
        plural(outcome.changes),
        if outcome.waiting > 0 {
            format!(
                ", {} declared link{} waiting for a container",
                outcome.waiting,
                plural(outcome.waiting)
            )
        } else {
            String::new()
        }
    ));
    if outcome.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!(
            "{} failed:\n  {}",
            outcome.errors.len(),
            outcome.errors.join("\n  ")
        )
    }
}

fn status(args: &Args, s: &StatusArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    use crate::net::kernel;
    use crate::net::plan::desire;
    let project = project_of(args)?;
    let (config, run) = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let Some(cfg) = crate::net::store::load(&daemon, &project).await? else {
            anyhow::bail!(
                "project {project} is not up (no stored configuration): run docker net up"
            );
        };
        let cfg =
            cfg.map_err(|e| anyhow::anyhow!("project {project}: its stored configuration: {e}"))?;
        let run = realize::running(&daemon, &project, &cfg).await?;
        anyhow::Ok((cfg, run))
    })?;
    let switch = crate::sys::pinned::open(&kernel::switch_ns_name(&project))?;
    let (desired, unwired) = desire(&project, &config, &run.instances);
    let forwarder = desired.forward.as_ref().map(|f| f.container.as_str());
    let observed =
        kernel::observe(switch.as_ref(), &run.namespaces, forwarder).map_err(anyhow::Error::msg)?;
    let rows = crate::net::status::rows(&config, &desired, &unwired, &observed, &run.instances);
    crate::output::print(&s.format, &rows)?;
    for e in &run.errors {
        crate::output::warn(e);
    }
    Ok(ExitCode::SUCCESS)
}

/// The project named by `--project`, else by the files.
fn project_of(args: &Args) -> anyhow::Result<String> {
    match &args.project {
        Some(p) => Ok(sources::normalize_project(p)),
        None => Ok(read(args)?.project.name),
    }
}

fn down(args: &Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let project = project_of(args)?;
    let name = crate::net::kernel::switch_ns_name(&project);
    // The stored state goes first: a watcher's pass that starts now finds no project. Then
    // the reconcile lock: a pass under way finishes before anything is removed, and one that
    // waited for the lock finds the project gone (`watch::net`).
    let (daemon, config, removed_state) = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let config = crate::net::store::load(&daemon, &project)
            .await?
            .and_then(Result::ok);
        let removed = crate::net::store::remove(&daemon, &project).await?;
        anyhow::Ok((daemon, config, removed))
    })?;
    let _lock = crate::sys::pinned::lock()?;
    let (run, removed_forwarder) = ctx.block_on(async {
        let run = match &config {
            Some(c) => Some(realize::running(&daemon, &project, c).await?),
            None => None,
        };
        let forwarder = forward::remove(&daemon, &project).await;
        anyhow::Ok((run, forwarder))
    })?;
    // What lives in the containers' own namespaces first (nat rules, macvlans): the switch
    // namespace's removal takes only the veths.
    let mut failed = Vec::new();
    if let Some(run) = &run {
        let (removed, errors) = realize::tear_down_inside(&project, run)?;
        if removed > 0 {
            crate::output::info(&format!(
                "project {project}: removed {removed} link{} inside its containers",
                plural(removed)
            ));
        }
        failed.extend(errors);
        failed.extend(run.errors.iter().cloned());
    }
    match removed_forwarder {
        Ok(true) => crate::output::info(&format!(
            "project {project}: removed the port forwarder {}",
            forward::container_name(&project)
        )),
        Ok(false) => {}
        Err(e) => failed.push(crate::describe(&e)),
    }
    let removed_ns =
        crate::sys::pinned::remove(&name).with_context(|| format!("removing {name}"))?;
    if removed_ns {
        crate::output::info(&format!(
            "project {project}: removed the switch namespace {name} and every link in it"
        ));
    } else if removed_state {
        crate::output::info(&format!(
            "project {project}: removed its stored configuration"
        ));
    } else {
        crate::output::info(&format!("project {project}: nothing to remove"));
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!("{} failed:\n  {}", failed.len(), failed.join("\n  "))
    }
}

fn wait(args: &Args, w: &WaitArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    use crate::docker::engine::{Engine, ListFilter, State};
    let (service, index) = match w.target.rsplit_once(':') {
        Some((s, i)) => (
            s.to_string(),
            i.parse::<u32>()
                .map_err(|_| super::Usage(format!("{:?}: INDEX is a number", w.target)))?,
        ),
        None => (w.target.clone(), 1),
    };
    if crate::net::addr::ifname_error(&w.dev).is_some() {
        return Err(super::Usage(format!("{:?} is not an interface name", w.dev)).into());
    }
    let project = project_of(args).ok();
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs_f64(w.timeout.max(0.0));
    let mut last = String::from("no such container yet");
    ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        loop {
            if ctx.cancel.is_cancelled() {
                return Err(crate::cancel::Interrupted(format!(
                    "waiting for {} {}",
                    w.target, w.dev
                ))
                .into());
            }
            // The replica of the project's service, else a container of that name.
            let mut filter = ListFilter {
                labels: vec![
                    format!("{}={service}", crate::labels::COMPOSE_SERVICE),
                    format!("{}={index}", crate::labels::COMPOSE_NUMBER),
                ],
                ..Default::default()
            };
            if let Some(p) = &project {
                filter
                    .labels
                    .push(format!("{}={p}", crate::labels::COMPOSE_PROJECT));
            }
            let mut found = daemon.list_containers(&filter).await?.containers;
            if found.is_empty() && !w.target.contains(':') {
                found = daemon
                    .list_containers(&ListFilter {
                        names: vec![format!("^/{service}$")],
                        ..Default::default()
                    })
                    .await?
                    .containers;
            }
            if let Some(c) = found.into_iter().find(|c| c.state == State::Running) {
                let info = daemon.inspect_container(&c.id).await?;
                let pid = u32::try_from(info.pid).unwrap_or(0);
                match crate::sys::netns::NetNs::by_pid(pid) {
                    Ok(ns) => match crate::net::kernel::dev_state(&ns, &w.dev) {
                        Ok(Some(d)) if !w.ip || !d.addrs.is_empty() => {
                            let addrs: Vec<String> =
                                d.addrs.iter().map(ToString::to_string).collect();
                            crate::output::info(&format!(
                                "{} {}: {}",
                                info.name,
                                w.dev,
                                if addrs.is_empty() {
                                    "present".to_string()
                                } else {
                                    addrs.join(", ")
                                }
                            ));
                            return Ok(());
                        }
                        Ok(Some(_)) => last = format!("{} has no address yet", w.dev),
                        Ok(None) => last = format!("{} {} does not exist yet", info.name, w.dev),
                        Err(e) => last = e,
                    },
                    Err(e) => last = e.to_string(),
                }
            }
            if std::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "timed out after {} s waiting for {} {}: {last}",
                    w.timeout,
                    w.target,
                    w.dev
                );
            }
            ctx.cancel
                .sleep(std::time::Duration::from_millis(100))
                .await;
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    /// What `up` refuses before it applies anything, each naming the link and the option.
    #[test]
    fn up_refuses_what_it_cannot_realize_by_name() {
        let src = crate::net::config::Source {
            name: "c.yaml".into(),
            kind: crate::net::config::SourceKind::Compose,
            value: crate::net::config::parse_document(
                "x-network:\n  links:\n    - {service: a, bridge: s, netem: rate 1mbit}\n    - {service: b, bridge: s, netem: [delay 10ms, rate 1mbit, loss 1%]}\n  bridges: [{bridge: o, mode: ovs}]\n",
            )
            .unwrap(),
        };
        let cfg = crate::net::config::load(
            &[src],
            &Default::default(),
            &Default::default(),
            &Default::default(),
        )
        .unwrap()
        .config;
        assert_eq!(
            super::unsupported(&cfg),
            [
                "link eth0 of service b: netem delay, loss is not supported by this version (only rate, done with tbf)",
                "bridge o: mode ovs needs Open vSwitch, which this version does not drive",
            ]
        );
    }
}
