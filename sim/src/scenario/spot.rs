//! Spot capacity (`[spot]` and `spot-replicas` of a role): which replicas run on spot
//! GPUs, when the cloud reclaims them, with how much notice, and what their GPU-hours cost.
//!
//! A role's `spot-replicas = N` marks its last `N` instance slots (of all that may run, the
//! autoscaling maximum included) as spot: with autoscaling they are the last to start and
//! the first to be removed (on-demand base, spot burst). Each spot replica is reclaimed at
//! `preemption-rate-per-hour` (exponential gaps, a stream of its own per instance,
//! [`Stream::Preemption`](crate::rng::Stream::Preemption)) and at the times of
//! `[[spot.events]]`, each announced `notice-s` ahead (default 120 s: EC2's two-minute
//! interruption notice): the replica drains from the notice and is replaced at the reclaim,
//! paying the cold start, as a failure with a drain notice (`[failures]`).
//!
//! Invariants: every number is range-checked with the file, the field
//! (`spot.events[1].instance`), the value and the range; a trace entry names a spot
//! instance; `[spot]` needs a role with spot replicas and spot replicas need `[spot]`;
//! events are kept in time order (ties in file order).

use super::ScenarioError;
use super::check::Validator;
use super::failures::notice;
use crate::limits::{MAX_GPU_HOUR_USD, MAX_SCHEDULE_POINTS};
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

/// Accepted preemption rates, per spot replica per hour.
pub const PREEMPTION_RATE_RANGE_PER_HOUR: (f64, f64) = (1e-6, 1000.0);

/// Default notice before a reclaim, seconds: EC2's Spot Instance interruption notice is
/// issued two minutes ahead.
pub const DEFAULT_SPOT_NOTICE_S: f64 = 120.0;

/// `[spot]`: the serde mirror.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpotFile {
    /// Reclaims per spot replica per hour (unset: no random reclaims).
    pub preemption_rate_per_hour: Option<f64>,
    /// Notice before each reclaim, seconds (default 120).
    pub notice_s: Option<f64>,
    /// Price of a spot GPU-hour, USD (default: the on-demand price).
    pub gpu_hour_usd: Option<f64>,
    /// Reclaims at given times.
    #[serde(default)]
    pub events: Vec<SpotEventFile>,
}

/// One `[[spot.events]]` entry.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpotEventFile {
    /// When the replica is reclaimed, seconds of simulated time (its notice comes
    /// `notice-s` earlier).
    pub at_s: f64,
    /// The spot instance reclaimed (its index, as in `instances.csv`).
    pub instance: u32,
}

/// One reclaim of the trace.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SpotEvent {
    /// When.
    pub at: SimTime,
    /// The instance.
    pub instance: u16,
}

/// A validated `[spot]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpotConfig {
    /// Reclaims per spot replica per hour (`None`: no random reclaims).
    pub preemption_rate_per_hour: Option<f64>,
    /// Notice before each reclaim.
    pub notice: SimDuration,
    /// Price of a spot GPU-hour, USD (`None`: the on-demand price).
    pub gpu_hour_usd: Option<f64>,
    /// The trace, in time order.
    pub events: Vec<SpotEvent>,
}

impl SpotConfig {
    /// A spot replica's reclaim rate per second (`None` without a process).
    pub fn rate_per_s(&self) -> Option<f64> {
        self.preemption_rate_per_hour.map(|r| r / 3600.0)
    }
}

/// Validates `[spot]` of a deployment whose instances are spot where `spot` says so
/// (all that may ever run, in `instances.csv` order).
pub(super) fn spot_config(
    v: &Validator,
    f: &SpotFile,
    spot: &[bool],
) -> Result<SpotConfig, ScenarioError> {
    let SpotFile {
        preemption_rate_per_hour,
        notice_s,
        gpu_hour_usd,
        events,
    } = f;
    if !spot.contains(&true) {
        return Err(v.invalid(
            "spot",
            "no role has spot replicas: set spot-replicas in [deployment.<role>] (or remove the section)",
        ));
    }
    let preemption_rate_per_hour = preemption_rate_per_hour
        .map(|x| {
            v.f64_in(
                "spot.preemption-rate-per-hour",
                x,
                PREEMPTION_RATE_RANGE_PER_HOUR,
                "per replica per hour",
            )
        })
        .transpose()?;
    let notice = notice(
        v,
        "spot.notice-s",
        notice_s.unwrap_or(DEFAULT_SPOT_NOTICE_S),
    )?;
    let gpu_hour_usd = gpu_hour_usd
        .map(|p| v.f64_in("spot.gpu-hour-usd", p, (0.0, MAX_GPU_HOUR_USD), "USD"))
        .transpose()?;
    if events.len() > MAX_SCHEDULE_POINTS {
        return Err(v.invalid(
            "spot.events",
            format!(
                "must have at most {MAX_SCHEDULE_POINTS} entries, got {}",
                events.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(events.len());
    for (k, e) in events.iter().enumerate() {
        let SpotEventFile { at_s, instance } = e;
        let at = v.non_negative_secs_bounded(&format!("spot.events[{k}].at-s"), *at_s)?;
        if !spot.get(*instance as usize).copied().unwrap_or(false) {
            let spots: Vec<String> = (0..spot.len())
                .filter(|&i| spot[i])
                .map(|i| i.to_string())
                .collect();
            return Err(v.invalid(
                &format!("spot.events[{k}].instance"),
                format!(
                    "must be a spot instance (one of {}), got {instance}",
                    spots.join(", ")
                ),
            ));
        }
        out.push(SpotEvent {
            at: SimTime::ZERO + at,
            instance: *instance as u16,
        });
    }
    out.sort_by_key(|e| e.at);
    Ok(SpotConfig {
        preemption_rate_per_hour,
        notice,
        gpu_hour_usd,
        events: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(f: &SpotFile) -> Result<SpotConfig, ScenarioError> {
        spot_config(
            &Validator {
                file: Path::new("s.toml"),
            },
            f,
            &[false, true, false, true],
        )
    }

    #[test]
    fn defaults_and_sorted_events() {
        let c = check(&SpotFile {
            preemption_rate_per_hour: Some(0.5),
            events: vec![
                SpotEventFile {
                    at_s: 9.0,
                    instance: 3,
                },
                SpotEventFile {
                    at_s: 2.0,
                    instance: 1,
                },
            ],
            ..SpotFile::default()
        })
        .unwrap();
        assert_eq!(c.notice, SimDuration(120_000_000_000));
        assert_eq!(c.rate_per_s(), Some(0.5 / 3600.0));
        assert_eq!(c.gpu_hour_usd, None);
        assert_eq!(
            c.events.iter().map(|e| e.instance).collect::<Vec<_>>(),
            [1, 3]
        );
    }

    #[test]
    fn bad_values_name_the_field_and_range() {
        let bad = |f: SpotFile, field: &str, what: &str| {
            let e = check(&f).unwrap_err().to_string();
            assert!(
                e.contains(field) && e.contains(what) && e.contains("s.toml"),
                "{e}"
            );
        };
        bad(
            SpotFile {
                preemption_rate_per_hour: Some(0.0),
                ..SpotFile::default()
            },
            "spot.preemption-rate-per-hour",
            "[0.000001, 1000]",
        );
        bad(
            SpotFile {
                notice_s: Some(f64::NAN),
                ..SpotFile::default()
            },
            "spot.notice-s",
            "[0, 86400]",
        );
        bad(
            SpotFile {
                gpu_hour_usd: Some(-1.0),
                ..SpotFile::default()
            },
            "spot.gpu-hour-usd",
            "got -1.0",
        );
        bad(
            SpotFile {
                events: vec![SpotEventFile {
                    at_s: 1.0,
                    instance: 2,
                }],
                ..SpotFile::default()
            },
            "spot.events[0].instance",
            "one of 1, 3",
        );
        let none = spot_config(
            &Validator {
                file: Path::new("s.toml"),
            },
            &SpotFile::default(),
            &[false, false],
        )
        .unwrap_err()
        .to_string();
        assert!(none.contains("no role has spot replicas"), "{none}");
    }
}
