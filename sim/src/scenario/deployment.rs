//! The deployment: the serving stack ([`Backend`]), the PD [`Mode`], the engine
//! [`Priority`] and [`Admission`] policy and the [`RouterKind`]; the wire form of `[deployment]`
//! ([`DeploymentFile`], [`RoleFile`], [`EngineFile`]); the validated roles ([`RoleConfig`],
//! [`EngineConfig`]) and [`Topology`]. How one role's table (`[deployment.prefill]`,
//! `[deployment.decode]`, `[deployment.aggregated]`, the baseline) is resolved, with the
//! engine defaults of each backend, is in `role_ctx.rs`.
//!
//! Invariants: every engine knob a file leaves unset takes its backend's default; a
//! [`RoleConfig`] has a TP that spans nodes evenly, a memory plan with room for at least
//! one KV block, at least one replica unless an autoscaler may start it empty, and
//! initial replicas within its autoscaler's bounds.

use super::{AutoscaleConfig, AutoscaleFile};
use serde::{Deserialize, Serialize};
use xpyd_models::{GpuSpec, MemoryPlan, Parallelism};

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
    /// Of the role's instance slots (the autoscaling maximum included), how many, the
    /// last ones, run on spot capacity (`[spot]`). Default 0.
    pub spot_replicas: Option<u32>,
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
    /// TensorRT-LLM `batch_wait_timeout_iters`: steps that context requests may be held
    /// back while requests decode, to batch more prompts (default 0: off). Not with
    /// DP-attention.
    pub batch_wait_timeout_iters: Option<u32>,
    /// TensorRT-LLM `batch_wait_max_tokens_ratio`: held context requests go once the
    /// step's tokens reach this fraction of the token budget (default 0).
    pub batch_wait_max_tokens_ratio: Option<f64>,
    /// TensorRT-LLM `attention_dp_config.enable_balance` (needs `dp` > 1): context
    /// requests wait until every DP rank has one, or `attention-dp-timeout-iters` steps.
    pub attention_dp_balance: Option<bool>,
    /// TensorRT-LLM `attention_dp_config.timeout_iters` (default 50).
    pub attention_dp_timeout_iters: Option<u32>,
    /// TensorRT-LLM `attention_dp_config.batching_wait_iters` (default 10).
    pub attention_dp_batching_wait_iters: Option<u32>,
    /// SGLang `--stream-interval` / TensorRT-LLM `stream_interval`: the engine streams a
    /// response's tokens in chunks of this many after the first token (default 1).
    pub stream_interval: Option<u32>,
}

/// When TensorRT-LLM's PyTorch executor holds schedulable context requests back for
/// more to batch (`PyExecutor._schedule`: `_balance_adp_requests` under DP-attention,
/// `_waiting_requests` otherwise), as `instance::context_wait` replays it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ContextWait {
    /// `batch_wait_timeout_iters` / `batch_wait_max_tokens_ratio`: while requests decode,
    /// context requests wait up to `timeout_iters` steps, or until the step's tokens
    /// reach `max_tokens_ratio` of the token budget.
    Batch {
        /// Steps held at most (`batch_wait_timeout_iters`, > 0).
        timeout_iters: u32,
        /// Fraction of the token budget that releases them (`batch_wait_max_tokens_ratio`).
        max_tokens_ratio: f64,
    },
    /// `attention_dp_config` with `enable_balance`: context requests wait until every
    /// DP rank has one (then `batching_wait_iters` more steps while every rank decodes),
    /// or until `timeout_iters` steps without that have passed.
    AttentionDpBalance {
        /// Steps held without every rank ready (`timeout_iters`).
        timeout_iters: u32,
        /// Steps held with every rank ready and decoding (`batching_wait_iters`).
        batching_wait_iters: u32,
    },
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
    /// TensorRT-LLM's holding of context requests for batching; `None`: they run as soon
    /// as they fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_wait: Option<ContextWait>,
    /// Which output tokens the engine streams a response at (`stream-interval`).
    #[serde(skip_serializing_if = "StreamChunks::every_token")]
    pub stream: StreamChunks,
}

/// Which output tokens an engine sends a streaming response at: every one, or the first
/// and then one chunk per `stream-interval` k tokens, as each engine counts them. Both
/// engines send the first token at once whatever k.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamChunks {
    /// Every token as it is sampled (k = 1; vLLM).
    #[default]
    EveryToken,
    /// SGLang: at output lengths 1, 1 + k, 1 + 2k, ... (`len(req.output_ids) %
    /// stream_interval == 1` in `scheduler_output_processor_mixin.py`), and at the end.
    AfterFirst(u32),
    /// TensorRT-LLM: at the first token, then at k, 2k, 3k, ... (`py_decoding_iter == 1`
    /// or `py_decoding_iter % stream_interval == 0` in `py_executor.py`
    /// `_handle_responses`), and at the end.
    Multiples(u32),
}

impl StreamChunks {
    /// Whether every token is its own chunk.
    pub fn every_token(&self) -> bool {
        self.interval() == 1
    }

    /// Tokens per chunk after the first token (1: every token).
    pub fn interval(&self) -> u32 {
        match *self {
            StreamChunks::EveryToken => 1,
            StreamChunks::AfterFirst(k) | StreamChunks::Multiples(k) => k.max(1),
        }
    }

    /// The output token (1-based) whose response is a request's `n`-th streamed chunk
    /// (n >= 1), before the end of the output caps it.
    pub fn chunk_token(&self, n: u32) -> u64 {
        let (n, k) = (u64::from(n.max(1)), u64::from(self.interval()));
        match *self {
            _ if k == 1 => n,
            StreamChunks::Multiples(_) if n > 1 => (n - 1) * k,
            _ => 1 + (n - 1) * k,
        }
    }
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
    /// Its last `spot_replicas` instance slots run on spot capacity (`[spot]`).
    #[serde(skip_serializing_if = "is_zero")]
    pub spot_replicas: u32,
}

fn is_zero(x: &u32) -> bool {
    *x == 0
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

    /// Whether the role's instance slot `k` (0-based, below [`Self::max_instances`]) runs
    /// on spot capacity: the last `spot_replicas` slots do.
    pub fn is_spot(&self, k: u32) -> bool {
        k + self.spot_replicas >= self.max_instances()
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
