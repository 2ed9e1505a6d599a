//! The performance regression gate of `xpyd bench --compare`: the report schema a
//! comparison reads, and the rule that flags a workload.
//!
//! A comparison pairs rounds: round `i` of the base build with round `i` of this one, for
//! each workload both measured. With `--baseline-exe OLD` the pairs are true pairs (both
//! binaries run in the same round, one after the other, the order alternating), so a
//! change of the machine's load hits both sides of a pair alike; with a `BASE.json` only,
//! the base's per-round samples (`wall_s_rounds`) are paired by index with rounds run now,
//! which controls nothing about the load between then and now (see the README).
//!
//! Invariants:
//! - [`judge`] is a pure function of the paired samples and the [`Rule`]: no timing, no
//!   I/O, so the flagging rule is tested on synthetic samples.
//! - A round is *slower* when this build's cost exceeds the base's by more than
//!   `slower_by` (strictly); a workload is *flagged* when at least `min_slower` of its
//!   paired rounds are slower. The default rule is 10% in 4 of 5 rounds, and for `n`
//!   rounds `ceil(4n/5)`.
//! - The cost compared is wall seconds per simulated request where both sides report a
//!   request count (so a workload whose count changed between builds is still compared
//!   per request), else wall seconds.
//! - Reading a report never panics: a malformed file is a [`ReportError`] naming the file
//!   and the JSON path of the offending field.

use super::Measurement;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A whole `xpyd bench --json` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The build that measured it; absent in reports of builds before `--compare`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// Rounds each workload ran (absent in older reports: one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<u32>,
    /// One element per workload, in the order they ran.
    pub workloads: Vec<Measurement>,
    /// With `--compare` or `--baseline-exe`: the verdict per workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comparison: Vec<Comparison>,
}

/// Which build measured a report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// `xpyd`'s package version.
    pub version: String,
    /// The executable that ran the workloads.
    pub exe: String,
}

/// A malformed or unreadable base report. Fatal (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON does not parse into a report.
    #[error("{file}: {path}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// JSON path of the offending field (`workloads[2].wall_s`; `.` for the whole).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A field parses but cannot be compared (a sample not finite and > 0, too few rounds).
    #[error("{file}: {path}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// JSON path of the offending field.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Report {
    /// Parse `text`, the content of `file`, and check what a comparison relies on: every
    /// wall-time sample finite and > 0, request counts > 0 where given.
    pub fn parse(file: &Path, text: &str) -> Result<Report, ReportError> {
        let name = file.display().to_string();
        let mut de = serde_json::Deserializer::from_str(text);
        let report: Report = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            ReportError::Parse {
                file: name.clone(),
                path,
                message: e.into_inner().to_string(),
            }
        })?;
        for (i, w) in report.workloads.iter().enumerate() {
            let bad = |field: &str, message: String| ReportError::Invalid {
                file: name.clone(),
                path: format!("workloads[{i}].{field}"),
                message,
            };
            if !(w.wall_s.is_finite() && w.wall_s > 0.0) {
                return Err(bad("wall_s", format!("{} is not a time > 0 s", w.wall_s)));
            }
            for (k, &s) in w.wall_s_rounds.iter().enumerate() {
                if !(s.is_finite() && s > 0.0) {
                    return Err(bad(
                        &format!("wall_s_rounds[{k}]"),
                        format!("{s} is not a time > 0 s"),
                    ));
                }
            }
            if w.requests == Some(0) {
                return Err(bad("requests", "0 requests cannot be compared".into()));
            }
        }
        Ok(report)
    }

    /// Read and parse the report at `file`.
    pub fn read(file: &Path) -> Result<Report, ReportError> {
        let text = std::fs::read_to_string(file).map_err(|source| ReportError::Io {
            file: file.display().to_string(),
            source,
        })?;
        Report::parse(file, &text)
    }

    /// The first `rounds` wall-time samples of workload `name` (`wall_s_rounds`, or
    /// `wall_s` alone in a report of one round); `Ok(None)` when the report has no such
    /// workload; an error naming the field when it has fewer samples than `rounds`.
    pub fn samples(
        &self,
        file: &Path,
        name: &str,
        rounds: usize,
    ) -> Result<Option<(&Measurement, Vec<f64>)>, ReportError> {
        let Some((i, m)) = self
            .workloads
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == name)
        else {
            return Ok(None);
        };
        let all: Vec<f64> = if m.wall_s_rounds.is_empty() {
            vec![m.wall_s]
        } else {
            m.wall_s_rounds.clone()
        };
        if all.len() < rounds {
            return Err(ReportError::Invalid {
                file: file.display().to_string(),
                path: format!("workloads[{i}].wall_s_rounds"),
                message: format!(
                    "{name} has {} sample(s) and {rounds} rounds are compared: measure the \
                     base with `xpyd bench --rounds {rounds} --json`, or compare with \
                     `--rounds {}`",
                    all.len(),
                    all.len()
                ),
            });
        }
        Ok(Some((m, all[..rounds].to_vec())))
    }
}

/// When a workload is flagged as slower.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Rule {
    /// A round is slower when this build's cost exceeds the base's by more than this
    /// fraction (0.10 = 10%).
    pub slower_by: f64,
    /// Slower rounds that flag the workload.
    pub min_slower: usize,
}

impl Rule {
    /// The default rule for `rounds` paired rounds: 10% slower in `ceil(4 x rounds / 5)`
    /// of them (4 of 5).
    pub fn for_rounds(rounds: usize) -> Rule {
        Rule {
            slower_by: 0.10,
            min_slower: (4 * rounds).div_ceil(5).max(1),
        }
    }
}

/// The verdict on one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The workload's name.
    pub name: String,
    /// Per paired round: this build's cost over the base's (> 1: slower).
    pub ratios: Vec<f64>,
    /// Rounds slower by more than the rule's fraction.
    pub slower_rounds: usize,
    /// Rounds compared.
    pub rounds: usize,
    /// Median of `ratios`.
    pub median_ratio: f64,
    /// Whether the rule flags it.
    pub flagged: bool,
    /// Base's median wall seconds.
    pub base_wall_s: f64,
    /// This build's median wall seconds.
    pub new_wall_s: f64,
    /// Peak RSS, base and this build, MB (the larger over rounds), where known.
    pub peak_rss_mb: Option<(f64, f64)>,
    /// Something a reader should know (request counts that differ); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// Judge paired `(base, new)` costs by `rule`: per-round ratios, slower rounds, flag.
/// Panics on no pairs or a cost that is not finite and > 0 (callers check samples).
pub fn judge(pairs: &[(f64, f64)], rule: Rule) -> (Vec<f64>, usize, bool) {
    assert!(!pairs.is_empty(), "no paired rounds to judge");
    let ratios: Vec<f64> = pairs
        .iter()
        .map(|&(b, n)| {
            assert!(b.is_finite() && b > 0.0 && n.is_finite() && n > 0.0);
            n / b
        })
        .collect();
    let slower = ratios.iter().filter(|&&r| r > 1.0 + rule.slower_by).count();
    (ratios, slower, slower >= rule.min_slower)
}

/// The median of `xs` (the mean of the middle two for an even count); NaN when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Compare workload `name`'s base samples (`base`, with `base_walls` per round) with this
/// build's (`new`, `new_walls`), round `i` with round `i`.
pub fn compare(
    base: &Measurement,
    base_walls: &[f64],
    new: &Measurement,
    new_walls: &[f64],
    rule: Rule,
) -> Comparison {
    let n = base_walls.len().min(new_walls.len());
    let (per_request, note) = match (base.requests, new.requests) {
        (Some(b), Some(m)) if b == m => (Some((b as f64, m as f64)), String::new()),
        (Some(b), Some(m)) => (
            Some((b as f64, m as f64)),
            format!("requests differ ({b} base, {m} now): compared per request"),
        ),
        _ => (None, String::new()),
    };
    let pairs: Vec<(f64, f64)> = (0..n)
        .map(|i| match per_request {
            Some((b, m)) => (base_walls[i] / b, new_walls[i] / m),
            None => (base_walls[i], new_walls[i]),
        })
        .collect();
    let (ratios, slower_rounds, flagged) = judge(&pairs, rule);
    Comparison {
        name: new.name.clone(),
        median_ratio: median(&ratios),
        ratios,
        slower_rounds,
        rounds: n,
        flagged,
        base_wall_s: median(&base_walls[..n]),
        new_wall_s: median(&new_walls[..n]),
        peak_rss_mb: base.peak_rss_mb.zip(new.peak_rss_mb),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, requests: Option<u64>, walls: &[f64]) -> Measurement {
        Measurement {
            name: name.into(),
            requests,
            wall_s: median(walls),
            requests_per_s: None,
            events_per_s: None,
            peak_rss_mb: Some(10.0),
            wall_s_rounds: walls.to_vec(),
        }
    }

    /// 10% in 4 of 5: three slower rounds pass, four flag; exactly 10% is not slower.
    #[test]
    fn four_of_five_rounds_slower_by_ten_percent_flag() {
        let rule = Rule::for_rounds(5);
        assert_eq!(rule.min_slower, 4);
        let base = [1.0; 5];
        let pairs = |new: [f64; 5]| -> Vec<(f64, f64)> { base.into_iter().zip(new).collect() };
        let (_, slower, flagged) = judge(&pairs([1.2, 1.2, 1.2, 1.0, 1.0]), rule);
        assert_eq!((slower, flagged), (3, false));
        let (_, slower, flagged) = judge(&pairs([1.2, 1.2, 1.2, 1.11, 0.5]), rule);
        assert_eq!((slower, flagged), (4, true));
        let (_, slower, flagged) = judge(&pairs([1.1; 5]), rule);
        assert_eq!((slower, flagged), (0, false));
        let (ratios, slower, flagged) = judge(&pairs([2.0; 5]), rule);
        assert_eq!((slower, flagged), (5, true));
        assert_eq!(ratios, vec![2.0; 5]);
        // Faster is never flagged, however much.
        let (_, slower, flagged) = judge(&pairs([0.1; 5]), rule);
        assert_eq!((slower, flagged), (0, false));
        // The rule scales with the rounds.
        assert_eq!(Rule::for_rounds(1).min_slower, 1);
        assert_eq!(Rule::for_rounds(3).min_slower, 3);
        assert_eq!(Rule::for_rounds(10).min_slower, 8);
    }

    /// Rounds are paired by index: one noisy base round does not flag, a consistent
    /// slowdown does; a changed request count is compared per request.
    #[test]
    fn pairs_by_round_and_per_request() {
        let rule = Rule::for_rounds(5);
        let base = m("chat-1m", Some(100), &[1.0, 1.0, 3.0, 1.0, 1.0]);
        let same = m("chat-1m", Some(100), &[1.05, 1.0, 1.0, 1.05, 1.0]);
        let c = compare(&base, &base.wall_s_rounds, &same, &same.wall_s_rounds, rule);
        assert!(!c.flagged && c.slower_rounds == 0, "{c:?}");
        let slow = m("chat-1m", Some(100), &[1.2, 1.2, 3.5, 1.0, 1.3]);
        let c = compare(&base, &base.wall_s_rounds, &slow, &slow.wall_s_rounds, rule);
        assert_eq!((c.slower_rounds, c.flagged), (4, true));
        assert!((c.median_ratio - 1.2).abs() < 1e-12, "{c:?}");
        // Twice the requests in twice the time: the same cost per request.
        let doubled = m("chat-1m", Some(200), &[2.0, 2.0, 6.0, 2.0, 2.0]);
        let c = compare(
            &base,
            &base.wall_s_rounds,
            &doubled,
            &doubled.wall_s_rounds,
            rule,
        );
        assert!(!c.flagged && c.note.contains("per request"), "{c:?}");
        // A planner workload (no request count) compares wall seconds.
        let plan = m("plan-default", None, &[2.0; 5]);
        let slower_plan = m("plan-default", None, &[2.5; 5]);
        let c = compare(
            &plan,
            &plan.wall_s_rounds,
            &slower_plan,
            &slower_plan.wall_s_rounds,
            rule,
        );
        assert!(c.flagged && c.note.is_empty(), "{c:?}");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    /// A malformed base names the file and the JSON path of the field; an old report
    /// (no rounds, no build) still reads, with one sample per workload.
    #[test]
    fn malformed_reports_name_file_and_field() {
        let f = Path::new("BASE.json");
        let old = r#"{"workloads":[{"name":"chat-1m","requests":1000000,"wall_s":1.7,
            "requests_per_s":588235.0,"events_per_s":8.0e6,"peak_rss_mb":38.9}]}"#;
        let r = Report::parse(f, old).unwrap();
        assert_eq!(r.build, None);
        let (_, s) = r.samples(f, "chat-1m", 1).unwrap().unwrap();
        assert_eq!(s, vec![1.7]);
        assert!(r.samples(f, "fleet-10m", 1).unwrap().is_none());
        let e = r.samples(f, "chat-1m", 5).unwrap_err().to_string();
        assert!(
            e.starts_with("BASE.json: workloads[0].wall_s_rounds: "),
            "{e}"
        );
        for (text, want) in [
            (
                r#"{"workloads":[{"name":"a","requests":1,"wall_s":"x","requests_per_s":null,"events_per_s":null,"peak_rss_mb":null}]}"#,
                "BASE.json: workloads[0].wall_s: ",
            ),
            (
                r#"{"workloads":[{"name":"a","requests":1,"wall_s":0.0,"requests_per_s":null,"events_per_s":null,"peak_rss_mb":null}]}"#,
                "BASE.json: workloads[0].wall_s: ",
            ),
            (
                r#"{"workloads":[{"name":"a","requests":1,"wall_s":1.0,"wall_s_rounds":[1.0,-2.0],"requests_per_s":null,"events_per_s":null,"peak_rss_mb":null}]}"#,
                "BASE.json: workloads[0].wall_s_rounds[1]: ",
            ),
            (
                r#"{"workloads":[{"name":"a","requests":0,"wall_s":1.0,"requests_per_s":null,"events_per_s":null,"peak_rss_mb":null}]}"#,
                "BASE.json: workloads[0].requests: ",
            ),
            (r#"{"work":[]}"#, "BASE.json: "),
            ("not json", "BASE.json: "),
        ] {
            let e = Report::parse(f, text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text}: {e}");
        }
        let e = Report::read(Path::new("/nonexistent/BASE.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/BASE.json: cannot read"), "{e}");
    }
}
