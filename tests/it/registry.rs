//! The graph as data users trust, against real daemons: a write interrupted at any moment,
//! many writers at once, docker's own cleanup (`docker container/system/network prune`, stop
//! everything), daemon restarts and crashes. What a user sees is what is asserted: `docker ls`,
//! exit codes, messages.
//!
//! Tests that stop everything, prune, restart or kill the daemon run against a dockerd of
//! their own (`support::daemon`); the others use the shared daemon with a registry namespace
//! of their own.

use std::collections::BTreeSet;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::PrivateDaemon;
use crate::support::graph::{Graph, Linked};
use crate::support::{images, run, unique, Container};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The root names `docker ls -a` lists that start with `prefix`.
fn names(g: &Graph, prefix: &str) -> BTreeSet<String> {
    g.ok(&["ls", "-a", "--format", "{{.Name}}"])
        .lines()
        .filter(|l| l.starts_with(prefix) && !l.contains('/'))
        .map(str::to_string)
        .collect()
}

/// `n` busybox containers running `sleep`, started in parallel.
fn containers(what: &str, n: usize) -> Vec<Container> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let what = format!("{what}{i}");
            std::thread::spawn(move || Container::run(&what, &[images::busybox(), "sleep", "600"]))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Starts every command at once; their outputs in order.
fn all_at_once(cmds: Vec<Command>) -> Vec<Output> {
    let children: Vec<Child> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// Waits until the graph's registry containers stop changing: the same for 400 ms, or for
/// 3 s while one is created and not started (a start the daemon accepted from a killed
/// client can take that long on a loaded machine; a leftover stays created for good).
fn settled(g: &Graph) {
    let mut last = g.registries();
    let mut since = std::time::Instant::now();
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(200));
        let now = g.registries();
        if now != last {
            last = now;
            since = std::time::Instant::now();
            continue;
        }
        let pending = last.iter().any(|(_, s)| s == "created");
        let quiet = if pending { 3000 } else { 400 };
        if since.elapsed() >= Duration::from_millis(quiet) {
            return;
        }
    }
    panic!("the registry kept changing: {last:?}");
}

#[test]
fn a_write_interrupted_at_any_moment_loses_nothing() {
    let g = Graph::new();
    let c = Container::run("sweep", &[images::busybox(), "sleep", "600"]);
    let p = format!("{}-", unique("sw"));
    g.ok(&["link", &c.id, &format!("{p}first")]);
    // How long a whole write takes here and now (a loaded machine takes several times as
    // long as an idle one): the sweep spans that, and a little beyond.
    let t = std::time::Instant::now();
    g.ok(&["link", &c.id, &format!("{p}second")]);
    let step = (t.elapsed().as_millis() as u64 * 12 / 10 / 11).max(30);
    let mut seen = names(&g, &p);
    // Kill the write at every moment of its life, with SIGKILL (nothing can be cleaned up)
    // and with SIGINT (Ctrl-C: the write stops where it can).
    let mut landed = 0;
    for (i, delay) in (0..12).map(|k| k * step).enumerate() {
        for signal in ["KILL", "INT"] {
            let name = format!("{p}{delay}{}", signal.to_lowercase());
            let child = g
                .cmd(&["link", &c.id, &name])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status();
            let out = child.wait_with_output().unwrap();
            // A start the daemon had accepted completes even though its client is gone:
            // read once the registries stop changing.
            settled(&g);
            let now = names(&g, &p);
            // The change is there or it is not, and nothing else moved.
            let mut with = seen.clone();
            with.insert(name.clone());
            assert!(
                now == seen || now == with,
                "{name}: before {seen:?}, after {now:?}"
            );
            if signal == "INT" && out.status.code().is_some() {
                // Handled: exit 0 (landed, the name printed) or 130 (not landed, said so).
                let err = text(&out.stderr);
                match out.status.code() {
                    Some(0) => assert!(now.contains(&name), "{name}: exit 0 but not listed"),
                    Some(130) => {
                        assert!(!now.contains(&name), "{name}: exit 130 but listed");
                        assert!(err.contains("interrupted"), "{name}: {err}");
                    }
                    other => panic!("{name}: exit {other:?}: {err}"),
                }
            }
            landed += usize::from(now.contains(&name));
            // What a reader saw survives `docker container prune` (of this graph's
            // containers: other tests share this daemon).
            if i % 3 == 0 {
                g.docker_ok(&[
                    "container",
                    "prune",
                    "-f",
                    "--filter",
                    &format!("label=docker-link.registry={}", g.ns),
                ]);
                assert_eq!(names(&g, &p), now, "{name}: lost by docker container prune");
            }
            seen = now;
        }
    }
    assert!(
        landed > 0,
        "no write landed: the sweep never reached the commit"
    );
    // The next write lands exactly, and cleans up what interrupted writes left.
    let last = format!("{p}last");
    let out = run(&mut g.cmd(&["link", &c.id, &last]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    seen.insert(last);
    assert_eq!(names(&g, &p), seen);
    let regs = g.registries();
    assert!(
        regs.iter().all(|(_, s)| s == "running") && regs.len() <= 2,
        "{regs:?}"
    );
}

#[test]
fn fifty_writers_of_distinct_names_all_land_silently() {
    let g = Graph::new();
    let cs = containers("fifty", 10);
    let p = format!("{}-", unique("w"));
    let cmds = (0..50)
        .map(|i| g.cmd(&["link", &cs[i % 10].id, &format!("{p}{i:02}")]))
        .collect();
    for (i, out) in all_at_once(cmds).iter().enumerate() {
        assert!(out.status.success(), "writer {i}: {}", text(&out.stderr));
        // A writer that succeeded has nothing to warn about.
        assert_eq!(text(&out.stderr), "", "writer {i}");
    }
    let want: BTreeSet<String> = (0..50).map(|i| format!("{p}{i:02}")).collect();
    assert_eq!(names(&g, &p), want);
    // No intent is left behind.
    let left = g.docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=docker-link.registry={}", g.ns),
        "--filter",
        "label=docker-link.role=intent",
    ]);
    assert_eq!(left, "");
}

#[test]
fn twenty_writers_of_one_name_one_wins() {
    let g = Graph::new();
    let cs = containers("one", 20);
    let name = unique("the-one");
    let cmds = cs.iter().map(|c| g.cmd(&["link", &c.id, &name])).collect();
    let outs = all_at_once(cmds);
    let winners: Vec<usize> = (0..20).filter(|i| outs[*i].status.success()).collect();
    assert_eq!(winners.len(), 1, "{outs:?}");
    for (i, out) in outs.iter().enumerate() {
        if !out.status.success() {
            assert_eq!(out.status.code(), Some(1));
            let err = text(&out.stderr);
            assert!(
                err.contains(&format!("the name {name} is already taken")),
                "{i}: {err}"
            );
        }
    }
    let owner = g.ok(&["ls", "-q", "--filter", &format!("name={name}")]);
    assert_eq!(owner, cs[winners[0]].id[..12]);
}

#[test]
fn removes_racing_adds_are_exact() {
    let g = Graph::new();
    let cs = containers("rr", 5);
    let p = format!("{}-", unique("rr"));
    for i in 0..25 {
        g.ok(&["link", &cs[i % 5].id, &format!("{p}old{i:02}")]);
    }
    let mut cmds = Vec::new();
    for i in 0..25 {
        cmds.push(g.cmd(&["link", "rm", &format!("{p}old{i:02}")]));
        cmds.push(g.cmd(&["link", &cs[i % 5].id, &format!("{p}new{i:02}")]));
    }
    for (i, out) in all_at_once(cmds).iter().enumerate() {
        assert!(out.status.success(), "{i}: {}", text(&out.stderr));
    }
    let want: BTreeSet<String> = (0..25).map(|i| format!("{p}new{i:02}")).collect();
    assert_eq!(names(&g, &p), want);
}

/// The aliases `container` has on `network`.
fn aliases(g: &Graph, container: &str, network: &str) -> BTreeSet<String> {
    let out = g.docker(&[
        "inspect",
        "-f",
        &format!("{{{{json (index .NetworkSettings.Networks \"{network}\").Aliases}}}}"),
        container,
    ]);
    let v: Option<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.unwrap_or_default()
        .into_iter()
        .filter(|a| a.len() != 12)
        .collect()
}

#[test]
fn connects_racing_adds_land_edge_and_alias_together() {
    let g = Graph::new();
    let parents = containers("cp", 4);
    let children = containers("cc", 5);
    let p = format!("{}-", unique("ca"));
    let mut cmds = Vec::new();
    let mut links = Vec::new();
    for i in 0..20 {
        let (parent, child) = (&parents[i % 4], &children[i % 5]);
        let alias = format!("al{i:02}");
        cmds.push(g.cmd(&[
            "link",
            "connect",
            &parent.id,
            &format!("{}:{alias}", child.id),
        ]));
        links.push((parent, child, alias));
    }
    for i in 0..30 {
        cmds.push(g.cmd(&["link", &children[i % 5].id, &format!("{p}{i:02}")]));
    }
    let outs = all_at_once(cmds);
    for (i, out) in outs.iter().enumerate() {
        assert!(out.status.success(), "{i}: {}", text(&out.stderr));
    }
    let want: BTreeSet<String> = (0..30).map(|i| format!("{p}{i:02}")).collect();
    assert_eq!(names(&g, &p), want);
    // Every link in the graph has its alias on the parent's network, and nothing else does.
    for parent in &parents {
        let net = format!("docker-link-{}", &parent.id[..12]);
        for child in &children {
            let want: BTreeSet<String> = links
                .iter()
                .filter(|(pp, cc, _)| pp.id == parent.id && cc.id == child.id)
                .map(|(_, _, a)| a.clone())
                .collect();
            assert_eq!(
                aliases(&g, &child.id, &net),
                want,
                "{} → {}",
                parent.name,
                child.name
            );
        }
        let listed: BTreeSet<String> = g
            .ok(&[
                "ls",
                "--filter",
                &format!("parent={}", parent.name),
                "--format",
                "{{.Alias}}",
            ])
            .lines()
            .map(str::to_string)
            .collect();
        let want: BTreeSet<String> = links
            .iter()
            .filter(|(pp, _, _)| pp.id == parent.id)
            .map(|(_, _, a)| a.clone())
            .collect();
        assert_eq!(listed, want, "{}", parent.name);
    }
}

#[test]
fn twenty_connects_on_new_parents_each_get_a_subnet() {
    let g = Graph::new();
    let parents = containers("np", 20);
    let child = Container::run("np-child", &[images::redis()]);
    let cmds = parents
        .iter()
        .map(|p| g.cmd(&["link", "connect", &p.id, &format!("{}:db", child.id)]))
        .collect();
    for (i, out) in all_at_once(cmds).iter().enumerate() {
        assert!(out.status.success(), "{i}: {}", text(&out.stderr));
    }
    let subnets: BTreeSet<String> = parents
        .iter()
        .map(|p| {
            g.docker_ok(&[
                "network",
                "inspect",
                "-f",
                "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
                &format!("docker-link-{}", &p.id[..12]),
            ])
        })
        .collect();
    assert_eq!(subnets.len(), 20, "{subnets:?}");
}

#[test]
fn prune_leaves_stopped_links_startable_and_says_what_it_removed() {
    let g = Graph::new();
    let child = Container::run("pr-child", &[images::redis()]);
    let parent = Linked::run(&g, "pr-parent", &child.name, "db");
    let net = parent.network();
    let gone = Container::run("pr-gone", &[images::busybox(), "sleep", "600"]);
    g.ok(&["link", "connect", &gone.id, &format!("{}:db", child.id)]);
    let gone_net = format!("docker-link-{}", &gone.id[..12]);
    drop(gone);
    g.docker_ok(&["stop", "-t", "0", &parent.0.id, &child.id]);

    // Two prunes at once: racing each other is no error.
    let outs = all_at_once(vec![
        g.cmd(&["link", "prune", "--filter", "until=0"]),
        g.cmd(&["link", "prune", "--filter", "until=0"]),
    ]);
    for out in &outs {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let said: String = outs.iter().map(|o| text(&o.stdout)).collect();
    assert!(
        said.contains(&gone_net),
        "prune did not say it removed {gone_net}: {said}"
    );
    assert!(
        !said.contains(&net),
        "prune removed the stopped parent's network: {said}"
    );
    assert!(!g
        .docker(&["network", "inspect", &gone_net])
        .status
        .success());
    // Both start again, and the link still resolves.
    g.docker_ok(&["start", &child.id, &parent.0.id]);
    let out = parent.0.exec(&["ping", "-c1", "-W2", "db"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
}

/// Everything a user's daily cleanup and a daemon's bad day can do, on a daemon of its own.
#[test]
fn the_graph_survives_cleanup_restarts_and_crashes() {
    let d = PrivateDaemon::start();
    let g = Graph::on(&d.host);
    let busybox = d.image("busybox");
    let redis = d.image("redis");
    let run_c = |name: &str, image: &str, cmd: &[&str]| -> String {
        let mut args = vec!["run", "-d", "--name", name, image];
        args.extend_from_slice(cmd);
        d.docker_ok(&args)
    };
    let cache = run_c("cache", &redis, &[]);
    let db = run_c("db", &redis, &[]);
    let other = run_c("other", &busybox, &["sleep", "600"]);
    g.ok(&["link", &db, "db1"]);
    g.ok(&["link", &cache, "cache1"]);
    g.ok(&["link", "connect", &other, "db:store"]);
    // Two children on one link network: the issue saw their addresses swap after a restart.
    g.ok(&[
        "link",
        "run",
        "-d",
        "--name",
        "web",
        "--link",
        "cache:cache",
        "--link",
        "db:db",
        &busybox,
        "sleep",
        "600",
    ]);
    let want = [
        "cache",
        "cache1",
        "db",
        "db1",
        "other",
        "other/store",
        "web",
        "web/cache",
        "web/db",
    ];
    let listing = |g: &Graph| -> Vec<String> {
        let mut v: Vec<String> = g
            .ok(&["ls", "-a", "--format", "{{.Name}}"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(listing(&g), want);
    let web = |what: &str| {
        let out = d.docker(&["exec", "web", "sh", "-c", what]);
        text(&out.stdout).trim().to_string()
    };
    let net = d.docker_ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"docker-link.network\"}}",
        "web",
    ]);
    let ip_of = |c: &str| {
        d.docker_ok(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
            c,
        ])
    };
    let check_vars = |when: &str| {
        assert_eq!(
            web("echo $DB_PORT_6379_TCP_ADDR"),
            ip_of("db"),
            "{when}: DB address"
        );
        assert_eq!(
            web("echo $CACHE_PORT_6379_TCP_ADDR"),
            ip_of("cache"),
            "{when}: CACHE address"
        );
    };
    check_vars("at creation");

    // `docker system prune -f` and `docker network prune -f` while everything runs.
    d.docker_ok(&["system", "prune", "-f"]);
    d.docker_ok(&["network", "prune", "-f"]);
    assert_eq!(listing(&g), want, "after system and network prune");

    // A daemon restart: the registry and the containers come back, addresses stay.
    d.docker_ok(&[
        "update",
        "--restart",
        "unless-stopped",
        "cache",
        "db",
        "other",
        "web",
    ]);
    d.restart();
    assert_eq!(listing(&g), want, "after a daemon restart");
    check_vars("after a daemon restart");

    // Stop everything, start the user's containers again, prune the rest: the registry is
    // gone, its copy answers (and says so), and the next write restores it.
    let running = d.docker_ok(&["ps", "-q"]);
    let ids: Vec<&str> = running.split_whitespace().collect();
    let mut stop = vec!["stop", "-t", "1"];
    stop.extend(&ids);
    d.docker_ok(&stop);
    d.docker_ok(&["start", "cache", "db", "other", "web"]);
    d.docker_ok(&["container", "prune", "-f"]);
    assert!(g.registries().is_empty(), "{:?}", g.registries());
    let out = run(&mut g.cmd(&["ls", "-a", "--format", "{{.Name}}"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut got: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, want, "read from the copy");
    assert!(
        text(&out.stderr).contains("copy"),
        "a fallback read must say so: {}",
        text(&out.stderr)
    );
    g.ok(&["link", &db, "db2"]);
    let out = run(&mut g.cmd(&["ls", "-a"]));
    assert_eq!(text(&out.stderr), "", "the registry is back: no warning");
    assert!(g.registries().iter().all(|(_, s)| s == "running"));
    check_vars("after stop and prune");

    // dockerd killed with kill -9 in the middle of a write, then started: the change is there
    // or not, the rest is intact, and the registry runs again after the next command.
    let before = listing(&g);
    let mut writer = g
        .cmd(&["link", &cache, "cache2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(120));
    d.crash_and_start();
    let _ = writer.wait();
    d.docker_ok(&["start", "cache", "db", "other", "web"]);
    let after = listing(&g);
    let mut with = before.clone();
    with.push("cache2".into());
    with.sort();
    assert!(after == before || after == with, "{after:?}");
    assert!(
        g.registries().iter().any(|(_, s)| s == "running"),
        "the registry runs again: {:?}",
        g.registries()
    );
    check_vars("after a crash");
    // And a write lands after the crash, cleaning what the cut write left.
    let started = Instant::now();
    g.ok(&["link", &cache, "cache3"]);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(listing(&g).contains(&"cache3".to_string()));
    assert!(
        g.registries().iter().all(|(_, s)| s == "running"),
        "{:?}",
        g.registries()
    );
}
