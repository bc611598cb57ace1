//! The one place that enters network namespaces: open a container's namespace (by its PID, by
//! Docker's `SandboxKey`, by an iproute2 name), or make a new one, and run netlink work inside
//! it.
//!
//! Two kernel facts shape this module:
//! - `setns` changes only the calling thread, and the thread stays there. A tokio worker or a
//!   `spawn_blocking` thread is reused afterwards for unrelated work, which would then run in
//!   the container's namespace. So every entry happens on a fresh OS thread that exits when the
//!   work is done: [`run_in`] (blocking) and [`run_in_async`] (awaits a oneshot, so the caller's
//!   runtime keeps running).
//! - A netlink socket stays in the namespace it was created in. So the thread enters first,
//!   then builds its own current-thread runtime and the rtnetlink connection, and hands the
//!   closure a [`Handle`] that talks to that namespace only.
//!
//! A namespace is held as an open file ([`NetNs`]), which keeps it alive: a dead container's
//! namespace lives on while a `NetNs` of it exists, so long-lived holders drop theirs on the
//! container's `die`.
//!
//! Opening by PID re-checks the process's start time around the open, so a PID that was
//! reused by another process is an error ([`NetnsError::PidReused`]) rather than a silent
//! entry into the wrong namespace.
//!
//! The items are `pub` (not `pub(crate)`) because the integration tests in `tests/it/netns.rs`
//! use them through the library crate.

use std::any::Any;
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use rtnetlink::Handle;

/// iproute2's directory of named namespaces (`ip netns add <name>` bind-mounts them here).
pub const NAMED_DIR: &str = "/run/netns";

/// Errors callers branch on; every message names the namespace (or process) concerned.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The namespace file could not be opened, or is not a network namespace.
    #[error("cannot open {what}: {source}")]
    Open {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The process is not running (never was, exited, or is a zombie): its namespace is
    /// gone with it, unless someone holds it open.
    #[error("process {pid} is not running")]
    Gone { pid: u32 },
    /// The PID now belongs to another process than the one meant (its start time differs).
    #[error("process {pid} exited and its pid now belongs to another process")]
    PidReused { pid: u32 },
    /// A new namespace could not be made (EPERM: not root).
    #[error("cannot create a network namespace: {source}")]
    Create {
        #[source]
        source: Errno,
    },
    /// `setns` refused (EPERM: no CAP_SYS_ADMIN).
    #[error("cannot enter {what}: {source}")]
    Setns {
        what: String,
        #[source]
        source: Errno,
    },
    /// The netlink socket could not be made inside the namespace.
    #[error("cannot open a netlink socket in {what}: {reason}")]
    Netlink { what: String, reason: String },
    /// The dedicated thread or its runtime could not be started.
    #[error("cannot run a thread in {what}: {reason}")]
    Thread { what: String, reason: String },
}

impl NetnsError {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<String> {
        let denied = match self {
            NetnsError::Open { source, .. } => source.kind() == io::ErrorKind::PermissionDenied,
            NetnsError::Create { source } | NetnsError::Setns { source, .. } => {
                *source == Errno::EPERM
            }
            _ => false,
        };
        denied.then(|| {
            "run it with sudo, or as root (network namespaces need CAP_SYS_ADMIN)".to_string()
        })
    }
}

/// An open network namespace. Holding it keeps the namespace alive; entering it happens only
/// through [`run_in`] and [`run_in_async`].
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
    /// The namespace as messages name it: "the network namespace of process 1234".
    what: String,
}

impl NetNs {
    /// The namespace of process `pid` (`/proc/<pid>/ns/net`), checked to belong to the process
    /// that had that PID before the open: its start time is read before and after.
    ///
    /// The start time has clock-tick resolution (10 ms): a PID that is freed and reused
    /// within one tick is not detected. Callers that learned the start time earlier (from
    /// [`start_time`]) use [`NetNs::by_pid_started`] to cover the time in between too.
    pub fn by_pid(pid: u32) -> Result<NetNs, NetnsError> {
        let started = start_time(pid)?;
        NetNs::by_pid_started(pid, started)
    }

    /// The namespace of process `pid`, provided the process still has the start time
    /// `started` (clock ticks since boot, as [`start_time`] returns it) after the open.
    pub fn by_pid_started(pid: u32, started: u64) -> Result<NetNs, NetnsError> {
        let what = format!("the network namespace of process {pid}");
        let fd = match open_netns(Path::new(&format!("/proc/{pid}/ns/net"))) {
            Ok(fd) => fd,
            // A zombie keeps its /proc entry but no longer has namespaces.
            Err(e) if gone(&e) => return Err(NetnsError::Gone { pid }),
            Err(source) => return Err(NetnsError::Open { what, source }),
        };
        // After the open: if the process at `pid` is still the one that started at `started`,
        // it was alive the whole time, so the PID could not have been reused in between and
        // the namespace is its own.
        match start_time(pid) {
            Ok(now) if now == started => Ok(NetNs { fd, what }),
            Ok(_) => Err(NetnsError::PidReused { pid }),
            // Gone now: the file might have been opened from a successor that also died.
            Err(NetnsError::Gone { .. }) => Err(NetnsError::Gone { pid }),
            Err(e) => Err(e),
        }
    }

    /// A namespace file: Docker's `NetworkSettings.SandboxKey` (`/var/run/docker/netns/…`),
    /// a `/run/netns/<name>` bind mount, a `/proc/<pid>/ns/net`. Fails when the file is not a
    /// network namespace.
    pub fn by_path(path: impl AsRef<Path>) -> Result<NetNs, NetnsError> {
        let path = path.as_ref();
        let what = format!("the network namespace {}", path.display());
        let fd = open_netns(path).map_err(|source| NetnsError::Open {
            what: what.clone(),
            source,
        })?;
        Ok(NetNs { fd, what })
    }

    /// A namespace `ip netns add <name>` made (`/run/netns/<name>`).
    pub fn named(name: &str) -> Result<NetNs, NetnsError> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(NetnsError::Open {
                what: format!("the network namespace named {name:?}"),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a namespace name is one path component",
                ),
            });
        }
        NetNs::by_path(Path::new(NAMED_DIR).join(name))
    }

    /// The namespace of the process serving the unix socket `path` (its peer credentials):
    /// a local daemon's own namespace, which may not be ours (a daemon in a namespace of its
    /// own). None when the peer's PID is not visible from here (another PID namespace) or the
    /// peer is in our own namespace.
    pub fn of_socket_peer(path: &Path) -> Result<Option<NetNs>, NetnsError> {
        let what = format!("the process serving {}", path.display());
        let stream =
            std::os::unix::net::UnixStream::connect(path).map_err(|source| NetnsError::Open {
                what: what.clone(),
                source,
            })?;
        let cred =
            nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
                .map_err(|e| NetnsError::Open {
                    what: what.clone(),
                    source: io::Error::from(e),
                })?;
        let Ok(pid) = u32::try_from(cred.pid()) else {
            return Ok(None);
        };
        if pid == 0 {
            return Ok(None);
        }
        let theirs = NetNs::by_pid(pid)?;
        if theirs.inode()? == NetNs::current()?.inode()? {
            return Ok(None);
        }
        Ok(Some(theirs))
    }

    /// The calling thread's own namespace (to come back to, or to compare with).
    pub fn current() -> Result<NetNs, NetnsError> {
        let what = "this thread's network namespace".to_string();
        let fd = open_netns(Path::new("/proc/thread-self/ns/net")).map_err(|source| {
            NetnsError::Open {
                what: what.clone(),
                source,
            }
        })?;
        Ok(NetNs { fd, what })
    }

    /// A new, empty network namespace (only `lo`, down), alive as long as the `NetNs` (and
    /// whatever is created in it that holds a reference, such as a socket). It is made by
    /// `unshare` on a short-lived thread, so no other thread ever enters it.
    pub fn create() -> Result<NetNs, NetnsError> {
        let what = "a new network namespace";
        let fd = on_dedicated_thread(what, "netns-create", || {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|source| NetnsError::Create { source })?;
            open_netns(Path::new("/proc/thread-self/ns/net")).map_err(|source| NetnsError::Open {
                what: what.to_string(),
                source,
            })
        })?;
        Ok(NetNs {
            fd,
            what: what.to_string(),
        })
    }

    /// The namespace's file, to name it in a netlink request that places an interface in
    /// it (`IFLA_NET_NS_FD`): no thread enters it for that. Valid while `self` lives.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// The namespace as messages name it.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The namespace's inode number: two `NetNs` are the same namespace when their inodes
    /// are equal (what `ip netns identify` and `ls -l /proc/<pid>/ns/net` show).
    pub fn inode(&self) -> Result<u64, NetnsError> {
        let st = nix::sys::stat::fstat(&self.fd).map_err(|e| NetnsError::Open {
            what: self.what.clone(),
            source: e.into(),
        })?;
        Ok(st.st_ino)
    }
}

/// Runs `f` inside `ns` and returns what its future yields; blocks the calling thread until
/// then. From async code, use [`run_in_async`], which does not block the runtime.
///
/// `f` runs on a new OS thread that enters `ns`, builds a current-thread runtime, opens the
/// rtnetlink connection there (so the handle talks to `ns`), and exits when the future is
/// done; the calling thread never changes namespace. The thread is scoped, so `f` may borrow
/// from the caller. `f` gets the [`Handle`] by value (a cheap clone of a channel), so its
/// future owns it: `|h| async move { h.link().get().execute()… }` needs no lifetimes. The
/// future need not be `Send`: it never leaves that thread. A panic in `f` is resumed in the
/// caller.
pub fn run_in<F, Fut, T>(ns: &NetNs, f: F) -> Result<T, NetnsError>
where
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = T>,
    T: Send,
{
    let fd = ns.fd.as_fd();
    let what = ns.what.as_str();
    on_dedicated_thread(what, "netns", move || enter_and_run(fd, what, f))
}

/// [`run_in`] for async callers: the work runs on its own OS thread as there, and the caller
/// awaits its result through a oneshot channel, so no tokio worker blocks or changes
/// namespace.
///
/// `f` and the result must be `'static` (the thread is not scoped: dropping the returned
/// future does not stop it; it finishes its work and its result is discarded). The namespace
/// file is duplicated for the thread, so `ns` may be dropped meanwhile.
pub async fn run_in_async<F, Fut, T>(ns: &NetNs, f: F) -> Result<T, NetnsError>
where
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let what = ns.what.clone();
    let fd = ns.fd.try_clone().map_err(|source| NetnsError::Open {
        what: what.clone(),
        source,
    })?;
    let (tx, rx) = tokio::sync::oneshot::channel::<Result<Result<T, NetnsError>, Panic>>();
    let thread_what = what.clone();
    std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || {
            let out = panic::catch_unwind(AssertUnwindSafe(|| {
                enter_and_run(fd.as_fd(), &thread_what, f)
            }));
            // The caller may have stopped waiting; then the result has nowhere to go.
            let _ = tx.send(out);
        })
        .map_err(|e| NetnsError::Thread {
            what: what.clone(),
            reason: format!("cannot spawn it: {e}"),
        })?;
    match rx.await {
        Ok(Ok(result)) => result,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => Err(NetnsError::Thread {
            what,
            reason: "it ended without an answer".to_string(),
        }),
    }
}

type Panic = Box<dyn Any + Send + 'static>;

/// Runs `f` on a new, scoped OS thread and returns its result; resumes its panic.
fn on_dedicated_thread<T: Send>(
    what: &str,
    name: &str,
    f: impl FnOnce() -> Result<T, NetnsError> + Send,
) -> Result<T, NetnsError> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(scope, f)
            .map_err(|e| NetnsError::Thread {
                what: what.to_string(),
                reason: format!("cannot spawn it: {e}"),
            })?;
        thread.join().unwrap_or_else(|p| panic::resume_unwind(p))
    })
}

/// On a dedicated thread that ends afterwards: enter, then make the runtime and the netlink
/// socket (in that order, so the socket lives in `fd`'s namespace), then run `f`.
fn enter_and_run<F, Fut, T>(fd: BorrowedFd<'_>, what: &str, f: F) -> Result<T, NetnsError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = T>,
{
    nix::sched::setns(fd, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Setns {
        what: what.to_string(),
        source,
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| NetnsError::Thread {
            what: what.to_string(),
            reason: format!("cannot build its runtime: {e}"),
        })?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| NetnsError::Netlink {
            what: what.to_string(),
            reason: e.to_string(),
        })?;
        let conn = tokio::spawn(conn);
        let out = f(handle).await;
        conn.abort();
        Ok(out)
    })
}

/// Opens a namespace file and checks that it is a network namespace, so that a wrong path
/// fails here, with its name, rather than later as an EINVAL from setns.
fn open_netns(path: &Path) -> io::Result<OwnedFd> {
    let fd = OwnedFd::from(File::open(path)?);
    check_net_type(&fd)?;
    Ok(fd)
}

mod ioctl {
    // NS_GET_NSTYPE = _IO(NSIO, 0x3), NSIO = 0xb7 (linux/nsfs.h; Linux 4.11).
    nix::ioctl_none!(
        /// # Safety
        /// `fd` must be an open descriptor.
        ns_get_nstype,
        0xb7,
        0x3
    );
}

fn check_net_type(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: NS_GET_NSTYPE takes no argument and writes nothing to our memory; it only
    // reports the namespace type of the descriptor, which is open for the whole call (it is
    // borrowed from `fd`). On anything that is not a namespace file it fails with ENOTTY.
    let kind = unsafe { ioctl::ns_get_nstype(fd.as_raw_fd()) };
    match kind {
        Ok(k) if k == CloneFlags::CLONE_NEWNET.bits() => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a namespace of another kind, not a network namespace",
        )),
        Err(Errno::ENOTTY) | Err(Errno::EINVAL) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a namespace file",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Whether an error from /proc/<pid>/… means the process is not (or no longer) there.
fn gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == Errno::ENOENT as i32 || code == Errno::ESRCH as i32)
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`, in clock ticks since
/// boot): with the PID, it names one process, as a PID alone does not once it is reused.
/// A zombie counts as gone.
pub fn start_time(pid: u32) -> Result<u64, NetnsError> {
    if pid == 0 {
        return Err(NetnsError::Gone { pid });
    }
    let path = format!("/proc/{pid}/stat");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if gone(&e) => return Err(NetnsError::Gone { pid }),
        Err(source) => {
            return Err(NetnsError::Open {
                what: format!("the status of process {pid}"),
                source,
            })
        }
    };
    let stat = parse_stat(&text).ok_or_else(|| NetnsError::Open {
        what: format!("the status of process {pid}"),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path} has no start time"),
        ),
    })?;
    if matches!(stat.state, 'Z' | 'X' | 'x') {
        return Err(NetnsError::Gone { pid });
    }
    Ok(stat.start_time)
}

/// The fields of `/proc/<pid>/stat` this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// Field 3: R, S, D, Z (zombie), X (dead)…
    state: char,
    /// Field 22.
    start_time: u64,
}

/// Parses `pid (comm) state ppid … starttime …`. The comm (field 2) may hold spaces and
/// parentheses, so the fields are counted from the last `)`, which the kernel always writes
/// right after it.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 was `state`; field 22 is 19 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line of /proc/<pid>/stat with `comm` replaced; start time 8817042.
    fn stat_line(comm: &str) -> String {
        format!(
            "4242 ({comm}) S 1 4242 4242 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 8817042 \
             2400256 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 \
             0 0 0 0 0\n"
        )
    }

    #[test]
    fn start_time_is_field_22() {
        let want = Some(Stat {
            state: 'S',
            start_time: 8817042,
        });
        assert_eq!(parse_stat(&stat_line("sleep")), want);
        for comm in ["a b", "(x)", ") 1 2 3 (", "a) R 9 9 (b", "", "))"] {
            assert_eq!(parse_stat(&stat_line(comm)), want, "comm {comm:?}");
        }
    }

    #[test]
    fn a_short_or_garbled_stat_has_no_start_time() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("4242 (sleep"), None, "no closing parenthesis");
        assert_eq!(parse_stat("4242 (sleep) S 1 2 3"), None, "truncated");
        let bad = stat_line("sleep").replace(" 8817042 ", " x ");
        assert_eq!(parse_stat(&bad), None);
    }

    #[test]
    fn own_start_time_is_stable_and_the_process_opens() {
        let me = std::process::id();
        let t = start_time(me).unwrap();
        assert_eq!(start_time(me).unwrap(), t);
        // Opening one's own namespace needs no privilege.
        let ns = NetNs::by_pid(me).unwrap();
        let by_path = NetNs::by_path("/proc/self/ns/net").unwrap();
        assert_eq!(ns.inode().unwrap(), by_path.inode().unwrap());
        assert_eq!(ns.what(), format!("the network namespace of process {me}"));
    }

    #[test]
    fn another_start_time_is_a_reused_pid() {
        let me = std::process::id();
        let t = start_time(me).unwrap();
        let err = NetNs::by_pid_started(me, t + 1).unwrap_err();
        assert!(
            matches!(err, NetnsError::PidReused { pid } if pid == me),
            "{err:?}"
        );
    }

    #[test]
    fn no_such_process_is_gone() {
        // Above the largest pid_max the kernel allows (2^22).
        for pid in [0, 4_194_305] {
            let err = NetNs::by_pid(pid).unwrap_err();
            assert!(matches!(err, NetnsError::Gone { .. }), "{err:?}");
            assert_eq!(err.to_string(), format!("process {pid} is not running"));
        }
    }

    #[test]
    fn only_network_namespace_files_open() {
        for path in ["/proc/self/ns/uts", "/proc/self/stat"] {
            let err = NetNs::by_path(path).unwrap_err();
            match &err {
                NetnsError::Open { source, .. } => {
                    assert_eq!(source.kind(), io::ErrorKind::InvalidInput, "{path}: {err}")
                }
                other => panic!("{path}: {other:?}"),
            }
            assert!(err
                .to_string()
                .starts_with(&format!("cannot open the network namespace {path}: ")));
        }
        let err = NetNs::by_path("/nonexistent/netns").unwrap_err();
        assert!(
            matches!(&err, NetnsError::Open { source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );
    }

    #[test]
    fn names_are_one_path_component() {
        for name in ["", ".", "..", "a/b", "../etc"] {
            let err = NetNs::named(name).unwrap_err();
            assert!(
                matches!(&err, NetnsError::Open { source, .. } if source.kind() == io::ErrorKind::InvalidInput),
                "{name:?}: {err:?}"
            );
        }
    }

    #[test]
    fn current_is_this_threads_namespace() {
        let here = NetNs::current().unwrap();
        let proc_self = std::fs::metadata("/proc/thread-self/ns/net").unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(here.inode().unwrap(), proc_self.ino());
    }

    #[test]
    fn messages_are_lower_case_and_name_the_object() {
        let errs = [
            NetnsError::Gone { pid: 7 },
            NetnsError::PidReused { pid: 7 },
            NetnsError::Create {
                source: Errno::EPERM,
            },
            NetnsError::Setns {
                what: "the network namespace of process 7".into(),
                source: Errno::EPERM,
            },
            NetnsError::Netlink {
                what: "the network namespace of process 7".into(),
                reason: "no buffer space".into(),
            },
            NetnsError::Thread {
                what: "the network namespace of process 7".into(),
                reason: "cannot spawn it".into(),
            },
        ];
        for e in &errs {
            let msg = e.to_string();
            assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
            assert!(msg.contains('7') || msg.contains("namespace"), "{msg}");
        }
        assert!(errs[3].hint().is_some(), "EPERM from setns has a hint");
        assert!(errs[0].hint().is_none());
    }
}
