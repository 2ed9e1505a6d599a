//! Property tests of the whole simulator: every request ends exactly once, KV blocks are
//! conserved (all returned when every request has ended), TTFT <= E2E, for every flow;
//! [`xpyd_sim::run_verdict`] is the same run without the inter-token gaps.

use proptest::prelude::*;
use std::path::Path;
use xpyd_sim::metrics::Outcome;
use xpyd_sim::{Scenario, System};

#[allow(clippy::too_many_arguments)]
fn scenario(
    backend: &str,
    mode: &str,
    rate: f64,
    max_in: u32,
    max_out: u32,
    seqs: u32,
    layerwise: bool,
    seed: u64,
    chunked: bool,
    block: u32,
    prefix: u8,
    router: &str,
    autoscale: bool,
) -> Scenario {
    // Autoscaling of the decode (or aggregated) role, with quick cold starts.
    let scale = if autoscale {
        "autoscale = { kind = \"hpa\", min-replicas = 1, max-replicas = 3, metric = \"queue-length\", target-value = 1 }\n"
    } else {
        ""
    };
    // 0: no prefixes; 1: shared system prompts; 2: multi-turn sessions (+ shared prompts).
    let prefix_tables = match prefix {
        0 => "",
        1 => {
            "[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 3\ntokens = 1100\nzipf-s = 1.0\nblock-tokens = 256\n"
        }
        _ => {
            "[workload.prefix]\nkind = \"shared-prompt\"\nprompts = 2\ntokens = 600\nblock-tokens = 128\n[workload.sessions]\nturns-mean = 3.0\nturn-gap-s = 2.0\nmax-input-tokens = 30000\n"
        }
    };
    let roles = if mode == "aggregated" {
        format!(
            "[deployment.aggregated]\nreplicas = 2\ntp = 1\nrouter = \"{router}\"\nengine = {{ max-num-seqs = {seqs}, gpu-memory-utilization = 0.35, chunked-prefill = {chunked}, kv-block-tokens = {block} }}\n{scale}"
        )
    } else {
        format!(
            "[deployment.prefill]\nreplicas = 2\ntp = 1\nrouter = \"{router}\"\n[deployment.decode]\nreplicas = 1\ntp = 1\nrouter = \"{router}\"\nengine = {{ max-num-seqs = {seqs}, gpu-memory-utilization = 0.35, chunked-prefill = {chunked}, kv-block-tokens = {block} }}\n{scale}"
        )
    };
    let text = format!(
        r#"
seed = {seed}
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
gpus-per-node = 2
[deployment]
mode = "{mode}"
backend = "{backend}"
{roles}
[kv-transfer]
layerwise = {layerwise}
[cold-start]
scheduling-s = 1
image-pull-s = 2
warmup-s = 1
[workload]
requests = 120
[workload.arrival]
kind = "poisson"
rate-rps = {rate}
[workload.input-tokens]
kind = "uniform"
min = 1
max = {max_in}
[workload.output-tokens]
kind = "uniform"
min = 1
max = {max_out}
{prefix_tables}"#
    );
    Scenario::from_text(Path::new("prop.toml"), Path::new("."), &text, &[]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Fixed: CI must not depend on the draw (2,000 random-seed cases also passed).
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
        ..ProptestConfig::default()
    })]
    #[test]
    fn every_request_ends_once_and_kv_is_conserved(
        backend in prop::sample::select(vec!["sglang", "vllm", "dynamo"]),
        mode in prop::sample::select(vec!["disaggregated", "aggregated"]),
        rate in 1.0f64..200.0,
        max_in in 1u32..20_000,
        max_out in 1u32..3_000,
        seqs in 1u32..64,
        layerwise in any::<bool>(),
        seed in 0u64..1000,
        chunked in any::<bool>(),
        block in prop::sample::select(vec![1u32, 16, 64]),
        prefix in 0u8..3,
        router in prop::sample::select(vec![
            "round-robin", "random", "least-outstanding", "power-of-two",
            "kv-aware", "cache-aware", "gaie", "session-affinity",
        ]),
        autoscale in any::<bool>(),
    ) {
        let sc = scenario(
            backend, mode, rate, max_in, max_out, seqs, layerwise, seed, chunked, block, prefix, router, autoscale,
        );
        let mut ids = Vec::new();
        let mut bad = Vec::new();
        let out = xpyd_sim::run(&sc, System::Main, &mut |r| {
            ids.push(r.id);
            if let (Some(t), Some(e)) = (r.ttft_ms, r.e2e_ms) && t > e + 1e-9 {
                bad.push(r.id);
            }
            if r.outcome == Outcome::Completed {
                assert!(r.ttft_ms.is_some() && r.e2e_ms.is_some());
            }
        }).unwrap();
        prop_assert!(bad.is_empty(), "TTFT > E2E for {:?}", bad);
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        prop_assert_eq!(ids.len(), n, "a request ended twice");
        let m = &out.metrics.requests;
        prop_assert_eq!(m.arrived, 120);
        prop_assert_eq!(n as u64, m.arrived);
        prop_assert_eq!(m.completed + m.rejected + m.unfinished, m.arrived);
        prop_assert_eq!(m.unfinished, 0);
        for i in &out.instances {
            prop_assert_eq!(i.kv_blocks_in_use_at_end, 0, "instance {} leaked KV blocks", i.instance);
        }
        // The planner's runs keep no inter-token gaps and are otherwise the same run.
        let mut verdict_ids = Vec::new();
        let verdict = xpyd_sim::run_verdict(&sc, System::Main, &mut |r| verdict_ids.push(r.id)).unwrap();
        prop_assert_eq!(verdict.metrics.itl_ms.count, 0);
        let mut full = out.metrics.clone();
        full.itl_ms = verdict.metrics.itl_ms.clone();
        prop_assert_eq!(&verdict.metrics, &full);
        verdict_ids.sort_unstable();
        prop_assert_eq!(&verdict_ids, &ids);
        prop_assert_eq!(verdict.trace_hash, out.trace_hash);
        prop_assert_eq!(verdict.events, out.events);
        prop_assert_eq!(verdict.seq_limit_hit, out.seq_limit_hit);
        prop_assert_eq!(verdict.end_s.to_bits(), out.end_s.to_bits());
        prop_assert!(verdict.timeseries.is_empty());
    }
}
