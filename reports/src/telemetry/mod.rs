//! Workloads from production telemetry: `xpyd workload from-prometheus` and
//! `xpyd workload from-log`.
//!
//! - [`series`]: reading Prometheus exports (range-query JSON, OpenMetrics or Prometheus
//!   text with timestamps).
//! - [`prometheus`]: from the engines' metrics to a `[workload]` section (arrival-rate
//!   schedule, histogram lengths, shared-prefix parameters).
//! - [`request_log`]: from gateway / OpenAI-compatible request logs (JSONL or CSV) to a
//!   replayable trace and the `[workload]` section that replays it.
//! - [`time`]: calendar timestamps.
//!
//! Invariants: an import is a pure function of its input file and options (series and
//! records are visited in a fixed order, floats summed in that order), so the same file
//! gives byte-identical sections and traces. Every input error is a fatal
//! [`TelemetryError`] naming the file, the line (0 when the fault is in a JSON document,
//! which the field then locates) and the field or column, with the value at fault.

pub mod prometheus;
pub mod request_log;
pub mod series;
pub mod time;

use std::path::{Path, PathBuf};

use serde::Serialize;
use xpyd_sim::workload::{ArrivalFile, Interpolation, WorkloadFile};

/// A fatal problem with a telemetry input or with writing what was inferred.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The input cannot be opened or read, or an output cannot be written (fatal).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input is malformed, too large, or lacks what the import needs (fatal).
    #[error("{}:{line}: {field}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line; 0 when the whole file or a JSON document is at fault.
        line: u64,
        /// The field, column, metric or JSON path at fault (`-` when none applies).
        field: String,
        /// What is wrong, with the value.
        message: String,
    },
    /// The inferred workload does not validate (a bug of the import; fatal).
    #[error("{}: the inferred workload does not load: {source}", path.display())]
    Workload {
        /// The input file.
        path: PathBuf,
        /// Why.
        #[source]
        source: xpyd_sim::workload::WorkloadError,
    },
}

impl TelemetryError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> TelemetryError {
        TelemetryError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parse(
        path: &Path,
        line: u64,
        field: &str,
        message: impl Into<String>,
    ) -> TelemetryError {
        TelemetryError::Parse {
            path: path.to_path_buf(),
            line,
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// What an import inferred: the `[workload]` table, what it wrote besides, and what it
/// noticed (sources, ranges, what was missing and the default used).
#[derive(Clone, Debug)]
pub struct Inferred {
    /// The `[workload]` table.
    pub workload: WorkloadFile,
    /// One line per inference, for people.
    pub notes: Vec<String>,
}

impl Inferred {
    /// The section as TOML: the notes as comments, then `[workload]`. `command` names
    /// what wrote it (first comment line).
    pub fn to_toml(&self, command: &str) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            workload: &'a WorkloadFile,
        }
        let mut s = format!("# Inferred by `{command}`:\n");
        for n in &self.notes {
            s.push_str(&format!("# - {n}\n"));
        }
        s.push('\n');
        // A rate schedule is written by hand, one inline point per line (the serializer
        // would give every point a `[[...points]]` table of its own); the rest is
        // serialized. A WorkloadFile always serializes (plain fields, finite numbers).
        let ser = |w: &WorkloadFile| toml::to_string(&Out { workload: w }).expect("serializes");
        match &self.workload.arrival {
            Some(ArrivalFile::Schedule {
                points,
                interpolation,
                repeat_s,
            }) => {
                s.push_str("[workload]\n");
                if let Some(n) = self.workload.requests {
                    s.push_str(&format!("requests = {n}\n"));
                }
                s.push_str("\n[workload.arrival]\nkind = \"schedule\"\n");
                if let Some(i) = interpolation {
                    let name = match i {
                        Interpolation::Linear => "linear",
                        Interpolation::Step => "step",
                    };
                    s.push_str(&format!("interpolation = \"{name}\"\n"));
                }
                if let Some(r) = repeat_s {
                    s.push_str(&format!("repeat-s = {r:?}\n"));
                }
                s.push_str("points = [\n");
                for p in points {
                    s.push_str(&format!(
                        "    {{ at-s = {:?}, rate-rps = {:?} }},\n",
                        p.at_s, p.rate_rps
                    ));
                }
                s.push_str("]\n\n");
                let rest = ser(&WorkloadFile {
                    requests: None,
                    arrival: None,
                    ..self.workload.clone()
                });
                let rest = rest.strip_prefix("[workload]\n").unwrap_or(&rest);
                s.push_str(rest);
            }
            _ => s.push_str(&ser(&self.workload)),
        }
        s
    }
}

/// The increase of a counter over its samples, as Prometheus' `increase()` counts it
/// without extrapolation: a drop is a reset, after which the new value is the increase.
pub(crate) fn increase(samples: &[(f64, f64)]) -> f64 {
    samples
        .windows(2)
        .map(|w| {
            let (a, b) = (w[0].1, w[1].1);
            if !(a.is_finite() && b.is_finite()) {
                0.0
            } else if b >= a {
                b - a
            } else {
                b
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_counts_resets_as_prometheus_does() {
        assert_eq!(
            increase(&[(0.0, 5.0), (1.0, 8.0), (2.0, 2.0), (3.0, 4.0)]),
            7.0
        );
        assert_eq!(increase(&[(0.0, 5.0)]), 0.0);
    }
}
