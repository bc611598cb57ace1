//! The clap tree. Each command's `Args` live in its own module under `commands/`; this file only
//! assembles them and turns the plugin's argv into the shape clap parses.

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands;
use crate::plugin::Plugin;

/// `docker` as our commands see it: the five plugin commands, plus hidden maintenance ones.
#[derive(Debug, Parser)]
#[command(
    name = "docker",
    bin_name = "docker",
    version = crate::plugin::VERSION,
    about = "docker-link: container names and links, proxy, networks and init for Docker",
    disable_help_subcommand = true,
    propagate_version = false
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(about = Plugin::Link.short_description())]
    Link(commands::link::Args),
    #[command(about = Plugin::Ls.short_description())]
    Ls(commands::ls::Args),
    #[command(about = Plugin::Proxy.short_description())]
    Proxy(commands::proxy::Args),
    #[command(about = Plugin::Net.short_description())]
    Net(commands::net::Args),
    /// Generate shell completions and man pages (maintainers).
    #[command(hide = true)]
    Generate(commands::generate::Args),
}

/// The whole clap command, for help, completion and man page generation.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // `init` is parsed by its own small parser (it must not pay for clap before it forks),
    // but it belongs in help, completion and man pages like the others.
    cmd = cmd.subcommand(commands::init::clap_command());
    cmd
}

pub fn parse(argv: Vec<OsString>) -> Result<Cli, clap::Error> {
    let matches = command().try_get_matches_from(argv)?;
    Cli::from_arg_matches(&matches)
}

/// Turns what the plugin received (global options already removed) into
/// `["docker", <command>, args…]`:
/// - `help <name> …` becomes `<name> … --help`;
/// - an argv that starts with one of our command names keeps it (`docker ls -a` → `ls -a`);
/// - otherwise the name we were called by is put in front: standalone `docker-ls -a` is
///   `ls -a`, and `docker-link install` is `link install`.
pub fn normalise(plugin: Plugin, rest: &[OsString]) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec!["docker".into()];
    let first = rest.first().map(|a| a.to_string_lossy().into_owned());
    match first.as_deref() {
        Some("help") => {
            let topic = &rest[1..];
            match topic.first() {
                Some(name) if is_command(&name.to_string_lossy()) => {
                    argv.extend(topic.iter().cloned());
                }
                _ => {
                    argv.push(plugin.name().into());
                    argv.extend(topic.iter().cloned());
                }
            }
            argv.push("--help".into());
        }
        Some(name) if is_command(name) => argv.extend(rest.iter().cloned()),
        _ => {
            argv.push(plugin.name().into());
            argv.extend(rest.iter().cloned());
        }
    }
    // `docker link CONTAINER NAME` is `docker link add CONTAINER NAME`; so is `docker link --
    // CONTAINER NAME`, and a first word with a dash that is not a flag of `docker link`
    // (`add` then says why it is no name).
    if argv.len() > 2 && argv[1] == "link" {
        let word = argv[2].to_string_lossy();
        let flag = matches!(word.as_ref(), "-h" | "--help" | "--version" | "-V");
        if word == "--" {
            argv[2] = "add".into();
            argv.insert(3, "--".into());
        } else if !flag && !commands::link::is_subcommand(&word) {
            argv.insert(2, "add".into());
        }
    }
    argv
}

fn is_command(name: &str) -> bool {
    Plugin::from_name(name).is_some() || name == "generate"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn argv_shapes() {
        let cases: &[(Plugin, &[&str], &[&str])] = &[
            (Plugin::Ls, &["ls", "-a"], &["docker", "ls", "-a"]),
            (Plugin::Ls, &["-a"], &["docker", "ls", "-a"]),
            (Plugin::Ls, &[], &["docker", "ls"]),
            (
                Plugin::Link,
                &["link", "abc", "db1"],
                &["docker", "link", "add", "abc", "db1"],
            ),
            (
                Plugin::Link,
                &["link", "rm", "a/b"],
                &["docker", "link", "rm", "a/b"],
            ),
            (
                Plugin::Link,
                &["link", "--help"],
                &["docker", "link", "--help"],
            ),
            (Plugin::Link, &["install"], &["docker", "link", "install"]),
            (
                Plugin::Link,
                &["link", "pa", "-foo"],
                &["docker", "link", "add", "pa", "-foo"],
            ),
            (
                Plugin::Link,
                &["link", "--", "pa", "-foo"],
                &["docker", "link", "add", "--", "pa", "-foo"],
            ),
            (
                Plugin::Link,
                &["link", "-foo", "x"],
                &["docker", "link", "add", "-foo", "x"],
            ),
            (Plugin::Link, &["ls"], &["docker", "ls"]),
            (Plugin::Link, &["help", "ls"], &["docker", "ls", "--help"]),
            (Plugin::Link, &["help"], &["docker", "link", "--help"]),
            (Plugin::Net, &["help", "net"], &["docker", "net", "--help"]),
            (
                Plugin::Proxy,
                &["proxy", "--help"],
                &["docker", "proxy", "--help"],
            ),
            (
                Plugin::Init,
                &["init", "--", "sh"],
                &["docker", "init", "--", "sh"],
            ),
        ];
        for (plugin, rest, want) in cases {
            assert_eq!(
                normalise(*plugin, &os(rest)),
                os(want),
                "{plugin:?} {rest:?}"
            );
        }
    }

    #[test]
    fn clap_tree_is_consistent() {
        command().debug_assert();
    }
}
