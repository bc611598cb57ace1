//! Putting a route table into a running proxy, through the daemon only (the proxy container
//! never holds the daemon's socket): the proxy container and its options as labels
//! ([`Proxy`]), the facts of the containers from one listing ([`candidates`]), and [`apply`]:
//! render, skip when the bytes are those already live, join the backends' networks, write the
//! candidate into a staging directory of the proxy (archive API), validate it with the engine
//! itself (`nginx -t`, `haproxy -c` through exec), find the routes that break it by bisection
//! and quarantine them, swap the live file atomically (a rename), signal a graceful reload
//! and confirm it by polling the hash the new configuration serves on loopback.
//!
//! The live file only ever holds a validated configuration, so a restart of the proxy loads
//! the last good one. What happened is written next to it (`state.json`), so `docker proxy
//! status` reads it back from the proxy whoever applied (the watcher or `docker proxy
//! reload`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::model::{self, Backend, Candidate, Health, Route, RouteTable, Settings, StreamPort};
use super::render::{Listeners, ProxyEngine, RenderError, Renderer, PROBE_PATH, PROBE_PORT};
use super::session::Session;
#[cfg(test)]
use super::session::SessionError;
use super::value::Host;
use crate::docker::engine::{
    Attach, ContainerSummary, Engine, EngineError, ExecOutput, ListFilter, State,
};

/// Where the proxy's files live inside its container.
pub(crate) const DIR: &str = "/etc/docker-link-proxy";
/// What the last apply did (JSON), beside the live file.
pub(crate) const STATE_FILE: &str = "/etc/docker-link-proxy/state.json";
/// A replacement template (`up --template-dir`), copied into the proxy.
pub(crate) const TEMPLATE_FILE: &str = "/etc/docker-link-proxy/template.tera";
/// Where `up --certs` mounts the certificates (read-only).
pub(crate) const CERTS_DIR: &str = "/etc/docker-link-proxy/certs";
/// The candidate being validated.
pub(super) const STAGING_FILE: &str = "/etc/docker-link-proxy/staging/candidate";
/// Latencies kept in the state (the last ones).
const LATENCIES_KEPT: usize = 256;

/// The labels of a proxy container (its options: `up` again compares them).
pub(crate) mod label {
    /// The proxy's name.
    pub(crate) const NAME: &str = "docker-link.proxy";
    pub(crate) const ENGINE: &str = "docker-link.proxy.engine";
    pub(crate) const DOMAINS: &str = "docker-link.proxy.domains";
    pub(crate) const EXPLICIT: &str = "docker-link.proxy.explicit";
    /// `--only-label` values, comma-separated.
    pub(crate) const ONLY: &str = "docker-link.proxy.only-label";
    pub(crate) const ALLOW_RAW: &str = "docker-link.proxy.allow-raw-directives";
    /// The ports it listens on inside its container (plain HTTP).
    pub(crate) const LISTEN: &str = "docker-link.proxy.listen";
    /// The ports it terminates TLS on inside its container.
    pub(crate) const TLS_LISTEN: &str = "docker-link.proxy.tls-listen";
    /// `--stream` ports, comma-separated (`5432/tcp,53/udp`).
    pub(crate) const STREAMS: &str = "docker-link.proxy.streams";
    /// `--certs`: the directory or volume mounted at [`super::CERTS_DIR`].
    pub(crate) const CERTS: &str = "docker-link.proxy.certs";
    /// The sha256 of its replacement template, when it has one.
    pub(crate) const TEMPLATE: &str = "docker-link.proxy.template";
    /// A digest of every option (image, ports, networks included): `up` with other options
    /// replaces the container, with the same ones leaves it.
    pub(crate) const SPEC: &str = "docker-link.proxy.spec";
}

/// A proxy container, as its labels describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proxy {
    pub id: String,
    pub name: String,
    /// The container's docker name.
    pub container: String,
    pub engine: ProxyEngine,
    pub state: State,
    pub domains: Vec<Host>,
    pub explicit: bool,
    pub only: Vec<(String, Option<String>)>,
    pub allow_raw: bool,
    pub listen: Vec<u16>,
    pub tls_listen: Vec<u16>,
    /// The ports it forwards streams on.
    pub streams: BTreeSet<StreamPort>,
    /// The certificates in its `--certs` directory (read by [`observe`]): name → digest.
    pub certs: BTreeMap<String, String>,
    pub custom_template: bool,
    /// The networks it is on now.
    pub networks: BTreeSet<String>,
    pub labels: crate::docker::engine::Labels,
}

impl Proxy {
    /// A proxy container of ours, or None.
    pub(crate) fn of(c: &ContainerSummary) -> Option<Proxy> {
        if c.labels.get(crate::labels::ROLE).map(String::as_str) != Some(crate::labels::PROXY_ROLE)
        {
            return None;
        }
        let get = |k: &str| c.labels.get(k).map(String::as_str).unwrap_or_default();
        Some(Proxy {
            id: c.id.clone(),
            name: get(label::NAME).to_string(),
            container: c.names.first().cloned().unwrap_or_default(),
            engine: ProxyEngine::parse(get(label::ENGINE)).unwrap_or_default(),
            state: c.state,
            domains: get(label::DOMAINS)
                .split(',')
                .filter_map(|d| Host::parse(d).ok())
                .collect(),
            explicit: get(label::EXPLICIT) == "true",
            only: get(label::ONLY)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (s.to_string(), None),
                })
                .collect(),
            allow_raw: get(label::ALLOW_RAW) == "true",
            listen: ports(get(label::LISTEN)),
            tls_listen: ports(get(label::TLS_LISTEN)),
            streams: get(label::STREAMS)
                .split(',')
                .filter_map(StreamPort::parse)
                .collect(),
            certs: BTreeMap::new(),
            custom_template: c.labels.contains_key(label::TEMPLATE),
            networks: c.networks.keys().cloned().collect(),
            labels: c.labels.clone(),
        })
    }

    /// Where it listens, plain and TLS.
    pub(crate) fn listeners(&self) -> Listeners {
        Listeners {
            plain: self.listen.clone(),
            tls: self.tls_listen.clone(),
        }
    }

    /// The live configuration file inside the container.
    pub(crate) fn config_path(&self) -> String {
        format!("{DIR}/{}", self.engine.template())
    }

    /// The command the proxy container runs: the engine on the live file, in the foreground
    /// (nginx's master or haproxy's master-worker as PID 1, the process the reload signal
    /// goes to).
    pub(crate) fn command(engine: ProxyEngine) -> Vec<String> {
        let file = format!("{DIR}/{}", engine.template());
        match engine {
            ProxyEngine::Nginx => vec![
                "nginx".into(),
                "-c".into(),
                file,
                "-g".into(),
                "daemon off;".into(),
            ],
            ProxyEngine::Haproxy => vec![
                "haproxy".into(),
                "-W".into(),
                "-db".into(),
                "-f".into(),
                file,
            ],
        }
    }

    /// The model's settings for this proxy.
    pub(crate) fn settings(&self, own: BTreeSet<String>) -> Settings {
        Settings {
            domains: self.domains.clone(),
            explicit: self.explicit,
            only: self.only.clone(),
            allow_raw: self.allow_raw,
            proxy_networks: self.networks.clone(),
            own,
            certs: self.certs.clone(),
            stream_ports: self.streams.clone(),
        }
    }
}

/// The model's facts of every container of a listing.
pub(crate) fn candidates(listing: &[ContainerSummary]) -> Vec<Candidate> {
    listing
        .iter()
        .map(|c| Candidate {
            id: c.id.clone(),
            name: c.names.first().cloned().unwrap_or_default(),
            running: c.state == State::Running,
            created: c.created,
            labels: c.labels.clone(),
            ports: c.tcp_ports.clone(),
            mounts: c.mount_points.clone(),
            networks: c.networks.clone(),
            network_mode: c.network_mode.clone(),
            health: Health::parse(&c.health),
        })
        .collect()
}

fn ports(list: &str) -> Vec<u16> {
    list.split(',').filter_map(|p| p.parse().ok()).collect()
}

/// Every container (one listing) and the proxies among them, with the certificates of
/// those that terminate TLS (read from the running proxy: its mount is on the daemon's
/// host, which may not be this one).
pub(crate) async fn observe<E: Engine>(
    engine: &E,
) -> Result<(Vec<ContainerSummary>, Vec<Proxy>), EngineError> {
    let listing = engine.list_containers(&ListFilter::default()).await?;
    let mut proxies: Vec<Proxy> = listing.containers.iter().filter_map(Proxy::of).collect();
    for p in &mut proxies {
        if !p.tls_listen.is_empty() && p.state == State::Running {
            p.certs = match engine.get_archive(&p.id, CERTS_DIR).await {
                Ok(tar) => certs_in_tar(&tar),
                Err(e) if e.is_not_found() => BTreeMap::new(),
                // Stopped or removed since the listing (another client's `down`, a
                // cleanup): the daemon answers with an error of its own ("RWLayer … is
                // unexpectedly nil", seen in CI). It is no longer a proxy to apply to; the
                // others go on.
                Err(e) => match gone_since(engine.inspect_container(&p.id).await) {
                    Some(state) => {
                        p.state = state;
                        BTreeMap::new()
                    }
                    None => return Err(e),
                },
            };
        }
    }
    Ok((listing.containers, proxies))
}

/// After a proxy's files could not be read: the state it has left running for (removed,
/// stopped), or None when it still runs (then the error stands).
fn gone_since(
    inspected: Result<crate::docker::engine::ContainerInfo, EngineError>,
) -> Option<State> {
    match inspected {
        Err(e) if e.is_not_found() => Some(State::Removing),
        Ok(info) if !info.running() => Some(info.state.unwrap_or(State::Unknown)),
        _ => None,
    }
}

/// The certificates in an archive of the certificates directory: each `NAME.crt` with a
/// `NAME.key` beside it, by name, with a digest of both.
pub(crate) fn certs_in_tar(tar: &[u8]) -> BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(tar);
    if let Ok(entries) = archive.entries() {
        for mut e in entries.flatten() {
            // Links (a Let's Encrypt live/ directory) are not followed: files only.
            if e.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let Some(name) = e
                .path()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            else {
                continue;
            };
            let mut data = Vec::new();
            if std::io::Read::read_to_end(&mut e, &mut data).is_ok() {
                files.insert(name, data);
            }
        }
    }
    files
        .iter()
        .filter_map(|(name, crt)| {
            let stem = name.strip_suffix(".crt")?;
            let key = files.get(&format!("{stem}.key"))?;
            let mut d = Sha256::new();
            d.update(crt);
            d.update(key);
            let digest = super::render::short_hex(&d.finalize());
            Some((stem.to_string(), digest))
        })
        .collect()
}

/// The route table of one proxy.
pub(crate) fn table(proxy: &Proxy, listing: &[ContainerSummary]) -> RouteTable {
    let own: BTreeSet<String> = listing
        .iter()
        .filter(|c| c.labels.contains_key(crate::labels::ROLE))
        .map(|c| c.id.clone())
        .collect();
    model::build(&candidates(listing), &proxy.settings(own))
}

/// A route left out of the configuration, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Quarantined {
    pub route: String,
    pub reason: String,
    /// A digest of the route as it was refused: the same route is left out again without
    /// asking the engine; a changed one (a new address, a new label value) is tried again.
    #[serde(default)]
    pub fingerprint: String,
}

/// A route's digest under a template (its [`Renderer::template_digest`]), for
/// [`Quarantined::fingerprint`].
fn fingerprint(template: &str, route: &Route) -> String {
    use sha2::{Digest, Sha256};
    let mut d = Sha256::new();
    d.update(template.as_bytes());
    d.update(serde_json::to_vec(route).unwrap_or_default());
    super::render::short_hex(&d.finalize())
}

/// What the proxy's last applies did; kept in the proxy container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ProxyState {
    /// The live configuration's hash.
    pub hash: String,
    pub routes: usize,
    pub quarantined: Vec<Quarantined>,
    /// When the live configuration was put in place (seconds since the epoch).
    pub reloaded_at: i64,
    /// How long the last apply took, validation to confirmed reload.
    pub reload_ms: u64,
    /// Whether the last reload was seen serving its hash.
    pub confirmed: bool,
    pub reloads: u64,
    /// Event → live, milliseconds (the watcher's; the last ones).
    pub latencies_ms: Vec<u64>,
    /// The last failure, if the last apply failed.
    pub error: Option<String>,
    /// Who applied last (`watcher`, `docker proxy reload`, `docker proxy up`).
    pub by: String,
    /// Networks the proxy joined for its backends (left when no backend needs them; the
    /// ones it was started on, or connected to by hand, are never left).
    #[serde(default)]
    pub joined: Vec<String>,
    /// For each joined network, the containers routed on it since it was joined: the
    /// network is kept while one of them still exists on it (see [`leave_unused`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub served: BTreeMap<String, BTreeSet<String>>,
    /// How the last reload was committed: `session` (the watcher's open exec) or `exec`.
    #[serde(default)]
    pub commit: String,
}

impl ProxyState {
    pub(crate) fn observe_latency(&mut self, ms: u64) {
        self.latencies_ms.push(ms);
        if self.latencies_ms.len() > LATENCIES_KEPT {
            let extra = self.latencies_ms.len() - LATENCIES_KEPT;
            self.latencies_ms.drain(..extra);
        }
    }

    /// The q-quantile of the kept latencies (nearest rank).
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        let mut v = self.latencies_ms.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
}

/// Why an apply did not put a configuration in place.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    #[error("proxy {proxy}: {source}")]
    Engine {
        proxy: String,
        #[source]
        source: EngineError,
    },
    #[error("proxy {proxy}: {source}")]
    Render {
        proxy: String,
        #[source]
        source: RenderError,
    },
    /// Even without any route the engine refuses the configuration (a replacement template
    /// that is wrong, an image whose engine lacks a directive).
    #[error("proxy {proxy}: the engine refuses the configuration even without routes: {message}")]
    Invalid { proxy: String, message: String },
    #[error("proxy {proxy} is not running")]
    NotRunning { proxy: String },
    /// The commit's exec ended in a way of its own (the proxy stopped or was removed under
    /// it: 126, 128, 137): nothing is known to be wrong with the configuration.
    #[error("proxy {proxy}: {step} was cut short (exit {code}): {message}")]
    Interrupted {
        proxy: String,
        step: &'static str,
        code: i64,
        message: String,
    },
}

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The configuration changed and was reloaded.
    pub reloaded: bool,
    /// The live configuration after the apply.
    pub live: String,
    pub hash: String,
    pub routes: usize,
    pub quarantined: Vec<Quarantined>,
    /// Networks the proxy joined.
    pub joined: Vec<String>,
    /// Failures that did not stop the apply (a network that could not be joined).
    pub warnings: Vec<String>,
    pub took: Duration,
    /// The reload was seen serving the new hash; None when it could not be checked (no wget
    /// or curl in the image).
    pub confirmed: Option<bool>,
}

/// The renderer of a proxy: its replacement template when it has one (read from the
/// container), else the embedded one.
pub(crate) async fn renderer<E: Engine>(engine: &E, proxy: &Proxy) -> Result<Renderer, ApplyError> {
    let custom = if proxy.custom_template {
        let tar = engine
            .get_archive(&proxy.id, TEMPLATE_FILE)
            .await
            .map_err(|source| ApplyError::Engine {
                proxy: proxy.name.clone(),
                source,
            })?;
        file_in_tar(&tar).map(|b| String::from_utf8_lossy(&b).into_owned())
    } else {
        None
    };
    Renderer::new(proxy.engine, custom.as_deref()).map_err(|source| ApplyError::Render {
        proxy: proxy.name.clone(),
        source,
    })
}

/// The first regular file of a tar (`GET /containers/{id}/archive` of one file).
pub(crate) fn file_in_tar(tar: &[u8]) -> Option<Vec<u8>> {
    let mut archive = tar::Archive::new(tar);
    let mut entry = archive.entries().ok()?.flatten().next()?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut entry, &mut out).ok()?;
    Some(out)
}

/// A file at `path` (absolute) of the proxy container, if it is there.
pub(crate) async fn read_file<E: Engine>(
    engine: &E,
    id: &str,
    path: &str,
) -> Result<Option<Vec<u8>>, EngineError> {
    match engine.get_archive(id, path).await {
        Ok(tar) => Ok(file_in_tar(&tar)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes files (absolute paths) into the container in one archive.
pub(crate) async fn write_files<E: Engine>(
    engine: &E,
    id: &str,
    files: &[(&str, &[u8])],
) -> Result<(), EngineError> {
    let entries: Vec<(&str, u32, &[u8])> = files.iter().map(|(p, d)| (*p, 0o644, *d)).collect();
    engine
        .put_archive(id, "/", crate::docker::self_image::tar_of(&entries))
        .await
}

/// The routes the engine can serve, and the others quarantined.
fn servable(
    engine: ProxyEngine,
    template: &str,
    routes: &[Route],
) -> (Vec<Route>, Vec<Quarantined>) {
    let mut ok = Vec::new();
    let mut out = Vec::new();
    for r in routes {
        match engine.unsupported(r) {
            Some(reason) => out.push(Quarantined {
                route: r.key(),
                reason,
                fingerprint: fingerprint(template, r),
            }),
            None => ok.push(r.clone()),
        }
    }
    (ok, out)
}

/// The command that validates a file with the engine.
fn validate_command(engine: ProxyEngine, file: &str) -> Vec<String> {
    match engine {
        ProxyEngine::Nginx => vec![
            "nginx".into(),
            "-t".into(),
            "-q".into(),
            "-c".into(),
            file.into(),
        ],
        ProxyEngine::Haproxy => {
            vec!["haproxy".into(), "-c".into(), "-f".into(), file.into()]
        }
    }
}

/// The signal that reloads gracefully: nginx's master re-reads on HUP; haproxy's master (in
/// master-worker mode) on USR2, handing its listeners to the new worker.
fn reload_signal(engine: ProxyEngine) -> &'static str {
    match engine {
        ProxyEngine::Nginx => "HUP",
        ProxyEngine::Haproxy => "USR2",
    }
}

/// The signal that tells the old workers to finish, sent as soon as the new ones exist, or
/// "" to leave that to the engine. nginx's master, once it has started the new workers,
/// sleeps 100 ms before it sends them QUIT, and meanwhile the old, idle ones take the new
/// connections (the kernel wakes the longest waiting first): a route came live 130-160 ms
/// after the signal, against 20-45 ms with this (measured in the proxy). Nothing changes for
/// the master: it sends QUIT to the old workers after its sleep as always and reaps them
/// when it wakes; a worker it had not yet reaped is still its own, never respawned. haproxy's
/// master stops the old worker as soon as the new one is ready.
fn retire_signal(engine: ProxyEngine) -> &'static str {
    match engine {
        ProxyEngine::Nginx => "QUIT",
        ProxyEngine::Haproxy => "",
    }
}

/// Exit codes of [`commit_command`].
mod commit {
    pub(super) const INVALID: i64 = 90;
    pub(super) const MOVE: i64 = 91;
    pub(super) const SIGNAL: i64 = 92;
    pub(super) const UNCONFIRMED: i64 = 93;
    pub(super) const NO_CLIENT: i64 = 94;
    pub(super) const WRITE: i64 = 95;
}

/// The environment variable that carries a candidate into the commit exec.
const CANDIDATE_VAR: &str = "DOCKER_LINK_CANDIDATE";

/// The largest candidate carried in the commit exec's environment (one variable may hold
/// 128 KiB, its name included); a larger one is uploaded first (an archive upload is a round
/// trip of its own: the daemon unpacks it in a process it starts for that).
const INLINE_MAX: usize = 120 * 1024;

/// The commit script: writes the staged file (from [`CANDIDATE_VAR`], when the caller set
/// it), validates it with the engine, renames it over the live one (atomic in one
/// directory), signals the master (PID 1: the engine runs in the foreground), tells the old
/// workers to finish once the new ones exist ([`retire_signal`]; the workers are PID 1's
/// children by the master's own name, read from `/proc`: orphans of other execs, such as
/// busybox `timeout`'s watchdog, are its children too) and polls the loopback listener until it serves `hash`, with
/// whichever of wget and curl the image has.
/// One round trip instead of five: the reload's latency is mostly exec's. `mode` is `commit`
/// (once, its exit code says how it went) or `session` (the same for every candidate read
/// from standard input, see [`super::session`]; `live` and `hash` then come with each).
pub(super) fn commit_command(
    engine: ProxyEngine,
    mode: &str,
    staging: &str,
    live: &str,
    hash: &str,
) -> Vec<String> {
    const SCRIPT: &str = r#"mode=$1; s=$2; l=$3; h=$4; sig=$5; url=$6; retire=$7; shift 7
if command -v wget >/dev/null 2>&1; then get() { wget -q -O - "$url"; }
elif command -v curl >/dev/null 2>&1; then get() { curl -fsS -m 2 "$url"; }
else get() { return 1; }; noclient=1; fi
kids() {
  local d p m c st pp r; k=
  read -r p m r 2>/dev/null < /proc/1/stat || return 0
  for d in /proc/[0-9]*; do
    read -r p c st pp r 2>/dev/null < "$d/stat" || continue
    [ "$pp" = 1 ] && [ "$c" = "$m" ] && [ "$st" != Z ] && k="$k $p"
  done
}
retire_old() {
  local j p
  [ -n "$old" ] || return 0
  j=0
  while [ "$j" -lt 500 ]; do
    kids
    for p in $k; do
      case " $old " in *" $p "*) ;; *) kill -"$retire" $old 2>/dev/null; return 0;; esac
    done
    sleep 0.002; j=$((j+1))
  done
}
commit() {
  "$@" </dev/null || { rm -f "$s"; return 90; }
  mv -f "$s" "$l" || return 91
  old=; [ -z "$retire" ] || { kids; old=$k; }
  kill -"$sig" 1 || return 92
  retire_old
  [ -z "$noclient" ] || return 94
  i=0
  while [ "$i" -lt 1250 ]; do
    [ "$(get </dev/null 2>/dev/null)" = "$h" ] && return 0
    sleep 0.005; i=$((i+1))
  done
  return 93
}
if [ "$mode" = session ]; then
  mkdir -p "${s%/*}" 2>/dev/null
  command -v head >/dev/null 2>&1 ||
    { echo "docker-link-session unsupported: the image has no head command"; exit 0; }
  echo "docker-link-session ready"
  while read -r len l h; do
    { head -c "$len" > "$s" && [ "$(wc -c < "$s")" -eq "$len" ]; } 2>/dev/null || exit 95
    commit "$@" > "$s.out" 2>&1
    printf 'docker-link-done %s %s\n' "$?" "$(wc -c < "$s.out")"
    cat "$s.out"; rm -f "$s.out"
  done
  exit 0
fi
if [ -n "${DOCKER_LINK_CANDIDATE+set}" ]; then
  { printf '%s' "$DOCKER_LINK_CANDIDATE" > "$s"; } 2>/dev/null ||
    { mkdir -p "${s%/*}" && printf '%s' "$DOCKER_LINK_CANDIDATE" > "$s"; } || exit 95
  unset DOCKER_LINK_CANDIDATE
fi
commit "$@""#;
    let mut cmd: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        SCRIPT.into(),
        "docker-link-commit".into(),
        mode.into(),
        staging.into(),
        live.into(),
        hash.into(),
        reload_signal(engine).into(),
        format!("http://127.0.0.1:{PROBE_PORT}{PROBE_PATH}"),
        retire_signal(engine).into(),
    ];
    cmd.extend(validate_command(engine, staging));
    cmd
}

/// Commits a candidate on the proxy's open session when there is one (dropped when it fails:
/// the caller opens another later), else with a one-shot exec. Says which it was.
#[allow(clippy::too_many_arguments)]
async fn commit<E: Engine>(
    engine: &E,
    proxy: &Proxy,
    session: Option<&mut Option<Session>>,
    staging: &str,
    live: &str,
    text: &str,
    hash: &str,
) -> Result<(ExecOutput, &'static str), EngineError> {
    if let Some(slot) = session {
        if let Some(open) = slot.as_mut() {
            match open.commit(text, live, hash).await {
                Ok(out) => return Ok((out, "session")),
                Err(e) => {
                    tracing::info!("proxy {}: {e}; committing with an exec", proxy.name);
                    *slot = None;
                }
            }
        }
    }
    let cmd = commit_command(proxy.engine, "commit", staging, live, hash);
    let out = if text.len() <= INLINE_MAX {
        engine
            .exec_env(&proxy.id, &cmd, &[format!("{CANDIDATE_VAR}={text}")])
            .await?
    } else {
        write_files(engine, &proxy.id, &[(staging, text.as_bytes())]).await?;
        engine.exec(&proxy.id, &cmd).await?
    };
    Ok((out, "exec"))
}

/// What the watcher brings to an apply (`docker proxy reload` brings nothing).
#[derive(Debug, Default)]
pub(crate) struct With<'a> {
    /// When the first event behind this apply arrived: its latency is recorded.
    pub since: Option<Instant>,
    /// The live configuration, when the caller knows it (it committed it): one read less.
    pub known_live: Option<&'a str>,
    /// The proxy's open commit session, if any (dropped here when it breaks).
    pub session: Option<&'a mut Option<Session>>,
}

/// Applies a route table to a running proxy (see the module's documentation). `state` is the
/// proxy's, updated in place; the caller writes it back ([`write_state`]), the watcher off
/// the path of its next pass.
pub(crate) async fn apply<E: Engine>(
    engine: &E,
    proxy: &Proxy,
    renderer: &Renderer,
    table: &RouteTable,
    state: &mut ProxyState,
    with: With<'_>,
) -> Result<Outcome, ApplyError> {
    let With {
        since,
        known_live,
        mut session,
    } = with;
    let t0 = Instant::now();
    let name = proxy.name.clone();
    let eng = |source: EngineError| ApplyError::Engine {
        proxy: name.clone(),
        source,
    };
    if proxy.state != State::Running {
        return Err(ApplyError::NotRunning {
            proxy: proxy.name.clone(),
        });
    }
    let mut outcome = Outcome::default();
    // The backends' networks, joined while the configuration is committed: the engine
    // resolves nothing when it loads it (backends are addresses), and the route is live only
    // once both are done (this returns after both).
    let join = async {
        let mut out = Vec::new();
        for net in table
            .networks
            .iter()
            .filter(|n| !proxy.networks.contains(*n))
        {
            out.push((
                net.clone(),
                engine.connect(net, &proxy.id, &Attach::default()).await,
            ));
        }
        out
    };
    let joined = |outcome: &mut Outcome, state: &mut ProxyState, results| {
        for (net, result) in results {
            match result {
                Ok(()) => {
                    if !state.joined.contains(&net) {
                        state.joined.push(net.clone());
                    }
                    outcome.joined.push(net);
                }
                Err(e) if EngineError::is_conflict(&e) => {}
                Err(e) => outcome.warnings.push(format!("joining network {net}: {e}")),
            }
        }
    };
    let template = renderer.template_digest();
    let (mut routes, mut quarantined) = servable(proxy.engine, &template, &table.routes);
    // Streams the engine cannot forward are left out of every render: said here.
    quarantined.extend(table.streams.iter().filter_map(|st| {
        let reason = proxy.engine.unsupported_stream(st)?;
        Some(Quarantined {
            route: st.listen.to_string(),
            reason,
            fingerprint: String::new(),
        })
    }));
    // Routes refused before, unchanged since: still refused (no bisection on every event).
    routes.retain(|r| {
        let fp = fingerprint(&template, r);
        match state
            .quarantined
            .iter()
            .find(|q| q.route == r.key() && q.fingerprint == fp)
        {
            Some(q) => {
                quarantined.push(q.clone());
                false
            }
            None => true,
        }
    });
    let render = |routes: &[Route]| {
        renderer
            .render(&proxy.name, &proxy.listeners(), routes, &table.streams)
            .map_err(|source| ApplyError::Render {
                proxy: proxy.name.clone(),
                source,
            })
    };
    let mut candidate = render(&routes)?;
    let live_path = proxy.config_path();
    // The caller may know what is live (the watcher committed it): one read less.
    let live = match known_live {
        Some(text) => Some(text.as_bytes().to_vec()),
        None => read_file(engine, &proxy.id, &live_path)
            .await
            .map_err(eng)?,
    };
    if live.as_deref() == Some(candidate.text.as_bytes()) {
        // Byte-identical: no reload (the quarantine of the last apply still holds).
        joined(&mut outcome, state, join.await);
        outcome.live = candidate.text;
        outcome.hash = candidate.hash;
        outcome.routes = candidate.routes.len();
        outcome.quarantined = state.quarantined.clone();
        outcome.took = t0.elapsed();
        return Ok(outcome);
    }
    // A name of this apply's own: another apply at the same moment (`docker proxy up` while
    // the watcher runs) never validates or moves this one's file.
    let staging = format!(
        "{STAGING_FILE}.{:016x}.{}",
        crate::random_u64(),
        proxy.engine.template()
    );
    let check = |text: String| {
        let staging = staging.clone();
        async move {
            write_files(engine, &proxy.id, &[(&staging, text.as_bytes())]).await?;
            engine
                .exec(&proxy.id, &validate_command(proxy.engine, &staging))
                .await
        }
    };
    // Validate, swap, signal and confirm in one exec (the reload's latency is mostly exec's)
    // or one request of the open session; an invalid candidate leaves the live file alone.
    let (done, results) = tokio::join!(
        commit(
            engine,
            proxy,
            session.as_deref_mut(),
            &staging,
            &live_path,
            &candidate.text,
            &candidate.hash,
        ),
        join
    );
    joined(&mut outcome, state, results);
    let (mut done, mut via) = done.map_err(eng)?;
    tracing::debug!(
        "proxy {}: commit exited {} after {:?}",
        proxy.name,
        done.code,
        t0.elapsed()
    );
    if done.code == commit::INVALID {
        // Which routes break it: halves until single routes, each checked with the rest of
        // the configuration.
        let empty = check(render(&[])?.text).await.map_err(eng)?;
        if !empty.success() {
            return Err(ApplyError::Invalid {
                proxy: proxy.name.clone(),
                message: empty.message(),
            });
        }
        let mut bad: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut stack: Vec<(Vec<Route>, Option<ExecOutput>)> = vec![(routes.clone(), Some(done))];
        while let Some((set, known)) = stack.pop() {
            let out = match known {
                Some(o) => o,
                None => check(render(&set)?.text).await.map_err(eng)?,
            };
            if out.success() {
                continue;
            }
            if set.len() == 1 {
                bad.insert(
                    set[0].key(),
                    (out.message(), fingerprint(&template, &set[0])),
                );
                continue;
            }
            let (a, b) = set.split_at(set.len() / 2);
            stack.push((b.to_vec(), None));
            stack.push((a.to_vec(), None));
        }
        let good: Vec<Route> = routes
            .iter()
            .filter(|r| !bad.contains_key(&r.key()))
            .cloned()
            .collect();
        quarantined.extend(
            bad.into_iter()
                .map(|(route, (reason, fingerprint))| Quarantined {
                    route,
                    reason,
                    fingerprint,
                }),
        );
        candidate = render(&good)?;
        if live.as_deref() == Some(candidate.text.as_bytes()) {
            outcome.live = candidate.text;
            outcome.hash = candidate.hash;
            outcome.routes = candidate.routes.len();
            outcome.quarantined = quarantined.clone();
            state.quarantined = quarantined;
            outcome.took = t0.elapsed();
            return Ok(outcome);
        }
        (done, via) = commit(
            engine,
            proxy,
            session,
            &staging,
            &live_path,
            &candidate.text,
            &candidate.hash,
        )
        .await
        .map_err(eng)?;
        if done.code == commit::INVALID {
            // Routes that break it only together: the live configuration stays.
            return Err(ApplyError::Invalid {
                proxy: proxy.name.clone(),
                message: format!("routes that fail only together: {}", done.message()),
            });
        }
    }
    outcome.confirmed = match done.code {
        0 => Some(true),
        commit::UNCONFIRMED => Some(false),
        commit::NO_CLIENT => None,
        code => {
            let step = match code {
                commit::INVALID => "validating the configuration",
                commit::MOVE => "moving the configuration in place",
                commit::WRITE => "writing the candidate configuration",
                commit::SIGNAL => "signalling the proxy to reload",
                _ => {
                    return Err(ApplyError::Interrupted {
                        proxy: proxy.name.clone(),
                        step: "committing the configuration",
                        code,
                        message: match done.message() {
                            m if m.is_empty() => {
                                "the proxy stopped or was removed meanwhile".to_string()
                            }
                            m => m,
                        },
                    })
                }
            };
            return Err(ApplyError::Invalid {
                proxy: proxy.name.clone(),
                message: format!("{step} (exit {code}): {}", done.message()),
            });
        }
    };
    outcome.reloaded = true;
    outcome.live = candidate.text.clone();
    outcome.hash = candidate.hash.clone();
    outcome.routes = candidate.routes.len();
    outcome.quarantined = quarantined.clone();
    outcome.took = t0.elapsed();
    state.hash = candidate.hash;
    state.routes = outcome.routes;
    state.quarantined = quarantined;
    state.reloaded_at = crate::docker::clock::now();
    state.reload_ms = outcome.took.as_millis() as u64;
    state.confirmed = outcome.confirmed == Some(true);
    state.reloads += 1;
    state.commit = via.to_string();
    state.error = None;
    if let Some(t) = since {
        state.observe_latency(t.elapsed().as_millis() as u64);
    }
    Ok(outcome)
}

/// The joined networks to leave, and `served` brought up to date: a network is left when no
/// route needs it and no container once routed on it still exists there. A stopped backend
/// keeps it: its restart (the common case: `docker restart`, a crash, `compose restart`) is
/// then routed without a `docker network connect` first, which takes as long as the reload
/// itself (~100 ms here). Its removal (`compose down`) lets it go, so that `docker network rm`
/// is not refused for the proxy's endpoint.
pub(crate) fn to_leave(
    joined: &[String],
    table: &RouteTable,
    listing: &[ContainerSummary],
    served: &mut BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let servers = table
        .routes
        .iter()
        .flat_map(|r| r.servers.iter())
        .chain(table.streams.iter().flat_map(|s| s.servers.iter()));
    for s in servers {
        let Backend::Container { network, .. } = &s.backend;
        if joined.contains(network) {
            served
                .entry(network.clone())
                .or_default()
                .insert(s.id.clone());
        }
    }
    served.retain(|net, ids| {
        ids.retain(|id| {
            listing
                .iter()
                .any(|c| &c.id == id && c.networks.contains_key(net))
        });
        joined.contains(net) && !ids.is_empty()
    });
    joined
        .iter()
        .filter(|n| !table.networks.contains(*n) && !served.contains_key(*n))
        .cloned()
        .collect()
}

/// Leaves the networks [`to_leave`] gives (after the reload that dropped their routes).
/// Returns the networks left and the failures; `state.joined` follows (the caller writes the
/// state).
pub(crate) async fn leave_unused<E: Engine>(
    engine: &E,
    proxy: &Proxy,
    table: &RouteTable,
    listing: &[ContainerSummary],
    state: &mut ProxyState,
) -> (Vec<String>, Vec<String>) {
    let mut left = Vec::new();
    let mut failed = Vec::new();
    for net in to_leave(&state.joined, table, listing, &mut state.served) {
        match engine.disconnect(&net, &proxy.id).await {
            Ok(()) => left.push(net),
            Err(e) if e.is_not_found() => left.push(net),
            Err(e) => failed.push(format!("leaving network {net}: {e}")),
        }
    }
    state.joined.retain(|n| !left.contains(n));
    (left, failed)
}

/// Writes the state beside the live file.
pub(crate) async fn write_state<E: Engine>(
    engine: &E,
    proxy: &Proxy,
    state: &ProxyState,
) -> Result<(), EngineError> {
    let json = serde_json::to_vec_pretty(state).unwrap_or_default();
    write_files(engine, &proxy.id, &[(STATE_FILE, &json)]).await
}

/// Reads the state back (an empty one when there is none yet).
pub(crate) async fn read_state<E: Engine>(engine: &E, proxy: &Proxy) -> ProxyState {
    match read_file(engine, &proxy.id, STATE_FILE).await {
        Ok(Some(b)) => serde_json::from_slice(&b).unwrap_or_default(),
        _ => ProxyState::default(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::docker::engine::ExecOutput;
    use crate::docker::fake::{ExecHandler, Fake, FakeContainer};
    use crate::proxy::session;

    #[test]
    fn certificates_are_the_crt_files_with_a_key() {
        let tar = crate::docker::self_image::tar_of(&[
            ("certs/a.example.com.crt", 0o644, b"A"),
            ("certs/a.example.com.key", 0o600, b"KA"),
            ("certs/b.example.com.crt", 0o644, b"B"),
            ("certs/readme.txt", 0o644, b"x"),
        ]);
        let certs = certs_in_tar(&tar);
        assert_eq!(certs.keys().collect::<Vec<_>>(), ["a.example.com"]);
        // The digest follows either file.
        let renewed = crate::docker::self_image::tar_of(&[
            ("certs/a.example.com.crt", 0o644, b"A2"),
            ("certs/a.example.com.key", 0o600, b"KA"),
        ]);
        assert_ne!(certs_in_tar(&renewed), certs);
        assert!(certs_in_tar(b"not a tar").is_empty());
    }

    /// A fake nginx: a file is valid unless it holds `bad.invalid`; the commit script
    /// validates, moves, "signals" and is confirmed.
    pub(crate) fn fake_engine(fake: &Fake) {
        let handler = |c: &mut FakeContainer, cmd: &[String], env: &[String]| -> ExecOutput {
            let invalid = |c: &FakeContainer, path: &str| {
                let text = String::from_utf8_lossy(
                    c.files.get(path).map(Vec::as_slice).unwrap_or_default(),
                )
                .into_owned();
                text.contains("bad.invalid").then(|| ExecOutput {
                    code: 1,
                    stderr: b"nginx: [emerg] host not found in upstream \"bad.invalid:80\""
                        .to_vec(),
                    ..Default::default()
                })
            };
            match cmd.first().map(String::as_str) {
                Some("nginx") => invalid(c, &cmd[4]).unwrap_or_default(),
                Some("sh") if cmd.get(3).map(String::as_str) == Some("docker-link-commit") => {
                    let (staging, live, sig) = (&cmd[5], &cmd[6], &cmd[8]);
                    let var = format!("{CANDIDATE_VAR}=");
                    if let Some(text) = env.iter().find_map(|e| e.strip_prefix(&var)) {
                        c.files.insert(staging.clone(), text.as_bytes().to_vec());
                    }
                    if let Some(mut out) = invalid(c, staging) {
                        out.code = 90;
                        return out;
                    }
                    if let Some(data) = c.files.remove(staging) {
                        c.files.insert(live.clone(), data);
                    }
                    c.signals.push(sig.clone());
                    ExecOutput::default()
                }
                _ => ExecOutput::default(),
            }
        };
        fake.world().exec = Some(ExecHandler(Arc::new(handler)));
    }

    fn proxy_of(fake: &Fake, id: &str) -> Proxy {
        let w = fake.world();
        let c = &w.containers[id];
        Proxy {
            id: id.to_string(),
            name: "p".into(),
            container: c.spec.name.clone(),
            engine: ProxyEngine::Nginx,
            state: c.state,
            domains: vec![],
            explicit: false,
            only: vec![],
            allow_raw: false,
            listen: vec![80],
            tls_listen: vec![],
            streams: BTreeSet::new(),
            certs: BTreeMap::new(),
            custom_template: false,
            networks: BTreeSet::new(),
            labels: c.spec.labels.clone(),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_breaking_route_is_quarantined_and_the_rest_reloads() {
        let fake = Fake::new();
        fake_engine(&fake);
        let pid = fake.run("proxy", &["80/tcp"], &[("docker-link.role", "proxy")]);
        let proxy = proxy_of(&fake, &pid);
        let renderer = Renderer::new(ProxyEngine::Nginx, None).unwrap();
        let cands = seven_candidates_one_breaking();
        let table = model::build(&cands, &Settings::default());
        let mut state = ProxyState::default();
        rt().block_on(fake.create_network(&crate::docker::engine::NetworkSpec {
            name: "app".into(),
            subnet: "10.0.0.0/24".into(),
            gateway: "10.0.0.254".into(),
            ..Default::default()
        }))
        .unwrap();
        let out = rt()
            .block_on(apply(
                &fake,
                &proxy,
                &renderer,
                &table,
                &mut state,
                With::default(),
            ))
            .unwrap();
        assert!(out.reloaded);
        assert_eq!(out.routes, 6);
        assert_eq!(out.quarantined.len(), 1);
        assert_eq!(out.quarantined[0].route, "c5");
        assert!(
            out.quarantined[0].reason.contains("host not found"),
            "{:?}",
            out.quarantined
        );
        assert_eq!(out.confirmed, Some(true));
        assert_eq!(out.joined, ["app"]);
        {
            let w = fake.world();
            let c = &w.containers[&pid];
            assert_eq!(c.signals, ["HUP"]);
            let live =
                String::from_utf8_lossy(&c.files["/etc/docker-link-proxy/nginx.conf"]).into_owned();
            assert!(live.contains("server_name c4;") && !live.contains("bad.invalid"));
            // The state is the caller's to write.
            assert!(!c.files.contains_key(STATE_FILE));
            // Validated, swapped and reloaded in one exec of the commit script.
            assert!(
                w.calls
                    .iter()
                    .any(|c| c.contains(
                        "docker-link-commit commit /etc/docker-link-proxy/staging/candidate."
                    ) && c.contains(".nginx.conf /etc/docker-link-proxy/nginx.conf")),
                "{:?}",
                w.calls
            );
        }
        // Again: the same bytes, no reload.
        let out = rt()
            .block_on(apply(
                &fake,
                &proxy,
                &renderer,
                &table,
                &mut state,
                With::default(),
            ))
            .unwrap();
        assert!(!out.reloaded);
        assert_eq!(fake.world().containers[&pid].signals.len(), 1);
        assert_eq!(state.reloads, 1);
        assert_eq!(state.quarantined.len(), 1);
        // Another route comes: the refused one, unchanged, stays out without bisection.
        let mut more = cands.clone();
        more.push(model::tests::candidate("c8", 8, &[]));
        let table = model::build(&more, &Settings::default());
        let before = fake.world().calls.len();
        let out = rt()
            .block_on(apply(
                &fake,
                &proxy,
                &renderer,
                &table,
                &mut state,
                With::default(),
            ))
            .unwrap();
        assert!(out.reloaded);
        assert_eq!((out.routes, out.quarantined.len()), (7, 1));
        let execs: Vec<String> = fake.world().calls[before..]
            .iter()
            .filter(|c| c.starts_with("exec"))
            .cloned()
            .collect();
        assert_eq!(execs.len(), 1, "{execs:?}");
        assert!(execs[0].contains("docker-link-commit"));
        // The candidate came in the exec's environment: nothing uploaded.
        let calls = fake.world().calls[before..].to_vec();
        assert!(
            !calls.iter().any(|c| c.starts_with("put_archive")),
            "{calls:?}"
        );
        assert_eq!(state.joined, ["app"]);
        // Every apply is followed by a look at the networks: this one needs its network.
        let listing: Vec<ContainerSummary> = (1..=7)
            .map(|i| ContainerSummary {
                id: format!("c{i}-id"),
                networks: [("app".to_string(), format!("10.0.0.{i}"))].into(),
                ..Default::default()
            })
            .collect();
        let (left, _) = rt().block_on(leave_unused(&fake, &proxy, &table, &listing, &mut state));
        assert!(left.is_empty());
        // Every backend stopped: the route goes with a reload.
        let empty = model::build(&[], &Settings::default());
        rt().block_on(apply(
            &fake,
            &proxy,
            &renderer,
            &empty,
            &mut state,
            With::default(),
        ))
        .unwrap();
        // Stopped, the backends still exist on the network: it is kept for their restart.
        let stopped: Vec<ContainerSummary> = (1..=7)
            .map(|i| ContainerSummary {
                id: format!("c{i}-id"),
                networks: [("app".to_string(), String::new())].into(),
                ..Default::default()
            })
            .collect();
        let (left, failed) =
            rt().block_on(leave_unused(&fake, &proxy, &empty, &stopped, &mut state));
        assert_eq!((left, failed), (vec![], vec![]));
        assert_eq!(state.joined, ["app"]);
        assert_eq!(state.served["app"].len(), 7, "{:?}", state.served);
        // Removed: the network is left.
        let (left, failed) = rt().block_on(leave_unused(&fake, &proxy, &empty, &[], &mut state));
        assert_eq!((left, failed), (vec!["app".to_string()], vec![]));
        assert!(state.joined.is_empty());
        assert!(state.served.is_empty());
        assert!(fake.world().containers[&pid].networks.is_empty());
    }

    #[test]
    fn a_joined_network_is_kept_while_a_backend_once_routed_there_exists_on_it() {
        let on = |id: &str, nets: &[&str]| ContainerSummary {
            id: id.into(),
            networks: nets
                .iter()
                .map(|n| (n.to_string(), String::new()))
                .collect(),
            ..Default::default()
        };
        let web = model::tests::candidate("web", 1, &[]);
        let routed = model::build(std::slice::from_ref(&web), &Settings::default());
        let empty = model::build(&[], &Settings::default());
        let joined = vec!["app".to_string(), "other".to_string()];
        // (table, listing, what was served before, left, served after)
        type Served = BTreeMap<String, BTreeSet<String>>;
        let served = |pairs: &[(&str, &str)]| -> Served {
            let mut m = Served::new();
            for (n, id) in pairs {
                m.entry(n.to_string()).or_default().insert(id.to_string());
            }
            m
        };
        type Case<'a> = (
            &'a RouteTable,
            Vec<ContainerSummary>,
            Served,
            Vec<&'a str>,
            Served,
        );
        let cases: Vec<Case> = vec![
            // Routed now: kept, and remembered as served there.
            (
                &routed,
                vec![on("web-id", &["app"])],
                served(&[]),
                vec!["other"],
                served(&[("app", "web-id")]),
            ),
            // Stopped (no route), still on it: kept.
            (
                &empty,
                vec![on("web-id", &["app"])],
                served(&[("app", "web-id")]),
                vec!["other"],
                served(&[("app", "web-id")]),
            ),
            // Disconnected from it by hand: left.
            (
                &empty,
                vec![on("web-id", &["bridge"])],
                served(&[("app", "web-id")]),
                vec!["app", "other"],
                served(&[]),
            ),
            // Removed: left.
            (
                &empty,
                vec![],
                served(&[("app", "web-id")]),
                vec!["app", "other"],
                served(&[]),
            ),
            // Another container on the network, never routed: does not hold it.
            (
                &empty,
                vec![on("db-id", &["app"])],
                served(&[]),
                vec!["app", "other"],
                served(&[]),
            ),
        ];
        for (i, (table, listing, mut before, left, after)) in cases.into_iter().enumerate() {
            let got = to_leave(&joined, table, &listing, &mut before);
            assert_eq!(got, left, "case {i}");
            assert_eq!(before, after, "case {i}");
        }
    }

    fn seven_candidates_one_breaking() -> Vec<Candidate> {
        (1..=7)
            .map(|i| {
                let mut c = model::tests::candidate(&format!("c{i}"), i, &[]);
                if i == 5 {
                    c.labels
                        .insert("proxy.c5.host".into(), "bad.invalid".into());
                }
                c
            })
            .collect()
    }

    /// Applies `table` with `slot` as the proxy's session.
    async fn apply_over(
        fake: &Fake,
        proxy: &Proxy,
        table: &RouteTable,
        state: &mut ProxyState,
        slot: &mut Option<Session>,
    ) -> Outcome {
        let renderer = Renderer::new(ProxyEngine::Nginx, None).unwrap();
        let with = With {
            session: Some(slot),
            ..Default::default()
        };
        apply(fake, proxy, &renderer, table, state, with)
            .await
            .unwrap()
    }

    /// With an open session the candidates go over it (no exec, no upload, the bisection's
    /// checks aside); one that broke is dropped and the commit is an exec.
    #[test]
    fn commits_go_over_an_open_session_and_a_broken_one_falls_back_to_an_exec() {
        let fake = Fake::new();
        fake_engine(&fake);
        let pid = fake.run("proxy", &["80/tcp"], &[("docker-link.role", "proxy")]);
        let proxy = proxy_of(&fake, &pid);
        let served = session::tests::serve(&fake, "docker-link-session ready", |text| {
            match text.contains("bad.invalid") {
                true => (90, "nginx: [emerg] host not found in upstream".to_string()),
                false => (0, String::new()),
            }
        });
        let table = model::build(&seven_candidates_one_breaking(), &Settings::default());
        let mut state = ProxyState::default();
        rt().block_on(async {
            let mut slot = Some(Session::open(&fake, &proxy).await.unwrap());
            let before = fake.world().calls.len();
            let out = apply_over(&fake, &proxy, &table, &mut state, &mut slot).await;
            assert!(out.reloaded);
            assert_eq!(out.confirmed, Some(true));
            assert_eq!(out.routes, 6);
            assert_eq!(out.quarantined[0].route, "c5");
            assert!(slot.is_some());
            let seen = served.seen();
            // The whole candidate, then the one without the breaking route.
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert!(seen[0].contains("bad.invalid"));
            let last = &seen[1];
            let head = format!("{} {} {}\n", out.live.len(), proxy.config_path(), out.hash);
            assert_eq!(*last, format!("{head}{}", out.live));
            // The commits ran no exec; the bisection's checks did (upload and validate).
            let calls: Vec<String> = fake.world().calls[before..].to_vec();
            assert!(
                !calls.iter().any(|c| c.contains("docker-link-commit")),
                "{calls:?}"
            );

            let mut slot = Some(session::tests::gone().await);
            let before = fake.world().calls.len();
            let table = model::build(
                &[model::tests::candidate("c1", 1, &[])],
                &Settings::default(),
            );
            let out = apply_over(&fake, &proxy, &table, &mut state, &mut slot).await;
            assert!(out.reloaded);
            assert!(slot.is_none(), "the broken session is dropped");
            let execs: Vec<String> = fake.world().calls[before..]
                .iter()
                .filter(|c| c.contains("docker-link-commit"))
                .cloned()
                .collect();
            assert_eq!(execs.len(), 1, "{execs:?}");
            assert_eq!(
                fake.world().containers[&pid]
                    .files
                    .get(&proxy.config_path()),
                Some(&out.live.into_bytes())
            );
        });
    }

    #[test]
    fn an_image_without_head_cannot_hold_a_session() {
        let fake = Fake::new();
        let pid = fake.run("proxy", &["80/tcp"], &[("docker-link.role", "proxy")]);
        let proxy = proxy_of(&fake, &pid);
        session::tests::serve(
            &fake,
            "docker-link-session unsupported: the image has no head command",
            |_| (0, String::new()),
        );
        let err = rt().block_on(Session::open(&fake, &proxy)).unwrap_err();
        assert!(matches!(err, SessionError::Unsupported(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "the proxy's image cannot hold a session: the image has no head command"
        );
        // A command that could not run at all ends the stream at once.
        fake.world().attach = None;
        let err = rt().block_on(Session::open(&fake, &proxy)).unwrap_err();
        assert!(matches!(err, SessionError::Broken(_)), "{err}");
    }

    #[test]
    fn a_proxy_that_is_down_is_reported() {
        let fake = Fake::new();
        let pid = fake.run("proxy", &[], &[]);
        fake.stop_all();
        let proxy = proxy_of(&fake, &pid);
        let renderer = Renderer::new(ProxyEngine::Nginx, None).unwrap();
        let err = rt()
            .block_on(apply(
                &fake,
                &proxy,
                &renderer,
                &RouteTable::default(),
                &mut ProxyState::default(),
                With::default(),
            ))
            .unwrap_err();
        assert!(err.to_string().contains("is not running"));
    }

    /// The proxy killed while the commit's exec ran (137): reported as cut short, not as a
    /// configuration the engine refuses; the state keeps what was live.
    #[test]
    fn a_commit_cut_short_is_not_a_refused_configuration() {
        let fake = Fake::new();
        let handler = |_: &mut FakeContainer, _: &[String], _: &[String]| ExecOutput {
            code: 137,
            ..Default::default()
        };
        fake.world().exec = Some(ExecHandler(Arc::new(handler)));
        let pid = fake.run("proxy", &["80/tcp"], &[("docker-link.role", "proxy")]);
        let proxy = proxy_of(&fake, &pid);
        let renderer = Renderer::new(ProxyEngine::Nginx, None).unwrap();
        let table = model::build(
            &[model::tests::candidate("c1", 1, &[])],
            &Settings::default(),
        );
        let mut state = ProxyState::default();
        let err = rt()
            .block_on(apply(
                &fake,
                &proxy,
                &renderer,
                &table,
                &mut state,
                With::default(),
            ))
            .unwrap_err();
        assert!(
            matches!(err, ApplyError::Interrupted { code: 137, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "proxy p: committing the configuration was cut short (exit 137): the proxy stopped or was removed meanwhile"
        );
        assert_eq!(state.reloads, 0);
    }

    /// A proxy whose files could not be read is left out when it has stopped or gone since
    /// the listing; one that still runs keeps the error.
    #[test]
    fn a_proxy_gone_since_the_listing_is_left_out() {
        use crate::docker::engine::ContainerInfo;
        let info = |state| ContainerInfo {
            state: Some(state),
            ..Default::default()
        };
        let gone = EngineError::NotFound {
            what: "inspecting".into(),
            message: "no such container".into(),
        };
        let down = EngineError::Unavailable {
            what: "inspecting".into(),
            reason: "refused".into(),
        };
        assert_eq!(gone_since(Err(gone)), Some(State::Removing));
        assert_eq!(gone_since(Ok(info(State::Exited))), Some(State::Exited));
        assert_eq!(gone_since(Ok(info(State::Removing))), Some(State::Removing));
        assert_eq!(gone_since(Ok(info(State::Running))), None);
        assert_eq!(gone_since(Err(down)), None);
    }

    #[test]
    fn quantiles() {
        let mut s = ProxyState::default();
        for ms in 1..=300 {
            s.observe_latency(ms);
        }
        assert_eq!(s.latencies_ms.len(), LATENCIES_KEPT);
        assert_eq!(s.quantile(0.5), Some(172));
        assert_eq!(s.quantile(0.99), Some(298));
    }
}
