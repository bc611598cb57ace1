//! `docker net status`: every declared link, per container, with its state: up, waiting for
//! its container, failed (and why), or drift (changed by hand since it was wired). Pure:
//! computed from the configuration, what it asks for now and what the kernel holds.

use serde::Serialize;

use super::config::{NetConfig, Target};
use super::plan::{owner, veth_mark, Desired, Instance, Observed, Unwired};
use crate::output::{Column, Record};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Row {
    /// `service node` or `container router`.
    #[serde(rename = "Link")]
    pub link: String,
    #[serde(rename = "Dev")]
    pub dev: String,
    /// The container's name; `-` when none runs.
    #[serde(rename = "Container")]
    pub container: String,
    /// The switch-side interface.
    #[serde(rename = "Interface")]
    pub interface: String,
    #[serde(rename = "Address")]
    pub address: String,
    /// `up`, `waiting`, `failed`, `drift`, `down`.
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Reason")]
    pub reason: String,
}

impl Record for Row {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            Column::new("Link", "LINK"),
            Column::new("Dev", "DEV"),
            Column::new("Container", "CONTAINER"),
            Column::new("Interface", "INTERFACE"),
            Column::new("Address", "ADDRESS"),
            Column::new("State", "STATE"),
            Column::new("Reason", "REASON"),
        ];
        COLUMNS
    }
}

fn matches(target: &Target, i: &Instance) -> bool {
    match target {
        Target::Service(s) => i.service.as_ref().is_some_and(|(x, _)| x == s),
        Target::Container(c) => &i.name == c,
    }
}

/// One row per declared link and running container it applies to (one `waiting` row when
/// none runs), then the port forwarder's links and table when it runs.
pub(crate) fn rows(
    config: &NetConfig,
    desired: &Desired,
    unwired: &[Unwired],
    observed: &Observed,
    instances: &[Instance],
) -> Vec<Row> {
    let mut out = Vec::new();
    for l in &config.links {
        let target = l.target();
        let mut any = false;
        for inst in instances.iter().filter(|i| matches(&target, i)) {
            any = true;
            let mut row = Row {
                link: target.to_string(),
                dev: l.dev.clone(),
                container: inst.name.clone(),
                interface: "-".into(),
                address: "-".into(),
                state: String::new(),
                reason: String::new(),
            };
            if let Some(u) = unwired
                .iter()
                .find(|u| u.container == inst.name && u.dev == l.dev)
            {
                row.state = "failed".into();
                row.reason = u.reason.clone();
                out.push(row);
                continue;
            }
            let Some(v) = desired
                .veths
                .iter()
                .find(|v| v.container == inst.id && v.dev == l.dev)
            else {
                continue;
            };
            row.interface = v.outer.clone();
            row.address = v.ip.map(|a| a.to_string()).unwrap_or_else(|| "-".into());
            (row.state, row.reason) = veth_state(desired, observed, &inst.id, v);
            out.push(row);
        }
        if !any {
            out.push(Row {
                link: target.to_string(),
                dev: l.dev.clone(),
                container: "-".into(),
                interface: "-".into(),
                address: l.ip.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
                state: "waiting".into(),
                reason: "no running container".into(),
            });
        }
    }
    // The port forwarder (`net::forward`), when it runs: its links and its table.
    if let Some(f) = &desired.forward {
        let name = instances
            .iter()
            .find(|i| i.id == f.container)
            .map_or_else(|| f.container.clone(), |i| i.name.clone());
        for v in desired.veths.iter().filter(|v| v.container == f.container) {
            let (state, reason) = veth_state(desired, observed, &f.container, v);
            out.push(Row {
                link: "forwarder".into(),
                dev: v.dev.clone(),
                container: name.clone(),
                interface: v.outer.clone(),
                address: v.ip.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
                state,
                reason,
            });
        }
        let (state, reason) = match &observed.forward {
            Some(t) if t.matches(&f.table) => ("up", String::new()),
            Some(_) => (
                "drift",
                "the forwarding table changed since it was written: run docker net up".into(),
            ),
            None => ("down", "no forwarding table: run docker net up".into()),
        };
        out.push(Row {
            link: "forwarder".into(),
            dev: "nftables".into(),
            container: name,
            interface: "-".into(),
            address: "-".into(),
            state: state.into(),
            reason,
        });
    }
    out
}

/// The state of one wired link (a veth, macvlan or dummy wanted in `container`) and why.
fn veth_state(
    desired: &Desired,
    observed: &Observed,
    container: &str,
    v: &super::plan::VethWant,
) -> (String, String) {
    let m = veth_mark(&desired.project, v);
    // A macvlan (or a dummy) has no switch end: the container's is the whole link.
    let outer = if v.in_container_only() {
        observed
            .containers
            .get(container)
            .and_then(|ifs| ifs.iter().find(|i| i.name == v.dev))
    } else {
        observed.switch.iter().find(|i| i.name == v.outer)
    };
    let inner = observed
        .containers
        .get(container)
        .and_then(|ifs| ifs.iter().find(|i| i.name == v.dev));
    let ours = |a: &Option<String>| a.as_deref().and_then(owner) == Some(desired.project.as_str());
    match (outer, inner) {
        (Some(o), Some(i)) if o.alias.as_deref() == Some(&m) && i.alias.as_deref() == Some(&m) => {
            ("up".into(), String::new())
        }
        (_, Some(i)) if !ours(&i.alias) => (
            "failed".into(),
            format!("the container has an interface {} that is not ours", v.dev),
        ),
        (Some(o), _) if !ours(&o.alias) => (
            "failed".into(),
            format!("{} in the switch namespace is not ours", v.outer),
        ),
        (None, None) => ("down".into(), "not wired: run docker net up".into()),
        (None, Some(_)) => (
            "drift".into(),
            format!("{} is gone from the switch namespace", v.outer),
        ),
        (Some(_), None) => (
            "drift".into(),
            format!("{} is gone from the container", v.dev),
        ),
        _ => (
            "drift".into(),
            "changed since it was wired (the configuration or by hand): run docker net up".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::config::{load, Defaults, Source, SourceKind};
    use crate::net::plan::{desire, Iface};

    /// The configuration of a compose file's text.
    fn config(compose: &str) -> NetConfig {
        let src = Source {
            name: "c.yaml".into(),
            kind: SourceKind::Compose,
            value: crate::net::config::parse_document(compose).unwrap(),
        };
        load(
            &[src],
            &Default::default(),
            &Default::default(),
            &Defaults::default(),
        )
        .unwrap()
        .config
    }

    #[test]
    fn every_state() {
        let cfg = config("x-network:\n  links:\n    - {service: node, bridge: s, ip: 10.0.0.14/29}\n    - {container: lone, bridge: s}\n    - {container: r, bridge: s}\n");
        let inst: Vec<Instance> = (1..=4)
            .map(|k| Instance {
                id: format!("n{k}"),
                name: format!("p-node-{k}"),
                service: Some(("node".into(), k)),
            })
            .chain([Instance {
                id: "r".into(),
                name: "r".into(),
                service: None,
            }])
            .collect();
        let (d, unwired) = desire("p", &cfg, &inst);
        let mut o = Observed::default();
        let v1 = &d.veths[0];
        let m1 = veth_mark("p", v1);
        o.switch.push(Iface {
            name: v1.outer.clone(),
            alias: Some(m1.clone()),
        });
        o.containers.insert(
            "n1".into(),
            vec![Iface {
                name: "eth0".into(),
                alias: Some(m1),
            }],
        );
        // n2's end was deleted by hand in the container; r has a foreign eth0.
        let v2 = &d.veths[1];
        o.switch.push(Iface {
            name: v2.outer.clone(),
            alias: Some(veth_mark("p", v2)),
        });
        o.containers.insert(
            "r".into(),
            vec![Iface {
                name: "eth0".into(),
                alias: None,
            }],
        );
        let got: Vec<(String, String, String)> = rows(&cfg, &d, &unwired, &o, &inst)
            .into_iter()
            .map(|r| (r.container, r.state, r.reason))
            .collect();
        let want: Vec<(String, String, String)> = [
            ("p-node-1", "up", ""),
            ("p-node-2", "drift", "eth0 is gone from the container"),
            (
                "p-node-3",
                "failed",
                "replica 3 would get 10.0.0.14/29 + 2, outside 10.0.0.8/29",
            ),
            (
                "p-node-4",
                "failed",
                "replica 4 would get 10.0.0.14/29 + 3, outside 10.0.0.8/29",
            ),
            ("-", "waiting", "no running container"),
            (
                "r",
                "failed",
                "the container has an interface eth0 that is not ours",
            ),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn the_port_forwarder_has_rows_of_its_own() {
        let cfg = config("x-network:\n  links:\n    - {service: web, bridge: s, ip: 10.0.0.10/24, forward: ['8080:80/tcp']}\n");
        let inst = vec![
            Instance {
                id: "w1".into(),
                name: "p-web-1".into(),
                service: Some(("web".into(), 1)),
            },
            Instance {
                id: "fw".into(),
                name: crate::net::forward::container_name("p"),
                service: None,
            },
        ];
        let (d, unwired) = desire("p", &cfg, &inst);
        let mut o = Observed::default();
        let fv = d.veths.iter().find(|v| v.container == "fw").unwrap();
        let mark = veth_mark("p", fv);
        o.switch.push(Iface {
            name: fv.outer.clone(),
            alias: Some(mark.clone()),
        });
        o.containers.insert(
            "fw".into(),
            vec![Iface {
                name: fv.dev.clone(),
                alias: Some(mark),
            }],
        );
        let got: Vec<(String, String, String, String)> = rows(&cfg, &d, &unwired, &o, &inst)
            .into_iter()
            .filter(|r| r.link == "forwarder")
            .map(|r| (r.dev, r.address, r.state, r.reason))
            .collect();
        assert_eq!(
            got,
            [
                (
                    crate::net::forward::dev_name("s"),
                    "10.0.0.254/24".to_string(),
                    "up".to_string(),
                    String::new()
                ),
                (
                    "nftables".to_string(),
                    "-".to_string(),
                    "down".to_string(),
                    "no forwarding table: run docker net up".to_string()
                ),
            ]
        );
    }
}
