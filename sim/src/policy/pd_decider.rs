//! The PD decider: whether a request routed to a decode instance has its prompt computed
//! there ("prefill locally") instead of on a prefill instance.
//!
//! One rule serves both deployments that decide this: NVIDIA Dynamo's decode worker
//! (prefill locally when the prompt is at most `max-local-prefill-tokens` or the remote
//! prefill queue holds at least `max-prefill-queue` requests: the conditional
//! disaggregation of Dynamo's disaggregated router, README "Dynamo") and llm-d's
//! `prefix-based-pd-decider` behind a GAIE endpoint picker (prefill locally when fewer
//! than `nonCachedTokens` prompt tokens are uncached on the chosen decode endpoint,
//! `pd-epp-config.yaml`). The caller supplies the uncached prompt tokens as its router
//! believes them and the remote queue's length; the decider holds only thresholds.
//!
//! Invariant: a decider never draws random numbers and never changes state.

use crate::scenario::DynamoConfig;

/// "Prefill here or remotely".
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct PdDecider {
    /// Prefill locally when fewer uncached prompt tokens than this remain (0: never by
    /// length).
    local_below_tokens: u64,
    /// Prefill locally when the remote prefill queue holds at least this many requests.
    queue_at_least: Option<usize>,
}

impl PdDecider {
    /// Always remote (a plain PD router).
    pub(crate) fn never() -> PdDecider {
        PdDecider {
            local_below_tokens: 0,
            queue_at_least: None,
        }
    }

    /// Dynamo's decode worker: local when the prompt is at most
    /// `max_local_prefill_tokens` or the prefill queue holds `max_prefill_queue` or more.
    pub(crate) fn dynamo(cfg: &DynamoConfig) -> PdDecider {
        PdDecider {
            local_below_tokens: u64::from(cfg.max_local_prefill_tokens) + 1,
            queue_at_least: Some(cfg.max_prefill_queue as usize),
        }
    }

    /// llm-d's `prefix-based-pd-decider`: local when fewer than `non_cached_tokens`
    /// prompt tokens are uncached on the decode endpoint (0 disables it).
    pub(crate) fn prefix(non_cached_tokens: u32) -> PdDecider {
        PdDecider {
            local_below_tokens: u64::from(non_cached_tokens),
            queue_at_least: None,
        }
    }

    /// Whether a prompt with `uncached_tokens` tokens to compute, with `prefill_queue`
    /// requests waiting for a remote prefill, is computed on its decode instance.
    pub(crate) fn prefill_locally(&self, uncached_tokens: u64, prefill_queue: usize) -> bool {
        uncached_tokens < self.local_below_tokens
            || self.queue_at_least.is_some_and(|q| prefill_queue >= q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamo_thresholds_are_inclusive_on_length_and_queue() {
        let d = PdDecider::dynamo(&DynamoConfig {
            max_local_prefill_tokens: 512,
            max_prefill_queue: 3,
        });
        assert!(d.prefill_locally(512, 0));
        assert!(!d.prefill_locally(513, 2));
        assert!(d.prefill_locally(10_000, 3));
    }

    #[test]
    fn prefix_decider_counts_uncached_tokens_and_zero_disables_it() {
        let d = PdDecider::prefix(16);
        assert!(d.prefill_locally(15, 99));
        assert!(!d.prefill_locally(16, 99));
        assert!(!PdDecider::prefix(0).prefill_locally(0, 0));
        assert!(!PdDecider::never().prefill_locally(0, usize::MAX));
    }
}
