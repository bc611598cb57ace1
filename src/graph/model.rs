//! The name/link graph as pure data: edges `(parent, name) → child` with graphdb's rules, the
//! registry's stored schema, the merged view (docker names ∪ declared labels ∪ registry, minus
//! recorded removals, restricted to live containers), path resolution and the depth-first walk
//! that `docker ls` prints. Nothing here talks to the daemon.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::docker::engine::{Labels, State};
use crate::labels::{LINKS as LINKS_LABEL, NAMES as NAMES_LABEL};

/// The parent of root names (`/db1`).
pub const ROOT: &str = "";
/// The schema this version writes (the compact label of `graph::codec`).
pub const SCHEMA: u32 = 2;
/// The plain JSON schema of the first version, still read.
const LEGACY_SCHEMA: u32 = 1;
/// The longest alias: a DNS label holds at most 63 octets.
pub const MAX_LABEL: usize = 63;
/// Deeper paths than this are not walked: a guard for pathological graphs (cycles are
/// already cut by never revisiting a container on the current path).
const MAX_DEPTH: usize = 32;

/// One edge: `(parent, name) → child`. `parent` is a full container id, or [`ROOT`].
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Edge {
    pub parent: String,
    pub name: String,
    pub child: String,
}

/// What the registry holds (its `docker-link.graph` label, JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stored {
    pub schema: u32,
    /// Names and links added with `docker link` (not declared on a container).
    pub edges: BTreeSet<Edge>,
    /// Declared edges the user removed (`docker link rm` on a label edge).
    #[serde(default)]
    pub removed: BTreeSet<Edge>,
}

impl Stored {
    pub fn new() -> Stored {
        Stored {
            schema: SCHEMA,
            ..Default::default()
        }
    }

    /// Reads the registry label; an unknown or newer schema is refused, never guessed at.
    pub fn parse(json: &str) -> Result<Stored, GraphError> {
        #[derive(serde::Deserialize)]
        struct Head {
            schema: Option<u32>,
        }
        let head: Head = serde_json::from_str(json).map_err(|e| {
            GraphError::Schema(format!("the registry's graph is not valid JSON: {e}"))
        })?;
        match head.schema {
            // The plain JSON of the first version (and of `to_json`, for tests and messages).
            Some(LEGACY_SCHEMA | SCHEMA) => serde_json::from_str::<Stored>(json)
                .map(|mut s| {
                    s.schema = SCHEMA;
                    s
                })
                .map_err(|e| GraphError::Schema(format!("the registry's graph (schema {LEGACY_SCHEMA}) is malformed: {e}"))),
            Some(v) if v > SCHEMA => Err(GraphError::Schema(format!(
                "the registry was written by a newer docker-link (schema {v}; this one reads {SCHEMA}): upgrade docker-link"
            ))),
            Some(v) => Err(GraphError::Schema(format!(
                "the registry has schema {v}, which this docker-link does not read (it reads {LEGACY_SCHEMA} and {SCHEMA})"
            ))),
            None => Err(GraphError::Schema(
                "the registry's graph has no schema version".to_string(),
            )),
        }
    }

    pub fn to_json(&self) -> String {
        // Strings and sets of strings always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Drops what refers to containers that no longer exist (graphdb's purge).
    pub fn purge(&mut self, live: &dyn Fn(&str) -> bool) -> usize {
        let before = self.edges.len() + self.removed.len();
        let keep = |e: &Edge| live(&e.child) && (e.parent == ROOT || live(&e.parent));
        self.edges.retain(keep);
        self.removed.retain(keep);
        before - self.edges.len() - self.removed.len()
    }
}

/// Where an edge of the view comes from; decides how it can be removed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The container's docker name: `docker rename` owns it.
    Docker,
    /// A legacy engine link (`/web/db` in the engine's names list).
    Engine,
    /// A `docker-link.names`/`docker-link.links` label set at creation.
    Declared,
    /// Added with `docker link`, held by the registry.
    Registry,
}

/// What the view needs to know of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// Docker names without the leading slash; legacy link names (`web/db`) included.
    pub names: Vec<String>,
    pub image: String,
    pub state: State,
    pub labels: Labels,
}

impl Node {
    pub fn short_id(&self) -> &str {
        short(&self.id)
    }

    pub fn running(&self) -> bool {
        self.state == State::Running
    }

    /// The first docker name, for messages.
    pub fn name(&self) -> &str {
        self.names
            .iter()
            .find(|n| !n.contains('/'))
            .map(String::as_str)
            .unwrap_or_else(|| self.short_id())
    }
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Errors of graph operations; each names the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("invalid name {0:?}: names start with a letter or digit and hold letters, digits, '_', '.' and '-' (at least two characters)")]
    InvalidName(String),
    #[error("invalid name {0:?}: a name of 12 or 64 hexadecimal characters would be taken for a container id")]
    IdLike(String),
    #[error("invalid alias {name:?}: {why}")]
    InvalidAlias { name: String, why: String },
    #[error("no such name or container: {0}")]
    NotFound(String),
    #[error("{arg:?} matches more than one container ({candidates}): give more of the id")]
    Ambiguous { arg: String, candidates: String },
    #[error("the name {path} is already taken by container {by}")]
    Taken { path: String, by: String },
    #[error("a container cannot be linked to itself ({0})")]
    SelfLink(String),
    #[error("/ is the root of the graph and cannot be removed")]
    RemoveRoot,
    #[error("{path} is the docker name of container {id}: `docker rename` changes it, `docker rm` removes it")]
    DockerName { path: String, id: String },
    #[error("{0} is a legacy engine link: it goes away with its parent container")]
    EngineLink(String),
    #[error("{0}")]
    Schema(String),
}

/// The docker name rule, kept for graph names too; and no name that reads as a container id
/// (`docker link inspect <id>` must never answer another container).
pub fn validate_name(name: &str) -> Result<(), GraphError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(GraphError::InvalidName(name.to_string()));
    }
    let hex = name
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex && (name.len() == 12 || name.len() == 64) {
        return Err(GraphError::IdLike(name.to_string()));
    }
    Ok(())
}

/// A link's alias becomes a DNS name on the parent's link network (and the prefix of its
/// variables): the name rule, and each dot-separated label at most 63 octets.
pub fn validate_alias(name: &str) -> Result<(), GraphError> {
    validate_name(name)?;
    let bad = |why: String| GraphError::InvalidAlias {
        name: name.to_string(),
        why,
    };
    for label in name.split('.') {
        if label.is_empty() {
            return Err(bad("empty DNS label (two dots, or a dot at the end)".into()));
        }
        if label.len() > MAX_LABEL {
            return Err(bad(format!(
                "{} octets in one DNS label; a label holds at most {MAX_LABEL}",
                label.len()
            )));
        }
    }
    if name.len() > 253 {
        return Err(bad(format!(
            "{} octets; a DNS name holds at most 253",
            name.len()
        )));
    }
    Ok(())
}

/// Splits a path into its elements: `/frontend/redis/` → `["frontend", "redis"]`.
pub fn elements(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The merged graph over live containers.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub nodes: BTreeMap<String, Node>,
    /// `(parent, name) → (child, source)`.
    pub edges: BTreeMap<(String, String), (String, Source)>,
    /// Names of ours hidden by a docker name of another container (docker names win).
    pub shadowed: Vec<Shadowed>,
}

/// A name of ours that a docker name hides: `name` leads to `by`, not to `hidden`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadowed {
    pub edge: Edge,
    pub by: String,
}

/// One line of the walk: a path and the container it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    /// Without the leading slash: `frontend/redis`.
    pub path: String,
    /// The parent's path, empty for root names.
    pub parent: String,
    pub alias: String,
    pub id: String,
}

impl View {
    /// Builds the view. Docker names win over every other edge of the same path: the
    /// engine enforces them, we only add to them.
    pub fn build(nodes: Vec<Node>, stored: &Stored) -> View {
        let nodes: BTreeMap<String, Node> = nodes.into_iter().map(|n| (n.id.clone(), n)).collect();
        View::over(nodes, stored)
    }

    /// The view of another stored graph over the same containers.
    pub fn with(&self, stored: &Stored) -> View {
        View::over(self.nodes.clone(), stored)
    }

    fn over(nodes: BTreeMap<String, Node>, stored: &Stored) -> View {
        let mut view = View {
            edges: BTreeMap::new(),
            nodes,
            shadowed: Vec::new(),
        };
        let by_name: HashMap<&str, &str> = view
            .nodes
            .values()
            .flat_map(|n| {
                n.names
                    .iter()
                    .filter(|x| !x.contains('/'))
                    .map(|x| (x.as_str(), n.id.as_str()))
            })
            .collect();
        let mut edges: BTreeMap<(String, String), (String, Source)> = BTreeMap::new();
        let mut shadowed = Vec::new();
        let mut insert = |parent: &str, name: &str, child: &str, source: Source| {
            // One search per edge (an `entry`): at 1,000 containers and 2,000 edges, a get then
            // an insert on these 64-byte keys was a sixth of `docker ls`.
            match edges.entry((parent.to_string(), name.to_string())) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert((child.to_string(), source));
                }
                std::collections::btree_map::Entry::Occupied(o) => {
                    let (by, by_source) = o.get();
                    if by != child
                        && matches!(by_source, Source::Docker | Source::Engine)
                        && matches!(source, Source::Declared | Source::Registry)
                    {
                        shadowed.push(Shadowed {
                            edge: Edge {
                                parent: o.key().0.clone(),
                                name: o.key().1.clone(),
                                child: child.to_string(),
                            },
                            by: by.clone(),
                        });
                    }
                }
            }
        };
        for n in view.nodes.values() {
            for name in &n.names {
                match name.rsplit_once('/') {
                    None => insert(ROOT, name, &n.id, Source::Docker),
                    Some((parent, alias)) => {
                        if let Some(p) = by_name.get(parent) {
                            insert(p, alias, &n.id, Source::Engine);
                        }
                    }
                }
            }
        }
        let live = |id: &str| view.nodes.contains_key(id);
        for n in view.nodes.values() {
            for e in declared(n) {
                if stored.removed.contains(&e) {
                    continue;
                }
                let child = if live(&e.child) {
                    Some(e.child.as_str())
                } else {
                    declared_child(&view.nodes, &by_name, n, &e.child)
                };
                if let Some(child) = child {
                    insert(&e.parent, &e.name, child, Source::Declared);
                }
            }
        }
        for e in &stored.edges {
            if live(&e.child) && (e.parent == ROOT || live(&e.parent)) {
                insert(&e.parent, &e.name, &e.child, Source::Registry);
            }
        }
        view.edges = edges;
        view.shadowed = shadowed;
        view
    }

    /// One line per shadowed name, for warnings.
    pub fn shadow_warnings(&self) -> Vec<String> {
        self.shadowed
            .iter()
            .map(|s| {
                let path = match s.edge.parent.as_str() {
                    ROOT => s.edge.name.clone(),
                    p => format!("{}/{}", self.path_of(p), s.edge.name),
                };
                format!(
                    "the name {path} of container {} is hidden by the docker name of container {} \
                     (docker names win); `docker link {} NEW` gives it another",
                    self.display(&s.edge.child),
                    self.display(&s.by),
                    short(&s.edge.child)
                )
            })
            .collect()
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Follows a path from the root: `frontend/redis` → the container it names.
    pub fn resolve_path(&self, path: &str) -> Option<&str> {
        let parts = elements(path);
        if parts.is_empty() {
            return None;
        }
        let mut at = ROOT.to_string();
        for part in parts {
            at = self.edges.get(&(at, part.to_string()))?.0.clone();
        }
        Some(self.nodes.get(&at)?.id.as_str())
    }

    /// A container named any way the user may name one: a graph path or docker name, a full
    /// id, or a unique id prefix.
    /// As docker resolves a container: a full id first, then a name or path, then a unique
    /// id prefix.
    pub fn resolve(&self, arg: &str) -> Result<&str, GraphError> {
        if let Some((id, _)) = self.nodes.get_key_value(arg) {
            return Ok(id.as_str());
        }
        if let Some(id) = self.resolve_path(arg) {
            return Ok(id);
        }
        let hex = !arg.is_empty() && arg.chars().all(|c| c.is_ascii_hexdigit());
        if hex {
            let matches: Vec<&str> = self
                .nodes
                .range(arg.to_string()..)
                .take_while(|(id, _)| id.starts_with(arg))
                .map(|(id, _)| id.as_str())
                .collect();
            match matches.as_slice() {
                [one] => return Ok(one),
                [] => {}
                many => {
                    return Err(GraphError::Ambiguous {
                        arg: arg.to_string(),
                        candidates: many
                            .iter()
                            .map(|id| short(id))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        }
        Err(GraphError::NotFound(arg.to_string()))
    }

    /// Resolves the parent part of a path and returns `(parent id or ROOT, last element)`.
    pub fn split_path<'a>(&self, path: &'a str) -> Result<(String, &'a str), GraphError> {
        let parts = elements(path);
        let Some((last, init)) = parts.split_last() else {
            return Err(GraphError::RemoveRoot);
        };
        if init.is_empty() {
            return Ok((ROOT.to_string(), last));
        }
        let parent_path = init.join("/");
        let parent = self
            .resolve_path(&parent_path)
            .ok_or_else(|| GraphError::NotFound(parent_path.clone()))?;
        Ok((parent.to_string(), last))
    }

    /// The edge a path names, with its source.
    pub fn edge(&self, path: &str) -> Result<(Edge, Source), GraphError> {
        let (parent, name) = self.split_path(path)?;
        let (child, source) = self
            .edges
            .get(&(parent.clone(), name.to_string()))
            .ok_or_else(|| GraphError::NotFound(path.trim_matches('/').to_string()))?;
        Ok((
            Edge {
                parent,
                name: name.to_string(),
                child: child.clone(),
            },
            *source,
        ))
    }

    /// Checks that `(parent, name) → child` may be added: a valid, free name (an alias of a
    /// link is a DNS name), no self link.
    pub fn check_new(&self, parent: &str, name: &str, child: &str) -> Result<(), GraphError> {
        if parent == ROOT {
            validate_name(name)?;
        } else {
            validate_alias(name)?;
        }
        if parent == child {
            return Err(GraphError::SelfLink(self.display(child)));
        }
        if let Some((by, _)) = self.edges.get(&(parent.to_string(), name.to_string())) {
            let path = match parent {
                ROOT => name.to_string(),
                p => format!("{}/{name}", self.path_of(p)),
            };
            return Err(GraphError::Taken {
                path,
                by: self.display(by),
            });
        }
        Ok(())
    }

    /// `name (short id)` for messages.
    pub fn display(&self, id: &str) -> String {
        match self.nodes.get(id) {
            Some(n) if n.name() != n.short_id() => format!("{} ({})", n.name(), n.short_id()),
            _ => short(id).to_string(),
        }
    }

    /// A path that leads to `id`: its first root name, else its short id (the proposal's
    /// `37ewg328232g/redis` for a parent without a name).
    pub fn path_of(&self, id: &str) -> String {
        self.edges
            .iter()
            .find(|((p, _), (c, _))| p == ROOT && c == id)
            .map(|((_, name), _)| name.clone())
            .unwrap_or_else(|| short(id).to_string())
    }

    /// The edges whose parent is `id`.
    pub fn children<'a>(
        &'a self,
        id: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str, Source)> + 'a {
        self.edges
            .range((id.to_string(), String::new())..)
            .take_while(move |((p, _), _)| p == id)
            .map(|((_, name), (child, source))| (name.as_str(), child.as_str(), *source))
    }

    /// The edges that lead to `id`: `(parent, name, source)`.
    pub fn parents(&self, id: &str) -> Vec<(&str, &str, Source)> {
        self.edges
            .iter()
            .filter(|(_, (c, _))| c == id)
            .map(|((p, n), (_, s))| (p.as_str(), n.as_str(), *s))
            .collect()
    }

    /// Every path, depth-first from the root names of the containers `show` accepts, then
    /// the links of parents that have no root name (listed under their short id). A
    /// container already on the current path is not entered again, so cycles end.
    pub fn walk(&self, show: &dyn Fn(&Node) -> bool) -> Vec<Walked> {
        let mut out = Vec::new();
        let mut on_path = Vec::new();
        let mut named = BTreeSet::new();
        for ((p, name), (child, _)) in &self.edges {
            if p != ROOT {
                continue;
            }
            named.insert(child.clone());
            if self.nodes.get(child).is_some_and(show) {
                self.descend(
                    name.clone(),
                    String::new(),
                    name,
                    child,
                    show,
                    &mut on_path,
                    &mut out,
                );
            }
        }
        let unnamed: BTreeSet<&String> = self
            .edges
            .keys()
            .map(|(p, _)| p)
            .filter(|p| p.as_str() != ROOT && !named.contains(*p))
            .collect();
        for p in unnamed {
            if self.nodes.get(p.as_str()).is_some_and(show) {
                on_path.push(p.clone());
                let base = short(p).to_string();
                for (name, child, _) in self.children(p) {
                    if self.nodes.get(child).is_some_and(show) {
                        self.descend(
                            format!("{base}/{name}"),
                            base.clone(),
                            name,
                            child,
                            show,
                            &mut on_path,
                            &mut out,
                        );
                    }
                }
                on_path.pop();
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn descend(
        &self,
        path: String,
        parent: String,
        alias: &str,
        id: &str,
        show: &dyn Fn(&Node) -> bool,
        on_path: &mut Vec<String>,
        out: &mut Vec<Walked>,
    ) {
        out.push(Walked {
            path: path.clone(),
            parent,
            alias: alias.to_string(),
            id: id.to_string(),
        });
        if on_path.len() >= MAX_DEPTH || on_path.iter().any(|p| p == id) {
            return;
        }
        on_path.push(id.to_string());
        for (name, child, _) in self.children(id) {
            // A link back to a container on the path is listed, not entered.
            if self.nodes.get(child).is_some_and(show) {
                self.descend(
                    format!("{path}/{name}"),
                    path.clone(),
                    name,
                    child,
                    show,
                    on_path,
                    out,
                );
            }
        }
        on_path.pop();
    }
}

/// The edges a container declares through its creation labels.
pub fn declared(n: &Node) -> Vec<Edge> {
    declared_checked(n).0
}

/// The edges a container's labels declare, and what is wrong with the entries that were left
/// out (labels written by hand or by compose: garbage must never reach the daemon as an alias).
pub fn declared_checked(n: &Node) -> (Vec<Edge>, Vec<String>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    if let Some(names) = n.labels.get(NAMES_LABEL) {
        for name in names.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match validate_name(name) {
                Ok(()) => out.push(Edge {
                    parent: ROOT.to_string(),
                    name: name.to_string(),
                    child: n.id.clone(),
                }),
                Err(e) => bad.push(format!("{NAMES_LABEL}: {e}")),
            }
        }
    }
    if let Some(links) = n.labels.get(LINKS_LABEL) {
        for link in links.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((child, alias)) = link.split_once(':') else {
                bad.push(format!("{LINKS_LABEL}: {link:?} is not CHILD:ALIAS"));
                continue;
            };
            let (child, alias) = (child.trim(), alias.trim());
            if child.is_empty() {
                bad.push(format!("{LINKS_LABEL}: {link:?} names no child"));
                continue;
            }
            if let Err(e) = validate_alias(alias) {
                bad.push(format!("{LINKS_LABEL}: {e}"));
                continue;
            }
            out.push(Edge {
                parent: n.id.clone(),
                name: alias.to_string(),
                child: child.to_string(),
            });
        }
    }
    (out, bad)
}

/// The child a declared link names when it is not a container id (labels written by hand,
/// compose's `docker-link.links: "db:redis"`): a docker name, else the service of that name
/// in the parent's compose project (its first replica, as compose numbers them).
fn declared_child<'a>(
    nodes: &'a BTreeMap<String, Node>,
    by_name: &HashMap<&str, &'a str>,
    parent: &Node,
    child: &str,
) -> Option<&'a str> {
    if let Some(id) = by_name.get(child) {
        return Some(id);
    }
    let project = parent.labels.get(crate::labels::COMPOSE_PROJECT)?;
    nodes
        .values()
        .filter(|c| {
            c.labels.get(crate::labels::COMPOSE_PROJECT) == Some(project)
                && c.labels
                    .get(crate::labels::COMPOSE_SERVICE)
                    .map(String::as_str)
                    == Some(child)
        })
        .min_by_key(|c| {
            let number = c
                .labels
                .get(crate::labels::COMPOSE_NUMBER)
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(u32::MAX);
            (!c.running(), number)
        })
        .map(|c| c.id.as_str())
}

/// The `docker-link.links` label value for links `(alias, child id)`.
pub fn links_label(links: &[(String, String)]) -> String {
    links
        .iter()
        .map(|(alias, child)| format!("{child}:{alias}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Containers and edges for the graph's table tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A 64-hex id of one repeated character.
    pub(crate) fn id(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    /// A running container with docker names.
    pub(crate) fn node(c: char, names: &[&str]) -> Node {
        Node {
            id: id(c),
            names: names.iter().map(|s| s.to_string()).collect(),
            image: "img".into(),
            state: State::Running,
            labels: Labels::new(),
        }
    }

    pub(crate) fn edge(parent: &str, name: &str, child: &str) -> Edge {
        Edge {
            parent: parent.into(),
            name: name.into(),
            child: child.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{edge, id, node};
    use super::*;

    #[test]
    fn garbage_labels_are_left_out_and_said() {
        let mut n = node('a', &["web"]);
        n.labels.insert(
            crate::labels::LINKS.into(),
            "db:redis,::,x,:y,db:-bad-,db: ok2 ".into(),
        );
        n.labels
            .insert(crate::labels::NAMES.into(), "good1,_no".into());
        let (edges, bad) = declared_checked(&n);
        let got: Vec<(&str, &str)> = edges
            .iter()
            .map(|e| (e.name.as_str(), e.child.as_str()))
            .collect();
        assert_eq!(
            got,
            [("good1", &id('a')[..]), ("redis", "db"), ("ok2", "db")]
        );
        assert_eq!(bad.len(), 5, "{bad:?}");
        assert!(
            bad.iter().any(|b| b.contains("\"x\" is not CHILD:ALIAS")),
            "{bad:?}"
        );
    }

    /// Declared links name their child by id, docker name, or compose service: a service
    /// resolves within the parent's project, to its first replica (running first).
    #[test]
    fn declared_children_by_name_and_compose_service() {
        let compose = |c: char, names: &[&str], project: &str, service: &str, n: &str| {
            let mut node = node(c, names);
            node.labels.extend([
                (
                    crate::labels::COMPOSE_PROJECT.to_string(),
                    project.to_string(),
                ),
                (
                    crate::labels::COMPOSE_SERVICE.to_string(),
                    service.to_string(),
                ),
                (crate::labels::COMPOSE_NUMBER.to_string(), n.to_string()),
            ]);
            node
        };
        let mut web = compose('a', &["p_web_1"], "p", "web", "1");
        web.labels.insert(
            crate::labels::LINKS.into(),
            "db:redis, cache_x:kv, nowhere:gone".into(),
        );
        let mut stopped_first = compose('b', &["p_db_1"], "p", "db", "1");
        stopped_first.state = State::Exited;
        let view = View::build(
            vec![
                web,
                stopped_first,
                compose('c', &["p_db_2"], "p", "db", "2"),
                compose('d', &["p_db_3"], "p", "db", "3"),
                compose('e', &["q_db_1"], "q", "db", "1"),
                node('f', &["cache_x"]),
            ],
            &Stored::new(),
        );
        let parent = id('a');
        let children: Vec<(&str, &str)> = view
            .children(&parent)
            .map(|(name, child, _)| (name, child))
            .collect();
        assert_eq!(children, [("kv", &id('f')[..]), ("redis", &id('c')[..])]);
    }

    /// The proposal's example: redis (b) named db1, web (a) links it as redis, web named frontend.
    fn example() -> (View, Stored) {
        let mut stored = Stored::new();
        stored.edges.insert(edge(ROOT, "db1", &id('b')));
        stored.edges.insert(edge(ROOT, "frontend", &id('a')));
        stored.edges.insert(edge(&id('a'), "redis", &id('b')));
        let view = View::build(vec![node('a', &["web"]), node('b', &["redis_1"])], &stored);
        (view, stored)
    }

    #[test]
    fn names() {
        for ok in ["db1", "a.b", "x-y_z", "9lives"] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a", "-x", "_x", "a/b", "a b", "é1", ".x"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn walk_lists_the_proposals_paths_by_depth() {
        let (view, _) = example();
        let mut got: Vec<String> = view.walk(&|_| true).into_iter().map(|w| w.path).collect();
        got.sort_by(|a, b| (a.matches('/').count(), a).cmp(&(b.matches('/').count(), b)));
        assert_eq!(
            got,
            [
                "db1",
                "frontend",
                "redis_1",
                "web",
                "frontend/redis",
                "web/redis"
            ]
        );
    }

    #[test]
    fn resolve_paths_names_and_prefixes() {
        let (view, _) = example();
        let cases: &[(&str, Result<String, ()>)] = &[
            ("db1", Ok(id('b'))),
            ("/db1/", Ok(id('b'))),
            ("frontend/redis", Ok(id('b'))),
            ("web", Ok(id('a'))),
            ("aaaa", Ok(id('a'))),
            ("web/nope", Err(())),
            ("nope", Err(())),
            ("c", Err(())),
        ];
        for (arg, want) in cases {
            let got = view.resolve(arg).map(str::to_string).map_err(|_| ());
            assert_eq!(&got, want, "{arg}");
        }
    }

    #[test]
    fn ambiguous_prefix_is_an_error() {
        let mut a = node('a', &["one"]);
        let mut b = node('a', &["two"]);
        a.id = format!("ab{}", &a.id[2..]);
        b.id = format!("ac{}", &b.id[2..]);
        let view = View::build(vec![a, b], &Stored::new());
        assert!(matches!(
            view.resolve("a"),
            Err(GraphError::Ambiguous { .. })
        ));
        assert!(view.resolve("ab").is_ok());
    }

    #[test]
    fn new_edges_are_checked() {
        let (view, _) = example();
        assert_eq!(view.check_new(ROOT, "db2", &id('b')), Ok(()));
        assert!(matches!(
            view.check_new(ROOT, "db1", &id('a')),
            Err(GraphError::Taken { path, by }) if path == "db1" && by.contains("redis_1")
        ));
        assert!(matches!(
            view.check_new(ROOT, "web", &id('b')),
            Err(GraphError::Taken { .. })
        ));
        assert!(matches!(
            view.check_new(&id('a'), "redis", &id('b')),
            Err(GraphError::Taken { path, .. }) if path == "frontend/redis"
        ));
        assert_eq!(
            view.check_new(&id('a'), "me", &id('a')),
            Err(GraphError::SelfLink("web (aaaaaaaaaaaa)".into()))
        );
        assert!(view.check_new(ROOT, "bad name", &id('a')).is_err());
    }

    #[test]
    fn sources_and_precedence() {
        let mut parent = node('a', &["web", "web/legacy"]);
        parent
            .labels
            .insert(LINKS_LABEL.into(), format!("{}:cache", id('c')));
        let mut child = node('c', &["cache_1"]);
        child.labels.insert(NAMES_LABEL.into(), "cache,web".into());
        let mut stored = Stored::new();
        stored.edges.insert(edge(ROOT, "cache", &id('a')));
        let legacy = node('d', &["old", "web/legacy"]);
        let view = View::build(vec![parent, child, legacy], &stored);
        let src = |p: &str| view.edge(p).map(|(e, s)| (e.child, s));
        assert_eq!(src("web"), Ok((id('a'), Source::Docker)));
        // A declared name cannot shadow a docker name; it can shadow the registry's.
        assert_eq!(src("cache"), Ok((id('c'), Source::Declared)));
        assert_eq!(src("web/cache"), Ok((id('c'), Source::Declared)));
        assert_eq!(src("web/legacy").map(|x| x.1), Ok(Source::Engine));
    }

    #[test]
    fn removed_declared_edges_and_dead_containers_are_hidden() {
        let mut parent = node('a', &["web"]);
        parent.labels.insert(
            LINKS_LABEL.into(),
            format!("{}:db,{}:gone", id('b'), id('f')),
        );
        let mut stored = Stored::new();
        stored.removed.insert(edge(&id('a'), "db", &id('b')));
        stored.edges.insert(edge(ROOT, "ghost", &id('e')));
        let view = View::build(vec![parent, node('b', &["redis"])], &stored);
        assert!(view.edge("web/db").is_err());
        assert!(view.edge("web/gone").is_err());
        assert!(view.edge("ghost").is_err());
        let mut purged = stored.clone();
        assert_eq!(purged.purge(&|id| view.nodes.contains_key(id)), 1);
        assert!(purged.removed.len() == 1 && purged.edges.is_empty());
    }

    #[test]
    fn cycles_end() {
        let mut stored = Stored::new();
        stored.edges.insert(edge(&id('a'), "b", &id('b')));
        stored.edges.insert(edge(&id('b'), "a", &id('a')));
        stored.edges.insert(edge(&id('b'), "b2", &id('b')));
        let view = View::build(vec![node('a', &["x"]), node('b', &["y"])], &stored);
        let paths: Vec<String> = view.walk(&|_| true).into_iter().map(|w| w.path).collect();
        assert_eq!(
            paths,
            ["x", "x/b", "x/b/a", "x/b/b2", "y", "y/a", "y/a/b", "y/b2"]
        );
    }

    #[test]
    fn unnamed_parents_show_as_short_ids() {
        let mut stored = Stored::new();
        stored.edges.insert(edge(&id('a'), "redis", &id('b')));
        let view = View::build(vec![node('a', &[]), node('b', &["db"])], &stored);
        let paths: Vec<String> = view.walk(&|_| true).into_iter().map(|w| w.path).collect();
        assert_eq!(paths, ["db", "aaaaaaaaaaaa/redis"]);
    }

    #[test]
    fn schema_is_checked() {
        let s = Stored::new();
        assert_eq!(Stored::parse(&s.to_json()), Ok(s));
        let newer = r#"{"schema":3,"edges":[],"future":1}"#;
        assert!(matches!(Stored::parse(newer), Err(GraphError::Schema(m)) if m.contains("newer")));
        for bad in [
            "{}",
            "nope",
            r#"{"schema":0,"edges":[]}"#,
            r#"{"schema":1,"edges":3}"#,
        ] {
            assert!(Stored::parse(bad).is_err(), "{bad}");
        }
    }
}
