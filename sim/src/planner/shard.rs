//! Shards of a plan: evaluate a deterministic slice of the candidate list on one machine
//! ([`evaluate_shard`]), write it as a [`ShardFile`], and merge the files of every slice
//! into exactly the plan one machine makes ([`merge`]).
//!
//! # Invariants
//!
//! - Shard `I/N` holds the candidates whose index `i` has `i % N == I` (interleaved, so
//!   that slices of a list ordered by size get similar work). The slices partition the
//!   list; [`merge`] checks that every shard `0..N` is present exactly once and that each
//!   holds exactly its candidates.
//! - A shard file carries a [`fingerprint`] of everything the evaluations depend on (the
//!   scenario with its overrides, the contents of every file it reads, the search space,
//!   prices, target rate, probe size, precision, pruning, the xpyd version); a merge
//!   rejects a file whose fingerprint is not the one of its own settings, so shards made
//!   from other data (a trace edited since, a wrong file in a Job's ConfigMap) never
//!   merge.
//! - A shard file (`xpyd_reports::shard_file` writes and reads it) must give back its
//!   evaluations bit for bit, so that a merged plan is byte-identical to the unsharded
//!   one.

use super::candidates::{Candidate, enumerate};
use super::result::{Evaluation, Plan};
use super::{EvalContext, PlanError, PlanSettings, Progress, evaluate, finish, in_pool};
use crate::scenario::ScenarioFile;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Most shards a plan is split into (`--shard I/N`; a merge needs every one's file).
pub const MAX_SHARDS: u32 = 100_000;

/// One slice of a plan: `index` of `count` (`I/N` on the command line).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which slice, `0..count`.
    pub index: u32,
    /// How many slices.
    pub count: u32,
}

impl Shard {
    /// Whether candidate `i` (its index in the list) belongs to this slice.
    pub fn holds(self, i: usize) -> bool {
        i % self.count as usize == self.index as usize
    }

    /// The shard file's name: `shard-I-of-N.json`.
    pub fn file_name(self) -> String {
        format!("shard-{}-of-{}.json", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N` with `1 <= N <=` [`MAX_SHARDS`] and `I < N` (indices count from 0).
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected I/N, e.g. 0/4"))?;
        let num = |t: &str, what: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}`: {what} `{t}` is not a non-negative integer"))
        };
        let (index, count) = (num(i, "shard index")?, num(n, "shard count")?);
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(format!(
                "`{s}`: the shard count must be in [1, {MAX_SHARDS}], got {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "`{s}`: the shard index must be below the shard count (0..{count}, counting from 0)"
            ));
        }
        Ok(Shard { index, count })
    }
}

/// A shard file could not be used. Fatal.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The file belongs to another plan, or the shards do not fit together.
    #[error("{file}: {message}")]
    Mismatch {
        /// The file.
        file: String,
        /// What does not match.
        message: String,
    },
    /// A shard is missing or given twice.
    #[error("merge: {0}")]
    Incomplete(String),
    /// Making the plan failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// The evaluations of one shard, as written to `shard-I-of-N.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardFile {
    /// [`fingerprint`] of the settings that made it.
    pub fingerprint: String,
    /// Which slice.
    pub shard: Shard,
    /// Candidates in the whole list.
    pub candidates: usize,
    /// The slice's evaluations, in candidate order.
    pub evaluations: Vec<Evaluation>,
}

/// 64-bit FNV-1a of `bytes` (stable across platforms and versions).
fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_more(0xcbf2_9ce4_8422_2325, bytes)
}

/// FNV-1a of `bytes` continued from the hash `h`.
fn fnv1a_more(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One line per local file `base` reads (`ScenarioFile::file_fields`, resolved against
/// `base_dir`): its path as the scenario gives it and the FNV-1a hash of its contents
/// (`unreadable` if it cannot be read now; validation has read it before).
fn file_contents(base: &ScenarioFile, base_dir: &Path) -> String {
    use std::io::Read;
    let mut out = String::new();
    for p in base.file_fields() {
        let path = base_dir.join(&p);
        let hash = std::fs::File::open(&path).and_then(|mut f| {
            let mut h = fnv1a(b"");
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    return Ok(h);
                }
                h = fnv1a_more(h, &buf[..n]);
            }
        });
        match hash {
            Ok(h) => out.push_str(&format!("{p}\t{h:016x}\n")),
            Err(_) => out.push_str(&format!("{p}\tunreadable\n")),
        }
    }
    out
}

/// Fingerprint of what a plan's evaluations depend on: the scenario (overrides applied),
/// the contents of the files it reads, search space, prices, target rate, probe size, precision, pruning and the xpyd
/// version; not the worker count, the output folder or where the scenario file lies.
/// 16 hex digits.
pub fn fingerprint(settings: &PlanSettings) -> String {
    let PlanSettings {
        base,
        file: _,
        base_dir,
        space,
        gpu_prices,
        target_rate_rps,
        probe_requests,
        precision,
        jobs: _,
        prune,
        memory_budget_gib: _,
        confidence,
        engine_shift,
    } = settings;
    // Debug of f64 is its shortest round-trip form: distinct values, distinct text.
    let text = format!(
        "xpyd {}\n{base:?}\n{}{space:?}\n{gpu_prices:?}\n{target_rate_rps:?}\n{probe_requests}\n{precision:?}\n{prune}\n{confidence:?}\n{engine_shift:?}",
        env!("CARGO_PKG_VERSION"),
        file_contents(base, base_dir),
    );
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// Evaluate shard `shard` of the plan of `settings` (on a pool of `settings.jobs`
/// threads).
pub fn evaluate_shard(
    settings: &PlanSettings,
    shard: Shard,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ShardFile, PlanError> {
    let ctx = EvalContext::new(settings)?;
    ctx.check_budget(settings)?;
    let candidates = enumerate(
        &settings.base,
        &settings.file,
        &settings.base_dir,
        &settings.space,
    )?;
    let slice: Vec<Candidate> = candidates
        .iter()
        .filter(|c| shard.holds(c.index))
        .cloned()
        .collect();
    progress(Progress::Start { total: slice.len() });
    let evaluations = in_pool(settings.jobs, || {
        evaluate(&ctx, &slice, settings.prune, progress)
    })??;
    Ok(ShardFile {
        fingerprint: fingerprint(settings),
        shard,
        candidates: candidates.len(),
        evaluations,
    })
}

/// Merge shard files `(name, file)` made with `settings` into its plan: the plan
/// [`super::plan`] makes on one machine, byte for byte. Every shard `0..N` must be given
/// exactly once, each with this plan's fingerprint and exactly its candidates.
pub fn merge(
    settings: &PlanSettings,
    files: &[(String, ShardFile)],
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Plan, ShardError> {
    let want = fingerprint(settings);
    let Some((_, first)) = files.first() else {
        return Err(ShardError::Incomplete("no shard files given".into()));
    };
    let count = first.shard.count;
    // Every file's fingerprint first, and the count bounded, before anything is
    // allocated for the shards.
    for (name, f) in files {
        if f.fingerprint != want {
            return Err(ShardError::Mismatch {
                file: name.clone(),
                message: format!(
                    "made for another scenario or other plan settings (fingerprint {}, this plan {want}): run the merge with the scenario and flags the shards were made with",
                    f.fingerprint
                ),
            });
        }
    }
    if !(1..=MAX_SHARDS).contains(&count) {
        return Err(ShardError::Incomplete(format!(
            "the shards are {} of {count}: the shard count must be in [1, {MAX_SHARDS}]",
            first.shard
        )));
    }
    let mut seen: Vec<Option<&str>> = vec![None; count as usize];
    for (name, f) in files {
        let mismatch = |message: String| ShardError::Mismatch {
            file: name.clone(),
            message,
        };
        if f.fingerprint != want {
            return Err(mismatch(format!(
                "made for another scenario or other plan settings (fingerprint {}, this plan {want}): run the merge with the scenario and flags the shards were made with",
                f.fingerprint
            )));
        }
        if f.shard.count != count {
            return Err(mismatch(format!(
                "shard {} does not fit with shard {} of the first file",
                f.shard, first.shard
            )));
        }
        let Some(slot) = seen.get_mut(f.shard.index as usize) else {
            return Err(mismatch(format!(
                "shard index {} is not below the shard count {count}",
                f.shard.index
            )));
        };
        match slot {
            Some(other) => {
                return Err(mismatch(format!(
                    "shard {} is given twice (also in {other})",
                    f.shard
                )));
            }
            slot => *slot = Some(name.as_str()),
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(ShardError::Incomplete(format!(
            "shard(s) {} missing",
            missing.join(", ")
        )));
    }
    let ctx = EvalContext::new(settings)?;
    ctx.check_budget(settings)?;
    let candidates = enumerate(
        &settings.base,
        &settings.file,
        &settings.base_dir,
        &settings.space,
    )?;
    let mut evals = Vec::with_capacity(candidates.len());
    for (name, f) in files {
        let mismatch = |message: String| ShardError::Mismatch {
            file: name.clone(),
            message,
        };
        if f.candidates != candidates.len() {
            return Err(mismatch(format!(
                "made over {} candidates, this plan has {}",
                f.candidates,
                candidates.len()
            )));
        }
        let want_n = candidates.iter().filter(|c| f.shard.holds(c.index)).count();
        let foreign = f.evaluations.iter().find(|e| !f.shard.holds(e.index));
        if let Some(e) = foreign {
            return Err(mismatch(format!(
                "holds candidate {} which is not in shard {}",
                e.index, f.shard
            )));
        }
        if f.evaluations.len() != want_n {
            return Err(mismatch(format!(
                "holds {} evaluations, shard {} has {want_n} candidates",
                f.evaluations.len(),
                f.shard
            )));
        }
        evals.extend(f.evaluations.iter().cloned());
    }
    progress(Progress::Confirming);
    Ok(finish(settings, &ctx, &candidates, &evals)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_specs_parse_or_say_why() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["3/2", "2/2", "0/0", "1", "a/2", "1/b", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert!(
            "3/2"
                .parse::<Shard>()
                .unwrap_err()
                .contains("below the shard count")
        );
        let s = Shard { index: 1, count: 3 };
        assert_eq!(
            (0..7).filter(|&i| s.holds(i)).collect::<Vec<_>>(),
            vec![1, 4]
        );
        assert_eq!(s.file_name(), "shard-1-of-3.json");
    }

    /// r18: two files of other contents under one name (a wrong ConfigMap key, an edited
    /// trace) give another fingerprint.
    #[test]
    fn the_fingerprint_covers_the_files_contents() {
        let dir = std::env::temp_dir().join(format!("xpyd-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x y.csv"), "input_tokens\n100\n").unwrap();
        let mut base: ScenarioFile = toml::from_str(crate::scenario::DEFAULT_SCENARIO).unwrap();
        base.workload.input_tokens = Some(crate::workload::LengthFile::Empirical {
            path: "x y.csv".into(),
            column: Some("input_tokens".into()),
        });
        let settings = PlanSettings {
            base,
            file: dir.join("s.toml"),
            base_dir: dir.clone(),
            space: super::super::candidates::SearchSpace::default_for(vec!["h100".into()], 8),
            gpu_prices: Vec::new(),
            target_rate_rps: None,
            probe_requests: 100,
            precision: 0.05,
            jobs: 1,
            prune: true,
            memory_budget_gib: super::super::DEFAULT_MEMORY_BUDGET_GIB,
            confidence: None,
            engine_shift: None,
        };
        let a = fingerprint(&settings);
        assert_eq!(fingerprint(&settings), a);
        std::fs::write(dir.join("x y.csv"), "input_tokens\n999\n").unwrap();
        assert_ne!(fingerprint(&settings), a);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
