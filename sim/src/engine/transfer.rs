//! KV transfer from prefill to decode instances, and joining the decode batch.

use super::*;

impl Simulation<'_> {
    // ----- KV transfer ----------------------------------------------------------------------

    /// Start moving a request's KV from its prefill to its decode instance. With
    /// layer-wise transfer and the final prefill step's start known, the layers computed
    /// during that step stream while it runs (bounded by the link), so only the rest
    /// moves after it; otherwise the connector's setup comes first.
    pub(super) fn start_transfer(&mut self, id: RequestId, final_step_start: Option<SimTime>) {
        self.reqs[id.0 as usize].phase = Phase::Transferring;
        match (self.sc.kv_transfer.layerwise, final_step_start) {
            (true, Some(start)) => self.begin_flow(id, Some(start)),
            _ => {
                let at = self.now + self.sc.kv_transfer.setup;
                self.queue.push(at, Event::TransferStart(id));
            }
        }
    }

    pub(super) fn on_transfer_start(&mut self, id: RequestId) {
        self.begin_flow(id, None);
    }

    pub(super) fn begin_flow(&mut self, id: RequestId, overlapped_since: Option<SimTime>) {
        let now = self.now;
        let r = &mut self.reqs[id.0 as usize];
        r.transfer_start = Some(overlapped_since.unwrap_or(now));
        self.transfer_skipped_tokens += u64::from(r.transfer_skipped_tokens);
        let p = &self.insts[r.prefill_instance.expect("routed").0 as usize];
        let d = &self.insts[r.decode_instance.expect("routed").0 as usize];
        let same_node =
            !self.sc.kv_transfer.force_rdma && !p.multi_node && !d.multi_node && p.node == d.node;
        let (src, dst) = if same_node {
            (p.ports.local_out, d.ports.local_in)
        } else {
            (p.ports.nic_out, d.ports.nic_in)
        };
        let bytes = self.kv_bytes_per_token
            * (r.context_after_prefill() - u64::from(r.transfer_skipped_tokens)) as f64;
        let link = self.net.capacity(src).min(self.net.capacity(dst));
        let (remaining, not_before) = match overlapped_since {
            Some(start) => {
                // All layers but the last could stream during the final step.
                let overlapped = now.since(start).as_secs_f64() * link;
                let streamable = bytes * (self.layers - 1.0) / self.layers;
                let last_layer = SimDuration::from_secs_f64(bytes / self.layers / link);
                (bytes - overlapped.min(streamable), now + last_layer)
            }
            None => (bytes, now),
        };
        let generation = self.net.start(now, id, src, dst, remaining, not_before);
        self.arm_transfer_timer(generation);
    }

    pub(super) fn arm_transfer_timer(&mut self, generation: u64) {
        if let Some(t) = self.net.next_completion() {
            self.queue
                .push(t.max(self.now), Event::TransferTimer { generation });
        }
    }

    pub(super) fn on_transfer_timer(
        &mut self,
        generation: u64,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        if generation != self.net.generation() {
            return; // the flow set changed since this timer was set
        }
        let done = self.net.finish_due(self.now);
        let generation = self.net.generation();
        for id in done {
            self.transfer_done(id, sink);
        }
        // Handlers above may have started flows (and armed timers); arm for this set too.
        if self.net.generation() == generation {
            self.arm_transfer_timer(generation);
        }
    }

    pub(super) fn transfer_done(&mut self, id: RequestId, sink: &mut dyn FnMut(&RequestRecord)) {
        let now = self.now;
        let r = &mut self.reqs[id.0 as usize];
        r.transfer_ns += now.since(r.transfer_start.expect("started")).as_nanos();
        let p = r.prefill_instance.expect("routed");
        let d = r.decode_instance.expect("routed");
        // The prefill instance frees the KV it sent (its cache keeps the prefix).
        let sent = u64::from(r.blocks);
        r.blocks = r.reserved_blocks;
        r.reserved_blocks = 0;
        r.first_token.get_or_insert(now);
        r.last_token = Some(now);
        let pi = &mut self.insts[p.0 as usize];
        pi.give_blocks(sent);
        pi.release_prefix(&r.prefix_keys, &mut r.refs_prefill);
        pi.unassign(r.input_tokens);
        let di = &mut self.insts[d.0 as usize];
        di.reserved_inflight -= 1;
        di.publish_prompt(&r.prefix_keys, &mut r.refs_local, &mut r.blocks);
        if r.generated >= r.output_tokens {
            let blocks = u64::from(r.blocks);
            r.blocks = 0;
            di.give_blocks(blocks);
            di.release_prefix(&r.prefix_keys, &mut r.refs_local);
            self.wake(p);
            self.finish(id, d, sink);
            return;
        }
        r.phase = Phase::AwaitingDecodeSlot;
        di.slot_wait.push_back(id);
        // Freed prefill KV may unblock requests waiting there.
        self.wake(p);
        self.admit_decoders(d);
    }

    /// Move requests whose KV has arrived into the decode batch while slots are free.
    pub(super) fn admit_decoders(&mut self, d: InstanceId) {
        let inst = &mut self.insts[d.0 as usize];
        let mut any = false;
        while inst.has_slot() {
            let Some(id) = inst.slot_wait.pop_front() else {
                break;
            };
            inst.join_decode(id, &mut self.reqs[id.0 as usize]);
            any = true;
        }
        if any {
            self.wake(d);
        }
    }
}
