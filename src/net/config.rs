//! The `x-network` configuration: conlink's schema (links, bridges, tunnels, commands) plus
//! IPv6 wherever an address or a route appears and `command` as a string or an argv list.
//!
//! Sources (compose files' top-level and per-service `x-network`, network files) are
//! interpolated, merged as conlink merges them (sections concatenated in order; links with
//! the same `service|container:dev` merged into one, lists appended and scalars overridden),
//! and validated all at once: every error is reported with the path where its value was
//! written (`compose.yaml: x-network.links[3].ip: …`), unknown keys with the closest valid one.
//! The result, [`NetConfig`], has every default filled in; it is what `docker net config
//! --show` prints and what `up` stores for the watcher.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::addr::{ifname_error, Cidr, Mac};
use super::interp::{interpolate, Env};

/// What a source is, which decides where its configuration sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// `x-network` at the top and inside services.
    Compose,
    /// The configuration is the whole file.
    NetworkFile,
}

/// One parsed file.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// As messages name it (the path as given).
    pub(crate) name: String,
    pub(crate) kind: SourceKind,
    pub(crate) value: Value,
}

/// Settings that fill defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Defaults {
    /// MTU of links that do not set one (conlink: 65535).
    pub(crate) mtu: u32,
    /// Mode of bridges that do not set one (`auto` is `linux`: no Open vSwitch here).
    pub(crate) bridge_mode: BridgeMode,
}

impl Default for Defaults {
    fn default() -> Defaults {
        Defaults {
            mtu: 65535,
            bridge_mode: BridgeMode::Linux,
        }
    }
}

/// The merged, interpolated, validated configuration, defaults filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetConfig {
    pub(crate) links: Vec<Link>,
    #[serde(default)]
    pub(crate) bridges: Vec<Bridge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) tunnels: Vec<Tunnel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) commands: Vec<Command>,
}

/// Whom a link or a command is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Target {
    /// A compose service of the project: every replica.
    Service(String),
    /// A container by name.
    Container(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Service(s) => write!(f, "service {s}"),
            Target::Container(c) => write!(f, "container {c}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LinkType {
    Veth,
    Dummy,
    Vlan,
    Ipvlan,
    Ipvtap,
    Macvlan,
    Macvtap,
}

impl LinkType {
    const NAMES: [&'static str; 7] = [
        "veth", "dummy", "vlan", "ipvlan", "ipvtap", "macvlan", "macvtap",
    ];

    fn parse(s: &str) -> Option<LinkType> {
        Some(match s {
            "veth" => LinkType::Veth,
            "dummy" => LinkType::Dummy,
            "vlan" => LinkType::Vlan,
            "ipvlan" => LinkType::Ipvlan,
            "ipvtap" => LinkType::Ipvtap,
            "macvlan" => LinkType::Macvlan,
            "macvtap" => LinkType::Macvtap,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            LinkType::Veth => "veth",
            LinkType::Dummy => "dummy",
            LinkType::Vlan => "vlan",
            LinkType::Ipvlan => "ipvlan",
            LinkType::Ipvtap => "ipvtap",
            LinkType::Macvlan => "macvlan",
            LinkType::Macvtap => "macvtap",
        }
    }

    /// The modes `mode` accepts for this type (empty: `mode` is not allowed).
    fn modes(self) -> &'static [&'static str] {
        match self {
            LinkType::Macvlan | LinkType::Macvtap => {
                &["private", "vepa", "bridge", "passthru", "source"]
            }
            LinkType::Ipvlan | LinkType::Ipvtap => &["l2", "l3", "l3s"],
            _ => &[],
        }
    }
}

/// One interface of a container (of every replica, for a service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Link {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) container: Option<String>,
    #[serde(rename = "type")]
    pub(crate) kind: LinkType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bridge: Option<String>,
    pub(crate) dev: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) outer_dev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ip: Option<Cidr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mac: Option<Mac>,
    /// 0: the parent interface's (links on a parent only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) mtu: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) route: Vec<Route>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nat: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) netem: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) ethtool: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) vlanid: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) forward: Vec<Forward>,
}

impl Link {
    pub(crate) fn target(&self) -> Target {
        match (&self.service, &self.container) {
            (Some(s), _) => Target::Service(s.clone()),
            (None, Some(c)) => Target::Container(c.clone()),
            // Validation guarantees one of them; an empty container name never matches.
            (None, None) => Target::Container(String::new()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BridgeMode {
    Linux,
    Patch,
    Ovs,
}

impl BridgeMode {
    /// conlink's modes; `auto` is Open vSwitch when loaded, else linux: this kernel kind has
    /// no Open vSwitch, and `ovs` itself is refused by `up` where the module is missing.
    pub(crate) fn parse(s: &str) -> Option<BridgeMode> {
        Some(match s {
            "auto" | "linux" => BridgeMode::Linux,
            "patch" => BridgeMode::Patch,
            "ovs" => BridgeMode::Ovs,
            _ => return None,
        })
    }
}

/// A switch: a linux bridge, or a patch (exactly two ends joined by tc mirred).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bridge {
    pub(crate) bridge: String,
    pub(crate) mode: BridgeMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TunnelType {
    Vxlan,
    Geneve,
}

/// A tunnel end enslaved to a bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tunnel {
    #[serde(rename = "type")]
    pub(crate) kind: TunnelType,
    pub(crate) bridge: String,
    pub(crate) remote: IpAddr,
    pub(crate) vni: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) netem: Vec<String>,
}

impl Tunnel {
    /// conlink's name for the device: `vxlan-<vni>`.
    pub(crate) fn dev(&self) -> String {
        let t = match self.kind {
            TunnelType::Vxlan => "vxlan",
            TunnelType::Geneve => "geneve",
        };
        format!("{t}-{}", self.vni)
    }

    /// The UDP port: IANA's (4789, 6081), not the kernel's old vxlan default 8472.
    pub(crate) fn port(&self) -> u16 {
        match self.kind {
            TunnelType::Vxlan => 4789,
            TunnelType::Geneve => 6081,
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A command run in a container once its links are up, at every start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Command {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) container: Option<String>,
    /// The argv: a string was given as `["sh", "-c", string]`.
    pub(crate) command: Vec<String>,
}

/// `ip route add <route> dev <dev>`: `default` or a destination, `via` a gateway, `metric`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Route {
    /// None: the default route (of the gateway's family, else IPv4).
    pub(crate) dest: Option<Cidr>,
    pub(crate) via: Option<IpAddr>,
    pub(crate) metric: Option<u32>,
}

impl Route {
    pub(crate) fn is_ipv6(&self) -> bool {
        match (&self.dest, &self.via) {
            (Some(d), _) => d.addr.is_ipv6(),
            (None, Some(v)) => v.is_ipv6(),
            (None, None) => false,
        }
    }
}

impl FromStr for Route {
    type Err = String;

    fn from_str(s: &str) -> Result<Route, String> {
        let mut words = s.split_whitespace();
        let dest = match words.next() {
            None => return Err("a route cannot be empty".to_string()),
            Some("default") => None,
            Some(d) if d.contains('/') => Some(d.parse::<Cidr>()?),
            Some(d) => {
                let a: IpAddr = d.parse().map_err(|_| {
                    format!("{s:?}: {d:?} is neither `default` nor a destination (10.0.0.0/8)")
                })?;
                Some(Cidr {
                    addr: a,
                    prefix: if a.is_ipv4() { 32 } else { 128 },
                })
            }
        };
        let mut route = Route {
            dest,
            via: None,
            metric: None,
        };
        while let Some(w) = words.next() {
            let arg = words
                .next()
                .ok_or_else(|| format!("{s:?}: `{w}` needs a value"))?;
            match w {
                "via" => {
                    route.via = Some(
                        arg.parse()
                            .map_err(|_| format!("{s:?}: gateway {arg:?} is not an IP address"))?,
                    )
                }
                "metric" | "preference" => {
                    route.metric = Some(
                        arg.parse()
                            .map_err(|_| format!("{s:?}: metric {arg:?} is not a number"))?,
                    )
                }
                other => {
                    return Err(format!(
                        "{s:?}: `{other}` is not supported in a route (use `via` and `metric`)"
                    ))
                }
            }
        }
        if let (Some(d), Some(v)) = (&route.dest, &route.via) {
            if d.addr.is_ipv4() != v.is_ipv4() {
                return Err(format!(
                    "{s:?}: the destination and the gateway are of different IP families"
                ));
            }
        }
        Ok(route)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dest {
            None => f.write_str("default")?,
            Some(d) => write!(f, "{d}")?,
        }
        if let Some(v) = &self.via {
            write!(f, " via {v}")?;
        }
        if let Some(m) = &self.metric {
            write!(f, " metric {m}")?;
        }
        Ok(())
    }
}

/// `host:container/proto`: traffic to `host` is sent on to the container's `container` port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Forward {
    pub(crate) host: u16,
    pub(crate) container: u16,
    pub(crate) proto: Proto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Proto {
    Tcp,
    Udp,
}

impl FromStr for Forward {
    type Err = String;

    fn from_str(s: &str) -> Result<Forward, String> {
        let bad = || format!("{s:?} is not a forward (HOST_PORT:CONTAINER_PORT/tcp|udp)");
        let (ports, proto) = s.split_once('/').ok_or_else(bad)?;
        let (h, c) = ports.split_once(':').ok_or_else(bad)?;
        let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
        Ok(Forward {
            host: port(h)?,
            container: port(c)?,
            proto: match proto {
                "tcp" => Proto::Tcp,
                "udp" => Proto::Udp,
                _ => return Err(bad()),
            },
        })
    }
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        write!(f, "{}:{}/{p}", self.host, self.container)
    }
}

/// One `ethtool` setting of a link, as ethtool's arguments without the device (conlink's
/// form): `--offload FEATURE on|off …` (or `-K`, `--features`). Offloads are what a veth has
/// to set; each feature is one of [`Offload::ALL`](crate::sys::ethtool::Offload::ALL).
pub(crate) fn parse_ethtool(s: &str) -> Result<Vec<(crate::sys::ethtool::Offload, bool)>, String> {
    use crate::sys::ethtool::Offload;
    let names = || {
        Offload::ALL
            .iter()
            .map(|o| o.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut words = s.split_whitespace();
    match words.next() {
        Some("-K" | "--offload" | "--features") => {}
        Some(other) => {
            return Err(format!(
                "{s:?}: only offload settings are supported (--offload FEATURE on|off, FEATURE one of {}), not {other}",
                names()
            ))
        }
        None => return Err("ethtool cannot be empty".to_string()),
    }
    let words: Vec<&str> = words.collect();
    if words.is_empty() || words.len() % 2 != 0 {
        return Err(format!(
            "{s:?}: expected FEATURE on|off pairs after the option"
        ));
    }
    words
        .chunks(2)
        .map(|pair| {
            let feature = Offload::parse(pair[0]).ok_or_else(|| {
                format!(
                    "{s:?}: unknown offload feature {:?} (supported: {})",
                    pair[0],
                    names()
                )
            })?;
            let on = match pair[1] {
                "on" => true,
                "off" => false,
                v => return Err(format!("{s:?}: {} takes on or off, not {v:?}", pair[0])),
            };
            Ok((feature, on))
        })
        .collect()
}

/// tc's rate (`10mbit`, `1.5gbit`, `500kbps`, `2mibit`; bits unless `…bps`, which is bytes,
/// as tc reads them) in bytes per second.
pub(crate) fn parse_rate(s: &str) -> Result<u64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)
        .ok_or_else(|| format!("{s:?} is not a rate (as 10mbit, 500kbps)"))?;
    let unit = unit.to_ascii_lowercase();
    let (prefix, bytes) = if let Some(p) = unit.strip_suffix("bps") {
        (p, true)
    } else if let Some(p) = unit.strip_suffix("bit") {
        (p, false)
    } else {
        return Err(format!(
            "{s:?} is not a rate: the unit is bit, kbit, mbit, gbit (or kibit, …) or bps, kbps, … (bytes)"
        ));
    };
    let scale: f64 = match prefix {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0 * 1024.0 * 1024.0,
        "ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{s:?} is not a rate: unknown prefix {prefix:?}")),
    };
    let per_sec = n * scale / if bytes { 1.0 } else { 8.0 };
    if per_sec < 1.0 || per_sec > u64::MAX as f64 {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(per_sec as u64)
}

/// The options of a link's `netem` strings (each a piece of tc's netem options), as far as
/// this version realizes them: `rate RATE` (bytes per second), by tbf. Other options are
/// returned by name, for `up` to refuse.
pub(crate) fn netem_rate(netem: &[String]) -> Result<(Option<u64>, Vec<String>), String> {
    let words: Vec<&str> = netem.iter().flat_map(|s| s.split_whitespace()).collect();
    let mut rate = None;
    let mut other = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "rate" {
            let v = words
                .get(i + 1)
                .ok_or_else(|| "rate needs a value (as rate 10mbit)".to_string())?;
            rate = Some(parse_rate(v)?);
            i += 2;
        } else {
            if words[i].starts_with(|c: char| c.is_ascii_alphabetic()) {
                other.push(words[i].to_string());
            }
            i += 1;
        }
    }
    Ok((rate, other))
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Route);
string_serde!(Forward);

/// One validation error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// `compose.yaml: x-network.links[3].ip`.
    pub(crate) path: String,
    pub(crate) message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every error of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invalid network configuration ({n} error{})",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// What loading gave besides the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Loaded {
    pub(crate) config: NetConfig,
    /// Unset variables used without a default (compose warns about them too).
    pub(crate) warnings: Vec<String>,
}

const TOP_KEYS: &[&str] = &["links", "bridges", "tunnels", "commands"];
const LINK_KEYS: &[&str] = &[
    "type",
    "service",
    "container",
    "bridge",
    "dev",
    "outer-dev",
    "ip",
    "mac",
    "mtu",
    "route",
    "nat",
    "netem",
    "ethtool",
    "mode",
    "vlanid",
    "forward",
];
const BRIDGE_KEYS: &[&str] = &["bridge", "mode"];
const TUNNEL_KEYS: &[&str] = &["type", "bridge", "remote", "vni", "netem"];
const COMMAND_KEYS: &[&str] = &["service", "container", "command"];
/// Link fields that take a string or a list: merged by appending.
const LIST_KEYS: &[&str] = &["route", "forward", "netem", "ethtool"];

/// A value and where it was written.
#[derive(Debug, Clone)]
struct At {
    value: Value,
    path: String,
}

/// One element of a section, its fields each with their own path (a merged link's fields
/// come from several places).
#[derive(Debug, Clone, Default)]
struct Item {
    /// Where the element itself was written (`compose.yaml: x-network.links[0]`).
    path: String,
    fields: BTreeMap<String, At>,
}

impl Item {
    fn get(&self, key: &str) -> Option<&At> {
        self.fields.get(key)
    }
}

/// Collects errors as validation goes.
#[derive(Debug, Default)]
struct Errs(Vec<ConfigError>);

impl Errs {
    fn at(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Loads, merges and validates. `scales`: each compose service's replica count (compose's
/// `scale` or `deploy.replicas`; 1 when absent), for the offset checks.
pub(crate) fn load(
    sources: &[Source],
    env: &Env,
    scales: &BTreeMap<String, u32>,
    defaults: &Defaults,
) -> Result<Loaded, ConfigErrors> {
    let mut errs = Errs::default();
    let mut warnings = BTreeSet::new();
    let mut sections: BTreeMap<&str, Vec<Item>> = BTreeMap::new();
    for src in sources {
        for (prefix, value, service) in fragments(src, &mut errs) {
            collect(
                &src.name,
                &prefix,
                value,
                service.as_deref(),
                env,
                &mut sections,
                &mut errs,
                &mut warnings,
            );
        }
    }
    let links = merge_links(sections.remove("links").unwrap_or_default());
    let bridges = merge_bridges(sections.remove("bridges").unwrap_or_default());
    let mut config = NetConfig::default();
    let mut link_paths = Vec::new();
    for item in &links {
        if let Some(l) = validate_link(item, defaults, &mut errs) {
            config.links.push(l);
            link_paths.push(item);
        }
    }
    let mut declared: BTreeMap<String, BridgeMode> = BTreeMap::new();
    for item in &bridges {
        if let Some(b) = validate_bridge(item, defaults, &mut errs) {
            declared.insert(b.bridge.clone(), b.mode);
        }
    }
    for item in sections.remove("tunnels").unwrap_or_default() {
        if let Some(t) = validate_tunnel(&item, &mut errs) {
            config.tunnels.push(t);
        }
    }
    for item in sections.remove("commands").unwrap_or_default() {
        if let Some(c) = validate_command(&item, &mut errs) {
            // A command runs once its container's links are made, at every start: a
            // container with none would never run it.
            let linked = config
                .links
                .iter()
                .any(|l| l.service == c.service && l.container == c.container);
            if !linked {
                let who = match (&c.service, &c.container) {
                    (Some(s), _) => format!("service {s}"),
                    (None, Some(n)) => format!("container {n}"),
                    (None, None) => "its target".to_string(),
                };
                errs.at(
                    &item.path,
                    format!("{who} has no links: a command runs after its container's links are made, at every start"),
                );
                continue;
            }
            config.commands.push(c);
        }
    }
    // Every bridge a link or a tunnel names exists, in the default mode unless declared.
    let mut all: BTreeMap<String, BridgeMode> = BTreeMap::new();
    for name in config
        .links
        .iter()
        .filter_map(|l| l.bridge.clone())
        .chain(config.tunnels.iter().map(|t| t.bridge.clone()))
    {
        all.insert(name, defaults.bridge_mode);
    }
    all.extend(declared);
    config.bridges = all
        .into_iter()
        .map(|(bridge, mode)| Bridge { bridge, mode })
        .collect();
    check_across(&config, &link_paths, scales, &mut errs);
    if errs.0.is_empty() {
        Ok(Loaded {
            config,
            warnings: warnings.into_iter().collect(),
        })
    } else {
        Err(ConfigErrors(errs.0))
    }
}

/// The network configurations a source holds: (path prefix, value, default service).
fn fragments(src: &Source, errs: &mut Errs) -> Vec<(String, Value, Option<String>)> {
    let mut out = Vec::new();
    match src.kind {
        SourceKind::NetworkFile => {
            if !src.value.is_null() {
                out.push((String::new(), src.value.clone(), None));
            }
        }
        SourceKind::Compose => {
            let Some(top) = src.value.as_object() else {
                if !src.value.is_null() {
                    errs.at(&src.name, "a compose file is a mapping");
                }
                return out;
            };
            if let Some(v) = top.get("x-network") {
                out.push(("x-network".to_string(), v.clone(), None));
            }
            if let Some(services) = top.get("services").and_then(Value::as_object) {
                for (name, svc) in services {
                    if let Some(v) = svc.get("x-network") {
                        out.push((
                            format!("services.{name}.x-network"),
                            v.clone(),
                            Some(name.clone()),
                        ));
                    }
                }
            }
        }
    }
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The closest of `valid` to `key`, when close enough to be a likely typo.
pub(crate) fn closest<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (levenshtein(key, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Edit distance with adjacent transpositions (optimal string alignment): `wbe` is one
/// edit from `web`, as a typist sees it.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

fn unknown_key(key: &str, valid: &[&str]) -> String {
    match closest(key, valid) {
        Some(c) => format!("unknown key {key:?} (did you mean {c:?}?)"),
        None => format!("unknown key {key:?} (valid: {})", valid.join(", ")),
    }
}

/// Interpolates every string of `v` in place; errors carry the path of the string.
fn interpolate_all(
    v: &mut Value,
    path: &str,
    env: &Env,
    errs: &mut Errs,
    warnings: &mut BTreeSet<String>,
) {
    match v {
        Value::String(s) => match interpolate(s, env) {
            Ok(i) => {
                for u in i.unset {
                    warnings.insert(format!(
                        "the {u} variable is not set; it is an empty string ({path})"
                    ));
                }
                *s = i.value;
            }
            Err(e) => errs.at(path, e),
        },
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                interpolate_all(x, &format!("{path}[{i}]"), env, errs, warnings);
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                interpolate_all(x, &join(path, k), env, errs, warnings);
            }
        }
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn collect(
    file: &str,
    prefix: &str,
    value: Value,
    service: Option<&str>,
    env: &Env,
    sections: &mut BTreeMap<&'static str, Vec<Item>>,
    errs: &mut Errs,
    warnings: &mut BTreeSet<String>,
) {
    let here = |p: &str| {
        if p.is_empty() {
            file.to_string()
        } else {
            format!("{file}: {p}")
        }
    };
    let Value::Object(top) = value else {
        if !value.is_null() {
            errs.at(
                here(prefix),
                "a network configuration is a mapping (links, bridges, tunnels, commands)",
            );
        }
        return;
    };
    for (key, v) in top {
        let path = join(prefix, &key);
        let Some(section) = TOP_KEYS.iter().copied().find(|k| *k == key) else {
            errs.at(here(&path), unknown_key(&key, TOP_KEYS));
            continue;
        };
        let items = match v {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            _ => {
                errs.at(here(&path), format!("{key} is a list"));
                continue;
            }
        };
        for (i, el) in items.into_iter().enumerate() {
            let el_path = format!("{path}[{i}]");
            let Value::Object(m) = el else {
                errs.at(here(&el_path), "each entry is a mapping");
                continue;
            };
            let mut item = Item {
                path: here(&el_path),
                fields: BTreeMap::new(),
            };
            for (k, v) in m {
                let p = format!("{}.{k}", item.path);
                let mut v = v;
                interpolate_all(&mut v, &p, env, errs, warnings);
                item.fields.insert(k, At { value: v, path: p });
            }
            // A service's own x-network: its links and commands are for it unless they say.
            if let Some(s) = service {
                if matches!(section, "links" | "commands")
                    && !item.fields.contains_key("service")
                    && !item.fields.contains_key("container")
                {
                    item.fields.insert(
                        "service".to_string(),
                        At {
                            value: Value::String(s.to_string()),
                            path: format!("{file}: {prefix}"),
                        },
                    );
                }
            }
            sections.entry(section).or_default().push(item);
        }
    }
}

/// conlink's link merge: links with the same `service|container:dev` are one link; lists
/// are appended, scalars overridden by the later source. Order: first appearance.
fn merge_links(items: Vec<Item>) -> Vec<Item> {
    let mut order: Vec<String> = Vec::new();
    let mut by_key: BTreeMap<String, Item> = BTreeMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let target = item
            .get("service")
            .or_else(|| item.get("container"))
            .and_then(|a| a.value.as_str());
        let dev = item
            .get("dev")
            .and_then(|a| a.value.as_str())
            .unwrap_or("eth0");
        let key = match target {
            Some(t) => format!("{t}:{dev}"),
            // Invalid (no target): never merged, reported on its own.
            None => format!("\0{i}"),
        };
        match by_key.get_mut(&key) {
            None => {
                order.push(key.clone());
                by_key.insert(key, item);
            }
            Some(merged) => {
                for (k, at) in item.fields {
                    match merged.fields.get_mut(&k) {
                        Some(old) if LIST_KEYS.contains(&k.as_str()) => {
                            let mut list = as_list(&old.value);
                            list.extend(as_list(&at.value));
                            old.value = Value::Array(list);
                            old.path = at.path;
                        }
                        _ => {
                            merged.fields.insert(k, at);
                        }
                    }
                }
            }
        }
    }
    order
        .into_iter()
        .filter_map(|k| by_key.remove(&k))
        .collect()
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Bridges with the same name are one; later fields win.
fn merge_bridges(items: Vec<Item>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for item in items {
        let name = item.get("bridge").and_then(|a| a.value.as_str());
        let same = name.and_then(|n| {
            out.iter_mut()
                .find(|o| o.get("bridge").and_then(|a| a.value.as_str()) == Some(n))
        });
        match same {
            Some(o) => o.fields.extend(item.fields),
            None => out.push(item),
        }
    }
    out
}

fn check_keys(item: &Item, valid: &[&str], errs: &mut Errs) {
    for (k, at) in &item.fields {
        if !valid.contains(&k.as_str()) {
            errs.at(&at.path, unknown_key(k, valid));
        }
    }
}

fn string(item: &Item, key: &str, errs: &mut Errs) -> Option<String> {
    let at = item.get(key)?;
    match &at.value {
        Value::String(s) => Some(s.clone()),
        // YAML gives numbers for `vni: 7`-like strings; names are strings.
        Value::Number(n) => Some(n.to_string()),
        other => {
            errs.at(&at.path, format!("expected a string, not {}", kind(other)));
            None
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A number in `range`; strings of digits count (interpolated values are strings).
fn number(
    item: &Item,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    errs: &mut Errs,
) -> Option<u64> {
    let at = item.get(key)?;
    let n = match &at.value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if range.contains(&n) => Some(n),
        _ => {
            errs.at(
                &at.path,
                format!(
                    "expected a number from {} to {}, not {}",
                    range.start(),
                    range.end(),
                    show(&at.value)
                ),
            );
            None
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// A string or a list of strings, each parsed by `parse`.
fn list<T>(
    item: &Item,
    key: &str,
    errs: &mut Errs,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    let Some(at) = item.get(key) else {
        return Vec::new();
    };
    let (values, indexed) = match &at.value {
        Value::Array(a) => (a.clone(), true),
        other => (vec![other.clone()], false),
    };
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let path = if indexed {
            format!("{}[{i}]", at.path)
        } else {
            at.path.clone()
        };
        match v {
            Value::String(s) => match parse(s) {
                Ok(t) => out.push(t),
                Err(e) => errs.at(path, e),
            },
            other => errs.at(
                path,
                format!(
                    "expected a string or a list of strings, not {}",
                    kind(other)
                ),
            ),
        }
    }
    out
}

fn target(item: &Item, errs: &mut Errs) -> (Option<String>, Option<String>) {
    let service = string(item, "service", errs);
    let container = string(item, "container", errs);
    match (&service, &container) {
        (Some(_), Some(_)) => errs.at(&item.path, "give either service or container, not both"),
        (None, None)
            if !item.fields.contains_key("service") && !item.fields.contains_key("container") =>
        {
            errs.at(&item.path, "missing service or container")
        }
        _ => {}
    }
    for (key, v) in [("service", &service), ("container", &container)] {
        if v.as_deref() == Some("") {
            if let Some(at) = item.get(key) {
                errs.at(&at.path, format!("{key} cannot be empty"));
            }
        }
    }
    (service, container)
}

fn validate_link(item: &Item, defaults: &Defaults, errs: &mut Errs) -> Option<Link> {
    let before = errs.0.len();
    check_keys(item, LINK_KEYS, errs);
    let (service, container) = target(item, errs);
    // An unknown type is reported once; the checks that depend on the type are skipped.
    let mut known = true;
    let kind = match string(item, "type", errs) {
        None => LinkType::Veth,
        Some(t) => match LinkType::parse(&t) {
            Some(k) => k,
            None => {
                let path = &item.fields["type"].path;
                let hint = closest(&t, &LinkType::NAMES)
                    .map(|c| format!(" (did you mean {c:?}?)"))
                    .unwrap_or_default();
                errs.at(
                    path,
                    format!(
                        "unknown link type {t:?}{hint}; one of {}",
                        LinkType::NAMES.join(", ")
                    ),
                );
                known = false;
                LinkType::Veth
            }
        },
    };
    let bridge = string(item, "bridge", errs);
    match (kind, &bridge) {
        _ if !known => {}
        (LinkType::Veth, None) => errs.at(&item.path, "a veth link needs a bridge"),
        (LinkType::Veth, Some(b)) if b.is_empty() => {
            errs.at(&item.fields["bridge"].path, "bridge cannot be empty")
        }
        (k, Some(_)) if k != LinkType::Veth => errs.at(
            &item.fields["bridge"].path,
            format!("a {} link has no bridge (only veth links do)", k.name()),
        ),
        _ => {}
    }
    let dev = string(item, "dev", errs).unwrap_or_else(|| "eth0".to_string());
    if let Some(e) = ifname_error(&dev) {
        errs.at(path_of(item, "dev"), e);
    }
    let outer_dev = string(item, "outer-dev", errs);
    if let Some(o) = &outer_dev {
        if let Some(e) = ifname_error(o) {
            errs.at(path_of(item, "outer-dev"), e);
        }
        if kind == LinkType::Dummy {
            errs.at(path_of(item, "outer-dev"), "a dummy link has no outer-dev");
        }
    }
    let ip = string(item, "ip", errs).and_then(|s| match s.parse::<Cidr>() {
        Ok(c) => Some(c),
        Err(e) => {
            errs.at(path_of(item, "ip"), e);
            None
        }
    });
    let mac = string(item, "mac", errs).and_then(|s| match s.parse::<Mac>() {
        Ok(m) if m.is_multicast() => {
            errs.at(
                path_of(item, "mac"),
                format!("{s:?} is a multicast address (its first octet is odd); an interface needs a unicast MAC"),
            );
            None
        }
        Ok(m) => Some(m),
        Err(e) => {
            errs.at(path_of(item, "mac"), e);
            None
        }
    });
    if mac.is_some() && matches!(kind, LinkType::Ipvlan | LinkType::Ipvtap) {
        errs.at(
            path_of(item, "mac"),
            format!(
                "an {} link shares its parent's MAC; it has no mac",
                kind.name()
            ),
        );
    }
    let min_mtu = if ip.is_some_and(|c| c.addr.is_ipv6()) {
        1280
    } else {
        68
    };
    // A link on a parent interface (macvlan and the like) keeps the parent's MTU unless told:
    // it cannot exceed it. 0 = not set.
    let on_parent = !matches!(kind, LinkType::Veth | LinkType::Dummy);
    let mtu = number(item, "mtu", min_mtu..=65535, errs)
        .map(|m| m as u32)
        .unwrap_or(if on_parent { 0 } else { defaults.mtu });
    let route = list(item, "route", errs, |s| s.parse::<Route>());
    let nat = string(item, "nat", errs).and_then(|s| match s.parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            errs.at(path_of(item, "nat"), format!("{s:?} is not an IP address"));
            None
        }
    });
    if nat.is_some() && !item.fields.contains_key("ip") {
        errs.at(
            path_of(item, "nat"),
            "nat needs the link's ip (SNAT to it on the way out)",
        );
    }
    let strings = |key: &str, errs: &mut Errs| {
        list(item, key, errs, |s| {
            if s.trim().is_empty() {
                Err(format!("{key} cannot be empty"))
            } else {
                Ok(s.to_string())
            }
        })
    };
    let netem = strings("netem", errs);
    if let Err(e) = netem_rate(&netem) {
        errs.at(path_of(item, "netem"), e);
    }
    let ethtool = list(item, "ethtool", errs, |s| {
        parse_ethtool(s).map(|_| s.to_string())
    });
    if !ethtool.is_empty() && kind != LinkType::Veth {
        errs.at(
            path_of(item, "ethtool"),
            format!("ethtool applies to veth links, not {}", kind.name()),
        );
    }
    let mode = string(item, "mode", errs);
    if let Some(m) = &mode {
        let modes = kind.modes();
        if modes.is_empty() {
            errs.at(
                path_of(item, "mode"),
                format!(
                    "a {} link has no mode (only macvlan, macvtap, ipvlan and ipvtap do)",
                    kind.name()
                ),
            );
        } else if !modes.contains(&m.as_str()) {
            errs.at(
                path_of(item, "mode"),
                format!(
                    "unknown {} mode {m:?}; one of {}",
                    kind.name(),
                    modes.join(", ")
                ),
            );
        }
    }
    let vlanid = number(item, "vlanid", 1..=4094, errs).map(|v| v as u16);
    match (kind, item.fields.contains_key("vlanid")) {
        (LinkType::Vlan, false) => errs.at(&item.path, "a vlan link needs a vlanid"),
        (k, true) if k != LinkType::Vlan => errs.at(
            path_of(item, "vlanid"),
            format!("a {} link has no vlanid (only vlan links do)", k.name()),
        ),
        _ => {}
    }
    if matches!(
        kind,
        LinkType::Vlan
            | LinkType::Ipvlan
            | LinkType::Ipvtap
            | LinkType::Macvlan
            | LinkType::Macvtap
    ) && outer_dev.is_none()
    {
        errs.at(
            &item.path,
            format!(
                "a {} link needs outer-dev: its parent interface in the host",
                kind.name()
            ),
        );
    }
    let forward = list(item, "forward", errs, |s| s.parse::<Forward>());
    if !forward.is_empty() {
        if kind != LinkType::Veth {
            errs.at(path_of(item, "forward"), "forward needs a veth link");
        }
        if !item.fields.contains_key("ip") {
            errs.at(
                path_of(item, "forward"),
                "forward needs the link's ip (the address ports are forwarded to)",
            );
        }
        if let Some(c) = ip.filter(|c| c.last_host().is_none()) {
            errs.at(
                path_of(item, "forward"),
                format!(
                    "forward needs an IPv4 address in a /30 or wider prefix (Docker publishes \
                     IPv4 to the port forwarder, which takes the prefix's last address): {c} is not"
                ),
            );
        }
    }
    if errs.0.len() > before {
        return None;
    }
    Some(Link {
        service,
        container,
        kind,
        bridge,
        dev,
        outer_dev,
        ip,
        mac,
        mtu,
        route,
        nat,
        netem,
        ethtool,
        mode,
        vlanid,
        forward,
    })
}

fn path_of(item: &Item, key: &str) -> String {
    item.get(key)
        .map(|a| a.path.clone())
        .unwrap_or_else(|| format!("{}.{key}", item.path))
}

fn validate_bridge(item: &Item, defaults: &Defaults, errs: &mut Errs) -> Option<Bridge> {
    let before = errs.0.len();
    check_keys(item, BRIDGE_KEYS, errs);
    let name = string(item, "bridge", errs);
    match &name {
        None if !item.fields.contains_key("bridge") => errs.at(&item.path, "missing bridge"),
        Some(n) if n.is_empty() => errs.at(path_of(item, "bridge"), "bridge cannot be empty"),
        _ => {}
    }
    let mode = match string(item, "mode", errs) {
        None => defaults.bridge_mode,
        Some(m) => BridgeMode::parse(&m).unwrap_or_else(|| {
            errs.at(
                path_of(item, "mode"),
                format!("unknown bridge mode {m:?}; one of auto, linux, patch, ovs"),
            );
            defaults.bridge_mode
        }),
    };
    if errs.0.len() > before {
        return None;
    }
    Some(Bridge {
        bridge: name?,
        mode,
    })
}

fn validate_tunnel(item: &Item, errs: &mut Errs) -> Option<Tunnel> {
    let before = errs.0.len();
    check_keys(item, TUNNEL_KEYS, errs);
    for key in ["type", "bridge", "remote", "vni"] {
        if !item.fields.contains_key(key) {
            errs.at(&item.path, format!("missing {key}"));
        }
    }
    let kind = string(item, "type", errs).and_then(|t| match t.as_str() {
        "vxlan" => Some(TunnelType::Vxlan),
        "geneve" => Some(TunnelType::Geneve),
        _ => {
            errs.at(
                path_of(item, "type"),
                format!("unknown tunnel type {t:?}; one of vxlan, geneve"),
            );
            None
        }
    });
    let bridge = string(item, "bridge", errs);
    let remote = string(item, "remote", errs).and_then(|s| match s.parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            errs.at(
                path_of(item, "remote"),
                format!("{s:?} is not an IP address"),
            );
            None
        }
    });
    let vni = number(item, "vni", 0..=16_777_215, errs).map(|v| v as u32);
    let netem = list(item, "netem", errs, |s| Ok(s.to_string()));
    if errs.0.len() > before {
        return None;
    }
    Some(Tunnel {
        kind: kind?,
        bridge: bridge?,
        remote: remote?,
        vni: vni?,
        netem,
    })
}

fn validate_command(item: &Item, errs: &mut Errs) -> Option<Command> {
    let before = errs.0.len();
    check_keys(item, COMMAND_KEYS, errs);
    let (service, container) = target(item, errs);
    let command = match item.get("command") {
        None => {
            errs.at(&item.path, "missing command");
            Vec::new()
        }
        Some(At {
            value: Value::String(s),
            path,
        }) => {
            if s.trim().is_empty() {
                errs.at(path, "command cannot be empty");
            }
            vec!["sh".to_string(), "-c".to_string(), s.clone()]
        }
        Some(At {
            value: Value::Array(a),
            path,
        }) => {
            let argv: Vec<String> = a
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    other => {
                        errs.at(
                            format!("{path}[{i}]"),
                            format!("expected a string, not {}", kind(other)),
                        );
                        None
                    }
                })
                .collect();
            if a.is_empty() {
                errs.at(path, "command cannot be empty");
            }
            argv
        }
        Some(At { value, path }) => {
            errs.at(
                path,
                format!(
                    "expected a string (run by sh -c) or a list (argv), not {}",
                    kind(value)
                ),
            );
            Vec::new()
        }
    };
    if errs.0.len() > before {
        return None;
    }
    Some(Command {
        service,
        container,
        command,
    })
}

/// Checks across entries: patches, outer names, scaled offsets, duplicate addresses.
fn check_across(
    config: &NetConfig,
    items: &[&Item],
    scales: &BTreeMap<String, u32>,
    errs: &mut Errs,
) {
    let replicas = |l: &Link| -> u32 {
        match &l.service {
            Some(s) => scales.get(s).copied().unwrap_or(1).max(1),
            None => 1,
        }
    };
    // Patches: exactly two ends (links, replicas and tunnels count).
    for b in config
        .bridges
        .iter()
        .filter(|b| b.mode == BridgeMode::Patch)
    {
        let mut ends: Vec<String> = Vec::new();
        // The link that made it more than two, for the path.
        let mut third: Option<String> = None;
        for (l, item) in config.links.iter().zip(items) {
            if l.bridge.as_ref() != Some(&b.bridge) {
                continue;
            }
            for k in 1..=replicas(l) {
                ends.push(match &l.service {
                    Some(s) if replicas(l) > 1 => format!("{s} replica {k}"),
                    _ => l.target().to_string(),
                });
                if ends.len() == 3 {
                    third = Some(path_of(item, "bridge"));
                }
            }
        }
        for t in config.tunnels.iter().filter(|t| t.bridge == b.bridge) {
            ends.push(format!("tunnel {}", t.dev()));
        }
        if ends.len() > 2 {
            errs.at(
                third.unwrap_or_else(|| format!("bridge {}", b.bridge)),
                format!(
                    "bridge {} is a patch, which joins exactly two links; it has {}: {}",
                    b.bridge,
                    ends.len(),
                    ends.join(", ")
                ),
            );
        }
    }
    // With compose files, a service is one of theirs (scales has every service).
    if !scales.is_empty() {
        let known = || scales.keys().cloned().collect::<Vec<_>>().join(", ");
        for (l, item) in config.links.iter().zip(items) {
            if let Some(s) = &l.service {
                if !scales.contains_key(s) {
                    let hint = closest(s, &scales.keys().map(String::as_str).collect::<Vec<_>>())
                        .map(|c| format!(" (did you mean {c:?}?)"))
                        .unwrap_or_default();
                    errs.at(
                        path_of(item, "service"),
                        format!(
                            "no service {s:?} in the compose files{hint}; services: {}",
                            known()
                        ),
                    );
                }
            }
        }
    }
    // Explicit outer names: unique, and not on a scaled service (every replica would want it).
    let mut outer: BTreeMap<&str, &str> = BTreeMap::new();
    for (l, item) in config.links.iter().zip(items) {
        let Some(o) = &l.outer_dev else { continue };
        let path = path_of(item, "outer-dev");
        if l.kind == LinkType::Veth {
            if let Some(first) = outer.insert(o, &item.path) {
                errs.at(
                    &path,
                    format!("outer-dev {o:?} is also the outer-dev of {first}"),
                );
            }
            if replicas(l) > 1 {
                errs.at(
                    &path,
                    format!(
                        "service {} has {} replicas, which cannot all have the outer-dev {o:?}; leave it out (names are derived per replica)",
                        l.service.as_deref().unwrap_or_default(),
                        replicas(l)
                    ),
                );
            }
        }
    }
    // Offsets of scaled services, and duplicate addresses and MACs in one broadcast domain.
    // The port forwarder's addresses come first: no link may take one.
    let mut addrs: BTreeMap<(String, IpAddr), String> = BTreeMap::new();
    let forwarders = super::forward::addresses(config);
    for (bridge, a) in &forwarders {
        addrs.insert(
            (bridge.clone(), a.addr),
            format!(
                "the port forwarder on {bridge} (forward takes the last address of {})",
                a.network()
            ),
        );
    }
    for (l, item) in config.links.iter().zip(items) {
        if let (false, Some(b), Some(ip)) = (l.forward.is_empty(), &l.bridge, &l.ip) {
            if let Some(f) = forwarders
                .get(b)
                .filter(|f| !f.contains(&ip.addr) || f.prefix != ip.prefix)
            {
                errs.at(
                    path_of(item, "ip"),
                    format!(
                        "forwarded links on one bridge share one prefix: {ip} is not in {}, \
                         the prefix of the first forwarded link on {b}",
                        f.network()
                    ),
                );
            }
        }
    }
    let mut macs: BTreeMap<(String, Mac), String> = BTreeMap::new();
    for (l, item) in config.links.iter().zip(items) {
        let n = replicas(l);
        let who = |k: u32| match &l.service {
            Some(s) if n > 1 => format!("replica {k} of service {s}"),
            _ => l.target().to_string(),
        };
        let domain = l
            .bridge
            .clone()
            .unwrap_or_else(|| format!("{} {}", l.target(), l.dev));
        if let Some(ip) = &l.ip {
            for k in 1..=n {
                match ip.offset(u64::from(k - 1)) {
                    None => {
                        errs.at(
                            path_of(item, "ip"),
                            format!(
                                "{} would get {ip} + {}, outside {} (service {} is scaled to {n})",
                                who(k),
                                k - 1,
                                ip.network(),
                                l.service.as_deref().unwrap_or_default()
                            ),
                        );
                        break;
                    }
                    Some(a) => {
                        let here = format!("{} ({})", item.path, who(k));
                        if let Some(first) = addrs.insert((domain.clone(), a.addr), here.clone()) {
                            if first != here {
                                errs.at(
                                    path_of(item, "ip"),
                                    format!(
                                        "{} would get {}, which {first} has too (on {domain})",
                                        who(k),
                                        a.addr
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        if let Some(mac) = &l.mac {
            for k in 1..=n {
                match mac.offset(u64::from(k - 1)) {
                    None => {
                        errs.at(
                            path_of(item, "mac"),
                            format!("{} would get a MAC past ff:ff:ff:ff:ff:ff", who(k)),
                        );
                        break;
                    }
                    Some(m) => {
                        let here = format!("{} ({})", item.path, who(k));
                        if let Some(first) = macs.insert((domain.clone(), m), here) {
                            errs.at(
                                path_of(item, "mac"),
                                format!("{} would get the MAC {m}, which {first} has too", who(k)),
                            );
                        }
                    }
                }
            }
        }
        for f in &l.forward {
            if u32::from(f.host) + n - 1 > 65535 {
                errs.at(
                    path_of(item, "forward"),
                    format!(
                        "replica {n} of service {} would forward port {} + {}, past 65535",
                        l.service.as_deref().unwrap_or_default(),
                        f.host,
                        n - 1
                    ),
                );
            }
        }
        if let Some(b) = &l.bridge {
            if let Some(bridge) = config.bridges.iter().find(|x| &x.bridge == b) {
                if !l.forward.is_empty() && bridge.mode == BridgeMode::Patch {
                    errs.at(
                        path_of(item, "forward"),
                        format!("forward needs a linux bridge; {b} is a patch"),
                    );
                }
            }
        }
    }
}

/// Parses a YAML or JSON document (JSON is YAML; YAML's merge keys `<<` applied, as compose
/// does).
pub(crate) fn parse_document(text: &str) -> Result<Value, String> {
    let mut y: serde_norway::Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    y.apply_merge().map_err(|e| e.to_string())?;
    serde_json::to_value(&y).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
