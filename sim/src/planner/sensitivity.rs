//! `xpyd plan --sensitivity`: does the recommendation hold when each engine-layer
//! parameter of the candidates' engine profiles sits at an end of its interval?
//!
//! # The intervals
//!
//! The shipped engine profiles carry one value per parameter, not a per-parameter spread,
//! so the ends come from the engine model's residual quantiles (the same residuals as the
//! intervals and probabilities, [`crate::interval`]): each parameter is assigned the
//! latency it drives ([`EngineParam::metric`]: TTFT for prefill-scale, frontend-ms,
//! moe-eager-layer-us and mxfp4-compute-scale; TPOT for the
//! per-step and per-sequence costs, decode-scale, mxfp4-memory-scale, mxfp4-layer-us,
//! fp8-moe-memory-scale and fp8-moe-layer-us), and its ends are the value times the
//! 90% model-error factors of that latency, `exp(lo)` and `exp(hi)` with `(lo, hi)` the
//! offsets of `ln(true / predicted)` ([`crate::interval::offsets`]). For cpu-overlap
//! (the share of CPU time hidden) the exposed share `1 - overlap` is scaled instead.
//! Values are clamped to the parameter's valid range (`xpyd_models::engine::RANGES`).
//! This pins the whole measured error of a latency on one parameter at a time: a stress
//! test of each parameter, wider than its fit uncertainty.
//!
//! The residual group is the candidate's engine x GPU x mode, or engine x GPU x
//! aggregated where its mode has none (a profile is fitted per engine x GPU, mostly on
//! aggregated runs). A candidate with no built-in engine layer, or no residuals for its
//! engine x GPU, keeps its parameters (and the report lists why).
//!
//! Each rerun is the whole plan ([`super::plan`]) at point estimates (no probabilities),
//! with every candidate's scenario shifted ([`EngineShift::apply`]). A parameter absent
//! from every candidate's profile (an additive term at 0, an MXFP4 scale at 1) is not
//! rerun.
//!
//! Invariants: deterministic (each rerun is a plan, deterministic at any `jobs`);
//! parameters in [`EngineParam::ALL`] order, the low end first.

use super::candidates::{Candidate, enumerate};
use super::result::{Plan, Recommendation};
use super::{PlanError, PlanSettings};
use crate::interval::{ModelError, ResidualMetric, Residuals};
use crate::scenario::{EngineLayer, Mode, Scenario};
use serde::Serialize;
use std::collections::BTreeMap;
use xpyd_models::engine::EngineParams;

/// A parameter of the engine layer that `--sensitivity` moves.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EngineParam {
    /// `prefill-scale`.
    PrefillScale,
    /// `decode-scale`.
    DecodeScale,
    /// `step-overhead-ms`.
    StepOverheadMs,
    /// `per-seq-overhead-us`.
    PerSeqOverheadUs,
    /// `cpu-overlap`.
    CpuOverlap,
    /// `frontend-ms`.
    FrontendMs,
    /// `layer-floor-us`.
    LayerFloorUs,
    /// `allreduce-latency-us`.
    AllreduceLatencyUs,
    /// `moe-eager-layer-us`.
    MoeEagerLayerUs,
    /// `mxfp4-compute-scale`.
    Mxfp4ComputeScale,
    /// `mxfp4-memory-scale`.
    Mxfp4MemoryScale,
    /// `mxfp4-layer-us`.
    Mxfp4LayerUs,
    /// `fp8-moe-memory-scale`.
    Fp8MoeMemoryScale,
    /// `fp8-moe-layer-us`.
    Fp8MoeLayerUs,
}

/// Which end of a parameter's interval.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum End {
    /// The lower value.
    Low,
    /// The higher value.
    High,
}

impl EngineParam {
    /// Every parameter, in report order.
    pub const ALL: [EngineParam; 14] = [
        EngineParam::PrefillScale,
        EngineParam::DecodeScale,
        EngineParam::StepOverheadMs,
        EngineParam::PerSeqOverheadUs,
        EngineParam::CpuOverlap,
        EngineParam::FrontendMs,
        EngineParam::LayerFloorUs,
        EngineParam::AllreduceLatencyUs,
        EngineParam::MoeEagerLayerUs,
        EngineParam::Mxfp4ComputeScale,
        EngineParam::Mxfp4MemoryScale,
        EngineParam::Mxfp4LayerUs,
        EngineParam::Fp8MoeMemoryScale,
        EngineParam::Fp8MoeLayerUs,
    ];

    /// Its name in profiles.
    pub fn name(self) -> &'static str {
        match self {
            EngineParam::PrefillScale => "prefill-scale",
            EngineParam::DecodeScale => "decode-scale",
            EngineParam::StepOverheadMs => "step-overhead-ms",
            EngineParam::PerSeqOverheadUs => "per-seq-overhead-us",
            EngineParam::CpuOverlap => "cpu-overlap",
            EngineParam::FrontendMs => "frontend-ms",
            EngineParam::LayerFloorUs => "layer-floor-us",
            EngineParam::AllreduceLatencyUs => "allreduce-latency-us",
            EngineParam::MoeEagerLayerUs => "moe-eager-layer-us",
            EngineParam::Mxfp4ComputeScale => "mxfp4-compute-scale",
            EngineParam::Mxfp4MemoryScale => "mxfp4-memory-scale",
            EngineParam::Mxfp4LayerUs => "mxfp4-layer-us",
            EngineParam::Fp8MoeMemoryScale => "fp8-moe-memory-scale",
            EngineParam::Fp8MoeLayerUs => "fp8-moe-layer-us",
        }
    }

    /// The latency whose model error gives its interval.
    pub fn metric(self) -> ResidualMetric {
        match self {
            EngineParam::PrefillScale
            | EngineParam::FrontendMs
            | EngineParam::MoeEagerLayerUs
            | EngineParam::Mxfp4ComputeScale => ResidualMetric::Ttft,
            EngineParam::DecodeScale
            | EngineParam::StepOverheadMs
            | EngineParam::PerSeqOverheadUs
            | EngineParam::CpuOverlap
            | EngineParam::LayerFloorUs
            | EngineParam::AllreduceLatencyUs
            | EngineParam::Mxfp4MemoryScale
            | EngineParam::Mxfp4LayerUs
            | EngineParam::Fp8MoeMemoryScale
            | EngineParam::Fp8MoeLayerUs => ResidualMetric::Tpot,
        }
    }

    /// Its value in `p`.
    pub fn get(self, p: &EngineParams) -> f64 {
        match self {
            EngineParam::PrefillScale => p.prefill_scale,
            EngineParam::DecodeScale => p.decode_scale,
            EngineParam::StepOverheadMs => p.step_overhead_ms,
            EngineParam::PerSeqOverheadUs => p.per_seq_overhead_us,
            EngineParam::CpuOverlap => p.cpu_overlap,
            EngineParam::FrontendMs => p.frontend_ms,
            EngineParam::LayerFloorUs => p.layer_floor_us,
            EngineParam::AllreduceLatencyUs => p.allreduce_latency_us,
            EngineParam::MoeEagerLayerUs => p.moe_eager_layer_us,
            EngineParam::Mxfp4ComputeScale => p.mxfp4_compute_scale,
            EngineParam::Mxfp4MemoryScale => p.mxfp4_memory_scale,
            EngineParam::Mxfp4LayerUs => p.mxfp4_layer_us,
            EngineParam::Fp8MoeMemoryScale => p.fp8_moe_memory_scale,
            EngineParam::Fp8MoeLayerUs => p.fp8_moe_layer_us,
        }
    }

    fn set(self, p: &mut EngineParams, v: f64) {
        let f = match self {
            EngineParam::PrefillScale => &mut p.prefill_scale,
            EngineParam::DecodeScale => &mut p.decode_scale,
            EngineParam::StepOverheadMs => &mut p.step_overhead_ms,
            EngineParam::PerSeqOverheadUs => &mut p.per_seq_overhead_us,
            EngineParam::CpuOverlap => &mut p.cpu_overlap,
            EngineParam::FrontendMs => &mut p.frontend_ms,
            EngineParam::LayerFloorUs => &mut p.layer_floor_us,
            EngineParam::AllreduceLatencyUs => &mut p.allreduce_latency_us,
            EngineParam::MoeEagerLayerUs => &mut p.moe_eager_layer_us,
            EngineParam::Mxfp4ComputeScale => &mut p.mxfp4_compute_scale,
            EngineParam::Mxfp4MemoryScale => &mut p.mxfp4_memory_scale,
            EngineParam::Mxfp4LayerUs => &mut p.mxfp4_layer_us,
            EngineParam::Fp8MoeMemoryScale => &mut p.fp8_moe_memory_scale,
            EngineParam::Fp8MoeLayerUs => &mut p.fp8_moe_layer_us,
        };
        *f = v;
    }

    /// Whether the term is part of the profile: an additive term above 0, an MXFP4 scale
    /// other than 1, an FP8-expert term where `fp8-moe-roofline` is set (absent terms are
    /// left where they are); the scales and cpu-overlap always are.
    pub fn present(self, p: &EngineParams) -> bool {
        let v = self.get(p);
        match self {
            EngineParam::PrefillScale | EngineParam::DecodeScale | EngineParam::CpuOverlap => true,
            EngineParam::Mxfp4ComputeScale | EngineParam::Mxfp4MemoryScale => v != 1.0,
            EngineParam::Fp8MoeMemoryScale => p.fp8_moe_roofline,
            EngineParam::Fp8MoeLayerUs => p.fp8_moe_roofline && v != 0.0,
            _ => v != 0.0,
        }
    }

    /// Its valid range.
    fn range(self) -> (f64, f64) {
        xpyd_models::engine::RANGES
            .iter()
            .find(|(n, _, _)| *n == self.name())
            .map_or((0.0, f64::INFINITY), |&(_, lo, hi)| (lo, hi))
    }

    /// The value `v` at `end` of its interval, given its latency's model-error offsets
    /// `(lo, hi)` of `ln(true / predicted)` (`lo <= 0 <= hi`), clamped to its range.
    pub fn at(self, v: f64, (lo, hi): (f64, f64), end: End) -> f64 {
        let (min, max) = self.range();
        let x = match (self, end) {
            // More overlap is faster: the exposed share 1 - v carries the error.
            (EngineParam::CpuOverlap, End::Low) => 1.0 - (1.0 - v) * hi.exp(),
            (EngineParam::CpuOverlap, End::High) => 1.0 - (1.0 - v) * lo.exp(),
            (_, End::Low) => v * lo.exp(),
            (_, End::High) => v * hi.exp(),
        };
        x.clamp(min, max)
    }
}

/// One parameter at one end of its interval, applied to every candidate's scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineShift {
    /// The parameter.
    pub param: EngineParam,
    /// The end.
    pub end: End,
    /// The residuals the interval comes from.
    pub residuals: Residuals,
}

impl EngineShift {
    /// Move the parameter of `sc`'s engine layer to the end (nothing without a built-in
    /// engine layer or residuals for it).
    pub fn apply(&self, sc: &mut Scenario) {
        let Ok(m) = model_error(&self.residuals, sc) else {
            return;
        };
        let offs = metric_row(&m, self.param.metric()).offsets();
        if let Some(p) = sc.engine_layer.params.as_mut()
            && self.param.present(p)
        {
            let v = self.param.get(p);
            self.param.set(p, self.param.at(v, offs, self.end));
        }
    }
}

fn metric_row(m: &ModelError, metric: ResidualMetric) -> &crate::interval::ResidualRow {
    match metric {
        ResidualMetric::Ttft => &m.ttft,
        ResidualMetric::Tpot => &m.tpot,
        ResidualMetric::E2e => &m.e2e,
    }
}

/// The residual group whose error gives `sc`'s parameter intervals: its engine x GPU x
/// mode, else engine x GPU x aggregated (see the module docs); `Err`: why none.
pub fn model_error(residuals: &Residuals, sc: &Scenario) -> Result<ModelError, String> {
    if sc.engine_layer.params.is_none() {
        return Err(format!("engine layer {}", sc.engine_layer.origin));
    }
    residuals.group_of(sc).or_else(|why| {
        let engine = EngineLayer::engine_of(sc.backend);
        let agg = |m| residuals.find(engine, &sc.gpu.id, "aggregated", m).cloned();
        let ok = !sc.is_heterogeneous() && sc.engine_layer.origin.starts_with("builtin:");
        match (
            ok,
            agg(ResidualMetric::Ttft),
            agg(ResidualMetric::Tpot),
            agg(ResidualMetric::E2e),
        ) {
            (true, Some(ttft), Some(tpot), Some(e2e)) => Ok(ModelError {
                group: format!("{engine}/{}/aggregated", sc.gpu.id),
                source: residuals.source.clone(),
                ttft,
                tpot,
                e2e,
            }),
            _ => Err(why),
        }
    })
}

/// A recommendation, as the sensitivity report compares them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecSummary {
    /// Candidate index of its unit.
    pub candidate: usize,
    /// The deployment in words (the unit it was sized from, then its roles).
    pub deployment: String,
    /// What is deployed, whatever unit it was sized from: mode, roles at their replicas
    /// and TP, GPU, batching knobs and router (`aggregated 3x TP1 h100, 8192 tokens,
    /// 1024 seqs, round-robin`).
    pub deployed: String,
    /// GPUs.
    pub gpus: u32,
    /// Prefill (or aggregated) replicas.
    pub prefill_replicas: u32,
    /// Decode replicas (0 when aggregated).
    pub decode_replicas: u32,
    /// Whether its confirming run met the SLOs.
    pub slo_met: bool,
}

impl RecSummary {
    /// The summary of `rec`, a recommendation of `plan`.
    pub fn of(plan: &Plan, rec: &Recommendation) -> RecSummary {
        let c = &plan.results[rec.index].candidate;
        let mut d = c.clone();
        d.prefill.replicas = rec.replicas.prefill;
        d.decode.replicas = match c.mode {
            Mode::Disaggregated => rec.replicas.decode,
            Mode::Aggregated => rec.replicas.prefill,
        };
        RecSummary {
            candidate: rec.index,
            deployment: deployment_words(c, rec),
            deployed: format!(
                "{} {}, {} tokens, {} seqs, {}",
                c.mode_name(),
                d.shape_label(),
                c.knobs.max_batched_tokens,
                c.knobs.max_num_seqs,
                c.router.name()
            ),
            gpus: rec.gpus,
            prefill_replicas: rec.replicas.prefill,
            decode_replicas: rec.replicas.decode,
            slo_met: rec.confirm.met,
        }
    }

    /// The same deployment (whatever unit it was sized from).
    fn same(&self, o: &RecSummary) -> bool {
        self.deployed == o.deployed
    }
}

/// `rec`'s deployment of `c` in words: `2 unit(s) of 1P1D TP2/2 h100 -> 3P2D`.
pub fn deployment_words(c: &Candidate, rec: &Recommendation) -> String {
    let (p, d) = (rec.replicas.prefill, rec.replicas.decode);
    let roles = match c.mode {
        Mode::Disaggregated => format!("{p}P{d}D"),
        Mode::Aggregated => format!("{p} replica(s)"),
    };
    format!("{} unit(s) of {} -> {roles}", rec.units, c.shape_label())
}

/// A parameter's value in one residual group's profile and its ends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupValue {
    /// The profile (`builtin:vllm/h100`).
    pub profile: String,
    /// The residual group its interval comes from (`vllm/h100/aggregated`).
    pub group: String,
    /// The profile's value.
    pub value: f64,
    /// The low end.
    pub low: f64,
    /// The high end.
    pub high: f64,
}

/// The plan with a parameter at one end.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndResult {
    /// Which end.
    pub end: End,
    /// The recommendation (`None`: no candidate met the SLOs).
    pub recommendation: Option<RecSummary>,
    /// Whether it deploys something else than the baseline (roles, replicas, TP, GPU,
    /// knobs or router).
    pub changed: bool,
}

/// One parameter's reruns.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamSensitivity {
    /// The parameter.
    pub parameter: &'static str,
    /// The latency whose model error gives its interval.
    pub drives: ResidualMetric,
    /// Its value and ends in each profile the candidates use.
    pub values: Vec<GroupValue>,
    /// The low end, then the high end.
    pub ends: Vec<EndResult>,
    /// Whether either end changes the recommendation.
    pub changed: bool,
}

/// `sensitivity.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sensitivity {
    /// How the intervals are made, in words.
    pub method: String,
    /// The residual file.
    pub residuals: String,
    /// The recommendation at the profiles' values (the point estimates).
    pub baseline: Option<RecSummary>,
    /// Parameters rerun, in order.
    pub parameters: Vec<ParamSensitivity>,
    /// Parameters absent from every profile the candidates use (not rerun).
    pub absent: Vec<&'static str>,
    /// Candidates' engine layers that have no interval, with why (kept as they are).
    pub not_varied: Vec<String>,
    /// Plans rerun.
    pub reruns: u32,
}

/// What the report says about how the intervals are made.
pub const METHOD: &str = "each engine-layer parameter of the candidates' built-in engine profiles at the ends of its 90% model-error interval: the value times exp(lo) and exp(hi) of the residual quantiles of the latency it drives (TTFT or TPOT) for the candidate's engine x GPU x mode (else engine x GPU x aggregated), cpu-overlap through its exposed share 1 - overlap, clamped to the valid range; one parameter at a time, the search rerun at point estimates";

/// Rerun the plan of `settings` with each parameter at each end (see the module docs);
/// `base` is its plan. `progress` gets `(done, total)` reruns.
pub fn sensitivity(
    settings: &PlanSettings,
    base: &Plan,
    progress: &(dyn Fn(u32, u32) + Sync),
) -> Result<Sensitivity, PlanError> {
    let residuals = settings
        .confidence
        .as_ref()
        .map_or_else(Residuals::builtin, |c| c.residuals.clone());
    let candidates = enumerate(
        &settings.base,
        &settings.file,
        &settings.base_dir,
        &settings.space,
    )?;
    // One profile per residual group the candidates use.
    let mut groups: BTreeMap<(String, String), (EngineParams, ModelError)> = BTreeMap::new();
    let mut not_varied: Vec<String> = Vec::new();
    for c in &candidates {
        let sc = c.scenario(&settings.base, &settings.file, &settings.base_dir, 1)?;
        match model_error(&residuals, &sc) {
            Ok(m) => {
                let p = sc.engine_layer.params.clone().expect("checked");
                groups
                    .entry((sc.engine_layer.origin.clone(), m.group.clone()))
                    .or_insert((p, m));
            }
            Err(why) => {
                let why = format!("{} ({}): {why}", c.shape_label(), c.mode_name());
                if !not_varied.contains(&why) && not_varied.len() < 20 {
                    not_varied.push(why);
                }
            }
        }
    }
    let baseline_rec = match &base.confidence {
        Some(pc) if pc.level.is_some() => pc.point.as_deref(),
        _ => base.recommendation.as_ref(),
    };
    let baseline = baseline_rec.map(|r| RecSummary::of(base, r));
    let mut todo: Vec<(EngineParam, Vec<GroupValue>)> = Vec::new();
    let mut absent = Vec::new();
    for param in EngineParam::ALL {
        let values: Vec<GroupValue> = groups
            .iter()
            .filter(|(_, (p, _))| param.present(p))
            .map(|((profile, group), (p, m))| {
                let v = param.get(p);
                let offs = metric_row(m, param.metric()).offsets();
                GroupValue {
                    profile: profile.clone(),
                    group: group.clone(),
                    value: v,
                    low: param.at(v, offs, End::Low),
                    high: param.at(v, offs, End::High),
                }
            })
            .collect();
        if values.is_empty() {
            absent.push(param.name());
        } else {
            todo.push((param, values));
        }
    }
    let total = 2 * todo.len() as u32;
    let mut done = 0;
    let mut parameters = Vec::new();
    for (param, values) in todo {
        let mut ends = Vec::new();
        for end in [End::Low, End::High] {
            let mut s = settings.clone();
            s.confidence = None;
            s.engine_shift = Some(EngineShift {
                param,
                end,
                residuals: residuals.clone(),
            });
            let plan = super::plan(&s, &|_| {})?;
            let rec = plan
                .recommendation
                .as_ref()
                .map(|r| RecSummary::of(&plan, r));
            let changed = match (&rec, &baseline) {
                (Some(a), Some(b)) => !a.same(b),
                (None, None) => false,
                _ => true,
            };
            ends.push(EndResult {
                end,
                recommendation: rec,
                changed,
            });
            done += 1;
            progress(done, total);
        }
        parameters.push(ParamSensitivity {
            parameter: param.name(),
            drives: param.metric(),
            changed: ends.iter().any(|e| e.changed),
            values,
            ends,
        });
    }
    Ok(Sensitivity {
        method: METHOD.to_owned(),
        residuals: residuals.source.clone(),
        baseline,
        parameters,
        absent,
        not_varied,
        reruns: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_scale_by_the_error_and_stay_in_range() {
        let offs = (-0.2, 0.5);
        let p = EngineParam::StepOverheadMs;
        assert!((p.at(2.0, offs, End::Low) - 2.0 * (-0.2f64).exp()).abs() < 1e-12);
        assert!((p.at(2.0, offs, End::High) - 2.0 * 0.5f64.exp()).abs() < 1e-12);
        // Clamped to the valid range.
        assert_eq!(
            EngineParam::PrefillScale.at(3.5, (0.0, 1.0), End::High),
            4.0
        );
        assert_eq!(
            EngineParam::PrefillScale.at(0.3, (-1.0, 0.0), End::Low),
            0.25
        );
        // cpu-overlap: the exposed share carries the error; the low end is the slow one.
        let o = EngineParam::CpuOverlap;
        let low = o.at(0.6, offs, End::Low);
        let high = o.at(0.6, offs, End::High);
        assert!((low - (1.0 - 0.4 * 0.5f64.exp())).abs() < 1e-12);
        assert!((high - (1.0 - 0.4 * (-0.2f64).exp())).abs() < 1e-12);
        assert!(low < 0.6 && 0.6 < high);
        assert_eq!(o.at(0.0, offs, End::Low), 0.0);
    }

    #[test]
    fn names_match_the_profile_ranges() {
        for p in EngineParam::ALL {
            assert!(
                xpyd_models::engine::RANGES
                    .iter()
                    .any(|(n, _, _)| *n == p.name()),
                "{}",
                p.name()
            );
        }
    }
}
