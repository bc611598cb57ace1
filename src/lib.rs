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

pub mod cli;
pub mod commands;
pub mod complete;
pub mod docker;
pub mod graph;
pub mod init;
pub mod links;
pub mod net;
pub mod output;
pub mod plugin;
pub mod proxy;
pub mod sys;
pub mod watch;

use plugin::{GlobalOpts, Invocation, Plugin};

/// What every command gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub globals: GlobalOpts,
    pub invocation: Invocation,
    /// The name we were reached by (`docker-ls` → `ls`).
    pub plugin: Plugin,
}

impl Ctx {
    /// The runtime for one-shot commands: one thread, I/O and timers, nothing else.
    pub fn runtime(&self) -> anyhow::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
    }
}

/// The binary's entry point: `fn main() -> ExitCode { docker_link::main(args) }`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let argv0 = args.first().cloned().unwrap_or_default();
    let plugin = Plugin::from_argv0(&argv0);
    let rest = args.get(1..).unwrap_or_default();

    // The probe runs before every docker command: answer before anything else is set up.
    if rest.len() == 1 && rest[0] == "docker-cli-plugin-metadata" {
        println!("{}", plugin.metadata_json());
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

    // The registry container's process: nothing to do but stay up until stopped.
    if rest.len() == 1 && rest[0] == graph::store::IDLE_ARG {
        return sys::idle();
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
            let ctx = Ctx {
                globals,
                invocation,
                plugin,
            };
            return complete::run(&ctx, &rest[1..], with_desc);
        }
    }

    let argv = cli::normalise(plugin, &rest);
    // `docker init` must stay free of threads until it has forked; it is routed before clap
    // builds anything heavier than its own small parser.
    if argv.get(1).is_some_and(|a| a == "init") {
        return commands::init::main(&argv[2..]);
    }

    let ctx = Ctx {
        globals,
        invocation,
        plugin,
    };
    plugin::watch_cli_socket(|| {
        // The CLI closed our socket: it is going away (a second Ctrl-C, or it was killed).
        // One-shot commands have nothing to flush; long-running ones install their own
        // cancellation before this fires.
        if !commands::cancel_long_running() {
            std::process::exit(130);
        }
    });

    let parsed = match cli::parse(argv) {
        Ok(p) => p,
        Err(e) => {
            // clap prints help/version to stdout with exit 0 and usage errors to stderr with 2,
            // as docker does for `--help` and bad flags.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The one place that turns an error into what the user sees and an exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let mut msg = format!("{err}");
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    output::error(&msg);
    for cause in err.chain() {
        if let Some(hint) = hint_for(cause) {
            output::hint(&hint);
            break;
        }
    }
    ExitCode::from(exit_code_for(err))
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
    if let Some(e) = cause.downcast_ref::<bollard::errors::Error>() {
        // The daemon answered the first request and then stopped answering.
        use bollard::errors::Error as B;
        if matches!(
            e,
            B::HyperLegacyError { .. } | B::IOError { .. } | B::RequestTimeoutError
        ) {
            return Some(
                "the daemon stopped answering during the command; when it is back, run the                  command again (`docker link prune` removes what a cut-off command left)"
                    .to_string(),
            );
        }
    }
    None
}

fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<commands::Exit>() {
            return e.0;
        }
        if cause.downcast_ref::<plugin::GlobalOptError>().is_some() {
            return 125;
        }
    }
    1
}
