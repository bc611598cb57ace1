//! The net duty: after every pass's events (a container started, restarted, scaled up, died),
//! each project `docker net up` stored (`net::store`) is reconciled with `net::realize`:
//! containers that started are wired with their addresses and MACs, links of containers that
//! died went with their namespaces, everything else is left as it is (marks and fingerprints,
//! never a teardown). A watcher that restarts reconciles what exists the same way.
//!
//! It needs what the kernel work needs: root (CAP_SYS_ADMIN, CAP_NET_ADMIN), the host's PID
//! namespace (containers' namespaces by `/proc/<pid>/ns/net`) and the host's `/run/netns`.
//! Without them the duty says why once, in the status, and does nothing.

use crate::docker::engine::Engine;

/// What one pass of the duty did.
#[derive(Debug, Default)]
pub(crate) struct NetReport {
    pub(crate) projects: usize,
    pub(crate) links: usize,
    pub(crate) changes: usize,
    /// (object, kind, message).
    pub(crate) errors: Vec<(String, &'static str, String)>,
}

pub(crate) struct NetDuty<E: Engine> {
    engine: E,
    /// The registry namespace: projects `up` stored for it are this watcher's.
    ns: String,
    /// Why the duty cannot run here, when it cannot.
    pub(crate) unavailable: Option<String>,
}

impl<E: Engine + Clone> NetDuty<E> {
    pub(crate) fn new(engine: E, ns: &str, no_net: Option<String>) -> NetDuty<E> {
        NetDuty {
            engine,
            ns: ns.to_string(),
            unavailable: probe().or(no_net),
        }
    }

    /// Reconciles every stored project.
    pub(crate) async fn pass(&mut self) -> NetReport {
        let mut report = NetReport::default();
        if self.unavailable.is_some() {
            return report;
        }
        let stored = match crate::net::store::load_all(&self.engine, Some(&self.ns)).await {
            Ok(s) => s,
            Err(e) => {
                report.errors.push(("net".into(), "read", e.to_string()));
                return report;
            }
        };
        for (project, config) in stored {
            report.projects += 1;
            let config = match config {
                Ok(c) => c,
                Err(e) => {
                    report.errors.push((project, "config", e));
                    continue;
                }
            };
            // One reconcile at a time on this host (`docker net up` and `down` take the lock
            // too); a project that `down` removed while this pass waited is left alone.
            let lock = match tokio::task::spawn_blocking(crate::sys::pinned::lock).await {
                Ok(Ok(l)) => l,
                Ok(Err(e)) => {
                    report.errors.push((project, "net", e.to_string()));
                    continue;
                }
                Err(e) => {
                    report.errors.push((project, "net", e.to_string()));
                    continue;
                }
            };
            if !self.still_stored(&project).await {
                continue;
            }
            let run = match crate::net::realize::running(&self.engine, &project, &config).await {
                Ok(r) => r,
                Err(e) => {
                    report.errors.push((project, "read", e.to_string()));
                    continue;
                }
            };
            // Kernel work blocks (on threads of its own): keep the runtime's workers free.
            let p = project.clone();
            let c = config.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let r = crate::net::realize::reconcile(&p, &c, run);
                drop(lock);
                r
            })
            .await;
            match outcome {
                Ok(Ok(o)) => {
                    report.links += o.wired;
                    report.changes += o.changes;
                    if o.changes > 0 {
                        tracing::info!(
                            "net {project}: {} links, {} changes applied",
                            o.wired,
                            o.changes
                        );
                    }
                    for e in o.errors {
                        report.errors.push((project.clone(), "net", e));
                    }
                    // The containers just wired (started or restarted): their commands.
                    let (ran, failed) =
                        crate::net::realize::run_commands(&self.engine, &config, &o.made).await;
                    if ran > 0 {
                        tracing::info!("net {project}: {ran} commands run");
                    }
                    for e in failed {
                        report.errors.push((project.clone(), "command", e));
                    }
                }
                Ok(Err(e)) => report.errors.push((project, "net", e.to_string())),
                Err(e) => report.errors.push((project, "net", e.to_string())),
            }
        }
        report
    }
}

impl<E: Engine + Clone> NetDuty<E> {
    /// Whether `up` still stores the project (`down` removes it first).
    async fn still_stored(&self, project: &str) -> bool {
        match crate::net::store::load_all(&self.engine, Some(&self.ns)).await {
            Ok(stored) => stored.iter().any(|(p, _)| p == project),
            // Unknown: keep what the pass made; the next pass decides.
            Err(_) => true,
        }
    }
}

/// Why the kernel work cannot be done from here, if it cannot: not root. (A watcher outside
/// the host's PID namespace finds no container's process: each container's link then fails
/// with that reason, in the status.)
fn probe() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("docker net needs root (namespaces and interfaces)".to_string());
    }
    None
}
