//! The calibrated cost model against the committed forward-pass measurements
//! (`validation/steps_*.csv`, written by `validation/forward_bench.py` on one H100 and
//! one H200): the target is a median relative error of at most 10% and no row
//! worse than 25%, GPU time only (the measurements have no engine CPU overhead).
//! `xpyd validate --steps validation/steps_h100.csv --gpu-only` prints the same rows.
//!
//! The shipped profiles met the target when this was written (H100 9.7% / 24.5%, H200
//! 8.8% / 23.3%, docs/calibration.md). The assertions keep a small margin (12% / 30%) so
//! that a re-measured profile moving a row by a point does not break the build; a
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
    for (name, csv) in [
        ("h100", include_str!("../../validation/steps_h100.csv")),
        ("h200", include_str!("../../validation/steps_h200.csv")),
    ] {
        let e = errors(csv, false);
        assert!(e.len() > 60, "{name}: {} rows", e.len());
        let (median, max) = median_max(&e);
        eprintln!("{name}: median {median:.3} max {max:.3}");
        assert!(median <= 0.12, "{name}: median |error| {median}");
        assert!(max <= 0.30, "{name}: max |error| {max}");
        // Calibration must beat the roofline it replaces.
        let (r_median, _) = median_max(&errors(csv, true));
        assert!(median < r_median, "{name}: {median} vs roofline {r_median}");
    }
}
