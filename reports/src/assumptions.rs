//! `assumptions.json`: what a run's numbers rest on, with the source of each, so that a
//! report can say which step costs are calibrated and which come from the roofline.
//!
//! Invariant: built from the scenario alone (no wall clock, no host paths beyond the
//! profile's origin as the scenario names it), so it is byte-identical for the same
//! scenario.

use serde::{Deserialize, Serialize};
use xpyd_models::StepShape;
use xpyd_sim::scenario::{Scenario, Topology};

/// One term of a step's cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// `gemm`, `attention_prefill`, ...
    pub term: String,
    /// Its time, ms.
    pub ms: f64,
    /// `calibrated`, `extrapolated`, `borrowed`, `roofline`, `partial`, `assumed` or
    /// `none`.
    pub source: String,
}

/// The predicted cost of one representative step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepAssumption {
    /// The step, in words.
    pub step: String,
    /// Total time, ms.
    pub ms: f64,
    /// Per term.
    pub terms: Vec<Term>,
}

/// One role's engine and its representative steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleAssumption {
    /// `prefill`, `decode`, `aggregated` or `baseline`.
    pub role: String,
    /// TP degree.
    pub tp: u32,
    /// Instances.
    pub replicas: u32,
    /// KV capacity per instance, tokens.
    pub kv_capacity_tokens: u64,
    /// Token budget per step.
    pub max_batched_tokens: u32,
    /// Most running sequences.
    pub max_num_seqs: u32,
    /// Steps whose costs are shown.
    pub steps: Vec<StepAssumption>,
    /// The role's own GPU and servers, written only when they differ from `[hardware]`
    /// (heterogeneous PD): `h20, 8 GPUs per node, RDMA 400 Gbit/s per NIC, ...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
}

/// Everything `assumptions.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assumptions {
    /// Model id.
    pub model: String,
    /// GPU id.
    pub gpu: String,
    /// Weight format.
    pub weights: String,
    /// KV-cache format.
    pub kv_cache: String,
    /// Calibration profile in use (`builtin:h100`, a path), `None` for the roofline.
    pub profile: Option<String>,
    /// Roofline efficiencies applied where a term has no measurement, as `name=value`.
    pub roofline_efficiencies: Vec<String>,
    /// The engine layer above the kernels: where it comes from and its parameters
    /// (`name=value`; none without a layer). With one, its overheads replace the
    /// roofline's `step-overhead-ms` and `per-seq-overhead-ms`.
    #[serde(default)]
    pub engine_layer: Vec<String>,
    /// KV transfer between prefill and decode, in words.
    pub kv_transfer: String,
    /// Roles.
    pub roles: Vec<RoleAssumption>,
}

const PREFILL_TOKENS: u64 = 2048;
const DECODE_SEQS: u32 = 32;
const DECODE_CONTEXT: u64 = 2048;

impl Assumptions {
    /// The assumptions of a scenario's deployment and baseline.
    pub fn of(sc: &Scenario) -> Assumptions {
        let mut roles: Vec<(&str, &xpyd_sim::scenario::RoleConfig)> = match &sc.topology {
            Topology::Disaggregated { prefill, decode } => {
                vec![("prefill", prefill), ("decode", decode)]
            }
            Topology::Aggregated(r) => vec![("aggregated", r)],
        };
        if let Some(b) = &sc.baseline {
            roles.push(("baseline", b));
        }
        let prefill = StepShape {
            prefill_tokens: PREFILL_TOKENS,
            prefill_seqs: 1,
            prefill_attn_pairs: PREFILL_TOKENS * (PREFILL_TOKENS + 1) / 2,
            ..StepShape::default()
        };
        let decode = StepShape {
            decode_seqs: DECODE_SEQS,
            decode_context_tokens: u64::from(DECODE_SEQS) * DECODE_CONTEXT,
            ..StepShape::default()
        };
        let mut profile = None;
        let roles = roles
            .into_iter()
            .map(|(role, r)| {
                let cm = sc.cost_model_for(r);
                if profile.is_none() {
                    profile = cm.profile_origin().map(str::to_string);
                }
                let mut shapes = Vec::new();
                if role != "decode" {
                    shapes.push((format!("prefill of {PREFILL_TOKENS} new tokens"), prefill));
                }
                if role != "prefill" {
                    shapes.push((
                        format!("decode of {DECODE_SEQS} sequences at {DECODE_CONTEXT} tokens of context"),
                        decode,
                    ));
                }
                let steps = shapes
                    .into_iter()
                    .map(|(step, shape)| {
                        let c = cm.step(&shape);
                        let b = c.breakdown;
                        let ms = [
                            b.gemm_s,
                            b.attention_prefill_s,
                            b.attention_decode_s,
                            b.memory_bound_s,
                            b.allreduce_s,
                            b.lm_head_s,
                            b.overhead_s,
                        ];
                        let terms = c
                            .sources
                            .as_pairs()
                            .iter()
                            .zip(ms)
                            .map(|((term, src), s)| Term {
                                term: (*term).to_string(),
                                ms: round6(s * 1e3),
                                source: src.label().to_string(),
                            })
                            .collect();
                        StepAssumption {
                            step,
                            ms: round6(c.seconds * 1e3),
                            terms,
                        }
                    })
                    .collect();
                RoleAssumption {
                    role: role.to_string(),
                    tp: r.tp,
                    replicas: r.replicas,
                    kv_capacity_tokens: r.memory.kv_capacity_tokens,
                    max_batched_tokens: r.engine.max_batched_tokens,
                    max_num_seqs: r.engine.max_num_seqs,
                    steps,
                    gpu: r.hardware.as_ref().map(|h| {
                        format!(
                            "{}, {} GPUs per node, intra-node {} GB/s, RDMA {} Gbit/s per NIC, {}",
                            h.gpu.id,
                            h.gpus_per_node,
                            h.intra_node_gb_s,
                            h.nic_gbit_s,
                            h.gpu_hour_usd
                                .map_or("no price".to_string(), |p| format!("{p} USD per GPU-hour"))
                        )
                    }),
                }
            })
            .collect();
        let k = &sc.kv_transfer;
        let e = &sc.efficiency;
        Assumptions {
            model: sc.model.id.clone(),
            gpu: sc.gpu.id.clone(),
            weights: sc.weights.name().to_string(),
            kv_cache: sc.kv_cache.name().to_string(),
            profile,
            roofline_efficiencies: vec![
                format!("gemm-flops={}", e.gemm_flops),
                format!("attention-flops={}", e.attention_flops),
                format!("memory-bandwidth={}", e.memory_bandwidth),
                format!("allreduce-bandwidth={}", e.allreduce_bandwidth),
                format!("step-overhead-ms={}", e.step_overhead_s * 1e3),
                format!("per-seq-overhead-ms={}", e.per_seq_overhead_s * 1e3),
            ],
            engine_layer: engine_layer(sc),
            kv_transfer: format!(
                "{} GPUs per node; NVLink {} GB/s within a node, RDMA {} Gbit/s per NIC between nodes{}; efficiency {}; bootstrap {} ms, setup {} ms; {}",
                k.gpus_per_node,
                k.intra_node_gb_s,
                k.nic_gbit_s,
                if k.force_rdma {
                    " (forced for every transfer)"
                } else {
                    ""
                },
                k.efficiency,
                k.bootstrap_ms,
                k.setup_ms,
                if k.layerwise {
                    "layer-wise (overlaps prefill)"
                } else {
                    "after prefill"
                }
            ),
            roles,
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("assumptions serialise");
        s.push('\n');
        s
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// `assumptions.json`'s `engine_layer`: the origin, then each parameter.
fn engine_layer(sc: &Scenario) -> Vec<String> {
    let l = &sc.engine_layer;
    let mut out = vec![format!("origin={}", l.origin)];
    if let Some(p) = &l.params {
        out.extend([
            format!("prefill-scale={}", p.prefill_scale),
            format!("decode-scale={}", p.decode_scale),
            format!("step-overhead-ms={}", p.step_overhead_ms),
            format!("per-seq-overhead-us={}", p.per_seq_overhead_us),
            format!("cpu-overlap={}", p.cpu_overlap),
            format!("frontend-ms={}", p.frontend_ms),
        ]);
        if let Some(b) = p.max_batched_tokens {
            out.push(format!("max-batched-tokens={b}"));
        }
        // Written only when set, so layers without them read as before.
        if p.layer_floor_us != 0.0 {
            out.push(format!("layer-floor-us={}", p.layer_floor_us));
        }
        if p.allreduce_latency_us != 0.0 {
            out.push(format!("allreduce-latency-us={}", p.allreduce_latency_us));
        }
        if p.async_scheduling {
            out.push("async-scheduling=true".to_owned());
        }
        if p.moe_eager_layer_us != 0.0 {
            out.push(format!("moe-eager-layer-us={}", p.moe_eager_layer_us));
        }
        if p.mxfp4_compute_scale != 1.0 || p.mxfp4_memory_scale != 1.0 || p.mxfp4_layer_us != 0.0 {
            out.push(format!(
                "mxfp4-compute-scale={} mxfp4-memory-scale={} mxfp4-layer-us={}",
                p.mxfp4_compute_scale, p.mxfp4_memory_scale, p.mxfp4_layer_us
            ));
        }
        if p.fp8_moe_roofline {
            out.push(format!(
                "fp8-moe-memory-scale={} fp8-moe-layer-us={}",
                p.fp8_moe_memory_scale, p.fp8_moe_layer_us
            ));
        }
    }
    out
}
