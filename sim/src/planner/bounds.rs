//! Roofline capacity bounds: an optimistic request rate for a deployment unit, from step
//! costs at full batch, computed without simulating.
//!
//! # Invariants
//!
//! - The bound is deliberately optimistic: prompts are costed at the mean input length
//!   (attention cost is convex in the length, so the mean underestimates it), decode
//!   contexts at the prompt alone (no generated tokens), batches at the largest size the
//!   KV cache, `max-num-seqs` and the TPOT objective allow, KV transfers are free, and an
//!   aggregated replica overlaps its prefill and decode work perfectly.
//! - The planner's rate search never probes above the bound, so a candidate's measured
//!   maximum rate is at most its bound; pruning by the bound can therefore never remove
//!   the candidate with the best measured rate.
//! - Pure: a function of the scenario and the length statistics only.

use crate::scenario::{RoleConfig, Scenario, Topology};
use xpyd_models::{CostModel, StepShape};

/// Mean lengths of the workload's requests, measured on the probe requests.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct LengthStats {
    /// Mean prompt tokens.
    pub mean_input: f64,
    /// Mean output tokens.
    pub mean_output: f64,
}

/// Optimistic throughput of one instance of a role, requests/s, for prefill work and for
/// decode work separately.
#[derive(Copy, Clone, Debug, PartialEq)]
struct InstanceRates {
    /// Prompts per second at a full token budget.
    prefill_rps: f64,
    /// Requests' decodes per second at the largest allowed batch (infinite when requests
    /// generate a single token, which prefill produces).
    decode_rps: f64,
}

fn cost_model(sc: &Scenario, role: &RoleConfig) -> CostModel {
    sc.cost_model_for(role)
}

fn instance_rates(sc: &Scenario, role: &RoleConfig, stats: &LengthStats) -> InstanceRates {
    let cm = cost_model(sc, role);
    let input = stats.mean_input.max(1.0);
    // Prefill: one full token budget of prompts of the mean length.
    let budget = u64::from(role.engine.max_batched_tokens.max(1));
    let seqs = ((budget as f64 / input).ceil() as u32).max(1);
    let pairs = (budget as f64 * (input + 1.0) / 2.0) as u64;
    let t_p = cm.step_seconds(&StepShape {
        prefill_tokens: budget,
        prefill_seqs: seqs,
        prefill_attn_pairs: pairs,
        ..StepShape::default()
    });
    let prefill_rps = if t_p > 0.0 {
        budget as f64 / t_p / input
    } else {
        f64::INFINITY
    };
    // Decode: the largest batch KV and max-num-seqs allow whose step still meets TPOT.
    let ctx = input.ceil() as u64;
    let kv_batch = (role.memory.kv_capacity_tokens / ctx.max(1)).min(u64::from(u32::MAX));
    let b_max = (kv_batch as u32).min(role.engine.max_num_seqs).max(1);
    let step = |b: u32| {
        cm.step_seconds(&StepShape {
            decode_seqs: b,
            decode_context_tokens: u64::from(b) * ctx,
            ..StepShape::default()
        })
    };
    let slo_s = sc.slo.tpot_ms * 1e-3;
    // Step time is non-decreasing in the batch: binary search the largest b meeting TPOT.
    let (mut lo, mut hi) = (1u32, b_max);
    if step(b_max) <= slo_s {
        lo = b_max;
    } else {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if step(mid) <= slo_s {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    let b = lo;
    let t_d = step(b);
    let decode_tokens = (stats.mean_output - 1.0).max(0.0);
    let decode_rps = if decode_tokens <= 0.0 || t_d <= 0.0 {
        f64::INFINITY
    } else {
        f64::from(b) / t_d / decode_tokens
    };
    InstanceRates {
        prefill_rps,
        decode_rps,
    }
}

/// An aggregated instance that overlaps prefill and decode perfectly.
fn mixed_rps(r: InstanceRates) -> f64 {
    1.0 / (1.0 / r.prefill_rps).max(1.0 / r.decode_rps)
}

/// Optimistic rates of one instance of each role of `sc`, requests/s: `(prefill,
/// decode)` of the prefill and decode roles (PD), or of the one role twice (aggregated:
/// its prefill-only and decode-only rates).
pub fn role_rates(sc: &Scenario, stats: &LengthStats) -> (f64, f64) {
    match &sc.topology {
        Topology::Aggregated(r) => {
            let x = instance_rates(sc, r, stats);
            (x.prefill_rps, x.decode_rps)
        }
        Topology::Disaggregated { prefill, decode } => (
            instance_rates(sc, prefill, stats).prefill_rps,
            instance_rates(sc, decode, stats).decode_rps,
        ),
    }
}

/// Optimistic sustainable request rate of the scenario's deployment, requests/s.
pub fn capacity_bound(sc: &Scenario, stats: &LengthStats) -> f64 {
    match &sc.topology {
        Topology::Aggregated(r) => f64::from(r.replicas) * mixed_rps(instance_rates(sc, r, stats)),
        Topology::Disaggregated { prefill, decode } => {
            let p = instance_rates(sc, prefill, stats);
            let d = instance_rates(sc, decode, stats);
            let mut prefill_capacity = f64::from(prefill.replicas) * p.prefill_rps;
            if crate::engine::decode_computes_prompts(sc) {
                // Decode workers that prefill locally (Dynamo) add prefill capacity.
                prefill_capacity += f64::from(decode.replicas) * d.prefill_rps;
            }
            prefill_capacity.min(f64::from(decode.replicas) * d.decode_rps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn bound_scales_with_replicas_and_is_finite() {
        let text = include_str!("../../../scenarios/seed-sglang-2p1d.toml");
        let mut f: crate::scenario::ScenarioFile = toml::from_str(text).unwrap();
        let sc1 = Scenario::from_file(Path::new("a"), Path::new("."), f.clone()).unwrap();
        if let Some(d) = f.deployment.decode.as_mut() {
            d.replicas = 2;
        }
        let sc2 = Scenario::from_file(Path::new("a"), Path::new("."), f).unwrap();
        let stats = LengthStats {
            mean_input: 300.0,
            mean_output: 200.0,
        };
        let (b1, b2) = (capacity_bound(&sc1, &stats), capacity_bound(&sc2, &stats));
        assert!(b1.is_finite() && b1 > 0.0);
        assert!(b2 >= b1);
    }
}
