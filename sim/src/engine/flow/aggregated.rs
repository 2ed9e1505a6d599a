//! Aggregated serving (one pool, also every baseline): the router picks an instance,
//! which computes the prompt and decodes on it; the first token comes from the prefill
//! step. No KV moves, so there are no `kv_reserved`/`prompt_done` hooks, and nothing
//! waits on a finish.

use crate::engine::Simulation;
use crate::id::RequestId;
use crate::instance::Role;
use crate::request::Phase;

/// Route to a ready instance and queue the prompt there.
pub(super) fn dispatch(sim: &mut Simulation, id: RequestId) -> bool {
    if !sim.any_ready(Role::Aggregated) {
        return false;
    }
    let (i, _) = sim.route(Role::Aggregated, id).expect("a ready replica");
    let r = &mut sim.reqs[id];
    r.prefill_instance = Some(i);
    r.decode_instance = Some(i);
    r.phase = Phase::Waiting;
    let input = r.input_tokens;
    let inst = &mut sim.insts[i];
    inst.assign(input);
    inst.enqueue_prefill(id);
    sim.wake(i);
    true
}
