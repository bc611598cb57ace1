//! The registry: the graph's home on the daemon, as labels of a container, written by
//! compare-and-swap. A write creates the container of generation N+1 (the daemon's unique
//! container names let exactly one writer win), checks that no newer generation exists,
//! starts it (so `docker container prune` leaves it alone) and removes the older ones.
//! Readers take the highest generation. Everything is read with one container listing, which
//! also gives the live containers and their declared labels.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{CreateContainerOptions, ListContainersOptions};
use bollard::Docker;

use super::model::{Node, Stored, View};

/// Every container the plugin creates carries this label with its role.
pub const ROLE_LABEL: &str = "docker-link.role";
pub const REGISTRY_ROLE: &str = "registry";
pub const GENERATION_LABEL: &str = "docker-link.generation";
pub const GRAPH_LABEL: &str = "docker-link.graph";
/// Which registry (namespace) a registry container belongs to.
pub const NAMESPACE_LABEL: &str = "docker-link.registry";
/// The registry container's command: `docker-link __idle`.
pub const IDLE_ARG: &str = "__idle";
/// How long a writer keeps retrying when others win the race.
const WRITE_DEADLINE: Duration = Duration::from_secs(90);

/// The registry namespace: `DOCKER_LINK_REGISTRY`, else `default`. Separate namespaces are
/// separate graphs on one daemon (tests use their own).
pub fn namespace() -> String {
    std::env::var("DOCKER_LINK_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

fn container_name(ns: &str, generation: u64) -> String {
    if ns == "default" {
        format!("docker-link-registry-{generation}")
    } else {
        format!("docker-link-registry-{ns}-{generation}")
    }
}

/// The graph as read in one listing.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub generation: u64,
    pub stored: Stored,
    pub view: View,
    /// Registry containers of this namespace: `(generation, id)`.
    pub registries: Vec<(u64, String)>,
    /// The image of the newest registry container: the next generation reuses it rather
    /// than hash the binary again.
    pub image: Option<String>,
}

impl Snapshot {
    pub fn missing(&self) -> bool {
        self.registries.is_empty()
    }
}

/// Reads the graph: one `GET /containers/json?all=1`.
pub async fn load(docker: &Docker) -> anyhow::Result<Snapshot> {
    let ns = namespace();
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .context("listing containers")?;
    let mut nodes = Vec::new();
    let mut registries = Vec::new();
    let mut newest: Option<(u64, String)> = None;
    let mut image = None;
    for c in list {
        let labels: HashMap<String, String> = c.labels.unwrap_or_default();
        let id = c.id.unwrap_or_default();
        match labels.get(ROLE_LABEL).map(String::as_str) {
            Some(REGISTRY_ROLE) => {
                if labels.get(NAMESPACE_LABEL).map(String::as_str) != Some(ns.as_str()) {
                    continue;
                }
                let Some(generation) = labels.get(GENERATION_LABEL).and_then(|g| g.parse().ok())
                else {
                    continue;
                };
                registries.push((generation, id));
                if newest.as_ref().is_none_or(|(g, _)| generation > *g) {
                    image = c.image_id.clone().filter(|i| !i.is_empty());
                    newest = Some((
                        generation,
                        labels.get(GRAPH_LABEL).cloned().unwrap_or_default(),
                    ));
                }
            }
            // The plugin's own machinery (watcher, proxies) has no names to give.
            Some(_) => {}
            None => nodes.push(Node {
                id,
                names: c
                    .names
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| n.trim_start_matches('/').to_string())
                    .collect(),
                image: c.image.unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                labels,
            }),
        }
    }
    let (generation, stored) = match newest {
        Some((g, json)) => (
            g,
            Stored::parse(&json)
                .with_context(|| format!("reading the registry {}", container_name(&ns, g)))?,
        ),
        None => (0, Stored::new()),
    };
    let view = View::build(nodes, &stored);
    Ok(Snapshot {
        generation,
        stored,
        view,
        registries,
        image,
    })
}

/// Why a write did not land.
enum WriteError {
    /// Another writer won this generation: re-read and retry.
    Lost,
    Failed(anyhow::Error),
}

/// Reads, applies `change` to a copy of the stored graph, and writes it back by
/// compare-and-swap, retrying on a lost race with a fresh read. `change` sees the current
/// view and may refuse by returning an error, which ends the update with nothing written.
/// Returns what `change` returned and the snapshot it was applied to. `first` is a snapshot
/// the caller has just read: the first attempt uses it instead of reading again (a stale one
/// only costs a lost race).
pub async fn update<T>(
    docker: &Docker,
    mut first: Option<Snapshot>,
    mut change: impl FnMut(&mut Stored, &View) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Snapshot)> {
    let started = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        let snap = match first.take() {
            Some(snap) => snap,
            None => load(docker).await?,
        };
        let mut next = snap.stored.clone();
        // graphdb purges a removed container's edges; we do it lazily, on every write.
        next.purge(&|id| snap.view.nodes.contains_key(id));
        let out = change(&mut next, &snap.view)?;
        if next == snap.stored && !snap.missing() {
            return Ok((out, snap));
        }
        match write(docker, &snap, &next).await {
            Ok(()) => return Ok((out, snap)),
            Err(WriteError::Failed(e)) => return Err(e),
            Err(WriteError::Lost) => {
                attempt += 1;
                if started.elapsed() > WRITE_DEADLINE {
                    anyhow::bail!(
                        "the registry is too busy: gave up after {attempt} attempts in {}s",
                        WRITE_DEADLINE.as_secs()
                    );
                }
                // Jittered backoff so that a crowd of writers spreads out.
                let jitter = u64::from(std::process::id() % 17) + u64::from(attempt.min(8)) * 7;
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
        }
    }
}

async fn write(docker: &Docker, snap: &Snapshot, next: &Stored) -> Result<(), WriteError> {
    let ns = namespace();
    let generation = snap.generation + 1;
    let name = container_name(&ns, generation);
    let image = match &snap.image {
        Some(image) => image.clone(),
        None => crate::docker::self_image::ensure_self_image(docker)
            .await
            .context("preparing the registry image")
            .map_err(WriteError::Failed)?,
    };
    let labels = HashMap::from([
        (ROLE_LABEL.to_string(), REGISTRY_ROLE.to_string()),
        (NAMESPACE_LABEL.to_string(), ns.clone()),
        (GENERATION_LABEL.to_string(), generation.to_string()),
        (GRAPH_LABEL.to_string(), next.to_json()),
    ]);
    let body = ContainerCreateBody {
        image: Some(image),
        // The self image's entrypoint is the binary itself.
        cmd: Some(vec![IDLE_ARG.to_string()]),
        labels: Some(labels),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            network_mode: Some("none".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                platform: String::new(),
            }),
            body,
        )
        .await;
    let id = match created {
        Ok(r) => r.id,
        // The daemon's unique names make exactly one writer of a generation win.
        Err(e) if crate::docker::status(&e) == Some(409) => return Err(WriteError::Lost),
        Err(e) => {
            return Err(WriteError::Failed(
                anyhow::Error::new(e).context(format!("writing the registry {name}")),
            ))
        }
    };
    // A generation's name is free again once it was superseded and removed; a writer that
    // read before that must not slip in under the newest one.
    let newer = list_generations(docker, &ns)
        .await
        .map_err(WriteError::Failed)?
        .into_iter()
        .any(|(g, _)| g > generation);
    if newer {
        let _ = crate::docker::remove_container(docker, &id).await;
        return Err(WriteError::Lost);
    }
    let start = async {
        docker
            .start_container(
                &id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .with_context(|| format!("starting the registry {name}"))
    };
    let cleanup = async {
        for (_, old) in &snap.registries {
            if let Err(e) = crate::docker::remove_container(docker, old).await {
                tracing::debug!("removing an old registry generation: {e}");
            }
        }
    };
    let (started, ()) = tokio::join!(start, cleanup);
    // The labels are written: the graph is safe even if the start failed. Say so, and go on.
    if let Err(e) = started {
        crate::output::warn(&format!("{e:#}"));
    }
    tracing::debug!("wrote the registry {name}");
    Ok(())
}

async fn list_generations(docker: &Docker, ns: &str) -> anyhow::Result<Vec<(u64, String)>> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![
            format!("{ROLE_LABEL}={REGISTRY_ROLE}"),
            format!("{NAMESPACE_LABEL}={ns}"),
        ],
    )]);
    let list = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .context("listing registry generations")?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let g = c.labels?.get(GENERATION_LABEL)?.parse().ok()?;
            Some((g, c.id?))
        })
        .collect())
}

/// Removes every generation but the newest (`docker link prune`); returns how many.
pub async fn prune_generations(docker: &Docker) -> anyhow::Result<usize> {
    let ns = namespace();
    let mut gens = list_generations(docker, &ns).await?;
    gens.sort();
    gens.pop();
    for (_, id) in &gens {
        crate::docker::remove_container(docker, id)
            .await
            .context("removing an old registry generation")?;
    }
    Ok(gens.len())
}
