//! `xpyd bench`: fixed reference workloads, timed, one line each.
//!
//! Each workload runs in a child process of this binary (`xpyd bench --only NAME
//! --in-process`), so its peak RSS (`VmHWM` from `/proc/self/status`, Linux only) is its
//! own and not the high-water mark of an earlier workload. The child prints one JSON
//! object; the parent prints the table (or `--json`). Wall time covers the simulation
//! only (scenario parsing and workload loading excluded for `chat-1m` and `mooncake-kv`;
//! the whole planner call for `plan-default`).

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use xpyd_sim::{Scenario, System};

/// 1,000,000 ShareGPT chat requests, Poisson, on Qwen3-32B SGLang 8P8D TP2 on H100 (16
/// instances, 32 GPUs), no baseline, outputs discarded.
///
/// The rate is 80% of the deployment's capacity. Capacity was found by a sweep of
/// `xpyd run` on this scenario with 50,000 requests: the completed throughput saturates
/// at 50.0 req/s (offered 100 req/s gives 50.01; 50 gives 49.33 with TTFT growing; 45
/// gives 44.54 with 99.8% SLO attainment). 0.8 x 50 = 40 req/s; at 38.5 req/s and 200,000
/// requests TTFT p99 is about 1 s and TPOT p99 28 ms (stable).
const CHAT_1M: &str = r#"
name = "bench-chat-1m"
seed = 1

[model]
id = "qwen3-32b"

[hardware]
gpu = "h100"

[deployment]
mode = "disaggregated"
backend = "sglang"

[deployment.prefill]
replicas = 8
tp = 2
router = "round-robin"

[deployment.decode]
replicas = 8
tp = 2
router = "round-robin"

[baseline]
enabled = false

[workload]
requests = 1000000

[workload.arrival]
kind = "poisson"
rate-rps = 40.0

[workload.lengths]
kind = "empirical-joint"
path = "builtin:sharegpt"
"#;

/// The KV-aware routing scenario, replaying the whole Mooncake conversation trace
/// (12,031 requests; the file caps it at 3,000 for a quick run).
const MOONCAKE_KV: &str = include_str!("../../scenarios/mooncake-kv-routing.toml");

/// The reference workloads, in the order they run.
const WORKLOADS: [&str; 3] = ["chat-1m", "mooncake-kv", "plan-default"];

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Print `{"workloads":[...]}` instead of the table.
    #[arg(long)]
    json: bool,
    /// Run one workload: chat-1m, mooncake-kv or plan-default.
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
    /// Run the workload in this process and print its JSON line (used by the parent).
    #[arg(long, hide = true, requires = "only")]
    in_process: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Report<'a> {
    workloads: &'a [Measurement],
}

/// One workload's numbers.
#[derive(Debug, Serialize, Deserialize)]
struct Measurement {
    name: String,
    /// Requests simulated (arrived); `null` for the planner, which runs many simulations.
    requests: Option<u64>,
    wall_s: f64,
    requests_per_s: Option<f64>,
    events_per_s: Option<f64>,
    /// `null` where `/proc/self/status` is not available.
    peak_rss_mb: Option<f64>,
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    let names: Vec<&str> = match &args.only {
        Some(n) => match WORKLOADS.iter().find(|w| **w == n.as_str()) {
            Some(w) => vec![*w],
            None => bail!(
                "--only {n}: unknown workload (known: {})",
                WORKLOADS.join(", ")
            ),
        },
        None => WORKLOADS.to_vec(),
    };
    if args.in_process {
        let m = measure(names[0])?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut rows = Vec::new();
    for name in names {
        let out = std::process::Command::new(&exe)
            .args(["bench", "--only", name, "--in-process"])
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("{name}: cannot start {}", exe.display()))?;
        if !out.status.success() {
            bail!("{name}: the benchmark process failed ({})", out.status);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let m: Measurement = serde_json::from_str(text.trim())
            .with_context(|| format!("{name}: unreadable result {text:?}"))?;
        if !args.json {
            println!("{}", line(&m));
        }
        rows.push(m);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Report { workloads: &rows })?
        );
    }
    Ok(())
}

fn line(m: &Measurement) -> String {
    let opt = |x: Option<f64>, unit: &str| match x {
        Some(v) => format!("{:>12.0} {unit}", v),
        None => format!("{:>12} {unit}", "-"),
    };
    format!(
        "{:<14} {:>9} requests {:>8.3} s {} {} peak RSS {}",
        m.name,
        m.requests.map_or("-".to_string(), |r| r.to_string()),
        m.wall_s,
        opt(m.requests_per_s, "req/s"),
        opt(m.events_per_s, "events/s"),
        m.peak_rss_mb
            .map_or("n/a".to_string(), |r| format!("{r:.1} MB")),
    )
}

/// Run one workload here and measure it.
fn measure(name: &str) -> Result<Measurement> {
    let (requests, events, wall_s) = match name {
        "chat-1m" => simulate(CHAT_1M, &[])?,
        "mooncake-kv" => simulate(
            MOONCAKE_KV,
            // Above the trace's 12,031 requests: the cap replays all of it.
            &["workload.requests=1000000".to_string()],
        )?,
        "plan-default" => {
            let settings = plan_default_settings()?;
            let t = Instant::now();
            xpyd_sim::planner::plan(&settings, &|_| {})?;
            (None, None, t.elapsed().as_secs_f64())
        }
        other => unreachable!("unknown workload {other} passed validation"),
    };
    Ok(Measurement {
        name: name.to_string(),
        requests,
        wall_s,
        requests_per_s: requests.map(|r| r as f64 / wall_s),
        events_per_s: events.map(|e| e as f64 / wall_s),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Simulate the main system of a scenario text; returns (arrived, events, wall s).
fn simulate(text: &str, sets: &[String]) -> Result<(Option<u64>, Option<u64>, f64)> {
    let sc = Scenario::from_text(Path::new("bench.toml"), Path::new("."), text, sets)?;
    let t = Instant::now();
    // Streamed like `xpyd run` streams them (records and time-series rows as they are
    // produced), then discarded: the run holds only what is in flight.
    let out = xpyd_sim::run_streamed(&sc, System::Main, &mut |_| {}, &mut |_| {})?;
    let wall = t.elapsed().as_secs_f64();
    Ok((Some(out.metrics.requests.arrived), Some(out.events), wall))
}

/// `xpyd plan`'s settings for the built-in default scenario and default flags.
fn plan_default_settings() -> Result<xpyd_sim::planner::PlanSettings> {
    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        plan: super::plan::PlanArgs,
    }
    let w = Wrap::try_parse_from(["plan"]).context("default plan flags")?;
    super::plan::settings(&w.plan)
}

/// Peak resident set size of this process, MB (`VmHWM`); `None` off Linux.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
