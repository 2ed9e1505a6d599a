//! The scenario's `name`: it names the deployment's Kubernetes objects (`xpyd manifest`,
//! `xpyd plan`'s manifests), Services among them, whose names the API server checks as
//! DNS-1035 labels: lowercase letters, digits and `-`, *starting with a letter*.
//!
//! Invariant: a validated name starts with an ASCII letter, so the label the manifests
//! derive from it (lowercased, other characters turned into `-`, see
//! `xpyd_reports::manifests::spec::dns_label`) is a DNS-1035 label. Other characters are
//! left to that derivation, so names such as `My scenario v2` stay valid.

use super::ScenarioError;
use super::check::Validator;

/// `name` (from the file, or the file's stem when `defaulted`), checked.
pub(super) fn check_name(
    v: &Validator<'_>,
    name: String,
    defaulted: bool,
) -> Result<String, ScenarioError> {
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Ok(name);
    }
    let origin = if defaulted {
        " (the scenario file's name, as the file gives no `name`)"
    } else {
        ""
    };
    Err(v.invalid(
        "name",
        format!(
            "{name:?}{origin} must start with a letter (a-z, A-Z): it names Kubernetes objects, Services among them, whose names must be DNS-1035 labels (lowercase letters, digits and '-', starting with a letter); e.g. \"pd-{}\"",
            suggestion(&name)
        ),
    ))
}

/// `name` as the tail of a suggested valid name: lowercase alphanumerics and `-`.
fn suggestion(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    let s = s.trim_matches('-');
    if s.is_empty() {
        "1".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn names_must_start_with_a_letter() {
        let v = Validator {
            file: Path::new("s.toml"),
        };
        assert_eq!(check_name(&v, "pd-2p1d".into(), false).unwrap(), "pd-2p1d");
        assert_eq!(
            check_name(&v, "My scenario".into(), false).unwrap(),
            "My scenario"
        );
        let e = check_name(&v, "2p1d".into(), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.toml: name: \"2p1d\" must start with a letter"),
            "{e}"
        );
        assert!(e.contains("DNS-1035") && e.contains("\"pd-2p1d\""), "{e}");
        let e = check_name(&v, "-x".into(), true).unwrap_err().to_string();
        assert!(e.contains("the scenario file's name"), "{e}");
        assert!(check_name(&v, String::new(), false).is_err());
    }
}
