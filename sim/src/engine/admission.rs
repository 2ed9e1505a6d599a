//! Arrivals, admission, routing and the decode side's KV reservation.

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
            let think = self.workload.think_time();
            self.queue.push(self.now + think, Event::ClientIssue(c));
        }
    }

    pub(super) fn admit(
        &mut self,
        spec: RequestSpec,
        client: Option<u32>,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        self.collector.arrived();
        self.ensure_sampling();
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut req = Request::new(
            serial,
            self.now,
            spec.input_tokens,
            spec.output_tokens,
            client,
        );
        req.session = spec.session;
        if spec.hash_block_tokens > 0 && !spec.block_hashes.is_empty() {
            let full = (spec.input_tokens / spec.hash_block_tokens) as usize;
            req.prefix_keys = chain_keys(&spec.block_hashes, full);
            req.hash_block_tokens = spec.hash_block_tokens;
            if !self.caches_ready {
                self.caches_ready = true;
                for inst in &mut self.insts {
                    inst.ensure_cache(spec.hash_block_tokens);
                }
            }
        }
        let id = match self.free_slots.pop() {
            Some(s) => {
                self.reqs[s as usize] = req;
                RequestId(s)
            }
            None => {
                self.reqs.push(req);
                RequestId((self.reqs.len() - 1) as u32)
            }
        };
        self.live += 1;
        let total = u64::from(spec.input_tokens) + u64::from(spec.output_tokens);
        if u64::from(spec.input_tokens) > self.max_prefill_tokens || total > self.max_total_tokens {
            self.end(id, Outcome::Rejected, sink);
            return;
        }
        self.signal_arrivals
            .push_back((self.now, spec.input_tokens, spec.output_tokens));
        if !self.dispatch(id) {
            // No replica of a role it needs is ready (scale from zero): held until one is.
            self.unrouted.push_back(id);
        }
    }

    /// Whether role `side` (0: prefill or aggregated, 1: decode) has a ready replica.
    pub(super) fn any_ready(&self, side: usize) -> bool {
        let ids = if side == 0 {
            &self.prefill_ids
        } else {
            &self.decode_ids
        };
        ids.iter()
            .any(|i| self.insts[i.0 as usize].lifecycle == Lifecycle::Ready)
    }

    /// Route an admitted request and queue it where its flow starts. Returns false (and
    /// changes nothing) when a role it needs has no ready replica.
    pub(super) fn dispatch(&mut self, id: RequestId) -> bool {
        let needs_prefill_role = matches!(self.flow, Flow::Sglang | Flow::Vllm | Flow::Aggregated);
        if !self.any_ready(1) || (needs_prefill_role && !self.any_ready(0)) {
            return false;
        }
        let input = self.reqs[id.0 as usize].input_tokens;
        match self.flow {
            Flow::Aggregated => {
                let (i, _) = self.route(0, id).expect("a ready replica");
                let r = &mut self.reqs[id.0 as usize];
                r.prefill_instance = Some(i);
                r.decode_instance = Some(i);
                r.phase = Phase::Waiting;
                let inst = &mut self.insts[i.0 as usize];
                inst.assign(input);
                inst.waiting.push_back(id);
                self.wake(i);
            }
            Flow::Sglang | Flow::Vllm => {
                // The decode endpoint first: a PD decider (GAIE) may keep the prompt there.
                let (d, local) = self.route(1, id).expect("a ready replica");
                self.insts[d.0 as usize].assign(input);
                self.reqs[id.0 as usize].decode_instance = Some(d);
                if local {
                    self.prefill_on_decode(id, d);
                    return true;
                }
                let (p, _) = self.route(0, id).expect("a ready replica");
                self.reqs[id.0 as usize].prefill_instance = Some(p);
                self.insts[p.0 as usize].assign(input);
                if self.flow == Flow::Sglang {
                    // The decode server pre-allocates KV before the prefill may start.
                    self.reqs[id.0 as usize].phase = Phase::AwaitingDecodeKv;
                    self.insts[d.0 as usize].kv_wait.push_back(id);
                    self.try_reserve(d);
                } else {
                    self.reqs[id.0 as usize].phase = Phase::Waiting;
                    self.insts[p.0 as usize].waiting.push_back(id);
                    self.wake(p);
                }
            }
            Flow::Dynamo => {
                let (d, _) = self.route(1, id).expect("a ready replica");
                self.insts[d.0 as usize].assign(input);
                let dy = &self.sc.dynamo;
                let local = input <= dy.max_local_prefill_tokens
                    || self.prefill_queue.len() >= dy.max_prefill_queue as usize;
                let r = &mut self.reqs[id.0 as usize];
                r.decode_instance = Some(d);
                if local {
                    self.prefill_on_decode(id, d);
                } else {
                    r.phase = Phase::AwaitingDecodeKv;
                    self.insts[d.0 as usize].kv_wait.push_back(id);
                    self.try_reserve(d);
                }
            }
        }
        true
    }

    /// Compute the prompt on its decode instance `d` (Dynamo's local prefill, a PD
    /// decider's choice): it queues there like an aggregated request.
    pub(super) fn prefill_on_decode(&mut self, id: RequestId, d: InstanceId) {
        let r = &mut self.reqs[id.0 as usize];
        r.prefill_instance = Some(d);
        r.local_prefill = true;
        r.phase = Phase::Waiting;
        self.insts[d.0 as usize].waiting.push_back(id);
        self.wake(d);
    }

    /// Route request `id` with the router of `side` (0: prefill or aggregated, 1:
    /// decode). Returns the instance and whether the router's PD decider wants the
    /// prompt computed on that (decode) instance.
    pub(super) fn route(&mut self, side: usize, id: RequestId) -> Option<(InstanceId, bool)> {
        let all = if side == 0 {
            &self.prefill_ids
        } else {
            &self.decode_ids
        };
        // Routers see the ready replicas only (the gateway's endpoint list).
        let mut ids = std::mem::take(&mut self.route_ids);
        ids.clear();
        ids.extend(
            all.iter()
                .copied()
                .filter(|i| self.insts[i.0 as usize].lifecycle == Lifecycle::Ready),
        );
        if ids.is_empty() {
            self.route_ids = ids;
            return None;
        }
        let r = &self.reqs[id.0 as usize];
        let req = RouteRequest {
            input_tokens: r.input_tokens,
            prefix_keys: &r.prefix_keys,
            hash_block_tokens: r.hash_block_tokens,
            session: r.session,
        };
        let exact = self.routers[side].wants_cache_state();
        let mut loads = std::mem::take(&mut self.route_loads);
        loads.clear();
        loads.extend(ids.iter().map(|i| {
            let x = &self.insts[i.0 as usize];
            InstanceLoad {
                id: i.0,
                outstanding: x.outstanding,
                waiting: x.queued(),
                running: x.running(),
                kv_utilization: x.kv_utilization(),
                cached_blocks: if exact {
                    x.cache.match_len(&r.prefix_keys) as u32
                } else {
                    0
                },
                active_tokens: x.assigned_tokens,
            }
        }));
        let k = self.routers[side].route(&req, &loads, &mut self.router_rngs[side]);
        let local = self.routers[side].prefill_locally(&loads[k], &req);
        let chosen = ids[k];
        self.route_ids = ids;
        self.route_loads = loads;
        Some((chosen, local))
    }

    // ----- decode-side KV reservation -----------------------------------------------------

    /// Reserve KV on decode instance `d` for the requests waiting for it, in order.
    pub(super) fn try_reserve(&mut self, d: InstanceId) {
        loop {
            let inst = &self.insts[d.0 as usize];
            let Some(&id) = inst.kv_wait.front() else {
                break;
            };
            // The decode side needs KV for the prompt except what its own prefix cache
            // already holds (those tokens are not transferred either).
            let r = &self.reqs[id.0 as usize];
            let ctx = r.context_after_prefill();
            let hit = inst.cached_prefix(&r.prefix_keys, ctx as u32, r.hash_block_tokens);
            let shared = hit as u64 * u64::from(r.hash_block_tokens);
            let need = blocks_for(ctx - shared, inst.block_tokens())
                + inst.cache.unreferenced(&r.prefix_keys[..hit]) * inst.cache.engine_blocks();
            // SGLang keeps room for the decode growth of every request holding KV here
            // (`SGLANG_NUM_RESERVED_DECODE_TOKENS`, 512, in disaggregation/decode.py).
            let headroom = if self.flow == Flow::Sglang {
                let holders =
                    inst.running() as u64 + inst.slot_wait.len() as u64 + inst.reserved_inflight;
                holders * blocks_for(SGLANG_RESERVED_DECODE_TOKENS, inst.block_tokens())
            } else {
                0
            };
            if need + headroom > inst.available_blocks() {
                break;
            }
            let inst = &mut self.insts[d.0 as usize];
            inst.kv_wait.pop_front();
            let r = &mut self.reqs[id.0 as usize];
            inst.cache.acquire(&r.prefix_keys[..hit]);
            r.refs_local = hit as u32;
            r.transfer_skipped_tokens = shared as u32;
            let private = blocks_for(ctx - shared, inst.block_tokens());
            inst.take_blocks(private);
            inst.reserved_inflight += 1;
            r.reserved_blocks = private as u32;
            match self.flow {
                Flow::Sglang => {
                    self.reqs[id.0 as usize].phase = Phase::Bootstrapping;
                    let at = self.now + self.sc.kv_transfer.bootstrap;
                    self.queue.push(at, Event::Bootstrapped(id));
                }
                Flow::Vllm => self.start_transfer(id, None),
                Flow::Dynamo => {
                    self.reqs[id.0 as usize].phase = Phase::InPrefillQueue;
                    self.prefill_queue.push_back(id);
                    for k in 0..self.prefill_ids.len() {
                        let p = self.prefill_ids[k];
                        if self.insts[p.0 as usize].lifecycle == Lifecycle::Ready {
                            self.wake(p);
                        }
                    }
                }
                Flow::Aggregated => unreachable!("aggregated serving reserves no remote KV"),
            }
        }
    }

    pub(super) fn on_bootstrapped(&mut self, id: RequestId) {
        let r = &mut self.reqs[id.0 as usize];
        r.phase = Phase::Waiting;
        let p = r.prefill_instance.expect("routed");
        self.insts[p.0 as usize].waiting.push_back(id);
        self.wake(p);
    }
}
