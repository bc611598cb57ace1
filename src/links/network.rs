//! Link networks: each parent's own internal network, with a subnet from the plugin's pool,
//! that the parent and its children join; a child joins under all the aliases its parent
//! gives it, so the parent resolves them through the engine's embedded DNS, and containers
//! that share no link share no network.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context as _;
use bollard::models::{
    EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest,
};
use bollard::query_parameters::ListNetworksOptions;
use bollard::Docker;

use super::pool::{Pool, Subnet};
use crate::graph::model::{short, Edge, View};
use crate::graph::store::{NAMESPACE_LABEL, ROLE_LABEL};

pub const LINK_NETWORK_ROLE: &str = "link-network";
/// The parent's full id, on its link network.
pub const PARENT_LABEL: &str = "docker-link.parent";

/// The link network of a parent.
pub fn network_name(parent: &str) -> String {
    format!("docker-link-{}", short(parent))
}

fn not_found(e: &bollard::errors::Error) -> bool {
    crate::docker::status(e) == Some(404)
}

/// Every IPv4 subnet the daemon's networks use.
async fn used_subnets(docker: &Docker) -> anyhow::Result<Vec<Subnet>> {
    let nets = docker
        .list_networks(None::<ListNetworksOptions>)
        .await
        .context("listing networks")?;
    Ok(nets
        .into_iter()
        .flat_map(|n| n.ipam.and_then(|i| i.config).unwrap_or_default())
        .filter_map(|c| Subnet::parse_normalizing(&c.subnet?).ok())
        .collect())
}

/// Makes sure the parent's link network exists; returns its name and whether this call
/// created it (so a failed command removes only what it made).
/// `parent` is the parent's id when it exists already (`docker link connect`); a network
/// made before its parent (`docker link run`) is named from the parent's own label instead.
pub async fn ensure(
    docker: &Docker,
    pool: &Pool,
    name: &str,
    parent: Option<&str>,
) -> anyhow::Result<bool> {
    let name = name.to_string();
    match docker
        .inspect_network(
            &name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(_) => return Ok(false),
        Err(e) if not_found(&e) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("inspecting network {name}"))),
    }
    let mut used = used_subnets(docker).await?;
    // Another command may take the same free subnet at the same moment: the daemon refuses
    // the overlap, and we move on to the next one.
    for _ in 0..16 {
        let subnet = pool.allocate(&used).with_context(|| {
            format!("the link subnet pool {pool} is full ({} networks): set DOCKER_LINK_POOL to a larger one", pool.capacity())
        })?;
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            internal: Some(true),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    gateway: Some(subnet.gateway().to_string()),
                    ..Default::default()
                }]),
                options: None,
            }),
            labels: Some(
                [
                    (ROLE_LABEL, LINK_NETWORK_ROLE),
                    (NAMESPACE_LABEL, crate::graph::store::namespace().as_str()),
                ]
                .into_iter()
                .chain(parent.map(|p| (PARENT_LABEL, p)))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..Default::default()
        };
        match docker.create_network(request).await {
            Ok(_) => return Ok(true),
            // Created by a concurrent command for the same parent.
            Err(e) if crate::docker::status(&e) == Some(409) => return Ok(false),
            Err(e) if e.to_string().contains("overlap") => used.push(subnet),
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("creating network {name} ({subnet})"))
                )
            }
        }
    }
    anyhow::bail!("creating network {name}: every subnet tried overlapped another network")
}

/// `GET /containers/{id}/json`, with the container named in the error.
async fn inspect(
    docker: &Docker,
    container: &str,
) -> anyhow::Result<bollard::models::ContainerInspectResponse> {
    docker
        .inspect_container(
            container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .with_context(|| format!("inspecting container {}", short(container)))
}

/// What a link to a child needs of it: its address, exposed ports and environment.
#[derive(Debug, Clone)]
pub struct Child {
    pub ip: String,
    pub ports: Vec<super::env::Port>,
    pub env: Vec<String>,
}

/// Reads a child in one request. Its address is the one on `network` when given (an error if
/// it has none there), else the one on `prefer` if any, else on its own networks before the
/// link networks it was joined to.
pub async fn child(
    docker: &Docker,
    id: &str,
    network: Option<&str>,
    prefer: Option<&str>,
) -> anyhow::Result<Child> {
    let info = inspect(docker, id).await?;
    let config = info.config.unwrap_or_default();
    let nets: BTreeMap<String, EndpointSettings> = info
        .network_settings
        .and_then(|s| s.networks)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let ip_on = |n: &str| {
        nets.get(n)
            .and_then(|e| e.ip_address.clone())
            .filter(|ip| !ip.is_empty())
    };
    let ip = match network {
        Some(n) => {
            ip_on(n).with_context(|| format!("container {} has no address on {n}", short(id)))?
        }
        None => prefer
            .and_then(ip_on)
            .or_else(|| {
                let mut eps: Vec<_> = nets.iter().collect();
                eps.sort_by_key(|(name, _)| name.starts_with("docker-link-"));
                eps.into_iter()
                    .filter_map(|(_, e)| e.ip_address.clone())
                    .find(|ip| !ip.is_empty())
            })
            .unwrap_or_default(),
    };
    let mut ports: Vec<super::env::Port> = config
        .exposed_ports
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    ports.sort();
    Ok(Child {
        ip,
        ports,
        env: config.env.unwrap_or_default(),
    })
}

/// The aliases `container` has on `network` now, or None when it is not attached.
async fn current_aliases(
    docker: &Docker,
    network: &str,
    container: &str,
) -> anyhow::Result<Option<BTreeSet<String>>> {
    let info = inspect(docker, container).await?;
    let nets = info
        .network_settings
        .and_then(|s| s.networks)
        .unwrap_or_default();
    Ok(nets.get(network).map(|ep| {
        ep.aliases
            .clone()
            .unwrap_or_default()
            .into_iter()
            // The engine adds the short id as an alias of its own.
            .filter(|a| a.as_str() != short(container))
            .collect()
    }))
}

/// Attaches `container` to `network` with exactly `aliases`; an empty list detaches it.
/// The engine cannot change the aliases of an attached container, so a change is a
/// disconnect and a connect (the address may change; DNS follows).
pub async fn set_aliases(
    docker: &Docker,
    network: &str,
    container: &str,
    aliases: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let now = current_aliases(docker, network, container).await?;
    if now.as_ref() == Some(aliases) {
        return Ok(());
    }
    if now.is_some() {
        match docker
            .disconnect_network(
                network,
                NetworkDisconnectRequest {
                    container: container.to_string(),
                    force: Some(true),
                },
            )
            .await
        {
            Err(e) if !not_found(&e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("disconnecting {} from {network}", short(container))))
            }
            _ => {}
        }
    }
    if aliases.is_empty() && now.is_some() {
        return Ok(());
    }
    let settings = EndpointSettings {
        aliases: (!aliases.is_empty()).then(|| aliases.iter().cloned().collect()),
        ..Default::default()
    };
    docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: container.to_string(),
                endpoint_config: Some(settings),
            },
        )
        .await
        .with_context(|| format!("connecting {} to {network}", short(container)))
}

/// Attaches `container` to `network` if it is not there yet (a parent: no aliases).
pub async fn join(docker: &Docker, network: &str, container: &str) -> anyhow::Result<()> {
    if current_aliases(docker, network, container).await?.is_some() {
        return Ok(());
    }
    docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: container.to_string(),
                endpoint_config: Some(EndpointSettings::default()),
            },
        )
        .await
        .with_context(|| format!("connecting {} to {network}", short(container)))
}

/// The aliases each child of `parent` should have on its link network, from the view.
pub fn desired_aliases(view: &View, parent: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, child, _) in view.children(parent) {
        out.entry(child.to_string())
            .or_default()
            .insert(name.to_string());
    }
    out
}

/// Removes a link network (disconnecting what is still on it).
pub async fn remove(docker: &Docker, network: &str) -> anyhow::Result<()> {
    if let Ok(info) = docker
        .inspect_network(
            network,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        for id in info.containers.unwrap_or_default().keys() {
            let _ = docker
                .disconnect_network(
                    network,
                    NetworkDisconnectRequest {
                        container: id.clone(),
                        force: Some(true),
                    },
                )
                .await;
        }
    }
    match docker.remove_network(network).await {
        Err(e) if !not_found(&e) => {
            Err(anyhow::Error::new(e).context(format!("removing network {network}")))
        }
        _ => Ok(()),
    }
}

/// One link network as the daemon has it.
#[derive(Debug, Clone)]
pub struct LinkNetwork {
    pub name: String,
    pub parent: String,
    /// When it was made, if the daemon says (RFC 3339).
    pub created: Option<String>,
    /// Attached containers and their aliases.
    pub members: BTreeMap<String, BTreeSet<String>>,
}

/// Every link network of this registry namespace, with its members.
pub async fn list(docker: &Docker) -> anyhow::Result<Vec<LinkNetwork>> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{ROLE_LABEL}={LINK_NETWORK_ROLE}"),
            format!("{NAMESPACE_LABEL}={}", crate::graph::store::namespace()),
        ],
    )]);
    let nets = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .context("listing link networks")?;
    let mut out = Vec::new();
    for n in nets {
        let Some(name) = n.name else { continue };
        let parent = n
            .labels
            .and_then(|l| l.get(PARENT_LABEL).cloned())
            .unwrap_or_default();
        let info = match docker
            .inspect_network(
                &name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(i) => i,
            Err(e) if not_found(&e) => continue,
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("inspecting network {name}")))
            }
        };
        let mut members = BTreeMap::new();
        for id in info.containers.unwrap_or_default().keys() {
            let aliases = current_aliases(docker, &name, id)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            members.insert(id.clone(), aliases);
        }
        let created = info.created.map(|c| c.to_string());
        out.push(LinkNetwork {
            name,
            parent,
            created,
            members,
        });
    }
    Ok(out)
}

/// The link edges the link networks still show: what can be rebuilt when the registry was
/// removed by hand.
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

/// Seconds since the epoch of an RFC 3339 UTC time as the daemon writes it
/// (`2026-12-01T21:40:12.123456789Z`; an offset is ignored: only the age matters, roughly).
pub fn epoch_seconds(t: &str) -> Option<i64> {
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut hms = time.get(..8)?.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (h, min, sec) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3_600 + min * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_ages() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_seconds("2000-03-01T00:00:01.5Z"), Some(951_868_801));
        assert_eq!(
            epoch_seconds("2026-12-01T21:40:12.123456789Z"),
            Some(1_796_161_212)
        );
        assert_eq!(epoch_seconds("garbage"), None);
    }

    #[test]
    fn edges_from_networks() {
        let n = LinkNetwork {
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
}
