//! docker-link: one binary, five docker commands.
//!
//! The crate map (see DESIGN.md for the why):
//! - [`plugin`]: the CLI plugin protocol: names, metadata probe, global options, lifetime socket.
//! - [`complete`]: cobra's `__complete` protocol for the five names.
//! - [`cli`]: the clap tree; each command's `Args` live beside its `run` in [`commands`].
//! - [`docker`]: the daemon connection (endpoint resolution, transports, typed errors) and the
//!   self image.
//! - [`graph`], [`links`]: the name/link graph, its registry store, and link realization.
//! - [`watch`], [`proxy`], [`net`]: the reconciler and what it drives.
//! - [`init`]: the PID 1. It never starts tokio and never touches the daemon.
//! - [`sys`]: the only module with `unsafe`.
//! - [`output`]: the one printer.
//!
//! This file normalises argv (metadata probe, global options, `help <name>`, standalone use),
//! dispatches with one exhaustive match, and maps errors to exit codes in one place.

use std::ffi::OsString;
use std::process::ExitCode;

pub mod cancel;
pub mod cli;
pub mod commands;
pub mod complete;
pub mod docker;
pub mod graph;
pub mod init;
pub mod labels;
pub mod links;
pub mod net;
pub mod output;
pub mod plugin;
pub mod proxy;
pub mod sys;
pub mod watch;

use plugin::{GlobalOpts, Invocation, Plugin};

/// The settings read from the environment, once, at start: nothing deeper in the code reads
/// the environment.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The registry namespace (`DOCKER_LINK_REGISTRY`; `default`): separate graphs on one
    /// daemon (tests use their own).
    pub registry: String,
    /// The link networks' subnet pool as given (`DOCKER_LINK_POOL`), parsed where it is used
    /// so that commands without links never fail on it.
    pub pool: Option<String>,
    /// A static docker-link to put into containers when this binary is not one
    /// (`DOCKER_LINK_STATIC_BIN`).
    pub static_bin: Option<std::path::PathBuf>,
    /// Whether commands that need the watcher start it (`DOCKER_LINK_WATCHER=off` says no).
    pub auto_watcher: bool,
    /// How long a TAB waits for the daemon (`DOCKER_LINK_COMPLETE_TIMEOUT`, seconds).
    pub complete_timeout: Option<std::time::Duration>,
}

impl Config {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Config {
        let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        Config {
            registry: set("DOCKER_LINK_REGISTRY").unwrap_or_else(|| "default".to_string()),
            pool: set("DOCKER_LINK_POOL"),
            static_bin: set("DOCKER_LINK_STATIC_BIN").map(Into::into),
            complete_timeout: set("DOCKER_LINK_COMPLETE_TIMEOUT")
                .and_then(|s| s.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(std::time::Duration::from_secs_f64),
            auto_watcher: !matches!(
                set("DOCKER_LINK_WATCHER")
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("off" | "0" | "false" | "no")
            ),
        }
    }

    pub fn pool(&self) -> Result<links::pool::Pool, links::pool::PoolError> {
        links::pool::Pool::from_setting(self.pool.as_deref())
    }
}

/// What every command gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub globals: GlobalOpts,
    pub invocation: Invocation,
    /// The name we were reached by (`docker-ls` → `ls`).
    pub plugin: Plugin,
    pub config: Config,
    /// Cancelled by Ctrl-C, SIGTERM, or the docker CLI closing its plugin socket.
    pub cancel: cancel::Cancel,
    /// The one-shot runtime, made on first use and kept: a daemon connection made on it
    /// must not outlive it.
    runtime: std::sync::Arc<std::sync::OnceLock<tokio::runtime::Runtime>>,
}

impl Ctx {
    pub fn new(globals: GlobalOpts, invocation: Invocation, plugin: Plugin, config: Config) -> Ctx {
        Ctx {
            globals,
            invocation,
            plugin,
            config,
            cancel: cancel::Cancel::new(),
            runtime: Default::default(),
        }
    }

    /// The runtime for one-shot commands: one thread, I/O and timers, nothing else.
    pub fn runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
    }

    /// The runtime for long-running work (the watcher): worker threads, I/O and timers.
    pub fn multi_thread_runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
    }

    /// Runs a one-shot command's future on a current-thread runtime. Ctrl-C, SIGTERM and
    /// SIGHUP cancel [`Ctx::cancel`] instead of killing the process, so that a write stops
    /// where it can (its change there or not) and rollbacks run.
    pub fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let rt = match self.runtime.get() {
            Some(rt) => rt,
            None => {
                let rt = self.runtime()?;
                self.runtime.get_or_init(|| rt)
            }
        };
        rt.block_on(async {
            let cancel = self.cancel.clone();
            let watcher = tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let kinds = [
                    SignalKind::interrupt(),
                    SignalKind::terminate(),
                    SignalKind::hangup(),
                ];
                let mut streams: Vec<_> =
                    kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
                let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
                futures_util::future::select_all(waits).await;
                cancel.cancel();
            });
            let out = f.await;
            watcher.abort();
            out
        })
    }
}

/// 64 bits that differ between calls and processes (names of intents and networks, jitter).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

/// The binary's entry point: `fn main() -> ExitCode { docker_link::main(args) }`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let argv0 = args.first().cloned().unwrap_or_default();
    let plugin = Plugin::from_argv0(&argv0);
    let rest = args.get(1..).unwrap_or_default();

    // The probe runs before every docker command: answer before anything else is set up.
    if rest.len() == 1 && rest[0] == "docker-cli-plugin-metadata" {
        let _ = output::write_stdout(format!("{}\n", plugin.metadata_json()).as_bytes());
        return ExitCode::SUCCESS;
    }

    let invocation = if std::env::var_os("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND").is_some() {
        Invocation::Plugin
    } else {
        Invocation::Standalone
    };

    // Called by a peer's name (dockerd's `--init-path`, the peers' own test suites), the
    // binary speaks that peer's command line. Checked before any other setup: an init
    // must not start threads before it forks its child.
    if let Some(flavour) = init::Flavour::from_argv0(&argv0) {
        let first = rest.first().map(|a| a.to_string_lossy());
        let plugin_call = invocation == Invocation::Plugin
            || matches!(
                first.as_deref(),
                Some("init" | "__complete" | "__completeNoDesc")
            );
        if !plugin_call {
            return init::compat_main(flavour, rest);
        }
    }

    // `init` before anything else is set up (tracing, clap, the configuration): the init's
    // path touches as little of the binary as it can, and starts no thread before its fork.
    // With docker's global options before it, the slower path below gets there too.
    if rest.first().is_some_and(|a| a == "init") {
        return commands::init::main(&rest[1..]);
    }
    // Copied into an image under a name of its own (`COPY docker-link /init`), `/init -- CMD`
    // runs the init, as tini's `-- CMD` would.
    if rest.first().is_some_and(|a| a == "--") && !plugin::is_known_name(&argv0) {
        return commands::init::main(rest);
    }

    // The registry container's process: write the graph's copy, then stay up until stopped.
    if rest.first().is_some_and(|a| a == graph::copy::IDLE_ARG) {
        return graph::copy::idle_main(&rest[1..]);
    }

    let (globals, rest) = match GlobalOpts::parse(rest) {
        Ok(v) => v,
        Err(e) => return report(&anyhow::Error::new(e)),
    };
    init_tracing(&globals);

    if let Some(first) = rest.first() {
        if first == "__complete" || first == "__completeNoDesc" {
            let with_desc = first == "__complete"
                && std::env::var_os("DOCKER_CLI_DISABLE_COMPLETION_DESCRIPTION").is_none();
            let config = Config::from_env(&|k| std::env::var(k).ok());
            let ctx = Ctx::new(globals, invocation, plugin, config);
            return complete::run(&ctx, &rest[1..], with_desc);
        }
    }

    let argv = cli::normalise(plugin, &rest);
    // `docker -D init …`: global options came first. The init must stay free of threads
    // until it has forked; it is routed before clap builds anything heavier than its parser.
    if argv.get(1).is_some_and(|a| a == "init") {
        return commands::init::main(&argv[2..]);
    }

    let config = Config::from_env(&|k| std::env::var(k).ok());
    let ctx = Ctx::new(globals, invocation, plugin, config);
    let on_eof = ctx.cancel.clone();
    // The CLI closed our socket: it is going away (a second Ctrl-C, or it was killed). The
    // running command stops where it can and rolls back what it must.
    plugin::watch_cli_socket(move || on_eof.cancel());

    let parsed = match cli::parse(argv) {
        Ok(p) => p,
        Err(e) => {
            // clap prints help/version to stdout with exit 0; a usage error goes to stderr and
            // exits 125, as docker's own usage errors do.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    match commands::dispatch(parsed, &ctx) {
        Ok(code) => code,
        Err(e) => report(&e),
    }
}

fn init_tracing(globals: &GlobalOpts) {
    let level = if globals.debug {
        "debug".to_string()
    } else {
        match globals.log_level.as_deref() {
            Some(l @ ("debug" | "info" | "warn" | "error")) => l.to_string(),
            Some("fatal") => "error".to_string(),
            _ => "warn".to_string(),
        }
    };
    let filter = std::env::var("DOCKER_LINK_LOG").unwrap_or(level);
    // The watcher's container logs one JSON object a line (time, level, message, fields), for
    // `docker link watcher logs` and log collectors; people at a terminal read text.
    if std::env::var("DOCKER_LINK_LOG_FORMAT").is_ok_and(|f| f == "json") {
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(output::colour_on_stderr())
        .with_target(false)
        .without_time()
        .try_init();
}

/// Docker's exit code for a usage error of the command itself.
pub const USAGE: u8 = 125;
/// The exit code of a command stopped by Ctrl-C or SIGTERM before it was done.
pub const INTERRUPTED: u8 = 130;

/// The one place that turns an error into what the user sees and an exit code: usage errors
/// 125 (as docker), interruptions 130, a docker child's own exit code passed through (its
/// message already printed, so nothing is printed again), everything else 1.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if let Some(code) = err.chain().find_map(|c| c.downcast_ref::<commands::Exit>()) {
        return ExitCode::from(code.0);
    }
    output::error(&describe(err));
    for cause in err.chain() {
        if let Some(hint) = hint_for(cause) {
            output::hint(&hint);
            break;
        }
    }
    ExitCode::from(exit_code_for(err))
}

/// An error with its causes on one line, each said once: typed errors keep their source for
/// `hint_for` and also name it in their own message, so anyhow's `{:#}` would repeat it.
pub(crate) fn describe(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

fn hint_for(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = cause.downcast_ref::<docker::Error>() {
        return e.hint();
    }
    if let Some(e) = cause.downcast_ref::<sys::Error>() {
        return e.hint();
    }
    if let Some(e) = cause.downcast_ref::<docker::self_image::SelfImageError>() {
        return e.hint();
    }
    if let Some(e) = cause.downcast_ref::<docker::EngineError>() {
        // The daemon answered the first request and then stopped answering.
        return e.hint();
    }
    if let Some(e) = cause.downcast_ref::<bollard::errors::Error>() {
        return docker::daemon::map("", clone_bollard(e)?).hint();
    }
    None
}

/// The bollard errors that mean "the daemon stopped answering", for the hint; None for others.
fn clone_bollard(e: &bollard::errors::Error) -> Option<bollard::errors::Error> {
    use bollard::errors::Error as B;
    matches!(
        e,
        B::HyperLegacyError { .. } | B::IOError { .. } | B::RequestTimeoutError
    )
    .then_some(B::RequestTimeoutError)
}

fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<plugin::GlobalOptError>().is_some()
            || cause.downcast_ref::<commands::Usage>().is_some()
        {
            return USAGE;
        }
        if cause.downcast_ref::<cancel::Interrupted>().is_some() {
            return INTERRUPTED;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("proxy p: {source}")]
    struct Typed {
        source: std::io::Error,
    }

    #[test]
    fn describe_says_each_cause_once() {
        let typed = Typed {
            source: std::io::Error::other("running sh in container abc: refused"),
        };
        let e = anyhow::Error::new(typed).context("proxy pass");
        assert_eq!(
            format!("{e:#}"),
            "proxy pass: proxy p: running sh in container abc: refused: \
             running sh in container abc: refused",
            "what anyhow alone prints"
        );
        assert_eq!(
            super::describe(&e),
            "proxy pass: proxy p: running sh in container abc: refused"
        );
        let plain = anyhow::anyhow!("a").context("b");
        assert_eq!(super::describe(&plain), "b: a");
    }
}
