//! The byte streams under bollard: unix socket, tcp, TLS over tcp (verified, or not when the
//! user asked for `--tls` without `--tlsverify`), and `ssh://` through
//! `ssh … docker system dial-stdio`. bollard drives HTTP over them through its custom
//! transport, so every endpoint the docker CLI accepts behaves the same here.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use http_body_util::{Either, Full, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::endpoint::{Host, Tls, TlsFiles};

/// bollard's request body type, spelled out so our client can carry it.
pub type Body = Either<
    Full<Bytes>,
    StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, io::Error>> + Send>>>,
>;

pub type HttpClient = Client<Connector, Body>;

/// How long establishing one connection may take before the daemon counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connector could not be built (bad TLS material).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    #[error("a client certificate needs both cert.pem and key.pem")]
    HalfClientCert,
}

#[derive(Clone)]
enum Target {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    Tls {
        host: String,
        port: u16,
        config: Arc<rustls::ClientConfig>,
    },
    Ssh {
        args: Vec<String>,
    },
}

/// Opens a new stream to the endpoint for each connection hyper asks for.
#[derive(Clone)]
pub struct Connector {
    target: Arc<Target>,
}

impl Connector {
    pub fn new(host: &Host, tls: &Tls) -> Result<Connector, TlsSetupError> {
        let target = match (host, tls) {
            (Host::Unix(p), _) => Target::Unix(p.clone()),
            (Host::Tcp { host, port }, Tls::Off) => Target::Tcp {
                host: host.clone(),
                port: *port,
            },
            (Host::Tcp { host, port }, Tls::Verify(files)) => Target::Tls {
                host: host.clone(),
                port: *port,
                config: Arc::new(tls_config(files, true)?),
            },
            (Host::Tcp { host, port }, Tls::NoVerify(files)) => Target::Tls {
                host: host.clone(),
                port: *port,
                config: Arc::new(tls_config(files, false)?),
            },
            (Host::Ssh { user, host, port }, _) => Target::Ssh {
                args: ssh_args(user.as_deref(), host, *port),
            },
        };
        Ok(Connector {
            target: Arc::new(target),
        })
    }

    /// An HTTP/1 client over this connector.
    pub fn client(self) -> HttpClient {
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(self)
    }
}

/// The ssh command line the docker CLI uses for `ssh://` hosts.
pub fn ssh_args(user: Option<&str>, host: &str, port: Option<u16>) -> Vec<String> {
    let mut args = vec![
        "-o".to_string(),
        "ConnectTimeout=30".to_string(),
        "-T".to_string(),
    ];
    if let Some(u) = user {
        args.extend(["-l".to_string(), u.to_string()]);
    }
    if let Some(p) = port {
        args.extend(["-p".to_string(), p.to_string()]);
    }
    args.extend(
        ["--", host, "docker", "system", "dial-stdio"]
            .iter()
            .map(|s| s.to_string()),
    );
    args
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|e| TlsSetupError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn tls_config(files: &TlsFiles, verify: bool) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if verify {
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &files.ca {
            let pem = read_file(ca)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsSetupError::File {
                    path: ca.display().to_string(),
                    reason: e.to_string(),
                })?;
                roots.add(cert)?;
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    };
    match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let cert_pem = read_file(cert)?;
            let chain = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TlsSetupError::File {
                    path: cert.display().to_string(),
                    reason: e.to_string(),
                })?;
            let key_pem = read_file(key)?;
            let key_der =
                PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsSetupError::File {
                    path: key.display().to_string(),
                    reason: e.to_string(),
                })?;
            Ok(builder.with_client_auth_cert(chain, key_der)?)
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(TlsSetupError::HalfClientCert),
    }
}

/// `--tls` without `--tlsverify`: the daemon's certificate is not checked against a CA (the
/// docker CLI's `InsecureSkipVerify`), but the handshake's signatures still are.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One connection to the daemon, whatever carries it.
pub enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
    Ssh(Box<SshStream>),
}

/// `docker system dial-stdio` on the far side of ssh: HTTP over the child's stdin/stdout. The
/// child is killed when the connection is dropped.
pub struct SshStream {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Ssh(s) => Pin::new(&mut s.stdout).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Ssh(s) => Pin::new(&mut s.stdin).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Ssh(s) => Pin::new(&mut s.stdin).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Ssh(s) => Pin::new(&mut s.stdin).poll_shutdown(cx),
        }
    }
}

async fn open(target: &Target) -> io::Result<Conn> {
    match target {
        Target::Unix(path) => Ok(Conn::Unix(tokio::net::UnixStream::connect(path).await?)),
        Target::Tcp { host, port } => {
            let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            s.set_nodelay(true)?;
            Ok(Conn::Tcp(s))
        }
        Target::Tls { host, port, config } => {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            tcp.set_nodelay(true)?;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await?;
            Ok(Conn::Tls(Box::new(tls)))
        }
        Target::Ssh { args } => {
            let mut child = tokio::process::Command::new("ssh")
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            let stdin = child.stdin.take().expect("piped stdin");
            let stdout = child.stdout.take().expect("piped stdout");
            Ok(Conn::Ssh(Box::new(SshStream {
                _child: child,
                stdin,
                stdout,
            })))
        }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Conn>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let target = self.target.clone();
        Box::pin(async move {
            match tokio::time::timeout(CONNECT_TIMEOUT, open(&target)).await {
                Ok(stream) => stream.map(TokioIo::new),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_command_line_matches_the_cli() {
        assert_eq!(
            ssh_args(Some("me"), "box", Some(2222)).join(" "),
            "-o ConnectTimeout=30 -T -l me -p 2222 -- box docker system dial-stdio"
        );
        assert_eq!(
            ssh_args(None, "box", None).join(" "),
            "-o ConnectTimeout=30 -T -- box docker system dial-stdio"
        );
    }

    #[test]
    fn half_a_client_certificate_is_refused() {
        let files = TlsFiles {
            ca: None,
            cert: Some("/nonexistent/cert.pem".into()),
            key: None,
        };
        assert!(matches!(
            tls_config(&files, false),
            Err(TlsSetupError::HalfClientCert)
        ));
    }
}
