//! Arrivals, admission, routing and the decode side's KV reservation: the helpers the
//! serving flows (`flow/`) are written in.

use super::*;

impl Simulation<'_> {
    // ----- arrivals ---------------------------------------------------------------------

    pub(super) fn schedule_next_arrival(&mut self) {
        match self.workload.next_open() {
            Some(spec) => {
                let at = spec.arrival.max(self.now);
                self.pending = Some(spec);
                self.queue.push(at, Event::Arrival);
            }
            None => self.gen_done = true,
        }
    }

    pub(super) fn on_arrival(&mut self, sink: &mut dyn FnMut(&RequestRecord)) {
        let spec = self
            .pending
            .take()
            .expect("an Arrival event has a pending request");
        self.admit(spec, None, sink);
        self.schedule_next_arrival();
    }

    pub(super) fn on_client_issue(&mut self, client: u32, sink: &mut dyn FnMut(&RequestRecord)) {
        match self.workload.next_closed(self.now) {
            Some(spec) => self.admit(spec, Some(client), sink),
            None => self.gen_done = true,
        }
    }

    pub(super) fn client_next(&mut self, client: Option<u32>) {
        if let Some(c) = client {
            // The client sees the end of its response after the front-end time.
            let think = self.workload.think_time();
            self.queue
                .push(self.now + self.frontend + think, Event::ClientIssue(c));
        }
    }

    pub(super) fn admit(
        &mut self,
        spec: RequestSpec,
        client: Option<u32>,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        let serial = self.next_serial;
        self.next_serial += 1;
        // The first `warmup-requests` issued are simulated, not measured.
        let warmup = serial < self.warmup;
        self.collector.arrived(self.now.as_secs_f64(), warmup);
        self.ensure_sampling();
        let mut req = Request::new(
            serial,
            self.now,
            spec.input_tokens,
            spec.output_tokens,
            client,
        );
        req.session = spec.session;
        req.warmup = warmup;
        if spec.hash_block_tokens > 0 && !spec.block_hashes.is_empty() {
            let full = (spec.input_tokens / spec.hash_block_tokens) as usize;
            req.prefix_keys = chain_keys(&spec.block_hashes, full);
            req.hash_block_tokens = spec.hash_block_tokens;
            if !self.caches_ready {
                self.caches_ready = true;
                for inst in self.insts.iter_mut() {
                    inst.ensure_cache(spec.hash_block_tokens);
                }
            }
        }
        let (id, old_bytes) = match self.free_slots.pop() {
            Some(slot) => {
                let old = super::request_bytes(&self.reqs[slot]);
                self.reqs[slot] = req;
                (slot, old)
            }
            None => (self.reqs.push(req), 0),
        };
        self.hold(id, old_bytes);
        self.live += 1;
        let total = u64::from(spec.input_tokens) + u64::from(spec.output_tokens);
        if u64::from(spec.input_tokens) > self.max_prefill_tokens || total > self.max_total_tokens {
            self.end(id, Outcome::Rejected, sink);
            return;
        }
        if let Some(t) = self.timeout {
            // After every other event of that instant: finishing exactly then completes.
            self.queue
                .push_late(self.now + t, Event::Timeout(id, serial));
        }
        // Autoscaler signals only (pruned by the autoscalers' own events).
        if !self.scalers.is_empty() {
            self.signal_arrivals
                .push_back((self.now, spec.input_tokens, spec.output_tokens));
        }
        if !self.dispatch(id) {
            // No replica of a role it needs is ready (scale from zero): held until one is.
            self.unrouted.push_back(id);
        }
    }

    /// The instances of `role`'s pool: prefill (`Prefill`, and the aggregated pool for
    /// `Mixed`) or decode (`Decode`; the same pool when aggregated).
    fn pool(&self, role: Role) -> &[InstanceId] {
        match role {
            Role::Prefill | Role::Aggregated => &self.prefill_ids,
            Role::Decode => &self.decode_ids,
        }
    }

    /// Whether `role`'s pool has a ready replica.
    pub(super) fn any_ready(&self, role: Role) -> bool {
        self.pool(role).iter().any(|&i| self.insts[i].is_ready())
    }

    /// Route an admitted request: its flow queues it where the protocol starts it.
    /// Returns false (and changes nothing) when a role it needs has no ready replica.
    pub(super) fn dispatch(&mut self, id: RequestId) -> bool {
        let flow = self.flow;
        flow.dispatch(self, id)
    }

    /// Route request `id` to a ready decode instance, which now counts it. Returns the
    /// instance and whether the flow's PD decider keeps the prompt there.
    pub(super) fn route_decode(&mut self, id: RequestId) -> (InstanceId, bool) {
        let (d, believed_cached) = self.route(Role::Decode, id).expect("a ready replica");
        let r = &mut self.reqs[id];
        r.decode_instance = Some(d);
        let input = r.input_tokens;
        self.insts[d].assign(input);
        let uncached = u64::from(input).saturating_sub(believed_cached);
        (d, self.pd.prefill_locally(uncached, 0))
    }

    /// Route request `id` to a ready prefill instance, which now counts it.
    pub(super) fn route_prefill(&mut self, id: RequestId) -> InstanceId {
        let (p, _) = self.route(Role::Prefill, id).expect("a ready replica");
        let r = &mut self.reqs[id];
        r.prefill_instance = Some(p);
        let input = r.input_tokens;
        self.insts[p].assign(input);
        p
    }

    /// Queue request `id`'s prompt on instance `p` and wake it.
    pub(super) fn queue_prefill(&mut self, id: RequestId, p: InstanceId) {
        self.reqs[id].phase = Phase::Waiting;
        self.insts[p].enqueue_prefill(id);
        self.wake(p);
    }

    /// Compute the prompt on its decode instance `d` (a PD decider's choice): it queues
    /// there like an aggregated request.
    pub(super) fn prefill_on_decode(&mut self, id: RequestId, d: InstanceId) {
        let r = &mut self.reqs[id];
        r.prefill_instance = Some(d);
        r.local_prefill = true;
        self.queue_prefill(id, d);
    }

    /// Request `id` waits for KV room on decode instance `d` (FIFO).
    pub(super) fn await_decode_kv(&mut self, id: RequestId, d: InstanceId) {
        self.reqs[id].phase = Phase::AwaitingDecodeKv;
        self.insts[d].await_kv(id);
        self.try_reserve(d);
    }

    /// Route request `id` with the router of `role`'s pool. Returns the instance and the
    /// prompt tokens the router believes are cached there (for a PD decider).
    pub(super) fn route(&mut self, role: Role, id: RequestId) -> Option<(InstanceId, u64)> {
        let side = usize::from(role == Role::Decode);
        // Routers see the ready replicas only (the gateway's endpoint list).
        let r = &self.reqs[id];
        let req = RouteRequest {
            input_tokens: r.input_tokens,
            prefix_keys: &r.prefix_keys,
            hash_block_tokens: r.hash_block_tokens,
            session: r.session,
        };
        self.routing.route(side, &mut self.insts, &req)
    }

    // ----- decode-side KV reservation -----------------------------------------------------

    /// Reserve KV on decode instance `d` for the requests waiting for it, in order; the
    /// flow takes each reserved request on.
    pub(super) fn try_reserve(&mut self, d: InstanceId) {
        let flow = self.flow;
        let headroom = flow.decode_headroom_tokens();
        while let Some(id) = self.insts[d].reserve_next(&mut self.reqs, headroom) {
            flow.kv_reserved(self, id);
        }
    }
}
