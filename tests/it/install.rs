//! `docker-link install`, `uninstall` and `docker link doctor` as a user runs them, against the
//! real docker CLI: each test gets its own DOCKER_CONFIG, so the CLI finds exactly the plugins
//! the test installed (plus the system directories, which hold none of ours).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{self, TempDir};

const NAMES: [&str; 5] = ["link", "ls", "proxy", "net", "init"];
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A docker config directory of the test's own, and the plugin directory in it.
struct Config {
    dir: TempDir,
}

impl Config {
    fn new(what: &str) -> Config {
        Config {
            dir: TempDir::new(what),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn plugins(&self) -> PathBuf {
        self.path().join("cli-plugins")
    }

    /// Runs `binary` (our docker-link, standalone) with DOCKER_CONFIG set to this config.
    fn run(&self, binary: &Path, args: &[&str]) -> Output {
        support::run(
            Command::new(binary)
                .args(args)
                .env("DOCKER_CONFIG", self.path())
                .env("NO_COLOR", "1"),
        )
    }

    /// `docker <args>` through the real CLI with this config.
    fn docker(&self, args: &[&str]) -> Output {
        support::run(
            Command::new("docker")
                .args(args)
                .env("DOCKER_CONFIG", self.path())
                .env("NO_COLOR", "1"),
        )
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

#[track_caller]
fn assert_lines(text: &str, want: &[String]) {
    let lines: Vec<&str> = text.lines().collect();
    for w in want {
        assert!(
            lines.contains(&w.as_str()),
            "missing line {w:?} in:\n{text}"
        );
    }
}

/// Writes an executable that is not ours, shaped like Docker Desktop's docker-init plugin.
fn foreign_plugin(path: &Path, description: &str) {
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = docker-cli-plugin-metadata ]; then\n  \
         echo '{{\"SchemaVersion\":\"0.1.0\",\"Vendor\":\"Docker Inc.\",\"Version\":\"v1.4.0\",\
         \"ShortDescription\":\"{description}\"}}'\n  exit 0\nfi\necho foreign \"$@\"\n"
    );
    std::fs::write(path, script).unwrap();
    set_mode(path, 0o755);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The short description each name reports through the metadata probe (asked of the
/// installed file, so argv[0] decides, as it does for the CLI).
fn descriptions(plugins: &Path) -> BTreeMap<&'static str, String> {
    NAMES
        .iter()
        .map(|n| {
            let out = support::run_ok(
                Command::new(plugins.join(format!("docker-{n}"))).arg("docker-cli-plugin-metadata"),
            );
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            (*n, v["ShortDescription"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The line `docker --help` prints for a plugin command: `  ls*   List …`.
fn help_line<'a>(help: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}*");
    help.lines().find(|l| {
        let t = l.trim_start();
        t.starts_with(&prefix) && t[prefix.len()..].starts_with(' ')
    })
}

#[test]
fn install_puts_five_names_where_the_cli_finds_them() {
    support::require_daemon();
    let cfg = Config::new("install");
    let bin = support::bin();

    let out = cfg.run(&bin, &["install"]);
    assert_ok(&out, "docker-link install");
    let plugins = cfg.plugins();
    let mut want = vec![format!(
        "installed {}/docker-link ({VERSION})",
        plugins.display()
    )];
    for n in &NAMES[1..] {
        want.push(format!("linked docker-{n} -> docker-link"));
    }
    assert_lines(&stderr(&out), &want);
    assert!(stdout(&out).is_empty(), "install prints no data");
    assert!(
        !stderr(&out).contains("search path"),
        "the default directory is on the search path: {}",
        stderr(&out)
    );
    // The test build is dynamically linked, and install says what that means.
    let dynamic = format!("warning: {} is dynamically linked (", bin.display());
    assert!(
        stderr(&out).lines().any(|l| l.starts_with(&dynamic)),
        "{}",
        stderr(&out)
    );

    // The binary is a copy of ours, executable by all; the four others point at it.
    let installed = plugins.join("docker-link");
    let meta = std::fs::symlink_metadata(&installed).unwrap();
    assert!(meta.is_file());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(&bin).unwrap()
    );
    for n in &NAMES[1..] {
        let link = plugins.join(format!("docker-{n}"));
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from("docker-link"),
            "{link:?}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // `docker --help` lists the five, with our descriptions.
    let help = cfg.docker(&["--help"]);
    assert_ok(&help, "docker --help");
    let help = stdout(&help);
    for (name, desc) in descriptions(&plugins) {
        let line = help_line(&help, name)
            .unwrap_or_else(|| panic!("docker --help does not list {name}:\n{help}"));
        assert!(line.ends_with(&desc), "{name}: {line:?} vs {desc:?}");
    }

    // The commands run through the CLI.
    let ls = cfg.docker(&["ls", "--help"]);
    assert_ok(&ls, "docker ls --help");
    assert!(stdout(&ls).contains("Usage: docker ls"), "{}", stdout(&ls));
    let link = cfg.docker(&["link", "--help"]);
    assert_ok(&link, "docker link --help");
    assert!(stdout(&link).contains("install"), "{}", stdout(&link));
}

#[test]
fn a_foreign_docker_init_is_kept_unless_forced() {
    support::require_daemon();
    let cfg = Config::new("install-foreign");
    let plugins = cfg.plugins();
    std::fs::create_dir_all(&plugins).unwrap();
    let init = plugins.join("docker-init");
    foreign_plugin(
        &init,
        "Creates Docker-related starter files for your project",
    );
    let foreign_bytes = std::fs::read(&init).unwrap();

    let out = cfg.run(&support::bin(), &["install"]);
    assert_ok(&out, "install");
    assert_lines(
        &stderr(&out),
        &[
            "kept docker-init: not ours (use --force to replace)".to_string(),
            "linked docker-ls -> docker-link".to_string(),
        ],
    );
    assert_eq!(
        std::fs::read(&init).unwrap(),
        foreign_bytes,
        "docker-init untouched"
    );
    let help = stdout(&cfg.docker(&["--help"]));
    let line = help_line(&help, "init").expect("docker --help lists init");
    assert!(
        line.contains("Creates Docker-related starter files"),
        "{line}"
    );
    // Our init stays reachable under the umbrella command.
    let ours = cfg.docker(&["link", "--help"]);
    assert_ok(&ours, "docker link --help");

    let out = cfg.run(&support::bin(), &["install", "--force"]);
    assert_ok(&out, "install --force");
    assert_lines(
        &stderr(&out),
        &["linked docker-init -> docker-link (replaced another program, not ours)".to_string()],
    );
    assert_eq!(
        std::fs::read_link(&init).unwrap(),
        PathBuf::from("docker-link")
    );
    let help = stdout(&cfg.docker(&["--help"]));
    let line = help_line(&help, "init").expect("docker --help lists init");
    assert!(!line.contains("starter files"), "{line}");
}

#[test]
fn a_foreign_docker_link_is_refused_without_force() {
    let cfg = Config::new("install-foreign-bin");
    let plugins = cfg.plugins();
    std::fs::create_dir_all(&plugins).unwrap();
    let path = plugins.join("docker-link");
    foreign_plugin(&path, "Someone else's link");
    let before = std::fs::read(&path).unwrap();

    let out = cfg.run(&support::bin(), &["install"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "error: {} exists and is not docker-link (another program); use --force to replace it",
            path.display()
        )),
        "{err}"
    );
    // Validated before anything was written: no symlink appeared.
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!plugins.join("docker-ls").exists());
}

/// A copy of our binary whose embedded version reads `0.0.0…` (same length, still runs).
fn older_build(dest: &Path) -> String {
    let mut bytes = std::fs::read(support::bin()).unwrap();
    let marker = format!("docker-link cli-plugin marker {VERSION}\0");
    let old: String = VERSION
        .chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect();
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("the binary carries its marker");
    let v = at + marker.len() - 1 - VERSION.len();
    bytes[v..v + VERSION.len()].copy_from_slice(old.as_bytes());
    std::fs::write(dest, bytes).unwrap();
    set_mode(dest, 0o755);
    old
}

#[test]
fn reinstall_replaces_an_older_install() {
    let cfg = Config::new("install-older");
    let plugins = cfg.plugins();
    std::fs::create_dir_all(&plugins).unwrap();
    let old = older_build(&plugins.join("docker-link"));
    // An older install that copied the binary under every name instead of linking.
    for n in &NAMES[1..] {
        std::fs::copy(
            plugins.join("docker-link"),
            plugins.join(format!("docker-{n}")),
        )
        .unwrap();
    }

    let out = cfg.run(&support::bin(), &["install"]);
    assert_ok(&out, "install over an older one");
    let mut want = vec![format!(
        "replaced {}/docker-link ({old} -> {VERSION})",
        plugins.display()
    )];
    for n in &NAMES[1..] {
        want.push(format!("linked docker-{n} -> docker-link"));
    }
    assert_lines(&stderr(&out), &want);
    assert_eq!(
        std::fs::read(plugins.join("docker-link")).unwrap(),
        std::fs::read(support::bin()).unwrap()
    );
    for n in &NAMES[1..] {
        assert_eq!(
            std::fs::read_link(plugins.join(format!("docker-{n}"))).unwrap(),
            PathBuf::from("docker-link")
        );
    }

    // Installing the same build again changes nothing and says so.
    let out = cfg.run(&support::bin(), &["install"]);
    assert_ok(&out, "second install");
    assert_lines(
        &stderr(&out),
        &[format!(
            "up to date {}/docker-link ({VERSION})",
            plugins.display()
        )],
    );
}

#[test]
fn uninstall_removes_only_ours() {
    support::require_daemon();
    let cfg = Config::new("uninstall");
    let plugins = cfg.plugins();
    std::fs::create_dir_all(&plugins).unwrap();
    foreign_plugin(&plugins.join("docker-init"), "Desktop's init");
    foreign_plugin(&plugins.join("docker-other"), "Another plugin");
    assert_ok(&cfg.run(&support::bin(), &["install"]), "install");

    let out = cfg.run(&support::bin(), &["uninstall"]);
    assert_ok(&out, "uninstall");
    let mut want = vec![format!("kept {}/docker-init: not ours", plugins.display())];
    for n in ["link", "ls", "proxy", "net"] {
        want.push(format!("removed {}/docker-{n}", plugins.display()));
    }
    assert_lines(&stderr(&out), &want);
    let mut left: Vec<String> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["docker-init", "docker-other"]);

    let help = stdout(&cfg.docker(&["--help"]));
    assert!(help_line(&help, "ls").is_none(), "{help}");
    assert!(help_line(&help, "other").is_some(), "{help}");

    let out = cfg.run(&support::bin(), &["uninstall"]);
    assert_ok(&out, "second uninstall");
    assert_lines(
        &stderr(&out),
        &[format!("kept {}/docker-init: not ours", plugins.display())],
    );
}

#[test]
fn install_warns_about_a_directory_the_cli_does_not_search() {
    let cfg = Config::new("install-elsewhere");
    let elsewhere = TempDir::new("install-elsewhere-dir");
    let dir = elsewhere.path().join("plugins");
    let out = cfg.run(
        &support::bin(),
        &["install", "--dir", dir.to_str().unwrap()],
    );
    assert_ok(&out, "install --dir");
    assert_lines(
        &stderr(&out),
        &[
            format!("created {}", dir.display()),
            format!("installed {}/docker-link ({VERSION})", dir.display()),
            format!(
                "warning: {} is not on the docker CLI's plugin search path: add it to \
                 \"cliPluginsExtraDirs\" in {}/config.json",
                dir.display(),
                cfg.path().display()
            ),
        ],
    );

    // Once config.json names it, the warning goes away.
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"cliPluginsExtraDirs":["{}"]}}"#, dir.display()),
    )
    .unwrap();
    let out = cfg.run(
        &support::bin(),
        &["install", "--dir", dir.to_str().unwrap()],
    );
    assert_ok(&out, "install --dir again");
    assert!(!stderr(&out).contains("search path"), "{}", stderr(&out));
}

/// What the kernel says, asked independently of doctor: each feature tried with `ip`/`tc` in
/// a namespace of its own (`unshare -n`).
fn kernel_has(feature: &str) -> bool {
    let script = match feature {
        "veth" => "ip link add dlt0 type veth peer name dlt1",
        "bridge" => "ip link add dlt0 type bridge",
        "vxlan" => "ip link add dlt0 type vxlan id 42 dstport 4789",
        "tc ingress" => "tc qdisc add dev lo ingress",
        "tc mirred" => {
            "tc qdisc add dev lo ingress && tc filter add dev lo parent ffff: protocol all \
             u32 match u32 0 0 action mirred egress redirect dev lo"
        }
        "netem" => "tc qdisc add dev lo root netem limit 1000",
        "geneve" => "ip link add dlt0 type geneve id 42 remote 192.0.2.1",
        "dummy" => "ip link add dlt0 type dummy",
        "vlan" => {
            "ip link add dlt0 type veth peer name dlt1 && ip link add link dlt0 name dlt2 type vlan id 5"
        }
        "ipvlan" => {
            "ip link add dlt0 type veth peer name dlt1 && ip link add link dlt0 name dlt2 type ipvlan mode l2"
        }
        other => panic!("no independent probe for {other}"),
    };
    for tool in ["unshare", "ip", "tc"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "prerequisite missing: `{tool}` (iproute2, util-linux)"
        );
    }
    let out = support::run(Command::new("unshare").args(["-n", "sh", "-c", script]));
    out.status.success()
}

/// `docker link doctor --format json` through the CLI: the checks by name.
fn doctor_json(cfg: &Config) -> (Output, BTreeMap<String, serde_json::Value>) {
    let out = cfg.docker(&["link", "doctor", "--format", "json"]);
    let checks = stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}\n{}", stderr(&out)));
            (v["Check"].as_str().unwrap().to_string(), v)
        })
        .collect();
    (out, checks)
}

#[test]
fn doctor_reports_each_check_through_the_cli() {
    support::require_daemon();
    assert!(
        nix::unistd::geteuid().is_root(),
        "prerequisite missing: doctor's kernel probes need root"
    );
    let cfg = Config::new("doctor");
    let out = cfg.run(support::static_bin(), &["install"]);
    assert_ok(&out, "install of the static binary");

    let (out, checks) = doctor_json(&cfg);
    let status = |name: &str| -> String {
        checks
            .get(name)
            .unwrap_or_else(|| panic!("doctor has no {name:?} check: {checks:#?}"))["Status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for name in [
        "plugin directory",
        "docker-link",
        "docker-ls",
        "docker-proxy",
        "docker-net",
        "docker-init",
        "daemon",
        "static binary",
        "privileges",
    ] {
        assert_eq!(status(name), "ok", "{name}: {:?}", checks[name]);
    }
    let daemon_version = support::docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    let detail = checks["daemon"]["Detail"].as_str().unwrap();
    assert!(detail.contains(&daemon_version), "{detail}");

    // The kernel lines agree with what ip and tc find.
    let mut all_required = true;
    for (feature, required) in [
        ("veth", true),
        ("bridge", true),
        ("vxlan", true),
        ("tc ingress", true),
        ("tc mirred", true),
        ("netem", false),
        ("geneve", false),
        ("dummy", false),
        ("vlan", false),
        ("ipvlan", false),
    ] {
        let has = kernel_has(feature);
        let want = match (has, required) {
            (true, _) => "ok",
            (false, true) => "fail",
            (false, false) => "warn",
        };
        if !has {
            println!("this kernel lacks {feature}: doctor must report it");
            let fix = checks[feature]["Fix"].as_str().unwrap();
            assert!(!fix.is_empty(), "{feature}: a missing feature has a fix");
        }
        all_required &= has || !required;
        assert_eq!(status(feature), want, "{feature}: {:?}", checks[feature]);
    }
    assert_eq!(
        out.status.code(),
        Some(if all_required { 0 } else { 1 }),
        "{}",
        stderr(&out)
    );
    // Link isolation agrees with nft itself in a namespace of its own: an inet forward chain
    // with a conntrack rule, and br_netfilter passing bridged traffic.
    let nft_works = support::run(Command::new("unshare").args([
        "-n",
        "sh",
        "-c",
        "nft add table inet dlt && nft add chain inet dlt c '{ type filter hook forward priority 0; }' \
         && nft add rule inet dlt c ct state established accept \
         && [ \"$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)\" = 1 ]",
    ]))
    .status
    .success();
    assert_eq!(
        status("link isolation (nf_tables)"),
        if nft_works { "ok" } else { "warn" },
        "{:?}",
        checks["link isolation (nf_tables)"]
    );

    // As an unprivileged user, doctor probes in a user namespace of its own and finds the
    // same; where unprivileged user namespaces are off, it says it could not probe.
    let nobody = |cmd: &mut Command| {
        let mut full = Command::new("setpriv");
        full.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        support::run(
            full.env("DOCKER_CONFIG", cfg.path())
                .env("HOME", cfg.path()),
        )
    };
    let userns = nobody(Command::new("unshare").args(["-Ur", "true"]))
        .status
        .success();
    let out = nobody(
        Command::new(cfg.plugins().join("docker-link")).args(["doctor", "--format", "json"]),
    );
    let unprivileged: BTreeMap<String, serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["Check"].as_str().unwrap().to_string(), v)
        })
        .collect();
    assert_eq!(unprivileged["privileges"]["Status"], "warn");
    if userns {
        for feature in [
            "veth",
            "bridge",
            "vxlan",
            "tc ingress",
            "tc mirred",
            "netem",
            "geneve",
            "dummy",
            "vlan",
            "ipvlan",
        ] {
            assert_eq!(
                unprivileged[feature]["Status"], checks[feature]["Status"],
                "{feature} as nobody: {:?}",
                unprivileged[feature]
            );
        }
    } else {
        println!("unprivileged user namespaces are off: doctor must say it could not probe");
        let detail = unprivileged["kernel features"]["Detail"].as_str().unwrap();
        assert!(detail.starts_with("not probed"), "{detail}");
    }

    // The default output: one line per check, fixes on the same line.
    let out = cfg.docker(&["link", "doctor"]);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), checks.len() + 1, "{table}");
    assert!(lines[0].starts_with("CHECK"), "{table}");
    let veth = lines
        .iter()
        .find(|l| l.starts_with("veth "))
        .expect("a veth line");
    assert!(
        veth.split_whitespace().nth(1) == Some(status("veth").as_str()),
        "{veth}"
    );
    for (name, check) in &checks {
        let fix = check["Fix"].as_str().unwrap();
        if !fix.is_empty() {
            let line = lines.iter().find(|l| l.starts_with(name.as_str())).unwrap();
            assert!(line.ends_with(&format!("; fix: {fix}")), "{line}");
        }
    }
}

#[test]
fn doctor_fails_on_a_dynamic_binary_and_a_missing_install() {
    support::require_daemon();
    let cfg = Config::new("doctor-dynamic");
    assert_ok(&cfg.run(&support::bin(), &["install"]), "install");
    let (out, checks) = doctor_json(&cfg);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(checks["static binary"]["Status"], "fail");
    let detail = checks["static binary"]["Detail"].as_str().unwrap();
    assert!(detail.contains("is dynamically linked"), "{detail}");
    assert!(
        stderr(&out).contains("error: 1 check failed"),
        "{}",
        stderr(&out)
    );

    // Uninstalled, run by hand: every name is reported missing, with the fix.
    assert_ok(&cfg.run(&support::bin(), &["uninstall"]), "uninstall");
    let out = cfg.run(&support::bin(), &["doctor", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    for n in NAMES {
        let line = stdout(&out)
            .lines()
            .find(|l| l.contains(&format!("\"Check\":\"docker-{n}\"")))
            .unwrap_or_else(|| panic!("no docker-{n} line: {}", stdout(&out)))
            .to_string();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Status"], "fail", "{line}");
        assert_eq!(v["Fix"], "run `docker-link install`", "{line}");
    }
}
