//! A KEDA ScaledObject with one Prometheus-style trigger.
//!
//! KEDA splits the work in two (kedacore/keda `pkg/scaling/executor/scale_scaledobjects.go`,
//! `pkg/scalers/prometheus_scaler.go`, keda.sh/docs/latest/reference/scaledobject-spec):
//! - The KEDA operator polls the trigger every `pollingInterval` (30 s). The trigger is
//!   *active* when its value is strictly above `activationThreshold` (0). At 0 replicas and
//!   active, it scales to `max(minReplicaCount, 1)`. Inactive with replicas > 0 and
//!   `minReplicaCount == 0`, it scales to 0 once the last active poll is more than
//!   `cooldownPeriod` (300 s) ago (at once if the trigger was never active, as KEDA does
//!   when `lastActiveTime` is unset), but not before `initialCooldownPeriod` after the start.
//!   Inactive below `minReplicaCount`, it restores `minReplicaCount`. Active, it records the
//!   poll as the last active time.
//! - Between 1 and `maxReplicaCount`, the HPA KEDA creates (`minReplicas = max(1,
//!   minReplicaCount)`) scales on the trigger's value as an External metric, every HPA sync
//!   period (15 s), with the HPA algorithm of `hpa.rs`; at 0 replicas that HPA is disabled.
//!
//! The trigger's value is the role-wide query result (sum for queue-length, inflight and
//! arrival-rate, mean for kv-utilization, the percentile for latencies); a query without
//! samples reads 0 (`ignoreNullValues`, default true).
//!
//! Invariants: [`Autoscaler::sync_period`] is gcd(polling interval, HPA sync period), both
//! whole seconds, so every poll and every HPA sync falls on a call; a poll that changes the
//! count wins over an HPA sync at the same instant; the result is within
//! `[minReplicaCount, maxReplicaCount]` once the operator or the HPA has acted.

use super::hpa::{HpaCore, Source, metric_replicas};
use super::{Autoscaler, RoleSignals};
use crate::scenario::autoscale::gcd;
use crate::scenario::{KedaConfig, MetricType};
use crate::time::{SimDuration, SimTime};

/// A KEDA ScaledObject and the HPA it owns.
#[derive(Clone, Debug)]
pub struct Keda {
    cfg: KedaConfig,
    hpa: HpaCore,
    last_poll: Option<SimTime>,
    last_sync: Option<SimTime>,
    last_active: Option<SimTime>,
}

fn due(last: Option<SimTime>, now: SimTime, period: SimDuration) -> bool {
    last.is_none_or(|t| now.as_nanos().saturating_sub(t.as_nanos()) >= period.as_nanos())
}

impl Keda {
    /// A ScaledObject created at the start of the simulation, not yet polled.
    pub fn new(cfg: KedaConfig) -> Keda {
        let hpa = HpaCore::new(
            cfg.min_replicas.max(1),
            cfg.max_replicas,
            cfg.scale_up.clone(),
            cfg.scale_down.clone(),
            cfg.behavior,
        );
        Keda {
            cfg,
            hpa,
            last_poll: None,
            last_sync: None,
            last_active: None,
        }
    }

    /// The KEDA operator's decision at a poll, if it changes the count.
    fn poll(&mut self, s: &RoleSignals, current: u32) -> Option<u32> {
        let now = s.now;
        let value = self.cfg.target.metric.role_value(s).unwrap_or(0.0);
        let active = value > self.cfg.activation_value;
        let min = self.cfg.min_replicas;
        if current == 0 && active {
            self.last_active = Some(now);
            return Some(min.max(1).min(self.cfg.max_replicas));
        }
        if !active && current > 0 && min == 0 {
            let cooled = self.last_active.is_none_or(|t| t + self.cfg.cooldown < now);
            let past_initial = now >= SimTime::ZERO + self.cfg.initial_cooldown;
            return (cooled && past_initial).then_some(0);
        }
        if !active && current < min {
            return Some(min);
        }
        if active {
            self.last_active = Some(now);
        }
        None
    }
}

impl Autoscaler for Keda {
    fn sync_period(&self) -> SimDuration {
        SimDuration(gcd(
            self.cfg.sync_period.as_nanos(),
            self.cfg.polling_interval.as_nanos(),
        ))
    }

    fn desired(&mut self, s: &RoleSignals) -> u32 {
        let now = s.now;
        let current = s.current();
        if due(self.last_poll, now, self.cfg.polling_interval) {
            self.last_poll = Some(now);
            if let Some(n) = self.poll(s, current) {
                return n;
            }
        }
        if !due(self.last_sync, now, self.cfg.sync_period) {
            return current;
        }
        self.last_sync = Some(now);
        let target = self.cfg.target;
        let (source, value) = match self.cfg.metric_type {
            MetricType::AverageValue => (Source::ExternalAverageValue, target.metric.role_value(s)),
            MetricType::Value => (Source::ExternalValue, target.metric.role_value(s)),
        };
        // KEDA's metrics server reports 0 for an empty query.
        let value = Some(value.unwrap_or(0.0));
        let tolerance = self.cfg.tolerance;
        self.hpa.reconcile(now, current, || {
            metric_replicas(
                source,
                value,
                target.target_value,
                s.ready,
                s.starting,
                tolerance,
            )
        })
    }

    fn name(&self) -> &'static str {
        "keda"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{AutoscaleConfig, AutoscaleFile};
    use std::path::Path;

    const S: u64 = 1_000_000_000;

    fn keda(extra: &str) -> Keda {
        let text =
            format!("kind = \"keda\"\nmetric = \"queue-length\"\ntarget-value = 10\n{extra}");
        let f: AutoscaleFile = toml::from_str(&text).unwrap();
        match AutoscaleConfig::from_file(Path::new("s.toml"), "k", &f).unwrap() {
            AutoscaleConfig::Keda(c) => Keda::new(c),
            other => panic!("{other:?}"),
        }
    }

    fn sig(t: u64, ready: u32, queued: u32) -> RoleSignals {
        RoleSignals {
            now: SimTime(t * S),
            ready,
            queued,
            ..Default::default()
        }
    }

    #[test]
    fn activation_needs_a_value_above_the_threshold() {
        let mut k = keda("activation-value = 2");
        // The first call polls (t=15), then every 30 s: 45, 75, ...
        assert_eq!(k.desired(&sig(15, 0, 2)), 0, "2 is not > 2");
        assert_eq!(k.desired(&sig(30, 0, 5)), 0, "no poll due at 30");
        assert_eq!(k.desired(&sig(45, 0, 5)), 1, "poll at 45 activates");
    }

    #[test]
    fn polls_every_polling_interval() {
        let mut k = keda("polling-interval-s = 60");
        assert_eq!(k.sync_period(), SimDuration(15 * S));
        assert_eq!(k.desired(&sig(15, 0, 0)), 0);
        for t in [30, 45, 60] {
            assert_eq!(k.desired(&sig(t, 0, 3)), 0, "t={t}");
        }
        assert_eq!(k.desired(&sig(75, 0, 3)), 1);
    }
}
