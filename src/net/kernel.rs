//! The kernel side of `docker net`: read what the switch namespace and the containers hold
//! ([`observe`]) and carry out a plan ([`apply`]), over rtnetlink, each namespace entered only
//! on a dedicated thread by `sys::netns` (blocking calls: a command calls them directly, the
//! watcher from `spawn_blocking`).
//!
//! A veth is made in one request from the switch namespace, its peer placed straight into
//! the container's namespace with its name, MAC, MTU and mark (`IFLA_NET_NS_FD` in the peer's
//! message); its switch end is created enslaved and up. The container's end gets its
//! addresses, then goes up, then its routes (a route via a gateway needs the link up).
//! A tunnel is made from the namespace the command runs in (its UDP socket stays there, the
//! underlay) and placed into the switch namespace in the same request.

use std::collections::BTreeMap;
use std::net::IpAddr;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::packet_route::tc::TcHandle;
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVxlan};

use super::config::Route;
use super::plan::{Action, Iface, Observed, TunnelWant, VethWant};
use crate::sys::netns::{self, NetNs, NetnsError};
use crate::sys::nft;

/// The pinned switch namespace of a project (`/run/netns/<this>`).
pub(crate) fn switch_ns_name(project: &str) -> String {
    format!("docker-link-net-{project}")
}

fn iface(msg: &LinkMessage) -> Option<Iface> {
    let mut name = None;
    let mut alias = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::IfAlias(s) => alias = Some(s.clone()),
            _ => {}
        }
    }
    Some(Iface { name: name?, alias })
}

/// Every interface of this thread's namespace (one dump).
async fn links(h: &Handle) -> Result<Vec<LinkMessage>, String> {
    h.link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("listing interfaces: {e}"))
}

async fn list(h: &Handle) -> Result<Vec<Iface>, String> {
    Ok(links(h).await?.iter().filter_map(iface).collect())
}

/// Every interface's index by name (one dump).
async fn indexes(h: &Handle) -> Result<BTreeMap<String, u32>, String> {
    Ok(links(h)
        .await?
        .iter()
        .filter_map(|m| Some((iface(m)?.name, m.header.index)))
        .collect())
}

async fn index_of(h: &Handle, name: &str) -> Result<u32, String> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(m.header.index),
        Ok(None) => Err(format!("interface {name} not found")),
        Err(e) => Err(format!("interface {name}: {e}")),
    }
}

/// Deletes an interface; one already gone (a veth whose peer was deleted first) is no error.
async fn delete(h: &Handle, name: &str) -> Result<(), String> {
    let found = h
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await;
    let index = match found {
        Ok(Some(m)) => m.header.index,
        Ok(None) => return Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc_enodev() => return Ok(()),
        Err(e) => return Err(format!("deleting {name}: {e}")),
    };
    match h.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc_enodev() => Ok(()),
        Err(e) => Err(format!("deleting {name}: {e}")),
    }
}

fn libc_enodev() -> i32 {
    nix::errno::Errno::ENODEV as i32
}

fn ns_err(e: NetnsError) -> String {
    e.to_string()
}

/// The interfaces of the switch namespace and of each container's, and the table of the
/// port forwarder (`forwarder`: its container id, when it runs).
pub(crate) fn observe(
    switch: Option<&NetNs>,
    containers: &BTreeMap<String, NetNs>,
    forwarder: Option<&str>,
) -> Result<Observed, String> {
    let mut o = Observed::default();
    if let Some(ns) = forwarder.and_then(|id| containers.get(id)) {
        o.forward = netns::run_in(ns, |_| async move {
            match nft::list_table(nft::Family::Inet, crate::net::forward::TABLE) {
                Ok(t) => Ok(t),
                Err(nft::NftError::Unsupported { .. }) => Ok(None),
                Err(e) => Err(format!("the port forwarder's table: {e}")),
            }
        })
        .map_err(ns_err)??;
    }
    if let Some(ns) = switch {
        o.switch = netns::run_in(ns, |h| async move { list(&h).await }).map_err(ns_err)??;
    }
    let results: Vec<(String, Result<Vec<Iface>, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = containers
            .iter()
            .map(|(id, ns)| {
                s.spawn(move || {
                    let r = netns::run_in(ns, |h| async move { list(&h).await })
                        .map_err(ns_err)
                        .and_then(|r| r);
                    (id.clone(), r)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (id, r) in results {
        o.containers.insert(id, r?);
    }
    Ok(o)
}

/// An interface as `wait` sees it: its addresses (link-local IPv6 left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DevState {
    pub(crate) addrs: Vec<IpAddr>,
}

/// `dev` in `ns`, if it exists.
pub(crate) fn dev_state(ns: &NetNs, dev: &str) -> Result<Option<DevState>, String> {
    let dev = dev.to_string();
    netns::run_in(ns, |h| async move {
        let mut s = h.link().get().match_name(dev.clone()).execute();
        let index = match s.try_next().await {
            Ok(Some(m)) => m.header.index,
            Ok(None) => return Ok(None),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc_enodev() => {
                return Ok(None)
            }
            Err(e) => return Err(format!("interface {dev}: {e}")),
        };
        let msgs: Vec<rtnetlink::packet_route::address::AddressMessage> = h
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(|e| format!("addresses of {dev}: {e}"))?;
        let mut addrs = Vec::new();
        for m in msgs {
            for a in m.attributes {
                if let rtnetlink::packet_route::address::AddressAttribute::Address(ip) = a {
                    let link_local =
                        matches!(ip, IpAddr::V6(v) if (v.segments()[0] & 0xffc0) == 0xfe80);
                    if !link_local && !addrs.contains(&ip) {
                        addrs.push(ip);
                    }
                }
            }
        }
        Ok(Some(DevState { addrs }))
    })
    .map_err(ns_err)?
}

/// What an apply did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub done: usize,
    /// One line per failed action, naming its object.
    pub errors: Vec<String>,
    /// Containers whose links this apply made, every one of them without an error (a start
    /// or a restart: their `commands` are due).
    pub made: std::collections::BTreeSet<String>,
}

/// Carries out `actions`, going on past errors. `underlay`: where tunnels have their UDP
/// sockets (the namespace the command runs in: the host's). `containers`: the namespaces of
/// the containers the actions name.
pub(crate) fn apply(
    underlay: &NetNs,
    switch: &NetNs,
    containers: &BTreeMap<String, NetNs>,
    actions: &[Action],
) -> Applied {
    let t0 = std::time::Instant::now();
    let mut out = Applied::default();
    let mut record = |r: Result<(), String>| match r {
        Ok(()) => out.done += 1,
        Err(e) => out.errors.push(e),
    };
    // 1. Interfaces of ours to go, inside containers: one thread in each container's
    // namespace for all of its own (entering a namespace costs a thread and a runtime), the
    // containers at once.
    let mut doomed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for a in actions {
        if let Action::DeleteInContainer { container, dev } = a {
            doomed.entry(container).or_default().push(dev.clone());
        }
    }
    let deleted: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = doomed
            .into_iter()
            .filter_map(|(id, devs)| Some((id, containers.get(id)?, devs)))
            .map(|(id, ns, devs)| {
                s.spawn(move || {
                    let rs = netns::run_in(ns, |h| async move {
                        let mut rs = Vec::new();
                        for dev in &devs {
                            let r = async {
                                delete(&h, dev).await?;
                                drop_nat_table(dev)
                            }
                            .await;
                            rs.push(r);
                        }
                        rs
                    })
                    .unwrap_or_else(|e| vec![Err(e.to_string())]);
                    rs.into_iter()
                        .map(|r| r.map_err(|e| format!("container {}: {e}", super::short(id))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Err("deleting links: panicked".to_string())])
            })
            .collect()
    });
    deleted.into_iter().for_each(&mut record);
    // 2. Tunnels: made in the underlay, placed in the switch namespace.
    for a in actions {
        if let Action::CreateTunnel { want, .. } = a {
            let r = create_tunnel(underlay, switch, want);
            record(r.map_err(|e| format!("tunnel {}: {e}", want.name)));
        }
    }
    // 3. The switch namespace: deletes, bridges, veths (peers into the containers), the
    // tunnels' bridge ports.
    let switch_actions: Vec<Action> = actions
        .iter()
        .filter(|a| match a {
            Action::CreateVeth { want, .. } => !want.in_container_only(),
            _ => matches!(
                a,
                Action::DeleteSwitch { .. }
                    | Action::CreateBridge { .. }
                    | Action::CreateTunnel { .. }
            ),
        })
        .cloned()
        .collect();
    let fds: BTreeMap<String, i32> = containers
        .iter()
        .map(|(id, ns)| (id.clone(), ns.as_raw_fd()))
        .collect();
    let results = netns::run_in(switch, |h| async move {
        let mut results: Vec<Result<(), String>> = Vec::new();
        // Containers one of whose veths could not be made.
        let mut failed: Vec<String> = Vec::new();
        for a in &switch_actions {
            if let Action::DeleteSwitch { name } = a {
                results.push(delete(&h, name).await);
            }
        }
        for a in &switch_actions {
            if let Action::CreateBridge { want, mark } = a {
                let msg = LinkBridge::new(&want.name).up().build();
                let r = async {
                    match h.link().add(msg).execute().await {
                        Ok(()) => {}
                        // Made meanwhile by another applier of the same plan (`docker net up`
                        // and the watcher's pass over the project it just stored): the
                        // switch namespace is ours, so the bridge is too; mark it as well.
                        Err(rtnetlink::Error::NetlinkError(e))
                            if e.raw_code() == -(nix::errno::Errno::EEXIST as i32) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                    set_alias(&h, &want.name, mark).await
                }
                .await;
                results.push(r.map_err(|e| format!("bridge {}: {e}", want.name)));
            }
        }
        let veths: Vec<_> = switch_actions
            .iter()
            .filter_map(|a| match a {
                Action::CreateVeth { want, mark } => Some((want, mark)),
                _ => None,
            })
            .collect();
        // Each bridge's index once, not once per port.
        let mut masters: BTreeMap<&str, Result<u32, String>> = BTreeMap::new();
        for (want, _) in &veths {
            if let Some(m) = want.master.as_deref() {
                if !masters.contains_key(m) {
                    masters.insert(m, index_of(&h, m).await);
                }
            }
        }
        let masters = &masters;
        let made = futures_util::future::join_all(veths.into_iter().map(|(want, mark)| {
            let h = h.clone();
            let fd = fds.get(&want.container).copied();
            async move {
                let master = match want.master.as_deref().map(|m| masters[m].clone()) {
                    None => None,
                    Some(Ok(i)) => Some(i),
                    Some(Err(e)) => return Err((want.container.clone(), e)),
                };
                let r = match fd {
                    None => Err(format!(
                        "container {} is not running",
                        super::short(&want.container)
                    )),
                    Some(fd) => create_veth(&h, want, mark, fd, master).await,
                };
                r.map_err(|e| (want.container.clone(), e))
            }
        }))
        .await;
        for r in made {
            results.push(r.map_err(|(container, e)| {
                failed.push(container);
                e
            }));
        }
        for a in &switch_actions {
            if let Action::CreateTunnel { want, mark } = a {
                let r = async {
                    let i = index_of(&h, &want.name).await?;
                    let mut b = LinkUnspec::new_with_index(i).alias(mark.clone()).up();
                    if let Some(m) = &want.master {
                        b = b.controller(index_of(&h, m).await?);
                    }
                    h.link()
                        .set(b.build())
                        .execute()
                        .await
                        .map_err(|e| e.to_string())
                }
                .await;
                results.push(r.map_err(|e| format!("tunnel {}: {e}", want.name)));
            }
        }
        (results, failed)
    });
    let mut failed: std::collections::BTreeSet<String> = Default::default();
    match results {
        Ok((rs, f)) => {
            rs.into_iter().for_each(&mut record);
            failed.extend(f);
        }
        Err(e) => {
            record(Err(format!("the switch namespace: {e}")));
            failed.extend(containers.keys().cloned());
        }
    }
    // 3b. Links on a parent (macvlan, vlan, ipvlan and their taps): made on their parent in
    // the underlay, placed in their container; dummies: made in their container.
    for a in actions {
        if let Action::CreateVeth { want, .. } = a {
            if want.in_container_only() {
                let r = match (containers.get(&want.container), &want.macvlan) {
                    (None, _) => Err(format!(
                        "container {} is not running",
                        super::short(&want.container)
                    )),
                    (Some(ns), Some(m)) => create_macvlan(underlay, ns, want, m),
                    (Some(ns), None) => create_dummy(ns, want),
                };
                if let Err(e) = r {
                    failed.insert(want.container.clone());
                    record(Err(format!(
                        "container {} {}: {e}",
                        super::short(&want.container),
                        want.dev
                    )));
                }
            }
        }
    }
    let t_switch = t0.elapsed();
    // 4. The containers' ends: addresses, up, routes; one thread per container.
    let mut per_container: BTreeMap<&str, Vec<(&VethWant, &String)>> = BTreeMap::new();
    for a in actions {
        if let Action::CreateVeth { want, mark } = a {
            per_container
                .entry(&want.container)
                .or_default()
                .push((want, mark));
        }
    }
    let results: Vec<(&str, Vec<Result<(), String>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = per_container
            .iter()
            .filter_map(|(id, wants)| Some((containers.get(*id)?, id, wants)))
            .map(|(ns, id, wants)| {
                let handle = s.spawn(move || {
                    let wants: Vec<(VethWant, String)> = wants
                        .iter()
                        .map(|(w, m)| ((*w).clone(), (*m).clone()))
                        .collect();
                    netns::run_in(ns, |h| async move {
                        let fail =
                            |e: String| vec![Err(format!("container {}: {e}", super::short(id)))];
                        // What the container holds, read once for all its links: the
                        // interfaces' indexes and the nat tables links of these names left.
                        let indexes = match indexes(&h).await {
                            Ok(i) => i,
                            Err(e) => return fail(e),
                        };
                        let tables = match nft::table_names(nft::Family::Inet) {
                            Ok(t) => t,
                            Err(nft::NftError::Unsupported { .. }) => Vec::new(),
                            Err(e) => return fail(format!("listing its nf_tables tables: {e}")),
                        };
                        let mut rs = Vec::new();
                        for (w, m) in &wants {
                            let stale_nat = tables.contains(&nat_table_name(&w.dev));
                            let r = match indexes.get(&w.dev) {
                                Some(&i) => configure_inside(&h, i, w, m, stale_nat).await,
                                None => Err(format!("interface {} not found", w.dev)),
                            };
                            rs.push(r.map_err(|e| {
                                format!("container {} {}: {e}", super::short(id), w.dev)
                            }));
                        }
                        rs
                    })
                    .unwrap_or_else(|e| vec![Err(e.to_string())])
                });
                (*id, handle)
            })
            .collect();
        handles
            .into_iter()
            .map(|(id, h)| {
                let rs = h.join().unwrap_or_else(|_| {
                    vec![Err(format!("container {}: panicked", super::short(id)))]
                });
                (id, rs)
            })
            .collect()
    });
    for (id, rs) in results {
        if rs.iter().any(Result::is_err) {
            failed.insert(id.to_string());
        }
        rs.into_iter().for_each(&mut record);
    }
    tracing::debug!(
        "net apply: {} actions; the switch side done after {t_switch:?}, the containers' after {:?}",
        actions.len(),
        t0.elapsed()
    );
    out.made = per_container
        .keys()
        .filter(|id| containers.contains_key(**id) && !failed.contains(**id))
        .map(|id| id.to_string())
        .collect();
    // 5. Patches.
    let patches: Vec<(String, String)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Patch { a, b } => Some((a.clone(), b.clone())),
            _ => None,
        })
        .collect();
    if !patches.is_empty() {
        let r = netns::run_in(switch, |h| async move {
            let mut rs = Vec::new();
            for (a, b) in &patches {
                rs.push(
                    patch(&h, a, b)
                        .await
                        .map_err(|e| format!("patch {a} <-> {b}: {e}")),
                );
            }
            rs
        });
        match r {
            Ok(rs) => rs.into_iter().for_each(&mut record),
            Err(e) => record(Err(format!("the switch namespace: {e}"))),
        }
    }
    // 6. The port forwarder's table, once its links are in place.
    for a in actions {
        if let Action::SetForwards { container, table } = a {
            let r = match containers.get(container) {
                None => Err("it is not running".to_string()),
                Some(ns) => {
                    let table = table.clone();
                    netns::run_in(ns, |_| async move {
                        nft::replace_table(&table).map_err(|e| e.to_string())
                    })
                    .map_err(ns_err)
                    .and_then(|r| r)
                }
            };
            record(r.map_err(|e| {
                format!(
                    "the port forwarder {}: its table: {e}",
                    super::short(container)
                )
            }));
        }
    }
    out
}

/// `master`: the bridge's index, looked up once for all its ports.
async fn create_veth(
    h: &Handle,
    want: &VethWant,
    mark: &str,
    fd: i32,
    master: Option<u32>,
) -> Result<(), String> {
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(want.dev.clone())
        .address(want.mac.0.to_vec())
        .mtu(want.mtu)
        .setns_by_fd(fd)
        .build();
    let mut b = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(want.outer.clone())
        .mtu(want.mtu)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .up();
    if let Some(m) = master {
        b = b.controller(m);
    }
    match h.link().add(b.build()).execute().await {
        Ok(()) => {}
        // Another reconcile of the project (`up` and the watcher it just started, or the
        // watcher's pass meanwhile) made it a moment ago, from the same plan: the same link.
        Err(e) if exists(&e) => {}
        Err(e) => return Err(format!("link {}: {e}", want.outer)),
    }
    set_alias(h, &want.outer, mark).await
}

/// EEXIST: what a concurrent reconcile of the same project made first (creation requests are
/// exclusive), which both then configure alike.
fn exists(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m)
        if m.raw_code() == -(nix::errno::Errno::EEXIST as i32))
}

/// Marks an interface as ours. The kernel ignores `IFLA_IFALIAS` when it creates a link, so
/// the mark is a second request right after the creation.
async fn set_alias(h: &Handle, name: &str, mark: &str) -> Result<(), String> {
    // By name: the kernel looks the link up itself (one request, not two).
    h.link()
        .set(
            LinkUnspec::new_with_name(name)
                .alias(mark.to_string())
                .build(),
        )
        .execute()
        .await
        .map_err(|e| format!("marking {name}: {e}"))
}

/// The container's end: its mark (the kernel does not take an alias in a veth's peer
/// message), addresses, up, routes.
/// `i`: the interface's index; `stale_nat`: a nat table of a link of this name is there.
async fn configure_inside(
    h: &Handle,
    i: u32,
    want: &VethWant,
    mark: &str,
    stale_nat: bool,
) -> Result<(), String> {
    // conlink's default for veths, then the link's own settings (this thread is in the
    // container's namespace).
    let defaults = [(crate::sys::ethtool::Offload::Tx, false)];
    let veth: &[_] = if !want.in_container_only() {
        &defaults
    } else {
        &[]
    };
    for (feature, on) in veth.iter().chain(&want.ethtool) {
        crate::sys::ethtool::set(&want.dev, *feature, *on).map_err(|e| e.to_string())?;
    }
    if let Some(rate) = want.rate {
        add_tbf(h, i, rate, want.mtu)
            .await
            .map_err(|e| format!("rate (tbf): {e}"))?;
    }
    if let Some(ip) = &want.ip {
        match h.address().add(i, ip.addr, ip.prefix).execute().await {
            Ok(()) => {}
            Err(e) if exists(&e) => {}
            Err(e) => return Err(format!("address {ip}: {e}")),
        }
    }
    // Before the link is up: no packet passes it untranslated. (This thread is in the
    // container's namespace: the nf_tables socket is made here.)
    match (want.nat, &want.ip) {
        (Some(to), Some(ip)) => nft::replace_table(&nat_table(&want.dev, to, ip.addr))
            .map_err(|e| format!("nat to {to}: {e}"))?,
        // A link made again without its nat: the rules of the one before go.
        _ if stale_nat => drop_nat_table(&want.dev)?,
        _ => {}
    }
    h.link()
        .set(
            LinkUnspec::new_with_index(i)
                .alias(mark.to_string())
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| format!("up: {e}"))?;
    for r in &want.routes {
        let route: Route = r.parse()?;
        add_route(h, i, &route)
            .await
            .map_err(|e| format!("route {r}: {e}"))?;
    }
    Ok(())
}

/// netem's `rate` done with a token bucket: `tc qdisc add dev DEV root tbf rate RATE burst B
/// limit L`. The burst holds one packet of the link's MTU at least (a smaller one would drop
/// every full-size packet) or 10 ms at the rate; the queue, 50 ms at the rate beyond it.
async fn add_tbf(h: &Handle, index: u32, rate: u64, mtu: u32) -> Result<(), String> {
    let burst = u32::try_from((rate / 100).max(u64::from(mtu) + 18)).unwrap_or(u32::MAX);
    let limit = u32::try_from((rate / 20).saturating_add(u64::from(burst))).unwrap_or(u32::MAX);
    let options = tbf_options(rate, burst, limit);
    crate::sys::qdisc::add_root(h, index, 0x4443, "tbf", options, true)
        .await
        .map_err(|e| e.to_string())
}

/// tbf's nested options: `TCA_TBF_PARMS` (`struct tc_tbf_qopt`: the rate's `tc_ratespec`, an
/// unused peak rate, limit, buffer, mtu; host order), `TCA_TBF_BURST` (the kernel derives the
/// buffer's time from it) and `TCA_TBF_RATE64` beyond 4 GB/s. The rate's link layer is set
/// (ethernet), so the kernel asks for no rate table.
fn tbf_options(rate: u64, burst: u32, limit: u32) -> Vec<u8> {
    const TCA_TBF_PARMS: u16 = 1;
    const TCA_TBF_RATE64: u16 = 4;
    const TCA_TBF_BURST: u16 = 6;
    const TC_LINKLAYER_ETHERNET: u8 = 1;
    let rate32 = u32::try_from(rate).unwrap_or(u32::MAX);
    // tc_ratespec: cell_log u8, linklayer u8, overhead u16, cell_align i16, mpu u16, rate u32.
    let mut qopt = vec![0u8, TC_LINKLAYER_ETHERNET, 0, 0, 0, 0, 0, 0];
    qopt.extend(rate32.to_ne_bytes());
    qopt.extend([0u8; 12]); // peakrate: none
    qopt.extend(limit.to_ne_bytes());
    qopt.extend(0u32.to_ne_bytes()); // buffer: from TCA_TBF_BURST
    qopt.extend(0u32.to_ne_bytes()); // mtu: no peak rate
    let mut out = Vec::new();
    let mut nla = |kind: u16, payload: &[u8]| {
        let len = 4 + payload.len();
        out.extend((len as u16).to_ne_bytes());
        out.extend(kind.to_ne_bytes());
        out.extend(payload);
        out.resize(out.len() + (4 - len % 4) % 4, 0);
    };
    nla(TCA_TBF_PARMS, &qopt);
    nla(TCA_TBF_BURST, &burst.to_ne_bytes());
    if rate > u64::from(u32::MAX) {
        nla(TCA_TBF_RATE64, &rate.to_ne_bytes());
    }
    out
}

/// The nf_tables table (in the container's namespace) of one link's `nat`, as conlink's
/// `link-add.sh --nat` sets it with iptables: connections arriving on `dev` go to `to`,
/// connections leaving by `dev` come from the link's address `ip`.
pub(crate) fn nat_table(dev: &str, to: IpAddr, ip: IpAddr) -> nft::Table {
    use nft::{Base, Chain, Hook, Match, Policy, Rule, Verdict};
    let chain = |name: &str, hook: Hook, priority: i32, rule: Rule| Chain {
        name: name.to_string(),
        base: Some(Base {
            hook,
            priority,
            policy: Policy::Accept,
        }),
        rules: vec![rule],
    };
    let version = nft::IpVersion::of(&to);
    nft::Table {
        family: nft::Family::Inet,
        name: nat_table_name(dev),
        chains: vec![
            // dstnat and srcnat, as nft names the priorities.
            chain(
                "dnat",
                Hook::NatPrerouting,
                -100,
                Rule {
                    matches: vec![Match::Iifname(dev.to_string()), Match::Ip(version)],
                    verdict: Verdict::Dnat(to, None),
                },
            ),
            chain(
                "snat",
                Hook::NatPostrouting,
                100,
                Rule {
                    matches: vec![
                        Match::Oifname(dev.to_string()),
                        Match::Ip(nft::IpVersion::of(&ip)),
                    ],
                    verdict: Verdict::Snat(ip),
                },
            ),
        ],
    }
}

fn nat_table_name(dev: &str) -> String {
    format!("docker-link-net-{dev}")
}

/// Removes the nat table of `dev` in this thread's namespace, if there is one (a kernel
/// without nf_tables has none).
fn drop_nat_table(dev: &str) -> Result<(), String> {
    match nft::delete_table(nft::Family::Inet, &nat_table_name(dev)) {
        Ok(_) | Err(nft::NftError::Unsupported { .. }) => Ok(()),
        Err(e) => Err(format!("removing the nat of {dev}: {e}")),
    }
}

async fn add_route(h: &Handle, index: u32, r: &Route) -> Result<(), String> {
    use rtnetlink::RouteMessageBuilder;
    let msg = if r.is_ipv6() {
        let mut b = RouteMessageBuilder::<std::net::Ipv6Addr>::new().output_interface(index);
        if let Some(d) = &r.dest {
            if let IpAddr::V6(a) = d.addr {
                b = b.destination_prefix(a, d.prefix);
            }
        }
        if let Some(IpAddr::V6(g)) = r.via {
            b = b.gateway(g);
        }
        if let Some(m) = r.metric {
            b = b.priority(m);
        }
        b.build()
    } else {
        let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new().output_interface(index);
        if let Some(d) = &r.dest {
            if let IpAddr::V4(a) = d.addr {
                b = b.destination_prefix(a, d.prefix);
            }
        }
        if let Some(IpAddr::V4(g)) = r.via {
            b = b.gateway(g);
        }
        if let Some(m) = r.metric {
            b = b.priority(m);
        }
        b.build()
    };
    let (prefix, oif) = (msg.header.destination_prefix_length, index);
    let family = msg.header.address_family;
    match h.route().add(msg).execute().await {
        // The same route on this very link, from a concurrent reconcile (see `exists`); the
        // same destination through another interface (Docker's own default route) is a
        // real conflict.
        Err(e) if exists(&e) && route_on(h, family, r.dest.map(|d| d.addr), prefix, oif).await => {
            Ok(())
        }
        r => r.map_err(|e| e.to_string()),
    }
}

/// Whether the main table has a route to `dest`/`prefix` (None: the default) through
/// interface `oif`.
async fn route_on(
    h: &Handle,
    family: rtnetlink::packet_route::AddressFamily,
    dest: Option<IpAddr>,
    prefix: u8,
    oif: u32,
) -> bool {
    use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
    let mut q = rtnetlink::RouteMessageBuilder::<IpAddr>::new().build();
    q.header.address_family = family;
    let Ok(routes) = h.route().get(q).execute().try_collect::<Vec<_>>().await else {
        return false;
    };
    routes.iter().any(|m| {
        let to = m.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
            _ => None,
        });
        m.header.destination_prefix_length == prefix
            && (prefix == 0 || to == dest)
            && m.attributes.contains(&RouteAttribute::Oif(oif))
    })
}

fn create_tunnel(here: &NetNs, switch: &NetNs, want: &TunnelWant) -> Result<(), String> {
    if want.kind != super::config::TunnelType::Vxlan {
        return Err("geneve tunnels are not supported by this version".to_string());
    }
    let fd = switch.as_raw_fd();
    let want = want.clone();
    netns::run_in(here, move |h| async move {
        let mut b = LinkVxlan::new(&want.name, want.vni)
            .port(want.port)
            .learning(true);
        b = match want.remote {
            IpAddr::V4(a) => b.remote(a),
            IpAddr::V6(a) => b.remote6(a),
        };
        let msg = b.setns_by_fd(fd).build();
        h.link().add(msg).execute().await.map_err(|e| e.to_string())
    })
    .map_err(ns_err)?
}

/// A macvlan named `want.dev` on the parent `m.parent` of `here`, with its MAC and MTU, placed
/// in the container's namespace in the same request.
fn create_macvlan(
    here: &NetNs,
    container: &NetNs,
    want: &VethWant,
    m: &super::plan::MacvlanWant,
) -> Result<(), String> {
    use rtnetlink::packet_route::link::MacVlanMode;
    let mode = match m.mode.as_str() {
        "private" => MacVlanMode::Private,
        "vepa" => MacVlanMode::Vepa,
        "passthru" => MacVlanMode::Passthrough,
        "source" => MacVlanMode::Source,
        _ => MacVlanMode::Bridge,
    };
    use rtnetlink::packet_route::link::{IpVlanMode, IpVtapMode};
    let fd = container.as_raw_fd();
    let (want, parent, tap) = (want.clone(), m.parent.clone(), m.tap);
    let kind = match (m.vlan, m.ipvlan, tap) {
        (Some(_), _, _) => "vlan",
        (None, true, false) => "ipvlan",
        (None, true, true) => "ipvtap",
        (None, false, true) => "macvtap",
        (None, false, false) => "macvlan",
    };
    let (vlan, ip_mode) = (m.vlan, m.mode.clone());
    netns::run_in(here, move |h| async move {
        let parent_index = index_of(&h, &parent)
            .await
            .map_err(|e| format!("parent {parent}: {e}"))?;
        let ipvlan_mode = match ip_mode.as_str() {
            "l3" => IpVlanMode::L3,
            "l3s" => IpVlanMode::L3S,
            _ => IpVlanMode::L2,
        };
        let ipvtap_mode = match ip_mode.as_str() {
            "l3" => IpVtapMode::L3,
            "l3s" => IpVtapMode::L3S,
            _ => IpVtapMode::L2,
        };
        let sized = |mtu: u32| (mtu > 0).then_some(mtu);
        // An ipvlan has its parent's MAC: none is given.
        let msg = if let Some(id) = vlan {
            let mut b =
                rtnetlink::LinkVlan::new(&want.dev, parent_index, id).address(want.mac.0.to_vec());
            if let Some(m) = sized(want.mtu) {
                b = b.mtu(m);
            }
            b.setns_by_fd(fd).build()
        } else if kind == "ipvlan" {
            let mut b = rtnetlink::LinkIpVlan::new(&want.dev, parent_index, ipvlan_mode);
            if let Some(m) = sized(want.mtu) {
                b = b.mtu(m);
            }
            b.setns_by_fd(fd).build()
        } else if kind == "ipvtap" {
            let mut b = rtnetlink::LinkIpVtap::new(&want.dev, parent_index, ipvtap_mode);
            if let Some(m) = sized(want.mtu) {
                b = b.mtu(m);
            }
            b.setns_by_fd(fd).build()
        } else if tap {
            let mut b = rtnetlink::LinkMacVtap::new(&want.dev, parent_index, mode)
                .address(want.mac.0.to_vec());
            if want.mtu > 0 {
                b = b.mtu(want.mtu);
            }
            b.setns_by_fd(fd).build()
        } else {
            let mut b = rtnetlink::LinkMacVlan::new(&want.dev, parent_index, mode)
                .address(want.mac.0.to_vec());
            if want.mtu > 0 {
                b = b.mtu(want.mtu);
            }
            b.setns_by_fd(fd).build()
        };
        h.link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| format!("{kind} on {parent}: {}", missing_kind(kind, e)))
    })
    .map_err(ns_err)?
}

/// A dummy interface, made in the container's namespace.
fn create_dummy(container: &NetNs, want: &VethWant) -> Result<(), String> {
    let want = want.clone();
    netns::run_in(container, move |h| async move {
        let mut b = rtnetlink::LinkDummy::new(&want.dev).address(want.mac.0.to_vec());
        if want.mtu > 0 {
            b = b.mtu(want.mtu);
        }
        h.link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| format!("dummy: {}", missing_kind("dummy", e)))
    })
    .map_err(ns_err)?
}

/// The kernel's answer to a link kind it does not have (no module), said as such.
fn missing_kind(kind: &str, e: rtnetlink::Error) -> String {
    let code = match &e {
        rtnetlink::Error::NetlinkError(m) => -m.raw_code(),
        _ => 0,
    };
    if code == nix::errno::Errno::EOPNOTSUPP as i32 {
        let module = match kind {
            "vlan" => "8021q",
            other => other,
        };
        format!("this kernel has no {kind} links (module {module}; `docker link doctor` probes it): {e}")
    } else {
        e.to_string()
    }
}

/// Joins `a` and `b` by tc: an ingress qdisc on each and a u32 filter matching every frame
/// (`ETH_P_ALL`, in network byte order: the typed API takes it as is) redirected to the other.
async fn patch(h: &Handle, a: &str, b: &str) -> Result<(), String> {
    let ia = index_of(h, a).await?;
    let ib = index_of(h, b).await?;
    for (from, to) in [(ia, ib), (ib, ia)] {
        let from_i = i32::try_from(from).map_err(|e| e.to_string())?;
        // A previous patch's qdisc (and its filter, to an interface that may be gone).
        let mut del = h.qdisc().del(from_i);
        del.message_mut().header.parent = TcHandle::INGRESS;
        del.message_mut().header.handle = TcHandle::from(0xffff_0000u32);
        let _ = del.execute().await;
        h.qdisc()
            .add(from_i)
            .ingress()
            .execute()
            .await
            .map_err(|e| format!("ingress qdisc: {e}"))?;
        h.traffic_filter(from_i)
            .add()
            .parent(0xffff_0000)
            .protocol(0x0003u16.to_be())
            .redirect(to)
            .map_err(|e| e.to_string())?
            .execute()
            .await
            .map_err(|e| format!("mirred filter: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
#[cfg(feature = "test-netns")]
mod tests;

#[cfg(test)]
mod encoding {
    /// tbf's options: PARMS (36 bytes: the rate's spec with the ethernet link layer and the
    /// rate, no peak rate, the limit), then BURST; RATE64 only beyond 4 GB/s.
    #[test]
    fn tbf_options_are_the_kernels_attributes() {
        let o = super::tbf_options(250_000, 65_553, 78_053);
        assert_eq!(o.len(), 4 + 36 + 4 + 4);
        assert_eq!(u16::from_ne_bytes([o[0], o[1]]), 40);
        assert_eq!(u16::from_ne_bytes([o[2], o[3]]), 1);
        let parms = &o[4..40];
        assert_eq!(parms[1], 1, "TC_LINKLAYER_ETHERNET");
        assert_eq!(
            u32::from_ne_bytes(parms[8..12].try_into().unwrap()),
            250_000
        );
        assert!(parms[12..24].iter().all(|b| *b == 0), "no peak rate");
        assert_eq!(
            u32::from_ne_bytes(parms[24..28].try_into().unwrap()),
            78_053
        );
        assert_eq!(u16::from_ne_bytes([o[40], o[41]]), 8);
        assert_eq!(u16::from_ne_bytes([o[42], o[43]]), 6);
        assert_eq!(u32::from_ne_bytes(o[44..48].try_into().unwrap()), 65_553);
        let fast = super::tbf_options(10_000_000_000, 1 << 20, 1 << 30);
        assert_eq!(fast.len(), 48 + 12);
        assert_eq!(
            u16::from_ne_bytes([fast[50], fast[51]]),
            4,
            "TCA_TBF_RATE64"
        );
        assert_eq!(
            u64::from_ne_bytes(fast[52..60].try_into().unwrap()),
            10_000_000_000
        );
    }
}
