//! nf_tables spoken directly over `NETLINK_NETFILTER`: a small typed model of one table of
//! ours (base and regular chains, rules made of the few matches link isolation needs), and the
//! operations on it: [`probe`], [`replace_table`] (one atomic batch), [`delete_table`] and
//! [`list_table`] (enough to detect drift).
//!
//! Why by hand: the Rust crates for nf_tables are GPL (`rustables` is GPL-3.0, `nftnl` links
//! the GPL libnftnl) and this project is Apache-2.0; the product may not run the `nft` binary
//! (the watcher is one static binary in an image of its own). The messages needed are few:
//! table, chain and rule creation inside a batch, table deletion, and three reads. Their
//! layout is the kernel's uapi (`include/uapi/linux/netfilter/nf_tables.h`,
//! `nfnetlink.h`): a netlink header, a `nfgenmsg`, then attributes, integers big-endian.
//!
//! Everything here works in the network namespace of the calling thread (a netlink socket
//! belongs to the namespace it was created in): callers choose the namespace with
//! [`crate::sys::netns`], whose dedicated threads make that safe.
//!
//! Atomicity: [`replace_table`] sends `add table; delete table; add table, chains, rules` as
//! one nfnetlink batch. The kernel applies a batch as one transaction: packets see either the
//! old rules or the new ones, never an empty table, and a refused message aborts the whole
//! batch, leaving the old rules in place.
//!
//! Answers: after a batch we send a `GETGEN` request of our own. The kernel handles a netlink
//! send synchronously, so every error of the batch is queued before the generation's answer;
//! reading up to that answer collects them all without a timeout. Each error carries the
//! sequence number of the message it refers to, which names the object ("rule 3 of chain
//! …") in [`NftError::Rejected`].
//!
//! The items are `pub` because the integration tests (`tests/it/reach.rs`) and the bench
//! (`examples/nft-bench.rs`) use them through the library crate.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;
use sha2::{Digest, Sha256};

// ---- the model ---------------------------------------------------------------------------

/// The address family of a table (`NFPROTO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 and IPv6 (`NFPROTO_INET`).
    Inet,
    /// IPv4 only.
    Ip,
    /// IPv6 only.
    Ip6,
    /// Layer 2, the bridge's own hooks.
    Bridge,
}

impl Family {
    fn code(self) -> u8 {
        match self {
            Family::Inet => 1,
            Family::Ip => 2,
            Family::Bridge => 7,
            Family::Ip6 => 10,
        }
    }

    /// As `nft` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Bridge => "bridge",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The hook of a base chain. The bridge family numbers its hooks as the inet ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Input,
    Forward,
    /// A `type nat` chain before routing (destination NAT).
    NatPrerouting,
    /// A `type nat` chain after routing (source NAT).
    NatPostrouting,
}

impl Hook {
    fn code(self) -> u32 {
        match self {
            Hook::NatPrerouting => 0,
            Hook::Input => 1,
            Hook::Forward => 2,
            Hook::NatPostrouting => 4,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::NatPrerouting => "prerouting",
            Hook::NatPostrouting => "postrouting",
        }
    }

    /// The chain type its base chain has.
    fn chain_type(self) -> &'static str {
        match self {
            Hook::Input | Hook::Forward => "filter",
            Hook::NatPrerouting | Hook::NatPostrouting => "nat",
        }
    }
}

/// What a base chain does with a packet no rule decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

/// A `type filter` base chain's hook, priority and policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base {
    pub hook: Hook,
    /// Lower runs first; `0` is `filter` in the inet families, `-200` in the bridge family.
    pub priority: i32,
    pub policy: Policy,
}

/// A table of ours and everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub family: Family,
    pub name: String,
    /// In order; a chain that rules jump to must be listed (anywhere: chains are created
    /// before rules).
    pub chains: Vec<Chain>,
}

/// A chain: a base chain when `base` is set, else a regular chain reached by jumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub base: Option<Base>,
    pub rules: Vec<Rule>,
}

/// A rule: every match must hold, then the verdict applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub verdict: Verdict,
}

/// The IP version of a packet (`meta nfproto` in the inet family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    pub fn of(ip: &IpAddr) -> IpVersion {
        match ip {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }
}

/// A layer 4 protocol (`meta l4proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4 {
    Tcp,
    Udp,
    Sctp,
    Icmpv6,
}

impl L4 {
    fn number(self) -> u8 {
        match self {
            L4::Tcp => 6,
            L4::Udp => 17,
            L4::Icmpv6 => 58,
            L4::Sctp => 132,
        }
    }

    fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Sctp => "sctp",
            L4::Icmpv6 => "ipv6-icmp",
        }
    }
}

/// A set of conntrack states (`ct state`), the kernel's bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtState(u32);

impl CtState {
    pub const INVALID: CtState = CtState(1);
    pub const ESTABLISHED: CtState = CtState(1 << 1);
    pub const RELATED: CtState = CtState(1 << 2);
    pub const NEW: CtState = CtState(1 << 3);
    pub const UNTRACKED: CtState = CtState(1 << 6);

    pub fn bits(self) -> u32 {
        self.0
    }
}

impl std::ops::BitOr for CtState {
    type Output = CtState;
    fn bitor(self, rhs: CtState) -> CtState {
        CtState(self.0 | rhs.0)
    }
}

/// One condition of a rule. Address matches bring their own protocol check (`meta nfproto`
/// in inet, the ethertype in bridge) when the rule has not made one already, so that an IPv6
/// packet is never read as an IPv4 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The input interface (`meta iifname`); with br_netfilter, the bridge for bridged packets.
    Iifname(String),
    /// The output interface (`meta oifname`).
    Oifname(String),
    /// The bridge of the input port (`meta ibrname`, bridge family only).
    BrIifname(String),
    /// The bridge of the output port (`meta obrname`, bridge family only).
    BrOifname(String),
    /// IPv4 or IPv6 (`meta nfproto`, or `meta protocol` in the bridge family).
    Ip(IpVersion),
    /// `meta l4proto`.
    L4(L4),
    /// `ip saddr` / `ip6 saddr`.
    Saddr(IpAddr),
    /// `ip daddr` / `ip6 daddr`.
    Daddr(IpAddr),
    /// `th dport first-last` (transport header destination port; needs an `L4` before it).
    Dport(u16, u16),
    /// `icmpv6 type first-last` (needs `L4(Icmpv6)` before it).
    Icmpv6Type(u8, u8),
    /// `ct state` is any of these.
    Ct(CtState),
}

/// What a rule does when it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    /// ICMP port unreachable (ICMPX in inet). Not available in the bridge family unless the
    /// kernel has `nft_reject_bridge`.
    Reject,
    Jump(String),
    Return,
    /// Destination NAT to this address, and port when one is given (in a `NatPrerouting`
    /// chain; a port needs an `L4` match); the connection's replies are translated back by
    /// conntrack.
    Dnat(IpAddr, Option<u16>),
    /// Source NAT to this address (in a `NatPostrouting` chain).
    Snat(IpAddr),
}

// ---- errors --------------------------------------------------------------------------------

/// Errors callers branch on; each names the object or the feature concerned.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// No nfnetlink in this kernel, or the socket could not be made.
    #[error("cannot open a netfilter netlink socket: {source}")]
    Socket {
        #[source]
        source: io::Error,
    },
    /// The kernel refused for lack of CAP_NET_ADMIN in this namespace.
    #[error("changing nf_tables needs CAP_NET_ADMIN: {what}")]
    Permission { what: String },
    /// A kernel feature the rules need is missing (probe).
    #[error("this kernel cannot do {feature}: {reason}")]
    Unsupported { feature: String, reason: String },
    /// br_netfilter does not pass bridged traffic of this IP version to the inet hooks, so
    /// rules there would not see it.
    #[error("{sysctl} is not 1 in this network namespace: bridged traffic bypasses nf_tables' inet hooks")]
    BridgeNetfilterOff { sysctl: String },
    /// The kernel refused a message of a batch; the batch was not applied.
    #[error("the kernel refused {object}: {message}")]
    Rejected {
        object: String,
        errno: Errno,
        /// The kernel's own explanation (extended ack), when it gave one.
        message: String,
    },
    /// Sending or receiving failed.
    #[error("netfilter netlink i/o while {doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: io::Error,
    },
    /// The kernel's answer did not parse.
    #[error("unexpected netfilter netlink answer while {doing}: {reason}")]
    Protocol { doing: String, reason: String },
}

impl NftError {
    /// The errno of a kernel refusal, if that is what this is.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NftError::Rejected { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

// ---- operations ----------------------------------------------------------------------------

/// What [`probe`] found in the calling thread's namespace. `probe` fails unless the inet
/// family with conntrack works and br_netfilter passes bridged IPv4 to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `net.bridge.bridge-nf-call-ip6tables` is 1: bridged IPv6 reaches the inet hooks too.
    pub bridged_ipv6: bool,
    /// Conntrack in the bridge family (`nf_conntrack_bridge`, Linux 5.3).
    pub bridge_conntrack: bool,
    /// `meta ibrname`/`obrname` in the bridge family (`nft_meta_bridge`).
    pub bridge_meta: bool,
}

/// Checks that this namespace can hold the rules [`crate::links::reach`] plans: nf_tables in
/// the inet family with a forward base chain and `ct state`, and br_netfilter handing bridged
/// IPv4 to those hooks. Leaves nothing behind: the test table is added and deleted in one
/// batch. The bridge family's conntrack and bridge metadata are probed the same way and only
/// reported.
pub fn probe() -> Result<Probe, NftError> {
    let mut nl = Netlink::open()?;
    let name = format!("docker-link-probe-{}", std::process::id());
    let inet = probe_table(Family::Inet, &name, Match::Iifname("lo".into()), 0);
    nl.probe_batch(&inet)
        .map_err(|e| unsupported(e, "nf_tables with conntrack in the inet family"))?;
    let v4 = sysctl_on("bridge-nf-call-iptables")?;
    if !v4 {
        return Err(NftError::BridgeNetfilterOff {
            sysctl: "net.bridge.bridge-nf-call-iptables".into(),
        });
    }
    let bridged_ipv6 = sysctl_on("bridge-nf-call-ip6tables")?;
    let ct = probe_table(Family::Bridge, &name, Match::Iifname("lo".into()), -200);
    let bridge_conntrack = nl.probe_batch(&ct).is_ok();
    let mut meta = probe_table(Family::Bridge, &name, Match::BrIifname("lo".into()), -200);
    meta.chains[0].rules[0].matches.truncate(1);
    let bridge_meta = nl.probe_batch(&meta).is_ok();
    Ok(Probe {
        bridged_ipv6,
        bridge_conntrack,
        bridge_meta,
    })
}

/// Replaces table `table.name` of `table.family` by `table`, creating it when absent: one
/// batch (add, delete, add with its chains and rules), applied by the kernel as one
/// transaction. On error nothing changed.
pub fn replace_table(table: &Table) -> Result<(), NftError> {
    Netlink::open()?.replace_table(table)
}

/// Deletes a table with everything in it; returns whether it existed.
pub fn delete_table(family: Family, name: &str) -> Result<bool, NftError> {
    Netlink::open()?.delete_table(family, name)
}

/// The names of the tables of `family` in this thread's namespace (one dump).
pub fn table_names(family: Family) -> Result<Vec<String>, NftError> {
    Netlink::open()?.table_names(family)
}

/// What the kernel holds of a table, `None` when it does not exist.
pub fn list_table(family: Family, name: &str) -> Result<Option<TableState>, NftError> {
    Netlink::open()?.list_table(family, name)
}

/// A table as the kernel holds it, as far as drift detection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableState {
    /// The table's comment (its userdata): [`Table::fingerprint`] when we wrote it.
    pub comment: Option<String>,
    /// Chain name → the handles of its rules, in order.
    pub chains: BTreeMap<String, Vec<u64>>,
}

impl TableState {
    /// Whether the kernel holds what `table` describes: the fingerprint written with it is
    /// there and every chain has as many rules as planned (a rule deleted or added by hand,
    /// or a chain flushed, shows). Rules edited in place keep their count; the watcher
    /// replaces the table on every change it plans anyway.
    pub fn matches(&self, table: &Table) -> bool {
        self.comment.as_deref() == Some(table.fingerprint().as_str())
            && self.chains.len() == table.chains.len()
            && table.chains.iter().all(|c| {
                self.chains
                    .get(&c.name)
                    .is_some_and(|rules| rules.len() == c.rules.len())
            })
    }

    pub fn rule_count(&self) -> usize {
        self.chains.values().map(Vec::len).sum()
    }
}

impl Table {
    /// A digest of everything the table holds (its encoding), written as the table's comment
    /// by [`replace_table`] so that [`TableState::matches`] can tell ours, as planned, from
    /// anything else.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update([self.family.code()]);
        h.update(self.name.as_bytes());
        let mut buf = Vec::new();
        for c in &self.chains {
            buf.clear();
            chain_attrs(&mut buf, &self.name, c);
            h.update(&buf);
            for r in &c.rules {
                buf.clear();
                rule_attrs(&mut buf, self.family, &self.name, &c.name, r);
                h.update(&buf);
            }
        }
        let d = h.finalize();
        let mut hex = String::with_capacity(32);
        for b in &d[..16] {
            let _ = write!(hex, "{b:02x}");
        }
        format!("docker-link sha256:{hex}")
    }

    pub fn rule_count(&self) -> usize {
        self.chains.iter().map(|c| c.rules.len()).sum()
    }

    /// The same table in `nft -f` syntax, replacing as [`replace_table`] does. For humans
    /// (diagnostics) and for measuring against `nft` itself; the product never runs `nft`.
    pub fn to_nft_script(&self) -> String {
        let (fam, name) = (self.family, &self.name);
        let mut s = format!("add table {fam} {name}\ndelete table {fam} {name}\n");
        let _ = writeln!(s, "table {fam} {name} {{");
        let _ = writeln!(s, "\tcomment \"{}\"", self.fingerprint());
        for c in &self.chains {
            let _ = writeln!(s, "\tchain {} {{", c.name);
            if let Some(b) = c.base {
                let policy = match b.policy {
                    Policy::Accept => "accept",
                    Policy::Drop => "drop",
                };
                let _ = writeln!(
                    s,
                    "\t\ttype {} hook {} priority {}; policy {policy};",
                    b.hook.chain_type(),
                    b.hook.name(),
                    b.priority
                );
            }
            for r in &c.rules {
                let _ = writeln!(s, "\t\t{}", r.to_nft(self.family));
            }
            let _ = writeln!(s, "\t}}");
        }
        s.push_str("}\n");
        s
    }
}

impl Rule {
    /// The rule in `nft` syntax (as [`Table::to_nft_script`] writes it).
    pub fn to_nft(&self, family: Family) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut l3 = None;
        for m in &self.matches {
            match m {
                Match::Iifname(n) => parts.push(format!("iifname \"{n}\"")),
                Match::Oifname(n) => parts.push(format!("oifname \"{n}\"")),
                Match::BrIifname(n) => parts.push(format!("meta ibrname \"{n}\"")),
                Match::BrOifname(n) => parts.push(format!("meta obrname \"{n}\"")),
                Match::Ip(v) => {
                    l3 = Some(*v);
                    parts.push(ip_dep_nft(family, *v));
                }
                Match::L4(p) => parts.push(format!("meta l4proto {}", p.name())),
                Match::Saddr(ip) | Match::Daddr(ip) => {
                    let v = IpVersion::of(ip);
                    if l3 != Some(v) && family != Family::Ip && family != Family::Ip6 {
                        parts.push(ip_dep_nft(family, v));
                        l3 = Some(v);
                    }
                    let dir = if matches!(m, Match::Saddr(_)) {
                        "saddr"
                    } else {
                        "daddr"
                    };
                    let p = if v == IpVersion::V4 { "ip" } else { "ip6" };
                    parts.push(format!("{p} {dir} {ip}"));
                }
                Match::Dport(a, b) if a == b => parts.push(format!("th dport {a}")),
                Match::Dport(a, b) => parts.push(format!("th dport {a}-{b}")),
                Match::Icmpv6Type(a, b) if a == b => parts.push(format!("icmpv6 type {a}")),
                Match::Icmpv6Type(a, b) => parts.push(format!("icmpv6 type {a}-{b}")),
                Match::Ct(s) => {
                    let names = [
                        (CtState::INVALID, "invalid"),
                        (CtState::ESTABLISHED, "established"),
                        (CtState::RELATED, "related"),
                        (CtState::NEW, "new"),
                        (CtState::UNTRACKED, "untracked"),
                    ];
                    let set: Vec<&str> = names
                        .iter()
                        .filter(|(b, _)| s.0 & b.0 != 0)
                        .map(|(_, n)| *n)
                        .collect();
                    parts.push(format!("ct state {}", set.join(",")));
                }
            }
        }
        parts.push(match &self.verdict {
            Verdict::Accept => "accept".into(),
            Verdict::Drop => "drop".into(),
            Verdict::Reject => "reject".into(),
            Verdict::Return => "return".into(),
            Verdict::Jump(c) => format!("jump {c}"),
            Verdict::Dnat(ip, None) => format!("dnat {} to {ip}", nat_family(ip)),
            Verdict::Dnat(ip, Some(port)) => format!(
                "dnat {} to {}",
                nat_family(ip),
                std::net::SocketAddr::new(*ip, *port)
            ),
            Verdict::Snat(ip) => format!("snat {} to {ip}", nat_family(ip)),
        });
        parts.join(" ")
    }
}

fn nat_family(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

fn ip_dep_nft(family: Family, v: IpVersion) -> String {
    match (family, v) {
        (Family::Bridge, IpVersion::V4) => "meta protocol ip".into(),
        (Family::Bridge, IpVersion::V6) => "meta protocol ip6".into(),
        (_, IpVersion::V4) => "meta nfproto ipv4".into(),
        (_, IpVersion::V6) => "meta nfproto ipv6".into(),
    }
}

fn probe_table(family: Family, name: &str, iface: Match, priority: i32) -> Table {
    Table {
        family,
        name: name.to_string(),
        chains: vec![Chain {
            name: "forward".into(),
            base: Some(Base {
                hook: Hook::Forward,
                priority,
                policy: Policy::Accept,
            }),
            rules: vec![Rule {
                matches: vec![iface, Match::Ct(CtState::ESTABLISHED | CtState::RELATED)],
                verdict: Verdict::Accept,
            }],
        }],
    }
}

fn unsupported(e: NftError, feature: &str) -> NftError {
    match e {
        NftError::Rejected { errno, message, .. } => NftError::Unsupported {
            feature: feature.to_string(),
            reason: if message.is_empty() {
                errno.desc().to_string()
            } else {
                format!("{}: {message}", errno.desc())
            },
        },
        other => other,
    }
}

/// `/proc/sys/net/bridge/<name>` is 1. `/proc/sys/net` shows the namespace of the thread that
/// reads it, so this reads the caller's namespace. Absent means br_netfilter is not loaded.
fn sysctl_on(name: &str) -> Result<bool, NftError> {
    let path = format!("/proc/sys/net/bridge/{name}");
    match std::fs::read_to_string(&path) {
        Ok(v) => Ok(v.trim() == "1"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(NftError::Io {
            doing: format!("reading {path}"),
            source,
        }),
    }
}

// ---- wire format ---------------------------------------------------------------------------

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;

const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
/// On an error message: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
/// On an error message: the request's payload was left out (NETLINK_CAP_ACK).
const NLM_F_CAPPED: u16 = 0x100;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSGERR_ATTR_MSG: u16 = 1;

const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_USERDATA: u16 = 6;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFT_META_PROTOCOL: u32 = 1;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const NFT_META_BRI_IIFNAME: u32 = 17;
const NFT_META_BRI_OIFNAME: u32 = 18;

const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_CMP_LTE: u32 = 3;
const NFT_CMP_GTE: u32 = 5;

const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;

const NFTA_CT_DREG: u16 = 1;
const NFTA_CT_KEY: u16 = 2;
const NFT_CT_STATE: u32 = 0;

const NFTA_BITWISE_SREG: u16 = 1;
const NFTA_BITWISE_DREG: u16 = 2;
const NFTA_BITWISE_LEN: u16 = 3;
const NFTA_BITWISE_MASK: u16 = 4;
const NFTA_BITWISE_XOR: u16 = 5;

const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;

const NFTA_REJECT_TYPE: u16 = 1;
const NFTA_REJECT_ICMP_CODE: u16 = 2;
const NFT_REJECT_ICMP_UNREACH: u32 = 0;
const NFT_REJECT_ICMPX_UNREACH: u32 = 2;
const NFT_REJECT_ICMPX_PORT_UNREACH: u8 = 1;
const ICMP_PORT_UNREACH: u8 = 3;
const ICMPV6_PORT_UNREACH: u8 = 4;

const NFT_REG_VERDICT: u32 = 0;
const NFTA_NAT_TYPE: u16 = 1;
const NFTA_NAT_FAMILY: u16 = 2;
const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
const NFT_NAT_SNAT: u32 = 0;
const NFT_NAT_DNAT: u32 = 1;
const NFPROTO_IPV4: u32 = 2;
const NFPROTO_IPV6: u32 = 10;
const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;

const NF_DROP: i32 = 0;
const NF_ACCEPT: i32 = 1;
const NFT_JUMP: i32 = -3;
const NFT_RETURN: i32 = -5;

/// The nftnl userdata TLV type of a table's comment (`NFTNL_UDATA_TABLE_COMMENT`), so `nft
/// list` shows our fingerprint as the table's comment.
const UDATA_TABLE_COMMENT: u8 = 0;

const IFNAMSIZ: usize = 16;

fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_ne_bytes());
}

fn pad(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

fn attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    // Attribute lengths are u16: no attribute of ours comes near.
    put_u16(buf, (4 + data.len()) as u16);
    put_u16(buf, ty);
    buf.extend_from_slice(data);
    pad(buf);
}

fn attr_str(buf: &mut Vec<u8>, ty: u16, s: &str) {
    let mut data = Vec::with_capacity(s.len() + 1);
    data.extend_from_slice(s.as_bytes());
    data.push(0);
    attr(buf, ty, &data);
}

fn attr_be32(buf: &mut Vec<u8>, ty: u16, v: u32) {
    attr(buf, ty, &v.to_be_bytes());
}

fn nest<F: FnOnce(&mut Vec<u8>)>(buf: &mut Vec<u8>, ty: u16, f: F) {
    let start = buf.len();
    put_u16(buf, 0);
    put_u16(buf, ty | NLA_F_NESTED);
    f(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

/// Starts a netlink message with its nfgenmsg; [`end_msg`] writes its length.
fn begin_msg(buf: &mut Vec<u8>, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> usize {
    let start = buf.len();
    put_u32(buf, 0);
    put_u16(buf, ty);
    put_u16(buf, flags);
    put_u32(buf, seq);
    put_u32(buf, 0);
    buf.push(family);
    buf.push(0); // NFNETLINK_V0
    buf.extend_from_slice(&res_id.to_be_bytes());
    start
}

fn end_msg(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

fn nft_type(msg: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | msg
}

fn expr<F: FnOnce(&mut Vec<u8>)>(buf: &mut Vec<u8>, name: &str, f: F) {
    nest(buf, NFTA_LIST_ELEM, |b| {
        attr_str(b, NFTA_EXPR_NAME, name);
        nest(b, NFTA_EXPR_DATA, f);
    });
}

fn meta(buf: &mut Vec<u8>, key: u32) {
    expr(buf, "meta", |b| {
        attr_be32(b, NFTA_META_DREG, NFT_REG_1);
        attr_be32(b, NFTA_META_KEY, key);
    });
}

fn cmp(buf: &mut Vec<u8>, op: u32, data: &[u8]) {
    expr(buf, "cmp", |b| {
        attr_be32(b, NFTA_CMP_SREG, NFT_REG_1);
        attr_be32(b, NFTA_CMP_OP, op);
        nest(b, NFTA_CMP_DATA, |b| attr(b, NFTA_DATA_VALUE, data));
    });
}

fn payload(buf: &mut Vec<u8>, base: u32, offset: u32, len: u32) {
    expr(buf, "payload", |b| {
        attr_be32(b, NFTA_PAYLOAD_DREG, NFT_REG_1);
        attr_be32(b, NFTA_PAYLOAD_BASE, base);
        attr_be32(b, NFTA_PAYLOAD_OFFSET, offset);
        attr_be32(b, NFTA_PAYLOAD_LEN, len);
    });
}

/// `first-last` as the kernel compares registers: big-endian bytes, memcmp order.
fn cmp_range(buf: &mut Vec<u8>, first: &[u8], last: &[u8]) {
    if first == last {
        cmp(buf, NFT_CMP_EQ, first);
    } else {
        cmp(buf, NFT_CMP_GTE, first);
        cmp(buf, NFT_CMP_LTE, last);
    }
}

fn ifname(name: &str) -> [u8; IFNAMSIZ] {
    // The kernel loads the name NUL-padded to IFNAMSIZ; an exact match compares all 16 bytes.
    let mut b = [0u8; IFNAMSIZ];
    let n = name.len().min(IFNAMSIZ - 1);
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    b
}

fn ip_dep(buf: &mut Vec<u8>, family: Family, v: IpVersion) {
    match family {
        Family::Bridge => {
            meta(buf, NFT_META_PROTOCOL);
            let ethertype: u16 = if v == IpVersion::V4 { 0x0800 } else { 0x86dd };
            cmp(buf, NFT_CMP_EQ, &ethertype.to_be_bytes());
        }
        _ => {
            meta(buf, NFT_META_NFPROTO);
            cmp(buf, NFT_CMP_EQ, &[if v == IpVersion::V4 { 2 } else { 10 }]);
        }
    }
}

fn verdict(buf: &mut Vec<u8>, code: i32, chain: Option<&str>) {
    expr(buf, "immediate", |b| {
        attr_be32(b, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
        nest(b, NFTA_IMMEDIATE_DATA, |b| {
            nest(b, NFTA_DATA_VERDICT, |b| {
                attr_be32(b, NFTA_VERDICT_CODE, code as u32);
                if let Some(c) = chain {
                    attr_str(b, NFTA_VERDICT_CHAIN, c);
                }
            })
        })
    });
}

/// The expressions of a rule, in the kernel's encoding.
fn rule_exprs(buf: &mut Vec<u8>, family: Family, rule: &Rule) {
    let mut l3: Option<IpVersion> = match family {
        Family::Ip => Some(IpVersion::V4),
        Family::Ip6 => Some(IpVersion::V6),
        _ => None,
    };
    for m in &rule.matches {
        match m {
            Match::Iifname(n) | Match::Oifname(n) | Match::BrIifname(n) | Match::BrOifname(n) => {
                let key = match m {
                    Match::Iifname(_) => NFT_META_IIFNAME,
                    Match::Oifname(_) => NFT_META_OIFNAME,
                    Match::BrIifname(_) => NFT_META_BRI_IIFNAME,
                    _ => NFT_META_BRI_OIFNAME,
                };
                meta(buf, key);
                cmp(buf, NFT_CMP_EQ, &ifname(n));
            }
            Match::Ip(v) => {
                ip_dep(buf, family, *v);
                l3 = Some(*v);
            }
            Match::L4(p) => {
                meta(buf, NFT_META_L4PROTO);
                cmp(buf, NFT_CMP_EQ, &[p.number()]);
            }
            Match::Saddr(ip) | Match::Daddr(ip) => {
                let v = IpVersion::of(ip);
                if l3 != Some(v) {
                    ip_dep(buf, family, v);
                    l3 = Some(v);
                }
                let src = matches!(m, Match::Saddr(_));
                let (offset, bytes) = match ip {
                    IpAddr::V4(a) => (if src { 12 } else { 16 }, a.octets().to_vec()),
                    IpAddr::V6(a) => (if src { 8 } else { 24 }, a.octets().to_vec()),
                };
                payload(buf, NFT_PAYLOAD_NETWORK_HEADER, offset, bytes.len() as u32);
                cmp(buf, NFT_CMP_EQ, &bytes);
            }
            Match::Dport(a, b) => {
                payload(buf, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
                cmp_range(buf, &a.to_be_bytes(), &b.to_be_bytes());
            }
            Match::Icmpv6Type(a, b) => {
                payload(buf, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
                cmp_range(buf, &[*a], &[*b]);
            }
            Match::Ct(s) => {
                expr(buf, "ct", |b| {
                    attr_be32(b, NFTA_CT_DREG, NFT_REG_1);
                    attr_be32(b, NFTA_CT_KEY, NFT_CT_STATE);
                });
                // The state is a host-order u32 in the register: mask it, test non-zero.
                expr(buf, "bitwise", |b| {
                    attr_be32(b, NFTA_BITWISE_SREG, NFT_REG_1);
                    attr_be32(b, NFTA_BITWISE_DREG, NFT_REG_1);
                    attr_be32(b, NFTA_BITWISE_LEN, 4);
                    nest(b, NFTA_BITWISE_MASK, |b| {
                        attr(b, NFTA_DATA_VALUE, &s.0.to_ne_bytes())
                    });
                    nest(b, NFTA_BITWISE_XOR, |b| attr(b, NFTA_DATA_VALUE, &[0; 4]));
                });
                cmp(buf, NFT_CMP_NEQ, &[0; 4]);
            }
        }
    }
    match &rule.verdict {
        Verdict::Accept => verdict(buf, NF_ACCEPT, None),
        Verdict::Drop => verdict(buf, NF_DROP, None),
        Verdict::Return => verdict(buf, NFT_RETURN, None),
        Verdict::Jump(c) => verdict(buf, NFT_JUMP, Some(c)),
        Verdict::Dnat(ip, _) | Verdict::Snat(ip) => {
            let (bytes, proto) = match ip {
                IpAddr::V4(a) => (a.octets().to_vec(), NFPROTO_IPV4),
                IpAddr::V6(a) => (a.octets().to_vec(), NFPROTO_IPV6),
            };
            // The address into a register, then `nat` reads it from there.
            expr(buf, "immediate", |b| {
                attr_be32(b, NFTA_IMMEDIATE_DREG, NFT_REG_1);
                nest(b, NFTA_IMMEDIATE_DATA, |b| attr(b, NFTA_DATA_VALUE, &bytes));
            });
            // A port into a second register, in network byte order (`nat` reads 16 bits).
            let port = match rule.verdict {
                Verdict::Dnat(_, Some(p)) => Some(p),
                _ => None,
            };
            if let Some(p) = port {
                expr(buf, "immediate", |b| {
                    attr_be32(b, NFTA_IMMEDIATE_DREG, NFT_REG_2);
                    nest(b, NFTA_IMMEDIATE_DATA, |b| {
                        attr(b, NFTA_DATA_VALUE, &p.to_be_bytes())
                    });
                });
            }
            let ty = if matches!(rule.verdict, Verdict::Dnat(..)) {
                NFT_NAT_DNAT
            } else {
                NFT_NAT_SNAT
            };
            expr(buf, "nat", |b| {
                attr_be32(b, NFTA_NAT_TYPE, ty);
                attr_be32(b, NFTA_NAT_FAMILY, proto);
                attr_be32(b, NFTA_NAT_REG_ADDR_MIN, NFT_REG_1);
                if port.is_some() {
                    attr_be32(b, NFTA_NAT_REG_PROTO_MIN, NFT_REG_2);
                }
            });
        }
        Verdict::Reject => {
            let (ty, code) = match family {
                Family::Ip => (NFT_REJECT_ICMP_UNREACH, ICMP_PORT_UNREACH),
                Family::Ip6 => (NFT_REJECT_ICMP_UNREACH, ICMPV6_PORT_UNREACH),
                Family::Inet | Family::Bridge => {
                    (NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH)
                }
            };
            expr(buf, "reject", |b| {
                attr_be32(b, NFTA_REJECT_TYPE, ty);
                attr(b, NFTA_REJECT_ICMP_CODE, &[code]);
            });
        }
    }
}

fn chain_attrs(buf: &mut Vec<u8>, table: &str, c: &Chain) {
    attr_str(buf, NFTA_CHAIN_TABLE, table);
    attr_str(buf, NFTA_CHAIN_NAME, &c.name);
    if let Some(b) = c.base {
        nest(buf, NFTA_CHAIN_HOOK, |buf| {
            attr_be32(buf, NFTA_HOOK_HOOKNUM, b.hook.code());
            attr_be32(buf, NFTA_HOOK_PRIORITY, b.priority as u32);
        });
        let policy = match b.policy {
            Policy::Accept => NF_ACCEPT,
            Policy::Drop => NF_DROP,
        };
        attr_be32(buf, NFTA_CHAIN_POLICY, policy as u32);
        attr_str(buf, NFTA_CHAIN_TYPE, b.hook.chain_type());
    }
}

fn rule_attrs(buf: &mut Vec<u8>, family: Family, table: &str, chain: &str, r: &Rule) {
    attr_str(buf, NFTA_RULE_TABLE, table);
    attr_str(buf, NFTA_RULE_CHAIN, chain);
    nest(buf, NFTA_RULE_EXPRESSIONS, |b| rule_exprs(b, family, r));
}

fn table_userdata(comment: &str) -> Vec<u8> {
    let mut v = comment.as_bytes().to_vec();
    v.truncate(254);
    v.push(0);
    let mut u = vec![UDATA_TABLE_COMMENT, v.len() as u8];
    u.extend_from_slice(&v);
    u
}

fn parse_table_comment(userdata: &[u8]) -> Option<String> {
    let mut rest = userdata;
    while rest.len() >= 2 {
        let (ty, len) = (rest[0], rest[1] as usize);
        let value = rest.get(2..2 + len)?;
        if ty == UDATA_TABLE_COMMENT {
            let text = value.split(|&b| b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        rest = &rest[2 + len..];
    }
    None
}

/// A batch being built: the messages' bytes and, per sequence number, the object it names.
struct Batch {
    buf: Vec<u8>,
    objects: BTreeMap<u32, String>,
    seq: u32,
}

impl Batch {
    fn new(first_seq: u32) -> Batch {
        let mut b = Batch {
            buf: Vec::with_capacity(4096),
            objects: BTreeMap::new(),
            seq: first_seq,
        };
        b.control(NFNL_MSG_BATCH_BEGIN, "the start of the batch");
        b
    }

    /// A batch delimiter: family unspecified, the subsystem in `res_id`.
    fn control(&mut self, ty: u16, object: &str) {
        let s = self.next(object.to_string());
        let start = begin_msg(&mut self.buf, ty, NLM_F_REQUEST, s, 0, NFNL_SUBSYS_NFTABLES);
        end_msg(&mut self.buf, start);
    }

    fn next(&mut self, object: String) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.objects.insert(s, object);
        s
    }

    fn msg<F: FnOnce(&mut Vec<u8>)>(
        &mut self,
        object: String,
        msg: u16,
        flags: u16,
        family: Family,
        f: F,
    ) {
        let s = self.next(object);
        let start = begin_msg(
            &mut self.buf,
            nft_type(msg),
            NLM_F_REQUEST | flags,
            s,
            family.code(),
            0,
        );
        f(&mut self.buf);
        end_msg(&mut self.buf, start);
    }

    fn add_table(&mut self, family: Family, name: &str, comment: Option<&str>) {
        self.msg(
            format!("table {family} {name}"),
            NFT_MSG_NEWTABLE,
            NLM_F_CREATE,
            family,
            |b| {
                attr_str(b, NFTA_TABLE_NAME, name);
                if let Some(c) = comment {
                    attr(b, NFTA_TABLE_USERDATA, &table_userdata(c));
                }
            },
        );
    }

    fn delete_table(&mut self, family: Family, name: &str) {
        self.msg(
            format!("the deletion of table {family} {name}"),
            NFT_MSG_DELTABLE,
            0,
            family,
            |b| attr_str(b, NFTA_TABLE_NAME, name),
        );
    }

    /// Adds the table with its chains and rules (the table must not exist at this point of
    /// the batch).
    fn table(&mut self, t: &Table) {
        self.add_table(t.family, &t.name, Some(&t.fingerprint()));
        for c in &t.chains {
            self.msg(
                format!("chain {} of table {} {}", c.name, t.family, t.name),
                NFT_MSG_NEWCHAIN,
                NLM_F_CREATE,
                t.family,
                |b| chain_attrs(b, &t.name, c),
            );
        }
        for c in &t.chains {
            for (i, r) in c.rules.iter().enumerate() {
                self.msg(
                    format!(
                        "rule {} of chain {} of table {} {} ({})",
                        i + 1,
                        c.name,
                        t.family,
                        t.name,
                        r.to_nft(t.family)
                    ),
                    NFT_MSG_NEWRULE,
                    NLM_F_CREATE | NLM_F_APPEND,
                    t.family,
                    |b| rule_attrs(b, t.family, &t.name, &c.name, r),
                );
            }
        }
    }

    fn finish(mut self) -> (Vec<u8>, BTreeMap<u32, String>, u32) {
        self.control(NFNL_MSG_BATCH_END, "the end of the batch");
        (self.buf, self.objects, self.seq)
    }
}

/// One netlink message of an answer.
struct Reply<'a> {
    ty: u16,
    flags: u16,
    seq: u32,
    /// After the netlink header.
    body: &'a [u8],
}

fn replies(data: &[u8]) -> Result<Vec<Reply<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 16 {
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < 16 || len > rest.len() {
            return Err(format!("a message of length {len} in {} bytes", rest.len()));
        }
        out.push(Reply {
            ty: u16::from_ne_bytes([rest[4], rest[5]]),
            flags: u16::from_ne_bytes([rest[6], rest[7]]),
            seq: u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]),
            body: &rest[16..len],
        });
        let next = (len + 3) & !3;
        rest = rest.get(next..).unwrap_or_default();
    }
    Ok(out)
}

/// The attributes of a message body (`data` starts with them), as (type, payload).
fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let ty = u16::from_ne_bytes([data[2], data[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((ty, &data[4..len]));
        data = data.get((len + 3) & !3..).unwrap_or_default();
    }
    out
}

fn attr_string(v: &[u8]) -> String {
    let text = v.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

/// An error message's errno (0 for an ack) and the kernel's text, if any.
fn parse_error(r: &Reply<'_>) -> Result<(i32, String), String> {
    let b = r.body;
    if b.len() < 4 + 16 {
        return Err("a short error message".into());
    }
    let err = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let mut msg = String::new();
    if r.flags & NLM_F_ACK_TLVS != 0 {
        let inner_len = if r.flags & NLM_F_CAPPED != 0 {
            16
        } else {
            u32::from_ne_bytes([b[4], b[5], b[6], b[7]]) as usize
        };
        let tlvs = b.get(4 + ((inner_len + 3) & !3)..).unwrap_or_default();
        for (ty, v) in attrs(tlvs) {
            if ty == NLMSGERR_ATTR_MSG {
                msg = attr_string(v);
            }
        }
    }
    Ok((err, msg))
}

/// A NETLINK_NETFILTER socket of the calling thread's namespace.
struct Netlink {
    sock: Socket,
    buf: Vec<u8>,
}

/// Sequence numbers of the whole process, so that an answer never matches a request of
/// another operation.
static SEQ: AtomicU32 = AtomicU32::new(1);

fn seqs(n: u32) -> u32 {
    SEQ.fetch_add(n, Ordering::Relaxed)
}

/// Receive buffer: a dump answer is at most a few pages per datagram; acks are small.
const RECV_BUF: usize = 256 * 1024;
/// A batch's answers arrive while `send` runs; this only bounds a kernel that never answers.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);

impl Netlink {
    fn open() -> Result<Netlink, NftError> {
        let mut sock =
            Socket::new(NETLINK_NETFILTER).map_err(|source| NftError::Socket { source })?;
        sock.bind_auto()
            .map_err(|source| NftError::Socket { source })?;
        // Errors without the request echoed, with the kernel's explanation when it has one.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        let tv = TimeVal::new(RECV_TIMEOUT.as_secs() as i64, 0);
        setsockopt(&sock, sockopt::ReceiveTimeout, &tv)
            .map_err(|e| NftError::Socket { source: e.into() })?;
        // Errors of a large batch are answered while it is sent: room for all of them.
        let _ = setsockopt(&sock, sockopt::RcvBufForce, &(4 * 1024 * 1024));
        Ok(Netlink {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    fn send(&self, data: &[u8], doing: &str) -> Result<(), NftError> {
        let kernel = SocketAddr::new(0, 0);
        // A netlink send fails with EMSGSIZE beyond the send buffer: make room for the batch
        // (SO_SNDBUFFORCE needs CAP_NET_ADMIN, which changing nf_tables needs anyway).
        let _ = setsockopt(&self.sock, sockopt::SndBufForce, &(data.len() + 4096));
        match self.sock.send_to(data, &kernel, 0) {
            Ok(n) if n == data.len() => Ok(()),
            Ok(n) => Err(NftError::Protocol {
                doing: doing.to_string(),
                reason: format!("sent {n} of {} bytes", data.len()),
            }),
            Err(source) => Err(io_error(source, doing)),
        }
    }

    /// Receives one datagram into `self.buf`.
    fn recv(&mut self, doing: &str) -> Result<(), NftError> {
        self.buf.clear();
        let n = self
            .sock
            .recv(&mut self.buf, nix::libc::MSG_TRUNC)
            .map_err(|source| io_error(source, doing))?;
        if n > self.buf.len() {
            return Err(NftError::Protocol {
                doing: doing.to_string(),
                reason: format!("an answer of {n} bytes was cut to {}", self.buf.len()),
            });
        }
        Ok(())
    }

    /// Sends a batch, then a GETGEN whose answer marks the end of the batch's answers;
    /// returns the first error of the batch, naming its object.
    fn run_batch(&mut self, batch: Batch, doing: &str) -> Result<(), NftError> {
        let (data, objects, sentinel) = batch.finish();
        self.send(&data, doing)?;
        let mut req = Vec::with_capacity(32);
        let start = begin_msg(
            &mut req,
            nft_type(NFT_MSG_GETGEN),
            NLM_F_REQUEST,
            sentinel,
            0,
            0,
        );
        end_msg(&mut req, start);
        self.send(&req, doing)?;
        let mut first: Option<NftError> = None;
        loop {
            match self.recv(doing) {
                Ok(()) => {}
                // Only errors are answered (no acks requested): the queue overflowed with
                // them, so the batch was refused. The first one, if read, names the cause.
                Err(NftError::Io { source, .. })
                    if source.raw_os_error() == Some(Errno::ENOBUFS as i32) =>
                {
                    return Err(first.unwrap_or_else(|| NftError::Rejected {
                        object: "the batch".to_string(),
                        errno: Errno::ENOBUFS,
                        message: "more errors than the socket could hold".to_string(),
                    }));
                }
                Err(e) => return Err(e),
            }
            let mut done = false;
            for r in replies(&self.buf).map_err(|reason| NftError::Protocol {
                doing: doing.to_string(),
                reason,
            })? {
                if r.seq == sentinel {
                    // The generation's answer (NEWGEN), or its error: either way, last.
                    done = r.ty == nft_type(NFT_MSG_NEWGEN) || r.ty == NLMSG_ERROR;
                    continue;
                }
                if r.ty != NLMSG_ERROR {
                    continue;
                }
                let (err, message) = parse_error(&r).map_err(|reason| NftError::Protocol {
                    doing: doing.to_string(),
                    reason,
                })?;
                if err == 0 || first.is_some() {
                    continue;
                }
                let errno = Errno::from_raw(-err);
                let object = objects
                    .get(&r.seq)
                    .cloned()
                    .unwrap_or_else(|| format!("message {} of the batch", r.seq));
                first = Some(if errno == Errno::EPERM {
                    NftError::Permission { what: object }
                } else {
                    NftError::Rejected {
                        object,
                        errno,
                        message,
                    }
                });
            }
            if done {
                return first.map_or(Ok(()), Err);
            }
        }
    }

    fn probe_batch(&mut self, t: &Table) -> Result<(), NftError> {
        let mut b = Batch::new(seqs(64));
        b.table(t);
        b.delete_table(t.family, &t.name);
        self.run_batch(b, "probing")
    }

    fn replace_table(&mut self, t: &Table) -> Result<(), NftError> {
        // begin, add, delete, add, the chains, the rules, end, and the GETGEN after the batch.
        let n = 6 + t.chains.len() as u32 + t.rule_count() as u32;
        let mut b = Batch::new(seqs(n));
        // Add first so that the delete never meets an absent table; all in one transaction.
        b.add_table(t.family, &t.name, None);
        b.delete_table(t.family, &t.name);
        b.table(t);
        self.run_batch(b, &format!("replacing table {} {}", t.family, t.name))
    }

    fn delete_table(&mut self, family: Family, name: &str) -> Result<bool, NftError> {
        let mut b = Batch::new(seqs(4));
        b.delete_table(family, name);
        match self.run_batch(b, &format!("deleting table {family} {name}")) {
            Ok(()) => Ok(true),
            Err(NftError::Rejected {
                errno: Errno::ENOENT,
                ..
            }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sends a request and collects the bodies of its answers (a dump or a single get),
    /// `None` when the kernel says ENOENT.
    fn request(
        &mut self,
        msg: u16,
        flags: u16,
        family: Family,
        attrs_of: impl FnOnce(&mut Vec<u8>),
        doing: &str,
    ) -> Result<Option<Vec<Vec<u8>>>, NftError> {
        let seq = seqs(1);
        let mut req = Vec::with_capacity(128);
        let start = begin_msg(
            &mut req,
            nft_type(msg),
            NLM_F_REQUEST | flags,
            seq,
            family.code(),
            0,
        );
        attrs_of(&mut req);
        end_msg(&mut req, start);
        self.send(&req, doing)?;
        let mut bodies = Vec::new();
        loop {
            self.recv(doing)?;
            for r in replies(&self.buf).map_err(|reason| NftError::Protocol {
                doing: doing.to_string(),
                reason,
            })? {
                if r.seq != seq {
                    continue;
                }
                match r.ty {
                    NLMSG_DONE => return Ok(Some(bodies)),
                    NLMSG_ERROR => {
                        let (err, message) =
                            parse_error(&r).map_err(|reason| NftError::Protocol {
                                doing: doing.to_string(),
                                reason,
                            })?;
                        return match Errno::from_raw(-err) {
                            _ if err == 0 => Ok(Some(bodies)),
                            Errno::ENOENT => Ok(None),
                            Errno::EPERM => Err(NftError::Permission {
                                what: doing.to_string(),
                            }),
                            errno => Err(NftError::Rejected {
                                object: doing.to_string(),
                                errno,
                                message,
                            }),
                        };
                    }
                    _ => bodies.push(r.body.get(4..).unwrap_or_default().to_vec()),
                }
            }
        }
    }

    fn table_names(&mut self, family: Family) -> Result<Vec<String>, NftError> {
        let doing = format!("listing the {family} tables");
        let tables = self
            .request(NFT_MSG_GETTABLE, NLM_F_DUMP, family, |_| {}, &doing)?
            .unwrap_or_default();
        Ok(tables
            .iter()
            .filter_map(|body| {
                attrs(body)
                    .into_iter()
                    .find(|(ty, _)| *ty == NFTA_TABLE_NAME)
                    .map(|(_, v)| attr_string(v))
            })
            .collect())
    }

    fn list_table(&mut self, family: Family, name: &str) -> Result<Option<TableState>, NftError> {
        let doing = format!("reading table {family} {name}");
        let Some(tables) = self.request(
            NFT_MSG_GETTABLE,
            NLM_F_ACK,
            family,
            |b| attr_str(b, NFTA_TABLE_NAME, name),
            &doing,
        )?
        else {
            return Ok(None);
        };
        let comment = tables.first().and_then(|body| {
            attrs(body)
                .into_iter()
                .find(|(ty, _)| *ty == NFTA_TABLE_USERDATA)
                .and_then(|(_, v)| parse_table_comment(v))
        });
        let mut chains: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        // Chains are dumped for the whole family; ours are those naming our table.
        let all = self
            .request(NFT_MSG_GETCHAIN, NLM_F_DUMP, family, |_| {}, &doing)?
            .unwrap_or_default();
        for body in &all {
            let a = attrs(body);
            let table = a.iter().find(|(t, _)| *t == NFTA_CHAIN_TABLE);
            let chain = a.iter().find(|(t, _)| *t == NFTA_CHAIN_NAME);
            if let (Some((_, t)), Some((_, c))) = (table, chain) {
                if attr_string(t) == name {
                    chains.entry(attr_string(c)).or_default();
                }
            }
        }
        let rules = self
            .request(
                NFT_MSG_GETRULE,
                NLM_F_DUMP,
                family,
                |b| attr_str(b, NFTA_RULE_TABLE, name),
                &doing,
            )?
            .unwrap_or_default();
        for body in &rules {
            let a = attrs(body);
            let table = a.iter().find(|(t, _)| *t == NFTA_RULE_TABLE);
            let chain = a.iter().find(|(t, _)| *t == NFTA_RULE_CHAIN);
            let handle = a.iter().find(|(t, _)| *t == NFTA_RULE_HANDLE);
            if let (Some((_, t)), Some((_, c)), Some((_, h))) = (table, chain, handle) {
                if attr_string(t) != name || h.len() != 8 {
                    continue;
                }
                let mut be = [0u8; 8];
                be.copy_from_slice(h);
                chains
                    .entry(attr_string(c))
                    .or_default()
                    .push(u64::from_be_bytes(be));
            }
        }
        Ok(Some(TableState { comment, chains }))
    }
}

fn io_error(source: io::Error, doing: &str) -> NftError {
    if source.raw_os_error() == Some(Errno::EPERM as i32) {
        return NftError::Permission {
            what: doing.to_string(),
        };
    }
    NftError::Io {
        doing: doing.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(matches: Vec<Match>, verdict: Verdict) -> Rule {
        Rule { matches, verdict }
    }

    /// Table `inet t` with a forward base chain holding `r`.
    fn forward_table(r: Rule) -> Table {
        Table {
            family: Family::Inet,
            name: "t".into(),
            chains: vec![Chain {
                name: "forward".into(),
                base: Some(Base {
                    hook: Hook::Forward,
                    priority: 0,
                    policy: Policy::Accept,
                }),
                rules: vec![r],
            }],
        }
    }

    /// The expressions of a rule by name, in order, read back from our own encoding.
    fn expr_names(family: Family, r: &Rule) -> Vec<String> {
        let mut buf = Vec::new();
        rule_exprs(&mut buf, family, r);
        attrs(&buf)
            .into_iter()
            .map(|(ty, elem)| {
                assert_eq!(ty, NFTA_LIST_ELEM);
                let a = attrs(elem);
                assert_eq!(a[0].0, NFTA_EXPR_NAME);
                attr_string(a[0].1)
            })
            .collect()
    }

    /// NAT: the address goes into a register (`immediate`), `nat` reads it; the text form
    /// is nft's.
    #[test]
    fn nat_rules_load_the_address_then_translate() {
        for (verdict, text) in [
            (
                Verdict::Dnat("10.0.0.3".parse().unwrap(), None),
                "iifname \"eth0\" dnat ip to 10.0.0.3",
            ),
            (
                Verdict::Snat("fd00::2".parse().unwrap()),
                "iifname \"eth0\" snat ip6 to fd00::2",
            ),
        ] {
            let r = rule(vec![Match::Iifname("eth0".into())], verdict);
            assert_eq!(
                expr_names(Family::Inet, &r),
                ["meta", "cmp", "immediate", "nat"]
            );
            assert_eq!(r.to_nft(Family::Inet), text);
        }
    }

    /// A DNAT with a port loads it into a second register, which `nat` names as its
    /// protocol range.
    #[test]
    fn dnat_to_a_port_loads_address_and_port() {
        let r = rule(
            vec![Match::L4(L4::Tcp), Match::Dport(8080, 8080)],
            Verdict::Dnat("10.0.0.3".parse().unwrap(), Some(80)),
        );
        assert_eq!(
            expr_names(Family::Inet, &r).last_chunk::<3>().unwrap(),
            &["immediate", "immediate", "nat"]
        );
        assert_eq!(
            r.to_nft(Family::Inet),
            "meta l4proto tcp th dport 8080 dnat ip to 10.0.0.3:80"
        );
        let v6 = rule(
            vec![Match::L4(L4::Udp), Match::Dport(53, 53)],
            Verdict::Dnat("fd00::2".parse().unwrap(), Some(5353)),
        );
        assert_eq!(
            v6.to_nft(Family::Inet),
            "meta l4proto udp th dport 53 dnat ip6 to [fd00::2]:5353"
        );
    }

    #[test]
    fn rules_lower_to_the_expressions_nft_would_use() {
        let r = rule(
            vec![
                Match::Iifname("br-x".into()),
                Match::Saddr("10.0.0.2".parse().unwrap()),
                Match::Daddr("10.0.0.3".parse().unwrap()),
                Match::L4(L4::Tcp),
                Match::Dport(8000, 8010),
                Match::Ct(CtState::NEW),
            ],
            Verdict::Accept,
        );
        let names = expr_names(Family::Inet, &r);
        assert_eq!(
            names,
            [
                "meta",
                "cmp", // iifname
                "meta",
                "cmp", // nfproto ipv4, once for both addresses
                "payload",
                "cmp",
                "payload",
                "cmp", // saddr, daddr
                "meta",
                "cmp", // l4proto
                "payload",
                "cmp",
                "cmp", // dport range: gte, lte
                "ct",
                "bitwise",
                "cmp", // ct state
                "immediate",
            ]
        );
        // In the ip family the addresses need no protocol check; in bridge, the ethertype.
        let addr = rule(
            vec![Match::Saddr("10.0.0.2".parse().unwrap())],
            Verdict::Drop,
        );
        assert_eq!(
            expr_names(Family::Ip, &addr),
            ["payload", "cmp", "immediate"]
        );
        assert_eq!(
            expr_names(Family::Bridge, &addr),
            ["meta", "cmp", "payload", "cmp", "immediate"]
        );
        assert_eq!(
            expr_names(Family::Inet, &rule(vec![], Verdict::Reject)),
            ["reject"]
        );
    }

    #[test]
    fn attributes_are_aligned_and_nests_hold_their_length() {
        let mut buf = Vec::new();
        nest(&mut buf, 7, |b| {
            attr_str(b, 1, "abc"); // 4 + 4 bytes, no padding
            attr(b, 2, &[1]); // 4 + 1, padded to 8
        });
        assert_eq!(buf.len(), 4 + 8 + 8);
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), 20);
        assert_eq!(u16::from_ne_bytes([buf[2], buf[3]]), 7 | NLA_F_NESTED);
        let outer = attrs(&buf);
        assert_eq!(outer.len(), 1);
        let inner = attrs(outer[0].1);
        assert_eq!(inner, vec![(1, &b"abc\0"[..]), (2, &[1u8][..])]);
        // Truncated input stops, never panics.
        assert!(attrs(&buf[..3]).is_empty());
        let mut bad = buf.clone();
        bad[0] = 200;
        assert!(attrs(&bad).is_empty());
    }

    #[test]
    fn interface_names_are_nul_padded_to_ifnamsiz() {
        assert_eq!(&ifname("br-0")[..5], b"br-0\0");
        assert_eq!(ifname("br-0")[4..], [0u8; 12]);
        let long = ifname("a-name-longer-than-15");
        assert_eq!(long[15], 0, "always NUL-terminated");
    }

    #[test]
    fn the_table_comment_round_trips_through_userdata() {
        let t = Table {
            family: Family::Inet,
            name: "t".into(),
            chains: vec![],
        };
        let fp = t.fingerprint();
        assert!(fp.starts_with("docker-link sha256:"), "{fp}");
        assert_eq!(fp.len(), "docker-link sha256:".len() + 32);
        let u = table_userdata(&fp);
        assert_eq!(parse_table_comment(&u).as_deref(), Some(fp.as_str()));
        // Other TLVs before it are skipped; garbage is no comment.
        let mut with_other = vec![5, 2, 0xaa, 0xbb];
        with_other.extend_from_slice(&u);
        assert_eq!(
            parse_table_comment(&with_other).as_deref(),
            Some(fp.as_str())
        );
        assert_eq!(parse_table_comment(&[0, 40, 1]), None);
        assert_eq!(parse_table_comment(&[]), None);
    }

    #[test]
    fn the_fingerprint_changes_with_any_rule() {
        let table = |port| Table {
            family: Family::Inet,
            name: "t".into(),
            chains: vec![Chain {
                name: "c".into(),
                base: None,
                rules: vec![rule(
                    vec![Match::L4(L4::Tcp), Match::Dport(port, port)],
                    Verdict::Accept,
                )],
            }],
        };
        assert_eq!(table(80).fingerprint(), table(80).fingerprint());
        assert_ne!(table(80).fingerprint(), table(81).fingerprint());
    }

    /// A kernel error message: nlmsghdr, errno, the request's header (capped), then the
    /// extended ack's text.
    fn error_message(seq: u32, errno: i32, text: &str) -> Vec<u8> {
        let mut m = Vec::new();
        put_u32(&mut m, 0);
        put_u16(&mut m, NLMSG_ERROR);
        put_u16(&mut m, NLM_F_CAPPED | NLM_F_ACK_TLVS);
        put_u32(&mut m, seq);
        put_u32(&mut m, 0);
        m.extend_from_slice(&(-errno).to_ne_bytes());
        // The request's header, as capped acks carry it.
        put_u32(&mut m, 36);
        put_u16(&mut m, nft_type(NFT_MSG_NEWRULE));
        put_u16(&mut m, NLM_F_REQUEST);
        put_u32(&mut m, seq);
        put_u32(&mut m, 0);
        attr_str(&mut m, NLMSGERR_ATTR_MSG, text);
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    #[test]
    fn errors_parse_with_the_kernels_text() {
        let mut data = error_message(7, Errno::ENOENT as i32, "chain not found");
        data.extend(error_message(8, 0, ""));
        let rs = replies(&data).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].seq, 7);
        assert_eq!(
            parse_error(&rs[0]).unwrap(),
            (-(Errno::ENOENT as i32), "chain not found".to_string())
        );
        assert_eq!(parse_error(&rs[1]).unwrap().0, 0);
        // A length beyond the data is an error, not a panic.
        let mut bad = data.clone();
        bad[0] = 0xff;
        assert!(replies(&bad).is_err());
    }

    #[test]
    fn a_batch_names_every_message() {
        let t = forward_table(rule(vec![Match::Oifname("x".into())], Verdict::Drop));
        let mut b = Batch::new(100);
        b.add_table(t.family, &t.name, None);
        b.delete_table(t.family, &t.name);
        b.table(&t);
        let (data, objects, next) = b.finish();
        let names: Vec<&str> = objects.values().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "the start of the batch",
                "table inet t",
                "the deletion of table inet t",
                "table inet t",
                "chain forward of table inet t",
                "rule 1 of chain forward of table inet t (oifname \"x\" drop)",
                "the end of the batch",
            ]
        );
        assert_eq!(next, 107);
        let msgs = replies(&data).unwrap();
        let seqs: Vec<u32> = msgs.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (100..107).collect::<Vec<_>>());
        assert_eq!(msgs[0].ty, NFNL_MSG_BATCH_BEGIN);
        assert_eq!(msgs[6].ty, NFNL_MSG_BATCH_END);
        // The batch messages name the nftables subsystem in res_id (big-endian).
        assert_eq!(&msgs[0].body[2..4], &NFNL_SUBSYS_NFTABLES.to_be_bytes());
        assert_eq!(msgs[5].ty, nft_type(NFT_MSG_NEWRULE));
        assert_eq!(msgs[5].body[0], Family::Inet.code());
    }

    #[test]
    fn errors_name_the_object_or_feature() {
        let refused = NftError::Rejected {
            object: "rule 2 of chain forward of table inet t (jump nowhere)".into(),
            errno: Errno::ENOENT,
            message: String::new(),
        };
        assert_eq!(refused.errno(), Some(Errno::ENOENT));
        assert!(refused.to_string().contains("rule 2 of chain forward"));
        let probe = unsupported(
            NftError::Rejected {
                object: "rule 1".into(),
                errno: Errno::EOPNOTSUPP,
                message: "ct not available".into(),
            },
            "conntrack in the bridge family",
        );
        match &probe {
            NftError::Unsupported { feature, reason } => {
                assert_eq!(feature, "conntrack in the bridge family");
                assert!(reason.ends_with(": ct not available"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let off = NftError::BridgeNetfilterOff {
            sysctl: "net.bridge.bridge-nf-call-iptables".into(),
        };
        for e in [&refused, &probe, &off] {
            let msg = e.to_string();
            assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
        }
        assert!(off
            .to_string()
            .contains("net.bridge.bridge-nf-call-iptables"));
    }

    #[test]
    fn the_nft_script_replaces_the_table() {
        let t = forward_table(rule(
            vec![Match::Ct(CtState::ESTABLISHED | CtState::RELATED)],
            Verdict::Accept,
        ));
        let want = format!(
            "add table inet t\ndelete table inet t\ntable inet t {{\n\tcomment \"{}\"\n\
             \tchain forward {{\n\t\ttype filter hook forward priority 0; policy accept;\n\
             \t\tct state established,related accept\n\t}}\n}}\n",
            t.fingerprint()
        );
        assert_eq!(t.to_nft_script(), want);
    }
}
