//! `xpyd report DIR`: rebuild the tables, charts and `report.html` of a run, sweep or
//! plan folder from its CSV and JSON files.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use xpyd_reports::DirKind;
use xpyd_reports::run_report::ReportOptions;

use super::interrupt::{self, Pending};

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
    let _cleanup = interrupt::remove_on_signal(Pending::Partials(args.dir.clone()));
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
