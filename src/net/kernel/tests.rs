//! Real namespaces (root): the plan applied to the kernel, traffic across it, a second apply
//! that does nothing, and the switch namespace's removal leaving the host as it was.
//! `cargo test --lib --features test-netns net::kernel`.

use std::collections::BTreeMap;
use std::process::Command;

use super::*;
use crate::net::config::{load, Defaults, Source, SourceKind};
use crate::net::plan::{desire, plan, Instance};
use crate::sys::pinned;

/// Pinned namespaces removed on drop.
struct Pins(Vec<String>);

impl Drop for Pins {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = pinned::remove(n);
        }
    }
}

/// Namespaces standing for containers (pinned, removed on drop), named by `ids`, and the
/// name of the project's switch namespace (pinned on drop too, once a test makes it).
struct Lab {
    project: String,
    /// The pinned name of each container's namespace, in the order of `ids`.
    names: Vec<String>,
    switch_name: String,
    containers: BTreeMap<String, NetNs>,
    instances: Vec<Instance>,
    _pins: Pins,
}

impl Lab {
    fn new(prefix: &str, ids: &[&str]) -> Lab {
        let pid = std::process::id();
        let project = format!("{prefix}{pid}");
        let names: Vec<String> = ids
            .iter()
            .map(|n| format!("dl{prefix}-{n}-{pid}"))
            .collect();
        let switch_name = switch_ns_name(&project);
        let _pins = Pins(names.iter().cloned().chain([switch_name.clone()]).collect());
        let mut containers = BTreeMap::new();
        let mut instances = Vec::new();
        for (n, full) in ids.iter().zip(&names) {
            let (ns, made) = pinned::open_or_create(full).unwrap();
            assert!(made, "{full} was left by an earlier run");
            containers.insert(n.to_string(), ns);
            instances.push(Instance {
                id: n.to_string(),
                name: n.to_string(),
                service: None,
            });
        }
        Lab {
            project,
            names,
            switch_name,
            containers,
            instances,
            _pins,
        }
    }

    /// Desire, observe, plan and apply `config` with `switch`, asserting no conflict and no
    /// error.
    fn reconcile(&self, switch: &NetNs, config: &crate::net::config::NetConfig) {
        let (desired, _) = desire(&self.project, config, &self.instances);
        let observed = observe(Some(switch), &self.containers, None).unwrap();
        let (actions, conflicts) = plan(&desired, &observed);
        assert!(conflicts.is_empty(), "{conflicts:?}");
        let applied = apply(
            &NetNs::current().unwrap(),
            switch,
            &self.containers,
            &actions,
        );
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
    }
}

fn ip(ns: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut c = Command::new("ip");
    if let Some(ns) = ns {
        c.args(["netns", "exec", ns]);
        c.arg(args[0]);
        c.args(&args[1..]);
    } else {
        c.args(args);
    }
    let out = c.output().expect("running ip");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// One ping from the namespace `ns` (busybox's), and what it printed.
fn ping(ns: &str, to: &str) -> (bool, String) {
    ip(Some(ns), &["busybox", "ping", "-c1", "-W2", to])
}

fn cfg(yaml: &str) -> crate::net::config::NetConfig {
    let src = Source {
        name: "c.yaml".into(),
        kind: SourceKind::Compose,
        value: crate::net::config::parse_document(yaml).unwrap(),
    };
    load(
        &[src],
        &Default::default(),
        &BTreeMap::new(),
        &Defaults::default(),
    )
    .unwrap()
    .config
}

/// The host's interface names, without those the daemons make and remove for their
/// containers meanwhile (other tests run at the same time): `veth*`, `br-*`, `docker*`.
fn host_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
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

/// Sends one frame to 01:80:c2:00:00:0e (LLDP) from `from`'s `dev` and says whether `to`'s
/// `dev` receives it within a second (raw packet sockets, by python3).
fn lldp_crosses(from: &str, to: &str, dev: &str) -> bool {
    let listen = format!(
        "import socket,sys\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(3))\ns.bind(('{dev}',0))\ns.settimeout(1.5)\nprint('ready',flush=True)\ntry:\n  while True:\n    f=s.recv(2048)\n    if f[:6]==bytes.fromhex('0180c200000e') and f[12:14]==bytes.fromhex('88cc'):\n      print('got');break\nexcept socket.timeout:\n  print('none')\n"
    );
    let mut rx = Command::new("ip")
        .args(["netns", "exec", to, "python3", "-c", &listen])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (packet sockets)");
    let mut out = rx.stdout.take().unwrap();
    let mut first = [0u8; 6];
    use std::io::Read;
    out.read_exact(&mut first).unwrap();
    let send = format!(
        "import socket\ns=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\ns.bind(('{dev}',0))\nsrc=open('/sys/class/net/{dev}/address').read().strip().replace(':','')\ns.send(bytes.fromhex('0180c200000e'+src+'88cc')+bytes(46))\n"
    );
    assert!(
        ip(Some(from), &["python3", "-c", &send]).0,
        "sending the frame"
    );
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let _ = rx.wait();
    rest.contains("got")
}

#[test]
fn veths_on_a_bridge_and_a_patch_carry_traffic_and_up_is_idempotent() {
    // tokio's signal driver makes a process-wide socket pair the first time any runtime is
    // built, in the namespace of the thread that builds it: were that a `run_in` thread in
    // the switch namespace, the socket would keep the namespace alive after `down`. The
    // command builds its runtime on the main thread first; the test does the same.
    let _rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let host_before = host_links();
    let Lab {
        project,
        names,
        switch_name,
        containers,
        instances,
        _pins,
    } = Lab::new("t", &["a", "b", "c", "d"]);
    let config = cfg(
        "x-network:\n  bridges: [{bridge: p1, mode: patch}]\n  links:\n    - {container: a, bridge: s1, ip: 10.0.9.1/24, mtu: 1500, mac: c2:00:00:00:09:01}\n    - {container: b, bridge: s1, ip: 10.0.9.2/24, route: 10.0.10.0/24 via 10.0.9.1}\n    - {container: c, bridge: p1, dev: p0, ip: fd09::1/64}\n    - {container: d, bridge: p1, dev: p0, ip: fd09::2/64}\n",
    );
    let (switch, made) = pinned::open_or_create(&switch_name).unwrap();
    assert!(made);
    let (desired, unwired) = desire(&project, &config, &instances);
    assert!(unwired.is_empty());
    let observed = observe(Some(&switch), &containers, None).unwrap();
    let (actions, conflicts) = plan(&desired, &observed);
    assert!(conflicts.is_empty(), "{conflicts:?}");
    let applied = apply(&NetNs::current().unwrap(), &switch, &containers, &actions);
    assert!(applied.errors.is_empty(), "{:?}", applied.errors);

    // Names, MAC, MTU exact; the bridge port; the route.
    let (_, a) = ip(
        Some(&names[0]),
        &["ip", "-o", "link", "show", "dev", "eth0"],
    );
    assert!(a.contains("mtu 1500"), "{a}");
    assert!(a.contains("link/ether c2:00:00:00:09:01"), "{a}");
    assert!(a.contains("state UP"), "{a}");
    let (_, port) = ip(
        Some(&switch_name),
        &["ip", "-o", "link", "show", "dev", "a-eth0"],
    );
    assert!(port.contains("master s1"), "{port}");
    let (_, routes) = ip(Some(&names[1]), &["ip", "route", "show"]);
    assert!(
        routes.contains("10.0.10.0/24 via 10.0.9.1 dev eth0"),
        "{routes}"
    );

    // Traffic across the bridge, both ways, and across the patch (IPv6).
    let (ok, out) = ping(&names[0], "10.0.9.2");
    assert!(ok, "a -> b across s1: {out}");
    let (ok, out) = ping(&names[1], "10.0.9.1");
    assert!(ok, "b -> a across s1: {out}");
    // IPv6 duplicate address detection first.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (ok, out) = ip(
        Some(&names[2]),
        &["busybox", "ping", "-6", "-c1", "-W2", "fd09::2"],
    );
    assert!(ok, "c -> d across the patch p1: {out}");
    // TCP too (checksums that a veth leaves to offload must arrive right across mirred).
    let server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &names[3],
            "socat",
            "TCP6-LISTEN:7001,reuseaddr",
            "SYSTEM:echo over-the-patch",
        ])
        .spawn()
        .unwrap();
    let mut got = String::new();
    for _ in 0..30 {
        let (ok, out) = ip(
            Some(&names[2]),
            &["socat", "-T2", "-", "TCP6:[fd09::2]:7001,connect-timeout=2"],
        );
        if ok && !out.is_empty() {
            got = out;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut server = server;
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(got.trim(), "over-the-patch", "tcp c -> d across the patch");
    let (_, tc) = ip(
        Some(&switch_name),
        &["tc", "filter", "show", "dev", "c-p0", "ingress"],
    );
    assert!(tc.contains("mirred") && tc.contains("d-p0"), "{tc}");

    // A link-local multicast frame (LLDP's group address, which a bridge never forwards)
    // crosses the patch and not the bridge.
    assert!(
        lldp_crosses(&names[2], &names[3], "p0"),
        "an LLDP frame crosses the patch"
    );
    assert!(
        !lldp_crosses(&names[0], &names[1], "eth0"),
        "a bridge eats LLDP frames"
    );

    // A second up is a no-op.
    let observed = observe(Some(&switch), &containers, None).unwrap();
    let (again, conflicts) = plan(&desired, &observed);
    assert_eq!(again, [], "a second up does nothing");
    assert!(conflicts.is_empty(), "{conflicts:?}");

    // A changed file: only b's link is replaced, and traffic still flows.
    let config2 = cfg(
        "x-network:\n  bridges: [{bridge: p1, mode: patch}]\n  links:\n    - {container: a, bridge: s1, ip: 10.0.9.1/24, mtu: 1500, mac: c2:00:00:00:09:01}\n    - {container: b, bridge: s1, ip: 10.0.9.3/24}\n    - {container: c, bridge: p1, dev: p0, ip: fd09::1/64}\n    - {container: d, bridge: p1, dev: p0, ip: fd09::2/64}\n",
    );
    let (desired2, _) = desire(&project, &config2, &instances);
    let (actions, _) = plan(&desired2, &observed);
    let touched: Vec<String> = actions
        .iter()
        .map(|a| format!("{a:?}").split_whitespace().take(1).collect())
        .collect();
    assert_eq!(
        touched,
        ["DeleteSwitch", "DeleteInContainer", "CreateVeth"],
        "{actions:?}"
    );
    let applied = apply(&NetNs::current().unwrap(), &switch, &containers, &actions);
    assert!(applied.errors.is_empty(), "{:?}", applied.errors);
    let (ok, out) = ping(&names[0], "10.0.9.3");
    assert!(ok, "a -> b's new address: {out}");

    // Down: the switch namespace goes, and with it every veth; the host is as it was.
    drop(switch);
    assert!(pinned::remove(&switch_name).unwrap());
    let mut gone = false;
    for _ in 0..50 {
        let (_, a) = ip(Some(&names[0]), &["ip", "-o", "link", "show"]);
        if !a.contains("eth0") {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone, "a's veth goes with the switch namespace");
    assert_eq!(
        host_links(),
        host_before,
        "the host's interfaces are as they were"
    );
}

/// Two hosts (namespaces joined by a veth pair), each with its own project, switch
/// namespace and container; a vxlan tunnel on each bridge to the other host carries traffic
/// between the containers. The tunnels' sockets live in the hosts' namespaces (the
/// underlay), the tunnel devices in the switch namespaces.
#[test]
fn a_vxlan_tunnel_joins_two_hosts() {
    let _rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let id = std::process::id();
    let ha = format!("dlt-ha-{id}");
    let hb = format!("dlt-hb-{id}");
    let ca = format!("dlt-ca-{id}");
    let cb = format!("dlt-cb-{id}");
    let (pa, pb) = (format!("va{id}"), format!("vb{id}"));
    let (sa, sb) = (switch_ns_name(&pa), switch_ns_name(&pb));
    let _pins = Pins(vec![
        ha.clone(),
        hb.clone(),
        ca.clone(),
        cb.clone(),
        sa.clone(),
        sb.clone(),
    ]);
    let mut ns = BTreeMap::new();
    for n in [&ha, &hb, &ca, &cb, &sa, &sb] {
        ns.insert(n.clone(), pinned::open_or_create(n).unwrap().0);
    }
    // The wire between the two hosts.
    let (ok, out) = ip(
        None,
        &[
            "link", "add", "w0", "netns", &ha, "type", "veth", "peer", "name", "w0", "netns", &hb,
        ],
    );
    assert!(ok, "{out}");
    for (h, a) in [(&ha, "10.99.0.1/24"), (&hb, "10.99.0.2/24")] {
        assert!(ip(Some(h), &["ip", "addr", "add", a, "dev", "w0"]).0);
        assert!(ip(Some(h), &["ip", "link", "set", "w0", "up"]).0);
    }
    for (project, host, switch, container, addr, remote) in [
        (&pa, &ha, &sa, &ca, "10.0.50.1/24", "10.99.0.2"),
        (&pb, &hb, &sb, &cb, "10.0.50.2/24", "10.99.0.1"),
    ] {
        let config = cfg(&format!(
            "x-network:\n  links:\n    - {{container: c, bridge: s, ip: {addr}}}\n  tunnels:\n    - {{type: vxlan, bridge: s, remote: {remote}, vni: 42}}\n"
        ));
        let instances = [Instance {
            id: "c".into(),
            name: "c".into(),
            service: None,
        }];
        let (desired, _) = desire(project, &config, &instances);
        let containers: BTreeMap<String, NetNs> = [(
            "c".to_string(),
            NetNs::by_path(format!("/run/netns/{container}")).unwrap(),
        )]
        .into();
        let observed = observe(Some(&ns[switch]), &containers, None).unwrap();
        let (actions, conflicts) = plan(&desired, &observed);
        assert!(conflicts.is_empty(), "{conflicts:?}");
        let applied = apply(&ns[host], &ns[switch], &containers, &actions);
        assert!(applied.errors.is_empty(), "{:?}", applied.errors);
        let (_, vx) = ip(
            Some(switch),
            &["ip", "-d", "-o", "link", "show", "dev", "vxlan-42"],
        );
        assert!(
            vx.contains("master s")
                && vx.contains(&format!("remote {remote}"))
                && vx.contains("dstport 4789"),
            "{vx}"
        );
        // A second pass does nothing.
        let observed = observe(Some(&ns[switch]), &containers, None).unwrap();
        assert_eq!(plan(&desired, &observed).0, []);
    }
    let (ok, out) = ip(Some(&ca), &["busybox", "ping", "-c1", "-W3", "10.0.50.2"]);
    assert!(
        ok,
        "container a -> container b across the vxlan tunnel: {out}"
    );
    // The underlay's sockets are in the hosts' namespaces, none in ours.
    let (_, socks) = ip(Some(&ha), &["busybox", "netstat", "-uln"]);
    assert!(socks.contains(":4789"), "{socks}");
}

/// conlink's `nat` on a link, by traffic: b sits between a (on s1) and c (on s2) with
/// `nat: <c's address>` on its s1 link. A connection from a to b's address reaches c (DNAT);
/// a connection from c that b forwards out of that link comes from b's address (SNAT).
/// Removing the nat from the file makes the link again without its rules.
#[test]
fn a_nat_link_translates_both_ways_and_goes_with_its_setting() {
    let _rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = Lab::new("tn", &["a", "b", "c"]);
    let names = &lab.names;
    let (ok, out) = ip(Some(&names[1]), &["sysctl", "-w", "net.ipv4.ip_forward=1"]);
    assert!(ok, "{out}");
    let (switch, _) = pinned::open_or_create(&lab.switch_name).unwrap();
    let links = |nat: &str| {
        cfg(&format!(
            "x-network:\n  links:\n    - {{container: a, bridge: s1, ip: 10.77.1.1/24, route: 10.77.2.0/24 via 10.77.1.2}}\n    - {{container: b, bridge: s1, ip: 10.77.1.2/24{nat}}}\n    - {{container: b, bridge: s2, dev: eth1, ip: 10.77.2.2/24}}\n    - {{container: c, bridge: s2, ip: 10.77.2.3/24, route: default via 10.77.2.2}}\n"
        ))
    };
    let reconcile = |config: &crate::net::config::NetConfig| lab.reconcile(&switch, config);
    reconcile(&links(", nat: 10.77.2.3"));

    // Servers that answer with the address they see the client at.
    let serve = |ns: &str, port: u16| {
        Command::new("ip")
            .args(["netns", "exec", ns, "socat"])
            .arg(format!("TCP-LISTEN:{port},reuseaddr,fork"))
            .arg("SYSTEM:echo seen $SOCAT_PEERADDR")
            .spawn()
            .unwrap()
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _c_server = Kill(serve(&names[2], 7777));
    let _a_server = Kill(serve(&names[0], 7778));
    let ask = |ns: &str, to: &str| {
        for _ in 0..30 {
            let (ok, out) = ip(
                Some(ns),
                &["socat", "-T2", "-", &format!("TCP:{to},connect-timeout=2")],
            );
            if ok && out.starts_with("seen") {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        String::new()
    };
    // a asks b's address; c answers (it sees a: DNAT changes the destination only).
    let got = ask(&names[0], "10.77.1.2:7777");
    assert!(
        got.starts_with("seen 10.77.1.1"),
        "a -> b:7777 reaches c: {got:?}"
    );
    // c asks a through b: a sees b's address on s1 (SNAT out of the nat link).
    let got = ask(&names[2], "10.77.1.1:7778");
    assert!(
        got.starts_with("seen 10.77.1.2"),
        "c -> a comes from b: {got:?}"
    );
    let (_, rules) = ip(Some(&names[1]), &["nft", "list", "ruleset"]);
    assert!(
        rules.contains("dnat ip to 10.77.2.3") && rules.contains("snat ip to 10.77.1.2"),
        "{rules}"
    );

    // The nat taken out of the file: the link is made again, its rules gone; nothing on b
    // listens on 7777, so a's connection to b is refused instead of reaching c.
    reconcile(&links(""));
    let (_, rules) = ip(Some(&names[1]), &["nft", "list", "ruleset"]);
    assert!(!rules.contains("nat"), "{rules}");
    let got = ask(&names[0], "10.77.1.2:7777");
    assert_eq!(got, "", "no nat: b does not pass a's connection to c");
    let got = ask(&names[2], "10.77.1.1:7778");
    assert!(
        got.starts_with("seen 10.77.2.3"),
        "no snat: a sees c: {got:?}"
    );
}

/// A macvlan link (and a macvtap, the same with a tap device): made on a parent interface of the namespace `up` runs in (here a namespace
/// standing for the host, whose `hp0` is cabled to a peer standing for the LAN), its end in
/// the container with its address. Containers reach the LAN and, in bridge mode, each other;
/// a second plan changes nothing; the status reads it as up.
#[test]
fn macvlans_on_a_host_interface_reach_the_lan_and_each_other() {
    let _rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = Lab::new("tm", &["host", "lan", "a", "b"]);
    let names = &lab.names;
    for args in [
        vec![
            "ip", "link", "add", "hp0", "type", "veth", "peer", "name", "hp1",
        ],
        vec!["ip", "link", "set", "hp1", "netns", names[1].as_str()],
        vec!["ip", "link", "set", "hp0", "up"],
    ] {
        let (ok, out) = ip(Some(&names[0]), &args);
        assert!(ok, "{args:?}: {out}");
    }
    for args in [
        vec!["ip", "addr", "add", "10.78.0.9/24", "dev", "hp1"],
        vec!["ip", "link", "set", "hp1", "up"],
    ] {
        let (ok, out) = ip(Some(&names[1]), &args);
        assert!(ok, "{args:?}: {out}");
    }
    let config = cfg(
        "x-network:\n  links:\n    - {container: a, type: macvlan, outer-dev: hp0, ip: 10.78.0.1/24}\n    - {container: b, type: macvtap, outer-dev: hp0, ip: 10.78.0.2/24, mode: bridge}\n",
    );
    let (switch, _) = pinned::open_or_create(&lab.switch_name).unwrap();
    let (desired, _) = desire(&lab.project, &config, &lab.instances);
    let observed = observe(Some(&switch), &lab.containers, None).unwrap();
    let (actions, conflicts) = plan(&desired, &observed);
    assert!(conflicts.is_empty(), "{conflicts:?}");
    let host = &lab.containers["host"];
    let applied = apply(host, &switch, &lab.containers, &actions);
    assert!(applied.errors.is_empty(), "{:?}", applied.errors);
    assert_eq!(
        applied.made,
        ["a".to_string(), "b".to_string()].into_iter().collect()
    );

    let (_, a) = ip(
        Some(&names[2]),
        &["ip", "-d", "-o", "link", "show", "dev", "eth0"],
    );
    assert!(
        a.contains("macvlan mode bridge") && a.contains("state UP"),
        "{a}"
    );
    assert!(a.contains(&desired.veths[0].mac.to_string()), "{a}");
    let (_, b) = ip(
        Some(&names[3]),
        &["ip", "-d", "-o", "link", "show", "dev", "eth0"],
    );
    assert!(b.contains("macvtap mode bridge"), "{b}");
    let (ok, out) = ping(&names[2], "10.78.0.9");
    assert!(ok, "a -> the lan through the host's hp0: {out}");
    let (ok, out) = ping(&names[2], "10.78.0.2");
    assert!(
        ok,
        "a (macvlan) -> b (macvtap) on the same parent (bridge mode): {out}"
    );
    // Nothing in the switch namespace; nothing left in the host but its own interfaces.
    let (_, sw) = ip(Some(&lab.switch_name), &["ip", "-o", "link", "show"]);
    assert_eq!(
        sw.lines().count(),
        1,
        "only lo in the switch namespace: {sw}"
    );

    let observed = observe(Some(&switch), &lab.containers, None).unwrap();
    let (again, _) = plan(&desired, &observed);
    assert_eq!(again, [], "a second plan changes nothing");
    let rows = crate::net::status::rows(&config, &desired, &[], &observed, &lab.instances);
    let states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, ["up", "up"], "{rows:?}");
}

/// `ethtool`: a veth's container end has conlink's default (tx checksumming off) and the
/// link's own offload settings, as `ethtool -k` shows them; a changed setting makes the link
/// again with it; a veth without settings has only the default.
#[test]
fn ethtool_settings_reach_the_containers_end() {
    let _rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = Lab::new("te", &["a", "b"]);
    let (switch, _) = pinned::open_or_create(&lab.switch_name).unwrap();
    let reconcile = |ethtool: &str| {
        lab.reconcile(
            &switch,
            &cfg(&format!(
            "x-network:\n  links:\n    - {{container: a, bridge: s1, ip: 10.78.1.1/24, ethtool: \"{ethtool}\"}}\n    - {{container: b, bridge: s1, ip: 10.78.1.2/24}}\n"
            )),
        )
    };
    // ethtool's own view (-k: "feature: on|off", with "[fixed]" where it cannot change).
    let features = |ns: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ethtool", "-k", "eth0"])
            .output()
            .expect("running ethtool (Debian package ethtool)");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        move |name: &str| -> String {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        }
    };
    reconcile("--offload rx off gso off");
    let a = features(&lab.names[0]);
    assert_eq!(a("tx-checksumming"), "off", "conlink's default for veths");
    assert_eq!(a("rx-checksumming"), "off");
    assert_eq!(a("generic-segmentation-offload"), "off");
    let b = features(&lab.names[1]);
    assert_eq!(b("tx-checksumming"), "off");
    assert_eq!(b("rx-checksumming"), "on", "b has no settings of its own");
    assert_eq!(b("generic-segmentation-offload"), "on");
    // The setting changed: a's link made again with it.
    reconcile("-K rx on");
    let a = features(&lab.names[0]);
    assert_eq!(a("rx-checksumming"), "on");
    assert_eq!(a("generic-segmentation-offload"), "on");
    assert_eq!(a("tx-checksumming"), "off");
    // Still a working link.
    let (ok, out) = ping(&lab.names[0], "10.78.1.2");
    assert!(ok, "{out}");
}

/// netem's `rate` as a tbf qdisc on the container's end: tc shows it with the rate, and a
/// transfer across the link takes at least what the rate allows (a lower bound only: a
/// loaded machine is slower, never faster). Without the rate, the same transfer is quick.
#[test]
fn a_rate_shapes_the_containers_end_with_tbf() {
    let _rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lab = Lab::new("tr", &["a", "b"]);
    let (switch, _) = pinned::open_or_create(&lab.switch_name).unwrap();
    let reconcile = |netem: &str| {
        lab.reconcile(
            &switch,
            &cfg(&format!(
            "x-network:\n  links:\n    - {{container: a, bridge: s1, ip: 10.79.1.1/24{netem}}}\n    - {{container: b, bridge: s1, ip: 10.79.1.2/24}}\n"
            )),
        )
    };
    // 1 MB from a to b (b's socat discards it), timed.
    let transfer = || {
        let mut server = Command::new("ip")
            .args(["netns", "exec", &lab.names[1], "socat", "-u"])
            .args(["TCP-LISTEN:7900,reuseaddr", "OPEN:/dev/null"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let t0 = std::time::Instant::now();
        let out = Command::new("sh")
            .args(["-c", &format!(
                "head -c 1000000 /dev/zero | ip netns exec {} socat -u - TCP:10.79.1.2:7900,retry=20",
                lab.names[0]
            )])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        // Until the receiver has it all (the sender is done once the kernel holds it).
        let _ = server.wait();
        t0.elapsed()
    };
    reconcile(", netem: rate 2mbit");
    let (_, qdisc) = ip(Some(&lab.names[0]), &["tc", "qdisc", "show", "dev", "eth0"]);
    assert!(
        qdisc.contains("tbf") && qdisc.contains("rate 2Mbit"),
        "{qdisc}"
    );
    let took = transfer();
    // 1 MB at 250 kB/s is 4 s, less the burst (the link's MTU, 64 KB): 3.7 s at the least.
    assert!(
        took >= std::time::Duration::from_millis(3500),
        "1 MB at 2 mbit took {took:?}"
    );
    reconcile("");
    let (_, qdisc) = ip(Some(&lab.names[0]), &["tc", "qdisc", "show", "dev", "eth0"]);
    assert!(
        !qdisc.contains("tbf"),
        "the rate removed: the link made again without it: {qdisc}"
    );
    let quick = transfer();
    assert!(quick < took, "unshaped {quick:?}, shaped {took:?}");
}

/// dummy, vlan and ipvlan links where the kernel has them (probed, as `docker link doctor`
/// does): each made in its container with its address and up, the vlan with its id and the
/// ipvlan in its mode, on a parent in a namespace standing for the host. A kind this kernel
/// lacks is said and skipped by itself, after checking that applying it fails with an error
/// that names the missing module.
#[test]
fn dummy_vlan_and_ipvlan_links_where_the_kernel_has_them() {
    use crate::sys::probe::{probe_all, Feature, Outcome};
    let _rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let probe = probe_all().unwrap();
    let has = |f: Feature| {
        probe
            .iter()
            .any(|(x, o)| *x == f && *o == Outcome::Available)
    };
    let lab = Lab::new("tk", &["host", "d", "v", "i"]);
    let names = &lab.names;
    for args in [
        vec![
            "ip", "link", "add", "hp0", "type", "veth", "peer", "name", "hp1",
        ],
        vec!["ip", "link", "set", "hp0", "up"],
    ] {
        let (ok, out) = ip(Some(&names[0]), &args);
        assert!(ok, "{args:?}: {out}");
    }
    let (switch, _) = pinned::open_or_create(&lab.switch_name).unwrap();
    let cases = [
        (
            Feature::Dummy,
            "{container: d, type: dummy, ip: 10.80.0.1/24}",
            2,
            "dummy",
            "module dummy",
        ),
        (
            Feature::Vlan,
            "{container: v, type: vlan, outer-dev: hp0, vlanid: 7, ip: 10.80.1.1/24}",
            3,
            "vlan protocol 802.1Q id 7",
            "module 8021q",
        ),
        (
            Feature::Ipvlan,
            "{container: i, type: ipvlan, outer-dev: hp0, mode: l3, ip: 10.80.2.1/24}",
            4,
            "ipvlan mode l3",
            "module ipvlan",
        ),
    ];
    for (feature, link, k, detail, module) in cases {
        let config = cfg(&format!("x-network:\n  links:\n    - {link}\n"));
        let (desired, _) = desire(&lab.project, &config, &lab.instances);
        let observed = observe(Some(&switch), &lab.containers, None).unwrap();
        let (actions, _) = plan(&desired, &observed);
        let host = &lab.containers["host"];
        let applied = apply(host, &switch, &lab.containers, &actions);
        if !has(feature) {
            println!("this kernel has no {feature}: that case is skipped (probed)");
            assert!(
                applied.errors.iter().any(|e| e.contains(module)),
                "{feature}: {:?}",
                applied.errors
            );
            continue;
        }
        assert!(applied.errors.is_empty(), "{feature}: {:?}", applied.errors);
        let (_, shown) = ip(
            Some(&names[k - 1]),
            &["ip", "-d", "-o", "addr", "show", "dev", "eth0"],
        );
        assert!(
            shown.contains(&desired.veths[0].ip.unwrap().to_string()),
            "{shown}"
        );
        let (_, shown) = ip(
            Some(&names[k - 1]),
            &["ip", "-d", "-o", "link", "show", "dev", "eth0"],
        );
        // `ip -d` prints the kind and its details, spaced as its version likes.
        let words: Vec<&str> = shown.split_whitespace().collect();
        assert!(
            words
                .windows(detail.split(' ').count())
                .any(|w| w.join(" ") == detail)
                && shown.contains("UP"),
            "{shown}"
        );
        // A second plan has nothing to do.
        let observed = observe(Some(&switch), &lab.containers, None).unwrap();
        assert!(plan(&desired, &observed).0.is_empty(), "{feature}");
    }
}
