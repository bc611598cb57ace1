//! Reachability as the 2013 links proposal promises it, planned: from the link networks (and,
//! with `--icc=false`, the links on the default bridge) to the one nf_tables [`Table`] that
//! enforces it. Pure: no I/O; `sys::nft` applies the table.
//!
//! The promise: on a link network, new connections go only from the parent to its children's
//! exposed ports (tcp, udp, sctp as `EXPOSE`/`--expose` declare them); replies to those flow;
//! siblings cannot open connections to each other; a child cannot open one to its parent;
//! anything else new between two ports of that bridge is dropped. On the default bridge with
//! `--icc=false`, a container accepts new connections only along its links, as the engine's
//! `--icc=false` did with one ACCEPT pair per (parent, child, port).
//!
//! ## Where the rules live, and why
//! One table of ours, `inet docker-link`, in the daemon's network namespace, hook `forward`,
//! matching traffic that enters and leaves the same bridge (`iifname B oifname B`):
//! - Every link network is a bridge in the daemon's namespace, and bridged traffic between two
//!   containers crosses it there. One table holds every network's rules: no per-container
//!   namespace entry, and a child's restart (a new namespace) changes nothing, because our
//!   children keep fixed addresses on link networks (`links::realize`) and the rules are keyed
//!   by address and bridge name. There is no window after a restart.
//! - The bridge family would be the natural home (`meta ibrname`, hook before br_netfilter),
//!   but it needs `nf_conntrack_bridge` (Linux 5.3) for `ct state` and `nft_meta_bridge` for
//!   `ibrname`; the kernel this project runs on has neither (`CONFIG_NF_CONNTRACK_BRIDGE`,
//!   `CONFIG_NFT_BRIDGE_META` unset: `sys::nft::probe` reports both as false). So: the inet
//!   family. With br_netfilter (`net.bridge.bridge-nf-call-iptables=1`, which Docker sets in
//!   its namespace), bridged IPv4 and IPv6 traverse the inet `forward` hook with the bridge as
//!   both input and output interface, and conntrack tracks them (`ct state` works).
//!   `sys::nft::probe` fails with `BridgeNetfilterOff` when IPv4 would bypass the hook.
//! - Docker's own rules (iptables-nft, `ip filter FORWARD`, the same hook) do not change the
//!   outcome: two base chains on one hook both see the packet and a drop in either is final,
//!   an accept is not. Docker accepts intra-bridge traffic of a network with icc on (every
//!   link network, and the default bridge unless the daemon has `--icc=false`), so our drop
//!   decides; Docker's drops (between networks, into internal ones) stay drops. Priority 0
//!   (`filter`) is therefore only an ordering among equals.
//! - Only intra-bridge traffic is ours: published ports (DNAT from outside into docker0),
//!   traffic to the host (the bridge's own address, hook `input`), and routing between
//!   networks are Docker's business and untouched.
//! - Only IPv4/IPv6 reach the inet hooks, so ARP is never filtered; IPv6 neighbour discovery
//!   (ICMPv6 133-137, conntrack leaves it untracked) is accepted explicitly.
//! - DNS is unaffected: a container's resolver is Docker's embedded one at 127.0.0.11 inside
//!   the container's own namespace, so names resolve without crossing the bridge. Checked on
//!   Engine 20.10.24 with a container on an internal network: `resolv.conf` names
//!   127.0.0.11, `ss -lnup`/`-lntp` in its namespace show dockerd's own sockets on
//!   127.0.0.11 (random ports), and the namespace's nat `DOCKER_OUTPUT` chain DNATs port 53
//!   to them. (The traffic tests here use no Docker; the watcher's tests resolve for real.)

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::sys::nft::{
    Base, Chain, CtState, Family, Hook, IpVersion, Match, Policy, Rule, Table, Verdict, L4,
};

/// The name of our table in the daemon's namespace.
pub const TABLE: &str = "docker-link";

/// A transport protocol a port is exposed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl Proto {
    fn l4(self) -> L4 {
        match self {
            Proto::Tcp => L4::Tcp,
            Proto::Udp => L4::Udp,
            Proto::Sctp => L4::Sctp,
        }
    }
}

/// An exposed port or range, as the Engine writes them (`80/tcp`, `8000-8010/udp`; no
/// protocol means tcp, as in `EXPOSE 80`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ports {
    pub proto: Proto,
    pub first: u16,
    pub last: u16,
}

impl Ports {
    pub fn one(proto: Proto, port: u16) -> Ports {
        Ports {
            proto,
            first: port,
            last: port,
        }
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        };
        if self.first == self.last {
            write!(f, "{}/{proto}", self.first)
        } else {
            write!(f, "{}-{}/{proto}", self.first, self.last)
        }
    }
}

/// Why an exposed port did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid exposed port {input:?}: {reason}")]
pub struct PortsError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for Ports {
    type Err = PortsError;

    fn from_str(s: &str) -> Result<Ports, PortsError> {
        let err = |reason| PortsError {
            input: s.to_string(),
            reason,
        };
        let (range, proto) = match s.split_once('/') {
            None => (s, Proto::Tcp),
            Some((r, "tcp")) => (r, Proto::Tcp),
            Some((r, "udp")) => (r, Proto::Udp),
            Some((r, "sctp")) => (r, Proto::Sctp),
            Some(_) => return Err(err("the protocol is not tcp, udp or sctp")),
        };
        let port = |p: &str| p.parse::<u16>().ok().filter(|&n| n > 0);
        let (first, last) = match range.split_once('-') {
            None => {
                let p = port(range).ok_or_else(|| err("not a port number 1-65535"))?;
                (p, p)
            }
            Some((a, b)) => (
                port(a).ok_or_else(|| err("not a port number 1-65535"))?,
                port(b).ok_or_else(|| err("not a port number 1-65535"))?,
            ),
        };
        if first > last {
            return Err(err("the range ends before it starts"));
        }
        Ok(Ports { proto, first, last })
    }
}

/// A parent's link network as the watcher observes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkNet {
    /// The bridge interface in the daemon's namespace (`br-<12 hex>` for a network Docker
    /// named, or its `com.docker.network.bridge.name`).
    pub bridge: String,
    /// The parent's addresses on this network (IPv4 and/or IPv6).
    pub parent: Vec<IpAddr>,
    pub children: Vec<Child>,
}

/// A child on a link network: its addresses there and its exposed ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub addrs: Vec<IpAddr>,
    pub ports: Vec<Ports>,
}

/// The default bridge under `--icc=false`: the links whose ends are both on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultBridge {
    /// `docker0`, or the daemon's `--bridge`.
    pub bridge: String,
    pub links: Vec<Pair>,
}

/// One link on the default bridge: the parent may open connections to these ports of the
/// child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub parent: IpAddr,
    pub child: IpAddr,
    pub ports: Vec<Ports>,
}

/// One allowed kind of new connection on a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Allow {
    src: IpAddr,
    dst: IpAddr,
    ports: Ports,
}

/// The table that enforces the promise on these networks. Deterministic: the same networks,
/// in any order, give the same table (and fingerprint), so the watcher can compare.
pub fn plan(table: &str, nets: &[LinkNet], default_bridge: Option<&DefaultBridge>) -> Table {
    let mut bridges: BTreeMap<&str, BTreeSet<Allow>> = BTreeMap::new();
    for net in nets {
        let allows = bridges.entry(net.bridge.as_str()).or_default();
        for child in &net.children {
            for &src in &net.parent {
                for &dst in &child.addrs {
                    if IpVersion::of(&src) != IpVersion::of(&dst) {
                        continue;
                    }
                    allows.extend(child.ports.iter().map(|&ports| Allow { src, dst, ports }));
                }
            }
        }
    }
    if let Some(db) = default_bridge {
        let allows = bridges.entry(db.bridge.as_str()).or_default();
        for pair in &db.links {
            if IpVersion::of(&pair.parent) != IpVersion::of(&pair.child) {
                continue;
            }
            allows.extend(pair.ports.iter().map(|&ports| Allow {
                src: pair.parent,
                dst: pair.child,
                ports,
            }));
        }
    }

    let mut forward = Chain {
        name: "forward".into(),
        base: Some(Base {
            hook: Hook::Forward,
            priority: 0,
            policy: Policy::Accept,
        }),
        rules: Vec::new(),
    };
    let mut chains = Vec::new();
    for (bridge, allows) in &bridges {
        let name = chain_name(bridge);
        // Only what enters and leaves this bridge: traffic between two of its ports.
        forward.rules.push(Rule {
            matches: vec![
                Match::Iifname(bridge.to_string()),
                Match::Oifname(bridge.to_string()),
            ],
            verdict: Verdict::Jump(name.clone()),
        });
        let mut rules = vec![
            Rule {
                matches: vec![Match::Ct(CtState::ESTABLISHED | CtState::RELATED)],
                verdict: Verdict::Accept,
            },
            // Neighbour discovery (solicitation, advertisement, router messages, redirect).
            Rule {
                matches: vec![
                    Match::Ip(IpVersion::V6),
                    Match::L4(L4::Icmpv6),
                    Match::Icmpv6Type(133, 137),
                ],
                verdict: Verdict::Accept,
            },
        ];
        rules.extend(allows.iter().map(|a| Rule {
            matches: vec![
                Match::Saddr(a.src),
                Match::Daddr(a.dst),
                Match::L4(a.ports.proto.l4()),
                Match::Dport(a.ports.first, a.ports.last),
                Match::Ct(CtState::NEW),
            ],
            verdict: Verdict::Accept,
        }));
        rules.push(Rule {
            matches: Vec::new(),
            verdict: Verdict::Drop,
        });
        chains.push(Chain {
            name,
            base: None,
            rules,
        });
    }
    let mut all = vec![forward];
    all.extend(chains);
    Table {
        family: Family::Inet,
        name: table.to_string(),
        chains: all,
    }
}

fn chain_name(bridge: &str) -> String {
    format!("bridge-{bridge}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ports(list: &[&str]) -> Vec<Ports> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    /// The plan as `nft` text, chain by chain: what the tests compare.
    fn text(t: &Table) -> Vec<(String, Vec<String>)> {
        t.chains
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.rules.iter().map(|r| r.to_nft(t.family)).collect(),
                )
            })
            .collect()
    }

    const HEAD: [&str; 2] = [
        "ct state established,related accept",
        "meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type 133-137 accept",
    ];

    /// The rule that lets `src` open connections to `dst` on `l4` port(s) `dport`.
    fn allow(src: &str, dst: &str, l4: &str, dport: &str) -> String {
        let (nfproto, ip) = if src.contains(':') {
            ("ipv6", "ip6")
        } else {
            ("ipv4", "ip")
        };
        format!(
            "meta nfproto {nfproto} {ip} saddr {src} {ip} daddr {dst} meta l4proto {l4} \
             th dport {dport} ct state new accept"
        )
    }

    fn chain(name: &str, allows: &[&str]) -> (String, Vec<String>) {
        let mut rules: Vec<String> = HEAD.iter().map(|s| s.to_string()).collect();
        rules.extend(allows.iter().map(|s| s.to_string()));
        rules.push("drop".into());
        (name.to_string(), rules)
    }

    #[test]
    fn ports_parse_as_the_engine_writes_them() {
        let cases: &[(&str, Result<Ports, &str>)] = &[
            ("80/tcp", Ok(Ports::one(Proto::Tcp, 80))),
            ("80", Ok(Ports::one(Proto::Tcp, 80))),
            ("53/udp", Ok(Ports::one(Proto::Udp, 53))),
            ("9/sctp", Ok(Ports::one(Proto::Sctp, 9))),
            (
                "8000-8010/tcp",
                Ok(Ports {
                    proto: Proto::Tcp,
                    first: 8000,
                    last: 8010,
                }),
            ),
            ("65535/udp", Ok(Ports::one(Proto::Udp, 65535))),
            ("0/tcp", Err("not a port number 1-65535")),
            ("65536/tcp", Err("not a port number 1-65535")),
            ("80/icmp", Err("the protocol is not tcp, udp or sctp")),
            ("x/tcp", Err("not a port number 1-65535")),
            ("", Err("not a port number 1-65535")),
            ("10-9/tcp", Err("the range ends before it starts")),
            ("-9/tcp", Err("not a port number 1-65535")),
        ];
        for (input, want) in cases {
            let got = input.parse::<Ports>().map_err(|e| e.reason);
            assert_eq!(&got, want, "{input:?}");
        }
        assert_eq!(
            Ports::from_str("8000-8010/udp").unwrap().to_string(),
            "8000-8010/udp"
        );
        assert_eq!(Ports::from_str("80").unwrap().to_string(), "80/tcp");
    }

    #[test]
    fn plans() {
        let p4 = ip("10.199.0.2");
        let c4 = ip("10.199.0.3");
        let s4 = ip("10.199.0.4");
        let p6 = ip("fd00::2");
        let c6 = ip("fd00::3");
        struct Case {
            what: &'static str,
            nets: Vec<LinkNet>,
            default_bridge: Option<DefaultBridge>,
            want: Vec<(String, Vec<String>)>,
        }
        let base = |bridges: &[&str]| {
            (
                "forward".to_string(),
                bridges
                    .iter()
                    .map(|b| format!("iifname \"{b}\" oifname \"{b}\" jump bridge-{b}"))
                    .collect::<Vec<_>>(),
            )
        };
        let cases = vec![
            Case {
                what: "nothing linked: an empty base chain",
                nets: vec![],
                default_bridge: None,
                want: vec![base(&[])],
            },
            Case {
                what: "a child without exposed ports: nothing new reaches it",
                nets: vec![LinkNet {
                    bridge: "br-a".into(),
                    parent: vec![p4],
                    children: vec![Child {
                        addrs: vec![c4],
                        ports: vec![],
                    }],
                }],
                default_bridge: None,
                want: vec![base(&["br-a"]), chain("bridge-br-a", &[])],
            },
            Case {
                what: "parent to the exposed ports of two children, tcp, udp and a range",
                nets: vec![LinkNet {
                    bridge: "br-a".into(),
                    parent: vec![p4],
                    children: vec![
                        Child {
                            addrs: vec![c4],
                            ports: ports(&["80/tcp", "53/udp"]),
                        },
                        Child {
                            addrs: vec![s4],
                            ports: ports(&["8000-8010/tcp"]),
                        },
                    ],
                }],
                default_bridge: None,
                want: vec![
                    base(&["br-a"]),
                    chain(
                        "bridge-br-a",
                        &[
                            &allow("10.199.0.2", "10.199.0.3", "tcp", "80"),
                            &allow("10.199.0.2", "10.199.0.3", "udp", "53"),
                            &allow("10.199.0.2", "10.199.0.4", "tcp", "8000-8010"),
                        ],
                    ),
                ],
            },
            Case {
                what: "dual stack: one rule per family, never across families",
                nets: vec![LinkNet {
                    bridge: "br-a".into(),
                    parent: vec![p4, p6],
                    children: vec![Child {
                        addrs: vec![c4, c6],
                        ports: ports(&["80/tcp"]),
                    }],
                }],
                default_bridge: None,
                want: vec![
                    base(&["br-a"]),
                    chain(
                        "bridge-br-a",
                        &[
                            &allow("10.199.0.2", "10.199.0.3", "tcp", "80"),
                            &allow("fd00::2", "fd00::3", "tcp", "80"),
                        ],
                    ),
                ],
            },
            Case {
                what: "networks in any order give bridges in name order; duplicates once",
                nets: vec![
                    LinkNet {
                        bridge: "br-b".into(),
                        parent: vec![p4],
                        children: vec![Child {
                            addrs: vec![c4],
                            ports: ports(&["80/tcp", "80/tcp"]),
                        }],
                    },
                    LinkNet {
                        bridge: "br-a".into(),
                        parent: vec![],
                        children: vec![],
                    },
                ],
                default_bridge: None,
                want: vec![
                    base(&["br-a", "br-b"]),
                    chain("bridge-br-a", &[]),
                    chain(
                        "bridge-br-b",
                        &[&allow("10.199.0.2", "10.199.0.3", "tcp", "80")],
                    ),
                ],
            },
            Case {
                what: "icc=false on the default bridge: only along links",
                nets: vec![],
                default_bridge: Some(DefaultBridge {
                    bridge: "docker0".into(),
                    links: vec![
                        Pair {
                            parent: ip("172.17.0.2"),
                            child: ip("172.17.0.3"),
                            ports: ports(&["6379/tcp"]),
                        },
                        Pair {
                            parent: ip("172.17.0.2"),
                            child: c6,
                            ports: ports(&["6379/tcp"]),
                        },
                    ],
                }),
                want: vec![
                    base(&["docker0"]),
                    chain(
                        "bridge-docker0",
                        &[&allow("172.17.0.2", "172.17.0.3", "tcp", "6379")],
                    ),
                ],
            },
            Case {
                what: "icc=false with no links: the default bridge closed to new connections",
                nets: vec![],
                default_bridge: Some(DefaultBridge {
                    bridge: "docker0".into(),
                    links: vec![],
                }),
                want: vec![base(&["docker0"]), chain("bridge-docker0", &[])],
            },
        ];
        for c in cases {
            let t = plan(TABLE, &c.nets, c.default_bridge.as_ref());
            assert_eq!(t.family, Family::Inet, "{}", c.what);
            assert_eq!(t.name, TABLE);
            let base = t.chains[0].base.expect("the first chain is the base chain");
            assert_eq!(
                base,
                Base {
                    hook: Hook::Forward,
                    priority: 0,
                    policy: Policy::Accept
                },
                "{}",
                c.what
            );
            assert_eq!(text(&t), c.want, "{}", c.what);
            assert!(t.chains[1..].iter().all(|c| c.base.is_none()));
        }
    }

    #[test]
    fn the_plan_does_not_depend_on_input_order() {
        let net = |bridge: &str, children: Vec<Child>| LinkNet {
            bridge: bridge.into(),
            parent: vec![ip("10.0.0.2")],
            children,
        };
        let a = Child {
            addrs: vec![ip("10.0.0.3")],
            ports: ports(&["80/tcp", "53/udp"]),
        };
        let b = Child {
            addrs: vec![ip("10.0.0.4")],
            ports: ports(&["443/tcp"]),
        };
        let one = plan(
            TABLE,
            &[net("x", vec![a.clone(), b.clone()]), net("y", vec![])],
            None,
        );
        let mut a_rev = a.clone();
        a_rev.ports.reverse();
        let two = plan(TABLE, &[net("y", vec![]), net("x", vec![b, a_rev])], None);
        assert_eq!(one, two);
        assert_eq!(one.fingerprint(), two.fingerprint());
        let other = plan("other", &[], None);
        assert_ne!(one.fingerprint(), other.fingerprint());
    }
}
