//! TensorRT-LLM roles. Aggregated: `trtllm-serve MODEL` (the OpenAI server of
//! `tensorrt_llm/commands/serve.py`, PyTorch backend) with `--tp_size`,
//! `--max_batch_size`, `--max_num_tokens`, `--kv_cache_free_gpu_memory_fraction`,
//! `--max_seq_len`, `/health` probes on 8000. Disaggregated: Dynamo with TensorRT-LLM
//! workers (`python3 -m dynamo.trtllm --model-path ... --disaggregation-mode
//! prefill|decode`, Dynamo's `DynamoTrtllmConfig` flags `--tensor-parallel-size`,
//! `--max-batch-size`, `--max-num-tokens`, `--free-gpu-memory-fraction`,
//! `--kv-block-size`, `--max-seq-len`), the cache transceiver on its default backend
//! (NIXL) through `--override-engine-args`, behind Dynamo's frontend with etcd and NATS
//! (the roles of `dynamo.rs`).
//!
//! TensorRT-LLM reads weight and KV-cache quantisation from the checkpoint (an FP8
//! checkpoint carries both), so no quantisation flag is written. What cannot be emitted
//! is refused by [`check_role`] with the field and the reason: instances spanning nodes
//! (an MPI launch) and, for `trtllm-serve`, a KV block size other than its default 32
//! (settable only in an options file).
//!
//! Invariant: the engine-args override is written by hand with a fixed key order, so
//! the argument is byte-identical across runs.

use super::ManifestError;
use super::dynamo::{SYSTEM_PORT, etcd, frontend, nats, worker_env, worker_probes};
use super::pod::{Container, EnvValue, HTTP_PORT, MODEL_MOUNT, Probes, Role, literal};
use super::spec::{DeploymentSpec, RoleSpec, RoleTopology};
use super::{Layout, equip_engine};
use xpyd_sim::scenario::ContextWait;

/// `tokens_per_block` of TensorRT-LLM's `KvCacheConfig` (`tensorrt_llm/llmapi/llm_args.py`).
const DEFAULT_BLOCK: u32 = 32;

/// The engine-args override of a Dynamo TensorRT-LLM PD worker: the KV cache
/// transceiver on its default transport (NIXL in the Dynamo runtime image).
const PD_OVERRIDE: &str = r#"{"cache_transceiver_config":{"backend":"DEFAULT"}}"#;

/// [`PD_OVERRIDE`], with TensorRT-LLM's MTP `speculative_config` when the deployment
/// decodes speculatively, the role's prompt holds (`batch_wait_timeout_iters` /
/// `batch_wait_max_tokens_ratio`, or `attention_dp_config` with `enable_balance`) and
/// its `stream_interval`, in that fixed key order.
fn pd_override(spec: &DeploymentSpec, r: &RoleSpec) -> String {
    // The override without its closing brace, the extra keys, the brace again.
    let mut o = PD_OVERRIDE[..PD_OVERRIDE.len() - 1].to_string();
    if let Some(s) = &spec.speculative {
        o.push_str(&format!(
            r#","speculative_config":{{"decoding_type":"MTP","num_nextn_predict_layers":{}}}"#,
            s.draft_tokens
        ));
    }
    match r.engine.context_wait {
        None => {}
        Some(ContextWait::Batch {
            timeout_iters,
            max_tokens_ratio,
        }) => o.push_str(&format!(
            r#","batch_wait_timeout_iters":{timeout_iters},"batch_wait_max_tokens_ratio":{max_tokens_ratio:?}"#
        )),
        Some(ContextWait::AttentionDpBalance {
            timeout_iters,
            batching_wait_iters,
        }) => o.push_str(&format!(
            r#","attention_dp_config":{{"enable_balance":true,"timeout_iters":{timeout_iters},"batching_wait_iters":{batching_wait_iters}}}"#
        )),
    }
    if let Some(k) = r.engine.stream_interval {
        o.push_str(&format!(r#","stream_interval":{k}"#));
    }
    o.push('}');
    o
}

/// What the TensorRT-LLM manifests cannot express for `role`.
pub(super) fn check_role(
    role: &str,
    r: &RoleSpec,
    topology: &RoleTopology,
) -> Result<(), ManifestError> {
    if r.tp > r.gpus_per_node {
        return Err(ManifestError::Invalid {
            field: format!("{role}.tp"),
            value: r.tp.to_string(),
            reason: format!(
                "spans nodes of {} GPUs: TensorRT-LLM instances across nodes (an MPI launch) are not emitted; use TP within one node",
                r.gpus_per_node
            ),
        });
    }
    if r.two_batch_overlap {
        return Err(ManifestError::Invalid {
            field: format!("{role}.two_batch_overlap"),
            value: "true".into(),
            reason: "the TensorRT-LLM manifests set no micro-batch overlap of the MoE all-to-all: use false".into(),
        });
    }
    // Dynamo's TensorRT-LLM worker has `--enable-attention-dp` (attention DP size =
    // TP size); trtllm-serve sets `enable_attention_dp` only in an options file.
    if r.dp > 1 {
        let reason = match topology {
            RoleTopology::Aggregated(_) => Some(
                "trtllm-serve takes enable_attention_dp only from an options file, which is not emitted: use dp = 1 or a disaggregated (Dynamo) deployment".to_string(),
            ),
            RoleTopology::Disaggregated { .. } if r.dp != r.tp => Some(format!(
                "Dynamo's --enable-attention-dp makes the attention DP size the TP size: use dp = {} or 1",
                r.tp
            )),
            RoleTopology::Disaggregated { .. } => None,
        };
        if let Some(reason) = reason {
            return Err(ManifestError::Invalid {
                field: format!("{role}.dp"),
                value: r.dp.to_string(),
                reason,
            });
        }
    }
    if let (RoleTopology::Aggregated(_), Some(w)) = (topology, r.engine.context_wait) {
        let (key, value) = match w {
            ContextWait::Batch { timeout_iters, .. } => {
                ("batch-wait-timeout-iters", timeout_iters.to_string())
            }
            ContextWait::AttentionDpBalance { .. } => ("attention-dp-balance", "true".into()),
        };
        return Err(ManifestError::Invalid {
            field: format!("{role}.engine.{key}"),
            value,
            reason: "trtllm-serve takes batch_wait_* and attention_dp_config only from an options file, which is not emitted: leave them unset or use a disaggregated (Dynamo) deployment".into(),
        });
    }
    if let (RoleTopology::Aggregated(_), Some(k)) = (topology, r.engine.stream_interval) {
        return Err(ManifestError::Invalid {
            field: format!("{role}.engine.stream-interval"),
            value: k.to_string(),
            reason: "trtllm-serve takes stream_interval only from an options file, which is not emitted: leave it unset or use a disaggregated (Dynamo) deployment".into(),
        });
    }
    if let (RoleTopology::Aggregated(_), Some(b)) = (topology, r.engine.block_size)
        && b != DEFAULT_BLOCK
    {
        return Err(ManifestError::Invalid {
            field: format!("{role}.engine.block_size"),
            value: b.to_string(),
            reason: format!(
                "trtllm-serve takes tokens_per_block only from an options file, which is not emitted: keep the default {DEFAULT_BLOCK}"
            ),
        });
    }
    Ok(())
}

/// The roles of a TensorRT-LLM deployment.
pub(crate) fn roles(spec: &DeploymentSpec, layout: Layout) -> Vec<Role> {
    match &spec.topology {
        RoleTopology::Aggregated(r) => vec![serve(spec, r)],
        RoleTopology::Disaggregated { prefill, decode } => vec![
            frontend(spec, layout),
            dynamo_worker(spec, layout, "prefill", Some("prefill"), prefill),
            dynamo_worker(spec, layout, "decode", Some("decode"), decode),
            etcd(spec, layout),
            nats(spec),
        ],
    }
}

/// The frontend and Dynamo TensorRT-LLM worker roles, aggregated too (`dynamo.trtllm`
/// without `--disaggregation-mode`), for the `dgd` target.
pub(crate) fn graph_roles(spec: &DeploymentSpec) -> Vec<Role> {
    let l = Layout::Dgd;
    let mut roles = vec![frontend(spec, l)];
    match &spec.topology {
        RoleTopology::Aggregated(r) => roles.push(dynamo_worker(spec, l, "worker", None, r)),
        RoleTopology::Disaggregated { prefill, decode } => {
            roles.push(dynamo_worker(spec, l, "prefill", Some("prefill"), prefill));
            roles.push(dynamo_worker(spec, l, "decode", Some("decode"), decode));
        }
    }
    roles
}

/// `trtllm-serve`: one engine role, the entry of the group.
fn serve(spec: &DeploymentSpec, r: &RoleSpec) -> Role {
    let mut a = vec![
        literal(&format!("{MODEL_MOUNT}/{}", spec.model.hf_repo)),
        "--host".into(),
        "0.0.0.0".into(),
        "--port".into(),
        HTTP_PORT.to_string(),
        "--backend".into(),
        "pytorch".into(),
        "--tp_size".into(),
        r.tp.to_string(),
    ];
    let e = &r.engine;
    let mut push = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    if r.ep > 1 {
        push("--ep_size", r.ep.to_string());
    }
    if let Some(n) = e.max_running_requests {
        push("--max_batch_size", n.to_string());
    }
    if let Some(n) = e.max_batched_tokens {
        push("--max_num_tokens", n.to_string());
    }
    if let Some(m) = e.mem_fraction {
        push("--kv_cache_free_gpu_memory_fraction", m.to_string());
    }
    if let Some(n) = spec.model.max_model_len {
        push("--max_seq_len", n.to_string());
    }
    if e.chunked_prefill == Some(true) {
        a.push("--enable_chunked_prefill".into());
    }
    if spec.model.trust_remote_code {
        a.push("--trust_remote_code".into());
    }
    let mut c = Container::new("engine", &spec.images.engine, &["trtllm-serve"], a);
    c.env = vec![("POD_IP".to_string(), EnvValue::Field("status.podIP"))];
    c.ports = vec![("http", HTTP_PORT)];
    c.probes = Some(Probes {
        port: HTTP_PORT,
        ready_path: "/health",
        live_path: "/health",
        startup_budget_s: 1800,
    });
    equip_engine(&mut c, spec, r);
    Role {
        name: "worker",
        replicas: r.replicas,
        pods_per_instance: 1,
        container: c,
        dependencies: Vec::new(),
        scaling_adapter: r.autoscaling.is_some(),
        entry: true,
        annotations: Vec::new(),
        service_account: None,
    }
}

/// A Dynamo TensorRT-LLM worker of PD role `pd` (`prefill` or `decode`).
fn dynamo_worker(
    spec: &DeploymentSpec,
    layout: Layout,
    name: &'static str,
    pd: Option<&str>,
    r: &RoleSpec,
) -> Role {
    let mut a = vec![
        "--model-path".to_string(),
        literal(&format!("{MODEL_MOUNT}/{}", spec.model.hf_repo)),
        "--served-model-name".into(),
        literal(&spec.model.served_name),
        "--tensor-parallel-size".into(),
        r.tp.to_string(),
    ];
    let e = &r.engine;
    let mut push = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    if r.ep > 1 {
        push("--expert-parallel-size", r.ep.to_string());
    }
    // With attention DP, TensorRT-LLM's max batch size and token budget are per rank.
    if let Some(n) = e.max_running_requests {
        push("--max-batch-size", n.div_ceil(r.dp.max(1)).to_string());
    }
    if let Some(n) = e.max_batched_tokens {
        push("--max-num-tokens", n.div_ceil(r.dp.max(1)).to_string());
    }
    if let Some(m) = e.mem_fraction {
        push("--free-gpu-memory-fraction", m.to_string());
    }
    if let Some(b) = e.block_size {
        push("--kv-block-size", b.to_string());
    }
    if let Some(n) = spec.model.max_model_len {
        push("--max-seq-len", n.to_string());
    }
    if let Some(pd) = pd {
        push("--disaggregation-mode", pd.to_string());
        push("--override-engine-args", pd_override(spec, r));
    }
    if r.dp > 1 {
        a.push("--enable-attention-dp".into());
    }
    let env = worker_env(spec, layout);
    let mut c = Container::new(
        "engine",
        &spec.images.engine,
        &["python3", "-m", "dynamo.trtllm"],
        a,
    );
    c.env = env;
    c.ports = vec![("system", SYSTEM_PORT)];
    c.probes = Some(worker_probes());
    equip_engine(&mut c, spec, r);
    Role {
        name,
        replicas: r.replicas,
        pods_per_instance: 1,
        container: c,
        dependencies: vec!["etcd", "nats"],
        scaling_adapter: r.autoscaling.is_some(),
        entry: false,
        annotations: Vec::new(),
        service_account: None,
    }
}
