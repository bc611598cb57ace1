//! A lock shared by every client of a daemon, local or remote: a container that is created and
//! never started, whose name is the lock (the daemon's unique names let exactly one creator
//! win). Work that must happen once however many commands need it at the same moment (filling
//! the init volume, importing the self image) runs under it; the others wait until the work
//! is seen done, without taking the lock in turn. A lock left by a command that died is taken
//! over once it is older than [`STALE_AFTER_SECS`] on the daemon's clock.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::docker::engine::{remove_if_present, ContainerSpec, Engine, ListFilter};
use crate::labels;

/// A lock older than this (its holder died) is taken over.
pub(crate) const STALE_AFTER_SECS: i64 = 120;
/// How long a caller waits for another holder's work.
const WAIT_FOR_HOLDER: Duration = Duration::from_secs(150);

/// A held lock: the container's id. Give it back with [`Held::release`].
#[derive(Debug)]
#[must_use = "a lock that is not released blocks others until it is stale"]
pub(crate) struct Held {
    pub(crate) id: String,
}

impl Held {
    pub(crate) async fn release<E: Engine + ?Sized>(self, engine: &E) -> anyhow::Result<()> {
        remove_if_present(engine, &self.id, true).await?;
        Ok(())
    }
}

/// Takes the lock named `spec.name` (the container `spec` describes: it carries a role label,
/// and may mount what the work needs), unless `done` says the work is there already: then
/// `None`, whether it was done before or by the holder this caller waited for. `what` names
/// the work in messages.
pub(crate) async fn acquire<E, F, Fut>(
    engine: &E,
    spec: &ContainerSpec,
    what: &str,
    mut done: F,
) -> anyhow::Result<Option<Held>>
where
    E: Engine + ?Sized,
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if done().await {
            return Ok(None);
        }
        match engine.create_container(spec).await {
            Ok(id) => {
                // Done between the check and the lock: nothing left to do.
                if done().await {
                    Held { id }.release(engine).await?;
                    return Ok(None);
                }
                return Ok(Some(Held { id }));
            }
            Err(e) if e.is_conflict() => {
                take_over_if_stale(engine, spec, what).await?;
                if started.elapsed() > WAIT_FOR_HOLDER {
                    anyhow::bail!(
                        "another command has been {what} for {}s: gave up waiting",
                        WAIT_FOR_HOLDER.as_secs()
                    );
                }
                // Jittered, so that a crowd of waiters does not poll in step.
                let pause = 150 + crate::random_u64() % 100;
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Removes the lock `spec.name` when its holder is gone (older than [`STALE_AFTER_SECS`]).
async fn take_over_if_stale<E: Engine + ?Sized>(
    engine: &E,
    spec: &ContainerSpec,
    what: &str,
) -> anyhow::Result<()> {
    let role = spec.labels.get(labels::ROLE).cloned().unwrap_or_default();
    let listing = engine
        .list_containers(&ListFilter {
            labels: vec![labels::role(&role)],
            ..Default::default()
        })
        .await?;
    let now = listing
        .server_time
        .unwrap_or_else(crate::docker::clock::now);
    for c in &listing.containers {
        if c.names.contains(&spec.name) && now - c.created > STALE_AFTER_SECS {
            crate::output::warn(&format!(
                "removing {}, left by a command that died while {what}",
                spec.name
            ));
            remove_if_present(engine, &c.id, true).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::fake::Fake;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "docker-link-lock-test".into(),
            image: "empty".into(),
            labels: crate::docker::engine::Labels::from([(
                labels::ROLE.to_string(),
                labels::IMPORT_LOCK_ROLE.to_string(),
            )]),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn work_already_done_takes_no_lock() {
        let fake = Fake::default();
        let held = acquire(&fake, &spec(), "testing", || async { true })
            .await
            .unwrap();
        assert!(held.is_none());
        assert!(fake.world().find("docker-link-lock-test").is_none());
    }

    #[tokio::test]
    async fn one_holder_at_a_time_and_waiters_stop_when_the_work_is_done() {
        let fake = Fake::default();
        let first = acquire(&fake, &spec(), "testing", || async { false })
            .await
            .unwrap()
            .expect("the first caller holds the lock");
        // A second caller waits while the lock is held and the work not done; once the
        // work is seen done it returns without the lock.
        let checks = AtomicUsize::new(0);
        let second = acquire(&fake, &spec(), "testing", || async {
            checks.fetch_add(1, Ordering::SeqCst) >= 2
        })
        .await
        .unwrap();
        assert!(second.is_none());
        assert!(checks.load(Ordering::SeqCst) >= 3);
        first.release(&fake).await.unwrap();
        assert!(fake.world().find("docker-link-lock-test").is_none());
        // Free again: the next caller holds it.
        let third = acquire(&fake, &spec(), "testing", || async { false })
            .await
            .unwrap();
        assert!(third.is_some());
    }

    #[tokio::test]
    async fn a_lock_whose_holder_died_is_taken_over_once_stale() {
        let fake = Fake::default();
        // Its holder never releases it.
        let _held = acquire(&fake, &spec(), "testing", || async { false })
            .await
            .unwrap()
            .expect("held");
        fake.advance(STALE_AFTER_SECS + 1);
        let next = acquire(&fake, &spec(), "testing", || async { false })
            .await
            .unwrap();
        assert!(next.is_some(), "the stale lock was not taken over");
    }
}
