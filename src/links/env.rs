//! The legacy link environment variables (`<ALIAS>_PORT`, `<ALIAS>_PORT_<n>_<PROTO>…`,
//! `<ALIAS>_NAME`, `<ALIAS>_ENV_<K>`), computed by the plugin itself because Engine 29 stopped
//! setting them. Both generations of the engine's algorithm are here: the current one (Engine ≥ 28)
//! and the old one (Engine ≤ 27, `--link-env=v27`), which differ in port order and in what counts
//! as a port range. See reference/links.md.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// Why a `--link-env` value or an exposed port could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("unknown link env algorithm \"{0}\" (choose v28, current or v27)")]
    Algorithm(String),
    #[error("invalid port \"{value}\": {reason}")]
    Port { value: String, reason: &'static str },
}

/// Which engine generation's variables to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// Engine ≥ 28: TCP ports first, ranges are runs of one protocol.
    #[default]
    V28,
    /// Engine ≤ 27: ports by number, ranges of three or more regardless of protocol.
    V27,
}

impl FromStr for Algorithm {
    type Err = EnvError;

    fn from_str(s: &str) -> Result<Algorithm, EnvError> {
        match s.to_ascii_lowercase().as_str() {
            "v28" | "current" => Ok(Algorithm::V28),
            "v27" => Ok(Algorithm::V27),
            _ => Err(EnvError::Algorithm(s.to_string())),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::V28 => "v28",
            Algorithm::V27 => "v27",
        })
    }
}

/// An exposed port of the child, as a key of docker's `ExposedPorts`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    pub number: u16,
    /// Always lower-case (`tcp`, `udp`, `sctp`).
    pub proto: String,
}

impl Port {
    fn is_tcp(&self) -> bool {
        self.proto == "tcp"
    }

    /// `<num>_<PROTO>`, the part of a variable name that identifies the port.
    fn key(&self) -> String {
        format!("{}_{}", self.number, self.proto.to_ascii_uppercase())
    }

    fn url(&self, ip: &str) -> String {
        format!("{}://{}:{}", self.proto, ip, self.number)
    }
}

impl FromStr for Port {
    type Err = EnvError;

    /// Docker's own key syntax: a missing or empty protocol means tcp.
    fn from_str(s: &str) -> Result<Port, EnvError> {
        let bad = |reason| EnvError::Port {
            value: s.to_string(),
            reason,
        };
        let (num, proto) = match s.split_once('/') {
            Some((n, p)) => (n, if p.is_empty() { "tcp" } else { p }),
            None => (s, "tcp"),
        };
        if num.is_empty() {
            return Err(bad("no port number"));
        }
        if num.contains('-') {
            return Err(bad("a range is not a single port"));
        }
        // `u16::from_str` alone would take "+80".
        if !num.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the port number is not a number"));
        }
        let number = num
            .parse::<u16>()
            .map_err(|_| bad("the port number is above 65535"))?;
        // The protocol ends up in variable names, so only plain names are safe.
        if !proto.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("the protocol is not a plain name (tcp, udp, sctp)"));
        }
        Ok(Port {
            number,
            proto: proto.to_ascii_lowercase(),
        })
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.proto)
    }
}

/// The prefix for an alias: upper-case, '-' → '_', '.' kept.
pub fn prefix(alias: &str) -> String {
    alias
        .chars()
        .map(|c| {
            if c == '-' {
                return '_';
            }
            // The engine upper-cases one character at a time (Go's simple case mapping), so a
            // character whose upper case is several characters stays as it is.
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// The variables a link gives, as `KEY=VALUE` strings in a stable order (the order the
/// algorithm produces).
///
/// `path` is the link path `/<parent>/<alias>` (its last element is the alias), `ip` the child's
/// address on the link network, `ports` the child's exposed ports and `child_env` its
/// `Config.Env`.
pub fn link_env(
    path: &str,
    ip: &str,
    ports: &[Port],
    child_env: &[String],
    alg: Algorithm,
) -> Vec<String> {
    let alias = path.rsplit('/').next().unwrap_or(path);
    let a = prefix(alias);
    // Exposed ports are a set in docker; a duplicate here would only repeat variables.
    let mut ports = ports.to_vec();
    ports.sort();
    ports.dedup();

    let mut env = match alg {
        Algorithm::V28 => ports_v28(&a, ip, ports),
        Algorithm::V27 => ports_v27(&a, ip, ports),
    };
    env.push(format!("{a}_NAME={path}"));
    for entry in child_env {
        let Some((k, v)) = entry.split_once('=') else {
            continue;
        };
        // Build-time noise, not the child's configuration.
        if k == "HOME" || k == "PATH" {
            continue;
        }
        env.push(format!("{a}_ENV_{k}={v}"));
    }
    env
}

fn per_port(env: &mut Vec<String>, a: &str, ip: &str, p: &Port) {
    let name = format!("{a}_PORT_{}", p.key());
    env.push(format!("{name}={}", p.url(ip)));
    env.push(format!("{name}_ADDR={ip}"));
    env.push(format!("{name}_PORT={}", p.number));
    env.push(format!("{name}_PROTO={}", p.proto));
}

/// The range variables; the start and end may carry different protocols under the old algorithm.
fn range(env: &mut Vec<String>, a: &str, ip: &str, start: &Port, end: &Port) {
    let s = format!("{a}_PORT_{}", start.number);
    let start_proto = start.proto.to_ascii_uppercase();
    let end_proto = end.proto.to_ascii_uppercase();
    env.push(format!("{s}_{start_proto}_START={}", start.url(ip)));
    env.push(format!("{s}_{start_proto}_PORT_START={}", start.number));
    env.push(format!("{s}_{end_proto}_END={}", end.url(ip)));
    env.push(format!("{s}_{end_proto}_PORT_END={}", end.number));
}

fn ports_v28(a: &str, ip: &str, mut ports: Vec<Port>) -> Vec<String> {
    ports.sort_by(|x, y| {
        let order = |p: &Port| (!p.is_tcp(), p.proto.clone(), p.number);
        order(x).cmp(&order(y))
    });
    let mut env = Vec::new();
    let Some(first) = ports.first() else {
        return env;
    };
    env.push(format!("{a}_PORT={}", first.url(ip)));
    // A run is closed (and its range emitted) by the port that breaks it, after that port's own
    // variables, or by the last port: the engine's order, kept so the output is stable.
    let mut start = 0;
    for (i, p) in ports.iter().enumerate() {
        per_port(&mut env, a, ip, p);
        let extends = i > 0 && {
            let prev = &ports[i - 1];
            prev.proto == p.proto && u32::from(prev.number) + 1 == u32::from(p.number)
        };
        if extends && i + 1 < ports.len() {
            continue;
        }
        let end = if extends { i } else { i.saturating_sub(1) };
        if end > start {
            range(&mut env, a, ip, &ports[start], &ports[end]);
        }
        start = if extends { i + 1 } else { i };
    }
    env
}

fn ports_v27(a: &str, ip: &str, mut ports: Vec<Port>) -> Vec<String> {
    // The engine put tcp first among equal numbers and left the rest to chance (map order);
    // protocol name decides here so the output never changes between runs.
    ports.sort_by(|x, y| {
        let order = |p: &Port| (p.number, !p.is_tcp(), p.proto.clone());
        order(x).cmp(&order(y))
    });
    let mut env = Vec::new();
    let Some(first) = ports.first() else {
        return env;
    };
    env.push(format!("{a}_PORT={}", first.url(ip)));
    let mut i = 0;
    while i < ports.len() {
        let j = run_end_v27(&ports, i);
        // Three ports or more; the engine's range block also repeated the start port's `_ADDR`
        // and `_PROTO`, identical keys and values to the per-port ones below, so they are left
        // out here.
        if j >= i + 2 {
            range(&mut env, a, ip, &ports[i], &ports[j]);
            i = j + 1;
        } else {
            i += 1;
        }
    }
    for p in &ports {
        per_port(&mut env, a, ip, p);
    }
    env
}

/// The last index of the run starting at `i`, counted as Engine ≤ 27 did: the expected number
/// grows by one per port, whatever the port's number or protocol, so ports sharing a number
/// stretch the run (80/tcp, 80/udp, 82/tcp is a "range" there). Images written against those
/// engines saw exactly this, so it is reproduced rather than fixed.
fn run_end_v27(ports: &[Port], i: usize) -> usize {
    let start = u32::from(ports[i].number);
    let more = ports[i + 1..]
        .iter()
        .zip(1u32..)
        .take_while(|(p, steps)| u32::from(p.number) <= start + steps)
        .count();
    i + more
}

/// Merge: `user` entries (the user's own `-e`, `K=V` or bare `K`) win over link entries with the
/// same key; returns the link entries not overridden, in their order, and nothing else (the
/// caller keeps the user's own separately).
pub fn without_overridden(link: Vec<String>, user: &[String]) -> Vec<String> {
    fn key(entry: &str) -> &str {
        entry.split_once('=').map_or(entry, |(k, _)| k)
    }
    let mine: HashSet<&str> = user.iter().map(|e| key(e)).collect();
    link.into_iter()
        .filter(|e| !mine.contains(key(e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: &str = "172.0.17.2";

    fn ports(specs: &[&str]) -> Vec<Port> {
        specs.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    struct Case {
        name: &'static str,
        path: &'static str,
        ports: &'static [&'static str],
        env: &'static [&'static str],
        alg: Algorithm,
        want: &'static [&'static str],
    }

    const CASE_A: &[&str] = &[
        "DOCKER_1_NAME=/db/docker-1",
        "DOCKER_1_PORT=tcp://172.0.17.2:6379",
        "DOCKER_1_PORT_6379_TCP=tcp://172.0.17.2:6379",
        "DOCKER_1_PORT_6379_TCP_ADDR=172.0.17.2",
        "DOCKER_1_PORT_6379_TCP_PORT=6379",
        "DOCKER_1_PORT_6379_TCP_PROTO=tcp",
    ];

    const CASE_B: &[&str] = &[
        "DOCKER_ENV_PASSWORD=gordon",
        "DOCKER_NAME=/db/docker",
        "DOCKER_PORT=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6379_TCP=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6379_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6379_TCP_PORT=6379",
        "DOCKER_PORT_6379_TCP_PROTO=tcp",
    ];

    const CASE_C_PORTS: &[&str] = &["6300/udp", "6379/tcp", "6380/tcp", "6381/tcp", "6382/udp"];

    const CASE_C_V28: &[&str] = &[
        "DOCKER_ENV_PASSWORD=gordon",
        "DOCKER_NAME=/db/docker",
        "DOCKER_PORT=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6300_UDP=udp://172.0.17.2:6300",
        "DOCKER_PORT_6300_UDP_ADDR=172.0.17.2",
        "DOCKER_PORT_6300_UDP_PORT=6300",
        "DOCKER_PORT_6300_UDP_PROTO=udp",
        "DOCKER_PORT_6379_TCP=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6379_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6379_TCP_END=tcp://172.0.17.2:6381",
        "DOCKER_PORT_6379_TCP_PORT=6379",
        "DOCKER_PORT_6379_TCP_PORT_END=6381",
        "DOCKER_PORT_6379_TCP_PORT_START=6379",
        "DOCKER_PORT_6379_TCP_PROTO=tcp",
        "DOCKER_PORT_6379_TCP_START=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6380_TCP=tcp://172.0.17.2:6380",
        "DOCKER_PORT_6380_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6380_TCP_PORT=6380",
        "DOCKER_PORT_6380_TCP_PROTO=tcp",
        "DOCKER_PORT_6381_TCP=tcp://172.0.17.2:6381",
        "DOCKER_PORT_6381_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6381_TCP_PORT=6381",
        "DOCKER_PORT_6381_TCP_PROTO=tcp",
        "DOCKER_PORT_6382_UDP=udp://172.0.17.2:6382",
        "DOCKER_PORT_6382_UDP_ADDR=172.0.17.2",
        "DOCKER_PORT_6382_UDP_PORT=6382",
        "DOCKER_PORT_6382_UDP_PROTO=udp",
    ];

    const CASE_C_V27: &[&str] = &[
        "DOCKER_ENV_PASSWORD=gordon",
        "DOCKER_NAME=/db/docker",
        "DOCKER_PORT=udp://172.0.17.2:6300",
        "DOCKER_PORT_6300_UDP=udp://172.0.17.2:6300",
        "DOCKER_PORT_6300_UDP_ADDR=172.0.17.2",
        "DOCKER_PORT_6300_UDP_PORT=6300",
        "DOCKER_PORT_6300_UDP_PROTO=udp",
        "DOCKER_PORT_6379_TCP=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6379_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6379_TCP_PORT=6379",
        "DOCKER_PORT_6379_TCP_PORT_START=6379",
        "DOCKER_PORT_6379_TCP_PROTO=tcp",
        "DOCKER_PORT_6379_TCP_START=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6379_UDP_END=udp://172.0.17.2:6382",
        "DOCKER_PORT_6379_UDP_PORT_END=6382",
        "DOCKER_PORT_6380_TCP=tcp://172.0.17.2:6380",
        "DOCKER_PORT_6380_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6380_TCP_PORT=6380",
        "DOCKER_PORT_6380_TCP_PROTO=tcp",
        "DOCKER_PORT_6381_TCP=tcp://172.0.17.2:6381",
        "DOCKER_PORT_6381_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6381_TCP_PORT=6381",
        "DOCKER_PORT_6381_TCP_PROTO=tcp",
        "DOCKER_PORT_6382_UDP=udp://172.0.17.2:6382",
        "DOCKER_PORT_6382_UDP_ADDR=172.0.17.2",
        "DOCKER_PORT_6382_UDP_PORT=6382",
        "DOCKER_PORT_6382_UDP_PROTO=udp",
    ];

    const CASE_D: &[&str] = &[
        "DOCKER_ENV_PASSWORD=gordon",
        "DOCKER_NAME=/db/docker",
        "DOCKER_PORT=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6379_TCP=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6379_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6379_TCP_END=tcp://172.0.17.2:6381",
        "DOCKER_PORT_6379_TCP_PORT=6379",
        "DOCKER_PORT_6379_TCP_PORT_END=6381",
        "DOCKER_PORT_6379_TCP_PORT_START=6379",
        "DOCKER_PORT_6379_TCP_PROTO=tcp",
        "DOCKER_PORT_6379_TCP_START=tcp://172.0.17.2:6379",
        "DOCKER_PORT_6380_TCP=tcp://172.0.17.2:6380",
        "DOCKER_PORT_6380_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6380_TCP_PORT=6380",
        "DOCKER_PORT_6380_TCP_PROTO=tcp",
        "DOCKER_PORT_6381_TCP=tcp://172.0.17.2:6381",
        "DOCKER_PORT_6381_TCP_ADDR=172.0.17.2",
        "DOCKER_PORT_6381_TCP_PORT=6381",
        "DOCKER_PORT_6381_TCP_PROTO=tcp",
    ];

    const CASE_E: &[&str] = &["DB_ENV_A=1", "DB_ENV_B=x=y", "DB_NAME=/web/db"];

    fn conformance() -> Vec<Case> {
        let mut cases = Vec::new();
        for alg in [Algorithm::V28, Algorithm::V27] {
            cases.push(Case {
                name: "A",
                path: "/db/docker-1",
                ports: &["6379/tcp"],
                env: &[],
                alg,
                want: CASE_A,
            });
            cases.push(Case {
                name: "B",
                path: "/db/docker",
                ports: &["6379/tcp"],
                env: &["PASSWORD=gordon"],
                alg,
                want: CASE_B,
            });
            cases.push(Case {
                name: "C",
                path: "/db/docker",
                ports: CASE_C_PORTS,
                env: &["PASSWORD=gordon"],
                alg,
                want: match alg {
                    Algorithm::V28 => CASE_C_V28,
                    Algorithm::V27 => CASE_C_V27,
                },
            });
            cases.push(Case {
                name: "D",
                path: "/db/docker",
                ports: &["6379/tcp", "6380/tcp", "6381/tcp"],
                env: &["PASSWORD=gordon"],
                alg,
                want: CASE_D,
            });
            cases.push(Case {
                name: "E",
                path: "/web/db",
                ports: &[],
                env: &["A=1", "HOME=/root", "PATH=/bin", "NOEQ", "B=x=y"],
                alg,
                want: CASE_E,
            });
        }
        cases
    }

    #[test]
    fn conformance_cases() {
        for c in conformance() {
            let got = link_env(c.path, IP, &ports(c.ports), &strings(c.env), c.alg);
            assert_eq!(sorted(got), strings(c.want), "case {} ({})", c.name, c.alg);
        }
    }

    #[test]
    fn conformance_counts() {
        assert_eq!(CASE_A.len(), 6);
        assert_eq!(CASE_B.len(), 7);
        assert_eq!(CASE_C_V28.len(), 27);
        assert_eq!(CASE_C_V27.len(), 27);
        assert_eq!(CASE_D.len(), 19);
        assert_eq!(CASE_E.len(), 3);
    }

    #[test]
    fn input_order_does_not_matter() {
        let mut reversed = ports(CASE_C_PORTS);
        reversed.reverse();
        for alg in [Algorithm::V28, Algorithm::V27] {
            let a = link_env("/db/docker", IP, &ports(CASE_C_PORTS), &[], alg);
            let b = link_env("/db/docker", IP, &reversed, &[], alg);
            assert_eq!(a, b, "{alg}");
        }
    }

    #[test]
    fn v28_order_is_the_engines() {
        let got = link_env(
            "/db/docker",
            IP,
            &ports(&["6381/tcp", "6379/tcp", "6380/tcp", "53/udp"]),
            &strings(&["X=1"]),
            Algorithm::V28,
        );
        let want = [
            "DOCKER_PORT=tcp://172.0.17.2:6379",
            "DOCKER_PORT_6379_TCP=tcp://172.0.17.2:6379",
            "DOCKER_PORT_6379_TCP_ADDR=172.0.17.2",
            "DOCKER_PORT_6379_TCP_PORT=6379",
            "DOCKER_PORT_6379_TCP_PROTO=tcp",
            "DOCKER_PORT_6380_TCP=tcp://172.0.17.2:6380",
            "DOCKER_PORT_6380_TCP_ADDR=172.0.17.2",
            "DOCKER_PORT_6380_TCP_PORT=6380",
            "DOCKER_PORT_6380_TCP_PROTO=tcp",
            "DOCKER_PORT_6381_TCP=tcp://172.0.17.2:6381",
            "DOCKER_PORT_6381_TCP_ADDR=172.0.17.2",
            "DOCKER_PORT_6381_TCP_PORT=6381",
            "DOCKER_PORT_6381_TCP_PROTO=tcp",
            "DOCKER_PORT_53_UDP=udp://172.0.17.2:53",
            "DOCKER_PORT_53_UDP_ADDR=172.0.17.2",
            "DOCKER_PORT_53_UDP_PORT=53",
            "DOCKER_PORT_53_UDP_PROTO=udp",
            "DOCKER_PORT_6379_TCP_START=tcp://172.0.17.2:6379",
            "DOCKER_PORT_6379_TCP_PORT_START=6379",
            "DOCKER_PORT_6379_TCP_END=tcp://172.0.17.2:6381",
            "DOCKER_PORT_6379_TCP_PORT_END=6381",
            "DOCKER_NAME=/db/docker",
            "DOCKER_ENV_X=1",
        ];
        assert_eq!(got, strings(&want));
    }

    #[test]
    fn v27_order_is_the_engines() {
        let got = link_env(
            "/p/r",
            IP,
            &ports(&["3/tcp", "1/tcp", "2/tcp"]),
            &[],
            Algorithm::V27,
        );
        let want = [
            "R_PORT=tcp://172.0.17.2:1",
            "R_PORT_1_TCP_START=tcp://172.0.17.2:1",
            "R_PORT_1_TCP_PORT_START=1",
            "R_PORT_1_TCP_END=tcp://172.0.17.2:3",
            "R_PORT_1_TCP_PORT_END=3",
            "R_PORT_1_TCP=tcp://172.0.17.2:1",
            "R_PORT_1_TCP_ADDR=172.0.17.2",
            "R_PORT_1_TCP_PORT=1",
            "R_PORT_1_TCP_PROTO=tcp",
            "R_PORT_2_TCP=tcp://172.0.17.2:2",
            "R_PORT_2_TCP_ADDR=172.0.17.2",
            "R_PORT_2_TCP_PORT=2",
            "R_PORT_2_TCP_PROTO=tcp",
            "R_PORT_3_TCP=tcp://172.0.17.2:3",
            "R_PORT_3_TCP_ADDR=172.0.17.2",
            "R_PORT_3_TCP_PORT=3",
            "R_PORT_3_TCP_PROTO=tcp",
            "R_NAME=/p/r",
        ];
        assert_eq!(got, strings(&want));
    }

    /// Only the range and default-port variables, which is where the algorithms differ.
    fn shape(path: &str, specs: &[&str], alg: Algorithm) -> Vec<String> {
        let env = link_env(path, IP, &ports(specs), &[], alg);
        sorted(
            env.into_iter()
                .filter(|e| {
                    let k = e.split_once('=').unwrap().0;
                    k.ends_with("_START") || k.ends_with("_END") || k == "R_PORT"
                })
                .collect(),
        )
    }

    #[test]
    fn ranges_and_default_port() {
        use Algorithm::{V27, V28};
        #[rustfmt::skip]
        let cases: &[(&[&str], Algorithm, &[&str])] = &[
            // two ports: a range now, nothing before
            (&["80/tcp", "81/tcp"], V28, &["R_PORT=tcp://172.0.17.2:80",
                "R_PORT_80_TCP_END=tcp://172.0.17.2:81", "R_PORT_80_TCP_PORT_END=81",
                "R_PORT_80_TCP_PORT_START=80", "R_PORT_80_TCP_START=tcp://172.0.17.2:80"]),
            (&["80/tcp", "81/tcp"], V27, &["R_PORT=tcp://172.0.17.2:80"]),
            // a run across protocols: nothing now, a range before
            (&["80/tcp", "81/udp", "82/tcp"], V28, &["R_PORT=tcp://172.0.17.2:80"]),
            (&["80/tcp", "81/udp", "82/tcp"], V27, &["R_PORT=tcp://172.0.17.2:80",
                "R_PORT_80_TCP_END=tcp://172.0.17.2:82", "R_PORT_80_TCP_PORT_END=82",
                "R_PORT_80_TCP_PORT_START=80", "R_PORT_80_TCP_START=tcp://172.0.17.2:80"]),
            // two runs of one protocol each, sctp sorts before udp
            (&["53/udp", "54/udp", "7/sctp", "8/sctp"], V28, &["R_PORT=sctp://172.0.17.2:7",
                "R_PORT_53_UDP_END=udp://172.0.17.2:54", "R_PORT_53_UDP_PORT_END=54",
                "R_PORT_53_UDP_PORT_START=53", "R_PORT_53_UDP_START=udp://172.0.17.2:53",
                "R_PORT_7_SCTP_END=sctp://172.0.17.2:8", "R_PORT_7_SCTP_PORT_END=8",
                "R_PORT_7_SCTP_PORT_START=7", "R_PORT_7_SCTP_START=sctp://172.0.17.2:7"]),
            (&["53/udp", "54/udp", "7/sctp", "8/sctp"], V27, &["R_PORT=sctp://172.0.17.2:7"]),
            // a broken run, then a run closed by the last port
            (&["1/tcp", "2/tcp", "5/tcp", "6/tcp", "7/tcp"], V28, &["R_PORT=tcp://172.0.17.2:1",
                "R_PORT_1_TCP_END=tcp://172.0.17.2:2", "R_PORT_1_TCP_PORT_END=2",
                "R_PORT_1_TCP_PORT_START=1", "R_PORT_1_TCP_START=tcp://172.0.17.2:1",
                "R_PORT_5_TCP_END=tcp://172.0.17.2:7", "R_PORT_5_TCP_PORT_END=7",
                "R_PORT_5_TCP_PORT_START=5", "R_PORT_5_TCP_START=tcp://172.0.17.2:5"]),
            (&["1/tcp", "2/tcp", "5/tcp", "6/tcp", "7/tcp"], V27, &["R_PORT=tcp://172.0.17.2:1",
                "R_PORT_5_TCP_END=tcp://172.0.17.2:7", "R_PORT_5_TCP_PORT_END=7",
                "R_PORT_5_TCP_PORT_START=5", "R_PORT_5_TCP_START=tcp://172.0.17.2:5"]),
            // the top of the port space does not wrap around
            (&["65534/tcp", "65535/tcp", "0/tcp"], V28, &["R_PORT=tcp://172.0.17.2:0",
                "R_PORT_65534_TCP_END=tcp://172.0.17.2:65535", "R_PORT_65534_TCP_PORT_END=65535",
                "R_PORT_65534_TCP_PORT_START=65534",
                "R_PORT_65534_TCP_START=tcp://172.0.17.2:65534"]),
            // the old count: ports sharing a number stretch the run, and the end takes the
            // last port's protocol
            (&["80/udp", "80/tcp", "82/tcp"], V27, &["R_PORT=tcp://172.0.17.2:80",
                "R_PORT_80_TCP_END=tcp://172.0.17.2:82", "R_PORT_80_TCP_PORT_END=82",
                "R_PORT_80_TCP_PORT_START=80", "R_PORT_80_TCP_START=tcp://172.0.17.2:80"]),
            (&["1/tcp", "2/tcp", "3/tcp", "3/udp"], V27, &["R_PORT=tcp://172.0.17.2:1",
                "R_PORT_1_TCP_PORT_START=1", "R_PORT_1_TCP_START=tcp://172.0.17.2:1",
                "R_PORT_1_UDP_END=udp://172.0.17.2:3", "R_PORT_1_UDP_PORT_END=3"]),
            // equal numbers: tcp first, then by name (the engine left this to chance)
            (&["9/udp", "9/sctp"], V27, &["R_PORT=sctp://172.0.17.2:9"]),
            // three ports of one number are a "range" 9..9 to the old count
            (&["9/udp", "9/sctp", "9/tcp"], V27, &["R_PORT=tcp://172.0.17.2:9",
                "R_PORT_9_TCP_PORT_START=9", "R_PORT_9_TCP_START=tcp://172.0.17.2:9",
                "R_PORT_9_UDP_END=udp://172.0.17.2:9", "R_PORT_9_UDP_PORT_END=9"]),
            (&["9/udp", "9/sctp", "9/tcp"], V28, &["R_PORT=tcp://172.0.17.2:9"]),
            (&["9/udp", "1/udp"], V28, &["R_PORT=udp://172.0.17.2:1"]),
            (&["9/tcp", "1/udp"], V28, &["R_PORT=tcp://172.0.17.2:9"]),
            (&["9/tcp", "1/udp"], V27, &["R_PORT=udp://172.0.17.2:1"]),
        ];
        for (specs, alg, want) in cases {
            assert_eq!(shape("/p/r", specs, *alg), strings(want), "{specs:?} {alg}");
        }
    }

    #[test]
    fn no_ports_no_port_variables() {
        for alg in [Algorithm::V28, Algorithm::V27] {
            let env = link_env("/a/b", IP, &[], &strings(&["K=v"]), alg);
            assert_eq!(env, strings(&["B_NAME=/a/b", "B_ENV_K=v"]));
        }
    }

    #[test]
    fn duplicate_ports_give_one_set() {
        let env = link_env(
            "/a/b",
            IP,
            &ports(&["80", "80/tcp", "80/TCP"]),
            &[],
            Algorithm::V28,
        );
        assert_eq!(env.len(), 1 + 4 + 1);
    }

    #[test]
    fn child_env_edge_cases() {
        let env = link_env(
            "/a/b",
            IP,
            &[],
            &strings(&[
                "=empty-key",
                "E=",
                "HOME=/h",
                "PATH=/p",
                "HOMEDIR=/x",
                "path=y",
                "Z",
            ]),
            Algorithm::V28,
        );
        assert_eq!(
            env,
            strings(&[
                "B_NAME=/a/b",
                "B_ENV_=empty-key",
                "B_ENV_E=",
                "B_ENV_HOMEDIR=/x",
                "B_ENV_path=y",
            ])
        );
    }

    #[test]
    fn prefixes() {
        for (alias, want) in [
            ("redis", "REDIS"),
            ("my-db.x", "MY_DB.X"),
            ("docker-1", "DOCKER_1"),
            ("a_b", "A_B"),
            ("Mixed-Case", "MIXED_CASE"),
            ("straße", "STRAßE"),
            ("", ""),
        ] {
            assert_eq!(prefix(alias), want, "{alias}");
        }
    }

    #[test]
    fn alias_is_the_last_path_element() {
        let env = link_env("/web/my-db.x", IP, &[], &[], Algorithm::V28);
        assert_eq!(env, strings(&["MY_DB.X_NAME=/web/my-db.x"]));
    }

    #[test]
    fn port_parsing() {
        let ok = [
            ("6379/tcp", 6379, "tcp"),
            ("53/udp", 53, "udp"),
            ("6379", 6379, "tcp"),
            ("6379/", 6379, "tcp"),
            ("9/SCTP", 9, "sctp"),
            ("0/tcp", 0, "tcp"),
            ("65535/udp", 65535, "udp"),
            ("0080/tcp", 80, "tcp"),
        ];
        for (s, number, proto) in ok {
            let want = Port {
                number,
                proto: proto.to_string(),
            };
            assert_eq!(s.parse::<Port>(), Ok(want), "{s}");
        }
        let bad = [
            ("", "no port number"),
            ("/tcp", "no port number"),
            ("tcp", "not a number"),
            ("+80/tcp", "not a number"),
            (" 80", "not a number"),
            ("80 /tcp", "not a number"),
            ("65536/tcp", "above 65535"),
            ("99999999999999999999", "above 65535"),
            ("8000-8010/tcp", "range"),
            ("80/t-cp", "protocol"),
            ("80/tcp/udp", "protocol"),
            ("80/ud p", "protocol"),
        ];
        for (s, reason) in bad {
            let err = s.parse::<Port>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid port \"{s}\"")),
                "{s}: {err}"
            );
            assert!(err.contains(reason), "{s}: {err}");
        }
    }

    #[test]
    fn port_display_round_trips() {
        for s in ["6379/tcp", "53/udp", "9/sctp"] {
            assert_eq!(s.parse::<Port>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn algorithm_parsing() {
        for (s, want) in [
            ("v28", Algorithm::V28),
            ("V28", Algorithm::V28),
            ("current", Algorithm::V28),
            ("Current", Algorithm::V28),
            ("v27", Algorithm::V27),
            ("V27", Algorithm::V27),
        ] {
            assert_eq!(s.parse::<Algorithm>(), Ok(want), "{s}");
        }
        for s in ["", "v26", "28", "old", " v27"] {
            let err = s.parse::<Algorithm>().unwrap_err().to_string();
            assert!(err.contains("v28") && err.contains("current") && err.contains("v27"));
            assert!(err.contains(&format!("\"{s}\"")), "{err}");
        }
        assert_eq!(Algorithm::default(), Algorithm::V28);
        assert_eq!(Algorithm::V28.to_string(), "v28");
        assert_eq!(Algorithm::V27.to_string(), "v27");
    }

    #[test]
    fn user_values_override_link_values() {
        let link = strings(&[
            "DB_PORT=tcp://1.2.3.4:5432",
            "DB_NAME=/web/db",
            "DB_ENV_USER=app",
            "DB_ENV_X=a=b",
        ]);
        // the user's entries, and the indices of the link entries that survive them
        #[rustfmt::skip]
        let cases: &[(&[&str], &[usize])] = &[
            (&[], &[0, 1, 2, 3]),
            (&["DB_NAME=mine"], &[0, 2, 3]),
            // a bare key (taken from the client's environment) still overrides
            (&["DB_PORT"], &[1, 2, 3]),
            (&["DB_ENV_X=c"], &[0, 1, 2]),
            // keys, not prefixes or values, and case matters
            (&["DB", "DB_ENV", "OTHER=DB_NAME", "db_name=x"], &[0, 1, 2, 3]),
            (&["DB_PORT=", "DB_NAME=", "DB_ENV_USER=", "DB_ENV_X="], &[]),
        ];
        for (user, kept) in cases {
            let want: Vec<String> = kept.iter().map(|&i| link[i].clone()).collect();
            assert_eq!(
                without_overridden(link.clone(), &strings(user)),
                want,
                "{user:?}"
            );
        }
    }
}
