//! CSV outputs: `requests.csv` (streamed, one row per request as it ends) and
//! `timeseries.csv` (streamed, one row per instance as each window closes).
//!
//! Invariants: fixed column order and fixed float formatting (seconds to 6 decimals,
//! milliseconds to 3, fractions to 4), empty cells for values a request does not have.
//! `outcome` is `completed`, `rejected`, `unfinished`, `timed-out` (aborted by its client
//! at `timeout-s`), `lost` (on an instance when it failed, `[failures]`) or `warmup`: a warm-up request (`warmup-requests`) keeps its row and
//! its latencies, marked so, whatever its end (it is in no summary metric).

use crate::ReportError;
use crate::atomic::AtomicFile;
use std::io::Write;
use std::path::{Path, PathBuf};
use xpyd_sim::metrics::{RequestRecord, TimeseriesRow};

/// Columns of `requests.csv`.
pub const REQUEST_COLUMNS: [&str; 15] = [
    "id",
    "arrival_s",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "prefill_instance",
    "decode_instance",
    "ttft_ms",
    "tpot_ms",
    "e2e_ms",
    "queue_ms",
    "kv_transfer_ms",
    "slo_met",
    "outcome",
    "preemptions",
];

/// Columns of `timeseries.csv`.
pub const TIMESERIES_COLUMNS: [&str; 13] = [
    "system",
    "time_s",
    "instance",
    "role",
    "waiting",
    "running",
    "kv_utilization",
    "prefill_tokens",
    "decode_tokens",
    "busy_fraction",
    "state",
    "prefill_replicas",
    "decode_replicas",
];

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_default()
}

/// `requests.csv` being written as requests end.
pub struct RequestsCsv {
    path: PathBuf,
    w: csv::Writer<AtomicFile>,
    error: Option<ReportError>,
}

impl RequestsCsv {
    /// Start `path` with its header.
    pub fn create(path: &Path) -> Result<RequestsCsv, ReportError> {
        let f = AtomicFile::create(path)?;
        let mut w = csv::Writer::from_writer(f);
        w.write_record(REQUEST_COLUMNS)
            .map_err(|source| ReportError::Csv {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(RequestsCsv {
            path: path.to_path_buf(),
            w,
            error: None,
        })
    }

    /// Append a row. The first error is kept and returned by [`Self::finish`].
    pub fn push(&mut self, r: &RequestRecord) {
        if self.error.is_some() {
            return;
        }
        // Warm-up requests are marked, not omitted: every issued request has its row,
        // and their latencies show how the system warmed up.
        let outcome = if r.warmup { "warmup" } else { r.outcome.name() };
        let row = [
            r.id.to_string(),
            format!("{:.6}", r.arrival_s),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            r.cached_tokens.to_string(),
            opt(r.prefill_instance),
            opt(r.decode_instance),
            ms(r.ttft_ms),
            ms(r.tpot_ms),
            ms(r.e2e_ms),
            ms(r.queue_ms),
            ms(r.kv_transfer_ms),
            opt(r.slo_met),
            outcome.to_string(),
            r.preemptions.to_string(),
        ];
        if let Err(source) = self.w.write_record(&row) {
            self.error = Some(ReportError::Csv {
                path: self.path.clone(),
                source,
            });
        }
    }

    /// Flush and move the file into place.
    pub fn finish(self) -> Result<(), ReportError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let path = self.path;
        let f = self.w.into_inner().map_err(|e| ReportError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        f.commit()
    }
}

/// `timeseries.csv` written as windows close, its rows labelled with a system name.
///
/// The main system's rows go straight into the file; a second system simulated at the
/// same time (the aggregated baseline) writes a [`Self::part`] (a scratch file beside
/// it, no header) that [`Self::finish`] copies after them, so the file keeps one system
/// after the other and neither is held in memory.
#[derive(Debug)]
pub struct TimeseriesCsv {
    path: PathBuf,
    system: String,
    w: csv::Writer<AtomicFile>,
    error: Option<ReportError>,
}

impl TimeseriesCsv {
    /// Start `path` with its header; rows are labelled `system`.
    pub fn create(path: &Path, system: &str) -> Result<TimeseriesCsv, ReportError> {
        let mut t = Self::open(path, path, system)?;
        t.w.write_record(TIMESERIES_COLUMNS)
            .map_err(|source| ReportError::Csv {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(t)
    }

    /// Rows of `system` to be appended to `path` by [`Self::finish`]; never moved into
    /// place itself (dropped, its scratch file is removed).
    pub fn part(path: &Path, system: &str) -> Result<TimeseriesCsv, ReportError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::open(
            &path.with_file_name(format!("{name}.{system}")),
            path,
            system,
        )
    }

    fn open(file: &Path, path: &Path, system: &str) -> Result<TimeseriesCsv, ReportError> {
        Ok(TimeseriesCsv {
            path: path.to_path_buf(),
            system: system.to_string(),
            w: csv::Writer::from_writer(AtomicFile::create(file)?),
            error: None,
        })
    }

    /// Append a row. The first error is kept and returned by [`Self::finish`].
    pub fn push(&mut self, r: &TimeseriesRow) {
        if self.error.is_some() {
            return;
        }
        let row = [
            self.system.clone(),
            format!("{:.6}", r.time_s),
            r.instance.to_string(),
            r.role.to_string(),
            r.waiting.to_string(),
            r.running.to_string(),
            format!("{:.4}", r.kv_utilization),
            r.prefill_tokens.to_string(),
            r.decode_tokens.to_string(),
            format!("{:.4}", r.busy_fraction),
            r.state.to_string(),
            r.prefill_replicas.to_string(),
            r.decode_replicas.to_string(),
        ];
        if let Err(source) = self.w.write_record(&row) {
            self.error = Some(ReportError::Csv {
                path: self.path.clone(),
                source,
            });
        }
    }

    /// The file, flushed (not committed).
    fn flushed(self) -> Result<AtomicFile, ReportError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let path = self.path;
        self.w.into_inner().map_err(|e| ReportError::Io {
            path,
            source: e.into_error(),
        })
    }

    /// Flush, copy the rows of `parts` after this file's (their scratch files are then
    /// removed) and move the file into place.
    pub fn finish(self, parts: Vec<TimeseriesCsv>) -> Result<(), ReportError> {
        let mut file = self.flushed()?;
        for part in parts {
            let mut part = part.flushed()?;
            let scratch = part.tmp_path().to_path_buf();
            let err = |path: &Path| {
                let path = path.to_path_buf();
                move |source| ReportError::Io { path, source }
            };
            part.writer().flush().map_err(err(&scratch))?;
            let mut from = std::fs::File::open(&scratch).map_err(err(&scratch))?;
            let dest = file.tmp_path().to_path_buf();
            std::io::copy(&mut from, file.writer()).map_err(err(&dest))?;
        }
        file.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{Requests, Timeseries};
    use xpyd_sim::metrics::Outcome;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xpyd-csv-out-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    /// `requests.csv` reads back, through the columns of [`REQUEST_COLUMNS`] the reports
    /// use, what was written.
    #[test]
    fn requests_read_back_through_the_schema() {
        let p = tmp("requests.csv");
        let mut w = RequestsCsv::create(&p).unwrap();
        let done = RequestRecord {
            id: 7,
            arrival_s: 1.5,
            input_tokens: 100,
            output_tokens: 20,
            cached_tokens: 0,
            prefill_instance: Some(0),
            decode_instance: Some(2),
            ttft_ms: Some(12.25),
            tpot_ms: Some(3.5),
            e2e_ms: Some(80.0),
            queue_ms: Some(0.5),
            kv_transfer_ms: None,
            slo_met: Some(true),
            outcome: Outcome::Completed,
            preemptions: 1,
            warmup: false,
        };
        let rejected = RequestRecord {
            id: 8,
            prefill_instance: None,
            decode_instance: None,
            ttft_ms: None,
            tpot_ms: None,
            e2e_ms: None,
            queue_ms: None,
            slo_met: None,
            outcome: Outcome::Rejected,
            ..done.clone()
        };
        let timed_out = RequestRecord {
            id: 9,
            outcome: Outcome::TimedOut,
            ..rejected.clone()
        };
        let lost = RequestRecord {
            id: 11,
            outcome: Outcome::Lost,
            ..rejected.clone()
        };
        let warm = RequestRecord {
            id: 10,
            warmup: true,
            ..done.clone()
        };
        w.push(&done);
        w.push(&rejected);
        w.push(&timed_out);
        w.push(&warm);
        w.push(&lost);
        w.finish().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().next().unwrap(), REQUEST_COLUMNS.join(","));
        let outcomes: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(13).unwrap())
            .collect();
        assert_eq!(
            outcomes,
            ["completed", "rejected", "timed-out", "warmup", "lost"]
        );
        let r = Requests::read(&p).unwrap();
        assert_eq!(r.id, vec![7, 8, 9, 10, 11]);
        assert_eq!(r.arrival_s, vec![1.5; 5]);
        assert_eq!(r.output_tokens, vec![20; 5]);
        assert_eq!(r.prefill_instance, vec![Some(0), None, None, Some(0), None]);
        assert_eq!(r.decode_instance, vec![Some(2), None, None, Some(2), None]);
        assert_eq!(r.ttft_ms[0].get(), Some(12.25));
        assert_eq!(r.ttft_ms[1].get(), None);
        assert_eq!(r.kv_transfer_ms[0].get(), None);
        assert_eq!(r.slo_met, vec![Some(true), None, None, Some(true), None]);
    }

    /// `timeseries.csv` (with a second system appended) reads back what was written.
    #[test]
    fn timeseries_reads_back_through_the_schema() {
        let p = tmp("timeseries.csv");
        let mut main = TimeseriesCsv::create(&p, "disaggregated").unwrap();
        let mut base = TimeseriesCsv::part(&p, "aggregated-baseline").unwrap();
        let row = TimeseriesRow {
            time_s: 2.0,
            instance: 1,
            role: "decode",
            waiting: 3,
            running: 4,
            kv_utilization: 0.25,
            prefill_tokens: 0,
            decode_tokens: 4,
            busy_fraction: 0.5,
            state: "ready",
            prefill_replicas: 2,
            decode_replicas: 1,
        };
        main.push(&row);
        base.push(&TimeseriesRow {
            role: "aggregated",
            ..row.clone()
        });
        main.finish(vec![base]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().next().unwrap(), TIMESERIES_COLUMNS.join(","));
        let t = Timeseries::read(&p).unwrap();
        assert_eq!(t.system.get(0), "disaggregated");
        assert_eq!(t.system.get(1), "aggregated-baseline");
        assert_eq!(t.role.get(1), "aggregated");
        assert_eq!(t.time_s, vec![2.0, 2.0]);
        assert_eq!(t.waiting, vec![3, 3]);
        assert_eq!(t.running, vec![4, 4]);
        assert_eq!(t.kv_utilization, vec![0.25, 0.25]);
        assert_eq!((t.prefill_replicas[0], t.decode_replicas[0]), (2, 1));
    }
}
