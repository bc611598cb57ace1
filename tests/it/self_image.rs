//! Images imported through the API without a registry: the plugin's own static binary (run
//! for real inside a container) and the empty image.

use std::process::Command;

use docker_link::docker::self_image::{self, StaticBinary};
use docker_link::plugin::GlobalOpts;

use crate::support::{self, docker, docker_ok, run_ok, unique, TempDir};

/// Removes a test image on drop.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn own_binary_is_imported_once_and_runs_in_a_container() {
    let bin = StaticBinary::load(support::static_bin()).expect("the static binary");
    let image = Image(format!("{}:1", unique("self")));
    let rt = runtime();
    let docker_api = rt
        .block_on(docker_link::docker::connect(
            &GlobalOpts::default(),
            &docker_link::Config::default(),
        ))
        .unwrap();

    rt.block_on(self_image::ensure_image_of(&docker_api, &bin, &image.0))
        .unwrap();
    let first = docker_ok(&["image", "inspect", "-f", "{{.Id}}", &image.0]);
    let label = docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{index .Config.Labels \"docker-link.binary-sha256\"}}",
        &image.0,
    ]);
    assert_eq!(label, bin.sha256);

    // Unchanged binary: nothing is imported again.
    rt.block_on(self_image::ensure_image_of(&docker_api, &bin, &image.0))
        .unwrap();
    assert_eq!(
        docker_ok(&["image", "inspect", "-f", "{{.Id}}", &image.0]),
        first
    );

    // The binary answers inside a container with nothing else in it.
    let out = docker_ok(&[
        "run",
        "--rm",
        "--label",
        support::TEST_LABEL,
        &image.0,
        "docker-cli-plugin-metadata",
    ]);
    let meta: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(meta["Vendor"], "docker-link");

    // A changed binary (a byte appended: still a valid executable) is imported again.
    let dir = TempDir::new("changed");
    let changed = dir.path().join("docker-link");
    std::fs::copy(&bin.path, &changed).unwrap();
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!("printf x >> {}", changed.display())),
    );
    let changed = StaticBinary::load(&changed).unwrap();
    assert_ne!(changed.sha256, bin.sha256);
    // Eight commands that need it at once: one imports, the others wait for its image.
    let all = (0..8).map(|_| self_image::ensure_image_of(&docker_api, &changed, &image.0));
    for r in rt.block_on(futures_util::future::join_all(all)) {
        r.unwrap();
    }
    assert_ne!(
        docker_ok(&["image", "inspect", "-f", "{{.Id}}", &image.0]),
        first
    );
    let images = docker_ok(&[
        "images",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=docker-link.binary-sha256={}", changed.sha256),
    ]);
    let images: std::collections::BTreeSet<&str> = images.lines().collect();
    assert_eq!(images.len(), 1, "imported more than once: {images:?}");
    // No lock is left behind.
    let locks = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        "label=docker-link.role=import-lock",
        "--filter",
        &format!("name={}", changed.sha256.get(..12).unwrap()),
    ]);
    assert_eq!(locks, "");
}

#[test]
fn a_dynamic_binary_is_refused_with_a_hint() {
    let err = StaticBinary::load(&support::bin()).unwrap_err();
    assert!(err.to_string().contains("is dynamically linked"), "{err}");
    assert!(err.hint().unwrap().contains("scripts/build-static"));
}

#[test]
fn the_empty_image_creates_containers_that_never_run() {
    let rt = runtime();
    let docker_api = rt
        .block_on(docker_link::docker::connect(
            &GlobalOpts::default(),
            &docker_link::Config::default(),
        ))
        .unwrap();
    let image = rt
        .block_on(self_image::ensure_empty_image(docker_api.client()))
        .unwrap();
    assert_eq!(image, self_image::EMPTY_IMAGE);
    let size = docker_ok(&["image", "inspect", "-f", "{{.Size}}", &image]);
    assert_eq!(size, "0", "the empty image holds no files");
    let name = unique("empty");
    let created = docker(&[
        "create",
        "--name",
        &name,
        "--label",
        support::TEST_LABEL,
        &image,
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    docker_ok(&["rm", &name]);
}
