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
/// none runs).
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
            let m = veth_mark(&desired.project, v);
            // A macvlan (or a dummy) has no switch end: the container's is the whole link.
            let outer = if v.in_container_only() {
                observed
                    .containers
                    .get(&inst.id)
                    .and_then(|ifs| ifs.iter().find(|i| i.name == v.dev))
            } else {
                observed.switch.iter().find(|i| i.name == v.outer)
            };
            let inner = observed
                .containers
                .get(&inst.id)
                .and_then(|ifs| ifs.iter().find(|i| i.name == v.dev));
            let ours =
                |a: &Option<String>| a.as_deref().and_then(owner) == Some(desired.project.as_str());
            (row.state, row.reason) = match (outer, inner) {
                (Some(o), Some(i))
                    if o.alias.as_deref() == Some(&m) && i.alias.as_deref() == Some(&m) =>
                {
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
                    "changed since it was wired (the configuration or by hand): run docker net up"
                        .into(),
                ),
            };
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::config::{load, Defaults, Source, SourceKind};
    use crate::net::plan::{desire, Iface};

    #[test]
    fn every_state() {
        let src = Source {
            name: "c.yaml".into(),
            kind: SourceKind::Compose,
            value: crate::net::config::parse_document(
                "x-network:\n  links:\n    - {service: node, bridge: s, ip: 10.0.0.14/29}\n    - {container: lone, bridge: s}\n    - {container: r, bridge: s}\n",
            )
            .unwrap(),
        };
        let cfg = load(
            &[src],
            &Default::default(),
            &Default::default(),
            &Defaults::default(),
        )
        .unwrap()
        .config;
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
}
