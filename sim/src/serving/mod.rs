//! Measured serving runs, read from the files real benchmark tools write, and their
//! replay through the simulator (`xpyd validate --serving`).
//!
//! Layout: one reader per format, each turning a file into [`MeasuredRun`]s:
//! `silicon` (NVIDIA AIConfigurator's silicon-sample CSV, deployment included),
//! `vllm_bench` (`vllm bench serve --save-result` JSON), `aiperf` (AIPerf / genai-perf
//! `profile_export_*.json`) and `inference_perf` (kubernetes-sigs/inference-perf
//! `summary_lifecycle_metrics.json`); [`replay()`](fn@replay) simulates each run and compares.
//!
//! Invariants: a reader never guesses a measured number: a field it needs and cannot read
//! is a [`ServingError`] naming the file and the field path; a run xpyd cannot express
//! (GPU without a profile, model outside the catalog, data or expert parallelism, ...)
//! is read with a [`MeasuredRun::skip`] reason instead, and counts as skipped. Every
//! latency is in milliseconds once read, whatever unit the file used.

mod aiperf;
pub mod decisions;
pub mod fit;
mod fit_moe;
mod inference_perf;
pub mod replay;
pub mod residuals;
mod silicon;
mod vllm_bench;

use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub use fit::{FitOptions, GroupFit, fit};
pub use fit_moe::{MoeTerm, fit_moe_term};
pub use replay::{Compare, Group, ReplayOptions, Report, Row, replay};

/// A file could not be read as a measured serving run. Fatal for the command.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    /// The file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A field is missing or has the wrong type or value.
    #[error("{}: {field}: {message}", file.display())]
    Field {
        /// The file.
        file: PathBuf,
        /// Where in the file: a JSON path (`successes.latency.time_to_first_token.mean`)
        /// or `line N: column`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The file is none of the formats xpyd reads.
    #[error(
        "{}: not a serving benchmark xpyd reads (AIConfigurator silicon CSV, vllm bench serve JSON, AIPerf/genai-perf profile export JSON, inference-perf summary_lifecycle_metrics.json)",
        file.display()
    )]
    UnknownFormat {
        /// The file.
        file: PathBuf,
    },
}

/// The file formats of [`read`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// AIConfigurator's silicon-sample CSV (one run per row, deployment included).
    SiliconCsv,
    /// `vllm bench serve --save-result` JSON.
    VllmBench,
    /// AIPerf `profile_export_aiperf.json` or genai-perf `profile_export_genai_perf.json`.
    Aiperf,
    /// inference-perf `summary_lifecycle_metrics.json`.
    InferencePerf,
}

/// One measured statistic of a latency, ms (`None`: not in the file).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stat {
    /// Mean, ms.
    pub mean: Option<f64>,
    /// Median, ms.
    pub p50: Option<f64>,
    /// 90th percentile, ms.
    pub p90: Option<f64>,
    /// 99th percentile, ms.
    pub p99: Option<f64>,
}

/// The load a run was measured under.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Load {
    /// Closed-loop clients (concurrency), if the run was closed-loop.
    pub clients: Option<u32>,
    /// Open-loop offered rate, requests/s (Poisson), if the run was open-loop.
    pub rate_rps: Option<f64>,
    /// Requests measured (`None`: not in the file).
    pub requests: Option<u64>,
    /// Prompt length, tokens (mean when the run varied it).
    pub input_tokens: Option<u32>,
    /// Output length, tokens (mean when the run varied it).
    pub output_tokens: Option<u32>,
}

/// One measured serving run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeasuredRun {
    /// Identifier (the CSV's `id`, else the file name).
    pub id: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Its format.
    pub format: Format,
    /// Serving engine as measured (`vllm`, `sglang`, `trtllm`; `""` when not recorded).
    pub backend: String,
    /// The engine's version as measured (`""` when not recorded).
    pub backend_version: String,
    /// GPU as measured (`h100`, `h200`, ...; `""` when not recorded).
    pub gpu: String,
    /// `aggregated` or `disaggregated` (`""` when not recorded).
    pub mode: String,
    /// Model as measured (Hugging Face id or xpyd catalog id).
    pub model: String,
    /// The load.
    pub load: Load,
    /// Measured time to first token, ms.
    pub ttft_ms: Stat,
    /// Measured time per output token (after the first), ms.
    pub tpot_ms: Stat,
    /// Measured completed requests per second.
    pub throughput_rps: Option<f64>,
    /// The scenario TOML of the run's own deployment (silicon rows), `None`: take the
    /// deployment from the `--scenario` file.
    pub scenario_toml: Option<String>,
    /// Why the run cannot be simulated (`None`: it can).
    pub skip: Option<String>,
    /// How the run was mapped onto what xpyd models.
    pub notes: Vec<String>,
}

/// A run's mean end-to-end latency from its mean TTFT and TPOT: `ttft + (osl - 1) x tpot`
/// (the first token, then one TPOT per later token), ms.
pub(crate) fn mean_e2e_ms(ttft_ms: f64, tpot_ms: f64, output_tokens: u32) -> f64 {
    ttft_ms + f64::from(output_tokens.saturating_sub(1)) * tpot_ms
}

/// Read the measured runs in `path`, recognising its format from its content.
pub fn read(path: &Path) -> Result<Vec<MeasuredRun>, ServingError> {
    let text = xpyd_models::file::read_text(path, xpyd_models::file::MAX_TEXT_FILE_BYTES).map_err(
        |source| ServingError::Io {
            file: path.to_path_buf(),
            source,
        },
    )?;
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        if trimmed.starts_with("id,") || trimmed.contains("silicon_ttft_ms") {
            return silicon::read(path, &text);
        }
        return Err(ServingError::UnknownFormat {
            file: path.to_path_buf(),
        });
    }
    let doc: Value = serde_json::from_str(&text).map_err(|e| ServingError::Field {
        file: path.to_path_buf(),
        field: format!("line {} column {}", e.line(), e.column()),
        message: e.to_string(),
    })?;
    let j = Json {
        file: path,
        doc: &doc,
    };
    if doc.get("successes").is_some() && doc.get("load_summary").is_some() {
        inference_perf::read(&j)
    } else if doc.get("mean_ttft_ms").is_some() || doc.get("num_prompts").is_some() {
        vllm_bench::read(&j)
    } else if doc.get("time_to_first_token").is_some() || doc.get("request_throughput").is_some() {
        aiperf::read(&j)
    } else {
        Err(ServingError::UnknownFormat {
            file: path.to_path_buf(),
        })
    }
}

/// A parsed JSON file and its name, for readers that report field paths.
struct Json<'a> {
    file: &'a Path,
    doc: &'a Value,
}

impl Json<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> ServingError {
        ServingError::Field {
            file: self.file.to_path_buf(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The value at the dotted `path`, `None` when absent or null.
    fn get(&self, path: &str) -> Option<&Value> {
        let mut v = self.doc;
        for key in path.split('.') {
            v = v.get(key)?;
        }
        (!v.is_null()).then_some(v)
    }

    /// An optional finite, non-negative number at `path`.
    fn num(&self, path: &str) -> Result<Option<f64>, ServingError> {
        match self.get(path) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                _ => Err(self.err(path, format!("{v} is not a finite number >= 0"))),
            },
        }
    }

    /// A required finite, non-negative number at `path`.
    fn req(&self, path: &str) -> Result<f64, ServingError> {
        self.num(path)?
            .ok_or_else(|| self.err(path, "missing (a number is required)"))
    }

    /// The file name, for ids.
    fn stem(&self) -> String {
        self.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A measured length as whole tokens (`None` when absent or below one token).
fn tokens(x: Option<f64>) -> Option<u32> {
    x.map(f64::round)
        .filter(|t| *t >= 1.0 && *t <= f64::from(u32::MAX))
        .map(|t| t as u32)
}
