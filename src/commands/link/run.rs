//! `docker link run` and `docker link create`: the docker CLI's own `create` with every flag
//! the user gave, plus the links. Validate everything first (links resolve to running
//! containers, the name is free, the network mode can take a link network), then apply:
//! the parent's link network, the children on it under their aliases, the variables computed
//! from the children's addresses there, `docker create`, the parent on the network, our init
//! if asked, and only then start. A failure after anything was made removes it again.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context as _;

use super::PassThrough;
use crate::commands::{Exit, Usage};
use crate::docker::engine::remove_if_present;
use crate::docker::{Daemon, Engine};
use crate::graph::model::{links_label, short, validate_alias, validate_name, Source, ROOT};
use crate::labels::{LINKS as LINKS_LABEL, NETWORK as NETWORK_LABEL};
use crate::links::env::{link_env, without_overridden};
use crate::links::run_args::{self, env_file_keys, env_key, RunArgs};
use crate::links::{init_volume, network, pool::Pool, realize};
use crate::output;
use crate::Ctx;

/// The init of `--init` inside the container: the file of the shared init volume
/// (`links::init_volume`), or a copy where no volume could be had.
pub(super) const INIT_PATH: &str = "/.docker-link/docker-link";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Run,
    Create,
}

impl Mode {
    fn verb(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Create => "create",
        }
    }
}

fn usage(mode: Mode) -> String {
    let verb = mode.verb();
    format!(
        "Usage:  docker link {verb} [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n\
         {} a container exactly as `docker {verb}` does, linked to other containers.\n\n\
         Options of docker-link (every other option is docker {verb}'s: `docker {verb} --help`):\n  \
         --link NAME:ALIAS     link to a container (a name, link path or id prefix) under ALIAS:\n                        \
         the ALIAS_PORT_… variables, DNS for ALIAS, a network shared with it only\n  \
         -link NAME:ALIAS      the same, as the 2013 proposal spelled it (and -name NAME)\n  \
         --link-env v28|v27    the variable algorithm: Engine 28 and later (default), or the older one\n  \
         --init                run the command under docker-link's init (one read-only volume per\n                        \
         version, shared by every container of the daemon)\n",
        match mode {
            Mode::Run => "Run",
            Mode::Create => "Create",
        }
    )
}

/// The docker CLI, reached with the same global options we were given.
pub(crate) fn docker_cli(ctx: &Ctx) -> Command {
    let program = std::env::var_os("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "docker".into());
    let mut cmd = Command::new(program);
    cmd.args(ctx.globals.to_args());
    cmd
}

/// A docker-style name for a parent the user did not name: its variables carry
/// `<ALIAS>_NAME=/<parent>/<alias>`, which must be known before the container exists.
fn generated_name(taken: &dyn Fn(&str) -> bool) -> String {
    const LEFT: &[&str] = &[
        "brave", "calm", "eager", "fond", "keen", "lucid", "merry", "quirky", "sharp", "tender",
        "upbeat", "vivid", "wise", "zen", "bold", "gentle",
    ];
    const RIGHT: &[&str] = &[
        "babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "kepler", "lovelace",
        "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak",
    ];
    let r = crate::random_u64();
    let base = format!(
        "{}_{}",
        LEFT[(r % LEFT.len() as u64) as usize],
        RIGHT[((r >> 8) % RIGHT.len() as u64) as usize]
    );
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}{n}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

/// Everything validated before anything is made.
struct Plan {
    name: String,
    generated_name: bool,
    /// `(alias, child id)` in command-line order.
    links: Vec<(String, String)>,
    user_env_keys: BTreeSet<String>,
    pool: Pool,
}

fn validate(
    parsed: &RunArgs,
    view: &crate::graph::model::View,
    pool: anyhow::Result<Pool>,
) -> anyhow::Result<Plan> {
    if let Some(net) = &parsed.network {
        let mode = net.split(':').next().unwrap_or_default();
        if matches!(mode, "host" | "none" | "container") {
            anyhow::bail!(
                "--network {net} cannot join a link network: links need a network of the container's own"
            );
        }
    }
    let mut links = Vec::new();
    let mut aliases = BTreeSet::new();
    for spec in &parsed.links {
        validate_alias(&spec.alias)?;
        if !aliases.insert(spec.alias.clone()) {
            anyhow::bail!("the alias {} is given to two links", spec.alias);
        }
        let child = view
            .resolve(&spec.target)
            .with_context(|| format!("cannot link to {}", spec.target))?;
        let node = view.node(child).context("the container vanished")?;
        if !node.running() {
            anyhow::bail!(
                "cannot link to {}: container {} is not running ({})",
                spec.target,
                view.display(child),
                node.state
            );
        }
        links.push((spec.alias.clone(), child.to_string()));
    }
    let taken = |n: &str| view.edges.contains_key(&(ROOT.to_string(), n.to_string()));
    let (name, generated_name) = match &parsed.name {
        Some(n) => {
            validate_name(n)?;
            if let Some((by, source)) = view.edges.get(&(ROOT.to_string(), n.clone())) {
                let what = if *source == Source::Docker {
                    "container"
                } else {
                    "the graph name of container"
                };
                anyhow::bail!("the name {n} is already taken: {what} {}", view.display(by));
            }
            (n.clone(), false)
        }
        None => (generated_name(&taken), true),
    };
    let mut user_env_keys: BTreeSet<String> =
        parsed.env.iter().map(|e| env_key(e).to_string()).collect();
    for file in &parsed.env_files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading env file {file}"))?;
        user_env_keys.extend(env_file_keys(&text));
    }
    Ok(Plan {
        name,
        generated_name,
        links,
        user_env_keys,
        pool: pool?,
    })
}

/// What a failed command must remove again.
#[derive(Default)]
struct Undo {
    network: Option<String>,
    container: Option<String>,
}

impl Undo {
    async fn run(&self, engine: &Daemon) {
        if let Some(id) = &self.container {
            // `--rm` may have removed it already: that counts as removed.
            if let Err(e) = remove_if_present(engine, id, true).await {
                output::warn(&format!(
                    "rolling back: removing container {}: {e}",
                    short(id)
                ));
            }
        }
        if let Some(net) = &self.network {
            if let Err(e) = network::remove(engine, net).await {
                output::warn(&format!("rolling back: {}", crate::describe(&e)));
            }
        }
    }
}

/// The image's command line, resolved as the engine would run it, for wrapping in our init.
async fn resolved_command(
    engine: &Daemon,
    ctx: &Ctx,
    parsed: &RunArgs,
) -> anyhow::Result<Vec<String>> {
    let docker = engine.client();
    let image = match docker.inspect_image(&parsed.image).await {
        Ok(i) => i,
        Err(_) => {
            // `docker create` would pull it; so do we, to read its entrypoint.
            let mut pull = docker_cli(ctx);
            pull.args(["pull", "--quiet", &parsed.image])
                .stdout(Stdio::null());
            let status = tokio::process::Command::from(pull)
                .status()
                .await
                .context("running docker pull")?;
            if !status.success() {
                return Err(Exit(125).into());
            }
            docker
                .inspect_image(&parsed.image)
                .await
                .with_context(|| format!("inspecting image {}", parsed.image))?
        }
    };
    let config = image.config.unwrap_or_default();
    let command: Vec<String> = parsed
        .command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (entrypoint, cmd) = match &parsed.entrypoint {
        // `--entrypoint` clears the image's command, as the docker CLI does.
        Some(e) if e.is_empty() => (Vec::new(), command),
        Some(e) => (vec![e.clone()], command),
        None => {
            let cmd = if command.is_empty() {
                config.cmd.unwrap_or_default()
            } else {
                command
            };
            (config.entrypoint.unwrap_or_default(), cmd)
        }
    };
    let all: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if all.is_empty() {
        anyhow::bail!(
            "no command specified: the image {} has none and none was given",
            parsed.image
        );
    }
    Ok(all)
}

pub(super) fn run(args: PassThrough, ctx: &Ctx, mode: Mode) -> anyhow::Result<ExitCode> {
    let parsed = match run_args::parse(&args.args) {
        Ok(p) => p,
        Err(e) => {
            return Err(Usage(format!("{e}\nSee 'docker link {} --help'.", mode.verb())).into())
        }
    };
    if parsed.help {
        output::write_stdout(usage(mode).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    if parsed.links.is_empty() && !parsed.init {
        // Nothing of ours to add: this is plain `docker run`/`create`.
        let mut cmd = docker_cli(ctx);
        cmd.arg(mode.verb())
            .args(run_args::without_ours(&args.args));
        let status = cmd.status().context("running the docker CLI")?;
        return Ok(ExitCode::from(
            status.code().unwrap_or(125).clamp(0, 255) as u8
        ));
    }
    let (engine, id, undo) = ctx.block_on(async {
        // What the new container touches: its link targets and aliases, and its own name.
        let scope: Vec<&str> = parsed
            .links
            .iter()
            .flat_map(|l| [l.target.as_str(), l.alias.as_str()])
            .chain(parsed.name.as_deref())
            .collect();
        let (mut session, snap) = super::ops::open(ctx, Some(&scope[..])).await?;
        let plan = validate(&parsed, &snap.view, ctx.config.pool().map_err(Into::into))?;
        let engine = session.engine.clone();
        if parsed.init {
            engine.static_binary().await?;
        }
        super::ops::say(&mut session);
        let mut undo = Undo::default();
        match create(&engine, ctx, &session.ns, mode, &parsed, &plan, &mut undo).await {
            Ok(id) => {
                if !parsed.links.is_empty() {
                    super::watcher::start_if_needed(&engine, ctx).await;
                }
                anyhow::Ok((engine, id, undo))
            }
            Err(e) => {
                undo.run(&engine).await;
                Err(e)
            }
        }
    })?;
    match mode {
        Mode::Create => {
            output::write_stdout(format!("{id}\n").as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Mode::Run => start(ctx, &engine, &parsed, &id, undo),
    }
}

/// Attaches the containers of `members` to `net` under their aliases, each with a fixed
/// address (`links::realize`).
async fn attach(
    engine: &Daemon,
    net: &str,
    members: BTreeMap<String, BTreeSet<String>>,
) -> anyhow::Result<()> {
    let desired = realize::Desired {
        scope: members.keys().cloned().collect(),
        members,
    };
    realize::converge(engine, net, None, &desired)
        .await
        .map_err(|e| e.context(format!("the link network {net}")))
}

async fn create(
    engine: &Daemon,
    ctx: &Ctx,
    ns: &str,
    mode: Mode,
    parsed: &RunArgs,
    plan: &Plan,
    undo: &mut Undo,
) -> anyhow::Result<String> {
    // The parent's link network, its children on it under their aliases, each at the address
    // it keeps for the life of the link.
    let net = format!(
        "docker-link-{}-{:06x}",
        plan.name,
        crate::random_u64() & 0xff_ffff
    );
    if network::ensure(engine, &plan.pool, ns, &net, None).await? {
        undo.network = Some(net.clone());
    }
    let mut per_child: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (alias, child) in &plan.links {
        per_child
            .entry(child.clone())
            .or_default()
            .insert(alias.clone());
    }
    attach(engine, &net, per_child).await?;

    // The variables, from each child's address on that network.
    let mut vars = Vec::new();
    for (alias, child) in &plan.links {
        let facts = network::child(engine, child, Some(&net), None).await?;
        let path = format!("/{}/{alias}", plan.name);
        vars.extend(link_env(
            &path,
            &facts.ip,
            &facts.ports,
            &facts.env,
            parsed.link_env,
        ));
    }
    let user: Vec<String> = plan.user_env_keys.iter().cloned().collect();
    let vars = without_overridden(vars, &user);

    let mut cmd = docker_cli(ctx);
    cmd.arg("create").args(&parsed.flags);
    if plan.generated_name {
        cmd.args(["--name", &plan.name]);
    }
    for v in &vars {
        cmd.arg("-e").arg(v);
    }
    cmd.arg("--label")
        .arg(format!("{LINKS_LABEL}={}", links_label(&plan.links)));
    cmd.arg("--label").arg(format!("{NETWORK_LABEL}={net}"));
    // Which graph's watcher keeps its links (its network says so too, until removed by hand).
    cmd.arg("--label").arg(crate::labels::namespace(ns));
    let command: Vec<OsString> = if parsed.init {
        let argv = resolved_command(engine, ctx, parsed).await?;
        cmd.args(["--entrypoint", INIT_PATH]);
        ["init", "--"]
            .iter()
            .map(OsString::from)
            .chain(argv.into_iter().map(OsString::from))
            .collect()
    } else {
        parsed.command.clone()
    };
    // Last before `docker create`, which takes over the hold on the volume.
    let shared = if parsed.init {
        shared_init(engine).await?
    } else {
        None
    };
    if let Some(s) = &shared {
        cmd.arg("--mount").arg(init_volume::mount_arg(&s.volume));
    }
    cmd.arg(&parsed.image).args(&command);
    // The docker CLI's errors go straight to the user's stderr; only the id is read.
    let out = async {
        tokio::process::Command::from(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?
            .wait_with_output()
            .await
    }
    .await;
    if let Some(s) = &shared {
        s.release(engine).await;
    }
    let out = out.context("running docker create")?;
    if !out.status.success() {
        // The docker CLI said why on stderr.
        return Err(Exit(out.status.code().unwrap_or(125).clamp(1, 255) as u8).into());
    }
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    undo.container = Some(id.clone());
    attach(
        engine,
        &net,
        BTreeMap::from([(id.clone(), BTreeSet::new())]),
    )
    .await?;
    if parsed.init && shared.is_none() {
        copy_init(engine, &id).await?;
    }
    tracing::debug!(
        "docker link {}: created {} on {net}",
        mode.verb(),
        short(&id)
    );
    Ok(id)
}

/// The init volume `--init` mounts, or None when the daemon cannot give one (the warning
/// says why): the init is then copied into the container, as before volumes.
async fn shared_init(engine: &Daemon) -> anyhow::Result<Option<init_volume::Shared>> {
    let bin = engine.static_binary().await?;
    match init_volume::ensure(engine, bin).await {
        Ok(shared) => Ok(Some(shared)),
        Err(e) => {
            output::warn(&format!(
                "cannot share the init through a volume ({}): copying it into the container",
                crate::describe(&e)
            ));
            Ok(None)
        }
    }
}

/// Copies the static binary to [`INIT_PATH`] in the created container.
async fn copy_init(engine: &Daemon, id: &str) -> anyhow::Result<()> {
    let bytes = engine.static_binary().await?.bytes()?;
    let tar =
        crate::docker::self_image::tar_of(&[(INIT_PATH.trim_start_matches('/'), 0o755, &bytes)]);
    engine
        .client()
        .upload_to_container(
            id,
            Some(bollard::query_parameters::UploadToContainerOptions {
                path: "/".into(),
                ..Default::default()
            }),
            bollard::body_full(tar.into()),
        )
        .await
        .with_context(|| format!("copying the init into container {}", short(id)))?;
    Ok(())
}

/// Starts the container as `docker run` would: detached (print the id) or attached (the
/// CLI's own `start -a`, whose exit code is the container's). A container that never started
/// is removed again, with its link network.
fn start(
    ctx: &Ctx,
    engine: &Daemon,
    parsed: &RunArgs,
    id: &str,
    undo: Undo,
) -> anyhow::Result<ExitCode> {
    let mut cmd = docker_cli(ctx);
    cmd.arg("start");
    if parsed.detach {
        cmd.stdout(Stdio::null());
    } else {
        cmd.arg("--attach");
        if parsed.interactive {
            cmd.arg("--interactive");
        }
        crate::sys::shield_from_terminal_signals();
    }
    let status = cmd.arg(id).status().context("running docker start")?;
    let code = status.code().unwrap_or(125).clamp(0, 255) as u8;
    if parsed.detach && code == 0 {
        output::write_stdout(format!("{id}\n").as_bytes())?;
        return Ok(ExitCode::from(code));
    }
    // One look at the container after `docker start`: gone (an attached `--rm` run that ended),
    // never started, or ran and exited.
    ctx.block_on(async {
        let state = match engine.inspect_container(id).await {
            Err(e) if e.is_not_found() => {
                // The engine removed it after its exit: its link network goes with it.
                if let Some(net) = &undo.network {
                    if let Err(e) = network::remove(engine, net).await {
                        output::warn(&crate::describe(&e));
                    }
                }
                None
            }
            other => other.ok(),
        };
        let never_started = state.as_ref().is_some_and(|s| !s.ever_started());
        if code != 0 && never_started {
            undo.run(engine).await;
            let error = state.map(|s| s.error).unwrap_or_default();
            return anyhow::Ok(ExitCode::from(start_failure_code(&error)));
        }
        Ok(ExitCode::from(code))
    })
}

/// `docker run`'s exit code for a container that could not start: 127 when the command was
/// not found, 126 when it could not be invoked, 125 for anything else.
fn start_failure_code(error: &str) -> u8 {
    if error.contains("no such file or directory") || error.contains("executable file not found") {
        127
    } else if error.contains("permission denied") {
        126
    } else {
        125
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_exit_as_docker_run_does() {
        let cases = [
            (
                "exec: \"/nonexist\": stat /nonexist: no such file or directory: unknown",
                127,
            ),
            (
                "exec: \"nope\": executable file not found in $PATH: unknown",
                127,
            ),
            ("exec: \"/etc/passwd\": permission denied: unknown", 126),
            ("cgroup setup failed", 125),
        ];
        for (error, code) in cases {
            assert_eq!(start_failure_code(error), code, "{error}");
        }
    }

    #[test]
    fn the_init_path_is_in_the_shared_volume() {
        assert_eq!(
            INIT_PATH,
            format!("{}/{}", init_volume::INIT_DIR, init_volume::INIT_FILE)
        );
    }

    #[test]
    fn generated_names_avoid_taken_ones() {
        let first = generated_name(&|_| false);
        assert!(
            first.contains('_') && validate_name(&first).is_ok(),
            "{first}"
        );
        let taken = first.clone();
        let next = generated_name(&|n| n == taken || !n.ends_with(char::is_numeric));
        assert!(next.ends_with(char::is_numeric), "{next}");
    }
}
