//! Heterogeneous PD (issue 15 item 4): prefill and decode roles on different GPU types.
//! The role's GPU drives its step costs, memory plan, engine defaults, KV ports and
//! price; bad per-role fields are errors naming the field; and the planner searches
//! prefill GPU x decode GPU pairs, priced per GPU type.

use std::path::{Path, PathBuf};
use xpyd_sim::planner::candidates::SearchSpace;
use xpyd_sim::planner::{PlanSettings, plan};
use xpyd_sim::scenario::{Mode, RouterKind, ScenarioFile, Topology};
use xpyd_sim::{Scenario, System, run};

/// Qwen3-8B SGLang 1P1D TP1 on H200, fixed lengths.
const BASE: &str = r#"
name = "hetero"
seed = 3
[model]
id = "qwen3-8b"
[hardware]
gpu = "h200"
[deployment]
backend = "sglang"
[deployment.prefill]
replicas = 1
tp = 1
[deployment.decode]
replicas = 1
tp = 1
[workload]
requests = 200
[workload.arrival]
kind = "poisson"
rate-rps = 2.0
[workload.input-tokens]
kind = "fixed"
tokens = 2000
[workload.output-tokens]
kind = "fixed"
tokens = 200
[slo]
ttft-ms = 2000
tpot-ms = 50
"#;

fn load(sets: &[&str]) -> Result<Scenario, String> {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Scenario::from_text(Path::new("hetero.toml"), Path::new("."), BASE, &sets)
        .map_err(|e| format!("{e:#}"))
}

fn roles(
    sc: &Scenario,
) -> (
    &xpyd_sim::scenario::RoleConfig,
    &xpyd_sim::scenario::RoleConfig,
) {
    match &sc.topology {
        Topology::Disaggregated { prefill, decode } => (prefill, decode),
        Topology::Aggregated(_) => panic!("disaggregated expected"),
    }
}

#[test]
fn unknown_gpu_names_file_field_value_and_catalog() {
    let e = load(&["deployment.decode.gpu=h300"]).unwrap_err();
    assert!(e.contains("hetero.toml"), "{e}");
    assert!(e.contains("deployment.decode.gpu"), "{e}");
    assert!(e.contains("h300"), "{e}");
    for id in ["h100", "h200", "h20", "l20", "a100", "b200"] {
        assert!(e.contains(id), "{e}");
    }
}

#[test]
fn per_role_hardware_fields_need_the_role_gpu() {
    for (set, field) in [
        (
            "deployment.decode.gpu-hour-usd=1.0",
            "deployment.decode.gpu-hour-usd",
        ),
        (
            "deployment.prefill.nic-gbit-s=100",
            "deployment.prefill.nic-gbit-s",
        ),
        (
            "deployment.decode.gpus-per-node=4",
            "deployment.decode.gpus-per-node",
        ),
        (
            "deployment.decode.intra-node-gb-s=64",
            "deployment.decode.intra-node-gb-s",
        ),
    ] {
        let e = load(&[set]).unwrap_err();
        assert!(e.contains(field) && e.contains("needs"), "{set}: {e}");
    }
}

#[test]
fn per_role_ranges_are_checked() {
    let e = load(&[
        "deployment.decode.gpu=h20",
        "deployment.decode.nic-gbit-s=0",
    ])
    .unwrap_err();
    assert!(e.contains("deployment.decode.nic-gbit-s"), "{e}");
    let e = load(&[
        "deployment.decode.gpu=h20",
        "deployment.decode.gpu-hour-usd=-1",
    ])
    .unwrap_err();
    assert!(e.contains("deployment.decode.gpu-hour-usd"), "{e}");
    let e = load(&[
        "deployment.decode.gpu=h20",
        "deployment.decode.gpus-per-node=0",
    ])
    .unwrap_err();
    assert!(e.contains("deployment.decode.gpus-per-node"), "{e}");
}

#[test]
fn aggregated_roles_run_on_hardware() {
    let agg = [
        "deployment.mode=aggregated",
        "deployment.aggregated.replicas=1",
        "deployment.aggregated.tp=1",
    ];
    // The prefill/decode tables must go for an aggregated deployment: rebuild the text.
    let text = BASE
        .replace(
            "[deployment.prefill]\nreplicas = 1\ntp = 1\n[deployment.decode]\nreplicas = 1\ntp = 1\n",
            "",
        )
        .replace("backend = \"sglang\"", "backend = \"sglang\"\nmode = \"aggregated\"");
    let sets = |extra: &str| -> Vec<String> {
        let mut v: Vec<String> = agg[1..].iter().map(|s| s.to_string()).collect();
        v.push(extra.to_string());
        v
    };
    let f = Path::new("agg.toml");
    let e = Scenario::from_text(
        f,
        Path::new("."),
        &text,
        &sets("deployment.aggregated.gpu=h20"),
    )
    .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("agg.toml") && e.contains("deployment.aggregated.gpu"),
        "{e}"
    );
    assert!(e.contains("aggregated") && e.contains("hardware"), "{e}");
    // The same GPU as [hardware] is no change.
    let sc = Scenario::from_text(
        f,
        Path::new("."),
        &text,
        &sets("deployment.aggregated.gpu=h200"),
    )
    .unwrap();
    assert!(!sc.is_heterogeneous());
}

#[test]
fn same_gpu_as_hardware_is_homogeneous() {
    let a = load(&[]).unwrap();
    let b = load(&["deployment.decode.gpu=h200"]).unwrap();
    assert!(!b.is_heterogeneous());
    assert_eq!(a.topology, b.topology);
    let oa = run(&a, System::Main, &mut |_| {}).unwrap();
    let ob = run(&b, System::Main, &mut |_| {}).unwrap();
    assert_eq!(oa.trace_hash, ob.trace_hash);
}

#[test]
fn role_gpu_drives_memory_engine_defaults_and_links() {
    let sc = load(&[
        "deployment.decode.gpu=l20",
        "deployment.decode.gpu-hour-usd=0.8",
        "hardware.gpu-hour-usd=3.5",
        "deployment.backend=vllm",
    ])
    .unwrap();
    assert!(sc.is_heterogeneous());
    let (p, d) = roles(&sc);
    assert!(p.hardware.is_none());
    let h = d.hardware.as_ref().unwrap();
    assert_eq!(h.gpu.id, "l20");
    // KV capacity from the role's GPU memory: 48 GB L20 holds far less than a 141 GB H200.
    assert!(
        d.memory.kv_capacity_tokens * 2 < p.memory.kv_capacity_tokens,
        "{} vs {}",
        d.memory.kv_capacity_tokens,
        p.memory.kv_capacity_tokens
    );
    // vLLM's defaults by GPU memory: 1024 sequences / 8192 tokens on >= 70 GiB, else 256 / 2048.
    assert_eq!(p.engine.max_num_seqs, 1024);
    assert_eq!(d.engine.max_num_seqs, 256);
    assert_eq!(d.engine.max_batched_tokens, 2048);
    // Links and price default from the role's GPU (L20 servers: eRDMA, PCIe).
    assert_eq!(sc.links_of(d).1, h.gpu.nic_gbit_s);
    assert_ne!(sc.links_of(d).1, sc.links_of(p).1);
    assert_eq!(sc.gpu_hour_usd_of(d), Some(0.8));
    assert_eq!(sc.gpu_hour_usd_of(p), Some(3.5));
    assert_eq!(sc.gpu_ids(), vec!["h200".to_string(), "l20".to_string()]);
    // The cost model of each role is its GPU's.
    assert_eq!(sc.cost_model_for(d).gpu().id, "l20");
    assert_eq!(sc.cost_model_for(p).gpu().id, "h200");
}

/// The decode GPU's cost model is the one in effect: on roofline step costs (the same
/// model for every GPU; H20 and L20 ship no calibration profile) the same deployment
/// decodes more slowly on H20 (4.0 TB/s) than on H200 (4.8 TB/s), and far more slowly on
/// L20 (0.86 TB/s); prefill (TTFT at light load) hardly moves.
#[test]
fn decode_tpot_follows_the_decode_gpu() {
    let tpot = |gpu: &str| {
        let sc = load(&[
            &format!("deployment.decode.gpu={gpu}"),
            "baseline.enabled=false",
            "hardware.profile=roofline",
        ])
        .unwrap();
        let out = run(&sc, System::Main, &mut |_| {}).unwrap();
        assert_eq!(out.metrics.requests.completed, 200);
        (out.metrics.tpot_ms.p50, out.metrics.ttft_ms.p50)
    };
    let (h200, ttft_h200) = tpot("h200");
    let (h20, ttft_h20) = tpot("h20");
    let (l20, _) = tpot("l20");
    assert!(h20 > h200 * 1.05, "h20 {h20} vs h200 {h200}");
    assert!(l20 > h20 * 2.0, "l20 {l20} vs h20 {h20}");
    // Prefill runs on H200 in every case (the transfer to the slower NIC may add a little).
    assert!(
        (ttft_h20 - ttft_h200).abs() < 0.5 * ttft_h200,
        "{ttft_h20} vs {ttft_h200}"
    );
}

/// The slower NIC of the two roles bounds the KV transfer.
#[test]
fn slower_nic_bounds_the_transfer() {
    let transfer = |sets: &[&str]| {
        let mut all = vec!["baseline.enabled=false", "kv-transfer.force-rdma=true"];
        all.extend_from_slice(sets);
        let sc = load(&all).unwrap();
        let out = run(&sc, System::Main, &mut |_| {}).unwrap();
        out.metrics.kv_transfer_ms.p50
    };
    let fast = transfer(&[
        "deployment.decode.gpu=h20",
        "deployment.decode.nic-gbit-s=400",
    ]);
    let slow_rx = transfer(&[
        "deployment.decode.gpu=h20",
        "deployment.decode.nic-gbit-s=25",
    ]);
    let slow_tx = transfer(&[
        "deployment.decode.gpu=h20",
        "deployment.decode.nic-gbit-s=400",
        "hardware.nic-gbit-s=25",
    ]);
    assert!(slow_rx > 4.0 * fast, "{slow_rx} vs {fast}");
    assert!(slow_tx > 4.0 * fast, "{slow_tx} vs {fast}");
}

/// Roles on different GPU types never share a node: the decode instance starts a node
/// of its own GPU type even when the prefill node has room.
#[test]
fn roles_on_other_gpus_get_their_own_nodes() {
    let sc = load(&["deployment.decode.gpu=h20", "baseline.enabled=false"]).unwrap();
    let out = run(&sc, System::Main, &mut |_| {}).unwrap();
    let nodes: Vec<u32> = out.instances.iter().map(|i| i.node).collect();
    assert_eq!(nodes, vec![0, 1]);
    let same = load(&["baseline.enabled=false"]).unwrap();
    let out = run(&same, System::Main, &mut |_| {}).unwrap();
    let nodes: Vec<u32> = out.instances.iter().map(|i| i.node).collect();
    assert_eq!(nodes, vec![0, 0]);
}

/// A plan over H200 and H20 with 1P1D TP1 units: four candidates (two single-type, two
/// heterogeneous).
fn settings(prices: &[(&str, f64)]) -> PlanSettings {
    let base: ScenarioFile = toml::from_str(BASE).unwrap();
    let mut space = SearchSpace::default_for(vec!["h200".into(), "h20".into()], 2);
    space.modes = vec![Mode::Disaggregated];
    space.tps = vec![1];
    space.token_budgets = vec![8192];
    space.max_num_seqs = vec![256];
    space.routers = vec![RouterKind::RoundRobin];
    PlanSettings {
        base,
        file: PathBuf::from("hetero.toml"),
        base_dir: PathBuf::from("."),
        space,
        gpu_prices: prices.iter().map(|(g, p)| (g.to_string(), *p)).collect(),
        target_rate_rps: Some(4.0),
        probe_requests: 150,
        precision: 0.1,
        jobs: 2,
        prune: true,
        memory_budget_gib: xpyd_sim::planner::DEFAULT_MEMORY_BUDGET_GIB,
        confidence: None,
        engine_shift: None,
    }
}

fn recommended(prices: &[(&str, f64)]) -> (String, Option<String>) {
    let p = plan(&settings(prices), &|_| {}).unwrap();
    let labels: Vec<String> = p.results.iter().map(|r| r.candidate.gpu_label()).collect();
    assert_eq!(labels, ["h200", "h20", "h200/h20", "h20/h200"]);
    let rec = p.recommendation.as_ref().expect("a recommendation");
    let c = &p.results[rec.index].candidate;
    (c.gpu.clone(), c.decode_gpu.clone())
}

/// H20 has a sixth of H200's FLOP/s but most of its memory bandwidth: priced at a third
/// of H200, it is the cheaper decode GPU while H200 stays the cheaper prefill GPU, so the
/// plan puts prefill on H200 and decode on H20. Priced above H200 it loses.
#[test]
fn cheap_decode_gpu_wins_when_the_price_says_so() {
    assert_eq!(
        recommended(&[("h200", 3.6), ("h20", 1.2)]),
        ("h200".to_string(), Some("h20".to_string()))
    );
    assert_eq!(
        recommended(&[("h200", 3.6), ("h20", 4.0)]),
        ("h200".to_string(), None)
    );
}

/// With one GPU type the candidate list is what it was: no heterogeneous unit.
#[test]
fn one_gpu_type_has_no_heterogeneous_candidates() {
    let s = settings(&[]);
    let mut space = s.space.clone();
    space.gpus = vec!["h200".into()];
    let list =
        xpyd_sim::planner::candidates::enumerate(&s.base, &s.file, &s.base_dir, &space).unwrap();
    assert_eq!(list.len(), 1);
    assert!(list.iter().all(|c| c.decode_gpu.is_none()));
    let two =
        xpyd_sim::planner::candidates::enumerate(&s.base, &s.file, &s.base_dir, &s.space).unwrap();
    // The single-type candidates come first and are unchanged.
    assert_eq!(two[0], list[0]);
    assert!(two[2..].iter().all(|c| c.decode_gpu.is_some()));
    assert!(
        xpyd_sim::planner::budget::count_candidates(&s.space) >= two.len() as u64,
        "the memory estimate counts the heterogeneous units"
    );
}
