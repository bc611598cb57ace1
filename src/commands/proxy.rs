//! `docker proxy`: keep an nginx (or haproxy) proxy configured from container labels.

use std::process::ExitCode;

use crate::Ctx;

/// Keep a real nginx or haproxy configured from container labels (`proxy.*`, `interlock.*`),
/// reloading as containers come and go.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Keep a real nginx (or haproxy) proxy configured from container labels.\n\n\
    Routes come from GoDoxy-style `proxy.*` labels and Interlock's `interlock.*` labels; the \
    watcher renders the proxy's configuration, validates it with the proxy itself and reloads \
    it gracefully as containers start and stop.\n\nNot available in this version yet."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Start the proxy and its watcher.
    Up,
    /// Stop and remove the proxy.
    Down,
    /// Show the routes the labels declare.
    Routes,
}

pub fn run(_args: Args, _ctx: &Ctx) -> anyhow::Result<ExitCode> {
    super::not_yet("docker proxy")
}
