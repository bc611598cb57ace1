use super::*;
use crate::net::config::{load, Defaults, Source, SourceKind};

fn config(yaml: &str, scales: &[(&str, u32)]) -> NetConfig {
    let src = Source {
        name: "c.yaml".into(),
        kind: SourceKind::Compose,
        value: crate::net::config::parse_document(yaml).unwrap(),
    };
    let scales: BTreeMap<String, u32> = scales.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    load(&[src], &Default::default(), &scales, &Defaults::default())
        .unwrap()
        .config
}

fn svc(id: &str, service: &str, k: u32) -> Instance {
    Instance {
        id: id.into(),
        name: format!("p-{service}-{k}"),
        service: Some((service.into(), k)),
    }
}

/// What the kernel holds after every action of `desired` was applied.
fn applied(desired: &Desired) -> Observed {
    let mut o = Observed::default();
    let p = &desired.project;
    for b in &desired.bridges {
        o.switch.push(Iface {
            name: b.name.clone(),
            alias: Some(mark(p, b)),
        });
    }
    for v in &desired.veths {
        let m = mark(
            p,
            &VethWant {
                patch: None,
                ..v.clone()
            },
        );
        o.switch.push(Iface {
            name: v.outer.clone(),
            alias: Some(m.clone()),
        });
        o.containers
            .entry(v.container.clone())
            .or_default()
            .push(Iface {
                name: v.dev.clone(),
                alias: Some(m),
            });
    }
    for t in &desired.tunnels {
        o.switch.push(Iface {
            name: t.name.clone(),
            alias: Some(mark(
                p,
                &TunnelWant {
                    patch: None,
                    ..t.clone()
                },
            )),
        });
    }
    o
}

const TWO_NODES: &str = "x-network:\n  links:\n    - {service: node, bridge: s1, ip: 10.0.1.10/24, route: default via 10.0.1.1}\n    - {container: router, bridge: s1, ip: 10.0.1.1/24}\n";

#[test]
fn replicas_get_their_offsets_names_and_stable_macs() {
    let cfg = config(TWO_NODES, &[]);
    let inst = [
        svc("c1", "node", 1),
        svc("c3", "node", 3),
        Instance {
            id: "r".into(),
            name: "router".into(),
            service: None,
        },
    ];
    let (d, unwired) = desire("p", &cfg, &inst);
    assert!(unwired.is_empty());
    let got: Vec<(&str, &str, String, String)> = d
        .veths
        .iter()
        .map(|v| {
            (
                v.outer.as_str(),
                v.container.as_str(),
                v.ip.unwrap().to_string(),
                v.mac.to_string(),
            )
        })
        .collect();
    let m1 = Mac::derived("p/service node/eth0");
    let mr = Mac::derived("p/container router/eth0");
    assert_eq!(
        got,
        [
            (
                "node_1-eth0",
                "c1",
                "10.0.1.10/24".to_string(),
                m1.to_string()
            ),
            (
                "node_3-eth0",
                "c3",
                "10.0.1.12/24".to_string(),
                m1.offset(2).unwrap().to_string()
            ),
            (
                "router-eth0",
                "r",
                "10.0.1.1/24".to_string(),
                mr.to_string()
            ),
        ]
    );
    assert_eq!(d.veths[0].master.as_deref(), Some("s1"));
    assert_eq!(d.veths[0].routes, ["default via 10.0.1.1"]);
    assert_eq!(d.bridges, [BridgeWant { name: "s1".into() }]);
    // The same again (a restart, another `up`): the same MACs.
    assert_eq!(desire("p", &cfg, &inst).0, d);
}

#[test]
fn a_replica_pushed_out_of_its_prefix_is_not_wired_and_says_why() {
    let cfg = config(
        "x-network:\n  links:\n    - {service: node, bridge: s, ip: 10.0.1.254/24}\n",
        &[],
    );
    let (d, unwired) = desire(
        "p",
        &cfg,
        &[
            svc("a", "node", 1),
            svc("b", "node", 2),
            svc("c", "node", 3),
        ],
    );
    assert_eq!(d.veths.len(), 2);
    assert_eq!(
        unwired,
        [Unwired {
            container: "p-node-3".into(),
            dev: "eth0".into(),
            reason: "replica 3 would get 10.0.1.254/24 + 2, outside 10.0.1.0/24".into()
        }]
    );
}

#[test]
fn first_up_creates_everything_and_a_second_is_a_no_op() {
    let cfg = config(TWO_NODES, &[]);
    let (d, _) = desire(
        "p",
        &cfg,
        &[
            svc("c1", "node", 1),
            Instance {
                id: "r".into(),
                name: "router".into(),
                service: None,
            },
        ],
    );
    let (actions, conflicts) = plan(&d, &Observed::default());
    assert!(conflicts.is_empty());
    let kinds: Vec<String> = actions
        .iter()
        .map(|a| match a {
            Action::CreateBridge { want, .. } => format!("bridge {}", want.name),
            Action::CreateVeth { want, .. } => format!("veth {}", want.outer),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["bridge s1", "veth node_1-eth0", "veth router-eth0"]);
    let (again, conflicts) = plan(&d, &applied(&d));
    assert_eq!(again, [], "a second up is a no-op");
    assert!(conflicts.is_empty());
}

#[test]
fn a_changed_file_replaces_only_what_changed_and_removes_what_went() {
    let old = config(TWO_NODES, &[]);
    let inst = [
        svc("c1", "node", 1),
        Instance {
            id: "r".into(),
            name: "router".into(),
            service: None,
        },
    ];
    let (d_old, _) = desire("p", &old, &inst);
    let observed = applied(&d_old);
    let new = config("x-network:\n  links:\n    - {service: node, bridge: s1, ip: 10.0.1.20/24, route: default via 10.0.1.1}\n", &[]);
    let (d_new, _) = desire("p", &new, &inst);
    let (actions, conflicts) = plan(&d_new, &observed);
    assert!(conflicts.is_empty());
    let kinds: Vec<String> = actions
        .iter()
        .map(|a| match a {
            Action::DeleteSwitch { name } => format!("delete {name}"),
            Action::DeleteInContainer { container, dev } => format!("delete {container}:{dev}"),
            Action::CreateVeth { want, .. } => format!("veth {} {}", want.outer, want.ip.unwrap()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "delete node_1-eth0",
            "delete c1:eth0",
            "delete router-eth0",
            "delete r:eth0",
            "veth node_1-eth0 10.0.1.20/24",
        ]
    );
}

#[test]
fn what_is_not_ours_is_a_conflict_and_never_touched() {
    let cfg = config(TWO_NODES, &[]);
    let (d, _) = desire("p", &cfg, &[svc("c1", "node", 1)]);
    let mut observed = Observed::default();
    observed.switch.push(Iface {
        name: "s1".into(),
        alias: None,
    });
    observed.switch.push(Iface {
        name: "other".into(),
        alias: Some("docker-link-net q 0123".into()),
    });
    observed.containers.insert(
        "c1".into(),
        vec![Iface {
            name: "eth0".into(),
            alias: None,
        }],
    );
    let (actions, conflicts) = plan(&d, &observed);
    assert_eq!(
        actions,
        [],
        "another project's interface and foreign ones stay"
    );
    assert_eq!(
        conflicts,
        [
            "bridge s1: an interface of that name exists in the switch namespace and is not ours",
            "link eth0 of container c1: the container already has an interface eth0 that is not ours",
        ]
    );
}

#[test]
fn a_patch_joins_its_two_ends_and_rejoins_after_one_restarts() {
    let cfg = config(
        "x-network:\n  bridges: [{bridge: p1, mode: patch}]\n  links:\n    - {container: a, bridge: p1}\n    - {container: b, bridge: p1}\n",
        &[],
    );
    let a = Instance {
        id: "A".into(),
        name: "a".into(),
        service: None,
    };
    let b = Instance {
        id: "B".into(),
        name: "b".into(),
        service: None,
    };
    let (alone, _) = desire("p", &cfg, std::slice::from_ref(&a));
    assert_eq!(alone.veths[0].patch, None, "one end waits for the other");
    assert!(alone.bridges.is_empty(), "a patch is no bridge");
    let (d, _) = desire("p", &cfg, &[a, b]);
    assert_eq!(d.veths[0].patch.as_deref(), Some("b-eth0"));
    assert_eq!(d.veths[1].patch.as_deref(), Some("a-eth0"));
    assert_eq!(d.veths[0].master, None);
    // b restarted: its end is gone; it is created again and both are patched anew, a's end
    // is kept.
    let mut observed = applied(&d);
    observed.switch.retain(|i| i.name != "b-eth0");
    observed.containers.remove("B");
    let (actions, _) = plan(&d, &observed);
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(matches!(&actions[0], Action::CreateVeth { want, .. } if want.outer == "b-eth0"));
    assert_eq!(
        actions[1],
        Action::Patch {
            a: "a-eth0".into(),
            b: "b-eth0".into()
        }
    );
}

/// A link without `nat` keeps the mark earlier versions gave it (the field is left out of
/// the fingerprint when unset: an upgrade recreates nothing); one with it differs.
#[test]
fn nat_changes_the_mark_only_when_set() {
    let (d, _) = desire("p", &config(TWO_NODES, &[]), &[svc("c1", "node", 1)]);
    let v = d.veths[0].clone();
    let json = serde_json::to_value(&v).unwrap();
    assert!(json.get("nat").is_none(), "{json}");
    let with = VethWant {
        nat: Some("10.0.0.9".parse().unwrap()),
        ..v.clone()
    };
    assert_ne!(veth_mark("p", &with), veth_mark("p", &v));
}

#[test]
fn marks_name_their_project() {
    assert_eq!(owner("docker-link-net proj 0123abcd"), Some("proj"));
    assert_eq!(owner("something else"), None);
    assert_eq!(
        owner(&mark("x", &BridgeWant { name: "s".into() })),
        Some("x")
    );
}

/// The port forwarder, once it runs, gets a link on each forwarded bridge with the prefix's
/// last address, and a table with a rule per running target (replica k: port + k - 1); the
/// table is set when the kernel's differs and left alone when it matches.
#[test]
fn the_forwarder_is_wired_and_its_table_follows_the_targets() {
    let cfg = config(
        "x-network:\n  links:\n    - {service: web, bridge: s1, ip: 10.1.0.1/24, forward: 8080:80/tcp}\n",
        &[("web", 3)],
    );
    let fw = Instance {
        id: "f".into(),
        name: crate::net::forward::container_name("p"),
        service: None,
    };
    // Without the forwarder running: no link of its own, no table.
    let (d, _) = desire("p", &cfg, &[svc("w1", "web", 1)]);
    assert_eq!(d.veths.len(), 1);
    assert!(d.forward.is_none());
    let (d, _) = desire(
        "p",
        &cfg,
        &[svc("w1", "web", 1), svc("w3", "web", 3), fw.clone()],
    );
    let own = d.veths.iter().find(|v| v.container == "f").unwrap();
    assert_eq!(own.dev, crate::net::forward::dev_name("s1"));
    assert_eq!(own.ip.unwrap().to_string(), "10.1.0.254/24");
    assert_eq!(own.master.as_deref(), Some("s1"));
    assert!(own.routes.is_empty() && own.nat.is_none());
    let f = d.forward.as_ref().unwrap();
    assert_eq!(f.container, "f");
    let dnat: Vec<String> = f.table.chains[0]
        .rules
        .iter()
        .map(|r| r.to_nft(f.table.family))
        .collect();
    assert_eq!(
        dnat,
        [
            "iifname \"eth0\" meta nfproto ipv4 meta l4proto tcp th dport 8080 dnat ip to 10.1.0.1:80",
            "iifname \"eth0\" meta nfproto ipv4 meta l4proto tcp th dport 8082 dnat ip to 10.1.0.3:80",
        ]
    );
    let mut observed = applied(&d);
    let (actions, _) = plan(&d, &observed);
    assert_eq!(
        actions,
        [Action::SetForwards {
            container: "f".into(),
            table: f.table.clone()
        }]
    );
    observed.forward = Some(crate::sys::nft::TableState {
        comment: Some(f.table.fingerprint()),
        chains: f
            .table
            .chains
            .iter()
            .map(|c| (c.name.clone(), (0..c.rules.len() as u64).collect()))
            .collect(),
    });
    assert_eq!(plan(&d, &observed).0, []);
    // A replica that stops: its rule goes (the kernel took its link with its namespace).
    observed.containers.remove("w3");
    observed.switch.retain(|i| i.name != "web_3-eth0");
    let (d2, _) = desire("p", &cfg, &[svc("w1", "web", 1), fw]);
    let (actions, _) = plan(&d2, &observed);
    assert!(
        matches!(actions.as_slice(), [Action::SetForwards { table, .. }] if table.chains[0].rules.len() == 1),
        "{actions:?}"
    );
}
