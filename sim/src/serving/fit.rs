//! Fit engine-layer parameters ([`xpyd_models::engine`]) on measured serving runs
//! (`xpyd calibrate fit-engine`), with k-fold checking.
//!
//! For each engine x GPU group of runs (the runs' `backend` and `gpu`, and with
//! `by_version` their engine version; runs that cannot be replayed are left out), [`fit`] searches the parameters that minimise the loss:
//! the mean over runs of `(min(|ln(ttft_p / ttft_m)|, 2) + min(|ln(tpot_p / tpot_m)|, 2)) / 2`
//! (log errors, each capped so that one broken measurement cannot steer the fit). The
//! search is a deterministic coordinate descent inside [`xpyd_models::engine::RANGES`]:
//! each continuous parameter moves up or down by its step while that lowers the loss,
//! the step halves when neither does; each round first tries every token budget of
//! [`BUDGETS`] and asynchronous scheduling on and off. It starts from the neutral layer; when that answer is [`suspect`] it is
//! repeated from [`CPU_BOUND_START`] and the lower loss is kept. Every candidate is scored by replaying the group's runs
//! ([`replay()`](fn@super::replay)) with the candidate as the engine layer.
//!
//! Only dense models are fitted on by default: the engine layer is per engine and GPU,
//! and the kernel model's own errors on mixture-of-experts models (no expert
//! parallelism yet) would otherwise be absorbed into it. MoE runs are replayed with the
//! fitted layer and reported apart (all of them are held out).
//!
//! k-fold checking: the group's runs are dealt round-robin (in input order) into `folds`
//! folds; each fold is replayed with parameters fitted on the other folds, and the
//! errors of those held-out rows are the reported ones. The shipped profile is the fit on
//! every run of the group.
//!
//! Invariants: deterministic (fixed start, fixed move order, the replay's fixed seeds);
//! a group with fewer than [`MIN_ROWS`] replayable runs is not fitted (said in
//! [`GroupFit::skipped`]).

use super::replay::{Row, layer_key, quantile};
use super::{MeasuredRun, ReplayOptions, replay};
use crate::scenario::ScenarioError;
use serde::Serialize;
use std::collections::BTreeMap;
use xpyd_models::engine::{EngineParams, EngineProfile, FitErrors};

/// Per-step token budgets the fit tries (`None` first: the backend's default).
pub const BUDGETS: [Option<u32>; 6] = [
    None,
    Some(1024),
    Some(2048),
    Some(4096),
    Some(8192),
    Some(16384),
];

/// Fewest replayable runs a group needs to be fitted.
pub const MIN_ROWS: usize = 8;

/// What to fit.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Only this engine (`None`: every engine in the files).
    pub engine: Option<String>,
    /// Only this GPU (`None`: every GPU in the files).
    pub gpu: Option<String>,
    /// Folds of the k-fold check (2..=20; 1 disables the check).
    pub folds: usize,
    /// Rounds of coordinate descent (1..=50).
    pub rounds: usize,
    /// Where runs without a deployment of their own take it from.
    pub replay: ReplayOptions,
    /// Fit on mixture-of-experts models too (default: dense models only; MoE runs are
    /// then checked with the fitted layer, never fitted on).
    pub include_moe: bool,
    /// One profile per engine version the runs record; the version-less profile (every
    /// other version's fallback) from the runs that record none, or from all the engine's
    /// runs on that GPU when fewer than [`MIN_ROWS`] dense runs record none. Default: one
    /// profile per engine x GPU over every version.
    pub by_version: bool,
    /// Where the runs come from, for the profiles' `source`.
    pub source: String,
}

/// The result of one engine x GPU (x version) group.
#[derive(Clone, Debug, Serialize)]
pub struct GroupFit {
    /// Engine.
    pub engine: String,
    /// GPU.
    pub gpu: String,
    /// Engine version (`None`: every version, or unrecorded ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The fitted profile (`None`: not fitted, see `skipped`).
    pub profile: Option<EngineProfile>,
    /// Loss of the neutral engine layer and of the fit, on every run of the group.
    pub loss_neutral: f64,
    /// Loss of the fitted parameters on every run.
    pub loss_fitted: f64,
    /// Held-out rows of the k-fold check (each replayed with the fit of the other folds).
    pub checked_rows: Vec<Row>,
    /// Mixture-of-experts runs not fitted on, replayed with the fitted layer.
    pub moe_rows: Vec<Row>,
    /// Why the group was not fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Parameters the fit left implausible ([`suspect`]): the layer then compensates for
    /// something it does not model, and the profile should not be trusted (nor written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspect: Vec<String>,
}

/// The plausible range of the kernel scales: an engine's kernels within a factor of 2 of
/// the ones calibrated on the same GPU. A fit outside it is compensating for something
/// else (a model the kernel layer gets wrong, a deployment setting the runs do not
/// record).
pub const PLAUSIBLE_SCALE: (f64, f64) = (0.5, 2.0);

/// The parameters of `p` at a bound of their range (the token budget excepted: its
/// values are a list, not a range), and kernel scales outside [`PLAUSIBLE_SCALE`].
pub fn suspect(p: &EngineParams) -> Vec<String> {
    // Aligned with RANGES; the token budget is not a range here.
    let values = [
        Some(p.prefill_scale),
        Some(p.decode_scale),
        Some(p.step_overhead_ms),
        Some(p.per_seq_overhead_us),
        Some(p.cpu_overlap),
        Some(p.frontend_ms),
        None,
        Some(p.layer_floor_us),
        Some(p.allreduce_latency_us),
        Some(p.moe_eager_layer_us),
        Some(p.mxfp4_compute_scale),
        Some(p.mxfp4_memory_scale),
        Some(p.mxfp4_layer_us),
        Some(p.fp8_moe_memory_scale),
        Some(p.fp8_moe_layer_us),
    ];
    xpyd_models::engine::RANGES
        .iter()
        .zip(values)
        .filter_map(|(range, v)| v.map(|v| (range, v)))
        .filter(|((name, lo, hi), v)| {
            // A zero overhead or front-end time, and no or full overlap, are physical
            // answers, not bound hits.
            *name != "cpu-overlap" && ((*v <= *lo && *lo > 0.0) || *v >= *hi)
        })
        .map(|((name, lo, hi), v)| format!("{name} = {v} is at a bound of its range [{lo}, {hi}]"))
        .chain(
            [
                ("prefill-scale", p.prefill_scale),
                ("decode-scale", p.decode_scale),
            ]
            .into_iter()
            .filter(|(_, v)| {
                (*v > xpyd_models::engine::RANGES[0].1 && *v < PLAUSIBLE_SCALE.0)
                    || (*v < xpyd_models::engine::RANGES[0].2 && *v > PLAUSIBLE_SCALE.1)
            })
            .map(|(name, v)| {
                format!(
                    "{name} = {v} is outside the plausible [{}, {}]",
                    PLAUSIBLE_SCALE.0, PLAUSIBLE_SCALE.1
                )
            }),
        )
        .collect()
}

/// Capped absolute log error of one prediction (`None`: nothing to compare).
fn log_err(measured: f64, predicted: Option<f64>) -> Option<f64> {
    let p = predicted?;
    (measured > 0.0 && p > 0.0).then(|| (p / measured).ln().abs().min(2.0))
}

/// The loss of replayed rows: mean of the two capped log errors per row; a row that
/// failed to replay counts the cap.
pub(super) fn loss(rows: &[Row]) -> f64 {
    if rows.is_empty() {
        return 0.0;
    }
    let total: f64 = rows
        .iter()
        .map(|r| {
            let t = log_err(r.ttft_ms.measured, r.ttft_ms.predicted).unwrap_or(2.0);
            let p = log_err(r.tpot_ms.measured, r.tpot_ms.predicted).unwrap_or(2.0);
            (t + p) / 2.0
        })
        .sum();
    total / rows.len() as f64
}

pub(super) fn replay_with(
    runs: &[MeasuredRun],
    params: &EngineParams,
    opts: &ReplayOptions,
) -> Result<Vec<Row>, ScenarioError> {
    let o = ReplayOptions {
        scenario: opts.scenario.clone(),
        engine: Some(params.clone()),
        profiles: None,
    };
    Ok(replay(runs, &o)?.rows)
}

/// One continuous coordinate of the search.
struct Coord {
    /// Its name in [`xpyd_models::engine::RANGES`] (and in profiles).
    name: &'static str,
    get: fn(&EngineParams) -> f64,
    set: fn(&mut EngineParams, f64),
    /// Initial step (a factor `exp(step)` when `log`).
    step: f64,
    /// Moves multiply (scales) rather than add (times).
    log: bool,
}

const COORDS: [Coord; 8] = [
    Coord {
        name: "prefill-scale",
        get: |p| p.prefill_scale,
        set: |p, v| p.prefill_scale = v,
        step: 0.2,
        log: true,
    },
    Coord {
        name: "decode-scale",
        get: |p| p.decode_scale,
        set: |p, v| p.decode_scale = v,
        step: 0.2,
        log: true,
    },
    Coord {
        name: "frontend-ms",
        get: |p| p.frontend_ms,
        set: |p, v| p.frontend_ms = v,
        step: 40.0,
        log: false,
    },
    Coord {
        name: "step-overhead-ms",
        get: |p| p.step_overhead_ms,
        set: |p, v| p.step_overhead_ms = v,
        step: 1.0,
        log: false,
    },
    Coord {
        name: "per-seq-overhead-us",
        get: |p| p.per_seq_overhead_us,
        set: |p, v| p.per_seq_overhead_us = v,
        step: 20.0,
        log: false,
    },
    Coord {
        name: "cpu-overlap",
        get: |p| p.cpu_overlap,
        set: |p, v| p.cpu_overlap = v,
        step: 0.5,
        log: false,
    },
    Coord {
        name: "layer-floor-us",
        get: |p| p.layer_floor_us,
        set: |p, v| p.layer_floor_us = v,
        step: 20.0,
        log: false,
    },
    Coord {
        name: "allreduce-latency-us",
        get: |p| p.allreduce_latency_us,
        set: |p, v| p.allreduce_latency_us = v,
        step: 10.0,
        log: false,
    },
];

impl Coord {
    /// `v` clamped to this coordinate's range in [`xpyd_models::engine::RANGES`].
    fn clamp(&self, v: f64) -> f64 {
        let (_, lo, hi) = xpyd_models::engine::RANGES
            .iter()
            .find(|(n, _, _)| *n == self.name)
            .copied()
            .expect("every coordinate has a range");
        v.clamp(lo, hi)
    }
}

/// Coordinate descent from the neutral layer; when its answer is [`suspect`], again from
/// [`CPU_BOUND_START`], keeping the lower loss. Returns the parameters and their loss.
fn descend(
    runs: &[MeasuredRun],
    rounds: usize,
    opts: &ReplayOptions,
) -> Result<(EngineParams, f64), ScenarioError> {
    let first = descend_from(runs, rounds, opts, EngineParams::NEUTRAL)?;
    if suspect(&first.0).is_empty() {
        return Ok(first);
    }
    let second = descend_from(runs, rounds, opts, CPU_BOUND_START)?;
    Ok(if second.1 < first.1 { second } else { first })
}

/// The second start of a fit whose first answer is suspect: steps bound by the CPU
/// (50 us per sequence, fully overlapped), the case a neutral start cannot reach when a
/// scale can absorb the error first.
pub const CPU_BOUND_START: EngineParams = EngineParams {
    per_seq_overhead_us: 50.0,
    cpu_overlap: 1.0,
    ..EngineParams::NEUTRAL
};

/// Coordinate descent from `start`; returns the best parameters and their loss.
fn descend_from(
    runs: &[MeasuredRun],
    rounds: usize,
    opts: &ReplayOptions,
    start: EngineParams,
) -> Result<(EngineParams, f64), ScenarioError> {
    let mut best = start;
    let mut best_loss = loss(&replay_with(runs, &best, opts)?);
    let mut steps: Vec<f64> = COORDS.iter().map(|c| c.step).collect();
    for _ in 0..rounds {
        let mut moved = false;
        // The token budget first (every value: it decides how prefills cluster).
        for b in BUDGETS {
            if b == best.max_batched_tokens {
                continue;
            }
            let mut cand = best.clone();
            cand.max_batched_tokens = b;
            let l = loss(&replay_with(runs, &cand, opts)?);
            if l < best_loss {
                (best, best_loss, moved) = (cand, l, true);
            }
        }
        // Asynchronous scheduling, on or off.
        let mut cand = best.clone();
        cand.async_scheduling = !cand.async_scheduling;
        let l = loss(&replay_with(runs, &cand, opts)?);
        if l < best_loss {
            (best, best_loss, moved) = (cand, l, true);
        }
        for (i, c) in COORDS.iter().enumerate() {
            loop {
                let x = (c.get)(&best);
                let mut improved = false;
                for dir in [1.0, -1.0] {
                    let v = c.clamp(if c.log {
                        x * (dir * steps[i]).exp()
                    } else {
                        x + dir * steps[i]
                    });
                    if v == x {
                        continue;
                    }
                    let mut cand = best.clone();
                    (c.set)(&mut cand, v);
                    let l = loss(&replay_with(runs, &cand, opts)?);
                    if l < best_loss {
                        (best, best_loss, improved, moved) = (cand, l, true, true);
                        break;
                    }
                }
                if !improved {
                    steps[i] /= 2.0;
                    break;
                }
            }
        }
        if !moved && steps.iter().zip(&COORDS).all(|(s, c)| *s < c.step / 16.0) {
            break;
        }
    }
    // The loss reported is that of the parameters as written (rounded).
    let best = round_params(best);
    let best_loss = loss(&replay_with(runs, &best, opts)?);
    Ok((best, best_loss))
}

/// Parameters rounded to the precision they are written with (4 significant places for
/// the scales, 0.01 ms, 0.1 us).
fn round_params(p: EngineParams) -> EngineParams {
    // Through the decimal text, so that the written JSON holds the short form.
    let r = |x: f64, unit: f64| {
        let places = (-unit.log10()).round().max(0.0) as usize;
        format!("{:.*}", places, (x / unit).round() * unit)
            .parse()
            .unwrap_or(x)
    };
    EngineParams {
        prefill_scale: r(p.prefill_scale, 1e-4),
        decode_scale: r(p.decode_scale, 1e-4),
        step_overhead_ms: r(p.step_overhead_ms, 0.01),
        per_seq_overhead_us: r(p.per_seq_overhead_us, 0.1),
        cpu_overlap: r(p.cpu_overlap, 0.01),
        frontend_ms: r(p.frontend_ms, 0.01),
        max_batched_tokens: p.max_batched_tokens,
        layer_floor_us: r(p.layer_floor_us, 0.1),
        allreduce_latency_us: r(p.allreduce_latency_us, 0.1),
        async_scheduling: p.async_scheduling,
        moe_eager_layer_us: r(p.moe_eager_layer_us, 1.0),
        mxfp4_compute_scale: r(p.mxfp4_compute_scale, 0.01),
        mxfp4_memory_scale: r(p.mxfp4_memory_scale, 0.01),
        mxfp4_layer_us: r(p.mxfp4_layer_us, 1.0),
        fp8_moe_roofline: p.fp8_moe_roofline,
        fp8_moe_memory_scale: r(p.fp8_moe_memory_scale, 0.01),
        fp8_moe_layer_us: r(p.fp8_moe_layer_us, 1.0),
    }
}

/// The k-fold check: `usable` dealt round-robin into `opts.folds` folds, each fold
/// replayed with the parameters `fit` finds on the other folds; the held-out rows in
/// input order (none when `opts.folds < 2`).
pub(super) fn k_fold_rows(
    usable: &[MeasuredRun],
    opts: &FitOptions,
    fit: impl Fn(&[MeasuredRun]) -> Result<EngineParams, ScenarioError>,
) -> Result<Vec<Row>, ScenarioError> {
    if opts.folds < 2 {
        return Ok(Vec::new());
    }
    let mut held: Vec<(usize, Row)> = Vec::new();
    for k in 0..opts.folds {
        let (train, test): (Vec<_>, Vec<_>) = usable
            .iter()
            .enumerate()
            .partition(|(i, _)| i % opts.folds != k);
        let train: Vec<MeasuredRun> = train.into_iter().map(|(_, r)| r.clone()).collect();
        let params = fit(&train)?;
        let test_runs: Vec<MeasuredRun> = test.iter().map(|(_, r)| (*r).clone()).collect();
        let rows = replay_with(&test_runs, &params, &opts.replay)?;
        held.extend(test.iter().map(|(i, _)| *i).zip(rows));
    }
    held.sort_by_key(|(i, _)| *i);
    Ok(held.into_iter().map(|(_, r)| r).collect())
}

/// Whether `model` (a catalog id or a Hugging Face id) is a mixture of experts; unknown
/// models count as dense.
pub(super) fn is_moe(model: &str) -> bool {
    xpyd_models::ModelArch::builtin(model).is_ok_and(|m| m.moe.is_some())
}

/// Checking errors per mode of held-out rows.
pub fn errors_by_mode(rows: &[Row]) -> Vec<FitErrors> {
    let mut by: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.skipped.is_none()) {
        let e = by.entry(r.mode.as_str()).or_default();
        if let Some(x) = r.ttft_ms.error {
            e.0.push(x.abs());
        }
        if let Some(x) = r.tpot_ms.error {
            e.1.push(x.abs());
        }
    }
    by.into_iter()
        .map(|(mode, (t, p))| FitErrors {
            mode: mode.to_owned(),
            rows: t.len(),
            ttft_median: quantile(&t, 0.5).unwrap_or(f64::NAN),
            ttft_p90: quantile(&t, 0.9).unwrap_or(f64::NAN),
            tpot_median: quantile(&p, 0.5).unwrap_or(f64::NAN),
            tpot_p90: quantile(&p, 0.9).unwrap_or(f64::NAN),
        })
        .collect()
}

/// Fit every engine x GPU group of `runs` that `opts` selects.
pub fn fit(runs: &[MeasuredRun], opts: &FitOptions) -> Result<Vec<GroupFit>, ScenarioError> {
    // Runs without a deployment of their own (and so without a known engine or GPU) are
    // the `--scenario` file's: its backend's engine on its GPU.
    let base = if runs.iter().any(|r| r.scenario_toml.is_none()) {
        Some(crate::scenario::load_file(
            opts.replay.scenario.as_deref(),
            &crate::scenario::Overrides::default(),
        )?)
    } else {
        None
    };
    type Key = (String, String, Option<String>);
    let mut groups: BTreeMap<Key, Vec<MeasuredRun>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.skip.is_none()) {
        let (engine, gpu, version) = layer_key(r, base.as_ref());
        let selected = opts.engine.as_ref().is_none_or(|e| *e == engine)
            && opts.gpu.as_ref().is_none_or(|g| *g == gpu);
        if selected && xpyd_models::engine::ENGINES.contains(&engine.as_str()) {
            let version = version.filter(|_| opts.by_version);
            groups
                .entry((engine, gpu, version))
                .or_default()
                .push(r.clone());
        }
    }
    if opts.by_version {
        // The version-less profile is the fallback of every other version: fitted on the
        // runs that record none where there are enough of them, else on all the engine's
        // runs on that GPU.
        let mut all: BTreeMap<(String, String), Vec<MeasuredRun>> = BTreeMap::new();
        for ((engine, gpu, _), g) in &groups {
            all.entry((engine.clone(), gpu.clone()))
                .or_default()
                .extend(g.iter().cloned());
        }
        for ((engine, gpu), runs) in all {
            let key = (engine, gpu, None);
            let dense = |g: &[MeasuredRun]| {
                g.iter()
                    .filter(|r| opts.include_moe || !is_moe(&r.model))
                    .count()
            };
            if groups.get(&key).is_none_or(|g| dense(g) < MIN_ROWS) {
                groups.insert(key, runs);
            }
        }
    }
    let mut out = Vec::new();
    for ((engine, gpu, version), group) in groups {
        // Runs the neutral layer cannot replay (deployment not simulable) are left out.
        let neutral = replay_with(&group, &EngineParams::NEUTRAL, &opts.replay)?;
        let (mut usable, mut moe, mut neutral_rows) = (Vec::new(), Vec::new(), Vec::new());
        for (r, row) in group.into_iter().zip(neutral) {
            if row.skipped.is_some() {
                continue;
            }
            if !opts.include_moe && is_moe(&row.model) {
                moe.push(r);
            } else {
                usable.push(r);
                neutral_rows.push(row);
            }
        }
        if usable.len() < MIN_ROWS {
            out.push(GroupFit {
                engine,
                gpu,
                version,
                profile: None,
                loss_neutral: loss(&neutral_rows),
                loss_fitted: f64::NAN,
                checked_rows: Vec::new(),
                moe_rows: Vec::new(),
                skipped: Some(format!(
                    "{} replayable runs{} (at least {MIN_ROWS} needed)",
                    usable.len(),
                    if opts.include_moe {
                        ""
                    } else {
                        " of dense models"
                    }
                )),
                suspect: Vec::new(),
            });
            continue;
        }
        let checked_rows = k_fold_rows(&usable, opts, |train| {
            Ok(descend(train, opts.rounds, &opts.replay)?.0)
        })?;
        let (params, loss_fitted) = descend(&usable, opts.rounds, &opts.replay)?;
        let bound = suspect(&params);
        let checked = errors_by_mode(&checked_rows);
        let moe_rows = replay_with(&moe, &params, &opts.replay)?;
        let moe_checked = errors_by_mode(&moe_rows);
        out.push(GroupFit {
            profile: Some(EngineProfile {
                engine: engine.clone(),
                gpu: gpu.clone(),
                version: version.clone(),
                source: format!(
                    "xpyd calibrate fit-engine on {} runs of {} ({}-fold check)",
                    usable.len(),
                    opts.source,
                    opts.folds
                ),
                params,
                fitted_rows: usable.len(),
                checked,
                moe_checked,
                moe_fitted_rows: 0,
                mxfp4_fitted_rows: 0,
                mxfp4_checked: Vec::new(),
                fp8_moe_fitted_rows: 0,
                fp8_moe_checked: Vec::new(),
            }),
            engine,
            gpu,
            version,
            loss_neutral: loss(&neutral_rows),
            loss_fitted,
            checked_rows,
            moe_rows,
            skipped: None,
            suspect: bound,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_capped_mean_log_error() {
        let row = |t: f64, p: f64| Row {
            id: String::new(),
            file: String::new(),
            backend: String::new(),
            gpu: String::new(),
            mode: "aggregated".into(),
            model: String::new(),
            ttft_ms: super::super::Compare {
                measured: 100.0,
                predicted: Some(t),
                error: Some(t / 100.0 - 1.0),
            },
            tpot_ms: super::super::Compare {
                measured: 10.0,
                predicted: Some(p),
                error: Some(p / 10.0 - 1.0),
            },
            ttft_p50_ms: None,
            ttft_p90_ms: None,
            ttft_p99_ms: None,
            tpot_p50_ms: None,
            tpot_p90_ms: None,
            tpot_p99_ms: None,
            throughput_rps: None,
            in_flight_implied: None,
            notes: vec![],
            skipped: None,
        };
        assert_eq!(loss(&[row(100.0, 10.0)]), 0.0);
        let l = loss(&[row(200.0, 10.0)]);
        assert!((l - 2f64.ln() / 2.0).abs() < 1e-12);
        // A 1000x miss counts the cap, not 6.9.
        assert!((loss(&[row(1e5, 10.0)]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bounds_and_implausible_scales_are_reported_but_zero_overheads_are_not() {
        assert!(suspect(&EngineParams::NEUTRAL).is_empty());
        let p = EngineParams {
            prefill_scale: 0.25,
            frontend_ms: 10000.0,
            ..EngineParams::NEUTRAL
        };
        let b = suspect(&p);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(
            b[0].starts_with("prefill-scale = 0.25 is at a bound"),
            "{b:?}"
        );
        assert!(b[1].starts_with("frontend-ms = 10000"), "{b:?}");
        let odd = EngineParams {
            decode_scale: 0.36,
            prefill_scale: 2.5,
            ..EngineParams::NEUTRAL
        };
        let b = suspect(&odd);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(
            b[0].starts_with("prefill-scale = 2.5 is outside the plausible [0.5, 2]"),
            "{b:?}"
        );
        assert!(b[1].starts_with("decode-scale = 0.36 is outside"), "{b:?}");
        let fine = EngineParams {
            decode_scale: 0.5,
            prefill_scale: 2.0,
            ..EngineParams::NEUTRAL
        };
        assert!(suspect(&fine).is_empty());
    }

    #[test]
    fn rounding_keeps_the_short_decimal_form() {
        let p = round_params(EngineParams {
            prefill_scale: 0.882_500_000_000_000_1,
            per_seq_overhead_us: 44.400_000_000_000_006,
            ..EngineParams::NEUTRAL
        });
        assert_eq!(p.prefill_scale.to_string(), "0.8825");
        assert_eq!(p.per_seq_overhead_us.to_string(), "44.4");
    }

    #[test]
    fn clamp_keeps_coordinates_in_range() {
        assert_eq!(COORDS[0].clamp(10.0), 4.0);
        assert_eq!(COORDS[2].clamp(-5.0), 0.0);
        assert_eq!(COORDS[4].clamp(5000.0), 1000.0);
    }
}
