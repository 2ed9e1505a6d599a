//! The validated, typed [`Scenario`] the simulator runs, its sections other than the
//! deployment's (KV transfer, Dynamo, SLOs, the calibration [`ProfileChoice`]), and
//! helpers for the engine and reports such as [`Scenario::cost_model`].
//!
//! Invariants: every default is resolved and every value checked by
//! [`Scenario::from_file`], so a `Scenario` that exists can be simulated.

use super::ColdStartConfig;
use super::{Backend, RoleConfig, RoutingConfig, Topology};
use crate::time::SimDuration;
use crate::workload::Workload;
use serde::Serialize;
use std::path::{Path, PathBuf};
use xpyd_models::{
    Dtype, Efficiencies, EngineParams, EngineProfile, EngineProfiles, GpuSpec, InterconnectKind,
    ModelArch,
};

/// Which calibration profile step costs use (a scenario's `hardware.profile`, or the
/// `--profile` / `--roofline` flags of the commands that take no scenario).
#[derive(Clone, Debug, Default)]
pub enum ProfileChoice {
    /// The profile shipped for the GPU, where one exists (else the roofline).
    #[default]
    Builtin,
    /// No profile: every term from the roofline.
    Roofline,
    /// A profile loaded from a file, with its origin for reports.
    File(std::sync::Arc<xpyd_models::profile::Profile>, String),
}

impl ProfileChoice {
    /// From the `--profile FILE` / `--roofline` flags: the file wins, then the roofline,
    /// else the shipped profile. Errors when the file cannot be loaded.
    pub fn from_flags(
        profile: Option<&Path>,
        roofline: bool,
    ) -> Result<ProfileChoice, xpyd_models::profile::ProfileError> {
        Ok(match (profile, roofline) {
            (Some(path), _) => ProfileChoice::load(path)?,
            (None, true) => ProfileChoice::Roofline,
            (None, false) => ProfileChoice::Builtin,
        })
    }

    /// The profile in the file `path`, named by the path in reports.
    pub fn load(path: &Path) -> Result<ProfileChoice, xpyd_models::profile::ProfileError> {
        let p = xpyd_models::profile::Profile::load(path)?;
        Ok(ProfileChoice::File(
            std::sync::Arc::new(p),
            path.display().to_string(),
        ))
    }

    /// Apply to a cost model built with [`xpyd_models::CostModel::new`] (which uses the
    /// shipped profile).
    pub fn apply(&self, cm: xpyd_models::CostModel) -> xpyd_models::CostModel {
        match self {
            ProfileChoice::Builtin => cm,
            ProfileChoice::Roofline => cm.with_profile(None),
            ProfileChoice::File(p, origin) => cm.with_profile_named(Some(p.clone()), origin),
        }
    }
}

/// KV-transfer parameters, validated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KvTransferConfig {
    /// Layer-wise streaming overlapped with the final prefill step.
    pub layerwise: bool,
    /// SGLang bootstrap handshake, ms (as given, for reports).
    pub bootstrap_ms: f64,
    /// SGLang bootstrap handshake (`bootstrap_ms`, converted once).
    #[serde(skip)]
    pub bootstrap: SimDuration,
    /// Fixed cost per transfer, ms (as given, for reports).
    pub setup_ms: f64,
    /// Fixed cost per transfer (`setup_ms`, converted once).
    #[serde(skip)]
    pub setup: SimDuration,
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
    /// The manifests let the engines run the model's own Python code
    /// (`model.trust-remote-code`); not simulated.
    pub trust_remote_code: bool,
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
    /// Stop time (`simulation.max-duration-s`).
    pub max_duration: SimDuration,
    /// Memory the run may hold for requests, GiB (`simulation.memory-budget-gib`).
    pub memory_budget_gib: f64,
    /// Time-series window (`simulation.sample-window-s`).
    pub sample_window: SimDuration,
    /// Roofline efficiencies.
    pub efficiency: Efficiencies,
    /// Router parameters.
    pub routing: RoutingConfig,
    /// Cold start of new replicas.
    pub cold_start: ColdStartConfig,
    /// Step-cost calibration.
    pub profile: ProfileChoice,
    /// The engine layer above the kernels (`deployment.engine-profile`).
    pub engine_layer: EngineLayer,
    /// Speculative decoding (`[deployment.speculative]`), if any.
    pub speculative: Option<super::SpeculativeConfig>,
    /// GPU and node failures (`[failures]`), if any.
    pub failures: Option<super::FailuresConfig>,
    /// Spot capacity (`[spot]`), if any role has spot replicas.
    pub spot: Option<super::SpotConfig>,
    /// What `xpyd plan` sizes for beyond the SLOs (`[plan]`).
    pub plan: super::PlanConfig,
}

impl Scenario {
    /// The step-cost model of one instance of TP `par` (a degree or a
    /// [`Parallelism`](xpyd_models::Parallelism)), with the scenario's profile.
    pub fn cost_model(&self, par: impl Into<xpyd_models::Parallelism>) -> xpyd_models::CostModel {
        // The scenario's node size and NIC (the all-to-all of DP-attention crosses nodes
        // by them; nothing else in the step cost reads them).
        let mut gpu = self.gpu.clone();
        gpu.gpus_per_node = self.kv_transfer.gpus_per_node;
        gpu.nic_gbit_s = self.kv_transfer.nic_gbit_s;
        let cm = xpyd_models::CostModel::new(
            self.model.clone(),
            gpu,
            par,
            self.weights,
            self.kv_cache,
            self.efficiency.clone(),
        );
        self.profile
            .apply(cm)
            .with_engine(self.engine_layer.params.clone())
            .with_speculative(self.speculative.map(|s| s.cost))
    }

    /// The step-cost model of one instance of `role` (its split and hot experts) on the
    /// role's GPU: `[hardware]`'s, or its own (heterogeneous PD), with that GPU's
    /// built-in calibration profile (a `hardware.profile` file describes the
    /// `[hardware]` GPU only; `roofline` holds for every role) and engine layer.
    pub fn cost_model_for(&self, role: &super::RoleConfig) -> xpyd_models::CostModel {
        let cm = match &role.hardware {
            None => self.cost_model(role.parallelism()),
            Some(h) => {
                let mut gpu = h.gpu.clone();
                gpu.gpus_per_node = h.gpus_per_node;
                gpu.nic_gbit_s = h.nic_gbit_s;
                let cm = xpyd_models::CostModel::new(
                    self.model.clone(),
                    gpu,
                    role.parallelism(),
                    self.weights,
                    self.kv_cache,
                    self.efficiency.clone(),
                );
                let cm = match self.profile {
                    ProfileChoice::Roofline => cm.with_profile(None),
                    ProfileChoice::Builtin | ProfileChoice::File(..) => cm,
                };
                cm.with_engine(h.engine_layer.params.clone())
                    .with_speculative(self.speculative.map(|s| s.cost))
            }
        };
        cm.with_expert_imbalance(role.expert_imbalance)
            .with_two_batch_overlap(role.two_batch_overlap)
            .with_moe_kernel(xpyd_models::MoeKernel::of_deployment(
                EngineLayer::engine_of(self.backend),
                self.weights == Dtype::Fp8,
                role.tp / role.dp.max(1),
            ))
    }

    /// The GPU `role` runs on.
    pub fn gpu_of<'a>(&'a self, role: &'a super::RoleConfig) -> &'a GpuSpec {
        role.hardware.as_ref().map_or(&self.gpu, |h| &h.gpu)
    }

    /// Price of one of `role`'s GPU-hours, USD.
    pub fn gpu_hour_usd_of(&self, role: &super::RoleConfig) -> Option<f64> {
        role.hardware
            .as_ref()
            .map_or(self.gpu_hour_usd, |h| h.gpu_hour_usd)
    }

    /// `role`'s servers: (GPUs per node, RDMA Gbit/s per GPU, intra-node GB/s per GPU).
    pub fn links_of(&self, role: &super::RoleConfig) -> (u32, f64, f64) {
        match &role.hardware {
            None => (
                self.kv_transfer.gpus_per_node,
                self.kv_transfer.nic_gbit_s,
                self.kv_transfer.intra_node_gb_s,
            ),
            Some(h) => (h.gpus_per_node, h.nic_gbit_s, h.intra_node_gb_s),
        }
    }

    /// The engine layer of `role` (its GPU's, for a role on its own GPU).
    pub fn engine_layer_of<'a>(&'a self, role: &'a super::RoleConfig) -> &'a EngineLayer {
        role.hardware
            .as_ref()
            .map_or(&self.engine_layer, |h| &h.engine_layer)
    }

    /// The GPU types the deployment uses: `[hardware]`'s, then each role's own
    /// (heterogeneous PD), each once.
    pub fn gpu_ids(&self) -> Vec<String> {
        let mut ids = vec![self.gpu.id.clone()];
        if let super::Topology::Disaggregated { prefill, decode } = &self.topology {
            for h in [&prefill.hardware, &decode.hardware].into_iter().flatten() {
                if !ids.contains(&h.gpu.id) {
                    ids.push(h.gpu.id.clone());
                }
            }
        }
        ids
    }

    /// Whether a role runs on GPUs other than `[hardware]`'s (heterogeneous PD).
    pub fn is_heterogeneous(&self) -> bool {
        match &self.topology {
            super::Topology::Disaggregated { prefill, decode } => {
                prefill.hardware.is_some() || decode.hardware.is_some()
            }
            super::Topology::Aggregated(r) => r.hardware.is_some(),
        }
    }

    /// Front-end time every response carries (the engine layer's), added to TTFT and E2E.
    pub fn frontend(&self) -> SimDuration {
        self.engine_layer
            .params
            .as_ref()
            .map_or(SimDuration::ZERO, |p| {
                SimDuration::from_millis_f64(p.frontend_ms)
            })
    }
}

/// The engine layer a scenario uses (`deployment.engine-profile`, resolved).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineLayer {
    /// The parameters (`None`: no engine layer; kernels with the assumed overheads).
    pub params: Option<EngineParams>,
    /// What it is, for reports: `builtin:vllm/h100`, a file path, or `none` with why.
    pub origin: String,
}

impl EngineLayer {
    /// The engine whose built-in profile `auto` takes for `backend` (Dynamo runs vLLM
    /// workers).
    pub fn engine_of(backend: Backend) -> &'static str {
        match backend {
            Backend::Sglang => "sglang",
            Backend::Vllm | Backend::Dynamo => "vllm",
            Backend::Trtllm => "trtllm",
        }
    }

    /// Resolve `deployment.engine-profile` (`None` = `auto`) for `backend` on `gpu` and
    /// `deployment.engine-version` (a profile fitted on that version where one exists,
    /// else the version-less one); a path is read relative to `base_dir`. Errors say what
    /// is wrong with the value.
    /// `auto` takes no layer over roofline step costs (`roofline`): the built-in profiles
    /// are fitted over the calibrated kernels.
    pub fn resolve(
        value: Option<&str>,
        version: Option<&str>,
        backend: Backend,
        gpu: &str,
        roofline: bool,
        base_dir: &Path,
    ) -> Result<EngineLayer, String> {
        let builtin = |engine: &str| {
            EngineProfile::builtin_for(engine, gpu, version).map(|p| EngineLayer {
                params: Some(p.params.clone()),
                origin: format!("builtin:{}", p.key()),
            })
        };
        match value.unwrap_or("auto") {
            "none" => Ok(EngineLayer {
                params: None,
                origin: "none".to_owned(),
            }),
            "auto" if roofline => Ok(EngineLayer {
                params: None,
                origin: "none (roofline step costs; the built-in engine profiles are fitted over calibrated kernels)"
                    .to_owned(),
            }),
            "auto" => {
                let engine = EngineLayer::engine_of(backend);
                Ok(builtin(engine).unwrap_or_else(|| EngineLayer {
                    params: None,
                    origin: format!("none (no built-in {engine} profile for {gpu})"),
                }))
            }
            engine if xpyd_models::engine::ENGINES.contains(&engine) => {
                builtin(engine).ok_or_else(|| {
                    let have: Vec<String> = xpyd_models::engine::builtin_profiles()
                        .profiles
                        .iter()
                        .map(|p| format!("{}/{}", p.engine, p.gpu))
                        .collect();
                    format!(
                        "no built-in {engine} profile for {gpu} (built in: {}); use \"auto\", \"none\" or a profile file",
                        have.join(", ")
                    )
                })
            }
            path => {
                let full = base_dir.join(path);
                let text = xpyd_models::file::read_text(&full, xpyd_models::file::MAX_TEXT_FILE_BYTES)
                    .map_err(|e| {
                    format!(
                        "{path:?} is not auto, none, vllm, sglang or trtllm, and {} cannot be read as a profile file: {e}",
                        full.display()
                    )
                })?;
                let file = EngineProfiles::parse(&text)
                    .map_err(|e| format!("{}: {e}", full.display()))?;
                let engine = EngineLayer::engine_of(backend);
                let on_gpu: Vec<&EngineProfile> =
                    file.profiles.iter().filter(|p| p.gpu == gpu).collect();
                let pick = file.find(engine, gpu, version).or(match on_gpu.as_slice() {
                    [only] => Some(*only),
                    _ => None,
                });
                let p = pick.ok_or_else(|| {
                    format!(
                        "{}: no profile for GPU {gpu} (engine {engine}) among its {} profiles",
                        full.display(),
                        file.profiles.len()
                    )
                })?;
                Ok(EngineLayer {
                    params: Some(p.params.clone()),
                    origin: format!("{} ({})", full.display(), p.key()),
                })
            }
        }
    }
}

/// Intra-node link kind of the scenario's GPU, for reports.
pub fn intra_node_kind(gpu: &GpuSpec) -> &'static str {
    match gpu.interconnect.kind {
        InterconnectKind::Nvlink => "NVLink",
        InterconnectKind::Pcie => "PCIe",
    }
}
