//! One test's graph: its own registry namespace (`DOCKER_LINK_REGISTRY`), so that tests running
//! at the same time never see each other's graph, and `docker-link` invocations that use it.
//! The guards remove the namespace's registry containers, its volumes, and containers made by
//! `docker link run/create` with their link networks.

use std::process::Command;

use super::{docker, run, unique, Container, PluginConfig};

/// The address `c` has on the network `net`.
pub fn ip_on(c: &Container, net: &str) -> String {
    c.inspect(&format!(
        "{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"
    ))
}

/// What the parent resolves `name` to (busybox nslookup against Docker's resolver), None when
/// it does not resolve. By DNS alone: whether it may connect is another question. A lookup
/// that timed out (Docker's resolver is slow to answer when the machine is loaded: seen in a
/// full CI run) is asked again; an answer that the name does not exist is final.
pub fn resolves(parent: &Container, name: &str) -> Option<String> {
    let mut out = parent.exec(&["nslookup", name]);
    for _ in 0..4 {
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !said.contains("timed out") {
            break;
        }
        out = parent.exec(&["nslookup", name]);
    }
    if !out.status.success() {
        return None;
    }
    // "Name:\tredis\nAddress: 10.199.0.2" after the server's own two lines.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Name:"));
    lines
        .find_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_string())
}

/// One test's graph: a registry namespace, and `docker-link` invocations that use it.
pub struct Graph {
    pub ns: String,
    plugin: Option<PluginConfig>,
    /// A daemon other than the shared one (`DOCKER_HOST`), for tests with a daemon of their own.
    host: Option<String>,
}

impl Graph {
    pub fn new() -> Graph {
        super::require_daemon();
        // Built (once per run) before the test makes its containers, so that their commands
        // do not run out while it builds.
        super::static_bin();
        Graph {
            ns: unique("ns").replace('-', "_"),
            plugin: None,
            host: None,
        }
    }

    /// A graph on another daemon.
    pub fn on(host: &str) -> Graph {
        let mut g = Graph::new();
        g.host = Some(host.to_string());
        g
    }

    /// The daemon of this graph when it is not the shared one.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// `docker <args>` (the docker CLI itself, no plugin) against this graph's daemon.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new("docker");
        if let Some(h) = &self.host {
            cmd.env("DOCKER_HOST", h);
        }
        run(cmd.args(args))
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `docker-link <args>` run directly.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(super::bin());
        cmd.env("DOCKER_LINK_REGISTRY", &self.ns)
            .env("DOCKER_LINK_STATIC_BIN", super::static_bin())
            // The watcher only where a test asks for it (`watcher.rs`).
            .env("DOCKER_LINK_WATCHER", "off")
            .args(args);
        if let Some(h) = &self.host {
            cmd.env("DOCKER_HOST", h);
        }
        cmd
    }

    /// `docker <args>` through the real docker CLI with the plugin installed.
    pub fn cli(&mut self, args: &[&str]) -> Command {
        let plugin = self.plugin.get_or_insert_with(PluginConfig::new);
        let mut cmd = plugin.docker();
        cmd.env("DOCKER_LINK_REGISTRY", &self.ns)
            .env("DOCKER_LINK_STATIC_BIN", super::static_bin())
            .env("DOCKER_LINK_WATCHER", "off")
            .args(args);
        cmd
    }

    pub fn ok(&self, args: &[&str]) -> String {
        super::run_ok(&mut self.cmd(args))
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let out = run(&mut self.cmd(args));
        assert!(
            !out.status.success(),
            "{args:?} should fail:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `docker ls` lines that mention one of `names`, first column only.
    pub fn ls_paths(&self, args: &[&str], names: &[&str]) -> Vec<String> {
        let mut full = vec!["ls"];
        full.extend_from_slice(args);
        self.ok(&full)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .filter(|p| names.iter().any(|n| p.split('/').next() == Some(n)))
            .map(str::to_string)
            .collect()
    }

    /// Registry generations of this graph: `(name, state)`, by generation.
    pub fn registries(&self) -> Vec<(String, String)> {
        let mut v: Vec<(u64, String, String)> = self
            .docker_ok(&[
                "ps",
                "-a",
                "--filter",
                &format!("label=docker-link.registry={}", self.ns),
                "--filter",
                "label=docker-link.role=registry",
                "--format",
                "{{.Names}} {{.State}} {{.Label \"docker-link.generation\"}}",
            ])
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let (name, state, g) = (w.next()?, w.next()?, w.next()?);
                Some((g.parse().ok()?, name.to_string(), state.to_string()))
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, n, s)| (n, s)).collect()
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let label = format!("label=docker-link.registry={}", self.ns);
        let ids = self.docker(&["ps", "-aq", "--filter", &label]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let nets = self.docker(&["network", "ls", "-q", "--filter", &label]);
        for n in String::from_utf8_lossy(&nets.stdout).split_whitespace() {
            let _ = self.docker(&["network", "rm", n]);
        }
        let vols = self.docker(&["volume", "ls", "-q", "--filter", &label]);
        for v in String::from_utf8_lossy(&vols.stdout).split_whitespace() {
            let _ = self.docker(&["volume", "rm", "-f", v]);
        }
        // A watcher of this graph left its rules table in its daemon's namespace: the host's,
        // or a namespace of its own (the second engine, private daemons).
        let table = format!("docker-link-{}", self.ns);
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &table])
            .output();
        for ns in std::fs::read_dir("/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = Command::new("nsenter")
                .arg(format!("--net={}", ns.path().display()))
                .args(["nft", "delete", "table", "inet", &table])
                .output();
        }
    }
}

/// A container made by `docker link run/create`: removed with its link network.
pub struct Linked(pub Container);

impl Linked {
    pub fn adopt(name: &str) -> Linked {
        Linked(Container::adopt(name))
    }

    /// `docker link run -d --name <unique what> --link CHILD:ALIAS busybox sleep 3600`.
    pub fn run(g: &Graph, what: &str, child: &str, alias: &str) -> Linked {
        let name = unique(what);
        g.ok(&[
            "link",
            "run",
            "-d",
            "--name",
            &name,
            "--link",
            &format!("{child}:{alias}"),
            super::images::busybox(),
            "sleep",
            "3600",
        ]);
        Linked::adopt(&name)
    }

    /// The link network `docker link run` made for it.
    pub fn network(&self) -> String {
        self.0
            .inspect("{{index .Config.Labels \"docker-link.network\"}}")
    }
}

impl Drop for Linked {
    fn drop(&mut self) {
        let net = docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"docker-link.network\"}}",
            &self.0.id,
        ]);
        let net = String::from_utf8_lossy(&net.stdout).trim().to_string();
        let _ = docker(&["rm", "-f", &self.0.id]);
        if !net.is_empty() {
            drop(super::Network::adopt(&net));
        }
    }
}
