//! KV transfer from prefill to decode instances.

use super::*;

impl Simulation<'_> {
    // ----- KV transfer ----------------------------------------------------------------------

    /// Start moving a request's KV from its prefill to its decode instance. With
    /// layer-wise transfer and the final prefill step's start known, the layers computed
    /// during that step stream while it runs (bounded by the link), so only the rest
    /// moves after it; otherwise the connector's setup comes first.
    pub(super) fn start_transfer(&mut self, id: RequestId, final_step_start: Option<SimTime>) {
        self.reqs[id].phase = Phase::Transferring;
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
        let r = &mut self.reqs[id];
        r.transfer_start = Some(overlapped_since.unwrap_or(now));
        self.transfer_skipped_tokens += u64::from(r.transfer_skipped_tokens);
        let p = &self.insts[r.prefill_instance.expect("routed")];
        let d = &self.insts[r.decode_instance.expect("routed")];
        let same_node = !self.sc.kv_transfer.force_rdma
            && !p.multi_node()
            && !d.multi_node()
            && p.node() == d.node();
        let (src, dst) = if same_node {
            (p.ports().local_out, d.ports().local_in)
        } else {
            (p.ports().nic_out, d.ports().nic_in)
        };
        // The transfer is sized by the prompt's KV bytes, which do not depend on the
        // layout: when prefill and decode have different TP (or run on different GPU
        // types), the connector re-shards the KV heads (each prefill rank sends the head
        // slices each decode rank owns: NIXL / Mooncake descriptors per slice, SGLang's
        // decode-side TP mapping), so every head's KV still crosses once; the extra
        // descriptors are part of `kv-transfer.setup-ms`. The flow crosses the prefill
        // instance's egress port and the decode instance's ingress port, each sized by
        // its own role's NICs x TP, so the slower side bounds it.
        let sent = r.context_after_prefill() - u64::from(r.transfer_skipped_tokens);
        // Sliding-window layers send at most their window of the context.
        let bytes = self.kv_bytes_per_token * sent as f64
            + self.kv_window.map_or(0.0, |(tokens, per_token)| {
                per_token * sent.min(tokens) as f64
            });
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
        let r = &mut self.reqs[id];
        r.transfer_ns += now.since(r.transfer_start.expect("started")).as_nanos();
        let p = r.prefill_instance.expect("routed");
        let d = r.decode_instance.expect("routed");
        r.first_token.get_or_insert(now);
        r.last_token = Some(now);
        // The prefill instance frees the KV it sent (its cache keeps the prefix); the
        // decode instance's reservation now holds it.
        self.insts[p].kv_sent(r);
        let di = &mut self.insts[d];
        di.kv_arrived(r);
        if r.generated >= r.output_tokens {
            di.release_request(r);
            self.wake(p);
            self.finish(id, d, sink);
            return;
        }
        di.await_slot(id, r);
        // Freed prefill KV may unblock requests waiting there.
        self.wake(p);
        self.admit_decoders(d);
    }
}
