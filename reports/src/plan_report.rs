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
use crate::input::{CsvTable, InputError, read_json};
use crate::run_report::ReportOptions;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A row of `plan.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Candidate index.
    pub index: u64,
    /// `disaggregated` or `aggregated`.
    pub mode: String,
    /// GPU.
    pub gpu: String,
    /// Prefill TP.
    pub tp_prefill: u64,
    /// Decode TP.
    pub tp_decode: u64,
    /// Prefill instances of a unit.
    pub prefill_replicas: u64,
    /// Decode instances of a unit.
    pub decode_replicas: u64,
    /// GPUs of a unit.
    pub gpus: u64,
    /// Token budget.
    pub max_batched_tokens: u64,
    /// Most running sequences.
    pub max_num_seqs: u64,
    /// Router.
    pub router: String,
    /// Highest SLO-meeting rate, requests/s (none when pruned).
    pub max_rate_rps: Option<f64>,
    /// Goodput per GPU, requests/s (none when pruned).
    pub goodput_rps_per_gpu: Option<f64>,
    /// `evaluated`, `infeasible` or `pruned`.
    pub status: String,
}

/// A row of `pareto.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct ParetoPoint {
    /// Candidate index.
    pub index: u64,
    /// Mode.
    pub mode: String,
    /// Shape in words.
    pub shape: String,
    /// Rate, requests/s.
    pub rate_rps: f64,
    /// Output tokens/s per GPU.
    pub x: f64,
    /// Tokens/s per user.
    pub y: f64,
    /// On the front.
    pub pareto: bool,
}

#[derive(Clone, Debug, Deserialize)]
struct RoleJ {
    replicas: u32,
    tp: u32,
}

#[derive(Clone, Debug, Deserialize)]
struct EngineJ {
    max_batched_tokens: u32,
    max_num_seqs: u32,
}

#[derive(Clone, Debug, Deserialize)]
struct UnitJ {
    prefill: RoleJ,
    decode: RoleJ,
    gpus: u32,
    max_rate_rps: f64,
    goodput_requests_per_s_per_gpu: f64,
}

#[derive(Clone, Debug, Deserialize)]
struct PctJ {
    p50: f64,
    p90: f64,
    p99: f64,
}

#[derive(Clone, Debug, Deserialize)]
struct SloJ {
    ttft_ms: f64,
    tpot_ms: f64,
    percentile: f64,
}

/// What the report reads of `recommendation.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Recommendation {
    mode: String,
    backend: String,
    gpu: String,
    prefill: RoleJ,
    decode: RoleJ,
    router: String,
    engine: EngineJ,
    gpus: u32,
    units: u32,
    unit: UnitJ,
    ttft_ms: PctJ,
    tpot_ms: PctJ,
    goodput_requests_per_s: f64,
    slo_attainment: f64,
    slo_met: bool,
    slo: SloJ,
    target_rate_rps: f64,
    usd_per_hour: Option<f64>,
}

/// Everything a plan report is built from.
#[derive(Clone, Debug)]
pub struct PlanInputs {
    /// `plan.csv`.
    pub candidates: Vec<Candidate>,
    /// `pareto.csv`.
    pub pareto: Vec<ParetoPoint>,
    /// `recommendation.json`, when there is one.
    pub recommendation: Option<Recommendation>,
    /// `assumptions.json` (of the recommended deployment), when present.
    pub assumptions: Option<Assumptions>,
}

impl PlanInputs {
    /// Read a plan folder.
    pub fn read(dir: &Path) -> Result<PlanInputs, InputError> {
        let cols = [
            "index",
            "mode",
            "gpu",
            "tp_prefill",
            "tp_decode",
            "prefill_replicas",
            "decode_replicas",
            "gpus",
            "max_batched_tokens",
            "max_num_seqs",
            "router",
            "max_rate_rps",
            "goodput_rps_per_gpu",
            "status",
        ];
        let t = CsvTable::read(&dir.join("plan.csv"), &cols)?;
        let (index, tpp, tpd, pr, dr, gpus, mbt, mns) = (
            t.u64("index")?,
            t.u64("tp_prefill")?,
            t.u64("tp_decode")?,
            t.u64("prefill_replicas")?,
            t.u64("decode_replicas")?,
            t.u64("gpus")?,
            t.u64("max_batched_tokens")?,
            t.u64("max_num_seqs")?,
        );
        let (mode, gpu, router, status) = (
            t.text("mode"),
            t.text("gpu"),
            t.text("router"),
            t.text("status"),
        );
        let (rate, good) = (
            t.opt_f64("max_rate_rps")?,
            t.opt_f64("goodput_rps_per_gpu")?,
        );
        let candidates = (0..t.len())
            .map(|i| Candidate {
                index: index[i],
                mode: mode[i].clone(),
                gpu: gpu[i].clone(),
                tp_prefill: tpp[i],
                tp_decode: tpd[i],
                prefill_replicas: pr[i],
                decode_replicas: dr[i],
                gpus: gpus[i],
                max_batched_tokens: mbt[i],
                max_num_seqs: mns[i],
                router: router[i].clone(),
                max_rate_rps: rate[i],
                goodput_rps_per_gpu: good[i],
                status: status[i].clone(),
            })
            .collect();
        let pcols = [
            "index",
            "mode",
            "shape",
            "rate_rps",
            "output_tokens_per_s_per_gpu",
            "tokens_per_s_per_user",
            "pareto",
        ];
        let p = CsvTable::read(&dir.join("pareto.csv"), &pcols)?;
        let (pi, pm, ps, pr, px, py, pp) = (
            p.u64("index")?,
            p.text("mode"),
            p.text("shape"),
            p.f64("rate_rps")?,
            p.f64("output_tokens_per_s_per_gpu")?,
            p.f64("tokens_per_s_per_user")?,
            p.opt_bool("pareto")?,
        );
        let pareto = (0..p.len())
            .map(|i| ParetoPoint {
                index: pi[i],
                mode: pm[i].clone(),
                shape: ps[i].clone(),
                rate_rps: pr[i],
                x: px[i],
                y: py[i],
                pareto: pp[i].unwrap_or(false),
            })
            .collect();
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
fn recommended(inp: &PlanInputs) -> Option<&Candidate> {
    let r = inp.recommendation.as_ref()?;
    inp.candidates.iter().find(|c| {
        c.mode == r.mode
            && c.gpu == r.gpu
            && c.tp_prefill == u64::from(r.unit.prefill.tp)
            && c.tp_decode == u64::from(r.unit.decode.tp)
            && c.prefill_replicas == u64::from(r.unit.prefill.replicas)
            && c.decode_replicas == u64::from(r.unit.decode.replicas)
            && c.router == r.router
            && c.max_batched_tokens == u64::from(r.engine.max_batched_tokens)
            && c.max_num_seqs == u64::from(r.engine.max_num_seqs)
    })
}

/// The Pareto chart: every feasible candidate, the front, the recommendation.
pub fn pareto_chart(inp: &PlanInputs) -> Chart {
    let mut groups: Vec<Series> = Vec::new();
    for p in &inp.pareto {
        let name = format!("{} candidates", p.mode);
        match groups.iter_mut().find(|g| g.name == name) {
            Some(g) => g.points.push((p.x, p.y)),
            None => groups.push(Series {
                name,
                points: vec![(p.x, p.y)],
                dashed: false,
            }),
        }
    }
    let mut front: Vec<(f64, f64)> = inp
        .pareto
        .iter()
        .filter(|p| p.pareto)
        .map(|p| (p.x, p.y))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut markers = Vec::new();
    if let Some(c) = recommended(inp)
        && let Some(p) = inp.pareto.iter().find(|p| p.index == c.index)
    {
        markers.push(Marker {
            label: format!("recommended: {}", p.shape),
            x: p.x,
            y: p.y,
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
    let mut xs: Vec<(u64, u64, String)> = Vec::new();
    let mut ys: Vec<(u64, u64, String)> = Vec::new();
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
    let mut ranked: Vec<&Candidate> = inp
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
    let rows: Vec<Vec<String>> = ranked
        .iter()
        .take(10)
        .map(|c| {
            vec![
                c.index.to_string(),
                c.mode.clone(),
                c.gpu.clone(),
                if c.mode == "aggregated" {
                    format!("{} x TP {}", c.prefill_replicas, c.tp_prefill)
                } else {
                    format!(
                        "{}P{}D TP {}/{}",
                        c.prefill_replicas, c.decode_replicas, c.tp_prefill, c.tp_decode
                    )
                },
                c.gpus.to_string(),
                c.max_batched_tokens.to_string(),
                c.max_num_seqs.to_string(),
                c.router.clone(),
                c.max_rate_rps.map_or("-".into(), |r| format!("{r:.3}")),
                c.goodput_rps_per_gpu
                    .map_or("-".into(), |r| format!("{r:.4}")),
            ]
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
    numbers.push_str(&html::table(
        &[
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
        ],
        &rows,
    ));
    let rec = match &inp.recommendation {
        Some(r) => {
            let shape = if r.mode == "aggregated" {
                format!("{} x TP {}", r.prefill.replicas, r.prefill.tp)
            } else {
                format!(
                    "{}P{}D, TP {}/{}",
                    r.prefill.replicas, r.decode.replicas, r.prefill.tp, r.decode.tp
                )
            };
            let mut h = format!(
                "<p>SLOs met in the confirming run: {}</p>\n",
                html::verdict(r.slo_met)
            );
            h.push_str(&html::key_values(&[
                (
                    "deployment".into(),
                    format!("{} {} on {} x {}", r.backend, r.mode, r.gpus, r.gpu),
                ),
                ("instances".into(), shape),
                (
                    "units".into(),
                    if r.mode == "aggregated" {
                        format!(
                            "{} of {} GPUs ({} x TP {})",
                            r.units, r.unit.gpus, r.unit.prefill.replicas, r.unit.prefill.tp
                        )
                    } else {
                        format!(
                            "{} of {} GPUs ({}P{}D, TP {}/{})",
                            r.units,
                            r.unit.gpus,
                            r.unit.prefill.replicas,
                            r.unit.decode.replicas,
                            r.unit.prefill.tp,
                            r.unit.decode.tp
                        )
                    },
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
            ]));
            h
        }
        None => html::para("No recommendation: no candidate met the SLOs."),
    };
    let cost_source = match &inp.assumptions {
        Some(a) if a.profile.is_some() => format!(
            "calibrated where the profile covers a term ({}), roofline elsewhere",
            a.profile.as_deref().unwrap_or_default()
        ),
        Some(_) => "roofline".to_string(),
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

/// Read a plan folder and rebuild its report.
pub fn rebuild(dir: &Path, opts: ReportOptions) -> Result<Vec<PathBuf>, ReportError> {
    let inp = PlanInputs::read(dir)?;
    write_report(dir, &inp, opts)
}
