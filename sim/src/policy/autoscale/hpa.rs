//! The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) of one role.
//!
//! One reconcile per sync period (`--horizontal-pod-autoscaler-sync-period`, 15 s), as in
//! kubernetes `pkg/controller/podautoscaler/horizontal.go` (`reconcileAutoscaler`):
//! 1. `current` = the target's `spec.replicas` (here `ready + starting`). The very first
//!    reconcile records `current` as a recommendation (`recordInitialRecommendation`), so
//!    the initial size holds for one scale-down window.
//! 2. If `current > maxReplicas` the desired count is `maxReplicas`; if `current <
//!    minReplicas` it is `minReplicas` (no stabilisation, no rate limits).
//! 3. Otherwise the metric proposes a count (`replica_calculator.go`):
//!    `ceil(current_metric / target x replicas)` unless |1 - ratio| <= tolerance (0.1), with
//!    not-ready pods counted as 0 on a scale-up (they are ignored on a scale-down). A metric
//!    that cannot be computed (no ready pod, no latency sample) keeps `current` and records
//!    nothing, as a failed reconcile does.
//! 4. Stabilisation (`stabilizeRecommendationWithBehaviors`): the proposal is recorded; when
//!    it is >= current the result is the *minimum* of the recommendations of the last
//!    `scaleUp.stabilizationWindowSeconds` (0 s), otherwise the *maximum* of those of the last
//!    `scaleDown.stabilizationWindowSeconds` (300 s). A recommendation recorded at t is in
//!    the window at `now` iff `t > now - window` (strictly).
//! 5. Rate limits (`convertDesiredReplicasWithBehaviorRate`): per policy, the period-start
//!    count is `current - added + removed` over the scale events of the last `periodSeconds`
//!    (an event at t counts iff `t > now - period`); `Pods` allows start +/- value, `Percent`
//!    allows `ceil(start x (1 + v/100))` up or `floor(start x (1 - v/100))` down;
//!    `selectPolicy` Max takes the largest change, Min the smallest, Disabled none; then
//!    min/max replicas clamp.
//! 6. A change is recorded as a scale event for later rate limits.
//!
//! Without `spec.behavior` ([`BehaviorMode::Unset`]) steps 4-6 are the legacy
//! `normalizeDesiredReplicas`: the result is the *maximum* of the proposals of the last
//! 300 s (`--horizontal-pod-autoscaler-downscale-stabilization`; a proposal at t counts iff
//! `t >= now - 300 s`) in both directions, then at most `max(2 x current, 4)`
//! (`calculateScaleUpLimit`) and within min/max; no scale events are kept.
//!
//! Invariants: the returned count is within `[minReplicas, maxReplicas]` whenever `current`
//! is (a count outside is brought inside in one step); recommendation and event lists hold
//! only entries still inside their longest window, so memory is bounded.

use super::{Autoscaler, RoleSignals};
use crate::scenario::{
    BehaviorMode, HpaConfig, Metric, MetricTarget, PolicyType, ScalingRules, SelectPolicy,
};
use crate::time::{SimDuration, SimTime};

/// `t` is inside a window of length `w` ending at `now`: `t > now - w`.
fn within(t: SimTime, now: SimTime, w: SimDuration) -> bool {
    t.as_nanos().saturating_add(w.as_nanos()) > now.as_nanos()
}

/// `ceil(x)` as a replica count, saturating; NaN and negatives give 0.
pub(crate) fn ceil_count(x: f64) -> u32 {
    // `as` saturates and maps NaN to 0.
    x.ceil() as u32
}

/// How the metric reaches the HPA, which decides the replica formula.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A Pods metric with `target.averageValue`: averaged over the ready pods
    /// (`calcPlainMetricReplicas`).
    Pods,
    /// An External (or Object) metric with `target.value` (`GetExternalMetricReplicas`).
    ExternalValue,
    /// An External metric with `target.averageValue` (`GetExternalPerPodMetricReplicas`).
    ExternalAverageValue,
}

/// The replica count a metric proposes, or `None` when it cannot be computed.
///
/// `value` is the per-ready-replica average for [`Source::Pods`] and the role-wide value
/// otherwise. `starting` replicas are pods that do not report yet: the HPA ignores them on
/// a scale-down and counts them at 0 on a scale-up.
pub(crate) fn metric_replicas(
    source: Source,
    value: Option<f64>,
    target: f64,
    ready: u32,
    starting: u32,
    tolerance: f64,
) -> Option<u32> {
    let value = value.filter(|v| v.is_finite())?;
    let current = ready.saturating_add(starting);
    match source {
        Source::Pods => {
            if ready == 0 {
                // "did not receive metrics for any ready pods"
                return None;
            }
            let ratio = value / target;
            if starting == 0 || ratio <= 1.0 {
                if (1.0 - ratio).abs() <= tolerance {
                    return Some(current);
                }
                return Some(ceil_count(ratio * f64::from(ready)));
            }
            // Scale-up with unready pods: they count as using 0.
            let counted = f64::from(current);
            let new_ratio = value * f64::from(ready) / (target * counted);
            if (1.0 - new_ratio).abs() <= tolerance || new_ratio < 1.0 {
                return Some(current);
            }
            Some(ceil_count(new_ratio * counted))
        }
        Source::ExternalValue => {
            let ratio = value / target;
            if current == 0 {
                return Some(ceil_count(ratio));
            }
            if (1.0 - ratio).abs() <= tolerance {
                return Some(current);
            }
            Some(ceil_count(ratio * f64::from(ready)))
        }
        Source::ExternalAverageValue => {
            if current > 0 {
                let ratio = value / (target * f64::from(current));
                if (1.0 - ratio).abs() <= tolerance {
                    return Some(current);
                }
            }
            Some(ceil_count(value / target))
        }
    }
}

/// Which HPA source a metric is, when a plain HPA reads it: per-pod gauges are Pods
/// metrics, latency percentiles an External `value`, the arrival rate an External
/// `averageValue` (requests/s per replica).
pub(crate) fn hpa_source(m: Metric) -> Source {
    match m {
        Metric::QueueLength | Metric::Inflight | Metric::KvUtilization => Source::Pods,
        Metric::TtftMs { .. } | Metric::TpotMs { .. } => Source::ExternalValue,
        Metric::ArrivalRate => Source::ExternalAverageValue,
    }
}

/// The HPA controller's per-object state: recommendations and scale events.
#[derive(Clone, Debug)]
pub(crate) struct HpaCore {
    min_replicas: u32,
    max_replicas: u32,
    scale_up: ScalingRules,
    scale_down: ScalingRules,
    /// (recorded at, recommendation), oldest first.
    recommendations: Vec<(SimTime, u32)>,
    /// (at, replicas added), oldest first.
    up_events: Vec<(SimTime, u32)>,
    /// (at, replicas removed), oldest first.
    down_events: Vec<(SimTime, u32)>,
    initialized: bool,
    /// No `spec.behavior`: the legacy normalisation.
    legacy: bool,
}

impl HpaCore {
    pub(crate) fn new(
        min_replicas: u32,
        max_replicas: u32,
        scale_up: ScalingRules,
        scale_down: ScalingRules,
        behavior: BehaviorMode,
    ) -> HpaCore {
        HpaCore {
            min_replicas,
            max_replicas,
            scale_up,
            scale_down,
            legacy: behavior == BehaviorMode::Unset,
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
            initialized: false,
        }
    }

    /// One reconcile at `now` with the target at `current` replicas; `proposal` computes the
    /// metric's proposal (called only when `current` is within bounds).
    pub(crate) fn reconcile(
        &mut self,
        now: SimTime,
        current: u32,
        proposal: impl FnOnce() -> Option<u32>,
    ) -> u32 {
        if !self.initialized {
            self.initialized = true;
            self.recommendations.push((now, current));
        }
        let desired = if current == 0 && self.min_replicas != 0 {
            // "scaling is disabled since the replica count of the target is zero"
            return 0;
        } else if current > self.max_replicas {
            self.max_replicas
        } else if current < self.min_replicas {
            self.min_replicas
        } else {
            let Some(p) = proposal() else {
                return current;
            };
            if self.legacy {
                return self.legacy_normalize(now, current, p);
            }
            let stabilized = self.stabilize(now, current, p);
            self.rate_limit(now, current, stabilized)
        };
        if desired != current && !self.legacy {
            self.store_event(now, current, desired);
        }
        desired
    }

    /// `normalizeDesiredReplicas`: `stabilizeRecommendation` then
    /// `convertDesiredReplicasWithRules`.
    fn legacy_normalize(&mut self, now: SimTime, current: u32, proposal: u32) -> u32 {
        let w = self.scale_down.stabilization_window.as_nanos();
        // Kept iff not `Before(now - w)`: t >= now - w.
        self.recommendations
            .retain(|&(t, _)| t.as_nanos().saturating_add(w) >= now.as_nanos());
        let rec = self
            .recommendations
            .iter()
            .map(|&(_, r)| r)
            .fold(proposal, u32::max);
        self.recommendations.push((now, proposal));
        let up_limit = current.saturating_mul(2).max(4);
        let max_allowed = self.max_replicas.min(up_limit);
        if rec < self.min_replicas {
            self.min_replicas
        } else if rec > max_allowed {
            max_allowed
        } else {
            rec
        }
    }

    fn stabilize(&mut self, now: SimTime, current: u32, proposal: u32) -> u32 {
        let up_w = self.scale_up.stabilization_window;
        let down_w = self.scale_down.stabilization_window;
        let longest = up_w.max(down_w);
        self.recommendations
            .retain(|&(t, _)| within(t, now, longest));
        let mut rec = proposal;
        if proposal >= current {
            for &(t, r) in &self.recommendations {
                if within(t, now, up_w) {
                    rec = rec.min(r);
                }
            }
        } else {
            for &(t, r) in &self.recommendations {
                if within(t, now, down_w) {
                    rec = rec.max(r);
                }
            }
        }
        self.recommendations.push((now, proposal));
        rec
    }

    /// Replicas changed by the events of the last `period`.
    fn changed(events: &[(SimTime, u32)], now: SimTime, period: SimDuration) -> i64 {
        events
            .iter()
            .filter(|&&(t, _)| within(t, now, period))
            .map(|&(_, n)| i64::from(n))
            .sum()
    }

    fn period_start(&self, now: SimTime, current: u32, period: SimDuration) -> i64 {
        i64::from(current) - Self::changed(&self.up_events, now, period)
            + Self::changed(&self.down_events, now, period)
    }

    fn scale_up_limit(&self, now: SimTime, current: u32) -> i64 {
        let rules = &self.scale_up;
        let pick: fn(i64, i64) -> i64 = match rules.select_policy {
            SelectPolicy::Disabled => return i64::from(current),
            SelectPolicy::Min => i64::min,
            SelectPolicy::Max => i64::max,
        };
        let mut result: Option<i64> = None;
        for p in &rules.policies {
            let start = self.period_start(now, current, p.period);
            let proposed = match p.policy_type {
                PolicyType::Pods => start + i64::from(p.value),
                PolicyType::Percent => {
                    (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
                }
            };
            result = Some(result.map_or(proposed, |r| pick(r, proposed)));
        }
        result.unwrap_or(i64::from(current))
    }

    fn scale_down_limit(&self, now: SimTime, current: u32) -> i64 {
        let rules = &self.scale_down;
        let pick: fn(i64, i64) -> i64 = match rules.select_policy {
            SelectPolicy::Disabled => return i64::from(current),
            // The smallest change down is the largest count.
            SelectPolicy::Min => i64::max,
            SelectPolicy::Max => i64::min,
        };
        let mut result: Option<i64> = None;
        for p in &rules.policies {
            let start = self.period_start(now, current, p.period);
            let proposed = match p.policy_type {
                PolicyType::Pods => start - i64::from(p.value),
                // Go's int32(float64) conversion truncates toward zero.
                PolicyType::Percent => {
                    (start as f64 * (1.0 - f64::from(p.value) / 100.0)).trunc() as i64
                }
            };
            result = Some(result.map_or(proposed, |r| pick(r, proposed)));
        }
        result.unwrap_or(i64::from(current))
    }

    fn rate_limit(&self, now: SimTime, current: u32, desired: u32) -> u32 {
        let cur = i64::from(current);
        let d = i64::from(desired);
        let out = if d > cur {
            let limit = self.scale_up_limit(now, current).max(cur);
            let allowed = limit.min(i64::from(self.max_replicas));
            d.min(allowed)
        } else if d < cur {
            let limit = self.scale_down_limit(now, current).min(cur);
            let allowed = limit.max(i64::from(self.min_replicas));
            d.max(allowed)
        } else {
            d
        };
        u32::try_from(out.max(0)).unwrap_or(u32::MAX)
    }

    fn store_event(&mut self, now: SimTime, from: u32, to: u32) {
        let longest = |r: &ScalingRules| {
            r.policies
                .iter()
                .map(|p| p.period)
                .max()
                .unwrap_or(SimDuration::ZERO)
        };
        let up = longest(&self.scale_up);
        let down = longest(&self.scale_down);
        self.up_events.retain(|&(t, _)| within(t, now, up));
        self.down_events.retain(|&(t, _)| within(t, now, down));
        if to > from {
            self.up_events.push((now, to - from));
        } else {
            self.down_events.push((now, from - to));
        }
    }
}

/// A Kubernetes HPA on one metric (see the module docs for the algorithm).
#[derive(Clone, Debug)]
pub struct Hpa {
    core: HpaCore,
    target: MetricTarget,
    tolerance: f64,
    sync_period: SimDuration,
}

impl Hpa {
    /// An HPA that has not reconciled yet.
    pub fn new(cfg: HpaConfig) -> Hpa {
        let HpaConfig {
            min_replicas,
            max_replicas,
            target,
            sync_period,
            tolerance,
            scale_up,
            scale_down,
            behavior,
        } = cfg;
        Hpa {
            core: HpaCore::new(min_replicas, max_replicas, scale_up, scale_down, behavior),
            target,
            tolerance,
            sync_period,
        }
    }
}

impl Autoscaler for Hpa {
    fn sync_period(&self) -> SimDuration {
        self.sync_period
    }

    fn desired(&mut self, s: &RoleSignals) -> u32 {
        let MetricTarget {
            metric,
            target_value,
            ..
        } = self.target;
        let source = hpa_source(metric);
        let tolerance = self.tolerance;
        self.core.reconcile(s.now, s.current(), || {
            let value = match source {
                Source::Pods => metric.pod_average(s),
                Source::ExternalValue | Source::ExternalAverageValue => metric.role_value(s),
            };
            metric_replicas(source, value, target_value, s.ready, s.starting, tolerance)
        })
    }

    fn name(&self) -> &'static str {
        "hpa"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ScalingPolicy;

    const S: u64 = 1_000_000_000;

    fn at(secs: u64) -> SimTime {
        SimTime(secs * S)
    }

    fn core(min: u32, max: u32) -> HpaCore {
        HpaCore::new(
            min,
            max,
            ScalingRules::default_scale_up(),
            ScalingRules::default_scale_down(),
            BehaviorMode::Explicit,
        )
    }

    #[test]
    fn pods_metric_formula_and_tolerance() {
        // 2 ready, average 6 against 4: ceil(1.5 x 2) = 3.
        assert_eq!(
            metric_replicas(Source::Pods, Some(6.0), 4.0, 2, 0, 0.1),
            Some(3)
        );
        // Ratio 1.05 is inside the band: keep 2.
        assert_eq!(
            metric_replicas(Source::Pods, Some(4.2), 4.0, 2, 0, 0.1),
            Some(2)
        );
        // Ratio 0.5 with 4 ready: 2.
        assert_eq!(
            metric_replicas(Source::Pods, Some(2.0), 4.0, 4, 0, 0.1),
            Some(2)
        );
        // No ready pod: nothing to compute.
        assert_eq!(
            metric_replicas(Source::Pods, Some(2.0), 4.0, 0, 3, 0.1),
            None
        );
    }

    #[test]
    fn unready_pods_count_as_zero_on_scale_up() {
        // 2 ready at average 8 (target 4), 2 starting: new ratio = 8x2/(4x4) = 1.0: hold 4.
        assert_eq!(
            metric_replicas(Source::Pods, Some(8.0), 4.0, 2, 2, 0.1),
            Some(4)
        );
        // 2 ready at average 12, 2 starting: new ratio 1.5: ceil(1.5 x 4) = 6.
        assert_eq!(
            metric_replicas(Source::Pods, Some(12.0), 4.0, 2, 2, 0.1),
            Some(6)
        );
        // Scale-down ignores them: 2 ready at average 1 (target 4): ceil(0.25 x 2) = 1.
        assert_eq!(
            metric_replicas(Source::Pods, Some(1.0), 4.0, 2, 2, 0.1),
            Some(1)
        );
    }

    #[test]
    fn external_metrics() {
        // Value: p90 TTFT 900 ms vs 600: ratio 1.5 x 2 ready = 3.
        assert_eq!(
            metric_replicas(Source::ExternalValue, Some(900.0), 600.0, 2, 0, 0.1),
            Some(3)
        );
        // AverageValue: 10 rps at 2 rps per replica: 5 (status 3, ratio 1.67).
        assert_eq!(
            metric_replicas(Source::ExternalAverageValue, Some(10.0), 2.0, 3, 0, 0.1),
            Some(5)
        );
        // AverageValue inside the band: 6.2 rps over 3 replicas at 2: ratio 1.03, keep 3.
        assert_eq!(
            metric_replicas(Source::ExternalAverageValue, Some(6.2), 2.0, 3, 0, 0.1),
            Some(3)
        );
        // From zero replicas.
        assert_eq!(
            metric_replicas(Source::ExternalAverageValue, Some(3.0), 2.0, 0, 0, 0.1),
            Some(2)
        );
    }

    #[test]
    fn scale_up_limited_to_max_of_double_and_plus_four() {
        let mut c = core(1, 100);
        // From 1: max(1 + 4, 2 x 1) = 5.
        assert_eq!(c.reconcile(at(15), 1, || Some(50)), 5);
        // 15 s later the 15 s period has passed: from 5, max(9, 10) = 10.
        assert_eq!(c.reconcile(at(30), 5, || Some(50)), 10);
        assert_eq!(c.reconcile(at(45), 10, || Some(50)), 20);
        assert_eq!(c.reconcile(at(60), 20, || Some(50)), 40);
        assert_eq!(c.reconcile(at(75), 40, || Some(50)), 50);
    }

    #[test]
    fn events_inside_the_period_reduce_the_allowance() {
        let mut rules = ScalingRules::default_scale_up();
        rules.policies = vec![ScalingPolicy {
            policy_type: PolicyType::Pods,
            value: 2,
            period: SimDuration(60 * S),
        }];
        let mut c = HpaCore::new(
            1,
            100,
            rules,
            ScalingRules::default_scale_down(),
            BehaviorMode::Explicit,
        );
        assert_eq!(c.reconcile(at(15), 1, || Some(10)), 3);
        // The +2 at t=15 is still inside the 60 s period: start = 3 - 2 = 1, limit 3.
        assert_eq!(c.reconcile(at(30), 3, || Some(10)), 3);
        assert_eq!(c.reconcile(at(60), 3, || Some(10)), 3);
        // At t=75 the event (t=15) is no longer strictly inside (75 - 60 = 15).
        assert_eq!(c.reconcile(at(75), 3, || Some(10)), 5);
    }

    #[test]
    fn min_select_policy_takes_the_smallest_change() {
        let mut rules = ScalingRules::default_scale_up();
        rules.select_policy = SelectPolicy::Min;
        let mut c = HpaCore::new(
            1,
            100,
            rules,
            ScalingRules::default_scale_down(),
            BehaviorMode::Explicit,
        );
        // From 10: min(+4, +100 %) = 14.
        assert_eq!(c.reconcile(at(15), 10, || Some(40)), 14);
    }

    #[test]
    fn disabled_direction_never_moves() {
        let mut rules = ScalingRules::default_scale_down();
        rules.select_policy = SelectPolicy::Disabled;
        rules.stabilization_window = SimDuration::ZERO;
        let mut c = HpaCore::new(
            1,
            100,
            ScalingRules::default_scale_up(),
            rules,
            BehaviorMode::Explicit,
        );
        assert_eq!(c.reconcile(at(15), 10, || Some(2)), 10);
    }

    #[test]
    fn scale_down_waits_for_the_stabilisation_window() {
        let mut c = core(1, 10);
        // Initial recommendation 4 recorded at t=15 holds the size until t=315.
        for t in (15..315).step_by(15) {
            assert_eq!(c.reconcile(at(t), 4, || Some(1)), 4, "t={t}");
        }
        assert_eq!(c.reconcile(at(315), 4, || Some(1)), 1);
    }

    #[test]
    fn out_of_bounds_current_is_clamped_at_once() {
        let mut c = core(2, 6);
        assert_eq!(c.reconcile(at(15), 9, || Some(9)), 6);
        assert_eq!(c.reconcile(at(30), 1, || Some(1)), 2);
    }

    #[test]
    fn legacy_path_without_behavior() {
        let mut c = HpaCore::new(
            1,
            100,
            ScalingRules::default_scale_up(),
            ScalingRules::default_scale_down(),
            BehaviorMode::Unset,
        );
        // From 1: max(2 x 1, 4) = 4 (the behavior defaults would allow 5).
        assert_eq!(c.reconcile(at(15), 1, || Some(50)), 4);
        assert_eq!(c.reconcile(at(30), 4, || Some(50)), 8);
        // A lower proposal is held up by the 300 s maximum, in either direction: the 50s
        // of t = 15 and 30 keep the result at the up-limit 16.
        assert_eq!(c.reconcile(at(45), 8, || Some(10)), 16);
        // At t = 330 the proposals of t <= 30 have left the window (330 - 300 = 30 is
        // still in: t >= now - 300), at t = 345 only the 10s remain.
        assert_eq!(c.reconcile(at(330), 16, || Some(10)), 32);
        assert_eq!(c.reconcile(at(345), 32, || Some(10)), 10);
    }

    #[test]
    fn a_metric_that_fails_keeps_current() {
        let mut c = core(1, 6);
        assert_eq!(c.reconcile(at(15), 3, || None), 3);
    }
}
