//! Shared fixtures of the integration tests: the images (built with `docker import` from this
//! machine's files by tests/images/build.sh), unique names, guards that remove what a test
//! created, and the static binary that runs inside containers.
//!
//! Everything a test creates on the daemon carries the label `docker-link.test=1` and a unique
//! name, and is removed by a `Drop` guard. A missing prerequisite panics with a clear message:
//! with a test feature on, CI must fail rather than skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub mod daemon;
pub mod graph;

pub const TEST_LABEL: &str = "docker-link.test=1";

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The binary cargo built for this test run (dynamically linked: for use on the host).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_docker-link"))
}

/// Polls `f` every 100 ms until it gives Some, or panics with `what` after `secs`.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < end,
            "not within {secs}s: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A name no other test (or test run) uses: `dl-test-<pid>-<n>-<what>`.
pub fn unique(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "dl-test-{}-{}-{what}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The duties a watcher's `docker link watcher status --format json` lists.
pub fn duties(status: &serde_json::Value) -> Vec<&str> {
    status["Duties"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d.as_str()).collect())
        .unwrap_or_default()
}

/// Runs a command and returns its output; panics only when it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed and returns its trimmed stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `docker <args>` through the real docker CLI.
pub fn docker(args: &[&str]) -> Output {
    require_daemon();
    run(Command::new("docker").args(args))
}

/// `docker <args>` that must succeed; its trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    require_daemon();
    run_ok(Command::new("docker").args(args))
}

/// Panics (once, clearly) when no daemon answers: tests behind `test-docker` need one.
pub fn require_daemon() {
    static OK: OnceLock<Result<(), String>> = OnceLock::new();
    let res = OK.get_or_init(|| {
        let out = Command::new("docker")
            .args(["version", "--format", "{{.Server.APIVersion}}"])
            .output()
            .map_err(|e| format!("the docker CLI cannot be run: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "no docker daemon answers: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    });
    if let Err(e) = res {
        panic!("prerequisite missing: {e} (the test-docker feature needs a running daemon)");
    }
}

pub mod images {
    //! Test images by kind; each is built once per machine (tagged with a content hash) and
    //! looked up once per test run.

    use super::*;

    fn build(kind: &'static str) -> String {
        require_daemon();
        let script = repo().join("tests/images/build.sh");
        run_ok(Command::new("bash").arg(script).arg(kind))
    }

    macro_rules! image {
        ($(#[$doc:meta])* $name:ident) => {
            $(#[$doc])*
            pub fn $name() -> &'static str {
                static TAG: OnceLock<String> = OnceLock::new();
                TAG.get_or_init(|| build(stringify!($name)))
            }
        };
    }

    image!(
        /// Static busybox with every applet; CMD sh.
        busybox
    );
    image!(
        /// busybox that EXPOSEs 6379/tcp and serves it (a stand-in for redis).
        redis
    );
    image!(
        /// Debian's nginx with its libraries and busybox; serves "nginx ok" on port 80.
        nginx
    );
    image!(
        /// Debian's haproxy with its libraries and busybox; serves "haproxy ok" on port 80.
        haproxy
    );
}

/// A container that is removed (with its anonymous volumes) when the guard drops.
#[derive(Debug)]
pub struct Container {
    pub id: String,
    pub name: String,
}

impl Container {
    /// `docker run -d --name <unique> --label docker-link.test=1 <args…>`: args hold any run
    /// flags, then the image and command.
    pub fn run(what: &str, args: &[&str]) -> Container {
        let name = unique(what);
        let mut full = vec!["run", "-d", "--name", &name, "--label", TEST_LABEL];
        full.extend_from_slice(args);
        let id = docker_ok(&full);
        Container { id, name }
    }

    /// Adopts a container created some other way (by the binary under test).
    pub fn adopt(id_or_name: &str) -> Container {
        let id = docker_ok(&["inspect", "-f", "{{.Id}}", id_or_name]);
        let name = docker_ok(&["inspect", "-f", "{{.Name}}", &id])
            .trim_start_matches('/')
            .to_string();
        Container { id, name }
    }

    pub fn exec(&self, cmd: &[&str]) -> Output {
        let mut full = vec!["exec", self.id.as_str()];
        full.extend_from_slice(cmd);
        docker(&full)
    }

    pub fn inspect(&self, template: &str) -> String {
        docker_ok(&["inspect", "-f", template, &self.id])
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.id])
            .output();
    }
}

/// A network removed when the guard drops (after disconnecting whatever is still on it).
#[derive(Debug)]
pub struct Network {
    pub name: String,
}

impl Network {
    pub fn create(what: &str, args: &[&str]) -> Network {
        let name = unique(what);
        let mut full = vec!["network", "create", "--label", TEST_LABEL];
        full.extend_from_slice(args);
        full.push(&name);
        docker_ok(&full);
        Network { name }
    }

    pub fn adopt(name: &str) -> Network {
        Network {
            name: name.to_string(),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let ids = Command::new("docker")
            .args([
                "network",
                "inspect",
                "-f",
                "{{range $k, $v := .Containers}}{{$k}} {{end}}",
                &self.name,
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.split_whitespace() {
            let _ = Command::new("docker")
                .args(["network", "disconnect", "-f", &self.name, id])
                .output();
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique(what));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The statically linked docker-link, for running inside containers (self image, init,
/// registry, watcher). `$DOCKER_LINK_STATIC_BIN` if set (CI builds it once), else built here
/// once per test run with `cargo build --profile static-test` for the musl target (or
/// glibc with crt-static where musl is not installed), in its own target dir so it never waits
/// on the lock of the build that runs these tests.
pub fn static_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("DOCKER_LINK_STATIC_BIN") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "DOCKER_LINK_STATIC_BIN={p:?} does not exist");
            return p;
        }
        let out = run(Command::new("bash")
            .arg(repo().join("scripts/build-static"))
            .arg("--test")
            .current_dir(repo()));
        assert!(
            out.status.success(),
            "building the static binary failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
        assert!(
            path.is_file(),
            "scripts/build-static printed {path:?}, not a file"
        );
        path
    })
}

/// A `DOCKER_CONFIG` with the plugin installed by its own `install`, so the real docker CLI
/// reaches our five names.
#[derive(Debug)]
pub struct PluginConfig {
    pub dir: TempDir,
}

impl PluginConfig {
    pub fn new() -> PluginConfig {
        let dir = TempDir::new("docker-config");
        run_ok(
            Command::new(bin())
                .args(["install", "--dir"])
                .arg(dir.path().join("cli-plugins")),
        );
        PluginConfig { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `docker <args>` through the real CLI with this config.
    pub fn docker(&self) -> Command {
        require_daemon();
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_CONFIG", self.path());
        cmd
    }
}
