//! Every catalog model on every catalog GPU at TP 1-8: the memory plan either fits or
//! says why, and a fitting instance has finite, positive step costs.

use xpyd_models::{
    CostModel, Dtype, Efficiencies, FitError, GpuSpec, MemoryPlan, ModelArch, StepShape,
};

#[test]
fn every_model_gpu_tp_combination_plans_and_costs() {
    let shapes = [
        StepShape {
            decode_seqs: 1,
            decode_context_tokens: 1,
            ..StepShape::default()
        },
        StepShape {
            decode_seqs: 256,
            decode_context_tokens: 256 * 4096,
            ..StepShape::default()
        },
        StepShape {
            prefill_tokens: 8192,
            prefill_seqs: 1,
            prefill_attn_pairs: 8192 * 8193 / 2,
            ..StepShape::default()
        },
    ];
    let mut fits = 0;
    for model in ModelArch::catalog_ids() {
        let arch = ModelArch::builtin(model).unwrap();
        for gpu_id in GpuSpec::catalog_ids() {
            let gpu = GpuSpec::builtin(gpu_id).unwrap();
            for tp in [1, 2, 4, 8] {
                for weights in [Dtype::Bf16, Dtype::Fp8] {
                    match MemoryPlan::new(&arch, &gpu, tp, weights, Dtype::Bf16, 0.9, 2.0) {
                        Ok(plan) => {
                            fits += 1;
                            assert!(plan.kv_capacity_tokens > 0, "{model} {gpu_id} tp{tp}");
                            let cost = CostModel::new(
                                arch.clone(),
                                gpu.clone(),
                                tp,
                                weights,
                                Dtype::Bf16,
                                Efficiencies::default(),
                            );
                            for s in &shapes {
                                let c = cost.step(s);
                                assert!(
                                    c.seconds.is_finite() && c.seconds > 0.0,
                                    "{model} {gpu_id} tp{tp}: {c:?}"
                                );
                                assert_eq!(cost.step_seconds(s), c.seconds);
                            }
                        }
                        Err(FitError::Weights {
                            weights_gib,
                            usable_gib,
                            ..
                        }) => {
                            assert!(weights_gib >= usable_gib);
                        }
                        Err(FitError::TpHeads { tp: bad, .. }) => assert_eq!(bad, tp),
                        // Plain TP never fails on the data/expert split.
                        Err(e @ FitError::Parallelism { .. }) => panic!("{e}"),
                    }
                }
            }
        }
    }
    assert!(fits > 100, "{fits}");
}
