//! Engine steps: waking instances, forming and finishing steps, prompt completion.

use super::*;

impl Simulation<'_> {
    /// Schedule a look for work on instance `i` now, unless it is executing a step or a
    /// look is already scheduled (same-instant wake-ups coalesce).
    pub(super) fn wake(&mut self, i: InstanceId) {
        if self.insts[i].request_wake() {
            self.queue.push(self.now, Event::TryStep(i));
        }
    }

    pub(super) fn on_try_step(&mut self, i: InstanceId) {
        self.insts[i].woke();
        self.try_start_step(i);
        self.maybe_stop(i);
    }

    pub(super) fn try_start_step(&mut self, i: InstanceId) {
        if self.insts[i].busy() {
            return;
        }
        let flow = self.flow;
        flow.before_step(self, i);
        let mut preempted = std::mem::take(&mut self.scratch);
        let mut any_preempted = false;
        let plan = loop {
            // Slots freed since the last step (finishes, preemptions) go to requests whose
            // KV is already here before any new prefill is admitted.
            self.admit_decoders(i);
            preempted.clear();
            let plan = self.insts[i].plan_step(self.now, &mut self.reqs, &mut preempted);
            any_preempted |= !preempted.is_empty();
            // Preemption that emptied the batch changed what can run: plan again. Each
            // round preempts at least one request, so this ends.
            if plan.is_some() || preempted.is_empty() {
                break plan;
            }
        };
        self.scratch = preempted;
        let Some(plan) = plan else { return };
        let inst = &mut self.insts[i];
        let seconds = inst
            .cost()
            .step_seconds_memo(&plan.shape, &mut self.memos[inst.memo()]);
        let dur = SimDuration::from_secs_f64(seconds);
        inst.begin_step(plan);
        self.queue.push(self.now + dur, Event::StepDone(i));
        if any_preempted {
            // Their slots are free now; waiting decoders join when this step ends.
            self.admit_decoders(i);
        }
    }

    pub(super) fn on_step_done(&mut self, i: InstanceId, sink: &mut dyn FnMut(&RequestRecord)) {
        let now = self.now;
        let plan = self.insts[i].end_step(now);
        // Decode first: requests that finish their prompt in this step join the decode set
        // only after it advanced.
        if plan.decode {
            let collector = &mut self.collector;
            self.insts[i].complete_decode_step(now, &mut self.reqs, &mut |gap_ms, n| {
                collector.itl(gap_ms, n)
            });
            while let Some(id) = self.insts[i].pop_finished(&mut self.reqs, now) {
                self.finish(id, i, sink);
            }
        }
        for (id, chunk) in plan.chunks {
            let r = &mut self.reqs[id];
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
        let inst = &mut self.insts[i];
        inst.prompt_computed(id);
        let r = &mut self.reqs[id];
        r.generated += 1;
        inst.publish_prompt(r);
        if inst.role() == Role::Prefill {
            let flow = self.flow;
            flow.prompt_done(self, id, step_start);
            return;
        }
        // Computed where it decodes: the first token is out.
        r.first_token.get_or_insert(now);
        r.last_token = Some(now);
        if r.generated >= r.output_tokens {
            inst.release_request(r);
            self.finish(id, i, sink);
        } else {
            // The request keeps its running slot: it moves from prefill to decode.
            inst.join_decode(id, r);
        }
    }

    /// Move requests whose KV has arrived on decode instance `d` into its decode batch
    /// while slots are free.
    pub(super) fn admit_decoders(&mut self, d: InstanceId) {
        if self.insts[d].admit_decoders(&mut self.reqs) {
            self.wake(d);
        }
    }
}
