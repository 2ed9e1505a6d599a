//! Kubernetes manifests for a deployment: a RoleBasedGroup (RBG) with the engine,
//! router and dependency roles of SGLang, vLLM or NVIDIA Dynamo; a Service and a
//! Gateway API Inference Extension InferencePool in front of it; and per-role HPA or
//! KEDA autoscalers acting through the RBG scaling adapter.
//!
//! The API is two calls: build a [`DeploymentSpec`] (by hand, or
//! [`DeploymentSpec::from_scenario`]) and [`emit_all`] it, which returns
//! `(file name, YAML)` pairs in a fixed order:
//! `rolebasedgroup.yaml`, `service.yaml`, `inferencepool.yaml`, then, when the PD
//! router discovers engines by label (an engine role is autoscaled),
//! `router-serviceaccount.yaml`, `router-role.yaml`, `router-rolebinding.yaml`, then
//! `autoscaler-<role>.yaml` for every autoscaled role (prefill, decode, worker order).
//! [`emit_objects`] gives the same objects as JSON values.
//!
//! Module map: [`spec`] (the input), `from_scenario` (a scenario's deployment, its
//! autoscalers in HPA/KEDA terms), `pod` (backend-neutral role description and pod
//! rendering), `sglang`/`vllm`/`dynamo` (one file per backend: commands, ports, probes),
//! `rbg` (the RoleBasedGroup, v1alpha2 or v1alpha1), `gateway` (Service, InferencePool),
//! `rbac` (the router's discovery permissions), `autoscaling` (HPA, ScaledObject),
//! [`job`] (the Indexed Job of a sharded `xpyd plan`, with its scenario ConfigMap),
//! the other targets (`lws`, `dgd`, `llmd` for llm-d's Helm chart, `kserve` for
//! `LLMInferenceService`, `epp` for the endpoint picker configuration both of those carry),
//! [`yaml`] (serialisation).
//!
//! Invariants: every emitter runs after [`DeploymentSpec::validate`], so user input
//! never reaches a panic; objects are `serde_json::Value` trees serialised by one
//! function with sorted keys, so the same spec and options give byte-identical files.
//! Each file holds exactly one object (for `llm-d`, one file is the chart's values). Validity against the CRD schemas in
//! `../shared/reference/crds` (vendored in `reports/tests/data`) and the built-in kinds'
//! OpenAPI schemas, including the CRDs' CEL rules, is checked by
//! `reports/tests/manifests_schema/`; `docs/deploy.md` is the user guide.

mod autoscaling;
mod dgd;
mod dynamo;
mod epp;
mod from_scenario;
mod gateway;
pub mod job;
mod kserve;
mod llmd;
mod lws;
mod pod;
mod rbac;
mod rbg;
mod sglang;
pub mod spec;
mod trtllm;
mod vllm;
pub mod yaml;

pub use autoscaling::default_keda_query;
pub use from_scenario::{DEFAULT_PROMETHEUS_URL, autoscaling_of};
pub use llmd::VALUES_FILE as LLMD_VALUES_FILE;
pub use spec::{
    Autoscaling, DeploymentSpec, EngineKnobs, EppScorers, GatewaySpec, HpaMetricSource, HpaSpec,
    Images, KedaMetricType, KedaSpec, KvCacheDtype, ModelRef, PolicyKind, RoleSpec, RoleTopology,
    RouterPolicy, ScalingPolicy, ScalingRules, SelectPolicy, SlaPlannerSpec, SpecDecode,
    TransferBackend, default_metric,
};

use pod::{Container, GroupEnv, Resources, Role};
use serde_json::Value;
use xpyd_sim::scenario::Backend;

/// Why manifests could not be produced. Fatal for the `manifest` command: nothing is
/// written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A spec value is out of range or malformed.
    #[error("{field}: `{value}` {reason}")]
    Invalid {
        /// Spec field path (`prefill.tp`).
        field: String,
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// TP spans nodes but is not a whole number of nodes.
    #[error(
        "{role}.tp: {tp} GPUs span more than one node of {gpus_per_node} GPUs but is not a multiple of it"
    )]
    TpAcrossNodes {
        /// Role.
        role: String,
        /// TP degree.
        tp: u32,
        /// GPUs per node.
        gpus_per_node: u32,
    },
    /// YAML serialisation failed (a bug: every value is serialisable).
    #[error("{file}: YAML serialisation failed: {message}")]
    Yaml {
        /// Output file.
        file: String,
        /// Serializer message.
        message: String,
    },
}

/// RoleBasedGroup API version to write.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum RbgApi {
    /// `workloads.x-k8s.io/v1alpha2`, the storage version since RBG v0.7.
    #[default]
    V1alpha2,
    /// `workloads.x-k8s.io/v1alpha1`, for clusters on older RBG (as in the ACK guides).
    V1alpha1,
}

impl RbgApi {
    /// Version string (`v1alpha2`).
    pub fn version(self) -> &'static str {
        match self {
            RbgApi::V1alpha2 => "v1alpha2",
            RbgApi::V1alpha1 => "v1alpha1",
        }
    }
}

/// What the manifests deploy the plan with.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// A RoleBasedGroup (`workloads.x-k8s.io`) holding every role, with a Service, an
    /// InferencePool and per-role HPA/KEDA autoscalers through its scaling adapters.
    #[default]
    Rbg,
    /// One LeaderWorkerSet (`leaderworkerset.x-k8s.io/v1`) per role: an instance is a
    /// group of `size` pods (leader + workers when TP spans nodes), with the same Service,
    /// InferencePool and autoscalers (on the LeaderWorkerSet's scale subresource).
    Lws,
    /// A DynamoGraphDeployment (`nvidia.com/v1alpha1`) for the Dynamo operator: frontend
    /// with the simulated router, prefill/decode workers of the backend, a planner when
    /// the SLA planner scales a role.
    Dgd,
    /// Helm values for llm-d's `llm-d-modelservice` chart (vLLM prefill/decode with the
    /// NIXL routing sidecar), the endpoint picker's configuration with the simulated
    /// router's scorers, an InferencePool and HPA/KEDA autoscalers on the chart's workloads.
    LlmD,
    /// A KServe `LLMInferenceService` (`serving.kserve.io/v1alpha1`): vLLM prefill/decode,
    /// the managed gateway and scheduler with the simulated router's scorers, KEDA scaling.
    Kserve,
}

impl Target {
    /// Name on the command line (`rbg`).
    pub fn name(self) -> &'static str {
        match self {
            Target::Rbg => "rbg",
            Target::Lws => "lws",
            Target::Dgd => "dgd",
            Target::LlmD => "llm-d",
            Target::Kserve => "kserve",
        }
    }
}

/// How to write the manifests (as opposed to what to deploy, the [`DeploymentSpec`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct EmitOptions {
    /// RBG API version (target `rbg` only).
    pub rbg_api: RbgApi,
    /// What to deploy with.
    pub target: Target,
}

/// Which controller lays out the pods of a role: it decides how the pods of a
/// multi-node instance learn their place (env vars) and the DNS names instances are
/// reached by.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// RBG of the given API version.
    Rbg(RbgApi),
    /// One LeaderWorkerSet per role.
    Lws,
    /// The Dynamo operator, which injects the multi-node flags itself and runs its own
    /// etcd/NATS: engine args carry no rank or leader.
    Dgd,
}

impl Layout {
    /// Env vars telling a multi-node instance's pods their place; `None` when the
    /// controller passes the engine its rank flags itself.
    pub(crate) fn group_env(self) -> Option<GroupEnv> {
        match self {
            Layout::Rbg(api) => Some(rbg::group_env(api)),
            Layout::Lws => Some(lws::GROUP_ENV),
            Layout::Dgd => None,
        }
    }

    /// DNS name of instance `i`'s (leader) pod of `role`.
    pub(crate) fn pod_host(self, deployment: &str, role: &str, i: u32) -> String {
        match self {
            Layout::Rbg(_) | Layout::Dgd => rbg::pod_host(deployment, role, i),
            Layout::Lws => lws::pod_host(deployment, role, i),
        }
    }
}

/// One output file: its name and the object it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// File name (`rolebasedgroup.yaml`).
    pub file: String,
    /// The Kubernetes object.
    pub object: Value,
}

/// Pods per instance and GPUs per pod of a role: one pod of `tp` GPUs when TP fits a
/// node, else `tp / gpus_per_node` pods of `gpus_per_node` GPUs (validated divisible).
pub(crate) fn instance_shape(r: &RoleSpec) -> (u32, u32) {
    if r.tp <= r.gpus_per_node {
        (1, r.tp)
    } else {
        (r.tp.div_ceil(r.gpus_per_node), r.gpus_per_node)
    }
}

/// Equip an engine container the same way for every backend: its resources, the model
/// volume, a large `/dev/shm` (NCCL, CUDA IPC) and `IPC_LOCK` when RDMA pins memory.
pub(crate) fn equip_engine(c: &mut Container, spec: &DeploymentSpec, r: &RoleSpec) {
    c.resources = engine_resources(spec, r);
    c.model_volume = true;
    c.shm = true;
    c.ipc_lock = spec.rdma_resource.is_some();
}

/// Resources of one engine pod: its GPUs, one RDMA device, and CPU/memory requests
/// sized for tokenisation and weight loading (no CPU/memory limits: a limit hit while
/// loading weights would kill the pod).
fn engine_resources(spec: &DeploymentSpec, r: &RoleSpec) -> Resources {
    let (_, gpus) = instance_shape(r);
    let (cpu, memory) = engine_cpu_memory(gpus);
    Resources {
        cpu,
        memory,
        gpus,
        rdma: spec.rdma_resource.clone(),
        node_selector: r.node_selector.clone(),
    }
}

/// CPU and memory requests of an engine pod with `gpus` GPUs.
pub(crate) fn engine_cpu_memory(gpus: u32) -> (&'static str, &'static str) {
    match gpus {
        1 => ("4", "32Gi"),
        2 => ("8", "64Gi"),
        3 | 4 => ("16", "128Gi"),
        _ => ("32", "256Gi"),
    }
}

/// An engine container's `resources` (its GPUs, CPU and memory; one RDMA device with
/// `spec.rdma_resource`, and then the `IPC_LOCK` capability), as JSON into `c` (the
/// targets written as JSON values: llm-d, KServe).
pub(crate) fn insert_engine_resources(
    c: &mut serde_json::Map<String, serde_json::Value>,
    spec: &DeploymentSpec,
    gpus: u32,
) {
    let (cpu, memory) = engine_cpu_memory(gpus);
    let mut limits = serde_json::Map::new();
    let mut requests = serde_json::Map::new();
    limits.insert("nvidia.com/gpu".into(), gpus.to_string().into());
    requests.insert("nvidia.com/gpu".into(), gpus.to_string().into());
    requests.insert("cpu".into(), cpu.into());
    requests.insert("memory".into(), memory.into());
    if let Some(rdma) = &spec.rdma_resource {
        limits.insert(rdma.clone(), "1".into());
        requests.insert(rdma.clone(), "1".into());
        c.insert(
            "securityContext".into(),
            serde_json::json!({"capabilities": {"add": ["IPC_LOCK"]}}),
        );
    }
    c.insert(
        "resources".into(),
        serde_json::json!({"limits": limits, "requests": requests}),
    );
}

fn roles(spec: &DeploymentSpec, layout: Layout) -> Vec<Role> {
    match spec.backend {
        Backend::Sglang => sglang::roles(spec, layout),
        Backend::Vllm => vllm::roles(spec, layout),
        Backend::Dynamo => dynamo::roles(spec, layout),
        Backend::Trtllm => trtllm::roles(spec, layout),
    }
}

/// Every object of the deployment, one per file, in the order of [`emit_all`].
pub fn emit_objects(
    spec: &DeploymentSpec,
    opts: &EmitOptions,
) -> Result<Vec<Manifest>, ManifestError> {
    spec.validate()?;
    let layout = match opts.target {
        Target::Rbg => Layout::Rbg(opts.rbg_api),
        Target::Lws => Layout::Lws,
        Target::Dgd => return dgd::manifests(spec),
        Target::LlmD => return llmd::manifests(spec),
        Target::Kserve => return kserve::manifests(spec),
    };
    let roles = roles(spec, layout);
    let entry = roles
        .iter()
        .find(|r| r.entry)
        .expect("every backend has an entry role");
    let mut out = match opts.target {
        Target::Lws => roles
            .iter()
            .map(|r| Manifest {
                file: format!("leaderworkerset-{}.yaml", r.name),
                object: lws::leaderworkerset(spec, r),
            })
            .collect(),
        Target::Rbg | Target::Dgd | Target::LlmD | Target::Kserve => vec![Manifest {
            file: "rolebasedgroup.yaml".into(),
            object: rbg::rolebasedgroup(spec, opts.rbg_api, &roles),
        }],
    };
    out.extend([
        Manifest {
            file: "service.yaml".into(),
            object: gateway::service(spec, entry),
        },
        Manifest {
            file: "inferencepool.yaml".into(),
            object: gateway::inference_pool(spec, entry),
        },
    ]);
    if let Some(account) = roles.iter().find_map(|r| r.service_account.as_ref()) {
        for (file, object) in rbac::router_rbac(spec, account) {
            out.push(Manifest { file, object });
        }
    }
    for (role, r) in spec.engine_roles() {
        if let Some(a) = &r.autoscaling {
            out.push(Manifest {
                file: format!("autoscaler-{role}.yaml"),
                object: autoscaling::autoscaler(spec, &scale_target(spec, layout, role), role, a),
            });
        }
    }
    Ok(out)
}

/// The object an autoscaler of `role` scales: the RBG role's scaling adapter, or the
/// role's LeaderWorkerSet (which serves the `scale` subresource itself).
fn scale_target(spec: &DeploymentSpec, layout: Layout, role: &str) -> Value {
    let name = format!("{}-{role}", spec.name);
    match layout {
        Layout::Rbg(api) => serde_json::json!({
            "apiVersion": format!("{}/{}", rbg::GROUP, api.version()),
            "kind": "RoleBasedGroupScalingAdapter",
            "name": name,
        }),
        Layout::Lws | Layout::Dgd => serde_json::json!({
            "apiVersion": lws::API_VERSION,
            "kind": "LeaderWorkerSet",
            "name": name,
        }),
    }
}

/// Every manifest as `(file name, YAML text)`, ready to write under `manifests/`.
pub fn emit_all(
    spec: &DeploymentSpec,
    opts: &EmitOptions,
) -> Result<Vec<(String, String)>, ManifestError> {
    emit_objects(spec, opts)?
        .into_iter()
        .map(|m| {
            let text = yaml::to_yaml(&m.object).map_err(|message| ManifestError::Yaml {
                file: m.file.clone(),
                message,
            })?;
            Ok((m.file, text))
        })
        .collect()
}
