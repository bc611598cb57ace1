//! Readiness and dependencies: waiting for `--wait` targets before the exec, deciding when the
//! child is running (`--bind-port`, from `/proc/net/tcp{,6}`), and telling the world
//! (`--ready-file`, the `--web-hook` PUT in dock's payload, sent from a thread of its own so a
//! slow hook never delays a signal).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A dependency to wait for: `tcp://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitTarget {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for WaitTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "tcp://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tcp://{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for WaitTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<WaitTarget, String> {
        let rest = s
            .strip_prefix("tcp://")
            .ok_or_else(|| format!("invalid wait target \"{s}\": expected tcp://HOST:PORT"))?;
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, p) = v6
                .split_once("]:")
                .ok_or_else(|| format!("invalid wait target \"{s}\": expected tcp://[V6]:PORT"))?;
            (h, p)
        } else {
            rest.rsplit_once(':')
                .ok_or_else(|| format!("invalid wait target \"{s}\": no port"))?
        };
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid wait target \"{s}\": bad port \"{port}\""))?;
        if host.is_empty() {
            return Err(format!("invalid wait target \"{s}\": no host"));
        }
        Ok(WaitTarget {
            host: host.to_string(),
            port,
        })
    }
}

/// The targets `docker link run` injected: every `<ALIAS>_PORT_<n>_TCP=tcp://ip:n` variable.
pub fn link_targets(env: impl Iterator<Item = (String, String)>) -> Vec<WaitTarget> {
    let mut out: Vec<WaitTarget> = env
        .filter(|(k, _)| {
            k.ends_with("_TCP")
                && k.split('_')
                    .rev()
                    .nth(1)
                    .is_some_and(|n| n.parse::<u16>().is_ok())
                && k.contains("_PORT_")
        })
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    out.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
    out.dedup();
    out
}

/// Whether `target` accepts a connection now (every address it resolves to is tried).
pub fn accepts(target: &WaitTarget, timeout: Duration) -> bool {
    let Ok(addrs) = (target.host.as_str(), target.port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| TcpStream::connect_timeout(&a, timeout).is_ok())
}

/// Local TCP ports in LISTEN state with their socket inodes, from `/proc/net/tcp` and `tcp6`
/// (a missing file, as without IPv6, is no error).
pub fn listening(proc_net: &[&str]) -> Vec<(u16, u64)> {
    let mut out = Vec::new();
    for text in proc_net {
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some(port) = f[1]
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            else {
                continue;
            };
            if let Ok(inode) = f[9].parse() {
                out.push((port, inode));
            }
        }
    }
    out
}

fn read_proc_net() -> Vec<String> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// The socket inodes held open by `pids`.
fn socket_inodes(pids: &BTreeSet<i32>) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for pid in pids {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in dir.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let t = target.to_string_lossy();
                if let Some(inode) = t
                    .strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|i| i.parse().ok())
                {
                    out.insert(inode);
                }
            }
        }
    }
    out
}

/// Whether `port` is listened on; with `strict`, only by one of the init's descendants.
pub fn port_bound(port: u16, strict: bool) -> bool {
    let texts = read_proc_net();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let holders: Vec<u64> = listening(&refs)
        .into_iter()
        .filter(|(p, _)| *p == port)
        .map(|(_, inode)| inode)
        .collect();
    if holders.is_empty() {
        return false;
    }
    if !strict {
        return true;
    }
    let ours = socket_inodes(&super::descendants(std::process::id() as i32));
    holders.iter().any(|i| ours.contains(i))
}

/// The states a web hook reports, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Starting,
    Running,
    Exited,
    Crashed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Exited => "exited",
            State::Crashed => "crashed",
        }
    }
}

/// dock's payload: `{"ps":{"status":…,"net_interfaces":[{"name","ipv4","ipv6"}]}}`.
pub fn payload(state: State) -> String {
    let mut ifaces: Vec<serde_json::Value> = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        let mut by_name: std::collections::BTreeMap<String, (String, String)> = Default::default();
        for a in addrs {
            let entry = by_name.entry(a.interface_name.clone()).or_default();
            if let Some(addr) = a.address {
                if let Some(v4) = addr.as_sockaddr_in() {
                    entry.0 = v4.ip().to_string();
                } else if let Some(v6) = addr.as_sockaddr_in6() {
                    entry.1 = v6.ip().to_string();
                }
            }
        }
        for (name, (v4, v6)) in by_name {
            if name == "lo" {
                continue;
            }
            ifaces.push(serde_json::json!({"name": name, "ipv4": v4, "ipv6": v6}));
        }
    }
    serde_json::json!({"ps": {"status": state.as_str(), "net_interfaces": ifaces}}).to_string()
}

/// A web hook: states queue to a thread that PUTs them in order, each with a timeout.
pub struct Hook {
    tx: Option<mpsc::Sender<State>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `http://host[:port]/path`, the only scheme the hook speaks.
fn split_http(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("invalid web hook \"{url}\": only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse()
                .map_err(|_| format!("invalid web hook \"{url}\": bad port"))?,
        ),
        _ => (authority.to_string(), 80),
    };
    Ok((host, port, path.to_string()))
}

pub fn validate_hook(url: &str) -> Result<(), String> {
    split_http(url).map(drop)
}

fn put(url: &str, body: &str, timeout: Duration) -> Result<u16, String> {
    let (host, port, path) = split_http(url)?;
    let deadline = Instant::now() + timeout;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(left)).map_err(|e| e.to_string())?;
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\nUser-Agent: docker-link-init\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "no HTTP status in the answer".to_string())
}

impl Hook {
    pub fn start(url: String, timeout: Duration, me: &'static str) -> Hook {
        let (tx, rx) = mpsc::channel::<State>();
        let thread = std::thread::Builder::new()
            .name("web-hook".into())
            .spawn(move || {
                for state in rx {
                    match put(&url, &payload(state), timeout) {
                        Ok(code) if (200..300).contains(&code) => {}
                        Ok(code) => {
                            say!("{me}: web hook {url} answered {code} to {}", state.as_str())
                        }
                        Err(e) => say!("{me}: web hook {url}: {e} (state {})", state.as_str()),
                    }
                }
            })
            .ok();
        Hook {
            tx: Some(tx),
            thread,
        }
    }

    pub fn send(&self, state: State) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(state);
        }
    }

    /// Delivers what is queued, waiting at most `limit` (the last state should reach the hook,
    /// but a hung hook must not keep the container alive).
    pub fn finish(mut self, limit: Duration) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + limit;
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_targets() {
        let ok: &[(&str, &str, u16)] = &[
            ("tcp://redis:6379", "redis", 6379),
            ("tcp://10.0.0.2:80", "10.0.0.2", 80),
            ("tcp://[::1]:5432", "::1", 5432),
        ];
        for (s, h, p) in ok {
            let t: WaitTarget = s.parse().unwrap();
            assert_eq!((t.host.as_str(), t.port), (*h, *p));
            assert_eq!(t.to_string(), *s);
        }
        for bad in [
            "redis:6379",
            "tcp://redis",
            "tcp://:80",
            "tcp://h:0",
            "tcp://h:x",
            "udp://h:1",
        ] {
            assert!(bad.parse::<WaitTarget>().is_err(), "{bad}");
        }
    }

    #[test]
    fn link_variables_become_targets() {
        let env = [
            ("REDIS_PORT_6379_TCP", "tcp://172.20.0.2:6379"),
            ("REDIS_PORT_6379_TCP_ADDR", "172.20.0.2"),
            ("REDIS_PORT", "tcp://172.20.0.2:6379"),
            ("DB_PORT_5432_TCP", "tcp://172.20.0.3:5432"),
            ("DNS_PORT_53_UDP", "udp://172.20.0.4:53"),
            ("WEB_PORT_80_TCP_START", "tcp://172.20.0.5:80"),
            ("PATH", "/bin"),
        ];
        let got = link_targets(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let got: Vec<String> = got.iter().map(|t| t.to_string()).collect();
        assert_eq!(got, ["tcp://172.20.0.2:6379", "tcp://172.20.0.3:5432"]);
    }

    #[test]
    fn proc_net_parsing() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0
   1: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 5678 1 0
";
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0
";
        // 6379 listening, 8080 only an established (outgoing) connection, 80 on v6.
        assert_eq!(listening(&[tcp, tcp6]), vec![(6379, 1234), (80, 99)]);
    }

    #[test]
    fn hook_urls() {
        assert_eq!(
            split_http("http://127.0.0.1:8080/hook").unwrap(),
            ("127.0.0.1".to_string(), 8080, "/hook".to_string())
        );
        assert_eq!(
            split_http("http://example").unwrap(),
            ("example".to_string(), 80, "/".to_string())
        );
        assert!(split_http("https://x/")
            .unwrap_err()
            .contains("only http://"));
    }

    #[test]
    fn payload_shape() {
        let v: serde_json::Value = serde_json::from_str(&payload(State::Running)).unwrap();
        assert_eq!(v["ps"]["status"], "running");
        assert!(v["ps"]["net_interfaces"].is_array());
    }
}
