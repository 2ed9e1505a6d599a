//! SGLang roles: `sglang.launch_server` engines and, when disaggregated, the SGLang
//! Model Gateway (`sglang_router.launch_router --pd-disaggregation`) as the router role.
//!
//! Follows `examples/rbg/inference__pd-disagg-standalone.yaml` (router + prefill + decode,
//! `--disaggregation-mode`, `--tp-size`, `/health` probes on 8000),
//! `inference__ecosystem__mooncake__mooncake-transfer-engine__sgl-pd-disagg-with-mooncake-te.yaml`
//! (`--disaggregation-transfer-backend`, router `dependencies: [prefill, decode]`),
//! `deprecated__v1alpha1__pd-disagg__sglang__sglang-pd.yaml` (prefill
//! `--disaggregation-bootstrap-port`, router `--prefill URL BOOTSTRAP_PORT`, `rdma/hca`,
//! model PVC) and `inference__pd-disagg-leader-worker.yaml` (multi-node:
//! `--dist-init-addr $(RBG_LWP_LEADER_ADDRESS):PORT --nnodes --node-rank`).
//!
//! Invariants: without autoscaling the router lists every instance by its stable pod
//! DNS name, prefill entries with the bootstrap port the decode side uses for the KV
//! handshake (as the examples do); with an autoscaled engine role it discovers engines
//! by label (`--service-discovery --prefill-selector/--decode-selector`, bootstrap port
//! from the `sglang.ai/bootstrap-port` pod annotation) under its own ServiceAccount,
//! because a static list never learns of new replicas.

use super::pod::{
    Container, EnvValue, HTTP_PORT, LABEL_COMPONENT, LABEL_NAME, LABEL_SERVING, MODEL_MOUNT,
    Probes, Role, literal, var,
};
use super::spec::{
    DeploymentSpec, KvCacheDtype, RoleSpec, RoleTopology, RouterPolicy, TransferBackend,
};
use super::{Layout, equip_engine, instance_shape};

/// Port of the prefill server's bootstrap (KV handshake) endpoint.
pub(crate) const BOOTSTRAP_PORT: u16 = 8998;
/// Port of torch.distributed rendezvous across the pods of a multi-node instance.
const DIST_PORT: u16 = 20000;
/// Prometheus port of the router.
const ROUTER_METRICS_PORT: u16 = 29000;

fn policy(p: RouterPolicy) -> &'static str {
    match p {
        RouterPolicy::RoundRobin => "round_robin",
        RouterPolicy::Random => "random",
        RouterPolicy::PowerOfTwo => "power_of_two",
        RouterPolicy::CacheAware => "cache_aware",
    }
}

/// The roles of an SGLang deployment.
pub(crate) fn roles(spec: &DeploymentSpec, layout: Layout) -> Vec<Role> {
    match &spec.topology {
        RoleTopology::Aggregated(r) => vec![engine(spec, layout, "worker", r, None, true, false)],
        RoleTopology::Disaggregated { prefill, decode } => {
            vec![
                router(spec, layout, true),
                engine(
                    spec,
                    layout,
                    "prefill",
                    prefill,
                    Some("prefill"),
                    false,
                    false,
                ),
                engine(spec, layout, "decode", decode, Some("decode"), false, false),
            ]
        }
    }
}

/// The engine roles of a Dynamo deployment with SGLang workers (`python3 -m
/// dynamo.sglang` with the same server arguments as `sglang.launch_server`), for the
/// `dgd` target.
pub(crate) fn dynamo_workers(spec: &DeploymentSpec) -> Vec<Role> {
    let l = Layout::Dgd;
    match &spec.topology {
        RoleTopology::Aggregated(r) => vec![engine(spec, l, "worker", r, None, false, true)],
        RoleTopology::Disaggregated { prefill, decode } => vec![
            engine(spec, l, "prefill", prefill, Some("prefill"), false, true),
            engine(spec, l, "decode", decode, Some("decode"), false, true),
        ],
    }
}

/// Whether the router finds engines by Kubernetes service discovery (watching pod
/// labels) instead of a static list: needed as soon as an engine role is autoscaled,
/// since a static list never learns of new replicas.
pub(crate) fn uses_discovery(spec: &DeploymentSpec) -> bool {
    spec.engine_roles()
        .iter()
        .any(|(_, r)| r.autoscaling.is_some())
}

/// ServiceAccount of the router when it uses service discovery.
pub(crate) fn router_service_account(spec: &DeploymentSpec) -> String {
    format!("{}-router", spec.name)
}

/// `key=value` selectors of a role's serving pods, as the router's flags take them.
fn selector_args(spec: &DeploymentSpec, role: &str) -> Vec<String> {
    vec![
        format!("{LABEL_NAME}={}", spec.name),
        format!("{LABEL_COMPONENT}={role}"),
        format!("{LABEL_SERVING}=true"),
    ]
}

/// The PD router role (also used by vLLM, as in the RBG vLLM + Mooncake example).
/// `bootstrap`: list prefill servers with their bootstrap port (SGLang).
pub(crate) fn router(spec: &DeploymentSpec, layout: Layout, bootstrap: bool) -> Role {
    let mut args = vec!["--pd-disaggregation".to_string()];
    let discovery = uses_discovery(spec);
    if let (RoleTopology::Disaggregated { prefill, decode }, false) = (&spec.topology, discovery) {
        for i in 0..prefill.replicas {
            args.push("--prefill".into());
            args.push(format!(
                "http://{}:{HTTP_PORT}",
                layout.pod_host(&spec.name, "prefill", i)
            ));
            if bootstrap {
                args.push(BOOTSTRAP_PORT.to_string());
            }
        }
        for i in 0..decode.replicas {
            args.push("--decode".into());
            args.push(format!(
                "http://{}:{HTTP_PORT}",
                layout.pod_host(&spec.name, "decode", i)
            ));
        }
    }
    if discovery {
        args.push("--service-discovery".into());
        args.push("--prefill-selector".into());
        args.extend(selector_args(spec, "prefill"));
        args.push("--decode-selector".into());
        args.extend(selector_args(spec, "decode"));
        args.extend(
            [
                "--service-discovery-namespace",
                &spec.namespace,
                "--service-discovery-port",
                &HTTP_PORT.to_string(),
            ]
            .map(String::from),
        );
    }
    args.extend(
        [
            "--host",
            "0.0.0.0",
            "--port",
            &HTTP_PORT.to_string(),
            "--prefill-policy",
            policy(spec.router),
            "--decode-policy",
            policy(spec.router),
            "--prometheus-host",
            "0.0.0.0",
            "--prometheus-port",
            &ROUTER_METRICS_PORT.to_string(),
        ]
        .map(String::from),
    );
    let mut c = Container::new(
        "router",
        &spec.images.router,
        &["python3", "-m", "sglang_router.launch_router"],
        args,
    );
    c.ports = vec![("http", HTTP_PORT), ("metrics", ROUTER_METRICS_PORT)];
    c.probes = Some(Probes {
        port: HTTP_PORT,
        ready_path: "/health",
        live_path: "/health",
        startup_budget_s: 300,
    });
    c.resources.cpu = "2";
    c.resources.memory = "4Gi";
    Role {
        name: "router",
        replicas: 1,
        pods_per_instance: 1,
        container: c,
        dependencies: vec!["prefill", "decode"],
        scaling_adapter: false,
        entry: true,
        annotations: Vec::new(),
        service_account: discovery.then(|| router_service_account(spec)),
    }
}

fn engine(
    spec: &DeploymentSpec,
    layout: Layout,
    name: &'static str,
    r: &RoleSpec,
    pd_mode: Option<&str>,
    entry: bool,
    dynamo: bool,
) -> Role {
    let (pods, _) = instance_shape(r);
    let mut a: Vec<String> = Vec::new();
    let mut push = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    push(
        "--model-path",
        literal(&format!("{MODEL_MOUNT}/{}", spec.model.hf_repo)),
    );
    push("--served-model-name", literal(&spec.model.served_name));
    if !dynamo {
        push("--host", "0.0.0.0".into());
        push("--port", HTTP_PORT.to_string());
    }
    push("--tp-size", r.tp.to_string());
    // SGLang's server arguments: `--dp-size` with `--enable-dp-attention` splits the
    // attention over DP ranks inside the TP group; `--ep-size` the experts.
    if r.dp > 1 {
        push("--dp-size", r.dp.to_string());
    }
    if r.ep > 1 {
        push("--ep-size", r.ep.to_string());
        // DP-attention with EP moves tokens by all-to-all (what the step cost prices):
        // SGLang's DeepEP backend.
        if r.dp > 1 {
            push("--moe-a2a-backend", "deepep".into());
        }
    }
    if let Some(s) = &spec.speculative {
        let k = s.draft_tokens;
        push("--speculative-algorithm", "EAGLE".into());
        push("--speculative-num-steps", k.to_string());
        push("--speculative-eagle-topk", "1".into());
        push("--speculative-num-draft-tokens", (k + 1).to_string());
    }
    if let Some(mode) = pd_mode {
        push("--disaggregation-mode", mode.into());
        let backend = match spec.transfer_backend {
            TransferBackend::Mooncake => "mooncake",
            TransferBackend::Nixl => "nixl",
        };
        push("--disaggregation-transfer-backend", backend.into());
        if mode == "prefill" {
            push(
                "--disaggregation-bootstrap-port",
                BOOTSTRAP_PORT.to_string(),
            );
        }
    }
    let e = &r.engine;
    if let Some(n) = e.max_running_requests {
        push("--max-running-requests", n.to_string());
    }
    if let Some(n) = e.max_batched_tokens {
        push("--max-prefill-tokens", n.to_string());
    }
    match (e.chunked_prefill, e.max_batched_tokens) {
        (Some(false), _) => push("--chunked-prefill-size", "-1".into()),
        (_, Some(n)) => push("--chunked-prefill-size", n.to_string()),
        _ => {}
    }
    if let Some(m) = e.mem_fraction {
        push("--mem-fraction-static", m.to_string());
    }
    if let Some(b) = e.block_size {
        push("--page-size", b.to_string());
    }
    if let Some(k) = e.stream_interval {
        push("--stream-interval", k.to_string());
    }
    if let Some(d) = e.kv_cache_dtype {
        let d = match d {
            KvCacheDtype::Auto => "auto",
            KvCacheDtype::Fp8 => "fp8_e4m3",
        };
        push("--kv-cache-dtype", d.into());
    }
    if spec.model.fp8_weights {
        push("--quantization", "fp8".into());
    }
    if let Some(n) = spec.model.max_model_len {
        push("--context-length", n.to_string());
    }
    let mut ports = vec![("http", HTTP_PORT)];
    if pd_mode == Some("prefill") {
        ports.push(("bootstrap", BOOTSTRAP_PORT));
    }
    if pods > 1 {
        ports.push(("dist", DIST_PORT));
    }
    if let (true, Some(g)) = (pods > 1, layout.group_env()) {
        push(
            "--dist-init-addr",
            format!("{}:{DIST_PORT}", var(g.leader_address)),
        );
        push("--nnodes", var(g.group_size));
        push("--node-rank", var(g.worker_index));
    }
    if spec.model.trust_remote_code {
        a.push("--trust-remote-code".into());
    }
    if r.dp > 1 {
        a.push("--enable-dp-attention".into());
    }
    if r.two_batch_overlap {
        a.push("--enable-two-batch-overlap".into());
    }
    let mut c = if dynamo {
        // Dynamo's SGLang worker: SGLang's server arguments, served through the Dynamo
        // runtime (no HTTP server of its own; health on the system port).
        let mut c = Container::new(
            "engine",
            &spec.images.engine,
            &["python3", "-m", "dynamo.sglang"],
            a,
        );
        c.env = super::dynamo::worker_env(spec, Layout::Dgd);
        ports.retain(|(n, _)| *n != "http");
        ports.insert(0, ("system", super::dynamo::SYSTEM_PORT));
        c.probes = Some(super::dynamo::worker_probes());
        c
    } else {
        a.push("--enable-metrics".into());
        let mut c = Container::new(
            "engine",
            &spec.images.engine,
            &["python3", "-m", "sglang.launch_server"],
            a,
        );
        c.env = vec![("POD_IP".into(), EnvValue::Field("status.podIP"))];
        c.probes = Some(Probes {
            port: HTTP_PORT,
            ready_path: "/health",
            live_path: "/health",
            startup_budget_s: 1800,
        });
        c
    };
    c.ports = ports;
    equip_engine(&mut c, spec, r);
    Role {
        name,
        replicas: r.replicas,
        pods_per_instance: pods,
        container: c,
        dependencies: Vec::new(),
        scaling_adapter: r.autoscaling.is_some(),
        entry,
        // Read by the router's service discovery to pair decode with prefill.
        annotations: if pd_mode == Some("prefill") {
            vec![("sglang.ai/bootstrap-port", BOOTSTRAP_PORT.to_string())]
        } else {
            Vec::new()
        },
        service_account: None,
    }
}
