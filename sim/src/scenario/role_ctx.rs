//! Role validation: a `[deployment]` role file checked against the model, its GPU and
//! engine defaults into a [`RoleConfig`] (parallelism, memory plan, engine knobs,
//! autoscaling, per-role hardware), and the backends' engine defaults.

use super::autoscale::autoscale_config;
use super::check::Validator;
use super::deployment::{
    Admission, Backend, ContextWait, EngineConfig, EngineFile, HardwareDefaults, MemoryFraction,
    Priority, RoleConfig, RoleFile, RoleHardware, RouterKind, StreamChunks,
};
use super::{AutoscaleFile, ScenarioError};
use crate::limits::{
    MAX_BLOCK_TOKENS, MAX_INSTANCES, MAX_NUM_SEQS, MAX_RESERVE_GIB, MAX_STREAM_INTERVAL,
    MAX_TOKENS, MAX_TP, MAX_WAIT_ITERS,
};
use crate::role::Role;
use xpyd_models::{Dtype, GpuSpec, MemoryPlan, ModelArch, Parallelism};

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
            spot_replicas,
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
        cfg.spot_replicas = self.v.count(
            &format!("{at}.spot-replicas"),
            spot_replicas.unwrap_or(0),
            0..=cfg.max_instances(),
        )?;
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
        let engine = self.engine(at, engine, kind, tp, par.dp)?;
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
            spot_replicas: 0,
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
        dp: u32,
    ) -> Result<EngineConfig, ScenarioError> {
        let v = self.v;
        let context_wait = self.context_wait(at, &e, dp)?;
        let stream = match e.stream_interval {
            None => StreamChunks::EveryToken,
            Some(_) if matches!(self.backend, Backend::Vllm | Backend::Dynamo) => {
                return Err(v.invalid(
                    &format!("{at}.engine.stream-interval"),
                    format!(
                        "is SGLang's --stream-interval or TensorRT-LLM's stream_interval; this deployment's backend is {} (vLLM workers), which streams every token",
                        self.backend.name()
                    ),
                ));
            }
            Some(k) => {
                let k = v.count(
                    &format!("{at}.engine.stream-interval"),
                    k,
                    1..=MAX_STREAM_INTERVAL,
                )?;
                if self.backend == Backend::Trtllm {
                    StreamChunks::Multiples(k)
                } else {
                    StreamChunks::AfterFirst(k)
                }
            }
        };
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
            ..
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
            context_wait,
            stream,
        })
    }

    /// TensorRT-LLM's context holds from `engine.batch-wait-*` and
    /// `engine.attention-dp-*` (its defaults: `batch_wait_timeout_iters` 0, i.e. off;
    /// `attention_dp_config` `enable_balance` false, `timeout_iters` 50,
    /// `batching_wait_iters` 10, per `tensorrt_llm/llmapi/llm_args.py`).
    fn context_wait(
        &self,
        at: &str,
        e: &EngineFile,
        dp: u32,
    ) -> Result<Option<ContextWait>, ScenarioError> {
        let v = self.v;
        let batch_given =
            e.batch_wait_timeout_iters.is_some() || e.batch_wait_max_tokens_ratio.is_some();
        let adp_given = e.attention_dp_balance.is_some()
            || e.attention_dp_timeout_iters.is_some()
            || e.attention_dp_batching_wait_iters.is_some();
        if (batch_given || adp_given) && self.backend != Backend::Trtllm {
            let key = if batch_given {
                "batch-wait-timeout-iters"
            } else {
                "attention-dp-balance"
            };
            return Err(v.invalid(
                &format!("{at}.engine.{key}"),
                format!(
                    "is a TensorRT-LLM setting; this deployment's backend is {}",
                    self.backend.name()
                ),
            ));
        }
        let iters = |key: &str, x: Option<u32>, default: u32| {
            v.count(
                &format!("{at}.engine.{key}"),
                x.unwrap_or(default),
                0..=MAX_WAIT_ITERS,
            )
        };
        if dp > 1 {
            if batch_given {
                return Err(v.invalid(
                    &format!("{at}.engine.batch-wait-timeout-iters"),
                    "TensorRT-LLM does not batch-wait under DP-attention (dp > 1): use attention-dp-balance",
                ));
            }
            let timeout_iters = iters(
                "attention-dp-timeout-iters",
                e.attention_dp_timeout_iters,
                50,
            )?;
            let batching_wait_iters = iters(
                "attention-dp-batching-wait-iters",
                e.attention_dp_batching_wait_iters,
                10,
            )?;
            return Ok(e.attention_dp_balance.unwrap_or(false).then_some(
                ContextWait::AttentionDpBalance {
                    timeout_iters,
                    batching_wait_iters,
                },
            ));
        }
        if adp_given {
            return Err(v.invalid(
                &format!("{at}.engine.attention-dp-balance"),
                "needs DP-attention (dp > 1)",
            ));
        }
        let timeout_iters = iters("batch-wait-timeout-iters", e.batch_wait_timeout_iters, 0)?;
        let max_tokens_ratio = v.f64_in(
            &format!("{at}.engine.batch-wait-max-tokens-ratio"),
            e.batch_wait_max_tokens_ratio.unwrap_or(0.0),
            (0.0, 1.0),
            "",
        )?;
        // TensorRT-LLM stops waiting once the count reaches the timeout: 0 never waits.
        Ok((timeout_iters > 0).then_some(ContextWait::Batch {
            timeout_iters,
            max_tokens_ratio,
        }))
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
///   ([`sglang_chunk_tokens`]), `--page-size` 1,
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
            max_batched_tokens: sglang_chunk_tokens(gpu),
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

/// SGLang's default `--chunked-prefill-size` on `gpu`, tiered by its memory as
/// `ServerArgs._handle_gpu_memory_settings` tiers it (thresholds in MiB there, the same
/// values in GiB here): 2048 below 35 GiB, 4096 below 60 GiB, 8192 below 160 GiB (H100,
/// A100, H20, H200), 16384 above (B200). Under DP attention SGLang gives each rank
/// `chunked_prefill_size / dp_size`, so an instance's budget stays this total.
pub(crate) fn sglang_chunk_tokens(gpu: &GpuSpec) -> u32 {
    match gpu.memory_gib {
        g if g < 35.0 => 2048,
        g if g < 60.0 => 4096,
        g if g < 160.0 => 8192,
        _ => 16384,
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

#[cfg(test)]
mod tests {
    use super::sglang_chunk_tokens;
    use xpyd_models::GpuSpec;

    #[test]
    fn sglang_chunk_size_follows_its_memory_tiers() {
        let chunk = |id: &str| sglang_chunk_tokens(&GpuSpec::builtin(id).unwrap());
        // L20 (44.5 GiB) 4096; H100, A100, H20, H200 8192; B200 (178 GiB) 16384.
        assert_eq!(chunk("l20"), 4096);
        for id in ["h100", "a100", "h20", "h200"] {
            assert_eq!(chunk(id), 8192, "{id}");
        }
        assert_eq!(chunk("b200"), 16384);
        let mut small = GpuSpec::builtin("l20").unwrap();
        small.memory_gib = 24.0;
        assert_eq!(sglang_chunk_tokens(&small), 2048);
    }
}
