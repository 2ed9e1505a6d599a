//! `xpyd run`: simulate a scenario and its aggregated baseline, write the outputs and
//! print the human summary.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use xpyd_models::StepShape;
use xpyd_reports::assumptions::Assumptions;
use xpyd_reports::atomic::write_file;
use xpyd_reports::csv_out::{RequestsCsv, TimeseriesCsv};
use xpyd_reports::run_report::{self, ReportOptions, RunInputs};
use xpyd_reports::summary::Summary;
use xpyd_sim::scenario::{self, Overrides, ProfileOverride, RouterKind, Scenario, Topology};
use xpyd_sim::{System, run_streamed as simulate};

#[derive(Debug, Default, Args)]
pub(crate) struct RunArgs {
    /// Scenario file (TOML). Without one, the built-in default scenario runs.
    scenario: Option<PathBuf>,
    /// Output folder [default: xpyd-out].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Master seed of every random stream (overrides `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Mean offered rate, requests/s: open-loop arrivals get this rate, a rate schedule is
    /// scaled to this mean (its shape kept, as `xpyd sweep` does), a trace is replayed at it.
    #[arg(long, value_name = "RPS", allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Requests to simulate (a trace replay stops after this many).
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// Fixed prompt length, tokens.
    #[arg(long, value_name = "N")]
    input_tokens: Option<u32>,
    /// Fixed output length, tokens.
    #[arg(long, value_name = "N")]
    output_tokens: Option<u32>,
    /// Set any scenario field: a dotted TOML path and a TOML value, e.g.
    /// `--set deployment.decode.replicas=2`. Repeatable; applied before the flags above.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Router of every role (and of the baseline): round-robin, random,
    /// least-outstanding, power-of-two, kv-aware, cache-aware, gaie, session-affinity.
    #[arg(long, value_name = "NAME", value_parser = parse_router)]
    router: Option<RouterKind>,
    /// Calibration profile for step costs (overrides `hardware.profile`).
    #[arg(long, value_name = "FILE", conflicts_with = "roofline")]
    profile: Option<PathBuf>,
    /// Step costs from the roofline only, ignoring calibration profiles.
    #[arg(long)]
    roofline: bool,
    /// Skip the aggregated baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Skip the aggregate tables, charts and report.html.
    #[arg(long)]
    no_report: bool,
    /// Also write each chart as PNG.
    #[arg(long)]
    png: bool,
    /// Also write the aggregate tables (windows, instances) as Parquet.
    #[arg(long)]
    parquet: bool,
}

impl RunArgs {
    /// The scenario flags `xpyd sweep` shares with `xpyd run`.
    pub(crate) fn for_sweep(
        scenario: Option<PathBuf>,
        seed: Option<u64>,
        requests: Option<u64>,
        set: Vec<String>,
        router: Option<RouterKind>,
        profile: Option<PathBuf>,
        roofline: bool,
    ) -> RunArgs {
        RunArgs {
            scenario,
            seed,
            requests,
            set,
            router,
            profile,
            roofline,
            ..RunArgs::default()
        }
    }
}

/// `--router NAME`: a router as named in scenario files.
pub(crate) fn parse_router(name: &str) -> Result<RouterKind, String> {
    RouterKind::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = RouterKind::ALL.iter().map(|r| r.name()).collect();
        format!(
            "unknown router `{name}`; expected one of {}",
            names.join(", ")
        )
    })
}

/// The scenario flags as [`Overrides`] (applied by the library, `--set` first).
fn overrides(args: &RunArgs) -> Overrides {
    Overrides {
        sets: args.set.clone(),
        seed: args.seed,
        rate_rps: args.rate,
        requests: args.requests,
        router: args.router,
        backend: None,
        profile: match (&args.profile, args.roofline) {
            (Some(p), _) => Some(ProfileOverride::File(p.clone())),
            (None, true) => Some(ProfileOverride::Roofline),
            (None, false) => None,
        },
        input_tokens: args.input_tokens,
        output_tokens: args.output_tokens,
    }
}

/// Load the scenario (the built-in default without a path) with every flag applied.
pub(crate) fn settings(args: &RunArgs) -> Result<Scenario> {
    Ok(Scenario::load_with(
        args.scenario.as_deref(),
        &overrides(args),
    )?)
}

/// Where the scenario's step costs come from, as reports name it: `roofline`, or
/// `calibrated (PROFILE)`.
pub(crate) fn cost_source(sc: &Scenario) -> String {
    let tp = match &sc.topology {
        Topology::Disaggregated { decode, .. } => decode.tp,
        Topology::Aggregated(r) => r.tp,
    };
    let cm = sc.cost_model(tp);
    let shape = StepShape {
        decode_seqs: 1,
        decode_context_tokens: 1024,
        ..StepShape::default()
    };
    match (cm.step(&shape).source, cm.profile_origin()) {
        (xpyd_models::CostSource::Calibrated, Some(origin)) => format!("calibrated ({origin})"),
        (xpyd_models::CostSource::Calibrated, None) => "calibrated".to_string(),
        (xpyd_models::CostSource::Roofline, _) => "roofline".to_string(),
    }
}

pub(crate) fn run(args: RunArgs) -> Result<()> {
    let sc = settings(&args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("xpyd-out"));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("{}: cannot create output folder", out.display()))?;

    let mut requests = RequestsCsv::create(&out.join("requests.csv"))?;
    let series_path = out.join("timeseries.csv");
    let mut series = TimeseriesCsv::create(&series_path, scenario::mode_name(&sc.topology))?;
    let with_baseline = sc.baseline.is_some() && !args.no_baseline;
    let mut base_requests = if with_baseline {
        Some((
            RequestsCsv::create(&out.join("requests-baseline.csv"))?,
            TimeseriesCsv::part(&series_path, "aggregated-baseline")?,
        ))
    } else {
        None
    };
    let bar = super::progress_bar(
        sc.workload.requests().unwrap_or(0),
        "{spinner} simulating [{bar:30}] {pos}/{len} requests, {elapsed_precise} (eta {eta})",
    );
    // The baseline is independent of the main run: simulate both at once.
    let sc_ref = &sc;
    let (main, baseline) = std::thread::scope(|s| {
        let base = base_requests.as_mut().map(|(csv, windows)| {
            s.spawn(move || {
                simulate(sc_ref, System::Baseline, &mut |r| csv.push(r), &mut |w| {
                    windows.push(w)
                })
            })
        });
        let main = simulate(
            &sc,
            System::Main,
            &mut |r| {
                requests.push(r);
                bar.inc(1);
            },
            &mut |w| series.push(w),
        );
        let baseline = base.map(|h| h.join().expect("baseline simulation thread panicked"));
        (main, baseline)
    });
    bar.finish_and_clear();
    let main = main?;
    let baseline = baseline.transpose()?;
    requests.finish()?;
    let mut parts = Vec::new();
    if let Some((b, windows)) = base_requests {
        b.finish()?;
        parts.push(windows);
    }
    series.finish(parts)?;
    let summary = Summary::new(&sc, &main, baseline.as_ref(), &cost_source(&sc));
    write_file(&out.join("summary.json"), summary.to_json().as_bytes())?;
    write_file(
        &out.join("assumptions.json"),
        Assumptions::of(&sc).to_json().as_bytes(),
    )?;
    let mut written = vec!["summary.json", "requests.csv", "timeseries.csv"];
    if with_baseline {
        written.push("requests-baseline.csv");
    }
    written.push("assumptions.json");
    if !args.no_report {
        // The report reads back what was just written, exactly as `xpyd report DIR` does.
        let inp = RunInputs::read(&out)?;
        let opts = ReportOptions {
            png: args.png,
            parquet: args.parquet,
        };
        run_report::write(&out, &inp, opts)?;
        written.extend(["windows.csv", "instances.csv", "charts/", "report.html"]);
    }
    let text = summary.to_text();
    print!("{text}");
    println!("\nwrote {}/{}", out.display(), written.join(", "));
    Ok(())
}
