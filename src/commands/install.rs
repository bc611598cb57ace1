//! `docker-link install` / `uninstall`: put the binary and its four symlinks into the CLI's
//! plugin directory, and take only our own files out again.
//!
//! Also the facts `doctor` checks: where the docker CLI looks for plugins (its search path) and
//! whether a `docker-<name>` file there is ours. "Ours" is decided without running anything:
//! a symlink to a `docker-link`, or a file that carries [`MARKER`] (every build of docker-link
//! embeds it, with its version). Docker Desktop ships its own `docker-init`; it never carries
//! the marker, so it is kept unless `--force`.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::output;
use crate::plugin::{GlobalOpts, Plugin, PLUGIN_NAMES, VERSION};
use crate::Ctx;

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Plugin directory (default: $DOCKER_CONFIG/cli-plugins, else ~/.docker/cli-plugins).
    #[arg(long, value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<std::path::PathBuf>,
    /// Overwrite a docker-init (or other docker-<name>) that is not ours.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Plugin directory (default: $DOCKER_CONFIG/cli-plugins, else ~/.docker/cli-plugins).
    #[arg(long, value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<std::path::PathBuf>,
}

/// The bytes that make a file ours. Kept in every build (`#[used]`), found by scanning, so an
/// installed copy of any version is recognised without being run. Its prefix exists nowhere
/// else in the binary: the scanner takes its needle from this very static.
#[used]
pub static MARKER: &str = concat!(
    "\0docker-link cli-plugin marker ",
    env!("CARGO_PKG_VERSION"),
    "\0"
);

/// The part of [`MARKER`] every version shares: from after the leading NUL to the version.
fn marker_needle() -> &'static [u8] {
    let m = MARKER.as_bytes();
    let end = m.len() - 1 - VERSION.len();
    &m[1..end]
}

/// The umbrella plugin's file name: the binary itself. The other four are symlinks to it.
const BINARY: &str = "docker-link";

/// The directories the docker CLI searches for plugins, in its order (the first hit wins):
/// config.json `cliPluginsExtraDirs`, `<config dir>/cli-plugins`, then the system directories.
pub const SYSTEM_PLUGIN_DIRS: [&str; 4] = [
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
];

/// The docker CLI's config directory: `--config`, else `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(globals: &GlobalOpts) -> anyhow::Result<PathBuf> {
    if let Some(c) = globals.config.as_deref().filter(|c| !c.is_empty()) {
        return Ok(PathBuf::from(c));
    }
    if let Some(c) = std::env::var_os("DOCKER_CONFIG").filter(|c| !c.is_empty()) {
        return Ok(PathBuf::from(c));
    }
    let home = dirs::home_dir()
        .context("cannot find the home directory (set DOCKER_CONFIG or use --dir)")?;
    Ok(home.join(".docker"))
}

/// The plugin search path as the docker CLI builds it for `config_dir`.
pub fn search_path(config_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs = extra_dirs(config_dir)?;
    dirs.push(config_dir.join("cli-plugins"));
    dirs.extend(SYSTEM_PLUGIN_DIRS.iter().map(PathBuf::from));
    Ok(dirs)
}

/// `cliPluginsExtraDirs` from `<config dir>/config.json` (none when the file is absent).
fn extra_dirs(config_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let path = config_dir.join("config.json");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse_extra_dirs(&text).with_context(|| format!("cannot parse {}", path.display()))
}

fn parse_extra_dirs(config_json: &str) -> Result<Vec<PathBuf>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "cliPluginsExtraDirs", default)]
        extra: Vec<String>,
    }
    if config_json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let config: Config = serde_json::from_str(config_json)?;
    Ok(config.extra.into_iter().map(PathBuf::from).collect())
}

/// Whether `dir` is one of `search` (comparing resolved paths where they exist).
pub fn is_on_search_path(dir: &Path, search: &[PathBuf]) -> bool {
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = canon(dir);
    search.iter().any(|s| canon(s) == dir)
}

/// What is at a `docker-<name>` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Absent,
    /// Ours: a symlink to a docker-link, or a docker-link binary of `version`.
    Ours {
        symlink: bool,
        version: Option<String>,
    },
    /// Somebody else's (Docker Desktop's `docker-init`, a directory…), described.
    Foreign(String),
}

/// Looks at `path` without running anything.
pub fn inspect(path: &Path) -> Entry {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return Entry::Absent,
    };
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).unwrap_or_default();
        // A link to a file named docker-link is ours even when dangling (an uninstalled
        // binary leaves it so); anything else is ours only if it leads to our binary.
        if target.file_name() == Some(OsStr::new(BINARY)) {
            let version = fs::read(path).ok().and_then(|b| marker_version(&b));
            return Entry::Ours {
                symlink: true,
                version,
            };
        }
        return match fs::read(path).ok().and_then(|b| marker_version(&b)) {
            Some(version) => Entry::Ours {
                symlink: true,
                version: Some(version),
            },
            None => Entry::Foreign(format!("a symlink to {}", target.display())),
        };
    }
    if !meta.is_file() {
        return Entry::Foreign("not a regular file".to_string());
    }
    match fs::read(path) {
        Ok(bytes) => match marker_version(&bytes) {
            Some(version) => Entry::Ours {
                symlink: false,
                version: Some(version),
            },
            None => Entry::Foreign("another program".to_string()),
        },
        Err(e) => Entry::Foreign(format!("unreadable: {e}")),
    }
}

/// The version in a docker-link binary's marker, or None when `bytes` is not docker-link.
pub fn marker_version(bytes: &[u8]) -> Option<String> {
    let needle = marker_needle();
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], needle) {
        let start = from + at + needle.len();
        let rest = &bytes[start..bytes.len().min(start + 64)];
        if let Some(end) = rest.iter().position(|b| *b == 0) {
            let v = &rest[..end];
            if !v.is_empty()
                && v.iter()
                    .all(|b| b.is_ascii_alphanumeric() || b".+-_~".contains(b))
            {
                return Some(String::from_utf8_lossy(v).into_owned());
            }
        }
        from = start;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let mut from = 0;
    while let Some(p) = hay.get(from..)?.iter().position(|b| *b == first) {
        let at = from + p;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn default_dir(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    Ok(config_dir(&ctx.globals)?.join("cli-plugins"))
}

/// What install will do to one file, decided before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Write (or replace) the file; the message says what it did.
    Apply(String),
    /// Leave a file that is not ours; the message says why.
    Keep(String),
}

/// Plans the binary: refuse (an error) to replace a foreign `docker-link` without `--force`.
fn plan_binary(path: &Path, entry: &Entry, force: bool, same: bool) -> anyhow::Result<Step> {
    let shown = path.display();
    Ok(match entry {
        Entry::Absent => Step::Apply(format!("installed {shown} ({VERSION})")),
        Entry::Ours { .. } if same => Step::Apply(format!("up to date {shown} ({VERSION})")),
        Entry::Ours {
            version: Some(old),
            symlink: false,
        } if old == VERSION => Step::Apply(format!("replaced {shown} (another build of {old})")),
        Entry::Ours {
            version: Some(old),
            symlink: false,
        } => Step::Apply(format!("replaced {shown} ({old} -> {VERSION})")),
        Entry::Ours { .. } => Step::Apply(format!("replaced {shown} ({VERSION})")),
        Entry::Foreign(what) if force => Step::Apply(format!(
            "replaced {shown} ({what}, not ours) with docker-link {VERSION}"
        )),
        Entry::Foreign(what) => anyhow::bail!(
            "{shown} exists and is not docker-link ({what}); use --force to replace it"
        ),
    })
}

/// Plans one symlink `docker-<name> -> docker-link`.
fn plan_link(file: &str, entry: &Entry, force: bool) -> Step {
    match entry {
        Entry::Absent | Entry::Ours { .. } => Step::Apply(format!("linked {file} -> {BINARY}")),
        Entry::Foreign(what) if force => Step::Apply(format!(
            "linked {file} -> {BINARY} (replaced {what}, not ours)"
        )),
        Entry::Foreign(_) => Step::Keep(format!("kept {file}: not ours (use --force to replace)")),
    }
}

pub fn run_install(args: InstallArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => default_dir(ctx)?,
    };
    let source = std::env::current_exe().context("cannot find the running binary")?;
    let bytes = fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;

    // Validate everything first: nothing is written if the binary cannot go in.
    let bin_path = dir.join(BINARY);
    let bin_entry = inspect(&bin_path);
    let same = fs::read(&bin_path).is_ok_and(|old| old == bytes)
        && fs::symlink_metadata(&bin_path).is_ok_and(|m| m.is_file());
    let bin_step = plan_binary(&bin_path, &bin_entry, args.force, same)?;
    let links: Vec<(String, PathBuf, Step)> = PLUGIN_NAMES
        .iter()
        .filter(|p| **p != Plugin::Link)
        .map(|p| {
            let file = p.file_name();
            let path = dir.join(&file);
            let step = plan_link(&file, &inspect(&path), args.force);
            (file, path, step)
        })
        .collect();

    if !dir.is_dir() {
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the plugin directory {}", dir.display()))?;
        output::info(&format!("created {}", dir.display()));
    }
    if let Step::Apply(msg) = &bin_step {
        if !same {
            write_atomically(&dir, &bin_path, &bytes)?;
        }
        output::info(msg);
    }

    let mut failed = 0;
    let mut kept_init = false;
    for (file, path, step) in &links {
        match step {
            Step::Apply(msg) => match link_atomically(&dir, path) {
                Ok(()) => output::info(msg),
                Err(e) => {
                    output::error(&crate::describe(&e));
                    failed += 1;
                }
            },
            Step::Keep(msg) => {
                output::info(msg);
                kept_init |= file == "docker-init";
            }
        }
    }
    if kept_init {
        output::hint("`docker link init` works whatever docker-init is");
    }
    if let Ok(Some(interp)) = super::doctor::elf_interpreter(&source) {
        output::warn(&format!(
            "{} is dynamically linked ({interp}): inside containers (init, registry, watcher) \
             only the static build runs; build it with scripts/build-static",
            source.display()
        ));
    }
    warn_search_path(ctx, &dir);

    if failed > 0 {
        return Err(super::Exit(1).into());
    }
    Ok(ExitCode::SUCCESS)
}

/// Warns when the CLI will not find the plugins in `dir`, or will find someone else's first.
fn warn_search_path(ctx: &Ctx, dir: &Path) {
    let Ok(config) = config_dir(&ctx.globals) else {
        return;
    };
    let search = match search_path(&config) {
        Ok(s) => s,
        Err(e) => {
            output::warn(&crate::describe(&e));
            return;
        }
    };
    if !is_on_search_path(dir, &search) {
        output::warn(&format!(
            "{} is not on the docker CLI's plugin search path: add it to \"cliPluginsExtraDirs\" in {}",
            dir.display(),
            config.join("config.json").display()
        ));
        return;
    }
    let dir_canon = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    for p in PLUGIN_NAMES {
        let file = p.file_name();
        let first = search.iter().find(|d| d.join(&file).exists());
        if let Some(first) = first {
            if fs::canonicalize(first).unwrap_or_else(|_| first.clone()) != dir_canon {
                output::warn(&format!(
                    "{} comes first on the plugin search path: `docker {}` runs it, not this one",
                    first.join(&file).display(),
                    p.name()
                ));
            }
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in `dir` and a rename, so a concurrent
/// `docker` never sees half a binary (and a running one keeps its old inode).
fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{BINARY}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)?;
        f.write_all(bytes)?;
        // The umask may have removed bits: a plugin must be executable by everyone.
        f.set_permissions(fs::Permissions::from_mode(0o755))?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot install {}", path.display()))
}

/// Points `path` at `docker-link` (relative: the directory can move) through a temporary
/// symlink and a rename.
fn link_atomically(dir: &Path, path: &Path) -> anyhow::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = std::os::unix::fs::symlink(BINARY, &tmp).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot link {} -> {BINARY}", path.display()))
}

pub fn run_uninstall(args: UninstallArgs, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => default_dir(ctx)?,
    };
    // The symlinks first, the binary they point at last.
    let mut files: Vec<String> = PLUGIN_NAMES
        .iter()
        .filter(|p| **p != Plugin::Link)
        .map(|p| p.file_name())
        .collect();
    files.push(BINARY.to_string());

    let mut removed = 0;
    let mut failed = 0;
    for file in &files {
        let path = dir.join(file);
        match inspect(&path) {
            Entry::Absent => {}
            Entry::Foreign(_) => output::info(&format!("kept {}: not ours", path.display())),
            Entry::Ours { .. } => match fs::remove_file(&path) {
                Ok(()) => {
                    output::info(&format!("removed {}", path.display()));
                    removed += 1;
                }
                Err(e) => {
                    output::error(&format!("cannot remove {}: {e}", path.display()));
                    failed += 1;
                }
            },
        }
    }
    if removed == 0 && failed == 0 {
        output::info(&format!(
            "nothing to remove: no docker-link files in {}",
            dir.display()
        ));
    }
    if failed > 0 {
        return Err(super::Exit(1).into());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_carries_the_version() {
        assert_eq!(marker_version(MARKER.as_bytes()).as_deref(), Some(VERSION));
        let needle = marker_needle();
        assert!(!needle.contains(&0), "{needle:?}");
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"", None),
            (b"docker-link", None),
            (
                b"xx\0docker-link cli-plugin marker 0.0.9\0yy",
                Some("0.0.9"),
            ),
            (
                b"docker-link cli-plugin marker 1.2.3-rc.1+g1\0",
                Some("1.2.3-rc.1+g1"),
            ),
            // Not terminated, or not a version: not ours.
            (b"docker-link cli-plugin marker 0.0.9", None),
            (b"docker-link cli-plugin marker \0", None),
            (b"docker-link cli-plugin marker a b\0", None),
            // A bad candidate does not hide a good one after it.
            (
                b"docker-link cli-plugin marker ??\0docker-link cli-plugin marker 2.0.0\0",
                Some("2.0.0"),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                marker_version(bytes).as_deref(),
                *want,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn the_running_binary_is_recognised() {
        // (This test binary also holds the cases above, so only ownership is asserted here;
        // the integration tests check the version in the real binary.)
        let exe = std::env::current_exe().unwrap();
        assert!(
            matches!(
                inspect(&exe),
                Entry::Ours {
                    symlink: false,
                    version: Some(_)
                }
            ),
            "{:?}",
            inspect(&exe)
        );
    }

    #[test]
    fn extra_dirs_come_from_config_json() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("{}", &[]),
            (r#"{"auths":{}}"#, &[]),
            (
                r#"{"cliPluginsExtraDirs":["/opt/homebrew/lib/docker/cli-plugins","/x"]}"#,
                &["/opt/homebrew/lib/docker/cli-plugins", "/x"],
            ),
        ];
        for (json, want) in cases {
            let got = parse_extra_dirs(json).unwrap();
            let want: Vec<PathBuf> = want.iter().map(PathBuf::from).collect();
            assert_eq!(got, want, "{json}");
        }
        assert!(parse_extra_dirs("{").is_err());
    }

    #[test]
    fn plans() {
        let p = Path::new("/p/docker-link");
        let ours = |v: &str| Entry::Ours {
            symlink: false,
            version: Some(v.to_string()),
        };
        let foreign = Entry::Foreign("another program".into());
        let cases: &[(&Entry, bool, bool, Option<String>)] = &[
            (&Entry::Absent, false, false, Some(format!("installed /p/docker-link ({VERSION})"))),
            (&ours("0.0.9"), false, false, Some(format!("replaced /p/docker-link (0.0.9 -> {VERSION})"))),
            (&ours(VERSION), false, true, Some(format!("up to date /p/docker-link ({VERSION})"))),
            (&foreign, false, false, None),
            (
                &foreign,
                true,
                false,
                Some(format!("replaced /p/docker-link (another program, not ours) with docker-link {VERSION}")),
            ),
        ];
        for (entry, force, same, want) in cases {
            let got = plan_binary(p, entry, *force, *same).ok();
            assert_eq!(
                got,
                want.clone().map(Step::Apply),
                "{entry:?} force={force}"
            );
        }

        let link_cases: &[(&Entry, bool, Step)] = &[
            (
                &Entry::Absent,
                false,
                Step::Apply("linked docker-init -> docker-link".into()),
            ),
            (
                &Entry::Ours {
                    symlink: true,
                    version: None,
                },
                false,
                Step::Apply("linked docker-init -> docker-link".into()),
            ),
            (
                &foreign,
                false,
                Step::Keep("kept docker-init: not ours (use --force to replace)".into()),
            ),
            (
                &foreign,
                true,
                Step::Apply(
                    "linked docker-init -> docker-link (replaced another program, not ours)".into(),
                ),
            ),
        ];
        for (entry, force, want) in link_cases {
            assert_eq!(
                &plan_link("docker-init", entry, *force),
                want,
                "{entry:?} force={force}"
            );
        }
    }

    #[test]
    fn files_are_classified_without_running_them() {
        let dir = std::env::temp_dir().join(format!("dl-unit-install-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let ours = dir.join("docker-link");
        fs::write(
            &ours,
            b"\x7fELF...\0docker-link cli-plugin marker 0.0.9\0...",
        )
        .unwrap();
        fs::write(dir.join("foreign"), b"#!/bin/sh\necho desktop\n").unwrap();
        std::os::unix::fs::symlink("docker-link", dir.join("to-ours")).unwrap();
        std::os::unix::fs::symlink("docker-link-missing/docker-link", dir.join("dangling"))
            .unwrap();
        std::os::unix::fs::symlink("foreign", dir.join("to-foreign")).unwrap();
        std::os::unix::fs::symlink(&ours, dir.join("to-ours-absolute")).unwrap();
        fs::create_dir(dir.join("a-dir")).unwrap();

        let cases: &[(&str, Entry)] = &[
            ("absent", Entry::Absent),
            (
                "docker-link",
                Entry::Ours {
                    symlink: false,
                    version: Some("0.0.9".into()),
                },
            ),
            ("foreign", Entry::Foreign("another program".into())),
            (
                "to-ours",
                Entry::Ours {
                    symlink: true,
                    version: Some("0.0.9".into()),
                },
            ),
            (
                "dangling",
                Entry::Ours {
                    symlink: true,
                    version: None,
                },
            ),
            ("to-foreign", Entry::Foreign("a symlink to foreign".into())),
            (
                "to-ours-absolute",
                Entry::Ours {
                    symlink: true,
                    version: Some("0.0.9".into()),
                },
            ),
            ("a-dir", Entry::Foreign("not a regular file".into())),
        ];
        for (name, want) in cases {
            assert_eq!(&inspect(&dir.join(name)), want, "{name}");
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
