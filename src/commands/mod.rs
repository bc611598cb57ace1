//! One module per command, each with its clap `Args` beside its `run`. [`dispatch`] is the one
//! exhaustive match from the parsed command line to the code that runs it.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::{Cli, Command};
use crate::Ctx;

pub mod doctor;
pub mod generate;
pub mod init;
pub mod install;
pub mod link;
pub mod ls;
pub mod net;
pub mod proxy;

/// An error that carries its own exit code (docker's conventions: 1 for failures, 125 for
/// usage errors of the plugin itself). [`crate::report`] honours it.
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub struct Exit(pub u8);

pub fn dispatch(cli: Cli, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Link(args) => link::run(args, ctx),
        Command::Ls(args) => ls::run(args, ctx),
        Command::Proxy(args) => proxy::run(args, ctx),
        Command::Net(args) => net::run(args, ctx),
        Command::Generate(args) => generate::run(args, ctx),
    }
}

static LONG_RUNNING: AtomicBool = AtomicBool::new(false);
static CANCEL: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>> = std::sync::OnceLock::new();

/// A long-running command (the watcher, `proxy`) registers how to stop gracefully when the
/// docker CLI closes its socket.
pub fn on_cli_gone(cancel: impl Fn() + Send + Sync + 'static) {
    if CANCEL.set(Box::new(cancel)).is_ok() {
        LONG_RUNNING.store(true, Ordering::SeqCst);
    }
}

/// Called when the CLI socket closes; false when no long-running command is there to stop.
pub fn cancel_long_running() -> bool {
    if !LONG_RUNNING.load(Ordering::SeqCst) {
        return false;
    }
    if let Some(cancel) = CANCEL.get() {
        cancel();
    }
    true
}

/// What a command that this version does not have yet answers: plainly, and non-zero.
pub fn not_yet(what: &str) -> anyhow::Result<ExitCode> {
    crate::output::error(&format!(
        "{what} is not available in docker-link {} yet",
        crate::plugin::VERSION
    ));
    Ok(ExitCode::from(1))
}
