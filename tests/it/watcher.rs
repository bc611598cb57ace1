//! The watcher against the real daemon: in the foreground (`docker link watcher run
//! --foreground`, as tests and debugging use it) and as its container (`start`, `status`,
//! `stop`). What a user would see: links declared by compose labels resolve, and again after
//! `--force-recreate`; the registry and a link network removed by hand come back; the network
//! of a removed parent goes; the container starts once, reports itself healthy, and stops
//! cleanly on SIGTERM.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::daemon::PrivateDaemon;
use crate::support::graph::{resolves, Graph};
use crate::support::{eventually, images, run_ok, unique, Container, TempDir};

/// The address of `c` on `net`, None while it is not attached (the network may be gone).
fn ip_on(c: &Container, net: &str) -> Option<String> {
    let out = crate::support::docker(&[
        "inspect",
        "-f",
        &format!(
            "{{{{with index .NetworkSettings.Networks \"{net}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}"
        ),
        &c.id,
    ]);
    let ip = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !ip.is_empty()).then_some(ip)
}

/// `docker link watcher run --foreground` for a graph, stopped by SIGTERM when dropped; the
/// drop asserts it exits 0 (a clean stop).
struct Foreground {
    child: Option<Child>,
    pub status: TempDir,
}

impl Foreground {
    fn start(g: &Graph) -> Foreground {
        Foreground::start_with(g, &[])
    }

    fn start_with(g: &Graph, extra: &[&str]) -> Foreground {
        let status = TempDir::new("watcher-status");
        let file = status.path().join("status.json");
        let mut args = vec![
            "link",
            "watcher",
            "run",
            "--foreground",
            "--status-file",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let child = g
            .cmd(&args)
            .env("DOCKER_LINK_LOG", "info")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let w = Foreground {
            child: Some(child),
            status,
        };
        eventually(30, "the watcher's first pass", || {
            w.passes().filter(|p| *p > 0)
        });
        w
    }

    /// Freezes the watcher (SIGSTOP): what happens meanwhile, it learns from the events when
    /// it goes on (SIGCONT).
    fn freeze(&self, on: bool) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let sig = if on { "-STOP" } else { "-CONT" };
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }

    fn status(&self) -> Option<serde_json::Value> {
        let text = std::fs::read(self.status.path().join("status.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn passes(&self) -> Option<u64> {
        self.status()?.get("Passes")?.as_u64()
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break Some(s);
            }
            if Instant::now() > end {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if !std::thread::panicking() {
            assert!(
                status.is_some_and(|s| s.success()),
                "the watcher did not stop cleanly on SIGTERM: {status:?}"
            );
        }
    }
}

/// A compose project of the test's own, brought down with its volumes when dropped.
struct Compose {
    dir: TempDir,
    project: String,
}

impl Compose {
    fn up(yaml: &str) -> Compose {
        let dir = TempDir::new("compose");
        std::fs::write(dir.path().join("docker-compose.yml"), yaml).unwrap();
        let c = Compose {
            dir,
            project: unique("proj").replace('-', ""),
        };
        c.run(&["up", "-d"]);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        run_ok(
            Command::new("docker-compose")
                .current_dir(self.dir.path())
                .args(["-p", &self.project])
                .args(args),
        )
    }

    /// The container of `service` (replica 1).
    fn container(&self, service: &str) -> Container {
        let id = self.run(&["ps", "-q", service]);
        Container::adopt(id.lines().next().unwrap())
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = Command::new("docker-compose")
            .current_dir(self.dir.path())
            .args(["-p", &self.project, "down", "-v", "-t", "1"])
            .output();
    }
}

#[test]
fn compose_labels_link_services_and_recreated_containers_again() {
    let g = Graph::new();
    let yaml = format!(
        "version: '2.4'\n\
         services:\n\
         \x20 db:\n\
         \x20   image: {redis}\n\
         \x20 web:\n\
         \x20   image: {busybox}\n\
         \x20   command: sleep 3600\n\
         \x20   labels:\n\
         \x20     docker-link.links: \"db:redis\"\n\
         \x20     docker-link.registry: \"{ns}\"\n",
        redis = images::redis(),
        busybox = images::busybox(),
        ns = g.ns,
    );
    let _w = Foreground::start(&g);
    let project = Compose::up(&yaml);
    let web = project.container("web");
    let db = project.container("db");
    let net = eventually(30, "the link network of web", || {
        let n = web.inspect("{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}");
        n.split_whitespace()
            .find(|n| n.starts_with("docker-link-"))
            .map(str::to_string)
    });
    let want = ip_on(&db, &net).expect("db on web's link network");
    eventually(30, "web resolves redis to db", || {
        (resolves(&web, "redis").as_deref() == Some(want.as_str())).then_some(())
    });
    // The proposal's listing: the link under the parent's path.
    let ls = g.ok(&["ls"]);
    assert!(
        ls.lines()
            .any(|l| l.contains(&format!("{}/redis", web.name))),
        "{ls}"
    );

    // A new container for db (new id, same service): linked again. (Removed, then up again:
    // compose 1.29's `up --force-recreate` fails on Engine 25 and later, which no longer
    // report an image's ContainerConfig.)
    project.run(&["rm", "-s", "-f", "db"]);
    project.run(&["up", "-d", "--no-deps", "db"]);
    let db2 = project.container("db");
    assert_ne!(db2.id, db.id);
    eventually(30, "web resolves redis to the recreated db", || {
        let ip = ip_on(&db2, &net)?;
        (resolves(&web, "redis") == Some(ip)).then_some(())
    });
    std::mem::forget(db);
    std::mem::forget(db2);
}

#[test]
fn the_registry_and_a_link_network_removed_by_hand_come_back() {
    let g = Graph::new();
    let parent = Container::run("parent", &[images::busybox(), "sleep", "3600"]);
    let child = Container::run("child", &[images::redis()]);
    let name = unique("db1");
    g.ok(&["link", &child.name, &name]);
    g.ok(&[
        "link",
        "connect",
        &parent.name,
        &format!("{}:cache", child.name),
    ]);
    let w = Foreground::start(&g);

    // Every registry container and the graph's copy removed by hand.
    for (registry, _) in g.registries() {
        g.docker_ok(&["rm", "-f", &registry]);
    }
    let copy = format!("docker-link-graph-{}", g.ns);
    eventually(30, "the copy volume can be removed", || {
        g.docker(&["volume", "rm", "-f", &copy])
            .status
            .success()
            .then_some(())
    });
    eventually(30, "the registry is written back", || {
        let running = g.registries().iter().any(|(_, s)| s == "running");
        let paths = g.ls_paths(&[], &[&name, &parent.name]);
        (running && paths.contains(&name)).then_some(())
    });
    let ls = g.ok(&["ls"]);
    assert!(ls.contains(&format!("{}/cache", parent.name)), "{ls}");
    let restores = w.status().unwrap()["RegistryRestores"].as_u64().unwrap();
    assert!(restores >= 1);

    // The link network removed by hand (its members first, as docker requires).
    let net = eventually(10, "the link network", || {
        parent
            .inspect("{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}")
            .split_whitespace()
            .find(|n| n.starts_with("docker-link-"))
            .map(str::to_string)
    });
    // Removed while the watcher is frozen (running, it would put the members back before the
    // removal): it learns of it from the events when it goes on.
    w.freeze(true);
    g.docker_ok(&["network", "disconnect", "-f", &net, &parent.id]);
    g.docker_ok(&["network", "disconnect", "-f", &net, &child.id]);
    g.docker_ok(&["network", "rm", &net]);
    w.freeze(false);
    eventually(30, "the parent resolves cache again", || {
        let ip = ip_on(&child, &net)?;
        (resolves(&parent, "cache") == Some(ip)).then_some(())
    });
}

#[test]
fn a_restarted_child_keeps_its_alias_and_a_removed_parent_loses_its_network() {
    let g = Graph::new();
    let parent = Container::run("parent", &[images::busybox(), "sleep", "3600"]);
    let child = Container::run("child", &[images::redis()]);
    g.ok(&[
        "link",
        "connect",
        &parent.name,
        &format!("{}:cache", child.name),
    ]);
    let _w = Foreground::start(&g);
    let net = format!("docker-link-{}", &parent.id[..12]);
    g.docker_ok(&["restart", "-t", "1", &child.id]);
    eventually(30, "the parent resolves the restarted child", || {
        let ip = ip_on(&child, &net)?;
        (resolves(&parent, "cache") == Some(ip)).then_some(())
    });
    // A renamed child keeps its link.
    let renamed = unique("renamed");
    g.docker_ok(&["rename", &child.id, &renamed]);
    assert!(g.ok(&["ls"]).contains(&format!("{}/cache", parent.name)));

    g.docker_ok(&["rm", "-f", &parent.id]);
    eventually(60, "the removed parent's link network goes", || {
        (!g.docker(&["network", "inspect", &net]).status.success()).then_some(())
    });
}

#[test]
fn the_watcher_container_starts_once_reports_and_stops_cleanly() {
    let g = Graph::new();
    let start = || g.ok(&["link", "watcher", "start", "--metrics", "127.0.0.1:0"]);
    start();
    let name = format!("docker-link-watcher-{}", g.ns);
    let status = eventually(60, "a healthy status with a pass", || {
        let out = g
            .cmd(&["link", "watcher", "status", "--format", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let v = if v.is_array() { v[0].clone() } else { v };
        (v["Healthy"] == true && v["Passes"].as_u64() >= Some(1)).then_some(v)
    });
    assert_eq!(status["Name"], name.as_str());
    assert_eq!(status["State"], "running");
    let duties = crate::support::duties(&status);
    assert_eq!(duties.first(), Some(&"links"), "{duties:?}");
    assert!(duties.contains(&"proxy"), "{duties:?}");
    assert!(duties.iter().any(|d| d.starts_with("net")), "{duties:?}");
    let table = g.ok(&["link", "watcher", "status"]);
    for field in [
        "State:",
        "Healthy:",
        "Uptime:",
        "Passes:",
        "Event to applied:",
        "Metrics:",
    ] {
        assert!(table.contains(field), "{table}");
    }
    // Prometheus text where the status says, on the loopback of the daemon's host (reached
    // from its network namespace, as a scraper on that host would).
    let addr = status["Metrics"].as_str().unwrap().to_string();
    let pid = g.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &name]);
    let metrics = crate::support::run_ok(Command::new("nsenter").args([
        "-t",
        &pid,
        "-n",
        "curl",
        "-sf",
        &format!("http://{addr}/metrics"),
    ]));
    assert!(
        metrics.contains("# TYPE docker_link_watcher_passes_total counter"),
        "{metrics}"
    );
    assert!(metrics.contains("docker_link_watcher_event_to_applied_seconds_bucket"));
    assert!(
        addr.starts_with("127.0.0.1:"),
        "not open to the world: {addr}"
    );

    // Again: the same watcher, never two.
    let id = g.docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
    start();
    assert_eq!(g.docker_ok(&["inspect", "-f", "{{.Id}}", &name]), id);
    let label = format!("label=docker-link.registry={}", g.ns);
    let watchers = g.docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &label,
        "--filter",
        "label=docker-link.role=watcher",
    ]);
    assert_eq!(watchers.lines().count(), 1);
    // The labels say it is ours and which binary runs it.
    assert!(!g
        .docker_ok(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"docker-link.binary-sha256\"}}",
            &name
        ])
        .is_empty());
    // Structured logs: one JSON object a line, with time, level and message.
    let out = g
        .cmd(&["link", "watcher", "logs", "--tail", "100"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("watching"))),
        "{text}"
    );
    for l in &lines {
        assert!(l["timestamp"].is_string() && l["level"].is_string(), "{l}");
    }
    // SIGTERM (docker stop): a clean exit, well before docker's 10 s kill.
    g.docker_ok(&["stop", &name]);
    assert_eq!(
        g.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &name]),
        "0"
    );
    // Stopped: status says so, and stop removes it.
    let out = g
        .cmd(&["link", "watcher", "status", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(v["State"], "exited");
    assert_eq!(v["Healthy"], false);
    let said = g.cmd(&["link", "watcher", "stop"]).output().unwrap();
    assert!(String::from_utf8_lossy(&said.stderr).contains("removed the watcher"));
    assert!(!g.docker(&["inspect", &name]).status.success());
    assert!(
        !g.docker(&["inspect", &format!("{name}-keeper")])
            .status
            .success(),
        "its keeper goes with it"
    );
}

#[test]
fn connect_starts_the_watcher_once_and_says_so() {
    let g = Graph::new();
    let parent = Container::run("parent", &[images::busybox(), "sleep", "3600"]);
    let a = Container::run("a", &[images::redis()]);
    let b = Container::run("b", &[images::redis()]);
    let connect = |child: &Container, alias: &str| {
        let out = g
            .cmd(&[
                "link",
                "connect",
                &parent.name,
                &format!("{}:{alias}", child.name),
            ])
            .env("DOCKER_LINK_WATCHER", "on")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let first = connect(&a, "one");
    let name = format!("docker-link-watcher-{}", g.ns);
    assert!(
        first.contains(&format!("started the watcher {name}")),
        "{first}"
    );
    assert_eq!(
        g.docker_ok(&["inspect", "-f", "{{.State.Status}}", &name]),
        "running"
    );
    let second = connect(&b, "two");
    assert!(!second.contains("started the watcher"), "{second}");
    // Off when asked.
    let c = Container::run("c", &[images::redis()]);
    g.docker_ok(&["rm", "-f", &name]);
    g.ok(&[
        "link",
        "connect",
        &parent.name,
        &format!("{}:three", c.name),
    ]);
    assert!(!g.docker(&["inspect", &name]).status.success());
}

/// `printf 'GET / …' | nc` from `from` to `ip:port`: whether an HTTP answer came back.
fn talks(from: &Container, ip: &str, port: u16) -> bool {
    talks_by(|args| from.exec(args), ip, port)
}

/// [`talks`] through any `docker exec` of the container (another daemon's).
fn talks_by(exec: impl Fn(&[&str]) -> std::process::Output, ip: &str, port: u16) -> bool {
    let script = format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} {port}");
    let out = exec(&["sh", "-c", &script]);
    String::from_utf8_lossy(&out.stdout).starts_with("HTTP/1.")
}

/// The shell script of [`server`]: HTTP on each of `ports`, then sleep.
fn serve_script(ports: &[u16]) -> String {
    let mut script = "mkdir -p /www && echo ok > /www/index.html".to_string();
    for p in ports {
        script.push_str(&format!(" && httpd -p {p} -h /www"));
    }
    script.push_str(" && exec sleep 3600");
    script
}

/// `docker run` arguments (after the name) of `image`'s busybox serving HTTP on each of
/// `ports`, exposing `exposed`.
fn server_args(image: &str, exposed: &[&str], ports: &[u16]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    for e in exposed {
        args.push("--expose".into());
        args.push(e.to_string());
    }
    args.extend([
        image.to_string(),
        "sh".into(),
        "-c".into(),
        serve_script(ports),
    ]);
    args
}

/// busybox serving HTTP on each of `ports`, exposing `exposed`.
fn server(what: &str, exposed: &[&str], ports: &[u16]) -> Container {
    let args = server_args(images::busybox(), exposed, ports);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Container::run(what, &args)
}

/// The same on a daemon of its own, named `name`, with `flags` before the name; its id.
fn server_on(
    d: &PrivateDaemon,
    name: &str,
    flags: &[&str],
    exposed: &[&str],
    ports: &[u16],
) -> String {
    let image = d.image("busybox");
    let mut full: Vec<String> = ["run", "-d"]
        .iter()
        .chain(flags)
        .map(|s| s.to_string())
        .collect();
    full.extend(["--name".to_string(), name.to_string()]);
    full.extend(server_args(&image, exposed, ports));
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    d.docker_ok(&full)
}

/// `docker exec` in container `id` of a daemon of its own.
fn exec_on<'a>(d: &'a PrivateDaemon, id: &str) -> impl Fn(&[&str]) -> std::process::Output + 'a {
    let id = id.to_string();
    move |args: &[&str]| {
        let mut full = vec!["exec", id.as_str()];
        full.extend_from_slice(args);
        d.docker(&full)
    }
}

#[test]
fn a_parent_reaches_only_its_childrens_exposed_ports() {
    let g = Graph::new();
    let parent = server("parent", &[], &[8000]);
    let child = server("child", &["6379"], &[6379, 7000]);
    let sibling = server("sibling", &["6379"], &[6379]);
    g.ok(&[
        "link",
        "connect",
        &parent.name,
        &format!("{}:cache", child.name),
    ]);
    g.ok(&[
        "link",
        "connect",
        &parent.name,
        &format!("{}:sib", sibling.name),
    ]);
    let net = format!("docker-link-{}", &parent.id[..12]);
    let ip = |c: &Container| ip_on(c, &net).unwrap();
    let (p, c, s) = (ip(&parent), ip(&child), ip(&sibling));
    // Without the watcher's rules everything on the link network meets: the checks below can
    // fail.
    assert!(talks(&parent, &c, 7000));
    assert!(talks(&sibling, &c, 6379));
    assert!(talks(&child, &p, 8000));

    let w = Foreground::start(&g);
    let rules = w.status().unwrap()["Rules"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(rules.starts_with("enforced"), "{rules}");
    eventually(30, "the non-exposed port is closed to the parent", || {
        (!talks(&parent, &c, 7000)).then_some(())
    });
    assert!(
        talks(&parent, &c, 6379),
        "the parent reaches the exposed port"
    );
    assert!(talks(&parent, &s, 6379));
    assert!(!talks(&sibling, &c, 6379), "siblings do not meet");
    assert!(!talks(&child, &s, 6379), "siblings do not meet");
    assert!(
        !talks(&child, &p, 8000),
        "a child cannot open a connection to its parent"
    );
    assert_eq!(
        resolves(&parent, "cache"),
        Some(c.clone()),
        "DNS is untouched"
    );

    // A restarted child: a new namespace, the same address and the same rules.
    g.docker_ok(&["restart", "-t", "1", &child.id]);
    eventually(
        30,
        "the restarted child serves its exposed port to the parent",
        || talks(&parent, &c, 6379).then_some(()),
    );
    assert!(!talks(&parent, &c, 7000));
    assert!(!talks(&sibling, &c, 6379));

    // The link removed: the parent no longer reaches the child.
    g.ok(&["link", "rm", &format!("{}/cache", parent.name)]);
    eventually(30, "the removed link no longer connects", || {
        (!talks(&parent, &c, 6379)).then_some(())
    });
    assert!(talks(&parent, &s, 6379), "the other link stays");
}

/// The faults a daemon of its own can take: a restart while containers run, a container with
/// garbage labels, a burst of container events. After each the watcher converges without
/// help and says it is healthy; it finds the daemon's network namespace by itself (the daemon
/// runs in one of its own).
#[test]
fn the_watcher_survives_a_daemon_restart_garbage_labels_and_a_burst() {
    let d = PrivateDaemon::start();
    let g = Graph::on(&d.host);
    let busybox = d.image("busybox");
    let always = ["--restart", "always"];
    let parent = server_on(&d, "parent", &always, &[], &[8000]);
    let child = server_on(&d, "child", &always, &["6379"], &[6379, 7000]);
    g.ok(&["link", "connect", "parent", "child:cache"]);
    let w = Foreground::start(&g);
    let exec_parent = exec_on(&d, &parent);
    let net = format!("docker-link-{}", &parent[..12]);
    let ip_of = |id: &str| {
        d.docker_ok(&[
            "inspect",
            "-f",
            &format!("{{{{with index .NetworkSettings.Networks \"{net}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}"),
            id,
        ])
    };
    let c = ip_of(&child);
    let isolated = || talks_by(&exec_parent, &c, 6379) && !talks_by(&exec_parent, &c, 7000);
    eventually(30, "rules in the daemon's own namespace", || {
        isolated().then_some(())
    });

    // Bystanders: a container, its network and its volume that are not ours. Whatever the
    // watcher goes through below, it never changes them, nor any nf_tables table but its own.
    d.docker_ok(&[
        "network",
        "create",
        "--subnet",
        "10.231.0.0/24",
        // Explicit: the daemon writes a default gateway into the configuration at its
        // next start, which is not ours to tell apart.
        "--gateway",
        "10.231.0.1",
        "bystanders",
    ]);
    d.docker_ok(&["volume", "create", "bystander-data"]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "bystander",
        "--restart",
        "always",
        "--network",
        "bystanders",
        "--ip",
        "10.231.0.9",
        "--network-alias",
        "quiet",
        "-v",
        "bystander-data:/data",
        &busybox,
        "sleep",
        "3600",
    ]);
    let ours = format!("docker-link-{}", g.ns);
    let bystanders = || {
        let container = d.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{json .NetworkSettings.Networks}} {{json .Mounts}} {{json .Config.Labels}}",
            "bystander",
        ]);
        // Endpoint ids change when the daemon restarts the container; what a user set stays.
        let container: String = container
            .split(',')
            .filter(|f| {
                !["EndpointID", "SandboxKey", "MacAddress"]
                    .iter()
                    .any(|k| f.contains(k))
            })
            .collect();
        let network = d.docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{json .IPAM}} {{json .Labels}} {{.Internal}}",
            "bystanders",
        ]);
        let volumes = d.docker_ok(&["volume", "ls", "-q"]);
        let tables: Vec<String> = crate::support::run_ok(Command::new("ip").args([
            "netns",
            "exec",
            d.netns(),
            "nft",
            "list",
            "tables",
        ]))
        .lines()
        .filter(|t| !t.ends_with(&ours))
        .map(str::to_string)
        .collect();
        format!("{container}\n{network}\n{volumes}\n{tables:?}")
    };
    let untouched = bystanders();

    // A daemon restart while the containers run (they come back: restart always).
    let resyncs = w.status().unwrap()["Resyncs"].as_u64().unwrap();
    d.restart();
    eventually(60, "a resync after the restart", || {
        (w.status()?["Resyncs"].as_u64()? > resyncs).then_some(())
    });
    eventually(60, "the link and its rules after the restart", || {
        (ip_of(&child) == c && isolated()).then_some(())
    });

    // Garbage labels: reported, and the others go on.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        "garbage",
        "--label",
        "docker-link.links=::,x,child:-bad-",
        &busybox,
        "sleep",
        "600",
    ]);
    let q = eventually(30, "the garbage container reported", || {
        let s = w.status()?;
        let q = s["Quarantined"].as_array()?.clone();
        (!q.is_empty()).then_some(q)
    });
    assert!(
        q[0]["Reason"].as_str().unwrap().contains("labels left out"),
        "{q:?}"
    );

    // A burst of 500 container events: 90 containers made, started, stopped and removed
    // (create, connect, start, die, disconnect, destroy each), 16 at a time, while the
    // child restarts in the middle of it.
    let events = w.status().unwrap()["EventsSeen"].as_u64().unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 90 {
                    break;
                }
                if i == 45 {
                    d.docker_ok(&["restart", "-t", "1", &child]);
                }
                d.docker_ok(&[
                    "run",
                    "-d",
                    "--rm",
                    "--name",
                    &format!("burst{i}"),
                    &busybox,
                    "sh",
                    "-c",
                    "sleep 1",
                ]);
            });
        }
    });
    eventually(
        90,
        "the burst's events seen, passes fewer than events",
        || {
            let s = w.status()?;
            let seen = s["EventsSeen"].as_u64()? - events;
            (seen >= 500).then_some(())
        },
    );
    eventually(30, "still isolated after the burst", || {
        isolated().then_some(())
    });
    let s = w.status().unwrap();
    assert!(
        s["Passes"].as_u64().unwrap() < s["EventsSeen"].as_u64().unwrap(),
        "{s}"
    );
    eventually(30, "healthy after all of it", || {
        (w.status()?["Quarantined"].as_array()?.len() == 1).then_some(())
    });
    assert_eq!(bystanders(), untouched, "objects that are not ours changed");
    drop(w);
    drop(g);
}

/// The watcher's container killed during a burst: its process killed from outside (a crash,
/// the OOM killer) comes back by its restart policy; `docker kill` is a stop by hand for
/// Docker (no policy restarts it), and its keeper starts it again (and it its keeper). Its
/// image removed: `start` finds it running, never makes a second one.
#[test]
fn the_watcher_container_comes_back_after_kills_and_image_removal() {
    let g = Graph::new();
    g.ok(&["link", "watcher", "start", "--metrics", "127.0.0.1:0"]);
    let name = format!("docker-link-watcher-{}", g.ns);
    let healthy = || {
        let out = g
            .cmd(&["link", "watcher", "status", "--format", "json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let v = if v.is_array() { v[0].clone() } else { v };
        (v["Healthy"] == true && v["Passes"].as_u64() >= Some(1)).then_some(v)
    };
    eventually(60, "healthy", healthy);
    let started = g.docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &name]);
    let pid = g.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &name]);
    std::thread::scope(|s| {
        for _ in 0..10 {
            s.spawn(|| drop(Container::run("burst", &[images::busybox(), "true"])));
        }
        assert!(Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap()
            .success());
    });
    eventually(60, "restarted by its policy, healthy again", || {
        let again = g.docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &name]);
        (again != started).then(healthy).flatten()
    });

    // `docker kill` during a burst: Docker takes it for a stop by hand and leaves it; its
    // keeper starts it again. The keeper killed: the watcher starts it again.
    let keeper = format!("docker-link-watcher-{}-keeper", g.ns);
    assert_eq!(
        g.docker_ok(&["inspect", "-f", "{{.State.Status}}", &keeper]),
        "running"
    );
    let started = g.docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &name]);
    std::thread::scope(|s| {
        for _ in 0..10 {
            s.spawn(|| drop(Container::run("burst", &[images::busybox(), "true"])));
        }
        g.docker_ok(&["kill", "-s", "KILL", &name]);
    });
    eventually(60, "started again by its keeper, healthy", || {
        let again = g.docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &name]);
        (again != started).then(healthy).flatten()
    });
    let keeper_started = g.docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &keeper]);
    g.docker_ok(&["kill", "-s", "KILL", &keeper]);
    eventually(60, "the keeper started again by the watcher", || {
        let s = g.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.StartedAt}}",
            &keeper,
        ]);
        (s.starts_with("running") && !s.ends_with(&keeper_started)).then_some(())
    });
    // A link made meanwhile is kept: the watcher is back for real.
    let parent = Container::run("parent", &[images::busybox(), "sleep", "3600"]);
    let child = Container::run("child", &[images::redis()]);
    g.ok(&[
        "link",
        "connect",
        &parent.name,
        &format!("{}:db", child.name),
    ]);
    eventually(60, "healthy after the kills", healthy);

    // Its image removed (untagged; the container keeps its layers).
    let image = g.docker_ok(&["inspect", "-f", "{{.Config.Image}}", &name]);
    g.docker_ok(&["rmi", "-f", &image]);
    let said = g
        .cmd(&["link", "watcher", "start", "--metrics", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(said.status.success());
    assert!(
        String::from_utf8_lossy(&said.stderr).contains("is running"),
        "{said:?}"
    );
    let label = format!("label=docker-link.registry={}", g.ns);
    let watchers = g.docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &label,
        "--filter",
        "label=docker-link.role=watcher",
    ]);
    assert_eq!(watchers.lines().count(), 1);
    eventually(30, "healthy", healthy);
}

/// `--icc=false`: on the default bridge too, a container accepts new connections only along
/// its links (the engine's old `--icc=false`), on a daemon of its own (the rules reach every
/// container on its default bridge).
#[test]
fn icc_false_leaves_only_links_on_the_default_bridge() {
    let d = PrivateDaemon::start();
    let g = Graph::on(&d.host);
    let parent = server_on(&d, "parent", &[], &[], &[8000]);
    let child = server_on(&d, "child", &[], &["6379"], &[6379, 7000]);
    let stranger = server_on(&d, "stranger", &[], &["6379"], &[6379]);
    g.ok(&["link", "connect", "parent", "child:db"]);
    let on_bridge = |id: &str| {
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.bridge.IPAddress}}",
            id,
        ])
    };
    let (p, c, s) = (on_bridge(&parent), on_bridge(&child), on_bridge(&stranger));
    let exec = |id: &str| exec_on(&d, id);
    // The engine's default: everything meets on the default bridge.
    assert!(talks_by(exec(&stranger), &c, 6379));
    assert!(talks_by(exec(&parent), &c, 7000));

    let w = Foreground::start_with(&g, &["--icc=false"]);
    let rules = w.status().unwrap()["Rules"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(rules.contains("--icc=false"), "{rules}");
    eventually(30, "a stranger no longer reaches the child", || {
        (!talks_by(exec(&stranger), &c, 6379)).then_some(())
    });
    assert!(
        talks_by(exec(&parent), &c, 6379),
        "along the link, the exposed port"
    );
    assert!(
        !talks_by(exec(&parent), &c, 7000),
        "not a port the child does not expose"
    );
    assert!(!talks_by(exec(&child), &p, 8000), "not against the link");
    assert!(!talks_by(exec(&child), &s, 6379), "not to a stranger");

    // A restarted child gets another address on the default bridge: the rules follow.
    d.docker_ok(&["restart", "-t", "1", &child]);
    let c2 = on_bridge(&child);
    eventually(30, "the parent reaches the restarted child", || {
        talks_by(exec(&parent), &c2, 6379).then_some(())
    });
    assert!(!talks_by(exec(&stranger), &c2, 6379));
}
