//! Target `kserve`: one KServe `LLMInferenceService` (`serving.kserve.io/v1alpha1`), which
//! the KServe controller turns into the decode (or only) workload `<name>-kserve`, the
//! prefill workload `<name>-kserve-prefill`, the llm-d routing sidecar, the endpoint
//! picker, an InferencePool, a Gateway route and, when scaled, KEDA ScaledObjects.
//!
//! Fields follow kserve/kserve `pkg/apis/serving/v1alpha1/llm_inference_service_types.go`:
//! `model` (`uri: pvc://<pvc>/<repo>`, mounted by the storage initializer at
//! `/mnt/models`; `name`, the served name), the top-level workload (decode, or the engine
//! when aggregated) and `prefill` with `replicas` or `scaling`, `parallelism` (`tensor` = TP
//! / DP, `data` = `dataLocal` = DP, `expert`), and `template` (a PodSpec merged over the
//! controller's vLLM templates `config-llm-template`, `config-llm-prefill-template`,
//! `config-llm-decode-template`, whose command runs `vllm serve /mnt/models --port ...
//! --served-model-name ...` and hands the container's `args` to it: ours are the engine
//! flags, TP/DP/EP and, when disaggregated, the NixlConnector `--kv-transfer-config`);
//! `router` with a managed `gateway`, `route` and `scheduler` whose inline
//! `EndpointPickerConfig` carries the simulated router's scorers.
//!
//! What it cannot express, decided from the same sources: backends other than vLLM (the
//! prefill/decode templates are vLLM with the NIXL routing sidecar; KServe's SGLang template
//! is aggregated only and needs a ServingRuntime); Mooncake; tensor parallelism across
//! nodes (the webhook `validateWorkloadParallelism` accepts `worker` only with data or
//! pipeline parallelism); an HPA (`scaling` creates KEDA ScaledObjects from
//! `scaling.keda.triggers`; its HPA actuator lives under the deprecated `scaling.wva`, which
//! the webhook rejects). A KEDA autoscaler becomes `scaling` (`minReplicas` at least 1, a
//! simulated minimum of 0 as `idleReplicaCount: 0`), without `replicas` (the CRD's rule
//! makes them exclusive).
//!
//! Invariant: the engine image is left to the controller's template unless the spec
//! names a non-default one, so the manifest runs the vLLM build KServe ships its templates
//! for.

use super::autoscaling::{behavior, keda_trigger};
use super::pod::{LABEL_MANAGED, LABEL_NAME};
use super::spec::{Autoscaling, DeploymentSpec, Images, RoleSpec, RoleTopology, TransferBackend};
use super::vllm::{NIXL_PORT, dbo_args, engine_args, kv_transfer_config};
use super::{Manifest, ManifestError, instance_shape};
use serde_json::{Map, Value, json};
use xpyd_sim::scenario::Backend;

/// `apiVersion` of LLMInferenceService.
pub(crate) const API_VERSION: &str = "serving.kserve.io/v1alpha1";

fn invalid(field: String, value: &str, reason: String) -> ManifestError {
    ManifestError::Invalid {
        field,
        value: value.into(),
        reason,
    }
}

/// What this API cannot express.
fn check(spec: &DeploymentSpec) -> Result<(), ManifestError> {
    if spec.backend != Backend::Vllm {
        return Err(invalid(
            "backend".into(),
            spec.backend.name(),
            "target kserve: LLMInferenceService's prefill/decode templates run vLLM with the llm-d routing sidecar (its SGLang template is aggregated only and needs a ServingRuntime); allowed backend: vllm (or use --target rbg|lws|dgd)".into(),
        ));
    }
    let disagg = matches!(spec.topology, RoleTopology::Disaggregated { .. });
    if disagg && spec.transfer_backend == TransferBackend::Mooncake {
        return Err(invalid(
            "transfer_backend".into(),
            "mooncake",
            "target kserve: the decode template's routing sidecar runs `--kv-connector=nixlv2`; allowed: nixl".into(),
        ));
    }
    for (role, r) in spec.engine_roles() {
        if instance_shape(r).0 > 1 {
            return Err(invalid(
                format!("{role}.tp"),
                &r.tp.to_string(),
                format!(
                    "target kserve: an LLMInferenceService spans nodes (`worker`) only with data or pipeline parallelism (its webhook rejects a worker otherwise), not tensor parallelism of {} GPUs over nodes of {}: keep tp within a node, or use --target rbg|lws|dgd|llm-d",
                    r.tp, r.gpus_per_node
                ),
            ));
        }
        if let Some(Autoscaling::Hpa(_)) = r.autoscaling {
            return Err(invalid(
                format!("{role}.autoscaling"),
                "hpa",
                "target kserve: LLMInferenceService `scaling` creates KEDA ScaledObjects from `scaling.keda.triggers`; its HPA actuator exists only under the deprecated `scaling.wva`, which the webhook rejects: allowed autoscaler: keda (or use --target rbg|lws|llm-d)".into(),
            ));
        }
    }
    Ok(())
}

/// Name of the workload the controller creates for a role.
fn workload_name(spec: &DeploymentSpec, role: &str) -> String {
    match role {
        "prefill" => format!("{}-kserve-prefill", spec.name),
        _ => format!("{}-kserve", spec.name),
    }
}

/// The role's PromQL pod matcher: decode pods are `<name>-kserve-*` but not
/// `<name>-kserve-prefill-*`.
fn pod_matcher(spec: &DeploymentSpec, role: &str) -> String {
    match role {
        "prefill" => format!("pod=~\"{}-.*\"", workload_name(spec, "prefill")),
        _ => format!(
            "pod=~\"{}-.*\",pod!~\"{}-.*\"",
            workload_name(spec, role),
            workload_name(spec, "prefill")
        ),
    }
}

fn args(spec: &DeploymentSpec, role: &str, r: &RoleSpec, disagg: bool) -> Vec<String> {
    let all = engine_args(spec, r);
    let mut out = Vec::new();
    let mut i = 0;
    while i < all.len() {
        // The template passes the served name itself.
        if all[i] == "--served-model-name" {
            i += 2;
        } else {
            out.push(all[i].clone());
            i += 1;
        }
    }
    out.extend(dbo_args(r, disagg.then_some(role)));
    if disagg {
        out.push("--kv-transfer-config".into());
        out.push(kv_transfer_config(TransferBackend::Nixl, role));
    }
    out
}

fn template(spec: &DeploymentSpec, role: &str, r: &RoleSpec, disagg: bool) -> Value {
    let (_, gpus) = instance_shape(r);
    let mut c = Map::new();
    c.insert("name".into(), "main".into());
    if spec.images.engine != Images::for_backend(Backend::Vllm).engine {
        c.insert("image".into(), spec.images.engine.clone().into());
    }
    c.insert("args".into(), args(spec, role, r, disagg).into());
    if disagg {
        c.insert(
            "env".into(),
            json!([
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "VLLM_NIXL_SIDE_CHANNEL_HOST", "value": "$(POD_IP)"},
                {"name": "VLLM_NIXL_SIDE_CHANNEL_PORT", "value": NIXL_PORT.to_string()},
            ]),
        );
    }
    super::insert_engine_resources(&mut c, spec, gpus);
    let mut pod = Map::new();
    pod.insert("containers".into(), json!([c]));
    if !r.node_selector.is_empty() {
        let sel: Map<String, Value> = r
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        pod.insert("nodeSelector".into(), sel.into());
    }
    Value::Object(pod)
}

/// One workload (`spec` itself for decode, `spec.prefill`).
fn workload(spec: &DeploymentSpec, role: &str, r: &RoleSpec, disagg: bool) -> Map<String, Value> {
    let mut o = Map::new();
    match &r.autoscaling {
        Some(Autoscaling::Keda(k)) => {
            let query = k
                .query
                .replace("pod=~\"${name}-${role}-.*\"", &pod_matcher(spec, role))
                .replace("${name}-${role}", &workload_name(spec, role))
                .replace("${namespace}", &spec.namespace)
                .replace("${name}", &spec.name)
                .replace("${role}", role);
            let mut keda = Map::new();
            keda.insert("pollingInterval".into(), k.polling_interval_s.into());
            keda.insert("cooldownPeriod".into(), k.cooldown_period_s.into());
            if k.min_replicas == 0 {
                keda.insert("idleReplicaCount".into(), 0.into());
            }
            if let Some(b) = behavior(&k.scale_up, &k.scale_down, None) {
                keda.insert(
                    "advanced".into(),
                    json!({"horizontalPodAutoscalerConfig": {"behavior": b}}),
                );
            }
            keda.insert("triggers".into(), json!([keda_trigger(k, query)]));
            o.insert(
                "scaling".into(),
                json!({
                    "minReplicas": k.min_replicas.max(1),
                    "maxReplicas": k.max_replicas,
                    "keda": keda,
                }),
            );
        }
        // Refused by `check`.
        Some(Autoscaling::Hpa(_)) => unreachable!("checked"),
        None => {
            o.insert("replicas".into(), r.replicas.into());
        }
    }
    let dp = r.dp.max(1);
    let mut par = Map::new();
    par.insert("tensor".into(), (r.tp / dp).into());
    if dp > 1 {
        par.insert("data".into(), dp.into());
        par.insert("dataLocal".into(), dp.into());
    }
    if r.ep > 1 {
        par.insert("expert".into(), true.into());
    }
    o.insert("parallelism".into(), par.into());
    o.insert("template".into(), template(spec, role, r, disagg));
    o
}

/// The LLMInferenceService, in one file.
pub(crate) fn manifests(spec: &DeploymentSpec) -> Result<Vec<Manifest>, ManifestError> {
    check(spec)?;
    let epp = super::epp::endpoint_picker_config(spec, "kserve")?;
    let (mut s, prefill) = match &spec.topology {
        RoleTopology::Disaggregated { prefill, decode } => (
            workload(spec, "decode", decode, true),
            Some(workload(spec, "prefill", prefill, true)),
        ),
        RoleTopology::Aggregated(r) => (workload(spec, "worker", r, false), None),
    };
    s.insert(
        "model".into(),
        json!({
            "uri": format!("pvc://{}/{}", spec.model_pvc, spec.model.hf_repo),
            "name": spec.model.served_name,
        }),
    );
    if let Some(p) = prefill {
        s.insert("prefill".into(), p.into());
    }
    s.insert(
        "router".into(),
        json!({"gateway": {}, "route": {}, "scheduler": {"config": {"inline": epp}}}),
    );
    let mut labels = Map::new();
    labels.insert(LABEL_NAME.into(), spec.name.clone().into());
    labels.insert(LABEL_MANAGED.into(), "xpyd".into());
    Ok(vec![Manifest {
        file: "llminferenceservice.yaml".into(),
        object: json!({
            "apiVersion": API_VERSION,
            "kind": "LLMInferenceService",
            "metadata": {
                "name": spec.name,
                "namespace": spec.namespace,
                "labels": labels,
                "annotations": {
                    "xpyd.io/backend": spec.backend.name(),
                    "xpyd.io/model": spec.model.hf_repo,
                },
            },
            "spec": s,
        }),
    }])
}
