//! Writes to the graph as data. A command turns what the user asked into an [`Op`] (paths
//! already resolved to container ids); [`apply`] checks it against the graph it lands on and
//! changes the stored graph, or refuses with the reason. Because an op is data, a writer that
//! loses a race can hand it to whoever makes the next registry generation (an intent, see
//! `graph::store`), and several writes land in one generation, each with its own outcome.

use super::model::{short, Edge, GraphError, Source, Stored, View, ROOT};

/// One write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    /// A name (parent [`ROOT`]) or a link.
    Add { edge: Edge },
    /// Names or links, each as the user named it; every one must still lead where it led.
    Remove { edges: Vec<Removal> },
    /// A name or link renamed within its parent.
    Rename {
        edge: Edge,
        source: Source,
        path: String,
        to: String,
    },
    /// Links rebuilt from the link networks after the registry was lost: put back where the
    /// name is still free.
    Restore { edges: Vec<Edge> },
    /// Nothing but the write itself: rewrites the registry (after a fallback read) and
    /// purges what refers to removed containers.
    Touch,
    /// Several ops that land together or not at all.
    Batch { ops: Vec<Op> },
}

impl Op {
    /// What a read must show to check this op: the containers it names (ids) and the names it
    /// adds or removes (a docker name, or another edge, may hold them). None when only a read
    /// of every container will do (a purge, links rebuilt after a loss).
    pub fn scope(&self) -> Option<(Vec<String>, Vec<String>)> {
        let mut ids = Vec::new();
        let mut names = Vec::new();
        let edge = |e: &Edge, ids: &mut Vec<String>, names: &mut Vec<String>| {
            if e.parent != ROOT {
                ids.push(e.parent.clone());
            }
            ids.push(e.child.clone());
            names.push(e.name.clone());
        };
        match self {
            Op::Add { edge: e } => edge(e, &mut ids, &mut names),
            Op::Remove { edges } => {
                for r in edges {
                    edge(&r.edge, &mut ids, &mut names);
                }
            }
            Op::Rename { edge: e, to, .. } => {
                edge(e, &mut ids, &mut names);
                names.push(to.clone());
            }
            Op::Restore { .. } | Op::Touch => return None,
            Op::Batch { ops } => {
                for op in ops {
                    let (i, n) = op.scope()?;
                    ids.extend(i);
                    names.extend(n);
                }
            }
        }
        Some((ids, names))
    }
}

/// One edge to remove, with where the user's view said it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Removal {
    pub edge: Edge,
    pub source: Source,
    /// As the user wrote it, for messages.
    pub path: String,
}

/// Refuses to remove or rename what docker-link does not own.
pub fn owned(path: &str, edge: &Edge, source: Source) -> Result<(), GraphError> {
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
fn drop_edge(stored: &mut Stored, edge: &Edge, source: Source) {
    if source == Source::Declared {
        stored.removed.insert(edge.clone());
    } else {
        stored.edges.remove(edge);
    }
}

/// The edge `(parent, name)` must still lead to `child`, and be ours to change.
fn still(view: &View, edge: &Edge, path: &str) -> Result<Source, GraphError> {
    match view.edges.get(&(edge.parent.clone(), edge.name.clone())) {
        Some((child, source)) if *child == edge.child => {
            owned(path, edge, *source)?;
            Ok(*source)
        }
        _ => Err(GraphError::NotFound(path.trim_matches('/').to_string())),
    }
}

/// Applies `op` to `stored`, whose view over the live containers is `view`. On error nothing
/// of `stored` has changed.
pub fn apply(op: &Op, stored: &mut Stored, view: &View) -> Result<(), GraphError> {
    let live = |id: &str| view.nodes.contains_key(id);
    match op {
        Op::Add { edge } => {
            let key = (edge.parent.clone(), edge.name.clone());
            // Already there: a retry of a write that had landed, or a concurrent twin.
            if let Some((child, Source::Registry | Source::Declared)) = view.edges.get(&key) {
                if *child == edge.child {
                    return Ok(());
                }
            }
            if !live(&edge.child) {
                return Err(GraphError::NotFound(short(&edge.child).to_string()));
            }
            if edge.parent != ROOT && !live(&edge.parent) {
                return Err(GraphError::NotFound(short(&edge.parent).to_string()));
            }
            view.check_new(&edge.parent, &edge.name, &edge.child)?;
            stored.removed.remove(edge);
            stored.edges.insert(edge.clone());
            Ok(())
        }
        Op::Remove { edges } => {
            // Every path is checked before any is removed.
            let sources = edges
                .iter()
                .map(|r| still(view, &r.edge, &r.path))
                .collect::<Result<Vec<_>, _>>()?;
            for (r, source) in edges.iter().zip(sources) {
                drop_edge(stored, &r.edge, source);
            }
            Ok(())
        }
        Op::Rename { edge, path, to, .. } => {
            let source = still(view, edge, path)?;
            if to.contains('/') {
                return Err(GraphError::InvalidName(to.clone()));
            }
            view.check_new(&edge.parent, to, &edge.child)?;
            drop_edge(stored, edge, source);
            stored.edges.insert(Edge {
                name: to.clone(),
                ..edge.clone()
            });
            Ok(())
        }
        Op::Restore { edges } => {
            for e in edges {
                let free = !view.edges.contains_key(&(e.parent.clone(), e.name.clone()));
                let ends = live(&e.child) && (e.parent == ROOT || live(&e.parent));
                if free && ends && e.parent != e.child {
                    stored.edges.insert(e.clone());
                }
            }
            Ok(())
        }
        Op::Touch => Ok(()),
        Op::Batch { ops } => {
            let mut next = stored.clone();
            let mut v = view.with(&next);
            for op in ops {
                apply(op, &mut next, &v)?;
                v = v.with(&next);
            }
            *stored = next;
            Ok(())
        }
    }
}

/// Applies ops in order, each against the graph the ones before it made. Returns the graph,
/// its view, and each op's outcome; a refused op changes nothing.
pub fn apply_all<'a>(
    stored: &Stored,
    view: &View,
    ops: impl IntoIterator<Item = &'a Op>,
) -> (Stored, View, Vec<Result<(), GraphError>>) {
    let mut now = stored.clone();
    let mut v = view.with(&now);
    let mut outcomes = Vec::new();
    for op in ops {
        let mut next = now.clone();
        match apply(op, &mut next, &v) {
            Ok(()) => {
                if next != now {
                    v = v.with(&next);
                    now = next;
                }
                outcomes.push(Ok(()));
            }
            Err(e) => outcomes.push(Err(e)),
        }
    }
    (now, v, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::model::fixtures::{edge, id, node};

    fn world() -> (Stored, View) {
        let mut s = Stored::new();
        s.edges.insert(edge(ROOT, "db1", &id('b')));
        s.edges.insert(edge(&id('a'), "redis", &id('b')));
        let mut declared = node('c', &["cache"]);
        declared
            .labels
            .insert(crate::labels::NAMES.into(), "decl".into());
        let v = View::build(
            vec![node('a', &["web"]), node('b', &["redis_1"]), declared],
            &s,
        );
        (s, v)
    }

    fn rm(path: &str, e: Edge, source: Source) -> Op {
        Op::Remove {
            edges: vec![Removal {
                edge: e,
                source,
                path: path.into(),
            }],
        }
    }

    #[test]
    fn table() {
        let (a, b, c) = (id('a'), id('b'), id('c'));
        type Check = fn(&Result<(), GraphError>) -> bool;
        let ok: Check = |r| r.is_ok();
        let cases: Vec<(&str, Op, Check, &[&str])> = vec![
            (
                "add a name",
                Op::Add {
                    edge: edge(ROOT, "db2", &b),
                },
                ok,
                &["db1", "db2", "web/redis"],
            ),
            (
                "add is idempotent",
                Op::Add {
                    edge: edge(ROOT, "db1", &b),
                },
                ok,
                &["db1", "web/redis"],
            ),
            (
                "a taken name",
                Op::Add {
                    edge: edge(ROOT, "db1", &a),
                },
                |r| matches!(r, Err(GraphError::Taken { .. })),
                &["db1", "web/redis"],
            ),
            (
                "a docker name is taken",
                Op::Add {
                    edge: edge(ROOT, "web", &b),
                },
                |r| matches!(r, Err(GraphError::Taken { .. })),
                &["db1", "web/redis"],
            ),
            (
                "an id-like name",
                Op::Add {
                    edge: edge(ROOT, "0123456789ab", &b),
                },
                |r| matches!(r, Err(GraphError::IdLike(_))),
                &["db1", "web/redis"],
            ),
            (
                "a 64-octet alias",
                Op::Add {
                    edge: edge(&a, &"x".repeat(64), &b),
                },
                |r| matches!(r, Err(GraphError::InvalidAlias { .. })),
                &["db1", "web/redis"],
            ),
            (
                "a dead child",
                Op::Add {
                    edge: edge(ROOT, "ghost", &id('f')),
                },
                |r| matches!(r, Err(GraphError::NotFound(_))),
                &["db1", "web/redis"],
            ),
            (
                "remove a link",
                rm("web/redis", edge(&a, "redis", &b), Source::Registry),
                ok,
                &["db1"],
            ),
            (
                "remove what moved",
                rm("db1", edge(ROOT, "db1", &a), Source::Registry),
                |r| matches!(r, Err(GraphError::NotFound(p)) if p == "db1"),
                &["db1", "web/redis"],
            ),
            (
                "remove a docker name",
                rm("web", edge(ROOT, "web", &a), Source::Docker),
                |r| matches!(r, Err(GraphError::DockerName { .. })),
                &["db1", "web/redis"],
            ),
            (
                "remove a declared name",
                rm("decl", edge(ROOT, "decl", &c), Source::Declared),
                ok,
                &["db1", "web/redis"],
            ),
            (
                "rename",
                Op::Rename {
                    edge: edge(&a, "redis", &b),
                    source: Source::Registry,
                    path: "web/redis".into(),
                    to: "store".into(),
                },
                ok,
                &["db1", "web/store"],
            ),
            (
                "rename onto a taken name",
                Op::Rename {
                    edge: edge(ROOT, "db1", &b),
                    source: Source::Registry,
                    path: "db1".into(),
                    to: "web".into(),
                },
                |r| matches!(r, Err(GraphError::Taken { .. })),
                &["db1", "web/redis"],
            ),
            (
                "restore skips taken names",
                Op::Restore {
                    edges: vec![edge(&a, "redis", &c), edge(&a, "cache", &c)],
                },
                ok,
                &["db1", "web/cache", "web/redis"],
            ),
        ];
        for (what, op, check, want) in cases {
            let (stored, view) = world();
            let mut next = stored.clone();
            let got = apply(&op, &mut next, &view);
            assert!(check(&got), "{what}: {got:?}");
            if got.is_err() {
                assert_eq!(next, stored, "{what}: a refused op changed the graph");
            }
            let after = view.with(&next);
            let mut paths: Vec<String> = after
                .edges
                .iter()
                .filter(|(_, (_, s))| *s == Source::Registry)
                .map(|((p, n), _)| match p.as_str() {
                    ROOT => n.clone(),
                    p => format!("{}/{n}", after.node(p).map(|n| n.name()).unwrap_or("?")),
                })
                .collect();
            paths.sort();
            assert_eq!(paths, want, "{what}");
        }
    }

    #[test]
    fn a_batch_gives_each_op_its_outcome() {
        let (stored, view) = world();
        let (a, b) = (id('a'), id('b'));
        // Twenty writers want one name: the first wins, the others are told it is taken.
        let ops: Vec<Op> = (0..20)
            .map(|i| Op::Add {
                edge: edge(ROOT, "one", if i % 2 == 0 { &a } else { &b }),
            })
            .collect();
        let (next, v, outcomes) = apply_all(&stored, &view, &ops);
        assert!(outcomes[0].is_ok());
        // The same edge again is not a conflict (a retry); the other container's is.
        for (i, o) in outcomes.iter().enumerate().skip(1) {
            assert_eq!(o.is_ok(), i % 2 == 0, "{i}: {o:?}");
        }
        assert_eq!(v.resolve("one"), Ok(a.as_str()));
        assert!(next.edges.contains(&edge(ROOT, "one", &a)));
    }

    #[test]
    fn ops_are_data() {
        let op = rm(
            "web/redis",
            edge(&id('a'), "redis", &id('b')),
            Source::Declared,
        );
        let json = serde_json::to_string(&op).unwrap();
        assert!(json.starts_with(r#"{"op":"remove""#), "{json}");
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
    }
}
