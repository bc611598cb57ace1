//! The watcher's reachability step: the 2013 promise enforced on every link network of this
//! namespace. Each pass gathers, for each parent, its link network's bridge, its own address
//! there and each child's address and exposed ports; `links::reach::plan` turns that into
//! one nf_tables table, and `sys::nft` puts it in place atomically when it differs from what
//! the kernel holds (a fingerprint in the table's comment; a table changed or removed by hand
//! is drift and is put back).
//!
//! Addresses are the fixed ones `links::realize` gives (kept across restarts), so a child's
//! rules exist before it starts again: no window after a restart. What a container exposes
//! cannot change after its creation, so it is read once per container.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::docker::engine::{ContainerInfo, Engine};
use crate::graph::model::View;
use crate::links::network::{self, LinkNetwork};
use crate::links::reach::{self, Child, DefaultBridge, LinkNet, Pair, Ports};
use crate::sys::netns::NetNs;
use crate::sys::nft;

/// What the rules need of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub exposed: Vec<Ports>,
    /// Network name → its address there (the fixed one, else the current one).
    pub addrs: BTreeMap<String, IpAddr>,
}

impl Facts {
    fn of(info: &ContainerInfo) -> Facts {
        Facts {
            exposed: info
                .exposed_ports
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
            addrs: info
                .networks
                .iter()
                .filter_map(|(net, e)| {
                    let ip = e.static_ip.map(IpAddr::V4).or_else(|| e.ip.parse().ok())?;
                    Some((net.clone(), ip))
                })
                .collect(),
        }
    }
}

/// The bridge interface Docker made for a network it named (`br-` and 12 hex of its id).
pub(crate) fn bridge_of(net: &LinkNetwork) -> String {
    format!("br-{}", &net.id[..net.id.len().min(12)])
}

/// The link networks as the rules see them: for each parent of `parents` whose network
/// exists, the parent's address and each child's address and exposed ports there. A member
/// with no address on the network yet is left out until it has one.
pub(crate) fn link_nets(
    view: &View,
    parents: &BTreeSet<String>,
    networks: &[LinkNetwork],
    facts: &BTreeMap<String, Facts>,
) -> Vec<LinkNet> {
    let by_name: BTreeMap<&str, &LinkNetwork> =
        networks.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut out = Vec::new();
    for parent in parents {
        let Some(node) = view.node(parent) else {
            continue;
        };
        let name = network::network_of(node);
        let Some(net) = by_name.get(name.as_str()) else {
            continue;
        };
        let addr = |id: &str| facts.get(id).and_then(|f| f.addrs.get(&name)).copied();
        let Some(parent_addr) = addr(parent) else {
            continue;
        };
        let mut children: BTreeMap<&str, Child> = BTreeMap::new();
        for (_, child, _) in view.children(parent) {
            let Some(a) = addr(child) else {
                continue;
            };
            children.entry(child).or_insert_with(|| Child {
                addrs: vec![a],
                ports: facts
                    .get(child)
                    .map(|f| f.exposed.clone())
                    .unwrap_or_default(),
            });
        }
        out.push(LinkNet {
            bridge: bridge_of(net),
            parent: vec![parent_addr],
            children: children.into_values().collect(),
        });
    }
    out
}

/// `--icc=false` on the default bridge: each link whose parent and child are both on it
/// (addresses as the bridge has them now: they change when a container restarts, and the
/// start's event makes the next pass read them again).
pub(crate) fn default_bridge(
    view: &View,
    parents: &BTreeSet<String>,
    bridge: &crate::docker::engine::NetworkInfo,
    facts: &BTreeMap<String, Facts>,
) -> DefaultBridge {
    let addr = |id: &str| -> Option<IpAddr> { bridge.members.get(id)?.ip.parse().ok() };
    let mut links = Vec::new();
    for parent in parents {
        let Some(p) = addr(parent) else {
            continue;
        };
        let mut seen = BTreeSet::new();
        for (_, child, _) in view.children(parent) {
            if !seen.insert(child) {
                continue;
            }
            let Some(c) = addr(child) else {
                continue;
            };
            links.push(Pair {
                parent: p,
                child: c,
                ports: facts
                    .get(child)
                    .map(|f| f.exposed.clone())
                    .unwrap_or_default(),
            });
        }
    }
    DefaultBridge {
        bridge: bridge
            .bridge
            .clone()
            .unwrap_or_else(|| "docker0".to_string()),
        links,
    }
}

/// The nf_tables table of a registry namespace.
pub(crate) fn table_name(ns: &str) -> String {
    if ns == "default" {
        reach::TABLE.to_string()
    } else {
        format!("{}-{ns}", reach::TABLE)
    }
}

/// Where the rules go and what is known of the containers.
pub(crate) struct Rules {
    table: String,
    /// The daemon's namespace when it is not ours (a local daemon in a namespace of its own);
    /// None: ours (the watcher's container runs in the host's).
    netns: Option<std::sync::Arc<NetNs>>,
    facts: BTreeMap<String, Facts>,
    /// `--icc=false`: on the default bridge too, new connections only along links.
    icc_off: bool,
    /// Why rules cannot be enforced here, once found out.
    pub unavailable: Option<String>,
}

impl Rules {
    pub(crate) fn new(ns: &str, netns: Option<NetNs>, icc_off: bool) -> Rules {
        Rules {
            table: table_name(ns),
            netns: netns.map(std::sync::Arc::new),
            facts: BTreeMap::new(),
            icc_off,
            unavailable: None,
        }
    }

    /// Runs `f` (blocking netlink work) in the daemon's namespace, off the async threads.
    async fn in_daemon_ns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        match &self.netns {
            Some(ns) => Ok(crate::sys::netns::run_in_async(ns, move |_| async move { f() }).await?),
            None => Ok(tokio::task::spawn_blocking(f).await?),
        }
    }

    /// Checks once that nf_tables can enforce the rules here; says why not otherwise.
    pub(crate) async fn probe(&mut self) {
        match self.in_daemon_ns(nft::probe).await {
            Ok(Ok(_)) => self.unavailable = None,
            Ok(Err(e)) => self.unavailable = Some(e.to_string()),
            Err(e) => self.unavailable = Some(crate::describe(&e)),
        }
        if let Some(why) = &self.unavailable {
            tracing::warn!("links are not isolated by rules here: {why}");
        }
    }

    /// Brings the table in line with the links; returns whether it was (re)written.
    pub(crate) async fn sync<E: Engine>(
        &mut self,
        engine: &E,
        view: &View,
        parents: &BTreeSet<String>,
        networks: &[LinkNetwork],
        changed: &super::Dirty,
    ) -> anyhow::Result<bool> {
        if self.unavailable.is_some() {
            return Ok(false);
        }
        if changed.all {
            self.facts.clear();
        }
        for id in &changed.ids {
            self.facts.remove(id);
        }
        // Facts of every parent and child of ours not known yet.
        let mut wanted: BTreeSet<&str> = BTreeSet::new();
        for p in parents {
            wanted.insert(p);
            wanted.extend(view.children(p).map(|(_, c, _)| c));
        }
        self.facts.retain(|id, _| wanted.contains(id.as_str()));
        for id in wanted {
            if self.facts.contains_key(id) {
                continue;
            }
            match engine.inspect_container(id).await {
                Ok(info) => {
                    self.facts.insert(id.to_string(), Facts::of(&info));
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        let default = if self.icc_off {
            let bridge = engine.inspect_network("bridge").await?;
            Some(default_bridge(view, parents, &bridge, &self.facts))
        } else {
            None
        };
        let table = reach::plan(
            &self.table,
            &link_nets(view, parents, networks, &self.facts),
            default.as_ref(),
        );
        let name = self.table.clone();
        let want = table.clone();
        let wrote = self
            .in_daemon_ns(move || -> Result<bool, nft::NftError> {
                let held = nft::list_table(want.family, &name)?;
                if held.is_some_and(|h| h.matches(&want)) {
                    return Ok(false);
                }
                nft::replace_table(&want)?;
                Ok(true)
            })
            .await??;
        if wrote {
            tracing::info!(
                "rules of {} link network(s) in place ({} rules)",
                table.chains.len().saturating_sub(1),
                table.rule_count()
            );
        }
        Ok(wrote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::fixtures::{edge, id, node};
    use crate::graph::model::{Stored, ROOT};

    #[test]
    fn link_nets_from_the_graph_and_the_facts() {
        let mut stored = Stored::new();
        stored.edges.insert(edge(&id('a'), "redis", &id('b')));
        stored.edges.insert(edge(&id('a'), "cache", &id('c')));
        stored.edges.insert(edge(&id('a'), "later", &id('d')));
        stored.edges.insert(edge(ROOT, "db1", &id('b')));
        let view = View::build(
            vec![
                node('a', &["web"]),
                node('b', &["redis"]),
                node('c', &["cache"]),
                node('d', &["d"]),
            ],
            &stored,
        );
        let net = network::name_for(&id('a'));
        let networks = vec![LinkNetwork {
            id: "0123456789abcdef".into(),
            name: net.clone(),
            parent: id('a'),
            created: None,
            members: Default::default(),
        }];
        let facts_of = |ip: &str, ports: &[&str]| Facts {
            exposed: ports.iter().map(|p| p.parse().unwrap()).collect(),
            addrs: BTreeMap::from([(net.clone(), ip.parse().unwrap())]),
        };
        let facts = BTreeMap::from([
            (id('a'), facts_of("10.199.0.2", &[])),
            (id('b'), facts_of("10.199.0.3", &["6379/tcp"])),
            (id('c'), facts_of("10.199.0.4", &["11211/tcp", "11211/udp"])),
            // d has no address there yet: left out until it has one.
        ]);
        let got = link_nets(&view, &BTreeSet::from([id('a')]), &networks, &facts);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].bridge, "br-0123456789ab");
        assert_eq!(got[0].parent, ["10.199.0.2".parse::<IpAddr>().unwrap()]);
        let children: Vec<(String, usize)> = got[0]
            .children
            .iter()
            .map(|c| (c.addrs[0].to_string(), c.ports.len()))
            .collect();
        assert_eq!(
            children,
            [("10.199.0.3".to_string(), 1), ("10.199.0.4".to_string(), 2)]
        );
        // A parent not of ours, or without a network: nothing.
        assert!(link_nets(&view, &BTreeSet::new(), &networks, &facts).is_empty());
        assert!(link_nets(&view, &BTreeSet::from([id('a')]), &[], &facts).is_empty());
    }

    #[test]
    fn links_on_the_default_bridge() {
        let mut stored = Stored::new();
        stored.edges.insert(edge(&id('a'), "redis", &id('b')));
        stored.edges.insert(edge(&id('a'), "gone", &id('c')));
        let view = View::build(
            vec![
                node('a', &["web"]),
                node('b', &["redis"]),
                node('c', &["c"]),
            ],
            &stored,
        );
        let member = |ip: &str| crate::docker::engine::Member { ip: ip.into() };
        let bridge = crate::docker::engine::NetworkInfo {
            name: "bridge".into(),
            bridge: Some("docker0".into()),
            // c is not on the default bridge.
            members: BTreeMap::from([
                (id('a'), member("172.17.0.2")),
                (id('b'), member("172.17.0.3")),
            ]),
            ..Default::default()
        };
        let facts = BTreeMap::from([(
            id('b'),
            Facts {
                exposed: vec!["6379/tcp".parse().unwrap()],
                addrs: BTreeMap::new(),
            },
        )]);
        let got = default_bridge(&view, &BTreeSet::from([id('a')]), &bridge, &facts);
        assert_eq!(got.bridge, "docker0");
        assert_eq!(
            got.links,
            [Pair {
                parent: "172.17.0.2".parse().unwrap(),
                child: "172.17.0.3".parse().unwrap(),
                ports: vec!["6379/tcp".parse().unwrap()],
            }]
        );
    }

    #[test]
    fn one_table_per_namespace() {
        assert_eq!(table_name("default"), "docker-link");
        assert_eq!(table_name("t"), "docker-link-t");
    }
}
