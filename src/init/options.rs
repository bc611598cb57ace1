//! The init's three command lines: ours (`docker init`), tini's and dumb-init's. A small hand
//! parser: the init must not pay for clap before it forks. `commands::init::clap_command`
//! describes our options for help, completion and man pages; a test keeps the two in step.

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::sys::process::Grouping;

/// Whose command line is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `docker init`.
    Ours,
    /// `docker-init` (dockerd's `--init-path`), `tini`, `tini-static`.
    Tini,
    /// `dumb-init`.
    DumbInit,
}

impl Flavour {
    /// The name used in messages.
    pub fn program(self) -> &'static str {
        match self {
            Flavour::Ours => "docker-init",
            Flavour::Tini => "tini",
            Flavour::DumbInit => "dumb-init",
        }
    }
}

/// What the loop needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub flavour: Flavour,
    pub command: Vec<OsString>,
    /// Forward signals to the child's process group instead of the child.
    pub group: bool,
    pub grouping: Grouping,
    pub subreaper: bool,
    pub pdeathsig: Option<Signal>,
    /// Exit codes of the child reported as 0 (tini's `-e`).
    pub remap_to_zero: Vec<i32>,
    /// Signal rewrites: from → to, 0 drops the signal.
    pub rewrite: HashMap<i32, i32>,
    /// A stop signal the child blocks or ignores becomes SIGKILL.
    pub thug: bool,
    /// On the main child's exit, SIGTERM the rest of the tree, then SIGKILL after `grace`.
    pub kill_tree: bool,
    pub grace: Duration,
    pub warn_on_reap: bool,
    pub verbosity: u8,
    /// Dependencies that must accept connections before the command starts.
    pub wait: Vec<super::ready::WaitTarget>,
    /// Also wait for every `*_PORT_<n>_TCP` link variable of the environment.
    pub wait_links: bool,
    /// Interfaces that must exist and be up first (`docker net` wires them after the
    /// container's process started).
    pub wait_net: Vec<String>,
    pub wait_timeout: Duration,
    /// Running only once this port is listened on (by a descendant with `strict_port`).
    pub bind_port: Option<u16>,
    pub strict_port: bool,
    pub ready_file: Option<std::path::PathBuf>,
    pub web_hook: Option<String>,
    /// Where the child's stdin and output go instead of the init's own (`--io`).
    pub io: Option<super::io::Target>,
    /// The CA that verifies a `tls://` io peer (else the system's roots).
    pub io_ca: Option<std::path::PathBuf>,
    /// With `--io file://`: archive the log file this often.
    pub log_rotate: Option<Duration>,
    /// Put before every line the child writes (ANSI colour included).
    pub stdout_prefix: Option<Vec<u8>>,
}

impl Options {
    fn new(flavour: Flavour) -> Options {
        Options {
            flavour,
            command: Vec::new(),
            group: flavour == Flavour::DumbInit,
            grouping: match flavour {
                Flavour::DumbInit => Grouping::Session,
                _ => Grouping::ProcessGroup,
            },
            subreaper: flavour == Flavour::Ours,
            pdeathsig: None,
            remap_to_zero: Vec::new(),
            rewrite: HashMap::new(),
            thug: false,
            kill_tree: flavour == Flavour::Ours,
            grace: Duration::from_secs(5),
            warn_on_reap: false,
            verbosity: 0,
            wait: Vec::new(),
            wait_links: false,
            wait_net: Vec::new(),
            wait_timeout: Duration::from_secs(60),
            bind_port: None,
            strict_port: false,
            ready_file: None,
            web_hook: None,
            io: None,
            io_ca: None,
            log_rotate: None,
            stdout_prefix: None,
        }
    }

    /// The command's program, for messages (parse refuses an empty command).
    pub fn program_name(&self) -> std::borrow::Cow<'_, str> {
        self.command
            .first()
            .map(|c| c.to_string_lossy())
            .unwrap_or_default()
    }

    /// A diagnostic on stderr when `-v` was given often enough.
    pub fn log(&self, level: u8, msg: &str) {
        if self.verbosity >= level {
            say!("[{}] {msg}", self.flavour.program());
        }
    }
}

/// The outcome of parsing: run, or print a text (help, version) and exit with a code.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Options>),
    Exit(u8, String),
}

/// Parses a signal given as `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        let max = nix::libc::SIGRTMAX();
        return if (0..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!("invalid signal number {n}"))
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| format!("unknown signal name \"{s}\""))
}

fn parse_rewrite(s: &str) -> Result<(i32, i32), String> {
    let (from, to) = s.split_once(':').ok_or_else(|| {
        format!("invalid rewrite \"{s}\": expected FROM:TO (e.g. 15:10 or TERM:USR1)")
    })?;
    let from = parse_signal(from)?;
    if from == 0 {
        return Err(format!("invalid rewrite \"{s}\": cannot rewrite signal 0"));
    }
    Ok((from, parse_signal(to)?))
}

fn env_set(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// tini's switches are presence flags: set, even to nothing, turns the feature on (it checks
/// `getenv(...) != NULL`).
fn env_present(key: &str) -> bool {
    std::env::var_os(key).is_some()
}

/// dumb-init's `-r s:r`: numbers only, `s` from 1 to 31 and `r` from 0 to 31 (its `sscanf("%d:%d")`
/// and range check); anything else is a usage error there, and here.
fn parse_dumb_rewrite(s: &str) -> Result<(i32, i32), String> {
    let numbers = s
        .split_once(':')
        .and_then(|(f, t)| Some((f.parse::<i32>().ok()?, t.parse::<i32>().ok()?)));
    match numbers {
        Some((from, to)) if (1..=DUMB_MAXSIG).contains(&from) && (0..=DUMB_MAXSIG).contains(&to) => {
            Ok((from, to))
        }
        _ => Err(format!(
            "invalid rewrite \"{s}\": expected s:r, signal numbers s from 1 to 31 and r from 0 to 31"
        )),
    }
}

/// The highest signal dumb-init handles (its `MAXSIG`).
const DUMB_MAXSIG: i32 = 31;

fn seconds(v: &str, what: &str) -> Result<Duration, String> {
    // try_from: Duration::from_secs_f64 panics above u64::MAX seconds (say 1e300).
    v.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("invalid {what} \"{v}\": expected seconds"))
}

/// `--log-rotate HOURS`: fractional hours, at least 0.1 s (a shorter period would only spin).
fn rotation_period(v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|h| h.is_finite() && *h * 3600.0 >= 0.1 && *h <= 24.0 * 365.0)
        .and_then(|h| Duration::try_from_secs_f64(h * 3600.0).ok())
        .ok_or_else(|| {
            format!("invalid log rotation period \"{v}\": expected hours (0.00003 to 8760)")
        })
}

/// Parses `args` (argv after the program, or after `init`) in the flavour's syntax.
pub fn parse(flavour: Flavour, args: &[OsString]) -> Result<Parsed, String> {
    let mut o = Options::new(flavour);
    match flavour {
        Flavour::Tini => {
            if env_present("TINI_SUBREAPER") {
                o.subreaper = true;
            }
            if env_present("TINI_KILL_PROCESS_GROUP") {
                o.group = true;
            }
            if let Some(v) = env_set("TINI_VERBOSITY").and_then(|v| v.parse().ok()) {
                o.verbosity = v;
            }
        }
        Flavour::DumbInit => {
            if env_set("DUMB_INIT_SETSID").as_deref() == Some("0") {
                o.group = false;
                o.grouping = Grouping::Inherit;
            }
        }
        Flavour::Ours => {}
    }
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].to_string_lossy().into_owned();
        if arg == "--" {
            i += 1;
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            i += 1;
            args.get(i)
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or_else(|| format!("option {flag} needs a value"))
        };
        match (flavour, flag.as_str()) {
            (_, "-h" | "--help") => return Ok(Parsed::Exit(0, usage(flavour))),
            (Flavour::Tini, "--version") => {
                return Ok(Parsed::Exit(
                    0,
                    format!(
                        "tini version 0.19.0 - git.docker-link-{}\n",
                        crate::plugin::VERSION
                    ),
                ))
            }
            (Flavour::DumbInit, "-V" | "--version") => {
                return Ok(Parsed::Exit(
                    0,
                    format!(
                        "dumb-init v1.2.5 (docker-link {})\n",
                        crate::plugin::VERSION
                    ),
                ))
            }
            (Flavour::Ours, "-V" | "--version") => {
                return Ok(Parsed::Exit(
                    0,
                    format!("docker init (docker-link) {}\n", crate::plugin::VERSION),
                ))
            }
            (Flavour::Tini, "-l") => return Ok(Parsed::Exit(
                0,
                "MIT-compatible: docker-link is Apache-2.0; it implements tini's command line\n"
                    .into(),
            )),
            (Flavour::Tini | Flavour::Ours, "-s" | "--subreaper") => o.subreaper = true,
            (Flavour::Tini | Flavour::Ours, "-g" | "--group") => o.group = true,
            (Flavour::Tini | Flavour::Ours, "-w" | "--warn-reaping") => o.warn_on_reap = true,
            (Flavour::Tini | Flavour::Ours, "-p" | "--pdeathsig") => {
                let sig = parse_signal(&value()?)?;
                o.pdeathsig = Some(
                    Signal::try_from(sig)
                        .map_err(|_| format!("invalid parent death signal {sig}"))?,
                );
            }
            (Flavour::Tini | Flavour::Ours, "-e" | "--remap-exit") => {
                let v = value()?;
                let code: i32 = v
                    .parse()
                    .ok()
                    .filter(|c| (0..=255).contains(c))
                    .ok_or_else(|| format!("invalid exit code \"{v}\": expected 0 to 255"))?;
                o.remap_to_zero.push(code);
            }
            (Flavour::DumbInit, "-c" | "--single-child") => {
                o.group = false;
                o.grouping = Grouping::Inherit;
            }
            (Flavour::DumbInit, "-r" | "--rewrite") => {
                let (from, to) = parse_dumb_rewrite(&value()?)?;
                o.rewrite.insert(from, to);
            }
            (Flavour::Ours, "-r" | "--rewrite") => {
                let (from, to) = parse_rewrite(&value()?)?;
                o.rewrite.insert(from, to);
            }
            (Flavour::Ours, "--thug") => o.thug = true,
            (Flavour::Ours, "--grace") => o.grace = seconds(&value()?, "grace period")?,
            (Flavour::Ours, "--no-teardown") => o.kill_tree = false,
            (Flavour::Ours, "--wait") => o.wait.push(value()?.parse()?),
            (Flavour::Ours, "--wait-links") => o.wait_links = true,
            (Flavour::Ours, "--wait-net") => {
                let dev = value()?;
                if dev.is_empty()
                    || dev.len() > 15
                    || dev == "."
                    || dev == ".."
                    || dev.contains(|c: char| c == '/' || c == ':' || c.is_whitespace())
                {
                    return Err(format!("invalid interface name \"{dev}\" for --wait-net"));
                }
                o.wait_net.push(dev)
            }
            (Flavour::Ours, "--wait-timeout") => {
                o.wait_timeout = seconds(&value()?, "wait timeout")?
            }
            (Flavour::Ours, "--bind-port") => {
                let v = value()?;
                o.bind_port = Some(
                    v.parse()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("invalid port \"{v}\""))?,
                );
            }
            (Flavour::Ours, "--strict-port-binding") => o.strict_port = true,
            (Flavour::Ours, "--ready-file") => o.ready_file = Some(value()?.into()),
            (Flavour::Ours, "--web-hook") => {
                let url = value()?;
                super::ready::validate_hook(&url)?;
                o.web_hook = Some(url);
            }
            (Flavour::Ours, "--io") => o.io = Some(value()?.parse()?),
            (Flavour::Ours, "--io-ca") => o.io_ca = Some(value()?.into()),
            (Flavour::Ours, "--log-rotate") => o.log_rotate = Some(rotation_period(&value()?)?),
            (Flavour::Ours, "--stdout-prefix") => {
                o.stdout_prefix = Some(super::io::parse_prefix(&value()?)?)
            }
            // Saturating: a long run of -v must not overflow the counter.
            (_, "-v" | "--verbose") => o.verbosity = o.verbosity.saturating_add(1),
            (Flavour::Tini, f)
                if f.starts_with('-')
                    && f.len() > 2
                    && !f.starts_with("--")
                    && f[1..].chars().all(|c| c == 'v') =>
            {
                let more = u8::try_from(f.len() - 1).unwrap_or(u8::MAX);
                o.verbosity = o.verbosity.saturating_add(more);
            }
            _ => return Err(format!("unknown option {arg}")),
        }
        i += 1;
    }
    // The loop leaves i <= args.len(); get keeps that from being a panic if it ever changes.
    o.command = args.get(i..).map(<[OsString]>::to_vec).unwrap_or_default();
    if o.command.is_empty() {
        return Err("no command given".to_string());
    }
    if flavour == Flavour::DumbInit && o.group {
        // In setsid mode the child's group is orphaned and the kernel ignores the default stop
        // of TSTP, TTIN and TTOU there: dumb-init sends SIGSTOP instead, unless rewritten.
        for sig in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
            o.rewrite
                .entry(sig as i32)
                .or_insert(Signal::SIGSTOP as i32);
        }
    }
    if o.strict_port && o.bind_port.is_none() {
        return Err("--strict-port-binding needs --bind-port".to_string());
    }
    if o.log_rotate.is_some() && !matches!(o.io, Some(super::io::Target::File(_))) {
        return Err("--log-rotate needs --io file://PATH".to_string());
    }
    if o.io_ca.is_some() && !matches!(o.io, Some(super::io::Target::Tls(_))) {
        return Err("--io-ca needs --io tls://HOST:PORT".to_string());
    }
    Ok(Parsed::Run(Box::new(o)))
}

/// The help text of each flavour.
pub fn usage(flavour: Flavour) -> String {
    match flavour {
        Flavour::Ours => "Usage: docker init [OPTIONS] [--] COMMAND [ARG...]

Run COMMAND under a PID 1 that forwards signals, reaps zombies, and on COMMAND's exit sends
SIGTERM to what is left, then SIGKILL after the grace period. Outside a container it registers
as a child subreaper. Exits with COMMAND's code, or 128 + the signal that killed it.

Options:
  -g, --group              forward signals to COMMAND's process group
  -e, --remap-exit CODE    report exit code CODE as 0 (repeatable)
  -r, --rewrite FROM:TO    rewrite signal FROM to TO before forwarding; TO 0 drops it
      --thug               a stop signal COMMAND blocks or ignores becomes SIGKILL
      --grace SECS         grace period before SIGKILL on shutdown (default 5)
      --no-teardown        leave the other processes alone when COMMAND exits
      --wait tcp://H:P     start COMMAND only once H:P accepts connections (repeatable)
      --wait-links         also wait for every *_PORT_<n>_TCP link variable
      --wait-net DEV       start COMMAND only once interface DEV exists and is up
                           (docker net wires it after the start; repeatable)
      --wait-timeout SECS  give up waiting after SECS (default 60)
      --bind-port PORT     report running only once PORT is listened on
      --strict-port-binding  ... and only by a process of this init's tree
      --ready-file PATH    write PATH when COMMAND is running
      --web-hook URL       PUT the state (dock's JSON payload) to URL on each change
      --io URL             COMMAND's stdin and output over file://PATH (output appended,
                           stdin /dev/null), tcp://HOST:PORT or tls://HOST:PORT; stderr
                           goes with stdout (as 2>&1)
      --io-ca FILE         PEM CA that verifies a tls:// peer (default: the system's roots)
      --log-rotate HOURS   with --io file://: gzip the log to <UTC time>-NAME.gz every HOURS
                           (fractions allowed), keep the 5 newest archives
      --stdout-prefix PREFIX[:COLOUR]
                           put PREFIX before every output line; COLOUR is white, green,
                           blue, magenta, yellow, cyan or red
  -s, --subreaper          register as a child subreaper (the default outside PID 1)
  -p, --pdeathsig SIG      signal to receive when the parent dies
  -w, --warn-reaping       warn when reaping a zombie that is not COMMAND
  -v, --verbose            more diagnostics on stderr (repeatable)
  -V, --version            print the version
  -h, --help               print this help
"
        .to_string(),
        Flavour::Tini => "Usage: tini [OPTIONS] PROGRAM -- [ARGS] | --version

Execute a program under the supervision of a valid init process (tini's command line,
implemented by docker-link).

  --version: Show version and exit.
  -h: Show this help message and exit.
  -s: Register as a process subreaper (requires Linux >= 3.4).
  -p SIGNAL: Trigger SIGNAL when parent dies, e.g. \"-p SIGKILL\".
  -v: Generate more verbose output. Repeat up to 3 times.
  -w: Print a warning when processes are getting reaped.
  -g: Send signals to the child's process group.
  -e EXIT_CODE: Remap EXIT_CODE (from 0 to 255) to 0.
  -l: Show license and exit.

Environment variables:
  TINI_SUBREAPER: Register as a process subreaper (requires Linux >= 3.4).
  TINI_VERBOSITY: Set the verbosity level (default: 1).
  TINI_KILL_PROCESS_GROUP: Send signals to the child's process group.
"
        .to_string(),
        Flavour::DumbInit => "Usage: dumb-init [option] command [[arg] ...]

dumb-init is a simple process supervisor that forwards signals to children (dumb-init's
command line, implemented by docker-link).

Optional arguments:
   -c, --single-child   Run in single-child mode.
   -r, --rewrite s:r    Rewrite received signal s to new signal r before proxying.
                        To ignore (not proxy) a signal, rewrite it to 0.
   -v, --verbose        Print debugging information to stderr.
   -h, --help           Print this help message and exit.
   -V, --version        Print the current version and exit.
"
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn run(flavour: Flavour, args: &[&str]) -> Options {
        match parse(flavour, &os(args)) {
            Ok(Parsed::Run(o)) => *o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn signals() {
        let cases: &[(&str, Result<i32, ()>)] = &[
            ("TERM", Ok(15)),
            ("SIGTERM", Ok(15)),
            ("term", Ok(15)),
            ("10", Ok(10)),
            ("0", Ok(0)),
            ("SIGNOPE", Err(())),
            ("999", Err(())),
        ];
        for (s, want) in cases {
            assert_eq!(parse_signal(s).map_err(|_| ()), *want, "{s}");
        }
    }

    #[test]
    fn ours() {
        let o = run(
            Flavour::Ours,
            &[
                "-g",
                "-e",
                "3",
                "--rewrite",
                "TERM:USR1",
                "-r",
                "2:0",
                "--grace=1.5",
                "--thug",
                "--",
                "sh",
                "-c",
                "x",
            ],
        );
        assert!(o.group && o.thug && o.kill_tree && o.subreaper);
        assert_eq!(o.remap_to_zero, [3]);
        assert_eq!(o.rewrite.get(&15), Some(&10));
        assert_eq!(o.rewrite.get(&2), Some(&0));
        assert_eq!(o.grace, Duration::from_millis(1500));
        assert_eq!(o.command, os(&["sh", "-c", "x"]));
        // Options stop at the first operand.
        let o = run(Flavour::Ours, &["sh", "-g"]);
        assert_eq!(o.command, os(&["sh", "-g"]));
        assert!(!o.group);
        assert!(!run(Flavour::Ours, &["--no-teardown", "x"]).kill_tree);
    }

    #[test]
    fn io_options() {
        let o = run(
            Flavour::Ours,
            &[
                "--io",
                "file:///var/log/app.log",
                "--log-rotate",
                "0.001",
                "--stdout-prefix",
                "web:green",
                "x",
            ],
        );
        assert_eq!(
            o.io,
            Some(super::super::io::Target::File("/var/log/app.log".into()))
        );
        assert_eq!(o.log_rotate, Some(Duration::from_secs_f64(3.6)));
        assert_eq!(o.stdout_prefix.as_deref(), Some(&b"\x1b[32mweb\x1b[0m"[..]));
        let o = run(
            Flavour::Ours,
            &["--io=tls://logs:6514", "--io-ca", "/ca.pem", "x"],
        );
        assert!(matches!(o.io, Some(super::super::io::Target::Tls(_))));
        assert_eq!(o.io_ca, Some("/ca.pem".into()));
    }

    #[test]
    fn tini() {
        let o = run(
            Flavour::Tini,
            &[
                "-s", "-g", "-vvv", "-w", "-p", "SIGKILL", "-e", "143", "--", "x",
            ],
        );
        assert!(o.subreaper && o.group && o.warn_on_reap && !o.kill_tree);
        assert_eq!(o.verbosity, 3);
        assert_eq!(o.pdeathsig, Some(Signal::SIGKILL));
        assert_eq!(o.remap_to_zero, [143]);
        match parse(Flavour::Tini, &os(&["--version"])).unwrap() {
            Parsed::Exit(0, text) => {
                assert!(text.starts_with("tini version 0.19.0 - git."), "{text}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verbosity_saturates() {
        // 300 v's in one flag, then more: the counter stops at its maximum instead of
        // overflowing (a panic in a debug build, a wrap to quiet in a release one).
        let many = format!("-{}", "v".repeat(300));
        let o = run(Flavour::Tini, &[&many, "-v", "x"]);
        assert_eq!(o.verbosity, u8::MAX);
        let vs = vec!["-v"; 300];
        let o = run(Flavour::Ours, &[vs.as_slice(), &["x"]].concat());
        assert_eq!(o.verbosity, u8::MAX);
    }

    #[test]
    fn dumb_init() {
        let o = run(Flavour::DumbInit, &["-r", "15:10", "-r", "20:0", "x"]);
        assert!(o.group && !o.kill_tree);
        assert_eq!(o.grouping, Grouping::Session);
        // setsid mode: the terminal stops become SIGSTOP unless the user rewrote them.
        assert_eq!(o.rewrite.get(&15), Some(&10));
        assert_eq!(o.rewrite.get(&20), Some(&0));
        assert_eq!(o.rewrite.get(&21), Some(&19));
        assert_eq!(o.rewrite.get(&22), Some(&19));
        let o = run(Flavour::DumbInit, &["--single-child", "x"]);
        assert!(!o.group);
        assert_eq!(o.grouping, Grouping::Inherit);
        assert!(o.rewrite.is_empty());
        // Only numbers, 1-31 and 0-31, as dumb-init's sscanf and range check.
        for bad in ["TERM:USR1", "0:1", "32:1", "15:32", "15", "15:-1"] {
            let err = parse(Flavour::DumbInit, &os(&["-r", bad, "x"])).unwrap_err();
            assert!(err.contains("signal numbers"), "{bad}: {err}");
        }
        assert!(matches!(
            parse(Flavour::DumbInit, &os(&["-r", "31:0", "x"])),
            Ok(Parsed::Run(_))
        ));
    }

    #[test]
    fn wait_net_takes_interfaces() {
        match parse(
            Flavour::Ours,
            &os(&["--wait-net", "eth1", "--wait-net", "eth2", "--", "x"]),
        ) {
            Ok(Parsed::Run(o)) => assert_eq!(o.wait_net, ["eth1", "eth2"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_input() {
        let cases: &[(Flavour, &[&str], &str)] = &[
            (Flavour::Ours, &[], "no command"),
            (
                Flavour::Ours,
                &["--rewrite", "FOO:1", "x"],
                "unknown signal name \"FOO\"",
            ),
            (Flavour::Ours, &["--rewrite", "15", "x"], "expected FROM:TO"),
            (Flavour::Ours, &["-e", "300", "x"], "invalid exit code"),
            (
                Flavour::Ours,
                &["--grace", "soon", "x"],
                "invalid grace period",
            ),
            // Beyond what a Duration holds: an error, not a panic of PID 1.
            (
                Flavour::Ours,
                &["--grace", "1e300", "x"],
                "invalid grace period",
            ),
            (
                Flavour::Ours,
                &["--wait-timeout", "-1", "x"],
                "invalid wait timeout",
            ),
            (
                Flavour::Ours,
                &["--wait-timeout", "inf", "x"],
                "invalid wait timeout",
            ),
            (Flavour::Ours, &["--bogus", "x"], "unknown option --bogus"),
            (Flavour::Tini, &["-c", "x"], "unknown option -c"),
            (Flavour::Ours, &["-p"], "needs a value"),
            (
                Flavour::Ours,
                &["--wait", "redis:6379", "x"],
                "expected tcp://HOST:PORT",
            ),
            (Flavour::Ours, &["--bind-port", "0", "x"], "invalid port"),
            (
                Flavour::Ours,
                &["--wait-net", "averyveryverylongname", "x"],
                "invalid interface name \"averyveryverylongname\" for --wait-net",
            ),
            (
                Flavour::Ours,
                &["--wait-net", "a/b", "x"],
                "invalid interface name \"a/b\" for --wait-net",
            ),
            (
                Flavour::Tini,
                &["--wait-net", "eth1", "x"],
                "unknown option --wait-net",
            ),
            (
                Flavour::Ours,
                &["--strict-port-binding", "x"],
                "needs --bind-port",
            ),
            (
                Flavour::Ours,
                &["--web-hook", "ftp://x", "x"],
                "only http://",
            ),
            (Flavour::Ours, &["--io", "udp://h:1", "x"], "invalid io URL"),
            (
                Flavour::Ours,
                &["--stdout-prefix", "web:pink", "x"],
                "unknown colour \"pink\"",
            ),
            (
                Flavour::Ours,
                &["--io", "tcp://h:1", "--log-rotate", "1", "x"],
                "--log-rotate needs --io file://",
            ),
            (
                Flavour::Ours,
                &["--io", "file:///l", "--log-rotate", "0", "x"],
                "invalid log rotation period",
            ),
            (
                Flavour::Ours,
                &["--io", "tcp://h:1", "--io-ca", "/ca", "x"],
                "--io-ca needs --io tls://",
            ),
            (
                Flavour::Tini,
                &["--io", "file:///l", "x"],
                "unknown option --io",
            ),
        ];
        for (f, args, want) in cases {
            let err = parse(*f, &os(args)).unwrap_err();
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}
