//! NVIDIA Dynamo disaggregated serving: the router (KV-aware or another) picks a decode
//! worker; the worker prefills locally when its PD decider says so (short prompt, or a
//! long prefill queue); otherwise it reserves KV and enqueues a remote prefill in the
//! global prefill queue, which prefill workers pull while their own queue holds less
//! than one step's token budget; the prefill worker then writes the KV into the
//! reservation (NIXL).

use crate::engine::Simulation;
use crate::id::{InstanceId, RequestId};
use crate::instance::Role;
use crate::request::Phase;
use crate::time::SimTime;

/// Route to a decode worker, which decides local or remote prefill.
pub(super) fn dispatch(sim: &mut Simulation, id: RequestId) -> bool {
    if !sim.any_ready(Role::Decode) {
        return false;
    }
    let (d, _) = sim.route_decode(id);
    let input = u64::from(sim.reqs[id].input_tokens);
    if sim.pd.prefill_locally(input, sim.prefill_queue.len()) {
        sim.prefill_on_decode(id, d);
    } else {
        sim.await_decode_kv(id, d);
    }
    true
}

/// KV reserved on the decode worker: the remote prefill enters the global queue, and
/// every ready prefill worker looks at it.
pub(super) fn kv_reserved(sim: &mut Simulation, id: RequestId) {
    sim.reqs[id].phase = Phase::InPrefillQueue;
    sim.prefill_queue.push_back(id);
    for k in 0..sim.prefill_ids.len() {
        let p = sim.prefill_ids[k];
        if sim.insts[p].is_ready() {
            sim.wake(p);
        }
    }
}

/// Before a ready prefill worker forms a step it pulls from the global queue while its
/// own queue holds less than a step's token budget.
pub(super) fn before_step(sim: &mut Simulation, p: InstanceId) {
    let inst = &sim.insts[p];
    if inst.role() != Role::Prefill || !inst.is_ready() {
        return;
    }
    let budget = u64::from(inst.engine().max_batched_tokens);
    // Tokens already queued here, summed once; each pulled prompt adds its own.
    let mut queued = inst.queued_prefill_tokens(&sim.reqs);
    while queued < budget {
        let Some(id) = sim.prefill_queue.pop_front() else {
            break;
        };
        let r = &mut sim.reqs[id];
        r.prefill_instance = Some(p);
        r.phase = Phase::Waiting;
        queued += u64::from(r.prefill_target);
        let tokens = r.input_tokens;
        let inst = &mut sim.insts[p];
        inst.assign(tokens);
        inst.enqueue_prefill(id);
    }
}

/// Prompt computed on the prefill worker: its KV is written into the reservation.
pub(super) fn prompt_done(sim: &mut Simulation, id: RequestId, step_start: SimTime) {
    sim.start_transfer(id, Some(step_start));
}
