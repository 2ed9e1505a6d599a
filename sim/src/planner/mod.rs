//! The planner: search deployment configurations for the highest SLO-meeting request
//! rate per GPU (or per dollar), then size and confirm a deployment for a target rate.
//!
//! The pipeline, one module per step:
//! 1. [`candidates`]: enumerate deployment units (mode, GPU, TP per role, X:Y replicas,
//!    batching knobs, router) as one deterministic ordered list.
//! 2. [`bounds`]: an optimistic roofline capacity bound for each unit.
//! 3. [`search`]: for each unit not pruned by its bound, the highest arrival rate at
//!    which the SLOs hold, by bisection over simulated rates.
//! 4. [`result`]: rank, size the best unit for the target rate (whole units, then
//!    trimmed replica by replica while the SLOs hold), confirm the whole deployment by
//!    simulation. `xpyd_reports::plan_files` renders the outputs.
//!
//! [`shard`] runs step 3 on a slice of the candidates and merges the slices' files
//! (`xpyd plan --shard I/N`, `--merge`). [`budget`] refuses, before step 1, a search
//! whose estimated memory exceeds the budget.
//!
//! # Invariants
//!
//! - Determinism: a plan is a function of its [`PlanSettings`] only. Candidates are
//!   evaluated in *waves* of [`WAVE`] (a constant, not the thread count) in decreasing
//!   order of their bound's score; before a wave, candidates whose bound can beat
//!   neither the best score nor the lowest deployment cost measured so far
//!   ([`result::Incumbent`]) are skipped; the wave is simulated in parallel (rayon,
//!   collected in order) and the incumbent is then updated sequentially. No float is
//!   reduced in parallel. The same plan comes out at any `jobs`.
//! - Which candidates are reported as pruned does not depend on that schedule either
//!   (see [`result::assemble`]), so shards of the candidate list can be evaluated
//!   separately ([`evaluate`]) and merged ([`result::assemble`]) into the same plan.
//! - The library never prints; progress goes through a callback.

pub mod availability;
pub mod bounds;
pub mod budget;
pub mod candidates;
pub mod confidence;
pub mod result;
pub mod reuse;
pub mod screen;
pub mod search;
pub mod sensitivity;
pub mod shard;
mod sizing;

use crate::engine::{System, run_verdict};
use crate::limits::MAX_INSTANCES;
use crate::rng::Streams;
use crate::role::Role;
use crate::scenario::{Mode, Scenario, ScenarioFile, SpotConfig, Topology};
use crate::workload::{ArrivalMode, Workload, WorkloadFile, WorkloadGen};
use availability::{Headroom, RoleHeadroom, RoleUptime, RunFaults, SpotMix, uptimes, with_spares};
use bounds::{LengthStats, capacity_bound};
use candidates::{Candidate, Replicas, SearchSpace, enumerate};
use confidence::{ConfidenceSettings, Latency, ModelDraws, Probability, latency, p_model, seed_of};
use rayon::prelude::*;
use result::{
    Evaluation, Incumbent, Objective, Plan, PlanConfidence, Recommendation, Status, assemble, pick,
    rank,
};
use search::{ProbeMetrics, ProbeWorkload, SPAN, judged_run, max_rate_with, probe};
use std::path::{Path, PathBuf};

/// Candidates simulated between two updates of the pruning threshold.
pub const WAVE: usize = 16;

/// Request lifetimes (TTFT objective + mean output x TPOT objective) a probe's arrivals
/// span at least.
const PROBE_LIFETIMES: f64 = 4.0;

/// A probe simulates at most this many times its minimum number of requests.
pub(crate) const PROBE_MAX_FACTOR: u64 = 16;

pub use budget::{DEFAULT_MEMORY_BUDGET_GIB, MAX_GPUS_MAX};

/// Extra units tried when the confirming run of the sized deployment misses the SLOs.
const CONFIRM_EXTRA_UNITS: u32 = 3;

/// Request lifetimes (TTFT objective + mean output x TPOT objective) the arrivals of a
/// confirming run span at least, so that the deployment is judged in steady state and
/// not on a short run whose drain flatters it.
const CONFIRM_LIFETIMES: f64 = 30.0;

/// Trial runs spent trimming replicas off a deployment that meets the SLOs.
pub const TRIM_RUNS: u32 = 16;

/// A plan could not be made. Fatal.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The base scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// A GPU named for the search is unknown.
    #[error("--gpu {gpu}: {message}")]
    Gpu {
        /// The GPU id as given.
        gpu: String,
        /// What is wrong.
        message: String,
    },
    /// A candidate's scenario is invalid (only raised for the recommended deployment;
    /// enumeration drops candidates that do not build).
    #[error("{candidate}: {message}")]
    Candidate {
        /// The candidate.
        candidate: String,
        /// What is wrong.
        message: String,
    },
    /// The workload cannot be probed at other rates, or its data cannot be read.
    #[error("workload: {message}")]
    Workload {
        /// What is wrong.
        message: String,
    },
    /// A setting is out of range.
    #[error("{setting}: {message}")]
    Setting {
        /// The setting (flag) at fault.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Evaluations do not match the candidate list (a merge of foreign shards).
    #[error("inconsistent plan: {message}")]
    Inconsistent {
        /// What does not match.
        message: String,
    },
}

/// Everything a plan depends on.
#[derive(Clone, Debug)]
pub struct PlanSettings {
    /// The base scenario (model, workload, SLOs, links, engine defaults), with the
    /// command line's overrides applied.
    pub base: ScenarioFile,
    /// Where it came from (names it in errors).
    pub file: PathBuf,
    /// Folder that relative paths in it resolve against.
    pub base_dir: PathBuf,
    /// The search space.
    pub space: SearchSpace,
    /// Price of a GPU-hour per GPU id, USD; the scenario's `hardware.gpu-hour-usd`
    /// applies to its own GPU when that is not listed.
    pub gpu_prices: Vec<(String, f64)>,
    /// Rate to size the deployment for, requests/s (default: the workload's rate).
    pub target_rate_rps: Option<f64>,
    /// Requests per probe simulation at least, per instance of the unit (probes are
    /// also long enough to span several request lifetimes: see [`search`]).
    pub probe_requests: u64,
    /// Relative precision of the rate search (0.03 = 3%).
    pub precision: f64,
    /// Worker threads (0: one per core).
    pub jobs: usize,
    /// Skip candidates whose bound cannot beat the best (off: simulate everything).
    pub prune: bool,
    /// Most memory the search may need by its [`budget`] estimate, GiB (not part of the
    /// plan: it only decides whether the search starts).
    pub memory_budget_gib: f64,
    /// Probabilities of meeting the SLOs, and sizing to one (`None`: neither; the plan
    /// of the point estimates alone).
    pub confidence: Option<ConfidenceSettings>,
    /// An engine-layer parameter moved to an end of its interval in every candidate's
    /// scenario (`xpyd plan --sensitivity`'s reruns; `None`: the profiles as shipped).
    pub engine_shift: Option<sensitivity::EngineShift>,
}

/// Progress reports, for a progress bar.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The search starts over this many candidates.
    Start {
        /// Candidates.
        total: usize,
    },
    /// One more candidate is done (simulated or pruned).
    Candidate,
    /// The confirming simulation of the recommended deployment runs.
    Confirming,
}

/// What every candidate evaluation shares: the base scenario, the probe workload and
/// the search settings.
#[derive(Clone, Debug)]
pub struct EvalContext {
    base: ScenarioFile,
    file: PathBuf,
    base_dir: PathBuf,
    probe_file: WorkloadFile,
    probe_requests: u64,
    /// `--memory-budget-gib`: every probe's own budget too (a probe past it is overloaded).
    memory_budget_gib: f64,
    stats: LengthStats,
    precision: f64,
    objective: Objective,
    prices: Vec<(String, f64)>,
    target_rps: f64,
    slo_ttft_ms: f64,
    slo_tpot_ms: f64,
    /// `[plan] availability`: spares per role (`None`: none).
    availability: Option<f64>,
    /// The base scenario's `[spot]`: how spot replicas are reclaimed and priced.
    spot: Option<SpotConfig>,
    /// `[plan] spot-mix-percent`: the spot shares compared (empty: none).
    spot_mixes: Vec<u32>,
    /// Probabilities of meeting the SLOs (`None`: off).
    confidence: Option<ConfidenceSettings>,
    /// An engine-layer parameter moved in every candidate's scenario.
    engine_shift: Option<sensitivity::EngineShift>,
    /// Units of more GPUs than this are screened ([`screen`]; `None`: none).
    screen_above_gpus: Option<u32>,
}

impl EvalContext {
    /// Validate the settings and prepare the probe workload.
    pub fn new(settings: &PlanSettings) -> Result<EvalContext, PlanError> {
        let sc = Scenario::from_file(&settings.file, &settings.base_dir, settings.base.clone())?;
        if let ArrivalMode::Closed { .. } = sc.workload.mode() {
            return Err(PlanError::Workload {
                message: "xpyd plan searches over arrival rates and needs open-loop arrivals or a trace; a closed loop's load is set by its clients".into(),
            });
        }
        if settings.probe_requests == 0 {
            return Err(PlanError::Setting {
                setting: "--probe-requests",
                message: "must be at least 1".into(),
            });
        }
        if !(settings.precision.is_finite() && settings.precision > 0.0 && settings.precision < 1.0)
        {
            return Err(PlanError::Setting {
                setting: "precision",
                message: format!("must be in (0, 1), got {}", settings.precision),
            });
        }
        if let Some(cs) = &settings.confidence {
            if !(1..=crate::interval::MAX_REPLICATIONS).contains(&cs.replications) {
                return Err(PlanError::Setting {
                    setting: "--replications",
                    message: format!(
                        "must be in [1, {}], got {}",
                        crate::interval::MAX_REPLICATIONS,
                        cs.replications
                    ),
                });
            }
            let (lo, hi) = confidence::CONFIDENCE_RANGE;
            if let Some(l) = cs.level
                && !(l.is_finite() && (lo..=hi).contains(&l))
            {
                return Err(PlanError::Setting {
                    setting: "--confidence",
                    message: format!("must be a probability in [{lo}, {hi}], got {l}"),
                });
            }
        }
        let probe_file: WorkloadFile = settings.base.workload.clone();
        let stats = length_stats(
            &probe_workload(&probe_file, &settings.base_dir, settings.probe_requests)?,
            sc.seed,
        )?;
        let target_rps = match settings.target_rate_rps.or_else(|| sc.workload.rate_rps()) {
            Some(r) if r.is_finite() && r > 0.0 => r,
            Some(r) => {
                return Err(PlanError::Setting {
                    setting: "--target-rate",
                    message: format!("must be a positive number of requests/s, got {r}"),
                });
            }
            None => {
                return Err(PlanError::Setting {
                    setting: "--target-rate",
                    message: "the workload has no nominal rate (a trace at its own pace): give the rate to plan for".into(),
                });
            }
        };
        let mut prices = settings.gpu_prices.clone();
        if let Some(p) = sc.gpu_hour_usd
            && !prices.iter().any(|(g, _)| *g == settings.base.hardware.gpu)
        {
            prices.push((settings.base.hardware.gpu.clone(), p));
        }
        // A role's own GPU priced in the scenario (heterogeneous PD), unless listed.
        if let Topology::Disaggregated { prefill, decode } = &sc.topology {
            for h in [&prefill.hardware, &decode.hardware].into_iter().flatten() {
                if let Some(p) = h.gpu_hour_usd
                    && !prices.iter().any(|(g, _)| *g == h.gpu.id)
                {
                    prices.push((h.gpu.id.clone(), p));
                }
            }
        }
        for (g, p) in &prices {
            if !(p.is_finite() && *p > 0.0) {
                return Err(PlanError::Setting {
                    setting: "--gpu-price",
                    message: format!(
                        "{g}: the price must be a positive number of USD per GPU-hour, got {p}"
                    ),
                });
            }
        }
        if !sc.plan.spot_mix_percent.is_empty()
            && !settings
                .space
                .gpus
                .iter()
                .all(|g| prices.iter().any(|(h, _)| h == g))
        {
            return Err(PlanError::Setting {
                setting: "plan.spot-mix-percent",
                message: "comparing spot mixes needs the on-demand price of every GPU searched: set hardware.gpu-hour-usd or --gpu-price G=USD".into(),
            });
        }
        let all_priced = !settings.space.gpus.is_empty()
            && settings
                .space
                .gpus
                .iter()
                .all(|g| prices.iter().any(|(h, _)| h == g));
        Ok(EvalContext {
            base: settings.base.clone(),
            file: settings.file.clone(),
            base_dir: settings.base_dir.clone(),
            probe_file,
            probe_requests: settings.probe_requests,
            memory_budget_gib: settings.memory_budget_gib,
            stats,
            precision: settings.precision,
            objective: if all_priced {
                Objective::PerDollar
            } else {
                Objective::PerGpu
            },
            prices,
            target_rps,
            slo_ttft_ms: sc.slo.ttft_ms,
            slo_tpot_ms: sc.slo.tpot_ms,
            availability: sc.plan.availability,
            spot: sc.spot.clone(),
            spot_mixes: sc.plan.spot_mix_percent.clone(),
            confidence: settings.confidence.clone(),
            engine_shift: settings.engine_shift.clone(),
            screen_above_gpus: settings.space.screen_above_gpus,
        })
    }

    /// How the roles of candidate scenario `sc` fail and come back, when the plan sizes
    /// spares (`None` without an availability target: costs ignore failures then).
    fn uptimes_of(&self, sc: &Scenario) -> Option<Vec<RoleUptime>> {
        self.availability.map(|_| uptimes(sc, self.spot.as_ref()))
    }

    /// The deployment cost of `c` for the target rate when one unit sustains `rate`
    /// requests/s: [`Objective::cost`] of whole units, with the spares each role needs
    /// for the availability target (on-demand) when there is one and `up` gives the
    /// roles' uptimes. Infinite when the unit sustains nothing or the target is out of
    /// reach. Non-increasing in `rate`, so a bound's cost bounds the measured one.
    pub fn cost(&self, c: &Candidate, up: Option<&[RoleUptime]>, rate: f64) -> f64 {
        let price = |g: &str| self.price(g);
        let (Some(target), Some(up)) = (self.availability, up) else {
            return self.objective.cost(
                rate,
                c.gpus(),
                c.usd_per_gpu_hour(&price),
                self.target_rps,
            );
        };
        let units = (self.target_rps / rate).ceil().max(1.0);
        if rate.is_nan() || rate <= 0.0 || units > f64::from(MAX_INSTANCES) {
            return f64::INFINITY;
        }
        let Some((size, _, _)) = with_spares(c, c.replicas(units as u32), up, 0, Some(target))
        else {
            return f64::INFINITY;
        };
        let gpus = f64::from(c.gpus_of(size));
        match (self.objective, c.usd_per_gpu_hour_of(size, &price)) {
            (Objective::PerDollar, Some(p)) => gpus * p,
            _ => gpus,
        }
    }

    /// The rate deployments are sized for, requests/s.
    pub fn target_rps(&self) -> f64 {
        self.target_rps
    }

    /// What the plan maximises: per dollar when every GPU searched has a price.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// Price of a GPU-hour of `gpu`, USD.
    pub fn price(&self, gpu: &str) -> Option<f64> {
        self.prices.iter().find(|(g, _)| g == gpu).map(|(_, p)| *p)
    }

    /// The model error that applies to a run of `sc` (`None`: probabilities off;
    /// `Some(Err)`: why none applies).
    fn draws_of(&self, sc: &Scenario) -> Option<Result<ModelDraws, String>> {
        self.confidence
            .as_ref()
            .map(|cs| ModelDraws::of(&cs.residuals, sc))
    }

    /// Mean lengths of the probe requests.
    pub fn length_stats(&self) -> LengthStats {
        self.stats
    }

    /// A request's lifetime at the SLOs' pace, s (TTFT objective + mean output x TPOT
    /// objective).
    fn lifetime_s(&self) -> f64 {
        (self.slo_ttft_ms + self.stats.mean_output * self.slo_tpot_ms) * 1e-3
    }

    /// Refuse a search of `settings` whose estimated memory exceeds its budget (see
    /// [`budget`]); runs before anything is enumerated.
    pub fn check_budget(&self, settings: &PlanSettings) -> Result<budget::Estimate, PlanError> {
        let threads = match settings.jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        budget::check(settings, threads, self.target_rps * self.lifetime_s())
    }
}

/// The base workload cut to `requests` requests (a trace keeps a smaller cap).
fn probe_workload(
    file: &WorkloadFile,
    base_dir: &Path,
    requests: u64,
) -> Result<Workload, PlanError> {
    let mut wf = file.clone();
    wf.requests = Some(match wf.requests {
        Some(n) if wf.trace.is_some() => n.min(requests),
        _ => requests,
    });
    Workload::from_file(wf, base_dir).map_err(|e| PlanError::Workload {
        message: e.to_string(),
    })
}

/// Instances of one unit of `c`.
fn instances(c: &Candidate) -> u64 {
    match c.mode {
        Mode::Disaggregated => u64::from(c.prefill.replicas) + u64::from(c.decode.replicas),
        Mode::Aggregated => u64::from(c.prefill.replicas),
    }
}

/// Mean lengths over the requests of `w`.
fn length_stats(w: &Workload, seed: u64) -> Result<LengthStats, PlanError> {
    let mut g = WorkloadGen::new(w, &Streams::new(seed)).map_err(|e| PlanError::Workload {
        message: e.to_string(),
    })?;
    let (mut n, mut input, mut output) = (0u64, 0u64, 0u64);
    while let Some(r) = g.next_open() {
        n += 1;
        input += u64::from(r.input_tokens);
        output += u64::from(r.output_tokens);
    }
    if n == 0 {
        return Err(PlanError::Workload {
            message: "the workload issues no request".into(),
        });
    }
    Ok(LengthStats {
        mean_input: input as f64 / n as f64,
        mean_output: output as f64 / n as f64,
    })
}

/// What probing candidate `c` needs: its scenario, its roofline capacity bound and its
/// probe workload (long enough to span several request lifetimes at the SLOs' pace).
fn probe_setup(
    ctx: &EvalContext,
    c: &Candidate,
) -> Result<(Scenario, f64, ProbeWorkload), PlanError> {
    let lifetime_s = ctx.lifetime_s();
    let mut sc = c.scenario(&ctx.base, &ctx.file, &ctx.base_dir, 1)?;
    sc.memory_budget_gib = ctx.memory_budget_gib;
    if let Some(shift) = &ctx.engine_shift {
        shift.apply(&mut sc);
    }
    let b = capacity_bound(&sc, &ctx.stats);
    let min_requests = ctx.probe_requests.saturating_mul(instances(c));
    let pw = ProbeWorkload {
        file: ctx.probe_file.clone(),
        base_dir: ctx.base_dir.clone(),
        min_requests,
        min_duration_s: PROBE_LIFETIMES * lifetime_s,
        max_requests: min_requests.saturating_mul(PROBE_MAX_FACTOR),
    };
    Ok((sc, b, pw))
}

/// Probes of `sc` at `rate` at the seeds of replications `1..n` (replication 0 is the
/// probe the caller has), one after the other, in replication order.
fn replicated(
    sc: &Scenario,
    pw: &ProbeWorkload,
    rate: f64,
    draws: Option<&ModelDraws>,
    n: u32,
) -> Result<Vec<ProbeMetrics>, PlanError> {
    (1..n)
        .map(|k| {
            let mut s = sc.clone();
            s.seed = seed_of(sc.seed, k);
            probe(&s, pw, rate, draws)
        })
        .collect()
}

/// The mean of the runs' `P_model`, replication 0 first.
fn mean_p(runs: &[(bool, f64)]) -> f64 {
    runs.iter().map(|r| r.1).sum::<f64>() / runs.len().max(1) as f64
}

/// Run `f` on a pool of `jobs` threads (0: one per core).
fn in_pool<T: Send>(jobs: usize, f: impl FnOnce() -> T + Send) -> Result<T, PlanError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| PlanError::Setting {
            setting: "--jobs",
            message: format!("cannot start the worker threads: {e}"),
        })?;
    Ok(pool.install(f))
}

/// Evaluate `candidates` (all of a plan, or a shard of it): bound every one, then
/// search the rates of those not pruned, in waves (see the module invariants). Runs on
/// the current rayon pool. Results come back in the order of `candidates`.
pub fn evaluate(
    ctx: &EvalContext,
    candidates: &[Candidate],
    prune: bool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<Evaluation>, PlanError> {
    // Bounds: cheap, but each builds a scenario; do them in parallel, in order.
    let built: Vec<Result<(Scenario, f64, ProbeWorkload), PlanError>> =
        candidates.par_iter().map(|c| probe_setup(ctx, c)).collect();
    let built: Vec<(Scenario, f64, ProbeWorkload)> = built.into_iter().collect::<Result<_, _>>()?;
    let ups: Vec<Option<Vec<RoleUptime>>> = built.iter().map(|b| ctx.uptimes_of(&b.0)).collect();
    // Large units are pruned by their roles' measured capacities ([`screen`]).
    let estimates: Vec<Option<f64>> = match ctx.screen_above_gpus {
        Some(above) if prune => screen::estimates(ctx, candidates, &built, above)?.0,
        _ => vec![None; candidates.len()],
    };
    // What pruning and the order go by: the bound, or the estimate where lower.
    let limit = |i: usize| {
        let b = built[i].1;
        estimates[i].map_or(b, |e| e.min(b))
    };
    let span = |i: usize| search::first_span(estimates[i]);
    let score = |i: usize, rate: f64| {
        let c = &candidates[i];
        ctx.objective
            .score(rate, c.gpus(), c.usd_per_gpu_hour(&|g| ctx.price(g)))
    };
    let cost = |i: usize, rate: f64| ctx.cost(&candidates[i], ups[i].as_deref(), rate);
    // Candidates that differ only in max-num-seqs share their runs (see [`reuse`]): a
    // class is one task, searched member after member on one thread.
    let refs: Vec<&Candidate> = candidates.iter().collect();
    let built_refs: Vec<&(Scenario, f64, ProbeWorkload)> = built.iter().collect();
    let classes = reuse::seq_classes(&refs, &built_refs, &limit);
    let mut order: Vec<usize> = (0..classes.len()).collect();
    let first = |k: usize| classes[k][0];
    order.sort_by(|&a, &b| {
        let (a0, b0) = (first(a), first(b));
        score(b0, limit(b0))
            .total_cmp(&score(a0, limit(a0)))
            .then(a0.cmp(&b0))
    });
    let mut searches: Vec<Option<search::SearchOutcome>> = vec![None; candidates.len()];
    let mut best = Incumbent::default();
    for wave in order.chunks(WAVE) {
        let todo: Vec<Vec<usize>> = wave
            .iter()
            .map(|&k| {
                classes[k]
                    .iter()
                    .copied()
                    .filter(|&i| {
                        let b = limit(i);
                        let keep = !prune || best.may_improve(score(i, b), cost(i, b));
                        if !keep {
                            progress(Progress::Candidate);
                        }
                        keep
                    })
                    .collect::<Vec<usize>>()
            })
            .filter(|members| !members.is_empty())
            .collect();
        let outs: Vec<Result<Vec<search::SearchOutcome>, PlanError>> = todo
            .par_iter()
            .map(|members| {
                let mut memo = reuse::ProbeMemo::default();
                members
                    .iter()
                    .map(|&i| {
                        let (sc, _, pw) = &built[i];
                        let draws = ctx.draws_of(sc);
                        let d = draws.as_ref().and_then(|d| d.as_ref().ok());
                        let seqs = candidates[i].knobs.max_num_seqs;
                        // Never above what prunes it (the bound, or the screen's
                        // estimate), so that pruning cannot remove the best measured
                        // unit and the plan does not depend on the schedule.
                        let r = max_rate_with(limit(i), span(i), ctx.precision, &mut |rate| {
                            memo.probe(sc.seed, seqs, rate, || {
                                search::probe_flagged(sc, pw, rate, d)
                            })
                        });
                        progress(Progress::Candidate);
                        r
                    })
                    .collect()
            })
            .collect();
        for (members, out) in todo.iter().zip(outs) {
            for (&i, out) in members.iter().zip(out?) {
                best.update(score(i, out.max_rate_rps), cost(i, out.max_rate_rps));
                searches[i] = Some(out);
            }
        }
    }
    Ok(candidates
        .iter()
        .zip(built)
        .zip(searches)
        .zip(estimates)
        .map(
            |(((c, (_, bound_rps, _)), search), estimate_rps)| Evaluation {
                index: c.index,
                bound_rps,
                estimate_rps,
                search,
            },
        )
        .collect())
}

/// Make a plan: enumerate, evaluate, rank, size for the target rate and confirm.
pub fn plan(
    settings: &PlanSettings,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Plan, PlanError> {
    let ctx = EvalContext::new(settings)?;
    ctx.check_budget(settings)?;
    let candidates = enumerate(
        &settings.base,
        &settings.file,
        &settings.base_dir,
        &settings.space,
    )?;
    if candidates.is_empty() {
        return Err(PlanError::Setting {
            setting: "search space",
            message: format!(
                "no deployment unit of at most {} GPUs fits the model on {} with TP {:?}: raise --gpus-max or try other GPUs or TP degrees",
                settings.space.gpus_max,
                settings.space.gpus.join(", "),
                settings.space.tps
            ),
        });
    }
    progress(Progress::Start {
        total: candidates.len(),
    });
    let evals = in_pool(settings.jobs, || {
        evaluate(&ctx, &candidates, settings.prune, progress)
    })??;
    progress(Progress::Confirming);
    finish(settings, &ctx, &candidates, &evals)
}

/// The second half of [`plan`]: turn the evaluations of every candidate (from one
/// [`evaluate`] call, or merged from shards of the candidate list) into the plan, and
/// size and confirm the recommendation.
pub fn finish(
    settings: &PlanSettings,
    ctx: &EvalContext,
    candidates: &[Candidate],
    evals: &[Evaluation],
) -> Result<Plan, PlanError> {
    let base_sc = Scenario::from_file(&settings.file, &settings.base_dir, settings.base.clone())?;
    let target = ctx.target_rps;
    let price = |g: &str| ctx.price(g);
    // Uptimes of every candidate's roles (only with an availability target).
    let ups: Vec<Option<Vec<RoleUptime>>> = match ctx.availability {
        None => vec![None; candidates.len()],
        Some(_) => candidates
            .iter()
            .map(|c| {
                c.scenario(&settings.base, &settings.file, &settings.base_dir, 1)
                    .map(|sc| ctx.uptimes_of(&sc))
            })
            .collect::<Result<_, _>>()?,
    };
    let cost = |c: &Candidate, rate: f64| ctx.cost(c, ups[c.index].as_deref(), rate);
    let mut results = assemble(candidates, evals, ctx.objective, &price, &cost)?;
    let ranking = rank(&results, ctx.objective);
    // The probability of each candidate near the frontier at its highest rate.
    let near = match &ctx.confidence {
        Some(_) => near_frontier(&results, &ranking, &cost),
        None => Vec::new(),
    };
    if let Some(cs) = &ctx.confidence {
        // Twins that differ only in max-num-seqs share their runs here too ([`reuse`]).
        let built: Vec<Result<(Scenario, f64, ProbeWorkload), PlanError>> =
            in_pool(settings.jobs, || {
                near.par_iter()
                    .map(|&i| probe_setup(ctx, &results[i].candidate))
                    .collect()
            })?;
        let built: Vec<(Scenario, f64, ProbeWorkload)> =
            built.into_iter().collect::<Result<_, _>>()?;
        let cands: Vec<&Candidate> = near.iter().map(|&i| &results[i].candidate).collect();
        let classes = reuse::seq_classes(&cands, &built.iter().collect::<Vec<_>>(), &|_| 0.0);
        let ps: Vec<Result<Vec<f64>, PlanError>> = in_pool(settings.jobs, || {
            classes
                .par_iter()
                .map(|class| {
                    let mut memo = reuse::ProbeMemo::default();
                    class
                        .iter()
                        .map(|&k| candidate_p_with(cs, &results[near[k]], &built[k], &mut memo))
                        .collect()
                })
                .collect()
        })?;
        for (class, p) in classes.iter().zip(ps) {
            for (&k, p) in class.iter().zip(p?) {
                results[near[k]].p_meet_slo = Some(p);
            }
        }
    }
    let min_requests = (target * CONFIRM_LIFETIMES * ctx.lifetime_s()).ceil();
    let min_requests = min_requests.min(1e9) as u64;
    // Size candidate `i` whose unit sustains `rate` for the target, confirmed by the point
    // estimate (`level` None) or at a probability of meeting the SLOs.
    let size = |i: usize, rate: f64, level: Option<f64>| -> Result<Recommendation, PlanError> {
        let c = &results[i].candidate;
        let mut rec = sizing::confirm(settings, c, rate, target, min_requests, level)?;
        rec.usd_per_gpu_hour = c.usd_per_gpu_hour_of(rec.replicas, &price);
        if ctx.availability.is_some() || !ctx.spot_mixes.is_empty() {
            rec = sizing::headroom(settings, ctx, c, rec, min_requests)?;
        }
        if ctx.confidence.is_some() && rec.probability.is_none() {
            rec.probability = Some(probability_of(settings, &rec, target)?);
        }
        Ok(rec)
    };
    let point = pick(&results, ctx.objective, &cost)
        .map(|i| size(i, results[i].max_rate_rps, None))
        .transpose()?;
    let (recommendation, confidence) = match &ctx.confidence {
        None => (point, None),
        Some(cs) => {
            let mut pc = PlanConfidence {
                replications: cs.replications,
                candidates_with_p: near.len(),
                residuals: cs.residuals.source.clone(),
                level: cs.level,
                rates: Vec::new(),
                evaluated: 0,
                probes: 0,
                point: None,
            };
            match cs.level {
                None => (point, Some(pc)),
                Some(level) => {
                    let (rates, probes) = confident_rates(settings, ctx, &results, &cost, level)?;
                    let score = |i: usize, rate: f64| {
                        let c = &results[i].candidate;
                        ctx.objective
                            .score(rate, c.gpus(), c.usd_per_gpu_hour(&price))
                    };
                    let best = rates
                        .iter()
                        .enumerate()
                        .filter_map(|(i, r)| r.filter(|r| r.0 > 0.0).map(|r| (i, r.0)))
                        .min_by(|&(a, ra), &(b, rb)| {
                            cost(&results[a].candidate, ra)
                                .total_cmp(&cost(&results[b].candidate, rb))
                                .then(score(b, rb).total_cmp(&score(a, ra)))
                                .then(a.cmp(&b))
                        });
                    let rec = best.map(|(i, r)| size(i, r, Some(level))).transpose()?;
                    pc.evaluated = rates.iter().filter(|r| r.is_some()).count();
                    pc.rates = rates;
                    pc.probes = probes;
                    pc.point = point.map(Box::new);
                    (rec, Some(pc))
                }
            }
        }
    };
    Ok(Plan {
        confidence,
        objective: ctx.objective,
        results,
        ranking,
        recommendation,
        target_rate_rps: target,
        slo: base_sc.slo.clone(),
        probe_requests: settings.probe_requests,
        gpus_max: settings.space.gpus_max,
        screen_above_gpus: ctx.screen_above_gpus.filter(|_| settings.prune),
    })
}

/// One unit's highest rate meeting every SLO at a confidence and the probability there
/// (`None`: not searched).
type ConfidentRate = Option<(f64, f64)>;

/// Candidates ranked in the best [`NEAR_TOP`] by score.
pub const NEAR_TOP: usize = 10;

/// The evaluated candidates near the frontier, whose probability of meeting the SLOs at
/// their highest rate a plan reports: the best [`NEAR_TOP`] by score, those on the Pareto
/// front (output tokens/s per GPU against tokens/s per user) and those whose deployment
/// for the target rate costs no more than the cheapest (`cost` of a candidate at its
/// rate); in result order. The others' probabilities are left out to keep the plan fast:
/// at its highest rate a unit meets the SLOs by a hair, so its probability there tells
/// little once it is far from the choice.
pub fn near_frontier(
    results: &[result::CandidateResult],
    ranking: &[usize],
    cost: &dyn Fn(&Candidate, f64) -> f64,
) -> Vec<usize> {
    let mut near = vec![false; results.len()];
    for &i in ranking.iter().take(NEAR_TOP) {
        near[i] = true;
    }
    for p in result::pareto(results) {
        if p.on_front {
            near[p.result] = true;
        }
    }
    let c = |i: usize| cost(&results[i].candidate, results[i].max_rate_rps);
    let cheapest = ranking.iter().map(|&i| c(i)).fold(f64::INFINITY, f64::min);
    for &i in ranking {
        if c(i) <= cheapest {
            near[i] = true;
        }
    }
    (0..results.len())
        .filter(|&i| near[i] && results[i].status == Status::Evaluated)
        .collect()
}

/// The probability that one unit of `r` meets every SLO at its highest rate: the rate
/// search's probe there and the replications `1..n` at that rate.
fn candidate_p(
    ctx: &EvalContext,
    cs: &ConfidenceSettings,
    r: &result::CandidateResult,
) -> Result<f64, PlanError> {
    if r.at_max.is_none() {
        return Ok(0.0);
    }
    let built = probe_setup(ctx, &r.candidate)?;
    candidate_p_with(cs, r, &built, &mut reuse::ProbeMemo::default())
}

/// [`candidate_p`] of `r`, whose scenario, bound and probe workload are `built`, taking
/// runs from `memo` where they are the same runs (see [`reuse`]).
fn candidate_p_with(
    cs: &ConfidenceSettings,
    r: &result::CandidateResult,
    built: &(Scenario, f64, ProbeWorkload),
    memo: &mut reuse::ProbeMemo,
) -> Result<f64, PlanError> {
    let Some(m) = &r.at_max else {
        return Ok(0.0);
    };
    let (sc, _, pw) = built;
    let draws = ModelDraws::of(&cs.residuals, sc);
    let d = draws.as_ref().ok();
    let rate = r.max_rate_rps;
    let limit = r.candidate.knobs.max_num_seqs;
    let reps: Vec<ProbeMetrics> = (1..cs.replications)
        .map(|k| {
            let seed = seed_of(sc.seed, k);
            memo.probe(seed, limit, rate, || {
                let mut s = sc.clone();
                s.seed = seed;
                search::probe_flagged(&s, pw, rate, d)
            })
        })
        .collect::<Result<_, _>>()?;
    let runs: Vec<(bool, f64)> = std::iter::once((m.met, m.p_model))
        .chain(reps.iter().map(|x| (x.met, x.p_model)))
        .collect();
    Ok(mean_p(&runs))
}

/// Per result (in result order), the highest rate of one unit at which it meets every SLO
/// with probability at least `level` and the probability there (`None`: not searched),
/// and the simulations this took.
///
/// A unit's rate at a confidence is at most its point-estimate rate (the search never
/// probes above it), so its deployment cost at the confidence is at least its
/// point-estimate cost. Candidates are searched in waves of [`WAVE`] in increasing order
/// of point-estimate cost (then index), in parallel within a wave, and a wave keeps only
/// those whose point-estimate cost is at most the lowest cost at the confidence found so
/// far: the others cannot be recommended. The pick is the one a search of every
/// candidate would make, at any `jobs`.
fn confident_rates(
    settings: &PlanSettings,
    ctx: &EvalContext,
    results: &[result::CandidateResult],
    cost: &dyn Fn(&Candidate, f64) -> f64,
    level: f64,
) -> Result<(Vec<ConfidentRate>, u32), PlanError> {
    let cs = ctx.confidence.as_ref().expect("probabilities are on");
    let point_cost = |i: usize| cost(&results[i].candidate, results[i].max_rate_rps);
    let mut order: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].status == Status::Evaluated)
        .collect();
    order.sort_by(|&a, &b| point_cost(a).total_cmp(&point_cost(b)).then(a.cmp(&b)));
    let mut rates = vec![None; results.len()];
    let mut probes = 0u32;
    let mut best = f64::INFINITY;
    for wave in order.chunks(WAVE) {
        let todo: Vec<usize> = wave
            .iter()
            .copied()
            .filter(|&i| point_cost(i) <= best)
            .collect();
        if todo.is_empty() {
            break;
        }
        let outs: Vec<Result<(f64, f64, u32), PlanError>> = in_pool(settings.jobs, || {
            todo.par_iter()
                .map(|&i| confident_rate(ctx, cs, &results[i], level))
                .collect()
        })?;
        for (&i, out) in todo.iter().zip(outs) {
            let (rate, p, n) = out?;
            rates[i] = Some((rate, p));
            probes += n;
            best = best.min(cost(&results[i].candidate, rate));
        }
    }
    Ok((rates, probes))
}

/// The highest rate of one unit of `r` at which it meets every SLO with probability at
/// least `level` (its point-estimate rate when the probability there is enough, else by
/// bisection below it, each probe replicated), the probability there, and the
/// simulations run.
fn confident_rate(
    ctx: &EvalContext,
    cs: &ConfidenceSettings,
    r: &result::CandidateResult,
    level: f64,
) -> Result<(f64, f64, u32), PlanError> {
    // Its probability at the point-estimate rate (already known near the frontier).
    let (p0, extra) = match r.p_meet_slo {
        Some(p) => (p, 0),
        None => (candidate_p(ctx, cs, r)?, cs.replications - 1),
    };
    if p0 >= level {
        return Ok((r.max_rate_rps, p0, extra));
    }
    let (sc, _, pw) = probe_setup(ctx, &r.candidate)?;
    let draws = ModelDraws::of(&cs.residuals, &sc);
    let d = draws.as_ref().ok();
    let out = max_rate_with(r.max_rate_rps, SPAN, ctx.precision, &mut |rate| {
        let mut m = probe(&sc, &pw, rate, d)?;
        let reps = replicated(&sc, &pw, rate, d, cs.replications)?;
        let runs: Vec<(bool, f64)> = std::iter::once((m.met, m.p_model))
            .chain(reps.iter().map(|x| (x.met, x.p_model)))
            .collect();
        let p = mean_p(&runs);
        m.met = m.met && p >= level;
        m.p_model = p;
        Ok(m)
    })?;
    Ok((
        out.max_rate_rps,
        out.at_max.map_or(0.0, |m| m.p_model),
        out.probes * cs.replications + extra,
    ))
}

/// The probability that the deployment of `rec` (its confirming run replicated at the
/// seeds of replications `1..n`, in parallel on `settings.jobs` threads) meets every SLO
/// at `target` requests/s.
fn probability_of(
    settings: &PlanSettings,
    rec: &Recommendation,
    target: f64,
) -> Result<Probability, PlanError> {
    let cs = settings.confidence.as_ref().expect("probabilities are on");
    let mut sc = Scenario::from_text(
        Path::new("recommended.toml"),
        &settings.base_dir,
        &rec.scenario_toml,
        &[],
    )
    .map_err(|e| PlanError::Candidate {
        candidate: "the recommendation".into(),
        message: e.to_string(),
    })?;
    sc.memory_budget_gib = settings.memory_budget_gib;
    if let Some(shift) = &settings.engine_shift {
        shift.apply(&mut sc);
    }
    let draws = ModelDraws::of(&cs.residuals, &sc);
    let d = draws.as_ref().ok();
    let seeds: Vec<u64> = (1..cs.replications).map(|k| seed_of(sc.seed, k)).collect();
    let reps: Vec<Result<ProbeMetrics, PlanError>> = in_pool(settings.jobs, || {
        seeds
            .par_iter()
            .map(|&seed| {
                let mut s = sc.clone();
                s.seed = seed;
                judged_run(&s, target, d)
            })
            .collect()
    })?;
    let mut runs = vec![(rec.confirm.met, rec.confirm.p_model)];
    for r in reps {
        let r = r?;
        runs.push((r.met, r.p_model));
    }
    Ok(Probability::of(&runs, &draws))
}

/// The scenario file of `c`'s roles at `size` replicas serving the base workload at
/// `target` requests/s (set by [`WorkloadFile::with_rate`], the rate setter of every
/// command), ready to be written and replayed by `xpyd run`.
pub fn deployment_file(
    settings: &PlanSettings,
    c: &Candidate,
    size: Replicas,
    target: f64,
) -> Result<ScenarioFile, PlanError> {
    let mut f = c.scenario_file_of(&settings.base, size);
    f.name = Some(format!(
        "{}-plan",
        settings.base.name.clone().unwrap_or_else(|| settings
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into()))
    ));
    f.baseline = settings.base.baseline.clone();
    f.baseline.tp = None;
    f.baseline.replicas = None;
    f.workload = f
        .workload
        .with_rate(target)
        .map_err(|e| PlanError::Workload {
            message: e.to_string(),
        })?;
    absolutize(&mut f, &settings.base_dir);
    Ok(f)
}

/// Make relative file paths absolute so the scenario can be replayed from anywhere.
fn absolutize(f: &mut ScenarioFile, base_dir: &Path) {
    for p in f.file_fields_mut() {
        if Path::new(p.as_str()).is_relative() {
            let joined = base_dir.join(p.as_str());
            let abs = std::path::absolute(&joined).unwrap_or(joined);
            *p = abs.to_string_lossy().into_owned();
        }
    }
}
