//! cobra's `__complete` protocol for the five names: candidates one per line (with a tab and a
//! description unless disabled), then `:<directive>`.
//!
//! The docker CLI runs `docker-<name> __complete <name> <args…> <word>` for `docker <name>
//! <args…> <TAB>`; cobra's old bash script runs `__completeNoDesc <args…> <word>` without the
//! name. Completion walks the same clap tree and the same argv shape as execution
//! ([`crate::cli::normalise`]), in two steps:
//! - [`plan`] (pure): subcommands, flags, flag values, and which dynamic sources a positional
//!   wants, decided from the clap tree;
//! - [`run`]: asks the daemon for those sources under a short timeout and prints.
//!
//! What a positional or an option completes with is decided by its clap id (or value name),
//! so commands only have to name their arguments well:
//!
//! | id / value name                     | candidates                                  |
//! |-------------------------------------|---------------------------------------------|
//! | `container(s)`, `parent`, `path(s)`, `child(ren)` | docker names, graph names and link paths, short ids ([`graph_candidates`]) |
//! | `link(s)` (`CHILD:ALIAS`)           | container names followed by `:`             |
//! | `network(s)`                        | network names                               |
//! | `format`                            | `table`, `json`                             |
//! | possible values (`ValueEnum`)       | those values with their help                |
//! | `ValueHint::FilePath`, `AnyPath`    | files (`.yaml`/`.yml` for `file(s)`, compose files) |
//! | `ValueHint::DirPath`                | directories                                 |
//!
//! `docker link run`/`create` hand their arguments to `docker run`/`create`, so their
//! completion is docker's own (`docker __complete run …`), except `--link`/`-link`.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, Command, ValueHint};

use crate::plugin::Plugin;
use crate::Ctx;

/// cobra's `ShellCompDirectiveError`.
pub const ERROR: u32 = 1;
/// cobra's `ShellCompDirectiveNoSpace`: do not add a space after the candidate.
pub const NO_SPACE: u32 = 2;
/// cobra's `ShellCompDirectiveNoFileComp`: the default for docker commands.
pub const NO_FILE_COMP: u32 = 4;
/// cobra's `ShellCompDirectiveFilterFileExt`: the candidates are file extensions.
pub const FILTER_FILE_EXT: u32 = 8;
/// cobra's `ShellCompDirectiveFilterDirs`: complete directories only.
pub const FILTER_DIRS: u32 = 16;
/// cobra's `ShellCompDirectiveKeepOrder`.
pub const KEEP_ORDER: u32 = 32;

/// How long completion waits for the daemon before printing what it has: a TAB must answer.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(1);

/// The daemon's time to answer a TAB: [`DAEMON_TIMEOUT`] unless `DOCKER_LINK_COMPLETE_TIMEOUT`
/// (seconds, from the context's config) says otherwise.
fn daemon_timeout(ctx: &Ctx) -> Duration {
    ctx.config.complete_timeout.unwrap_or(DAEMON_TIMEOUT)
}

/// One completion candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub value: String,
    pub description: String,
}

impl Candidate {
    pub fn new(value: impl Into<String>, description: impl Into<String>) -> Candidate {
        Candidate {
            value: value.into(),
            description: description.into(),
        }
    }
}

/// Where candidates that the clap tree does not know come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Container names and short ids.
    Containers,
    /// Graph names and link paths (and containers): see [`graph_candidates`].
    Graph,
    /// Network names.
    Networks,
    /// Names of `docker proxy` proxies.
    Proxies,
    /// Hosts (and `host/path`) the proxies route.
    ProxyHosts,
    /// The docker CLI's own completion of `docker <args…>` (for `docker link run`).
    Docker(Vec<String>),
}

/// What to print for one `__complete` call, before the daemon is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Candidates known from the clap tree, already filtered by the word.
    pub candidates: Vec<Candidate>,
    /// Dynamic sources to add, filtered by `word`.
    pub sources: Vec<Source>,
    /// The part of the word being completed (after `--flag=`).
    pub word: String,
    /// Appended to each dynamic candidate (`:` for `CHILD:ALIAS`).
    pub suffix: String,
    pub directive: u32,
}

impl Plan {
    fn new(word: &str) -> Plan {
        Plan {
            candidates: Vec::new(),
            sources: Vec::new(),
            word: word.to_string(),
            suffix: String::new(),
            directive: NO_FILE_COMP,
        }
    }
}

/// Answers `__complete` / `__completeNoDesc`: `args` is what follows that word.
pub fn run(ctx: &Ctx, args: &[OsString], with_desc: bool) -> ExitCode {
    let mut words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if words.first().map(String::as_str) == Some(ctx.plugin.name()) {
        words.remove(0);
    }
    let word = words.pop().unwrap_or_default();
    let plan = plan(&crate::cli::command(), ctx.plugin, &words, &word);

    let mut candidates = plan.candidates.clone();
    let mut directive = plan.directive;
    if !plan.sources.is_empty() {
        let mut found = Vec::new();
        match ctx.runtime() {
            Ok(rt) => {
                let fill = fetch(ctx, &plan, &mut found, &mut directive);
                let limit = daemon_timeout(ctx);
                if rt
                    .block_on(async { tokio::time::timeout(limit, fill).await })
                    .is_err()
                {
                    tracing::debug!("completion: the daemon did not answer in {limit:?}");
                }
            }
            Err(e) => tracing::debug!("completion: {e}"),
        }
        candidates.extend(
            found
                .into_iter()
                .filter(|c| c.value.starts_with(&plan.word)),
        );
    }

    let mut out = String::new();
    let mut seen = std::collections::HashSet::new();
    for c in &candidates {
        if !seen.insert(c.value.as_str()) {
            continue;
        }
        out.push_str(&c.value);
        let desc = c.description.lines().next().unwrap_or("").trim();
        if with_desc && !desc.is_empty() {
            out.push('\t');
            out.push_str(desc);
        }
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    // cobra says this on stderr too; the shell scripts discard it, people debugging read it.
    let _ = writeln!(
        std::io::stderr().lock(),
        "Completion ended with directive: {}",
        directive_name(directive)
    );
    ExitCode::SUCCESS
}

/// cobra's names for a directive, as it prints them on stderr.
pub fn directive_name(directive: u32) -> String {
    if directive == 0 {
        return "ShellCompDirectiveDefault".into();
    }
    let names = [
        (ERROR, "ShellCompDirectiveError"),
        (NO_SPACE, "ShellCompDirectiveNoSpace"),
        (NO_FILE_COMP, "ShellCompDirectiveNoFileComp"),
        (FILTER_FILE_EXT, "ShellCompDirectiveFilterFileExt"),
        (FILTER_DIRS, "ShellCompDirectiveFilterDirs"),
        (KEEP_ORDER, "ShellCompDirectiveKeepOrder"),
    ];
    names
        .iter()
        .filter(|(bit, _)| directive & bit != 0)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fills `found` from the plan's sources, source by source, so a timeout keeps what came.
async fn fetch(ctx: &Ctx, plan: &Plan, found: &mut Vec<Candidate>, directive: &mut u32) {
    let mut docker = None;
    for source in &plan.sources {
        if let Source::Docker(args) = source {
            if let Some((cands, dir)) = docker_cli_candidates(ctx, args, &plan.word).await {
                found.extend(cands);
                *directive = dir;
            }
            continue;
        }
        if docker.is_none() {
            match crate::docker::connect(&ctx.globals, &ctx.config).await {
                Ok(d) => docker = Some(d),
                Err(e) => {
                    tracing::debug!("completion: {e}");
                    return;
                }
            }
        }
        let Some(d) = docker.as_ref() else { return };
        let result = match source {
            // Everywhere a container is taken, a graph name or link path is accepted too.
            Source::Containers | Source::Graph => graph_candidates(d, ctx).await,
            Source::Networks => network_candidates(d).await.map_err(anyhow::Error::from),
            Source::Proxies => proxy_candidates(d, false).await,
            Source::ProxyHosts => proxy_candidates(d, true).await,
            Source::Docker(_) => continue,
        };
        match result {
            Ok(cands) => found.extend(cands.into_iter().map(|mut c| {
                c.value.push_str(&plan.suffix);
                c
            })),
            Err(e) => tracing::debug!("completion: {e}"),
        }
    }
}

/// Candidates wherever a container is taken, from one container listing (the graph's
/// registry is a container of it): docker names (with image and state), then graph names and
/// link paths (`db1`, `frontend/redis`, with the docker name), then short ids. The plugin's
/// own registry and watcher are left out: nobody names or links them.
pub async fn graph_candidates(
    daemon: &crate::docker::Daemon,
    ctx: &Ctx,
) -> anyhow::Result<Vec<Candidate>> {
    let store = crate::graph::store::Store::new(daemon, &ctx.config.registry, ctx.cancel.clone());
    let snap = store.load().await?;
    let view = &snap.view;
    let mut names = Vec::new();
    let mut ids = Vec::new();
    for node in view.nodes.values() {
        let name = node.name().to_string();
        if name != node.short_id() {
            let desc = format!("{} ({})", node.image, node.state.as_str());
            names.push(Candidate::new(name.clone(), desc));
        }
        ids.push(Candidate::new(node.short_id().to_string(), name));
    }
    names.sort_by(|a, b| a.value.cmp(&b.value));
    let known: std::collections::HashSet<String> = names.iter().map(|c| c.value.clone()).collect();
    for w in view.walk(&|_| true) {
        if !known.contains(&w.path) {
            let desc = view
                .node(&w.id)
                .map(|n| n.name().to_string())
                .unwrap_or_default();
            names.push(Candidate::new(w.path, desc));
        }
    }
    names.extend(ids);
    Ok(names)
}

async fn network_candidates(
    daemon: &crate::docker::Daemon,
) -> Result<Vec<Candidate>, bollard::errors::Error> {
    let list = daemon
        .client()
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await?;
    let mut out: Vec<Candidate> = list
        .into_iter()
        .filter_map(|n| Some(Candidate::new(n.name?, n.driver.unwrap_or_default())))
        .collect();
    out.sort_by(|a, b| a.value.cmp(&b.value));
    Ok(out)
}

/// The proxies (`hosts`: false), or the hosts and paths they route (true), from one listing.
async fn proxy_candidates(
    daemon: &crate::docker::Daemon,
    hosts: bool,
) -> anyhow::Result<Vec<Candidate>> {
    let (listing, proxies) = crate::proxy::apply::observe(daemon).await?;
    let mut out: Vec<Candidate> = Vec::new();
    for p in &proxies {
        if !hosts {
            out.push(Candidate::new(
                p.name.clone(),
                format!("{} proxy, {}", p.engine.as_str(), p.state),
            ));
            continue;
        }
        for r in crate::proxy::apply::table(p, &listing).routes {
            out.push(Candidate::new(r.key(), r.service.clone()));
        }
    }
    out.sort_by(|a, b| a.value.cmp(&b.value));
    out.dedup_by(|a, b| a.value == b.value);
    Ok(out)
}

/// Asks the docker CLI itself: `docker __complete <args…> <word>`.
async fn docker_cli_candidates(
    ctx: &Ctx,
    args: &[String],
    word: &str,
) -> Option<(Vec<Candidate>, u32)> {
    let mut cmd = tokio::process::Command::new("docker");
    if let Some(config) = &ctx.globals.config {
        cmd.arg("--config").arg(config);
    }
    if let Some(context) = &ctx.globals.context {
        cmd.arg("--context").arg(context);
    }
    for host in &ctx.globals.hosts {
        cmd.arg("-H").arg(host);
    }
    cmd.arg("__complete")
        .args(args)
        .arg(word)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    // We are the plugin: the CLI must not think it runs us again.
    cmd.env_remove("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND");
    let output = match cmd.output().await {
        Ok(o) => o,
        Err(e) => {
            tracing::debug!("completion: cannot run docker: {e}");
            return None;
        }
    };
    parse_cobra_output(&String::from_utf8_lossy(&output.stdout))
}

/// Parses cobra's output: candidate lines, then `:<directive>`.
pub fn parse_cobra_output(text: &str) -> Option<(Vec<Candidate>, u32)> {
    let mut lines: Vec<&str> = text.lines().collect();
    let directive = lines.pop()?.strip_prefix(':')?.parse().ok()?;
    let candidates = lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('\t') {
            Some((v, d)) => Candidate::new(v, d),
            None => Candidate::new(l, ""),
        })
        .collect();
    Some((candidates, directive))
}

// ---------------------------------------------------------------------------------------
// Planning from the clap tree.

/// What an argument's values are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Nothing,
    Values(Vec<Candidate>),
    Containers,
    Graph,
    /// `CHILD:ALIAS`: containers, then the user types the alias.
    ContainerLink,
    Networks,
    Proxies,
    ProxyHosts,
    Files,
    Yaml,
    Dirs,
}

fn kind_of(arg: &Arg) -> Kind {
    let values: Vec<Candidate> = arg
        .get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| {
            Candidate::new(
                v.get_name(),
                v.get_help().map(|h| h.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    if !values.is_empty() && arg.get_action().takes_values() {
        return Kind::Values(values);
    }
    let id = arg.get_id().as_str().to_ascii_lowercase();
    let value_name = arg
        .get_value_names()
        .and_then(|n| n.first())
        .map(|n| n.to_ascii_lowercase())
        .unwrap_or_default();
    let is = |names: &[&str]| names.contains(&id.as_str()) || names.contains(&value_name.as_str());
    match arg.get_value_hint() {
        ValueHint::FilePath | ValueHint::AnyPath => {
            return if is(&["file", "files", "compose_file", "compose_files"]) {
                Kind::Yaml
            } else {
                Kind::Files
            };
        }
        ValueHint::DirPath => return Kind::Dirs,
        _ => {}
    }
    if is(&["container", "containers", "parent"]) {
        Kind::Containers
    } else if is(&["path", "paths", "child", "children"]) {
        Kind::Graph
    } else if is(&["link", "links", "child:alias"]) {
        Kind::ContainerLink
    } else if is(&["network", "networks", "net"]) {
        Kind::Networks
    } else if is(&["proxy"]) {
        Kind::Proxies
    } else if is(&["host[/path]"]) {
        Kind::ProxyHosts
    } else if is(&["format"]) {
        Kind::Values(vec![
            Candidate::new("table", "Aligned columns with a header"),
            Candidate::new("json", "One JSON object per line"),
        ])
    } else {
        Kind::Nothing
    }
}

/// Adds what `kind` completes with to `plan`.
fn complete_kind(plan: &mut Plan, kind: Kind) {
    let word = plan.word.clone();
    match kind {
        Kind::Nothing => {}
        Kind::Values(values) => plan
            .candidates
            .extend(values.into_iter().filter(|c| c.value.starts_with(&word))),
        Kind::Containers => plan.sources.push(Source::Containers),
        Kind::Graph => plan.sources.push(Source::Graph),
        Kind::ContainerLink => {
            // After the colon comes the alias, which is the user's to choose.
            if !word.contains(':') {
                plan.sources.push(Source::Containers);
                plan.suffix = ":".into();
                plan.directive |= NO_SPACE;
            }
        }
        Kind::Networks => plan.sources.push(Source::Networks),
        Kind::Proxies => plan.sources.push(Source::Proxies),
        Kind::ProxyHosts => plan.sources.push(Source::ProxyHosts),
        Kind::Files => plan.directive &= !NO_FILE_COMP,
        Kind::Yaml => {
            plan.directive = FILTER_FILE_EXT;
            plan.candidates = vec![Candidate::new("yaml", ""), Candidate::new("yml", "")];
        }
        Kind::Dirs => {
            plan.directive = FILTER_DIRS;
            plan.candidates.clear();
        }
    }
}

fn help_line(arg: &Arg) -> String {
    arg.get_help()
        .map(|h| h.to_string().lines().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

fn repeatable(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append | ArgAction::Count)
}

fn find_long<'c>(cmd: &'c Command, name: &str) -> Option<&'c Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    })
}

fn find_short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| {
        a.get_short() == Some(c) || a.get_all_short_aliases().is_some_and(|al| al.contains(&c))
    })
}

/// The pure part of completion: `words` are the arguments after the plugin name (without
/// the word being completed), `word` the word being completed (`""` for a new one).
pub fn plan(root: &Command, plugin: Plugin, words: &[String], word: &str) -> Plan {
    let mut root = root.clone();
    // Propagates global arguments (`docker net -f`) into subcommands.
    root.build();
    let rest: Vec<OsString> = words.iter().map(OsString::from).collect();
    let argv: Vec<String> = crate::cli::normalise(plugin, &rest)
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();

    let mut cmd = &root;
    let mut path: Vec<String> = Vec::new();
    let mut positional = 0usize;
    let mut after_dashes = false;
    let mut used: Vec<clap::Id> = Vec::new();
    // A flag whose value is the next word.
    let mut pending: Option<&Arg> = None;

    let mut i = 1;
    while i < argv.len() {
        let w = argv[i].as_str();
        i += 1;
        if pending.take().is_some() {
            continue;
        }
        if is_pass_through(&path) {
            return plan_pass_through(&path, &argv[i - 1..], word);
        }
        if after_dashes || w == "-" || !w.starts_with('-') {
            if !after_dashes && positional == 0 {
                if let Some(sub) = cmd.find_subcommand(w) {
                    cmd = sub;
                    path.push(sub.get_name().to_string());
                    used.clear();
                    continue;
                }
            }
            positional += 1;
            continue;
        }
        if w == "--" {
            after_dashes = true;
            continue;
        }
        if let Some(long) = w.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            if let Some(arg) = find_long(cmd, name) {
                used.push(arg.get_id().clone());
                if takes_value(arg) && !inline {
                    pending = Some(arg);
                }
            }
            continue;
        }
        // A cluster of short flags: `-aq`, `-fFILE`, `-f FILE`.
        let shorts: Vec<char> = w[1..].chars().collect();
        for (j, c) in shorts.iter().enumerate() {
            let Some(arg) = find_short(cmd, *c) else {
                break;
            };
            used.push(arg.get_id().clone());
            if takes_value(arg) {
                if j + 1 == shorts.len() {
                    pending = Some(arg);
                }
                break;
            }
        }
    }

    if is_pass_through(&path) {
        return plan_pass_through(&path, &[], word);
    }

    let mut plan = Plan::new(word);
    if let Some(arg) = pending {
        complete_kind(&mut plan, kind_of(arg));
        return plan;
    }
    if !after_dashes && word.starts_with('-') {
        if let Some((name, value)) = word.strip_prefix("--").and_then(|w| w.split_once('=')) {
            plan.word = value.to_string();
            if let Some(arg) = find_long(cmd, name).filter(|a| takes_value(a)) {
                complete_kind(&mut plan, kind_of(arg));
            }
            return plan;
        }
        plan.candidates = flag_candidates(cmd, &used, word);
        return plan;
    }

    if !after_dashes && positional == 0 {
        let mut subs: Vec<&Command> = cmd
            .get_subcommands()
            // clap's generated `help` subcommand: docker's commands have none.
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .filter(|s| s.get_name().starts_with(word))
            .collect();
        subs.sort_by_key(|s| s.get_name());
        plan.candidates.extend(subs.into_iter().map(|s| {
            Candidate::new(
                s.get_name(),
                s.get_about().map(|a| a.to_string()).unwrap_or_default(),
            )
        }));
        // `docker link CONTAINER NAME` is `docker link add CONTAINER NAME` (cli::normalise).
        if path == ["link"] {
            plan.sources.push(Source::Containers);
        }
    }
    if let Some(arg) = positional_at(cmd, positional) {
        complete_kind(&mut plan, kind_of(arg));
    }
    plan
}

/// The positional that the `n`-th positional word fills (the last one takes the rest when it
/// is multi-valued).
fn positional_at(cmd: &Command, n: usize) -> Option<&Arg> {
    let mut positionals: Vec<&Arg> = cmd.get_positionals().collect();
    positionals.sort_by_key(|a| a.get_index());
    let mut left = n;
    for arg in positionals {
        let multi = repeatable(arg)
            || arg.is_trailing_var_arg_set()
            || arg.get_num_args().is_some_and(|r| r.max_values() > 1);
        if multi || left == 0 {
            return Some(arg);
        }
        left -= 1;
    }
    None
}

fn flag_candidates(cmd: &Command, used: &[clap::Id], word: &str) -> Vec<Candidate> {
    let mut flags: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .filter(|a| repeatable(a) || !used.contains(a.get_id()))
        .collect();
    let key = |a: &Arg| {
        a.get_long()
            .map(str::to_string)
            .or_else(|| a.get_short().map(|c| c.to_string()))
            .unwrap_or_default()
    };
    flags.sort_by_key(|a| key(a));
    let mut out = Vec::new();
    for a in flags {
        let help = help_line(a);
        if let Some(long) = a.get_long() {
            let flag = format!("--{long}");
            if flag.starts_with(word) {
                out.push(Candidate::new(flag, help.clone()));
            }
        }
        if let Some(short) = a.get_short() {
            let flag = format!("-{short}");
            if flag.starts_with(word) {
                out.push(Candidate::new(flag, help));
            }
        }
    }
    out
}

/// `docker link run` and `create` take `docker run`/`create` arguments.
fn is_pass_through(path: &[String]) -> bool {
    matches!(path, [l, c] if l == "link" && (c == "run" || c == "create"))
}

/// Completion inside `docker link run …`: our `--link` (also the 2013 `-link`) completes
/// containers; everything else is docker's own completion of `docker run …`.
fn plan_pass_through(path: &[String], args: &[String], word: &str) -> Plan {
    let mut plan = Plan::new(word);
    let is_link = |w: &str| w == "--link" || w == "-link";
    if args.last().is_some_and(|w| is_link(w)) {
        complete_kind(&mut plan, Kind::ContainerLink);
        return plan;
    }
    if let Some(value) = word
        .strip_prefix("--link=")
        .or_else(|| word.strip_prefix("-link="))
    {
        plan.word = value.to_string();
        complete_kind(&mut plan, Kind::ContainerLink);
        return plan;
    }
    // docker parses `-link` as `-l -i -n -k`: give it the long forms.
    let mut docker_args = vec![path[1].clone()];
    docker_args.extend(args.iter().map(|a| match a.as_str() {
        "-link" => "--link".to_string(),
        "-name" => "--name".to_string(),
        other => other.to_string(),
    }));
    plan.sources.push(Source::Docker(docker_args));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree shaped like ours, so these tests do not move when the real commands do.
    fn tree() -> Command {
        Command::new("docker")
            .subcommand(
                Command::new("link")
                    .about("Name containers")
                    .subcommand(
                        Command::new("add")
                            .about("Give a container an extra name")
                            .arg(Arg::new("container").required(true))
                            .arg(Arg::new("name").required(true)),
                    )
                    .subcommand(
                        Command::new("rm")
                            .about("Remove names or link paths")
                            .arg(Arg::new("paths").action(ArgAction::Append).num_args(1..)),
                    )
                    .subcommand(
                        Command::new("connect")
                            .about("Link a parent to a child")
                            .arg(Arg::new("parent"))
                            .arg(Arg::new("link").value_name("CHILD:ALIAS")),
                    )
                    .subcommand(
                        Command::new("run").about("Run a container").arg(
                            Arg::new("args")
                                .num_args(0..)
                                .trailing_var_arg(true)
                                .allow_hyphen_values(true),
                        ),
                    )
                    .subcommand(
                        Command::new("install")
                            .about("Install the plugin")
                            .arg(Arg::new("dir").long("dir").value_hint(ValueHint::DirPath))
                            .arg(
                                Arg::new("force")
                                    .long("force")
                                    .action(ArgAction::SetTrue)
                                    .help("Overwrite"),
                            ),
                    )
                    .subcommand(Command::new("generate").hide(true)),
            )
            .subcommand(
                Command::new("ls")
                    .about("List names")
                    .arg(
                        Arg::new("all")
                            .short('a')
                            .long("all")
                            .action(ArgAction::SetTrue)
                            .help("Show all\nsecond line"),
                    )
                    .arg(
                        Arg::new("filters")
                            .short('f')
                            .long("filter")
                            .action(ArgAction::Append)
                            .help("Filter output"),
                    )
                    .arg(Arg::new("format").long("format").help("Format output")),
            )
            .subcommand(
                Command::new("net")
                    .about("Wire containers")
                    .arg(
                        Arg::new("files")
                            .short('f')
                            .long("file")
                            .global(true)
                            .action(ArgAction::Append)
                            .value_hint(ValueHint::FilePath),
                    )
                    .arg(Arg::new("mode").long("mode").value_parser(["fast", "slow"]))
                    .subcommand(Command::new("up").about("Create"))
                    .subcommand(Command::new("down").about("Remove")),
            )
    }

    fn c(v: &str, d: &str) -> Candidate {
        Candidate::new(v, d)
    }

    struct Case {
        plugin: Plugin,
        words: &'static [&'static str],
        word: &'static str,
        candidates: Vec<Candidate>,
        sources: Vec<Source>,
        directive: u32,
    }

    fn case(plugin: Plugin, words: &'static [&'static str], word: &'static str) -> Case {
        Case {
            plugin,
            words,
            word,
            candidates: Vec::new(),
            sources: Vec::new(),
            directive: NO_FILE_COMP,
        }
    }

    impl Case {
        fn cands(mut self, c: Vec<Candidate>) -> Case {
            self.candidates = c;
            self
        }
        fn sources(mut self, s: Vec<Source>) -> Case {
            self.sources = s;
            self
        }
        fn directive(mut self, d: u32) -> Case {
            self.directive = d;
            self
        }
    }

    #[test]
    fn plans() {
        use Plugin::*;
        let link_subs = vec![
            c("add", "Give a container an extra name"),
            c("connect", "Link a parent to a child"),
            c("install", "Install the plugin"),
            c("rm", "Remove names or link paths"),
            c("run", "Run a container"),
        ];
        let cases =
            vec![
                // `docker link <TAB>`: subcommands and containers (the implicit `add`).
                case(Link, &[], "")
                    .cands(link_subs.clone())
                    .sources(vec![Source::Containers]),
                case(Link, &[], "r")
                    .cands(vec![link_subs[3].clone(), link_subs[4].clone()])
                    .sources(vec![Source::Containers]),
                // `docker link db1 <TAB>`: the new name, nothing to offer.
                case(Link, &["db1"], ""),
                case(Link, &["add"], "").sources(vec![Source::Containers]),
                case(Link, &["add", "db1"], ""),
                case(Link, &["rm"], "").sources(vec![Source::Graph]),
                case(Link, &["rm", "a", "b/c"], "fr").sources(vec![Source::Graph]),
                case(Link, &["connect"], "").sources(vec![Source::Containers]),
                case(Link, &["connect", "web"], "")
                    .sources(vec![Source::Containers])
                    .directive(NO_FILE_COMP | NO_SPACE),
                case(Link, &["connect", "web"], "db1:"),
                case(Link, &["install"], "--")
                    .cands(vec![c("--dir", ""), c("--force", "Overwrite")]),
                case(Link, &["install", "--force"], "--").cands(vec![c("--dir", "")]),
                case(Link, &["install", "--dir"], "").directive(FILTER_DIRS),
                case(Link, &["install"], "--dir=").directive(FILTER_DIRS),
                // Hidden commands are not offered.
                case(Link, &[], "g").sources(vec![Source::Containers]),
                // `docker ls --f<TAB>` and friends.
                case(Ls, &[], "--f").cands(vec![
                    c("--filter", "Filter output"),
                    c("--format", "Format output"),
                ]),
                case(Ls, &[], "-").cands(vec![
                    c("--all", "Show all"),
                    c("-a", "Show all"),
                    c("--filter", "Filter output"),
                    c("-f", "Filter output"),
                    c("--format", "Format output"),
                ]),
                // A used flag is not offered again, a repeatable one is.
                case(Ls, &["-a", "--filter", "x"], "-").cands(vec![
                    c("--filter", "Filter output"),
                    c("-f", "Filter output"),
                    c("--format", "Format output"),
                ]),
                case(Ls, &["--format"], "").cands(vec![
                    c("table", "Aligned columns with a header"),
                    c("json", "One JSON object per line"),
                ]),
                case(Ls, &["--format"], "j").cands(vec![c("json", "One JSON object per line")]),
                case(Ls, &["-af"], ""),
                case(Ls, &[], ""),
                // The second argv shape: called through another name.
                case(Link, &["ls"], "--a").cands(vec![c("--all", "Show all")]),
                // `docker net -f <TAB>`: compose files, also after a subcommand (global flag).
                case(Net, &["-f"], "")
                    .cands(vec![c("yaml", ""), c("yml", "")])
                    .directive(FILTER_FILE_EXT),
                case(Net, &["up", "--file"], "")
                    .cands(vec![c("yaml", ""), c("yml", "")])
                    .directive(FILTER_FILE_EXT),
                case(Net, &["-f", "x.yml"], "").cands(vec![c("down", "Remove"), c("up", "Create")]),
                case(Net, &[], "--mode=s").cands(vec![c("slow", "")]),
                case(Net, &["--mode"], "").cands(vec![c("fast", ""), c("slow", "")]),
                // `docker link run …`: docker's own completion, except --link.
                case(Link, &["run"], "").sources(vec![Source::Docker(vec!["run".into()])]),
                case(Link, &["run", "-d", "--name", "x"], "bu").sources(vec![Source::Docker(
                    vec!["run".into(), "-d".into(), "--name".into(), "x".into()],
                )]),
                case(Link, &["run", "-link", "a:b", "-name", "x"], "").sources(vec![
                    Source::Docker(vec![
                        "run".into(),
                        "--link".into(),
                        "a:b".into(),
                        "--name".into(),
                        "x".into(),
                    ]),
                ]),
                case(Link, &["run", "--link"], "")
                    .sources(vec![Source::Containers])
                    .directive(NO_FILE_COMP | NO_SPACE),
                case(Link, &["run", "-d", "-link"], "d")
                    .sources(vec![Source::Containers])
                    .directive(NO_FILE_COMP | NO_SPACE),
                case(Link, &["run"], "--link=r")
                    .sources(vec![Source::Containers])
                    .directive(NO_FILE_COMP | NO_SPACE),
            ];
        let root = tree();
        for case in cases {
            let words: Vec<String> = case.words.iter().map(|w| w.to_string()).collect();
            let got = plan(&root, case.plugin, &words, case.word);
            let what = format!("{:?} {:?} {:?}", case.plugin, case.words, case.word);
            assert_eq!(got.candidates, case.candidates, "candidates of {what}");
            assert_eq!(got.sources, case.sources, "sources of {what}");
            assert_eq!(got.directive, case.directive, "directive of {what}");
        }
    }

    #[test]
    fn proxy_names_hosts_containers_and_networks() {
        let root = crate::cli::command();
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (args, want) in [
            (&["status", "--name"][..], Source::Proxies),
            (&["reload", "--name"][..], Source::Proxies),
            (&["explain"][..], Source::ProxyHosts),
            (&["lint"][..], Source::Containers),
            (&["up", "--network"][..], Source::Networks),
        ] {
            let p = plan(&root, Plugin::Proxy, &words(args), "");
            assert_eq!(p.sources, vec![want], "{args:?}");
        }
        // `up --name` names a new proxy: nothing to offer.
        assert!(plan(&root, Plugin::Proxy, &words(&["up", "--name"]), "")
            .sources
            .is_empty());
    }

    #[test]
    fn link_suffix_and_word_after_equals() {
        let root = tree();
        let p = plan(&root, Plugin::Link, &["run".into()], "--link=re");
        assert_eq!(p.word, "re");
        assert_eq!(p.suffix, ":");
        let p = plan(&root, Plugin::Link, &["rm".into()], "fr");
        assert_eq!(p.word, "fr");
        assert_eq!(p.suffix, "");
    }

    #[test]
    fn directive_names() {
        for (d, want) in [
            (0, "ShellCompDirectiveDefault"),
            (4, "ShellCompDirectiveNoFileComp"),
            (6, "ShellCompDirectiveNoSpace, ShellCompDirectiveNoFileComp"),
            (8, "ShellCompDirectiveFilterFileExt"),
            (33, "ShellCompDirectiveError, ShellCompDirectiveKeepOrder"),
        ] {
            assert_eq!(directive_name(d), want, "{d}");
        }
    }

    #[test]
    fn cobra_output_parses() {
        type Parsed = Option<(Vec<Candidate>, u32)>;
        let cases: &[(&str, Parsed)] = &[
            (
                "busybox:latest\nnginx\tweb server\n:4\n",
                Some((vec![c("busybox:latest", ""), c("nginx", "web server")], 4)),
            ),
            (":2\n", Some((vec![], 2))),
            ("", None),
            ("no directive\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_cobra_output(text), *want, "{text:?}");
        }
    }

    /// The real tree: every command reachable, the documented kinds where they belong.
    #[test]
    fn real_tree() {
        let root = crate::cli::command();
        let p = plan(&root, Plugin::Link, &[], "");
        let names: Vec<&str> = p.candidates.iter().map(|c| c.value.as_str()).collect();
        for sub in ["add", "rm", "run", "install"] {
            assert!(
                names.contains(&sub),
                "docker link <TAB> lacks {sub}: {names:?}"
            );
        }
        assert!(p.sources.contains(&Source::Containers));
        let p = plan(&root, Plugin::Link, &["rm".into()], "");
        assert_eq!(p.sources, vec![Source::Graph]);
        let p = plan(&root, Plugin::Ls, &[], "--");
        assert!(
            p.candidates.iter().any(|c| c.value == "--all"),
            "{:?}",
            p.candidates
        );
    }
}
