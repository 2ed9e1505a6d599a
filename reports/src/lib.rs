//! Reports: what a run writes for people and tools.
//!
//! - [`summary`]: `summary.json` (the machine-readable answer) and the human summary.
//! - [`csv_out`]: `requests.csv` streamed as requests end, and `timeseries.csv`.
//! - [`manifests`]: Kubernetes manifests (RoleBasedGroup, InferencePool, HPA/KEDA) for a
//!   deployment.
//! - [`tables`]: per-window and per-instance aggregates (polars), CSV or Parquet.
//! - [`charts`]: CDFs, time series, histograms, the Pareto front and heat maps
//!   (plotters), SVG or PNG.
//! - [`html`], [`run_report`], [`sweep`], [`plan_report`]: the self-contained
//!   `report.html` of a run, a load sweep or a plan, and [`rebuild`] to rebuild it from a
//!   folder's CSV and JSON files.
//! - [`assumptions`]: `assumptions.json`, where each step-cost term comes from.
//! - [`plan_files`]: `plan.csv`, `pareto.csv`, `recommendation.json`,
//!   `recommended.toml` and the plan's text summary; [`shard_file`]: a plan shard's
//!   `shard-I-of-N.json`; [`run_outputs`]: everything `xpyd run` writes.
//! - [`schema`]: one declaration per CSV file, used to write it and to read it back.
//! - [`input`]: reading those files back, with errors naming file, line and column.
//! - [`atomic`]: every output goes to a temporary file in the same folder and is renamed
//!   into place only when complete, so an interrupted run never leaves a half-written
//!   output under its final name.
//! - [`openmetrics`]: `xpyd run --openmetrics`, the run's time series as the engine's
//!   Prometheus metrics; [`telemetry`]: `xpyd workload from-prometheus` / `from-log`,
//!   workload sections from production metrics and request logs.
//! - [`staging`]: a command's files are written into a staging folder and put in place
//!   as one unit, so an output folder never mixes two runs.
//!
//! Invariant: outputs are a pure function of the scenario and seed (no wall-clock
//! values, fixed float formatting), so the same inputs give byte-identical files.

pub mod assumptions;
pub mod atomic;
pub mod charts;
pub mod csv_out;
pub mod html;
pub mod input;
pub mod manifests;
pub mod openmetrics;
pub mod plan_files;
pub mod plan_report;
pub mod run_outputs;
pub mod run_report;
pub mod schema;
pub mod serving;
pub mod shard_file;
pub mod staging;
pub mod summary;
pub mod sweep;
pub mod tables;
pub mod telemetry;

use std::path::{Path, PathBuf};

/// What kind of output folder a report is built from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DirKind {
    /// `xpyd run` (`summary.json`).
    Run,
    /// `xpyd sweep` (`sweep.csv`).
    Sweep,
    /// `xpyd plan` (`plan.csv`).
    Plan,
}

impl DirKind {
    /// Detect the kind of `dir` from the files in it.
    pub fn detect(dir: &Path) -> Result<DirKind, input::InputError> {
        if dir.join("sweep.csv").exists() {
            Ok(DirKind::Sweep)
        } else if dir.join("plan.csv").exists() {
            Ok(DirKind::Plan)
        } else if dir.join("summary.json").exists() {
            Ok(DirKind::Run)
        } else {
            Err(input::InputError::UnknownDir {
                path: dir.to_path_buf(),
            })
        }
    }
}

/// Rebuild the tables, charts and `report.html` of the run, sweep or plan in `dir` from
/// its CSV and JSON files; `compare` overlays a second run's latency CDFs (runs only).
/// Returns the kind and the files written.
pub fn rebuild(
    dir: &Path,
    opts: run_report::ReportOptions,
    compare: Option<&Path>,
) -> Result<(DirKind, Vec<PathBuf>), ReportError> {
    let kind = DirKind::detect(dir)?;
    let files = match kind {
        DirKind::Run => {
            let mut inp = run_report::RunInputs::read(dir)?;
            if let Some(other) = compare {
                inp.compare_with(other)?;
            }
            run_report::write(dir, &inp, opts)?
        }
        DirKind::Sweep => sweep::rebuild(dir, opts)?,
        DirKind::Plan => plan_report::rebuild(dir, opts)?,
    };
    Ok((kind, files))
}

/// Create the output folder `dir` (and its parents).
pub fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// An output could not be written. Fatal for the run.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An output folder cannot be created.
    #[error("{}: cannot create output folder", path.display())]
    CreateDir {
        /// The folder.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Creating, writing or renaming a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Writing Parquet failed.
    #[error("{path}: writing Parquet: {message}")]
    Parquet {
        /// The file.
        path: std::path::PathBuf,
        /// The parquet error.
        message: String,
    },
    /// Drawing a chart failed.
    #[error("chart `{chart}`: {message}")]
    Chart {
        /// The chart's title.
        chart: String,
        /// What went wrong.
        message: String,
    },
    /// Aggregating a table failed.
    #[error("{table}: {message}")]
    Table {
        /// The table.
        table: String,
        /// polars' message.
        message: String,
    },
    /// A report input is missing or malformed.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// A scenario written with the outputs (`recommended.toml`) does not load back.
    #[error(transparent)]
    Scenario(#[from] xpyd_sim::ScenarioError),
    /// A simulation whose outputs were being written failed.
    #[error(transparent)]
    Sim(#[from] xpyd_sim::SimError),
    /// The seed replications of the intervals failed.
    #[error(transparent)]
    Replications(#[from] xpyd_sim::interval::ReplicationError),
    /// Building manifests failed.
    #[error("building the manifests")]
    Manifests {
        /// Why.
        #[source]
        source: manifests::ManifestError,
    },
    /// The OpenMetrics file would be too large at the interval asked for.
    #[error("--openmetrics: {message}")]
    OpenMetrics {
        /// What is wrong and the fix.
        message: String,
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
