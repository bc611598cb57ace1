//! `docker link`: names for containers, parent/child links under aliases (`add`, `rm`,
//! `rename`, `connect`, `inspect`, `env`, `prune`; `run` and `create` in [`run`]), and the
//! maintenance subcommands (`doctor`, `install`, `uninstall`).

mod ops;
pub(crate) mod run;
pub mod watcher;

use std::ffi::OsString;
use std::process::ExitCode;

use crate::output::Format;
use crate::Ctx;

/// Give containers extra names and link parents to children under an alias.
///
/// `docker link CONTAINER NAME` names a container (same as `docker link add`).
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Give containers extra names and link parent to child under an alias.\n\n\
    `docker link CONTAINER NAME` gives CONTAINER the extra name NAME. `docker link run --link \
    db1:redis IMAGE` runs a container linked to db1 under the alias redis: it gets the classic \
    REDIS_PORT_6379_TCP variables, resolves `redis` by DNS, and shares a network only with the \
    containers it links to.",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Give a container an extra name (`docker link CONTAINER NAME` is the same).
    Add(AddArgs),
    /// Remove names or link paths.
    Rm(RmArgs),
    /// Rename a name or link path within its parent.
    Rename(RenameArgs),
    /// Link an existing parent to a child under an alias (DNS and reachability, no env).
    Connect(ConnectArgs),
    /// Show a name or container: names, parents, children, link variables (JSON).
    Inspect(InspectArgs),
    /// Print the variables a link to a container would give, as an env file.
    Env(EnvArgs),
    /// Remove dangling names, empty link networks, unused init volumes and old registry
    /// generations.
    Prune(PruneArgs),
    /// Run a container like `docker run`, plus `--link NAME:ALIAS`.
    #[command(disable_help_flag = true)]
    Run(PassThrough),
    /// Create a container like `docker create`, plus `--link NAME:ALIAS`.
    #[command(disable_help_flag = true)]
    Create(PassThrough),
    /// The background reconciler: start, stop, status, logs, or run it here.
    Watcher(watcher::Args),
    /// Check the installation, the daemon and the kernel features.
    Doctor(super::doctor::Args),
    /// Install the plugin into the docker CLI's plugin directory.
    Install(super::install::InstallArgs),
    /// Remove the plugin's files from the plugin directory.
    Uninstall(super::install::UninstallArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Container: a name, a link path or an id prefix.
    #[arg(allow_hyphen_values = true)]
    pub container: String,
    /// The new name.
    #[arg(allow_hyphen_values = true)]
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Names or link paths (`db1`, `frontend/redis`).
    #[arg(required = true)]
    pub paths: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RenameArgs {
    /// The name or link path to rename.
    pub path: String,
    /// Its new last element.
    #[arg(allow_hyphen_values = true)]
    pub new_name: String,
}

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The parent container.
    pub parent: String,
    /// CHILD:ALIAS
    #[arg(allow_hyphen_values = true)]
    pub link: String,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Names, link paths, docker names or id prefixes.
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Format output: json (default, indented), or a Go template.
    #[arg(short, long, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation (accepted for docker's sake: prune never prompts).
    #[arg(short, long)]
    pub force: bool,
    /// Only remove link networks and init volumes older than this (`until=2m`, the default: a
    /// `docker link run` may be between making its network or volume and its container).
    #[arg(
        long = "filter",
        value_name = "until=DURATION",
        default_value = "until=2m"
    )]
    pub filter: Until,
}

/// `until=DURATION` with DURATION `90s`, `2m`, `1h` or plain seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Until(pub u64);

impl std::str::FromStr for Until {
    type Err = String;

    fn from_str(s: &str) -> Result<Until, String> {
        let bad = || format!("invalid filter {s:?}: expected until=DURATION (90s, 2m, 1h)");
        let d = s.strip_prefix("until=").ok_or_else(bad)?;
        let (num, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len()));
        let n: u64 = num.parse().map_err(|_| bad())?;
        let scale = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(bad()),
        };
        Ok(Until(n * scale))
    }
}

#[cfg(test)]
mod tests {
    use super::Until;

    #[test]
    fn until_filters() {
        let cases = [
            ("until=90s", Some(90)),
            ("until=2m", Some(120)),
            ("until=1h", Some(3600)),
            ("until=0", Some(0)),
            ("until=5d", None),
            ("2m", None),
            ("until=", None),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<Until>().ok().map(|u| u.0), want, "{s}");
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// The child: a name, link path, docker name or id prefix.
    pub path: String,
    /// The alias the variables are named after (default: the last element of PATH).
    #[arg(long = "as")]
    pub alias: Option<String>,
    /// The variable algorithm: v28 (Engine 28 and later) or v27 (the older one).
    #[arg(long = "link-env", default_value = "v28")]
    pub link_env: crate::links::env::Algorithm,
}

/// `docker run`/`create` arguments, passed through unchanged; `--link` is ours.
#[derive(Debug, clap::Args)]
pub struct PassThrough {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// True when `word` names a `docker link` subcommand (else it is `docker link CONTAINER NAME`).
pub fn is_subcommand(word: &str) -> bool {
    use clap::CommandFactory;
    #[derive(clap::Parser)]
    struct Probe {
        #[command(subcommand)]
        sub: Sub,
    }
    Probe::command()
        .get_subcommands()
        .any(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Doctor(a) => super::doctor::run(a, ctx),
        Sub::Watcher(a) => watcher::run(a, ctx),
        Sub::Install(a) => super::install::run_install(a, ctx),
        Sub::Uninstall(a) => super::install::run_uninstall(a, ctx),
        Sub::Add(a) => ops::add(a, ctx),
        Sub::Rm(a) => ops::rm(a, ctx),
        Sub::Rename(a) => ops::rename(a, ctx),
        Sub::Connect(a) => ops::connect(a, ctx),
        Sub::Inspect(a) => ops::inspect(a, ctx),
        Sub::Env(a) => ops::env(a, ctx),
        Sub::Prune(a) => ops::prune(a, ctx),
        Sub::Run(a) => run::run(a, ctx, run::Mode::Run),
        Sub::Create(a) => run::run(a, ctx, run::Mode::Create),
    }
}
