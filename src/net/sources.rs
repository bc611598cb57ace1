//! Where the configuration comes from, found as compose finds it: `-f` files, else
//! `$COMPOSE_FILE` (`:`-separated, or `$COMPOSE_PATH_SEPARATOR`), else `compose.yaml` (or
//! `compose.yml`, `docker-compose.yaml`, `docker-compose.yml`) in the current directory or
//! the nearest parent, with its `*.override.*` file; network files as given (`:`-separated
//! lists too, as conlink takes them). The project name as compose picks it: `--project`,
//! `$COMPOSE_PROJECT_NAME`, the files' `name:`, the project directory's name. The variables:
//! the environment, then the project directory's `.env` for what it leaves unset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

use super::config::{Source, SourceKind};
use super::interp::Env;

/// What the command was given.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inputs {
    pub(crate) compose_files: Vec<PathBuf>,
    pub(crate) network_files: Vec<PathBuf>,
    pub(crate) project: Option<String>,
}

/// The sources of one project, read.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) name: String,
    /// The project directory (compose's working dir label), when there are compose files.
    #[allow(dead_code)] // read by the realization (`up`), next
    pub(crate) working_dir: Option<PathBuf>,
    #[allow(dead_code)] // read by the realization (`up`), next
    pub(crate) compose_files: Vec<PathBuf>,
    pub(crate) sources: Vec<Source>,
    /// Every compose service's replica count (`scale`, `deploy.replicas`; 1 by default).
    pub(crate) scales: BTreeMap<String, u32>,
    pub(crate) env: Env,
}

const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// The compose files compose would read.
fn compose_files(inputs: &Inputs, cwd: &Path, env: &Env) -> Vec<PathBuf> {
    if !inputs.compose_files.is_empty() {
        return inputs.compose_files.iter().map(|f| cwd.join(f)).collect();
    }
    if let Some(list) = env.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .unwrap_or(":");
        return list
            .split(sep)
            .filter(|f| !f.is_empty())
            .map(|f| cwd.join(f))
            .collect();
    }
    for dir in cwd.ancestors() {
        if let Some(main) = DEFAULT_FILES
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
        {
            let mut files = vec![main];
            if let Some(o) = OVERRIDE_FILES
                .iter()
                .map(|f| dir.join(f))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return files;
        }
    }
    Vec::new()
}

/// compose's normalisation of a project name: lower case, `[a-z0-9_-]`, starting with a
/// letter or digit.
pub(crate) fn normalize_project(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(['_', '-']).to_string()
}

/// `KEY=VALUE` lines of a `.env` file: comments, `export `, quotes.
pub(crate) fn parse_dotenv(text: &str) -> Env {
    let mut env = Env::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')))
        {
            v[1..v.len() - 1].to_string()
        } else {
            // An unquoted value ends at ` #`.
            v.split(" #").next().unwrap_or("").trim_end().to_string()
        };
        env.insert(k.trim().to_string(), v);
    }
    env
}

fn read_document(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    super::config::parse_document(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn replicas(svc: &Value, env: &Env) -> u32 {
    let get = |v: Option<&Value>| -> Option<u32> {
        match v? {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => super::interp::interpolate(s, env)
                .ok()
                .and_then(|i| i.value.trim().parse().ok()),
            _ => None,
        }
    };
    get(svc.get("deploy").and_then(|d| d.get("replicas")))
        .or_else(|| get(svc.get("scale")))
        .unwrap_or(1)
}

/// Finds and reads the sources. `env`: the process environment (read once by the command).
pub(crate) fn discover(inputs: &Inputs, cwd: &Path, env: &Env) -> anyhow::Result<Project> {
    let compose = compose_files(inputs, cwd, env);
    let mut network: Vec<PathBuf> = Vec::new();
    for f in &inputs.network_files {
        for part in f.to_string_lossy().split(':').filter(|p| !p.is_empty()) {
            network.push(cwd.join(part));
        }
    }
    if compose.is_empty() && network.is_empty() {
        anyhow::bail!(
            "no configuration found: no compose.yaml (or docker-compose.yml) in {} or its parents, no $COMPOSE_FILE, and no --network-file",
            cwd.display()
        );
    }
    let working_dir = compose
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf);
    // The environment wins over .env, as in compose.
    let mut vars = match &working_dir {
        Some(dir) => match std::fs::read_to_string(dir.join(".env")) {
            Ok(text) => parse_dotenv(&text),
            Err(_) => Env::new(),
        },
        None => Env::new(),
    };
    vars.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));

    let mut sources = Vec::new();
    let mut scales = BTreeMap::new();
    let mut named = None;
    for path in &compose {
        let value = read_document(path)?;
        if let Some(n) = value.get("name").and_then(Value::as_str) {
            named = Some(n.to_string());
        }
        if let Some(services) = value.get("services").and_then(Value::as_object) {
            for (name, svc) in services {
                scales.insert(name.clone(), replicas(svc, &vars));
            }
        }
        sources.push(Source {
            name: display(path, cwd),
            kind: SourceKind::Compose,
            value,
        });
    }
    for path in &network {
        sources.push(Source {
            name: display(path, cwd),
            kind: SourceKind::NetworkFile,
            value: read_document(path)?,
        });
    }
    let raw = inputs
        .project
        .clone()
        .or_else(|| {
            vars.get("COMPOSE_PROJECT_NAME")
                .filter(|v| !v.is_empty())
                .cloned()
        })
        .or(named)
        .or_else(|| {
            working_dir
                .as_deref()
                .unwrap_or(cwd)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let name = normalize_project(&raw);
    if name.is_empty() {
        anyhow::bail!(
            "{raw:?} is not a valid project name (lower-case letters, digits, '-' and '_'); give one with --project"
        );
    }
    Ok(Project {
        name,
        working_dir,
        compose_files: compose,
        sources,
        scales,
        env: vars,
    })
}

/// A path as messages show it: relative to the current directory when inside it.
fn display(path: &Path, cwd: &Path) -> String {
    path.strip_prefix(cwd).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_as_compose() {
        for (raw, want) in [
            ("My App", "myapp"),
            ("_x-Y_1", "x-y_1"),
            ("web.site", "website"),
            ("!!", ""),
        ] {
            assert_eq!(normalize_project(raw), want, "{raw}");
        }
    }

    #[test]
    fn dotenv_lines() {
        let env = parse_dotenv(
            "# comment\nA=1\nexport B = two\nC=\"quoted # not a comment\"\nD='x'\nE=v # comment\nbad line\n",
        );
        let want: Env = [
            ("A", "1"),
            ("B", "two"),
            ("C", "quoted # not a comment"),
            ("D", "x"),
            ("E", "v"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(env, want);
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dl-net-src-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn found_as_compose_finds_them() {
        let d = tmp("find");
        std::fs::write(
            d.join("compose.yaml"),
            "services:\n  web:\n    image: x\n    scale: 3\n  db:\n    image: y\n    deploy: {replicas: \"${N}\"}\n",
        )
        .unwrap();
        std::fs::write(
            d.join("compose.override.yaml"),
            "name: Over\nservices: {}\n",
        )
        .unwrap();
        std::fs::write(d.join(".env"), "N=2\nCOMPOSE_PROJECT_NAME=fromdotenv\n").unwrap();
        let sub = d.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        let env = Env::new();
        let p = discover(&Inputs::default(), &sub, &env).unwrap();
        assert_eq!(
            p.compose_files,
            vec![d.join("compose.yaml"), d.join("compose.override.yaml")]
        );
        assert_eq!(
            p.name, "fromdotenv",
            ".env's COMPOSE_PROJECT_NAME over name:"
        );
        assert_eq!(p.scales.get("web"), Some(&3));
        assert_eq!(p.scales.get("db"), Some(&2), "interpolated from .env");
        let env: Env = [("COMPOSE_PROJECT_NAME".to_string(), "fromenv".to_string())].into();
        assert_eq!(
            discover(&Inputs::default(), &sub, &env).unwrap().name,
            "fromenv"
        );
        let given = Inputs {
            project: Some("Given".into()),
            ..Default::default()
        };
        assert_eq!(discover(&given, &sub, &env).unwrap().name, "given");
        std::fs::remove_file(d.join(".env")).unwrap();
        assert_eq!(
            discover(&Inputs::default(), &sub, &Env::new())
                .unwrap()
                .name,
            "over"
        );

        let empty = tmp("none");
        let err = discover(&Inputs::default(), &empty, &Env::new()).unwrap_err();
        assert!(
            err.to_string().starts_with("no configuration found"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&empty);
    }
}
