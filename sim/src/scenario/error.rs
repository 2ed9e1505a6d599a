//! [`ScenarioError`]: why a scenario could not be used, and the conversion of the
//! workload errors into it (every other section reports through `check::Validator`).
//!
//! Invariants: every error is fatal (the run does not start) and names the scenario file
//! and the TOML path of the offending field, or the `--set` argument at fault.

use crate::workload::WorkloadError;
use std::path::{Path, PathBuf};

/// A scenario file could not be used. Fatal: the run does not start.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The scenario file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("{file}: {field}: {message}")]
    Parse {
        /// The scenario file.
        file: PathBuf,
        /// TOML path of the offending field (`deployment.prefill.tp`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The scenario file.
        file: PathBuf,
        /// TOML path of the offending field.
        field: String,
        /// What is wrong, with the numbers.
        message: String,
    },
    /// A command-line flag's value cannot be applied to the scenario.
    #[error("{file}: {flag}: {message}")]
    Flag {
        /// The scenario file.
        file: PathBuf,
        /// The flag at fault (`--rate`).
        flag: String,
        /// What is wrong, with the value and what would be accepted.
        message: String,
    },
    /// A `--set KEY=VALUE` override is malformed.
    #[error("{file}: --set {arg}: {message}")]
    Override {
        /// The scenario file the override applies to.
        file: PathBuf,
        /// The override as given.
        arg: String,
        /// What is wrong.
        message: String,
    },
}

pub(super) fn workload_error(file: &Path, e: WorkloadError) -> ScenarioError {
    match e {
        WorkloadError::Invalid { field, message } => ScenarioError::Invalid {
            file: file.to_path_buf(),
            field,
            message,
        },
        // Data-file errors name the data file (and line) in their message.
        other => ScenarioError::Invalid {
            file: file.to_path_buf(),
            field: "workload".into(),
            message: other.to_string(),
        },
    }
}
