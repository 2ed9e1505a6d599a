//! The cold-start storage model in the engine: the seed talk's three DeepSeek-R1 loads
//! (`scenarios/cold-start-deepseek-r1.toml`), the engine against the closed forms, and
//! cache state carried from one scale-up to the next.

use std::path::{Path, PathBuf};
use xpyd_sim::scenario::{Overrides, Scenario, Topology};
use xpyd_sim::{ColdStartRecord, System};

/// DeepSeek-R1's checkpoint, bytes (641 GiB, the talk).
const R1_BYTES: f64 = 641.0 * (1u64 << 30) as f64;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/cold-start-deepseek-r1.toml")
}

/// The shipped scenario with `--set` pairs.
fn load(sets: &[&str]) -> Scenario {
    let ov = Overrides {
        sets: sets.iter().map(|s| s.to_string()).collect(),
        ..Overrides::default()
    };
    Scenario::load_with(Some(&shipped()), &ov).unwrap()
}

fn cold_starts(sc: &Scenario) -> Vec<ColdStartRecord> {
    xpyd_sim::run(sc, System::Main, &mut |_| {})
        .unwrap()
        .cold_starts
}

/// The seed talk's figures: 4 replicas loading 641 GiB at once from a 100 Gbit/s OSS
/// bucket; measured load times (s) of each case.
const SEED: [(&str, f64); 3] = [
    ("oss-mount", 39.0 * 60.0),
    ("fluid-prefetch", 242.0 + 72.0),
    ("fluid-cache", 58.0 + 101.0 + 70.0),
];

#[test]
fn seed_figure_within_15_percent() {
    for (preset, measured) in SEED {
        let sc = load(&[&format!("cold-start.preset=\"{preset}\"")]);
        let starts = cold_starts(&sc);
        assert_eq!(starts.len(), 4, "{preset}: {starts:?}");
        // All four start at the first HPA sync and load together.
        assert!(starts.iter().all(|s| s.requested_s == 15.0), "{starts:?}");
        let want = sc.cold_start.load_phases(R1_BYTES, 8, 4, false).unwrap();
        for s in &starts {
            // The event-by-event model reproduces the closed form to the microsecond.
            assert!(
                (s.cache_warmup_s - want.cache_warmup_s).abs() < 1e-6,
                "{s:?}"
            );
            assert!((s.fetch_s - want.fetch_s).abs() < 1e-6, "{s:?}");
            assert!((s.tensor_load_s - want.tensor_load_s).abs() < 1e-6, "{s:?}");
            let error = s.load_s() / measured - 1.0;
            assert!(
                error.abs() <= 0.15,
                "{preset}: predicted {:.1} s, measured {measured} s ({:+.1}%)",
                s.load_s(),
                error * 100.0
            );
        }
    }
}

#[test]
fn phases_add_up_to_ready() {
    let sc = load(&["cold-start.preset=\"fluid-cache\""]);
    for s in cold_starts(&sc) {
        let sum = s.scheduling_s + s.image_pull_s + s.load_s() + s.warmup_s;
        assert!((s.total_s() - sum).abs() < 1e-6, "{s:?}");
        assert_eq!(
            (s.scheduling_s, s.image_pull_s, s.warmup_s),
            (5.0, 60.0, 30.0)
        );
    }
}

#[test]
fn same_seed_same_cold_starts() {
    let sc = load(&["cold-start.preset=\"fluid-cache\""]);
    let a = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
    let b = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
    assert_eq!(a.cold_starts, b.cold_starts);
    assert_eq!(a.trace_hash, b.trace_hash);
}

/// Two bursts of traffic an idle half hour apart: the HPA (arrival rate, 0.05 req/s per
/// replica) adds 4 replicas at each, and removes them 300 s after the first burst.
const TWO_BURSTS: &str = r#"
seed = 1
[model]
id = "deepseek-r1"
weights = "fp8"
[hardware]
gpu = "h200"
[deployment]
mode = "aggregated"
backend = "vllm"
[deployment.aggregated]
replicas = 1
tp = 8
[deployment.aggregated.autoscale]
kind = "hpa"
min-replicas = 1
max-replicas = 5
metric = "arrival-rate"
target-value = 0.05
[cold-start]
scheduling-s = 5
[workload]
requests = 700
[workload.arrival]
kind = "schedule"
interpolation = "step"
points = [{ at-s = 0, rate-rps = 1 }, { at-s = 400, rate-rps = 0 }, { at-s = 1500, rate-rps = 1 }]
[workload.input-tokens]
kind = "fixed"
tokens = 500
[workload.output-tokens]
kind = "fixed"
tokens = 50
"#;

/// [`TWO_BURSTS`] with `sets`; with a storage model, 641 GiB per replica and the image
/// layers cached per node.
fn two_bursts(sets: &[&str]) -> (Scenario, Vec<ColdStartRecord>) {
    let mut sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    if !sets.is_empty() {
        sets.push("cold-start.checkpoint-gib=641".into());
        sets.push("cold-start.image-layer-cache=true".into());
    }
    let sc = Scenario::from_text(Path::new("two.toml"), Path::new("."), TWO_BURSTS, &sets).unwrap();
    let starts = cold_starts(&sc);
    (sc, starts)
}

#[test]
fn second_scale_up_hits_the_distributed_cache_and_the_image_layers() {
    let (sc, starts) = two_bursts(&["cold-start.preset=\"fluid-cache\""]);
    assert_eq!(starts.len(), 8, "{starts:?}");
    let (first, second) = starts.split_at(4);
    let cold = sc.cold_start.load_phases(R1_BYTES, 8, 4, false).unwrap();
    let warm = sc.cold_start.load_phases(R1_BYTES, 8, 4, true).unwrap();
    for s in first {
        assert_eq!(s.image_pull_s, 60.0, "{s:?}");
        assert!((s.load_s() - cold.total_s()).abs() < 1e-6, "{s:?}");
        assert!(s.cache_warmup_s > 50.0, "{s:?}");
    }
    for (a, b) in first.iter().zip(second) {
        // The same replicas, on the same nodes, started again after the idle period.
        assert_eq!((a.instance, a.node), (b.instance, b.node));
        assert!(b.requested_s > 1500.0, "{b:?}");
        assert_eq!(b.image_pull_s, 0.0, "{b:?}");
        assert_eq!(b.cache_warmup_s, 0.0, "{b:?}");
        assert!((b.load_s() - warm.total_s()).abs() < 1e-6, "{b:?}");
    }
}

#[test]
fn local_nvme_is_cold_on_a_node_until_its_first_load() {
    let (sc, starts) = two_bursts(&[
        "cold-start.mount=\"local-nvme\"",
        "cold-start.client-gb-s=6",
    ]);
    assert_eq!(starts.len(), 8, "{starts:?}");
    let cold = sc.cold_start.load_phases(R1_BYTES, 8, 4, false).unwrap();
    let warm = sc.cold_start.load_phases(R1_BYTES, 8, 4, true).unwrap();
    // First on each node: from the store, shared by 4 (233.9 s); then from the disk
    // (641 GiB at 6 GB/s, 114.7 s).
    assert!(cold.fetch_s > warm.fetch_s);
    for s in &starts[..4] {
        assert!((s.fetch_s - cold.fetch_s).abs() < 1e-6, "{s:?}");
    }
    for s in &starts[4..] {
        assert!((s.fetch_s - warm.fetch_s).abs() < 1e-6, "{s:?}");
    }
}

#[test]
fn without_the_storage_model_every_start_is_as_before() {
    // No mount, no preset: the link-rate bound and no phase records; both scale-ups take
    // scheduling + pull + 4 x 688 GB / 12.5 GB/s + warm-up.
    let (sc, starts) = two_bursts(&[]);
    assert!(sc.cold_start.storage.is_none());
    assert!(starts.is_empty());
    let out = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
    let ev = &out.scale_events;
    let started: Vec<f64> = ev
        .iter()
        .filter(|e| e.state == "starting")
        .map(|e| e.time_s)
        .collect();
    let ready: Vec<f64> = ev
        .iter()
        .filter(|e| e.state == "ready")
        .map(|e| e.time_s)
        .collect();
    assert_eq!((started.len(), ready.len()), (8, 8), "{ev:?}");
    let Topology::Aggregated(role) = &sc.topology else {
        panic!("aggregated")
    };
    let bytes = role.memory.weight_bytes_per_gpu * 8.0;
    let want = 5.0 + 60.0 + 4.0 * bytes / 12.5e9 + 30.0;
    for (s, r) in started.iter().zip(&ready) {
        assert!((r - s - want).abs() < 1e-6, "{s} -> {r}, want {want}");
    }
}
