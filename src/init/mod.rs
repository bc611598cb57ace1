//! The PID 1: block signals, read them from a signalfd, spawn the child with the inherited
//! mask, reap every zombie, forward signals, and when the main child dies signal the rest of
//! the tree, wait, and kill what ignores it after a grace period. No tokio, no daemon, no
//! thread before the fork.
//!
//! Three command lines reach the same loop: ours (`docker init`), tini's (when called as
//! `docker-init`, `tini` or `tini-static`, so dockerd's `--init-path` can point at us) and
//! dumb-init's (when called as `dumb-init`). See [`options`].

/// `eprintln!` without its panic: std's panics when stderr fails (EPIPE once the reader of a
/// container's log pipe is gone), and a panic in PID 1 aborts the container. A message that
/// cannot be written is dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `print!`/`eprint!` of a whole text, dropped when the stream fails (see [`say!`]).
macro_rules! put {
    ($stream:expr, $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!($stream, $($arg)*);
    }};
}

pub mod io;
pub mod options;
pub mod ready;

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::sys::process::{self as proc, ChildSpec};
pub use options::{Flavour, Options};

/// Runs the init with a peer's command line.
pub fn compat_main(flavour: Flavour, args: &[OsString]) -> ExitCode {
    match options::parse(flavour, args) {
        Ok(options::Parsed::Run(opts)) => ExitCode::from(run(&opts) as u8),
        Ok(options::Parsed::Exit(code, text)) => {
            if code == 0 {
                put!(std::io::stdout(), "{text}");
            } else {
                put!(std::io::stderr(), "{text}");
            }
            ExitCode::from(code)
        }
        Err(e) => {
            say!("{}: {e}", flavour.program());
            put!(std::io::stderr(), "{}", options::usage(flavour));
            ExitCode::from(1)
        }
    }
}

/// Runs the init loop; returns the exit code (the child's, 128 + signal, or remapped).
pub fn run(opts: &Options) -> i32 {
    let me = opts.flavour.program();
    let inherited = match proc::block_signals() {
        Ok(m) => m,
        Err(e) => {
            say!("{me}: cannot block signals: {e}");
            return 1;
        }
    };
    let pid1 = std::process::id() == 1;
    // Every orphan of our tree becomes our child: then "no children" means "no descendants".
    // A parent may have made us a subreaper already (the bit survives exec): tini checks
    // that and so do we, silently.
    let mut sole_reaper = pid1 || proc::is_child_subreaper();
    if !sole_reaper {
        if opts.subreaper {
            match nix::sys::prctl::set_child_subreaper(true) {
                Ok(()) => sole_reaper = true,
                Err(e) => say!("{me}: cannot register as a child subreaper: {e}"),
            }
        } else if opts.flavour != Flavour::DumbInit {
            // dumb-init never warns; tini does.
            say!(
                "{me}: warning: not running as PID 1 and not registered as a child subreaper: \
                 orphaned zombies will not be reaped (use -s)"
            );
        }
    }
    if let Some(sig) = opts.pdeathsig {
        if let Err(e) = nix::sys::prctl::set_pdeathsig(sig) {
            say!("{me}: cannot set the parent death signal: {e}");
        }
    }
    let Some(mut spec) = ChildSpec::new(&opts.command, inherited, opts.grouping, me) else {
        say!("{me}: the command contains a NUL byte");
        return 1;
    };
    if opts.flavour == Flavour::DumbInit {
        spec.reset_signals();
    }
    // The signalfd reads everything blocked; SIGCHLD among it wakes us to reap. Blocking: in
    // the steady state the read is the whole wait (see Loop::run); timed waits poll first, so
    // their reads never block.
    let sfd = match SignalFd::with_flags(&SigSet::all(), SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => fd,
        Err(e) => {
            say!("{me}: cannot create a signalfd: {e}");
            return 1;
        }
    };
    // Dependencies first: the command starts only once they accept connections.
    let mut targets = opts.wait.clone();
    if opts.wait_links {
        targets.extend(ready::link_targets(std::env::vars()));
    }
    if let Err(code) = wait_for(&targets, opts, &sfd) {
        return code;
    }
    if let Err(code) = wait_for_interfaces(opts, &sfd) {
        return code;
    }
    // The io target is opened or connected (TLS verified) before the command starts: when it
    // cannot be, the command never runs and the init exits 1, as for its other startup
    // failures (tini's convention).
    let io = match io::prepare(opts) {
        Ok(plan) => plan,
        Err(e) => {
            say!("{me}: {e}; not starting {}", opts.program_name());
            return 1;
        }
    };
    if let Some(plan) = &io {
        spec.set_stdio(plan.stdio());
    }
    // dumb-init in setsid mode hands the controlling terminal over to the child's session;
    // the SIGHUP and SIGCONT that giving it up sends us are not forwarded (dumb-init#136).
    let tty_handoff = opts.flavour == Flavour::DumbInit
        && opts.grouping == proc::Grouping::Session
        && proc::give_up_terminal();
    let child = match proc::spawn(&spec) {
        Ok(pid) => pid.as_raw(),
        Err(e) => {
            say!("{me}: cannot fork: {e}");
            return 1;
        }
    };
    if opts.flavour == Flavour::DumbInit {
        // dumb-init never pins the directory it was started in (the child keeps it).
        let _ = std::env::set_current_dir("/");
    }
    opts.log(1, &format!("spawned {:?} as pid {child}", opts.command));
    // Threads only now that the child is forked.
    let relay = io.map(|plan| plan.start(child));
    let hook = opts
        .web_hook
        .clone()
        .map(|url| ready::Hook::start(url, HOOK_TIMEOUT, me));
    if let Some(h) = &hook {
        h.send(ready::State::Starting);
    }
    // What starting needed, the loop does not: give it back (a container pays for every page
    // its init keeps mapped).
    crate::sys::memory::release_unneeded_pages();
    let mut main_loop = Loop::new(opts, child, hook.as_ref(), sole_reaper);
    if tty_handoff {
        main_loop.ignore_once = vec![Signal::SIGHUP as i32, Signal::SIGCONT as i32];
    }
    let code = main_loop.run(&sfd);
    // The child's last output before the hook's last state.
    if let Some(r) = relay {
        r.finish(io::FINISH_LIMIT);
    }
    if let Some(h) = hook {
        h.finish(HOOK_TIMEOUT);
    }
    if let Some(f) = &opts.ready_file {
        let _ = std::fs::remove_file(f);
    }
    opts.log(1, &format!("exiting with {code}"));
    code
}

/// How long one web hook call may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Blocks until every target accepts a connection; a stop signal meanwhile ends the init
/// (128 + signal) without starting the command, and so does the timeout (1).
fn wait_for(targets: &[ready::WaitTarget], opts: &Options, sfd: &SignalFd) -> Result<(), i32> {
    let me = opts.flavour.program();
    // None: a timeout too long for an Instant (say --wait-timeout 1e19) never ends the wait.
    let deadline = Instant::now().checked_add(opts.wait_timeout);
    for target in targets {
        let mut announced = false;
        while !ready::accepts(target, Duration::from_millis(500)) {
            if !announced {
                say!("{me}: waiting for {target}");
                announced = true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                say!(
                    "{me}: {target} did not accept a connection within {}s; not starting {}",
                    opts.wait_timeout.as_secs_f64(),
                    opts.program_name()
                );
                return Err(1);
            }
            while let Some(info) = next_signal(sfd, PollTimeout::from(250u16)) {
                let sig = info.ssi_signo as i32;
                if matches!(
                    Signal::try_from(sig),
                    Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT | Signal::SIGHUP)
                ) {
                    say!("{me}: {} while waiting for {target}", signal_name(sig));
                    return Err(128 + sig);
                }
            }
        }
        opts.log(1, &format!("{target} accepts connections"));
    }
    Ok(())
}

/// Whether interface `dev` of this network namespace exists and is up (IFF_UP in sysfs,
/// which shows the namespace of whoever mounted it: the container's own, in a container).
fn interface_up(dev: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/flags"))
        .ok()
        .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|flags| flags & 1 == 1)
}

/// Blocks until every `--wait-net` interface exists and is up (`docker net` wires links
/// after the container's process started); a stop signal ends the init (128 + signal)
/// without starting the command, and so does the timeout (1).
fn wait_for_interfaces(opts: &Options, sfd: &SignalFd) -> Result<(), i32> {
    let me = opts.flavour.program();
    let deadline = Instant::now().checked_add(opts.wait_timeout);
    for dev in &opts.wait_net {
        let mut announced = false;
        while !interface_up(dev) {
            if !announced {
                say!("{me}: waiting for interface {dev}");
                announced = true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                say!(
                    "{me}: interface {dev} was not up within {}s; not starting {}",
                    opts.wait_timeout.as_secs_f64(),
                    opts.program_name()
                );
                return Err(1);
            }
            while let Some(info) = next_signal(sfd, PollTimeout::from(50u16)) {
                let sig = info.ssi_signo as i32;
                if matches!(
                    Signal::try_from(sig),
                    Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT | Signal::SIGHUP)
                ) {
                    say!(
                        "{me}: {} while waiting for interface {dev}",
                        signal_name(sig)
                    );
                    return Err(128 + sig);
                }
            }
        }
        opts.log(1, &format!("interface {dev} is up"));
    }
    Ok(())
}

/// The next signal, waiting at most `timeout`: poll first, so the read of the blocking
/// signalfd never blocks (nothing else reads it).
fn next_signal(sfd: &SignalFd, timeout: PollTimeout) -> Option<nix::sys::signalfd::siginfo> {
    let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
    match nix::poll::poll(&mut fds, timeout) {
        Ok(n) if n > 0 => sfd.read_signal().ok().flatten(),
        _ => None,
    }
}

struct Loop<'a> {
    opts: &'a Options,
    /// PID 1 or a registered subreaper: every descendant left is a child of ours.
    sole_reaper: bool,
    hook: Option<&'a ready::Hook>,
    /// The child counts as running (reported to the hook and the ready file).
    running: bool,
    child: i32,
    main_status: Option<i32>,
    /// When the rest of the tree was sent SIGTERM.
    term_sent: Option<Instant>,
    kill_sent: bool,
    /// Signals whose next arrival is not forwarded (the terminal hand-off's SIGHUP, SIGCONT).
    ignore_once: Vec<i32>,
}

impl<'a> Loop<'a> {
    fn new(
        opts: &'a Options,
        child: i32,
        hook: Option<&'a ready::Hook>,
        sole_reaper: bool,
    ) -> Loop<'a> {
        Loop {
            opts,
            sole_reaper,
            hook,
            running: false,
            child,
            main_status: None,
            term_sent: None,
            kill_sent: false,
            ignore_once: Vec::new(),
        }
    }

    fn run(&mut self, sfd: &SignalFd) -> i32 {
        loop {
            self.reap();
            if let Some(status) = self.main_status {
                if !self.opts.kill_tree || self.shutdown_done() {
                    self.report_end(status);
                    return self.exit_code(status);
                }
            } else if !self.running {
                self.check_running();
            }
            let timeout = match self.term_sent {
                Some(t) if !self.kill_sent => {
                    let left = self.opts.grace.saturating_sub(t.elapsed());
                    // One below i32::MAX: the + 1 (round up) must not overflow.
                    let ms = left.as_millis().min(i32::MAX as u128 - 1) as i32;
                    PollTimeout::try_from(ms + 1).unwrap_or(PollTimeout::MAX)
                }
                // After SIGKILL, poll briefly: the kernel's SIGCHLDs may coalesce.
                Some(_) => PollTimeout::from(100u16),
                // Waiting for --bind-port: look again soon.
                None if !self.running && self.main_status.is_none() => PollTimeout::from(100u16),
                None => PollTimeout::NONE,
            };
            let info = if timeout == PollTimeout::NONE {
                // The steady state: one blocking read is the whole wait, as tini's
                // sigtimedwait, so a signal is forwarded one system call after it wakes us.
                sfd.read_signal().ok().flatten()
            } else {
                next_signal(sfd, timeout)
            };
            // One signal per turn: the reap at the top of the loop runs between them.
            if let Some(info) = info {
                let sig = info.ssi_signo as i32;
                if is_synchronous(sig)
                    && !proc::sent_by_another_process(info.ssi_code, info.ssi_pid)
                {
                    // Not a `kill` from outside: the init's own doing, which must end it.
                    proc::die_of(sig);
                }
                self.on_signal(sig);
            }
        }
    }

    fn on_signal(&mut self, sig: i32) {
        if sig == Signal::SIGCHLD as i32 {
            return;
        }
        if let Some(at) = self.ignore_once.iter().position(|&s| s == sig) {
            self.ignore_once.swap_remove(at);
            self.opts.log(
                1,
                &format!("ignored the terminal hand-off's {}", signal_name(sig)),
            );
            return;
        }
        if self.main_status.is_some() {
            // The main child is gone; a second stop signal ends the grace period at once.
            if matches!(Signal::try_from(sig), Ok(Signal::SIGTERM | Signal::SIGINT)) {
                self.kill_rest(Signal::SIGKILL as i32);
                self.kill_sent = true;
            }
            return;
        }
        let target = match self.opts.rewrite.get(&sig) {
            Some(0) => {
                self.opts.log(1, &format!("dropped {}", signal_name(sig)));
                self.job_control_stop(sig);
                return;
            }
            Some(&r) => r,
            None => sig,
        };
        let target = if self.opts.thug && self.child_refuses(target) {
            Signal::SIGKILL as i32
        } else {
            target
        };
        let dest = if self.opts.group {
            -self.child
        } else {
            self.child
        };
        let sent = proc::send(dest, target);
        // Formatted only when shown: this is the forwarding path.
        if self.opts.verbosity >= 1 {
            match sent {
                Ok(()) => self
                    .opts
                    .log(1, &format!("forwarded {} to {dest}", signal_name(target))),
                Err(e) => self
                    .opts
                    .log(1, &format!("cannot forward {}: {e}", signal_name(target))),
            }
        }
        self.job_control_stop(sig);
    }

    /// dumb-init's job control: after passing a terminal stop on (or dropping it), stop
    /// ourselves too so the shell that started us sees the job stopped; SIGCONT resumes us
    /// and is forwarded in turn. dumb-init does this in both modes.
    fn job_control_stop(&self, sig: i32) {
        if self.opts.flavour == Flavour::DumbInit
            && matches!(
                Signal::try_from(sig),
                Ok(Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU)
            )
        {
            let _ = proc::send(std::process::id() as i32, Signal::SIGSTOP as i32);
        }
    }

    fn check_running(&mut self) {
        if let Some(port) = self.opts.bind_port {
            if !ready::port_bound(port, self.opts.strict_port) {
                return;
            }
        }
        self.running = true;
        self.opts.log(1, "running");
        if let Some(f) = &self.opts.ready_file {
            if let Err(e) = std::fs::write(f, format!("{}\n", self.child)) {
                say!(
                    "{}: cannot write the ready file {}: {e}",
                    self.opts.flavour.program(),
                    f.display()
                );
            }
        }
        if let Some(h) = self.hook {
            h.send(ready::State::Running);
        }
    }

    fn report_end(&self, status: i32) {
        if let Some(h) = self.hook {
            let clean = proc::exit_code_of(status) == Some(0);
            h.send(if clean {
                ready::State::Exited
            } else {
                ready::State::Crashed
            });
        }
    }

    /// `--thug`: a stop signal the child blocks or ignores would never end it.
    fn child_refuses(&self, sig: i32) -> bool {
        if !matches!(
            Signal::try_from(sig),
            Ok(Signal::SIGINT | Signal::SIGQUIT | Signal::SIGTERM)
        ) {
            return false;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", self.child)) else {
            return false;
        };
        let bit = 1u64 << (sig - 1);
        status.lines().any(|l| {
            let (k, v) = l.split_once(':').unwrap_or_default();
            matches!(k, "SigBlk" | "SigIgn")
                && u64::from_str_radix(v.trim(), 16).is_ok_and(|m| m & bit != 0)
        })
    }

    fn reap(&mut self) {
        while let Some((pid, status)) = proc::reap_one() {
            if pid == self.child {
                if let Some(code) = proc::exit_code_of(status) {
                    self.opts
                        .log(1, &format!("main child {pid} exited with {code}"));
                }
                self.main_status = Some(status);
                self.dumb_init_farewell();
            } else {
                if self.opts.warn_on_reap {
                    say!(
                        "{}: warning: reaped zombie process with pid={pid}",
                        self.opts.flavour.program()
                    );
                }
                // Formatted only when shown: a burst of orphans is reaped in this loop.
                if self.opts.verbosity >= 2 {
                    self.opts.log(2, &format!("reaped {pid}"));
                }
            }
        }
    }

    /// dumb-init in setsid mode: when the main child is gone, SIGTERM (as rewritten) goes to
    /// its process group, so background workers get a graceful stop before the init exits.
    fn dumb_init_farewell(&self) {
        if self.opts.flavour != Flavour::DumbInit || !self.opts.group {
            return;
        }
        let term = Signal::SIGTERM as i32;
        let sig = self.opts.rewrite.get(&term).copied().unwrap_or(term);
        if sig != 0 {
            let _ = proc::send(-self.child, sig);
        }
    }

    /// Drives the tree shutdown; true when nothing is left to wait for.
    fn shutdown_done(&mut self) -> bool {
        let children = proc::has_children();
        // The /proc scan reads every process of the machine (tens of ms on a busy host): only
        // when a descendant could hide outside our children.
        if !children && (self.sole_reaper || self.descendants_alive().is_empty()) {
            return true;
        }
        match self.term_sent {
            None => {
                self.opts
                    .log(1, "main child gone: sending SIGTERM to the rest");
                self.kill_rest(Signal::SIGTERM as i32);
                self.term_sent = Some(Instant::now());
            }
            Some(t) if !self.kill_sent && t.elapsed() >= self.opts.grace => {
                self.opts
                    .log(1, "grace period over: sending SIGKILL to the rest");
                self.kill_rest(Signal::SIGKILL as i32);
                self.kill_sent = true;
            }
            _ => {}
        }
        false
    }

    fn kill_rest(&self, sig: i32) {
        if std::process::id() == 1 {
            // Everything else in the PID namespace is ours.
            let _ = proc::send(-1, sig);
            return;
        }
        for pid in self.descendants_alive() {
            let _ = proc::send(pid, sig);
        }
    }

    /// Our descendants, from /proc: as a subreaper, orphans of our tree are our children.
    fn descendants_alive(&self) -> BTreeSet<i32> {
        descendants(std::process::id() as i32)
    }

    fn exit_code(&self, status: i32) -> i32 {
        let code = proc::exit_code_of(status).unwrap_or(1);
        if self.opts.remap_to_zero.contains(&code) {
            0
        } else {
            code
        }
    }
}

fn is_synchronous(sig: i32) -> bool {
    proc::SYNCHRONOUS.iter().any(|&s| s as i32 == sig)
}

/// Every live descendant of `root` (zombies excluded), from /proc.
pub fn descendants(root: i32) -> BTreeSet<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) =
            std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
        else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: fields follow the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: i32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state != "Z" {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if out.insert(c) {
                stack.push(c);
            }
        }
    }
    out
}

/// `SIGTERM`-style name of a signal number (realtime ones as `SIGRTMIN+n`).
pub fn signal_name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {sig}"),
    }
}

impl Flavour {
    pub fn from_argv0(argv0: &OsStr) -> Option<Flavour> {
        match Path::new(argv0).file_name()?.to_str()? {
            "docker-init" | "tini" | "tini-static" => Some(Flavour::Tini),
            "dumb-init" => Some(Flavour::DumbInit),
            _ => None,
        }
    }
}
