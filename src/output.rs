//! The one printer: stdout carries data (tables, JSON lines, templates), stderr carries
//! messages. Colour only on a TTY and never with `NO_COLOR`; progress bars only when stderr
//! is a TTY.
//!
//! Data goes through [`print`], in one of the three shapes `--format` accepts, as the docker
//! CLI prints them:
//! - `table` (the default, also an empty `--format`): upper-case headers, columns aligned as
//!   Go's tabwriter does for docker (at least 3 spaces between columns, no borders);
//! - `json`: one JSON object per record and per line, as `docker ps --format json`;
//! - a Go template: `'{{.Name}}'` prints one line per record, and `'table {{.Name}}\t{{.ID}}'`
//!   adds a header row and aligns the columns. `\t` and `\n` in the format are a tab and a
//!   newline, as in docker. See [`template`] for what templates may use.
//!
//! [`print_inspect`] prints single objects as `docker inspect` does (an indented JSON array by
//! default, or the same `json` and templates).
//!
//! A command describes its records once, with serde and [`Record`]:
//!
//! ```
//! use docker_link::output::{self, Column, Format, Record};
//!
//! #[derive(serde::Serialize)]
//! struct Name {
//!     #[serde(rename = "Name")]
//!     name: String,
//!     #[serde(rename = "ID")]
//!     id: String,
//! }
//!
//! impl Record for Name {
//!     fn columns() -> &'static [Column] {
//!         const COLUMNS: &[Column] = &[Column::new("Name", "NAME"), Column::new("ID", "CONTAINER ID")];
//!         COLUMNS
//!     }
//! }
//!
//! let rows = [Name { name: "db1".into(), id: "0123456789ab".into() }];
//! let format: Format = "{{.Name}} is {{.ID}}".parse().unwrap();
//! let mut out = Vec::new();
//! output::render(&format, &rows, &mut out).unwrap();
//! assert_eq!(String::from_utf8(out).unwrap(), "db1 is 0123456789ab\n");
//!
//! let mut out = Vec::new();
//! output::render(&Format::Table, &rows, &mut out).unwrap();
//! assert_eq!(String::from_utf8(out).unwrap(), "NAME      CONTAINER ID\ndb1       0123456789ab\n");
//!
//! // In a command: `#[arg(long, default_value = "table")] format: Format`, then
//! // `output::print(&args.format, &rows)?;`
//! ```

use std::io::{IsTerminal, Write};
use std::str::FromStr;

use serde_json::Value;

pub mod template;

pub use template::Template;

/// Whether stderr gets colour: a TTY, and no `NO_COLOR`. The diagnostics log follows it too.
pub fn colour_on_stderr() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

fn message(prefix: &str, colour: &str, msg: &str) {
    let mut err = std::io::stderr().lock();
    let _ = if colour_on_stderr() {
        writeln!(err, "\x1b[{colour}m{prefix}\x1b[0m {msg}")
    } else {
        writeln!(err, "{prefix} {msg}")
    };
}

/// `error: …` on stderr.
pub fn error(msg: &str) {
    message("error:", "1;31", msg);
}

/// `hint: …` on stderr: what the user can do about the error above.
pub fn hint(msg: &str) {
    message("hint:", "1;36", msg);
}

/// `warning: …` on stderr.
pub fn warn(msg: &str) {
    message("warning:", "1;33", msg);
}

/// A plain progress or result message on stderr.
pub fn info(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// A progress bar on stderr, or a hidden one when stderr is not a terminal (so pipes, logs
/// and tests see only the messages the command prints itself). `len == 0` makes a spinner.
pub fn progress(len: u64, msg: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = if len == 0 {
        (indicatif::ProgressBar::new_spinner(), "{spinner} {msg}")
    } else {
        (
            indicatif::ProgressBar::new(len),
            "{msg} [{bar:30}] {pos}/{len}",
        )
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(msg.to_string());
    if len == 0 {
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
    }
    bar
}

/// What went wrong while printing data.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// `--format` is not `table`, `json` or a template we can parse.
    #[error("template parsing error: {0}")]
    Format(String),
    /// A template names a field the records do not have.
    #[error("template: unknown field \"{field}\" (fields: {})", known.join(", "))]
    UnknownField { field: String, known: Vec<String> },
    /// A template failed while running (a function given the wrong arguments, a field of a
    /// string…).
    #[error("template: {0}")]
    Template(String),
    #[error("cannot serialize a record: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
}

/// How data is printed: the value of `--format`.
#[derive(Debug, Clone, Default)]
pub enum Format {
    /// The record's default columns ([`Record::columns`]) as a docker table.
    #[default]
    Table,
    /// One JSON object per line.
    Json,
    /// A Go template; `table …` templates get a header row and aligned columns.
    Template(Template),
}

impl FromStr for Format {
    type Err = RenderError;

    /// `""` and `"table"` are the default table, `"json"` is JSON lines, anything else is a
    /// template (parsed here, so a bad template is a usage error before any work is done).
    fn from_str(s: &str) -> Result<Format, RenderError> {
        match s.trim() {
            "" | "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            _ => Ok(Format::Template(Template::parse(s)?)),
        }
    }
}

impl Format {
    /// Whether the output is a table (with a header row).
    pub fn is_table(&self) -> bool {
        match self {
            Format::Table => true,
            Format::Json => false,
            Format::Template(t) => t.is_table(),
        }
    }
}

/// One default table column: the serde name of a record's field and its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The field's name as serde writes it (`"ID"`, `"Names"`); templates use the same.
    pub field: &'static str,
    /// The header, upper-case as docker prints it (`"CONTAINER ID"`).
    pub header: &'static str,
}

impl Column {
    pub const fn new(field: &'static str, header: &'static str) -> Column {
        Column { field, header }
    }
}

/// A printable record: serialized with serde (its field names are what `json` prints and
/// what templates name), with the columns the default table shows.
pub trait Record: serde::Serialize {
    /// The default table's columns, in order. Fields not listed here are still available to
    /// `json` and templates.
    fn columns() -> &'static [Column];
}

/// Prints `records` to stdout in `format`. Nothing is printed if a record fails to render,
/// and a closed pipe (`| head`) is not an error.
pub fn print<R: Record>(format: &Format, records: &[R]) -> Result<(), RenderError> {
    let mut buf = Vec::new();
    render(format, records, &mut buf)?;
    write_stdout(&buf)
}

/// Renders `records` in `format` into `out` (what [`print`] does, for tests and callers that
/// write elsewhere).
pub fn render<R: Record>(
    format: &Format,
    records: &[R],
    out: &mut impl Write,
) -> Result<(), RenderError> {
    match format {
        Format::Json => render_json(records, out)?,
        Format::Table => {
            let columns = R::columns();
            let mut text = String::new();
            let headers: Vec<&str> = columns.iter().map(|c| c.header).collect();
            text.push_str(&headers.join("\t"));
            text.push('\n');
            for r in records {
                let value = serde_json::to_value(r)?;
                for (i, c) in columns.iter().enumerate() {
                    if i > 0 {
                        text.push('\t');
                    }
                    let cell = match value.get(c.field) {
                        Some(v) => template::display(v),
                        None => {
                            return Err(RenderError::UnknownField {
                                field: c.field.to_string(),
                                known: template::field_names(&value.to_string()),
                            })
                        }
                    };
                    text.push_str(&cell);
                }
                text.push('\n');
            }
            out.write_all(tabwrite(&text).as_bytes())?;
        }
        Format::Template(t) => render_template(t, R::columns(), records, out)?,
    }
    Ok(())
}

/// Prints `items` as `docker inspect` does: by default (`table` or an empty `--format`) one
/// JSON array indented by 4 spaces; `json` one object per line; a template once per item.
pub fn print_inspect<T: serde::Serialize>(format: &Format, items: &[T]) -> Result<(), RenderError> {
    let mut buf = Vec::new();
    render_inspect(format, items, &mut buf)?;
    write_stdout(&buf)
}

/// What [`print_inspect`] prints, into `out`.
pub fn render_inspect<T: serde::Serialize>(
    format: &Format,
    items: &[T],
    out: &mut impl Write,
) -> Result<(), RenderError> {
    match format {
        Format::Table => {
            let mut buf = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(
                &mut buf,
                serde_json::ser::PrettyFormatter::with_indent(b"    "),
            );
            serde::Serialize::serialize(items, &mut ser)?;
            buf.push(b'\n');
            out.write_all(&buf)?;
            Ok(())
        }
        Format::Json => render_json(items, out),
        Format::Template(t) => render_template(t, &[], items, out),
    }
}

/// Writes raw data (ids, trees) to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(buf: &[u8]) -> Result<(), RenderError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(buf).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn render_json<T: serde::Serialize>(items: &[T], out: &mut impl Write) -> Result<(), RenderError> {
    let mut buf = Vec::new();
    for r in items {
        serde_json::to_writer(&mut buf, r)?;
        buf.push(b'\n');
    }
    out.write_all(&buf)?;
    Ok(())
}

fn render_template<T: serde::Serialize>(
    t: &Template,
    columns: &[Column],
    items: &[T],
    out: &mut impl Write,
) -> Result<(), RenderError> {
    let mut text = String::new();
    if t.is_table() {
        text.push_str(&t.render_header(columns)?);
        text.push('\n');
    }
    for r in items {
        let json = serde_json::to_string(r)?;
        let value: Value = serde_json::from_str(&json)?;
        text.push_str(&t.render(&value, &json)?);
        text.push('\n');
    }
    if t.is_table() {
        text = tabwrite(&text);
    }
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// The column alignment docker gets from Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`:
/// tab-terminated cells are padded to the widest cell of their column block plus 3, and to
/// at least 10; the text after a line's last tab is not padded. A column block is a run of
/// consecutive lines that all have a cell in that column, so a line without tabs ends every
/// block (Go's rules, which keep `docker ps --format 'table …'` and ours the same).
pub fn tabwrite(text: &str) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;

    let ends_with_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<Vec<&str>> = body.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths = Vec::new();
    let mut out = String::with_capacity(text.len() * 2);
    format_block(
        &lines,
        0,
        lines.len(),
        &mut widths,
        &mut out,
        MIN_WIDTH,
        PADDING,
    );
    if !ends_with_newline {
        out.pop();
    }
    return out;

    // Go's tabwriter.format: recursively find the blocks of column `widths.len()`.
    fn format_block(
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
        min_width: usize,
        padding: usize,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = min_width;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + padding);
                this += 1;
            }
            widths.push(width);
            format_block(lines, line0, this, widths, out, min_width, padding);
            widths.pop();
            line0 = this;
        }
        write_lines(lines, line0, line1, widths, out);
    }

    fn write_lines(
        lines: &[Vec<&str>],
        from: usize,
        to: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for line in &lines[from..to] {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if j < widths.len() && j + 1 < line.len() {
                    let w = cell.chars().count();
                    out.extend(std::iter::repeat_n(' ', widths[j].saturating_sub(w)));
                }
            }
            out.push('\n');
        }
    }
}

/// A header for a template field that is not one of the record's columns: `RunningFor` →
/// `RUNNING FOR`, `IPAddress` → `IP ADDRESS`, `link_path` → `LINK PATH`.
pub fn header_for(field: &str) -> String {
    let chars: Vec<char> = field.chars().collect();
    let mut out = String::with_capacity(field.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' {
            if !out.ends_with(' ') && !out.is_empty() {
                out.push(' ');
            }
            continue;
        }
        if i > 0 && c.is_uppercase() && !out.ends_with(' ') {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push(' ');
            }
        }
        out.extend(c.to_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Row {
        #[serde(rename = "ID")]
        id: &'static str,
        #[serde(rename = "Names")]
        names: &'static str,
        #[serde(rename = "Image")]
        image: &'static str,
        #[serde(rename = "Labels")]
        labels: std::collections::BTreeMap<&'static str, &'static str>,
        #[serde(rename = "Ports")]
        ports: Vec<u16>,
    }

    impl Record for Row {
        fn columns() -> &'static [Column] {
            const C: &[Column] = &[
                Column::new("ID", "CONTAINER ID"),
                Column::new("Image", "IMAGE"),
                Column::new("Names", "NAMES"),
            ];
            C
        }
    }

    fn rows() -> Vec<Row> {
        vec![
            Row {
                id: "0123456789ab",
                names: "db1",
                image: "redis",
                labels: [("app", "cache"), ("tier", "back")].into(),
                ports: vec![6379],
            },
            Row {
                id: "ba9876543210",
                names: "frontend",
                image: "nginx:latest-and-long",
                labels: Default::default(),
                ports: vec![80, 443],
            },
        ]
    }

    fn render_str(format: &str, rows: &[Row]) -> Result<String, RenderError> {
        let format: Format = format.parse()?;
        let mut out = Vec::new();
        render(&format, rows, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn formats() {
        let cases: &[(&str, &str)] = &[
            (
                "table",
                "CONTAINER ID   IMAGE                   NAMES\n\
                 0123456789ab   redis                   db1\n\
                 ba9876543210   nginx:latest-and-long   frontend\n",
            ),
            (
                "",
                "CONTAINER ID   IMAGE                   NAMES\n\
                 0123456789ab   redis                   db1\n\
                 ba9876543210   nginx:latest-and-long   frontend\n",
            ),
            (
                "json",
                "{\"ID\":\"0123456789ab\",\"Names\":\"db1\",\"Image\":\"redis\",\
                 \"Labels\":{\"app\":\"cache\",\"tier\":\"back\"},\"Ports\":[6379]}\n\
                 {\"ID\":\"ba9876543210\",\"Names\":\"frontend\",\"Image\":\"nginx:latest-and-long\",\
                 \"Labels\":{},\"Ports\":[80,443]}\n",
            ),
            ("{{.Names}}", "db1\nfrontend\n"),
            ("{{.Names}}\\t{{.ID}}", "db1\t0123456789ab\nfrontend\tba9876543210\n"),
            (
                "table {{.Names}}\\t{{.Image}}",
                "NAMES      IMAGE\ndb1        redis\nfrontend   nginx:latest-and-long\n",
            ),
            (
                "table {{.Names}}\\t{{.Labels.app}}\\t{{.Ports}}",
                "NAMES      APP       PORTS\ndb1        cache     [6379]\nfrontend             [80 443]\n",
            ),
            ("{{json .Labels}}", "{\"app\":\"cache\",\"tier\":\"back\"}\n{}\n"),
            ("{{upper .Names}}", "DB1\nFRONTEND\n"),
            (
                "table {{upper .Names}}\\t{{truncate .ID 4}}",
                "NAMES      CONTAINER ID\nDB1        0123\nFRONTEND   ba98\n",
            ),
        ];
        for (format, want) in cases {
            let got = render_str(format, &rows()).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!(got, *want, "format {format:?}");
        }
    }

    #[test]
    fn json_is_the_record_in_field_order() {
        let got = render_str("{{json .}}", &rows()[..1]).unwrap();
        assert!(
            got.starts_with("{\"ID\":\"0123456789ab\",\"Names\":"),
            "{got}"
        );
        assert_eq!(got, render_str("json", &rows()[..1]).unwrap());
    }

    #[test]
    fn empty_lists() {
        assert_eq!(
            render_str("table", &[]).unwrap(),
            "CONTAINER ID   IMAGE     NAMES\n"
        );
        assert_eq!(render_str("json", &[]).unwrap(), "");
        assert_eq!(render_str("{{.Nope}}", &[]).unwrap(), "");
    }

    #[test]
    fn unknown_field_names_the_known_ones() {
        let err = render_str("{{.Name}}", &rows()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template: unknown field \"Name\" (fields: ID, Names, Image, Labels, Ports)"
        );
    }

    #[test]
    fn a_column_that_is_not_a_field_is_an_error() {
        #[derive(serde::Serialize)]
        struct Bad {
            #[serde(rename = "Name")]
            name: &'static str,
        }
        impl Record for Bad {
            fn columns() -> &'static [Column] {
                const C: &[Column] = &[Column::new("Nmae", "NAME")];
                C
            }
        }
        let mut out = Vec::new();
        let err = render(&Format::Table, &[Bad { name: "x" }], &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template: unknown field \"Nmae\" (fields: Name)"
        );
        assert!(out.is_empty(), "nothing printed on error");
    }

    #[test]
    fn bad_templates_fail_to_parse() {
        for (format, want) in [
            ("{{.Names", "unclosed action"),
            ("{{if .Names}}x", "missing {{end}}"),
            ("{{nosuch .Names}}", "function \"nosuch\" not defined"),
            ("{{end}}", "unexpected {{end}}"),
        ] {
            let err = format.parse::<Format>().unwrap_err().to_string();
            assert!(err.contains(want), "{format:?}: {err}");
        }
    }

    #[test]
    fn inspect_shapes() {
        let rows = &rows()[..1];
        let cases: &[(&str, &str)] = &[
            (
                "",
                "[\n    {\n        \"ID\": \"0123456789ab\",\n        \"Names\": \"db1\",\n        \
                 \"Image\": \"redis\",\n        \"Labels\": {\n            \"app\": \"cache\",\n            \
                 \"tier\": \"back\"\n        },\n        \"Ports\": [\n            6379\n        ]\n    }\n]\n",
            ),
            ("json", "{\"ID\":\"0123456789ab\",\"Names\":\"db1\",\"Image\":\"redis\",\
                      \"Labels\":{\"app\":\"cache\",\"tier\":\"back\"},\"Ports\":[6379]}\n"),
            ("{{.Names}} {{.Labels.app}}", "db1 cache\n"),
        ];
        for (format, want) in cases {
            let format: Format = format.parse().unwrap();
            let mut out = Vec::new();
            render_inspect(&format, rows, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{format:?}");
        }
        let mut out = Vec::new();
        render_inspect(&Format::Table, &[] as &[Row], &mut out).unwrap();
        assert_eq!(out, b"[]\n");
    }

    #[test]
    fn progress_is_hidden_off_a_terminal() {
        // cargo runs tests with stderr captured, never a terminal.
        assert!(!std::io::stderr().is_terminal());
        assert!(progress(10, "pulling").is_hidden());
        assert!(progress(0, "waiting").is_hidden());
    }

    #[test]
    fn format_is_a_clap_value() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Args {
            #[arg(long, default_value = "table")]
            format: Format,
        }
        let a = Args::try_parse_from(["x"]).unwrap();
        assert!(matches!(a.format, Format::Table));
        let a = Args::try_parse_from(["x", "--format", "json"]).unwrap();
        assert!(matches!(a.format, Format::Json));
        let a = Args::try_parse_from(["x", "--format", "table {{.Names}}"]).unwrap();
        assert!(a.format.is_table());
        let e = Args::try_parse_from(["x", "--format", "{{.Names"]).unwrap_err();
        assert!(
            e.to_string().contains(
                "'{{.Names' for '--format <FORMAT>': template parsing error: unclosed action"
            ),
            "{e}"
        );
    }

    #[test]
    fn tabwriter_matches_go() {
        let cases: &[(&str, &str)] = &[
            ("a\tb\n", "a         b\n"),
            (
                "a\tb\nlonger-than-ten\tc\n",
                "a                 b\nlonger-than-ten   c\n",
            ),
            // A trailing tab pads the last cell too, as Go's tabwriter does.
            ("a\tb\t\n", "a         b         \n"),
            // A line without a tab ends the column block.
            (
                "aaaaaaaaaaaaa\tb\nx\ny\tz\n",
                "aaaaaaaaaaaaa   b\nx\ny         z\n",
            ),
            // Widths count characters, not bytes.
            ("héllo\tb\n", "héllo     b\n"),
            ("", ""),
            ("no newline\tx", "no newline   x"),
        ];
        for (input, want) in cases {
            assert_eq!(tabwrite(input), *want, "{input:?}");
        }
    }

    #[test]
    fn headers_from_field_names() {
        for (field, want) in [
            ("Names", "NAMES"),
            ("RunningFor", "RUNNING FOR"),
            ("IPAddress", "IP ADDRESS"),
            ("ID", "ID"),
            ("link_path", "LINK PATH"),
            ("Port80", "PORT80"),
            ("app", "APP"),
        ] {
            assert_eq!(header_for(field), want, "{field}");
        }
    }
}
