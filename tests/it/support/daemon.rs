//! A dockerd of one test's own, in a network namespace of its own, for what must never touch
//! the shared daemon: stopping every container, `docker container/system/network prune`,
//! restarting the daemon, killing it with `kill -9`. Its binary is the engine under test:
//! `$DOCKER_LINK_TEST_DOCKERD` (CI points it at Engine 28's when the suite runs against that
//! engine), else the system's `dockerd`. It starts its own containerd under its exec root.
//!
//! Never started with `--bridge none` (that deletes the host's docker0; here it would leave
//! the containers without the default bridge the tests use).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{run, run_ok, unique, TempDir};

pub struct PrivateDaemon {
    dir: TempDir,
    netns: String,
    pub host: String,
    binary: PathBuf,
    /// The running dockerd, to reap it when it exits (a zombie keeps its /proc entry).
    child: std::sync::Mutex<Option<std::process::Child>>,
}

impl PrivateDaemon {
    pub fn start() -> PrivateDaemon {
        super::require_daemon();
        let binary = std::env::var_os("DOCKER_LINK_TEST_DOCKERD")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("dockerd"));
        // Short names: unix socket paths are limited to 108 bytes.
        let dir = TempDir::new("pd");
        let netns = format!("dlpd{}", &unique("").replace('-', "")[6..]);
        let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
        ip(&["netns", "add", &netns]);
        ip(&["-n", &netns, "link", "set", "lo", "up"]);
        std::fs::write(dir.path().join("daemon.json"), "{}").unwrap();
        let host = format!("unix://{}", dir.path().join("docker.sock").display());
        let d = PrivateDaemon {
            dir,
            netns,
            host,
            binary,
            child: std::sync::Mutex::new(None),
        };
        d.launch();
        d
    }

    /// The daemon's network namespace (`ip netns` name).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.path().join("dockerd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn launch(&self) {
        let d = self.dir.path();
        let _ = std::fs::remove_file(d.join("docker.sock"));
        let _ = std::fs::remove_file(d.join("dockerd.pid"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("dockerd.log"))
            .unwrap();
        // nsenter --net, not `ip netns exec`: the latter remounts /sys and hides cgroups.
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg(&self.binary)
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .args(["-H", &self.host])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prerequisite missing: cannot start {:?}: {e}", self.binary)
            });
        *self.child.lock().unwrap() = Some(child);
        // Generous: a loaded machine (the whole suite at once) starts containerd slowly.
        let deadline = Instant::now() + Duration::from_secs(180);
        while !self.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "the private dockerd did not answer within 180s:\n{}",
                std::fs::read_to_string(d.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `docker <args>` against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        run(Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(args))
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        run_ok(
            Command::new("docker")
                .env("DOCKER_HOST", &self.host)
                .args(args),
        )
    }

    /// A test image built on this daemon (tests/images/build.sh).
    pub fn image(&self, kind: &str) -> String {
        run_ok(
            Command::new("bash")
                .arg(super::repo().join("tests/images/build.sh"))
                .arg(kind)
                .env("DOCKER_HOST", &self.host),
        )
    }

    fn wait_gone(&self, pid: i32) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.lock().unwrap().as_mut() {
                // nsenter execs dockerd: the child is dockerd itself. Reap it.
                let _ = c.try_wait();
            }
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            assert!(Instant::now() < deadline, "dockerd {pid} did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the daemon cleanly and starts it again (`systemctl restart docker`).
    pub fn restart(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            self.wait_gone(pid);
        }
        self.launch();
    }

    /// `kill -9` of dockerd (a crash), then a start. Its containerd goes down with it (the
    /// daemon starts it with a parent-death signal); one still shutting down would hold the
    /// socket the new daemon's containerd needs, so the start waits until it is gone.
    pub fn crash_and_start(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            self.wait_gone(pid);
        }
        let config = self.dir.path().join("exec/containerd/containerd.toml");
        let pattern = format!("containerd --config {}", config.display());
        let deadline = Instant::now() + Duration::from_secs(30);
        while run(Command::new("pgrep").args(["-f", &pattern]))
            .status
            .success()
        {
            let _ = Command::new("pkill").args(["-9", "-f", &pattern]).status();
            assert!(
                Instant::now() < deadline,
                "the crashed daemon's containerd stays"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = std::fs::remove_file(self.dir.path().join("exec/containerd/containerd.pid"));
        self.launch();
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        // Containers first (their mounts), then the daemon, its namespace and its files.
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .status();
        let data = self.dir.path().join("data");
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {0}[^ ]*' /proc/mounts | sort -r | xargs -r umount -l",
                data.display()
            ))
            .status();
    }
}
