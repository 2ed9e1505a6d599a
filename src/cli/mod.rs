//! Command-line interface: clap structs and the glue that turns flags into settings.
//!
//! Exit codes: 0 success, 2 bad input (scenario, trace, flags) or failed output, with the
//! error printed as `error: {:#}` on stderr. Printing is this module's job (the
//! libraries never print), hence the `print_stdout` allowance.
#![allow(clippy::print_stdout)]

mod bench;
mod calibrate;
mod cost;
mod interrupt;
mod manifest;
mod plan;
mod report;
mod run;
mod sweep;
mod validate;
mod workload;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Discrete-event simulator and capacity planner for prefill/decode-disaggregated LLM
/// serving (vLLM, SGLang, NVIDIA Dynamo).
#[derive(Debug, Parser)]
#[command(name = "xpyd", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Simulate a scenario (the built-in default without one) and write summary.json,
    /// requests.csv, timeseries.csv, charts and report.html.
    Run(run::RunArgs),
    /// Run a scenario at several offered rates in parallel and write sweep.csv,
    /// latency-throughput curves and report.html.
    Sweep(sweep::SweepArgs),
    /// Rebuild the tables, charts and report.html of a run, sweep or plan folder.
    Report(report::ReportArgs),
    /// Predict the time of one engine step and its breakdown.
    Cost(cost::CostArgs),
    /// Write Kubernetes manifests (RoleBasedGroup, InferencePool, HPA/KEDA) for a
    /// scenario's deployment to DIR/manifests/.
    Manifest(manifest::ManifestArgs),
    /// Search deployments for the highest SLO-meeting rate per GPU, size the best for a
    /// target rate and write plan.csv, pareto.csv, recommendation.json and
    /// recommended.toml.
    Plan(Box<plan::PlanArgs>),
    /// Compare measured step times (`--steps` CSV) with the cost model, or replay
    /// measured serving runs (`--serving`: AIConfigurator silicon CSV, vllm bench,
    /// AIPerf, inference-perf) and compare TTFT/TPOT: per row, then grouped errors.
    Validate(validate::ValidateArgs),
    /// Time the built-in reference workloads (wall time, requests/s, events/s, peak
    /// RSS), each in its own process.
    Bench(bench::BenchArgs),
    /// Import calibration profiles from other sources (NVIDIA AIConfigurator's perf
    /// database).
    Calibrate(calibrate::CalibrateArgs),
    /// Write a scenario [workload] section from production telemetry: vLLM/SGLang
    /// Prometheus metrics (from-prometheus) or request logs (from-log).
    Workload(workload::WorkloadArgs),
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress_bar(len: u64, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(len)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// The command line: every flag that takes a value accepts one that looks like a
/// negative number, so that its own parser refuses it with the flag's range (clap would
/// otherwise take `-5` for an unknown flag).
fn command() -> clap::Command {
    fn negatives(c: clap::Command) -> clap::Command {
        c.mut_args(|a| {
            if a.get_action().takes_values() && !a.is_positional() {
                a.allow_negative_numbers(true)
            } else {
                a
            }
        })
        .mut_subcommands(negatives)
    }
    negatives(<Cli as clap::CommandFactory>::command())
}

/// A rate flag's value: requests/s in `[MIN_RATE_RPS, MAX_RATE_RPS]`.
pub(crate) fn rate_rps(s: &str) -> Result<f64, String> {
    use xpyd_sim::limits::{MAX_RATE_RPS, MIN_RATE_RPS};
    let r: f64 = s.trim().parse().map_err(|_| {
        format!("not a number; expected requests/s in [{MIN_RATE_RPS}, {MAX_RATE_RPS}]")
    })?;
    if !(r.is_finite() && (MIN_RATE_RPS..=MAX_RATE_RPS).contains(&r)) {
        return Err(format!(
            "must be in [{MIN_RATE_RPS}, {MAX_RATE_RPS}] requests/s"
        ));
    }
    Ok(r)
}

/// An integer flag's value in `[lo, hi]`; negative numbers and overflows get the range
/// too (clap's `u64` parser says only "invalid digit").
fn u64_in(s: &str, lo: u64, hi: u64) -> Result<u64, String> {
    match s.trim().parse::<i128>() {
        Ok(n) if n >= i128::from(lo) && n <= i128::from(hi) => Ok(n as u64),
        _ => Err(format!("must be an integer in [{lo}, {hi}]")),
    }
}

/// A `--requests` value: in `[1, MAX_REQUESTS]`.
pub(crate) fn requests(s: &str) -> Result<u64, String> {
    u64_in(s, 1, xpyd_sim::limits::MAX_REQUESTS)
}

/// An integer flag's value in `[lo, hi]`, as `u32`.
fn u32_in(s: &str, lo: u32, hi: u32) -> Result<u32, String> {
    // In range, so it fits u32.
    u64_in(s, u64::from(lo), u64::from(hi)).map(|n| n as u32)
}

/// A token-count flag's value: in `[1, MAX_TOKENS]`.
pub(crate) fn tokens(s: &str) -> Result<u32, String> {
    u32_in(s, 1, xpyd_sim::limits::MAX_TOKENS)
}

/// A `--gpus-max` value: in `[1, MAX_GPUS_MAX]`.
pub(crate) fn gpus_max(s: &str) -> Result<u32, String> {
    u32_in(s, 1, xpyd_sim::planner::MAX_GPUS_MAX)
}

/// A TP degree flag's value: in `[1, MAX_TP]`.
pub(crate) fn tp(s: &str) -> Result<u32, String> {
    u32_in(s, 1, xpyd_sim::limits::MAX_TP)
}

/// A `--max-num-seqs` value: in `[1, MAX_NUM_SEQS]`.
pub(crate) fn max_num_seqs(s: &str) -> Result<u32, String> {
    u32_in(s, 1, xpyd_sim::limits::MAX_NUM_SEQS)
}

/// A `--folds` value: in `[1, 20]` (1: no check).
pub(crate) fn folds(s: &str) -> Result<u16, String> {
    u32_in(s, 1, 20).map(|n| n as u16)
}

/// A `--rounds` value: in `[1, 50]`.
pub(crate) fn rounds(s: &str) -> Result<u16, String> {
    u32_in(s, 1, 50).map(|n| n as u16)
}

/// A `--seed` value: a TOML (signed 64-bit) integer >= 0.
pub(crate) fn seed(s: &str) -> Result<u64, String> {
    u64_in(s, 0, i64::MAX as u64)
}

/// A `--jobs` value: worker threads in `[0, MAX_JOBS]` (0: one per core).
pub(crate) fn jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n <= MAX_JOBS => Ok(n),
        _ => Err(format!(
            "must be an integer in [0, {MAX_JOBS}] (0: one per core)"
        )),
    }
}

/// Most worker threads a `--jobs` flag takes.
const MAX_JOBS: usize = 4096;

pub(crate) fn main() -> ExitCode {
    let parsed = command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    interrupt::install();
    let result = match cli.cmd {
        None => run::run(run::RunArgs::default()),
        Some(Cmd::Run(args)) => run::run(args),
        Some(Cmd::Sweep(args)) => sweep::run(args),
        Some(Cmd::Report(args)) => report::run(args),
        Some(Cmd::Cost(args)) => cost::run(args),
        Some(Cmd::Manifest(args)) => manifest::run(args),
        Some(Cmd::Plan(args)) => plan::run(*args),
        Some(Cmd::Validate(args)) => validate::run(args),
        // The regression gate exits 1 when it flags a workload.
        Some(Cmd::Bench(args)) => match bench::run(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Some(Cmd::Calibrate(args)) => calibrate::run(args),
        Some(Cmd::Workload(args)) => workload::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
