//! Keeping a partner container alive where Docker's restart policy does not: after
//! `docker kill` (Docker counts any kill as a stop by hand, and neither `always` nor
//! `unless-stopped` restarts it) or the OOM killer's kill of a container Docker then
//! considers stopped. The watcher and its keeper each keep the other: the keeper is a small
//! container of the same binary that does only this.
//!
//! A stop is a stop: a container that exited 0 (`docker stop`, `docker link watcher stop`:
//! SIGTERM, and the watcher ends cleanly) stays stopped; one that died of a signal or an
//! error is started again, after a pause that doubles with each death in a row (up to a
//! minute), so a watcher that cannot start does not spin. A partner that is removed is not
//! made again (`docker link watcher start` makes both); the keeping waits for one to appear.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::cancel::Cancel;
use crate::docker::engine::{Engine, EventFilter, ListFilter, State};

/// What [`keep`] does about the partner as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Running, restarting, or stopped on purpose: nothing.
    Leave,
    /// Killed or failed: start it.
    Start,
    /// Gone: nothing to start (`docker link watcher start` makes both).
    Gone,
}

/// The pure decision, from the partner's state and last exit code.
pub(crate) fn verdict(partner: Option<(State, i64)>) -> Verdict {
    match partner {
        None => Verdict::Gone,
        Some((State::Exited | State::Dead, code)) if code != 0 => Verdict::Start,
        Some(_) => Verdict::Leave,
    }
}

fn labels(role: &str, ns: &str) -> Vec<String> {
    vec![crate::labels::role(role), crate::labels::namespace(ns)]
}

/// The partner's id, state and exit code.
async fn look<E: Engine>(
    engine: &E,
    role: &str,
    ns: &str,
) -> anyhow::Result<Option<(String, State, i64)>> {
    let listing = engine
        .list_containers(&ListFilter {
            labels: labels(role, ns),
            ..Default::default()
        })
        .await?;
    let Some(c) = listing.containers.into_iter().next() else {
        return Ok(None);
    };
    let info = match engine.inspect_container(&c.id).await {
        Ok(i) => i,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some((
        c.id,
        info.state.unwrap_or(State::Unknown),
        info.exit_code,
    )))
}

/// Keeps the container of `role` in namespace `ns` alive until `cancel`.
pub(crate) async fn keep<E: Engine>(engine: &E, role: &str, ns: &str, cancel: &Cancel) {
    let filter = EventFilter {
        kinds: vec!["container".into()],
        labels: labels(role, ns),
        actions: vec!["die".into(), "destroy".into()],
        since: None,
    };
    let mut pause = Duration::from_secs(1);
    let mut last_start: Option<Instant> = None;
    loop {
        // Subscribe first, then look: a death between the two is not missed.
        let mut events = engine.events(&filter);
        // Look, then wait for the partner's next death; look again after each.
        loop {
            {
                match look(engine, role, ns).await {
                    Ok(partner) => match verdict(partner.as_ref().map(|(_, s, c)| (*s, *c))) {
                        Verdict::Gone | Verdict::Leave => {}
                        Verdict::Start => {
                            // A partner that ran a while before dying starts at once again.
                            if last_start.is_some_and(|t| t.elapsed() > Duration::from_secs(600)) {
                                pause = Duration::from_secs(1);
                            }
                            cancel.sleep(pause).await;
                            if cancel.is_cancelled() {
                                return;
                            }
                            pause = (pause * 2).min(Duration::from_secs(60));
                            let id = partner.map(|p| p.0).unwrap_or_default();
                            match engine.start_container(&id).await {
                                Ok(()) => {
                                    tracing::warn!(
                                        "the {role} container was killed: started it again"
                                    );
                                    last_start = Some(Instant::now());
                                }
                                Err(e) => {
                                    tracing::warn!("starting the {role} container again: {e}")
                                }
                            }
                            // Look again: it may have died once more meanwhile.
                            continue;
                        }
                    },
                    Err(e) => {
                        tracing::debug!("looking at the {role} container: {}", crate::describe(&e))
                    }
                }
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                next = events.next() => match next {
                    Some(Ok(_)) => {}
                    // The stream ended (the daemon restarted): subscribe again.
                    _ => break,
                },
            }
        }
        cancel.sleep(Duration::from_secs(1)).await;
        if cancel.is_cancelled() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_a_stop_and_a_kill_is_a_crash() {
        let table = [
            ("running", Some((State::Running, 0)), Verdict::Leave),
            (
                "docker stop: SIGTERM, exit 0",
                Some((State::Exited, 0)),
                Verdict::Leave,
            ),
            (
                "docker kill -s KILL: exit 137",
                Some((State::Exited, 137)),
                Verdict::Start,
            ),
            (
                "failed on its own",
                Some((State::Exited, 1)),
                Verdict::Start,
            ),
            ("dead", Some((State::Dead, 255)), Verdict::Start),
            (
                "restarting by its policy",
                Some((State::Restarting, 137)),
                Verdict::Leave,
            ),
            (
                "created, never started",
                Some((State::Created, 0)),
                Verdict::Leave,
            ),
            ("removed", None, Verdict::Gone),
        ];
        for (what, partner, want) in table {
            assert_eq!(verdict(partner), want, "{what}");
        }
    }
}
