//! The TensorRT-LLM backend end to end (issue 14 item 2): aggregated (`trtllm-serve`) and
//! PD (Dynamo with TensorRT-LLM workers) runs with its engine defaults and built-in
//! engine layer, manifests for both, and a bad `admission` value exits 2 naming the
//! field and the allowed values.

use crate::common::{SMALL, json, stderr, tmpdir, write, xpyd};

/// [`SMALL`] (1P1D on H100) as TensorRT-LLM, in `mode`.
fn trtllm(mode: &str) -> String {
    let text = SMALL.replace("backend = \"sglang\"", "backend = \"trtllm\"");
    if mode == "aggregated" {
        text.replace(
            "[deployment.prefill]\nreplicas = 1\ntp = 1\n[deployment.decode]",
            "mode = \"aggregated\"\n[deployment.aggregated]",
        )
    } else {
        text
    }
}

#[test]
fn trtllm_runs_aggregated_and_disaggregated_with_its_defaults() {
    let dir = tmpdir("trtllm-run");
    for mode in ["aggregated", "disaggregated"] {
        let f = write(&dir, &format!("{mode}.toml"), &trtllm(mode));
        let out = dir.join(mode);
        let o = xpyd(&["run", f.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        let s = json(&out.join("summary.json"));
        assert_eq!(s["backend"], "trtllm", "{mode}");
        assert_eq!(s["mode"], mode);
        // `engine-profile = "auto"` picks TensorRT-LLM's built-in engine layer.
        assert_eq!(s["engine_layer"], "builtin:trtllm/h100", "{mode}");
        // Guaranteed-no-evict: nothing is ever preempted.
        assert_eq!(s["preemptions"], 0, "{mode}: {}", s["preemptions"]);
        assert_eq!(s["requests"]["unfinished"], 0, "{mode}");
    }
}

#[test]
fn trtllm_manifests_are_written_for_both_modes() {
    let dir = tmpdir("trtllm-manifest");
    for mode in ["aggregated", "disaggregated"] {
        let f = write(&dir, &format!("{mode}.toml"), &trtllm(mode));
        let out = dir.join(mode);
        let o = xpyd(&[
            "manifest",
            f.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        let rbg = std::fs::read_to_string(out.join("manifests/rolebasedgroup.yaml")).unwrap();
        let cmd = if mode == "aggregated" {
            "trtllm-serve"
        } else {
            "dynamo.trtllm"
        };
        assert!(rbg.contains(cmd), "{mode}: {rbg}");
    }
}

#[test]
fn bad_admission_exits_2_naming_the_field_and_the_choices() {
    let dir = tmpdir("trtllm-bad-admission");
    let text = trtllm("disaggregated").replace(
        "[deployment.decode]\nreplicas = 1\ntp = 1\n",
        "[deployment.decode]\nreplicas = 1\ntp = 1\nengine = { admission = \"fifo\" }\n",
    );
    let f = write(&dir, "bad.toml", &text);
    let o = xpyd(&[
        "run",
        f.to_str().unwrap(),
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for want in [
        "bad.toml",
        "deployment.decode.engine.admission",
        "fifo",
        "on-demand",
        "retract",
        "guaranteed-no-evict",
        "max-utilization",
    ] {
        assert!(err.contains(want), "{want} in {err}");
    }
}

/// `--target dgd` writes one DynamoGraphDeployment; `--rbg-api` with it exits 2 naming
/// both flags, and nothing is written.
#[test]
fn manifest_targets_from_the_cli() {
    let dir = tmpdir("manifest-targets");
    let out = dir.join("o");
    let o = xpyd(&[
        "manifest",
        "--target",
        "dgd",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dgd = std::fs::read_to_string(out.join("manifests/dynamographdeployment.yaml")).unwrap();
    assert!(dgd.contains("kind: DynamoGraphDeployment") && dgd.contains("dynamo.sglang"));
    let bad = dir.join("bad");
    let o = xpyd(&[
        "manifest",
        "--target",
        "lws",
        "--rbg-api",
        "v1alpha1",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--rbg-api") && stderr(&o).contains("lws"),
        "{}",
        stderr(&o)
    );
    assert!(!bad.exists());
}

#[test]
fn engine_holds_and_stream_interval_reach_the_manifests() {
    let dir = tmpdir("engine-holds-manifest");
    let manifest = |name: &str, text: &str| {
        let f = write(&dir, &format!("{name}.toml"), text);
        let out = dir.join(name);
        let o = xpyd(&[
            "manifest",
            f.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        (o, out.join("manifests/rolebasedgroup.yaml"))
    };
    // Dynamo's TensorRT-LLM decode worker: the batch wait and the stream interval in its
    // engine-args override.
    let pd = trtllm("disaggregated").replace(
        "[deployment.decode]\nreplicas = 1\ntp = 1",
        "[deployment.decode]\nreplicas = 1\ntp = 1\nengine = { batch-wait-timeout-iters = 50, batch-wait-max-tokens-ratio = 0.45, stream-interval = 10 }",
    );
    let (o, rbg) = manifest("trt-pd", &pd);
    assert!(o.status.success(), "{}", stderr(&o));
    let rbg = std::fs::read_to_string(rbg).unwrap();
    assert!(
        rbg.contains(
            r#"\"batch_wait_timeout_iters\":50,\"batch_wait_max_tokens_ratio\":0.45,\"stream_interval\":10}"#
        ),
        "{rbg}"
    );
    assert_eq!(rbg.matches("stream_interval").count(), 1, "decode only");
    assert_eq!(
        rbg.matches("batch_wait_timeout_iters").count(),
        1,
        "decode only"
    );
    // trtllm-serve takes these only from an options file: refused, naming the field.
    for (name, key, value) in [
        ("trt-agg", "batch-wait-timeout-iters", 50),
        ("trt-agg-stream", "stream-interval", 10),
    ] {
        let agg = trtllm("aggregated").replace(
            "[deployment.aggregated]\nreplicas = 1\ntp = 1",
            &format!(
                "[deployment.aggregated]\nreplicas = 1\ntp = 1\nengine = {{ {key} = {value} }}"
            ),
        );
        let (o, _) = manifest(name, &agg);
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert!(
            e.contains(&format!("engine.{key}"))
                && e.contains(&format!("`{value}`"))
                && e.contains("options file"),
            "{e}"
        );
    }
    // SGLang: --stream-interval on the engine's command line.
    let sg = SMALL.replace(
        "[deployment.decode]\nreplicas = 1\ntp = 1",
        "[deployment.decode]\nreplicas = 1\ntp = 1\nengine = { stream-interval = 10 }",
    );
    let (o, rbg) = manifest("sglang-pd", &sg);
    assert!(o.status.success(), "{}", stderr(&o));
    let rbg = std::fs::read_to_string(rbg).unwrap();
    assert_eq!(rbg.matches("--stream-interval").count(), 1, "{rbg}");
}
