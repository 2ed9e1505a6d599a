//! The memoised step cost equals the direct one bit for bit, for calibrated, borrowed,
//! MoE/MLA and roofline cost models, whatever order the shapes come in.

use proptest::prelude::*;
use xpyd_models::{CostModel, Dtype, Efficiencies, GpuSpec, ModelArch, StepMemo, StepShape};

fn model(id: &str, gpu: &str, tp: u32) -> CostModel {
    CostModel::new(
        ModelArch::builtin(id).unwrap(),
        GpuSpec::builtin(gpu).unwrap(),
        tp,
        Dtype::Bf16,
        Dtype::Bf16,
        Efficiencies::default(),
    )
}

fn models() -> Vec<CostModel> {
    vec![
        model("qwen3-32b", "h100", 2),
        model("qwen3-32b", "h100", 8),
        model("llama-3.1-8b", "h200", 1),
        model("llama-3.1-8b", "a100", 1),
        model("deepseek-v3", "h200", 8),
    ]
}

fn shape() -> impl Strategy<Value = StepShape> {
    (0u64..20_000, 0u32..4, 0u32..600, 1u64..40_000, 0u64..5_000).prop_map(
        |(prefill, pseqs, dseqs, ctx, before)| {
            let (prefill_tokens, prefill_seqs) = if pseqs == 0 { (0, 0) } else { (prefill, pseqs) };
            StepShape {
                prefill_tokens,
                prefill_seqs,
                prefill_attn_pairs: prefill_tokens * before
                    + prefill_tokens * (prefill_tokens + 1) / 2,
                decode_seqs: dseqs,
                decode_context_tokens: u64::from(dseqs) * ctx,
            }
        },
    )
}

proptest! {
    #[test]
    fn memo_is_bit_identical(shapes in prop::collection::vec(shape(), 1..40)) {
        for cm in models() {
            let mut memo = StepMemo::new();
            // Twice: the first pass fills the memo, the second reads it.
            for _ in 0..2 {
                for s in &shapes {
                    let direct = cm.step_seconds(s);
                    let memo_s = cm.step_seconds_memo(s, &mut memo);
                    prop_assert_eq!(direct.to_bits(), memo_s.to_bits(), "{:?} {:?}", cm.arch().id, s);
                }
            }
        }
    }
}

#[test]
fn memo_repeats_decode_batches_exactly() {
    let cm = model("qwen3-32b", "h100", 2);
    let mut memo = StepMemo::new();
    for seqs in (1..=256).chain(1..=256) {
        for ctx in [100, 1_000, 10_000] {
            let s = StepShape {
                decode_seqs: seqs,
                decode_context_tokens: u64::from(seqs) * ctx,
                ..StepShape::default()
            };
            assert_eq!(
                cm.step_seconds(&s).to_bits(),
                cm.step_seconds_memo(&s, &mut memo).to_bits()
            );
        }
    }
    assert_eq!(cm.step_seconds_memo(&StepShape::default(), &mut memo), 0.0);
}
