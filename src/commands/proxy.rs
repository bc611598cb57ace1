//! `docker proxy`: a real nginx (or haproxy) container kept configured from container labels.
//! `up` creates the proxy container (its options in its labels), `down` removes it; `routes`,
//! `render`, `diff`, `lint` and `explain` show what the labels give; `reload` applies now
//! (what the watcher does on events); `status` reads what the last apply did from the proxy
//! itself; `logs` is `docker logs` of the proxy. The decisions are `crate::proxy`'s.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use crate::commands::Usage;
use crate::docker::engine::{remove_if_present, ContainerSpec, Engine, Labels, State};
use crate::output::{self, Column, Format, Record};
use crate::proxy::apply::{self, label, Proxy, ProxyState};
use crate::proxy::labels::Severity;
use crate::proxy::model::{self, Backend, StreamPort};
use crate::proxy::render::{Listeners, ProxyEngine, Renderer};
use crate::proxy::value::Host;
use crate::Ctx;

/// The proxy's name when none is given.
const DEFAULT_NAME: &str = "docker-link-proxy";

/// Keep a real nginx or haproxy configured from container labels (`proxy.*`, `interlock.*`),
/// reloading as containers come and go.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Keep a real nginx (or haproxy) proxy configured from container labels.\n\n\
    Routes come from GoDoxy-style `proxy.*` labels and Interlock's `interlock.*` labels; the \
    configuration is rendered from typed values, validated by the engine itself inside the \
    proxy container, swapped atomically and reloaded gracefully. The proxy container never \
    holds the daemon's socket."
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Create (or converge) the proxy container and apply the routes.
    Up(UpArgs),
    /// Remove the proxy container.
    Down(NameArgs),
    /// Show the proxies, their routes, quarantined routes and reloads.
    Status(StatusArgs),
    /// List the routes the labels give.
    Routes(RoutesArgs),
    /// Render the configuration as it would be applied.
    Render(RenderArgs),
    /// Show what the next apply would change.
    Diff(NameArgs),
    /// Check every proxy label of the containers (all, or the ones named).
    Lint(LintArgs),
    /// Say which container, network, address and label answer HOST[/PATH].
    Explain(ExplainArgs),
    /// Apply the routes now: validate, swap, reload, confirm.
    Reload(NameArgs),
    /// Show the proxy's logs (`docker logs` of its container).
    Logs(LogsArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The data plane.
    #[arg(long, default_value = "nginx", value_parser = ["nginx", "haproxy"])]
    pub engine: String,
    /// The image (default: the official `nginx` or `haproxy` image); any image with the
    /// engine's binary, `sh` and `mv` works.
    #[arg(long)]
    pub image: Option<String>,
    /// Publish a port, `[IP:]HOST:CONTAINER`; the proxy listens on every CONTAINER port
    /// (default 80).
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CONTAINER")]
    pub publish: Vec<String>,
    /// Terminate TLS with the certificates in DIR, `HOST.crt` with `HOST.key` (a file named
    /// after a parent domain, `example.com.crt`, serves its subdomains and `*.example.com`):
    /// a directory on the daemon's host, or a volume, mounted read-only. After renewing a
    /// certificate, `docker proxy reload`.
    #[arg(long, value_name = "DIR|VOLUME")]
    pub certs: Option<String>,
    /// A container port that terminates TLS (default 443 with --certs); publish it with -p.
    #[arg(long = "tls-port", value_name = "PORT", requires = "certs")]
    pub tls_ports: Vec<u16>,
    /// Forward a port as a stream (tcp, or udp with nginx) to the containers that claim it
    /// (`proxy.<alias>.scheme=tcp|udp`, `proxy.<alias>.port=PORT:TARGET`); publish it with
    /// -p too.
    #[arg(long = "stream", value_name = "PORT[/udp]")]
    pub streams: Vec<String>,
    /// Connect the proxy to this network at start (it also joins its backends' networks).
    #[arg(long = "network", value_name = "NET")]
    pub networks: Vec<String>,
    /// Route `alias.<domain>` for each domain (an FQDN alias is used as is).
    #[arg(long = "domain", value_name = "DOMAIN")]
    pub domains: Vec<String>,
    /// Route only containers with `proxy.*` or `interlock.*` labels.
    #[arg(long)]
    pub explicit: bool,
    /// Route only containers carrying this label (and value): a proxy scoped to a project
    /// (`com.docker.compose.project=shop`); repeat to require several.
    #[arg(long = "only-label", value_name = "KEY[=VALUE]")]
    pub only_label: Vec<String>,
    /// Replace the embedded template with `nginx.conf.tera` or `haproxy.cfg.tera` from DIR.
    #[arg(long, value_name = "DIR")]
    pub template_dir: Option<PathBuf>,
    /// Accept Interlock's raw `interlock.backend_option` directives.
    #[arg(long)]
    pub allow_raw_directives: bool,
    /// The proxy's (and its container's) name.
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
}

#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// Which proxy (default: the only one).
    #[arg(long, value_name = "PROXY")]
    pub name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub which: NameArgs,
    /// table, json, or a Go template.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct RoutesArgs {
    #[command(flatten)]
    pub which: NameArgs,
    /// table, json, or a Go template (`{{.Host}} {{.Address}}`).
    #[arg(long, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub which: NameArgs,
    /// Print the configuration (default: write it to ./<proxy>.<conf|cfg>).
    #[arg(long)]
    pub stdout: bool,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub which: NameArgs,
    /// Containers to check (names or id prefixes; default: all).
    pub containers: Vec<String>,
    /// table, json, or a Go template.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub which: NameArgs,
    /// `host` or `host/path`.
    #[arg(value_name = "HOST[/PATH]")]
    pub target: String,
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub which: NameArgs,
    /// Follow the log.
    #[arg(short, long)]
    pub follow: bool,
    /// Lines from the end.
    #[arg(long)]
    pub tail: Option<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Up(a) => up(a, ctx),
        Sub::Down(a) => down(a, ctx),
        Sub::Status(a) => status(a, ctx),
        Sub::Routes(a) => routes(a, ctx),
        Sub::Render(a) => render(a, ctx),
        Sub::Diff(a) => diff(a, ctx),
        Sub::Lint(a) => lint(a, ctx),
        Sub::Explain(a) => explain(a, ctx),
        Sub::Reload(a) => reload(a, ctx),
        Sub::Logs(a) => logs(a, ctx),
    }
}

/// The proxy a command is about: the one named, else the only one.
fn select(proxies: &[Proxy], name: Option<&str>) -> anyhow::Result<Proxy> {
    match name {
        Some(n) => proxies
            .iter()
            .find(|p| p.name == n)
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!("no proxy {n} on this daemon (`docker proxy up --name {n}`)")
            }),
        None => match proxies {
            [p] => Ok(p.clone()),
            [] => Err(anyhow::anyhow!(
                "no proxy on this daemon (`docker proxy up`)"
            )),
            many => Err(Usage(format!(
                "several proxies on this daemon ({}): choose one with --name",
                many.iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into()),
        },
    }
}

/// The HTTP ports inside the container: the CONTAINER part of each `-p` that is not a
/// `--stream` port (every stream port must be published).
fn listen_ports(publish: &[String], streams: &BTreeSet<StreamPort>) -> Result<Vec<u16>, Usage> {
    let mut ports = BTreeSet::new();
    let mut published = BTreeSet::new();
    for p in publish {
        let (spec, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
        let container = spec.rsplit(':').next().unwrap_or_default();
        let bad = |e: String| {
            Usage(format!(
                "invalid -p {p:?}: {e} ([IP:]HOST:CONTAINER[/udp]; udp for --stream ports only)"
            ))
        };
        let port = crate::proxy::value::port(container).map_err(|e| bad(e.to_string()))?;
        let udp = match proto {
            "tcp" => false,
            "udp" => true,
            other => return Err(bad(format!("unknown protocol {other}"))),
        };
        let sp = StreamPort { port, udp };
        published.insert(sp);
        if streams.contains(&sp) {
            continue;
        }
        if udp {
            return Err(bad(format!("{sp} is not a --stream port")));
        }
        ports.insert(port);
    }
    if let Some(sp) = streams.iter().find(|sp| !published.contains(sp)) {
        let udp = if sp.udp { "/udp" } else { "" };
        return Err(Usage(format!(
            "--stream {sp}: publish it (-p {port}:{port}{udp})",
            port = sp.port
        )));
    }
    if ports.is_empty() {
        ports.insert(80);
    }
    Ok(ports.into_iter().collect())
}

fn joined(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The container ports split into plain and TLS ones, and what `--certs` mounts: a host
/// directory made absolute (a relative one is this machine's, as with `docker run -v`), or
/// a volume's name.
fn tls_split(
    ports: &[u16],
    certs: Option<&str>,
    tls_ports: &[u16],
) -> Result<(Listeners, Option<String>), Usage> {
    let Some(certs) = certs else {
        return Ok((Listeners::http(ports), None));
    };
    let tls: Vec<u16> = if tls_ports.is_empty() {
        vec![443]
    } else {
        tls_ports.to_vec()
    };
    if let Some(p) = tls.iter().find(|p| !ports.contains(p)) {
        return Err(Usage(format!(
            "--certs: the proxy listens on no port {p} (publish it: -p 443:{p})"
        )));
    }
    let source = if certs.contains('/') || certs.starts_with('.') {
        let path = std::path::Path::new(certs);
        if !path.is_dir() {
            return Err(Usage(format!("--certs {certs}: not a directory")));
        }
        std::fs::canonicalize(path)
            .map_err(|e| Usage(format!("--certs {certs}: {e}")))?
            .display()
            .to_string()
    } else if crate::proxy::value::network_name(certs) {
        certs.to_string()
    } else {
        return Err(Usage(format!(
            "--certs {certs:?}: a directory (with a `/`) or a volume name"
        )));
    };
    let listeners = Listeners {
        plain: ports.iter().copied().filter(|p| !tls.contains(p)).collect(),
        tls,
    };
    Ok((listeners, Some(source)))
}

/// The replacement template of `--template-dir`, checked (parsed, escaping on).
fn custom_template(dir: &std::path::Path, engine: ProxyEngine) -> anyhow::Result<String> {
    let names = [
        format!("{}.tera", engine.template()),
        engine.template().to_string(),
    ];
    for n in &names {
        let path = dir.join(n);
        if path.is_file() {
            let src = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the template {}", path.display()))?;
            Renderer::new(engine, Some(&src))
                .map_err(|e| Usage(format!("{}: {e}", path.display())))?;
            return Ok(src);
        }
    }
    Err(Usage(format!(
        "--template-dir {}: no {} there",
        dir.display(),
        names.join(" or ")
    ))
    .into())
}

fn up(args: UpArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let engine = ProxyEngine::parse(&args.engine)
        .ok_or_else(|| Usage(format!("unknown --engine {}", args.engine)))?;
    if !crate::proxy::value::network_name(&args.name) {
        return Err(Usage(format!("invalid --name {:?}: a container name", args.name)).into());
    }
    let mut domains = Vec::new();
    for d in &args.domains {
        domains.push(
            Host::parse(d)
                .map_err(|e| Usage(format!("invalid --domain {d:?}: {e}")))?
                .to_string(),
        );
    }
    for l in &args.only_label {
        let key = l.split_once('=').map_or(l.as_str(), |(k, _)| k);
        if key.is_empty() || l.contains(',') {
            return Err(Usage(format!(
                "invalid --only-label {l:?}: KEY or KEY=VALUE, no comma"
            ))
            .into());
        }
    }
    let mut streams = BTreeSet::new();
    for st in &args.streams {
        streams.insert(StreamPort::parse(st).ok_or_else(|| {
            Usage(format!(
                "invalid --stream {st:?}: PORT, PORT/tcp or PORT/udp"
            ))
        })?);
    }
    let ports = listen_ports(&args.publish, &streams)?;
    let (listen, certs) = tls_split(&ports, args.certs.as_deref(), &args.tls_ports)?;
    let template = match &args.template_dir {
        Some(dir) => Some(custom_template(dir, engine)?),
        None => None,
    };
    let image = args
        .image
        .clone()
        .unwrap_or_else(|| engine.as_str().to_string());
    let mut labels = Labels::from([
        (
            crate::labels::ROLE.to_string(),
            crate::labels::PROXY_ROLE.to_string(),
        ),
        (
            crate::labels::NAMESPACE.to_string(),
            ctx.config.registry.clone(),
        ),
        (label::NAME.to_string(), args.name.clone()),
        (label::ENGINE.to_string(), engine.as_str().to_string()),
        (label::DOMAINS.to_string(), domains.join(",")),
        (label::EXPLICIT.to_string(), args.explicit.to_string()),
        (label::ONLY.to_string(), args.only_label.join(",")),
        (
            label::ALLOW_RAW.to_string(),
            args.allow_raw_directives.to_string(),
        ),
        (label::LISTEN.to_string(), joined(&listen.plain)),
        (label::TLS_LISTEN.to_string(), joined(&listen.tls)),
        (
            label::STREAMS.to_string(),
            streams
                .iter()
                .map(StreamPort::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]);
    if let Some(c) = &certs {
        labels.insert(label::CERTS.into(), c.clone());
    }
    if let Some(t) = &template {
        labels.insert(label::TEMPLATE.into(), hex(&Sha256::digest(t.as_bytes())));
    }
    let spec_digest = {
        let mut d = Sha256::new();
        d.update(serde_json::to_vec(&labels).unwrap_or_default());
        d.update(image.as_bytes());
        // A new template (a new version of the plugin) makes a new container: its first
        // configuration comes from the template too.
        d.update(
            Renderer::new(engine, template.as_deref())?
                .render(&args.name, &listen, &[], &[])?
                .text
                .as_bytes(),
        );
        for p in &args.publish {
            d.update(b"\0p");
            d.update(p.as_bytes());
        }
        for n in &args.networks {
            d.update(b"\0n");
            d.update(n.as_bytes());
        }
        hex(&d.finalize())
    };
    labels.insert(label::SPEC.into(), spec_digest.clone());
    let name = args.name.clone();
    let said = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let (_, proxies) = apply::observe(&daemon).await?;
        let mut said = Vec::new();
        let existing = proxies.iter().find(|p| p.name == name);
        let id = match existing {
            Some(p) if p.labels.get(label::SPEC) == Some(&spec_digest) => {
                if p.state != State::Running {
                    daemon
                        .start_container(&p.id)
                        .await
                        .with_context(|| format!("starting the proxy {name}"))?;
                    said.push(format!("started the proxy {name} again"));
                }
                p.id.clone()
            }
            other => {
                if let Some(p) = other {
                    remove_if_present(&daemon, &p.id, true)
                        .await
                        .with_context(|| {
                            format!("removing the proxy {name} to change its options")
                        })?;
                    said.push(format!("replaced the proxy {name} (its options changed)"));
                } else {
                    said.push(format!(
                        "created the proxy {name} ({}, image {image})",
                        engine.as_str()
                    ));
                }
                let spec = ContainerSpec {
                    name: name.clone(),
                    image: image.clone(),
                    cmd: Proxy::command(engine),
                    labels: labels.clone(),
                    keep_running: true,
                    publish: args.publish.clone(),
                    binds: certs
                        .iter()
                        .map(|c| format!("{c}:{}:ro", apply::CERTS_DIR))
                        .collect(),
                    ..Default::default()
                };
                let id = daemon.create_container(&spec).await.map_err(|e| {
                    let hint = if e.is_not_found() {
                        format!(" (the image {image} is not on the daemon: `docker pull {image}`)")
                    } else if e.is_conflict() {
                        " (a container that is not a proxy has this name: choose another --name)"
                            .to_string()
                    } else {
                        String::new()
                    };
                    anyhow::Error::new(e).context(format!("creating the proxy {name}{hint}"))
                })?;
                // A configuration without routes first, so the engine starts; the routes
                // follow through the same validated path as every later change.
                let bootstrap =
                    Renderer::new(engine, template.as_deref())?.render(&name, &listen, &[], &[])?;
                let config = format!("{}/{}", apply::DIR, engine.template());
                let mut files: Vec<(&str, &[u8])> =
                    vec![(config.as_str(), bootstrap.text.as_bytes())];
                if let Some(t) = &template {
                    files.push((apply::TEMPLATE_FILE, t.as_bytes()));
                }
                apply::write_files(&daemon, &id, &files)
                    .await
                    .with_context(|| format!("writing the first configuration of {name}"))?;
                for net in &args.networks {
                    daemon
                        .connect(net, &id, &Default::default())
                        .await
                        .with_context(|| format!("connecting the proxy {name} to {net}"))?;
                }
                daemon
                    .start_container(&id)
                    .await
                    .with_context(|| format!("starting the proxy {name}"))?;
                id
            }
        };
        let outcome = apply_now(&daemon, &name, "docker proxy up").await?;
        said.push(outcome);
        let _ = id;
        // The watcher keeps the routes in step with the containers from now on.
        crate::commands::link::watcher::start_if_needed(&daemon, ctx).await;
        anyhow::Ok(said)
    })?;
    for s in said {
        output::info(&s);
    }
    Ok(ExitCode::SUCCESS)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One apply of proxy `name`, as the watcher does it; says what it did.
async fn apply_now<E: Engine>(daemon: &E, name: &str, by: &str) -> anyhow::Result<String> {
    // The proxy must be running for exec: a moment after its start it is.
    let mut waited = 0;
    let (listing, proxy) = loop {
        let (listing, proxies) = apply::observe(daemon).await?;
        let proxy = select(&proxies, Some(name))?;
        if proxy.state == State::Running || waited >= 50 {
            break (listing, proxy);
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let renderer = apply::renderer(daemon, &proxy).await?;
    let table = apply::table(&proxy, &listing);
    let mut state = apply::read_state(daemon, &proxy).await;
    let result = apply::apply(
        daemon,
        &proxy,
        &renderer,
        &table,
        &mut state,
        apply::With::default(),
    )
    .await;
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            state.error = Some(e.to_string());
            state.by = by.to_string();
            let _ = apply::write_state(daemon, &proxy, &state).await;
            return Err(e.into());
        }
    };
    let (left, failed) = apply::leave_unused(daemon, &proxy, &table, &listing, &mut state).await;
    state.by = by.to_string();
    apply::write_state(daemon, &proxy, &state).await?;
    for f in &failed {
        output::warn(f);
    }
    for w in &outcome.warnings {
        output::warn(w);
    }
    for q in &outcome.quarantined {
        output::warn(&format!("route {} quarantined: {}", q.route, q.reason));
    }
    let mut msg = format!(
        "proxy {name}: {} routes{}",
        outcome.routes,
        if outcome.quarantined.is_empty() {
            String::new()
        } else {
            format!(", {} quarantined", outcome.quarantined.len())
        }
    );
    if !outcome.joined.is_empty() {
        msg.push_str(&format!("; joined {}", outcome.joined.join(", ")));
    }
    if !left.is_empty() {
        msg.push_str(&format!("; left {}", left.join(", ")));
    }
    msg.push_str(&if outcome.reloaded {
        format!(
            "; reloaded in {} ms ({})",
            outcome.took.as_millis(),
            match outcome.confirmed {
                Some(true) => format!("confirmed: config {}", outcome.hash),
                Some(false) => "NOT confirmed: the proxy did not serve the new hash".into(),
                None => "unconfirmed: the image has neither wget nor curl".into(),
            }
        )
    } else {
        format!("; unchanged (config {}), no reload", outcome.hash)
    });
    Ok(msg)
}

fn down(args: NameArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let removed = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let (_, proxies) = apply::observe(&daemon).await?;
        let proxy = select(&proxies, args.name.as_deref())?;
        remove_if_present(&daemon, &proxy.id, true)
            .await
            .with_context(|| format!("removing the proxy {}", proxy.name))?;
        anyhow::Ok(proxy.name)
    })?;
    output::info(&format!("removed the proxy {removed}"));
    Ok(ExitCode::SUCCESS)
}

/// One row of `status`.
#[derive(Debug, serde::Serialize)]
struct StatusRow {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Engine")]
    engine: String,
    #[serde(rename = "State")]
    state: String,
    #[serde(rename = "Routes")]
    routes: usize,
    #[serde(rename = "Quarantined")]
    quarantined: usize,
    #[serde(rename = "LastReload")]
    last_reload: String,
    #[serde(rename = "ReloadMs")]
    reload_ms: u64,
    #[serde(rename = "EventToLive")]
    event_to_live: String,
    #[serde(rename = "Detail")]
    detail: ProxyState,
}

impl Record for StatusRow {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            Column::new("Name", "NAME"),
            Column::new("Engine", "ENGINE"),
            Column::new("State", "STATE"),
            Column::new("Routes", "ROUTES"),
            Column::new("Quarantined", "QUARANTINED"),
            Column::new("LastReload", "LAST RELOAD"),
            Column::new("ReloadMs", "RELOAD MS"),
            Column::new("EventToLive", "EVENT TO LIVE P50/P99"),
        ];
        C
    }
}

fn status(args: StatusArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let rows = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let (_, proxies) = apply::observe(&daemon).await?;
        let chosen: Vec<Proxy> = match &args.which.name {
            Some(n) => vec![select(&proxies, Some(n))?],
            None => proxies,
        };
        let now = crate::docker::clock::now();
        let mut rows = Vec::new();
        for p in chosen {
            let s = apply::read_state(&daemon, &p).await;
            let q = |x| s.quantile(x).map_or("-".to_string(), |v| format!("{v} ms"));
            rows.push(StatusRow {
                name: p.name.clone(),
                engine: p.engine.as_str().to_string(),
                state: p.state.as_str().to_string(),
                routes: s.routes,
                quarantined: s.quarantined.len(),
                last_reload: if s.reloaded_at == 0 {
                    "never".into()
                } else {
                    format!(
                        "{}s ago by {}{}",
                        now - s.reloaded_at,
                        s.by,
                        if s.confirmed { "" } else { " (unconfirmed)" }
                    )
                },
                reload_ms: s.reload_ms,
                event_to_live: format!("{} / {}", q(0.5), q(0.99)),
                detail: s,
            });
        }
        anyhow::Ok(rows)
    })?;
    if rows.is_empty() {
        output::info("no proxy on this daemon (`docker proxy up`)");
        return Ok(ExitCode::from(1));
    }
    output::print(&args.format, &rows)?;
    if args.format.is_table() {
        for r in &rows {
            for q in &r.detail.quarantined {
                output::warn(&format!(
                    "{}: route {} quarantined: {}",
                    r.name, q.route, q.reason
                ));
            }
            if let Some(e) = &r.detail.error {
                output::warn(&format!("{}: the last apply failed: {e}", r.name));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One row of `routes`: a route's server.
#[derive(Debug, serde::Serialize)]
struct RouteRow {
    #[serde(rename = "Host")]
    host: String,
    #[serde(rename = "Path")]
    path: String,
    #[serde(rename = "Container")]
    container: String,
    #[serde(rename = "Network")]
    network: String,
    #[serde(rename = "Address")]
    address: String,
    #[serde(rename = "Source")]
    source: String,
    /// The certificate it is served with over TLS (`, redirect`: plain HTTP is redirected).
    #[serde(rename = "Tls")]
    tls: String,
    #[serde(rename = "Status")]
    status: String,
}

impl Record for RouteRow {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            Column::new("Host", "HOST"),
            Column::new("Path", "PATH"),
            Column::new("Container", "CONTAINER"),
            Column::new("Network", "NETWORK"),
            Column::new("Address", "ADDRESS:PORT"),
            Column::new("Source", "SOURCE LABEL"),
            Column::new("Tls", "TLS"),
            Column::new("Status", "STATUS"),
        ];
        C
    }
}

/// The proxy, every container, its route table and its state.
async fn snapshot(
    ctx: &Ctx,
    name: Option<&str>,
) -> anyhow::Result<(
    crate::docker::Daemon,
    Proxy,
    Vec<crate::docker::engine::ContainerSummary>,
    model::RouteTable,
)> {
    let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
    let (listing, proxies) = apply::observe(&daemon).await?;
    let proxy = select(&proxies, name)?;
    let table = apply::table(&proxy, &listing);
    Ok((daemon, proxy, listing, table))
}

/// A server's network and `address:port`, as `routes` shows them.
fn where_is(s: &model::Server) -> (String, String) {
    let Backend::Container {
        network,
        address,
        port,
    } = &s.backend;
    (network.clone(), format!("{address}:{port}"))
}

fn routes(args: RoutesArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let rows = ctx.block_on(async {
        let (daemon, proxy, _, table) = snapshot(ctx, args.which.name.as_deref()).await?;
        let state = apply::read_state(&daemon, &proxy).await;
        let mut rows = Vec::new();
        for r in &table.routes {
            let quarantined = state.quarantined.iter().find(|q| q.route == r.key());
            for s in &r.servers {
                let (network, address) = where_is(s);
                rows.push(RouteRow {
                    host: r.host.to_string(),
                    path: r.path.to_string(),
                    container: s.container.clone(),
                    network,
                    address,
                    source: if r.source.is_empty() {
                        "(exposed port)".into()
                    } else {
                        r.source.clone()
                    },
                    tls: match &r.tls {
                        Some(c) if r.https_redirect => format!("{}, redirect", c.name),
                        Some(c) => c.name.clone(),
                        None => String::new(),
                    },
                    status: match (quarantined, proxy.engine.unsupported(r), s.down) {
                        (Some(q), _, _) => format!("quarantined: {}", q.reason),
                        (None, Some(why), _) => format!("not served: {why}"),
                        (None, None, true) => "down (unhealthy)".into(),
                        _ => "ok".into(),
                    },
                });
            }
        }
        for st in &table.streams {
            for s in &st.servers {
                let (network, address) = where_is(s);
                rows.push(RouteRow {
                    // A stream has a port, not a host.
                    host: st.listen.to_string(),
                    path: String::new(),
                    container: s.container.clone(),
                    network,
                    address,
                    source: st.source.clone(),
                    tls: String::new(),
                    status: match (proxy.engine.unsupported_stream(st), s.down) {
                        (Some(why), _) => format!("not served: {why}"),
                        (None, true) => "down (unhealthy)".into(),
                        _ => "ok".into(),
                    },
                });
            }
        }
        anyhow::Ok(rows)
    })?;
    output::print(&args.format, &rows)?;
    Ok(ExitCode::SUCCESS)
}

fn render(args: RenderArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let (proxy, rendered) = ctx.block_on(async {
        let (daemon, proxy, _, table) = snapshot(ctx, args.which.name.as_deref()).await?;
        let renderer = apply::renderer(&daemon, &proxy).await?;
        let routes: Vec<model::Route> = table
            .routes
            .iter()
            .filter(|r| proxy.engine.unsupported(r).is_none())
            .cloned()
            .collect();
        let rendered = renderer.render(&proxy.name, &proxy.listeners(), &routes, &table.streams)?;
        anyhow::Ok((proxy, rendered))
    })?;
    if args.stdout {
        output::write_stdout(rendered.text.as_bytes())?;
    } else {
        let ext = match proxy.engine {
            ProxyEngine::Nginx => "conf",
            ProxyEngine::Haproxy => "cfg",
        };
        let path = PathBuf::from(format!("{}.{ext}", proxy.name));
        std::fs::write(&path, &rendered.text)
            .with_context(|| format!("writing {}", path.display()))?;
        output::info(&format!(
            "wrote {} ({} routes, config {}; the engine validates it when it is applied)",
            path.display(),
            rendered.routes.len(),
            rendered.hash
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// A line diff (common prefix and suffix trimmed, the middle by longest common subsequence;
/// a very large middle is shown as replaced whole).
pub(crate) fn line_diff(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut out = Vec::new();
    if ma.is_empty() && mb.is_empty() {
        return out;
    }
    out.push(format!(
        "@@ -{},{} +{},{} @@",
        prefix + 1,
        ma.len(),
        prefix + 1,
        mb.len()
    ));
    if ma.len() * mb.len() > 4_000_000 {
        out.extend(ma.iter().map(|l| format!("-{l}")));
        out.extend(mb.iter().map(|l| format!("+{l}")));
        return out;
    }
    let (n, m) = (ma.len(), mb.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if ma[i] == mb[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && ma[i] == mb[j] {
            out.push(format!(" {}", ma[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("-{}", ma[i]));
            i += 1;
        } else {
            out.push(format!("+{}", mb[j]));
            j += 1;
        }
    }
    out
}

fn diff(args: NameArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let (live, candidate) = ctx.block_on(async {
        let (daemon, proxy, _, table) = snapshot(ctx, args.name.as_deref()).await?;
        let renderer = apply::renderer(&daemon, &proxy).await?;
        let state = apply::read_state(&daemon, &proxy).await;
        // As the next apply would: unsupported and still-quarantined routes left out.
        let routes: Vec<model::Route> = table
            .routes
            .iter()
            .filter(|r| proxy.engine.unsupported(r).is_none())
            .filter(|r| !state.quarantined.iter().any(|q| q.route == r.key()))
            .cloned()
            .collect();
        let candidate =
            renderer.render(&proxy.name, &proxy.listeners(), &routes, &table.streams)?;
        let live = apply::read_file(&daemon, &proxy.id, &proxy.config_path())
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        anyhow::Ok((live, candidate.text))
    })?;
    let lines = line_diff(&live, &candidate);
    if lines.is_empty() {
        output::info("no change: the next apply would not reload");
        return Ok(ExitCode::SUCCESS);
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    output::write_stdout(text.as_bytes())?;
    // As diff(1): 1 when the files differ.
    Ok(ExitCode::from(1))
}

/// One row of `lint`.
#[derive(Debug, serde::Serialize)]
struct LintRow {
    #[serde(rename = "Container")]
    container: String,
    #[serde(rename = "Level")]
    level: String,
    #[serde(rename = "Label")]
    label: String,
    #[serde(rename = "Message")]
    message: String,
}

impl Record for LintRow {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            Column::new("Container", "CONTAINER"),
            Column::new("Level", "LEVEL"),
            Column::new("Label", "LABEL"),
            Column::new("Message", "MESSAGE"),
        ];
        C
    }
}

fn lint(args: LintArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let rows = ctx.block_on(async {
        let (_, proxy, _, table) = snapshot(ctx, args.which.name.as_deref()).await?;
        let wanted = |name: &str, id: &str| {
            args.containers.is_empty()
                || args
                    .containers
                    .iter()
                    .any(|c| c == name || (c.len() >= 3 && id.starts_with(c.as_str())))
        };
        let mut rows = Vec::new();
        for d in &table.decisions {
            if !wanted(&d.container, &d.id) {
                continue;
            }
            for f in &d.findings {
                rows.push(LintRow {
                    container: d.container.clone(),
                    level: f.severity.as_str().to_string(),
                    label: f.label.clone(),
                    message: f.message.clone(),
                });
            }
            rows.push(LintRow {
                container: d.container.clone(),
                level: Severity::Info.as_str().to_string(),
                label: String::new(),
                message: if d.routed {
                    d.reason.clone()
                } else {
                    format!("not routed: {}", d.reason)
                },
            });
        }
        for r in &table.routes {
            if let Some(why) = proxy.engine.unsupported(r) {
                rows.push(LintRow {
                    container: r.service.clone(),
                    level: Severity::Error.as_str().to_string(),
                    label: r.source.clone(),
                    message: format!("route {}: {why}", r.key()),
                });
            }
        }
        for name in &args.containers {
            if !table.decisions.iter().any(|d| {
                d.container == *name || (name.len() >= 3 && d.id.starts_with(name.as_str()))
            }) {
                return Err(anyhow::anyhow!("no such container: {name}"));
            }
        }
        anyhow::Ok(rows)
    })?;
    output::print(&args.format, &rows)?;
    Ok(if rows.iter().any(|r| r.level == "error") {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn explain(args: ExplainArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let (host, path) = match args.target.find('/') {
        Some(i) => (&args.target[..i], &args.target[i..]),
        None => (args.target.as_str(), "/"),
    };
    let (e, state) = ctx.block_on(async {
        let (daemon, proxy, _, table) = snapshot(ctx, args.which.name.as_deref()).await?;
        let state = apply::read_state(&daemon, &proxy).await;
        anyhow::Ok((model::explain(&table, host, path), state))
    })?;
    let mut lines = Vec::new();
    match &e.route {
        Some(r) => {
            lines.push(format!(
                "{host}{path} → route {} of {} ({})",
                r.key(),
                r.service,
                if r.source.is_empty() {
                    "routed by default: an exposed port".to_string()
                } else {
                    format!("label {}", r.source)
                }
            ));
            if let Some(q) = state.quarantined.iter().find(|q| q.route == r.key()) {
                lines.push(format!("  quarantined, not live: {}", q.reason));
            }
            for s in &r.servers {
                let Backend::Container {
                    network,
                    address,
                    port,
                } = &s.backend;
                lines.push(format!(
                    "  {} {} on network {network} at {address}:{port}{}",
                    r.scheme.as_str(),
                    s.container,
                    if s.down { " (unhealthy: down)" } else { "" }
                ));
            }
        }
        None => lines.push(format!(
            "{host}{path} → no route (the default server answers 404)"
        )),
    }
    for d in &e.others {
        lines.push(format!("  {}: {}", d.container, d.reason));
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    output::write_stdout(text.as_bytes())?;
    Ok(if e.route.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn reload(args: NameArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let said = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let (_, proxies) = apply::observe(&daemon).await?;
        let proxy = select(&proxies, args.name.as_deref())?;
        apply_now(&daemon, &proxy.name, "docker proxy reload").await
    })?;
    output::info(&said);
    Ok(ExitCode::SUCCESS)
}

fn logs(args: LogsArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let container = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let (_, proxies) = apply::observe(&daemon).await?;
        anyhow::Ok(select(&proxies, args.which.name.as_deref())?.id)
    })?;
    let mut cmd = super::link::run::docker_cli(ctx);
    cmd.arg("logs");
    if args.follow {
        cmd.arg("--follow");
    }
    if let Some(t) = &args.tail {
        cmd.args(["--tail", t]);
    }
    cmd.arg(container);
    let status = cmd.status().context("running the docker CLI")?;
    Ok(ExitCode::from(
        status.code().unwrap_or(125).clamp(0, 255) as u8
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_ports_are_split_from_the_plain_ones() {
        let (l, c) = tls_split(&[80, 443], None, &[]).unwrap();
        assert_eq!((l.plain, l.tls, c), (vec![80, 443], vec![], None));
        let (l, c) = tls_split(&[80, 443], Some("certs-volume"), &[]).unwrap();
        assert_eq!((l.plain, l.tls), (vec![80], vec![443]));
        assert_eq!(c.as_deref(), Some("certs-volume"));
        let (l, _) = tls_split(&[80, 8443], Some("v"), &[8443]).unwrap();
        assert_eq!((l.plain, l.tls), (vec![80], vec![8443]));
        // A relative directory is made absolute; a missing one, or a port not listened on,
        // is refused.
        let (_, c) = tls_split(&[443], Some("./src"), &[]).unwrap();
        assert!(c.unwrap().ends_with("/src"));
        assert!(tls_split(&[443], Some("./no-such-dir"), &[]).is_err());
        let e = tls_split(&[80], Some("v"), &[]).unwrap_err();
        assert!(e.0.contains("-p 443:443"), "{}", e.0);
        assert!(tls_split(&[443], Some("a b"), &[]).is_err());
    }

    #[test]
    fn listen_ports_from_publish() {
        let none = BTreeSet::new();
        assert_eq!(listen_ports(&[], &none).unwrap(), [80]);
        assert_eq!(
            listen_ports(
                &["8080:80".into(), "127.0.0.1:8443:443".into(), "81".into()],
                &none
            )
            .unwrap(),
            [80, 81, 443]
        );
        assert!(listen_ports(&["80:http".into()], &none).is_err());
        assert!(listen_ports(&["53:53/udp".into()], &none).is_err());
        // Stream ports are not HTTP ports, and must be published.
        let streams: BTreeSet<StreamPort> = ["5432", "53/udp"]
            .iter()
            .filter_map(|s| StreamPort::parse(s))
            .collect();
        let publish = ["80".to_string(), "5432:5432".into(), "53:53/udp".into()];
        assert_eq!(listen_ports(&publish, &streams).unwrap(), [80]);
        let e = listen_ports(&publish[..2], &streams).unwrap_err();
        assert!(
            e.0.contains("--stream 53/udp: publish it (-p 53:53/udp)"),
            "{}",
            e.0
        );
    }

    #[test]
    fn diffs() {
        assert!(line_diff("a\nb\n", "a\nb\n").is_empty());
        assert_eq!(
            line_diff("a\nb\nc\n", "a\nx\nc\n"),
            ["@@ -2,1 +2,1 @@", "-b", "+x"]
        );
        assert_eq!(line_diff("a\nc\n", "a\nb\nc\n"), ["@@ -2,0 +2,1 @@", "+b"]);
    }
}
