//! Decision accuracy (`xpyd validate --serving --decisions --slo-ttft-ms T --slo-tpot-ms
//! P`): would xpyd have picked the deployment that measured best?
//!
//! Replayed closed-loop runs are grouped by model, GPU, backend and prompt/output length;
//! within a group they differ in deployment (TP, batch, workers, aggregated or PD, load).
//! Each run's output tokens/s per GPU is `clients x osl / E2E / GPUs` with `E2E = ttft +
//! (osl - 1) x tpot` (mean, measured and predicted alike), and counts only when the run
//! meets the SLO (mean TTFT <= T and mean TPOT <= P), else 0. xpyd's pick is the run with
//! the highest predicted score (the first in input order on a tie); the measured best the
//! one with the highest measured score. Per group: whether the pick is the best (top-1),
//! whether it is within 5% of the best's measured tokens/s per GPU (a hit), the regret
//! `1 - measured(pick) / measured(best)` (1 when the pick misses the SLO as measured), and
//! Kendall's tau-b between the two scores over the group's runs.
//!
//! With a confidence `c` (`--confidence`), the pick is made as `xpyd plan --confidence`
//! makes its own: among the runs predicted to meet the SLO, only those whose probability
//! of meeting it is at least `c` qualify. That probability is the share of the engine
//! model's held-out residual pairs (`ln(predicted / measured)` of TTFT and of TPOT of one
//! run, from the other folds of the run's engine x GPU x mode group,
//! [`super::residuals::held_out_pairs`]) under which the run's predicted means, divided by
//! `exp(e)`, still meet both objectives; a run without enough held-out residuals keeps its
//! point verdict (1 or 0). No run's own measurement enters its probability.
//!
//! Invariants: a function of the rows and their order only; groups sorted by key.

use super::{MeasuredRun, Report};
use crate::serving::replay::quantile;
use crate::serving::residuals::{COVERAGE_FOLDS, held_out_pairs};
use serde::Serialize;
use std::collections::BTreeMap;

/// A pick within this share of the measured best's tokens/s per GPU counts as a hit.
pub const HIT_WITHIN: f64 = 0.05;

/// Groups need this many runs meeting the SLO as measured to count in the headline rate.
pub const MIN_MEETING: usize = 3;

/// The decision check of one group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecisionGroup {
    /// Model.
    pub model: String,
    /// GPU.
    pub gpu: String,
    /// Backend.
    pub backend: String,
    /// Prompt tokens.
    pub isl: u32,
    /// Output tokens.
    pub osl: u32,
    /// Runs in the group (replayed, closed loop, with their GPUs known).
    pub candidates: usize,
    /// Runs meeting the SLO as measured.
    pub meeting_measured: usize,
    /// Runs meeting the SLO as predicted.
    pub meeting_predicted: usize,
    /// xpyd's pick (run id; `None`: no run is predicted to meet the SLO, or with a
    /// confidence none meets it with that probability).
    pub pick: Option<String>,
    /// The pick's probability of meeting the SLO under the engine model's held-out error.
    pub pick_p_meet: Option<f64>,
    /// The measured best (`None`: no run meets the SLO as measured).
    pub best: Option<String>,
    /// The pick is the measured best.
    pub top1: bool,
    /// The pick meets the SLO as measured and is within 5% of the best.
    pub hit: bool,
    /// `1 - measured(pick) / measured(best)` (`None` without a best or a pick).
    pub regret: Option<f64>,
    /// Kendall's tau-b between predicted and measured scores (`None`: fewer than two
    /// runs, or one of the scores constant).
    pub kendall_tau: Option<f64>,
}

/// The decision check of a replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decisions {
    /// TTFT objective, ms.
    pub slo_ttft_ms: f64,
    /// TPOT objective, ms.
    pub slo_tpot_ms: f64,
    /// The probability of meeting the SLO a pick needs (`None`: the point estimate).
    pub confidence: Option<f64>,
    /// Groups of at least two runs.
    pub groups: Vec<DecisionGroup>,
    /// Groups with at least [`MIN_MEETING`] runs meeting the SLO as measured.
    pub scored_groups: usize,
    /// Of those, the share whose pick is a hit (`None`: none scored).
    pub hit_rate: Option<f64>,
    /// Of those, the share whose pick is the measured best.
    pub top1_rate: Option<f64>,
    /// Median regret over them.
    pub median_regret: Option<f64>,
    /// Mean Kendall tau over them (groups where it is defined).
    pub mean_kendall_tau: Option<f64>,
}

/// Kendall's tau-b of paired scores (`None`: fewer than two pairs or no untied pair in
/// either score).
pub fn kendall_tau_b(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    let (mut conc, mut disc, mut ta, mut tb) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let da = a[i].total_cmp(&a[j]) as i64;
            let db = b[i].total_cmp(&b[j]) as i64;
            match (da, db) {
                (0, 0) => {}
                (0, _) => ta += 1,
                (_, 0) => tb += 1,
                _ if da == db => conc += 1,
                _ => disc += 1,
            }
        }
    }
    let denom = (((conc + disc + ta) * (conc + disc + tb)) as f64).sqrt();
    (denom > 0.0).then(|| (conc - disc) as f64 / denom)
}

/// One run's scores: `(id, predicted, measured)` tokens/s per GPU under the SLO.
struct Scored {
    id: String,
    predicted: f64,
    measured: f64,
    meets_predicted: bool,
    meets_measured: bool,
    p_meet: f64,
}

/// Check the decisions a replay implies (`runs`, `report.rows` and `gpus` in the same
/// order, as [`super::replay`] returns them) at the SLO `(ttft_ms, tpot_ms)`, picking at
/// the point estimate or, with `confidence` in `[0, 1]`, among the runs meeting the SLO
/// with at least that probability.
pub fn decisions(
    runs: &[MeasuredRun],
    report: &Report,
    gpus: &[Option<u32>],
    slo_ttft_ms: f64,
    slo_tpot_ms: f64,
    confidence: Option<f64>,
) -> Decisions {
    type Key = (String, String, String, u32, u32);
    let held_out = held_out_pairs(runs, report, COVERAGE_FOLDS);
    let mut by: BTreeMap<Key, Vec<Scored>> = BTreeMap::new();
    for (((run, row), g), pairs) in runs.iter().zip(&report.rows).zip(gpus).zip(&held_out) {
        let (Some(clients), Some(isl), Some(osl), Some(g)) = (
            run.load.clients,
            run.load.input_tokens,
            run.load.output_tokens,
            *g,
        ) else {
            continue;
        };
        if row.skipped.is_some() || osl == 0 || g == 0 {
            continue;
        }
        let (Some(tp), Some(op)) = (row.ttft_ms.predicted, row.tpot_ms.predicted) else {
            continue;
        };
        let (tm, om) = (row.ttft_ms.measured, row.tpot_ms.measured);
        let rate = |ttft: f64, tpot: f64| {
            let e2e_s = super::mean_e2e_ms(ttft, tpot, osl) * 1e-3;
            if e2e_s > 0.0 {
                f64::from(clients) * f64::from(osl) / e2e_s / f64::from(g)
            } else {
                0.0
            }
        };
        let meets = |ttft: f64, tpot: f64| ttft <= slo_ttft_ms && tpot <= slo_tpot_ms;
        if !(tm.is_finite() && om.is_finite()) {
            continue;
        }
        let (mp, mm) = (meets(tp, op), meets(tm, om));
        // The share of held-out error pairs under which the predicted means still meet
        // the SLO (e = ln(predicted / measured): the measured mean is predicted / e^e).
        let p_meet = match pairs {
            Some(ps) if mp => {
                let ok = ps
                    .iter()
                    .filter(|(et, eo)| meets(tp / et.exp(), op / eo.exp()))
                    .count();
                ok as f64 / ps.len() as f64
            }
            _ => f64::from(u8::from(mp)),
        };
        by.entry((
            row.model.clone(),
            row.gpu.clone(),
            row.backend.clone(),
            isl,
            osl,
        ))
        .or_default()
        .push(Scored {
            id: row.id.clone(),
            predicted: if mp { rate(tp, op) } else { 0.0 },
            measured: if mm { rate(tm, om) } else { 0.0 },
            meets_predicted: mp,
            meets_measured: mm,
            p_meet,
        });
    }
    let argmax = |xs: &[Scored], f: fn(&Scored) -> (bool, f64)| -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, x) in xs.iter().enumerate() {
            let (ok, v) = f(x);
            if ok && best.is_none_or(|b| v > f(&xs[b]).1) {
                best = Some(i);
            }
        }
        best
    };
    let groups: Vec<DecisionGroup> = by
        .into_iter()
        .filter(|(_, xs)| xs.len() >= 2)
        .map(|((model, gpu, backend, isl, osl), xs)| {
            let pick = match confidence {
                None => argmax(&xs, |x| (x.meets_predicted, x.predicted)),
                Some(c) => {
                    let mut best: Option<usize> = None;
                    for (i, x) in xs.iter().enumerate() {
                        if x.meets_predicted
                            && x.p_meet >= c
                            && best.is_none_or(|b| x.predicted > xs[b].predicted)
                        {
                            best = Some(i);
                        }
                    }
                    best
                }
            };
            let best = argmax(&xs, |x| (x.meets_measured, x.measured));
            let (top1, hit, regret) = match (pick, best) {
                (Some(p), Some(b)) => {
                    let (mp, mb) = (&xs[p], xs[b].measured);
                    let ok = mp.meets_measured;
                    let regret = if ok { 1.0 - mp.measured / mb } else { 1.0 };
                    (
                        p == b,
                        ok && mp.measured >= (1.0 - HIT_WITHIN) * mb,
                        Some(regret),
                    )
                }
                _ => (false, false, None),
            };
            let pred: Vec<f64> = xs.iter().map(|x| x.predicted).collect();
            let meas: Vec<f64> = xs.iter().map(|x| x.measured).collect();
            DecisionGroup {
                model,
                gpu,
                backend,
                isl,
                osl,
                candidates: xs.len(),
                meeting_measured: xs.iter().filter(|x| x.meets_measured).count(),
                meeting_predicted: xs.iter().filter(|x| x.meets_predicted).count(),
                pick: pick.map(|i| xs[i].id.clone()),
                pick_p_meet: pick.map(|i| xs[i].p_meet),
                best: best.map(|i| xs[i].id.clone()),
                top1,
                hit,
                regret,
                kendall_tau: kendall_tau_b(&pred, &meas),
            }
        })
        .collect();
    let scored: Vec<&DecisionGroup> = groups
        .iter()
        .filter(|g| g.meeting_measured >= MIN_MEETING)
        .collect();
    let n = scored.len();
    let share = |f: fn(&DecisionGroup) -> bool| {
        (n > 0).then(|| scored.iter().filter(|g| f(g)).count() as f64 / n as f64)
    };
    let regrets: Vec<f64> = scored.iter().filter_map(|g| g.regret).collect();
    let taus: Vec<f64> = scored.iter().filter_map(|g| g.kendall_tau).collect();
    Decisions {
        slo_ttft_ms,
        slo_tpot_ms,
        confidence,
        scored_groups: n,
        hit_rate: share(|g| g.hit),
        top1_rate: share(|g| g.top1),
        median_regret: quantile(&regrets, 0.5),
        mean_kendall_tau: (!taus.is_empty()).then(|| taus.iter().sum::<f64>() / taus.len() as f64),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::residuals::tests::fixture;

    #[test]
    fn pick_best_regret_and_tau_of_a_small_group() {
        // Measured / predicted (ttft, tpot): 4 clients x 11 tokens over ttft + 10 tpot.
        // r0: measured 220 tok/s, predicted 293; r1: 244 / 232; r2: 147 / 147.
        let (runs, report) = fixture(&[
            (100.0, 100.0, 10.0, 5.0),
            (100.0, 100.0, 8.0, 9.0),
            (100.0, 100.0, 20.0, 20.0),
        ]);
        let d = decisions(&runs, &report, &report.gpus, 1000.0, 100.0, None);
        let g = &d.groups[0];
        assert_eq!(
            (g.candidates, g.meeting_measured, g.meeting_predicted),
            (3, 3, 3)
        );
        assert_eq!(
            (g.pick.as_deref(), g.best.as_deref()),
            (Some("r0"), Some("r1"))
        );
        // 1 - 220 / 244.4: more than 5% lost.
        let regret = g.regret.unwrap();
        assert!(
            (regret - (1.0 - 220.0 / (44.0 / 0.18))).abs() < 1e-9,
            "{regret}"
        );
        assert!(!g.top1 && !g.hit);
        assert!((g.kendall_tau.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            (d.scored_groups, d.hit_rate, d.top1_rate),
            (1, Some(0.0), Some(0.0))
        );
        // TPOT objective 9.5 ms: r0 is still predicted best but misses it as measured.
        let d = decisions(&runs, &report, &report.gpus, 1000.0, 9.5, None);
        let g = &d.groups[0];
        assert_eq!((g.meeting_measured, g.meeting_predicted), (1, 2));
        assert_eq!(
            (g.pick.as_deref(), g.best.as_deref()),
            (Some("r0"), Some("r1"))
        );
        assert_eq!(g.regret, Some(1.0));
        // Fewer than three runs meet it as measured: the group is not scored.
        assert_eq!((d.scored_groups, d.hit_rate), (0, None));
        // A pick within 5% of the best is a hit.
        let (runs, report) = fixture(&[
            (100.0, 100.0, 10.0, 9.0),
            (100.0, 100.0, 9.8, 10.0),
            (100.0, 100.0, 20.0, 20.0),
        ]);
        let g = &decisions(&runs, &report, &report.gpus, 1000.0, 100.0, None).groups[0];
        assert_eq!(
            (g.pick.as_deref(), g.best.as_deref()),
            (Some("r0"), Some("r1"))
        );
        assert!(g.hit && !g.top1 && g.regret.unwrap() < HIT_WITHIN);
    }

    #[test]
    fn a_confident_pick_skips_a_run_the_held_out_error_puts_past_the_slo() {
        // Ten runs of one group whose TPOT the model predicts 10% fast (every residual
        // ln 0.9). r0 (1 GPU, predicted 48 ms against a 50 ms objective, measured 53.3)
        // has the highest predicted tokens/s per GPU; r1 (2 GPUs, 30 ms) is the measured
        // best; r2..r9 (8 GPUs each) trail.
        let mut pairs = vec![
            (100.0, 100.0, 48.0 / 0.9, 48.0),
            (100.0, 100.0, 30.0 / 0.9, 30.0),
        ];
        pairs.extend([(100.0, 100.0, 20.0 / 0.9, 20.0); 8]);
        let (runs, mut report) = fixture(&pairs);
        report.gpus = [vec![Some(1), Some(2)], vec![Some(8); 8]].concat();
        let point = decisions(&runs, &report, &report.gpus, 1000.0, 50.0, None);
        let g = &point.groups[0];
        assert_eq!(
            (g.pick.as_deref(), g.best.as_deref()),
            (Some("r0"), Some("r1"))
        );
        assert_eq!((g.regret, g.pick_p_meet), (Some(1.0), Some(0.0)));
        // Each run's probability comes from the other folds only, all ln 0.9 here: r0's
        // 48 ms becomes 53.3 under every pair, r1's 30 ms 33.3.
        let sure = decisions(&runs, &report, &report.gpus, 1000.0, 50.0, Some(0.9));
        let g = &sure.groups[0];
        assert_eq!((g.pick.as_deref(), g.pick_p_meet), (Some("r1"), Some(1.0)));
        assert!(g.top1 && g.hit);
        assert_eq!(sure.confidence, Some(0.9));
        // A probability of 0 admits every run predicted to meet the SLO: the point pick.
        let any = decisions(&runs, &report, &report.gpus, 1000.0, 50.0, Some(0.0));
        assert_eq!(any.groups[0].pick.as_deref(), Some("r0"));
    }

    #[test]
    fn kendall_tau_b_of_known_rankings() {
        assert_eq!(
            kendall_tau_b(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]),
            Some(1.0)
        );
        assert_eq!(
            kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]),
            Some(-1.0)
        );
        // One discordant pair of three: (2 - 1) / 3.
        let t = kendall_tau_b(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]).unwrap();
        assert!((t - 1.0 / 3.0).abs() < 1e-12);
        // Ties in one score: tau-b's denominator.
        let t = kendall_tau_b(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!((t - 2.0 / (2.0f64 * 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(kendall_tau_b(&[1.0], &[1.0]), None);
    }
}
