//! The route model: which containers are routed, under which hosts and paths, to which
//! addresses; and why not, for the others. [`build`] is pure: the facts of the containers and
//! the proxy's settings in, a sorted [`RouteTable`] out (the same input always gives the same
//! table, so the same configuration bytes).
//!
//! A route's servers are [`Backend`]s: today a container's address on a network the proxy
//! shares with it. Idle sleep (a backend that is asleep and woken on request), backends on
//! another daemon and Swarm services are later variants of that enum; everything above it
//! (hosts, conflicts, upstreams, rendering) does not change for them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::labels::{self, Declared, Finding, RouteSpec, Severity};
use super::value::{Balance, Host, PathPrefix, Scheme};
use crate::docker::engine::Labels;

/// The mount destinations of databases (GoDoxy's blacklist).
const DB_MOUNTS: &[&str] = &[
    "/var/lib/postgresql/data",
    "/var/lib/mysql",
    "/var/lib/mongodb",
    "/var/lib/mariadb",
    "/var/lib/memcached",
    "/var/lib/rabbitmq",
];
/// The private ports of databases.
const DB_PORTS: &[u16] = &[5432, 3306, 6379, 11211, 27017];
/// Ports that look like HTTP, in order of preference, when a container exposes several.
const HTTP_PORTS: &[u16] = &[
    80, 8080, 3000, 8000, 8888, 5000, 9000, 8081, 4000, 443, 8443,
];

/// Docker's health status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Health {
    /// No healthcheck.
    #[default]
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub(crate) fn parse(s: &str) -> Health {
        match s {
            "starting" => Health::Starting,
            "healthy" => Health::Healthy,
            "unhealthy" => Health::Unhealthy,
            _ => Health::None,
        }
    }
}

/// What the model reads of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub id: String,
    pub name: String,
    pub running: bool,
    /// Creation time (the first claimer of a host keeps it).
    pub created: i64,
    pub labels: Labels,
    /// Exposed TCP ports.
    pub ports: Vec<u16>,
    /// Mount destinations.
    pub mounts: Vec<String>,
    /// Network name → its address there (empty while stopped).
    pub networks: BTreeMap<String, String>,
    pub network_mode: String,
    pub health: Health,
}

impl Candidate {
    /// One service: a compose service (its replicas are one upstream), else the container.
    fn service(&self) -> String {
        match (
            self.labels.get(crate::labels::COMPOSE_PROJECT),
            self.labels.get(crate::labels::COMPOSE_SERVICE),
        ) {
            (Some(p), Some(s)) => format!("{p}/{s}"),
            _ => self.name.clone(),
        }
    }

    /// The name an unlabelled replica is routed under: its compose service.
    fn default_alias(&self) -> String {
        self.labels
            .get(crate::labels::COMPOSE_SERVICE)
            .cloned()
            .unwrap_or_else(|| self.name.clone())
    }
}

/// The proxy's own options (labels of the proxy container).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `--domain`: `alias.<domain>` for each.
    pub domains: Vec<Host>,
    /// `--explicit`: only labelled containers.
    pub explicit: bool,
    /// `--only-label KEY[=VALUE]`: only containers carrying all of these labels (a proxy
    /// scoped to a project, several proxies on one daemon).
    pub only: Vec<(String, Option<String>)>,
    /// `--allow-raw-directives`.
    pub allow_raw: bool,
    /// The networks the proxy container is on now (preferred when a backend has several).
    pub proxy_networks: BTreeSet<String>,
    /// Container ids never routed (the proxies themselves, the watcher).
    pub own: BTreeSet<String>,
    /// The certificates in the proxy's `--certs` directory (`NAME.crt` with `NAME.key`):
    /// name → digest of both files. Empty: the proxy terminates no TLS.
    pub certs: BTreeMap<String, String>,
    /// The ports the proxy listens on for streams (`up --stream`): tcp and udp ones.
    pub stream_ports: BTreeSet<StreamPort>,
}

/// A port the proxy forwards as a stream: its number and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub(crate) struct StreamPort {
    pub port: u16,
    pub udp: bool,
}

impl StreamPort {
    /// `5432`, `5432/tcp` or `53/udp`.
    pub(crate) fn parse(s: &str) -> Option<StreamPort> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let udp = match proto {
            "tcp" => false,
            "udp" => true,
            _ => return None,
        };
        let port = super::value::port(port).ok()?;
        Some(StreamPort { port, udp })
    }
}

impl std::fmt::Display for StreamPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.port, if self.udp { "udp" } else { "tcp" })
    }
}

/// A stream: what the proxy receives on one of its stream ports goes to these servers
/// (tcp or udp, no HTTP: GoDoxy's `scheme: tcp|udp`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Stream {
    pub listen: StreamPort,
    pub servers: Vec<Server>,
    pub service: String,
    pub source: String,
}

/// Where a server is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Backend {
    /// A running container, at its address on a network the proxy joins.
    Container {
        network: String,
        address: String,
        port: u16,
    },
}

/// One server of an upstream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub(crate) struct Server {
    pub container: String,
    pub id: String,
    pub backend: Backend,
    /// Docker says it is unhealthy: kept in the configuration, marked down.
    pub down: bool,
}

/// One route: a host and a path prefix to an upstream.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Route {
    pub host: Host,
    pub path: PathPrefix,
    pub strip_path: bool,
    pub scheme: Scheme,
    pub no_tls_verify: bool,
    pub response_header_timeout: Option<Duration>,
    pub balance: Balance,
    pub health_path: Option<PathPrefix>,
    pub health_interval: Option<Duration>,
    pub raw: Vec<String>,
    pub servers: Vec<Server>,
    /// The service that claimed it (compose `project/service`, else the container's name).
    pub service: String,
    /// The label that made it; empty: routed by default (an exposed port).
    pub source: String,
    /// Plain HTTP requests are redirected to HTTPS (when the host has a certificate).
    pub https_redirect: bool,
    /// The certificate that serves this host over TLS, if one does.
    pub tls: Option<Cert>,
}

/// A certificate of the proxy's `--certs` directory: `NAME.crt` and `NAME.key`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Cert {
    pub name: String,
    /// Of both files: a renewed certificate makes a new configuration (and a route
    /// quarantined for a broken one is tried again).
    pub digest: String,
}

/// The certificate for `host`: the one named after it; for a wildcard host `*.d`, or a host
/// `x.d` without its own, the one named after the parent domain `d` (a wildcard
/// certificate, named as nginx-proxy names them). `wanted` (Interlock's `ssl_cert`) names
/// one explicitly.
pub(crate) fn cert_for(
    host: &Host,
    wanted: Option<&str>,
    certs: &BTreeMap<String, String>,
) -> Option<Cert> {
    let found = |name: &str| {
        certs.get(name).map(|digest| Cert {
            name: name.to_string(),
            digest: digest.clone(),
        })
    };
    if let Some(name) = wanted {
        return found(name);
    }
    let h = host.as_str();
    if let Some(parent) = h.strip_prefix("*.") {
        return found(parent);
    }
    found(h).or_else(|| {
        h.split_once('.')
            .map(|(_, parent)| parent)
            .filter(|p| p.contains('.'))
            .and_then(found)
    })
}

impl Route {
    /// A stable key: `host` + path (`a.example.com/api`).
    pub(crate) fn key(&self) -> String {
        if self.path.is_root() {
            self.host.to_string()
        } else {
            format!("{}{}", self.host, self.path)
        }
    }
}

/// A host (and path) two services claim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Conflict {
    pub route: String,
    pub kept: String,
    pub refused: String,
}

/// Whether and why a container is routed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Decision {
    pub container: String,
    pub id: String,
    pub routed: bool,
    pub reason: String,
    pub findings: Vec<Finding>,
    /// Chosen by the proxy's rules: routed, or would be once it runs (a container just
    /// created counts toward a burst this way).
    #[serde(skip)]
    pub selected: bool,
}

/// Everything a render and the commands need.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RouteTable {
    /// Sorted by host, then longest path first.
    pub routes: Vec<Route>,
    /// Sorted by port.
    pub streams: Vec<Stream>,
    pub conflicts: Vec<Conflict>,
    /// One per container looked at, sorted by name.
    pub decisions: Vec<Decision>,
    /// The networks the proxy must be on.
    pub networks: BTreeSet<String>,
}

/// Why a container without `proxy.*` labels is not routed by default, if it is not.
fn blacklisted(c: &Candidate) -> Option<String> {
    if let Some(m) = c
        .mounts
        .iter()
        .find(|m| DB_MOUNTS.iter().any(|d| m.starts_with(d)))
    {
        return Some(format!("looks like a database (mount {m})"));
    }
    c.ports
        .iter()
        .find(|p| DB_PORTS.contains(p))
        .map(|p| format!("looks like a database (port {p})"))
}

/// Whether a container is one of ours or an Interlock proxy.
fn own(c: &Candidate, settings: &Settings) -> bool {
    settings.own.contains(&c.id)
        || c.labels.contains_key(crate::labels::ROLE)
        || c.labels.contains_key("interlock.ext.name")
}

/// The backend's port for a route.
fn choose_port(spec: &RouteSpec, c: &Candidate) -> Result<u16, String> {
    if let Some(p) = spec.port {
        return Ok(p);
    }
    match c.ports.as_slice() {
        [] => Err("exposes no port: set proxy.<alias>.port".into()),
        [p] => Ok(*p),
        many => HTTP_PORTS
            .iter()
            .find(|p| many.contains(p))
            .copied()
            .ok_or_else(|| {
                format!(
                    "exposes {} and none looks like HTTP: set proxy.<alias>.port",
                    many.iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
    }
}

/// The network a backend is reached on.
fn choose_network(
    d: &Declared,
    c: &Candidate,
    settings: &Settings,
) -> Result<(String, String), String> {
    if let Some((net, label)) = &d.network {
        return match c.networks.get(net) {
            Some(ip) if !ip.is_empty() => Ok((net.clone(), ip.clone())),
            Some(_) => Err(format!("has no address on {net} ({label})")),
            None => Err(format!("is not on network {net} ({label})")),
        };
    }
    let usable: Vec<(&String, &String)> = c
        .networks
        .iter()
        .filter(|(n, ip)| !ip.is_empty() && *n != "host" && *n != "none")
        .collect();
    if usable.is_empty() {
        return Err(if c.network_mode == "host" {
            "uses the host's network: the proxy cannot reach it by address".into()
        } else {
            "has no address on any network".into()
        });
    }
    // A network the proxy is on already, else a user-defined one, else the default bridge.
    let pick = usable
        .iter()
        .find(|(n, _)| settings.proxy_networks.contains(*n) && *n != "bridge")
        .or_else(|| usable.iter().find(|(n, _)| *n != "bridge"))
        .or_else(|| usable.first())
        .map(|(n, ip)| ((*n).clone(), (*ip).clone()));
    pick.ok_or_else(|| "has no usable network".into())
}

/// The hosts of an alias: given ones, an FQDN alias as is, else `alias.<domain>` for each
/// domain, else the alias.
fn hosts_of(spec: &RouteSpec, settings: &Settings) -> Result<Vec<Host>, String> {
    if !spec.hosts.is_empty() {
        return Ok(spec.hosts.clone());
    }
    let alias = Host::parse(&spec.alias).map_err(|e| format!("alias {}: {e}", spec.alias))?;
    if alias.is_qualified() || settings.domains.is_empty() {
        return Ok(vec![alias]);
    }
    settings
        .domains
        .iter()
        .map(|d| Host::parse(&format!("{alias}.{d}")).map_err(|e| e.to_string()))
        .collect()
}

/// Adds a container's stream to the table, or says why not.
fn stream(
    spec: &RouteSpec,
    c: &Candidate,
    settings: &Settings,
    network: &str,
    address: &str,
    table: &mut RouteTable,
) -> Result<(), String> {
    let target = choose_port(spec, c)?;
    let listen = StreamPort {
        port: spec.listen.unwrap_or(target),
        udp: spec.scheme == Some(Scheme::Udp),
    };
    if !settings.stream_ports.contains(&listen) {
        return Err(format!(
            "the proxy forwards no stream on {listen} (docker proxy up --stream {listen} -p …:{})",
            listen.port
        ));
    }
    let server = Server {
        container: c.name.clone(),
        id: c.id.clone(),
        backend: Backend::Container {
            network: network.to_string(),
            address: spec
                .backend_host
                .clone()
                .unwrap_or_else(|| address.to_string()),
            port: target,
        },
        down: c.health == Health::Unhealthy,
    };
    let service = c.service();
    match table.streams.iter_mut().find(|st| st.listen == listen) {
        Some(st) if st.service == service => st.servers.push(server),
        Some(st) => {
            let conflict = Conflict {
                route: listen.to_string(),
                kept: st.service.clone(),
                refused: service,
            };
            let why = format!(
                "{} is claimed by {} (first claimer keeps it)",
                conflict.route, conflict.kept
            );
            table.conflicts.push(conflict);
            return Err(why);
        }
        None => table.streams.push(Stream {
            listen,
            servers: vec![server],
            service,
            source: spec.source.clone(),
        }),
    }
    Ok(())
}

/// Builds the route table.
pub(crate) fn build(candidates: &[Candidate], settings: &Settings) -> RouteTable {
    let mut table = RouteTable::default();
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    // First claimer first: creation time, then name (stable).
    sorted.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    // (host, path) → index into routes.
    let mut claimed: BTreeMap<(Host, PathPrefix), usize> = BTreeMap::new();
    for c in sorted {
        let decision = decide(c, settings, &mut table, &mut claimed);
        table.decisions.push(decision);
    }
    table
        .decisions
        .sort_by(|a, b| a.container.cmp(&b.container));
    for r in &mut table.routes {
        r.servers.sort();
    }
    // Exact hosts before wildcards, longest path first within a host (the order the engines
    // match in, and a stable render).
    table.routes.sort_by(|a, b| {
        (
            a.host.is_wildcard(),
            &a.host,
            std::cmp::Reverse(a.path.as_str().len()),
            &a.path,
        )
            .cmp(&(
                b.host.is_wildcard(),
                &b.host,
                std::cmp::Reverse(b.path.as_str().len()),
                &b.path,
            ))
    });
    for st in &mut table.streams {
        st.servers.sort();
    }
    table.streams.sort_by_key(|st| st.listen);
    table.networks = table
        .routes
        .iter()
        .flat_map(|r| r.servers.iter())
        .chain(table.streams.iter().flat_map(|st| st.servers.iter()))
        .map(|s| match &s.backend {
            Backend::Container { network, .. } => network.clone(),
        })
        .collect();
    table
}

fn decide(
    c: &Candidate,
    settings: &Settings,
    table: &mut RouteTable,
    claimed: &mut BTreeMap<(Host, PathPrefix), usize>,
) -> Decision {
    let mut decision = Decision {
        container: c.name.clone(),
        id: c.id.clone(),
        routed: false,
        reason: String::new(),
        findings: Vec::new(),
        selected: false,
    };
    if own(c, settings) {
        decision.reason = "one of docker-link's own containers (or an Interlock proxy)".into();
        return decision;
    }
    if let Some((k, v)) = settings.only.iter().find(|(k, v)| {
        c.labels
            .get(k)
            .is_none_or(|have| v.as_ref().is_some_and(|v| v != have))
    }) {
        decision.reason = match v {
            Some(v) => format!("not labelled {k}={v} (--only-label)"),
            None => format!("not labelled {k} (--only-label)"),
        };
        return decision;
    }
    let mut d = labels::parse(&c.name, &c.labels, settings.allow_raw);
    decision.findings = std::mem::take(&mut d.findings);
    if d.exclude {
        decision.reason = "excluded by proxy.exclude".into();
        return decision;
    }
    if decision
        .findings
        .iter()
        .any(|f| f.label == "proxy.exclude" && f.severity == Severity::Error)
    {
        decision.reason = "proxy.exclude is not a boolean: excluded to be safe".into();
        return decision;
    }
    if !d.explicit {
        if settings.explicit {
            decision.reason =
                "no proxy.* label and the proxy routes labelled containers only (--explicit)"
                    .into();
            return decision;
        }
        if c.ports.is_empty() {
            decision.reason = "exposes no port and has no proxy.* label".into();
            return decision;
        }
        if let Some(why) = blacklisted(c) {
            decision.reason = format!("{why}; a proxy.* label routes it anyway");
            return decision;
        }
        d.routes.push(RouteSpec {
            alias: c.default_alias(),
            ..Default::default()
        });
    }
    decision.selected = true;
    if !c.running {
        decision.reason = "not running".into();
        return decision;
    }
    let (network, address) = match choose_network(&d, c, settings) {
        Ok(n) => n,
        Err(why) => {
            decision.reason = why;
            return decision;
        }
    };
    let mut reasons = Vec::new();
    let mut routed = 0;
    for spec in &d.routes {
        if spec.refused {
            reasons.push(format!("route {}: a label value was refused", spec.alias));
            continue;
        }
        let scheme = spec.scheme.unwrap_or_default();
        if matches!(scheme, Scheme::Tcp | Scheme::Udp) {
            match stream(spec, c, settings, &network, &address, table) {
                Ok(()) => routed += 1,
                Err(why) => reasons.push(format!("stream {}: {why}", spec.alias)),
            }
            continue;
        }
        let port = match choose_port(spec, c) {
            Ok(p) => p,
            Err(why) => {
                reasons.push(format!("route {}: {why}", spec.alias));
                continue;
            }
        };
        let hosts = match hosts_of(spec, settings) {
            Ok(h) => h,
            Err(why) => {
                reasons.push(format!("route {}: {why}", spec.alias));
                continue;
            }
        };
        let server = Server {
            container: c.name.clone(),
            id: c.id.clone(),
            backend: Backend::Container {
                network: network.clone(),
                address: spec.backend_host.clone().unwrap_or_else(|| address.clone()),
                port,
            },
            down: c.health == Health::Unhealthy,
        };
        let path = spec.path.clone().unwrap_or_else(PathPrefix::root);
        for host in hosts {
            let key = (host.clone(), path.clone());
            let service = c.service();
            if let Some(&i) = claimed.get(&key) {
                let route = &mut table.routes[i];
                if route.service == service {
                    route.servers.push(server.clone());
                    routed += 1;
                } else {
                    let conflict = Conflict {
                        route: route.key(),
                        kept: route.service.clone(),
                        refused: service.clone(),
                    };
                    reasons.push(format!(
                        "{} is claimed by {} (first claimer keeps it)",
                        conflict.route, conflict.kept
                    ));
                    table.conflicts.push(conflict);
                }
                continue;
            }
            let tls = cert_for(&host, spec.cert.as_deref(), &settings.certs);
            if tls.is_none() && (spec.https_redirect || spec.cert.is_some()) {
                reasons.push(format!(
                    "route {}: no certificate for {host} in the proxy's --certs directory: \
                     served over HTTP only",
                    spec.alias
                ));
            }
            claimed.insert(key, table.routes.len());
            table.routes.push(Route {
                host,
                path: path.clone(),
                strip_path: spec.strip_path,
                scheme,
                no_tls_verify: spec.no_tls_verify,
                response_header_timeout: spec.response_header_timeout,
                balance: spec.balance.unwrap_or_default(),
                health_path: if spec.health.disable {
                    None
                } else {
                    spec.health.path.clone()
                },
                health_interval: spec.health.interval,
                raw: spec.raw.clone(),
                servers: vec![server.clone()],
                service,
                source: spec.source.clone(),
                https_redirect: spec.https_redirect,
                tls,
            });
            routed += 1;
        }
    }
    decision.routed = routed > 0;
    decision.reason = if decision.routed {
        let mut why = format!("routed on {network} at {address}");
        if c.health == Health::Unhealthy {
            why.push_str(" (unhealthy: marked down)");
        }
        if !reasons.is_empty() {
            why.push_str("; ");
            why.push_str(&reasons.join("; "));
        }
        why
    } else if reasons.is_empty() {
        "declares no route".into()
    } else {
        reasons.join("; ")
    };
    decision
}

/// What `explain HOST[/PATH]` says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Explanation {
    pub route: Option<Route>,
    /// Containers whose labels name this host but are not routed there, and why.
    pub others: Vec<Decision>,
}

/// Which route answers `host` and `path`, and which containers wanted it but did not get it.
pub(crate) fn explain(table: &RouteTable, host: &str, path: &str) -> Explanation {
    let route = table
        .routes
        .iter()
        .filter(|r| r.host.matches(host) && r.path.covers(path))
        // Exact host first, then the longest path (the table is in that order).
        .min_by_key(|r| {
            (
                r.host.is_wildcard(),
                std::cmp::Reverse(r.path.as_str().len()),
            )
        })
        .cloned();
    let first_label = host.split('.').next().unwrap_or(host);
    let others = table
        .decisions
        .iter()
        .filter(|d| {
            route
                .as_ref()
                .is_none_or(|r| !r.servers.iter().any(|s| s.id == d.id))
        })
        .filter(|d| {
            d.container == first_label
                || d.reason.contains(host)
                || d.findings.iter().any(|f| f.message.contains(first_label))
        })
        .cloned()
        .collect();
    Explanation { route, others }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn candidate(name: &str, created: i64, labels: &[(&str, &str)]) -> Candidate {
        Candidate {
            id: format!("{name}-id"),
            name: name.into(),
            running: true,
            created,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ports: vec![80],
            mounts: vec![],
            networks: [("app".to_string(), format!("10.0.0.{created}"))].into(),
            network_mode: "app".into(),
            health: Health::None,
        }
    }

    fn reason(t: &RouteTable, name: &str) -> String {
        t.decisions
            .iter()
            .find(|d| d.container == name)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    }

    #[test]
    fn selection() {
        let mut db = candidate("db", 2, &[]);
        db.ports = vec![5432];
        let mut dbmount = candidate("dbm", 3, &[]);
        dbmount.mounts = vec!["/var/lib/mysql".into()];
        let mut db_labelled = candidate("pg", 4, &[("proxy.pg.port", "5432")]);
        db_labelled.ports = vec![5432];
        let mut none = candidate("quiet", 5, &[]);
        none.ports = vec![];
        let mut stopped = candidate("stopped", 6, &[]);
        stopped.running = false;
        let ours = candidate("w", 7, &[("docker-link.role", "watcher")]);
        let il = candidate("ilp", 8, &[("interlock.ext.name", "nginx")]);
        let excl = candidate("ex", 9, &[("proxy.exclude", "true")]);
        let mut several = candidate("multi", 10, &[]);
        several.ports = vec![9229, 3000];
        let mut odd = candidate("odd", 11, &[]);
        odd.ports = vec![1234, 4321];
        let all = vec![
            candidate("web", 1, &[]),
            db,
            dbmount,
            db_labelled,
            none,
            stopped,
            ours,
            il,
            excl,
            several,
            odd,
        ];
        let t = build(&all, &Settings::default());
        let routed: Vec<String> = t.routes.iter().map(|r| r.key()).collect();
        assert_eq!(routed, ["multi", "pg", "web"]);
        let table = [
            ("web", "routed on app at 10.0.0.1"),
            ("db", "looks like a database (port 5432)"),
            ("dbm", "looks like a database (mount /var/lib/mysql)"),
            ("quiet", "exposes no port"),
            ("stopped", "not running"),
            ("w", "docker-link's own"),
            ("ilp", "docker-link's own"),
            ("ex", "excluded by proxy.exclude"),
            ("odd", "none looks like HTTP"),
        ];
        for (name, want) in table {
            assert!(
                reason(&t, name).contains(want),
                "{name}: {}",
                reason(&t, name)
            );
        }
        let multi = t.routes.iter().find(|r| r.key() == "multi").unwrap();
        assert!(matches!(
            multi.servers[0].backend,
            Backend::Container { port: 3000, .. }
        ));
        // --explicit: only labelled ones.
        let t = build(
            &all,
            &Settings {
                explicit: true,
                ..Default::default()
            },
        );
        let routed: Vec<String> = t.routes.iter().map(|r| r.key()).collect();
        assert_eq!(routed, ["pg"]);
        assert!(reason(&t, "web").contains("--explicit"));
        // --only-label: a proxy scoped to what carries a label (and value).
        let mut scoped = all.clone();
        scoped[0].labels.insert("team".into(), "a".into());
        scoped[3].labels.insert("team".into(), "b".into());
        let t = build(
            &scoped,
            &Settings {
                only: vec![("team".into(), Some("a".into()))],
                ..Default::default()
            },
        );
        let routed: Vec<String> = t.routes.iter().map(|r| r.key()).collect();
        assert_eq!(routed, ["web"]);
        assert!(reason(&t, "pg").contains("not labelled team=a (--only-label)"));
    }

    #[test]
    fn domains_and_fqdn_aliases() {
        let s = Settings {
            domains: vec![Host::parse("a.com").unwrap(), Host::parse("b.org").unwrap()],
            ..Default::default()
        };
        let t = build(
            &[candidate(
                "web",
                1,
                &[("proxy.aliases", "web,www.example.net")],
            )],
            &s,
        );
        let keys: Vec<String> = t.routes.iter().map(|r| r.key()).collect();
        assert_eq!(keys, ["web.a.com", "web.b.org", "www.example.net"]);
        assert_eq!(t.routes[0].source, "proxy.aliases");
    }

    #[test]
    fn scaled_services_are_one_upstream_and_conflicts_keep_the_first() {
        let replica = |n: i64| {
            let mut c = candidate(
                &format!("shop-web-{n}"),
                n,
                &[
                    ("com.docker.compose.project", "shop"),
                    ("com.docker.compose.service", "web"),
                ],
            );
            if n == 2 {
                c.health = Health::Unhealthy;
            }
            c
        };
        let intruder = candidate("web", 10, &[]);
        let t = build(
            &[intruder, replica(3), replica(1), replica(2)],
            &Settings::default(),
        );
        assert_eq!(t.routes.len(), 1);
        let r = &t.routes[0];
        assert_eq!(r.key(), "web");
        assert_eq!(r.service, "shop/web");
        let servers: Vec<(&str, bool)> = r
            .servers
            .iter()
            .map(|s| (s.container.as_str(), s.down))
            .collect();
        assert_eq!(
            servers,
            [
                ("shop-web-1", false),
                ("shop-web-2", true),
                ("shop-web-3", false)
            ]
        );
        assert_eq!(
            t.conflicts,
            [Conflict {
                route: "web".into(),
                kept: "shop/web".into(),
                refused: "web".into()
            }]
        );
        assert!(reason(&t, "web").contains("claimed by shop/web"));
    }

    #[test]
    fn networks_are_chosen_and_joined() {
        let mut c = candidate("web", 1, &[]);
        c.networks = [
            ("bridge".to_string(), "172.17.0.5".to_string()),
            ("front".to_string(), "10.1.0.5".to_string()),
            ("zback".to_string(), "10.2.0.5".to_string()),
        ]
        .into();
        let t = build(std::slice::from_ref(&c), &Settings::default());
        assert_eq!(t.networks, BTreeSet::from(["front".to_string()]));
        let s = Settings {
            proxy_networks: ["zback".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(
            build(std::slice::from_ref(&c), &s).networks,
            BTreeSet::from(["zback".to_string()])
        );
        c.labels.insert("proxy.network".into(), "bridge".into());
        let t = build(std::slice::from_ref(&c), &Settings::default());
        assert_eq!(t.networks, BTreeSet::from(["bridge".to_string()]));
        c.labels.insert("proxy.network".into(), "other".into());
        let t = build(&[c], &Settings::default());
        assert!(t.routes.is_empty());
        assert!(reason(&t, "web").contains("is not on network other (proxy.network)"));
    }

    #[test]
    fn explain_finds_the_route_and_the_losers() {
        let t = build(
            &[
                candidate("web", 1, &[("proxy.web.path", "/api")]),
                candidate(
                    "web2",
                    2,
                    &[("proxy.aliases", "web"), ("proxy.web.path", "/api")],
                ),
                candidate("root", 3, &[("proxy.aliases", "web")]),
            ],
            &Settings::default(),
        );
        let e = explain(&t, "web", "/api/x");
        assert_eq!(e.route.as_ref().map(|r| r.service.as_str()), Some("web"));
        assert_eq!(e.others.len(), 1);
        assert_eq!(e.others[0].container, "web2");
        let e = explain(&t, "web", "/other");
        assert_eq!(e.route.map(|r| r.service), Some("root".into()));
        assert!(explain(&t, "nothing", "/").route.is_none());
    }

    #[test]
    fn each_host_gets_its_certificate() {
        let certs: BTreeMap<String, String> = ["shop.example.com", "example.com", "other.org"]
            .iter()
            .map(|n| (n.to_string(), format!("d-{n}")))
            .collect();
        let host = |h: &str| Host::parse(h).unwrap();
        let name =
            |h: &str, wanted: Option<&str>| cert_for(&host(h), wanted, &certs).map(|c| c.name);
        let table = [
            // Its own first.
            (
                "shop.example.com",
                None,
                Some("example.com")
                    .filter(|_| false)
                    .or(Some("shop.example.com")),
            ),
            // A subdomain without its own: the parent domain's (a wildcard certificate).
            ("api.example.com", None, Some("example.com")),
            ("*.example.com", None, Some("example.com")),
            // Never a top-level domain's.
            ("other.org", None, Some("other.org")),
            ("x.other.org", None, Some("other.org")),
            ("nothing.net", None, None),
            ("web", None, None),
            // Named by a label: that one or none.
            ("shop.example.com", Some("other.org"), Some("other.org")),
            ("shop.example.com", Some("missing"), None),
        ];
        for (h, wanted, want) in table {
            assert_eq!(name(h, wanted).as_deref(), want, "{h} {wanted:?}");
        }
        let settings = Settings {
            certs: certs.clone(),
            ..Default::default()
        };
        let t = build(
            &[
                candidate(
                    "shop",
                    1,
                    &[
                        ("proxy.aliases", "shop.example.com"),
                        ("proxy.shop.example.com.https_redirect", "true"),
                    ],
                ),
                candidate(
                    "plain",
                    2,
                    &[
                        ("proxy.aliases", "plain.net"),
                        ("proxy.plain.net.https_redirect", "true"),
                    ],
                ),
            ],
            &settings,
        );
        let shop = t
            .routes
            .iter()
            .find(|r| r.host.as_str() == "shop.example.com")
            .unwrap();
        assert_eq!(
            shop.tls.as_ref().map(|c| c.digest.as_str()),
            Some("d-shop.example.com")
        );
        assert!(shop.https_redirect);
        // A redirect asked for without a certificate is said, and the route stays plain.
        let plain = t
            .routes
            .iter()
            .find(|r| r.host.as_str() == "plain.net")
            .unwrap();
        assert!(plain.tls.is_none());
        assert!(
            reason(&t, "plain").contains("no certificate for plain.net"),
            "{}",
            reason(&t, "plain")
        );
    }

    #[test]
    fn streams_claim_declared_ports_first_come_first_kept() {
        let settings = Settings {
            stream_ports: ["5432", "53/udp"]
                .iter()
                .filter_map(|s| StreamPort::parse(s))
                .collect(),
            ..Default::default()
        };
        let db = |name: &str, created: i64, service: &str, labels: &[(&str, &str)]| {
            let mut c = candidate(name, created, labels);
            c.ports = vec![5432];
            c.labels
                .insert("com.docker.compose.project".into(), "p".into());
            c.labels
                .insert("com.docker.compose.service".into(), service.into());
            c
        };
        let tcp = [("proxy.aliases", "db"), ("proxy.db.scheme", "tcp")];
        let t = build(
            &[
                db("db1", 1, "db", &tcp),
                db("db2", 2, "db", &tcp),
                db("other", 3, "other", &tcp),
                db(
                    "dns",
                    4,
                    "dns",
                    &[
                        ("proxy.aliases", "dns"),
                        ("proxy.dns.scheme", "udp"),
                        ("proxy.dns.port", "53:5353"),
                    ],
                ),
                db(
                    "nope",
                    5,
                    "nope",
                    &[
                        ("proxy.aliases", "x"),
                        ("proxy.x.scheme", "tcp"),
                        ("proxy.x.port", "6000:5432"),
                    ],
                ),
            ],
            &settings,
        );
        let shape: Vec<(String, Vec<String>)> = t
            .streams
            .iter()
            .map(|st| {
                (
                    st.listen.to_string(),
                    st.servers
                        .iter()
                        .map(|s| match &s.backend {
                            Backend::Container { address, port, .. } => format!("{address}:{port}"),
                        })
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("53/udp".to_string(), vec!["10.0.0.4:5353".to_string()]),
                (
                    "5432/tcp".to_string(),
                    vec!["10.0.0.1:5432".to_string(), "10.0.0.2:5432".to_string()]
                ),
            ]
        );
        // Streams are not HTTP routes, and a database port is fine for them (labelled).
        assert!(t.routes.is_empty());
        assert!(
            reason(&t, "other").contains("5432/tcp is claimed by p/db"),
            "{}",
            reason(&t, "other")
        );
        assert!(
            reason(&t, "nope").contains("docker proxy up --stream 6000/tcp"),
            "{}",
            reason(&t, "nope")
        );
        assert_eq!(t.conflicts.len(), 1);
    }

    #[test]
    fn output_is_independent_of_input_order() {
        let mut cs: Vec<Candidate> = (1..=20)
            .map(|i| candidate(&format!("c{i:02}"), i, &[]))
            .collect();
        let a = build(&cs, &Settings::default());
        cs.reverse();
        let b = build(&cs, &Settings::default());
        assert_eq!(a, b);
    }
}
