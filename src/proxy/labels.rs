//! A container's `proxy.*` (GoDoxy, the primary grammar) and `interlock.*` (Interlock 1.x, for
//! migration) labels, parsed into typed route declarations. Every finding (a refused value, an
//! unknown key with the closest valid one, a feature this version does not have) is kept with
//! the label it came from, for `lint`, `explain` and `status`; a bad value drops the route it
//! belongs to, never the others.

use std::collections::BTreeMap;
use std::time::Duration;

use super::value::{self, Balance, Host, Invalid, PathPrefix, Scheme};
use crate::docker::engine::Labels;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    /// The label (and the route it belongs to) is refused.
    Error,
    /// Read, but not what the user probably meant, or ignored.
    Warning,
    /// What was decided, for `lint` and `explain`.
    Info,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One thing `lint` says about a label.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Finding {
    pub severity: Severity,
    /// The label's key, or empty for the container as a whole.
    pub label: String,
    pub message: String,
}

impl Finding {
    fn new(severity: Severity, label: &str, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            label: label.to_string(),
            message: message.into(),
        }
    }
}

/// Fields of a route (`proxy.<alias>.<field>`).
pub(crate) const FIELDS: &[&str] = &[
    "scheme",
    "host",
    "port",
    "path",
    "strip_path",
    "no_tls_verify",
    "response_header_timeout",
    "https_redirect",
    "healthcheck.disable",
    "healthcheck.path",
    "healthcheck.interval",
    "healthcheck.timeout",
    "load_balance.mode",
];

/// GoDoxy fields recognised but not built in this version (ignored, with a warning).
const FIELDS_NOT_BUILT: &[&str] = &[
    "ssl_server_name",
    "middlewares",
    "access_log",
    "homepage",
    "rules",
    "root",
    "load_balance.link",
    "load_balance.weight",
    "healthcheck.use_get",
];

/// Container-level `proxy.*` keys.
const CONTAINER_KEYS: &[&str] = &["aliases", "exclude", "network"];

/// Idle sleep keys: a later version (the route model leaves room for an asleep backend).
const IDLE_KEYS: &[&str] = &[
    "idle_timeout",
    "wake_timeout",
    "stop_method",
    "stop_signal",
    "stop_timeout",
    "depends_on",
    "start_endpoint",
    "no_loading_page",
];

/// Interlock 1.x keys (the `.N` suffixed ones by their base).
const INTERLOCK_KEYS: &[&str] = &[
    "hostname",
    "domain",
    "port",
    "network",
    "alias_domain",
    "websocket_endpoint",
    "context_root",
    "context_root_rewrite",
    "ssl",
    "ssl_only",
    "ssl_cert",
    "ssl_cert_key",
    "ssl_backend",
    "ssl_backend_tls_verify",
    "balance_algorithm",
    "health_check",
    "health_check_interval",
    "ip_hash",
    "backend_option",
    "ext.name",
];

/// What one alias declares (every field optional: defaults come with the container's facts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RouteSpec {
    /// The alias (a name or an FQDN).
    pub alias: String,
    /// Hosts given explicitly (Interlock's hostname.domain and alias domains); empty: derived
    /// from the alias and `--domain`.
    pub hosts: Vec<Host>,
    pub scheme: Option<Scheme>,
    /// Backend host override.
    pub backend_host: Option<String>,
    pub port: Option<u16>,
    /// A stream's port on the proxy (`port: LISTEN:TARGET`); default: the target's.
    pub listen: Option<u16>,
    pub path: Option<PathPrefix>,
    pub strip_path: bool,
    pub no_tls_verify: bool,
    pub response_header_timeout: Option<Duration>,
    pub https_redirect: bool,
    /// The certificate to serve it with, by name in the proxy's `--certs` directory
    /// (Interlock's `ssl_cert`); default: the one named after the host.
    pub cert: Option<String>,
    pub health: HealthCheck,
    pub balance: Option<Balance>,
    /// Raw directives (Interlock's `backend_option`, with `--allow-raw-directives` only).
    pub raw: Vec<String>,
    /// The label that made the route (`proxy.aliases`, `interlock.hostname`, or empty for a
    /// route by default).
    pub source: String,
    /// A value of this route was refused: it is not routed.
    pub refused: bool,
}

/// Active health checks (`healthcheck.*`; haproxy runs them, nginx open source cannot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HealthCheck {
    pub disable: bool,
    pub path: Option<PathPrefix>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// A certificate's name from a file path: its last component without the extension, of
/// the characters of a host name (`/certs/shop.example.com.pem` → `shop.example.com`).
fn cert_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    let stem = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
    let ok = !stem.is_empty()
        && !stem.starts_with('.')
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    ok.then(|| stem.to_string())
}

/// Everything a container's labels declare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Declared {
    /// It has at least one `proxy.*` or `interlock.*` label: it asked to be routed (and the
    /// database blacklist does not apply).
    pub explicit: bool,
    pub exclude: bool,
    /// `proxy.network` / `interlock.network`, with the label.
    pub network: Option<(String, String)>,
    pub routes: Vec<RouteSpec>,
    pub findings: Vec<Finding>,
}

/// Levenshtein distance (small strings: label keys).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min()
        .map(|(_, c)| c)
}

/// How a `proxy.` key splits.
#[derive(Debug, PartialEq, Eq)]
enum Key<'a> {
    Container(&'a str),
    Idle(&'a str),
    /// `proxy.<alias>.<field>`, `proxy.#N.<field>`, `proxy.*.<field>`.
    Field {
        target: Target<'a>,
        field: &'a str,
    },
    /// `proxy.<alias>` alone (GoDoxy's inline YAML object).
    Inline(&'a str),
    Unknown(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target<'a> {
    Alias(&'a str),
    Index(usize),
    Wildcard,
}

fn known_field(f: &str) -> bool {
    FIELDS.contains(&f)
        || FIELDS_NOT_BUILT.contains(&f)
        || f.starts_with("middlewares.")
        || f.starts_with("access_log.")
        || f.starts_with("homepage.")
}

fn split_key(rest: &str) -> Key<'_> {
    if CONTAINER_KEYS.contains(&rest) {
        return Key::Container(rest);
    }
    if IDLE_KEYS.contains(&rest) {
        return Key::Idle(rest);
    }
    // The longest known field that ends the key: the alias may hold dots (an FQDN).
    let dots: Vec<usize> = rest.match_indices('.').map(|(i, _)| i).collect();
    for &i in &dots {
        let (target, field) = (&rest[..i], &rest[i + 1..]);
        if known_field(field) {
            let target = if target == "*" {
                Target::Wildcard
            } else if let Some(n) = target.strip_prefix('#') {
                match n.parse::<usize>() {
                    Ok(n) if n >= 1 => Target::Index(n),
                    _ => return Key::Unknown(rest),
                }
            } else {
                Target::Alias(target)
            };
            return Key::Field { target, field };
        }
    }
    if dots.is_empty() {
        let mut keys: Vec<&str> = CONTAINER_KEYS.to_vec();
        keys.extend(IDLE_KEYS);
        if closest(rest, &keys).is_none() {
            return Key::Inline(rest);
        }
    }
    Key::Unknown(rest)
}

/// Sets one field of a route; a refused value marks the route refused.
fn set_field(spec: &mut RouteSpec, field: &str, value: &str) -> Result<Option<String>, Invalid> {
    match field {
        "scheme" => spec.scheme = Some(Scheme::parse(value)?),
        "host" => spec.backend_host = Some(value::backend_host(value)?),
        "port" => {
            // GoDoxy's `listen:target` for streams: the proxy listens on `listen`, the
            // backend's port is `target`.
            match value.split_once(':') {
                Some((listen, target)) => {
                    spec.listen = Some(value::port(listen)?);
                    spec.port = Some(value::port(target)?);
                }
                None => spec.port = Some(value::port(value)?),
            }
        }
        "path" => spec.path = Some(PathPrefix::parse(value)?),
        "strip_path" => spec.strip_path = value::boolean(value)?,
        "no_tls_verify" => spec.no_tls_verify = value::boolean(value)?,
        "response_header_timeout" => spec.response_header_timeout = Some(value::duration(value)?),
        "https_redirect" => spec.https_redirect = value::boolean(value)?,
        "healthcheck.disable" => spec.health.disable = value::boolean(value)?,
        "healthcheck.path" => spec.health.path = Some(PathPrefix::parse(value)?),
        "healthcheck.interval" => spec.health.interval = Some(value::duration(value)?),
        "healthcheck.timeout" => spec.health.timeout = Some(value::duration(value)?),
        "load_balance.mode" => spec.balance = Some(Balance::parse(value)?),
        other => {
            return Ok(Some(format!(
                "{other} is GoDoxy's, not built in this version: ignored"
            )))
        }
    }
    Ok(None)
}

/// Parses the labels of container `name`. `allow_raw`: the proxy was started with
/// `--allow-raw-directives`.
pub(crate) fn parse(name: &str, labels: &Labels, allow_raw: bool) -> Declared {
    let mut d = Declared::default();
    parse_godoxy(name, labels, &mut d);
    parse_interlock(labels, allow_raw, &mut d);
    d
}

fn parse_godoxy(name: &str, labels: &Labels, d: &mut Declared) {
    let mut aliases: Vec<(String, String)> = Vec::new(); // (alias, source label)
    let mut fields: Vec<(Target, &str, &str, &str)> = Vec::new(); // target, field, value, key
    let mut from_keys: Vec<String> = Vec::new();
    for (key, val) in labels.range("proxy.".to_string()..) {
        let Some(rest) = key.strip_prefix("proxy.") else {
            break;
        };
        d.explicit = true;
        match split_key(rest) {
            Key::Container("aliases") => {
                for a in val.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    match Host::parse(a) {
                        Ok(h) => aliases.push((h.as_str().to_string(), key.clone())),
                        Err(e) => d.findings.push(Finding::new(
                            Severity::Error,
                            key,
                            format!("alias {}: {e}", value::shown(a)),
                        )),
                    }
                }
            }
            Key::Container("exclude") => match value::boolean(val) {
                Ok(b) => d.exclude = b,
                Err(e) => d.findings.push(Finding::new(
                    Severity::Error,
                    key,
                    format!(
                        "{}: {e}; the container is excluded to be safe",
                        value::shown(val)
                    ),
                )),
            },
            Key::Container(_) => match value::network_name(val) {
                true => d.network = Some((val.clone(), key.clone())),
                false => d.findings.push(Finding::new(
                    Severity::Error,
                    key,
                    format!("{} is not a network name", value::shown(val)),
                )),
            },
            Key::Idle(k) => d.findings.push(Finding::new(
                Severity::Warning,
                key,
                format!("idle sleep ({k}) is not built in this version: ignored"),
            )),
            Key::Inline(alias) => d.findings.push(Finding::new(
                Severity::Error,
                key,
                format!(
                    "inline YAML objects are not read: write proxy.{alias}.<field> labels \
                     (fields: {})",
                    FIELDS.join(", ")
                ),
            )),
            Key::Field { target, field } => {
                if let Target::Alias(a) = target {
                    if !from_keys.iter().any(|x| x == a) {
                        from_keys.push(a.to_string());
                    }
                }
                fields.push((target, field, val.as_str(), key.as_str()));
            }
            Key::Unknown(rest) => {
                let last = rest.rsplit('.').next().unwrap_or(rest);
                let mut all: Vec<&str> = FIELDS.to_vec();
                all.extend(CONTAINER_KEYS);
                all.extend(IDLE_KEYS);
                let hint = closest(last, &all)
                    .or_else(|| closest(rest, &all))
                    .map(|c| format!("; did you mean {c}?"))
                    .unwrap_or_default();
                d.findings.push(Finding::new(
                    Severity::Error,
                    key,
                    format!("unknown key {rest}{hint}"),
                ));
            }
        }
    }
    if !d.explicit {
        return;
    }
    if aliases.is_empty() {
        aliases = from_keys
            .iter()
            .map(|a| (a.clone(), String::new()))
            .collect();
    }
    if aliases.is_empty() {
        aliases.push((name.to_string(), String::new()));
    }
    // Keys naming an alias that `proxy.aliases` does not list.
    for (target, _, _, key) in &fields {
        if let Target::Alias(a) = target {
            if !aliases.iter().any(|(x, _)| x == a) {
                d.findings.push(Finding::new(
                    Severity::Warning,
                    key,
                    format!("alias {a} is not in proxy.aliases: ignored"),
                ));
            }
        }
        if let Target::Index(n) = target {
            if *n > aliases.len() {
                d.findings.push(Finding::new(
                    Severity::Warning,
                    key,
                    format!("#{n}: there are only {} aliases: ignored", aliases.len()),
                ));
            }
        }
    }
    for (i, (alias, source)) in aliases.iter().enumerate() {
        let mut spec = RouteSpec {
            alias: alias.clone(),
            source: if source.is_empty() {
                fields
                    .iter()
                    .find(|(t, ..)| *t == Target::Alias(alias) || *t == Target::Index(i + 1))
                    .map(|(.., k)| k.to_string())
                    .unwrap_or_default()
            } else {
                source.clone()
            },
            ..Default::default()
        };
        // Wildcard first, then the alias's own (by name or index) override it.
        for pass in 0..2 {
            for (target, field, val, key) in &fields {
                let applies = match target {
                    Target::Wildcard => pass == 0,
                    Target::Alias(a) => pass == 1 && a == alias,
                    Target::Index(n) => pass == 1 && *n == i + 1,
                };
                if !applies {
                    continue;
                }
                match set_field(&mut spec, field, val) {
                    Ok(None) => {}
                    Ok(Some(note)) => d.findings.push(Finding::new(Severity::Warning, key, note)),
                    Err(e) => {
                        spec.refused = true;
                        d.findings.push(Finding::new(
                            Severity::Error,
                            key,
                            format!("{}: {e}; route {alias} is not routed", value::shown(val)),
                        ));
                    }
                }
            }
        }
        d.routes.push(spec);
    }
}

/// Interlock 1.x: `interlock.hostname` opts in; one route.
fn parse_interlock(labels: &Labels, allow_raw: bool, d: &mut Declared) {
    let il: BTreeMap<&str, (&str, &str)> = labels
        .range("interlock.".to_string()..)
        .take_while(|(k, _)| k.starts_with("interlock."))
        .map(|(k, v)| (&k["interlock.".len()..], (k.as_str(), v.as_str())))
        .collect();
    if il.is_empty() {
        return;
    }
    d.explicit = true;
    let mut spec = RouteSpec {
        source: "interlock.hostname".into(),
        ..Default::default()
    };
    let err = |d: &mut Declared, key: &str, val: &str, e: Invalid| {
        d.findings.push(Finding::new(
            Severity::Error,
            key,
            format!(
                "{}: {e}; the Interlock route is not routed",
                value::shown(val)
            ),
        ));
    };
    let mut hostname = None;
    let mut domain = None;
    let mut aliases: Vec<(String, &str)> = Vec::new();
    for (rest, (key, val)) in &il {
        let base = match rest.rsplit_once('.') {
            Some((b, n)) if n.chars().all(|c| c.is_ascii_digit()) => b,
            _ => rest,
        };
        let r: Result<(), Invalid> = match base {
            "hostname" => Host::parse_name(val).map(|h| hostname = Some(h)),
            "domain" => Host::parse_name(val).map(|h| domain = Some(h)),
            "port" => value::port(val).map(|p| spec.port = Some(p)),
            "network" => {
                if value::network_name(val) {
                    d.network.get_or_insert((val.to_string(), key.to_string()));
                    Ok(())
                } else {
                    Err(Invalid("not a network name".into()))
                }
            }
            "alias_domain" => {
                aliases.push((val.to_string(), key));
                Ok(())
            }
            // Upgrade is proxied on every route: nothing to configure.
            "websocket_endpoint" => PathPrefix::parse(val).map(|_| ()),
            "context_root" => PathPrefix::parse(val).map(|p| spec.path = Some(p)),
            "context_root_rewrite" => value::boolean(val).map(|b| spec.strip_path = b),
            // A boolean read as a boolean (Interlock enabled SSL on `ssl=false`). TLS is
            // served wherever the proxy has the host's certificate: `ssl` asks for nothing
            // more.
            "ssl" => value::boolean(val).map(|_| ()),
            "ssl_only" => value::boolean(val).map(|b| spec.https_redirect = b),
            // Interlock's paths inside its proxy: the file's name, without its extension,
            // names the certificate in `--certs` (`NAME.crt` and `NAME.key`).
            "ssl_cert" | "ssl_cert_key" => match cert_name(val) {
                Some(name) => {
                    if key.ends_with("ssl_cert") {
                        spec.cert = Some(name);
                    }
                    Ok(())
                }
                None => Err(Invalid("not a certificate file name".into())),
            },
            "ssl_backend" => value::boolean(val).map(|b| {
                if b {
                    spec.scheme = Some(Scheme::Https);
                }
            }),
            "ssl_backend_tls_verify" => value::boolean(val).map(|b| spec.no_tls_verify = !b),
            "balance_algorithm" => Balance::parse(val).map(|b| spec.balance = Some(b)),
            "ip_hash" => value::boolean(val).map(|b| {
                if b {
                    spec.balance = Some(Balance::IpHash);
                }
            }),
            "health_check" => {
                // Interlock's value was haproxy's `option httpchk` argument (`GET /health`).
                let path = val.rsplit(' ').next().unwrap_or(val);
                PathPrefix::parse(path).map(|p| spec.health.path = Some(p))
            }
            "health_check_interval" => {
                // Milliseconds in Interlock.
                value::port(val)
                    .map(|_| ())
                    .and_then(|_| {
                        val.parse::<u64>()
                            .map_err(|_| Invalid("milliseconds".into()))
                    })
                    .map(|ms| spec.health.interval = Some(Duration::from_millis(ms)))
            }
            "backend_option" => {
                if allow_raw {
                    value::raw_directive(val).map(|r| spec.raw.push(r))
                } else {
                    d.findings.push(Finding::new(
                        Severity::Error,
                        key,
                        "raw directives need `docker proxy up --allow-raw-directives`: ignored",
                    ));
                    Ok(())
                }
            }
            "ext.name" => Ok(()),
            other => {
                let hint = closest(other, INTERLOCK_KEYS)
                    .map(|c| format!("; did you mean interlock.{c}?"))
                    .unwrap_or_default();
                d.findings.push(Finding::new(
                    Severity::Error,
                    key,
                    format!("unknown key interlock.{other}{hint}"),
                ));
                Ok(())
            }
        };
        if let Err(e) = r {
            spec.refused = true;
            err(d, key, val, e);
        }
    }
    let Some(hostname) = hostname else {
        if !il.contains_key("ext.name") {
            d.findings.push(Finding::new(
                Severity::Warning,
                "interlock.hostname",
                "Interlock labels without interlock.hostname route nothing",
            ));
        }
        return;
    };
    let host = match &domain {
        Some(dom) => Host::parse(&format!("{hostname}.{dom}")),
        None => Ok(hostname.clone()),
    };
    match host {
        Ok(h) => spec.hosts.push(h),
        Err(e) => {
            spec.refused = true;
            err(d, "interlock.hostname", hostname.as_str(), e);
        }
    }
    for (a, key) in aliases {
        match Host::parse(&a) {
            Ok(h) => spec.hosts.push(h),
            Err(e) => {
                spec.refused = true;
                err(d, key, &a, e);
            }
        }
    }
    spec.alias = hostname.as_str().to_string();
    d.routes.push(spec);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn errors(d: &Declared) -> Vec<String> {
        d.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{}: {}", f.label, f.message))
            .collect()
    }

    #[test]
    fn key_grammar() {
        let table = [
            ("aliases", Key::Container("aliases")),
            ("idle_timeout", Key::Idle("idle_timeout")),
            (
                "web.port",
                Key::Field {
                    target: Target::Alias("web"),
                    field: "port",
                },
            ),
            (
                "app.example.com.port",
                Key::Field {
                    target: Target::Alias("app.example.com"),
                    field: "port",
                },
            ),
            (
                "#2.healthcheck.path",
                Key::Field {
                    target: Target::Index(2),
                    field: "healthcheck.path",
                },
            ),
            (
                "*.scheme",
                Key::Field {
                    target: Target::Wildcard,
                    field: "scheme",
                },
            ),
            ("web", Key::Inline("web")),
            ("web.prot", Key::Unknown("web.prot")),
            ("#0.port", Key::Unknown("#0.port")),
        ];
        for (input, want) in table {
            assert_eq!(split_key(input), want, "{input}");
        }
    }

    #[test]
    fn no_labels_is_not_explicit() {
        let d = parse("web", &labels(&[("com.example", "x")]), false);
        assert!(!d.explicit);
        assert!(d.routes.is_empty());
    }

    #[test]
    fn godoxy_aliases_wildcard_and_overrides() {
        let d = parse(
            "app",
            &labels(&[
                ("proxy.aliases", "a,b.example.org"),
                ("proxy.*.port", "8080"),
                ("proxy.*.scheme", "http"),
                ("proxy.a.port", "9000"),
                ("proxy.#2.path", "/api/"),
                ("proxy.#2.strip_path", "true"),
            ]),
            false,
        );
        assert!(d.explicit);
        assert_eq!(errors(&d), Vec::<String>::new());
        assert_eq!(d.routes.len(), 2);
        assert_eq!(d.routes[0].alias, "a");
        assert_eq!(d.routes[0].port, Some(9000));
        assert_eq!(d.routes[0].source, "proxy.aliases");
        assert_eq!(d.routes[1].alias, "b.example.org");
        assert_eq!(d.routes[1].port, Some(8080));
        assert_eq!(d.routes[1].path.as_ref().map(|p| p.as_str()), Some("/api"));
        assert!(d.routes[1].strip_path);
    }

    #[test]
    fn aliases_from_keys_and_default_name() {
        let d = parse("app", &labels(&[("proxy.web.port", "80")]), false);
        assert_eq!(d.routes.len(), 1);
        assert_eq!(d.routes[0].alias, "web");
        assert_eq!(d.routes[0].source, "proxy.web.port");
        let d = parse("app", &labels(&[("proxy.*.port", "80")]), false);
        assert_eq!(d.routes[0].alias, "app");
        let d = parse("app", &labels(&[("proxy.exclude", "true")]), false);
        assert!(d.exclude);
        assert!(d.explicit);
    }

    #[test]
    fn bad_values_refuse_their_route_only() {
        let d = parse(
            "app",
            &labels(&[
                ("proxy.aliases", "good,bad"),
                ("proxy.bad.port", "80; evil"),
                ("proxy.good.port", "80"),
            ]),
            false,
        );
        assert!(!d.routes[0].refused);
        assert!(d.routes[1].refused);
        let e = errors(&d);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].contains("proxy.bad.port: \"80; evil\": ';' is not allowed in a port"),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_keys_get_the_closest() {
        let d = parse(
            "app",
            &labels(&[("proxy.web.prot", "80"), ("proxy.aliasses", "x")]),
            false,
        );
        let e = errors(&d);
        assert!(
            e.iter()
                .any(|m| m.contains("unknown key web.prot; did you mean port?")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.contains("did you mean aliases?")),
            "{e:?}"
        );
        let d = parse("app", &labels(&[("interlock.hostnme", "x")]), false);
        assert!(errors(&d)[0].contains("did you mean interlock.hostname?"));
    }

    #[test]
    fn hostile_aliases_are_refused() {
        let d = parse(
            "app",
            &labels(&[("proxy.aliases", "a.com; } server { listen 80")]),
            false,
        );
        assert!(d.routes.iter().all(|r| r.alias == "app" || r.refused));
        assert!(errors(&d)[0].contains("not allowed in a host name"));
    }

    #[test]
    fn tls_labels() {
        let d = parse(
            "app",
            &labels(&[
                ("proxy.aliases", "shop"),
                ("proxy.shop.https_redirect", "true"),
            ]),
            false,
        );
        assert!(d.routes[0].https_redirect);
        assert!(d.findings.is_empty(), "{:?}", d.findings);
        let d = parse(
            "app",
            &labels(&[
                ("interlock.hostname", "www"),
                ("interlock.ssl", "true"),
                ("interlock.ssl_only", "true"),
                ("interlock.ssl_cert", "/certs/www.example.com.pem"),
                ("interlock.ssl_cert_key", "/certs/www.example.com.key"),
            ]),
            false,
        );
        assert!(d.routes[0].https_redirect);
        assert_eq!(d.routes[0].cert.as_deref(), Some("www.example.com"));
        assert!(errors(&d).is_empty(), "{:?}", d.findings);
        let d = parse(
            "app",
            &labels(&[
                ("interlock.hostname", "www"),
                ("interlock.ssl_cert", "/x/.."),
            ]),
            false,
        );
        assert!(!errors(&d).is_empty());
        assert_eq!(cert_name("a/b/c.d.pem").as_deref(), Some("c.d"));
        assert_eq!(cert_name("/certs/.hidden"), None);
        assert_eq!(cert_name("x y.pem"), None);
    }

    #[test]
    fn interlock_with_its_bugs_fixed() {
        let d = parse(
            "app",
            &labels(&[
                ("interlock.hostname", "www"),
                ("interlock.domain", "example.com"),
                ("interlock.port", "8080"),
                ("interlock.alias_domain.0", "example.com"),
                ("interlock.context_root", "/app"),
                ("interlock.context_root_rewrite", "true"),
                ("interlock.ssl", "false"),
                ("interlock.ip_hash", "false"),
                ("interlock.backend_option", "option forwardfor"),
            ]),
            false,
        );
        let r = &d.routes[0];
        let hosts: Vec<&str> = r.hosts.iter().map(|h| h.as_str()).collect();
        assert_eq!(hosts, ["www.example.com", "example.com"]);
        assert_eq!(r.port, Some(8080));
        assert!(r.strip_path);
        // ssl=false is false: no warning about TLS; ip_hash=false is false.
        assert!(!d.findings.iter().any(|f| f.label == "interlock.ssl"));
        assert_eq!(r.balance, None);
        // Raw directives need the operator's opt-in.
        assert!(errors(&d)[0].contains("--allow-raw-directives"));
        assert!(r.raw.is_empty());
        let d = parse(
            "app",
            &labels(&[
                ("interlock.hostname", "www"),
                ("interlock.backend_option", "option forwardfor"),
            ]),
            true,
        );
        assert_eq!(d.routes[0].raw, ["option forwardfor"]);
    }
}
