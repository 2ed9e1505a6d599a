//! The RoleBasedGroup itself: multi-node roles as leader/worker pods, and each
//! backend's engine and router commands.

use crate::specs::{APIS, Scaling, emitted, first_role, rbg_of, spec};
use serde_json::json;
use xpyd_reports::manifests::RbgApi;
use xpyd_sim::scenario::Backend;

#[test]
fn multi_node_layout() {
    let s = spec(Backend::Sglang, true, Scaling::None, true);
    for api in APIS {
        let rbg = rbg_of(&emitted(&s, api));
        let decode = first_role(&rbg, "decode");
        // TP 16 on 4-GPU nodes: 4 pods of 4 GPUs per instance.
        let (size, template) = match api {
            RbgApi::V1alpha2 => (
                &decode["leaderWorkerPattern"]["size"],
                &decode["leaderWorkerPattern"]["template"],
            ),
            RbgApi::V1alpha1 => (&decode["leaderWorkerSet"]["size"], &decode["template"]),
        };
        assert_eq!(size, &json!(4));
        let c = &template["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], json!("4"));
        assert_eq!(c["resources"]["limits"]["rdma/hca"], json!("1"));
        assert!(c.get("readinessProbe").is_none(), "workers serve no HTTP");
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let i = args.iter().position(|a| *a == "--tp-size").unwrap();
        assert_eq!(args[i + 1], "16");
        assert!(args.contains(&"--nnodes"));
    }
}

#[test]
fn backend_commands() {
    let objs = emitted(
        &spec(Backend::Sglang, true, Scaling::None, false),
        RbgApi::V1alpha2,
    );
    let rbg = rbg_of(&objs);
    let text = serde_json::to_string(&rbg).unwrap();
    for flag in [
        "--disaggregation-mode",
        "--disaggregation-bootstrap-port",
        "--disaggregation-transfer-backend",
        "--pd-disaggregation",
        "--tp-size",
        "mooncake",
    ] {
        assert!(text.contains(flag), "sglang lacks {flag}");
    }
    let router = first_role(&rbg, "router");
    let args = &router["standalonePattern"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args.iter().filter(|a| **a == "--prefill").count(), 2);
    assert_eq!(args.iter().filter(|a| **a == "--decode").count(), 1);
    let i = args.iter().position(|a| *a == "--prefill").unwrap();
    assert_eq!(
        args[i + 1],
        "http://qwen3-32b-pd-prefill-0.s-qwen3-32b-pd-prefill:8000"
    );
    assert_eq!(args[i + 2], "8998");

    let rbg = rbg_of(&emitted(
        &spec(Backend::Vllm, true, Scaling::None, false),
        RbgApi::V1alpha2,
    ));
    let text = serde_json::to_string(&rbg).unwrap();
    assert!(text.contains(r#"{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\"}"#));

    let rbg = rbg_of(&emitted(
        &spec(Backend::Dynamo, true, Scaling::None, false),
        RbgApi::V1alpha2,
    ));
    let names: Vec<&str> = rbg["spec"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["frontend", "prefill", "decode", "etcd", "nats"]);
    let text = serde_json::to_string(&rbg).unwrap();
    for s in [
        "dynamo.frontend",
        "dynamo.vllm",
        "--is-prefill-worker",
        "ETCD_ENDPOINTS",
        "NATS_SERVER",
    ] {
        assert!(text.contains(s), "dynamo lacks {s}");
    }
}
