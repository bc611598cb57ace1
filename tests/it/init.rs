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

/// Starts the init in the background with the child `script` and waits until the child has
/// written `ready` into the marker file (so its traps are in place).
fn start(init: Peer, extra: &[&str], script: &str, dir: &TempDir) -> Child {
    let ready = dir.path().join("ready");
    let _ = std::fs::remove_file(&ready);
    let full = format!("echo > {}; {script}", ready.display());
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
    // The trap is set right after the marker; give the shell a moment to reach its loop.
    std::thread::sleep(Duration::from_millis(100));
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
            let child = start(
                init,
                &[],
                &format!("trap 'exit 42' {sig}; while :; do sleep 0.02; done"),
                &dir,
            );
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
            "trap 'exit 43' USR1; trap 'exit 44' TERM; while :; do sleep 0.02; done",
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
            "trap 'exit 45' USR2; trap 'exit 46' USR1; while :; do sleep 0.02; done",
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
    let script = "trap '' TERM; while :; do sleep 0.02; done";
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
    let script = format!(
        "sh -c 'trap \"echo bye > {m}; exit 0\" TERM; while :; do sleep 0.02; done' & sleep 0.3; exit 0",
        m = marker.display()
    );
    // Ours: the background process gets SIGTERM and runs its trap before the init exits.
    let out = run(&mut Peer::Ours.as_pid1(&[], &["sh", "-c", &script]));
    assert_eq!(code(&out), 0);
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default().trim(),
        "bye"
    );
    // tini exits at once; the kernel SIGKILLs the rest: no trap runs (the peers' known gap).
    let _ = std::fs::remove_file(&marker);
    let out = run(&mut Peer::Tini.as_pid1(&[], &["sh", "-c", &script]));
    assert_eq!(code(&out), 0);
    assert!(!marker.exists(), "tini's background process ran its trap");

    // One that ignores SIGTERM is killed after the grace period, not before.
    let stubborn = "sh -c 'trap \"\" TERM; while :; do sleep 0.02; done' & sleep 0.3; exit 3";
    let started = Instant::now();
    let out = run(&mut Peer::Ours.as_pid1(&["--grace", "1"], &["sh", "-c", stubborn]));
    assert_eq!(code(&out), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "SIGKILL came before the grace period"
    );

    // --no-teardown leaves them to the kernel, as tini does.
    let _ = std::fs::remove_file(&marker);
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
        "trap 'exit 9' TERM; while :; do sleep 0.02; done",
        &TempDir::new("init-hung"),
    );
    signal(&child, "TERM");
    assert_eq!(wait_code(child), 9);
    assert!(started.elapsed() < Duration::from_secs(14));
}
