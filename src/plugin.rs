//! The Docker CLI plugin protocol: which of the five names we were called by, the metadata
//! probe, docker's global options that precede the plugin name, and the CLI's lifetime socket.
//!
//! Everything here is synchronous and touches neither disk nor daemon: the metadata probe runs
//! before every `docker` invocation and must answer instantly.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::Path;

/// The five plugin names the binary is installed under, in `docker --help` order.
pub const PLUGIN_NAMES: [Plugin; 5] = [
    Plugin::Link,
    Plugin::Ls,
    Plugin::Proxy,
    Plugin::Net,
    Plugin::Init,
];

pub const VENDOR: &str = "docker-link";
pub const URL: &str = "https://github.com/docker-link/docker-link";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One of the top-level docker commands this binary answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plugin {
    Link,
    Ls,
    Proxy,
    Net,
    Init,
}

impl Plugin {
    pub fn name(self) -> &'static str {
        match self {
            Plugin::Link => "link",
            Plugin::Ls => "ls",
            Plugin::Proxy => "proxy",
            Plugin::Net => "net",
            Plugin::Init => "init",
        }
    }

    pub fn from_name(name: &str) -> Option<Plugin> {
        PLUGIN_NAMES.into_iter().find(|p| p.name() == name)
    }

    /// The file name the docker CLI looks for: `docker-<name>`.
    pub fn file_name(self) -> String {
        format!("docker-{}", self.name())
    }

    pub fn short_description(self) -> &'static str {
        match self {
            Plugin::Link => "Name containers and link them with aliases, env and DNS",
            Plugin::Ls => "List container names and link paths",
            Plugin::Proxy => "Keep an nginx or haproxy proxy configured from container labels",
            Plugin::Net => "Wire containers with declared links, bridges and tunnels",
            Plugin::Init => "A PID 1 for containers: reap, forward signals, report readiness",
        }
    }

    /// Which plugin a path names: `…/docker-ls` is `ls`. `docker-link` and unknown names
    /// fall back to `link`, the umbrella command.
    pub fn from_argv0(argv0: &OsStr) -> Plugin {
        let base = Path::new(argv0)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        base.strip_prefix("docker-")
            .and_then(Plugin::from_name)
            .unwrap_or(Plugin::Link)
    }

    /// The JSON the CLI expects from `docker-<name> docker-cli-plugin-metadata`.
    pub fn metadata_json(self) -> String {
        // Built by hand: the probe runs before every docker command, so it avoids even
        // serde's small cost. None of the strings need escaping.
        format!(
            "{{\"SchemaVersion\":\"0.1.0\",\"Vendor\":\"{VENDOR}\",\"Version\":\"{VERSION}\",\
             \"ShortDescription\":\"{}\",\"URL\":\"{URL}\"}}",
            self.short_description()
        )
    }
}

/// Whether `argv0` is a name the binary answers to: `docker-link`, `docker-<plugin>`, or an
/// init's (`docker-init`, `tini`, `tini-static`, `dumb-init`). Under any other name
/// `NAME -- CMD` runs the init.
pub fn is_known_name(argv0: &OsStr) -> bool {
    let base = Path::new(argv0)
        .file_name()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    base == "docker-link"
        || base
            .strip_prefix("docker-")
            .is_some_and(|p| Plugin::from_name(p).is_some())
        || crate::init::Flavour::from_argv0(argv0).is_some()
}

/// How the binary was reached, which changes a few defaults (help text, `init` mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// Through the docker CLI (`DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND` is set).
    Plugin,
    /// Run by hand: `docker-link ls`, `~/.docker/cli-plugins/docker-ls -a`.
    Standalone,
}

/// Docker's global options, as they stood before the plugin name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalOpts {
    pub config: Option<String>,
    pub context: Option<String>,
    pub hosts: Vec<String>,
    pub log_level: Option<String>,
    pub debug: bool,
    pub tls: bool,
    pub tlsverify: bool,
    pub tlscacert: Option<String>,
    pub tlscert: Option<String>,
    pub tlskey: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GlobalOptError {
    #[error("flag needs an argument: {0}")]
    MissingValue(String),
    #[error("unknown global flag: {0}")]
    Unknown(String),
}

/// Which global options take a value. Short forms as the docker CLI defines them.
fn valued(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "--config" => "config",
        "-c" | "--context" => "context",
        "-H" | "--host" => "host",
        "-l" | "--log-level" => "log-level",
        "--tlscacert" => "tlscacert",
        "--tlscert" => "tlscert",
        "--tlskey" => "tlskey",
        _ => return None,
    })
}

impl GlobalOpts {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "config" => self.config = Some(value),
            "context" => self.context = Some(value),
            "host" => self.hosts.push(value),
            "log-level" => self.log_level = Some(value),
            "tlscacert" => self.tlscacert = Some(value),
            "tlscert" => self.tlscert = Some(value),
            "tlskey" => self.tlskey = Some(value),
            _ => unreachable!("valued() only returns known keys"),
        }
    }

    fn set_bool(&mut self, flag: &str, value: bool) -> bool {
        match flag {
            "-D" | "--debug" => self.debug = value,
            "--tls" => self.tls = value,
            "--tlsverify" => self.tlsverify = value,
            _ => return false,
        }
        true
    }

    /// The same options as a docker command line, for running the docker CLI itself
    /// (`docker link run` hands its flags to `docker create`).
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                out.push(format!("{flag}={v}"));
            }
        };
        push("--config", &self.config);
        push("--context", &self.context);
        push("--log-level", &self.log_level);
        push("--tlscacert", &self.tlscacert);
        push("--tlscert", &self.tlscert);
        push("--tlskey", &self.tlskey);
        out.extend(self.hosts.iter().map(|h| format!("--host={h}")));
        for (on, flag) in [
            (self.debug, "--debug"),
            (self.tls, "--tls"),
            (self.tlsverify, "--tlsverify"),
        ] {
            if on {
                out.push(flag.to_string());
            }
        }
        out
    }

    /// Splits docker's global options off the front of `args` (argv without argv[0]).
    /// Stops at the first argument that is not a global option and returns the rest.
    pub fn parse(args: &[OsString]) -> Result<(GlobalOpts, Vec<OsString>), GlobalOptError> {
        let mut opts = GlobalOpts::default();
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].to_string_lossy();
            if !arg.starts_with('-') || arg == "-" {
                break;
            }
            if arg == "--" {
                i += 1;
                break;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") || f.len() == 2 => (f, Some(v.to_string())),
                _ => (arg.as_ref(), None),
            };
            if let Some(key) = valued(flag) {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i)
                            .map(|v| v.to_string_lossy().into_owned())
                            .ok_or_else(|| GlobalOptError::MissingValue(flag.to_string()))?
                    }
                };
                opts.set(key, value);
            } else {
                let value = match inline.as_deref() {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(_) => return Err(GlobalOptError::Unknown(arg.into_owned())),
                };
                if !opts.set_bool(flag, value) {
                    // `-Dc ctx`-style bundles are rare enough that docker users never rely on
                    // them with plugins; an unknown flag means the command begins here.
                    break;
                }
            }
            i += 1;
        }
        Ok((opts, args[i..].to_vec()))
    }
}

/// Connects to the CLI's lifetime socket, if the CLI gave us one, and calls `on_eof` on a
/// background thread when the CLI closes it (the CLI's way of saying "terminate gracefully").
pub fn watch_cli_socket(on_eof: impl FnOnce() + Send + 'static) {
    let Some(name) = std::env::var_os("DOCKER_CLI_PLUGIN_SOCKET") else {
        return;
    };
    let Some(stream) = connect_cli_socket(&name) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("cli-socket".into())
        .spawn(move || {
            let mut stream = stream;
            let mut buf = [0u8; 64];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            on_eof();
        });
    if let Err(e) = spawned {
        tracing::debug!("cannot watch the docker CLI socket: {e}");
    }
}

fn connect_cli_socket(name: &OsStr) -> Option<std::os::unix::net::UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    let name = name.to_string_lossy();
    // The CLI names an abstract socket `@docker_cli_<hex>`; a path is accepted for CLIs on
    // systems without abstract sockets.
    let addr = match name.strip_prefix('@') {
        Some(abs) => SocketAddr::from_abstract_name(abs.as_bytes()).ok()?,
        None => SocketAddr::from_pathname(name.as_ref()).ok()?,
    };
    match UnixStream::connect_addr(&addr) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::debug!("cannot connect to the docker CLI socket {name}: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names() {
        for name in [
            "docker-link",
            "/usr/libexec/docker/cli-plugins/docker-ls",
            "docker-init",
            "/sbin/docker-init",
            "tini",
            "tini-static",
            "dumb-init",
        ] {
            assert!(is_known_name(OsStr::new(name)), "{name}");
        }
        for name in ["/init", "docker-nope", "dl", ""] {
            assert!(!is_known_name(OsStr::new(name)), "{name}");
        }
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn argv0_names_the_plugin() {
        let cases = [
            ("/root/.docker/cli-plugins/docker-ls", Plugin::Ls),
            ("docker-proxy", Plugin::Proxy),
            ("/usr/libexec/docker/cli-plugins/docker-net", Plugin::Net),
            ("docker-init", Plugin::Init),
            ("docker-link", Plugin::Link),
            ("./target/debug/docker-link", Plugin::Link),
            ("something-else", Plugin::Link),
        ];
        for (argv0, want) in cases {
            assert_eq!(Plugin::from_argv0(OsStr::new(argv0)), want, "{argv0}");
        }
    }

    #[test]
    fn metadata_is_the_cli_schema() {
        for p in PLUGIN_NAMES {
            let v: serde_json::Value = serde_json::from_str(&p.metadata_json()).unwrap();
            assert_eq!(v["SchemaVersion"], "0.1.0");
            assert_eq!(v["Vendor"], VENDOR);
            assert_eq!(v["Version"], VERSION);
            assert_eq!(v["ShortDescription"], p.short_description());
        }
    }

    #[test]
    fn global_flags_are_stripped() {
        struct Case {
            args: &'static [&'static str],
            rest: &'static [&'static str],
            check: fn(&GlobalOpts) -> bool,
        }
        let cases = [
            Case {
                args: &["ls", "-a"],
                rest: &["ls", "-a"],
                check: |o| *o == GlobalOpts::default(),
            },
            Case {
                args: &["--context", "x", "-D", "ls", "-a"],
                rest: &["ls", "-a"],
                check: |o| o.context.as_deref() == Some("x") && o.debug,
            },
            Case {
                args: &["-H", "tcp://h:2376", "--tlsverify", "link", "a", "b"],
                rest: &["link", "a", "b"],
                check: |o| o.hosts == ["tcp://h:2376"] && o.tlsverify,
            },
            Case {
                args: &["--config=/tmp/c", "-l", "debug", "--tlscacert=/ca", "net"],
                rest: &["net"],
                check: |o| {
                    o.config.as_deref() == Some("/tmp/c")
                        && o.log_level.as_deref() == Some("debug")
                        && o.tlscacert.as_deref() == Some("/ca")
                },
            },
            Case {
                args: &[
                    "-c",
                    "remote",
                    "--tls",
                    "--tlscert",
                    "c",
                    "--tlskey",
                    "k",
                    "ls",
                ],
                rest: &["ls"],
                check: |o| {
                    o.context.as_deref() == Some("remote")
                        && o.tls
                        && o.tlscert.as_deref() == Some("c")
                        && o.tlskey.as_deref() == Some("k")
                },
            },
            Case {
                args: &["--debug=false", "ls"],
                rest: &["ls"],
                check: |o| !o.debug,
            },
            Case {
                args: &["-a", "ls"],
                rest: &["-a", "ls"],
                check: |o| *o == GlobalOpts::default(),
            },
        ];
        for c in cases {
            let (opts, rest) = GlobalOpts::parse(&os(c.args)).unwrap();
            assert_eq!(rest, os(c.rest), "{:?}", c.args);
            assert!((c.check)(&opts), "{:?} gave {opts:?}", c.args);
        }
    }

    #[test]
    fn missing_value_is_an_error() {
        assert_eq!(
            GlobalOpts::parse(&os(&["--context"])),
            Err(GlobalOptError::MissingValue("--context".into()))
        );
    }
}
