//! What a run measured: per-request records (streamed to a sink as requests end),
//! latency distributions, throughput, SLO attainment and goodput, and the per-instance
//! time series.
//!
//! Definitions (the engines' and `vllm bench serve`'s):
//! - TTFT: arrival to the first output token reaching the user. In PD the first token
//!   travels with the KV, so it reaches the user when the transfer completes.
//! - TPOT: `(e2e - ttft) / (output_tokens - 1)`; undefined for single-token outputs.
//! - ITL: every gap between consecutive tokens of a request, pooled over requests.
//! - E2E: arrival to the last token. Queue: arrival to the start of the first prefill
//!   step. KV transfer: time moving KV (after connector setup).
//! - Percentiles: linear interpolation between closest ranks (NumPy's default, Hyndman &
//!   Fan type 7), exact over every sample.
//! - Throughput divides by the makespan: from time 0 to the last completion.
//! - SLO attainment: completed requests meeting both TTFT and TPOT objectives over all
//!   arrived requests; goodput is those requests per second of makespan.
//!
//! Invariant: `arrived = completed + rejected + unfinished`.

use serde::Serialize;

/// How a request ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every output token produced.
    Completed,
    /// Refused at arrival (longer than the model or the KV cache allows).
    Rejected,
    /// Still in flight when the simulation stopped.
    Unfinished,
}

/// One request's numbers, as written to `requests.csv`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestRecord {
    /// Arrival order.
    pub id: u64,
    /// Arrival, seconds.
    pub arrival_s: f64,
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Output tokens requested.
    pub output_tokens: u32,
    /// Prompt tokens served from a prefix cache.
    pub cached_tokens: u32,
    /// Instance that computed the prompt.
    pub prefill_instance: Option<u16>,
    /// Instance that decoded.
    pub decode_instance: Option<u16>,
    /// TTFT, ms.
    pub ttft_ms: Option<f64>,
    /// TPOT, ms.
    pub tpot_ms: Option<f64>,
    /// E2E latency, ms.
    pub e2e_ms: Option<f64>,
    /// Queueing before the first prefill step, ms.
    pub queue_ms: Option<f64>,
    /// KV transfer time, ms.
    pub kv_transfer_ms: Option<f64>,
    /// Whether it met both SLOs (empty unless completed).
    pub slo_met: Option<bool>,
    /// How it ended.
    pub outcome: Outcome,
    /// Times it was preempted.
    pub preemptions: u32,
}

/// Mean and percentiles of a latency, ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Distribution {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Percentile `p` (0-100) of ascending `sorted` values by linear interpolation between
/// closest ranks; 0 for no data.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let rank = p / 100.0 * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

/// Percentile of weighted samples `(value, weight)` sorted by value, by the same rule as
/// [`percentile_sorted`] over the expanded sample.
fn percentile_weighted(sorted: &[(f64, u64)], total: u64, p: f64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let rank = p / 100.0 * (total - 1) as f64;
    let lo = rank.floor() as u64;
    let frac = rank - lo as f64;
    let at = |k: u64| -> f64 {
        let mut seen = 0u64;
        for &(v, w) in sorted {
            seen += w;
            if k < seen {
                return v;
            }
        }
        sorted.last().map_or(0.0, |x| x.0)
    };
    let a = at(lo);
    if frac == 0.0 {
        a
    } else {
        a + (at((lo + 1).min(total - 1)) - a) * frac
    }
}

impl Distribution {
    /// Summarise samples (any order).
    pub fn from_samples(mut v: Vec<f64>) -> Distribution {
        if v.is_empty() {
            return Distribution::default();
        }
        // Unstable is exact here: values equal under `total_cmp` are bit-identical, so
        // every sorted order is the same sequence (and sums the same).
        v.sort_unstable_by(f64::total_cmp);
        let sum: f64 = v.iter().sum();
        Distribution {
            count: v.len() as u64,
            mean: sum / v.len() as f64,
            p50: percentile_sorted(&v, 50.0),
            p90: percentile_sorted(&v, 90.0),
            p95: percentile_sorted(&v, 95.0),
            p99: percentile_sorted(&v, 99.0),
        }
    }

    /// Summarise weighted samples `(value, weight)`.
    pub fn from_weighted(mut v: Vec<(f64, u64)>) -> Distribution {
        let total: u64 = v.iter().map(|x| x.1).sum();
        if total == 0 {
            return Distribution::default();
        }
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let sum: f64 = v.iter().map(|&(x, w)| x * w as f64).sum();
        Distribution {
            count: total,
            mean: sum / total as f64,
            p50: percentile_weighted(&v, total, 50.0),
            p90: percentile_weighted(&v, total, 90.0),
            p95: percentile_weighted(&v, total, 95.0),
            p99: percentile_weighted(&v, total, 99.0),
        }
    }
}

/// Request counts by outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RequestCounts {
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests completed.
    pub completed: u64,
    /// Requests rejected at arrival.
    pub rejected: u64,
    /// Requests in flight at the end.
    pub unfinished: u64,
}

/// Rates over the makespan.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Throughput {
    /// Completed requests per second.
    pub requests_per_s: f64,
    /// Prompt tokens of completed requests per second.
    pub input_tokens_per_s: f64,
    /// Output tokens of completed requests per second.
    pub output_tokens_per_s: f64,
    /// Output tokens per second per GPU.
    pub output_tokens_per_s_per_gpu: f64,
}

/// SLO results.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SloResult {
    /// TTFT objective, ms.
    pub ttft_ms: f64,
    /// TPOT objective, ms.
    pub tpot_ms: f64,
    /// Percentile the objectives are held at.
    pub percentile: f64,
    /// Fraction of arrived requests that completed within both objectives.
    pub attainment: f64,
    /// Target attainment.
    pub attainment_target: f64,
    /// Requests per second completed within both objectives.
    pub goodput_requests_per_s: f64,
    /// TTFT at the SLO percentile, ms.
    pub ttft_at_percentile_ms: f64,
    /// TPOT at the SLO percentile, ms.
    pub tpot_at_percentile_ms: f64,
    /// Whether TTFT and TPOT at the percentile are within the objectives and the
    /// attainment meets its target.
    pub met: bool,
}

/// Streaming accumulator of a run's measurements.
#[derive(Clone, Debug, Default)]
pub struct Collector {
    counts: RequestCounts,
    ttft: Vec<f64>,
    tpot: Vec<f64>,
    e2e: Vec<f64>,
    queue: Vec<f64>,
    transfer: Vec<f64>,
    itl: Vec<(f64, u64)>,
    input_tokens: u64,
    output_tokens: u64,
    slo_ok: u64,
    last_completion_s: f64,
    preemptions: u64,
}

impl Collector {
    /// A request arrived.
    pub fn arrived(&mut self) {
        self.counts.arrived += 1;
    }

    /// Record `weight` inter-token gaps of `gap_ms`.
    pub fn itl(&mut self, gap_ms: f64, weight: u64) {
        if weight > 0 {
            self.itl.push((gap_ms, weight));
        }
    }

    /// Record an ended request.
    pub fn ended(&mut self, r: &RequestRecord, finish_s: f64) {
        self.preemptions += u64::from(r.preemptions);
        match r.outcome {
            Outcome::Rejected => self.counts.rejected += 1,
            Outcome::Unfinished => self.counts.unfinished += 1,
            Outcome::Completed => {
                self.counts.completed += 1;
                self.input_tokens += u64::from(r.input_tokens);
                self.output_tokens += u64::from(r.output_tokens);
                self.last_completion_s = self.last_completion_s.max(finish_s);
                let push = |v: &mut Vec<f64>, x: Option<f64>| {
                    if let Some(x) = x {
                        v.push(x);
                    }
                };
                push(&mut self.ttft, r.ttft_ms);
                push(&mut self.tpot, r.tpot_ms);
                push(&mut self.e2e, r.e2e_ms);
                push(&mut self.queue, r.queue_ms);
                push(&mut self.transfer, r.kv_transfer_ms);
                if r.slo_met == Some(true) {
                    self.slo_ok += 1;
                }
            }
        }
    }

    /// Summarise.
    pub fn finish(self, gpus: u32, slo: &crate::scenario::SloConfig) -> Metrics {
        let makespan = self.last_completion_s;
        let per_s = |x: f64| if makespan > 0.0 { x / makespan } else { 0.0 };
        let (mut ttft_v, mut tpot_v) = (self.ttft, self.tpot);
        ttft_v.sort_unstable_by(f64::total_cmp);
        tpot_v.sort_unstable_by(f64::total_cmp);
        let ttft_at = percentile_sorted(&ttft_v, slo.percentile);
        let tpot_at = percentile_sorted(&tpot_v, slo.percentile);
        let arrived = self.counts.arrived.max(1) as f64;
        let attainment = self.slo_ok as f64 / arrived;
        let met = self.counts.completed > 0
            && ttft_at <= slo.ttft_ms
            && tpot_at <= slo.tpot_ms
            && attainment >= slo.attainment_target;
        let ttft = Distribution::from_samples(ttft_v);
        let tpot = Distribution::from_samples(tpot_v);
        Metrics {
            requests: self.counts.clone(),
            throughput: Throughput {
                requests_per_s: per_s(self.counts.completed as f64),
                input_tokens_per_s: per_s(self.input_tokens as f64),
                output_tokens_per_s: per_s(self.output_tokens as f64),
                output_tokens_per_s_per_gpu: per_s(self.output_tokens as f64)
                    / f64::from(gpus.max(1)),
            },
            slo: SloResult {
                ttft_ms: slo.ttft_ms,
                tpot_ms: slo.tpot_ms,
                percentile: slo.percentile,
                attainment,
                attainment_target: slo.attainment_target,
                goodput_requests_per_s: per_s(self.slo_ok as f64),
                ttft_at_percentile_ms: ttft_at,
                tpot_at_percentile_ms: tpot_at,
                met,
            },
            ttft_ms: ttft,
            tpot_ms: tpot,
            itl_ms: Distribution::from_weighted(self.itl),
            e2e_ms: Distribution::from_samples(self.e2e),
            queue_ms: Distribution::from_samples(self.queue),
            kv_transfer_ms: Distribution::from_samples(self.transfer),
            makespan_s: makespan,
            preemptions: self.preemptions,
        }
    }
}

/// The summary of one simulated system.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Counts by outcome.
    pub requests: RequestCounts,
    /// TTFT, ms.
    pub ttft_ms: Distribution,
    /// TPOT, ms.
    pub tpot_ms: Distribution,
    /// ITL, ms.
    pub itl_ms: Distribution,
    /// E2E, ms.
    pub e2e_ms: Distribution,
    /// Queueing before prefill, ms.
    pub queue_ms: Distribution,
    /// KV transfer, ms (PD only).
    pub kv_transfer_ms: Distribution,
    /// Rates.
    pub throughput: Throughput,
    /// SLOs.
    pub slo: SloResult,
    /// Time of the last completion, s.
    pub makespan_s: f64,
    /// Preemptions (recomputes).
    pub preemptions: u64,
}

/// One row of the per-instance time series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeseriesRow {
    /// End of the window, s.
    pub time_s: f64,
    /// Instance index.
    pub instance: u16,
    /// `prefill`, `decode` or `aggregated`.
    pub role: &'static str,
    /// Requests queued (all queues of the instance).
    pub waiting: u32,
    /// Requests in the running batch.
    pub running: u32,
    /// Fraction of KV blocks in use.
    pub kv_utilization: f64,
    /// Prompt tokens computed in the window.
    pub prefill_tokens: u64,
    /// Output tokens decoded in the window.
    pub decode_tokens: u64,
    /// Fraction of the window spent executing steps.
    pub busy_fraction: f64,
    /// `ready`, `starting` or `draining`.
    pub state: &'static str,
    /// Ready replicas of the prefill role (of the aggregated role when aggregated).
    pub prefill_replicas: u32,
    /// Ready replicas of the decode role (of the aggregated role when aggregated).
    pub decode_replicas: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [50, 90]) == [2.5, 3.7]
        let v = vec![4.0, 1.0, 3.0, 2.0];
        let d = Distribution::from_samples(v);
        assert_eq!(d.p50, 2.5);
        assert!((d.p90 - 3.7).abs() < 1e-12);
        assert_eq!(d.mean, 2.5);
    }

    #[test]
    fn weighted_percentiles_equal_expanded() {
        let w = vec![(1.0, 3), (5.0, 1), (2.0, 2)];
        let mut expanded = vec![1.0, 1.0, 1.0, 5.0, 2.0, 2.0];
        let a = Distribution::from_weighted(w);
        expanded.sort_by(f64::total_cmp);
        let b = Distribution::from_samples(expanded);
        assert_eq!(a, b);
    }
}
