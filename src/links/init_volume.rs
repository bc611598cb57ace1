//! The init shared by every container of a daemon: `docker link run --init` mounts one named
//! volume per binary (`docker-link-init-<version>-<sha256 prefix>`) read-only at the init's
//! directory, instead of copying the 7.4 MB binary into each container. Every container then
//! runs the same file: one copy on disk, and its pages shared in the page cache.
//!
//! The volume is filled once, through the archive API (so a remote daemon works too), by a
//! helper container that is created and never started. The helper's name is a lock
//! ([`crate::docker::lock`]): one filler at a time, the others wait for it; a marker file written after the binary (the
//! binary's sha256) says the volume is complete, so an interrupted fill is done again by the
//! next caller. A helper left behind by a crash is removed once it is older than
//! [`crate::docker::lock::STALE_AFTER_SECS`] on the daemon's clock.
//!
//! `docker link prune` removes the volumes of binaries no container mounts any more ([`plan`],
//! [`apply`]).

use std::collections::BTreeSet;

use anyhow::Context as _;

use crate::docker::engine::{ContainerSpec, Engine, Labels, ListFilter, VolumeInfo};
use crate::docker::self_image::{tar_of, StaticBinary};
use crate::docker::Daemon;
use crate::labels;

/// Where the volume is mounted in the container; the init is [`INIT_FILE`] in it.
pub const INIT_DIR: &str = "/.docker-link";
/// The binary's name inside [`INIT_DIR`].
pub const INIT_FILE: &str = "docker-link";
/// Written after the binary: its sha256. Present and right means the volume is complete.
const MARKER: &str = "docker-link.sha256";

/// The volume of one binary: version and hash, so two builds of one version do not share.
pub fn volume_name(bin: &StaticBinary) -> String {
    format!(
        "docker-link-init-{}-{}",
        crate::plugin::VERSION,
        &bin.sha256[..12.min(bin.sha256.len())]
    )
}

/// The `--mount` value for `docker create`: read-only, and never filled from the image.
pub fn mount_arg(volume: &str) -> String {
    format!("type=volume,src={volume},dst={INIT_DIR},readonly,volume-nocopy")
}

fn volume_labels(bin: &StaticBinary) -> Labels {
    Labels::from([
        (
            labels::ROLE.to_string(),
            labels::INIT_VOLUME_ROLE.to_string(),
        ),
        (labels::BINARY_SHA256.to_string(), bin.sha256.clone()),
        (
            labels::VERSION.to_string(),
            crate::plugin::VERSION.to_string(),
        ),
    ])
}

/// An init volume that holds the binary, and the container that holds on to it until the
/// user's container mounts it (so that a concurrent `docker link prune` cannot remove it in
/// between: the daemon would then make an empty volume of that name for `docker create`).
#[derive(Debug)]
pub struct Shared {
    pub volume: String,
    holder: String,
}

impl Shared {
    /// Lets go of the volume: once the user's container exists, it holds it.
    pub async fn release(&self, engine: &Daemon) {
        if let Err(e) = crate::docker::engine::remove_if_present(engine, &self.holder, true).await {
            crate::output::warn(&format!("removing the init volume's helper container: {e}"));
        }
    }
}

/// A never-started container of the empty image that mounts `volume` read-write.
async fn helper_spec(engine: &Daemon, name: String, volume: &str) -> anyhow::Result<ContainerSpec> {
    Ok(ContainerSpec {
        name,
        image: engine.empty_image().await?,
        labels: Labels::from([(labels::ROLE.to_string(), labels::INIT_FILL_ROLE.to_string())]),
        no_network: true,
        volume: Some((volume.to_string(), INIT_DIR.to_string())),
        ..Default::default()
    })
}

/// Makes sure the volume of `bin` exists and holds it; the caller mounts it, then calls
/// [`Shared::release`].
pub async fn ensure(engine: &Daemon, bin: &StaticBinary) -> anyhow::Result<Shared> {
    let volume = volume_name(bin);
    engine
        .create_volume(&volume, &volume_labels(bin))
        .await
        .with_context(|| format!("creating the init volume {volume}"))?;
    let holder_name = format!("{volume}-use-{:08x}", crate::random_u64() as u32);
    let holder = engine
        .create_container(&helper_spec(engine, holder_name, &volume).await?)
        .await
        .with_context(|| format!("mounting the init volume {volume}"))?;
    let shared = Shared { volume, holder };
    let filled = async { fill_under_lock(engine, &shared.volume, &shared.holder, bin).await }.await;
    match filled {
        Ok(()) => Ok(shared),
        Err(e) => {
            shared.release(engine).await;
            Err(e.context(format!("filling the init volume {}", shared.volume)))
        }
    }
}

/// Fills the volume, one filler at a time: the lock is the name of the filler's helper. A
/// caller that waited reads the marker its filler wrote through its own `holder`.
async fn fill_under_lock(
    engine: &Daemon,
    volume: &str,
    holder: &str,
    bin: &StaticBinary,
) -> anyhow::Result<()> {
    let spec = helper_spec(engine, format!("{volume}-fill"), volume).await?;
    let what = format!("filling {volume}");
    let done = || async { marker_of(engine, holder).await.as_deref() == Some(bin.sha256.as_str()) };
    let Some(helper) = crate::docker::lock::acquire(engine, &spec, &what, done).await? else {
        return Ok(());
    };
    let filled = fill(engine, &helper.id, bin).await;
    helper.release(engine).await?;
    filled
}

/// Writes the binary, then the marker.
async fn fill(engine: &Daemon, helper: &str, bin: &StaticBinary) -> anyhow::Result<()> {
    // One archive, extracted in order: the marker lands only after the whole binary.
    let bytes = bin.bytes()?;
    let tar = tar_of(&[
        (INIT_FILE, 0o755, &bytes),
        (MARKER, 0o644, bin.sha256.as_bytes()),
    ]);
    engine
        .client()
        .upload_to_container(
            helper,
            Some(bollard::query_parameters::UploadToContainerOptions {
                path: INIT_DIR.into(),
                ..Default::default()
            }),
            bollard::body_full(tar.into()),
        )
        .await
        .context("uploading the binary")?;
    match marker_of(engine, helper).await {
        Some(m) if m == bin.sha256 => Ok(()),
        _ => anyhow::bail!("the volume does not hold the binary after the upload"),
    }
}

/// The marker's contents, when it is there.
async fn marker_of(engine: &Daemon, container: &str) -> Option<String> {
    let tar = engine
        .get_archive(container, &format!("{INIT_DIR}/{MARKER}"))
        .await
        .ok()?;
    let mut archive = tar::Archive::new(&tar[..]);
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).ok()?;
    Some(text.trim().to_string())
}

/// What prune looks at: the init volumes, the volumes any container mounts (any state), the
/// helper containers of fills, the daemon's clock and the age below which a volume or helper
/// is left alone.
#[derive(Debug, Clone, Default)]
pub struct PruneInput {
    pub volumes: Vec<VolumeInfo>,
    /// Volumes mounted by containers other than the helpers.
    pub used: BTreeSet<String>,
    /// Helper containers of fills: id, created, the volume they mount. Each lives for less
    /// than a second unless its command died.
    pub helpers: Vec<(String, i64, String)>,
    pub now: i64,
    pub until: i64,
}

/// What prune removes: helpers left by commands that died, and the init volumes no other
/// container mounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removals {
    pub helpers: Vec<String>,
    pub volumes: Vec<String>,
}

/// Helpers left behind (older than [`crate::docker::lock::STALE_AFTER_SECS`], and than `until`) go, and the init
/// volumes that no other container mounts, old enough: a young one may be one that a
/// `docker link run --init` has just made and is about to mount. A live helper keeps its
/// volume whatever `until` says: its command is about to mount it.
pub fn plan(input: &PruneInput) -> Removals {
    let older = |created: i64, age: i64| input.now - created >= age;
    let (stale, live): (Vec<_>, Vec<_>) = input.helpers.iter().partition(|(_, created, _)| {
        older(
            *created,
            crate::docker::lock::STALE_AFTER_SECS.max(input.until),
        )
    });
    let held: BTreeSet<&String> = live.iter().map(|(_, _, v)| v).collect();
    let volumes = input
        .volumes
        .iter()
        .filter(|v| {
            v.labels.get(labels::ROLE).map(String::as_str) == Some(labels::INIT_VOLUME_ROLE)
        })
        .filter(|v| !input.used.contains(&v.name) && !held.contains(&v.name))
        .filter(|v| {
            let created = v
                .created_at
                .as_deref()
                .and_then(crate::docker::clock::rfc3339);
            created.is_some_and(|c| older(c, input.until))
        })
        .map(|v| v.name.clone())
        .collect();
    Removals {
        helpers: stale.into_iter().map(|(id, _, _)| id.clone()).collect(),
        volumes,
    }
}

/// Reads what [`plan`] needs.
pub async fn prune_input<E: Engine>(engine: &E, until: i64) -> anyhow::Result<PruneInput> {
    let volumes = engine
        .list_volumes(&[labels::role(labels::INIT_VOLUME_ROLE)])
        .await?;
    let listing = engine.list_containers(&ListFilter::default()).await?;
    let now = listing
        .server_time
        .unwrap_or_else(crate::docker::clock::now);
    let is_helper = |c: &crate::docker::engine::ContainerSummary| {
        // The self image's import lock is such a helper too (it mounts nothing).
        matches!(
            c.labels.get(labels::ROLE).map(String::as_str),
            Some(labels::INIT_FILL_ROLE | labels::IMPORT_LOCK_ROLE)
        )
    };
    let (helpers, others): (Vec<_>, Vec<_>) = listing.containers.iter().partition(|c| is_helper(c));
    let helpers = helpers
        .into_iter()
        .map(|c| {
            let volume = c.volumes.first().cloned().unwrap_or_default();
            (c.id.clone(), c.created, volume)
        })
        .collect();
    let used = others
        .iter()
        .flat_map(|c| c.volumes.iter().cloned())
        .collect();
    Ok(PruneInput {
        volumes,
        used,
        helpers,
        now,
        until,
    })
}

/// Removes the planned helpers, then volumes; returns the volumes removed and the errors of
/// the others. A volume that a container started to use meanwhile (the daemon refuses: in
/// use), or that is gone already, is no error.
pub async fn apply<E: Engine>(
    engine: &E,
    removals: &Removals,
) -> (Vec<String>, Vec<anyhow::Error>) {
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    for h in &removals.helpers {
        if let Err(e) = crate::docker::engine::remove_if_present(engine, h, true).await {
            errors.push(anyhow::Error::new(e).context("removing a helper of an init volume"));
        }
    }
    for v in &removals.volumes {
        match engine.remove_volume(v).await {
            Ok(()) => removed.push(v.clone()),
            Err(e) if e.is_conflict() || e.is_not_found() => {}
            Err(e) => {
                errors.push(anyhow::Error::new(e).context(format!("removing the init volume {v}")))
            }
        }
    }
    (removed, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, role: &str, created: &str) -> VolumeInfo {
        VolumeInfo {
            name: name.into(),
            labels: Labels::from([(labels::ROLE.to_string(), role.to_string())]),
            created_at: Some(created.into()),
        }
    }

    #[test]
    fn only_unused_init_volumes_old_enough_go() {
        let now = crate::docker::clock::rfc3339("2026-12-02T12:00:00Z").unwrap();
        let old = "2026-12-02T11:00:00Z";
        let young = "2026-12-02T11:59:30Z";
        let input = PruneInput {
            volumes: vec![
                vol("init-used", labels::INIT_VOLUME_ROLE, old),
                vol("init-unused", labels::INIT_VOLUME_ROLE, old),
                vol("init-young", labels::INIT_VOLUME_ROLE, young),
                vol("init-held", labels::INIT_VOLUME_ROLE, old),
                vol("intent", labels::INTENT_ROLE, old),
            ],
            used: BTreeSet::from(["init-used".to_string(), "other".to_string()]),
            helpers: vec![
                ("stale".into(), now - 3600, "init-unused".into()),
                ("live".into(), now - 1, "init-held".into()),
            ],
            now,
            until: 120,
        };
        assert_eq!(
            plan(&input),
            Removals {
                helpers: vec!["stale".into()],
                volumes: vec!["init-unused".into()]
            }
        );
        // until=0: young volumes too, but a live helper and its volume stay.
        let all = PruneInput { until: 0, ..input };
        assert_eq!(
            plan(&all),
            Removals {
                helpers: vec!["stale".into()],
                volumes: vec!["init-unused".into(), "init-young".into()]
            }
        );
    }

    #[test]
    fn names_and_mounts() {
        let bin = StaticBinary::fixture("0123456789abcdef");
        assert_eq!(
            volume_name(&bin),
            format!("docker-link-init-{}-0123456789ab", crate::plugin::VERSION)
        );
        assert_eq!(
            mount_arg("v"),
            "type=volume,src=v,dst=/.docker-link,readonly,volume-nocopy"
        );
    }
}
