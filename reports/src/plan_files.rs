//! The files of `xpyd plan`: `plan.csv` ([`PlanRow`]), `pareto.csv` ([`ParetoRow`]),
//! `recommendation.json` ([`RecommendationFile`]), `recommended.toml` and the
//! recommendation's manifests, rendered from a typed [`Plan`] and read back from the same
//! schemas; and the human summary printed after a plan.
//!
//! # Invariants
//!
//! - Renderings are pure functions of the plan: identical plans give identical bytes.
//!   Floats are written with fixed precision; non-finite values are written as empty
//!   cells (CSV) or `null` (JSON).
//! - Each file has one schema, used to write it and to read it back.

use crate::ReportError;
use crate::atomic::write_file;
use crate::manifests::{DeploymentSpec, EmitOptions, emit_all};
use crate::schema::{csv_rows, f6, opt_f6, plain};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;
use xpyd_sim::Scenario;
use xpyd_sim::describe::{RoleShape, Shape};
use xpyd_sim::planner::availability::Headroom;
use xpyd_sim::planner::confidence::Probability;
use xpyd_sim::planner::result::{Objective, Plan, Recommendation, Status};
use xpyd_sim::planner::search::ProbeMetrics;
use xpyd_sim::planner::sensitivity::{End, RecSummary as SensitivityRec, Sensitivity};
use xpyd_sim::role::Role;
use xpyd_sim::scenario::Mode;

csv_rows! {
    /// A row of `plan.csv`: one candidate, in candidate order.
    pub struct PlanRow, columns PLAN_COLUMNS, optional PLAN_SPLIT_COLUMNS {
        /// Candidate index.
        index: u64 = plain,
        /// `disaggregated` or `aggregated`.
        mode: String = plain,
        /// GPU.
        gpu: String = plain,
        /// Prefill TP.
        tp_prefill: u32 = plain,
        /// Decode TP.
        tp_decode: u32 = plain,
        /// Prefill instances of a unit.
        prefill_replicas: u32 = plain,
        /// Decode instances of a unit.
        decode_replicas: u32 = plain,
        /// GPUs of a unit.
        gpus: u32 = plain,
        /// Token budget.
        max_batched_tokens: u32 = plain,
        /// Most running sequences.
        max_num_seqs: u32 = plain,
        /// Router.
        router: String = plain,
        /// Roofline capacity bound of a unit, requests/s.
        bound_rps: Option<f64> = opt_f6,
        /// Highest SLO-meeting rate, requests/s (none when pruned).
        max_rate_rps: Option<f64> = opt_f6,
        /// Goodput per GPU, requests/s (none when pruned).
        goodput_rps_per_gpu: Option<f64> = opt_f6,
        /// Requests per USD (with a GPU price; none when pruned).
        requests_per_usd: Option<f64> = opt_f6,
        /// SLO attainment at the highest SLO-meeting rate.
        attainment: Option<f64> = opt_f6,
        /// TTFT p50 there, ms.
        ttft_p50_ms: Option<f64> = opt_f6,
        /// TTFT p90 there, ms.
        ttft_p90_ms: Option<f64> = opt_f6,
        /// TPOT p50 there, ms.
        tpot_p50_ms: Option<f64> = opt_f6,
        /// TPOT p90 there, ms.
        tpot_p90_ms: Option<f64> = opt_f6,
        /// Simulations run for it.
        probes: u32 = plain,
        /// `evaluated`, `infeasible` or `pruned`.
        status: String = plain,
        /// Pruned by its bound.
        pruned: bool = plain,
        /// Why it is infeasible or pruned.
        reason: String = plain,
        /// Probability of meeting every SLO at `max_rate_rps` (seed replications and the
        /// engine model's error; none when pruned, infeasible, not near the frontier or
        /// probabilities are off).
        p_meet_slo: Option<f64> = opt_f6,
        /// With `--confidence P`: one unit's highest rate meeting every SLO with
        /// probability at least P (none when not searched: its point-estimate cost is
        /// already above the recommendation's).
        max_rate_rps_at_confidence: Option<f64> = opt_f6,
    } optional {
        /// Prefill DP-attention ranks (MoE splits; columns written when a candidate has one).
        dp_prefill: u32 = plain, default 1,
        /// Prefill expert-parallel ranks.
        ep_prefill: u32 = plain, default 1,
        /// Decode DP-attention ranks.
        dp_decode: u32 = plain, default 1,
        /// Decode expert-parallel ranks.
        ep_decode: u32 = plain, default 1,
        /// The role screen's estimate of a unit, requests/s (units above
        /// `--screen-above-gpus` GPUs; none otherwise).
        estimate_rps: Option<f64> = opt_f6, default None,
    }
}

csv_rows! {
    /// A row of `pareto.csv`: a feasible candidate at its highest SLO-meeting rate.
    pub struct ParetoRow, columns PARETO_COLUMNS {
        /// Candidate index.
        index: u64 = plain,
        /// Mode.
        mode: String = plain,
        /// GPU.
        gpu: String = plain,
        /// The unit in words (`2P1D TP2/2 l20`).
        shape: String = plain,
        /// Token budget.
        max_batched_tokens: u32 = plain,
        /// Most running sequences.
        max_num_seqs: u32 = plain,
        /// Router.
        router: String = plain,
        /// Rate, requests/s.
        rate_rps: f64 = f6,
        /// Output tokens/s per GPU.
        output_tokens_per_s_per_gpu: f64 = f6,
        /// Output tokens/s per user.
        tokens_per_s_per_user: f64 = f6,
        /// On the Pareto front.
        pareto: bool = plain,
        /// Probability of meeting every SLO at that rate (none: probabilities off).
        p_meet_slo: Option<f64> = opt_f6,
    }
}

impl PlanRow {
    /// The unit's roles.
    pub fn shape(&self) -> Shape {
        Shape::of_mode_name(
            &self.mode,
            RoleShape {
                replicas: self.prefill_replicas,
                tp: self.tp_prefill,
                dp: self.dp_prefill,
                ep: self.ep_prefill,
            },
            RoleShape {
                replicas: self.decode_replicas,
                tp: self.tp_decode,
                dp: self.dp_decode,
                ep: self.ep_decode,
            },
        )
    }
}

/// The rows of `plan.csv`.
pub fn plan_rows(plan: &Plan) -> Vec<PlanRow> {
    plan.results
        .iter()
        .map(|r| {
            let c = &r.candidate;
            let m = r.at_max.as_ref();
            let pruned = matches!(r.status, Status::Pruned { .. });
            let (status, reason) = match &r.status {
                Status::Evaluated => ("evaluated", String::new()),
                Status::Infeasible => ("infeasible", "SLOs missed even at light load".to_string()),
                Status::Pruned {
                    by_estimate,
                    bound_score,
                    best_score,
                    bound_cost,
                    min_cost,
                } => (
                    "pruned",
                    format!(
                        "{} {} < best {} {}; needs at least {} {} for the target rate > {}",
                        if *by_estimate {
                            "role estimate"
                        } else {
                            "bound"
                        },
                        f6(bound_score),
                        f6(best_score),
                        plan.objective.unit(),
                        f6(bound_cost),
                        plan.objective.cost_unit(),
                        f6(min_cost),
                    ),
                ),
            };
            let measured = |f: fn(&ProbeMetrics) -> f64| m.map(f);
            let unless_pruned = |x: Option<f64>| if pruned { None } else { x };
            PlanRow {
                index: c.index as u64,
                mode: c.mode_name().to_string(),
                gpu: c.gpu_label(),
                tp_prefill: c.prefill.tp,
                tp_decode: c.decode.tp,
                prefill_replicas: c.prefill.replicas,
                decode_replicas: c.decode.replicas,
                gpus: c.gpus(),
                max_batched_tokens: c.knobs.max_batched_tokens,
                max_num_seqs: c.knobs.max_num_seqs,
                router: c.router.name().to_string(),
                bound_rps: Some(r.bound_rps),
                max_rate_rps: unless_pruned(Some(r.max_rate_rps)),
                goodput_rps_per_gpu: unless_pruned(Some(r.goodput_per_gpu())),
                requests_per_usd: unless_pruned(r.requests_per_usd()),
                attainment: measured(|m| m.attainment),
                ttft_p50_ms: measured(|m| m.ttft_ms[0]),
                ttft_p90_ms: measured(|m| m.ttft_ms[1]),
                tpot_p50_ms: measured(|m| m.tpot_ms[0]),
                tpot_p90_ms: measured(|m| m.tpot_ms[1]),
                probes: r.probes,
                status: status.to_string(),
                pruned,
                reason,
                p_meet_slo: r.p_meet_slo,
                max_rate_rps_at_confidence: plan
                    .confidence
                    .as_ref()
                    .and_then(|pc| pc.rates.get(c.index).copied().flatten())
                    .map(|(rate, _)| rate),
                dp_prefill: c.prefill.dp,
                ep_prefill: c.prefill.ep,
                dp_decode: c.decode.dp,
                ep_decode: c.decode.ep,
                estimate_rps: r.estimate_rps,
            }
        })
        .collect()
}

/// The rows of `pareto.csv`.
pub fn pareto_rows(plan: &Plan) -> Vec<ParetoRow> {
    plan.pareto()
        .into_iter()
        .map(|p| {
            let r = &plan.results[p.result];
            let c = &r.candidate;
            ParetoRow {
                index: c.index as u64,
                mode: c.mode_name().to_string(),
                gpu: c.gpu_label(),
                shape: c.shape_label(),
                max_batched_tokens: c.knobs.max_batched_tokens,
                max_num_seqs: c.knobs.max_num_seqs,
                router: c.router.name().to_string(),
                rate_rps: r.max_rate_rps,
                output_tokens_per_s_per_gpu: p.output_tokens_per_s_per_gpu,
                tokens_per_s_per_user: p.tokens_per_s_per_user,
                pareto: p.on_front,
                p_meet_slo: r.p_meet_slo,
            }
        })
        .collect()
}

/// `plan.csv` bytes.
pub fn plan_csv(plan: &Plan) -> Vec<u8> {
    PlanRow::csv(&plan_rows(plan))
}

/// `pareto.csv` bytes.
pub fn pareto_csv(plan: &Plan) -> Vec<u8> {
    ParetoRow::csv(&pareto_rows(plan))
}

/// Replicas, TP and MoE split of a role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleJson {
    /// Instances.
    pub replicas: u32,
    /// TP degree.
    pub tp: u32,
    /// DP-attention ranks, written only when more than 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub dp: u32,
    /// Expert-parallel ranks, written only when more than 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ep: u32,
    /// The role's GPU type, written only for heterogeneous PD (prefill and decode on
    /// different GPU types; the top-level `gpu` is then `prefill/decode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// p50, p90 and p99.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The objectives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloJson {
    /// TTFT objective, ms.
    pub ttft_ms: f64,
    /// TPOT objective, ms.
    pub tpot_ms: f64,
    /// Percentile they are held at.
    pub percentile: f64,
    /// Attainment target.
    pub attainment_target: f64,
}

/// Batching knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineJson {
    /// Token budget per step.
    pub max_batched_tokens: u32,
    /// Most running sequences.
    pub max_num_seqs: u32,
}

/// The unit the deployment is made of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitJson {
    /// Prefill role of a unit.
    pub prefill: RoleJson,
    /// Decode role of a unit.
    pub decode: RoleJson,
    /// GPUs of a unit.
    pub gpus: u32,
    /// Highest SLO-meeting rate of a unit, requests/s.
    pub max_rate_rps: f64,
    /// Goodput per GPU, requests/s.
    pub goodput_requests_per_s_per_gpu: f64,
}

/// `recommendation.json`: written from a plan, read back by the plan report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecommendationFile {
    /// `disaggregated` or `aggregated`.
    pub mode: String,
    /// Serving stack.
    pub backend: String,
    /// GPU.
    pub gpu: String,
    /// Prefill role deployed.
    pub prefill: RoleJson,
    /// Decode role deployed (the one role of an aggregated deployment).
    pub decode: RoleJson,
    /// `P:D` in lowest terms (disaggregated only).
    pub pd_ratio: Option<String>,
    /// Router.
    pub router: String,
    /// Batching knobs.
    pub engine: EngineJson,
    /// GPUs deployed.
    pub gpus: u32,
    /// Whole units the sizing grew to.
    pub units: u32,
    /// The unit.
    pub unit: UnitJson,
    /// TTFT of the confirming run, ms.
    pub ttft_ms: Percentiles,
    /// TPOT of the confirming run, ms.
    pub tpot_ms: Percentiles,
    /// Goodput of the confirming run, requests/s.
    pub goodput_requests_per_s: f64,
    /// SLO attainment of the confirming run.
    pub slo_attainment: f64,
    /// Whether the confirming run met the SLOs.
    pub slo_met: bool,
    /// The objectives.
    pub slo: SloJson,
    /// Rate the deployment is sized for, requests/s.
    pub target_rate_rps: f64,
    /// Price of a GPU-hour, USD.
    pub usd_per_gpu_hour: Option<f64>,
    /// Price of the deployment per hour, USD.
    pub usd_per_hour: Option<f64>,
    /// What was maximised.
    pub objective: Objective,
    /// The scenario to replay (`recommended.toml`).
    pub scenario: String,
    /// What the spares for `[plan] availability` and the spot mix buy: spares and
    /// availability per role, their cost, the spot mixes compared and what failures and
    /// reclaims did in the confirming run (absent without `[plan] availability` or spot
    /// mixes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom: Option<Headroom>,
    /// The deployment's probability of meeting every SLO at the target rate, and what it
    /// covers (absent with `--intervals off`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_meet_slo: Option<Probability>,
    /// With `--confidence P`: the level, the probability reached and what the replicas
    /// beyond the point-estimate recommendation buy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<ConfidenceJson>,
}

/// The point-estimate recommendation, next to one sized to a confidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointJson {
    /// The deployment in words (`2 x (1P1D TP2/2 h100)`, trimmed to `3P2D`).
    pub deployment: String,
    /// GPUs deployed.
    pub gpus: u32,
    /// Prefill (or aggregated) replicas.
    pub prefill_replicas: u32,
    /// Decode replicas (0 when aggregated).
    pub decode_replicas: u32,
    /// Price per hour, USD (with prices).
    pub usd_per_hour: Option<f64>,
    /// Its probability of meeting every SLO.
    pub p_meet_slo: Option<f64>,
    /// Whether its confirming run met the SLOs as simulated.
    pub slo_met: bool,
}

/// `recommendation.json`'s `confidence` (`xpyd plan --confidence P`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceJson {
    /// P: the probability of meeting every SLO the deployment is sized to.
    pub level: f64,
    /// The recommended deployment's probability.
    pub p_meet_slo: Option<f64>,
    /// Whether it reaches the level (false: the sizing ran out of units to add).
    pub level_met: bool,
    /// The recommendation of the point estimates (none: no candidate met the SLOs).
    pub point_estimate_recommendation: Option<PointJson>,
    /// GPUs beyond the point-estimate recommendation.
    pub extra_gpus: Option<i64>,
    /// USD per hour beyond it (with prices).
    pub extra_usd_per_hour: Option<f64>,
    /// Candidates searched at the confidence (the others' point-estimate cost was
    /// already above the recommendation's).
    pub candidates_searched: usize,
    /// Simulations of that search.
    pub probes: u32,
}

impl RecommendationFile {
    /// The deployed roles.
    pub fn shape(&self) -> Shape {
        let role = |r: &RoleJson| RoleShape {
            replicas: r.replicas,
            tp: r.tp,
            dp: r.dp,
            ep: r.ep,
        };
        Shape::of_mode_name(&self.mode, role(&self.prefill), role(&self.decode))
    }

    /// The roles of one unit.
    pub fn unit_shape(&self) -> Shape {
        let role = |r: &RoleJson| RoleShape {
            replicas: r.replicas,
            tp: r.tp,
            dp: r.dp,
            ep: r.ep,
        };
        Shape::of_mode_name(
            &self.mode,
            role(&self.unit.prefill),
            role(&self.unit.decode),
        )
    }
}

/// `x` rounded to 6 decimals, for JSON a person reads.
fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        x
    }
}

/// The recommendation of `plan`, naming `scenario_path` as the scenario to replay;
/// `None` when there is no recommendation.
pub fn recommendation(plan: &Plan, scenario_path: &str) -> Option<RecommendationFile> {
    let rec = plan.recommendation.as_ref()?;
    let r = &plan.results[rec.index];
    let c = &r.candidate;
    let hetero = c.decode_gpu.is_some();
    let role = |replicas: u32, shape: RoleShape, of: Role| RoleJson {
        replicas,
        tp: shape.tp,
        dp: shape.dp,
        ep: shape.ep,
        gpu: hetero.then(|| c.gpu_of(of).to_owned()),
    };
    let pct = |a: [f64; 3]| Percentiles {
        p50: round6(a[0]),
        p90: round6(a[1]),
        p99: round6(a[2]),
    };
    let gpus = rec.gpus;
    let (p, d) = (rec.replicas.prefill, rec.replicas.decode);
    let usd = rec_usd_per_gpu_hour(plan, rec);
    Some(RecommendationFile {
        mode: c.mode_name().to_string(),
        backend: rec.backend.name().to_string(),
        gpu: c.gpu_label(),
        prefill: role(p, c.prefill, Role::Prefill),
        decode: match c.mode {
            Mode::Disaggregated => role(d, c.decode, Role::Decode),
            // The one role of an aggregated deployment serves both phases.
            Mode::Aggregated => role(p, c.decode, Role::Aggregated),
        },
        pd_ratio: match c.mode {
            Mode::Disaggregated => {
                let (x, y) = rec.replicas.ratio();
                Some(format!("{x}:{y}"))
            }
            Mode::Aggregated => None,
        },
        router: c.router.name().to_string(),
        engine: EngineJson {
            max_batched_tokens: c.knobs.max_batched_tokens,
            max_num_seqs: c.knobs.max_num_seqs,
        },
        gpus,
        units: rec.units,
        unit: UnitJson {
            prefill: role(c.prefill.replicas, c.prefill, Role::Prefill),
            decode: role(c.decode.replicas, c.decode, Role::Decode),
            gpus: c.gpus(),
            max_rate_rps: round6(r.max_rate_rps),
            goodput_requests_per_s_per_gpu: round6(r.goodput_per_gpu()),
        },
        ttft_ms: pct(rec.confirm.ttft_ms),
        tpot_ms: pct(rec.confirm.tpot_ms),
        goodput_requests_per_s: round6(rec.confirm.goodput_rps),
        slo_attainment: round6(rec.attainment),
        slo_met: rec.confirm.met,
        slo: SloJson {
            ttft_ms: plan.slo.ttft_ms,
            tpot_ms: plan.slo.tpot_ms,
            percentile: plan.slo.percentile,
            attainment_target: plan.slo.attainment_target,
        },
        target_rate_rps: plan.target_rate_rps,
        usd_per_gpu_hour: usd,
        usd_per_hour: usd.map(|p| p * f64::from(gpus)),
        objective: plan.objective,
        scenario: scenario_path.to_string(),
        headroom: rec.headroom.clone(),
        p_meet_slo: rec.probability.clone().map(|mut p| {
            p.p_meet_slo = round6(p.p_meet_slo);
            p
        }),
        confidence: confidence_json(plan, rec),
    })
}

/// A GPU-hour of `rec`'s deployment, USD: the unit's price, or (heterogeneous PD, spares
/// or spot) the deployment's own GPU-weighted price.
fn rec_usd_per_gpu_hour(plan: &Plan, rec: &Recommendation) -> Option<f64> {
    let r = &plan.results[rec.index];
    match (&r.candidate.decode_gpu, &rec.headroom) {
        (None, None) => r.usd_per_gpu_hour,
        _ => rec.usd_per_gpu_hour,
    }
}

/// `rec`'s deployment in words: `2 unit(s) of 1P1D TP2/2 h100 -> 3P2D`.
fn deployment_words(plan: &Plan, rec: &Recommendation) -> String {
    xpyd_sim::planner::sensitivity::deployment_words(&plan.results[rec.index].candidate, rec)
}

/// `recommendation.json`'s `confidence`: `None` unless the plan sized to a level.
fn confidence_json(plan: &Plan, rec: &Recommendation) -> Option<ConfidenceJson> {
    let pc = plan.confidence.as_ref()?;
    let level = pc.level?;
    let usd = |r: &Recommendation| rec_usd_per_gpu_hour(plan, r).map(|p| p * f64::from(r.gpus));
    let p_of = |r: &Recommendation| r.probability.as_ref().map(|p| round6(p.p_meet_slo));
    let point = pc.point.as_deref();
    Some(ConfidenceJson {
        level,
        p_meet_slo: p_of(rec),
        level_met: rec.confirm.met && p_of(rec).is_some_and(|p| p >= level),
        point_estimate_recommendation: point.map(|q| PointJson {
            deployment: deployment_words(plan, q),
            gpus: q.gpus,
            prefill_replicas: q.replicas.prefill,
            decode_replicas: q.replicas.decode,
            usd_per_hour: usd(q).map(round6),
            p_meet_slo: p_of(q),
            slo_met: q.confirm.met,
        }),
        extra_gpus: point.map(|q| i64::from(rec.gpus) - i64::from(q.gpus)),
        extra_usd_per_hour: point.and_then(|q| usd(rec).zip(usd(q)).map(|(a, b)| round6(a - b))),
        candidates_searched: pc.evaluated,
        probes: pc.probes,
    })
}

/// `recommendation.json` text, naming `scenario_path` as the scenario to replay; `None`
/// when there is no recommendation.
pub fn recommendation_json(plan: &Plan, scenario_path: &str) -> Option<String> {
    let rec = recommendation(plan, scenario_path)?;
    // Serialising plain structs of numbers and strings cannot fail.
    let mut s = serde_json::to_string_pretty(&rec).expect("recommendation serialises");
    s.push('\n');
    Some(s)
}

/// What [`write`](fn@write) writes besides the tables.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanWriteOptions {
    /// Manifests of the recommendation.
    pub emit: EmitOptions,
}

/// Write the files of `plan` to `out` (created if needed): `plan.csv`, `pareto.csv`
/// and, with a recommendation, `recommended.toml`, `recommendation.json` and
/// `manifests/` (of exactly the scenario `xpyd run` replays). Returns the names written.
pub fn write(
    out: &Path,
    plan: &Plan,
    opts: PlanWriteOptions,
) -> Result<Vec<&'static str>, ReportError> {
    write_staged(out, out, plan, opts)
}

/// [`write`](fn@write) into `staging`, for files that will be put in place as `out`
/// (`crate::staging`): `recommendation.json` names `out/recommended.toml`, where the
/// scenario will be.
pub fn write_staged(
    staging: &Path,
    out: &Path,
    plan: &Plan,
    opts: PlanWriteOptions,
) -> Result<Vec<&'static str>, ReportError> {
    let final_toml = out.join("recommended.toml");
    let out = staging;
    crate::create_dir(out)?;
    write_file(&out.join("plan.csv"), &plan_csv(plan))?;
    write_file(&out.join("pareto.csv"), &pareto_csv(plan))?;
    let mut written = vec!["plan.csv", "pareto.csv"];
    if let Some(rec) = &plan.recommendation {
        let toml_path = out.join("recommended.toml");
        write_file(&toml_path, rec.scenario_toml.as_bytes())?;
        let json = recommendation_json(plan, &final_toml.to_string_lossy()).unwrap_or_default();
        write_file(&out.join("recommendation.json"), json.as_bytes())?;
        written.push("recommended.toml");
        written.push("recommendation.json");
        let sc = Scenario::load(&toml_path, &[])?;
        let spec = DeploymentSpec::from_scenario(&sc);
        let files =
            emit_all(&spec, &opts.emit).map_err(|source| ReportError::Manifests { source })?;
        let dir = out.join("manifests");
        crate::create_dir(&dir)?;
        for (name, text) in &files {
            write_file(&dir.join(name), text.as_bytes())?;
        }
        written.push("manifests/");
    }
    Ok(written)
}

/// `sensitivity.json` text (`xpyd plan --sensitivity`).
pub fn sensitivity_json(s: &Sensitivity) -> String {
    // Plain structs of numbers and strings: serialising cannot fail.
    let mut t = serde_json::to_string_pretty(s).expect("sensitivity serialises");
    t.push('\n');
    t
}

/// Write `sensitivity.json` into `out`; returns its name.
pub fn write_sensitivity(out: &Path, s: &Sensitivity) -> Result<&'static str, ReportError> {
    write_file(
        &out.join("sensitivity.json"),
        sensitivity_json(s).as_bytes(),
    )?;
    Ok("sensitivity.json")
}

/// The `--sensitivity` lines of the summary.
pub fn sensitivity_text(s: &Sensitivity) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\nsensitivity: each engine-layer parameter at the ends of its 90% interval (the model error of the latency it drives, {} residuals), the search rerun at point estimates ({} reruns)",
        s.residuals, s.reruns
    );
    let words = |r: &Option<SensitivityRec>| match r {
        Some(r) => format!("{} on {} GPUs", r.deployment, r.gpus),
        None => "no recommendation".to_string(),
    };
    let _ = writeln!(t, "  baseline: {}", words(&s.baseline));
    for p in &s.parameters {
        let values: Vec<String> = p
            .values
            .iter()
            .map(|v| {
                format!(
                    "{} {} [{}, {}]",
                    v.group,
                    sig(v.value),
                    sig(v.low),
                    sig(v.high)
                )
            })
            .collect();
        let ends: Vec<String> = p
            .ends
            .iter()
            .map(|e| {
                let end = match e.end {
                    End::Low => "low",
                    End::High => "high",
                };
                if e.changed {
                    format!("{end}: CHANGES to {}", words(&e.recommendation))
                } else {
                    format!("{end}: same")
                }
            })
            .collect();
        let _ = writeln!(
            t,
            "  {} ({}; {}): {}",
            p.parameter,
            p.drives.name(),
            values.join(", "),
            ends.join("; ")
        );
    }
    if !s.absent.is_empty() {
        let _ = writeln!(t, "  absent from every profile: {}", s.absent.join(", "));
    }
    for w in &s.not_varied {
        let _ = writeln!(t, "  not varied: {w}");
    }
    if s.parameters.is_empty() {
        let _ = writeln!(
            t,
            "  nothing to vary: no candidate has a built-in engine layer with measured residuals"
        );
    }
    let changed: Vec<&str> = s
        .parameters
        .iter()
        .filter(|p| p.changed)
        .map(|p| p.parameter)
        .collect();
    let _ = writeln!(
        t,
        "  the recommendation changes with: {}",
        if changed.is_empty() {
            "none".to_string()
        } else {
            changed.join(", ")
        }
    );
    t
}

/// `x` with 3 significant digits, for the summary.
fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

/// A role's MoE split after its TP in the summary (` DP 8 EP 8`), empty without one.
fn split_words(r: RoleShape) -> String {
    let mut s = String::new();
    if r.dp > 1 {
        let _ = write!(s, " DP {}", r.dp);
    }
    if r.ep > 1 {
        let _ = write!(s, " EP {}", r.ep);
    }
    s
}

/// The human summary: the `top` best candidates and the recommendation.
pub fn summary_text(plan: &Plan, top: usize) -> String {
    let mut s = String::new();
    let n = plan.results.len();
    let simulated = plan.results.iter().filter(|r| r.probes > 0).count();
    let pruned = plan
        .results
        .iter()
        .filter(|r| matches!(r.status, Status::Pruned { .. }))
        .count();
    let screened = plan
        .results
        .iter()
        .filter(|r| {
            matches!(
                r.status,
                Status::Pruned {
                    by_estimate: true,
                    ..
                }
            )
        })
        .count();
    // The role screen's share is written only when it pruned some.
    let pruned_text = if screened > 0 {
        format!(
            "{pruned} pruned ({} by the roofline bound, {screened} by the role screen's estimate of units above {} GPUs)",
            pruned - screened,
            plan.screen_above_gpus.unwrap_or(0)
        )
    } else {
        format!("{pruned} pruned by the roofline bound")
    };
    let probes: u32 = plan.results.iter().map(|r| r.probes).sum();
    let hetero = plan
        .results
        .iter()
        .filter(|r| r.candidate.decode_gpu.is_some())
        .count();
    let split = plan
        .results
        .iter()
        .filter(|r| r.candidate.prefill.is_split() || r.candidate.decode.is_split())
        .count();
    // Heterogeneous PD units and MoE splits are counted apart (written only when there
    // are some).
    let mut of_which = String::new();
    if hetero > 0 {
        let _ = write!(
            of_which,
            ", {hetero} of them prefill and decode on different GPU types"
        );
    }
    if split > 0 {
        let _ = write!(
            of_which,
            ", {split} {} DP-attention or expert parallelism",
            if hetero > 0 { "with" } else { "of them with" }
        );
    }
    let _ = writeln!(
        s,
        "xpyd plan: {n} candidates (units of at most {} GPUs{of_which}), {simulated} simulated ({probes} probes of {} requests per instance), {pruned_text}",
        plan.gpus_max, plan.probe_requests
    );
    let _ = writeln!(
        s,
        "SLO: TTFT <= {} ms, TPOT <= {} ms at p{}, attainment >= {}; ranked by {}\n",
        plan.slo.ttft_ms,
        plan.slo.tpot_ms,
        plan.slo.percentile,
        plan.slo.attainment_target,
        plan.objective.unit()
    );
    if let Some(pc) = &plan.confidence {
        // Back over the blank line just written: this belongs to the header.
        s.pop();
        let _ = writeln!(
            s,
            "P(SLO): probability of meeting every SLO at the rate shown, over {} seed replication(s) x the engine model's error ({} residuals) where measured residuals apply, else the seed spread only; for the {} candidates near the frontier (the best {} by score, the Pareto front, the cheapest for the target){}\n",
            pc.replications,
            pc.residuals,
            pc.candidates_with_p,
            xpyd_sim::planner::NEAR_TOP,
            match pc.level {
                Some(l) => format!("; sized to P >= {l}"),
                None => String::new(),
            }
        );
    }
    let with_p = plan.confidence.is_some();
    // The unit column fits its longest label (MoE splits make labels longer).
    let w = plan
        .ranking
        .iter()
        .take(top)
        .map(|&i| plan.results[i].candidate.shape_label().len())
        .max()
        .unwrap_or(0)
        .max(22);
    let _ = write!(
        s,
        "{:>4}  {:<14} {:<w$} {:>6} {:>5} {:<18} {:>9} {:>10} {:>9} {:>9}",
        "rank",
        "mode",
        "unit",
        "tokens",
        "seqs",
        "router",
        "max req/s",
        "req/s/GPU",
        "TTFT p90",
        "TPOT p90"
    );
    let _ = writeln!(s, "{}", if with_p { "  P(SLO)" } else { "" });
    for (k, &i) in plan.ranking.iter().take(top).enumerate() {
        let r = &plan.results[i];
        let c = &r.candidate;
        let (ttft, tpot) = r
            .at_max
            .as_ref()
            .map_or((0.0, 0.0), |m| (m.ttft_ms[1], m.tpot_ms[1]));
        let _ = write!(
            s,
            "{:>4}  {:<14} {:<w$} {:>6} {:>5} {:<18} {:>9.3} {:>10.4} {:>9.0} {:>9.1}",
            k + 1,
            c.mode_name(),
            c.shape_label(),
            c.knobs.max_batched_tokens,
            c.knobs.max_num_seqs,
            c.router.name(),
            r.max_rate_rps,
            r.goodput_per_gpu(),
            ttft,
            tpot
        );
        let p = match (with_p, r.p_meet_slo) {
            (false, _) => String::new(),
            (true, Some(p)) => format!("  {p:>6.3}"),
            (true, None) => format!("  {:>6}", "-"),
        };
        let _ = writeln!(s, "{p}");
    }
    match (&plan.recommendation, plan.best()) {
        (Some(rec), Some(r)) => {
            let c = &r.candidate;
            let gpus = rec.gpus;
            let (p, d) = (rec.replicas.prefill, rec.replicas.decode);
            let roles = match c.mode {
                Mode::Disaggregated => format!(
                    "{p}P{d}D, prefill TP {}{} x {p}, decode TP {}{} x {d}",
                    c.prefill.tp,
                    split_words(c.prefill),
                    c.decode.tp,
                    split_words(c.decode),
                ),
                Mode::Aggregated => format!(
                    "{p} replica(s) of TP {}{}",
                    c.prefill.tp,
                    split_words(c.prefill)
                ),
            };
            let whole = c.replicas(rec.units);
            // Replicas the SLOs need: the deployed ones less the availability spares.
            let spares: u32 = rec
                .headroom
                .as_ref()
                .map_or(0, |h| h.roles.iter().map(|r| r.spares).sum());
            let needed = p + d - spares;
            let mut sizing = if whole.prefill + whole.decode == needed {
                format!("{} unit(s) of {}", rec.units, c.shape_label())
            } else {
                format!(
                    "{} unit(s) of {}, trimmed by {} replica(s)",
                    rec.units,
                    c.shape_label(),
                    (whole.prefill + whole.decode).saturating_sub(needed)
                )
            };
            if spares > 0 {
                let _ = write!(sizing, ", + {spares} spare(s) for availability");
            }
            let _ = writeln!(
                s,
                "\nrecommendation for {} req/s (the fewest {} that meet the SLOs, ties to the higher score): {} {} on {} ({sizing}), {roles}, router {}, max-batched-tokens {}, max-num-seqs {}",
                plan.target_rate_rps,
                plan.objective.cost_unit(),
                rec.backend.name(),
                c.mode_name(),
                match &c.decode_gpu {
                    None => format!("{gpus} x {}", c.gpu),
                    Some(dg) => format!(
                        "{} x {} (prefill) + {} x {dg} (decode)",
                        p * c.prefill.tp,
                        c.gpu,
                        d * c.decode.tp
                    ),
                },
                c.router.name(),
                c.knobs.max_batched_tokens,
                c.knobs.max_num_seqs
            );
            let m = &rec.confirm;
            let _ = writeln!(
                s,
                "confirming run at {} req/s: TTFT p50/p90/p99 {:.0}/{:.0}/{:.0} ms, TPOT {:.1}/{:.1}/{:.1} ms, attainment {:.1}%, goodput {:.3} req/s: SLOs {}",
                plan.target_rate_rps,
                m.ttft_ms[0],
                m.ttft_ms[1],
                m.ttft_ms[2],
                m.tpot_ms[0],
                m.tpot_ms[1],
                m.tpot_ms[2],
                rec.attainment * 100.0,
                m.goodput_rps,
                if m.met { "met" } else { "NOT met" }
            );
            if let Some(p) = &rec.probability {
                let _ = writeln!(
                    s,
                    "P(meet every SLO) at {} req/s: {:.3} ({}; {} of {} replications met them as simulated)",
                    plan.target_rate_rps,
                    p.p_meet_slo,
                    p.covers(),
                    p.seeds_met,
                    p.replications
                );
            }
            if let Some(p) = rec_usd_per_gpu_hour(plan, rec) {
                let _ = writeln!(s, "cost: {:.2} USD/hour", p * f64::from(gpus));
            }
            if let Some(h) = &rec.headroom {
                headroom_text(&mut s, h);
            }
            confidence_text(&mut s, plan, rec);
        }
        _ if plan
            .confidence
            .as_ref()
            .is_some_and(|pc| pc.level.is_some()) =>
        {
            let pc = plan.confidence.as_ref().expect("checked");
            let _ = writeln!(
                s,
                "\nno candidate meets the SLOs with probability >= {} ({} searched at the confidence){}",
                pc.level.unwrap_or(0.0),
                pc.evaluated,
                match pc.point.as_deref() {
                    Some(q) => format!(
                        "; the point-estimate recommendation would be {} on {} GPUs, P = {}",
                        deployment_words(plan, q),
                        q.gpus,
                        q.probability
                            .as_ref()
                            .map_or("-".to_string(), |p| format!("{:.3}", p.p_meet_slo))
                    ),
                    None => String::new(),
                }
            );
        }
        _ => {
            let _ = writeln!(
                s,
                "\nno candidate meets the SLOs, even at light load: relax the SLOs, allow more GPUs (--gpus-max) or other GPUs (--gpu)"
            );
        }
    }
    s
}

/// The `--confidence` lines of the summary: the level, the point-estimate recommendation
/// and what the extra replicas buy.
fn confidence_text(s: &mut String, plan: &Plan, rec: &Recommendation) {
    let Some(cj) = confidence_json(plan, rec) else {
        return;
    };
    let p = |x: Option<f64>| x.map_or("-".to_string(), |p| format!("{p:.3}"));
    let _ = writeln!(
        s,
        "sized to P(meet every SLO) >= {}: {} ({} candidate(s) searched at the confidence, {} simulations)",
        cj.level,
        if cj.level_met {
            format!("reached, P = {}", p(cj.p_meet_slo))
        } else {
            format!("NOT reached, P = {}", p(cj.p_meet_slo))
        },
        cj.candidates_searched,
        cj.probes
    );
    match &cj.point_estimate_recommendation {
        Some(q) => {
            let _ = writeln!(
                s,
                "  point-estimate recommendation: {} on {} GPUs, P = {}; the confidence adds {} GPU(s){}",
                q.deployment,
                q.gpus,
                p(q.p_meet_slo),
                cj.extra_gpus.unwrap_or(0),
                cj.extra_usd_per_hour
                    .map_or(String::new(), |u| format!(", {u:+.2} USD/hour"))
            );
        }
        None => {
            let _ = writeln!(s, "  no point-estimate recommendation");
        }
    }
}

/// The headroom lines of the summary: spares and availability per role, their cost, the
/// spot mixes compared and what failures did in the confirming run.
fn headroom_text(s: &mut String, h: &Headroom) {
    let target = h
        .availability_target
        .map_or("none".to_string(), |a| format!("{a}"));
    let _ = writeln!(
        s,
        "headroom (availability target {target} per role): deployment availability {:.6}",
        h.availability
    );
    for r in &h.roles {
        let _ = writeln!(
            s,
            "  {}: {} needed + {} spare(s), {} on spot; instance MTBF {}, down {:.0} s per failure; availability {:.6}",
            r.role,
            r.needed,
            r.spares,
            r.spot,
            r.instance_mtbf_hours
                .map_or("none".to_string(), |m| format!("{m:.0} h")),
            r.failure_mttr_s,
            r.availability
        );
    }
    if let (Some(a), Some(b)) = (h.spares_usd_per_hour, h.usd_per_hour_on_demand) {
        let _ = writeln!(
            s,
            "  spares cost {a:.2} USD/hour (on-demand with spares {b:.2} USD/hour)"
        );
    }
    for m in &h.spot_mixes {
        let _ = writeln!(
            s,
            "  spot {:>3}%: {}P{}D ({} + {} on spot), {} USD/hour, attainment {:.1}%, {} lost, {} reclaims: SLOs {}",
            m.percent,
            m.prefill_replicas,
            m.decode_replicas,
            m.prefill_spot,
            m.decode_spot,
            m.usd_per_hour
                .map_or("-".to_string(), |u| format!("{u:.2}")),
            m.attainment * 100.0,
            m.faults.lost,
            m.faults.preemptions,
            if m.slo_met { "met" } else { "NOT met" }
        );
    }
    if !h.spot_mixes.is_empty() {
        let _ = writeln!(
            s,
            "  chosen: {}% spot, saving {} USD/hour",
            h.spot_percent,
            h.spot_savings_usd_per_hour
                .map_or("-".to_string(), |u| format!("{u:.2}"))
        );
    }
    let f = &h.confirm_faults;
    let _ = writeln!(
        s,
        "  confirming run: {} failure(s), {} reclaim(s), {} request(s) lost, {} retried",
        f.failures, f.preemptions, f.lost, f.retries
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("xpyd-plan-files-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn row(index: u64, pruned: bool) -> PlanRow {
        PlanRow {
            index,
            mode: "disaggregated".into(),
            gpu: "l20".into(),
            tp_prefill: 2,
            tp_decode: 4,
            prefill_replicas: 2,
            decode_replicas: 1,
            gpus: 8,
            max_batched_tokens: 4096,
            max_num_seqs: 1024,
            router: "round-robin".into(),
            bound_rps: Some(1.25),
            max_rate_rps: (!pruned).then_some(0.5),
            goodput_rps_per_gpu: (!pruned).then_some(0.0625),
            requests_per_usd: None,
            attainment: (!pruned).then_some(0.99),
            ttft_p50_ms: (!pruned).then_some(120.5),
            ttft_p90_ms: (!pruned).then_some(300.25),
            tpot_p50_ms: (!pruned).then_some(20.0),
            tpot_p90_ms: (!pruned).then_some(25.5),
            probes: if pruned { 0 } else { 7 },
            status: if pruned { "pruned" } else { "evaluated" }.into(),
            pruned,
            reason: if pruned {
                "bound 0.1 < best 0.2 req/s per GPU; needs, \"quoted\"".into()
            } else {
                String::new()
            },
            p_meet_slo: (!pruned).then_some(0.8125),
            max_rate_rps_at_confidence: (!pruned).then_some(0.375),
            dp_prefill: 1,
            ep_prefill: 1,
            dp_decode: 1,
            ep_decode: 1,
            estimate_rps: None,
        }
    }

    #[test]
    fn plan_csv_reads_back_through_its_schema() {
        let rows = vec![row(0, false), row(1, true)];
        let p = tmp("plan").join("plan.csv");
        std::fs::write(&p, PlanRow::csv(&rows)).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().next().unwrap(), PLAN_COLUMNS.join(","));
        assert_eq!(PlanRow::read_all(&p).unwrap(), rows);
    }

    #[test]
    fn pareto_csv_reads_back_through_its_schema() {
        let rows = vec![ParetoRow {
            index: 3,
            mode: "aggregated".into(),
            gpu: "h100".into(),
            shape: "4x TP2 h100".into(),
            max_batched_tokens: 2048,
            max_num_seqs: 128,
            router: "random".into(),
            rate_rps: 2.5,
            output_tokens_per_s_per_gpu: 100.125,
            tokens_per_s_per_user: 40.0,
            pareto: true,
            p_meet_slo: Some(0.5),
        }];
        let p = tmp("pareto").join("pareto.csv");
        std::fs::write(&p, ParetoRow::csv(&rows)).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().next().unwrap(), PARETO_COLUMNS.join(","));
        assert_eq!(ParetoRow::read_all(&p).unwrap(), rows);
    }

    #[test]
    fn row_shapes() {
        assert_eq!(row(0, false).shape().to_string(), "2P1D, TP 2/4");
    }
}
