//! From text to the wire form: TOML parsing with the line of a syntax error, `--set
//! KEY=VALUE` overrides applied to the parsed table, and deserialization into
//! [`ScenarioFile`] with the field path of any error.
//!
//! Invariants: nothing here checks values (that is [`Scenario::from_file`]'s job); every
//! error names the file and the line or field path ([`ScenarioError::Parse`]), or the
//! override at fault ([`ScenarioError::Override`]).
//!
//! [`Scenario::from_file`]: super::Scenario::from_file

use super::{ScenarioError, ScenarioFile};
use std::path::Path;

/// Apply `--set KEY=VALUE` overrides to a parsed TOML document. `KEY` is a dotted path
/// (`deployment.prefill.tp`); `VALUE` is parsed as a TOML value, else taken as a string.
pub fn apply_overrides(doc: &mut toml::Table, sets: &[String]) -> Result<(), ScenarioError> {
    for arg in sets {
        let (key, value) = arg.split_once('=').ok_or_else(|| ScenarioError::Override {
            arg: arg.clone(),
            message: "expected KEY=VALUE".into(),
        })?;
        let key = key.trim();
        let value = parse_toml_value(value.trim());
        set_path(doc, key, value).map_err(|message| ScenarioError::Override {
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
pub fn table_to_file(file: &Path, doc: toml::Table) -> Result<ScenarioFile, ScenarioError> {
    let value = toml::Value::Table(doc);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ScenarioError::Parse {
            file: file.to_path_buf(),
            field: if field.is_empty() || field == "." {
                "(document)".into()
            } else {
                field
            },
            message: e.into_inner().to_string(),
        }
    })
}
