//! Whole deployments: every combination validates, YAML round-trips deterministically,
//! invalid specs are errors, and every shipped scenario gives valid manifests.

use crate::specs::{APIS, BACKENDS, Scaling, assert_valid, emitted, rbg_of, spec};
use serde_json::Value;
use std::path::{Path, PathBuf};
use xpyd_reports::manifests::{DeploymentSpec, EmitOptions, RoleTopology, emit_all, emit_objects};
use xpyd_sim::scenario::Backend;

#[test]
fn every_combination_validates() {
    let mut n = 0;
    for backend in BACKENDS {
        for api in APIS {
            for disagg in [true, false] {
                for scaling in [Scaling::None, Scaling::Hpa, Scaling::Keda] {
                    for multi_node in [false, true] {
                        let s = spec(backend, disagg, scaling, multi_node);
                        let objs = emitted(&s, api);
                        let what = format!(
                            "{backend:?} {api:?} disagg={disagg} {scaling:?} multi_node={multi_node}"
                        );
                        let autoscalers = objs
                            .iter()
                            .filter(|o| {
                                matches!(
                                    o["kind"].as_str(),
                                    Some("HorizontalPodAutoscaler" | "ScaledObject")
                                )
                            })
                            .count();
                        let expect = match scaling {
                            Scaling::None => 0,
                            _ if disagg => 2,
                            _ => 1,
                        };
                        assert_eq!(autoscalers, expect, "{what}");
                        assert_valid(&objs, &what);
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(n, 72);
}

#[test]
fn yaml_round_trips_and_is_deterministic() {
    for backend in BACKENDS {
        let s = spec(backend, true, Scaling::Hpa, true);
        let opts = EmitOptions::default();
        let a = emit_all(&s, &opts).unwrap();
        let b = emit_all(&s.clone(), &opts).unwrap();
        assert_eq!(a, b);
        let objs = emit_objects(&s, &opts).unwrap();
        for ((file, text), m) in a.iter().zip(&objs) {
            assert_eq!(file, &m.file);
            let back: Value = serde_saphyr::from_str(text).unwrap();
            assert_eq!(back, m.object, "{file}");
        }
        let files: Vec<&str> = a.iter().map(|(f, _)| f.as_str()).collect();
        let mut expect = vec!["rolebasedgroup.yaml", "service.yaml", "inferencepool.yaml"];
        if backend != Backend::Dynamo {
            expect.extend([
                "router-serviceaccount.yaml",
                "router-role.yaml",
                "router-rolebinding.yaml",
            ]);
        }
        expect.extend(["autoscaler-prefill.yaml", "autoscaler-decode.yaml"]);
        assert_eq!(files, expect);
    }
}

#[test]
fn invalid_specs_are_errors_not_panics() {
    let mut s = spec(Backend::Vllm, true, Scaling::Hpa, false);
    s.name = "Not_A_Label".into();
    assert!(emit_all(&s, &EmitOptions::default()).is_err());

    let mut s = spec(Backend::Vllm, true, Scaling::None, false);
    if let RoleTopology::Disaggregated { decode, .. } = &mut s.topology {
        decode.tp = 12;
        decode.gpus_per_node = 8;
    }
    let e = emit_all(&s, &EmitOptions::default()).unwrap_err();
    assert!(e.to_string().contains("decode.tp"), "{e}");

    let mut s = spec(Backend::Sglang, false, Scaling::Hpa, false);
    if let RoleTopology::Aggregated(r) = &mut s.topology {
        r.replicas = 20;
    }
    assert!(emit_all(&s, &EmitOptions::default()).is_err());

    let mut s = spec(Backend::Sglang, false, Scaling::None, false);
    s.rdma_resource = Some("hca".into());
    assert!(emit_all(&s, &EmitOptions::default()).is_err());

    let mut s = spec(Backend::Sglang, false, Scaling::None, false);
    s.model.hf_repo = "../etc".into();
    assert!(emit_all(&s, &EmitOptions::default()).is_err());
}

#[test]
fn scenarios_give_valid_manifests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let doc = xpyd_sim::scenario::parse_scenario_text(&f, &text).unwrap();
        let wire = xpyd_sim::scenario::table_to_file(&f, doc).unwrap();
        let sc = xpyd_sim::Scenario::from_file(&f, &dir, wire).unwrap();
        let s = DeploymentSpec::from_scenario(&sc);
        assert_eq!(s.backend, sc.backend);
        for api in APIS {
            let objs = emitted(&s, api);
            assert_valid(&objs, &f.display().to_string());
        }
    }
}

/// Every `nodeSelector` object under `v`.
fn node_selectors(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "nodeSelector" {
                    out.push(x.clone());
                } else {
                    node_selectors(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| node_selectors(x, out)),
        _ => {}
    }
}

/// Heterogeneous PD (prefill on H200, decode on H20): each engine role lands on its GPU
/// type by the GPU Feature Discovery product label, for every backend and RBG API, and
/// the manifests still validate against the CRDs; one GPU type gets no selector.
#[test]
fn heterogeneous_pd_puts_each_role_on_its_gpu_type() {
    let text = r#"
[model]
id = "qwen3-8b"
[hardware]
gpu = "h200"
[deployment]
mode = "disaggregated"
[deployment.prefill]
replicas = 2
tp = 1
[deployment.decode]
replicas = 1
tp = 2
gpu = "h20"
[workload]
requests = 10
[workload.arrival]
kind = "poisson"
rate-rps = 1.0
[workload.input-tokens]
kind = "fixed"
tokens = 512
[workload.output-tokens]
kind = "fixed"
tokens = 64
"#;
    let f = Path::new("hetero.toml");
    for backend in ["sglang", "vllm", "dynamo", "trtllm"] {
        for hetero in [true, false] {
            let mut sets = vec![format!("deployment.backend={backend}")];
            if !hetero {
                sets.push("deployment.decode.gpu=h200".into());
            }
            let sc = xpyd_sim::Scenario::from_text(f, Path::new("."), text, &sets).unwrap();
            assert_eq!(sc.is_heterogeneous(), hetero);
            let s = DeploymentSpec::from_scenario(&sc);
            for api in APIS {
                let objs = emitted(&s, api);
                let what = format!("{backend} hetero={hetero} {api:?}");
                assert_valid(&objs, &what);
                let rbg = rbg_of(&objs);
                let mut seen = 0;
                for role in rbg["spec"]["roles"].as_array().unwrap() {
                    let name = role["name"].as_str().unwrap();
                    let mut sel = Vec::new();
                    node_selectors(role, &mut sel);
                    let want = if name.contains("prefill") {
                        "NVIDIA-H200"
                    } else if name.contains("decode") {
                        "NVIDIA-H20"
                    } else {
                        assert!(sel.is_empty(), "{what}: {name} has {sel:?}");
                        continue;
                    };
                    if !hetero {
                        assert!(sel.is_empty(), "{what}: {name} has {sel:?}");
                        continue;
                    }
                    assert!(!sel.is_empty(), "{what}: {name} has no nodeSelector");
                    for x in &sel {
                        assert_eq!(x["nvidia.com/gpu.product"], want, "{what}: {name}");
                    }
                    seen += 1;
                }
                assert_eq!(seen, if hetero { 2 } else { 0 }, "{what}");
            }
        }
    }
}
