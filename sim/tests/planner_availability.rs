//! The planner under failures and spot capacity (`[plan]`, issue 16 item 5): an
//! availability target adds spares (N+k per role) and a cheaper spot mix is chosen when
//! its simulated run still meets the SLOs; both are deterministic and survive sharding.

use std::path::PathBuf;
use xpyd_sim::planner::candidates::SearchSpace;
use xpyd_sim::planner::result::Plan;
use xpyd_sim::planner::shard::{Shard, evaluate_shard, fingerprint, merge};
use xpyd_sim::planner::{PlanSettings, plan};
use xpyd_sim::scenario::{FailuresFile, Mode, PlanFile, RouterKind, ScenarioFile, SpotFile};

/// The seed scenario (Qwen3-32B on L20, SGLang PD, ShareGPT chat at 0.5 req/s) over one
/// disaggregated TP-2 shape family of at most 4 GPUs, L20s at 1.5 USD per GPU-hour.
fn settings(edit: impl FnOnce(&mut ScenarioFile)) -> PlanSettings {
    let text = include_str!("../../scenarios/seed-sglang-2p1d.toml");
    let mut base: ScenarioFile = toml::from_str(text).unwrap();
    edit(&mut base);
    let mut space = SearchSpace::default_for(vec!["l20".into()], 4);
    space.modes = vec![Mode::Disaggregated];
    space.tps = vec![2];
    space.token_budgets = vec![4096];
    space.max_num_seqs = vec![1024];
    space.routers = vec![RouterKind::RoundRobin];
    PlanSettings {
        base,
        file: PathBuf::from("seed-sglang-2p1d.toml"),
        base_dir: PathBuf::from("."),
        space,
        gpu_prices: vec![("l20".into(), 1.5)],
        target_rate_rps: None,
        probe_requests: 150,
        precision: 0.05,
        jobs: 2,
        prune: true,
        memory_budget_gib: xpyd_sim::planner::DEFAULT_MEMORY_BUDGET_GIB,
        confidence: None,
        engine_shift: None,
    }
}

/// GPUs failing every 20 hours each (a replacement takes about 100 s of cold start, so an
/// instance is down about 0.3% of the time), and a per-role availability target.
fn with_failures(f: &mut ScenarioFile) {
    f.failures = Some(FailuresFile {
        gpu_mtbf_hours: Some(20.0),
        retries: Some(2),
        ..FailuresFile::default()
    });
    f.plan = Some(PlanFile {
        availability: Some(0.999),
        spot_mix_percent: None,
    });
}

/// Spot L20s at a third of the on-demand price, reclaimed once a day on average with
/// EC2's two-minute notice. (`[spot]` needs a role with spot replicas; the planner
/// sizes its own mixes.)
fn with_spot(f: &mut ScenarioFile) {
    f.deployment.decode.as_mut().unwrap().spot_replicas = Some(1);
    f.spot = Some(SpotFile {
        preemption_rate_per_hour: Some(1.0 / 24.0),
        gpu_hour_usd: Some(0.5),
        ..SpotFile::default()
    });
}

fn usd_per_hour(p: &Plan) -> f64 {
    let rec = p.recommendation.as_ref().unwrap();
    rec.usd_per_gpu_hour.unwrap() * f64::from(rec.gpus)
}

#[test]
fn an_availability_target_adds_spares_and_a_spot_mix_lowers_the_cost() {
    let plain = plan(&settings(|_| {}), &|_| {}).unwrap();
    let p = plain.recommendation.as_ref().unwrap();
    assert!(p.headroom.is_none());
    assert!(p.confirm.met);

    // N+k: more replicas than the SLOs need, each role at the target.
    let avail = plan(&settings(with_failures), &|_| {}).unwrap();
    let a = avail.recommendation.as_ref().unwrap();
    let h = a.headroom.as_ref().unwrap();
    assert_eq!(h.availability_target, Some(0.999));
    let spares: u32 = h.roles.iter().map(|r| r.spares).sum();
    assert!(spares >= 1, "{h:?}");
    assert!(a.gpus > p.gpus, "{} vs {} GPUs", a.gpus, p.gpus);
    for r in &h.roles {
        assert!(r.availability >= 0.999, "{r:?}");
        assert_eq!(r.spot, 0);
        // GPUs fail at tp / MTBF: a TP-2 instance every 10 hours.
        assert_eq!(r.instance_mtbf_hours, Some(10.0));
        assert!(r.cold_start_s > 90.0 && r.failure_mttr_s == r.cold_start_s);
    }
    let needed: u32 = h.roles.iter().map(|r| r.needed).sum();
    assert_eq!(a.replicas.prefill + a.replicas.decode, needed + spares);
    assert!(h.spares_usd_per_hour.unwrap() > 0.0);
    assert!((h.usd_per_hour.unwrap() - usd_per_hour(&avail)).abs() < 1e-9);
    assert!(h.spot_mixes.is_empty());
    // The confirming run had the failure process on.
    assert!(a.scenario_toml.contains("gpu-mtbf-hours = 20"));
    assert!(a.usd_per_gpu_hour.unwrap() * f64::from(a.gpus) > usd_per_hour(&plain));

    // Spot at a third of the price: a spot mix wins and costs less than on-demand.
    let spot = plan(
        &settings(|f| {
            with_failures(f);
            with_spot(f);
        }),
        &|_| {},
    )
    .unwrap();
    let s = spot.recommendation.as_ref().unwrap();
    let hs = s.headroom.as_ref().unwrap();
    assert_eq!(
        hs.spot_mixes.iter().map(|m| m.percent).collect::<Vec<_>>(),
        [0, 25, 50, 100]
    );
    assert!(hs.spot_percent > 0, "{hs:?}");
    assert!(s.confirm.met);
    assert!(hs.usd_per_hour.unwrap() < hs.usd_per_hour_on_demand.unwrap());
    assert!(hs.spot_savings_usd_per_hour.unwrap() > 0.0);
    assert!(usd_per_hour(&spot) < usd_per_hour(&avail));
    assert!(hs.roles.iter().any(|r| r.spot > 0));
    assert!(s.scenario_toml.contains("spot-replicas"));
    assert!(s.scenario_toml.contains("[spot]"));
    // Spot instances are down more often (reclaims too), so they need at least as many
    // spares as on-demand ones.
    let od = &hs.spot_mixes[0];
    let all_spot = &hs.spot_mixes[3];
    assert!(
        all_spot.prefill_replicas + all_spot.decode_replicas
            >= od.prefill_replicas + od.decode_replicas
    );
    for r in &hs.roles {
        assert!(r.unavailability_spot > r.unavailability_on_demand);
    }
}

#[test]
fn headroom_plans_are_deterministic_and_shard() {
    let st = settings(|f| {
        with_failures(f);
        with_spot(f);
    });
    // The new settings are part of the shard fingerprint.
    assert_ne!(fingerprint(&st), fingerprint(&settings(|_| {})));
    assert_ne!(fingerprint(&st), fingerprint(&settings(with_failures)));
    let mut lower = settings(with_failures);
    lower.base.plan.as_mut().unwrap().availability = Some(0.99);
    assert_ne!(fingerprint(&lower), fingerprint(&settings(with_failures)));

    let one = plan(&st, &|_| {}).unwrap();
    let again = plan(
        &settings(|f| {
            with_failures(f);
            with_spot(f);
        }),
        &|_| {},
    )
    .unwrap();
    let shards: Vec<(String, _)> = (0..2)
        .map(|i| {
            let s = Shard { index: i, count: 2 };
            (s.file_name(), evaluate_shard(&st, s, &|_| {}).unwrap())
        })
        .collect();
    let merged = merge(&st, &shards, &|_| {}).unwrap();
    for other in [&again, &merged] {
        let (a, b) = (
            one.recommendation.as_ref().unwrap(),
            other.recommendation.as_ref().unwrap(),
        );
        assert_eq!(a.scenario_toml, b.scenario_toml);
        assert_eq!(a.headroom, b.headroom);
        assert_eq!(a.replicas, b.replicas);
    }
}
