//! Everything `xpyd run` writes: the scenario and its aggregated baseline simulated at
//! once, each streaming its requests into `requests.csv` (`requests-baseline.csv`) and
//! its windows into `timeseries.csv` as they end; then `summary.json`,
//! `assumptions.json` and, with a report, the aggregate tables, charts and
//! `report.html` (read back from the files just written, exactly as `xpyd report DIR`),
//! and with `--openmetrics` the main run's time series as the engine's metrics
//! ([`crate::openmetrics`]).
//!
//! Invariant: the files are a pure function of the scenario and the options; the two
//! simulations are independent, so running them on two threads changes nothing.

use crate::ReportError;
use crate::assumptions::Assumptions;
use crate::atomic::write_file;
use crate::csv_out::{RequestsCsv, TimeseriesCsv};
use crate::openmetrics::{OpenMetricsOptions, Recorder};
use crate::run_report::{self, ReportOptions, RunInputs};
use crate::summary::Summary;
use std::path::Path;
use xpyd_sim::interval::{Latencies, Residuals, replicate, run_intervals};
use xpyd_sim::metrics::{Outcome, RequestRecord};
use xpyd_sim::scenario::mode_name;
use xpyd_sim::{Scenario, System, run_streamed};

/// Intervals of the headline figures: seed replications and the engine model's error.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalOptions {
    /// Replications, the run itself included (1: no seed spread).
    pub replications: u32,
    /// The engine model's residual quantiles.
    pub residuals: Residuals,
    /// Worker threads of the replications (0: one per core); the result is the same at
    /// any count.
    pub jobs: usize,
}

impl Default for IntervalOptions {
    fn default() -> IntervalOptions {
        IntervalOptions {
            replications: xpyd_sim::interval::DEFAULT_REPLICATIONS,
            residuals: Residuals::builtin(),
            jobs: 0,
        }
    }
}

/// What [`write`](fn@write) simulates and writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunOptions {
    /// Simulate the aggregated baseline too (when the scenario has one).
    pub baseline: bool,
    /// Write the aggregate tables, charts and `report.html`, with these options.
    pub report: Option<ReportOptions>,
    /// Write the main run's time series in OpenMetrics text.
    pub openmetrics: Option<OpenMetricsOptions>,
    /// Intervals on the headline figures (`None`: `--intervals off`).
    pub intervals: Option<IntervalOptions>,
}

/// What a run wrote.
#[derive(Clone, Debug)]
pub struct RunFiles {
    /// `summary.json`'s content (its `to_text` is the human summary).
    pub summary: Summary,
    /// Names written, in order.
    pub written: Vec<&'static str>,
    /// The OpenMetrics file, when one was written outside the output folder.
    pub openmetrics: Option<std::path::PathBuf>,
}

/// Simulate `sc` (and its baseline) and write the outputs to `out` (created if needed);
/// `on_request` is called as each request of the main run ends (progress).
pub fn write(
    out: &Path,
    sc: &Scenario,
    opts: RunOptions,
    on_request: &mut dyn FnMut(),
) -> Result<RunFiles, ReportError> {
    crate::create_dir(out)?;
    let mut requests = RequestsCsv::create(&out.join("requests.csv"))?;
    let series_path = out.join("timeseries.csv");
    let mut series = TimeseriesCsv::create(&series_path, mode_name(&sc.topology))?;
    let with_baseline = sc.baseline.is_some() && opts.baseline;
    let mut base_requests = if with_baseline {
        Some((
            RequestsCsv::create(&out.join("requests-baseline.csv"))?,
            TimeseriesCsv::part(&series_path, "aggregated-baseline")?,
        ))
    } else {
        None
    };
    let mut recorder = opts.openmetrics.as_ref().map(|_| Recorder::new(sc));
    let (mut om_windows, mut om_requests) = match recorder.as_mut() {
        Some(r) => {
            let (w, q) = r.sinks();
            (Some(w), Some(q))
        }
        None => (None, None),
    };
    // The main run's completed measured requests, for the model error's effect on SLOs.
    let mut latencies: Vec<Latencies> = Vec::new();
    let keep_latencies = opts.intervals.is_some();
    let mut keep = |r: &RequestRecord| {
        if keep_latencies
            && !r.warmup
            && r.outcome == Outcome::Completed
            && let Some(t) = r.ttft_ms
        {
            latencies.push(Latencies {
                ttft_ms: t,
                tpot_ms: r.tpot_ms,
            });
        }
    };
    // The baseline and the replications are independent of the main run: simulate them
    // at once.
    let (main, baseline, reps) = std::thread::scope(|s| {
        let reps = opts.intervals.as_ref().map(|i| {
            let (n, jobs) = (i.replications, i.jobs);
            s.spawn(move || replicate(sc, n, jobs))
        });
        let base = base_requests.as_mut().map(|(csv, windows)| {
            s.spawn(move || {
                run_streamed(sc, System::Baseline, &mut |r| csv.push(r), &mut |w| {
                    windows.push(w)
                })
            })
        });
        let main = run_streamed(
            sc,
            System::Main,
            &mut |r| {
                requests.push(r);
                keep(r);
                if let Some(m) = om_requests.as_mut() {
                    m.push(r);
                }
                on_request();
            },
            &mut |w| {
                series.push(w);
                if let Some(m) = om_windows.as_mut() {
                    m.push(w);
                }
            },
        );
        let baseline = base.map(|h| h.join().expect("baseline simulation thread panicked"));
        let reps = reps.map(|h| h.join().expect("replication threads panicked"));
        (main, baseline, reps)
    });
    let main = main?;
    let baseline = baseline.transpose()?;
    let reps = reps.transpose()?;
    requests.finish()?;
    let mut parts = Vec::new();
    if let Some((b, windows)) = base_requests {
        b.finish()?;
        parts.push(windows);
    }
    series.finish(parts)?;
    let mut summary = Summary::new(sc, &main, baseline.as_ref());
    if let (Some(i), Some(reps)) = (&opts.intervals, reps) {
        summary.intervals = Some(run_intervals(
            sc,
            &main.metrics,
            &reps,
            i.residuals.group_of(sc),
            &latencies,
        ));
    }
    write_file(&out.join("summary.json"), summary.to_json().as_bytes())?;
    write_file(
        &out.join("assumptions.json"),
        Assumptions::of(sc).to_json().as_bytes(),
    )?;
    let mut written = vec!["summary.json", "requests.csv", "timeseries.csv"];
    if with_baseline {
        written.push("requests-baseline.csv");
    }
    written.push("assumptions.json");
    let mut om_file = None;
    if let (Some(m), Some(o)) = (recorder, &opts.openmetrics) {
        match &o.file {
            Some(f) => {
                m.write(f, o)?;
                om_file = Some(f.clone());
            }
            None => {
                m.write(&out.join("openmetrics.txt"), o)?;
                written.push("openmetrics.txt");
            }
        }
    }
    if let Some(ropts) = opts.report {
        // The report reads back what was just written, exactly as `xpyd report DIR` does.
        let inp = RunInputs::read(out)?;
        run_report::write(out, &inp, ropts)?;
        written.extend(["windows.csv", "instances.csv", "charts/", "report.html"]);
    }
    Ok(RunFiles {
        summary,
        written,
        openmetrics: om_file,
    })
}
