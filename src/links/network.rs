//! Link networks as the daemon has them: one internal bridge network per parent, its subnet
//! from the plugin's own pool, named and labelled so that prune and the tests find it. What a
//! link needs of a child (its address on a network, exposed ports, environment) is read here
//! too.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;

use super::pool::{Pool, Subnet};
use crate::docker::engine::{Engine, Labels, ListFilter, NetworkInfo, NetworkSpec};
use crate::graph::model::{short, Edge, Node};
use crate::labels;

/// How many times a network create may meet a subnet that a concurrent writer just took.
const CREATE_ATTEMPTS: usize = 64;

/// The link network of a parent linked with `docker link connect`.
pub fn name_for(parent: &str) -> String {
    format!("docker-link-{}", short(parent))
}

/// The link network of a parent: the one `docker link run` named in its label, else the one
/// named after its id.
pub fn network_of(node: &Node) -> String {
    node.labels
        .get(labels::NETWORK)
        .cloned()
        .unwrap_or_else(|| name_for(&node.id))
}

/// Makes sure the link network `name` exists; returns whether this call created it (so that a
/// failed command removes only what it made). `parent` is the parent's id when it exists
/// already (`docker link connect`); a network made before its parent (`docker link run`) is
/// found through the parent's own label instead.
pub async fn ensure<E: Engine>(
    engine: &E,
    pool: &Pool,
    ns: &str,
    name: &str,
    parent: Option<&str>,
) -> anyhow::Result<bool> {
    match twins(engine, name).await?.len() {
        0 => {}
        1 => return Ok(false),
        // Twins left by an earlier race: the keeper stays, the others go if they can.
        _ => {
            settle(engine, ns, name).await?;
            return Ok(false);
        }
    }
    let mut labels = Labels::from([
        (
            labels::ROLE.to_string(),
            labels::LINK_NETWORK_ROLE.to_string(),
        ),
        (labels::NAMESPACE.to_string(), ns.to_string()),
    ]);
    if let Some(p) = parent {
        labels.insert(labels::PARENT.to_string(), p.to_string());
    }
    let mut taken: Vec<Subnet> = Vec::new();
    for attempt in 0..CREATE_ATTEMPTS {
        // Fresh every time: a concurrent writer may just have taken a subnet.
        let mut used: Vec<Subnet> = engine
            .list_networks(&[])
            .await?
            .iter()
            .flat_map(|n| &n.subnets)
            .filter_map(|s| Subnet::parse_normalizing(s).ok())
            .collect();
        used.extend(&taken);
        let free = pool.free(&used, 8);
        let Some(first) = free.first() else {
            anyhow::bail!(
                "the link subnet pool {pool} is full ({} networks): set DOCKER_LINK_POOL to a larger one",
                pool.capacity()
            );
        };
        // Writers that allocate at the same moment pick different subnets, mostly.
        let subnet = if attempt == 0 && free.len() == 1 {
            *first
        } else {
            free[(crate::random_u64() % free.len() as u64) as usize]
        };
        let spec = NetworkSpec {
            name: name.to_string(),
            labels: labels.clone(),
            subnet: subnet.to_string(),
            gateway: subnet.gateway().to_string(),
            internal: true,
        };
        match engine.create_network(&spec).await {
            Ok(()) => return settle(engine, ns, name).await,
            // Made by a concurrent command for the same parent.
            Err(e) if e.is_conflict() => return Ok(false),
            Err(e) if e.is_overlap() => taken.push(subnet),
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!(
        "creating network {name}: {CREATE_ATTEMPTS} subnets in a row were taken by others at the same moment"
    )
}

/// Link networks named `name`, the keeper first. Two writers can create the same name at once
/// (an engine of API 1.41 checks names outside of its lock); then every request by name is
/// ambiguous, so link networks are always addressed by the id of the oldest of that name.
async fn twins<E: Engine>(engine: &E, name: &str) -> anyhow::Result<Vec<NetworkInfo>> {
    let mut twins: Vec<NetworkInfo> = engine
        .list_networks(&[labels::role(labels::LINK_NETWORK_ROLE)])
        .await?
        .into_iter()
        .filter(|n| n.name == name)
        .collect();
    twins.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
    Ok(twins)
}

/// The link network `name` stands for: the oldest of that name.
pub async fn keeper<E: Engine>(engine: &E, name: &str) -> anyhow::Result<Option<NetworkInfo>> {
    Ok(twins(engine, name).await?.into_iter().next())
}

/// After our create: the keeper stays, the other twins go. Returns whether only ours exists.
async fn settle<E: Engine>(engine: &E, _ns: &str, name: &str) -> anyhow::Result<bool> {
    let twins = twins(engine, name).await?;
    if twins.len() < 2 {
        return Ok(true);
    }
    // We do not know which twin is ours: every later one goes, and whoever made one of them
    // finds the keeper here too. Removing a twin someone else removed first is no error.
    for n in &twins[1..] {
        match engine.remove_network(&n.id).await {
            Err(e) if !e.is_not_found() => tracing::debug!("removing a twin of {name}: {e}"),
            _ => {}
        }
    }
    Ok(false)
}

/// Removes a link network, disconnecting whatever is still attached, stopped containers
/// included (a stopped container that names a removed network cannot start again). A network
/// already gone counts as removed.
pub async fn remove<E: Engine>(engine: &E, name: &str) -> anyhow::Result<()> {
    for net in twins(engine, name).await? {
        let mut attached: BTreeSet<String> = match engine.inspect_network(&net.id).await {
            Ok(info) => info.members.keys().cloned().collect(),
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        };
        let configured = engine
            .list_containers(&ListFilter {
                network: Some(net.id.clone()),
                ..Default::default()
            })
            .await?;
        attached.extend(configured.containers.into_iter().map(|c| c.id));
        for id in &attached {
            if let Err(e) = engine.disconnect(&net.id, id).await {
                if !e.is_not_found() {
                    tracing::debug!("{e}");
                }
            }
        }
        match engine.remove_network(&net.id).await {
            Err(e) if !e.is_not_found() => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// What a link to a child needs of it: its address, exposed ports and environment.
#[derive(Debug, Clone)]
pub struct Child {
    pub ip: String,
    pub ports: Vec<super::env::Port>,
    pub env: Vec<String>,
}

/// Reads a child in one request. Its address is the one on `network` when given (its fixed
/// address there, known even before it runs; an error if it has none), else the one on
/// `prefer` if any, else on its own networks before the link networks it was joined to.
pub async fn child<E: Engine>(
    engine: &E,
    id: &str,
    network: Option<&str>,
    prefer: Option<&str>,
) -> anyhow::Result<Child> {
    let info = engine.inspect_container(id).await?;
    let ip_on = |n: &str| {
        info.networks.get(n).and_then(|e| {
            e.static_ip
                .map(|ip| ip.to_string())
                .or_else(|| Some(e.ip.clone()))
                .filter(|ip| !ip.is_empty())
        })
    };
    let ip = match network {
        Some(n) => {
            ip_on(n).with_context(|| format!("container {} has no address on {n}", short(id)))?
        }
        None => prefer
            .and_then(ip_on)
            .or_else(|| {
                let mut eps: Vec<_> = info.networks.iter().collect();
                eps.sort_by_key(|(name, _)| name.starts_with("docker-link-"));
                eps.into_iter()
                    .map(|(_, e)| e.ip.clone())
                    .find(|ip| !ip.is_empty())
            })
            .unwrap_or_default(),
    };
    let mut ports: Vec<super::env::Port> = info
        .exposed_ports
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    ports.sort();
    Ok(Child {
        ip,
        ports,
        env: info.env,
    })
}

/// One link network as the daemon has it.
#[derive(Debug, Clone)]
pub struct LinkNetwork {
    pub id: String,
    pub name: String,
    /// The parent's id for networks made by `docker link connect`; empty for those made by
    /// `docker link run` (the parent names its network in a label).
    pub parent: String,
    /// When it was made (RFC 3339), if the daemon says.
    pub created: Option<String>,
    /// Running members and their aliases there.
    pub members: BTreeMap<String, BTreeSet<String>>,
}

/// Every link network of a registry namespace. With `members`, each network and each running
/// member is inspected (for rebuilding lost links); without, one listing.
pub async fn list<E: Engine>(
    engine: &E,
    ns: &str,
    members: bool,
) -> anyhow::Result<Vec<LinkNetwork>> {
    let nets = engine
        .list_networks(&[
            labels::role(labels::LINK_NETWORK_ROLE),
            labels::namespace(ns),
        ])
        .await?;
    let mut out = Vec::new();
    for n in nets {
        let parent = n.labels.get(labels::PARENT).cloned().unwrap_or_default();
        let mut found = BTreeMap::new();
        if members {
            // By id: twins of one name would make a request by name ambiguous.
            let info = match engine.inspect_network(&n.id).await {
                Ok(i) => i,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            for id in info.members.keys() {
                let aliases = match engine.inspect_container(id).await {
                    Ok(c) => c
                        .networks
                        .get(&n.name)
                        .map(|e| e.aliases.iter().cloned().collect())
                        .unwrap_or_default(),
                    Err(_) => BTreeSet::new(),
                };
                found.insert(id.clone(), aliases);
            }
        }
        out.push(LinkNetwork {
            id: n.id,
            name: n.name,
            parent,
            created: n.created,
            members: found,
        });
    }
    Ok(out)
}

/// The link edges the link networks still show: what can be rebuilt when the registry was
/// lost.
pub fn edges_of(networks: &[LinkNetwork]) -> Vec<Edge> {
    let mut out = Vec::new();
    // Networks of parents made by `docker link run` have no parent label: their links are
    // declared on the parent itself and need no rebuilding.
    for n in networks.iter().filter(|n| !n.parent.is_empty()) {
        for (member, aliases) in &n.members {
            if *member == n.parent {
                continue;
            }
            for alias in aliases {
                out.push(Edge {
                    parent: n.parent.clone(),
                    name: alias.clone(),
                    child: member.clone(),
                });
            }
        }
    }
    out
}

/// A link network as the tests need one: no members, made at `created`.
#[cfg(test)]
pub(crate) fn fixture(name: &str, parent: &str, created: &str) -> LinkNetwork {
    LinkNetwork {
        id: format!("{name}-id"),
        name: name.into(),
        parent: parent.into(),
        created: Some(created.into()),
        members: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_from_networks() {
        let n = LinkNetwork {
            id: "nid".into(),
            name: "n".into(),
            parent: "p".into(),
            created: None,
            members: BTreeMap::from([
                ("p".to_string(), BTreeSet::new()),
                (
                    "c".to_string(),
                    BTreeSet::from(["a1".to_string(), "a2".to_string()]),
                ),
            ]),
        };
        let e = edges_of(&[n]);
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|e| e.parent == "p" && e.child == "c"));
    }

    #[test]
    fn concurrent_creates_move_on_to_free_subnets() {
        let fake = crate::docker::fake::Fake::new();
        let pool: Pool = "base=10.199.0.0/24,size=26".parse().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // Another writer took the subnet we would pick first, between our listing and our
            // create: the daemon refuses the overlap and we move on.
            // inspect (0), list (1), create (2).
            fake.fail_at(
                2,
                crate::docker::EngineError::Overlap {
                    what: "creating network".into(),
                    message: "Pool overlaps".into(),
                },
            );
            assert!(ensure(&fake, &pool, "t", "n1", Some("p1")).await.unwrap());
            assert!(!ensure(&fake, &pool, "t", "n1", Some("p1")).await.unwrap());
            for i in 2..=4 {
                ensure(&fake, &pool, "t", &format!("n{i}"), None)
                    .await
                    .unwrap();
            }
            let err = ensure(&fake, &pool, "t", "n5", None).await.unwrap_err();
            assert!(err.to_string().contains("pool"), "{err}");
            let nets = list(&fake, "t", false).await.unwrap();
            assert_eq!(nets.len(), 4);
            assert_eq!(nets.iter().filter(|n| n.parent == "p1").count(), 1);
        });
    }
}
