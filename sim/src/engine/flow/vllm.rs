//! vLLM PD with a kv-transfer connector (NIXL, Mooncake, P2P NCCL behind the
//! disaggregation proxy): the proxy picks a prefill and a decode instance; prefill runs
//! first and holds the prompt's KV; then the decode instance allocates KV for it (FIFO)
//! and pulls it; the prefill instance frees it when the transfer ends.

use crate::engine::Simulation;
use crate::id::RequestId;
use crate::instance::Role;

/// Route decode then prefill; the prompt queues on the prefill instance at once.
pub(super) fn dispatch(sim: &mut Simulation, id: RequestId) -> bool {
    if !sim.any_ready(Role::Decode) || !sim.any_ready(Role::Prefill) {
        return false;
    }
    // The decode endpoint first: a PD decider (GAIE) may keep the prompt there.
    let (d, local) = sim.route_decode(id);
    if local {
        sim.prefill_on_decode(id, d);
        return true;
    }
    let p = sim.route_prefill(id);
    sim.queue_prefill(id, p);
    true
}

/// Prompt computed (KV held on the prefill instance): the decode side allocates.
pub(super) fn prompt_done(sim: &mut Simulation, id: RequestId) {
    let d = sim.reqs[id].decode_instance.expect("routed");
    sim.await_decode_kv(id, d);
}

/// KV allocated on the decode instance: it pulls the prompt's KV (after setup).
pub(super) fn kv_reserved(sim: &mut Simulation, id: RequestId) {
    sim.start_transfer(id, None);
}
