//! `sys::netns` against the real kernel, through the library crate (`docker_link::sys::netns`
//! is `pub` for these tests): namespaces made with `ip netns add`, processes in namespaces of
//! their own (`unshare --net`), a PID really reused (through `/proc/sys/kernel/ns_last_pid`),
//! and with `test-docker` a running container's namespace by `State.Pid` and `SandboxKey`.
//!
//! Needs root and iproute2's `ip`; without them the tests fail, they never skip.

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use docker_link::sys::netns::{self, NetNs, NetnsError};
use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::{Handle, LinkUnspec, LinkVeth};

use crate::support::{self, run, run_ok};

/// Panics (once, clearly) unless we are root and `ip` runs.
fn require_root_and_ip() {
    static OK: OnceLock<Result<(), String>> = OnceLock::new();
    let res = OK.get_or_init(|| {
        if !nix::unistd::geteuid().is_root() {
            return Err("the test-netns tests need root".to_string());
        }
        match Command::new("ip").arg("-V").output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!("`ip -V` failed: {}", out.status)),
            Err(e) => Err(format!("iproute2's ip cannot be run: {e}")),
        }
    });
    if let Err(e) = res {
        panic!("prerequisite missing: {e}");
    }
}

/// A namespace made by `ip netns add`, deleted (with everything in it) on drop.
struct NamedNs {
    name: String,
}

impl NamedNs {
    fn add() -> NamedNs {
        require_root_and_ip();
        let name = support::unique("netns");
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        NamedNs { name }
    }

    /// `ip -n <name> <args…>`, which must succeed.
    fn ip(&self, args: &[&str]) -> String {
        run_ok(Command::new("ip").args(["-n", &self.name]).args(args))
    }
}

impl Drop for NamedNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A process killed and reaped on drop.
struct Proc(Child);

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        Proc(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Kills it; it stays a zombie until [`Proc::reap`].
    fn kill(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        // Until the kernel has torn it down it may still show as running.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !is_zombie(self.pid()) {
            assert!(Instant::now() < deadline, "{} did not die", self.pid());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn reap(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.reap();
    }
}

fn is_zombie(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    state.starts_with('Z') || state.starts_with('X')
}

/// Interface names unique to this run (at most 15 bytes): `dlt<pid>x<n>`, suffixed a/b.
fn veth_names() -> (String, String) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let base = format!(
        "dlt{}x{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::SeqCst)
    );
    (format!("{base}a"), format!("{base}b"))
}

/// The inode of the calling thread's network namespace.
fn thread_ns() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .expect("/proc/thread-self/ns/net")
        .ino()
}

async fn link_names(h: &Handle) -> Result<Vec<String>, rtnetlink::Error> {
    let mut links = h.link().get().execute();
    let mut names = Vec::new();
    while let Some(msg) = links.try_next().await? {
        names.extend(msg.attributes.into_iter().filter_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n),
            _ => None,
        }));
    }
    names.sort();
    Ok(names)
}

async fn index_of(h: &Handle, name: &str) -> Result<u32, rtnetlink::Error> {
    let mut links = h.link().get().match_name(name).execute();
    match links.try_next().await? {
        Some(link) => Ok(link.header.index),
        None => panic!("no link {name}"),
    }
}

async fn addresses_of(h: &Handle, name: &str) -> Result<Vec<IpAddr>, rtnetlink::Error> {
    let index = index_of(h, name).await?;
    let mut msgs = h.address().get().set_link_index_filter(index).execute();
    let mut addrs = Vec::new();
    while let Some(msg) = msgs.try_next().await? {
        addrs.extend(msg.attributes.into_iter().filter_map(|a| match a {
            AddressAttribute::Address(ip) => Some(ip),
            _ => None,
        }));
    }
    Ok(addrs)
}

#[test]
fn work_happens_in_the_namespace_and_not_in_the_host() {
    let named = NamedNs::add();
    let ns = NetNs::named(&named.name).unwrap();
    let (a, b) = veth_names();
    let addr: IpAddr = "198.18.251.1".parse().unwrap();
    // run_in's thread is scoped: the closure borrows the names.
    let (a_ref, b_ref) = (&a, &b);
    netns::run_in(&ns, |h| async move {
        h.link()
            .set(LinkUnspec::new_with_name("lo").up().build())
            .execute()
            .await?;
        h.link()
            .add(LinkVeth::new(a_ref, b_ref).build())
            .execute()
            .await?;
        let index = index_of(&h, a_ref).await?;
        h.address().add(index, addr, 24).execute().await?;
        h.link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
    })
    .expect("entering the namespace")
    .expect("netlink work inside it");

    let inside = named.ip(&["-o", "addr", "show", "dev", &a]);
    assert!(inside.contains("inet 198.18.251.1/24"), "{inside}");
    let peer = named.ip(&["-o", "link", "show", "dev", &b]);
    assert!(peer.contains(&format!("{b}@{a}")), "{peer}");
    let lo = named.ip(&["-o", "link", "show", "dev", "lo"]);
    assert!(lo.contains(",UP"), "lo is up inside: {lo}");

    for name in [&a, &b] {
        let host = run(Command::new("ip").args(["link", "show", "dev", name]));
        assert!(!host.status.success(), "{name} must not exist in the host");
    }
    let host = run_ok(Command::new("ip").args(["-o", "addr"]));
    assert!(!host.contains("198.18.251.1/"), "{host}");
}

#[test]
fn callers_never_change_namespace_even_fifty_at_once() {
    let named = NamedNs::add();
    let ns = NetNs::named(&named.name).unwrap();
    let target = ns.inode().unwrap();
    let host = thread_ns();
    assert_ne!(target, host);

    let (inside, links) = netns::run_in(&ns, |h| async move {
        (thread_ns(), link_names(&h).await.unwrap())
    })
    .unwrap();
    assert_eq!(inside, target, "the closure runs in the namespace");
    assert_eq!(links, ["lo"], "the netlink socket is the namespace's");
    assert_eq!(thread_ns(), host, "the caller stays where it was");

    // Blocking: 10 threads, 5 calls each, all at once.
    let barrier = std::sync::Barrier::new(10);
    std::thread::scope(|s| {
        for _ in 0..10 {
            s.spawn(|| {
                let mine = thread_ns();
                barrier.wait();
                for _ in 0..5 {
                    let (inside, links) = netns::run_in(&ns, |h| async move {
                        (thread_ns(), link_names(&h).await.unwrap())
                    })
                    .unwrap();
                    assert_eq!(inside, target);
                    assert_eq!(links, ["lo"]);
                    assert_eq!(thread_ns(), mine);
                }
            });
        }
    });

    // Async: 50 at once from a multi-thread runtime; no worker may move.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let ns = std::sync::Arc::new(ns);
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let ns = ns.clone();
                tokio::spawn(async move {
                    let inside = netns::run_in_async(&ns, |h| async move {
                        (thread_ns(), link_names(&h).await.unwrap())
                    })
                    .await
                    .unwrap();
                    // The worker that resumes this task, after the wait.
                    (inside, thread_ns())
                })
            })
            .collect();
        futures_util::future::join_all(tasks).await
    });
    assert_eq!(results.len(), 50);
    for r in results {
        let ((inside, links), worker) = r.unwrap();
        assert_eq!(inside, target);
        assert_eq!(links, ["lo"]);
        assert_eq!(worker, host, "a tokio worker changed namespace");
    }
    assert_eq!(thread_ns(), host);
}

#[test]
fn a_panic_inside_reaches_the_caller() {
    let named = NamedNs::add();
    let ns = NetNs::named(&named.name).unwrap();
    let host = thread_ns();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        netns::run_in(&ns, |_h| async { panic!("boom inside") })
    }));
    let payload = caught.expect_err("the panic is resumed in the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom inside"));
    assert_eq!(thread_ns(), host);
}

#[test]
fn a_process_that_exits_takes_its_namespace_unless_held() {
    require_root_and_ip();
    let mut p = Proc::spawn(Command::new("unshare").args(["--net", "sleep", "300"]));
    let pid = p.pid();
    // unshare enters its namespace, then execs sleep in the same process.
    let host = thread_ns();
    let deadline = Instant::now() + Duration::from_secs(10);
    let ns = loop {
        let ns = NetNs::by_pid(pid).unwrap();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        if comm.trim() == "sleep" && ns.inode().unwrap() != host {
            break ns;
        }
        assert!(Instant::now() < deadline, "unshare did not exec sleep");
        std::thread::sleep(Duration::from_millis(10));
    };
    let links = netns::run_in(&ns, |h| async move { link_names(&h).await.unwrap() }).unwrap();
    assert_eq!(links, ["lo"], "a fresh namespace of its own");

    p.kill();
    let err = NetNs::by_pid(pid).unwrap_err();
    assert!(
        matches!(err, NetnsError::Gone { pid: p } if p == pid),
        "zombie: {err:?}"
    );
    p.reap();
    let err = NetNs::by_pid(pid).unwrap_err();
    assert!(
        matches!(err, NetnsError::Gone { pid: p } if p == pid),
        "reaped: {err:?}"
    );
    assert_eq!(err.to_string(), format!("process {pid} is not running"));

    // The open file still holds the namespace.
    let links = netns::run_in(&ns, |h| async move { link_names(&h).await.unwrap() }).unwrap();
    assert_eq!(links, ["lo"]);
}

/// Spawns `sleep 300` with exactly `pid`: the kernel hands out ns_last_pid + 1 next, unless
/// another process of the machine forks first, so this retries (the whole suite forks beside
/// it: CI once lost 200 tries in a row; a pause between tries lets a burst of forks pass).
fn spawn_with_pid(pid: u32) -> Proc {
    for i in 0..2000 {
        if i > 0 && i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1))
            .expect("writing /proc/sys/kernel/ns_last_pid (needs root)");
        let p = Proc::spawn(Command::new("sleep").arg("300"));
        if p.pid() == pid {
            return p;
        }
    }
    panic!("could not get pid {pid} again in 2000 tries");
}

#[test]
fn a_reused_pid_is_told_apart() {
    require_root_and_ip();
    let mut first = Proc::spawn(Command::new("sleep").arg("300"));
    let pid = first.pid();
    let started = netns::start_time(pid).unwrap();
    NetNs::by_pid_started(pid, started).expect("the process it was");
    first.kill();
    first.reap();
    assert!(matches!(
        NetNs::by_pid_started(pid, started),
        Err(NetnsError::Gone { .. })
    ));

    // Start times count clock ticks (10 ms): let a few pass so the successor's differs.
    std::thread::sleep(Duration::from_millis(50));
    let second = spawn_with_pid(pid);
    assert_ne!(netns::start_time(pid).unwrap(), started);
    let err = NetNs::by_pid_started(pid, started).unwrap_err();
    assert!(
        matches!(err, NetnsError::PidReused { pid: p } if p == pid),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("process {pid} exited and its pid now belongs to another process")
    );
    // By PID alone, the successor is who it is now.
    NetNs::by_pid(second.pid()).expect("the successor by pid");
}

// The module is behind test-netns already; this one needs the daemon too.
#[cfg(feature = "test-docker")]
#[test]
fn a_containers_namespace_by_state_pid_and_by_sandbox_key() {
    use crate::support::{images, Container};
    require_root_and_ip();
    let c = Container::run("netns", &[images::busybox(), "sleep", "300"]);
    let pid: u32 = c.inspect("{{.State.Pid}}").parse().unwrap();
    let key = c.inspect("{{.NetworkSettings.SandboxKey}}");
    let ip: IpAddr = c
        .inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
        .parse()
        .unwrap();

    let by_pid = NetNs::by_pid(pid).unwrap();
    let by_key = NetNs::by_path(&key).unwrap();
    assert_eq!(by_pid.inode().unwrap(), by_key.inode().unwrap());
    assert_ne!(by_pid.inode().unwrap(), thread_ns());

    for ns in [&by_pid, &by_key] {
        let (links, addrs) = netns::run_in(ns, |h| async move {
            let links = link_names(&h).await?;
            let addrs = addresses_of(&h, "eth0").await?;
            Ok::<_, rtnetlink::Error>((links, addrs))
        })
        .unwrap()
        .unwrap();
        assert!(
            links.iter().any(|l| l == "eth0"),
            "{}: {links:?}",
            ns.what()
        );
        assert!(addrs.contains(&ip), "{}: {addrs:?} lacks {ip}", ns.what());
    }
}
