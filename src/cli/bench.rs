//! `xpyd bench`: the reference workloads of [`xpyd_sim::bench`], timed, one line each.
//!
//! Each workload runs in a child process of this binary (`xpyd bench --only NAME
//! --in-process`), so its peak RSS is its own and not the high-water mark of an earlier
//! workload. The child prints one JSON object; the parent prints the table (or
//! `--json`).

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use serde::Serialize;
use xpyd_sim::bench::{self, Measurement, Workload};

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

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    let workloads: Vec<Workload> = match &args.only {
        Some(n) => match Workload::from_name(n) {
            Some(w) => vec![w],
            None => bail!(
                "--only {n}: unknown workload (known: {})",
                Workload::ALL.map(Workload::name).join(", ")
            ),
        },
        None => Workload::ALL.to_vec(),
    };
    if args.in_process {
        let w = workloads[0];
        let plan = match w {
            Workload::PlanDefault => Some(plan_default_settings()?),
            Workload::Chat1m | Workload::MooncakeKv => None,
        };
        let m = bench::measure(w, plan.as_ref())?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut rows = Vec::new();
    for name in workloads.into_iter().map(Workload::name) {
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
