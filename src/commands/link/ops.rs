//! The graph subcommands of `docker link`: `add` (and `docker link CONTAINER NAME`), `rm`,
//! `rename`, `connect`, `inspect`, `env` and `prune`. Each validates against a fresh view
//! before it changes anything, and writes the registry by compare-and-swap.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Context as _;
use bollard::Docker;

use super::run;
use super::{AddArgs, ConnectArgs, EnvArgs, InspectArgs, PruneArgs, RenameArgs, RmArgs};
use crate::graph::model::{elements, short, Edge, GraphError, Source, View, ROOT};
use crate::graph::store::{self, Snapshot};
use crate::links::env::{link_env, Algorithm};
use crate::links::network;
use crate::output;
use crate::Ctx;

/// A connection, and what was rebuilt if the registry had been removed by hand.
pub(super) struct Session {
    pub docker: Docker,
    recovered: Vec<Edge>,
    /// The snapshot `open` read, for the first write attempt.
    first: std::cell::Cell<Option<Snapshot>>,
}

impl Session {
    pub async fn open(ctx: &Ctx) -> anyhow::Result<(Session, Snapshot)> {
        let docker = crate::docker::connect(&ctx.globals).await?;
        let snap = store::load(&docker).await?;
        let mut recovered = Vec::new();
        if snap.missing() {
            // Link networks of this namespace mean a registry existed once: it was removed
            // by hand (or by a prune of the plugin's containers). Say so, and rebuild what
            // the link networks still show.
            let nets = network::list(&docker).await?;
            if !nets.is_empty() {
                recovered = network::edges_of(&nets);
                output::warn(&format!(
                    "the registry container is gone (removed by hand?): recreating it; names given with \
                     `docker link` are lost, {} link(s) were rebuilt from the link networks",
                    recovered.len()
                ));
            }
        }
        let first = std::cell::Cell::new(Some(snap.clone()));
        Ok((
            Session {
                docker,
                recovered,
                first,
            },
            snap,
        ))
    }

    /// [`store::update`], with the rebuilt links put back in the first write.
    pub async fn update<T>(
        &self,
        mut change: impl FnMut(&mut crate::graph::model::Stored, &View) -> anyhow::Result<T>,
    ) -> anyhow::Result<(T, Snapshot)> {
        let first = self.first.take();
        store::update(&self.docker, first, |stored, view| {
            for e in &self.recovered {
                let live = |id: &str| view.nodes.contains_key(id);
                if live(&e.child) && live(&e.parent) {
                    stored.edges.insert(e.clone());
                }
            }
            change(stored, view)
        })
        .await
    }
}

fn block_on<T>(
    ctx: &Ctx,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    ctx.runtime()?.block_on(f)
}

fn print_lines(lines: &[String]) -> anyhow::Result<()> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    output::write_stdout(text.as_bytes())?;
    Ok(())
}

pub fn add(args: AddArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if args.name.contains('/') {
        anyhow::bail!(
            "invalid name {:?}: `docker link CONTAINER NAME` gives a root name; \
             `docker link connect PARENT CHILD:ALIAS` links",
            args.name
        );
    }
    block_on(ctx, async {
        let (session, _) = Session::open(ctx).await?;
        session
            .update(|stored, view| {
                let id = view.resolve(&args.container)?.to_string();
                // A retry after a race this command in fact won finds its own edge.
                let key = (ROOT.to_string(), args.name.clone());
                if view
                    .edges
                    .get(&key)
                    .is_some_and(|(c, s)| *c == id && *s == Source::Registry)
                {
                    return Ok(());
                }
                view.check_new(ROOT, &args.name, &id)?;
                stored.edges.insert(Edge {
                    parent: ROOT.to_string(),
                    name: args.name.clone(),
                    child: id,
                });
                Ok(())
            })
            .await
    })?;
    print_lines(&[args.name])?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses to remove or rename what docker-link does not own.
fn owned(path: &str, edge: &Edge, source: Source) -> Result<(), GraphError> {
    match source {
        Source::Docker => Err(GraphError::DockerName {
            path: path.trim_matches('/').to_string(),
            id: short(&edge.child).to_string(),
        }),
        Source::Engine => Err(GraphError::EngineLink(path.trim_matches('/').to_string())),
        Source::Declared | Source::Registry => Ok(()),
    }
}

/// Drops an edge from the stored graph: a registry edge is deleted, a declared one is
/// recorded as removed (labels cannot change).
fn drop_edge(stored: &mut crate::graph::model::Stored, edge: &Edge, source: Source) {
    if source == Source::Declared {
        stored.removed.insert(edge.clone());
    } else {
        stored.edges.remove(edge);
    }
}

/// Brings each touched parent's link network in line with the view: every child with the
/// aliases its parent gives it, and nothing else. Goes on past errors and reports them all.
async fn realize(
    docker: &Docker,
    view: &View,
    parents: &BTreeSet<String>,
    touched: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for parent in parents {
        let Some(node) = view.node(parent) else {
            continue;
        };
        let net = run::network_of(node);
        let desired = network::desired_aliases(view, parent);
        for child in touched {
            let aliases = desired.get(child).cloned().unwrap_or_default();
            if let Err(e) = network::set_aliases(docker, &net, child, &aliases).await {
                errors.push(format!("{e:#}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", errors.join("; "))
    }
}

pub fn rm(args: RmArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let removed = block_on(ctx, async {
        let (session, _) = Session::open(ctx).await?;
        let (removed, snap) = session
            .update(|stored, view| {
                // Validate every path before removing any.
                let mut found = Vec::new();
                for path in &args.paths {
                    if elements(path).is_empty() {
                        return Err(GraphError::RemoveRoot.into());
                    }
                    let (edge, source) = view.edge(path)?;
                    owned(path, &edge, source)?;
                    found.push((path.trim_matches('/').to_string(), edge, source));
                }
                for (_, edge, source) in &found {
                    drop_edge(stored, edge, *source);
                }
                Ok(found)
            })
            .await?;
        // Undo the realization of removed links, against the view after the removal.
        let mut after = snap.view.clone();
        let mut parents = BTreeSet::new();
        let mut children = BTreeSet::new();
        for (_, edge, _) in &removed {
            after
                .edges
                .remove(&(edge.parent.clone(), edge.name.clone()));
            if edge.parent != ROOT {
                parents.insert(edge.parent.clone());
                children.insert(edge.child.clone());
            }
        }
        realize(&session.docker, &after, &parents, &children).await?;
        for (path, edge, source) in &removed {
            if *source == Source::Declared && edge.parent != ROOT {
                output::info(&format!(
                    "removed the link {path}: {} no longer reaches it, but the variables already in its \
                     environment stay (as with the engine's links)",
                    after.display(&edge.parent)
                ));
            }
        }
        anyhow::Ok(removed)
    })?;
    print_lines(&removed.into_iter().map(|(p, _, _)| p).collect::<Vec<_>>())?;
    Ok(ExitCode::SUCCESS)
}

pub fn rename(args: RenameArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let new_path = block_on(ctx, async {
        let (session, _) = Session::open(ctx).await?;
        let ((edge, new_path), snap) = session
            .update(|stored, view| {
                if args.new_name.contains('/') {
                    anyhow::bail!(
                        "rename keeps the parent: {:?} must be a single name",
                        args.new_name
                    );
                }
                let (edge, source) = view.edge(&args.path)?;
                owned(&args.path, &edge, source)?;
                view.check_new(&edge.parent, &args.new_name, &edge.child)?;
                drop_edge(stored, &edge, source);
                stored.edges.insert(Edge {
                    name: args.new_name.clone(),
                    ..edge.clone()
                });
                let elems = elements(&args.path);
                let mut new_path: Vec<&str> = elems[..elems.len() - 1].to_vec();
                new_path.push(&args.new_name);
                Ok((edge, new_path.join("/")))
            })
            .await?;
        if edge.parent != ROOT {
            let mut after = snap.view.clone();
            after
                .edges
                .remove(&(edge.parent.clone(), edge.name.clone()));
            after.edges.insert(
                (edge.parent.clone(), args.new_name.clone()),
                (edge.child.clone(), Source::Registry),
            );
            realize(
                &session.docker,
                &after,
                &BTreeSet::from([edge.parent.clone()]),
                &BTreeSet::from([edge.child.clone()]),
            )
            .await?;
        }
        anyhow::Ok(new_path)
    })?;
    print_lines(&[new_path])?;
    Ok(ExitCode::SUCCESS)
}

pub fn connect(args: ConnectArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let spec: crate::links::run_args::LinkSpec =
        args.link.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let path = block_on(ctx, async {
        let (session, snap) = Session::open(ctx).await?;
        let docker = &session.docker;
        let view = &snap.view;
        let parent = view.resolve(&args.parent)?.to_string();
        let child = view.resolve(&spec.target)?.to_string();
        view.check_new(&parent, &spec.alias, &child)?;
        let pnode = view.node(&parent).context("the parent vanished")?;
        let net = run::network_of(pnode);
        let pool = crate::links::pool::Pool::from_env()?;

        // Apply, remembering what to undo.
        let label = (!pnode.labels.contains_key(run::NETWORK_LABEL)).then_some(parent.as_str());
        let created = network::ensure(docker, &pool, &net, label).await?;
        let before = network::desired_aliases(view, &parent)
            .get(&child)
            .cloned()
            .unwrap_or_default();
        let mut aliases = before.clone();
        aliases.insert(spec.alias.clone());
        let applied = async {
            network::join(docker, &net, &parent).await?;
            network::set_aliases(docker, &net, &child, &aliases).await?;
            session
                .update(|stored, view| {
                    view.check_new(&parent, &spec.alias, &child)?;
                    stored.edges.insert(Edge {
                        parent: parent.clone(),
                        name: spec.alias.clone(),
                        child: child.clone(),
                    });
                    Ok(())
                })
                .await
        }
        .await;
        if let Err(e) = applied {
            let _ = network::set_aliases(docker, &net, &child, &before).await;
            if created {
                let _ = network::remove(docker, &net).await;
            }
            return Err(e);
        }
        let path = format!("{}/{}", view.path_of(&parent), spec.alias);
        output::info(&format!(
            "{} now resolves {} to {} and reaches it; no environment variables: a running container's \
             environment cannot change (`docker link run --link` sets them at creation)",
            view.display(&parent),
            spec.alias,
            view.display(&child)
        ));
        anyhow::Ok(path)
    })?;
    print_lines(&[path])?;
    Ok(ExitCode::SUCCESS)
}

/// What `docker link inspect` shows of one container.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    path: String,
    id: String,
    name: String,
    image: String,
    state: String,
    /// Every path that leads to the container.
    names: Vec<String>,
    parents: Vec<Relation>,
    children: Vec<Relation>,
    /// The variables a link to it under the path's last element gives.
    env: Vec<String>,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Relation {
    container: String,
    alias: String,
    source: Source,
}

/// The child a path leads to, addressed as its parent reaches it (on the parent's link
/// network when the path is a link), else on its own network.
async fn child_at(
    docker: &Docker,
    view: &View,
    path: &str,
    id: &str,
) -> anyhow::Result<network::Child> {
    let parent = view
        .edge(path)
        .ok()
        .map(|(e, _)| e.parent)
        .filter(|p| p != ROOT);
    let prefer = parent
        .as_deref()
        .and_then(|p| view.node(p))
        .map(run::network_of);
    network::child(docker, id, None, prefer.as_deref()).await
}

pub fn inspect(args: InspectArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let items = block_on(ctx, async {
        let (session, snap) = Session::open(ctx).await?;
        let view = &snap.view;
        let ids: Vec<(String, String)> = args
            .paths
            .iter()
            .map(|p| Ok((p.clone(), view.resolve(p)?.to_string())))
            .collect::<Result<_, GraphError>>()?;
        let walked = view.walk(&|_| true);
        let mut items = Vec::new();
        for (path, id) in ids {
            let node = view.node(&id).context("the container vanished")?;
            let facts = child_at(&session.docker, view, &path, &id).await?;
            let trimmed = path.trim_matches('/');
            let link_path = format!("/{trimmed}");
            items.push(Inspected {
                path: trimmed.to_string(),
                id: id.clone(),
                name: node.name().to_string(),
                image: node.image.clone(),
                state: node.state.clone(),
                names: walked
                    .iter()
                    .filter(|w| w.id == id)
                    .map(|w| w.path.clone())
                    .collect(),
                parents: view
                    .parents(&id)
                    .into_iter()
                    .map(|(p, alias, source)| Relation {
                        container: if p == ROOT {
                            "/".into()
                        } else {
                            view.path_of(p)
                        },
                        alias: alias.to_string(),
                        source,
                    })
                    .collect(),
                children: view
                    .children(&id)
                    .map(|(alias, c, source)| Relation {
                        container: view.path_of(c),
                        alias: alias.to_string(),
                        source,
                    })
                    .collect(),
                env: link_env(
                    &link_path,
                    &facts.ip,
                    &facts.ports,
                    &facts.env,
                    Algorithm::V28,
                ),
            });
        }
        anyhow::Ok(items)
    })?;
    output::print_inspect(&args.format, &items)?;
    Ok(ExitCode::SUCCESS)
}

pub fn env(args: EnvArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let vars = block_on(ctx, async {
        let (session, snap) = Session::open(ctx).await?;
        let view = &snap.view;
        let id = view.resolve(&args.path)?.to_string();
        let alias = match &args.alias {
            Some(a) => a.clone(),
            None => elements(&args.path)
                .last()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        };
        if alias.is_empty() || alias.contains('/') {
            anyhow::bail!("invalid alias {alias:?}");
        }
        let facts = child_at(&session.docker, view, &args.path, &id).await?;
        anyhow::Ok(link_env(
            &format!("/{alias}"),
            &facts.ip,
            &facts.ports,
            &facts.env,
            args.link_env,
        ))
    })?;
    print_lines(&vars)?;
    Ok(ExitCode::SUCCESS)
}

pub fn prune(args: PruneArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let (names, networks, generations) = block_on(ctx, async {
        let (session, snap) = Session::open(ctx).await?;
        let docker = &session.docker;
        // Dangling names: registry edges of containers that are gone.
        let live = |id: &str| snap.view.nodes.contains_key(id);
        let dangling: Vec<Edge> = snap
            .stored
            .edges
            .iter()
            .filter(|e| !live(&e.child) || (e.parent != ROOT && !live(&e.parent)))
            .cloned()
            .collect();
        if !dangling.is_empty()
            || snap
                .stored
                .removed
                .iter()
                .any(|e| !live(&e.child) || !live(&e.parent))
        {
            session.update(|_, _| Ok(())).await?;
        }
        let names: Vec<String> = dangling
            .iter()
            .map(|e| match e.parent.as_str() {
                ROOT => e.name.clone(),
                p => format!("{}/{}", short(p), e.name),
            })
            .collect();
        // Link networks whose parent is gone, or with nobody linked on them.
        let mut networks = Vec::new();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        for n in network::list(docker).await? {
            // `docker link run` makes the network before its parent: leave young ones be.
            let age = n
                .created
                .as_deref()
                .and_then(network::epoch_seconds)
                .map(|c| now - c);
            if age.is_none_or(|a| a < args.filter.0 as i64) {
                continue;
            }
            let parent_gone = !n.parent.is_empty() && !live(&n.parent);
            let children = n.members.keys().filter(|m| **m != n.parent).count();
            let owner_gone = n.parent.is_empty()
                && !snap
                    .view
                    .nodes
                    .values()
                    .any(|node| run::network_of(node) == n.name);
            if parent_gone || owner_gone || children == 0 {
                network::remove(docker, &n.name).await?;
                networks.push(n.name);
            }
        }
        let generations = store::prune_generations(docker).await?;
        anyhow::Ok((names, networks, generations))
    })?;
    let mut out = Vec::new();
    if !names.is_empty() {
        out.push("Deleted names:".to_string());
        out.extend(names);
        out.push(String::new());
    }
    if !networks.is_empty() {
        out.push("Deleted networks:".to_string());
        out.extend(networks);
        out.push(String::new());
    }
    out.push(format!("Deleted registry generations: {generations}"));
    print_lines(&out)?;
    Ok(ExitCode::SUCCESS)
}
