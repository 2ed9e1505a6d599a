//! How one instance splits a model over its GPUs: tensor parallelism, attention data
//! parallelism (DP attention) and expert parallelism (EP).
//!
//! The convention is SGLang's (`--tp N --dp D --enable-dp-attention --ep-size E`) and
//! TensorRT-LLM's (`tp_size`, `enable_attention_dp`, `moe_expert_parallel_size`): `gpus`
//! is the instance's GPU count (their TP size); `dp` attention ranks each run attention,
//! the dense FFN layers, the router, the shared experts and lm_head for their own
//! requests, split by TP `gpus / dp` inside the rank, and hold their own KV cache; `ep`
//! expert ranks each hold `experts / ep` routed experts, split by TP `gpus / ep`. With
//! `dp = ep = 1` this is plain tensor parallelism over all GPUs.
//!
//! Invariants (checked by [`Parallelism::check`]): `dp` and `ep` divide `gpus`; the
//! attention TP `gpus / dp` divides the heads (and the KV heads, or is a multiple of
//! them); `ep` divides the routed experts; `dp > 1` and `ep > 1` only for
//! mixture-of-experts models (a dense model's data-parallel ranks are replicas).

use crate::ModelArch;
use crate::memory::{FitError, check_tp};
use serde::Serialize;

/// The split of one instance over its GPUs (see the module docs).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Parallelism {
    /// GPUs of the instance (SGLang's `--tp`, TensorRT-LLM's `tp_size`).
    pub gpus: u32,
    /// Attention data-parallel ranks (1: attention split by TP over all GPUs).
    pub dp: u32,
    /// Expert-parallel ranks (1: every GPU holds a TP slice of every expert).
    pub ep: u32,
}

impl From<u32> for Parallelism {
    /// Plain tensor parallelism over `tp` GPUs (0 is taken as 1).
    fn from(tp: u32) -> Parallelism {
        Parallelism {
            gpus: tp.max(1),
            dp: 1,
            ep: 1,
        }
    }
}

impl Parallelism {
    /// TP inside one attention rank: `gpus / dp` (at least 1).
    pub fn attention_tp(&self) -> u32 {
        (self.gpus / self.dp.max(1)).max(1)
    }

    /// TP inside one expert rank: `gpus / ep` (at least 1).
    pub fn moe_tp(&self) -> u32 {
        (self.gpus / self.ep.max(1)).max(1)
    }

    /// Attention data-parallel ranks, at least 1.
    pub fn dp_ranks(&self) -> u32 {
        self.dp.max(1)
    }

    /// Expert-parallel ranks, at least 1.
    pub fn ep_ranks(&self) -> u32 {
        self.ep.max(1)
    }

    /// Whether this is plain tensor parallelism (`dp = ep = 1`).
    pub fn is_plain_tp(&self) -> bool {
        self.dp <= 1 && self.ep <= 1
    }

    /// How it is written in reports: `TP 8`, or `TP 8, DP-attention 8, EP 8`.
    pub fn label(&self) -> String {
        if self.is_plain_tp() {
            format!("TP {}", self.gpus)
        } else {
            format!(
                "TP {}, DP-attention {}, EP {}",
                self.gpus,
                self.dp_ranks(),
                self.ep_ranks()
            )
        }
    }

    /// Whether `arch` can be split this way (see the module invariants).
    pub fn check(&self, arch: &ModelArch) -> Result<(), FitError> {
        let bad = |message: String| FitError::Parallelism {
            model: arch.id.clone(),
            message,
        };
        let (g, dp, ep) = (self.gpus, self.dp, self.ep);
        if g == 0 || dp == 0 || ep == 0 {
            return Err(bad(format!(
                "GPUs {g}, DP {dp} and EP {ep} must be at least 1"
            )));
        }
        if !g.is_multiple_of(dp) {
            return Err(bad(format!("DP-attention {dp} does not divide TP {g}")));
        }
        if !g.is_multiple_of(ep) {
            return Err(bad(format!("EP {ep} does not divide TP {g}")));
        }
        match &arch.moe {
            None if dp > 1 || ep > 1 => {
                return Err(bad(format!(
                    "DP-attention {dp} / EP {ep} need a mixture-of-experts model (a dense model's data-parallel ranks are replicas: use more replicas)"
                )));
            }
            Some(m) if !m.num_experts.is_multiple_of(ep) => {
                return Err(bad(format!(
                    "EP {ep} does not divide the {} routed experts",
                    m.num_experts
                )));
            }
            _ => {}
        }
        check_tp(arch, self.attention_tp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_checks() {
        let ds = ModelArch::builtin("deepseek-v3").unwrap();
        let p = Parallelism {
            gpus: 8,
            dp: 8,
            ep: 8,
        };
        assert_eq!((p.attention_tp(), p.moe_tp()), (1, 1));
        p.check(&ds).unwrap();
        assert_eq!(p.label(), "TP 8, DP-attention 8, EP 8");
        let tp = Parallelism::from(8);
        assert!(tp.is_plain_tp());
        assert_eq!(
            (tp.attention_tp(), tp.moe_tp(), tp.label()),
            (8, 8, "TP 8".into())
        );
        let err = |p: Parallelism, a: &ModelArch| p.check(a).unwrap_err().to_string();
        let e = err(
            Parallelism {
                gpus: 8,
                dp: 3,
                ep: 1,
            },
            &ds,
        );
        assert!(e.contains("DP-attention 3 does not divide TP 8"), "{e}");
        let e = err(
            Parallelism {
                gpus: 6,
                dp: 1,
                ep: 3,
            },
            &ModelArch::builtin("qwen3-235b-a22b").unwrap(),
        );
        assert!(
            e.contains("EP 3 does not divide the 128 routed experts"),
            "{e}"
        );
        let llama = ModelArch::builtin("llama-3.1-8b").unwrap();
        let e = err(
            Parallelism {
                gpus: 2,
                dp: 2,
                ep: 1,
            },
            &llama,
        );
        assert!(e.contains("mixture-of-experts"), "{e}");
        let e = err(
            Parallelism {
                gpus: 8,
                dp: 1,
                ep: 0,
            },
            &ds,
        );
        assert!(e.contains("at least 1"), "{e}");
    }
}
