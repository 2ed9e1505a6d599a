//! TensorRT-LLM's context holds in scenarios (issue 14 item 2): `engine.batch-wait-*`
//! and `engine.attention-dp-*` are validated with their paths and ranges, belong to the
//! TensorRT-LLM backend, and delay first tokens in a run while the rest of the run's
//! accounting stays whole.

use std::path::Path;
use xpyd_sim::scenario::{ContextWait, Topology};
use xpyd_sim::{Scenario, System};

fn scenario(backend: &str, split: &str, engine: &str) -> Result<Scenario, String> {
    let text = format!(
        r#"
seed = 5
[model]
id = "deepseek-v3"
weights = "fp8"
[hardware]
gpu = "h200"
[deployment]
mode = "aggregated"
backend = "{backend}"
[deployment.aggregated]
replicas = 1
tp = 8
{split}
engine = {{ max-num-seqs = 512, {engine} }}
[workload]
requests = 320
[workload.arrival]
kind = "closed-loop"
clients = 64
[workload.input-tokens]
kind = "uniform"
min = 800
max = 1024
[workload.output-tokens]
kind = "uniform"
min = 200
max = 256
"#
    );
    Scenario::from_text(Path::new("waits.toml"), Path::new("."), &text, &[])
        .map_err(|e| e.to_string())
}

fn wait(sc: &Scenario) -> Option<ContextWait> {
    match &sc.topology {
        Topology::Aggregated(r) => r.engine.context_wait,
        Topology::Disaggregated { .. } => unreachable!(),
    }
}

#[test]
fn the_holds_are_tensorrt_llm_settings_checked_with_their_paths() {
    let e = scenario("sglang", "", "batch-wait-timeout-iters = 5").unwrap_err();
    assert!(
        e.contains("deployment.aggregated.engine.batch-wait-timeout-iters")
            && e.contains("TensorRT-LLM")
            && e.contains("sglang"),
        "{e}"
    );
    let e = scenario("trtllm", "", "attention-dp-balance = true").unwrap_err();
    assert!(
        e.contains("engine.attention-dp-balance") && e.contains("dp > 1"),
        "{e}"
    );
    let e = scenario("trtllm", "dp = 8\nep = 8", "batch-wait-timeout-iters = 5").unwrap_err();
    assert!(
        e.contains("engine.batch-wait-timeout-iters") && e.contains("DP-attention"),
        "{e}"
    );
    let e = scenario("trtllm", "", "batch-wait-timeout-iters = 100001").unwrap_err();
    assert!(
        e.contains("batch-wait-timeout-iters") && e.contains("[0, 100000]") && e.contains("100001"),
        "{e}"
    );
    let e = scenario(
        "trtllm",
        "",
        "batch-wait-timeout-iters = 5, batch-wait-max-tokens-ratio = 1.5",
    )
    .unwrap_err();
    assert!(
        e.contains("engine.batch-wait-max-tokens-ratio") && e.contains("[0, 1]"),
        "{e}"
    );
    // TensorRT-LLM's defaults: no batch waiting (timeout 0), balance off, and with it
    // on a 50-step timeout and a 10-step batching wait.
    let sc = scenario("trtllm", "", "batch-wait-max-tokens-ratio = 0.5").unwrap();
    assert_eq!(wait(&sc), None);
    let sc = scenario("trtllm", "dp = 8\nep = 8", "attention-dp-balance = true").unwrap();
    assert_eq!(
        wait(&sc),
        Some(ContextWait::AttentionDpBalance {
            timeout_iters: 50,
            batching_wait_iters: 10
        })
    );
}

#[test]
fn holding_prompts_delays_first_tokens_and_loses_nothing() {
    let run = |split: &str, engine: &str| {
        let sc = scenario("trtllm", split, engine).unwrap();
        xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap()
    };
    for (split, held) in [
        (
            "dp = 8\nep = 8",
            "attention-dp-balance = true, attention-dp-timeout-iters = 60, attention-dp-batching-wait-iters = 0",
        ),
        (
            "",
            "batch-wait-timeout-iters = 50, batch-wait-max-tokens-ratio = 0.45",
        ),
    ] {
        let (free, waits) = (run(split, "chunked-prefill = false"), run(split, held));
        assert_eq!(waits.metrics.requests.completed, 320, "{held}");
        assert_eq!(free.metrics.requests.completed, 320);
        assert!(
            waits.metrics.ttft_ms.mean > 1.5 * free.metrics.ttft_ms.mean,
            "{held}: TTFT {} vs {} ms",
            waits.metrics.ttft_ms.mean,
            free.metrics.ttft_ms.mean
        );
        // Same seed, same answer.
        let again = run(split, held);
        assert_eq!(again.metrics.ttft_ms.mean, waits.metrics.ttft_ms.mean);
    }
}
