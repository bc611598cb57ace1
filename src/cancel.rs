//! A cancellation token that travels in the context: a signal (Ctrl-C, SIGTERM) or the docker
//! CLI closing its plugin socket cancels it, and the code that is running decides where it can
//! stop (a registry write finishes or undoes its step; a rollback still runs). Nothing calls
//! `process::exit` from a thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
struct Inner {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Inner>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Sleeps for `d`, or less when cancelled meanwhile.
    pub async fn sleep(&self, d: std::time::Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.cancelled() => {}
        }
    }
}

/// What a cancelled operation answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("interrupted: {0}")]
pub struct Interrupted(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_wakes_waiters() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let c = Cancel::new();
        let c2 = c.clone();
        rt.block_on(async move {
            let waiter = tokio::spawn(async move { c2.cancelled().await });
            tokio::task::yield_now().await;
            c.cancel();
            waiter.await.unwrap();
            // Already cancelled: returns at once, and sleeps are cut short.
            c.cancelled().await;
            let t = std::time::Instant::now();
            c.sleep(std::time::Duration::from_secs(5)).await;
            assert!(t.elapsed() < std::time::Duration::from_secs(1));
        });
    }
}
