//! HPA decisions on hand-built signal sequences, through the public API only.
//!
//! Every expected count is computed by hand in the comments from the Kubernetes algorithm
//! (kubernetes `pkg/controller/podautoscaler/horizontal.go`, `replica_calculator.go`):
//! syncs every 15 s, tolerance 0.1, scale-up max(+4, +100 %) per 15 s, scale-down after
//! a 300 s stabilisation window.

use std::path::Path;
use xpyd_sim::policy::autoscale::{Autoscaler, RoleSignals, build};
use xpyd_sim::scenario::{AutoscaleConfig, AutoscaleFile};
use xpyd_sim::{SimDuration, SimTime};

const S: u64 = 1_000_000_000;

fn hpa(text: &str) -> Box<dyn Autoscaler + Send> {
    let f: AutoscaleFile = toml::from_str(text).expect("valid TOML");
    let c = AutoscaleConfig::from_file(
        Path::new("scenario.toml"),
        "deployment.decode.autoscale",
        &f,
    )
    .expect("valid config");
    build(&c)
}

fn queue_hpa(min: u32, max: u32) -> Box<dyn Autoscaler + Send> {
    hpa(&format!(
        "kind = \"hpa\"\nmin-replicas = {min}\nmax-replicas = {max}\nmetric = \"queue-length\"\ntarget-value = 4"
    ))
}

/// Signals with `ready` replicas, `starting` not ready, and `per_replica` requests queued on
/// each ready replica.
fn queue(t_s: u64, ready: u32, starting: u32, per_replica: u32) -> RoleSignals {
    RoleSignals {
        now: SimTime(t_s * S),
        ready,
        starting,
        queued: ready * per_replica,
        ..Default::default()
    }
}

#[test]
fn load_step_scales_up_at_the_first_sync_after_it_within_the_rate_limit() {
    let mut a = queue_hpa(1, 20);
    assert_eq!(a.sync_period(), SimDuration(15 * S));
    // 2 replicas at 2 queued each (ratio 0.5) until the step at t = 100 s. The initial
    // recommendation (2, t=15) and the 300 s window hold the count at 2.
    for t in [15, 30, 45, 60, 75, 90] {
        assert_eq!(a.desired(&queue(t, 2, 0, 2)), 2, "t={t}");
    }
    // Step at t = 100 s to 20 queued per replica. First sync after it: t = 105 s.
    // Proposal ceil(20/4 x 2) = 10; limit from 2: max(2 + 4, 2 x 2) = 6.
    assert_eq!(a.desired(&queue(105, 2, 0, 20)), 6);
    // t = 120: 2 ready + 4 starting (not ready, counted as 0 on a scale-up):
    // ratio 20 x 2 / (4 x 6) = 1.67 -> ceil(1.67 x 6) = 10; the +4 at t=105 is outside
    // the 15 s period (105 + 15 is not > 120): limit max(6 + 4, 12) = 12 -> 10.
    assert_eq!(a.desired(&queue(120, 2, 4, 20)), 10);
    // All 10 ready, 20 queued each -> ceil(5 x 10) = 50, limited to 20 by max-replicas.
    assert_eq!(a.desired(&queue(135, 10, 0, 20)), 20);
}

#[test]
fn tolerance_band_keeps_the_count() {
    let mut a = queue_hpa(1, 20);
    // 4 replicas; averages 3.75 and 4.25 (ratios 0.94 and 1.06) stay inside 10 %.
    let sig = |t: u64, queued: u32| RoleSignals {
        now: SimTime(t * S),
        ready: 4,
        queued,
        ..Default::default()
    };
    assert_eq!(a.desired(&sig(15, 15)), 4); // avg 3.75
    assert_eq!(a.desired(&sig(30, 17)), 4); // avg 4.25
    // avg 4.5: ratio 1.125 -> ceil(1.125 x 4) = 5.
    assert_eq!(a.desired(&sig(45, 18)), 5);
}

#[test]
fn scale_down_only_after_the_stabilisation_window() {
    let mut a = queue_hpa(1, 20);
    // 8 replicas at the target (avg 4) until t = 390 s (last high recommendation: 8).
    for t in (15..=390).step_by(15) {
        assert_eq!(a.desired(&queue(t, 8, 0, 4)), 8, "t={t}");
    }
    // Load drops: avg 1 -> proposal ceil(0.25 x 8) = 2 from t = 405 on. The window keeps
    // the maximum of the last 300 s, which contains the 8 of t = 390 until t = 690
    // (390 > 690 - 300 is false).
    for t in (405..690).step_by(15) {
        assert_eq!(a.desired(&queue(t, 8, 0, 1)), 8, "t={t}");
    }
    assert_eq!(a.desired(&queue(690, 8, 0, 1)), 2);
}

#[test]
fn min_and_max_clamp() {
    let mut a = queue_hpa(2, 5);
    // Nothing queued: proposal 0, but min 2 (after the window of the initial 4).
    for t in (15..315).step_by(15) {
        assert_eq!(a.desired(&queue(t, 4, 0, 0)), 4, "t={t}");
    }
    assert_eq!(a.desired(&queue(315, 4, 0, 0)), 2);
    // Huge load: max 5.
    assert_eq!(a.desired(&queue(330, 2, 0, 100)), 5);
    // Outside the bounds (someone scaled by hand): brought back in one step.
    assert_eq!(a.desired(&queue(345, 9, 0, 4)), 5);
}

#[test]
fn custom_policies_slow_the_scale_up() {
    // At most 1 pod per 60 s, as a cautious GPU deployment might set.
    let mut a = hpa(r#"
kind = "hpa"
max-replicas = 10
metric = "inflight"
target-value = 16
[scale-up]
policies = [{ type = "pods", value = 1, period-s = 60 }]
"#);
    let sig = |t: u64, ready: u32, starting: u32| RoleSignals {
        now: SimTime(t * S),
        ready,
        starting,
        inflight: 64, // 64 in flight on 1 ready replica: ratio 4
        ..Default::default()
    };
    assert_eq!(a.desired(&sig(15, 1, 0)), 2);
    // The +1 of t = 15 counts until t = 75 (15 > 75 - 60 is false at 75).
    for t in [30, 45, 60] {
        assert_eq!(a.desired(&sig(t, 1, 1)), 2, "t={t}");
    }
    assert_eq!(a.desired(&sig(75, 1, 1)), 3);
}

#[test]
fn ttft_percentile_is_an_external_value() {
    let mut a = hpa(r#"
kind = "hpa"
max-replicas = 10
metric = "ttft-ms"
target-value = 500
percentile = 90
window-s = 60
"#);
    let sig = |t: u64, ttft: Option<f64>| RoleSignals {
        now: SimTime(t * S),
        ready: 3,
        ttft_ms: ttft,
        ..Default::default()
    };
    // No sample in the window: the metric cannot be computed, nothing changes.
    assert_eq!(a.desired(&sig(15, None)), 3);
    // p90 800 ms vs 500: ceil(1.6 x 3) = 5.
    assert_eq!(a.desired(&sig(30, Some(800.0))), 5);
}

#[test]
fn arrival_rate_is_an_average_value_per_replica() {
    let mut a = hpa(r#"
kind = "hpa"
max-replicas = 10
metric = "arrival-rate"
target-value = 2.0
"#);
    let s = RoleSignals {
        now: SimTime(15 * S),
        ready: 1,
        starting: 1,
        arrival_rate_rps: 7.0,
        ..Default::default()
    };
    // 7 rps at 2 per replica over 2 (ready + starting): ratio 1.75 -> ceil(7/2) = 4.
    assert_eq!(a.desired(&s), 4);
}

#[test]
fn manifest_without_behavior_uses_the_legacy_limits() {
    // `behavior = "unset"`: at most max(2 x current, 4) per sync, and the highest proposal
    // of the last 300 s in both directions.
    let mut a = hpa(
        "kind = \"hpa\"\nmax-replicas = 20\nmetric = \"queue-length\"\ntarget-value = 4\nbehavior = \"unset\"",
    );
    // 2 replicas at 20 queued each: proposal 10, limited to max(4, 4) = 4 (explicit: 6).
    assert_eq!(a.desired(&queue(105, 2, 0, 20)), 4);
    // 4 ready at 20 each: proposal 20, limited to 8.
    assert_eq!(a.desired(&queue(120, 4, 0, 20)), 8);
}
