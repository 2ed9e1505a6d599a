//! The RoleBasedGroup (`workloads.x-k8s.io`) holding every role of a deployment.
//!
//! Follows `examples/rbg/inference__pd-disagg-standalone.yaml` (v1alpha2, one pod per
//! instance: `standalonePattern.template`), `inference__pd-disagg-leader-worker.yaml`
//! (v1alpha2, multi-node TP: `leaderWorkerPattern` with `size`, a full `template` and
//! leader/worker patches, pods told their place by `RBG_LWP_*`),
//! `deprecated__v1alpha1__pd-disagg__sglang__sglang-pd.yaml` (v1alpha1: `template` on the
//! role) and, for v1alpha1 multi-node, the RBG docs' LeaderWorkerSet form
//! (`workload: leaderworkerset.x-k8s.io/v1 LeaderWorkerSet` + `leaderWorkerSet.size` and
//! both `patchLeaderTemplate`/`patchWorkerTemplate`, pods told their place by `LWS_*`).
//! Autoscaled roles set `scalingAdapter.enable` (as in
//! `basic__rbg__scaling__scaling-adapter-with-hpa.yaml`).
//!
//! Invariants: exactly one of `standalonePattern`/`leaderWorkerPattern` per v1alpha2
//! role and exactly one of `template`/`templateRef` (we always inline `template`), the
//! CRD's CEL rules; probes sit on serving pods only (a multi-node instance's leader,
//! through the leader patch, because workers serve no HTTP), and so does the
//! `xpyd.io/serving` label that Services, the InferencePool and router discovery select.

use super::RbgApi;
use super::pod::{
    GroupEnv, LABEL_MANAGED, LABEL_SERVING, Role, pod_labels, pod_template, probes_json,
};
use super::spec::DeploymentSpec;
use serde_json::{Map, Value, json};

/// API group of RBG.
pub(crate) const GROUP: &str = "workloads.x-k8s.io";

/// The env vars a multi-node instance's pods get under each API version.
pub(crate) fn group_env(api: RbgApi) -> GroupEnv {
    match api {
        RbgApi::V1alpha2 => GroupEnv {
            leader_address: "RBG_LWP_LEADER_ADDRESS",
            group_size: "RBG_LWP_GROUP_SIZE",
            worker_index: "RBG_LWP_WORKER_INDEX",
        },
        RbgApi::V1alpha1 => GroupEnv {
            leader_address: "LWS_LEADER_ADDRESS",
            group_size: "LWS_GROUP_SIZE",
            worker_index: "LWS_WORKER_INDEX",
        },
    }
}

/// DNS name of instance `i`'s (leader) pod of `role`, through the role's headless
/// service, as the reference examples address engines from the router.
pub(crate) fn pod_host(deployment: &str, role: &str, i: u32) -> String {
    format!("{deployment}-{role}-{i}.s-{deployment}-{role}")
}

/// The RoleBasedGroup object.
pub(crate) fn rolebasedgroup(spec: &DeploymentSpec, api: RbgApi, roles: &[Role]) -> Value {
    let roles: Vec<Value> = roles.iter().map(|r| role_json(spec, api, r)).collect();
    let mut labels = Map::new();
    labels.insert(super::pod::LABEL_NAME.into(), spec.name.clone().into());
    labels.insert(LABEL_MANAGED.into(), "xpyd".into());
    json!({
        "apiVersion": format!("{GROUP}/{}", api.version()),
        "kind": "RoleBasedGroup",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": {
                "xpyd.io/backend": spec.backend.name(),
                "xpyd.io/model": spec.model.hf_repo,
            },
        },
        "spec": {"roles": roles},
    })
}

fn role_json(spec: &DeploymentSpec, api: RbgApi, r: &Role) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), r.name.into());
    o.insert("replicas".into(), r.replicas.into());
    if !r.dependencies.is_empty() {
        o.insert("dependencies".into(), json!(r.dependencies));
    }
    if r.scaling_adapter {
        o.insert("scalingAdapter".into(), json!({"enable": true}));
    }
    let c = &r.container;
    let pvc = spec.model_pvc.as_str();
    let mut labels = pod_labels(&spec.name, r.name);
    if r.pods_per_instance <= 1 {
        if c.probes.is_some() {
            labels.insert(LABEL_SERVING.into(), "true".into());
        }
        let template = pod_template(labels, r, pvc, true);
        match api {
            RbgApi::V1alpha2 => {
                o.insert("standalonePattern".into(), json!({"template": template}));
            }
            RbgApi::V1alpha1 => {
                o.insert("template".into(), template);
            }
        }
        return Value::Object(o);
    }
    // Multi-node instance: one template for every pod, patched per position.
    // Restart the whole instance when one pod restarts: a TP group cannot lose a rank.
    o.insert(
        "rolloutStrategy".into(),
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}),
    );
    let template = pod_template(labels, r, pvc, false);
    let mut leader_labels = Map::new();
    leader_labels.insert("xpyd.io/pod-role".into(), "leader".into());
    if c.probes.is_some() {
        leader_labels.insert(LABEL_SERVING.into(), "true".into());
    }
    let mut leader_container = Map::new();
    leader_container.insert("name".into(), c.name.into());
    if let Some(p) = &c.probes {
        for (k, v) in probes_json(p) {
            leader_container.insert(k.into(), v);
        }
    }
    let leader_patch = json!({
        "metadata": {"labels": leader_labels},
        "spec": {"containers": [leader_container]},
    });
    let mut worker_patch = json!({"metadata": {"labels": {"xpyd.io/pod-role": "worker"}}});
    if let Some(args) = &c.worker_args {
        worker_patch["spec"] = json!({"containers": [{"name": c.name, "args": args}]});
    }
    match api {
        RbgApi::V1alpha2 => {
            o.insert(
                "leaderWorkerPattern".into(),
                json!({
                    "size": r.pods_per_instance,
                    "restartPolicyConfig": {"type": "RecreateRoleInstanceOnPodRestart"},
                    "template": template,
                    "leaderTemplatePatch": leader_patch,
                    "workerTemplatePatch": worker_patch,
                }),
            );
        }
        RbgApi::V1alpha1 => {
            o.insert(
                "workload".into(),
                json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet"}),
            );
            o.insert(
                "restartPolicy".into(),
                "RecreateRoleInstanceOnPodRestart".into(),
            );
            o.insert("template".into(), template);
            o.insert(
                "leaderWorkerSet".into(),
                json!({
                    "size": r.pods_per_instance,
                    "patchLeaderTemplate": leader_patch,
                    "patchWorkerTemplate": worker_patch,
                }),
            );
        }
    }
    Value::Object(o)
}
