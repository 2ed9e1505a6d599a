//! `xpyd workload from-prometheus`: a `[workload]` section from vLLM or SGLang metrics.
//!
//! Metric names (vLLM `vllm/v1/metrics/loggers.py`, commit 005a810bc40f; SGLang
//! `python/sglang/srt/metrics/collector.py`, commit 00ae9c1590d2):
//! - Arrival rate over time: the rate of the first of `vllm:request_success_total`,
//!   `vllm:e2e_request_latency_seconds_count`, `sglang:num_requests_total`,
//!   `sglang:e2e_request_latency_seconds_count`, `vllm:request_prompt_tokens_count`,
//!   `sglang:prompt_tokens_histogram_count` present; else `vllm:prompt_tokens_total` or
//!   `sglang:prompt_tokens_total` divided by the mean prompt. Requests are counted when
//!   they finish, so the schedule is the completion rate (the arrival rate shifted by the
//!   latency; equal over any span much longer than it). -> `kind = "schedule"`,
//!   `interpolation = "step"`, one point per step (the export's sample spacing, widened
//!   to at most `max_points` points), trailing idle steps dropped; `requests` is the
//!   counter's increase.
//! - Lengths: `vllm:request_prompt_tokens` / `vllm:request_generation_tokens` or
//!   `sglang:prompt_tokens_histogram` / `sglang:generation_tokens_histogram` (bucket
//!   increases, `_sum / _count` as the mean) -> `kind = "histogram"`.
//! - Prefix reuse: `vllm:prefix_cache_hits_total / vllm:prefix_cache_queries_total`
//!   (or vLLM's older `vllm:gpu_prefix_cache_*`), SGLang
//!   `sglang:cached_tokens_total / sglang:prompt_tokens_total`, else the mean of the
//!   `sglang:cache_hit_rate` gauge -> one shared prompt of `hit rate x mean prompt`
//!   tokens (whole 16-token blocks, vLLM's block size) ahead of every request, and the
//!   prompt histogram shifted down by it so that prompts keep their lengths.
//!
//! Series labelled `role="prefill"` (as `xpyd run --openmetrics` writes a disaggregated
//! run) are left out of the request counts and lengths: a prefill instance sees the same
//! requests as their decode instance. Counter resets are handled as `increase()` does.

use std::collections::BTreeMap;
use std::path::Path;

use xpyd_sim::workload::{
    ArrivalFile, Interpolation, LengthFile, PrefixFile, RatePointFile, Workload, WorkloadFile,
};

use super::series::{self, SeriesSet};
use super::{Inferred, TelemetryError, increase};

/// Default most schedule points.
pub const DEFAULT_MAX_POINTS: usize = 1440;
/// Tokens per block of the inferred shared prompt (vLLM's default KV block).
const PREFIX_BLOCK_TOKENS: u32 = 16;
/// Hit rates below this give no shared prompt.
const MIN_HIT_RATE: f64 = 0.01;
/// Lengths used when no metric gives them, tokens (input, output).
const DEFAULT_LENGTHS: (u32, u32) = (1024, 256);

/// Options of the import.
#[derive(Clone, Debug, PartialEq)]
pub struct PromOptions {
    /// Most schedule points (the step widens to fit).
    pub max_points: usize,
    /// Schedule step, s (default: the export's sample spacing).
    pub step_s: Option<f64>,
}

impl Default for PromOptions {
    fn default() -> PromOptions {
        PromOptions {
            max_points: DEFAULT_MAX_POINTS,
            step_s: None,
        }
    }
}

/// Counters whose rate is the request rate, in order of preference.
const REQUEST_COUNTERS: [&str; 6] = [
    "vllm:request_success_total",
    "vllm:e2e_request_latency_seconds_count",
    "sglang:num_requests_total",
    "sglang:e2e_request_latency_seconds_count",
    "vllm:request_prompt_tokens_count",
    "sglang:prompt_tokens_histogram_count",
];
/// Prompt-token counters (rate fallback and mean prompt).
const PROMPT_TOKEN_COUNTERS: [&str; 2] = ["vllm:prompt_tokens_total", "sglang:prompt_tokens_total"];
/// Generation-token counters (mean output).
const OUTPUT_TOKEN_COUNTERS: [&str; 2] = [
    "vllm:generation_tokens_total",
    "sglang:generation_tokens_total",
];
/// Prompt-length histograms.
const PROMPT_HISTOGRAMS: [&str; 2] = [
    "vllm:request_prompt_tokens",
    "sglang:prompt_tokens_histogram",
];
/// Output-length histograms.
const OUTPUT_HISTOGRAMS: [&str; 2] = [
    "vllm:request_generation_tokens",
    "sglang:generation_tokens_histogram",
];

/// Whether a series counts requests (not a prefill instance's copy of them).
fn request_level(labels: &[(String, String)]) -> bool {
    !labels.iter().any(|(k, v)| k == "role" && v == "prefill")
}

/// The summed increase of `name` over its series (request-level ones only when
/// `requests`); `None` when no series has the name.
fn total_increase(set: &SeriesSet, name: &str, requests: bool) -> Option<f64> {
    let mut any = false;
    let mut sum = 0.0;
    for (labels, s) in set.named(name) {
        if requests && !request_level(labels) {
            continue;
        }
        any = true;
        sum += increase(s);
    }
    any.then_some(sum)
}

/// A length histogram read back: bucket upper bounds (tokens), counts, and the mean.
#[derive(Clone, Debug, PartialEq)]
struct Lengths {
    metric: &'static str,
    upper: Vec<u32>,
    counts: Vec<u64>,
    mean: Option<f64>,
    notes: Vec<String>,
}

impl Lengths {
    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `[min, max]` expected lengths: every length at its bucket's low or high end.
    fn feasible(&self) -> (f64, f64) {
        let t = self.total() as f64;
        let mut lo = 0u32;
        let (mut a, mut b) = (0.0, 0.0);
        for (u, c) in self.upper.iter().zip(&self.counts) {
            a += *c as f64 / t * f64::from(lo + 1);
            b += *c as f64 / t * f64::from(*u);
            lo = *u;
        }
        (a, b)
    }

    /// The mean from buckets uniform within (for notes when `_sum` is missing).
    fn bucket_mean(&self) -> f64 {
        let (a, b) = self.feasible();
        0.5 * (a + b)
    }

    /// Drops the mean when no shape reaches it (a note says so).
    fn check_mean(&mut self) {
        if let Some(m) = self.mean {
            let (a, b) = self.feasible();
            if !(m >= a && m <= b) {
                self.notes.push(format!(
                    "{}: mean {m:.1} is outside what its buckets allow ([{a:.1}, {b:.1}]); \
                     lengths uniform within buckets instead",
                    self.metric
                ));
                self.mean = None;
            }
        }
    }

    /// The `[workload.*-tokens]` table.
    fn to_file(&self) -> LengthFile {
        LengthFile::Histogram {
            upper_bounds: self.upper.clone(),
            counts: self.counts.clone(),
            mean: self.mean,
        }
    }

    /// Everything `shift` tokens shorter (the shared prompt comes on top): buckets at or
    /// below `shift` fold into the first remaining one.
    fn shifted(&self, shift: u32) -> Option<Lengths> {
        let mut upper = Vec::new();
        let mut counts = Vec::new();
        let mut folded = 0u64;
        for (u, c) in self.upper.iter().zip(&self.counts) {
            if *u <= shift {
                folded += c;
            } else {
                upper.push(u - shift);
                counts.push(*c + std::mem::take(&mut folded));
            }
        }
        if upper.is_empty() {
            return None;
        }
        let mut notes = Vec::new();
        let moved: u64 = self
            .upper
            .iter()
            .zip(&self.counts)
            .filter(|(u, _)| **u <= shift)
            .map(|(_, c)| c)
            .sum();
        if moved > 0 {
            notes.push(format!(
                "{:.2}% of prompts were not longer than the shared prompt: counted in the \
                 first bucket after it",
                100.0 * moved as f64 / self.total() as f64
            ));
        }
        let mut l = Lengths {
            metric: self.metric,
            upper,
            counts,
            mean: self.mean.map(|m| m - f64::from(shift)),
            notes,
        };
        l.check_mean();
        Some(l)
    }
}

/// Reads a histogram family `base` (request-level series), summing bucket increases.
fn histogram(
    set: &SeriesSet,
    base: &'static str,
    path: &Path,
) -> Result<Option<Lengths>, TelemetryError> {
    let bucket = format!("{base}_bucket");
    let mut by_le: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    let mut any = false;
    for (labels, s) in set.named(&bucket) {
        if !request_level(labels) {
            continue;
        }
        any = true;
        let le = labels
            .iter()
            .find(|(k, _)| k == "le")
            .map(|(_, v)| v.as_str());
        let Some(le) = le else {
            return Err(TelemetryError::parse(
                path,
                0,
                &bucket,
                "a bucket without `le`",
            ));
        };
        let b = match le {
            "+Inf" | "Inf" => f64::INFINITY,
            _ => le
                .parse::<f64>()
                .ok()
                .filter(|b| b.is_finite())
                .ok_or_else(|| {
                    TelemetryError::parse(
                        path,
                        0,
                        &format!("{bucket}.le"),
                        format!("`{}` is not a bucket bound", series::excerpt(le)),
                    )
                })?,
        };
        // Keyed by the bound's bits (total order of non-negative floats).
        let e = by_le.entry(b.max(0.0).to_bits()).or_insert((b, 0.0));
        e.1 += increase(s);
    }
    if !any {
        return Ok(None);
    }
    let mut upper = Vec::new();
    let mut counts = Vec::new();
    let mut notes = Vec::new();
    let mut prev_cum = 0.0;
    let mut last_finite = 0u32;
    let mut below_one = 0u64;
    for (_, (b, cum)) in by_le {
        let c = (cum - prev_cum).max(0.0).round() as u64;
        prev_cum = cum.max(prev_cum);
        if b.is_infinite() {
            if c > 0 {
                let cap = last_finite.max(1).saturating_mul(2);
                notes.push(format!(
                    "{base}: {c} observations above the last bound {last_finite}: drawn in \
                     ({last_finite}, {cap}]"
                ));
                upper.push(cap);
                counts.push(c);
            }
            continue;
        }
        // Token counts are integers: (a, b] holds the integers up to floor(b).
        let u = b.floor().min(f64::from(xpyd_sim::limits::MAX_TOKENS)) as u32;
        if u < 1 {
            below_one += c;
            continue;
        }
        if u <= last_finite {
            if let Some(x) = counts.last_mut() {
                *x += c;
            }
            continue;
        }
        upper.push(u);
        counts.push(c + std::mem::take(&mut below_one));
        last_finite = u;
    }
    while counts.last() == Some(&0) {
        counts.pop();
        upper.pop();
    }
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Ok(Some(Lengths {
            metric: base,
            upper: Vec::new(),
            counts: Vec::new(),
            mean: None,
            notes: vec![format!("{base}: no observations in the exported range")],
        }));
    }
    let sum = total_increase(set, &format!("{base}_sum"), true);
    let count = total_increase(set, &format!("{base}_count"), true);
    let mean = match (sum, count) {
        // Rounded once, here, so the check and the file see the same mean.
        (Some(s), Some(c)) if c > 0.0 => Some((s / c * 1000.0).round() / 1000.0),
        _ => {
            notes.push(format!(
                "{base}: no _sum/_count; lengths uniform within buckets"
            ));
            None
        }
    };
    let mut l = Lengths {
        metric: base,
        upper,
        counts,
        mean,
        notes,
    };
    l.check_mean();
    Ok(Some(l))
}

/// The request rate per step: per-step increases of `metric`, from its first sample.
struct Rate {
    metric: String,
    step: f64,
    counts: Vec<f64>,
}

/// The median spacing of the samples of `name`'s series, s.
fn median_spacing(set: &SeriesSet, name: &str) -> Option<f64> {
    let mut d: Vec<f64> = set
        .named(name)
        .flat_map(|(_, s)| s.windows(2).map(|w| w[1].0 - w[0].0))
        .filter(|x| *x > 0.0)
        .collect();
    d.sort_by(f64::total_cmp);
    d.get(d.len() / 2).copied()
}

/// Spreads each series' increase between consecutive samples over the steps it
/// overlaps, in proportion to the overlap.
fn binned(set: &SeriesSet, name: &str, opts: &PromOptions) -> Option<Rate> {
    let series: Vec<&[(f64, f64)]> = set
        .named(name)
        .filter(|(l, _)| request_level(l))
        .map(|(_, s)| s)
        .filter(|s| s.len() >= 2)
        .collect();
    if series.is_empty() {
        return None;
    }
    let t0 = series.iter().map(|s| s[0].0).fold(f64::INFINITY, f64::min);
    let t1 = series
        .iter()
        .map(|s| s[s.len() - 1].0)
        .fold(f64::NEG_INFINITY, f64::max);
    let span = t1 - t0;
    if span <= 0.0 {
        return None;
    }
    let mut step = opts
        .step_s
        .or_else(|| median_spacing(set, name))
        .unwrap_or(span);
    if span / step > opts.max_points as f64 {
        step = span / opts.max_points as f64;
    }
    // Whole milliseconds, so the points print exactly.
    step = (step * 1e3).ceil().max(1.0) / 1e3;
    let n = ((span / step).ceil() as usize).max(1);
    let mut counts = vec![0.0; n];
    for s in series {
        for w in s.windows(2) {
            let ((a, va), (b, vb)) = (w[0], w[1]);
            let inc = if !(va.is_finite() && vb.is_finite()) {
                0.0
            } else if vb >= va {
                vb - va
            } else {
                vb
            };
            if inc == 0.0 || b <= a {
                continue;
            }
            let (ia, ib) = (
                ((a - t0) / step).floor() as usize,
                ((b - t0) / step).ceil() as usize,
            );
            for (i, c) in counts
                .iter_mut()
                .enumerate()
                .take(ib.min(n))
                .skip(ia.min(n - 1))
            {
                let lo = (t0 + i as f64 * step).max(a);
                let hi = (t0 + (i + 1) as f64 * step).min(b);
                if hi > lo {
                    *c += inc * (hi - lo) / (b - a);
                }
            }
        }
    }
    Some(Rate {
        metric: name.to_owned(),
        step,
        counts,
    })
}

/// The schedule and request count from a rate (trailing idle steps dropped).
fn schedule(rate: &Rate, per_request: f64) -> Option<(ArrivalFile, u64, String)> {
    let mut counts: Vec<f64> = rate.counts.iter().map(|c| c / per_request).collect();
    let dropped = counts
        .iter()
        .rev()
        .take_while(|c| **c * 1e6 < rate.step)
        .count();
    counts.truncate(counts.len() - dropped);
    let total: f64 = counts.iter().sum();
    if counts.is_empty() || total < 0.5 {
        return None;
    }
    let points: Vec<RatePointFile> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| RatePointFile {
            at_s: (i as f64 * rate.step * 1e3).round() / 1e3,
            rate_rps: (c / rate.step * 1e6).round() / 1e6,
        })
        .collect();
    let (lo, hi) = points.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
        (a.min(p.rate_rps), b.max(p.rate_rps))
    });
    let span = counts.len() as f64 * rate.step;
    let mut note = format!(
        "arrival: schedule of {} steps of {} s from the rate of {}{}: {:.4}..{:.4} req/s, \
         mean {:.4} req/s over {:.3} s",
        points.len(),
        rate.step,
        rate.metric,
        if per_request == 1.0 {
            String::new()
        } else {
            format!(" / {per_request:.1} tokens per request")
        },
        lo,
        hi,
        total / span,
        span
    );
    if dropped > 0 {
        note.push_str(&format!(
            "; {dropped} idle step(s) at the end dropped (the last rate holds)"
        ));
    }
    Some((
        ArrivalFile::Schedule {
            points,
            interpolation: Some(Interpolation::Step),
            repeat_s: None,
        },
        total.round() as u64,
        note,
    ))
}

/// The `[workload]` section that `path`'s metrics imply.
pub fn infer(path: &Path, opts: &PromOptions) -> Result<Inferred, TelemetryError> {
    let set = series::read(path)?;
    let mut notes = Vec::new();
    let first = |names: &[&'static str]| {
        names
            .iter()
            .copied()
            .find(|n| set.named(n).next().is_some())
    };

    // Lengths first: the rate fallback divides by the mean prompt.
    let mut lengths: [Option<Lengths>; 2] = [None, None];
    for (k, names) in [PROMPT_HISTOGRAMS, OUTPUT_HISTOGRAMS].iter().enumerate() {
        for &n in names {
            if let Some(l) = histogram(&set, n, path)? {
                lengths[k] = Some(l);
                break;
            }
        }
    }
    let requests_counted =
        first(&REQUEST_COUNTERS).and_then(|n| total_increase(&set, n, true).map(|v| (n, v)));
    let token_mean = |names: &[&'static str]| -> Option<(&'static str, f64)> {
        let (_, reqs) = requests_counted?;
        let n = first(names)?;
        let t = total_increase(&set, n, true)?;
        (reqs > 0.0 && t > 0.0).then(|| (n, t / reqs))
    };
    let mut files: Vec<LengthFile> = Vec::new();
    let mut means: Vec<Option<f64>> = Vec::new();
    for (k, role) in ["input", "output"].iter().enumerate() {
        let counters: &[&'static str] = if k == 0 {
            &PROMPT_TOKEN_COUNTERS
        } else {
            &OUTPUT_TOKEN_COUNTERS
        };
        match lengths[k].take() {
            Some(l) if !l.counts.is_empty() => {
                notes.extend(l.notes.iter().cloned());
                let m = l.mean.unwrap_or_else(|| l.bucket_mean());
                notes.push(format!(
                    "{role} tokens: histogram of {} ({} observations in {} buckets up to {}), \
                     mean {m:.1}",
                    l.metric,
                    l.total(),
                    l.upper.len(),
                    l.upper.last().copied().unwrap_or(0)
                ));
                means.push(Some(m));
                files.push(l.to_file());
                lengths[k] = Some(l);
            }
            other => {
                if let Some(l) = other {
                    notes.extend(l.notes.iter().cloned());
                }
                let default = if k == 0 {
                    DEFAULT_LENGTHS.0
                } else {
                    DEFAULT_LENGTHS.1
                };
                let (tokens, how) = match token_mean(counters) {
                    Some((n, m)) => (
                        (m.round() as u32).clamp(1, xpyd_sim::limits::MAX_TOKENS),
                        format!("no length histogram: fixed at the mean from {n} per request"),
                    ),
                    None => (
                        default,
                        "no length histogram and no token counter: default fixed".to_owned(),
                    ),
                };
                notes.push(format!("{role} tokens: {how} ({tokens})"));
                means.push(Some(f64::from(tokens)));
                files.push(LengthFile::Fixed {
                    tokens,
                    jitter: None,
                });
            }
        }
    }

    // Arrivals.
    let mut requests = None;
    let arrival = match requests_counted.and_then(|(n, _)| binned(&set, n, opts)) {
        Some(rate) => schedule(&rate, 1.0),
        None => match first(&PROMPT_TOKEN_COUNTERS).and_then(|n| binned(&set, n, opts)) {
            Some(rate) => schedule(&rate, means[0].unwrap_or(f64::from(DEFAULT_LENGTHS.0))),
            None => None,
        },
    };
    // Arrival and request notes come first.
    let length_notes = std::mem::take(&mut notes);
    let arrival = match arrival {
        Some((a, n, note)) => {
            notes.push(note);
            requests = Some(n.max(1));
            a
        }
        None if !set.timestamped => {
            notes.push(
                "arrival: the samples have no timestamps (one snapshot), so the rate is \
                 unknown: default poisson 1 req/s"
                    .to_owned(),
            );
            ArrivalFile::Poisson { rate_rps: 1.0 }
        }
        None => {
            return Err(TelemetryError::parse(
                path,
                0,
                "-",
                format!(
                    "no request counter increases over time: need one of {}, or {} with \
                     two or more samples",
                    REQUEST_COUNTERS.join(", "),
                    PROMPT_TOKEN_COUNTERS.join(", ")
                ),
            ));
        }
    };
    let requests = match requests {
        Some(n) => n,
        None => {
            notes.push("requests: unknown without a rate; default 1000".to_owned());
            1000
        }
    };
    notes.push(format!("requests: {requests}"));
    notes.extend(length_notes);

    // Prefix reuse.
    let hit = [
        (
            "vllm:prefix_cache_hits_total",
            "vllm:prefix_cache_queries_total",
        ),
        (
            "vllm:gpu_prefix_cache_hits_total",
            "vllm:gpu_prefix_cache_queries_total",
        ),
        ("sglang:cached_tokens_total", "sglang:prompt_tokens_total"),
    ]
    .into_iter()
    .find_map(|(h, q)| {
        let hits = total_increase(&set, h, false)?;
        let queries = total_increase(&set, q, false)?;
        (queries > 0.0).then(|| (hits / queries, format!("{h} / {q}")))
    })
    .or_else(|| {
        let v: Vec<f64> = set
            .named("sglang:cache_hit_rate")
            .flat_map(|(_, s)| s.iter().map(|x| x.1))
            .filter(|x| x.is_finite())
            .collect();
        (!v.is_empty()).then(|| {
            (
                v.iter().sum::<f64>() / v.len() as f64,
                "mean of sglang:cache_hit_rate".to_owned(),
            )
        })
    });
    let mut prefix = None;
    match (hit, means[0]) {
        (None, _) => notes.push(
            "prefix: no prefix-cache metrics (vllm:prefix_cache_hits_total, \
             sglang:cached_tokens_total): no shared prefix"
                .to_owned(),
        ),
        (Some((h, src)), Some(m)) if h >= MIN_HIT_RATE => {
            let h = h.clamp(0.0, 1.0);
            let t = ((h * m) / f64::from(PREFIX_BLOCK_TOKENS)).floor() as u32 * PREFIX_BLOCK_TOKENS;
            let shifted = if t < PREFIX_BLOCK_TOKENS {
                None
            } else {
                match (&lengths[0], &files[0]) {
                    (Some(l), _) => l.shifted(t),
                    _ => None,
                }
                .map(|l| {
                    notes.extend(l.notes.iter().cloned());
                    l.to_file()
                })
                .or(match &files[0] {
                    LengthFile::Fixed { tokens, .. } if *tokens > t => Some(LengthFile::Fixed {
                        tokens: tokens - t,
                        jitter: None,
                    }),
                    _ => None,
                })
            };
            match shifted {
                Some(f) => {
                    notes.push(format!(
                        "prefix: hit rate {:.1}% ({src}) of a {m:.1}-token mean prompt: one \
                         shared {t}-token prompt ahead of every request, input lengths \
                         {t} tokens shorter",
                        100.0 * h
                    ));
                    files[0] = f;
                    prefix = Some(PrefixFile::SharedPrompt {
                        prompts: 1,
                        tokens: t,
                        zipf_s: None,
                        fraction: None,
                        block_tokens: Some(PREFIX_BLOCK_TOKENS),
                        order: None,
                    });
                }
                None => notes.push(format!(
                    "prefix: hit rate {:.1}% ({src}) is under one {PREFIX_BLOCK_TOKENS}-token \
                     block of the {m:.1}-token mean prompt: no shared prefix",
                    100.0 * h
                )),
            }
        }
        (Some((h, src)), _) => notes.push(format!(
            "prefix: hit rate {:.1}% ({src}): no shared prefix",
            100.0 * h
        )),
    }

    let output = files.pop();
    let input = files.pop();
    let workload = WorkloadFile {
        requests: Some(requests),
        arrival: Some(arrival),
        input_tokens: input,
        output_tokens: output,
        prefix,
        ..WorkloadFile::default()
    };
    Workload::from_file(workload.clone(), Path::new(".")).map_err(|source| {
        TelemetryError::Workload {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok(Inferred { workload, notes })
}
