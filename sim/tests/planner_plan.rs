//! Whole plans: pruning never loses the best, and the recommendation is trimmed to a
//! minimum. (That a plan's files are the same at any thread count is checked in
//! `reports/tests/plan_files.rs`, where they are rendered.)

use std::path::PathBuf;
use xpyd_sim::planner::candidates::SearchSpace;
use xpyd_sim::planner::result::Status;
use xpyd_sim::planner::{PlanSettings, plan};
use xpyd_sim::scenario::{RouterKind, ScenarioFile};

/// The default scenario (Qwen3-32B on L20, SGLang, ShareGPT chat at 0.5 req/s) over a
/// small space: units of at most 4 GPUs, TP 2 and 4, two routers, one knob pair.
fn settings(jobs: usize, prune: bool) -> PlanSettings {
    let text = include_str!("../../scenarios/seed-sglang-2p1d.toml");
    let base: ScenarioFile = toml::from_str(text).unwrap();
    let mut space = SearchSpace::default_for(vec!["l20".into()], 4);
    space.tps = vec![2, 4];
    space.token_budgets = vec![4096];
    space.max_num_seqs = vec![1024];
    space.routers = vec![RouterKind::RoundRobin, RouterKind::LeastOutstanding];
    PlanSettings {
        base,
        file: PathBuf::from("seed-sglang-2p1d.toml"),
        base_dir: PathBuf::from("."),
        space,
        gpu_prices: vec![],
        target_rate_rps: None,
        probe_requests: 200,
        precision: 0.05,
        jobs,
        prune,
        memory_budget_gib: xpyd_sim::planner::DEFAULT_MEMORY_BUDGET_GIB,
        confidence: None,
        engine_shift: None,
    }
}

#[test]
fn pruning_never_removes_the_best() {
    let pruned = plan(&settings(2, true), &|_| {}).unwrap();
    let full = plan(&settings(2, false), &|_| {}).unwrap();
    assert!(
        full.results
            .iter()
            .all(|r| !matches!(r.status, Status::Pruned { .. }))
    );
    let best_full = &full.results[full.ranking[0]];
    let best_pruned = &pruned.results[pruned.ranking[0]];
    assert_eq!(best_full.candidate, best_pruned.candidate);
    assert_eq!(best_full.max_rate_rps, best_pruned.max_rate_rps);
    // The recommendation (cheapest deployment for the target) is the same too.
    let (rp, rf) = (
        pruned.recommendation.as_ref().unwrap(),
        full.recommendation.as_ref().unwrap(),
    );
    assert_eq!(
        pruned.results[rp.index].candidate,
        full.results[rf.index].candidate
    );
    assert_eq!(rp.units, rf.units);
    assert_eq!(rp.scenario_toml, rf.scenario_toml);
    // Every candidate kept by pruning was measured exactly as without pruning, and
    // every pruned one's bound is below the best measured rate per GPU.
    let best = best_full.goodput_per_gpu();
    for (p, f) in pruned.results.iter().zip(&full.results) {
        match p.status {
            Status::Pruned { .. } => {
                assert!(p.bound_rps / f64::from(p.candidate.gpus()) < best);
                assert!(f.goodput_per_gpu() <= best);
            }
            _ => assert_eq!(p.max_rate_rps, f.max_rate_rps),
        }
    }
    // The measured rate never exceeds the bound.
    for f in &full.results {
        assert!(f.max_rate_rps <= f.bound_rps, "{:?}", f.candidate);
    }
}

/// The sized deployment meets the SLOs, and unless the trim budget ran out, one replica
/// fewer of any role with more than one misses them: trimming stops at a minimum.
#[test]
fn the_recommendation_is_trimmed_to_a_minimum() {
    use xpyd_sim::engine::{System, run};
    use xpyd_sim::planner::deployment_file;
    use xpyd_sim::scenario::Scenario;
    let mut s = settings(2, true);
    s.target_rate_rps = Some(2.0);
    let p = plan(&s, &|_| {}).unwrap();
    let rec = p.recommendation.as_ref().unwrap();
    assert!(rec.confirm.met);
    let c = &p.results[rec.index].candidate;
    assert_eq!(rec.gpus, c.gpus_of(rec.replicas));
    let whole = c.replicas(rec.units);
    assert!(rec.replicas.prefill <= whole.prefill && rec.replicas.decode <= whole.decode);
    if rec.trim_runs == xpyd_sim::planner::TRIM_RUNS {
        return;
    }
    let mut smaller = vec![];
    if rec.replicas.prefill > 1 {
        smaller.push({
            let mut r = rec.replicas;
            r.prefill -= 1;
            r
        });
    }
    if rec.replicas.decode > 1 {
        smaller.push({
            let mut r = rec.replicas;
            r.decode -= 1;
            r
        });
    }
    for size in smaller {
        let f = deployment_file(&s, c, size, 2.0).unwrap();
        let sc = Scenario::from_file(&s.file, &s.base_dir, f).unwrap();
        let out = run(&sc, System::Main, &mut |_| {}).unwrap();
        let m = xpyd_sim::planner::search::ProbeMetrics::from_metrics(2.0, &out.metrics);
        assert!(!m.met, "{size:?} still meets the SLOs");
    }
}
