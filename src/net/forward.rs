//! `forward`: ports published on the daemon's host and sent on into containers that may have
//! no other network than the project's links (`network_mode: none`), as conlink forwards
//! from its own container.
//!
//! A forwarder container of the project (the self image, idle) holds the ports Docker
//! publishes for it, so Docker does the host's side as for any `-p` (every host address,
//! loopback by its proxy) and nothing of ours lands in the host's namespace. The forwarder
//! gets one link on each bridge a forward crosses, with the last address of that link's
//! prefix (validation keeps the links off it), and in its namespace one nf_tables table:
//! a published port arriving on its `eth0` goes to its target's address and port (DNAT);
//! what leaves by a bridge comes from the forwarder's address there (SNAT), so a target
//! answers on its own link and needs no route back. Replica k of a scaled service gets the
//! forward's host port + k - 1, as conlink does.

use std::collections::BTreeMap;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::addr::Cidr;
use super::config::{NetConfig, Proto};
use crate::docker::engine::{ContainerSpec, Engine};
use crate::labels;
use crate::sys::nft;

/// The forwarder container of a project.
pub(crate) fn container_name(project: &str) -> String {
    format!("docker-link-net-{project}-forward")
}

/// The forwarder's interface on `bridge`, inside its namespace: short, stable, and never a
/// name a configuration gives (`fw-` and 8 hex digits).
pub(crate) fn dev_name(bridge: &str) -> String {
    let h = Sha256::digest(bridge.as_bytes());
    format!("fw-{:02x}{:02x}{:02x}{:02x}", h[0], h[1], h[2], h[3])
}

/// The forwarder's address on each bridge a forward crosses: the last address of the prefix
/// of the first forwarded link on it (validation checks that the others share the prefix).
pub(crate) fn addresses(config: &NetConfig) -> BTreeMap<String, Cidr> {
    let mut out = BTreeMap::new();
    for l in config.links.iter().filter(|l| !l.forward.is_empty()) {
        if let (Some(b), Some(last)) = (&l.bridge, l.ip.and_then(|ip| ip.last_host())) {
            out.entry(b.clone()).or_insert(last);
        }
    }
    out
}

/// The ports the forwarder publishes (`HOST:HOST/proto`, sorted): every forward once for each
/// replica the compose files declare (`scales`; a container target once), its host port
/// + k - 1 for replica k.
pub(crate) fn publish(config: &NetConfig, scales: &BTreeMap<String, u32>) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for l in &config.links {
        let n = l
            .service
            .as_ref()
            .map_or(1, |s| scales.get(s).copied().unwrap_or(1).max(1));
        for f in &l.forward {
            for k in 0..n {
                if let Ok(port) = u16::try_from(u32::from(f.host) + k) {
                    out.insert((port, f.proto));
                }
            }
        }
    }
    out.into_iter()
        .map(|(port, proto)| format!("{port}:{port}/{}", proto_name(proto)))
        .collect()
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

/// One published port sent on to a running target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rule {
    pub proto: Proto,
    pub port: u16,
    pub to: IpAddr,
    pub to_port: u16,
}

/// The nf_tables table of the forwarder's namespace.
pub(crate) const TABLE: &str = "docker-link-net-forward";

/// The table for these bridges (their forwarder addresses) and rules.
pub(crate) fn table(addresses: &BTreeMap<String, Cidr>, rules: &[Rule]) -> nft::Table {
    use nft::{Base, Chain, Hook, IpVersion, Match, Policy, Rule as NftRule, Verdict, L4};
    let base = |hook, priority| {
        Some(Base {
            hook,
            priority,
            policy: Policy::Accept,
        })
    };
    let mut rules = rules.to_vec();
    rules.sort();
    rules.dedup();
    nft::Table {
        family: nft::Family::Inet,
        name: TABLE.to_string(),
        chains: vec![
            Chain {
                name: "dnat".into(),
                // dstnat, as nft names it.
                base: base(Hook::NatPrerouting, -100),
                rules: rules
                    .iter()
                    .map(|r| NftRule {
                        matches: vec![
                            // Docker delivers published ports to the forwarder's only
                            // interface of its own.
                            Match::Iifname("eth0".into()),
                            Match::Ip(IpVersion::of(&r.to)),
                            Match::L4(match r.proto {
                                Proto::Tcp => L4::Tcp,
                                Proto::Udp => L4::Udp,
                            }),
                            Match::Dport(r.port, r.port),
                        ],
                        verdict: Verdict::Dnat(r.to, Some(r.to_port)),
                    })
                    .collect(),
            },
            Chain {
                name: "snat".into(),
                // srcnat.
                base: base(Hook::NatPostrouting, 100),
                rules: addresses
                    .iter()
                    .map(|(bridge, a)| NftRule {
                        matches: vec![
                            Match::Oifname(dev_name(bridge)),
                            Match::Ip(IpVersion::of(&a.addr)),
                        ],
                        verdict: Verdict::Snat(a.addr),
                    })
                    .collect(),
            },
        ],
    }
}

/// What [`converge`] did with the forwarder container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Converged {
    /// No forward is declared and there is no forwarder.
    Nothing,
    Made,
    /// Made again: the ports to publish changed (Docker cannot change a container's).
    Remade,
    /// Started again (it was stopped).
    Started,
    Kept,
    Removed,
}

/// Makes the project's forwarder publish exactly `publish` (none: no forwarder). Its links
/// and table come from the reconcile that follows (`up`, the watcher on its start).
pub(crate) async fn converge<E: Engine>(
    engine: &E,
    registry: &str,
    project: &str,
    publish: &[String],
) -> anyhow::Result<Converged> {
    use anyhow::Context as _;
    let name = container_name(project);
    let want = publish.join(",");
    let existing = match engine.inspect_container(&name).await {
        Ok(c) => Some(c),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    let mut remade = false;
    if let Some(c) = &existing {
        if publish.is_empty() {
            crate::docker::engine::remove_if_present(engine, &c.id, true).await?;
            return Ok(Converged::Removed);
        }
        if c.labels.get(labels::NET_FORWARD) == Some(&want) {
            if c.state == Some(crate::docker::engine::State::Running) {
                return Ok(Converged::Kept);
            }
            engine
                .start_container(&c.id)
                .await
                .with_context(|| format!("starting the port forwarder {name}"))?;
            return Ok(Converged::Started);
        }
        crate::docker::engine::remove_if_present(engine, &c.id, true).await?;
        remade = true;
    }
    if publish.is_empty() {
        return Ok(Converged::Nothing);
    }
    let mut l = crate::docker::engine::Labels::new();
    l.insert(
        labels::ROLE.to_string(),
        labels::NET_FORWARDER_ROLE.to_string(),
    );
    l.insert(labels::NET_PROJECT.to_string(), project.to_string());
    l.insert(labels::NAMESPACE.to_string(), registry.to_string());
    l.insert(labels::NET_FORWARD.to_string(), want);
    let spec = ContainerSpec {
        name: name.clone(),
        image: engine.self_image().await?,
        cmd: vec![crate::graph::store::IDLE_ARG.to_string()],
        labels: l,
        keep_running: true,
        publish: publish.to_vec(),
        // It routes between its eth0 and the bridges.
        sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
        ..Default::default()
    };
    let id = engine
        .create_container(&spec)
        .await
        .with_context(|| format!("creating the port forwarder {name}"))?;
    if let Err(e) = engine.start_container(&id).await {
        // A host port taken by another program fails here: leave nothing behind.
        let _ = crate::docker::engine::remove_if_present(engine, &id, true).await;
        return Err(anyhow::Error::new(e).context(format!(
            "starting the port forwarder {name} (publishing {})",
            publish.join(" ")
        )));
    }
    Ok(if remade {
        Converged::Remade
    } else {
        Converged::Made
    })
}

/// Removes the project's forwarder; false when there was none.
pub(crate) async fn remove<E: Engine>(engine: &E, project: &str) -> anyhow::Result<bool> {
    match engine
        .remove_container(&container_name(project), true)
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
