//! `docker ls` against the real daemon, through the docker CLI and run directly: what a user
//! sees for running and stopped containers, filters, formats, and an unreachable daemon.

use std::process::Command;

use crate::support::{self, images, run, run_ok, Container, PluginConfig};

fn ls(args: &[&str]) -> String {
    run_ok(Command::new(support::bin()).arg("ls").args(args))
}

#[test]
fn lists_names_through_the_cli_and_directly() {
    let running = Container::run("ls-up", &[images::busybox(), "sleep", "3600"]);
    let stopped = Container::run("ls-down", &[images::busybox(), "true"]);
    run_ok(Command::new("docker").args(["wait", &stopped.id]));
    let short = |c: &Container| c.id[..12].to_string();

    let plugin = PluginConfig::new();
    let through_cli = run_ok(plugin.docker().args(["ls"]));
    let header = through_cli.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("CONTAINER") && header.contains("IMAGE"),
        "{through_cli}"
    );
    let line = through_cli
        .lines()
        .find(|l| l.starts_with(&running.name))
        .unwrap_or_else(|| panic!("{} missing from\n{through_cli}", running.name));
    assert!(
        line.contains(&short(&running)) && line.contains(images::busybox()),
        "{line}"
    );
    assert!(
        !through_cli.contains(&stopped.name),
        "stopped listed without -a"
    );

    // Run directly, the same listing (other tests come and go: compare this test's lines);
    // -a adds the stopped container.
    let ours = |listing: &str| -> Vec<String> {
        listing
            .lines()
            .filter(|l| l.starts_with("NAME") || l.starts_with(&running.name))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(ours(&ls(&[])), ours(&through_cli));
    let all = ls(&["-a"]);
    assert!(all.contains(&stopped.name) && all.contains(&running.name));

    // -q, filters, json and templates.
    let name_filter = format!("name={}", running.name);
    assert_eq!(ls(&["-q", "--filter", &name_filter]), short(&running));
    assert_eq!(
        ls(&[
            "-a",
            "--filter",
            "status=exited",
            "--filter",
            &format!("name={}", stopped.name),
            "--format",
            "{{.Name}}"
        ]),
        stopped.name
    );
    let json = ls(&["--format", "json", "--filter", &name_filter]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for field in ["Name", "ID", "Image", "Parent", "Alias", "State"] {
        assert!(v.get(field).is_some(), "json lacks {field}: {json}");
    }
    assert_eq!(v["State"], "running");
    assert_eq!(v["Parent"], "");

    // A bad filter or template is a usage error.
    let out = run(Command::new(support::bin()).args(["ls", "--filter", "color=red"]));
    assert_eq!(out.status.code(), Some(125), "docker's usage exit code");
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid filter \"color\""));
    let out = run(Command::new(support::bin()).args(["ls", "--format", "{{.Nope}}"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field \"Nope\""));
}

#[test]
fn an_unreachable_daemon_is_one_error_and_a_hint() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let out = run(Command::new(support::bin()).args(["-H", &host, "ls"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "error: cannot connect to the docker daemon at {host} (chosen by -H {host})"
        )),
        "{stderr}"
    );
    assert!(lines[1].starts_with("hint: "), "{stderr}");
    assert!(out.stdout.is_empty());
}
