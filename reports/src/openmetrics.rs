//! `xpyd run --openmetrics`: the run's time series in OpenMetrics text, named, typed and
//! bucketed as the engine the scenario models exposes them, so that
//! `promtool tsdb create-blocks-from openmetrics` imports them and the dashboards built
//! for the engine show the simulation.
//!
//! Sources (the names, types and bucket boundaries are the engines', not ours):
//! - vLLM: `vllm/v1/metrics/loggers.py` (`PrometheusStatLogger`, commit 005a810bc40f);
//!   `vllm:inter_token_latency_seconds` is the newer name of
//!   `vllm:time_per_output_token_seconds` (same buckets; both are written).
//! - SGLang: `python/sglang/srt/metrics/collector.py` (`SchedulerMetricsCollector`,
//!   `TokenizerMetricsCollector`, commit 00ae9c1590d2).
//!
//! What each family is made of (docs/reports.md has the table):
//! - Gauges (requests running and waiting, KV usage) are the `timeseries.csv` window that
//!   ends at or before the sample time (0 requests when the system was idle then).
//! - Request histograms and counters are observed on the instance that returned the
//!   request (its decode instance; the aggregated one when not disaggregated) when the
//!   event happens: TTFT at the first token, the rest at the last token. ITL observes each
//!   request's TPOT once per gap (`output_tokens - 1` times), as the run records TPOT,
//!   not every gap. Only completed requests (warm-up included) are observed.
//! - vLLM's prompt-token and prefix-cache counters are counted on the instance that
//!   computed the prompt, when its first prefill step starts; its generation-token
//!   counter is the windows' decoded tokens.
//!
//! Invariants: the text is a pure function of the run and the options (samples every
//! `interval` from the start, integer-millisecond timestamps, floats in Rust's shortest
//! round-trip form), so the same scenario and seed give byte-identical files. Every
//! family has `# HELP` and `# TYPE` before its samples, a series' samples are in time
//! order, histogram buckets are cumulative with `+Inf` equal to `_count`, and the text
//! ends with `# EOF`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use xpyd_sim::metrics::{Outcome, RequestRecord, TimeseriesRow};
use xpyd_sim::scenario::{Backend, Scenario};

use crate::ReportError;
use crate::atomic::AtomicFile;

/// Most samples one series may have (`(end - start) / interval`): past it the file would
/// be gigabytes; a larger interval is the fix.
pub const MAX_POINTS: u64 = 200_000;

/// The default start of the timestamps: 2025-01-01T00:00:00Z, ms since the epoch.
pub const DEFAULT_START_MS: u64 = 1_735_689_600_000;

/// The default sampling interval, ms.
pub const DEFAULT_INTERVAL_MS: u64 = 5_000;

/// Whose metric names a file uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// vLLM's `vllm:` metrics (vLLM, Dynamo with vLLM workers, TensorRT-LLM).
    Vllm,
    /// SGLang's `sglang:` metrics.
    Sglang,
}

impl Dialect {
    /// The names the backend's engine exposes: SGLang's for `sglang`, vLLM's otherwise
    /// (Dynamo's workers are vLLM; TensorRT-LLM has no Prometheus families of these
    /// quantities, and vLLM's are what shared dashboards read).
    pub fn of(backend: Backend) -> Dialect {
        match backend {
            Backend::Sglang => Dialect::Sglang,
            Backend::Vllm | Backend::Dynamo | Backend::Trtllm => Dialect::Vllm,
        }
    }
}

/// Where and how to write the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenMetricsOptions {
    /// The file; `None`: `openmetrics.txt` in the run's output folder.
    pub file: Option<std::path::PathBuf>,
    /// Timestamp of simulated time 0, ms since 1970-01-01T00:00:00Z.
    pub start_ms: u64,
    /// Sampling interval, ms (>= 1).
    pub interval_ms: u64,
}

/// vLLM's TTFT buckets, s.
const VLLM_TTFT: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
/// vLLM's inter-token / time-per-output-token buckets, s.
const VLLM_ITL: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// vLLM's `request_latency_buckets` (E2E, queue time), s.
const VLLM_LATENCY: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];
/// SGLang's default TTFT buckets, s.
const SGLANG_TTFT: &[f64] = &[
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0,
    400.0,
];
/// SGLang's default E2E buckets, s.
const SGLANG_E2E: &[f64] = &[
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0,
    400.0, 600.0, 1200.0, 1800.0, 2400.0,
];
/// SGLang's default inter-token-latency buckets, s.
const SGLANG_ITL: &[f64] = &[
    0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.020, 0.025, 0.030, 0.035, 0.040, 0.060, 0.080,
    0.100, 0.200, 0.400, 0.600, 0.800, 1.000, 2.000, 4.000, 6.000, 8.000,
];
/// SGLang's queue-time buckets, s.
const SGLANG_QUEUE: &[f64] = &[
    0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0,
    80.0, 90.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0, 1200.0,
    1400.0, 1600.0, 1800.0, 2000.0, 2500.0, 3000.0,
];
/// SGLang's default prompt/generation token-histogram buckets, tokens.
const SGLANG_TOKENS: &[f64] = &[
    100.0, 300.0, 500.0, 700.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0,
    8000.0, 9000.0, 10000.0, 12000.0, 15000.0, 20000.0, 22000.0, 25000.0, 30000.0, 35000.0,
    40000.0, 66000.0, 99000.0, 132000.0, 300000.0, 600000.0, 900000.0, 1100000.0,
];

/// vLLM's `build_1_2_5_buckets(max_model_len)`: 1, 2, 5, 10, 20, 50, ... up to the
/// model length.
pub fn buckets_1_2_5(max: u32) -> Vec<f64> {
    let mut out = Vec::new();
    let mut exp = 1u64;
    loop {
        for m in [1u64, 2, 5] {
            let v = m * exp;
            if v > u64::from(max) {
                return out;
            }
            out.push(v as f64);
        }
        exp *= 10;
    }
}

/// A gauge read from the windows.
#[derive(Copy, Clone, Debug)]
enum GaugeOf {
    Running,
    Waiting,
    KvUsage,
}

/// When a request event happens.
#[derive(Copy, Clone, Debug)]
enum At {
    /// The first prefill step starts (arrival + queue).
    PrefillStart,
    /// The first token (arrival + TTFT).
    FirstToken,
    /// The last token (arrival + E2E).
    End,
}

/// Which instance counts a request event.
#[derive(Copy, Clone, Debug)]
enum On {
    /// The one that computed the prompt.
    Prefill,
    /// The one that returned it.
    Decode,
}

/// A request quantity.
#[derive(Copy, Clone, Debug)]
enum Quantity {
    One,
    Ttft,
    Tpot,
    E2e,
    Queue,
    Input,
    Output,
    Cached,
    Preemptions,
}

/// What a family is made of.
#[derive(Clone, Debug)]
enum Source {
    Gauge(GaugeOf),
    /// The windows' decoded tokens, cumulated.
    DecodedTokens,
    /// A request quantity summed (counter).
    Counter(Quantity, On, At),
    /// A request quantity observed (histogram) with these upper bounds; weighted by the
    /// request's token gaps when `per_gap`.
    Histogram {
        q: Quantity,
        at: At,
        bounds: Vec<f64>,
        per_gap: bool,
    },
}

/// One metric family.
#[derive(Clone, Debug)]
struct Family {
    /// Family name (a counter's samples add `_total`).
    name: &'static str,
    help: &'static str,
    /// Extra `name="value"` label, e.g. vLLM's `finished_reason`.
    extra: Option<(&'static str, &'static str)>,
    src: Source,
}

fn fam(name: &'static str, help: &'static str, src: Source) -> Family {
    Family {
        name,
        help,
        extra: None,
        src,
    }
}

fn hist(q: Quantity, at: At, bounds: &[f64]) -> Source {
    Source::Histogram {
        q,
        at,
        bounds: bounds.to_vec(),
        per_gap: false,
    }
}

fn per_gap(bounds: &[f64]) -> Source {
    Source::Histogram {
        q: Quantity::Tpot,
        at: At::End,
        bounds: bounds.to_vec(),
        per_gap: true,
    }
}

/// The families of `dialect`, in the order written.
fn families(dialect: Dialect, max_model_len: u32) -> Vec<Family> {
    use At::*;
    use On::*;
    use Quantity::*;
    match dialect {
        Dialect::Vllm => {
            let tokens = buckets_1_2_5(max_model_len);
            vec![
                fam(
                    "vllm:num_requests_running",
                    "Number of requests in model execution batches.",
                    Source::Gauge(GaugeOf::Running),
                ),
                fam(
                    "vllm:num_requests_waiting",
                    "Number of requests waiting to be processed.",
                    Source::Gauge(GaugeOf::Waiting),
                ),
                fam(
                    "vllm:kv_cache_usage_perc",
                    "KV-cache usage. 1 means 100 percent usage.",
                    Source::Gauge(GaugeOf::KvUsage),
                ),
                fam(
                    "vllm:prompt_tokens",
                    "Number of prefill tokens processed.",
                    Source::Counter(Input, Prefill, PrefillStart),
                ),
                fam(
                    "vllm:generation_tokens",
                    "Number of generation tokens processed.",
                    Source::DecodedTokens,
                ),
                Family {
                    extra: Some(("finished_reason", "length")),
                    ..fam(
                        "vllm:request_success",
                        "Count of successfully processed requests.",
                        Source::Counter(One, Decode, End),
                    )
                },
                fam(
                    "vllm:prefix_cache_queries",
                    "Prefix cache queries, in terms of number of queried tokens.",
                    Source::Counter(Input, Prefill, PrefillStart),
                ),
                fam(
                    "vllm:prefix_cache_hits",
                    "Prefix cache hits, in terms of number of cached tokens.",
                    Source::Counter(Cached, Prefill, PrefillStart),
                ),
                fam(
                    "vllm:num_preemptions",
                    "Cumulative number of preemption from the engine.",
                    Source::Counter(Preemptions, Decode, End),
                ),
                fam(
                    "vllm:time_to_first_token_seconds",
                    "Histogram of time to first token in seconds.",
                    hist(Ttft, FirstToken, VLLM_TTFT),
                ),
                fam(
                    "vllm:inter_token_latency_seconds",
                    "Histogram of inter-token latency in seconds.",
                    per_gap(VLLM_ITL),
                ),
                fam(
                    "vllm:time_per_output_token_seconds",
                    "Histogram of time per output token in seconds.",
                    per_gap(VLLM_ITL),
                ),
                fam(
                    "vllm:e2e_request_latency_seconds",
                    "Histogram of e2e request latency in seconds.",
                    hist(E2e, End, VLLM_LATENCY),
                ),
                fam(
                    "vllm:request_queue_time_seconds",
                    "Histogram of time spent in WAITING phase for request.",
                    hist(Queue, End, VLLM_LATENCY),
                ),
                fam(
                    "vllm:request_prompt_tokens",
                    "Number of prefill tokens processed.",
                    hist(Input, End, &tokens),
                ),
                fam(
                    "vllm:request_generation_tokens",
                    "Number of generation tokens processed.",
                    hist(Output, End, &tokens),
                ),
            ]
        }
        Dialect::Sglang => vec![
            fam(
                "sglang:num_running_reqs",
                "The number of running requests.",
                Source::Gauge(GaugeOf::Running),
            ),
            fam(
                "sglang:num_queue_reqs",
                "The number of requests in the waiting queue.",
                Source::Gauge(GaugeOf::Waiting),
            ),
            fam(
                "sglang:token_usage",
                "The token usage.",
                Source::Gauge(GaugeOf::KvUsage),
            ),
            fam(
                "sglang:prompt_tokens",
                "Number of prefill tokens processed.",
                Source::Counter(Input, Decode, End),
            ),
            fam(
                "sglang:generation_tokens",
                "Number of generation tokens processed.",
                Source::Counter(Output, Decode, End),
            ),
            fam(
                "sglang:cached_tokens",
                "Number of cached prompt tokens.",
                Source::Counter(Cached, Decode, End),
            ),
            fam(
                "sglang:num_requests",
                "Number of requests processed.",
                Source::Counter(One, Decode, End),
            ),
            fam(
                "sglang:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                hist(Ttft, FirstToken, SGLANG_TTFT),
            ),
            fam(
                "sglang:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
                per_gap(SGLANG_ITL),
            ),
            fam(
                "sglang:e2e_request_latency_seconds",
                "Histogram of End-to-end request latency in seconds",
                hist(E2e, End, SGLANG_E2E),
            ),
            fam(
                "sglang:queue_time_seconds",
                "Histogram of queueing time in seconds.",
                hist(Queue, End, SGLANG_QUEUE),
            ),
            fam(
                "sglang:prompt_tokens_histogram",
                "Histogram of prompt token length.",
                hist(Input, End, SGLANG_TOKENS),
            ),
            fam(
                "sglang:generation_tokens_histogram",
                "Histogram of generation token length.",
                hist(Output, End, SGLANG_TOKENS),
            ),
        ],
    }
}

/// One window of one instance, as kept.
#[derive(Copy, Clone, Debug)]
struct Window {
    at_ns: u64,
    running: u32,
    waiting: u32,
    kv: f64,
    decoded: u64,
}

/// One completed request, as kept (times in ns of simulated time).
#[derive(Copy, Clone, Debug)]
struct Observed {
    prefill_start_ns: u64,
    first_ns: u64,
    end_ns: u64,
    prefill: u16,
    decode: u16,
    ttft_s: f64,
    tpot_s: Option<f64>,
    e2e_s: f64,
    queue_s: f64,
    input: u32,
    output: u32,
    cached: u32,
    preemptions: u32,
}

/// Seconds of simulated time as integer ns.
fn ns(s: f64) -> u64 {
    (s.max(0.0) * 1e9).round() as u64
}

/// Collects a run's windows and requests as they stream by, then writes the file.
#[derive(Debug)]
pub struct Recorder {
    dialect: Dialect,
    max_model_len: u32,
    model_name: String,
    window_ns: u64,
    windows: WindowSink,
    requests: RequestSink,
}

/// The windows of a run, per instance (the sink of `timeseries.csv` rows).
#[derive(Debug, Default)]
pub struct WindowSink {
    windows: BTreeMap<u16, Vec<Window>>,
    roles: BTreeMap<u16, &'static str>,
}

/// The completed requests of a run (the sink of `requests.csv` rows).
#[derive(Debug, Default)]
pub struct RequestSink {
    requests: Vec<Observed>,
}

impl Recorder {
    /// A recorder for a run of `sc`.
    pub fn new(sc: &Scenario) -> Recorder {
        let model_name = if sc.model.hf_repo.is_empty() {
            sc.model.id.clone()
        } else {
            sc.model.hf_repo.clone()
        };
        Recorder {
            dialect: Dialect::of(sc.backend),
            max_model_len: sc.max_model_len,
            model_name,
            window_ns: sc.sample_window.as_nanos().max(1),
            windows: WindowSink::default(),
            requests: RequestSink::default(),
        }
    }

    /// The two sinks, fed at once by a simulation's two callbacks.
    pub fn sinks(&mut self) -> (&mut WindowSink, &mut RequestSink) {
        (&mut self.windows, &mut self.requests)
    }
}

impl WindowSink {
    /// Keeps one window row.
    pub fn push(&mut self, w: &TimeseriesRow) {
        self.roles.entry(w.instance).or_insert(w.role);
        self.windows.entry(w.instance).or_default().push(Window {
            at_ns: ns(w.time_s),
            running: w.running,
            waiting: w.waiting,
            kv: w.kv_utilization,
            decoded: w.decode_tokens,
        });
    }
}

impl RequestSink {
    /// Keeps one ended request (completed ones only; others are not observed).
    pub fn push(&mut self, r: &RequestRecord) {
        let (Outcome::Completed, Some(ttft), Some(e2e)) = (r.outcome, r.ttft_ms, r.e2e_ms) else {
            return;
        };
        let (Some(decode), prefill) =
            (r.decode_instance.or(r.prefill_instance), r.prefill_instance)
        else {
            return;
        };
        let arrival = ns(r.arrival_s);
        let queue_ms = r.queue_ms.unwrap_or(0.0);
        self.requests.push(Observed {
            prefill_start_ns: arrival + ns(queue_ms / 1e3),
            first_ns: arrival + ns(ttft / 1e3),
            end_ns: arrival + ns(e2e / 1e3),
            prefill: prefill.unwrap_or(decode),
            decode,
            ttft_s: ttft / 1e3,
            tpot_s: r.tpot_ms.map(|t| t / 1e3),
            e2e_s: e2e / 1e3,
            queue_s: queue_ms / 1e3,
            input: r.input_tokens,
            output: r.output_tokens,
            cached: r.cached_tokens,
            preemptions: r.preemptions,
        });
    }
}

impl Recorder {
    /// The role label of `instance`: as its windows say, else from where requests ran.
    fn role(&self, instance: u16) -> &'static str {
        if let Some(r) = self.windows.roles.get(&instance) {
            return r;
        }
        let decodes = self.requests.requests.iter().any(|o| o.decode == instance);
        let prefills = self
            .requests
            .requests
            .iter()
            .any(|o| o.prefill == instance && o.decode != instance);
        match (prefills, decodes) {
            (true, false) => "prefill",
            (false, true) => "decode",
            _ => "aggregated",
        }
    }

    /// Writes the file to `path` (atomically).
    pub fn write(&self, path: &Path, opts: &OpenMetricsOptions) -> Result<(), ReportError> {
        let mut f = AtomicFile::create(path)?;
        let tmp = f.tmp_path().to_path_buf();
        self.write_to(f.writer(), opts).map_err(|e| match e {
            WriteError::Io(source) => ReportError::Io { path: tmp, source },
            WriteError::Report(r) => r,
        })?;
        f.commit()
    }

    /// Writes the text to `out`.
    fn write_to(&self, out: &mut dyn Write, opts: &OpenMetricsOptions) -> Result<(), WriteError> {
        let interval = opts.interval_ms.max(1) * 1_000_000;
        // Each instance is sampled from the sample before its first record to the one at
        // or after its last.
        let mut span: BTreeMap<u16, (u64, u64)> = BTreeMap::new();
        let mut see = |i: u16, t: u64| {
            let e = span.entry(i).or_insert((t, t));
            e.0 = e.0.min(t);
            e.1 = e.1.max(t);
        };
        for (i, ws) in &self.windows.windows {
            for w in ws {
                see(*i, w.at_ns);
            }
        }
        for o in &self.requests.requests {
            for (i, t) in [
                (o.prefill, o.prefill_start_ns),
                (o.prefill, o.first_ns),
                (o.decode, o.end_ns),
            ] {
                see(i, t);
            }
        }
        let end = span.values().map(|s| s.1).max().unwrap_or(0);
        let points = end.div_ceil(interval) + 1;
        if points > MAX_POINTS {
            return Err(WriteError::Report(ReportError::OpenMetrics {
                message: format!(
                    "{points} samples per series at --openmetrics-interval-s {} over {:.3} s \
                     of simulated time; at most {MAX_POINTS}: use a larger interval",
                    opts.interval_ms as f64 / 1e3,
                    end as f64 * 1e-9
                ),
            }));
        }
        let ks: BTreeMap<u16, (u64, u64)> = span
            .into_iter()
            // Start strictly before the first record, so every count starts from 0.
            .map(|(i, (a, b))| (i, (a.saturating_sub(1) / interval, b.div_ceil(interval))))
            .collect();
        let stamp = |k: u64| {
            let ms = opts.start_ms + k * opts.interval_ms;
            format!("{}.{:03}", ms / 1000, ms % 1000)
        };
        for f in families(self.dialect, self.max_model_len) {
            let kind = match f.src {
                Source::Gauge(_) => "gauge",
                Source::DecodedTokens | Source::Counter(..) => "counter",
                Source::Histogram { .. } => "histogram",
            };
            writeln!(out, "# HELP {} {}", f.name, f.help)?;
            writeln!(out, "# TYPE {} {kind}", f.name)?;
            for (&inst, &(k0, k1)) in &ks {
                let role = self.role(inst);
                let mut labels = format!(
                    "model_name=\"{}\",instance=\"{role}-{inst}\",role=\"{role}\"",
                    escape(&self.model_name)
                );
                if let Some((k, v)) = f.extra {
                    labels.push_str(&format!(",{k}=\"{v}\""));
                }
                match &f.src {
                    Source::Gauge(g) => {
                        let ws = self.windows.windows.get(&inst).map_or(&[][..], |w| &w[..]);
                        let mut j = 0;
                        let mut kv = 0.0;
                        for k in k0..=k1 {
                            let t = k * interval;
                            while j < ws.len() && ws[j].at_ns <= t {
                                kv = ws[j].kv;
                                j += 1;
                            }
                            // The window ending at or before t is current if it is the
                            // last boundary before t (idle systems write no windows).
                            let cur = j
                                .checked_sub(1)
                                .map(|p| ws[p])
                                .filter(|w| t - w.at_ns < self.window_ns);
                            let v = match (g, cur) {
                                (GaugeOf::Running, Some(w)) => f64::from(w.running),
                                (GaugeOf::Waiting, Some(w)) => f64::from(w.waiting),
                                (GaugeOf::Running | GaugeOf::Waiting, None) => 0.0,
                                (GaugeOf::KvUsage, _) => kv,
                            };
                            writeln!(out, "{}{{{labels}}} {v} {}", f.name, stamp(k))?;
                        }
                    }
                    Source::DecodedTokens => {
                        let ws = self.windows.windows.get(&inst).map_or(&[][..], |w| &w[..]);
                        let mut j = 0;
                        let mut total = 0u64;
                        for k in k0..=k1 {
                            while j < ws.len() && ws[j].at_ns <= k * interval {
                                total += ws[j].decoded;
                                j += 1;
                            }
                            writeln!(out, "{}_total{{{labels}}} {total} {}", f.name, stamp(k))?;
                        }
                    }
                    Source::Counter(q, on, at) => {
                        let ev = self.events(inst, *on, *at, *q, false, interval);
                        let mut j = 0;
                        let mut total = 0.0;
                        for k in k0..=k1 {
                            while j < ev.len() && ev[j].0 <= k {
                                total += ev[j].1 * ev[j].2 as f64;
                                j += 1;
                            }
                            writeln!(out, "{}_total{{{labels}}} {total} {}", f.name, stamp(k))?;
                        }
                    }
                    Source::Histogram {
                        q,
                        at,
                        bounds,
                        per_gap,
                    } => {
                        let ev = self.events(inst, On::Decode, *at, *q, *per_gap, interval);
                        let mut j = 0;
                        let mut counts = vec![0u64; bounds.len() + 1];
                        let mut sum = 0.0;
                        let les: Vec<String> = bounds.iter().map(|b| le(*b)).collect();
                        for k in k0..=k1 {
                            while j < ev.len() && ev[j].0 <= k {
                                let (_, v, w) = ev[j];
                                let b = bounds.partition_point(|&u| u < v);
                                counts[b] += w;
                                sum += v * w as f64;
                                j += 1;
                            }
                            let ts = stamp(k);
                            let mut cum = 0u64;
                            for (b, l) in les.iter().enumerate() {
                                cum += counts[b];
                                writeln!(
                                    out,
                                    "{}_bucket{{{labels},le=\"{l}\"}} {cum} {ts}",
                                    f.name
                                )?;
                            }
                            cum += counts[bounds.len()];
                            writeln!(out, "{}_bucket{{{labels},le=\"+Inf\"}} {cum} {ts}", f.name)?;
                            writeln!(out, "{}_count{{{labels}}} {cum} {ts}", f.name)?;
                            writeln!(out, "{}_sum{{{labels}}} {sum} {ts}", f.name)?;
                        }
                    }
                }
            }
        }
        writeln!(out, "# EOF")?;
        Ok(())
    }

    /// The events of one series: `(sample index, value, weight)` in time order (ties in
    /// request order), for the requests counted on `inst`.
    fn events(
        &self,
        inst: u16,
        on: On,
        at: At,
        q: Quantity,
        per_gap: bool,
        interval: u64,
    ) -> Vec<(u64, f64, u64)> {
        let mut ev: Vec<(u64, f64, u64)> = self
            .requests
            .requests
            .iter()
            .filter(|o| match on {
                On::Prefill => o.prefill == inst,
                On::Decode => o.decode == inst,
            })
            .filter_map(|o| {
                let t = match at {
                    At::PrefillStart => o.prefill_start_ns,
                    At::FirstToken => o.first_ns,
                    At::End => o.end_ns,
                };
                let v = match q {
                    Quantity::One => 1.0,
                    Quantity::Ttft => o.ttft_s,
                    Quantity::Tpot => o.tpot_s?,
                    Quantity::E2e => o.e2e_s,
                    Quantity::Queue => o.queue_s,
                    Quantity::Input => f64::from(o.input),
                    Quantity::Output => f64::from(o.output),
                    Quantity::Cached => f64::from(o.cached),
                    Quantity::Preemptions => f64::from(o.preemptions),
                };
                let w = if per_gap {
                    u64::from(o.output.saturating_sub(1))
                } else {
                    1
                };
                (w > 0).then_some((t.div_ceil(interval), v, w))
            })
            .collect();
        ev.sort_by_key(|e| e.0);
        ev
    }
}

/// An error while writing the text.
enum WriteError {
    Io(std::io::Error),
    Report(ReportError),
}

impl From<std::io::Error> for WriteError {
    fn from(e: std::io::Error) -> WriteError {
        WriteError::Io(e)
    }
}

/// A label value escaped as OpenMetrics requires (`\\`, `\"`, `\n`).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A bucket bound as the engines' Python client writes it: `1.0`, `0.25`, `2560.0`.
fn le(b: f64) -> String {
    if b.fract() == 0.0 && b.abs() < 1e15 {
        format!("{b:.1}")
    } else {
        format!("{b}")
    }
}

/// Parses an RFC 3339 timestamp (`2025-01-01T00:00:00Z`, `2025-06-30 12:00:00.5+02:00`)
/// to ms since 1970-01-01T00:00:00Z; `None` when it is not one (or before 1970).
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    crate::telemetry::time::parse_datetime_ns(s, true).map(|ns| ns / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_token_buckets_are_1_2_5_up_to_the_model_length() {
        assert_eq!(
            buckets_1_2_5(1000),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        assert_eq!(buckets_1_2_5(4), vec![1.0, 2.0]);
    }

    #[test]
    fn bounds_print_as_python_does() {
        assert_eq!(le(1.0), "1.0");
        assert_eq!(le(0.001), "0.001");
        assert_eq!(le(2560.0), "2560.0");
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
