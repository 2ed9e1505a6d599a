//! Prefix caching and cache-aware routing on the Mooncake conversation trace.

use std::path::Path;
use xpyd_sim::{Scenario, System};

fn hit_rate_and_ttft(router: &str) -> (f64, f64) {
    let text = include_str!("../../scenarios/mooncake-kv-routing.toml");
    let sets = vec![
        format!("deployment.aggregated.router=\"{router}\""),
        "workload.requests=800".into(),
    ];
    let sc = Scenario::from_text(
        Path::new("mooncake-kv-routing.toml"),
        Path::new("."),
        text,
        &sets,
    )
    .unwrap();
    let out = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
    let hit: u64 = out.instances.iter().map(|i| i.prefix_hit_tokens).sum();
    let lookup: u64 = out.instances.iter().map(|i| i.prefix_lookup_tokens).sum();
    assert!(lookup > 0);
    // Prompts longer than Qwen3-8B's 40,960-token context are rejected at arrival.
    let m = &out.metrics.requests;
    assert_eq!((m.arrived, m.completed + m.rejected), (800, 800));
    (hit as f64 / lookup as f64, out.metrics.ttft_ms.mean)
}

#[test]
fn cache_aware_routers_raise_the_hit_rate_over_round_robin() {
    let (rr, rr_ttft) = hit_rate_and_ttft("round-robin");
    for router in ["kv-aware", "cache-aware", "gaie"] {
        let (hit, ttft) = hit_rate_and_ttft(router);
        assert!(
            hit > rr * 1.2,
            "{router}: hit rate {hit:.3} vs round-robin {rr:.3}"
        );
        assert!(ttft.is_finite() && rr_ttft.is_finite());
    }
}

#[test]
fn one_instance_matches_an_lru_cache_of_its_capacity() {
    // A single replica sees every request: its hit rate is that of one LRU cache of its
    // KV capacity (about 5% on the first 3,000 requests at 793k tokens, computed offline
    // with a plain LRU over the trace's hash ids), far below the infinite-cache 32%.
    let text = include_str!("../../scenarios/mooncake-kv-routing.toml");
    let sets = vec![
        "deployment.aggregated.replicas=1".to_string(),
        "workload.trace.time-scale=4.0".into(),
    ];
    let sc = Scenario::from_text(Path::new("m.toml"), Path::new("."), text, &sets).unwrap();
    let out = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
    let i = &out.instances[0];
    let rate = i.prefix_hit_rate;
    assert!((0.03..0.10).contains(&rate), "hit rate {rate}");
}
