//! The real daemon behind the [`Engine`] seam: bollard over our own transports, with every
//! bollard error mapped here, once, into [`EngineError`]. The container listing, which every
//! command and every `docker ls` pays for, is a lean request of our own: it reads only the
//! fields the core uses and the daemon's `Date` header.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, Mount, MountType,
    NetworkConnectRequest, NetworkDisconnectRequest, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, DownloadFromContainerOptions, InspectContainerOptions,
    InspectNetworkOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions,
    StartContainerOptions, UploadToContainerOptions,
};
use bollard::{ClientVersion, Docker};
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use hyper::body::Bytes;

use super::engine::{
    Attach, ContainerInfo, ContainerSpec, ContainerSummary, DaemonInfo, Endpoint, Engine,
    EngineError, Event, EventFilter, Events, ExecOutput, Labels, ListFilter, Listing, NetworkInfo,
    NetworkSpec, Result, State, VolumeInfo,
};
use super::stream::ExecStream;
use super::transport::HttpClient;

/// How long one request of our own may take (bollard's have their own timeout).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A connected daemon.
#[derive(Clone)]
pub struct Daemon {
    docker: Docker,
    http: HttpClient,
    version: ClientVersion,
    /// The static binary for the self image, when the configuration names one.
    static_bin: Option<PathBuf>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Daemon(API {}.{})",
            self.version.major_version, self.version.minor_version
        )
    }
}

impl Daemon {
    pub(crate) fn new(
        docker: Docker,
        http: HttpClient,
        version: ClientVersion,
        static_bin: Option<PathBuf>,
    ) -> Daemon {
        Daemon {
            docker,
            http,
            version,
            static_bin,
        }
    }

    /// bollard itself, for the calls outside the seam (image import, the doctor's version).
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The negotiated API version, `1.41`.
    pub fn api_version(&self) -> String {
        format!(
            "{}.{}",
            self.version.major_version, self.version.minor_version
        )
    }

    /// The static binary that goes into containers: read and hashed (several MB) once per
    /// process, off the async threads.
    pub async fn static_binary(&self) -> anyhow::Result<&'static super::self_image::StaticBinary> {
        let path = self.static_bin.clone();
        let found =
            tokio::task::spawn_blocking(move || super::self_image::static_binary(path.as_deref()))
                .await
                .map_err(|e| anyhow::anyhow!("reading the static binary: {e}"))?;
        Ok(found?)
    }

    /// A GET of our own, versioned like bollard's: the body and the daemon's clock.
    async fn get(&self, what: &str, path_and_query: &str) -> Result<(Bytes, Option<i64>)> {
        self.request(what, hyper::Method::GET, path_and_query, None)
            .await
    }

    /// A request of our own, versioned like bollard's, with an optional JSON body.
    async fn request(
        &self,
        what: &str,
        method: hyper::Method,
        path_and_query: &str,
        json: Option<serde_json::Value>,
    ) -> Result<(Bytes, Option<i64>)> {
        let resp = self.send(what, method, path_and_query, json, false).await?;
        let date = resp
            .headers()
            .get(hyper::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(super::clock::http_date);
        let status = resp.status().as_u16();
        let body = Self::body(what, resp).await?;
        if !(200..300).contains(&status) {
            return Err(Self::refusal(what, status, &body));
        }
        Ok((body, date))
    }

    /// Sends a request of our own; `upgrade` asks the daemon to hand the connection over
    /// (`101 UPGRADED`, as `docker exec -i` does).
    async fn send(
        &self,
        what: &str,
        method: hyper::Method,
        path_and_query: &str,
        json: Option<serde_json::Value>,
        upgrade: bool,
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let uri = format!("http://docker/v{}{path_and_query}", self.api_version());
        let mut builder = hyper::Request::builder().method(method).uri(uri);
        if upgrade {
            builder = builder
                .header(hyper::header::CONNECTION, "Upgrade")
                .header(hyper::header::UPGRADE, "tcp");
        }
        let body = match json {
            Some(v) => {
                builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = builder
            .body(bollard::body_full(body))
            .map_err(|e| other(what, None, e.to_string()))?;
        tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(req))
            .await
            .map_err(|_| unavailable(what, "no answer within 120s"))?
            .map_err(|e| unavailable(what, &super::describe(&e)))
    }

    async fn body(what: &str, resp: hyper::Response<hyper::body::Incoming>) -> Result<Bytes> {
        Ok(resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unavailable(what, &e.to_string()))?
            .to_bytes())
    }

    /// The error an answer other than 2xx means (its JSON `message`, else its text).
    fn refusal(what: &str, status: u16, body: &[u8]) -> EngineError {
        #[derive(serde::Deserialize)]
        struct Message {
            message: Option<String>,
        }
        let message = serde_json::from_slice::<Message>(body)
            .ok()
            .and_then(|m| m.message)
            .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
        classify(what, Some(status), message)
    }

    /// Creates an exec of `cmd` as root (whatever the image's user: the files we touch are
    /// root's) and returns its id.
    async fn create_exec(
        &self,
        what: &str,
        id: &str,
        cmd: &[String],
        env: &[String],
        stdin: bool,
    ) -> Result<String> {
        let (created, _) = self
            .request(
                what,
                hyper::Method::POST,
                &format!("/containers/{id}/exec"),
                Some(serde_json::json!({
                    "AttachStdin": stdin,
                    "AttachStdout": true,
                    "AttachStderr": true,
                    "User": "0",
                    "Cmd": cmd,
                    "Env": env,
                })),
            )
            .await?;
        #[derive(serde::Deserialize)]
        struct Created {
            #[serde(rename = "Id")]
            id: String,
        }
        let exec: Created =
            serde_json::from_slice(&created).map_err(|e| other(what, None, e.to_string()))?;
        Ok(exec.id)
    }
}

/// The one place that reads a daemon's answer for what it means.
fn classify(what: &str, status: Option<u16>, message: String) -> EngineError {
    let what = what.to_string();
    // 20.10 answers an overlapping subnet with 403 "Pool overlaps with other one on this
    // address space", 28 with 400 "invalid pool request: Pool overlaps …".
    if message.contains("overlaps") {
        return EngineError::Overlap { what, message };
    }
    match status {
        Some(404) => EngineError::NotFound { what, message },
        Some(409) => EngineError::Conflict { what, message },
        _ => EngineError::Other {
            what,
            status,
            message,
        },
    }
}

/// What an exec is doing, for its errors.
fn running(cmd: &[String], id: &str) -> String {
    format!(
        "running {} in container {}",
        cmd.first().map_or("", String::as_str),
        short(id)
    )
}

fn other(what: &str, status: Option<u16>, message: String) -> EngineError {
    EngineError::Other {
        what: what.to_string(),
        status,
        message,
    }
}

fn unavailable(what: &str, reason: &str) -> EngineError {
    EngineError::Unavailable {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

/// Maps a bollard error for the operation `what`.
pub(crate) fn map(what: &str, e: bollard::errors::Error) -> EngineError {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError {
            status_code,
            message,
        } => classify(what, Some(status_code), message),
        B::HyperLegacyError { .. } | B::IOError { .. } | B::RequestTimeoutError => {
            unavailable(what, &super::describe(&e))
        }
        e => other(what, None, e.to_string()),
    }
}

/// `?filters=` of a container listing, URL-encoded.
fn filters(f: &ListFilter) -> Option<String> {
    let mut map = serde_json::Map::new();
    for (key, values) in [("label", &f.labels), ("name", &f.names), ("id", &f.ids)] {
        if !values.is_empty() {
            map.insert(key.into(), serde_json::json!(values));
        }
    }
    if let Some(n) = &f.network {
        map.insert("network".into(), serde_json::json!([n]));
    }
    (!map.is_empty()).then(|| percent_encode(&serde_json::Value::Object(map).to_string()))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn label_map(labels: &[String]) -> Option<HashMap<String, Vec<String>>> {
    (!labels.is_empty()).then(|| HashMap::from([("label".to_string(), labels.to_vec())]))
}

/// The listing's fields the core reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawSummary {
    id: String,
    names: Option<Vec<String>>,
    image: Option<String>,
    #[serde(rename = "ImageID")]
    image_id: Option<String>,
    state: Option<String>,
    labels: Option<HashMap<String, String>>,
    created: Option<i64>,
    mounts: Option<Vec<RawMount>>,
    status: Option<String>,
    ports: Option<Vec<RawPort>>,
    network_settings: Option<RawNetworkSettings>,
    host_config: Option<RawHostConfig>,
}

#[derive(serde::Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
struct RawMount {
    #[serde(rename = "Type")]
    kind: Option<String>,
    name: Option<String>,
    destination: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawPort {
    #[serde(rename = "PrivatePort")]
    private: Option<u16>,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetworkSettings {
    networks: Option<HashMap<String, RawNetwork>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetwork {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawHostConfig {
    network_mode: Option<String>,
}

/// `docker run -p` values as the API's port bindings (`80/tcp` → host IP and port).
fn publish_bindings(
    publish: &[String],
) -> Option<HashMap<String, Option<Vec<bollard::models::PortBinding>>>> {
    let mut map: HashMap<String, Option<Vec<bollard::models::PortBinding>>> = HashMap::new();
    for p in publish {
        let (spec, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
        let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
        let (container, host_port, host_ip) = match parts.as_slice() {
            [c] => (*c, "", ""),
            [c, h] => (*c, *h, ""),
            [c, h, ip] => (*c, *h, *ip),
            _ => continue,
        };
        map.entry(format!("{container}/{proto}"))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(bollard::models::PortBinding {
                host_ip: (!host_ip.is_empty()).then(|| host_ip.to_string()),
                host_port: Some(host_port.to_string()),
            });
    }
    (!map.is_empty()).then_some(map)
}

/// The health in a listing's status text: `Up 3 minutes (healthy)`.
fn health_of(status: &str) -> String {
    for h in ["unhealthy", "healthy", "health: starting"] {
        if status.contains(&format!("({h})")) {
            return h.trim_start_matches("health: ").to_string();
        }
    }
    String::new()
}

fn endpoint_of(e: EndpointSettings, short: &str) -> Endpoint {
    Endpoint {
        ip: e.ip_address.unwrap_or_default(),
        aliases: e
            .aliases
            .unwrap_or_default()
            .into_iter()
            // The engine adds the container's short id as an alias of its own.
            .filter(|a| a != short)
            .collect(),
        static_ip: e
            .ipam_config
            .and_then(|c| c.ipv4_address)
            .and_then(|a| a.parse().ok()),
    }
}

impl Engine for Daemon {
    async fn list_containers(&self, filter: &ListFilter) -> Result<Listing> {
        let what = "listing containers";
        let mut path = "/containers/json?all=1".to_string();
        if let Some(f) = filters(filter) {
            path.push_str("&filters=");
            path.push_str(&f);
        }
        let (body, server_time) = self.get(what, &path).await?;
        let raw: Vec<RawSummary> =
            serde_json::from_slice(&body).map_err(|e| other(what, None, e.to_string()))?;
        let containers = raw
            .into_iter()
            .map(|c| ContainerSummary {
                id: c.id,
                names: c
                    .names
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .collect(),
                image: c.image.unwrap_or_default(),
                image_id: c.image_id.unwrap_or_default(),
                state: State::parse(c.state.as_deref().unwrap_or_default()),
                labels: c.labels.unwrap_or_default().into_iter().collect(),
                created: c.created.unwrap_or_default(),
                volumes: c
                    .mounts
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|m| m.kind.as_deref() == Some("volume"))
                    .filter_map(|m| m.name)
                    .collect(),
                mount_points: c
                    .mounts
                    .iter()
                    .flatten()
                    .filter_map(|m| m.destination.clone())
                    .collect(),
                tcp_ports: {
                    let mut p: Vec<u16> = c
                        .ports
                        .iter()
                        .flatten()
                        .filter(|p| p.kind.as_deref().is_none_or(|k| k == "tcp"))
                        .filter_map(|p| p.private)
                        .collect();
                    p.sort_unstable();
                    p.dedup();
                    p
                },
                networks: c
                    .network_settings
                    .and_then(|n| n.networks)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, n)| (name, n.ip_address.unwrap_or_default()))
                    .collect(),
                network_mode: c
                    .host_config
                    .and_then(|h| h.network_mode)
                    .unwrap_or_default(),
                health: health_of(c.status.as_deref().unwrap_or_default()),
            })
            .collect();
        Ok(Listing {
            containers,
            server_time,
        })
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo> {
        let what = format!("inspecting container {}", short(id));
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| map(&what, e))?;
        let full = info.id.clone().unwrap_or_default();
        let state = info.state.unwrap_or_default();
        let config = info.config.unwrap_or_default();
        let networks = info
            .network_settings
            .and_then(|s| s.networks)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, e)| (name, endpoint_of(e, short(&full))))
            .collect();
        Ok(ContainerInfo {
            name: info
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            id: full,
            state: state.status.map(|s| State::parse(s.as_ref())),
            pid: state.pid.unwrap_or_default(),
            started_at: state.started_at.unwrap_or_default(),
            error: state.error.unwrap_or_default(),
            exit_code: state.exit_code.unwrap_or_default(),
            image: config.image.unwrap_or_default(),
            env: config.env.unwrap_or_default(),
            exposed_ports: config.exposed_ports.unwrap_or_default(),
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            networks,
            network_mode: info
                .host_config
                .and_then(|h| h.network_mode)
                .unwrap_or_default(),
        })
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let what = format!("creating container {}", spec.name);
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            exposed_ports: publish_bindings(&spec.publish)
                .map(|b| b.into_keys().collect::<Vec<String>>()),
            network_disabled: spec.no_network.then_some(true),
            host_config: Some(HostConfig {
                restart_policy: spec.keep_running.then_some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                network_mode: if spec.no_network {
                    Some("none".to_string())
                } else {
                    spec.host_network.then(|| "host".to_string())
                },
                binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
                cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
                pid_mode: spec.pid_host.then(|| "host".to_string()),
                port_bindings: publish_bindings(&spec.publish),
                sysctls: (!spec.sysctls.is_empty())
                    .then(|| spec.sysctls.clone().into_iter().collect()),
                mounts: spec.volume.as_ref().map(|(name, target)| {
                    vec![Mount {
                        typ: Some(MountType::VOLUME),
                        source: Some(name.clone()),
                        target: Some(target.clone()),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(spec.name.clone()),
                    platform: String::new(),
                }),
                body,
            )
            .await
            .map_err(|e| map(&what, e))?;
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let what = format!("starting container {}", short(id));
        match self
            .docker
            .start_container(id, None::<StartContainerOptions>)
            .await
        {
            // 304: it was running already.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            other => other.map_err(|e| map(&what, e)),
        }
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<()> {
        let what = format!("removing container {}", short(id));
        self.docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| map(&what, e))
    }

    async fn get_archive(&self, id: &str, path: &str) -> Result<Vec<u8>> {
        let what = format!("reading {path} of container {}", short(id));
        let chunks: Vec<Bytes> = self
            .docker
            .download_from_container(
                id,
                Some(DownloadFromContainerOptions {
                    path: path.to_string(),
                }),
            )
            .try_collect()
            .await
            .map_err(|e| map(&what, e))?;
        Ok(chunks.concat())
    }

    async fn put_archive(&self, id: &str, path: &str, tar: Vec<u8>) -> Result<()> {
        let what = format!("writing into {path} of container {}", short(id));
        self.docker
            .upload_to_container(
                id,
                Some(UploadToContainerOptions {
                    path: path.to_string(),
                    ..Default::default()
                }),
                bollard::body_full(Bytes::from(tar)),
            )
            .await
            .map_err(|e| map(&what, e))
    }

    async fn exec_env(&self, id: &str, cmd: &[String], env: &[String]) -> Result<ExecOutput> {
        let what = running(cmd, id);
        let exec = self.create_exec(&what, id, cmd, env, false).await?;
        // Without an Upgrade header the daemon answers 200 and streams the multiplexed output
        // until the command ends, then closes: one plain request, no hijacked connection.
        let (raw, _) = self
            .request(
                &what,
                hyper::Method::POST,
                &format!("/exec/{exec}/start"),
                Some(serde_json::json!({"Detach": false, "Tty": false})),
            )
            .await?;
        let (stdout, stderr) = super::stream::demux(&raw);
        #[derive(serde::Deserialize)]
        struct Inspected {
            #[serde(rename = "ExitCode")]
            code: Option<i64>,
            #[serde(rename = "Running")]
            running: Option<bool>,
        }
        // The exit code is set a moment after the stream ends.
        for _ in 0..50 {
            let (body, _) = self.get(&what, &format!("/exec/{exec}/json")).await?;
            let i: Inspected =
                serde_json::from_slice(&body).map_err(|e| other(&what, None, e.to_string()))?;
            if i.running != Some(true) {
                return Ok(ExecOutput {
                    code: i.code.unwrap_or(-1),
                    stdout,
                    stderr,
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(other(&what, None, "the command did not end".into()))
    }

    async fn exec_attach(&self, id: &str, cmd: &[String]) -> Result<ExecStream> {
        let what = running(cmd, id);
        let exec = self.create_exec(&what, id, cmd, &[], true).await?;
        let resp = self
            .send(
                &what,
                hyper::Method::POST,
                &format!("/exec/{exec}/start"),
                Some(serde_json::json!({"Detach": false, "Tty": false})),
                true,
            )
            .await?;
        let status = resp.status().as_u16();
        if status != 101 {
            let body = Self::body(&what, resp).await?;
            return Err(match status {
                200..=299 => other(&what, Some(status), "the daemon kept the connection".into()),
                _ => Self::refusal(&what, status, &body),
            });
        }
        let io = hyper::upgrade::on(resp)
            .await
            .map_err(|e| unavailable(&what, &e.to_string()))?;
        Ok(ExecStream::new(
            Box::new(hyper_util::rt::TokioIo::new(io)),
            true,
        ))
    }

    async fn list_networks(&self, labels: &[String]) -> Result<Vec<NetworkInfo>> {
        let nets = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: label_map(labels),
            }))
            .await
            .map_err(|e| map("listing networks", e))?;
        Ok(nets
            .into_iter()
            .map(|n| NetworkInfo {
                bridge: bridge_name(n.options.as_ref()),
                ..network_of(
                    n.id,
                    n.name,
                    n.labels,
                    n.created.map(|c| c.to_string()),
                    n.internal,
                    n.ipam,
                    None,
                )
            })
            .collect())
    }

    async fn inspect_network(&self, name: &str) -> Result<NetworkInfo> {
        let what = format!("inspecting network {name}");
        let n = self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
            .map_err(|e| map(&what, e))?;
        Ok(NetworkInfo {
            bridge: bridge_name(n.options.as_ref()),
            ..network_of(
                n.id,
                n.name,
                n.labels,
                n.created.map(|c| c.to_string()),
                n.internal,
                n.ipam,
                n.containers,
            )
        })
    }

    async fn create_network(&self, spec: &NetworkSpec) -> Result<()> {
        let what = format!("creating network {} ({})", spec.name, spec.subnet);
        // Our own request: bollard's model (API 1.53) has no `CheckDuplicate`, which API 1.41
        // needs to refuse a second network of the same name (newer engines always refuse).
        let body = serde_json::json!({
            "Name": spec.name,
            "CheckDuplicate": true,
            "Driver": "bridge",
            "Internal": spec.internal,
            "IPAM": {
                "Driver": "default",
                "Config": [{ "Subnet": spec.subnet, "Gateway": spec.gateway }],
            },
            "Labels": spec.labels,
        });
        self.request(&what, hyper::Method::POST, "/networks/create", Some(body))
            .await
            .map(|_| ())
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        let what = format!("removing network {name}");
        self.docker
            .remove_network(name)
            .await
            .map_err(|e| map(&what, e))
    }

    async fn connect(&self, network: &str, container: &str, attach: &Attach) -> Result<()> {
        let what = format!("connecting {} to {network}", short(container));
        let settings = EndpointSettings {
            aliases: (!attach.aliases.is_empty()).then(|| attach.aliases.clone()),
            ipam_config: attach.ipv4.map(|ip| EndpointIpamConfig {
                ipv4_address: Some(ip.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.docker
            .connect_network(
                network,
                NetworkConnectRequest {
                    container: container.to_string(),
                    endpoint_config: Some(settings),
                },
            )
            .await
            .map_err(|e| map(&what, e))
    }

    async fn disconnect(&self, network: &str, container: &str) -> Result<()> {
        let what = format!("disconnecting {} from {network}", short(container));
        self.docker
            .disconnect_network(
                network,
                NetworkDisconnectRequest {
                    container: container.to_string(),
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| map(&what, e))
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<()> {
        let what = format!("creating volume {name}");
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.to_string()),
                labels: Some(labels.clone().into_iter().collect()),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| map(&what, e))
    }

    async fn list_volumes(&self, labels: &[String]) -> Result<Vec<VolumeInfo>> {
        let list = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: label_map(labels),
            }))
            .await
            .map_err(|e| map("listing volumes", e))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeInfo {
                name: v.name,
                labels: v.labels.into_iter().collect(),
                created_at: v.created_at,
            })
            .collect())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        let what = format!("removing volume {name}");
        self.docker
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
            .map_err(|e| map(&what, e))
    }

    async fn self_image(&self) -> anyhow::Result<String> {
        let t0 = std::time::Instant::now();
        let bin = self.static_binary().await?;
        tracing::debug!(
            "hashed the static binary in {} ms",
            t0.elapsed().as_millis()
        );
        let tag = super::self_image::self_image_tag();
        super::self_image::ensure_image_of(self, bin, &tag).await?;
        Ok(tag)
    }

    async fn empty_image(&self) -> anyhow::Result<String> {
        Ok(super::self_image::ensure_empty_image(&self.docker).await?)
    }

    async fn info(&self) -> Result<DaemonInfo> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| map("reading the daemon's info", e))?;
        Ok(DaemonInfo {
            id: info.id.unwrap_or_default(),
            version: info.server_version.unwrap_or_default(),
        })
    }

    fn events(&self, filter: &EventFilter) -> Events {
        use futures_util::StreamExt;
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        for (key, values) in [
            ("type", &filter.kinds),
            ("label", &filter.labels),
            ("event", &filter.actions),
        ] {
            if !values.is_empty() {
                filters.insert(key.to_string(), values.clone());
            }
        }
        let options = bollard::query_parameters::EventsOptions {
            since: filter.since.map(|s| s.to_string()),
            until: None,
            filters: (!filters.is_empty()).then_some(filters),
        };
        self.docker
            .events(Some(options))
            .map(|item| {
                let m = item.map_err(|e| map("reading the daemon's events", e))?;
                let actor = m.actor.unwrap_or_default();
                Ok(Event {
                    kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
                    action: m.action.unwrap_or_default(),
                    id: actor.id.unwrap_or_default(),
                    attributes: actor.attributes.unwrap_or_default().into_iter().collect(),
                    time_nano: m.time_nano.unwrap_or_default(),
                })
            })
            .boxed()
    }
}

/// The fields the core reads of a network, from a listing or an inspect (bollard has one
/// model for each).
fn network_of(
    id: Option<String>,
    name: Option<String>,
    labels: Option<HashMap<String, String>>,
    created: Option<String>,
    internal: Option<bool>,
    ipam: Option<Ipam>,
    containers: Option<HashMap<String, bollard::models::EndpointResource>>,
) -> NetworkInfo {
    NetworkInfo {
        bridge: None,
        id: id.unwrap_or_default(),
        name: name.unwrap_or_default(),
        labels: labels.unwrap_or_default().into_iter().collect(),
        created,
        internal: internal.unwrap_or_default(),
        subnets: ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| c.subnet)
            .collect(),
        members: containers
            .unwrap_or_default()
            .into_iter()
            .map(|(id, c)| {
                let ip = c
                    .ipv4_address
                    .unwrap_or_default()
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                (id, super::engine::Member { ip })
            })
            .collect(),
    }
}

/// A bridge network's interface name when its options set one (`docker0`).
fn bridge_name(options: Option<&HashMap<String, String>>) -> Option<String> {
    options?.get("com.docker.network.bridge.name").cloned()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_once() {
        type Check = fn(&EngineError) -> bool;
        let cases: &[(Option<u16>, &str, Check)] = &[
            (Some(404), "No such container: x", EngineError::is_not_found),
            (
                Some(409),
                "Conflict. The container name \"/a\" is already in use",
                EngineError::is_conflict,
            ),
            (
                Some(403),
                "Pool overlaps with other one on this address space",
                EngineError::is_overlap,
            ),
            (
                Some(400),
                "invalid pool request: Pool overlaps with other one on this address space",
                EngineError::is_overlap,
            ),
            (Some(500), "boom", |e| {
                matches!(
                    e,
                    EngineError::Other {
                        status: Some(500),
                        ..
                    }
                )
            }),
        ];
        for (status, message, want) in cases {
            let e = classify("doing", *status, message.to_string());
            assert!(want(&e), "{status:?} {message}: {e:?}");
            assert_eq!(e.to_string(), format!("doing: {message}"));
        }
    }

    #[test]
    fn filters_are_url_encoded() {
        let f = |labels: &[&str], network: Option<&str>| ListFilter {
            labels: labels.iter().map(|s| s.to_string()).collect(),
            network: network.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(filters(&f(&[], None)), None);
        assert_eq!(
            filters(&f(&["docker-link.role=registry"], None)).unwrap(),
            "%7B%22label%22%3A%5B%22docker-link.role%3Dregistry%22%5D%7D"
        );
        assert_eq!(
            filters(&f(&[], Some("n"))).unwrap(),
            "%7B%22network%22%3A%5B%22n%22%5D%7D"
        );
    }
}
