//! The binary as a user runs it, without a daemon: the metadata probe, help, argv shapes.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docker-link"))
}

#[test]
fn metadata_probe_answers_json() {
    let out = bin().arg("docker-cli-plugin-metadata").output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["SchemaVersion"], "0.1.0");
    assert_eq!(v["Vendor"], "docker-link");
}
