//! Kernel-feature probes for `docker link doctor`: what `docker net` will need (veth, bridge,
//! vxlan, tc ingress with mirred, netem, geneve), found out by really creating each object in
//! a throwaway network namespace.
//!
//! Asking the kernel is the only reliable test: module lists, `/proc/config.gz` and
//! `modprobe -n` all miss built-ins, autoloading or a locked-down module directory. The
//! namespace is a new one from [`NetNs::create`], entered only by the dedicated thread of
//! [`netns::run_in`] (whose netlink socket is made inside it), so nothing outside it changes,
//! and it disappears with everything in it when the probe drops it.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::{Handle, LinkBridge, LinkGeneve, LinkVeth, LinkVxlan};

use super::netns::{self, NetNs, NetnsError};

/// Why no feature could be probed at all.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The namespace could not be made (typically: not root).
    #[error(transparent)]
    Sys(#[from] super::Error),
    #[error("{0}")]
    Other(String),
}

/// A kernel feature `docker net` may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    Veth,
    Bridge,
    Vxlan,
    TcIngress,
    TcMirred,
    Netem,
    Geneve,
    Dummy,
    Vlan,
    Ipvlan,
}

impl Feature {
    /// Every feature, in the order doctor reports them.
    pub const ALL: [Feature; 10] = [
        Feature::Veth,
        Feature::Bridge,
        Feature::Vxlan,
        Feature::TcIngress,
        Feature::TcMirred,
        Feature::Netem,
        Feature::Geneve,
        Feature::Dummy,
        Feature::Vlan,
        Feature::Ipvlan,
    ];

    /// The name users see (and the `Check` field of doctor's JSON).
    pub fn name(self) -> &'static str {
        match self {
            Feature::Veth => "veth",
            Feature::Bridge => "bridge",
            Feature::Vxlan => "vxlan",
            Feature::TcIngress => "tc ingress",
            Feature::TcMirred => "tc mirred",
            Feature::Netem => "netem",
            Feature::Geneve => "geneve",
            Feature::Dummy => "dummy",
            Feature::Vlan => "vlan",
            Feature::Ipvlan => "ipvlan",
        }
    }

    /// What `docker net` uses the feature for, for doctor's lines.
    pub fn used_for(self) -> &'static str {
        match self {
            Feature::Veth => "links between containers",
            Feature::Bridge => "bridges",
            Feature::Vxlan => "vxlan tunnels",
            Feature::TcIngress => "patch links",
            Feature::TcMirred => "patch links",
            Feature::Netem => "delay and loss on links (rate needs only tbf)",
            Feature::Geneve => "geneve tunnels",
            Feature::Dummy => "dummy links",
            Feature::Vlan => "vlan links",
            Feature::Ipvlan => "ipvlan and ipvtap links",
        }
    }

    /// Whether `docker net` cannot work at all without it (the others only disable the
    /// options that use them).
    pub fn required(self) -> bool {
        !matches!(
            self,
            Feature::Netem | Feature::Geneve | Feature::Dummy | Feature::Vlan | Feature::Ipvlan
        )
    }

    /// The kernel module (or config option) that provides it, for the fix line.
    pub fn module(self) -> &'static str {
        match self {
            Feature::Veth => "veth",
            Feature::Bridge => "bridge",
            Feature::Vxlan => "vxlan",
            Feature::TcIngress => "sch_ingress",
            Feature::TcMirred => "cls_u32 and act_mirred",
            Feature::Netem => "sch_netem",
            Feature::Geneve => "geneve",
            Feature::Dummy => "dummy",
            Feature::Vlan => "8021q",
            Feature::Ipvlan => "ipvlan",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the kernel answered when asked to create the feature's object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Created (and thrown away with the namespace).
    Available,
    /// The kernel does not know the kind: not built in, and no module could be loaded. The
    /// string is the kernel's answer (`EOPNOTSUPP: operation not supported`).
    Missing(String),
    /// Some other failure; the feature may or may not exist.
    Failed(String),
}

/// Probes every feature of [`Feature::ALL`] in a throwaway network namespace.
///
/// Fails as a whole only when the namespace cannot be made (no CAP_SYS_ADMIN): then nothing
/// can be said about any feature.
pub fn probe_all() -> Result<Vec<(Feature, Outcome)>, ProbeError> {
    let ns = NetNs::create().map_err(probe_error)?;
    netns::run_in(&ns, probe_here)
        .map_err(probe_error)?
        .map_err(ProbeError::Other)
}

/// Keeps the errors doctor branches on (`NeedRoot` makes it retry in a user namespace).
fn probe_error(err: NetnsError) -> ProbeError {
    use super::Error;
    let what = "creating a throwaway network namespace to probe kernel features".to_string();
    match err {
        NetnsError::Create { source } | NetnsError::Setns { source, .. } => {
            if source == nix::Error::EPERM {
                Error::NeedRoot { what }.into()
            } else {
                Error::Os { what, source }.into()
            }
        }
        NetnsError::Netlink { reason, .. } => {
            ProbeError::Other(format!("cannot open a netlink socket: {reason}"))
        }
        other => ProbeError::Other(other.to_string()),
    }
}

/// Probes as [`probe_all`] does, for a user without CAP_SYS_ADMIN: runs `exe args…` (which
/// must call [`probe_all`] and print [`write_report`]) in a new user namespace where the user
/// is root, so it may make the throwaway network namespace. Needs unprivileged user
/// namespaces (most distributions allow them).
pub fn probe_in_user_namespace(
    exe: &Path,
    args: &[&str],
) -> Result<Vec<(Feature, Outcome)>, ProbeError> {
    use std::os::unix::process::CommandExt;

    // Built before the fork: the child may not allocate between fork and exec.
    let uid_map = format!("0 {} 1\n", nix::unistd::getuid()).into_bytes();
    let gid_map = format!("0 {} 1\n", nix::unistd::getgid()).into_bytes();
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        // Not a plugin call: the child must not talk to the docker CLI's socket.
        .env_remove("DOCKER_CLI_PLUGIN_SOCKET")
        .env_remove("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
        .stdin(std::process::Stdio::null());
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed. It makes raw syscalls (unshare, open, write, close) on buffers that
    // were allocated before the fork and moved in, and allocates nothing itself; its errors
    // are errnos, which io::Error holds without allocating.
    unsafe {
        cmd.pre_exec(move || enter_user_namespace(&uid_map, &gid_map));
    }
    let out = cmd.output().map_err(|e| {
        ProbeError::Other(format!(
            "cannot enter a user namespace (are unprivileged user namespaces disabled?): {e}"
        ))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.trim().trim_start_matches("error: ");
        return Err(ProbeError::Other(format!(
            "the probe in a user namespace failed ({}): {err}",
            out.status
        )));
    }
    parse_report(&String::from_utf8_lossy(&out.stdout)).map_err(ProbeError::Other)
}

/// In a freshly forked child: become root of a new user namespace mapped to our own ids.
fn enter_user_namespace(uid_map: &[u8], gid_map: &[u8]) -> std::io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)?;
    // setgroups must be denied before an unprivileged process may write gid_map.
    match write_proc(c"/proc/self/setgroups", b"deny") {
        Ok(()) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    write_proc(c"/proc/self/uid_map", uid_map)?;
    write_proc(c"/proc/self/gid_map", gid_map)?;
    Ok(())
}

fn write_proc(path: &std::ffi::CStr, data: &[u8]) -> nix::Result<()> {
    use nix::fcntl::OFlag;
    let fd = nix::fcntl::open(
        path,
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let n = nix::unistd::write(&fd, data)?;
    if n != data.len() {
        return Err(nix::Error::EIO);
    }
    Ok(())
}

/// One line of the report a probe child prints.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ReportLine {
    feature: String,
    outcome: String,
    detail: String,
}

/// The results as JSON lines, for [`probe_in_user_namespace`]'s child to print.
pub fn write_report(results: &[(Feature, Outcome)]) -> String {
    let mut out = String::new();
    for (feature, outcome) in results {
        let (kind, detail) = match outcome {
            Outcome::Available => ("available", ""),
            Outcome::Missing(d) => ("missing", d.as_str()),
            Outcome::Failed(d) => ("failed", d.as_str()),
        };
        let line = ReportLine {
            feature: feature.name().to_string(),
            outcome: kind.to_string(),
            detail: detail.to_string(),
        };
        if let Ok(json) = serde_json::to_string(&line) {
            out.push_str(&json);
            out.push('\n');
        }
    }
    out
}

fn parse_report(text: &str) -> Result<Vec<(Feature, Outcome)>, String> {
    let mut results = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let r: ReportLine =
            serde_json::from_str(line).map_err(|e| format!("bad probe report {line:?}: {e}"))?;
        let feature = Feature::ALL
            .into_iter()
            .find(|f| f.name() == r.feature)
            .ok_or_else(|| format!("unknown feature {:?} in the probe report", r.feature))?;
        let outcome = match r.outcome.as_str() {
            "available" => Outcome::Available,
            "missing" => Outcome::Missing(r.detail),
            "failed" => Outcome::Failed(r.detail),
            other => return Err(format!("unknown outcome {other:?} in the probe report")),
        };
        results.push((feature, outcome));
    }
    if results.len() != Feature::ALL.len() {
        return Err(format!(
            "the probe reported {} features of {}",
            results.len(),
            Feature::ALL.len()
        ));
    }
    Ok(results)
}

/// Creates one object of each feature in the current (throwaway) namespace.
async fn probe_here(handle: Handle) -> Result<Vec<(Feature, Outcome)>, String> {
    // tc objects go on the loopback device, which every namespace has, so they do not depend
    // on the veth probe succeeding.
    let lo = link_index(&handle, "lo").await?;

    let mut results = Vec::with_capacity(Feature::ALL.len());
    for feature in Feature::ALL {
        let outcome = match probe_one(&handle, feature, lo).await {
            Ok(()) => Outcome::Available,
            Err(e) => classify(&e),
        };
        results.push((feature, outcome));
    }
    Ok(results)
}

async fn probe_one(handle: &Handle, feature: Feature, lo: u32) -> Result<(), rtnetlink::Error> {
    match feature {
        Feature::Veth => {
            let msg = LinkVeth::new("dlprobe-veth0", "dlprobe-veth1").build();
            handle.link().add(msg).execute().await
        }
        Feature::Bridge => {
            let msg = LinkBridge::new("dlprobe-br0").build();
            handle.link().add(msg).execute().await
        }
        Feature::Vxlan => {
            let msg = LinkVxlan::new("dlprobe-vx0", 4242).port(4789).build();
            handle.link().add(msg).execute().await
        }
        Feature::Geneve => {
            // A documentation address (RFC 5737): creating the device sends nothing, and the
            // namespace has no route anywhere.
            let msg = LinkGeneve::new("dlprobe-gnv0", 4242)
                .remote(Ipv4Addr::new(192, 0, 2, 1))
                .build();
            handle.link().add(msg).execute().await
        }
        Feature::TcIngress => handle.qdisc().add(lo as i32).ingress().execute().await,
        Feature::TcMirred => {
            // The filter hangs off the ingress qdisc: make sure one is there, whatever the
            // ingress probe found (EEXIST when it already is).
            let _ = handle.qdisc().add(lo as i32).ingress().execute().await;
            handle
                .traffic_filter(lo as i32)
                .add()
                .parent(0xffff_0000)
                .protocol(ETH_P_ALL.to_be())
                .redirect(lo)?
                .execute()
                .await
        }
        Feature::Netem => add_netem(handle, lo).await,
        Feature::Dummy => {
            let msg = rtnetlink::LinkDummy::new("dlprobe-dm0").build();
            handle.link().add(msg).execute().await
        }
        Feature::Vlan | Feature::Ipvlan => {
            // On a veth parent of their own, whatever the veth probe found.
            let parent = "dlprobe-vp0";
            if link_index(handle, parent).await.is_err() {
                let msg = LinkVeth::new(parent, "dlprobe-vp1").build();
                handle.link().add(msg).execute().await?;
            }
            let index = link_index(handle, parent)
                .await
                .map_err(|_| rtnetlink::Error::RequestFailed)?;
            let msg = if feature == Feature::Vlan {
                rtnetlink::LinkVlan::new("dlprobe-vl0", index, 5).build()
            } else {
                rtnetlink::LinkIpVlan::new(
                    "dlprobe-ipv0",
                    index,
                    rtnetlink::packet_route::link::IpVlanMode::L2,
                )
                .build()
            };
            handle.link().add(msg).execute().await
        }
    }
}

const ETH_P_ALL: u16 = 0x0003;

/// `tc qdisc add dev lo root netem limit 1000`. rtnetlink has no netem builder, and netem's
/// options are a bare `struct tc_netem_qopt` rather than nested attributes, so the request is
/// built here.
async fn add_netem(handle: &Handle, index: u32) -> Result<(), rtnetlink::Error> {
    super::qdisc::add_root(handle, index, 0x4a4c, "netem", netem_qopt(1000), false).await
}

/// `struct tc_netem_qopt { latency, limit, loss, gap, duplicate, jitter }`, all u32 in host
/// order: no delay, no loss, `limit` packets of queue.
fn netem_qopt(limit: u32) -> Vec<u8> {
    let fields = [0, limit, 0, 0, 0, 0u32];
    fields.iter().flat_map(|f| f.to_ne_bytes()).collect()
}

async fn link_index(handle: &Handle, name: &str) -> Result<u32, String> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(link)) => Ok(link.header.index),
        Ok(None) => Err(format!("the throwaway namespace has no {name}")),
        Err(e) => Err(format!("cannot look up {name}: {}", describe(&e))),
    }
}

/// Sorts a netlink failure into "the kernel lacks it" and "something else went wrong".
fn classify(err: &rtnetlink::Error) -> Outcome {
    match errno(err) {
        Some(code) if is_missing(code) => Outcome::Missing(describe(err)),
        _ => Outcome::Failed(describe(err)),
    }
}

/// The errnos the kernel answers for a kind it has no code for: `EOPNOTSUPP` for a link kind
/// (rtnl_newlink), `ENOENT` for a qdisc, classifier or action kind, `EAGAIN` when a module was
/// just loaded but the request was not replayed.
fn is_missing(code: nix::errno::Errno) -> bool {
    use nix::errno::Errno;
    matches!(
        code,
        Errno::EOPNOTSUPP | Errno::ENOENT | Errno::EAGAIN | Errno::EPROTONOSUPPORT
    )
}

fn errno(err: &rtnetlink::Error) -> Option<nix::errno::Errno> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => msg
            .code
            .map(|c| nix::errno::Errno::from_raw(c.get().saturating_abs())),
        _ => None,
    }
}

/// The kernel's answer as `ENAME: description` (lower-case), or rtnetlink's own message.
fn describe(err: &rtnetlink::Error) -> String {
    match errno(err) {
        Some(code) => {
            let desc = code.desc();
            let mut chars = desc.chars();
            let desc: String = match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            };
            format!("{code:?}: {desc}")
        }
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netem_options_are_the_kernel_struct() {
        let opt = netem_qopt(1000);
        assert_eq!(opt.len(), 24, "six u32 fields");
        assert_eq!(
            &opt[4..8],
            &1000u32.to_ne_bytes(),
            "limit is the second field"
        );
        assert!(opt[..4].iter().chain(&opt[8..]).all(|b| *b == 0));
    }

    #[test]
    fn missing_kinds_are_told_apart_from_other_failures() {
        use nix::errno::Errno;
        let cases = [
            (Errno::EOPNOTSUPP, true),
            (Errno::ENOENT, true),
            (Errno::EAGAIN, true),
            (Errno::EPERM, false),
            (Errno::EEXIST, false),
            (Errno::EINVAL, false),
        ];
        for (code, missing) in cases {
            assert_eq!(is_missing(code), missing, "{code}");
        }
    }

    #[test]
    fn reports_round_trip() {
        let results: Vec<(Feature, Outcome)> = Feature::ALL
            .into_iter()
            .map(|f| match f {
                Feature::Netem => (f, Outcome::Missing("ENOENT: no such file".into())),
                Feature::Geneve => (f, Outcome::Failed("EPERM: \"quoted\"".into())),
                _ => (f, Outcome::Available),
            })
            .collect();
        assert_eq!(parse_report(&write_report(&results)).unwrap(), results);
        assert!(parse_report("").is_err(), "an empty report is an error");
        assert!(parse_report("{}").is_err());
        let one = write_report(&results[..1]);
        assert!(parse_report(&one).is_err(), "a partial report is an error");
    }

    #[test]
    fn optional_features_are_those_of_some_options_only() {
        let optional: Vec<_> = Feature::ALL.iter().filter(|f| !f.required()).collect();
        assert_eq!(
            optional,
            [
                &Feature::Netem,
                &Feature::Geneve,
                &Feature::Dummy,
                &Feature::Vlan,
                &Feature::Ipvlan
            ]
        );
    }
}
