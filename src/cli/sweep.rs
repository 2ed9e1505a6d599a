//! `xpyd sweep`: one scenario at several offered rates, in parallel, into `sweep.csv`,
//! `sweep.json`, latency-throughput curves and `report.html`.
//!
//! Each rate is the scenario with its workload rescaled the way the planner's probes
//! rescale it (`Workload::with_rate`); runs are independent and collected in rate order,
//! so the sweep is the same at any `--jobs`.

use anyhow::{Context, Result, bail};
use clap::Args;
use rayon::prelude::*;
use std::path::PathBuf;
use xpyd_reports::assumptions::Assumptions;
use xpyd_reports::atomic::write_file;
use xpyd_reports::run_report::ReportOptions;
use xpyd_reports::summary::SystemSummary;
use xpyd_reports::sweep::{self, SweepMeta, SweepPoint};
use xpyd_sim::scenario::{self, RouterKind, Topology};
use xpyd_sim::{System, run as simulate};

use super::run::{self, RunArgs};

/// Most rates one sweep runs.
const MAX_RATES: usize = 1000;

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
    #[arg(long)]
    seed: Option<u64>,
    /// Requests simulated at each rate.
    #[arg(long, value_name = "N")]
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
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Skip the charts and report.html.
    #[arg(long)]
    no_report: bool,
    /// Also write each chart as PNG.
    #[arg(long)]
    png: bool,
}

/// Parse `--rates`: rates and inclusive `START:STOP:STEP` ranges, comma-separated; sorted
/// and deduplicated.
pub(crate) fn parse_rates(spec: &str) -> Result<Vec<f64>> {
    let num = |s: &str, what: &str| -> Result<f64> {
        let v: f64 = s.trim().parse().map_err(|_| {
            anyhow::anyhow!("--rates {spec}: {what} `{}` is not a number", s.trim())
        })?;
        if !(v.is_finite() && v > 0.0) {
            bail!(
                "--rates {spec}: {what} `{}` must be a positive number of requests/s",
                s.trim()
            );
        }
        Ok(v)
    };
    let mut rates = Vec::new();
    for item in spec.split(',') {
        if item.trim().is_empty() {
            bail!("--rates {spec}: empty item (expected R1,R2,... or START:STOP:STEP)");
        }
        let parts: Vec<&str> = item.split(':').collect();
        match parts.as_slice() {
            [r] => rates.push(num(r, "rate")?),
            [a, b, c] => {
                let (start, stop, step) = (num(a, "start")?, num(b, "stop")?, num(c, "step")?);
                if stop < start {
                    bail!("--rates {spec}: range {item}: stop {stop} is below start {start}");
                }
                let n = ((stop - start) / step + 1e-9).floor() as usize + 1;
                if n > MAX_RATES {
                    bail!("--rates {spec}: range {item} has {n} rates, at most {MAX_RATES}");
                }
                rates.extend((0..n).map(|i| ((start + i as f64 * step) * 1e9).round() / 1e9));
            }
            _ => bail!("--rates {spec}: `{item}` is neither a rate nor START:STOP:STEP"),
        }
    }
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    if rates.len() > MAX_RATES {
        bail!("--rates {spec}: {} rates, at most {MAX_RATES}", rates.len());
    }
    Ok(rates)
}

pub(crate) fn run(args: SweepArgs) -> Result<()> {
    let rates = parse_rates(&args.rates)?;
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
    // Validate every rate before simulating any.
    let scenarios = rates
        .iter()
        .map(|&r| {
            let mut s = sc.clone();
            s.workload = sc
                .workload
                .with_rate(r)
                .with_context(|| format!("{}: sweeping to {r} requests/s", sc.file.display()))?;
            Ok(s)
        })
        .collect::<Result<Vec<_>>>()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("xpyd-sweep"));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("{}: cannot create output folder", out.display()))?;

    let bar = super::progress_bar(
        rates.len() as u64,
        "{spinner} sweeping [{bar:30}] {pos}/{len} rates, {elapsed_precise} (eta {eta})",
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting the worker threads")?;
    let results: Vec<Result<SweepPoint, xpyd_sim::SimError>> = pool.install(|| {
        scenarios
            .par_iter()
            .zip(rates.par_iter())
            .map(|(s, &r)| {
                let o = simulate(s, System::Main, &mut |_| {});
                bar.inc(1);
                o.map(|o| SweepPoint::of(r, &SystemSummary::of(s, &o)))
            })
            .collect()
    });
    bar.finish_and_clear();
    let points = results.into_iter().collect::<Result<Vec<_>, _>>()?;

    let deployment = match &sc.topology {
        Topology::Disaggregated { prefill, decode } => format!(
            "{}P{}D, TP {}/{}",
            prefill.replicas, decode.replicas, prefill.tp, decode.tp
        ),
        Topology::Aggregated(r) => format!("{} x TP {}", r.replicas, r.tp),
    };
    let meta = SweepMeta {
        scenario: sc.name.clone(),
        seed: sc.seed,
        model: sc.model.id.clone(),
        gpu: sc.gpu.id.clone(),
        backend: sc.backend.name().to_string(),
        mode: scenario::mode_name(&sc.topology).to_string(),
        deployment,
        workload: sc.workload.describe(),
        cost_source: run::cost_source(&sc),
        ttft_slo_ms: sc.slo.ttft_ms,
        tpot_slo_ms: sc.slo.tpot_ms,
        slo_percentile: sc.slo.percentile,
        rates_rps: rates.clone(),
    };
    let assumptions = Assumptions::of(&sc);
    write_file(&out.join("sweep.csv"), &sweep::sweep_csv(&points))?;
    write_file(&out.join("sweep.json"), meta.to_json().as_bytes())?;
    write_file(
        &out.join("assumptions.json"),
        assumptions.to_json().as_bytes(),
    )?;
    let mut written = vec!["sweep.csv", "sweep.json", "assumptions.json"];
    if !args.no_report {
        let opts = ReportOptions {
            png: args.png,
            parquet: false,
        };
        // From the files just written, exactly as `xpyd report DIR` rebuilds it.
        sweep::rebuild(&out, opts)?;
        written.push("charts/");
        written.push("report.html");
    }
    println!(
        "xpyd sweep: {} (seed {}), {} {} on {}, SLOs TTFT <= {} ms, TPOT <= {} ms at p{}",
        meta.scenario,
        meta.seed,
        meta.mode,
        meta.deployment,
        meta.gpu,
        meta.ttft_slo_ms,
        meta.tpot_slo_ms,
        meta.slo_percentile
    );
    println!(
        "{:>12} {:>12} {:>12} {:>14} {:>14} {:>8}",
        "offered r/s", "done r/s", "goodput r/s", "TTFT p90 ms", "TPOT p90 ms", "SLOs"
    );
    for p in &points {
        println!(
            "{:>12.3} {:>12.3} {:>12.3} {:>14.1} {:>14.2} {:>8}",
            p.offered_rps,
            p.throughput_rps,
            p.goodput_rps,
            p.ttft_ms[1],
            p.tpot_ms[1],
            if p.slo_met { "met" } else { "missed" }
        );
    }
    match sweep::knee(&points) {
        Some(k) => println!(
            "knee: {:.3} requests/s (the highest offered load meeting every SLO)",
            points[k].offered_rps
        ),
        None => println!("knee: none (the SLOs are missed at the lowest rate)"),
    }
    println!("\nwrote {}/{}", out.display(), written.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_lists_and_ranges() {
        assert_eq!(parse_rates("4,2,2").unwrap(), vec![2.0, 4.0]);
        assert_eq!(parse_rates("2:8:2").unwrap(), vec![2.0, 4.0, 6.0, 8.0]);
        assert_eq!(parse_rates("0.1:0.3:0.1").unwrap(), vec![0.1, 0.2, 0.3]);
        assert_eq!(parse_rates("1,3:4:1").unwrap(), vec![1.0, 3.0, 4.0]);
        for bad in [
            "", "a", "1,,2", "-1", "0", "4:2:1", "1:2", "1:2:0", "1:1e9:1",
        ] {
            assert!(parse_rates(bad).is_err(), "{bad}");
        }
    }
}
