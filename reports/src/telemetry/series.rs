//! Reading Prometheus time series: a range-query JSON export, or text exposition
//! (OpenMetrics or the Prometheus text format) with timestamps.
//!
//! Accepted inputs (detected by the first non-blank byte):
//! - JSON (`{` or `[`): the response of `GET /api/v1/query_range` (`{"status":"success",
//!   "data":{"resultType":"matrix","result":[{"metric":{...},"values":[[ts,"v"],...]}]}}`),
//!   a JSON array of such responses, or several of them one after another (as
//!   `for q in ...; do curl ...; done > export.json` writes). `resultType` `vector`
//!   (`"value"`, one sample) is accepted too. Timestamps are seconds.
//! - Text: sample lines `name{label="v",...} value [timestamp]`; `#` lines are skipped.
//!   A file with an `# EOF` line is OpenMetrics (timestamps in seconds), otherwise the
//!   Prometheus text format (timestamps in milliseconds). Exemplars are ignored.
//!
//! Invariants: series are keyed by metric name and sorted label set, and come out in
//! that order (a `BTreeMap`), each with its samples in time order (stable for equal
//! times); memory is bounded by [`MAX_SERIES`], [`MAX_SAMPLES`], [`MAX_LINE_BYTES`] and
//! [`MAX_JSON_BYTES`], each refused with an error that names the limit.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

use serde::Deserialize;

use super::TelemetryError;

/// Most distinct series read.
pub const MAX_SERIES: usize = 100_000;
/// Most samples read, over all series.
pub const MAX_SAMPLES: usize = 50_000_000;
/// Longest text line, bytes.
pub const MAX_LINE_BYTES: usize = 64 << 10;
/// Largest JSON export, bytes (it is parsed whole).
pub const MAX_JSON_BYTES: u64 = 1 << 30;

/// One series: a metric name and its labels (without `__name__`), sorted.
pub type SeriesKey = (String, Vec<(String, String)>);

/// A series as [`SeriesSet::named`] lends it: its labels and its `(time s, value)` samples.
pub type SeriesRef<'a> = (&'a [(String, String)], &'a [(f64, f64)]);

/// Time series read from a file.
#[derive(Debug, Default)]
pub struct SeriesSet {
    /// Samples `(time s, value)` of each series, in time order.
    pub series: BTreeMap<SeriesKey, Vec<(f64, f64)>>,
    /// Whether the samples carried timestamps (a text snapshot may not).
    pub timestamped: bool,
    samples: usize,
}

impl SeriesSet {
    /// The series of metric `name`, with their labels.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = SeriesRef<'a>> + 'a {
        self.series
            .range((name.to_owned(), Vec::new())..)
            .take_while(move |(k, _)| k.0 == name)
            .map(|(k, v)| (&k.1[..], &v[..]))
    }

    fn push(
        &mut self,
        path: &Path,
        line: u64,
        key: SeriesKey,
        t: f64,
        v: f64,
    ) -> Result<(), TelemetryError> {
        if self.samples >= MAX_SAMPLES {
            return Err(TelemetryError::parse(
                path,
                line,
                "-",
                format!("more than {MAX_SAMPLES} samples; export a shorter range or a larger step"),
            ));
        }
        if self.series.len() >= MAX_SERIES && !self.series.contains_key(&key) {
            return Err(TelemetryError::parse(
                path,
                line,
                &key.0,
                format!("more than {MAX_SERIES} series; export fewer (filter by job or model)"),
            ));
        }
        let entry = self.series.entry(key).or_default();
        entry.push((t, v));
        self.samples += 1;
        Ok(())
    }

    /// Sorts every series by time (stable).
    fn finish(&mut self) {
        for s in self.series.values_mut() {
            s.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
}

/// Reads `path` (JSON export or text exposition).
pub fn read(path: &Path) -> Result<SeriesSet, TelemetryError> {
    let f = std::fs::File::open(path).map_err(|source| TelemetryError::io(path, source))?;
    let mut r = std::io::BufReader::new(f);
    let first = loop {
        let buf = r
            .fill_buf()
            .map_err(|source| TelemetryError::io(path, source))?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    };
    let mut set = match first {
        None => {
            return Err(TelemetryError::parse(path, 0, "-", "the file is empty"));
        }
        Some(b'{' | b'[') => read_json(path, r)?,
        Some(_) => read_text(path, r)?,
    };
    set.finish();
    if set.series.is_empty() {
        return Err(TelemetryError::parse(
            path,
            0,
            "-",
            "no samples in the file",
        ));
    }
    Ok(set)
}

/// One `query_range` response (other fields, e.g. `warnings`, are ignored).
#[derive(Deserialize)]
struct Response {
    status: String,
    data: Option<Data>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<ResultSeries>,
}

#[derive(Deserialize)]
struct ResultSeries {
    metric: BTreeMap<String, String>,
    values: Option<Vec<(f64, String)>>,
    value: Option<(f64, String)>,
}

/// A sample value as Prometheus writes it (`"1.5"`, `"NaN"`, `"+Inf"`).
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn read_json(path: &Path, r: impl Read) -> Result<SeriesSet, TelemetryError> {
    let mut bytes = Vec::new();
    r.take(MAX_JSON_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| TelemetryError::io(path, source))?;
    if bytes.len() as u64 > MAX_JSON_BYTES {
        return Err(TelemetryError::parse(
            path,
            0,
            "-",
            format!("a JSON export larger than {MAX_JSON_BYTES} bytes; export a shorter range"),
        ));
    }
    let mut set = SeriesSet {
        timestamped: true,
        ..SeriesSet::default()
    };
    let stream = serde_json::Deserializer::from_slice(&bytes).into_iter::<serde_json::Value>();
    for (doc, v) in stream.enumerate() {
        let v = v.map_err(|e| {
            TelemetryError::parse(path, e.line() as u64, "-", format!("not JSON: {e}"))
        })?;
        let (responses, array) = match v {
            serde_json::Value::Array(a) => (a, true),
            other => (vec![other], false),
        };
        for (i, resp) in responses.into_iter().enumerate() {
            let at = if array {
                format!("document {}[{i}]", doc + 1)
            } else {
                format!("document {}", doc + 1)
            };
            response(path, &at, resp, &mut set)?;
        }
    }
    Ok(set)
}

/// Adds one response's series to `set`; `at` names it in errors.
fn response(
    path: &Path,
    at: &str,
    v: serde_json::Value,
    set: &mut SeriesSet,
) -> Result<(), TelemetryError> {
    let resp: Response = serde_path_to_error::deserialize(v).map_err(|e| {
        TelemetryError::parse(
            path,
            0,
            &format!("{at}: {}", e.path()),
            e.into_inner().to_string(),
        )
    })?;
    if resp.status != "success" {
        return Err(TelemetryError::parse(
            path,
            0,
            &format!("{at}: status"),
            format!(
                "`{}` (error: {}); export a successful query",
                resp.status,
                resp.error.unwrap_or_default()
            ),
        ));
    }
    let Some(data) = resp.data else {
        return Err(TelemetryError::parse(
            path,
            0,
            &format!("{at}: data"),
            "missing",
        ));
    };
    if data.result_type != "matrix" && data.result_type != "vector" {
        return Err(TelemetryError::parse(
            path,
            0,
            &format!("{at}: data.resultType"),
            format!(
                "`{}`: export a range query (matrix) of raw series",
                data.result_type
            ),
        ));
    }
    for (i, mut r) in data.result.into_iter().enumerate() {
        let field = format!("{at}: data.result[{i}]");
        let Some(name) = r.metric.remove("__name__") else {
            return Err(TelemetryError::parse(
                path,
                0,
                &format!("{field}.metric"),
                "no __name__: export the raw counters and histograms, not rate() or sum() \
                 of them",
            ));
        };
        let labels: Vec<(String, String)> = r.metric.into_iter().collect();
        let values = match (r.values, r.value) {
            (Some(v), _) => v,
            (None, Some(v)) => vec![v],
            (None, None) => {
                return Err(TelemetryError::parse(
                    path,
                    0,
                    &format!("{field}.values"),
                    "missing",
                ));
            }
        };
        for (j, (t, s)) in values.into_iter().enumerate() {
            let v = parse_value(&s).ok_or_else(|| {
                TelemetryError::parse(
                    path,
                    0,
                    &format!("{field}.values[{j}]"),
                    format!("`{}` is not a number", excerpt(&s)),
                )
            })?;
            if !t.is_finite() || t < 0.0 {
                return Err(TelemetryError::parse(
                    path,
                    0,
                    &format!("{field}.values[{j}]"),
                    format!("timestamp {t} is not a time >= 0 s"),
                ));
            }
            set.push(path, 0, (name.clone(), labels.clone()), t, v)?;
        }
    }
    Ok(())
}

/// At most 40 characters of `s`, for error messages.
pub(crate) fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out
}

/// Reads one line of at most [`MAX_LINE_BYTES`] into `buf` (without the newline);
/// `Ok(false)` at the end of the file.
pub(crate) fn read_line(
    path: &Path,
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    line: u64,
) -> Result<bool, TelemetryError> {
    buf.clear();
    let n = r
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', buf)
        .map_err(|source| TelemetryError::io(path, source))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    } else if buf.len() > MAX_LINE_BYTES {
        return Err(TelemetryError::parse(
            path,
            line,
            "-",
            format!("line longer than {MAX_LINE_BYTES} bytes"),
        ));
    }
    Ok(true)
}

fn read_text(path: &Path, mut r: impl BufRead) -> Result<SeriesSet, TelemetryError> {
    let mut set = SeriesSet::default();
    let mut raw: Vec<(SeriesKey, u64, Option<f64>, f64)> = Vec::new();
    let mut eof = false;
    let mut buf = Vec::new();
    let mut n = 0u64;
    while read_line(path, &mut r, &mut buf, n + 1)? {
        n += 1;
        let text = std::str::from_utf8(&buf)
            .map_err(|_| TelemetryError::parse(path, n, "-", "not UTF-8 text"))?;
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        if line == "# EOF" {
            eof = true;
            break;
        }
        if line.starts_with('#') {
            continue;
        }
        if raw.len() >= MAX_SAMPLES {
            return Err(TelemetryError::parse(
                path,
                n,
                "-",
                format!("more than {MAX_SAMPLES} samples"),
            ));
        }
        let (key, v, t) =
            sample_line(line).map_err(|(field, m)| TelemetryError::parse(path, n, &field, m))?;
        raw.push((key, n, t, v));
    }
    let stamped = raw.iter().filter(|r| r.2.is_some()).count();
    if stamped != 0 && stamped != raw.len() {
        let line = raw.iter().find(|r| r.2.is_none()).map_or(0, |r| r.1);
        return Err(TelemetryError::parse(
            path,
            line,
            "timestamp",
            "missing, while other samples have one: give every sample a timestamp",
        ));
    }
    set.timestamped = stamped > 0;
    // OpenMetrics timestamps are seconds, the Prometheus text format's milliseconds.
    let scale = if eof { 1.0 } else { 1e-3 };
    for (key, line, t, v) in raw {
        let t = t.map_or(0.0, |t| t * scale);
        set.push(path, line, key, t, v)?;
    }
    Ok(set)
}

/// Parses `name{labels} value [timestamp] [# exemplar]`; errors are `(field, message)`.
fn sample_line(line: &str) -> Result<(SeriesKey, f64, Option<f64>), (String, String)> {
    let line = match line.find(" # ") {
        Some(i) => &line[..i],
        None => line,
    };
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    if name.is_empty() || !name.chars().all(valid) || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err((
            "-".into(),
            format!("`{}` is not a metric name", excerpt(name)),
        ));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest
                .find('=')
                .ok_or_else(|| (name.to_owned(), "a label without `=`".to_owned()))?;
            let key = rest[..eq].trim().to_owned();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err((
                    name.to_owned(),
                    format!("`{}` is not a label name", excerpt(&key)),
                ));
            }
            rest = rest[eq + 1..]
                .trim_start()
                .strip_prefix('"')
                .ok_or_else(|| {
                    (
                        format!("{name}.{key}"),
                        "the label value is not quoted".to_owned(),
                    )
                })?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    None => {
                        return Err((
                            format!("{name}.{key}"),
                            "the label value has no closing quote".to_owned(),
                        ));
                    }
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => {
                            return Err((
                                format!("{name}.{key}"),
                                "the label value has no closing quote".to_owned(),
                            ));
                        }
                    },
                    Some((_, c)) => value.push(c),
                }
            };
            rest = &rest[close + 1..];
            labels.push((key, value));
        }
    }
    let mut parts = rest.split_ascii_whitespace();
    let value = parts
        .next()
        .ok_or_else(|| (name.to_owned(), "no value".to_owned()))?;
    let v = parse_value(value).ok_or_else(|| {
        (
            name.to_owned(),
            format!("`{}` is not a number", excerpt(value)),
        )
    })?;
    let t = match parts.next() {
        None => None,
        Some(ts) => {
            let t: f64 = ts.parse().map_err(|_| {
                (
                    "timestamp".to_owned(),
                    format!("`{}` is not a timestamp", excerpt(ts)),
                )
            })?;
            if !t.is_finite() || t < 0.0 {
                return Err(("timestamp".into(), format!("`{ts}` is not a time >= 0")));
            }
            Some(t)
        }
    };
    if let Some(extra) = parts.next() {
        return Err((
            name.to_owned(),
            format!("unexpected `{}` after the timestamp", excerpt(extra)),
        ));
    }
    labels.sort();
    Ok(((name.to_owned(), labels), v, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_lines_parse_labels_escapes_and_exemplars() {
        let ((name, labels), v, t) = sample_line(
            r#"vllm:x_bucket{le="0.5",model_name="a\"b",} 3 1700000000.5 # {id="1"} 0.2"#,
        )
        .unwrap();
        assert_eq!(name, "vllm:x_bucket");
        assert_eq!(
            labels,
            vec![
                ("le".to_owned(), "0.5".to_owned()),
                ("model_name".to_owned(), "a\"b".to_owned())
            ]
        );
        assert_eq!((v, t), (3.0, Some(1_700_000_000.5)));
        assert_eq!(sample_line("up 1").unwrap().2, None);
        assert!(sample_line("up").is_err());
        assert!(sample_line("up{a=\"1} 2").is_err());
        assert!(sample_line("up x").is_err());
        assert!(sample_line("9up 1").is_err());
        assert!(sample_line("up 1 2 3").is_err());
    }
}
