//! From text to the wire form: TOML parsing with the line of a syntax error, `--set
//! KEY=VALUE` overrides applied to the parsed table, and deserialization into
//! [`ScenarioFile`] with the field path of any error.
//!
//! Invariants: nothing here checks values (that is [`Scenario::from_file`]'s job); every
//! error names the file and the line or the full field path ([`ScenarioError::Parse`]:
//! inside a tagged table the field under it, not the table), or the override at fault
//! ([`ScenarioError::Override`]).
//!
//! [`Scenario::from_file`]: super::Scenario::from_file

use super::{ScenarioError, ScenarioFile};
use std::path::Path;

/// Apply `--set KEY=VALUE` overrides to a parsed TOML document of scenario `file`
/// (which errors name). `KEY` is a dotted path (`deployment.prefill.tp`); `VALUE` is
/// parsed as a TOML value, else taken as a string.
pub fn apply_overrides(
    file: &Path,
    doc: &mut toml::Table,
    sets: &[String],
) -> Result<(), ScenarioError> {
    for arg in sets {
        let (key, value) = arg.split_once('=').ok_or_else(|| ScenarioError::Override {
            file: file.to_path_buf(),
            arg: arg.clone(),
            message: "expected KEY=VALUE".into(),
        })?;
        let key = key.trim();
        let value = parse_toml_value(value.trim());
        set_path(doc, key, value).map_err(|message| ScenarioError::Override {
            file: file.to_path_buf(),
            arg: arg.clone(),
            message,
        })?;
    }
    Ok(())
}

/// Set a dotted path in a TOML table, creating tables on the way.
pub(super) fn set_path(doc: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("malformed key `{key}`"));
    }
    let (last, path) = parts.split_last().expect("split yields at least one part");
    let mut table = doc;
    for (i, part) in path.iter().enumerate() {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("`{}` is not a table", parts[..=i].join("."))),
        };
    }
    table.insert(last.to_string(), value);
    Ok(())
}

fn parse_toml_value(s: &str) -> toml::Value {
    let doc = format!("v = {s}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(s.into())),
        Err(_) => toml::Value::String(s.into()),
    }
}

/// Parse scenario text into the wire form, reporting the field path of any error.
pub fn parse_scenario_text(file: &Path, text: &str) -> Result<toml::Table, ScenarioError> {
    text.parse::<toml::Table>()
        .map_err(|e| ScenarioError::Parse {
            file: file.to_path_buf(),
            field: span_field(text, e.span()),
            message: e.message().to_string(),
        })
}

fn span_field(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => {
            let line = text[..r.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        }
        None => "(document)".into(),
    }
}

/// Deserialize a TOML table into the wire form with field paths in errors.
///
/// Inside an internally tagged table (`kind = ...`: arrivals, lengths, prefixes,
/// autoscalers) serde loses the path at the table; the error's field is then completed
/// from the document (`refine_field`), so it names the field, not the table.
pub fn table_to_file(file: &Path, doc: toml::Table) -> Result<ScenarioFile, ScenarioError> {
    let value = toml::Value::Table(doc);
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = if field.is_empty() || field == "." {
            "(document)".into()
        } else {
            refine_field(&value, &field, &message).unwrap_or(field)
        };
        ScenarioError::Parse {
            file: file.to_path_buf(),
            field,
            message,
        }
    })
}

/// The value at a serde path (`workload.arrival`, `a.points[2]`) of `doc`.
fn value_at<'a>(doc: &'a toml::Value, path: &str) -> Option<&'a toml::Value> {
    let mut v = doc;
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            v = v.as_table()?.get(key)?;
        }
        for idx in indices.split('[').filter(|s| !s.is_empty()) {
            let i: usize = idx.trim_end_matches(']').parse().ok()?;
            v = v.as_array()?.get(i)?;
        }
    }
    Some(v)
}

/// How serde names an unexpected TOML value in `invalid type` / `invalid value`
/// messages (`string "x"`, `integer `-1``, `floating point `1.0``).
fn unexpected(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("string {s:?}"),
        toml::Value::Integer(i) => format!("integer `{i}`"),
        toml::Value::Float(f) => {
            let mut t = f.to_string();
            if !t.contains(['.', 'e', 'E']) && f.is_finite() {
                t.push_str(".0");
            }
            format!("floating point `{t}`")
        }
        toml::Value::Boolean(b) => format!("boolean `{b}`"),
        toml::Value::Datetime(_) => "datetime".into(),
        toml::Value::Array(_) => "sequence".into(),
        toml::Value::Table(_) => "map".into(),
    }
}

/// Every leaf (and sub-table or array) path under `v`, with its value.
fn leaves<'a>(v: &'a toml::Value, at: String, out: &mut Vec<(String, &'a toml::Value)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, x) in t {
                let p = format!("{at}.{k}");
                out.push((p.clone(), x));
                leaves(x, p, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}[{i}]");
                out.push((p.clone(), x));
                leaves(x, p, out);
            }
        }
        _ => {}
    }
}

/// The full path of the field an error at table `field` is about, where the message
/// says: the key of an `unknown field` / `missing field`, or the one value under the
/// table that an `invalid type` / `invalid value` message describes. `None` when the
/// path already names a value that is not a table, or the field cannot be told.
pub(super) fn refine_field(doc: &toml::Value, field: &str, message: &str) -> Option<String> {
    let node = value_at(doc, field)?;
    if !node.is_table() {
        return None;
    }
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let key = rest.split('`').next()?;
            return Some(format!("{field}.{key}"));
        }
    }
    let what = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|p| message.strip_prefix(p))?;
    let what = what.split(", expected").next()?;
    let mut all = Vec::new();
    leaves(node, field.to_string(), &mut all);
    let mut hits = all.into_iter().filter(|(_, v)| unexpected(v) == what);
    match (hits.next(), hits.next()) {
        (Some((p, _)), None) => Some(p),
        _ => None,
    }
}
