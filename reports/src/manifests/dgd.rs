//! Target `dgd`: one DynamoGraphDeployment (`nvidia.com/v1alpha1`) for the Dynamo
//! Kubernetes operator, which runs etcd and NATS as part of its platform and creates the
//! pods, Services and (for `multinode`) leader/worker groups of each service itself.
//!
//! Services (keys of `spec.services`): `Frontend` (`python3 -m dynamo.frontend
//! --router-mode kv|round-robin|random`, the simulated router), `PrefillWorker` and
//! `DecodeWorker`, or one `Worker` when aggregated, and `Planner` when Dynamo's SLA
//! planner sizes a role. Workers run the backend's Dynamo component with the engine
//! arguments of the RBG target (the same builders): `dynamo.vllm` (backends `vllm` and
//! `dynamo`; `--is-prefill-worker`), `dynamo.sglang` (SGLang's server arguments,
//! `--disaggregation-mode`) or `dynamo.trtllm` (`--disaggregation-mode`), with TP/DP/EP,
//! batching, memory and KV-cache knobs. Fields follow the CRD's schema
//! (`deploy/cloud/operator/config/crd/bases/nvidia.com_dynamographdeployments.yaml`):
//! `componentType`, `dynamoNamespace`, `replicas`, `resources` (`gpu` per node),
//! `multinode.nodeCount` when TP spans nodes (the operator adds the rank and leader flags),
//! `pvc` (the weights, read-only at `/models`), `sharedMemory`, probes, and
//! `extraPodSpec.mainContainer` with image, command and args.
//!
//! Autoscaling: an HPA-scaled role gets the service's `autoscaling` block (the operator
//! creates the HPA) with the same metric and behaviour as the RBG target's HPA; KEDA has
//! no form in this API and is refused; the SLA planner becomes the `Planner` service.
//!
//! Invariants: the env the operator injects (`DYN_NAMESPACE`, `ETCD_ENDPOINTS`,
//! `NATS_SERVER`) is left to it; service keys and the emitted order are fixed, so the
//! same spec gives byte-identical YAML.

use super::autoscaling::{behavior, hpa_metric};
use super::from_scenario::DEFAULT_PROMETHEUS_URL;
use super::pod::{Container, EnvValue, LABEL_MANAGED, LABEL_NAME, MODEL_MOUNT, Probes, Role};
use super::spec::{Autoscaling, DeploymentSpec, Images, RoleSpec};
use super::{Manifest, ManifestError};
use serde_json::{Map, Value, json};
use xpyd_sim::scenario::{Backend, PredictorKind};

/// `apiVersion` of DynamoGraphDeployment.
pub(crate) const API_VERSION: &str = "nvidia.com/v1alpha1";

/// Env the Dynamo operator sets on every component itself.
const OPERATOR_ENV: [&str; 3] = ["DYN_NAMESPACE", "ETCD_ENDPOINTS", "NATS_SERVER"];

/// `backendFramework` of a backend.
fn framework(b: Backend) -> &'static str {
    match b {
        Backend::Sglang => "sglang",
        Backend::Vllm | Backend::Dynamo => "vllm",
        Backend::Trtllm => "trtllm",
    }
}

/// Engine image of the workers: the spec's, except the stock vLLM and SGLang images,
/// which carry no Dynamo runtime and become the Dynamo runtime image of that engine.
fn worker_image(spec: &DeploymentSpec) -> String {
    let stock = Images::for_backend(spec.backend).engine;
    match spec.backend {
        Backend::Vllm if spec.images.engine == stock => Images::for_backend(Backend::Dynamo).engine,
        Backend::Sglang if spec.images.engine == stock => {
            "nvcr.io/nvidia/ai-dynamo/sglang-runtime:1.0.1".to_string()
        }
        _ => spec.images.engine.clone(),
    }
}

/// What this API cannot express.
fn check(spec: &DeploymentSpec) -> Result<(), ManifestError> {
    for (role, r) in spec.engine_roles() {
        if let Some(Autoscaling::Keda(_)) = r.autoscaling {
            return Err(ManifestError::Invalid {
                field: format!("{role}.autoscaling"),
                value: "keda".into(),
                reason: "a DynamoGraphDeployment service scales through its own HPA (`autoscaling`) or the SLA planner, not KEDA: use an HPA autoscaler, or --target rbg|lws".into(),
            });
        }
        if let Some(p) = &r.sla_planner
            && p.predictor == PredictorKind::MovingAverage
        {
            return Err(ManifestError::Invalid {
                field: format!("{role}.sla_planner.predictor"),
                value: "moving-average".into(),
                reason: "Dynamo's planner has no moving-average predictor (constant, arima, prophet, kalman): simulate with constant or drift (arima)".into(),
            });
        }
    }
    Ok(())
}

/// The DynamoGraphDeployment, in one file.
pub(crate) fn manifests(spec: &DeploymentSpec) -> Result<Vec<Manifest>, ManifestError> {
    check(spec)?;
    let mut roles = match spec.backend {
        Backend::Vllm | Backend::Dynamo => super::dynamo::graph_roles(spec),
        Backend::Trtllm => super::trtllm::graph_roles(spec),
        Backend::Sglang => {
            let mut r = vec![super::dynamo::frontend(spec, super::Layout::Dgd)];
            r.extend(super::sglang::dynamo_workers(spec));
            r
        }
    };
    let image = worker_image(spec);
    for r in &mut roles {
        r.container.image = image.clone();
    }
    let role_spec = |name: &str| {
        spec.engine_roles()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r)
    };
    let mut services = Map::new();
    for r in &roles {
        let (key, component) = match r.name {
            "frontend" => ("Frontend", "frontend"),
            "prefill" => ("PrefillWorker", "worker"),
            "decode" => ("DecodeWorker", "worker"),
            _ => ("Worker", "worker"),
        };
        services.insert(key.into(), service(spec, r, component, role_spec(r.name)));
    }
    if let Some(p) = planner(spec, &image) {
        services.insert("Planner".into(), p);
    }
    let mut labels = Map::new();
    labels.insert(LABEL_NAME.into(), spec.name.clone().into());
    labels.insert(LABEL_MANAGED.into(), "xpyd".into());
    let object = json!({
        "apiVersion": API_VERSION,
        "kind": "DynamoGraphDeployment",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": {
                "xpyd.io/backend": spec.backend.name(),
                "xpyd.io/model": spec.model.hf_repo,
            },
        },
        "spec": {
            "backendFramework": framework(spec.backend),
            "services": services,
        },
    });
    Ok(vec![Manifest {
        file: "dynamographdeployment.yaml".into(),
        object,
    }])
}

fn probe(p: &Probes, path: &str) -> Value {
    json!({
        "httpGet": {"path": path, "port": p.port},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        // The startup budget (weight loading, CUDA graphs) before the probe fails the pod.
        "initialDelaySeconds": 60,
        "failureThreshold": p.startup_budget_s.div_ceil(10).max(3),
    })
}

fn main_container(c: &Container) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), "main".into());
    o.insert("image".into(), c.image.clone().into());
    o.insert("command".into(), json!(c.command));
    if !c.args.is_empty() {
        o.insert("args".into(), json!(c.args));
    }
    let env: Vec<Value> = c
        .env
        .iter()
        .filter(|(k, _)| !OPERATOR_ENV.contains(&k.as_str()))
        .map(|(k, v)| match v {
            EnvValue::Value(s) => json!({"name": k, "value": s}),
            EnvValue::Field(f) => json!({"name": k, "valueFrom": {"fieldRef": {"fieldPath": f}}}),
        })
        .collect();
    if !env.is_empty() {
        o.insert("env".into(), env.into());
    }
    if !c.ports.is_empty() {
        let ports: Vec<Value> = c
            .ports
            .iter()
            .map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"}))
            .collect();
        o.insert("ports".into(), ports.into());
    }
    if c.ipc_lock {
        o.insert(
            "securityContext".into(),
            json!({"capabilities": {"add": ["IPC_LOCK"]}}),
        );
    }
    Value::Object(o)
}

fn resources(spec: &DeploymentSpec, c: &Container) -> Value {
    let r = &c.resources;
    let mut req = Map::new();
    let mut lim = Map::new();
    if !r.cpu.is_empty() {
        req.insert("cpu".into(), r.cpu.into());
    }
    if !r.memory.is_empty() {
        req.insert("memory".into(), r.memory.into());
    }
    if r.gpus > 0 {
        // Per node: the operator multiplies by `multinode.nodeCount`.
        req.insert("gpu".into(), r.gpus.to_string().into());
        lim.insert("gpu".into(), r.gpus.to_string().into());
        if let Some(rdma) = &spec.rdma_resource {
            req.insert("custom".into(), json!({rdma.as_str(): "1"}));
            lim.insert("custom".into(), json!({rdma.as_str(): "1"}));
        }
    }
    let mut o = Map::new();
    o.insert("requests".into(), req.into());
    if !lim.is_empty() {
        o.insert("limits".into(), lim.into());
    }
    Value::Object(o)
}

fn service(spec: &DeploymentSpec, r: &Role, component: &str, rs: Option<&RoleSpec>) -> Value {
    let c = &r.container;
    let mut o = Map::new();
    o.insert("componentType".into(), component.into());
    o.insert("dynamoNamespace".into(), spec.name.clone().into());
    o.insert("replicas".into(), r.replicas.into());
    o.insert("resources".into(), resources(spec, c));
    if let Some(p) = &c.probes {
        o.insert("readinessProbe".into(), probe(p, p.ready_path));
        o.insert("livenessProbe".into(), probe(p, p.live_path));
    }
    if r.pods_per_instance > 1 {
        o.insert(
            "multinode".into(),
            json!({"nodeCount": r.pods_per_instance}),
        );
    }
    if c.model_volume {
        o.insert(
            "pvc".into(),
            json!({"create": false, "name": spec.model_pvc, "mountPoint": MODEL_MOUNT}),
        );
    }
    if c.shm {
        o.insert("sharedMemory".into(), json!({"size": "30Gi"}));
    }
    let mut pod = Map::new();
    pod.insert("mainContainer".into(), main_container(c));
    if !c.resources.node_selector.is_empty() {
        let sel: Map<String, Value> = c
            .resources
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        pod.insert("nodeSelector".into(), sel.into());
    }
    if c.resources.gpus > 0 {
        pod.insert("terminationGracePeriodSeconds".into(), 120.into());
    }
    o.insert("extraPodSpec".into(), pod.into());
    if let Some(Autoscaling::Hpa(h)) = rs.and_then(|rs| rs.autoscaling.as_ref()) {
        let mut a = Map::new();
        a.insert("enabled".into(), true.into());
        a.insert("minReplicas".into(), h.min_replicas.into());
        a.insert("maxReplicas".into(), h.max_replicas.into());
        a.insert("metrics".into(), json!([hpa_metric(spec, r.name, h)]));
        if let Some(b) = behavior(&h.scale_up, &h.scale_down, h.tolerance) {
            a.insert("behavior".into(), b);
        }
        o.insert("autoscaling".into(), a.into());
    }
    Value::Object(o)
}

/// The `Planner` service when the SLA planner sizes any engine role: Dynamo's SLA
/// planner with the simulated interval, bounds, predictor and window, and the GPUs per
/// engine of each role; it reads the engines' metrics from Prometheus and the
/// pre-deployment profile from the model PVC.
fn planner(spec: &DeploymentSpec, image: &str) -> Option<Value> {
    let planned: Vec<(&str, &RoleSpec)> = spec
        .engine_roles()
        .into_iter()
        .filter(|(_, r)| r.sla_planner.is_some())
        .collect();
    let first = planned.first()?.1.sla_planner.as_ref()?;
    let interval = planned
        .iter()
        .filter_map(|(_, r)| r.sla_planner.as_ref())
        .map(|p| p.adjustment_interval_s)
        .min()
        .unwrap_or(first.adjustment_interval_s);
    let min = planned
        .iter()
        .filter_map(|(_, r)| r.sla_planner.as_ref())
        .map(|p| p.min_replicas)
        .min()
        .unwrap_or(first.min_replicas)
        .max(1);
    let budget: u64 = planned
        .iter()
        .filter_map(|(_, r)| {
            r.sla_planner
                .as_ref()
                .map(|p| u64::from(p.max_replicas) * u64::from(r.tp))
        })
        .sum();
    let predictor = match first.predictor {
        PredictorKind::Drift => "arima",
        PredictorKind::Constant | PredictorKind::MovingAverage => "constant",
    };
    let mut args = vec![
        "--environment=kubernetes".to_string(),
        format!("--backend={}", framework(spec.backend)),
        format!("--adjustment-interval={interval}"),
        format!("--min-endpoint={min}"),
        format!("--max-gpu-budget={budget}"),
        format!("--load-predictor={predictor}"),
        format!("--load-prediction-window-size={}", first.prediction_window),
    ];
    for (role, r) in spec.engine_roles() {
        if role != "worker" {
            args.push(format!("--{role}-engine-num-gpu={}", r.tp));
        }
    }
    args.push(format!(
        "--profile-results-dir={MODEL_MOUNT}/profiling_results"
    ));
    Some(json!({
        "componentType": "planner",
        "dynamoNamespace": spec.name,
        "replicas": 1,
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
        "pvc": {"create": false, "name": spec.model_pvc, "mountPoint": MODEL_MOUNT},
        "extraPodSpec": {"mainContainer": {
            "name": "main",
            "image": image,
            "command": ["python3", "-m", "dynamo.planner.planner_sla"],
            "args": args,
            "env": [{"name": "PROMETHEUS_ENDPOINT", "value": DEFAULT_PROMETHEUS_URL}],
        }},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_engine_images_become_dynamo_runtimes() {
        let mut spec = DeploymentSpec::from_scenario(
            &xpyd_sim::Scenario::load_with(None, &Default::default()).unwrap(),
        );
        spec.set_backend(Backend::Vllm);
        assert!(worker_image(&spec).contains("ai-dynamo/vllm-runtime"));
        spec.images.engine = "my/vllm:1".into();
        assert_eq!(worker_image(&spec), "my/vllm:1");
        spec.set_backend(Backend::Sglang);
        assert!(worker_image(&spec).contains("ai-dynamo/sglang-runtime"));
    }
}
