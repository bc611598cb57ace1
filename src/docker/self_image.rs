//! Images made without a registry, through the API's import (`POST /images/create?fromSrc=-`):
//! the plugin's own static binary as `docker-link:<version>` (the registry, the watcher and
//! injected inits run it), and an empty image for containers that are never started.
//!
//! Import is idempotent: the image carries the sha256 of the binary in a label and is imported
//! again only when the binary changed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures_util::TryStreamExt;
use hyper::body::Bytes;
use sha2::{Digest, Sha256};

use crate::docker::engine::{ContainerSpec, Engine as _, Labels};
use crate::docker::Daemon;

pub const SELF_REPO: &str = "docker-link";
pub const EMPTY_IMAGE: &str = "docker-link-empty:1";
pub const HASH_LABEL: &str = crate::labels::BINARY_SHA256;
/// Where the binary sits inside the self image.
pub const BINARY_PATH: &str = "/docker-link";

/// Errors of the self image; callers branch on `NotStatic` to explain how to get a static build.
#[derive(Debug, thiserror::Error)]
pub enum SelfImageError {
    #[error("{path} is dynamically linked: containers need the static docker-link")]
    NotStatic { path: String },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("importing {image}: {source}")]
    Import {
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl SelfImageError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SelfImageError::NotStatic { .. } => Some(
                "install a static build (`scripts/build-static`, then `docker-link install`), \
                 or point DOCKER_LINK_STATIC_BIN at one"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// The tag of the self image of this version.
pub fn self_image_tag() -> String {
    format!("{SELF_REPO}:{}", crate::plugin::VERSION)
}

/// True when an ELF file has no program interpreter (PT_INTERP): it runs in an empty rootfs.
pub fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        // Only 64-bit little-endian ELF is built by this project.
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap_or_default()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let Some(ty) = bytes.get(at..at + 4) else {
            return false;
        };
        if u32::from_le_bytes(ty.try_into().unwrap_or_default()) == PT_INTERP {
            return false;
        }
    }
    true
}

fn read(path: &Path) -> Result<Vec<u8>, SelfImageError> {
    let mut f = std::fs::File::open(path).map_err(|e| SelfImageError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(|e| SelfImageError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(buf)
}

/// The start of a file, enough for the ELF header and program headers of our builds.
fn read_head(path: &Path) -> Result<Vec<u8>, SelfImageError> {
    let f = std::fs::File::open(path).map_err(|e| SelfImageError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut buf = Vec::new();
    f.take(64 * 1024)
        .read_to_end(&mut buf)
        .map_err(|e| SelfImageError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(buf)
}

/// A static docker-link executable: where it is and the sha256 of its bytes. The bytes are
/// read again when an image or a volume needs them: a long-running watcher that held its own
/// binary (several MB) would pay for it in memory all its life.
#[derive(Debug)]
pub struct StaticBinary {
    /// As the user knows it, for messages.
    pub path: PathBuf,
    /// Where the bytes are read from: `/proc/self/exe` for this executable, so a binary
    /// replaced on disk meanwhile (an upgrade) still reads as the one that runs.
    source: PathBuf,
    pub sha256: String,
}

impl StaticBinary {
    /// Reads and hashes `path`; fails when it is not a static executable.
    pub fn load(path: &Path) -> Result<StaticBinary, SelfImageError> {
        StaticBinary::load_from(path, path)
    }

    fn load_from(path: &Path, source: &Path) -> Result<StaticBinary, SelfImageError> {
        // The headers first: a dynamic executable (a debug build is 250 MB) is refused
        // without being read whole.
        if !is_static_elf(&read_head(source)?) {
            return Err(SelfImageError::NotStatic {
                path: path.display().to_string(),
            });
        }
        let bytes = read(source)?;
        Ok(StaticBinary {
            path: path.to_path_buf(),
            source: source.to_path_buf(),
            sha256: hex(&Sha256::digest(&bytes)),
        })
    }

    /// A binary of that hash, for tests of what is named after it.
    #[cfg(test)]
    pub(crate) fn fixture(sha256: &str) -> StaticBinary {
        StaticBinary {
            path: "/x".into(),
            source: "/x".into(),
            sha256: sha256.into(),
        }
    }

    /// The bytes, read again; an error when they no longer hash as they did.
    pub fn bytes(&self) -> Result<Vec<u8>, SelfImageError> {
        let bytes = read(&self.source)?;
        if hex(&Sha256::digest(&bytes)) != self.sha256 {
            return Err(SelfImageError::Read {
                path: self.path.display().to_string(),
                reason: "it changed since this process started".into(),
            });
        }
        Ok(bytes)
    }
}

/// The static binary to put into containers: this executable when it is static, else the
/// configured one (`DOCKER_LINK_STATIC_BIN`, read into the configuration at start). Read and
/// hashed once per process.
pub fn static_binary(configured: Option<&Path>) -> Result<&'static StaticBinary, SelfImageError> {
    static BIN: OnceLock<Result<StaticBinary, String>> = OnceLock::new();
    let found = BIN.get_or_init(|| {
        let own = std::env::current_exe().map_err(|e| e.to_string())?;
        let proc_exe = Path::new("/proc/self/exe");
        let source = if proc_exe.exists() { proc_exe } else { &own };
        StaticBinary::load_from(&own, source)
            .ok()
            .or_else(|| configured.and_then(|p| StaticBinary::load(p).ok()))
            .ok_or_else(|| own.display().to_string())
    });
    found
        .as_ref()
        .map_err(|path| SelfImageError::NotStatic { path: path.clone() })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tar holding `files` (path, mode, contents), for `docker import` and the archive API.
pub fn tar_of(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        // Appending to a Vec cannot fail.
        let _ = builder.append_data(&mut header, path.trim_start_matches('/'), *data);
    }
    builder.into_inner().unwrap_or_default()
}

async fn image_label(docker: &Docker, image: &str, label: &str) -> Option<String> {
    let inspect = docker.inspect_image(image).await.ok()?;
    inspect.config?.labels?.get(label).cloned()
}

async fn import(
    docker: &Docker,
    repo: &str,
    tag: &str,
    tar: Vec<u8>,
    changes: Vec<String>,
) -> Result<(), SelfImageError> {
    let options = CreateImageOptions {
        from_src: Some("-".to_string()),
        repo: Some(repo.to_string()),
        tag: Some(tag.to_string()),
        changes,
        ..Default::default()
    };
    docker
        .create_image(
            Some(options),
            Some(bollard::body_full(Bytes::from(tar))),
            None,
        )
        .try_collect::<Vec<_>>()
        .await
        .map_err(|source| SelfImageError::Import {
            image: format!("{repo}:{tag}"),
            source,
        })?;
    Ok(())
}

/// Whether `image` holds `bin` (its hash label says so).
async fn holds(docker: &Docker, image: &str, bin: &StaticBinary) -> bool {
    image_label(docker, image, HASH_LABEL).await.as_deref() == Some(bin.sha256.as_str())
}

/// Makes sure `image` (`repo:tag`) holds `bin` at [`BINARY_PATH`] as its entrypoint; imports
/// only when the image is missing or holds another binary, and then once for every client
/// of the daemon: fifty commands that need the image at the same moment would otherwise each
/// upload and unpack it (and leave all but one image dangling). The others wait under
/// [`crate::docker::lock`] until the image is there.
pub async fn ensure_image_of(
    daemon: &Daemon,
    bin: &StaticBinary,
    image: &str,
) -> anyhow::Result<()> {
    let docker = daemon.client();
    if holds(docker, image, bin).await {
        return Ok(());
    }
    let spec = ContainerSpec {
        name: format!(
            "docker-link-import-{}-{}",
            image.replace([':', '/'], "-"),
            &bin.sha256[..12.min(bin.sha256.len())]
        ),
        image: daemon.empty_image().await?,
        labels: Labels::from([(
            crate::labels::ROLE.to_string(),
            crate::labels::IMPORT_LOCK_ROLE.to_string(),
        )]),
        no_network: true,
        ..Default::default()
    };
    let what = format!("importing {image}");
    let done = || holds(docker, image, bin);
    let Some(lock) = crate::docker::lock::acquire(daemon, &spec, &what, done).await? else {
        return Ok(());
    };
    let imported = import_binary(docker, bin, image).await;
    lock.release(daemon).await?;
    Ok(imported?)
}

async fn import_binary(
    docker: &Docker,
    bin: &StaticBinary,
    image: &str,
) -> Result<(), SelfImageError> {
    let bytes = bin.bytes()?;
    let tar = tar_of(&[(BINARY_PATH, 0o755, &bytes)]);
    let changes = vec![
        format!("LABEL {HASH_LABEL}={}", bin.sha256),
        format!("LABEL {}={}", crate::labels::ROLE, crate::labels::SELF_ROLE),
        format!("ENTRYPOINT [\"{BINARY_PATH}\"]"),
    ];
    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    import(docker, repo, tag, tar, changes).await
}

/// Makes sure the empty image exists (for containers that are created and never started).
pub async fn ensure_empty_image(docker: &Docker) -> Result<String, SelfImageError> {
    if image_label(docker, EMPTY_IMAGE, crate::labels::ROLE)
        .await
        .as_deref()
        == Some(crate::labels::EMPTY_ROLE)
    {
        return Ok(EMPTY_IMAGE.to_string());
    }
    let (repo, tag) = EMPTY_IMAGE
        .split_once(':')
        .unwrap_or((EMPTY_IMAGE, "latest"));
    // The daemon refuses a container without a command; `true` is never run.
    let changes = vec![
        format!(
            "LABEL {}={}",
            crate::labels::ROLE,
            crate::labels::EMPTY_ROLE
        ),
        "CMD [\"/none\"]".to_string(),
    ];
    import(docker, repo, tag, tar_of(&[]), changes).await?;
    Ok(EMPTY_IMAGE.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(interp: bool) -> Vec<u8> {
        // A minimal ELF64 header with one or two program headers.
        let mut b = vec![0u8; 64 + 2 * 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        b[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        let second: u32 = if interp { 3 } else { 6 };
        b[120..124].copy_from_slice(&second.to_le_bytes());
        b
    }

    #[test]
    fn static_elf_detection() {
        assert!(is_static_elf(&elf(false)));
        assert!(!is_static_elf(&elf(true)));
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        assert!(!is_static_elf(&[]));
        // A truncated program header table is not taken for static.
        let mut cut = elf(false);
        cut.truncate(100);
        assert!(!is_static_elf(&cut));
        // This test binary is dynamically linked (the dev profile, gnu target).
        if let Ok(me) = std::env::current_exe().and_then(std::fs::read) {
            if cfg!(target_env = "gnu") {
                assert!(!is_static_elf(&me));
            }
        }
    }

    #[test]
    fn tar_holds_the_files() {
        let tar = tar_of(&[("/docker-link", 0o755, b"bin"), ("etc/x", 0o644, b"")]);
        let mut archive = tar::Archive::new(&tar[..]);
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                    e.header().size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("docker-link".to_string(), 0o755, 3),
                ("etc/x".to_string(), 0o644, 0)
            ]
        );
    }
}
