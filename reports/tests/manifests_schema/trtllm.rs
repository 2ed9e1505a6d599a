//! TensorRT-LLM manifests: `trtllm-serve` when aggregated, Dynamo with TensorRT-LLM
//! workers when disaggregated; every single-node combination validates against the
//! CRDs; what cannot be emitted (instances across nodes, a `trtllm-serve` block size
//! other than 32) is an error naming the field.

use crate::specs::{APIS, Scaling, assert_valid, emitted, spec};
use serde_json::Value;
use xpyd_reports::manifests::{DeploymentSpec, EmitOptions, ManifestError, RoleTopology, emit_all};
use xpyd_sim::scenario::Backend;

/// A single-node TensorRT-LLM spec with TensorRT-LLM's block size.
fn trtllm(disagg: bool, scaling: Scaling) -> DeploymentSpec {
    let mut s = spec(Backend::Trtllm, disagg, scaling, false);
    if let RoleTopology::Aggregated(r) = &mut s.topology {
        r.engine.block_size = Some(32);
    }
    s
}

/// The engine container's command and arguments of role `role` in the RBG.
pub(crate) fn engine_args(objs: &[Value], role: &str) -> Vec<String> {
    let rbg = objs
        .iter()
        .find(|o| o["kind"] == "RoleBasedGroup")
        .expect("an RBG");
    let r = rbg["spec"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == role)
        .unwrap_or_else(|| panic!("role {role}"));
    let containers = find_key(r, "containers").expect("containers");
    let c = &containers[0];
    let mut out: Vec<String> = c["command"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    out.extend(
        c["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x.as_str().unwrap().to_string()),
    );
    out
}

fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

#[test]
fn every_single_node_combination_validates() {
    for api in APIS {
        for disagg in [true, false] {
            for scaling in [Scaling::None, Scaling::Hpa, Scaling::Keda] {
                let s = trtllm(disagg, scaling);
                let objs = emitted(&s, api);
                assert_valid(
                    &objs,
                    &format!("trtllm {api:?} disagg={disagg} {scaling:?}"),
                );
            }
        }
    }
}

#[test]
fn aggregated_is_trtllm_serve_and_pd_is_dynamo_trtllm() {
    let objs = emitted(&trtllm(false, Scaling::None), Default::default());
    let a = engine_args(&objs, "worker").join(" ");
    assert!(a.starts_with("trtllm-serve /models/Qwen/Qwen3-32B"), "{a}");
    for flag in [
        "--tp_size 2",
        "--max_batch_size 128",
        "--max_num_tokens 8192",
        "--kv_cache_free_gpu_memory_fraction 0.88",
        "--max_seq_len 32768",
    ] {
        assert!(a.contains(flag), "{flag} in {a}");
    }
    let objs = emitted(&trtllm(true, Scaling::None), Default::default());
    for pd in ["prefill", "decode"] {
        let a = engine_args(&objs, pd).join(" ");
        assert!(
            a.starts_with("python3 -m dynamo.trtllm --model-path"),
            "{a}"
        );
        assert!(a.contains(&format!("--disaggregation-mode {pd}")), "{a}");
        assert!(a.contains("--free-gpu-memory-fraction 0.88"), "{a}");
        assert!(a.contains("cache_transceiver_config"), "{a}");
    }
    let a = engine_args(&objs, "frontend").join(" ");
    assert!(a.starts_with("python3 -m dynamo.frontend"), "{a}");
}

#[test]
fn what_cannot_be_emitted_is_an_error_naming_the_field() {
    let opts = EmitOptions::default();
    let s = spec(Backend::Trtllm, true, Scaling::None, true);
    let e = emit_all(&s, &opts).unwrap_err();
    assert!(matches!(e, ManifestError::Invalid { .. }), "{e}");
    assert!(e.to_string().starts_with("prefill.tp: `8`"), "{e}");
    let mut s = trtllm(false, Scaling::None);
    if let RoleTopology::Aggregated(r) = &mut s.topology {
        r.engine.block_size = Some(16);
    }
    let e = emit_all(&s, &opts).unwrap_err().to_string();
    assert!(
        e.contains("worker.engine.block_size") && e.contains("32"),
        "{e}"
    );
}
