//! RBAC for the PD router's Kubernetes service discovery: a ServiceAccount, a Role
//! allowed to read pods in the namespace, and the RoleBinding joining them. Emitted only
//! when the router discovers engines (an engine role is autoscaled).
//!
//! Invariant: least privilege: `get`/`list`/`watch` on `pods` in the deployment's own
//! namespace, nothing cluster-wide.

use super::pod::{LABEL_MANAGED, LABEL_NAME};
use super::spec::DeploymentSpec;
use serde_json::{Value, json};

fn metadata(spec: &DeploymentSpec, name: &str) -> Value {
    json!({
        "name": name,
        "namespace": spec.namespace,
        "labels": {LABEL_NAME: spec.name, LABEL_MANAGED: "xpyd"},
    })
}

/// `(file, object)` for the ServiceAccount, Role and RoleBinding named `account`.
pub(crate) fn router_rbac(spec: &DeploymentSpec, account: &str) -> Vec<(String, Value)> {
    vec![
        (
            "router-serviceaccount.yaml".into(),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(spec, account)}),
        ),
        (
            "router-role.yaml".into(),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": metadata(spec, account),
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
            }),
        ),
        (
            "router-rolebinding.yaml".into(),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": metadata(spec, account),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": spec.namespace}],
            }),
        ),
    ]
}
