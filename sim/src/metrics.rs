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
//!   Fan type 7), exact over every sample while a distribution has at most
//!   [`EXACT_SAMPLES`] of them. Beyond that the samples stream into an HDR histogram
//!   (3 significant digits: a reported percentile is within 0.05% of a sample value at
//!   that rank) and the memory of a run stays bounded by what is in flight, not by its
//!   length. Means and counts stay exact (a running sum).
//! - Throughput divides by the makespan: from time 0 to the last completion. With
//!   warm-up requests (`[workload] warmup-requests`), by the measured span instead: from
//!   the first measured request's arrival to the last measured completion.
//! - SLO attainment: completed requests meeting both TTFT and TPOT objectives over all
//!   arrived requests; goodput is those requests per second of makespan.
//! - Warm-up requests (the first `warmup-requests` issued, as genai-perf/AIPerf
//!   `--warmup-request-count`) are simulated but counted in nothing above: not in the
//!   counts by outcome (only in `warmup`), latencies, ITL, throughput or SLO attainment.
//! - A timed-out request (its client aborted it, `[workload] timeout-s`) is its own
//!   outcome: counted, with no TTFT, TPOT or E2E sample.
//! - Requests the workload would have issued after `simulation.max-duration-s` never
//!   arrive: counted in `not_arrived` only (present when not 0), so that a configured
//!   request count is always accounted for.
//!
//! - A lost request (on an instance when it failed, `[failures]`) is its own outcome:
//!   counted, with no TTFT, TPOT or E2E sample.
//!
//! Invariant: `arrived = completed + rejected + unfinished + timed_out + lost` (measured
//! requests only).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

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
    /// Aborted by its client `timeout-s` after its arrival, unfinished.
    TimedOut,
    /// In flight on an instance when it failed (`[failures]`), unfinished.
    Lost,
}

impl Outcome {
    /// The name written in outputs (`requests.csv`).
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Rejected => "rejected",
            Outcome::Unfinished => "unfinished",
            Outcome::TimedOut => "timed-out",
            Outcome::Lost => "lost",
        }
    }
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
    /// Whether it is a warm-up request (simulated, not measured).
    pub warmup: bool,
}

/// Mean and percentiles of a latency, ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Whether the percentiles are exact over every sample (at most [`EXACT_SAMPLES`]
    /// of them); `false`: from the streamed HDR histogram (within 0.05%).
    pub exact: bool,
}

impl Default for Distribution {
    /// No samples (exactly).
    fn default() -> Distribution {
        Distribution {
            count: 0,
            mean: 0.0,
            p50: 0.0,
            p90: 0.0,
            p95: 0.0,
            p99: 0.0,
            exact: true,
        }
    }
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

/// Samples a distribution keeps exactly (values and sorting them at the end); past this
/// many (entries, for weighted samples) it streams them into an HDR histogram. 2^18 entries
/// are 2 MiB of `f64`: every plan probe and short run stays exact, a
/// million-request replay does not hold 10^7 samples.
pub const EXACT_SAMPLES: usize = 1 << 18;

/// Values are recorded in the histogram in nanoseconds.
const SKETCH_UNITS_PER_MS: f64 = 1e6;

/// Largest value the histogram resolves: 10^15 ns (about 11.6 days); longer latencies
/// count in its top bucket (their sum, minimum and maximum stay exact).
const SKETCH_MAX_UNITS: u64 = 1_000_000_000_000_000;

/// A streamed distribution: an HDR histogram of 3 significant digits (relative bucket
/// width at most 2^-11), the exact running sum and count, and the exact extremes.
#[derive(Clone, Debug)]
struct Sketch {
    hist: Histogram<u64>,
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
}

impl Sketch {
    fn new() -> Sketch {
        Sketch {
            // Fixed bounds (so recording never allocates): 1 ns .. SKETCH_MAX_UNITS, 3
            // significant digits, ~330 KB of counts. Valid bounds, so creation cannot fail.
            hist: Histogram::new_with_bounds(1, SKETCH_MAX_UNITS, 3).expect("valid bounds"),
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn record(&mut self, e: impl Entry) {
        let (ms, weight) = e.parts();
        // Latencies are finite and non-negative; saturate instead of failing on the rest.
        let units = (ms.max(0.0) * SKETCH_UNITS_PER_MS).min(u64::MAX as f64) as u64;
        self.hist.saturating_record_n(units, weight);
        self.sum += ms * weight as f64;
        self.count += weight;
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
    }

    /// Percentile `p` (0-100): the middle of the histogram bucket holding that rank,
    /// kept inside the observed range.
    fn percentile(&self, p: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let v = self.hist.value_at_quantile(p / 100.0);
        let mid = self.hist.median_equivalent(v) as f64 / SKETCH_UNITS_PER_MS;
        // max/min rather than clamp: no panic even if no finite sample was seen.
        mid.max(self.min).min(self.max)
    }

    fn distribution(&self) -> Distribution {
        if self.count == 0 {
            return Distribution::default();
        }
        Distribution {
            count: self.count,
            mean: self.sum / self.count as f64,
            p50: self.percentile(50.0),
            p90: self.percentile(90.0),
            p95: self.percentile(95.0),
            p99: self.percentile(99.0),
            exact: false,
        }
    }
}

/// One recorded entry: a sample, or a sample with its weight.
pub trait Entry: Copy {
    /// `(value ms, weight)`.
    fn parts(self) -> (f64, u64);
}

impl Entry for f64 {
    fn parts(self) -> (f64, u64) {
        (self, 1)
    }
}

impl Entry for (f64, u64) {
    fn parts(self) -> (f64, u64) {
        self
    }
}

/// Latency entries of one kind: kept exactly up to [`EXACT_SAMPLES`] of them, then
/// streamed into an HDR histogram (the kept ones first, in recording order).
#[derive(Clone, Debug)]
pub struct Streamed<T> {
    exact: Vec<T>,
    sketch: Option<Sketch>,
}

impl<T> Default for Streamed<T> {
    fn default() -> Streamed<T> {
        Streamed {
            exact: Vec::new(),
            sketch: None,
        }
    }
}

/// Plain samples (TTFT, TPOT, E2E, queue, KV transfer).
pub type Samples = Streamed<f64>;

/// Weighted samples `(value, weight)` (ITL: one gap per decode step, times its batch).
pub type WeightedSamples = Streamed<(f64, u64)>;

impl<T: Entry> Streamed<T> {
    fn add(&mut self, x: T) {
        if let Some(sk) = &mut self.sketch {
            sk.record(x);
        } else if self.exact.len() < EXACT_SAMPLES {
            self.exact.push(x);
        } else {
            let mut sk = Sketch::new();
            for e in std::mem::take(&mut self.exact) {
                sk.record(e);
            }
            sk.record(x);
            self.sketch = Some(sk);
        }
    }

    /// Whether the entries went to the histogram.
    pub fn is_sketched(&self) -> bool {
        self.sketch.is_some()
    }
}

impl Samples {
    /// Record one sample, ms.
    pub fn push(&mut self, ms: f64) {
        self.add(ms);
    }

    /// Percentile `p` (0-100) and the summary.
    fn summarise(mut self, p: f64) -> (f64, Distribution) {
        match &self.sketch {
            Some(sk) => (sk.percentile(p), sk.distribution()),
            None => {
                // Unstable is exact here: values equal under `total_cmp` are bit-identical.
                self.exact.sort_unstable_by(f64::total_cmp);
                let at = percentile_sorted(&self.exact, p);
                (at, Distribution::from_sorted(&self.exact))
            }
        }
    }

    /// The summary (sorting the exact samples, or reading the histogram).
    pub fn distribution(self) -> Distribution {
        self.summarise(50.0).1
    }
}

impl WeightedSamples {
    /// Record `weight` samples of `ms` (nothing for weight 0).
    pub fn push(&mut self, ms: f64, weight: u64) {
        if weight > 0 {
            self.add((ms, weight));
        }
    }

    /// The summary (sorting the exact samples, or reading the histogram).
    pub fn distribution(self) -> Distribution {
        match &self.sketch {
            Some(sk) => sk.distribution(),
            None => Distribution::from_weighted(self.exact),
        }
    }
}

impl Distribution {
    /// Summarise ascending samples.
    fn from_sorted(v: &[f64]) -> Distribution {
        if v.is_empty() {
            return Distribution::default();
        }
        let sum: f64 = v.iter().sum();
        Distribution {
            count: v.len() as u64,
            mean: sum / v.len() as f64,
            p50: percentile_sorted(v, 50.0),
            p90: percentile_sorted(v, 90.0),
            p95: percentile_sorted(v, 95.0),
            p99: percentile_sorted(v, 99.0),
            exact: true,
        }
    }

    /// Summarise samples (any order).
    pub fn from_samples(mut v: Vec<f64>) -> Distribution {
        // Unstable is exact here: values equal under `total_cmp` are bit-identical, so
        // every sorted order is the same sequence (and sums the same).
        v.sort_unstable_by(f64::total_cmp);
        Distribution::from_sorted(&v)
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
            exact: true,
        }
    }
}

/// Request counts by outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests completed.
    pub completed: u64,
    /// Requests rejected at arrival.
    pub rejected: u64,
    /// Requests in flight at the end.
    pub unfinished: u64,
    /// Requests aborted by their client at `timeout-s` (present when timeouts are on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out: Option<u64>,
    /// `timed_out / arrived` (present when timeouts are on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timed_out_fraction: Option<f64>,
    /// Requests in flight on an instance when it failed (present with `[failures]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// Warm-up requests issued before the measured ones (counted in nothing above).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup: u64,
    /// Requests (warm-up included) the workload would have issued after the stop time
    /// (`simulation.max-duration-s`): they never arrived and are counted in nothing
    /// above.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_arrived: u64,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// Rates over the makespan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
    ttft: Samples,
    tpot: Samples,
    e2e: Samples,
    queue: Samples,
    transfer: Samples,
    itl: WeightedSamples,
    input_tokens: u64,
    output_tokens: u64,
    slo_ok: u64,
    last_completion_s: f64,
    preemptions: u64,
    /// Whether the workload has warm-up requests (throughput over the measured span).
    warmup: bool,
    /// Inter-token gaps are not kept (`itl_ms` empty): see [`Collector::skip_itl`].
    no_itl: bool,
    /// Arrival of the first measured request, s.
    first_measured_s: Option<f64>,
}

impl Collector {
    /// A collector for a workload with warm-up requests or not, timeouts or not.
    pub fn new(warmup: bool, timeouts: bool) -> Collector {
        let mut c = Collector {
            warmup,
            ..Collector::default()
        };
        if timeouts {
            c.counts.timed_out = Some(0);
        }
        c
    }

    /// A request arrived at `at_s`; a warm-up request is not measured.
    pub fn arrived(&mut self, at_s: f64, warmup: bool) {
        if warmup {
            self.counts.warmup += 1;
        } else {
            self.counts.arrived += 1;
            self.first_measured_s.get_or_insert(at_s);
        }
    }

    /// Count lost requests (`[failures]`): `lost` is present in the counts, 0 or more.
    pub fn with_failures(mut self) -> Collector {
        self.counts.lost = Some(0);
        self
    }

    /// `n` requests would have arrived after the stop time.
    pub fn not_arrived(&mut self, n: u64) {
        self.counts.not_arrived = n;
    }

    /// Record `weight` inter-token gaps of `gap_ms`.
    pub fn itl(&mut self, gap_ms: f64, weight: u64) {
        if !self.no_itl {
            self.itl.push(gap_ms, weight);
        }
    }

    /// Keep no inter-token gaps: those recorded so far are dropped and later ones are
    /// ignored, so the summary's `itl_ms` is empty (count 0); nothing else changes.
    pub fn skip_itl(&mut self) {
        self.no_itl = true;
        self.itl = WeightedSamples::default();
    }

    /// Record an ended request.
    pub fn ended(&mut self, r: &RequestRecord, finish_s: f64) {
        if r.warmup {
            return;
        }
        self.preemptions += u64::from(r.preemptions);
        match r.outcome {
            Outcome::Rejected => self.counts.rejected += 1,
            Outcome::Unfinished => self.counts.unfinished += 1,
            Outcome::TimedOut => *self.counts.timed_out.get_or_insert(0) += 1,
            Outcome::Lost => *self.counts.lost.get_or_insert(0) += 1,
            Outcome::Completed => {
                self.counts.completed += 1;
                self.input_tokens += u64::from(r.input_tokens);
                self.output_tokens += u64::from(r.output_tokens);
                self.last_completion_s = self.last_completion_s.max(finish_s);
                let push = |v: &mut Samples, x: Option<f64>| {
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
        // With warm-up, rates are over the measured span (genai-perf's definition).
        let start = if self.warmup {
            self.first_measured_s.unwrap_or(0.0)
        } else {
            0.0
        };
        let span = makespan - start;
        let per_s = |x: f64| if span > 0.0 { x / span } else { 0.0 };
        let (ttft_at, ttft) = self.ttft.summarise(slo.percentile);
        let (tpot_at, tpot) = self.tpot.summarise(slo.percentile);
        let arrived = self.counts.arrived.max(1) as f64;
        let attainment = self.slo_ok as f64 / arrived;
        let met = self.counts.completed > 0
            && ttft_at <= slo.ttft_ms
            && tpot_at <= slo.tpot_ms
            && attainment >= slo.attainment_target;
        let mut requests = self.counts.clone();
        requests.timed_out_fraction = requests
            .timed_out
            .map(|t| t as f64 / requests.arrived.max(1) as f64);
        Metrics {
            requests,
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
            itl_ms: self.itl.distribution(),
            e2e_ms: self.e2e.distribution(),
            queue_ms: self.queue.distribution(),
            kv_transfer_ms: self.transfer.distribution(),
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

    /// Deterministic, spread values (a log-uniform spread over 1 ms .. 10 s).
    fn spread(n: usize) -> Vec<f64> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                10f64.powf(4.0 * (x >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect()
    }

    #[test]
    fn small_runs_stay_exact() {
        let v = spread(1000);
        let mut s = Samples::default();
        for &x in &v {
            s.push(x);
        }
        assert!(!s.is_sketched());
        assert_eq!(s.distribution(), Distribution::from_samples(v));
    }

    #[test]
    fn long_runs_stream_into_the_sketch_within_its_precision() {
        let n = EXACT_SAMPLES + 50_000;
        let v = spread(n);
        let mut s = Samples::default();
        for &x in &v {
            s.push(x);
        }
        assert!(s.is_sketched());
        assert!(s.exact.capacity() == 0, "the exact samples are released");
        let (p99, got) = s.summarise(99.0);
        let want = Distribution::from_samples(v);
        assert!(want.exact && !got.exact);
        assert_eq!(got.count, want.count);
        assert!((got.mean - want.mean).abs() <= 1e-9 * want.mean);
        for (g, w) in [
            (got.p50, want.p50),
            (got.p90, want.p90),
            (got.p95, want.p95),
            (got.p99, want.p99),
            (p99, want.p99),
        ] {
            // Bucket half-width 2^-12 plus a rank's worth of spread.
            assert!((g - w).abs() <= 5e-4 * w, "{g} vs {w}");
        }
    }

    #[test]
    fn weighted_sketch_counts_every_weight() {
        let v = spread(EXACT_SAMPLES + 10);
        let mut s = WeightedSamples::default();
        let mut expanded = Vec::new();
        for (k, &x) in v.iter().enumerate() {
            let w = (k % 3) as u64; // weight 0 is dropped
            s.push(x, w);
            expanded.extend(std::iter::repeat_n(x, w as usize));
        }
        assert!(!s.is_sketched(), "zero weights are not entries");
        for (k, &x) in v.iter().take(EXACT_SAMPLES).enumerate() {
            s.push(x, 1 + (k % 2) as u64);
            expanded.extend(std::iter::repeat_n(x, 1 + k % 2));
        }
        assert!(s.is_sketched());
        let got = s.distribution();
        let want = Distribution::from_samples(expanded);
        assert_eq!(got.count, want.count);
        assert!((got.mean - want.mean).abs() <= 1e-9 * want.mean);
        for (g, w) in [(got.p50, want.p50), (got.p99, want.p99)] {
            assert!((g - w).abs() <= 5e-4 * w, "{g} vs {w}");
        }
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
