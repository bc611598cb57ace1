//! `docker net` for real: containers of a compose-labelled project (`network_mode: none`)
//! wired by `docker-link net up`, traffic between them across the bridge, exact names, MACs
//! and MTUs, a second `up` that changes nothing, a restart and a new replica wired again, an
//! out-of-prefix replica refused with its reason, and `down` leaving the host's interfaces
//! as they were. Runs against `$DOCKER_HOST` (Engine 20.10, and Engine 28 in CI's second
//! run). Needs root (the switch namespace under /run/netns, the containers' namespaces).

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{self, images, Container, TempDir};

fn net(dir: &Path, args: &[&str]) -> Output {
    support::run(
        Command::new(support::bin())
            .arg("net")
            .args(args)
            .current_dir(dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            // A watcher container only in the test that asks for one.
            .env("DOCKER_LINK_WATCHER", "off")
            // A registry namespace of the test's own (from its unique directory): a watcher
            // of the daemon's default namespace, running for whatever reason, never wires
            // this test's project behind its back.
            .env(
                "DOCKER_LINK_REGISTRY",
                format!(
                    "dlt{:08x}",
                    dir.to_string_lossy()
                        .bytes()
                        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                ),
            ),
    )
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A container of `project`'s `service`, replica `k`, with only `lo`.
fn replica(project: &str, service: &str, k: u32) -> Container {
    let labels = [
        format!("com.docker.compose.project={project}"),
        format!("com.docker.compose.service={service}"),
        format!("com.docker.compose.container-number={k}"),
    ];
    Container::run(
        &format!("{service}-{k}"),
        &[
            "--network",
            "none",
            "--label",
            &labels[0],
            "--label",
            &labels[1],
            "--label",
            &labels[2],
            images::busybox(),
            "sleep",
            "3600",
        ],
    )
}

/// The host's interfaces, without those the daemons make and remove for their own containers
/// meanwhile (other tests run at the same time): `veth*`, `br-*`, `docker*`. Names only
/// (indexes move with everything else).
fn host_interfaces() -> Vec<String> {
    let out = support::run_ok(Command::new("ip").args(["-o", "link", "show"]));
    let mut v: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|n| {
            n.trim_end_matches(':')
                .split('@')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .filter(|n| !(n.starts_with("veth") || n.starts_with("br-") || n.starts_with("docker")))
        .collect();
    v.sort();
    v
}

/// The named namespaces of `project` (other tests make their own meanwhile).
fn netns_list(project: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(project))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn ping(c: &Container, ip: &str) -> bool {
    c.exec(&["ping", "-c1", "-W3", ip]).status.success()
}

fn link_of(c: &Container, dev: &str) -> String {
    let out = c.exec(&["ip", "-o", "link", "show", "dev", dev]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the project's switch namespace whatever happens to the test.
struct Down(std::path::PathBuf, String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = net(&self.0, &["down", "--project", &self.1]);
    }
}

#[test]
fn a_project_is_wired_kept_converged_and_removed() {
    let dir = TempDir::new("net");
    let project = support::unique("net").replace("dl-test-", "dlt");
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: {project}\nservices:\n  node:\n    image: busybox\n    network_mode: none\n    x-network:\n      links:\n        - {{bridge: s1, ip: 10.0.7.10/28, route: 10.0.8.0/24 via 10.0.7.1}}\n  router:\n    image: busybox\n    network_mode: none\n    x-network:\n      links:\n        - {{bridge: s1, ip: 10.0.7.1/28, mtu: 1500, mac: c2:00:00:00:07:01}}\n        - {{bridge: s2, dev: eth1, ip: 10.0.8.1/24, nat: 10.0.7.10}}\n      commands:\n        - {{command: \"ip -o -4 addr show dev eth1 | grep -q 10.0.8.1/24 && echo ready >> /tmp/dl-commands\"}}\n"
        ),
    )
    .unwrap();
    let host_before = host_interfaces();
    let netns_before = netns_list(&project);
    let _down = Down(dir.path().to_path_buf(), project.clone());

    // Nothing runs yet: the links wait for their containers.
    let out = net(dir.path(), &["up"]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("project {project}: 0 links wired")),
        "{err}"
    );
    assert!(
        err.contains("3 declared links waiting for a container"),
        "{err}"
    );

    let n1 = replica(&project, "node", 1);
    let n2 = replica(&project, "node", 2);
    let router = replica(&project, "router", 1);
    let out = net(dir.path(), &["up"]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("4 links wired"), "{err}");
    // The router's command ran once its links were up (it saw its second address).
    assert!(err.contains("1 command run"), "{err}");
    let commands_ran = |c: &Container| {
        String::from_utf8_lossy(&c.exec(&["cat", "/tmp/dl-commands"]).stdout).into_owned()
    };
    assert_eq!(commands_ran(&router), "ready\n");
    // The router's eth1 has its nat rules, in its own namespace.
    let router_tables = || {
        let pid = router.inspect("{{.State.Pid}}");
        support::run_ok(Command::new("nsenter").args(["-t", &pid, "-n", "nft", "list", "ruleset"]))
    };
    let rules = router_tables();
    assert!(
        rules.contains("table inet docker-link-net-eth1") && rules.contains("dnat ip to 10.0.7.10"),
        "{rules}"
    );

    // Names, MAC and MTU exact; replica 2 at its offset; the route.
    let r = link_of(&router, "eth0");
    assert!(
        r.contains("mtu 1500") && r.contains("link/ether c2:00:00:00:07:01"),
        "{r}"
    );
    assert!(
        link_of(&router, "eth1").contains("mtu 65535"),
        "default MTU"
    );
    let a2 = String::from_utf8_lossy(&n2.exec(&["ip", "-o", "addr", "show", "dev", "eth0"]).stdout)
        .into_owned();
    assert!(a2.contains("inet 10.0.7.11/28"), "{a2}");
    let routes = String::from_utf8_lossy(&n1.exec(&["ip", "route"]).stdout).into_owned();
    assert!(
        routes.contains("10.0.8.0/24 via 10.0.7.1 dev eth0"),
        "{routes}"
    );
    let mac1 = link_of(&n1, "eth0");

    // Traffic both ways, across the bridge, and via the router to its second network.
    assert!(ping(&n1, "10.0.7.1"), "node 1 -> router");
    assert!(ping(&router, "10.0.7.11"), "router -> node 2");
    assert!(ping(&n2, "10.0.7.10"), "node 2 -> node 1");
    assert!(
        ping(&n1, "10.0.8.1"),
        "node 1 -> the router's other side, by the route"
    );

    // A second up changes nothing, and runs no command again.
    let (_, err) = text(&net(dir.path(), &["up"]));
    assert!(err.contains("4 links wired, 0 changes applied"), "{err}");
    assert!(!err.contains("command"), "{err}");
    assert_eq!(commands_ran(&router), "ready\n");

    let states = |dir: &Path| -> Vec<(String, String, String)> {
        let out = net(
            dir,
            &["status", "--format", "{{.Container}} {{.Dev}} {{.State}}"],
        );
        assert!(out.status.success(), "{:?}", text(&out));
        let mut v: Vec<(String, String, String)> = text(&out)
            .0
            .lines()
            .map(|l| {
                let w: Vec<&str> = l.split(' ').collect();
                (w[0].to_string(), w[1].to_string(), w[2].to_string())
            })
            .collect();
        v.sort();
        v
    };
    let all_up: Vec<(String, String, String)> = {
        let mut v = vec![
            (n1.name.clone(), "eth0".to_string(), "up".to_string()),
            (n2.name.clone(), "eth0".to_string(), "up".to_string()),
            (router.name.clone(), "eth0".to_string(), "up".to_string()),
            (router.name.clone(), "eth1".to_string(), "up".to_string()),
        ];
        v.sort();
        v
    };
    assert_eq!(states(dir.path()), all_up);

    // A restart: wired again by the next up, same MAC, same address.
    support::docker_ok(&["restart", "-t", "0", &n1.id]);
    assert!(
        !link_of(&n1, "eth0").contains("eth0"),
        "the restart took the link"
    );
    assert!(
        states(dir.path()).contains(&(n1.name.clone(), "eth0".to_string(), "down".to_string())),
        "status says node 1 is not wired"
    );
    let out = net(dir.path(), &["up"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        link_of(&n1, "eth0")
            .split("link/ether")
            .nth(1)
            .map(|s| s.split_whitespace().next()),
        mac1.split("link/ether")
            .nth(1)
            .map(|s| s.split_whitespace().next()),
        "same MAC after a restart"
    );
    assert!(ping(&n1, "10.0.7.1"), "node 1 -> router after its restart");
    assert_eq!(states(dir.path()), all_up);

    // Scale up: replica 3 at its offset; replica 7 would leave 10.0.7.0/28 and is refused.
    let n3 = replica(&project, "node", 3);
    let n7 = replica(&project, "node", 7);
    let out = net(dir.path(), &["up"]);
    let (_, err) = text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "container {} eth0: replica 7 would get 10.0.7.10/28 + 6, outside 10.0.7.0/28",
            n7.name
        )),
        "{err}"
    );
    assert!(ping(&n3, "10.0.7.1"), "replica 3 wired at 10.0.7.12");
    assert!(ping(&router, "10.0.7.12"));
    drop(n7);

    // The router's eth1 removed by hand, and its nat taken out of the file: made again by the
    // next up, and the nat table the old link left in the router goes.
    let compose = std::fs::read_to_string(dir.path().join("compose.yaml")).unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        compose.replace(", nat: 10.0.7.10", ""),
    )
    .unwrap();
    let pid = router.inspect("{{.State.Pid}}");
    support::run_ok(Command::new("nsenter").args(["-t", &pid, "-n", "ip", "link", "del", "eth1"]));
    assert!(
        router_tables().contains("docker-link-net-eth1"),
        "the table outlived its link"
    );
    let out = net(dir.path(), &["up"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(link_of(&router, "eth1").contains("eth1"), "eth1 made again");
    assert_eq!(router_tables(), "", "the old link's nat went");

    // Down: everything goes; the host is as it was.
    let out = net(dir.path(), &["down"]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("removed the switch namespace"), "{err}");
    let mut gone = false;
    for _ in 0..50 {
        if !link_of(&router, "eth0").contains("eth0") {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "the router's link went with the switch namespace");
    assert_eq!(router_tables(), "", "the nat rules went with the project");
    assert_eq!(host_interfaces(), host_before, "host interfaces as before");
    assert_eq!(
        netns_list(&project),
        netns_before,
        "named namespaces as before"
    );
    let label = format!("label=docker-link.net.project={project}");
    assert_eq!(
        support::docker_ok(&["volume", "ls", "-q", "--filter", &label]),
        "",
        "the stored configuration is gone"
    );
    let (_, err) = text(&net(dir.path(), &["down"]));
    assert!(err.contains("nothing to remove"), "{err}");
}

#[test]
fn an_invalid_configuration_is_refused_with_every_error() {
    let dir = TempDir::new("net-invalid");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: busybox\n    scale: 4\n    x-network:\n      links:\n        - {bridge: s, ip: 10.0.0.253/24, mdoe: x}\n        - {bridge: s, dev: eth1, ip: 10.0.1.253/24}\n",
    )
    .unwrap();
    for cmd in [&["config"][..], &["up"][..]] {
        let out = net(dir.path(), cmd);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
        assert!(
            err.starts_with("error: invalid network configuration (2 errors)\n"),
            "{err}"
        );
        assert!(err.contains("  compose.yaml: services.web.x-network.links[0].mdoe: unknown key \"mdoe\" (did you mean \"mode\"?)\n"), "{err}");
        assert!(err.contains("  compose.yaml: services.web.x-network.links[1].ip: replica 4 of service web would get 10.0.1.253/24 + 3, outside 10.0.1.0/24 (service web is scaled to 4)"), "{err}");
    }
}

/// `docker link watcher run --foreground` for a registry namespace of its own, stopped by
/// SIGTERM when dropped.
struct Watcher(std::process::Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(20) {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("{what}: not within 20 s");
}

/// The watcher's net duty: containers that start after `up`, and again after a restart, are
/// wired without another `up`, with the same MAC.
#[test]
fn the_watcher_wires_containers_as_they_start_and_restart() {
    let dir = TempDir::new("net-watch");
    let registry = support::unique("netreg");
    let project = support::unique("netw").replace("dl-test-", "dlt");
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: {project}\nservices:\n  a:\n    image: busybox\n    x-network:\n      links:\n        - {{bridge: s, ip: 10.0.9.1/24}}\n  b:\n    image: busybox\n    x-network:\n      links:\n        - {{bridge: s, ip: 10.0.9.2/24}}\n      commands:\n        - {{command: [sh, -c, \"ip -o -4 addr show dev eth0 | grep -q 10.0.9.2/24 && echo ready >> /tmp/dl-commands\"]}}\n"
        ),
    )
    .unwrap();
    let _down = Down(dir.path().to_path_buf(), project.clone());
    let watcher = Watcher(
        Command::new(support::bin())
            .args(["link", "watcher", "run", "--foreground", "--no-rules"])
            .env("DOCKER_LINK_REGISTRY", &registry)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = support::run(
        Command::new(support::bin())
            .args(["net", "up"])
            .current_dir(dir.path())
            .env("DOCKER_LINK_WATCHER", "off")
            .env("DOCKER_LINK_REGISTRY", &registry),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let a = replica(&project, "a", 1);
    // `docker net wait` returns once the watcher has wired it, with its address.
    let out = support::run(
        Command::new(support::bin())
            .args(["net", "wait", "a:1", "eth0", "--ip", "--timeout", "20"])
            .current_dir(dir.path()),
    );
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.trim(), format!("{} eth0: 10.0.9.1", a.name));
    let out = support::run(
        Command::new(support::bin())
            .args(["net", "wait", "b", "eth0", "--timeout", "0.5"])
            .current_dir(dir.path()),
    );
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        "error: timed out after 0.5 s waiting for b eth0: no such container yet"
    );
    let b = replica(&project, "b", 1);
    until("a reaches b once both started", || ping(&a, "10.0.9.2"));
    let mac = |c: &Container| {
        link_of(c, "eth0")
            .split("link/ether ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("")
            .to_string()
    };
    let before = mac(&b);
    assert!(!before.is_empty());
    // b's command ran after its link was up, once per start (its file survives a restart).
    let commands_ran =
        || String::from_utf8_lossy(&b.exec(&["cat", "/tmp/dl-commands"]).stdout).into_owned();
    until("b's command after its link", || commands_ran() == "ready\n");
    support::docker_ok(&["restart", "-t", "0", &b.id]);
    until("a reaches b after its restart", || ping(&a, "10.0.9.2"));
    assert_eq!(mac(&b), before, "the same MAC after a restart");
    until("b's command again after its restart", || {
        commands_ran() == "ready\nready\n"
    });
    // Down while the foreground watcher runs and b restarts: nothing of the project is left,
    // now or a moment later (a pass under way when down runs removes what it made again).
    support::docker_ok(&["restart", "-t", "0", &b.id]);
    let out = support::run(
        Command::new(support::bin())
            .args(["net", "down", "--project", &project])
            .env("DOCKER_LINK_REGISTRY", &registry),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        netns_list(&project),
        Vec::<String>::new(),
        "the switch namespace stays gone after down"
    );
    drop(watcher);
}

/// `docker net up` starts the watcher's container with the net duty's privileges (the host's
/// PID namespace, CAP_SYS_ADMIN, /run/netns), which it has only while a project is up; that
/// container wires a replica that starts later, and again after its restart.
#[test]
fn net_up_gives_the_watcher_container_the_net_duty() {
    let g = support::graph::Graph::new();
    let dir = TempDir::new("net-duty");
    let project = support::unique("netd").replace("dl-test-", "dlt");
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: {project}\nservices:\n  a:\n    image: busybox\n    x-network:\n      links:\n        - {{bridge: s, ip: 10.0.10.1/24}}\n  b:\n    image: busybox\n    x-network:\n      links:\n        - {{bridge: s, ip: 10.0.10.2/24}}\n"
        ),
    )
    .unwrap();
    let _down = Down(dir.path().to_path_buf(), project.clone());
    let watcher = format!("docker-link-watcher-{}", g.ns);
    // Without a project the watcher has none of them.
    g.ok(&["link", "watcher", "start", "--metrics", "127.0.0.1:0"]);
    let privileges = || {
        g.docker_ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.PidMode}} {{.HostConfig.CapAdd}} {{index .Config.Labels \"docker-link.watcher.net\"}}",
            &watcher,
        ])
    };
    assert_eq!(
        privileges(),
        "[NET_ADMIN] false",
        "no PID mode: the container's own"
    );
    let out = support::run(
        g.cmd(&["net", "up"])
            .current_dir(dir.path())
            .env("DOCKER_LINK_WATCHER", "on")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME"),
    );
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("started the watcher {watcher}")),
        "{err}"
    );
    assert_eq!(privileges(), "host [NET_ADMIN SYS_ADMIN SYS_PTRACE] true");
    let status = support::eventually(60, "the net duty in the watcher's status", || {
        let out = g
            .cmd(&["link", "watcher", "status", "--format", "json"])
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let v = if v.is_array() { v[0].clone() } else { v };
        (v["Passes"].as_u64() >= Some(1)).then_some(v)
    });
    let duties = support::duties(&status);
    assert!(duties.contains(&"net"), "{duties:?}");
    // Replicas that start now are the watcher's to wire.
    let a = replica(&project, "a", 1);
    let b = replica(&project, "b", 1);
    until("a reaches b, wired by the watcher's container", || {
        ping(&a, "10.0.10.2")
    });
    support::docker_ok(&["restart", "-t", "0", &b.id]);
    until("a reaches b after its restart", || ping(&a, "10.0.10.2"));

    // Down while the watcher's container runs (and a restart gives it a pass to make):
    // nothing of the project is left in the host, now or a moment later.
    support::docker_ok(&["restart", "-t", "0", &b.id]);
    let out = support::run(
        g.cmd(&["net", "down"])
            .current_dir(dir.path())
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME"),
    );
    assert!(out.status.success(), "{:?}", text(&out));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        netns_list(&project),
        Vec::<String>::new(),
        "the switch namespace stays gone after down"
    );
}

/// `docker init --wait-net DEV` as a container's entrypoint: the command starts only once
/// `docker net up` has wired DEV, and sees its address.
#[test]
fn init_waits_for_the_link_before_the_command() {
    let dir = TempDir::new("net-init");
    let project = support::unique("neti").replace("dl-test-", "dlt");
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!("name: {project}\nservices:\n  app:\n    image: busybox\n    x-network:\n      links:\n        - {{bridge: s, ip: 10.0.9.5/24}}\n"),
    )
    .unwrap();
    let _down = Down(dir.path().to_path_buf(), project.clone());
    let bind = format!("{}:/dl:ro", support::static_bin().display());
    let labels = [
        format!("com.docker.compose.project={project}"),
        "com.docker.compose.service=app".to_string(),
        "com.docker.compose.container-number=1".to_string(),
    ];
    let app = Container::run(
        "app",
        &[
            "--network",
            "none",
            "-v",
            &bind,
            "--label",
            &labels[0],
            "--label",
            &labels[1],
            "--label",
            &labels[2],
            images::busybox(),
            "/dl",
            "init",
            "--wait-net",
            "eth0",
            "--",
            "sh",
            "-c",
            "ip -o addr show dev eth0; sleep 3600",
        ],
    );
    let logs = || {
        let out = support::docker(&["logs", &app.id]);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    until("the init says it waits", || {
        logs().contains("waiting for interface eth0")
    });
    assert!(
        !logs().contains("inet "),
        "the command did not start before the link: {}",
        logs()
    );
    let out = net(dir.path(), &["up"]);
    assert!(out.status.success(), "{:?}", text(&out));
    until("the command starts and sees its address", || {
        logs().contains("inet 10.0.9.5/24")
    });
}

/// A host interface and a namespace on its other end standing for the LAN, removed on drop.
struct Lan {
    parent: String,
    ns: String,
}

impl Lan {
    fn new(ip: &str) -> Lan {
        let pid = std::process::id();
        // `veth*`: left out of the host snapshots other tests compare.
        let lan = Lan {
            parent: format!("vethm{pid}"),
            ns: format!("dlt-lan-{pid}"),
        };
        let peer = format!("dlm{pid}");
        for args in [
            vec!["netns", "add", lan.ns.as_str()],
            vec![
                "link",
                "add",
                &lan.parent,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
            vec!["link", "set", &peer, "netns", &lan.ns],
            vec!["link", "set", &lan.parent, "up"],
            vec!["-n", &lan.ns, "addr", "add", ip, "dev", &peer],
            vec!["-n", &lan.ns, "link", "set", &peer, "up"],
        ] {
            support::run_ok(Command::new("ip").args(&args));
        }
        lan
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.parent])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// `type: macvlan` through `docker net up`: the link is made on a host interface
/// (`outer-dev`) and placed in the container; the container reaches the LAN behind it;
/// `status` says up; `down` takes the link out of the container.
#[test]
fn a_macvlan_link_reaches_the_lan_behind_a_host_interface() {
    let lan = Lan::new("10.79.0.9/24");
    let dir = TempDir::new("net-macvlan");
    let project = support::unique("netm").replace("dl-test-", "dlt");
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: {project}\nservices:\n  m:\n    image: busybox\n    network_mode: none\n    x-network:\n      links:\n        - {{type: macvlan, outer-dev: {}, ip: 10.79.0.1/24}}\n",
            lan.parent
        ),
    )
    .unwrap();
    let _down = Down(dir.path().to_path_buf(), project.clone());
    let m = replica(&project, "m", 1);
    let out = net(dir.path(), &["up"]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("1 link wired"), "{err}");
    // The host's ip in the container's namespace (busybox's has no -d).
    let pid = m.inspect("{{.State.Pid}}");
    let l = support::run_ok(Command::new("nsenter").args([
        "-t", &pid, "-n", "ip", "-d", "-o", "link", "show", "dev", "eth0",
    ]));
    assert!(l.contains("macvlan mode bridge"), "{l}");
    assert!(ping(&m, "10.79.0.9"), "the container reaches the lan");
    let out = net(dir.path(), &["status", "--format", "{{.Dev}} {{.State}}"]);
    assert_eq!(text(&out).0.trim(), "eth0 up", "{:?}", text(&out));
    // Up again: nothing to do.
    let (_, err) = text(&net(dir.path(), &["up"]));
    assert!(err.contains("1 link wired, 0 changes applied"), "{err}");
    let out = net(dir.path(), &["down"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        !link_of(&m, "eth0").contains("eth0"),
        "down took the macvlan"
    );
}

/// `forward`: each replica's port published on the daemon's host (host port + k - 1), reached
/// by another container through the host's address as any published port is; the port
/// forwarder follows the targets (a replica that stops loses its port at the next `up`) and
/// `down` removes it with its ports.
#[test]
fn forward_publishes_each_replicas_port_on_the_host() {
    let dir = TempDir::new("net-forward");
    let project = support::unique("netf").replace("dl-test-", "dlt");
    // Two ports in a range no daemon hands out, per process (the second engine's run too).
    let port = 20000 + (std::process::id() % 10000) as u16 * 2;
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!(
            "name: {project}\nservices:\n  web:\n    image: busybox\n    network_mode: none\n    scale: 2\n    x-network:\n      links:\n        - {{bridge: s, ip: 10.0.13.1/24, forward: \"{port}:80/tcp\"}}\n"
        ),
    )
    .unwrap();
    let _down = Down(dir.path().to_path_buf(), project.clone());
    let webs: Vec<Container> = (1..=2)
        .map(|k| {
            let c = replica(&project, "web", k);
            let out = c.exec(&[
                "sh",
                "-c",
                &format!("mkdir -p /www && echo web-{k} > /www/index.html && httpd -p 80 -h /www"),
            ]);
            assert!(out.status.success(), "{out:?}");
            c
        })
        .collect();
    let out = net(dir.path(), &["up"]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let forwarder = format!("docker-link-net-{project}-forward");
    assert!(
        err.contains(&format!(
            "made the port forwarder {forwarder}, publishing {port}:{port}/tcp {}:{}/tcp",
            port + 1,
            port + 1
        )),
        "{err}"
    );
    assert!(err.contains("2 links wired"), "{err}");
    let fw = Container::adopt(&forwarder);
    assert_eq!(fw.inspect("{{.State.Running}}"), "true");
    assert_eq!(
        fw.inspect(r#"{{index .Config.Labels "docker-link.role"}}"#),
        "net-forwarder"
    );
    // The forwarder's link on s has the prefix's last address.
    // (The self image has no `ip`: from here, in its namespace.)
    let pid = fw.inspect("{{.State.Pid}}");
    let addr = support::run_ok(
        Command::new("nsenter").args(["-t", &pid, "-n", "ip", "-o", "-4", "addr", "show"]),
    );
    assert!(addr.contains("10.0.13.254/24"), "{addr}");

    // A client on the daemon's default bridge, through the host's address there.
    let client = Container::run("net-forward-client", &[images::busybox(), "sleep", "600"]);
    // Its default gateway: the host's address on the bridge (the default bridge's IPAM
    // shows no gateway on Engine 20.10).
    let route = client.exec(&["ip", "route", "show", "default"]);
    let route = String::from_utf8_lossy(&route.stdout).into_owned();
    let gateway = route
        .split_whitespace()
        .skip_while(|w| *w != "via")
        .nth(1)
        .unwrap_or_else(|| panic!("no default route in the client: {route}"))
        .to_string();
    let get = |p: u16| -> Option<String> {
        let out = client.exec(&[
            "timeout",
            "5",
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://{gateway}:{p}/"),
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    until("replica 1 through its published port", || {
        get(port).as_deref() == Some("web-1")
    });
    assert_eq!(get(port + 1).as_deref(), Some("web-2"));
    // `status` and `graph` show the forwarder: its link on s and its table.
    let out = net(
        dir.path(),
        &[
            "status",
            "--format",
            "{{.Link}} {{.Container}} {{.Address}} {{.State}}",
        ],
    );
    let (status, err) = text(&out);
    assert!(out.status.success(), "{err}");
    for row in [
        format!("forwarder {forwarder} 10.0.13.254/24 up"),
        format!("forwarder {forwarder} - up"),
    ] {
        assert!(status.lines().any(|l| l == row), "no {row:?} in:\n{status}");
    }
    let (graph, _) = text(&net(dir.path(), &["graph", "--format", "dot"]));
    assert!(
        graph.contains(&format!(
            "[label=\"{forwarder} (publishes {port}:{port}/tcp, {}:{}/tcp)\", shape=house]",
            port + 1,
            port + 1
        )),
        "{graph}"
    );

    // A second up changes nothing: the forwarder and its table stay.
    let out = net(dir.path(), &["up"]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("port forwarder"), "{err}");
    assert!(err.contains("0 changes applied"), "{err}");

    // The forwarder restarted (a new namespace): the reconcile the watcher runs on its start
    // gives it its link and table again.
    support::docker_ok(&["restart", "-t", "0", &forwarder]);
    let out = net(dir.path(), &["up"]);
    assert!(out.status.success(), "{:?}", text(&out));
    until("replica 2 after the forwarder's restart", || {
        get(port + 1).as_deref() == Some("web-2")
    });

    // Replica 2 stops: its port no longer reaches anything; replica 1's still does.
    support::docker_ok(&["stop", "-t", "0", &webs[1].id]);
    let out = net(dir.path(), &["up"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(get(port).as_deref(), Some("web-1"));
    assert_eq!(get(port + 1), None);

    let out = net(dir.path(), &["down"]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("removed the port forwarder {forwarder}")),
        "{err}"
    );
    let gone = support::docker(&["inspect", &forwarder]);
    assert!(!gone.status.success(), "the forwarder is gone");
    assert_eq!(get(port), None, "the published port went with it");
}
