//! The command line of `docker link run`/`create`: every `docker run` flag passes through
//! untouched; this module only finds ours (`--link NAME:ALIAS`, the 2013 `-link`/`-name`,
//! `--link-env`, `--init`), the few of docker's it must know (`-d`, `-i`, `-t`, `--name`,
//! `--network`, `-e`, `--env-file`, `--entrypoint`), and where the image starts.

use std::ffi::OsString;

use super::env::Algorithm;

/// `docker run` flags that take no value; every other flag takes one. Kept to the docker
/// CLI's list: a flag missing here would swallow the image name as its value.
const BOOL_LONG: &[&str] = &[
    "detach",
    "interactive",
    "tty",
    "rm",
    "privileged",
    "publish-all",
    "read-only",
    "init",
    "no-healthcheck",
    "oom-kill-disable",
    "sig-proxy",
    "disable-content-trust",
    "quiet",
    "help",
    "use-api-socket",
];
const BOOL_SHORT: &[char] = &['d', 'i', 't', 'P', 'q'];

/// Flags `docker run` has and `docker create` has not; we act on them ourselves.
const RUN_ONLY: &[&str] = &["detach", "sig-proxy", "detach-keys"];

/// One `--link NAME:ALIAS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    /// The child: a graph path, docker name or id prefix.
    pub target: String,
    pub alias: String,
}

impl std::str::FromStr for LinkSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<LinkSpec, String> {
        // `frontend/redis:cache` is a path with an alias; the alias is after the last colon.
        let (target, alias) = match s.rsplit_once(':') {
            Some((t, a)) => (t, a),
            None => (s, s.rsplit('/').next().unwrap_or(s)),
        };
        let target = target.trim();
        if target.is_empty() || alias.is_empty() {
            return Err(format!("invalid link {s:?}: expected NAME:ALIAS"));
        }
        Ok(LinkSpec {
            target: target.to_string(),
            alias: alias.trim_start_matches('/').to_string(),
        })
    }
}

/// What we learned from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunArgs {
    pub links: Vec<LinkSpec>,
    pub link_env: Algorithm,
    /// `--init`: our own init goes into the container (not the daemon's `docker-init`).
    pub init: bool,
    pub detach: bool,
    pub interactive: bool,
    pub tty: bool,
    pub name: Option<String>,
    pub network: Option<String>,
    pub entrypoint: Option<String>,
    /// The user's `-e` entries (`K=V` or `K`), which win over link variables.
    pub env: Vec<String>,
    pub env_files: Vec<String>,
    /// `docker create` flags, as given minus ours and the run-only ones.
    pub flags: Vec<OsString>,
    pub image: String,
    /// The command after the image.
    pub command: Vec<OsString>,
    /// `--help` was asked for.
    pub help: bool,
}

fn lossy(s: &OsString) -> String {
    s.to_string_lossy().into_owned()
}

/// Parses the arguments after `docker link run`.
pub fn parse(args: &[OsString]) -> Result<RunArgs, String> {
    let mut out = RunArgs::default();
    let mut i = 0;
    while i < args.len() {
        let arg = lossy(&args[i]);
        i += 1;
        if arg == "--" {
            break_at_image(&mut out, args, i)?;
            return Ok(out);
        }
        if !arg.starts_with('-') || arg == "-" {
            break_at_image(&mut out, args, i - 1)?;
            return Ok(out);
        }
        // Our flags, in both the modern and the 2013 single-dash spellings.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let value = |i: &mut usize| -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            let v = args
                .get(*i)
                .map(lossy)
                .ok_or_else(|| format!("flag needs an argument: {flag}"))?;
            *i += 1;
            Ok(v)
        };
        match flag.as_str() {
            "--link" | "-link" => {
                out.links.push(value(&mut i)?.parse()?);
                continue;
            }
            "--link-env" => {
                out.link_env = value(&mut i)?.parse().map_err(|e| format!("{e}"))?;
                continue;
            }
            "-name" => {
                let v = value(&mut i)?;
                out.name = Some(v.clone());
                out.flags.push("--name".into());
                out.flags.push(v.into());
                continue;
            }
            "--init" if inline.is_none() => {
                out.init = true;
                continue;
            }
            _ => {}
        }
        if let Some(long) = flag.strip_prefix("--") {
            if long == "help" {
                out.help = true;
                continue;
            }
            let takes = !BOOL_LONG.contains(&long);
            let v = if takes {
                Some(value(&mut i)?)
            } else {
                inline.clone()
            };
            match long {
                "detach" => out.detach = v.as_deref().is_none_or(|v| v != "false"),
                "interactive" => out.interactive = v.as_deref().is_none_or(|v| v != "false"),
                "tty" => out.tty = v.as_deref().is_none_or(|v| v != "false"),
                "name" => out.name = v.clone(),
                "network" | "net" => out.network = v.clone(),
                "env" => out.env.extend(v.clone()),
                "env-file" => out.env_files.extend(v.clone()),
                "entrypoint" => out.entrypoint = v.clone(),
                _ => {}
            }
            if RUN_ONLY.contains(&long) {
                continue;
            }
            match (takes, inline.is_some()) {
                (true, false) => {
                    out.flags.push(flag.clone().into());
                    out.flags.push(v.unwrap_or_default().into());
                }
                _ => out.flags.push(arg.clone().into()),
            }
            continue;
        }
        // Short flags, possibly grouped (`-it`, `-dp 80:80`, `-eK=V`).
        let shorts: Vec<char> = arg[1..].chars().collect();
        let mut bools = String::new();
        let mut valued = None;
        for (j, &c) in shorts.iter().enumerate() {
            if BOOL_SHORT.contains(&c) {
                match c {
                    'd' => out.detach = true,
                    'i' => out.interactive = true,
                    't' => out.tty = true,
                    _ => {}
                }
                if c != 'd' {
                    bools.push(c);
                }
                continue;
            }
            // A valued short flag takes the rest of the group, or the next argument.
            let rest: String = shorts[j + 1..].iter().collect();
            let rest = rest.strip_prefix('=').unwrap_or(&rest).to_string();
            let v = if rest.is_empty() {
                let v = args
                    .get(i)
                    .map(lossy)
                    .ok_or_else(|| format!("flag needs an argument: -{c}"))?;
                i += 1;
                v
            } else {
                rest
            };
            valued = Some((c, v));
            break;
        }
        if !bools.is_empty() {
            out.flags.push(format!("-{bools}").into());
        }
        if let Some((c, v)) = valued {
            if c == 'e' {
                out.env.push(v.clone());
            }
            out.flags.push(format!("-{c}").into());
            out.flags.push(v.into());
        }
    }
    if !out.help {
        return Err("requires at least 1 argument: an image".to_string());
    }
    Ok(out)
}

fn break_at_image(out: &mut RunArgs, args: &[OsString], at: usize) -> Result<(), String> {
    let Some(image) = args.get(at) else {
        if out.help {
            return Ok(());
        }
        return Err("requires at least 1 argument: an image".to_string());
    };
    out.image = lossy(image);
    out.command = args[at + 1..].to_vec();
    Ok(())
}

/// The arguments minus docker-link's own flags, everything else untouched (for a plain
/// `docker run` when no link is asked for); `-name` becomes `--name`.
pub fn without_ours(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = lossy(&args[i]);
        i += 1;
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            out.extend(args[i - 1..].iter().cloned());
            break;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, _)) => (f, true),
            None => (arg.as_str(), false),
        };
        let takes_next = !inline
            && match flag.strip_prefix("--") {
                Some(long) => !BOOL_LONG.contains(&long) && long != "link-env",
                // A short group takes the next argument when it ends in a valued flag.
                None => flag[1..]
                    .chars()
                    .position(|c| !BOOL_SHORT.contains(&c))
                    .is_some_and(|p| p == flag.len() - 2),
            };
        match flag {
            "--link-env" | "--link" | "-link" => i += usize::from(!inline),
            "-name" => {
                out.push(arg.replacen("-name", "--name", 1).into());
                if !inline {
                    out.extend(args.get(i).cloned());
                    i += 1;
                }
            }
            _ => {
                out.push(args[i - 1].clone());
                if takes_next {
                    out.extend(args.get(i).cloned());
                    i += 1;
                }
            }
        }
    }
    out
}

/// The key of an env entry: `K=V` → `K`, `K` → `K`.
pub fn env_key(entry: &str) -> &str {
    entry.split_once('=').map(|(k, _)| k).unwrap_or(entry)
}

/// The keys an env file sets, as the docker CLI reads it (comments and blank lines skipped).
pub fn env_file_keys(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| env_key(l).trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn strs(v: &[OsString]) -> Vec<String> {
        v.iter().map(lossy).collect()
    }

    #[test]
    fn flags_pass_through_and_ours_are_taken() {
        // (arguments, flags for docker create, image, command)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a str, &'a [&'a str]);
        let cases: &[Case] = &[
            (
                &["-d", "--name", "web", "--link", "db1:redis", "img"],
                &["--name", "web"],
                "img",
                &[],
            ),
            (
                &[
                    "-it",
                    "--rm",
                    "-p",
                    "80:80",
                    "-link",
                    "db1:redis",
                    "-name",
                    "web",
                    "img",
                    "sh",
                    "-c",
                    "x",
                ],
                &["-it", "--rm", "-p", "80:80", "--name", "web"],
                "img",
                &["sh", "-c", "x"],
            ),
            (
                &[
                    "-dit",
                    "-eA=1",
                    "--env=B=2",
                    "--link=a:b",
                    "img",
                    "--link",
                    "x",
                ],
                &["-it", "-e", "A=1", "--env=B=2"],
                "img",
                &["--link", "x"],
            ),
            (
                &[
                    "--sig-proxy=false",
                    "--detach-keys",
                    "ctrl-x",
                    "--network",
                    "n1",
                    "img",
                ],
                &["--network", "n1"],
                "img",
                &[],
            ),
            (&["-dp", "8080:80", "img"], &["-p", "8080:80"], "img", &[]),
            (&["--", "img", "-d"], &[], "img", &["-d"]),
        ];
        for (args, flags, image, command) in cases {
            let got = parse(&os(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(strs(&got.flags), *flags, "{args:?}");
            assert_eq!(got.image, *image, "{args:?}");
            assert_eq!(strs(&got.command), *command, "{args:?}");
        }
    }

    #[test]
    fn what_we_learn() {
        let got = parse(&os(&[
            "-dit",
            "-e",
            "X=1",
            "-eY",
            "--env-file",
            "f",
            "--name=web",
            "--net",
            "n",
            "--link",
            "db1:redis",
            "--link",
            "cache",
            "--link-env",
            "v27",
            "--init",
            "--entrypoint",
            "/e",
            "img",
        ]))
        .unwrap();
        assert!(got.detach && got.interactive && got.tty && got.init);
        assert_eq!(got.name.as_deref(), Some("web"));
        assert_eq!(got.network.as_deref(), Some("n"));
        assert_eq!(got.entrypoint.as_deref(), Some("/e"));
        assert_eq!(got.env, ["X=1", "Y"]);
        assert_eq!(got.env_files, ["f"]);
        assert_eq!(got.link_env, Algorithm::V27);
        assert_eq!(
            got.links,
            [
                LinkSpec {
                    target: "db1".into(),
                    alias: "redis".into()
                },
                LinkSpec {
                    target: "cache".into(),
                    alias: "cache".into()
                },
            ]
        );
    }

    #[test]
    fn bad_input() {
        for args in [
            &["--link"][..],
            &["-d"],
            &["--link", ":x", "img"],
            &["--link", "x:", "img"],
            &["--link-env", "v1", "img"],
        ] {
            assert!(parse(&os(args)).is_err(), "{args:?}");
        }
        assert!(parse(&os(&["--help"])).unwrap().help);
    }

    #[test]
    fn link_specs() {
        let s: LinkSpec = "frontend/redis:cache".parse().unwrap();
        assert_eq!(
            (s.target.as_str(), s.alias.as_str()),
            ("frontend/redis", "cache")
        );
        let s: LinkSpec = "frontend/redis".parse().unwrap();
        assert_eq!(s.alias, "redis");
    }

    #[test]
    fn plain_runs_lose_only_our_flags() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                &[
                    "-name",
                    "x",
                    "--link-env",
                    "v27",
                    "--link-env=v28",
                    "-d",
                    "img",
                    "-name",
                ],
                &["--name", "x", "-d", "img", "-name"],
            ),
            (
                &[
                    "-p",
                    "80:80",
                    "--link-env",
                    "v27",
                    "-it",
                    "-e",
                    "A",
                    "img",
                    "--link-env",
                    "x",
                ],
                &["-p", "80:80", "-it", "-e", "A", "img", "--link-env", "x"],
            ),
            (
                &["-dp", "1:1", "-name=n", "img"],
                &["-dp", "1:1", "--name=n", "img"],
            ),
        ];
        for (args, want) in cases {
            let got: Vec<String> = without_ours(&os(args)).iter().map(lossy).collect();
            assert_eq!(got, *want, "{args:?}");
        }
    }

    #[test]
    fn env_keys() {
        assert_eq!(env_key("A=1=2"), "A");
        assert_eq!(env_key("B"), "B");
        assert_eq!(env_file_keys("# c\n\nA=1\n B=2\nC\n"), ["A", "B", "C"]);
    }
}
