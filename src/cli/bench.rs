//! `xpyd bench`: the reference workloads of [`xpyd_sim::bench`], timed, one line each;
//! with `--compare BASE.json` or `--baseline-exe OLD`, the regression gate.
//!
//! Each workload runs in a child process of this binary (`xpyd bench --only NAME
//! --in-process`), so its peak RSS is its own and not the high-water mark of an earlier
//! workload. The child prints one JSON object; the parent prints the table (or
//! `--json`). With rounds, round 1 runs every workload, then round 2, and so on; with
//! `--baseline-exe`, each round runs the old binary's child and this one's back to back,
//! the old first in odd rounds and second in even ones.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use xpyd_sim::bench::compare::{self, Build, Comparison, Report, Rule};
use xpyd_sim::bench::{self, Measurement, Workload};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Print the report as JSON (`{"build","rounds","workloads":[...]}`, plus
    /// `"comparison"` when comparing) instead of the table; it is what `--compare` reads.
    #[arg(long)]
    json: bool,
    /// Run these workloads only (comma-separated): chat-1m, mooncake-kv, fleet-10m,
    /// fleet-10m-h20, plan-default, plan-large.
    #[arg(long, value_name = "NAME[,NAME...]", value_delimiter = ',')]
    only: Vec<String>,
    /// Run every workload this many times, round after round; a line shows the median
    /// and `--json` every round's wall time [default: 1; 5 when comparing].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: Option<u32>,
    /// Compare with a previous `xpyd bench --rounds N --json` report: round i of this
    /// build is paired with the report's round i. Exit 1 when a workload is slower by more
    /// than 10% in 4 of 5 paired rounds (ceil(4N/5) of N). Pairs across time only:
    /// prefer `--baseline-exe`.
    #[arg(long, value_name = "BASE.json", conflicts_with = "baseline_exe")]
    compare: Option<PathBuf>,
    /// Compare with another `xpyd` binary (the previous build), both run in every round,
    /// back to back, in alternating order: true pairs. Same verdict and exit code as
    /// `--compare`.
    #[arg(long, value_name = "OLD_XPYD")]
    baseline_exe: Option<PathBuf>,
    /// Simulated requests of the simulation workloads instead of their own (a shorter run
    /// while developing; the plans are unchanged).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    requests: Option<u64>,
    /// Run the workload in this process and print its JSON line (used by the parent).
    #[arg(long, hide = true, requires = "only")]
    in_process: bool,
}

/// Exit code when the gate flags a workload.
const FLAGGED: u8 = 1;

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    let workloads: Vec<Workload> = if args.only.is_empty() {
        Workload::ALL.to_vec()
    } else {
        let mut v = Vec::new();
        for n in &args.only {
            match Workload::from_name(n) {
                Some(w) if !v.contains(&w) => v.push(w),
                Some(_) => {}
                None => bail!(
                    "--only {n}: unknown workload (known: {})",
                    Workload::ALL.map(Workload::name).join(", ")
                ),
            }
        }
        v
    };
    if args.in_process {
        let [w] = workloads[..] else {
            bail!("--in-process runs one workload (--only NAME)");
        };
        let plan = w.plan_args().map(plan_settings).transpose()?;
        let m = bench::measure(w, plan.as_ref(), args.requests)?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(ExitCode::SUCCESS);
    }
    let comparing = args.compare.is_some() || args.baseline_exe.is_some();
    let rounds = args.rounds.unwrap_or(if comparing { 5 } else { 1 }) as usize;
    // A malformed or short base fails before anything runs.
    let base_json = match &args.compare {
        Some(path) => {
            let r = Report::read(path)?;
            for w in &workloads {
                r.samples(path, w.name(), rounds)?;
            }
            Some((path.as_path(), r))
        }
        None => None,
    };
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let live = rounds == 1 && !comparing && !args.json;
    let mut new_runs: Vec<Vec<Measurement>> = vec![Vec::new(); workloads.len()];
    let mut old_runs: Vec<Option<Vec<Measurement>>> = vec![Some(Vec::new()); workloads.len()];
    for round in 0..rounds {
        for (k, w) in workloads.iter().enumerate() {
            let name = w.name();
            let old_first = round % 2 == 0;
            if let (Some(old), true) = (&args.baseline_exe, old_first) {
                run_old(old, name, args.requests, &mut old_runs[k], round, rounds)?;
            }
            let m = child(&exe, name, args.requests)?;
            if live {
                println!("{}", line(&m));
            } else {
                progress("new", name, round, rounds, &m);
            }
            new_runs[k].push(m);
            if let (Some(old), false) = (&args.baseline_exe, old_first) {
                run_old(old, name, args.requests, &mut old_runs[k], round, rounds)?;
            }
        }
    }
    let rows: Vec<Measurement> = new_runs
        .iter()
        .map(|r| Measurement::from_rounds(r))
        .collect();
    let rule = Rule::for_rounds(rounds);
    let mut comparison: Vec<Comparison> = Vec::new();
    let mut absent: Vec<String> = Vec::new();
    for (k, m) in rows.iter().enumerate() {
        let base = match (&base_json, &args.baseline_exe) {
            (Some((path, r)), _) => r
                .samples(path, &m.name, rounds)?
                .map(|(b, walls)| (b.clone(), walls)),
            (None, Some(_)) => old_runs[k].as_ref().map(|runs| {
                let b = Measurement::from_rounds(runs);
                let walls = b.wall_s_rounds.clone();
                (b, walls)
            }),
            (None, None) => continue,
        };
        match base {
            Some((b, walls)) => {
                comparison.push(compare::compare(&b, &walls, m, &m.wall_s_rounds, rule));
            }
            None => absent.push(m.name.clone()),
        }
    }
    let report = Report {
        build: Some(Build {
            version: env!("CARGO_PKG_VERSION").to_string(),
            exe: exe.display().to_string(),
        }),
        rounds: Some(rounds as u32),
        workloads: rows,
        comparison,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if !live {
            for m in &report.workloads {
                println!("{}", line(m));
            }
        }
        if comparing {
            println!();
            print_comparison(&report.comparison, &absent, rule);
        }
    }
    let flagged: Vec<&str> = report
        .comparison
        .iter()
        .filter(|c| c.flagged)
        .map(|c| c.name.as_str())
        .collect();
    if flagged.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "xpyd bench: slower by more than {:.0}% in {} of {rounds} paired rounds: {}",
            rule.slower_by * 100.0,
            rule.min_slower,
            flagged.join(", ")
        );
        Ok(ExitCode::from(FLAGGED))
    }
}

/// Run one round of workload `name` in the old binary, unless it lacks the workload
/// (then `runs` becomes `None` and later rounds skip it).
fn run_old(
    old: &Path,
    name: &str,
    requests: Option<u64>,
    runs: &mut Option<Vec<Measurement>>,
    round: usize,
    rounds: usize,
) -> Result<()> {
    let Some(v) = runs.as_mut() else {
        return Ok(());
    };
    let mut cmd = Command::new(old);
    cmd.args(["bench", "--only", name, "--in-process"]);
    if let Some(n) = requests {
        cmd.args(["--requests", &n.to_string()]);
    }
    let out = cmd
        .output()
        .with_context(|| format!("--baseline-exe {}: cannot start it", old.display()))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if err.contains("unknown workload") {
            eprintln!("base: {name}: not a workload of {}", old.display());
            *runs = None;
            return Ok(());
        }
        bail!(
            "--baseline-exe {}: {name} failed ({}): {}",
            old.display(),
            out.status,
            err.trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let m: Measurement = serde_json::from_str(text.trim()).with_context(|| {
        format!(
            "--baseline-exe {}: {name}: unreadable result {text:?}",
            old.display()
        )
    })?;
    progress("base", name, round, rounds, &m);
    v.push(m);
    Ok(())
}

/// Run workload `name` in a child process of `exe` and read its measurement.
fn child(exe: &Path, name: &str, requests: Option<u64>) -> Result<Measurement> {
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "--only", name, "--in-process"]);
    if let Some(n) = requests {
        cmd.args(["--requests", &n.to_string()]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("{name}: cannot start {}", exe.display()))?;
    if !out.status.success() {
        bail!("{name}: the benchmark process failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).with_context(|| format!("{name}: unreadable result {text:?}"))
}

/// One run's line on stderr, while rounds go on.
fn progress(side: &str, name: &str, round: usize, rounds: usize, m: &Measurement) {
    eprintln!(
        "round {}/{rounds} {side:<4} {name:<14} {:>9.3} s",
        round + 1,
        m.wall_s
    );
}

fn print_comparison(rows: &[Comparison], absent: &[String], rule: Rule) {
    println!(
        "{:<14} {:>10} {:>10} {:>7}  {:<40} verdict",
        "workload", "base s", "new s", "median", "new/base per round (per request)"
    );
    for c in rows {
        let ratios: Vec<String> = c.ratios.iter().map(|r| format!("{r:.3}")).collect();
        let verdict = if c.flagged {
            format!(
                "SLOWER ({} of {} rounds > +{:.0}%)",
                c.slower_rounds,
                c.rounds,
                rule.slower_by * 100.0
            )
        } else {
            format!(
                "ok ({} of {} rounds > +{:.0}%)",
                c.slower_rounds,
                c.rounds,
                rule.slower_by * 100.0
            )
        };
        println!(
            "{:<14} {:>10.3} {:>10.3} {:>7.3}  {:<40} {verdict}",
            c.name,
            c.base_wall_s,
            c.new_wall_s,
            c.median_ratio,
            ratios.join(" "),
        );
        if let Some((b, n)) = c.peak_rss_mb {
            println!("{:<14} peak RSS {b:.1} -> {n:.1} MB", "");
        }
        if !c.note.is_empty() {
            println!("{:<14} {}", "", c.note);
        }
    }
    for name in absent {
        println!("{name:<14} not in the base: not compared");
    }
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

/// `xpyd plan`'s settings for the built-in default scenario and the flags `args`.
fn plan_settings(args: &[&str]) -> Result<xpyd_sim::planner::PlanSettings> {
    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        plan: super::plan::PlanArgs,
    }
    let argv = std::iter::once("plan").chain(args.iter().copied());
    let w = Wrap::try_parse_from(argv).context("plan flags of the workload")?;
    super::plan::settings(&w.plan)
}
