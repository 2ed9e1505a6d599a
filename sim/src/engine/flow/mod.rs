//! Serving flows: how a request moves through the deployment, one protocol per module.
//!
//! Every flow is the same four hook points, read top to bottom in its module:
//! 1. `dispatch`: route an admitted request and queue it where the protocol starts it;
//! 2. `kv_reserved`: the decode side reserved KV for its prompt (PD flows);
//! 3. `prompt_done`: its prompt was computed on a prefill-only instance (PD flows);
//! 4. `finished`: it ended on its decode instance, freeing KV and a running slot.
//!
//! plus the protocol's parameters (`decode_headroom_tokens`) and its extra work before a
//! step (`before_step`). [`Flow`] is a closed enum matched only here: the engine's
//! handlers call its methods and never ask which flow runs. A new protocol is a new
//! module and a new variant.
//!
//! Invariants: a flow changes instances only through their verbs and requests only
//! through the engine's helpers; "prefill here or remotely" is decided by the
//! simulation's one [`PdDecider`](crate::policy::pd_decider::PdDecider).

mod aggregated;
mod dynamo;
mod sglang;
mod vllm;

pub(super) use sglang::bootstrapped;

use super::{Simulation, System};
use crate::id::{InstanceId, RequestId};
use crate::policy::pd_decider::PdDecider;
use crate::scenario::{Backend, RouterKind, Scenario, Topology};
use crate::time::SimTime;

/// How requests move through the system.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// One pool computes prompts and decodes (also every baseline).
    Aggregated,
    /// SGLang PD: decode pre-allocates KV, bootstrap handshake, prefill pushes KV.
    Sglang,
    /// vLLM PD (kv-transfer connector): prefill first, decode allocates and pulls; also
    /// Dynamo with TensorRT-LLM workers (the same protocol).
    Vllm,
    /// NVIDIA Dynamo: decode worker decides local or remote prefill; global prefill
    /// queue pulled by prefill workers.
    Dynamo,
}

impl Flow {
    /// The flow of `system` of scenario `sc`, and its PD decider.
    pub(super) fn of(sc: &Scenario, system: System) -> (Flow, PdDecider) {
        match (system, &sc.topology) {
            (System::Main, Topology::Disaggregated { decode, .. }) => {
                // A GAIE endpoint picker in front of the decode pool brings llm-d's
                // prefix-based PD decider; Dynamo's worker has its own thresholds.
                let picker = if decode.router == RouterKind::Gaie {
                    PdDecider::prefix(sc.routing.gaie.non_cached_tokens)
                } else {
                    PdDecider::never()
                };
                match sc.backend {
                    Backend::Sglang => (Flow::Sglang, picker),
                    // Dynamo with TensorRT-LLM workers runs the protocol of the vLLM
                    // flow: its prefill router sends the request to a prefill worker,
                    // which runs it synchronously and returns its transfer metadata; then
                    // to a decode worker, whose capacity scheduler allocates KV for it
                    // ("disagg generation init") and which pulls the KV by NIXL (Dynamo
                    // `docs/design_docs/disagg_serving.md`, "Router Orchestration";
                    // `DisaggGenerationInit` in TensorRT-LLM's `capacityScheduler.cpp`).
                    // Dynamo has no conditional (local) prefill for TensorRT-LLM workers.
                    Backend::Vllm | Backend::Trtllm => (Flow::Vllm, picker),
                    Backend::Dynamo => (Flow::Dynamo, PdDecider::dynamo(&sc.dynamo)),
                }
            }
            (System::Main, Topology::Aggregated(_)) | (System::Baseline, _) => {
                (Flow::Aggregated, PdDecider::never())
            }
        }
    }

    /// Whether the flow routes requests with the router of the prefill (or aggregated)
    /// pool and with that of the decode pool: a router it never asks is kept out of the
    /// engine's routing updates.
    pub(super) fn routed_pools(self) -> [bool; 2] {
        match self {
            Flow::Aggregated => [true, false],
            Flow::Sglang | Flow::Vllm => [true, true],
            // Prefill workers pull from the global prefill queue.
            Flow::Dynamo => [false, true],
        }
    }

    /// Hook 1: route an admitted request and queue it where the flow starts it. Returns
    /// false (and changes nothing) when a role it needs has no ready replica.
    pub(super) fn dispatch(self, sim: &mut Simulation, id: RequestId) -> bool {
        match self {
            Flow::Aggregated => aggregated::dispatch(sim, id),
            Flow::Sglang => sglang::dispatch(sim, id),
            Flow::Vllm => vllm::dispatch(sim, id),
            Flow::Dynamo => dynamo::dispatch(sim, id),
        }
    }

    /// Decode tokens kept free per request holding KV on a decode instance before it
    /// reserves for another.
    pub(super) fn decode_headroom_tokens(self) -> u64 {
        match self {
            Flow::Sglang => sglang::DECODE_HEADROOM_TOKENS,
            Flow::Aggregated | Flow::Vllm | Flow::Dynamo => 0,
        }
    }

    /// Hook 2: decode instance KV was reserved for request `id`.
    pub(super) fn kv_reserved(self, sim: &mut Simulation, id: RequestId) {
        match self {
            Flow::Sglang => sglang::kv_reserved(sim, id),
            Flow::Vllm => vllm::kv_reserved(sim, id),
            Flow::Dynamo => dynamo::kv_reserved(sim, id),
            Flow::Aggregated => unreachable!("aggregated serving reserves no remote KV"),
        }
    }

    /// Hook 3: request `id`'s prompt was computed on a prefill-only instance, in a final
    /// step that started at `step_start`.
    pub(super) fn prompt_done(self, sim: &mut Simulation, id: RequestId, step_start: SimTime) {
        match self {
            Flow::Sglang => sglang::prompt_done(sim, id, step_start),
            Flow::Vllm => vllm::prompt_done(sim, id),
            Flow::Dynamo => dynamo::prompt_done(sim, id, step_start),
            Flow::Aggregated => unreachable!("no prefill-only instances when aggregated"),
        }
    }

    /// Hook 4: a request ended on instance `d` (its KV there already freed).
    pub(super) fn finished(self, sim: &mut Simulation, d: InstanceId) {
        match self {
            Flow::Aggregated => {}
            Flow::Sglang | Flow::Vllm | Flow::Dynamo => pd_finished(sim, d),
        }
    }

    /// Whether decode instances compute prompts by design (not only recomputes): the
    /// planner's capacity bound counts their prefill capacity then.
    pub(super) fn decode_computes_prompts(self) -> bool {
        match self {
            // Dynamo's decode workers prefill short prompts locally.
            Flow::Dynamo => true,
            Flow::Aggregated | Flow::Sglang | Flow::Vllm => false,
        }
    }

    /// Work of the flow before instance `i` forms a step.
    pub(super) fn before_step(self, sim: &mut Simulation, i: InstanceId) {
        match self {
            Flow::Dynamo => dynamo::before_step(sim, i),
            Flow::Aggregated | Flow::Sglang | Flow::Vllm => {}
        }
    }
}

/// PD flows: a request ending on decode instance `d` frees KV (requests waiting for a
/// reservation may get it) and a running slot (requests whose KV arrived may join).
fn pd_finished(sim: &mut Simulation, d: InstanceId) {
    sim.try_reserve(d);
    sim.admit_decoders(d);
}
