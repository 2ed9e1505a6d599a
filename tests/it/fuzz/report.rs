//! Target `report`: the files of a small real run folder (`summary.json`,
//! `requests.csv`, `timeseries.csv`, `requests-baseline.csv`, `assumptions.json`), one mutated or removed per case,
//! then `xpyd report` rebuilt on the folder: no panic, no hang, an error with a message.
//!
//! Corpus: each `tests/fuzz/corpus/report/<case>/` holds files replacing the run's; an
//! empty file `-NAME` removes `NAME`.

use super::mutate::{self, Format, Mutation};
use super::{corpus, guarded, nonempty, scratch};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use xpyd_reports::run_outputs::{self, RunOptions};
use xpyd_reports::run_report::ReportOptions;
use xpyd_sim::Scenario;

const TARGET: &str = "report";

const FILES: [&str; 4] = [
    "summary.json",
    "requests.csv",
    "timeseries.csv",
    "assumptions.json",
];

/// The base run folder (written once per process).
fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        // Kept for the process's life (the tests copy it).
        let dir = scratch("report-base");
        let text = crate::common::SMALL.replace("requests = 150", "requests = 20");
        let sc = Scenario::from_text(Path::new("small.toml"), Path::new("."), &text, &[]).unwrap();
        let out = dir.join("run");
        let opts = RunOptions {
            baseline: true,
            report: None,
            openmetrics: None,
            intervals: None,
        };
        run_outputs::write(&out, &sc, opts, &mut || {}).unwrap();
        out
    })
}

#[derive(Clone)]
pub(crate) struct Case {
    /// Replaced files (`None`: removed).
    files: Vec<(String, Option<Vec<u8>>)>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, b) in &self.files {
            match b {
                Some(b) => writeln!(f, "--- {name}\n{}", String::from_utf8_lossy(b))?,
                None => writeln!(f, "--- {name} removed")?,
            }
        }
        Ok(())
    }
}

fn check(dir: &Path, c: &Case) -> Result<(), String> {
    let run = dir.join("run");
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).unwrap();
    for f in std::fs::read_dir(base()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, run.join(f.file_name().unwrap())).unwrap();
    }
    for (name, b) in &c.files {
        match b {
            Some(b) => std::fs::write(run.join(name), b).unwrap(),
            None => {
                let _ = std::fs::remove_file(run.join(name));
            }
        }
    }
    let opts = ReportOptions {
        png: false,
        parquet: false,
    };
    match xpyd_reports::rebuild(&run, opts, None) {
        Ok(_) => Ok(()),
        Err(e) => nonempty(&format!("{e:#}")),
    }
}

fn strategy() -> impl Strategy<Value = (u8, bool, Vec<Mutation>)> {
    (0u8..5, proptest::bool::weighted(0.05), mutate::mutations())
}

fn build((f, remove, muts): &(u8, bool, Vec<Mutation>)) -> Case {
    let name = FILES[*f as usize % FILES.len()];
    let bytes = (!remove).then(|| {
        let seed = std::fs::read(base().join(name)).unwrap();
        let format = if name.ends_with(".csv") {
            Format::Csv
        } else {
            Format::Json
        };
        mutate::apply(format, &seed, muts)
    });
    Case {
        files: vec![(name.to_owned(), bytes)],
    }
}

#[test]
fn generated() {
    let dir = scratch("report-gen");
    let _cleanup = super::Cleanup(dir.clone());
    super::generated(TARGET, 200, strategy(), |v| {
        let c = build(v);
        let dir = dir.clone();
        guarded(TARGET, c, move |c| check(&dir, &c))
    });
}

#[test]
fn corpus_replay() {
    let dir = scratch("report-corpus");
    let _cleanup = super::Cleanup(dir.clone());
    for case in corpus(TARGET) {
        let mut files = Vec::new();
        for p in std::fs::read_dir(&case).unwrap() {
            let p = p.unwrap().path();
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            match n.strip_prefix('-') {
                Some(removed) => files.push((removed.to_owned(), None)),
                None => files.push((n, Some(std::fs::read(&p).unwrap()))),
            }
        }
        files.sort();
        let c = Case { files };
        let dir = dir.clone();
        guarded(TARGET, c, move |c| check(&dir, &c)).unwrap();
    }
}
