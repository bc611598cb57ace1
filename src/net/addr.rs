//! Addresses of `docker net`: CIDRs (IPv4 and IPv6), MACs, replica offsets, and the names and
//! MACs derived from a link's identity (stable across restarts, never random per start).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The kernel's limit on interface names (IFNAMSIZ less the terminating NUL).
pub(crate) const IFNAME_MAX: usize = 15;

/// An interface address with its prefix: `10.0.1.2/24`, `fd00::2/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Cidr {
    pub(crate) addr: IpAddr,
    pub(crate) prefix: u8,
}

impl Cidr {
    fn max_prefix(addr: &IpAddr) -> u8 {
        if addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn bits(addr: &IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u128::from(u32::from(*a)),
            IpAddr::V6(a) => u128::from(*a),
        }
    }

    fn mask(&self) -> u128 {
        let width = u32::from(Cidr::max_prefix(&self.addr));
        let host_bits = width - u32::from(self.prefix);
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    /// The address `k` further on, with the same prefix; None when it leaves the prefix (or
    /// the address space).
    pub(crate) fn offset(&self, k: u64) -> Option<Cidr> {
        let bits = Cidr::bits(&self.addr);
        let next = bits.checked_add(u128::from(k))?;
        if next & self.mask() != bits & self.mask() {
            return None;
        }
        let addr = match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(next).ok()?)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(next)),
        };
        Some(Cidr {
            addr,
            prefix: self.prefix,
        })
    }

    /// The last address before the broadcast address of an IPv4 prefix of /30 or wider, with
    /// the same prefix (`10.0.1.254/24` for `10.0.1.7/24`): the port forwarder's.
    pub(crate) fn last_host(&self) -> Option<Cidr> {
        if !self.addr.is_ipv4() || self.prefix > 30 {
            return None;
        }
        let last = (Cidr::bits(&self.addr) | !self.mask() & u128::from(u32::MAX)) - 1;
        Some(Cidr {
            addr: IpAddr::V4(Ipv4Addr::from(u32::try_from(last).ok()?)),
            prefix: self.prefix,
        })
    }

    /// Whether `other` is in this prefix.
    pub(crate) fn contains(&self, other: &IpAddr) -> bool {
        self.addr.is_ipv4() == other.is_ipv4()
            && Cidr::bits(&self.addr) & self.mask() == Cidr::bits(other) & self.mask()
    }

    /// The network address (`10.0.1.0/24`), for messages.
    pub(crate) fn network(&self) -> String {
        let bits = Cidr::bits(&self.addr) & self.mask();
        let addr = match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(bits as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
        };
        format!("{addr}/{}", self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| {
            format!("{s:?} is not an address with a prefix (CIDR, as 10.0.1.2/24)")
        })?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not a valid CIDR: {a:?} is not an IP address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= Cidr::max_prefix(&addr))
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a valid CIDR: the prefix must be 0 to {}",
                    Cidr::max_prefix(&addr)
                )
            })?;
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Mac(pub [u8; 6]);

impl Mac {
    fn to_u64(self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    }

    /// The MAC `k` further on; None past ff:ff:ff:ff:ff:ff.
    pub(crate) fn offset(&self, k: u64) -> Option<Mac> {
        let v = self.to_u64().checked_add(k)?;
        if v >> 48 != 0 {
            return None;
        }
        let b = v.to_be_bytes();
        Some(Mac([b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    pub(crate) fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The default MAC of a link: `c2:` (locally administered, unicast, as conlink's) and
    /// five bytes of a hash of what names the link, so it is the same at every start and
    /// every `up` (no stale ARP entries after a restart).
    pub(crate) fn derived(identity: &str) -> Mac {
        let h = Sha256::digest(identity.as_bytes());
        Mac([0xc2, h[0], h[1], h[2], h[3], h[4]])
    }
}

impl FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Mac, String> {
        let bad = || format!("{s:?} is not a MAC address (six hex pairs, as c2:00:00:00:00:01)");
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != 2 {
                return Err(bad());
            }
            out[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a name cannot be an interface name; None when it can.
pub(crate) fn ifname_error(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("an interface name cannot be empty".to_string())
    } else if name.len() > IFNAME_MAX {
        Some(format!(
            "{name:?} is {} bytes long; interface names have at most {IFNAME_MAX}",
            name.len()
        ))
    } else if name == "." || name == ".." {
        Some(format!("{name:?} is not a valid interface name"))
    } else if name.contains(|c: char| c == '/' || c == ':' || c.is_whitespace()) {
        Some(format!(
            "{name:?} is not a valid interface name (no '/', ':' or spaces)"
        ))
    } else {
        None
    }
}

/// The switch-side name of a link's veth: conlink's `<service>_<index>-<dev>` (or
/// `<container>-<dev>`) when that fits in 15 bytes; otherwise up to 6 bytes of it, `-`, and 8
/// hex digits of a hash of the whole (conlink fell back to a prefix of the container id,
/// which changes with every recreate and can collide).
pub(crate) fn outer_name(readable: &str) -> String {
    if ifname_error(readable).is_none() {
        return readable.to_string();
    }
    let h = Sha256::digest(readable.as_bytes());
    let stem: String = readable
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(6)
        .collect();
    format!("{stem}-{:02x}{:02x}{:02x}{:02x}", h[0], h[1], h[2], h[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_both_families() {
        let table: &[(&str, Result<&str, &str>)] = &[
            ("10.0.1.2/24", Ok("10.0.1.2/24")),
            ("fd00::2/64", Ok("fd00::2/64")),
            ("10.0.1.2", Err("not an address with a prefix")),
            ("10.0.1.300/24", Err("is not an IP address")),
            ("10.0.1.2/33", Err("the prefix must be 0 to 32")),
            ("fd00::2/129", Err("the prefix must be 0 to 128")),
            ("fd00::2/x", Err("the prefix must be 0 to 128")),
        ];
        for (input, want) in table {
            let got = input.parse::<Cidr>().map(|c| c.to_string());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(&g, w),
                (Err(g), Err(w)) => assert!(g.contains(w), "{input}: {g}"),
                (g, w) => panic!("{input}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn the_last_host_of_a_prefix() {
        for (input, want) in [
            ("10.0.1.7/24", Some("10.0.1.254/24")),
            ("10.0.0.1/8", Some("10.255.255.254/8")),
            ("192.168.5.1/30", Some("192.168.5.2/30")),
            ("192.168.5.1/31", None),
            ("fd00::1/64", None),
        ] {
            let c: Cidr = input.parse().unwrap();
            assert_eq!(
                c.last_host().map(|c| c.to_string()).as_deref(),
                want,
                "{input}"
            );
        }
        let c: Cidr = "10.0.1.7/24".parse().unwrap();
        assert!(c.contains(&"10.0.1.200".parse().unwrap()));
        assert!(!c.contains(&"10.0.2.1".parse().unwrap()));
        assert!(!c.contains(&"fd00::1".parse().unwrap()));
    }

    #[test]
    fn offsets_stay_in_the_prefix() {
        let c: Cidr = "10.0.1.253/24".parse().unwrap();
        assert_eq!(c.offset(1).unwrap().to_string(), "10.0.1.254/24");
        assert_eq!(c.offset(2).unwrap().to_string(), "10.0.1.255/24");
        assert_eq!(c.offset(3), None, "10.0.2.0 is outside 10.0.1.0/24");
        let v6: Cidr = "fd00::fffe/112".parse().unwrap();
        assert_eq!(v6.offset(1).unwrap().to_string(), "fd00::ffff/112");
        assert_eq!(v6.offset(2), None);
        let host: Cidr = "10.0.0.1/32".parse().unwrap();
        assert_eq!(host.offset(0), Some(host));
        assert_eq!(host.offset(1), None);
        let all: Cidr = "255.255.255.255/0".parse().unwrap();
        assert_eq!(all.offset(1), None, "past the address space");
        assert_eq!(c.network(), "10.0.1.0/24");
        assert_eq!(v6.network(), "fd00::/112");
    }

    #[test]
    fn macs_parse_offset_and_derive() {
        let m: Mac = "c2:00:00:00:00:ff".parse().unwrap();
        assert_eq!(m.offset(1).unwrap().to_string(), "c2:00:00:00:01:00");
        assert_eq!("ff:ff:ff:ff:ff:ff".parse::<Mac>().unwrap().offset(1), None);
        for bad in [
            "c2:00:00:00:00",
            "c2:00:00:00:00:0g",
            "c2-00-00-00-00-01",
            "c2:0:00:00:00:01",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
        assert!("01:00:5e:00:00:01".parse::<Mac>().unwrap().is_multicast());
        let a = Mac::derived("p/service:web/eth0");
        assert_eq!(a, Mac::derived("p/service:web/eth0"), "stable");
        assert_ne!(a, Mac::derived("p/service:web/eth1"));
        assert_eq!(a.0[0], 0xc2);
        assert!(!a.is_multicast());
    }

    #[test]
    fn interface_names() {
        assert_eq!(ifname_error("eth0"), None);
        assert_eq!(ifname_error("abcdefghijklmno"), None, "15 bytes fit");
        for bad in ["", "abcdefghijklmnop", "a/b", "a:b", "a b", ".", ".."] {
            assert!(ifname_error(bad).is_some(), "{bad:?}");
        }
        assert_eq!(outer_name("web_1-eth0"), "web_1-eth0");
        let long = outer_name("frontend-service_12-eth0");
        assert_eq!(long.len(), 15, "{long}");
        assert!(long.starts_with("fronte-"), "{long}");
        assert_eq!(long, outer_name("frontend-service_12-eth0"), "stable");
        assert_ne!(long, outer_name("frontend-service_13-eth0"));
        assert_eq!(ifname_error(&long), None);
    }
}
