//! Cost-model validation: measured step times (a CSV file) against the cost model.
//!
//! The CSV has a header naming at least the columns `model,gpu,tp,phase,batch,tokens,
//! context,ms` (any order; other columns are ignored; blank lines and lines starting
//! with `#` are skipped; fields are trimmed and may be quoted). A `prefill` row is
//! `batch` sequences of `tokens` new tokens each after `context` cached ones; a `decode`
//! row is `batch` sequences of one new token each at `context` tokens (`tokens` is not
//! used). `ms` is the measured time of the step. Every bad row is reported as
//! `FILE:LINE: column: problem` ([`ValidateError`]), LINE counted from 1 in the file.
//!
//! The relative error of a row is `(predicted - measured) / measured`; the [`Report`]
//! gives the median and the maximum of its absolute value, over all rows and per GPU.

use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use xpyd_models::{
    CostModel, CostSource, Dtype, Efficiencies, GpuError, GpuSpec, ModelArch, ModelError, StepShape,
};

/// The columns a step file must have.
pub const COLUMNS: [&str; 8] = [
    "model", "gpu", "tp", "phase", "batch", "tokens", "context", "ms",
];

/// Why a step file cannot be validated. Every variant is fatal: no report is made.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The file cannot be read (or is not UTF-8).
    #[error("{file}: cannot read")]
    Read {
        /// The step file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CSV reader failed.
    #[error("{file}: {source}")]
    Csv {
        /// The step file.
        file: PathBuf,
        /// The reader's error.
        source: csv::Error,
    },
    /// Nothing but blank and comment lines.
    #[error("{file}: empty file (expected a header: {})", COLUMNS.join(","))]
    Empty {
        /// The step file.
        file: PathBuf,
    },
    /// The header lacks a required column.
    #[error("{file}:{line}: header has no column `{column}` (expected {})", COLUMNS.join(","))]
    NoColumn {
        /// The step file.
        file: PathBuf,
        /// Line of the header.
        line: u64,
        /// The missing column.
        column: &'static str,
    },
    /// A row has fewer cells than the position of a required column.
    #[error("{file}:{line}: column `{column}`: missing ({cells} cells, header has {header})")]
    MissingCell {
        /// The step file.
        file: PathBuf,
        /// Line of the row.
        line: u64,
        /// The column.
        column: &'static str,
        /// Cells in the row.
        cells: usize,
        /// Cells in the header.
        header: usize,
    },
    /// A cell's value is not allowed.
    #[error("{file}:{line}: column `{column}`: {problem}")]
    Cell {
        /// The step file.
        file: PathBuf,
        /// Line of the row.
        line: u64,
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A header and no row.
    #[error("{file}: no rows after the header")]
    NoRows {
        /// The step file.
        file: PathBuf,
    },
    /// The `model` cell names no catalog model or readable `config.json`.
    #[error("{file}:{line}: column `model`")]
    Model {
        /// The step file.
        file: PathBuf,
        /// Line of the row.
        line: u64,
        /// Why the model could not be resolved.
        source: ModelError,
    },
    /// The `gpu` cell names no catalog GPU.
    #[error("{file}:{line}: column `gpu`")]
    Gpu {
        /// The step file.
        file: PathBuf,
        /// Line of the row.
        line: u64,
        /// Why the GPU could not be resolved.
        source: GpuError,
    },
    /// The step's token counts overflow 64 bits.
    #[error("{file}:{line}: batch x tokens x context overflows")]
    Overflow {
        /// The step file.
        file: PathBuf,
        /// Line of the row.
        line: u64,
    },
}

type Result<T, E = ValidateError> = std::result::Result<T, E>;

/// Prefill or decode.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// New tokens after a cached context.
    Prefill,
    /// One new token per sequence.
    Decode,
}

impl Phase {
    /// `prefill` or `decode`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

/// One measured step as read from the file.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Line in the file, from 1.
    pub line: u64,
    /// Catalog model id or `config.json` path.
    pub model: String,
    /// Catalog GPU id.
    pub gpu: String,
    /// Tensor-parallel degree, at least 1.
    pub tp: u32,
    /// Prefill or decode.
    pub phase: Phase,
    /// Sequences in the step, at least 1.
    pub batch: u32,
    /// New tokens per sequence (prefill; at least 1 there).
    pub tokens: u64,
    /// Cached tokens per sequence before the step (at least 1 for decode).
    pub context: u64,
    /// Measured step time, milliseconds (positive).
    pub ms: f64,
}

/// A step file, read and checked.
#[derive(Clone, Debug)]
pub struct Steps {
    /// The file.
    pub file: PathBuf,
    /// Its rows, in file order (at least one).
    pub rows: Vec<Step>,
}

impl Steps {
    /// Read and check the step file at `file`.
    pub fn read(file: &Path) -> Result<Steps> {
        let text = std::fs::read_to_string(file).map_err(|source| ValidateError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Steps::parse(file, &text)
    }

    /// Check `text`, the content of `file`; errors name the file, line and column.
    pub fn parse(file: &Path, text: &str) -> Result<Steps> {
        let csv_err = |source| ValidateError::Csv {
            file: file.to_path_buf(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        // Blank lines, and comments after leading blanks, are skipped like `#` lines.
        let mut records = reader.records().filter(|r| match r {
            Ok(r) => {
                let first = r.get(0).unwrap_or("");
                let blank = r.len() <= 1 && first.is_empty();
                !(blank || first.starts_with('#'))
            }
            Err(_) => true,
        });
        let mut lines = Lines {
            text,
            byte: 0,
            line: 1,
        };
        let mut line_of = |r: &csv::StringRecord| lines.record(r);
        let Some(header) = records.next().transpose().map_err(csv_err)? else {
            return Err(ValidateError::Empty {
                file: file.to_path_buf(),
            });
        };
        let mut idx = [0usize; 8];
        for (slot, column) in idx.iter_mut().zip(COLUMNS) {
            *slot =
                header
                    .iter()
                    .position(|n| n == column)
                    .ok_or_else(|| ValidateError::NoColumn {
                        file: file.to_path_buf(),
                        line: line_of(&header),
                        column,
                    })?;
        }
        let mut rows = Vec::new();
        for record in records {
            let record = record.map_err(csv_err)?;
            rows.push(step(file, &record, line_of(&record), &idx, header.len())?);
        }
        if rows.is_empty() {
            return Err(ValidateError::NoRows {
                file: file.to_path_buf(),
            });
        }
        Ok(Steps {
            file: file.to_path_buf(),
            rows,
        })
    }
}

/// Line numbers of the csv reader's records. A record's [`csv::Position`] is where the
/// reader stood after the record before it (so before any blank or comment lines in
/// between), and its line count skips comment lines: the record's own line is the first
/// line from that byte on that is neither blank nor a `#` comment (the records kept are
/// neither). Records come in file order, so the count only moves forward.
struct Lines<'a> {
    text: &'a str,
    /// A line start, at or before the next record's start.
    byte: usize,
    /// Line of `byte`, from 1.
    line: u64,
}

impl Lines<'_> {
    fn record(&mut self, r: &csv::StringRecord) -> u64 {
        let at = r.position().map_or(0, |p| p.byte() as usize);
        // Count the lines up to the one holding `at`.
        while let Some(n) = self.text[self.byte..].find('\n') {
            if self.byte + n >= at {
                break;
            }
            self.byte += n + 1;
            self.line += 1;
        }
        // Skip blank and comment lines (and the rest of the line before `at`, only line
        // terminators: the previous record ended there).
        while let Some(n) = self.text[self.byte..].find('\n') {
            let rest = &self.text[self.byte.max(at)..self.byte + n];
            let t = rest.trim();
            if !(t.is_empty() || t.starts_with('#')) {
                break;
            }
            self.byte += n + 1;
            self.line += 1;
        }
        self.line
    }
}

/// One row; `idx` holds the position of each of [`COLUMNS`].
fn step(
    file: &Path,
    record: &csv::StringRecord,
    line: u64,
    idx: &[usize; 8],
    header: usize,
) -> Result<Step> {
    let bad = |column: &'static str, problem: String| ValidateError::Cell {
        file: file.to_path_buf(),
        line,
        column,
        problem,
    };
    let cell = |c: usize| -> Result<&str> {
        record
            .get(idx[c])
            .ok_or_else(|| ValidateError::MissingCell {
                file: file.to_path_buf(),
                line,
                column: COLUMNS[c],
                cells: record.len(),
                header,
            })
    };
    let num = |c: usize| -> Result<u64> {
        let v = cell(c)?;
        v.parse()
            .map_err(|_| bad(COLUMNS[c], format!("`{v}` is not a non-negative integer")))
    };
    let num32 = |c: usize| -> Result<u32> {
        let v = cell(c)?;
        v.parse()
            .map_err(|_| bad(COLUMNS[c], format!("`{v}` is not a non-negative integer")))
    };
    let phase = match cell(3)? {
        "prefill" => Phase::Prefill,
        "decode" => Phase::Decode,
        other => {
            return Err(bad("phase", format!("`{other}` is not prefill or decode")));
        }
    };
    let tp = num32(2)?;
    let batch = num32(4)?;
    let tokens = num(5)?;
    let context = num(6)?;
    let ms_text = cell(7)?;
    let ms: f64 = ms_text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            bad(
                "ms",
                format!("`{ms_text}` is not a positive number of milliseconds"),
            )
        })?;
    if tp == 0 {
        return Err(bad("tp", "must be at least 1".into()));
    }
    if batch == 0 {
        return Err(bad("batch", "must be at least 1".into()));
    }
    if phase == Phase::Prefill && tokens == 0 {
        return Err(bad("tokens", "a prefill row needs at least 1 token".into()));
    }
    if phase == Phase::Decode && context == 0 {
        return Err(bad(
            "context",
            "a decode row needs a context of at least 1 token".into(),
        ));
    }
    Ok(Step {
        line,
        model: cell(0)?.to_string(),
        gpu: cell(1)?.to_string(),
        tp,
        phase,
        batch,
        tokens,
        context,
        ms,
    })
}

/// The step a row describes, or `None` for sizes that overflow.
fn shape(row: &Step) -> Option<StepShape> {
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

/// How the cost model is built for every row.
#[derive(Copy, Clone, Debug)]
pub struct Options {
    /// GPU time only: no per-step and per-sequence CPU overhead (for measurements of
    /// the forward pass alone).
    pub gpu_only: bool,
    /// Weight format of the measured model.
    pub weights: Dtype,
    /// KV-cache format of the measured model.
    pub kv_cache: Dtype,
}

/// One row, measured and predicted.
#[derive(Clone, Debug, Serialize)]
pub struct RowReport {
    /// Line in the file.
    pub line: u64,
    /// Model as written in the file.
    pub model: String,
    /// GPU as written in the file.
    pub gpu: String,
    /// Tensor-parallel degree.
    pub tp: u32,
    /// `prefill` or `decode`.
    pub phase: &'static str,
    /// Sequences.
    pub batch: u32,
    /// New tokens per sequence.
    pub tokens: u64,
    /// Cached tokens per sequence.
    pub context: u64,
    /// Measured, milliseconds.
    pub measured_ms: f64,
    /// Predicted by the cost model, milliseconds.
    pub predicted_ms: f64,
    /// (predicted - measured) / measured.
    pub rel_error: f64,
    /// Where the prediction came from (`roofline`, `calibrated`).
    pub source: &'static str,
    /// Origin of the profile used, if any.
    pub profile: Option<String>,
}

/// Error statistics of a set of rows.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Rows.
    pub rows: usize,
    /// Median of |relative error|.
    pub median_abs_rel_error: f64,
    /// Maximum of |relative error|.
    pub max_abs_rel_error: f64,
    /// CSV line of the worst row.
    pub max_line: u64,
}

/// The result of [`validate`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The step file, as given.
    pub file: String,
    /// Whether CPU overheads were left out.
    pub gpu_only: bool,
    /// Every row, in file order.
    pub rows: Vec<RowReport>,
    /// Over all rows.
    pub all: Summary,
    /// Per GPU id as written in the file.
    pub by_gpu: BTreeMap<String, Summary>,
}

fn summary<'a>(rows: impl Iterator<Item = &'a RowReport>) -> Summary {
    let mut errs: Vec<(f64, u64)> = rows.map(|r| (r.rel_error.abs(), r.line)).collect();
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

/// The label of a step's overall source, as `xpyd cost` prints it.
/// Predict every step of `steps` and compare. One cost model per (model, GPU, TP),
/// built with [`CostModel::new`] (the GPU's shipped profile) and passed through
/// `profile`, which picks the profile to use (`--profile`, `--roofline`).
pub fn validate(
    steps: &Steps,
    options: &Options,
    profile: impl Fn(CostModel) -> CostModel,
) -> Result<Report> {
    let eff = if options.gpu_only {
        Efficiencies {
            step_overhead_s: 0.0,
            per_seq_overhead_s: 0.0,
            ..Efficiencies::default()
        }
    } else {
        Efficiencies::default()
    };
    let file = &steps.file;
    let mut models: BTreeMap<(String, String, u32), CostModel> = BTreeMap::new();
    let mut reports = Vec::with_capacity(steps.rows.len());
    for row in &steps.rows {
        let key = (row.model.clone(), row.gpu.clone(), row.tp);
        let cm = match models.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let arch =
                    ModelArch::resolve(&row.model).map_err(|source| ValidateError::Model {
                        file: file.clone(),
                        line: row.line,
                        source,
                    })?;
                let gpu = GpuSpec::builtin(&row.gpu).map_err(|source| ValidateError::Gpu {
                    file: file.clone(),
                    line: row.line,
                    source,
                })?;
                if arch.num_heads % row.tp != 0 {
                    return Err(ValidateError::Cell {
                        file: file.clone(),
                        line: row.line,
                        column: "tp",
                        problem: format!(
                            "{} attention heads do not split over TP {}",
                            arch.num_heads, row.tp
                        ),
                    });
                }
                let cm = CostModel::new(
                    arch,
                    gpu,
                    row.tp,
                    options.weights,
                    options.kv_cache,
                    eff.clone(),
                );
                e.insert(profile(cm))
            }
        };
        let shape = shape(row).ok_or_else(|| ValidateError::Overflow {
            file: file.clone(),
            line: row.line,
        })?;
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
            source: CostSource::name(cost.source),
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
    Ok(Report {
        file: file.display().to_string(),
        gpu_only: options.gpu_only,
        rows: reports,
        all,
        by_gpu,
    })
}

impl Report {
    /// The report as a text table: one line per row, then one summary line per GPU and
    /// one for all rows.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> std::fmt::Result {
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
        for r in &self.rows {
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
        for (gpu, s) in &self.by_gpu {
            line(out, gpu, s)?;
        }
        line(out, "all", &self.all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &Path, text: &str) -> Result<Vec<Step>> {
        Steps::parse(p, text).map(|s| s.rows)
    }

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
    fn blank_and_comment_lines_keep_line_numbers() {
        let p = Path::new("s.csv");
        let text = "# steps\n\n  \n model , gpu,tp,phase,batch,tokens,context,ms,note\n  # indented\n\nqwen3-8b, h100 ,2,prefill,1,512,0,3.5,x\r\nqwen3-8b,h200,1,decode,4,1,100,1\n";
        let s = Steps::parse(p, text).unwrap();
        let got: Vec<_> = s
            .rows
            .iter()
            .map(|r| (r.line, r.gpu.as_str(), r.tp, r.phase))
            .collect();
        assert_eq!(
            got,
            [
                (7, "h100", 2, Phase::Prefill),
                (8, "h200", 1, Phase::Decode)
            ]
        );
        let e = Steps::parse(p, "# only\n\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.csv: empty file (expected a header: model,gpu,tp,phase,batch,tokens,context,ms)"
        );
        let e = Steps::parse(p, "model,gpu,tp,phase,batch,tokens,context,ms\n").unwrap_err();
        assert_eq!(e.to_string(), "s.csv: no rows after the header");
        let e = Steps::parse(
            p,
            "model,gpu,tp,phase,batch,tokens,context,ms\n\nq,h100,1,decode,1,1,0,1\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.csv:3: column `context`: a decode row needs a context of at least 1 token"
        );
    }

    #[test]
    fn shapes_follow_the_row() {
        let row = Step {
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
        let d = shape(&Step {
            phase: Phase::Decode,
            ..row
        })
        .unwrap();
        assert_eq!((d.decode_seqs, d.decode_context_tokens), (4, 400));
    }
}
