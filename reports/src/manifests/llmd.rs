//! Target `llm-d`: Helm values for llm-d's `llm-d-modelservice` chart (v0.4.0,
//! llm-d-incubation/llm-d-modelservice `charts/llm-d-modelservice`), the endpoint picker's
//! configuration as a ConfigMap, the InferencePool the gateway routes to, and per-role
//! HPA/KEDA autoscalers on the Deployments (LeaderWorkerSets) the chart creates.
//!
//! Values follow the chart's `values.yaml` and `templates/_helpers.tpl`:
//! `fullnameOverride` (the chart then names the workloads `<name>-prefill` and
//! `<name>-decode`), `modelArtifacts` (`uri: pvc://<pvc>/<repo>`, mounted at `/models`,
//! pod labels `llm-d.ai/inferenceServing` and `llm-d.ai/model`, which the InferencePool
//! selects), `routing` (port 8000; when disaggregated the routing sidecar in front of
//! decode with connector `nixlv2`, vLLM behind it on 8200), and per role `create`,
//! `replicas`, `parallelism` (`tensor` = TP / DP, `data` = `dataLocal` = DP: the chart adds
//! `--tensor-parallel-size`, `--data-parallel-size`, `--data-parallel-size-local` and
//! requests `tensor x dataLocal` GPUs), `containers` (`modelCommand: vllmServe`: the chart
//! writes `vllm serve <model> --port ... --served-model-name ...`, then our `args`: batching,
//! memory, KV-cache, EP, NixlConnector `--kv-transfer-config`), `volumes` and
//! `nodeSelector`. Aggregated serving is the decode role alone (`prefill.create: false`).
//!
//! Multi-node instances (TP over nodes): `multinode: true` turns every role into a
//! LeaderWorkerSet of `parallelism.workers` identical pods, so a spanning role runs a
//! `custom` command: a shell line that starts `vllm serve` with `--nnodes`,
//! `--node-rank ${LWS_WORKER_INDEX}`, `--master-addr ${LWS_LEADER_ADDRESS}` and adds
//! `--headless` on every pod but the leader; its GPUs per pod are set explicitly (the
//! chart keeps an explicit count) and it has no probes (workers serve no HTTP).
//!
//! Only vLLM with NIXL: the chart's commands are vLLM's and its routing sidecar speaks the
//! NIXL connector. The SLA planner has no form here (replicas stay fixed).
//!
//! Invariant: the values are one plain tree with sorted keys; every container key is one
//! the chart's `llm-d-modelservice.container` template reads (others it drops silently).

use super::autoscaling::autoscaler;
use super::job::shell_quote;
use super::pod::{HTTP_PORT, LABEL_MANAGED, LABEL_NAME, MODEL_MOUNT, Probes, probes_json};
use super::spec::{DeploymentSpec, RoleSpec, RoleTopology, TransferBackend};
use super::vllm::{MASTER_PORT, NIXL_PORT, dbo_args, engine_args, kv_transfer_config};
use super::{Manifest, ManifestError, instance_shape};
use serde_json::{Map, Value, json};
use xpyd_sim::scenario::Backend;

/// Where vLLM listens behind the routing sidecar on decode pods (`routing.proxy.targetPort`).
const PROXY_TARGET_PORT: u16 = 8200;
/// The routing sidecar image the chart version pins by default.
const ROUTING_SIDECAR_IMAGE: &str = "ghcr.io/llm-d/llm-d-routing-sidecar:v0.4.0-rc.1";
/// Pod label the InferencePool selects (the chart's `modelArtifacts.labels`).
pub(crate) const LABEL_INFERENCE_SERVING: &str = "llm-d.ai/inferenceServing";
/// Pod label naming the model.
pub(crate) const LABEL_MODEL: &str = "llm-d.ai/model";
/// Path of the values file under the output folder (outside `kubectl apply -f DIR`).
pub const VALUES_FILE: &str = "helm/llm-d-modelservice-values.yaml";

fn invalid(field: &str, value: &str, reason: &str) -> ManifestError {
    ManifestError::Invalid {
        field: field.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// What the chart cannot express.
fn check(spec: &DeploymentSpec) -> Result<(), ManifestError> {
    if spec.backend != Backend::Vllm {
        return Err(invalid(
            "backend",
            spec.backend.name(),
            "target llm-d: the llm-d-modelservice chart runs vLLM (`modelCommand: vllmServe`, a NIXL routing sidecar); allowed backend: vllm (or use --target rbg|lws|dgd)",
        ));
    }
    if spec.transfer_backend == TransferBackend::Mooncake
        && matches!(spec.topology, RoleTopology::Disaggregated { .. })
    {
        return Err(invalid(
            "transfer_backend",
            "mooncake",
            "target llm-d: the routing sidecar drives prefill/decode over the NIXL connector (`routing.proxy.connector: nixlv2`); allowed: nixl",
        ));
    }
    Ok(())
}

/// `(chart role, spec)` of the engine roles: aggregated serving is the decode role.
fn chart_roles(spec: &DeploymentSpec) -> Vec<(&'static str, &RoleSpec)> {
    match &spec.topology {
        RoleTopology::Disaggregated { prefill, decode } => {
            vec![("prefill", prefill), ("decode", decode)]
        }
        RoleTopology::Aggregated(r) => vec![("decode", r)],
    }
}

/// Engine args minus what the chart writes itself from `parallelism` and `modelArtifacts`.
fn chart_args(spec: &DeploymentSpec, r: &RoleSpec) -> Vec<String> {
    const CHART_FLAGS: [&str; 3] = [
        "--served-model-name",
        "--tensor-parallel-size",
        "--data-parallel-size",
    ];
    let all = engine_args(spec, r);
    let mut out = Vec::new();
    let mut i = 0;
    while i < all.len() {
        if CHART_FLAGS.contains(&all[i].as_str()) {
            i += 2;
        } else {
            out.push(all[i].clone());
            i += 1;
        }
    }
    out
}

fn container(spec: &DeploymentSpec, role: &str, r: &RoleSpec, disagg: bool) -> Value {
    let (pods, gpus) = instance_shape(r);
    let port = if disagg && role == "decode" {
        PROXY_TARGET_PORT
    } else {
        HTTP_PORT
    };
    let mut extra = Vec::new();
    extra.extend(dbo_args(r, disagg.then_some(role)));
    let mut env =
        vec![json!({"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})];
    let mut ports = vec![json!({"name": "metrics", "containerPort": port, "protocol": "TCP"})];
    if disagg {
        extra.push("--kv-transfer-config".into());
        extra.push(kv_transfer_config(TransferBackend::Nixl, role));
        env.push(json!({"name": "VLLM_NIXL_SIDE_CHANNEL_HOST", "value": "$(POD_IP)"}));
        env.push(json!({"name": "VLLM_NIXL_SIDE_CHANNEL_PORT", "value": NIXL_PORT.to_string()}));
        ports.push(json!({"name": "nixl", "containerPort": NIXL_PORT, "protocol": "TCP"}));
    }
    let mut c = Map::new();
    c.insert("name".into(), "vllm".into());
    c.insert("image".into(), spec.images.engine.clone().into());
    c.insert("mountModelVolume".into(), true.into());
    c.insert(
        "volumeMounts".into(),
        json!([{"name": "dshm", "mountPath": "/dev/shm"}]),
    );
    if pods > 1 {
        // Every pod of the LeaderWorkerSet runs this line; the leader (index 0) serves.
        ports.push(json!({"name": "dist", "containerPort": MASTER_PORT, "protocol": "TCP"}));
        let mut a = vec![
            "exec".to_string(),
            "vllm".into(),
            "serve".into(),
            format!("{MODEL_MOUNT}/{}", spec.model.hf_repo),
            "--port".into(),
            port.to_string(),
        ];
        a.extend(engine_args(spec, r).iter().map(|s| s.replace("$$", "$")));
        a.extend(extra);
        let mut line = String::from(
            "if [ \"${LWS_WORKER_INDEX}\" = 0 ]; then HEADLESS=; else HEADLESS=--headless; fi; ",
        );
        line.push_str(
            &a.iter()
                .map(|s| shell_quote(s))
                .collect::<Vec<_>>()
                .join(" "),
        );
        line.push_str(&format!(
            " --nnodes {pods} --node-rank \"${{LWS_WORKER_INDEX}}\" --master-addr \"${{LWS_LEADER_ADDRESS}}\" --master-port {MASTER_PORT} ${{HEADLESS}}"
        ));
        c.insert("modelCommand".into(), "custom".into());
        c.insert("command".into(), json!(["/bin/sh", "-c"]));
        // Kubernetes expands `$(VAR)` and turns `$$` into `$` in args: escape every `$`.
        c.insert("args".into(), json!([line.replace('$', "$$")]));
    } else {
        let mut a = chart_args(spec, r);
        a.extend(extra);
        c.insert("modelCommand".into(), "vllmServe".into());
        c.insert("args".into(), a.into());
        let probes = Probes {
            port,
            ready_path: "/health",
            live_path: "/health",
            startup_budget_s: 1800,
        };
        for (k, v) in probes_json(&probes) {
            c.insert(k.into(), v);
        }
    }
    c.insert("env".into(), env.into());
    c.insert("ports".into(), ports.into());
    super::insert_engine_resources(&mut c, spec, gpus);
    Value::Object(c)
}

fn role_values(spec: &DeploymentSpec, role: &str, r: &RoleSpec, disagg: bool) -> Value {
    let (pods, _) = instance_shape(r);
    let parallelism = if pods > 1 {
        json!({"tensor": r.tp, "data": 1, "dataLocal": 1, "workers": pods})
    } else {
        let dp = r.dp.max(1);
        json!({"tensor": r.tp / dp, "data": dp, "dataLocal": dp, "workers": 1})
    };
    let mut o = Map::new();
    o.insert("create".into(), true.into());
    o.insert("replicas".into(), r.replicas.into());
    o.insert(
        "autoscaling".into(),
        json!({"enabled": r.autoscaling.is_some()}),
    );
    o.insert("parallelism".into(), parallelism);
    o.insert(
        "containers".into(),
        json!([container(spec, role, r, disagg)]),
    );
    o.insert(
        "volumes".into(),
        json!([{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "30Gi"}}]),
    );
    o.insert("terminationGracePeriodSeconds".into(), 120.into());
    if !r.node_selector.is_empty() {
        let sel: Map<String, Value> = r
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        o.insert("nodeSelector".into(), sel.into());
    }
    Value::Object(o)
}

/// The chart's values.
fn values(spec: &DeploymentSpec) -> Value {
    let disagg = matches!(spec.topology, RoleTopology::Disaggregated { .. });
    let multinode = spec
        .engine_roles()
        .iter()
        .any(|(_, r)| instance_shape(r).0 > 1);
    let mut o = Map::new();
    o.insert("fullnameOverride".into(), spec.name.clone().into());
    o.insert(
        "modelArtifacts".into(),
        json!({
            "name": spec.model.served_name,
            "uri": format!("pvc://{}/{}", spec.model_pvc, spec.model.hf_repo),
            "mountPath": MODEL_MOUNT,
            "labels": {LABEL_INFERENCE_SERVING: "true", LABEL_MODEL: spec.name},
        }),
    );
    o.insert("multinode".into(), multinode.into());
    o.insert("accelerator".into(), json!({"type": "nvidia"}));
    o.insert(
        "routing".into(),
        json!({
            "servicePort": HTTP_PORT,
            "proxy": {
                "enabled": disagg,
                "image": ROUTING_SIDECAR_IMAGE,
                "connector": "nixlv2",
                "targetPort": PROXY_TARGET_PORT,
                "secure": false,
            },
        }),
    );
    for (role, r) in chart_roles(spec) {
        o.insert(role.into(), role_values(spec, role, r, disagg));
    }
    if !disagg {
        o.insert("prefill".into(), json!({"create": false, "replicas": 0}));
    }
    Value::Object(o)
}

fn labels(spec: &DeploymentSpec) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(LABEL_NAME.into(), spec.name.clone().into());
    m.insert(LABEL_MANAGED.into(), "xpyd".into());
    m
}

/// Name of the ConfigMap holding the EPP configuration.
pub(crate) fn epp_config_map_name(spec: &DeploymentSpec) -> String {
    format!("{}-epp-config", spec.name)
}

/// Every file of the target, in order: values, EPP configuration, InferencePool,
/// autoscalers.
pub(crate) fn manifests(spec: &DeploymentSpec) -> Result<Vec<Manifest>, ManifestError> {
    check(spec)?;
    let epp = super::epp::endpoint_picker_config(spec, "llm-d")?;
    let epp_text = super::yaml::body(&epp).map_err(|message| ManifestError::Yaml {
        file: "epp-config.yaml".into(),
        message,
    })?;
    let mut out = vec![
        Manifest {
            file: VALUES_FILE.into(),
            object: values(spec),
        },
        Manifest {
            file: "epp-config.yaml".into(),
            object: json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": epp_config_map_name(spec),
                    "namespace": spec.namespace,
                    "labels": labels(spec),
                },
                "data": {"epp-config.yaml": epp_text},
            }),
        },
        Manifest {
            file: "inferencepool.yaml".into(),
            object: json!({
                "apiVersion": "inference.networking.k8s.io/v1",
                "kind": "InferencePool",
                "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec)},
                "spec": {
                    "selector": {"matchLabels": {LABEL_INFERENCE_SERVING: "true", LABEL_MODEL: spec.name}},
                    "targetPorts": [{"number": HTTP_PORT}],
                    "endpointPickerRef": {
                        "kind": "Service",
                        "name": spec.gateway.epp_service,
                        "port": {"number": spec.gateway.epp_port},
                        "failureMode": "FailClose",
                    },
                },
            }),
        },
    ];
    let multinode = spec
        .engine_roles()
        .iter()
        .any(|(_, r)| instance_shape(r).0 > 1);
    for (role, r) in chart_roles(spec) {
        if let Some(a) = &r.autoscaling {
            let target = if multinode {
                json!({"apiVersion": super::lws::API_VERSION, "kind": "LeaderWorkerSet", "name": format!("{}-{role}", spec.name)})
            } else {
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("{}-{role}", spec.name)})
            };
            out.push(Manifest {
                file: format!("autoscaler-{role}.yaml"),
                object: autoscaler(spec, &target, role, a),
            });
        }
    }
    Ok(out)
}
