//! The report of an `xpyd plan` folder: the Pareto front (output tokens/s per GPU
//! against tokens/s per user), a heat map of goodput per GPU over X:Y and TP, the top
//! candidates, the recommendation and the assumptions, built only from `plan.csv`,
//! `pareto.csv`, `recommendation.json` and `assumptions.json`.
//!
//! Invariant: the same folder gives byte-identical charts and page.

use crate::ReportError;
use crate::assumptions::Assumptions;
use crate::charts::{Chart, HeatMap, Marker, Scatter, Series};
use crate::html::{self, Section};
use crate::input::{InputError, read_json};
use crate::plan_files::{ParetoRow, PlanRow, RecommendationFile};
use crate::run_report::ReportOptions;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xpyd_sim::describe::{CostProvenance, Style};

/// Everything a plan report is built from.
#[derive(Clone, Debug)]
pub struct PlanInputs {
    /// `plan.csv`.
    pub candidates: Vec<PlanRow>,
    /// `pareto.csv`.
    pub pareto: Vec<ParetoRow>,
    /// `recommendation.json`, when there is one.
    pub recommendation: Option<RecommendationFile>,
    /// `assumptions.json` (of the recommended deployment), when present.
    pub assumptions: Option<Assumptions>,
}

impl PlanInputs {
    /// Read a plan folder.
    pub fn read(dir: &Path) -> Result<PlanInputs, InputError> {
        let candidates = PlanRow::read_all(&dir.join("plan.csv"))?;
        let pareto = ParetoRow::read_all(&dir.join("pareto.csv"))?;
        let rpath = dir.join("recommendation.json");
        let recommendation = if rpath.exists() {
            Some(read_json(&rpath)?)
        } else {
            None
        };
        let apath = dir.join("assumptions.json");
        let assumptions = if apath.exists() {
            Some(read_json(&apath)?)
        } else {
            None
        };
        Ok(PlanInputs {
            candidates,
            pareto,
            recommendation,
            assumptions,
        })
    }
}

/// The candidate row of the recommendation's unit.
fn recommended(inp: &PlanInputs) -> Option<&PlanRow> {
    let r = inp.recommendation.as_ref()?;
    inp.candidates.iter().find(|c| {
        c.mode == r.mode
            && c.gpu == r.gpu
            && c.tp_prefill == r.unit.prefill.tp
            && c.tp_decode == r.unit.decode.tp
            && (c.dp_prefill, c.ep_prefill) == (r.unit.prefill.dp, r.unit.prefill.ep)
            && (c.dp_decode, c.ep_decode) == (r.unit.decode.dp, r.unit.decode.ep)
            && c.prefill_replicas == r.unit.prefill.replicas
            && c.decode_replicas == r.unit.decode.replicas
            && c.router == r.router
            && c.max_batched_tokens == r.engine.max_batched_tokens
            && c.max_num_seqs == r.engine.max_num_seqs
    })
}

/// A Pareto point on the chart's plane.
fn xy(p: &ParetoRow) -> (f64, f64) {
    (p.output_tokens_per_s_per_gpu, p.tokens_per_s_per_user)
}

/// The Pareto chart: every feasible candidate, the front, the recommendation.
pub fn pareto_chart(inp: &PlanInputs) -> Chart {
    let mut groups: Vec<Series> = Vec::new();
    for p in &inp.pareto {
        let name = format!("{} candidates", p.mode);
        match groups.iter_mut().find(|g| g.name == name) {
            Some(g) => g.points.push(xy(p)),
            None => groups.push(Series {
                name,
                points: vec![xy(p)],
                dashed: false,
            }),
        }
    }
    let mut front: Vec<(f64, f64)> = inp.pareto.iter().filter(|p| p.pareto).map(xy).collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut markers = Vec::new();
    if let Some(c) = recommended(inp)
        && let Some(p) = inp.pareto.iter().find(|p| p.index == c.index)
    {
        markers.push(Marker {
            label: format!("recommended: {}", p.shape),
            x: p.output_tokens_per_s_per_gpu,
            y: p.tokens_per_s_per_user,
        });
    }
    Chart::Scatter(Scatter {
        title: "Pareto front: throughput per GPU vs speed per user".into(),
        x_label: "output tokens/s per GPU".into(),
        y_label: "output tokens/s per user".into(),
        groups,
        front,
        markers,
    })
}

/// The heat map: best goodput per GPU over X:Y (columns) and TP prefill/decode (rows).
pub fn heatmap(inp: &PlanInputs) -> Chart {
    let mut best: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut xs: Vec<(u32, u32, String)> = Vec::new();
    let mut ys: Vec<(u32, u32, String)> = Vec::new();
    for c in &inp.candidates {
        let (x, xkey) = if c.mode == "aggregated" {
            (
                format!("agg x{}", c.prefill_replicas),
                (0, c.prefill_replicas),
            )
        } else {
            (
                format!("{}:{}", c.prefill_replicas, c.decode_replicas),
                (c.prefill_replicas, c.decode_replicas),
            )
        };
        let (y, ykey) = if c.mode == "aggregated" {
            (format!("TP {}", c.tp_prefill), (c.tp_prefill, 0))
        } else {
            (
                format!("TP {}/{}", c.tp_prefill, c.tp_decode),
                (c.tp_prefill, c.tp_decode),
            )
        };
        if !xs.iter().any(|e| e.2 == x) {
            xs.push((xkey.0, xkey.1, x.clone()));
        }
        if !ys.iter().any(|e| e.2 == y) {
            ys.push((ykey.0, ykey.1, y.clone()));
        }
        if c.status == "evaluated"
            && let Some(g) = c.goodput_rps_per_gpu
        {
            let e = best.entry((x, y)).or_insert(g);
            *e = e.max(g);
        }
    }
    xs.sort();
    ys.sort();
    let x_cats: Vec<String> = xs.into_iter().map(|e| e.2).collect();
    let y_cats: Vec<String> = ys.into_iter().map(|e| e.2).collect();
    let cells = best
        .iter()
        .filter_map(|((x, y), v)| {
            let i = x_cats.iter().position(|c| c == x)?;
            let j = y_cats.iter().position(|c| c == y)?;
            Some((i, j, *v))
        })
        .collect();
    Chart::HeatMap(HeatMap {
        title: "Goodput per GPU over X:Y and TP (cells: best requests/s per GPU)".into(),
        x_label: "prefill:decode instances per unit (X:Y)".into(),
        y_label: "TP prefill/decode".into(),
        x_cats,
        y_cats,
        cells,
    })
}

/// Write the charts and `report.html` of the plan in `dir`.
pub fn write_report(
    dir: &Path,
    inp: &PlanInputs,
    opts: ReportOptions,
) -> Result<Vec<PathBuf>, ReportError> {
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir).map_err(|source| ReportError::Io {
        path: chart_dir.clone(),
        source,
    })?;
    let figs = [
        (
            "pareto",
            pareto_chart(inp),
            "Each feasible candidate at its highest SLO-meeting rate: output tokens/s per GPU (cost efficiency) against output tokens/s per user (1000 / TPOT). The line joins the Pareto front, the candidates no other beats on both; the triangle is the recommendation.",
        ),
        (
            "goodput_heatmap",
            heatmap(inp),
            "Best goodput per GPU (requests/s per GPU meeting the SLOs) of each X:Y and TP pair, over the batching knobs and routers searched; grey cells were pruned, infeasible or not searched.",
        ),
    ];
    let mut charts = String::new();
    for (name, c, caption) in &figs {
        let svg = c.write(&chart_dir, name, opts.png)?;
        charts.push_str(&html::figure(&svg, caption));
        charts.push('\n');
    }
    let mut ranked: Vec<&PlanRow> = inp
        .candidates
        .iter()
        .filter(|c| c.status == "evaluated")
        .collect();
    ranked.sort_by(|a, b| {
        b.goodput_rps_per_gpu
            .unwrap_or(0.0)
            .total_cmp(&a.goodput_rps_per_gpu.unwrap_or(0.0))
            .then(a.index.cmp(&b.index))
    });
    // P(meet every SLO) is computed near the frontier only (`xpyd plan` without
    // `--intervals off`): a column when any candidate has one.
    let with_p = ranked.iter().any(|c| c.p_meet_slo.is_some());
    let rows: Vec<Vec<String>> = ranked
        .iter()
        .take(10)
        .map(|c| {
            let mut row = vec![
                c.index.to_string(),
                c.mode.clone(),
                c.gpu.clone(),
                c.shape().written(Style::Cell),
                c.gpus.to_string(),
                c.max_batched_tokens.to_string(),
                c.max_num_seqs.to_string(),
                c.router.clone(),
                c.max_rate_rps.map_or("-".into(), |r| format!("{r:.3}")),
                c.goodput_rps_per_gpu
                    .map_or("-".into(), |r| format!("{r:.4}")),
            ];
            if with_p {
                row.push(c.p_meet_slo.map_or("-".into(), |p| format!("{p:.3}")));
            }
            row
        })
        .collect();
    let counts = |s: &str| inp.candidates.iter().filter(|c| c.status == s).count();
    let mut numbers = html::para(&format!(
        "{} candidates: {} evaluated, {} infeasible (SLOs missed even at light load), {} pruned by the roofline bound. Top 10 by goodput per GPU:",
        inp.candidates.len(),
        counts("evaluated"),
        counts("infeasible"),
        counts("pruned")
    ));
    let mut head = vec![
        "index",
        "mode",
        "GPU",
        "unit",
        "GPUs per unit",
        "token budget",
        "max seqs",
        "router",
        "max rate (req/s)",
        "goodput (req/s per GPU)",
    ];
    if with_p {
        head.push("P(meet every SLO)");
    }
    numbers.push_str(&html::table(&head, &rows));
    let rec = match &inp.recommendation {
        Some(r) => {
            let shape = r.shape().to_string();
            let mut h = format!(
                "<p>SLOs met in the confirming run: {}</p>\n",
                html::verdict(r.slo_met)
            );
            let mut kv = vec![
                (
                    "deployment".into(),
                    format!("{} {} on {} x {}", r.backend, r.mode, r.gpus, r.gpu),
                ),
                ("instances".into(), shape),
                (
                    "units".into(),
                    format!("{} of {} GPUs ({})", r.units, r.unit.gpus, r.unit_shape()),
                ),
                ("router".into(), r.router.clone()),
                (
                    "engine".into(),
                    format!(
                        "token budget {}, max {} running sequences",
                        r.engine.max_batched_tokens, r.engine.max_num_seqs
                    ),
                ),
                (
                    "target rate".into(),
                    format!("{} requests/s", r.target_rate_rps),
                ),
                (
                    "unit's highest SLO-meeting rate".into(),
                    format!(
                        "{:.3} requests/s ({:.4} per GPU)",
                        r.unit.max_rate_rps, r.unit.goodput_requests_per_s_per_gpu
                    ),
                ),
                (
                    "SLOs".into(),
                    format!(
                        "TTFT ≤ {} ms and TPOT ≤ {} ms at p{}",
                        r.slo.ttft_ms, r.slo.tpot_ms, r.slo.percentile
                    ),
                ),
                (
                    "TTFT p50 / p90 / p99 (ms)".into(),
                    format!(
                        "{:.1} / {:.1} / {:.1}",
                        r.ttft_ms.p50, r.ttft_ms.p90, r.ttft_ms.p99
                    ),
                ),
                (
                    "TPOT p50 / p90 / p99 (ms)".into(),
                    format!(
                        "{:.2} / {:.2} / {:.2}",
                        r.tpot_ms.p50, r.tpot_ms.p90, r.tpot_ms.p99
                    ),
                ),
                (
                    "goodput".into(),
                    format!("{:.3} requests/s", r.goodput_requests_per_s),
                ),
                (
                    "SLO attainment".into(),
                    format!("{:.1}%", r.slo_attainment * 100.0),
                ),
                (
                    "cost".into(),
                    r.usd_per_hour.map_or("no GPU price given".into(), |u| {
                        format!("{u:.2} USD per hour")
                    }),
                ),
                (
                    "replay".into(),
                    "xpyd run DIR/recommended.toml; manifests in DIR/manifests/".into(),
                ),
            ];
            kv.extend(probability_rows(r));
            h.push_str(&html::key_values(&kv));
            h
        }
        None => html::para("No recommendation: no candidate met the SLOs."),
    };
    let cost_source = match &inp.assumptions {
        Some(a) => format!("{:#}", CostProvenance::of_profile(a.profile.as_deref())),
        None => "not recorded".to_string(),
    };
    let sections = [
        Section::new("recommendation", "Recommendation", rec),
        Section::new("numbers", "Candidates", numbers),
        Section::new("charts", "Charts", charts),
        Section::new(
            "assumptions",
            "Assumptions and their sources",
            html::assumptions(inp.assumptions.as_ref(), &cost_source),
        ),
    ];
    let subtitle = match (&inp.recommendation, &inp.assumptions) {
        (Some(r), Some(a)) => format!(
            "{} on {}, target {} requests/s, SLOs TTFT ≤ {} ms and TPOT ≤ {} ms at p{}",
            a.model, r.gpu, r.target_rate_rps, r.slo.ttft_ms, r.slo.tpot_ms, r.slo.percentile
        ),
        _ => format!("{} candidates", inp.candidates.len()),
    };
    let page = html::page("xpyd plan report", &subtitle, &sections);
    let p = dir.join("report.html");
    crate::atomic::write_file(&p, page.as_bytes())?;
    Ok(vec![p])
}

/// The recommendation's probability of meeting every SLO and, with `--confidence`, what
/// sizing to it bought (no rows with `--intervals off`).
fn probability_rows(r: &RecommendationFile) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(p) = &r.p_meet_slo {
        let error = match (&p.model_error, &p.note) {
            (Some(g), _) => format!("seed spread and the {g} model error"),
            (None, Some(why)) => format!("seed spread only ({why})"),
            (None, None) => "seed spread only".to_string(),
        };
        out.push((
            "P(meet every SLO)".into(),
            format!(
                "{:.3} ({} of {} seed replications met them as simulated; {error})",
                p.p_meet_slo, p.seeds_met, p.replications
            ),
        ));
    }
    if let Some(c) = &r.confidence {
        let reached = if c.level_met {
            "reached"
        } else {
            "NOT reached"
        };
        let mut text = format!("sized to P ≥ {}: {reached}", c.level);
        if let Some(q) = &c.point_estimate_recommendation {
            let p = q.p_meet_slo.map_or("-".to_string(), |p| format!("{p:.3}"));
            text.push_str(&format!(
                "; the point-estimate recommendation {} on {} GPUs has P = {p}, the confidence adds {} GPU(s)",
                q.deployment,
                q.gpus,
                c.extra_gpus.unwrap_or(0)
            ));
            if let Some(u) = c.extra_usd_per_hour {
                text.push_str(&format!(" ({u:+.2} USD per hour)"));
            }
        }
        out.push(("confidence".into(), text));
    }
    out
}

/// The end of `xpyd plan`: `assumptions.json` of the recommended deployment (when there
/// is one, from `recommended.toml`), then the charts and `report.html`.
pub fn finish(dir: &Path, opts: ReportOptions) -> Result<Vec<PathBuf>, ReportError> {
    let rec = dir.join("recommended.toml");
    if rec.exists() {
        let sc = xpyd_sim::Scenario::load(&rec, &[])?;
        crate::atomic::write_file(
            &dir.join("assumptions.json"),
            Assumptions::of(&sc).to_json().as_bytes(),
        )?;
    }
    rebuild(dir, opts)
}

/// Read a plan folder and rebuild its report.
pub fn rebuild(dir: &Path, opts: ReportOptions) -> Result<Vec<PathBuf>, ReportError> {
    let inp = PlanInputs::read(dir)?;
    write_report(dir, &inp, opts)
}
