//! The daemon connection against a real second dockerd: TLS on tcp with generated
//! certificates, a unix socket, and docker contexts pointing at it, resolved the way the docker
//! CLI resolves them. What a user sees: the daemon reached is the second one (its root dir),
//! and a wrong setup gives one error naming the endpoint and how it was chosen, plus a hint.
//! The same second daemon, configured with `init-path`, shows `docker run --init` using our init.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use docker_link::docker::{self, endpoint};
use docker_link::plugin::GlobalOpts;

use crate::support::{self, run, run_ok, TempDir};

/// A second dockerd sharing the host's containerd under its own namespace, listening on a
/// unix socket and on 127.0.0.1 with TLS (client certificates required). Killed and cleaned
/// up on drop.
struct SecondDaemon {
    dir: TempDir,
    child: Child,
    port: u16,
    bridge: String,
}

impl SecondDaemon {
    fn start() -> SecondDaemon {
        SecondDaemon::start_with("{}")
    }

    /// Started with `config` as its daemon.json.
    fn start_with(config: &str) -> SecondDaemon {
        support::require_daemon();
        let dir = TempDir::new("dockerd");
        let d = dir.path();
        make_certs(d);
        std::fs::write(d.join("daemon.json"), config).unwrap();
        let port = free_port();
        let ns = format!("dl-test-{}", std::process::id());
        // A bridge of its own: with `--bridge none` dockerd deletes the host's docker0.
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let bridge = format!("dlbr{}-{n}", std::process::id() % 10_000);
        run_ok(Command::new("sh").arg("-ec").arg(format!(
            "ip link add {bridge} type bridge && ip addr add 192.168.{}.1/24 dev {bridge}",
            200 + n
        )));
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .arg("--host")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--tlsverify")
            .arg("--tlscacert")
            .arg(d.join("ca.pem"))
            .arg("--tlscert")
            .arg(d.join("server-cert.pem"))
            .arg("--tlskey")
            .arg(d.join("server-key.pem"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false"])
            .args(["--containerd", "/var/run/docker/containerd/containerd.sock"])
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}-plugins")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("prerequisite missing: cannot start dockerd: {e}"));
        let daemon = SecondDaemon {
            dir,
            child,
            port,
            bridge,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new("docker")
                .arg("-H")
                .arg(daemon.unix_host())
                .args(["version", "--format", "{{.Server.Version}}"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the second dockerd did not answer within 30s:\n{}",
                std::fs::read_to_string(daemon.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        daemon
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn unix_host(&self) -> String {
        format!("unix://{}", self.path().join("docker.sock").display())
    }

    fn tcp_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// What identifies this daemon: its data root.
    fn root_dir(&self) -> String {
        self.path().join("data").display().to_string()
    }
}

impl Drop for SecondDaemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        // dockerd may leave its data root's mounts behind when killed.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let root = self.path().display().to_string();
            for line in mounts.lines() {
                if let Some(target) = line.split_whitespace().nth(1) {
                    if target.starts_with(&root) {
                        let _ = Command::new("umount").arg("-l").arg(target).status();
                    }
                }
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, with openssl.
fn make_certs(d: &Path) {
    let sh = |script: &str| {
        run_ok(Command::new("sh").arg("-ec").arg(script).current_dir(d));
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 \
          -subj /CN=dl-test-ca 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr \
          -subj /CN=127.0.0.1 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > s.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
          -out server-cert.pem -days 2 -extfile s.cnf 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=client 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\\n' > c.cnf
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
          -out cert.pem -days 2 -extfile c.cnf 2>/dev/null
        mkdir -p other && cd other
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 \
          -subj /CN=someone-else 2>/dev/null");
}

/// Resolves like the CLI with this environment, connects, and returns the daemon's root dir.
fn root_dir_via(
    globals: &GlobalOpts,
    env: &[(&str, String)],
    config: &Path,
) -> Result<String, String> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let ep =
        endpoint::resolve(globals, &|k| env.get(k).cloned(), config).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = docker::connect_endpoint(&ep, None)
            .await
            .map_err(|e| e.to_string())?;
        let info = docker.client().info().await.map_err(|e| e.to_string())?;
        Ok(info.docker_root_dir.unwrap_or_default())
    })
}

/// A docker config dir with a context `ctx` made by the docker CLI itself.
fn config_with_context(daemon: &SecondDaemon, ca: &Path) -> TempDir {
    let config = TempDir::new("config");
    let d = daemon.path();
    let spec = format!(
        "host={},ca={},cert={},key={}",
        daemon.tcp_host(),
        ca.display(),
        d.join("cert.pem").display(),
        d.join("key.pem").display()
    );
    run_ok(
        Command::new("docker")
            .arg("--config")
            .arg(config.path())
            .args(["context", "create", "ctx", "--docker", &spec]),
    );
    config
}

#[test]
fn contexts_tls_and_hosts_reach_the_second_daemon() {
    let daemon = SecondDaemon::start();
    let d = daemon.path().to_path_buf();
    let want = daemon.root_dir();
    let config = config_with_context(&daemon, &d.join("ca.pem"));
    let cfg = config.path();
    let none = GlobalOpts::default();
    let ctx = GlobalOpts {
        context: Some("ctx".into()),
        ..Default::default()
    };

    // --context, DOCKER_CONTEXT, and currentContext (set by `docker context use`).
    assert_eq!(root_dir_via(&ctx, &[], cfg), Ok(want.clone()));
    assert_eq!(
        root_dir_via(&none, &[("DOCKER_CONTEXT", "ctx".into())], cfg),
        Ok(want.clone())
    );
    run_ok(
        Command::new("docker")
            .arg("--config")
            .arg(cfg)
            .args(["context", "use", "ctx"]),
    );
    assert_eq!(root_dir_via(&none, &[], cfg), Ok(want.clone()));
    // DOCKER_HOST beats currentContext.
    assert_eq!(
        root_dir_via(&none, &[("DOCKER_HOST", daemon.unix_host())], cfg),
        Ok(want.clone())
    );

    // -H with --tlsverify and the certificates by flag, and by DOCKER_CERT_PATH.
    let by_flags = GlobalOpts {
        hosts: vec![daemon.tcp_host()],
        tlsverify: true,
        tlscacert: Some(d.join("ca.pem").display().to_string()),
        tlscert: Some(d.join("cert.pem").display().to_string()),
        tlskey: Some(d.join("key.pem").display().to_string()),
        ..Default::default()
    };
    assert_eq!(root_dir_via(&by_flags, &[], cfg), Ok(want.clone()));
    let env = [
        ("DOCKER_HOST", daemon.tcp_host()),
        ("DOCKER_TLS_VERIFY", "1".to_string()),
        ("DOCKER_CERT_PATH", d.display().to_string()),
    ];
    assert_eq!(root_dir_via(&none, &env, cfg), Ok(want.clone()));

    // --tls without verification: a CA the daemon's certificate does not chain to is fine.
    let no_verify = GlobalOpts {
        hosts: vec![daemon.tcp_host()],
        tls: true,
        tlscacert: Some(d.join("other/ca.pem").display().to_string()),
        tlscert: Some(d.join("cert.pem").display().to_string()),
        tlskey: Some(d.join("key.pem").display().to_string()),
        ..Default::default()
    };
    assert_eq!(root_dir_via(&no_verify, &[], cfg), Ok(want.clone()));

    // ... but with verification it is refused, naming the endpoint and the flag that chose it.
    let wrong_ca = GlobalOpts {
        tlsverify: true,
        tls: false,
        ..no_verify.clone()
    };
    let err = root_dir_via(&wrong_ca, &[], cfg).unwrap_err();
    assert!(
        err.contains(&format!(
            "cannot connect to the docker daemon at {}",
            daemon.tcp_host()
        )) && err.contains(&format!("-H {}", daemon.tcp_host()))
            && err.contains("UnknownIssuer"),
        "{err}"
    );
}

#[test]
fn the_binary_follows_the_context_and_reports_an_unreachable_daemon() {
    let daemon = SecondDaemon::start();
    let config = config_with_context(&daemon, &daemon.path().join("ca.pem"));
    let bin = support::bin();

    // A context with the wrong CA: one error line naming the endpoint and the context, a hint,
    // exit 1. A context with the right CA: the daemon check passes.
    let bad = config_with_context(&daemon, &daemon.path().join("other/ca.pem"));
    let out = run(Command::new(&bin).arg("--config").arg(bad.path()).args([
        "--context",
        "ctx",
        "link",
        "doctor",
        "--format",
        "json",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let daemon_line = stdout
        .lines()
        .find(|l| l.contains("\"Check\":\"daemon\""))
        .unwrap_or_else(|| panic!("no daemon check in {stdout}"));
    assert!(
        daemon_line.contains("\"Status\":\"fail\"")
            && daemon_line.contains(&daemon.tcp_host())
            && daemon_line.contains("--context ctx"),
        "{daemon_line}"
    );
    let out = run(Command::new(&bin).arg("--config").arg(config.path()).args([
        "--context",
        "ctx",
        "link",
        "doctor",
        "--format",
        "json",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let daemon_line = stdout
        .lines()
        .find(|l| l.contains("\"Check\":\"daemon\""))
        .unwrap();
    assert!(daemon_line.contains("\"Status\":\"ok\""), "{daemon_line}");

    // Nothing listens: the one-line error of a command that needs the daemon, plus a hint.
    let port = free_port();
    let out = run(Command::new(&bin)
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .args(["link", "doctor"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains(&format!(
            "cannot connect to the docker daemon at tcp://127.0.0.1:{port} (chosen by DOCKER_HOST=tcp://127.0.0.1:{port})"
        )),
        "{stdout}"
    );
}

/// The daemon check's JSON line of `link doctor --format json`, run with the global `args`
/// and with SSL_CERT_* from `ssl_env` only (neither those nor DOCKER_* are inherited).
fn doctor_daemon_line(config: &Path, args: &[String], ssl_env: &[(&str, &Path)]) -> String {
    let mut cmd = Command::new(support::bin());
    cmd.arg("--config").arg(config).args(args);
    cmd.args(["link", "doctor", "--format", "json"]);
    for var in [
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_CERT_PATH",
        "DOCKER_TLS",
        "DOCKER_TLS_VERIFY",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in ssl_env {
        cmd.env(k, v);
    }
    let out = run(&mut cmd);
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find(|l| l.contains("\"Check\":\"daemon\""))
        .unwrap_or_else(|| panic!("no daemon check in {stdout}"))
        .to_string()
}

#[test]
fn tlsverify_without_a_ca_file_uses_the_system_roots() {
    // --tlsverify with a client certificate but no --tlscacert, and no ca.pem in the (empty)
    // config dir: as the docker CLI, the daemon is verified against the system's roots, here
    // a bundle installed only through SSL_CERT_FILE.
    let daemon = SecondDaemon::start();
    let d = daemon.path();
    let config = TempDir::new("config-no-ca");
    let args: Vec<String> = vec![
        "-H".into(),
        daemon.tcp_host(),
        "--tlsverify".into(),
        "--tlscert".into(),
        d.join("cert.pem").display().to_string(),
        "--tlskey".into(),
        d.join("key.pem").display().to_string(),
    ];
    let line = doctor_daemon_line(
        config.path(),
        &args,
        &[("SSL_CERT_FILE", &d.join("ca.pem"))],
    );
    assert!(line.contains("\"Status\":\"ok\""), "{line}");

    // A system bundle that does not hold the daemon's CA: refused.
    let other = d.join("other/ca.pem");
    let line = doctor_daemon_line(config.path(), &args, &[("SSL_CERT_FILE", &other)]);
    assert!(
        line.contains("\"Status\":\"fail\"")
            && line.contains(&daemon.tcp_host())
            && line.contains("UnknownIssuer"),
        "{line}"
    );

    // No bundle at all: the error names what was tried and how to give a CA.
    let missing = d.join("no-such-bundle.pem");
    let line = doctor_daemon_line(config.path(), &args, &[("SSL_CERT_FILE", &missing)]);
    assert!(
        line.contains("\"Status\":\"fail\"")
            && line.contains(&missing.display().to_string())
            && line.contains("--tlscacert"),
        "{line}"
    );
}

#[test]
fn docker_context_ls_reaches_the_daemon_of_that_context() {
    let daemon = SecondDaemon::start();
    let plugin = support::PluginConfig::new();
    let d = daemon.path();
    let spec = format!(
        "host={},ca={},cert={},key={}",
        daemon.tcp_host(),
        d.join("ca.pem").display(),
        d.join("cert.pem").display(),
        d.join("key.pem").display()
    );
    run_ok(
        plugin
            .docker()
            .args(["context", "create", "second", "--docker", &spec]),
    );
    // A container that exists only on the second daemon (created, never started: that daemon
    // has no network of its own to start it on).
    let image = run_ok(
        Command::new("bash")
            .arg(support::repo().join("tests/images/build.sh"))
            .arg("busybox")
            .env("DOCKER_HOST", daemon.unix_host()),
    );
    let name = support::unique("only-there");
    run_ok(Command::new("docker").args([
        "-H",
        &daemon.unix_host(),
        "create",
        "--name",
        &name,
        &image,
    ]));

    let there =
        run_ok(
            plugin
                .docker()
                .args(["--context", "second", "ls", "-a", "--format", "{{.Name}}"]),
        );
    assert_eq!(there, name);
    let here = run_ok(plugin.docker().args(["ls", "-a", "--format", "{{.Name}}"]));
    assert!(
        !here.lines().any(|l| l == name),
        "{name} listed on the main daemon"
    );
}

/// An sshd on 127.0.0.1 that lets root in with a generated key, and an `ssh` wrapper on a
/// private PATH that uses that key (the plugin runs `ssh … docker system dial-stdio` as the
/// docker CLI does; the wrapper only adds the client configuration).
struct Sshd {
    dir: TempDir,
    child: Child,
    port: u16,
}

impl Sshd {
    fn start() -> Sshd {
        let dir = TempDir::new("sshd");
        let d = dir.path();
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "prerequisite missing: /usr/sbin/sshd (Debian package openssh-server)"
        );
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        run_ok(Command::new("sh").arg("-ec").current_dir(d).arg(format!(
            "ssh-keygen -q -t ed25519 -N '' -f host_key
             ssh-keygen -q -t ed25519 -N '' -f id
             cp id.pub authorized_keys
             cat > sshd_config <<EOC
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PidFile {d}/sshd.pid
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
{set_env}
EOC
             cat > ssh_config <<EOC
Host *
  IdentityFile {d}/id
  IdentitiesOnly yes
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  LogLevel ERROR
EOC
             mkdir bin
             printf '#!/bin/sh\\nexec /usr/bin/ssh -F {d}/ssh_config \"$@\"\\n' > bin/ssh
             chmod +x bin/ssh",
            d = d.display(),
            // The remote side's `docker system dial-stdio` reaches the daemon under test
            // (CI runs the suite against a second engine through DOCKER_HOST).
            set_env = std::env::var("DOCKER_HOST")
                .map(|h| format!("SetEnv DOCKER_HOST={h}"))
                .unwrap_or_default()
        )));
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { dir, child, port }
    }

    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ssh_hosts_go_through_docker_system_dial_stdio() {
    let sshd = Sshd::start();
    let c = support::Container::run("over-ssh", &[support::images::busybox(), "sleep", "300"]);
    let host = format!("ssh://root@127.0.0.1:{}", sshd.port);
    let out = run(Command::new(support::bin())
        .env("PATH", sshd.path_env())
        .args(["-H", &host, "ls", "--format", "{{.Name}}"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == c.name),
        "{c:?} not listed over {host}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn init_path_makes_docker_run_init_use_ours() {
    // dockerd bind-mounts its `init-path` as /sbin/docker-init and runs `docker-init -- CMD`:
    // called by that name, our binary speaks tini's command line.
    let ours = support::static_bin();
    let config = serde_json::json!({ "init-path": ours }).to_string();
    let daemon = SecondDaemon::start_with(&config);
    let host = daemon.unix_host();
    let image = run_ok(
        Command::new("bash")
            .arg(support::repo().join("tests/images/build.sh"))
            .arg("busybox")
            .env("DOCKER_HOST", &host),
    );
    let docker_run = |script: &str| {
        run(Command::new("docker").args([
            "-H",
            &host,
            "run",
            "--rm",
            "--init",
            "--network",
            "none",
            &image,
            "sh",
            "-c",
            script,
        ]))
    };
    let out = docker_run("md5sum /sbin/docker-init; tr '\\0' ' ' < /proc/1/cmdline; exit 3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = run_ok(Command::new("md5sum").arg(ours));
    let want = want.split_whitespace().next().unwrap();
    assert!(
        text.starts_with(want),
        "/sbin/docker-init is not ours: {text}"
    );
    assert!(text.contains("/sbin/docker-init -- sh -c"), "{text}");
    // Orphans are reaped by it: a background child's child left behind is gone.
    let out = docker_run("(sleep 0.2 &) ; sleep 0.5; ps -o stat,comm | grep -c '^Z' || true");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}
