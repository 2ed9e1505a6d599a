//! Continuous batching: how an instance forms its next step from its decode set, its
//! partial prefills and its waiting queue, within the token budget, the running cap and
//! free KV, preempting (recompute) when decode KV growth does not fit.
//!
//! Invariants: a step takes the KV blocks it computes into before it starts; preemption
//! frees every block of its victim and puts it at the front of `waiting` (at the back
//! under `retract`, as SGLang re-queues retracted requests); the newest running request
//! is preempted first, as vLLM does (and as TensorRT-LLM's `MAX_UTILIZATION` pauses the
//! last started request), except under `retract`, whose victims follow SGLang's
//! `retract_decode` order (`retract.rs`), as new prompts follow its estimate; under
//! `guaranteed-no-evict` a
//! waiting request is admitted only when its whole sequence fits next to the promises
//! already made, so nothing is ever preempted (checked by `debug_assert!`).

use super::{Instance, StepPlan, refs_mut, retract};
use crate::id::RequestId;
use crate::request::{Phase, Request, Requests, blocks_for};
use crate::scenario::{Admission, Priority};
use crate::time::SimTime;

impl Instance {
    /// Form the next step at `now`, or `None` when there is nothing to run. Preempts
    /// (recompute) the newest running requests when decode KV growth does not fit;
    /// preempted requests go to the front of `waiting`, and their ids are appended to
    /// `preempted`.
    pub fn plan_step(
        &mut self,
        now: SimTime,
        reqs: &mut Requests,
        preempted: &mut Vec<RequestId>,
    ) -> Option<StepPlan> {
        let mut plan = StepPlan {
            start: now,
            ..StepPlan::default()
        };
        let has_prefill_work = !self.prefilling.is_empty() || !self.waiting.is_empty();
        match self.engine.priority {
            Priority::DecodeFirst => {
                let budget = self.schedule_decode(reqs, preempted, &mut plan);
                if !self.holds_context(reqs, budget) {
                    self.schedule_prefill(reqs, budget, &mut plan);
                }
            }
            Priority::PrefillFirst => {
                let budget = u64::from(self.engine.max_batched_tokens);
                if has_prefill_work && !self.holds_context(reqs, budget) {
                    self.schedule_prefill(reqs, budget, &mut plan);
                }
                if plan.chunks.is_empty() {
                    self.schedule_decode(reqs, preempted, &mut plan);
                }
            }
        }
        if plan.chunks.is_empty() && !plan.decode {
            // A partial prefill that cannot get KV for its next chunk while nothing else
            // runs would hold its blocks forever: preempt it, as vLLM preempts a running
            // request whose blocks cannot be allocated (the caller plans again).
            if let Some(&victim) = self.prefilling.last() {
                debug_assert!(
                    !self.engine.admission.reserves_whole_sequence(),
                    "guaranteed-no-evict never runs out of KV"
                );
                self.preempt(victim, reqs);
                preempted.push(victim);
            }
            // Idle now: nothing runs that a request could have been planned behind.
            self.late.clear();
            return None;
        }
        Some(plan)
    }

    /// Decode part of a step: every member gets one token. Returns the token budget left.
    fn schedule_decode(
        &mut self,
        reqs: &mut Requests,
        preempted: &mut Vec<RequestId>,
        plan: &mut StepPlan,
    ) -> u64 {
        let budget = u64::from(self.engine.max_batched_tokens);
        if self.decode.is_empty() {
            return budget;
        }
        // KV growth of this step; preempt the newest running requests (under `retract`,
        // SGLang's victims) until it fits.
        let retract = self.engine.admission == Admission::Retract;
        let mut retracted = false;
        while self.decode.growth_next_step() > self.available_blocks() {
            debug_assert!(
                !self.engine.admission.reserves_whole_sequence(),
                "guaranteed-no-evict never runs out of KV"
            );
            let victim = if retract {
                self.retraction_victim(reqs)
            } else {
                self.prefilling
                    .last()
                    .copied()
                    .or_else(|| self.decode.newest())
            };
            let Some(victim) = victim else { break };
            self.preempt(victim, reqs);
            preempted.push(victim);
            retracted = true;
        }
        if self.decode.is_empty() {
            return budget;
        }
        if retract {
            self.update_new_token_ratio(retracted, reqs);
        }
        let growth = self.decode.growth_next_step();
        self.take_blocks(growth);
        plan.decode = true;
        plan.shape.decode_seqs = self.decode.len() as u32;
        plan.shape.decode_context_tokens = self.decode.context_sum;
        budget.saturating_sub(self.decode.len() as u64)
    }

    /// Prefill part of a step: continue partial prefills, then admit waiting requests,
    /// within `budget` tokens, the running cap and free KV.
    fn schedule_prefill(&mut self, reqs: &mut Requests, mut budget: u64, plan: &mut StepPlan) {
        let block = self.block_tokens();
        let chunked = self.engine.chunked_prefill;
        // Continue partial prefills in admission order.
        for i in 0..self.prefilling.len() {
            if budget == 0 {
                break;
            }
            let id = self.prefilling[i];
            let r = &reqs[id];
            let left = u64::from(r.prefill_target - r.prefilled);
            let chunk = if chunked { left.min(budget) } else { left };
            let private = u64::from(r.prefilled - r.shared_tokens) + chunk;
            let need = blocks_for(private, block) - u64::from(r.blocks);
            if need > self.available_blocks() {
                break;
            }
            self.take_blocks(need);
            let r = &mut reqs[id];
            r.blocks += need as u32;
            push_chunk(plan, id, r, chunk);
            budget = budget.saturating_sub(chunk);
        }
        // Admit new requests (head of line blocks: FCFS). Under `retract`, within SGLang's
        // estimate of the running requests' future decode, and none after one did not fit
        // until the running batch shrinks (an empty one never stays full).
        let estimate = self.estimates_decode();
        if self.running() == 0 {
            self.batch_full = false;
        }
        let running_estimate = if estimate {
            self.running_decode_estimate(reqs)
        } else {
            0.0
        };
        let mut admitted_output = 0u64;
        while budget > 0 && self.has_slot() && !(estimate && self.batch_full) {
            let Some(&id) = self.waiting.front() else {
                break;
            };
            // Planned before it came (asynchronous scheduling): the next step takes it,
            // unless this one would otherwise be empty. Those behind it came later still.
            let has_work = !plan.chunks.is_empty() || plan.decode || !self.decode.is_empty();
            if has_work && self.late.contains(&id) {
                break;
            }
            // Prefix-cache lookup: the cached prefix is skipped (and referenced).
            let r = &reqs[id];
            debug_assert_eq!((r.prefilled, r.blocks), (0, 0));
            let hit = self.cached_prefix(&r.prefix_keys, r.prefill_target, r.hash_block_tokens);
            let shared = hit as u32 * r.hash_block_tokens;
            let left = u64::from(r.prefill_target - shared);
            // Without chunking a prompt goes whole; one larger than the budget runs alone.
            let step_empty = plan.chunks.is_empty() && !plan.decode;
            if !chunked && left > budget && !step_empty {
                break;
            }
            let chunk = if chunked { left.min(budget) } else { left };
            let need = blocks_for(chunk, block);
            // The referenced entries stop being evictable: count them out.
            let pinned = self.pinned_by(&r.prefix_keys[..hit]);
            // SGLang's `PrefillAdder.add_one_req`: the whole uncached prompt plus its clipped
            // remaining output must be below `rem_total_tokens` (checked again after the
            // prefix is locked, hence `pinned`). With nothing running SGLang would wait
            // forever on a prompt that can never fit the estimate; here it goes in on KV
            // alone.
            let output = r.decode_steps_left().min(retract::CLIP_MAX_NEW_TOKENS);
            if estimate
                && self.running() > 0
                && (left + output) as f64
                    >= self.rem_total_tokens(pinned, running_estimate, admitted_output)
            {
                self.batch_full = true;
                break;
            }
            if need + pinned > self.available_blocks() || !self.admissible(r) {
                break;
            }
            self.waiting.pop_front();
            self.prefilling.push(id);
            let r = &mut reqs[id];
            self.promise(r);
            self.cache.acquire(&r.prefix_keys[..hit]);
            *refs_mut(self.role, r) = hit as u32;
            self.take_blocks(need);
            // Only prompts with prefix hashes can hit; others are not lookups.
            if !r.prefix_keys.is_empty() {
                self.cache.lookup_tokens += u64::from(r.prefill_target);
                self.cache.hit_tokens += u64::from(shared);
            }
            if r.preemptions == 0 && r.prefill_start.is_none() {
                r.cached_tokens = shared;
            }
            r.shared_tokens = shared;
            r.prefilled = shared;
            r.blocks = need as u32;
            r.phase = Phase::Prefilling;
            if r.prefill_start.is_none() {
                r.prefill_start = Some(plan.start);
            }
            push_chunk(plan, id, r, chunk);
            budget = budget.saturating_sub(chunk);
            if estimate {
                // A truncated prompt's output is counted once its last chunk is added
                // (`PrefillAdder.add_chunked_req`); here, as a running request's.
                if chunk == left {
                    admitted_output += output;
                }
                // `PrefillAdder.budget_state`: no KV left under the estimate.
                if self.rem_total_tokens(0, running_estimate, admitted_output) <= 0.0 {
                    self.batch_full = true;
                    break;
                }
            }
        }
        if !self.has_slot() && !self.waiting.is_empty() {
            self.seq_limit_hit = true;
        }
    }

    /// Preempt a running request: free its KV and queue it for recompute of its prompt
    /// and the tokens it has generated (vLLM's recompute preemption), at the front of
    /// `waiting`; under `retract` at the back, as SGLang's
    /// `Scheduler._extend_requests_to_queue` appends retracted requests (its default
    /// `fcfs` policy does not reorder the queue).
    fn preempt(&mut self, id: RequestId, reqs: &mut Requests) {
        let r = &mut reqs[id];
        if let Some(pos) = self.prefilling.iter().position(|&x| x == id) {
            self.prefilling.remove(pos);
            self.release_request(r);
        } else {
            // Tokens generated so far: the first (from prefill) plus the decode steps done.
            let done = self.decode.step - r.slot.step0;
            self.leave_decode(r);
            r.generated += done as u32;
            self.new_decoders.retain(|&x| x != id);
        }
        r.blocks = 0;
        r.shared_tokens = 0;
        r.prefilled = 0;
        r.prefill_target = r.input_tokens + r.generated;
        r.phase = Phase::Waiting;
        r.preemptions += 1;
        self.preemptions += 1;
        if self.engine.admission == Admission::Retract {
            self.waiting.push_back(id);
        } else {
            self.waiting.push_front(id);
        }
    }

    /// Blocks of these cached entries that are evictable now (and would be pinned by a
    /// new reference).
    fn pinned_by(&self, keys: &[u64]) -> u64 {
        self.cache.unreferenced(keys) * self.cache.engine_blocks()
    }
}

fn push_chunk(plan: &mut StepPlan, id: RequestId, r: &Request, chunk: u64) {
    let before = u64::from(r.prefilled);
    plan.chunks.push((id, chunk as u32));
    plan.shape.prefill_tokens += chunk;
    plan.shape.prefill_seqs += 1;
    plan.shape.prefill_attn_pairs += chunk * before + chunk * (chunk + 1) / 2;
}
