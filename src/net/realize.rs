//! One reconcile of a project: its running containers (from the daemon) and their
//! namespaces, then desire, observe, plan and apply. `docker net up` and the watcher's net
//! duty both call it.

use super::config::NetConfig;
use super::kernel;
use super::plan::{desire, plan};

/// The project's running containers and the containers the configuration names, with
/// their network namespaces; errors for those whose namespace cannot be opened.
pub(crate) struct Running {
    pub(crate) instances: Vec<crate::net::plan::Instance>,
    pub(crate) namespaces: std::collections::BTreeMap<String, crate::sys::netns::NetNs>,
    pub(crate) errors: Vec<String>,
}

pub(crate) async fn running<E: crate::docker::engine::Engine>(
    daemon: &E,
    project: &str,
    config: &NetConfig,
) -> Result<Running, crate::docker::engine::EngineError> {
    use crate::docker::engine::{ListFilter, State};
    use crate::sys::netns::NetNs;
    let mut listing = daemon
        .list_containers(&ListFilter {
            labels: vec![format!("{}={project}", crate::labels::COMPOSE_PROJECT)],
            ..Default::default()
        })
        .await?
        .containers;
    let names: Vec<String> = config
        .links
        .iter()
        .filter_map(|l| l.container.clone())
        .collect();
    if !names.is_empty() {
        listing.extend(
            daemon
                .list_containers(&ListFilter {
                    names: names.iter().map(|n| format!("^/{n}$")).collect(),
                    ..Default::default()
                })
                .await?
                .containers,
        );
    }
    let mut out = Running {
        instances: Vec::new(),
        namespaces: Default::default(),
        errors: Vec::new(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for c in listing {
        if c.state != State::Running || !seen.insert(c.id.clone()) {
            continue;
        }
        let info = match daemon.inspect_container(&c.id).await {
            Ok(i) => i,
            // Gone between the listing and now.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let pid = u32::try_from(info.pid).unwrap_or(0);
        match NetNs::by_pid(pid) {
            Ok(ns) => {
                out.namespaces.insert(info.id.clone(), ns);
            }
            Err(e @ crate::sys::netns::NetnsError::Gone { .. }) => {
                out.errors.push(format!(
                    "container {}: {e} here (its process is in another PID namespace than this one, or it just stopped)",
                    info.name
                ));
                continue;
            }
            Err(e) => {
                out.errors.push(format!("container {}: {e}", info.name));
                continue;
            }
        }
        let in_project = info
            .labels
            .get(crate::labels::COMPOSE_PROJECT)
            .map(String::as_str)
            == Some(project);
        let service = info
            .labels
            .get(crate::labels::COMPOSE_SERVICE)
            .filter(|_| in_project)
            .map(|s| {
                let k = info
                    .labels
                    .get(crate::labels::COMPOSE_NUMBER)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                (s.clone(), k)
            });
        out.instances.push(crate::net::plan::Instance {
            id: info.id.clone(),
            name: info.name.clone(),
            service,
        });
    }
    Ok(out)
}

/// What one reconcile did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) made_switch: bool,
    /// Links of running containers, wired or kept.
    pub(crate) wired: usize,
    pub(crate) changes: usize,
    /// Declared links with no running container.
    pub(crate) waiting: usize,
    /// Every failure, naming its object.
    pub(crate) errors: Vec<String>,
}

/// Brings the kernel to what `config` asks for the containers in `run` (blocking: the
/// kernel work runs on `sys::netns` threads).
pub(crate) fn reconcile(
    project: &str,
    config: &NetConfig,
    mut run: Running,
) -> Result<Outcome, crate::sys::netns::NetnsError> {
    let (switch, made_switch) =
        crate::sys::pinned::open_or_create(&kernel::switch_ns_name(project))?;
    let (desired, unwired) = desire(project, config, &run.instances);
    for u in &unwired {
        run.errors
            .push(format!("container {} {}: {}", u.container, u.dev, u.reason));
    }
    let observed = match kernel::observe(Some(&switch), &run.namespaces) {
        Ok(o) => o,
        Err(e) => {
            run.errors.push(e);
            return Ok(Outcome {
                made_switch,
                errors: run.errors,
                ..Default::default()
            });
        }
    };
    let (actions, conflicts) = plan(&desired, &observed);
    run.errors.extend(conflicts);
    let underlay = crate::sys::netns::NetNs::current()?;
    let applied = kernel::apply(&underlay, &switch, &run.namespaces, &actions);
    run.errors.extend(applied.errors);
    // Waiting links depend on the containers only, not on what the kernel holds.
    let rows = super::status::rows(
        config,
        &desired,
        &unwired,
        &super::plan::Observed::default(),
        &run.instances,
    );
    Ok(Outcome {
        made_switch,
        wired: desired.veths.len(),
        changes: applied.done,
        waiting: rows.iter().filter(|r| r.state == "waiting").count(),
        errors: run.errors,
    })
}
