//! Client aborts: a request not finished `[workload] timeout-s` after its arrival is
//! given up by its client at that instant, as benchmark clients do (`vllm bench serve`,
//! AIPerf, inference-perf time out and close the stream; the engine then aborts it).
//!
//! Invariants:
//! - One `Timeout` event per admitted request, only when timeouts are configured, pushed
//!   with [`EventQueue::push_late`](crate::event::EventQueue::push_late): a request that
//!   finishes exactly at its timeout instant completes. A timeout whose request already
//!   ended is stale (slot serial and phase checked) and skipped by the loop.
//! - An aborted request leaves every queue, batch and transfer it is in at that instant
//!   and every KV block it holds or has reserved anywhere is freed through the
//!   instances' verbs ([`Instance::abort`], [`Instance::cancel_reservation`]); it stops
//!   counting on its instances. A step already executing keeps its duration.
//! - It ends as `timed-out` (no TTFT/TPOT/E2E) and its closed-loop client issues its next
//!   request after a think time. Its slot is recycled at once, unless an event naming it
//!   is still pending (SGLang's bootstrap, a transfer's connector setup): then it is
//!   marked `aborted` and that event, when it pops, only frees the slot ([`reap`]).
//!
//! [`Instance::abort`]: crate::instance::Instance::abort
//! [`Instance::cancel_reservation`]: crate::instance::Instance::cancel_reservation
//! [`reap`]: Simulation::reap

use super::*;

impl Simulation<'_> {
    /// Whether the timeout of serial `serial` in slot `id` is live: the slot still holds
    /// that request and it has not ended.
    pub(super) fn times_out(&self, id: RequestId, serial: u64) -> bool {
        let r = &self.reqs[id];
        r.serial == serial && r.phase != Phase::Ended && !r.aborted
    }

    /// Request `id`'s client gives up on it now: take it out of wherever it is, free its
    /// KV, end it as timed out, and wake what the freed room may unblock.
    pub(super) fn on_timeout(&mut self, id: RequestId, sink: &mut dyn FnMut(&RequestRecord)) {
        self.abort_request(id, Outcome::TimedOut, sink);
    }

    /// Take request `id` out of wherever it is, free its KV, end it with `outcome`
    /// (timed out, or lost on a failed instance), and wake what the freed room may
    /// unblock.
    pub(super) fn abort_request(
        &mut self,
        id: RequestId,
        outcome: Outcome,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        let (p, d) = self.detach(id);
        self.end(id, outcome, sink);
        self.wake_detached(p, d);
    }

    /// Take request `id` out of every queue, batch and transfer it is in and free its KV
    /// everywhere; it stops counting on its instances. Returns its prefill-only instance
    /// (until its KV left it) and its decode instance, to wake once it has ended or moved
    /// ([`Self::wake_detached`]). A pending event naming it marks it `aborted`.
    pub(super) fn detach(&mut self, id: RequestId) -> (Option<InstanceId>, Option<InstanceId>) {
        let now = self.now;
        let r = &mut self.reqs[id];
        let (p, d) = (r.prefill_instance, r.decode_instance);
        let input = r.input_tokens;
        // Queues outside the instances.
        if d.is_none()
            && let Some(k) = self.unrouted.iter().position(|&x| x == id)
        {
            self.unrouted.remove(k);
        }
        let mut flowing = false;
        match r.phase {
            Phase::InPrefillQueue => {
                let k = self.prefill_queue.iter().position(|&x| x == id);
                self.prefill_queue
                    .remove(k.expect("in the global prefill queue"));
            }
            // The handshake's event is pending: it frees the slot when it pops.
            Phase::Bootstrapping => r.aborted = true,
            // Connector setup pending (no flow yet): likewise.
            Phase::Transferring if r.transfer_start.is_none() => r.aborted = true,
            Phase::Transferring => flowing = true,
            _ => {}
        }
        // Its KV stops moving; the other flows share the freed bandwidth.
        if flowing && self.net.cancel(now, id) {
            let generation = self.net.generation();
            self.arm_transfer_timer(generation);
        }
        // Its prefill-only instance, until the KV left it.
        let r = &mut self.reqs[id];
        let prefill_only =
            p.filter(|&p| Some(p) != d && self.insts[p].role() == Role::Prefill && !r.kv_sent);
        if let Some(p) = prefill_only {
            let inst = &mut self.insts[p];
            inst.abort(id, r);
            inst.unassign(input);
        }
        // Where it decodes (the one instance when aggregated or prefilled there).
        if let Some(d) = d {
            let inst = &mut self.insts[d];
            inst.abort(id, r);
            if r.kv_reserved {
                inst.cancel_reservation(r);
            }
            inst.unassign(input);
        }
        (prefill_only, d)
    }

    /// Wake what a detached request's freed room may unblock.
    pub(super) fn wake_detached(
        &mut self,
        prefill_only: Option<InstanceId>,
        d: Option<InstanceId>,
    ) {
        if let Some(p) = prefill_only {
            self.wake(p);
            self.maybe_stop(p);
        }
        if let Some(d) = d {
            // Freed KV and a freed slot: reservations and waiting decoders may proceed.
            self.try_reserve(d);
            self.admit_decoders(d);
            self.wake(d);
            self.maybe_stop(d);
        }
    }

    /// The pending event of an aborted request popped: its slot is free now.
    pub(super) fn reap(&mut self, id: RequestId) {
        let r = &mut self.reqs[id];
        debug_assert!(r.aborted, "only aborted requests are reaped");
        r.aborted = false;
        r.phase = Phase::Ended;
        self.free_slots.push(id);
    }
}
