//! `docker net`: declarative layer-2/3 links, bridges and tunnels between containers.

use std::process::ExitCode;

use crate::Ctx;

/// Wire containers with the links, bridges and tunnels a compose file's `x-network` declares.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Wire containers with declared layer-2/3 links, bridges and tunnels.\n\n\
    Reads conlink's `x-network` schema from a compose file (or --network-file): veth links \
    placed straight into container namespaces, bridges in a pinned namespace, vxlan tunnels, \
    and netem where the kernel has it. A second `up` is a no-op.\n\nNot available in this \
    version yet."
)]
pub struct Args {
    /// Compose file(s) to read `x-network` from.
    #[arg(short = 'f', long = "file", global = true, value_hint = clap::ValueHint::FilePath)]
    pub files: Vec<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Create the declared links, bridges and tunnels.
    Up,
    /// Remove what `up` created.
    Down,
    /// Show the planned and the observed wiring.
    Status,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<ExitCode> {
    super::not_yet("docker net")
}
