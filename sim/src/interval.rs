//! Prediction intervals of a run's headline figures: how far the answer may be off.
//!
//! Two sources of doubt, combined per figure:
//!
//! - **Seed spread** (a finite workload's run-to-run variation): the run is replicated at
//!   `n - 1` more seeds derived from the scenario seed ([`replication_seed`]; replication
//!   0 is the run itself), in parallel. Its half-width is that of a prediction interval
//!   for one more replication, `t(n-1) x sd x sqrt(1 + 1/n)` (Student's t at the
//!   interval's level), in log space for positive figures, additive for shares.
//! - **Model error** (the engine model against real engines): quantiles of the signed
//!   residual `e = ln(predicted / measured)` of replayed serving runs, per engine x GPU x
//!   mode and metric ([`Residuals`], written by `xpyd validate --serving
//!   --write-residuals`, shipped as `sim/data/engine-residuals.csv`). The true value lies
//!   in `predicted x exp(-e)`: between `exp(-q95)` and `exp(-q05)` times the prediction.
//!
//! The two are independent and combined in quadrature on each side. Every interval holds
//! its value (`lo <= value <= hi`): a model-error side that lies wholly above or below
//! the value is widened to reach it, which only raises coverage.
//!
//! Invariants: replications are a pure function of `(scenario, replication count)`:
//! seeds are derived, never drawn from the clock, and results are collected in
//! replication order, so the intervals are the same at any thread count; no reduction
//! runs in parallel.

use crate::engine::{SimError, System, run_streamed};
use crate::metrics::Metrics;
use crate::scenario::{EngineLayer, Scenario, mode_name};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The level of every interval: the share of outcomes it is meant to cover.
pub const LEVEL: f64 = 0.9;

/// Replications of `xpyd run` by default, the run itself included.
pub const DEFAULT_REPLICATIONS: u32 = 4;

/// Most replications a run takes.
pub const MAX_REPLICATIONS: u32 = 200;

/// Fewest replayed runs a residual group needs to be written (and, in the k-fold
/// coverage check, to give a held-out row an interval).
pub const MIN_RESIDUAL_ROWS: usize = 8;

/// The seed of replication `k` of a run at scenario seed `master`: `master` itself for
/// `k = 0`, else SplitMix64 of `(master, k)`, kept to TOML's non-negative integers so
/// that `xpyd run --seed S` reruns any one replication.
pub fn replication_seed(master: u64, k: u32) -> u64 {
    if k == 0 {
        return master;
    }
    let mut z = master ^ u64::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) & (i64::MAX as u64)
}

/// The seeds of `n` replications of a run at `master`, replication 0 first.
pub fn replication_seeds(master: u64, n: u32) -> Vec<u64> {
    (0..n).map(|k| replication_seed(master, k)).collect()
}

/// Replications could not run. Fatal for the command.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The worker threads cannot start.
    #[error("starting the replications' worker threads")]
    Threads(#[source] rayon::ThreadPoolBuildError),
    /// A replication failed.
    #[error("seed replication: {0}")]
    Sim(#[from] SimError),
}

/// Simulate the main system of `sc` at the seeds of replications `1..n` (replication 0
/// is the caller's own run), in parallel on `jobs` threads (0: one per core); metrics in
/// replication order, the same at any `jobs`. An overloaded replication (over the
/// memory budget) counts with its partial metrics, as a sweep point does.
pub fn replicate(sc: &Scenario, n: u32, jobs: usize) -> Result<Vec<Metrics>, ReplicationError> {
    let seeds = replication_seeds(sc.seed, n);
    if seeds.len() < 2 {
        return Ok(Vec::new());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(ReplicationError::Threads)?;
    let runs: Vec<Result<Metrics, SimError>> = pool.install(|| {
        seeds[1..]
            .par_iter()
            .map(|&seed| {
                let mut s = sc.clone();
                s.seed = seed;
                run_streamed(&s, System::Main, &mut |_| {}, &mut |_| {})
                    .or_else(SimError::into_overloaded)
                    .map(|o| o.metrics)
            })
            .collect()
    });
    Ok(runs.into_iter().collect::<Result<_, _>>()?)
}

/// One figure with its interval.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The figure as the run predicts it (the point estimate).
    pub value: f64,
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// The share of outcomes the interval is meant to cover.
    pub level: f64,
}

/// Student's t quantile at 0.95 (a two-sided 90% interval) for `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812, 1.796, 1.782, 1.771,
        1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725, 1.721, 1.717, 1.714, 1.711, 1.708, 1.706,
        1.703, 1.701, 1.699, 1.697,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=40 => 1.684,
        41..=60 => 1.671,
        61..=120 => 1.658,
        _ => 1.645,
    }
}

/// Half-width of a [`LEVEL`] prediction interval for one more replication, from the
/// replications' values: `t(n-1) x sd x sqrt(1 + 1/n)`; 0 with fewer than two values.
pub fn seed_half_width(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    t95(n - 1) * var.sqrt() * (1.0 + 1.0 / n as f64).sqrt()
}

/// A positive figure's interval, in log space: `value` (replication 0), the
/// replications' values `seeds` (replication 0 included) and the model error as offsets
/// `(lo, hi)` of `ln(true / predicted)` (`lo <= 0 <= hi`). A figure of 0 (nothing
/// completed) or a replication at 0 leaves the seed part out of log space: the interval
/// is the replications' range.
pub fn log_interval(value: f64, seeds: &[f64], model: Option<(f64, f64)>) -> Interval {
    let (mlo, mhi) = model.unwrap_or((0.0, 0.0));
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !positive(value) || !seeds.iter().all(|v| positive(*v)) {
        let lo = seeds.iter().copied().fold(value, f64::min);
        let hi = seeds.iter().copied().fold(value, f64::max);
        return Interval {
            value,
            lo: lo * mlo.exp(),
            hi: hi * mhi.exp(),
            level: LEVEL,
        };
    }
    let logs: Vec<f64> = seeds.iter().map(|v| v.ln()).collect();
    let hs = seed_half_width(&logs);
    Interval {
        value,
        lo: value * (-mlo.hypot(hs)).exp(),
        hi: value * mhi.hypot(hs).exp(),
        level: LEVEL,
    }
}

/// A share's interval (in `[0, 1]`), additive: `value`, the replications' values and the
/// share at the model error's ends `(at_lo, at_hi)` (either order).
pub fn share_interval(value: f64, seeds: &[f64], model: Option<(f64, f64)>) -> Interval {
    let r = rate_interval(value, seeds, model);
    Interval {
        hi: r.hi.min(1.0),
        ..r
    }
}

/// A rate's interval (positive, unbounded above), additive: `value`, the replications'
/// values and the rate at the model error's ends `(at_lo, at_hi)` (either order), clamped
/// at 0.
pub fn rate_interval(value: f64, seeds: &[f64], model: Option<(f64, f64)>) -> Interval {
    let hs = seed_half_width(seeds);
    let (a, b) = model.unwrap_or((value, value));
    let below = (value - a.min(b).min(value)).hypot(hs);
    let above = (a.max(b).max(value) - value).hypot(hs);
    Interval {
        value,
        lo: (value - below).max(0.0),
        hi: value + above,
        level: LEVEL,
    }
}

/// The metrics residuals are kept for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResidualMetric {
    /// Mean TTFT.
    Ttft,
    /// Mean TPOT.
    Tpot,
    /// Mean end-to-end latency (`ttft + (osl - 1) x tpot` of measured and predicted).
    E2e,
}

impl ResidualMetric {
    /// Every metric, in file order.
    pub const ALL: [ResidualMetric; 3] = [
        ResidualMetric::Ttft,
        ResidualMetric::Tpot,
        ResidualMetric::E2e,
    ];

    /// The name in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            ResidualMetric::Ttft => "ttft",
            ResidualMetric::Tpot => "tpot",
            ResidualMetric::E2e => "e2e",
        }
    }

    fn from_name(s: &str) -> Option<ResidualMetric> {
        ResidualMetric::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// Quantiles of `e = ln(predicted / measured)` of one engine x GPU x mode and metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResidualRow {
    /// Engine (`vllm`, `sglang`, `trtllm`).
    pub engine: String,
    /// GPU id.
    pub gpu: String,
    /// `aggregated` or `disaggregated`.
    pub mode: String,
    /// The metric.
    pub metric: ResidualMetric,
    /// Replayed runs the quantiles are over.
    pub rows: usize,
    /// Lower end of `e`'s 90% range: its quantile at the split-conformal corrected level
    /// (`serving::residuals::tails`), at or below the 5th percentile (the smallest `e`
    /// of a group of fewer than 19 runs).
    pub q05: f64,
    /// Median of `e`.
    pub q50: f64,
    /// Upper end of `e`'s 90% range (corrected level), at or above the 95th percentile.
    pub q95: f64,
}

impl ResidualRow {
    /// The model error as offsets of `ln(true / predicted)`, `(lo, hi)` with
    /// `lo <= 0 <= hi`: `(-q95, -q05)` widened to hold 0.
    pub fn offsets(&self) -> (f64, f64) {
        offsets(self.q05, self.q95)
    }
}

/// `(-q95, -q05)` widened to hold 0: the model-error offsets of `ln(true / predicted)`.
pub fn offsets(q05: f64, q95: f64) -> (f64, f64) {
    ((-q95).min(0.0), (-q05).max(0.0))
}

/// A residual file could not be read. Fatal for the command.
#[derive(Debug, thiserror::Error)]
pub enum ResidualError {
    /// The file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("{}: line {line}: {message}", file.display())]
    Line {
        /// The file.
        file: PathBuf,
        /// 1-based line of the record.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// The header of a residual file.
pub const RESIDUAL_HEADER: &str = "engine,gpu,mode,metric,rows,q05,q50,q95";

/// The engine model's residual quantiles, per engine x GPU x mode and metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Residuals {
    /// Where they come from (`builtin` or a path).
    pub source: String,
    /// Rows sorted by engine, GPU, mode, metric.
    pub rows: Vec<ResidualRow>,
}

impl Residuals {
    /// The shipped residuals (`sim/data/engine-residuals.csv`).
    pub fn builtin() -> Residuals {
        Residuals::parse(
            Path::new("builtin"),
            include_str!("../data/engine-residuals.csv"),
        )
        .expect("the shipped residual file parses (tested)")
    }

    /// Read a residual file.
    pub fn read(path: &Path) -> Result<Residuals, ResidualError> {
        let text = xpyd_models::file::read_text(path, xpyd_models::file::MAX_TEXT_FILE_BYTES)
            .map_err(|source| ResidualError::Io {
                file: path.to_path_buf(),
                source,
            })?;
        Residuals::parse(path, &text)
    }

    /// Parse a residual file's text (`#` lines are comments); `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Residuals, ResidualError> {
        let mut rdr = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let bad = |line: u64, message: String| ResidualError::Line {
            file: file.to_path_buf(),
            line,
            message,
        };
        let header = rdr
            .headers()
            .map_err(|e| bad(1, e.to_string()))?
            .iter()
            .collect::<Vec<_>>()
            .join(",");
        if header != RESIDUAL_HEADER {
            return Err(bad(
                1,
                format!("header `{header}`, expected `{RESIDUAL_HEADER}`"),
            ));
        }
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| bad(e.position().map_or(0, |p| p.line()), e.to_string()))?;
            let line = rec.position().map_or(0, |p| p.line());
            let metric = ResidualMetric::from_name(&rec[3]).ok_or_else(|| {
                bad(
                    line,
                    format!("metric: `{}` is not one of ttft, tpot, e2e", &rec[3]),
                )
            })?;
            let n: usize = rec[4]
                .parse()
                .map_err(|_| bad(line, format!("rows: `{}` is not an integer >= 1", &rec[4])))?;
            let num = |i: usize, name: &str| -> Result<f64, ResidualError> {
                rec[i]
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && x.abs() <= 20.0)
                    .ok_or_else(|| {
                        bad(
                            line,
                            format!("{name}: `{}` is not a log-ratio in [-20, 20]", &rec[i]),
                        )
                    })
            };
            let (q05, q50, q95) = (num(5, "q05")?, num(6, "q50")?, num(7, "q95")?);
            if n == 0 || !(q05 <= q50 && q50 <= q95) {
                return Err(bad(
                    line,
                    format!(
                        "rows must be >= 1 and q05 <= q50 <= q95 (got {n}, {q05}, {q50}, {q95})"
                    ),
                ));
            }
            rows.push(ResidualRow {
                engine: rec[0].to_owned(),
                gpu: rec[1].to_owned(),
                mode: rec[2].to_owned(),
                metric,
                rows: n,
                q05,
                q50,
                q95,
            });
        }
        rows.sort_by(|a, b| {
            (&a.engine, &a.gpu, &a.mode, a.metric).cmp(&(&b.engine, &b.gpu, &b.mode, b.metric))
        });
        Ok(Residuals {
            source: file.display().to_string(),
            rows,
        })
    }

    /// The file's text: `comment` lines (each prefixed `# `), the header, the rows.
    pub fn to_csv(&self, comment: &[String]) -> String {
        let mut s = String::new();
        for c in comment {
            s.push_str("# ");
            s.push_str(c);
            s.push('\n');
        }
        s.push_str(RESIDUAL_HEADER);
        s.push('\n');
        for r in &self.rows {
            s.push_str(&format!(
                "{},{},{},{},{},{:.4},{:.4},{:.4}\n",
                r.engine,
                r.gpu,
                r.mode,
                r.metric.name(),
                r.rows,
                r.q05,
                r.q50,
                r.q95
            ));
        }
        s
    }

    /// The row of one group and metric.
    pub fn find(
        &self,
        engine: &str,
        gpu: &str,
        mode: &str,
        metric: ResidualMetric,
    ) -> Option<&ResidualRow> {
        self.rows
            .iter()
            .find(|r| r.engine == engine && r.gpu == gpu && r.mode == mode && r.metric == metric)
    }

    /// The residual group a scenario's run belongs to, or why none applies.
    pub fn group_of(&self, sc: &Scenario) -> Result<ModelError, String> {
        let engine = EngineLayer::engine_of(sc.backend);
        let mode = mode_name(&sc.topology);
        let group = format!("{engine}/{}/{mode}", sc.gpu.id);
        if sc.is_heterogeneous() {
            return Err(format!(
                "heterogeneous PD (roles on different GPUs): no measured residuals for {group}"
            ));
        }
        if !sc.engine_layer.origin.starts_with("builtin:") {
            return Err(format!(
                "engine layer {}: the residuals are of the built-in engine layers only",
                sc.engine_layer.origin
            ));
        }
        let pick = |m| self.find(engine, &sc.gpu.id, mode, m).cloned();
        let (ttft, tpot, e2e) = (
            pick(ResidualMetric::Ttft),
            pick(ResidualMetric::Tpot),
            pick(ResidualMetric::E2e),
        );
        match (ttft, tpot, e2e) {
            (Some(ttft), Some(tpot), Some(e2e)) => Ok(ModelError {
                group,
                source: self.source.clone(),
                ttft,
                tpot,
                e2e,
            }),
            _ => Err(format!(
                "no measured residuals for {group} in {} (fewer than {MIN_RESIDUAL_ROWS} replayed runs)",
                self.source
            )),
        }
    }
}

/// The model error that applies to one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelError {
    /// `engine/gpu/mode`.
    pub group: String,
    /// The residual file.
    pub source: String,
    /// TTFT residuals.
    pub ttft: ResidualRow,
    /// TPOT residuals (TPOT and ITL).
    pub tpot: ResidualRow,
    /// End-to-end residuals.
    pub e2e: ResidualRow,
}

/// A latency's intervals: mean and percentiles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyIntervals {
    /// Mean.
    pub mean: Interval,
    /// Median.
    pub p50: Interval,
    /// 90th percentile.
    pub p90: Interval,
    /// 95th percentile.
    pub p95: Interval,
    /// 99th percentile.
    pub p99: Interval,
}

/// Throughput intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThroughputIntervals {
    /// Completed requests per second.
    pub requests_per_s: Interval,
    /// Output tokens per second.
    pub output_tokens_per_s: Interval,
    /// Output tokens per second per GPU.
    pub output_tokens_per_s_per_gpu: Interval,
}

/// SLO intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloIntervals {
    /// Share of arrived requests meeting both objectives.
    pub attainment: Interval,
    /// Requests per second meeting both objectives.
    pub goodput_requests_per_s: Interval,
}

/// The residual group a run's model error came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelErrorSource {
    /// `engine/gpu/mode`.
    pub group: String,
    /// The residual file (`builtin`: the shipped one).
    pub source: String,
    /// Measured runs behind the TTFT, TPOT and E2E quantiles.
    pub rows: [usize; 3],
    /// `ln(true / predicted)` offsets `(lo, hi)` of TTFT, TPOT, E2E.
    pub offsets: [(f64, f64); 3],
}

/// The intervals of a run's headline figures (`summary.json`'s `intervals`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunIntervals {
    /// The intervals' level.
    pub level: f64,
    /// Seed replications, the run itself included.
    pub replications: u32,
    /// Their seeds, replication 0 (the run's) first.
    pub seeds: Vec<u64>,
    /// The model error included (`None`: none applies; `model_error_note` says why).
    pub model_error: Option<ModelErrorSource>,
    /// Why no model error is included (`None` when one is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_error_note: Option<String>,
    /// TTFT, ms (`None`: nothing completed).
    pub ttft_ms: Option<LatencyIntervals>,
    /// TPOT, ms.
    pub tpot_ms: Option<LatencyIntervals>,
    /// ITL, ms.
    pub itl_ms: Option<LatencyIntervals>,
    /// End-to-end latency, ms.
    pub e2e_ms: Option<LatencyIntervals>,
    /// Rates.
    pub throughput: ThroughputIntervals,
    /// SLO attainment and goodput.
    pub slo: SloIntervals,
    /// How the figures were widened, in words.
    pub notes: Vec<String>,
}

/// One completed request's latencies, for the model error's effect on the SLOs.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Latencies {
    /// TTFT, ms.
    pub ttft_ms: f64,
    /// TPOT, ms (`None`: a one-token output).
    pub tpot_ms: Option<f64>,
}

/// The intervals of a run of `sc`: its metrics `main` (replication 0), the other
/// replications' `reps`, the model error (or why none applies) and the latencies of
/// the main run's completed measured requests.
pub fn run_intervals(
    sc: &Scenario,
    main: &Metrics,
    reps: &[Metrics],
    model: Result<ModelError, String>,
    latencies: &[Latencies],
) -> RunIntervals {
    let all: Vec<&Metrics> = std::iter::once(main).chain(reps).collect();
    let vals = |f: &dyn Fn(&Metrics) -> f64| -> Vec<f64> { all.iter().map(|m| f(m)).collect() };
    let offs = model
        .as_ref()
        .ok()
        .map(|m| [m.ttft.offsets(), m.tpot.offsets(), m.e2e.offsets()]);
    let latency = |d: fn(&Metrics) -> &crate::metrics::Distribution, k: usize| {
        if d(main).count == 0 {
            return None;
        }
        // Replications where nothing completed have no such sample.
        let ok: Vec<&&Metrics> = all.iter().filter(|m| d(m).count > 0).collect();
        let one = |f: fn(&crate::metrics::Distribution) -> f64| {
            let seeds: Vec<f64> = ok.iter().map(|m| f(d(m))).collect();
            log_interval(f(d(main)), &seeds, offs.map(|o| o[k]))
        };
        Some(LatencyIntervals {
            mean: one(|x| x.mean),
            p50: one(|x| x.p50),
            p90: one(|x| x.p90),
            p95: one(|x| x.p95),
            p99: one(|x| x.p99),
        })
    };
    let mut notes = Vec::new();
    let closed = matches!(
        sc.workload.mode(),
        crate::workload::ArrivalMode::Closed { .. }
    );
    // Throughput: in a closed loop each client's rate is 1 / (E2E + think), so the E2E
    // error moves it inversely; an open loop's is the offered rate until it saturates.
    let rate_off = match offs {
        Some(o) if closed => Some((-o[2].1, -o[2].0)),
        _ => None,
    };
    if offs.is_some() && !closed {
        notes.push(
            "throughput: seed spread only (open loop: the offered rate, whatever the engine's speed, until it saturates)"
                .to_owned(),
        );
    }
    let rate = |f: fn(&Metrics) -> f64| log_interval(f(main), &vals(&|m| f(m)), rate_off);
    let throughput = ThroughputIntervals {
        requests_per_s: rate(|m| m.throughput.requests_per_s),
        output_tokens_per_s: rate(|m| m.throughput.output_tokens_per_s),
        output_tokens_per_s_per_gpu: rate(|m| m.throughput.output_tokens_per_s_per_gpu),
    };
    // SLOs: the share of the run's completed requests meeting both objectives with every
    // latency moved to the model error's ends (TTFT and TPOT together).
    let slo_cfg = &sc.slo;
    let met_at = |t: f64, p: f64| {
        latencies
            .iter()
            .filter(|l| {
                l.ttft_ms * t <= slo_cfg.ttft_ms
                    && l.tpot_ms.is_none_or(|x| x * p <= slo_cfg.tpot_ms)
            })
            .count()
    };
    let arrived = main.requests.arrived.max(1) as f64;
    let span = if main.throughput.requests_per_s > 0.0 {
        main.requests.completed as f64 / main.throughput.requests_per_s
    } else {
        0.0
    };
    let ends = offs.map(|o| {
        let slow = met_at(o[0].1.exp(), o[1].1.exp());
        let fast = met_at(o[0].0.exp(), o[1].0.exp());
        (slow, fast)
    });
    if offs.is_some() {
        notes.push(
            "SLO attainment and goodput: the run's requests re-judged with TTFT and TPOT at the model error's ends"
                .to_owned(),
        );
    }
    let per_s = |n: usize| if span > 0.0 { n as f64 / span } else { 0.0 };
    let slo = SloIntervals {
        attainment: share_interval(
            main.slo.attainment,
            &vals(&|m| m.slo.attainment),
            ends.map(|(s, f)| (s as f64 / arrived, f as f64 / arrived)),
        ),
        goodput_requests_per_s: rate_interval(
            main.slo.goodput_requests_per_s,
            &vals(&|m| m.slo.goodput_requests_per_s),
            ends.map(|(s, f)| (per_s(s), per_s(f))),
        ),
    };
    if reps.is_empty() {
        notes.push("one replication: no seed spread".to_owned());
    }
    let (model_error, model_error_note) = match model {
        Ok(m) => (
            Some(ModelErrorSource {
                group: m.group.clone(),
                source: m.source.clone(),
                rows: [m.ttft.rows, m.tpot.rows, m.e2e.rows],
                offsets: offs.expect("model error present"),
            }),
            None,
        ),
        Err(why) => (None, Some(why)),
    };
    RunIntervals {
        level: LEVEL,
        replications: all.len() as u32,
        seeds: replication_seeds(sc.seed, all.len() as u32),
        model_error,
        model_error_note,
        ttft_ms: latency(|m| &m.ttft_ms, 0),
        tpot_ms: latency(|m| &m.tpot_ms, 1),
        itl_ms: latency(|m| &m.itl_ms, 1),
        e2e_ms: latency(|m| &m.e2e_ms, 2),
        throughput,
        slo,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_seeds_are_derived_and_distinct() {
        let s = replication_seeds(7, 6);
        assert_eq!(s[0], 7);
        assert_eq!(s, replication_seeds(7, 6));
        let mut u = s.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), 6);
        assert!(s.iter().all(|x| *x <= i64::MAX as u64));
        assert_ne!(replication_seeds(8, 3)[1], s[1]);
    }

    #[test]
    fn t_table_matches_students_t() {
        use statrs::distribution::{ContinuousCDF, StudentsT};
        for df in 1..=30 {
            let t = StudentsT::new(0.0, 1.0, df as f64).unwrap();
            assert!((t.inverse_cdf(0.95) - t95(df)).abs() < 2e-3, "df {df}");
        }
    }

    #[test]
    fn intervals_hold_their_value() {
        let check = |i: Interval| {
            assert!(i.lo <= i.value && i.value <= i.hi, "{i:?}");
            assert_eq!(i.level, LEVEL);
        };
        let seeds = [100.0, 90.0, 120.0, 105.0];
        // A model error wholly on one side (predictions always too high): widened to
        // the value.
        let (lo, hi) = offsets(0.1, 0.4);
        assert_eq!(hi, 0.0);
        assert!(lo < 0.0);
        check(log_interval(100.0, &seeds, Some((lo, hi))));
        check(log_interval(100.0, &seeds, None));
        check(log_interval(0.0, &[0.0, 1.0], None));
        check(share_interval(0.95, &[0.95, 0.9, 1.0], Some((0.7, 0.99))));
        check(share_interval(1.0, &[1.0, 1.0], Some((1.0, 0.8))));
        check(rate_interval(3.0, &[3.0, 2.5, 3.4], Some((2.0, 3.1))));
    }

    #[test]
    fn widths_add_in_quadrature() {
        // No seed spread: the model error alone.
        let i = log_interval(100.0, &[100.0, 100.0], Some((-0.2, 0.3)));
        assert!((i.lo - 100.0 * (-0.2f64).exp()).abs() < 1e-9);
        assert!((i.hi - 100.0 * 0.3f64.exp()).abs() < 1e-9);
        // Seed spread only: t(1) x sd x sqrt(3/2) in log space.
        let s = [100.0, 110.0];
        let i = log_interval(100.0, &s, None);
        let sd = (110f64.ln() - 100f64.ln()).abs() / 2f64.sqrt();
        let h = 6.314 * sd * 1.5f64.sqrt();
        assert!((i.hi - 100.0 * h.exp()).abs() < 1e-9);
        // Both: wider than either.
        let both = log_interval(100.0, &s, Some((-0.2, 0.3)));
        assert!(both.hi > i.hi && both.hi > 100.0 * 0.3f64.exp());
        assert!(share_interval(0.5, &[0.5, 0.5], None).lo == 0.5);
    }

    #[test]
    fn builtin_residuals_parse_and_are_ordered() {
        let r = Residuals::builtin();
        assert!(!r.rows.is_empty());
        for w in r.rows.windows(2) {
            assert!(
                (&w[0].engine, &w[0].gpu, &w[0].mode, w[0].metric)
                    < (&w[1].engine, &w[1].gpu, &w[1].mode, w[1].metric)
            );
        }
        assert!(r.rows.iter().all(|x| x.rows >= MIN_RESIDUAL_ROWS));
        let text = r.to_csv(&[]);
        assert_eq!(
            Residuals::parse(Path::new("builtin"), &text).unwrap().rows,
            r.rows
        );
    }

    #[test]
    fn bad_residual_files_name_line_and_field() {
        let p = Path::new("r.csv");
        let e = Residuals::parse(p, "a,b\n").unwrap_err().to_string();
        assert!(e.contains("r.csv: line 1: header"), "{e}");
        let e = Residuals::parse(
            p,
            &format!("{RESIDUAL_HEADER}\nvllm,h100,aggregated,ttfb,9,0,0,0\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2: metric: `ttfb`"), "{e}");
        let e = Residuals::parse(
            p,
            &format!("{RESIDUAL_HEADER}\nvllm,h100,aggregated,ttft,9,0.5,0,0\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("q05 <= q50 <= q95"), "{e}");
        let e = Residuals::parse(
            p,
            &format!("{RESIDUAL_HEADER}\nvllm,h100,aggregated,ttft,9,x,0,0\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("q05: `x`"), "{e}");
    }
}
