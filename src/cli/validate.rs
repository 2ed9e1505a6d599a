//! `xpyd validate --steps FILE.csv`: compare measured step times with the cost model.
//! The file format, the checks and the report are [`xpyd_calibrate::validate`]'s; this
//! module turns the flags into its options and prints the report (text or JSON).
//!
//! `xpyd validate --serving FILE... [--scenario FILE]`: replay measured serving runs
//! ([`xpyd_sim::serving`]) and print predicted vs measured TTFT/TPOT
//! ([`xpyd_reports::serving`]).

use crate::cli::cost::{DtypeArg, ProfileChoice, print_out};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use xpyd_calibrate::validate::{self, Options, Steps};
use xpyd_sim::serving::{self, ReplayOptions};

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Measured steps: CSV with columns model,gpu,tp,phase,batch,tokens,context,ms.
    #[arg(
        long,
        value_name = "FILE.csv",
        required_unless_present = "serving",
        conflicts_with = "serving"
    )]
    steps: Option<PathBuf>,
    /// Measured serving runs to replay: AIConfigurator silicon CSV, `vllm bench serve`
    /// result JSON, AIPerf/genai-perf profile export JSON, inference-perf
    /// summary_lifecycle_metrics.json (any mix).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    serving: Vec<PathBuf>,
    /// Scenario giving the deployment of serving runs whose file records none (all but
    /// the silicon CSV); the built-in default without one.
    #[arg(long, value_name = "FILE", requires = "serving")]
    scenario: Option<PathBuf>,
    /// Engine profiles (as `xpyd calibrate fit-engine --out` writes them) to replay with
    /// instead of the built-in ones: each run takes the profile of its engine, GPU and
    /// version.
    #[arg(long, value_name = "FILE", requires = "serving")]
    engine_profile: Option<PathBuf>,
    /// Calibration profile to use instead of each GPU's shipped one.
    #[arg(long, value_name = "FILE", conflicts_with = "roofline")]
    profile: Option<PathBuf>,
    /// Ignore calibration profiles: every term from the roofline.
    #[arg(long)]
    roofline: bool,
    /// Predict GPU time only (no per-step and per-sequence CPU overhead): for
    /// measurements of the forward pass alone, such as validation/forward_bench.py.
    #[arg(long)]
    gpu_only: bool,
    /// Weight format of the measured model.
    #[arg(long, value_enum, default_value_t = DtypeArg::Bf16)]
    weights: DtypeArg,
    /// KV-cache format of the measured model.
    #[arg(long, value_enum, default_value_t = DtypeArg::Bf16)]
    kv_cache: DtypeArg,
    /// Also write the engine model's residual quantiles (ln(predicted / measured) of
    /// mean TTFT, TPOT and E2E per engine x GPU x mode) to FILE, the file `xpyd run`'s
    /// intervals read (shipped as sim/data/engine-residuals.csv; `xpyd run --residuals`).
    #[arg(long, value_name = "FILE", requires = "serving")]
    write_residuals: Option<PathBuf>,
    /// Also write the scenario each replayed run was simulated with to DIR, one
    /// `<run id>.toml` per run (created if missing; files of the same names are
    /// replaced; skipped runs and runs whose deployment came from --scenario get none):
    /// `xpyd run DIR/<id>.toml` simulates that run alone, with its full output
    /// (per-request latencies, preemptions, time series).
    #[arg(long, value_name = "DIR", requires = "serving")]
    write_scenarios: Option<PathBuf>,
    /// Also check the decisions the replay implies: per group of runs sharing model,
    /// GPU, backend and lengths, whether the deployment with the highest predicted
    /// output tokens/s per GPU under the SLO is the measured best (top-1, within 5%,
    /// regret, Kendall tau). Needs --slo-ttft-ms and --slo-tpot-ms.
    #[arg(long, requires_all = ["serving", "slo_ttft_ms", "slo_tpot_ms"])]
    decisions: bool,
    /// TTFT objective of --decisions (mean TTFT), ms, in (0, 10000000].
    #[arg(long, value_name = "MS", value_parser = slo_ms, requires = "decisions")]
    slo_ttft_ms: Option<f64>,
    /// TPOT objective of --decisions (mean TPOT), ms, in (0, 10000000].
    #[arg(long, value_name = "MS", value_parser = slo_ms, requires = "decisions")]
    slo_tpot_ms: Option<f64>,
    /// With --decisions: pick only among runs that meet the SLO with at least this
    /// probability under the engine model's held-out error (5-fold residual pairs of
    /// TTFT and TPOT of the run's engine x GPU x mode group), as `xpyd plan
    /// --confidence` does; in [0, 1].
    #[arg(long, value_name = "P", value_parser = probability, requires = "decisions")]
    confidence: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// A probability: in `[0, 1]`.
fn probability(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err("must be a probability in [0, 1]".to_owned()),
    }
}

/// An SLO objective, ms: in `(0, MAX_MS]`.
fn slo_ms(s: &str) -> Result<f64, String> {
    let max = xpyd_sim::limits::MAX_MS;
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= max => Ok(x),
        _ => Err(format!("must be milliseconds in (0, {max}]")),
    }
}

pub(crate) fn run(args: ValidateArgs) -> Result<()> {
    let Some(steps_file) = args.steps else {
        return run_serving(
            &args.serving,
            args.scenario,
            args.engine_profile,
            args.write_residuals.as_deref(),
            args.write_scenarios.as_deref(),
            args.slo_ttft_ms
                .zip(args.slo_tpot_ms)
                .map(|(ttft, tpot)| (ttft, tpot, args.confidence)),
            args.json,
        );
    };
    let steps = Steps::read(&steps_file)?;
    let choice = ProfileChoice::from_flags(args.profile.as_deref(), args.roofline)?;
    let options = Options {
        gpu_only: args.gpu_only,
        weights: args.weights.into(),
        kv_cache: args.kv_cache.into(),
    };
    let report = validate::validate(&steps, &options, |cm| choice.apply(cm))?;
    if args.json {
        return print_out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    }
    print_out(&report.to_text())
}

fn run_serving(
    files: &[PathBuf],
    scenario: Option<PathBuf>,
    engine_profile: Option<PathBuf>,
    write_residuals: Option<&std::path::Path>,
    write_scenarios: Option<&std::path::Path>,
    // The decision check's TTFT and TPOT objectives and confidence.
    decisions: Option<(f64, f64, Option<f64>)>,
    json: bool,
) -> Result<()> {
    let profiles = match &engine_profile {
        None => None,
        Some(path) => {
            let text = xpyd_models::file::read_text(path, xpyd_models::file::MAX_TEXT_FILE_BYTES)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                xpyd_models::EngineProfiles::parse(&text)
                    .with_context(|| format!("{}", path.display()))?,
            )
        }
    };
    let mut runs = Vec::new();
    for f in files {
        runs.extend(serving::read(f)?);
    }
    let mut report = serving::replay(
        &runs,
        &ReplayOptions {
            scenario,
            profiles,
            ..ReplayOptions::default()
        },
    )?;
    if let Some((ttft, tpot, confidence)) = decisions {
        report.decisions = Some(serving::decisions::decisions(
            &runs,
            &report,
            &report.gpus,
            ttft,
            tpot,
            confidence,
        ));
    }
    if let Some(out) = write_residuals {
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.file_name().map_or_else(
                    || f.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let residuals = serving::residuals::residuals(&runs, &report, &out.display().to_string());
        let comment = [
            "xpyd engine-model residuals: quantiles of e = ln(predicted / measured) of replayed serving runs".to_owned(),
            format!(
                "q05 and q95 end a {:.0}% range: e's quantiles at 1 - l and l, l = min(1, {} (n + 1) / n) (the split-conformal correction for n rows); q50 the median",
                xpyd_sim::interval::LEVEL * 100.0,
                (1.0 + xpyd_sim::interval::LEVEL) / 2.0
            ),
            format!(
                "per engine x GPU x mode (groups of at least {} runs); written by: xpyd validate --serving {}{} --write-residuals FILE",
                xpyd_sim::interval::MIN_RESIDUAL_ROWS,
                names.join(" "),
                if engine_profile.is_some() { " --engine-profile ..." } else { "" }
            ),
        ];
        xpyd_reports::atomic::write_file(out, residuals.to_csv(&comment).as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if let Some(dir) = write_scenarios {
        write_scenario_files(dir, &runs, &report)?;
    }
    if json {
        return print_out(&xpyd_reports::serving::to_json(&report)?);
    }
    print_out(&xpyd_reports::serving::to_text(&report))
}

/// Write each replayed run's scenario to `dir/<id>.toml`: the id with every character
/// outside `[A-Za-z0-9._-]` replaced by `_` and cut to 200 characters, and `-2`, `-3`, ...
/// appended where a name is taken already (two runs with one id). Each file is written
/// atomically; its first line, a comment, names the run (control characters escaped).
fn write_scenario_files(
    dir: &std::path::Path,
    runs: &[serving::MeasuredRun],
    report: &serving::Report,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut taken = std::collections::BTreeSet::<String>::new();
    for (run, row) in runs.iter().zip(&report.rows) {
        let (Some(toml), None) = (&run.scenario_toml, &row.skipped) else {
            continue;
        };
        let stem: String = run
            .id
            .chars()
            .take(200)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let stem = if stem.is_empty() {
            "run".to_owned()
        } else {
            stem
        };
        let mut name = format!("{stem}.toml");
        let mut n = 1u32;
        while taken.contains(&name) {
            n += 1;
            name = format!("{stem}-{n}.toml");
        }
        taken.insert(name.clone());
        let path = dir.join(&name);
        let header = format!(
            "# xpyd validate --serving: the replay of run {} ({}, {} on {}, {})\n",
            run.id.escape_debug(),
            run.file.display().to_string().escape_debug(),
            run.backend.escape_debug(),
            run.gpu.escape_debug(),
            run.mode.escape_debug()
        );
        xpyd_reports::atomic::write_file(&path, format!("{header}{toml}").as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
