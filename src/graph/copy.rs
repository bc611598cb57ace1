//! The graph's second copy, in a named volume that `docker container prune`, `docker system
//! prune` (without `--volumes`) and `docker network prune` leave alone. The registry
//! container's own process writes it: started with `__idle --copy /graph/graph-<N>`, it writes
//! its `DOCKER_LINK_GRAPH` variable there atomically (temporary file, fsync, rename), keeps the
//! newest few files, and waits to be stopped. Only a committed generation runs, so only
//! committed graphs reach the copy.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The registry container's command.
pub const IDLE_ARG: &str = "__idle";
/// The variable that carries the encoded graph into the registry's process.
pub const GRAPH_ENV: &str = "DOCKER_LINK_GRAPH";
/// Where the copy volume is mounted in the registry container.
pub const COPY_DIR: &str = "/graph";
/// How many generations' files the volume keeps.
const KEEP: u64 = 4;

/// `graph-<N>` → N.
pub fn generation_of(file: &str) -> Option<u64> {
    file.strip_prefix("graph-")?.parse().ok()
}

pub fn file_name(generation: u64) -> String {
    format!("graph-{generation}")
}

/// Writes `contents` to `path` so that a reader sees the old file or the new one, never a
/// part; then removes the files of generations older than the newest [`KEEP`].
pub fn write_copy(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    if let Some(mine) = generation_of(name) {
        for entry in std::fs::read_dir(dir)?.flatten() {
            let other = entry.file_name();
            let old = other
                .to_str()
                .and_then(generation_of)
                .is_some_and(|g| g + KEEP <= mine);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The newest graph in a tar of the copy directory (as `GET /containers/{id}/archive` gives
/// it): `(generation, encoded graph)`.
pub fn newest_in_tar(tar: &[u8]) -> Option<(u64, String)> {
    let mut archive = tar::Archive::new(tar);
    let mut best: Option<(u64, String)> = None;
    for entry in archive.entries().ok()?.flatten() {
        let mut entry = entry;
        let Some(g) = entry.path().ok().and_then(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(generation_of)
        }) else {
            continue;
        };
        if best.as_ref().is_some_and(|(b, _)| *b >= g) {
            continue;
        }
        let mut text = String::new();
        if std::io::Read::read_to_string(&mut entry, &mut text).is_ok() && !text.is_empty() {
            best = Some((g, text));
        }
    }
    best
}

/// The registry container's process: `__idle [--copy PATH]`. Never fails for the copy (the
/// registry's labels are the graph; the copy is the fallback): it says why on stderr, which
/// `docker logs` shows, and stays up until stopped.
pub fn idle_main(args: &[std::ffi::OsString]) -> std::process::ExitCode {
    let copy = args
        .iter()
        .skip_while(|a| *a != "--copy")
        .nth(1)
        .map(PathBuf::from);
    if let (Some(path), Some(graph)) = (copy, std::env::var_os(GRAPH_ENV)) {
        if let Err(e) = write_copy(&path, &graph.to_string_lossy()) {
            crate::output::warn(&format!("writing the graph's copy {}: {e}", path.display()));
        }
    }
    crate::sys::idle()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_files() {
        let dir = std::env::temp_dir().join(format!("dl-copy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for g in 1..=7 {
            write_copy(&dir.join(file_name(g)), &format!("g{g}")).unwrap();
        }
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["graph-4", "graph-5", "graph-6", "graph-7"]);
        let files: Vec<(String, Vec<u8>)> = left
            .iter()
            .map(|n| (format!("graph/{n}"), std::fs::read(dir.join(n)).unwrap()))
            .collect();
        let refs: Vec<(&str, u32, &[u8])> = files
            .iter()
            .map(|(n, d)| (n.as_str(), 0o644, d.as_slice()))
            .collect();
        let tar = crate::docker::self_image::tar_of(&refs);
        assert_eq!(newest_in_tar(&tar), Some((7, "g7".to_string())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names() {
        assert_eq!(generation_of("graph-12"), Some(12));
        assert_eq!(generation_of(".graph-12.tmp"), None);
        assert_eq!(generation_of("graph-x"), None);
        assert_eq!(file_name(3), "graph-3");
    }
}
