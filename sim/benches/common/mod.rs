//! Shared fixtures of the micro-benchmarks: the `xpyd bench` chat deployment (Qwen3-32B,
//! SGLang 8P8D TP2 on H100).

use std::path::Path;
use xpyd_sim::Scenario;

/// The chat deployment of `xpyd bench chat-1m`, 16 instances.
pub(crate) fn scenario() -> Scenario {
    let text = r#"
name = "bench"
[model]
id = "qwen3-32b"
[hardware]
gpu = "h100"
[deployment]
mode = "disaggregated"
backend = "sglang"
[deployment.prefill]
replicas = 8
tp = 2
[deployment.decode]
replicas = 8
tp = 2
[baseline]
enabled = false
[workload]
requests = 1000
[workload.arrival]
kind = "poisson"
rate-rps = 40.0
[workload.input-tokens]
kind = "fixed"
tokens = 1000
[workload.output-tokens]
kind = "fixed"
tokens = 200
"#;
    Scenario::from_text(Path::new("bench.toml"), Path::new("."), text, &[])
        .expect("the bench scenario is valid")
}
