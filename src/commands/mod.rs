//! One module per command, each with its clap `Args` beside its `run`. [`dispatch`] is the one
//! exhaustive match from the parsed command line to the code that runs it.

use std::process::ExitCode;

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

/// A failure already reported (by a docker CLI child on its stderr, or by us): exit with this
/// code and print nothing more. [`crate::report`] honours it.
#[derive(Debug, thiserror::Error)]
#[error("exit status {0}")]
pub struct Exit(pub u8);

/// A usage error of our own (a bad argument that clap could not see): exit 125, as docker.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

pub fn dispatch(cli: Cli, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Link(args) => link::run(args, ctx),
        Command::Ls(args) => ls::run(args, ctx),
        Command::Proxy(args) => proxy::run(args, ctx),
        Command::Net(args) => net::run(args, ctx),
        Command::Generate(args) => generate::run(args, ctx),
    }
}

/// What a command that this version does not have yet answers: plainly, and non-zero.
pub fn not_yet(what: &str) -> anyhow::Result<ExitCode> {
    crate::output::error(&format!(
        "{what} is not available in docker-link {} yet",
        crate::plugin::VERSION
    ));
    Ok(ExitCode::from(1))
}
