//! The wire format: [`ScenarioFile`], the serde mirror of a scenario file, and one
//! struct per TOML section. Sections with validation of their own keep their wire structs
//! next to it: `[deployment]` in `deployment`, `[routing]` in `routing`, autoscalers and
//! `[cold-start]` in `autoscale` and `cold_start`.
//!
//! Invariants: every struct denies unknown fields and uses kebab-case with units in the
//! names; no `flatten`. Nothing here is checked: an unset field is `None` until
//! [`Scenario::from_file`](super::Scenario::from_file) resolves it.

use super::{
    ColdStartFile, DeploymentFile, FailuresFile, PlanFile, RouterKind, RoutingFile, SpotFile,
};
use crate::workload::WorkloadFile;
use serde::{Deserialize, Serialize};
use xpyd_models::Dtype;

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
    /// GPU and node failures (absent: none).
    pub failures: Option<FailuresFile>,
    /// Spot capacity: reclaims of the roles' spot replicas and their price (absent: none).
    pub spot: Option<SpotFile>,
    /// What `xpyd plan` sizes for beyond the SLOs: availability target, spot mixes
    /// (absent: neither; `xpyd run` ignores it).
    pub plan: Option<PlanFile>,
}

impl ScenarioFile {
    /// The one list of the fields that name local files, in a fixed order: the model's
    /// `config.json` (`model.id` unless a catalog id), the calibration profile
    /// (`hardware.profile` unless `builtin`/`roofline`), the trace, the joint-lengths table
    /// and the empirical length tables. `builtin:` data names are not files and are left
    /// out. Relative paths resolve against the scenario file's folder.
    pub fn file_fields_mut(&mut self) -> Vec<&mut String> {
        self.named_file_fields_mut()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// [`Self::file_fields_mut`], each with the TOML path of its field
    /// (`workload.trace.path`).
    fn named_file_fields_mut(&mut self) -> Vec<(&'static str, &mut String)> {
        use crate::workload::{JointLengthsFile, LengthFile};
        let mut out: Vec<(&'static str, &mut String)> = Vec::new();
        if !xpyd_models::ModelArch::catalog_ids().contains(&self.model.id.as_str()) {
            out.push(("model.id", &mut self.model.id));
        }
        if let Some(p) = self.hardware.profile.as_mut()
            && p != "builtin"
            && p != "roofline"
        {
            out.push(("hardware.profile", p));
        }
        let w = &mut self.workload;
        if let Some(t) = w.trace.as_mut() {
            out.push(("workload.trace.path", &mut t.path));
        }
        if let Some(JointLengthsFile::EmpiricalJoint { path, .. }) = w.lengths.as_mut() {
            out.push(("workload.lengths.path", path));
        }
        for (field, l) in [
            ("workload.input-tokens.path", w.input_tokens.as_mut()),
            ("workload.output-tokens.path", w.output_tokens.as_mut()),
        ] {
            if let Some(LengthFile::Empirical { path, .. }) = l {
                out.push((field, path));
            }
        }
        out.retain(|(_, p)| !p.starts_with("builtin:"));
        out
    }

    /// [`Self::file_fields_mut`], read only.
    pub fn file_fields(&self) -> Vec<String> {
        self.named_file_fields()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// [`Self::file_fields`], each with the TOML path of its field
    /// (`workload.input-tokens.path`), for errors about the file.
    pub fn named_file_fields(&self) -> Vec<(&'static str, String)> {
        self.clone()
            .named_file_fields_mut()
            .into_iter()
            .map(|(f, p)| (f, p.clone()))
            .collect()
    }
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
    /// Let the engines run the Python code that ships with the model's weights
    /// (`--trust-remote-code`) in the manifests (default false: only models the engine
    /// supports natively load). Not simulated.
    pub trust_remote_code: Option<bool>,
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
    /// Memory the run may hold for requests, GiB (default 8): a run whose requests in
    /// flight would need more stops with an error instead of growing without bound.
    pub memory_budget_gib: Option<f64>,
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
