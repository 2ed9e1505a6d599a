//! vLLM roles: `vllm serve` engines with a `--kv-transfer-config` connector and, when
//! disaggregated, the SGLang Model Gateway as the PD router.
//!
//! Follows `examples/rbg/inference__ecosystem__mooncake__mooncake-transfer-engine__vllm-pd-disagg-with-mooncake-te.yaml`
//! (router `sglang_router.launch_router --pd-disaggregation --prefill URL --decode URL`
//! with `dependencies: [prefill, decode]`; engines `vllm serve MODEL
//! --tensor-parallel-size`, `--kv-transfer-config` with `MooncakeConnector`
//! `kv_producer`/`kv_consumer`, `/health` probes on 8000). NIXL uses
//! `{"kv_connector":"NixlConnector","kv_role":"kv_both"}` on both sides with the NIXL
//! side channel on the pod IP. Multi-node TP uses vLLM's own multi-node launch
//! (`--nnodes --node-rank --master-addr`, workers `--headless`; vLLM >= 0.11), laid out
//! as in `inference__pd-disagg-leader-worker.yaml`.
//!
//! Invariant: the connector JSON is written by hand with a fixed key order, so the
//! argument is byte-identical across runs.

use super::ManifestError;
use super::pod::{Container, EnvValue, HTTP_PORT, MODEL_MOUNT, Probes, Role, literal, var};
use super::spec::{DeploymentSpec, KvCacheDtype, RoleSpec, RoleTopology, TransferBackend};
use super::{Layout, equip_engine, instance_shape};

/// torch.distributed rendezvous port of a multi-node instance.
pub(crate) const MASTER_PORT: u16 = 29501;
/// NIXL side-channel (handshake) port.
pub(crate) const NIXL_PORT: u16 = 5600;
/// Mooncake bootstrap port of a vLLM prefill instance.
const MOONCAKE_BOOTSTRAP_PORT: u16 = 8998;

/// `--kv-transfer-config` of a role (`Some("prefill" | "decode")`) for a transfer backend.
pub(crate) fn kv_transfer_config(backend: TransferBackend, pd_role: &str) -> String {
    let (connector, role) = match (backend, pd_role) {
        (TransferBackend::Nixl, _) => ("NixlConnector", "kv_both"),
        (TransferBackend::Mooncake, "prefill") => ("MooncakeConnector", "kv_producer"),
        (TransferBackend::Mooncake, _) => ("MooncakeConnector", "kv_consumer"),
    };
    format!(r#"{{"kv_connector":"{connector}","kv_role":"{role}"}}"#)
}

/// What the vLLM manifests cannot express for `role`: expert parallelism over fewer GPUs
/// than the instance's (vLLM's EP size is always DP x TP).
pub(super) fn check_role(role: &str, r: &RoleSpec) -> Result<(), ManifestError> {
    if r.dp > 1 && r.tp > r.gpus_per_node {
        return Err(ManifestError::Invalid {
            field: format!("{role}.dp"),
            value: r.dp.to_string(),
            reason: format!(
                "vLLM runs data parallelism across nodes with its own launcher flags, which are not emitted: keep tp = {} within one node of {} GPUs or use dp = 1",
                r.tp, r.gpus_per_node
            ),
        });
    }
    if r.ep > 1 && r.ep != r.tp {
        return Err(ManifestError::Invalid {
            field: format!("{role}.ep"),
            value: r.ep.to_string(),
            reason: format!(
                "vLLM's --enable-expert-parallel spreads the experts over all {} GPUs of the instance: use ep = {} or 1",
                r.tp, r.tp
            ),
        });
    }
    Ok(())
}

/// vLLM's dual-batch overlap for a role with two-batch overlap: `--enable-dbo` with a
/// DeepEP all-to-all backend (its DBO needs one), high-throughput where prompts are
/// computed, low-latency on decode-only roles.
pub(crate) fn dbo_args(r: &RoleSpec, pd_role: Option<&str>) -> Vec<String> {
    if !r.two_batch_overlap {
        return Vec::new();
    }
    let backend = if pd_role == Some("decode") {
        "deepep_low_latency"
    } else {
        "deepep_high_throughput"
    };
    vec![
        "--enable-dbo".into(),
        "--all2all-backend".into(),
        backend.into(),
    ]
}

/// vLLM engine arguments shared by `vllm serve` and `dynamo.vllm`, after the model.
pub(crate) fn engine_args(spec: &DeploymentSpec, r: &RoleSpec) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    push("--served-model-name", literal(&spec.model.served_name));
    // vLLM counts GPUs as DP x TP; `--enable-expert-parallel` spreads the experts over
    // all of them (checked by `check_role`).
    push("--tensor-parallel-size", (r.tp / r.dp.max(1)).to_string());
    if r.dp > 1 {
        push("--data-parallel-size", r.dp.to_string());
    }
    if let Some(s) = &spec.speculative {
        push(
            "--speculative-config",
            format!(
                r#"{{"method":"mtp","num_speculative_tokens":{}}}"#,
                s.draft_tokens
            ),
        );
    }
    let e = &r.engine;
    // Each data-parallel engine applies these limits to its own requests: the
    // instance's (simulated) limits over its DP ranks.
    let per_rank = |n: u32| n.div_ceil(r.dp.max(1));
    if let Some(n) = e.max_running_requests {
        push("--max-num-seqs", per_rank(n).to_string());
    }
    if let Some(n) = e.max_batched_tokens {
        push("--max-num-batched-tokens", per_rank(n).to_string());
    }
    if let Some(m) = e.mem_fraction {
        push("--gpu-memory-utilization", m.to_string());
    }
    if let Some(b) = e.block_size {
        push("--block-size", b.to_string());
    }
    if let Some(d) = e.kv_cache_dtype {
        let d = match d {
            KvCacheDtype::Auto => "auto",
            KvCacheDtype::Fp8 => "fp8",
        };
        push("--kv-cache-dtype", d.into());
    }
    if spec.model.fp8_weights {
        push("--quantization", "fp8".into());
    }
    if let Some(n) = spec.model.max_model_len {
        push("--max-model-len", n.to_string());
    }
    if r.ep > 1 {
        a.push("--enable-expert-parallel".into());
    }
    match e.chunked_prefill {
        Some(true) => a.push("--enable-chunked-prefill".into()),
        Some(false) => a.push("--no-enable-chunked-prefill".into()),
        None => {}
    }
    if spec.model.trust_remote_code {
        a.push("--trust-remote-code".into());
    }
    a
}

/// Multi-node arguments: every pod gets these, workers add `--headless`.
pub(crate) fn multi_node_args(layout: Layout, pods: u32) -> Vec<String> {
    let Some(g) = layout.group_env() else {
        return Vec::new();
    };
    vec![
        "--nnodes".into(),
        pods.to_string(),
        "--node-rank".into(),
        var(g.worker_index),
        "--master-addr".into(),
        var(g.leader_address),
        "--master-port".into(),
        MASTER_PORT.to_string(),
    ]
}

/// The roles of a vLLM deployment.
pub(crate) fn roles(spec: &DeploymentSpec, layout: Layout) -> Vec<Role> {
    match &spec.topology {
        RoleTopology::Aggregated(r) => vec![engine(spec, layout, "worker", r, None, true)],
        RoleTopology::Disaggregated { prefill, decode } => {
            vec![
                super::sglang::router(spec, layout, false),
                engine(spec, layout, "prefill", prefill, Some("prefill"), false),
                engine(spec, layout, "decode", decode, Some("decode"), false),
            ]
        }
    }
}

fn engine(
    spec: &DeploymentSpec,
    layout: Layout,
    name: &'static str,
    r: &RoleSpec,
    pd_role: Option<&str>,
    entry: bool,
) -> Role {
    let (pods, _) = instance_shape(r);
    let mut a = vec![
        literal(&format!("{MODEL_MOUNT}/{}", spec.model.hf_repo)),
        "--host".into(),
        "0.0.0.0".into(),
        "--port".into(),
        HTTP_PORT.to_string(),
    ];
    a.extend(engine_args(spec, r));
    a.extend(dbo_args(r, pd_role));
    let mut env = vec![("POD_IP".to_string(), EnvValue::Field("status.podIP"))];
    let mut ports = vec![("http", HTTP_PORT)];
    if let Some(pd) = pd_role {
        a.push("--kv-transfer-config".into());
        a.push(kv_transfer_config(spec.transfer_backend, pd));
        match spec.transfer_backend {
            TransferBackend::Nixl => {
                env.push((
                    "VLLM_NIXL_SIDE_CHANNEL_HOST".into(),
                    EnvValue::Value(var("POD_IP")),
                ));
                env.push((
                    "VLLM_NIXL_SIDE_CHANNEL_PORT".into(),
                    EnvValue::Value(NIXL_PORT.to_string()),
                ));
                ports.push(("nixl", NIXL_PORT));
            }
            TransferBackend::Mooncake if pd == "prefill" => {
                env.push((
                    "VLLM_MOONCAKE_BOOTSTRAP_PORT".into(),
                    EnvValue::Value(MOONCAKE_BOOTSTRAP_PORT.to_string()),
                ));
                ports.push(("bootstrap", MOONCAKE_BOOTSTRAP_PORT));
            }
            TransferBackend::Mooncake => {}
        }
    }
    let mut worker_args = None;
    if pods > 1 {
        a.extend(multi_node_args(layout, pods));
        let mut w = a.clone();
        w.push("--headless".into());
        worker_args = Some(w);
        ports.push(("dist", MASTER_PORT));
    }
    let mut c = Container::new("engine", &spec.images.engine, &["vllm", "serve"], a);
    c.worker_args = worker_args;
    c.env = env;
    c.ports = ports;
    c.probes = Some(Probes {
        port: HTTP_PORT,
        ready_path: "/health",
        live_path: "/health",
        startup_budget_s: 1800,
    });
    equip_engine(&mut c, spec, r);
    Role {
        name,
        replicas: r.replicas,
        pods_per_instance: pods,
        container: c,
        dependencies: Vec::new(),
        scaling_adapter: r.autoscaling.is_some(),
        entry,
        annotations: Vec::new(),
        service_account: None,
    }
}
