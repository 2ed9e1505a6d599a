//! What a plan produced: one result per candidate, the ranking, the recommendation and
//! the Pareto front, as typed values (`xpyd_reports::plan_files` renders them).
//!
//! # Invariants
//!
//! - Two things are "best" in a plan: the highest *score* (goodput per GPU or per
//!   dollar, the ranking) and the lowest *deployment cost* for the target rate (GPUs, or
//!   USD/hour when priced: whole units, so a small unit can win even with a lower
//!   score; the recommendation). [`Incumbent`] holds both.
//! - [`assemble`] turns raw [`Evaluation`]s into results by one rule that does not
//!   depend on the order in which candidates were evaluated: a candidate is *pruned* iff
//!   its bound's score is below the plan's best score *and* the cost its bound implies
//!   is above the plan's lowest cost. Such a candidate can be neither best whatever its
//!   measurement, and its numbers are not reported even if it happened to be simulated;
//!   every other candidate must have been simulated. A sharded plan merged with
//!   [`assemble`] is therefore identical to the plan run on one machine.
//! - The ranking sorts by score (descending), then GPUs (ascending), then candidate
//!   index: a total order, so ties are broken the same way every time.

use super::PlanError;
use super::candidates::{Candidate, Replicas};
use super::search::{ProbeMetrics, SearchOutcome};
use crate::scenario::{Backend, ScenarioFile, SloConfig};
use serde::{Deserialize, Serialize};

/// What the planner maximises.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// SLO-meeting requests/s per GPU (DistServe's goodput per GPU).
    PerGpu,
    /// SLO-meeting requests per dollar (used when every GPU searched has a price).
    PerDollar,
}

impl Objective {
    /// The score of `rate_rps` on a unit of `gpus` GPUs at `usd_per_gpu_hour`.
    pub fn score(self, rate_rps: f64, gpus: u32, usd_per_gpu_hour: Option<f64>) -> f64 {
        let per_gpu = rate_rps / f64::from(gpus.max(1));
        match (self, usd_per_gpu_hour) {
            (Objective::PerDollar, Some(p)) if p > 0.0 => per_gpu * 3600.0 / p,
            _ => per_gpu,
        }
    }

    /// Cost of serving `target_rps` with whole units of `gpus` GPUs that each sustain
    /// `rate_rps`: GPUs, or USD per hour under [`Objective::PerDollar`]. Infinite when
    /// the unit sustains nothing.
    pub fn cost(
        self,
        rate_rps: f64,
        gpus: u32,
        usd_per_gpu_hour: Option<f64>,
        target_rps: f64,
    ) -> f64 {
        if rate_rps.is_nan() || rate_rps <= 0.0 {
            return f64::INFINITY;
        }
        let units = (target_rps / rate_rps).ceil().max(1.0);
        let per_unit = f64::from(gpus);
        match (self, usd_per_gpu_hour) {
            (Objective::PerDollar, Some(p)) => units * per_unit * p,
            _ => units * per_unit,
        }
    }

    /// Unit of the deployment cost, for reports.
    pub fn cost_unit(self) -> &'static str {
        match self {
            Objective::PerGpu => "GPUs",
            Objective::PerDollar => "USD/hour",
        }
    }

    /// Unit of the score, for reports.
    pub fn unit(self) -> &'static str {
        match self {
            Objective::PerGpu => "req/s per GPU",
            Objective::PerDollar => "requests per USD",
        }
    }
}

/// The best score and the lowest deployment cost measured (so far, or in the whole plan).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Incumbent {
    /// Highest score.
    pub best_score: f64,
    /// Lowest deployment cost for the target rate.
    pub min_cost: f64,
}

impl Default for Incumbent {
    fn default() -> Incumbent {
        Incumbent {
            best_score: 0.0,
            min_cost: f64::INFINITY,
        }
    }
}

impl Incumbent {
    /// Account for a measured candidate.
    pub fn update(&mut self, score: f64, cost: f64) {
        self.best_score = self.best_score.max(score);
        self.min_cost = self.min_cost.min(cost);
    }

    /// Whether a candidate whose bound gives `bound_score` and `bound_cost` could still
    /// have the best score or the lowest cost (ties count: they are broken later).
    pub fn may_improve(&self, bound_score: f64, bound_cost: f64) -> bool {
        !bound_score.is_finite() || bound_score >= self.best_score || bound_cost <= self.min_cost
    }
}

/// The raw outcome of one candidate: its bound, and its rate search unless it was pruned
/// before simulating. This is what a shard of a plan produces (serde, so shards can be
/// written and merged; a shard file must round-trip floats exactly, e.g. serde_json
/// with its `float_roundtrip` feature).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Candidate index.
    pub index: usize,
    /// Roofline capacity bound of one unit, requests/s.
    pub bound_rps: f64,
    /// The role screen's estimate of one unit, requests/s, which prunes in place of the
    /// bound where lower (`None`: not screened; see [`super::screen`]).
    pub estimate_rps: Option<f64>,
    /// The rate search; `None` when pruned before simulating.
    pub search: Option<SearchOutcome>,
}

/// How a candidate ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Simulated; it meets the SLOs up to `max_rate_rps`.
    Evaluated,
    /// Simulated; it misses the SLOs even at light load.
    Infeasible,
    /// Its bound (or its role screen's estimate, where lower) can beat neither the best
    /// measured score nor the lowest cost.
    Pruned {
        /// Whether the role screen's estimate, not the roofline bound, pruned it.
        by_estimate: bool,
        /// Score of the bound.
        bound_score: f64,
        /// Best measured score of the plan.
        best_score: f64,
        /// Lowest cost the bound allows.
        bound_cost: f64,
        /// Lowest measured cost of the plan.
        min_cost: f64,
    },
}

/// One candidate's line of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateResult {
    /// The unit.
    pub candidate: Candidate,
    /// Price of one of its GPUs per hour, USD, when known.
    pub usd_per_gpu_hour: Option<f64>,
    /// Roofline capacity bound, requests/s.
    pub bound_rps: f64,
    /// The role screen's estimate, requests/s (`None`: not screened).
    pub estimate_rps: Option<f64>,
    /// Outcome.
    pub status: Status,
    /// Highest SLO-meeting rate of one unit, requests/s (0 when pruned or infeasible).
    pub max_rate_rps: f64,
    /// The probe at that rate.
    pub at_max: Option<ProbeMetrics>,
    /// Simulations run for it (0 when pruned).
    pub probes: u32,
    /// Probability of meeting every SLO at `max_rate_rps` (`None`: pruned, infeasible,
    /// not near the frontier, or probabilities off; see [`super::near_frontier`]).
    pub p_meet_slo: Option<f64>,
}

impl CandidateResult {
    /// SLO-meeting requests/s per GPU.
    pub fn goodput_per_gpu(&self) -> f64 {
        self.max_rate_rps / f64::from(self.candidate.gpus().max(1))
    }

    /// SLO-meeting requests per dollar, when the GPU has a price.
    pub fn requests_per_usd(&self) -> Option<f64> {
        self.usd_per_gpu_hour
            .filter(|p| *p > 0.0)
            .map(|p| self.goodput_per_gpu() * 3600.0 / p)
    }

    /// The score under `objective`.
    pub fn score(&self, objective: Objective) -> f64 {
        objective.score(
            self.max_rate_rps,
            self.candidate.gpus(),
            self.usd_per_gpu_hour,
        )
    }
}

/// Turn raw evaluations into results (see the module invariants). `evals` may come in
/// any order but must cover every candidate; `price` gives a GPU's USD per hour;
/// `cost` is the deployment cost of a candidate whose unit sustains a rate, for the
/// target rate (see [`super::EvalContext::cost`]).
pub fn assemble(
    candidates: &[Candidate],
    evals: &[Evaluation],
    objective: Objective,
    price: &dyn Fn(&str) -> Option<f64>,
    cost: &dyn Fn(&Candidate, f64) -> f64,
) -> Result<Vec<CandidateResult>, PlanError> {
    let mut by_index: Vec<Option<&Evaluation>> = vec![None; candidates.len()];
    for e in evals {
        match by_index.get_mut(e.index) {
            Some(slot) => *slot = Some(e),
            None => {
                return Err(PlanError::Inconsistent {
                    message: format!("evaluation of candidate {} which does not exist", e.index),
                });
            }
        }
    }
    let mut best = Incumbent::default();
    for e in evals {
        if let (Some(s), Some(c)) = (&e.search, candidates.get(e.index)) {
            let usd = c.usd_per_gpu_hour(price);
            best.update(
                objective.score(s.max_rate_rps, c.gpus(), usd),
                cost(c, s.max_rate_rps),
            );
        }
    }
    let mut out = Vec::with_capacity(candidates.len());
    for (c, e) in candidates.iter().zip(&by_index) {
        let Some(e) = e else {
            return Err(PlanError::Inconsistent {
                message: format!(
                    "candidate {} ({}) was not evaluated",
                    c.index,
                    c.shape_label()
                ),
            });
        };
        let usd = c.usd_per_gpu_hour(price);
        let limit = e.estimate_rps.map_or(e.bound_rps, |x| x.min(e.bound_rps));
        let bound_score = objective.score(limit, c.gpus(), usd);
        let bound_cost = cost(c, limit);
        let mut r = CandidateResult {
            candidate: c.clone(),
            usd_per_gpu_hour: usd,
            bound_rps: e.bound_rps,
            estimate_rps: e.estimate_rps,
            status: Status::Pruned {
                by_estimate: limit < e.bound_rps,
                bound_score,
                best_score: best.best_score,
                bound_cost,
                min_cost: best.min_cost,
            },
            max_rate_rps: 0.0,
            at_max: None,
            probes: 0,
            p_meet_slo: None,
        };
        if best.may_improve(bound_score, bound_cost) {
            let Some(s) = &e.search else {
                return Err(PlanError::Inconsistent {
                    message: format!(
                        "candidate {} ({}) can beat the best but was not simulated",
                        c.index,
                        c.shape_label()
                    ),
                });
            };
            r.status = if s.max_rate_rps > 0.0 {
                Status::Evaluated
            } else {
                Status::Infeasible
            };
            r.max_rate_rps = s.max_rate_rps;
            r.at_max = s.at_max.clone();
            r.probes = s.probes;
        }
        out.push(r);
    }
    Ok(out)
}

/// The recommended result: the lowest deployment cost (`cost` of a candidate at its
/// rate), then the highest score, then the lowest index.
pub fn pick(
    results: &[CandidateResult],
    objective: Objective,
    cost: &dyn Fn(&Candidate, f64) -> f64,
) -> Option<usize> {
    let cost = |r: &CandidateResult| cost(&r.candidate, r.max_rate_rps);
    (0..results.len())
        .filter(|&i| results[i].status == Status::Evaluated)
        .min_by(|&a, &b| {
            let (ra, rb) = (&results[a], &results[b]);
            cost(ra)
                .total_cmp(&cost(rb))
                .then(rb.score(objective).total_cmp(&ra.score(objective)))
                .then(a.cmp(&b))
        })
}

/// Indices of the feasible results, best first (score, then fewer GPUs, then index).
pub fn rank(results: &[CandidateResult], objective: Objective) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].status == Status::Evaluated)
        .collect();
    idx.sort_by(|&a, &b| {
        let (ra, rb) = (&results[a], &results[b]);
        rb.score(objective)
            .total_cmp(&ra.score(objective))
            .then(ra.candidate.gpus().cmp(&rb.candidate.gpus()))
            .then(a.cmp(&b))
    });
    idx
}

/// The deployment the planner recommends.
#[derive(Clone, Debug)]
pub struct Recommendation {
    /// Index of the winning candidate in the plan's results.
    pub index: usize,
    /// Whole units of the candidate the sizing grew to before trimming replicas.
    pub units: u32,
    /// Replicas of each role deployed.
    pub replicas: Replicas,
    /// GPUs deployed.
    pub gpus: u32,
    /// Price of one of its GPU-hours, USD (heterogeneous PD: the GPU-weighted mean of its
    /// roles' prices at its replicas); `None` unless every GPU type is priced.
    pub usd_per_gpu_hour: Option<f64>,
    /// Trial runs spent trimming replicas (at most [`super::TRIM_RUNS`]).
    pub trim_runs: u32,
    /// The serving stack.
    pub backend: Backend,
    /// The confirming simulation of the whole deployment at the target rate.
    pub confirm: ProbeMetrics,
    /// SLO attainment of the confirming run.
    pub attainment: f64,
    /// The scenario of the deployment at the target rate (what `recommended.toml` holds).
    pub scenario: ScenarioFile,
    /// That scenario as TOML text: exactly what the confirming run read back, and what
    /// `recommended.toml` holds.
    pub scenario_toml: String,
    /// What the spares for `[plan] availability` and the spot mix buy (`None` without
    /// either).
    pub headroom: Option<super::availability::Headroom>,
    /// Its probability of meeting every SLO at the target rate (`None`: probabilities
    /// off).
    pub probability: Option<super::confidence::Probability>,
}

/// How sure a plan is: the probabilities' settings and, when sizing to a confidence,
/// what was searched and the point-estimate recommendation it replaced.
#[derive(Clone, Debug)]
pub struct PlanConfidence {
    /// Seed replications per probability, the run itself included.
    pub replications: u32,
    /// Candidates whose probability at their highest rate was evaluated (those near the
    /// frontier, [`super::near_frontier`]).
    pub candidates_with_p: usize,
    /// The residual file (`builtin`: the shipped one).
    pub residuals: String,
    /// The probability sized to (`None`: the point estimate).
    pub level: Option<f64>,
    /// Per result, in result order: one unit's highest rate meeting every SLO with
    /// probability at least `level`, and the probability there (`None`: not searched,
    /// its point-estimate cost already above the recommendation's; empty without a
    /// level).
    pub rates: Vec<Option<(f64, f64)>>,
    /// Candidates searched at the confidence.
    pub evaluated: usize,
    /// Simulations that search ran.
    pub probes: u32,
    /// The point-estimate recommendation (with a level).
    pub point: Option<Box<Recommendation>>,
}

/// A finished plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// What was maximised.
    pub objective: Objective,
    /// One result per candidate, in candidate order.
    pub results: Vec<CandidateResult>,
    /// Feasible results, best first (indices into `results`).
    pub ranking: Vec<usize>,
    /// The recommendation (none when no candidate meets the SLOs).
    pub recommendation: Option<Recommendation>,
    /// Rate the deployment is sized for, requests/s.
    pub target_rate_rps: f64,
    /// The objectives every probe was held to.
    pub slo: SloConfig,
    /// Requests per probe, per instance of the unit.
    pub probe_requests: u64,
    /// Most GPUs per unit.
    pub gpus_max: u32,
    /// Units of more GPUs than this were screened by their roles' capacities (`None`:
    /// none; see [`super::screen`]).
    pub screen_above_gpus: Option<u32>,
    /// Probabilities of meeting the SLOs and sizing to one (`None`: off).
    pub confidence: Option<PlanConfidence>,
}

impl Plan {
    /// The winning result, if any.
    pub fn best(&self) -> Option<&CandidateResult> {
        self.recommendation.as_ref().map(|r| &self.results[r.index])
    }

    /// The feasible results at their highest SLO-meeting rate, output tokens/s per GPU
    /// against tokens/s per user, in result order, each marked when no other point is at
    /// least as good on both axes and better on one (the Pareto front).
    pub fn pareto(&self) -> Vec<ParetoPoint> {
        pareto(&self.results)
    }
}

/// [`Plan::pareto`] of `results`.
pub fn pareto(results: &[CandidateResult]) -> Vec<ParetoPoint> {
    {
        let pts: Vec<(usize, f64, f64)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let m = r.at_max.as_ref()?;
                (r.status == Status::Evaluated).then_some((
                    i,
                    m.output_tokens_per_s_per_gpu,
                    m.tokens_per_s_per_user,
                ))
            })
            .collect();
        let dominated = |&(i, x, y): &(usize, f64, f64)| {
            pts.iter()
                .any(|&(j, a, b)| j != i && a >= x && b >= y && (a > x || b > y))
        };
        pts.iter()
            .map(|p| ParetoPoint {
                result: p.0,
                output_tokens_per_s_per_gpu: p.1,
                tokens_per_s_per_user: p.2,
                on_front: !dominated(p),
            })
            .collect()
    }
}

/// A feasible result on the throughput/speed plane (see [`Plan::pareto`]).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ParetoPoint {
    /// Index into the plan's results.
    pub result: usize,
    /// Output tokens/s per GPU at the highest SLO-meeting rate.
    pub output_tokens_per_s_per_gpu: f64,
    /// Output tokens/s per user there.
    pub tokens_per_s_per_user: f64,
    /// On the Pareto front.
    pub on_front: bool,
}

impl Replicas {
    /// The prefill:decode ratio in lowest terms (`(2, 1)` for 4P2D).
    pub fn ratio(self) -> (u32, u32) {
        let g = gcd(self.prefill, self.decode).max(1);
        (self.prefill / g, self.decode / g)
    }
}

/// Greatest common divisor (0 when both are 0).
fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_costs() {
        let g = Objective::PerGpu;
        assert_eq!(g.score(2.0, 4, Some(3.0)), 0.5);
        // 5 req/s with units of 2 req/s on 4 GPUs: 3 units, 12 GPUs.
        assert_eq!(g.cost(2.0, 4, None, 5.0), 12.0);
        assert_eq!(g.cost(0.0, 4, None, 5.0), f64::INFINITY);
        let d = Objective::PerDollar;
        // 0.5 req/s/GPU at 2 USD/GPU-hour: 900 requests per dollar.
        assert_eq!(d.score(2.0, 4, Some(2.0)), 900.0);
        assert_eq!(d.cost(2.0, 4, Some(2.0), 5.0), 24.0);
    }

    #[test]
    fn incumbent_keeps_whatever_could_win_either_way() {
        let mut inc = Incumbent::default();
        // Nothing measured yet: everything may improve.
        assert!(inc.may_improve(0.0, f64::INFINITY));
        inc.update(0.2, 8.0);
        inc.update(0.1, 4.0);
        assert_eq!(
            inc,
            Incumbent {
                best_score: 0.2,
                min_cost: 4.0
            }
        );
        assert!(inc.may_improve(0.25, 100.0)); // could have the best score
        assert!(inc.may_improve(0.05, 4.0)); // could tie the lowest cost
        assert!(!inc.may_improve(0.19, 6.0)); // neither
    }
}

#[cfg(test)]
mod ratio_tests {
    use super::*;

    #[test]
    fn ratios_in_lowest_terms() {
        let r = |prefill, decode| Replicas { prefill, decode }.ratio();
        assert_eq!(r(4, 2), (2, 1));
        assert_eq!(r(3, 2), (3, 2));
        assert_eq!(r(0, 0), (0, 0));
        assert_eq!(r(6, 0), (1, 0));
    }
}
