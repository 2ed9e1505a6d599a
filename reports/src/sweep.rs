//! A load sweep: one scenario at several offered rates. `sweep.csv` (one row per rate,
//! in increasing offered load), `sweep.json` (what was swept), latency-throughput curves
//! with the SLO lines and the knee, and `report.html`.
//!
//! Invariants: rows are in strictly increasing offered load; the knee is the highest
//! offered load whose run met every SLO at the SLO percentile, with every lower load
//! meeting them too; the report is built only from `sweep.csv`, `sweep.json` and
//! `assumptions.json`, so `xpyd report DIR` reproduces it byte for byte.

use crate::ReportError;
use crate::assumptions::Assumptions;
use crate::charts::{Chart, Guide, LegendPos, LineChart, Marker, Series};
use crate::html::{self, Section};
use crate::input::{CsvTable, InputError, read_json};
use crate::run_report::ReportOptions;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use xpyd_sim::Scenario;
use xpyd_sim::describe::{Shape, cost_provenance};
use xpyd_sim::scenario::mode_name;
pub use xpyd_sim::sweep::{SweepPoint, knee};

/// Columns of `sweep.csv`. The last, `timed_out`, is optional when reading (files written
/// before client timeouts existed lack it; it reads as 0).
pub const SWEEP_COLUMNS: [&str; 22] = [
    "offered_rps",
    "requests",
    "completed",
    "rejected",
    "unfinished",
    "throughput_rps",
    "goodput_rps",
    "output_tokens_per_s",
    "output_tokens_per_s_per_gpu",
    "ttft_p50_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "tpot_p50_ms",
    "tpot_p90_ms",
    "tpot_p99_ms",
    "e2e_p50_ms",
    "e2e_p90_ms",
    "e2e_p99_ms",
    "slo_attainment",
    "slo_met",
    "gpus",
    "timed_out",
];

/// What was swept (`sweep.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepMeta {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Model.
    pub model: String,
    /// GPU.
    pub gpu: String,
    /// Backend.
    pub backend: String,
    /// Mode.
    pub mode: String,
    /// Deployment in words.
    pub deployment: String,
    /// Workload in words (at the scenario's own rate).
    pub workload: String,
    /// Step-cost source.
    pub cost_source: String,
    /// TTFT SLO, ms.
    pub ttft_slo_ms: f64,
    /// TPOT SLO, ms.
    pub tpot_slo_ms: f64,
    /// SLO percentile.
    pub slo_percentile: f64,
    /// Offered rates, requests/s, increasing.
    pub rates_rps: Vec<f64>,
}

impl SweepMeta {
    /// What a sweep of `sc` at `rates_rps` (increasing) is.
    pub fn of(sc: &Scenario, rates_rps: &[f64]) -> SweepMeta {
        SweepMeta {
            scenario: sc.name.clone(),
            seed: sc.seed,
            model: sc.model.id.clone(),
            gpu: sc.gpu.id.clone(),
            backend: sc.backend.name().to_string(),
            mode: mode_name(&sc.topology).to_string(),
            deployment: Shape::of(&sc.topology).to_string(),
            workload: sc.workload.describe(),
            cost_source: cost_provenance(sc).to_string(),
            ttft_slo_ms: sc.slo.ttft_ms,
            tpot_slo_ms: sc.slo.tpot_ms,
            slo_percentile: sc.slo.percentile,
            rates_rps: rates_rps.to_vec(),
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("sweep meta serialises");
        s.push('\n');
        s
    }
}

/// `sweep.csv` bytes.
pub fn sweep_csv(points: &[SweepPoint]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(SWEEP_COLUMNS).expect("csv to memory");
    for p in points {
        let f3 = |x: f64| format!("{x:.3}");
        let mut row = vec![
            format!("{:.6}", p.offered_rps),
            p.requests.to_string(),
            p.completed.to_string(),
            p.rejected.to_string(),
            p.unfinished.to_string(),
            format!("{:.6}", p.throughput_rps),
            format!("{:.6}", p.goodput_rps),
            f3(p.output_tokens_per_s),
            f3(p.output_tokens_per_s_per_gpu),
        ];
        for a in [p.ttft_ms, p.tpot_ms, p.e2e_ms] {
            row.extend(a.iter().map(|&x| f3(x)));
        }
        row.push(format!("{:.6}", p.slo_attainment));
        row.push(p.slo_met.to_string());
        row.push(p.gpus.to_string());
        row.push(p.timed_out.to_string());
        w.write_record(&row).expect("csv to memory");
    }
    w.into_inner().expect("csv to memory")
}

/// Read `sweep.csv` back.
pub fn read_sweep_csv(path: &Path) -> Result<Vec<SweepPoint>, InputError> {
    let (required, optional) = SWEEP_COLUMNS.split_at(SWEEP_COLUMNS.len() - 1);
    let t = CsvTable::read_with(path, required, optional)?;
    let timed_out = if t.has("timed_out") {
        t.u64("timed_out")?
    } else {
        vec![0; t.len()]
    };
    let f = |c: &str| t.f64(c);
    let u = |c: &str| t.u64(c);
    let (offered, req, done, rej, unf) = (
        f("offered_rps")?,
        u("requests")?,
        u("completed")?,
        u("rejected")?,
        u("unfinished")?,
    );
    let (thr, good, otok, otokg, att) = (
        f("throughput_rps")?,
        f("goodput_rps")?,
        f("output_tokens_per_s")?,
        f("output_tokens_per_s_per_gpu")?,
        f("slo_attainment")?,
    );
    let q = |p: &str| -> Result<[Vec<f64>; 3], InputError> {
        Ok([
            f(&format!("{p}_p50_ms"))?,
            f(&format!("{p}_p90_ms"))?,
            f(&format!("{p}_p99_ms"))?,
        ])
    };
    let (ttft, tpot, e2e) = (q("ttft")?, q("tpot")?, q("e2e")?);
    let met = t.opt_bool("slo_met")?;
    let gpus = u("gpus")?;
    Ok((0..t.len())
        .map(|i| SweepPoint {
            offered_rps: offered[i],
            requests: req[i],
            completed: done[i],
            rejected: rej[i],
            unfinished: unf[i],
            throughput_rps: thr[i],
            goodput_rps: good[i],
            output_tokens_per_s: otok[i],
            output_tokens_per_s_per_gpu: otokg[i],
            ttft_ms: [ttft[0][i], ttft[1][i], ttft[2][i]],
            tpot_ms: [tpot[0][i], tpot[1][i], tpot[2][i]],
            e2e_ms: [e2e[0][i], e2e[1][i], e2e[2][i]],
            slo_attainment: att[i],
            slo_met: met[i].unwrap_or(false),
            gpus: u32::try_from(gpus[i]).unwrap_or(u32::MAX),
            timed_out: timed_out[i],
        })
        .collect())
}

/// The curves of a sweep.
pub fn charts(meta: &SweepMeta, points: &[SweepPoint]) -> Vec<(String, Chart, String)> {
    let k = knee(points);
    let x: Vec<f64> = points.iter().map(|p| p.offered_rps).collect();
    let last = k.is_some_and(|k| k + 1 == points.len());
    let knee_label = |k: usize| {
        if last {
            format!(
                "every load meets the SLOs: knee above {:.3} req/s",
                points[k].offered_rps
            )
        } else {
            format!("knee {:.3} req/s", points[k].offered_rps)
        }
    };
    let knee_guide = |v: &mut Vec<Guide>| {
        if let Some(k) = k {
            v.push(Guide {
                label: knee_label(k),
                at: points[k].offered_rps,
                slo: false,
            });
        }
    };
    let latency = |what: &str, pick: fn(&SweepPoint) -> [f64; 3], slo: f64| {
        let series = ["p50", "p90", "p99"]
            .iter()
            .enumerate()
            .map(|(j, label)| Series {
                name: format!("{what} {label}"),
                points: x
                    .iter()
                    .zip(points)
                    .map(|(&x, p)| (x, pick(p)[j]))
                    .collect(),
                dashed: false,
            })
            .collect();
        let mut v = Vec::new();
        knee_guide(&mut v);
        Chart::Line(LineChart {
            title: format!("{what} vs offered load"),
            x_label: "offered load (requests/s)".into(),
            y_label: format!("{what} (ms)"),
            series,
            h_guides: vec![Guide {
                label: format!("{what} SLO {slo} ms"),
                at: slo,
                slo: true,
            }],
            v_guides: v,
            markers: vec![],
            dots: true,
            legend: LegendPos::UpperLeft,
        })
    };
    let mut v = Vec::new();
    knee_guide(&mut v);
    let mut markers = Vec::new();
    if let Some(k) = k {
        markers.push(Marker {
            label: format!(
                "{}: {:.3} req/s goodput",
                knee_label(k),
                points[k].goodput_rps
            ),
            x: points[k].offered_rps,
            y: points[k].goodput_rps,
        });
    }
    let throughput = Chart::Line(LineChart {
        title: "Throughput vs offered load".into(),
        x_label: "offered load (requests/s)".into(),
        y_label: "requests/s".into(),
        series: vec![
            Series {
                name: "throughput (completed/s)".into(),
                points: points
                    .iter()
                    .map(|p| (p.offered_rps, p.throughput_rps))
                    .collect(),
                dashed: false,
            },
            Series {
                name: "goodput (meeting every SLO)".into(),
                points: points
                    .iter()
                    .map(|p| (p.offered_rps, p.goodput_rps))
                    .collect(),
                dashed: false,
            },
            Series {
                name: "offered".into(),
                points: points
                    .iter()
                    .map(|p| (p.offered_rps, p.offered_rps))
                    .collect(),
                dashed: true,
            },
        ],
        h_guides: vec![],
        v_guides: v,
        markers,
        dots: true,
        legend: LegendPos::UpperLeft,
    });
    let pct = meta.slo_percentile;
    vec![
        (
            "sweep_ttft".into(),
            latency("TTFT", |p| p.ttft_ms, meta.ttft_slo_ms),
            format!(
                "TTFT percentiles at each offered load. The red line is the TTFT SLO (to be met at p{pct}); the grey line marks the knee, the highest load at which every SLO holds."
            ),
        ),
        (
            "sweep_tpot".into(),
            latency("TPOT", |p| p.tpot_ms, meta.tpot_slo_ms),
            format!("TPOT percentiles at each offered load, with the TPOT SLO (p{pct}) and the knee."),
        ),
        (
            "sweep_throughput".into(),
            throughput,
            "Completed requests/s and goodput (requests/s meeting every SLO) against the offered load; the dashed diagonal is the offered load itself.".into(),
        ),
    ]
}

/// Write the charts and `report.html` of the sweep in `dir`.
pub fn write_report(
    dir: &Path,
    meta: &SweepMeta,
    points: &[SweepPoint],
    assumptions: Option<&Assumptions>,
    opts: ReportOptions,
) -> Result<Vec<PathBuf>, ReportError> {
    let chart_dir = dir.join("charts");
    std::fs::create_dir_all(&chart_dir).map_err(|source| ReportError::Io {
        path: chart_dir.clone(),
        source,
    })?;
    let mut body = String::new();
    for (name, c, caption) in charts(meta, points) {
        let svg = c.write(&chart_dir, &name, opts.png)?;
        body.push_str(&html::figure(&svg, &caption));
        body.push('\n');
    }
    let scenario = html::key_values(&[
        ("scenario".into(), meta.scenario.clone()),
        ("seed".into(), meta.seed.to_string()),
        ("model".into(), meta.model.clone()),
        ("GPU".into(), meta.gpu.clone()),
        ("backend".into(), meta.backend.clone()),
        ("mode".into(), meta.mode.clone()),
        ("deployment".into(), meta.deployment.clone()),
        ("workload (at its own rate)".into(), meta.workload.clone()),
        (
            "SLOs".into(),
            format!(
                "TTFT ≤ {} ms and TPOT ≤ {} ms at p{}",
                meta.ttft_slo_ms, meta.tpot_slo_ms, meta.slo_percentile
            ),
        ),
        ("step costs".into(), meta.cost_source.clone()),
        (
            "offered loads (requests/s)".into(),
            meta.rates_rps
                .iter()
                .map(|r| format!("{r}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]);
    let knee_text = match knee(points) {
        Some(k) if k + 1 == points.len() => format!(
            "Every offered load of the sweep meets the SLOs at p{}: the knee lies above {:.3} requests/s ({:.3} requests/s of goodput there). Sweep higher rates to find it.",
            meta.slo_percentile, points[k].offered_rps, points[k].goodput_rps
        ),
        Some(k) => format!(
            "Knee: {:.3} requests/s offered, the highest load of the sweep at which every SLO holds at p{} ({:.3} requests/s of goodput; at p{} TTFT ≈ {:.1} ms and TPOT ≈ {:.2} ms, interpolated between p50, p90 and p99).",
            points[k].offered_rps,
            meta.slo_percentile,
            points[k].goodput_rps,
            meta.slo_percentile,
            interpolate_pct(points[k].ttft_ms, meta.slo_percentile),
            interpolate_pct(points[k].tpot_ms, meta.slo_percentile),
        ),
        None => "No knee: the SLOs are missed already at the lowest offered load of the sweep."
            .to_string(),
    };
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| {
            vec![
                format!("{:.3}", p.offered_rps),
                format!("{:.3}", p.throughput_rps),
                format!("{:.3}", p.goodput_rps),
                format!("{:.1}", p.ttft_ms[0]),
                format!("{:.1}", p.ttft_ms[1]),
                format!("{:.1}", p.ttft_ms[2]),
                format!("{:.2}", p.tpot_ms[0]),
                format!("{:.2}", p.tpot_ms[1]),
                format!("{:.2}", p.tpot_ms[2]),
                format!("{:.1}%", p.slo_attainment * 100.0),
                (if p.slo_met { "yes" } else { "no" }).to_string(),
            ]
        })
        .collect();
    let numbers = format!(
        "{}\n{}",
        html::para(&knee_text),
        html::table(
            &[
                "offered (req/s)",
                "throughput (req/s)",
                "goodput (req/s)",
                "TTFT p50 (ms)",
                "TTFT p90 (ms)",
                "TTFT p99 (ms)",
                "TPOT p50 (ms)",
                "TPOT p90 (ms)",
                "TPOT p99 (ms)",
                "SLO attainment",
                "SLOs met",
            ],
            &rows,
        )
    );
    let sections = [
        Section::new("scenario", "Scenario and deployment", scenario),
        Section::new("numbers", "Key numbers", numbers),
        Section::new("charts", "Latency-throughput curves", body),
        Section::new(
            "assumptions",
            "Assumptions and their sources",
            html::assumptions(assumptions, &meta.cost_source),
        ),
    ];
    let page = html::page(
        &format!("xpyd sweep report: {}", meta.scenario),
        &format!(
            "{} on {} ({}, {} {}), seed {}, {} offered loads",
            meta.model,
            meta.gpu,
            meta.backend,
            meta.mode,
            meta.deployment,
            meta.seed,
            points.len()
        ),
        &sections,
    );
    let p = dir.join("report.html");
    crate::atomic::write_file(&p, page.as_bytes())?;
    Ok(vec![p])
}

/// TTFT at the SLO percentile, interpolated between p50, p90 and p99.
fn interpolate_pct(v: [f64; 3], pct: f64) -> f64 {
    let xs = [50.0, 90.0, 99.0];
    if pct <= xs[0] {
        return v[0];
    }
    for i in 0..2 {
        if pct <= xs[i + 1] {
            let t = (pct - xs[i]) / (xs[i + 1] - xs[i]);
            return v[i] + (v[i + 1] - v[i]) * t;
        }
    }
    v[2]
}

/// Write the files of a sweep of `sc` to `out` (created if needed): `sweep.csv`,
/// `sweep.json`, `assumptions.json` and, with `report`, the charts and `report.html`
/// (rebuilt from the files just written, exactly as `xpyd report DIR` rebuilds them).
/// Returns the names written.
pub fn write(
    out: &Path,
    sc: &Scenario,
    meta: &SweepMeta,
    points: &[SweepPoint],
    report: Option<ReportOptions>,
) -> Result<Vec<&'static str>, ReportError> {
    crate::create_dir(out)?;
    crate::atomic::write_file(&out.join("sweep.csv"), &sweep_csv(points))?;
    crate::atomic::write_file(&out.join("sweep.json"), meta.to_json().as_bytes())?;
    crate::atomic::write_file(
        &out.join("assumptions.json"),
        Assumptions::of(sc).to_json().as_bytes(),
    )?;
    let mut written = vec!["sweep.csv", "sweep.json", "assumptions.json"];
    if let Some(opts) = report {
        rebuild(out, opts)?;
        written.push("charts/");
        written.push("report.html");
    }
    Ok(written)
}

/// The table `xpyd sweep` prints: one line per rate, then the knee.
pub fn summary_text(meta: &SweepMeta, points: &[SweepPoint]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "xpyd sweep: {} (seed {}), {} {} on {}, SLOs TTFT <= {} ms, TPOT <= {} ms at p{}",
        meta.scenario,
        meta.seed,
        meta.mode,
        meta.deployment,
        meta.gpu,
        meta.ttft_slo_ms,
        meta.tpot_slo_ms,
        meta.slo_percentile
    );
    let _ = writeln!(
        s,
        "{:>12} {:>12} {:>12} {:>14} {:>14} {:>8}",
        "offered r/s", "done r/s", "goodput r/s", "TTFT p90 ms", "TPOT p90 ms", "SLOs"
    );
    for p in points {
        // A point where nothing completed has no latencies: "-", never 0 ms.
        let (ttft, tpot) = match p.completed {
            0 => ("-".to_owned(), "-".to_owned()),
            _ => (
                format!("{:.1}", p.ttft_ms[1]),
                format!("{:.2}", p.tpot_ms[1]),
            ),
        };
        let _ = writeln!(
            s,
            "{:>12.3} {:>12.3} {:>12.3} {:>14} {:>14} {:>8}",
            p.offered_rps,
            p.throughput_rps,
            p.goodput_rps,
            ttft,
            tpot,
            if p.slo_met { "met" } else { "missed" }
        );
    }
    match knee(points) {
        Some(k) => {
            let _ = writeln!(
                s,
                "knee: {:.3} requests/s (the highest offered load meeting every SLO)",
                points[k].offered_rps
            );
        }
        None => {
            let _ = writeln!(s, "knee: none (the SLOs are missed at the lowest rate)");
        }
    }
    s
}

/// Read a sweep folder and rebuild its report.
pub fn rebuild(dir: &Path, opts: ReportOptions) -> Result<Vec<PathBuf>, ReportError> {
    let meta: SweepMeta = read_json(&dir.join("sweep.json"))?;
    let points = read_sweep_csv(&dir.join("sweep.csv"))?;
    let apath = dir.join("assumptions.json");
    let a: Option<Assumptions> = if apath.exists() {
        Some(read_json(&apath)?)
    } else {
        None
    };
    write_report(dir, &meta, &points, a.as_ref(), opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(rate: f64, met: bool) -> SweepPoint {
        SweepPoint {
            offered_rps: rate,
            throughput_rps: rate,
            goodput_rps: if met { rate } else { 0.0 },
            ttft_ms: [rate, rate * 2.0, rate * 3.0],
            tpot_ms: [1.0, 2.0, 3.0],
            e2e_ms: [10.0, 20.0, 30.0],
            slo_met: met,
            gpus: 3,
            timed_out: 0,
            ..SweepPoint::default()
        }
    }

    #[test]
    fn csv_round_trips() {
        let pts = vec![pt(1.0, true), pt(2.5, false)];
        let dir = std::env::temp_dir().join(format!("xpyd-sweep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("sweep.csv");
        let mut pts = pts;
        pts[1].timed_out = 7;
        std::fs::write(&p, sweep_csv(&pts)).unwrap();
        assert_eq!(read_sweep_csv(&p).unwrap(), pts);
        // A file written before `timed_out` existed reads with zeros.
        let text = String::from_utf8(sweep_csv(&pts)).unwrap();
        let old: String = text
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_owned() + "\n")
            .collect();
        std::fs::write(&p, old).unwrap();
        let back = read_sweep_csv(&p).unwrap();
        assert_eq!(back[1].timed_out, 0);
        assert_eq!(back[1].offered_rps, pts[1].offered_rps);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn percentile_interpolation() {
        assert_eq!(interpolate_pct([1.0, 5.0, 9.5], 90.0), 5.0);
        assert_eq!(interpolate_pct([1.0, 5.0, 9.5], 50.0), 1.0);
        assert_eq!(interpolate_pct([1.0, 5.0, 14.0], 95.0), 10.0);
    }
}
