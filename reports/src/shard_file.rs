//! `shard-I-of-N.json`: the evaluations of one slice of a plan (`xpyd plan --shard I/N`),
//! written here and read back here for `--merge` from one wire layout (`Wire`).
//!
//! # Invariants
//!
//! - Floats round-trip exactly: each is written as its shortest decimal representation
//!   in a JSON string and read back with Rust's correctly rounded parser (no JSON number
//!   parsing in between), so a merged plan is byte-identical to the unsharded one.
//! - Unknown fields, another format or layout version, and an out-of-range shard are
//!   errors naming the file.

use crate::ReportError;
use crate::input::InputError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};
use xpyd_sim::planner::result::Evaluation;
use xpyd_sim::planner::search::{ProbeMetrics, SearchOutcome};
use xpyd_sim::planner::shard::{Shard, ShardFile};

/// What a shard file says it is (`format` field).
pub const SHARD_FORMAT: &str = "xpyd-plan-shard";

/// Version of the shard file layout.
pub const SHARD_VERSION: u32 = 1;

/// The file's JSON text (pretty, newline-terminated).
pub fn to_json(f: &ShardFile) -> String {
    let wire = Wire {
        format: SHARD_FORMAT.into(),
        version: SHARD_VERSION,
        xpyd: env!("CARGO_PKG_VERSION").into(),
        fingerprint: f.fingerprint.clone(),
        shard: f.shard.index,
        shards: f.shard.count,
        candidates: f.candidates,
        evaluations: f.evaluations.iter().map(EvalWire::from).collect(),
    };
    let mut s = serde_json::to_string_pretty(&wire).unwrap_or_else(|e| {
        panic!("a shard file always serialises (strings, integers, booleans): {e}")
    });
    s.push('\n');
    s
}

/// Read a shard file's text; `file` names it in errors.
pub fn from_json(file: &str, text: &str) -> Result<ShardFile, InputError> {
    let parse = |message: String| InputError::Shard {
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
    let most = xpyd_sim::planner::shard::MAX_SHARDS;
    if w.shards == 0 || w.shard >= w.shards || w.shards > most {
        return Err(parse(format!(
            "shard {}/{} is out of range (at most {most} shards)",
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

/// Write `f` as `dir/shard-I-of-N.json` (creating `dir`); returns the path.
pub fn write(dir: &Path, f: &ShardFile) -> Result<PathBuf, ReportError> {
    crate::create_dir(dir)?;
    let path = dir.join(f.shard.file_name());
    crate::atomic::write_file(&path, to_json(f).as_bytes())?;
    Ok(path)
}

/// The shard files named for a merge (`--merge`): files as given, folders'
/// `shard-I-of-N.json` files in name order; each with the name it is given in errors.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<(String, ShardFile)>, InputError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| InputError::Merge {
            path: p.clone(),
            message: "no such file or folder",
            source,
        })?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|source| InputError::Merge {
                    path: p.clone(),
                    message: "cannot list the folder",
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".json"))
                })
                .collect();
            if found.is_empty() {
                return Err(InputError::NoShards { path: p.clone() });
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    files
        .into_iter()
        .map(|f| {
            let name = f.display().to_string();
            let text = xpyd_models::file::read_text(&f, xpyd_models::file::MAX_TEXT_FILE_BYTES)
                .map_err(|source| InputError::Merge {
                    path: f.clone(),
                    message: "cannot read",
                    source,
                })?;
            let shard = from_json(&name, &text)?;
            Ok((name, shard))
        })
        .collect()
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    estimate_rps: Option<Exact>,
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
    p_model: Exact,
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
            estimate_rps,
            search,
        } = e;
        EvalWire {
            index: *index,
            bound_rps: Exact(*bound_rps),
            estimate_rps: estimate_rps.map(Exact),
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
                            p_model,
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
                            p_model: Exact(*p_model),
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
            estimate_rps: w.estimate_rps.map(|e| e.0),
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
                    p_model: p.p_model.0,
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
            p_model: x,
        };
        let evaluations: Vec<Evaluation> = tricky
            .iter()
            .enumerate()
            .map(|(i, &x)| Evaluation {
                index: i * 2,
                bound_rps: x,
                estimate_rps: (i % 2 == 1).then_some(x),
                search: Some(SearchOutcome {
                    max_rate_rps: x,
                    at_max: Some(probe(x)),
                    probes: 7,
                }),
            })
            .chain([Evaluation {
                index: 20,
                bound_rps: f64::NAN,
                estimate_rps: None,
                search: None,
            }])
            .collect();
        let f = ShardFile {
            fingerprint: "0123456789abcdef".into(),
            shard: Shard { index: 0, count: 2 },
            candidates: 21,
            evaluations,
        };
        let back = from_json("s.json", &to_json(&f)).unwrap();
        let bits = |f: &ShardFile| {
            f.evaluations
                .iter()
                .map(|e| {
                    let s = e.search.as_ref();
                    let p = s.and_then(|s| s.at_max.as_ref());
                    (
                        e.index,
                        e.bound_rps.to_bits(),
                        e.estimate_rps.map(f64::to_bits),
                        s.map(|s| (s.max_rate_rps.to_bits(), s.probes)),
                        p.map(|p| {
                            (
                                p.ttft_ms[2].to_bits(),
                                p.tokens_per_s_per_user.to_bits(),
                                p.p_model.to_bits(),
                            )
                        }),
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
        let e = from_json("x.json", "{}").unwrap_err().to_string();
        assert!(e.starts_with("x.json: not a plan shard file"), "{e}");
        let f = ShardFile {
            fingerprint: "f".into(),
            shard: Shard { index: 0, count: 1 },
            candidates: 0,
            evaluations: vec![],
        };
        let text = to_json(&f).replace("xpyd-plan-shard", "other");
        let e = from_json("y.json", &text).unwrap_err().to_string();
        assert!(e.contains("expected `xpyd-plan-shard`"), "{e}");
    }
}
