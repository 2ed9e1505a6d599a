//! The plan's files (moved from `sim/tests/planner_{shard,plan}.rs` with their
//! assertions when rendering moved here):
//! - evaluating the candidate list in slices and merging the evaluations gives exactly
//!   the plan of one evaluation of the whole list (what `xpyd plan --shard I/N` and
//!   `--merge` rely on): pruning decisions do not depend on which candidates ran
//!   together;
//! - plans are identical at any thread count;
//! - every file of a plan reads back through the schema it was written with.

use std::path::PathBuf;
use xpyd_reports::plan_files::{
    PARETO_COLUMNS, PLAN_COLUMNS, ParetoRow, PlanRow, RecommendationFile, pareto_csv, plan_csv,
    recommendation_json,
};
use xpyd_reports::plan_report::PlanInputs;
use xpyd_reports::shard_file;
use xpyd_sim::planner::candidates::{SearchSpace, enumerate};
use xpyd_sim::planner::shard::{Shard, ShardFile, evaluate_shard, merge};
use xpyd_sim::planner::{EvalContext, PlanSettings, evaluate, finish, plan};
use xpyd_sim::scenario::{RouterKind, ScenarioFile};

fn settings() -> PlanSettings {
    let text = include_str!("../../scenarios/seed-sglang-2p1d.toml");
    let base: ScenarioFile = toml::from_str(text).unwrap();
    let mut space = SearchSpace::default_for(vec!["l20".into()], 4);
    space.tps = vec![2, 4];
    space.token_budgets = vec![2048, 8192];
    space.max_num_seqs = vec![1024];
    space.routers = vec![RouterKind::RoundRobin, RouterKind::PowerOfTwo];
    PlanSettings {
        base,
        file: PathBuf::from("seed-sglang-2p1d.toml"),
        base_dir: PathBuf::from("."),
        space,
        gpu_prices: vec![],
        target_rate_rps: Some(1.0),
        probe_requests: 150,
        precision: 0.05,
        jobs: 1,
        prune: true,
        memory_budget_gib: xpyd_sim::planner::DEFAULT_MEMORY_BUDGET_GIB,
        confidence: None,
        engine_shift: None,
    }
}

#[test]
fn shards_merge_into_the_single_plan() {
    let s = settings();
    let ctx = EvalContext::new(&s).unwrap();
    let cands = enumerate(&s.base, &s.file, &s.base_dir, &s.space).unwrap();
    assert!(cands.len() >= 4);
    let whole = evaluate(&ctx, &cands, true, &|_| {}).unwrap();
    let single = finish(&s, &ctx, &cands, &whole).unwrap();
    // Interleaved shards (i % 3), merged in a scrambled order.
    let mut merged = Vec::new();
    for shard in [2, 0, 1] {
        let slice: Vec<_> = cands
            .iter()
            .filter(|c| c.index % 3 == shard)
            .cloned()
            .collect();
        merged.extend(evaluate(&ctx, &slice, true, &|_| {}).unwrap());
    }
    let sharded = finish(&s, &ctx, &cands, &merged).unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    assert_eq!(text(plan_csv(&single)), text(plan_csv(&sharded)));
    assert_eq!(text(pareto_csv(&single)), text(pareto_csv(&sharded)));
    assert_eq!(
        recommendation_json(&single, "r.toml"),
        recommendation_json(&sharded, "r.toml")
    );
    // The same through shard files (`xpyd plan --shard` / `--merge`): floats survive the
    // text round trip exactly, and the merged plan is the same.
    let files: Vec<(String, ShardFile)> = [1, 0, 2]
        .into_iter()
        .map(|index| {
            let shard = Shard { index, count: 3 };
            let f = evaluate_shard(&s, shard, &|_| {}).unwrap();
            let back = shard_file::from_json("f", &shard_file::to_json(&f)).unwrap();
            assert_eq!(back, f, "shard {shard} changed in its file");
            (shard.file_name(), back)
        })
        .collect();
    let from_files = merge(&s, &files, &|_| {}).unwrap();
    assert_eq!(text(plan_csv(&single)), text(plan_csv(&from_files)));
    assert_eq!(
        recommendation_json(&single, "r.toml"),
        recommendation_json(&from_files, "r.toml")
    );
    // A merge missing a shard is an error, not a silently smaller plan.
    assert!(merge(&s, &files[..2], &|_| {}).is_err());
    let partial: Vec<_> = merged
        .iter()
        .filter(|e| e.index % 3 != 0)
        .cloned()
        .collect();
    assert!(finish(&s, &ctx, &cands, &partial).is_err());
}

/// The default scenario (Qwen3-32B on L20, SGLang, ShareGPT chat at 0.5 req/s) over a
/// small space: units of at most 4 GPUs, TP 2 and 4, two routers, one knob pair.
fn thread_settings(jobs: usize, prune: bool) -> PlanSettings {
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
fn plans_are_identical_at_any_thread_count() {
    let a = plan(&thread_settings(1, true), &|_| {}).unwrap();
    let b = plan(&thread_settings(2, true), &|_| {}).unwrap();
    assert_eq!(plan_csv(&a), plan_csv(&b));
    assert_eq!(pareto_csv(&a), pareto_csv(&b));
    let (ja, jb) = (
        recommendation_json(&a, "r.toml"),
        recommendation_json(&b, "r.toml"),
    );
    assert!(ja.is_some());
    assert_eq!(ja, jb);
    assert_eq!(
        a.recommendation.as_ref().map(|r| &r.scenario_toml),
        b.recommendation.as_ref().map(|r| &r.scenario_toml)
    );
    // Every file of the plan reads back through the schema it was written with.
    let dir = std::env::temp_dir().join(format!("xpyd-plan-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = xpyd_reports::plan_files::write(&dir, &a, Default::default()).unwrap();
    assert!(written.contains(&"recommendation.json"), "{written:?}");
    let header = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(header("plan.csv"), PLAN_COLUMNS.join(","));
    assert_eq!(header("pareto.csv"), PARETO_COLUMNS.join(","));
    let back = PlanInputs::read(&dir).unwrap();
    assert_eq!(back.candidates.len(), a.results.len());
    assert_eq!(PlanRow::csv(&back.candidates), plan_csv(&a));
    assert_eq!(ParetoRow::csv(&back.pareto), pareto_csv(&a));
    let rec: &RecommendationFile = back.recommendation.as_ref().unwrap();
    let mut again = serde_json::to_string_pretty(rec).unwrap();
    again.push('\n');
    assert_eq!(
        Some(again),
        recommendation_json(&a, &dir.join("recommended.toml").to_string_lossy())
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("recommended.toml")).unwrap(),
        a.recommendation.as_ref().unwrap().scenario_toml
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
