//! The deployment: the serving stack ([`Backend`]), the PD [`Mode`], the engine
//! [`Priority`] and [`Admission`] policy and the [`RouterKind`]; the wire form of `[deployment]`
//! ([`DeploymentFile`], [`RoleFile`], [`EngineFile`]); the validated roles ([`RoleConfig`],
//! [`EngineConfig`]) and [`Topology`]; and how one role's table
//! (`[deployment.prefill]`, `[deployment.decode]`, `[deployment.aggregated]`, the
//! baseline) is resolved, with the engine defaults of each backend.
//!
//! Invariants: every engine knob a file leaves unset takes its backend's default; a
//! [`RoleConfig`] has a TP that spans nodes evenly, a memory plan with room for at least
//! one KV block, at least one replica unless an autoscaler may start it empty, and
//! initial replicas within its autoscaler's bounds.

use super::autoscale::autoscale_config;
use super::check::Validator;
use super::{AutoscaleConfig, AutoscaleFile, ScenarioError};
use crate::limits::{
    MAX_BLOCK_TOKENS, MAX_INSTANCES, MAX_NUM_SEQS, MAX_RESERVE_GIB, MAX_TOKENS, MAX_TP,
};
use crate::role::Role;
use serde::{Deserialize, Serialize};
use xpyd_models::{Dtype, GpuSpec, MemoryPlan, ModelArch, Parallelism};

/// The serving stack being modelled: decides the PD flow and the engine defaults.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// SGLang PD: the router picks a prefill and a decode server, the decode server
    /// pre-allocates KV during a bootstrap handshake, prefill pushes the KV.
    Sglang,
    /// vLLM PD with a kv-transfer connector (NIXL): the proxy sends the request to a
    /// prefill instance first, then to a decode instance, which allocates KV and pulls it.
    Vllm,
    /// NVIDIA Dynamo (vLLM workers): the router picks a decode worker, which prefills
    /// locally when the prompt is short or the prefill queue is long, else enqueues a
    /// remote prefill that a prefill worker pulls; KV moves by NIXL.
    Dynamo,
    /// NVIDIA TensorRT-LLM (PyTorch backend) with its engine defaults: `trtllm-serve`
    /// when aggregated; Dynamo with TensorRT-LLM workers (`python3 -m dynamo.trtllm`)
    /// when disaggregated, where Dynamo's prefill router sends the request to a prefill
    /// worker first, then to a decode worker, which allocates KV (its capacity
    /// scheduler) and pulls it by NIXL.
    Trtllm,
}

impl Backend {
    /// Every backend, in the order their names are listed.
    pub const ALL: [Backend; 4] = [
        Backend::Sglang,
        Backend::Vllm,
        Backend::Dynamo,
        Backend::Trtllm,
    ];

    /// The backend named `name` as in scenario files (`sglang`, `vllm`, `dynamo`,
    /// `trtllm`).
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sglang => "sglang",
            Backend::Vllm => "vllm",
            Backend::Dynamo => "dynamo",
            Backend::Trtllm => "trtllm",
        }
    }
}

/// Whether the deployment separates prefill and decode.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Prefill and decode instances (XpYd).
    Disaggregated,
    /// Every instance does both (the baseline).
    Aggregated,
}

/// Which work an engine schedules first when it has both.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    /// vLLM: every running decode gets its token first; prefill chunks fill the rest of
    /// the token budget in the same step (mixed batches).
    DecodeFirst,
    /// SGLang: a step is either a prefill batch (preferred when requests wait and KV
    /// allows) or a decode batch; no mixing.
    PrefillFirst,
}

/// How an engine admits waiting requests into its running batch, and what it does when a
/// running request needs a KV block that is not free (`[deployment.<role>.engine]
/// admission`). Mechanism in `instance/schedule.rs`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Admission {
    /// vLLM: a request is admitted when KV for its next prompt chunk is free; KV grows
    /// block by block as tokens are computed; when a decode step's blocks are missing the
    /// newest running request is preempted (its KV freed, recomputed later: vLLM V1
    /// `Scheduler.schedule`, `self.running.pop()` with recompute preemption).
    OnDemand,
    /// SGLang: KV is taken as tokens are computed, as on-demand, but on an aggregated
    /// instance a new prompt is admitted only while the prompt plus its clipped remaining
    /// output fits the free KV less `new_token_ratio` x the clipped remaining output of
    /// every running request (`PrefillAdder.add_one_req` in
    /// `sglang/srt/managers/schedule_policy.py`); when a decode step's KV is missing, the
    /// requests with the fewest output tokens (then the longest prompts) are retracted:
    /// their KV freed, re-queued at the back and recomputed, and `new_token_ratio` reset
    /// (`ScheduleBatch.retract_decode` in `schedule_batch.py`,
    /// `Scheduler.update_running_batch` in `scheduler.py`). Mechanism and constants in
    /// `instance/retract.rs`.
    Retract,
    /// TensorRT-LLM `CapacitySchedulerPolicy.GUARANTEED_NO_EVICT` (its default): a request
    /// is admitted only when the blocks of its whole sequence (prompt + maximum output)
    /// fit next to what the admitted requests still need to completion; nothing is ever
    /// preempted (`GuaranteedNoEvictScheduler::impl` in
    /// `cpp/tensorrt_llm/batch_manager/capacityScheduler.cpp`).
    GuaranteedNoEvict,
    /// TensorRT-LLM `CapacitySchedulerPolicy.MAX_UTILIZATION`: admit while the next step's
    /// blocks fit (as on-demand); when a started request cannot get its next block, pause
    /// the last started request in arrival order, freeing its KV (recomputed when it
    /// resumes): `MaxUtilizationScheduler::operator()` in `capacityScheduler.cpp`
    /// (`lastStartedReqIt`, `schedulingRemoveSequence`).
    MaxUtilization,
}

impl Admission {
    /// Every policy, in the order their names are listed.
    pub const ALL: [Admission; 4] = [
        Admission::OnDemand,
        Admission::Retract,
        Admission::GuaranteedNoEvict,
        Admission::MaxUtilization,
    ];

    /// Name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Admission::OnDemand => "on-demand",
            Admission::Retract => "retract",
            Admission::GuaranteedNoEvict => "guaranteed-no-evict",
            Admission::MaxUtilization => "max-utilization",
        }
    }

    /// Whether a request reserves KV for its whole sequence when admitted (and is then
    /// never preempted).
    pub fn reserves_whole_sequence(self) -> bool {
        match self {
            Admission::GuaranteedNoEvict => true,
            Admission::OnDemand | Admission::Retract | Admission::MaxUtilization => false,
        }
    }
}

/// What `gpu-memory-utilization` is a fraction of.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemoryFraction {
    /// Of the GPU's memory, for weights + KV (vLLM `--gpu-memory-utilization`, SGLang
    /// `--mem-fraction-static`).
    OfTotal,
    /// Of the memory left free after weights and the activation reserve, for KV only
    /// (TensorRT-LLM `kv_cache_config.free_gpu_memory_fraction`).
    OfFree,
}

/// How a role's router picks an instance.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterKind {
    /// Cycle through the instances.
    RoundRobin,
    /// Uniformly at random (the router's own seeded stream).
    Random,
    /// Fewest requests assigned and not yet finished; ties to the lowest index.
    LeastOutstanding,
    /// Two distinct random instances, the one with fewer outstanding requests.
    PowerOfTwo,
    /// Dynamo's KV router (exact cache state from KV events; `[routing.kv-aware]`).
    KvAware,
    /// SGLang router's cache-aware policy (approximate prefix trees; `[routing.cache-aware]`).
    CacheAware,
    /// Gateway API Inference Extension / llm-d scorer mix (`[routing.gaie]`).
    Gaie,
    /// Sticky conversations, new ones to the least loaded.
    SessionAffinity,
}

impl RouterKind {
    /// Every router, in the order their names are listed.
    pub const ALL: [RouterKind; 8] = [
        RouterKind::RoundRobin,
        RouterKind::Random,
        RouterKind::LeastOutstanding,
        RouterKind::PowerOfTwo,
        RouterKind::KvAware,
        RouterKind::CacheAware,
        RouterKind::Gaie,
        RouterKind::SessionAffinity,
    ];

    /// The router named `name` as in scenario files (`round-robin`, `kv-aware`, ...).
    pub fn from_name(name: &str) -> Option<RouterKind> {
        RouterKind::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            RouterKind::RoundRobin => "round-robin",
            RouterKind::Random => "random",
            RouterKind::LeastOutstanding => "least-outstanding",
            RouterKind::PowerOfTwo => "power-of-two",
            RouterKind::KvAware => "kv-aware",
            RouterKind::CacheAware => "cache-aware",
            RouterKind::Gaie => "gaie",
            RouterKind::SessionAffinity => "session-affinity",
        }
    }
}

/// `[deployment]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploymentFile {
    /// `disaggregated` (default) or `aggregated`.
    pub mode: Option<Mode>,
    /// `sglang` (default), `vllm`, `dynamo` or `trtllm`.
    pub backend: Option<Backend>,
    /// Prefill role (disaggregated).
    pub prefill: Option<RoleFile>,
    /// Decode role (disaggregated).
    pub decode: Option<RoleFile>,
    /// The only role of an aggregated deployment.
    pub aggregated: Option<RoleFile>,
    /// The engine layer above the kernels ([`xpyd_models::engine`]): `"auto"` (default:
    /// the built-in profile of the backend's engine on the GPU, none where none is
    /// shipped), `"none"`, an engine (`"vllm"`, `"sglang"`, `"trtllm"`: its built-in
    /// profile on the GPU), or the path of an engine-profile JSON (relative to this
    /// file), as written by `xpyd calibrate fit-engine`.
    pub engine_profile: Option<String>,
    /// The engine's version (`"0.12.0"`): the engine layer fitted on that version where a
    /// profile has one, else the version-less profile (default: none given).
    pub engine_version: Option<String>,
    /// Parameters that replace the resolved engine layer's (`xpyd calibrate fit-engine`
    /// trying candidates); never read from a file.
    #[serde(skip)]
    pub engine_override: Option<xpyd_models::EngineParams>,
    /// Speculative decoding of every decoding sequence (`[deployment.speculative]`).
    pub speculative: Option<SpeculativeFile>,
}

/// `[deployment.speculative]`: draft tokens proposed by a one-layer draft head (DeepSeek
/// MTP, EAGLE) and verified by the model in one pass.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpeculativeFile {
    /// `mtp` (the model's multi-token-prediction head, DeepSeek-V3/R1) or `eagle` (an
    /// EAGLE draft layer; the manifests need its checkpoint, which xpyd does not know).
    pub method: SpeculativeMethod,
    /// Draft tokens per step, 1 to 16.
    pub draft_tokens: u32,
    /// Probability a draft token is accepted given the ones before it were, in [0, 1]:
    /// one rate for every position, or one per position (as many as `draft-tokens`).
    pub acceptance: AcceptanceFile,
}

/// `deployment.speculative.acceptance`: one rate, or one per draft position.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum AcceptanceFile {
    /// The same conditional rate at every position.
    One(f64),
    /// The conditional rate of each position, first draft first.
    PerPosition(Vec<f64>),
}

impl Default for AcceptanceFile {
    fn default() -> AcceptanceFile {
        AcceptanceFile::One(0.0)
    }
}

/// Where the draft tokens come from.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpeculativeMethod {
    /// The model's own multi-token-prediction head.
    #[default]
    Mtp,
    /// An EAGLE-style draft layer.
    Eagle,
}

/// Speculative decoding, validated.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SpeculativeConfig {
    /// Where the drafts come from.
    pub method: SpeculativeMethod,
    /// Draft tokens and acceptance, as the step cost takes them.
    pub cost: xpyd_models::Speculative,
}

/// One role: replicas, TP, router and engine knobs.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RoleFile {
    /// Instances of this role.
    pub replicas: u32,
    /// Tensor-parallel degree of each instance: its GPUs.
    pub tp: u32,
    /// Attention data-parallel ranks (DP-attention; SGLang `--dp` with
    /// `--enable-dp-attention`, TensorRT-LLM `enable_attention_dp`): each rank runs
    /// attention with TP `tp / dp` for its own requests and caches their KV. Default 1.
    pub dp: Option<u32>,
    /// Expert-parallel ranks (`--ep-size`, `moe_expert_parallel_size`): each holds
    /// `experts / ep` routed experts. Default 1.
    pub ep: Option<u32>,
    /// With `ep > 1`: the busiest expert rank's routed tokens over the mean (hot experts),
    /// 1 to `ep`; every rank waits for it. Default 1 (balanced routing).
    pub expert_imbalance: Option<f64>,
    /// With `dp > 1` and `ep > 1`: run each step as two micro-batches so that the
    /// all-to-all overlaps compute (SGLang `--enable-two-batch-overlap`, vLLM
    /// `--enable-dbo`). Default false.
    pub two_batch_overlap: Option<bool>,
    /// How requests are spread over this role's instances (default round-robin).
    pub router: Option<RouterKind>,
    /// Engine knobs (defaults from the backend).
    #[serde(default)]
    pub engine: EngineFile,
    /// Autoscaler of this role (`replicas` is then the initial count).
    pub autoscale: Option<AutoscaleFile>,
    /// Heterogeneous PD: the GPU catalog id this role runs on (default: `hardware.gpu`).
    /// Only a disaggregated role may differ from `[hardware]`.
    pub gpu: Option<String>,
    /// With `gpu`: GPUs per node of this role's servers (default: the GPU's usual server).
    pub gpus_per_node: Option<u32>,
    /// With `gpu`: RDMA bandwidth per GPU of this role's servers, Gbit/s (default: the
    /// GPU's usual NIC).
    pub nic_gbit_s: Option<f64>,
    /// With `gpu`: intra-node GPU-to-GPU bandwidth per GPU, GB/s (default: the GPU's
    /// NVLink/PCIe).
    pub intra_node_gb_s: Option<f64>,
    /// With `gpu`: price of one of this role's GPU-hours, USD (default: none, unless the
    /// GPU is `hardware.gpu`, whose price it then takes).
    pub gpu_hour_usd: Option<f64>,
}

/// Engine knobs of a role; unset fields take the backend's defaults.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EngineFile {
    /// vLLM `--max-num-seqs` / SGLang `--max-running-requests` / TensorRT-LLM
    /// `max_batch_size`.
    pub max_num_seqs: Option<u32>,
    /// vLLM `--max-num-batched-tokens` / SGLang `--chunked-prefill-size` / TensorRT-LLM
    /// `max_num_tokens`: tokens per step.
    pub max_batched_tokens: Option<u32>,
    /// Split long prompts over several steps (default true; false for TensorRT-LLM,
    /// whose `enable_chunked_prefill` is off by default).
    pub chunked_prefill: Option<bool>,
    /// `decode-first` (vLLM, TensorRT-LLM) or `prefill-first` (SGLang).
    pub priority: Option<Priority>,
    /// `on-demand` (vLLM, Dynamo), `retract` (SGLang), `guaranteed-no-evict`
    /// (TensorRT-LLM) or `max-utilization` ([`Admission`]).
    pub admission: Option<Admission>,
    /// Fraction of GPU memory for weights + KV (vLLM `--gpu-memory-utilization`,
    /// SGLang `--mem-fraction-static`); for TensorRT-LLM, the fraction of the memory free
    /// after weights and the activation reserve that the KV cache takes
    /// (`kv_cache_config.free_gpu_memory_fraction`).
    pub gpu_memory_utilization: Option<f64>,
    /// Tokens per KV block (vLLM `--block-size` 16, SGLang `--page-size` 1,
    /// TensorRT-LLM `tokens_per_block` 32).
    pub kv_block_tokens: Option<u32>,
    /// GiB per GPU kept for activations, CUDA graphs and the runtime (default: estimated
    /// from the token budget).
    pub activation_reserve_gib: Option<f64>,
    /// Plan step k + 1 while step k runs, so a request arriving during step k joins step
    /// k + 2 (vLLM `--async-scheduling`, SGLang's and TensorRT-LLM's overlap schedulers;
    /// default: the engine layer's, else false).
    pub async_scheduling: Option<bool>,
}

/// Engine knobs of one role, every default resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineConfig {
    /// Running sequences at most.
    pub max_num_seqs: u32,
    /// Tokens per step at most.
    pub max_batched_tokens: u32,
    /// Chunked prefill on.
    pub chunked_prefill: bool,
    /// Decode-first or prefill-first.
    pub priority: Priority,
    /// How requests are admitted and what happens when KV runs out.
    pub admission: Admission,
    /// Memory fraction (for weights + KV, or of the free memory for KV: `memory_fraction`).
    pub gpu_memory_utilization: f64,
    /// What `gpu_memory_utilization` is a fraction of (the backend's semantics).
    pub memory_fraction: MemoryFraction,
    /// Tokens per KV block.
    pub kv_block_tokens: u32,
    /// GiB per GPU reserved for activations and runtime.
    pub activation_reserve_gib: f64,
    /// Step k + 1 planned while step k runs (new requests join one step later).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub async_scheduling: bool,
}

/// One role of a deployment, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleConfig {
    /// Instances.
    pub replicas: u32,
    /// TP degree: the GPUs of one instance.
    pub tp: u32,
    /// Attention data-parallel ranks ([`Parallelism`]).
    #[serde(skip_serializing_if = "is_one")]
    pub dp: u32,
    /// Expert-parallel ranks ([`Parallelism`]).
    #[serde(skip_serializing_if = "is_one")]
    pub ep: u32,
    /// The busiest expert rank's routed tokens over the mean (1: balanced).
    #[serde(skip_serializing_if = "is_balanced")]
    pub expert_imbalance: f64,
    /// Two-batch overlap of the all-to-all with compute.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub two_batch_overlap: bool,
    /// Router.
    pub router: RouterKind,
    /// Engine knobs.
    pub engine: EngineConfig,
    /// Its memory plan (weights, KV capacity).
    pub memory: MemoryPlan,
    /// Its autoscaler, if any.
    #[serde(skip)]
    pub autoscale: Option<AutoscaleConfig>,
    /// Its own GPUs when they differ from `[hardware]` (heterogeneous PD); `None`: the
    /// scenario's hardware.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<RoleHardware>,
}

/// The GPUs and servers of a role that does not run on `[hardware]` (heterogeneous PD:
/// e.g. prefill on H200, decode on H20), every default resolved. It drives the role's
/// step costs (calibration profile and engine layer of that GPU), memory plan (KV
/// capacity), engine defaults, placement (its own nodes), KV-transfer ports (its NICs)
/// and price.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleHardware {
    /// The GPU.
    #[serde(serialize_with = "gpu_id")]
    pub gpu: GpuSpec,
    /// GPUs per node of the role's servers.
    pub gpus_per_node: u32,
    /// RDMA bandwidth per GPU, Gbit/s.
    pub nic_gbit_s: f64,
    /// Intra-node bandwidth per GPU, GB/s.
    pub intra_node_gb_s: f64,
    /// Price per GPU-hour, USD.
    pub gpu_hour_usd: Option<f64>,
    /// The engine layer on this GPU (`deployment.engine-profile` resolved for it).
    #[serde(skip)]
    pub engine_layer: super::EngineLayer,
}

fn gpu_id<S: serde::Serializer>(g: &GpuSpec, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&g.id)
}

/// `[hardware]`, resolved: what a role without GPU fields of its own runs on.
#[derive(Clone, Debug)]
pub(super) struct HardwareDefaults {
    pub(super) gpu: GpuSpec,
    pub(super) gpus_per_node: u32,
    pub(super) nic_gbit_s: f64,
    pub(super) intra_node_gb_s: f64,
    pub(super) gpu_hour_usd: Option<f64>,
}

/// Whether a count is its default of 1 (not written).
fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Whether routing is balanced, the default (not written).
fn is_balanced(f: &f64) -> bool {
    *f == 1.0
}

impl RoleConfig {
    /// How each instance splits the model over its GPUs.
    pub fn parallelism(&self) -> Parallelism {
        Parallelism {
            gpus: self.tp,
            dp: self.dp,
            ep: self.ep,
        }
    }

    /// Instances the role may ever have: its autoscaler's maximum, else its replicas.
    pub fn max_instances(&self) -> u32 {
        self.autoscale
            .as_ref()
            .map_or(self.replicas, |a| a.max_replicas().max(self.replicas))
    }
}

/// The serving system to simulate: either XpYd or aggregated.
// One value per scenario, never in a hot path: boxing the roles would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Topology {
    /// Prefill and decode roles.
    Disaggregated {
        /// Prefill role.
        prefill: RoleConfig,
        /// Decode role.
        decode: RoleConfig,
    },
    /// One role doing both.
    Aggregated(RoleConfig),
}

impl Topology {
    /// GPUs the topology uses.
    pub fn gpus(&self) -> u32 {
        match self {
            Topology::Disaggregated { prefill, decode } => {
                prefill.replicas * prefill.tp + decode.replicas * decode.tp
            }
            Topology::Aggregated(r) => r.replicas * r.tp,
        }
    }
}

/// A decoded mode name for reports.
pub fn mode_name(t: &Topology) -> &'static str {
    match t {
        Topology::Disaggregated { .. } => "disaggregated",
        Topology::Aggregated(_) => "aggregated",
    }
}

#[derive(Clone, Copy)]
pub(super) struct RoleCtx<'a> {
    pub(super) v: &'a Validator<'a>,
    pub(super) arch: &'a ModelArch,
    pub(super) gpu: &'a GpuSpec,
    /// `[hardware]` resolved (a role's own GPU fields default from it).
    pub(super) hw: &'a HardwareDefaults,
    /// How to resolve the engine layer for a role on another GPU:
    /// (`deployment.engine-profile`, `deployment.engine-version`, roofline step costs,
    /// the scenario's folder, the engine-parameter override).
    pub(super) layer: (
        Option<&'a str>,
        Option<&'a str>,
        bool,
        &'a std::path::Path,
        Option<&'a xpyd_models::EngineParams>,
    ),
    pub(super) weights: Dtype,
    pub(super) kv_cache: Dtype,
    pub(super) backend: Backend,
    pub(super) gpus_per_node: u32,
    /// The engine layer's token budget, the default of `engine.max-batched-tokens`.
    pub(super) engine_batched_tokens: Option<u32>,
    /// The engine layer's asynchronous scheduling, the default of
    /// `engine.async-scheduling`.
    pub(super) engine_async: bool,
}

impl RoleCtx<'_> {
    pub(super) fn role(
        &self,
        at: &str,
        r: RoleFile,
        kind: Role,
    ) -> Result<RoleConfig, ScenarioError> {
        let RoleFile {
            replicas,
            tp,
            dp,
            ep,
            expert_imbalance,
            two_batch_overlap,
            router,
            engine,
            autoscale,
            gpu,
            gpus_per_node,
            nic_gbit_s,
            intra_node_gb_s,
            gpu_hour_usd,
        } = r;
        let hardware = self.role_hardware(
            at,
            gpu,
            gpus_per_node,
            nic_gbit_s,
            intra_node_gb_s,
            gpu_hour_usd,
        )?;
        // The role's own GPU drives everything below (memory, engine defaults, nodes).
        let own;
        let this = match &hardware {
            None => self,
            Some(h) => {
                own = RoleCtx {
                    gpu: &h.gpu,
                    gpus_per_node: h.gpus_per_node,
                    engine_batched_tokens: h
                        .engine_layer
                        .params
                        .as_ref()
                        .and_then(|p| p.max_batched_tokens),
                    engine_async: h
                        .engine_layer
                        .params
                        .as_ref()
                        .is_some_and(|p| p.async_scheduling),
                    ..*self
                };
                &own
            }
        };
        let mut cfg = this.role_on(
            at,
            replicas,
            tp,
            dp,
            ep,
            expert_imbalance,
            two_batch_overlap,
            router,
            engine,
            autoscale,
            kind,
        )?;
        cfg.hardware = hardware;
        Ok(cfg)
    }

    /// A role's own GPU fields resolved: `None` when they describe exactly `[hardware]`
    /// (or are absent). Every field other than `gpu` needs `gpu`; an unknown GPU id is an
    /// error naming the catalog.
    fn role_hardware(
        &self,
        at: &str,
        gpu: Option<String>,
        gpus_per_node: Option<u32>,
        nic_gbit_s: Option<f64>,
        intra_node_gb_s: Option<f64>,
        gpu_hour_usd: Option<f64>,
    ) -> Result<Option<RoleHardware>, ScenarioError> {
        use crate::limits::{LINK_RANGE, MAX_GPU_HOUR_USD, MAX_GPUS_PER_NODE};
        let v = self.v;
        let Some(id) = gpu else {
            let given = [
                ("gpus-per-node", gpus_per_node.is_some()),
                ("nic-gbit-s", nic_gbit_s.is_some()),
                ("intra-node-gb-s", intra_node_gb_s.is_some()),
                ("gpu-hour-usd", gpu_hour_usd.is_some()),
            ];
            if let Some((key, _)) = given.iter().find(|(_, g)| *g) {
                return Err(v.invalid(
                    &format!("{at}.{key}"),
                    format!(
                        "describes the role's own GPUs and needs {at}.gpu; a role without one runs on [hardware] (set hardware.{key} there)"
                    ),
                ));
            }
            return Ok(None);
        };
        let gpu =
            GpuSpec::builtin(&id).map_err(|e| v.invalid(&format!("{at}.gpu"), e.to_string()))?;
        let same = gpu.id == self.hw.gpu.id;
        let gpn = gpus_per_node.unwrap_or(if same {
            self.hw.gpus_per_node
        } else {
            gpu.gpus_per_node
        });
        v.count(&format!("{at}.gpus-per-node"), gpn, 1..=MAX_GPUS_PER_NODE)?;
        let nic = nic_gbit_s.unwrap_or(if same {
            self.hw.nic_gbit_s
        } else {
            gpu.nic_gbit_s
        });
        v.f64_in(&format!("{at}.nic-gbit-s"), nic, LINK_RANGE, "Gbit/s")?;
        let intra = intra_node_gb_s.unwrap_or(if same {
            self.hw.intra_node_gb_s
        } else {
            gpu.interconnect.bandwidth_gb_s
        });
        v.f64_in(&format!("{at}.intra-node-gb-s"), intra, LINK_RANGE, "GB/s")?;
        if let Some(p) = gpu_hour_usd {
            v.f64_in(
                &format!("{at}.gpu-hour-usd"),
                p,
                (0.0, MAX_GPU_HOUR_USD),
                "USD",
            )?;
        }
        let price = gpu_hour_usd.or(if same { self.hw.gpu_hour_usd } else { None });
        if same
            && gpn == self.hw.gpus_per_node
            && nic == self.hw.nic_gbit_s
            && intra == self.hw.intra_node_gb_s
            && price == self.hw.gpu_hour_usd
        {
            return Ok(None);
        }
        let (value, version, roofline, base_dir, over) = self.layer;
        let mut engine_layer =
            super::EngineLayer::resolve(value, version, self.backend, &gpu.id, roofline, base_dir)
                .map_err(|e| {
                    v.invalid(
                        "deployment.engine-profile",
                        format!("for {at}.gpu = {}: {e}", gpu.id),
                    )
                })?;
        if let Some(p) = over {
            engine_layer.params = Some(p.clone());
        }
        Ok(Some(RoleHardware {
            gpu,
            gpus_per_node: gpn,
            nic_gbit_s: nic,
            intra_node_gb_s: intra,
            gpu_hour_usd: price,
            engine_layer,
        }))
    }

    /// [`Self::role`] on this context's GPU.
    #[allow(clippy::too_many_arguments)]
    fn role_on(
        &self,
        at: &str,
        replicas: u32,
        tp: u32,
        dp: Option<u32>,
        ep: Option<u32>,
        expert_imbalance: Option<f64>,
        two_batch_overlap: Option<bool>,
        router: Option<RouterKind>,
        engine: EngineFile,
        autoscale: Option<AutoscaleFile>,
        kind: Role,
    ) -> Result<RoleConfig, ScenarioError> {
        let v = self.v;
        // Only an autoscaler (KEDA scale-to-zero) may start a role empty.
        let least = u32::from(autoscale.is_none());
        v.count(&format!("{at}.replicas"), replicas, least..=MAX_INSTANCES)?;
        v.count(&format!("{at}.tp"), tp, 1..=MAX_TP)?;
        if tp > self.gpus_per_node && !tp.is_multiple_of(self.gpus_per_node) {
            return Err(v.invalid(
                &format!("{at}.tp"),
                format!(
                    "TP {tp} spans nodes of {} GPUs unevenly",
                    self.gpus_per_node
                ),
            ));
        }
        let par = self.parallelism(at, tp, dp, ep)?;
        let two_batch_overlap = two_batch_overlap.unwrap_or(false);
        if two_batch_overlap && (par.dp <= 1 || par.ep <= 1) {
            return Err(v.invalid(
                &format!("{at}.two-batch-overlap"),
                "needs DP-attention and expert parallelism (dp > 1 and ep > 1): it overlaps their all-to-all with compute",
            ));
        }
        let expert_imbalance = match expert_imbalance {
            None => 1.0,
            Some(_) if par.ep <= 1 => {
                return Err(v.invalid(
                    &format!("{at}.expert-imbalance"),
                    "needs expert parallelism (ep > 1): without it every GPU holds a slice of every expert",
                ));
            }
            Some(f) => v.f64_in(
                &format!("{at}.expert-imbalance"),
                f,
                (1.0, f64::from(par.ep)),
                "",
            )?,
        };
        let reserve_given = engine.activation_reserve_gib.is_some();
        let util_given = engine.gpu_memory_utilization.is_some();
        let block_given = engine.kv_block_tokens.is_some();
        let engine = self.engine(at, engine, kind, tp)?;
        let plan = match engine.memory_fraction {
            MemoryFraction::OfTotal => MemoryPlan::new,
            MemoryFraction::OfFree => MemoryPlan::of_free_memory,
        };
        let memory = plan(
            self.arch,
            self.gpu,
            par,
            self.weights,
            self.kv_cache,
            engine.gpu_memory_utilization,
            engine.activation_reserve_gib,
        )
        .map_err(|e| {
            let key = self.memory_culprit(&e, &engine, reserve_given, util_given);
            v.invalid(&format!("{at}.{key}"), e.to_string())
        })?;
        let before_windows = memory.kv_capacity_tokens;
        // Sliding-window layers hold a window per running sequence.
        let memory = memory.reserve_windows(engine.max_num_seqs);
        let block = u64::from(engine.kv_block_tokens);
        if memory.kv_capacity_tokens < block {
            // The sliding-window reserve of the running sequences is to blame when the
            // cache had room before it.
            let windows = memory.windows_reserved > 0 && before_windows >= block;
            let key = if windows {
                "engine.max-num-seqs"
            } else if block_given {
                "engine.kv-block-tokens"
            } else {
                "tp"
            };
            let why = if windows {
                format!(
                    " after a sliding-window reserve of {:.2} GiB per GPU for {} running sequences",
                    memory.kv_window_bytes_per_seq_per_gpu
                        * f64::from(engine.max_num_seqs.div_ceil(par.dp_ranks()))
                        / (1u64 << 30) as f64,
                    engine.max_num_seqs
                )
            } else {
                String::new()
            };
            return Err(v.invalid(
                &format!("{at}.{key}"),
                format!(
                    "{} at TP {tp} on {} leaves room for {} KV tokens{why}, less than one block of {block}",
                    self.arch.id, self.gpu.id, memory.kv_capacity_tokens
                ),
            ));
        }
        let autoscale = match &autoscale {
            Some(a) => {
                let cfg = autoscale_config(v, &format!("{at}.autoscale"), a)?;
                if replicas > cfg.max_replicas() || replicas < cfg.min_replicas() {
                    return Err(v.invalid(
                        &format!("{at}.replicas"),
                        format!(
                            "initial replicas {replicas} outside the autoscaler's [{}, {}]",
                            cfg.min_replicas(),
                            cfg.max_replicas()
                        ),
                    ));
                }
                Some(cfg)
            }
            None => None,
        };
        Ok(RoleConfig {
            replicas,
            tp,
            dp: par.dp,
            ep: par.ep,
            expert_imbalance,
            two_batch_overlap,
            router: router.unwrap_or(RouterKind::RoundRobin),
            engine,
            memory,
            autoscale,
            hardware: None,
        })
    }

    /// The validated split of a role's instances: `dp` and `ep` in `[1, tp]`, dividing
    /// `tp`, only for mixture-of-experts models, `ep` dividing the routed experts, and
    /// the attention TP `tp / dp` splitting the heads (each error at its own field).
    fn parallelism(
        &self,
        at: &str,
        tp: u32,
        dp: Option<u32>,
        ep: Option<u32>,
    ) -> Result<Parallelism, ScenarioError> {
        let v = self.v;
        let mut par = Parallelism::from(tp);
        for (key, given, slot) in [("dp", dp, &mut par.dp), ("ep", ep, &mut par.ep)] {
            let Some(n) = given else { continue };
            let field = format!("{at}.{key}");
            v.count(&field, n, 1..=tp)?;
            if !tp.is_multiple_of(n) {
                return Err(v.invalid(&field, format!("{n} does not divide tp = {tp}")));
            }
            if n > 1 && self.arch.moe.is_none() {
                return Err(v.invalid(
                    &field,
                    format!(
                        "{n}: {} is dense; attention data parallelism and expert parallelism need a mixture-of-experts model (a dense model's data-parallel ranks are replicas: set replicas)",
                        self.arch.id
                    ),
                ));
            }
            *slot = n;
        }
        if let Some(m) = &self.arch.moe
            && !m.num_experts.is_multiple_of(par.ep)
        {
            return Err(v.invalid(
                &format!("{at}.ep"),
                format!(
                    "{} does not divide the {} routed experts of {}",
                    par.ep, m.num_experts, self.arch.id
                ),
            ));
        }
        if par.dp > 1 {
            xpyd_models::memory::check_tp(self.arch, par.attention_tp()).map_err(|e| {
                v.invalid(
                    &format!("{at}.dp"),
                    format!("attention TP tp / dp = {}: {e}", par.attention_tp()),
                )
            })?;
        }
        Ok(par)
    }

    /// The field a memory plan's error `e` is blamed on: the TP when the heads do not
    /// split or the weights do not fit the whole GPU at this TP; else a memory setting
    /// the scenario gave (the activation reserve when it alone exhausts the usable
    /// memory, else the utilisation); else the TP.
    fn memory_culprit(
        &self,
        e: &xpyd_models::memory::FitError,
        engine: &EngineConfig,
        reserve_given: bool,
        util_given: bool,
    ) -> &'static str {
        use xpyd_models::memory::FitError;
        let FitError::Weights { weights_gib, .. } = e else {
            return "tp";
        };
        let memory_gib = self.gpu.memory_gib;
        if *weights_gib >= memory_gib {
            return "tp";
        }
        if reserve_given
            && engine.activation_reserve_gib >= memory_gib * engine.gpu_memory_utilization
        {
            return "engine.activation-reserve-gib";
        }
        if util_given {
            return "engine.gpu-memory-utilization";
        }
        if reserve_given {
            return "engine.activation-reserve-gib";
        }
        "tp"
    }

    fn engine(
        &self,
        at: &str,
        e: EngineFile,
        kind: Role,
        tp: u32,
    ) -> Result<EngineConfig, ScenarioError> {
        let v = self.v;
        let EngineFile {
            max_num_seqs,
            max_batched_tokens,
            chunked_prefill,
            priority,
            admission,
            gpu_memory_utilization,
            kv_block_tokens,
            activation_reserve_gib,
            async_scheduling,
        } = e;
        let d = backend_defaults(self.backend, self.gpu, kind);
        let max_num_seqs = v.count(
            &format!("{at}.engine.max-num-seqs"),
            max_num_seqs.unwrap_or(d.max_num_seqs),
            1..=MAX_NUM_SEQS,
        )?;
        let max_batched_tokens = v.count(
            &format!("{at}.engine.max-batched-tokens"),
            max_batched_tokens
                .or(self.engine_batched_tokens)
                .unwrap_or(d.max_batched_tokens),
            1..=MAX_TOKENS,
        )?;
        let kv_block_tokens = v.count(
            &format!("{at}.engine.kv-block-tokens"),
            kv_block_tokens.unwrap_or(d.kv_block_tokens),
            1..=MAX_BLOCK_TOKENS,
        )?;
        let gpu_memory_utilization = v.fraction(
            &format!("{at}.engine.gpu-memory-utilization"),
            gpu_memory_utilization.unwrap_or(d.gpu_memory_utilization),
        )?;
        let activation_reserve_gib = match activation_reserve_gib {
            Some(x) => v.f64_in(
                &format!("{at}.engine.activation-reserve-gib"),
                x,
                (0.0, MAX_RESERVE_GIB),
                "GiB",
            )?,
            None => default_activation_reserve_gib(self.arch, tp, max_batched_tokens),
        };
        Ok(EngineConfig {
            max_num_seqs,
            max_batched_tokens,
            chunked_prefill: chunked_prefill.unwrap_or(d.chunked_prefill),
            priority: priority.unwrap_or(d.priority),
            admission: admission.unwrap_or(d.admission),
            gpu_memory_utilization,
            memory_fraction: d.memory_fraction,
            kv_block_tokens,
            activation_reserve_gib,
            async_scheduling: async_scheduling.unwrap_or(self.engine_async),
        })
    }
}

struct EngineDefaults {
    max_num_seqs: u32,
    max_batched_tokens: u32,
    chunked_prefill: bool,
    priority: Priority,
    admission: Admission,
    gpu_memory_utilization: f64,
    memory_fraction: MemoryFraction,
    kv_block_tokens: u32,
}

/// Engine defaults per backend.
///
/// - vLLM V1 (`vllm/engine/arg_utils.py`, `EngineArgs._set_default_args`): for the
///   OpenAI server on GPUs with >= 70 GiB, `max_num_batched_tokens` 8192 and
///   `max_num_seqs` 1024; else 2048 and 256. `--gpu-memory-utilization` 0.9,
///   `--block-size` 16, decode-first scheduling with chunked prefill.
/// - SGLang (`sglang/srt/server_args.py`): `--chunked-prefill-size` by GPU memory
///   (8192 above ~60 GB, 4096 below, 2048 for small GPUs), `--page-size` 1,
///   `--mem-fraction-static` about 0.85-0.88; prefill batches take priority over decode.
///   `--max-running-requests` is derived from the KV pool; we use 1024 as the cap and let
///   KV capacity bind.
/// - TensorRT-LLM (`tensorrt_llm/llmapi/llm_args.py`, `BaseLlmArgs`, `KvCacheConfig`,
///   `SchedulerConfig`; the same values in `trtllm-serve`'s `get_llm_args` in
///   `tensorrt_llm/commands/serve.py`): `max_batch_size` 2048, `max_num_tokens` 8192,
///   `enable_chunked_prefill` False, `kv_cache_config.free_gpu_memory_fraction` 0.9 of
///   the memory free after the model is loaded, `tokens_per_block` 32,
///   `capacity_scheduler_policy` GUARANTEED_NO_EVICT. Its in-flight batches mix
///   generation and context requests within `max_num_tokens` (decode-first here). Dynamo's
///   TensorRT-LLM worker passes the same engine defaults.
fn backend_defaults(backend: Backend, gpu: &GpuSpec, _kind: Role) -> EngineDefaults {
    let big = gpu.memory_gib >= 70.0;
    match backend {
        Backend::Sglang => EngineDefaults {
            max_num_seqs: 1024,
            max_batched_tokens: if big { 8192 } else { 4096 },
            chunked_prefill: true,
            priority: Priority::PrefillFirst,
            admission: Admission::Retract,
            gpu_memory_utilization: 0.88,
            memory_fraction: MemoryFraction::OfTotal,
            kv_block_tokens: 1,
        },
        Backend::Vllm | Backend::Dynamo => EngineDefaults {
            max_num_seqs: if big { 1024 } else { 256 },
            max_batched_tokens: if big { 8192 } else { 2048 },
            chunked_prefill: true,
            priority: Priority::DecodeFirst,
            admission: Admission::OnDemand,
            gpu_memory_utilization: 0.9,
            memory_fraction: MemoryFraction::OfTotal,
            kv_block_tokens: 16,
        },
        Backend::Trtllm => EngineDefaults {
            max_num_seqs: 2048,
            max_batched_tokens: 8192,
            chunked_prefill: false,
            priority: Priority::DecodeFirst,
            admission: Admission::GuaranteedNoEvict,
            gpu_memory_utilization: 0.9,
            memory_fraction: MemoryFraction::OfFree,
            kv_block_tokens: 32,
        },
    }
}

/// Activation reserve estimate: 1 GiB for the CUDA context, CUDA graphs and NCCL
/// buffers, plus one step's peak activations at the token budget (hidden states,
/// q/k/v, the FFN intermediate split by TP) in bf16.
fn default_activation_reserve_gib(arch: &ModelArch, tp: u32, max_batched_tokens: u32) -> f64 {
    let h = f64::from(arch.hidden_size);
    let ffn = match &arch.moe {
        Some(m) => f64::from(m.expert_intermediate_size) * f64::from(m.experts_per_token),
        None => f64::from(arch.intermediate_size),
    };
    let per_token = 4.0 * h + 2.0 * ffn / f64::from(tp);
    1.0 + f64::from(max_batched_tokens) * per_token * 2.0 / (1u64 << 30) as f64
}
