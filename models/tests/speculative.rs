//! Speculative decoding in the step cost (issue 15 item 2): a decode step costs the
//! verify pass plus the drafts over the tokens it emits, in closed form.

use xpyd_models::{CostModel, Dtype, Efficiencies, GpuSpec, ModelArch, Speculative, StepShape};

fn model(spec: Option<Speculative>) -> CostModel {
    CostModel::new(
        ModelArch::builtin("deepseek-v3").unwrap(),
        GpuSpec::builtin("h200").unwrap(),
        8,
        Dtype::Fp8,
        Dtype::Bf16,
        Efficiencies::default(),
    )
    .with_speculative(spec)
}

#[test]
fn tokens_per_step_is_the_geometric_sum() {
    let s = |k, a| Speculative::uniform(k, a).unwrap();
    assert_eq!(s(3, 0.0).tokens_per_step(), 1.0);
    assert_eq!(s(3, 1.0).tokens_per_step(), 4.0);
    let e = s(2, 0.8).tokens_per_step();
    assert!((e - (1.0 + 0.8 + 0.64)).abs() < 1e-12, "{e}");
    let closed = (1.0 - 0.7f64.powi(4)) / (1.0 - 0.7);
    assert!((s(3, 0.7).tokens_per_step() - closed).abs() < 1e-12);
}

#[test]
fn per_position_rates_chain_and_bounds_are_enforced() {
    let p = Speculative::per_position(&[0.9, 0.8, 0.5]).unwrap();
    assert_eq!(p.draft_tokens, 3);
    assert_eq!(p.acceptance(), &[0.9, 0.8, 0.5]);
    let e = 1.0 + 0.9 + 0.9 * 0.8 + 0.9 * 0.8 * 0.5;
    assert!((p.tokens_per_step() - e).abs() < 1e-12);
    // Equal rates are the uniform case.
    assert_eq!(
        Speculative::per_position(&[0.7; 4]).unwrap(),
        Speculative::uniform(4, 0.7).unwrap()
    );
    // A rejected position ends the chain: later rates do not count.
    let cut = Speculative::per_position(&[0.9, 0.0, 1.0]).unwrap();
    assert!((cut.tokens_per_step() - 1.9).abs() < 1e-12);
    assert!(Speculative::per_position(&[]).is_none());
    assert!(Speculative::per_position(&[0.5; 17]).is_none());
    assert!(Speculative::per_position(&[0.5, 1.5]).is_none());
    assert!(Speculative::per_position(&[f64::NAN]).is_none());
    assert!(Speculative::uniform(0, 0.5).is_none());
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(json, r#"{"draft_tokens":3,"acceptance":[0.9,0.8,0.5]}"#);
}

#[test]
fn a_decode_step_is_verify_plus_drafts_over_the_tokens_emitted() {
    let spec = Speculative::uniform(3, 0.7).unwrap();
    let (plain, mtp) = (model(None), model(Some(spec)));
    let (b, ctx) = (64u32, 4096u64);
    let d = StepShape::decode_batch(b, ctx);
    // The verify pass: 3 draft tokens per sequence as extra query tokens attending to
    // the sequence's context and the drafts before them, with logits.
    let k = 3u64;
    let verify = StepShape {
        prefill_tokens: u64::from(b) * k,
        prefill_seqs: b * 3,
        prefill_attn_pairs: k * u64::from(b) * ctx + u64::from(b) * k * (k + 1) / 2,
        ..d
    };
    let one = plain.breakdown(&d);
    let layers = 61.0;
    let draft = 3.0 * ((one.total() - one.lm_head_s) / layers + one.lm_head_s);
    let e = spec.tokens_per_step();
    let expect = (plain.step_seconds(&verify) + draft) / e;
    let got = mtp.step_seconds(&d);
    assert!((got / expect - 1.0).abs() < 1e-9, "{got} vs {expect}");
    // At this batch the drafts pay: a token costs less than without them.
    assert!(
        got < plain.step_seconds(&d),
        "{got} vs {}",
        plain.step_seconds(&d)
    );
    // A prefill-only step is untouched; the memoised path agrees.
    let p = StepShape::prefill_chunk(2048, 0);
    assert_eq!(mtp.step_seconds(&p), plain.step_seconds(&p));
    let mut memo = xpyd_models::StepMemo::new();
    assert_eq!(mtp.step_seconds_memo(&d, &mut memo), got);
    // Nothing accepted: every step pays the verify pass and the drafts for one token.
    let none = model(Some(Speculative::uniform(3, 0.0).unwrap()));
    assert!(none.step_seconds(&d) > plain.step_seconds(&d));
}

#[test]
fn prefill_keeps_its_marginal_cost_with_dp_attention() {
    // DP-attention 8: the drafts spread with their sequences, a prompt chunk stays on one
    // rank; the prefill's extra cost in a mixed step is the plain step's.
    let par = xpyd_models::Parallelism {
        gpus: 8,
        dp: 8,
        ep: 8,
    };
    let m = |spec| {
        CostModel::new(
            ModelArch::builtin("deepseek-v3").unwrap(),
            GpuSpec::builtin("h200").unwrap(),
            par,
            Dtype::Fp8,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_profile(None)
        .with_speculative(spec)
    };
    let (plain, mtp) = (m(None), m(Some(Speculative::uniform(2, 0.6).unwrap())));
    let d = StepShape::decode_batch(64, 2048);
    let mixed = StepShape {
        prefill_tokens: 4096,
        prefill_seqs: 1,
        prefill_attn_pairs: 4096 * 4097 / 2,
        ..d
    };
    let extra = |c: &CostModel| c.step_seconds(&mixed) - c.step_seconds(&d);
    assert!((extra(&mtp) / extra(&plain) - 1.0).abs() < 1e-9);
    // The sources are the real step's: no prefill attention in a decode step.
    assert_eq!(
        mtp.step(&d).sources.attention_prefill,
        xpyd_models::TermSource::None
    );
}
