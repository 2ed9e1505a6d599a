//! The calibrated cost model against the committed forward-pass measurements
//! (`validation/steps_*.csv`, written by `validation/forward_bench.py` on one H100 and
//! one H200): the target is a median relative error of at most 10% and no row
//! worse than 25%, GPU time only (the measurements have no engine CPU overhead).
//! `xpyd validate --steps validation/steps_h100.csv --gpu-only` prints the same rows.
//!
//! Two references: the eager PyTorch layer (`steps_*.csv`, unfused glue kernels) and the
//! same layer with its glue compiled into fused kernels as engines run it
//! (`steps_*_fused.csv`, `forward_bench.py --fused`). With the sustained-GEMM tables the
//! shipped profiles gave (docs/calibration.md): eager H100 9.6% / 19.7%, H200 7.9% /
//! 22.8%; fused H100 5.0% / 14.6%, H200 6.5% / 16.9%. The assertions keep a small margin
//! so that a re-measured profile moving a row by a point does not break the build; a
//! larger move is a regression to look at.

use xpyd_models::{CostModel, CostSource, Dtype, Efficiencies, GpuSpec, ModelArch, StepShape};

/// `(gpu, model, predicted / measured - 1)` of every row of one CSV.
fn errors(csv: &str, roofline: bool) -> Vec<(String, String, f64)> {
    let eff = Efficiencies {
        step_overhead_s: 0.0,
        per_seq_overhead_s: 0.0,
        ..Efficiencies::default()
    };
    let mut out = Vec::new();
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let c: Vec<&str> = line.split(',').collect();
        let (model, gpu, tp, phase) = (c[0], c[1], c[2].parse::<u32>().unwrap(), c[3]);
        let [b, t, ctx]: [u64; 3] = [c[4], c[5], c[6]].map(|v| v.parse().unwrap());
        let ms: f64 = c[7].parse().unwrap();
        let cm = CostModel::new(
            ModelArch::builtin(model).unwrap(),
            GpuSpec::builtin(gpu).unwrap(),
            tp,
            Dtype::Bf16,
            Dtype::Bf16,
            eff.clone(),
        );
        let cm = if roofline { cm.with_profile(None) } else { cm };
        let shape = match phase {
            "prefill" => StepShape {
                prefill_tokens: b * t,
                prefill_seqs: b as u32,
                prefill_attn_pairs: b * (t * ctx + t * (t + 1) / 2),
                ..StepShape::default()
            },
            _ => StepShape {
                decode_seqs: b as u32,
                decode_context_tokens: b * ctx,
                ..StepShape::default()
            },
        };
        let cost = cm.step(&shape);
        if !roofline {
            assert_eq!(cost.source, CostSource::Calibrated, "{line}");
        }
        out.push((
            gpu.to_string(),
            model.to_string(),
            cost.seconds * 1e3 / ms - 1.0,
        ));
    }
    out
}

fn median_max(e: &[(String, String, f64)]) -> (f64, f64) {
    let mut a: Vec<f64> = e.iter().map(|x| x.2.abs()).collect();
    a.sort_by(f64::total_cmp);
    let n = a.len();
    let median = if n % 2 == 1 {
        a[n / 2]
    } else {
        0.5 * (a[n / 2 - 1] + a[n / 2])
    };
    (median, a[n - 1])
}

#[test]
fn calibrated_costs_meet_the_validation_target_on_h100_and_h200() {
    for (name, csv, median_at_most, max_at_most) in [
        (
            "h100",
            include_str!("../../validation/steps_h100.csv"),
            0.11,
            0.25,
        ),
        (
            "h200",
            include_str!("../../validation/steps_h200.csv"),
            0.10,
            0.25,
        ),
        (
            "h100 fused",
            include_str!("../../validation/steps_h100_fused.csv"),
            0.07,
            0.20,
        ),
        (
            "h200 fused",
            include_str!("../../validation/steps_h200_fused.csv"),
            0.08,
            0.20,
        ),
    ] {
        let e = errors(csv, false);
        assert!(e.len() > 60, "{name}: {} rows", e.len());
        let (median, max) = median_max(&e);
        eprintln!("{name}: median {median:.3} max {max:.3}");
        assert!(median <= median_at_most, "{name}: median |error| {median}");
        assert!(max <= max_at_most, "{name}: max |error| {max}");
        // Calibration must beat the roofline it replaces.
        let (r_median, _) = median_max(&errors(csv, true));
        assert!(median < r_median, "{name}: {median} vs roofline {r_median}");
    }
}
