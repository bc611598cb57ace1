//! The committed `completions/` and `man/` are exactly what `docker-link generate` writes from
//! today's clap tree, and the bash script they hold completes. Needs nothing but bash.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::{self, TempDir};

const STALE: &str = "completions/ or man/ are stale: run `cargo run -- generate --out .`";

fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())))
        .filter(|e| e.path().is_file())
        .map(|e| {
            let content = std::fs::read(e.path())
                .unwrap_or_else(|err| panic!("cannot read {}: {err}", e.path().display()));
            (e.file_name().to_string_lossy().into_owned(), content)
        })
        .collect()
}

#[test]
fn completions_and_man_pages_are_fresh() {
    let tmp = TempDir::new("generated");
    let out = support::run(
        Command::new(support::bin())
            .args(["generate", "--out"])
            .arg(tmp.path()),
    );
    assert!(
        out.status.success(),
        "docker-link generate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut problems = Vec::new();
    for dir in ["completions", "man"] {
        let want = read_dir(&tmp.path().join(dir));
        let have = read_dir(&support::repo().join(dir));
        assert!(!want.is_empty(), "generate wrote nothing into {dir}/");
        for (name, content) in &want {
            match have.get(name) {
                None => problems.push(format!("{dir}/{name} is missing")),
                Some(c) if c != content => problems.push(format!("{dir}/{name} differs")),
                Some(_) => {}
            }
        }
        for name in have.keys().filter(|n| !want.contains_key(*n)) {
            problems.push(format!("{dir}/{name} is no longer generated"));
        }
    }
    assert!(problems.is_empty(), "{STALE} ({})", problems.join(", "));
}

/// Runs the committed bash completion for `words` (the last is the word being completed).
fn bash_complete(words: &[&str]) -> Vec<String> {
    let script = support::repo().join("completions/docker-link.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let n = words.len();
    let program = format!(
        "source '{}' || exit 1\n\
         COMP_WORDS=({})\nCOMP_CWORD={}\n\
         _docker__link docker-link '{}' '{}'\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        n - 1,
        words[n - 1],
        words[n - 2],
    );
    let out = support::run_ok(Command::new("bash").arg("-c").arg(program));
    out.lines().map(str::to_string).collect()
}

#[test]
fn bash_completion_completes_subcommands_and_their_flags() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["docker-link", ""],
            &["install", "rm", "ls", "net", "proxy", "init"],
        ),
        (&["docker-link", "ls", "--"], &["--all", "--format"]),
        (&["docker-link", "net", "up", "--f"], &["--file"]),
        (&["docker-link", "install", "--"], &["--dir"]),
    ];
    for (words, want) in cases {
        let got = bash_complete(words);
        for w in *want {
            assert!(got.iter().any(|g| g == w), "{words:?}: {w} not in {got:?}");
        }
    }
}
