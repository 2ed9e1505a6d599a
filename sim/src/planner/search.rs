//! The rate search: the highest arrival rate at which a deployment still meets its SLOs,
//! found by bisection over simulated rates.
//!
//! # Invariants
//!
//! - A probe simulates the candidate's scenario with the planner's probe workload (the
//!   scenario's, same seed) at one rate. Its length is [`ProbeWorkload::requests`]: at
//!   least a fixed number of requests per instance of the unit, and enough for the
//!   arrivals to span several request lifetimes (a short probe ends before queues and
//!   batches reach their steady state and overstates what a unit sustains). Every probe
//!   of every candidate draws the same random numbers scaled to its rate (common random
//!   numbers; a longer probe extends the same sequence), so differences between
//!   candidates are not sampling noise.
//! - A rate *passes* when the run's `slo.met` holds: attainment >= the target and TTFT
//!   and TPOT at the SLO percentile within their objectives.
//! - The search never probes above the capacity bound (the upper end of the bracket is
//!   assumed to fail), so the rate found is at most the bound. It bisects in log space
//!   between `bound / span` and `bound` (`span` is [`SPAN`], or [`ESTIMATE_SPAN`] for
//!   a unit the role screen estimated) until the bracket is within `precision`
//!   (relative); when nothing passed, it probes the lower end and, if that fails too,
//!   moves the bracket down by `SPAN`, down to `bound / SPAN^(MAX_ROUNDS + 1)` whatever
//!   the first bracket, before giving up with rate 0 (infeasible: the SLOs are not met
//!   even at light load).
//! - Deterministic: the probe sequence depends only on the scenario, the bound, the span
//!   and the precision.

use super::PlanError;
use super::confidence::{Latency, ModelDraws, latency, p_model};
use crate::engine::{System, run_verdict};
use crate::metrics::Metrics;
use crate::scenario::Scenario;
use crate::workload::{Workload, WorkloadFile};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Ratio between the ends of the initial bracket below a capacity bound.
pub const SPAN: f64 = 32.0;
/// Ratio between the ends of the initial bracket of a unit the role screen estimated
/// ([`super::screen`]), below its estimate or below its bound where the estimate is
/// higher: the estimate is `1 +` [`super::screen::SCREEN_MARGIN`] times what the unit's
/// roles sustain, and the 1,142 screened units `plan-large` searches sustain 0.58-0.95
/// of that upper end (docs/performance.md, round 8), so a bracket of 2 holds them and
/// saves the two probes at 1/5.7 and 1/2.4 of it that a bracket of [`SPAN`] spends
/// first; a unit below half of it is still found, one [`SPAN`] lower, at a cost of 13
/// probes instead of 7 (at 3%), and the lowest rate probed is the same as from a bracket
/// of [`SPAN`].
pub const ESTIMATE_SPAN: f64 = 2.0;
/// Steps of [`SPAN`] below a first bracket of [`SPAN`] before a candidate is declared
/// infeasible (the same lowest rate below a narrower first bracket).
const MAX_ROUNDS: u32 = 2;

/// What one probe measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeMetrics {
    /// Arrival rate probed, requests/s.
    pub rate_rps: f64,
    /// Whether the SLOs held.
    pub met: bool,
    /// Fraction of requests within both objectives.
    pub attainment: f64,
    /// Requests/s completed within both objectives.
    pub goodput_rps: f64,
    /// TTFT p50, p90, p99, ms.
    pub ttft_ms: [f64; 3],
    /// TPOT p50, p90, p99, ms.
    pub tpot_ms: [f64; 3],
    /// Output tokens/s per GPU.
    pub output_tokens_per_s_per_gpu: f64,
    /// Decode speed one user sees, tokens/s (1000 / median TPOT; 0 without TPOT samples).
    pub tokens_per_s_per_user: f64,
    /// Probability over the engine model's error that this run meets every SLO
    /// ([`super::confidence::p_model`]; `met` as 0 or 1 without residuals).
    pub p_model: f64,
}

impl ProbeMetrics {
    /// The numbers the planner keeps from a run's metrics at `rate_rps` (its verdict
    /// as `p_model`, no model error).
    pub fn from_metrics(rate_rps: f64, m: &Metrics) -> ProbeMetrics {
        ProbeMetrics {
            p_model: if m.slo.met { 1.0 } else { 0.0 },
            rate_rps,
            met: m.slo.met,
            attainment: m.slo.attainment,
            goodput_rps: m.slo.goodput_requests_per_s,
            ttft_ms: [m.ttft_ms.p50, m.ttft_ms.p90, m.ttft_ms.p99],
            tpot_ms: [m.tpot_ms.p50, m.tpot_ms.p90, m.tpot_ms.p99],
            output_tokens_per_s_per_gpu: m.throughput.output_tokens_per_s_per_gpu,
            tokens_per_s_per_user: if m.tpot_ms.p50 > 0.0 {
                1000.0 / m.tpot_ms.p50
            } else {
                0.0
            },
        }
    }
}

/// The result of one candidate's rate search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// Highest rate found to pass, requests/s (0 when none did).
    pub max_rate_rps: f64,
    /// The probe at that rate.
    pub at_max: Option<ProbeMetrics>,
    /// Simulations run.
    pub probes: u32,
}

/// The workload of a probe: the scenario's, cut to a length that depends on the rate.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeWorkload {
    /// The scenario's `[workload]` table.
    pub file: WorkloadFile,
    /// Folder its relative paths resolve against.
    pub base_dir: PathBuf,
    /// Requests per probe at least.
    pub min_requests: u64,
    /// Simulated seconds the arrivals span at least (`rate x min_duration_s` requests).
    pub min_duration_s: f64,
    /// Requests per probe at most (>= `min_requests` wins).
    pub max_requests: u64,
}

impl ProbeWorkload {
    /// Requests of a probe at `rate_rps`.
    pub fn requests(&self, rate_rps: f64) -> u64 {
        let want = (rate_rps * self.min_duration_s).ceil();
        let want = if want.is_finite() && want > 0.0 {
            want.min(u64::MAX as f64) as u64
        } else {
            0
        };
        want.min(self.max_requests).max(self.min_requests).max(1)
    }

    /// The workload of a probe at `rate_rps` (a trace keeps a smaller cap of its own).
    pub fn at(&self, rate_rps: f64) -> Result<Workload, PlanError> {
        let n = self.requests(rate_rps);
        let mut wf = self.file.clone();
        wf.requests = Some(match wf.requests {
            Some(cap) if wf.trace.is_some() => cap.min(n),
            _ => n,
        });
        let err = |e: crate::workload::WorkloadError| PlanError::Workload {
            message: e.to_string(),
        };
        Workload::from_file(wf, &self.base_dir)
            .map_err(err)?
            .with_rate(rate_rps)
            .map_err(err)
    }
}

/// Simulate `sc` with the probe workload `pw` at `rate_rps`, judged with the model error
/// `draws` (`None`: as simulated).
pub fn probe(
    sc: &Scenario,
    pw: &ProbeWorkload,
    rate_rps: f64,
    draws: Option<&ModelDraws>,
) -> Result<ProbeMetrics, PlanError> {
    probe_flagged(sc, pw, rate_rps, draws).map(|p| p.metrics)
}

/// A probe's numbers, and whether `max-num-seqs` held a request back on some instance
/// during it (when it did not, the run is the one any larger limit gives: see
/// [`super::reuse`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Probed {
    /// What the probe measured.
    pub metrics: ProbeMetrics,
    /// Whether `max-num-seqs` held a request back.
    pub seq_limit_hit: bool,
}

/// [`probe`], with whether `max-num-seqs` held a request back.
pub fn probe_flagged(
    sc: &Scenario,
    pw: &ProbeWorkload,
    rate_rps: f64,
    draws: Option<&ModelDraws>,
) -> Result<Probed, PlanError> {
    let mut s = sc.clone();
    s.workload = pw.at(rate_rps)?;
    judged_run_flagged(&s, rate_rps, draws)
}

/// Simulate `sc` (its main system) and keep the planner's numbers at `rate_rps`, with
/// `p_model` judged over the model error `draws`. An overloaded run (past the memory
/// budget) counts with its partial metrics: bisection probes overload on purpose, and
/// such a probe misses the SLOs, it is not an error.
pub fn judged_run(
    sc: &Scenario,
    rate_rps: f64,
    draws: Option<&ModelDraws>,
) -> Result<ProbeMetrics, PlanError> {
    judged_run_flagged(sc, rate_rps, draws).map(|p| p.metrics)
}

/// [`judged_run`], with whether `max-num-seqs` held a request back.
pub fn judged_run_flagged(
    sc: &Scenario,
    rate_rps: f64,
    draws: Option<&ModelDraws>,
) -> Result<Probed, PlanError> {
    let mut lat: Vec<Latency> = Vec::new();
    let mut sink = |r: &crate::metrics::RequestRecord| {
        if draws.is_some()
            && let Some(l) = latency(r)
        {
            lat.push(l);
        }
    };
    let out = run_verdict(sc, System::Main, &mut sink)
        .or_else(crate::SimError::into_overloaded)
        .map_err(|e| PlanError::Workload {
            message: e.to_string(),
        })?;
    let mut m = ProbeMetrics::from_metrics(rate_rps, &out.metrics);
    m.p_model = p_model(&out.metrics, &lat, &sc.slo, draws);
    Ok(Probed {
        metrics: m,
        seq_limit_hit: out.seq_limit_hit,
    })
}

/// The first bracket's ratio of a unit's rate search: [`ESTIMATE_SPAN`] for a unit the
/// role screen estimated (below its estimate, or below its bound where the estimate is
/// higher), [`SPAN`] below a bound alone.
pub(super) fn first_span(estimate_rps: Option<f64>) -> f64 {
    if estimate_rps.is_some() {
        ESTIMATE_SPAN
    } else {
        SPAN
    }
}

/// The highest rate in `(0, bound_rps]` at which `sc` meets its SLOs, to relative
/// `precision` (e.g. 0.03), by bisection with [`probe`] (see the module invariants).
pub fn max_rate(
    sc: &Scenario,
    pw: &ProbeWorkload,
    bound_rps: f64,
    precision: f64,
    draws: Option<&ModelDraws>,
) -> Result<SearchOutcome, PlanError> {
    max_rate_with(bound_rps, SPAN, precision, &mut |r| probe(sc, pw, r, draws))
}

/// [`max_rate`] over any pass/fail oracle (tests use a synthetic one), its first bracket
/// `[bound_rps / span, bound_rps]` (`span` > 1).
pub fn max_rate_with(
    bound_rps: f64,
    span: f64,
    precision: f64,
    probe: &mut dyn FnMut(f64) -> Result<ProbeMetrics, PlanError>,
) -> Result<SearchOutcome, PlanError> {
    let mut probes = 0u32;
    if !(bound_rps.is_finite() && bound_rps > 0.0) {
        return Ok(SearchOutcome {
            max_rate_rps: 0.0,
            at_max: None,
            probes,
        });
    }
    let ratio = 1.0 + precision.max(1e-4);
    // Between the precision and SPAN (a NaN or infinite span: SPAN).
    let span = if span.is_finite() {
        span.max(ratio).min(SPAN)
    } else {
        SPAN
    };
    // The lowest rate probed, whatever the first bracket: `MAX_ROUNDS` steps of `SPAN`
    // below the first bracket of `SPAN`.
    let floor = bound_rps / SPAN.powi(MAX_ROUNDS as i32 + 1);
    let mut hi = bound_rps;
    let mut lo = bound_rps / span;
    let mut best: Option<ProbeMetrics> = None;
    loop {
        while hi / lo > ratio {
            let mid = (lo * hi).sqrt();
            let m = probe(mid)?;
            probes += 1;
            if m.met {
                lo = mid;
                best = Some(m);
            } else {
                hi = mid;
            }
        }
        if best.is_some() {
            break;
        }
        let m = probe(lo)?;
        probes += 1;
        if m.met {
            best = Some(m);
            break;
        }
        if lo <= floor {
            break;
        }
        hi = lo;
        lo = (lo / SPAN).max(floor);
    }
    Ok(SearchOutcome {
        max_rate_rps: best.as_ref().map_or(0.0, |m| m.rate_rps),
        at_max: best,
        probes,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic probe at `rate`: full attainment and goodput, zero latencies, the
    /// verdict `met` (and `p_model` 1 or 0 with it). For the planner's unit tests.
    pub(crate) fn synthetic(rate: f64, met: bool) -> ProbeMetrics {
        ProbeMetrics {
            rate_rps: rate,
            met,
            attainment: 1.0,
            goodput_rps: rate,
            ttft_ms: [0.0; 3],
            tpot_ms: [0.0; 3],
            output_tokens_per_s_per_gpu: 0.0,
            tokens_per_s_per_user: 0.0,
            p_model: if met { 1.0 } else { 0.0 },
        }
    }

    fn oracle(capacity: f64) -> impl FnMut(f64) -> Result<ProbeMetrics, PlanError> {
        move |r| Ok(synthetic(r, r <= capacity))
    }

    #[test]
    fn finds_a_threshold_within_precision_below_it() {
        for cap in [0.05, 1.0, 3.3, 9.9] {
            let out = max_rate_with(10.0, SPAN, 0.03, &mut oracle(cap)).unwrap();
            assert!(out.max_rate_rps <= cap, "{cap}: {out:?}");
            assert!(out.max_rate_rps >= cap / 1.03, "{cap}: {out:?}");
            assert!(out.probes <= 24, "{cap}: {} probes", out.probes);
        }
    }

    #[test]
    fn infeasible_and_degenerate_bounds_give_zero() {
        let out = max_rate_with(10.0, SPAN, 0.03, &mut oracle(1e-9)).unwrap();
        assert_eq!(out.max_rate_rps, 0.0);
        assert!(out.at_max.is_none());
        let out = max_rate_with(f64::NAN, SPAN, 0.03, &mut oracle(1.0)).unwrap();
        assert_eq!((out.max_rate_rps, out.probes), (0.0, 0));
    }

    #[test]
    fn never_exceeds_the_bound() {
        let out = max_rate_with(2.0, SPAN, 0.03, &mut oracle(100.0)).unwrap();
        assert!(out.max_rate_rps <= 2.0 && out.max_rate_rps >= 2.0 / 1.03);
    }

    #[test]
    fn a_narrow_first_bracket_saves_probes_and_still_finds_low_capacities() {
        // Inside the bracket: two probes fewer than from a bracket of SPAN (just above
        // its lower end, one: every midpoint fails and the end itself is probed).
        let near_end = max_rate_with(10.0, ESTIMATE_SPAN, 0.03, &mut oracle(5.1)).unwrap();
        let wide = max_rate_with(10.0, SPAN, 0.03, &mut oracle(5.1)).unwrap();
        assert_eq!(near_end.max_rate_rps, 5.0);
        assert_eq!(near_end.probes + 1, wide.probes);
        for cap in [6.3, 7.3, 9.9] {
            let wide = max_rate_with(10.0, SPAN, 0.03, &mut oracle(cap)).unwrap();
            let narrow = max_rate_with(10.0, ESTIMATE_SPAN, 0.03, &mut oracle(cap)).unwrap();
            assert!(narrow.max_rate_rps <= cap && narrow.max_rate_rps >= cap / 1.03);
            assert_eq!(narrow.probes + 2, wide.probes, "{cap}: {narrow:?} {wide:?}");
        }
        // Below it: found one SPAN lower, within the precision, in 13 probes.
        for cap in [0.2, 1.0, 4.9] {
            let out = max_rate_with(10.0, ESTIMATE_SPAN, 0.03, &mut oracle(cap)).unwrap();
            assert!(out.max_rate_rps <= cap, "{cap}: {out:?}");
            assert!(out.max_rate_rps >= cap / 1.03, "{cap}: {out:?}");
            assert_eq!(out.probes, 13, "{cap}: {out:?}");
        }
    }

    #[test]
    fn every_first_bracket_reaches_the_same_lowest_rate() {
        let floor = 10.0 / SPAN.powi(MAX_ROUNDS as i32 + 1);
        for span in [SPAN, ESTIMATE_SPAN, 4.0] {
            // Just above the floor: found, within the precision, whatever the bracket.
            let out = max_rate_with(10.0, span, 0.03, &mut oracle(floor * 1.02)).unwrap();
            assert!(
                out.max_rate_rps >= floor && out.max_rate_rps <= floor * 1.02,
                "{span}"
            );
            // Below it: infeasible, and nothing below the floor was probed.
            let mut lowest = f64::INFINITY;
            let out = max_rate_with(10.0, span, 0.03, &mut |r| {
                lowest = lowest.min(r);
                Ok(synthetic(r, r <= floor / 2.0))
            })
            .unwrap();
            assert_eq!(out.max_rate_rps, 0.0, "{span}");
            assert_eq!(lowest, floor, "{span}");
        }
    }

    #[test]
    fn only_screened_units_start_narrow() {
        assert_eq!(first_span(None), SPAN);
        assert_eq!(first_span(Some(3.0)), ESTIMATE_SPAN);
    }

    #[test]
    fn a_span_out_of_range_is_clamped() {
        for span in [f64::INFINITY, f64::NAN, 1e9] {
            let out = max_rate_with(10.0, span, 0.03, &mut oracle(3.3)).unwrap();
            let wide = max_rate_with(10.0, SPAN, 0.03, &mut oracle(3.3)).unwrap();
            assert_eq!(out, wide, "{span}");
        }
        // At most the precision: the lower end is probed alone.
        let out = max_rate_with(10.0, 1.0, 0.03, &mut oracle(100.0)).unwrap();
        assert_eq!(out.probes, 1);
        assert!((out.max_rate_rps - 10.0 / 1.03).abs() < 1e-12);
    }
}
