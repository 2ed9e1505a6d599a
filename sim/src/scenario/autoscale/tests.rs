//! Unit tests of the autoscaling configuration: defaults, validation errors naming file,
//! path, value and range, and duration rounding.

use super::*;

fn parse(text: &str) -> Result<AutoscaleConfig, ScenarioError> {
    let f: AutoscaleFile = toml::from_str(text).expect("valid TOML");
    AutoscaleConfig::from_file(Path::new("s.toml"), "deployment.decode.autoscale", &f)
}

/// The field an `Invalid` error names.
fn field(e: &ScenarioError) -> &str {
    match e {
        ScenarioError::Invalid { field, .. } => field,
        other => panic!("not an Invalid error: {other:?}"),
    }
}

#[test]
fn hpa_defaults_follow_kubernetes() {
    let c = parse(
        r#"
kind = "hpa"
max-replicas = 8
metric = "queue-length"
target-value = 4
"#,
    )
    .unwrap();
    let AutoscaleConfig::Hpa(h) = &c else {
        panic!("not an hpa: {c:?}")
    };
    assert_eq!(h.min_replicas, 1);
    assert_eq!(h.sync_period, SimDuration(15 * SECOND));
    assert_eq!(h.tolerance, 0.1);
    assert_eq!(h.scale_up, ScalingRules::default_scale_up());
    assert_eq!(h.scale_down, ScalingRules::default_scale_down());
    assert_eq!(c.percentile(), None);
    assert_eq!(c.sync_period(), SimDuration(15 * SECOND));
}

#[test]
fn latency_metric_carries_percentile_and_window() {
    let c = parse(
        r#"
kind = "hpa"
max-replicas = 8
metric = "ttft-ms"
target-value = 500
percentile = 99
window-s = 30
"#,
    )
    .unwrap();
    assert_eq!(c.percentile(), Some(99.0));
    assert_eq!(c.signal_window(), SimDuration(30 * SECOND));
}

#[test]
fn errors_name_the_field() {
    let e = parse(
        r#"
kind = "hpa"
max-replicas = 8
metric = "queue-length"
target-value = -1
"#,
    )
    .unwrap_err();
    assert_eq!(field(&e), "deployment.decode.autoscale.target-value");

    let e = parse(
        r#"
kind = "hpa"
max-replicas = 8
metric = "queue-length"
target-value = 4
percentile = 90
"#,
    )
    .unwrap_err();
    assert_eq!(field(&e), "deployment.decode.autoscale.percentile");

    let e = parse(
        r#"
kind = "hpa"
max-replicas = 8
metric = "inflight"
target-value = 4
[scale-up]
policies = [{ type = "pods", value = 0, period-s = 15 }]
"#,
    )
    .unwrap_err();
    assert_eq!(
        field(&e),
        "deployment.decode.autoscale.scale-up.policies[0].value"
    );
    // File, full path, accepted range and value, as every scenario section reports.
    assert_eq!(
        e.to_string(),
        "s.toml: deployment.decode.autoscale.scale-up.policies[0].value: \
         must be in [1, 2147483647] (an int32, as Kubernetes), got 0"
    );
}

#[test]
fn durations_are_checked_and_converted_once() {
    let e = parse("kind = \"keda\"\nmetric = \"inflight\"\ntarget-value = 4\ncooldown-s = -1")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.toml: deployment.decode.autoscale.cooldown-s: \
         must be in [0, 10000000] seconds, got -1.0"
    );
    let e = parse(
        "kind = \"hpa\"\nmax-replicas = 8\nmetric = \"inflight\"\ntarget-value = 4\n\
         [scale-down]\nstabilization-window-s = 4000",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.toml: deployment.decode.autoscale.scale-down.stabilization-window-s: \
         must be in [0, 3600] seconds (as Kubernetes), got 4000"
    );
    let c = parse(
        "kind = \"sla-planner\"\nstage = \"decode\"\nmax-replicas = 4\n\
         capacity-tokens-per-s = 500\nadjustment-interval-s = 0.1234567891",
    )
    .unwrap();
    assert_eq!(
        c.sync_period(),
        SimDuration::from_secs_f64(0.1234567891),
        "rounded once, by SimDuration::from_secs_f64"
    );
}

#[test]
fn unset_behavior_excludes_rules() {
    let c = parse(
        "kind = \"hpa\"\nmax-replicas = 8\nmetric = \"inflight\"\ntarget-value = 4\nbehavior = \"unset\"",
    )
    .unwrap();
    let AutoscaleConfig::Hpa(h) = &c else {
        panic!("{c:?}")
    };
    assert_eq!(h.behavior, BehaviorMode::Unset);
    let e = parse(
        "kind = \"hpa\"\nmax-replicas = 8\nmetric = \"inflight\"\ntarget-value = 4\nbehavior = \"unset\"\n[scale-up]\nstabilization-window-s = 60",
    )
    .unwrap_err();
    assert_eq!(field(&e), "deployment.decode.autoscale.behavior");
}

#[test]
fn unknown_fields_are_rejected() {
    assert!(
        toml::from_str::<AutoscaleFile>(
            r#"
kind = "hpa"
max-replicas = 8
metric = "queue-length"
target-value = 4
target-valu = 3
"#
        )
        .is_err()
    );
    assert!(
        toml::from_str::<AutoscaleFile>(
            r#"
kind = "vpa"
max-replicas = 8
"#
        )
        .is_err()
    );
}

#[test]
fn keda_defaults_follow_keda() {
    let c = parse(
        r#"
kind = "keda"
metric = "arrival-rate"
target-value = 2.5
"#,
    )
    .unwrap();
    let AutoscaleConfig::Keda(k) = &c else {
        panic!("not keda: {c:?}")
    };
    assert_eq!(k.min_replicas, 0);
    assert_eq!(k.max_replicas, 100);
    assert_eq!(k.polling_interval, SimDuration(30 * SECOND));
    assert_eq!(k.cooldown, SimDuration(300 * SECOND));
    assert_eq!(k.activation_value, 0.0);
    assert_eq!(k.metric_type, MetricType::AverageValue);
    // Polls every 30 s and syncs its HPA every 15 s: called every 15 s.
    assert_eq!(c.sync_period(), SimDuration(15 * SECOND));
    let e = parse(
        r#"
kind = "keda"
metric = "arrival-rate"
target-value = 2.5
polling-interval-s = 7.5
"#,
    )
    .unwrap_err();
    assert_eq!(field(&e), "deployment.decode.autoscale.polling-interval-s");
}

#[test]
fn sla_planner_defaults_follow_dynamo() {
    let c = parse(
        r#"
kind = "sla-planner"
stage = "prefill"
max-replicas = 8
capacity-tokens-per-s = 12000
"#,
    )
    .unwrap();
    let AutoscaleConfig::SlaPlanner(s) = &c else {
        panic!("not a planner: {c:?}")
    };
    assert_eq!(s.adjustment_interval, SimDuration(180 * SECOND));
    assert_eq!(s.min_replicas, 1);
    assert_eq!(s.prediction_window, 50);
    assert_eq!(c.signal_window(), SimDuration(180 * SECOND));
    assert_eq!(c.percentile(), None);
}

#[test]
fn gcd_of_periods() {
    assert_eq!(gcd(30, 15), 15);
    assert_eq!(gcd(20, 15), 5);
    assert_eq!(gcd(7, 0), 7);
}
