//! `xpyd calibrate import-aiconfigurator` on the shared AIConfigurator perf database
//! (H100 SXM and H200 SXM, every backend): row counts, known points looked up in the
//! Parquet files independently (pyarrow, numbers below), use by `xpyd cost --profile`,
//! and exit code 2 with the file named for broken folders. Skips, with a note, where
//! `../shared` is absent.

use crate::common::*;
use std::path::{Path, PathBuf};

fn reference() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/aiconfigurator-perf");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!(
            "note: {} absent; AIConfigurator import tests skipped",
            d.display()
        );
        None
    }
}

/// Expected rows per backend, the same on H100 and H200: (backend, gemm rows bf16 +
/// fp8, prefill kernel, prefill rows at xpyd-calibrate's (batch, heads, kv_heads)
/// shapes, decode rows), counted with pyarrow on the same filters.
const BACKENDS: [(&str, usize, &str, usize, usize); 3] = [
    ("sglang", 71484, "aiconfigurator-fa3", 204, 31228),
    (
        "vllm",
        71484,
        "aiconfigurator-vllm_flash_attn_fa3",
        204,
        32258,
    ),
    ("trtllm", 71400, "aiconfigurator-torch_flow", 238, 40367),
];

/// README spot value: SGLang fa3 decode, batch 64, KV 4096, 16/2 heads, bf16 KV
/// (ms, rounded to 3 decimals there): (gpu folder, ms).
const DECODE_SPOT: [(&str, f64); 2] = [("h100_sxm", 0.100), ("h200_sxm", 0.072)];

/// `latency` (ms) of the bf16 and fp8 GEMM m=4096, n=k=5120 in each file, read with
/// pyarrow: (gpu folder, backend, bf16 ms, fp8 ms).
const GEMM_4096_5120: [(&str, &str, f64, f64); 6] = [
    ("h100_sxm", "sglang", 0.2822382185194227, 0.2097946670320299),
    ("h100_sxm", "vllm", 0.28001422352261013, 0.23653690020243326),
    (
        "h100_sxm",
        "trtllm",
        0.27688000599543255,
        0.2084719936052958,
    ),
    (
        "h200_sxm",
        "sglang",
        0.28469689687093097,
        0.1670000023312039,
    ),
    ("h200_sxm", "vllm", 0.27566578653123647, 0.21137421660953096),
    (
        "h200_sxm",
        "trtllm",
        0.27937867244084674,
        0.20248356130388048,
    ),
];

fn import(dir: &Path, backend: &str, out: &Path) -> serde_json::Value {
    import_with(dir, backend, out, &[])
}

fn import_with(dir: &Path, backend: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "calibrate",
        "import-aiconfigurator",
        dir.to_str().unwrap(),
        "--backend",
        backend,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = xpyd(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("gemm"), "{}", stdout(&o));
    json(out)
}

fn check_gpu(folder: &str, gpu_id: &str, device: &str) {
    let Some(root) = reference() else { return };
    let dir = root.join(folder);
    let tmp = tmpdir(&format!("aic-{gpu_id}"));
    for (backend, n_gemm, kernel, n_prefill, n_decode) in BACKENDS {
        let out = tmp.join(format!("{backend}.json"));
        let p = import(&dir, backend, &out);
        let h = &p["header"];
        assert_eq!(h["gpu_name"], device);
        assert_eq!(h["gpu_id"], gpu_id);
        assert_eq!(h["gpu_count"], 8);
        assert!(
            h["tool_version"]
                .as_str()
                .unwrap()
                .contains("aiconfigurator")
        );
        let len = |t: &str| p[t].as_array().unwrap().len();
        assert_eq!(len("gemm"), n_gemm, "{folder} {backend}");
        assert_eq!(len("attention_prefill"), n_prefill, "{folder} {backend}");
        assert_eq!(len("attention_decode"), n_decode, "{folder} {backend}");
        // NCCL 2.29.2 all_reduce half: 21 sizes for each of 2, 4 and 8 GPUs.
        assert_eq!(len("allreduce"), 63, "{folder} {backend}");
        assert!(
            p["attention_prefill"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["kernel"] == kernel && r["context"] == 0)
        );
        for (f, b, bf16_ms, fp8_ms) in GEMM_4096_5120 {
            if (f, b) != (folder, backend) {
                continue;
            }
            for (dtype, ms) in [("bf16", bf16_ms), ("fp8", fp8_ms)] {
                let row = p["gemm"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| {
                        r["m"] == 4096 && r["n"] == 5120 && r["k"] == 5120 && r["dtype"] == dtype
                    })
                    .unwrap_or_else(|| panic!("{f} {b} {dtype}: no m=4096 n=k=5120 row"));
                let s = row["seconds"].as_f64().unwrap();
                assert!(
                    (s - ms / 1e3).abs() <= 1e-15,
                    "{f} {b} {dtype}: {s} vs {ms} ms"
                );
            }
        }
        if backend == "sglang" {
            let (_, ms) = DECODE_SPOT.iter().find(|(f, _)| *f == folder).unwrap();
            let row = p["attention_decode"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| {
                    r["batch"] == 64
                        && r["context"] == 4096
                        && r["heads"] == 16
                        && r["kv_heads"] == 2
                        && r["head_dim"] == 128
                        && r["kv_dtype"] == "bf16"
                })
                .expect("decode spot row");
            let s = row["seconds"].as_f64().unwrap();
            assert!(
                (s * 1e3 - ms).abs() <= 0.0005,
                "{folder}: decode {s} s vs {ms} ms"
            );
        }
        // NCCL all_reduce, 8 GPUs, 16M half elements = 32 MiB (README spot value).
        let ar = p["allreduce"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["gpus"] == 8 && r["bytes"] == 33554432u64)
            .expect("8-GPU 32 MiB all-reduce row");
        let s = ar["seconds"].as_f64().unwrap();
        assert!((1.9e-4..2.1e-4).contains(&s), "{s}");
    }
    // The profiles are ~25 MB each.
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn imports_h100_for_every_backend() {
    check_gpu("h100_sxm", "h100", "NVIDIA H100 80GB HBM3");
}

#[test]
fn imports_h200_for_every_backend() {
    check_gpu("h200_sxm", "h200", "NVIDIA H200");
}

#[test]
fn all_prefill_shapes_on_request() {
    let Some(root) = reference() else { return };
    let out = tmpdir("aic-all").join("p.json");
    let p = import_with(
        &root.join("h200_sxm"),
        "sglang",
        &out,
        &["--all-prefill-shapes", "--gpu-id", "H200"],
    );
    // fa3, bf16, full attention, fresh prompts: every head_dim and shape (pyarrow count).
    assert_eq!(p["attention_prefill"].as_array().unwrap().len(), 13703);
    assert_eq!(p["header"]["gpu_id"], "h200");
    let _ = std::fs::remove_dir_all(out.parent().unwrap());
}

#[test]
fn imported_profile_drives_xpyd_cost() {
    let Some(root) = reference() else { return };
    let tmp = tmpdir("aic-cost");
    let out = tmp.join("h200-sglang.json");
    import(&root.join("h200_sxm"), "sglang", &out);
    let o = xpyd(&[
        "cost",
        "--gpu",
        "h200",
        "--model",
        "qwen3-32b",
        "--tp",
        "2",
        "--prefill",
        "2048",
        "--profile",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["profile"], out.to_str().unwrap());
    assert!(text.contains("\"calibrated\""), "{text}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn broken_folders_exit_2_naming_the_file() {
    let Some(root) = reference() else { return };
    let tmp = tmpdir("aic-broken");
    let run = |dir: &Path| {
        xpyd(&[
            "calibrate",
            "import-aiconfigurator",
            dir.to_str().unwrap(),
            "--backend",
            "sglang",
            "--out",
            tmp.join("out.json").to_str().unwrap(),
        ])
    };
    // Not a folder.
    let o = run(&tmp.join("nowhere"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nowhere: not a folder"),
        "{}",
        stderr(&o)
    );
    // Missing table folder.
    let gemm = tmp.join("sys/gemm/sglang/0.5.14");
    std::fs::create_dir_all(&gemm).unwrap();
    let o = run(&tmp.join("sys"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("attention/sglang: missing"),
        "{}",
        stderr(&o)
    );
    // A table without the columns a GEMM table needs (the NCCL 2.23 file has no `device`).
    for sub in ["attention/sglang/0.5.14", "comm/nccl/2.29.2"] {
        std::fs::create_dir_all(tmp.join("sys").join(sub)).unwrap();
    }
    let nccl = root.join("h200_sxm/comm/nccl/2.23/nccl_perf.parquet");
    std::fs::copy(&nccl, gemm.join("gemm_perf.parquet")).unwrap();
    let o = run(&tmp.join("sys"));
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("gemm_perf.parquet: column `device` missing"),
        "{e}"
    );
    // Not Parquet at all.
    std::fs::write(gemm.join("gemm_perf.parquet"), b"not parquet").unwrap();
    let o = run(&tmp.join("sys"));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gemm_perf.parquet: not a readable Parquet file"));
    // No partial output anywhere.
    assert!(!tmp.join("out.json").exists());
}
