//! Data files a workload reads: traces and empirical length tables, on disk or built in.
//!
//! Invariants: a file is read whole once, when the generator is built; gzip is detected
//! by its magic bytes (`1f 8b`), not by the file name. `builtin:<name>` files are the
//! copies in `sim/data/` embedded at compile time, so they work without any file next
//! to the binary. Token counts read from tables are integers >= 1; anything else is a
//! [`WorkloadError::Parse`] naming `file:line` and the column. The columns of a built-in
//! table are parsed once per process and shared (immutable compiled-in data, so this
//! cannot make runs differ); files on disk are read every time.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::error::WorkloadError;
use super::file::TraceFormat;
use crate::limits::MAX_DATA_BYTES;

/// A data file shipped inside the binary.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    /// Azure LLM inference trace 2023, conversation service.
    Azure2023Conv,
    /// Azure LLM inference trace 2023, coding service.
    Azure2023Code,
    /// Mooncake FAST'25 conversation trace.
    MooncakeConversation,
    /// Mooncake FAST'25 synthetic trace.
    MooncakeSynthetic,
    /// ShareGPT 8k-filtered length statistics (Llama-2 tokenizer).
    ShareGpt,
}

impl Builtin {
    /// Every built-in file.
    pub(crate) const ALL: [Builtin; 5] = [
        Builtin::Azure2023Conv,
        Builtin::Azure2023Code,
        Builtin::MooncakeConversation,
        Builtin::MooncakeSynthetic,
        Builtin::ShareGpt,
    ];

    /// The name after `builtin:`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Builtin::Azure2023Conv => "azure-2023-conv",
            Builtin::Azure2023Code => "azure-2023-code",
            Builtin::MooncakeConversation => "mooncake-conversation",
            Builtin::MooncakeSynthetic => "mooncake-synthetic",
            Builtin::ShareGpt => "sharegpt",
        }
    }

    /// The gzip-compressed bytes.
    fn bytes(self) -> &'static [u8] {
        match self {
            Builtin::Azure2023Conv => include_bytes!("../../data/azure2023_conv.csv.gz"),
            Builtin::Azure2023Code => include_bytes!("../../data/azure2023_code.csv.gz"),
            Builtin::MooncakeConversation => {
                include_bytes!("../../data/mooncake_fast25_conversation_trace.jsonl.gz")
            }
            Builtin::MooncakeSynthetic => {
                include_bytes!("../../data/mooncake_fast25_synthetic_trace.jsonl.gz")
            }
            Builtin::ShareGpt => {
                include_bytes!("../../data/sharegpt_8k_filtered_stats_llama2_tokenizer.csv.gz")
            }
        }
    }

    /// The trace format of the file, when it is a trace.
    pub(crate) fn trace_format(self) -> Option<TraceFormat> {
        match self {
            Builtin::Azure2023Conv | Builtin::Azure2023Code => Some(TraceFormat::Azure2023),
            Builtin::MooncakeConversation | Builtin::MooncakeSynthetic => {
                Some(TraceFormat::Mooncake)
            }
            Builtin::ShareGpt => None,
        }
    }

    /// The (input, output) token columns, when the file is a CSV table.
    pub(crate) fn length_columns(self) -> Option<(&'static str, &'static str)> {
        match self {
            Builtin::Azure2023Conv | Builtin::Azure2023Code => {
                Some(("ContextTokens", "GeneratedTokens"))
            }
            Builtin::ShareGpt => Some(("num_prefill_tokens", "num_decode_tokens")),
            Builtin::MooncakeConversation | Builtin::MooncakeSynthetic => None,
        }
    }
}

/// Where a data file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DataSource {
    /// A file embedded in the binary.
    Builtin(Builtin),
    /// A file on disk (already resolved against the scenario folder).
    File(PathBuf),
}

/// The prefix that names embedded files.
const BUILTIN_PREFIX: &str = "builtin:";

impl DataSource {
    /// Resolves `spec` (`builtin:<name>` or a path, relative ones against `base_dir`) and
    /// checks that the file exists; `field` is the TOML path for errors.
    pub(crate) fn resolve(
        spec: &str,
        base_dir: &Path,
        field: &str,
    ) -> Result<DataSource, WorkloadError> {
        if let Some(name) = spec.strip_prefix(BUILTIN_PREFIX) {
            return Builtin::ALL
                .into_iter()
                .find(|b| b.name() == name)
                .map(DataSource::Builtin)
                .ok_or_else(|| {
                    let names: Vec<String> = Builtin::ALL
                        .iter()
                        .map(|b| format!("{BUILTIN_PREFIX}{}", b.name()))
                        .collect();
                    WorkloadError::invalid(
                        field,
                        format!(
                            "unknown built-in file `{spec}`; known: {}",
                            names.join(", ")
                        ),
                    )
                });
        }
        if spec.trim().is_empty() {
            return Err(WorkloadError::invalid(field, "the path is empty"));
        }
        let path = base_dir.join(spec);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(DataSource::File(path)),
            Ok(_) => Err(WorkloadError::invalid(
                field,
                format!("`{}` is not a file", path.display()),
            )),
            Err(e) => Err(WorkloadError::invalid(
                field,
                format!("cannot open `{}`: {e}", path.display()),
            )),
        }
    }

    /// The name used in messages: the path, or `builtin:<name>`.
    pub(crate) fn label(&self) -> String {
        match self {
            DataSource::Builtin(b) => format!("{BUILTIN_PREFIX}{}", b.name()),
            DataSource::File(p) => p.display().to_string(),
        }
    }

    /// The whole file, decompressed when it starts with the gzip magic bytes.
    pub(crate) fn read(&self) -> Result<Vec<u8>, WorkloadError> {
        let raw = match self {
            DataSource::Builtin(b) => b.bytes().to_vec(),
            DataSource::File(p) => xpyd_models::file::read_bytes(p, MAX_DATA_BYTES)
                .map_err(|e| WorkloadError::io(&self.label(), e))?,
        };
        if raw.starts_with(&[0x1f, 0x8b]) {
            // Decompressed, the data is held to the same bound (a small gzip file can
            // expand a thousandfold).
            xpyd_models::file::read_limited(
                flate2::read::MultiGzDecoder::new(raw.as_slice()),
                MAX_DATA_BYTES,
            )
            .map_err(|e| WorkloadError::io(&self.label(), e))
        } else {
            Ok(raw)
        }
    }
}

/// Parses a token count: an integer >= 1 (an integral float such as `12.0` is accepted).
pub(crate) fn parse_tokens(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let v = match t.parse::<u64>() {
        Ok(v) => v,
        Err(_) => match t.parse::<f64>() {
            Ok(f) if f.is_finite() && f.fract() == 0.0 && f >= 0.0 => f as u64,
            _ => {
                return Err(format!(
                    "`{}` is not a token count (a whole number >= 1)",
                    excerpt(t)
                ));
            }
        },
    };
    match u32::try_from(v) {
        Ok(0) => Err("0 tokens (token counts must be >= 1)".to_owned()),
        Ok(v) => Ok(v),
        Err(_) => Err(format!("{v} tokens is more than {}", u32::MAX)),
    }
}

/// A cell of a user's file as shown in an error: at most [`EXCERPT_CHARS`] characters
/// (then `...`), control characters as `?`, so an error never carries more of a file
/// than the offending field's start.
pub(crate) fn excerpt(cell: &str) -> String {
    let mut out: String = cell
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if cell.chars().nth(EXCERPT_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

/// Most characters of a file's cell an error shows.
const EXCERPT_CHARS: usize = 40;

/// One requested CSV column: its header and the TOML field that named it.
pub(crate) struct ColumnRequest<'a> {
    /// The header of the column.
    pub(crate) header: &'a str,
    /// The TOML path that chose the column (for errors about a missing header).
    pub(crate) field: &'a str,
}

/// Columns of built-in tables already parsed, keyed by table and column headers.
type ParsedColumns = Vec<((Builtin, Vec<String>), Vec<Vec<u32>>)>;

/// The built-in tables' columns, parsed once per process and shared.
///
/// Like the built-in calibration profiles (`xpyd_models::calibrated`), this holds
/// immutable data parsed from constants compiled into the binary, so it cannot make two
/// runs differ; it spares every simulation of a plan (hundreds of probes) the gunzip and
/// CSV parse of the same table. Files on disk are read every time (they may change).
static BUILTIN_COLUMNS: Mutex<ParsedColumns> = Mutex::new(Vec::new());

/// Reads the named columns of a CSV table (header row required) as token counts:
/// `out[i][row]` is the value of `columns[i]` in data row `row`. Errors on an empty table.
/// Built-in tables are parsed once per process (see [`BUILTIN_COLUMNS`]).
pub(crate) fn read_token_columns(
    src: &DataSource,
    columns: &[ColumnRequest<'_>],
) -> Result<Vec<Vec<u32>>, WorkloadError> {
    let DataSource::Builtin(b) = src else {
        return parse_token_columns(src, columns);
    };
    let key = (*b, columns.iter().map(|c| c.header.to_string()).collect());
    // A panic elsewhere while holding the lock leaves the data intact (entries are only
    // ever pushed whole), so a poisoned lock is still usable.
    let mut cache = BUILTIN_COLUMNS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, cols)) = cache.iter().find(|(k, _)| *k == key) {
        return Ok(cols.clone());
    }
    let cols = parse_token_columns(src, columns)?;
    cache.push((key, cols.clone()));
    Ok(cols)
}

/// [`read_token_columns`] without the cache: read and parse `src` now.
fn parse_token_columns(
    src: &DataSource,
    columns: &[ColumnRequest<'_>],
) -> Result<Vec<Vec<u32>>, WorkloadError> {
    let label = src.label();
    let bytes = src.read()?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let headers = reader.headers().map_err(|e| csv_error(&label, &e))?.clone();
    let mut index = Vec::with_capacity(columns.len());
    for c in columns {
        match headers.iter().position(|h| h == c.header) {
            Some(i) => index.push(i),
            None => {
                // A user's file may be anything (a scenario can name any path): its
                // header line is not echoed, only the shipped tables' columns are listed.
                let have = match src {
                    DataSource::Builtin(_) => {
                        let have: Vec<&str> = headers.iter().collect();
                        format!("its header has: {}", have.join(", "))
                    }
                    DataSource::File(_) => format!(
                        "its first line, the CSV header, has {} column(s)",
                        headers.len()
                    ),
                };
                return Err(WorkloadError::invalid(
                    c.field,
                    format!("`{label}` has no column `{}` ({have})", c.header),
                ));
            }
        }
    }
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); columns.len()];
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&label, &e))?;
        let line = record.position().map_or(0, csv::Position::line);
        for (k, &i) in index.iter().enumerate() {
            let cell = record.get(i).unwrap_or("");
            let v = parse_tokens(cell)
                .map_err(|m| WorkloadError::parse(&label, line, columns[k].header, m))?;
            out[k].push(v);
        }
    }
    if out.first().is_none_or(Vec::is_empty) {
        return Err(WorkloadError::parse(
            &label,
            0,
            "-",
            "the table has no data rows",
        ));
    }
    Ok(out)
}

/// A CSV reader error as a [`WorkloadError::Parse`].
pub(crate) fn csv_error(label: &str, e: &csv::Error) -> WorkloadError {
    let line = e.position().map_or(0, csv::Position::line);
    WorkloadError::parse(label, line, "-", e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_parse_strictly() {
        assert_eq!(parse_tokens(" 12 "), Ok(12));
        assert_eq!(parse_tokens("12.0"), Ok(12));
        assert!(parse_tokens("0").is_err());
        assert!(parse_tokens("1.5").is_err());
        assert!(parse_tokens("-3").is_err());
        assert!(parse_tokens("x").is_err());
        assert!(parse_tokens("99999999999").is_err());
    }

    #[test]
    fn builtin_names_resolve_and_unknown_ones_list_the_known() {
        let d = Path::new(".");
        assert_eq!(
            DataSource::resolve("builtin:sharegpt", d, "f").ok(),
            Some(DataSource::Builtin(Builtin::ShareGpt))
        );
        let e = DataSource::resolve("builtin:nope", d, "workload.trace.path");
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("workload.trace.path: "), "{msg}");
        assert!(msg.contains("builtin:azure-2023-conv"), "{msg}");
    }

    #[test]
    fn builtin_sharegpt_has_all_rows() {
        let cols = read_token_columns(
            &DataSource::Builtin(Builtin::ShareGpt),
            &[
                ColumnRequest {
                    header: "num_prefill_tokens",
                    field: "a",
                },
                ColumnRequest {
                    header: "num_decode_tokens",
                    field: "b",
                },
            ],
        );
        let cols = cols.unwrap_or_default();
        assert_eq!(cols.len(), 2);
        assert_eq!(cols[0].len(), 30_731);
        assert_eq!(cols[1].len(), 30_731);
        assert_eq!((cols[0][0], cols[1][0]), (74, 918));
    }
}
