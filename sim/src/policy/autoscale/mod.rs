//! Autoscalers: how many replicas a role should have, decided at sync instants from what
//! the real controller would observe ([`RoleSignals`]).
//!
//! Three policies, each in its own file, with the semantics of the systems they model:
//! - [`Hpa`] (`hpa.rs`): the Kubernetes HorizontalPodAutoscaler, autoscaling/v2, including
//!   tolerance, stabilisation windows, scaling policies and not-ready pod handling
//!   (kubernetes `pkg/controller/podautoscaler/horizontal.go` and `replica_calculator.go`).
//! - [`Keda`] (`keda.rs`): a KEDA ScaledObject: activation and scale to/from zero by the
//!   KEDA operator every polling interval, 1..N by the HPA it creates
//!   (kedacore/keda `pkg/scaling/executor/scale_scaledobjects.go`).
//! - [`SlaPlanner`] (`sla_planner.rs`): NVIDIA Dynamo's SLA planner: replicas from the
//!   predicted next-interval load and the profiled per-replica capacity
//!   (ai-dynamo/dynamo `components/planner/src/dynamo/planner/utils/planner_core.py`).
//!
//! Their configuration (the `[deployment.<role>.autoscale]` and `[cold-start]` wire
//! structs and the validated [`AutoscaleConfig`] / `ColdStartConfig`) belongs to the
//! scenario and has one home there (`crate::scenario`, validated by its one field checker);
//! the dependency points one way: policies use the scenario's types, never the reverse.
//!
//! Invariants: a policy is pure decision logic: it reads a [`RoleSignals`] value and returns
//! the desired replica count, already clamped to its own min/max; it never touches the
//! engine's state. Time is integer [`SimTime`]/[`SimDuration`]; `f64` appears only in metric
//! arithmetic. Given the same sequence of signals a policy returns the same decisions.
//!
//! Contract with the engine: call [`Autoscaler::desired`] at `k x sync_period()` for
//! k = 1, 2, ... (the real controllers first act one period after they start). The
//! "current" replica count a controller sees is the count it last asked for, i.e.
//! `ready + starting` (the Deployment's `spec.replicas`); draining replicas are being deleted
//! and are not counted. When the desired count is below the current one, remove starting
//! replicas before ready ones (a ReplicaSet deletes not-ready pods first).

mod hpa;
mod keda;
mod sla_planner;

pub use hpa::Hpa;
pub use keda::Keda;
pub use sla_planner::SlaPlanner;

use crate::scenario::{AutoscaleConfig, Metric};
use crate::time::{SimDuration, SimTime};

/// What an autoscaler of one role observes at a sync instant (the engine computes it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleSignals {
    /// The sync instant.
    pub now: SimTime,
    /// Replicas serving traffic.
    pub ready: u32,
    /// Replicas created and not yet ready (scheduling, image pull, weight load, warm-up).
    pub starting: u32,
    /// Replicas finishing their in-flight work before they go away.
    pub draining: u32,
    /// Requests waiting for this role: in ready replicas' queues, plus any the router holds
    /// because no replica is ready (so that scale-from-zero can see demand).
    pub queued: u32,
    /// Requests assigned to ready replicas and not finished (waiting + running), summed.
    pub inflight: u32,
    /// Mean fraction of KV blocks in use over ready replicas, 0..1 (0 when none is ready).
    pub kv_utilization: f64,
    /// TTFT over the signal window at the policy's percentile (mean when it asks for none),
    /// milliseconds; `None` when no request got its first token in the window.
    pub ttft_ms: Option<f64>,
    /// TPOT over the signal window at the policy's percentile (or mean), milliseconds;
    /// `None` without samples.
    pub tpot_ms: Option<f64>,
    /// Arrivals to this role over the signal window, requests per second.
    pub arrival_rate_rps: f64,
    /// Mean prompt length of those arrivals, tokens (0 when none).
    pub mean_input_tokens: f64,
    /// Mean output length of those arrivals, tokens (0 when none).
    pub mean_output_tokens: f64,
}

impl RoleSignals {
    /// The replica count a controller believes the role has: `ready + starting`.
    pub fn current(&self) -> u32 {
        self.ready.saturating_add(self.starting)
    }
}

/// Decides a role's replica count at sync instants.
pub trait Autoscaler {
    /// How often the engine calls [`Self::desired`] (ns, > 0).
    fn sync_period(&self) -> SimDuration;
    /// Desired replica count (the engine clamps nothing: the policy applies min/max itself).
    fn desired(&mut self, s: &RoleSignals) -> u32;
    /// The policy's name as written in scenario files.
    fn name(&self) -> &'static str;
}

/// The autoscaler of a validated configuration.
pub fn build(cfg: &AutoscaleConfig) -> Box<dyn Autoscaler + Send> {
    match cfg {
        AutoscaleConfig::Hpa(c) => Box::new(Hpa::new(c.clone())),
        AutoscaleConfig::Keda(c) => Box::new(Keda::new(c.clone())),
        AutoscaleConfig::SlaPlanner(c) => Box::new(SlaPlanner::new(c.clone())),
    }
}

impl Metric {
    /// Per-ready-replica average, as a Pods metric averages over the pods that report it;
    /// `None` when no replica is ready (or no latency sample exists).
    pub(crate) fn pod_average(self, s: &RoleSignals) -> Option<f64> {
        if s.ready == 0 {
            return None;
        }
        let ready = f64::from(s.ready);
        match self {
            Metric::QueueLength => Some(f64::from(s.queued) / ready),
            Metric::Inflight => Some(f64::from(s.inflight) / ready),
            Metric::KvUtilization => Some(s.kv_utilization),
            Metric::TtftMs { .. } => s.ttft_ms,
            Metric::TpotMs { .. } => s.tpot_ms,
            Metric::ArrivalRate => Some(s.arrival_rate_rps / ready),
        }
    }

    /// The role-wide value a Prometheus query returns: the sum for counts and rates, the
    /// mean for KV utilisation, the percentile for latencies; `None` without samples.
    pub(crate) fn role_value(self, s: &RoleSignals) -> Option<f64> {
        match self {
            Metric::QueueLength => Some(f64::from(s.queued)),
            Metric::Inflight => Some(f64::from(s.inflight)),
            Metric::KvUtilization => Some(s.kv_utilization),
            Metric::TtftMs { .. } => s.ttft_ms,
            Metric::TpotMs { .. } => s.tpot_ms,
            Metric::ArrivalRate => Some(s.arrival_rate_rps),
        }
        .filter(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::AutoscaleFile;
    use std::path::Path;

    #[test]
    fn build_matches_every_kind() {
        let texts = [
            "kind = \"hpa\"\nmax-replicas = 4\nmetric = \"inflight\"\ntarget-value = 8",
            "kind = \"keda\"\nmetric = \"queue-length\"\ntarget-value = 8",
            "kind = \"sla-planner\"\nstage = \"decode\"\nmax-replicas = 4\ncapacity-tokens-per-s = 500",
        ];
        let want = [
            ("hpa", SimDuration(15_000_000_000)),
            ("keda", SimDuration(15_000_000_000)),
            ("sla-planner", SimDuration(180_000_000_000)),
        ];
        for (t, (name, period)) in texts.iter().zip(want) {
            let f: AutoscaleFile = toml::from_str(t).unwrap();
            let c = AutoscaleConfig::from_file(Path::new("s.toml"), "x", &f).unwrap();
            let a = build(&c);
            assert_eq!(a.name(), name);
            assert_eq!(c.kind_name(), name);
            assert_eq!(a.sync_period(), period);
            assert_eq!(c.sync_period(), period);
        }
    }

    #[test]
    fn current_is_ready_plus_starting() {
        let s = RoleSignals {
            ready: 3,
            starting: 2,
            draining: 5,
            ..Default::default()
        };
        assert_eq!(s.current(), 5);
    }
}
