//! Unit tests of `[cold-start]`: closed forms, presets and validation errors.

use super::*;

const GIB: u64 = 1 << 30;

#[test]
fn four_replicas_share_the_store() {
    let c = ColdStartConfig::default();
    let t = load_seconds(641 * GIB, 4, &c);
    // 4 x 641 GiB = 2753.2 GB over 12.5 GB/s = 220.3 s.
    let want = 4.0 * 641.0 * GIB as f64 / 12.5e9;
    assert!((t - want).abs() < 1e-9, "{t} vs {want}");
    assert!((t - 220.25).abs() < 0.1, "{t}");
    // One alone takes a quarter.
    assert!((load_seconds(641 * GIB, 1, &c) - want / 4.0).abs() < 1e-9);
}

#[test]
fn local_cache_does_not_share() {
    let c = ColdStartConfig {
        local_cache: true,
        ..Default::default()
    };
    // 641 GiB at 25 GB/s, whatever the number of loaders.
    let want = 641.0 * GIB as f64 / 25e9;
    assert!((load_seconds(641 * GIB, 4, &c) - want).abs() < 1e-9);
}

#[test]
fn startup_adds_the_phases() {
    let c = ColdStartConfig::default();
    let t = c.startup_seconds(641 * GIB, 4);
    let want = 5.0 + 60.0 + 4.0 * 641.0 * GIB as f64 / 12.5e9 + 30.0;
    assert!((t - want).abs() < 1e-9);
    assert_eq!(c.startup(0, 1), SimDuration(95_000_000_000));
}

#[test]
fn validation_names_fields() {
    let file = Path::new("s.toml");
    let field = |e: ScenarioError| match e {
        ScenarioError::Invalid { field, .. } => field,
        other => panic!("not an Invalid error: {other:?}"),
    };
    let f = ColdStartFile {
        storage_gbit_s: Some(0.0),
        ..Default::default()
    };
    let e = ColdStartConfig::from_file(file, &f).unwrap_err();
    assert_eq!(field(e), "cold-start.storage-gbit-s");
    let f = ColdStartFile {
        warmup_s: Some(-1.0),
        ..Default::default()
    };
    let e = ColdStartConfig::from_file(file, &f).unwrap_err();
    assert_eq!(
        e.to_string(),
        "s.toml: cold-start.warmup-s: must be in [0, 10000000] seconds, got -1.0"
    );
    assert_eq!(field(e), "cold-start.warmup-s");
    assert_eq!(
        ColdStartConfig::from_file(file, &ColdStartFile::default()).unwrap(),
        ColdStartConfig::default()
    );
}
