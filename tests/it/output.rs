//! The printer against the docker CLI itself: the same records, printed by `docker ps
//! --format X` and by our printer with the same X, must be byte for byte the same (tables
//! aligned as Go's tabwriter aligns them, templates run as Go's text/template runs them).

use std::process::Command;

use docker_link::output::{self, Column, Format, Record};

use crate::support::{self, images, Container};

/// A `docker ps` row as docker's JSON prints it.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct Row(serde_json::Value);

impl Record for Row {
    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            Column::new("ID", "CONTAINER ID"),
            Column::new("Image", "IMAGE"),
            Column::new("Names", "NAMES"),
        ];
        C
    }
}

fn docker_ps(label: &str, format: &str) -> String {
    let out = support::run(Command::new("docker").args([
        "ps",
        "-a",
        "--filter",
        &format!("label={label}"),
        "--format",
        format,
    ]));
    assert!(
        out.status.success(),
        "docker ps --format {format:?}: {out:?}"
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ours(rows: &[Row], format: &str) -> String {
    let format: Format = format.parse().unwrap_or_else(|e| panic!("{format:?}: {e}"));
    let mut out = Vec::new();
    output::render(&format, rows, &mut out).unwrap_or_else(|e| panic!("{format:?}: {e}"));
    String::from_utf8(out).unwrap()
}

#[test]
fn templates_and_tables_print_as_docker_prints_them() {
    support::require_daemon();
    let label = support::unique("output");
    let mark = format!("{label}=1");
    let _a = Container::run(
        "out-a",
        &[
            "--label",
            &mark,
            "--label",
            "tier=back",
            images::busybox(),
            "sleep",
            "300",
        ],
    );
    let _b = Container::run(
        "out-b-with-a-much-longer-name",
        &["--label", &mark, images::busybox(), "true"],
    );

    let rows = || -> Vec<Row> {
        docker_ps(&label, "json")
            .lines()
            .map(|l| Row(serde_json::from_str(l).unwrap()))
            .collect()
    };
    assert_eq!(rows().len(), 2, "the two containers");

    let formats = [
        // Not `{{json .}}`: with it docker also asks the daemon for sizes.
        "json",
        "{{.Names}}",
        "{{.Names}}\\t{{.Image}}",
        "table {{.Names}}\\t{{.Image}}\\t{{.Command}}",
        "table {{.Image}}\\t{{.Names}}",
        "table {{.Names}}",
        "{{.Names}} {{upper .State}} {{lower .Image}} {{title .State}}",
        "{{truncate .ID 5}}|{{pad .State 2 3}}|{{len .Names}}",
        "{{split .Labels \",\"}}",
        "{{join (split .Labels \",\") \";\"}}",
        "{{json .Labels}} {{json .Names}}",
        "{{if eq .State \"running\"}}up{{else}}down{{end}}",
        "{{range split .Labels \",\"}}<{{.}}>{{end}}",
        "{{printf \"%-40s|%8s|\" .Names .State}}",
        "{{.Names | upper}}",
        "{{.Names}}{{println}}",
        "{{with .Labels}}labelled{{end}}",
        "  {{.State}}  ",
        "table {{.ID}}\\t{{.Names}}\\t{{.Labels}}",
        "table {{upper .Names}}\\t{{json .Labels}}\\t",
        "table {{.Names}}\\n{{.State}}",
        "{{.Names}}\\t{{.Status}}\\t{{.Mounts}}|",
        "{{index (split .Labels \",\") 0}} {{printf \"%q\" .Names}}",
        "{{.Names}}\\n",
        "x {{- .Names -}} y {{/* c */}}{{.State}}",
        "{{lt 1 2}} {{or .Mounts .State}} {{not .Mounts}} {{print .State 1 2}}",
    ];
    for format in formats {
        // Times in the rows move ("1 second ago"): compare against a docker output printed
        // while the rows stood still, or, on a loaded daemon where they never do, against the
        // rows read just before or just after it (docker printed one of the two).
        let mut tries = 0;
        let (before, after, theirs) = loop {
            let before = rows();
            let theirs = docker_ps(&label, format);
            let after = rows();
            if before.iter().map(|r| &r.0).eq(after.iter().map(|r| &r.0)) || tries == 10 {
                break (before, after, theirs);
            }
            tries += 1;
        };
        if ours(&after, format) != theirs {
            assert_eq!(ours(&before, format), theirs, "--format {format:?}");
        }
    }
}
