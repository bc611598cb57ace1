//! Where `up` leaves the desired state of a project for `status` and the watcher: a volume
//! of ours, `docker-link-net-<project>`, whose labels hold the project and its validated
//! configuration (deflated JSON, base64: `z1:…`). Volumes survive container and network
//! prunes, need no running process, and are listed by label in one request. Labels cannot
//! change, so a changed configuration replaces the volume.

use std::io::{Read as _, Write as _};

use crate::docker::engine::{Engine, EngineError, Labels};
use crate::labels;

use super::config::NetConfig;

/// The volume of a project.
pub(crate) fn volume_name(project: &str) -> String {
    format!("docker-link-net-{project}")
}

/// Encodes a configuration for a label.
pub(crate) fn encode(config: &NetConfig) -> String {
    let json = serde_json::to_vec(config).unwrap_or_default();
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = z.write_all(&json);
    let bytes = z.finish().unwrap_or_default();
    format!("z1:{}", base64(&bytes))
}

/// Decodes what [`encode`] wrote.
pub(crate) fn decode(label: &str) -> Result<NetConfig, String> {
    let b64 = label
        .strip_prefix("z1:")
        .ok_or("not a docker net configuration (no z1: prefix)")?;
    let bytes = unbase64(b64).ok_or("bad base64")?;
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(&bytes[..])
        .read_to_end(&mut json)
        .map_err(|e| format!("bad deflate data: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("bad configuration: {e}"))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = B64.iter().position(|x| *x == c)? as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// Stores `config` for `project` in registry namespace `ns` (whose watcher realizes it);
/// nothing happens when the same is stored. Returns whether it changed.
pub(crate) async fn save<E: Engine>(
    engine: &E,
    ns: &str,
    project: &str,
    config: &NetConfig,
) -> Result<bool, EngineError> {
    let name = volume_name(project);
    let value = encode(config);
    let existing = engine
        .list_volumes(&[
            labels::role(labels::NET_ROLE),
            format!("{}={project}", labels::NET_PROJECT),
        ])
        .await?;
    if existing.iter().any(|v| {
        v.name == name
            && v.labels.get(labels::NET_CONFIG) == Some(&value)
            && v.labels.get(labels::NAMESPACE).map(String::as_str) == Some(ns)
    }) {
        return Ok(false);
    }
    for v in &existing {
        match engine.remove_volume(&v.name).await {
            Err(e) if !e.is_not_found() => return Err(e),
            _ => {}
        }
    }
    let mut l = Labels::new();
    l.insert(labels::ROLE.to_string(), labels::NET_ROLE.to_string());
    l.insert(labels::NET_PROJECT.to_string(), project.to_string());
    l.insert(labels::NAMESPACE.to_string(), ns.to_string());
    l.insert(labels::NET_CONFIG.to_string(), value);
    engine.create_volume(&name, &l).await?;
    Ok(true)
}

/// Every project stored for registry namespace `ns` (all of them with None) with its
/// configuration (or why it cannot be read).
pub(crate) async fn load_all<E: Engine>(
    engine: &E,
    ns: Option<&str>,
) -> Result<Vec<(String, Result<NetConfig, String>)>, EngineError> {
    let mut filter = vec![labels::role(labels::NET_ROLE)];
    if let Some(ns) = ns {
        filter.push(labels::namespace(ns));
    }
    list(engine, &filter).await
}

/// One project's stored configuration (or why it cannot be read), whatever its registry
/// namespace; None when the project is not stored.
pub(crate) async fn load<E: Engine>(
    engine: &E,
    project: &str,
) -> Result<Option<Result<NetConfig, String>>, EngineError> {
    let filter = [
        labels::role(labels::NET_ROLE),
        format!("{}={project}", labels::NET_PROJECT),
    ];
    Ok(list(engine, &filter)
        .await?
        .into_iter()
        .find(|(p, _)| p == project)
        .map(|(_, cfg)| cfg))
}

async fn list<E: Engine>(
    engine: &E,
    filter: &[String],
) -> Result<Vec<(String, Result<NetConfig, String>)>, EngineError> {
    let vols = engine.list_volumes(filter).await?;
    Ok(vols
        .into_iter()
        .filter_map(|v| {
            let project = v.labels.get(labels::NET_PROJECT)?.clone();
            let cfg = v
                .labels
                .get(labels::NET_CONFIG)
                .ok_or_else(|| "no configuration label".to_string())
                .and_then(|s| decode(s));
            Some((project, cfg))
        })
        .collect())
}

/// Removes the project's stored state; false when there was none.
pub(crate) async fn remove<E: Engine>(engine: &E, project: &str) -> Result<bool, EngineError> {
    match engine.remove_volume(&volume_name(project)).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::fake::Fake;

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
            assert_eq!(unbase64(&base64(data)).unwrap(), data);
        }
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
    }

    #[test]
    fn saved_once_replaced_when_changed_and_removed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let fake = Fake::new();
            let mut cfg = NetConfig::default();
            assert!(save(&fake, "default", "p", &cfg).await.unwrap());
            assert!(
                !save(&fake, "default", "p", &cfg).await.unwrap(),
                "the same again: nothing"
            );
            cfg.bridges.push(crate::net::config::Bridge {
                bridge: "s".into(),
                mode: crate::net::config::BridgeMode::Linux,
            });
            assert!(save(&fake, "default", "p", &cfg).await.unwrap());
            assert!(load_all(&fake, Some("other")).await.unwrap().is_empty());
            let all = load_all(&fake, Some("default")).await.unwrap();
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].0, "p");
            assert_eq!(all[0].1.as_ref().unwrap(), &cfg);
            assert!(save(&fake, "other", "q", &NetConfig::default())
                .await
                .unwrap());
            assert_eq!(load(&fake, "p").await.unwrap().unwrap().unwrap(), cfg);
            assert_eq!(
                load(&fake, "q").await.unwrap().unwrap().unwrap(),
                NetConfig::default(),
                "a project of another registry namespace too"
            );
            assert!(load(&fake, "r").await.unwrap().is_none());
            assert!(remove(&fake, "p").await.unwrap());
            assert!(load(&fake, "p").await.unwrap().is_none());
            assert!(!remove(&fake, "p").await.unwrap());
            assert!(load_all(&fake, Some("default")).await.unwrap().is_empty());
        });
    }
}
