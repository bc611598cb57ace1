//! A command's standard streams held open in a container (an exec on a hijacked connection):
//! a conversation of many requests with one process, where an exec per request would cost a
//! round trip of the daemon's each (about 100 ms here, most of a proxy's reload). Owns the
//! demultiplexing of the daemon's frames (8-byte header: stream 1 or 2, three zero bytes, the
//! size big-endian), for whole outputs as for streams.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A byte stream both ways (the upgraded connection, or the fake's in-memory pipe).
pub(crate) trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}

/// Splits the daemon's frames as they arrive, a frame or its header possibly cut anywhere.
#[derive(Debug, Default)]
pub(crate) struct Demux {
    header: Vec<u8>,
    /// Payload bytes left in the current frame, and its stream.
    left: usize,
    stream: u8,
}

impl Demux {
    /// Appends the payload in `raw` to `out` (stdout) or `err` (stderr).
    pub(crate) fn feed(&mut self, mut raw: &[u8], out: &mut Vec<u8>, err: &mut Vec<u8>) {
        while !raw.is_empty() {
            if self.left == 0 {
                let take = (8 - self.header.len()).min(raw.len());
                self.header.extend_from_slice(&raw[..take]);
                raw = &raw[take..];
                if self.header.len() < 8 {
                    return;
                }
                let h = std::mem::take(&mut self.header);
                self.stream = h[0];
                self.left = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
                continue;
            }
            let take = self.left.min(raw.len());
            match self.stream {
                2 => err.extend_from_slice(&raw[..take]),
                _ => out.extend_from_slice(&raw[..take]),
            }
            self.left -= take;
            raw = &raw[take..];
        }
    }
}

/// Splits a whole multiplexed output into (stdout, stderr).
pub(crate) fn demux(raw: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Demux::default().feed(raw, &mut out, &mut err);
    (out, err)
}

/// A running command's standard input (to write) and output (read a line or a counted run
/// at a time). Standard error is kept apart, for the message when the command ends early.
pub struct ExecStream {
    io: Box<dyn Duplex>,
    /// None: the bytes are standard output as they are (no frames).
    frames: Option<Demux>,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl std::fmt::Debug for ExecStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecStream")
    }
}

impl ExecStream {
    /// `multiplexed`: the daemon's frames (an exec without a TTY); else plain standard output.
    pub(crate) fn new(io: Box<dyn Duplex>, multiplexed: bool) -> ExecStream {
        ExecStream {
            io,
            frames: multiplexed.then(Demux::default),
            out: Vec::new(),
            err: Vec::new(),
        }
    }

    /// Writes to the command's standard input, all of it.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Reads more output; false at the end of the stream.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 16 * 1024];
        let n = self.io.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        match &mut self.frames {
            Some(d) => d.feed(&buf[..n], &mut self.out, &mut self.err),
            None => self.out.extend_from_slice(&buf[..n]),
        }
        Ok(true)
    }

    fn ended(&self) -> io::Error {
        let err = String::from_utf8_lossy(&self.err);
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            match err.trim() {
                "" => "the command ended".to_string(),
                e => format!("the command ended: {e}"),
            },
        )
    }

    /// The next line of standard output, without its newline.
    pub async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.out.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.out.drain(..=i).take(i).collect();
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if !self.fill().await? {
                return Err(self.ended());
            }
        }
    }

    /// The next `n` bytes of standard output.
    pub async fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.out.len() < n {
            if !self.fill().await? {
                return Err(self.ended());
            }
        }
        Ok(self.out.drain(..n).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_cut_anywhere_give_the_same_streams() {
        let mut raw = frame(1, b"hello ");
        raw.extend(frame(2, b"warning\n"));
        raw.extend(frame(1, b"world\n"));
        raw.extend(frame(1, b""));
        for cut in 1..raw.len() {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut d = Demux::default();
            for piece in raw.chunks(cut) {
                d.feed(piece, &mut out, &mut err);
            }
            assert_eq!(out, b"hello world\n", "pieces of {cut}");
            assert_eq!(err, b"warning\n", "pieces of {cut}");
        }
        assert_eq!(
            demux(&raw),
            (b"hello world\n".to_vec(), b"warning\n".to_vec())
        );
    }

    #[test]
    fn lines_and_counted_runs_across_frames_then_the_end() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (ours, mut theirs) = tokio::io::duplex(64);
            let mut s = ExecStream::new(Box::new(ours), true);
            let mut raw = frame(1, b"ready\ndone 0 ");
            raw.extend(frame(1, b"3\nab"));
            raw.extend(frame(2, b"sh: oops"));
            raw.extend(frame(1, b"cnext"));
            let writer = tokio::spawn(async move {
                let mut got = vec![0u8; 5];
                theirs.read_exact(&mut got).await.unwrap();
                assert_eq!(&got, b"apply");
                for piece in raw.chunks(5) {
                    theirs.write_all(piece).await.unwrap();
                }
            });
            s.send(b"apply").await.unwrap();
            assert_eq!(s.read_line().await.unwrap(), "ready");
            assert_eq!(s.read_line().await.unwrap(), "done 0 3");
            assert_eq!(s.read_exact(3).await.unwrap(), b"abc");
            writer.await.unwrap();
            let e = s.read_line().await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            assert_eq!(e.to_string(), "the command ended: sh: oops");
        });
    }
}
