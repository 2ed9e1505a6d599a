//! Errors of workload configuration and workload data files.
//!
//! Invariant: every variant names where the problem is, either the TOML path of the
//! offending field (`workload.arrival.rate-rps`) or the data file (and, for content errors,
//! its 1-based line and the column or JSON field). All of them are fatal: the scenario
//! cannot run until the user fixes the file.

/// A fatal error in the `[workload]` table or in a data file it names.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A field has an invalid value, is missing, or conflicts with another field (fatal).
    #[error("{field}: {message}")]
    Invalid {
        /// TOML path of the field, e.g. `workload.arrival.rate-rps`.
        field: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// A data file could not be opened, read or decompressed (fatal).
    #[error("{field}: cannot read the file: {source}")]
    Io {
        /// The data file, as resolved against the scenario folder.
        field: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A data file's content is malformed (fatal).
    #[error("{field}:{line}: {column}: {message}")]
    Parse {
        /// The data file (or `builtin:<name>`).
        field: String,
        /// 1-based line of the (decompressed) file; 0 when the whole file is at fault.
        line: u64,
        /// The CSV column or JSON field at fault (`-` when none applies).
        column: String,
        /// What is wrong.
        message: String,
    },
}

impl WorkloadError {
    /// An [`WorkloadError::Invalid`] for the TOML field `field`.
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> WorkloadError {
        WorkloadError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An [`WorkloadError::Io`] for the data file `file`.
    pub(crate) fn io(file: &str, source: std::io::Error) -> WorkloadError {
        WorkloadError::Io {
            field: file.to_owned(),
            source,
        }
    }

    /// A [`WorkloadError::Parse`] at `file:line`, column or field `column`.
    pub(crate) fn parse(
        file: &str,
        line: u64,
        column: impl Into<String>,
        message: impl Into<String>,
    ) -> WorkloadError {
        WorkloadError::Parse {
            field: file.to_owned(),
            line,
            column: column.into(),
            message: message.into(),
        }
    }

    /// The TOML path or data file this error names.
    pub fn field(&self) -> &str {
        match self {
            WorkloadError::Invalid { field, .. }
            | WorkloadError::Io { field, .. }
            | WorkloadError::Parse { field, .. } => field,
        }
    }
}
