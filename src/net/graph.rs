//! The topology a configuration declares, as conlink's net2dot draws it: containers (each
//! replica of a scaled service), bridges and patches, tunnels, host parents of *vlan links,
//! and the links between them. Graphviz dot or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::config::{BridgeMode, LinkType, NetConfig};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Node {
    pub(crate) id: String,
    /// `container`, `bridge`, `patch`, `tunnel`, `host-interface`.
    pub(crate) kind: &'static str,
    pub(crate) label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) to: String,
    /// The container-side interface.
    pub(crate) dev: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Graph {
    pub(crate) project: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
}

/// compose v2's container name of replica `k`.
pub(crate) fn replica_name(project: &str, service: &str, k: u32) -> String {
    format!("{project}-{service}-{k}")
}

/// The graph of `config` for `project`, with each service's replica count.
pub(crate) fn build(project: &str, config: &NetConfig, scales: &BTreeMap<String, u32>) -> Graph {
    let mut g = Graph {
        project: project.to_string(),
        ..Default::default()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut node = |g: &mut Graph, id: String, kind: &'static str, label: String| {
        if seen.insert(id.clone()) {
            g.nodes.push(Node { id, kind, label });
        }
    };
    for b in &config.bridges {
        let kind = if b.mode == BridgeMode::Patch {
            "patch"
        } else {
            "bridge"
        };
        node(
            &mut g,
            format!("bridge:{}", b.bridge),
            kind,
            b.bridge.clone(),
        );
    }
    for t in &config.tunnels {
        let id = format!("tunnel:{}", t.dev());
        node(
            &mut g,
            id.clone(),
            "tunnel",
            format!("{} to {}", t.dev(), t.remote),
        );
        g.edges.push(Edge {
            from: id,
            to: format!("bridge:{}", t.bridge),
            dev: t.dev(),
            ip: None,
            kind: "tunnel",
        });
    }
    for l in &config.links {
        let instances: Vec<(String, u64)> = match (&l.service, &l.container) {
            (Some(s), _) => {
                let n = scales.get(s).copied().unwrap_or(1).max(1);
                (1..=n)
                    .map(|k| (replica_name(project, s, k), u64::from(k - 1)))
                    .collect()
            }
            (None, Some(c)) => vec![(c.clone(), 0)],
            (None, None) => Vec::new(),
        };
        for (name, offset) in instances {
            let id = format!("container:{name}");
            node(&mut g, id.clone(), "container", name);
            let to = match (&l.bridge, &l.outer_dev) {
                (Some(b), _) => format!("bridge:{b}"),
                (None, Some(parent)) if l.kind != LinkType::Dummy => {
                    let pid = format!("host:{parent}");
                    node(&mut g, pid.clone(), "host-interface", parent.clone());
                    pid
                }
                _ => id.clone(),
            };
            g.edges.push(Edge {
                from: id,
                to,
                dev: l.dev.clone(),
                ip: l.ip.and_then(|c| c.offset(offset)).map(|c| c.to_string()),
                kind: l.kind.name(),
            });
        }
    }
    // The port forwarder (`net::forward`): the host's published ports, a link on each bridge
    // a forward crosses.
    let publish = super::forward::publish(config, scales);
    if !publish.is_empty() {
        let name = super::forward::container_name(project);
        let id = format!("container:{name}");
        node(
            &mut g,
            id.clone(),
            "forwarder",
            format!("{name} (publishes {})", publish.join(", ")),
        );
        for (bridge, ip) in super::forward::addresses(config) {
            g.edges.push(Edge {
                from: id.clone(),
                to: format!("bridge:{bridge}"),
                dev: super::forward::dev_name(&bridge),
                ip: Some(ip.to_string()),
                kind: "veth",
            });
        }
    }
    g
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz: `dot -Tsvg`.
pub(crate) fn to_dot(g: &Graph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph {} {{", quote(&g.project));
    let _ = writeln!(out, "  node [fontname=\"sans-serif\"];");
    for n in &g.nodes {
        let shape = match n.kind {
            "container" => "box",
            "bridge" => "ellipse",
            "patch" => "diamond",
            "tunnel" => "cds",
            "forwarder" => "house",
            _ => "hexagon",
        };
        let _ = writeln!(
            out,
            "  {} [label={}, shape={shape}];",
            quote(&n.id),
            quote(&n.label)
        );
    }
    for e in &g.edges {
        let label = match &e.ip {
            Some(ip) => format!("{}\\n{ip}", e.dev),
            None => e.dev.clone(),
        };
        let _ = writeln!(
            out,
            "  {} -- {} [label=\"{}\"];",
            quote(&e.from),
            quote(&e.to),
            label.replace('"', "\\\"")
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::config::{load, Defaults, Source, SourceKind};

    /// The graph of project `proj` from a compose file's text, with service `web` scaled to 2.
    fn graph(compose: &str) -> Graph {
        let src = Source {
            name: "c.yaml".into(),
            kind: SourceKind::Compose,
            value: crate::net::config::parse_document(compose).unwrap(),
        };
        let scales: BTreeMap<String, u32> = [("web".to_string(), 2)].into();
        let cfg = load(
            &[src],
            &Default::default(),
            &BTreeMap::new(),
            &Defaults::default(),
        )
        .unwrap()
        .config;
        build("proj", &cfg, &scales)
    }

    #[test]
    fn replicas_bridges_tunnels_and_patches() {
        let g = graph("x-network:\n  bridges: [{bridge: p, mode: patch}]\n  links:\n    - {service: web, bridge: s, ip: 10.0.0.10/24}\n    - {container: c, dev: eth1, bridge: p}\n    - {container: d, bridge: p}\n  tunnels:\n    - {type: vxlan, bridge: s, remote: 192.0.2.1, vni: 7}\n");
        let kinds: Vec<(&str, &str)> = g.nodes.iter().map(|n| (n.id.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("bridge:p", "patch"),
                ("bridge:s", "bridge"),
                ("tunnel:vxlan-7", "tunnel"),
                ("container:proj-web-1", "container"),
                ("container:proj-web-2", "container"),
                ("container:c", "container"),
                ("container:d", "container"),
            ]
        );
        let ips: Vec<Option<&str>> = g.edges.iter().map(|e| e.ip.as_deref()).collect();
        assert_eq!(
            ips,
            [None, Some("10.0.0.10/24"), Some("10.0.0.11/24"), None, None]
        );
        let dot = to_dot(&g);
        assert!(dot.starts_with("graph \"proj\" {\n"), "{dot}");
        assert!(
            dot.contains(
                "  \"container:proj-web-2\" -- \"bridge:s\" [label=\"eth0\\n10.0.0.11/24\"];\n"
            ),
            "{dot}"
        );
        assert!(
            dot.contains("  \"bridge:p\" [label=\"p\", shape=diamond];\n"),
            "{dot}"
        );
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["edges"][0]["type"], "tunnel");
    }

    #[test]
    fn the_port_forwarder_is_a_node_on_the_bridges_it_forwards_to() {
        let g = graph("x-network:\n  links:\n    - {service: web, bridge: s, ip: 10.0.0.10/24, forward: ['8080:80/tcp']}\n");
        let fw = g.nodes.iter().find(|n| n.kind == "forwarder").unwrap();
        assert_eq!(fw.id, "container:docker-link-net-proj-forward");
        assert_eq!(
            fw.label,
            "docker-link-net-proj-forward (publishes 8080:8080/tcp, 8081:8081/tcp)"
        );
        let e = g.edges.iter().find(|e| e.from == fw.id).unwrap();
        assert_eq!(
            (e.to.as_str(), e.ip.as_deref()),
            ("bridge:s", Some("10.0.0.254/24"))
        );
        assert!(to_dot(&g).contains("shape=house"));
    }
}
