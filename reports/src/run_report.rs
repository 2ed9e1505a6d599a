//! The report of one `xpyd run` folder: aggregate tables, charts and `report.html`, built
//! only from the files the run wrote (`summary.json`, `requests.csv`,
//! `requests-baseline.csv`, `timeseries.csv`, `assumptions.json`).
//!
//! Invariants: the same folder gives byte-identical outputs, and the run writes its
//! report through this same code, so `xpyd report DIR` reproduces it exactly. Large runs
//! are reduced before plotting: CDFs at 201 quantiles, time series averaged into at most
//! [`MAX_POINTS`] points.

use crate::ReportError;
use crate::assumptions::Assumptions;
use crate::charts::{Chart, Guide, Histogram, LegendPos, LineChart, Series};
use crate::html::{self, Section};
use crate::input::{InputError, read_json};
use crate::summary::{RoleSummary, Summary, SystemSummary};
use crate::tables::{self, OptF64, Requests, Timeseries};
use std::path::{Path, PathBuf};
use xpyd_sim::describe::Shape;

/// Most points of one plotted time series.
pub const MAX_POINTS: usize = 1000;
/// Quantile levels of a plotted CDF, 0 to 1 inclusive.
pub const CDF_LEVELS: usize = 200;

/// The aggregated baseline of `role`, in words (`aggregated baseline (4 x TP 2)`).
fn baseline_label(role: &RoleSummary) -> String {
    format!("aggregated baseline ({})", Shape::Aggregated(role.shape()))
}

/// Options of a report.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// Write PNG next to each SVG.
    pub png: bool,
    /// Write the aggregate tables as Parquet too.
    pub parquet: bool,
}

/// Sorted finite values of a column.
fn sorted(v: &[OptF64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().filter_map(|x| x.get()).collect();
    s.sort_by(f64::total_cmp);
    s
}

/// Linear-interpolated quantile of sorted values, `q` in [0, 1].
fn quantile(s: &[f64], q: f64) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let pos = q * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

/// A CDF as [`CDF_LEVELS`] + 1 quantile points.
pub fn cdf_points(values: &[OptF64]) -> Vec<(f64, f64)> {
    let s = sorted(values);
    if s.is_empty() {
        return Vec::new();
    }
    (0..=CDF_LEVELS)
        .map(|i| {
            let q = i as f64 / CDF_LEVELS as f64;
            (quantile(&s, q), q)
        })
        .collect()
}

/// Average consecutive points so that at most [`MAX_POINTS`] remain.
pub fn reduce(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    let n = x.len().min(y.len());
    let k = n.div_ceil(MAX_POINTS).max(1);
    (0..n)
        .step_by(k)
        .map(|s| {
            let e = (s + k).min(n);
            let m = (e - s) as f64;
            (
                x[s..e].iter().sum::<f64>() / m,
                y[s..e].iter().sum::<f64>() / m,
            )
        })
        .collect()
}

/// The time-series window: the smallest gap between sample times (to the µs the file
/// resolves), else 1 s; `None` when that gap rounds to 0 µs.
fn window_of(ts: &Timeseries) -> Result<f64, f64> {
    let mut t: Vec<f64> = ts.time_s.clone();
    t.sort_by(f64::total_cmp);
    t.dedup();
    let gap = t
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.min(d))));
    match gap {
        None => Ok(1.0),
        Some(g) => {
            let w = (g * 1e6).round() / 1e6;
            if w > 0.0 { Ok(w) } else { Err(g) }
        }
    }
}

/// Whether two means agree to the 3 decimals `requests.csv` keeps (each value rounded by
/// at most 0.0005, so their mean too) and floating-point noise.
fn means_agree(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-3 + 1e-9 * a.abs().max(b.abs())
}

/// Check that `requests` (read from `file`) is the request table of `system`: as many
/// rows as requests arrived (warm-up ones included), as many `completed` rows with a
/// TTFT as TTFT samples, with the same mean.
fn check_requests(
    dir: &Path,
    file: &'static str,
    system: &SystemSummary,
    requests: &Requests,
) -> Result<(), InputError> {
    let mixed = |detail: String| InputError::MixedRun {
        dir: dir.to_path_buf(),
        file,
        detail,
    };
    let rows = requests.id.len() as u64;
    let counts = &system.requests;
    if rows != counts.arrived + counts.warmup {
        return Err(mixed(format!(
            "{rows} requests, summary.json counts {} arrived",
            counts.arrived + counts.warmup
        )));
    }
    let ttft: Vec<f64> = (0..requests.len())
        .filter(|&i| requests.outcome.get(i) == "completed")
        .filter_map(|i| requests.ttft_ms[i].get())
        .collect();
    if ttft.len() as u64 != system.ttft_ms.count {
        return Err(mixed(format!(
            "{} TTFT values, summary.json counts {}",
            ttft.len(),
            system.ttft_ms.count
        )));
    }
    if !ttft.is_empty() {
        let mean = ttft.iter().sum::<f64>() / ttft.len() as f64;
        if !means_agree(mean, system.ttft_ms.mean) {
            return Err(mixed(format!(
                "mean TTFT {mean:.3} ms, summary.json says {:.3} ms",
                system.ttft_ms.mean
            )));
        }
    }
    Ok(())
}

/// Everything a run report is built from.
#[derive(Debug)]
pub struct RunInputs {
    /// `summary.json`.
    pub summary: Summary,
    /// `requests.csv`.
    pub requests: Requests,
    /// `requests-baseline.csv`, when the baseline ran.
    pub baseline: Option<Requests>,
    /// `timeseries.csv`.
    pub timeseries: Timeseries,
    /// `assumptions.json`, when present.
    pub assumptions: Option<Assumptions>,
    /// A second run to overlay (`xpyd report --compare`), with its label.
    pub compare: Option<(String, Requests)>,
}

impl RunInputs {
    /// Read a run folder.
    pub fn read(dir: &Path) -> Result<RunInputs, InputError> {
        let summary: Summary = read_json(&dir.join("summary.json"))?;
        let requests = Requests::read(&dir.join("requests.csv"))?;
        let bpath = dir.join("requests-baseline.csv");
        let baseline = if bpath.exists() {
            Some(Requests::read(&bpath)?)
        } else {
            None
        };
        let timeseries = Timeseries::read(&dir.join("timeseries.csv"))?;
        let apath = dir.join("assumptions.json");
        let assumptions = if apath.exists() {
            Some(read_json(&apath)?)
        } else {
            None
        };
        // One run's files, or none: a folder that mixes two runs is refused.
        check_requests(dir, "requests.csv", &summary.system, &requests)?;
        match (&summary.baseline_aggregated, &baseline) {
            (Some(b), Some(r)) => check_requests(dir, "requests-baseline.csv", &b.system, r)?,
            (None, Some(_)) => {
                return Err(InputError::MixedRun {
                    dir: dir.to_path_buf(),
                    file: "requests-baseline.csv",
                    detail: "summary.json has no baseline".into(),
                });
            }
            (Some(_), None) => {
                return Err(InputError::MixedRun {
                    dir: dir.to_path_buf(),
                    file: "summary.json",
                    detail: "it has a baseline but requests-baseline.csv is missing".into(),
                });
            }
            (None, None) => {}
        }
        let systems = &timeseries.system.names;
        let baseline_rows = systems.iter().any(|s| s == "aggregated-baseline");
        if (!systems.is_empty() && !systems.contains(&summary.mode))
            || (baseline_rows && summary.baseline_aggregated.is_none())
        {
            return Err(InputError::MixedRun {
                dir: dir.to_path_buf(),
                file: "timeseries.csv",
                detail: format!(
                    "its systems are {}, summary.json's run is {}{}",
                    systems.join(", "),
                    summary.mode,
                    if summary.baseline_aggregated.is_some() {
                        " with a baseline"
                    } else {
                        ""
                    }
                ),
            });
        }
        if let Err(gap_s) = window_of(&timeseries) {
            return Err(InputError::Window {
                path: dir.join("timeseries.csv"),
                gap_s,
            });
        }
        Ok(RunInputs {
            summary,
            requests,
            baseline,
            timeseries,
            assumptions,
            compare: None,
        })
    }

    /// Overlay the run in `other` (its `requests.csv`) on the CDFs.
    pub fn compare_with(&mut self, other: &Path) -> Result<(), InputError> {
        let s: Summary = read_json(&other.join("summary.json"))?;
        let r = Requests::read(&other.join("requests.csv"))?;
        let label = format!("{} ({}, {})", other.display(), s.mode, s.deployment());
        self.compare = Some((label, r));
        Ok(())
    }
}

/// A chart with the file stem it is written under and what it shows.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem under `charts/`.
    pub name: String,
    /// The chart.
    pub chart: Chart,
    /// The caption.
    pub caption: String,
}

fn cdf_chart(
    inp: &RunInputs,
    what: &str,
    pick: fn(&Requests) -> &[OptF64],
    slo: Option<f64>,
) -> Chart {
    let s = &inp.summary;
    let mut series = vec![Series {
        name: format!("{} ({})", s.mode, s.deployment()),
        points: cdf_points(pick(&inp.requests)),
        dashed: false,
    }];
    if let (Some(b), Some(bs)) = (&inp.baseline, &s.baseline_aggregated) {
        series.push(Series {
            name: baseline_label(&bs.aggregated),
            points: cdf_points(pick(b)),
            dashed: true,
        });
    }
    if let Some((label, r)) = &inp.compare {
        series.push(Series {
            name: label.clone(),
            points: cdf_points(pick(r)),
            dashed: true,
        });
    }
    Chart::Line(LineChart {
        title: format!("{what} CDF"),
        x_label: format!("{what} (ms)"),
        y_label: "fraction of requests".into(),
        series,
        h_guides: vec![],
        v_guides: slo
            .map(|v| {
                vec![Guide {
                    label: format!("{what} SLO {v} ms"),
                    at: v,
                    slo: true,
                }]
            })
            .unwrap_or_default(),
        markers: vec![],
        dots: false,
        legend: LegendPos::LowerRight,
    })
}

/// The figures of a run.
pub fn figures(
    inp: &RunInputs,
    window: &tables::Table,
    window_s: f64,
) -> Result<Vec<Figure>, ReportError> {
    let s = &inp.summary;
    let slo = &s.system.slo;
    let base = if inp.baseline.is_some() {
        " The dashed line is the aggregated baseline on the same GPUs."
    } else {
        ""
    };
    let mut figs = vec![
        Figure {
            name: "ttft_cdf".into(),
            chart: cdf_chart(inp, "TTFT", |r| &r.ttft_ms, Some(slo.ttft_ms)),
            caption: format!(
                "Time to first token: the fraction of completed requests whose TTFT is at most x. The red line is the TTFT SLO, to be met at p{}.{base}",
                slo.percentile
            ),
        },
        Figure {
            name: "tpot_cdf".into(),
            chart: cdf_chart(inp, "TPOT", |r| &r.tpot_ms, Some(slo.tpot_ms)),
            caption: format!(
                "Time per output token (decode speed seen by each request). The red line is the TPOT SLO.{base}"
            ),
        },
        Figure {
            name: "e2e_cdf".into(),
            chart: cdf_chart(inp, "E2E", |r| &r.e2e_ms, None),
            caption: format!("End-to-end latency, arrival to last token.{base}"),
        },
    ];
    let roles = tables::role_series(&inp.timeseries)?;
    let ts_chart = |title: &str, y: &str, pick: fn(&tables::RoleSeries) -> &Vec<f64>| {
        Chart::Line(LineChart {
            title: title.to_string(),
            x_label: "simulated time (s)".into(),
            y_label: y.to_string(),
            series: roles
                .iter()
                .map(|r| Series {
                    name: if r.system == "aggregated-baseline" {
                        "aggregated baseline".to_string()
                    } else {
                        format!("{} {}", r.system, r.role)
                    },
                    points: reduce(&r.time_s, pick(r)),
                    dashed: r.system.contains("baseline"),
                })
                .collect(),
            h_guides: vec![],
            v_guides: vec![],
            markers: vec![],
            dots: false,
            legend: LegendPos::UpperLeft,
        })
    };
    figs.push(Figure {
        name: "queue".into(),
        chart: ts_chart("Waiting requests", "requests waiting (sum over instances)", |r| &r.waiting),
        caption: "Queue length per role: requests waiting for admission, summed over the role's instances, per time window.".into(),
    });
    figs.push(Figure {
        name: "running".into(),
        chart: ts_chart("Running batch", "running sequences (sum over instances)", |r| &r.running),
        caption: "Running batch per role: sequences in the engines' batches, summed over the role's instances.".into(),
    });
    figs.push(Figure {
        name: "kv_utilization".into(),
        chart: ts_chart("KV-cache utilisation", "KV blocks used / capacity (mean over instances)", |r| {
            &r.kv_utilization
        }),
        caption: "KV-cache utilisation per role, the mean over the role's instances. Near 1, admissions stall and decodes may be preempted.".into(),
    });
    figs.push(Figure {
        name: "replicas".into(),
        chart: ts_chart("Replicas", "instances", |r| &r.replicas),
        caption: "Instances of each role over time (changes only under autoscaling).".into(),
    });
    if let Some(f) = &s.failures {
        figs.push(Figure {
            name: "failures".into(),
            chart: failures_chart(f, s.system.makespan_s),
            caption: "Failures and spot reclaims over time: instances of each role that failed or were reclaimed so far. Each is replaced through a cold start (the replicas figure shows the gap).".into(),
        });
    }
    let starts = float_col(window, "window_start_s");
    let arr = float_col(window, "arrival_rps");
    let done: Vec<f64> = match window.col("completed") {
        Some(tables::Col::Int(v)) => v.iter().map(|c| c.unwrap_or(0) as f64 / window_s).collect(),
        _ => Vec::new(),
    };
    figs.push(Figure {
        name: "request_rate".into(),
        chart: Chart::Line(LineChart {
            title: "Request rate".into(),
            x_label: "simulated time (s)".into(),
            y_label: "requests/s".into(),
            series: vec![
                Series {
                    name: "arrivals/s".into(),
                    points: reduce(&starts, &arr),
                    dashed: false,
                },
                Series {
                    name: "completions/s (of requests arriving in the window)".into(),
                    points: reduce(&starts, &done),
                    dashed: true,
                },
            ],
            h_guides: vec![],
            v_guides: vec![],
            markers: vec![],
            dots: false,
            legend: LegendPos::UpperLeft,
        }),
        caption: format!(
            "Offered load per {window_s} s window of arrival time, and how many of those requests completed."
        ),
    });
    let kv = sorted(&inp.requests.kv_transfer_ms);
    if !kv.is_empty() {
        let hi = kv[kv.len() - 1];
        let bins = 40usize;
        let width = if hi > 0.0 { hi / bins as f64 } else { 1.0 };
        let mut counts = vec![0u64; bins];
        for v in &kv {
            let b = ((v / width).floor() as usize).min(bins - 1);
            counts[b] += 1;
        }
        figs.push(Figure {
            name: "kv_transfer_hist".into(),
            chart: Chart::Histogram(Histogram {
                title: "KV-transfer time".into(),
                x_label: "KV transfer from prefill to decode (ms)".into(),
                bins: counts
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (i as f64 * width, (i + 1) as f64 * width, n))
                    .collect(),
            }),
            caption: format!(
                "How long moving each prompt's KV cache from its prefill to its decode instance took ({} transfers, p50 {:.2} ms, p99 {:.2} ms).",
                kv.len(),
                quantile(&kv, 0.5),
                quantile(&kv, 0.99)
            ),
        });
    }
    Ok(figs)
}

/// Cumulative failures and reclaims per role and kind, as step lines from 0 to `end_s`
/// (or the last event).
fn failures_chart(f: &crate::summary::FailureSummary, end_s: f64) -> Chart {
    let mut series: Vec<Series> = Vec::new();
    for role in &f.roles {
        for (kind, label) in [("failed", "failures"), ("preempted", "spot reclaims")] {
            let times: Vec<f64> = f
                .events
                .iter()
                .filter(|e| e.role == role.role && e.kind == kind)
                .map(|e| e.time_s)
                .collect();
            if kind == "preempted" && role.preemptions.is_none() {
                continue;
            }
            let mut points = vec![(0.0, 0.0)];
            for (k, &t) in times.iter().enumerate() {
                points.push((t, k as f64));
                points.push((t, (k + 1) as f64));
            }
            let last = times.last().copied().unwrap_or(0.0);
            points.push((end_s.max(last), times.len() as f64));
            series.push(Series {
                name: format!("{} {label}", role.role),
                points,
                dashed: kind == "preempted",
            });
        }
    }
    Chart::Line(LineChart {
        title: "Failures and spot reclaims".into(),
        x_label: "simulated time (s)".into(),
        y_label: "instances so far".into(),
        series,
        h_guides: vec![],
        v_guides: vec![],
        markers: vec![],
        dots: false,
        legend: LegendPos::UpperLeft,
    })
}

fn float_col(t: &tables::Table, name: &str) -> Vec<f64> {
    match t.col(name) {
        Some(tables::Col::Float(v, _)) => v.iter().map(|x| x.unwrap_or(0.0)).collect(),
        _ => Vec::new(),
    }
}

/// How one row of the key-numbers table reads a system.
type Cell = Box<dyn Fn(&SystemSummary) -> String>;

fn key_numbers(s: &Summary) -> String {
    let mut cols: Vec<(String, &SystemSummary)> =
        vec![(format!("{} ({})", s.mode, s.deployment()), &s.system)];
    if let Some(b) = &s.baseline_aggregated {
        cols.push((baseline_label(&b.aggregated), &b.system));
    }
    let mut header = vec!["metric".to_string()];
    header.extend(cols.iter().map(|c| c.0.clone()));
    let rows_spec: Vec<(String, Cell)> = vec![
        (
            "GPUs".into(),
            Box::new(|x: &SystemSummary| x.gpus.to_string()),
        ),
        (
            "TTFT p50 / p90 / p99 (ms)".into(),
            Box::new(|x: &SystemSummary| {
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    x.ttft_ms.p50, x.ttft_ms.p90, x.ttft_ms.p99
                )
            }),
        ),
        (
            "TPOT p50 / p90 / p99 (ms)".into(),
            Box::new(|x: &SystemSummary| {
                format!(
                    "{:.2} / {:.2} / {:.2}",
                    x.tpot_ms.p50, x.tpot_ms.p90, x.tpot_ms.p99
                )
            }),
        ),
        (
            "E2E p50 / p90 / p99 (ms)".into(),
            Box::new(|x: &SystemSummary| {
                format!(
                    "{:.0} / {:.0} / {:.0}",
                    x.e2e_ms.p50, x.e2e_ms.p90, x.e2e_ms.p99
                )
            }),
        ),
        (
            "KV transfer p50 / p99 (ms)".into(),
            Box::new(|x: &SystemSummary| {
                if x.kv_transfer_ms.count == 0 {
                    "-".into()
                } else {
                    format!("{:.2} / {:.2}", x.kv_transfer_ms.p50, x.kv_transfer_ms.p99)
                }
            }),
        ),
        (
            "throughput (requests/s)".into(),
            Box::new(|x: &SystemSummary| format!("{:.3}", x.throughput.requests_per_s)),
        ),
        (
            "output tokens/s (per GPU)".into(),
            Box::new(|x: &SystemSummary| {
                format!(
                    "{:.0} ({:.0})",
                    x.throughput.output_tokens_per_s, x.throughput.output_tokens_per_s_per_gpu
                )
            }),
        ),
        (
            "goodput (requests/s)".into(),
            Box::new(|x: &SystemSummary| format!("{:.3}", x.slo.goodput_requests_per_s)),
        ),
        (
            "SLO attainment".into(),
            Box::new(|x: &SystemSummary| format!("{:.1}%", x.slo.attainment * 100.0)),
        ),
        (
            format!("SLOs met at p{}", s.system.slo.percentile),
            Box::new(|x: &SystemSummary| (if x.slo.met { "yes" } else { "no" }).to_string()),
        ),
        (
            "completed / rejected / unfinished".into(),
            Box::new(|x: &SystemSummary| {
                format!(
                    "{} / {} / {}",
                    x.requests.completed, x.requests.rejected, x.requests.unfinished
                )
            }),
        ),
        (
            "preemptions".into(),
            Box::new(|x: &SystemSummary| x.preemptions.to_string()),
        ),
        (
            "makespan (s)".into(),
            Box::new(|x: &SystemSummary| format!("{:.2}", x.makespan_s)),
        ),
        (
            "GPU-hours".into(),
            Box::new(|x: &SystemSummary| format!("{:.4}", x.gpu_hours)),
        ),
        (
            "cost (USD)".into(),
            Box::new(|x: &SystemSummary| x.cost_usd.map_or("-".into(), |c| format!("{c:.2}"))),
        ),
    ];
    let rows: Vec<Vec<String>> = rows_spec
        .iter()
        .map(|(label, f)| {
            let mut r = vec![label.clone()];
            r.extend(cols.iter().map(|c| f(c.1)));
            r
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    html::table(&header, &rows)
}

/// Build the tables, charts and page of the run in `inp`; `dir` is where they go.
pub fn write(
    dir: &Path,
    inp: &RunInputs,
    opts: ReportOptions,
) -> Result<Vec<PathBuf>, ReportError> {
    // `read` refused a window that rounds to 0 µs.
    let window_s = window_of(&inp.timeseries).unwrap_or(1.0);
    let windows = tables::windows(&inp.requests, window_s)?;
    let instances = tables::instances(&inp.requests)?;
    let mut written = Vec::new();
    for (name, t) in [("windows", &windows), ("instances", &instances)] {
        let p = dir.join(format!("{name}.csv"));
        t.write_csv(&p)?;
        written.push(p);
        if opts.parquet {
            let p = dir.join(format!("{name}.parquet"));
            t.write_parquet(&p)?;
            written.push(p);
        }
    }
    let figs = figures(inp, &windows, window_s)?;
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).map_err(|source| ReportError::Io {
        path: charts.clone(),
        source,
    })?;
    let mut body = String::new();
    for f in &figs {
        let svg = f.chart.write(&charts, &f.name, opts.png)?;
        body.push_str(&html::figure(&svg, &f.caption));
        body.push('\n');
    }
    let s = &inp.summary;
    let slo = &s.system.slo;
    let scenario = html::key_values(&[
        ("scenario".into(), s.scenario.clone()),
        ("seed".into(), s.seed.to_string()),
        ("model".into(), s.model.clone()),
        ("GPU".into(), s.gpu.clone()),
        ("backend".into(), s.backend.clone()),
        ("mode".into(), s.mode.clone()),
        ("deployment".into(), s.deployment()),
        ("workload".into(), s.workload.clone()),
        (
            "SLOs".into(),
            format!(
                "TTFT ≤ {} ms and TPOT ≤ {} ms at p{}",
                slo.ttft_ms, slo.tpot_ms, slo.percentile
            ),
        ),
        ("step costs".into(), s.cost_source.clone()),
        (
            "requests arrived".into(),
            s.system.requests.arrived.to_string(),
        ),
    ]);
    let mut numbers = format!(
        "<p>SLOs met at p{}: {}</p>\n",
        slo.percentile,
        html::verdict(slo.met)
    );
    numbers.push_str(&key_numbers(s));
    let tables_note = html::para(&format!(
        "Tables beside this page: windows.csv (per {window_s} s window of arrival: arrivals, completions, TTFT/TPOT/E2E p50/p90/p99, SLO-met fraction) and instances.csv (per instance: requests and latency percentiles)."
    ));
    let sections = [
        Section::new("scenario", "Scenario and deployment", scenario),
        Section::new("numbers", "Key numbers", numbers),
        Section::new("charts", "Charts", format!("{tables_note}\n{body}")),
        Section::new(
            "assumptions",
            "Assumptions and their sources",
            html::assumptions(inp.assumptions.as_ref(), &s.cost_source),
        ),
    ];
    let page = html::page(
        &format!("xpyd run report: {}", s.scenario),
        &format!(
            "{} on {} x {} ({}, {}), seed {}",
            s.model, s.system.gpus, s.gpu, s.backend, s.mode, s.seed
        ),
        &sections,
    );
    let p = dir.join("report.html");
    crate::atomic::write_file(&p, page.as_bytes())?;
    written.push(p);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_points_span_the_data() {
        let v: Vec<OptF64> = (1..=1000)
            .map(|i| Some(i as f64))
            .chain([None])
            .map(OptF64::from)
            .collect();
        let p = cdf_points(&v);
        assert_eq!(p.len(), CDF_LEVELS + 1);
        assert_eq!(p[0], (1.0, 0.0));
        assert_eq!(p[CDF_LEVELS], (1000.0, 1.0));
        assert!(p.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn reduce_caps_points_and_keeps_means() {
        let x: Vec<f64> = (0..5000).map(f64::from).collect();
        let r = reduce(&x, &x);
        assert_eq!(r.len(), MAX_POINTS);
        assert_eq!(r[0], (2.0, 2.0));
        let small = reduce(&[1.0, 2.0], &[3.0, 4.0]);
        assert_eq!(small, vec![(1.0, 3.0), (2.0, 4.0)]);
    }
}
