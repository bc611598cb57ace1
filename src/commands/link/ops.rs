//! The graph subcommands of `docker link`: `add` (and `docker link CONTAINER NAME`), `rm`,
//! `rename`, `connect`, `inspect`, `env` and `prune`. Each resolves what the user named
//! against a fresh view, turns it into an op (`graph::ops`), writes it, and realizes the
//! links it changed (`links::realize`); the decisions live there, not here.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{AddArgs, ConnectArgs, EnvArgs, InspectArgs, PruneArgs, RenameArgs, RmArgs};
use crate::docker::{Daemon, Engine};
use crate::graph::model::{elements, short, Edge, GraphError, Source, View, ROOT};
use crate::graph::ops::{owned, Op, Removal};
use crate::graph::store::Scope;
use crate::links::env::{link_env, Algorithm};
use crate::links::session::Session;
use crate::links::{init_volume, network, prune as pruning, realize};
use crate::output;
use crate::Ctx;

/// Connects and reads the graph once; says what the read found wrong. A write names what it
/// touches (`scope`: the names, paths and containers the user gave) and reads only those
/// containers; a command that shows or prunes the whole graph reads everything (None).
pub(super) async fn open<S: AsRef<str>>(
    ctx: &Ctx,
    scope: Option<&[S]>,
) -> anyhow::Result<(Session<Daemon>, crate::graph::store::Snapshot)> {
    let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
    let scope = scope.map(Scope::of_args);
    let (mut session, snap) = Session::open(
        daemon,
        &ctx.config.registry,
        ctx.cancel.clone(),
        scope.as_ref(),
    )
    .await?;
    say(&mut session);
    Ok((session, snap))
}

/// Prints the session's warnings once.
pub(super) fn say<E: Engine>(session: &mut Session<E>) {
    for w in std::mem::take(&mut session.warnings) {
        output::warn(&w);
    }
}

fn print_lines(lines: &[String]) -> anyhow::Result<()> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    output::write_stdout(text.as_bytes())?;
    Ok(())
}

pub(super) fn add(args: AddArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if let Some(word) = [&args.container, &args.name]
        .into_iter()
        .find(|w| w.starts_with('-') && *w != "-")
    {
        return Err(crate::commands::Usage(format!(
            "unknown option {word:?}: `docker link CONTAINER NAME` takes no options, and names \
             and containers never start with '-'"
        ))
        .into());
    }
    if args.name.contains('/') {
        anyhow::bail!(
            "invalid name {:?}: `docker link CONTAINER NAME` gives a root name; \
             `docker link connect PARENT CHILD:ALIAS` links",
            args.name
        );
    }
    ctx.block_on(async {
        let scope = [&args.container, &args.name];
        let (mut session, snap) = open(ctx, Some(&scope[..])).await?;
        let id = snap.view.resolve(&args.container)?.to_string();
        let edge = Edge {
            parent: ROOT.to_string(),
            name: args.name.clone(),
            child: id,
        };
        // Refused here, before any write, when the view already says no.
        if let Err(e) = crate::graph::ops::apply(
            &Op::Add { edge: edge.clone() },
            &mut snap.stored().clone(),
            &snap.view,
        ) {
            return Err(e.into());
        }
        let written = session.write(Op::Add { edge }).await;
        say(&mut session);
        written
    })?;
    print_lines(&[args.name])?;
    Ok(ExitCode::SUCCESS)
}

/// Realizes the links of each parent in `parents` for the containers in `scope`, against
/// `view`; goes on past errors and reports them all.
async fn realize_all(
    engine: &Daemon,
    view: &View,
    parents: &BTreeSet<String>,
    scope: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for parent in parents {
        if let Err(e) = realize::realize(engine, view, parent, scope.clone()).await {
            errors.push(crate::describe(&e));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", errors.join("; "))
    }
}

pub(super) fn rm(args: RmArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let removed = ctx.block_on(async {
        let (mut session, snap) = open(ctx, Some(&args.paths[..])).await?;
        // Every path is resolved before anything is removed.
        let mut removals = Vec::new();
        for path in &args.paths {
            if elements(path).is_empty() {
                return Err(GraphError::RemoveRoot.into());
            }
            let (edge, source) = snap.view.edge(path)?;
            owned(path, &edge, source)?;
            removals.push(Removal {
                edge,
                source,
                path: path.trim_matches('/').to_string(),
            });
        }
        let written = session
            .write(Op::Remove {
                edges: removals.clone(),
            })
            .await;
        say(&mut session);
        let written = written?;
        // Undo the realization of removed links, against the graph as written.
        let links: Vec<&Removal> = removals.iter().filter(|r| r.edge.parent != ROOT).collect();
        let parents: BTreeSet<String> = links.iter().map(|r| r.edge.parent.clone()).collect();
        let scope: BTreeSet<String> = links.iter().map(|r| r.edge.child.clone()).collect();
        realize_all(&session.engine, &written.view, &parents, &scope).await?;
        for r in &links {
            if r.source == Source::Declared {
                output::info(&format!(
                    "removed the link {}: {} no longer reaches it, but the variables already in its \
                     environment stay (as with the engine's links)",
                    r.path,
                    written.view.display(&r.edge.parent)
                ));
            }
        }
        anyhow::Ok(removals)
    })?;
    print_lines(&removed.into_iter().map(|r| r.path).collect::<Vec<_>>())?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn rename(args: RenameArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if args.new_name.contains('/') {
        anyhow::bail!(
            "rename keeps the parent: {:?} must be a single name",
            args.new_name
        );
    }
    let new_path = ctx.block_on(async {
        let scope = [&args.path, &args.new_name];
        let (mut session, snap) = open(ctx, Some(&scope[..])).await?;
        let (edge, source) = snap.view.edge(&args.path)?;
        owned(&args.path, &edge, source)?;
        snap.view
            .check_new(&edge.parent, &args.new_name, &edge.child)?;
        let op = Op::Rename {
            edge: edge.clone(),
            source,
            path: args.path.trim_matches('/').to_string(),
            to: args.new_name.clone(),
        };
        let written = session.write(op).await;
        say(&mut session);
        let written = written?;
        if edge.parent != ROOT {
            realize_all(
                &session.engine,
                &written.view,
                &BTreeSet::from([edge.parent.clone()]),
                &BTreeSet::from([edge.child.clone()]),
            )
            .await?;
        }
        let elems = elements(&args.path);
        let mut new_path: Vec<&str> = elems[..elems.len() - 1].to_vec();
        new_path.push(&args.new_name);
        anyhow::Ok(new_path.join("/"))
    })?;
    print_lines(&[new_path])?;
    Ok(ExitCode::SUCCESS)
}

pub(super) fn connect(args: ConnectArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let spec: crate::links::run_args::LinkSpec = args
        .link
        .parse()
        .map_err(|e: String| crate::commands::Usage(e))?;
    let path = ctx.block_on(async {
        let scope = [&args.parent, &spec.target, &spec.alias];
        let (mut session, snap) = open(ctx, Some(&scope[..])).await?;
        let view = &snap.view;
        let parent = view.resolve(&args.parent)?.to_string();
        let child = view.resolve(&spec.target)?.to_string();
        view.check_new(&parent, &spec.alias, &child)?;
        let pool = ctx.config.pool()?;
        let pnode = view.node(&parent).context("the parent vanished")?;
        let cnode = view.node(&child).context("the child vanished")?;
        let (parent_running, child_running) = (pnode.running(), cnode.running());
        let net = network::network_of(pnode);
        let edge = Edge {
            parent: parent.clone(),
            name: spec.alias.clone(),
            child: child.clone(),
        };

        // Realize first (network, parent, child under the alias), then write the edge: the
        // edge never lists a link that does not resolve. If the write does not land, the
        // realization is brought back in line with what is committed.
        let label = (!pnode.labels.contains_key(crate::labels::NETWORK)).then_some(parent.as_str());
        let created = network::ensure(&session.engine, &pool, &session.ns, &net, label).await?;
        let mut with_link = snap.stored().clone();
        with_link.edges.insert(edge.clone());
        let planned = view.with(&with_link);
        let scope = BTreeSet::from([parent.clone(), child.clone()]);
        let realized = realize::realize(&session.engine, &planned, &parent, scope.clone()).await;
        let written = match realized {
            Ok(()) => session.write(Op::Add { edge: edge.clone() }).await,
            Err(e) => Err(e),
        };
        say(&mut session);
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                let undo = async {
                    let now = session.reload().await?;
                    realize::realize(&session.engine, &now.view, &parent, scope.clone()).await?;
                    if created && now.view.children(&parent).next().is_none() {
                        network::remove(&session.engine, &net).await?;
                    }
                    anyhow::Ok(())
                };
                if let Err(u) = undo.await {
                    output::warn(&format!("rolling back the link: {}", crate::describe(&u)));
                }
                return Err(e);
            }
        };
        // A concurrent write may have changed this parent's links meanwhile: the network
        // follows the graph as committed.
        realize::realize(&session.engine, &written.view, &parent, scope).await?;
        super::watcher::start_if_needed(&session.engine, ctx).await;
        let path = format!("{}/{}", written.view.path_of(&parent), spec.alias);
        let (p, a, c) = (
            written.view.display(&parent),
            &spec.alias,
            written.view.display(&child),
        );
        let how = match (parent_running, child_running) {
            (true, true) => format!("{p} now resolves {a} to {c} and reaches it"),
            (true, false) => format!(
                "{c} is not running: {p} will resolve {a} to it and reach it once it starts"
            ),
            (false, true) => format!("{p} is not running: once it starts, it resolves {a} to {c}"),
            (false, false) => format!("neither is running: once both are, {p} resolves {a} to {c}"),
        };
        output::info(&format!(
            "{how}; no environment variables: a container's environment cannot change after its \
             creation (`docker link run --link` sets them)"
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
    engine: &Daemon,
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
        .map(network::network_of);
    network::child(engine, id, None, prefer.as_deref()).await
}

pub(super) fn inspect(args: InspectArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let items = ctx.block_on(async {
        let (session, snap) = open::<&str>(ctx, None).await?;
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
            let facts = child_at(&session.engine, view, &path, &id).await?;
            let trimmed = path.trim_matches('/');
            let link_path = format!("/{}", elements(trimmed).last().copied().unwrap_or(trimmed));
            items.push(Inspected {
                path: trimmed.to_string(),
                id: id.clone(),
                name: node.name().to_string(),
                image: node.image.clone(),
                state: node.state.as_str().to_string(),
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

pub(super) fn env(args: EnvArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let vars = ctx.block_on(async {
        let (session, snap) = open::<&str>(ctx, None).await?;
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
        let facts = child_at(&session.engine, view, &args.path, &id).await?;
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

pub(super) fn prune(args: PruneArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let (names, networks, volumes, generations, errors) = ctx.block_on(async {
        let (mut session, snap) = open::<&str>(ctx, None).await?;
        // Dangling names: registry edges of containers that are gone. A write purges them.
        let live = |id: &str| snap.view.nodes.contains_key(id);
        let dangling: Vec<Edge> = snap
            .stored()
            .edges
            .iter()
            .filter(|e| !live(&e.child) || (e.parent != ROOT && !live(&e.parent)))
            .cloned()
            .collect();
        let stale_removals = snap
            .stored()
            .removed
            .iter()
            .any(|e| !live(&e.child) || !live(&e.parent));
        if !dangling.is_empty() || stale_removals || session.needs_restore(&snap) {
            session.write(Op::Touch).await?;
            say(&mut session);
        }
        let names: Vec<String> = dangling
            .iter()
            .map(|e| match e.parent.as_str() {
                ROOT => e.name.clone(),
                p => format!("{}/{}", short(p), e.name),
            })
            .collect();
        // Link networks whose parent is gone.
        let nets = network::list(&session.engine, &session.ns, false).await?;
        let input = pruning::Input {
            networks: nets,
            containers: snap.view.nodes.keys().cloned().collect(),
            claimed: snap
                .view
                .nodes
                .values()
                .filter_map(|n| n.labels.get(crate::labels::NETWORK).cloned())
                .collect(),
            now: snap.server_time.unwrap_or_else(crate::docker::clock::now),
            until: args.filter.0 as i64,
        };
        let (networks, mut errors) = pruning::apply(&session.engine, &pruning::plan(&input)).await;
        // Init volumes of binaries no container mounts any more.
        let unused = init_volume::prune_input(&session.engine, input.until).await?;
        let (volumes, volume_errors) =
            init_volume::apply(&session.engine, &init_volume::plan(&unused)).await;
        errors.extend(volume_errors);
        let generations = session.store().prune().await?;
        anyhow::Ok((names, networks, volumes, generations, errors))
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
    if !volumes.is_empty() {
        out.push("Deleted init volumes:".to_string());
        out.extend(volumes);
        out.push(String::new());
    }
    out.push(format!("Deleted registry generations: {generations}"));
    print_lines(&out)?;
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for e in &errors {
            output::error(&crate::describe(e));
        }
        Err(crate::commands::Exit(1).into())
    }
}
