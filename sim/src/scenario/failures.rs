//! Failures (`[failures]`): when GPUs and nodes fail, and what a failure does.
//!
//! Failures are processes like arrivals: each serving instance's GPUs fail at
//! `tp / gpu-mtbf-hours` (the first of its `tp` GPUs to fail takes it down) and each node
//! fails at `1 / node-mtbf-hours`, taking down every instance placed on it, with
//! exponential times between failures drawn from streams of their own
//! ([`Stream::Failure`](crate::rng::Stream::Failure)), so that turning failures on does not
//! move one arrival. `[[failures.events]]` adds failures at given times, of one instance
//! or one node. A failure hits an instance only while it holds its GPUs (starting, ready
//! or draining); the requests on it end as `lost`, the KV transfers it takes part in are
//! aborted, and its ReplicaSet creates a replacement at once, which pays the cold start
//! (`[cold-start]`). A draining instance is not replaced.
//!
//! There is no default MTBF: both rates are required to be given when used. Reference values
//! (docs/availability.md): Meta's Llama 3 405B pre-training saw 419 unexpected
//! interruptions in 54 days on 16,384 H100s, 58.7% of them GPU-related (Llama 3 Herd of
//! Models, arXiv:2407.21783, section 3.3.4): about 86,500 GPU-hours between GPU-related
//! failures per GPU.
//!
//! Invariants: every number is range-checked by [`Validator`], errors name the file, the
//! field (`failures.events[2].instance`), the value and the range; times are converted
//! once to [`SimTime`]; events are kept in time order (ties in file order).

use super::ScenarioError;
use super::check::Validator;
use crate::limits::{MAX_INSTANCES, MAX_SCHEDULE_POINTS};
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

/// Accepted MTBF range, hours: from 36 s to about 114,000 years.
pub const MTBF_RANGE_HOURS: (f64, f64) = (0.01, 1e9);

/// Accepted retry budgets: at most 100 retries of one request.
pub const MAX_RETRIES: u32 = 100;

/// Accepted notice periods, seconds: up to one day.
pub const MAX_NOTICE_S: f64 = 86_400.0;

/// `[failures]`: the serde mirror.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FailuresFile {
    /// Mean time between failures of one GPU, hours (no default: unset, no GPU process).
    pub gpu_mtbf_hours: Option<f64>,
    /// Mean time between failures of one node, hours (no default: unset, no node process).
    pub node_mtbf_hours: Option<f64>,
    /// Times the router retries a request lost to a failure on another instance
    /// (default 0: lost requests end as `lost`).
    pub retries: Option<u32>,
    /// Notice before every failure of the processes and of trace entries without their
    /// own `notice-s`, seconds (default 0: none): the instance drains from then on.
    pub drain_notice_s: Option<f64>,
    /// Failures at given times.
    #[serde(default)]
    pub events: Vec<FailureEventFile>,
}

/// One `[[failures.events]]` entry: exactly one of `instance` and `node`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FailureEventFile {
    /// When, seconds of simulated time.
    pub at_s: f64,
    /// The instance that fails (its index, as in `instances.csv`).
    pub instance: Option<u32>,
    /// The node that fails (its index, as in `instances.csv`'s `node`).
    pub node: Option<u32>,
    /// Notice before this failure, seconds (default: `drain-notice-s`).
    pub notice_s: Option<f64>,
}

/// What a failure takes down.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FailureTarget {
    /// One instance (all its GPUs).
    Instance(u16),
    /// One node: every instance placed on it.
    Node(u32),
}

/// One failure of the trace.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FailureEvent {
    /// When.
    pub at: SimTime,
    /// What fails.
    pub target: FailureTarget,
    /// Notice before it (zero: none): the instances it takes down drain from `at - notice`.
    pub notice: SimDuration,
}

/// A validated `[failures]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailuresConfig {
    /// Mean time between failures of one GPU, hours (`None`: no GPU process).
    pub gpu_mtbf_hours: Option<f64>,
    /// Mean time between failures of one node, hours (`None`: no node process).
    pub node_mtbf_hours: Option<f64>,
    /// The trace, in time order.
    pub events: Vec<FailureEvent>,
    /// Times the router retries a request lost to a failure (0: none).
    pub retries: u32,
    /// Notice before every process failure (zero: none).
    pub drain_notice: SimDuration,
}

impl FailuresConfig {
    /// Mean time between failures of an instance of `tp` GPUs, as a rate per second
    /// (`None` without a GPU process).
    pub fn instance_rate_per_s(&self, tp: u32) -> Option<f64> {
        self.gpu_mtbf_hours.map(|h| f64::from(tp) / (h * 3600.0))
    }

    /// A node's failure rate per second (`None` without a node process).
    pub fn node_rate_per_s(&self) -> Option<f64> {
        self.node_mtbf_hours.map(|h| 1.0 / (h * 3600.0))
    }
}

/// Validates `[failures]` of a deployment of `instances` instances (all that may ever
/// run); fields are named `failures.<key>`.
pub(super) fn failures_config(
    v: &Validator,
    f: &FailuresFile,
    instances: u32,
    spot: bool,
) -> Result<FailuresConfig, ScenarioError> {
    let FailuresFile {
        gpu_mtbf_hours,
        node_mtbf_hours,
        retries,
        drain_notice_s,
        events,
    } = f;
    let retries = v.count("failures.retries", retries.unwrap_or(0), 0..=MAX_RETRIES)?;
    let drain_notice = notice(v, "failures.drain-notice-s", drain_notice_s.unwrap_or(0.0))?;
    let mtbf = |key: &str, x: Option<f64>| {
        x.map(|x| v.f64_in(&format!("failures.{key}"), x, MTBF_RANGE_HOURS, "hours"))
            .transpose()
    };
    let gpu_mtbf_hours = mtbf("gpu-mtbf-hours", *gpu_mtbf_hours)?;
    let node_mtbf_hours = mtbf("node-mtbf-hours", *node_mtbf_hours)?;
    if gpu_mtbf_hours.is_none() && node_mtbf_hours.is_none() && events.is_empty() && !spot {
        return Err(v.invalid(
            "failures",
            "names no failure: set gpu-mtbf-hours, node-mtbf-hours or [[failures.events]] (or remove the section; with [spot] it may set retries only)",
        ));
    }
    if events.len() > MAX_SCHEDULE_POINTS {
        return Err(v.invalid(
            "failures.events",
            format!(
                "must have at most {MAX_SCHEDULE_POINTS} entries, got {}",
                events.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(events.len());
    for (k, e) in events.iter().enumerate() {
        let FailureEventFile {
            at_s,
            instance,
            node,
            notice_s,
        } = e;
        let at = v.non_negative_secs_bounded(&format!("failures.events[{k}].at-s"), *at_s)?;
        let notice = match notice_s {
            Some(s) => notice(v, &format!("failures.events[{k}].notice-s"), *s)?,
            None => drain_notice,
        };
        let target = match (instance, node) {
            (Some(i), None) => {
                let field = format!("failures.events[{k}].instance");
                let i = v.count(&field, *i, 0..=instances.saturating_sub(1))?;
                FailureTarget::Instance(i as u16)
            }
            (None, Some(n)) => {
                let field = format!("failures.events[{k}].node");
                FailureTarget::Node(v.count(&field, *n, 0..=MAX_INSTANCES * 1024)?)
            }
            _ => {
                return Err(v.invalid(
                    &format!("failures.events[{k}]"),
                    "must name exactly one of instance and node",
                ));
            }
        };
        out.push(FailureEvent {
            at: SimTime::ZERO + at,
            target,
            notice,
        });
    }
    // Stable: failures at one instant keep their file order.
    out.sort_by_key(|e| e.at);
    Ok(FailuresConfig {
        gpu_mtbf_hours,
        node_mtbf_hours,
        events: out,
        retries,
        drain_notice,
    })
}

/// A notice period in `[0, MAX_NOTICE_S]` seconds, converted once.
pub(super) fn notice(v: &Validator, field: &str, x: f64) -> Result<SimDuration, ScenarioError> {
    let s = v.f64_in(field, x, (0.0, MAX_NOTICE_S), "seconds")?;
    Ok(SimDuration::from_secs_f64(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(f: &FailuresFile) -> Result<FailuresConfig, ScenarioError> {
        failures_config(
            &Validator {
                file: Path::new("s.toml"),
            },
            f,
            4,
            false,
        )
    }

    #[test]
    fn rates_follow_the_mtbf_and_events_are_sorted_stably() {
        let ev = |at_s: f64, instance: Option<u32>, node: Option<u32>| FailureEventFile {
            at_s,
            instance,
            node,
            notice_s: None,
        };
        let c = check(&FailuresFile {
            gpu_mtbf_hours: Some(2.0),
            node_mtbf_hours: Some(10.0),
            events: vec![
                ev(9.0, Some(1), None),
                ev(3.0, None, Some(5)),
                ev(3.0, Some(3), None),
            ],
            ..FailuresFile::default()
        })
        .unwrap();
        // A TP-4 instance fails four times as often as one GPU: every 1800 s.
        assert_eq!(c.instance_rate_per_s(4), Some(1.0 / 1800.0));
        assert_eq!(c.node_rate_per_s(), Some(1.0 / 36_000.0));
        let targets: Vec<FailureTarget> = c.events.iter().map(|e| e.target).collect();
        assert_eq!(
            targets,
            [
                FailureTarget::Node(5),
                FailureTarget::Instance(3),
                FailureTarget::Instance(1)
            ]
        );
        assert_eq!(c.events[0].at, SimTime(3_000_000_000));
        let trace_only = check(&FailuresFile {
            events: vec![ev(0.0, Some(0), None)],
            ..FailuresFile::default()
        })
        .unwrap();
        assert_eq!(trace_only.instance_rate_per_s(8), None);
        assert_eq!(trace_only.node_rate_per_s(), None);
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let bad = |f: FailuresFile, field: &str| {
            let e = check(&f).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("s.toml"), "{e}");
        };
        bad(
            FailuresFile {
                gpu_mtbf_hours: Some(f64::NAN),
                ..FailuresFile::default()
            },
            "failures.gpu-mtbf-hours",
        );
        bad(
            FailuresFile {
                node_mtbf_hours: Some(2e9),
                ..FailuresFile::default()
            },
            "failures.node-mtbf-hours",
        );
        bad(
            FailuresFile {
                events: vec![FailureEventFile {
                    at_s: 1.0,
                    instance: Some(4),
                    node: None,
                    notice_s: None,
                }],
                ..FailuresFile::default()
            },
            "failures.events[0].instance",
        );
        bad(
            FailuresFile {
                events: vec![FailureEventFile {
                    at_s: f64::INFINITY,
                    instance: Some(0),
                    node: None,
                    notice_s: None,
                }],
                ..FailuresFile::default()
            },
            "failures.events[0].at-s",
        );
        bad(
            FailuresFile {
                gpu_mtbf_hours: Some(1.0),
                retries: Some(101),
                ..FailuresFile::default()
            },
            "failures.retries",
        );
        bad(
            FailuresFile {
                gpu_mtbf_hours: Some(1.0),
                drain_notice_s: Some(-1.0),
                ..FailuresFile::default()
            },
            "failures.drain-notice-s",
        );
        bad(
            FailuresFile {
                events: vec![FailureEventFile {
                    at_s: 1.0,
                    instance: Some(0),
                    node: None,
                    notice_s: Some(1e6),
                }],
                ..FailuresFile::default()
            },
            "failures.events[0].notice-s",
        );
    }

    #[test]
    fn notices_default_to_the_section_and_retries_to_none() {
        let ev = |notice_s: Option<f64>| FailureEventFile {
            at_s: 10.0,
            instance: Some(0),
            node: None,
            notice_s,
        };
        let c = check(&FailuresFile {
            drain_notice_s: Some(30.0),
            retries: Some(2),
            events: vec![ev(None), ev(Some(5.0))],
            ..FailuresFile::default()
        })
        .unwrap();
        assert_eq!(c.retries, 2);
        assert_eq!(c.drain_notice, SimDuration(30_000_000_000));
        assert_eq!(c.events[0].notice, SimDuration(30_000_000_000));
        assert_eq!(c.events[1].notice, SimDuration(5_000_000_000));
        let plain = check(&FailuresFile {
            events: vec![ev(None)],
            ..FailuresFile::default()
        })
        .unwrap();
        assert_eq!((plain.retries, plain.drain_notice), (0, SimDuration::ZERO));
        // Retries alone name no failure, unless spot capacity is preempted.
        let retries_only = FailuresFile {
            retries: Some(1),
            ..FailuresFile::default()
        };
        assert!(check(&retries_only).is_err());
        let v = Validator {
            file: Path::new("s.toml"),
        };
        assert_eq!(
            failures_config(&v, &retries_only, 4, true).unwrap().retries,
            1
        );
    }
}
