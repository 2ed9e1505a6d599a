//! [`DeploymentSpec`]: everything the emitters need to write the manifests of one
//! deployment, independent of how it was chosen (a simulated scenario, the planner's
//! recommendation, or a hand-written value).
//!
//! Invariants: a spec is plain data with public fields; [`DeploymentSpec::validate`]
//! is the only gate, and every emitter calls it first, so no emitter panics on a spec
//! however it was built. Defaults ([`Images::for_backend`], `DeploymentSpec::from_scenario`)
//! are pinned values, so the same input gives byte-identical manifests.

use super::ManifestError;
use xpyd_sim::scenario::{Backend, ContextWait};

/// Longest deployment name accepted: RBG derives pod names such as
/// `NAME-prefill-12` and headless services `s-NAME-prefill` from it, and both must stay
/// within the 63-character DNS label limit.
pub const MAX_NAME_LEN: usize = 40;

/// One Kubernetes deployment of a model: an RBG plus gateway and autoscaler objects.
#[derive(Clone, Debug, PartialEq)]
pub struct DeploymentSpec {
    /// RBG name and prefix of every object (DNS-1123 label, at most [`MAX_NAME_LEN`]).
    pub name: String,
    /// Namespace every object lives in.
    pub namespace: String,
    /// Serving stack.
    pub backend: Backend,
    /// The model served.
    pub model: ModelRef,
    /// Container images.
    pub images: Images,
    /// Disaggregated (prefill + decode roles) or aggregated (one engine role).
    pub topology: RoleTopology,
    /// Routing policy of the PD router / Dynamo frontend.
    pub router: RouterPolicy,
    /// KV-transfer engine between prefill and decode.
    pub transfer_backend: TransferBackend,
    /// Extended resource of the RDMA device plugin (`rdma/hca`), one per pod; `None`
    /// when the cluster has no RDMA device plugin (KV then moves over TCP).
    pub rdma_resource: Option<String>,
    /// PersistentVolumeClaim holding the weights, mounted read-only at `/models`.
    pub model_pvc: String,
    /// Gateway API Inference Extension wiring.
    pub gateway: GatewaySpec,
    /// Speculative decoding to switch on in the engines, if any.
    pub speculative: Option<SpecDecode>,
    /// Scorer mix of the endpoint picker, for the targets that configure one (`llm-d`,
    /// `kserve`): the simulated GAIE picker's weights, or the closest mix to the router.
    pub epp: EppScorers,
}

/// The endpoint picker's (GAIE / llm-d inference scheduler) scorers, as its
/// `EndpointPickerConfig` takes them: a weight per scorer (0 leaves it out), the
/// prefix index size and the prefill/decode decider's threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EppScorers {
    /// `prefix-cache-scorer` weight.
    pub prefix_weight: f64,
    /// `queue-scorer` weight.
    pub queue_weight: f64,
    /// `kv-cache-utilization-scorer` weight.
    pub kv_weight: f64,
    /// Prefix index capacity per endpoint, blocks (`lruCapacityPerServer`).
    pub lru_capacity_blocks: u32,
    /// Uncached prompt tokens below which a request is prefilled on its decode endpoint
    /// (`prefix-based-pd-decider` `nonCachedTokens`).
    pub non_cached_tokens: u32,
}

impl EppScorers {
    /// The mix closest to a router: prefix-aware routers get llm-d's defaults
    /// (`deploy/config/epp-precise-prefix-cache-config.yaml`: prefix 2, KV 1, queue 1),
    /// load-aware ones the queue and KV-utilisation scorers, random and round-robin none
    /// (a random picker; round-robin has no picker and is refused by those targets).
    pub fn for_router(router: RouterPolicy) -> EppScorers {
        let (prefix, queue, kv) = match router {
            RouterPolicy::CacheAware => (2.0, 1.0, 1.0),
            RouterPolicy::PowerOfTwo => (0.0, 1.0, 1.0),
            RouterPolicy::Random | RouterPolicy::RoundRobin => (0.0, 0.0, 0.0),
        };
        EppScorers {
            prefix_weight: prefix,
            queue_weight: queue,
            kv_weight: kv,
            lru_capacity_blocks: 31_250,
            non_cached_tokens: 16,
        }
    }
}

/// Speculative decoding as the engines' flags take it: SGLang `--speculative-algorithm
/// EAGLE --speculative-num-steps k --speculative-eagle-topk 1 --speculative-num-draft-tokens
/// k+1` (its DeepSeek MTP recipe), vLLM `--speculative-config {"method":"mtp",
/// "num_speculative_tokens":k}`, Dynamo's TensorRT-LLM workers `speculative_config`
/// (`decoding_type: MTP`) in their engine-args override. EAGLE drafts need their own
/// checkpoint, which the manifests do not name: refused.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpecDecode {
    /// Where the drafts come from.
    pub method: xpyd_sim::scenario::SpeculativeMethod,
    /// Draft tokens per step.
    pub draft_tokens: u32,
}

/// The model and how it is named.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelRef {
    /// xpyd catalog id (`qwen3-32b`), recorded as a label.
    pub id: String,
    /// Hugging Face repository (`Qwen/Qwen3-32B`); the weights are expected at
    /// `/models/<hf_repo>` on the model PVC.
    pub hf_repo: String,
    /// Name clients put in the OpenAI `model` field.
    pub served_name: String,
    /// FP8 weights (`--quantization fp8`).
    pub fp8_weights: bool,
    /// Longest prompt + output accepted, tokens (`--max-model-len` / `--context-length`).
    pub max_model_len: Option<u32>,
    /// Let the engine run the Python code shipped with the weights
    /// (`--trust-remote-code`); off unless the scenario asks (`model.trust-remote-code`).
    pub trust_remote_code: bool,
}

/// Container images. Defaults are pinned tags, never `latest`.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    /// Engine image (SGLang, vLLM, TensorRT-LLM, or the Dynamo vLLM / TensorRT-LLM
    /// runtime).
    pub engine: String,
    /// PD router image (SGLang Model Gateway); unused by Dynamo, whose frontend runs in
    /// the engine image.
    pub router: String,
    /// etcd image (Dynamo only).
    pub etcd: String,
    /// NATS image (Dynamo only).
    pub nats: String,
}

impl Images {
    /// Pinned defaults for a backend: the tags of the RBG reference examples where
    /// they give one (`lmsysorg/sglang:v0.5.9`, `lmsysorg/sglang-router:v0.2.4`,
    /// `nvcr.io/nvidia/ai-dynamo/*-runtime:1.0.1`), `vllm/vllm-openai:v0.11.0` (the first
    /// vLLM with multi-node `--nnodes/--headless` without Ray). TensorRT-LLM serves from
    /// the Dynamo TensorRT-LLM runtime image of the same release (it carries both
    /// `trtllm-serve` and `dynamo.trtllm`).
    pub fn for_backend(backend: Backend) -> Images {
        let engine = match backend {
            Backend::Sglang => "lmsysorg/sglang:v0.5.9",
            Backend::Vllm => "vllm/vllm-openai:v0.11.0",
            Backend::Dynamo => "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.0.1",
            Backend::Trtllm => "nvcr.io/nvidia/ai-dynamo/tensorrt-llm-runtime:1.0.1",
        };
        Images {
            engine: engine.to_string(),
            router: "lmsysorg/sglang-router:v0.2.4".to_string(),
            etcd: "quay.io/coreos/etcd:v3.5.21".to_string(),
            nats: "nats:2.11.4-alpine".to_string(),
        }
    }
}

/// The roles of the deployment.
// Plain data built once per emission: boxing the larger variant would only make specs
// harder to write by hand.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum RoleTopology {
    /// XpYd: a prefill and a decode role behind a PD router (Dynamo: the frontend).
    Disaggregated {
        /// Prefill role.
        prefill: RoleSpec,
        /// Decode role.
        decode: RoleSpec,
    },
    /// One engine role doing both phases.
    Aggregated(RoleSpec),
}

/// One engine role.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleSpec {
    /// Instances (engine replicas); the initial count when autoscaled.
    pub replicas: u32,
    /// Tensor-parallel degree of one instance, GPUs.
    pub tp: u32,
    /// GPUs per node of the node pool this role runs on. When `tp` exceeds it, an
    /// instance spans `tp / gpus_per_node` pods (leader + workers); `tp` must then be a
    /// multiple of it.
    pub gpus_per_node: u32,
    /// Attention data-parallel ranks of one instance (1: none), dividing `tp`: SGLang
    /// `--dp-size` with `--enable-dp-attention`, vLLM `--data-parallel-size` (its TP then
    /// `tp / dp`), Dynamo TensorRT-LLM `--enable-attention-dp` (only `dp = tp`).
    pub dp: u32,
    /// Expert-parallel ranks (1: none), dividing `tp`: SGLang `--ep-size`, TensorRT-LLM
    /// `--ep_size` / `--expert-parallel-size`, vLLM `--enable-expert-parallel` (only
    /// `ep = tp`: vLLM's EP spans all of the instance's GPUs).
    pub ep: u32,
    /// Two-batch overlap of the all-to-all (needs `dp > 1` and `ep > 1`): SGLang
    /// `--enable-two-batch-overlap`, vLLM `--enable-dbo` with a DeepEP all-to-all backend;
    /// TensorRT-LLM: refused (no flag emitted).
    pub two_batch_overlap: bool,
    /// Engine flags.
    pub engine: EngineKnobs,
    /// Autoscaler of this role; `None` keeps `replicas` fixed.
    pub autoscaling: Option<Autoscaling>,
    /// Node labels the role's engine pods must land on (`nodeSelector`), as
    /// `(key, value)` pairs in order; empty: any GPU node. Heterogeneous PD puts each
    /// role on its GPU type with [`GPU_PRODUCT_LABEL`].
    pub node_selector: Vec<(String, String)>,
    /// Dynamo's SLA planner sizes this role. Only the `dgd` target can express it (the
    /// planner is a Dynamo component); the other targets deploy `replicas` fixed.
    pub sla_planner: Option<SlaPlannerSpec>,
}

/// Dynamo's SLA planner for one role, as its command line takes it
/// (`python3 -m dynamo.planner.planner_sla --adjustment-interval ... --min-endpoint ...
/// --load-predictor ... --load-prediction-window-size ...`).
#[derive(Clone, Debug, PartialEq)]
pub struct SlaPlannerSpec {
    /// Seconds between scaling decisions (`--adjustment-interval`).
    pub adjustment_interval_s: u32,
    /// Fewest replicas (`--min-endpoint`).
    pub min_replicas: u32,
    /// Most replicas; with the role's TP it bounds `--max-gpu-budget`.
    pub max_replicas: u32,
    /// Load predictor of the simulation.
    pub predictor: xpyd_sim::scenario::PredictorKind,
    /// Intervals the predictor keeps (`--load-prediction-window-size`).
    pub prediction_window: u32,
}

/// The node label of a GPU's product, set by NVIDIA GPU Feature Discovery (the GPU
/// Operator) on every GPU node: the NVML device name with spaces as `-`.
pub const GPU_PRODUCT_LABEL: &str = "nvidia.com/gpu.product";

/// The [`GPU_PRODUCT_LABEL`] value GPU Feature Discovery sets for a catalog GPU (the
/// NVML name of the catalog's variant: H100 SXM5 80GB, A100 SXM4 80GB, ...); `None`
/// for a GPU not in the catalog.
pub fn gpu_product_label(gpu_id: &str) -> Option<&'static str> {
    Some(match gpu_id {
        "h100" => "NVIDIA-H100-80GB-HBM3",
        "h200" => "NVIDIA-H200",
        "h20" => "NVIDIA-H20",
        "l20" => "NVIDIA-L20",
        "a100" => "NVIDIA-A100-SXM4-80GB",
        "b200" => "NVIDIA-B200",
        _ => return None,
    })
}

/// Engine flags. `None` leaves the engine's own default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineKnobs {
    /// Running requests at most (`--max-running-requests` / `--max-num-seqs`).
    pub max_running_requests: Option<u32>,
    /// Token budget of one step, tokens (`--max-prefill-tokens` and the chunk size /
    /// `--max-num-batched-tokens`).
    pub max_batched_tokens: Option<u32>,
    /// Chunked prefill on (`Some(false)` turns it off).
    pub chunked_prefill: Option<bool>,
    /// Fraction of GPU memory for weights + KV (`--mem-fraction-static` /
    /// `--gpu-memory-utilization`), in (0, 1].
    pub mem_fraction: Option<f64>,
    /// Tokens per KV block / page (`--page-size` / `--block-size`).
    pub block_size: Option<u32>,
    /// KV-cache element type.
    pub kv_cache_dtype: Option<KvCacheDtype>,
    /// Tokens per streamed chunk after the first token (SGLang `--stream-interval`,
    /// TensorRT-LLM `stream_interval`), when more than 1.
    pub stream_interval: Option<u32>,
    /// TensorRT-LLM's holding of prompts for batching (`batch_wait_*` or
    /// `attention_dp_config`), written into the Dynamo workers' engine-args override.
    pub context_wait: Option<ContextWait>,
}

/// KV-cache element type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KvCacheDtype {
    /// The model's dtype.
    Auto,
    /// FP8 e4m3.
    Fp8,
}

/// How the PD router (or the Dynamo frontend) picks an instance.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RouterPolicy {
    /// Cycle through the instances.
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// Two random instances, the less loaded one.
    PowerOfTwo,
    /// Prefix-cache aware (SGLang `cache_aware`, Dynamo `kv`).
    CacheAware,
}

/// KV-transfer engine between prefill and decode instances.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TransferBackend {
    /// Mooncake transfer engine (SGLang default on RDMA; vLLM `MooncakeConnector`).
    Mooncake,
    /// NVIDIA NIXL (vLLM `NixlConnector`, Dynamo).
    Nixl,
}

impl TransferBackend {
    /// The default transfer engine of a serving stack: Mooncake for SGLang, NIXL for
    /// vLLM, Dynamo and TensorRT-LLM (its cache transceiver's default backend under Dynamo).
    pub fn for_backend(backend: Backend) -> TransferBackend {
        match backend {
            Backend::Sglang => TransferBackend::Mooncake,
            Backend::Vllm | Backend::Dynamo | Backend::Trtllm => TransferBackend::Nixl,
        }
    }
}

/// Gateway API Inference Extension wiring of the InferencePool.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewaySpec {
    /// Service of the endpoint picker (EPP) the pool hands decisions to.
    pub epp_service: String,
    /// gRPC port of the EPP service (GAIE default 9002).
    pub epp_port: u16,
}

/// A role's autoscaler. Both kinds scale the role through the RBG scaling adapter
/// (`RoleBasedGroupScalingAdapter` named `<rbg>-<role>`, created by the RBG controller
/// when the role has `scalingAdapter.enable: true`).
#[derive(Clone, Debug, PartialEq)]
pub enum Autoscaling {
    /// A `HorizontalPodAutoscaler` (`autoscaling/v2`) on a per-pod custom metric
    /// (served by a metrics adapter such as prometheus-adapter).
    Hpa(HpaSpec),
    /// A KEDA `ScaledObject` with a Prometheus trigger.
    Keda(KedaSpec),
}

impl Autoscaling {
    /// Replica bounds `(min, max)`.
    pub fn bounds(&self) -> (u32, u32) {
        match self {
            Autoscaling::Hpa(h) => (h.min_replicas, h.max_replicas),
            Autoscaling::Keda(k) => (k.min_replicas, k.max_replicas),
        }
    }
}

/// HPA settings (semantics of `autoscaling/v2`).
#[derive(Clone, Debug, PartialEq)]
pub struct HpaSpec {
    /// Fewest replicas (>= 1).
    pub min_replicas: u32,
    /// Most replicas (>= `min_replicas`).
    pub max_replicas: u32,
    /// Where the metric comes from and how the target applies.
    pub source: HpaMetricSource,
    /// Metric name as the metrics API serves it (e.g. `vllm:num_requests_waiting` for a
    /// per-pod metric, a recording rule such as `xpyd:ttft_ms_p90` for a role-wide one).
    pub metric: String,
    /// Target: average per pod ([`HpaMetricSource::Pods`]) or the role-wide value
    /// ([`HpaMetricSource::External`]).
    pub target_average_value: f64,
    /// The controller's sync period, s. Cluster-wide in Kubernetes
    /// (`--horizontal-pod-autoscaler-sync-period`, default 15 s): recorded as an
    /// annotation so the simulated value is visible, not applied.
    pub sync_period_s: Option<u32>,
    /// Per-HPA tolerance (`behavior.*.tolerance`, needs the `HPAConfigurableTolerance`
    /// feature gate); `None` keeps the cluster default 0.1.
    pub tolerance: Option<f64>,
    /// Scale-up rules.
    pub scale_up: ScalingRules,
    /// Scale-down rules.
    pub scale_down: ScalingRules,
}

/// Where an HPA metric comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HpaMetricSource {
    /// A per-pod metric of the custom-metrics API, `AverageValue` target: desired =
    /// ceil(sum over pods / target).
    Pods,
    /// A role-wide metric of the external-metrics API (a latency percentile, a rate),
    /// `Value` target: desired = ceil(current x value / target).
    External,
}

/// How KEDA compares a Prometheus value with the threshold.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KedaMetricType {
    /// The query value is a total over the role: desired = ceil(value / threshold).
    AverageValue,
    /// The query value is role-wide (a percentile): desired = ceil(current x value / threshold).
    Value,
}

/// KEDA `ScaledObject` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct KedaSpec {
    /// Fewest replicas; 0 lets KEDA scale the role to zero when the query is at or
    /// below `activation_threshold`.
    pub min_replicas: u32,
    /// Most replicas.
    pub max_replicas: u32,
    /// Prometheus server URL.
    pub prometheus_url: String,
    /// PromQL query. `${namespace}`, `${name}` and `${role}` are replaced by the
    /// deployment's namespace, name and the role at emission (see [`super::default_keda_query`]).
    pub query: String,
    /// How the query value is compared with `threshold`.
    pub metric_type: KedaMetricType,
    /// Target value (per replica for `AverageValue`).
    pub threshold: f64,
    /// Activation threshold (scale from/to zero), `None` for KEDA's default 0.
    pub activation_threshold: Option<f64>,
    /// How often KEDA polls the query, s.
    pub polling_interval_s: u32,
    /// Wait after the last active trigger before scaling to the minimum, s.
    pub cooldown_period_s: u32,
    /// Scale-up rules of the HPA KEDA manages.
    pub scale_up: ScalingRules,
    /// Scale-down rules of the HPA KEDA manages.
    pub scale_down: ScalingRules,
}

/// One direction of HPA `behavior`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScalingRules {
    /// Stabilisation window, s (0..=3600); `None` keeps the default (0 up, 300 down).
    pub stabilization_window_s: Option<u32>,
    /// Rate limits; empty keeps the defaults.
    pub policies: Vec<ScalingPolicy>,
    /// Which policy wins when several allow a change.
    pub select_policy: Option<SelectPolicy>,
}

/// One HPA scaling policy: at most `value` pods (or percent) per `period_s`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingPolicy {
    /// Pods or percent.
    pub kind: PolicyKind,
    /// Amount per period (> 0).
    pub value: u32,
    /// Period, s (1..=1800).
    pub period_s: u32,
}

/// Unit of a scaling policy.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// Absolute number of pods.
    Pods,
    /// Percent of the current replicas.
    Percent,
}

/// HPA `selectPolicy`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// Never scale in this direction.
    Disabled,
}

/// The default per-pod metric an autoscaler of `role` would watch for `backend`:
/// waiting requests for prefill and aggregated roles, KV-cache usage for decode.
/// Names are the engines' Prometheus metrics.
pub fn default_metric(backend: Backend, role: &str) -> &'static str {
    match (backend, role) {
        (Backend::Sglang, "decode") => "sglang:token_usage",
        (Backend::Sglang, _) => "sglang:num_queue_reqs",
        (_, "decode") => "vllm:kv_cache_usage_perc",
        _ => "vllm:num_requests_waiting",
    }
}

impl DeploymentSpec {
    /// Serve with `backend`: when it is another stack than the spec's, the images and
    /// the transfer engine become that stack's defaults (set custom images after).
    pub fn set_backend(&mut self, backend: Backend) {
        if backend != self.backend {
            self.backend = backend;
            self.images = Images::for_backend(backend);
            self.transfer_backend = TransferBackend::for_backend(backend);
        }
    }

    /// Rename the deployment; the EPP service follows (`NAME-epp`).
    pub fn set_name(&mut self, name: &str) {
        self.name = name.to_string();
        self.gateway.epp_service = format!("{name}-epp");
    }

    /// The engine roles, `(role name, spec)`, in emission order.
    pub fn engine_roles(&self) -> Vec<(&'static str, &RoleSpec)> {
        match &self.topology {
            RoleTopology::Disaggregated { prefill, decode } => {
                vec![("prefill", prefill), ("decode", decode)]
            }
            RoleTopology::Aggregated(r) => vec![("worker", r)],
        }
    }

    /// Check every value the manifests depend on. Emitters call this first.
    pub fn validate(&self) -> Result<(), ManifestError> {
        // The name is the Service's name too, and the EPP is reached by its Service name.
        check_dns_1035("name", &self.name, MAX_NAME_LEN)?;
        check_dns_label("namespace", &self.namespace, 63)?;
        check_dns_subdomain("model_pvc", &self.model_pvc)?;
        check_dns_1035("gateway.epp_service", &self.gateway.epp_service, 63)?;
        if self.gateway.epp_port == 0 {
            return Err(invalid("gateway.epp_port", "0", "must be in [1, 65535]"));
        }
        for (field, v) in [
            ("model.hf_repo", &self.model.hf_repo),
            ("model.served_name", &self.model.served_name),
            ("images.engine", &self.images.engine),
            ("images.router", &self.images.router),
            ("images.etcd", &self.images.etcd),
            ("images.nats", &self.images.nats),
        ] {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(invalid(field, v, "must be non-empty without whitespace"));
            }
        }
        if self
            .model
            .hf_repo
            .split('/')
            .any(|p| p.is_empty() || p == "..")
        {
            return Err(invalid(
                "model.hf_repo",
                &self.model.hf_repo,
                "must be a relative path like ORG/NAME",
            ));
        }
        if let Some(r) = &self.rdma_resource {
            check_resource_name("rdma_resource", r)?;
        }
        for (field, w) in [
            ("epp.prefix_weight", self.epp.prefix_weight),
            ("epp.queue_weight", self.epp.queue_weight),
            ("epp.kv_weight", self.epp.kv_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(invalid(
                    field,
                    &w.to_string(),
                    "must be a non-negative number",
                ));
            }
        }
        if let Some(s) = &self.speculative {
            if s.draft_tokens == 0 {
                return Err(invalid(
                    "speculative.draft_tokens",
                    "0",
                    "must be at least 1",
                ));
            }
            if s.method == xpyd_sim::scenario::SpeculativeMethod::Eagle {
                return Err(invalid(
                    "speculative.method",
                    "eagle",
                    "an EAGLE draft needs its own checkpoint, which the manifests do not name: emit with mtp or add the draft model's flags by hand",
                ));
            }
            if self.backend == Backend::Trtllm
                && matches!(self.topology, RoleTopology::Aggregated(_))
            {
                return Err(invalid(
                    "speculative",
                    "mtp",
                    "trtllm-serve takes speculative_config only from an options file, which is not emitted: use a disaggregated (Dynamo) deployment",
                ));
            }
        }
        for (role, r) in self.engine_roles() {
            check_role(role, r)?;
            match self.backend {
                Backend::Trtllm => super::trtllm::check_role(role, r, &self.topology)?,
                Backend::Vllm | Backend::Dynamo => super::vllm::check_role(role, r)?,
                Backend::Sglang => {}
            }
        }
        Ok(())
    }
}

fn check_role(role: &str, r: &RoleSpec) -> Result<(), ManifestError> {
    let f = |k: &str| format!("{role}.{k}");
    for (k, v) in [
        ("replicas", r.replicas),
        ("tp", r.tp),
        ("gpus_per_node", r.gpus_per_node),
        ("dp", r.dp),
        ("ep", r.ep),
    ] {
        if v == 0 {
            return Err(invalid(&f(k), "0", "must be at least 1"));
        }
    }
    if r.two_batch_overlap && (r.dp <= 1 || r.ep <= 1) {
        return Err(invalid(
            &f("two_batch_overlap"),
            "true",
            "needs dp > 1 and ep > 1 (it overlaps their all-to-all)",
        ));
    }
    for (k, v) in [("dp", r.dp), ("ep", r.ep)] {
        if !r.tp.is_multiple_of(v) {
            return Err(invalid(
                &f(k),
                &v.to_string(),
                &format!("must divide tp = {}", r.tp),
            ));
        }
    }
    if r.tp > r.gpus_per_node && !r.tp.is_multiple_of(r.gpus_per_node) {
        return Err(ManifestError::TpAcrossNodes {
            role: role.to_string(),
            tp: r.tp,
            gpus_per_node: r.gpus_per_node,
        });
    }
    for (k, v) in &r.node_selector {
        let field = f("node_selector");
        check_label_key(&field, k)?;
        if !is_label_value(v) {
            return Err(invalid(
                &field,
                v,
                "a label value is at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric",
            ));
        }
    }
    let e = &r.engine;
    for (k, v) in [
        ("engine.max_running_requests", e.max_running_requests),
        ("engine.max_batched_tokens", e.max_batched_tokens),
        ("engine.block_size", e.block_size),
    ] {
        if v == Some(0) {
            return Err(invalid(&f(k), "0", "must be at least 1"));
        }
    }
    if let Some(m) = e.mem_fraction
        && !(m.is_finite() && m > 0.0 && m <= 1.0)
    {
        return Err(invalid(
            &f("engine.mem_fraction"),
            &m.to_string(),
            "must be in (0, 1]",
        ));
    }
    let Some(a) = &r.autoscaling else {
        return Ok(());
    };
    let (min, max) = a.bounds();
    let floor = match a {
        Autoscaling::Hpa(_) => 1,
        Autoscaling::Keda(_) => 0,
    };
    if min < floor || max < min.max(1) {
        return Err(invalid(
            &f("autoscaling"),
            &format!("min {min}, max {max}"),
            &format!("needs {floor} <= min <= max and max >= 1"),
        ));
    }
    if !(min..=max).contains(&r.replicas) {
        return Err(invalid(
            &f("replicas"),
            &r.replicas.to_string(),
            &format!("must lie within the autoscaling bounds {min}..={max}"),
        ));
    }
    let (up, down) = match a {
        Autoscaling::Hpa(h) => {
            check_metric_name(&f("autoscaling.metric"), &h.metric)?;
            check_positive(
                &f("autoscaling.target_average_value"),
                h.target_average_value,
            )?;
            if let Some(t) = h.tolerance
                && !(t.is_finite() && (0.0..1.0).contains(&t))
            {
                return Err(invalid(
                    &f("autoscaling.tolerance"),
                    &t.to_string(),
                    "must be in [0, 1)",
                ));
            }
            if h.sync_period_s == Some(0) {
                return Err(invalid(
                    &f("autoscaling.sync_period_s"),
                    "0",
                    "must be at least 1",
                ));
            }
            (&h.scale_up, &h.scale_down)
        }
        Autoscaling::Keda(k) => {
            check_positive(&f("autoscaling.threshold"), k.threshold)?;
            if let Some(t) = k.activation_threshold
                && !(t.is_finite() && t >= 0.0)
            {
                return Err(invalid(
                    &f("autoscaling.activation_threshold"),
                    &t.to_string(),
                    "must be a non-negative number",
                ));
            }
            if k.polling_interval_s == 0 {
                return Err(invalid(
                    &f("autoscaling.polling_interval_s"),
                    "0",
                    "must be at least 1",
                ));
            }
            if k.query.trim().is_empty() {
                return Err(invalid(&f("autoscaling.query"), "", "must not be empty"));
            }
            if !(k.prometheus_url.starts_with("http://")
                || k.prometheus_url.starts_with("https://"))
            {
                return Err(invalid(
                    &f("autoscaling.prometheus_url"),
                    &k.prometheus_url,
                    "must be an http(s) URL",
                ));
            }
            (&k.scale_up, &k.scale_down)
        }
    };
    for (dir, rules) in [("scale_up", up), ("scale_down", down)] {
        if let Some(w) = rules.stabilization_window_s
            && w > 3600
        {
            return Err(invalid(
                &f(&format!("autoscaling.{dir}.stabilization_window_s")),
                &w.to_string(),
                "must be in [0, 3600]",
            ));
        }
        for p in &rules.policies {
            if p.value == 0 || p.period_s == 0 || p.period_s > 1800 {
                return Err(invalid(
                    &f(&format!("autoscaling.{dir}.policies")),
                    &format!("value {} per {} s", p.value, p.period_s),
                    "needs value >= 1 and period in [1, 1800] s",
                ));
            }
        }
    }
    Ok(())
}

fn invalid(field: &str, value: &str, reason: &str) -> ManifestError {
    ManifestError::Invalid {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn check_positive(field: &str, v: f64) -> Result<(), ManifestError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(field, &v.to_string(), "must be a positive number"))
    }
}

/// RFC 1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most `max` characters.
fn check_dns_label(field: &str, v: &str, max: usize) -> Result<(), ManifestError> {
    let ok = !v.is_empty()
        && v.len() <= max
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            v,
            &format!(
                "must be a DNS label: lowercase letters, digits and '-', at most {max} characters"
            ),
        ))
    }
}

/// DNS-1035 label, as Kubernetes requires of a Service's name: a DNS label that starts
/// with a letter.
fn check_dns_1035(field: &str, v: &str, max: usize) -> Result<(), ManifestError> {
    check_dns_label(field, v, max)?;
    if v.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(invalid(
            field,
            v,
            "must start with a letter: it names a Service, and Service names are DNS-1035 labels (lowercase letters, digits and '-', starting with a letter)",
        ))
    }
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
fn check_dns_subdomain(field: &str, v: &str) -> Result<(), ManifestError> {
    if v.len() > 253 {
        return Err(invalid(field, v, "must be at most 253 characters"));
    }
    for part in v.split('.') {
        check_dns_label(field, part, 63)?;
    }
    Ok(())
}

/// Extended resource name: `DOMAIN/NAME`.
fn check_resource_name(field: &str, v: &str) -> Result<(), ManifestError> {
    let Some((domain, name)) = v.split_once('/') else {
        return Err(invalid(field, v, "must be DOMAIN/NAME, e.g. rdma/hca"));
    };
    check_dns_subdomain(field, domain)?;
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(invalid(field, v, "must be DOMAIN/NAME, e.g. rdma/hca"))
    }
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name as a label value
/// (non-empty).
fn check_label_key(field: &str, k: &str) -> Result<(), ManifestError> {
    let name = match k.split_once('/') {
        Some((prefix, name)) => {
            check_dns_subdomain(field, prefix)?;
            name
        }
        None => k,
    };
    if name.is_empty() || !is_label_value(name) {
        return Err(invalid(
            field,
            k,
            "a label key is [PREFIX/]NAME, NAME at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric",
        ));
    }
    Ok(())
}

/// Whether `v` is a valid label value (empty allowed).
fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && v.as_bytes()[0].is_ascii_alphanumeric()
            && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric())
}

fn check_metric_name(field: &str, v: &str) -> Result<(), ManifestError> {
    let ok = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(field, v, "must be a Prometheus metric name"))
    }
}

/// A name made a DNS label: lowercase, runs of other characters become one '-',
/// trimmed of '-', cut to [`MAX_NAME_LEN`]; `xpyd` when nothing is left.
pub fn dns_label(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(MAX_NAME_LEN).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "xpyd".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert_eq!(dns_label("seed-sglang-2p1d"), "seed-sglang-2p1d");
        assert_eq!(dns_label("My Scenario_v2!"), "my-scenario-v2");
        assert_eq!(dns_label("***"), "xpyd");
        assert_eq!(dns_label(&"a-".repeat(40)).len(), MAX_NAME_LEN - 1);
    }

    #[test]
    fn service_names_are_dns_1035() {
        assert!(check_dns_1035("name", "pd-2p1d", 40).is_ok());
        let e = check_dns_1035("name", "2p1d", 40).unwrap_err().to_string();
        assert!(e.contains("2p1d") && e.contains("DNS-1035"), "{e}");
    }

    #[test]
    fn resource_names() {
        assert!(check_resource_name("r", "rdma/hca").is_ok());
        assert!(check_resource_name("r", "nvidia.com/gpu").is_ok());
        assert!(check_resource_name("r", "hca").is_err());
        assert!(check_resource_name("r", "rdma/").is_err());
    }
}
