//! Autoscaling in the simulator, pinned against hand-computed timelines.

use std::path::Path;
use xpyd_sim::scenario::Topology;
use xpyd_sim::{Scenario, System};

// No engine layer: the timeline below is the autoscaler's, not a fitted layer's speed.
const STEP: &str = r#"
seed = 1
[model]
id = "qwen3-8b"
[hardware]
gpu = "h100"
[deployment]
mode = "aggregated"
backend = "vllm"
engine-profile = "none"
[deployment.aggregated]
replicas = 1
tp = 1
[deployment.aggregated.autoscale]
kind = "hpa"
min-replicas = 1
max-replicas = 4
metric = "queue-length"
target-value = 2
[cold-start]
scheduling-s = 5
image-pull-s = 60
storage-gbit-s = 100
warmup-s = 30
[workload]
requests = 6100
[workload.arrival]
kind = "schedule"
interpolation = "step"
points = [{ at-s = 0, rate-rps = 0.1 }, { at-s = 100, rate-rps = 30 }, { at-s = 300, rate-rps = 0.1 }]
[workload.input-tokens]
kind = "fixed"
tokens = 2000
[workload.output-tokens]
kind = "fixed"
tokens = 100
"#;

#[test]
fn load_step_scales_up_after_sync_and_cold_start_and_down_after_stabilisation() {
    let sc = Scenario::from_text(Path::new("step.toml"), Path::new("."), STEP, &[]).unwrap();
    let Topology::Aggregated(role) = &sc.topology else {
        panic!("aggregated")
    };
    let weight_bytes = role.memory.weight_bytes_per_gpu * f64::from(role.tp);
    let out = xpyd_sim::run(&sc, System::Main, &mut |_| {}).unwrap();
    let ev = &out.scale_events;

    // The step at 100 s is first seen by the HPA sync at 105 s (syncs every 15 s); from
    // one replica the default policies allow max(+4, x2) = 5, clamped to 4: three start.
    let starts: Vec<_> = ev.iter().filter(|e| e.state == "starting").collect();
    assert_eq!(starts.len(), 3, "{ev:?}");
    assert!(starts.iter().all(|e| e.time_s == 105.0), "{starts:?}");

    // Ready after scheduling 5 s + image pull 60 s + three weight loads sharing a
    // 12.5 GB/s store + warm-up 30 s.
    let ready_at = 105.0 + 5.0 + 60.0 + 3.0 * weight_bytes / 12.5e9 + 30.0;
    let readies: Vec<_> = ev.iter().filter(|e| e.state == "ready").collect();
    assert_eq!(readies.len(), 3);
    for r in &readies {
        assert!(
            (r.time_s - ready_at).abs() < 1e-6,
            "ready at {} vs {ready_at}",
            r.time_s
        );
    }

    // The load ends at 300 s: scale-down needs 300 s of lower recommendations after the
    // last high one, so no replica drains before 600 s; all three go in the end.
    let drains: Vec<_> = ev.iter().filter(|e| e.state == "draining").collect();
    assert_eq!(drains.len(), 3, "{ev:?}");
    assert!(drains.iter().all(|e| e.time_s >= 600.0), "{drains:?}");
    assert_eq!(ev.iter().filter(|e| e.state == "stopped").count(), 3);
    // The scaled replicas' GPU time shows in the GPU-seconds.
    let static_one = out.metrics.makespan_s;
    assert!(
        out.gpu_seconds > static_one + 3.0 * 300.0,
        "{} vs {static_one}",
        out.gpu_seconds
    );
    assert_eq!(out.metrics.requests.completed, out.metrics.requests.arrived);
}

#[test]
fn keda_scales_from_zero_when_traffic_arrives() {
    let text = STEP
        .replace("replicas = 1\ntp = 1", "replicas = 0\ntp = 1")
        .replace(
            "kind = \"hpa\"\nmin-replicas = 1\nmax-replicas = 4\nmetric = \"queue-length\"\ntarget-value = 2",
            "kind = \"keda\"\nmin-replicas = 0\nmax-replicas = 4\nmetric = \"queue-length\"\ntarget-value = 2",
        )
        .replace("requests = 6100", "requests = 200");
    let sc = Scenario::from_text(Path::new("keda.toml"), Path::new("."), &text, &[]).unwrap();
    let mut first_arrival = f64::INFINITY;
    let out = xpyd_sim::run(&sc, System::Main, &mut |r| {
        first_arrival = first_arrival.min(r.arrival_s)
    })
    .unwrap();
    let first = out.scale_events.first().expect("a replica starts");
    assert_eq!(first.state, "starting");
    // KEDA's operator polls every 30 s, first at the first sync (15 s): the first poll
    // after the first arrival sees the held request and starts one replica.
    let poll = 15.0 + ((first_arrival - 15.0) / 30.0).ceil() * 30.0;
    assert_eq!(
        first.time_s, poll,
        "first arrival {first_arrival}: {:?}",
        out.scale_events
    );
    assert_eq!(out.metrics.requests.completed, 200);
}
