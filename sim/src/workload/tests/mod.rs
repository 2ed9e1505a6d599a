//! Tests of the whole pipeline: TOML -> WorkloadFile -> Workload -> WorkloadGen, by
//! concept; the helpers and shared inputs are here.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::*;
use crate::rng::Streams;
use crate::time::SimDuration;

/// A scenario with only a workload table, so error paths start with `workload.`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    workload: WorkloadFile,
}

/// Parses TOML, giving `path: message` on error.
fn parse(toml_text: &str) -> Result<WorkloadFile, String> {
    let de = toml::Deserializer::parse(toml_text).map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize::<_, Scenario>(de)
        .map(|s| s.workload)
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// Parses and validates; panics with the message on error.
fn workload(toml_text: &str) -> Workload {
    let f = parse(toml_text).unwrap_or_else(|e| panic!("{e}"));
    Workload::from_file(f, Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

/// The validation error of a TOML text that parses.
fn invalid(toml_text: &str, base: &Path) -> WorkloadError {
    let f = parse(toml_text).unwrap_or_else(|e| panic!("{e}"));
    match Workload::from_file(f, base) {
        Ok(w) => panic!("accepted: {w:?}"),
        Err(e) => e,
    }
}

fn generator(w: &Workload, seed: u64) -> WorkloadGen {
    WorkloadGen::new(w, &Streams::new(seed)).unwrap_or_else(|e| panic!("{e}"))
}

fn open_all(w: &Workload, seed: u64) -> Vec<RequestSpec> {
    let mut g = generator(w, seed);
    std::iter::from_fn(|| g.next_open()).collect()
}

/// A unique scratch file path for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xpyd-workload-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir.join(name)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{e}"));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap_or_else(|e| panic!("{e}"));
    enc.finish().unwrap_or_else(|e| panic!("{e}"))
}

const POISSON: &str = r#"
[workload]
requests = 2000
[workload.arrival]
kind = "poisson"
rate-rps = 10
[workload.input-tokens]
kind = "lognormal"
mean = 1000.0
std = 500.0
max = 8192
[workload.output-tokens]
kind = "uniform"
min = 16
max = 256
"#;

fn trace_workload(format: &str, path: &str, extra: &str) -> Workload {
    workload(&format!(
        "[workload]\n[workload.trace]\nformat = \"{format}\"\npath = \"{path}\"\n{extra}"
    ))
}

fn check_trace(reqs: &[RequestSpec], rows: usize) {
    assert_eq!(reqs.len(), rows);
    assert_eq!(reqs[0].arrival, SimTime::ZERO);
    assert!(reqs.windows(2).all(|p| p[0].arrival <= p[1].arrival));
    assert!(
        reqs.iter()
            .all(|r| r.input_tokens >= 1 && r.output_tokens >= 1)
    );
}

mod arrivals;
mod errors;
mod lengths;
mod sessions;
mod traces;
