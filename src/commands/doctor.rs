//! `docker link doctor`: check the installation, the daemon and the kernel, one line each, with
//! a fix where one exists.
//!
//! Each check is a record (`--format json` prints one object per check). Failures of what
//! every command needs make the exit status 1; what only some options need (netem, geneve, dummy,
//! vlan and ipvlan links,
//! the privileges of `docker net`, Docker Desktop's own `docker-init`) are warnings.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::commands::install::{self, Entry};
use crate::output::{self, Column, Format, Record};
use crate::plugin::{Plugin, PLUGIN_NAMES, VERSION};
use crate::sys::probe::{self, Feature, Outcome, ProbeError};
use crate::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Format output: table, json, or a Go template ('{{.Check}}: {{.Status}}').
    #[arg(long, default_value = "table")]
    pub format: Format,
    /// Probe the kernel features and print the raw report (doctor runs itself so in a user
    /// namespace when it is not root).
    #[arg(long, hide = true)]
    pub kernel_probe: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something is missing or odd; does not fail doctor.
    Warn,
    /// Something the plugin needs is missing: doctor exits 1.
    Fail,
}

/// One line of doctor's report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    #[serde(rename = "Check")]
    pub check: String,
    #[serde(rename = "Status")]
    pub status: Status,
    #[serde(rename = "Detail")]
    pub detail: String,
    /// What to do about it; empty when there is nothing to do.
    #[serde(rename = "Fix")]
    pub fix: String,
}

impl Record for Check {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            Column::new("Check", "CHECK"),
            Column::new("Status", "STATUS"),
            Column::new("Detail", "DETAIL"),
            Column::new("Fix", "FIX"),
        ];
        COLUMNS
    }
}

/// A line of the default table: the check, its status, and what to do, in one column.
#[derive(serde::Serialize)]
struct TableRow {
    #[serde(rename = "Check")]
    check: String,
    #[serde(rename = "Status")]
    status: Status,
    #[serde(rename = "Detail")]
    detail: String,
}

impl Record for TableRow {
    fn columns() -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            Column::new("Check", "CHECK"),
            Column::new("Status", "STATUS"),
            Column::new("Detail", "DETAIL"),
        ];
        COLUMNS
    }
}

impl From<&Check> for TableRow {
    fn from(c: &Check) -> TableRow {
        let detail = if c.fix.is_empty() {
            c.detail.clone()
        } else {
            format!("{}; fix: {}", c.detail, c.fix)
        };
        TableRow {
            check: c.check.clone(),
            status: c.status,
            detail,
        }
    }
}

impl Check {
    fn new(check: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status,
            detail: detail.into(),
            fix: String::new(),
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = fix.into();
        self
    }
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<ExitCode> {
    if args.kernel_probe {
        let results = probe::probe_all()?;
        output::write_stdout(probe::write_report(&results).as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut checks = Vec::new();
    let installed = installation(ctx, &mut checks);
    checks.push(daemon(ctx));
    checks.push(static_binary(installed.as_deref()));
    checks.push(privileges());
    checks.extend(kernel());
    checks.push(isolation());

    if let Format::Table = args.format {
        // The default table folds the fix into the line it belongs to: a FIX column would
        // be empty on most lines and push everything wide.
        let rows: Vec<TableRow> = checks.iter().map(TableRow::from).collect();
        output::print(&Format::Table, &rows)?;
    } else {
        output::print(&args.format, &checks)?;
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        output::error(&format!(
            "{failed} check{} failed",
            if failed == 1 { "" } else { "s" }
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The plugin directory and the five names, as the docker CLI will find them. Returns the
/// docker-link binary the CLI runs, if any.
fn installation(ctx: &Ctx, checks: &mut Vec<Check>) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    let config = match install::config_dir(&ctx.globals) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::new(
                "plugin directory",
                Status::Fail,
                crate::describe(&e),
            ));
            return None;
        }
    };
    let search = match install::search_path(&config) {
        Ok(s) => s,
        Err(e) => {
            checks.push(
                Check::new("plugin directory", Status::Fail, crate::describe(&e))
                    .fix("fix the JSON of the docker CLI's config.json"),
            );
            return None;
        }
    };

    // What the CLI runs for each name: the first directory that has it wins.
    let found: Vec<(Plugin, Option<(PathBuf, Entry)>)> = PLUGIN_NAMES
        .iter()
        .map(|&p| {
            let hit = search.iter().find_map(|dir| {
                let path = dir.join(p.file_name());
                match install::inspect(&path) {
                    Entry::Absent => None,
                    entry => Some((path, entry)),
                }
            });
            (p, hit)
        })
        .collect();

    let binary = match &found[0] {
        (_, Some((path, Entry::Ours { .. }))) => {
            let dir = path.parent().unwrap_or(Path::new("/"));
            checks.push(Check::new(
                "plugin directory",
                Status::Ok,
                format!(
                    "{} is on the docker CLI's plugin search path",
                    dir.display()
                ),
            ));
            Some(path.clone())
        }
        _ => {
            let exe_dir = exe.as_deref().and_then(Path::parent);
            let fix = match exe_dir {
                Some(d) if !install::is_on_search_path(d, &search) => format!(
                    "run `docker-link install`, or add {} to \"cliPluginsExtraDirs\" in {}",
                    d.display(),
                    config.join("config.json").display()
                ),
                _ => "run `docker-link install`".to_string(),
            };
            let dirs: Vec<String> = search.iter().map(|d| d.display().to_string()).collect();
            checks.push(
                Check::new(
                    "plugin directory",
                    Status::Fail,
                    format!(
                        "no docker-link in the directories the docker CLI searches ({})",
                        dirs.join(", ")
                    ),
                )
                .fix(fix),
            );
            None
        }
    };

    for (plugin, hit) in found {
        checks.push(name_check(plugin, hit));
    }
    binary
}

fn name_check(plugin: Plugin, hit: Option<(PathBuf, Entry)>) -> Check {
    let file = plugin.file_name();
    let command = format!("docker {}", plugin.name());
    match hit {
        None => Check::new(
            &file,
            Status::Fail,
            format!("not installed: `{command}` does not exist"),
        )
        .fix("run `docker-link install`"),
        Some((path, Entry::Ours { version, symlink })) => {
            let what = if symlink {
                match std::fs::read_link(&path) {
                    Ok(t) => format!("{} -> {}", path.display(), t.display()),
                    Err(_) => path.display().to_string(),
                }
            } else {
                path.display().to_string()
            };
            match version {
                Some(v) if v == VERSION => Check::new(&file, Status::Ok, format!("{what} ({v})")),
                Some(v) => Check::new(
                    &file,
                    Status::Warn,
                    format!("{what} is docker-link {v}, this is {VERSION}"),
                )
                .fix("run `docker-link install` to update it"),
                None => Check::new(&file, Status::Fail, format!("{what} is a dangling symlink"))
                    .fix("run `docker-link install`"),
            }
        }
        Some((path, Entry::Foreign(what))) => {
            let detail = format!(
                "{} is not docker-link ({what}): `{command}` runs it",
                path.display()
            );
            if plugin == Plugin::Init {
                // Docker Desktop ships its own docker-init; keeping it is the default.
                Check::new(&file, Status::Warn, detail).fix(
                    "`docker link init` works as it is; `docker-link install --force` replaces it",
                )
            } else {
                Check::new(&file, Status::Fail, detail)
                    .fix("run `docker-link install --force` to replace it")
            }
        }
        Some((_, Entry::Absent)) => unreachable!("absent entries are not hits"),
    }
}

fn daemon(ctx: &Ctx) -> Check {
    let rt = match ctx.runtime() {
        Ok(rt) => rt,
        Err(e) => return Check::new("daemon", Status::Fail, crate::describe(&e)),
    };
    let result = rt.block_on(async {
        let daemon = crate::docker::connect(&ctx.globals, &ctx.config).await?;
        let version = daemon
            .client()
            .version()
            .await
            .map_err(crate::docker::Error::from)?;
        Ok::<_, crate::docker::Error>((version, daemon.api_version()))
    });
    match result {
        Ok((v, api)) => Check::new(
            "daemon",
            Status::Ok,
            format!(
                "Docker Engine {}, API {} (negotiated {api})",
                v.version.as_deref().unwrap_or("?"),
                v.api_version.as_deref().unwrap_or("?"),
            ),
        ),
        Err(e) => {
            let check = Check::new("daemon", Status::Fail, e.to_string());
            match e.hint() {
                Some(h) => check.fix(h),
                None => check,
            }
        }
    }
}

fn static_binary(installed: Option<&Path>) -> Check {
    let path = match installed {
        Some(p) => p.to_path_buf(),
        None => match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => {
                return Check::new(
                    "static binary",
                    Status::Fail,
                    format!("cannot find the running binary: {e}"),
                )
            }
        },
    };
    match elf_interpreter(&path) {
        Ok(None) => Check::new(
            "static binary",
            Status::Ok,
            format!("{} is statically linked", path.display()),
        ),
        Ok(Some(interp)) => Check::new(
            "static binary",
            Status::Fail,
            format!(
                "{} is dynamically linked ({interp}): it cannot run inside containers as init, registry or watcher",
                path.display()
            ),
        )
        .fix("install a static build: a release package, or scripts/build-static"),
        Err(e) => Check::new(
            "static binary",
            Status::Fail,
            format!("cannot read {}: {e}", path.display()),
        ),
    }
}

fn privileges() -> Check {
    let check = "privileges";
    if nix::unistd::geteuid().is_root() {
        return Check::new(
            check,
            Status::Ok,
            "root: `docker net` can change namespaces",
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if cap_eff(&status).is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0) {
        return Check::new(
            check,
            Status::Ok,
            "CAP_NET_ADMIN: `docker net` can change namespaces",
        );
    }
    Check::new(
        check,
        Status::Warn,
        "neither root nor CAP_NET_ADMIN: `docker net` will fail (the other commands do not need it)",
    )
    .fix("run `docker net` with sudo")
}

const CAP_NET_ADMIN: u32 = 12;

/// Whether this kernel can enforce link isolation as the watcher does (nf_tables with
/// conntrack, br_netfilter passing bridged traffic), probed in a network namespace of its own
/// so that the host's ruleset is never touched. (The watcher checks again where it runs, in
/// the daemon's namespace, and `docker link watcher status` says what it found.)
fn isolation() -> Check {
    let check = "link isolation (nf_tables)";
    let probed = crate::sys::netns::NetNs::create()
        .and_then(|ns| crate::sys::netns::run_in(&ns, |_| async { crate::sys::nft::probe() }));
    match probed {
        Ok(Ok(_)) => Check::new(
            check,
            Status::Ok,
            "inet tables with conntrack; bridged traffic reaches them (br_netfilter)",
        ),
        Ok(Err(e)) => Check::new(
            check,
            Status::Warn,
            format!("links resolve and connect, but the watcher cannot isolate them: {e}"),
        )
        .fix("use a kernel with nf_tables, nf_conntrack and br_netfilter (modprobe br_netfilter)"),
        Err(e) => Check::new(check, Status::Warn, format!("not probed: {e}"))
            .fix("run `sudo docker link doctor` to probe it"),
    }
}

/// The effective capability set from `/proc/<pid>/status`.
fn cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

fn kernel() -> Vec<Check> {
    let results = match probe::probe_all() {
        Err(ProbeError::Sys(crate::sys::Error::NeedRoot { .. })) => {
            // Not allowed to make a network namespace: become root of a user namespace of
            // our own and probe there.
            match std::env::current_exe() {
                Ok(exe) => {
                    probe::probe_in_user_namespace(&exe, &["link", "doctor", "--kernel-probe"])
                }
                Err(e) => Err(ProbeError::Other(format!(
                    "cannot find the running binary: {e}"
                ))),
            }
            .map_err(|e| {
                Check::new(
                    "kernel features",
                    Status::Warn,
                    format!("not probed: making a network namespace needs root, and {e}"),
                )
                .fix("run `sudo docker link doctor` to probe them")
            })
        }
        Err(e) => Err(Check::new(
            "kernel features",
            Status::Fail,
            format!("cannot probe: {e}"),
        )),
        Ok(results) => Ok(results),
    };
    match results {
        Ok(results) => results
            .into_iter()
            .map(|(f, o)| feature_check(f, &o))
            .collect(),
        Err(check) => vec![check],
    }
}

fn feature_check(feature: Feature, outcome: &Outcome) -> Check {
    let bad = if feature.required() {
        Status::Fail
    } else {
        Status::Warn
    };
    match outcome {
        Outcome::Available => Check::new(
            feature.name(),
            Status::Ok,
            format!("available ({})", feature.used_for()),
        ),
        Outcome::Missing(why) => Check::new(
            feature.name(),
            bad,
            format!(
                "missing from this kernel ({why}): needed for {} in `docker net`",
                feature.used_for()
            ),
        )
        .fix(format!(
            "load or build in {} (modprobe), or use a kernel that has it",
            feature.module()
        )),
        Outcome::Failed(why) => Check::new(feature.name(), bad, format!("probe failed: {why}")),
    }
}

/// The ELF interpreter (`PT_INTERP`) of the file at `path`: `None` for a static executable
/// (static-pie included), which is what `ldd` calls "statically linked".
pub fn elf_interpreter(path: &Path) -> Result<Option<String>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let mut ehdr = [0u8; 64];
    file.read_exact_at(&mut ehdr, 0)
        .map_err(|_| "not an ELF file".to_string())?;
    let header = ElfHeader::parse(&ehdr)?;
    let mut phdrs = vec![0u8; header.phentsize * header.phnum];
    file.read_exact_at(&mut phdrs, header.phoff)
        .map_err(|e| format!("truncated program headers: {e}"))?;
    for entry in phdrs.chunks_exact(header.phentsize) {
        let ph = header.program_header(entry)?;
        if ph.kind == PT_INTERP {
            let len = usize::try_from(ph.filesz)
                .ok()
                .filter(|l| *l <= 4096)
                .ok_or("implausible PT_INTERP size")?;
            let mut interp = vec![0u8; len];
            file.read_exact_at(&mut interp, ph.offset)
                .map_err(|e| format!("truncated PT_INTERP: {e}"))?;
            let end = interp.iter().position(|b| *b == 0).unwrap_or(len);
            return Ok(Some(String::from_utf8_lossy(&interp[..end]).into_owned()));
        }
    }
    Ok(None)
}

const PT_INTERP: u32 = 3;

#[derive(Debug, PartialEq, Eq)]
struct ElfHeader {
    is64: bool,
    phoff: u64,
    phentsize: usize,
    phnum: usize,
}

#[derive(Debug, PartialEq, Eq)]
struct ProgramHeader {
    kind: u32,
    offset: u64,
    filesz: u64,
}

fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

impl ElfHeader {
    /// The fields of the ELF header that locate the program headers (little-endian only: the
    /// binaries this checks are the ones we build for x86-64 and arm64).
    fn parse(b: &[u8; 64]) -> Result<ElfHeader, String> {
        if &b[..4] != b"\x7fELF" {
            return Err("not an ELF file".to_string());
        }
        if b[5] != 1 {
            return Err("not a little-endian ELF file".to_string());
        }
        let header = match b[4] {
            1 => ElfHeader {
                is64: false,
                phoff: u64::from(u32_le(b, 0x1c)),
                phentsize: usize::from(u16_le(b, 0x2a)),
                phnum: usize::from(u16_le(b, 0x2c)),
            },
            2 => ElfHeader {
                is64: true,
                phoff: u64_le(b, 0x20),
                phentsize: usize::from(u16_le(b, 0x36)),
                phnum: usize::from(u16_le(b, 0x38)),
            },
            c => return Err(format!("unknown ELF class {c}")),
        };
        let min = if header.is64 { 56 } else { 32 };
        if header.phnum > 0 && header.phentsize < min {
            return Err(format!(
                "program header entries of {} bytes",
                header.phentsize
            ));
        }
        if header.phnum > 4096 {
            return Err(format!("{} program headers", header.phnum));
        }
        Ok(header)
    }

    fn program_header(&self, e: &[u8]) -> Result<ProgramHeader, String> {
        Ok(if self.is64 {
            ProgramHeader {
                kind: u32_le(e, 0),
                offset: u64_le(e, 8),
                filesz: u64_le(e, 32),
            }
        } else {
            ProgramHeader {
                kind: u32_le(e, 0),
                offset: u64::from(u32_le(e, 4)),
                filesz: u64::from(u32_le(e, 16)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit ELF: header, program headers right after it, then the interpreter.
    fn elf64(phdrs: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        out[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        out[0x38..0x3a].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        let mut data_at = 64 + 56 * phdrs.len();
        let mut data = Vec::new();
        for (kind, payload) in phdrs {
            let mut ph = [0u8; 56];
            ph[..4].copy_from_slice(&kind.to_le_bytes());
            ph[8..16].copy_from_slice(&(data_at as u64).to_le_bytes());
            ph[32..40].copy_from_slice(&(payload.len() as u64).to_le_bytes());
            out.extend_from_slice(&ph);
            data.extend_from_slice(payload);
            data_at += payload.len();
        }
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn interpreter_tells_static_from_dynamic() {
        const PT_LOAD: u32 = 1;
        const PT_DYNAMIC: u32 = 2;
        /// `Err(())`: not an ELF file doctor can read.
        type Want = Result<Option<&'static str>, ()>;
        let cases: Vec<(&str, Vec<u8>, Want)> = vec![
            ("static", elf64(&[(PT_LOAD, b"")]), Ok(None)),
            (
                "static-pie",
                elf64(&[(PT_LOAD, b""), (PT_DYNAMIC, b"")]),
                Ok(None),
            ),
            (
                "dynamic",
                elf64(&[
                    (PT_LOAD, b""),
                    (PT_INTERP, b"/lib64/ld-linux-x86-64.so.2\0"),
                ]),
                Ok(Some("/lib64/ld-linux-x86-64.so.2")),
            ),
            ("script", b"#!/bin/sh\necho hi\n".to_vec(), Err(())),
            ("empty", Vec::new(), Err(())),
        ];
        let dir = std::env::temp_dir().join(format!("dl-unit-elf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes, want) in cases {
            let path = dir.join(name);
            std::fs::write(&path, &bytes).unwrap();
            let got = elf_interpreter(&path);
            match want {
                Ok(w) => assert_eq!(
                    got.as_ref().ok().and_then(|i| i.as_deref()),
                    w,
                    "{name}: {got:?}"
                ),
                Err(()) => assert!(got.is_err(), "{name}: {got:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn test_binary_is_dynamic() {
        // cargo's test binaries link glibc dynamically.
        let exe = std::env::current_exe().unwrap();
        let interp = elf_interpreter(&exe).unwrap();
        assert!(interp.is_some_and(|i| i.contains("ld-")), "{exe:?}");
    }

    #[test]
    fn capabilities_from_status() {
        let cases = [
            (
                "Name:\tx\nCapEff:\t000001ffffffffff\n",
                Some(0x1ff_ffff_ffff),
            ),
            ("CapEff:\t0000000000001000\n", Some(1 << CAP_NET_ADMIN)),
            ("CapEff:\t0000000000000000\n", Some(0)),
            ("Name:\tx\n", None),
        ];
        for (status, want) in cases {
            assert_eq!(cap_eff(status), want, "{status:?}");
        }
    }

    #[test]
    fn features_fail_or_warn_by_need() {
        let missing = Outcome::Missing("operation not supported".into());
        let cases = [
            (Feature::Veth, Outcome::Available, Status::Ok),
            (Feature::Veth, missing.clone(), Status::Fail),
            (Feature::TcMirred, missing.clone(), Status::Fail),
            (Feature::Netem, missing.clone(), Status::Warn),
            (Feature::Geneve, missing.clone(), Status::Warn),
            (Feature::Geneve, Outcome::Failed("x".into()), Status::Warn),
            (Feature::Bridge, Outcome::Failed("x".into()), Status::Fail),
        ];
        for (f, o, want) in cases {
            let c = feature_check(f, &o);
            assert_eq!(c.status, want, "{f} {o:?}");
            assert_eq!(c.check, f.name());
            assert_eq!(c.fix.is_empty(), !matches!(o, Outcome::Missing(_)), "{c:?}");
        }
    }

    #[test]
    fn names_report_what_the_cli_runs() {
        let p = PathBuf::from("/d/docker-init");
        let foreign = Entry::Foreign("another program".into());
        let ours = |v: &str| Entry::Ours {
            symlink: false,
            version: Some(v.into()),
        };
        let cases = [
            (Plugin::Ls, None, Status::Fail),
            (
                Plugin::Init,
                Some((p.clone(), foreign.clone())),
                Status::Warn,
            ),
            (Plugin::Ls, Some((p.clone(), foreign)), Status::Fail),
            (Plugin::Net, Some((p.clone(), ours(VERSION))), Status::Ok),
            (Plugin::Net, Some((p.clone(), ours("0.0.1"))), Status::Warn),
        ];
        for (plugin, hit, want) in cases {
            let c = name_check(plugin, hit.clone());
            assert_eq!(c.status, want, "{plugin:?} {hit:?}: {c:?}");
            assert_eq!(c.check, plugin.file_name());
            assert!(!c.detail.contains('{'), "{c:?}");
        }
    }
}
