//! `docker init` held to its peers: the same scenarios run under our init, tini and dumb-init
//! (Debian's packages), and the observable outcomes (exit codes, signals the child saw,
//! zombies left) must agree where the peers agree. Where we differ on purpose, the test says
//! so: exec failures follow tini (127/126; dumb-init says 2), and when the main child exits we
//! SIGTERM the rest and wait (tini and dumb-init leave them to the kernel's SIGKILL).
//!
//! PID-1 cases run each init in its own PID namespace (`unshare --pid --fork --mount-proc`);
//! signal cases run the init directly (ours registers as a subreaper, tini with -s).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, run, TempDir};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Ours,
    Tini,
    DumbInit,
}

const ALL: [Peer; 3] = [Peer::Ours, Peer::Tini, Peer::DumbInit];

fn peer(name: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(name);
    assert!(
        path.exists(),
        "prerequisite missing: {} (Debian packages tini and dumb-init)",
        path.display()
    );
    path
}

impl Peer {
    /// The init's command line up to the child's command.
    fn argv(self, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = match self {
            Peer::Ours => vec![support::bin().display().to_string(), "init".into()],
            Peer::Tini => vec![peer("tini").display().to_string(), "-s".into()],
            Peer::DumbInit => vec![peer("dumb-init").display().to_string()],
        };
        v.extend(extra.iter().map(|s| s.to_string()));
        if self != Peer::DumbInit {
            v.push("--".into());
        }
        v
    }

    fn command(self, extra: &[&str], child: &[&str]) -> Command {
        let argv = self.argv(extra);
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).args(child);
        cmd
    }

    /// The init as PID 1 of a new PID namespace.
    fn as_pid1(self, extra: &[&str], child: &[&str]) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc"])
            .args(self.argv(extra))
            .args(child);
        cmd
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Starts the init in the background with a child shell that runs `setup` (its traps), then
/// writes the marker file, then loops; returns once the marker exists. The marker comes after
/// the traps, so a signal sent on return always finds them in place (written before them, a
/// signal could beat the trap and kill the shell instead).
fn start(init: Peer, extra: &[&str], setup: &str, dir: &TempDir) -> Child {
    let ready = dir.path().join("ready");
    let _ = std::fs::remove_file(&ready);
    // Newlines, not ';': a setup may end with '&'.
    let full = format!(
        "{setup}\necho > {}\nwhile :; do sleep 0.02; done",
        ready.display()
    );
    let child = init
        .command(extra, &["sh", "-c", &full])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(
            Instant::now() < deadline,
            "{init:?}: the child never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn signal(child: &Child, sig: &str) {
    support::run_ok(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(child.id().to_string()),
    );
}

fn wait_code(mut child: Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the init did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn exit_codes_are_the_childs() {
    for init in ALL {
        for n in [0, 1, 3, 100, 255] {
            let out = run(&mut init.command(&[], &["sh", "-c", &format!("exit {n}")]));
            assert_eq!(code(&out), n, "{init:?} exit {n}");
        }
        // Killed by a signal: 128 + its number.
        for (sig, n) in [("USR1", 10), ("KILL", 9), ("HUP", 1)] {
            let out = run(&mut init.command(&[], &["sh", "-c", &format!("kill -{sig} $$")]));
            assert_eq!(code(&out), 128 + n, "{init:?} killed by {sig}");
        }
    }
}

#[test]
fn a_stderr_nobody_reads_is_no_panic() {
    // The init's messages go to a pipe whose reader is gone (a container's log reader that
    // died): the failed write is dropped, and the init exits as it would have (1 for these
    // startup failures), not with a panic (101 here; an abort of PID 1 in the release build).
    let dir = TempDir::new("init-epipe");
    let log = format!("file://{}/missing/log", dir.path().display());
    let cases: [(&[&str], &[&str]); 2] = [(&["--io", &log], &["true"]), (&[], &[])];
    for (extra, child) in cases {
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(r);
        let argv = Peer::Ours.argv(extra);
        // Without a child command, also without the "--" argv adds: usage on stderr.
        let argv = if child.is_empty() {
            &argv[..argv.len() - 1]
        } else {
            &argv[..]
        };
        let status = Command::new(&argv[0])
            .args(&argv[1..])
            .args(child)
            .stdout(Stdio::null())
            .stderr(Stdio::from(w))
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(1), "{extra:?} {child:?}");
    }
}

#[test]
fn exec_failures_follow_tini() {
    for init in [Peer::Ours, Peer::Tini] {
        let out = run(&mut init.command(&[], &["/nonexistent/cmd"]));
        assert_eq!(code(&out), 127, "{init:?}");
        let out = run(&mut init.command(&[], &["/etc/passwd"]));
        assert_eq!(code(&out), 126, "{init:?}");
    }
    let out = run(&mut Peer::Ours.command(&[], &["/nonexistent/cmd"]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exec /nonexistent/cmd failed: no such file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // dumb-init reports 2: a deliberate difference.
    let out = run(&mut Peer::DumbInit.command(&[], &["/nonexistent/cmd"]));
    assert_eq!(code(&out), 2);
    // No command: usage and 1, like tini.
    for init in [Peer::Ours, Peer::Tini] {
        let argv = init.argv(&[]);
        let out = run(Command::new(&argv[0]).args(&argv[1..argv.len() - 1]));
        assert_eq!(code(&out), 1, "{init:?}");
    }
}

#[test]
fn signals_reach_the_child() {
    let dir = TempDir::new("init-sig");
    for init in ALL {
        for sig in ["TERM", "USR1", "USR2", "HUP", "INT", "QUIT", "WINCH"] {
            let child = start(init, &[], &format!("trap 'exit 42' {sig}"), &dir);
            signal(&child, sig);
            assert_eq!(wait_code(child), 42, "{init:?} did not forward SIG{sig}");
        }
    }
}

#[test]
fn rewrite_and_drop() {
    let dir = TempDir::new("init-rewrite");
    // TERM becomes USR1 (ours by name, dumb-init by number).
    for (init, extra) in [
        (Peer::Ours, vec!["--rewrite", "TERM:USR1"]),
        (Peer::DumbInit, vec!["-r", "15:10"]),
    ] {
        let child = start(
            init,
            &extra,
            "trap 'exit 43' USR1; trap 'exit 44' TERM",
            &dir,
        );
        signal(&child, "TERM");
        assert_eq!(wait_code(child), 43, "{init:?}");
    }
    // A dropped signal never arrives; the next one does.
    for (init, extra) in [
        (Peer::Ours, vec!["-r", "USR2:0"]),
        (Peer::DumbInit, vec!["-r", "12:0"]),
    ] {
        let child = start(
            init,
            &extra,
            "trap 'exit 45' USR2; trap 'exit 46' USR1",
            &dir,
        );
        signal(&child, "USR2");
        std::thread::sleep(Duration::from_millis(200));
        signal(&child, "USR1");
        assert_eq!(wait_code(child), 46, "{init:?}");
    }
}

#[test]
fn remap_exit_code() {
    for init in [Peer::Ours, Peer::Tini] {
        let out = run(&mut init.command(&["-e", "3"], &["sh", "-c", "exit 3"]));
        assert_eq!(code(&out), 0, "{init:?}");
        let out = run(&mut init.command(&["-e", "3"], &["sh", "-c", "exit 4"]));
        assert_eq!(code(&out), 4, "{init:?}");
    }
}

#[test]
fn thug_turns_an_ignored_stop_signal_into_sigkill() {
    let dir = TempDir::new("init-thug");
    let script = "trap '' TERM";
    let child = start(Peer::Ours, &["--thug"], script, &dir);
    signal(&child, "TERM");
    assert_eq!(wait_code(child), 137);
    // Without --thug the ignored TERM leaves it running.
    let mut child = start(Peer::Ours, &[], script, &dir);
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the child died of an ignored TERM"
    );
    signal(&child, "KILL");
    let _ = child.wait();
}

#[test]
fn orphans_are_reaped_as_pid1() {
    // 100 orphans exit while the main child lives on; then count the zombies left.
    let script = "for i in $(seq 100); do (sleep 0.05 &) ; done; sleep 1; \
                  ps -eo stat= | grep -c '^Z' || true";
    for init in ALL {
        let out = run(&mut init.as_pid1(&[], &["sh", "-c", script]));
        assert_eq!(
            code(&out),
            0,
            "{init:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "0",
            "{init:?} left zombies"
        );
    }
}

#[test]
fn main_child_exit_tears_down_the_rest_gracefully() {
    let dir = TempDir::new("init-teardown");
    let marker = dir.path().join("bye");
    // The background process marks itself armed after its trap, and the main child exits
    // only then (within 5 s): the teardown's SIGTERM cannot beat the trap.
    let armed = dir.path().join("armed");
    let until_armed = format!(
        "i=0; while [ ! -e {a} ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done",
        a = armed.display()
    );
    let script = format!(
        "sh -c 'trap \"echo bye > {m}; exit 0\" TERM; : > {a}; while :; do sleep 0.02; done' & \
         {until_armed}; exit 0",
        m = marker.display(),
        a = armed.display()
    );
    // Ours: the background process gets SIGTERM and runs its trap before the init exits.
    let _ = std::fs::remove_file(&armed);
    let out = run(&mut Peer::Ours.as_pid1(&[], &["sh", "-c", &script]));
    assert_eq!(code(&out), 0);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default().trim(),
        "bye"
    );
    // tini exits at once; the kernel SIGKILLs the rest: no trap runs (the peers' known gap).
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_file(&armed);
    let out = run(&mut Peer::Tini.as_pid1(&[], &["sh", "-c", &script]));
    assert_eq!(code(&out), 0);
    assert!(!marker.exists(), "tini's background process ran its trap");

    // One that ignores SIGTERM is killed after the grace period, not before.
    let stubborn = format!(
        "sh -c 'trap \"\" TERM; : > {a}; while :; do sleep 0.02; done' & {until_armed}; exit 3",
        a = armed.display()
    );
    let _ = std::fs::remove_file(&armed);
    let started = Instant::now();
    let out = run(&mut Peer::Ours.as_pid1(&["--grace", "1"], &["sh", "-c", &stubborn]));
    assert_eq!(code(&out), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "SIGKILL came before the grace period"
    );

    // --no-teardown leaves them to the kernel, as tini does.
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_file(&armed);
    let out = run(&mut Peer::Ours.as_pid1(&["--no-teardown"], &["sh", "-c", &script]));
    assert_eq!(code(&out), 0);
    assert!(!marker.exists());
}

#[test]
fn tini_command_line_by_name() {
    let dir = TempDir::new("init-names");
    let link = dir.path().join("docker-init");
    std::os::unix::fs::symlink(support::bin(), &link).unwrap();
    let out = run(Command::new(&link).arg("--version"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        code(&out) == 0 && text.starts_with("tini version 0.19.0 - git."),
        "{text}"
    );
    let out = run(Command::new(&link).args(["-s", "-e", "5", "--", "sh", "-c", "exit 5"]));
    assert_eq!(code(&out), 0);
    // Not PID 1 and no -s: tini's warning.
    let out = run(Command::new(&link).args(["--", "true"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not registered as a child subreaper"));
}

#[cfg(feature = "test-docker")]
mod in_a_container {
    //! As PID 1 of a real container (the static binary bind-mounted as the entrypoint),
    //! against `docker run --init` (the daemon's tini).

    use super::*;
    use crate::support::{docker, images, unique};

    fn run_init(args: &[&str]) -> Output {
        let bin = support::static_bin().display().to_string();
        let mount = format!("{bin}:/init:ro");
        let mut full = vec![
            "run",
            "--rm",
            "--label",
            support::TEST_LABEL,
            "-v",
            &mount,
            "--entrypoint",
            "/init",
            images::busybox(),
            "init",
            "--",
        ];
        full.extend_from_slice(args);
        docker(&full)
    }

    #[test]
    fn exit_codes_and_exec_failures_as_pid1() {
        assert_eq!(code(&run_init(&["sh", "-c", "exit 5"])), 5);
        assert_eq!(code(&run_init(&["sh", "-c", "kill -USR1 $$"])), 138);
        assert_eq!(code(&run_init(&["/nope"])), 127);
        let out = run_init(&["sh", "-c", "echo pid $$ ppid $PPID"]);
        // The child's parent is the init, PID 1.
        assert!(String::from_utf8_lossy(&out.stdout).ends_with("ppid 1\n"));
    }

    /// A volume removed when the guard drops.
    struct Volume(String);

    impl Drop for Volume {
        fn drop(&mut self) {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", &self.0])
                .output();
        }
    }

    #[test]
    fn link_run_init_containers_share_one_file_and_prune_takes_unused_versions() {
        use crate::support::graph::{Graph, Linked};
        let g = Graph::new();
        let mut made = Vec::new();
        for i in 0..20 {
            let name = unique(&format!("shared-init-{i}"));
            g.ok(&[
                "link",
                "run",
                "-d",
                "--init",
                "--name",
                &name,
                "--label",
                support::TEST_LABEL,
                images::busybox(),
                "sleep",
                "300",
            ]);
            made.push(Linked::adopt(&name));
        }
        // One file: the same device and inode in every container (a copy in each container's
        // own layer would have an inode of its own there).
        let mut files = std::collections::BTreeSet::new();
        for c in &made {
            let out =
                c.0.exec(&["stat", "-L", "-c", "%d:%i %s", "/.docker-link/docker-link"]);
            assert!(out.status.success(), "{}", stderr_of(&out));
            files.insert(String::from_utf8_lossy(&out.stdout).trim().to_string());
            let cmdline = c.0.exec(&["cat", "/proc/1/cmdline"]);
            assert!(
                String::from_utf8_lossy(&cmdline.stdout)
                    .starts_with("/.docker-link/docker-link\0init\0--\0sleep"),
                "{:?}",
                String::from_utf8_lossy(&cmdline.stdout)
            );
        }
        assert_eq!(files.len(), 1, "{files:?}");
        // Mounted read-only: no container can change the others' init.
        let out = made[0]
            .0
            .exec(&["sh", "-c", "echo x >> /.docker-link/docker-link"]);
        assert!(!out.status.success(), "the init file is writable");
        let volume = made[0].0.inspect(
            "{{range .Mounts}}{{if eq .Destination \"/.docker-link\"}}{{.Name}}{{end}}{{end}}",
        );
        assert!(volume.starts_with("docker-link-init-"), "{volume}");
        let labels = g.docker_ok(&["volume", "inspect", "-f", "{{json .Labels}}", &volume]);
        assert!(
            labels.contains("\"docker-link.role\":\"init-volume\""),
            "{labels}"
        );

        // Prune: the volume of another version, which no container uses, goes; the one the
        // containers use stays.
        let old = Volume(unique("docker-link-init-0.0.1"));
        g.docker_ok(&[
            "volume",
            "create",
            "--label",
            "docker-link.role=init-volume",
            "--label",
            support::TEST_LABEL,
            &old.0,
        ]);
        // (Other tests prune at the same time: whichever prune took it, it is gone, and the
        // age rule of the plain `prune` is a unit test of `links::init_volume::plan`.)
        g.ok(&["link", "prune", "--filter", "until=0s"]);
        let left = g.docker_ok(&["volume", "ls", "-q"]);
        assert!(!left.lines().any(|l| l == old.0), "{left}");
        assert!(left.lines().any(|l| l == volume), "{left}");
    }

    #[test]
    fn link_run_init_copies_the_init_where_no_volume_can_be_had_and_says_why() {
        // On a daemon of its own (the volume's name is the shared daemon's too): that name is
        // taken by a volume that cannot be mounted (a bind of a missing directory), so the
        // init cannot be shared; the run still works, with the binary copied in.
        use crate::support::daemon::PrivateDaemon;
        use crate::support::graph::Graph;
        let d = PrivateDaemon::start();
        let busybox = d.image("busybox");
        let g = Graph::on(&d.host);
        let sum = support::run_ok(Command::new("sha256sum").arg(support::static_bin()));
        let volume = format!(
            "docker-link-init-{}-{}",
            env!("CARGO_PKG_VERSION"),
            &sum[..12]
        );
        d.docker_ok(&[
            "volume",
            "create",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            "device=/nonexistent-docker-link-test",
            &volume,
        ]);
        let out = run(&mut g.cmd(&[
            "link",
            "run",
            "--rm",
            "--init",
            &busybox,
            "sh",
            "-c",
            "tr '\\0' ' ' < /proc/1/cmdline; exit 4",
        ]));
        assert_eq!(code(&out), 4, "{}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("cannot share the init through a volume"),
            "{}",
            stderr_of(&out)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("/.docker-link/docker-link init -- sh -c"),
            "{text}"
        );
        // Nothing of the attempt is left behind.
        let left = d.docker_ok(&["ps", "-aq", "--filter", "label=docker-link.role=init-fill"]);
        assert!(left.is_empty(), "{left}");
    }

    #[test]
    fn docker_stop_is_prompt_with_143() {
        let bin = support::static_bin().display().to_string();
        let mount = format!("{bin}:/init:ro");
        for (what, args) in [
            (
                "ours",
                vec![
                    "-v",
                    mount.as_str(),
                    "--entrypoint",
                    "/init",
                    images::busybox(),
                    "init",
                    "--",
                    "sleep",
                    "300",
                ],
            ),
            ("tini", vec!["--init", images::busybox(), "sleep", "300"]),
        ] {
            let name = unique(&format!("stop-{what}"));
            let mut full = vec![
                "run",
                "-d",
                "--name",
                name.as_str(),
                "--label",
                support::TEST_LABEL,
            ];
            full.extend(args.iter().copied());
            let c = support::Container::adopt(&support::docker_ok(&full));
            let started = Instant::now();
            support::docker_ok(&["stop", "-t", "10", &c.id]);
            assert!(
                started.elapsed() < Duration::from_secs(8),
                "{what}: docker stop waited for its timeout"
            );
            assert_eq!(c.inspect("{{.State.ExitCode}}"), "143", "{what}");
        }
    }
}

/// A listener on 127.0.0.1 opened after `delay`, kept for `keep`.
fn listen_later(delay: Duration, keep: Duration) -> (u16, std::thread::JoinHandle<()>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = std::thread::spawn(move || {
        std::thread::sleep(delay);
        let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        l.set_nonblocking(true).unwrap();
        let end = Instant::now() + keep;
        while Instant::now() < end {
            let _ = l.accept();
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    (port, t)
}

#[test]
fn wait_blocks_the_exec_until_dependencies_accept() {
    let dir = TempDir::new("init-wait");
    let marker = dir.path().join("started");
    let start_cmd = format!("echo started > {}", marker.display());

    // Nothing listens: the command never starts, a clear message, exit 1.
    let (dead, _t) = listen_later(Duration::from_secs(3600), Duration::ZERO);
    let out = run(&mut Peer::Ours.command(
        &[
            "--wait",
            &format!("tcp://127.0.0.1:{dead}"),
            "--wait-timeout",
            "1",
        ],
        &["sh", "-c", &start_cmd],
    ));
    assert_eq!(code(&out), 1);
    assert!(
        !marker.exists(),
        "the command started without its dependency"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!(
        "tcp://127.0.0.1:{dead} did not accept a connection within 1s"
    )));

    // The dependency comes up later: the command starts then.
    let (port, t) = listen_later(Duration::from_millis(400), Duration::from_secs(5));
    let out = run(&mut Peer::Ours.command(
        &["--wait", &format!("tcp://127.0.0.1:{port}")],
        &["sh", "-c", &start_cmd],
    ));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(marker.exists());
    t.join().unwrap();

    // --wait-links reads the link variables `docker link run` injects.
    let _ = std::fs::remove_file(&marker);
    let (port, t) = listen_later(Duration::from_millis(200), Duration::from_secs(5));
    let out = run(Peer::Ours
        .command(&["--wait-links"], &["sh", "-c", &start_cmd])
        .env("REDIS_PORT_6379_TCP", format!("tcp://127.0.0.1:{port}")));
    assert_eq!(code(&out), 0);
    assert!(marker.exists());
    t.join().unwrap();

    // SIGTERM while waiting: 143, and the command never starts.
    let _ = std::fs::remove_file(&marker);
    let child = Peer::Ours
        .command(
            &["--wait", &format!("tcp://127.0.0.1:{dead}")],
            &["sh", "-c", &start_cmd],
        )
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "TERM");
    assert_eq!(wait_code(child), 143);
    assert!(!marker.exists());
}

#[test]
fn ready_file_waits_for_the_bound_port() {
    let dir = TempDir::new("init-ready");
    let ready = dir.path().join("ready");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!("sleep 1; exec busybox nc -l -p {port}");
    let mut child = Peer::Ours
        .command(
            &[
                "--bind-port",
                &port.to_string(),
                "--strict-port-binding",
                "--ready-file",
                ready.to_str().unwrap(),
            ],
            &["sh", "-c", &script],
        )
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!ready.exists(), "ready before the port was bound");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::net::TcpStream::connect(("127.0.0.1", port));
    let _ = child.kill();
    let _ = child.wait();
}

/// An HTTP server on 127.0.0.1 that records the bodies of the requests it gets; with
/// `answer` false it accepts and never answers (a hung hook).
fn hook_server(answer: bool) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if got.ends_with(b"}") {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&got).into_owned();
            if tx.send(text).is_err() {
                return;
            }
            if answer {
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
            } else {
                std::thread::sleep(Duration::from_secs(30));
            }
        }
    });
    (port, rx)
}

#[test]
fn web_hook_reports_each_state_in_order() {
    let (port, rx) = hook_server(true);
    let url = format!("http://127.0.0.1:{port}/hook");
    let out =
        run(&mut Peer::Ours.command(&["--web-hook", &url], &["sh", "-c", "sleep 0.2; exit 3"]));
    assert_eq!(code(&out), 3);
    let states: Vec<String> = rx
        .try_iter()
        .map(|req| {
            assert!(req.starts_with("PUT /hook HTTP/1.1"), "{req}");
            let body = &req[req.find("\r\n\r\n").unwrap() + 4..];
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(v["ps"]["net_interfaces"].is_array());
            v["ps"]["status"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(states, ["starting", "running", "crashed"]);

    // A hook that never answers delays nothing beyond its timeout and changes no exit code.
    let (port, _rx) = hook_server(false);
    let started = Instant::now();
    let child = start(
        Peer::Ours,
        &["--web-hook", &format!("http://127.0.0.1:{port}/")],
        "trap 'exit 9' TERM",
        &TempDir::new("init-hung"),
    );
    signal(&child, "TERM");
    assert_eq!(wait_code(child), 9);
    assert!(started.elapsed() < Duration::from_secs(14));
}

// ---- --io, --log-rotate, --stdout-prefix ----

/// Accepts one connection within 10 s (a blocking accept would hang the test when the init
/// never connects).
fn accept_within(l: &std::net::TcpListener) -> std::net::TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "the init never connected");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn io_file_appends_output_and_gives_dev_null_as_stdin() {
    let dir = TempDir::new("init-io-file");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "old\n").unwrap();
    let url = format!("file://{}", log.display());
    let out = run(&mut Peer::Ours.command(
        &["--io", &url],
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; cat; echo stdin done; exit 4",
        ],
    ));
    assert_eq!(code(&out), 4, "{}", stderr_of(&out));
    // stderr goes with stdout, in order; nothing reaches the init's own stdout.
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "old\nout\nerr\nstdin done\n"
    );
    assert!(out.stdout.is_empty());

    // A log that cannot be opened: a startup failure, the command never runs.
    let marker = dir.path().join("started");
    let out = run(&mut Peer::Ours.command(
        &[
            "--io",
            &format!("file://{}/no/such/dir/x.log", dir.path().display()),
        ],
        &["sh", "-c", &format!("echo > {}", marker.display())],
    ));
    assert_eq!(code(&out), 1);
    assert!(
        stderr_of(&out).contains("cannot open the log file") && !marker.exists(),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn log_rotation_gzips_archives_and_keeps_the_newest_five() {
    use std::io::Read;
    let dir = TempDir::new("init-rotate");
    let log = dir.path().join("app.log");
    // 0.0001 h = 0.36 s: some eight rotations while 60 lines are written over about 3 s.
    let out = run(&mut Peer::Ours.command(
        &[
            "--io",
            &format!("file://{}", log.display()),
            "--log-rotate",
            "0.0001",
        ],
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 60 ]; do echo line $i; i=$((i+1)); sleep 0.05; done",
        ],
    ));
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "app.log")
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "archives: {names:?}");
    let mut text = String::new();
    for n in &names {
        // <YYYYMMDD>T<HHMMSS>.<mmm>Z-app.log.gz, UTC.
        let stamp = n
            .strip_suffix("-app.log.gz")
            .unwrap_or_else(|| panic!("{n}"));
        assert!(
            stamp.len() == 20 && stamp.as_bytes()[8] == b'T' && stamp.ends_with('Z'),
            "{n}"
        );
        let mut plain = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(dir.path().join(n)).unwrap())
            .read_to_string(&mut plain)
            .unwrap();
        assert!(!plain.is_empty(), "{n} is empty");
        text.push_str(&plain);
    }
    text.push_str(&std::fs::read_to_string(&log).unwrap());
    // The newest archives and the live file hold the last lines, none lost or doubled; the
    // oldest archives were removed.
    let numbers: Vec<u32> = text
        .lines()
        .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
        .collect();
    let first = numbers[0];
    assert!(first > 0, "nothing was pruned: {names:?}");
    assert_eq!(numbers, (first..60).collect::<Vec<_>>());
}

#[test]
fn io_tcp_round_trip_and_the_wire_closing() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://127.0.0.1:{}", l.local_addr().unwrap().port());

    // Input arrives on stdin, stdout and stderr go back over the socket; the end of the
    // child's output closes our sending side.
    let child = Peer::Ours
        .command(
            &["--io", &url],
            &["sh", "-c", "read l; echo \"got $l\"; echo err >&2; exit 6"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut s = accept_within(&l);
    s.write_all(b"hello\n").unwrap();
    let mut back = String::new();
    s.read_to_string(&mut back).unwrap();
    assert_eq!(back, "got hello\nerr\n");
    assert_eq!(wait_code(child), 6);

    // An interactive child ends when the peer ends its input (EOF on stdin).
    let child = Peer::Ours
        .command(&["--io", &url], &["cat"])
        .spawn()
        .unwrap();
    let mut s = accept_within(&l);
    s.write_all(b"abc\n").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abc\n");
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(wait_code(child), 0);

    // The peer goes away altogether: the child is hung up (SIGHUP), as by a terminal.
    let child = Peer::Ours
        .command(
            &["--io", &url],
            &[
                "sh",
                "-c",
                "trap 'exit 7' HUP; while :; do echo tick; sleep 0.05; done",
            ],
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut s = accept_within(&l);
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"tick\n");
    drop(s);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stderr_of(&out).contains(&format!("the io connection {url} failed")),
        "{}",
        stderr_of(&out)
    );

    // Nobody listens: a startup failure (1), the command never runs.
    drop(l);
    let dir = TempDir::new("init-io-tcp");
    let marker = dir.path().join("started");
    let out = run(&mut Peer::Ours.command(
        &["--io", &url],
        &["sh", "-c", &format!("echo > {}", marker.display())],
    ));
    assert_eq!(code(&out), 1);
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("cannot connect the io to {url}")) && err.contains("not starting"),
        "{err}"
    );
    assert!(!marker.exists());
}

/// A CA, a server certificate it signed for 127.0.0.1 and localhost, and an unrelated CA,
/// made with the openssl CLI.
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    other_ca: PathBuf,
}

fn make_certs(dir: &std::path::Path) -> Certs {
    let p = |n: &str| dir.join(n).display().to_string();
    let openssl = |args: &[&str]| {
        support::run_ok(Command::new("openssl").args(args).current_dir(dir));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (name, cn) in [("ca", "docker-link test CA"), ("other", "unrelated CA")] {
        let mut a = vec!["req", "-x509"];
        a.extend(ec);
        let (key, pem, subj) = (
            p(&format!("{name}.key")),
            p(&format!("{name}.pem")),
            format!("/CN={cn}"),
        );
        a.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
        openssl(&a);
    }
    let mut a = vec!["req"];
    a.extend(ec);
    let (key, csr) = (p("srv.key"), p("srv.csr"));
    a.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
    openssl(&a);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let (ca, ca_key, cert, ext) = (p("ca.pem"), p("ca.key"), p("srv.pem"), p("ext.cnf"));
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-extfile",
        &ext,
    ]);
    Certs {
        ca: ca.into(),
        cert: cert.into(),
        key: key.into(),
        other_ca: p("other.pem").into(),
    }
}

/// Whether something listens on TCP `port` (from /proc, without connecting).
fn tcp_listening(port: u16) -> bool {
    let hex = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                fields.len() > 3 && format!("{} ", fields[1]).ends_with(&hex) && fields[3] == "0A"
            })
    })
}

#[test]
fn io_tls_verifies_the_peer_and_round_trips() {
    use std::io::{BufRead, Write};
    let dir = TempDir::new("init-io-tls");
    let certs = make_certs(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept", &port.to_string(), "-cert"])
        .arg(&certs.cert)
        .arg("-key")
        .arg(&certs.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("prerequisite missing: the openssl CLI");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tcp_listening(port) {
        assert!(Instant::now() < deadline, "openssl s_server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let next_line = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("no line from the init over TLS")
    };
    let ca = certs.ca.display().to_string();
    let url = format!("tls://127.0.0.1:{port}");
    let child = Peer::Ours
        .command(
            &["--io", &url, "--io-ca", &ca],
            &[
                "sh",
                "-c",
                "echo ready; read l; echo \"got $l\"; echo err >&2",
            ],
        )
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(next_line(), "ready");
    server
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"hello tls\n")
        .unwrap();
    assert_eq!(next_line(), "got hello tls");
    assert_eq!(next_line(), "err");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));

    // A certificate we cannot verify: no connection, no command, exit 1 and a clear reason.
    let marker = dir.path().join("started");
    let start = format!("echo > {}", marker.display());
    let other = certs.other_ca.display().to_string();
    let localhost = format!("tls://localhost:{port}");
    let wrong_name = format!("tls://127.0.0.2:{port}");
    for (args, why) in [
        // Signed by another CA.
        (
            vec!["--io", &localhost, "--io-ca", &other],
            "invalid peer certificate",
        ),
        // The system's roots do not know our test CA.
        (vec!["--io", &url], "invalid peer certificate"),
        // The right CA, but the certificate is not for that address.
        (
            vec!["--io", &wrong_name, "--io-ca", &ca],
            "invalid peer certificate",
        ),
    ] {
        let out = run(&mut Peer::Ours.command(&args, &["sh", "-c", &start]));
        let err = stderr_of(&out);
        assert_eq!(code(&out), 1, "{args:?}: {err}");
        assert!(
            err.contains("cannot connect the io to tls://") && err.contains(why),
            "{args:?}: {err}"
        );
        assert!(!marker.exists(), "{args:?}: the command ran");
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn stdout_prefix_on_every_line_with_and_without_colour() {
    let script = "echo a; echo b >&2; printf 'c'; sleep 0.1; printf 'd\\n\\n'";
    let out = run(&mut Peer::Ours.command(&["--stdout-prefix", "web| "], &["sh", "-c", script]));
    assert_eq!(code(&out), 0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "web| a\nweb| cd\nweb| \n"
    );
    // stderr keeps its own stream, prefixed too.
    assert!(stderr_of(&out).contains("web| b\n"), "{}", stderr_of(&out));

    let out = run(&mut Peer::Ours.command(&["--stdout-prefix", "db:red"], &["sh", "-c", "echo x"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "\x1b[31mdb\x1b[0mx\n");
    let out =
        run(&mut Peer::Ours.command(&["--stdout-prefix", "db:cyan"], &["sh", "-c", "echo x"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "\x1b[36mdb\x1b[0mx\n");

    // With --io the prefix goes into the file.
    let dir = TempDir::new("init-prefix");
    let log = dir.path().join("p.log");
    let out = run(&mut Peer::Ours.command(
        &[
            "--io",
            &format!("file://{}", log.display()),
            "--stdout-prefix",
            "[p] ",
        ],
        &["sh", "-c", "echo one; echo two >&2"],
    ));
    assert_eq!(code(&out), 0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "[p] one\n[p] two\n");

    // An unknown colour is a usage error.
    let out = run(&mut Peer::Ours.command(&["--stdout-prefix", "db:pink"], &["true"]));
    assert_eq!(code(&out), 1);
    assert!(stderr_of(&out).contains("unknown colour \"pink\""));
}

// ---- TTY, process groups, the orphan burst ----

/// `s` quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The init and its child under `script`, which gives them a pseudo-terminal as the
/// controlling terminal (util-linux `script -qec CMD /dev/null`).
fn under_a_tty(init: Peer, child: &str) -> Command {
    let mut argv = init.argv(&[]);
    argv.extend(["sh".to_string(), "-c".to_string(), child.to_string()]);
    let line: Vec<String> = argv.iter().map(|a| sh_quote(a)).collect();
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line.join(" "), "/dev/null"]);
    cmd
}

/// From the output of `echo child $$; cat /proc/self/stat`: the child's pid, and `cat`'s
/// ppid, pgrp, session, tty_nr and tpgid.
fn child_and_cat_stat(text: &str, who: &str) -> (i32, Vec<i32>) {
    let child: i32 = text
        .lines()
        .find_map(|l| l.strip_prefix("child "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{who}: {text}"));
    let stat = text
        .lines()
        .find(|l| l.contains("(cat)"))
        .unwrap_or_else(|| panic!("{who}: {text}"));
    let fields = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .skip(1)
        .take(5)
        .map(|x| x.parse().unwrap())
        .collect();
    (child, fields)
}

#[test]
fn tty_child_is_the_foreground_process_group() {
    for init in [Peer::Ours, Peer::Tini] {
        // pgrp and tpgid of `cat` (in the child's group): the terminal's foreground group is
        // the child's, and the child leads it.
        let out = run(under_a_tty(init, "echo child $$; cat /proc/self/stat").stdin(Stdio::null()));
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert_eq!(code(&out), 0, "{init:?}: {text}");
        let (child, f) = child_and_cat_stat(&text, &format!("{init:?}"));
        let (pgrp, tpgid) = (f[1], f[4]);
        assert_eq!(pgrp, child, "{init:?}: the child does not lead its group");
        assert_eq!(tpgid, pgrp, "{init:?}: the child is not in the foreground");
    }
}

#[test]
fn tty_ctrl_c_ends_a_looping_shell_with_130() {
    use std::io::{BufRead, Write};
    for init in [Peer::Ours, Peer::Tini] {
        let mut child = under_a_tty(init, "echo ready; while :; do sleep 0.05; done")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("ready") {
            line.clear();
            assert!(
                lines.read_line(&mut line).unwrap() > 0,
                "{init:?}: no ready"
            );
        }
        // ^C through the terminal's line discipline: SIGINT to the foreground group.
        child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
        assert_eq!(wait_code(child), 130, "{init:?}");
    }
}

#[test]
fn group_option_reaches_the_whole_process_group() {
    let dir = TempDir::new("init-group");
    let got = dir.path().join("got");
    let gc = dir.path().join("grandchild");
    let script = group_script(&got, &gc);
    for (init, extra, reaches) in [
        (Peer::Ours, vec!["-g"], true),
        (Peer::Ours, vec![], false),
        (Peer::Tini, vec!["-g"], true),
        (Peer::Tini, vec![], false),
        // dumb-init signals the group by default; -c is its single-child mode.
        (Peer::DumbInit, vec![], true),
        (Peer::DumbInit, vec!["-c"], false),
    ] {
        let cmd = init.command(&extra, &["sh", "-c"]);
        assert_eq!(
            group_reached(cmd, &script, &got, &gc, &dir),
            reaches,
            "{init:?} {extra:?}"
        );
    }
}

#[test]
fn a_burst_of_10000_orphans_is_reaped_as_pid1() {
    // 10,000 subshells of an intermediate shell block on one pipe; the intermediate exits,
    // so they are orphans of PID 1; then the pipe's writer exits and they all end together.
    // The child then waits (up to 10 s) for the zombies to be gone and exits 3.
    let dir = TempDir::new("init-burst");
    let d = dir.path().display();
    let script = format!(
        "(while [ ! -e {d}/forked ]; do sleep 0.05; done) | \
         sh -c 'exec 3<&0; i=0; while [ $i -lt 10000 ]; do read x <&3 & i=$((i+1)); done; \
         : > {d}/forked'; rm -f {d}/forked; \
         t=0; while :; do z=$(ps -eo stat= | grep -c ^Z); \
         [ \"$z\" = 0 ] || [ $t -ge 100 ] && break; sleep 0.1; t=$((t+1)); done; \
         echo zombies $z; exit 3"
    );
    for init in ALL {
        let out = run(&mut init.as_pid1(&[], &["sh", "-c", &script]));
        assert_eq!(code(&out), 3, "{init:?}: {}", stderr_of(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "zombies 0",
            "{init:?}"
        );
    }
}

// ---- drop-in behaviour: our binary under the peers' own names, side by side with them ----

/// Our binary under `name` (a symlink beside the test binary's target dir), as dockerd's
/// `init-path` or a `COPY … /usr/bin/dumb-init` would reach it.
fn ours_named(name: &str) -> PathBuf {
    let dir = support::bin()
        .parent()
        .unwrap()
        .join(format!("init-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join(name);
    if !link.exists() {
        // Two tests may race to make it: either one's link will do.
        let _ = std::os::unix::fs::symlink(support::bin(), &link);
    }
    link
}

/// (who, executable) of tini and of ours called `tini`.
fn tinis() -> [(&'static str, PathBuf); 2] {
    [("tini", peer("tini")), ("ours as tini", ours_named("tini"))]
}

/// (who, executable) of dumb-init and of ours called `dumb-init`.
fn dumb_inits() -> [(&'static str, PathBuf); 2] {
    [
        ("dumb-init", peer("dumb-init")),
        ("ours as dumb-init", ours_named("dumb-init")),
    ]
}

/// The child prints the parent pid of an orphan it made, and its own parent (the init): the
/// two agree when the init adopted the orphan (it is PID 1 or a child subreaper).
const ORPHAN_PPID: &str = "sh -c 'sleep 5 & echo $! > \"$D/orphan\"'; sleep 0.3; \
     p=$(cat \"$D/orphan\"); set -- $(cat /proc/$p/stat); kill $p; echo \"$4 $PPID\"";

fn adopted(out: &Output) -> bool {
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(v.len(), 2, "{text} / {}", stderr_of(out));
    v[0] == v[1]
}

const REAPER_WARNING: &str = "registered as a child subreaper";

#[test]
fn tini_env_switches_are_presence_flags() {
    let dir = TempDir::new("init-tini-env");
    for (who, exe) in tinis() {
        // TINI_SUBREAPER set but empty: a subreaper, orphans adopted, no warning.
        let run_with = |env: Option<&str>| {
            let mut cmd = Command::new(&exe);
            cmd.args(["--", "sh", "-c", ORPHAN_PPID])
                .env("D", dir.path())
                .env_remove("TINI_SUBREAPER");
            if let Some(v) = env {
                cmd.env("TINI_SUBREAPER", v);
            }
            run(&mut cmd)
        };
        let on = run_with(Some(""));
        assert!(adopted(&on), "{who}: TINI_SUBREAPER= did not adopt");
        assert!(!stderr_of(&on).contains(REAPER_WARNING), "{who}");
        let off = run_with(None);
        assert!(!adopted(&off), "{who}: adopted without TINI_SUBREAPER");
        assert!(stderr_of(&off).contains(REAPER_WARNING), "{who}");
    }
    // TINI_KILL_PROCESS_GROUP set but empty: signals go to the child's whole group.
    let got = dir.path().join("got");
    let gc = dir.path().join("gc");
    let script = group_script(&got, &gc);
    for (who, exe) in tinis() {
        for (env, reaches) in [(Some(""), true), (None, false)] {
            let mut cmd = Command::new(&exe);
            cmd.args(["-s", "--", "sh", "-c"])
                .env_remove("TINI_KILL_PROCESS_GROUP");
            if let Some(v) = env {
                cmd.env("TINI_KILL_PROCESS_GROUP", v);
            }
            assert_eq!(
                group_reached(cmd, &script, &got, &gc, &dir),
                reaches,
                "{who} TINI_KILL_PROCESS_GROUP={env:?}"
            );
        }
    }
}

#[test]
fn an_inherited_subreaper_bit_is_taken_silently() {
    // perl (Debian's perl-base is always there) makes itself a child subreaper
    // (prctl(PR_SET_CHILD_SUBREAPER, 1) = syscall 157, option 36) and execs the init: the bit
    // survives exec. tini checks it and stays silent; so must we.
    let dir = TempDir::new("init-inherited-subreaper");
    for (who, exe) in tinis() {
        let out = run(Command::new("perl")
            .args([
                "-e",
                "syscall(157, 36, 1, 0, 0, 0) == 0 or die \"prctl: $!\"; exec @ARGV or die",
            ])
            .arg(&exe)
            .args(["--", "sh", "-c", ORPHAN_PPID])
            .env("D", dir.path())
            .env_remove("TINI_SUBREAPER"));
        assert_eq!(code(&out), 0, "{who}: {}", stderr_of(&out));
        assert!(
            !stderr_of(&out).contains(REAPER_WARNING),
            "{who}: {}",
            stderr_of(&out)
        );
        assert!(adopted(&out), "{who}: the orphan was not adopted");
    }
}

/// The group scenario: the grandchild stays in the child's process group and records a USR1
/// in `got`; it gives up after 10 s so that nothing outlives the test. The child, on USR1,
/// gives the grandchild up to 1 s to record it before exiting 5 (our teardown would SIGTERM
/// it at once). Each sets its trap before it says it is there: the child before it starts the
/// grandchild, the grandchild before it writes its pid file `gc`.
fn group_script(got: &std::path::Path, gc: &std::path::Path) -> String {
    format!(
        "trap 'i=0; while [ ! -e {got} ] && [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done; \
         exit 5' USR1\n\
         sh -c 'trap \"echo got > {got}; exit 0\" USR1; echo $$ > {gc}.tmp; mv {gc}.tmp {gc}; \
         i=0; while [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done' &",
        got = got.display(),
        gc = gc.display()
    )
}

/// Runs `cmd` (an init's command line up to `sh -c`) with the group scenario, sends the init
/// USR1, and says whether the grandchild got it.
fn group_reached(
    mut cmd: Command,
    script: &str,
    got: &std::path::Path,
    gc: &std::path::Path,
    dir: &TempDir,
) -> bool {
    let _ = std::fs::remove_file(got);
    let _ = std::fs::remove_file(gc);
    let ready = dir.path().join("ready");
    let _ = std::fs::remove_file(&ready);
    let full = format!(
        "{script}\necho > {}\nwhile :; do sleep 0.02; done",
        ready.display()
    );
    let child = cmd
        .arg(&full)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(ready.exists() && gc.exists()) {
        assert!(Instant::now() < deadline, "the child never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "USR1");
    assert_eq!(wait_code(child), 5);
    std::thread::sleep(Duration::from_millis(200));
    let reached = got.exists();
    kill_pid_in(gc);
    reached
}

/// SIGTERM to the process whose pid `file` holds, if any (what a test left running).
fn kill_pid_in(file: &std::path::Path) {
    let pid = std::fs::read_to_string(file).unwrap_or_default();
    let _ = Command::new("kill")
        .arg(pid.trim())
        .stderr(Stdio::null())
        .status();
}

/// Field `n` (1-based, as proc(5) counts) of `/proc/<pid>/stat`.
fn stat_field(pid: u32, n: usize) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    rest.split_whitespace()
        .nth(n - 3)
        .unwrap_or_default()
        .to_string()
}

/// The one child of `pid`.
fn only_child(pid: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let kids =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(k) = kids.split_whitespace().next() {
            return k.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "{pid} has no child");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `/proc/<pid>/stat` says `stopped` (state T) or not.
fn wait_stopped(pid: u32, stopped: bool, what: &str) {
    // Generous: the shared machine's load can reach dozens of runnable processes per core.
    let deadline = Instant::now() + Duration::from_secs(15);
    while (stat_field(pid, 3) == "T") != stopped {
        assert!(
            Instant::now() < deadline,
            "{what}: pid {pid} is {} (want stopped={stopped})",
            stat_field(pid, 3)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dumb_init_sigterms_the_childs_group_when_the_child_exits() {
    let dir = TempDir::new("init-dumb-farewell");
    let marker = dir.path().join("bye");
    let armed = dir.path().join("armed");
    let pidfile = dir.path().join("worker");
    // A background worker (in the child's group) marks itself armed after its trap; the main
    // child exits only then. It gives up on its own after 5 s.
    let script = format!(
        "sh -c 'trap \"echo bye > {m}; exit 0\" TERM; echo $$ > {p}; : > {a}; \
         i=0; while [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done' & \
         i=0; while [ ! -e {a} ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; exit 0",
        m = marker.display(),
        a = armed.display(),
        p = pidfile.display()
    );
    for (who, exe) in dumb_inits() {
        for (extra, farewell) in [(None, true), (Some("-c"), false)] {
            for f in [&marker, &armed, &pidfile] {
                let _ = std::fs::remove_file(f);
            }
            let out = run(Command::new(&exe).args(extra).args(["sh", "-c", &script]));
            assert_eq!(code(&out), 0, "{who} {extra:?}: {}", stderr_of(&out));
            let deadline = Instant::now() + Duration::from_secs(2);
            while !marker.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(marker.exists(), farewell, "{who} {extra:?}");
            kill_pid_in(&pidfile);
        }
    }
}

#[test]
fn dumb_init_hands_the_terminal_to_the_childs_session() {
    // Under a pseudo-terminal, the init execs as the session leader holding it (as PID 1 of
    // `docker run -t`). The child's `cat` must find the terminal controlling its session, its
    // group in the foreground, and the child alive after the hand-off's SIGHUP.
    for (who, exe) in dumb_inits() {
        let line = format!(
            "exec {} sh -c 'echo child $$; cat /proc/self/stat; sleep 0.2; echo alive'",
            sh_quote(&exe.display().to_string())
        );
        let out = run(Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::null()));
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert_eq!(code(&out), 0, "{who}: {text}");
        assert!(text.contains("alive"), "{who}: {text}");
        let (child, f) = child_and_cat_stat(&text, who);
        let (pgrp, session, tty, tpgid) = (f[1], f[2], f[3], f[4]);
        assert_eq!(
            session, child,
            "{who}: the child leads no session of its own"
        );
        assert_ne!(tty, 0, "{who}: the child's session has no terminal");
        assert_eq!(tpgid, pgrp, "{who}: the child is not in the foreground");
    }
}

#[test]
fn dumb_init_job_control_stops_and_resumes() {
    let dir = TempDir::new("init-dumb-job");
    for (who, exe) in dumb_inits() {
        // setsid mode (TSTP becomes SIGSTOP for the child's group), single-child mode (TSTP
        // itself, to the child in the init's group; the init in a group of its own whose
        // parent is outside it, so the group is not orphaned and TSTP stops), and TSTP
        // dropped (-r 20:0: the child runs on, the init stops all the same).
        for (extra, child_stops) in [
            (&[][..], true),
            (&["-c"][..], true),
            (&["-r", "20:0"][..], false),
        ] {
            let ready = dir.path().join("ready");
            let _ = std::fs::remove_file(&ready);
            // The child execs sleep: a shell looping on `sleep` would vfork, and a STOP that
            // catches the vforked child before its exec leaves the shell waiting (state D).
            let script = format!("echo > {}; exec sleep 60", ready.display());
            let mut cmd = Command::new(&exe);
            cmd.args(extra).args(["sh", "-c", &script]);
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let init = cmd.spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !ready.exists() {
                assert!(Instant::now() < deadline, "{who}: the child never started");
                std::thread::sleep(Duration::from_millis(10));
            }
            let child = only_child(init.id());
            let what = format!("{who} {extra:?}");
            signal(&init, "TSTP");
            wait_stopped(init.id(), true, &format!("{what}: init after TSTP"));
            wait_stopped(child, child_stops, &format!("{what}: child after TSTP"));
            signal(&init, "CONT");
            wait_stopped(init.id(), false, &format!("{what}: init after CONT"));
            wait_stopped(child, false, &format!("{what}: child after CONT"));
            signal(&init, "TERM");
            assert_eq!(wait_code(init), 143, "{what}");
        }
    }
}

#[test]
fn dumb_init_leaves_the_start_directory() {
    let dir = TempDir::new("init-dumb-cwd");
    for (who, exe) in dumb_inits() {
        let out = run(Command::new(&exe)
            // A moment first: the init moves after its fork, and the child may run first.
            .args(["sh", "-c", "sleep 0.3; readlink /proc/$PPID/cwd; pwd"])
            .current_dir(dir.path()));
        let text = String::from_utf8_lossy(&out.stdout);
        // The init is in /, the child where it was started.
        assert_eq!(
            text,
            format!("/\n{}\n", dir.path().display()),
            "{who}: {}",
            stderr_of(&out)
        );
        // Outside PID 1 and no subreaper, dumb-init says nothing of it (tini warns).
        assert!(
            !stderr_of(&out).contains(REAPER_WARNING),
            "{who}: {}",
            stderr_of(&out)
        );
    }
}

#[test]
fn dumb_init_rewrites_take_numbers_1_to_31() {
    for (who, exe) in dumb_inits() {
        for (rewrite, want) in [
            ("15:10", 0),
            ("31:0", 0),
            ("TERM:USR1", 1),
            ("32:1", 1),
            ("0:1", 1),
            ("15:32", 1),
        ] {
            let out = run(Command::new(&exe).args(["-r", rewrite, "true"]));
            assert_eq!(code(&out), want, "{who} -r {rewrite}: {}", stderr_of(&out));
        }
    }
}

#[test]
fn synchronous_signals_sent_with_kill_are_forwarded() {
    // dumb-init forwards them (it blocks everything); tini dies of them. Ours forwards them
    // under every name.
    let dir = TempDir::new("init-sync");
    let mut inits: Vec<(&str, Command)> = Vec::new();
    for (who, exe) in dumb_inits() {
        inits.push((who, Command::new(exe)));
    }
    let mut tini = Command::new(ours_named("tini"));
    tini.args(["-s", "--"]);
    inits.push(("ours as tini", tini));
    let mut ours = Command::new(support::bin());
    ours.args(["init", "--"]);
    inits.push(("ours", ours));
    for (who, cmd) in &inits {
        for sig in ["ABRT", "SEGV", "ILL", "BUS", "FPE", "TRAP", "SYS"] {
            let ready = dir.path().join("ready");
            let _ = std::fs::remove_file(&ready);
            let script = format!(
                "trap 'exit 42' {sig}\necho > {}\nwhile :; do sleep 0.02; done",
                ready.display()
            );
            let mut c = Command::new(cmd.get_program());
            c.args(cmd.get_args()).args(["sh", "-c", &script]);
            let child = c.stderr(Stdio::piped()).spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !ready.exists() {
                assert!(Instant::now() < deadline, "{who}: the child never started");
                std::thread::sleep(Duration::from_millis(10));
            }
            signal(&child, sig);
            assert_eq!(wait_code(child), 42, "{who} did not forward SIG{sig}");
        }
    }
}

#[test]
fn signal_mask_and_ignored_set_as_each_peer_gives_them() {
    // The parent blocks USR1 and ignores USR2, then execs the init. tini (and ours under its
    // name and our own) restores the inherited mask and dispositions in the child, with
    // SIGPIPE and SIGCHLD at default (tini's sigconf test); dumb-init clears both.
    let prologue = "use POSIX; $SIG{USR2} = 'IGNORE'; \
                    sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGUSR1)) or die; exec @ARGV or die";
    let sets = |exe: &std::path::Path, args: &[&str]| -> String {
        let out = run(Command::new("perl")
            .args(["-e", prologue])
            .arg(exe)
            .args(args)
            .args(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]));
        assert_eq!(code(&out), 0, "{exe:?}: {}", stderr_of(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Bits 1-31 of a mask line (the harness may pass realtime signals of its own along).
    let low = |text: &str, key: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_default();
        let hex = line.rsplit(['\t', ' ']).next().unwrap_or_default();
        u64::from_str_radix(hex, 16).unwrap_or(u64::MAX) & 0x7fff_ffff
    };
    let usr1 = 1u64 << 9;
    let usr2 = 1u64 << 11;
    let tini = sets(&peer("tini"), &["-s", "--"]);
    assert_eq!(low(&tini, "SigBlk"), usr1, "{tini}");
    assert_eq!(low(&tini, "SigIgn"), usr2, "{tini}");
    assert_eq!(sets(&ours_named("tini"), &["-s", "--"]), tini);
    assert_eq!(sets(&support::bin(), &["init", "--"]), tini);
    let dumb = sets(&peer("dumb-init"), &[]);
    assert_eq!(low(&dumb, "SigBlk"), 0, "{dumb}");
    assert_eq!(low(&dumb, "SigIgn"), 0, "{dumb}");
    assert_eq!(sets(&ours_named("dumb-init"), &[]), dumb);
}

#[test]
fn an_unknown_name_followed_by_dashdash_runs_the_init() {
    // `COPY docker-link /init`, `ENTRYPOINT ["/init", "--"]`.
    let dir = TempDir::new("init-unknown-name");
    let link = dir.path().join("init");
    std::os::unix::fs::symlink(support::bin(), &link).unwrap();
    let out = run(Command::new(&link).args(["--", "sh", "-c", "exit 7"]));
    assert_eq!(code(&out), 7, "{}", stderr_of(&out));
    // Like tini's `-- CMD` (the reference).
    let out = run(Command::new(peer("tini")).args(["-s", "--", "sh", "-c", "exit 7"]));
    assert_eq!(code(&out), 7);
}
