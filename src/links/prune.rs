//! What `docker link prune` removes, decided by a pure [`plan`], and removed by [`apply`],
//! which goes on past errors and treats a race with a concurrent command as no error.
//!
//! Only what is dead goes: a link network when its parent container no longer exists (a
//! stopped parent still needs it to start again), and only once older than the `until`
//! filter (`docker link run` makes a network before its parent exists).

use std::collections::BTreeSet;

use super::network::LinkNetwork;
use crate::docker::engine::Engine;

/// What prune looks at.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub networks: Vec<LinkNetwork>,
    /// Every container that exists, any state.
    pub containers: BTreeSet<String>,
    /// Link networks named by a `docker-link.network` label of an existing container.
    pub claimed: BTreeSet<String>,
    /// The daemon's clock, seconds.
    pub now: i64,
    /// Networks younger than this many seconds are left alone.
    pub until: i64,
}

/// A link network to remove, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub network: String,
    pub reason: &'static str,
}

pub fn plan(input: &Input) -> Vec<Removal> {
    let mut out = Vec::new();
    for n in &input.networks {
        let age = n
            .created
            .as_deref()
            .and_then(crate::docker::clock::rfc3339)
            .map(|c| input.now - c);
        if age.is_none_or(|a| a < input.until) {
            continue;
        }
        let gone = if n.parent.is_empty() {
            !input.claimed.contains(&n.name)
        } else {
            !input.containers.contains(&n.parent)
        };
        if gone {
            out.push(Removal {
                network: n.name.clone(),
                reason: "its parent container no longer exists",
            });
        }
    }
    out
}

/// Removes the planned networks; returns those removed and the errors of the others. A
/// network that someone removed first, or joined meanwhile, is not an error.
pub async fn apply<E: Engine>(
    engine: &E,
    removals: &[Removal],
) -> (Vec<String>, Vec<anyhow::Error>) {
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    for r in removals {
        match super::network::remove(engine, &r.network).await {
            Ok(()) => removed.push(r.network.clone()),
            Err(e) => errors.push(e.context(format!("removing the link network {}", r.network))),
        }
    }
    (removed, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::network::fixture as net;

    #[test]
    fn only_what_is_dead_goes() {
        let now = crate::docker::clock::rfc3339("2026-12-02T12:00:00Z").unwrap();
        let old = "2026-12-02T11:00:00Z";
        let young = "2026-12-02T11:59:30Z";
        let input = Input {
            networks: vec![
                net("of-a-stopped-parent", "stopped", old),
                net("of-a-removed-parent", "gone", old),
                net("young-of-a-removed-parent", "gone", young),
                net("run-made-claimed", "", old),
                net("run-made-unclaimed", "", old),
                net("run-made-young", "", young),
            ],
            containers: BTreeSet::from(["stopped".to_string()]),
            claimed: BTreeSet::from(["run-made-claimed".to_string()]),
            now,
            until: 120,
        };
        let got: Vec<String> = plan(&input).into_iter().map(|r| r.network).collect();
        assert_eq!(got, ["of-a-removed-parent", "run-made-unclaimed"]);
        let all = Input { until: 0, ..input };
        let got: Vec<String> = plan(&all).into_iter().map(|r| r.network).collect();
        assert_eq!(
            got,
            [
                "of-a-removed-parent",
                "young-of-a-removed-parent",
                "run-made-unclaimed",
                "run-made-young"
            ]
        );
    }
}
