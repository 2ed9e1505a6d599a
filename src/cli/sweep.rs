//! `xpyd sweep`: one scenario at several offered rates, in parallel, into `sweep.csv`,
//! `sweep.json`, latency-throughput curves and `report.html`.
//!
//! The sweep itself is `xpyd_sim::sweep` (the same at any `--jobs`); its files are
//! `xpyd_reports::sweep`.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use xpyd_reports::run_report::ReportOptions;
use xpyd_reports::staging::Staging;
use xpyd_reports::sweep::{self as sweep_files, SweepMeta};
use xpyd_sim::scenario::RouterKind;
use xpyd_sim::sweep;

use super::interrupt::{self, Pending};
use super::run::{self, RunArgs};

#[derive(Debug, Args)]
pub(crate) struct SweepArgs {
    /// Scenario file (TOML). Without one, the built-in default scenario is swept.
    scenario: Option<PathBuf>,
    /// Offered loads, requests/s: a comma-separated list of rates and `START:STOP:STEP`
    /// ranges (STOP included), e.g. `2,4,8` or `2:16:2`.
    #[arg(
        long,
        value_name = "R[,R...]|START:STOP:STEP",
        allow_hyphen_values = true
    )]
    rates: String,
    /// Output folder [default: xpyd-sweep].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Master seed of every random stream (overrides `seed`).
    #[arg(long, value_parser = super::seed)]
    seed: Option<u64>,
    /// Requests simulated at each rate.
    #[arg(long, value_name = "N", value_parser = super::requests)]
    requests: Option<u64>,
    /// Set any scenario field: a dotted TOML path and a TOML value (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Router of every role.
    #[arg(long, value_name = "NAME", value_parser = run::parse_router)]
    router: Option<RouterKind>,
    /// Calibration profile for step costs (overrides `hardware.profile`).
    #[arg(long, value_name = "FILE", conflicts_with = "roofline")]
    profile: Option<PathBuf>,
    /// Step costs from the roofline only, ignoring calibration profiles.
    #[arg(long)]
    roofline: bool,
    /// Worker threads [default: one per core]. The sweep is the same at any value.
    #[arg(long, value_name = "N", value_parser = super::jobs)]
    jobs: Option<usize>,
    /// Skip the charts and report.html.
    #[arg(long)]
    no_report: bool,
    /// Also write each chart as PNG.
    #[arg(long)]
    png: bool,
}

pub(crate) fn run(args: SweepArgs) -> Result<()> {
    let rates = sweep::parse_rates(&args.rates).map_err(anyhow::Error::msg)?;
    let run_args = RunArgs::for_sweep(
        args.scenario.clone(),
        args.seed,
        args.requests,
        args.set.clone(),
        args.router,
        args.profile.clone(),
        args.roofline,
    );
    let sc = run::settings(&run_args)?;
    let scenarios = sweep::scenarios_at(&sc, &rates)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("xpyd-sweep"));
    // Written into a staging folder, put in place whole once complete.
    let staging = Staging::begin(&out)?;
    let _cleanup = interrupt::remove_on_signal(Pending::Dir(staging.path().to_path_buf()));
    let bar = super::progress_bar(
        rates.len() as u64,
        "{spinner} sweeping [{bar:30}] {pos}/{len} rates, {elapsed_precise} (eta {eta})",
    );
    let points = sweep::run_sweep(&scenarios, &rates, args.jobs.unwrap_or(0), &|| bar.inc(1));
    bar.finish_and_clear();
    let points = points?;
    let meta = SweepMeta::of(&sc, &rates);
    let report = (!args.no_report).then_some(ReportOptions {
        png: args.png,
        parquet: false,
    });
    let written = sweep_files::write(staging.path(), &sc, &meta, &points, report)?;
    interrupt::locked(|| staging.commit())?;
    print!("{}", sweep_files::summary_text(&meta, &points));
    println!("\nwrote {}/{}", out.display(), written.join(", "));
    Ok(())
}
