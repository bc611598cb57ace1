//! Realizing links on a parent's link network: the parent attached, each child attached with
//! exactly the aliases its parent gives it, nobody else. A pure [`plan`] turns what should be
//! and what is into actions; [`apply`] carries them out and goes on past errors.
//!
//! Every member gets a fixed address from the network's subnet, chosen here: a child keeps
//! its address for the life of the link (across restarts of the child and of the daemon), so
//! the `<ALIAS>_PORT_…_ADDR` variables computed at the parent's creation stay true, and no
//! dynamic allocation on the network can take a stopped member's address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::network;
use super::pool::Subnet;
use crate::docker::engine::{Attach, Endpoint, Engine};
use crate::graph::model::{short, View};

/// What should be: members of the network and their aliases (the parent has none). Only the
/// containers in `scope` are looked at; one in scope and not in `members` must not be there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub members: BTreeMap<String, BTreeSet<String>>,
    pub scope: BTreeSet<String>,
}

/// What is: the network's subnet, each scoped container's endpoint there (None: not
/// attached), and every address in use on the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub subnet: Option<Subnet>,
    pub endpoints: BTreeMap<String, Option<Endpoint>>,
    pub used: BTreeSet<Ipv4Addr>,
    /// Scoped containers that no longer exist (removed since the caller's read): nothing to
    /// attach, and no failure.
    pub gone: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Attach {
        container: String,
        aliases: BTreeSet<String>,
        ip: Ipv4Addr,
    },
    /// Aliases of an attached container cannot change in place: disconnect, then connect
    /// with the same address.
    Reattach {
        container: String,
        aliases: BTreeSet<String>,
        ip: Ipv4Addr,
    },
    Detach {
        container: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the link network has no subnet of ours")]
    NoSubnet,
    #[error("the link network's subnet {0} has no free address left")]
    Full(Subnet),
}

/// The first free host address of `subnet`: not the network address, the gateway (the first
/// host) or the broadcast address, and not in `used`.
fn free_address(subnet: &Subnet, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    let base = u32::from(subnet.addr);
    let size = u32::try_from(subnet.size()).ok()?;
    (2..size.saturating_sub(1))
        .map(|k| Ipv4Addr::from(base + k))
        .find(|ip| !used.contains(ip))
}

pub fn plan(desired: &Desired, observed: &Observed) -> Result<Vec<Action>, PlanError> {
    let mut used = observed.used.clone();
    let mut actions = Vec::new();
    for container in &desired.scope {
        if observed.gone.contains(container) {
            continue;
        }
        let now = observed.endpoints.get(container).cloned().flatten();
        let Some(aliases) = desired.members.get(container) else {
            if now.is_some() {
                actions.push(Action::Detach {
                    container: container.clone(),
                });
            }
            continue;
        };
        // Its fixed address, else the one it has (pinned from now on), else a free one.
        let kept = now.as_ref().and_then(|e| {
            e.static_ip
                .or_else(|| e.ip.parse().ok())
                .filter(|ip| observed.subnet.is_some_and(|s| s.contains(*ip)))
        });
        match (&now, kept) {
            (Some(e), Some(ip)) if e.static_ip.is_some() => {
                let have: BTreeSet<String> = e.aliases.iter().cloned().collect();
                if have != *aliases {
                    actions.push(Action::Reattach {
                        container: container.clone(),
                        aliases: aliases.clone(),
                        ip,
                    });
                }
            }
            (Some(_), Some(ip)) => actions.push(Action::Reattach {
                container: container.clone(),
                aliases: aliases.clone(),
                ip,
            }),
            (now, _) => {
                let subnet = observed.subnet.ok_or(PlanError::NoSubnet)?;
                let ip = free_address(&subnet, &used).ok_or(PlanError::Full(subnet))?;
                used.insert(ip);
                let container = container.clone();
                let aliases = aliases.clone();
                actions.push(if now.is_some() {
                    Action::Reattach {
                        container,
                        aliases,
                        ip,
                    }
                } else {
                    Action::Attach {
                        container,
                        aliases,
                        ip,
                    }
                });
            }
        }
    }
    Ok(actions)
}

/// Reads what [`plan`] needs: the network (subnet, running members) and each scoped
/// container's endpoint on it (stopped ones included: a container's own configuration keeps
/// its endpoint and fixed address while it is stopped).
pub async fn observe<E: Engine>(
    engine: &E,
    net: &str,
    scope: &BTreeSet<String>,
) -> anyhow::Result<Observed> {
    let info = engine.inspect_network(net).await?;
    // The endpoints below are keyed by network name in a container's inspect.
    let net = info.name.as_str();
    let subnet = info
        .subnets
        .iter()
        .find_map(|s| Subnet::parse_normalizing(s).ok());
    let mut used: BTreeSet<Ipv4Addr> = info
        .members
        .values()
        .filter_map(|m| m.ip.parse().ok())
        .collect();
    // All at once: the watcher's latency from a child's start to its link is this read plus
    // one connect, and a parent's children are inspected together.
    let inspected = futures_util::future::join_all(scope.iter().map(|id| async move {
        match engine.inspect_container(id).await {
            Ok(c) => Ok((id, Some(c.networks.get(net).cloned()))),
            Err(e) if e.is_not_found() => Ok((id, None)),
            Err(e) => Err(e),
        }
    }))
    .await;
    let mut endpoints = BTreeMap::new();
    let mut gone = BTreeSet::new();
    for result in inspected {
        let (id, ep) = match result? {
            (id, Some(ep)) => (id, ep),
            (id, None) => {
                gone.insert(id.clone());
                continue;
            }
        };
        if let Some(e) = &ep {
            used.extend(e.static_ip);
            used.extend(e.ip.parse::<Ipv4Addr>().ok());
        }
        endpoints.insert(id.clone(), ep);
    }
    Ok(Observed {
        subnet,
        endpoints,
        used,
        gone,
    })
}

/// Carries out the actions, each independently; returns every failure.
pub async fn apply<E: Engine>(engine: &E, net: &str, actions: &[Action]) -> Vec<anyhow::Error> {
    let mut errors = Vec::new();
    for action in actions {
        let result: anyhow::Result<()> = async {
            match action {
                Action::Attach {
                    container,
                    aliases,
                    ip,
                } => connect(engine, net, container, aliases, *ip).await,
                Action::Reattach {
                    container,
                    aliases,
                    ip,
                } => {
                    match engine.disconnect(net, container).await {
                        Err(e) if !e.is_not_found() => return Err(e.into()),
                        _ => {}
                    }
                    connect(engine, net, container, aliases, *ip).await
                }
                Action::Detach { container } => match engine.disconnect(net, container).await {
                    Err(e) if !e.is_not_found() => Err(e.into()),
                    _ => Ok(()),
                },
            }
        }
        .await;
        if let Err(e) = result {
            errors.push(e);
        }
    }
    errors
}

async fn connect<E: Engine>(
    engine: &E,
    net: &str,
    container: &str,
    aliases: &BTreeSet<String>,
    ip: Ipv4Addr,
) -> anyhow::Result<()> {
    let attach = Attach {
        aliases: aliases.iter().cloned().collect(),
        ipv4: Some(ip),
    };
    engine.connect(net, container, &attach).await?;
    Ok(())
}

/// The members a parent's link network should have, from the view: the parent, and each
/// child under the aliases the parent gives it.
pub fn desired_of(view: &View, parent: &str, scope: BTreeSet<String>) -> Desired {
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if view.node(parent).is_some() {
        members.insert(parent.to_string(), BTreeSet::new());
    }
    for (name, child, _) in view.children(parent) {
        members
            .entry(child.to_string())
            .or_default()
            .insert(name.to_string());
    }
    Desired { members, scope }
}

/// Brings `parent`'s link network in line with `view` for the containers in `scope` (the
/// parent and the children a write touched). The network must exist.
pub async fn realize<E: Engine>(
    engine: &E,
    view: &View,
    parent: &str,
    scope: BTreeSet<String>,
) -> anyhow::Result<()> {
    let Some(node) = view.node(parent) else {
        return Ok(());
    };
    let net = network::network_of(node);
    let desired = desired_of(view, parent, scope);
    converge(engine, &net, None, &desired)
        .await
        .map_err(|e| e.context(format!("the link network {net} of {}", short(parent))))
}

/// [`realize`] on the network of id `network_id` (the watcher knows it from its last read):
/// one listing fewer on the way to the connect.
pub(crate) async fn realize_on<E: Engine>(
    engine: &E,
    view: &View,
    parent: &str,
    scope: BTreeSet<String>,
    network_id: &str,
) -> anyhow::Result<()> {
    let Some(node) = view.node(parent) else {
        return Ok(());
    };
    let net = network::network_of(node);
    let desired = desired_of(view, parent, scope);
    converge(engine, &net, Some(network_id), &desired)
        .await
        .map_err(|e| e.context(format!("the link network {net} of {}", short(parent))))
}

/// How many times [`converge`] observes and plans again after a failed action.
const ROUNDS: usize = 5;

/// Observe, plan, apply, until nothing is left to do. Level-triggered: a concurrent command
/// that attached the parent or took the address we chose only makes the next round's plan
/// different.
/// `known`: the network's id when the caller knows it (the first round uses it; later rounds
/// look the network up again).
pub async fn converge<E: Engine>(
    engine: &E,
    net: &str,
    known: Option<&str>,
    desired: &Desired,
) -> anyhow::Result<()> {
    let mut last: Vec<anyhow::Error> = Vec::new();
    for round in 0..ROUNDS {
        if round > 0 {
            // Let the concurrent command finish what made this round necessary.
            let ms = 50 + crate::random_u64() % 150;
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        // By id: a twin of the same name made by a concurrent command would make every request
        // by name ambiguous until its maker removes it.
        let looked_up = match known {
            Some(id) if round == 0 => Ok(Some(id.to_string())),
            _ => network::keeper(engine, net).await.map(|n| n.map(|n| n.id)),
        };
        let id = match looked_up {
            Ok(Some(id)) => id,
            Ok(None) if desired.members.len() <= 1 && round == 0 => return Ok(()),
            Ok(None) => {
                last = vec![anyhow::anyhow!("no such network {net}")];
                continue;
            }
            Err(e) => {
                last = vec![e];
                continue;
            }
        };
        let net = id.as_str();
        let observed = match observe(engine, net, &desired.scope).await {
            Ok(o) => o,
            Err(e) if desired.members.len() <= 1 && round == 0 => {
                // No links left, and no network to leave: nothing to do.
                tracing::debug!("{}", crate::describe(&e));
                return Ok(());
            }
            Err(e) => {
                last = vec![e];
                continue;
            }
        };
        let actions = plan(desired, &observed).map_err(|e| anyhow::anyhow!("{e}"))?;
        if actions.is_empty() {
            return Ok(());
        }
        last = apply(engine, net, &actions).await;
        if last.is_empty() {
            return Ok(());
        }
        tracing::debug!("realizing {net}, round {round}: {} failed", last.len());
    }
    let all: Vec<String> = last.iter().map(crate::describe).collect();
    anyhow::bail!("{}", all.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn ep(ip_now: &str, fixed: Option<&str>, aliases: &[&str]) -> Option<Endpoint> {
        Some(Endpoint {
            ip: ip_now.to_string(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            static_ip: fixed.map(|s| s.parse().unwrap()),
        })
    }

    #[test]
    fn table() {
        let subnet: Subnet = "10.199.0.0/29".parse().unwrap();
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a [&'a str])>,
            Vec<(&'a str, Option<Endpoint>)>,
            &'a [&'a str],
            Vec<Action>,
        );
        let cases: Vec<Case> = vec![
            (
                "a new link: parent and child attached with fixed addresses",
                vec![("p", &[]), ("c", &["db"])],
                vec![("p", None), ("c", None)],
                &[],
                vec![
                    Action::Attach {
                        container: "c".into(),
                        aliases: set(&["db"]),
                        ip: ip("10.199.0.2"),
                    },
                    Action::Attach {
                        container: "p".into(),
                        aliases: set(&[]),
                        ip: ip("10.199.0.3"),
                    },
                ],
            ),
            (
                "nothing to do",
                vec![("p", &[]), ("c", &["db"])],
                vec![
                    ("p", ep("10.199.0.3", Some("10.199.0.3"), &[])),
                    ("c", ep("", Some("10.199.0.2"), &["db"])),
                ],
                &["10.199.0.2", "10.199.0.3"],
                vec![],
            ),
            (
                "a second alias keeps the address",
                vec![("c", &["db", "cache"])],
                vec![("c", ep("10.199.0.2", Some("10.199.0.2"), &["db"]))],
                &["10.199.0.2"],
                vec![Action::Reattach {
                    container: "c".into(),
                    aliases: set(&["cache", "db"]),
                    ip: ip("10.199.0.2"),
                }],
            ),
            (
                "an address without a fixed one is pinned",
                vec![("c", &["db"])],
                vec![("c", ep("10.199.0.4", None, &["db"]))],
                &["10.199.0.4"],
                vec![Action::Reattach {
                    container: "c".into(),
                    aliases: set(&["db"]),
                    ip: ip("10.199.0.4"),
                }],
            ),
            (
                "a removed link detaches the child",
                vec![("p", &[])],
                vec![
                    ("p", ep("10.199.0.3", Some("10.199.0.3"), &[])),
                    ("c", ep("", Some("10.199.0.2"), &["db"])),
                ],
                &[],
                vec![Action::Detach {
                    container: "c".into(),
                }],
            ),
            (
                "addresses of stopped members are not given away",
                vec![("c2", &["two"])],
                vec![("c2", None)],
                &["10.199.0.2", "10.199.0.3"],
                vec![Action::Attach {
                    container: "c2".into(),
                    aliases: set(&["two"]),
                    ip: ip("10.199.0.4"),
                }],
            ),
        ];
        for (what, members, endpoints, used, want) in cases {
            let desired = Desired {
                members: members
                    .iter()
                    .map(|(c, a)| (c.to_string(), set(a)))
                    .collect(),
                scope: endpoints.iter().map(|(c, _)| c.to_string()).collect(),
            };
            let observed = Observed {
                subnet: Some(subnet),
                endpoints: endpoints
                    .into_iter()
                    .map(|(c, e)| (c.to_string(), e))
                    .collect(),
                used: used.iter().map(|s| ip(s)).collect(),
                ..Default::default()
            };
            assert_eq!(plan(&desired, &observed), Ok(want), "{what}");
        }
    }

    #[test]
    fn a_full_subnet_is_an_error() {
        let subnet: Subnet = "10.199.0.0/30".parse().unwrap();
        let desired = Desired {
            members: BTreeMap::from([("c".to_string(), set(&["db"]))]),
            scope: set(&["c"]),
        };
        let observed = Observed {
            subnet: Some(subnet),
            endpoints: BTreeMap::new(),
            used: BTreeSet::from([ip("10.199.0.2")]),
            ..Default::default()
        };
        assert_eq!(plan(&desired, &observed), Err(PlanError::Full(subnet)));
    }

    #[test]
    fn a_container_removed_since_the_read_is_no_work_and_no_failure() {
        let desired = Desired {
            members: BTreeMap::from([("p".to_string(), set(&[])), ("c".to_string(), set(&["db"]))]),
            scope: set(&["p", "c"]),
        };
        let observed = Observed {
            subnet: Some("10.199.0.0/29".parse().unwrap()),
            endpoints: BTreeMap::from([(
                "p".to_string(),
                ep("10.199.0.2", Some("10.199.0.2"), &[]),
            )]),
            used: BTreeSet::from([ip("10.199.0.2")]),
            gone: set(&["c"]),
        };
        assert_eq!(plan(&desired, &observed), Ok(vec![]));
    }
}
