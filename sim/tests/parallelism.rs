//! DP-attention and expert parallelism in scenarios (issue 15 item 1): the fields are
//! validated with their paths, a role's memory plan caches DP times one rank's tokens,
//! and a run on such instances ends every request with its KV returned, faster than
//! plain TP for a decode-heavy workload that the replicated MLA latent starves.

use std::path::Path;
use xpyd_sim::scenario::Topology;
use xpyd_sim::{Scenario, System};

fn text(split: &str, model: &str) -> String {
    format!(
        r#"
seed = 3
[model]
id = "{model}"
weights = "fp8"
[hardware]
gpu = "h200"
[deployment]
mode = "aggregated"
backend = "sglang"
[deployment.aggregated]
replicas = 1
tp = 8
{split}
engine = {{ max-num-seqs = 512 }}
[workload]
requests = 400
[workload.arrival]
kind = "closed-loop"
clients = 400
[workload.input-tokens]
kind = "uniform"
min = 1000
max = 3000
[workload.output-tokens]
kind = "uniform"
min = 200
max = 600
"#
    )
}

fn scenario(split: &str) -> Result<Scenario, String> {
    Scenario::from_text(
        Path::new("par.toml"),
        Path::new("."),
        &text(split, "deepseek-v3"),
        &[],
    )
    .map_err(|e| e.to_string())
}

fn role(sc: &Scenario) -> &xpyd_sim::scenario::RoleConfig {
    match &sc.topology {
        Topology::Aggregated(r) => r,
        Topology::Disaggregated { .. } => unreachable!(),
    }
}

#[test]
fn dp_attention_and_ep_are_validated_with_their_paths() {
    for (split, field, what) in [
        (
            "dp = 3",
            "deployment.aggregated.dp",
            "does not divide tp = 8",
        ),
        ("dp = 0", "deployment.aggregated.dp", "[1, 8]"),
        ("ep = 16", "deployment.aggregated.ep", "[1, 8]"),
        (
            "ep = 3",
            "deployment.aggregated.ep",
            "does not divide tp = 8",
        ),
    ] {
        let e = scenario(split).unwrap_err();
        assert!(e.contains(field) && e.contains(what), "{split}: {e}");
    }
    // A dense model has no experts to split and no reason for DP-attention.
    let e = Scenario::from_text(
        Path::new("par.toml"),
        Path::new("."),
        &text("dp = 2", "qwen3-32b"),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("deployment.aggregated.dp") && e.contains("mixture-of-experts"),
        "{e}"
    );
}

#[test]
fn dp_attention_runs_and_caches_more() {
    let tp = scenario("").unwrap();
    let dp = scenario("dp = 8\nep = 8").unwrap();
    let (rt, rd) = (role(&tp), role(&dp));
    assert_eq!((rd.dp, rd.ep, rd.parallelism().attention_tp()), (8, 8, 1));
    // The MLA latent is replicated on every TP rank; eight DP ranks cache their own.
    assert!(
        rd.memory.kv_capacity_tokens > 3 * rt.memory.kv_capacity_tokens,
        "{} vs {}",
        rd.memory.kv_capacity_tokens,
        rt.memory.kv_capacity_tokens
    );
    let run = |sc: &Scenario| xpyd_sim::run(sc, System::Main, &mut |_| {}).unwrap();
    let (a, b) = (run(&tp), run(&dp));
    for out in [&a, &b] {
        let m = &out.metrics.requests;
        assert_eq!((m.completed, m.unfinished), (400, 0));
        assert!(out.instances.iter().all(|i| i.kv_blocks_in_use_at_end == 0));
    }
    // 400 clients of ~2,400 tokens each need ~1M cached tokens: TP 8 holds about a
    // quarter of them and queues the rest, DP 8 holds them all.
    let thr = |o: &xpyd_sim::RunOutput| o.metrics.throughput.requests_per_s;
    assert!(thr(&b) > thr(&a), "DP {} vs TP {} req/s", thr(&b), thr(&a));
}

#[test]
fn expert_imbalance_needs_ep_and_slows_the_run() {
    let e = scenario("expert-imbalance = 1.5").unwrap_err();
    assert!(
        e.contains("deployment.aggregated.expert-imbalance") && e.contains("ep > 1"),
        "{e}"
    );
    let e = scenario("ep = 8\nexpert-imbalance = 9").unwrap_err();
    assert!(
        e.contains("expert-imbalance") && e.contains("[1, 8]"),
        "{e}"
    );
    let run = |split: &str| {
        let sc = scenario(split).unwrap();
        xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap()
    };
    let (even, hot) = (run("ep = 8"), run("ep = 8\nexpert-imbalance = 2"));
    assert!(
        hot.metrics.tpot_ms.p50 > even.metrics.tpot_ms.p50,
        "{} vs {}",
        hot.metrics.tpot_ms.p50,
        even.metrics.tpot_ms.p50
    );
}

#[test]
fn two_batch_overlap_needs_dp_and_ep_and_shortens_steps() {
    let e = scenario("ep = 8\ntwo-batch-overlap = true").unwrap_err();
    assert!(
        e.contains("deployment.aggregated.two-batch-overlap") && e.contains("dp > 1"),
        "{e}"
    );
    let run = |split: &str| {
        let sc = scenario(split).unwrap();
        xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap()
    };
    let (plain, tbo) = (
        run("dp = 8\nep = 8"),
        run("dp = 8\nep = 8\ntwo-batch-overlap = true"),
    );
    assert!(
        tbo.metrics.tpot_ms.p50 < plain.metrics.tpot_ms.p50,
        "{} vs {}",
        tbo.metrics.tpot_ms.p50,
        plain.metrics.tpot_ms.p50
    );
}

/// A request's KV lives on one attention rank: one longer than a rank's share of the
/// cache is rejected even though the instance as a whole could hold it.
#[test]
fn a_request_must_fit_one_attention_rank() {
    let run = |input: u32| {
        // The shared scenario at a smaller cache, with few requests of `input` tokens.
        let base = text("dp = 8\nep = 8", "deepseek-v3")
            .replace("max-num-seqs = 512", "gpu-memory-utilization = 0.735");
        let text = format!(
            "{}[workload]\nrequests = 3\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 0.5\n\
             [workload.input-tokens]\nkind = \"fixed\"\ntokens = {input}\n\
             [workload.output-tokens]\nkind = \"fixed\"\ntokens = 10\n",
            &base[..base.find("[workload]").unwrap()]
        );
        let sc = Scenario::from_text(Path::new("rank.toml"), Path::new("."), &text, &[]).unwrap();
        let cap = role(&sc).memory.kv_capacity_tokens;
        let out = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
        (cap, out.metrics.requests)
    };
    let (cap, fits) = run(100_000);
    let per_rank = cap / 8;
    assert!((100_010..130_000).contains(&per_rank), "{per_rank}");
    assert_eq!((fits.completed, fits.rejected), (3, 0));
    let (_, too_long) = run(u32::try_from(per_rank).unwrap() + 1);
    assert_eq!(too_long.arrived, 3);
    assert_eq!((too_long.completed, too_long.rejected), (0, 3));
}

#[test]
fn the_backend_picks_the_expert_kernel_family() {
    use xpyd_models::MoeKernel;
    let sg = scenario("").unwrap();
    assert_eq!(
        sg.cost_model_for(role(&sg)).moe_kernel(),
        MoeKernel::TritonFused
    );
    let trt_text = text("", "deepseek-v3").replace("backend = \"sglang\"", "backend = \"trtllm\"");
    let trt = Scenario::from_text(Path::new("par.toml"), Path::new("."), &trt_text, &[]).unwrap();
    assert_eq!(
        trt.cost_model_for(role(&trt)).moe_kernel(),
        MoeKernel::CutlassGrouped
    );
}
