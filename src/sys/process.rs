//! Starting the init's main child: fork, then in the child only async-signal-safe calls
//! (process group or session, the terminal's foreground group, default SIGPIPE and SIGCHLD,
//! the inherited signal mask restored) before exec. Everything the child needs is prepared
//! before the fork, so nothing allocates between fork and exec.

use std::ffi::{CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStringExt;

use nix::libc;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{ForkResult, Pid};

/// How the child is placed relative to the init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Its own process group, and the terminal's foreground group when there is one (tini).
    ProcessGroup,
    /// A new session (dumb-init's default).
    Session,
    /// Stays in the init's group (dumb-init --single-child).
    Inherit,
}

/// Everything the child needs, prepared before the fork.
pub struct ChildSpec {
    argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    mask: SigSet,
    grouping: Grouping,
    /// Descriptors to put on the child's 0, 1 and 2 (-1: keep the init's).
    stdio: [libc::c_int; 3],
    /// Every signal 1-31 at its default action (dumb-init's child; tini's keeps what the
    /// init inherited, SIGPIPE and SIGCHLD aside).
    default_all: bool,
    msg_enoent: Vec<u8>,
    msg_eacces: Vec<u8>,
    msg_other: Vec<u8>,
    msg_stdio: Vec<u8>,
}

/// The exit status of a command that could not be run, as a shell reports it.
pub const EXIT_NOT_FOUND: i32 = 127;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;

impl ChildSpec {
    /// `argv[0]` is looked up on PATH as a shell does. `mask` is the signal mask the child
    /// starts with (the one the init inherited).
    pub fn new(argv: &[OsString], mask: SigSet, grouping: Grouping, me: &str) -> Option<ChildSpec> {
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.clone().into_vec()).ok())
            .collect::<Option<_>>()?;
        let name = argv.first()?.to_string_lossy().into_owned();
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        Some(ChildSpec {
            argv,
            argv_ptrs,
            mask,
            grouping,
            stdio: [-1; 3],
            default_all: false,
            msg_enoent: format!("{me}: exec {name} failed: no such file or directory\n")
                .into_bytes(),
            msg_eacces: format!("{me}: exec {name} failed: permission denied\n").into_bytes(),
            msg_other: format!("{me}: exec {name} failed\n").into_bytes(),
            msg_stdio: format!("{me}: cannot set up the stdio of {name}\n").into_bytes(),
        })
    }

    /// The child starts as dumb-init's does: an empty signal mask and every signal 1-31 at
    /// its default action, whatever the init inherited.
    pub fn reset_signals(&mut self) {
        self.mask = SigSet::empty();
        self.default_all = true;
    }

    /// The child's stdin, stdout and stderr become these descriptors (None: the init's own).
    /// They must stay open until [`spawn`] returns; the same one may serve several slots.
    pub fn set_stdio(&mut self, fds: [Option<RawFd>; 3]) {
        self.stdio = fds.map(|f| f.unwrap_or(-1));
    }
}

/// Forks and execs the child. Returns its pid in the parent; never returns in the child.
pub fn spawn(spec: &ChildSpec) -> nix::Result<Pid> {
    // SAFETY: the init forks before any other thread exists (lib.rs routes `init` before
    // anything starts threads), and the child below makes only async-signal-safe calls on
    // memory prepared before the fork, then execs or _exits.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(child),
        ForkResult::Child => child_after_fork(spec),
    }
}

fn child_after_fork(spec: &ChildSpec) -> ! {
    // SAFETY: only async-signal-safe libc calls on data owned by `spec`, which outlives them;
    // the pointer array is null-terminated and points into `spec.argv`.
    unsafe {
        match spec.grouping {
            Grouping::ProcessGroup => {
                libc::setpgid(0, 0);
                // Signals are still blocked here, so SIGTTOU cannot stop us while we take the
                // terminal's foreground (tini does the same).
                if libc::isatty(0) == 1 {
                    libc::tcsetpgrp(0, libc::getpgrp());
                }
            }
            Grouping::Session => {
                libc::setsid();
                if libc::isatty(0) == 1 {
                    libc::ioctl(0, libc::TIOCSCTTY, 0);
                }
            }
            Grouping::Inherit => {}
        }
        // Stdio after the terminal was handed over (that looks at the init's own stdin). Each
        // source is first copied above 2, so a source that is itself 0, 1 or 2 is not
        // overwritten before its turn; dup2 clears close-on-exec on the targets, and the
        // copies keep it, so they vanish at exec.
        let mut tmp: [libc::c_int; 3] = [-1; 3];
        for (slot, &src) in spec.stdio.iter().enumerate() {
            if src >= 0 {
                tmp[slot] = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 3);
                if tmp[slot] < 0 {
                    stdio_failed(spec);
                }
            }
        }
        for (slot, &fd) in tmp.iter().enumerate() {
            if fd >= 0 && libc::dup2(fd, slot as libc::c_int) < 0 {
                stdio_failed(spec);
            }
        }
        // The Rust runtime ignores SIGPIPE; the child starts with the defaults a shell gives.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        if spec.default_all {
            for sig in 1..=31 {
                // KILL and STOP refuse, harmlessly.
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, spec.mask.as_ref(), std::ptr::null_mut());
        libc::execvp(spec.argv[0].as_ptr(), spec.argv_ptrs.as_ptr());
        let errno = *libc::__errno_location();
        let (msg, code) = match errno {
            libc::ENOENT => (&spec.msg_enoent, EXIT_NOT_FOUND),
            libc::EACCES | libc::ENOEXEC | libc::EISDIR => (&spec.msg_eacces, EXIT_NOT_EXECUTABLE),
            _ => (&spec.msg_other, EXIT_NOT_EXECUTABLE),
        };
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(code)
    }
}

/// Reports a failed stdio setup in the forked child and exits as an exec failure would.
fn stdio_failed(spec: &ChildSpec) -> ! {
    // SAFETY: write(2) and _exit(2) are async-signal-safe; the message lives in `spec`.
    unsafe {
        libc::write(2, spec.msg_stdio.as_ptr().cast(), spec.msg_stdio.len());
        libc::_exit(EXIT_NOT_EXECUTABLE)
    }
}

/// The synchronous signals: a fault of the init itself raises one of these. They are blocked
/// with the rest, so one sent with `kill` waits in the signalfd to be forwarded; a real fault
/// still kills the init, because the kernel forces a fault signal through (it unblocks it and
/// resets its action to the default, `force_sig_fault`).
pub const SYNCHRONOUS: [Signal; 7] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
];

/// Blocks every signal (the C library keeps its own realtime ones); returns the mask that
/// was in force before.
pub fn block_signals() -> nix::Result<SigSet> {
    let mut old = SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )?;
    Ok(old)
}

/// Whether a signal read from the signalfd was sent by another process with `kill`,
/// `sigqueue` or `tgkill` (its `si_code` and sender), as opposed to one the kernel raised or
/// the init sent itself.
pub fn sent_by_another_process(code: i32, sender: u32) -> bool {
    matches!(code, libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL) && sender != std::process::id()
}

/// Dies of `sig` as if it had not been caught: default action, unblocked, raised. For a
/// synchronous signal that is not for the child (the init's own doing). Falls back to the
/// exit code a shell would report if the signal does not kill.
pub fn die_of(sig: i32) -> ! {
    // SAFETY: signal(2), sigprocmask(2), raise(3) and _exit(2) on plain integers and a set
    // built on the stack; nothing here touches memory owned by Rust code.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

/// Whether the parent already made us a child subreaper (the bit survives exec).
pub fn is_child_subreaper() -> bool {
    nix::sys::prctl::get_child_subreaper().unwrap_or(false)
}

/// dumb-init's terminal hand-off: give up the controlling terminal on stdin (`TIOCNOTTY`) so
/// that the child's new session can take it. Returns true when we held it as session
/// leader: the kernel then sends SIGHUP and SIGCONT to our process group, once, and those
/// are not for the child.
pub fn give_up_terminal() -> bool {
    // SAFETY: ioctl(TIOCNOTTY) takes no argument; getsid/getpid have no preconditions.
    unsafe { libc::ioctl(0, libc::TIOCNOTTY) == 0 && libc::getsid(0) == libc::getpid() }
}

/// Sends `sig` (a raw number, so realtime signals pass too) to `pid`; negative for a group.
pub fn send(pid: i32, sig: i32) -> nix::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let r = unsafe { libc::kill(pid, sig) };
    nix::errno::Errno::result(r).map(drop)
}

/// `waitpid(-1, WNOHANG)` with the raw status: `Some((pid, status))`, or None when no child
/// has changed state (or there are no children).
pub fn reap_one() -> Option<(i32, i32)> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer for the duration of the call.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    (pid > 0).then_some((pid, status))
}

/// Whether the calling process has any children left.
pub fn has_children() -> bool {
    // SAFETY: waitid with WNOWAIT only queries; the siginfo is a valid out-pointer.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
    }
}

/// Decodes a wait status into the exit code a shell reports: the code, or 128 + signal.
pub fn exit_code_of(status: i32) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}
