//! The report of `xpyd validate --serving`: the rows and groups of
//! [`xpyd_sim::serving::Report`] as a text table or as JSON
//! (`{"rows": [...], "groups": [...]}`, the report's own field names).
//!
//! The coverage table (`coverage` in JSON) says, per engine x GPU x mode and metric, how
//! often the measured mean fell inside its k-fold held-out 90% interval.
//!
//! Invariants: the text and the JSON show the same numbers; errors print as signed
//! percentages (`+12.3%`), absent values as `-`.

use std::fmt::Write as _;
use xpyd_sim::serving::{Compare, Report};

/// The report as pretty JSON, newline-terminated.
pub fn to_json(report: &Report) -> Result<String, serde_json::Error> {
    Ok(format!("{}\n", serde_json::to_string_pretty(report)?))
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |e| format!("{:+.1}%", e * 100.0))
}

fn abs_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |e| format!("{:.1}%", e * 100.0))
}

fn cmp(c: &Compare) -> String {
    let p = c
        .predicted
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}"));
    format!("{:.2} / {p} / {}", c.measured, pct(c.error))
}

/// The report as text: one line per row (measured / predicted / error), then the
/// groups' median and p90 |error|, then the totals.
pub fn to_text(report: &Report) -> String {
    let mut s = String::new();
    // Columns as wide as their longest cell (GPU and model names vary in length).
    let wg = report
        .rows
        .iter()
        .map(|r| r.gpu.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let wm = report
        .rows
        .iter()
        .map(|r| r.model.len())
        .max()
        .unwrap_or(0)
        .max(16);
    let _ = writeln!(
        s,
        "{:<48} {:<8} {:<wg$} {:<13} {:<wm$} {:<28} {:<28} note",
        "id", "backend", "gpu", "mode", "model", "TTFT ms meas/pred/err", "TPOT ms meas/pred/err"
    );
    for r in &report.rows {
        let note = r
            .skipped
            .as_deref()
            .map(|w| format!("skipped: {w}"))
            .unwrap_or_else(|| r.notes.join("; "));
        let _ = writeln!(
            s,
            "{:<48} {:<8} {:<wg$} {:<13} {:<wm$} {:<28} {:<28} {note}",
            r.id,
            r.backend,
            r.gpu,
            r.mode,
            r.model,
            cmp(&r.ttft_ms),
            cmp(&r.tpot_ms)
        );
    }
    let _ = writeln!(
        s,
        "\n{:<8} {:<wg$} {:<13} {:<wm$} {:>8} {:>7} {:>12} {:>10} {:>12} {:>10}",
        "backend",
        "gpu",
        "mode",
        "model",
        "replayed",
        "skipped",
        "TTFT med|e|",
        "TTFT p90",
        "TPOT med|e|",
        "TPOT p90"
    );
    for g in &report.groups {
        let _ = writeln!(
            s,
            "{:<8} {:<wg$} {:<13} {:<wm$} {:>8} {:>7} {:>12} {:>10} {:>12} {:>10}",
            g.backend,
            g.gpu,
            g.mode,
            g.model,
            g.replayed,
            g.skipped,
            abs_pct(g.ttft_median_abs_error),
            abs_pct(g.ttft_p90_abs_error),
            abs_pct(g.tpot_median_abs_error),
            abs_pct(g.tpot_p90_abs_error)
        );
    }
    if !report.coverage.is_empty() {
        let c0 = &report.coverage[0];
        let _ = writeln!(
            s,
            "\ncoverage of the engine model's {:.0}% intervals ({}-fold: each row's interval from the residuals of the other folds)",
            c0.level * 100.0,
            c0.folds
        );
        let _ = writeln!(
            s,
            "{:<8} {:<wg$} {:<13} {:<6} {:>6} {:>8} {:>8} {:>9} {:>11}",
            "engine",
            "gpu",
            "mode",
            "metric",
            "rows",
            "checked",
            "covered",
            "coverage",
            "width hi/lo"
        );
        for c in &report.coverage {
            let _ = writeln!(
                s,
                "{:<8} {:<wg$} {:<13} {:<6} {:>6} {:>8} {:>8} {:>9} {:>11}",
                c.engine,
                c.gpu,
                c.mode,
                c.metric.name(),
                c.rows,
                c.checked,
                c.covered,
                abs_pct(c.coverage),
                c.median_width_ratio
                    .map_or_else(|| "-".to_owned(), |w| format!("{w:.2}x"))
            );
        }
    }
    if let Some(d) = &report.decisions {
        s.push_str(&decisions_text(d));
    }
    let skipped = report.rows.iter().filter(|r| r.skipped.is_some()).count();
    let _ = writeln!(
        s,
        "\n{} rows: {} replayed, {skipped} skipped",
        report.rows.len(),
        report.rows.len() - skipped
    );
    s
}

/// The decision check's table: one line per group, then the headline rates.
fn decisions_text(d: &xpyd_sim::serving::decisions::Decisions) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\ndecisions at TTFT <= {} ms, TPOT <= {} ms (mean): the pick has the highest predicted output tok/s per GPU under the SLO{}",
        d.slo_ttft_ms,
        d.slo_tpot_ms,
        d.confidence.map_or_else(String::new, |c| format!(
            " among runs meeting it with probability >= {c} (the engine model's held-out error)"
        ))
    );
    let _ = writeln!(
        s,
        "{:<24} {:<6} {:<7} {:>11} {:>5} {:>8} {:>5} {:>4} {:>8} {:>7}  pick / measured best",
        "model", "gpu", "backend", "isl x osl", "runs", "meet m/p", "top1", "hit", "regret", "tau"
    );
    for g in &d.groups {
        let _ = writeln!(
            s,
            "{:<24} {:<6} {:<7} {:>11} {:>5} {:>8} {:>5} {:>4} {:>8} {:>7}  {} / {}",
            g.model,
            g.gpu,
            g.backend,
            format!("{}x{}", g.isl, g.osl),
            g.candidates,
            format!("{}/{}", g.meeting_measured, g.meeting_predicted),
            if g.top1 { "yes" } else { "no" },
            if g.hit { "yes" } else { "no" },
            abs_pct(g.regret),
            g.kendall_tau
                .map_or_else(|| "-".to_owned(), |t| format!("{t:+.2}")),
            g.pick.as_deref().unwrap_or("-"),
            g.best.as_deref().unwrap_or("-"),
        );
    }
    let _ = writeln!(
        s,
        "groups with >= {} runs meeting the SLO as measured: {}; pick within 5% of the best: {}; top-1: {}; median regret {}; mean Kendall tau {}",
        xpyd_sim::serving::decisions::MIN_MEETING,
        d.scored_groups,
        abs_pct(d.hit_rate),
        abs_pct(d.top1_rate),
        abs_pct(d.median_regret),
        d.mean_kendall_tau
            .map_or_else(|| "-".to_owned(), |t| format!("{t:+.2}")),
    );
    s
}

/// The summary of `xpyd calibrate fit-engine`: per engine x GPU, the runs, the loss with
/// the neutral and the fitted engine layer, the fitted parameters, and per mode the
/// median and p90 |error| of the k-fold check's held-out rows.
pub fn fit_text(groups: &[xpyd_sim::serving::GroupFit]) -> String {
    let mut s = String::new();
    for g in groups {
        let name = match &g.version {
            Some(v) => format!("{} {} {v}", g.engine, g.gpu),
            None => format!("{} {}", g.engine, g.gpu),
        };
        let Some(p) = &g.profile else {
            let why = g.skipped.as_deref().unwrap_or("not fitted");
            let _ = writeln!(s, "{name}: not fitted ({why})");
            continue;
        };
        let e = &p.params;
        let budget = e
            .max_batched_tokens
            .map_or_else(|| "default".to_owned(), |b| b.to_string());
        let _ = writeln!(
            s,
            "{name}: {} runs, loss {:.4} -> {:.4}\n  prefill-scale {:.4}  decode-scale {:.4}  step-overhead-ms {:.2}  per-seq-overhead-us {:.1}  cpu-overlap {:.2}  frontend-ms {:.2}  max-batched-tokens {budget}\n  layer-floor-us {:.1}  allreduce-latency-us {:.1}  async-scheduling {}  moe-eager-layer-us {:.1}  mxfp4-compute-scale {:.2}  mxfp4-memory-scale {:.2}  mxfp4-layer-us {:.0}{}",
            p.fitted_rows,
            g.loss_neutral,
            g.loss_fitted,
            e.prefill_scale,
            e.decode_scale,
            e.step_overhead_ms,
            e.per_seq_overhead_us,
            e.cpu_overlap,
            e.frontend_ms,
            e.layer_floor_us,
            e.allreduce_latency_us,
            if e.async_scheduling { "on" } else { "off" },
            e.moe_eager_layer_us,
            e.mxfp4_compute_scale,
            e.mxfp4_memory_scale,
            e.mxfp4_layer_us,
            if e.fp8_moe_roofline {
                format!(
                    "\n  fp8-moe-memory-scale {:.2}  fp8-moe-layer-us {:.0}",
                    e.fp8_moe_memory_scale, e.fp8_moe_layer_us
                )
            } else {
                String::new()
            },
        );
        for b in &g.suspect {
            // A fit that does not beat what it would replace is no sign of compensation.
            let why = if b.contains("do not lower the loss") {
                ""
            } else {
                ": the layer compensates for something it does not model"
            };
            let _ = writeln!(s, "  warning: {b}{why}; not written");
        }
        let held = p.checked.iter().map(|c| ("held out", c));
        let moe_what = if p.moe_fitted_rows > 0 {
            "MoE, held out"
        } else {
            "MoE, unfitted"
        };
        let moe = p.moe_checked.iter().map(|c| (moe_what, c));
        let mxfp4 = p.mxfp4_checked.iter().map(|c| ("MXFP4, held out", c));
        let fp8 = p.fp8_moe_checked.iter().map(|c| ("FP8 MoE, held out", c));
        for (what, c) in held.chain(moe).chain(mxfp4).chain(fp8) {
            let _ = writeln!(
                s,
                "  {what:<15} {:<13} {:>4} rows  TTFT |err| median {} p90 {}  TPOT |err| median {} p90 {}",
                c.mode,
                c.rows,
                abs_pct(Some(c.ttft_median)),
                abs_pct(Some(c.ttft_p90)),
                abs_pct(Some(c.tpot_median)),
                abs_pct(Some(c.tpot_p90)),
            );
        }
    }
    s
}
