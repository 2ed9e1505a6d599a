//! `xpyd workload`: scenario `[workload]` sections from production telemetry
//! (`from-prometheus`) and request logs (`from-log`).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use xpyd_reports::atomic::write_file;
use xpyd_reports::telemetry::prometheus::{self, DEFAULT_MAX_POINTS, PromOptions};
use xpyd_reports::telemetry::request_log::{LogOptions, RequestLog};
use xpyd_reports::telemetry::{Inferred, TelemetryError};

#[derive(Debug, Args)]
pub(crate) struct WorkloadArgs {
    #[command(subcommand)]
    cmd: WorkloadCmd,
}

#[derive(Debug, Subcommand)]
enum WorkloadCmd {
    /// Infer a [workload] section from vLLM/SGLang metrics: a Prometheus range-query JSON
    /// export (one response, an array of them, or several one after another) or
    /// OpenMetrics / Prometheus text with timestamps. Arrival rate over time becomes a
    /// rate schedule, token histograms histogram lengths, the prefix-cache hit rate a
    /// shared prompt.
    FromPrometheus(FromPrometheusArgs),
    /// Turn a request log (JSONL or CSV with a timestamp and prompt/completion token
    /// counts per request, as gateways and OpenAI-compatible servers write them) into a
    /// Mooncake-format trace and the [workload] section that replays it.
    FromLog(FromLogArgs),
}

#[derive(Debug, Args)]
struct FromPrometheusArgs {
    /// The export (JSON or text).
    file: PathBuf,
    /// Write the section to this file (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Most points of the rate schedule (the step widens to fit).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_POINTS, value_parser = max_points)]
    max_points: usize,
    /// Step of the rate schedule, seconds [default: the export's sample spacing].
    #[arg(long, value_name = "S", value_parser = step_s)]
    step_s: Option<f64>,
}

#[derive(Debug, Args)]
struct FromLogArgs {
    /// The request log (JSONL or CSV).
    file: PathBuf,
    /// Write the section to this file (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Where to write the trace [default: next to --out as <stem>.trace.jsonl, else
    /// <log stem>.trace.jsonl in the current folder].
    #[arg(long, value_name = "FILE")]
    trace_out: Option<PathBuf>,
    /// Field (JSONL, dotted for nested objects) or column (CSV) of the request time.
    #[arg(long, value_name = "NAME")]
    timestamp_field: Option<String>,
    /// Field or column of the prompt tokens.
    #[arg(long, value_name = "NAME")]
    input_field: Option<String>,
    /// Field or column of the completion tokens.
    #[arg(long, value_name = "NAME")]
    output_field: Option<String>,
    /// Skip records that lack a field or hold a malformed value (counted), instead of
    /// stopping at the first.
    #[arg(long)]
    skip_invalid: bool,
}

/// `--max-points`: in [1, 100000] (the schedule's limit).
fn max_points(s: &str) -> Result<usize, String> {
    super::u64_in(s, 1, xpyd_sim::limits::MAX_SCHEDULE_POINTS as u64).map(|n| n as usize)
}

/// `--step-s`: seconds in [0.001, 86400].
fn step_s(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (0.001..=86_400.0).contains(&x) => Ok(x),
        _ => Err("must be seconds in [0.001, 86400]".to_owned()),
    }
}

/// The input, canonicalised (the error names it as given).
fn input(file: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(file)
        .map_err(|source| TelemetryError::Io {
            path: file.to_path_buf(),
            source,
        })
        .with_context(|| format!("cannot read {}", file.display()))
}

/// The file name for the `# Inferred by` line (not the absolute path: the section does
/// not depend on where the file lies).
fn shown(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Writes the section to `out` (atomically, notes on stdout) or to stdout.
fn emit(inferred: &Inferred, command: &str, out: Option<&Path>) -> Result<()> {
    let text = inferred.to_toml(command);
    match out {
        Some(o) => {
            write_file(o, text.as_bytes())?;
            for n in &inferred.notes {
                println!("{n}");
            }
            println!("wrote {}", o.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

pub(crate) fn run(args: WorkloadArgs) -> Result<()> {
    match args.cmd {
        WorkloadCmd::FromPrometheus(a) => {
            let file = input(&a.file)?;
            let inferred = prometheus::infer(
                &file,
                &PromOptions {
                    max_points: a.max_points,
                    step_s: a.step_s,
                },
            )?;
            let cmd = format!("xpyd workload from-prometheus {}", shown(&file));
            emit(&inferred, &cmd, a.out.as_deref())
        }
        WorkloadCmd::FromLog(a) => {
            let file = input(&a.file)?;
            let log = RequestLog::read(
                &file,
                &LogOptions {
                    timestamp_field: a.timestamp_field,
                    input_field: a.input_field,
                    output_field: a.output_field,
                    skip_invalid: a.skip_invalid,
                },
            )?;
            let stem = |p: &Path| {
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "log".to_owned())
            };
            let trace = match (&a.trace_out, &a.out) {
                (Some(t), _) => t.clone(),
                (None, Some(o)) => o.with_file_name(format!("{}.trace.jsonl", stem(o))),
                (None, None) => PathBuf::from(format!("{}.trace.jsonl", stem(&file))),
            };
            write_file(&trace, log.trace_jsonl().as_bytes())?;
            let trace_abs = std::fs::canonicalize(&trace)
                .with_context(|| format!("cannot read back {}", trace.display()))?;
            // Relative to the section's folder when they share it, else absolute.
            let out_dir = a.out.as_deref().and_then(|o| {
                std::fs::canonicalize(
                    o.parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(Path::new(".")),
                )
                .ok()
            });
            let trace_ref = match (&out_dir, trace_abs.parent()) {
                (Some(d), Some(p)) if d == p => shown(&trace_abs),
                _ => trace_abs.display().to_string(),
            };
            let inferred = log.inferred(&trace_ref);
            let base = out_dir.unwrap_or_else(|| PathBuf::from("/"));
            xpyd_sim::workload::Workload::from_file(inferred.workload.clone(), &base)
                .context("the written trace does not load back")?;
            let cmd = format!("xpyd workload from-log {}", shown(&file));
            emit(&inferred, &cmd, a.out.as_deref())?;
            if a.out.is_some() {
                println!("wrote {}", trace.display());
            } else {
                eprintln!("wrote {}", trace.display());
            }
            Ok(())
        }
    }
}
