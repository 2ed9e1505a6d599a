//! `xpyd run`: simulate a scenario and its aggregated baseline, write the outputs and
//! print the human summary.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use xpyd_reports::openmetrics::{DEFAULT_INTERVAL_MS, DEFAULT_START_MS, OpenMetricsOptions};
use xpyd_reports::run_outputs::{self, IntervalOptions, RunOptions};
use xpyd_reports::run_report::ReportOptions;
use xpyd_reports::staging::Staging;
use xpyd_sim::interval::Residuals;
use xpyd_sim::scenario::{Overrides, ProfileOverride, RouterKind, Scenario};

use super::interrupt::{self, Pending};

#[derive(Debug, Default, Args)]
pub(crate) struct RunArgs {
    /// Scenario file (TOML). Without one, the built-in default scenario runs.
    scenario: Option<PathBuf>,
    /// Output folder [default: xpyd-out].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Master seed of every random stream (overrides `seed`).
    #[arg(long, value_parser = super::seed)]
    seed: Option<u64>,
    /// Mean offered rate, requests/s: open-loop arrivals get this rate, a rate schedule is
    /// scaled to this mean (its shape kept, as `xpyd sweep` does), a trace is replayed at it.
    #[arg(long, value_name = "RPS", value_parser = super::rate_rps)]
    rate: Option<f64>,
    /// Requests to simulate (a trace replay stops after this many).
    #[arg(long, value_name = "N", value_parser = super::requests)]
    requests: Option<u64>,
    /// Fixed prompt length, tokens.
    #[arg(long, value_name = "N", value_parser = super::tokens)]
    input_tokens: Option<u32>,
    /// Fixed output length, tokens.
    #[arg(long, value_name = "N", value_parser = super::tokens)]
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
    /// Also write the run's time series in OpenMetrics text, named and bucketed as the
    /// engine exposes them (vLLM's `vllm:*`, SGLang's `sglang:*` for backend sglang), for
    /// `promtool tsdb create-blocks-from openmetrics` [default FILE: DIR/openmetrics.txt].
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    openmetrics: Option<std::ffi::OsString>,
    /// Timestamp of simulated time 0 in the OpenMetrics file (RFC 3339)
    /// [default: 2025-01-01T00:00:00Z].
    #[arg(long, value_name = "TIME", value_parser = parse_start, requires = "openmetrics")]
    openmetrics_start: Option<u64>,
    /// Sampling interval of the OpenMetrics file, seconds (a multiple of 1 ms)
    /// [default: 5].
    #[arg(long, value_name = "S", value_parser = parse_interval, requires = "openmetrics")]
    openmetrics_interval_s: Option<u64>,
    /// 90% intervals on the headline figures (seed replications + the engine model's
    /// measured error): on or off [default: on].
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    intervals: Option<bool>,
    /// Seed replications of the intervals, the run itself included, 1 to 200
    /// [default: 4].
    #[arg(long, value_name = "N", value_parser = replications)]
    replications: Option<u32>,
    /// The engine model's residual quantiles (as `xpyd validate --serving
    /// --write-residuals FILE` writes them) [default: the shipped ones].
    #[arg(long, value_name = "FILE")]
    residuals: Option<PathBuf>,
    /// Worker threads of the replications, 0 (one per core) to 4096; the results are
    /// the same at any count [default: 0].
    #[arg(long, value_name = "N", value_parser = super::jobs)]
    jobs: Option<usize>,
}

/// `--intervals on|off`.
pub(crate) fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("expected on or off".to_owned()),
    }
}

/// `--replications N`: in `[1, MAX_REPLICATIONS]`.
pub(crate) fn replications(s: &str) -> Result<u32, String> {
    super::u32_in(s, 1, xpyd_sim::interval::MAX_REPLICATIONS)
}

/// `--openmetrics-start`: an RFC 3339 time, as ms since the epoch.
fn parse_start(s: &str) -> Result<u64, String> {
    xpyd_reports::openmetrics::parse_rfc3339_ms(s)
        .ok_or_else(|| "expected an RFC 3339 time after 1970, e.g. 2025-06-30T12:00:00Z".to_owned())
}

/// `--openmetrics-interval-s`: seconds in [0.001, 86400], whole ms, as ms.
fn parse_interval(s: &str) -> Result<u64, String> {
    let bad = || "must be seconds in [0.001, 86400], a whole number of ms".to_owned();
    let x: f64 = s.trim().parse().map_err(|_| bad())?;
    if !(x.is_finite() && (0.001..=86_400.0).contains(&x)) {
        return Err(bad());
    }
    let ms = x * 1e3;
    if (ms - ms.round()).abs() > 1e-6 {
        return Err(bad());
    }
    Ok(ms.round() as u64)
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

/// The intervals the flags ask for (`None`: `--intervals off`); errors on flags that
/// need intervals with `--intervals off`, and on a residual file that does not read.
fn interval_options(args: &RunArgs) -> Result<Option<IntervalOptions>> {
    if args.intervals == Some(false) {
        for (set, flag) in [
            (args.replications.is_some(), "--replications"),
            (args.residuals.is_some(), "--residuals"),
            (args.jobs.is_some(), "--jobs"),
        ] {
            if set {
                anyhow::bail!("{flag}: sets the intervals, which --intervals off turns off");
            }
        }
        return Ok(None);
    }
    let residuals = match &args.residuals {
        Some(p) => Residuals::read(p).context("--residuals")?,
        None => Residuals::builtin(),
    };
    Ok(Some(IntervalOptions {
        replications: args
            .replications
            .unwrap_or(xpyd_sim::interval::DEFAULT_REPLICATIONS),
        residuals,
        jobs: args.jobs.unwrap_or(0),
    }))
}

pub(crate) fn run(args: RunArgs) -> Result<()> {
    let sc = settings(&args)?;
    let intervals = interval_options(&args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("xpyd-out"));
    let bar = super::progress_bar(
        sc.workload.requests().unwrap_or(0),
        "{spinner} simulating [{bar:30}] {pos}/{len} requests, {elapsed_precise} (eta {eta})",
    );
    let opts = RunOptions {
        baseline: !args.no_baseline,
        report: (!args.no_report).then_some(ReportOptions {
            png: args.png,
            parquet: args.parquet,
        }),
        openmetrics: args.openmetrics.as_ref().map(|f| OpenMetricsOptions {
            file: (!f.is_empty()).then(|| PathBuf::from(f)),
            start_ms: args.openmetrics_start.unwrap_or(DEFAULT_START_MS),
            interval_ms: args.openmetrics_interval_s.unwrap_or(DEFAULT_INTERVAL_MS),
        }),
        intervals,
    };
    // Written into a staging folder, put in place whole once complete.
    let staging = Staging::begin(&out)?;
    let _cleanup = interrupt::remove_on_signal(Pending::Dir(staging.path().to_path_buf()));
    let files = run_outputs::write(staging.path(), &sc, opts, &mut || bar.inc(1));
    bar.finish_and_clear();
    let files = files?;
    interrupt::locked(|| staging.commit())?;
    print!("{}", files.summary.to_text());
    println!("\nwrote {}/{}", out.display(), files.written.join(", "));
    if let Some(f) = &files.openmetrics {
        println!("wrote {}", f.display());
    }
    Ok(())
}
