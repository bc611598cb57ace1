//! `--io`, `--log-rotate` and `--stdout-prefix`: where the child's stdin and output go.
//!
//! The child writes into a pipe (stdout and stderr into the same one with `--io`, as `2>&1`
//! would; with only a prefix, one pipe each so they stay apart), and one relay thread of the
//! init reads it and owns every other end: the log file, the connection, the line prefix.
//!
//! - The main thread stays the signalfd loop it is without io: no byte of output passes
//!   through it, so a slow disk or a peer that stops reading never delays a signal or a reap.
//! - One thread polls both directions of a connection (nonblocking, buffered), so a peer that
//!   does not read can never deadlock one that writes, and TLS (rustls is sans-io) needs no
//!   lock between a reader and a writer thread.
//! - The child never holds the log file, only the pipe: rotation renames the file and opens a
//!   new one between two writes of ours, so no line is lost (copy-then-truncate loses what is
//!   written between the copy and the truncate). Compression runs on a thread of its own.
//! - Everything that can fail (opening the file, resolving, connecting, the TLS handshake with
//!   the certificate check) happens before the fork, on the main thread, so an unreachable io
//!   target stops the init before the command starts; the thread starts only after the fork.
//! - The wire closing: end of input closes the child's stdin (an interactive program ends on
//!   EOF); a connection that fails (reset, broken) hangs up the child with SIGHUP, as a
//!   terminal does, and output is discarded from then on.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::options::Options;
use super::ready::WaitTarget;
use crate::sys::process as proc;

/// Where `--io` sends the child's stdio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Output appended to the file, stdin from /dev/null.
    File(PathBuf),
    Tcp(WaitTarget),
    Tls(WaitTarget),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::File(p) => write!(f, "file://{}", p.display()),
            // WaitTarget prints tcp://HOST:PORT (with brackets for IPv6).
            Target::Tcp(t) => write!(f, "{t}"),
            Target::Tls(t) => {
                // Always "tcp://…"; strip_prefix rather than slicing keeps PID 1 panic-free.
                let tcp = t.to_string();
                write!(f, "tls{}", tcp.strip_prefix("tcp").unwrap_or(&tcp))
            }
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Target, String> {
        let bad = || {
            format!(
                "invalid io URL \"{s}\": expected file://PATH, tcp://HOST:PORT or tls://HOST:PORT"
            )
        };
        if let Some(path) = s.strip_prefix("file://") {
            if path.is_empty() || path.ends_with('/') {
                return Err(format!("invalid io URL \"{s}\": no file name"));
            }
            return Ok(Target::File(path.into()));
        }
        let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
        let addr: WaitTarget = format!("tcp://{rest}").parse().map_err(|_| bad())?;
        match scheme {
            "tcp" => Ok(Target::Tcp(addr)),
            "tls" => Ok(Target::Tls(addr)),
            _ => Err(bad()),
        }
    }
}

/// The colours of `--stdout-prefix PREFIX:COLOUR` and their ANSI codes.
pub const COLOURS: [(&str, u8); 7] = [
    ("white", 37),
    ("green", 32),
    ("blue", 34),
    ("magenta", 35),
    ("yellow", 33),
    ("cyan", 36),
    ("red", 31),
];

/// `PREFIX[:COLOUR]` as the bytes put before each line. The colour is what follows the last
/// ':'; a trailing ':' with nothing after it keeps a prefix that itself contains colons.
pub fn parse_prefix(s: &str) -> Result<Vec<u8>, String> {
    let Some((text, colour)) = s.rsplit_once(':') else {
        return Ok(s.as_bytes().to_vec());
    };
    if colour.is_empty() {
        return Ok(text.as_bytes().to_vec());
    }
    let code = COLOURS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(colour))
        .map(|(_, code)| *code)
        .ok_or_else(|| {
            let names: Vec<&str> = COLOURS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown colour \"{colour}\" in --stdout-prefix: expected one of {}",
                names.join(", ")
            )
        })?;
    Ok(format!("\x1b[{code}m{text}\x1b[0m").into_bytes())
}

/// Puts the prefix before every line of a byte stream cut into arbitrary chunks.
#[derive(Debug)]
struct Lines {
    prefix: Option<Arc<[u8]>>,
    at_start: bool,
}

impl Lines {
    fn apply<'a>(&mut self, data: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
        let Some(prefix) = &self.prefix else {
            return data;
        };
        out.clear();
        for line in data.split_inclusive(|&b| b == b'\n') {
            if self.at_start {
                out.extend_from_slice(prefix);
            }
            out.extend_from_slice(line);
            self.at_start = line.ends_with(b"\n");
        }
        out
    }
}

/// How many archives `--log-rotate` keeps.
pub const KEEP_ARCHIVES: usize = 5;

/// How long connecting to an io peer may take (each address), and its TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Debian's (and most distributions') CA bundle: the roots when `--io-ca` is not given.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Above this much buffered data the relay stops reading the side that produces it, so the
/// producer blocks instead of the init's memory growing.
const HIGH_WATER: usize = 1 << 20;

/// The io set up before the fork: the child's ends, and the relay that owns the rest.
pub struct Plan {
    /// Held open until the child is forked, then closed in the init.
    child_ends: Vec<OwnedFd>,
    stdio: [Option<RawFd>; 3],
    relay: Relay,
}

/// Opens the file or connects (with the TLS handshake), and makes the pipes. None when the
/// child keeps the init's stdio. The error says what failed, naming the target.
pub fn prepare(opts: &Options) -> Result<Option<Plan>, String> {
    if opts.io.is_none() && opts.stdout_prefix.is_none() {
        return Ok(None);
    }
    let me = opts.flavour.program();
    let prefix: Option<Arc<[u8]>> = opts.stdout_prefix.as_deref().map(Arc::from);
    let lines = || Lines {
        prefix: prefix.clone(),
        at_start: true,
    };
    let mut relay = Relay {
        me,
        sources: Vec::new(),
        file: None,
        wire: None,
        wire_name: String::new(),
        stdin: None,
        inbuf: Vec::new(),
        group: -1,
        child: -1,
        buf: vec![0; 64 * 1024],
        scratch: Vec::new(),
    };
    let mut child_ends = Vec::new();
    let stdio = match &opts.io {
        None => {
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            relay.sources.push(Source::new(out_r, To::Stdout, lines()));
            relay.sources.push(Source::new(err_r, To::Stderr, lines()));
            let fds = [None, Some(out_w.as_raw_fd()), Some(err_w.as_raw_fd())];
            child_ends.extend([out_w, err_w]);
            fds
        }
        Some(Target::File(path)) => {
            let file = open_log(path)?;
            let null =
                File::open("/dev/null").map_err(|e| format!("cannot open /dev/null: {e}"))?;
            let (out_r, out_w) = pipe()?;
            relay.sources.push(Source::new(out_r, To::File, lines()));
            relay.file = Some(LogFile {
                me,
                path: path.clone(),
                file,
                failed: false,
                rotation: opts.log_rotate.map(Rotation::new),
            });
            let fds = [
                Some(null.as_raw_fd()),
                Some(out_w.as_raw_fd()),
                Some(out_w.as_raw_fd()),
            ];
            child_ends.extend([OwnedFd::from(null), out_w]);
            fds
        }
        Some(target @ (Target::Tcp(addr) | Target::Tls(addr))) => {
            let tls = matches!(target, Target::Tls(_));
            let wire = connect(addr, tls.then_some(opts.io_ca.as_deref()))
                .map_err(|e| format!("cannot connect the io to {target}: {e}"))?;
            let (in_r, in_w) = pipe()?;
            let (out_r, out_w) = pipe()?;
            relay.sources.push(Source::new(out_r, To::Wire, lines()));
            relay.stdin = Some(File::from(in_w));
            relay.wire = Some(wire);
            relay.wire_name = target.to_string();
            let fds = [
                Some(in_r.as_raw_fd()),
                Some(out_w.as_raw_fd()),
                Some(out_w.as_raw_fd()),
            ];
            child_ends.extend([in_r, out_w]);
            fds
        }
    };
    Ok(Some(Plan {
        child_ends,
        stdio,
        relay,
    }))
}

impl Plan {
    /// The descriptors for the child's 0, 1 and 2.
    pub fn stdio(&self) -> [Option<RawFd>; 3] {
        self.stdio
    }

    /// After the fork: closes the child's ends in the init (the child's exit then shows as
    /// EOF) and starts the relay thread. A hangup goes to `child`'s process group (it leads one).
    pub fn start(mut self, child: i32) -> Running {
        self.child_ends.clear();
        self.relay.child = child;
        self.relay.group = -child;
        let (stop_r, stop_w) = match pipe() {
            Ok(p) => p,
            Err(e) => {
                say!("{}: {e}: the child's output is not relayed", self.relay.me);
                return Running {
                    stop: None,
                    thread: None,
                };
            }
        };
        let relay = self.relay;
        let me = relay.me;
        let thread = std::thread::Builder::new()
            .name("io".into())
            .spawn(move || relay.run(File::from(stop_r)));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                say!("{me}: cannot start the io thread: {e}");
                None
            }
        };
        Running {
            stop: Some(stop_w),
            thread,
        }
    }
}

/// The relay thread at work.
pub struct Running {
    stop: Option<OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Called when the child and its tree are gone: everything they wrote is in the pipe by
    /// now. The relay drains it, flushes the file or the connection and waits for the
    /// compression under way, within `limit`.
    pub fn finish(mut self, limit: Duration) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + limit + Duration::from_millis(200);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// How long the relay may take at the end.
pub const FINISH_LIMIT: Duration = Duration::from_secs(2);

/// A pipe, close-on-exec (the child gets its ends through dup2, which clears the flag).
fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("cannot create a pipe: {e}"))
}

/// Our end of a pipe reads or writes without blocking; the child's end stays blocking (the
/// flag belongs to each end's own open file description).
fn set_nonblocking(fd: impl AsFd) {
    let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
}

fn open_log(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))
}

fn dial(addr: &WaitTarget) -> Result<TcpStream, String> {
    let addrs = (addr.host.as_str(), addr.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", addr.host))?;
    let mut last = format!("{} resolves to no address", addr.host);
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

fn tls_config(ca: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let source = match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read the io CA {}: {e}", path.display()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("the io CA {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the io CA {}: {e}", path.display()))?;
            }
            path.display().to_string()
        }
        None => {
            let pem = std::fs::read(SYSTEM_ROOTS).map_err(|e| {
                format!("no CA to verify the peer ({SYSTEM_ROOTS}: {e}); give --io-ca FILE")
            })?;
            // One odd certificate in a system bundle must not disable all the others.
            roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).flatten());
            SYSTEM_ROOTS.to_string()
        }
    };
    if roots.is_empty() {
        return Err(format!("the io CA {source} holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Connects (blocking, on the main thread before the fork) and, for TLS, completes the
/// handshake, so a peer we cannot verify never sees the command start. `tls` holds the CA
/// option when the connection is TLS.
fn connect(addr: &WaitTarget, tls: Option<Option<&Path>>) -> Result<Wire, String> {
    let conn = match tls {
        Some(ca) => {
            let config = Arc::new(tls_config(ca)?);
            let name = ServerName::try_from(addr.host.clone())
                .map_err(|e| format!("invalid server name {}: {e}", addr.host))?;
            Some(rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let mut sock = dial(addr)?;
    let mut conn = conn.map(Box::new);
    if let Some(c) = &mut conn {
        let _ = sock.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
        let _ = sock.set_write_timeout(Some(HANDSHAKE_TIMEOUT));
        while c.is_handshaking() {
            c.complete_io(&mut sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        while c.wants_write() {
            c.write_tls(&mut sock).map_err(|e| e.to_string())?;
        }
    }
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(Wire {
        sock,
        tls: conn,
        out: Vec::new(),
        read_open: true,
        write_open: true,
        closing: false,
    })
}

/// A connection: plain or TLS, nonblocking, with the plaintext still to send.
struct Wire {
    sock: TcpStream,
    tls: Option<Box<rustls::ClientConnection>>,
    out: Vec<u8>,
    read_open: bool,
    write_open: bool,
    /// The child's output ended: shut our sending side once everything is sent.
    closing: bool,
}

impl Wire {
    fn wants_write(&self) -> bool {
        self.write_open
            && (!self.out.is_empty() || self.tls.as_ref().is_some_and(|c| c.wants_write()))
    }

    /// Sends what the socket takes now.
    fn flush(&mut self) -> io::Result<()> {
        if !self.write_open {
            self.out.clear();
            return Ok(());
        }
        match &mut self.tls {
            None => {
                while !self.out.is_empty() {
                    match self.sock.write(&self.out) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => drop(self.out.drain(..n)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Some(conn) => loop {
                if !self.out.is_empty() {
                    let n = conn.writer().write(&self.out)?;
                    self.out.drain(..n);
                }
                if !conn.wants_write() {
                    break;
                }
                match conn.write_tls(&mut self.sock) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            },
        }
        if self.closing && self.out.is_empty() {
            let _ = self.sock.shutdown(Shutdown::Write);
            self.write_open = false;
        }
        Ok(())
    }

    /// The child's output ended: say so to the peer (close_notify, then a half-close).
    fn close_write(&mut self) -> io::Result<()> {
        if !self.closing {
            self.closing = true;
            if let Some(c) = &mut self.tls {
                c.send_close_notify();
            }
        }
        self.flush()
    }

    /// Reads what has arrived into `into`; true at the end of the peer's data.
    fn read_into(&mut self, into: &mut Vec<u8>, buf: &mut [u8]) -> io::Result<bool> {
        match &mut self.tls {
            None => loop {
                match self.sock.read(buf) {
                    Ok(0) => return Ok(true),
                    Ok(n) => {
                        into.extend_from_slice(&buf[..n]);
                        if into.len() >= HIGH_WATER {
                            return Ok(false);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            },
            Some(conn) => loop {
                let got = match conn.read_tls(&mut self.sock) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                conn.process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                // Drain all plaintext now: poll cannot see what rustls holds.
                loop {
                    match conn.reader().read(buf) {
                        Ok(0) => return Ok(true),
                        Ok(n) => into.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        // The peer closed the TCP connection without close_notify.
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(true),
                        Err(e) => return Err(e),
                    }
                }
                if got == 0 {
                    return Ok(true);
                }
                if into.len() >= HIGH_WATER {
                    return Ok(false);
                }
            },
        }
    }
}

/// Where one pipe of the child's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum To {
    Stdout,
    Stderr,
    File,
    Wire,
}

struct Source {
    pipe: File,
    to: To,
    lines: Lines,
    open: bool,
}

impl Source {
    fn new(fd: OwnedFd, to: To, lines: Lines) -> Source {
        set_nonblocking(&fd);
        Source {
            pipe: File::from(fd),
            to,
            lines,
            open: true,
        }
    }
}

/// The `--io file://` log and its rotation.
struct LogFile {
    me: &'static str,
    path: PathBuf,
    file: File,
    /// A write failed and was reported; report the next failure only after a success.
    failed: bool,
    rotation: Option<Rotation>,
}

struct Rotation {
    period: Duration,
    next: Instant,
    /// Something was written since the last rotation (an empty period makes no archive).
    dirty: bool,
    compressor: Option<(mpsc::Sender<PathBuf>, std::thread::JoinHandle<()>)>,
}

impl Rotation {
    fn new(period: Duration) -> Rotation {
        Rotation {
            period,
            next: Instant::now() + period,
            dirty: false,
            compressor: None,
        }
    }
}

impl LogFile {
    fn write(&mut self, data: &[u8]) {
        match self.file.write_all(data) {
            Ok(()) => self.failed = false,
            Err(e) => {
                if !self.failed {
                    say!(
                        "{}: cannot write the log file {}: {e}",
                        self.me,
                        self.path.display()
                    );
                }
                self.failed = true;
            }
        }
        if let Some(r) = &mut self.rotation {
            r.dirty = true;
        }
    }

    fn next_rotation(&self) -> Option<Instant> {
        self.rotation.as_ref().map(|r| r.next)
    }

    /// Renames the file to `<UTC time>-NAME`, opens a new NAME, and hands the archive to the
    /// compression thread. Only the relay writes the file, between two of its writes: nothing
    /// is lost.
    fn rotate_if_due(&mut self, now: Instant) {
        let me = self.me;
        let Some(r) = &mut self.rotation else { return };
        if now < r.next {
            return;
        }
        while r.next <= now {
            r.next += r.period;
        }
        if !r.dirty {
            return;
        }
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let archive = self
            .path
            .with_file_name(format!("{}-{name}", utc_stamp(SystemTime::now())));
        if let Err(e) = std::fs::rename(&self.path, &archive) {
            say!(
                "{me}: cannot rotate the log file {}: {e}",
                self.path.display()
            );
            return;
        }
        match open_log(&self.path) {
            Ok(f) => self.file = f,
            Err(e) => {
                // Go on writing into the renamed file rather than losing lines; it is not
                // compressed while it is still written.
                say!("{me}: {e}");
                return;
            }
        }
        r.dirty = false;
        if r.compressor.is_none() {
            let (tx, rx) = mpsc::channel::<PathBuf>();
            let dir = match self.path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let spawned = std::thread::Builder::new()
                .name("log-rotate".into())
                .spawn(move || {
                    for plain in rx {
                        if let Err(e) = compress(&plain) {
                            say!("{me}: cannot compress {}: {e}", plain.display());
                        }
                        prune(&dir, &name, KEEP_ARCHIVES);
                    }
                });
            match spawned {
                Ok(t) => r.compressor = Some((tx, t)),
                Err(e) => {
                    say!("{me}: cannot start the compression thread: {e}");
                    return;
                }
            }
        }
        if let Some((tx, _)) = &r.compressor {
            let _ = tx.send(archive);
        }
    }

    /// Waits (until `deadline`) for the archives being compressed.
    fn finish(mut self, deadline: Instant) {
        let _ = self.file.flush();
        if let Some((tx, t)) = self.rotation.as_mut().and_then(|r| r.compressor.take()) {
            drop(tx);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Gzips `plain` to `plain.gz` (through `.gz.part`, so a `.gz` is always whole) and removes
/// `plain`.
fn compress(plain: &Path) -> io::Result<()> {
    let mut gz_name = plain.as_os_str().to_owned();
    gz_name.push(".gz");
    let gz = PathBuf::from(gz_name);
    let mut part_name = gz.as_os_str().to_owned();
    part_name.push(".part");
    let part = PathBuf::from(part_name);
    let mut input = File::open(plain)?;
    let mut enc =
        flate2::write::GzEncoder::new(File::create(&part)?, flate2::Compression::default());
    io::copy(&mut input, &mut enc)?;
    enc.finish()?.sync_all()?;
    std::fs::rename(&part, &gz)?;
    std::fs::remove_file(plain)
}

/// Whether `s` is a stamp of [`utc_stamp`]: `YYYYMMDDTHHMMSS.mmmZ`.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'.',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// The archives of log `name` in `dir`, oldest first (the stamp sorts as time does).
pub fn archives(dir: &Path, name: &str) -> Vec<PathBuf> {
    let suffix = format!("-{name}.gz");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(&suffix))
                        .is_some_and(is_stamp)
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Keeps the `keep` newest archives of `name` and removes the older ones.
fn prune(dir: &Path, name: &str, keep: usize) {
    let all = archives(dir, name);
    let extra = all.len().saturating_sub(keep);
    for old in all.iter().take(extra) {
        let _ = std::fs::remove_file(old);
    }
}

/// `YYYYMMDDTHHMMSS.mmmZ` in UTC: fixed width, so names sort by time.
pub fn utc_stamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The relay thread's state.
struct Relay {
    me: &'static str,
    sources: Vec<Source>,
    file: Option<LogFile>,
    wire: Option<Wire>,
    wire_name: String,
    /// The child's stdin, fed from the wire.
    stdin: Option<File>,
    /// Input from the wire not yet taken by the child.
    inbuf: Vec<u8>,
    child: i32,
    group: i32,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Stop,
    Source(usize),
    Wire,
    Stdin,
}

impl Relay {
    fn run(mut self, stop: File) {
        set_nonblocking(&stop);
        if let Some(f) = &mut self.stdin {
            set_nonblocking(&*f);
        }
        let mut finishing: Option<Instant> = None;
        loop {
            let wire_full = self
                .wire
                .as_ref()
                .is_some_and(|w| w.out.len() >= HIGH_WATER);
            // Each slot's descriptor comes from the same borrow that decides the slot exists
            // this turn, so no lookup can miss (a panic here would abort PID 1).
            let mut slots: Vec<Slot> = Vec::with_capacity(5);
            let mut fds: Vec<PollFd> = Vec::with_capacity(5);
            if finishing.is_none() {
                slots.push(Slot::Stop);
                fds.push(PollFd::new(stop.as_fd(), PollFlags::POLLIN));
                for (i, s) in self.sources.iter().enumerate() {
                    if s.open && !(s.to == To::Wire && wire_full) {
                        slots.push(Slot::Source(i));
                        fds.push(PollFd::new(s.pipe.as_fd(), PollFlags::POLLIN));
                    }
                }
            }
            if let Some(w) = &self.wire {
                let mut ev = PollFlags::empty();
                if w.read_open && self.inbuf.len() < HIGH_WATER && finishing.is_none() {
                    ev |= PollFlags::POLLIN;
                }
                if w.wants_write() {
                    ev |= PollFlags::POLLOUT;
                }
                if !ev.is_empty() {
                    slots.push(Slot::Wire);
                    fds.push(PollFd::new(w.sock.as_fd(), ev));
                }
            }
            if let Some(f) = &self.stdin {
                if !self.inbuf.is_empty() && finishing.is_none() {
                    slots.push(Slot::Stdin);
                    fds.push(PollFd::new(f.as_fd(), PollFlags::POLLOUT));
                }
            }
            let now = Instant::now();
            if let Some(deadline) = finishing {
                if slots.is_empty() || now >= deadline {
                    break;
                }
            }
            let wake = [
                finishing,
                self.file.as_ref().and_then(LogFile::next_rotation),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = match wake {
                Some(t) => PollTimeout::try_from(
                    t.saturating_duration_since(now).as_millis().min(60_000) as i32 + 1,
                )
                .unwrap_or(PollTimeout::MAX),
                None => PollTimeout::NONE,
            };
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    say!("{}: io relay: poll: {e}", self.me);
                    break;
                }
            }
            // Collected before acting: the handlers below change the ends the fds borrow.
            let ready: Vec<(Slot, PollFlags)> = slots
                .iter()
                .zip(&fds)
                .filter_map(|(slot, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (*slot, r)))
                .collect();
            drop(fds);
            for (slot, rev) in ready {
                match slot {
                    Slot::Stop => {
                        // The main thread closed its end: the child's tree is gone.
                        let deadline = Instant::now() + FINISH_LIMIT;
                        finishing = Some(deadline);
                        self.drain_sources(deadline);
                    }
                    Slot::Source(i) => {
                        self.pump(i);
                    }
                    Slot::Wire => {
                        if rev
                            .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                            && self.wire.as_ref().is_some_and(|w| w.read_open)
                        {
                            self.wire_readable(finishing.is_some());
                        }
                        self.flush_wire(finishing.is_some());
                    }
                    Slot::Stdin => self.feed_stdin(),
                }
            }
            if let Some(f) = &mut self.file {
                f.rotate_if_due(Instant::now());
            }
        }
        // Tell the peer the output ended, as far as it takes it now.
        if let Some(w) = &mut self.wire {
            let _ = w.close_write();
        }
        if let Some(f) = self.file.take() {
            f.finish(finishing.unwrap_or_else(Instant::now));
        }
    }

    /// One read of the child's output, passed on.
    fn pump(&mut self, i: usize) -> bool {
        // `i` comes from enumerating `sources`, which never shrinks: the else cannot happen.
        let Some(src) = self.sources.get_mut(i) else {
            return false;
        };
        let n = loop {
            match src.pipe.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => break 0,
            }
        };
        if n == 0 {
            src.open = false;
            if src.to == To::Wire && !self.sources.iter().any(|s| s.open && s.to == To::Wire) {
                if let Some(w) = &mut self.wire {
                    let _ = w.close_write();
                }
            }
            return false;
        }
        let to = src.to;
        let data = src.lines.apply(&self.buf[..n], &mut self.scratch);
        match to {
            To::Stdout => {
                let mut out = io::stdout().lock();
                let _ = out.write_all(data).and_then(|()| out.flush());
            }
            To::Stderr => {
                let _ = io::stderr().lock().write_all(data);
            }
            To::File => {
                if let Some(f) = &mut self.file {
                    f.write(data);
                }
            }
            To::Wire => {
                if let Some(w) = &mut self.wire {
                    if w.write_open {
                        w.out.extend_from_slice(data);
                    }
                }
            }
        }
        if to == To::Wire {
            self.flush_wire(false);
        }
        true
    }

    /// At the end: everything the child's tree wrote is in the pipes; take it all (a process
    /// left running under --no-teardown may write on: not beyond the deadline).
    fn drain_sources(&mut self, deadline: Instant) {
        for i in 0..self.sources.len() {
            while self.sources[i].open && self.pump(i) && Instant::now() < deadline {}
            self.sources[i].open = false;
        }
        if let Some(w) = &mut self.wire {
            w.closing = true;
            if let Some(c) = &mut w.tls {
                c.send_close_notify();
            }
        }
        self.flush_wire(true);
    }

    fn flush_wire(&mut self, finishing: bool) {
        let Some(w) = &mut self.wire else { return };
        if let Err(e) = w.flush() {
            self.hangup(&e, finishing);
        }
    }

    fn wire_readable(&mut self, finishing: bool) {
        let Some(w) = &mut self.wire else { return };
        match w.read_into(&mut self.inbuf, &mut self.buf) {
            Ok(true) => w.read_open = false,
            Ok(false) => {}
            Err(e) => {
                self.hangup(&e, finishing);
                return;
            }
        }
        self.feed_stdin();
    }

    /// Passes the wire's input to the child; at the end of input, closes its stdin.
    fn feed_stdin(&mut self) {
        let Some(f) = &mut self.stdin else {
            // The child closed its stdin: what the peer sends has no reader.
            self.inbuf.clear();
            return;
        };
        while !self.inbuf.is_empty() {
            match f.write(&self.inbuf) {
                Ok(n) => drop(self.inbuf.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // EPIPE: the child closed its stdin. The SIGPIPE that comes with it is
                // directed at this thread, which blocks it: it never reaches the main
                // thread's signalfd, so it is not taken for a signal to forward.
                Err(_) => {
                    self.stdin = None;
                    self.inbuf.clear();
                    return;
                }
            }
        }
        if self.wire.as_ref().is_none_or(|w| !w.read_open) {
            self.stdin = None;
        }
    }

    /// The connection failed: the child loses its terminal, as with a modem hangup.
    fn hangup(&mut self, why: &io::Error, finishing: bool) {
        self.wire = None;
        self.stdin = None;
        self.inbuf.clear();
        if finishing {
            return;
        }
        say!(
            "{}: the io connection {} failed ({why}): sending SIGHUP to the child",
            self.me,
            self.wire_name
        );
        let hup = nix::sys::signal::Signal::SIGHUP as i32;
        // The child leads its own process group; if it moved, reach it alone.
        if proc::send(self.group, hup).is_err() {
            let _ = proc::send(self.child, hup);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            "file:///var/log/app.log".parse::<Target>().unwrap(),
            Target::File("/var/log/app.log".into())
        );
        for (s, tls) in [("tcp://127.0.0.1:9000", false), ("tls://[::1]:443", true)] {
            let t: Target = s.parse().unwrap();
            assert_eq!(matches!(t, Target::Tls(_)), tls);
            assert_eq!(t.to_string(), s);
        }
        for bad in [
            "file://",
            "file:///var/log/",
            "udp://h:1",
            "tcp://h",
            "tls://:1",
            "/var/log/x",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("web| ").unwrap(), b"web| ");
        assert_eq!(parse_prefix("a:b:").unwrap(), b"a:b");
        assert_eq!(parse_prefix("web:cyan").unwrap(), b"\x1b[36mweb\x1b[0m");
        assert_eq!(parse_prefix("db :RED").unwrap(), b"\x1b[31mdb \x1b[0m");
        let err = parse_prefix("web:pink").unwrap_err();
        assert!(err.contains("unknown colour \"pink\""), "{err}");
    }

    #[test]
    fn lines_are_prefixed_across_chunks() {
        let mut l = Lines {
            prefix: Some(Arc::from(&b"> "[..])),
            at_start: true,
        };
        let mut out = Vec::new();
        let mut all = Vec::new();
        for chunk in [&b"one\ntw"[..], b"o\n", b"\nthree"] {
            all.extend_from_slice(l.apply(chunk, &mut out));
        }
        assert_eq!(all, b"> one\n> two\n> \n> three");
        let mut plain = Lines {
            prefix: None,
            at_start: true,
        };
        assert_eq!(plain.apply(b"x\ny", &mut out), b"x\ny");
    }

    #[test]
    fn stamps() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(utc_stamp(t), "20231114T221320.123Z");
        assert_eq!(utc_stamp(SystemTime::UNIX_EPOCH), "19700101T000000.000Z");
        // A leap day.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_stamp(t), "20000229T000000.000Z");
        assert!(is_stamp("20231114T221320.123Z"));
        assert!(!is_stamp("20231114-221320.123Z"));
    }

    #[test]
    fn prune_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("dl-prune-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let names: Vec<String> = (0..8)
            .map(|i| format!("2026010{}T000000.000Z-app.log.gz", i + 1))
            .collect();
        for n in &names {
            std::fs::write(dir.join(n), b"").unwrap();
        }
        std::fs::write(dir.join("other.gz"), b"").unwrap();
        prune(&dir, "app.log", 5);
        let left: Vec<String> = archives(&dir, "app.log")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, names[3..]);
        assert!(dir.join("other.gz").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
