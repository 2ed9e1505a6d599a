//! Aggregate tables from the per-request and per-instance outputs, computed with polars'
//! eager group-by: per time window (`windows.csv`), per instance (`instances.csv`) and
//! the time series summed per role (for the charts).
//!
//! Invariants: rows are sorted before grouping and groups keep first-appearance order
//! (`group_by_stable`), so the tables are a pure function of the inputs; CSV cells use
//! fixed float formatting; Parquet (on request) holds the same columns with the same
//! rounding, written by the `parquet` crate.
//!
//! polars marks the eager `GroupBy` aggregations deprecated in favour of its lazy engine;
//! that engine (polars-lazy, -plan, -expr, -mem-engine) would several-fold the build time
//! of this crate for tables of a few thousand rows, so the eager ones are used on purpose.
#![allow(deprecated)]

use crate::ReportError;
use crate::atomic::AtomicFile;
use crate::csv_out::{REQUEST_COLUMNS, TIMESERIES_COLUMNS};
use crate::input::{Cell, CsvTable, InputError, Labels};
use crate::schema::select;
use polars::prelude::*;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

/// One output column.
#[derive(Clone, Debug, PartialEq)]
pub enum Col {
    /// Integers (empty when `None`).
    Int(Vec<Option<i64>>),
    /// Numbers written with this many decimals (empty when `None`).
    Float(Vec<Option<f64>>, usize),
    /// Text.
    Text(Vec<String>),
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::Int(v) => v.len(),
            Col::Float(v, _) => v.len(),
            Col::Text(v) => v.len(),
        }
    }

    fn cell(&self, i: usize) -> String {
        match self {
            Col::Int(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Col::Float(v, d) => v[i].map(|x| format!("{x:.d$}")).unwrap_or_default(),
            Col::Text(v) => v[i].clone(),
        }
    }
}

/// A named table of equal-length columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// `(name, column)` in output order.
    pub columns: Vec<(String, Col)>,
}

impl Table {
    /// Rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.1.len())
    }

    /// The column called `name`.
    pub fn col(&self, name: &str) -> Option<&Col> {
        self.columns.iter().find(|c| c.0 == name).map(|c| &c.1)
    }

    /// The table as CSV bytes.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(self.columns.iter().map(|c| c.0.as_str()))
            .expect("csv to memory");
        for i in 0..self.rows() {
            w.write_record(self.columns.iter().map(|c| c.1.cell(i)))
                .expect("csv to memory");
        }
        w.into_inner().expect("csv to memory")
    }

    /// Write the CSV atomically.
    pub fn write_csv(&self, path: &Path) -> Result<(), ReportError> {
        crate::atomic::write_file(path, &self.to_csv())
    }

    /// Write the same table as Parquet (one row group; floats rounded as in the CSV).
    pub fn write_parquet(&self, path: &Path) -> Result<(), ReportError> {
        use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::types::Type;
        let err = |e: parquet::errors::ParquetError| ReportError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let fields = self
            .columns
            .iter()
            .map(|(name, c)| {
                let (phys, rep, logical) = match c {
                    Col::Int(_) => (
                        parquet::basic::Type::INT64,
                        parquet::basic::Repetition::OPTIONAL,
                        None,
                    ),
                    Col::Float(..) => (
                        parquet::basic::Type::DOUBLE,
                        parquet::basic::Repetition::OPTIONAL,
                        None,
                    ),
                    Col::Text(_) => (
                        parquet::basic::Type::BYTE_ARRAY,
                        parquet::basic::Repetition::REQUIRED,
                        Some(parquet::basic::LogicalType::String),
                    ),
                };
                Type::primitive_type_builder(name, phys)
                    .with_repetition(rep)
                    .with_logical_type(logical)
                    .build()
                    .map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let schema = Type::group_type_builder("table")
            .with_fields(fields)
            .build()
            .map_err(err)?;
        let props = WriterProperties::builder()
            .set_created_by("xpyd".to_string())
            .build();
        let mut file = AtomicFile::create(path)?;
        {
            let mut w = SerializedFileWriter::new(&mut file, Arc::new(schema), Arc::new(props))
                .map_err(err)?;
            let mut rg = w.next_row_group().map_err(err)?;
            let mut k = 0;
            while let Some(mut cw) = rg.next_column().map_err(err)? {
                let col = &self.columns[k].1;
                k += 1;
                match col {
                    Col::Int(v) => {
                        let vals: Vec<i64> = v.iter().flatten().copied().collect();
                        let def: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
                        cw.typed::<Int64Type>()
                            .write_batch(&vals, Some(&def), None)
                            .map_err(err)?;
                    }
                    Col::Float(v, d) => {
                        let m = 10f64.powi(*d as i32);
                        let vals: Vec<f64> =
                            v.iter().flatten().map(|x| (x * m).round() / m).collect();
                        let def: Vec<i16> = v.iter().map(|x| i16::from(x.is_some())).collect();
                        cw.typed::<DoubleType>()
                            .write_batch(&vals, Some(&def), None)
                            .map_err(err)?;
                    }
                    Col::Text(v) => {
                        let vals: Vec<ByteArray> =
                            v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                        cw.typed::<ByteArrayType>()
                            .write_batch(&vals, None, None)
                            .map_err(err)?;
                    }
                }
                cw.close().map_err(err)?;
            }
            rg.close().map_err(err)?;
            w.close().map_err(err)?;
        }
        file.flush().map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        file.commit()
    }
}

/// An optional finite number in 8 bytes rather than `Option<f64>`'s 16: NaN stands for
/// none, which no value can be (cells must be finite).
#[derive(Copy, Clone, Debug, Default)]
pub struct OptF64(f64);

impl OptF64 {
    /// No value.
    pub const NONE: OptF64 = OptF64(f64::NAN);

    /// The value, if any.
    pub fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

impl From<Option<f64>> for OptF64 {
    /// Panics on `Some(NaN)`, which would read back as none.
    fn from(v: Option<f64>) -> OptF64 {
        match v {
            Some(x) => {
                assert!(!x.is_nan(), "OptF64 cannot hold NaN");
                OptF64(x)
            }
            None => OptF64::NONE,
        }
    }
}

impl PartialEq for OptF64 {
    fn eq(&self, other: &OptF64) -> bool {
        self.get() == other.get()
    }
}

/// An empty cell is none.
impl Cell for OptF64 {
    fn parse(cell: &str) -> Result<OptF64, &'static str> {
        Option::<f64>::parse(cell).map(OptF64::from)
    }
}

/// What the reports need of `requests.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Requests {
    /// Request id.
    pub id: Vec<u64>,
    /// Arrival, s.
    pub arrival_s: Vec<f64>,
    /// Output tokens.
    pub output_tokens: Vec<u64>,
    /// Instance that computed the prompt.
    pub prefill_instance: Vec<Option<u64>>,
    /// Instance that generated the output.
    pub decode_instance: Vec<Option<u64>>,
    /// TTFT, ms.
    pub ttft_ms: Vec<OptF64>,
    /// TPOT, ms.
    pub tpot_ms: Vec<OptF64>,
    /// E2E, ms.
    pub e2e_ms: Vec<OptF64>,
    /// Queueing before prefill, ms.
    pub queue_ms: Vec<OptF64>,
    /// KV transfer, ms.
    pub kv_transfer_ms: Vec<OptF64>,
    /// Every SLO met.
    pub slo_met: Vec<Option<bool>>,
    /// `completed`, `rejected`, `unfinished` or `timed-out`.
    pub outcome: Labels,
}

impl Requests {
    /// Read `requests.csv` (as `xpyd run` writes it).
    pub fn read(path: &Path) -> Result<Requests, InputError> {
        let cols = select(
            &REQUEST_COLUMNS,
            [
                "id",
                "arrival_s",
                "output_tokens",
                "prefill_instance",
                "decode_instance",
                "ttft_ms",
                "tpot_ms",
                "e2e_ms",
                "queue_ms",
                "kv_transfer_ms",
                "slo_met",
                "outcome",
            ],
        );
        // Column by column, each column's text freed once parsed.
        let mut t = CsvTable::read(path, &cols)?;
        Ok(Requests {
            id: t.take("id")?,
            arrival_s: t.take("arrival_s")?,
            output_tokens: t.take("output_tokens")?,
            prefill_instance: t.take("prefill_instance")?,
            decode_instance: t.take("decode_instance")?,
            ttft_ms: t.take("ttft_ms")?,
            tpot_ms: t.take("tpot_ms")?,
            e2e_ms: t.take("e2e_ms")?,
            queue_ms: t.take("queue_ms")?,
            kv_transfer_ms: t.take("kv_transfer_ms")?,
            slo_met: t.take("slo_met")?,
            outcome: t.labels("outcome"),
        })
    }

    /// Requests.
    pub fn len(&self) -> usize {
        self.id.len()
    }

    /// None.
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
}

/// What the reports need of `timeseries.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeseries {
    /// System (`disaggregated`, `aggregated-baseline`, ...).
    pub system: Labels,
    /// Window start, s.
    pub time_s: Vec<f64>,
    /// `prefill`, `decode` or `aggregated`.
    pub role: Labels,
    /// Waiting requests.
    pub waiting: Vec<u64>,
    /// Running sequences.
    pub running: Vec<u64>,
    /// KV blocks used / capacity.
    pub kv_utilization: Vec<f64>,
    /// Prefill replicas.
    pub prefill_replicas: Vec<u64>,
    /// Decode replicas.
    pub decode_replicas: Vec<u64>,
}

impl Timeseries {
    /// Read `timeseries.csv` (as `xpyd run` writes it).
    pub fn read(path: &Path) -> Result<Timeseries, InputError> {
        let cols = select(
            &TIMESERIES_COLUMNS,
            [
                "system",
                "time_s",
                "role",
                "waiting",
                "running",
                "kv_utilization",
                "prefill_replicas",
                "decode_replicas",
            ],
        );
        let mut t = CsvTable::read(path, &cols)?;
        Ok(Timeseries {
            system: t.labels("system"),
            time_s: t.take("time_s")?,
            role: t.labels("role"),
            waiting: t.take("waiting")?,
            running: t.take("running")?,
            kv_utilization: t.take("kv_utilization")?,
            prefill_replicas: t.take("prefill_replicas")?,
            decode_replicas: t.take("decode_replicas")?,
        })
    }
}

fn polars_err(what: &str) -> impl Fn(PolarsError) -> ReportError + '_ {
    move |e| ReportError::Table {
        table: what.to_string(),
        message: e.to_string(),
    }
}

/// Quantiles reported per group.
const QUANTILES: [(f64, &str); 3] = [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")];

/// Per group: its key, its row count, and `(column name, quantile per group)`.
struct GroupQuantiles {
    keys: Vec<Option<i64>>,
    counts: Vec<Option<i64>>,
    quantiles: Vec<(String, Vec<Option<f64>>)>,
}

/// Group the rows by `key` (stable) and compute, per group, the row count and the
/// quantiles of each of `values` taken in `order`, in group order.
///
/// Each value column is built and grouped alone, next to the key, so only one of them
/// is in memory at a time.
fn group_quantiles(
    key: &Column,
    order: &[usize],
    values: &[(&str, &[OptF64])],
    what: &str,
) -> Result<GroupQuantiles, ReportError> {
    let e = polars_err(what);
    let name = key.name().clone();
    let df = DataFrame::new(key.len(), vec![key.clone()]).map_err(&e)?;
    let counted = df
        .group_by_stable([name.clone()])
        .map_err(&e)?
        .select([name.clone()])
        .count()
        .map_err(&e)?;
    let keys: Vec<Option<i64>> = counted
        .column(&name)
        .and_then(|c| c.i64().cloned())
        .map_err(&e)?
        .iter()
        .collect();
    let n_col = &counted.columns()[1];
    let counts: Vec<Option<i64>> = n_col
        .cast(&DataType::Int64)
        .and_then(|c| c.i64().cloned())
        .map_err(&e)?
        .iter()
        .collect();
    let mut out = Vec::new();
    for (v, data) in values {
        let df =
            DataFrame::new(key.len(), vec![key.clone(), opt_col(v, data, order)]).map_err(&e)?;
        let gb = df.group_by_stable([name.clone()]).map_err(&e)?.select([*v]);
        for (q, label) in QUANTILES {
            let agg = gb.quantile(q, QuantileMethod::Linear).map_err(&e)?;
            let col: Vec<Option<f64>> = agg.columns()[1].f64().map_err(&e)?.iter().collect();
            out.push((format!("{}_{label}_ms", v.trim_end_matches("_ms")), col));
        }
    }
    Ok(GroupQuantiles {
        keys,
        counts,
        quantiles: out,
    })
}

/// Group `value` by `key` (stable) and aggregate it per group with `agg`, in group order.
fn group_agg(
    key: &Column,
    value: Column,
    agg: impl Fn(GroupBy) -> PolarsResult<DataFrame>,
    what: &str,
) -> Result<Vec<Option<f64>>, ReportError> {
    let e = polars_err(what);
    let v = value.name().clone();
    let df = DataFrame::new(key.len(), vec![key.clone(), value]).map_err(&e)?;
    let gb = df.group_by_stable([key.name().clone()]).map_err(&e)?;
    let out = agg(gb.select([v])).map_err(&e)?;
    Ok(out.columns()[1].f64().map_err(&e)?.iter().collect())
}

/// A polars column of the values of `v` in `order`, built without an intermediate `Vec`.
fn opt_col(name: &str, v: &[OptF64], order: &[usize]) -> Column {
    Float64Chunked::from_iter_options(name.into(), order.iter().map(|&i| v[i].get())).into_column()
}

/// A polars column of `values`.
fn f64_col(name: &str, values: impl Iterator<Item = f64>) -> Column {
    Float64Chunked::from_iter_values(name.into(), values).into_column()
}

/// A polars column of `values`.
fn i64_col(name: &str, values: impl Iterator<Item = i64>) -> Column {
    Int64Chunked::from_iter_values(name.into(), values).into_column()
}

/// Per window of `window_s` seconds of arrival: arrivals, completions, TTFT/TPOT/E2E
/// percentiles and the fraction meeting every SLO (`windows.csv`).
pub fn windows(req: &Requests, window_s: f64) -> Result<Table, ReportError> {
    assert!(window_s > 0.0, "window must be positive");
    let what = "windows.csv";
    let mut order: Vec<usize> = (0..req.len()).collect();
    let win = |i: usize| (req.arrival_s[i] / window_s).floor() as i64;
    order.sort_by_key(|&i| (win(i), req.id[i]));
    let key = i64_col("window", order.iter().map(|&i| win(i)));
    let GroupQuantiles {
        keys,
        counts,
        quantiles: quant,
    } = group_quantiles(
        &key,
        &order,
        &[
            ("ttft_ms", &req.ttft_ms),
            ("tpot_ms", &req.tpot_ms),
            ("e2e_ms", &req.e2e_ms),
        ],
        what,
    )?;
    let completed = f64_col(
        "completed",
        order.iter().map(|&i| {
            if req.e2e_ms[i].get().is_some() {
                1.0
            } else {
                0.0
            }
        }),
    );
    let done = group_agg(&key, completed, |gb| gb.sum(), what)?;
    let met = Float64Chunked::from_iter_options(
        "slo_met".into(),
        order
            .iter()
            .map(|&i| req.slo_met[i].map(|m| if m { 1.0 } else { 0.0 })),
    );
    let met = group_agg(&key, met.into_column(), |gb| gb.mean(), what)?;
    let mut columns = vec![
        (
            "window_start_s".to_string(),
            Col::Float(
                keys.iter()
                    .map(|k| k.map(|k| k as f64 * window_s))
                    .collect(),
                3,
            ),
        ),
        ("arrivals".to_string(), Col::Int(counts.clone())),
        (
            "arrival_rps".to_string(),
            Col::Float(
                counts
                    .iter()
                    .map(|c| c.map(|c| c as f64 / window_s))
                    .collect(),
                4,
            ),
        ),
        (
            "completed".to_string(),
            Col::Int(done.iter().map(|d| d.map(|d| d.round() as i64)).collect()),
        ),
    ];
    for (name, v) in quant {
        columns.push((name, Col::Float(v, 3)));
    }
    columns.push(("slo_met_fraction".to_string(), Col::Float(met, 4)));
    Ok(Table { columns })
}

/// Per instance: requests and latency percentiles, grouped by the instance that
/// computed the prompt (`role` = `prefill`) and by the one that generated the output
/// (`role` = `decode`) (`instances.csv`).
pub fn instances(req: &Requests) -> Result<Table, ReportError> {
    let what = "instances.csv";
    let mut role = Vec::new();
    let mut inst = Vec::new();
    let mut n = Vec::new();
    let mut quant: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    for (label, by) in [
        ("prefill", &req.prefill_instance),
        ("decode", &req.decode_instance),
    ] {
        let mut order: Vec<usize> = (0..req.len()).filter(|&i| by[i].is_some()).collect();
        order.sort_by_key(|&i| (by[i], req.id[i]));
        let key = i64_col(
            "instance",
            order.iter().map(|&i| by[i].map_or(0, |x| x as i64)),
        );
        let GroupQuantiles {
            keys,
            counts,
            quantiles: q,
        } = group_quantiles(
            &key,
            &order,
            &[
                ("ttft_ms", &req.ttft_ms),
                ("queue_ms", &req.queue_ms),
                ("tpot_ms", &req.tpot_ms),
                ("e2e_ms", &req.e2e_ms),
                ("kv_transfer_ms", &req.kv_transfer_ms),
            ],
            what,
        )?;
        role.extend(keys.iter().map(|_| label.to_string()));
        inst.extend(keys);
        n.extend(counts);
        if quant.is_empty() {
            quant = q;
        } else {
            for (dst, (_, src)) in quant.iter_mut().zip(q) {
                dst.1.extend(src);
            }
        }
    }
    let mut columns = vec![
        ("role".to_string(), Col::Text(role)),
        ("instance".to_string(), Col::Int(inst)),
        ("requests".to_string(), Col::Int(n)),
    ];
    for (name, v) in quant {
        columns.push((name, Col::Float(v, 3)));
    }
    Ok(Table { columns })
}

/// The time series summed over the instances of each role, per system and window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleSeries {
    /// System.
    pub system: String,
    /// Role.
    pub role: String,
    /// Window start, s.
    pub time_s: Vec<f64>,
    /// Waiting requests, summed over the role's instances.
    pub waiting: Vec<f64>,
    /// Running sequences, summed.
    pub running: Vec<f64>,
    /// KV utilisation, mean over instances.
    pub kv_utilization: Vec<f64>,
    /// Replicas of the role.
    pub replicas: Vec<f64>,
}

/// Sum the time series per `(system, role, window)` with polars, in first-appearance
/// order of the systems and roles.
pub fn role_series(ts: &Timeseries) -> Result<Vec<RoleSeries>, ReportError> {
    let what = "timeseries.csv";
    // The (system, role) code pairs, and the (pair, time in µs) windows, each in
    // first-appearance order; every row is keyed by its window's index, so that polars
    // groups on one integer column and its groups come out in window order.
    let mut roles: Vec<(u32, u32)> = Vec::new();
    let mut windows: Vec<(usize, i64)> = Vec::new();
    let mut index: BTreeMap<(usize, i64), i64> = BTreeMap::new();
    let mut key = Vec::with_capacity(ts.time_s.len());
    for (i, t) in ts.time_s.iter().enumerate() {
        let sr = (ts.system.codes[i], ts.role.codes[i]);
        let r = roles.iter().position(|&x| x == sr).unwrap_or_else(|| {
            roles.push(sr);
            roles.len() - 1
        });
        let w = (r, (t * 1e6).round() as i64);
        key.push(*index.entry(w).or_insert_with(|| {
            windows.push(w);
            windows.len() as i64 - 1
        }));
    }
    drop(index);
    let key = Int64Chunked::from_vec("window".into(), key).into_column();
    let agg = |col: Column, f: fn(GroupBy) -> PolarsResult<DataFrame>| {
        let out = group_agg(&key, col, f, what)?;
        debug_assert_eq!(out.len(), windows.len(), "one group per window");
        Ok::<_, ReportError>(
            out.into_iter()
                .map(|x| x.unwrap_or(0.0))
                .collect::<Vec<f64>>(),
        )
    };
    let waiting = agg(
        f64_col("waiting", ts.waiting.iter().map(|&x| x as f64)),
        |gb| gb.sum(),
    )?;
    let running = agg(
        f64_col("running", ts.running.iter().map(|&x| x as f64)),
        |gb| gb.sum(),
    )?;
    let kv = agg(
        f64_col("kv_utilization", ts.kv_utilization.iter().copied()),
        |gb| gb.mean(),
    )?;
    let replicas = (0..ts.role.len()).map(|i| {
        if ts.role.get(i) == "decode" {
            ts.decode_replicas[i] as f64
        } else {
            ts.prefill_replicas[i] as f64
        }
    });
    let reps = agg(f64_col("replicas", replicas), |gb| gb.max())?;
    let mut out: Vec<RoleSeries> = roles
        .iter()
        .map(|&(s, r)| RoleSeries {
            system: ts.system.names[s as usize].clone(),
            role: ts.role.names[r as usize].clone(),
            ..RoleSeries::default()
        })
        .collect();
    for (k, &(r, t)) in windows.iter().enumerate() {
        let o = &mut out[r];
        o.time_s.push(t as f64 / 1e6);
        o.waiting.push(waiting[k]);
        o.running.push(running[k]);
        o.kv_utilization.push(kv[k]);
        o.replicas.push(reps[k]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(v: Vec<Option<f64>>) -> Vec<OptF64> {
        v.into_iter().map(OptF64::from).collect()
    }

    fn req() -> Requests {
        Requests {
            id: vec![0, 1, 2, 3],
            arrival_s: vec![0.1, 0.5, 1.2, 1.9],
            output_tokens: vec![10, 10, 10, 10],
            prefill_instance: vec![Some(0), Some(1), Some(0), None],
            decode_instance: vec![Some(2), Some(2), Some(2), None],
            ttft_ms: opt(vec![Some(10.0), Some(30.0), Some(20.0), None]),
            tpot_ms: opt(vec![Some(1.0), Some(2.0), Some(3.0), None]),
            e2e_ms: opt(vec![Some(100.0), Some(200.0), Some(300.0), None]),
            queue_ms: opt(vec![Some(0.0), Some(1.0), Some(2.0), None]),
            kv_transfer_ms: opt(vec![Some(5.0), Some(5.0), Some(5.0), None]),
            slo_met: vec![Some(true), Some(false), Some(true), None],
            outcome: ["completed", "completed", "completed", "rejected"]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn opt_f64_round_trips() {
        for v in [None, Some(0.0), Some(-1.5), Some(f64::MAX)] {
            assert_eq!(OptF64::from(v).get(), v);
        }
        assert_eq!(OptF64::NONE, OptF64::from(None));
        assert_ne!(OptF64::NONE, OptF64::from(Some(0.0)));
        assert_eq!(OptF64::parse(""), Ok(OptF64::NONE));
        assert_eq!(OptF64::parse("2.5"), Ok(OptF64::from(Some(2.5))));
        assert_eq!(OptF64::parse("NaN"), Err("a finite number"));
        // r18 (fuzzing): a latency of 1.8e308 ms hung the chart's axis.
        assert_eq!(
            OptF64::parse("1.7976931348623157e308"),
            Err("a number in [-1e15, 1e15]")
        );
        assert_eq!(OptF64::parse("-1e15"), Ok(OptF64::from(Some(-1e15))));
    }

    #[test]
    fn windows_count_and_percentiles() {
        let t = windows(&req(), 1.0).unwrap();
        let csv = String::from_utf8(t.to_csv()).unwrap();
        let mut lines = csv.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("window_start_s,arrivals,arrival_rps,completed,ttft_p50_ms"));
        assert_eq!(t.col("arrivals"), Some(&Col::Int(vec![Some(2), Some(2)])));
        assert_eq!(t.col("completed"), Some(&Col::Int(vec![Some(2), Some(1)])));
        let Some(Col::Float(p50, _)) = t.col("ttft_p50_ms") else {
            panic!("ttft_p50_ms")
        };
        assert_eq!(p50, &vec![Some(20.0), Some(20.0)]);
        let Some(Col::Float(met, _)) = t.col("slo_met_fraction") else {
            panic!("slo_met_fraction")
        };
        assert_eq!(met, &vec![Some(0.5), Some(1.0)]);
    }

    #[test]
    fn instances_group_by_role() {
        let t = instances(&req()).unwrap();
        assert_eq!(
            t.col("role"),
            Some(&Col::Text(vec![
                "prefill".into(),
                "prefill".into(),
                "decode".into()
            ]))
        );
        assert_eq!(
            t.col("instance"),
            Some(&Col::Int(vec![Some(0), Some(1), Some(2)]))
        );
        assert_eq!(
            t.col("requests"),
            Some(&Col::Int(vec![Some(2), Some(1), Some(3)]))
        );
    }

    #[test]
    fn role_series_sums_instances() {
        let ts = Timeseries {
            system: ["pd"; 4].into_iter().collect(),
            time_s: vec![0.0, 0.0, 1.0, 1.0],
            role: ["decode"; 4].into_iter().collect(),
            waiting: vec![1, 2, 3, 4],
            running: vec![5, 6, 7, 8],
            kv_utilization: vec![0.2, 0.4, 0.6, 0.8],
            prefill_replicas: vec![1; 4],
            decode_replicas: vec![2; 4],
        };
        let s = role_series(&ts).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].waiting, vec![3.0, 7.0]);
        assert_eq!(s[0].running, vec![11.0, 15.0]);
        assert_eq!(s[0].replicas, vec![2.0, 2.0]);
        assert!((s[0].kv_utilization[0] - 0.3).abs() < 1e-12);
    }

    #[test]
    fn parquet_round_trips_row_count() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let t = windows(&req(), 1.0).unwrap();
        let dir = std::env::temp_dir().join(format!("xpyd-pq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("w.parquet");
        t.write_parquet(&p).unwrap();
        let r = SerializedFileReader::new(std::fs::File::open(&p).unwrap()).unwrap();
        assert_eq!(r.metadata().file_metadata().num_rows(), 2);
        assert_eq!(
            r.metadata().file_metadata().schema_descr().num_columns(),
            t.columns.len()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
