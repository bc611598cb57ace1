//! Offload features of an interface, as `ethtool --offload DEV FEATURE on|off` sets them: the
//! ethtool ioctl (`SIOCETHTOOL`) on a datagram socket made in the calling thread's network
//! namespace (callers are `sys::netns` threads). The legacy get/set commands cover the
//! features conlink's configurations use; they work on every kernel that has ethtool at all.

use std::os::fd::AsRawFd;

/// An offload feature by ethtool's short name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Offload {
    /// Receive checksumming.
    Rx,
    /// Transmit checksumming (off also turns off what depends on it: sg, tso).
    Tx,
    /// Scatter-gather.
    Sg,
    /// TCP segmentation offload.
    Tso,
    /// Generic segmentation offload.
    Gso,
    /// Generic receive offload.
    Gro,
}

impl Offload {
    pub const ALL: [Offload; 6] = [
        Offload::Rx,
        Offload::Tx,
        Offload::Sg,
        Offload::Tso,
        Offload::Gso,
        Offload::Gro,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Offload::Rx => "rx",
            Offload::Tx => "tx",
            Offload::Sg => "sg",
            Offload::Tso => "tso",
            Offload::Gso => "gso",
            Offload::Gro => "gro",
        }
    }

    pub fn parse(s: &str) -> Option<Offload> {
        Offload::ALL.into_iter().find(|o| o.name() == s)
    }

    /// The ioctl's (get, set) commands (`linux/ethtool.h`).
    fn commands(self) -> (u32, u32) {
        match self {
            Offload::Rx => (0x14, 0x15),
            Offload::Tx => (0x16, 0x17),
            Offload::Sg => (0x18, 0x19),
            Offload::Tso => (0x1e, 0x1f),
            Offload::Gso => (0x23, 0x24),
            Offload::Gro => (0x2b, 0x2c),
        }
    }
}

/// `struct ethtool_value`.
#[repr(C)]
struct Value {
    cmd: u32,
    data: u32,
}

fn call(dev: &str, cmd: u32, data: u32) -> Result<u32, super::Error> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let what = || format!("ethtool on {dev}");
    let name = dev.as_bytes();
    if name.is_empty() || name.len() >= nix::libc::IFNAMSIZ || name.contains(&0) {
        return Err(super::Error::Os {
            what: what(),
            source: nix::Error::EINVAL,
        });
    }
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|source| super::Error::Os {
        what: what(),
        source,
    })?;
    let mut value = Value { cmd, data };
    // SAFETY: ifreq is plain old data, for which all-zero bytes are a valid value.
    let mut ifr: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name) {
        *d = *s as nix::libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut value as *mut Value).cast();
    // SAFETY: the socket is open for the whole call; ifr names the interface (NUL-terminated:
    // checked shorter than IFNAMSIZ, the rest zeroed) and points at `value`, which outlives
    // the call and has the layout SIOCETHTOOL reads and writes for these commands.
    let r = unsafe {
        nix::libc::ioctl(
            sock.as_raw_fd(),
            nix::libc::SIOCETHTOOL as _,
            &mut ifr as *mut nix::libc::ifreq,
        )
    };
    if r < 0 {
        let source = nix::Error::last();
        return Err(if source == nix::Error::EPERM {
            super::Error::NeedRoot { what: what() }
        } else {
            super::Error::Os {
                what: what(),
                source,
            }
        });
    }
    Ok(value.data)
}

/// Turns `feature` of `dev` on or off.
pub fn set(dev: &str, feature: Offload, on: bool) -> Result<(), super::Error> {
    call(dev, feature.commands().1, u32::from(on)).map(|_| ())
}

/// Whether `feature` of `dev` is on.
pub fn get(dev: &str, feature: Offload) -> Result<bool, super::Error> {
    call(dev, feature.commands().0, 0).map(|d| d != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for o in Offload::ALL {
            assert_eq!(Offload::parse(o.name()), Some(o));
        }
        assert_eq!(Offload::parse("lro"), None);
    }

    #[test]
    fn a_missing_interface_is_named() {
        let e = get("dl-no-such0", Offload::Tx).unwrap_err().to_string();
        assert!(e.starts_with("ethtool on dl-no-such0: "), "{e}");
        let e = set("", Offload::Tx, false).unwrap_err().to_string();
        assert!(e.contains("EINVAL"), "{e}");
    }

    /// Loopback is in every namespace; reading a feature needs no privilege.
    #[test]
    fn reads_loopback() {
        assert!(get("lo", Offload::Tx).is_ok());
    }
}
