//! `[cold-start]` through the public API: parsing, defaults and the closed-form load time.

use serde::Deserialize;
use std::path::Path;
use xpyd_sim::SimDuration;
use xpyd_sim::scenario::{
    AutoscaleConfig, AutoscaleFile, ColdStartConfig, ColdStartFile, ScenarioError, load_seconds,
};

/// The scenario file the sections are said to come from.
const FILE: &str = "scenario.toml";

const GIB: u64 = 1 << 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Doc {
    cold_start: ColdStartFile,
}

#[test]
fn four_replicas_loading_641_gib_over_a_shared_100_gbit_store() {
    let doc: Doc = toml::from_str(
        r#"
[cold-start]
scheduling-s = 5
image-pull-s = 0
storage-gbit-s = 100
warmup-s = 30
"#,
    )
    .unwrap();
    let c = ColdStartConfig::from_file(Path::new(FILE), &doc.cold_start).unwrap();
    // 4 x 641 GiB = 2 753.2 GB at 12.5 GB/s: 220.3 s each (they finish together).
    let t = load_seconds(641 * GIB, 4, &c);
    assert!((t - 220.25).abs() < 0.05, "{t}");
    // Ready after 5 + 0 + 220.25 + 30 s.
    let total = c.startup(641 * GIB, 4);
    let want = SimDuration::from_secs_f64(5.0 + 4.0 * 641.0 * GIB as f64 / 12.5e9 + 30.0);
    assert_eq!(total, want);
}

#[test]
fn load_step_timeline_sync_then_cold_start() {
    use xpyd_sim::SimTime;
    use xpyd_sim::policy::autoscale::{RoleSignals, build};
    // An HPA on queue length (target 4) with 2 ready decode replicas; the load steps at
    // t = 100 s to 20 queued per replica.
    let f: AutoscaleFile = toml::from_str(
        "kind = \"hpa\"\nmax-replicas = 16\nmetric = \"queue-length\"\ntarget-value = 4",
    )
    .unwrap();
    let mut hpa = build(&AutoscaleConfig::from_file(Path::new(FILE), "a", &f).unwrap());
    let s = |t: u64, q: u32| RoleSignals {
        now: SimTime(t * 1_000_000_000),
        ready: 2,
        queued: 2 * q,
        ..Default::default()
    };
    assert_eq!(hpa.desired(&s(90, 2)), 2);
    // First sync after the step: t = 105 s, +4 replicas (max(+4, +100 %) from 2).
    let desired = hpa.desired(&s(105, 20));
    assert_eq!(desired, 6);
    // The 4 new replicas pull the image and load 641 GiB each together from the shared
    // 100 Gbit/s store: ready at 105 + 5 + 60 + 220.25 + 30 = 420.25 s.
    let c = ColdStartConfig::default();
    let ready_at = SimTime(105_000_000_000) + c.startup(641 * GIB, desired - 2);
    assert!(
        (ready_at.as_secs_f64() - 420.25).abs() < 0.05,
        "{}",
        ready_at.as_secs_f64()
    );
}

#[test]
fn node_local_cache_removes_the_sharing() {
    let doc: Doc = toml::from_str(
        r#"
[cold-start]
local-cache = true
cache-gbit-s = 200
"#,
    )
    .unwrap();
    let c = ColdStartConfig::from_file(Path::new(FILE), &doc.cold_start).unwrap();
    // 641 GiB at 25 GB/s = 27.5 s whatever the number of replicas starting.
    for n in [1, 4, 16] {
        assert!((load_seconds(641 * GIB, n, &c) - 27.53).abs() < 0.01);
    }
}

#[test]
fn unknown_fields_fail_to_parse() {
    assert!(toml::from_str::<Doc>("[cold-start]\nstorage-gbps = 100\n").is_err());
}

#[test]
fn nested_errors_name_the_full_field() {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Deployment {
        decode: Role,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Role {
        autoscale: AutoscaleFile,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Scenario {
        deployment: Deployment,
    }
    let s: Scenario = toml::from_str(
        r#"
[deployment.decode.autoscale]
kind = "hpa"
min-replicas = 4
max-replicas = 2
metric = "kv-utilization"
target-value = 0.8
"#,
    )
    .unwrap();
    let e = AutoscaleConfig::from_file(
        Path::new(FILE),
        "deployment.decode.autoscale",
        &s.deployment.decode.autoscale,
    )
    .unwrap_err();
    let ScenarioError::Invalid {
        file,
        field,
        message,
    } = &e
    else {
        panic!("not an Invalid error: {e:?}")
    };
    assert_eq!(file, Path::new(FILE));
    assert_eq!(field, "deployment.decode.autoscale.max-replicas");
    assert!(message.contains("min-replicas (4)"), "{message}");
    assert!(message.contains("got 2"), "{message}");
    assert_eq!(
        e.to_string(),
        format!("{FILE}: deployment.decode.autoscale.max-replicas: {message}")
    );
}
