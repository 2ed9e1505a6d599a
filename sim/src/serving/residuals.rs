//! The engine model's residuals from a replay, and the empirical coverage of the
//! intervals they give (`xpyd validate --serving --write-residuals`, its coverage table).
//!
//! A residual is `e = ln(predicted / measured)` of a replayed run's mean TTFT, mean TPOT
//! and mean end-to-end latency (`ttft + (osl - 1) x tpot`, measured and predicted, for
//! runs that record their output length), grouped per engine x GPU x mode (`dynamo` rows
//! count as `vllm`, whose workers they run). A group is written with at least
//! [`MIN_RESIDUAL_ROWS`] replayed runs.
//!
//! The interval's ends are the residuals' quantiles at the finite-sample-corrected
//! levels of split conformal prediction ([`tails`]): `(1 - a) (n + 1) / n` and its
//! mirror, `a = (1 - LEVEL) / 2`, for `n` residuals (Lei et al., "Distribution-Free
//! Predictive Inference for Regression", JASA 2018, whose order statistic this
//! interpolates, so it can sit slightly inside it). Below `n = 19` the levels reach 0 and
//! 1: the ends are the sample's extremes, which hold a further run with probability
//! `(n - 1) / (n + 1)` only (88% at 16 residuals, 78% at the 8 a group needs). The
//! plain 5th and 95th percentiles they replace covered 81% of a group of 21 rows (each
//! interval from 16-17 residuals).
//!
//! Coverage is k-fold: the rows of a group are dealt into `folds` folds in input order
//! (row `i` of the group into fold `i mod folds`); a row's interval, `predicted x
//! exp(offsets)` ([`crate::interval::offsets`]), takes the [`tails`] of the residuals of
//! the other folds only, so no row checks an interval it helped make.
//!
//! Invariants: the output depends on the rows' order only, not on how they were
//! simulated; groups and metrics come sorted.

use super::{MeasuredRun, Report};
use crate::interval::{LEVEL, MIN_RESIDUAL_ROWS, ResidualMetric, ResidualRow, Residuals, offsets};
use crate::serving::replay::quantile;
use serde::Serialize;
use std::collections::BTreeMap;

/// Folds of the coverage check.
pub const COVERAGE_FOLDS: usize = 5;

/// One replayed run's residuals, `(group, metric) -> e`.
type Key = (String, String, String, ResidualMetric);

/// Every replayed run's residuals, keyed by group and metric, in input order.
fn samples(runs: &[MeasuredRun], report: &Report) -> BTreeMap<Key, Vec<f64>> {
    let mut by: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    for (run, row) in runs.iter().zip(&report.rows) {
        if row.skipped.is_some() {
            continue;
        }
        let engine = if row.backend == "dynamo" {
            "vllm".to_owned()
        } else {
            row.backend.clone()
        };
        let key = |m| (engine.clone(), row.gpu.clone(), row.mode.clone(), m);
        let ratio = |p: f64, m: f64| (p > 0.0 && m > 0.0).then(|| (p / m).ln());
        let (tm, tp) = (row.ttft_ms.measured, row.ttft_ms.predicted);
        let (om, op) = (row.tpot_ms.measured, row.tpot_ms.predicted);
        let ttft = tp.and_then(|p| ratio(p, tm));
        let tpot = op.and_then(|p| ratio(p, om));
        let e2e = match (tp, op, run.load.output_tokens) {
            (Some(tp), Some(op), Some(osl)) if osl >= 1 => ratio(
                super::mean_e2e_ms(tp, op, osl),
                super::mean_e2e_ms(tm, om, osl),
            ),
            _ => None,
        };
        for (m, e) in [
            (ResidualMetric::Ttft, ttft),
            (ResidualMetric::Tpot, tpot),
            (ResidualMetric::E2e, e2e),
        ] {
            if let Some(e) = e.filter(|e| e.is_finite()) {
                by.entry(key(m)).or_default().push(e);
            }
        }
    }
    by
}

/// The lower and upper ends of the [`LEVEL`] interval of the residuals `es`: their
/// quantiles at `1 - l` and `l`, `l = min(1, (1 + LEVEL) / 2 x (n + 1) / n)` for `n`
/// finite residuals (the split-conformal correction: the smallest and the largest when
/// `n < 19`; `(0, 0)` when none is finite).
pub fn tails(es: &[f64]) -> (f64, f64) {
    let n = es.iter().filter(|e| e.is_finite()).count();
    if n == 0 {
        return (0.0, 0.0);
    }
    let l = ((1.0 + LEVEL) / 2.0 * (n + 1) as f64 / n as f64).min(1.0);
    (
        quantile(es, 1.0 - l).unwrap_or(0.0),
        quantile(es, l).unwrap_or(0.0),
    )
}

/// The residual quantiles of a replay (`runs` and `report.rows` in the same order, as
/// [`super::replay`] returns them); `source` names them.
pub fn residuals(runs: &[MeasuredRun], report: &Report, source: &str) -> Residuals {
    let rows = samples(runs, report)
        .into_iter()
        .filter(|(_, es)| es.len() >= MIN_RESIDUAL_ROWS)
        .map(|((engine, gpu, mode, metric), es)| {
            let (q05, q95) = tails(&es);
            ResidualRow {
                engine,
                gpu,
                mode,
                metric,
                rows: es.len(),
                q05,
                q50: quantile(&es, 0.5).unwrap_or(0.0),
                q95,
            }
        })
        .collect();
    Residuals {
        source: source.to_owned(),
        rows,
    }
}

/// How often the measured value fell inside its held-out interval, for one group and
/// metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coverage {
    /// Engine.
    pub engine: String,
    /// GPU.
    pub gpu: String,
    /// Mode.
    pub mode: String,
    /// `ttft`, `tpot` or `e2e`.
    pub metric: ResidualMetric,
    /// The intervals' level.
    pub level: f64,
    /// Folds.
    pub folds: usize,
    /// Replayed rows with this metric.
    pub rows: usize,
    /// Rows whose held-out folds had enough residuals to give an interval.
    pub checked: usize,
    /// Of those, rows whose measured value lay inside.
    pub covered: usize,
    /// `covered / checked` (`None`: nothing checked).
    pub coverage: Option<f64>,
    /// Median of `hi / lo` of the checked rows' intervals (`None`: nothing checked).
    pub median_width_ratio: Option<f64>,
}

/// The k-fold coverage of the [`LEVEL`] model-error intervals, per group and metric
/// (`folds >= 2`).
pub fn coverage(runs: &[MeasuredRun], report: &Report, folds: usize) -> Vec<Coverage> {
    let folds = folds.max(2);
    samples(runs, report)
        .into_iter()
        .map(|((engine, gpu, mode, metric), es)| {
            let mut checked = 0;
            let mut covered = 0;
            let mut widths = Vec::new();
            for f in 0..folds {
                let train: Vec<f64> = es
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % folds != f)
                    .map(|(_, e)| *e)
                    .collect();
                if train.len() < MIN_RESIDUAL_ROWS {
                    continue;
                }
                let (q05, q95) = tails(&train);
                let (lo, hi) = offsets(q05, q95);
                widths.push((hi - lo).exp());
                for (_, e) in es.iter().enumerate().filter(|(i, _)| i % folds == f) {
                    checked += 1;
                    // ln(measured / predicted) = -e inside [lo, hi].
                    if (lo..=hi).contains(&-e) {
                        covered += 1;
                    }
                }
            }
            Coverage {
                engine,
                gpu,
                mode,
                metric,
                level: LEVEL,
                folds,
                rows: es.len(),
                checked,
                covered,
                coverage: (checked > 0).then(|| covered as f64 / checked as f64),
                median_width_ratio: quantile(&widths, 0.5),
            }
        })
        .collect()
}

/// For each row of a replay (`runs` and `report.rows` in the same order), the TTFT and
/// TPOT residual pairs `(e_ttft, e_tpot)` of the other folds of its engine x GPU x mode
/// group: the group's rows with both residuals are dealt into `folds` folds in input
/// order, as [`coverage`] deals them, and a row sees only the pairs of the folds it is
/// not in. `None` for a row without both residuals or whose other folds hold fewer than
/// [`MIN_RESIDUAL_ROWS`] pairs.
pub fn held_out_pairs(
    runs: &[MeasuredRun],
    report: &Report,
    folds: usize,
) -> Vec<Option<Vec<(f64, f64)>>> {
    let folds = folds.max(2);
    let ratio = |p: Option<f64>, m: f64| {
        p.filter(|p| *p > 0.0 && m > 0.0)
            .map(|p| (p / m).ln())
            .filter(|e| e.is_finite())
    };
    // Per group, (row index, pair) in input order.
    type Indexed = Vec<(usize, (f64, f64))>;
    let mut by: BTreeMap<(String, String, String), Indexed> = BTreeMap::new();
    for (i, (_, row)) in runs.iter().zip(&report.rows).enumerate() {
        if row.skipped.is_some() {
            continue;
        }
        let (Some(t), Some(o)) = (
            ratio(row.ttft_ms.predicted, row.ttft_ms.measured),
            ratio(row.tpot_ms.predicted, row.tpot_ms.measured),
        ) else {
            continue;
        };
        let engine = if row.backend == "dynamo" {
            "vllm".to_owned()
        } else {
            row.backend.clone()
        };
        by.entry((engine, row.gpu.clone(), row.mode.clone()))
            .or_default()
            .push((i, (t, o)));
    }
    let mut out = vec![None; report.rows.len()];
    for pairs in by.values() {
        for (k, &(i, _)) in pairs.iter().enumerate() {
            let train: Vec<(f64, f64)> = pairs
                .iter()
                .enumerate()
                .filter(|(j, _)| j % folds != k % folds)
                .map(|(_, (_, e))| *e)
                .collect();
            if train.len() >= MIN_RESIDUAL_ROWS {
                out[i] = Some(train);
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::serving::replay::{Compare, Row};
    use crate::serving::{Format, Load, Stat};
    use std::path::PathBuf;

    /// Replayed rows of engine `vllm` on `h100` (4 clients, 100 x 11 tokens, one GPU)
    /// with measured and predicted means `(ttft, ttft, tpot, tpot)`.
    pub(crate) fn fixture(pairs: &[(f64, f64, f64, f64)]) -> (Vec<MeasuredRun>, Report) {
        let mut runs = Vec::new();
        let mut rows = Vec::new();
        for (i, &(tm, tp, om, op)) in pairs.iter().enumerate() {
            runs.push(MeasuredRun {
                id: format!("r{i}"),
                file: PathBuf::from("f.csv"),
                format: Format::SiliconCsv,
                backend: "vllm".into(),
                backend_version: String::new(),
                gpu: "h100".into(),
                mode: "aggregated".into(),
                model: "m".into(),
                load: Load {
                    clients: Some(4),
                    input_tokens: Some(100),
                    output_tokens: Some(11),
                    ..Load::default()
                },
                ttft_ms: Stat::default(),
                tpot_ms: Stat::default(),
                throughput_rps: None,
                scenario_toml: None,
                skip: None,
                notes: vec![],
            });
            let cmp = |m: f64, p: f64| Compare {
                measured: m,
                predicted: Some(p),
                error: Some(p / m - 1.0),
            };
            rows.push(Row {
                id: format!("r{i}"),
                file: "f.csv".into(),
                backend: "vllm".into(),
                gpu: "h100".into(),
                mode: "aggregated".into(),
                model: "m".into(),
                ttft_ms: cmp(tm, tp),
                tpot_ms: cmp(om, op),
                ttft_p50_ms: None,
                ttft_p90_ms: None,
                ttft_p99_ms: None,
                tpot_p50_ms: None,
                tpot_p90_ms: None,
                tpot_p99_ms: None,
                throughput_rps: None,
                in_flight_implied: None,
                notes: vec![],
                skipped: None,
            });
        }
        let groups = crate::serving::replay::groups(&rows);
        (
            runs,
            Report {
                gpus: vec![Some(1); rows.len()],
                rows,
                groups,
                coverage: vec![],
                decisions: None,
            },
        )
    }

    #[test]
    fn residuals_are_log_ratios_with_e2e_from_osl() {
        // Predictions 10% high on TTFT for every row, TPOT exact.
        let pairs: Vec<_> = (0..10)
            .map(|i| (100.0 + i as f64, 110.0 + 1.1 * i as f64, 10.0, 10.0))
            .collect();
        let (runs, report) = fixture(&pairs);
        let r = residuals(&runs, &report, "t");
        let ttft = r
            .find("vllm", "h100", "aggregated", ResidualMetric::Ttft)
            .unwrap();
        assert_eq!(ttft.rows, 10);
        assert!((ttft.q50 - 1.1f64.ln()).abs() < 1e-12);
        let tpot = r
            .find("vllm", "h100", "aggregated", ResidualMetric::Tpot)
            .unwrap();
        assert_eq!((tpot.q05, tpot.q95), (0.0, 0.0));
        // e2e of row 0: (110 + 10 x 10) / (100 + 10 x 10).
        let e2e = r
            .find("vllm", "h100", "aggregated", ResidualMetric::E2e)
            .unwrap();
        assert!(e2e.q05 > 0.0 && e2e.q95 < 1.1f64.ln());
        // Too few rows: no group.
        let (runs, report) = fixture(&pairs[..MIN_RESIDUAL_ROWS - 1]);
        assert!(residuals(&runs, &report, "t").rows.is_empty());
    }

    #[test]
    fn coverage_counts_held_out_rows_inside_their_interval() {
        // 20 rows: TTFT residuals spread evenly over ln(0.8)..ln(1.25), one outlier
        // (predicted 3x the measured) that no held-out interval can cover.
        let mut pairs: Vec<_> = (0..19)
            .map(|i| {
                let e = 0.8f64.ln() + (1.25f64.ln() - 0.8f64.ln()) * i as f64 / 18.0;
                (100.0, 100.0 * e.exp(), 10.0, 10.0)
            })
            .collect();
        pairs.push((100.0, 300.0, 10.0, 10.0));
        let (runs, report) = fixture(&pairs);
        let cov = coverage(&runs, &report, 5);
        let ttft = cov
            .iter()
            .find(|c| c.metric == ResidualMetric::Ttft)
            .unwrap();
        assert_eq!((ttft.rows, ttft.checked, ttft.folds), (20, 20, 5));
        // The outlier is never covered; the rows at the extremes of the spread lie
        // outside the 5-95% range of the other folds; the rest are inside.
        assert!(ttft.covered < 20);
        assert!(ttft.covered >= 15, "{ttft:?}");
        assert_eq!(ttft.coverage, Some(ttft.covered as f64 / 20.0));
        // TPOT exact everywhere: every row covered by the zero-width interval.
        let tpot = cov
            .iter()
            .find(|c| c.metric == ResidualMetric::Tpot)
            .unwrap();
        assert_eq!((tpot.covered, tpot.coverage), (20, Some(1.0)));
        assert_eq!(tpot.median_width_ratio, Some(1.0));
    }

    #[test]
    fn tails_are_quantiles_at_the_corrected_level() {
        let tails_of = |n: usize| {
            // Residuals 1..=n, reversed: quantile q is 1 + q (n - 1).
            let es: Vec<f64> = (1..=n).rev().map(|i| i as f64).collect();
            tails(&es)
        };
        let close = |(a, b): (f64, f64), (x, y): (f64, f64)| {
            assert!((a - x).abs() < 1e-9 && (b - y).abs() < 1e-9, "{a} {b}");
        };
        // n = 17: 0.95 x 18 / 17 > 1: the smallest and the largest.
        close(tails_of(17), (1.0, 17.0));
        // n = 45: l = 0.95 x 46 / 45, quantile 1 + 44 l.
        let l = 0.95 * 46.0 / 45.0;
        close(tails_of(45), (1.0 + 44.0 * (1.0 - l), 1.0 + 44.0 * l));
        // Non-finite residuals are left out; none at all gives (0, 0).
        close(tails(&[f64::NAN, 2.0, f64::INFINITY, 1.0]), (1.0, 2.0));
        assert_eq!(tails(&[f64::NAN]), (0.0, 0.0));
        // Never narrower than the plain 5-95% range, and close to it on many rows.
        let es: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 1000) as f64 * 0.001)
            .collect();
        let (lo, hi) = tails(&es);
        let (p05, p95) = (quantile(&es, 0.05).unwrap(), quantile(&es, 0.95).unwrap());
        assert!(lo <= p05 && hi >= p95 && p05 - lo < 0.001 && hi - p95 < 0.001);
    }

    #[test]
    fn coverage_with_too_few_rows_checks_nothing() {
        let pairs: Vec<_> = (0..6).map(|_| (100.0, 90.0, 10.0, 11.0)).collect();
        let (runs, report) = fixture(&pairs);
        let cov = coverage(&runs, &report, 5);
        assert!(cov.iter().all(|c| c.checked == 0 && c.coverage.is_none()));
    }
}
