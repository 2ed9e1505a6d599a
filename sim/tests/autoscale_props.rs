//! Property tests of the autoscalers on random signal sequences: bounds hold, the default
//! HPA never grows faster than max(+4, x2) per 15 s, and decisions are deterministic.

use proptest::prelude::*;
use std::path::Path;
use xpyd_sim::SimTime;
use xpyd_sim::policy::autoscale::{Autoscaler, RoleSignals, build};
use xpyd_sim::scenario::{AutoscaleConfig, AutoscaleFile};

const S: u64 = 1_000_000_000;

fn policy(text: &str) -> Box<dyn Autoscaler + Send> {
    let f: AutoscaleFile = toml::from_str(text).expect("valid TOML");
    build(&AutoscaleConfig::from_file(Path::new("scenario.toml"), "p", &f).expect("valid config"))
}

const HPA: &str = "kind = \"hpa\"\nmin-replicas = 2\nmax-replicas = 12\nmetric = \"queue-length\"\ntarget-value = 4";
const KEDA: &str = "kind = \"keda\"\nmax-replicas = 12\nmetric = \"arrival-rate\"\ntarget-value = 2\ncooldown-s = 60";
const PLANNER: &str = "kind = \"sla-planner\"\nstage = \"decode\"\nmin-replicas = 2\nmax-replicas = 12\ncapacity-tokens-per-s = 500\npredictor = \"drift\"";

/// One sync's load: (queued per ready replica, arrival rate, mean output tokens).
fn loads() -> impl Strategy<Value = Vec<(u32, f64, f64)>> {
    prop::collection::vec((0u32..60, 0.0f64..30.0, 1.0f64..400.0), 1..80)
}

/// Runs a policy every period with instant cold starts, returning (current, desired) pairs.
fn run(a: &mut dyn Autoscaler, start: u32, loads: &[(u32, f64, f64)]) -> Vec<(u32, u32)> {
    let period = a.sync_period().as_nanos();
    let mut ready = start;
    let mut out = Vec::new();
    for (k, &(q, rate, osl)) in loads.iter().enumerate() {
        let s = RoleSignals {
            now: SimTime((k as u64 + 1) * period),
            ready,
            queued: q * ready,
            arrival_rate_rps: if ready == 0 && q == 0 { 0.0 } else { rate },
            mean_input_tokens: 1000.0,
            mean_output_tokens: osl,
            ..Default::default()
        };
        let d = a.desired(&s);
        out.push((ready, d));
        ready = d;
    }
    out
}

proptest! {
    #[test]
    fn hpa_stays_in_bounds_and_respects_the_default_rate(start in 2u32..=12, l in loads()) {
        let mut a = policy(HPA);
        prop_assert_eq!(a.sync_period().as_nanos(), 15 * S);
        for (cur, d) in run(a.as_mut(), start, &l) {
            prop_assert!((2..=12).contains(&d), "{} -> {}", cur, d);
            prop_assert!(d <= (cur + 4).max(2 * cur), "{} -> {}", cur, d);
        }
    }

    #[test]
    fn keda_stays_in_bounds(start in 0u32..=12, l in loads()) {
        let mut a = policy(KEDA);
        for (cur, d) in run(a.as_mut(), start, &l) {
            prop_assert!(d <= 12, "{} -> {}", cur, d);
        }
    }

    #[test]
    fn planner_stays_in_bounds(start in 2u32..=12, l in loads()) {
        let mut a = policy(PLANNER);
        for (cur, d) in run(a.as_mut(), start, &l) {
            prop_assert!((2..=12).contains(&d) || d == cur, "{} -> {}", cur, d);
        }
    }

    #[test]
    fn decisions_are_deterministic(start in 0u32..=12, l in loads()) {
        for text in [HPA, KEDA, PLANNER] {
            let a = run(policy(text).as_mut(), start, &l);
            let b = run(policy(text).as_mut(), start, &l);
            prop_assert_eq!(a, b);
        }
    }
}
