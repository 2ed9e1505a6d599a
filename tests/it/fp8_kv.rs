//! Decode attention over an FP8 KV cache: `xpyd cost --kv-cache fp8` takes the measured
//! fp8-KV rows of the H100 profile and labels the term calibrated; a GPU whose profile has
//! none (H200 today) keeps the roofline and says so.

use crate::common::{stderr, stdout, xpyd};

fn cost(model: &str, gpu: &str, tp: &str, kv: &str) -> serde_json::Value {
    cost_with(model, gpu, tp, kv, &[])
}

fn cost_with(model: &str, gpu: &str, tp: &str, kv: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "cost",
        "--model",
        model,
        "--gpu",
        gpu,
        "--tp",
        tp,
        "--kv-cache",
        kv,
        "--decode-batch",
        "32",
        "--context",
        "32768",
        "--json",
    ];
    args.extend(extra);
    let o = xpyd(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn cost_labels_fp8_kv_decode_attention_calibrated_on_h100() {
    let f = cost("llama-3.1-8b", "h100", "1", "fp8");
    assert_eq!(f["sources"]["attention_decode"], "calibrated", "{f}");
    assert_eq!(f["source"], "calibrated", "{f}");
    let b = cost("llama-3.1-8b", "h100", "1", "bf16");
    assert_eq!(b["sources"]["attention_decode"], "calibrated", "{b}");
    let secs = |v: &serde_json::Value| v["breakdown"]["attention_decode"].as_f64().unwrap();
    assert!(
        secs(&f) < 0.8 * secs(&b),
        "fp8 {} vs bf16 {}",
        secs(&f),
        secs(&b)
    );
    // MLA over an fp8 latent cache too, when our measured MLA kernel is asked for (by
    // default the roofline prices MLA decode: the engines' FlashMLA-class kernels).
    let d = cost_with(
        "deepseek-v3",
        "h100",
        "8",
        "fp8",
        &["--mla-decode", "measured"],
    );
    assert_eq!(d["sources"]["attention_decode"], "calibrated", "{d}");
    let d = cost("deepseek-v3", "h100", "8", "fp8");
    assert_eq!(d["sources"]["attention_decode"], "roofline", "{d}");
    // The H200 profile has fp8-KV rows too (2026-12-06); a GPU without a profile
    // stays on the roofline, and the run says so.
    let r = cost("llama-3.1-8b", "h200", "1", "fp8");
    assert_eq!(r["sources"]["attention_decode"], "calibrated", "{r}");
    let a = cost("llama-3.1-8b", "a100", "1", "fp8");
    assert_eq!(a["sources"]["attention_decode"], "roofline", "{a}");
    assert_eq!(a["source"], "roofline", "{a}");
}
