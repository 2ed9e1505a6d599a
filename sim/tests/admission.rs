//! Admission policies end to end (issue 14 item 2): on a short overloaded scenario, per
//! policy and serving flow (TensorRT-LLM aggregated and PD, the other backends with each
//! policy), every request ends, every instance's KV is back to zero, and
//! `guaranteed-no-evict` never preempts while the on-demand policies do; with client
//! timeouts (aborts in every phase) the whole-sequence promises are released too (the
//! instances' `debug_assert!`s check the promise account); SGLang aggregated under
//! overload retracts (its `new_token_ratio` estimate lets it over-commit) and still ends
//! every request with every block returned.

use std::path::Path;
use xpyd_sim::metrics::RequestRecord;
use xpyd_sim::{RunOutput, Scenario, System};

/// `backend` in `mode` with a tight KV cache (about 6 GiB per GPU), the admission policy `admission` (or the
/// backend's default) and `workload`.
fn scenario(backend: &str, mode: &str, admission: Option<&str>, workload: &str) -> Scenario {
    let adm = admission.map_or(String::new(), |a| format!(", admission = \"{a}\""));
    // About 6 GiB of KV per GPU either way: TensorRT-LLM's fraction is of the memory free
    // after the weights, the others' of the whole GPU.
    let frac = if backend == "trtllm" { 0.1 } else { 0.3 };
    let roles = if mode == "aggregated" {
        format!(
            "[deployment.aggregated]\nreplicas = 2\ntp = 1\nengine = {{ max-num-seqs = 64, gpu-memory-utilization = {frac}, activation-reserve-gib = 2.0{adm} }}\n"
        )
    } else {
        format!(
            "[deployment.prefill]\nreplicas = 2\ntp = 1\nengine = {{ gpu-memory-utilization = {frac}, activation-reserve-gib = 2.0{adm} }}\n[deployment.decode]\nreplicas = 1\ntp = 1\nengine = {{ max-num-seqs = 64, gpu-memory-utilization = {frac}, activation-reserve-gib = 2.0{adm} }}\n"
        )
    };
    let text = format!(
        r#"
seed = 5
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
gpus-per-node = 2
[deployment]
mode = "{mode}"
backend = "{backend}"
{roles}
[workload]
{workload}
"#
    );
    Scenario::from_text(Path::new("admission.toml"), Path::new("."), &text, &[]).unwrap()
}

fn run(sc: &Scenario) -> (RunOutput, Vec<RequestRecord>) {
    let mut recs = Vec::new();
    let out = xpyd_sim::run(sc, System::Main, &mut |r| recs.push(r.clone())).unwrap();
    (out, recs)
}

const OVERLOAD: &str = "requests = 300\n[workload.arrival]\nkind = \"poisson\"\nrate-rps = 40\n\
    [workload.input-tokens]\nkind = \"uniform\"\nmin = 200\nmax = 4000\n\
    [workload.output-tokens]\nkind = \"uniform\"\nmin = 1\nmax = 1500\n";

fn check(out: &RunOutput, recs: &[RequestRecord], what: &str) -> u64 {
    let m = &out.metrics.requests;
    assert_eq!(recs.len() as u64, m.arrived, "{what}: every request ends");
    assert_eq!(m.unfinished, 0, "{what}");
    assert_eq!(
        m.completed + m.rejected + m.timed_out.unwrap_or(0),
        m.arrived,
        "{what}"
    );
    for i in &out.instances {
        assert_eq!(
            i.kv_blocks_in_use_at_end, 0,
            "{what}: instance {} leaked KV",
            i.instance
        );
    }
    out.instances.iter().map(|i| i.preemptions).sum()
}

#[test]
fn every_policy_ends_every_request_and_frees_all_kv() {
    let cases = [
        ("trtllm", "aggregated"),
        ("trtllm", "disaggregated"),
        ("vllm", "aggregated"),
        ("vllm", "disaggregated"),
        ("sglang", "aggregated"),
        ("sglang", "disaggregated"),
        ("dynamo", "disaggregated"),
    ];
    for (backend, mode) in cases {
        for admission in [
            "on-demand",
            "retract",
            "guaranteed-no-evict",
            "max-utilization",
        ] {
            let sc = scenario(backend, mode, Some(admission), OVERLOAD);
            let (out, recs) = run(&sc);
            let what = format!("{backend} {mode} {admission}");
            let preemptions = check(&out, &recs, &what);
            assert!(out.metrics.requests.completed > 250, "{what}");
            if admission == "guaranteed-no-evict" {
                assert_eq!(preemptions, 0, "{what}");
            }
        }
    }
}

#[test]
fn on_demand_preempts_where_no_evict_reserves() {
    // The same overload, aggregated: on-demand runs out of KV and preempts; TensorRT-LLM's
    // default reserves whole sequences and never does, at the cost of admitting fewer.
    let (out, recs) = run(&scenario("vllm", "aggregated", Some("on-demand"), OVERLOAD));
    assert!(check(&out, &recs, "on-demand") > 0);
    let (out, recs) = run(&scenario("trtllm", "aggregated", None, OVERLOAD));
    assert_eq!(check(&out, &recs, "trtllm default"), 0);
}

#[test]
fn no_evict_promises_are_released_by_aborts() {
    let workload = format!("timeout-s = 5\n{OVERLOAD}");
    for (backend, mode) in [
        ("trtllm", "aggregated"),
        ("trtllm", "disaggregated"),
        ("sglang", "disaggregated"),
        ("dynamo", "disaggregated"),
    ] {
        let sc = scenario(backend, mode, Some("guaranteed-no-evict"), &workload);
        let (out, recs) = run(&sc);
        let what = format!("{backend} {mode} with timeouts");
        assert_eq!(check(&out, &recs, &what), 0, "{what}");
        assert!(out.metrics.requests.timed_out.unwrap() > 0, "{what}");
    }
}

#[test]
fn sglang_aggregated_overload_retracts_and_frees_all_kv() {
    // SGLang's default admission: prompts go in while they fit the decaying estimate of
    // the running requests' output; when decode runs out of KV it retracts.
    let (out, recs) = run(&scenario("sglang", "aggregated", None, OVERLOAD));
    let retractions = check(&out, &recs, "sglang aggregated retract");
    assert!(retractions > 0, "an overloaded SGLang retracts");
    assert_eq!(out.metrics.requests.completed, 300);
    // With client timeouts too.
    let workload = format!("timeout-s = 5\n{OVERLOAD}");
    let (out, recs) = run(&scenario("sglang", "aggregated", None, &workload));
    check(&out, &recs, "sglang aggregated retract with timeouts");
    assert!(out.metrics.requests.timed_out.unwrap() > 0);
}
