//! The commit session: one process per proxy, started once by an exec whose standard input
//! and output the watcher holds open, that runs the commit script (write, validate, swap,
//! signal, confirm) for each candidate it is sent. An exec costs a round trip of the daemon's
//! (about 100 ms here, the largest part of a reload); a request on the open session costs
//! well under a millisecond, so a route goes live about that much sooner.
//!
//! The conversation, one request at a time: the script says `docker-link-session ready` (or
//! `docker-link-session unsupported: REASON` and ends, when the image lacks `head`); each
//! request is a line `LENGTH LIVE HASH` then LENGTH bytes of candidate; each answer a line
//! `docker-link-done CODE N` (CODE as the one-shot commit exits, see `apply::commit`) then N
//! bytes of the script's output. The process ends when its standard input closes (the
//! watcher dropped the session or died) or the proxy stops; a session that fails in any way
//! is dropped and the caller commits with a one-shot exec instead.

use std::time::Duration;

use super::apply::{commit_command, Proxy, STAGING_FILE};
use crate::docker::engine::{Engine, EngineError, ExecOutput};
use crate::docker::stream::ExecStream;

/// How long the script may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// How long one commit may take (its confirmation polls for up to ~6 s, more when loaded).
const COMMIT_WITHIN: Duration = Duration::from_secs(60);

const READY: &str = "docker-link-session ready";
const UNSUPPORTED: &str = "docker-link-session unsupported: ";
const DONE: &str = "docker-link-done ";

/// Why a session could not be opened or went wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The image cannot run it (said by the script): one-shot execs from now on.
    #[error("the proxy's image cannot hold a session: {0}")]
    Unsupported(String),
    #[error("the session broke: {0}")]
    Broken(String),
}

/// An open commit session of one proxy.
#[derive(Debug)]
pub(crate) struct Session {
    stream: ExecStream,
}

impl Session {
    /// Starts the session's process in the proxy and waits for it to be ready.
    pub(crate) async fn open<E: Engine>(
        engine: &E,
        proxy: &Proxy,
    ) -> Result<Session, SessionError> {
        // A staging file of the session's own: a `docker proxy reload` at the same moment
        // writes another.
        let staging = format!(
            "{STAGING_FILE}.session.{:016x}.{}",
            crate::random_u64(),
            proxy.engine.template()
        );
        let cmd = commit_command(proxy.engine, "session", &staging, "-", "-");
        Session::ready(engine.exec_attach(&proxy.id, &cmd).await?).await
    }

    /// Waits for the script to say it is ready.
    async fn ready(mut stream: ExecStream) -> Result<Session, SessionError> {
        let line = tokio::time::timeout(READY_WITHIN, stream.read_line())
            .await
            .map_err(|_| SessionError::Broken(format!("not ready within {READY_WITHIN:?}")))?
            .map_err(|e| SessionError::Broken(e.to_string()))?;
        if line == READY {
            return Ok(Session { stream });
        }
        match line.strip_prefix(UNSUPPORTED) {
            Some(reason) => Err(SessionError::Unsupported(reason.to_string())),
            None => Err(SessionError::Broken(format!("unexpected answer {line:?}"))),
        }
    }

    /// Commits one candidate: what the one-shot commit exec would have given.
    pub(crate) async fn commit(
        &mut self,
        text: &str,
        live: &str,
        hash: &str,
    ) -> Result<ExecOutput, SessionError> {
        tokio::time::timeout(COMMIT_WITHIN, self.exchange(text, live, hash))
            .await
            .map_err(|_| SessionError::Broken(format!("no answer within {COMMIT_WITHIN:?}")))?
            .map_err(|e| SessionError::Broken(e.to_string()))
    }

    async fn exchange(
        &mut self,
        text: &str,
        live: &str,
        hash: &str,
    ) -> std::io::Result<ExecOutput> {
        let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        // Paths and hashes are ours (no spaces); the candidate is counted, never parsed.
        let mut request = format!("{} {live} {hash}\n", text.len()).into_bytes();
        request.extend_from_slice(text.as_bytes());
        self.stream.send(&request).await?;
        let line = self.stream.read_line().await?;
        let mut words = line
            .strip_prefix(DONE)
            .ok_or_else(|| bad(format!("unexpected answer {line:?}")))?
            .split_whitespace()
            .map(str::parse::<i64>);
        let (Some(Ok(code)), Some(Ok(n))) = (words.next(), words.next()) else {
            return Err(bad(format!("unexpected answer {line:?}")));
        };
        let output = self.stream.read_exact(n.max(0) as usize).await?;
        Ok(ExecOutput {
            code,
            stdout: output,
            stderr: Vec::new(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::docker::fake::{AttachHandler, Fake};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    /// What the sessions served in the fake saw: how many were opened, and every request
    /// (its line and its candidate).
    #[derive(Clone, Default)]
    pub(crate) struct Served {
        pub(crate) opened: Arc<AtomicUsize>,
        pub(crate) seen: Arc<Mutex<Vec<String>>>,
    }

    impl Served {
        pub(crate) fn opened(&self) -> usize {
            self.opened.load(Ordering::SeqCst)
        }

        pub(crate) fn seen(&self) -> Vec<String> {
            self.seen.lock().unwrap().clone()
        }
    }

    /// Serves every session the fake is asked to start: the script's first line `first`,
    /// then each request answered by `answer` (the candidate → exit code and output).
    pub(crate) fn serve(
        fake: &Fake,
        first: &'static str,
        answer: fn(&str) -> (i64, String),
    ) -> Served {
        let served = Served::default();
        let s = served.clone();
        fake.world().attach = Some(AttachHandler(Arc::new(move |cmd: &[String]| {
            assert_eq!(cmd[3..5], ["docker-link-commit", "session"]);
            s.opened.fetch_add(1, Ordering::SeqCst);
            let (ours, theirs) = tokio::io::duplex(1 << 20);
            let seen = s.seen.clone();
            tokio::spawn(async move {
                let (r, mut w) = tokio::io::split(theirs);
                let mut r = BufReader::new(r);
                w.write_all(format!("{first}\n").as_bytes()).await.unwrap();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let len: usize = line.split_whitespace().next().unwrap().parse().unwrap();
                    let mut text = vec![0u8; len];
                    r.read_exact(&mut text).await.unwrap();
                    let text = String::from_utf8(text).unwrap();
                    seen.lock().unwrap().push(format!("{line}{text}"));
                    let (code, out) = answer(&text);
                    let reply = format!("{DONE}{code} {}\n{out}", out.len());
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
            Some(ours)
        })));
        served
    }

    /// A session whose process said it was ready and then went (the proxy restarted).
    pub(crate) async fn gone() -> Session {
        let (ours, mut theirs) = tokio::io::duplex(64);
        theirs
            .write_all(format!("{READY}\n").as_bytes())
            .await
            .unwrap();
        drop(theirs);
        Session::ready(ExecStream::new(Box::new(ours), false))
            .await
            .unwrap()
    }
}
