//! The shipped H100/H200 calibration profiles load, cover the catalog's shapes and answer
//! lookups consistently with their own rows and with physics.

use xpyd_models::Dtype;
use xpyd_models::profile::{HostCopyDirection, Profile};

fn both() -> [Profile; 2] {
    [
        Profile::builtin("h100").expect("h100 profile ships"),
        Profile::builtin("h200").expect("h200 profile ships"),
    ]
}

#[test]
fn builtins_load_with_their_headers() {
    let [h100, h200] = both();
    assert_eq!(h100.header().gpu_id, "h100");
    assert!(h100.header().gpu_name.contains("H100"));
    assert_eq!(h200.header().gpu_id, "h200");
    assert!(h200.header().gpu_name.contains("H200"));
    assert!(
        Profile::builtin("H100").is_some(),
        "ids are case-insensitive"
    );
    assert!(Profile::builtin("a100").is_none());
    assert_eq!(Profile::builtin_ids(), vec!["h100", "h200"]);
    for p in [&h100, &h200] {
        assert!(p.data().gemm.len() > 1000);
        assert!(!p.data().attention_prefill.is_empty());
        assert!(!p.data().attention_decode.is_empty());
        assert!(p.hbm_bandwidth_gb_s().is_some());
        assert!(p.launch_gap_s().is_some());
    }
}

#[test]
fn gemm_lookup_is_exact_on_rows_and_monotone_between() {
    for p in both() {
        for r in p.data().gemm.iter().step_by(97) {
            assert_eq!(p.gemm_seconds(r.m, r.n, r.k, r.dtype), Some(r.seconds));
        }
        // Llama-3.1-8B TP1 qkv (n=6144, k=4096): between two grid points the value stays
        // between the endpoints.
        let rows: Vec<_> = {
            let mut v: Vec<_> = p
                .data()
                .gemm
                .iter()
                .filter(|r| r.n == 6144 && r.k == 4096 && r.dtype == Dtype::Bf16)
                .map(|r| (r.m, r.seconds))
                .collect();
            v.sort_by_key(|x| x.0);
            v
        };
        assert!(rows.len() >= 20, "{} rows", rows.len());
        for w in rows.windows(2) {
            let (lo, hi) = (w[0].1.min(w[1].1), w[0].1.max(w[1].1));
            for m in w[0].0..=w[1].0 {
                let s = p.gemm_seconds(m, 6144, 4096, Dtype::Bf16).unwrap();
                assert!(s >= lo && s <= hi, "m={m}: {s} outside [{lo}, {hi}]");
            }
        }
        // Big GEMMs: fp8 beats bf16, and bf16 runs near the tensor-core rate.
        let bf = p.gemm_seconds(8192, 28672, 4096, Dtype::Bf16).unwrap();
        let f8 = p.gemm_seconds(8192, 28672, 4096, Dtype::Fp8).unwrap();
        assert!(f8 < bf);
        let tflops = 2.0 * 8192.0 * 28672.0 * 4096.0 / bf / 1e12;
        assert!((500.0..1000.0).contains(&tflops), "{tflops} TFLOP/s");
        assert_eq!(p.gemm_seconds(1 << 20, 6144, 4096, Dtype::Bf16), None);
    }
}

#[test]
fn attention_lookups_follow_rows() {
    for p in both() {
        let k = p.default_prefill_kernel().unwrap().to_string();
        assert_eq!(k, "torch-sdpa-cudnn");
        assert!(p.prefill_kernels().contains(&"xpyd-nvrtc"));
        // MLA rows (their own v width) are not part of the plain lookups.
        for r in p
            .data()
            .attention_prefill
            .iter()
            .filter(|r| r.kernel == k && r.v_head_dim.is_none() && r.head_dim == 128)
        {
            let s = p
                .prefill_attention_seconds(
                    r.batch,
                    r.new_tokens,
                    r.context,
                    r.heads,
                    r.kv_heads,
                    128,
                )
                .unwrap();
            // Rows of other head counts share the FLOPs axis: within 35% of the row.
            assert!((s / r.seconds - 1.0).abs() < 0.35, "{r:?}: {s}");
        }
        // Twice the tokens, at least twice (up to ~4.5x) the time at large sizes.
        let a = p.prefill_attention_seconds(1, 4096, 0, 32, 8, 128).unwrap();
        let b = p.prefill_attention_seconds(1, 8192, 0, 32, 8, 128).unwrap();
        assert!(b > 2.0 * a && b < 4.5 * a, "{a} {b}");
        // Head dim 64 (gpt-oss) has rows of its own on both GPUs (H200 2026-12-06, H100
        // 2026-12-07), cheaper than head dim 128 at the same shape.
        let hd64 = p.prefill_attention_seconds(1, 4096, 0, 32, 8, 64).unwrap();
        assert!(hd64 < a, "{hd64} vs {a}");
        for r in &p.data().attention_decode {
            let s = p
                .decode_attention_seconds(r.batch, r.context, r.heads, r.kv_heads, 128, r.kv_dtype)
                .unwrap();
            assert!((s / r.seconds - 1.0).abs() < 1e-9, "{r:?}: {s}");
        }
        // Group 5 falls back to the next measured group (8).
        let g5 = p
            .decode_attention_seconds(32, 8192, 40, 8, 128, Dtype::Bf16)
            .unwrap();
        let g8 = p
            .decode_attention_seconds(32, 8192, 64, 8, 128, Dtype::Bf16)
            .unwrap();
        assert_eq!(g5, g8);
        // FP8-KV rows (their own kernel) ship for both GPUs (H200 since 2026-12-06).
        let fp8 = p.decode_attention_seconds(32, 8192, 32, 8, 128, Dtype::Fp8);
        let bf = p
            .decode_attention_seconds(32, 8192, 32, 8, 128, Dtype::Bf16)
            .unwrap();
        assert!(fp8.unwrap() < bf, "{fp8:?} vs {bf}");
        assert!(
            p.data()
                .attention_decode
                .iter()
                .all(|r| (r.kv_dtype == Dtype::Fp8) == (r.kernel == "xpyd-nvrtc-fp8kv"))
        );
    }
}

#[test]
fn memory_bound_lookups_reflect_hbm() {
    let [h100, h200] = both();
    // A long-context decode batch is bandwidth-bound: the H200 is faster.
    let a = h100
        .decode_attention_seconds(128, 8192, 32, 8, 128, Dtype::Bf16)
        .unwrap();
    let b = h200
        .decode_attention_seconds(128, 8192, 32, 8, 128, Dtype::Bf16)
        .unwrap();
    assert!(b < a, "{a} {b}");
    assert!(h200.hbm_bandwidth_gb_s().unwrap() > h100.hbm_bandwidth_gb_s().unwrap());
    for p in [&h100, &h200] {
        let s = p.memory_bound_seconds("rmsnorm", 64 << 20).unwrap();
        assert!(s > 0.0 && s < 1e-3);
        let h2d = p
            .host_copy_seconds(HostCopyDirection::HostToDevice, 1 << 26)
            .unwrap();
        let gb_s = (1u64 << 26) as f64 / h2d / 1e9;
        assert!((20.0..80.0).contains(&gb_s), "{gb_s} GB/s");
    }
}

#[test]
fn collectives_where_measured() {
    let [h100, h200] = both();
    assert_eq!(
        h100.allreduce_seconds(2, 1 << 20),
        None,
        "no multi-GPU H100 run"
    );
    assert_eq!(h200.allreduce_gpus(), vec![2, 4]);
    let small = h200.allreduce_seconds(2, 1024).unwrap();
    assert!(small > 1e-6 && small < 50e-6, "{small}");
    let big2 = h200.allreduce_seconds(2, 1 << 30).unwrap();
    let big4 = h200.allreduce_seconds(4, 1 << 30).unwrap();
    assert!(big4 > big2, "4 GPUs move 1.5x the bytes of 2");
    assert_eq!(h200.allreduce_seconds(8, 1 << 20), None);
    let bw = h200.p2p_gb_s(1 << 30).unwrap();
    assert!((100.0..900.0).contains(&bw), "{bw} GB/s");
    assert!(h200.p2p_gb_s(4096).unwrap() < bw);
}

#[test]
fn format_2_tables_ship_for_both_gpus() {
    for p in both() {
        let d = p.data();
        assert_eq!(d.format_version, 2);
        // MoE, the CUTLASS grouped GEMMs: 2 models x TP 1/2/4/8 x bf16/fp8 x 15 token
        // counts (the Triton fused-MoE rows beside them are checked below).
        let triton: Vec<_> = d
            .moe_experts
            .iter()
            .filter(|r| r.kernel.starts_with("xpyd-triton-fused-moe"))
            .collect();
        assert_eq!(d.moe_experts.len() - triton.len(), 240);
        for (h, e, inter) in [(4096u64, 128u32, 1536u64), (7168, 256, 2048)] {
            for tp in [1u64, 2, 4, 8] {
                for dt in [Dtype::Bf16, Dtype::Fp8] {
                    let n = d
                        .moe_experts
                        .iter()
                        .filter(|r| {
                            (r.hidden, r.experts, r.inter, r.dtype) == (h, e, inter / tp, dt.into())
                                && r.kernel.starts_with("torch-")
                        })
                        .count();
                    assert_eq!(n, 15, "{h} {e} tp{tp} {dt:?}");
                }
            }
        }
        // Triton rows: 15 token counts of every shape but Qwen3-235B fp8 at TP 8 (192 is
        // not a multiple of its 128-wide fp8 blocks), on both GPUs; no MXFP4 rows (our
        // MXFP4 kernel's H200 rows are not shipped, docs/calibration.md).
        let mxfp4 = triton
            .iter()
            .filter(|r| r.dtype == xpyd_models::ExpertDtype::Mxfp4)
            .count();
        assert_eq!((triton.len(), mxfp4), (225, 0), "{}", d.header.gpu_id);
        // Router GEMMs (bf16) for both models.
        for (n, k) in [(128u64, 4096u64), (256, 7168)] {
            assert!(p.gemm_seconds(1, n, k, Dtype::Bf16).is_some());
        }
        // MLA prefill rows with q/k 192 and v 128, and sustained stacks.
        assert!(
            d.attention_prefill
                .iter()
                .any(|r| r.head_dim == 192 && r.v_head_dim == Some(128))
        );
        assert_eq!(d.gemm_sustained.len(), 15);
        assert!(
            d.gemm_sustained
                .iter()
                .all(|r| (r.sequence_s / r.isolated_s - r.ratio).abs() < 1e-12)
        );
    }
}

#[test]
fn mla_decode_rows_ship_for_both_gpus() {
    use xpyd_models::profile::mla_decode_kv_bytes;
    for p in both() {
        let d = p.data();
        // batch 1..256 x context 128..32768 x heads 128/64/32/16, less the 4 shapes over
        // 8 GiB of bf16 cache (batch 256 at 32768); the same grid over an fp8 latent cache
        // (H100 and, since 2026-12-06, H200).
        assert_eq!(d.attention_decode_mla.len(), 192);
        assert_eq!(
            p.mla_decode_heads(512, 64, Dtype::Bf16),
            vec![16, 32, 64, 128]
        );
        assert_eq!(
            p.mla_decode_heads(512, 64, Dtype::Fp8),
            vec![16, 32, 64, 128]
        );
        for r in &d.attention_decode_mla {
            let kernel = match r.kv_dtype {
                Dtype::Bf16 => "xpyd-nvrtc-mla",
                Dtype::Fp8 => "xpyd-nvrtc-mla-fp8kv",
            };
            assert_eq!(r.kernel, kernel, "checked kernels only");
            assert_eq!((r.kv_lora_rank, r.rope_dim, r.block_size), (512, 64, 16));
            let bytes = mla_decode_kv_bytes(r.batch, r.context, 512, 64, r.kv_dtype);
            assert!((bytes / r.seconds / 1e9 - r.gb_s).abs() < 1e-6 * r.gb_s);
            // Never above the measured device-to-device copy bandwidth.
            assert!(r.gb_s < d.hbm_bandwidth_gb_s.unwrap());
            assert_eq!(
                p.mla_decode_seconds(r.batch, r.context, r.heads, 512, 64, r.kv_dtype),
                Some(r.seconds)
            );
        }
        assert!(
            d.header
                .notes
                .iter()
                .any(|n| n.starts_with("MLA decode kernel checked"))
        );
    }
}
