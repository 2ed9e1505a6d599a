//! A load sweep: one scenario at several offered rates, each run independently.
//!
//! # Invariants
//!
//! - Each rate is the scenario with its workload rescaled by `Workload::with_rate` (the
//!   way the planner's probes rescale it); every rate is validated before any is
//!   simulated ([`scenarios_at`]).
//! - Runs are independent and collected in rate order (rayon preserves it), so a sweep
//!   is the same at any thread count.
//! - The knee is the highest offered load meeting every SLO with every lower load
//!   meeting them too ([`knee`]).

use crate::engine::{RunOutput, SimError, System, run};
use crate::limits::{MAX_RATE_RPS, MIN_RATE_RPS};
use crate::metrics::Distribution;
use crate::scenario::Scenario;
use crate::workload::WorkloadError;
use rayon::prelude::*;
use std::path::PathBuf;

/// Most rates one sweep runs.
pub const MAX_RATES: usize = 1000;

/// A sweep could not run. Fatal.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The workload cannot be rescaled to a rate.
    #[error("{}: sweeping to {rate} requests/s", file.display())]
    Rate {
        /// The scenario file.
        file: PathBuf,
        /// The rate, requests/s.
        rate: f64,
        /// Why.
        #[source]
        source: WorkloadError,
    },
    /// The worker threads cannot start.
    #[error("starting the worker threads")]
    Threads(#[source] rayon::ThreadPoolBuildError),
    /// A run failed.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// Parse a rate list: rates and inclusive `START:STOP:STEP` ranges, comma-separated
/// (`--rates`); sorted and deduplicated, at most [`MAX_RATES`], each in
/// `[MIN_RATE_RPS, MAX_RATE_RPS]` (a range's count is computed before any rate is made).
/// The error names the flag and what is wrong.
pub fn parse_rates(spec: &str) -> Result<Vec<f64>, String> {
    let num = |s: &str, what: &str| -> Result<f64, String> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("--rates {spec}: {what} `{}` is not a number", s.trim()))?;
        if !(v.is_finite() && v > 0.0) {
            return Err(format!(
                "--rates {spec}: {what} `{}` must be a positive number of requests/s",
                s.trim()
            ));
        }
        if what != "step" && !(MIN_RATE_RPS..=MAX_RATE_RPS).contains(&v) {
            return Err(format!(
                "--rates {spec}: {what} `{}` must be in [{MIN_RATE_RPS}, {MAX_RATE_RPS}] requests/s",
                s.trim()
            ));
        }
        Ok(v)
    };
    let mut rates = Vec::new();
    for item in spec.split(',') {
        if item.trim().is_empty() {
            return Err(format!(
                "--rates {spec}: empty item (expected R1,R2,... or START:STOP:STEP)"
            ));
        }
        let parts: Vec<&str> = item.split(':').collect();
        match parts.as_slice() {
            [r] => rates.push(num(r, "rate")?),
            [a, b, c] => {
                let (start, stop, step) = (num(a, "start")?, num(b, "stop")?, num(c, "step")?);
                if stop < start {
                    return Err(format!(
                        "--rates {spec}: range {item}: stop {stop} is below start {start}"
                    ));
                }
                // Counted in f64 first: a tiny step must not overflow the count.
                let count = ((stop - start) / step + 1e-9).floor() + 1.0;
                if count.is_nan() || count > MAX_RATES as f64 {
                    return Err(format!(
                        "--rates {spec}: range {item} has {count:.3e} rates, at most {MAX_RATES}: use a larger step"
                    ));
                }
                let n = count as usize;
                rates.extend((0..n).map(|i| ((start + i as f64 * step) * 1e9).round() / 1e9));
            }
            _ => {
                return Err(format!(
                    "--rates {spec}: `{item}` is neither a rate nor START:STOP:STEP"
                ));
            }
        }
    }
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    if rates.len() > MAX_RATES {
        return Err(format!(
            "--rates {spec}: {} rates, at most {MAX_RATES}",
            rates.len()
        ));
    }
    Ok(rates)
}

/// The scenario at each rate (requests/s), every rate validated before any run.
pub fn scenarios_at(sc: &Scenario, rates: &[f64]) -> Result<Vec<Scenario>, SweepError> {
    rates
        .iter()
        .map(|&rate| {
            let mut s = sc.clone();
            s.workload = sc
                .workload
                .with_rate(rate)
                .map_err(|source| SweepError::Rate {
                    file: sc.file.clone(),
                    rate,
                    source,
                })?;
            Ok(s)
        })
        .collect()
}

/// One rate of the sweep (a row of `sweep.csv`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepPoint {
    /// Offered load, requests/s.
    pub offered_rps: f64,
    /// Requests that arrived.
    pub requests: u64,
    /// Completed.
    pub completed: u64,
    /// Rejected.
    pub rejected: u64,
    /// Unfinished at the end.
    pub unfinished: u64,
    /// Completed requests/s.
    pub throughput_rps: f64,
    /// Requests/s meeting every SLO.
    pub goodput_rps: f64,
    /// Output tokens/s.
    pub output_tokens_per_s: f64,
    /// Output tokens/s per GPU.
    pub output_tokens_per_s_per_gpu: f64,
    /// TTFT p50/p90/p99, ms.
    pub ttft_ms: [f64; 3],
    /// TPOT p50/p90/p99, ms.
    pub tpot_ms: [f64; 3],
    /// E2E p50/p90/p99, ms.
    pub e2e_ms: [f64; 3],
    /// Fraction meeting every SLO.
    pub slo_attainment: f64,
    /// Whether the SLOs hold at the percentile.
    pub slo_met: bool,
    /// GPUs.
    pub gpus: u32,
    /// Aborted by their clients' `timeout-s` (0 without timeouts).
    pub timed_out: u64,
}

impl SweepPoint {
    /// The point of a run at `offered_rps`.
    pub fn of(offered_rps: f64, out: &RunOutput) -> SweepPoint {
        let p = |d: &Distribution| [d.p50, d.p90, d.p99];
        let m = &out.metrics;
        SweepPoint {
            offered_rps,
            requests: m.requests.arrived,
            completed: m.requests.completed,
            rejected: m.requests.rejected,
            unfinished: m.requests.unfinished,
            throughput_rps: m.throughput.requests_per_s,
            goodput_rps: m.slo.goodput_requests_per_s,
            output_tokens_per_s: m.throughput.output_tokens_per_s,
            output_tokens_per_s_per_gpu: m.throughput.output_tokens_per_s_per_gpu,
            ttft_ms: p(&m.ttft_ms),
            tpot_ms: p(&m.tpot_ms),
            e2e_ms: p(&m.e2e_ms),
            slo_attainment: m.slo.attainment,
            slo_met: m.slo.met,
            gpus: out.gpus,
            timed_out: m.requests.timed_out.unwrap_or(0),
        }
    }
}

/// Run `scenarios` (from [`scenarios_at`]) at `rates` on `jobs` threads (0: one per
/// core), in parallel; `progress` is called as each run ends. Points in rate order.
pub fn run_sweep(
    scenarios: &[Scenario],
    rates: &[f64],
    jobs: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<SweepPoint>, SweepError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(SweepError::Threads)?;
    let results: Vec<Result<SweepPoint, SimError>> = pool.install(|| {
        scenarios
            .par_iter()
            .zip(rates.par_iter())
            .map(|(s, &r)| {
                // A point whose queue outgrows the memory budget is overloaded: its
                // partial output, SLOs missed.
                let o = run(s, System::Main, &mut |_| {}).or_else(SimError::into_overloaded);
                progress();
                o.map(|o| SweepPoint::of(r, &o))
            })
            .collect()
    });
    Ok(results.into_iter().collect::<Result<Vec<_>, _>>()?)
}

/// Index of the knee: the highest offered load meeting the SLOs with every lower load
/// meeting them too. `None` when the lowest load already misses.
pub fn knee(points: &[SweepPoint]) -> Option<usize> {
    points
        .iter()
        .take_while(|p| p.slo_met)
        .count()
        .checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(rate: f64, met: bool) -> SweepPoint {
        SweepPoint {
            offered_rps: rate,
            slo_met: met,
            ..SweepPoint::default()
        }
    }

    #[test]
    fn knee_is_the_last_of_the_leading_met_run() {
        assert_eq!(
            knee(&[pt(1.0, true), pt(2.0, true), pt(3.0, false)]),
            Some(1)
        );
        assert_eq!(knee(&[pt(1.0, false), pt(2.0, true)]), None);
        assert_eq!(
            knee(&[pt(1.0, true), pt(2.0, false), pt(3.0, true)]),
            Some(0)
        );
        assert_eq!(knee(&[]), None);
    }

    #[test]
    fn rates_lists_and_ranges() {
        assert_eq!(parse_rates("4,2,2").unwrap(), vec![2.0, 4.0]);
        assert_eq!(parse_rates("2:8:2").unwrap(), vec![2.0, 4.0, 6.0, 8.0]);
        assert_eq!(parse_rates("0.1:0.3:0.1").unwrap(), vec![0.1, 0.2, 0.3]);
        assert_eq!(parse_rates("1,3:4:1").unwrap(), vec![1.0, 3.0, 4.0]);
        for bad in [
            "", "a", "1,,2", "-1", "0", "4:2:1", "1:2", "1:2:0", "1:1e9:1",
        ] {
            assert!(parse_rates(bad).is_err(), "{bad}");
        }
    }
}
