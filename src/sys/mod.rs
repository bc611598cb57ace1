//! The only place for `unsafe`, raw syscalls through nix, and `setns` (on dedicated OS
//! threads only). Everything above this module is safe code.

pub mod process;

pub mod memory;

pub mod probe;

pub mod netns;

pub mod nft;

pub mod ethtool;

pub mod qdisc;

pub mod pinned;

/// Errors callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} needs root or CAP_NET_ADMIN")]
    NeedRoot { what: String },
    #[error("{what}: {source}")]
    Os {
        what: String,
        #[source]
        source: nix::Error,
    },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NeedRoot { .. } => Some("run it with sudo, or as root".to_string()),
            Error::Os { .. } => None,
        }
    }
}

/// Waits for SIGTERM, SIGINT or SIGHUP and exits cleanly: the registry container's whole job
/// (as PID 1 it would otherwise ignore SIGTERM and make `docker stop` wait its timeout).
pub fn idle() -> std::process::ExitCode {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    if nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).is_err() {
        return std::process::ExitCode::FAILURE;
    }
    match set.wait() {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::FAILURE,
    }
}

extern "C" fn ignore(_: nix::libc::c_int) {}

/// While a docker CLI child owns the terminal (`docker start -a`), the terminal's signals
/// are its to handle: we catch them with a no-op handler so that we live to report its exit
/// code. A handler, unlike SIG_IGN, is reset to the default in the child by exec.
pub fn shield_from_terminal_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(ignore),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGHUP,
    ] {
        // SAFETY: the handler does nothing, so it is async-signal-safe, and replacing the
        // disposition of these signals affects no other code of this process.
        let _ = unsafe { sigaction(s, &action) };
    }
}
