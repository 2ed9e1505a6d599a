//! `xpyd workload from-log`: a replayable trace from request logs.
//!
//! Input: JSONL (one JSON object per line; `.jsonl`, `.ndjson`, `.json`, or a file whose
//! first non-blank byte is `{`) or CSV with a header row (anything else). Each record
//! needs a timestamp and the prompt and completion token counts; the fields are found by
//! name, the first of each list present in the first record (a dotted name reaches into
//! nested JSON objects; in CSV it is the header as written), unless given by flag:
//! - timestamp: `timestamp`, `created`, `start_time`, `request_time`, `arrival_time`,
//!   `time`, `ts`, `startTime`, `@timestamp`: a number (epoch seconds, or ms / µs / ns
//!   told apart by magnitude: below 1e11 seconds, 1e14 ms, 1e17 µs; small numbers are
//!   seconds from any origin) or an RFC 3339 / `YYYY-MM-DD HH:MM:SS[.f]` string (UTC
//!   without a zone);
//! - prompt tokens: `usage.prompt_tokens`, `usage.input_tokens`,
//!   `response.usage.prompt_tokens`, `prompt_tokens`, `input_tokens`, `input_length`,
//!   `num_prompt_tokens`;
//! - completion tokens: `usage.completion_tokens`, `usage.output_tokens`,
//!   `response.usage.completion_tokens`, `completion_tokens`, `output_tokens`,
//!   `output_length`, `num_completion_tokens`.
//!
//! Output: a Mooncake-format trace (JSONL `timestamp` in ms from the first request,
//! `input_length`, `output_length`; no prefix hashes, since logs carry no prompt text),
//! sorted by time (stable), and a `[workload.trace]` section that replays it.
//!
//! Invariants: a record without a field or with a malformed value is an error naming the
//! file, line and field and the value, unless `skip_invalid`, which counts it in the notes
//! instead; prompts of 0 tokens are invalid (the replay needs >= 1). Memory is bounded by
//! [`MAX_RECORDS`] records of 16 bytes and [`super::series::MAX_LINE_BYTES`] per line.

use std::io::{BufRead, Read};
use std::path::Path;

use serde_json::Value;
use xpyd_sim::workload::{TraceFile, TraceFormat, WorkloadFile};

use super::series::{MAX_LINE_BYTES, excerpt, read_line};
use super::time::parse_datetime_ns;
use super::{Inferred, TelemetryError};

/// Most records read.
pub const MAX_RECORDS: usize = 10_000_000;

/// Timestamp field names, in order of preference.
pub const TIMESTAMP_FIELDS: [&str; 9] = [
    "timestamp",
    "created",
    "start_time",
    "request_time",
    "arrival_time",
    "time",
    "ts",
    "startTime",
    "@timestamp",
];
/// Prompt-token field names.
pub const INPUT_FIELDS: [&str; 7] = [
    "usage.prompt_tokens",
    "usage.input_tokens",
    "response.usage.prompt_tokens",
    "prompt_tokens",
    "input_tokens",
    "input_length",
    "num_prompt_tokens",
];
/// Completion-token field names.
pub const OUTPUT_FIELDS: [&str; 7] = [
    "usage.completion_tokens",
    "usage.output_tokens",
    "response.usage.completion_tokens",
    "completion_tokens",
    "output_tokens",
    "output_length",
    "num_completion_tokens",
];

/// Options of the import.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Timestamp field (default: the first of [`TIMESTAMP_FIELDS`] present).
    pub timestamp_field: Option<String>,
    /// Prompt-token field (default: the first of [`INPUT_FIELDS`] present).
    pub input_field: Option<String>,
    /// Completion-token field (default: the first of [`OUTPUT_FIELDS`] present).
    pub output_field: Option<String>,
    /// Skip records lacking a field or with a malformed value (counted in the notes).
    pub skip_invalid: bool,
}

/// One request of the log.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Record {
    at_ns: u64,
    input: u32,
    output: u32,
}

/// The unit a numeric timestamp was read in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Unit {
    S,
    Ms,
    Us,
    Ns,
    Calendar,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::S => "seconds",
            Unit::Ms => "milliseconds",
            Unit::Us => "microseconds",
            Unit::Ns => "nanoseconds",
            Unit::Calendar => "calendar time",
        }
    }
}

/// A request log read: its records in time order and what was noticed.
#[derive(Clone, Debug)]
pub struct RequestLog {
    records: Vec<Record>,
    fields: [String; 3],
    unit: Unit,
    skipped: u64,
    format: &'static str,
    whole_seconds: bool,
}

/// The unit of an epoch number by its magnitude, and its ns per unit.
fn unit_of(x: f64) -> (u64, Unit) {
    if x < 1e11 {
        (1_000_000_000, Unit::S)
    } else if x < 1e14 {
        (1_000_000, Unit::Ms)
    } else if x < 1e17 {
        (1_000, Unit::Us)
    } else {
        (1, Unit::Ns)
    }
}

/// An epoch number as ns, exact for integers (ns since 1970 exceed f64's 53 bits) and to
/// the ns for fractions.
fn epoch_ns(int: Option<u64>, x: f64) -> Result<(u64, Unit), String> {
    if !(x.is_finite() && x >= 0.0) {
        return Err(format!("{x} is not a time >= 0"));
    }
    let (per, unit) = unit_of(x);
    let ns = match int {
        Some(i) => i.checked_mul(per),
        None => {
            let whole = x.trunc();
            (whole as u64)
                .checked_mul(per)
                .and_then(|w| w.checked_add(((x - whole) * per as f64).round() as u64))
        }
    };
    ns.map(|n| (n, unit))
        .ok_or_else(|| format!("{x} is too far in the future"))
}

/// A field's value: a number, or a string holding one or a calendar time.
fn timestamp_of(v: &Value) -> Result<(u64, Unit), String> {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(x) => epoch_ns(n.as_u64(), x),
            None => Err(format!("`{n}` is not a time")),
        },
        Value::String(s) => {
            let t = s.trim();
            match (t.parse::<u64>(), t.parse::<f64>()) {
                (Ok(i), _) => epoch_ns(Some(i), i as f64),
                (_, Ok(x)) => epoch_ns(None, x),
                _ => parse_datetime_ns(s, false)
                    .map(|t| (t, Unit::Calendar))
                    .ok_or_else(|| {
                        format!(
                            "`{}` is neither a number nor a time like 2025-01-01T00:00:00Z",
                            excerpt(s)
                        )
                    }),
            }
        }
        other => Err(format!("`{}` is not a time", excerpt(&other.to_string()))),
    }
}

/// A token count: a whole number >= 0 (also as a string or a float with no fraction).
fn tokens_of(v: &Value) -> Result<u32, String> {
    let x = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match x {
        Some(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 => {
            if x > f64::from(xpyd_sim::limits::MAX_TOKENS) {
                Err(format!(
                    "{x} tokens is more than {}",
                    xpyd_sim::limits::MAX_TOKENS
                ))
            } else {
                Ok(x as u32)
            }
        }
        _ => Err(format!(
            "`{}` is not a whole number of tokens",
            excerpt(&v.to_string())
        )),
    }
}

/// `path.to.field` of a JSON object.
fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(dotted) {
        return Some(x);
    }
    let mut cur = v;
    for part in dotted.split('.') {
        cur = cur.get(part)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// A byte reader that refuses a line longer than [`MAX_LINE_BYTES`] (for CSV, whose
/// reader would otherwise buffer a record of any size).
struct LineCapped<R> {
    inner: R,
    run: usize,
    failed: bool,
}

impl<R: Read> Read for LineCapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.failed {
            return Err(std::io::Error::other("line too long"));
        }
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > MAX_LINE_BYTES {
                    self.failed = true;
                    return Err(std::io::Error::other(format!(
                        "a line longer than {MAX_LINE_BYTES} bytes"
                    )));
                }
            }
        }
        Ok(n)
    }
}

/// Picks `given` or the first candidate `has` finds; the error names the candidates.
/// The timestamp, prompt-token and completion-token fields of a log: each the one
/// `opts` names, else the first of its candidates that `has`.
fn pick_fields(
    opts: &LogOptions,
    has: impl Fn(&str) -> bool,
    path: &Path,
    line: u64,
) -> Result<[String; 3], TelemetryError> {
    Ok([
        pick(
            &opts.timestamp_field,
            &TIMESTAMP_FIELDS,
            &has,
            "timestamp",
            path,
            line,
        )?,
        pick(
            &opts.input_field,
            &INPUT_FIELDS,
            &has,
            "prompt-token",
            path,
            line,
        )?,
        pick(
            &opts.output_field,
            &OUTPUT_FIELDS,
            &has,
            "completion-token",
            path,
            line,
        )?,
    ])
}

fn pick(
    given: &Option<String>,
    candidates: &[&str],
    has: impl Fn(&str) -> bool,
    what: &str,
    path: &Path,
    line: u64,
) -> Result<String, TelemetryError> {
    match given {
        Some(g) => Ok(g.clone()),
        None => candidates
            .iter()
            .find(|c| has(c))
            .map(|c| (*c).to_owned())
            .ok_or_else(|| {
                TelemetryError::parse(
                    path,
                    line,
                    "-",
                    format!(
                        "no {what} field (looked for {}); name it with --{}-field",
                        candidates.join(", "),
                        match what {
                            "timestamp" => "timestamp",
                            "prompt-token" => "input",
                            _ => "output",
                        }
                    ),
                )
            }),
    }
}

impl RequestLog {
    /// Reads `path`.
    pub fn read(path: &Path, opts: &LogOptions) -> Result<RequestLog, TelemetryError> {
        let f = std::fs::File::open(path).map_err(|source| TelemetryError::io(path, source))?;
        let mut r = std::io::BufReader::new(f);
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let jsonl = match ext.as_str() {
            "jsonl" | "ndjson" | "json" => true,
            "csv" => false,
            _ => {
                let buf = r
                    .fill_buf()
                    .map_err(|source| TelemetryError::io(path, source))?;
                buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
            }
        };
        let mut log = if jsonl {
            Self::read_jsonl(path, r, opts)?
        } else {
            Self::read_csv(path, r, opts)?
        };
        if log.records.is_empty() {
            return Err(TelemetryError::parse(
                path,
                0,
                "-",
                "no requests in the log",
            ));
        }
        log.records.sort_by_key(|r| r.at_ns);
        Ok(log)
    }

    fn push(
        &mut self,
        path: &Path,
        line: u64,
        rec: Result<Record, TelemetryError>,
        skip: bool,
    ) -> Result<(), TelemetryError> {
        match rec {
            Ok(r) => {
                if self.records.len() >= MAX_RECORDS {
                    return Err(TelemetryError::parse(
                        path,
                        line,
                        "-",
                        format!("more than {MAX_RECORDS} requests; split the log"),
                    ));
                }
                self.records.push(r);
                Ok(())
            }
            Err(_) if skip => {
                self.skipped += 1;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn empty(format: &'static str) -> RequestLog {
        RequestLog {
            records: Vec::new(),
            fields: Default::default(),
            unit: Unit::S,
            skipped: 0,
            format,
            whole_seconds: true,
        }
    }

    /// One record from three values; `get` finds a field's value.
    fn record(
        &mut self,
        path: &Path,
        line: u64,
        get: impl Fn(&str) -> Option<Value>,
    ) -> Result<Record, TelemetryError> {
        let [tf, inf, outf] = self.fields.clone();
        let field = |name: &str| {
            get(name).ok_or_else(|| TelemetryError::parse(path, line, name, "missing"))
        };
        let tv = field(&tf)?;
        let (at_ns, unit) =
            timestamp_of(&tv).map_err(|m| TelemetryError::parse(path, line, &tf, m))?;
        if let (Value::Number(n), Unit::S) = (&tv, unit) {
            if !n.is_u64() {
                self.whole_seconds = false;
            }
        } else {
            self.whole_seconds = false;
        }
        self.unit = unit;
        let input =
            tokens_of(&field(&inf)?).map_err(|m| TelemetryError::parse(path, line, &inf, m))?;
        if input == 0 {
            return Err(TelemetryError::parse(
                path,
                line,
                &inf,
                "0 prompt tokens (a replayed request needs >= 1)",
            ));
        }
        let output =
            tokens_of(&field(&outf)?).map_err(|m| TelemetryError::parse(path, line, &outf, m))?;
        Ok(Record {
            at_ns,
            input,
            output,
        })
    }

    fn read_jsonl(
        path: &Path,
        mut r: impl BufRead,
        opts: &LogOptions,
    ) -> Result<RequestLog, TelemetryError> {
        let mut log = RequestLog::empty("JSONL");
        let mut buf = Vec::new();
        let mut n = 0u64;
        let mut resolved = false;
        while read_line(path, &mut r, &mut buf, n + 1)? {
            n += 1;
            let text = std::str::from_utf8(&buf)
                .map_err(|_| TelemetryError::parse(path, n, "-", "not UTF-8 text"))?;
            if text.trim().is_empty() {
                continue;
            }
            let v: Value = match serde_json::from_str(text) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) | Err(_) if opts.skip_invalid => {
                    log.skipped += 1;
                    continue;
                }
                Ok(other) => {
                    return Err(TelemetryError::parse(
                        path,
                        n,
                        "-",
                        format!("`{}` is not a JSON object", excerpt(&other.to_string())),
                    ));
                }
                Err(e) => {
                    return Err(TelemetryError::parse(
                        path,
                        n,
                        "-",
                        format!("not JSON: {e}"),
                    ));
                }
            };
            if !resolved {
                let has = |f: &str| lookup(&v, f).is_some();
                log.fields = pick_fields(opts, has, path, n)?;
                resolved = true;
            }
            let rec = log.record(path, n, |f| lookup(&v, f).cloned());
            log.push(path, n, rec, opts.skip_invalid)?;
        }
        Ok(log)
    }

    fn read_csv(
        path: &Path,
        r: impl Read,
        opts: &LogOptions,
    ) -> Result<RequestLog, TelemetryError> {
        let mut log = RequestLog::empty("CSV");
        let capped = LineCapped {
            inner: r,
            run: 0,
            failed: false,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(capped);
        let csv_err = |e: csv::Error| {
            let line = e.position().map_or(0, csv::Position::line);
            TelemetryError::parse(path, line, "-", e.to_string())
        };
        let headers: Vec<String> = reader
            .headers()
            .map_err(csv_err)?
            .iter()
            .map(str::to_owned)
            .collect();
        let has = |f: &str| headers.iter().any(|h| h == f);
        log.fields = pick_fields(opts, has, path, 1)?;
        for f in &log.fields {
            if !has(f) {
                return Err(TelemetryError::parse(
                    path,
                    1,
                    f,
                    format!("no such column (the header has {})", headers.join(",")),
                ));
            }
        }
        for rec in reader.records() {
            let rec = rec.map_err(csv_err)?;
            let line = rec.position().map_or(0, csv::Position::line);
            let cell = |f: &str| {
                let i = headers.iter().position(|h| h == f)?;
                let s = rec.get(i)?;
                if s.is_empty() {
                    return None;
                }
                // A number stays a number (for the seconds check); text stays text.
                Some(
                    serde_json::from_str::<serde_json::Number>(s)
                        .map(Value::Number)
                        .unwrap_or_else(|_| Value::String(s.to_owned())),
                )
            };
            let r = log.record(path, line, cell);
            log.push(path, line, r, opts.skip_invalid)?;
        }
        Ok(log)
    }

    /// The trace, Mooncake JSONL: `timestamp` in ms from the first request (exact to the
    /// ns), `input_length`, `output_length`, one line per request in time order.
    pub fn trace_jsonl(&self) -> String {
        let base = self.records.first().map_or(0, |r| r.at_ns);
        let mut s = String::with_capacity(self.records.len() * 64);
        for r in &self.records {
            let d = r.at_ns - base;
            s.push_str(&format!(
                "{{\"timestamp\": {}.{:06}, \"input_length\": {}, \"output_length\": {}}}\n",
                d / 1_000_000,
                d % 1_000_000,
                r.input,
                r.output
            ));
        }
        s
    }

    /// The `[workload]` section replaying the trace at `trace_path` (as written in the
    /// TOML: relative to the scenario's folder, or absolute), with what was noticed.
    pub fn inferred(&self, trace_path: &str) -> Inferred {
        let n = self.records.len();
        let first = self.records.first().map_or(0, |r| r.at_ns);
        let last = self.records.last().map_or(0, |r| r.at_ns);
        let span = (last - first) as f64 * 1e-9;
        let mut notes = vec![format!(
            "{} requests from a {} log (fields {}, {}, {}; timestamps in {})",
            n,
            self.format,
            self.fields[0],
            self.fields[1],
            self.fields[2],
            self.unit.name()
        )];
        if self.skipped > 0 {
            notes.push(format!(
                "{} records skipped (--skip-invalid): a field missing or malformed",
                self.skipped
            ));
        }
        if span > 0.0 {
            // Rate per minute (or per tenth of the span when shorter).
            let bin = span.min(600.0) / 10.0;
            let bin_ns = ((bin * 1e9) as u64).max(1);
            let bins = ((last - first) / bin_ns + 1) as usize;
            let mut per = vec![0u64; bins];
            for r in &self.records {
                per[((r.at_ns - first) / bin_ns) as usize] += 1;
            }
            let (lo, hi) = per
                .iter()
                .fold((u64::MAX, 0), |(a, b), c| (a.min(*c), b.max(*c)));
            notes.push(format!(
                "arrival: {:.4} req/s mean over {span:.3} s; {:.4}..{:.4} req/s per {bin:.3} s",
                (n - 1) as f64 / span,
                lo as f64 / bin,
                hi as f64 / bin
            ));
        } else {
            notes.push("arrival: every request at the same instant".to_owned());
        }
        if self.whole_seconds && self.unit == Unit::S && n > 1 {
            notes.push(
                "timestamps are whole seconds: requests of one second arrive together".to_owned(),
            );
        }
        for (role, pick) in [
            ("input", (|r: &Record| r.input) as fn(&Record) -> u32),
            ("output", |r: &Record| r.output),
        ] {
            let mut v: Vec<u32> = self.records.iter().map(pick).collect();
            v.sort_unstable();
            let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
            let q = |p: f64| v[((p * (n - 1) as f64).round() as usize).min(n - 1)];
            notes.push(format!(
                "{role} tokens: mean {mean:.1}, p50 {}, p99 {}, range {}..{}",
                q(0.5),
                q(0.99),
                v[0],
                v[n - 1]
            ));
        }
        if self.records.iter().any(|r| r.output == 0) {
            notes.push("outputs of 0 tokens are replayed as 1".to_owned());
        }
        notes.push(format!(
            "trace: mooncake format, {trace_path} (no prefix hashes)"
        ));
        Inferred {
            workload: WorkloadFile {
                trace: Some(TraceFile {
                    format: TraceFormat::Mooncake,
                    path: trace_path.to_owned(),
                    time_scale: None,
                    rate_rps: None,
                    start_s: None,
                    tiles: None,
                }),
                ..WorkloadFile::default()
            },
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_by_magnitude_and_calendar() {
        let t = |v: Value| timestamp_of(&v);
        assert_eq!(t(serde_json::json!(1.5)), Ok((1_500_000_000, Unit::S)));
        assert_eq!(
            t(serde_json::json!(1_700_000_000_123u64)),
            Ok((1_700_000_000_123_000_000, Unit::Ms))
        );
        assert_eq!(
            t(serde_json::json!(1_700_000_000_123_456_789u64)),
            Ok((1_700_000_000_123_456_789, Unit::Ns))
        );
        assert_eq!(
            t(serde_json::json!("1970-01-01T00:00:01.5Z")),
            Ok((1_500_000_000, Unit::Calendar))
        );
        assert!(t(serde_json::json!("yesterday")).is_err());
        assert!(t(serde_json::json!(-1)).is_err());
        assert!(t(serde_json::json!(true)).is_err());
        assert_eq!(tokens_of(&serde_json::json!("12")), Ok(12));
        assert_eq!(tokens_of(&serde_json::json!(12.0)), Ok(12));
        assert!(tokens_of(&serde_json::json!(1.5)).is_err());
        assert!(tokens_of(&serde_json::json!(-3)).is_err());
    }
}
