//! The planner's memory budget: an estimate, made before anything is enumerated or
//! simulated, of the memory a search needs, and the up-front refusal of a search whose
//! estimate exceeds the budget (`xpyd plan --memory-budget-gib`).
//!
//! # How it is estimated
//!
//! `candidates x CANDIDATE_BYTES + threads x probe requests x REQUEST_BYTES + confirming
//! requests in flight x REQUEST_BYTES`, where
//! - `candidates` counts every deployment unit the enumeration would visit (every mode,
//!   TP pair and replica split of at most `--gpus-max` GPUs, times the knob pairs and the
//!   routers, for each GPU type and, disaggregated, each ordered pair of distinct GPU
//!   types: heterogeneous PD; with MoE splits, each TP degree above 1 counted
//!   [`MOE_SPLITS_PER_TP`] times per role), before the fit check, so it is an upper
//!   bound; each holds its candidate,
//!   its validated scenario and its evaluation while the search runs (about 4 KiB
//!   measured, counted [`CANDIDATE_BYTES`]);
//! - each of the `threads` concurrent probes simulates at most `--probe-requests x
//!   instances of the largest unit x PROBE_MAX_FACTOR` requests, all counted in flight at
//!   [`REQUEST_BYTES`] each (about 1.4 KiB measured for an overloaded run);
//! - the confirming run holds about `target rate x request lifetime` requests in flight.
//!
//! # Invariants
//!
//! - The estimate is a pure function of the settings and the machine's thread count;
//!   it does not depend on the model (TP degrees are not filtered by the heads), so it
//!   errs high.
//! - The count is computed in `O(GPU types x TP pairs x gpus_max)` arithmetic, never by
//!   building the list: `--gpus-max` is at most [`MAX_GPUS_MAX`].

use super::candidates::SearchSpace;
use super::{PROBE_MAX_FACTOR, PlanError, PlanSettings};
use crate::scenario::Mode;

/// Largest `--gpus-max`: GPUs of one deployment unit.
pub const MAX_GPUS_MAX: u32 = 65_536;

use crate::limits::GIB;
pub use crate::limits::{DEFAULT_MEMORY_BUDGET_GIB, REQUEST_BYTES};

/// Most `(dp, ep)` splits one TP degree above 1 is tried with under
/// [`SearchSpace::moe_splits`]: `(1, 1)`, `(1, t)`, `(t, t)` and the scenario's own.
pub const MOE_SPLITS_PER_TP: u64 = 4;

/// Bytes counted per candidate of the search.
pub const CANDIDATE_BYTES: u64 = 8 << 10;

/// What a search is estimated to need, by part.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Candidates the enumeration visits (an upper bound).
    pub candidates: u64,
    /// Bytes of the candidates.
    pub candidate_bytes: f64,
    /// Bytes of the concurrent probes.
    pub probe_bytes: f64,
    /// Bytes of the confirming run.
    pub confirm_bytes: f64,
}

impl Estimate {
    /// The whole estimate, bytes.
    pub fn total_bytes(&self) -> f64 {
        self.candidate_bytes + self.probe_bytes + self.confirm_bytes
    }
}

/// Replica splits `(x, y)`, `x, y >= 1`, with `x * a + y * b <= g`.
fn pairs(g: u64, a: u64, b: u64) -> u64 {
    (1..=g / a).map(|x| (g - x * a) / b).sum()
}

/// Candidates [`super::candidates::enumerate`] visits for `space`, before the fit check.
pub fn count_candidates(space: &SearchSpace) -> u64 {
    let g = u64::from(space.gpus_max);
    let tps: Vec<u64> = space
        .tps
        .iter()
        .map(|&t| u64::from(t))
        .filter(|&t| t >= 1 && t <= g)
        .collect();
    // Splits per TP degree: at most MOE_SPLITS_PER_TP with MoE splits (TP 1 has one).
    let splits = |t: u64| {
        if space.moe_splits && t > 1 {
            MOE_SPLITS_PER_TP
        } else {
            1
        }
    };
    let knobs = (space.token_budgets.len() * space.max_num_seqs.len()) as u64;
    let routers = space.routers.len() as u64;
    let mut per_gpu: u64 = 0;
    let mut pd_per_gpu: u64 = 0;
    for mode in &space.modes {
        match mode {
            Mode::Disaggregated => {
                for &a in &tps {
                    for &b in &tps {
                        let all = pairs(g, a, b);
                        // The 1P1D split (when it fits) tries only round-robin.
                        let single = u64::from(a + b <= g);
                        let n = knobs
                            .saturating_mul(single + (all - single) * routers)
                            .saturating_mul(splits(a) * splits(b));
                        per_gpu = per_gpu.saturating_add(n);
                        pd_per_gpu = pd_per_gpu.saturating_add(n);
                    }
                }
            }
            Mode::Aggregated => {
                for &t in &tps {
                    let all = g / t;
                    per_gpu = per_gpu.saturating_add(
                        knobs
                            .saturating_mul(1 + (all - 1) * routers)
                            .saturating_mul(splits(t)),
                    );
                }
            }
        }
    }
    // Heterogeneous PD: the disaggregated units again for every ordered pair of
    // distinct GPU types (prefill on one, decode on the other).
    let n = space.gpus.len() as u64;
    per_gpu
        .saturating_mul(n)
        .saturating_add(pd_per_gpu.saturating_mul(n * n.saturating_sub(1)))
}

/// Estimate the memory of the search of `settings` with `threads` concurrent probes
/// and a confirming run of `confirm_in_flight` requests in flight.
pub fn estimate(settings: &PlanSettings, threads: usize, confirm_in_flight: f64) -> Estimate {
    let candidates = count_candidates(&settings.space);
    let min_tp = settings.space.tps.iter().copied().min().unwrap_or(1).max(1);
    let instances = u64::from(settings.space.gpus_max / min_tp).max(1);
    let probe_requests = settings
        .probe_requests
        .saturating_mul(instances)
        .saturating_mul(PROBE_MAX_FACTOR);
    Estimate {
        candidates,
        candidate_bytes: candidates as f64 * CANDIDATE_BYTES as f64,
        probe_bytes: threads as f64 * probe_requests as f64 * REQUEST_BYTES as f64,
        confirm_bytes: confirm_in_flight.max(0.0) * REQUEST_BYTES as f64,
    }
}

/// Refuse, before anything is built, a search whose [`estimate`] exceeds
/// `settings.memory_budget_gib`; the error names the flag whose part dominates.
pub fn check(
    settings: &PlanSettings,
    threads: usize,
    confirm_in_flight: f64,
) -> Result<Estimate, PlanError> {
    let budget = settings.memory_budget_gib;
    let (lo, hi) = crate::limits::MEMORY_BUDGET_RANGE_GIB;
    if !(budget.is_finite() && (lo..=hi).contains(&budget)) {
        return Err(PlanError::Setting {
            setting: "--memory-budget-gib",
            message: format!("must be in [{lo}, {hi}] GiB, got {budget}"),
        });
    }
    let e = estimate(settings, threads, confirm_in_flight);
    if e.total_bytes() <= budget * GIB {
        return Ok(e);
    }
    let parts = [
        (e.candidate_bytes, "--gpus-max"),
        (e.probe_bytes, "--probe-requests"),
        (e.confirm_bytes, "--target-rate"),
    ];
    let (_, setting) = parts
        .iter()
        .copied()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .expect("three parts");
    let hint = match setting {
        "--gpus-max" => {
            "lower --gpus-max or search fewer --tp/--token-budgets/--max-num-seqs/--router values"
        }
        "--probe-requests" => "lower --probe-requests or --jobs",
        _ => "lower --target-rate",
    };
    Err(PlanError::Setting {
        setting,
        message: format!(
            "the search would need about {:.1} GiB ({} candidates x {} KiB = {:.1} GiB, {threads} concurrent probes = {:.1} GiB, the confirming run = {:.1} GiB), over the memory budget of {budget} GiB (--memory-budget-gib): {hint}",
            e.total_bytes() / GIB,
            e.candidates,
            CANDIDATE_BYTES >> 10,
            e.candidate_bytes / GIB,
            e.probe_bytes / GIB,
            e.confirm_bytes / GIB,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_matches_the_enumeration() {
        let text = include_str!("../../../scenarios/seed-sglang-2p1d.toml");
        let base: crate::scenario::ScenarioFile = toml::from_str(text).unwrap();
        // H100 fits Qwen3-32B at every TP: nothing is filtered by the fit check.
        let mut space = SearchSpace::default_for(vec!["h100".into()], 8);
        space.tps = vec![1, 2, 4, 8];
        let list = super::super::candidates::enumerate(
            &base,
            std::path::Path::new("seed.toml"),
            std::path::Path::new("."),
            &space,
        )
        .unwrap();
        assert!(list.len() as u64 <= count_candidates(&space));
        assert!(count_candidates(&space) > 0);
        let big = SearchSpace::default_for(vec!["h100".into()], MAX_GPUS_MAX);
        assert!(count_candidates(&big) > 1_000_000_000);
    }
}
