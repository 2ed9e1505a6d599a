//! `xpyd validate --steps FILE.csv`: compare measured step times with the cost model.
//!
//! The CSV has a header naming at least the columns `model,gpu,tp,phase,batch,tokens,
//! context,ms` (any order; other columns are ignored; blank lines and lines starting
//! with `#` are skipped). A `prefill` row is `batch` sequences of `tokens` new tokens
//! each after `context` cached ones; a `decode` row is `batch` sequences of one new
//! token each at `context` tokens (`tokens` is not used). `ms` is the measured time of
//! the step. Every bad row is reported as `FILE:LINE: column: problem`.
//!
//! The relative error of a row is `(predicted - measured) / measured`; the summary gives
//! the median and the maximum of its absolute value, over all rows and per GPU.

use crate::cli::cost::{DtypeArg, ProfileChoice, print_out, source_label};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use xpyd_models::{CostModel, Dtype, Efficiencies, GpuSpec, ModelArch, StepShape};

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Measured steps: CSV with columns model,gpu,tp,phase,batch,tokens,context,ms.
    #[arg(long, value_name = "FILE.csv")]
    steps: PathBuf,
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
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// One measured step as read from the file.
#[derive(Clone, Debug, Serialize)]
struct Row {
    line: usize,
    model: String,
    gpu: String,
    tp: u32,
    phase: Phase,
    batch: u32,
    tokens: u64,
    context: u64,
    ms: f64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Phase {
    Prefill,
    Decode,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

const COLUMNS: [&str; 8] = [
    "model", "gpu", "tp", "phase", "batch", "tokens", "context", "ms",
];

/// Parse the step CSV; errors name the file, line and column.
fn parse(path: &Path, text: &str) -> Result<Vec<Row>> {
    let f = path.display();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        bail!("{f}: empty file (expected a header: {})", COLUMNS.join(","));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut idx = [0usize; 8];
    for (slot, col) in idx.iter_mut().zip(COLUMNS) {
        *slot = names.iter().position(|n| *n == col).with_context(|| {
            format!(
                "{f}:{hline}: header has no column `{col}` (expected {})",
                COLUMNS.join(",")
            )
        })?;
    }
    let mut rows = Vec::new();
    for (line, l) in lines {
        let cells: Vec<&str> = l.split(',').map(str::trim).collect();
        let cell = |c: usize| -> Result<&str> {
            cells.get(idx[c]).copied().with_context(|| {
                format!(
                    "{f}:{line}: column `{}`: missing ({} cells, header has {})",
                    COLUMNS[c],
                    cells.len(),
                    names.len()
                )
            })
        };
        fn num<T: std::str::FromStr>(f: &str, line: usize, col: &str, v: &str) -> Result<T> {
            v.parse::<T>().ok().with_context(|| {
                format!("{f}:{line}: column `{col}`: `{v}` is not a non-negative integer")
            })
        }
        let fs = f.to_string();
        let phase = match cell(3)? {
            "prefill" => Phase::Prefill,
            "decode" => Phase::Decode,
            other => bail!("{f}:{line}: column `phase`: `{other}` is not prefill or decode"),
        };
        let tp: u32 = num(&fs, line, "tp", cell(2)?)?;
        let batch: u32 = num(&fs, line, "batch", cell(4)?)?;
        let tokens: u64 = num(&fs, line, "tokens", cell(5)?)?;
        let context: u64 = num(&fs, line, "context", cell(6)?)?;
        let ms_text = cell(7)?;
        let ms: f64 = ms_text
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v > 0.0)
            .with_context(|| {
                format!(
                    "{f}:{line}: column `ms`: `{ms_text}` is not a positive number of milliseconds"
                )
            })?;
        if tp == 0 {
            bail!("{f}:{line}: column `tp`: must be at least 1");
        }
        if batch == 0 {
            bail!("{f}:{line}: column `batch`: must be at least 1");
        }
        if phase == Phase::Prefill && tokens == 0 {
            bail!("{f}:{line}: column `tokens`: a prefill row needs at least 1 token");
        }
        if phase == Phase::Decode && context == 0 {
            bail!("{f}:{line}: column `context`: a decode row needs a context of at least 1 token");
        }
        rows.push(Row {
            line,
            model: cell(0)?.to_string(),
            gpu: cell(1)?.to_string(),
            tp,
            phase,
            batch,
            tokens,
            context,
            ms,
        });
    }
    if rows.is_empty() {
        bail!("{f}: no rows after the header");
    }
    Ok(rows)
}

/// The step a row describes, or an error for sizes that overflow.
fn shape(row: &Row) -> Option<StepShape> {
    let b = u64::from(row.batch);
    Some(match row.phase {
        Phase::Prefill => {
            let (t, c) = (row.tokens, row.context);
            let per_seq = t.checked_mul(c)?.checked_add(t.checked_mul(t + 1)? / 2)?;
            StepShape {
                prefill_tokens: b.checked_mul(t)?,
                prefill_seqs: row.batch,
                prefill_attn_pairs: b.checked_mul(per_seq)?,
                ..StepShape::default()
            }
        }
        Phase::Decode => StepShape {
            decode_seqs: row.batch,
            decode_context_tokens: b.checked_mul(row.context)?,
            ..StepShape::default()
        },
    })
}

#[derive(Serialize)]
struct RowReport {
    line: usize,
    model: String,
    gpu: String,
    tp: u32,
    phase: &'static str,
    batch: u32,
    tokens: u64,
    context: u64,
    measured_ms: f64,
    predicted_ms: f64,
    /// (predicted - measured) / measured.
    rel_error: f64,
    source: &'static str,
    profile: Option<String>,
}

#[derive(Serialize)]
struct Summary {
    rows: usize,
    median_abs_rel_error: f64,
    max_abs_rel_error: f64,
    /// CSV line of the worst row.
    max_line: usize,
}

#[derive(Serialize)]
struct Report {
    file: String,
    gpu_only: bool,
    rows: Vec<RowReport>,
    all: Summary,
    by_gpu: BTreeMap<String, Summary>,
}

fn summary<'a>(rows: impl Iterator<Item = &'a RowReport>) -> Summary {
    let mut errs: Vec<(f64, usize)> = rows.map(|r| (r.rel_error.abs(), r.line)).collect();
    errs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = errs.len();
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => errs[n / 2].0,
        _ => 0.5 * (errs[n / 2 - 1].0 + errs[n / 2].0),
    };
    let (max, max_line) = errs.last().copied().unwrap_or((0.0, 0));
    Summary {
        rows: n,
        median_abs_rel_error: median,
        max_abs_rel_error: max,
        max_line,
    }
}

pub(crate) fn run(args: ValidateArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.steps)
        .with_context(|| format!("{}: cannot read", args.steps.display()))?;
    let rows = parse(&args.steps, &text)?;
    let choice = ProfileChoice::from_flags(args.profile.as_deref(), args.roofline)?;
    let eff = if args.gpu_only {
        Efficiencies {
            step_overhead_s: 0.0,
            per_seq_overhead_s: 0.0,
            ..Efficiencies::default()
        }
    } else {
        Efficiencies::default()
    };
    let f = args.steps.display();
    let mut models: BTreeMap<(String, String, u32), CostModel> = BTreeMap::new();
    let mut reports = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = (row.model.clone(), row.gpu.clone(), row.tp);
        if !models.contains_key(&key) {
            let arch = ModelArch::resolve(&row.model)
                .with_context(|| format!("{f}:{}: column `model`", row.line))?;
            let gpu = GpuSpec::builtin(&row.gpu)
                .with_context(|| format!("{f}:{}: column `gpu`", row.line))?;
            if arch.num_heads % row.tp != 0 {
                bail!(
                    "{f}:{}: column `tp`: {} attention heads do not split over TP {}",
                    row.line,
                    arch.num_heads,
                    row.tp
                );
            }
            let cm = CostModel::new(
                arch,
                gpu,
                row.tp,
                Dtype::from(args.weights),
                Dtype::from(args.kv_cache),
                eff.clone(),
            );
            models.insert(key.clone(), choice.apply(cm));
        }
        let Some(cm) = models.get(&key) else {
            bail!("{f}:{}: internal error: cost model missing", row.line);
        };
        let Some(shape) = shape(row) else {
            bail!("{f}:{}: batch x tokens x context overflows", row.line);
        };
        let cost = cm.step(&shape);
        let predicted_ms = cost.seconds * 1e3;
        reports.push(RowReport {
            line: row.line,
            model: row.model.clone(),
            gpu: row.gpu.clone(),
            tp: row.tp,
            phase: row.phase.name(),
            batch: row.batch,
            tokens: row.tokens,
            context: row.context,
            measured_ms: row.ms,
            predicted_ms,
            rel_error: (predicted_ms - row.ms) / row.ms,
            source: source_label(cost.source),
            profile: cm.profile_origin().map(str::to_string),
        });
    }
    let all = summary(reports.iter());
    let mut by_gpu = BTreeMap::new();
    for gpu in reports
        .iter()
        .map(|r| r.gpu.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let s = summary(reports.iter().filter(|r| r.gpu == gpu));
        by_gpu.insert(gpu, s);
    }
    let report = Report {
        file: f.to_string(),
        gpu_only: args.gpu_only,
        rows: reports,
        all,
        by_gpu,
    };
    let mut out = String::new();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return print_out(&out);
    }
    writeln!(
        out,
        "{:<14} {:<5} {:>2} {:<7} {:>5} {:>6} {:>7} {:>10} {:>10} {:>7}  source",
        "model",
        "gpu",
        "tp",
        "phase",
        "batch",
        "tokens",
        "context",
        "measured",
        "predicted",
        "error"
    )?;
    for r in &report.rows {
        writeln!(
            out,
            "{:<14} {:<5} {:>2} {:<7} {:>5} {:>6} {:>7} {:>10.3} {:>10.3} {:>+6.1}%  {}",
            r.model,
            r.gpu,
            r.tp,
            r.phase,
            r.batch,
            r.tokens,
            r.context,
            r.measured_ms,
            r.predicted_ms,
            r.rel_error * 100.0,
            r.source
        )?;
    }
    let line = |out: &mut String, name: &str, s: &Summary| {
        writeln!(
            out,
            "{name}: {} rows, median |error| {:.1}%, max |error| {:.1}% (line {})",
            s.rows,
            s.median_abs_rel_error * 100.0,
            s.max_abs_rel_error * 100.0,
            s.max_line
        )
    };
    for (gpu, s) in &report.by_gpu {
        line(&mut out, gpu, s)?;
    }
    line(&mut out, "all", &report.all)?;
    print_out(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reports_file_line_and_column() {
        let p = Path::new("s.csv");
        let ok = "model,gpu,tp,phase,batch,tokens,context,ms\n# c\nqwen3-8b,h100,1,decode,8,1,1024,9.5\n";
        let rows = parse(p, ok).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].line, rows[0].batch), (3, 8));
        let e = parse(p, "model,gpu,tp,phase,batch,tokens,context\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("s.csv:1: header has no column `ms`"),
            "{e:#}"
        );
        let e = parse(
            p,
            "model,gpu,tp,phase,batch,tokens,context,ms\nq,h100,1,train,1,1,1,1\n",
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("s.csv:2: column `phase`"),
            "{e:#}"
        );
        let e = parse(
            p,
            "model,gpu,tp,phase,batch,tokens,context,ms\nq,h100,x,decode,1,1,1,1\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("s.csv:2: column `tp`"), "{e:#}");
        let e = parse(
            p,
            "model,gpu,tp,phase,batch,tokens,context,ms\nq,h100,1,decode,1,1,1,-3\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("s.csv:2: column `ms`"), "{e:#}");
        let e = parse(
            p,
            "model,gpu,tp,phase,batch,tokens,context,ms\nq,h100,1,decode\n",
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("s.csv:2: column `batch`: missing"),
            "{e:#}"
        );
    }

    #[test]
    fn shapes_follow_the_row() {
        let row = Row {
            line: 2,
            model: "m".into(),
            gpu: "g".into(),
            tp: 1,
            phase: Phase::Prefill,
            batch: 4,
            tokens: 512,
            context: 100,
            ms: 1.0,
        };
        let s = shape(&row).unwrap();
        assert_eq!(s.prefill_tokens, 2048);
        assert_eq!(s.prefill_attn_pairs, 4 * (512 * 100 + 512 * 513 / 2));
        let d = shape(&Row {
            phase: Phase::Decode,
            ..row
        })
        .unwrap();
        assert_eq!((d.decode_seqs, d.decode_context_tokens), (4, 400));
    }
}
