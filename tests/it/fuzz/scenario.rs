//! Target `scenario`: scenario files (the shipped ones and the corpus, mutated) and
//! `--set` pairs, loaded as the CLI loads them; an error must name the file and the field
//! (or flag, or `--set` argument) at fault; a scenario that validates is simulated, capped
//! at 50 requests (and at most 50 warm-up requests) and a simulated day (the default `max-duration-s`), and its outputs
//! written.

use super::mutate::{self, Format, Mutation};
use super::{corpus, guarded, nonempty, scratch};
use proptest::collection::vec;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use xpyd_reports::run_outputs::{self, RunOptions};
use xpyd_sim::scenario::Overrides;
use xpyd_sim::{Scenario, ScenarioError};

const TARGET: &str = "scenario";

/// Paths `--set` may target beyond a seed's own keys.
const SET_PATHS: &[&str] = &[
    "workload.arrival.clients",
    "workload.arrival.rate-rps",
    "workload.input-tokens",
    "workload.output-tokens",
    "workload.prefix",
    "workload.requests",
    "workload.warmup-requests",
    "workload.timeout-s",
    "efficiency.gemm-flops",
    "efficiency.memory-bandwidth",
    "efficiency.step-overhead-ms",
    "deployment.decode.replicas",
    "deployment.prefill.tp",
    "deployment.engine.kv-block-tokens",
    "deployment.engine.max-num-seqs",
    "simulation.max-duration-s",
    "simulation.sample-window-s",
    "hardware.gpus-per-node",
    "hardware.profile",
    "model.id",
    "model.max-model-len",
    "slo.percentile",
    "kv-transfer.efficiency",
    "seed",
    "name",
    "a.b.c.d.e.f.g",
    "",
    "workload..x",
];

/// One input: scenario text (any bytes) and `--set` pairs.
#[derive(Clone)]
pub(crate) struct Case {
    /// The seed it came from.
    seed: String,
    /// Scenario file content.
    text: Vec<u8>,
    /// `--set` pairs.
    sets: Vec<String>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As a corpus file: the pairs as `#fuzz-set:` lines, then the text.
        writeln!(f, "# seed {}", self.seed)?;
        for s in &self.sets {
            writeln!(f, "#fuzz-set: {s}")?;
        }
        write!(f, "{}", String::from_utf8_lossy(&self.text))
    }
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files.extend(corpus(TARGET));
    files
        .into_iter()
        .map(|p| {
            // A corpus file's `#fuzz-set` lines stay comments here: its text is the seed.
            let text = std::fs::read(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect()
}

/// A corpus file: leading `#fuzz-set: KEY=VALUE` lines are `--set` pairs.
fn corpus_case(bytes: &[u8]) -> (Vec<String>, Vec<u8>) {
    let text = String::from_utf8_lossy(bytes);
    let sets = text
        .lines()
        .filter_map(|l| l.strip_prefix("#fuzz-set: "))
        .map(str::to_owned)
        .collect();
    (sets, bytes.to_vec())
}

/// Load as `xpyd run FILE --set ...` does.
fn load(dir: &Path, text: &[u8], ov: &Overrides) -> (PathBuf, Result<Scenario, ScenarioError>) {
    let file = dir.join("fuzz.toml");
    std::fs::write(&file, text).unwrap();
    let r = Scenario::load_with(Some(&file), ov);
    (file, r)
}

/// The error names the file and a field, flag or `--set` argument.
pub(crate) fn check_error(file: &Path, e: &ScenarioError) -> Result<(), String> {
    let msg = e.to_string();
    nonempty(&msg)?;
    if !msg.starts_with(&file.display().to_string()) {
        return Err(format!("the error does not name the file: {msg}"));
    }
    let named = match e {
        ScenarioError::Parse { field, .. } | ScenarioError::Invalid { field, .. } => field,
        ScenarioError::Flag { flag, .. } => flag,
        ScenarioError::Override { arg, .. } => arg,
        ScenarioError::Io { .. } => return Ok(()),
    };
    if named.trim().is_empty() {
        return Err(format!("the error names no field: {msg}"));
    }
    Ok(())
}

/// Validate, then simulate a valid scenario briefly and write its outputs.
pub(crate) fn check(dir: &Path, text: &[u8], sets: &[String]) -> Result<(), String> {
    let ov = Overrides {
        sets: sets.to_vec(),
        ..Overrides::default()
    };
    let (file, r) = load(dir, text, &ov);
    let sc = match r {
        Ok(sc) => sc,
        Err(e) => return check_error(&file, &e),
    };
    // Valid: a short run (50 requests, a simulated day at most: the default, so that
    // periodic timers run as long as they would by default) must end within the watchdog.
    let mut capped = ov.clone();
    if sc.max_duration.as_secs_f64() > 86_400.0 {
        capped.sets.push("simulation.max-duration-s=86400".into());
    }
    capped.requests = Some(50);
    // Warm-up requests are simulated too: a valid 16,777,217 of them ran past the
    // watchdog (found by the long run, 2026-12-06).
    if sc.workload.warmup_requests() > 50 {
        capped.sets.push("workload.warmup-requests=50".into());
    }
    let (_, r) = load(dir, text, &capped);
    let Ok(sc) = r else {
        return Ok(());
    };
    simulate(dir, &sc)
}

/// Simulate `sc` (and its baseline) and write the outputs, as `xpyd run --no-report`.
pub(crate) fn simulate(dir: &Path, sc: &Scenario) -> Result<(), String> {
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let opts = RunOptions {
        baseline: true,
        report: None,
        openmetrics: None,
        intervals: None,
    };
    match run_outputs::write(&out, sc, opts, &mut || {}) {
        Ok(files) => {
            let text = files.summary.to_text();
            if std::env::var_os("XPYD_FUZZ_VERBOSE").is_some() {
                eprintln!("ok: {} requests", files.summary.system.requests.completed);
            }
            // Numbers only: the first line names the scenario, whose name may be anything.
            let numbers = text.lines().skip(1).flat_map(str::split_whitespace);
            if numbers.clone().any(|w| ["NaN", "inf", "-inf"].contains(&w)) {
                return Err(format!("the summary has a non-finite number:\n{text}"));
            }
            Ok(())
        }
        Err(e) => nonempty(&format!("{e:#}")),
    }
}

/// A generated case: seed index, mutations, `--set` pairs (own key?, key, value).
type Choice = (u32, Vec<Mutation>, Vec<(bool, u32, u32)>);

fn case() -> impl Strategy<Value = Choice> {
    (
        any::<u32>(),
        prop_oneof![3 => mutate::mutations(), 1 => Just(Vec::new())],
        vec((any::<bool>(), any::<u32>(), any::<u32>()), 0..3),
    )
}

fn build(seeds: &[(String, Vec<u8>)], (seed, muts, sets): &Choice) -> Case {
    let (name, text) = &seeds[*seed as usize % seeds.len()];
    let paths = mutate::toml_paths(&String::from_utf8_lossy(text));
    let ext = mutate::extremes();
    let sets = sets
        .iter()
        .map(|(own, p, v)| {
            let key = if *own && !paths.is_empty() {
                paths[*p as usize % paths.len()].clone()
            } else {
                SET_PATHS[*p as usize % SET_PATHS.len()].to_owned()
            };
            format!("{key}={}", ext[*v as usize % ext.len()])
        })
        .collect();
    Case {
        seed: name.clone(),
        text: mutate::apply(Format::Toml, text, muts),
        sets,
    }
}

#[test]
fn generated() {
    let seeds = seeds();
    let dir = scratch("scenario-gen");
    let _cleanup = super::Cleanup(dir.clone());
    super::generated(TARGET, 300, case(), |v| {
        let c = build(&seeds, v);
        let dir = dir.clone();
        guarded(TARGET, c, move |c| check(&dir, &c.text, &c.sets))
    });
}

#[test]
fn corpus_replay() {
    let dir = scratch("scenario-corpus");
    let _cleanup = super::Cleanup(dir.clone());
    let files = corpus(TARGET);
    assert!(
        !files.is_empty(),
        "no corpus in {}",
        super::corpus_dir(TARGET).display()
    );
    for p in files {
        let (sets, text) = corpus_case(&std::fs::read(&p).unwrap());
        let c = Case {
            seed: p.display().to_string(),
            text,
            sets,
        };
        let dir = dir.clone();
        guarded(TARGET, c, move |c| check(&dir, &c.text, &c.sets)).unwrap();
    }
}
