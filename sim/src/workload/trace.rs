//! Trace replay: parsing Azure 2023 CSV and Mooncake JSONL into compact records.
//!
//! Invariants: a parsed [`Trace`] is read once into a `Vec` of [`TraceRecord`] (16 bytes
//! each, prefix hashes pooled in one `Vec<u64>`), sorted by arrival (stable, so equal
//! times keep file order) and rebased so the first replayed record arrives at t = 0.
//! Inputs are >= 1 token; a recorded output of 0 tokens is replayed as 1 (a serving
//! engine always returns at least one token). Time scaling multiplies every arrival
//! offset by one factor and rounds each to the nanosecond once. Rescaling to a rate
//! (`rate-rps`) refuses a trace of 3 or more records whose widest gap is at least
//! [`MAX_GAP_SHARE`] of its span: one outlier timestamp would otherwise squash every
//! other record to t = 0. Records that arrive after `simulation.max-duration-s` are
//! counted as not arrived in the summary.
//!
//! Tiling (`tiles = N`, [`Tiling`]) replays the selected, scaled records N times back to
//! back without copying them: copy `k` (from 0) arrives `k x period` later, where the
//! period is the span plus one mean gap (`span + span / (n - 1)`, rounded to the
//! nanosecond once), so the tiled stream keeps the copy's mean rate; its prefix-hash ids
//! are shifted by `k x (largest id + 1)`, so no copy shares a cached prefix with another
//! (copy 0 is the trace itself: one tile replays exactly what no tiling does).

use serde::Deserialize;

use super::error::WorkloadError;
use super::file::TraceFormat;
use crate::limits::{MAX_REQUESTS, MAX_SECS};

/// Widest share of a trace's span one gap may take when it is rescaled to a rate.
pub(crate) const MAX_GAP_SHARE: f64 = 0.99;

/// One trace request, compactly.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct TraceRecord {
    /// Arrival, ns (absolute while parsing, rebased to the first replayed record after).
    pub(crate) at_ns: u64,
    /// Prompt tokens (>= 1).
    pub(crate) input: u32,
    /// Output tokens (>= 1).
    pub(crate) output: u32,
    /// First index of this record's prefix hashes in [`Trace::hashes`].
    pub(crate) hash_start: u32,
    /// Number of prefix hashes.
    pub(crate) hash_len: u32,
}

/// A parsed trace.
#[derive(Clone, Debug, Default)]
pub(crate) struct Trace {
    /// Records in arrival order.
    pub(crate) records: Vec<TraceRecord>,
    /// Prefix-block hashes of all records, back to back.
    pub(crate) hashes: Vec<u64>,
    /// Tokens per hash block (0 when the trace has no hashes).
    pub(crate) block_tokens: u32,
}

/// How a trace is repeated back to back (`workload.trace.tiles`): copy `k` (from 0)
/// arrives `k x period_ns` after copy 0 and its hash ids are those of copy 0 plus
/// `k x id_stride`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tiling {
    /// Copies (>= 1).
    pub(crate) tiles: u64,
    /// Time from one copy's first arrival to the next copy's, ns (0 with one copy).
    pub(crate) period_ns: u64,
    /// Id shift from one copy to the next: the largest hash id + 1 (0 with one copy or
    /// without hashes).
    pub(crate) id_stride: u64,
}

impl Tiling {
    /// Replay once.
    pub(crate) const ONCE: Tiling = Tiling {
        tiles: 1,
        period_ns: 0,
        id_stride: 0,
    };
}

/// Tokens per prefix-hash block of Mooncake traces.
pub(crate) const MOONCAKE_BLOCK_TOKENS: u32 = 512;

/// How the replayed arrival times are stretched.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum TimeScale {
    /// Multiply inter-arrival times by this factor (> 0).
    Factor(f64),
    /// Rescale so the mean rate (1 / mean gap) of the replayed records is this, req/s.
    RateRps(f64),
}

impl Trace {
    /// Parses `bytes` (already decompressed) of `format`; `label` names the file in errors.
    pub(crate) fn parse(
        format: TraceFormat,
        bytes: &[u8],
        label: &str,
    ) -> Result<Trace, WorkloadError> {
        let mut t = match format {
            TraceFormat::Azure2023 => parse_azure(bytes, label)?,
            TraceFormat::Mooncake => parse_mooncake(bytes, label)?,
        };
        if t.records.is_empty() {
            return Err(WorkloadError::parse(
                label,
                0,
                "-",
                "the trace has no records",
            ));
        }
        t.records.sort_by_key(|r| r.at_ns);
        Ok(t)
    }

    /// Keeps the records from `start_s` seconds after the first one, at most `cap` of
    /// them, rebases them to start at 0 and applies `scale`.
    pub(crate) fn select(
        mut self,
        start_s: f64,
        cap: Option<u64>,
        scale: TimeScale,
    ) -> Result<Trace, WorkloadError> {
        let first = self.records.first().map_or(0, |r| r.at_ns);
        let start_ns = first.saturating_add((start_s * 1e9).round() as u64);
        let skip = self.records.partition_point(|r| r.at_ns < start_ns);
        if skip == self.records.len() {
            return Err(WorkloadError::invalid(
                "workload.trace.start-s",
                format!(
                    "start-s = {start_s} s skips the whole trace (it spans {:.3} s)",
                    self.span_ns() as f64 * 1e-9
                ),
            ));
        }
        self.records.drain(..skip);
        if let Some(cap) = cap {
            self.records
                .truncate(usize::try_from(cap).unwrap_or(usize::MAX));
        }
        let base = self.records.first().map_or(0, |r| r.at_ns);
        for r in &mut self.records {
            r.at_ns -= base;
        }
        let factor = match scale {
            TimeScale::Factor(f) => f,
            TimeScale::RateRps(rate) => {
                let n = self.records.len();
                let span = self.span_ns();
                if n < 2 || span == 0 {
                    return Err(WorkloadError::invalid(
                        "workload.trace.rate-rps",
                        format!(
                            "cannot rescale to a rate: the replayed part has {n} record(s) \
                             spanning {span} ns"
                        ),
                    ));
                }
                // One outlier timestamp would squash every other record towards t = 0:
                // refuse a gap that is nearly the whole span.
                let widest = self
                    .records
                    .windows(2)
                    .map(|w| w[1].at_ns - w[0].at_ns)
                    .max()
                    .unwrap_or(0);
                if n >= 3 && widest as f64 >= MAX_GAP_SHARE * span as f64 {
                    return Err(WorkloadError::invalid(
                        "workload.trace.rate-rps",
                        format!(
                            "cannot rescale to {rate} requests/s: one gap of {:.3} s is {:.2}% of the \
                             replayed span ({:.3} s), so the other {} records would arrive within \
                             {:.3e} s; cap the records (workload.requests) or start after the gap \
                             (workload.trace.start-s)",
                            widest as f64 * 1e-9,
                            100.0 * widest as f64 / span as f64,
                            span as f64 * 1e-9,
                            n - 1,
                            (span - widest) as f64 * 1e-9 * (n - 1) as f64
                                / (span as f64 * 1e-9 * rate)
                        ),
                    ));
                }
                (n - 1) as f64 / (span as f64 * 1e-9 * rate)
            }
        };
        if factor != 1.0 {
            for r in &mut self.records {
                r.at_ns = (r.at_ns as f64 * factor).round() as u64;
            }
        }
        Ok(self)
    }

    /// The tiling of this (selected, scaled) trace into `tiles` copies, of which at most
    /// `cap` records are issued (`None`: all). Errors, naming `workload.trace.tiles`, when
    /// there is more than one copy and the trace has fewer than two records or spans no
    /// time (no period to repeat), when the issued records would exceed
    /// [`MAX_REQUESTS`], when the last copy issued would start after [`MAX_SECS`], or when
    /// the shifted hash ids would not fit `u64`.
    pub(crate) fn tiling(&self, tiles: u64, cap: Option<u64>) -> Result<Tiling, WorkloadError> {
        if tiles <= 1 {
            return Ok(Tiling::ONCE);
        }
        let field = "workload.trace.tiles";
        let n = self.records.len() as u64;
        let span = self.span_ns();
        if n < 2 || span == 0 {
            return Err(WorkloadError::invalid(
                field,
                format!(
                    "cannot tile {n} replayed record(s) spanning {span} ns: tiling repeats \
                     a trace of two or more records at different times"
                ),
            ));
        }
        let total = tiles.saturating_mul(n);
        let issued = cap.map_or(total, |c| c.min(total));
        if issued > MAX_REQUESTS {
            return Err(WorkloadError::invalid(
                field,
                format!(
                    "{tiles} tiles of {n} records are {total} requests, more than \
                     {MAX_REQUESTS}; tile less or cap them (workload.requests)"
                ),
            ));
        }
        // The copies issued, and the last one's start.
        let used = issued.div_ceil(n).max(1);
        let gaps = n - 1;
        let period_ns = span + (span + gaps / 2) / gaps;
        let last_start = (used - 1)
            .checked_mul(period_ns)
            .filter(|&t| t as f64 <= MAX_SECS * 1e9);
        let Some(_) = last_start else {
            return Err(WorkloadError::invalid(
                field,
                format!(
                    "tile {used} would start {:.0} s after the first, later than the \
                     longest run ({MAX_SECS} s)",
                    (used - 1) as f64 * period_ns as f64 * 1e-9
                ),
            ));
        };
        let id_stride = match self.hashes.iter().max() {
            None => 0,
            Some(&max) => {
                let stride = max.checked_add(1);
                let top = stride
                    .and_then(|s| s.checked_mul(used - 1))
                    .and_then(|o| o.checked_add(max));
                match (stride, top) {
                    (Some(s), Some(_)) => s,
                    _ => {
                        return Err(WorkloadError::invalid(
                            field,
                            format!(
                                "the trace's hash ids reach {max}: {used} copies with \
                                 disjoint ids do not fit 64 bits"
                            ),
                        ));
                    }
                }
            }
        };
        Ok(Tiling {
            tiles,
            period_ns,
            id_stride,
        })
    }

    /// Last arrival minus first, ns.
    pub(crate) fn span_ns(&self) -> u64 {
        match (self.records.first(), self.records.last()) {
            (Some(a), Some(b)) => b.at_ns - a.at_ns,
            _ => 0,
        }
    }

    /// The prefix hashes of `r`.
    pub(crate) fn hashes_of(&self, r: &TraceRecord) -> &[u64] {
        let s = r.hash_start as usize;
        &self.hashes[s..s + r.hash_len as usize]
    }
}

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian; H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD HH:MM:SS[.f{1,9}]` (UTC, no zone) to ns since 1970-01-01.
pub(crate) fn parse_timestamp(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{}` is not a timestamp like `2023-11-16 18:15:46.6805900`",
            super::data::excerpt(s)
        )
    };
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T']).ok_or_else(bad)?;
    let mut dp = date.split('-');
    let num = |p: Option<&str>, lo: i64, hi: i64| -> Result<i64, String> {
        let p = p.ok_or_else(bad)?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let v: i64 = p.parse().map_err(|_| bad())?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(bad())
        }
    };
    let y = num(dp.next(), 1970, 9999)?;
    let mo = num(dp.next(), 1, 12)?;
    let d = num(dp.next(), 1, 31)?;
    if dp.next().is_some() {
        return Err(bad());
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (time, None),
    };
    let mut tp = hms.split(':');
    let h = num(tp.next(), 0, 23)?;
    let mi = num(tp.next(), 0, 59)?;
    let se = num(tp.next(), 0, 60)?;
    if tp.next().is_some() {
        return Err(bad());
    }
    let mut frac_ns = 0i64;
    if let Some(f) = frac {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let v: i64 = f.parse().map_err(|_| bad())?;
        frac_ns = v * 10i64.pow(9 - f.len() as u32);
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se;
    // Nanoseconds since 1970 fit i64 until 2262-04-11 (a year-9999 stamp overflowed).
    secs.checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(frac_ns))
        .and_then(|ns| u64::try_from(ns).ok())
        .ok_or_else(|| {
            format!(
                "`{}` is after 2262-04-11, the last time nanoseconds since 1970 hold",
                super::data::excerpt(s)
            )
        })
}

/// A token count of a trace: inputs must be >= 1, outputs of 0 become 1.
fn trace_tokens(v: u64, output: bool) -> Result<u32, String> {
    match (v, output) {
        (0, true) => Ok(1),
        (0, false) => Err("0 input tokens (inputs must be >= 1)".to_owned()),
        _ => u32::try_from(v).map_err(|_| format!("{v} tokens is more than {}", u32::MAX)),
    }
}

/// Azure LLM inference trace 2023: CSV `TIMESTAMP,ContextTokens,GeneratedTokens`.
fn parse_azure(bytes: &[u8], label: &str) -> Result<Trace, WorkloadError> {
    const COLS: [&str; 3] = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"];
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| super::data::csv_error(label, &e))?
        .clone();
    let mut idx = [0usize; 3];
    for (k, c) in COLS.iter().enumerate() {
        idx[k] = headers.iter().position(|h| h == *c).ok_or_else(|| {
            WorkloadError::parse(
                label,
                1,
                *c,
                format!(
                    "missing column (an azure-2023 trace has the header {})",
                    COLS.join(",")
                ),
            )
        })?;
    }
    let mut records = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| super::data::csv_error(label, &e))?;
        let line = rec.position().map_or(0, csv::Position::line);
        let cell = |k: usize| rec.get(idx[k]).unwrap_or("");
        let at_ns =
            parse_timestamp(cell(0)).map_err(|m| WorkloadError::parse(label, line, COLS[0], m))?;
        let mut tokens = [0u32; 2];
        for k in 1..3 {
            let v: u64 = cell(k).parse().map_err(|_| {
                WorkloadError::parse(
                    label,
                    line,
                    COLS[k],
                    format!(
                        "`{}` is not a whole number of tokens",
                        super::data::excerpt(cell(k))
                    ),
                )
            })?;
            tokens[k - 1] = trace_tokens(v, k == 2)
                .map_err(|m| WorkloadError::parse(label, line, COLS[k], m))?;
        }
        records.push(TraceRecord {
            at_ns,
            input: tokens[0],
            output: tokens[1],
            hash_start: 0,
            hash_len: 0,
        });
    }
    Ok(Trace {
        records,
        hashes: Vec::new(),
        block_tokens: 0,
    })
}

/// One line of a Mooncake trace (other fields are ignored).
#[derive(Deserialize)]
struct MooncakeLine {
    /// Arrival, ms since the trace start.
    timestamp: f64,
    /// Prompt tokens.
    input_length: u64,
    /// Output tokens.
    output_length: u64,
    /// Prefix-block hashes, one per 512 tokens.
    #[serde(default)]
    hash_ids: Vec<u64>,
}

/// Mooncake FAST'25 JSONL: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
fn parse_mooncake(bytes: &[u8], label: &str) -> Result<Trace, WorkloadError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| WorkloadError::parse(label, 0, "-", format!("not UTF-8 text: {e}")))?;
    let mut t = Trace {
        block_tokens: MOONCAKE_BLOCK_TOKENS,
        ..Trace::default()
    };
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(line);
        let rec: MooncakeLine = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let column = if path == "." || path == "?" {
                "-".to_owned()
            } else {
                path
            };
            WorkloadError::parse(label, n, column, e.into_inner().to_string())
        })?;
        if !(rec.timestamp.is_finite() && rec.timestamp >= 0.0) {
            return Err(WorkloadError::parse(
                label,
                n,
                "timestamp",
                format!("{} is not a time >= 0 ms", rec.timestamp),
            ));
        }
        let input = trace_tokens(rec.input_length, false)
            .map_err(|m| WorkloadError::parse(label, n, "input_length", m))?;
        let output = trace_tokens(rec.output_length, true)
            .map_err(|m| WorkloadError::parse(label, n, "output_length", m))?;
        let start = u32::try_from(t.hashes.len()).ok();
        let len = u32::try_from(rec.hash_ids.len()).ok();
        let (Some(hash_start), Some(hash_len)) = (start, len) else {
            return Err(WorkloadError::parse(
                label,
                n,
                "hash_ids",
                "too many hash ids",
            ));
        };
        t.hashes.extend_from_slice(&rec.hash_ids);
        t.records.push(TraceRecord {
            at_ns: (rec.timestamp * 1e6).round() as u64,
            input,
            output,
            hash_start,
            hash_len,
        });
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text<T>(r: Result<T, WorkloadError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn timestamps_parse_to_nanoseconds() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Ok(0));
        assert_eq!(
            parse_timestamp("1970-01-02 00:00:01.5"),
            Ok(86_401_500_000_000)
        );
        let a = parse_timestamp("2023-11-16 18:15:46.6805900");
        // 2023-11-16 is day 19_677 since the epoch.
        assert_eq!(
            a,
            Ok((19_677 * 86_400 + 18 * 3600 + 15 * 60 + 46) * 1_000_000_000 + 680_590_000)
        );
        assert_eq!(
            parse_timestamp("2000-03-01 00:00:00"),
            Ok(951_868_800 * 1_000_000_000)
        );
        for bad in [
            "",
            "2023-11-16",
            "2023-13-16 00:00:00",
            "2023-11-16 24:00:00",
            "2023-11-16 1:2",
            "2023-11-16 00:00:00.",
            "2023-11-16 00:00:00.1234567890",
            "2023-11-16 00:00:0x",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
        // r18 (fuzzing): nanoseconds of a year-9999 stamp overflowed i64.
        assert!(parse_timestamp("2262-04-11 23:47:16").is_ok());
        let e = parse_timestamp("9999-12-31 23:59:59.999999999").unwrap_err();
        assert!(e.contains("after 2262-04-11"), "{e}");
        assert!(parse_timestamp("2262-04-11 23:47:17").is_err());
    }

    #[test]
    fn azure_inline_file_parses_and_rebases() {
        let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                   2023-11-16 18:15:47.0000000,10,0\n\
                   2023-11-16 18:15:46.5000000,374,44\n\
                   2023-11-16 18:15:48.5000000,20,5\n";
        let t = Trace::parse(TraceFormat::Azure2023, csv.as_bytes(), "a.csv");
        let t = t.and_then(|t| t.select(0.0, None, TimeScale::Factor(1.0)));
        let t = t.unwrap_or_default();
        let got: Vec<(u64, u32, u32)> = t
            .records
            .iter()
            .map(|r| (r.at_ns, r.input, r.output))
            .collect();
        assert_eq!(
            got,
            vec![(0, 374, 44), (500_000_000, 10, 1), (2_000_000_000, 20, 5)]
        );
    }

    #[test]
    fn azure_errors_name_file_line_and_column() {
        let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                   2023-11-16 18:15:47.0000000,10,3\n\
                   2023-11-16 18:15:47.0000000,ten,3\n";
        let e = err_text(Trace::parse(
            TraceFormat::Azure2023,
            csv.as_bytes(),
            "a.csv",
        ));
        assert!(e.starts_with("a.csv:3: ContextTokens: "), "{e}");
        let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:61:47,1,1\n";
        let e = err_text(Trace::parse(
            TraceFormat::Azure2023,
            csv.as_bytes(),
            "a.csv",
        ));
        assert!(e.starts_with("a.csv:2: TIMESTAMP: "), "{e}");
        let csv = "TIMESTAMP,Context,GeneratedTokens\n2023-11-16 18:01:47,1,1\n";
        let e = err_text(Trace::parse(
            TraceFormat::Azure2023,
            csv.as_bytes(),
            "a.csv",
        ));
        assert!(e.starts_with("a.csv:1: ContextTokens: "), "{e}");
        let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:01:47,0,1\n";
        let e = err_text(Trace::parse(
            TraceFormat::Azure2023,
            csv.as_bytes(),
            "a.csv",
        ));
        assert!(e.starts_with("a.csv:2: ContextTokens: "), "{e}");
        let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:01:47,1\n";
        let e = err_text(Trace::parse(
            TraceFormat::Azure2023,
            csv.as_bytes(),
            "a.csv",
        ));
        assert!(e.starts_with("a.csv:2: "), "{e}");
        let e = err_text(Trace::parse(
            TraceFormat::Azure2023,
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n",
            "a.csv",
        ));
        assert!(e.starts_with("a.csv:0: "), "{e}");
    }

    #[test]
    fn mooncake_inline_file_parses_hashes() {
        let jsonl = "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [0, 1]}\n\
                     \n\
                     {\"timestamp\": 1500, \"input_length\": 10, \"output_length\": 0, \"hash_ids\": [0], \"extra\": 1}\n";
        let t = Trace::parse(TraceFormat::Mooncake, jsonl.as_bytes(), "m.jsonl");
        let t = t.unwrap_or_default();
        assert_eq!(t.block_tokens, 512);
        assert_eq!(t.records.len(), 2);
        assert_eq!(t.hashes_of(&t.records[0]), &[0, 1]);
        assert_eq!(t.hashes_of(&t.records[1]), &[0]);
        assert_eq!(t.records[1].at_ns, 1_500_000_000);
        assert_eq!(t.records[1].output, 1);
    }

    #[test]
    fn mooncake_errors_name_file_line_and_field() {
        let jsonl = "{\"timestamp\": 0, \"input_length\": 6, \"output_length\": 5}\n\
                     {\"timestamp\": 1, \"input_length\": \"x\", \"output_length\": 5}\n";
        let e = err_text(Trace::parse(
            TraceFormat::Mooncake,
            jsonl.as_bytes(),
            "m.jsonl",
        ));
        assert!(e.starts_with("m.jsonl:2: input_length: "), "{e}");
        let e = err_text(Trace::parse(
            TraceFormat::Mooncake,
            b"{\"timestamp\": 1,",
            "m.jsonl",
        ));
        assert!(e.starts_with("m.jsonl:1: -: "), "{e}");
        let e = err_text(Trace::parse(
            TraceFormat::Mooncake,
            b"{\"timestamp\": 1, \"input_length\": 3}",
            "m.jsonl",
        ));
        assert!(e.contains("output_length"), "{e}");
        let e = err_text(Trace::parse(
            TraceFormat::Mooncake,
            b"{\"timestamp\": -1, \"input_length\": 3, \"output_length\": 1}",
            "m.jsonl",
        ));
        assert!(e.starts_with("m.jsonl:1: timestamp: "), "{e}");
    }

    fn synthetic(times_s: &[f64]) -> Trace {
        Trace {
            records: times_s
                .iter()
                .map(|&s| TraceRecord {
                    at_ns: (s * 1e9) as u64,
                    input: 1,
                    output: 1,
                    hash_start: 0,
                    hash_len: 0,
                })
                .collect(),
            hashes: Vec::new(),
            block_tokens: 0,
        }
    }

    fn times(t: &Trace) -> Vec<u64> {
        t.records.iter().map(|r| r.at_ns).collect()
    }

    #[test]
    fn select_skips_caps_rebases_and_scales() {
        let t = synthetic(&[10.0, 11.0, 13.0, 16.0, 20.0]);
        let s = t.clone().select(1.0, Some(3), TimeScale::Factor(0.5));
        assert_eq!(
            s.map(|t| times(&t)).ok(),
            Some(vec![0, 1_000_000_000, 2_500_000_000])
        );
        // 4 gaps over 10 s = 0.4 req/s; rescale to 2 req/s: factor 0.2.
        let s = t.clone().select(0.0, None, TimeScale::RateRps(2.0));
        assert_eq!(
            s.map(|t| times(&t)).ok(),
            Some(vec![
                0,
                200_000_000,
                600_000_000,
                1_200_000_000,
                2_000_000_000
            ])
        );
        let e = err_text(t.clone().select(10.5, None, TimeScale::Factor(1.0)));
        assert!(e.starts_with("workload.trace.start-s: "), "{e}");
        let e = err_text(t.select(0.0, Some(1), TimeScale::RateRps(1.0)));
        assert!(e.starts_with("workload.trace.rate-rps: "), "{e}");
    }
}
