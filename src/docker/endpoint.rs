//! Which daemon to talk to, resolved exactly as the docker CLI resolves it: `--context` >
//! `-H` > `DOCKER_HOST` > `DOCKER_CONTEXT` > config.json `currentContext` > the default socket,
//! with TLS settings from the flags, the environment, `DOCKER_CERT_PATH` or the context store.
//!
//! Pure: the environment and the config dir are parameters, so every rule is unit-tested.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::plugin::GlobalOpts;

pub const DEFAULT_UNIX_SOCKET: &str = "unix:///var/run/docker.sock";

/// Where the daemon is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: Host,
    pub tls: Tls,
    /// How the endpoint was chosen, for messages: `--context remote`, `DOCKER_HOST`, ….
    pub source: String,
    /// `DOCKER_API_VERSION`, when it pins the version.
    pub api_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Host::Ssh { user, host, port } => {
                write!(f, "ssh://")?;
                if let Some(u) = user {
                    write!(f, "{u}@")?;
                }
                write!(f, "{host}")?;
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    Off,
    /// TLS without verifying the daemon's certificate (`--tls`, `DOCKER_TLS`,
    /// a context's `SkipTLSVerify`). A client certificate is still presented when present.
    NoVerify(TlsFiles),
    /// TLS verifying the daemon against `ca` (`--tlsverify`, `DOCKER_TLS_VERIFY`).
    Verify(TlsFiles),
}

/// The PEM files of a TLS setup; any of them may be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Errors of resolution: the user's configuration is inconsistent or unreadable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("conflicting options: cannot specify both --host and --context")]
    HostAndContext,
    #[error("context \"{0}\" does not exist")]
    NoSuchContext(String),
    #[error("context \"{name}\": cannot read {path}: {reason}")]
    BadContext {
        name: String,
        path: String,
        reason: String,
    },
    #[error("invalid docker host \"{0}\": {1}")]
    BadHost(String, String),
    #[error("cannot read {path}: {reason}")]
    BadConfig { path: String, reason: String },
}

/// The config dir the CLI uses: `--config`, else `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(globals: &GlobalOpts, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(c) = &globals.config {
        return PathBuf::from(c);
    }
    if let Some(c) = env("DOCKER_CONFIG").filter(|c| !c.is_empty()) {
        return PathBuf::from(c);
    }
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".docker")
}

/// Resolves the endpoint from the global options, the environment and the config dir.
pub fn resolve(
    globals: &GlobalOpts,
    env: &dyn Fn(&str) -> Option<String>,
    config: &Path,
) -> Result<Endpoint, EndpointError> {
    let env_nonempty = |k: &str| env(k).filter(|v| !v.is_empty());
    let api_version = env_nonempty("DOCKER_API_VERSION");

    if globals.context.is_some() && !globals.hosts.is_empty() {
        return Err(EndpointError::HostAndContext);
    }
    let (context, source) = if let Some(c) = &globals.context {
        (c.clone(), format!("--context {c}"))
    } else if !globals.hosts.is_empty() || env_nonempty("DOCKER_HOST").is_some() {
        ("default".to_string(), String::new())
    } else if let Some(c) = env_nonempty("DOCKER_CONTEXT") {
        let s = format!("DOCKER_CONTEXT={c}");
        (c, s)
    } else if let Some(c) = current_context(config)? {
        let s = format!(
            "currentContext {c} in {}",
            config.join("config.json").display()
        );
        (c, s)
    } else {
        ("default".to_string(), String::new())
    };

    if context != "default" {
        let mut ep = from_context(&context, config)?;
        ep.source = source;
        ep.api_version = api_version;
        return Ok(ep);
    }

    // The default context: flags and environment.
    let (raw, source) = if let Some(h) = globals.hosts.first() {
        (h.clone(), format!("-H {h}"))
    } else if let Some(h) = env_nonempty("DOCKER_HOST") {
        (h.clone(), format!("DOCKER_HOST={h}"))
    } else {
        (
            DEFAULT_UNIX_SOCKET.to_string(),
            "the default socket".to_string(),
        )
    };

    let verify = globals.tlsverify || env_nonempty("DOCKER_TLS_VERIFY").is_some();
    let tls_on = verify || globals.tls || env_nonempty("DOCKER_TLS").is_some();
    let cert_dir = env_nonempty("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| config.to_path_buf());
    let pick = |flag: &Option<String>, file: &str| -> Option<PathBuf> {
        match flag {
            Some(f) => Some(PathBuf::from(f)),
            None => Some(cert_dir.join(file)).filter(|p| p.exists()),
        }
    };
    let files = TlsFiles {
        ca: pick(&globals.tlscacert, "ca.pem"),
        cert: pick(&globals.tlscert, "cert.pem"),
        key: pick(&globals.tlskey, "key.pem"),
    };
    let host = parse_host(&raw, tls_on)?;
    let tls = match (&host, tls_on, verify) {
        (Host::Tcp { .. }, true, true) => Tls::Verify(files),
        (Host::Tcp { .. }, true, false) => Tls::NoVerify(files),
        _ => Tls::Off,
    };
    Ok(Endpoint {
        host,
        tls,
        source,
        api_version,
    })
}

/// Parses a docker host the way the CLI does: `unix://path`, `tcp://host[:port]`,
/// `ssh://[user@]host[:port]`, and a bare `host:port` as tcp. The default tcp port is 2376
/// with TLS and 2375 without.
pub fn parse_host(raw: &str, tls: bool) -> Result<Host, EndpointError> {
    let bad = |why: &str| EndpointError::BadHost(raw.to_string(), why.to_string());
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (s, r),
        None if raw.starts_with('/') => ("unix", raw),
        None => ("tcp", raw),
    };
    match scheme {
        "unix" => {
            if rest.is_empty() {
                return Err(bad("empty socket path"));
            }
            Ok(Host::Unix(PathBuf::from(rest)))
        }
        "tcp" | "http" | "https" => {
            let rest = rest.trim_end_matches('/');
            let (host, port) = split_host_port(rest).map_err(|e| bad(&e))?;
            let host = if host.is_empty() {
                "127.0.0.1".to_string()
            } else {
                host
            };
            let port = port.unwrap_or(if tls || scheme == "https" { 2376 } else { 2375 });
            Ok(Host::Tcp { host, port })
        }
        "ssh" => {
            let rest = rest.trim_end_matches('/');
            let (user, hostport) = match rest.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()), h),
                None => (None, rest),
            };
            let (host, port) = split_host_port(hostport).map_err(|e| bad(&e))?;
            if host.is_empty() {
                return Err(bad("no host"));
            }
            Ok(Host::Ssh { user, host, port })
        }
        other => Err(bad(&format!("unsupported scheme {other}"))),
    }
}

fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    // [v6]:port, host:port, host
    if let Some(v6) = s.strip_prefix('[') {
        let (h, rest) = v6.split_once(']').ok_or("unclosed [")?;
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| format!("bad port {p}"))?),
            None if rest.is_empty() => None,
            None => return Err(format!("unexpected {rest}")),
        };
        return Ok((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            let port = p.parse().map_err(|_| format!("bad port {p}"))?;
            Ok((h.to_string(), Some(port)))
        }
        _ => Ok((s.to_string(), None)),
    }
}

fn current_context(config: &Path) -> Result<Option<String>, EndpointError> {
    let path = config.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(EndpointError::BadConfig {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EndpointError::BadConfig {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    Ok(v.get("currentContext")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_string))
}

/// The context store's directory name for a context: hex sha256 of its name.
pub fn context_id(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_context(name: &str, config: &Path) -> Result<Endpoint, EndpointError> {
    let id = context_id(name);
    let meta_path = config.join("contexts/meta").join(&id).join("meta.json");
    let text = match std::fs::read_to_string(&meta_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EndpointError::NoSuchContext(name.to_string()))
        }
        Err(e) => {
            return Err(EndpointError::BadContext {
                name: name.to_string(),
                path: meta_path.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    let bad = |reason: String| EndpointError::BadContext {
        name: name.to_string(),
        path: meta_path.display().to_string(),
        reason,
    };
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let docker = &meta["Endpoints"]["docker"];
    let raw = docker["Host"]
        .as_str()
        .ok_or_else(|| bad("no Endpoints.docker.Host".to_string()))?;
    let skip_verify = docker["SkipTLSVerify"].as_bool().unwrap_or(false);
    let tls_dir = config.join("contexts/tls").join(&id).join("docker");
    let file = |f: &str| Some(tls_dir.join(f)).filter(|p| p.exists());
    let files = TlsFiles {
        ca: file("ca.pem"),
        cert: file("cert.pem"),
        key: file("key.pem"),
    };
    let has_tls = files.ca.is_some() || files.cert.is_some() || skip_verify;
    let host = parse_host(raw, has_tls)?;
    let tls = match host {
        Host::Tcp { .. } if skip_verify => Tls::NoVerify(files),
        Host::Tcp { .. } if has_tls => Tls::Verify(files),
        _ => Tls::Off,
    };
    Ok(Endpoint {
        host,
        tls,
        source: String::new(),
        api_version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fixture {
        dir: PathBuf,
    }

    impl Fixture {
        fn new(tag: &str) -> Fixture {
            let dir = std::env::temp_dir().join(format!(
                "dl-endpoint-{}-{tag}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Fixture { dir }
        }

        fn context(&self, name: &str, host: &str, skip: bool, tls_files: &[&str]) {
            let id = context_id(name);
            let meta = self.dir.join("contexts/meta").join(&id);
            std::fs::create_dir_all(&meta).unwrap();
            let json = serde_json::json!({
                "Name": name,
                "Metadata": {},
                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
            });
            std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
            let tls = self.dir.join("contexts/tls").join(&id).join("docker");
            std::fs::create_dir_all(&tls).unwrap();
            for f in tls_files {
                std::fs::write(tls.join(f), "pem").unwrap();
            }
        }

        fn current(&self, name: &str) {
            std::fs::write(
                self.dir.join("config.json"),
                format!("{{\"currentContext\":\"{name}\"}}"),
            )
            .unwrap();
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn resolve_with(
        globals: &GlobalOpts,
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Result<Endpoint, EndpointError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(globals, &|k| env.get(k).cloned(), dir)
    }

    #[test]
    fn context_id_is_sha256_hex() {
        // sha256("default")
        assert_eq!(
            context_id("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
    }

    #[test]
    fn precedence() {
        let f = Fixture::new("prec");
        f.context(
            "remote",
            "tcp://10.0.0.9:2376",
            false,
            &["ca.pem", "cert.pem", "key.pem"],
        );
        f.context("other", "unix:///run/other.sock", false, &[]);
        f.current("other");
        let ctx = |c: &str| GlobalOpts {
            context: Some(c.into()),
            ..Default::default()
        };
        let host = |h: &str| GlobalOpts {
            hosts: vec![h.into()],
            ..Default::default()
        };
        let none = GlobalOpts::default();
        // (globals, env, host, source contains)
        // (global options, environment, endpoint, how it was chosen)
        type Case<'a> = (GlobalOpts, Vec<(&'a str, &'a str)>, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (
                ctx("remote"),
                vec![("DOCKER_HOST", "tcp://x:1")],
                "tcp://10.0.0.9:2376",
                "--context remote",
            ),
            (
                host("tcp://h:9"),
                vec![("DOCKER_CONTEXT", "remote")],
                "tcp://h:9",
                "-H tcp://h:9",
            ),
            (
                none.clone(),
                vec![
                    ("DOCKER_HOST", "unix:///x.sock"),
                    ("DOCKER_CONTEXT", "remote"),
                ],
                "unix:///x.sock",
                "DOCKER_HOST",
            ),
            (
                none.clone(),
                vec![("DOCKER_CONTEXT", "remote")],
                "tcp://10.0.0.9:2376",
                "DOCKER_CONTEXT=remote",
            ),
            (
                none.clone(),
                vec![("DOCKER_HOST", "")],
                "unix:///run/other.sock",
                "currentContext other",
            ),
            (
                none.clone(),
                vec![],
                "unix:///run/other.sock",
                "currentContext other",
            ),
            (
                ctx("default"),
                vec![],
                "unix:///var/run/docker.sock",
                "default socket",
            ),
        ];
        for (g, env, want, source) in cases {
            let ep = resolve_with(&g, &env, &f.dir).unwrap();
            assert_eq!(ep.host.to_string(), want, "{g:?} {env:?}");
            assert!(ep.source.contains(source), "{:?} lacks {source}", ep.source);
        }
    }

    #[test]
    fn context_tls() {
        let f = Fixture::new("tls");
        f.context(
            "v",
            "tcp://h:2376",
            false,
            &["ca.pem", "cert.pem", "key.pem"],
        );
        f.context("skip", "tcp://h:2376", true, &[]);
        f.context("plain", "tcp://h:2375", false, &[]);
        let g = |c: &str| GlobalOpts {
            context: Some(c.into()),
            ..Default::default()
        };
        match resolve_with(&g("v"), &[], &f.dir).unwrap().tls {
            Tls::Verify(files) => {
                assert!(files.ca.unwrap().ends_with("docker/ca.pem"));
                assert!(files.cert.is_some() && files.key.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            resolve_with(&g("skip"), &[], &f.dir).unwrap().tls,
            Tls::NoVerify(_)
        ));
        assert_eq!(
            resolve_with(&g("plain"), &[], &f.dir).unwrap().tls,
            Tls::Off
        );
        assert_eq!(
            resolve_with(&g("missing"), &[], &f.dir),
            Err(EndpointError::NoSuchContext("missing".into()))
        );
    }

    #[test]
    fn flags_and_env_tls() {
        let f = Fixture::new("envtls");
        let certs = f.dir.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        for p in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(certs.join(p), "pem").unwrap();
        }
        let certs_s = certs.to_str().unwrap();
        let verify = GlobalOpts {
            hosts: vec!["tcp://h".into()],
            tlsverify: true,
            ..Default::default()
        };
        let ep = resolve_with(&verify, &[("DOCKER_CERT_PATH", certs_s)], &f.dir).unwrap();
        assert_eq!(ep.host.to_string(), "tcp://h:2376");
        assert_eq!(
            ep.tls,
            Tls::Verify(TlsFiles {
                ca: Some(certs.join("ca.pem")),
                cert: Some(certs.join("cert.pem")),
                key: Some(certs.join("key.pem")),
            })
        );
        let ep = resolve_with(
            &GlobalOpts::default(),
            &[("DOCKER_HOST", "tcp://h:1"), ("DOCKER_TLS", "1")],
            &f.dir,
        )
        .unwrap();
        assert!(matches!(ep.tls, Tls::NoVerify(_)));
        let ep = resolve_with(
            &GlobalOpts::default(),
            &[
                ("DOCKER_HOST", "h:1"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_API_VERSION", "1.41"),
            ],
            &f.dir,
        )
        .unwrap();
        assert!(matches!(ep.tls, Tls::Verify(_)));
        assert_eq!(ep.api_version.as_deref(), Some("1.41"));
        let flags = GlobalOpts {
            hosts: vec!["tcp://h:3".into()],
            tls: true,
            tlscacert: Some("/my/ca".into()),
            ..Default::default()
        };
        match resolve_with(&flags, &[], &f.dir).unwrap().tls {
            Tls::NoVerify(files) => assert_eq!(files.ca, Some(PathBuf::from("/my/ca"))),
            other => panic!("{other:?}"),
        }
        // TLS never applies to unix sockets.
        let unix = GlobalOpts {
            hosts: vec!["unix:///s".into()],
            tlsverify: true,
            ..Default::default()
        };
        assert_eq!(resolve_with(&unix, &[], &f.dir).unwrap().tls, Tls::Off);
        let both = GlobalOpts {
            hosts: vec!["tcp://h".into()],
            context: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve_with(&both, &[], &f.dir),
            Err(EndpointError::HostAndContext)
        );
    }

    #[test]
    fn hosts_parse() {
        let cases: &[(&str, bool, Result<&str, ()>)] = &[
            (
                "unix:///var/run/docker.sock",
                false,
                Ok("unix:///var/run/docker.sock"),
            ),
            ("/run/d.sock", false, Ok("unix:///run/d.sock")),
            ("tcp://1.2.3.4", false, Ok("tcp://1.2.3.4:2375")),
            ("tcp://1.2.3.4", true, Ok("tcp://1.2.3.4:2376")),
            ("1.2.3.4:99", false, Ok("tcp://1.2.3.4:99")),
            ("tcp://[::1]:5", false, Ok("tcp://::1:5")),
            ("tcp://:7", false, Ok("tcp://127.0.0.1:7")),
            ("ssh://me@box", false, Ok("ssh://me@box")),
            ("ssh://box:2222", false, Ok("ssh://box:2222")),
            ("ssh://", false, Err(())),
            ("tcp://h:notaport", false, Err(())),
            ("npipe:////./pipe/x", false, Err(())),
            ("unix://", false, Err(())),
        ];
        for (raw, tls, want) in cases {
            let got = parse_host(raw, *tls).map(|h| h.to_string()).map_err(|_| ());
            assert_eq!(got, want.map(str::to_string), "{raw}");
        }
    }
}
