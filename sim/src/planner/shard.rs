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
//!   scenario with its overrides, the search space, prices, target rate, probe size,
//!   precision, pruning, the xpyd version); a merge rejects a file whose fingerprint is
//!   not the one of its own settings.
//! - Floats round-trip exactly: each is written as its shortest decimal representation
//!   in a JSON string and read back with Rust's correctly rounded parser (no JSON number
//!   parsing in between), so a merged plan is byte-identical to the unsharded one.

use super::candidates::{Candidate, enumerate};
use super::result::{Evaluation, Plan};
use super::search::{ProbeMetrics, SearchOutcome};
use super::{EvalContext, PlanError, PlanSettings, Progress, evaluate, finish, in_pool};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// What a shard file says it is (`format` field).
pub const SHARD_FORMAT: &str = "xpyd-plan-shard";

/// Version of the shard file layout.
pub const SHARD_VERSION: u32 = 1;

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

    /// `I/N` with `N >= 1` and `I < N` (indices count from 0).
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
        if count == 0 {
            return Err(format!("`{s}`: the shard count must be at least 1"));
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
    /// The file is not a readable shard file.
    #[error("{file}: not a plan shard file: {message}")]
    Parse {
        /// The file (as named by the caller).
        file: String,
        /// What is wrong.
        message: String,
    },
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
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fingerprint of what a plan's evaluations depend on: the scenario (overrides applied),
/// search space, prices, target rate, probe size, precision, pruning and the xpyd
/// version; not the worker count, the output folder or where the scenario file lies.
/// 16 hex digits.
pub fn fingerprint(settings: &PlanSettings) -> String {
    let PlanSettings {
        base,
        file: _,
        base_dir: _,
        space,
        gpu_prices,
        target_rate_rps,
        probe_requests,
        precision,
        jobs: _,
        prune,
    } = settings;
    // Debug of f64 is its shortest round-trip form: distinct values, distinct text.
    let text = format!(
        "xpyd {}\n{base:?}\n{space:?}\n{gpu_prices:?}\n{target_rate_rps:?}\n{probe_requests}\n{precision:?}\n{prune}",
        env!("CARGO_PKG_VERSION")
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
        match &mut seen[f.shard.index as usize] {
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

impl ShardFile {
    /// The file's JSON text (pretty, newline-terminated).
    pub fn to_json(&self) -> String {
        let wire = Wire {
            format: SHARD_FORMAT.into(),
            version: SHARD_VERSION,
            xpyd: env!("CARGO_PKG_VERSION").into(),
            fingerprint: self.fingerprint.clone(),
            shard: self.shard.index,
            shards: self.shard.count,
            candidates: self.candidates,
            evaluations: self.evaluations.iter().map(EvalWire::from).collect(),
        };
        let mut s = serde_json::to_string_pretty(&wire).unwrap_or_else(|e| {
            panic!("a shard file always serialises (strings, integers, booleans): {e}")
        });
        s.push('\n');
        s
    }

    /// Read a shard file's text; `file` names it in errors.
    pub fn from_json(file: &str, text: &str) -> Result<ShardFile, ShardError> {
        let parse = |message: String| ShardError::Parse {
            file: file.to_string(),
            message,
        };
        let de = &mut serde_json::Deserializer::from_str(text);
        let w: Wire = serde_path_to_error::deserialize(de).map_err(|e| parse(e.to_string()))?;
        if w.format != SHARD_FORMAT {
            return Err(parse(format!(
                "format is `{}`, expected `{SHARD_FORMAT}`",
                w.format
            )));
        }
        if w.version != SHARD_VERSION {
            return Err(parse(format!(
                "layout version {} (this xpyd reads {SHARD_VERSION})",
                w.version
            )));
        }
        if w.shards == 0 || w.shard >= w.shards {
            return Err(parse(format!(
                "shard {}/{} is out of range",
                w.shard, w.shards
            )));
        }
        Ok(ShardFile {
            fingerprint: w.fingerprint,
            shard: Shard {
                index: w.shard,
                count: w.shards,
            },
            candidates: w.candidates,
            evaluations: w.evaluations.into_iter().map(Evaluation::from).collect(),
        })
    }
}

/// The file layout.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    format: String,
    version: u32,
    /// The xpyd version that wrote it (information; the fingerprint covers it).
    xpyd: String,
    fingerprint: String,
    shard: u32,
    shards: u32,
    candidates: usize,
    evaluations: Vec<EvalWire>,
}

/// An `f64` written as the text of its shortest round-trip form (`"0.1"`, `"NaN"`,
/// `"inf"`) and read back with Rust's correctly rounded parser: exact, unlike a JSON
/// number read by serde_json without its `float_roundtrip` feature.
#[derive(Copy, Clone, Debug)]
struct Exact(f64);

impl Serialize for Exact {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:?}", self.0))
    }
}

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Exact, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<f64>()
            .map(Exact)
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a number")))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalWire {
    index: usize,
    bound_rps: Exact,
    search: Option<SearchWire>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchWire {
    max_rate_rps: Exact,
    at_max: Option<ProbeWire>,
    probes: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeWire {
    rate_rps: Exact,
    met: bool,
    attainment: Exact,
    goodput_rps: Exact,
    ttft_ms: [Exact; 3],
    tpot_ms: [Exact; 3],
    output_tokens_per_s_per_gpu: Exact,
    tokens_per_s_per_user: Exact,
}

fn exact3(a: [f64; 3]) -> [Exact; 3] {
    a.map(Exact)
}

fn f64s(a: [Exact; 3]) -> [f64; 3] {
    a.map(|e| e.0)
}

impl From<&Evaluation> for EvalWire {
    fn from(e: &Evaluation) -> EvalWire {
        let Evaluation {
            index,
            bound_rps,
            search,
        } = e;
        EvalWire {
            index: *index,
            bound_rps: Exact(*bound_rps),
            search: search.as_ref().map(|s| {
                let SearchOutcome {
                    max_rate_rps,
                    at_max,
                    probes,
                } = s;
                SearchWire {
                    max_rate_rps: Exact(*max_rate_rps),
                    at_max: at_max.as_ref().map(|p| {
                        let ProbeMetrics {
                            rate_rps,
                            met,
                            attainment,
                            goodput_rps,
                            ttft_ms,
                            tpot_ms,
                            output_tokens_per_s_per_gpu,
                            tokens_per_s_per_user,
                        } = p;
                        ProbeWire {
                            rate_rps: Exact(*rate_rps),
                            met: *met,
                            attainment: Exact(*attainment),
                            goodput_rps: Exact(*goodput_rps),
                            ttft_ms: exact3(*ttft_ms),
                            tpot_ms: exact3(*tpot_ms),
                            output_tokens_per_s_per_gpu: Exact(*output_tokens_per_s_per_gpu),
                            tokens_per_s_per_user: Exact(*tokens_per_s_per_user),
                        }
                    }),
                    probes: *probes,
                }
            }),
        }
    }
}

impl From<EvalWire> for Evaluation {
    fn from(w: EvalWire) -> Evaluation {
        Evaluation {
            index: w.index,
            bound_rps: w.bound_rps.0,
            search: w.search.map(|s| SearchOutcome {
                max_rate_rps: s.max_rate_rps.0,
                at_max: s.at_max.map(|p| ProbeMetrics {
                    rate_rps: p.rate_rps.0,
                    met: p.met,
                    attainment: p.attainment.0,
                    goodput_rps: p.goodput_rps.0,
                    ttft_ms: f64s(p.ttft_ms),
                    tpot_ms: f64s(p.tpot_ms),
                    output_tokens_per_s_per_gpu: p.output_tokens_per_s_per_gpu.0,
                    tokens_per_s_per_user: p.tokens_per_s_per_user.0,
                }),
                probes: s.probes,
            }),
        }
    }
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

    #[test]
    fn floats_round_trip_exactly() {
        let tricky = [
            0.1,
            1.0 / 3.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            -0.0,
            123_456.789_012_345_67,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let probe = |x: f64| ProbeMetrics {
            rate_rps: x,
            met: true,
            attainment: x,
            goodput_rps: x,
            ttft_ms: [x, x, x],
            tpot_ms: [x, x, x],
            output_tokens_per_s_per_gpu: x,
            tokens_per_s_per_user: x,
        };
        let evaluations: Vec<Evaluation> = tricky
            .iter()
            .enumerate()
            .map(|(i, &x)| Evaluation {
                index: i * 2,
                bound_rps: x,
                search: Some(SearchOutcome {
                    max_rate_rps: x,
                    at_max: Some(probe(x)),
                    probes: 7,
                }),
            })
            .chain([Evaluation {
                index: 20,
                bound_rps: f64::NAN,
                search: None,
            }])
            .collect();
        let f = ShardFile {
            fingerprint: "0123456789abcdef".into(),
            shard: Shard { index: 0, count: 2 },
            candidates: 21,
            evaluations,
        };
        let back = ShardFile::from_json("s.json", &f.to_json()).unwrap();
        let bits = |f: &ShardFile| {
            f.evaluations
                .iter()
                .map(|e| {
                    let s = e.search.as_ref();
                    let p = s.and_then(|s| s.at_max.as_ref());
                    (
                        e.index,
                        e.bound_rps.to_bits(),
                        s.map(|s| (s.max_rate_rps.to_bits(), s.probes)),
                        p.map(|p| (p.ttft_ms[2].to_bits(), p.tokens_per_s_per_user.to_bits())),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&f), bits(&back));
        assert_eq!(back.shard, f.shard);
        assert_eq!(back.fingerprint, f.fingerprint);
    }

    #[test]
    fn broken_files_are_errors_naming_the_file() {
        let e = ShardFile::from_json("x.json", "{}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.json: not a plan shard file"), "{e}");
        let f = ShardFile {
            fingerprint: "f".into(),
            shard: Shard { index: 0, count: 1 },
            candidates: 0,
            evaluations: vec![],
        };
        let text = f.to_json().replace("xpyd-plan-shard", "other");
        let e = ShardFile::from_json("y.json", &text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected `xpyd-plan-shard`"), "{e}");
    }
}
