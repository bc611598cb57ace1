//! Link isolation against the real kernel: `links::reach::plan` applied by `sys::nft` in a
//! namespace of the test's own, checked by real traffic.
//!
//! The topology mirrors a daemon's: a namespace `bridge` holding a linux bridge (as the
//! daemon's namespace holds a link network's `br-…`), and one namespace per container
//! (parent, two children, a stranger) joined to it by a veth pair, with IPv4 and IPv6
//! addresses. TCP connects and UDP exchanges run from Rust: a socket made inside a namespace
//! (through `sys::netns::run_in`) stays there. The `nft` CLI reads what we installed, as an
//! independent reader; the product never runs it.
//!
//! Needs root, iproute2's `ip`, `nsenter` and `nft`; without them the tests fail, never skip.
//! Nothing is added to the host namespace: each test checks the host's tables are unchanged.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use docker_link::links::reach::{self, Child, DefaultBridge, LinkNet, Pair, Ports, Proto};
use docker_link::sys::netns::{self, NetNs};
use docker_link::sys::nft::{self, Family, NftError};

use crate::support::{self, run, run_ok};

/// How long a connection or an answer may take before it counts as dropped. Everything here
/// is one bridge on one machine: an answer takes well under a millisecond.
const WAIT: Duration = Duration::from_millis(800);

fn require_tools() {
    static OK: OnceLock<Result<(), String>> = OnceLock::new();
    let res = OK.get_or_init(|| {
        if !nix::unistd::geteuid().is_root() {
            return Err("the test-netns tests need root".to_string());
        }
        for (tool, arg) in [("ip", "-V"), ("nft", "--version"), ("nsenter", "--version")] {
            match Command::new(tool).arg(arg).output() {
                Ok(out) if out.status.success() => {}
                Ok(out) => return Err(format!("`{tool} {arg}` failed: {}", out.status)),
                Err(e) => return Err(format!("{tool} cannot be run: {e}")),
            }
        }
        Ok(())
    });
    if let Err(e) = res {
        panic!("prerequisite missing: {e}");
    }
}

/// A namespace made by `ip netns add`, deleted (with everything in it) on drop.
struct Ns {
    name: String,
    ns: NetNs,
}

impl Ns {
    fn add(what: &str) -> Ns {
        require_tools();
        let name = support::unique(what);
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = NetNs::named(&name).unwrap();
        Ns { name, ns }
    }

    fn ip(&self, args: &[&str]) -> String {
        run_ok(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// `nft <args>` inside this namespace (nsenter: only the network namespace changes).
    fn nft(&self, args: &[&str]) -> String {
        run_ok(&mut self.nft_cmd(args))
    }

    fn nft_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.name))
            .arg("nft")
            .args(args);
        c
    }

    /// Runs `f` with this namespace as the calling thread's (on a dedicated thread).
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        netns::run_in(&self.ns, |_h| async move { f() }).unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// The host namespace's tables, to check that nothing of ours appears there.
fn host_tables() -> String {
    run_ok(Command::new("nft").args(["list", "tables"]))
}

/// A bridge in its own namespace and four "containers" on it.
struct Lab {
    bridge: Ns,
    parent: Ns,
    child1: Ns,
    child2: Ns,
    stranger: Ns,
}

const BR: &str = "br-link";

/// The address of host number `n` on the lab's bridge.
fn v4(n: u8) -> IpAddr {
    format!("198.18.250.{n}").parse().unwrap()
}

fn v6(n: u8) -> IpAddr {
    format!("fd00:dd1::{n}").parse().unwrap()
}

impl Lab {
    fn new() -> Lab {
        let bridge = Ns::add("reach-br");
        bridge.ip(&["link", "add", BR, "type", "bridge"]);
        bridge.ip(&["link", "set", BR, "up"]);
        let lab = Lab {
            parent: Ns::add("reach-p"),
            child1: Ns::add("reach-c1"),
            child2: Ns::add("reach-c2"),
            stranger: Ns::add("reach-s"),
            bridge,
        };
        for (n, ns) in lab.members() {
            let port = format!("v{n}");
            lab.bridge.ip(&[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
            ]);
            lab.bridge.ip(&["link", "set", &port, "master", BR, "up"]);
            ns.ip(&["addr", "add", &format!("{}/24", v4(n)), "dev", "eth0"]);
            ns.ip(&[
                "addr",
                "add",
                &format!("{}/64", v6(n)),
                "dev",
                "eth0",
                "nodad",
            ]);
            ns.ip(&["link", "set", "eth0", "up"]);
            ns.ip(&["link", "set", "lo", "up"]);
        }
        lab
    }

    fn members(&self) -> [(u8, &Ns); 4] {
        [
            (2, &self.parent),
            (3, &self.child1),
            (4, &self.child2),
            (5, &self.stranger),
        ]
    }

    /// The link network: parent .2, children .3 (80/tcp, 5353/udp, 8000-8010/tcp) and .4
    /// (80/tcp), both address families.
    fn link_net(&self) -> LinkNet {
        LinkNet {
            bridge: BR.into(),
            parent: vec![v4(2), v6(2)],
            children: vec![
                Child {
                    addrs: vec![v4(3), v6(3)],
                    ports: vec![
                        Ports::one(Proto::Tcp, 80),
                        Ports::one(Proto::Udp, 5353),
                        "8000-8010/tcp".parse().unwrap(),
                    ],
                },
                Child {
                    addrs: vec![v4(4), v6(4)],
                    ports: vec![Ports::one(Proto::Tcp, 80)],
                },
            ],
        }
    }

    /// Applies `table` in the bridge's namespace.
    fn apply(&self, table: &nft::Table) {
        self.bridge
            .run(|| nft::replace_table(table))
            .unwrap_or_else(|e| panic!("replace_table: {e}"));
    }
}

/// Echo servers (tcp and udp on the same ports, both families) in one namespace; stopped on
/// drop.
struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Servers {
    fn start(ns: &Ns, ports: &[u16]) -> Servers {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for &port in ports {
            // Made inside the namespace, the sockets stay there; `[::]` takes IPv4 too.
            let (tcp, udp) = ns.run(|| {
                let tcp = TcpListener::bind(("::", port)).unwrap();
                let udp = UdpSocket::bind(("::", port)).unwrap();
                (tcp, udp)
            });
            tcp.set_nonblocking(true).unwrap();
            udp.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let s = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    match tcp.accept() {
                        Ok((mut conn, _)) => {
                            conn.set_nonblocking(false).unwrap();
                            conn.set_read_timeout(Some(WAIT)).unwrap();
                            let mut buf = [0u8; 64];
                            if let Ok(n) = conn.read(&mut buf) {
                                let _ = conn.write_all(&buf[..n]);
                            }
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }));
            let s = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !s.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = udp.recv_from(&mut buf) {
                        let _ = udp.send_to(&buf[..n], from);
                    }
                }
            }));
        }
        Servers { stop, threads }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Whether a new connection from `ns` to `to:port` gets through and its answer comes back
/// (tcp: connect, send, read the echo; udp: send, read the echo).
fn reaches(ns: &Ns, proto: Proto, to: IpAddr, port: u16) -> bool {
    let addr = SocketAddr::new(to, port);
    let msg = b"ping";
    match proto {
        Proto::Tcp => {
            let Ok(mut s) = ns.run(|| TcpStream::connect_timeout(&addr, WAIT)) else {
                return false;
            };
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut buf = [0u8; 4];
            s.write_all(msg).is_ok() && s.read_exact(&mut buf).is_ok() && &buf == msg
        }
        Proto::Udp => {
            let bind: SocketAddr = if to.is_ipv4() {
                "0.0.0.0:0".parse().unwrap()
            } else {
                "[::]:0".parse().unwrap()
            };
            let s = ns.run(|| UdpSocket::bind(bind)).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut buf = [0u8; 4];
            s.send_to(msg, addr).is_ok()
                && matches!(s.recv_from(&mut buf), Ok((4, from)) if from == addr)
                && &buf == msg
        }
        Proto::Sctp => unreachable!("no sctp in these tests"),
    }
}

/// One expectation: (what, from, proto, to, port, gets through).
type Expect<'a> = (&'a str, &'a Ns, Proto, IpAddr, u16, bool);

/// Runs every probe at once (a dropped one waits out its timeout) and reports all failures.
fn check(phase: &str, expects: &[Expect<'_>]) {
    let got: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = expects
            .iter()
            .map(|(_, from, proto, to, port, _)| s.spawn(move || reaches(from, *proto, *to, *port)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wrong: Vec<String> = expects
        .iter()
        .zip(&got)
        .filter(|((.., want), got)| want != *got)
        .map(|((what, _, proto, to, port, want), _)| {
            let verb = if *want {
                "should reach"
            } else {
                "should NOT reach"
            };
            format!("{what}: {verb} {to} {port}/{proto:?}")
        })
        .collect();
    assert!(wrong.is_empty(), "{phase}:\n  {}", wrong.join("\n  "));
}

#[test]
fn the_link_promise_holds_by_traffic() {
    let host_before = host_tables();
    let lab = Lab::new();
    let table_name = support::unique("reach");
    let _p = Servers::start(&lab.parent, &[80]);
    let _c1 = Servers::start(&lab.child1, &[80, 81, 5353, 8005]);
    let _c2 = Servers::start(&lab.child2, &[80]);
    let (p, c1, c2, s) = (&lab.parent, &lab.child1, &lab.child2, &lab.stranger);
    use Proto::{Tcp, Udp};

    // Without rules everything meets: the refusals below are the table's doing.
    check(
        "before any table",
        &[
            ("stranger to child", s, Tcp, v4(3), 80, true),
            ("sibling to sibling", c2, Tcp, v4(3), 80, true),
            ("child to parent", c1, Tcp, v4(2), 80, true),
            ("child to parent over IPv6", c1, Tcp, v6(2), 80, true),
        ],
    );

    // Forget the neighbours learnt so far: the IPv6 checks below then need neighbour
    // discovery to cross the bridge under the table's rules (ARP for IPv4 likewise).
    for (_, ns) in lab.members() {
        ns.ip(&["neigh", "flush", "all"]);
    }

    let probe = lab
        .bridge
        .run(nft::probe)
        .expect("probe in the lab's namespace");
    assert!(probe.bridged_ipv6, "{probe:?}");

    let table = reach::plan(&table_name, &[lab.link_net()], None);
    lab.apply(&table);
    let promise: &[Expect<'_>] = &[
        ("parent to child, exposed tcp", p, Tcp, v4(3), 80, true),
        (
            "parent to child, exposed tcp, IPv6",
            p,
            Tcp,
            v6(3),
            80,
            true,
        ),
        ("parent to child, exposed udp", p, Udp, v4(3), 5353, true),
        (
            "parent to child, exposed udp, IPv6",
            p,
            Udp,
            v6(3),
            5353,
            true,
        ),
        (
            "parent to child, inside an exposed range",
            p,
            Tcp,
            v4(3),
            8005,
            true,
        ),
        (
            "parent to the other child, exposed",
            p,
            Tcp,
            v4(4),
            80,
            true,
        ),
        (
            "parent to child, port not exposed",
            p,
            Tcp,
            v4(3),
            81,
            false,
        ),
        (
            "parent to child, exposed on tcp only",
            p,
            Udp,
            v4(3),
            80,
            false,
        ),
        (
            "parent to child, not exposed, IPv6",
            p,
            Tcp,
            v6(3),
            81,
            false,
        ),
        ("stranger to child", s, Tcp, v4(3), 80, false),
        ("stranger to child, udp", s, Udp, v4(3), 5353, false),
        ("stranger to child, IPv6", s, Tcp, v6(3), 80, false),
        ("sibling to sibling", c2, Tcp, v4(3), 80, false),
        ("sibling to sibling, udp", c2, Udp, v4(3), 5353, false),
        (
            "sibling to sibling, the other way",
            c1,
            Tcp,
            v4(4),
            80,
            false,
        ),
        ("sibling to sibling, IPv6", c2, Tcp, v6(3), 80, false),
        ("child to parent", c1, Tcp, v4(2), 80, false),
        ("child to parent, IPv6", c1, Tcp, v6(2), 80, false),
    ];
    check("with the link network's rules", promise);

    // What the kernel holds, read back by us and by nft.
    let state = lab
        .bridge
        .run(|| nft::list_table(Family::Inet, &table_name))
        .unwrap()
        .expect("the table exists");
    assert!(state.matches(&table), "{state:?}");
    assert_eq!(state.rule_count(), table.rule_count());
    let listed = lab.bridge.nft(&["list", "table", "inet", &table_name]);
    for want in [
        format!("comment \"{}\"", table.fingerprint()),
        "type filter hook forward priority filter; policy accept;".to_string(),
        format!("iifname \"{BR}\" oifname \"{BR}\" jump bridge-{BR}"),
        "ct state established,related accept".to_string(),
        "ip saddr 198.18.250.2 ip daddr 198.18.250.3 tcp dport 8000-8010 ct state new accept"
            .to_string(),
        "ip6 saddr fd00:dd1::2 ip6 daddr fd00:dd1::3 udp dport 5353 ct state new accept"
            .to_string(),
    ] {
        assert!(listed.contains(&want), "nft lists no {want:?}:\n{listed}");
    }

    // Docker's own rules (iptables-nft, ip filter FORWARD, policy drop, intra-bridge accepted
    // as with icc on) beside ours: the outcome is the same.
    lab.bridge.nft(&["add table ip filter; \
         add chain ip filter FORWARD { type filter hook forward priority filter; policy drop; }; \
         add rule ip filter FORWARD iifname \"br-link\" oifname \"br-link\" accept"]);
    check("beside Docker-like FORWARD rules", promise);
    lab.bridge.nft(&["delete", "table", "ip", "filter"]);

    // The second child's link removed: the parent no longer reaches it; the first still.
    let mut net = lab.link_net();
    net.children.truncate(1);
    let table = reach::plan(&table_name, &[net], None);
    lab.apply(&table);
    check(
        "after the second link is removed",
        &[
            ("parent to removed child", p, Tcp, v4(4), 80, false),
            ("parent to removed child, IPv6", p, Tcp, v6(4), 80, false),
            ("parent to child still linked", p, Tcp, v4(3), 80, true),
        ],
    );
    let state = lab
        .bridge
        .run(|| nft::list_table(Family::Inet, &table_name))
        .unwrap()
        .unwrap();
    assert!(state.matches(&table), "{state:?}");

    // The default bridge with icc=false: only along links (parent -> child1:80).
    let icc = DefaultBridge {
        bridge: BR.into(),
        links: vec![Pair {
            parent: v4(2),
            child: v4(3),
            ports: vec![Ports::one(Proto::Tcp, 80)],
        }],
    };
    lab.apply(&reach::plan(&table_name, &[], Some(&icc)));
    check(
        "default bridge, icc=false",
        &[
            ("along a link", p, Tcp, v4(3), 80, true),
            ("along a link, another port", p, Tcp, v4(3), 81, false),
            ("no link between them", c2, Tcp, v4(3), 80, false),
            ("no link the other way", c1, Tcp, v4(2), 80, false),
            ("no link to the stranger's peer", s, Tcp, v4(4), 80, false),
        ],
    );

    // Deleted: nothing left, and traffic flows as before.
    assert!(lab
        .bridge
        .run(|| nft::delete_table(Family::Inet, &table_name))
        .unwrap());
    assert!(
        !lab.bridge
            .run(|| nft::delete_table(Family::Inet, &table_name))
            .unwrap(),
        "absent is fine"
    );
    assert_eq!(lab.bridge.nft(&["list", "tables"]), "");
    assert!(lab
        .bridge
        .run(|| nft::list_table(Family::Inet, &table_name))
        .unwrap()
        .is_none());
    check(
        "after delete_table",
        &[("sibling to sibling", c2, Tcp, v4(3), 80, true)],
    );
    assert_eq!(host_tables(), host_before, "the host's tables changed");
}

#[test]
fn drift_shows_and_replacing_heals_it() {
    let host_before = host_tables();
    let lab = Lab::new();
    let name = support::unique("reach");
    let table = reach::plan(&name, &[lab.link_net()], None);
    lab.apply(&table);
    let read = || {
        lab.bridge
            .run(|| nft::list_table(Family::Inet, &name))
            .unwrap()
            .unwrap()
    };
    assert!(read().matches(&table));

    // A rule deleted by hand.
    let handles = read().chains[&format!("bridge-{BR}")].clone();
    let handle = handles[2].to_string();
    lab.bridge.nft(&[
        "delete",
        "rule",
        "inet",
        &name,
        &format!("bridge-{BR}"),
        "handle",
        &handle,
    ]);
    let state = read();
    assert!(!state.matches(&table), "{state:?}");
    assert_eq!(state.rule_count(), table.rule_count() - 1);

    // Replaced: as planned again, in one transaction.
    lab.apply(&table);
    assert!(read().matches(&table));

    // Another plan is not this one.
    let other = reach::plan(&name, &[], None);
    assert!(!read().matches(&other));
    // A chain flushed by hand.
    lab.bridge
        .nft(&["flush", "chain", "inet", &name, &format!("bridge-{BR}")]);
    assert!(!read().matches(&table));

    lab.bridge
        .run(|| nft::delete_table(Family::Inet, &name))
        .unwrap();
    assert_eq!(host_tables(), host_before);
}

#[test]
fn a_refused_batch_changes_nothing_and_names_the_rule() {
    let lab = Lab::new();
    let name = support::unique("reach");
    let table = reach::plan(&name, &[lab.link_net()], None);
    lab.apply(&table);
    let before = lab.bridge.nft(&["list", "table", "inet", &name]);

    // A jump to a chain that does not exist: the kernel refuses that rule.
    let mut bad = table.clone();
    bad.chains[0].rules.push(nft::Rule {
        matches: vec![],
        verdict: nft::Verdict::Jump("nowhere".into()),
    });
    let err = lab.bridge.run(|| nft::replace_table(&bad)).unwrap_err();
    match &err {
        NftError::Rejected { object, errno, .. } => {
            assert!(
                object.starts_with("rule 2 of chain forward of table inet "),
                "{err}"
            );
            assert!(object.contains("jump nowhere"), "{err}");
            assert_eq!(*errno, nix::errno::Errno::ENOENT, "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lab.bridge.nft(&["list", "table", "inet", &name]), before);
    lab.bridge
        .run(|| nft::delete_table(Family::Inet, &name))
        .unwrap();
}

#[test]
fn probe_says_when_bridged_traffic_would_bypass_the_rules() {
    let host_setting = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables");
    let lab = Ns::add("reach-probe");
    let p = lab
        .run(nft::probe)
        .expect("a fresh namespace has what the rules need");
    assert!(p.bridged_ipv6);
    // Nothing left behind by the probe.
    assert_eq!(lab.nft(&["list", "tables"]), "");
    // What it says of the bridge family agrees with nft's own attempt. (On this project's
    // kernel both are false: no nf_conntrack_bridge, no nft_meta_bridge.)
    let nft_can = |rule: &str| {
        let script = format!(
            "table bridge probe {{\n chain f {{\n type filter hook forward priority -200;\n {rule} accept\n }}\n}}\n"
        );
        let ok = run(&mut lab.nft_cmd(&[&script])).status.success();
        let _ = run(&mut lab.nft_cmd(&["delete", "table", "bridge", "probe"]));
        ok
    };
    assert_eq!(
        p.bridge_conntrack,
        nft_can("ct state established,related"),
        "{p:?}"
    );
    assert_eq!(p.bridge_meta, nft_can("meta ibrname \"lo\""), "{p:?}");
    assert!(nft_can("iifname \"lo\""), "the bridge family itself works");

    lab.ip(&["link", "add", "br0", "type", "bridge"]);
    let out = run(Command::new("nsenter").args([
        &format!("--net=/run/netns/{}", lab.name),
        "sysctl",
        "-w",
        "net.bridge.bridge-nf-call-iptables=0",
    ]));
    assert!(out.status.success(), "{out:?}");
    let err = lab.run(nft::probe).unwrap_err();
    assert!(
        matches!(&err, NftError::BridgeNetfilterOff { sysctl } if sysctl == "net.bridge.bridge-nf-call-iptables"),
        "{err:?}"
    );
    // Set and read per namespace: the host's setting is untouched.
    let host = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables");
    assert_eq!(host.ok(), host_setting.ok());
}

/// Floods `to` with udp datagrams from `from` until `stop`; returns (sent, answered).
fn flood(from: &Ns, to: SocketAddr, stop: &AtomicBool) -> (usize, usize) {
    let sock = from.run(|| UdpSocket::bind("0.0.0.0:0")).unwrap();
    sock.set_nonblocking(true).unwrap();
    let (mut sent, mut answered) = (0, 0);
    let mut buf = [0u8; 16];
    let mut drain = |answered: &mut usize| {
        while let Ok((_, peer)) = sock.recv_from(&mut buf) {
            if peer == to {
                *answered += 1;
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        if sock.send_to(b"ping", to).is_ok() {
            sent += 1;
        }
        drain(&mut answered);
        std::thread::sleep(Duration::from_micros(200));
    }
    // Late answers.
    std::thread::sleep(Duration::from_millis(300));
    drain(&mut answered);
    (sent, answered)
}

#[test]
fn replacing_the_table_leaves_no_window() {
    let host_before = host_tables();
    let lab = Lab::new();
    let name = support::unique("reach");
    let _c1 = Servers::start(&lab.child1, &[5353]);
    let to = SocketAddr::new(v4(3), 5353);
    let with_both = reach::plan(&name, &[lab.link_net()], None);
    let mut net = lab.link_net();
    net.children.truncate(1);
    let with_one = reach::plan(&name, &[net], None);
    lab.apply(&with_both);

    // The flood works: from the parent, to an exposed port, it is answered.
    let stop = AtomicBool::new(false);
    let (sent, answered) = std::thread::scope(|s| {
        let h = s.spawn(|| flood(&lab.parent, to, &stop));
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap()
    });
    assert!(
        sent > 100 && answered > 0,
        "parent: {sent} sent, {answered} answered"
    );

    // A sibling floods the same port while the table is replaced again and again (changing
    // each time): with a moment between the old rules and the new, a datagram would pass,
    // its answer would follow as established, and the count would show it.
    let stop = AtomicBool::new(false);
    let (sent, answered) = std::thread::scope(|s| {
        let h = s.spawn(|| flood(&lab.child2, to, &stop));
        for i in 0..60 {
            lab.apply(if i % 2 == 0 { &with_one } else { &with_both });
        }
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap()
    });
    assert!(sent > 500, "the sibling sent only {sent}");
    assert_eq!(
        answered, 0,
        "{answered} of {sent} datagrams got through during replaces"
    );

    lab.bridge
        .run(|| nft::delete_table(Family::Inet, &name))
        .unwrap();
    assert_eq!(host_tables(), host_before);
}
