//! KEDA decisions on hand-built signal sequences, through the public API only.
//!
//! Semantics (kedacore/keda `pkg/scaling/executor/scale_scaledobjects.go`): the operator
//! polls every `pollingInterval` (30 s), activates from zero when the trigger value is
//! above `activationThreshold`, scales to zero `cooldownPeriod` (300 s) after the last
//! active poll; between 1 and max the HPA it creates scales every 15 s.

use std::path::Path;
use xpyd_sim::policy::autoscale::{Autoscaler, RoleSignals, build};
use xpyd_sim::scenario::{AutoscaleConfig, AutoscaleFile};
use xpyd_sim::{SimDuration, SimTime};

const S: u64 = 1_000_000_000;

fn keda(text: &str) -> Box<dyn Autoscaler + Send> {
    let f: AutoscaleFile = toml::from_str(text).expect("valid TOML");
    let c = AutoscaleConfig::from_file(
        Path::new("scenario.toml"),
        "deployment.prefill.autoscale",
        &f,
    )
    .expect("valid");
    build(&c)
}

fn rate(t_s: u64, ready: u32, rps: f64) -> RoleSignals {
    RoleSignals {
        now: SimTime(t_s * S),
        ready,
        arrival_rate_rps: rps,
        ..Default::default()
    }
}

const RATE_KEDA: &str = r#"
kind = "keda"
metric = "arrival-rate"
target-value = 2.0
"#;

/// Runs the scaler every 15 s from `from` to `to` (inclusive) with instant cold starts
/// (every desired replica is ready at the next sync) and returns the counts.
fn drive(
    a: &mut dyn Autoscaler,
    mut ready: u32,
    from: u64,
    to: u64,
    load: impl Fn(u64) -> f64,
) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    for t in (from..=to).step_by(15) {
        ready = a.desired(&rate(t, ready, load(t)));
        out.push((t, ready));
    }
    out
}

#[test]
fn scales_from_zero_at_the_first_poll_after_traffic_then_the_hpa_takes_over() {
    let mut a = keda(RATE_KEDA);
    assert_eq!(a.sync_period(), SimDuration(15 * S));
    // Polls at 15, 45, 75, ... (the first call polls, then every 30 s).
    assert_eq!(a.desired(&rate(15, 0, 0.0)), 0);
    // Traffic starts at t = 20 s; t = 30 is an HPA sync only, and the HPA is disabled at
    // zero replicas.
    assert_eq!(a.desired(&rate(30, 0, 5.0)), 0);
    // Poll at 45: active (5 > 0): 0 -> 1.
    assert_eq!(a.desired(&rate(45, 0, 5.0)), 1);
    // HPA sync at 60 with 1 replica (starting): AverageValue ratio 5/(2 x 1) -> ceil(5/2) = 3,
    // within max(1 + 4, 2) = 5.
    let s = RoleSignals {
        now: SimTime(60 * S),
        starting: 1,
        arrival_rate_rps: 5.0,
        ..Default::default()
    };
    assert_eq!(a.desired(&s), 3);
}

#[test]
fn cooldown_to_zero_counts_from_the_last_active_poll() {
    let mut a = keda(RATE_KEDA);
    // 6 rps until t = 200 s, then nothing.
    let load = |t: u64| if t < 200 { 6.0 } else { 0.0 };
    let run = drive(a.as_mut(), 3, 15, 600, load);
    let at = |t: u64| run.iter().find(|&&(x, _)| x == t).map(|&(_, n)| n).unwrap();
    // Steady 3 (6 rps / 2) while traffic lasts.
    assert_eq!(at(195), 3);
    // Last active poll: t = 195. The HPA (window 300 s, its last 3 recorded at t = 195)
    // drops to its minimum of 1 at t = 495; the operator scales to 0 at the first poll
    // with 195 + 300 < now: t = 525 (polls at 495 and 525).
    for t in (210..495).step_by(15) {
        assert_eq!(at(t), 3, "t={t}");
    }
    assert_eq!(at(495), 1);
    assert_eq!(at(510), 1);
    assert_eq!(at(525), 0);
    assert_eq!(at(600), 0);
}

#[test]
fn never_active_scales_to_zero_at_the_first_poll() {
    // KEDA scales to zero at once when the trigger was never active (no lastActiveTime).
    let mut a = keda(RATE_KEDA);
    assert_eq!(a.desired(&rate(15, 2, 0.0)), 0);
}

#[test]
fn initial_cooldown_delays_the_first_scale_to_zero() {
    let mut a = keda(&format!("{RATE_KEDA}initial-cooldown-s = 120\n"));
    let run = drive(a.as_mut(), 2, 15, 150, |_| 0.0);
    // Polls at 15, 45, 75, 105 are before 120 s; the one at 135 scales to zero. The HPA
    // holds 2 meanwhile (its initial recommendation stabilises the scale-down).
    assert!(
        run.iter().filter(|&&(t, _)| t < 135).all(|&(_, n)| n == 2),
        "{run:?}"
    );
    assert_eq!(run.iter().find(|&&(t, _)| t == 135).unwrap().1, 0);
}

#[test]
fn activation_threshold_gates_scale_from_zero() {
    let mut a = keda(&format!("{RATE_KEDA}activation-value = 1.0\n"));
    assert_eq!(a.desired(&rate(15, 0, 1.0)), 0, "1.0 is not above 1.0");
    assert_eq!(a.desired(&rate(45, 0, 1.5)), 1);
}

#[test]
fn min_replica_count_above_zero_never_reaches_zero() {
    let mut a = keda(&format!("{RATE_KEDA}min-replicas = 2\nmax-replicas = 6\n"));
    let run = drive(a.as_mut(), 2, 15, 900, |_| 0.0);
    assert!(run.iter().all(|&(_, n)| n == 2), "{run:?}");
    // And the HPA caps at max-replicas.
    let run = drive(a.as_mut(), 2, 915, 1000, |_| 100.0);
    assert_eq!(run.last().unwrap().1, 6);
}

#[test]
fn queue_length_value_is_the_role_sum() {
    // sum(vllm:num_requests_waiting) = 30 over 2 replicas, threshold 10 -> ceil(30/10) = 3.
    let mut a = keda(
        r#"
kind = "keda"
min-replicas = 1
metric = "queue-length"
target-value = 10
"#,
    );
    let s = RoleSignals {
        now: SimTime(15 * S),
        ready: 2,
        queued: 30,
        ..Default::default()
    };
    assert_eq!(a.desired(&s), 3);
}
