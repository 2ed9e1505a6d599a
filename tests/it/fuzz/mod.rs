//! Fuzzing in the tree (issue 18 item 5): proptest-driven mutations of every input format
//! xpyd reads, each checked for no panic, no hang and an error that says what is wrong.
//!
//! Targets (one module each): `scenario` (scenario text and `--set` pairs, validated and,
//! when valid, simulated for a few dozen requests), `trace` (Azure 2023 CSV, Mooncake
//! JSONL, length CSVs), `profile` (calibration profile JSON, Hugging Face `config.json`,
//! engine profiles), `serving` (measured-serving files) and `report` (the files of a run
//! folder given to `xpyd report`).
//!
//! Each target has two tests: `generated` mutates seed inputs (byte-level edits and
//! structured replacements of field values by extreme ones: 0, -1, 1e308, 5e-324, NaN,
//! huge integers, empty and very long strings, deep nesting), and `corpus` replays every
//! file of `tests/fuzz/corpus/<target>/`: seeds and every input that ever failed.
//!
//! Invariants: a case runs on a worker thread watched by a timer; a panic fails the case,
//! and a case running longer than [`timeout`] is a hang: its input is printed and saved,
//! and the process aborts (the worker cannot be stopped). Failing inputs are written to
//! `$CARGO_TARGET_TMPDIR/fuzz-failures/<target>/` to be added to the corpus. The default
//! run is deterministic (fixed seed) and short; the environment makes it longer:
//! - `XPYD_FUZZ_CASES=N`: cases per target (default: each target's own, a few hundred);
//! - `XPYD_FUZZ_SECONDS=S`: run each target for S seconds instead (batches of cases with
//!   successive seeds), printing the number of cases run;
//! - `XPYD_FUZZ_SEED=N`: the first seed (default fixed);
//! - `XPYD_FUZZ_TIMEOUT_S=S`: the hang limit of one case (default 10 s).
//!
//! The long run of the README (one hour: 5 targets x 720 s, on one core):
//! `XPYD_FUZZ_SECONDS=720 XPYD_FUZZ_SEED=1000 taskset -c 1 cargo test --test it fuzz:: -- --test-threads 1 --nocapture`.

mod mutate;
mod profile;
mod regressions;
mod report;
mod scenario;
mod serving;
mod trace;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Folder of the committed corpus of `target`.
pub(crate) fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target)
}

/// Files (or folders) of the corpus of `target`, sorted.
pub(crate) fn corpus(target: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    });
    v.sort();
    v
}

/// Removes a scratch folder when dropped (the test's end, pass or fail: failing inputs
/// are saved elsewhere).
pub(crate) struct Cleanup(pub(crate) PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A scratch folder of `name`, emptied.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xpyd-fuzz-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The hang limit of one case.
pub(crate) fn timeout() -> Duration {
    Duration::from_secs_f64(
        std::env::var("XPYD_FUZZ_TIMEOUT_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10.0),
    )
}

/// Save a failing input under the target's failures folder; returns where.
fn save_failure(target: &str, input: &dyn std::fmt::Debug) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fuzz-failures")
        .join(target);
    let _ = std::fs::create_dir_all(&dir);
    let text = format!("{input:#?}");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let p = dir.join(format!("{h:016x}.txt"));
    let _ = std::fs::write(&p, text);
    p
}

/// Run `check` on `input` on a worker thread: `Err` with the panic message if it
/// panicked or returned `Err`; aborts the process (input printed and saved) on a hang.
pub(crate) fn guarded<I, F>(target: &str, input: I, check: F) -> Result<(), String>
where
    I: std::fmt::Debug + Clone + Send + 'static,
    F: FnOnce(I) -> Result<(), String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let shown = input.clone();
    let worker = std::thread::Builder::new()
        .name(format!("fuzz-{target}"))
        .stack_size(8 << 20)
        .spawn(move || {
            let r = check(input);
            let _ = tx.send(r);
        })
        .expect("spawn a fuzz worker");
    match rx.recv_timeout(timeout()) {
        Ok(Ok(())) => {
            let _ = worker.join();
            Ok(())
        }
        Ok(Err(msg)) => {
            let _ = worker.join();
            let at = save_failure(target, &shown);
            Err(format!(
                "{target}: {msg}\ninput (saved to {}): {shown:#?}",
                at.display()
            ))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let panic = match worker.join() {
                Err(p) => p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
                Ok(()) => String::new(),
            };
            let at = save_failure(target, &shown);
            Err(format!(
                "{target}: panicked: {panic}\ninput (saved to {}): {shown:#?}",
                at.display()
            ))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let at = save_failure(target, &shown);
            eprintln!(
                "{target}: HANG: no answer in {:?}\ninput (saved to {}): {shown:#?}",
                timeout(),
                at.display()
            );
            std::process::abort();
        }
    }
}

/// Run `cases` generated cases of `strategy` through `check` (or, with
/// `XPYD_FUZZ_SECONDS`, as many as fit), failing the test on the first failure (shrunk).
pub(crate) fn generated<S, F>(target: &str, default_cases: u32, strategy: S, check: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(&S::Value) -> Result<(), String>,
{
    let seconds = env_u64("XPYD_FUZZ_SECONDS");
    let cases =
        env_u64("XPYD_FUZZ_CASES").map_or(default_cases, |n| n.min(u64::from(u32::MAX)) as u32);
    let first_seed = env_u64("XPYD_FUZZ_SEED").unwrap_or(0x005e_ed18);
    let start = Instant::now();
    let mut total: u64 = 0;
    let mut seed = first_seed;
    loop {
        let batch = if seconds.is_some() {
            cases.min(200)
        } else {
            cases
        };
        let config = Config {
            cases: batch,
            failure_persistence: None,
            max_shrink_iters: 512,
            max_global_rejects: 100_000,
            ..Config::default()
        };
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..8 + target.len().min(24)]
            .copy_from_slice(&target.as_bytes()[..target.len().min(24)]);
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
        let r = runner.run(&strategy, |v| check(&v).map_err(TestCaseError::fail));
        total += u64::from(batch);
        if let Err(e) = r {
            panic!("fuzz {target} (seed {seed}, after {total} cases): {e}");
        }
        seed += 1;
        match seconds {
            Some(s) if start.elapsed().as_secs() < s => {}
            _ => break,
        }
    }
    eprintln!(
        "fuzz {target}: {total} cases in {:.1} s (seeds {first_seed}..={})",
        start.elapsed().as_secs_f64(),
        seed.saturating_sub(1).max(first_seed)
    );
}

/// Assert an error message says something: not empty, no debug formatting of a panic.
pub(crate) fn nonempty(msg: &str) -> Result<(), String> {
    if std::env::var_os("XPYD_FUZZ_VERBOSE").is_some() {
        eprintln!("error: {msg}");
    }
    if msg.trim().is_empty() {
        return Err("an error without a message".into());
    }
    Ok(())
}
