//! Names and links against the real daemon: the issue's workflow end to end through the docker
//! CLI (`docker link`, `docker ls`, `docker link run`), what the parent sees (variables, DNS,
//! reachability), what unlinked containers cannot see, the graph store under concurrency and
//! damage, and bad input that must change nothing.
//!
//! Every test has its own registry namespace (`DOCKER_LINK_REGISTRY`), so tests running at the
//! same time never see each other's graph; the guards remove containers, link networks and the
//! namespace's registry containers.

use std::process::{Command, Output};

use crate::support::graph::{ip_on, resolves, Graph, Linked};
use crate::support::{self, docker, docker_ok, eventually, images, run, unique, Container};

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
        "3600",
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
    // The child's server may still be starting (slowly, on a loaded machine).
    eventually(20, "the parent reaches the child's port", || {
        let got = web_c.0.exec(&["wget", "-qO-", "http://redis:6379/"]);
        got.status.success().then_some(())
    });

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
    let parent = Container::run("parent", &[images::busybox(), "sleep", "3600"]);
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
    let parent = Linked::run(&g, "iso-parent", &child.name, "db");
    let net = parent.network();
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
    let stranger = Container::run("stranger", &[images::busybox(), "sleep", "3600"]);
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
    let a = Container::run("bad-a", &[images::busybox(), "sleep", "3600"]);
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
        .map(|i| Container::run(&format!("cc{i}"), &[images::busybox(), "sleep", "3600"]))
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
    let a = Container::run("dmg-a", &[images::busybox(), "sleep", "3600"]);
    let b = Container::run("dmg-b", &[images::busybox(), "sleep", "3600"]);
    g.ok(&["link", "connect", &a.name, &format!("{}:peer", b.name)]);
    let _net = support::Network::adopt(&format!("docker-link-{}", &a.id[..12]));
    let name = unique("gone");
    g.ok(&["link", &b.name, &name]);

    // Every generation deleted by hand: the graph's copy answers, says so, and the next write
    // puts the registry back with every name.
    for (name, _) in g.registries() {
        docker_ok(&["rm", "-f", &name]);
    }
    let out = run(&mut g.cmd(&["ls"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("read from its copy"),
        "{err}"
    );
    let extra = unique("after");
    g.ok(&["link", &b.name, &extra]);
    let paths = g.ls_paths(&[], &[&a.name, &name, &extra]);
    for want in [format!("{}/peer", a.name), name.clone(), extra.clone()] {
        assert!(paths.contains(&want), "{want} lost: {paths:?}");
    }
    let out = run(&mut g.cmd(&["ls"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "the registry is back"
    );

    // The registry and its copy deleted by hand: links come back from the link network, and
    // the names of `docker link` are said to be lost.
    for (name, _) in g.registries() {
        docker_ok(&["rm", "-f", &name]);
    }
    docker_ok(&["volume", "rm", &format!("docker-link-graph-{}", g.ns)]);
    let extra2 = unique("after2");
    let out = run(&mut g.cmd(&["link", &b.name, &extra2]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("its copy are gone") && err.contains("1 link(s) were rebuilt"),
        "{err}"
    );
    let paths = g.ls_paths(&[], &[&a.name, &name, &extra2]);
    assert!(
        paths.contains(&format!("{}/peer", a.name)) && paths.contains(&extra2),
        "{paths:?}"
    );
    assert!(
        !paths.contains(&name),
        "a name of the lost registry came back: {paths:?}"
    );

    // A registry of a newer schema: refused with a clear message, never overwritten.
    // Started once (it exits at once): a generation that ran is committed.
    let newer = docker_ok(&[
        "run",
        "-d",
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
    let a = Container::run("cmp-a", &[images::busybox(), "sleep", "3600"]);
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
    let child = Container::run("pool-child", &[images::busybox(), "sleep", "3600"]);
    let parents: Vec<Container> = (0..35)
        .map(|i| Container::run(&format!("pool-p{i}"), &[images::busybox(), "sleep", "3600"]))
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
        assert!(
            !err.contains("  "),
            "a run of spaces in the message: {err:?}"
        );
    }
}

#[test]
fn prune_removes_what_removed_containers_left() {
    let g = Graph::new();
    let keep = Container::run("prune-keep", &[images::busybox(), "sleep", "3600"]);
    let gone = Container::run("prune-gone", &[images::busybox(), "sleep", "3600"]);
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
        &g.registries()[0].0,
    ]);
    assert!(!graph.contains(&gone_id), "{graph}");
}

#[test]
fn names_and_aliases_that_would_break_things_are_refused() {
    let g = Graph::new();
    let pa = Container::run("rule-a", &[images::busybox(), "sleep", "3600"]);
    let pb = Container::run("rule-b", &[images::busybox(), "sleep", "3600"]);
    let stopped = Container::run("rule-stopped", &[images::redis()]);
    docker_ok(&["stop", "-t", "0", &stopped.id]);
    let before = g.registries();

    // A name that reads as another container's id would shadow it.
    for id_like in [&pb.id[..12], pb.id.as_str()] {
        let err = g.fails(&["link", &pa.id, id_like]);
        assert!(err.contains("would be taken for a container id"), "{err}");
    }
    // A full id always answers its own container.
    let v: serde_json::Value = serde_json::from_str(&g.ok(&["link", "inspect", &pb.id])).unwrap();
    assert_eq!(v[0]["Id"], pb.id.as_str());

    // An alias is a DNS label: at most 63 octets, in connect and in run.
    let long = "a".repeat(300);
    let err = g.fails(&["link", "connect", &pa.id, &format!("{}:{long}", pb.id)]);
    assert!(err.contains("at most 63"), "{err}");
    let seventy = "b".repeat(70);
    let err = g.fails(&[
        "link",
        "run",
        "--link",
        &format!("{}:{seventy}", pb.name),
        images::busybox(),
        "true",
    ]);
    assert!(err.contains("at most 63"), "{err}");
    let sixty_three = "c".repeat(63);
    g.ok(&[
        "link",
        "connect",
        &pa.id,
        &format!("{}:{sixty_three}", pb.id),
    ]);
    let _net = support::Network::adopt(&format!("docker-link-{}", &pa.id[..12]));
    assert_eq!(
        resolves(&pa, &sixty_three).as_deref(),
        Some(ip_on(&pb, &format!("docker-link-{}", &pa.id[..12])).as_str())
    );

    // Leading dashes: a clear message and docker's usage exit code.
    for args in [
        &["link", &pa.name, "-foo"][..],
        &["link", "--", &pa.name, "-foo"],
        &["link", "-foo", "x1"],
    ] {
        let out = run(&mut g.cmd(args));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(
            err.contains("\"-foo\"") && err.contains("never start with '-'"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("unexpected argument"), "{args:?}: {err}");
    }
    assert_eq!(
        g.registries().len(),
        before.len() + 1,
        "only the 63-octet link was written"
    );

    // A stopped child: said what happens when it starts, and it does.
    let out = run(&mut g.cmd(&["link", "connect", &pa.id, &format!("{}:later", stopped.id)]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not running") && err.contains("once it starts"),
        "{err}"
    );
    assert!(!err.contains("now resolves"), "{err}");
    docker_ok(&["start", &stopped.id]);
    assert!(resolves(&pa, "later").is_some());
}

#[test]
fn a_docker_name_that_hides_an_extra_name_is_reported() {
    let g = Graph::new();
    let a = Container::run("shadowed", &[images::busybox(), "sleep", "3600"]);
    let name = unique("extra");
    g.ok(&["link", &a.id, &name]);
    // Later, someone gives another container that very docker name.
    let _b = Container::adopt(&docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        support::TEST_LABEL,
        images::busybox(),
        "sleep",
        "3600",
    ]));
    let out = run(&mut g.cmd(&["ls"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(
        err.contains(&format!("the name {name} of container"))
            && err.contains("hidden by the docker name"),
        "{err}"
    );
    let out = run(&mut g.cmd(&["link", &a.id, &unique("another")]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hidden by the docker name"));
}

#[test]
fn exit_codes_follow_docker_and_errors_are_said_once() {
    let g = Graph::new();
    let child = Container::run("codes-child", &[images::redis()]);
    // Usage errors: 125, as docker.
    for args in [
        &["link", "rm"][..],
        &["link", "connect", "only-one"],
        &["ls", "--bogus"],
        &["link", "prune", "--filter", "nope"],
        &["link", "run", "--link"],
        &["link", "connect", "a", ":"],
    ] {
        let out = run(&mut g.cmd(args));
        assert_eq!(
            out.status.code(),
            Some(125),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Failures: 1.
    let out = run(&mut g.cmd(&["link", "no-such-container-x", "zz"]));
    assert_eq!(out.status.code(), Some(1));
    // The docker CLI's own error, once: nothing of ours after it.
    let out = run(&mut g.cmd(&[
        "link",
        "run",
        "--link",
        &format!("{}:db", child.name),
        "--memory=lots",
        images::busybox(),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        !err.contains("exit status") && !err.starts_with("error:"),
        "{err}"
    );
    assert_eq!(err.matches("invalid argument \"lots\"").count(), 1, "{err}");
}

/// A daemon that answers only versioned paths (as the Engine API asks of clients), and
/// records every request line.
fn strict_daemon(
    dir: &support::TempDir,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    let path = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    // Skip the headers (our client sends no request bodies on these calls).
                    let mut h = String::new();
                    while reader.read_line(&mut h).unwrap_or(0) > 2 {
                        h.clear();
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    log.lock().unwrap().push(path.clone());
                    let versioned = path.starts_with("/v1.");
                    let route = path.splitn(3, '/').nth(2).unwrap_or("");
                    let (status, body) = if path == "/_ping" {
                        ("200 OK", "OK".to_string())
                    } else if !versioned {
                        (
                            "400 Bad Request",
                            r#"{"message":"unversioned request"}"#.to_string(),
                        )
                    } else if route.starts_with("containers/json") || route.starts_with("networks")
                    {
                        ("200 OK", "[]".to_string())
                    } else if route.starts_with("volumes") {
                        ("200 OK", r#"{"Volumes":[],"Warnings":null}"#.to_string())
                    } else {
                        (
                            "404 Not Found",
                            r#"{"message":"no such thing"}"#.to_string(),
                        )
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("unix://{}", path.display()), seen)
}

#[test]
fn every_request_carries_the_negotiated_api_version() {
    let dir = support::TempDir::new("strict");
    let (host, seen) = strict_daemon(&dir);
    // Negotiated from `/_ping`, or pinned by DOCKER_API_VERSION (then no `/_ping` at all).
    for (pinned, prefix) in [(None, "/v1.41/"), (Some("1.40"), "/v1.40/")] {
        let mut cmd = Command::new(support::bin());
        if let Some(v) = pinned {
            cmd.env("DOCKER_API_VERSION", v);
        }
        let out = run(cmd.arg("-H").arg(&host).arg("ls"));
        assert!(
            out.status.success(),
            "{pinned:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut paths = std::mem::take(&mut *seen.lock().unwrap());
        if pinned.is_none() {
            assert_eq!(
                paths.first().map(String::as_str),
                Some("/_ping"),
                "{paths:?}"
            );
            paths.remove(0);
        }
        assert!(
            !paths.is_empty() && paths.iter().all(|p| p.starts_with(prefix)),
            "{pinned:?}: {paths:?}"
        );
    }
}
