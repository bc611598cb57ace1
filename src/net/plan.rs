//! From a configuration and the containers that run to what the kernel should hold
//! ([`desire`]), and from that and what it holds to the actions that close the gap
//! ([`plan`]). Pure: the kernel is read and written by [`super::kernel`].
//!
//! Everything we create carries a mark in its interface alias (`IFLA_IFALIAS`):
//! `docker-link-net <project> <fingerprint>`, the fingerprint a hash of everything the object
//! was created from. So a second `up` finds every object with its fingerprint and does
//! nothing; a changed configuration replaces exactly the objects whose fingerprint changed;
//! an object without our mark is never touched (a name taken by someone else is a conflict,
//! reported).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::addr::{outer_name, Cidr, Mac};
use super::config::{BridgeMode, LinkType, NetConfig, Route, Target, TunnelType};

/// The alias prefix of everything `docker net` creates.
pub(crate) const MARK: &str = "docker-link-net";

/// A running container of the project, as the daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instance {
    /// The container's id: the key of its namespace in [`Observed::containers`].
    pub id: String,
    /// Its name (without the slash).
    pub name: String,
    /// The compose service and replica number, when it is one.
    pub service: Option<(String, u32)>,
}

/// A linux bridge in the switch namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BridgeWant {
    pub name: String,
}

/// A veth: `outer` in the switch namespace, `dev` in the container's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct VethWant {
    pub outer: String,
    /// The container's id.
    pub container: String,
    pub dev: String,
    pub mac: Mac,
    pub mtu: u32,
    pub ip: Option<Cidr>,
    pub routes: Vec<String>,
    /// The linux bridge its outer end joins.
    pub master: Option<String>,
    /// For a patch: the other end's outer name (tc mirred both ways).
    pub patch: Option<String>,
    /// conlink's `nat`: what arrives on `dev` goes to this address (DNAT), what leaves by
    /// `dev` comes from the link's own address (SNAT). Left out of the fingerprint when unset,
    /// so the marks of links without it are those earlier versions made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat: Option<std::net::IpAddr>,
    /// Offload settings of the container's end (`ethtool`), after conlink's default for
    /// veths (tx off), which is applied to every veth and is not part of the fingerprint.
    /// Left out of the fingerprint when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ethtool: Vec<(crate::sys::ethtool::Offload, bool)>,
    /// netem's `rate`, in bytes per second: a tbf qdisc on the container's end. Left out of
    /// the fingerprint when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
    /// A link on a parent interface of the host instead of a veth (macvlan, macvtap, vlan,
    /// ipvlan, ipvtap): no switch end (`outer` names the parent). Left out of the
    /// fingerprint when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macvlan: Option<MacvlanWant>,
    /// A dummy interface made in the container itself: no other end at all. Left out of the
    /// fingerprint when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dummy: bool,
}

impl VethWant {
    /// Whether the whole link is in the container (a link on a parent, a dummy): nothing of
    /// it is in the switch namespace.
    pub(crate) fn in_container_only(&self) -> bool {
        self.macvlan.is_some() || self.dummy
    }
}

/// A macvlan link: made on `parent` in the namespace `up` runs in, its end placed straight in
/// the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MacvlanWant {
    pub parent: String,
    /// bridge, private, vepa, passthru or source (the kernel's default: vepa; conlink's and
    /// ours: bridge, so that two containers on one parent reach each other).
    pub mode: String,
    /// A macvtap (a macvlan with a tap character device for a VM's process) instead; with
    /// `ipvlan`, an ipvtap.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tap: bool,
    /// An 802.1Q vlan of the parent with this id instead (`mode` unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// An ipvlan (the parent's MAC; `mode` l2, l3 or l3s) instead.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ipvlan: bool,
}

/// A tunnel end in the switch namespace (its socket in the namespace `up` runs in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TunnelWant {
    pub name: String,
    pub kind: TunnelType,
    pub vni: u32,
    pub remote: std::net::IpAddr,
    pub port: u16,
    pub master: Option<String>,
    pub patch: Option<String>,
}

/// What the kernel should hold for one project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Desired {
    pub project: String,
    pub bridges: Vec<BridgeWant>,
    pub veths: Vec<VethWant>,
    pub tunnels: Vec<TunnelWant>,
    /// The port forwarder's table, when the forwarder runs (`net::forward`).
    pub forward: Option<ForwardWant>,
}

/// The nf_tables table of the running port forwarder: a rule for each running target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForwardWant {
    /// The forwarder's container id.
    pub container: String,
    pub table: crate::sys::nft::Table,
}

/// Why a declared link is not wired (a replica pushed out of its prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unwired {
    pub container: String,
    pub dev: String,
    pub reason: String,
}

fn fingerprint<T: Serialize>(x: &T) -> String {
    let json = serde_json::to_vec(x).unwrap_or_default();
    let h = Sha256::digest(&json);
    h.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// A link on a parent interface (its kind, mode and vlan id), for the types that are one.
fn on_parent(l: &super::config::Link) -> Option<MacvlanWant> {
    let ipvlan = matches!(l.kind, LinkType::Ipvlan | LinkType::Ipvtap);
    let default_mode = match l.kind {
        LinkType::Macvlan | LinkType::Macvtap => "bridge",
        LinkType::Ipvlan | LinkType::Ipvtap => "l2",
        LinkType::Vlan => "",
        LinkType::Veth | LinkType::Dummy => return None,
    };
    Some(MacvlanWant {
        parent: l.outer_dev.clone().unwrap_or_default(),
        mode: l.mode.clone().unwrap_or_else(|| default_mode.to_string()),
        tap: matches!(l.kind, LinkType::Macvtap | LinkType::Ipvtap),
        vlan: (l.kind == LinkType::Vlan).then_some(l.vlanid).flatten(),
        ipvlan,
    })
}

/// The alias an object carries.
pub(crate) fn mark<T: Serialize>(project: &str, x: &T) -> String {
    format!("{MARK} {project} {}", fingerprint(x))
}

/// A veth's mark. The patch partner is not part of its fingerprint: a partner's restart
/// re-patches without recreating this end.
pub(crate) fn veth_mark(project: &str, v: &VethWant) -> String {
    mark(
        project,
        &VethWant {
            patch: None,
            ..v.clone()
        },
    )
}

/// The project an alias names, when it is our mark.
pub(crate) fn owner(alias: &str) -> Option<&str> {
    let mut words = alias.split(' ');
    (words.next() == Some(MARK)).then(|| words.next()).flatten()
}

/// What the configuration asks of the kernel for the containers that run now.
pub(crate) fn desire(
    project: &str,
    config: &NetConfig,
    instances: &[Instance],
) -> (Desired, Vec<Unwired>) {
    let mut d = Desired {
        project: project.to_string(),
        ..Default::default()
    };
    let mut unwired = Vec::new();
    let mut forwards: Vec<super::forward::Rule> = Vec::new();
    let forwarder = super::forward::container_name(project);
    let patches: BTreeSet<&str> = config
        .bridges
        .iter()
        .filter(|b| b.mode == BridgeMode::Patch)
        .map(|b| b.bridge.as_str())
        .collect();
    for b in &config.bridges {
        if b.mode == BridgeMode::Linux {
            d.bridges.push(BridgeWant {
                name: b.bridge.clone(),
            });
        }
    }
    for l in &config.links {
        let target = l.target();
        for inst in instances {
            let (k, readable) = match (&target, &inst.service) {
                (Target::Service(s), Some((svc, k))) if s == svc => {
                    (*k, format!("{s}_{k}-{}", l.dev))
                }
                (Target::Container(c), _) if *c == inst.name => (1, format!("{c}-{}", l.dev)),
                _ => continue,
            };
            let offset = u64::from(k.max(1) - 1);
            let ip = match l.ip {
                None => None,
                Some(ip) => match ip.offset(offset) {
                    Some(a) => Some(a),
                    None => {
                        unwired.push(Unwired {
                            container: inst.name.clone(),
                            dev: l.dev.clone(),
                            reason: format!(
                                "replica {k} would get {ip} + {offset}, outside {}",
                                ip.network()
                            ),
                        });
                        continue;
                    }
                },
            };
            let base = l
                .mac
                .unwrap_or_else(|| Mac::derived(&format!("{project}/{target}/{}", l.dev)));
            let Some(mac) = base.offset(offset) else {
                unwired.push(Unwired {
                    container: inst.name.clone(),
                    dev: l.dev.clone(),
                    reason: format!("replica {k} would get a MAC past ff:ff:ff:ff:ff:ff"),
                });
                continue;
            };
            if let Some(to) = ip {
                for f in &l.forward {
                    if let Ok(port) = u16::try_from(u64::from(f.host) + offset) {
                        forwards.push(super::forward::Rule {
                            proto: f.proto,
                            port,
                            to: to.addr,
                            to_port: f.container,
                        });
                    }
                }
            }
            let bridge = l.bridge.clone();
            let is_patch = bridge.as_deref().is_some_and(|b| patches.contains(b));
            d.veths.push(VethWant {
                outer: l.outer_dev.clone().unwrap_or_else(|| outer_name(&readable)),
                container: inst.id.clone(),
                dev: l.dev.clone(),
                mac,
                mtu: l.mtu,
                ip,
                routes: l.route.iter().map(Route::to_string).collect(),
                master: if is_patch { None } else { bridge },
                patch: None,
                nat: l.nat,
                ethtool: l
                    .ethtool
                    .iter()
                    .filter_map(|e| super::config::parse_ethtool(e).ok())
                    .flatten()
                    .collect(),
                rate: super::config::netem_rate(&l.netem)
                    .ok()
                    .and_then(|(r, _)| r),
                macvlan: on_parent(l),
                dummy: l.kind == LinkType::Dummy,
            });
        }
    }
    // The forwarder, when it runs: a link on each bridge a forward crosses, and its table.
    if let Some(fw) = instances.iter().find(|i| i.name == forwarder) {
        let addresses = super::forward::addresses(config);
        for (bridge, a) in &addresses {
            let dev = super::forward::dev_name(bridge);
            let mtu = config
                .links
                .iter()
                .find(|l| !l.forward.is_empty() && l.bridge.as_deref() == Some(bridge))
                .map_or(1500, |l| l.mtu);
            d.veths.push(VethWant {
                outer: outer_name(&format!("{forwarder}-{dev}")),
                container: fw.id.clone(),
                mac: Mac::derived(&format!("{project}/forwarder/{bridge}")),
                dev,
                mtu,
                ip: Some(*a),
                routes: Vec::new(),
                master: Some(bridge.clone()),
                patch: None,
                nat: None,
                ethtool: Vec::new(),
                rate: None,
                macvlan: None,
                dummy: false,
            });
        }
        d.forward = Some(ForwardWant {
            container: fw.id.clone(),
            table: super::forward::table(&addresses, &forwards),
        });
    }
    for t in &config.tunnels {
        d.tunnels.push(TunnelWant {
            name: t.dev(),
            kind: t.kind,
            vni: t.vni,
            remote: t.remote,
            port: t.port(),
            master: (!patches.contains(t.bridge.as_str())).then(|| t.bridge.clone()),
            patch: None,
        });
    }
    // Patches: the two ends present now are joined (one end alone waits for the other).
    for p in &patches {
        let mut ends: Vec<String> = Vec::new();
        for l in &config.links {
            if l.bridge.as_deref() == Some(*p) {
                let target = l.target();
                for v in d.veths.iter().filter(|v| {
                    v.master.is_none()
                        && v.dev == l.dev
                        && instances.iter().any(|i| {
                            i.id == v.container
                                && match &target {
                                    Target::Service(s) => {
                                        i.service.as_ref().is_some_and(|(x, _)| x == s)
                                    }
                                    Target::Container(c) => &i.name == c,
                                }
                        })
                }) {
                    if !ends.contains(&v.outer) {
                        ends.push(v.outer.clone());
                    }
                }
            }
        }
        for t in config.tunnels.iter().filter(|t| t.bridge == *p) {
            ends.push(t.dev());
        }
        if let [a, b] = ends.as_slice() {
            let (a, b) = (a.clone(), b.clone());
            for v in d.veths.iter_mut() {
                if v.outer == a {
                    v.patch = Some(b.clone());
                } else if v.outer == b {
                    v.patch = Some(a.clone());
                }
            }
            for t in d.tunnels.iter_mut() {
                if t.name == a {
                    t.patch = Some(b.clone());
                } else if t.name == b {
                    t.patch = Some(a.clone());
                }
            }
        }
    }
    (d, unwired)
}

/// An interface as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Iface {
    pub name: String,
    pub alias: Option<String>,
}

/// What the kernel holds: the switch namespace's interfaces and each running container's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Observed {
    pub switch: Vec<Iface>,
    /// By container id.
    pub containers: BTreeMap<String, Vec<Iface>>,
    /// The port forwarder's table as its namespace holds it (None: absent, or no forwarder
    /// was looked at).
    pub forward: Option<crate::sys::nft::TableState>,
}

/// One change to the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Delete an interface of ours in the switch namespace (a veth's peer goes with it).
    DeleteSwitch {
        name: String,
    },
    /// Delete an interface of ours in a container.
    DeleteInContainer {
        container: String,
        dev: String,
    },
    CreateBridge {
        want: BridgeWant,
        mark: String,
    },
    /// Create the pair in one request (the peer straight into the container), configure
    /// the container's end (address, up, routes), then join the bridge or patch.
    CreateVeth {
        want: VethWant,
        mark: String,
    },
    CreateTunnel {
        want: TunnelWant,
        mark: String,
    },
    /// (Re)join two ends by tc mirred, both ways.
    Patch {
        a: String,
        b: String,
    },
    /// Replace the port forwarder's table in its namespace.
    SetForwards {
        container: String,
        table: crate::sys::nft::Table,
    },
}

/// The actions that take `observed` to `desired`, and the conflicts (names taken by
/// interfaces that are not ours), which are never touched.
pub(crate) fn plan(desired: &Desired, observed: &Observed) -> (Vec<Action>, Vec<String>) {
    let project = desired.project.as_str();
    let mut deletes = Vec::new();
    let mut creates = Vec::new();
    let mut patches: BTreeSet<(String, String)> = BTreeSet::new();
    let mut conflicts = Vec::new();
    let ours = |i: &Iface| i.alias.as_deref().and_then(owner) == Some(project);
    let mut wanted_switch: BTreeSet<&str> = BTreeSet::new();
    let decide = |name: &str,
                  mark: &str,
                  what: &str,
                  deletes: &mut Vec<Action>,
                  conflicts: &mut Vec<String>| {
        switch_decision(observed, project, name, mark, what, deletes, conflicts)
    };
    for b in &desired.bridges {
        wanted_switch.insert(&b.name);
        let m = mark(project, b);
        if decide(&b.name, &m, "bridge", &mut deletes, &mut conflicts) == Some(true) {
            creates.push(Action::CreateBridge {
                want: b.clone(),
                mark: m,
            });
        }
    }
    let mut wanted_in: BTreeSet<(&str, &str)> = BTreeSet::new();
    for v in &desired.veths {
        if !v.in_container_only() {
            wanted_switch.insert(&v.outer);
        }
        wanted_in.insert((&v.container, &v.dev));
        let m = veth_mark(project, v);
        let inside = observed
            .containers
            .get(&v.container)
            .and_then(|ifs| ifs.iter().find(|i| i.name == v.dev));
        let inner_ok = inside.is_some_and(|i| i.alias.as_deref() == Some(&m));
        if let Some(i) = inside {
            if !ours(i) {
                conflicts.push(format!(
                    "link {} of container {}: the container already has an interface {} that is not ours",
                    v.dev,
                    super::short(&v.container),
                    v.dev
                ));
                continue;
            }
        }
        let create = if v.in_container_only() {
            // Nothing in the switch namespace: the container's end is the whole link.
            !inner_ok
        } else {
            match decide(&v.outer, &m, "link", &mut deletes, &mut conflicts) {
                None => continue,
                Some(false) if inner_ok => false,
                // The switch end is right but the container's is gone or changed: the pair
                // is made again.
                Some(false) => {
                    deletes.push(Action::DeleteSwitch {
                        name: v.outer.clone(),
                    });
                    true
                }
                Some(true) => true,
            }
        };
        if create {
            if inside.is_some() {
                deletes.push(Action::DeleteInContainer {
                    container: v.container.clone(),
                    dev: v.dev.clone(),
                });
            }
            creates.push(Action::CreateVeth {
                want: v.clone(),
                mark: m,
            });
            if let Some(p) = &v.patch {
                patches.insert(pair(&v.outer, p));
            }
        }
    }
    for t in &desired.tunnels {
        wanted_switch.insert(&t.name);
        let fp_of = TunnelWant {
            patch: None,
            ..t.clone()
        };
        let m = mark(project, &fp_of);
        if decide(&t.name, &m, "tunnel", &mut deletes, &mut conflicts) == Some(true) {
            creates.push(Action::CreateTunnel {
                want: t.clone(),
                mark: m,
            });
            if let Some(p) = &t.patch {
                patches.insert(pair(&t.name, p));
            }
        }
    }
    // Ours and no longer wanted.
    for i in &observed.switch {
        if ours(i) && !wanted_switch.contains(i.name.as_str()) {
            deletes.push(Action::DeleteSwitch {
                name: i.name.clone(),
            });
        }
    }
    for (c, ifs) in &observed.containers {
        for i in ifs {
            if ours(i) && !wanted_in.contains(&(c.as_str(), i.name.as_str())) {
                deletes.push(Action::DeleteInContainer {
                    container: c.clone(),
                    dev: i.name.clone(),
                });
            }
        }
    }
    deletes.dedup();
    let mut actions = deletes;
    actions.extend(creates);
    actions.extend(patches.into_iter().map(|(a, b)| Action::Patch { a, b }));
    if let Some(f) = &desired.forward {
        if !observed
            .forward
            .as_ref()
            .is_some_and(|t| t.matches(&f.table))
        {
            actions.push(Action::SetForwards {
                container: f.container.clone(),
                table: f.table.clone(),
            });
        }
    }
    (actions, conflicts)
}

/// What to do with a switch-side name wanted with `mark`: Some(true) create (after deleting
/// an outdated one of ours), Some(false) keep, None a conflict (not ours).
fn switch_decision(
    observed: &Observed,
    project: &str,
    name: &str,
    mark: &str,
    what: &str,
    deletes: &mut Vec<Action>,
    conflicts: &mut Vec<String>,
) -> Option<bool> {
    match observed.switch.iter().find(|i| i.name == name) {
        None => Some(true),
        Some(i) if i.alias.as_deref() == Some(mark) => Some(false),
        Some(i) if i.alias.as_deref().and_then(owner) == Some(project) => {
            deletes.push(Action::DeleteSwitch {
                name: name.to_string(),
            });
            Some(true)
        }
        Some(_) => {
            conflicts.push(format!(
                "{what} {name}: an interface of that name exists in the switch namespace and is not ours"
            ));
            None
        }
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

#[cfg(test)]
mod tests;
