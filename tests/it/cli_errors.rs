//! Bad input exits with code 2 and an error naming the file and the field; never a panic.

use crate::common::*;

fn run_bad(name: &str, text: &str) -> (i32, String) {
    let dir = tmpdir(name);
    let p = write(&dir, "bad.toml", text);
    let out = dir.join("out");
    let o = xpyd(&["run", p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("bad.toml"),
        "error does not name the file: {err}"
    );
    (o.status.code().unwrap_or(-1), err)
}

#[test]
fn unknown_key() {
    let (code, err) = run_bad("unknown", &SMALL.replace("[model]", "[model]\nflavour = 1"));
    assert_eq!(code, 2);
    assert!(err.contains("model") && err.contains("flavour"), "{err}");
}

#[test]
fn wrong_type() {
    let (code, err) = run_bad(
        "wrongtype",
        &SMALL.replace(
            "replicas = 1\ntp = 1\n[deployment.decode]",
            "replicas = \"one\"\ntp = 1\n[deployment.decode]",
        ),
    );
    assert_eq!(code, 2);
    assert!(err.contains("deployment.prefill.replicas"), "{err}");
}

#[test]
fn negative_rate() {
    let (code, err) = run_bad(
        "negrate",
        &SMALL.replace("rate-rps = 4.0", "rate-rps = -4.0"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("rate-rps"), "{err}");
}

#[test]
fn tp_not_dividing_heads() {
    let (code, err) = run_bad(
        "tp3",
        &SMALL.replace(
            "replicas = 1\ntp = 1\n[workload]",
            "replicas = 1\ntp = 3\n[workload]",
        ),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("deployment.decode.tp") && err.contains("heads"),
        "{err}"
    );
}

#[test]
fn weights_do_not_fit() {
    let text = SMALL
        .replace("id = \"qwen3-8b\"", "id = \"llama-3.1-70b\"")
        .replace("gpu = \"h100\"", "gpu = \"l20\"");
    let (code, err) = run_bad("nofit", &text);
    assert_eq!(code, 2);
    assert!(
        err.contains("deployment.prefill.tp") && err.contains("GiB"),
        "{err}"
    );
}

#[test]
fn missing_file() {
    let o = xpyd(&["run", "no/such/scenario.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no/such/scenario.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_flag_value() {
    let o = xpyd(&[
        "run",
        "--rate",
        "-1",
        "--out",
        tmpdir("badflag").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--rate"), "{}", stderr(&o));
    let o = xpyd(&[
        "run",
        "--set",
        "deployment.prefill.tp",
        "--out",
        tmpdir("badset").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("KEY=VALUE"), "{}", stderr(&o));
}

#[test]
fn unknown_model_and_gpu() {
    let (code, err) = run_bad(
        "unkmodel",
        &SMALL.replace("id = \"qwen3-8b\"", "id = \"gpt-9\""),
    );
    assert_eq!(code, 2);
    assert!(err.contains("model.id"), "{err}");
    let (code, err) = run_bad("unkgpu", &SMALL.replace("gpu = \"h100\"", "gpu = \"tpu\""));
    assert_eq!(code, 2);
    assert!(err.contains("hardware.gpu"), "{err}");
}

#[test]
fn cost_rejects_bad_shapes() {
    let o = xpyd(&[
        "cost",
        "--model",
        "qwen3-32b",
        "--gpu",
        "h100",
        "--tp",
        "3",
        "--prefill",
        "100",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = xpyd(&[
        "cost",
        "--model",
        "qwen3-32b",
        "--gpu",
        "h100",
        "--decode-batch",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--context"));
}

/// Heterogeneous PD: an unknown per-role GPU names the file, the field, the value and
/// the catalog; an aggregated role on another GPU than [hardware] is refused.
#[test]
fn unknown_role_gpu_and_aggregated_role_gpu() {
    let (code, err) = run_bad(
        "rolegpu",
        &SMALL.replace(
            "[deployment.decode]\nreplicas = 1",
            "[deployment.decode]\ngpu = \"h300\"\nreplicas = 1",
        ),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("deployment.decode.gpu") && err.contains("h300") && err.contains("h20"),
        "{err}"
    );
    let agg = SMALL
        .replace("[deployment]\n", "[deployment]\nmode = \"aggregated\"\n")
        .replace(
            "[deployment.prefill]\nreplicas = 1\ntp = 1\n[deployment.decode]\nreplicas = 1\ntp = 1\n",
            "[deployment.aggregated]\nreplicas = 1\ntp = 1\ngpu = \"h20\"\n",
        );
    let (code, err) = run_bad("agggpu", &agg);
    assert_eq!(code, 2);
    assert!(err.contains("deployment.aggregated.gpu"), "{err}");
}
