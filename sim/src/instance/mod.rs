//! One engine replica (vLLM or SGLang instance): KV blocks, queues, the running batch and
//! the continuous-batching scheduler that forms each step.
//!
//! Invariants:
//! - `used_blocks <= total_blocks` at all times; every block is owned by exactly one
//!   request (held, or reserved for a KV transfer), and `used_blocks` is their sum
//!   (checked by `debug_assert!` and by the property tests of the engine).
//! - A step is one event per instance, whatever the batch size: decoding requests are not
//!   visited per step. Their context and KV growth are derived from the decode-step
//!   counter (`DecodeSet`): the context sum grows by the batch size each step, and the
//!   requests needing a new block at step `k` are exactly those whose phase is `k mod B`.
//! - Preemption (recompute) takes the newest running request first, as vLLM does (and
//!   TensorRT-LLM's `max-utilization` pauses the last started one); under `retract`,
//!   SGLang's victim order instead.
//! - Admission follows the engine's [`Admission`] policy. Every request admitted here
//!   (prefilling, decoding, waiting for a slot, or holding a reservation) carries a
//!   promise: the blocks of its whole sequence here (prompt + maximum output; the prompt
//!   only on a prefill-only instance); `promised_blocks` is their sum. Under
//!   `guaranteed-no-evict` a request is admitted only while `promised_blocks <=
//!   total_blocks`, so KV growth always fits and nothing is ever preempted; the other
//!   policies keep the account without reading it.
//! - Its fields are private: the engine's handlers change an instance only through the
//!   verbs below (reserve, release, begin/end a step, ...), each of which keeps the KV
//!   account, the queues and the counters consistent.
//!
//! - Under `retract` (SGLang) an aggregated instance also gates new prompts on SGLang's
//!   estimate of the running requests' future decode (`new_token_ratio`) and retracts by
//!   SGLang's victim order; see `retract`.
//!
//! Layout: `decode_set` tracks the decoding requests by step counters; `schedule` forms
//! each step (continuous batching, chunked prefill, preemption); `retract` holds SGLang's
//! admission estimate and retraction.

mod context_wait;
mod decode_set;
mod retract;
mod schedule;

use crate::id::{InstanceId, PortId, RequestId};
use crate::prefix_cache::{KvEvent, PrefixCache};
use crate::request::{Phase, Request, Requests, blocks_for};
pub use crate::role::Role;
use crate::scenario::{Admission, EngineConfig};
use crate::time::SimTime;
use decode_set::DecodeSet;
use std::collections::VecDeque;
use xpyd_models::{CostModel, StepShape};

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
    id: InstanceId,
    role: Role,
    cost: CostModel,
    /// Which of the simulation's step-cost memos prices its steps: one per role, shared
    /// by the role's instances (their cost models are built from the same role
    /// configuration, so they are equal, and one table per role stays in cache where
    /// one per instance did not).
    memo: usize,
    engine: EngineConfig,
    tp: u32,
    /// Node of its first GPU.
    node: u32,
    /// Whether its GPUs span several nodes.
    multi_node: bool,
    /// KV blocks in all.
    total_blocks: u64,
    /// KV blocks held or reserved (cache entries included).
    used_blocks: u64,
    /// Requests waiting for prefill (new, or preempted for recompute).
    waiting: VecDeque<RequestId>,
    /// Admitted requests with part of the prompt computed, in admission order.
    prefilling: Vec<RequestId>,
    /// Decoding requests.
    decode: DecodeSet,
    /// Requests waiting for KV room on this (decode) instance.
    kv_wait: VecDeque<RequestId>,
    /// Requests whose KV is here, waiting for a running slot.
    slot_wait: VecDeque<RequestId>,
    /// Requests that joined the decode set since its last decode step.
    new_decoders: Vec<RequestId>,
    /// Requests ready to decode that arrived while a decode step was executing; they
    /// join when it ends (they were not part of it).
    pending_join: Vec<RequestId>,
    /// End of its last decode step.
    last_decode_end: SimTime,
    /// Whether a step is executing.
    busy: bool,
    /// Under asynchronous scheduling, requests queued for prefill while the executing step
    /// ran: the next step was planned before they came, so they wait for the one after
    /// (unless that step would otherwise be empty). Cleared when a step begins.
    late: Vec<RequestId>,
    /// Whether a `TryStep` is already scheduled.
    wake_pending: bool,
    /// The step executing.
    plan: StepPlan,
    /// Requests routed here and not finished here.
    outstanding: u32,
    /// Prompt tokens of those requests (what Dynamo's router counts as active blocks).
    assigned_tokens: u64,
    /// Prefix cache (entries hold blocks counted in `used_blocks`).
    cache: PrefixCache,
    /// Requests with KV reserved here whose KV has not arrived yet.
    reserved_inflight: u64,
    /// Sum of the promises of the requests admitted here (see the module invariants).
    promised_blocks: u64,
    ports: Ports,
    /// Counters of the current sampling window.
    window: WindowCounters,
    /// Nanoseconds spent executing steps, whole run.
    busy_ns: u64,
    /// Steps executed.
    steps: u64,
    /// Preemptions.
    preemptions: u64,
    /// SGLang's `new_token_ratio` (`retract`): the fraction of the running requests'
    /// remaining output that admission keeps free for them.
    new_token_ratio: f64,
    /// SGLang's `batch_is_full` (`retract`): a prompt did not fit the estimate; no new
    /// prompt is tried until the running batch shrinks.
    batch_full: bool,
    /// TensorRT-LLM's context-hold counters (`engine.context_wait`).
    waits: context_wait::WaitCounters,
    lifecycle: Lifecycle,
    /// Bumped when a start is cancelled, so its pending start events go stale.
    epoch: u32,
    /// Since when it holds its GPUs (not stopped).
    active_since: Option<SimTime>,
    /// Nanoseconds it held its GPUs before `active_since`.
    active_ns: u64,
    /// The spells it held its GPUs before `active_since`, `(start, end)` ns, in order.
    active_spells: Vec<(u64, u64)>,
    /// Its port on the weight-loading network.
    load_port: PortId,
    /// Whether `max-num-seqs` ever held a request back here (a request waited for a
    /// running slot while the batch was full): a run where no instance's limit did is the
    /// run of any larger limit (the planner reuses it).
    seq_limit_hit: bool,
}

/// Where an instance sits and how it connects: the fixed facts of [`Instance::new`].
#[derive(Copy, Clone, Debug)]
pub struct Placement {
    /// Node of its first GPU.
    pub node: u32,
    /// Whether its GPUs span several nodes.
    pub multi_node: bool,
    /// KV-transfer ports.
    pub ports: Ports,
    /// Port on the weight-loading network.
    pub load_port: PortId,
}

/// The blocks promised to a request on an instance of `role` (see the module invariants).
fn promised_mut(role: Role, r: &mut Request) -> &mut u32 {
    if role == Role::Prefill {
        &mut r.promised_prefill
    } else {
        &mut r.promised_local
    }
}

/// A request's reference count on the cache of an instance of `role`: its prefill-only
/// instance, or the one where it decodes (also where it is computed when aggregated or
/// prefilled locally).
fn refs_mut(role: Role, r: &mut Request) -> &mut u32 {
    if role == Role::Prefill {
        &mut r.refs_prefill
    } else {
        &mut r.refs_local
    }
}

impl Instance {
    /// A new idle, ready instance whose steps are priced by the role's memo `memo`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: InstanceId,
        role: Role,
        cost: CostModel,
        memo: usize,
        engine: EngineConfig,
        tp: u32,
        kv_capacity_tokens: u64,
        at: Placement,
    ) -> Instance {
        let block = engine.kv_block_tokens;
        Instance {
            id,
            role,
            cost,
            memo,
            tp,
            node: at.node,
            multi_node: at.multi_node,
            total_blocks: kv_capacity_tokens / u64::from(block),
            used_blocks: 0,
            waiting: VecDeque::new(),
            prefilling: Vec::new(),
            decode: DecodeSet::new(block, retract::CLIP_MAX_NEW_TOKENS),
            kv_wait: VecDeque::new(),
            slot_wait: VecDeque::new(),
            new_decoders: Vec::new(),
            pending_join: Vec::new(),
            last_decode_end: SimTime::ZERO,
            busy: false,
            late: Vec::new(),
            wake_pending: false,
            seq_limit_hit: false,
            plan: StepPlan::default(),
            outstanding: 0,
            assigned_tokens: 0,
            cache: PrefixCache::new(0),
            reserved_inflight: 0,
            promised_blocks: 0,
            ports: at.ports,
            window: WindowCounters::default(),
            busy_ns: 0,
            steps: 0,
            preemptions: 0,
            new_token_ratio: retract::INIT_NEW_TOKEN_RATIO,
            batch_full: false,
            waits: context_wait::WaitCounters::default(),
            lifecycle: Lifecycle::Ready,
            epoch: 0,
            active_since: Some(SimTime::ZERO),
            active_ns: 0,
            active_spells: Vec::new(),
            load_port: at.load_port,
            engine,
        }
    }

    // ----- what it is ---------------------------------------------------------------------

    /// Its index.
    pub fn id(&self) -> InstanceId {
        self.id
    }

    /// What it does.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Step cost model.
    pub fn cost(&self) -> &CostModel {
        &self.cost
    }

    /// Which of the simulation's per-role step-cost memos prices its steps.
    pub fn memo(&self) -> usize {
        self.memo
    }

    /// Engine knobs.
    pub fn engine(&self) -> &EngineConfig {
        &self.engine
    }

    /// TP degree.
    pub fn tp(&self) -> u32 {
        self.tp
    }

    /// Node of its first GPU.
    pub fn node(&self) -> u32 {
        self.node
    }

    /// Whether its GPUs span several nodes.
    pub fn multi_node(&self) -> bool {
        self.multi_node
    }

    /// KV-transfer ports.
    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// Port on the weight-loading network.
    pub fn load_port(&self) -> PortId {
        self.load_port
    }

    /// Tokens per KV block.
    pub fn block_tokens(&self) -> u32 {
        self.engine.kv_block_tokens
    }

    /// KV capacity, tokens (whole blocks).
    pub fn kv_capacity_tokens(&self) -> u64 {
        self.total_blocks * u64::from(self.block_tokens())
    }

    /// The longest request this instance can hold: its cache, or with DP-attention one
    /// attention rank's share of it (a request's KV lives on one rank).
    pub fn max_request_tokens(&self) -> u64 {
        self.kv_capacity_tokens() / u64::from(self.cost().parallelism().dp_ranks())
    }

    // ----- what it holds --------------------------------------------------------------------

    /// Free KV blocks.
    fn free_blocks(&self) -> u64 {
        self.total_blocks - self.used_blocks
    }

    /// Blocks an allocation can get: free ones plus cached blocks no request uses.
    pub fn available_blocks(&self) -> u64 {
        self.free_blocks() + self.cache.evictable_blocks()
    }

    /// KV blocks held or reserved by requests (unused cached blocks do not count).
    pub fn kv_blocks_in_use(&self) -> u64 {
        self.used_blocks - self.cache.evictable_blocks()
    }

    /// Fraction of KV blocks in use by requests (cached blocks no request uses count as
    /// free, as in vLLM's `kv_cache_usage`).
    pub fn kv_utilization(&self) -> f64 {
        self.kv_blocks_in_use() as f64 / self.total_blocks as f64
    }

    /// Its prefix cache (read-only: entries change through the verbs).
    pub fn cache(&self) -> &PrefixCache {
        &self.cache
    }

    /// Requests routed here and not finished here.
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// Prompt tokens of the requests routed here and not finished here.
    pub fn assigned_tokens(&self) -> u64 {
        self.assigned_tokens
    }

    /// Requests in the running batch (decoding or mid-prefill).
    pub fn running(&self) -> u32 {
        (self.decode.len() + self.prefilling.len() + self.pending_join.len()) as u32
    }

    /// Requests queued here in any queue.
    pub fn queued(&self) -> u32 {
        (self.waiting.len() + self.kv_wait.len() + self.slot_wait.len()) as u32
    }

    /// Whether a new request could join the running batch.
    fn has_slot(&self) -> bool {
        self.running() < self.engine.max_num_seqs
    }

    /// Whether `max-num-seqs` ever held a request back here (see the field).
    pub fn seq_limit_hit(&self) -> bool {
        self.seq_limit_hit
    }

    /// Whether a step is executing.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// Whether it has nothing in flight (a draining replica can stop).
    pub fn is_idle(&self) -> bool {
        self.outstanding == 0 && self.running() == 0 && self.queued() == 0 && !self.busy
    }

    /// Steps executed.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Nanoseconds spent executing steps, whole run.
    pub fn busy_ns(&self) -> u64 {
        self.busy_ns
    }

    /// Preemptions.
    pub fn preemptions(&self) -> u64 {
        self.preemptions
    }

    /// KV blocks promised to the requests admitted here (their whole sequences).
    #[cfg(test)]
    pub(crate) fn promised_blocks(&self) -> u64 {
        self.promised_blocks
    }

    /// The blocks request `r` will hold here at most: its whole sequence (prompt and
    /// maximum output, as TensorRT-LLM's `getRemainingBlocksToCompletion` counts), or only
    /// its prompt on a prefill-only instance.
    fn sequence_blocks(&self, r: &Request) -> u64 {
        let tokens = if self.role == Role::Prefill {
            u64::from(r.prefill_target)
        } else {
            u64::from(r.input_tokens) + u64::from(r.output_tokens)
        };
        blocks_for(tokens, self.block_tokens())
    }

    /// Whether the admission policy lets request `r` in now: always, except under
    /// `guaranteed-no-evict`, where its whole sequence must fit next to the promises
    /// already made (TensorRT-LLM `GuaranteedNoEvictScheduler`:
    /// `reservedBlocks.enoughAvailableBlocks(req)` after every started request's
    /// remaining blocks are reserved).
    fn admissible(&self, r: &Request) -> bool {
        match self.engine.admission {
            Admission::GuaranteedNoEvict => {
                self.promised_blocks + self.sequence_blocks(r) <= self.total_blocks
            }
            Admission::OnDemand | Admission::Retract | Admission::MaxUtilization => true,
        }
    }

    /// Request `r` was admitted here: record its promise.
    fn promise(&mut self, r: &mut Request) {
        let blocks = self.sequence_blocks(r);
        let slot = promised_mut(self.role, r);
        debug_assert_eq!(*slot, 0, "admitted twice");
        *slot = blocks as u32;
        self.promised_blocks += blocks;
    }

    /// Request `r` left this instance (finished, preempted, sent, aborted): drop its
    /// promise, if it had one.
    fn drop_promise(&mut self, r: &mut Request) {
        let blocks = u64::from(std::mem::take(promised_mut(self.role, r)));
        debug_assert!(blocks <= self.promised_blocks);
        self.promised_blocks -= blocks;
    }

    /// Prompt tokens of the requests queued for prefill here (their prefill targets).
    pub fn queued_prefill_tokens(&self, reqs: &Requests) -> u64 {
        self.waiting
            .iter()
            .map(|&r| u64::from(reqs[r].prefill_target))
            .sum()
    }

    // ----- KV blocks ----------------------------------------------------------------------

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
    fn give_blocks(&mut self, n: u64) {
        debug_assert!(n <= self.used_blocks);
        self.used_blocks -= n;
    }

    /// Free the blocks request `r` holds here and drop its cache references here: the one
    /// release sequence of a request leaving an instance outside the decode set.
    pub fn release_request(&mut self, r: &mut Request) {
        let blocks = u64::from(r.blocks);
        r.blocks = 0;
        self.give_blocks(blocks);
        self.release_refs(r);
        self.drop_promise(r);
    }

    /// Drop request `r`'s references on this instance's cache.
    fn release_refs(&mut self, r: &mut Request) {
        let refs = refs_mut(self.role, r);
        let n = std::mem::take(refs) as usize;
        if n > 0 {
            self.cache.release(&r.prefix_keys[..n]);
        }
    }

    /// Make sure the prefix cache is set up for hash blocks of `hash_block_tokens`.
    pub fn ensure_cache(&mut self, hash_block_tokens: u32) {
        if self.cache.engine_blocks() == 0 && self.cache.is_empty() {
            let publish = self.cache.publishes_events();
            self.cache = PrefixCache::new(self.cache_blocks_per_entry(hash_block_tokens));
            if publish {
                self.cache.publish_events();
            }
        }
    }

    /// Publish the prefix cache's KV events from now on (a router receiving them is
    /// in front of this instance).
    pub fn publish_kv_events(&mut self) {
        self.cache.publish_events();
    }

    /// The prefix cache's KV events since the last call, in order.
    pub fn take_kv_events(&mut self) -> impl Iterator<Item = KvEvent> + '_ {
        self.cache.take_events()
    }

    /// KV blocks per prefix-cache entry for hash blocks of `hash_block_tokens`; 0 (no
    /// caching) when they do not split into whole KV blocks.
    fn cache_blocks_per_entry(&self, hash_block_tokens: u32) -> u64 {
        let b = self.block_tokens();
        if hash_block_tokens == 0 || !hash_block_tokens.is_multiple_of(b) {
            0
        } else {
            u64::from(hash_block_tokens / b)
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

    /// Publish request `r`'s full prompt blocks here as cache entries (its KV is complete
    /// here): its private copies become entries, or are dropped where an entry exists.
    pub fn publish_prompt(&mut self, r: &mut Request) {
        let per = self.cache.engine_blocks();
        if per == 0 {
            return;
        }
        let from = *refs_mut(self.role, r) as usize;
        for k in from..r.prefix_keys.len() {
            let key = r.prefix_keys[k];
            debug_assert!(u64::from(r.blocks) >= per, "private blocks cover the prompt");
            if !self.cache.insert(key) {
                // Computed twice concurrently: share the cached copy, free ours.
                self.cache.acquire(&[key]);
                self.give_blocks(per);
            }
            r.blocks -= per as u32;
            *refs_mut(self.role, r) += 1;
        }
    }

    // ----- routing ------------------------------------------------------------------------

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

    // ----- queues -------------------------------------------------------------------------

    /// Queue request `id` (phase set by the caller) for prefill here.
    pub fn enqueue_prefill(&mut self, id: RequestId) {
        if self.busy && self.engine.async_scheduling {
            self.late.push(id);
        }
        self.waiting.push_back(id);
    }

    /// Queue request `id` for KV room on this decode instance.
    pub fn await_kv(&mut self, id: RequestId) {
        self.kv_wait.push_back(id);
    }

    /// Reserve KV for the request at the head of the KV queue if it fits, keeping room
    /// for `headroom_tokens` of decode growth per request holding KV here (SGLang's
    /// `SGLANG_NUM_RESERVED_DECODE_TOKENS`; 0 for engines without). The decode side
    /// needs KV for the prompt except what its own prefix cache already holds (those
    /// tokens are not transferred either). Returns the request reserved for, or `None`
    /// when the queue is empty or its head does not fit (head of line blocks).
    pub fn reserve_next(&mut self, reqs: &mut Requests, headroom_tokens: u64) -> Option<RequestId> {
        let &id = self.kv_wait.front()?;
        let r = &reqs[id];
        let ctx = r.context_after_prefill();
        let hit = self.cached_prefix(&r.prefix_keys, ctx as u32, r.hash_block_tokens);
        let shared = hit as u64 * u64::from(r.hash_block_tokens);
        let private = blocks_for(ctx - shared, self.block_tokens());
        let need = private + self.cache.unreferenced(&r.prefix_keys[..hit]) * self.cache.engine_blocks();
        let holders = self.running() as u64 + self.slot_wait.len() as u64 + self.reserved_inflight;
        let headroom = holders * blocks_for(headroom_tokens, self.block_tokens());
        if need + headroom > self.available_blocks() || !self.admissible(r) {
            return None;
        }
        self.kv_wait.pop_front();
        let r = &mut reqs[id];
        self.promise(r);
        self.cache.acquire(&r.prefix_keys[..hit]);
        r.refs_local = hit as u32;
        r.transfer_skipped_tokens = shared as u32;
        self.take_blocks(private);
        self.reserved_inflight += 1;
        r.reserved_blocks = private as u32;
        r.kv_reserved = true;
        Some(id)
    }

    /// Request `r`'s KV left this (prefill) instance: free what it sent, drop its cache
    /// references here (the cache keeps the prefix) and stop counting it here.
    pub fn kv_sent(&mut self, r: &mut Request) {
        self.release_request(r);
        self.unassign(r.input_tokens);
        r.kv_sent = true;
    }

    /// Request `r`'s KV arrived on this (decode) instance: its reservation becomes the
    /// blocks it holds, and its prompt blocks are published to the cache.
    pub fn kv_arrived(&mut self, r: &mut Request) {
        self.reserved_inflight -= 1;
        r.blocks = r.reserved_blocks;
        r.reserved_blocks = 0;
        r.kv_reserved = false;
        self.publish_prompt(r);
    }

    /// Request `id`, whose KV is here, waits for a running slot.
    pub fn await_slot(&mut self, id: RequestId, r: &mut Request) {
        r.phase = Phase::AwaitingDecodeSlot;
        self.slot_wait.push_back(id);
    }

    /// Move requests waiting for a slot into the decode batch while slots are free.
    /// Returns whether any moved.
    pub fn admit_decoders(&mut self, reqs: &mut Requests) -> bool {
        let mut any = false;
        while self.has_slot() {
            let Some(id) = self.slot_wait.pop_front() else {
                break;
            };
            self.join_decode(id, &mut reqs[id]);
            any = true;
        }
        if !self.slot_wait.is_empty() {
            self.seq_limit_hit = true;
        }
        any
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

    /// Request `id`'s prompt computation finished here: it leaves the prefilling set.
    pub fn prompt_computed(&mut self, id: RequestId) {
        let pos = self
            .prefilling
            .iter()
            .position(|&x| x == id)
            .expect("prefilling request");
        self.prefilling.remove(pos);
    }

    // ----- steps --------------------------------------------------------------------------

    /// Whether a wake-up should be scheduled now: idle and none pending (then one is).
    pub fn request_wake(&mut self) -> bool {
        let wake = !self.busy && !self.wake_pending;
        if wake {
            self.wake_pending = true;
        }
        wake
    }

    /// The scheduled wake-up happened.
    pub fn woke(&mut self) {
        self.wake_pending = false;
    }

    /// Start executing `plan`.
    pub fn begin_step(&mut self, plan: StepPlan) {
        debug_assert!(!self.busy, "one step at a time");
        self.busy = true;
        self.plan = plan;
        self.late.clear();
    }

    /// The executing step ended at `now`: account its time and prompt tokens; returns it.
    pub fn end_step(&mut self, now: SimTime) -> StepPlan {
        debug_assert!(self.busy, "a step was executing");
        self.busy = false;
        let plan = std::mem::take(&mut self.plan);
        let dur = now.since(plan.start).as_nanos();
        self.busy_ns += dur;
        self.steps += 1;
        self.window.busy_ns += dur;
        self.window.prefill_tokens += plan.shape.prefill_tokens;
        plan
    }

    /// The decode part of the step that ended at `now`: every member gained a token.
    /// Reports each inter-token gap of a measured (not warm-up) request to `itl` as
    /// `(gap ms, requests)`, lets in the requests that became ready during the step, and
    /// returns nothing: finished members are then taken with [`Self::pop_finished`].
    pub fn complete_decode_step(
        &mut self,
        now: SimTime,
        reqs: &mut Requests,
        itl: &mut impl FnMut(f64, u64),
    ) {
        let n = self.decode.len() as u64;
        let joined = self.new_decoders.len() as u64;
        // Warm-up members' gaps are not measured.
        let warm_joined = self
            .new_decoders
            .iter()
            .filter(|&&id| reqs[id].warmup)
            .count() as u64;
        let measured = n - joined - (self.decode.warmup - warm_joined);
        itl(now.since(self.last_decode_end).as_millis_f64(), measured);
        for &id in &self.new_decoders {
            let r = &reqs[id];
            let last = r.last_token.expect("a decoding request has emitted a token");
            if !r.warmup {
                itl(now.since(last).as_millis_f64(), 1);
            }
        }
        self.new_decoders.clear();
        self.decode.advance();
        self.last_decode_end = now;
        self.window.decode_tokens += n;
        for k in 0..self.pending_join.len() {
            let id = self.pending_join[k];
            self.decode.join(id, &mut reqs[id]);
            self.new_decoders.push(id);
        }
        self.pending_join.clear();
    }

    /// Pop a decoding request that has produced its last token at `now`; it leaves the
    /// decode set, its KV here is freed.
    pub fn pop_finished(&mut self, reqs: &mut Requests, now: SimTime) -> Option<RequestId> {
        let id = self.decode.pop_finished()?;
        let r = &mut reqs[id];
        r.generated = r.output_tokens;
        r.last_token = Some(now);
        self.leave_decode(r);
        Some(id)
    }

    /// Remove a finished or preempted decoding request, free its private blocks and
    /// release its cache references here.
    fn leave_decode(&mut self, req: &mut Request) {
        let spanned = self.decode.leave(req);
        self.batch_full = false;
        let shared = u64::from(req.refs_local) * self.cache.engine_blocks();
        self.give_blocks(spanned - shared);
        req.blocks = 0;
        self.release_refs(req);
        self.drop_promise(req);
    }

    // ----- aborts -------------------------------------------------------------------------

    /// Request `id` was aborted by its client (a timeout): take it out of every queue and
    /// batch here and free the KV blocks it holds here, with its cache references here.
    /// A step executing now keeps its duration (its GPU work is issued) but no longer
    /// advances the request. On a prefill-only instance this also frees a computed
    /// prompt's KV held for (or being) sent, so call it there only until
    /// [`Self::kv_sent`]. A reservation is freed by [`Self::cancel_reservation`];
    /// the routing counters by [`Self::unassign`].
    pub fn abort(&mut self, id: RequestId, r: &mut Request) {
        if let Some(pos) = self.waiting.iter().position(|&x| x == id) {
            self.waiting.remove(pos);
        }
        if let Some(pos) = self.kv_wait.iter().position(|&x| x == id) {
            self.kv_wait.remove(pos);
        }
        if let Some(pos) = self.prefilling.iter().position(|&x| x == id) {
            self.prefilling.remove(pos);
            if self.busy {
                self.plan.chunks.retain(|c| c.0 != id);
            }
            self.release_request(r);
        } else if self.decode.contains(id, r) {
            // A decode step executing now took this member's KV growth for the token
            // it is computing: that block goes back too.
            let in_step = self.busy && self.plan.decode;
            let context = r.slot.context0 + (self.decode.step - r.slot.step0);
            let spanned = self.decode.leave(r);
            self.batch_full = false;
            let grown = if in_step {
                blocks_for(context + 1, self.block_tokens()) - spanned
            } else {
                0
            };
            let shared = u64::from(r.refs_local) * self.cache.engine_blocks();
            self.give_blocks(spanned + grown - shared);
            r.blocks = 0;
            self.release_refs(r);
            self.drop_promise(r);
            self.new_decoders.retain(|&x| x != id);
        } else if let Some(pos) = self.pending_join.iter().position(|&x| x == id) {
            self.pending_join.remove(pos);
            self.release_request(r);
        } else if let Some(pos) = self.slot_wait.iter().position(|&x| x == id) {
            self.slot_wait.remove(pos);
            self.release_request(r);
        } else if self.role == Role::Prefill {
            // Computed here; its KV is held for the decode side or moving there.
            self.release_request(r);
        }
    }

    /// Free the KV reserved here (a decode instance) for request `r`, whose KV has not
    /// arrived, and its cache references here.
    pub fn cancel_reservation(&mut self, r: &mut Request) {
        debug_assert!(r.kv_reserved, "a reservation to cancel");
        self.reserved_inflight -= 1;
        self.give_blocks(u64::from(r.reserved_blocks));
        r.reserved_blocks = 0;
        r.kv_reserved = false;
        self.release_refs(r);
        self.drop_promise(r);
    }

    /// The counters of the sampling window that just closed (reset for the next).
    pub fn take_window(&mut self) -> WindowCounters {
        std::mem::take(&mut self.window)
    }

    // ----- lifecycle ----------------------------------------------------------------------

    /// Where it is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// Whether routers may pick it.
    pub fn is_ready(&self) -> bool {
        self.lifecycle == Lifecycle::Ready
    }

    /// Its start epoch (bumped when a start is cancelled).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Cancel a start in progress: its pending start events go stale.
    pub fn cancel_start(&mut self) {
        self.epoch += 1;
    }

    /// Nanoseconds it has held its GPUs up to `now`.
    pub fn active_ns_until(&self, now: SimTime) -> u64 {
        self.active_ns
            + self
                .active_since
                .map_or(0, |t| now.as_nanos().saturating_sub(t.as_nanos()))
    }

    /// Nanoseconds it held its GPUs between the start and `until`, whatever it did
    /// after `until` (a spell that ended later counts up to `until`).
    pub fn active_ns_within(&self, until: SimTime) -> u64 {
        let u = until.as_nanos();
        let closed: u64 = self
            .active_spells
            .iter()
            .map(|&(a, b)| b.min(u).saturating_sub(a.min(u)))
            .sum();
        closed
            + self
                .active_since
                .map_or(0, |t| u.saturating_sub(t.as_nanos()))
    }

    /// Move to `to` at `now`, keeping the GPU-time account.
    pub fn set_lifecycle(&mut self, to: Lifecycle, now: SimTime) {
        let active = |l: Lifecycle| l != Lifecycle::Stopped;
        match (active(self.lifecycle), active(to)) {
            (false, true) => self.active_since = Some(now),
            (true, false) => {
                if let Some(t) = self.active_since {
                    self.active_spells.push((t.as_nanos(), now.as_nanos()));
                }
                self.active_ns = self.active_ns_until(now);
                self.active_since = None;
            }
            _ => {}
        }
        self.lifecycle = to;
    }
}

#[cfg(test)]
mod tests;
