//! The part of Go's text/template that docker users write in `--format`, run on a record
//! serialized to JSON.
//!
//! Supported:
//! - fields: `{{.Name}}`, nested `{{.Labels.app}}`, the record itself `{{.}}`;
//! - docker's functions: `json`, `upper`, `lower`, `title`, `join LIST SEP`, `split S SEP`,
//!   `truncate S N`, `pad S BEFORE AFTER`, `println`;
//! - Go's builtins: `print`, `printf` (verbs `%s %v %d %q %t %x %f %%` with flags, width and
//!   precision), `len`, `index`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `not`, `and`, `or`;
//! - pipelines `{{.Name | upper}}` and parentheses, string (`"…"`, `` `…` ``), number and
//!   boolean literals;
//! - `{{if}}…{{else if}}…{{else}}…{{end}}`, `{{range}}…{{else}}…{{end}}`, `{{with}}…{{end}}`,
//!   `{{/* comments */}}` and the `{{-`/`-}}` trim markers.
//!
//! Not supported (a clear error at parse time): variables (`$x`), `define`/`template`/`block`,
//! `break`/`continue`, methods with arguments (docker's `.Label "key"`: write
//! `{{index .Labels "key"}}` or `{{.Labels.key}}`).
//!
//! Values print as Go's `%v` prints them (`[a b]` for lists, `map[k:v]` for objects), except
//! that a missing or null value prints as nothing rather than `<no value>`.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

use super::{header_for, Column, RenderError};

/// A parsed `--format` template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    table: bool,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If {
        cond: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// Commands separated by `|`; each command's result is the last argument of the next.
#[derive(Debug, Clone)]
struct Pipe(Vec<Cmd>);

#[derive(Debug, Clone)]
struct Cmd(Vec<Operand>);

#[derive(Debug, Clone)]
enum Operand {
    /// `.A.B`; empty for `.`.
    Field(Vec<String>),
    Func(Func),
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Nil,
    Sub(Pipe),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Json,
    Upper,
    Lower,
    Title,
    Join,
    Split,
    Truncate,
    Pad,
    Println,
    Print,
    Printf,
    Len,
    Index,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Not,
    And,
    Or,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "json" => Func::Json,
            "upper" => Func::Upper,
            "lower" => Func::Lower,
            "title" => Func::Title,
            "join" => Func::Join,
            "split" => Func::Split,
            "truncate" => Func::Truncate,
            "pad" => Func::Pad,
            "println" => Func::Println,
            "print" => Func::Print,
            "printf" => Func::Printf,
            "len" => Func::Len,
            "index" => Func::Index,
            "eq" => Func::Eq,
            "ne" => Func::Ne,
            "lt" => Func::Lt,
            "le" => Func::Le,
            "gt" => Func::Gt,
            "ge" => Func::Ge,
            "not" => Func::Not,
            "and" => Func::And,
            "or" => Func::Or,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Json => "json",
            Func::Upper => "upper",
            Func::Lower => "lower",
            Func::Title => "title",
            Func::Join => "join",
            Func::Split => "split",
            Func::Truncate => "truncate",
            Func::Pad => "pad",
            Func::Println => "println",
            Func::Print => "print",
            Func::Printf => "printf",
            Func::Len => "len",
            Func::Index => "index",
            Func::Eq => "eq",
            Func::Ne => "ne",
            Func::Lt => "lt",
            Func::Le => "le",
            Func::Gt => "gt",
            Func::Ge => "ge",
            Func::Not => "not",
            Func::And => "and",
            Func::Or => "or",
        }
    }

    /// docker's header functions: in a `table` template's header row these return their
    /// first argument (the column's header) unchanged.
    fn passes_header_through(self) -> bool {
        matches!(
            self,
            Func::Json
                | Func::Upper
                | Func::Lower
                | Func::Title
                | Func::Join
                | Func::Split
                | Func::Truncate
                | Func::Pad
        )
    }
}

impl Template {
    /// Parses a `--format` value as docker does: a `table` prefix asks for a header row and
    /// aligned columns; surrounding spaces are dropped; `\t` and `\n` become a tab and a
    /// newline.
    pub fn parse(format: &str) -> Result<Template, RenderError> {
        let (table, rest) = match format.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, format),
        };
        let text = rest
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let items = lex(&text).map_err(RenderError::Format)?;
        let mut parser = Parser {
            items: items.into_iter().peekable(),
        };
        let (nodes, end) = parser.list().map_err(RenderError::Format)?;
        match end {
            Stop::Eof => {}
            Stop::End => return Err(RenderError::Format("unexpected {{end}}".into())),
            Stop::Else(_) => return Err(RenderError::Format("unexpected {{else}}".into())),
        }
        Ok(Template {
            source: format.to_string(),
            table,
            nodes,
        })
    }

    /// Whether the format began with `table`.
    pub fn is_table(&self) -> bool {
        self.table
    }

    /// The format as the user gave it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the template on one record: `value` is the record as JSON, `json` the same
    /// serialized in the record's field order (what `{{json .}}` prints).
    pub fn render(&self, value: &Value, json: &str) -> Result<String, RenderError> {
        let exec = Exec {
            root: value,
            root_json: json,
            header: None,
        };
        let mut out = String::new();
        exec.list(&self.nodes, value, &mut out)?;
        Ok(out)
    }

    /// The header row of a `table` template: each field becomes its column's header, or its
    /// name upper-cased ([`header_for`]) when it is not a default column.
    pub fn render_header(&self, columns: &[Column]) -> Result<String, RenderError> {
        let exec = Exec {
            root: &Value::Null,
            root_json: "",
            header: Some(columns),
        };
        let mut out = String::new();
        exec.list(&self.nodes, &Value::Null, &mut out)?;
        Ok(out)
    }
}

/// Go's `%v` for a JSON value, except null which prints as nothing.
pub fn display(v: &Value) -> String {
    let mut out = String::new();
    display_into(v, &mut out);
    out
}

fn display_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => {}
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                display_into(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                display_into(item, out);
            }
            out.push(']');
        }
    }
}

/// The fields of a record serialized as `json`, in the record's order, for error messages.
pub fn field_names(json: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_str::<Keys>(json)
        .map(|k| k.0)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Lexing: text and actions, with trim markers and comments.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Ident(String),
    Str(String),
    Num(serde_json::Number),
    Pipe,
    Open,
    Close,
}

#[derive(Debug)]
enum Item {
    Text(String),
    Action(Vec<Tok>),
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn lex(src: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    loop {
        let (text, after) = match rest.find("{{") {
            Some(i) => (&rest[..i], Some(&rest[i + 2..])),
            None => (rest, None),
        };
        let mut text = if trim_next {
            text.trim_start_matches(is_space)
        } else {
            text
        };
        let Some(after) = after else {
            if !text.is_empty() {
                items.push(Item::Text(text.to_string()));
            }
            return Ok(items);
        };
        let mut body = after;
        if let Some(b) = after.strip_prefix('-') {
            if b.starts_with(is_space) {
                text = text.trim_end_matches(is_space);
                body = b;
            }
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        let (toks, remaining, trim) = lex_action(body)?;
        if let Some(toks) = toks {
            items.push(Item::Action(toks));
        }
        rest = remaining;
        trim_next = trim;
    }
}

/// Lexes one action up to its `}}`; returns its tokens (None for a comment), what follows,
/// and whether the action ended with ` -}}`.
fn lex_action(src: &str) -> Result<(Option<Vec<Tok>>, &str, bool), String> {
    let trimmed = src.trim_start_matches(is_space);
    if let Some(comment) = trimmed.strip_prefix("/*") {
        let end = comment
            .find("*/")
            .ok_or_else(|| "unclosed comment".to_string())?;
        let after = &comment[end + 2..];
        let skipped = after.trim_start_matches(is_space);
        let had_space = skipped.len() != after.len();
        if let Some(r) = skipped.strip_prefix("}}") {
            return Ok((None, r, false));
        }
        if had_space {
            if let Some(r) = skipped.strip_prefix("-}}") {
                return Ok((None, r, true));
            }
        }
        return Err("comment ends before closing delimiter".into());
    }

    let mut toks = Vec::new();
    let mut s = src;
    loop {
        let skipped = s.trim_start_matches(is_space);
        let had_space = skipped.len() != s.len();
        s = skipped;
        if s.is_empty() {
            return Err("unclosed action".into());
        }
        if let Some(r) = s.strip_prefix("}}") {
            return Ok((Some(toks), r, false));
        }
        if had_space {
            if let Some(r) = s.strip_prefix("-}}") {
                return Ok((Some(toks), r, true));
            }
        }
        let c = s.chars().next().unwrap_or_default();
        match c {
            '|' => {
                toks.push(Tok::Pipe);
                s = &s[1..];
            }
            '(' => {
                toks.push(Tok::Open);
                s = &s[1..];
            }
            ')' => {
                toks.push(Tok::Close);
                s = &s[1..];
            }
            '.' => {
                let mut path = Vec::new();
                while let Some(r) = s.strip_prefix('.') {
                    let len = r
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(r.len());
                    if len == 0 {
                        if path.is_empty() {
                            s = r;
                            break;
                        }
                        return Err(format!("bad field name after .{}", path.join(".")));
                    }
                    path.push(r[..len].to_string());
                    s = &r[len..];
                }
                toks.push(Tok::Field(path));
            }
            '"' => {
                let (value, r) = lex_string(&s[1..])?;
                toks.push(Tok::Str(value));
                s = r;
            }
            '`' => {
                let end = s[1..]
                    .find('`')
                    .ok_or_else(|| "unterminated raw string".to_string())?;
                toks.push(Tok::Str(s[1..1 + end].to_string()));
                s = &s[end + 2..];
            }
            '$' => return Err("template variables ($…) are not supported".into()),
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let len = s[1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                    .map_or(s.len(), |i| i + 1);
                let word = &s[..len];
                let num = word
                    .parse::<i64>()
                    .ok()
                    .map(serde_json::Number::from)
                    .or_else(|| {
                        word.parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                    })
                    .ok_or_else(|| format!("bad number syntax: {word:?}"))?;
                toks.push(Tok::Num(num));
                s = &s[len..];
            }
            c if c.is_alphabetic() || c == '_' => {
                let len = s
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(s.len());
                toks.push(Tok::Ident(s[..len].to_string()));
                s = &s[len..];
            }
            c => return Err(format!("unexpected {c:?} in action")),
        }
    }
}

fn lex_string(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\n' => break,
            '\\' => {
                let (_, e) = chars
                    .next()
                    .ok_or_else(|| "unterminated quoted string".to_string())?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    '0' => out.push('\0'),
                    other => return Err(format!("unknown escape sequence: \\{other}")),
                }
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

// ---------------------------------------------------------------------------------------
// Parsing items into nodes.

enum Stop {
    Eof,
    End,
    /// `{{else}}`, or `{{else if …}}` with the tokens after `else`.
    Else(Vec<Tok>),
}

struct Parser {
    items: std::iter::Peekable<std::vec::IntoIter<Item>>,
}

impl Parser {
    fn list(&mut self) -> Result<(Vec<Node>, Stop), String> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let toks = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action(toks) => toks,
            };
            let keyword = match toks.first() {
                Some(Tok::Ident(k)) => k.as_str(),
                _ => "",
            };
            match keyword {
                "end" => {
                    if toks.len() > 1 {
                        return Err("unexpected tokens after {{end".into());
                    }
                    return Ok((nodes, Stop::End));
                }
                "else" => return Ok((nodes, Stop::Else(toks[1..].to_vec()))),
                "if" => nodes.push(self.if_node(&toks[1..])?),
                "range" | "with" => {
                    let pipe = pipe(&toks[1..])?;
                    let (body, end) = self.list()?;
                    let otherwise = match end {
                        Stop::End => Vec::new(),
                        Stop::Else(rest) if rest.is_empty() => self.until_end(keyword)?,
                        Stop::Else(_) => {
                            return Err(format!("{{{{else …}}}} in {{{{{keyword}}}}}"))
                        }
                        Stop::Eof => {
                            return Err(format!("missing {{{{end}}}} for {{{{{keyword}}}}}"))
                        }
                    };
                    nodes.push(if keyword == "range" {
                        Node::Range {
                            pipe,
                            body,
                            otherwise,
                        }
                    } else {
                        Node::With {
                            pipe,
                            body,
                            otherwise,
                        }
                    });
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(format!("{{{{{keyword}}}}} is not supported"));
                }
                _ => nodes.push(Node::Action(pipe(&toks)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// After `{{if`: the condition, the branches, and an `{{else if}}` chain sharing one
    /// `{{end}}`.
    fn if_node(&mut self, cond: &[Tok]) -> Result<Node, String> {
        let cond = pipe(cond)?;
        let (then, end) = self.list()?;
        let otherwise = match end {
            Stop::End => Vec::new(),
            Stop::Else(rest) if rest.is_empty() => self.until_end("if")?,
            Stop::Else(rest) => match rest.first() {
                Some(Tok::Ident(k)) if k == "if" => vec![self.if_node(&rest[1..])?],
                _ => return Err("unexpected tokens after {{else".into()),
            },
            Stop::Eof => return Err("missing {{end}} for {{if}}".into()),
        };
        Ok(Node::If {
            cond,
            then,
            otherwise,
        })
    }

    fn until_end(&mut self, keyword: &str) -> Result<Vec<Node>, String> {
        match self.list()? {
            (nodes, Stop::End) => Ok(nodes),
            (_, Stop::Else(_)) => Err(format!("a second {{{{else}}}} in {{{{{keyword}}}}}")),
            (_, Stop::Eof) => Err(format!("missing {{{{end}}}} for {{{{{keyword}}}}}")),
        }
    }
}

fn pipe(toks: &[Tok]) -> Result<Pipe, String> {
    if toks.is_empty() {
        return Err("missing value for command".into());
    }
    let mut cmds = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| "unexpected right paren".to_string())?;
            }
            Tok::Pipe if depth == 0 => {
                cmds.push(cmd(&toks[start..i])?);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed left paren".into());
    }
    cmds.push(cmd(&toks[start..])?);
    Ok(Pipe(cmds))
}

fn cmd(toks: &[Tok]) -> Result<Cmd, String> {
    if toks.is_empty() {
        return Err("missing command in pipeline".into());
    }
    let mut operands = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let op = match &toks[i] {
            Tok::Field(path) => Operand::Field(path.clone()),
            Tok::Str(s) => Operand::Str(s.clone()),
            Tok::Num(n) => Operand::Num(n.clone()),
            Tok::Ident(name) => match name.as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "nil" => Operand::Nil,
                "if" | "else" | "end" | "range" | "with" => {
                    return Err(format!("unexpected {name:?} in command"));
                }
                _ => Operand::Func(
                    Func::from_name(name)
                        .ok_or_else(|| format!("function {name:?} not defined"))?,
                ),
            },
            Tok::Open => {
                let mut depth = 1;
                let mut j = i + 1;
                while j < toks.len() {
                    match toks[j] {
                        Tok::Open => depth += 1,
                        Tok::Close => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let sub = pipe(&toks[i + 1..j])?;
                i = j;
                Operand::Sub(sub)
            }
            Tok::Close => return Err("unexpected right paren".into()),
            Tok::Pipe => return Err("missing command in pipeline".into()),
        };
        operands.push(op);
        i += 1;
    }
    if operands.len() > 1 && !matches!(operands[0], Operand::Func(_)) {
        return Err(match &operands[0] {
            Operand::Field(path) if !path.is_empty() => format!(
                ".{} is a field, it takes no arguments (methods like .Label \"key\" are \
                 not supported: use index .Labels \"key\")",
                path.join(".")
            ),
            _ => "can't give arguments to a value that is not a function".into(),
        });
    }
    Ok(Cmd(operands))
}

// ---------------------------------------------------------------------------------------
// Execution.

struct Exec<'a> {
    root: &'a Value,
    root_json: &'a str,
    /// Set while rendering a `table` template's header row.
    header: Option<&'a [Column]>,
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

fn err(msg: impl Into<String>) -> RenderError {
    RenderError::Template(msg.into())
}

impl Exec<'_> {
    fn list(&self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), RenderError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => display_into(&*self.pipe(p, dot)?, out),
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    if truthy(&*self.pipe(cond, dot)?) {
                        self.list(then, dot, out)?;
                    } else {
                        self.list(otherwise, dot, out)?;
                    }
                }
                Node::With {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let v = self.pipe(pipe, dot)?;
                    if self.header.is_some() {
                        self.list(body, dot, out)?;
                    } else if truthy(&v) {
                        self.list(body, &v, out)?;
                    } else {
                        self.list(otherwise, dot, out)?;
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let v = self.pipe(pipe, dot)?;
                    if self.header.is_some() {
                        // A header has one value per field: the body once.
                        self.list(body, dot, out)?;
                        continue;
                    }
                    let items: Vec<&Value> = match v.as_ref() {
                        Value::Array(a) => a.iter().collect(),
                        Value::Object(o) => o.values().collect(),
                        Value::Null => Vec::new(),
                        Value::Number(n) => {
                            // Go 1.22: range over an integer n is 0..n.
                            let n = n.as_u64().unwrap_or(0);
                            let values: Vec<Value> = (0..n).map(Value::from).collect();
                            for item in &values {
                                self.list(body, item, out)?;
                            }
                            if values.is_empty() {
                                self.list(otherwise, dot, out)?;
                            }
                            continue;
                        }
                        other => {
                            return Err(err(format!("range can't iterate over {}", display(other))))
                        }
                    };
                    if items.is_empty() {
                        self.list(otherwise, dot, out)?;
                    }
                    for item in items {
                        self.list(body, item, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn pipe<'d>(&self, pipe: &Pipe, dot: &'d Value) -> Result<Cow<'d, Value>, RenderError> {
        let mut prev = None;
        for c in &pipe.0 {
            prev = Some(self.cmd(c, dot, prev)?);
        }
        Ok(prev.unwrap_or(Cow::Owned(Value::Null)))
    }

    fn cmd<'d>(
        &self,
        cmd: &Cmd,
        dot: &'d Value,
        piped: Option<Cow<'d, Value>>,
    ) -> Result<Cow<'d, Value>, RenderError> {
        match &cmd.0[0] {
            Operand::Func(f) => {
                let mut args = Vec::with_capacity(cmd.0.len());
                for op in &cmd.0[1..] {
                    args.push(self.operand(op, dot)?);
                }
                args.extend(piped);
                self.call(*f, args)
            }
            op => {
                if piped.is_some() {
                    return Err(err(
                        "can't give a piped value to something that is not a function",
                    ));
                }
                self.operand(op, dot)
            }
        }
    }

    fn operand<'d>(&self, op: &Operand, dot: &'d Value) -> Result<Cow<'d, Value>, RenderError> {
        Ok(match op {
            Operand::Field(path) => return self.field(dot, path),
            Operand::Func(f) => return self.call(*f, Vec::new()),
            Operand::Str(s) => Cow::Owned(Value::String(s.clone())),
            Operand::Num(n) => Cow::Owned(Value::Number(n.clone())),
            Operand::Bool(b) => Cow::Owned(Value::Bool(*b)),
            Operand::Nil => Cow::Owned(Value::Null),
            Operand::Sub(p) => return self.pipe(p, dot),
        })
    }

    fn field<'d>(&self, dot: &'d Value, path: &[String]) -> Result<Cow<'d, Value>, RenderError> {
        if let Some(columns) = self.header {
            if path.is_empty() {
                return Ok(Cow::Owned(Value::String(String::new())));
            }
            let joined = path.join(".");
            let header = columns
                .iter()
                .find(|c| c.field == joined)
                .map(|c| c.header.to_string())
                .unwrap_or_else(|| header_for(path.last().map_or("", String::as_str)));
            return Ok(Cow::Owned(Value::String(header)));
        }
        let mut cur = dot;
        for seg in path {
            match cur {
                Value::Object(map) => match map.get(seg) {
                    Some(v) => cur = v,
                    None if std::ptr::eq(cur, self.root) => {
                        return Err(RenderError::UnknownField {
                            field: seg.clone(),
                            known: field_names(self.root_json),
                        })
                    }
                    // A map without the key, as Go's maps: no value.
                    None => return Ok(Cow::Owned(Value::Null)),
                },
                Value::Null => return Ok(Cow::Owned(Value::Null)),
                other => {
                    return Err(err(format!(
                        "can't evaluate field {seg} in type {}",
                        type_name(other)
                    )))
                }
            }
        }
        Ok(Cow::Borrowed(cur))
    }

    fn call<'d>(&self, f: Func, args: Vec<Cow<'d, Value>>) -> Result<Cow<'d, Value>, RenderError> {
        if self.header.is_some() && f.passes_header_through() {
            return Ok(args
                .into_iter()
                .next()
                .unwrap_or(Cow::Owned(Value::String(String::new()))));
        }
        let arity = |want: usize| -> Result<(), RenderError> {
            if args.len() == want {
                Ok(())
            } else {
                Err(err(format!(
                    "wrong number of args for {}: want {want} got {}",
                    f.name(),
                    args.len()
                )))
            }
        };
        let s = |v: &Value| -> String { display(v) };
        let owned = |v: Value| Ok(Cow::Owned(v));
        match f {
            Func::Json => {
                arity(1)?;
                if let Cow::Borrowed(v) = &args[0] {
                    if std::ptr::eq(*v, self.root) {
                        return owned(Value::String(self.root_json.to_string()));
                    }
                }
                let text = serde_json::to_string(args[0].as_ref())?;
                owned(Value::String(text))
            }
            Func::Upper => {
                arity(1)?;
                owned(Value::String(s(&args[0]).to_uppercase()))
            }
            Func::Lower => {
                arity(1)?;
                owned(Value::String(s(&args[0]).to_lowercase()))
            }
            Func::Title => {
                arity(1)?;
                owned(Value::String(title(&s(&args[0]))))
            }
            Func::Join => {
                arity(2)?;
                let sep = s(&args[1]);
                let joined = match args[0].as_ref() {
                    Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(&sep),
                    Value::Null => String::new(),
                    other => {
                        return Err(err(format!(
                            "join: expected a list, got {}",
                            type_name(other)
                        )))
                    }
                };
                owned(Value::String(joined))
            }
            Func::Split => {
                arity(2)?;
                let text = s(&args[0]);
                let sep = s(&args[1]);
                let parts: Vec<Value> = if sep.is_empty() {
                    text.chars().map(|c| Value::String(c.to_string())).collect()
                } else {
                    text.split(sep.as_str()).map(Value::from).collect()
                };
                owned(Value::Array(parts))
            }
            Func::Truncate => {
                arity(2)?;
                let n = int_arg(f, &args[1])?;
                let text = s(&args[0]);
                owned(Value::String(
                    text.chars().take(usize::try_from(n).unwrap_or(0)).collect(),
                ))
            }
            Func::Pad => {
                arity(3)?;
                let text = s(&args[0]);
                if text.is_empty() {
                    return owned(Value::String(text));
                }
                let before = usize::try_from(int_arg(f, &args[1])?).unwrap_or(0);
                let after = usize::try_from(int_arg(f, &args[2])?).unwrap_or(0);
                owned(Value::String(format!(
                    "{}{text}{}",
                    " ".repeat(before),
                    " ".repeat(after)
                )))
            }
            Func::Println => {
                let parts: Vec<String> = args.iter().map(|a| s(a)).collect();
                owned(Value::String(parts.join(" ") + "\n"))
            }
            Func::Print => {
                // Go's Sprint: a space between operands when neither is a string.
                let mut out = String::new();
                for (i, a) in args.iter().enumerate() {
                    if i > 0 && !args[i - 1].is_string() && !a.is_string() {
                        out.push(' ');
                    }
                    out.push_str(&s(a));
                }
                owned(Value::String(out))
            }
            Func::Printf => {
                let Some((fmt, rest)) = args.split_first() else {
                    return Err(err(
                        "wrong number of args for printf: want at least 1 got 0",
                    ));
                };
                owned(Value::String(printf(&s(fmt), rest)))
            }
            Func::Len => {
                arity(1)?;
                let n = match args[0].as_ref() {
                    Value::String(t) => t.len(),
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    Value::Null => 0,
                    other => return Err(err(format!("len of {}", type_name(other)))),
                };
                owned(Value::from(n))
            }
            Func::Index => {
                let Some((first, keys)) = args.split_first() else {
                    return Err(err("wrong number of args for index: want at least 1 got 0"));
                };
                let mut cur: Value = first.as_ref().clone();
                for key in keys {
                    cur = match (&cur, key.as_ref()) {
                        (Value::Object(o), k) => o.get(&s(k)).cloned().unwrap_or(Value::Null),
                        (Value::Array(a), Value::Number(n)) => {
                            let i = n.as_u64().and_then(|i| usize::try_from(i).ok());
                            match i.and_then(|i| a.get(i)) {
                                Some(v) => v.clone(),
                                None => {
                                    return Err(err(format!("index out of range: {n}")));
                                }
                            }
                        }
                        (Value::Null, _) => Value::Null,
                        (c, k) => {
                            return Err(err(format!(
                                "can't index item of type {} with {}",
                                type_name(c),
                                display(k)
                            )))
                        }
                    };
                }
                owned(cur)
            }
            Func::Eq => {
                if args.len() < 2 {
                    return Err(err(format!(
                        "wrong number of args for eq: want at least 2 got {}",
                        args.len()
                    )));
                }
                let any = args[1..].iter().any(|b| equal(&args[0], b));
                owned(Value::Bool(any))
            }
            Func::Ne => {
                arity(2)?;
                owned(Value::Bool(!equal(&args[0], &args[1])))
            }
            Func::Lt | Func::Le | Func::Gt | Func::Ge => {
                arity(2)?;
                let ord = compare(&args[0], &args[1]).ok_or_else(|| {
                    err(format!(
                        "{}: incompatible types for comparison: {} and {}",
                        f.name(),
                        type_name(&args[0]),
                        type_name(&args[1])
                    ))
                })?;
                use std::cmp::Ordering::*;
                let b = match f {
                    Func::Lt => ord == Less,
                    Func::Le => ord != Greater,
                    Func::Gt => ord == Greater,
                    _ => ord != Less,
                };
                owned(Value::Bool(b))
            }
            Func::Not => {
                arity(1)?;
                owned(Value::Bool(!truthy(&args[0])))
            }
            Func::And | Func::Or => {
                if args.is_empty() {
                    return Err(err(format!(
                        "wrong number of args for {}: want at least 1 got 0",
                        f.name()
                    )));
                }
                // Go returns the first falsy (and) or truthy (or) argument, else the last.
                let stop = f == Func::Or;
                let mut args = args;
                let pos = args
                    .iter()
                    .position(|a| truthy(a) == stop)
                    .unwrap_or(args.len() - 1);
                Ok(args.swap_remove(pos))
            }
        }
    }
}

fn int_arg(f: Func, v: &Value) -> Result<i64, RenderError> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        err(format!(
            "{}: expected an integer, got {}",
            f.name(),
            type_name(v)
        ))
    })
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Go's deprecated `strings.Title`, which docker's `title` still uses: upper-case the first
/// letter of every word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut boundary = true;
    for c in s.chars() {
        if boundary {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        boundary = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// The part of Go's `fmt.Sprintf` that format strings use: flags `-`, `0`, `+`, width,
/// precision, verbs `s v d q t x X f`, and `%%`.
fn printf(fmt: &str, args: &[Cow<'_, Value>]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero, mut plus) = (false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let arg = arg.as_ref();
        let numeric = arg.is_number();
        let mut text = match verb {
            's' | 'v' => {
                let t = display(arg);
                match precision {
                    Some(p) if !numeric => t.chars().take(p).collect(),
                    _ => t,
                }
            }
            'q' => serde_json::to_string(&display(arg)).unwrap_or_default(),
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                other => format!("%!t({})", display(other)),
            },
            'd' => match arg.as_i64() {
                Some(n) if plus && n >= 0 => format!("+{n}"),
                Some(n) => n.to_string(),
                None => format!("%!d({})", display(arg)),
            },
            'x' | 'X' => {
                let t = match arg {
                    Value::Number(n) if n.as_i64().is_some() => {
                        format!("{:x}", n.as_i64().unwrap_or_default())
                    }
                    other => display(other).bytes().map(|b| format!("{b:02x}")).collect(),
                };
                if verb == 'X' {
                    t.to_uppercase()
                } else {
                    t
                }
            }
            'f' | 'F' => match arg.as_f64() {
                Some(x) => format!("{x:.*}", precision.unwrap_or(6)),
                None => format!("%!f({})", display(arg)),
            },
            other => format!("%!{other}({})", display(arg)),
        };
        let width: usize = width.parse().unwrap_or(0);
        let len = text.chars().count();
        if len < width {
            let fill = width - len;
            if left {
                text.extend(std::iter::repeat_n(' ', fill));
            } else if zero && numeric {
                let (sign, digits) = match text.strip_prefix(['-', '+']) {
                    Some(d) => (&text[..1], d),
                    None => ("", text.as_str()),
                };
                text = format!("{sign}{}{digits}", "0".repeat(fill));
            } else {
                text = format!("{}{text}", " ".repeat(fill));
            }
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "Name": "db1",
            "ID": "0123456789abcdef",
            "Names": ["db1", "frontend/redis"],
            "Labels": {"app": "cache", "tier": "back"},
            "Ports": [6379, 16379],
            "Running": true,
            "Count": 3,
            "Empty": "",
            "None": null,
        })
    }

    fn run(format: &str) -> Result<String, RenderError> {
        let v = record();
        let json = serde_json::to_string(&v).unwrap();
        Template::parse(format)?.render(&v, &json)
    }

    #[test]
    fn renders() {
        let cases: &[(&str, &str)] = &[
            ("{{.Name}}", "db1"),
            ("name: {{ .Name }}!", "name: db1!"),
            ("{{.Labels.app}}", "cache"),
            ("{{.Labels.missing}}", ""),
            ("{{.None}}", ""),
            ("{{.None.Deeper}}", ""),
            ("{{.Names}}", "[db1 frontend/redis]"),
            ("{{.Labels}}", "map[app:cache tier:back]"),
            ("{{.Ports}}", "[6379 16379]"),
            ("{{.Running}} {{.Count}}", "true 3"),
            ("{{json .Names}}", "[\"db1\",\"frontend/redis\"]"),
            ("{{json .Name}}", "\"db1\""),
            ("{{upper .Name}}", "DB1"),
            ("{{lower \"ABC\"}}", "abc"),
            ("{{title \"hello big-world\"}}", "Hello Big-World"),
            ("{{join .Names \", \"}}", "db1, frontend/redis"),
            ("{{join .Ports \",\"}}", "6379,16379"),
            ("{{split \"a:b:c\" \":\"}}", "[a b c]"),
            ("{{index (split \"a:b:c\" \":\") 1}}", "b"),
            ("{{truncate .ID 12}}", "0123456789ab"),
            ("{{truncate .Name 12}}", "db1"),
            ("{{pad .Name 2 1}}|", "  db1 |"),
            ("{{pad .Empty 2 1}}|", "|"),
            ("{{.Name}}{{println}}x", "db1\nx"),
            ("{{println .Name .Count}}", "db1 3\n"),
            ("{{print .Name .Count}}", "db13"),
            ("{{print 1 2}}", "1 2"),
            ("{{.Name | upper}}", "DB1"),
            ("{{.Name | printf \"%s!\"}}", "db1!"),
            (
                "{{printf \"%-5s|%5s|%05d|%q|%x|%.2f\" .Name .Name .Count .Name 255 1.5}}",
                "db1  |  db1|00003|\"db1\"|ff|1.50",
            ),
            ("{{printf \"%.3s %d%%\" .ID 7}}", "012 7%"),
            ("{{printf \"%s %s\" .Name}}", "db1 %!s(MISSING)"),
            ("{{len .Names}} {{len .Name}} {{len .Labels}}", "2 3 2"),
            ("{{index .Labels \"tier\"}}", "back"),
            ("{{index .Names 1}}", "frontend/redis"),
            ("{{if .Running}}up{{else}}down{{end}}", "up"),
            (
                "{{if .Empty}}x{{else if .Count}}count{{else}}none{{end}}",
                "count",
            ),
            (
                "{{if not .Running}}x{{else if .Empty}}y{{else}}z{{end}}",
                "z",
            ),
            ("{{if eq .Name \"web\" \"db1\"}}yes{{end}}", "yes"),
            ("{{if ne .Count 3}}no{{else}}three{{end}}", "three"),
            ("{{if and .Running (gt .Count 2)}}ok{{end}}", "ok"),
            ("{{or .Empty .Name}}", "db1"),
            ("{{and .Name .Empty}}|", "|"),
            ("{{lt 1 2.5}} {{ge \"b\" \"a\"}}", "true true"),
            ("{{range .Names}}<{{.}}>{{end}}", "<db1><frontend/redis>"),
            ("{{range .Labels}}{{.}},{{end}}", "cache,back,"),
            ("{{range .None}}x{{else}}empty{{end}}", "empty"),
            ("{{with .Labels}}{{.app}}{{end}}", "cache"),
            ("{{with .Empty}}x{{else}}no{{end}}", "no"),
            ("a {{- /* a comment */ -}} b", "ab"),
            ("{{/* only a comment */}}", ""),
            ("x  {{- .Name -}}  y", "xdb1y"),
            // docker turns `\\n` into a newline before parsing, even in raw strings.
            ("{{`raw \\n`}}", "raw \n"),
            ("{{\"q\\\"uote\"}}", "q\"uote"),
            ("{{.Name}}\\t{{.Count}}", "db1\t3"),
            ("  {{.Name}}  ", "db1"),
            ("{{3}} {{-2}} {{true}}", "3 -2 true"),
        ];
        for (format, want) in cases {
            match run(format) {
                Ok(got) => assert_eq!(got, *want, "{format}"),
                Err(e) => panic!("{format}: {e}"),
            }
        }
    }

    #[test]
    fn json_of_the_record_keeps_its_field_order() {
        let v = json!({"B": 1, "A": 2});
        let t = Template::parse("{{json .}}").unwrap();
        assert_eq!(
            t.render(&v, "{\"B\":1,\"A\":2}").unwrap(),
            "{\"B\":1,\"A\":2}"
        );
    }

    #[test]
    fn runtime_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "{{.Nope}}",
                "template: unknown field \"Nope\" (fields: Count, Empty, ID, Labels, Name, Names, None, Ports, Running)",
            ),
            ("{{.Name.First}}", "template: can't evaluate field First in type string"),
            ("{{upper}}", "template: wrong number of args for upper: want 1 got 0"),
            ("{{join .Name \",\"}}", "template: join: expected a list, got string"),
            ("{{truncate .Name \"x\"}}", "template: truncate: expected an integer, got string"),
            ("{{index .Names 5}}", "template: index out of range: 5"),
            ("{{range .Name}}{{end}}", "template: range can't iterate over db1"),
            // The piped value is the last argument, as in Go: this truncates 4 by .ID.
            ("{{.ID | truncate 4}}", "template: truncate: expected an integer, got string"),
            ("{{lt .Name 1}}", "template: lt: incompatible types for comparison: string and number"),
        ];
        for (format, want) in cases {
            assert_eq!(run(format).unwrap_err().to_string(), *want, "{format}");
        }
    }

    #[test]
    fn parse_errors() {
        let cases: &[(&str, &str)] = &[
            ("{{.Name", "unclosed action"),
            ("{{if .Name}}", "missing {{end}} for {{if}}"),
            ("{{range .Names}}", "missing {{end}} for {{range}}"),
            ("{{end}}", "unexpected {{end}}"),
            ("{{else}}", "unexpected {{else}}"),
            ("{{foo .Name}}", "function \"foo\" not defined"),
            ("{{$x := .Name}}", "variables ($…) are not supported"),
            (
                "{{.Label \"app\"}}",
                ".Label is a field, it takes no arguments",
            ),
            ("{{template \"x\"}}", "{{template}} is not supported"),
            ("{{\"open}}", "unterminated quoted string"),
            ("{{(upper .Name}}", "unclosed left paren"),
            ("{{upper .Name)}}", "unexpected right paren"),
            ("{{}}", "missing value for command"),
            ("{{.Name | }}", "missing command in pipeline"),
            ("{{/* x }}", "unclosed comment"),
            ("{{@}}", "unexpected '@' in action"),
        ];
        for (format, want) in cases {
            let e = Template::parse(format).unwrap_err().to_string();
            assert!(e.starts_with("template parsing error: "), "{format}: {e}");
            assert!(e.contains(want), "{format}: {e}");
        }
    }

    #[test]
    fn table_prefix_and_headers() {
        let cols = [
            Column::new("ID", "CONTAINER ID"),
            Column::new("Name", "NAME"),
        ];
        let cases: &[(&str, bool, &str)] = &[
            ("table {{.ID}}\\t{{.Name}}", true, "CONTAINER ID\tNAME"),
            ("table{{.Name}}", true, "NAME"),
            (
                "table {{upper .Name}}\\t{{truncate .ID 3}}",
                true,
                "NAME\tCONTAINER ID",
            ),
            (
                "table {{.Labels.app}}\\t{{.RunningFor}}",
                true,
                "APP\tRUNNING FOR",
            ),
            ("table {{join .Names \",\"}}", true, "NAMES"),
            (
                "table {{printf \"%s/%s\" .Name .ID}}",
                true,
                "NAME/CONTAINER ID",
            ),
            ("table {{range .Names}}{{.}}{{end}}", true, ""),
            ("{{.Name}}", false, ""),
        ];
        for (format, table, header) in cases {
            let t = Template::parse(format).unwrap();
            assert_eq!(t.is_table(), *table, "{format}");
            if *table {
                assert_eq!(t.render_header(&cols).unwrap(), *header, "{format}");
            }
            assert_eq!(t.source(), *format);
        }
    }
}
