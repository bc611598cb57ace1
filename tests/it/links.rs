//! Names and links against the real daemon: the issue's workflow end to end through the docker
//! CLI (`docker link`, `docker ls`, `docker link run`), what the parent sees (variables, DNS,
//! reachability), what unlinked containers cannot see, the graph store under concurrency and
//! damage, and bad input that must change nothing.
//!
//! Every test has its own registry namespace (`DOCKER_LINK_REGISTRY`), so tests running at the
//! same time never see each other's graph; the guards remove containers, link networks and the
//! namespace's registry containers.

use std::process::{Command, Output};

use crate::support::{self, docker, docker_ok, images, run, unique, Container, PluginConfig};

/// One test's graph: a registry namespace, and `docker-link` invocations that use it.
struct Graph {
    ns: String,
    plugin: Option<PluginConfig>,
}

impl Graph {
    fn new() -> Graph {
        support::require_daemon();
        Graph {
            ns: unique("ns").replace('-', "_"),
            plugin: None,
        }
    }

    /// `docker-link <args>` run directly.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(support::bin());
        cmd.env("DOCKER_LINK_REGISTRY", &self.ns)
            .env("DOCKER_LINK_STATIC_BIN", support::static_bin())
            .args(args);
        cmd
    }

    /// `docker <args>` through the real docker CLI with the plugin installed.
    fn cli(&mut self, args: &[&str]) -> Command {
        let plugin = self.plugin.get_or_insert_with(PluginConfig::new);
        let mut cmd = plugin.docker();
        cmd.env("DOCKER_LINK_REGISTRY", &self.ns)
            .env("DOCKER_LINK_STATIC_BIN", support::static_bin())
            .args(args);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        support::run_ok(&mut self.cmd(args))
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = run(&mut self.cmd(args));
        assert!(
            !out.status.success(),
            "{args:?} should fail:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `docker ls` lines that mention one of `names`, first column only.
    fn ls_paths(&self, args: &[&str], names: &[&str]) -> Vec<String> {
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

    fn registries(&self) -> Vec<String> {
        docker_ok(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=docker-link.registry={}", self.ns),
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        for id in self.registries() {
            let _ = docker(&["rm", "-f", &id]);
        }
    }
}

/// A container made by `docker link run/create`: removed with its link network.
struct Linked(Container);

impl Linked {
    fn adopt(name: &str) -> Linked {
        Linked(Container::adopt(name))
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
            drop(support::Network::adopt(&net));
        }
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn env_of(c: &Container) -> Vec<String> {
    let out = c.exec(&["env"]);
    assert!(out.status.success());
    let mut v: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    v.sort();
    v
}

fn ip_on(c: &Container, net: &str) -> String {
    c.inspect(&format!(
        "{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"
    ))
}

/// What the parent resolves `name` to (busybox nslookup), None when it does not resolve.
fn resolves(parent: &Container, name: &str) -> Option<String> {
    let out = parent.exec(&["ping", "-c1", "-W2", name]);
    let text = stdout(&out);
    let first = text.lines().next()?;
    // "PING redis (10.199.0.2): 56 data bytes"
    let ip = first.split('(').nth(1)?.split(')').next()?.to_string();
    out.status.success().then_some(ip)
}

#[test]
fn the_issue_workflow_end_to_end_through_the_cli() {
    let mut g = Graph::new();
    let redis = Container::run("redis", &["-e", "PASSWORD=dockerpass", images::redis()]);
    let db1 = unique("db1");
    let web = unique("web");
    let frontend = unique("frontend");

    // A name for an existing container, by id.
    assert_eq!(support::run_ok(&mut g.cli(&["link", &redis.id, &db1])), db1);
    let ls = support::run_ok(&mut g.cli(&["ls"]));
    let header = ls.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("CONTAINER") && header.contains("IMAGE"),
        "{ls}"
    );
    let line = ls
        .lines()
        .find(|l| l.starts_with(&db1))
        .unwrap_or_else(|| panic!("{ls}"));
    assert!(
        line.contains(&redis.id[..12]) && line.contains(images::redis()),
        "{line}"
    );

    // A linked container: the variables, DNS, reachability.
    let out = run(&mut g.cli(&[
        "link",
        "run",
        "-d",
        "--name",
        &web,
        "--link",
        &format!("{db1}:redis"),
        images::busybox(),
        "sleep",
        "300",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let web_c = Linked::adopt(&web);
    assert_eq!(stdout(&out).trim(), web_c.0.id, "run -d prints the id");
    let net = web_c
        .0
        .inspect("{{index .Config.Labels \"docker-link.network\"}}");
    let ip = ip_on(&redis, &net);
    let env = env_of(&web_c.0);
    for want in [
        format!("REDIS_PORT=tcp://{ip}:6379"),
        format!("REDIS_PORT_6379_TCP=tcp://{ip}:6379"),
        format!("REDIS_PORT_6379_TCP_ADDR={ip}"),
        "REDIS_PORT_6379_TCP_PORT=6379".to_string(),
        "REDIS_PORT_6379_TCP_PROTO=tcp".to_string(),
        format!("REDIS_NAME=/{web}/redis"),
        "REDIS_ENV_PASSWORD=dockerpass".to_string(),
    ] {
        assert!(env.contains(&want), "{want} missing from {env:#?}");
    }
    assert_eq!(resolves(&web_c.0, "redis").as_deref(), Some(ip.as_str()));
    // The child's server may still be starting: give it a few seconds.
    let reached = (0..20).any(|_| {
        let got = web_c.0.exec(&["wget", "-qO-", "http://redis:6379/"]);
        got.status.success() || {
            std::thread::sleep(std::time::Duration::from_millis(250));
            false
        }
    });
    assert!(reached, "the parent reaches the child's port");

    // A second name for the parent; its link shows under both names.
    support::run_ok(&mut g.cli(&["link", &web, &frontend]));
    let paths = g.ls_paths(&[], &[&db1, &web, &frontend]);
    // Depth first, then name (unique() numbers the names in creation order).
    assert_eq!(
        paths,
        [
            db1.clone(),
            web.clone(),
            frontend.clone(),
            format!("{web}/redis"),
            format!("{frontend}/redis"),
        ]
    );
    let tree =
        support::run_ok(&mut g.cli(&["ls", "--tree", "--filter", &format!("name={frontend}")]));
    assert!(
        tree.contains(&frontend) && tree.contains("└─ redis"),
        "{tree}"
    );
    let json = support::run_ok(&mut g.cli(&[
        "ls",
        "--format",
        "json",
        "--filter",
        &format!("parent={frontend}"),
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["Name"], format!("{frontend}/redis"));
    assert_eq!(v["Parent"], frontend.as_str());
    assert_eq!(v["Alias"], "redis");
    assert_eq!(v["State"], "running");
    assert_eq!(v["ID"], &redis.id[..12]);

    // Removing the link path: the link belongs to the parent container, so every name of
    // that parent loses it (graphdb), the alias stops resolving, the variables stay.
    let out = run(&mut g.cli(&["link", "rm", &format!("{frontend}/redis")]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stay"),
        "says the variables stay"
    );
    assert_eq!(
        g.ls_paths(&[], &[&db1, &web, &frontend]),
        [db1.clone(), web.clone(), frontend.clone()]
    );
    assert_eq!(resolves(&web_c.0, "redis"), None);
    assert!(env_of(&web_c.0)
        .iter()
        .any(|e| e.starts_with("REDIS_PORT=")));
}

#[test]
fn connect_rename_inspect_env_and_restart() {
    let g = Graph::new();
    let child = Container::run("child", &["-e", "A=1", images::redis()]);
    let parent = Container::run("parent", &[images::busybox(), "sleep", "300"]);
    let out = run(&mut g.cmd(&[
        "link",
        "connect",
        &parent.name,
        &format!("{}:cache", child.name),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).trim(), format!("{}/cache", parent.name));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no environment variables"));
    let net = format!("docker-link-{}", &parent.id[..12]);
    let _net = support::Network::adopt(&net);
    assert_eq!(resolves(&parent, "cache"), Some(ip_on(&child, &net)));

    // Rename within the parent: the new alias resolves, the old one no longer does.
    assert_eq!(
        g.ok(&["link", "rename", &format!("{}/cache", parent.name), "store"]),
        format!("{}/store", parent.name)
    );
    assert_eq!(resolves(&parent, "store"), Some(ip_on(&child, &net)));
    assert_eq!(resolves(&parent, "cache"), None);

    // After the child restarts, the alias follows it.
    docker_ok(&["restart", "-t", "1", &child.id]);
    assert_eq!(resolves(&parent, "store"), Some(ip_on(&child, &net)));

    // inspect: names, parents, children, and the variables a link would give.
    let v: serde_json::Value =
        serde_json::from_str(&g.ok(&["link", "inspect", &format!("{}/store", parent.name)]))
            .unwrap();
    let item = &v[0];
    assert_eq!(item["Id"], child.id.as_str());
    let names: Vec<&str> = item["Names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&child.name.as_str())
            && names.contains(&format!("{}/store", parent.name).as_str()),
        "{names:?}"
    );
    assert!(item["Parents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["Container"] == parent.name.as_str() && p["Alias"] == "store"));
    let env: Vec<&str> = item["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"STORE_ENV_A=1") && env.contains(&"STORE_PORT_6379_TCP_PORT=6379"),
        "{env:?}"
    );
    let pv: serde_json::Value =
        serde_json::from_str(&g.ok(&["link", "inspect", &parent.name])).unwrap();
    assert_eq!(pv[0]["Children"][0]["Alias"], "store");

    // env --as: an env file.
    let file = g.ok(&["link", "env", &child.name, "--as", "db"]);
    assert!(
        file.lines()
            .all(|l| l.starts_with("DB_") && l.contains('=')),
        "{file}"
    );
    assert!(file.contains("DB_PORT_6379_TCP_PROTO=tcp") && file.contains("DB_NAME=/db"));
}

#[test]
fn unlinked_containers_share_no_network() {
    let g = Graph::new();
    let child = Container::run("iso-child", &[images::redis()]);
    let parent_name = unique("iso-parent");
    g.ok(&[
        "link",
        "run",
        "-d",
        "--name",
        &parent_name,
        "--link",
        &format!("{}:db", child.name),
        images::busybox(),
        "sleep",
        "300",
    ]);
    let parent = Linked::adopt(&parent_name);
    let net = parent
        .0
        .inspect("{{index .Config.Labels \"docker-link.network\"}}");
    let members = docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range $k, $v := .Containers}}{{$k}} {{end}}",
        &net,
    ]);
    let mut members: Vec<&str> = members.split_whitespace().collect();
    members.sort();
    let mut want = vec![child.id.as_str(), parent.0.id.as_str()];
    want.sort();
    assert_eq!(
        members, want,
        "only the parent and its child are on the link network"
    );
    assert_eq!(
        docker_ok(&["network", "inspect", "-f", "{{.Internal}}", &net]),
        "true"
    );

    // A stranger on the default bridge reaches neither the alias nor the link address.
    let stranger = Container::run("stranger", &[images::busybox(), "sleep", "300"]);
    assert_eq!(resolves(&stranger, "db"), None);
    let link_ip = ip_on(&child, &net);
    let out = stranger.exec(&["ping", "-c1", "-W1", &link_ip]);
    assert!(!out.status.success(), "a stranger reached {link_ip}");
}

#[test]
fn run_passes_flags_through_and_keeps_the_users_env() {
    let g = Graph::new();
    let child = Container::run("env-child", &["-e", "PASSWORD=theirs", images::redis()]);
    let name = unique("env-parent");
    // 2013 spellings, attached run, the exit code of the container, the user's -e wins.
    let out = run(&mut g.cmd(&[
        "link",
        "run",
        "-name",
        &name,
        "-link",
        &format!("{}:db", child.name),
        "-e",
        "DB_ENV_PASSWORD=mine",
        "--link-env",
        "v27",
        "-w",
        "/tmp",
        images::busybox(),
        "sh",
        "-c",
        "echo $DB_ENV_PASSWORD $DB_NAME $(pwd); exit 7",
    ]));
    let _p = Linked::adopt(&name);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).trim(), format!("mine /{name}/db /tmp"));

    // create: not started, links already in place.
    let cname = unique("created");
    let id = g.ok(&[
        "link",
        "create",
        "--name",
        &cname,
        "--link",
        &format!("{}:db", child.name),
        images::busybox(),
        "true",
    ]);
    let c = Linked::adopt(&cname);
    assert_eq!(c.0.id, id);
    assert_eq!(c.0.inspect("{{.State.Status}}"), "created");
    assert!(c
        .0
        .inspect("{{json .Config.Env}}")
        .contains("DB_PORT_6379_TCP"));
}

#[test]
fn run_with_init_wraps_the_command() {
    let g = Graph::new();
    let child = Container::run("init-child", &[images::redis()]);
    let out = run(&mut g.cmd(&[
        "link",
        "run",
        "--rm",
        "--init",
        "--link",
        &format!("{}:db", child.name),
        images::busybox(),
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '; exit 4",
    ]));
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).starts_with("/.docker-link/docker-link init -- sh -c"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_input_changes_nothing() {
    let g = Graph::new();
    let a = Container::run("bad-a", &[images::busybox(), "sleep", "300"]);
    let stopped = Container::run("bad-stopped", &[images::busybox(), "true"]);
    docker_ok(&["wait", &stopped.id]);
    let name = unique("n");
    g.ok(&["link", &a.name, &name]);
    let before = g.registries();

    let cases: &[(&[&str], &str)] = &[
        (&["link", &a.name, "_bad"], "invalid name"),
        (
            &["link", &stopped.name, &name],
            "already taken by container",
        ),
        (
            &["link", &stopped.name, &a.name],
            "already taken by container",
        ),
        (
            &["link", "no-such-container-x", "zz"],
            "no such name or container: no-such-container-x",
        ),
        (&["link", "rm", "/"], "cannot be removed"),
        (&["link", "rm", &a.name], "docker name"),
        (&["link", "rm", "nope/nothing"], "no such name or container"),
        (
            &["link", "connect", &a.name, &format!("{}:me", a.name)],
            "cannot be linked to itself",
        ),
        (&["link", "rename", &name, "x/y"], "single name"),
        (
            &[
                "link",
                "run",
                "--link",
                &format!("{}:db", stopped.name),
                images::busybox(),
            ],
            "is not running",
        ),
        (
            &["link", "run", "--link", "nope-nope:db", images::busybox()],
            "no such name or container",
        ),
        (
            &[
                "link",
                "run",
                "--network",
                "host",
                "--link",
                &format!("{}:db", a.name),
                images::busybox(),
            ],
            "cannot join a link network",
        ),
        (
            &[
                "link",
                "run",
                "--name",
                &name,
                "--link",
                &format!("{}:db", a.name),
                images::busybox(),
            ],
            "already taken",
        ),
    ];
    for (args, want) in cases {
        let err = g.fails(args);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert_eq!(
        g.registries(),
        before,
        "a refused command wrote the registry"
    );
    let links = docker_ok(&[
        "network",
        "ls",
        "-q",
        "--filter",
        "label=docker-link.role=link-network",
        "--filter",
        &format!("name={}", a.name),
    ]);
    assert!(links.is_empty());

    // A failure after creation rolls back: the container and its link network are gone.
    let doomed = unique("doomed");
    let out = run(&mut g.cmd(&[
        "link",
        "run",
        "--name",
        &doomed,
        "--link",
        &format!("{}:db", a.name),
        images::busybox(),
        "/no/such/cmd",
    ]));
    assert_eq!(
        out.status.code(),
        Some(127),
        "as docker run: command not found"
    );
    assert!(
        !docker(&["inspect", &doomed]).status.success(),
        "the container stayed"
    );
    let nets = docker_ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}}",
        "--filter",
        &format!("name=docker-link-{doomed}"),
    ]);
    assert!(nets.is_empty(), "link network left behind: {nets}");
}

#[test]
fn twenty_concurrent_names_all_land() {
    let g = Graph::new();
    let containers: Vec<Container> = (0..20)
        .map(|i| Container::run(&format!("cc{i}"), &[images::busybox(), "sleep", "300"]))
        .collect();
    let names: Vec<String> = (0..20).map(|i| unique(&format!("name{i}"))).collect();
    let children: Vec<_> = containers
        .iter()
        .zip(&names)
        .map(|(c, n)| {
            g.cmd(&["link", &c.id, n])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let listed = g.ls_paths(&[], &refs);
    let mut want = names.clone();
    want.sort();
    assert_eq!(listed, want, "a concurrent update was lost");
    for (c, n) in containers.iter().zip(&names) {
        assert_eq!(
            g.ok(&["ls", "-q", "--filter", &format!("name={n}")]),
            c.id[..12]
        );
    }
    // One generation remains (the older ones are removed by each winner).
    g.ok(&["link", "prune"]);
    assert_eq!(g.registries().len(), 1);
}

#[test]
fn registry_damage_is_reported_not_misread() {
    let g = Graph::new();
    let a = Container::run("dmg-a", &[images::busybox(), "sleep", "300"]);
    let b = Container::run("dmg-b", &[images::busybox(), "sleep", "300"]);
    g.ok(&["link", "connect", &a.name, &format!("{}:peer", b.name)]);
    let _net = support::Network::adopt(&format!("docker-link-{}", &a.id[..12]));
    let name = unique("gone");
    g.ok(&["link", &b.name, &name]);

    // Deleted by hand: recreated with a warning; links come back from the link network.
    for id in g.registries() {
        docker_ok(&["rm", "-f", &id]);
    }
    let extra = unique("after");
    let out = run(&mut g.cmd(&["link", &b.name, &extra]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("registry container is gone"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paths = g.ls_paths(&[], &[&a.name, &name, &extra]);
    assert!(
        paths.contains(&format!("{}/peer", a.name)) && paths.contains(&extra),
        "{paths:?}"
    );
    assert!(
        !paths.contains(&name),
        "a name of the lost registry came back: {paths:?}"
    );

    // A registry of a newer schema: refused with a clear message, never overwritten.
    let newer = docker_ok(&[
        "create",
        "--name",
        &unique("future"),
        "--label",
        "docker-link.role=registry",
        "--label",
        &format!("docker-link.registry={}", g.ns),
        "--label",
        "docker-link.generation=999",
        "--label",
        r#"docker-link.graph={"schema":9,"edges":[],"whatever":true}"#,
        images::busybox(),
        "true",
    ]);
    let _future = Container::adopt(&newer);
    let err = g.fails(&["ls"]);
    assert!(
        err.contains("newer docker-link") && err.contains("upgrade"),
        "{err}"
    );
    let err = g.fails(&["link", &a.name, &unique("x")]);
    assert!(err.contains("newer docker-link"), "{err}");
    assert!(docker(&["inspect", &newer]).status.success());
}

#[test]
fn paths_complete_through_the_cli() {
    let mut g = Graph::new();
    let a = Container::run("cmp-a", &[images::busybox(), "sleep", "300"]);
    let name = unique("cmpname");
    g.ok(&["link", &a.name, &name]);
    let out = support::run_ok(&mut g.cli(&["__complete", "link", "rm", &name[..name.len() - 2]]));
    assert!(
        out.lines()
            .any(|l| l.split('\t').next() == Some(name.as_str())),
        "{out}"
    );
}

#[test]
fn parents_beyond_the_daemons_default_pools() {
    // The daemon's default address pools hold about 30 networks; the plugin's own pool holds
    // far more. 35 parents, each with its own link network, each subnet distinct and in the pool.
    let g = Graph::new();
    let child = Container::run("pool-child", &[images::busybox(), "sleep", "300"]);
    let parents: Vec<Container> = (0..35)
        .map(|i| Container::run(&format!("pool-p{i}"), &[images::busybox(), "sleep", "300"]))
        .collect();
    let mut nets = Vec::new();
    let mut subnets = std::collections::BTreeSet::new();
    for p in &parents {
        g.ok(&["link", "connect", &p.id, &format!("{}:db", child.name)]);
        let net = support::Network::adopt(&format!("docker-link-{}", &p.id[..12]));
        let subnet = docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            &net.name,
        ]);
        assert!(
            subnet.starts_with("10.199.") && subnet.ends_with("/26"),
            "{subnet}"
        );
        assert!(subnets.insert(subnet.clone()), "{subnet} given twice");
        nets.push(net);
    }
    let last = parents.last().unwrap();
    assert!(resolves(last, "db").is_some());
}

/// A daemon that answers the version handshake and then goes away: every later request has
/// its connection closed without an answer.
fn vanishing_daemon(dir: &support::TempDir) -> String {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    let path = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            if line.contains("/_ping") {
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK",
                );
            }
            // Anything else: the daemon is gone.
        }
    });
    format!("unix://{}", path.display())
}

#[test]
fn a_daemon_that_disappears_mid_command_is_one_error_and_a_hint() {
    let dir = support::TempDir::new("vanish");
    let host = vanishing_daemon(&dir);
    for args in [
        &["link", "abc", "name1"][..],
        &["ls"],
        &["link", "run", "--link", "a:db", "img"],
    ] {
        let out = run(Command::new(support::bin()).arg("-H").arg(&host).args(args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with("error: listing containers"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("hint: the daemon stopped answering"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn prune_removes_what_removed_containers_left() {
    let g = Graph::new();
    let keep = Container::run("prune-keep", &[images::busybox(), "sleep", "300"]);
    let gone = Container::run("prune-gone", &[images::busybox(), "sleep", "300"]);
    let kept_name = unique("kept");
    let gone_name = unique("dangling");
    g.ok(&["link", &keep.name, &kept_name]);
    g.ok(&["link", &gone.id, &gone_name]);
    g.ok(&[
        "link",
        "connect",
        &gone.name,
        &format!("{}:peer", keep.name),
    ]);
    let net = format!("docker-link-{}", &gone.id[..12]);
    let _net = support::Network::adopt(&net);
    let gone_id = gone.id.clone();
    drop(gone);

    // The name of the removed container no longer lists; prune says what it removed.
    assert!(g.ls_paths(&[], &[&gone_name]).is_empty());
    let out = g.ok(&["link", "prune", "--filter", "until=0s"]);
    assert!(
        out.contains("Deleted names:") && out.contains(&gone_name),
        "{out}"
    );
    assert!(
        out.contains("Deleted networks:") && out.contains(&net),
        "{out}"
    );
    assert!(!out.contains(&kept_name), "{out}");
    assert!(!docker(&["network", "inspect", &net]).status.success());
    assert_eq!(
        g.ls_paths(&[], &[&kept_name]),
        std::slice::from_ref(&kept_name)
    );
    // Nothing left to prune the second time; the registry holds no trace of the container.
    let again = g.ok(&["link", "prune", "--filter", "until=0s"]);
    assert!(
        !again.contains("Deleted names:") && !again.contains(&net),
        "{again}"
    );
    let graph = docker_ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"docker-link.graph\"}}",
        &g.registries()[0],
    ]);
    assert!(!graph.contains(&gone_id), "{graph}");
}
