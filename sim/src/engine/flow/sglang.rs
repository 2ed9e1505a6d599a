//! SGLang PD (`sglang.srt.disaggregation`): the router (mini load balancer) picks a
//! decode and a prefill server for each request. The decode server pre-allocates the
//! prompt's KV first, keeping room for the decode growth of the requests it holds; then
//! the bootstrap handshake with the prefill server runs; then the prefill server computes
//! the prompt and pushes its KV (layer-wise when configured); the first token reaches the
//! user when the KV has arrived.

use crate::engine::Simulation;
use crate::event::Event;
use crate::id::RequestId;
use crate::instance::Role;
use crate::request::Phase;
use crate::time::SimTime;

/// Decode tokens SGLang's decode server keeps free per request holding KV before it
/// pre-allocates for another (`SGLANG_NUM_RESERVED_DECODE_TOKENS`, 512, in
/// `disaggregation/decode.py`).
pub(super) const DECODE_HEADROOM_TOKENS: u64 = 512;

/// Route decode then prefill; the decode server pre-allocates before prefill may start.
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
    sim.route_prefill(id);
    sim.await_decode_kv(id, d);
    true
}

/// KV pre-allocated: the bootstrap handshake with the prefill server runs.
pub(super) fn kv_reserved(sim: &mut Simulation, id: RequestId) {
    sim.reqs[id].phase = Phase::Bootstrapping;
    let at = sim.now + sim.sc.kv_transfer.bootstrap;
    sim.queue.push(at, Event::Bootstrapped(id));
}

/// Handshake done: the prompt queues on its prefill server.
pub(in crate::engine) fn bootstrapped(sim: &mut Simulation, id: RequestId) {
    let r = &mut sim.reqs[id];
    let p = r.prefill_instance.expect("routed");
    sim.queue_prefill(id, p);
}

/// Prompt computed: the prefill server pushes the KV into the reservation.
pub(super) fn prompt_done(sim: &mut Simulation, id: RequestId, step_start: SimTime) {
    sim.start_transfer(id, Some(step_start));
}
