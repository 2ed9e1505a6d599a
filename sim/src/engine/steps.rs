//! Engine steps: waking instances, forming and finishing steps, prompt completion.

use super::*;

impl Simulation<'_> {
    // ----- steps --------------------------------------------------------------------------

    pub(super) fn wake(&mut self, i: InstanceId) {
        let inst = &mut self.insts[i.0 as usize];
        if !inst.busy && !inst.wake_pending {
            inst.wake_pending = true;
            self.queue.push(self.now, Event::TryStep(i));
        }
    }

    pub(super) fn try_start_step(&mut self, i: InstanceId) {
        if self.insts[i.0 as usize].busy {
            return;
        }
        let inst = &self.insts[i.0 as usize];
        if self.flow == Flow::Dynamo
            && inst.role == Role::Prefill
            && inst.lifecycle == Lifecycle::Ready
        {
            self.pull_remote_prefills(i);
        }
        let mut preempted = std::mem::take(&mut self.scratch);
        let mut any_preempted = false;
        let plan = loop {
            // Slots freed since the last step (finishes, preemptions) go to requests whose
            // KV is already here before any new prefill is admitted.
            self.admit_decoders(i);
            preempted.clear();
            let plan = self.insts[i.0 as usize].plan_step(self.now, &mut self.reqs, &mut preempted);
            any_preempted |= !preempted.is_empty();
            // Preemption that emptied the batch changed what can run: plan again. Each
            // round preempts at least one request, so this ends.
            if plan.is_some() || preempted.is_empty() {
                break plan;
            }
        };
        self.scratch = preempted;
        let Some(plan) = plan else { return };
        let inst = &mut self.insts[i.0 as usize];
        let seconds = inst
            .cost
            .step_seconds_memo(&plan.shape, &mut self.memos[inst.memo]);
        let dur = SimDuration::from_secs_f64(seconds);
        inst.busy = true;
        inst.plan = plan;
        self.queue.push(self.now + dur, Event::StepDone(i));
        if any_preempted {
            // Their slots are free now; waiting decoders join when this step ends.
            self.admit_decoders(i);
        }
    }

    /// Dynamo prefill workers pull from the global prefill queue while their own queue
    /// holds less than a step's token budget.
    pub(super) fn pull_remote_prefills(&mut self, p: InstanceId) {
        // Tokens already queued here, summed once; each pulled prompt adds its own.
        let inst = &self.insts[p.0 as usize];
        let budget = u64::from(inst.engine.max_batched_tokens);
        let mut queued: u64 = inst
            .waiting
            .iter()
            .map(|r| u64::from(self.reqs[r.0 as usize].prefill_target))
            .sum();
        while queued < budget {
            let Some(id) = self.prefill_queue.pop_front() else {
                break;
            };
            let r = &mut self.reqs[id.0 as usize];
            r.prefill_instance = Some(p);
            r.phase = Phase::Waiting;
            queued += u64::from(r.prefill_target);
            let tokens = r.input_tokens;
            let inst = &mut self.insts[p.0 as usize];
            inst.assign(tokens);
            inst.waiting.push_back(id);
        }
    }

    pub(super) fn on_step_done(&mut self, i: InstanceId, sink: &mut dyn FnMut(&RequestRecord)) {
        let now = self.now;
        let inst = &mut self.insts[i.0 as usize];
        inst.busy = false;
        let plan = std::mem::take(&mut inst.plan);
        let dur = now.since(plan.start).as_nanos();
        inst.busy_ns += dur;
        inst.steps += 1;
        inst.window.busy_ns += dur;
        inst.window.prefill_tokens += plan.shape.prefill_tokens;
        // Decode first: requests that finish their prompt in this step join the decode set
        // only after it advanced.
        if plan.decode {
            let n = inst.decode.len() as u64;
            let joined = inst.new_decoders.len() as u64;
            let gap_ms = now.since(inst.last_decode_end).as_millis_f64();
            self.collector.itl(gap_ms, n - joined);
            for k in 0..inst.new_decoders.len() {
                let r = &mut self.reqs[inst.new_decoders[k].0 as usize];
                let last = r
                    .last_token
                    .expect("a decoding request has emitted a token");
                self.collector.itl(now.since(last).as_millis_f64(), 1);
            }
            inst.new_decoders.clear();
            inst.decode.advance();
            inst.last_decode_end = now;
            inst.window.decode_tokens += n;
            inst.join_pending(&mut self.reqs);
            while let Some(id) = self.insts[i.0 as usize].pop_finished() {
                let inst = &mut self.insts[i.0 as usize];
                let r = &mut self.reqs[id.0 as usize];
                r.generated = r.output_tokens;
                r.last_token = Some(now);
                inst.leave_decode(r);
                self.finish(id, i, sink);
            }
        }
        for (id, chunk) in plan.chunks {
            let r = &mut self.reqs[id.0 as usize];
            r.prefilled += chunk;
            if r.prefilled == r.prefill_target {
                self.prompt_done(i, id, plan.start, sink);
            }
        }
        self.try_start_step(i);
        self.maybe_stop(i);
    }

    /// A request's prompt (or recompute) finished on instance `i` at the end of a step
    /// that started at `step_start`.
    pub(super) fn prompt_done(
        &mut self,
        i: InstanceId,
        id: RequestId,
        step_start: SimTime,
        sink: &mut dyn FnMut(&RequestRecord),
    ) {
        let now = self.now;
        let inst = &mut self.insts[i.0 as usize];
        let pos = inst
            .prefilling
            .iter()
            .position(|&x| x == id)
            .expect("prefilling request");
        inst.prefilling.remove(pos);
        let r = &mut self.reqs[id.0 as usize];
        r.generated += 1;
        match inst.role {
            Role::Mixed | Role::Decode => {
                r.first_token.get_or_insert(now);
                r.last_token = Some(now);
                inst.publish_prompt(&r.prefix_keys, &mut r.refs_local, &mut r.blocks);
                if r.generated >= r.output_tokens {
                    let blocks = u64::from(r.blocks);
                    r.blocks = 0;
                    inst.give_blocks(blocks);
                    inst.release_prefix(&r.prefix_keys, &mut r.refs_local);
                    self.finish(id, i, sink);
                } else {
                    // The request keeps its running slot: it moves from prefill to decode.
                    inst.join_decode(id, r);
                }
            }
            Role::Prefill => {
                inst.publish_prompt(&r.prefix_keys, &mut r.refs_prefill, &mut r.blocks);
                match self.flow {
                    Flow::Sglang | Flow::Dynamo => self.start_transfer(id, Some(step_start)),
                    Flow::Vllm => {
                        r.phase = Phase::AwaitingDecodeKv;
                        let d = r.decode_instance.expect("routed");
                        self.insts[d.0 as usize].kv_wait.push_back(id);
                        self.try_reserve(d);
                    }
                    Flow::Aggregated => unreachable!("no prefill-only instances when aggregated"),
                }
            }
        }
    }
}
