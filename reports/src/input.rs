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
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
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
        let file = std::fs::File::open(path).map_err(|source| InputError::Read {
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

    /// `(row, cell)` of a required column.
    ///
    /// Panics if `column` was not among `required` when reading: a bug in the caller.
    fn cells<'a>(&'a self, column: &'a str) -> impl Iterator<Item = (usize, &'a str)> + 'a {
        let col = self.columns.get(column).unwrap_or_else(|| {
            panic!(
                "{}: column `{column}` was not asked for when reading",
                self.path.display()
            )
        });
        col.cells().enumerate()
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

    /// A column of optional numbers (empty cells are `None`).
    pub fn opt_f64(&self, column: &str) -> Result<Vec<Option<f64>>, InputError> {
        self.cells(column)
            .map(|(row, v)| {
                if v.is_empty() {
                    return Ok(None);
                }
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(Some(x)),
                    _ => Err(self.bad(row, column, v, "a finite number")),
                }
            })
            .collect()
    }

    /// A column of numbers.
    pub fn f64(&self, column: &str) -> Result<Vec<f64>, InputError> {
        self.cells(column)
            .map(|(row, v)| match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(self.bad(row, column, v, "a finite number")),
            })
            .collect()
    }

    /// A column of optional non-negative integers.
    pub fn opt_u64(&self, column: &str) -> Result<Vec<Option<u64>>, InputError> {
        self.cells(column)
            .map(|(row, v)| {
                if v.is_empty() {
                    return Ok(None);
                }
                v.parse::<u64>()
                    .map(Some)
                    .map_err(|_| self.bad(row, column, v, "a non-negative integer"))
            })
            .collect()
    }

    /// A column of non-negative integers.
    pub fn u64(&self, column: &str) -> Result<Vec<u64>, InputError> {
        self.cells(column)
            .map(|(row, v)| {
                v.parse::<u64>()
                    .map_err(|_| self.bad(row, column, v, "a non-negative integer"))
            })
            .collect()
    }

    /// A column of optional booleans (`true`/`false`).
    pub fn opt_bool(&self, column: &str) -> Result<Vec<Option<bool>>, InputError> {
        self.cells(column)
            .map(|(row, v)| match v {
                "" => Ok(None),
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(self.bad(row, column, v, "true or false")),
            })
            .collect()
    }

    /// A column of text.
    pub fn text(&self, column: &str) -> Vec<String> {
        self.cells(column).map(|(_, v)| v.to_string()).collect()
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
}
