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
use super::file::{ArrivalFile, JointLengthsFile, TraceFile, TraceFormat, WorkloadFile};
use super::length::{LengthDist, LengthRole};
use super::prefix::PrefixSpec;
use super::session::SessionSpec;
use super::trace::TimeScale;
use crate::limits::{
    MAX_RATE_RPS, MAX_REQUESTS, MAX_SECS, MAX_TTFT_CHUNK, MIN_RATE_RPS, TIME_SCALE_RANGE,
};
use crate::time::SimDuration;

/// A validated workload: a synthetic generator or a trace replay.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Requests to generate (synthetic) or the cap on replayed records (trace), warm-up
    /// requests not included.
    pub(super) requests: Option<u64>,
    /// Where requests come from.
    pub(super) source: Source,
    /// Requests issued before the measured ones (simulated, not measured).
    pub(super) warmup: u64,
    /// How long a client waits for a request before aborting it (`None`: forever).
    pub(super) timeout: Option<SimDuration>,
    /// The streamed chunk a client times its first token at (1: the first).
    pub(super) ttft_chunk: u32,
}

/// Longest `timeout-s` accepted: one day.
const MAX_TIMEOUT_S: f64 = 86_400.0;

/// Validates `warmup-requests` and `timeout-s`.
fn client_fields(
    warmup: Option<u64>,
    timeout_s: Option<f64>,
) -> Result<(u64, Option<SimDuration>), WorkloadError> {
    let timeout = match timeout_s {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_S => {
            Some(SimDuration::from_secs_f64(t))
        }
        Some(t) => {
            return Err(WorkloadError::invalid(
                "workload.timeout-s",
                format!("{t} must be a finite number of seconds in (0, {MAX_TIMEOUT_S}]"),
            ));
        }
    };
    let warmup = warmup.unwrap_or(0);
    if warmup > MAX_REQUESTS {
        return Err(WorkloadError::invalid(
            "workload.warmup-requests",
            format!("{warmup} must be in [0, {MAX_REQUESTS}]"),
        ));
    }
    Ok((warmup, timeout))
}

/// Validates `ttft-chunk` (default 1).
fn ttft_chunk(n: Option<u32>) -> Result<u32, WorkloadError> {
    match n {
        None => Ok(1),
        Some(n) if (1..=MAX_TTFT_CHUNK).contains(&n) => Ok(n),
        Some(n) => Err(WorkloadError::invalid(
            "workload.ttft-chunk",
            format!("{n} must be in [1, {MAX_TTFT_CHUNK}]"),
        )),
    }
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
    /// Copies of the selected trace replayed back to back (>= 1; 1 = replay once).
    pub(super) tiles: u64,
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
            warmup_requests,
            timeout_s,
            ttft_chunk: chunk,
        } = w;
        if let Some(n) = requests
            && !(1..=MAX_REQUESTS).contains(&n)
        {
            return Err(WorkloadError::invalid(
                "workload.requests",
                format!("{n} must be in [1, {MAX_REQUESTS}]"),
            ));
        }
        let (warmup, timeout) = client_fields(warmup_requests, timeout_s)?;
        let ttft_chunk = ttft_chunk(chunk)?;
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
                warmup,
                timeout,
                ttft_chunk,
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
            warmup,
            timeout,
            ttft_chunk,
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

    /// The same workload at mean arrival rate `rate_rps`: the one rate setter of every
    /// command (`run --rate`, `sweep --rates`, the planner's probes and its
    /// `recommended.toml`, whose wire form is [`WorkloadFile::with_rate`]). Poisson, gamma
    /// and constant arrivals get the new rate; a schedule is multiplied by
    /// `rate_rps / mean` (its shape kept); with sessions the conversation rate is
    /// `rate_rps / turns-mean`; a trace is rescaled as by `rate-rps`. Errors on a rate that
    /// is not finite and > 0 and on a closed loop (whose load is set by its clients).
    pub fn with_rate(&self, rate_rps: f64) -> Result<Workload, WorkloadError> {
        check_rate(rate_rps)?;
        let source = match &self.source {
            Source::Synthetic {
                arrival,
                lengths,
                prefix,
                sessions,
            } => Source::Synthetic {
                arrival: arrival
                    .with_rate(arrival_rate(rate_rps, sessions.as_ref()))
                    .ok_or_else(closed_loop_rate)?,
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
            warmup: self.warmup,
            timeout: self.timeout,
            ttft_chunk: self.ttft_chunk,
        })
    }

    /// Measured requests to generate; for a trace the cap, `None` meaning every record
    /// replayed. Warm-up requests come on top ([`Self::warmup_requests`]).
    pub fn requests(&self) -> Option<u64> {
        self.requests
    }

    /// Requests issued first, simulated and not measured (`warmup-requests`, default 0).
    pub fn warmup_requests(&self) -> u64 {
        self.warmup
    }

    /// How long a client waits for a request before aborting it (`timeout-s`); `None`
    /// when it waits forever.
    pub fn timeout(&self) -> Option<SimDuration> {
        self.timeout
    }

    /// The streamed chunk at which a client times its first token (`ttft-chunk`, default
    /// 1: the first). Which output token a chunk carries is the engine's
    /// ([`crate::scenario::StreamChunks`]).
    pub fn ttft_chunk(&self) -> u32 {
        self.ttft_chunk
    }

    /// The cap on issued requests: measured plus warm-up (`None`: a whole trace).
    pub(super) fn issued(&self) -> Option<u64> {
        self.requests.map(|r| r.saturating_add(self.warmup))
    }

    /// The client semantics for the summary line: `; N warm-up; timeout X s`, or empty.
    fn describe_clients(&self) -> String {
        let mut s = String::new();
        if self.warmup > 0 {
            s.push_str(&format!("; {} warm-up requests first", self.warmup));
        }
        if let Some(t) = self.timeout {
            s.push_str(&format!("; timeout {} s", t.as_secs_f64()));
        }
        if self.ttft_chunk > 1 {
            s.push_str(&format!("; first token timed at chunk {}", self.ttft_chunk));
        }
        s
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
                format!(
                    "{n} requests, {}; {l}{p}{s}{}",
                    arrival.describe(),
                    self.describe_clients()
                )
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
                let tiles = if t.tiles > 1 {
                    format!(", tiled {} times", t.tiles)
                } else {
                    String::new()
                };
                format!(
                    "trace {} {}, {scale}, from {} s{tiles}, {n}{}",
                    t.format.name(),
                    t.source.label(),
                    t.start_s,
                    self.describe_clients()
                )
            }
        }
    }
}

/// The rate check of [`Workload::with_rate`].
fn check_rate(rate_rps: f64) -> Result<(), WorkloadError> {
    super::arrival::check_rate(rate_rps)
}

/// The error of setting the rate of a closed loop.
fn closed_loop_rate() -> WorkloadError {
    WorkloadError::invalid(
        "workload.arrival",
        "a closed loop has no arrival rate to set (its load is `clients`)",
    )
}

/// The arrival process's mean rate for a request rate of `rate_rps`: with sessions each
/// arrival starts `turns-mean` requests on average.
fn arrival_rate(rate_rps: f64, sessions: Option<&SessionSpec>) -> f64 {
    rate_rps / sessions.map_or(1.0, |s| s.turns_mean)
}

impl WorkloadFile {
    /// The wire form of [`Workload::with_rate`], for scenario files written back (the
    /// planner's `recommended.toml`): `Workload::from_file(w.with_rate(r)?)` equals
    /// `Workload::from_file(w)?.with_rate(r)`, to the bit. Errors as `with_rate` does, and
    /// on an invalid arrival or sessions table.
    pub fn with_rate(&self, rate_rps: f64) -> Result<WorkloadFile, WorkloadError> {
        check_rate(rate_rps)?;
        let mut w = self.clone();
        if let Some(t) = w.trace.as_mut() {
            t.time_scale = None;
            t.rate_rps = Some(rate_rps);
            return Ok(w);
        }
        let sessions = w
            .sessions
            .as_ref()
            .map(SessionSpec::from_file)
            .transpose()?;
        let target = arrival_rate(rate_rps, sessions.as_ref());
        if let Some(a) = w.arrival.as_mut() {
            // Validated as `Workload::from_file` does, for a schedule's mean.
            let typed = Arrival::from_file(a)?;
            match a {
                ArrivalFile::Poisson { rate_rps }
                | ArrivalFile::Gamma { rate_rps, .. }
                | ArrivalFile::Constant { rate_rps } => *rate_rps = target,
                // `RateSchedule::scaled(target / mean)`: each rate times the same factor.
                ArrivalFile::Schedule { points, .. } => {
                    let factor = target / typed.mean_rps().ok_or_else(closed_loop_rate)?;
                    for p in points {
                        p.rate_rps *= factor;
                    }
                }
                ArrivalFile::ClosedLoop { .. } => return Err(closed_loop_rate()),
            }
        }
        Ok(w)
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
            tiles,
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
                let (lo, hi) = TIME_SCALE_RANGE;
                if !(f.is_finite() && (lo..=hi).contains(&f)) {
                    return Err(WorkloadError::invalid(
                        "workload.trace.time-scale",
                        format!("{f} must be in [{lo}, {hi}]"),
                    ));
                }
                TimeScale::Factor(f)
            }
            (None, Some(r)) => {
                if !super::arrival::rate_in_range(r) {
                    return Err(WorkloadError::invalid(
                        "workload.trace.rate-rps",
                        format!("{r:?} must be in [{MIN_RATE_RPS}, {MAX_RATE_RPS}] requests/s"),
                    ));
                }
                TimeScale::RateRps(r)
            }
            (None, None) => TimeScale::Factor(1.0),
        };
        let start_s = start_s.unwrap_or(0.0);
        if !(start_s.is_finite() && (0.0..=MAX_SECS).contains(&start_s)) {
            return Err(WorkloadError::invalid(
                "workload.trace.start-s",
                format!("{start_s} must be in [0, {MAX_SECS}] s"),
            ));
        }
        let tiles = tiles.unwrap_or(1);
        if !(1..=MAX_REQUESTS).contains(&tiles) {
            return Err(WorkloadError::invalid(
                "workload.trace.tiles",
                format!("{tiles} must be in [1, {MAX_REQUESTS}]"),
            ));
        }
        Ok(TraceSpec {
            format,
            source,
            scale,
            start_s,
            tiles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{RatePointFile, TraceFile, TraceFormat};

    /// The wire face keeps a schedule's shape, sets a gamma's rate and rescales a trace
    /// (moved from the planner, whose `recommended.toml` it writes).
    #[test]
    fn set_rate_keeps_the_shape() {
        let w = WorkloadFile {
            arrival: Some(ArrivalFile::Schedule {
                points: vec![
                    RatePointFile {
                        at_s: 0.0,
                        rate_rps: 1.0,
                    },
                    RatePointFile {
                        at_s: 10.0,
                        rate_rps: 3.0,
                    },
                ],
                interpolation: None,
                repeat_s: None,
            }),
            ..WorkloadFile::default()
        };
        let w = w.with_rate(4.0).unwrap();
        let Some(ArrivalFile::Schedule { points, .. }) = &w.arrival else {
            panic!("schedule kept");
        };
        assert_eq!((points[0].rate_rps, points[1].rate_rps), (2.0, 6.0));

        let w = WorkloadFile {
            arrival: Some(ArrivalFile::Gamma {
                rate_rps: 1.0,
                cv: 2.0,
            }),
            ..WorkloadFile::default()
        };
        let w = w.with_rate(7.5).unwrap();
        assert_eq!(
            w.arrival,
            Some(ArrivalFile::Gamma {
                rate_rps: 7.5,
                cv: 2.0
            })
        );

        let w = WorkloadFile {
            trace: Some(TraceFile {
                format: TraceFormat::Mooncake,
                path: "builtin:mooncake-conversation".into(),
                time_scale: Some(0.5),
                rate_rps: None,
                start_s: None,
                tiles: None,
            }),
            ..WorkloadFile::default()
        };
        let t = w.with_rate(3.0).unwrap().trace.unwrap();
        assert_eq!((t.time_scale, t.rate_rps), (None, Some(3.0)));
    }

    /// The wire and typed faces give the same workload, to the bit, for every open kind
    /// (with sessions too), and both refuse a closed loop and a bad rate.
    #[test]
    fn wire_and_typed_rates_agree() {
        let base = r#"
requests = 50
[input-tokens]
kind = "fixed"
tokens = 10
[output-tokens]
kind = "fixed"
tokens = 5
"#;
        let arrivals = [
            "kind = \"poisson\"\nrate-rps = 3.0",
            "kind = \"gamma\"\nrate-rps = 3.0\ncv = 2.5",
            "kind = \"constant\"\nrate-rps = 3.0",
            "kind = \"schedule\"\ninterpolation = \"step\"\npoints = [{ at-s = 0, rate-rps = 3 }, { at-s = 300, rate-rps = 20 }, { at-s = 600, rate-rps = 3 }]",
            "kind = \"schedule\"\nrepeat-s = 100\npoints = [{ at-s = 0, rate-rps = 1 }, { at-s = 30, rate-rps = 7.3 }]",
        ];
        let sessions = ["", "[sessions]\nturns-mean = 3.7\nturn-gap-s = 2.0\n"];
        for a in arrivals {
            for s in sessions {
                let text = format!("{base}{s}[arrival]\n{a}\n");
                let w: WorkloadFile = toml::from_str(&text).unwrap();
                for rate in [0.3, 5.0, 17.25] {
                    let typed = Workload::from_file(w.clone(), Path::new("."))
                        .unwrap()
                        .with_rate(rate)
                        .unwrap();
                    let wire =
                        Workload::from_file(w.with_rate(rate).unwrap(), Path::new(".")).unwrap();
                    assert_eq!(typed, wire, "{a} {s} {rate}");
                }
                assert!(w.with_rate(0.0).is_err());
                assert!(w.with_rate(f64::NAN).is_err());
            }
        }
        let closed: WorkloadFile = toml::from_str(&format!(
            "{base}[arrival]\nkind = \"closed-loop\"\nclients = 3\n"
        ))
        .unwrap();
        assert!(closed.with_rate(1.0).is_err());
        let typed = Workload::from_file(closed, Path::new(".")).unwrap();
        assert!(typed.with_rate(1.0).is_err());
    }
}
