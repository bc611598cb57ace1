//! `docker-link generate` (hidden): write the shell completions and man pages that are
//! committed under `completions/` and `man/`.
//!
//! Both come from the clap tree ([`crate::cli::command`]), so they are regenerated whenever a
//! command changes: `cargo run -- generate --out .`. The integration test `generated` fails
//! when the committed files differ from what this writes.
//!
//! - `completions/docker-link.bash`, `_docker-link` (zsh), `docker-link.fish`: static
//!   completion (clap_complete) for running the binary by hand (`docker-link ls -a`). Through
//!   the docker CLI, `docker link <TAB>` needs none of these: the CLI asks the plugin itself
//!   (`__complete`, see [`crate::complete`]), with container names from the daemon.
//! - `man/docker-link.1` and one page per command and subcommand, named by its path:
//!   `docker-link-ls.1`, `docker-link-link-run.1`; their synopses read `docker link run …`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Repository root to write `completions/` and `man/` into.
    #[arg(long, default_value = ".", value_hint = clap::ValueHint::DirPath)]
    pub out: PathBuf,
}

pub fn run(args: Args, _ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let files = files().context("cannot render the completions and man pages")?;
    for dir in ["completions", "man"] {
        let dir = args.out.join(dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // A page for a command that no longer exists must not linger.
    let man_dir = args.out.join("man");
    let entries = std::fs::read_dir(&man_dir)
        .with_context(|| format!("cannot read {}", man_dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let rel = Path::new("man").join(path.file_name().unwrap_or_default());
        let ours = path.extension().is_some_and(|e| e == "1");
        if ours && !files.iter().any(|(p, _)| *p == rel) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    for (rel, content) in &files {
        let path = args.out.join(rel);
        std::fs::write(&path, content)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    crate::output::info(&format!(
        "wrote {} files under {}",
        files.len(),
        args.out.join("{completions,man}").display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Every generated file: its path relative to the repository root and its content.
pub fn files() -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    let shells: [(clap_complete::Shell, &str); 3] = [
        (clap_complete::Shell::Bash, "docker-link.bash"),
        (clap_complete::Shell::Zsh, "_docker-link"),
        (clap_complete::Shell::Fish, "docker-link.fish"),
    ];
    for (shell, name) in shells {
        let mut cmd = standalone_command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "docker-link", &mut buf);
        if shell == clap_complete::Shell::Bash {
            buf = fix_bash_names(&buf);
        }
        out.push((Path::new("completions").join(name), buf));
    }

    let mut root = man_root();
    root.build();
    let mut pages = Vec::new();
    collect_pages(&root, &mut pages);
    for cmd in pages {
        let man = clap_mangen::Man::new(cmd)
            .source(format!("docker-link {}", crate::plugin::VERSION))
            .manual("docker-link");
        let mut buf = Vec::new();
        man.render(&mut buf)?;
        out.push((Path::new("man").join(man.get_filename()), buf));
    }
    Ok(out)
}

/// clap_complete 4.6 names the bash cases of a hyphenated binary's subcommands two ways:
/// `docker__link__subcmd__ls` where it walks the words, `docker__subcmd__link__subcmd__ls`
/// where it lists their options, so nothing below the top level would complete. Use the
/// first spelling for both.
fn fix_bash_names(script: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(script)
        .replace("docker__subcmd__link__subcmd__", "docker__link__subcmd__")
        .into_bytes()
}

fn collect_pages(cmd: &clap::Command, pages: &mut Vec<clap::Command>) {
    pages.push(cmd.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect_pages(sub, pages);
    }
}

/// The tree the man pages describe: the five docker commands, as `docker <command>`, in pages
/// named `docker-link-<command>…`.
fn man_root() -> clap::Command {
    crate::cli::command()
        .name("docker-link")
        .bin_name("docker")
        .disable_help_subcommand(true)
}

/// The standalone binary's command line (see [`crate::cli::normalise`]): `docker-link` is
/// `docker link`, and the other commands are reachable by name (`docker-link ls`).
fn standalone_command() -> clap::Command {
    let root = crate::cli::command();
    // The tree always has `link` (`cli::Command::Link`); a bare command would do otherwise.
    let mut cmd = root
        .find_subcommand("link")
        .cloned()
        .unwrap_or_else(|| clap::Command::new("link"))
        .name("docker-link")
        .version(crate::plugin::VERSION)
        .disable_help_subcommand(true);
    for sub in root
        .get_subcommands()
        .filter(|s| s.get_name() != "link" && !s.is_hide_set())
    {
        cmd = cmd.subcommand(sub.clone());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_page_and_completions_name_them() {
        let files = files().unwrap();
        let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        for want in [
            "completions/docker-link.bash",
            "completions/_docker-link",
            "completions/docker-link.fish",
            "man/docker-link.1",
            "man/docker-link-ls.1",
            "man/docker-link-link.1",
            "man/docker-link-link-run.1",
            "man/docker-link-net.1",
            "man/docker-link-proxy.1",
            "man/docker-link-init.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        assert!(
            !names.iter().any(|n| n.contains("generate")),
            "hidden commands get no page: {names:?}"
        );
        let page = |name: &str| {
            let (_, content) = files
                .iter()
                .find(|(p, _)| p.ends_with(name))
                .unwrap_or_else(|| panic!("{name}"));
            String::from_utf8(content.clone()).unwrap()
        };
        let run = page("docker-link-link-run.1");
        assert!(
            run.contains(r"docker link run"),
            "synopsis names the docker command: {run}"
        );
        let bash = page("docker-link.bash");
        for word in ["install", "rm", "ls", "net"] {
            assert!(
                bash.contains(word),
                "bash completion lacks {word}: {bash:.400}"
            );
        }
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(files().unwrap(), files().unwrap());
    }
}
