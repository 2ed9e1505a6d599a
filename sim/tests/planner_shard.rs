//! Evaluating the candidate list in slices and merging the evaluations gives exactly the
//! plan of one evaluation of the whole list (what `xpyd plan --shard I/N` and `--merge`
//! rely on): pruning decisions do not depend on which candidates ran together.

use std::path::PathBuf;
use xpyd_sim::planner::candidates::{SearchSpace, enumerate};
use xpyd_sim::planner::shard::{Shard, ShardFile, evaluate_shard, merge};
use xpyd_sim::planner::{EvalContext, PlanSettings, evaluate, finish};
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
    assert_eq!(text(single.plan_csv()), text(sharded.plan_csv()));
    assert_eq!(text(single.pareto_csv()), text(sharded.pareto_csv()));
    assert_eq!(
        single.recommendation_json("r.toml"),
        sharded.recommendation_json("r.toml")
    );
    // The same through shard files (`xpyd plan --shard` / `--merge`): floats survive the
    // text round trip exactly, and the merged plan is the same.
    let files: Vec<(String, ShardFile)> = [1, 0, 2]
        .into_iter()
        .map(|index| {
            let shard = Shard { index, count: 3 };
            let f = evaluate_shard(&s, shard, &|_| {}).unwrap();
            let back = ShardFile::from_json("f", &f.to_json()).unwrap();
            assert_eq!(back, f, "shard {shard} changed in its file");
            (shard.file_name(), back)
        })
        .collect();
    let from_files = merge(&s, &files, &|_| {}).unwrap();
    assert_eq!(text(single.plan_csv()), text(from_files.plan_csv()));
    assert_eq!(
        single.recommendation_json("r.toml"),
        from_files.recommendation_json("r.toml")
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
