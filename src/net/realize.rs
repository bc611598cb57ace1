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

/// Container inspects in flight at once.
const INSPECTS_AT_ONCE: usize = 16;

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
    // The port forwarder (`net::forward`), when the configuration forwards ports.
    if config.links.iter().any(|l| !l.forward.is_empty()) {
        listing.extend(
            daemon
                .list_containers(&ListFilter {
                    names: vec![format!(
                        "^/{}$",
                        crate::net::forward::container_name(project)
                    )],
                    labels: vec![crate::labels::role(crate::labels::NET_FORWARDER_ROLE)],
                    ..Default::default()
                })
                .await?
                .containers,
        );
    }
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
    let ids: Vec<String> = listing
        .into_iter()
        .filter(|c| c.state == State::Running && seen.insert(c.id.clone()))
        .map(|c| c.id)
        .collect();
    // Inspected a few at a time (one after the other, 20 of them took most of a `net up`
    // with nothing to do), in the listing's order.
    use futures_util::StreamExt;
    let inspected: Vec<_> = futures_util::stream::iter(ids.iter())
        .map(|id| daemon.inspect_container(id))
        .buffered(INSPECTS_AT_ONCE)
        .collect()
        .await;
    for info in inspected {
        let info = match info {
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
    /// The containers whose links this reconcile made (a start or a restart): the commands
    /// the configuration gives them are due ([`run_commands`]).
    pub(crate) made: Vec<crate::net::plan::Instance>,
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
    let forwarder = desired.forward.as_ref().map(|f| f.container.as_str());
    let observed = match kernel::observe(Some(&switch), &run.namespaces, forwarder) {
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
        // The declared links: the port forwarder's own are not the user's.
        wired: desired
            .veths
            .iter()
            .filter(|v| Some(v.container.as_str()) != forwarder)
            .count(),
        changes: applied.done,
        waiting: rows.iter().filter(|r| r.state == "waiting").count(),
        errors: run.errors,
        made: run
            .instances
            .into_iter()
            .filter(|i| applied.made.contains(&i.id))
            .collect(),
    })
}

/// What of the project is inside its running containers (our interfaces, and the nat rules
/// that go with them), removed: `down` does this before it removes the switch namespace, which
/// takes the veths' other ends with it but not what lives in a container's own namespace.
/// Returns how many objects went, and the failures.
pub(crate) fn tear_down_inside(
    project: &str,
    run: &Running,
) -> Result<(usize, Vec<String>), crate::sys::netns::NetnsError> {
    let observed = match kernel::observe(None, &run.namespaces, None) {
        Ok(o) => o,
        Err(e) => return Ok((0, vec![e])),
    };
    let nothing = super::plan::Desired {
        project: project.to_string(),
        ..Default::default()
    };
    let (actions, _) = plan(&nothing, &observed);
    let inside: Vec<_> = actions
        .into_iter()
        .filter(|a| matches!(a, super::plan::Action::DeleteInContainer { .. }))
        .collect();
    if inside.is_empty() {
        return Ok((0, Vec::new()));
    }
    // No switch action is among them: the namespace the switch work would run in is unused.
    let here = crate::sys::netns::NetNs::current()?;
    let applied = kernel::apply(&here, &here, &run.namespaces, &inside);
    Ok((applied.done, applied.errors))
}

/// The commands due in each container whose links were just made, in the configuration's
/// order (pure).
pub(crate) fn commands_due<'a>(
    config: &'a NetConfig,
    made: &'a [crate::net::plan::Instance],
) -> Vec<(&'a crate::net::plan::Instance, &'a [String])> {
    let mut due = Vec::new();
    for inst in made {
        for c in &config.commands {
            let service = inst.service.as_ref().map(|(s, _)| s);
            let mine = match (&c.service, &c.container) {
                (Some(s), _) => service == Some(s),
                (None, Some(n)) => inst.name == *n,
                (None, None) => false,
            };
            if mine {
                due.push((inst, c.command.as_slice()));
            }
        }
    }
    due
}

/// Runs the commands due (by exec, as root in the container, one after the other per
/// container; the containers at once). A command that fails is reported with its exit code
/// and what it printed; the container's later commands still run (each is the user's own
/// step). Returns how many ran, and the failures.
pub(crate) async fn run_commands<E: crate::docker::engine::Engine>(
    daemon: &E,
    config: &NetConfig,
    made: &[crate::net::plan::Instance],
) -> (usize, Vec<String>) {
    let due = commands_due(config, made);
    let mut by_container: std::collections::BTreeMap<&str, Vec<(&str, &[String])>> =
        Default::default();
    for (inst, argv) in &due {
        by_container
            .entry(inst.id.as_str())
            .or_default()
            .push((inst.name.as_str(), argv));
    }
    let results =
        futures_util::future::join_all(by_container.into_iter().map(|(id, cmds)| async move {
            let mut errors = Vec::new();
            for (name, argv) in cmds {
                let line = argv.join(" ");
                match daemon.exec(id, argv).await {
                    Ok(out) if out.success() => {}
                    Ok(out) => errors.push(format!(
                        "container {name}: command `{line}` exited {}: {}",
                        out.code,
                        out.message()
                    )),
                    Err(e) => errors.push(format!("container {name}: command `{line}`: {e}")),
                }
            }
            errors
        }))
        .await;
    (due.len(), results.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::config::Command;
    use crate::net::plan::Instance;

    fn inst(id: &str, name: &str, service: Option<(&str, u32)>) -> Instance {
        Instance {
            id: id.into(),
            name: name.into(),
            service: service.map(|(s, k)| (s.into(), k)),
        }
    }

    fn cmd(service: Option<&str>, container: Option<&str>, argv: &[&str]) -> Command {
        Command {
            service: service.map(Into::into),
            container: container.map(Into::into),
            command: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Which commands are due in which container: a service's go to each of its replicas
    /// just wired, a container's to that name only, in the configuration's order; a
    /// container not wired now gets none.
    #[test]
    fn commands_due_follow_their_targets_in_order() {
        let config = NetConfig {
            commands: vec![
                cmd(Some("web"), None, &["one"]),
                cmd(None, Some("lone"), &["two"]),
                cmd(Some("web"), None, &["three"]),
                cmd(Some("db"), None, &["four"]),
            ],
            ..Default::default()
        };
        let w1 = inst("i1", "p-web-1", Some(("web", 1)));
        let w2 = inst("i2", "p-web-2", Some(("web", 2)));
        let lone = inst("i3", "lone", None);
        // A container named like a service is not that service.
        let named_db = inst("i4", "db", None);
        // (containers wired now, (container, command) due)
        type Case<'a> = (Vec<Instance>, Vec<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            (vec![], vec![]),
            (
                vec![w1.clone(), w2.clone()],
                vec![
                    ("i1", "one"),
                    ("i1", "three"),
                    ("i2", "one"),
                    ("i2", "three"),
                ],
            ),
            (vec![lone.clone()], vec![("i3", "two")]),
            (vec![named_db.clone()], vec![]),
            (
                vec![lone, w2],
                vec![("i3", "two"), ("i2", "one"), ("i2", "three")],
            ),
        ];
        for (made, want) in cases {
            let got: Vec<(&str, &str)> = commands_due(&config, &made)
                .into_iter()
                .map(|(i, argv)| (i.id.as_str(), argv[0].as_str()))
                .collect();
            assert_eq!(got, want, "{made:?}");
        }
    }
}
