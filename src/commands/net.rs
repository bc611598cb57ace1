//! `docker net`: declarative layer-2/3 links, bridges and tunnels between containers, from
//! conlink's `x-network` configuration. This module parses and prints; the configuration,
//! its validation and the topology live in [`crate::net`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::net::config::{self, BridgeMode, Defaults};
use crate::net::graph;
use crate::net::interp::Env;
use crate::net::sources::{self, Inputs, Project};
use crate::Ctx;

/// Wire containers with the links, bridges and tunnels a compose file's `x-network` declares.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Wire containers with declared layer-2/3 links, bridges and tunnels.\n\n\
    Reads conlink's `x-network` schema from compose files (top level and per service) and \
    network files (YAML or JSON), merged as conlink merges them, with the environment \
    interpolated and every error reported at once with its path.\n\n\
    `config` and `graph` are available; `up`, `down`, `status` and `wait` are not available \
    in this version yet."
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
    /// Create the declared links, bridges and tunnels (not available yet).
    Up,
    /// Remove what `up` created (not available yet).
    Down,
    /// Show every declared link with its state (not available yet).
    Status,
    /// Wait until a container's interface exists (not available yet).
    Wait,
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

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match &args.command {
        None => Err(super::Usage(
            "docker net needs a command: up, down, status, wait, config or graph (see docker net --help)"
                .to_string(),
        )
        .into()),
        Some(Sub::Up) => super::not_yet("docker net up"),
        Some(Sub::Down) => super::not_yet("docker net down"),
        Some(Sub::Status) => super::not_yet("docker net status"),
        Some(Sub::Wait) => super::not_yet("docker net wait"),
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
