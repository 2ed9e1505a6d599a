//! One engine replica (vLLM or SGLang instance): KV blocks, queues, the running batch and
//! the continuous-batching scheduler that forms each step.
//!
//! Invariants:
//! - `used_blocks <= total_blocks` at all times; every block is owned by exactly one
//!   request (held, or reserved for a KV transfer), and `used_blocks` is their sum
//!   (checked by `debug_assert!` and by the property tests of the engine).
//! - A step is one event per instance, whatever the batch size: decoding requests are not
//!   visited per step. Their context and KV growth are derived from the decode-step
//!   counter ([`DecodeSet`]): the context sum grows by the batch size each step, and the
//!   requests needing a new block at step `k` are exactly those whose phase is `k mod B`.
//! - Preemption (recompute) takes the newest running request first, as vLLM does.

use crate::event::{InstanceId, RequestId};
use crate::kv_transfer::PortId;
use crate::prefix_cache::PrefixCache;
use crate::request::{Phase, Request, blocks_for};
use crate::scenario::{EngineConfig, Priority};
use crate::time::SimTime;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use xpyd_models::{CostModel, StepShape};

/// What an instance is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Prefill only (PD); the prompt's KV then moves to a decode instance.
    Prefill,
    /// Decode (PD); also prefills what it must recompute, and Dynamo's local prefills.
    Decode,
    /// Aggregated: prefill and decode.
    Mixed,
}

impl Role {
    /// Name used in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Prefill => "prefill",
            Role::Decode => "decode",
            Role::Mixed => "aggregated",
        }
    }
}

/// Where a replica is in its life (autoscaling).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Serving: routers may pick it.
    Ready,
    /// Created, not serving yet (scheduling, image pull, weight load, warm-up).
    Starting,
    /// Being removed: finishes its in-flight work, gets nothing new.
    Draining,
    /// Not running (holds no GPU).
    Stopped,
}

impl Lifecycle {
    /// Name used in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Lifecycle::Ready => "ready",
            Lifecycle::Starting => "starting",
            Lifecycle::Draining => "draining",
            Lifecycle::Stopped => "stopped",
        }
    }
}

/// The decoding requests of an instance, tracked by step counters.
#[derive(Clone, Debug)]
pub struct DecodeSet {
    /// Decode steps this instance has completed.
    pub step: u64,
    members: BTreeMap<u64, RequestId>,
    finish: BinaryHeap<Reverse<(u64, u64)>>,
    phase_count: Vec<u32>,
    /// Sum over members of their current context (KV tokens).
    pub context_sum: u64,
    next_admit: u64,
    block: u32,
}

impl DecodeSet {
    fn new(block: u32) -> DecodeSet {
        DecodeSet {
            step: 0,
            members: BTreeMap::new(),
            finish: BinaryHeap::new(),
            phase_count: vec![0; block as usize],
            context_sum: 0,
            next_admit: 0,
            block,
        }
    }

    /// Requests decoding.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether none is decoding.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn phase(&self, step0: u64, context0: u64) -> usize {
        let b = u64::from(self.block);
        ((step0 % b + b - context0 % b) % b) as usize
    }

    /// Add a request whose prompt (and any earlier output) is in KV; it decodes
    /// `req.decode_steps_left()` more tokens.
    fn join(&mut self, id: RequestId, req: &mut Request) {
        let context0 = req.context_after_prefill();
        let remaining = req.decode_steps_left();
        debug_assert!(remaining > 0);
        let admit_seq = self.next_admit;
        self.next_admit += 1;
        req.slot = crate::request::DecodeSlot {
            admit_seq,
            step0: self.step,
            context0,
            remaining,
        };
        req.phase = Phase::Decoding;
        self.members.insert(admit_seq, id);
        self.finish
            .push(Reverse((self.step + remaining, admit_seq)));
        let p = self.phase(self.step, context0);
        self.phase_count[p] += 1;
        self.context_sum += context0;
    }

    /// Remove a member; returns the blocks its context spans (shared prefix included).
    fn leave(&mut self, req: &Request) -> u64 {
        let s = req.slot;
        let removed = self.members.remove(&s.admit_seq);
        debug_assert!(removed.is_some(), "leaving request is not a member");
        let p = self.phase(s.step0, s.context0);
        self.phase_count[p] -= 1;
        let context = s.context0 + (self.step - s.step0);
        self.context_sum -= context;
        blocks_for(context, self.block)
    }

    /// Blocks the next step needs for KV growth.
    fn growth_next_step(&self) -> u64 {
        u64::from(self.phase_count[(self.step % u64::from(self.block)) as usize])
    }

    /// The newest member.
    fn newest(&self) -> Option<RequestId> {
        self.members.last_key_value().map(|(_, &id)| id)
    }

    /// Members in admission order.
    pub fn members(&self) -> impl Iterator<Item = RequestId> + '_ {
        self.members.values().copied()
    }

    /// Complete one decode step: every member appends one token.
    pub fn advance(&mut self) {
        self.step += 1;
        self.context_sum += self.members.len() as u64;
    }

    /// Pop a member whose last decode step has completed.
    fn pop_finished(&mut self) -> Option<RequestId> {
        while let Some(&Reverse((at, seq))) = self.finish.peek() {
            if at > self.step {
                return None;
            }
            self.finish.pop();
            if let Some(&id) = self.members.get(&seq) {
                return Some(id);
            }
            // Stale: the member was preempted; its entry is dropped lazily.
        }
        None
    }
}

/// The step an instance is executing.
#[derive(Clone, Debug, Default)]
pub struct StepPlan {
    /// When it started.
    pub start: SimTime,
    /// Prefill chunks: request and tokens computed.
    pub chunks: Vec<(RequestId, u32)>,
    /// Whether the decode set advances in this step.
    pub decode: bool,
    /// The step's shape (for the cost model and statistics).
    pub shape: StepShape,
}

/// The four transfer ports of an instance.
#[derive(Copy, Clone, Debug)]
pub struct Ports {
    /// RDMA egress.
    pub nic_out: PortId,
    /// RDMA ingress.
    pub nic_in: PortId,
    /// Intra-node egress.
    pub local_out: PortId,
    /// Intra-node ingress.
    pub local_in: PortId,
}

/// Counters accumulated over a sampling window.
#[derive(Copy, Clone, Debug, Default)]
pub struct WindowCounters {
    /// Prompt tokens computed.
    pub prefill_tokens: u64,
    /// Output tokens decoded.
    pub decode_tokens: u64,
    /// Nanoseconds spent executing steps.
    pub busy_ns: u64,
}

/// One engine replica.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Its index.
    pub id: InstanceId,
    /// What it does.
    pub role: Role,
    /// Step cost.
    pub cost: CostModel,
    /// Which of the simulation's step-cost memos prices its steps: one per role, shared
    /// by the role's instances (their cost models are built from the same role
    /// configuration, so they are equal, and one table per role stays in cache where
    /// one per instance did not).
    pub memo: usize,
    /// Engine knobs.
    pub engine: EngineConfig,
    /// TP degree.
    pub tp: u32,
    /// Node of its first GPU.
    pub node: u32,
    /// Whether its GPUs span several nodes.
    pub multi_node: bool,
    /// KV blocks in all.
    pub total_blocks: u64,
    /// KV blocks held or reserved.
    pub used_blocks: u64,
    /// Requests waiting for prefill (new, or preempted for recompute).
    pub waiting: VecDeque<RequestId>,
    /// Admitted requests with part of the prompt computed, in admission order.
    pub prefilling: Vec<RequestId>,
    /// Decoding requests.
    pub decode: DecodeSet,
    /// Requests waiting for KV room on this (decode) instance.
    pub kv_wait: VecDeque<RequestId>,
    /// Requests whose KV is here, waiting for a running slot.
    pub slot_wait: VecDeque<RequestId>,
    /// Requests that joined the decode set since its last decode step.
    pub new_decoders: Vec<RequestId>,
    /// Requests ready to decode that arrived while a decode step was executing; they
    /// join when it ends (they were not part of it).
    pub pending_join: Vec<RequestId>,
    /// End of its last decode step.
    pub last_decode_end: SimTime,
    /// Whether a step is executing.
    pub busy: bool,
    /// Whether a `TryStep` is already scheduled.
    pub wake_pending: bool,
    /// The step executing.
    pub plan: StepPlan,
    /// Requests routed here and not finished here.
    pub outstanding: u32,
    /// Prompt tokens of those requests (what Dynamo's router counts as active blocks).
    pub assigned_tokens: u64,
    /// Prefix cache (entries hold blocks counted in `used_blocks`).
    pub cache: PrefixCache,
    /// Requests with KV reserved here whose KV has not arrived yet.
    pub reserved_inflight: u64,
    /// Transfer ports.
    pub ports: Ports,
    /// Counters of the current sampling window.
    pub window: WindowCounters,
    /// Nanoseconds spent executing steps, whole run.
    pub busy_ns: u64,
    /// Steps executed.
    pub steps: u64,
    /// Preemptions.
    pub preemptions: u64,
    /// Where it is in its life.
    pub lifecycle: Lifecycle,
    /// Bumped when a start is cancelled, so its pending start events go stale.
    pub epoch: u32,
    /// Since when it holds its GPUs (not stopped).
    pub active_since: Option<SimTime>,
    /// Nanoseconds it held its GPUs before `active_since`.
    pub active_ns: u64,
    /// Its port on the weight-loading network.
    pub load_port: PortId,
}

impl Instance {
    /// A new idle instance.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: InstanceId,
        role: Role,
        cost: CostModel,
        engine: EngineConfig,
        tp: u32,
        node: u32,
        multi_node: bool,
        kv_capacity_tokens: u64,
        ports: Ports,
    ) -> Instance {
        let block = engine.kv_block_tokens;
        Instance {
            id,
            role,
            cost,
            memo: 0,
            tp,
            node,
            multi_node,
            total_blocks: kv_capacity_tokens / u64::from(block),
            used_blocks: 0,
            waiting: VecDeque::new(),
            prefilling: Vec::new(),
            decode: DecodeSet::new(block),
            kv_wait: VecDeque::new(),
            slot_wait: VecDeque::new(),
            new_decoders: Vec::new(),
            pending_join: Vec::new(),
            last_decode_end: SimTime::ZERO,
            busy: false,
            wake_pending: false,
            plan: StepPlan::default(),
            outstanding: 0,
            assigned_tokens: 0,
            cache: PrefixCache::new(0),
            reserved_inflight: 0,
            ports,
            window: WindowCounters::default(),
            busy_ns: 0,
            steps: 0,
            preemptions: 0,
            lifecycle: Lifecycle::Ready,
            epoch: 0,
            active_since: Some(SimTime::ZERO),
            active_ns: 0,
            load_port: PortId(0),
            engine,
        }
    }

    /// Tokens per KV block.
    pub fn block_tokens(&self) -> u32 {
        self.engine.kv_block_tokens
    }

    /// Free KV blocks.
    pub fn free_blocks(&self) -> u64 {
        self.total_blocks - self.used_blocks
    }

    /// Blocks an allocation can get: free ones plus cached blocks no request uses.
    pub fn available_blocks(&self) -> u64 {
        self.free_blocks() + self.cache.evictable_blocks()
    }

    /// Fraction of KV blocks in use by requests (cached blocks no request uses count as
    /// free, as in vLLM's `kv_cache_usage`).
    pub fn kv_utilization(&self) -> f64 {
        (self.used_blocks - self.cache.evictable_blocks()) as f64 / self.total_blocks as f64
    }

    /// KV blocks per prefix-cache entry for hash blocks of `hash_block_tokens`; 0 (no
    /// caching) when they do not split into whole KV blocks.
    pub fn cache_blocks_per_entry(&self, hash_block_tokens: u32) -> u64 {
        let b = self.block_tokens();
        if hash_block_tokens == 0 || !hash_block_tokens.is_multiple_of(b) {
            0
        } else {
            u64::from(hash_block_tokens / b)
        }
    }

    /// Make sure the prefix cache is set up for hash blocks of `hash_block_tokens`.
    pub fn ensure_cache(&mut self, hash_block_tokens: u32) {
        if self.cache.engine_blocks() == 0 && self.cache.is_empty() {
            self.cache = PrefixCache::new(self.cache_blocks_per_entry(hash_block_tokens));
        }
    }

    /// Entries of `keys` usable as a cached prefix for a prompt of `tokens` tokens here
    /// (the block holding the last prompt token is always recomputed).
    pub fn cached_prefix(&self, keys: &[u64], tokens: u32, hash_block_tokens: u32) -> usize {
        if self.cache.engine_blocks() == 0 || keys.is_empty() {
            return 0;
        }
        let limit = (tokens.saturating_sub(1) / hash_block_tokens) as usize;
        self.cache.match_len(keys).min(limit)
    }

    /// Publish a request's full prompt blocks here as cache entries (its KV is complete
    /// here): its private copies become entries, or are dropped where an entry exists.
    /// `refs` is the request's reference count on this instance.
    pub fn publish_prompt(&mut self, keys: &[u64], refs: &mut u32, blocks: &mut u32) {
        let per = self.cache.engine_blocks();
        if per == 0 {
            return;
        }
        for &key in &keys[*refs as usize..] {
            debug_assert!(u64::from(*blocks) >= per, "private blocks cover the prompt");
            if !self.cache.insert(key) {
                // Computed twice concurrently: share the cached copy, free ours.
                self.cache.acquire(&[key]);
                self.give_blocks(per);
            }
            *blocks -= per as u32;
            *refs += 1;
        }
    }

    /// Drop a request's references on this instance's cache.
    pub fn release_prefix(&mut self, keys: &[u64], refs: &mut u32) {
        if *refs > 0 {
            self.cache.release(&keys[..*refs as usize]);
            *refs = 0;
        }
    }

    /// Requests in the running batch (decoding or mid-prefill).
    pub fn running(&self) -> u32 {
        (self.decode.len() + self.prefilling.len() + self.pending_join.len()) as u32
    }

    /// Requests queued here in any queue.
    pub fn queued(&self) -> u32 {
        (self.waiting.len() + self.kv_wait.len() + self.slot_wait.len()) as u32
    }

    /// Take `n` blocks, evicting unused cache entries (LRU) as needed; panics if they
    /// are not available (a bug: callers check [`Self::available_blocks`] first).
    pub fn take_blocks(&mut self, n: u64) {
        while self.free_blocks() < n {
            let freed = self
                .cache
                .evict_one()
                .expect("allocation checked against available blocks");
            self.used_blocks -= freed;
        }
        self.used_blocks += n;
    }

    /// Return `n` blocks.
    pub fn give_blocks(&mut self, n: u64) {
        debug_assert!(n <= self.used_blocks);
        self.used_blocks -= n;
    }

    /// A request of `tokens` prompt tokens was routed here.
    pub fn assign(&mut self, tokens: u32) {
        self.outstanding += 1;
        self.assigned_tokens += u64::from(tokens);
    }

    /// A request routed here is done here.
    pub fn unassign(&mut self, tokens: u32) {
        self.outstanding -= 1;
        self.assigned_tokens -= u64::from(tokens);
    }

    /// Whether it has nothing in flight (a draining replica can stop).
    pub fn is_idle(&self) -> bool {
        self.outstanding == 0 && self.running() == 0 && self.queued() == 0 && !self.busy
    }

    /// Nanoseconds it has held its GPUs up to `now`.
    pub fn active_ns_until(&self, now: SimTime) -> u64 {
        self.active_ns
            + self
                .active_since
                .map_or(0, |t| now.as_nanos().saturating_sub(t.as_nanos()))
    }

    /// Move to `to` at `now`, keeping the GPU-time account.
    pub fn set_lifecycle(&mut self, to: Lifecycle, now: SimTime) {
        let active = |l: Lifecycle| l != Lifecycle::Stopped;
        match (active(self.lifecycle), active(to)) {
            (false, true) => self.active_since = Some(now),
            (true, false) => {
                self.active_ns = self.active_ns_until(now);
                self.active_since = None;
            }
            _ => {}
        }
        self.lifecycle = to;
    }

    /// Whether a new request could join the running batch.
    pub fn has_slot(&self) -> bool {
        self.running() < self.engine.max_num_seqs
    }

    /// Put a request whose prompt is in KV here into the decode set; if a decode step is
    /// executing, the request joins when that step ends.
    pub fn join_decode(&mut self, id: RequestId, req: &mut Request) {
        if self.busy && self.plan.decode {
            req.phase = Phase::AwaitingDecodeSlot;
            self.pending_join.push(id);
        } else {
            self.decode.join(id, req);
            self.new_decoders.push(id);
        }
    }

    /// After a decode step: let in the requests that became ready during it.
    pub fn join_pending(&mut self, reqs: &mut [Request]) {
        for k in 0..self.pending_join.len() {
            let id = self.pending_join[k];
            self.decode.join(id, &mut reqs[id.0 as usize]);
            self.new_decoders.push(id);
        }
        self.pending_join.clear();
    }

    /// Remove a finished or preempted decoding request, free its private blocks and
    /// release its cache references here.
    pub fn leave_decode(&mut self, req: &mut Request) {
        let spanned = self.decode.leave(req);
        let shared = u64::from(req.refs_local) * self.cache.engine_blocks();
        self.give_blocks(spanned - shared);
        req.blocks = 0;
        self.release_prefix(&req.prefix_keys, &mut req.refs_local);
    }

    /// A request's reference count on this instance's cache.
    fn refs_mut(role: Role, r: &mut Request) -> &mut u32 {
        if role == Role::Prefill {
            &mut r.refs_prefill
        } else {
            &mut r.refs_local
        }
    }

    /// Pop a decoding request that has produced its last token.
    pub fn pop_finished(&mut self) -> Option<RequestId> {
        self.decode.pop_finished()
    }

    /// Form the next step at `now`, or `None` when there is nothing to run. Preempts
    /// (recompute) the newest running requests when decode KV growth does not fit;
    /// preempted requests go to the front of `waiting`, and their ids are appended to
    /// `preempted`.
    pub fn plan_step(
        &mut self,
        now: SimTime,
        reqs: &mut [Request],
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
                self.schedule_prefill(reqs, budget, &mut plan);
            }
            Priority::PrefillFirst => {
                if has_prefill_work {
                    self.schedule_prefill(
                        reqs,
                        u64::from(self.engine.max_batched_tokens),
                        &mut plan,
                    );
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
                self.preempt(victim, reqs);
                preempted.push(victim);
            }
            return None;
        }
        Some(plan)
    }

    /// Decode part of a step: every member gets one token. Returns the token budget left.
    fn schedule_decode(
        &mut self,
        reqs: &mut [Request],
        preempted: &mut Vec<RequestId>,
        plan: &mut StepPlan,
    ) -> u64 {
        let budget = u64::from(self.engine.max_batched_tokens);
        if self.decode.is_empty() {
            return budget;
        }
        // KV growth of this step; preempt the newest running requests until it fits.
        while self.decode.growth_next_step() > self.available_blocks() {
            let victim = self
                .prefilling
                .last()
                .copied()
                .or_else(|| self.decode.newest());
            let Some(victim) = victim else { break };
            self.preempt(victim, reqs);
            preempted.push(victim);
        }
        if self.decode.is_empty() {
            return budget;
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
    fn schedule_prefill(&mut self, reqs: &mut [Request], mut budget: u64, plan: &mut StepPlan) {
        let block = self.block_tokens();
        let chunked = self.engine.chunked_prefill;
        // Continue partial prefills in admission order.
        for i in 0..self.prefilling.len() {
            if budget == 0 {
                break;
            }
            let id = self.prefilling[i];
            let r = &reqs[id.0 as usize];
            let left = u64::from(r.prefill_target - r.prefilled);
            let chunk = if chunked { left.min(budget) } else { left };
            let private = u64::from(r.prefilled - r.shared_tokens) + chunk;
            let need = blocks_for(private, block) - u64::from(r.blocks);
            if need > self.available_blocks() {
                break;
            }
            self.take_blocks(need);
            let r = &mut reqs[id.0 as usize];
            r.blocks += need as u32;
            push_chunk(plan, id, r, chunk);
            budget = budget.saturating_sub(chunk);
        }
        // Admit new requests (head of line blocks: FCFS).
        while budget > 0 && self.has_slot() {
            let Some(&id) = self.waiting.front() else {
                break;
            };
            // Prefix-cache lookup: the cached prefix is skipped (and referenced).
            let r = &reqs[id.0 as usize];
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
            if need + pinned > self.available_blocks() {
                break;
            }
            self.waiting.pop_front();
            self.prefilling.push(id);
            let r = &mut reqs[id.0 as usize];
            self.cache.acquire(&r.prefix_keys[..hit]);
            *Self::refs_mut(self.role, r) = hit as u32;
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
        }
    }

    /// Preempt a running request: free its KV and queue it for recompute of its prompt
    /// and the tokens it has generated (vLLM's recompute preemption).
    fn preempt(&mut self, id: RequestId, reqs: &mut [Request]) {
        let r = &mut reqs[id.0 as usize];
        if let Some(pos) = self.prefilling.iter().position(|&x| x == id) {
            self.prefilling.remove(pos);
            let blocks = u64::from(r.blocks);
            self.give_blocks(blocks);
            let refs = Self::refs_mut(self.role, r);
            let mut n = *refs;
            *refs = 0;
            self.release_prefix(&r.prefix_keys, &mut n);
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
        self.waiting.push_front(id);
    }
}

impl Instance {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_set_block_growth_follows_phases() {
        // Block of 4 tokens; a request joining with 4 tokens of context needs a block at
        // its first step (context 4 -> 5), then every 4 steps.
        let mut d = DecodeSet::new(4);
        let mut r = Request::new(0, SimTime::ZERO, 4, 20, None);
        r.prefilled = 4;
        r.generated = 1;
        d.join(RequestId(0), &mut r);
        let mut needs = Vec::new();
        for _ in 0..9 {
            needs.push(d.growth_next_step());
            d.advance();
        }
        assert_eq!(needs, vec![1, 0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(d.context_sum, 4 + 9);
        // After 9 steps the context is 13 tokens: 4 blocks.
        assert_eq!(d.leave(&r), 4);
        assert_eq!(d.context_sum, 0);
    }

    #[test]
    fn decode_set_finishes_in_step_order_and_skips_departed() {
        let mut d = DecodeSet::new(16);
        let mut a = Request::new(0, SimTime::ZERO, 10, 3, None);
        a.generated = 1;
        let mut b = Request::new(1, SimTime::ZERO, 10, 2, None);
        b.generated = 1;
        let mut c = Request::new(2, SimTime::ZERO, 10, 2, None);
        c.generated = 1;
        d.join(RequestId(0), &mut a);
        d.join(RequestId(1), &mut b);
        d.join(RequestId(2), &mut c);
        d.leave(&c);
        d.advance();
        assert_eq!(d.pop_finished(), Some(RequestId(1)));
        d.leave(&b);
        assert_eq!(d.pop_finished(), None);
        d.advance();
        assert_eq!(d.pop_finished(), Some(RequestId(0)));
    }
}
