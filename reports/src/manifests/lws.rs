//! Target `lws`: one LeaderWorkerSet (`leaderworkerset.x-k8s.io/v1`) per role, for
//! clusters with the LWS controller and no RBG. An instance is a group of `size` pods:
//! one when TP fits a node, else a leader and `tp / gpus_per_node - 1` workers, started
//! together and recreated together (`RecreateGroupOnPodRestart`: a TP group cannot lose
//! a rank). The roles, containers and commands are the RBG target's (the same backend
//! modules build them); only the wrapper and the addressing differ.
//!
//! Follows the LWS API (`api/leaderworkerset/v1/leaderworkerset_types.go`): the leader
//! pod of group `i` is `<lws>-<i>`, reachable as `<lws>-<i>.<lws>` through the headless
//! Service the controller creates per LeaderWorkerSet (subdomain policy `Shared`), and
//! every pod gets `LWS_LEADER_ADDRESS`, `LWS_GROUP_SIZE` and `LWS_WORKER_INDEX`.
//!
//! Invariants: probes and the `xpyd.io/serving` label sit on the leader template only
//! (workers serve no HTTP), as in the RBG target; with `size: 1` the worker template is
//! the only template (LWS uses it for the leader) and carries both. LWS has no start
//! order between objects: a role that depends on another (a router on its engines,
//! Dynamo workers on etcd/NATS) retries or restarts until its dependency is up.

use super::pod::{GroupEnv, LABEL_MANAGED, LABEL_NAME, LABEL_SERVING, Role, pod_labels};
use super::pod::{pod_template, probes_json};
use super::spec::DeploymentSpec;
use serde_json::{Map, Value, json};

/// `apiVersion` of LeaderWorkerSet.
pub(crate) const API_VERSION: &str = "leaderworkerset.x-k8s.io/v1";

/// The env vars the LWS controller injects into every pod of a group.
pub(crate) const GROUP_ENV: GroupEnv = GroupEnv {
    leader_address: "LWS_LEADER_ADDRESS",
    group_size: "LWS_GROUP_SIZE",
    worker_index: "LWS_WORKER_INDEX",
};

/// DNS name of group `i`'s leader pod of `role`: `<lws>-<i>.<lws>`, the LeaderWorkerSet
/// being `<deployment>-<role>`.
pub(crate) fn pod_host(deployment: &str, role: &str, i: u32) -> String {
    let lws = format!("{deployment}-{role}");
    format!("{lws}-{i}.{lws}")
}

/// The LeaderWorkerSet of one role.
pub(crate) fn leaderworkerset(spec: &DeploymentSpec, r: &Role) -> Value {
    let c = &r.container;
    let pvc = spec.model_pvc.as_str();
    let serving = |mut labels: Map<String, Value>| {
        if c.probes.is_some() {
            labels.insert(LABEL_SERVING.into(), "true".into());
        }
        labels
    };
    let mut lwt = Map::new();
    lwt.insert("size".into(), r.pods_per_instance.into());
    lwt.insert("restartPolicy".into(), "RecreateGroupOnPodRestart".into());
    if r.pods_per_instance <= 1 {
        let labels = serving(pod_labels(&spec.name, r.name));
        lwt.insert("workerTemplate".into(), pod_template(labels, r, pvc, true));
    } else {
        let mut leader_labels = serving(pod_labels(&spec.name, r.name));
        leader_labels.insert("xpyd.io/pod-role".into(), "leader".into());
        let mut leader = pod_template(leader_labels, r, pvc, false);
        if let Some(p) = &c.probes {
            let main = &mut leader["spec"]["containers"][0];
            for (k, v) in probes_json(p) {
                main[k] = v;
            }
        }
        let mut worker_labels = pod_labels(&spec.name, r.name);
        worker_labels.insert("xpyd.io/pod-role".into(), "worker".into());
        let mut worker = pod_template(worker_labels, r, pvc, false);
        if let Some(args) = &c.worker_args {
            worker["spec"]["containers"][0]["args"] = json!(args);
        }
        lwt.insert("leaderTemplate".into(), leader);
        lwt.insert("workerTemplate".into(), worker);
    }
    let mut labels = Map::new();
    labels.insert(LABEL_NAME.into(), spec.name.clone().into());
    labels.insert(LABEL_MANAGED.into(), "xpyd".into());
    labels.insert(super::pod::LABEL_COMPONENT.into(), r.name.into());
    json!({
        "apiVersion": API_VERSION,
        "kind": "LeaderWorkerSet",
        "metadata": {
            "name": format!("{}-{}", spec.name, r.name),
            "namespace": spec.namespace,
            "labels": labels,
            "annotations": {
                "xpyd.io/backend": spec.backend.name(),
                "xpyd.io/model": spec.model.hf_repo,
            },
        },
        "spec": {
            "replicas": r.replicas,
            "startupPolicy": "LeaderCreated",
            "rolloutStrategy": {
                "type": "RollingUpdate",
                "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0},
            },
            "leaderWorkerTemplate": lwt,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::pod_host;

    #[test]
    fn leader_hosts_follow_the_lws_naming() {
        assert_eq!(pod_host("pd", "prefill", 3), "pd-prefill-3.pd-prefill");
    }
}
