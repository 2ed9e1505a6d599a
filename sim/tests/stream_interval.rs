//! Streamed chunks in scenarios (issue 14: what a benchmark client times): SGLang's
//! `--stream-interval` and TensorRT-LLM's `stream_interval` send the first token at once
//! and then one chunk per k tokens, each engine counting them its own way; a client
//! with `workload.ttft-chunk = n` times its first token at the n-th chunk, so TTFT grows
//! by that chunk's token - 1 decode steps and the client's TPOT spreads the rest of the
//! output over the same tokens. vLLM (and Dynamo's vLLM workers) refuse the key.

use std::path::Path;
use xpyd_sim::scenario::StreamChunks;
use xpyd_sim::{Scenario, System};

fn scenario(backend: &str, engine: &str, client: &str, output: u32) -> Result<Scenario, String> {
    let text = format!(
        r#"
seed = 9
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
mode = "aggregated"
backend = "{backend}"
[deployment.aggregated]
replicas = 1
tp = 1
engine = {{ {engine} }}
[workload]
requests = 40
{client}
[workload.arrival]
kind = "closed-loop"
clients = 4
[workload.input-tokens]
kind = "fixed"
tokens = 512
[workload.output-tokens]
kind = "fixed"
tokens = {output}
"#
    );
    Scenario::from_text(Path::new("stream.toml"), Path::new("."), &text, &[])
        .map_err(|e| e.to_string())
}

fn metrics(backend: &str, engine: &str, client: &str, output: u32) -> xpyd_sim::metrics::Metrics {
    let sc = scenario(backend, engine, client, output).unwrap();
    xpyd_sim::run(&sc, System::Main, &mut |_| {})
        .unwrap()
        .metrics
}

#[test]
fn vllm_refuses_the_interval_and_the_ranges_are_checked() {
    for backend in ["vllm", "dynamo"] {
        let e = scenario(backend, "stream-interval = 10", "", 100).unwrap_err();
        assert!(
            e.contains("deployment.aggregated.engine.stream-interval") && e.contains(backend),
            "{e}"
        );
    }
    let e = scenario("sglang", "stream-interval = 0", "", 100).unwrap_err();
    assert!(
        e.contains("engine.stream-interval") && e.contains("[1, 65536]") && e.contains("got 0"),
        "{e}"
    );
    for bad in [0, 65] {
        let e = scenario("trtllm", "", &format!("ttft-chunk = {bad}"), 100).unwrap_err();
        assert!(
            e.contains("workload.ttft-chunk")
                && e.contains("[1, 64]")
                && e.contains(&bad.to_string()),
            "{e}"
        );
    }
}

#[test]
fn each_engine_counts_its_chunks() {
    let sglang = StreamChunks::AfterFirst(10);
    let trtllm = StreamChunks::Multiples(10);
    assert_eq!(
        [1, 2, 3].map(|n| sglang.chunk_token(n)),
        [1, 11, 21],
        "len(output_ids) % 10 == 1"
    );
    assert_eq!(
        [1, 2, 3].map(|n| trtllm.chunk_token(n)),
        [1, 10, 20],
        "iteration 1, then every 10th"
    );
    for every in [
        StreamChunks::EveryToken,
        StreamChunks::AfterFirst(1),
        StreamChunks::Multiples(1),
    ] {
        assert_eq!([1, 2, 5].map(|n| every.chunk_token(n)), [1, 2, 5]);
    }
}

#[test]
fn the_first_token_goes_at_once_whatever_the_interval() {
    for backend in ["sglang", "trtllm"] {
        let (one, ten) = (
            metrics(backend, "", "", 200),
            metrics(backend, "stream-interval = 10", "", 200),
        );
        assert_eq!(one.requests.completed, ten.requests.completed);
        assert_eq!(one.ttft_ms.mean, ten.ttft_ms.mean, "{backend}");
        assert_eq!(one.tpot_ms.mean, ten.tpot_ms.mean, "{backend}");
    }
}

#[test]
fn a_client_timing_the_second_chunk_waits_for_it() {
    // (backend, stream interval, decode steps from the first token to the second chunk)
    for (backend, k, steps) in [
        ("sglang", 10, 10.0),
        ("trtllm", 10, 9.0),
        ("trtllm", 1, 1.0),
    ] {
        let engine = format!("stream-interval = {k}");
        let first = metrics(backend, &engine, "", 200);
        let second = metrics(backend, &engine, "ttft-chunk = 2", 200);
        // The engine runs the same steps: only what the client sees moves.
        assert_eq!(first.requests.completed, second.requests.completed);
        assert!((first.e2e_ms.mean - second.e2e_ms.mean).abs() < 1e-9);
        let step = first.tpot_ms.mean;
        let extra = second.ttft_ms.mean - first.ttft_ms.mean;
        assert!(
            (extra - steps * step).abs() < 0.05 * steps * step,
            "{backend} k {k}: second chunk {extra} ms later, {steps} steps are {} ms",
            steps * step
        );
        // (end - first token seen) / 199: those steps are no longer in it.
        let expected = step * (199.0 - steps) / 199.0;
        assert!(
            (second.tpot_ms.mean - expected).abs() < 0.01 * step,
            "{backend}: {} vs {expected}",
            second.tpot_ms.mean
        );
    }
    // An output that ends before its second chunk arrives whole at the end.
    let short = metrics("sglang", "stream-interval = 10", "ttft-chunk = 2", 8);
    assert!((short.ttft_ms.mean - short.e2e_ms.mean).abs() < 1e-9);
}
