//! How traffic reaches the deployment: a ClusterIP `Service` and a Gateway API
//! Inference Extension `InferencePool` (`inference.networking.k8s.io/v1`), both selecting
//! the serving pods of the entry role (the PD router, the Dynamo frontend, or, when
//! aggregated, the engines themselves).
//!
//! Follows `examples/gaie/llm-d-inference-scheduler__deploy__components__inference-gateway__inference-pools.yaml`
//! (`selector.matchLabels`, `targetPorts`, `endpointPickerRef` to the EPP `Service` on
//! gRPC port 9002) and the `Service` of `examples/rbg/inference__pd-disagg-standalone.yaml`'s
//! siblings (`inference__ecosystem__dynamo__pd-disagg.yaml`: ClusterIP on 8000 selecting
//! the entry role).
//!
//! Invariant: the selector includes `xpyd.io/serving: "true"`, which only pods that
//! answer HTTP carry, so worker pods of a multi-node instance never get traffic.

use super::pod::{HTTP_PORT, LABEL_COMPONENT, LABEL_MANAGED, LABEL_NAME, LABEL_SERVING, Role};
use super::spec::DeploymentSpec;
use serde_json::{Map, Value, json};

fn selector(spec: &DeploymentSpec, entry: &Role) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(LABEL_NAME.into(), spec.name.clone().into());
    m.insert(LABEL_COMPONENT.into(), entry.name.into());
    m.insert(LABEL_SERVING.into(), "true".into());
    m
}

fn labels(spec: &DeploymentSpec) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(LABEL_NAME.into(), spec.name.clone().into());
    m.insert(LABEL_MANAGED.into(), "xpyd".into());
    m
}

/// The ClusterIP Service in front of the entry role (for in-cluster clients and
/// `kubectl port-forward`).
pub(crate) fn service(spec: &DeploymentSpec, entry: &Role) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec, entry),
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    })
}

/// The InferencePool the gateway's HTTPRoute points at.
pub(crate) fn inference_pool(spec: &DeploymentSpec, entry: &Role) -> Value {
    json!({
        "apiVersion": "inference.networking.k8s.io/v1",
        "kind": "InferencePool",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec)},
        "spec": {
            "selector": {"matchLabels": selector(spec, entry)},
            "targetPorts": [{"number": HTTP_PORT}],
            "endpointPickerRef": {
                "kind": "Service",
                "name": spec.gateway.epp_service,
                "port": {"number": spec.gateway.epp_port},
                "failureMode": "FailClose",
            },
        },
    })
}
