//! Reading back what runs, sweeps and plans wrote (`requests.csv`, `timeseries.csv`,
//! `sweep.csv`, `plan.csv`, `pareto.csv` and the JSON files), for reports.
//!
//! Invariant: every problem is an [`InputError`] naming the file, and the line and column
//! where there is one; nothing here panics on bad input.

use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A report input is missing or malformed. Fatal for the report.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CSV is malformed (wrong number of fields, bad UTF-8).
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV error.
        source: csv::Error,
    },
    /// A column the report needs is not in the header.
    #[error("{path}: missing column `{column}`")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// A cell does not hold what its column should.
    #[error("{path}:{line}: column `{column}`: {value:?} is not {expected}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// The JSON is malformed or lacks a field.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// serde_json's message, with the field path.
        message: String,
    },
    /// The files of a run folder do not all come from the run `summary.json` describes
    /// (an interrupted or concurrent run, or an edited file). Fatal for the report.
    #[error(
        "{}: {file} does not belong to the run summary.json describes ({detail}): the folder mixes files of two runs (or a file was edited); run `xpyd run` into it again",
        dir.display()
    )]
    MixedRun {
        /// The run folder.
        dir: PathBuf,
        /// The file at odds with `summary.json`.
        file: &'static str,
        /// How it differs.
        detail: String,
    },
    /// The samples of `timeseries.csv` are closer than the 1 µs its times resolve.
    #[error(
        "{}: column `time_s`: samples {gap_s:.3e} s apart; windows must be at least 1 µs (1e-6 s)",
        path.display()
    )]
    Window {
        /// The file.
        path: PathBuf,
        /// The smallest gap between sample times, s.
        gap_s: f64,
    },
    /// A plan shard file is malformed or of another format.
    #[error("{file}: not a plan shard file: {message}")]
    Shard {
        /// The file (as named by the caller).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A path given to merge cannot be used.
    #[error("--merge {}: {message}", path.display())]
    Merge {
        /// The path.
        path: PathBuf,
        /// What failed.
        message: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A folder given to merge holds no shard file.
    #[error("--merge {}: the folder holds no shard-I-of-N.json file", path.display())]
    NoShards {
        /// The folder.
        path: PathBuf,
    },
    /// The folder holds none of the outputs a report is built from.
    #[error(
        "{path}: not a run, sweep or plan folder (expected summary.json, sweep.csv or plan.csv)"
    )]
    UnknownDir {
        /// The folder.
        path: PathBuf,
    },
}

/// Read a JSON file into `T`, naming the field on error.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, InputError> {
    let text = xpyd_models::file::read_text(path, xpyd_models::file::MAX_TEXT_FILE_BYTES).map_err(
        |source| InputError::Read {
            path: path.to_path_buf(),
            source,
        },
    )?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| InputError::Json {
        path: path.to_path_buf(),
        message: if e.path().to_string() == "." {
            e.inner().to_string()
        } else {
            format!("{}: {}", e.path(), e.inner())
        },
    })
}

/// The cells of one column, each followed by [`END`], in row order.
///
/// Cells come from `csv::StringRecord`s, so they are valid UTF-8 and never hold
/// [`END`] (0xFF is not a UTF-8 byte): one byte per cell marks its end, with no offsets.
#[derive(Debug, Default)]
struct TextColumn(Vec<u8>);

/// Ends a cell in a [`TextColumn`].
const END: u8 = 0xFF;

impl TextColumn {
    fn push(&mut self, cell: &str) {
        self.0.extend_from_slice(cell.as_bytes());
        self.0.push(END);
    }

    /// The cells in row order.
    fn cells(&self) -> impl Iterator<Item = &str> + '_ {
        self.0
            .split_inclusive(|&b| b == END)
            .map(|c| std::str::from_utf8(&c[..c.len() - 1]).expect("cells are pushed as &str"))
    }
}

/// The line each row starts on, stored as the rows where the line is not the one after
/// the previous row's (a quoted newline, a skipped blank line), each with its line.
#[derive(Debug, Default)]
struct Lines {
    /// `(row, line)`, rows increasing; the first row is always here.
    jumps: Vec<(usize, u64)>,
    /// The line the next row starts on unless it jumps (none before the first row).
    next: Option<u64>,
}

impl Lines {
    fn push(&mut self, row: usize, line: u64) {
        if self.next != Some(line) {
            self.jumps.push((row, line));
        }
        self.next = Some(line + 1);
    }

    /// The 1-based line of `row`.
    fn of(&self, row: usize) -> u64 {
        let k = self.jumps.partition_point(|&(r, _)| r <= row);
        let (r, line) = self.jumps[k - 1];
        line + (row - r) as u64
    }
}

/// A CSV file held as the text cells of the columns asked for, one contiguous buffer per
/// column, with typed accessors that name the cell on error.
///
/// Memory is the text of the required columns plus one byte per cell; the other columns
/// are checked for shape (the CSV reader rejects ragged rows) but not kept.
#[derive(Debug)]
pub struct CsvTable {
    path: PathBuf,
    header: BTreeMap<String, usize>,
    /// The required columns.
    columns: BTreeMap<String, TextColumn>,
    rows: usize,
    lines: Lines,
}

impl CsvTable {
    /// Read `path`; `required` columns must be in its header, and only they are kept.
    pub fn read(path: &Path, required: &[&str]) -> Result<CsvTable, InputError> {
        CsvTable::read_with(path, required, &[])
    }

    /// [`CsvTable::read`] that also keeps the `optional` columns the header has (ask
    /// [`CsvTable::has`] before reading one).
    pub fn read_with(
        path: &Path,
        required: &[&str],
        optional: &[&str],
    ) -> Result<CsvTable, InputError> {
        let file = xpyd_models::file::check_regular(path)
            .and_then(|()| std::fs::File::open(path))
            .map_err(|source| InputError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let mut r = csv::Reader::from_reader(std::io::BufReader::new(file));
        let csv_err = |source| InputError::Csv {
            path: path.to_path_buf(),
            source,
        };
        let header: BTreeMap<String, usize> = r
            .headers()
            .map_err(csv_err)?
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), i))
            .collect();
        let mut keep = Vec::with_capacity(required.len());
        for c in required {
            match header.get(*c) {
                Some(&i) => keep.push(((*c).to_string(), i)),
                None => {
                    return Err(InputError::MissingColumn {
                        path: path.to_path_buf(),
                        column: (*c).to_string(),
                    });
                }
            }
        }
        for c in optional {
            if let Some(&i) = header.get(*c) {
                keep.push(((*c).to_string(), i));
            }
        }
        keep.sort();
        keep.dedup();
        let mut text: Vec<TextColumn> = keep.iter().map(|_| TextColumn::default()).collect();
        let mut lines = Lines::default();
        let mut rows = 0;
        let mut rec = csv::StringRecord::new();
        while r.read_record(&mut rec).map_err(csv_err)? {
            lines.push(rows, rec.position().map_or(0, |p| p.line()));
            for ((_, i), col) in keep.iter().zip(&mut text) {
                col.push(rec.get(*i).unwrap_or(""));
            }
            rows += 1;
        }
        let columns = keep
            .into_iter()
            .zip(text)
            .map(|((name, _), mut col)| {
                col.0.shrink_to_fit();
                (name, col)
            })
            .collect();
        lines.jumps.shrink_to_fit();
        Ok(CsvTable {
            path: path.to_path_buf(),
            header,
            columns,
            rows,
            lines,
        })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the header has `column`.
    pub fn has(&self, column: &str) -> bool {
        self.header.contains_key(column)
    }

    /// The text of a required column.
    ///
    /// Panics if `column` was not among `required` when reading, or was taken: a bug in
    /// the caller.
    fn text_of(&self, column: &str) -> &TextColumn {
        self.columns
            .get(column)
            .unwrap_or_else(|| self.not_kept(column))
    }

    fn not_kept(&self, column: &str) -> ! {
        panic!(
            "{}: column `{column}` was not asked for when reading, or was taken",
            self.path.display()
        )
    }

    fn bad(&self, row: usize, column: &str, value: &str, expected: &'static str) -> InputError {
        InputError::BadValue {
            path: self.path.clone(),
            line: self.lines.of(row),
            column: column.to_string(),
            value: value.to_string(),
            expected,
        }
    }

    fn parse<T: Cell>(&self, column: &str, text: &TextColumn) -> Result<Vec<T>, InputError> {
        let mut out = Vec::with_capacity(self.rows);
        for (row, v) in text.cells().enumerate() {
            out.push(T::parse(v).map_err(|expected| self.bad(row, column, v, expected))?);
        }
        Ok(out)
    }

    /// A required column, each cell parsed as `T`.
    pub fn column<T: Cell>(&self, column: &str) -> Result<Vec<T>, InputError> {
        self.parse(column, self.text_of(column))
    }

    /// Like [`CsvTable::column`], and frees the column's text: for large tables, read
    /// column by column so that the text and the values are not all held at once.
    pub fn take<T: Cell>(&mut self, column: &str) -> Result<Vec<T>, InputError> {
        let text = self
            .columns
            .remove(column)
            .unwrap_or_else(|| self.not_kept(column));
        self.parse(column, &text)
    }

    /// A column of optional numbers (empty cells are `None`).
    pub fn opt_f64(&self, column: &str) -> Result<Vec<Option<f64>>, InputError> {
        self.column(column)
    }

    /// A column of numbers.
    pub fn f64(&self, column: &str) -> Result<Vec<f64>, InputError> {
        self.column(column)
    }

    /// A column of optional non-negative integers.
    pub fn opt_u64(&self, column: &str) -> Result<Vec<Option<u64>>, InputError> {
        self.column(column)
    }

    /// A column of non-negative integers.
    pub fn u64(&self, column: &str) -> Result<Vec<u64>, InputError> {
        self.column(column)
    }

    /// A column of optional booleans (`true`/`false`).
    pub fn opt_bool(&self, column: &str) -> Result<Vec<Option<bool>>, InputError> {
        self.column(column)
    }

    /// A column of text.
    pub fn text(&self, column: &str) -> Vec<String> {
        self.text_of(column).cells().map(str::to_string).collect()
    }

    /// A column of text with few distinct values, as [`Labels`].
    pub fn labels(&self, column: &str) -> Labels {
        self.text_of(column).cells().collect()
    }
}

/// What a cell parses into.
pub trait Cell: Sized {
    /// The value of `cell`, or what it should be (`a finite number`).
    fn parse(cell: &str) -> Result<Self, &'static str>;
}

/// Largest magnitude a number of a table may have: far above any time, rate, size or
/// cost a run writes (times are at most 10^7 s), and far enough below `f64::MAX` that
/// chart ranges and their tick steps stay finite (a latency of 1.8e308 ms hung the
/// chart's axis).
pub const MAX_CELL_MAGNITUDE: f64 = 1e15;

impl Cell for f64 {
    fn parse(cell: &str) -> Result<f64, &'static str> {
        match cell.parse::<f64>() {
            Ok(x) if x.is_finite() && x.abs() <= MAX_CELL_MAGNITUDE => Ok(x),
            Ok(x) if x.is_finite() => Err("a number in [-1e15, 1e15]"),
            _ => Err("a finite number"),
        }
    }
}

impl Cell for u64 {
    fn parse(cell: &str) -> Result<u64, &'static str> {
        cell.parse::<u64>().map_err(|_| "a non-negative integer")
    }
}

impl Cell for u32 {
    fn parse(cell: &str) -> Result<u32, &'static str> {
        cell.parse::<u32>()
            .map_err(|_| "a non-negative integer below 2^32")
    }
}

impl Cell for bool {
    fn parse(cell: &str) -> Result<bool, &'static str> {
        match cell {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("true or false"),
        }
    }
}

impl Cell for Option<bool> {
    fn parse(cell: &str) -> Result<Option<bool>, &'static str> {
        match cell {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err("true or false"),
        }
    }
}

/// An empty cell is `None`.
impl Cell for Option<f64> {
    fn parse(cell: &str) -> Result<Option<f64>, &'static str> {
        if cell.is_empty() {
            Ok(None)
        } else {
            f64::parse(cell).map(Some)
        }
    }
}

/// An empty cell is `None`.
impl Cell for Option<u64> {
    fn parse(cell: &str) -> Result<Option<u64>, &'static str> {
        if cell.is_empty() {
            Ok(None)
        } else {
            u64::parse(cell).map(Some)
        }
    }
}

impl Cell for String {
    fn parse(cell: &str) -> Result<String, &'static str> {
        Ok(cell.to_string())
    }
}

/// A text column with few distinct values (`prefill`, `decode`): each row's index into
/// `names`, which are the distinct values in first-appearance order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// The distinct values, in first-appearance order.
    pub names: Vec<String>,
    /// Per row, its value's index in `names`.
    pub codes: Vec<u32>,
}

impl Labels {
    /// Rows.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The value of row `i`.
    pub fn get(&self, i: usize) -> &str {
        &self.names[self.codes[i] as usize]
    }
}

impl<S: AsRef<str>> FromIterator<S> for Labels {
    fn from_iter<I: IntoIterator<Item = S>>(rows: I) -> Labels {
        let mut index: BTreeMap<String, u32> = BTreeMap::new();
        let mut out = Labels::default();
        for s in rows {
            let s = s.as_ref();
            let code = match index.get(s) {
                Some(&c) => c,
                None => {
                    let c = u32::try_from(out.names.len()).expect("fewer than 2^32 labels");
                    index.insert(s.to_string(), c);
                    out.names.push(s.to_string());
                    c
                }
            };
            out.codes.push(code);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xpyd-input-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let p = tmp("r.csv", "a,b\n1,2\n3,x\n");
        let t = CsvTable::read(&p, &["a", "b"]).unwrap();
        assert_eq!(t.f64("a").unwrap(), vec![1.0, 3.0]);
        let e = t.f64("b").unwrap_err().to_string();
        assert!(
            e.contains("r.csv:3") && e.contains("`b`") && e.contains("\"x\""),
            "{e}"
        );
        let e = CsvTable::read(&p, &["c"]).unwrap_err().to_string();
        assert!(e.contains("missing column `c`"), "{e}");
        let p = tmp("ragged.csv", "a,b\n1\n");
        let e = CsvTable::read(&p, &["a"]).unwrap_err().to_string();
        assert!(e.contains("ragged.csv"), "{e}");
    }

    #[test]
    fn lines_count_quoted_newlines() {
        // Row 1 spans lines 3-4, so the rows after it are a line further down.
        let p = tmp("q.csv", "a,b\n1,x\n2,\"y\nz\"\n3,\n4,w\nfive,v\n");
        let t = CsvTable::read(&p, &["a", "b"]).unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t.text("b"), vec!["x", "y\nz", "", "w", "v"]);
        let e = t.u64("a").unwrap_err().to_string();
        assert!(e.contains("q.csv:7") && e.contains("\"five\""), "{e}");
        let lines: Vec<u64> = (0..t.len()).map(|r| t.lines.of(r)).collect();
        assert_eq!(lines, vec![2, 3, 5, 6, 7]);
    }

    #[test]
    fn keeps_only_required_columns_and_take_frees_them() {
        let p = tmp("k.csv", "a,b,c\n1,,x\n2,2.5,y\n");
        let mut t = CsvTable::read(&p, &["a", "b", "b"]).unwrap();
        assert!(t.has("c"));
        assert_eq!(t.columns.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(t.opt_f64("b").unwrap(), vec![None, Some(2.5)]);
        assert_eq!(t.take::<u64>("a").unwrap(), vec![1, 2]);
        assert!(!t.columns.contains_key("a"));
        let e = t.take::<f64>("b").unwrap_err().to_string();
        assert!(e.contains("k.csv:2") && e.contains("finite"), "{e}");
        let empty = tmp("e.csv", "a\n");
        let t = CsvTable::read(&empty, &["a"]).unwrap();
        assert!(t.is_empty() && t.u64("a").unwrap().is_empty());
    }

    #[test]
    #[should_panic(expected = "not asked for")]
    fn asking_for_an_unread_column_is_a_bug() {
        let p = tmp("u.csv", "a,b\n1,2\n");
        let t = CsvTable::read(&p, &["a"]).unwrap();
        let _ = t.u64("b");
    }

    #[test]
    fn labels_number_values_in_first_appearance_order() {
        let l: Labels = ["decode", "prefill", "decode", "x"].into_iter().collect();
        assert_eq!(l.names, ["decode", "prefill", "x"]);
        assert_eq!(l.codes, [0, 1, 0, 2]);
        assert_eq!((l.len(), l.get(2)), (4, "decode"));
    }
}
