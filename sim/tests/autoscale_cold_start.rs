//! `[cold-start]` through the public API: parsing, defaults and the closed-form load time.

use serde::Deserialize;
use xpyd_sim::SimDuration;
use xpyd_sim::policy::autoscale::{
    AutoscaleConfig, AutoscaleError, AutoscaleFile, ColdStartConfig, ColdStartFile, load_seconds,
};

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
    let c = ColdStartConfig::from_file(&doc.cold_start, "cold-start").unwrap();
    // 4 x 641 GiB = 2 753.2 GB at 12.5 GB/s: 220.3 s each (they finish together).
    let t = load_seconds(641 * GIB, 4, &c);
    assert!((t - 220.25).abs() < 0.05, "{t}");
    // Ready after 5 + 0 + 220.25 + 30 s.
    let total = c.startup(641 * GIB, 4);
    let want = SimDuration::from_secs_f64(5.0 + 4.0 * 641.0 * GIB as f64 / 12.5e9 + 30.0);
    assert_eq!(total, want);
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
    let c = ColdStartConfig::from_file(&doc.cold_start, "cold-start").unwrap();
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
        &s.deployment.decode.autoscale,
        "deployment.decode.autoscale",
    )
    .unwrap_err();
    let AutoscaleError::Invalid { field, message } = &e;
    assert_eq!(field, "deployment.decode.autoscale.max-replicas");
    assert!(message.contains("min-replicas (4)"), "{message}");
    assert_eq!(
        e.to_string(),
        format!("deployment.decode.autoscale.max-replicas: {message}")
    );
}
