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
    /// `--tlsverify` without a CA file, and no system CA certificates to fall back on.
    #[error(
        "no CA file (--tlscacert, or ca.pem in DOCKER_CERT_PATH or the context) and no system CA \
         certificates to verify the daemon with (tried {}): give --tlscacert, or point \
         SSL_CERT_FILE or SSL_CERT_DIR at a CA bundle",
        .tried.join(", ")
    )]
    NoSystemRoots {
        /// Each place looked at, with why it gave nothing.
        tried: Vec<String>,
    },
}

/// The system's CA bundles, tried in this order when `--tlsverify` has no CA file: the list
/// of Go's crypto/x509, whose system pool the docker CLI falls back on (Debian, Ubuntu and
/// Arch; Fedora and RHEL 6; openSUSE; OpenELEC; CentOS and RHEL 7; Alpine).
pub const SYSTEM_CA_FILES: [&str; 6] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Where the system's CA certificates are read from, as Go's crypto/x509 does it: the first
/// bundle of `files` that holds a certificate, plus every file in `dirs`. Built from the
/// environment once, where the connector is made ([`Connector::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemRoots {
    /// `SSL_CERT_FILE` alone when set, else [`SYSTEM_CA_FILES`].
    pub files: Vec<PathBuf>,
    /// `SSL_CERT_DIR` (colon-separated) when set, else none.
    pub dirs: Vec<PathBuf>,
}

impl SystemRoots {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> SystemRoots {
        let files = match env("SSL_CERT_FILE").filter(|f| !f.is_empty()) {
            Some(f) => vec![PathBuf::from(f)],
            None => SYSTEM_CA_FILES.iter().map(PathBuf::from).collect(),
        };
        let dirs = env("SSL_CERT_DIR")
            .map(|d| {
                d.split(':')
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        SystemRoots { files, dirs }
    }

    /// The certificates, or an error naming every place tried. One certificate that does
    /// not parse (system bundles carry odd ones) is skipped, not fatal.
    fn load(&self) -> Result<rustls::RootCertStore, TlsSetupError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut tried = Vec::new();
        for file in &self.files {
            match add_pem_file(&mut roots, file) {
                Ok(0) => tried.push(format!("{}: no certificate", file.display())),
                Ok(_) => break,
                Err(e) => tried.push(format!("{}: {e}", file.display())),
            }
        }
        for dir in &self.dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) => {
                    tried.push(format!("{}: {e}", dir.display()));
                    continue;
                }
            };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            let mut added = 0;
            for path in paths.iter().filter(|p| p.is_file()) {
                // A file that is not PEM (a README in the directory) adds nothing.
                added += add_pem_file(&mut roots, path).unwrap_or(0);
            }
            if added == 0 {
                tried.push(format!("{}: no certificate", dir.display()));
            }
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoSystemRoots { tried });
        }
        Ok(roots)
    }
}

/// Adds the certificates of a PEM file; how many were added.
fn add_pem_file(roots: &mut rustls::RootCertStore, path: &Path) -> io::Result<usize> {
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    })?;
    // Every item makes progress through the file, so flatten (skipping bad blocks) ends.
    let (added, _ignored) = roots.add_parsable_certificates(certs.flatten());
    Ok(added)
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
    /// The connector for an endpoint; `--tlsverify` without a CA file verifies against the
    /// system's CA certificates, found through `SSL_CERT_FILE` and `SSL_CERT_DIR` (read here,
    /// once) or the distributions' usual bundles.
    pub fn new(host: &Host, tls: &Tls) -> Result<Connector, TlsSetupError> {
        let system = SystemRoots::from_env(&|k| std::env::var(k).ok());
        Connector::with_system_roots(host, tls, &system)
    }

    /// [`Connector::new`] with the system roots' locations given.
    pub fn with_system_roots(
        host: &Host,
        tls: &Tls,
        system: &SystemRoots,
    ) -> Result<Connector, TlsSetupError> {
        let target = match (host, tls) {
            (Host::Unix(p), _) => Target::Unix(p.clone()),
            (Host::Tcp { host, port }, Tls::Off) => Target::Tcp {
                host: host.clone(),
                port: *port,
            },
            (Host::Tcp { host, port }, Tls::Verify(files)) => Target::Tls {
                host: host.clone(),
                port: *port,
                config: Arc::new(tls_config(files, Some(system))?),
            },
            (Host::Tcp { host, port }, Tls::NoVerify(files)) => Target::Tls {
                host: host.clone(),
                port: *port,
                config: Arc::new(tls_config(files, None)?),
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

/// The client configuration; `verify` holds where the system roots are when the daemon's
/// certificate is verified, None for `--tls` without verification.
fn tls_config(
    files: &TlsFiles,
    verify: Option<&SystemRoots>,
) -> Result<rustls::ClientConfig, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if let Some(system) = verify {
        // A CA file is the only root, as the docker CLI's exclusive pool; without one the
        // CLI falls back on the system's pool, and so do we.
        let roots = match &files.ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                let pem = read_file(ca)?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| TlsSetupError::File {
                        path: ca.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    roots.add(cert)?;
                }
                roots
            }
            None => system.load()?,
        };
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

    // Vectored writes forwarded: without them hyper copies every request body into the
    // connection's own write buffer, which keeps its capacity while the connection is pooled.
    // One upload of the binary (the self image, the init volume) left a long-running watcher
    // with an 11.6 MB buffer for good.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Conn::Ssh(s) => Pin::new(&mut s.stdin).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Unix(s) => s.is_write_vectored(),
            Conn::Tcp(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
            Conn::Ssh(s) => s.stdin.is_write_vectored(),
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
            // Both were set to piped just above.
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(io::Error::other("ssh started without pipes"));
            };
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

    /// A connection writes vectored, so hyper sends a body from its own buffers (its queue)
    /// instead of copying it into a write buffer the pooled connection keeps.
    #[test]
    fn connections_write_vectored() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
            let mut conn = Conn::Unix(a);
            assert!(conn.is_write_vectored());
            let parts = [io::IoSlice::new(b"head "), io::IoSlice::new(b"body")];
            let n = conn.write_vectored(&parts).await.unwrap();
            assert_eq!(n, 9, "both slices in one write");
            drop(conn);
            let mut got = String::new();
            b.read_to_string(&mut got).await.unwrap();
            assert_eq!(got, "head body");
        });
    }

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
            tls_config(&files, None),
            Err(TlsSetupError::HalfClientCert)
        ));
    }

    /// Two self-signed roots (P-256, valid until 2126), for bundles made in the tests.
    const ROOT_A: &str = "-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUNn1YGANdvG6ttrZ6t0GUdinpahowCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXZG9ja2VyLWxpbmstdGVzdC1yb290LWEwIBcNMjYxMjAyMDIz
NzU1WhgPMjEyNjExMDgwMjM3NTVaMCIxIDAeBgNVBAMMF2RvY2tlci1saW5rLXRl
c3Qtcm9vdC1hMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXLpYKlBLlyvnXJql
YeWbP0N2aguGPeUajJ+gEnU6/SHdc9Eqg1YakuVdzWzuN8YOl5nfueazyHSHFMuK
lYxML6NTMFEwHQYDVR0OBBYEFFkxLg4ASH/Q+UFVIYCo7CO10L5fMB8GA1UdIwQY
MBaAFFkxLg4ASH/Q+UFVIYCo7CO10L5fMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI
zj0EAwIDSAAwRQIgC+len8VsdAgqqoui0Z7n0Ju2YMosA2z7qWzQL7nHkagCIQCQ
lHax76vjfwhbFwhQiMYCvdj9HaWN9S2+XR/09NB3ig==
-----END CERTIFICATE-----
";
    const ROOT_B: &str = "-----BEGIN CERTIFICATE-----
MIIBmjCCAUGgAwIBAgIUDIF+Ouy1M55Y6IOnmJ0//L2ePvowCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXZG9ja2VyLWxpbmstdGVzdC1yb290LWIwIBcNMjYxMjAyMDIz
NzU1WhgPMjEyNjExMDgwMjM3NTVaMCIxIDAeBgNVBAMMF2RvY2tlci1saW5rLXRl
c3Qtcm9vdC1iMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEA5Q685jInNY9wG1r
Sh+koXCGMGVVJqMEiI0PiJbCnXXwLw3nZEkIhO4wdGjb1XXrXFkZgZYJlQSGCV4G
viGmxqNTMFEwHQYDVR0OBBYEFKUvkfAafDkphrhPEQ3vm5wgqiKJMB8GA1UdIwQY
MBaAFKUvkfAafDkphrhPEQ3vm5wgqiKJMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI
zj0EAwIDRwAwRAIgPKUzK780XdikVL+P367BiWfz+tVxzl2x80/dspjELzACIA+f
QT6NWuDOrGnrm2Jidb/lg/UKSIGBESjTeI6yQvET
-----END CERTIFICATE-----
";

    /// A directory of its own under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("dl-unit-roots-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn system_roots_follow_ssl_cert_file_and_dir() {
        let defaults = SystemRoots::from_env(&env_of(&[]));
        assert_eq!(defaults.files.len(), SYSTEM_CA_FILES.len());
        assert_eq!(
            defaults.files[0],
            PathBuf::from("/etc/ssl/certs/ca-certificates.crt")
        );
        assert!(defaults.dirs.is_empty());
        // An empty variable is an unset one (Go's rule).
        assert_eq!(
            SystemRoots::from_env(&env_of(&[("SSL_CERT_FILE", "")])),
            defaults
        );
        let set = SystemRoots::from_env(&env_of(&[
            ("SSL_CERT_FILE", "/my/bundle.pem"),
            ("SSL_CERT_DIR", "/a::/b"),
        ]));
        assert_eq!(set.files, [PathBuf::from("/my/bundle.pem")]);
        assert_eq!(set.dirs, [PathBuf::from("/a"), PathBuf::from("/b")]);
    }

    #[test]
    fn system_roots_load_from_a_bundle_or_a_directory() {
        let scratch = Scratch::new("load");
        // A bundle with a broken block between two good ones: the good ones count.
        let bundle = scratch.write(
            "bundle.pem",
            &format!(
                "{ROOT_A}-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n{ROOT_B}"
            ),
        );
        let env = [("SSL_CERT_FILE", bundle.to_str().unwrap())];
        let roots = SystemRoots::from_env(&env_of(&env)).load().unwrap();
        assert_eq!(roots.len(), 2);

        // The first bundle with a certificate wins; missing and empty ones are passed over.
        let empty = scratch.write("empty.pem", "");
        let system = SystemRoots {
            files: vec![scratch.0.join("missing.pem"), empty, bundle.clone(), bundle],
            dirs: vec![],
        };
        assert_eq!(system.load().unwrap().len(), 2);

        // SSL_CERT_DIR: every file of the directory, whatever its name.
        scratch.write("dir/a.pem", ROOT_A);
        scratch.write("dir/5ad8a5d6.0", ROOT_B);
        scratch.write("dir/README", "not a certificate\n");
        let dir = scratch.0.join("dir");
        let env = [
            ("SSL_CERT_FILE", "/nonexistent/bundle.pem"),
            ("SSL_CERT_DIR", dir.to_str().unwrap()),
        ];
        assert_eq!(
            SystemRoots::from_env(&env_of(&env)).load().unwrap().len(),
            2
        );
    }

    #[test]
    fn no_system_roots_is_an_error_naming_what_was_tried() {
        let scratch = Scratch::new("none");
        let empty = scratch.write("empty.pem", "");
        let nodir = scratch.0.join("nodir");
        let system = SystemRoots {
            files: vec![scratch.0.join("missing.pem"), empty.clone()],
            dirs: vec![nodir.clone()],
        };
        let err = system.load().unwrap_err();
        assert!(matches!(err, TlsSetupError::NoSystemRoots { .. }));
        let msg = err.to_string();
        for path in [scratch.0.join("missing.pem"), empty, nodir] {
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        assert!(
            msg.contains("--tlscacert") && msg.contains("SSL_CERT_FILE"),
            "{msg}"
        );

        // Through the connector: --tlsverify without ca.pem reaches for the system roots...
        let host = Host::Tcp {
            host: "127.0.0.1".into(),
            port: 2376,
        };
        let verify = Tls::Verify(TlsFiles::default());
        assert!(matches!(
            Connector::with_system_roots(&host, &verify, &system),
            Err(TlsSetupError::NoSystemRoots { .. })
        ));
        // ... a CA file replaces them, and --tls without verification needs none.
        let ca = scratch.write("ca.pem", ROOT_A);
        let with_ca = Tls::Verify(TlsFiles {
            ca: Some(ca),
            ..TlsFiles::default()
        });
        assert!(Connector::with_system_roots(&host, &with_ca, &system).is_ok());
        let no_verify = Tls::NoVerify(TlsFiles::default());
        assert!(Connector::with_system_roots(&host, &no_verify, &system).is_ok());
        // And with a bundle there, the connector is made.
        let bundle = scratch.write("bundle.pem", ROOT_B);
        let found = SystemRoots {
            files: vec![bundle],
            dirs: vec![],
        };
        assert!(Connector::with_system_roots(&host, &verify, &found).is_ok());
    }
}
