//! The fidelity gate (issue 14 item 6): replay a fixed subset of the shipped validation
//! rows (`tests/fixtures/serving/fidelity_gate.csv`: up to 8 rows per backend x GPU x mode
//! of the AIConfigurator silicon-sample CSV, concurrency at most 64; fewer where fewer
//! disaggregated rows record their deployment) with the built-in
//! engine profiles, and fail when the median |error| of mean TTFT or mean TPOT of any
//! backend x GPU x mode group is worse than the recorded value
//! (`tests/fixtures/serving/fidelity_gate.json`) by more than 2 points.
//!
//! A change that improves fidelity records the new values: run this test with
//! `XPYD_RECORD_GATE=1` and commit the rewritten JSON (with the reason in the message).

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use xpyd_sim::serving::{self, ReplayOptions, replay::quantile};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/serving")
        .join(name)
}
/// Allowed regression, as a fraction (2 points of |error|).
const SLACK: f64 = 0.02;

/// Median |error| of TTFT and TPOT per `backend gpu mode`.
fn medians() -> BTreeMap<String, (f64, f64, usize)> {
    let runs = serving::read(&fixture("fidelity_gate.csv")).expect("the gate's rows read");
    let report = serving::replay(&runs, &ReplayOptions::default()).expect("replay");
    let mut by: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in &report.rows {
        assert!(
            r.skipped.is_none(),
            "gate row {} skipped: {:?}",
            r.id,
            r.skipped
        );
        let e = by
            .entry(format!("{} {} {}", r.backend, r.gpu, r.mode))
            .or_default();
        e.0.push(r.ttft_ms.error.expect("ttft error").abs());
        e.1.push(r.tpot_ms.error.expect("tpot error").abs());
    }
    by.into_iter()
        .map(|(k, (t, p))| {
            let n = t.len();
            (
                k,
                (
                    quantile(&t, 0.5).expect("rows"),
                    quantile(&p, 0.5).expect("rows"),
                    n,
                ),
            )
        })
        .collect()
}

#[test]
fn median_errors_do_not_regress() {
    let now = medians();
    if std::env::var_os("XPYD_RECORD_GATE").is_some() {
        let mut groups = Map::new();
        for (k, (t, p, n)) in &now {
            // Rounded up to 0.1 point, so that recording is stable across platforms.
            let up = |x: f64| (x * 1000.0).ceil() / 1000.0;
            groups.insert(
                k.clone(),
                json!({"rows": n, "ttft_median_abs_error": up(*t), "tpot_median_abs_error": up(*p)}),
            );
        }
        let text = serde_json::to_string_pretty(&json!({ "groups": groups })).unwrap() + "\n";
        std::fs::write(fixture("fidelity_gate.json"), text).unwrap();
        return;
    }
    let recorded: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("fidelity_gate.json")).expect("recorded values"),
    )
    .expect("recorded JSON");
    let groups = recorded["groups"].as_object().expect("groups");
    assert_eq!(
        groups.len(),
        now.len(),
        "recorded groups {:?} vs replayed {:?}",
        groups.keys().collect::<Vec<_>>(),
        now.keys().collect::<Vec<_>>()
    );
    let mut worse = Vec::new();
    for (k, (t, p, _)) in &now {
        let g = &groups[k];
        for (what, value, field) in [
            ("TTFT", *t, "ttft_median_abs_error"),
            ("TPOT", *p, "tpot_median_abs_error"),
        ] {
            let rec = g[field].as_f64().expect("recorded number");
            if value > rec + SLACK {
                worse.push(format!(
                    "{k}: median |{what} error| {:.1}% > recorded {:.1}% + 2 points",
                    value * 100.0,
                    rec * 100.0
                ));
            }
        }
    }
    assert!(
        worse.is_empty(),
        "fidelity regressed:\n{}",
        worse.join("\n")
    );
}
