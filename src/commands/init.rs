//! `docker init`: the command line of the PID 1. Parsed by the init's own small parser at run
//! time ([`crate::init::options`]) so that nothing but the init's code runs before it forks;
//! [`clap_command`] describes the same options for help, completion and man pages.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Arg, ArgAction};

use crate::init::{self, Flavour};

/// The clap description of `docker init`, for help, completion and man pages. A unit test
/// keeps it in step with the parser.
pub fn clap_command() -> clap::Command {
    clap::Command::new("init")
        .about(crate::plugin::Plugin::Init.short_description())
        .long_about(
            "Run COMMAND under a PID 1 that forwards signals, reaps zombies, and on COMMAND's \
             exit sends SIGTERM to what is left, then SIGKILL after the grace period. Outside a \
             container it registers as a child subreaper. Exits with COMMAND's code, or 128 + \
             the signal that killed it. COMMAND starts with the signal mask and ignored signals \
             the init inherited; signals sent with kill are forwarded, synchronous ones (ABRT, \
             SEGV, ...) included.\n\nCalled as docker-init, tini or tini-static it takes \
             tini's command line, and as dumb-init it behaves as dumb-init, so that dockerd's \
             init-path can point at it. Under any other name, NAME -- COMMAND runs this init.",
        )
        .disable_version_flag(true)
        .arg(flag(
            "group",
            'g',
            "Forward signals to COMMAND's process group",
        ))
        .arg(
            valued(
                "remap-exit",
                Some('e'),
                "CODE",
                "Report exit code CODE as 0",
            )
            .action(ArgAction::Append),
        )
        .arg(
            valued(
                "rewrite",
                Some('r'),
                "FROM:TO",
                "Rewrite signal FROM to TO before forwarding; TO 0 drops it",
            )
            .action(ArgAction::Append),
        )
        .arg(
            Arg::new("thug")
                .long("thug")
                .action(ArgAction::SetTrue)
                .help("A stop signal COMMAND blocks or ignores becomes SIGKILL"),
        )
        .arg(valued(
            "grace",
            None,
            "SECS",
            "Grace period before SIGKILL on shutdown (default 5)",
        ))
        .arg(
            Arg::new("no-teardown")
                .long("no-teardown")
                .action(ArgAction::SetTrue)
                .help("Leave the other processes alone when COMMAND exits"),
        )
        .arg(
            valued(
                "wait",
                None,
                "tcp://HOST:PORT",
                "Start COMMAND only once HOST:PORT accepts connections",
            )
            .action(ArgAction::Append),
        )
        .arg(
            Arg::new("wait-links")
                .long("wait-links")
                .action(ArgAction::SetTrue)
                .help("Also wait for every *_PORT_<n>_TCP link variable"),
        )
        .arg(
            valued(
                "wait-net",
                None,
                "DEV",
                "Start COMMAND only once interface DEV exists and is up (docker net)",
            )
            .action(ArgAction::Append),
        )
        .arg(valued(
            "wait-timeout",
            None,
            "SECS",
            "Give up waiting after SECS (default 60)",
        ))
        .arg(valued(
            "bind-port",
            None,
            "PORT",
            "Report running only once PORT is listened on",
        ))
        .arg(
            Arg::new("strict-port-binding")
                .long("strict-port-binding")
                .action(ArgAction::SetTrue)
                .help("... and only by a process of this init's tree"),
        )
        .arg(
            valued(
                "ready-file",
                None,
                "PATH",
                "Write PATH when COMMAND is running",
            )
            .value_hint(clap::ValueHint::FilePath),
        )
        .arg(valued(
            "web-hook",
            None,
            "URL",
            "PUT the state (dock's JSON payload) to URL on each change",
        ))
        .arg(valued(
            "io",
            None,
            "URL",
            "COMMAND's stdin and output (stderr too, as 2>&1) over file://PATH (output \
             appended, stdin /dev/null), tcp://HOST:PORT or tls://HOST:PORT",
        ))
        .arg(
            valued(
                "io-ca",
                None,
                "FILE",
                "PEM CA that verifies a tls:// peer (default: the system's roots)",
            )
            .value_hint(clap::ValueHint::FilePath),
        )
        .arg(valued(
            "log-rotate",
            None,
            "HOURS",
            "With --io file://: gzip the log to <UTC time>-NAME.gz every HOURS (fractions \
             allowed), keep the 5 newest archives",
        ))
        .arg(valued(
            "stdout-prefix",
            None,
            "PREFIX[:COLOUR]",
            "Put PREFIX before every output line; COLOUR is white, green, blue, magenta, \
             yellow, cyan or red",
        ))
        .arg(flag(
            "subreaper",
            's',
            "Register as a child subreaper (the default outside PID 1)",
        ))
        .arg(valued(
            "pdeathsig",
            Some('p'),
            "SIG",
            "Signal to receive when the parent dies",
        ))
        .arg(flag(
            "warn-reaping",
            'w',
            "Warn when reaping a zombie that is not COMMAND",
        ))
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::Count)
                .help("More diagnostics on stderr"),
        )
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::SetTrue)
                .help("Print the version"),
        )
        .arg(
            Arg::new("command")
                .num_args(1..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .value_name("COMMAND")
                .value_hint(clap::ValueHint::CommandWithArguments),
        )
}

fn flag(name: &'static str, short: char, help: &'static str) -> Arg {
    Arg::new(name)
        .short(short)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

fn valued(name: &'static str, short: Option<char>, value: &'static str, help: &'static str) -> Arg {
    let a = Arg::new(name).long(name).value_name(value).help(help);
    match short {
        Some(s) => a.short(s),
        None => a,
    }
}

/// `docker init ARGS…`: runs the init, or prints help/version.
pub fn main(args: &[OsString]) -> ExitCode {
    init::compat_main(Flavour::Ours, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::options;

    /// Every long option clap describes is one the parser accepts and the usage text lists,
    /// and every long option of the usage text is one clap describes.
    #[test]
    fn clap_description_matches_the_parser() {
        let cmd = clap_command();
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "version") {
                continue;
            }
            let mut argv: Vec<OsString> = vec![format!("--{long}").into()];
            if arg.get_action().takes_values() {
                argv.push(
                    match long {
                        "remap-exit" => "3",
                        "rewrite" => "TERM:USR1",
                        "grace" => "1",
                        "pdeathsig" => "KILL",
                        "wait" => "tcp://127.0.0.1:1",
                        "wait-timeout" => "1",
                        "bind-port" => "8080",
                        "web-hook" => "http://127.0.0.1:1/",
                        "io" => "file:///tmp/app.log",
                        "io-ca" => "/tmp/ca.pem",
                        "log-rotate" => "0.5",
                        "stdout-prefix" => "web:cyan",
                        _ => "x",
                    }
                    .into(),
                );
            }
            match long {
                "strict-port-binding" => argv.extend(["--bind-port".into(), "1".into()]),
                "io-ca" => argv.extend(["--io".into(), "tls://127.0.0.1:1".into()]),
                "log-rotate" => argv.extend(["--io".into(), "file:///tmp/app.log".into()]),
                _ => {}
            }
            argv.push("true".into());
            assert!(
                options::parse(Flavour::Ours, &argv).is_ok(),
                "the parser refuses --{long}"
            );
            assert!(
                options::usage(Flavour::Ours).contains(&format!("--{long}")),
                "usage lacks --{long}"
            );
        }
        let usage = options::usage(Flavour::Ours);
        for word in usage.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if let Some(long) = word
                .strip_prefix("--")
                .filter(|l| !l.is_empty() && *l != "help")
            {
                assert!(
                    cmd.get_arguments().any(|a| a.get_long() == Some(long)),
                    "clap lacks --{long} of the usage text"
                );
            }
        }
        cmd.debug_assert();
    }
}
