//! Reports: what a run writes for people and tools.
//!
//! - [`summary`]: `summary.json` (the machine-readable answer) and the human summary.
//! - [`csv_out`]: `requests.csv` streamed as requests end, and `timeseries.csv`.
//! - [`manifests`]: Kubernetes manifests (RoleBasedGroup, InferencePool, HPA/KEDA) for a
//!   deployment.
//! - [`atomic`]: every output goes to a temporary file in the same folder and is renamed
//!   into place only when complete, so an interrupted run never leaves a half-written
//!   output under its final name.
//!
//! Invariant: outputs are a pure function of the scenario and seed (no wall-clock
//! values, fixed float formatting), so the same inputs give byte-identical files.

pub mod atomic;
pub mod csv_out;
pub mod manifests;
pub mod summary;

/// An output could not be written. Fatal for the run.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Creating, writing or renaming a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Writing CSV failed.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: std::path::PathBuf,
        /// The CSV error.
        source: csv::Error,
    },
}
