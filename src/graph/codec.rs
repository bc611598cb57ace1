//! The registry's label, compact. The graph label is returned by every container listing on
//! the daemon, anyone's `docker ps` included, so its size is a cost to everyone: each
//! container id is written once (edges refer to it by index), and the JSON is deflated and
//! base64-encoded (`z2:<base64>`). Schema 1 (the plain JSON of the first version) is still
//! read, so an older registry upgrades on its next write.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use super::model::{Edge, GraphError, Stored, ROOT, SCHEMA};

/// Prefix of the compact form.
const COMPACT: &str = "z2:";
/// Results of intents are kept this long (daemon seconds) so a waiting writer finds its own.
pub const RESULT_TTL: i64 = 300;
/// And at most this many.
const MAX_RESULTS: usize = 4096;

/// What happened to one intent (a write handed to whoever makes the next generation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// The intent's name.
    pub intent: String,
    /// When it was applied, on the daemon's clock.
    pub at: i64,
    /// None when it was applied; else why it was refused.
    pub error: Option<String>,
}

/// What one registry generation holds: the graph, and the recent outcomes of intents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    pub stored: Stored,
    pub outcomes: Vec<Outcome>,
}

impl Payload {
    /// Drops outcomes older than [`RESULT_TTL`] at `now`, and the oldest beyond the cap.
    pub fn expire(&mut self, now: i64) {
        self.outcomes.retain(|o| now - o.at <= RESULT_TTL);
        if self.outcomes.len() > MAX_RESULTS {
            let cut = self.outcomes.len() - MAX_RESULTS;
            self.outcomes.drain(..cut);
        }
    }

    pub fn outcome(&self, intent: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.intent == intent)
    }
}

/// The compact JSON inside the deflate: ids once, edges as `[parent, name, child]` where
/// parent is 0 for the root and index + 1 otherwise.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Compact {
    schema: u32,
    ids: Vec<String>,
    edges: Vec<(usize, String, usize)>,
    #[serde(default)]
    removed: Vec<(usize, String, usize)>,
    #[serde(default)]
    outcomes: Vec<(String, i64, Option<String>)>,
}

pub fn encode(p: &Payload) -> String {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let all = p.stored.edges.iter().chain(&p.stored.removed);
    for e in all {
        for id in [e.parent.as_str(), e.child.as_str()] {
            if id != ROOT {
                let n = index.len();
                index.entry(id).or_insert(n);
            }
        }
    }
    let mut ids = vec![String::new(); index.len()];
    for (id, n) in &index {
        ids[*n] = id.to_string();
    }
    let slot = |id: &str| if id == ROOT { 0 } else { index[id] + 1 };
    let triple = |e: &Edge| (slot(&e.parent), e.name.clone(), slot(&e.child));
    let compact = Compact {
        schema: SCHEMA,
        ids,
        edges: p.stored.edges.iter().map(triple).collect(),
        removed: p.stored.removed.iter().map(triple).collect(),
        outcomes: p
            .outcomes
            .iter()
            .map(|o| (o.intent.clone(), o.at, o.error.clone()))
            .collect(),
    };
    // Serialising plain data to a Vec cannot fail; deflating into a Vec cannot either.
    let json = serde_json::to_vec(&compact).unwrap_or_default();
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = z.write_all(&json);
    let bytes = z.finish().unwrap_or_default();
    format!("{COMPACT}{}", base64_encode(&bytes))
}

pub fn decode(label: &str) -> Result<Payload, GraphError> {
    let Some(b64) = label.strip_prefix(COMPACT) else {
        // Schema 1: the plain JSON of `Stored`.
        return Ok(Payload {
            stored: Stored::parse(label)?,
            outcomes: Vec::new(),
        });
    };
    let bad = |why: String| GraphError::Schema(format!("the registry's graph is damaged: {why}"));
    let bytes = base64_decode(b64).ok_or_else(|| bad("not base64".into()))?;
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(&bytes[..])
        .read_to_end(&mut json)
        .map_err(|e| bad(e.to_string()))?;
    #[derive(serde::Deserialize)]
    struct Head {
        schema: Option<u32>,
    }
    let head: Head = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
    match head.schema {
        Some(SCHEMA) => {}
        Some(v) if v > SCHEMA => {
            return Err(GraphError::Schema(format!(
                "the registry was written by a newer docker-link (schema {v}; this one reads {SCHEMA}): upgrade docker-link"
            )))
        }
        other => return Err(bad(format!("unknown schema {other:?}"))),
    }
    let c: Compact = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
    let id = |n: usize| -> Result<String, GraphError> {
        match n {
            0 => Ok(ROOT.to_string()),
            n => c
                .ids
                .get(n - 1)
                .cloned()
                .ok_or_else(|| bad(format!("edge refers to id #{n} of {}", c.ids.len()))),
        }
    };
    let edge = |(p, name, ch): &(usize, String, usize)| -> Result<Edge, GraphError> {
        Ok(Edge {
            parent: id(*p)?,
            name: name.clone(),
            child: id(*ch)?,
        })
    };
    let mut stored = Stored::new();
    for e in &c.edges {
        stored.edges.insert(edge(e)?);
    }
    for e in &c.removed {
        stored.removed.insert(edge(e)?);
    }
    Ok(Payload {
        stored,
        outcomes: c
            .outcomes
            .into_iter()
            .map(|(intent, at, error)| Outcome { intent, at, error })
            .collect(),
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> String {
        format!("{n:064x}")
    }

    fn sample(edges: usize) -> Payload {
        let mut p = Payload {
            stored: Stored::new(),
            ..Default::default()
        };
        for i in 0..edges {
            let parent = if i % 2 == 0 {
                ROOT.to_string()
            } else {
                id(i / 10)
            };
            p.stored.edges.insert(Edge {
                parent,
                name: format!("name{i}"),
                child: id(i % 1000 + 1),
            });
        }
        p.stored.removed.insert(Edge {
            parent: id(1),
            name: "gone".into(),
            child: id(2),
        });
        p.outcomes.push(Outcome {
            intent: "docker-link-intent-x".into(),
            at: 5,
            error: Some("taken".into()),
        });
        p
    }

    #[test]
    fn round_trips() {
        for n in [0, 1, 7, 500] {
            let p = sample(n);
            assert_eq!(decode(&encode(&p)), Ok(p), "{n} edges");
        }
    }

    #[test]
    fn reads_schema_1() {
        let mut s = Stored::new();
        s.edges.insert(Edge {
            parent: ROOT.into(),
            name: "db1".into(),
            child: id(3),
        });
        let p = decode(&s.to_json()).unwrap();
        assert_eq!(p.stored, s);
        assert!(p.outcomes.is_empty());
    }

    #[test]
    fn is_compact() {
        // 2,000 names and links over 1,000 containers: the first version wrote 218 KB.
        let label = encode(&sample(2000));
        assert!(label.len() < 80_000, "{} bytes", label.len());
    }

    #[test]
    fn damage_is_reported() {
        for bad in ["z2:!!!", "z2:AAAA", "nope"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn outcomes_expire() {
        let mut p = sample(1);
        p.outcomes.push(Outcome {
            intent: "new".into(),
            at: 1000,
            error: None,
        });
        p.expire(1000);
        assert_eq!(p.outcomes.len(), 1);
        assert!(p.outcome("new").is_some());
    }
}
