//! Scenario files: the TOML a user writes ([`ScenarioFile`], a serde mirror) and the
//! validated, typed [`Scenario`] the simulator runs.
//!
//! Invariants: every wire struct denies unknown fields and uses kebab-case with units in
//! the names; no `flatten`. [`Scenario::from_file`] resolves every default (backend
//! defaults for engine knobs, GPU defaults for links) and checks every value, so a
//! `Scenario` that exists can be simulated: its weights fit and its TP divides the heads.
//! Errors name the file and the TOML path of the offending field.

use crate::policy::autoscale::{
    AutoscaleConfig, AutoscaleError, AutoscaleFile, ColdStartConfig, ColdStartFile,
};
use crate::workload::{Workload, WorkloadError, WorkloadFile};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use xpyd_models::{Dtype, Efficiencies, GpuSpec, InterconnectKind, MemoryPlan, ModelArch};

mod routing;

use routing::routing_config;
pub use routing::{
    CacheAwareConfig, CacheAwareFile, GaieConfig, GaieFile, KvAwareConfig, KvAwareFile,
    RoutingConfig, RoutingFile,
};

/// A scenario file could not be used. Fatal: the run does not start.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The scenario file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the wrong type.
    #[error("{file}: {field}: {message}")]
    Parse {
        /// The scenario file.
        file: PathBuf,
        /// TOML path of the offending field (`deployment.prefill.tp`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The scenario file.
        file: PathBuf,
        /// TOML path of the offending field.
        field: String,
        /// What is wrong, with the numbers.
        message: String,
    },
    /// A `--set KEY=VALUE` override is malformed.
    #[error("--set {arg}: {message}")]
    Override {
        /// The override as given.
        arg: String,
        /// What is wrong.
        message: String,
    },
}

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
}

impl Backend {
    /// Name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sglang => "sglang",
            Backend::Vllm => "vllm",
            Backend::Dynamo => "dynamo",
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

// ---------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------

/// The serde mirror of a scenario file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScenarioFile {
    /// Short name used in reports.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Master seed of every random stream (default 1).
    pub seed: Option<u64>,
    /// The model.
    pub model: ModelFile,
    /// The GPUs and links.
    pub hardware: HardwareFile,
    /// Roles, replicas, TP, engines.
    pub deployment: DeploymentFile,
    /// KV-transfer path parameters.
    #[serde(default)]
    pub kv_transfer: KvTransferFile,
    /// Dynamo's conditional disaggregation.
    #[serde(default)]
    pub dynamo: DynamoFile,
    /// The aggregated baseline simulated alongside.
    #[serde(default)]
    pub baseline: BaselineFile,
    /// Arrivals and lengths.
    pub workload: WorkloadFile,
    /// Latency objectives.
    #[serde(default)]
    pub slo: SloFile,
    /// Run control.
    #[serde(default)]
    pub simulation: SimulationFile,
    /// Roofline efficiencies (defaults documented in `xpyd_models::Efficiencies`).
    #[serde(default)]
    pub efficiency: EfficiencyFile,
    /// Parameters of the routers that have them.
    #[serde(default)]
    pub routing: RoutingFile,
    /// How long a new replica takes to become ready.
    pub cold_start: Option<ColdStartFile>,
}

/// `[model]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModelFile {
    /// Catalog id or path to a Hugging Face `config.json` (relative to the scenario file).
    pub id: String,
    /// Weight format (default bf16).
    pub weights: Option<Dtype>,
    /// KV-cache format (default bf16).
    pub kv_cache: Option<Dtype>,
    /// Longest sequence (prompt + output) an engine accepts (default: the model's).
    pub max_model_len: Option<u32>,
}

/// `[hardware]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HardwareFile {
    /// GPU catalog id.
    pub gpu: String,
    /// GPUs per node (default: the GPU's usual server).
    pub gpus_per_node: Option<u32>,
    /// RDMA bandwidth per GPU, Gbit/s (default: the GPU's usual NIC).
    pub nic_gbit_s: Option<f64>,
    /// Intra-node GPU-to-GPU bandwidth per GPU, GB/s (default: the GPU's NVLink/PCIe).
    pub intra_node_gb_s: Option<f64>,
    /// Price of one GPU-hour in dollars (for cost reports).
    pub gpu_hour_usd: Option<f64>,
    /// Step-cost calibration: `"builtin"` (default: the profile shipped for the GPU, if
    /// any), `"roofline"` (none), or the path of a profile JSON (relative to this file),
    /// e.g. one written by `xpyd-calibrate` or `xpyd calibrate import-aiconfigurator`.
    pub profile: Option<String>,
}

/// Which calibration profile step costs use.
#[derive(Clone, Debug)]
pub enum ProfileChoice {
    /// The profile shipped for the GPU, where one exists (else the roofline).
    Builtin,
    /// No profile: every term from the roofline.
    Roofline,
    /// A profile loaded from a file, with its origin for reports.
    File(std::sync::Arc<xpyd_models::profile::Profile>, String),
}

/// `[deployment]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploymentFile {
    /// `disaggregated` (default) or `aggregated`.
    pub mode: Option<Mode>,
    /// `sglang` (default), `vllm` or `dynamo`.
    pub backend: Option<Backend>,
    /// Prefill role (disaggregated).
    pub prefill: Option<RoleFile>,
    /// Decode role (disaggregated).
    pub decode: Option<RoleFile>,
    /// The only role of an aggregated deployment.
    pub aggregated: Option<RoleFile>,
}

/// One role: replicas, TP, router and engine knobs.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RoleFile {
    /// Instances of this role.
    pub replicas: u32,
    /// Tensor-parallel degree of each instance.
    pub tp: u32,
    /// How requests are spread over this role's instances (default round-robin).
    pub router: Option<RouterKind>,
    /// Engine knobs (defaults from the backend).
    #[serde(default)]
    pub engine: EngineFile,
    /// Autoscaler of this role (`replicas` is then the initial count).
    pub autoscale: Option<AutoscaleFile>,
}

/// Engine knobs of a role; unset fields take the backend's defaults.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EngineFile {
    /// vLLM `--max-num-seqs` / SGLang `--max-running-requests`.
    pub max_num_seqs: Option<u32>,
    /// vLLM `--max-num-batched-tokens` / SGLang `--chunked-prefill-size`: tokens per step.
    pub max_batched_tokens: Option<u32>,
    /// Split long prompts over several steps (default true).
    pub chunked_prefill: Option<bool>,
    /// `decode-first` (vLLM) or `prefill-first` (SGLang).
    pub priority: Option<Priority>,
    /// Fraction of GPU memory for weights + KV (vLLM `--gpu-memory-utilization`,
    /// SGLang `--mem-fraction-static`).
    pub gpu_memory_utilization: Option<f64>,
    /// Tokens per KV block (vLLM `--block-size` 16, SGLang `--page-size` 1).
    pub kv_block_tokens: Option<u32>,
    /// GiB per GPU kept for activations, CUDA graphs and the runtime (default: estimated
    /// from the token budget).
    pub activation_reserve_gib: Option<f64>,
}

/// `[kv-transfer]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KvTransferFile {
    /// Stream KV layer by layer while the final prefill step runs (default false).
    pub layerwise: Option<bool>,
    /// SGLang bootstrap handshake latency, ms (default 2).
    pub bootstrap_ms: Option<f64>,
    /// Fixed cost of one transfer (connector handshake, descriptors), ms (default 1).
    pub setup_ms: Option<f64>,
    /// Fraction of link bandwidth a KV transfer achieves (default 0.8).
    pub efficiency: Option<f64>,
    /// Send KV over the RDMA NICs even between instances on one node (Mooncake
    /// transfer engine / NIXL over RDMA, as on PCIe GPUs without NVLink); default false
    /// (same-node transfers use NVLink or PCIe peer-to-peer).
    pub force_rdma: Option<bool>,
}

/// `[dynamo]`: conditional disaggregation of Dynamo's decode worker.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DynamoFile {
    /// Prompts with at most this many uncached tokens prefill locally (default 1000).
    pub max_local_prefill_tokens: Option<u32>,
    /// When the prefill queue holds at least this many requests, prefill locally (default 2).
    pub max_prefill_queue: Option<u32>,
}

/// `[baseline]`: the aggregated deployment on the same GPUs.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BaselineFile {
    /// Simulate the baseline (default true for disaggregated scenarios).
    pub enabled: Option<bool>,
    /// TP of each baseline instance (default: the decode TP).
    pub tp: Option<u32>,
    /// Instances (default: the disaggregated deployment's GPUs / tp).
    pub replicas: Option<u32>,
    /// Router (default: the prefill role's).
    pub router: Option<RouterKind>,
}

/// `[slo]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SloFile {
    /// Time-to-first-token objective, ms (default 2000).
    pub ttft_ms: Option<f64>,
    /// Time-per-output-token objective, ms (default 100).
    pub tpot_ms: Option<f64>,
    /// The percentile at which both objectives are held, in (0, 100] (default 90).
    pub percentile: Option<f64>,
    /// Fraction of requests that must meet both objectives (default 0.9).
    pub attainment_target: Option<f64>,
}

/// `[simulation]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SimulationFile {
    /// Stop simulated time here; requests still in flight count as unfinished (default 86400).
    pub max_duration_s: Option<f64>,
    /// Width of a time-series window, s (default 1).
    pub sample_window_s: Option<f64>,
}

/// `[efficiency]`: overrides of the roofline efficiencies.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EfficiencyFile {
    /// GEMM fraction of peak FLOP/s.
    pub gemm_flops: Option<f64>,
    /// Prefill-attention fraction of peak FLOP/s.
    pub attention_flops: Option<f64>,
    /// Fraction of peak memory bandwidth.
    pub memory_bandwidth: Option<f64>,
    /// Fraction of link bandwidth in all-reduce.
    pub allreduce_bandwidth: Option<f64>,
    /// Fixed per-step overhead, ms.
    pub step_overhead_ms: Option<f64>,
    /// Per-sequence per-step overhead, ms.
    pub per_seq_overhead_ms: Option<f64>,
    /// Fixed latency of one kernel, microseconds (a floor under every GEMM and
    /// memory-bound kernel).
    pub kernel_latency_us: Option<f64>,
}

// ---------------------------------------------------------------------------------------
// Validated form
// ---------------------------------------------------------------------------------------

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
    /// Memory fraction for weights + KV.
    pub gpu_memory_utilization: f64,
    /// Tokens per KV block.
    pub kv_block_tokens: u32,
    /// GiB per GPU reserved for activations and runtime.
    pub activation_reserve_gib: f64,
}

/// One role of a deployment, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleConfig {
    /// Instances.
    pub replicas: u32,
    /// TP degree.
    pub tp: u32,
    /// Router.
    pub router: RouterKind,
    /// Engine knobs.
    pub engine: EngineConfig,
    /// Its memory plan (weights, KV capacity).
    pub memory: MemoryPlan,
    /// Its autoscaler, if any.
    #[serde(skip)]
    pub autoscale: Option<AutoscaleConfig>,
}

impl RoleConfig {
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

/// KV-transfer parameters, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KvTransferConfig {
    /// Layer-wise streaming overlapped with the final prefill step.
    pub layerwise: bool,
    /// SGLang bootstrap handshake, ms.
    pub bootstrap_ms: f64,
    /// Fixed cost per transfer, ms.
    pub setup_ms: f64,
    /// Fraction of link bandwidth achieved.
    pub efficiency: f64,
    /// Same-node transfers also go over RDMA.
    pub force_rdma: bool,
    /// RDMA bandwidth per GPU, Gbit/s.
    pub nic_gbit_s: f64,
    /// Intra-node bandwidth per GPU, GB/s.
    pub intra_node_gb_s: f64,
    /// GPUs per node (placement: instances are packed onto nodes in order).
    pub gpus_per_node: u32,
}

/// Dynamo conditional disaggregation, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DynamoConfig {
    /// Local prefill when uncached prompt tokens <= this.
    pub max_local_prefill_tokens: u32,
    /// Local prefill when the prefill queue holds at least this many.
    pub max_prefill_queue: u32,
}

/// Latency objectives, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloConfig {
    /// TTFT objective, ms.
    pub ttft_ms: f64,
    /// TPOT objective, ms.
    pub tpot_ms: f64,
    /// Percentile at which both are held.
    pub percentile: f64,
    /// Fraction of requests that must meet both.
    pub attainment_target: f64,
}

/// A validated scenario: everything needed to simulate, defaults resolved.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Where it came from (`<built-in>` for the default).
    pub file: PathBuf,
    /// Short name.
    pub name: String,
    /// Master seed.
    pub seed: u64,
    /// The model.
    pub model: ModelArch,
    /// Weight format.
    pub weights: Dtype,
    /// KV format.
    pub kv_cache: Dtype,
    /// Longest sequence accepted, tokens.
    pub max_model_len: u32,
    /// The GPU.
    pub gpu: GpuSpec,
    /// Price per GPU-hour, dollars.
    pub gpu_hour_usd: Option<f64>,
    /// The stack.
    pub backend: Backend,
    /// The deployment simulated.
    pub topology: Topology,
    /// The aggregated baseline, if simulated.
    pub baseline: Option<RoleConfig>,
    /// KV-transfer path.
    pub kv_transfer: KvTransferConfig,
    /// Dynamo knobs.
    pub dynamo: DynamoConfig,
    /// Workload.
    pub workload: Workload,
    /// SLOs.
    pub slo: SloConfig,
    /// Stop time, s.
    pub max_duration_s: f64,
    /// Time-series window, s.
    pub sample_window_s: f64,
    /// Roofline efficiencies.
    pub efficiency: Efficiencies,
    /// Router parameters.
    pub routing: RoutingConfig,
    /// Cold start of new replicas.
    pub cold_start: ColdStartConfig,
    /// Step-cost calibration.
    pub profile: ProfileChoice,
}

impl Scenario {
    /// The step-cost model of one instance of TP `tp`, with the scenario's profile.
    pub fn cost_model(&self, tp: u32) -> xpyd_models::CostModel {
        let cm = xpyd_models::CostModel::new(
            self.model.clone(),
            self.gpu.clone(),
            tp,
            self.weights,
            self.kv_cache,
            self.efficiency.clone(),
        );
        match &self.profile {
            ProfileChoice::Builtin => cm,
            ProfileChoice::Roofline => cm.with_profile(None),
            ProfileChoice::File(p, origin) => cm.with_profile_named(Some(p.clone()), origin),
        }
    }
}

/// Apply `--set KEY=VALUE` overrides to a parsed TOML document. `KEY` is a dotted path
/// (`deployment.prefill.tp`); `VALUE` is parsed as a TOML value, else taken as a string.
pub fn apply_overrides(doc: &mut toml::Table, sets: &[String]) -> Result<(), ScenarioError> {
    for arg in sets {
        let (key, value) = arg.split_once('=').ok_or_else(|| ScenarioError::Override {
            arg: arg.clone(),
            message: "expected KEY=VALUE".into(),
        })?;
        let key = key.trim();
        let value = parse_toml_value(value.trim());
        set_path(doc, key, value).map_err(|message| ScenarioError::Override {
            arg: arg.clone(),
            message,
        })?;
    }
    Ok(())
}

/// Set a dotted path in a TOML table, creating tables on the way.
pub fn set_path(doc: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("malformed key `{key}`"));
    }
    let (last, path) = parts.split_last().expect("split yields at least one part");
    let mut table = doc;
    for (i, part) in path.iter().enumerate() {
        let entry = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("`{}` is not a table", parts[..=i].join("."))),
        };
    }
    table.insert(last.to_string(), value);
    Ok(())
}

fn parse_toml_value(s: &str) -> toml::Value {
    let doc = format!("v = {s}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(s.into())),
        Err(_) => toml::Value::String(s.into()),
    }
}

/// Parse scenario text into the wire form, reporting the field path of any error.
pub fn parse_scenario_text(file: &Path, text: &str) -> Result<toml::Table, ScenarioError> {
    text.parse::<toml::Table>()
        .map_err(|e| ScenarioError::Parse {
            file: file.to_path_buf(),
            field: span_field(text, e.span()),
            message: e.message().to_string(),
        })
}

fn span_field(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => {
            let line = text[..r.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}")
        }
        None => "(document)".into(),
    }
}

/// Deserialize a TOML table into the wire form with field paths in errors.
pub fn table_to_file(file: &Path, doc: toml::Table) -> Result<ScenarioFile, ScenarioError> {
    let value = toml::Value::Table(doc);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ScenarioError::Parse {
            file: file.to_path_buf(),
            field: if field.is_empty() || field == "." {
                "(document)".into()
            } else {
                field
            },
            message: e.into_inner().to_string(),
        }
    })
}

impl Scenario {
    /// Read, override and validate a scenario file.
    pub fn load(file: &Path, sets: &[String]) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(file).map_err(|source| ScenarioError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        let base = file.parent().unwrap_or(Path::new("."));
        Scenario::from_text(file, base, &text, sets)
    }

    /// Parse, override and validate scenario text; `file` names it in errors and
    /// `base_dir` resolves relative paths.
    pub fn from_text(
        file: &Path,
        base_dir: &Path,
        text: &str,
        sets: &[String],
    ) -> Result<Scenario, ScenarioError> {
        let mut doc = parse_scenario_text(file, text)?;
        apply_overrides(&mut doc, sets)?;
        let wire = table_to_file(file, doc)?;
        Scenario::from_file(file, base_dir, wire)
    }

    /// Validate the wire form.
    pub fn from_file(
        file: &Path,
        base_dir: &Path,
        w: ScenarioFile,
    ) -> Result<Scenario, ScenarioError> {
        let ScenarioFile {
            name,
            description: _,
            seed,
            model,
            hardware,
            deployment,
            kv_transfer,
            dynamo,
            baseline,
            workload,
            slo,
            simulation,
            efficiency,
            routing,
            cold_start,
        } = w;
        let v = Validator { file };

        // Model.
        let ModelFile {
            id,
            weights,
            kv_cache,
            max_model_len,
        } = model;
        let model_ref =
            if Path::new(&id).is_relative() && !ModelArch::catalog_ids().contains(&id.as_str()) {
                base_dir.join(&id).to_string_lossy().into_owned()
            } else {
                id.clone()
            };
        let arch =
            ModelArch::resolve(&model_ref).map_err(|e| v.invalid("model.id", e.to_string()))?;
        let weights = weights.unwrap_or(Dtype::Bf16);
        let kv_cache = kv_cache.unwrap_or(Dtype::Bf16);
        let max_model_len = max_model_len.unwrap_or(arch.max_position_embeddings);
        v.positive_u32("model.max-model-len", max_model_len)?;

        // Hardware.
        let HardwareFile {
            gpu,
            gpus_per_node,
            nic_gbit_s,
            intra_node_gb_s,
            gpu_hour_usd,
            profile,
        } = hardware;
        let profile = match profile.as_deref() {
            None | Some("builtin") => ProfileChoice::Builtin,
            Some("roofline") => ProfileChoice::Roofline,
            Some(path) => {
                let full = base_dir.join(path);
                let p = xpyd_models::profile::Profile::load(&full)
                    .map_err(|e| v.invalid("hardware.profile", e.to_string()))?;
                ProfileChoice::File(std::sync::Arc::new(p), full.display().to_string())
            }
        };
        let gpu = GpuSpec::builtin(&gpu).map_err(|e| v.invalid("hardware.gpu", e.to_string()))?;
        let gpus_per_node = gpus_per_node.unwrap_or(gpu.gpus_per_node);
        v.positive_u32("hardware.gpus-per-node", gpus_per_node)?;
        let nic_gbit_s = nic_gbit_s.unwrap_or(gpu.nic_gbit_s);
        v.at_least("hardware.nic-gbit-s", nic_gbit_s, 1e-3)?;
        let intra_node_gb_s = intra_node_gb_s.unwrap_or(gpu.interconnect.bandwidth_gb_s);
        v.at_least("hardware.intra-node-gb-s", intra_node_gb_s, 1e-3)?;
        if let Some(p) = gpu_hour_usd {
            v.non_negative_f64("hardware.gpu-hour-usd", p)?;
        }

        // Deployment.
        let DeploymentFile {
            mode,
            backend,
            prefill,
            decode,
            aggregated,
        } = deployment;
        let mode = mode.unwrap_or(Mode::Disaggregated);
        let backend = backend.unwrap_or(Backend::Sglang);
        let ctx = RoleCtx {
            v: &v,
            arch: &arch,
            gpu: &gpu,
            weights,
            kv_cache,
            backend,
            gpus_per_node,
        };
        let topology = match mode {
            Mode::Disaggregated => {
                if aggregated.is_some() {
                    return Err(v.invalid(
                        "deployment.aggregated",
                        "only for mode = \"aggregated\"; a disaggregated deployment has [deployment.prefill] and [deployment.decode]",
                    ));
                }
                let prefill = prefill.ok_or_else(|| {
                    v.invalid(
                        "deployment.prefill",
                        "missing: a disaggregated deployment needs a prefill role",
                    )
                })?;
                let decode = decode.ok_or_else(|| {
                    v.invalid(
                        "deployment.decode",
                        "missing: a disaggregated deployment needs a decode role",
                    )
                })?;
                Topology::Disaggregated {
                    prefill: ctx.role("deployment.prefill", prefill, RoleKind::Prefill)?,
                    decode: ctx.role("deployment.decode", decode, RoleKind::Decode)?,
                }
            }
            Mode::Aggregated => {
                if prefill.is_some() || decode.is_some() {
                    return Err(v.invalid(
                        "deployment",
                        "mode = \"aggregated\" takes [deployment.aggregated], not prefill/decode roles",
                    ));
                }
                let agg = aggregated.ok_or_else(|| {
                    v.invalid(
                        "deployment.aggregated",
                        "missing: an aggregated deployment needs this role",
                    )
                })?;
                Topology::Aggregated(ctx.role(
                    "deployment.aggregated",
                    agg,
                    RoleKind::Aggregated,
                )?)
            }
        };

        // Baseline.
        let BaselineFile {
            enabled,
            tp,
            replicas,
            router,
        } = baseline;
        let baseline = match (&topology, enabled.unwrap_or(true)) {
            (Topology::Disaggregated { prefill, decode }, true) => {
                let tp = tp.unwrap_or(decode.tp);
                v.positive_u32("baseline.tp", tp)?;
                let gpus = topology.gpus();
                let replicas = replicas.unwrap_or(gpus / tp);
                if replicas == 0 {
                    return Err(v.invalid(
                        "baseline.replicas",
                        format!("the deployment's {gpus} GPUs hold no instance of TP {tp}"),
                    ));
                }
                let role = RoleFile {
                    replicas,
                    tp,
                    router: Some(router.unwrap_or(prefill.router)),
                    engine: EngineFile::default(),
                    autoscale: None,
                };
                Some(ctx.role("baseline", role, RoleKind::Aggregated)?)
            }
            _ => None,
        };

        // KV transfer.
        let KvTransferFile {
            layerwise,
            bootstrap_ms,
            setup_ms,
            efficiency: kv_eff,
            force_rdma,
        } = kv_transfer;
        let kv_transfer = KvTransferConfig {
            layerwise: layerwise.unwrap_or(false),
            bootstrap_ms: v
                .non_negative_f64("kv-transfer.bootstrap-ms", bootstrap_ms.unwrap_or(2.0))?,
            setup_ms: v.non_negative_f64("kv-transfer.setup-ms", setup_ms.unwrap_or(1.0))?,
            efficiency: v.fraction("kv-transfer.efficiency", kv_eff.unwrap_or(0.8))?,
            force_rdma: force_rdma.unwrap_or(false),
            nic_gbit_s,
            intra_node_gb_s,
            gpus_per_node,
        };

        let DynamoFile {
            max_local_prefill_tokens,
            max_prefill_queue,
        } = dynamo;
        let dynamo = DynamoConfig {
            max_local_prefill_tokens: max_local_prefill_tokens.unwrap_or(1000),
            max_prefill_queue: max_prefill_queue.unwrap_or(2),
        };

        let workload =
            Workload::from_file(workload, base_dir).map_err(|e| workload_error(file, e))?;

        let SloFile {
            ttft_ms,
            tpot_ms,
            percentile,
            attainment_target,
        } = slo;
        let slo = SloConfig {
            ttft_ms: v.positive_f64("slo.ttft-ms", ttft_ms.unwrap_or(2000.0))?,
            tpot_ms: v.positive_f64("slo.tpot-ms", tpot_ms.unwrap_or(100.0))?,
            percentile: {
                let p = percentile.unwrap_or(90.0);
                if !(p > 0.0 && p <= 100.0) {
                    return Err(
                        v.invalid("slo.percentile", format!("must be in (0, 100], got {p}"))
                    );
                }
                p
            },
            attainment_target: v
                .fraction("slo.attainment-target", attainment_target.unwrap_or(0.9))?,
        };

        let SimulationFile {
            max_duration_s,
            sample_window_s,
        } = simulation;
        let max_duration_s = v.positive_f64(
            "simulation.max-duration-s",
            max_duration_s.unwrap_or(86_400.0),
        )?;
        let sample_window_s = v.at_least(
            "simulation.sample-window-s",
            sample_window_s.unwrap_or(1.0),
            1e-3,
        )?;

        let EfficiencyFile {
            gemm_flops,
            attention_flops,
            memory_bandwidth,
            allreduce_bandwidth,
            step_overhead_ms,
            per_seq_overhead_ms,
            kernel_latency_us,
        } = efficiency;
        let mut eff = Efficiencies::default();
        if let Some(x) = gemm_flops {
            eff.gemm_flops = v.fraction("efficiency.gemm-flops", x)?;
        }
        if let Some(x) = attention_flops {
            eff.attention_flops = v.fraction("efficiency.attention-flops", x)?;
        }
        if let Some(x) = memory_bandwidth {
            eff.memory_bandwidth = v.fraction("efficiency.memory-bandwidth", x)?;
        }
        if let Some(x) = allreduce_bandwidth {
            eff.allreduce_bandwidth = v.fraction("efficiency.allreduce-bandwidth", x)?;
        }
        if let Some(x) = step_overhead_ms {
            eff.step_overhead_s = v.non_negative_f64("efficiency.step-overhead-ms", x)? * 1e-3;
        }
        if let Some(x) = kernel_latency_us {
            eff.kernel_latency_s = v.non_negative_f64("efficiency.kernel-latency-us", x)? * 1e-6;
        }
        if let Some(x) = per_seq_overhead_ms {
            eff.per_seq_overhead_s =
                v.non_negative_f64("efficiency.per-seq-overhead-ms", x)? * 1e-3;
        }

        let name = name.unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        let routing = routing_config(&v, routing)?;
        Ok(Scenario {
            file: file.to_path_buf(),
            name,
            seed: seed.unwrap_or(1),
            model: arch,
            weights,
            kv_cache,
            max_model_len,
            gpu,
            gpu_hour_usd,
            backend,
            topology,
            baseline,
            kv_transfer,
            dynamo,
            workload,
            slo,
            max_duration_s,
            sample_window_s,
            efficiency: eff,
            routing,
            profile,
            cold_start: match &cold_start {
                Some(c) => ColdStartConfig::from_file(c, "cold-start")
                    .map_err(|e| autoscale_error(file, e))?,
                None => ColdStartConfig::default(),
            },
        })
    }
}

fn autoscale_error(file: &Path, e: AutoscaleError) -> ScenarioError {
    let AutoscaleError::Invalid { field, message } = e;
    ScenarioError::Invalid {
        file: file.to_path_buf(),
        field,
        message,
    }
}

fn workload_error(file: &Path, e: WorkloadError) -> ScenarioError {
    match e {
        WorkloadError::Invalid { field, message } => ScenarioError::Invalid {
            file: file.to_path_buf(),
            field,
            message,
        },
        // Data-file errors name the data file (and line) in their message.
        other => ScenarioError::Invalid {
            file: file.to_path_buf(),
            field: "workload".into(),
            message: other.to_string(),
        },
    }
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum RoleKind {
    Prefill,
    Decode,
    Aggregated,
}

struct Validator<'a> {
    file: &'a Path,
}

impl Validator<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.file.to_path_buf(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn positive_u32(&self, field: &str, x: u32) -> Result<u32, ScenarioError> {
        if x == 0 {
            return Err(self.invalid(field, "must be at least 1"));
        }
        Ok(x)
    }

    fn positive_f64(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x > 0.0) {
            return Err(self.invalid(field, format!("must be a positive number, got {x:?}")));
        }
        Ok(x)
    }

    fn at_least(&self, field: &str, x: f64, min: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x >= min) {
            return Err(self.invalid(field, format!("must be at least {min}, got {x:?}")));
        }
        Ok(x)
    }

    fn non_negative_f64(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x >= 0.0) {
            return Err(self.invalid(field, format!("must be a non-negative number, got {x:?}")));
        }
        Ok(x)
    }

    fn fraction(&self, field: &str, x: f64) -> Result<f64, ScenarioError> {
        if !(x.is_finite() && x > 0.0 && x <= 1.0) {
            return Err(self.invalid(field, format!("must be in (0, 1], got {x:?}")));
        }
        Ok(x)
    }
}

struct RoleCtx<'a> {
    v: &'a Validator<'a>,
    arch: &'a ModelArch,
    gpu: &'a GpuSpec,
    weights: Dtype,
    kv_cache: Dtype,
    backend: Backend,
    gpus_per_node: u32,
}

impl RoleCtx<'_> {
    fn role(&self, at: &str, r: RoleFile, kind: RoleKind) -> Result<RoleConfig, ScenarioError> {
        let v = self.v;
        let RoleFile {
            replicas,
            tp,
            router,
            engine,
            autoscale,
        } = r;
        if autoscale.is_none() {
            // Only an autoscaler (KEDA scale-to-zero) may start a role empty.
            v.positive_u32(&format!("{at}.replicas"), replicas)?;
        }
        v.positive_u32(&format!("{at}.tp"), tp)?;
        if tp > self.gpus_per_node && tp % self.gpus_per_node != 0 {
            return Err(v.invalid(
                &format!("{at}.tp"),
                format!(
                    "TP {tp} spans nodes of {} GPUs unevenly",
                    self.gpus_per_node
                ),
            ));
        }
        let engine = self.engine(at, engine, kind, tp)?;
        let memory = MemoryPlan::new(
            self.arch,
            self.gpu,
            tp,
            self.weights,
            self.kv_cache,
            engine.gpu_memory_utilization,
            engine.activation_reserve_gib,
        )
        .map_err(|e| v.invalid(&format!("{at}.tp"), e.to_string()))?;
        let block = u64::from(engine.kv_block_tokens);
        if memory.kv_capacity_tokens < block {
            return Err(v.invalid(
                &format!("{at}.tp"),
                format!(
                    "{} at TP {tp} on {} leaves room for {} KV tokens, less than one block of {block}",
                    self.arch.id, self.gpu.id, memory.kv_capacity_tokens
                ),
            ));
        }
        let autoscale = match &autoscale {
            Some(a) => {
                let cfg = AutoscaleConfig::from_file(a, &format!("{at}.autoscale"))
                    .map_err(|e| autoscale_error(v.file, e))?;
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
            router: router.unwrap_or(RouterKind::RoundRobin),
            engine,
            memory,
            autoscale,
        })
    }

    fn engine(
        &self,
        at: &str,
        e: EngineFile,
        kind: RoleKind,
        tp: u32,
    ) -> Result<EngineConfig, ScenarioError> {
        let v = self.v;
        let EngineFile {
            max_num_seqs,
            max_batched_tokens,
            chunked_prefill,
            priority,
            gpu_memory_utilization,
            kv_block_tokens,
            activation_reserve_gib,
        } = e;
        let d = backend_defaults(self.backend, self.gpu, kind);
        let max_num_seqs = v.positive_u32(
            &format!("{at}.engine.max-num-seqs"),
            max_num_seqs.unwrap_or(d.max_num_seqs),
        )?;
        let max_batched_tokens = v.positive_u32(
            &format!("{at}.engine.max-batched-tokens"),
            max_batched_tokens.unwrap_or(d.max_batched_tokens),
        )?;
        let kv_block_tokens = v.positive_u32(
            &format!("{at}.engine.kv-block-tokens"),
            kv_block_tokens.unwrap_or(d.kv_block_tokens),
        )?;
        let gpu_memory_utilization = v.fraction(
            &format!("{at}.engine.gpu-memory-utilization"),
            gpu_memory_utilization.unwrap_or(d.gpu_memory_utilization),
        )?;
        let activation_reserve_gib = match activation_reserve_gib {
            Some(x) => v.non_negative_f64(&format!("{at}.engine.activation-reserve-gib"), x)?,
            None => default_activation_reserve_gib(self.arch, tp, max_batched_tokens),
        };
        Ok(EngineConfig {
            max_num_seqs,
            max_batched_tokens,
            chunked_prefill: chunked_prefill.unwrap_or(true),
            priority: priority.unwrap_or(d.priority),
            gpu_memory_utilization,
            kv_block_tokens,
            activation_reserve_gib,
        })
    }
}

struct EngineDefaults {
    max_num_seqs: u32,
    max_batched_tokens: u32,
    priority: Priority,
    gpu_memory_utilization: f64,
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
fn backend_defaults(backend: Backend, gpu: &GpuSpec, _kind: RoleKind) -> EngineDefaults {
    let big = gpu.memory_gib >= 70.0;
    match backend {
        Backend::Sglang => EngineDefaults {
            max_num_seqs: 1024,
            max_batched_tokens: if big { 8192 } else { 4096 },
            priority: Priority::PrefillFirst,
            gpu_memory_utilization: 0.88,
            kv_block_tokens: 1,
        },
        Backend::Vllm | Backend::Dynamo => EngineDefaults {
            max_num_seqs: if big { 1024 } else { 256 },
            max_batched_tokens: if big { 8192 } else { 2048 },
            priority: Priority::DecodeFirst,
            gpu_memory_utilization: 0.9,
            kv_block_tokens: 16,
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

/// A decoded mode name for reports.
pub fn mode_name(t: &Topology) -> &'static str {
    match t {
        Topology::Disaggregated { .. } => "disaggregated",
        Topology::Aggregated(_) => "aggregated",
    }
}

/// Intra-node link kind of the scenario's GPU, for reports.
pub fn intra_node_kind(gpu: &GpuSpec) -> &'static str {
    match gpu.interconnect.kind {
        InterconnectKind::Nvlink => "NVLink",
        InterconnectKind::Pcie => "PCIe",
    }
}
