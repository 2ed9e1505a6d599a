//! Replay measured serving runs through the simulator and compare.
//!
//! Each [`MeasuredRun`] is simulated on its own deployment (silicon rows carry theirs) or
//! on the `--scenario` file's (the built-in default without one), with the run's load:
//! closed-loop clients or a Poisson rate, fixed lengths (the file's, else the scenario's),
//! and as many requests as the file measured (at least 30). Only the main system is
//! simulated (no aggregated baseline). A run that cannot be simulated becomes a row with
//! `skipped` set; it counts as skipped, never as passed.
//!
//! Invariants: errors are signed, `predicted / measured - 1`; group statistics are over
//! the absolute errors of the replayed rows of the group, median and p90 by linear
//! interpolation between order statistics. Rows keep the input order; runs are simulated
//! in parallel (rayon preserves order), each with the scenario's seed, so the report is
//! the same at any thread count.

use super::{MeasuredRun, Stat};
use crate::engine::System;
use crate::scenario::{
    DEFAULT_NAME, LoadedFile, Overrides, Scenario, ScenarioError, load_file, mode_name,
};
use crate::workload::{ArrivalFile, LengthFile};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where runs without a deployment of their own take it from.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Scenario file (`None`: the built-in default).
    pub scenario: Option<PathBuf>,
    /// Engine-layer parameters replacing every run's resolved ones (`None`: each run's
    /// own, from its scenario's `deployment.engine-profile`).
    pub engine: Option<xpyd_models::EngineParams>,
    /// Engine profiles to replay with instead of the built-in ones (`xpyd validate
    /// --serving --engine-profile FILE`): each run takes the profile of its engine, GPU
    /// and version (the version-less one when none matches); a run none fits keeps its
    /// own layer, and its notes say so. `engine` wins over this.
    pub profiles: Option<xpyd_models::EngineProfiles>,
}

/// The engine, GPU and version a run's layer is looked up by (and `fit-engine` groups
/// by): its own where it records them, else its deployment's (`base`: the `--scenario`
/// file's wire form).
pub(super) fn layer_key(
    run: &MeasuredRun,
    base: Option<&LoadedFile>,
) -> (String, String, Option<String>) {
    let from_base = run.scenario_toml.is_none();
    let engine = if xpyd_models::engine::ENGINES.contains(&run.backend.as_str()) || !from_base {
        run.backend.clone()
    } else {
        let backend = base
            .and_then(|b| b.wire.deployment.backend)
            .unwrap_or(crate::scenario::Backend::Sglang);
        crate::scenario::EngineLayer::engine_of(backend).to_owned()
    };
    let gpu = match (run.gpu.is_empty(), base) {
        (true, Some(b)) if from_base => b.wire.hardware.gpu.clone(),
        _ => run.gpu.clone(),
    };
    let version = (!run.backend_version.is_empty()).then(|| run.backend_version.clone());
    (engine, gpu, version)
}

/// Measured vs predicted value of one metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Compare {
    /// Measured, ms (req/s for throughput).
    pub measured: f64,
    /// Predicted (`None`: skipped row).
    pub predicted: Option<f64>,
    /// `predicted / measured - 1` (`None`: skipped row).
    pub error: Option<f64>,
}

impl Compare {
    fn new(measured: f64, predicted: Option<f64>) -> Compare {
        let predicted = predicted.filter(|p| p.is_finite());
        Compare {
            measured,
            predicted,
            error: predicted
                .filter(|_| measured > 0.0)
                .map(|p| p / measured - 1.0),
        }
    }
}

/// One replayed (or skipped) run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The run's id.
    pub id: String,
    /// File it came from.
    pub file: String,
    /// Backend as measured (or the scenario's).
    pub backend: String,
    /// GPU (or the scenario's).
    pub gpu: String,
    /// `aggregated` / `disaggregated` (or the scenario's).
    pub mode: String,
    /// Model (or the scenario's).
    pub model: String,
    /// Mean TTFT, ms.
    pub ttft_ms: Compare,
    /// Mean TPOT, ms.
    pub tpot_ms: Compare,
    /// Median TTFT, ms, where the file has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_p50_ms: Option<Compare>,
    /// p90 TTFT, ms, where the file has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_p90_ms: Option<Compare>,
    /// p99 TTFT, ms, where the file has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_p99_ms: Option<Compare>,
    /// Median TPOT, ms, where the file has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot_p50_ms: Option<Compare>,
    /// p90 TPOT, ms, where the file has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot_p90_ms: Option<Compare>,
    /// p99 TPOT, ms, where the file has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot_p99_ms: Option<Compare>,
    /// Completed requests/s, where the file has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_rps: Option<Compare>,
    /// Requests in the engine at once that the measured means imply for a closed-loop
    /// run, the server's TTFT taken as predicted ([`implied_in_flight`]); below the
    /// clients when the measured TTFT holds a wait the replay does not model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight_implied: Option<f64>,
    /// How the run was mapped onto the simulator.
    pub notes: Vec<String>,
    /// Why the run was not simulated (`None`: it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Error statistics of one backend x GPU x mode x model group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    /// Backend.
    pub backend: String,
    /// GPU.
    pub gpu: String,
    /// Mode.
    pub mode: String,
    /// Model.
    pub model: String,
    /// Rows replayed.
    pub replayed: usize,
    /// Rows skipped.
    pub skipped: usize,
    /// Median |error| of mean TTFT (`None`: nothing replayed).
    pub ttft_median_abs_error: Option<f64>,
    /// p90 |error| of mean TTFT.
    pub ttft_p90_abs_error: Option<f64>,
    /// Median |error| of mean TPOT.
    pub tpot_median_abs_error: Option<f64>,
    /// p90 |error| of mean TPOT.
    pub tpot_p90_abs_error: Option<f64>,
}

/// Rows and groups of a replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// One row per measured run, in input order.
    pub rows: Vec<Row>,
    /// One group per backend x GPU x mode x model, sorted by those keys.
    pub groups: Vec<Group>,
    /// The k-fold coverage of the engine model's 90% intervals per engine x GPU x mode
    /// and metric ([`super::residuals::coverage`]).
    pub coverage: Vec<super::residuals::Coverage>,
    /// GPUs of each row's simulated deployment (`None`: skipped), in row order.
    #[serde(skip)]
    pub gpus: Vec<Option<u32>>,
    /// The decision check (`--decisions`; `None` unless asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<super::decisions::Decisions>,
}

/// The `q` quantile (0..=1) of `xs`, linear between order statistics (`None`: empty).
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

/// Group `rows` by backend x GPU x mode x model.
pub fn groups(rows: &[Row]) -> Vec<Group> {
    let mut by: BTreeMap<(&str, &str, &str, &str), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        by.entry((&r.backend, &r.gpu, &r.mode, &r.model))
            .or_default()
            .push(r);
    }
    by.into_iter()
        .map(|((backend, gpu, mode, model), rs)| {
            let abs = |f: fn(&Row) -> &Compare| -> Vec<f64> {
                rs.iter()
                    .filter(|r| r.skipped.is_none())
                    .filter_map(|r| f(r).error.map(f64::abs))
                    .collect()
            };
            let ttft = abs(|r| &r.ttft_ms);
            let tpot = abs(|r| &r.tpot_ms);
            let skipped = rs.iter().filter(|r| r.skipped.is_some()).count();
            Group {
                backend: backend.to_owned(),
                gpu: gpu.to_owned(),
                mode: mode.to_owned(),
                model: model.to_owned(),
                replayed: rs.len() - skipped,
                skipped,
                ttft_median_abs_error: quantile(&ttft, 0.5),
                ttft_p90_abs_error: quantile(&ttft, 0.9),
                tpot_median_abs_error: quantile(&tpot, 0.5),
                tpot_p90_abs_error: quantile(&tpot, 0.9),
            }
        })
        .collect()
}

/// Whether a run's model has FP8 routed experts as it is replayed (an MoE model whose
/// experts follow FP8 weights); false for a run that cannot be simulated.
pub(super) fn has_fp8_experts(run: &MeasuredRun, base: Option<&LoadedFile>) -> bool {
    scenario_of(run, base, None).is_ok_and(|s| {
        s.model
            .moe
            .as_ref()
            .is_some_and(|m| m.expert_weights.row_dtype(s.weights) == xpyd_models::ExpertDtype::Fp8)
    })
}

/// The scenario a run is simulated on, or why it cannot be.
fn scenario_of(
    run: &MeasuredRun,
    base: Option<&LoadedFile>,
    engine: Option<&xpyd_models::EngineParams>,
) -> Result<Scenario, String> {
    if let Some(text) = &run.scenario_toml {
        let file = PathBuf::from(format!("{}#{}", run.file.display(), run.id));
        return Scenario::from_text_with_engine(&file, Path::new("."), text, engine)
            .map_err(|e| format!("deployment not simulable: {e}"));
    }
    let Some(base) = base else {
        return Err("no deployment (pass --scenario)".to_owned());
    };
    let mut wire = base.wire.clone();
    wire.deployment.engine_override = engine.cloned();
    let load = &run.load;
    let w = &mut wire.workload;
    w.trace = None;
    w.sessions = None;
    w.prefix = None;
    if let Some(c) = load.clients {
        w.arrival = Some(ArrivalFile::ClosedLoop {
            clients: c,
            think_time_ms: Some(0.0),
        });
    } else if let Some(r) = load.rate_rps.filter(|r| *r > 0.0) {
        w.arrival = Some(ArrivalFile::Poisson { rate_rps: r });
    } else {
        return Err("the file records neither a concurrency nor a request rate".to_owned());
    }
    if load.input_tokens.is_some() || load.output_tokens.is_some() {
        if w.lengths.is_some() {
            if load.input_tokens.is_none() || load.output_tokens.is_none() {
                return Err("the file has only one of the lengths and the scenario joint [workload.lengths]; give the scenario input-tokens/output-tokens".to_owned());
            }
            w.lengths = None;
        }
        if let Some(t) = load.input_tokens {
            w.input_tokens = Some(LengthFile::Fixed {
                tokens: t,
                jitter: None,
            });
        }
        if let Some(t) = load.output_tokens {
            w.output_tokens = Some(LengthFile::Fixed {
                tokens: t,
                jitter: None,
            });
        }
    }
    let floor = u64::from(load.clients.unwrap_or(10)) * 3;
    w.requests = Some(load.requests.unwrap_or(floor).max(floor).max(30));
    Scenario::from_file(&base.file, &base.base_dir, wire)
        .map_err(|e| format!("scenario with the file's load is invalid: {e}"))
}

/// Share of a closed loop's clients below which [`replay_one`] notes the shortfall.
const IN_FLIGHT_NOTE_BELOW: f64 = 0.9;

/// Requests in the engine at once implied by a closed-loop run's measured means, by
/// Little's law: each client's cycle is its TTFT plus `(osl - 1) x TPOT`, of which the
/// server holds the request for the predicted TTFT plus the same decode time, so `clients
/// x (predicted TTFT + decode) / (measured TTFT + decode)`. At most the clients (a
/// measured TTFT below the predicted one says nothing about a wait); `None` without a
/// positive measurement, a prediction, or at least 2 output tokens.
pub fn implied_in_flight(
    clients: u32,
    output_tokens: u32,
    measured_ttft_ms: f64,
    measured_tpot_ms: f64,
    predicted_ttft_ms: f64,
) -> Option<f64> {
    let valid = |x: f64| x.is_finite() && x > 0.0;
    if output_tokens < 2
        || !valid(measured_ttft_ms)
        || !valid(measured_tpot_ms)
        || !valid(predicted_ttft_ms)
    {
        return None;
    }
    let cycle = |ttft_ms| super::mean_e2e_ms(ttft_ms, measured_tpot_ms, output_tokens);
    let c = f64::from(clients);
    Some((c * cycle(predicted_ttft_ms) / cycle(measured_ttft_ms)).min(c))
}

fn opt_compare(measured: Option<f64>, predicted: f64, skipped: bool) -> Option<Compare> {
    measured.map(|m| Compare::new(m, (!skipped).then_some(predicted)))
}

fn replay_one(
    run: &MeasuredRun,
    base: Option<&LoadedFile>,
    engine: Option<&xpyd_models::EngineParams>,
) -> (Row, Option<u32>) {
    let mut notes = run.notes.clone();
    let (mut backend, mut gpu, mut mode, mut model) = (
        run.backend.clone(),
        run.gpu.clone(),
        run.mode.clone(),
        run.model.clone(),
    );
    let outcome = match &run.skip {
        Some(why) => Err(why.clone()),
        None => scenario_of(run, base, engine).and_then(|sc| {
            if engine.is_none() {
                notes.push(format!("engine layer {}", sc.engine_layer.origin));
            }
            if run.scenario_toml.is_none() {
                notes.push(format!(
                    "deployment from {}",
                    base.map_or(DEFAULT_NAME.to_owned(), |b| b.file.display().to_string())
                ));
                if backend.is_empty() {
                    backend = sc.backend.name().to_owned();
                }
                gpu = sc.gpu.id.clone();
                mode = mode_name(&sc.topology).to_owned();
                model = sc.model.id.clone();
            }
            let out = crate::run(&sc, System::Main, &mut |_| {})
                .map_err(|e| format!("simulation failed: {e}"))?;
            if out.metrics.ttft_ms.count == 0 {
                return Err("no request completed in the simulation".to_owned());
            }
            Ok((out.metrics, out.gpus))
        }),
    };
    let (m, gpus, skipped) = match outcome {
        Ok((m, g)) => (Some(m), Some(g), None),
        Err(why) => (None, None, Some(why)),
    };
    let is_skipped = skipped.is_some();
    let pick = |f: fn(&crate::metrics::Metrics) -> f64| m.as_ref().map_or(f64::NAN, f);
    let both = |s: &Stat, mean: f64| Compare::new(s.mean.unwrap_or(f64::NAN), Some(mean));
    let ttft = &run.ttft_ms;
    let tpot = &run.tpot_ms;
    let mut ttft_ms = both(ttft, pick(|m| m.ttft_ms.mean));
    let mut tpot_ms = both(tpot, pick(|m| m.tpot_ms.mean));
    if is_skipped {
        ttft_ms.predicted = None;
        ttft_ms.error = None;
        tpot_ms.predicted = None;
        tpot_ms.error = None;
    }
    let in_flight_implied = match (run.load.clients, run.load.output_tokens, is_skipped) {
        (Some(c), Some(osl), false) => implied_in_flight(
            c,
            osl,
            ttft_ms.measured,
            tpot_ms.measured,
            ttft_ms.predicted.unwrap_or(f64::NAN),
        ),
        _ => None,
    };
    if let (Some(n), Some(c)) = (in_flight_implied, run.load.clients)
        && n < IN_FLIGHT_NOTE_BELOW * f64::from(c)
    {
        notes.push(format!(
            "by Little's law the measured TTFT leaves about {n:.0} of {c} requests in the engine at once (the server's TTFT as predicted): a wait outside the replayed engine (client, front-end or admission limit) or a slower prefill than predicted"
        ));
    }
    let row = Row {
        id: run.id.clone(),
        file: run.file.display().to_string(),
        backend,
        gpu,
        mode,
        model,
        ttft_ms,
        tpot_ms,
        ttft_p50_ms: opt_compare(ttft.p50, pick(|m| m.ttft_ms.p50), is_skipped),
        ttft_p90_ms: opt_compare(ttft.p90, pick(|m| m.ttft_ms.p90), is_skipped),
        ttft_p99_ms: opt_compare(ttft.p99, pick(|m| m.ttft_ms.p99), is_skipped),
        tpot_p50_ms: opt_compare(tpot.p50, pick(|m| m.tpot_ms.p50), is_skipped),
        tpot_p90_ms: opt_compare(tpot.p90, pick(|m| m.tpot_ms.p90), is_skipped),
        tpot_p99_ms: opt_compare(tpot.p99, pick(|m| m.tpot_ms.p99), is_skipped),
        throughput_rps: opt_compare(
            run.throughput_rps,
            pick(|m| m.throughput.requests_per_s),
            is_skipped,
        ),
        in_flight_implied,
        notes,
        skipped,
    };
    (row, gpus)
}

/// Simulate every run and compare. Errors only when the `--scenario` file (needed by
/// runs without a deployment of their own) cannot be loaded.
pub fn replay(runs: &[MeasuredRun], opts: &ReplayOptions) -> Result<Report, ScenarioError> {
    let base = if runs.iter().any(|r| r.scenario_toml.is_none()) {
        Some(load_file(opts.scenario.as_deref(), &Overrides::default())?)
    } else {
        None
    };
    let replayed: Vec<(Row, Option<u32>)> = runs
        .par_iter()
        .map(|r| {
            if opts.engine.is_some() {
                return replay_one(r, base.as_ref(), opts.engine.as_ref());
            }
            let Some(file) = &opts.profiles else {
                return replay_one(r, base.as_ref(), None);
            };
            let (engine, gpu, version) = layer_key(r, base.as_ref());
            match file.find(&engine, &gpu, version.as_deref()) {
                Some(p) => {
                    let mut row = replay_one(r, base.as_ref(), Some(&p.params));
                    row.0
                        .notes
                        .push(format!("engine layer {} from the given profiles", p.key()));
                    row
                }
                None => {
                    let mut row = replay_one(r, base.as_ref(), None);
                    row.0.notes.push(format!(
                        "no {engine}/{gpu} profile in the given profiles: its own layer"
                    ));
                    row
                }
            }
        })
        .collect();
    let (rows, gpus): (Vec<Row>, Vec<Option<u32>>) = replayed.into_iter().unzip();
    let groups = groups(&rows);
    let mut report = Report {
        rows,
        groups,
        coverage: Vec::new(),
        gpus,
        decisions: None,
    };
    report.coverage = super::residuals::coverage(runs, &report, super::residuals::COVERAGE_FOLDS);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_follows_littles_law() {
        // SGLang 0.5.6.post2 Llama-3.1-8B, 1000 x 2000 at 512 clients on 8 H200s: 7,978 ms
        // measured TTFT, 29.38 ms TPOT, 363 ms predicted -> 453.5 requests in the engine.
        let n = super::implied_in_flight(512, 2000, 7978.0, 29.38, 363.0).unwrap();
        assert!((n - 453.5).abs() < 0.5, "{n}");
        // A measured TTFT below the prediction caps at the clients.
        assert_eq!(
            super::implied_in_flight(64, 100, 100.0, 10.0, 300.0),
            Some(64.0)
        );
        // One output token, or a missing measurement or prediction: nothing to say.
        assert_eq!(super::implied_in_flight(64, 1, 500.0, 10.0, 300.0), None);
        assert_eq!(super::implied_in_flight(64, 100, 0.0, 10.0, 300.0), None);
        assert_eq!(
            super::implied_in_flight(64, 100, 500.0, 10.0, f64::NAN),
            None
        );
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(quantile(&[0.0, 1.0], 0.9), Some(0.9));
    }

    #[test]
    fn error_is_signed_ratio() {
        let c = Compare::new(100.0, Some(80.0));
        assert!((c.error.unwrap() + 0.2).abs() < 1e-12);
        assert_eq!(Compare::new(100.0, None).error, None);
    }
}
