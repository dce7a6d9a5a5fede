//! Output: human lines and tables, or JSON Lines with the schema documented in `OUTPUT.md`.
//!
//! Every command produces a list of [`Record`]s (one per VM, job or instance) and a
//! [`Summary`]. In JSON mode each record is one line `{"type":"result",...}` on stdout and the
//! summary is the last line `{"type":"summary",...}`. Progress and logs go to stderr.

use std::io::Write;

use serde::Serialize;
use serde_json::{json, Map, Value as Json};
use wsman_soap::{Epr, Instance, Scalar, Value};

use crate::cli::OutputFormat;
use crate::exit::ExitClass;

/// Version of the JSON schema (bumped on incompatible changes).
pub const SCHEMA_VERSION: u32 = 1;

/// The error part of a failed record.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorInfo {
    /// Exit class name (`invalid_state`, `outcome_unknown`, ...).
    pub class: ExitClass,
    /// The documented exit code of that class.
    pub exit_code: u8,
    /// The full message (cause chain joined with `: `).
    pub message: String,
}

/// The result of one item of a command (one VM on one host, one job, one instance).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Always `"result"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The command (`replication reverse`).
    pub command: String,
    /// The host this item ran against.
    pub host: Option<String>,
    /// The VM as named on the command line (or found by `vm list`).
    pub vm: Option<String>,
    /// True on success.
    pub ok: bool,
    /// Command-specific data (see OUTPUT.md), `null` on failure.
    pub data: Json,
    /// The error on failure, `null` on success.
    pub error: Option<ErrorInfo>,
    /// Wall time for this item, in milliseconds.
    pub elapsed_ms: u64,
    /// Human-only text (not serialised): the line printed for this record.
    #[serde(skip)]
    pub human: String,
}

impl Record {
    /// A successful record.
    pub fn ok(command: &str, host: Option<&str>, vm: Option<&str>, data: Json, human: String) -> Record {
        Record {
            kind: "result",
            command: command.to_owned(),
            host: host.map(str::to_owned),
            vm: vm.map(str::to_owned),
            ok: true,
            data,
            error: None,
            elapsed_ms: 0,
            human,
        }
    }

    /// A failed record.
    pub fn failed(command: &str, host: Option<&str>, vm: Option<&str>, err: &anyhow::Error) -> Record {
        let class = crate::exit::classify(err);
        Record {
            kind: "result",
            command: command.to_owned(),
            host: host.map(str::to_owned),
            vm: vm.map(str::to_owned),
            ok: false,
            data: Json::Null,
            error: Some(ErrorInfo {
                class,
                exit_code: class.code(),
                message: match crate::errors::hint(err) {
                    Some(h) => format!("{err:#}; {h}"),
                    None => format!("{err:#}"),
                },
            }),
            elapsed_ms: 0,
            human: String::new(),
        }
    }

    /// The exit class of this record.
    pub fn class(&self) -> ExitClass {
        self.error.as_ref().map_or(ExitClass::Success, |e| e.class)
    }
}

/// The last JSON line of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `"summary"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The command.
    pub command: String,
    /// Number of result records.
    pub total: usize,
    /// Successful ones.
    pub succeeded: usize,
    /// Failed ones.
    pub failed: usize,
    /// The process exit code.
    pub exit_code: u8,
    /// Its class.
    pub exit_class: ExitClass,
    /// Wall time of the run in milliseconds.
    pub elapsed_ms: u64,
}

impl Summary {
    /// The summary of `records`.
    pub fn of(command: &str, records: &[Record], elapsed_ms: u64) -> Summary {
        let failed = records.iter().filter(|r| !r.ok).count();
        let class = ExitClass::combine(records.iter().map(Record::class));
        Summary {
            kind: "summary",
            schema_version: SCHEMA_VERSION,
            command: command.to_owned(),
            total: records.len(),
            succeeded: records.len() - failed,
            failed,
            exit_code: class.code(),
            exit_class: class,
            elapsed_ms,
        }
    }
}

/// Writes records and the summary in the chosen format (`quiet`: human output leaves out the
/// summary line). Returns the exit class.
#[allow(clippy::too_many_arguments)]
pub fn emit(
    out: &mut dyn Write,
    err: &mut dyn Write,
    format: OutputFormat,
    quiet: bool,
    command: &str,
    records: &[Record],
    elapsed_ms: u64,
    table: Option<&Table>,
) -> std::io::Result<ExitClass> {
    let summary = Summary::of(command, records, elapsed_ms);
    match format {
        OutputFormat::Json => {
            for r in records {
                serde_json::to_writer(&mut *out, r)?;
                out.write_all(b"\n")?;
            }
            serde_json::to_writer(&mut *out, &summary)?;
            out.write_all(b"\n")?;
        }
        OutputFormat::Human | OutputFormat::Wide => {
            if let Some(t) = table {
                t.render(out, Layout::for_output(format))?;
            }
            for r in records {
                match error_line(r) {
                    None if !r.human.is_empty() => writeln!(out, "{}", r.human)?,
                    None => {}
                    Some(line) => writeln!(err, "{line}")?,
                }
            }
            if !quiet && (records.len() > 1 || summary.failed > 0) {
                writeln!(
                    err,
                    "{}: {} ok, {} failed (exit code {})",
                    command, summary.succeeded, summary.failed, summary.exit_code
                )?;
            }
        }
    }
    out.flush()?;
    Ok(summary.exit_class)
}

/// The `error: ...` line of a failed record (human output), `None` for a success.
pub fn error_line(r: &Record) -> Option<String> {
    let e = r.error.as_ref()?;
    Some(format!("error: {}{}", who(r, &e.message), e.message))
}

/// The `VM on HOST: ` in front of an error line, without what the message names already (the
/// domain's messages name the host, often the VM too): each is said once.
fn who(r: &Record, message: &str) -> String {
    let vm =
        r.vm.as_deref()
            .filter(|v| !message.starts_with(&format!("{v} ")) && !message.contains(&format!("'{v}'")));
    let host = r.host.as_deref().filter(|h| !message.contains(*h));
    match (vm, host) {
        (Some(v), Some(h)) => format!("{v} on {h}: "),
        (Some(x), None) | (None, Some(x)) => format!("{x}: "),
        (None, None) => String::new(),
    }
}

/// How a table is laid out: at most `width` columns (`None`: as wide as its cells), and
/// whether the `-o wide` columns are shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// The widest line, in characters.
    pub width: Option<usize>,
    /// Show the wide-only columns.
    pub wide: bool,
}

impl Layout {
    /// The layout for `format`: `-o wide` is full width with every column; human output fits
    /// `$COLUMNS` when set, else the terminal when stdout is one, else (piped, as kubectl) is
    /// not truncated.
    pub fn for_output(format: OutputFormat) -> Layout {
        if format == OutputFormat::Wide {
            return Layout {
                width: None,
                wide: true,
            };
        }
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok());
        let terminal = || {
            use std::io::IsTerminal;
            let out = std::io::stdout();
            if !out.is_terminal() {
                return None;
            }
            terminal_size::terminal_size_of(out).map(|(w, _)| usize::from(w.0))
        };
        Layout {
            width: columns.filter(|c| *c > 0).or_else(terminal),
            wide: false,
        }
    }
}

/// A left-aligned text table for human output.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    /// Columns from this index on are shown only with `-o wide`.
    wide_from: Option<usize>,
    /// Columns of free text (names, hosts, GUIDs): truncated first, down to [`MIN_COLUMN`].
    free: Vec<usize>,
    rows: Vec<Vec<String>>,
}

/// The narrowest a column is truncated to (its heading may be shorter).
const MIN_COLUMN: usize = 8;

impl Table {
    /// A table with these column headings.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            wide_from: None,
            free: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Adds columns shown only with `-o wide` (rows give their cells after the others).
    #[must_use]
    pub fn wide_columns(mut self, header: &[&str]) -> Table {
        self.wide_from = Some(self.header.len());
        self.header.extend(header.iter().map(|s| (*s).to_owned()));
        self
    }

    /// Marks the columns with these headings as free text, truncated before the others.
    #[must_use]
    pub fn free_text(mut self, headings: &[&str]) -> Table {
        self.free = (0..self.header.len())
            .filter(|i| headings.contains(&self.header[*i].as_str()))
            .collect();
        self
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table at full width without the wide-only columns (nothing when it has no rows).
    /// Used by the demo (and this module's tests), so the client-only build has no caller.
    #[cfg_attr(not(feature = "sim"), allow(dead_code))]
    pub fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.render(out, Layout::default())
    }

    /// Writes the table laid out as `layout` says: until a line fits the width, the widest
    /// free-text column gives a character (down to [`MIN_COLUMN`]), then the widest of any
    /// (down to its heading); cut cells end with an ellipsis.
    pub fn render(&self, out: &mut dyn Write, layout: Layout) -> std::io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let shown = match self.wide_from {
            Some(n) if !layout.wide => n,
            _ => self.header.len(),
        };
        let len = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.header[..shown].iter().map(|h| len(h)).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(len(c));
            }
        }
        if let Some(max) = layout.width {
            let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
            let free_floor = |i: usize| {
                if self.free.contains(&i) {
                    len(&self.header[i]).max(MIN_COLUMN)
                } else {
                    usize::MAX
                }
            };
            let heading_floor = |i: usize| len(&self.header[i]).max(1);
            for floor in [&free_floor as &dyn Fn(usize) -> usize, &heading_floor] {
                while total(&widths) > max {
                    // The widest column that can still give a character.
                    let Some((i, _)) = widths
                        .iter()
                        .enumerate()
                        .filter(|(i, w)| **w > floor(*i))
                        .max_by_key(|(i, w)| (**w, std::cmp::Reverse(*i)))
                    else {
                        break;
                    };
                    widths[i] -= 1;
                }
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                let cell = fit(c, *w);
                if i + 1 == widths.len() {
                    s.push_str(&cell);
                } else {
                    s.push_str(&format!("{cell:<w$}  "));
                }
            }
            s.trim_end().to_owned()
        };
        writeln!(out, "{}", line(&self.header))?;
        for r in &self.rows {
            writeln!(out, "{}", line(r))?;
        }
        Ok(())
    }
}

/// `s` in at most `width` characters: cut with an ellipsis when longer.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A time for people: an RFC 3339 timestamp to the second (`2026-11-25T11:00:00.123456Z` is
/// `2026-11-25 11:00:00Z`); anything else as it is.
pub fn human_time(s: &str) -> String {
    let b = s.as_bytes();
    let looks_like_time = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[..4].iter().all(u8::is_ascii_digit);
    if !looks_like_time {
        return s.to_owned();
    }
    let rest = &s[19..];
    let zone = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    format!("{} {}{}", &s[..10], &s[11..19], zone)
}

/// A CIM instance as JSON: `{"class": ..., "properties": {name: value}}`.
pub fn instance_json(i: &Instance) -> Json {
    let mut props = Map::new();
    for p in &i.properties {
        props.insert(p.name.clone(), value_json(&p.value));
    }
    json!({ "class": i.class_name, "properties": props })
}

/// An EPR as JSON: `{"resource_uri": ..., "selectors": {name: value}}`.
pub fn epr_json(e: &Epr) -> Json {
    let sel: Map<String, Json> = e
        .selectors
        .iter()
        .map(|(k, v)| (k.to_owned(), Json::String(v.to_owned())))
        .collect();
    json!({ "address": e.address, "resource_uri": e.resource_uri, "selectors": sel })
}

/// A CIM value as JSON: null, string/number/bool, array, EPR object, or nested instance.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Null | Value::TypedNull { .. } => Json::Null,
        Value::Scalar(s) => scalar_json(s),
        Value::Array(a) => Json::Array(a.iter().map(scalar_json).collect()),
        Value::Reference(e) => epr_json(e),
        Value::Instance(i) => instance_json(i),
        _ => Json::Null,
    }
}

fn scalar_json(s: &Scalar) -> Json {
    match s {
        Scalar::Boolean(b) => Json::Bool(*b),
        Scalar::Uint8(v) => json!(v),
        Scalar::Sint8(v) => json!(v),
        Scalar::Uint16(v) => json!(v),
        Scalar::Sint16(v) => json!(v),
        Scalar::Uint32(v) => json!(v),
        Scalar::Sint32(v) => json!(v),
        Scalar::Uint64(v) => json!(v),
        Scalar::Sint64(v) => json!(v),
        Scalar::Real32(v) => json!(v),
        Scalar::Real64(v) => json!(v),
        Scalar::Char16(c) => Json::String(c.to_string()),
        Scalar::String(s) => Json::String(s.clone()),
        Scalar::Datetime(d) => Json::String(d.to_iso8601()),
        _ => Json::Null,
    }
}

/// Human rendering of an instance: `Class` then `  Name: value` lines.
pub fn instance_human(i: &Instance) -> String {
    let mut s = i.class_name.clone();
    let width = i.properties.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in &i.properties {
        s.push_str(&format!("\n  {:<width$}  {}", p.name, value_human(&p.value)));
    }
    s
}

fn value_human(v: &Value) -> String {
    match v {
        Value::Null | Value::TypedNull { .. } => "(null)".to_owned(),
        Value::Scalar(s) => scalar_human(s),
        Value::Array(a) => format!("[{}]", a.iter().map(scalar_human).collect::<Vec<_>>().join(", ")),
        Value::Reference(e) => {
            let sel: Vec<String> = e.selectors.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{}?{}", e.class_name(), sel.join("&"))
        }
        Value::Instance(i) => instance_human(i).replace('\n', "\n  "),
        _ => String::new(),
    }
}

fn scalar_human(s: &Scalar) -> String {
    match s {
        Scalar::Datetime(d) => human_time(&d.to_iso8601()),
        other => other.to_text(),
    }
}

#[cfg(test)]
mod tests {
    use wsman_soap::SelectorSet;

    use super::*;
    use crate::exit::Classified;

    fn records() -> Vec<Record> {
        let ok = Record::ok(
            "vm start",
            Some("hv1"),
            Some("web01"),
            json!({"state": "Running"}),
            "web01 on hv1: started".into(),
        );
        let err = anyhow::Error::new(Classified::new(ExitClass::InvalidState, "it is running"));
        let bad = Record::failed("vm start", Some("hv1"), Some("db01"), &err.context("start db01"));
        vec![ok, bad]
    }

    #[test]
    fn json_lines_end_with_a_summary() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let class = emit(
            &mut out,
            &mut err,
            OutputFormat::Json,
            false,
            "vm start",
            &records(),
            12,
            None,
        )
        .unwrap();
        assert_eq!(class, ExitClass::InvalidState);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["type"], "result");
        assert_eq!(lines[0]["ok"], true);
        assert_eq!(lines[0]["data"]["state"], "Running");
        assert_eq!(lines[0]["error"], Json::Null);
        assert_eq!(lines[1]["ok"], false);
        assert_eq!(lines[1]["error"]["class"], "invalid_state");
        assert_eq!(lines[1]["error"]["exit_code"], 5);
        assert_eq!(lines[1]["error"]["message"], "start db01: it is running");
        assert_eq!(
            lines[2],
            json!({"type": "summary", "schema_version": 1, "command": "vm start", "total": 2,
            "succeeded": 1, "failed": 1, "exit_code": 5, "exit_class": "invalid_state", "elapsed_ms": 12})
        );
        assert!(err.is_empty());
    }

    #[test]
    fn human_output_puts_errors_on_stderr() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        emit(
            &mut out,
            &mut err,
            OutputFormat::Human,
            false,
            "vm start",
            &records(),
            0,
            None,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "web01 on hv1: started\n");
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "error: db01 on hv1: start db01: it is running\nvm start: 1 ok, 1 failed (exit code 5)\n"
        );
    }

    #[test]
    fn human_errors_do_not_repeat_the_vm_and_host() {
        let e = anyhow::Error::new(Classified::new(
            ExitClass::InvalidState,
            "web01 on hv1 is Running: stop it",
        ));
        let recs = vec![Record::failed("failover prepare", Some("hv1"), Some("web01"), &e)];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        emit(
            &mut out,
            &mut err,
            OutputFormat::Human,
            false,
            "failover prepare",
            &recs,
            0,
            None,
        )
        .unwrap();
        let text = String::from_utf8(err).unwrap();
        assert_eq!(
            text.lines().next(),
            Some("error: web01 on hv1 is Running: stop it")
        );
    }

    /// The values OUTPUT.md lists for `field` (its "field | values" table).
    pub(crate) fn documented_values(field: &str) -> Vec<String> {
        let doc = include_str!("../OUTPUT.md");
        let row = doc
            .lines()
            .find(|l| {
                l.starts_with("| `")
                    && l.split('|')
                        .nth(1)
                        .is_some_and(|c| c.contains(&format!("`{field}`")))
            })
            .unwrap_or_else(|| panic!("OUTPUT.md has no values row for {field}"));
        let cell = row.split('|').nth(2).unwrap();
        cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    }

    #[test]
    fn output_md_lists_every_enumerated_value() {
        use hyperv::{
            EnabledState, JobState, ReplicationAuth, ReplicationHealth, ReplicationMode, ReplicationState,
        };
        use std::collections::BTreeSet;
        fn names<T: std::fmt::Display>(all: &[T]) -> BTreeSet<String> {
            all.iter().map(ToString::to_string).collect()
        }
        let doc = |f: &str| documented_values(f).into_iter().collect::<BTreeSet<String>>();
        assert_eq!(doc("enabled_state"), names(EnabledState::ALL));
        assert_eq!(doc("replication_mode"), names(ReplicationMode::ALL));
        assert_eq!(doc("replication_state"), names(ReplicationState::ALL));
        assert_eq!(doc("replication_health"), names(ReplicationHealth::ALL));
        assert_eq!(doc("authentication"), names(ReplicationAuth::ALL));
        assert_eq!(doc("state"), names(JobState::ALL));
        // Every PowerShell state the domain can derive is listed.
        let mut states = ReplicationState::ALL.to_vec();
        states.push(ReplicationState::from_value(999));
        for m in ReplicationMode::ALL {
            for s in &states {
                let ps = hyperv::PsReplicationState::derive(*m, *s).to_string();
                assert!(
                    doc("ps_replication_state").contains(&ps),
                    "{ps} missing from OUTPUT.md"
                );
            }
        }
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["VM", "STATE"]);
        t.row(vec!["web01".into(), "Running".into()]);
        t.row(vec!["a".into(), "Off".into()]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "VM     STATE\nweb01  Running\na      Off\n"
        );
    }

    #[test]
    fn tables_fit_the_width_with_an_ellipsis_and_wide_shows_more() {
        let mut t = Table::new(&["HOST", "VM", "GUID"])
            .wide_columns(&["EXTRA"])
            .free_text(&["HOST", "GUID"]);
        t.row(vec![
            "hv01.corp.example".into(),
            "web01".into(),
            "019B27EB-2539-411A-92D0-90322B8B9F29".into(),
            "x".into(),
        ]);
        let render = |layout| {
            let mut out = Vec::new();
            t.render(&mut out, layout).unwrap();
            String::from_utf8(out).unwrap()
        };
        let narrow = render(Layout {
            width: Some(40),
            wide: false,
        });
        for l in narrow.lines() {
            assert!(l.chars().count() <= 40, "{l:?}");
        }
        assert!(narrow.contains("  019B27EB-2539-4…\n"), "{narrow}");
        assert!(narrow.contains("hv01.corp.exam…  web01"), "{narrow}");
        assert!(!narrow.contains("EXTRA"));
        let full = render(Layout::default());
        assert!(full.contains("019B27EB-2539-411A-92D0-90322B8B9F29") && !full.contains("EXTRA"));
        let wide = render(Layout {
            width: None,
            wide: true,
        });
        assert!(wide.lines().next().unwrap().ends_with("EXTRA"), "{wide}");
        // Free text gives first: at 40 the VM column is whole; below the free floors, the
        // others give too, never below their headings.
        let tiny = render(Layout {
            width: Some(5),
            wide: false,
        });
        assert_eq!(tiny.lines().nth(1), Some("hv0…  w…  019…"), "{tiny}");
    }

    #[test]
    fn times_for_people_stop_at_the_second() {
        assert_eq!(human_time("2026-12-06T21:32:20.356Z"), "2026-12-06 21:32:20Z");
        assert_eq!(
            human_time("2026-12-06T21:32:20.225323+01:00"),
            "2026-12-06 21:32:20+01:00"
        );
        assert_eq!(human_time("2026-12-06T21:32:20Z"), "2026-12-06 21:32:20Z");
        assert_eq!(human_time("P0DT0H0M1.5S"), "P0DT0H0M1.5S");
        assert_eq!(human_time("-"), "-");
    }

    #[test]
    fn instances_render_as_json_with_types() {
        let epr = Epr::new(
            "http://x/Msvm_ConcreteJob",
            SelectorSet::new().with("InstanceID", "J1"),
        );
        let i = Instance::new("C")
            .with("S", Scalar::String("x".into()))
            .with("N", Scalar::Uint16(7))
            .with("Nil", Value::Null)
            .with("A", Value::Array(vec![Scalar::Boolean(true)]))
            .with("Job", epr);
        assert_eq!(
            instance_json(&i),
            json!({"class": "C", "properties": {"S": "x", "N": 7, "Nil": null, "A": [true],
                "Job": {"address": wsman_soap::ns::ANONYMOUS, "resource_uri": "http://x/Msvm_ConcreteJob", "selectors": {"InstanceID": "J1"}}}})
        );
        assert_eq!(
            instance_human(&i).lines().last().unwrap(),
            "  Job  Msvm_ConcreteJob?InstanceID=J1"
        );
    }
}
