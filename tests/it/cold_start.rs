//! `xpyd run` with the cold-start storage model: the phase table it prints, the
//! `cold_starts` block of `summary.json`, and bad storage keys exiting with code 2.

use crate::common::*;

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/scenarios/cold-start-deepseek-r1.toml"
);

#[test]
fn run_prints_each_start_phase_by_phase() {
    let out = tmpdir("cold-start-fluid-cache");
    let o = xpyd(&[
        "run",
        SCENARIO,
        "--set",
        "cold-start.preset=\"fluid-cache\"",
        "--no-baseline",
        "--no-report",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("cold starts (preset fluid-cache: mount distributed-cache"),
        "{text}"
    );
    // Instance 1: started at 15 s; 58.5 s warm-up, 96.9 s fetch, 57.4 s tensor load.
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 aggregated"))
        .unwrap_or_else(|| panic!("no row of instance 1: {text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols[3..],
        [
            "15.0", "5.0", "60.0", "58.5", "96.9", "57.4", "212.8", "30.0", "322.8", "307.8"
        ],
        "{row}"
    );
    let s = json(&out.join("summary.json"));
    let replicas = s["cold_starts"]["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 4);
    assert_eq!(replicas[0]["load_s"], 212.779);
}

#[test]
fn runs_without_the_storage_model_print_no_cold_start_table() {
    let out = tmpdir("cold-start-legacy");
    let o = xpyd(&[
        "run",
        "scenarios/autoscale-burst.toml",
        "--requests",
        "40",
        "--no-baseline",
        "--no-report",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("cold starts"));
    assert!(json(&out.join("summary.json")).get("cold_starts").is_none());
}

#[test]
fn bad_storage_keys_exit_2_naming_file_field_value_and_range() {
    let out = tmpdir("cold-start-bad");
    for (set, want) in [
        (
            "cold-start.client-gb-s=-3",
            "cold-start-deepseek-r1.toml: cold-start.client-gb-s: must be in [0.001, 1000000] GB/s, got -3.0",
        ),
        (
            "cold-start.cache-workers=4",
            "cold-start-deepseek-r1.toml: cold-start.cache-workers: only with mount = \"distributed-cache\", not \"fuse\"",
        ),
        ("cold-start.mount=\"nfs\"", "cold-start.mount"),
    ] {
        let o = xpyd(&[
            "run",
            SCENARIO,
            "--set",
            set,
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{set}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(want), "{set}: {err}");
    }
}
