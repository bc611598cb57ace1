//! Environment interpolation of configuration strings, as compose does it: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `$$` for a literal `$`; defaults and alternatives are interpolated in turn
//! (`${A:-${B}}`). An unset variable without a default is empty, and reported as a warning.

use std::collections::BTreeMap;

/// The variables, as read once by the command (the process environment, then compose's
/// `.env` file for what the environment does not set).
pub(crate) type Env = BTreeMap<String, String>;

/// What interpolation of one string gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Interpolated {
    pub(crate) value: String,
    /// Unset variables used without a default.
    pub(crate) unset: Vec<String>,
}

/// Interpolates `s`; an error for a malformed expression or a `${VAR?err}` whose variable is
/// missing.
pub(crate) fn interpolate(s: &str, env: &Env) -> Result<Interpolated, String> {
    let mut out = Interpolated::default();
    out.value = expand(s, env, &mut out.unset)?;
    Ok(out)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn expand(s: &str, env: &Env, unset: &mut Vec<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                // Find the matching brace (nested expressions in defaults).
                let mut depth = 0;
                let mut end = None;
                for (j, ch) in chars.iter().enumerate().skip(i + 1) {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or_else(|| format!("unclosed \"${{\" in {s:?}"))?;
                let body: String = chars[i + 2..end].iter().collect();
                out.push_str(&braced(&body, s, env, unset)?);
                i = end + 1;
            }
            Some(&n) if is_name_start(n) => {
                let mut j = i + 1;
                while j < chars.len() && is_name(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match env.get(&name) {
                    Some(v) => out.push_str(v),
                    None => unset.push(name),
                }
                i = j;
            }
            _ => {
                return Err(format!(
                    "invalid interpolation in {s:?}: a lone \"$\" (write \"$$\" for a dollar sign)"
                ))
            }
        }
    }
    Ok(out)
}

fn braced(body: &str, whole: &str, env: &Env, unset: &mut Vec<String>) -> Result<String, String> {
    let name_len = body
        .char_indices()
        .find(|(_, c)| !is_name(*c))
        .map_or(body.len(), |(i, _)| i);
    let name = &body[..name_len];
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(format!(
            "invalid interpolation \"${{{body}}}\" in {whole:?}"
        ));
    }
    let rest = &body[name_len..];
    let value = env.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let (op, arg) = if rest.is_empty() {
        ("", "")
    } else if let Some(op) = [":-", ":?", ":+"].into_iter().find(|o| rest.starts_with(o)) {
        (op, &rest[2..])
    } else if let Some(op) = ["-", "?", "+"].into_iter().find(|o| rest.starts_with(o)) {
        (op, &rest[1..])
    } else {
        return Err(format!(
            "invalid interpolation \"${{{body}}}\" in {whole:?}"
        ));
    };
    Ok(match op {
        "" => match value {
            Some(v) => v.clone(),
            None => {
                unset.push(name.to_string());
                String::new()
            }
        },
        ":-" if set_nonempty => value.cloned().unwrap_or_default(),
        ":-" => expand(arg, env, unset)?,
        "-" => match value {
            Some(v) => v.clone(),
            None => expand(arg, env, unset)?,
        },
        ":?" if set_nonempty => value.cloned().unwrap_or_default(),
        "?" if value.is_some() => value.cloned().unwrap_or_default(),
        ":?" | "?" => {
            let msg = expand(arg, env, unset)?;
            return Err(if msg.is_empty() {
                format!("required variable {name} is missing a value")
            } else {
                format!("required variable {name} is missing a value: {msg}")
            });
        }
        ":+" if set_nonempty => expand(arg, env, unset)?,
        "+" if value.is_some() => expand(arg, env, unset)?,
        _ => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_forms() {
        let env: Env = [("A", "1"), ("E", ""), ("NET", "10.0")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let table: &[(&str, Result<&str, &str>)] = &[
            ("plain", Ok("plain")),
            ("$A", Ok("1")),
            ("x${A}y", Ok("x1y")),
            ("${NET}.1.2/24", Ok("10.0.1.2/24")),
            ("$NET.1.2/24", Ok("10.0.1.2/24")),
            ("${B:-dflt}", Ok("dflt")),
            ("${E:-dflt}", Ok("dflt")),
            ("${E-dflt}", Ok("")),
            ("${B-dflt}", Ok("dflt")),
            ("${B:-${A}}", Ok("1")),
            ("${B:-${C:-deep}}", Ok("deep")),
            ("${A:+alt}", Ok("alt")),
            ("${E:+alt}", Ok("")),
            ("${E+alt}", Ok("alt")),
            ("${A:?need A}", Ok("1")),
            ("${E?x}", Ok("")),
            ("$$A", Ok("$A")),
            (
                "${B:?set B to the subnet}",
                Err("required variable B is missing a value: set B to the subnet"),
            ),
            ("${E:?}", Err("required variable E is missing a value")),
            ("${B?}", Err("required variable B is missing a value")),
            ("${A", Err("unclosed")),
            ("${}", Err("invalid interpolation")),
            ("${A!}", Err("invalid interpolation")),
            ("cost $5", Err("a lone \"$\"")),
        ];
        for (input, want) in table {
            let got = interpolate(input, &env).map(|i| i.value);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(&g, w, "{input}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{input}: {g}"),
                (g, w) => panic!("{input}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn unset_variables_are_reported() {
        let got = interpolate("${X}-$Y-${Z:-z}", &Env::new()).unwrap();
        assert_eq!(got.value, "--z");
        assert_eq!(got.unset, vec!["X".to_string(), "Y".to_string()]);
    }
}
