//! Label values are hostile input: every one is parsed into a type here before anything else
//! sees it, and refused with a message that names the label, shows the value (quoted,
//! shortened) and says exactly what is wrong. Nothing downstream handles a raw label string.

use std::fmt;
use std::time::Duration;

/// Why a value was refused (the label's name is added by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

/// A value as it may be shown in a message: quoted, control characters escaped, at most 60
/// characters (a 10 kB value is not echoed whole).
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = value.chars().take(MAX).collect::<String>();
    if value.chars().count() > MAX {
        out.push('…');
    }
    format!("{out:?}")
}

/// Names a character the way a reader can find it: `';'`, `U+0430 (not ASCII)`, `NUL`.
fn describe(c: char) -> String {
    match c {
        '\0' => "NUL".to_string(),
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        ' ' => "a space".to_string(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c if !c.is_ascii() => format!("{c:?} (U+{:04X}, not ASCII)", c as u32),
        c => format!("{c:?}"),
    }
}

/// A host name as routed: RFC 1123 labels (letters, digits, hyphens; 1 to 63 characters; no
/// hyphen at either end), at most 253 characters, lower case; `*.` as the first label makes
/// it a wildcard. Internationalized names are written in their `xn--` form: unicode is
/// refused (look-alike letters would route somewhere else than the reader thinks).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct Host(String);

impl Host {
    pub(crate) fn parse(s: &str) -> Result<Host, Invalid> {
        Host::parse_inner(s, true)
    }

    /// A name without wildcard (an alias, a backend host).
    pub(crate) fn parse_name(s: &str) -> Result<Host, Invalid> {
        Host::parse_inner(s, false)
    }

    fn parse_inner(s: &str, wildcard: bool) -> Result<Host, Invalid> {
        if s.is_empty() {
            return invalid("a host name cannot be empty");
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-.*".contains(*c)))
        {
            let idn = if c.is_ascii() {
                ""
            } else {
                "; write internationalized names in their xn-- form"
            };
            return invalid(format!(
                "{} is not allowed in a host name (RFC 1123: letters, digits, hyphens and \
                 dots{idn})",
                describe(c)
            ));
        }
        let lower = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        if lower.len() > 253 {
            return invalid(format!(
                "a host name has at most 253 characters, this one has {}",
                lower.len()
            ));
        }
        let labels: Vec<&str> = lower.split('.').collect();
        for (i, label) in labels.iter().enumerate() {
            if *label == "*" {
                if !wildcard {
                    return invalid("a wildcard is not allowed here");
                }
                if i != 0 || labels.len() < 2 {
                    return invalid(
                        "a wildcard is only allowed as the whole first label (`*.example.com`)",
                    );
                }
                continue;
            }
            if label.is_empty() {
                return invalid("a host name cannot have an empty label (`..` or a leading dot)");
            }
            if label.len() > 63 {
                return invalid(format!(
                    "the label {} has {} characters (at most 63)",
                    shown(label),
                    label.len()
                ));
            }
            if let Some(c) = label
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                return invalid(format!(
                    "{} is not allowed in a host name (RFC 1123: letters, digits, hyphens and \
                     dots)",
                    describe(c)
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return invalid(format!(
                    "the label {} starts or ends with a hyphen",
                    shown(label)
                ));
            }
        }
        Ok(Host(lower))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// Whether this host (exact or wildcard) answers for `name`.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        match self.0.strip_prefix('*') {
            Some(suffix) => name.ends_with(suffix) && name.len() > suffix.len(),
            None => self.0 == name,
        }
    }

    /// Whether it has a dot (an FQDN alias is used as the host as is).
    pub(crate) fn is_qualified(&self) -> bool {
        self.0.contains('.')
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A TCP port: decimal digits only, 1 to 65535 (no sign, no spaces, no range).
pub(crate) fn port(s: &str) -> Result<u16, Invalid> {
    if s.is_empty() {
        return invalid("a port cannot be empty");
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_digit()) {
        return invalid(format!(
            "{} is not allowed in a port (digits only, 1 to 65535)",
            describe(c)
        ));
    }
    match s.parse::<u32>() {
        Ok(n @ 1..=65535) if s.len() <= 5 => Ok(n as u16),
        _ => invalid("a port is a number from 1 to 65535"),
    }
}

/// `true|false|yes|no|on|off|1|0`, any case. Interlock read presence as true
/// (`interlock.ssl=false` enabled SSL); here a boolean is what it says.
pub(crate) fn boolean(s: &str) -> Result<bool, Invalid> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => invalid("a boolean is true or false (also yes/no, on/off, 1/0)"),
    }
}

/// A duration as Go writes them (`30s`, `1m30s`, `500ms`, `2h`) or bare seconds; at most a
/// day.
pub(crate) fn duration(s: &str) -> Result<Duration, Invalid> {
    const HINT: &str = "a duration is like 30s, 1m30s, 500ms or a number of seconds";
    if s.is_empty() {
        return invalid(HINT);
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return match s.parse::<u64>() {
            Ok(n) if n <= 86_400 => Ok(Duration::from_secs(n)),
            _ => invalid("a duration is at most a day (86400 s)"),
        };
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return invalid(HINT);
        }
        let n: u64 = rest[..digits].parse().map_err(|_| Invalid(HINT.into()))?;
        rest = &rest[digits..];
        let unit_len = rest.chars().take_while(|c| c.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return invalid(HINT),
        };
    }
    if total > Duration::from_secs(86_400) {
        return invalid("a duration is at most a day (86400 s)");
    }
    Ok(total)
}

/// How requests reach the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scheme {
    #[default]
    Http,
    Https,
    H2c,
    Tcp,
    Udp,
}

impl Scheme {
    pub(crate) fn parse(s: &str) -> Result<Scheme, Invalid> {
        match s {
            "http" => Ok(Scheme::Http),
            "https" => Ok(Scheme::Https),
            "h2c" => Ok(Scheme::H2c),
            "tcp" => Ok(Scheme::Tcp),
            "udp" => Ok(Scheme::Udp),
            "fileserver" => invalid(
                "scheme fileserver serves the proxy's own files: never from a container's label",
            ),
            _ => invalid("a scheme is one of http, https, h2c, tcp, udp"),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::H2c => "h2c",
            Scheme::Tcp => "tcp",
            Scheme::Udp => "udp",
        }
    }
}

/// How an upstream with several servers spreads requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Balance {
    #[default]
    RoundRobin,
    LeastConn,
    /// By client address (Interlock's `ip_hash`, haproxy's `source`).
    IpHash,
}

impl Balance {
    pub(crate) fn parse(s: &str) -> Result<Balance, Invalid> {
        match s.to_ascii_lowercase().as_str() {
            "roundrobin" | "round_robin" => Ok(Balance::RoundRobin),
            "leastconn" | "least_conn" => Ok(Balance::LeastConn),
            "source" | "ip_hash" | "iphash" => Ok(Balance::IpHash),
            _ => invalid("a balance algorithm is roundrobin, leastconn or ip_hash (source)"),
        }
    }
}

/// Characters a path may hold besides letters and digits (RFC 3986's unreserved characters
/// and a few sub-delimiters that are inert in nginx and haproxy).
const PATH_PUNCT: &str = "/-._~%@:+,=!";

/// A path prefix: absolute, no `..` or `.` segment, no whitespace, control characters,
/// quotes, braces, `;`, `#`, `$` or backslash; at most 1024 characters; a trailing slash is
/// dropped (`/api/` routes as `/api`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct PathPrefix(String);

impl PathPrefix {
    pub(crate) fn root() -> PathPrefix {
        PathPrefix("/".into())
    }

    pub(crate) fn parse(s: &str) -> Result<PathPrefix, Invalid> {
        if !s.starts_with('/') {
            return invalid("a path is absolute: it starts with /");
        }
        if s.len() > 1024 {
            return invalid(format!(
                "a path has at most 1024 characters, this one has {}",
                s.len()
            ));
        }
        if let Some((i, c)) = s
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || PATH_PUNCT.contains(*c)))
        {
            return invalid(format!(
                "{} at byte {i} is not allowed in a path (letters, digits and {PATH_PUNCT})",
                describe(c)
            ));
        }
        if s.split('/').any(|seg| seg == ".." || seg == ".") {
            return invalid("a path cannot have a `..` or `.` segment");
        }
        if s.contains("//") {
            return invalid("a path cannot have an empty segment (`//`)");
        }
        let trimmed = if s.len() > 1 {
            s.trim_end_matches('/')
        } else {
            s
        };
        Ok(PathPrefix(trimmed.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// Whether a request path falls under this prefix (segment-wise: `/api` takes `/api` and
    /// `/api/x`, never `/apix`).
    pub(crate) fn covers(&self, path: &str) -> bool {
        self.is_root()
            || path == self.0
            || path
                .strip_prefix(self.0.as_str())
                .is_some_and(|r| r.starts_with('/'))
    }
}

impl fmt::Display for PathPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A backend address override: an IPv4 address or a host name.
pub(crate) fn backend_host(s: &str) -> Result<String, Invalid> {
    if let Ok(ip) = s.parse::<std::net::Ipv4Addr>() {
        return Ok(ip.to_string());
    }
    Host::parse_name(s).map(|h| h.0)
}

/// A network name as docker accepts them: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128.
pub(crate) fn network_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A raw directive (`interlock.backend_option`, only with `--allow-raw-directives`): one
/// directive of printable ASCII that cannot open or close a block, end a statement, start a
/// comment or expand a variable.
pub(crate) fn raw_directive(s: &str) -> Result<String, Invalid> {
    if s.trim().is_empty() {
        return invalid("a directive cannot be empty");
    }
    if s.len() > 512 {
        return invalid("a directive has at most 512 characters");
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_graphic() || *c == ' ') || "{};#$\"'\\`".contains(*c))
    {
        return invalid(format!(
            "{} is not allowed in a raw directive (one directive, no block, comment, quote or \
             variable)",
            describe(c)
        ));
    }
    Ok(s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let ok = [
            ("example.com", "example.com"),
            ("Example.COM.", "example.com"),
            ("web", "web"),
            ("*.example.com", "*.example.com"),
            ("xn--80ak6aa92e.com", "xn--80ak6aa92e.com"),
            ("a-b.c", "a-b.c"),
        ];
        for (input, want) in ok {
            assert_eq!(
                Host::parse(input).map(|h| h.0),
                Ok(want.to_string()),
                "{input}"
            );
        }
        let bad = [
            ("", "cannot be empty"),
            ("a.com; } server {", "';' is not allowed"),
            ("a.com\nserver", "a newline is not allowed"),
            ("exаmple.com", "U+0430, not ASCII"),
            ("a..b", "empty label"),
            ("../etc", "'/' is not allowed"),
            ("-a.com", "starts or ends with a hyphen"),
            ("a.*.com", "only allowed as the whole first label"),
            ("*", "only allowed as the whole first label"),
            ("a\0b", "NUL is not allowed"),
            ("$host", "'$' is not allowed"),
            ("a#b", "'#' is not allowed"),
        ];
        for (input, want) in bad {
            let err = Host::parse(input).expect_err(input).0;
            assert!(err.contains(want), "{input:?}: {err}");
        }
        let long = "a".repeat(64);
        assert!(Host::parse(&long).unwrap_err().0.contains("at most 63"));
        let huge = "a.".repeat(5000) + "com";
        assert!(Host::parse(&huge).unwrap_err().0.contains("at most 253"));
        assert!(Host::parse_name("*.a.com")
            .unwrap_err()
            .0
            .contains("wildcard"));
    }

    #[test]
    fn host_matching() {
        let w = Host::parse("*.example.com").unwrap();
        assert!(w.matches("a.example.com"));
        assert!(w.matches("A.b.Example.com"));
        assert!(!w.matches("example.com"));
        assert!(!w.matches("aexample.com"));
        assert!(Host::parse("web").unwrap().matches("WEB"));
    }

    #[test]
    fn ports() {
        assert_eq!(port("80"), Ok(80));
        assert_eq!(port("65535"), Ok(65535));
        for (input, want) in [
            ("0", "1 to 65535"),
            ("65536", "1 to 65535"),
            ("-1", "'-' is not allowed"),
            (" 80", "a space is not allowed"),
            ("80a", "'a' is not allowed"),
            ("8080-8090", "'-' is not allowed"),
            ("", "cannot be empty"),
            ("000000080", "1 to 65535"),
        ] {
            let err = port(input).expect_err(input).0;
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn booleans_are_what_they_say() {
        for (input, want) in [
            ("true", true),
            ("FALSE", false),
            ("0", false),
            ("yes", true),
        ] {
            assert_eq!(boolean(input), Ok(want));
        }
        assert!(boolean("").is_err());
        assert!(boolean("maybe").is_err());
    }

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        for (input, want) in [
            ("30", ms(30_000)),
            ("30s", ms(30_000)),
            ("1m30s", ms(90_000)),
            ("500ms", ms(500)),
            ("2h", ms(7_200_000)),
        ] {
            assert_eq!(duration(input), Ok(want), "{input}");
        }
        for input in ["", "s", "10x", "1.5s", "-1s", "48h", "1 s"] {
            assert!(duration(input).is_err(), "{input}");
        }
    }

    #[test]
    fn schemes_and_balance() {
        assert_eq!(Scheme::parse("h2c"), Ok(Scheme::H2c));
        assert!(Scheme::parse("fileserver").unwrap_err().0.contains("never"));
        assert!(Scheme::parse("HTTP").is_err());
        assert_eq!(Balance::parse("least_conn"), Ok(Balance::LeastConn));
        assert_eq!(Balance::parse("source"), Ok(Balance::IpHash));
        assert!(Balance::parse("random").is_err());
    }

    #[test]
    fn paths() {
        for (input, want) in [
            ("/", "/"),
            ("/api/", "/api"),
            ("/a/b-c_d.e~f", "/a/b-c_d.e~f"),
        ] {
            assert_eq!(PathPrefix::parse(input).map(|p| p.0), Ok(want.to_string()));
        }
        for (input, want) in [
            ("api", "absolute"),
            ("/a/../b", "`..`"),
            ("/a/./b", "`..` or `.`"),
            ("/a b", "a space"),
            ("/a\tb", "a tab"),
            ("/a;b", "';' at byte 2"),
            ("/a{", "'{'"),
            ("/$uri", "'$'"),
            ("/a#b", "'#'"),
            ("/a\"b", "'\"'"),
            ("/a//b", "empty segment"),
            ("/é", "not ASCII"),
        ] {
            let err = PathPrefix::parse(input).expect_err(input).0;
            assert!(err.contains(want), "{input:?}: {err}");
        }
        let p = PathPrefix::parse("/api").unwrap();
        assert!(p.covers("/api") && p.covers("/api/x") && !p.covers("/apix"));
        assert!(PathPrefix::root().covers("/anything"));
    }

    #[test]
    fn raw_directives_stay_one_directive() {
        assert_eq!(
            raw_directive(" option forwardfor "),
            Ok("option forwardfor".into())
        );
        for input in ["a; b", "a } b", "a # b", "a\nb", "$x", "", "a\"b"] {
            assert!(raw_directive(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn shown_values_are_short_and_escaped() {
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert!(shown(&"x".repeat(10_000)).len() < 70);
    }
}
