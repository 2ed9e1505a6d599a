//! SGLang's `--stream-interval` in scenarios (issue 14: front-end time in TTFT): a
//! streaming client sees the first token with the first chunk of k tokens, so TTFT
//! grows by about k - 1 decode steps, and the client's TPOT spreads the rest of the
//! output over the same tokens; other backends refuse the key.

use std::path::Path;
use xpyd_sim::{Scenario, System};

fn scenario(backend: &str, engine: &str, output: u32) -> Result<Scenario, String> {
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

#[test]
fn only_sglang_streams_in_chunks_and_the_range_is_checked() {
    for backend in ["vllm", "trtllm"] {
        let e = scenario(backend, "stream-interval = 10", 100).unwrap_err();
        assert!(
            e.contains("deployment.aggregated.engine.stream-interval") && e.contains(backend),
            "{e}"
        );
    }
    let e = scenario("sglang", "stream-interval = 0", 100).unwrap_err();
    assert!(
        e.contains("engine.stream-interval") && e.contains("[1, 65536]") && e.contains("got 0"),
        "{e}"
    );
}

#[test]
fn the_first_token_waits_for_the_first_chunk() {
    let run = |engine: &str, output: u32| {
        let sc = scenario("sglang", engine, output).unwrap();
        xpyd_sim::run(&sc, System::Main, &mut |_| {})
            .unwrap()
            .metrics
    };
    let (one, ten) = (run("", 200), run("stream-interval = 10", 200));
    // The engine runs the same steps: only what the client sees moves.
    assert_eq!(one.requests.completed, ten.requests.completed);
    assert!((one.e2e_ms.mean - ten.e2e_ms.mean).abs() < 1e-9);
    let step = one.tpot_ms.mean;
    let extra = ten.ttft_ms.mean - one.ttft_ms.mean;
    assert!(
        (extra - 9.0 * step).abs() < 0.05 * 9.0 * step,
        "first chunk {extra} ms later, 9 steps are {} ms",
        9.0 * step
    );
    // (end - first token seen) / 199: the nine steps are no longer in it.
    assert!(
        (ten.tpot_ms.mean - step * 190.0 / 199.0).abs() < 0.01 * step,
        "{} vs {}",
        ten.tpot_ms.mean,
        step
    );
    // Outputs no longer than a chunk arrive whole at the end.
    let short = run("stream-interval = 10", 8);
    assert!((short.ttft_ms.mean - short.e2e_ms.mean).abs() < 1e-9);
}
