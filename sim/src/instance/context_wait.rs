//! TensorRT-LLM's holding of context requests for batching (`PyExecutor._schedule` in
//! `tensorrt_llm/_torch/pyexecutor/py_executor.py`, read at v1.x): after its scheduler
//! picks a step's context (prefill) requests, two optional filters may hold them back
//! for later steps while other requests decode.
//!
//! - **Batch waiting** (`batch_wait_timeout_iters`, `batch_wait_max_tokens_ratio`;
//!   `_waiting_requests`, not under DP-attention): when a step has both context and
//!   generation requests, the context requests wait until the step's tokens reach the
//!   ratio of `max_num_tokens` or `timeout_iters` steps have been held; the count starts
//!   again after each release.
//! - **DP-attention balance** (`attention_dp_config.enable_balance`;
//!   `_balance_adp_requests`): the ranks exchange their counts each step. When every rank
//!   has a context request and a free slot, they run (after `batching_wait_iters` more
//!   steps when every rank also decodes); otherwise they are held, and a counter of such
//!   steps releases them when it reaches `timeout_iters` or when some rank has nothing
//!   to decode. The counter also runs while no rank has a context request (and restarts
//!   at the timeout), so a request arriving then waits out the rest of its period.
//!
//! xpyd runs an instance's DP ranks as one: its waiting requests are taken to sit on
//! distinct ranks (the ADP router balances them), every rank decodes when the instance
//! has at least one decoding sequence per rank, and a rank without sequences has the
//! engine's dummy generation request, so only a rank holding nothing but a new prompt
//! lacks a generation request.

use super::Instance;
use crate::request::Requests;
use crate::scenario::ContextWait;

/// Counters of the holds, kept across steps as TensorRT-LLM keeps them on its executor.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct WaitCounters {
    /// Steps held (`batch_wait_iters_count`, `adp_ctx_waiting_iters_count`).
    held: u32,
    /// Steps held with every rank ready (`adp_ctx_batching_wait_iters_count`).
    batching: u32,
}

impl Instance {
    /// Whether this step's context requests are held back. Called once per step planned,
    /// after its decode part, with the token budget left for prefill.
    pub(super) fn holds_context(&mut self, reqs: &Requests, budget: u64) -> bool {
        let Some(wait) = self.engine.context_wait else {
            return false;
        };
        let context = self.prefilling.len() + self.waiting.len();
        let decodes = self.decode.len();
        if context == 0 && decodes == 0 {
            // Nothing runs: the executor idles, its counters do not move.
            return false;
        }
        match wait {
            ContextWait::Batch {
                timeout_iters,
                max_tokens_ratio,
            } => {
                if context == 0 || decodes == 0 {
                    return false;
                }
                let tokens = context_tokens(self, reqs, budget) + decodes as u64;
                let c = &mut self.waits;
                if c.held >= timeout_iters
                    || tokens as f64 >= max_tokens_ratio * f64::from(self.engine.max_batched_tokens)
                {
                    c.held = 0;
                    false
                } else {
                    c.held += 1;
                    true
                }
            }
            ContextWait::AttentionDpBalance {
                timeout_iters,
                batching_wait_iters,
            } => {
                let ranks = self.cost.parallelism().dp_ranks() as usize;
                let every_rank_context = context >= ranks;
                // A rank whose only request is a new prompt has nothing to decode; with
                // fewer decoding sequences than ranks the prompts sit on such ranks.
                let every_rank_decodes = decodes >= ranks || context == 0;
                let free_slots = decodes < self.engine.max_num_seqs as usize;
                if !free_slots {
                    self.seq_limit_hit = true;
                }
                let c = &mut self.waits;
                if free_slots && every_rank_context {
                    c.held = 0;
                    if every_rank_decodes {
                        if c.batching < batching_wait_iters {
                            c.batching += 1;
                            return true;
                        }
                        c.batching = 0;
                    }
                    false
                } else {
                    c.held += 1;
                    if c.held >= timeout_iters || !every_rank_decodes {
                        c.held = 0;
                        false
                    } else {
                        true
                    }
                }
            }
        }
    }
}

/// Prompt tokens the step would schedule: the partial prefills' and the waiting
/// requests' remaining tokens in order, within the budget (whole prompts only when
/// chunking is off).
fn context_tokens(inst: &Instance, reqs: &Requests, budget: u64) -> u64 {
    let ids = inst.prefilling.iter().chain(inst.waiting.iter());
    let mut sum = 0u64;
    for &id in ids {
        let r = &reqs[id];
        let left = u64::from(r.prefill_target.saturating_sub(r.prefilled));
        if inst.engine.chunked_prefill {
            sum = (sum + left).min(budget);
            if sum == budget {
                break;
            }
        } else if sum + left <= budget || sum == 0 {
            sum += left;
        } else {
            break;
        }
    }
    sum
}
