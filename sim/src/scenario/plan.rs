//! `[plan]`: what `xpyd plan` sizes a deployment for beyond its SLOs: an availability
//! target (N+k replicas per role under the scenario's failure and preemption processes)
//! and the spot mixes it compares with on-demand capacity. `xpyd run` ignores the
//! section.
//!
//! Invariants: every number is range-checked with the file, the field
//! (`plan.spot-mix-percent[1]`), the value and the range; an availability target needs a
//! failure or preemption process to size against, and spot mixes need `[spot]`. The
//! validated mixes are sorted and distinct, 0 % (all on-demand) always first.

use super::ScenarioError;
use super::check::Validator;
use super::{FailuresConfig, SpotConfig};
use serde::{Deserialize, Serialize};

/// Accepted availability targets: from one nine to six nines.
pub const AVAILABILITY_RANGE: (f64, f64) = (0.9, 0.999_999);

/// Most spot mixes compared.
pub const MAX_SPOT_MIXES: usize = 11;

/// The spot mixes compared when `[spot]` prices spot GPUs and `spot-mix-percent` is unset:
/// none, a quarter, half and all of each role's replicas on spot.
pub const DEFAULT_SPOT_MIXES: [u32; 4] = [0, 25, 50, 100];

/// `[plan]`: the serde mirror.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PlanFile {
    /// Per role, the probability that at least the replicas the SLOs need are up
    /// (unset: no spares).
    pub availability: Option<f64>,
    /// Shares of each role's replicas run on spot GPUs that the planner compares, percent
    /// (default with a spot price: 0, 25, 50, 100; without `[spot]`: none).
    pub spot_mix_percent: Option<Vec<u32>>,
}

/// A validated `[plan]` (the default: no availability target, no spot mix).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlanConfig {
    /// Per-role availability target, in [`AVAILABILITY_RANGE`] (`None`: no spares).
    pub availability: Option<f64>,
    /// Spot shares compared, percent, sorted and distinct, 0 first; empty: on-demand only.
    pub spot_mix_percent: Vec<u32>,
}

/// Validates `[plan]` against the scenario's `[failures]` and `[spot]`.
pub(super) fn plan_config(
    v: &Validator,
    f: Option<&PlanFile>,
    failures: Option<&FailuresConfig>,
    spot: Option<&SpotConfig>,
) -> Result<PlanConfig, ScenarioError> {
    let PlanFile {
        availability,
        spot_mix_percent,
    } = f.cloned().unwrap_or_default();
    let availability = availability
        .map(|a| v.f64_in("plan.availability", a, AVAILABILITY_RANGE, ""))
        .transpose()?;
    let processes = failures
        .is_some_and(|f| f.gpu_mtbf_hours.is_some() || f.node_mtbf_hours.is_some())
        || spot.is_some_and(|s| s.preemption_rate_per_hour.is_some());
    if availability.is_some() && !processes {
        return Err(v.invalid(
            "plan.availability",
            "needs a failure process to size spares against: set failures.gpu-mtbf-hours or failures.node-mtbf-hours (or spot.preemption-rate-per-hour)",
        ));
    }
    let mixes = match (spot_mix_percent, spot) {
        (Some(_), None) => {
            return Err(v.invalid(
                "plan.spot-mix-percent",
                "needs a [spot] section (preemption-rate-per-hour, notice-s, gpu-hour-usd) and a role with spot-replicas",
            ));
        }
        (Some(list), Some(_)) => {
            if list.is_empty() || list.len() > MAX_SPOT_MIXES {
                return Err(v.invalid(
                    "plan.spot-mix-percent",
                    format!("must list 1 to {MAX_SPOT_MIXES} shares, got {}", list.len()),
                ));
            }
            for (k, &p) in list.iter().enumerate() {
                v.count(&format!("plan.spot-mix-percent[{k}]"), p, 0..=100)?;
            }
            list
        }
        (None, Some(s)) if s.gpu_hour_usd.is_some() => DEFAULT_SPOT_MIXES.to_vec(),
        (None, _) => Vec::new(),
    };
    let mut spot_mix_percent = mixes;
    if !spot_mix_percent.is_empty() {
        spot_mix_percent.push(0);
    }
    spot_mix_percent.sort_unstable();
    spot_mix_percent.dedup();
    Ok(PlanConfig {
        availability,
        spot_mix_percent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;
    use std::path::Path;

    fn spot(price: Option<f64>) -> SpotConfig {
        SpotConfig {
            preemption_rate_per_hour: Some(0.1),
            notice: SimDuration::ZERO,
            gpu_hour_usd: price,
            events: vec![],
        }
    }

    fn failures() -> FailuresConfig {
        FailuresConfig {
            gpu_mtbf_hours: Some(1000.0),
            ..FailuresConfig::default()
        }
    }

    fn check(
        f: PlanFile,
        fl: Option<&FailuresConfig>,
        s: Option<&SpotConfig>,
    ) -> Result<PlanConfig, ScenarioError> {
        plan_config(
            &Validator {
                file: Path::new("s.toml"),
            },
            Some(&f),
            fl,
            s,
        )
    }

    #[test]
    fn defaults_follow_the_spot_price() {
        let none = check(PlanFile::default(), None, None).unwrap();
        assert_eq!(none, PlanConfig::default());
        let priced = check(PlanFile::default(), None, Some(&spot(Some(1.0)))).unwrap();
        assert_eq!(priced.spot_mix_percent, DEFAULT_SPOT_MIXES);
        let unpriced = check(PlanFile::default(), None, Some(&spot(None))).unwrap();
        assert!(unpriced.spot_mix_percent.is_empty());
        // Listed shares are sorted, deduplicated and always include all on-demand.
        let listed = check(
            PlanFile {
                spot_mix_percent: Some(vec![100, 50, 50]),
                ..PlanFile::default()
            },
            None,
            Some(&spot(Some(1.0))),
        )
        .unwrap();
        assert_eq!(listed.spot_mix_percent, [0, 50, 100]);
        let a = check(
            PlanFile {
                availability: Some(0.999),
                ..PlanFile::default()
            },
            Some(&failures()),
            None,
        )
        .unwrap();
        assert_eq!(a.availability, Some(0.999));
    }

    #[test]
    fn bad_values_name_the_field_value_and_range() {
        let bad =
            |f: PlanFile, fl: Option<&FailuresConfig>, s: Option<&SpotConfig>, want: &[&str]| {
                let e = check(f, fl, s).unwrap_err().to_string();
                for w in want {
                    assert!(e.contains(w) && e.contains("s.toml"), "{e} lacks {w}");
                }
            };
        let avail = |a: f64| PlanFile {
            availability: Some(a),
            ..PlanFile::default()
        };
        bad(
            avail(1.0),
            Some(&failures()),
            None,
            &["plan.availability", "[0.9, 0.999999]", "1.0"],
        );
        bad(
            avail(f64::NAN),
            Some(&failures()),
            None,
            &["plan.availability", "NaN"],
        );
        bad(
            avail(0.999),
            None,
            None,
            &["plan.availability", "gpu-mtbf-hours"],
        );
        let mixes = |m: Vec<u32>| PlanFile {
            spot_mix_percent: Some(m),
            ..PlanFile::default()
        };
        let s = spot(Some(1.0));
        bad(
            mixes(vec![0, 101]),
            None,
            Some(&s),
            &["plan.spot-mix-percent[1]", "[0, 100]", "101"],
        );
        bad(
            mixes(vec![]),
            None,
            Some(&s),
            &["plan.spot-mix-percent", "1 to 11"],
        );
        bad(
            mixes(vec![50]),
            None,
            None,
            &["plan.spot-mix-percent", "[spot]"],
        );
    }
}
