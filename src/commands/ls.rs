//! `docker ls`: list container names and link paths (`db1`, `frontend/redis`), sorted by depth
//! then name, as the 2013 proposal's `docker ls` printed them.
//!
//! Every container's docker name is a root name (graphdb's `/name` edge); the names and links
//! the graph store adds are further edges of the same listing.

use std::collections::BTreeSet;
use std::process::ExitCode;

use crate::graph::model::Node;
use crate::output::{self, Column, Format, Record};
use crate::Ctx;

/// List names and link paths (`db1`, `frontend/redis`), sorted by depth then name.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Include stopped containers.
    #[arg(short, long)]
    pub all: bool,
    /// Only print container ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the graph as a tree.
    #[arg(long)]
    pub tree: bool,
    /// Filter output (`name=…`, `id=…`, `parent=…`, `alias=…`, `status=…`).
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<Filter>,
    /// Format output: table, json, or a Go template (`table {{.Name}}\t{{.ID}}`).
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// One `--filter KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Substring of the path, as `docker ps --filter name=`.
    Name(String),
    /// Prefix of the container id.
    Id(String),
    /// The parent's path (`frontend`), `/` for root names.
    Parent(String),
    /// The last path element.
    Alias(String),
    /// The container's state (`running`, `exited`, …).
    Status(String),
}

impl std::str::FromStr for Filter {
    type Err = String;

    fn from_str(s: &str) -> Result<Filter, String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("bad format of filter \"{s}\" (expected name=value)"))?;
        let v = v.to_string();
        Ok(match k {
            "name" => Filter::Name(v),
            "id" => Filter::Id(v),
            "parent" => Filter::Parent(v.trim_start_matches('/').to_string()),
            "alias" => Filter::Alias(v),
            "status" => Filter::Status(v),
            other => {
                return Err(format!(
                    "invalid filter \"{other}\" (filters: name, id, parent, alias, status)"
                ))
            }
        })
    }
}

/// One name or link path.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Entry {
    /// The path without the leading slash: `db1`, `frontend/redis`.
    #[serde(rename = "Name")]
    pub name: String,
    /// Short container id.
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Image")]
    pub image: String,
    /// The parent's path, empty for root names.
    #[serde(rename = "Parent")]
    pub parent: String,
    /// The last path element.
    #[serde(rename = "Alias")]
    pub alias: String,
    #[serde(rename = "State")]
    pub state: String,
}

impl Record for Entry {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            Column::new("Name", "NAME"),
            Column::new("ID", "CONTAINER"),
            Column::new("Image", "IMAGE"),
        ];
        COLUMNS
    }
}

impl Entry {
    fn depth(&self) -> usize {
        self.name.matches('/').count()
    }

    fn matches(&self, f: &Filter) -> bool {
        match f {
            Filter::Name(n) => self.name.contains(n.as_str()),
            Filter::Id(p) => self.id.starts_with(p.as_str()),
            Filter::Parent(p) => self.parent == *p || (p.is_empty() && self.parent.is_empty()),
            Filter::Alias(a) => self.alias == *a,
            Filter::Status(s) => self.state == *s,
        }
    }
}

/// Sorts by depth, then name (the proposal's order), and applies the filters.
pub fn arrange(mut entries: Vec<Entry>, filters: &[Filter]) -> Vec<Entry> {
    entries.retain(|e| filters.iter().all(|f| e.matches(f)));
    // Each entry's depth counted once, not twice per comparison.
    let mut keyed: Vec<(usize, Entry)> = entries.into_iter().map(|e| (e.depth(), e)).collect();
    keyed.sort_unstable_by(|(da, a), (db, b)| (da, &a.name, &a.id).cmp(&(db, &b.name, &b.id)));
    let mut entries: Vec<Entry> = keyed.into_iter().map(|(_, e)| e).collect();
    entries.dedup();
    entries
}

/// The listing as a tree: each root name, then its links indented beneath it. Children are
/// found by path prefix, so a cycle in the graph can never loop here.
pub fn tree(entries: &[Entry]) -> String {
    let mut out = String::new();
    let width = entries
        .iter()
        .map(|e| e.alias.chars().count() + 3 * e.depth())
        .max()
        .unwrap_or(0);
    fn walk(entries: &[Entry], parent: &str, indent: usize, width: usize, out: &mut String) {
        for e in entries.iter().filter(|e| e.parent == parent) {
            let label = if indent == 0 {
                e.alias.clone()
            } else {
                format!("{}└─ {}", "   ".repeat(indent - 1), e.alias)
            };
            let pad = width.saturating_sub(label.chars().count()) + 3;
            out.push_str(&format!(
                "{label}{}{}   {}\n",
                " ".repeat(pad),
                e.id,
                e.image
            ));
            walk(entries, &e.name, indent + 1, width, out);
        }
    }
    walk(entries, "", 0, width, &mut out);
    out
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let entries = ctx.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        collect(&daemon, ctx, args.all).await
    })?;
    let entries = arrange(entries, &args.filters);
    if args.quiet {
        let mut seen = BTreeSet::new();
        let ids: String = entries
            .iter()
            .filter(|e| seen.insert(e.id.clone()))
            .map(|e| format!("{}\n", e.id))
            .collect();
        output::write_stdout(ids.as_bytes())?;
    } else if args.tree {
        output::write_stdout(tree(&entries).as_bytes())?;
    } else {
        output::print(&args.format, &entries)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every name and link path. One API call (the registry is a container of the same
/// listing): the listing must cost no more than `docker ps`. What the read found wrong (a
/// registry read from its copy, a name hidden by a docker name) is said on stderr.
async fn collect(
    daemon: &crate::docker::Daemon,
    ctx: &Ctx,
    all: bool,
) -> anyhow::Result<Vec<Entry>> {
    let store = crate::graph::store::Store::new(daemon, &ctx.config.registry, ctx.cancel.clone());
    let snap = store.load().await?;
    for w in snap.warnings.iter().chain(&snap.view.shadow_warnings()) {
        output::warn(w);
    }
    let view = &snap.view;
    let show = |n: &Node| all || n.running();
    Ok(view
        .walk(&show)
        .into_iter()
        .filter_map(|w| {
            let node = view.node(&w.id)?;
            Some(Entry {
                name: w.path,
                id: node.short_id().to_string(),
                image: node.image.clone(),
                parent: w.parent,
                alias: w.alias,
                state: node.state.as_str().to_string(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, id: &str, state: &str) -> Entry {
        let (parent, alias) = match name.rsplit_once('/') {
            Some((p, a)) => (p.to_string(), a.to_string()),
            None => (String::new(), name.to_string()),
        };
        Entry {
            name: name.into(),
            id: id.into(),
            image: "img".into(),
            parent,
            alias,
            state: state.into(),
        }
    }

    #[test]
    fn sorted_by_depth_then_name() {
        let got = arrange(
            vec![
                e("web/redis", "b", "running"),
                e("web", "a", "running"),
                e("frontend/redis", "b", "running"),
                e("db1", "b", "running"),
                e("frontend", "a", "running"),
            ],
            &[],
        );
        let names: Vec<_> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["db1", "frontend", "web", "frontend/redis", "web/redis"]
        );
    }

    #[test]
    fn filters() {
        let all = vec![
            e("db1", "b1", "running"),
            e("web", "a1", "exited"),
            e("web/redis", "b1", "running"),
        ];
        let cases: &[(&str, &[&str])] = &[
            ("name=web", &["web", "web/redis"]),
            ("id=a", &["web"]),
            ("parent=web", &["web/redis"]),
            ("parent=/web", &["web/redis"]),
            ("alias=redis", &["web/redis"]),
            ("status=exited", &["web"]),
        ];
        for (f, want) in cases {
            let f: Filter = f.parse().unwrap();
            let got: Vec<_> = arrange(all.clone(), std::slice::from_ref(&f))
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(got, *want, "{f:?}");
        }
        assert!("nope=1"
            .parse::<Filter>()
            .unwrap_err()
            .contains("invalid filter"));
        assert!("name".parse::<Filter>().unwrap_err().contains("bad format"));
    }

    #[test]
    fn tree_indents_links_under_their_parent() {
        let entries = arrange(
            vec![
                e("web", "a1", "running"),
                e("web/redis", "b1", "running"),
                e("db1", "b1", "running"),
            ],
            &[],
        );
        assert_eq!(
            tree(&entries),
            "db1        b1   img\nweb        a1   img\n└─ redis   b1   img\n"
        );
    }

    #[test]
    fn table_has_the_proposal_columns() {
        let mut out = Vec::new();
        output::render(
            &Format::Table,
            &[e("db1", "0123456789ab", "running")],
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("NAME"), "{text}");
        assert!(text.lines().next().unwrap().contains("CONTAINER"));
        assert!(text.contains("db1"));
    }
}
