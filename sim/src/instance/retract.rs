//! SGLang's admission estimate and retraction (`admission = "retract"`), as SGLang's
//! scheduler implements them (`sglang/srt/managers/{scheduler,schedule_policy,
//! schedule_batch}.py`, checked against the upstream sources; the behaviour is the same in
//! the 0.4 and 0.5 series).
//!
//! Invariants:
//! - `new_token_ratio` stays within `[MIN_NEW_TOKEN_RATIO, 1]`: it starts at
//!   `INIT_NEW_TOKEN_RATIO`, falls by `NEW_TOKEN_RATIO_DECAY` per decode step without a
//!   retraction (floored at the minimum) and is set by a retraction to what
//!   `ScheduleBatch.retract_decode` returns (at most 1).
//! - A new prompt is admitted on an instance that decodes it only while its prompt plus
//!   its clipped remaining output fits the free KV (cached blocks no request uses count as
//!   free) less the estimated future decode of everything running; once a prompt does
//!   not fit, none is tried until the running batch shrinks (SGLang's `batch_is_full`).
//!   The estimate only gates admission: KV is still taken block by block as tokens are
//!   computed, so the account of `Instance` is unchanged.
//! - Retraction frees every block of its victims (recomputed later, from the back of the
//!   waiting queue), fewest output tokens first, then longest prompt, then newest, until
//!   the next decode step's blocks fit or one decoding request is left.

use super::Instance;
use crate::id::RequestId;
use crate::instance::Role;
use crate::request::Requests;
use crate::scenario::Admission;

/// Output tokens a request counts at most in the admission estimate
/// (`CLIP_MAX_NEW_TOKENS` in `schedule_policy.py`, environment variable
/// `SGLANG_CLIP_MAX_NEW_TOKENS_ESTIMATION`, default 4096). It clips the estimate only.
pub(crate) const CLIP_MAX_NEW_TOKENS: u64 = 4096;

/// `Scheduler.init_new_token_ratio`: `global_config.default_init_new_token_ratio` (0.7,
/// `SGLANG_INIT_NEW_TOKEN_RATIO`) x `--schedule-conservativeness` (default 1.0), at most 1
/// (`Scheduler.__init__` in `scheduler.py`).
pub(crate) const INIT_NEW_TOKEN_RATIO: f64 = 0.7;

/// `Scheduler.min_new_token_ratio`: the initial ratio x
/// `default_min_new_token_ratio_factor` (0.14, `SGLANG_MIN_NEW_TOKEN_RATIO_FACTOR`).
pub(crate) const MIN_NEW_TOKEN_RATIO: f64 = INIT_NEW_TOKEN_RATIO * 0.14;

/// `Scheduler.new_token_ratio_decay`: (initial - minimum) /
/// `default_new_token_ratio_decay_steps` (600, `SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS`).
pub(crate) const NEW_TOKEN_RATIO_DECAY: f64 =
    (INIT_NEW_TOKEN_RATIO - MIN_NEW_TOKEN_RATIO) / 600.0;

/// `global_config.retract_decode_steps`: decode steps of headroom per remaining request
/// in the ratio a retraction sets.
pub(crate) const RETRACT_DECODE_STEPS: u64 = 20;

impl Instance {
    /// Whether SGLang's estimate gates the admission of new prompts here: under `retract`,
    /// on an instance that decodes what it prefills (aggregated). A prefill-only instance
    /// hands requests off after the prompt; a decode instance pre-allocates transferred
    /// prompts with its own rule (`reserve_next`), which in SGLang does not read the ratio
    /// (`DecodePreallocQueue.pop_preallocated`, "TODO: add new_token ratio").
    pub(super) fn estimates_decode(&self) -> bool {
        self.engine.admission == Admission::Retract && self.role == Role::Aggregated
    }

    /// SGLang's current `new_token_ratio` here.
    #[cfg(test)]
    pub(crate) fn new_token_ratio(&self) -> f64 {
        self.new_token_ratio
    }

    /// Tokens held back for the future decode of the requests running here:
    /// `min(max_new_tokens - generated, CLIP_MAX_NEW_TOKENS) x new_token_ratio` each
    /// (`PrefillAdder._get_running_request_total_token_offset` in `schedule_policy.py`).
    /// Partial prefills count as running (SGLang reserves its chunked request's output,
    /// unscaled, in the round its last chunk is added).
    pub(super) fn running_decode_estimate(&self, reqs: &Requests) -> f64 {
        let waiting_to_decode = self
            .prefilling
            .iter()
            .chain(&self.pending_join)
            .chain(&self.slot_wait)
            .map(|&id| reqs[id].decode_steps_left().min(CLIP_MAX_NEW_TOKENS))
            .sum::<u64>();
        (self.decode.remaining_clipped() + waiting_to_decode) as f64 * self.new_token_ratio
    }

    /// `PrefillAdder.rem_total_tokens`: free KV tokens (unused cached blocks included)
    /// less `pinned_blocks` about to be referenced, the running requests' estimate
    /// `running` and `admitted_output`, the clipped outputs of the prompts admitted in this
    /// step (their prompt blocks are already taken here, where SGLang counts them in the
    /// same offset).
    pub(super) fn rem_total_tokens(&self, pinned_blocks: u64, running: f64, admitted_output: u64) -> f64 {
        let free = (self.available_blocks() - pinned_blocks) * u64::from(self.block_tokens());
        free as f64 - running - admitted_output as f64
    }

    /// The decoding request `ScheduleBatch.retract_decode` gives up first: the one with the
    /// fewest output tokens, then the longest prompt (its sort key `(len(output_ids),
    /// -len(origin_input_ids))`, descending, popped from the end), then the newest (the
    /// sort is stable and the batch is in admission order). While one request decodes,
    /// SGLang retracts no further; here a partial prefill goes first, then that request.
    pub(super) fn retraction_victim(&self, reqs: &Requests) -> Option<RequestId> {
        if self.decode.len() <= 1 && !self.prefilling.is_empty() {
            return self.prefilling.last().copied();
        }
        let step = self.decode.step;
        self.decode.members().min_by_key(|&id| {
            let r = &reqs[id];
            let generated = u64::from(r.generated) + (step - r.slot.step0);
            (
                generated,
                std::cmp::Reverse(r.input_tokens),
                std::cmp::Reverse(r.slot.admit_seq),
            )
        })
    }

    /// Update `new_token_ratio` for a decode step that runs: after a retraction, SGLang
    /// sets it to (output tokens so far + `RETRACT_DECODE_STEPS` x requests) / their
    /// `max_new_tokens`, over the requests left, at most 1 (`retract_decode`'s
    /// `new_estimate_ratio`); otherwise it decays toward the minimum
    /// (`Scheduler.update_running_batch`).
    pub(super) fn update_new_token_ratio(&mut self, retracted: bool, reqs: &Requests) {
        if !retracted {
            self.new_token_ratio =
                (self.new_token_ratio - NEW_TOKEN_RATIO_DECAY).max(MIN_NEW_TOKEN_RATIO);
            return;
        }
        let step = self.decode.step;
        let (mut decoded, mut max_new, mut n) = (0u64, 0u64, 0u64);
        for id in self.decode.members() {
            let r = &reqs[id];
            decoded += u64::from(r.generated) + (step - r.slot.step0);
            max_new += u64::from(r.output_tokens);
            n += 1;
        }
        if max_new > 0 {
            self.new_token_ratio =
                ((decoded + RETRACT_DECODE_STEPS * n) as f64 / max_new as f64).min(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sglang_defaults() {
        assert!((MIN_NEW_TOKEN_RATIO - 0.098).abs() < 1e-12);
        assert!((NEW_TOKEN_RATIO_DECAY - 0.602 / 600.0).abs() < 1e-12);
    }
}
