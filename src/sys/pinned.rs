//! Network namespaces pinned by a bind mount under `/run/netns` (as `ip netns add` makes
//! them), so they outlive every process: `docker net`'s switch namespaces. `/run/netns` is
//! made a shared mount of its own first, as iproute2 does, so a namespace pinned later is
//! seen from other mount namespaces that bind it (a watcher's container).

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::netns::{NetNs, NetnsError, NAMED_DIR};

fn path_of(name: &str) -> Result<PathBuf, NetnsError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(NetnsError::Open {
            what: format!("the network namespace named {name:?}"),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "a namespace name is one path component",
            ),
        });
    }
    Ok(Path::new(NAMED_DIR).join(name))
}

/// The pinned namespace `name`, if it exists.
pub fn open(name: &str) -> Result<Option<NetNs>, NetnsError> {
    let path = path_of(name)?;
    match NetNs::by_path(&path) {
        Ok(ns) => Ok(Some(ns)),
        Err(NetnsError::Open { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(None)
        }
        // An empty file left by an interrupted pin: not a namespace.
        Err(NetnsError::Open { source, .. }) if source.kind() == io::ErrorKind::InvalidInput => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The pinned namespace `name`, made (empty but for `lo`, which is brought up) when missing.
/// Returns it and whether it was made now.
pub fn open_or_create(name: &str) -> Result<(NetNs, bool), NetnsError> {
    if let Some(ns) = open(name)? {
        return Ok((ns, false));
    }
    let path = path_of(name)?;
    let os = |what: String| {
        move |e: nix::Error| NetnsError::Open {
            what: what.clone(),
            source: io::Error::from(e),
        }
    };
    share_dir().map_err(|source| NetnsError::Open {
        what: NAMED_DIR.to_string(),
        source,
    })?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| NetnsError::Open {
            what: path.display().to_string(),
            source,
        })?;
    let target = path.clone();
    // unshare on a thread of its own, which ends right after: no other code runs in it.
    let made = std::thread::Builder::new()
        .name("netns-pin".into())
        .spawn(move || -> Result<(), NetnsError> {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|source| NetnsError::Create { source })?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(os(format!(
                "pinning a network namespace at {}",
                target.display()
            )))
        })
        .map_err(|e| NetnsError::Thread {
            what: path.display().to_string(),
            reason: e.to_string(),
        })?
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    if let Err(e) = made {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok((NetNs::by_path(&path)?, true))
}

/// Unpins `name`: the namespace goes once nothing else holds it (with every interface in it;
/// a veth's peer in a container goes with it). False when it was not there.
pub fn remove(name: &str) -> Result<bool, NetnsError> {
    let path = path_of(name)?;
    if !path.exists() {
        return Ok(false);
    }
    match umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) => {}
        Err(e) => {
            return Err(NetnsError::Open {
                what: format!("unpinning {}", path.display()),
                source: io::Error::from(e),
            })
        }
    }
    std::fs::remove_file(&path).map_err(|source| NetnsError::Open {
        what: path.display().to_string(),
        source,
    })?;
    Ok(true)
}

/// Makes `/run/netns` a shared mount point of its own, as iproute2 does, when it is not one.
fn share_dir() -> io::Result<()> {
    std::fs::create_dir_all(NAMED_DIR)?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mounted = mountinfo
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(NAMED_DIR));
    if !mounted {
        mount(
            Some(NAMED_DIR),
            NAMED_DIR,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )?;
    }
    mount(
        None::<&str>,
        NAMED_DIR,
        None::<&str>,
        MsFlags::MS_SHARED | MsFlags::MS_REC,
        None::<&str>,
    )?;
    Ok(())
}

/// An exclusive lock for reconciling `docker net` projects, shared by every process of the
/// host that does it (the commands, a foreground watcher, the watcher's container, which binds
/// the same `/run/netns`): `flock` on the directory of pinned namespaces, so no file of ours
/// shows among the namespaces. Two reconciles of one project at once would each take the
/// other's half-made links for someone else's; `down` holds it too. Released when dropped.
pub struct ReconcileLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

/// Waits for the lock and takes it.
pub fn lock() -> Result<ReconcileLock, NetnsError> {
    let err = |source: io::Error| NetnsError::Open {
        what: format!("the lock on {NAMED_DIR}"),
        source,
    };
    share_dir().map_err(err)?;
    let dir = std::fs::File::open(NAMED_DIR).map_err(err)?;
    nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive)
        .map(ReconcileLock)
        .map_err(|(_, e)| err(io::Error::from(e)))
}
