//! The daemon connection: endpoint resolution as the docker CLI does it ([`endpoint`]), the
//! transports (unix, tcp, TLS, ssh through `docker system dial-stdio`, in [`transport`]), API
//! version negotiation, and the typed errors callers branch on.

pub mod clock;
pub mod daemon;
pub mod endpoint;
pub mod engine;
#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod lock;
pub mod self_image;
pub mod stream;
pub mod transport;

pub use daemon::Daemon;
pub use engine::{Engine, EngineError};

use std::time::Duration;

use bollard::{BollardRequest, ClientVersion, Docker};
use hyper::body::Bytes;

use crate::plugin::GlobalOpts;
use endpoint::{Endpoint, EndpointError};

/// How long one API request may take (image imports and `wait` calls set their own).
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// How long the first exchange (`/_ping`) may take before the daemon counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// Errors callers branch on. Messages are lower-case and name the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to the docker daemon at {endpoint} (chosen by {source_of_endpoint}): {reason}")]
    Unreachable {
        endpoint: String,
        source_of_endpoint: String,
        reason: String,
    },
    #[error("docker endpoint: {0}")]
    Config(#[from] EndpointError),
    #[error("tls setup for {endpoint}: {source}")]
    Tls {
        endpoint: String,
        #[source]
        source: transport::TlsSetupError,
    },
    #[error("invalid DOCKER_API_VERSION {0:?}: expected MAJOR.MINOR")]
    BadApiVersion(String),
    #[error(transparent)]
    Api(#[from] bollard::errors::Error),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Unreachable { endpoint, .. } if endpoint.starts_with("unix://") => Some(
                "is the docker daemon running, and may you use its socket? \
                 check `docker context ls`, DOCKER_HOST and -H"
                    .to_string(),
            ),
            Error::Unreachable { .. } => Some(
                "is the daemon listening there, and are the TLS settings right? \
                 check `docker context inspect`, DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH"
                    .to_string(),
            ),
            Error::Config(EndpointError::NoSuchContext(_)) => {
                Some("`docker context ls` lists the contexts".to_string())
            }
            Error::Tls { .. } => {
                Some("check the ca.pem, cert.pem and key.pem of the context or DOCKER_CERT_PATH".to_string())
            }
            _ => None,
        }
    }
}

/// Resolves the endpoint the docker CLI would use with these global options.
pub fn resolve(globals: &GlobalOpts) -> Result<Endpoint, Error> {
    let env = |k: &str| std::env::var(k).ok();
    let config = endpoint::config_dir(globals, &env);
    Ok(endpoint::resolve(globals, &env, &config)?)
}

/// Connects to the daemon the docker CLI would talk to, and negotiates the API version.
pub async fn connect(globals: &GlobalOpts, config: &crate::Config) -> Result<Daemon, Error> {
    let ep = resolve(globals)?;
    connect_endpoint(&ep, config.static_bin.clone()).await
}

/// Connects to one endpoint: the first exchange is an unversioned `GET /_ping`, whose
/// `Api-Version` header fixes the version of every later request (Engine 20.10 rejects a
/// newer one on every endpoint; Engine 29 rejects one below 1.44).
pub async fn connect_endpoint(
    ep: &Endpoint,
    static_bin: Option<std::path::PathBuf>,
) -> Result<Daemon, Error> {
    let name = ep.host.to_string();
    let unreachable = |reason: String| Error::Unreachable {
        endpoint: name.clone(),
        source_of_endpoint: ep.source.clone(),
        reason,
    };
    let client = transport::Connector::new(&ep.host, &ep.tls)
        .map_err(|source| Error::Tls {
            endpoint: name.clone(),
            source,
        })?
        .client();

    let version = match &ep.api_version {
        Some(v) => parse_version(v).ok_or_else(|| Error::BadApiVersion(v.clone()))?,
        None => {
            let server = tokio::time::timeout(PING_TIMEOUT, ping(&client))
                .await
                .map_err(|_| unreachable(format!("no answer within {}s", PING_TIMEOUT.as_secs())))?
                .map_err(unreachable)?;
            if server < *bollard::API_DEFAULT_VERSION {
                server
            } else {
                *bollard::API_DEFAULT_VERSION
            }
        }
    };
    tracing::debug!(
        "docker endpoint {name} ({}), API {}.{}",
        ep.source,
        version.major_version,
        version.minor_version
    );

    let http = client.clone();
    let prefix = format!("/v{}.{}", version.major_version, version.minor_version);
    let transport = move |mut req: BollardRequest| {
        let client = client.clone();
        // bollard 0.21.1 builds `http://docker/v1.41` and then joins the absolute path onto
        // it, which drops the version: every request would reach the daemon unversioned
        // (answered at its newest version, whatever was negotiated). Put it back here, once.
        let versioned = versioned_uri(req.uri(), &prefix);
        async move {
            *req.uri_mut() = versioned?;
            client
                .request(req)
                .await
                .map_err(bollard::errors::Error::from)
        }
    };
    let docker = Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        REQUEST_TIMEOUT_SECS,
        &version,
    )
    .map_err(|e| unreachable(e.to_string()))?;
    Ok(Daemon::new(docker, http, version, static_bin))
}

/// `http://docker/containers/json?all=1` → `http://docker/v1.41/containers/json?all=1`; a path
/// that already carries a version is left alone.
fn versioned_uri(uri: &hyper::Uri, prefix: &str) -> Result<hyper::Uri, bollard::errors::Error> {
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let already = pq
        .strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|v| parse_version(v).is_some());
    let pq = if already {
        pq.to_string()
    } else {
        format!("{prefix}{pq}")
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|e: hyper::http::uri::InvalidUri| {
        bollard::errors::Error::InvalidURIError { err: e }
    })?);
    hyper::Uri::from_parts(parts)
        .map_err(|e| bollard::errors::Error::InvalidURIPartsError { err: e })
}

async fn ping(client: &transport::HttpClient) -> Result<ClientVersion, String> {
    let req = hyper::Request::get("http://docker/_ping")
        .body(bollard::body_full(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| describe(&e))?;
    let header = resp
        .headers()
        .get("api-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if !resp.status().is_success() {
        return Err(format!("/_ping answered {}", resp.status()));
    }
    header
        .as_deref()
        .and_then(parse_version)
        .ok_or_else(|| "the daemon did not say its API version".to_string())
}

/// The innermost cause of a client error: "connection refused", not "client error (Connect)".
pub(crate) fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let msg = inner.to_string();
    if msg.is_empty() {
        err.to_string()
    } else {
        msg
    }
}

fn parse_version(v: &str) -> Option<ClientVersion> {
    let (major, minor) = v.trim().split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = parse_version("1.41").unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        assert!(parse_version("1").is_none());
        assert!(parse_version("x.y").is_none());
        assert!(parse_version("1.41").unwrap() < *bollard::API_DEFAULT_VERSION);
    }

    #[test]
    fn requests_carry_the_negotiated_version() {
        let cases = [
            (
                "http://docker/containers/json?all=1",
                "http://docker/v1.41/containers/json?all=1",
            ),
            ("http://docker/_ping", "http://docker/v1.41/_ping"),
            ("http://docker/v1.40/info", "http://docker/v1.40/info"),
            ("http://docker/volumes", "http://docker/v1.41/volumes"),
        ];
        for (given, want) in cases {
            let got = versioned_uri(&given.parse().unwrap(), "/v1.41").unwrap();
            assert_eq!(got.to_string(), want, "{given}");
        }
    }
}
