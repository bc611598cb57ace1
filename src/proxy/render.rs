//! Rendering a route table into the engine's configuration with tera. Templates are embedded
//! in the binary and may be replaced per proxy (`docker proxy up --template-dir`). Every value
//! reaches the output through [`escape`], turned on for every template (autoescape on all
//! names); a replacement template that asks for unescaped output (`safe`) is refused. So a
//! template cannot emit a raw label value even by mistake, and an escaped value cannot change
//! the configuration's structure: it can only ever be one word of the engine's syntax.
//!
//! The context is built from the sorted table, so the same routes give the same bytes; the
//! hash the configuration serves on its loopback listener is a digest of the context and the
//! template, so it changes exactly when the bytes do.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::model::{Backend, Route, Server, Stream};
use super::value::{Balance, Scheme};

/// The loopback port inside the proxy container where the configuration's hash is served.
pub(crate) const PROBE_PORT: u16 = 19_387;
/// The path of the hash there.
pub(crate) const PROBE_PATH: &str = "/docker-link/config";
/// Old workers (nginx) or processes (haproxy) end this long after a reload at the latest.
pub(crate) const SHUTDOWN_TIMEOUT_S: u64 = 30;

/// Where a proxy listens inside its container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Listeners {
    /// Plain HTTP (default 80).
    pub plain: Vec<u16>,
    /// TLS, terminated with the certificates of `--certs`.
    pub tls: Vec<u16>,
}

impl Listeners {
    pub(crate) fn http(ports: &[u16]) -> Listeners {
        Listeners {
            plain: ports.to_vec(),
            tls: Vec::new(),
        }
    }
}

/// Which data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProxyEngine {
    #[default]
    Nginx,
    Haproxy,
}

impl ProxyEngine {
    pub(crate) fn parse(s: &str) -> Option<ProxyEngine> {
        match s {
            "nginx" => Some(ProxyEngine::Nginx),
            "haproxy" => Some(ProxyEngine::Haproxy),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ProxyEngine::Nginx => "nginx",
            ProxyEngine::Haproxy => "haproxy",
        }
    }

    /// The template's (and the configuration file's) name.
    pub(crate) fn template(self) -> &'static str {
        match self {
            ProxyEngine::Nginx => "nginx.conf",
            ProxyEngine::Haproxy => "haproxy.cfg",
        }
    }

    fn builtin(self) -> &'static str {
        match self {
            ProxyEngine::Nginx => include_str!("templates/nginx.conf"),
            ProxyEngine::Haproxy => include_str!("templates/haproxy.cfg"),
        }
    }

    /// Why a stream cannot be served by this engine, if it cannot.
    pub(crate) fn unsupported_stream(self, stream: &Stream) -> Option<String> {
        match self {
            ProxyEngine::Haproxy if stream.listen.udp => {
                Some("udp streams need nginx (haproxy forwards tcp only)".into())
            }
            _ => None,
        }
    }

    /// Why a route cannot be served by this engine, if it cannot.
    pub(crate) fn unsupported(self, route: &Route) -> Option<String> {
        match (self, route.scheme) {
            (ProxyEngine::Nginx, Scheme::H2c) => {
                Some("h2c backends need haproxy (nginx proxies HTTP/1.1 only)".into())
            }
            _ => None,
        }
    }
}

/// The one escape of every value: characters that are inert in both engines' syntax pass,
/// every other byte is percent-encoded. Quotes, braces, `;`, `#`, `$`, `\`, whitespace and
/// control characters can therefore never come out of a value.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:*@+,=!%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The first 8 bytes of a digest in hex: the proxy's hashes and fingerprints.
pub(crate) fn short_hex(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A template refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    #[error("template {name}: it turns escaping off (`safe`), which a proxy template may not")]
    Unsafe { name: String },
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("route {route}: {message}")]
    Route { route: String, message: String },
}

fn tera_message(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Whether a template source turns escaping off somewhere.
fn turns_escaping_off(source: &str) -> bool {
    let squeezed: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    squeezed.contains("|safe")
        || squeezed.contains("{%filtersafe")
        || squeezed.contains("{%-filtersafe")
}

/// What every render of one proxy shares.
#[derive(Debug, Clone)]
pub(crate) struct Renderer {
    engine: ProxyEngine,
    tera: tera::Tera,
    source: String,
}

impl Renderer {
    /// `custom`: a replacement template's source (from `--template-dir`).
    pub(crate) fn new(engine: ProxyEngine, custom: Option<&str>) -> Result<Renderer, RenderError> {
        let name = engine.template();
        let source = custom.unwrap_or(engine.builtin()).to_string();
        if turns_escaping_off(&source) {
            return Err(RenderError::Unsafe { name: name.into() });
        }
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![""]);
        tera.set_escape_fn(escape);
        tera.add_raw_template(name, &source)
            .map_err(|e| RenderError::Template {
                name: name.into(),
                message: tera_message(&e),
            })?;
        Ok(Renderer {
            engine,
            tera,
            source,
        })
    }

    /// A digest of the template: a route refused under one template is tried again under
    /// another (a new version of the plugin, a new `--template-dir`).
    pub(crate) fn template_digest(&self) -> String {
        short_hex(&Sha256::digest(self.source.as_bytes()))
    }

    /// Renders `routes` (already sorted). `listen`: the ports the proxy listens on inside its
    /// container.
    pub(crate) fn render(
        &self,
        name: &str,
        listen: &Listeners,
        routes: &[Route],
        streams: &[Stream],
    ) -> Result<Rendered, RenderError> {
        let mut ctx = context(self.engine, name, listen, routes)?;
        ctx.streams = streams
            .iter()
            .filter(|st| self.engine.unsupported_stream(st).is_none())
            .map(stream_context)
            .collect();
        let mut digest = Sha256::new();
        digest.update(self.source.as_bytes());
        digest.update(serde_json::to_vec(&ctx).unwrap_or_default());
        // A renewed certificate (same name, new files) is a new configuration: the engine
        // reads certificates only when it loads one. The watcher's backstop pass sees it.
        for c in routes.iter().filter_map(|r| r.tls.as_ref()) {
            digest.update(c.name.as_bytes());
            digest.update(c.digest.as_bytes());
        }
        let hash = short_hex(&digest.finalize());
        ctx.hash = hash.clone();
        let tctx = tera::Context::from_serialize(&ctx).map_err(|e| RenderError::Template {
            name: self.engine.template().into(),
            message: tera_message(&e),
        })?;
        let text = self
            .tera
            .render(self.engine.template(), &tctx)
            .map_err(|e| RenderError::Template {
                name: self.engine.template().into(),
                message: tera_message(&e),
            })?;
        Ok(Rendered {
            text,
            hash,
            routes: routes.iter().map(Route::key).collect(),
        })
    }
}

/// A configuration and what is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub text: String,
    /// What the configuration serves on its loopback listener.
    pub hash: String,
    /// The keys of the routes it holds.
    pub routes: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
struct Context {
    name: String,
    hash: String,
    probe_port: u16,
    shutdown_timeout: u64,
    listen: Vec<u16>,
    tls_listen: Vec<u16>,
    /// haproxy: the certificates routes use (path without the `.crt`), for the TLS binds.
    certs: Vec<String>,
    upstreams: Vec<Upstream>,
    streams: Vec<StreamCtx>,
    /// nginx: server blocks by host.
    hosts: Vec<HostBlock>,
    /// haproxy: frontend rules in match order.
    routes: Vec<Rule>,
}

#[derive(Debug, serde::Serialize)]
struct Upstream {
    name: String,
    balance: &'static str,
    haproxy_balance: &'static str,
    scheme: &'static str,
    tls_verify: bool,
    read_timeout: Option<u64>,
    strip: bool,
    path: String,
    path_len: usize,
    health_path: Option<String>,
    health_interval_ms: u64,
    raw: Vec<Vec<String>>,
    servers: Vec<ServerCtx>,
}

#[derive(Debug, serde::Serialize)]
struct StreamCtx {
    name: String,
    listen: u16,
    udp: bool,
    servers: Vec<ServerCtx>,
}

fn server_context(s: &Server) -> ServerCtx {
    match &s.backend {
        Backend::Container { address, port, .. } => ServerCtx {
            name: s.container.clone(),
            address: format!("{address}:{port}"),
            down: s.down,
        },
    }
}

fn stream_context(st: &Stream) -> StreamCtx {
    let proto = if st.listen.udp { "udp" } else { "tcp" };
    StreamCtx {
        name: format!("dl_stream_{proto}_{}", st.listen.port),
        listen: st.listen.port,
        udp: st.listen.udp,
        servers: st.servers.iter().map(server_context).collect(),
    }
}

#[derive(Debug, serde::Serialize)]
struct ServerCtx {
    name: String,
    address: String,
    down: bool,
}

#[derive(Debug, serde::Serialize)]
struct HostBlock {
    host: String,
    /// The certificate's path without `.crt`/`.key`, when the host is served over TLS.
    cert: Option<String>,
    locations: Vec<Location>,
}

#[derive(Debug, serde::Serialize)]
struct Location {
    exact: bool,
    location: String,
    upstream: String,
    scheme: &'static str,
    strip: bool,
    tls_verify: bool,
    read_timeout: Option<u64>,
    raw: Vec<Vec<String>>,
    /// Plain HTTP is redirected to HTTPS.
    redirect: bool,
}

#[derive(Debug, serde::Serialize)]
struct Rule {
    upstream: String,
    /// `str` or `end` (a wildcard matches the suffix).
    r#match: &'static str,
    host: String,
    root: bool,
    path: String,
    /// Plain HTTP is redirected to HTTPS.
    redirect: bool,
}

fn cert_path(route: &Route) -> Option<String> {
    route
        .tls
        .as_ref()
        .map(|c| format!("{}/{}", super::apply::CERTS_DIR, c.name))
}

/// An upstream's name: the host with `.`/`*` spelt out, plus the path's digest when it has
/// one (identifier characters only, unique per route).
fn upstream_name(route: &Route) -> String {
    let host: String = route
        .host
        .as_str()
        .chars()
        .map(|c| match c {
            '.' => '_',
            '*' => 'X',
            c => c,
        })
        .collect();
    if route.path.is_root() {
        format!("dl_{host}")
    } else {
        let d = Sha256::digest(route.path.as_str().as_bytes());
        format!("dl_{host}_{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
    }
}

fn context(
    engine: ProxyEngine,
    name: &str,
    listen: &Listeners,
    routes: &[Route],
) -> Result<Context, RenderError> {
    let mut upstreams = Vec::new();
    let mut hosts: BTreeMap<(bool, String), (Option<String>, Vec<Location>)> = BTreeMap::new();
    let mut rules = Vec::new();
    let mut certs = std::collections::BTreeSet::new();
    // Where no TLS is listened on, no route has a certificate or a redirect.
    let tls_on = !listen.tls.is_empty();
    for r in routes {
        if let Some(why) = engine.unsupported(r) {
            return Err(RenderError::Route {
                route: r.key(),
                message: why,
            });
        }
        let upstream = upstream_name(r);
        let raw: Vec<Vec<String>> = r
            .raw
            .iter()
            .map(|d| d.split_whitespace().map(str::to_string).collect())
            .collect();
        let scheme = match r.scheme {
            Scheme::Https => "https",
            Scheme::H2c => "h2c",
            _ => "http",
        };
        let read_timeout = r.response_header_timeout.map(|d| d.as_secs().max(1));
        upstreams.push(Upstream {
            name: upstream.clone(),
            balance: match r.balance {
                Balance::RoundRobin => "round_robin",
                Balance::LeastConn => "least_conn",
                Balance::IpHash => "ip_hash",
            },
            haproxy_balance: match r.balance {
                Balance::RoundRobin => "roundrobin",
                Balance::LeastConn => "leastconn",
                Balance::IpHash => "source",
            },
            scheme,
            tls_verify: !r.no_tls_verify,
            read_timeout,
            strip: r.strip_path && !r.path.is_root(),
            path: r.path.to_string(),
            path_len: r.path.as_str().len(),
            health_path: r.health_path.as_ref().map(|p| p.to_string()),
            health_interval_ms: r
                .health_interval
                .map_or(5000, |d| d.as_millis().max(100) as u64),
            raw: raw.clone(),
            servers: r.servers.iter().map(server_context).collect(),
        });
        let cert = cert_path(r).filter(|_| tls_on);
        let redirect = r.https_redirect && cert.is_some();
        certs.extend(cert.clone());
        let (host_cert, block) = hosts
            .entry((r.host.is_wildcard(), r.host.to_string()))
            .or_default();
        // One certificate per host: the first route's (sorted) that has one.
        if host_cert.is_none() {
            *host_cert = cert;
        }
        let location = |exact: bool, location: String| Location {
            exact,
            location,
            upstream: upstream.clone(),
            scheme: if r.scheme == Scheme::Https {
                "https"
            } else {
                "http"
            },
            strip: r.strip_path && !r.path.is_root(),
            tls_verify: !r.no_tls_verify,
            read_timeout,
            raw: raw.clone(),
            redirect,
        };
        if r.path.is_root() {
            block.push(location(false, "/".into()));
        } else {
            block.push(location(true, r.path.to_string()));
            block.push(location(false, format!("{}/", r.path)));
        }
        let (m, host) = match r.host.as_str().strip_prefix('*') {
            Some(suffix) => ("end", suffix.to_string()),
            None => ("str", r.host.to_string()),
        };
        rules.push(Rule {
            upstream,
            r#match: m,
            host,
            root: r.path.is_root(),
            path: r.path.to_string(),
            redirect,
        });
    }
    // haproxy takes the first matching rule: longer paths first, root routes last.
    rules.sort_by_key(|r| (r.root, std::cmp::Reverse(r.path.len())));
    Ok(Context {
        name: name.to_string(),
        hash: String::new(),
        probe_port: PROBE_PORT,
        shutdown_timeout: SHUTDOWN_TIMEOUT_S,
        listen: if listen.plain.is_empty() && listen.tls.is_empty() {
            vec![80]
        } else {
            listen.plain.clone()
        },
        tls_listen: listen.tls.clone(),
        certs: certs.into_iter().collect(),
        upstreams,
        streams: Vec::new(),
        hosts: hosts
            .into_iter()
            .map(|((_, host), (cert, locations))| HostBlock {
                host,
                cert,
                locations,
            })
            .collect(),
        routes: rules,
    })
}

#[cfg(test)]
mod tests {
    use super::super::model::Route;
    use super::super::model::{build, tests::candidate, Settings};
    use super::*;

    fn routes(cands: &[crate::proxy::model::Candidate]) -> Vec<Route> {
        build(cands, &Settings::default()).routes
    }

    #[test]
    fn escape_leaves_only_inert_characters() {
        assert_eq!(escape("web.example.com"), "web.example.com");
        assert_eq!(escape("/api/v1"), "/api/v1");
        assert_eq!(
            escape("a; } #\n\"$'\\\0"),
            "a%3B%20%7D%20%23%0A%22%24%27%5C%00"
        );
        assert_eq!(escape("е"), "%D0%B5");
    }

    #[test]
    fn unsafe_templates_are_refused() {
        for src in [
            "{{ x | safe }}",
            "{{x|safe}}",
            "{% filter safe %}x{% endfilter %}",
        ] {
            assert!(matches!(
                Renderer::new(ProxyEngine::Nginx, Some(src)),
                Err(RenderError::Unsafe { .. })
            ));
        }
        assert!(matches!(
            Renderer::new(ProxyEngine::Nginx, Some("{% if %}")),
            Err(RenderError::Template { .. })
        ));
        // A custom template's values are escaped too.
        let r = Renderer::new(ProxyEngine::Nginx, Some("{{ name }}")).unwrap();
        assert_eq!(
            r.render("a;b", &Listeners::http(&[]), &[], &[])
                .unwrap()
                .text,
            "a%3Bb"
        );
    }

    #[test]
    fn nginx_render_is_deterministic_and_complete() {
        let mut api = candidate(
            "api",
            2,
            &[
                ("proxy.aliases", "web"),
                ("proxy.web.path", "/api"),
                ("proxy.web.strip_path", "true"),
                ("proxy.web.response_header_timeout", "90s"),
            ],
        );
        api.ports = vec![8080];
        let cands = vec![candidate("web", 1, &[]), api];
        let r = Renderer::new(ProxyEngine::Nginx, None).unwrap();
        let a = r
            .render("p", &Listeners::http(&[80]), &routes(&cands), &[])
            .unwrap();
        let mut rev = cands.clone();
        rev.reverse();
        let b = r
            .render("p", &Listeners::http(&[80]), &routes(&rev), &[])
            .unwrap();
        assert_eq!(a, b);
        let t = &a.text;
        assert!(t.contains("worker_shutdown_timeout 30s;"), "{t}");
        assert!(t.contains(&format!("return 200 \"{}\"", a.hash)));
        assert!(t.contains("server 10.0.0.1:80 max_fails=3 fail_timeout=10s;"));
        assert!(t.contains("server 10.0.0.2:8080 max_fails=3"));
        assert!(t.contains("location = /api {\n      proxy_pass http://dl_web_"));
        assert!(t.contains("location /api/ {\n      proxy_pass http://dl_web_"));
        assert!(t.contains("/;\n      proxy_read_timeout 90s;"));
        assert!(t.contains("listen 80 default_server;"));
        assert_eq!(a.routes, ["web/api", "web"]);
        // Another route changes the hash.
        let c = r
            .render("p", &Listeners::http(&[80]), &routes(&cands[..1]), &[])
            .unwrap();
        assert_ne!(a.hash, c.hash);
    }

    #[test]
    fn haproxy_render() {
        let mut w = candidate(
            "web",
            1,
            &[("proxy.web.path", "/app"), ("proxy.web.strip_path", "1")],
        );
        w.health = crate::proxy::model::Health::Unhealthy;
        let r = Renderer::new(ProxyEngine::Haproxy, None).unwrap();
        let out = r
            .render(
                "p",
                &Listeners::http(&[80, 8080]),
                &routes(&[w, candidate("zz", 2, &[])]),
                &[],
            )
            .unwrap();
        let t = &out.text;
        assert!(t.contains("hard-stop-after 30s"), "{t}");
        assert!(t.contains("bind :80\n  bind :8080"));
        assert!(t.contains("{ var(txn.host) -m str web } { path /app } || { var(txn.host) -m str web } { path_beg /app/ }"), "{t}");
        assert!(t.contains("http-request set-path %[path,bytes(4)] if { path_beg /app/ }"));
        assert!(t.contains("server web 10.0.0.1:80 disabled"));
        // The root route comes after the path route.
        let app = t.find("path_beg /app/ }").unwrap();
        let zz = t.find("use_backend dl_zz").unwrap();
        assert!(app < zz);
    }

    /// Two routes over TLS (one redirecting plain HTTP), one without a certificate.
    fn tls_routes() -> Vec<Route> {
        tls_routes_with("d1")
    }

    /// [`tls_routes`] with the certificate's files of digest `digest`.
    fn tls_routes_with(digest: &str) -> Vec<Route> {
        let settings = Settings {
            certs: [("a.example.com".to_string(), digest.to_string())].into(),
            ..Default::default()
        };
        build(
            &[
                candidate(
                    "a",
                    1,
                    &[
                        ("proxy.aliases", "a.example.com"),
                        ("proxy.*.https_redirect", "true"),
                    ],
                ),
                candidate("b", 2, &[("proxy.aliases", "b.example.org")]),
            ],
            &settings,
        )
        .routes
    }

    #[test]
    fn a_renewed_certificate_is_a_new_configuration() {
        let r = Renderer::new(ProxyEngine::Nginx, None).unwrap();
        let listeners = Listeners {
            plain: vec![80],
            tls: vec![443],
        };
        let old = r.render("p", &listeners, &tls_routes(), &[]).unwrap();
        let same = r.render("p", &listeners, &tls_routes(), &[]).unwrap();
        let renewed = r
            .render("p", &listeners, &tls_routes_with("d2"), &[])
            .unwrap();
        assert_eq!(old, same);
        assert_ne!(old.hash, renewed.hash);
        assert_ne!(old.text, renewed.text);
    }

    #[test]
    fn nginx_terminates_tls_where_a_host_has_a_certificate() {
        let r = Renderer::new(ProxyEngine::Nginx, None).unwrap();
        let listeners = Listeners {
            plain: vec![80],
            tls: vec![443],
        };
        let t = r.render("p", &listeners, &tls_routes(), &[]).unwrap().text;
        // SNI misses get no certificate at all.
        assert!(
            t.contains("listen 443 ssl default_server;\n    ssl_reject_handshake on;"),
            "{t}"
        );
        assert!(t.contains(
            "listen 80;\n    listen 443 ssl;\n    ssl_certificate /etc/docker-link-proxy/certs/a.example.com.crt;\n    ssl_certificate_key /etc/docker-link-proxy/certs/a.example.com.key;\n    server_name a.example.com;"
        ));
        assert!(t.contains("if ($scheme = http) { return 301 https://$host$request_uri; }"));
        // The host without a certificate is plain HTTP only, and never redirected.
        let b = &t[t.find("server_name b.example.org").unwrap() - 40..];
        assert!(!b[..40].contains("ssl"), "{b}");
        assert_eq!(t.matches("return 301").count(), 1);
        // Without TLS listeners, nothing of it.
        let plain = r
            .render("p", &Listeners::http(&[80]), &tls_routes(), &[])
            .unwrap()
            .text;
        assert!(!plain.contains("ssl") && !plain.contains("301"), "{plain}");
    }

    #[test]
    fn haproxy_terminates_tls_for_known_names_only() {
        let r = Renderer::new(ProxyEngine::Haproxy, None).unwrap();
        let listeners = Listeners {
            plain: vec![80],
            tls: vec![443, 8443],
        };
        let t = r.render("p", &listeners, &tls_routes(), &[]).unwrap().text;
        assert!(t.contains(
            "bind :443 ssl strict-sni crt /etc/docker-link-proxy/certs/a.example.com.crt\n  bind :8443 ssl"
        ), "{t}");
        assert!(t.contains(
            "http-request redirect scheme https code 301 if !{ ssl_fc } { var(txn.host) -m str a.example.com }"
        ));
        assert!(t.contains("http-request set-header X-Forwarded-Proto https if { ssl_fc }"));
        // No certificate used: no TLS bind (haproxy refuses one without a certificate).
        let none = r
            .render("p", &listeners, &tls_routes()[1..], &[])
            .unwrap()
            .text;
        assert!(!none.contains("ssl strict-sni"), "{none}");
    }

    #[test]
    fn streams_render_for_each_engine() {
        let settings = Settings {
            stream_ports: ["5432", "53/udp"]
                .iter()
                .filter_map(|s| crate::proxy::model::StreamPort::parse(s))
                .collect(),
            ..Default::default()
        };
        let table = build(
            &[
                candidate(
                    "db",
                    1,
                    &[
                        ("proxy.aliases", "db"),
                        ("proxy.db.scheme", "tcp"),
                        ("proxy.db.port", "5432"),
                    ],
                ),
                candidate(
                    "dns",
                    2,
                    &[
                        ("proxy.aliases", "dns"),
                        ("proxy.dns.scheme", "udp"),
                        ("proxy.dns.port", "53"),
                    ],
                ),
            ],
            &settings,
        );
        assert_eq!(table.streams.len(), 2, "{:?}", table.decisions);
        let http = Listeners::http(&[80]);
        let n = Renderer::new(ProxyEngine::Nginx, None)
            .unwrap()
            .render("p", &http, &[], &table.streams)
            .unwrap()
            .text;
        assert!(
            n.contains("include /etc/nginx/modules-enabled/*.conf;"),
            "{n}"
        );
        assert!(n.contains("stream {\n  upstream dl_stream_udp_53 {\n    server 10.0.0.2:53;\n  }\n  server {\n    listen 53 udp;\n    proxy_pass dl_stream_udp_53;"), "{n}");
        assert!(n.contains("listen 5432;\n    proxy_pass dl_stream_tcp_5432;"));
        // A tcp client's half-close keeps the session (the answer still comes); udp has none.
        assert_eq!(n.matches("proxy_half_close on;").count(), 1, "{n}");
        let h = Renderer::new(ProxyEngine::Haproxy, None)
            .unwrap()
            .render("p", &http, &[], &table.streams)
            .unwrap()
            .text;
        assert!(h.contains("defaults\n  mode tcp"), "{h}");
        assert!(h.contains("bind :5432\n  default_backend dl_stream_tcp_5432"));
        assert!(h.contains("server db 10.0.0.1:5432"));
        // haproxy forwards no udp.
        assert!(!h.contains("udp"), "{h}");
        // No streams, no stream module.
        let plain = Renderer::new(ProxyEngine::Nginx, None)
            .unwrap()
            .render("p", &http, &[], &[])
            .unwrap()
            .text;
        assert!(
            !plain.contains("stream {") && !plain.contains("modules-enabled"),
            "{plain}"
        );
    }

    #[test]
    fn h2c_needs_haproxy() {
        let rs = routes(&[candidate("g", 1, &[("proxy.g.scheme", "h2c")])]);
        assert!(Renderer::new(ProxyEngine::Nginx, None)
            .unwrap()
            .render("p", &Listeners::http(&[]), &rs, &[])
            .is_err());
        let out = Renderer::new(ProxyEngine::Haproxy, None)
            .unwrap()
            .render("p", &Listeners::http(&[]), &rs, &[])
            .unwrap();
        assert!(out.text.contains("proto h2"));
    }
}

/// The injection corpus: every hostile value in every label a route reads. None may change
/// the configuration's structure, and the other containers' routes stay as they were.
#[cfg(test)]
pub(crate) mod corpus {
    /// Values that broke (or would break) template-based proxies.
    pub(crate) fn values() -> Vec<String> {
        let mut v: Vec<String> = [
            "a.com; } server { listen 80; location / { proxy_pass http://evil; } } #",
            "x;",
            "}",
            "{",
            "a\nb",
            "a\r\nlisten 81;",
            "# comment",
            "\"quoted\"",
            "'single'",
            "../../etc/passwd",
            "/../secret",
            "a\0b",
            "exаmple.com",
            "ｅxample.com",
            "$host",
            "${jndi:x}",
            "/$request_uri",
            "80 backup",
            "\\",
            "`id`",
            "%[req.hdr(host)]",
            " ",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push("a".repeat(10_000));
        v.push(format!("/{}", "b".repeat(10_000)));
        v
    }

    /// The label keys a value is put into.
    pub(crate) const KEYS: &[&str] = &[
        "proxy.aliases",
        "proxy.web.host",
        "proxy.web.port",
        "proxy.web.path",
        "proxy.web.scheme",
        "proxy.web.response_header_timeout",
        "proxy.web.healthcheck.path",
        "proxy.web.load_balance.mode",
        "proxy.network",
        "interlock.hostname",
        "interlock.domain",
        "interlock.context_root",
        "interlock.alias_domain",
        "interlock.backend_option",
    ];
}

#[cfg(test)]
mod injection {
    use super::super::model::{build, tests::candidate, Settings};
    use super::*;

    fn structure(text: &str) -> usize {
        text.chars().filter(|c| "{};#\"'\n$".contains(*c)).count()
    }

    #[test]
    fn no_value_changes_the_structure() {
        let good = candidate("good", 1, &[("proxy.aliases", "good.example.com")]);
        let settings = Settings {
            allow_raw: true,
            ..Default::default()
        };
        for engine in [ProxyEngine::Nginx, ProxyEngine::Haproxy] {
            let r = Renderer::new(engine, None).unwrap();
            let base = r
                .render(
                    "p",
                    &Listeners::http(&[80]),
                    &build(std::slice::from_ref(&good), &settings).routes,
                    &[],
                )
                .unwrap();
            let base_lines: Vec<&str> = base.text.lines().filter(|l| l.contains("good")).collect();
            for key in corpus::KEYS {
                for value in corpus::values() {
                    let mut hostile = candidate("web", 2, &[]);
                    hostile.labels.insert((*key).to_string(), value.clone());
                    let table = build(&[good.clone(), hostile], &settings);
                    let out = r
                        .render("p", &Listeners::http(&[80]), &table.routes, &[])
                        .unwrap();
                    // The good route renders exactly as it did alone.
                    let lines: Vec<&str> =
                        out.text.lines().filter(|l| l.contains("good")).collect();
                    assert_eq!(lines, base_lines, "{engine:?} {key}={value:?}");
                    // The hostile container adds at most its own route: the structure grows by
                    // exactly the structure of a benign route, never by anything else.
                    let routes_added = table.routes.len() - 1;
                    let benign = {
                        let table = build(&[good.clone(), candidate("web", 2, &[])], &settings);
                        structure(
                            &r.render("p", &Listeners::http(&[80]), &table.routes, &[])
                                .unwrap()
                                .text,
                        ) - structure(&base.text)
                    };
                    let grew = structure(&out.text) - structure(&base.text);
                    let raw = usize::from(*key == "interlock.backend_option" && routes_added > 0);
                    assert!(
                        grew == benign * routes_added
                            + raw * 2 * usize::from(engine == ProxyEngine::Nginx)
                            || (routes_added == 0 && grew == 0),
                        "{engine:?} {key}={value:?}: structure grew by {grew}\n{}",
                        out.text
                    );
                    if value.len() > 1 && value.chars().any(|c| "{};#\"'\n$\0\\`".contains(c)) {
                        assert_eq!(
                            out.text.matches(value.as_str()).count(),
                            base.text.matches(value.as_str()).count(),
                            "{key}={value:?} came out raw"
                        );
                    }
                }
            }
        }
    }
}
