//! The release artefacts as a user gets them: the static binary (scripts/build-static), the
//! .deb, the .rpm, the release tarball with its install script, and the Homebrew formula.
//! Slow: the release build uses fat LTO; it is made once per test run and shared.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::{self, TempDir};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const PLUGIN_DIR: &str = "usr/libexec/docker/cli-plugins";
const LINKS: [&str; 4] = ["docker-ls", "docker-proxy", "docker-net", "docker-init"];

/// The release binary, built once with scripts/build-static.
fn release_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = support::run(
            Command::new("bash")
                .arg(support::repo().join("scripts/build-static"))
                .current_dir(support::repo()),
        );
        assert!(
            out.status.success(),
            "scripts/build-static failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        assert!(path.is_file(), "scripts/build-static printed {path:?}");
        let size = std::fs::metadata(&path).unwrap().len();
        println!("release binary: {} ({size} bytes)", path.display());
        path
    })
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn ok(cmd: &mut Command) -> String {
    support::run_ok(cmd)
}

/// Runs a packaging script with the release binary into `out`; returns the path it prints.
fn package(script: &str, out: &Path) -> PathBuf {
    let path = ok(Command::new("bash")
        .arg(support::repo().join(script))
        .arg("--bin")
        .arg(release_bin())
        .arg("--out")
        .arg(out));
    let path = PathBuf::from(path.lines().last().unwrap_or_default());
    assert!(path.is_file(), "{script} printed {path:?}");
    path
}

/// The man pages the package must carry: one per page the repository commits.
fn man_pages() -> BTreeSet<String> {
    let pages: BTreeSet<String> = std::fs::read_dir(support::repo().join("man"))
        .expect("man/ is committed")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".1"))
        .collect();
    assert!(pages.contains("docker-link.1"), "{pages:?}");
    pages
}

#[test]
fn release_binary_is_static_and_runs_in_an_empty_container() {
    let bin = release_bin();
    let ldd = support::run(Command::new("ldd").arg(bin));
    let said = format!("{}{}", text(&ldd), String::from_utf8_lossy(&ldd.stderr));
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "ldd {bin:?}: {said}"
    );
    let file = ok(Command::new("file").arg("-L").arg(bin));
    assert!(file.contains("static"), "{file}");

    // The same file is the init and watcher of containers: an image holding only it runs.
    support::require_daemon();
    let root = TempDir::new("static-root");
    std::fs::copy(bin, root.path().join("docker-link")).unwrap();
    let tar = root.path().join("rootfs.tar");
    ok(Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(root.path())
        .arg("docker-link"));
    let tag = format!("{}:latest", support::unique("scratch"));
    let image = Image(tag.clone());
    support::docker_ok(&[
        "import",
        "-c",
        &format!("LABEL {}", support::TEST_LABEL),
        tar.to_str().unwrap(),
        &image.0,
    ]);
    let out = support::docker_ok(&[
        "run",
        "--rm",
        "--label",
        support::TEST_LABEL,
        "--network",
        "none",
        &image.0,
        "/docker-link",
        "docker-cli-plugin-metadata",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Vendor"], "docker-link");
    assert_eq!(v["Version"], VERSION);
}

/// An image removed when the guard drops.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// One entry of `dpkg-deb -c` (keyed by its path without the leading `./`).
#[derive(Debug)]
struct DebEntry {
    mode: String,
    owner: String,
    link: Option<String>,
}

fn deb_contents(deb: &Path) -> std::collections::BTreeMap<String, DebEntry> {
    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(deb));
    listing
        .lines()
        .map(|line| {
            // drwxr-xr-x root/root 0 2026-11-23 00:16 ./usr/ [-> target]
            let fields: Vec<&str> = line.split_whitespace().collect();
            let rest = line
                .split_whitespace()
                .skip(5)
                .collect::<Vec<_>>()
                .join(" ");
            let (path, link) = match rest.split_once(" -> ") {
                Some((p, l)) => (p.to_string(), Some(l.to_string())),
                None => (rest, None),
            };
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            (
                path,
                DebEntry {
                    mode: fields[0].to_string(),
                    owner: fields[1].to_string(),
                    link,
                },
            )
        })
        .collect()
}

#[test]
fn deb_holds_the_plugin_links_completions_and_man_pages() {
    let out = TempDir::new("deb");
    let deb = package("packaging/deb/build.sh", out.path());
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("docker-link_{VERSION}_amd64.deb")
    );
    let field = |f: &str| ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(f));
    assert_eq!(field("Package"), "docker-link");
    assert_eq!(field("Version"), VERSION);
    assert_eq!(field("Architecture"), "amd64");

    let files = deb_contents(&deb);
    for (path, e) in &files {
        assert_eq!(e.owner, "root/root", "{path}");
    }
    let bin = &files[&format!("{PLUGIN_DIR}/docker-link")];
    assert_eq!(bin.mode, "-rwxr-xr-x");
    for l in LINKS {
        let e = files
            .get(&format!("{PLUGIN_DIR}/{l}"))
            .unwrap_or_else(|| panic!("no {l} in the .deb: {files:#?}"));
        assert!(e.mode.starts_with('l'), "{l}: {e:?}");
        assert_eq!(e.link.as_deref(), Some("docker-link"), "{l}");
    }
    for c in [
        "usr/share/bash-completion/completions/docker-link",
        "usr/share/zsh/vendor-completions/_docker-link",
        "usr/share/fish/vendor_completions.d/docker-link.fish",
    ] {
        assert_eq!(
            files.get(c).map(|e| e.mode.as_str()),
            Some("-rw-r--r--"),
            "{c}"
        );
    }
    let packaged_man: BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.strip_prefix("usr/share/man/man1/"))
        .map(|p| p.to_string())
        .collect();
    let want: BTreeSet<String> = man_pages().iter().map(|p| format!("{p}.gz")).collect();
    assert_eq!(packaged_man, want);

    // docker-init and docker-proxy nowhere but in the plugin directory (dockerd looks for its
    // own helpers under those names).
    for path in files.keys() {
        let name = path.rsplit('/').next().unwrap();
        if name == "docker-init" || name == "docker-proxy" {
            assert!(path.starts_with(PLUGIN_DIR), "{path}");
        }
    }

    // Unpacked, the plugin directory works with the real CLI.
    support::require_daemon();
    let root = TempDir::new("deb-root");
    ok(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path()));
    let man = root.path().join("usr/share/man/man1/docker-link.1.gz");
    let page = ok(Command::new("gzip").arg("-dc").arg(&man));
    assert!(page.contains(".TH docker-link 1"), "{page}");
    let cfg = TempDir::new("deb-config");
    std::fs::write(
        cfg.path().join("config.json"),
        format!(
            r#"{{"cliPluginsExtraDirs":["{}"]}}"#,
            root.path().join(PLUGIN_DIR).display()
        ),
    )
    .unwrap();
    let help = ok(Command::new("docker")
        .arg("--help")
        .env("DOCKER_CONFIG", cfg.path()));
    for name in ["link", "ls", "proxy", "net", "init"] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{name}* "))),
            "docker --help does not list {name}:\n{help}"
        );
    }
}

#[test]
fn rpm_holds_the_same_files() {
    let out = TempDir::new("rpm");
    let rpm = package("packaging/rpm/build.sh", out.path());
    assert_eq!(
        rpm.file_name().unwrap().to_string_lossy(),
        format!("docker-link-{VERSION}-1.x86_64.rpm")
    );
    let listing = ok(Command::new("rpm")
        .args([
            "-qp",
            "--qf",
            "[%{FILENAMES}\t%{FILEMODES:perms}\t%{FILELINKTOS}\n]",
        ])
        .arg(&rpm));
    let files: std::collections::BTreeMap<&str, (&str, &str)> = listing
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            let path = f.next().unwrap();
            (path, (f.next().unwrap_or(""), f.next().unwrap_or("")))
        })
        .collect();
    let plugins = format!("/{PLUGIN_DIR}");
    assert_eq!(
        files
            .get(format!("{plugins}/docker-link").as_str())
            .map(|e| e.0),
        Some("-rwxr-xr-x")
    );
    for l in LINKS {
        let e = files
            .get(format!("{plugins}/{l}").as_str())
            .unwrap_or_else(|| panic!("no {l} in the .rpm:\n{listing}"));
        assert_eq!(*e, ("lrwxrwxrwx", "docker-link"), "{l}");
    }
    for c in [
        "/usr/share/bash-completion/completions/docker-link",
        "/usr/share/zsh/site-functions/_docker-link",
        "/usr/share/fish/vendor_completions.d/docker-link.fish",
    ] {
        assert!(files.contains_key(c), "no {c}:\n{listing}");
    }
    for page in man_pages() {
        let p = format!("/usr/share/man/man1/{page}.gz");
        assert!(files.contains_key(p.as_str()), "no {p}:\n{listing}");
    }
    // A static binary: the package needs no library.
    let requires = ok(Command::new("rpm").arg("-qpR").arg(&rpm));
    assert!(
        requires.lines().all(|r| r.starts_with("rpmlib(")),
        "{requires}"
    );
}

#[test]
fn tarball_installs_with_its_script_and_feeds_the_formula() {
    support::require_daemon();
    let out = TempDir::new("tarball");
    let tarball = package("packaging/tarball.sh", out.path());
    let name = format!("docker-link-{VERSION}-linux-amd64");
    assert_eq!(
        tarball.file_name().unwrap().to_string_lossy(),
        format!("{name}.tar.gz")
    );
    let listing: BTreeSet<String> = ok(Command::new("tar").arg("-tzf").arg(&tarball))
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    for f in [
        "docker-link",
        "install.sh",
        "completions/docker-link.bash",
        "completions/_docker-link",
        "completions/docker-link.fish",
        "man/docker-link.1",
    ] {
        assert!(
            listing.contains(&format!("{name}/{f}")),
            "no {f}: {listing:?}"
        );
    }

    // install.sh, given the tarball, installs the plugin through the binary's own install.
    let home = TempDir::new("tarball-home");
    let config = home.path().join("docker-config");
    let run_install = |extra: &[&str]| {
        support::run(
            Command::new("sh")
                .arg(support::repo().join("packaging/install.sh"))
                .args(extra)
                .arg(&tarball)
                .env("HOME", home.path())
                .env("DOCKER_CONFIG", &config)
                .env_remove("XDG_DATA_HOME")
                .env_remove("XDG_CONFIG_HOME")
                .env("NO_COLOR", "1"),
        )
    };
    let res = run_install(&[]);
    let err = String::from_utf8_lossy(&res.stderr).into_owned();
    assert!(res.status.success(), "install.sh failed: {err}");
    let sha = std::fs::read_to_string(format!("{}.sha256", tarball.display())).unwrap();
    let sha = sha.split_whitespace().next().unwrap().to_string();
    let plugins = config.join("cli-plugins");
    for line in [
        format!("verified {} (sha256 {sha})", tarball.display()),
        format!("installed {}/docker-link ({VERSION})", plugins.display()),
        "linked docker-init -> docker-link".to_string(),
        format!(
            "installed {}/.local/share/bash-completion/completions/docker-link",
            home.path().display()
        ),
    ] {
        assert!(err.lines().any(|l| l == line), "no {line:?} in:\n{err}");
    }
    assert_eq!(
        std::fs::read(plugins.join("docker-link")).unwrap(),
        std::fs::read(release_bin()).unwrap()
    );
    assert!(home
        .path()
        .join(".local/share/man/man1/docker-link.1")
        .is_file());
    let help = ok(Command::new("docker")
        .arg("--help")
        .env("DOCKER_CONFIG", &config));
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("ls* ")),
        "{help}"
    );

    // A tarball that does not match its checksum is refused before anything runs.
    std::fs::write(
        format!("{}.sha256", tarball.display()),
        format!("{}  {name}.tar.gz\n", "0".repeat(64)),
    )
    .unwrap();
    let res = run_install(&["--no-extras"]);
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains(&format!(
            "error: {} does not match {}.sha256",
            tarball.display(),
            tarball.display()
        )),
        "{err}"
    );

    // The Homebrew formula rendered beside it points at this tarball.
    let formula = std::fs::read_to_string(out.path().join("docker-link.rb")).unwrap();
    for want in [
        format!("sha256 \"{sha}\""),
        format!("version \"{VERSION}\""),
        format!("/v{VERSION}/{name}.tar.gz\""),
        "lib/\"docker/cli-plugins\"".to_string(),
        "cliPluginsExtraDirs".to_string(),
    ] {
        assert!(
            formula.contains(&want),
            "formula lacks {want:?}:\n{formula}"
        );
    }
    assert!(!formula.contains('@'), "unrendered placeholder:\n{formula}");
}
