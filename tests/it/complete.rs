//! Completion as a shell gets it: `docker __complete …` through the real docker CLI, with the
//! binary installed as the five plugins in a temporary `DOCKER_CONFIG`, and the binary's own
//! argv shapes (`__completeNoDesc` without the plugin name).
//!
//! The daemon tests (`test-docker`) create a container with a unique name and check that the
//! CLI offers it; the others need no daemon.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{self, TempDir};

/// A `DOCKER_CONFIG` whose `cli-plugins` holds the five names, as symlinks to the binary
/// under test (argv[0] is the symlink's path, as with an installed plugin).
fn plugin_config() -> TempDir {
    let tmp = TempDir::new("complete-config");
    let plugins = tmp.path().join("cli-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for name in ["link", "ls", "proxy", "net", "init"] {
        let link = plugins.join(format!("docker-{name}"));
        std::os::unix::fs::symlink(support::bin(), &link)
            .unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
    }
    tmp
}

/// What a completion printed: the candidate lines and the directive.
#[derive(Debug)]
struct Completion {
    lines: Vec<String>,
    directive: u32,
}

impl Completion {
    fn parse(stdout: &[u8]) -> Completion {
        let text = String::from_utf8_lossy(stdout);
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let last = lines.pop().unwrap_or_default();
        let directive = last
            .strip_prefix(':')
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("no directive line in {text:?}"));
        Completion { lines, directive }
    }

    fn values(&self) -> Vec<&str> {
        self.lines
            .iter()
            .map(|l| l.split('\t').next().unwrap_or(""))
            .collect()
    }

    fn has(&self, value: &str) -> bool {
        self.values().contains(&value)
    }

    #[cfg_attr(not(feature = "test-docker"), allow(dead_code))]
    fn description(&self, value: &str) -> Option<&str> {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(value)?.strip_prefix('\t'))
    }
}

/// `docker __complete <args…>` with our plugins.
#[cfg(feature = "test-docker")]
fn docker_complete(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Completion {
    support::require_daemon();
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_CONFIG", config)
        // The suite runs several docker tests at once: a loaded daemon may take longer than
        // a TAB's second to list containers.
        .env("DOCKER_LINK_COMPLETE_TIMEOUT", "20")
        .arg("__complete")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = support::run(&mut cmd);
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    Completion::parse(&out.stdout)
}

/// The plugin binary directly, called by `name` (`docker-ls`), as cobra's old bash script does.
fn plugin_complete(config: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Completion {
    let mut cmd = Command::new(config.join("cli-plugins").join(format!("docker-{name}")));
    cmd.args(args)
        .stdin(Stdio::null())
        .env("DOCKER_LINK_COMPLETE_TIMEOUT", "20")
        .env_remove("DOCKER_CLI_DISABLE_COMPLETION_DESCRIPTION");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = support::run(&mut cmd);
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Completion ended with directive:"),
        "cobra's stderr line: {out:?}"
    );
    Completion::parse(&out.stdout)
}

#[cfg(feature = "test-docker")]
mod daemon {
    use super::*;
    use crate::support::{images, Container};

    #[test]
    fn docker_link_tab_offers_subcommands_and_containers() {
        let config = plugin_config();
        let c = Container::run("complete", &[images::busybox(), "sleep", "3600"]);
        let short_id = &c.id[..12];

        let got = docker_complete(config.path(), &["link", ""], &[]);
        for sub in ["add", "rm", "run", "install", "connect"] {
            assert!(got.has(sub), "`docker link <TAB>` lacks {sub}: {got:?}");
        }
        assert!(
            got.has(&c.name),
            "`docker link <TAB>` lacks {}: {got:?}",
            c.name
        );
        assert!(
            got.has(short_id),
            "`docker link <TAB>` lacks {short_id}: {got:?}"
        );
        let desc = got.description(&c.name).unwrap_or_default();
        assert!(
            desc.contains(images::busybox()) && desc.contains("running"),
            "the container's description names its image and state: {desc:?}"
        );
        assert!(
            !got.has("generate"),
            "hidden commands are not offered: {got:?}"
        );
        assert_eq!(got.directive, 4, "{got:?}");

        // A prefix narrows the containers as it narrows the subcommands.
        let got = docker_complete(config.path(), &["link", &c.name[..c.name.len() - 2]], &[]);
        assert!(got.has(&c.name), "{got:?}");
        assert!(!got.has("add"), "{got:?}");

        let got = docker_complete(config.path(), &["link", "rm", ""], &[]);
        assert!(got.has(&c.name), "`docker link rm <TAB>`: {got:?}");
        assert!(!got.has("add"), "no subcommands after rm: {got:?}");

        // `docker link CONTAINER <TAB>`: the new name is the user's to invent.
        let got = docker_complete(config.path(), &["link", &c.name, ""], &[]);
        assert!(got.lines.is_empty(), "{got:?}");
        assert_eq!(got.directive, 4);

        // CHILD:ALIAS: the container and a colon, no space after it.
        let got = docker_complete(config.path(), &["link", "connect", &c.name, ""], &[]);
        let child = format!("{}:", c.name);
        assert!(got.has(&child), "{got:?}");
        assert_eq!(got.directive, 4 | 2, "{got:?}");
    }

    #[test]
    fn descriptions_can_be_turned_off() {
        let config = plugin_config();
        let c = Container::run("complete-nodesc", &[images::busybox(), "sleep", "3600"]);
        let env = [("DOCKER_CLI_DISABLE_COMPLETION_DESCRIPTION", "1")];
        let got = docker_complete(config.path(), &["link", ""], &env);
        assert!(got.has(&c.name) && got.has("rm"), "{got:?}");
        assert!(
            got.lines.iter().all(|l| !l.contains('\t')),
            "no descriptions: {got:?}"
        );
    }

    #[test]
    fn flags_of_every_plugin_complete() {
        let config = plugin_config();
        let got = docker_complete(config.path(), &["ls", "--f"], &[]);
        assert_eq!(got.values(), ["--filter", "--format"], "{got:?}");
        assert!(
            got.description("--format").is_some_and(|d| !d.is_empty()),
            "{got:?}"
        );
        assert_eq!(got.directive, 4);

        let got = docker_complete(config.path(), &["ls", "--format", ""], &[]);
        assert_eq!(got.values(), ["table", "json"], "{got:?}");

        // `docker net -f <TAB>`: compose files, by extension.
        let got = docker_complete(config.path(), &["net", "-f", ""], &[]);
        assert_eq!(got.values(), ["yaml", "yml"], "{got:?}");
        assert_eq!(got.directive, 8, "{got:?}");

        let got = docker_complete(config.path(), &["proxy", ""], &[]);
        assert!(got.has("up") && got.has("down"), "{got:?}");

        let got = docker_complete(config.path(), &["link", "install", "--dir", ""], &[]);
        assert_eq!(got.directive, 16, "directories only: {got:?}");
    }

    #[test]
    fn link_run_completes_as_docker_run() {
        let config = plugin_config();
        let c = Container::run("complete-run", &[images::busybox(), "sleep", "3600"]);
        let image = images::busybox();
        let prefix = &image[..image.len() - 3];

        // Images and docker run's own flags come from the docker CLI.
        let got = docker_complete(config.path(), &["link", "run", "-d", prefix], &[]);
        assert!(
            got.has(image),
            "`docker link run -d <image prefix><TAB>`: {got:?}"
        );
        let got = docker_complete(config.path(), &["link", "run", "--network", ""], &[]);
        assert!(got.has("bridge"), "{got:?}");

        // --link and the 2013 -link: containers, then the alias.
        for flag in ["--link", "-link"] {
            let got = docker_complete(config.path(), &["link", "run", flag, ""], &[]);
            assert!(got.has(&format!("{}:", c.name)), "{flag}: {got:?}");
            assert_eq!(got.directive, 4 | 2, "{flag}: {got:?}");
        }
    }
}

/// The old bash script's shape: `__completeNoDesc <args…>` without the plugin's name.
#[test]
fn the_binary_answers_both_argv_shapes() {
    let config = plugin_config();
    let no_daemon = [("DOCKER_HOST", "unix:///nonexistent/docker.sock")];
    let with_name = plugin_complete(
        config.path(),
        "ls",
        &["__complete", "ls", "--a"],
        &no_daemon,
    );
    let without = plugin_complete(
        config.path(),
        "ls",
        &["__completeNoDesc", "--a"],
        &no_daemon,
    );
    assert_eq!(with_name.values(), ["--all"], "{with_name:?}");
    assert!(with_name.lines[0].contains('\t'), "{with_name:?}");
    assert_eq!(without.lines, ["--all"], "{without:?}");

    // `docker-link` reaches the other commands by name, as when run by hand.
    let got = plugin_complete(
        config.path(),
        "link",
        &["__complete", "net", ""],
        &no_daemon,
    );
    assert!(got.has("up") && got.has("down"), "{got:?}");
}

/// A daemon that accepts and never answers: completion still prints what it knows, and its
/// directive, instead of hanging the shell.
#[test]
fn a_silent_daemon_does_not_hang_completion() {
    let config = plugin_config();
    let sock = config.path().join("silent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let host = format!("unix://{}", sock.display());
    let mut child = Command::new(config.path().join("cli-plugins/docker-link"))
        .args(["__complete", "link", ""])
        .env("DOCKER_HOST", &host)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A guard against hanging the suite, not a timing assertion: the plugin gives up on the
    // daemon after a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("completion hung on a silent daemon");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let got = Completion::parse(&out.stdout);
    assert!(got.has("add") && got.has("rm"), "{got:?}");
    assert_eq!(got.directive, 4, "{got:?}");
}
