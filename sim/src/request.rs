//! Requests in flight: their progress through prefill, transfer and decode.
//!
//! Invariants: a request lives in one arena slot from arrival to completion; the slot is
//! recycled afterwards, so memory is bounded by the requests in flight, not by the run's
//! length. A request's `serial` (arrival order) is its public id in outputs. Decode
//! progress is not stored per token: it is derived from the instance's decode-step
//! counter (see [`DecodeSlot`]).
//!
//! A request that times out (its client gives up, `[workload] timeout-s`) is taken out
//! of whatever it is in at that instant and reported as `timed-out`; its slot is
//! recycled then, except while an event naming it is still pending (SGLang's bootstrap,
//! a transfer's connector setup): it stays `aborted` until that event pops.

use crate::id::{IdVec, InstanceId, RequestId};
use crate::time::SimTime;

/// Where a request is in its life.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Routed to a decode instance that has no KV room for it yet (SGLang pre-allocation,
    /// vLLM pull, Dynamo remote prefill).
    AwaitingDecodeKv,
    /// SGLang bootstrap handshake in progress.
    Bootstrapping,
    /// In Dynamo's global prefill queue.
    InPrefillQueue,
    /// Waiting in an instance's prefill queue (new, or preempted for recompute).
    Waiting,
    /// Admitted; prompt partly computed (chunked prefill).
    Prefilling,
    /// KV moving from the prefill to the decode instance.
    Transferring,
    /// KV present on the decode instance; waiting for a running slot.
    AwaitingDecodeSlot,
    /// In a decode batch.
    Decoding,
    /// Ended (completed, rejected or timed out): its slot is free or about to be reused.
    Ended,
}

/// A request's place in an instance's decode set. The context it has at the instance's
/// decode step `k` is `context0 + (k - step0)`; it finishes at step `step0 + remaining`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeSlot {
    /// Order of admission into the decode set (unique per instance; newest is preempted first).
    pub admit_seq: u64,
    /// The instance's decode-step counter when the request joined.
    pub step0: u64,
    /// Tokens in its KV cache when it joined.
    pub context0: u64,
    /// Decode steps it had left when it joined.
    pub remaining: u64,
}

/// A request in flight.
#[derive(Clone, Debug)]
pub struct Request {
    /// Arrival order (0-based); the id reported in `requests.csv`.
    pub serial: u64,
    /// Arrival instant.
    pub arrival: SimTime,
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Output tokens to generate.
    pub output_tokens: u32,
    /// The closed-loop client that issued it, if any.
    pub client: Option<u32>,
    /// Where it is.
    pub phase: Phase,
    /// Instance that computes (or computed) its prompt.
    pub prefill_instance: Option<InstanceId>,
    /// Instance that decodes it.
    pub decode_instance: Option<InstanceId>,
    /// Tokens to compute in prefill: the prompt, plus the tokens generated before a
    /// preemption when it is recomputed.
    pub prefill_target: u32,
    /// Tokens of `prefill_target` computed so far.
    pub prefilled: u32,
    /// Output tokens produced so far (the first one by prefill).
    pub generated: u32,
    /// KV blocks it holds on the instance computing it.
    pub blocks: u32,
    /// KV blocks reserved for it on its decode instance before the KV arrives.
    pub reserved_blocks: u32,
    /// Decode-set bookkeeping while decoding.
    pub slot: DecodeSlot,
    /// Start of its first prefill step.
    pub prefill_start: Option<SimTime>,
    /// When its first token reached the user.
    pub first_token: Option<SimTime>,
    /// When its latest token was produced (for inter-token latency).
    pub last_token: Option<SimTime>,
    /// When its KV transfer started (after setup).
    pub transfer_start: Option<SimTime>,
    /// Total time spent moving KV, summed over transfers.
    pub transfer_ns: u64,
    /// Times it was preempted.
    pub preemptions: u32,
    /// Whether Dynamo's decode worker prefilled it locally.
    pub local_prefill: bool,
    /// Prefix-cache chain keys of the prompt's full hash blocks (empty without hashes).
    pub prefix_keys: Vec<u64>,
    /// Tokens per hash block of `prefix_keys`.
    pub hash_block_tokens: u32,
    /// Conversation id, when the workload has sessions.
    pub session: Option<u64>,
    /// Prompt tokens served from the prefix cache at its (first) prefill admission.
    pub cached_tokens: u32,
    /// Prefix tokens shared from the cache of the instance computing its prompt now
    /// (block-aligned; its private blocks cover the rest).
    pub shared_tokens: u32,
    /// Cache entries it references on its prefill-only instance.
    pub refs_prefill: u32,
    /// Cache entries it references on the instance where it decodes (also where it is
    /// computed when aggregated or prefilled locally).
    pub refs_local: u32,
    /// KV blocks promised to it on its prefill-only instance (whole-sequence admission,
    /// `guaranteed-no-evict`; 0 when not admitted there).
    pub promised_prefill: u32,
    /// KV blocks promised to it where it decodes (or is computed when aggregated).
    pub promised_local: u32,
    /// Prompt tokens not sent because the decode instance had them cached.
    pub transfer_skipped_tokens: u32,
    /// Whether it is one of the workload's warm-up requests (simulated, not measured).
    pub warmup: bool,
    /// Whether KV is reserved for it on its decode instance and has not arrived yet.
    pub kv_reserved: bool,
    /// Whether its prefill-only instance has sent its KV and stopped counting it.
    pub kv_sent: bool,
    /// Timed out while an event naming it was pending: its slot is freed when that
    /// event pops (which then does nothing else).
    pub aborted: bool,
    /// Times the router retried it after a failure took its instance (`[failures]
    /// retries`); each retry starts it over from its prompt.
    pub retries: u32,
}

impl Request {
    /// A new request arriving at `arrival`.
    pub fn new(
        serial: u64,
        arrival: SimTime,
        input_tokens: u32,
        output_tokens: u32,
        client: Option<u32>,
    ) -> Request {
        Request {
            serial,
            arrival,
            input_tokens,
            output_tokens,
            client,
            phase: Phase::Waiting,
            prefill_instance: None,
            decode_instance: None,
            prefill_target: input_tokens,
            prefilled: 0,
            generated: 0,
            blocks: 0,
            reserved_blocks: 0,
            slot: DecodeSlot::default(),
            prefill_start: None,
            first_token: None,
            last_token: None,
            transfer_start: None,
            transfer_ns: 0,
            preemptions: 0,
            local_prefill: false,
            prefix_keys: Vec::new(),
            hash_block_tokens: 0,
            session: None,
            cached_tokens: 0,
            shared_tokens: 0,
            refs_prefill: 0,
            refs_local: 0,
            promised_prefill: 0,
            promised_local: 0,
            transfer_skipped_tokens: 0,
            warmup: false,
            kv_reserved: false,
            kv_sent: false,
            aborted: false,
            retries: 0,
        }
    }

    /// Tokens in its KV cache once its prefill target is computed.
    pub fn context_after_prefill(&self) -> u64 {
        u64::from(self.prefill_target)
    }

    /// Decode steps still needed after the prompt is computed (the first token comes from
    /// prefill).
    pub fn decode_steps_left(&self) -> u64 {
        u64::from(self.output_tokens.saturating_sub(self.generated))
    }
}

/// The request arena: requests in flight by id (slots recycled).
pub type Requests = IdVec<RequestId, Request>;

/// Blocks of `block` tokens needed to hold `tokens` tokens.
pub fn blocks_for(tokens: u64, block: u32) -> u64 {
    tokens.div_ceil(u64::from(block))
}
