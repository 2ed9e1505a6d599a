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

/// A CSV file held as text cells, with typed accessors that name the cell on error.
#[derive(Debug)]
pub struct CsvTable {
    path: PathBuf,
    columns: BTreeMap<String, usize>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl CsvTable {
    /// Read `path`; `required` columns must be in its header.
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
        let header = r.headers().map_err(csv_err)?.clone();
        let columns: BTreeMap<String, usize> = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), i))
            .collect();
        for c in required {
            if !columns.contains_key(*c) {
                return Err(InputError::MissingColumn {
                    path: path.to_path_buf(),
                    column: (*c).to_string(),
                });
            }
        }
        let mut rows = Vec::new();
        for rec in r.records() {
            let rec = rec.map_err(csv_err)?;
            let line = rec.position().map_or(0, |p| p.line());
            rows.push((line, rec));
        }
        Ok(CsvTable {
            path: path.to_path_buf(),
            columns,
            rows,
        })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether the header has `column`.
    pub fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    fn cells<'a>(&'a self, column: &'a str) -> impl Iterator<Item = (u64, &'a str)> + 'a {
        let i = self.columns.get(column).copied();
        self.rows
            .iter()
            .map(move |(line, r)| (*line, i.and_then(|i| r.get(i)).unwrap_or("")))
    }

    fn bad(&self, line: u64, column: &str, value: &str, expected: &'static str) -> InputError {
        InputError::BadValue {
            path: self.path.clone(),
            line,
            column: column.to_string(),
            value: value.to_string(),
            expected,
        }
    }

    /// A column of optional numbers (empty cells are `None`).
    pub fn opt_f64(&self, column: &str) -> Result<Vec<Option<f64>>, InputError> {
        self.cells(column)
            .map(|(line, v)| {
                if v.is_empty() {
                    return Ok(None);
                }
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(Some(x)),
                    _ => Err(self.bad(line, column, v, "a finite number")),
                }
            })
            .collect()
    }

    /// A column of numbers.
    pub fn f64(&self, column: &str) -> Result<Vec<f64>, InputError> {
        self.cells(column)
            .map(|(line, v)| match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(x),
                _ => Err(self.bad(line, column, v, "a finite number")),
            })
            .collect()
    }

    /// A column of optional non-negative integers.
    pub fn opt_u64(&self, column: &str) -> Result<Vec<Option<u64>>, InputError> {
        self.cells(column)
            .map(|(line, v)| {
                if v.is_empty() {
                    return Ok(None);
                }
                v.parse::<u64>()
                    .map(Some)
                    .map_err(|_| self.bad(line, column, v, "a non-negative integer"))
            })
            .collect()
    }

    /// A column of non-negative integers.
    pub fn u64(&self, column: &str) -> Result<Vec<u64>, InputError> {
        self.cells(column)
            .map(|(line, v)| {
                v.parse::<u64>()
                    .map_err(|_| self.bad(line, column, v, "a non-negative integer"))
            })
            .collect()
    }

    /// A column of optional booleans (`true`/`false`).
    pub fn opt_bool(&self, column: &str) -> Result<Vec<Option<bool>>, InputError> {
        self.cells(column)
            .map(|(line, v)| match v {
                "" => Ok(None),
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(self.bad(line, column, v, "true or false")),
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
