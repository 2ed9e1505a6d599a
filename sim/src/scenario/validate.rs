//! Validation: [`Scenario::from_file`] turns the wire form into a [`Scenario`],
//! resolving every default (backend defaults for engine knobs, GPU defaults for links)
//! and checking every value with the range checks of `Validator`.
//!
//! Invariants: `from_file` destructures every section exhaustively, so a field cannot be
//! forgotten; every error names the file and the TOML path of the offending field.

use super::ColdStartConfig;
use super::check::Validator;
use super::cold_start::cold_start_config;
use super::config::EngineLayer;
use super::deployment::HardwareDefaults;
use super::error::workload_error;
use super::role_ctx::RoleCtx;
use super::routing::routing_config;
use super::{
    Backend, BaselineFile, DeploymentFile, DynamoConfig, DynamoFile, EfficiencyFile, EngineFile,
    HardwareFile, KvTransferConfig, KvTransferFile, Mode, ModelFile, ProfileChoice, RoleFile,
    Scenario, ScenarioError, ScenarioFile, SimulationFile, SloConfig, SloFile, Topology,
};
use crate::SimDuration;
use crate::limits::{
    LINK_RANGE, MAX_GPU_HOUR_USD, MAX_GPUS_PER_NODE, MAX_INSTANCES, MAX_MS, MAX_TIMER_WORK,
    MAX_TOKENS,
};
use crate::role::Role;
use crate::workload::Workload;
use std::path::Path;
use xpyd_models::{Dtype, Efficiencies, GpuSpec, ModelArch};

impl Scenario {
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
            failures,
            spot,
            plan,
        } = w;
        let v = Validator { file };

        // Model.
        let ModelFile {
            id,
            weights,
            kv_cache,
            max_model_len,
            trust_remote_code,
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
        v.u32_in(
            "model.max-model-len",
            max_model_len,
            1..=MAX_TOKENS,
            "tokens (the model's max_position_embeddings when unset)",
        )?;

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
            Some(path) => ProfileChoice::load(&base_dir.join(path))
                .map_err(|e| v.invalid("hardware.profile", e.to_string()))?,
        };
        let gpu = GpuSpec::builtin(&gpu).map_err(|e| v.invalid("hardware.gpu", e.to_string()))?;
        let gpus_per_node = gpus_per_node.unwrap_or(gpu.gpus_per_node);
        v.count(
            "hardware.gpus-per-node",
            gpus_per_node,
            1..=MAX_GPUS_PER_NODE,
        )?;
        let nic_gbit_s = nic_gbit_s.unwrap_or(gpu.nic_gbit_s);
        v.f64_in("hardware.nic-gbit-s", nic_gbit_s, LINK_RANGE, "Gbit/s")?;
        let intra_node_gb_s = intra_node_gb_s.unwrap_or(gpu.interconnect.bandwidth_gb_s);
        v.f64_in(
            "hardware.intra-node-gb-s",
            intra_node_gb_s,
            LINK_RANGE,
            "GB/s",
        )?;
        if let Some(p) = gpu_hour_usd {
            v.f64_in("hardware.gpu-hour-usd", p, (0.0, MAX_GPU_HOUR_USD), "USD")?;
        }

        // Deployment.
        let DeploymentFile {
            mode,
            backend,
            prefill,
            decode,
            aggregated,
            engine_profile,
            engine_version,
            engine_override,
            speculative,
        } = deployment;
        if let Some(s) = &speculative
            && s.method == super::SpeculativeMethod::Mtp
            && arch.mtp_layers == 0
        {
            return Err(v.invalid(
                "deployment.speculative.method",
                format!(
                    "mtp: {} has no multi-token-prediction layers (config.json num_nextn_predict_layers); use eagle (a draft layer)",
                    arch.id
                ),
            ));
        }
        let speculative = match speculative {
            None => None,
            Some(s) => {
                let k = v.count(
                    "deployment.speculative.draft-tokens",
                    s.draft_tokens,
                    1..=xpyd_models::MAX_DRAFT_TOKENS as u32,
                )?;
                let field = "deployment.speculative.acceptance";
                let rates = match &s.acceptance {
                    super::AcceptanceFile::One(a) => {
                        vec![v.f64_in(field, *a, (0.0, 1.0), "")?; k as usize]
                    }
                    super::AcceptanceFile::PerPosition(rates) => {
                        if rates.len() != k as usize {
                            return Err(v.invalid(
                                field,
                                format!(
                                    "{} rates for {k} draft tokens: give one rate, or one per draft position",
                                    rates.len()
                                ),
                            ));
                        }
                        rates
                            .iter()
                            .enumerate()
                            .map(|(i, &a)| v.f64_in(&format!("{field}[{i}]"), a, (0.0, 1.0), ""))
                            .collect::<Result<Vec<f64>, _>>()?
                    }
                };
                Some(super::SpeculativeConfig {
                    method: s.method,
                    cost: xpyd_models::Speculative::per_position(&rates)
                        .expect("1 to 16 rates in [0, 1], checked above"),
                })
            }
        };
        let mode = mode.unwrap_or(Mode::Disaggregated);
        let backend = backend.unwrap_or(Backend::Sglang);
        if let Some(ver) = &engine_version
            && (ver.is_empty() || ver.len() > 64 || !ver.chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(v.invalid(
                "deployment.engine-version",
                format!("{ver:?}: a version is 1 to 64 printable ASCII characters without spaces (e.g. \"0.12.0\")"),
            ));
        }
        let mut engine_layer = EngineLayer::resolve(
            engine_profile.as_deref(),
            engine_version.as_deref(),
            backend,
            &gpu.id,
            matches!(profile, ProfileChoice::Roofline),
            base_dir,
        )
        .map_err(|e| v.invalid("deployment.engine-profile", e))?;
        if let Some(p) = &engine_override {
            engine_layer.params = Some(p.clone());
        }
        let hw = HardwareDefaults {
            gpu: gpu.clone(),
            gpus_per_node,
            nic_gbit_s,
            intra_node_gb_s,
            gpu_hour_usd,
        };
        let ctx = RoleCtx {
            v: &v,
            arch: &arch,
            gpu: &gpu,
            hw: &hw,
            layer: (
                engine_profile.as_deref(),
                engine_version.as_deref(),
                matches!(profile, ProfileChoice::Roofline),
                base_dir,
                engine_override.as_ref(),
            ),
            weights,
            kv_cache,
            backend,
            gpus_per_node,
            engine_batched_tokens: engine_layer
                .params
                .as_ref()
                .and_then(|p| p.max_batched_tokens),
            engine_async: engine_layer
                .params
                .as_ref()
                .is_some_and(|p| p.async_scheduling),
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
                    prefill: ctx.role("deployment.prefill", prefill, Role::Prefill)?,
                    decode: ctx.role("deployment.decode", decode, Role::Decode)?,
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
                let role = ctx.role("deployment.aggregated", agg, Role::Aggregated)?;
                if let Some(h) = &role.hardware {
                    return Err(v.invalid(
                        "deployment.aggregated.gpu",
                        format!(
                            "{}: an aggregated deployment runs every instance on [hardware] (gpu {}); per-role GPUs are for disaggregated (PD) roles: set hardware.gpu (and its fields) instead",
                            h.gpu.id, gpu.id
                        ),
                    ));
                }
                Topology::Aggregated(role)
            }
        };

        check_instances(&v, &topology)?;

        // Baseline.
        let BaselineFile {
            enabled,
            tp,
            replicas,
            router,
        } = baseline;
        let baseline_replicas_given = replicas.is_some();
        let baseline = match (&topology, enabled.unwrap_or(true)) {
            (Topology::Disaggregated { prefill, decode }, true) => {
                let tp = tp.unwrap_or(decode.tp);
                v.count("baseline.tp", tp, 1..=crate::limits::MAX_TP)?;
                let gpus = topology.gpus();
                let replicas = replicas.unwrap_or(gpus / tp);
                if replicas > MAX_INSTANCES {
                    return Err(v.invalid(
                        "baseline.replicas",
                        format!(
                            "must be in [1, {MAX_INSTANCES}] (the instance limit), got {replicas}{}",
                            if baseline_replicas_given { "" } else { " (the deployment's GPUs / baseline.tp); set baseline.enabled = false or a larger baseline.tp" }
                        ),
                    ));
                }
                if replicas == 0 {
                    return Err(v.invalid(
                        "baseline.replicas",
                        format!("the deployment's {gpus} GPUs hold no instance of TP {tp}"),
                    ));
                }
                let role = RoleFile {
                    replicas,
                    tp,
                    dp: None,
                    ep: None,
                    expert_imbalance: None,
                    two_batch_overlap: None,
                    router: Some(router.unwrap_or(prefill.router)),
                    engine: EngineFile::default(),
                    autoscale: None,
                    gpu: None,
                    gpus_per_node: None,
                    nic_gbit_s: None,
                    intra_node_gb_s: None,
                    gpu_hour_usd: None,
                    spot_replicas: None,
                };
                Some(ctx.role("baseline", role, Role::Aggregated)?)
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
        let (bootstrap_ms, bootstrap) = v.ms_up_to(
            "kv-transfer.bootstrap-ms",
            bootstrap_ms.unwrap_or(2.0),
            MAX_MS,
        )?;
        let (setup_ms, setup) =
            v.ms_up_to("kv-transfer.setup-ms", setup_ms.unwrap_or(1.0), MAX_MS)?;
        let kv_transfer = KvTransferConfig {
            layerwise: layerwise.unwrap_or(false),
            bootstrap_ms,
            bootstrap,
            setup_ms,
            setup,
            efficiency: v.efficiency("kv-transfer.efficiency", kv_eff.unwrap_or(0.8))?,
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
            max_local_prefill_tokens: v.count(
                "dynamo.max-local-prefill-tokens",
                max_local_prefill_tokens.unwrap_or(1000),
                0..=MAX_TOKENS,
            )?,
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
            ttft_ms: v.positive_up_to("slo.ttft-ms", ttft_ms.unwrap_or(2000.0), MAX_MS, "ms")?,
            tpot_ms: v.positive_up_to("slo.tpot-ms", tpot_ms.unwrap_or(100.0), MAX_MS, "ms")?,
            percentile: v.percentile("slo.percentile", percentile.unwrap_or(90.0))?,
            attainment_target: v
                .fraction("slo.attainment-target", attainment_target.unwrap_or(0.9))?,
        };

        let SimulationFile {
            max_duration_s,
            sample_window_s,
            memory_budget_gib,
        } = simulation;
        let max_duration = v.period_secs(
            "simulation.max-duration-s",
            max_duration_s.unwrap_or(86_400.0),
        )?;
        let sample_window =
            v.period_secs("simulation.sample-window-s", sample_window_s.unwrap_or(1.0))?;
        check_timers(&v, &topology, max_duration)?;
        let roles: Vec<(&str, &super::RoleConfig)> = match &topology {
            Topology::Disaggregated { prefill, decode } => vec![
                ("deployment.prefill", prefill),
                ("deployment.decode", decode),
            ],
            Topology::Aggregated(r) => vec![("deployment.aggregated", r)],
        };
        // Every instance slot that may run, in instances.csv order: spot or not.
        let spot_slots: Vec<bool> = roles
            .iter()
            .flat_map(|(_, r)| (0..r.max_instances()).map(|k| r.is_spot(k)))
            .collect();
        let spot = match &spot {
            Some(s) => Some(super::spot::spot_config(&v, s, &spot_slots)?),
            None => {
                if let Some((at, _)) = roles.iter().find(|(_, r)| r.spot_replicas > 0) {
                    return Err(v.invalid(
                        &format!("{at}.spot-replicas"),
                        "spot replicas need a [spot] section (preemption-rate-per-hour, notice-s, gpu-hour-usd, [[spot.events]])",
                    ));
                }
                None
            }
        };
        let failures = match &failures {
            Some(f) => Some(super::failures::failures_config(
                &v,
                f,
                spot_slots.len() as u32,
                spot.is_some(),
            )?),
            None => None,
        };
        let plan = super::plan::plan_config(&v, plan.as_ref(), failures.as_ref(), spot.as_ref())?;
        let memory_budget_gib = v.f64_in(
            "simulation.memory-budget-gib",
            memory_budget_gib.unwrap_or(crate::limits::DEFAULT_MEMORY_BUDGET_GIB),
            crate::limits::MEMORY_BUDGET_RANGE_GIB,
            "GiB",
        )?;
        // Up front where it is known: a closed loop holds one request per client.
        if let crate::workload::ArrivalMode::Closed { clients } = workload.mode() {
            let need = f64::from(clients) * crate::limits::REQUEST_BYTES as f64;
            let budget = memory_budget_gib * crate::limits::GIB;
            if need > budget {
                return Err(v.invalid(
                    "workload.arrival.clients",
                    format!(
                        "{clients} clients hold {clients} requests, about {:.1} MiB at {} KiB each, over simulation.memory-budget-gib = {memory_budget_gib} GiB: use fewer clients or raise the budget",
                        need / f64::from(1u32 << 20),
                        crate::limits::REQUEST_BYTES >> 10
                    ),
                ));
            }
        }

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
            eff.gemm_flops = v.efficiency("efficiency.gemm-flops", x)?;
        }
        if let Some(x) = attention_flops {
            eff.attention_flops = v.efficiency("efficiency.attention-flops", x)?;
        }
        if let Some(x) = memory_bandwidth {
            eff.memory_bandwidth = v.efficiency("efficiency.memory-bandwidth", x)?;
        }
        if let Some(x) = allreduce_bandwidth {
            eff.allreduce_bandwidth = v.efficiency("efficiency.allreduce-bandwidth", x)?;
        }
        if let Some(x) = step_overhead_ms {
            eff.step_overhead_s =
                v.f64_in("efficiency.step-overhead-ms", x, (0.0, MAX_MS), "ms")? * 1e-3;
        }
        if let Some(x) = kernel_latency_us {
            eff.kernel_latency_s =
                v.f64_in("efficiency.kernel-latency-us", x, (0.0, MAX_MS), "us")? * 1e-6;
        }
        if let Some(x) = per_seq_overhead_ms {
            eff.per_seq_overhead_s =
                v.f64_in("efficiency.per-seq-overhead-ms", x, (0.0, MAX_MS), "ms")? * 1e-3;
        }

        let defaulted = name.is_none();
        let name = name.unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        let name = super::name::check_name(&v, name, defaulted)?;
        let routing = routing_config(&v, routing)?;
        Ok(Scenario {
            file: file.to_path_buf(),
            name,
            seed: seed.unwrap_or(1),
            model: arch,
            weights,
            kv_cache,
            max_model_len,
            trust_remote_code: trust_remote_code.unwrap_or(false),
            gpu,
            gpu_hour_usd,
            backend,
            topology,
            baseline,
            kv_transfer,
            dynamo,
            workload,
            slo,
            max_duration,
            sample_window,
            memory_budget_gib,
            efficiency: eff,
            routing,
            profile,
            engine_layer,
            speculative,
            cold_start: match &cold_start {
                Some(c) => cold_start_config(&v, c)?,
                None => ColdStartConfig::default(),
            },
            failures,
            spot,
            plan,
        })
    }
}

/// Refuses an autoscaler whose periodic work within `simulation.max-duration-s` exceeds
/// [`MAX_TIMER_WORK`]: its timer fires whether or not requests are in flight, and an HPA
/// scans the recommendations of its longest stabilization window at each sync, so a 1 ms
/// sync period over 10^7 s (10^10 firings), or 9 ms under the default 300 s window over a
/// day (10^7 firings x 33,000 recommendations), ran for hours.
fn check_timers(
    v: &Validator,
    topology: &Topology,
    max_duration: SimDuration,
) -> Result<(), ScenarioError> {
    use super::AutoscaleConfig;
    let roles: Vec<(&str, &super::RoleConfig)> = match topology {
        Topology::Disaggregated { prefill, decode } => vec![
            ("deployment.prefill", prefill),
            ("deployment.decode", decode),
        ],
        Topology::Aggregated(r) => vec![("deployment.aggregated", r)],
    };
    for (at, r) in roles {
        // (field, period, window of recommendations scanned at each firing)
        let timers = match &r.autoscale {
            Some(AutoscaleConfig::Hpa(h)) => vec![(
                "sync-period-s",
                h.sync_period,
                h.scale_up
                    .stabilization_window
                    .max(h.scale_down.stabilization_window),
            )],
            Some(AutoscaleConfig::Keda(k)) => vec![
                ("polling-interval-s", k.polling_interval, SimDuration::ZERO),
                (
                    "sync-period-s",
                    k.sync_period,
                    k.scale_up
                        .stabilization_window
                        .max(k.scale_down.stabilization_window),
                ),
            ],
            Some(AutoscaleConfig::SlaPlanner(s)) => {
                vec![(
                    "adjustment-interval-s",
                    s.adjustment_interval,
                    SimDuration::ZERO,
                )]
            }
            None => continue,
        };
        for (key, period, window) in timers {
            let p = period.as_nanos().max(1);
            let firings = max_duration.as_nanos() / p;
            let scanned = 1 + window.as_nanos() / p;
            let work = firings.saturating_mul(scanned);
            if work > MAX_TIMER_WORK {
                return Err(v.invalid(
                    &format!("{at}.autoscale.{key}"),
                    format!(
                        "{} s fires {firings} times within simulation.max-duration-s {} s, scanning {scanned} recommendations (stabilization window {} s) each time: {work} steps, over the limit of {MAX_TIMER_WORK}; lengthen the period or shorten max-duration-s or the window",
                        period.as_secs_f64(),
                        max_duration.as_secs_f64(),
                        window.as_secs_f64(),
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses a deployment of more than [`MAX_INSTANCES`] instances (each role's
/// replicas, or its autoscaler's `max-replicas`, together), naming the largest role.
fn check_instances(v: &Validator, topology: &Topology) -> Result<(), ScenarioError> {
    let roles: Vec<(&str, &super::RoleConfig)> = match topology {
        Topology::Disaggregated { prefill, decode } => vec![
            ("deployment.prefill", prefill),
            ("deployment.decode", decode),
        ],
        Topology::Aggregated(r) => vec![("deployment.aggregated", r)],
    };
    let most = |r: &super::RoleConfig| {
        r.autoscale
            .as_ref()
            .map_or(r.replicas, |a| a.max_replicas().max(r.replicas))
    };
    let total: u64 = roles.iter().map(|(_, r)| u64::from(most(r))).sum();
    if total > u64::from(MAX_INSTANCES) {
        let (at, r) = roles
            .iter()
            .max_by_key(|(_, r)| most(r))
            .expect("a topology has a role");
        let key = if r.autoscale.is_some() {
            "autoscale.max-replicas"
        } else {
            "replicas"
        };
        return Err(v.invalid(
            &format!("{at}.{key}"),
            format!(
                "the deployment would hold {total} instances, over the limit of {MAX_INSTANCES} (instance ids are 16-bit); got {}",
                most(r)
            ),
        ));
    }
    Ok(())
}
