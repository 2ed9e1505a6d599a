//! The validator rejects deliberately broken RoleBasedGroup, InferencePool, HPA, KEDA
//! ScaledObject and Service objects, and broken wiring between them.

use crate::specs::{Scaling, emitted, errors_of, rbg_of, spec};
use crate::wiring::check_wiring;
use serde_json::json;
use xpyd_reports::manifests::RbgApi;
use xpyd_sim::scenario::Backend;

#[test]
fn broken_manifests_are_caught() {
    let objs = emitted(
        &spec(Backend::Sglang, true, Scaling::Hpa, false),
        RbgApi::V1alpha2,
    );
    let rbg = rbg_of(&objs);
    assert!(errors_of(&rbg).is_empty());

    // Wrong type.
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["replicas"] = json!("two");
    let e = errors_of(&bad);
    assert!(
        e.iter().any(|e| e.contains("/spec/roles/1/replicas")),
        "{e:?}"
    );

    // Unknown field on the role, and deep inside the pod template.
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["replicaz"] = json!(2);
    assert!(!errors_of(&bad).is_empty());
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["standalonePattern"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] =
        json!("Always");
    let e = errors_of(&bad);
    assert!(e.iter().any(|e| e.contains("imagePullPolicyy")), "{e:?}");

    // Unknown metadata field.
    let mut bad = rbg.clone();
    bad["metadata"]["lables"] = json!({"a": "b"});
    assert!(!errors_of(&bad).is_empty());

    // CEL: both patterns.
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["leaderWorkerPattern"] =
        json!({"size": 2, "template": {"spec": {"containers": []}}});
    let e = errors_of(&bad);
    assert!(e.iter().any(|e| e.contains("mutually exclusive")), "{e:?}");

    // CEL: template and templateRef.
    let mut bad = rbg.clone();
    bad["spec"]["roles"][1]["standalonePattern"]["templateRef"] = json!({"name": "base"});
    let e = errors_of(&bad);
    assert!(
        e.iter().any(|e| e.contains("template and templateRef")),
        "{e:?}"
    );

    // Undefined $(VAR) and a port name over 15 characters.
    let mut bad = rbg.clone();
    let c = &mut bad["spec"]["roles"][1]["standalonePattern"]["template"]["spec"]["containers"][0];
    c["args"].as_array_mut().unwrap().push(json!("$(NOPE)"));
    c["ports"][0]["name"] = json!("a-very-long-port-name");
    let e = errors_of(&bad);
    assert!(e.iter().any(|e| e.contains("$(NOPE)")), "{e:?}");
    assert!(e.iter().any(|e| e.contains("port name")), "{e:?}");

    // Wrong type in a leader/worker patch.
    let multi = rbg_of(&emitted(
        &spec(Backend::Vllm, true, Scaling::None, true),
        RbgApi::V1alpha2,
    ));
    assert!(errors_of(&multi).is_empty());
    let mut bad = multi.clone();
    bad["spec"]["roles"][1]["leaderWorkerPattern"]["workerTemplatePatch"]["spec"]["containers"]
        [0]["args"] = json!("--headless");
    let e = errors_of(&bad);
    assert!(e.iter().any(|e| e.contains("workerTemplatePatch")), "{e:?}");

    // v1alpha1: leaderWorkerSet without a leader patch.
    let multi1 = rbg_of(&emitted(
        &spec(Backend::Vllm, true, Scaling::None, true),
        RbgApi::V1alpha1,
    ));
    assert!(errors_of(&multi1).is_empty());
    let mut bad = multi1.clone();
    bad["spec"]["roles"][1]["leaderWorkerSet"]
        .as_object_mut()
        .unwrap()
        .remove("patchLeaderTemplate");
    assert!(!errors_of(&bad).is_empty());

    // InferencePool: duplicate target ports (CEL), missing EPP port (CEL), wrong type.
    let pool = objs.iter().find(|o| o["kind"] == "InferencePool").unwrap();
    assert!(errors_of(pool).is_empty());
    let mut bad = pool.clone();
    bad["spec"]["targetPorts"] = json!([{"number": 8000}, {"number": 8000}]);
    assert!(errors_of(&bad).iter().any(|e| e.contains("unique")));
    let mut bad = pool.clone();
    bad["spec"]["endpointPickerRef"]
        .as_object_mut()
        .unwrap()
        .remove("port");
    assert!(
        errors_of(&bad)
            .iter()
            .any(|e| e.contains("port is required"))
    );
    let mut bad = pool.clone();
    bad["spec"]["targetPorts"][0]["number"] = json!("8000");
    assert!(!errors_of(&bad).is_empty());

    // HPA: unknown field, minReplicas 0, bad window.
    let hpa = objs
        .iter()
        .find(|o| o["kind"] == "HorizontalPodAutoscaler")
        .unwrap();
    assert!(errors_of(hpa).is_empty());
    let mut bad = hpa.clone();
    bad["spec"]["minReplica"] = json!(1);
    assert!(!errors_of(&bad).is_empty());
    let mut bad = hpa.clone();
    bad["spec"]["minReplicas"] = json!(0);
    assert!(errors_of(&bad).iter().any(|e| e.contains("minReplicas")));
    let mut bad = hpa.clone();
    bad["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = json!(7200);
    assert!(!errors_of(&bad).is_empty());

    // KEDA: min > max (CEL), unknown trigger field.
    let keda_objs = emitted(
        &spec(Backend::Dynamo, false, Scaling::Keda, false),
        RbgApi::V1alpha2,
    );
    let so = keda_objs
        .iter()
        .find(|o| o["kind"] == "ScaledObject")
        .unwrap();
    assert!(errors_of(so).is_empty());
    let mut bad = so.clone();
    bad["spec"]["minReplicaCount"] = json!(9);
    assert!(
        errors_of(&bad)
            .iter()
            .any(|e| e.contains("minReplicaCount"))
    );
    let mut bad = so.clone();
    bad["spec"]["triggers"][0]["metadatas"] = json!({});
    assert!(!errors_of(&bad).is_empty());

    // Service: wrong type.
    let svc = objs.iter().find(|o| o["kind"] == "Service").unwrap();
    let mut bad = svc.clone();
    bad["spec"]["ports"][0]["port"] = json!("http");
    assert!(!errors_of(&bad).is_empty());

    // Wiring: a pool selecting nothing, an HPA aimed at a role without an adapter.
    let mut bad_objs = objs.clone();
    for o in &mut bad_objs {
        if o["kind"] == "InferencePool" {
            o["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = json!("nobody");
        }
        if o["kind"] == "HorizontalPodAutoscaler" {
            o["spec"]["scaleTargetRef"]["name"] = json!("qwen3-32b-pd-router");
        }
    }
    let e = check_wiring(&bad_objs);
    assert_eq!(e.len(), 3, "pool + two HPAs: {e:?}");
}
