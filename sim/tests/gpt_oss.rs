//! gpt-oss-120b in scenarios (issue 15 item 3): one H100 holds it (MXFP4 experts), its
//! sliding-window layers take a window per running sequence from the KV cache, and too
//! many running sequences for the cache is an error at `max-num-seqs`.

use std::path::Path;
use xpyd_sim::scenario::Topology;
use xpyd_sim::{Scenario, System};

fn scenario(max_seqs: u32) -> Result<Scenario, String> {
    let text = format!(
        r#"
seed = 4
[model]
id = "gpt-oss-120b"
[hardware]
gpu = "h100"
[deployment]
mode = "aggregated"
backend = "vllm"
[deployment.aggregated]
replicas = 1
tp = 1
engine = {{ max-num-seqs = {max_seqs} }}
[workload]
requests = 200
[workload.arrival]
kind = "poisson"
rate-rps = 4
[workload.input-tokens]
kind = "fixed"
tokens = 2000
[workload.output-tokens]
kind = "fixed"
tokens = 300
"#
    );
    Scenario::from_text(Path::new("oss.toml"), Path::new("."), &text, &[])
        .map_err(|e| e.to_string())
}

#[test]
fn one_h100_serves_it_with_windows_reserved() {
    let sc = scenario(256).unwrap();
    let Topology::Aggregated(r) = &sc.topology else {
        unreachable!()
    };
    assert_eq!(r.memory.windows_reserved, 256);
    // 18 full-attention layers x 8 KV heads x 64 x 2 (K, V) x 2 bytes per token.
    assert_eq!(r.memory.kv_bytes_per_token_per_gpu, 36_864.0);
    let out = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
    assert_eq!(out.metrics.requests.completed, 200);
    assert!(out.instances.iter().all(|i| i.kv_blocks_in_use_at_end == 0));
    // A million running sequences' windows (4.7 MB each) do not fit: the error names
    // max-num-seqs and the reserve.
    let e = scenario(1_000_000).unwrap_err();
    assert!(
        e.contains("deployment.aggregated.engine.max-num-seqs")
            && e.contains("sliding-window reserve"),
        "{e}"
    );
}
