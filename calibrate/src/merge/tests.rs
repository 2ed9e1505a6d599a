//! Tests of `merge.rs`.

use super::*;

fn profile(gpu: &str, rows: &[(u32, u32, u32, f64)]) -> ProfileData {
    let mut d = Profile::builtin("h100").unwrap().data().clone();
    d.header.gpu_name = gpu.into();
    d.attention_decode_mla = rows
        .iter()
        .map(|&(batch, context, heads, seconds)| MlaDecodeRow {
            batch,
            context,
            heads,
            kv_lora_rank: 512,
            rope_dim: 64,
            block_size: 16,
            kv_dtype: Dtype::Bf16,
            seconds,
            gb_s: 1.0,
            kernel: "xpyd-nvrtc-mla".into(),
        })
        .collect();
    d
}

#[test]
fn mla_rows_merge_by_key_and_keep_everything_else() {
    let dir = std::env::temp_dir().join(format!("xpyd-mla-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (base, from, out) = (
        dir.join("base.json"),
        dir.join("from.json"),
        dir.join("out.json"),
    );
    let b = profile("GPU", &[(1, 128, 16, 1e-5), (8, 128, 16, 2e-5)]);
    write_profile(&base, &b).unwrap();
    write_profile(
        &from,
        &profile("GPU", &[(8, 128, 16, 3e-5), (1, 128, 32, 4e-5)]),
    )
    .unwrap();
    // As `xpyd-calibrate merge --rows --tables attention_decode_mla` does it.
    let run = || -> Result<()> {
        let (b, f) = (Profile::load(&base)?, Profile::load(&from)?);
        let tables = Tables {
            names: vec!["attention_decode_mla".into()],
            rows: true,
        };
        let d = merge(b.data(), f.data(), &from, &tables, "test")?;
        write_profile(&out, &d)
    };
    run().unwrap();
    let m = Profile::load(&out).unwrap();
    let got: Vec<_> = m
        .data()
        .attention_decode_mla
        .iter()
        .map(|r| (r.batch, r.heads, r.seconds))
        .collect();
    assert_eq!(got, vec![(1, 16, 1e-5), (8, 16, 3e-5), (1, 32, 4e-5)]);
    // Every other table is untouched.
    assert_eq!(m.data().gemm, b.gemm);
    assert_eq!(m.data().attention_decode, b.attention_decode);
    assert_eq!(m.data().moe_experts, b.moe_experts);
    // Another GPU's rows are refused, and nothing is written.
    std::fs::remove_file(&out).unwrap();
    write_profile(&from, &profile("Other GPU", &[(8, 128, 16, 3e-5)])).unwrap();
    assert!(run().is_err());
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fp8_decode_rows_merge_beside_bf16_and_keep_its_provenance() {
    let mut b = profile("GPU", &[(1, 128, 16, 1e-5)]);
    b.attention_decode.retain(|r| r.kv_dtype == Dtype::Bf16);
    b.header
        .notes
        .push("attention_decode_mla rows merged from a run".into());
    b.header
        .notes
        .push("MLA decode kernel checked: rel err 2e-3".into());
    let mut f = profile("GPU", &[(1, 128, 16, 7e-6)]);
    for r in &mut f.attention_decode_mla {
        r.kv_dtype = Dtype::Fp8;
        r.kernel = "xpyd-nvrtc-mla-fp8kv".into();
    }
    f.attention_decode = b.attention_decode.clone();
    for r in &mut f.attention_decode {
        r.kv_dtype = Dtype::Fp8;
        r.kernel = "xpyd-nvrtc-fp8kv".into();
    }
    f.header.notes = vec![
        "FP8-KV decode kernel checked: rel err 1e-3".into(),
        "FP8-KV MLA decode kernel checked: rel err 1e-3".into(),
    ];
    let tables = Tables {
        names: vec!["attention_decode".into(), "attention_decode_mla".into()],
        rows: true,
    };
    let m = merge(&b, &f, Path::new("f.json"), &tables, "test").unwrap();
    let mla: Vec<_> = m
        .attention_decode_mla
        .iter()
        .map(|r| (r.kv_dtype, r.seconds))
        .collect();
    assert_eq!(mla, vec![(Dtype::Bf16, 1e-5), (Dtype::Fp8, 7e-6)]);
    assert_eq!(
        m.attention_decode.len(),
        2 * b.attention_decode.len(),
        "fp8 rows beside the bf16 ones"
    );
    let notes = &m.header.notes;
    for n in [
        "attention_decode_mla rows merged from a run",
        "MLA decode kernel checked: rel err 2e-3",
        "FP8-KV decode kernel checked: rel err 1e-3",
        "FP8-KV MLA decode kernel checked: rel err 1e-3",
    ] {
        assert!(notes.iter().any(|x| x == n), "{n}: {notes:?}");
    }
    assert!(
        notes
            .iter()
            .any(|x| x.starts_with("attention_decode fp8 rows merged"))
    );
    // A second merge of the same rows replaces its notes instead of adding to them.
    let m2 = merge(&m, &f, Path::new("f.json"), &tables, "test").unwrap();
    assert_eq!(m2.header.notes.len(), notes.len());
    assert_eq!(m2.attention_decode_mla, m.attention_decode_mla);
    // A table without rows in --from is an error naming it.
    f.attention_decode.clear();
    let e = merge(&b, &f, Path::new("f.json"), &tables, "test").unwrap_err();
    assert_eq!(
        e.to_string(),
        "merge --rows: f.json has no attention_decode rows"
    );
}

#[test]
fn moe_rows_of_another_kernel_family_are_kept() {
    let dir = std::env::temp_dir().join(format!("xpyd-moe-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = Profile::builtin("h100").unwrap().data().clone();
    b.moe_experts.retain(|r| r.kernel.starts_with("torch-"));
    let torch_rows = b
        .moe_experts
        .iter()
        .filter(|r| r.kernel.starts_with("torch-"))
        .count();
    assert!(torch_rows > 0, "the shipped profile has torch rows");
    let file = |kernel: &str, seconds: f64| {
        let rows: Vec<serde_json::Value> = [1u64, 2]
            .iter()
            .map(|&t| {
                serde_json::json!({
                    "hidden": 7168, "inter": 256, "experts": 256, "top_k": 8,
                    "dtype": "fp8", "tokens": t, "touched": 8 * t,
                    "seconds": seconds * t as f64,
                    "kernel": format!("{kernel} 16x128x128x1x4x3"),
                    "label": "deepseek-v3/tp8"
                })
            })
            .collect();
        serde_json::json!({
            "gpu_name": b.header.gpu_name, "torch_version": "2.11",
            "checks": {"k": 1e-3}, "notes": ["took 1 s"], "gemm": [], "experts": rows
        })
    };
    let path = dir.join("triton.json");
    std::fs::write(&path, file("xpyd-triton-fused-moe", 1e-5).to_string()).unwrap();
    let m = merge_moe(&b, &path, "test").unwrap();
    assert_eq!(
        m.moe_experts.len(),
        b.moe_experts.len() + 2,
        "added beside the torch rows"
    );
    // Merging the family again replaces its rows and its notes, not the torch ones.
    std::fs::write(&path, file("xpyd-triton-fused-moe", 2e-5).to_string()).unwrap();
    let m2 = merge_moe(&m, &path, "test").unwrap();
    assert_eq!(m2.moe_experts.len(), m.moe_experts.len());
    assert_eq!(m2.header.notes.len(), m.header.notes.len());
    let fast: Vec<f64> = m2
        .moe_experts
        .iter()
        .filter(|r| r.kernel.starts_with("xpyd-triton"))
        .map(|r| r.seconds)
        .collect();
    assert_eq!(fast, vec![2e-5, 4e-5]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn moe_rows_take_mxfp4_and_name_a_bad_dtype() {
    let dir = std::env::temp_dir().join(format!("xpyd-moe-mxfp4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let b = Profile::builtin("h100").unwrap().data().clone();
    let file = |dtype: &str| {
        serde_json::json!({
            "gpu_name": b.header.gpu_name, "torch_version": "2.11", "checks": {},
            "notes": [], "gemm": [],
            "experts": [{
                "hidden": 2880, "inter": 720, "experts": 128, "top_k": 4, "dtype": dtype,
                "tokens": 64, "touched": 100, "seconds": 2e-4,
                "kernel": "xpyd-triton-fused-moe 16x64x128x1x4x6", "label": "gpt-oss-120b/tp4"
            }]
        })
    };
    let path = dir.join("mx.json");
    std::fs::write(&path, file("mxfp4").to_string()).unwrap();
    let m = merge_moe(&b, &path, "test").unwrap();
    let row = m.moe_experts.last().unwrap();
    assert_eq!((row.dtype, row.hidden), (ExpertDtype::Mxfp4, 2880));
    std::fs::write(&path, file("fp4").to_string()).unwrap();
    let e = merge_moe(&b, &path, "test").unwrap_err().to_string();
    assert!(
        e.ends_with("experts[0].dtype: unknown dtype `fp4` (allowed: bf16, fp8, mxfp4)"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_of_one_model_keeps_the_same_kernels_rows_of_others() {
    let dir = std::env::temp_dir().join(format!("xpyd-moe-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The shipped H100 profile has Triton rows for DeepSeek-V3 and Qwen3-235B.
    let b = Profile::builtin("h100").unwrap().data().clone();
    let triton = |d: &ProfileData| {
        d.moe_experts
            .iter()
            .filter(|r| r.kernel.starts_with("xpyd-triton"))
            .count()
    };
    let before = triton(&b);
    assert!(before > 0);
    let file = serde_json::json!({
        "gpu_name": b.header.gpu_name, "torch_version": "2.11", "checks": {},
        "notes": ["took 9 s"], "gemm": [],
        "experts": [{
            "hidden": 2880, "inter": 2880, "experts": 128, "top_k": 4, "dtype": "mxfp4",
            "tokens": 8, "touched": 30, "seconds": 1e-4,
            "kernel": "xpyd-triton-fused-moe 16x64x128x1x4x6", "label": "gpt-oss-120b/tp1"
        }]
    });
    let path = dir.join("gptoss.json");
    std::fs::write(&path, file.to_string()).unwrap();
    let m = merge_moe(&b, &path, "test").unwrap();
    assert_eq!(triton(&m), before + 1, "the other models' Triton rows stay");
    // Its notes name its model; the earlier run's notes stay.
    let tagged =
        |d: &ProfileData, t: &str| d.header.notes.iter().filter(|n| n.starts_with(t)).count();
    assert_eq!(
        tagged(&m, "moe_experts [xpyd-triton-fused-moe; gpt-oss-120b]"),
        1
    );
    assert_eq!(
        tagged(
            &m,
            "moe_experts [xpyd-triton-fused-moe; deepseek-v3, qwen3-235b-a22b]"
        ),
        1
    );
    // Merged again: replaced, not doubled.
    let m2 = merge_moe(&m, &path, "test").unwrap();
    assert_eq!(triton(&m2), before + 1);
    assert_eq!(m2.header.notes.len(), m.header.notes.len());
    std::fs::remove_dir_all(&dir).unwrap();
}
