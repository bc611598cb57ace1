//! The plugin's own IPv4 subnet pool for link networks. Every parent container gets an internal
//! network of its own, and the daemon's default pools run out after about 30 networks, so link
//! networks take explicit subnets from this pool instead (`DOCKER_LINK_POOL`, in dockerd's
//! `--default-address-pool` syntax), always clear of every subnet the daemon already uses.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// The pool used when `DOCKER_LINK_POOL` is unset: 1024 subnets of 62 hosts.
pub const DEFAULT_POOL: &str = "base=10.199.0.0/16,size=26";

/// Smaller subnets leave no room for a gateway and a container.
const MAX_SIZE: u8 = 30;

/// Why a subnet or a pool could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("invalid subnet \"{value}\": {reason}")]
    Subnet { value: String, reason: String },
    #[error("invalid address pool \"{value}\": {reason}")]
    Pool { value: String, reason: String },
    #[error("invalid DOCKER_LINK_POOL: {0}")]
    Env(Box<PoolError>),
}

/// An IPv4 network: its network address (host bits zero) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// The number of host bits; a hand-built prefix above 32 counts as 32.
    fn host_bits(&self) -> u32 {
        32 - u32::from(self.prefix.min(32))
    }

    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(self.host_bits()).unwrap_or(0)
    }

    /// The first address, as a number (u64 so that one past the last never overflows). Masked,
    /// so a hand-built value with host bits set still means its whole network.
    fn start(&self) -> u64 {
        u64::from(u32::from(self.addr) & self.mask())
    }

    /// The last address, as a number.
    fn end(&self) -> u64 {
        self.start() + self.size() - 1
    }

    /// Whether the two share at least one address. Two CIDR blocks are either disjoint or one
    /// contains the other, so comparing under the shorter prefix is enough.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let (wide, narrow) = if self.prefix <= other.prefix {
            (self, other)
        } else {
            (other, self)
        };
        wide.contains(narrow.addr)
    }

    /// Whether `ip` is one of the subnet's addresses (network and broadcast included).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = self.mask();
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }

    /// The first host address, which docker gives the network's gateway; a /32 has only the
    /// one address.
    pub fn gateway(&self) -> Ipv4Addr {
        if self.host_bits() == 0 {
            self.addr
        } else {
            Ipv4Addr::from(u32::from(self.addr) + 1)
        }
    }

    /// The number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << self.host_bits()
    }

    /// Like `parse`, but clears host bits instead of refusing them: for subnets read back from
    /// the daemon, since older engines accepted `--subnet 172.28.5.1/16` and report it as
    /// given, and such a network still occupies the whole /16.
    pub fn parse_normalizing(s: &str) -> Result<Subnet, PoolError> {
        let (mut subnet, network) = Subnet::parse_parts(s)?;
        subnet.addr = network;
        Ok(subnet)
    }

    /// The subnet as written, and its network address.
    fn parse_parts(s: &str) -> Result<(Subnet, Ipv4Addr), PoolError> {
        let bad = |reason: String| PoolError::Subnet {
            value: s.to_string(),
            reason,
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/PREFIX (10.199.0.0/16)".into()))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| bad(format!("\"{addr}\" is not an IPv4 address")))?;
        // Only the canonical spelling: no sign, no leading zero.
        let prefix = prefix
            .parse::<u8>()
            .ok()
            .filter(|n| *n <= 32 && n.to_string() == prefix)
            .ok_or_else(|| bad(format!("the prefix length \"{prefix}\" is not 0 to 32")))?;
        let subnet = Subnet { addr, prefix };
        Ok((subnet, Ipv4Addr::from(u32::from(addr) & subnet.mask())))
    }
}

impl FromStr for Subnet {
    type Err = PoolError;

    /// `A.B.C.D/N`. Host bits must be zero: like docker, a subnet that names a host is refused
    /// rather than silently widened.
    fn from_str(s: &str) -> Result<Subnet, PoolError> {
        let (subnet, network) = Subnet::parse_parts(s)?;
        if network != subnet.addr {
            return Err(PoolError::Subnet {
                value: s.to_string(),
                reason: format!(
                    "host bits are set (the network is {network}/{})",
                    subnet.prefix
                ),
            });
        }
        Ok(subnet)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Where link networks get their subnets: `base` cut into subnets of prefix length `size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub base: Subnet,
    pub size: u8,
}

impl FromStr for Pool {
    type Err = PoolError;

    /// dockerd's `--default-address-pool` syntax: `base=10.199.0.0/16,size=26`, keys in any
    /// order and of any case, as dockerd reads them.
    fn from_str(s: &str) -> Result<Pool, PoolError> {
        let bad = |reason: String| PoolError::Pool {
            value: s.to_string(),
            reason,
        };
        let mut base = None;
        let mut size = None;
        for field in s.split(',') {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| bad(format!("\"{field}\" is not KEY=VALUE")))?;
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "base" if base.is_some() => return Err(bad("base is given twice".into())),
                "size" if size.is_some() => return Err(bad("size is given twice".into())),
                "base" => base = Some(value.parse::<Subnet>()?),
                "size" => {
                    let n = Some(value)
                        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|v| v.parse::<u8>().ok())
                        .filter(|n| *n <= 32)
                        .ok_or_else(|| bad(format!("size \"{value}\" is not 0 to 32")))?;
                    size = Some(n);
                }
                _ => {
                    return Err(bad(format!(
                        "unknown key \"{key}\" (expected base and size)"
                    )))
                }
            }
        }
        let base = base.ok_or_else(|| bad("base is missing".into()))?;
        let size = size.ok_or_else(|| bad("size is missing".into()))?;
        if size < base.prefix {
            return Err(bad(format!(
                "size {size} is smaller than the base's prefix /{}",
                base.prefix
            )));
        }
        if size > MAX_SIZE {
            return Err(bad(format!(
                "size {size} leaves no room for containers (at most {MAX_SIZE})"
            )));
        }
        Ok(Pool { base, size })
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "base={},size={}", self.base, self.size)
    }
}

impl Pool {
    /// The `DOCKER_LINK_POOL` setting when given and not empty, else [`DEFAULT_POOL`].
    pub fn from_setting(value: Option<&str>) -> Result<Pool, PoolError> {
        match value.filter(|v| !v.trim().is_empty()) {
            Some(v) => v.parse().map_err(|e| PoolError::Env(Box::new(e))),
            None => DEFAULT_POOL.parse(),
        }
    }

    /// How many subnets the pool holds.
    pub fn capacity(&self) -> u64 {
        1u64 << self.size.saturating_sub(self.base.prefix)
    }

    /// The first subnet of the pool (in address order) that overlaps none of `used` (the subnets
    /// of every network the daemon has, and those of link networks being created concurrently).
    pub fn allocate(&self, used: &[Subnet]) -> Option<Subnet> {
        // Only a hand-built pool can break these; parsing refuses them.
        if self.size < self.base.prefix || self.size > 32 {
            return None;
        }
        let step = 1u64 << (32 - u32::from(self.size));
        let last = self.base.end();
        // With the used subnets in order of their start, one pass suffices: a candidate that
        // ends before the next used subnet starts is clear of all the later ones too, and a
        // used subnet the candidate runs into moves the candidate past that subnet's end. The
        // cost is sorting `used`, however large the base and however small its subnets.
        let mut used: Vec<(u64, u64)> = used
            .iter()
            .map(|u| (u.start(), u.end()))
            .filter(|&(start, end)| end >= self.base.start() && start <= last)
            .collect();
        used.sort_unstable();
        let mut candidate = self.base.start();
        for (start, end) in used {
            if end < candidate {
                continue;
            }
            if candidate + step - 1 < start {
                break;
            }
            // The base is aligned on `step`, so rounding up keeps candidates on subnet bounds.
            candidate = (end + 1).div_ceil(step) * step;
            if candidate + step - 1 > last {
                return None;
            }
        }
        let addr = u32::try_from(candidate).ok()?;
        Some(Subnet {
            addr: Ipv4Addr::from(addr),
            prefix: self.size,
        })
    }
}

impl Pool {
    /// Up to `n` free subnets, in address order. Writers that allocate at the same moment pick
    /// among them at random, so that they rarely collide (and retry when they do).
    pub fn free(&self, used: &[Subnet], n: usize) -> Vec<Subnet> {
        let mut used = used.to_vec();
        let mut out = Vec::new();
        while out.len() < n {
            let Some(s) = self.allocate(&used) else { break };
            used.push(s);
            out.push(s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_lists_the_first_subnets() {
        let p = pool("base=10.199.0.0/24,size=26");
        let got = p.free(&[net("10.199.0.64/26")], 8);
        assert_eq!(
            got,
            [
                net("10.199.0.0/26"),
                net("10.199.0.128/26"),
                net("10.199.0.192/26")
            ]
        );
    }

    fn net(s: &str) -> Subnet {
        s.parse().unwrap()
    }

    fn pool(s: &str) -> Pool {
        s.parse().unwrap()
    }

    #[test]
    fn subnet_parsing() {
        for (s, addr, prefix) in [
            ("10.0.0.0/8", [10, 0, 0, 0], 8),
            ("10.199.0.0/26", [10, 199, 0, 0], 26),
            ("10.199.0.64/26", [10, 199, 0, 64], 26),
            ("0.0.0.0/0", [0, 0, 0, 0], 0),
            ("192.168.1.7/32", [192, 168, 1, 7], 32),
        ] {
            let want = Subnet {
                addr: Ipv4Addr::from(addr),
                prefix,
            };
            assert_eq!(s.parse::<Subnet>(), Ok(want), "{s}");
            assert_eq!(want.to_string(), s);
        }
        for (s, reason) in [
            (
                "10.0.0.1/8",
                "host bits are set (the network is 10.0.0.0/8)",
            ),
            ("10.199.0.32/26", "the network is 10.199.0.0/26"),
            ("10.0.0.0", "expected ADDRESS/PREFIX"),
            ("", "expected ADDRESS/PREFIX"),
            ("10.0.0.0/33", "not 0 to 32"),
            ("10.0.0.0/", "not 0 to 32"),
            ("10.0.0.0/+8", "not 0 to 32"),
            ("10.0.0.0/008", "not 0 to 32"),
            ("10.0.0.0/08", "not 0 to 32"),
            ("10.0.0.0/8/8", "not 0 to 32"),
            ("10.0.0/8", "not an IPv4 address"),
            ("fd00::/8", "not an IPv4 address"),
            ("10.0.0.256/32", "not an IPv4 address"),
        ] {
            let err = s.parse::<Subnet>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid subnet \"{s}\": ")),
                "{err}"
            );
            assert!(err.contains(reason), "{s}: {err}");
        }
    }

    #[test]
    fn daemon_subnets_are_normalised() {
        for (s, want) in [
            ("172.28.5.1/16", "172.28.0.0/16"),
            ("172.28.0.0/16", "172.28.0.0/16"),
            ("10.199.0.77/26", "10.199.0.64/26"),
            ("1.2.3.4/0", "0.0.0.0/0"),
        ] {
            assert_eq!(Subnet::parse_normalizing(s), Ok(net(want)), "{s}");
        }
        for s in ["fd00::/64", "10.0.0.0", "10.0.0.0/33"] {
            assert!(Subnet::parse_normalizing(s).is_err(), "{s}");
        }
    }

    #[test]
    fn hand_built_subnets_mean_their_network() {
        let odd = Subnet {
            addr: Ipv4Addr::new(10, 199, 0, 5),
            prefix: 26,
        };
        assert!(odd.contains(Ipv4Addr::new(10, 199, 0, 63)));
        assert!(odd.overlaps(&net("10.199.0.0/28")));
        assert_eq!(
            pool(DEFAULT_POOL).allocate(&[odd]),
            Some(net("10.199.0.64/26"))
        );
    }

    #[test]
    fn subnet_geometry() {
        let s = net("10.199.0.64/26");
        assert_eq!(s.size(), 64);
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 199, 0, 65));
        assert!(s.contains(Ipv4Addr::new(10, 199, 0, 64)));
        assert!(s.contains(Ipv4Addr::new(10, 199, 0, 127)));
        assert!(!s.contains(Ipv4Addr::new(10, 199, 0, 128)));
        assert!(!s.contains(Ipv4Addr::new(10, 199, 0, 63)));
        assert_eq!(net("0.0.0.0/0").size(), 1 << 32);
        assert!(net("0.0.0.0/0").contains(Ipv4Addr::new(255, 255, 255, 255)));
        assert_eq!(net("1.2.3.4/32").size(), 1);
        assert_eq!(net("1.2.3.4/32").gateway(), Ipv4Addr::new(1, 2, 3, 4));
        assert!(net("1.2.3.4/32").contains(Ipv4Addr::new(1, 2, 3, 4)));
        assert!(!net("1.2.3.4/32").contains(Ipv4Addr::new(1, 2, 3, 5)));
    }

    #[test]
    fn overlaps() {
        for (a, b, want) in [
            ("10.0.0.0/8", "10.199.0.0/16", true),      // containing
            ("10.199.0.0/16", "10.0.0.0/8", true),      // contained
            ("10.199.0.0/26", "10.199.0.0/26", true),   // equal
            ("10.199.0.0/26", "10.199.0.32/27", true),  // upper half
            ("10.0.0.0/8", "11.0.0.0/8", false),        // adjacent
            ("10.199.0.0/26", "10.199.0.64/26", false), // adjacent
            ("10.199.0.64/26", "10.199.0.0/26", false), // adjacent, other way round
            ("10.199.0.0/26", "172.17.0.0/16", false),  // disjoint
            ("0.0.0.0/0", "255.255.255.255/32", true),
            ("1.2.3.4/32", "1.2.3.4/32", true),
            ("1.2.3.4/32", "1.2.3.5/32", false),
        ] {
            assert_eq!(net(a).overlaps(&net(b)), want, "{a} {b}");
            assert_eq!(net(b).overlaps(&net(a)), want, "{b} {a}");
        }
    }

    #[test]
    fn pool_parsing() {
        for (s, base, size) in [
            (DEFAULT_POOL, "10.199.0.0/16", 26),
            ("size=24,base=172.80.0.0/12", "172.80.0.0/12", 24),
            ("Base=10.0.0.0/8, SIZE=30", "10.0.0.0/8", 30),
            ("base=10.1.2.0/24,size=24", "10.1.2.0/24", 24),
        ] {
            let p = pool(s);
            assert_eq!(p.base, net(base), "{s}");
            assert_eq!(p.size, size, "{s}");
        }
        assert_eq!(pool(DEFAULT_POOL).to_string(), DEFAULT_POOL);
        assert_eq!(
            pool("size=24,base=172.80.0.0/12").to_string(),
            "base=172.80.0.0/12,size=24"
        );
        for (s, reason) in [
            (
                "base=10.199.0.0/16,size=8",
                "size 8 is smaller than the base's prefix /16",
            ),
            ("base=10.199.0.0/16,size=31", "size 31 leaves no room"),
            ("base=10.199.0.0/31,size=31", "size 31 leaves no room"),
            ("base=10.199.0.0/16", "size is missing"),
            ("size=26", "base is missing"),
            ("", "\"\" is not KEY=VALUE"),
            (
                "base=10.199.0.0/16,size=26,gateway=10.199.0.1",
                "unknown key \"gateway\"",
            ),
            ("base=10.199.0.0/16,size=26,size=24", "size is given twice"),
            (
                "base=10.199.0.0/16,base=10.0.0.0/8,size=26",
                "base is given twice",
            ),
            ("base=10.199.0.0/16,size=", "size \"\" is not 0 to 32"),
            ("base=10.199.0.0/16,size=x", "size \"x\" is not 0 to 32"),
            ("base=10.199.0.0/16,size=-1", "size \"-1\" is not 0 to 32"),
            ("base=10.199.0.0/16,size=26,", "\"\" is not KEY=VALUE"),
        ] {
            let err = s.parse::<Pool>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid address pool \"{s}\": ")),
                "{err}"
            );
            assert!(err.contains(reason), "{s}: {err}");
        }
        // A bad base is reported as the subnet it is.
        let err = "base=10.199.0.1/16,size=26".parse::<Pool>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid subnet \"10.199.0.1/16\": host bits are set (the network is 10.199.0.0/16)"
        );
        let err = "base=10.199.0.0/16;size=26".parse::<Pool>().unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid subnet \"10.199.0.0/16;size=26\""));
    }

    #[test]
    fn pool_setting() {
        assert_eq!(Pool::from_setting(None), Ok(pool(DEFAULT_POOL)));
        assert_eq!(Pool::from_setting(Some("")), Ok(pool(DEFAULT_POOL)));
        assert_eq!(
            Pool::from_setting(Some("base=10.0.0.0/8,size=24")),
            Ok(pool("base=10.0.0.0/8,size=24"))
        );
        let err = Pool::from_setting(Some("size=26")).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid DOCKER_LINK_POOL: invalid address pool \"size=26\": base is missing"
        );
    }

    #[test]
    fn capacity() {
        for (s, want) in [
            (DEFAULT_POOL, 1024),
            ("base=10.0.0.0/8,size=30", 1 << 22),
            ("base=10.1.2.0/24,size=24", 1),
            ("base=172.16.0.0/12,size=24", 4096),
            ("base=0.0.0.0/0,size=30", 1 << 30),
        ] {
            assert_eq!(pool(s).capacity(), want, "{s}");
        }
    }

    #[test]
    fn allocate() {
        let p = pool(DEFAULT_POOL);
        #[rustfmt::skip]
        let cases: &[(&[&str], Option<&str>)] = &[
            (&[], Some("10.199.0.0/26")),
            // the daemon's own networks, outside the base
            (&["172.17.0.0/16", "172.18.0.0/16", "10.200.0.0/16"], Some("10.199.0.0/26")),
            (&["10.199.0.0/26"], Some("10.199.0.64/26")),
            (&["10.199.0.64/26"], Some("10.199.0.0/26")),
            (&["10.199.0.0/26", "10.199.0.64/26", "10.199.0.192/26"], Some("10.199.0.128/26")),
            // smaller than a pool subnet: the whole pool subnet is skipped
            (&["10.199.0.16/28"], Some("10.199.0.64/26")),
            (&["10.199.0.60/30", "10.199.0.64/30"], Some("10.199.0.128/26")),
            // a large used block inside the base, in any order among others
            (&["10.199.0.0/20"], Some("10.199.16.0/26")),
            (&["10.199.16.0/26", "10.199.0.0/20", "10.199.0.0/26"], Some("10.199.16.64/26")),
            (&["10.199.0.0/17"], Some("10.199.128.0/26")),
            // overlapping used entries, one inside another
            (&["10.199.0.0/20", "10.199.4.0/24", "10.199.15.252/30"], Some("10.199.16.0/26")),
            // covering the base, or all of it in pieces
            (&["10.0.0.0/8"], None),
            (&["10.199.0.0/16"], None),
            (&["0.0.0.0/0"], None),
            (&["10.199.0.0/17", "10.199.128.0/17"], None),
            (&["10.199.0.0/17", "10.199.128.0/18", "10.199.192.0/18"], None),
            // everything but the last subnet
            (&["10.199.0.0/17", "10.199.128.0/18", "10.199.192.0/19", "10.199.224.0/20",
               "10.199.240.0/21", "10.199.248.0/22", "10.199.252.0/23", "10.199.254.0/24",
               "10.199.255.0/25", "10.199.255.128/26"], Some("10.199.255.192/26")),
        ];
        for (used, want) in cases {
            let used: Vec<Subnet> = used.iter().map(|s| net(s)).collect();
            assert_eq!(p.allocate(&used), want.map(net), "{used:?}");
        }
    }

    #[test]
    fn allocate_at_the_top_of_the_address_space() {
        let p = pool("base=255.255.255.0/24,size=26");
        assert_eq!(p.allocate(&[]), Some(net("255.255.255.0/26")));
        let used = [net("255.255.255.0/25"), net("255.255.255.128/26")];
        assert_eq!(p.allocate(&used), Some(net("255.255.255.192/26")));
        let used = [net("255.255.255.0/25"), net("255.255.255.192/26")];
        assert_eq!(p.allocate(&used), Some(net("255.255.255.128/26")));
        let used = [net("255.255.255.0/25"), net("255.255.255.128/25")];
        assert_eq!(p.allocate(&used), None);
        let single = pool("base=10.1.2.0/24,size=24");
        assert_eq!(single.allocate(&[]), Some(net("10.1.2.0/24")));
        assert_eq!(single.allocate(&[net("10.1.2.200/30")]), None);
    }

    #[test]
    fn five_hundred_parents() {
        let p = pool(DEFAULT_POOL);
        // the daemon's bridges, including one inside the base
        let mut used = vec![net("172.17.0.0/16"), net("10.199.64.0/20")];
        for _ in 0..500 {
            let s = p.allocate(&used).expect("the pool has room for 500");
            assert!(p.base.overlaps(&s) && p.base.contains(s.addr), "{s}");
            assert_eq!(s.prefix, 26);
            assert!(used.iter().all(|u| !u.overlaps(&s)), "{s}");
            used.push(s);
        }
        let mut mine: Vec<Subnet> = used[2..].to_vec();
        mine.sort();
        mine.dedup();
        assert_eq!(mine.len(), 500);
        // allocation is in address order, around the used /20
        assert_eq!(used[2], net("10.199.0.0/26"));
        assert_eq!(used[2 + 256], net("10.199.80.0/26"));
    }

    #[test]
    fn fills_the_pool_exactly() {
        let p = pool("base=10.199.0.0/22,size=26");
        let mut used = Vec::new();
        while let Some(s) = p.allocate(&used) {
            used.push(s);
        }
        assert_eq!(used.len() as u64, p.capacity());
    }

    #[test]
    fn allocate_is_fast_in_a_wide_pool() {
        // /8 of /30s: four million candidates; skipping used blocks keeps this instant.
        let p = pool("base=10.0.0.0/8,size=30");
        let mut used = vec![net("10.0.0.0/9")];
        used.extend((0..500u32).map(|i| Subnet {
            addr: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 0)) + 4 * i),
            prefix: 30,
        }));
        assert_eq!(p.allocate(&used), Some(net("10.128.7.208/30")));
    }
}
