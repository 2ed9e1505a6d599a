//! `xpyd report DIR`: rebuild the tables, charts and `report.html` of a run, sweep or
//! plan folder from its CSV and JSON files; and the report step `xpyd plan` ends with.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use xpyd_reports::DirKind;
use xpyd_reports::assumptions::Assumptions;
use xpyd_reports::atomic::write_file;
use xpyd_reports::run_report::ReportOptions;
use xpyd_sim::Scenario;

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Output folder of `xpyd run`, `xpyd sweep` or `xpyd plan`.
    dir: PathBuf,
    /// Also write each chart as PNG.
    #[arg(long)]
    png: bool,
    /// Also write the aggregate tables (windows, instances) as Parquet (runs).
    #[arg(long)]
    parquet: bool,
    /// Overlay this second run folder's TTFT/TPOT/E2E CDFs (runs).
    #[arg(long, value_name = "DIR")]
    compare: Option<PathBuf>,
}

pub(crate) fn run(args: ReportArgs) -> Result<()> {
    let opts = ReportOptions {
        png: args.png,
        parquet: args.parquet,
    };
    let (kind, files) = xpyd_reports::rebuild(&args.dir, opts, args.compare.as_deref())?;
    let kind = match kind {
        DirKind::Run => "run",
        DirKind::Sweep => "sweep",
        DirKind::Plan => "plan",
    };
    println!(
        "{kind} report: wrote {} and charts/",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The end of `xpyd plan`: `assumptions.json` of the recommended deployment (when there
/// is one), the charts and `report.html`.
pub(crate) fn plan_report(out: &Path) -> Result<()> {
    let rec = out.join("recommended.toml");
    if rec.exists() {
        let sc = Scenario::load(&rec, &[])?;
        write_file(
            &out.join("assumptions.json"),
            Assumptions::of(&sc).to_json().as_bytes(),
        )?;
    }
    xpyd_reports::plan_report::rebuild(out, ReportOptions::default())
        .with_context(|| format!("{}: writing the plan report", out.display()))?;
    println!("report: {}", out.join("report.html").display());
    Ok(())
}
