//! The only place for `unsafe`, raw syscalls through nix, and `setns` (on dedicated OS
//! threads only). Everything above this module is safe code.

pub mod process;

pub mod probe;

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
