use super::*;

fn compose(name: &str, yaml: &str) -> Source {
    Source {
        name: name.to_string(),
        kind: SourceKind::Compose,
        value: parse_document(yaml).unwrap(),
    }
}

fn netfile(name: &str, text: &str) -> Source {
    Source {
        name: name.to_string(),
        kind: SourceKind::NetworkFile,
        value: parse_document(text).unwrap(),
    }
}

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn scales(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn errors(sources: &[Source], sc: &[(&str, u32)]) -> Vec<String> {
    match load(sources, &Env::new(), &scales(sc), &Defaults::default()) {
        Ok(l) => panic!("expected errors, got {:?}", l.config),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn merge_of_two_compose_files_and_a_network_file() {
    // conlink's order: each file's top-level x-network, then its services'; files in order.
    let a = compose(
        "compose.yaml",
        r#"
services:
  r0:
    image: x
    x-network:
      links:
        - {bridge: s1, ip: "${NET:-10.0.1}.100/24"}
        - {bridge: s2, dev: eth1, ip: 10.0.2.100/24, route: "default via 10.0.2.1"}
  n1:
    image: x
    scale: 2
x-network:
  links:
    - {service: n1, bridge: s1, ip: 10.0.1.10/24}
  bridges:
    - {bridge: s1, mode: linux}
"#,
    );
    let b = compose(
        "compose.extra.yaml",
        r#"
x-network:
  links:
    - {service: n1, route: "10.0.0.0/8 via 10.0.1.100", mtu: 1500}
  commands:
    - {service: n1, command: "ip route"}
"#,
    );
    let c = netfile(
        "net.json",
        r#"{"links": [{"container": "lone", "bridge": "s2", "ip": "fd00::2/64", "route": ["fd01::/64 via fd00::1"]}],
            "bridges": [{"bridge": "s2", "mode": "patch"}],
            "commands": [{"container": "lone", "command": ["ip", "-6", "route"]}]}"#,
    );
    let got = load(
        &[a, b, c],
        &env(&[("NET", "10.0.1")]),
        &scales(&[("r0", 1), ("n1", 2)]),
        &Defaults::default(),
    )
    .unwrap();
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    let want = serde_json::json!({
        "links": [
            {"service": "n1", "type": "veth", "bridge": "s1", "dev": "eth0", "ip": "10.0.1.10/24", "mtu": 1500,
             "route": ["10.0.0.0/8 via 10.0.1.100"]},
            {"service": "r0", "type": "veth", "bridge": "s1", "dev": "eth0", "ip": "10.0.1.100/24", "mtu": 65535},
            {"service": "r0", "type": "veth", "bridge": "s2", "dev": "eth1", "ip": "10.0.2.100/24", "mtu": 65535,
             "route": ["default via 10.0.2.1"]},
            {"container": "lone", "type": "veth", "bridge": "s2", "dev": "eth0", "ip": "fd00::2/64", "mtu": 65535,
             "route": ["fd01::/64 via fd00::1"]}
        ],
        "bridges": [{"bridge": "s1", "mode": "linux"}, {"bridge": "s2", "mode": "patch"}],
        "commands": [
            {"service": "n1", "command": ["sh", "-c", "ip route"]},
            {"container": "lone", "command": ["ip", "-6", "route"]}
        ]
    });
    assert_eq!(serde_json::to_value(&got.config).unwrap(), want);
    // What is stored reads back the same.
    let back: NetConfig =
        serde_json::from_value(serde_json::to_value(&got.config).unwrap()).unwrap();
    assert_eq!(back, got.config);
}

#[test]
fn links_with_one_key_merge_lists_append_scalars_override() {
    let a = compose(
        "a.yaml",
        "x-network:\n  links:\n    - {service: web, bridge: s, route: 10.1.0.0/16 via 10.0.0.1, mtu: 1400}\n",
    );
    let b = compose(
        "b.yaml",
        "x-network:\n  links:\n    - {service: web, dev: eth0, route: [10.2.0.0/16 via 10.0.0.1], mtu: 9000, ip: 10.0.0.5/24}\n",
    );
    let got = load(&[a, b], &Env::new(), &BTreeMap::new(), &Defaults::default())
        .unwrap()
        .config;
    assert_eq!(got.links.len(), 1);
    let l = &got.links[0];
    assert_eq!(l.mtu, 9000);
    assert_eq!(
        l.route.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["10.1.0.0/16 via 10.0.0.1", "10.2.0.0/16 via 10.0.0.1"]
    );
    assert_eq!(l.ip.unwrap().to_string(), "10.0.0.5/24");
}

#[test]
fn defaults_fill_in() {
    let a = compose(
        "c.yaml",
        "x-network:\n  links:\n    - {container: c1, bridge: s}\n",
    );
    let d = Defaults {
        mtu: 1500,
        bridge_mode: BridgeMode::Patch,
    };
    let got = load(&[a], &Env::new(), &BTreeMap::new(), &d)
        .unwrap()
        .config;
    assert_eq!(got.links[0].mtu, 1500);
    assert_eq!(got.links[0].dev, "eth0");
    assert_eq!(got.links[0].kind, LinkType::Veth);
    assert_eq!(
        got.bridges,
        vec![Bridge {
            bridge: "s".into(),
            mode: BridgeMode::Patch
        }]
    );
}

#[test]
fn unset_variables_warn_with_their_path() {
    let a = compose(
        "c.yaml",
        "x-network:\n  links:\n    - {container: c1, bridge: \"s${SUFFIX}\"}\n",
    );
    let got = load(&[a], &Env::new(), &BTreeMap::new(), &Defaults::default()).unwrap();
    assert_eq!(
        got.warnings,
        ["the SUFFIX variable is not set; it is an empty string (c.yaml: x-network.links[0].bridge)"]
    );
    assert_eq!(got.config.links[0].bridge.as_deref(), Some("s"));
}

/// Every invalid configuration of the issue's list, each with its message and path; all
/// errors of one file at once.
#[test]
fn every_error_at_once_with_its_path() {
    /// The compose file, the services' scales, the errors.
    type Case<'a> = (&'a str, &'a [(&'a str, u32)], &'a [&'a str]);
    let table: &[Case] = &[
        (
            "x-network:\n  links:\n    - {service: a, bridge: s, ip: 10.0.0.300/24, mac: c2:00:00:00:00:0x}\n",
            &[],
            &[
                r#"c.yaml: x-network.links[0].ip: "10.0.0.300/24" is not a valid CIDR: "10.0.0.300" is not an IP address"#,
                r#"c.yaml: x-network.links[0].mac: "c2:00:00:00:00:0x" is not a MAC address (six hex pairs, as c2:00:00:00:00:01)"#,
            ],
        ),
        (
            "x-network:\n  links:\n    - {service: a, bridge: s, dev: averyveryverylongname, outer-dev: x/y}\n",
            &[],
            &[
                r#"c.yaml: x-network.links[0].dev: "averyveryverylongname" is 21 bytes long; interface names have at most 15"#,
                r#"c.yaml: x-network.links[0].outer-dev: "x/y" is not a valid interface name (no '/', ':' or spaces)"#,
            ],
        ),
        (
            "x-network:\n  link:\n    - {service: a}\n  bridges:\n    - {bridge: s, mdoe: patch}\n",
            &[],
            &[
                r#"c.yaml: x-network.link: unknown key "link" (did you mean "links"?)"#,
                r#"c.yaml: x-network.bridges[0].mdoe: unknown key "mdoe" (did you mean "mode"?)"#,
            ],
        ),
        (
            "x-network:\n  links:\n    - {service: a, bridge: s, ipp: 10.0.0.1/24, typ: veth, zzzzzz: 1}\n",
            &[],
            &[
                r#"c.yaml: x-network.links[0].ipp: unknown key "ipp" (did you mean "ip"?)"#,
                r#"c.yaml: x-network.links[0].typ: unknown key "typ" (did you mean "type"?)"#,
                r#"c.yaml: x-network.links[0].zzzzzz: unknown key "zzzzzz" (valid: type, service, container, bridge, dev, outer-dev, ip, mac, mtu, route, nat, netem, ethtool, mode, vlanid, forward)"#,
            ],
        ),
        (
            "x-network:\n  bridges: [{bridge: p, mode: patch}]\n  links:\n    - {service: a, bridge: p}\n    - {service: b, bridge: p}\n    - {service: c, bridge: p}\n",
            &[("a", 1), ("b", 1), ("c", 1)],
            &["c.yaml: x-network.links[2].bridge: bridge p is a patch, which joins exactly two links; it has 3: service a, service b, service c"],
        ),
        (
            "x-network:\n  bridges: [{bridge: p, mode: patch}]\n  links:\n    - {service: a, bridge: p}\n",
            &[("a", 3)],
            &["c.yaml: x-network.links[0].bridge: bridge p is a patch, which joins exactly two links; it has 3: a replica 1, a replica 2, a replica 3"],
        ),
        (
            "x-network:\n  links:\n    - {service: a, bridge: s, forward: 80:8080/tcp}\n",
            &[],
            &["c.yaml: x-network.links[0].forward: forward needs the link's ip (the address ports are forwarded to)"],
        ),
        (
            "x-network:\n  links:\n    - {service: a, bridge: s, ip: 10.0.0.1/24, forward: [80:8080/tcp, \"80:x/sctp\"]}\n",
            &[],
            &[r#"c.yaml: x-network.links[0].forward[1]: "80:x/sctp" is not a forward (HOST_PORT:CONTAINER_PORT/tcp|udp)"#],
        ),
        (
            "x-network:\n  links:\n    - {service: a, ip: 10.0.0.1/24, forward: 80:80/tcp}\n    - {service: b, bridge: s, ip: fd00::1/64, forward: 81:80/tcp}\n    - {service: c, bridge: t, ip: 10.0.3.1/31, forward: 82:80/udp}\n",
            &[],
            &[
                "c.yaml: x-network.links[0]: a veth link needs a bridge",
                "c.yaml: x-network.links[1].forward: forward needs an IPv4 address in a /30 or wider prefix (Docker publishes IPv4 to the port forwarder, which takes the prefix's last address): fd00::1/64 is not",
                "c.yaml: x-network.links[2].forward: forward needs an IPv4 address in a /30 or wider prefix (Docker publishes IPv4 to the port forwarder, which takes the prefix's last address): 10.0.3.1/31 is not",
            ],
        ),
        (
            // The forwarder takes 10.0.1.254 on s: a replica that would get it, and a second
            // forwarded link on s in another prefix, are refused.
            "x-network:\n  links:\n    - {service: web, bridge: s, ip: 10.0.1.253/24, forward: 8080:80/tcp}\n    - {service: db, bridge: s, ip: 10.0.2.1/24, forward: 5432:5432/tcp}\n",
            &[("web", 2), ("db", 1)],
            &[
                "c.yaml: x-network.links[0].ip: replica 2 of service web would get 10.0.1.254, which the port forwarder on s (forward takes the last address of 10.0.1.0/24) has too (on s)",
                "c.yaml: x-network.links[1].ip: forwarded links on one bridge share one prefix: 10.0.2.1/24 is not in 10.0.1.0/24, the prefix of the first forwarded link on s",
            ],
        ),
        (
            "x-network:\n  links:\n    - {service: a, bridge: s, ethtool: [\"--offload rx off tx on\", \"-s speed 100\", \"-K lro off\", \"-K tx\", \"-K gro maybe\"]}\n    - {service: b, type: macvlan, outer-dev: eth0, ethtool: \"-K rx off\"}\n",
            &[],
            &[
                r#"c.yaml: x-network.links[0].ethtool[1]: "-s speed 100": only offload settings are supported (--offload FEATURE on|off, FEATURE one of rx, tx, sg, tso, gso, gro), not -s"#,
                r#"c.yaml: x-network.links[0].ethtool[2]: "-K lro off": unknown offload feature "lro" (supported: rx, tx, sg, tso, gso, gro)"#,
                r#"c.yaml: x-network.links[0].ethtool[3]: "-K tx": expected FEATURE on|off pairs after the option"#,
                r#"c.yaml: x-network.links[0].ethtool[4]: "-K gro maybe": gro takes on or off, not "maybe""#,
                "c.yaml: x-network.links[1].ethtool: ethtool applies to veth links, not macvlan",
            ],
        ),
        (
            "x-network:\n  links:\n    - {service: web, bridge: s, ip: 10.0.1.253/24}\n",
            &[("web", 4)],
            &["c.yaml: x-network.links[0].ip: replica 4 of service web would get 10.0.1.253/24 + 3, outside 10.0.1.0/24 (service web is scaled to 4)"],
        ),
        (
            "x-network:\n  links:\n    - {service: web, bridge: s, ip: 10.0.1.10/24}\n    - {service: db, bridge: s, ip: 10.0.1.11/24}\n    - {service: db, dev: eth1, bridge: other, ip: 10.0.1.10/24}\n",
            &[("web", 2), ("db", 1)],
            &["c.yaml: x-network.links[1].ip: service db would get 10.0.1.11, which c.yaml: x-network.links[0] (replica 2 of service web) has too (on s)"],
        ),
        (
            "x-network:\n  links:\n    - {service: a, type: vlan, bridge: s}\n    - {service: b, type: vethh}\n    - {service: c, type: macvlan, outer-dev: eth0, mode: l3}\n",
            &[],
            &[
                "c.yaml: x-network.links[0].bridge: a vlan link has no bridge (only veth links do)",
                "c.yaml: x-network.links[0]: a vlan link needs a vlanid",
                "c.yaml: x-network.links[0]: a vlan link needs outer-dev: its parent interface in the host",
                r#"c.yaml: x-network.links[1].type: unknown link type "vethh" (did you mean "veth"?); one of veth, dummy, vlan, ipvlan, ipvtap, macvlan, macvtap"#,
                r#"c.yaml: x-network.links[2].mode: unknown macvlan mode "l3"; one of private, vepa, bridge, passthru, source"#,
            ],
        ),
        (
            "x-network:\n  links:\n    - {bridge: s}\n    - {service: a, container: b, bridge: s}\n    - {service: a, dev: eth1}\n",
            &[],
            &[
                "c.yaml: x-network.links[0]: missing service or container",
                "c.yaml: x-network.links[1]: give either service or container, not both",
                "c.yaml: x-network.links[2]: a veth link needs a bridge",
            ],
        ),
        (
            "x-network:\n  links:\n    - {service: a, bridge: s, ip: fd00::1/64, mtu: 1000, route: [\"fd01::/64 via 10.0.0.1\", \"default via x\"], mac: 01:00:5e:00:00:01}\n",
            &[],
            &[
                r#"c.yaml: x-network.links[0].mac: "01:00:5e:00:00:01" is a multicast address (its first octet is odd); an interface needs a unicast MAC"#,
                "c.yaml: x-network.links[0].mtu: expected a number from 1280 to 65535, not 1000",
                r#"c.yaml: x-network.links[0].route[0]: "fd01::/64 via 10.0.0.1": the destination and the gateway are of different IP families"#,
                r#"c.yaml: x-network.links[0].route[1]: "default via x": gateway "x" is not an IP address"#,
            ],
        ),
        (
            "x-network:\n  tunnels:\n    - {type: vxlan, bridge: s, remote: 10.0.0.1.2, vni: 16777216}\n    - {type: gre, bridge: s}\n",
            &[],
            &[
                r#"c.yaml: x-network.tunnels[0].remote: "10.0.0.1.2" is not an IP address"#,
                "c.yaml: x-network.tunnels[0].vni: expected a number from 0 to 16777215, not 16777216",
                "c.yaml: x-network.tunnels[1]: missing remote",
                "c.yaml: x-network.tunnels[1]: missing vni",
                r#"c.yaml: x-network.tunnels[1].type: unknown tunnel type "gre"; one of vxlan, geneve"#,
            ],
        ),
        (
            "x-network:\n  commands:\n    - {service: a}\n    - {service: a, command: 7}\n    - {container: c, command: []}\n",
            &[],
            &[
                "c.yaml: x-network.commands[0]: missing command",
                "c.yaml: x-network.commands[1].command: expected a string (run by sh -c) or a list (argv), not a number",
                "c.yaml: x-network.commands[2].command: command cannot be empty",
            ],
        ),
        (
            "services:\n  a:\n    image: x\n  b:\n    image: x\nx-network:\n  links:\n    - {service: a, bridge: s}\n  commands:\n    - {service: a, command: ip route}\n    - {service: b, command: ip route}\n",
            &[("a", 1), ("b", 1)],
            &["c.yaml: x-network.commands[1]: service b has no links: a command runs after its container's links are made, at every start"],
        ),
        (
            "services:\n  web:\n    image: x\n    x-network:\n      links:\n        - {bridge: s, outer-dev: same}\n  db:\n    image: x\n    x-network:\n      links:\n        - {bridge: s, outer-dev: same}\n        - {service: wbe, dev: eth1, bridge: s}\n",
            &[("web", 2), ("db", 1)],
            &[
                r#"c.yaml: services.db.x-network.links[1].service: no service "wbe" in the compose files (did you mean "web"?); services: db, web"#,
                r#"c.yaml: services.web.x-network.links[0].outer-dev: service web has 2 replicas, which cannot all have the outer-dev "same"; leave it out (names are derived per replica)"#,
                r#"c.yaml: services.web.x-network.links[0].outer-dev: outer-dev "same" is also the outer-dev of c.yaml: services.db.x-network.links[0]"#,
            ],
        ),
        (
            "x-network:\n  links:\n    - {service: a, bridge: \"${BR:?set BR to the bridge}\"}\n  bridges: {bridge: s}\n",
            &[],
            &[
                "c.yaml: x-network.links[0].bridge: required variable BR is missing a value: set BR to the bridge",
                "c.yaml: x-network.bridges: bridges is a list",
            ],
        ),
    ];
    for (yaml, sc, want) in table {
        let mut got = errors(&[compose("c.yaml", yaml)], sc);
        got.sort();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "\n{yaml}");
    }
}

#[test]
fn the_error_names_the_count_and_lists_each() {
    let e = load(
        &[compose(
            "c.yaml",
            "x-network:\n  links:\n    - {service: a}\n    - {bridge: s}\n",
        )],
        &Env::new(),
        &BTreeMap::new(),
        &Defaults::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid network configuration (2 errors)\n  c.yaml: x-network.links[0]: a veth link needs a bridge\n  c.yaml: x-network.links[1]: missing service or container"
    );
}

#[test]
fn routes_and_forwards_round_trip() {
    for r in [
        "default via 10.0.0.1",
        "10.0.0.0/8 via 10.0.0.1 metric 5",
        "fd01::/64",
        "default via fe80::1",
    ] {
        assert_eq!(r.parse::<Route>().unwrap().to_string(), r);
    }
    assert_eq!(
        "10.1.2.3".parse::<Route>().unwrap().to_string(),
        "10.1.2.3/32"
    );
    assert!("default via fe80::1".parse::<Route>().unwrap().is_ipv6());
    assert!("10.0.0.0/8 dev x".parse::<Route>().is_err());
    assert_eq!(
        "80:8080/udp".parse::<Forward>().unwrap().to_string(),
        "80:8080/udp"
    );
    assert!("0:80/tcp".parse::<Forward>().is_err());
}

#[test]
fn rates_read_as_tc_reads_them() {
    use crate::net::config::{netem_rate, parse_rate};
    for (input, want) in [
        ("8bit", Ok(1)),
        ("10mbit", Ok(1_250_000)),
        ("1.5gbit", Ok(187_500_000)),
        ("500kbps", Ok(500_000)),
        ("2mibit", Ok(262_144)),
        ("10MBit", Ok(1_250_000)),
        ("10", Err("the unit is")),
        ("fast", Err("is not a rate")),
        ("3xbit", Err("unknown prefix")),
        ("0mbit", Err("is not a rate")),
    ] {
        match (parse_rate(input), want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{input}"),
            (Err(g), Err(w)) => assert!(g.contains(w), "{input}: {g}"),
            (g, w) => panic!("{input}: got {g:?}, want {w:?}"),
        }
    }
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        netem_rate(&s(&["rate 2mbit"])).unwrap(),
        (Some(250_000), vec![])
    );
    assert_eq!(
        netem_rate(&s(&["delay 100ms 10ms", "rate 1kbit loss 1%"])).unwrap(),
        (Some(125), s(&["delay", "loss"]))
    );
    assert!(netem_rate(&s(&["rate"]))
        .unwrap_err()
        .contains("rate needs a value"));
}
