//! The validated, typed workload: what [`super::WorkloadFile`] means once checked.
//!
//! Invariants: a [`Workload`] only exists if every field was valid: rates, scales and
//! means are finite and positive, `min <= max`, token counts are >= 1, named data files
//! exist (built-in names are known) and mutually exclusive tables were not combined.
//! Data files are *not* read here; [`super::WorkloadGen::new`] reads them.

use std::path::Path;

use super::arrival::Arrival;
use super::data::DataSource;
use super::error::WorkloadError;
use super::file::{JointLengthsFile, TraceFile, TraceFormat, WorkloadFile};
use super::length::{LengthDist, LengthRole};
use super::prefix::PrefixSpec;
use super::session::SessionSpec;
use super::trace::TimeScale;

/// A validated workload: a synthetic generator or a trace replay.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Requests to generate (synthetic) or the cap on replayed records (trace).
    pub(super) requests: Option<u64>,
    /// Where requests come from.
    pub(super) source: Source,
}

/// Where requests come from.
#[derive(Clone, Debug, PartialEq)]
// One value per scenario, never in a hot path: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
pub(super) enum Source {
    /// Generated arrivals and lengths.
    Synthetic {
        /// The arrival process.
        arrival: Arrival,
        /// The lengths.
        lengths: Lengths,
        /// Shared prompt prefixes, if any.
        prefix: Option<PrefixSpec>,
        /// Multi-turn conversations, if any.
        sessions: Option<SessionSpec>,
    },
    /// A recorded trace.
    Trace(TraceSpec),
}

/// How a synthetic workload draws its lengths.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Lengths {
    /// Input and output drawn independently.
    Independent {
        /// Prompt tokens.
        input: LengthDist,
        /// Output tokens.
        output: LengthDist,
    },
    /// One CSV row gives both.
    Joint {
        /// The table.
        source: DataSource,
        /// Column of prompt tokens.
        input_column: String,
        /// Column of output tokens.
        output_column: String,
    },
}

/// A validated `[workload.trace]`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct TraceSpec {
    /// The file format.
    pub(super) format: TraceFormat,
    /// The file.
    pub(super) source: DataSource,
    /// Time stretching.
    pub(super) scale: TimeScale,
    /// Records before this offset from the first one are skipped, seconds.
    pub(super) start_s: f64,
}

/// The error for a table that must not appear together with `other`.
fn exclusive(field: &str, other: &str) -> WorkloadError {
    WorkloadError::invalid(field, format!("cannot be combined with [{other}]"))
}

impl Workload {
    /// Validates the `[workload]` table; relative data paths resolve against `base_dir`
    /// (the scenario file's folder). Data files must exist but are read later.
    pub fn from_file(w: WorkloadFile, base_dir: &Path) -> Result<Workload, WorkloadError> {
        let WorkloadFile {
            requests,
            arrival,
            input_tokens,
            output_tokens,
            lengths,
            trace,
            prefix,
            sessions,
        } = w;
        if requests == Some(0) {
            return Err(WorkloadError::invalid("workload.requests", "must be >= 1"));
        }
        if let Some(trace) = trace {
            if arrival.is_some() {
                return Err(exclusive("workload.arrival", "workload.trace"));
            }
            if input_tokens.is_some() {
                return Err(exclusive("workload.input-tokens", "workload.trace"));
            }
            if output_tokens.is_some() {
                return Err(exclusive("workload.output-tokens", "workload.trace"));
            }
            if lengths.is_some() {
                return Err(exclusive("workload.lengths", "workload.trace"));
            }
            if prefix.is_some() {
                return Err(exclusive("workload.prefix", "workload.trace"));
            }
            if sessions.is_some() {
                return Err(exclusive("workload.sessions", "workload.trace"));
            }
            return Ok(Workload {
                requests,
                source: Source::Trace(TraceSpec::from_file(trace, base_dir)?),
            });
        }
        let Some(requests) = requests else {
            return Err(WorkloadError::invalid(
                "workload.requests",
                "required for a synthetic workload (how many requests to generate)",
            ));
        };
        let Some(arrival) = arrival else {
            return Err(WorkloadError::invalid(
                "workload.arrival",
                "required: add [workload.arrival] (or replay a [workload.trace])",
            ));
        };
        let arrival = Arrival::from_file(&arrival)?;
        let lengths = match (lengths, input_tokens, output_tokens) {
            (Some(_), Some(_), _) => {
                return Err(exclusive("workload.input-tokens", "workload.lengths"));
            }
            (Some(_), None, Some(_)) => {
                return Err(exclusive("workload.output-tokens", "workload.lengths"));
            }
            (Some(j), None, None) => joint(j, base_dir)?,
            (None, Some(i), Some(o)) => Lengths::Independent {
                input: LengthDist::from_file(
                    &i,
                    "workload.input-tokens",
                    LengthRole::Input,
                    base_dir,
                )?,
                output: LengthDist::from_file(
                    &o,
                    "workload.output-tokens",
                    LengthRole::Output,
                    base_dir,
                )?,
            },
            (None, None, _) => {
                return Err(WorkloadError::invalid(
                    "workload.input-tokens",
                    "required (or [workload.lengths] for joint lengths)",
                ));
            }
            (None, Some(_), None) => {
                return Err(WorkloadError::invalid(
                    "workload.output-tokens",
                    "required (or [workload.lengths] for joint lengths)",
                ));
            }
        };
        let prefix = prefix.as_ref().map(PrefixSpec::from_file).transpose()?;
        let sessions = sessions.as_ref().map(SessionSpec::from_file).transpose()?;
        if let Some(s) = &sessions {
            if matches!(arrival, Arrival::ClosedLoop { .. }) {
                return Err(WorkloadError::invalid(
                    "workload.sessions",
                    "needs an open-loop arrival process (a closed loop's requests have no \
                     conversation to belong to)",
                ));
            }
            if let (Some(b), Some(p)) = (s.block_tokens, &prefix)
                && b != p.block_tokens()
            {
                return Err(WorkloadError::invalid(
                    "workload.sessions.block-tokens",
                    format!(
                        "{b} differs from workload.prefix.block-tokens = {}; give it once",
                        p.block_tokens()
                    ),
                ));
            }
        }
        Ok(Workload {
            requests: Some(requests),
            source: Source::Synthetic {
                arrival,
                lengths,
                prefix,
                sessions,
            },
        })
    }

    /// Open loop (arrivals fixed in advance) or closed loop with this many clients.
    pub fn mode(&self) -> super::ArrivalMode {
        match &self.source {
            Source::Synthetic {
                arrival: Arrival::ClosedLoop { clients, .. },
                ..
            } => super::ArrivalMode::Closed { clients: *clients },
            _ => super::ArrivalMode::Open,
        }
    }

    /// The nominal mean request rate, req/s: the configured rate (a schedule's mean over
    /// one period; with sessions, the conversation rate times `turns-mean`, fewer when
    /// `max-input-tokens` ends conversations early), or a trace's `rate-rps`; `None` for a
    /// closed loop or a trace replayed at its own (or `time-scale`d) pace.
    pub fn rate_rps(&self) -> Option<f64> {
        match &self.source {
            Source::Synthetic {
                arrival, sessions, ..
            } => arrival
                .mean_rps()
                .map(|r| r * sessions.as_ref().map_or(1.0, |s| s.turns_mean)),
            Source::Trace(t) => match t.scale {
                TimeScale::RateRps(r) => Some(r),
                TimeScale::Factor(_) => None,
            },
        }
    }

    /// The same workload at mean arrival rate `rate_rps` (for rate sweeps): synthetic
    /// processes get the new rate (schedules are scaled, keeping their shape), traces are
    /// rescaled as by `rate-rps`. Errors on a rate that is not finite and > 0 and on a
    /// closed loop (whose load is set by its clients).
    pub fn with_rate(&self, rate_rps: f64) -> Result<Workload, WorkloadError> {
        if !(rate_rps.is_finite() && rate_rps > 0.0) {
            return Err(WorkloadError::invalid(
                "workload.arrival.rate-rps",
                format!("{rate_rps} must be a finite rate > 0 requests/s"),
            ));
        }
        let source = match &self.source {
            Source::Synthetic {
                arrival,
                lengths,
                prefix,
                sessions,
            } => Source::Synthetic {
                arrival: arrival
                    .with_rate(rate_rps / sessions.as_ref().map_or(1.0, |s| s.turns_mean))
                    .ok_or_else(|| {
                        WorkloadError::invalid(
                            "workload.arrival",
                            "a closed loop has no arrival rate to set (its load is `clients`)",
                        )
                    })?,
                lengths: lengths.clone(),
                prefix: prefix.clone(),
                sessions: sessions.clone(),
            },
            Source::Trace(t) => Source::Trace(TraceSpec {
                scale: TimeScale::RateRps(rate_rps),
                ..t.clone()
            }),
        };
        Ok(Workload {
            requests: self.requests,
            source,
        })
    }

    /// Requests to generate; for a trace the cap, `None` meaning every record replayed.
    pub fn requests(&self) -> Option<u64> {
        self.requests
    }

    /// One line for the human summary, e.g.
    /// `2000 requests, poisson 10 req/s; input fixed 512 tok; output fixed 128 tok`.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Synthetic {
                arrival,
                lengths,
                prefix,
                sessions,
            } => {
                let n = self.requests.unwrap_or(0);
                let l = match lengths {
                    Lengths::Independent { input, output } => {
                        format!("input {}; output {}", input.describe(), output.describe())
                    }
                    Lengths::Joint {
                        source,
                        input_column,
                        output_column,
                    } => format!(
                        "lengths empirical-joint {} ({input_column}, {output_column})",
                        source.label()
                    ),
                };
                let p = match prefix {
                    Some(p) => format!("; {}", p.describe()),
                    None => String::new(),
                };
                let s = match sessions {
                    Some(s) => format!("; {}", s.describe()),
                    None => String::new(),
                };
                format!("{n} requests, {}; {l}{p}{s}", arrival.describe())
            }
            Source::Trace(t) => {
                let scale = match t.scale {
                    TimeScale::Factor(f) => format!("time-scale {f}"),
                    TimeScale::RateRps(r) => format!("rescaled to {r} req/s"),
                };
                let n = match self.requests {
                    Some(n) => format!("first {n} requests"),
                    None => "all requests".to_owned(),
                };
                format!(
                    "trace {} {}, {scale}, from {} s, {n}",
                    t.format.name(),
                    t.source.label(),
                    t.start_s
                )
            }
        }
    }
}

/// Validates `[workload.lengths]`.
fn joint(j: JointLengthsFile, base_dir: &Path) -> Result<Lengths, WorkloadError> {
    let JointLengthsFile::EmpiricalJoint {
        path,
        input_column,
        output_column,
    } = j;
    let source = DataSource::resolve(&path, base_dir, "workload.lengths.path")?;
    let defaults = match &source {
        DataSource::Builtin(b) => match b.length_columns() {
            Some(c) => Some(c),
            None => {
                return Err(WorkloadError::invalid(
                    "workload.lengths.path",
                    format!("`{path}` is a JSONL trace, not a CSV table"),
                ));
            }
        },
        DataSource::File(_) => None,
    };
    let pick = |given: Option<String>, default: Option<&str>, key: &str| match (given, default) {
        (Some(c), _) => Ok(c),
        (None, Some(d)) => Ok(d.to_owned()),
        (None, None) => Err(WorkloadError::invalid(
            format!("workload.lengths.{key}"),
            "required: the CSV column header",
        )),
    };
    Ok(Lengths::Joint {
        input_column: pick(input_column, defaults.map(|d| d.0), "input-column")?,
        output_column: pick(output_column, defaults.map(|d| d.1), "output-column")?,
        source,
    })
}

impl TraceSpec {
    /// Validates `[workload.trace]`.
    fn from_file(t: TraceFile, base_dir: &Path) -> Result<TraceSpec, WorkloadError> {
        let TraceFile {
            format,
            path,
            time_scale,
            rate_rps,
            start_s,
        } = t;
        let source = DataSource::resolve(&path, base_dir, "workload.trace.path")?;
        if let DataSource::Builtin(b) = &source {
            match b.trace_format() {
                Some(f) if f == format => {}
                Some(f) => {
                    return Err(WorkloadError::invalid(
                        "workload.trace.format",
                        format!("`{path}` is a {} trace, not {}", f.name(), format.name()),
                    ));
                }
                None => {
                    return Err(WorkloadError::invalid(
                        "workload.trace.path",
                        format!(
                            "`{path}` has no timestamps; use it in [workload.lengths] \
                             (kind = \"empirical-joint\") with an arrival process"
                        ),
                    ));
                }
            }
        }
        let scale = match (time_scale, rate_rps) {
            (Some(_), Some(_)) => {
                return Err(WorkloadError::invalid(
                    "workload.trace.rate-rps",
                    "give either time-scale or rate-rps, not both",
                ));
            }
            (Some(f), None) => {
                if !(f.is_finite() && f > 0.0) {
                    return Err(WorkloadError::invalid(
                        "workload.trace.time-scale",
                        format!("{f} must be finite and > 0"),
                    ));
                }
                TimeScale::Factor(f)
            }
            (None, Some(r)) => {
                if !(r.is_finite() && r > 0.0) {
                    return Err(WorkloadError::invalid(
                        "workload.trace.rate-rps",
                        format!("{r} must be a finite rate > 0 requests/s"),
                    ));
                }
                TimeScale::RateRps(r)
            }
            (None, None) => TimeScale::Factor(1.0),
        };
        let start_s = start_s.unwrap_or(0.0);
        if !(start_s.is_finite() && start_s >= 0.0) {
            return Err(WorkloadError::invalid(
                "workload.trace.start-s",
                format!("{start_s} must be finite and >= 0 s"),
            ));
        }
        Ok(TraceSpec {
            format,
            source,
            scale,
            start_s,
        })
    }
}
