//! `xpyd run`: simulate a scenario and its aggregated baseline, write the outputs and
//! print the human summary.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use xpyd_reports::run_outputs::{self, RunOptions};
use xpyd_reports::run_report::ReportOptions;
use xpyd_sim::scenario::{self, Scenario};

/// The built-in default: SGLang 2P1D Qwen3-32B on L20 with a chat workload.
pub(crate) const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/seed-sglang-2p1d.toml");
pub(crate) const DEFAULT_NAME: &str = "<built-in seed-sglang-2p1d>";

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
    /// Mean arrival rate, requests/s (open-loop arrivals, or a trace's replay rate).
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
    #[arg(long, value_name = "NAME")]
    router: Option<String>,
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
        router: Option<String>,
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

/// Load the scenario with every override applied: `--set` first, then the dedicated
/// flags. This is the only place flags change scenario values.
pub(crate) fn settings(args: &RunArgs) -> Result<Scenario> {
    let (file, base, text) = match &args.scenario {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read scenario", p.display()))?;
            let base = p
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            (p.clone(), base, text)
        }
        None => (
            PathBuf::from(DEFAULT_NAME),
            PathBuf::from("."),
            DEFAULT_SCENARIO.to_string(),
        ),
    };
    let mut doc = scenario::parse_scenario_text(&file, &text)?;
    scenario::apply_overrides(&mut doc, &args.set)?;
    apply_flags(&mut doc, args)
        .with_context(|| format!("{}: applying command-line flags", file.display()))?;
    let wire = scenario::table_to_file(&file, doc)?;
    Ok(Scenario::from_file(&file, &base, wire)?)
}

fn apply_flags(doc: &mut toml::Table, args: &RunArgs) -> Result<()> {
    let set = |doc: &mut toml::Table, key: &str, v: toml::Value| {
        scenario::set_path(doc, key, v).map_err(|m| anyhow::anyhow!("{key}: {m}"))
    };
    if let Some(seed) = args.seed {
        let seed = i64::try_from(seed).context("--seed must fit in a signed 64-bit integer")?;
        set(doc, "seed", toml::Value::Integer(seed))?;
    }
    let workload = doc.get("workload").and_then(|w| w.as_table());
    let has_trace = workload.is_some_and(|w| w.contains_key("trace"));
    let has_joint = workload.is_some_and(|w| w.contains_key("lengths"));
    let closed = workload
        .and_then(|w| w.get("arrival"))
        .and_then(|a| a.get("kind"))
        .and_then(|k| k.as_str())
        == Some("closed-loop");
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            anyhow::bail!("--rate must be a positive number of requests/s, got {rate}");
        }
        if has_trace {
            if let Some(t) = doc
                .get_mut("workload")
                .and_then(|w| w.get_mut("trace"))
                .and_then(|t| t.as_table_mut())
            {
                t.remove("time-scale");
            }
            set(doc, "workload.trace.rate-rps", toml::Value::Float(rate))?;
        } else if closed {
            anyhow::bail!(
                "--rate does not apply to closed-loop arrivals: set workload.arrival.clients instead"
            );
        } else {
            set(doc, "workload.arrival.rate-rps", toml::Value::Float(rate))?;
        }
    }
    if let Some(name) = &args.router {
        let roles: Vec<String> = doc
            .get("deployment")
            .and_then(|d| d.as_table())
            .map(|d| {
                ["prefill", "decode", "aggregated"]
                    .iter()
                    .filter(|r| d.contains_key(**r))
                    .map(|r| format!("deployment.{r}.router"))
                    .collect()
            })
            .unwrap_or_default();
        for key in roles.iter().map(String::as_str).chain(["baseline.router"]) {
            set(doc, key, toml::Value::String(name.clone()))?;
        }
    }
    if let Some(p) = &args.profile {
        // Relative to where the command runs, not to the scenario file.
        let abs = std::path::absolute(p).with_context(|| format!("--profile {}", p.display()))?;
        set(
            doc,
            "hardware.profile",
            toml::Value::String(abs.display().to_string()),
        )?;
    }
    if args.roofline {
        set(
            doc,
            "hardware.profile",
            toml::Value::String("roofline".into()),
        )?;
    }
    if let Some(n) = args.requests {
        let n = i64::try_from(n).context("--requests is too large")?;
        set(doc, "workload.requests", toml::Value::Integer(n))?;
    }
    if args.input_tokens.is_some() || args.output_tokens.is_some() {
        if has_trace {
            anyhow::bail!("--input-tokens/--output-tokens cannot change a trace replay's lengths");
        }
        if has_joint {
            if args.input_tokens.is_none() || args.output_tokens.is_none() {
                anyhow::bail!(
                    "the scenario draws input and output lengths jointly ([workload.lengths]); give both --input-tokens and --output-tokens"
                );
            }
            if let Some(w) = doc.get_mut("workload").and_then(|w| w.as_table_mut()) {
                w.remove("lengths");
            }
        }
        for (key, v) in [
            ("workload.input-tokens", args.input_tokens),
            ("workload.output-tokens", args.output_tokens),
        ] {
            if let Some(tokens) = v {
                let mut t = toml::Table::new();
                t.insert("kind".into(), toml::Value::String("fixed".into()));
                t.insert("tokens".into(), toml::Value::Integer(i64::from(tokens)));
                set(doc, key, toml::Value::Table(t))?;
            }
        }
    }
    Ok(())
}

pub(crate) fn run(args: RunArgs) -> Result<()> {
    let sc = settings(&args)?;
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
    };
    let files = run_outputs::write(&out, &sc, opts, &mut || bar.inc(1));
    bar.finish_and_clear();
    let files = files?;
    print!("{}", files.summary.to_text());
    println!("\nwrote {}/{}", out.display(), files.written.join(", "));
    Ok(())
}
