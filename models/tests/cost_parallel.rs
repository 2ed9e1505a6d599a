//! Expert parallelism and DP-attention in the memory plan and the step cost
//! (`models/src/parallel.rs`, `models/src/cost/step.rs` `rank`).

use proptest::prelude::*;
use xpyd_models::{
    CostModel, Dtype, Efficiencies, GpuSpec, MemoryPlan, ModelArch, Parallelism, StepShape,
};

fn par(gpus: u32, dp: u32, ep: u32) -> Parallelism {
    Parallelism { gpus, dp, ep }
}

fn model(id: &str, gpu: &str, p: Parallelism) -> CostModel {
    CostModel::new(
        ModelArch::builtin(id).unwrap(),
        GpuSpec::builtin(gpu).unwrap(),
        p,
        Dtype::Fp8,
        Dtype::Bf16,
        Efficiencies::default(),
    )
}

fn decode(seqs: u32, ctx: u64) -> StepShape {
    StepShape::decode_batch(seqs, ctx)
}

#[test]
fn dp_attention_caches_dp_times_the_tokens_of_one_rank() {
    let ds = ModelArch::builtin("deepseek-v3").unwrap();
    let h200 = GpuSpec::builtin("h200").unwrap();
    let plan = |p: Parallelism| {
        MemoryPlan::new(&ds, &h200, p, Dtype::Fp8, Dtype::Bf16, 0.85, 4.0).unwrap()
    };
    let tp = plan(par(8, 1, 1));
    let dp = plan(par(8, 8, 8));
    let ep = plan(par(8, 1, 8));
    // EP alone moves no weight between GPUs: the same bytes per GPU, the same cache.
    assert_eq!(ep.weight_bytes_per_gpu, tp.weight_bytes_per_gpu);
    assert_eq!(ep.kv_capacity_tokens, tp.kv_capacity_tokens);
    // DP-attention holds attention, dense layers and embeddings once per rank: more
    // weight per GPU; the MLA latent is not replicated over 8 GPUs, so each token costs
    // one GPU's share and the 8 ranks cache their own tokens.
    assert!(dp.weight_bytes_per_gpu > tp.weight_bytes_per_gpu);
    assert_eq!(dp.kv_bytes_per_token_per_gpu, tp.kv_bytes_per_token_per_gpu);
    let per_rank = (dp.kv_bytes_per_gpu / dp.kv_bytes_per_token_per_gpu).floor() as u64;
    assert_eq!(dp.kv_capacity_tokens, 8 * per_rank);
    // 8 x the tokens per byte of cache, on less cache per GPU (the replicated weights).
    let ratio = dp.kv_capacity_tokens as f64 / tp.kv_capacity_tokens as f64;
    let expected = 8.0 * dp.kv_bytes_per_gpu / tp.kv_bytes_per_gpu;
    assert!(
        (ratio / expected - 1.0).abs() < 1e-4,
        "{ratio} vs {expected}"
    );
    assert!(ratio > 3.0, "{ratio}");
    // A split the model cannot take is an error, not a plan.
    let e = MemoryPlan::new(&ds, &h200, par(8, 3, 1), Dtype::Fp8, Dtype::Bf16, 0.85, 4.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("DP-attention 3 does not divide TP 8"), "{e}");
}

#[test]
fn a_dp_rank_runs_attention_on_its_own_share() {
    // Attention TP of DP 8 over 8 GPUs is 1: one rank's attention is the TP 1 model's
    // on an eighth of the decode batch, and a single prompt runs whole on one rank.
    let dp8 = model("deepseek-v3", "h200", par(8, 8, 8));
    let tp1 = model("deepseek-v3", "h200", par(1, 1, 1));
    let a = dp8.breakdown(&decode(64, 4096));
    let b = tp1.breakdown(&decode(8, 4096));
    assert_eq!(a.attention_decode_s, b.attention_decode_s);
    assert_eq!(a.lm_head_s, b.lm_head_s);
    // Prefill on the roofline (calibrated prefill attention pays the step's sustained
    // clocks, which depend on the MoE layers' share of the step).
    let (dp8, tp1) = (dp8.with_profile(None), tp1.with_profile(None));
    let p = StepShape::prefill_chunk(4096, 0);
    assert_eq!(
        dp8.breakdown(&p).attention_prefill_s,
        tp1.breakdown(&p).attention_prefill_s
    );
    // Two prompts run on two ranks at once: one prompt's attention, not two.
    let two = StepShape {
        prefill_tokens: 8192,
        prefill_seqs: 2,
        prefill_attn_pairs: 2 * p.prefill_attn_pairs,
        ..StepShape::default()
    };
    assert_eq!(
        dp8.breakdown(&two).attention_prefill_s,
        tp1.breakdown(&p).attention_prefill_s
    );
    // No TP all-reduce inside a rank of one GPU, but a dispatch and a combine per MoE
    // layer: the communication term is the all-to-alls alone.
    assert_eq!(tp1.breakdown(&decode(8, 4096)).allreduce_s, 0.0);
    assert!(a.allreduce_s > 0.0);
    assert_eq!(dp8.parallelism().label(), "TP 8, DP-attention 8, EP 8");
}

#[test]
fn expert_parallelism_reads_fewer_experts_per_gpu_at_small_batches() {
    // One decode sequence touches k = 8 of 256 experts: with EP 8 a GPU reads the
    // touched experts among its 32 whole ones, with TP 8 an eighth of each of the 8
    // touched ones: the same bytes. So the roofline MoE cost of EP equals TP's
    // at batch 1, and both stay below TP 1's.
    let roof = |p| model("deepseek-v3", "h200", p).with_profile(None);
    let tp = roof(par(8, 1, 1)).breakdown(&decode(1, 1024)).gemm_s;
    let ep = roof(par(8, 1, 8)).breakdown(&decode(1, 1024)).gemm_s;
    let one = roof(par(1, 1, 1)).breakdown(&decode(1, 1024)).gemm_s;
    assert!((ep / tp - 1.0).abs() < 0.05, "EP {ep} vs TP {tp}");
    assert!(ep < one / 2.0, "EP {ep} vs TP 1 {one}");
}

#[test]
fn the_all_to_all_crosses_the_nic_when_the_instance_spans_nodes() {
    // DP 16 over two H100 nodes: half the dispatch goes over RDMA, slower per byte than
    // NVLink, so the all-to-all of the same per-rank batch (256 sequences) costs more.
    let one_node = model("deepseek-v3", "h100", par(8, 8, 8)).with_profile(None);
    let two_nodes = model("deepseek-v3", "h100", par(16, 16, 16)).with_profile(None);
    let a = one_node.breakdown(&decode(2048, 2048)).allreduce_s;
    let b = two_nodes.breakdown(&decode(4096, 2048)).allreduce_s;
    assert!(b > 2.0 * a, "two nodes {b} vs one {a}");
}

fn shape() -> impl Strategy<Value = StepShape> {
    (
        0u64..20_000,
        0u32..8,
        0u64..50_000_000,
        0u32..512,
        0u64..2_000_000,
    )
        .prop_map(
            |(
                prefill_tokens,
                prefill_seqs,
                prefill_attn_pairs,
                decode_seqs,
                decode_context_tokens,
            )| {
                StepShape {
                    prefill_tokens,
                    prefill_seqs,
                    prefill_attn_pairs,
                    decode_seqs,
                    decode_context_tokens,
                }
            },
        )
}

proptest! {
    /// More prefill tokens, pairs or context, or one more decoding sequence with at
    /// least the mean context, never make a DP/EP step cheaper. (More prefill chunks or
    /// sequences for the same work may: they spread over more ranks, see `rank`.)
    #[test]
    fn more_work_is_never_cheaper_with_dp_attention(s in shape(), field in 0usize..4, extra in 1u64..10_000) {
        let models = [
            model("deepseek-v3", "h200", par(8, 8, 8)),
            model("qwen3-235b-a22b", "h100", par(8, 2, 8)),
            model("deepseek-v3", "h100", par(16, 16, 16)).with_profile(None),
        ];
        let mut more = s;
        match field {
            0 => more.prefill_tokens += extra,
            1 => more.prefill_attn_pairs += extra,
            2 => {
                let mean = s.decode_context_tokens.div_ceil(u64::from(s.decode_seqs.max(1)));
                more.decode_seqs += 1;
                more.decode_context_tokens += mean;
            }
            _ => more.decode_context_tokens += extra,
        }
        for c in &models {
            let a = c.step(&s).seconds;
            let b = c.step(&more).seconds;
            prop_assert!(a.is_finite() && a >= 0.0);
            prop_assert!(b >= a, "{:?} -> {:?}: {} > {}", s, more, a, b);
        }
    }
}

#[test]
fn hot_experts_slow_the_expert_ranks_only_under_ep() {
    // The busiest of 8 expert ranks computing twice the mean tokens: a compute-bound
    // (prefill) step's MoE GEMMs cost much more, a decode step's little more (its local
    // experts' weights are read once whatever the tokens); calibrated and roofline alike.
    // Without EP nothing changes.
    let (p, d) = (StepShape::prefill_chunk(8192, 0), decode(256, 2048));
    for cal in [true, false] {
        let m = |p: Parallelism, f: f64| {
            let c = model("deepseek-v3", "h200", p);
            let c = if cal { c } else { c.with_profile(None) };
            c.with_expert_imbalance(f)
        };
        let (even, hot) = (m(par(8, 1, 8), 1.0), m(par(8, 1, 8), 2.0));
        let gemm = |c: &CostModel, s: &StepShape| c.breakdown(s).gemm_s;
        assert!(
            gemm(&hot, &p) > 1.3 * gemm(&even, &p),
            "calibrated {cal}: {} vs {}",
            gemm(&hot, &p),
            gemm(&even, &p)
        );
        let (g0, g1) = (gemm(&even, &d), gemm(&hot, &d));
        assert!(g1 >= g0 && g1 < 1.2 * g0, "calibrated {cal}: {g1} vs {g0}");
        assert_eq!(
            even.breakdown(&d).attention_decode_s,
            hot.breakdown(&d).attention_decode_s
        );
        let tp = m(par(8, 1, 1), 1.0);
        assert_eq!(m(par(8, 1, 1), 2.0).step_seconds(&d), tp.step_seconds(&d));
    }
}

#[test]
fn two_batch_overlap_hides_half_of_the_shorter_of_all_to_all_and_compute() {
    let d = decode(512, 2048);
    let m = |p: Parallelism, on: bool| {
        model("deepseek-v3", "h200", p)
            .with_profile(None)
            .with_two_batch_overlap(on)
    };
    let (off, on) = (m(par(8, 8, 8), false), m(par(8, 8, 8), true));
    let (a, b) = (off.breakdown(&d), on.breakdown(&d));
    // The all-to-all is the whole communication term here (attention TP 1).
    let compute =
        a.gemm_s + a.attention_prefill_s + a.attention_decode_s + a.memory_bound_s + a.lm_head_s;
    let hidden = a.allreduce_s.min(compute) / 2.0;
    assert!(
        (a.allreduce_s - b.allreduce_s - hidden).abs() < 1e-12,
        "{a:?} {b:?}"
    );
    assert!(b.allreduce_s > 0.0);
    // Without DP-attention there is no all-to-all to hide.
    assert_eq!(
        m(par(8, 1, 8), true).step_seconds(&d),
        m(par(8, 1, 8), false).step_seconds(&d)
    );
}

#[test]
fn a_tp_group_larger_than_a_node_all_reduces_across_the_nic() {
    // Llama-3.1-70B at TP 16 on H100: two nodes of 8 (the catalog's) against one
    // 16-GPU node. Both reduce within a node over 8 and 16 NVLink GPUs; the two-node
    // group adds NCCL's two network hops and half of each node's 1/8 share of the
    // bytes over every GPU's 400 Gb/s NIC, per call, two calls per layer.
    let arch = ModelArch::builtin("llama-3.1-70b").unwrap();
    let two_nodes = GpuSpec::builtin("h100").unwrap();
    assert_eq!(two_nodes.gpus_per_node, 8);
    let mut one_node = two_nodes.clone();
    one_node.gpus_per_node = 16;
    let mut eight = two_nodes.clone();
    eight.gpus_per_node = 8;
    let roof = |gpu: &GpuSpec, tp: u32| {
        CostModel::new(
            arch.clone(),
            gpu.clone(),
            tp,
            Dtype::Bf16,
            Dtype::Bf16,
            Efficiencies::default(),
        )
        .with_profile(None)
    };
    let eff = Efficiencies::default();
    let calls = 2.0 * f64::from(arch.num_layers);
    for shape in [decode(4, 2048), StepShape::prefill_chunk(8192, 0)] {
        let tokens = f64::from(shape.decode_seqs) + shape.prefill_tokens as f64;
        let bytes = tokens * f64::from(arch.hidden_size) * 2.0;
        let nvlink = two_nodes.interconnect.bandwidth_gb_s * 1e9 * eff.allreduce_bandwidth;
        let nic = two_nodes.nic_gbit_s / 8.0 * 1e9 * eff.allreduce_bandwidth;
        let intra8 =
            xpyd_models::cost::NVLINK_ALLREDUCE_LATENCY_S + bytes * 2.0 * 7.0 / 8.0 / nvlink;
        let net = 2.0 * xpyd_models::cost::NET_HOP_LATENCY_S + bytes * 2.0 * 0.5 / 8.0 / nic;
        let spanning = roof(&two_nodes, 16).allreduce_seconds(&shape);
        assert!(
            (spanning / (calls * (intra8 + net)) - 1.0).abs() < 1e-9,
            "{spanning} vs {}",
            calls * (intra8 + net)
        );
        // One 16-GPU node: NVLink only, cheaper.
        let single = roof(&one_node, 16).allreduce_seconds(&shape);
        assert!(single < spanning, "{single} vs {spanning}");
        // Within a node nothing crosses the NIC: TP 8 on the 8-GPU nodes is the
        // one-node formula.
        let tp8 = roof(&eight, 8).allreduce_seconds(&shape);
        assert!((tp8 / (calls * intra8) - 1.0).abs() < 1e-9, "{tp8}");
    }
    // With the shipped profile the one-node part is the measured 8-GPU curve and the
    // term says part of it is the link model.
    let cal = CostModel::new(
        arch.clone(),
        two_nodes.clone(),
        16,
        Dtype::Bf16,
        Dtype::Bf16,
        Efficiencies::default(),
    );
    let s = cal.step(&decode(4, 2048));
    assert_ne!(s.sources.allreduce, xpyd_models::TermSource::Calibrated);
    let node = CostModel::new(arch, two_nodes, 8, Dtype::Bf16, Dtype::Bf16, eff)
        .step(&decode(4, 2048))
        .breakdown
        .allreduce_s;
    assert!(
        s.breakdown.allreduce_s > node,
        "{} vs {node}",
        s.breakdown.allreduce_s
    );
}
