//! Per-role autoscalers: an HPA (`autoscaling/v2`) or a KEDA `ScaledObject`
//! (`keda.sh/v1alpha1`), both targeting the role's `RoleBasedGroupScalingAdapter`
//! (`<rbg>-<role>`, auto-created by the RBG controller for roles with
//! `scalingAdapter.enable: true`, RBG KEP-29), which exposes the `scale` subresource.
//!
//! Follows `examples/rbg/basic__rbg__scaling__scaling-adapter-with-hpa.yaml` (HPA
//! `scaleTargetRef` = `workloads.x-k8s.io/<version>` `RoleBasedGroupScalingAdapter`); the
//! KEDA object uses the same target and a `prometheus` trigger.
//!
//! Invariants: quantities are written in canonical Kubernetes form (integers, or
//! milli-units such as `500m`), thresholds as plain decimals; `behavior` lists only what
//! the spec sets, leaving Kubernetes' defaults (0 s up / 300 s down windows) otherwise.

use super::spec::{
    Autoscaling, DeploymentSpec, HpaMetricSource, HpaSpec, KedaMetricType, KedaSpec, PolicyKind,
    ScalingRules, SelectPolicy,
};
use serde_json::{Map, Value, json};

/// A positive number as a Kubernetes quantity: an integer, else milli-units
/// (rounded, at least `1m`).
pub(crate) fn quantity(v: f64) -> String {
    let milli = (v * 1000.0).round().max(1.0);
    if milli % 1000.0 == 0.0 {
        format!("{}", milli / 1000.0)
    } else {
        format!("{milli}m")
    }
}

fn rules_json(r: &ScalingRules, tolerance: Option<f64>) -> Option<Value> {
    let mut o = Map::new();
    if let Some(w) = r.stabilization_window_s {
        o.insert("stabilizationWindowSeconds".into(), w.into());
    }
    if !r.policies.is_empty() {
        let p: Vec<Value> = r
            .policies
            .iter()
            .map(|p| {
                let kind = match p.kind {
                    PolicyKind::Pods => "Pods",
                    PolicyKind::Percent => "Percent",
                };
                json!({"type": kind, "value": p.value, "periodSeconds": p.period_s})
            })
            .collect();
        o.insert("policies".into(), p.into());
    }
    if let Some(s) = r.select_policy {
        let s = match s {
            SelectPolicy::Max => "Max",
            SelectPolicy::Min => "Min",
            SelectPolicy::Disabled => "Disabled",
        };
        o.insert("selectPolicy".into(), s.into());
    }
    if let Some(t) = tolerance {
        o.insert("tolerance".into(), quantity(t).into());
    }
    (!o.is_empty()).then_some(Value::Object(o))
}

pub(crate) fn behavior(
    up: &ScalingRules,
    down: &ScalingRules,
    tolerance: Option<f64>,
) -> Option<Value> {
    let mut o = Map::new();
    if let Some(v) = rules_json(up, tolerance) {
        o.insert("scaleUp".into(), v);
    }
    if let Some(v) = rules_json(down, tolerance) {
        o.insert("scaleDown".into(), v);
    }
    (!o.is_empty()).then_some(Value::Object(o))
}

fn metadata(spec: &DeploymentSpec, role: &str, annotations: Map<String, Value>) -> Value {
    let mut m = json!({
        "name": format!("{}-{role}", spec.name),
        "namespace": spec.namespace,
        "labels": {
            super::pod::LABEL_NAME: spec.name,
            super::pod::LABEL_COMPONENT: role,
            super::pod::LABEL_MANAGED: "xpyd",
        },
    });
    if !annotations.is_empty() {
        m["annotations"] = Value::Object(annotations);
    }
    m
}

/// The HPA `metrics` entry of `role`'s autoscaler (also the Dynamo service autoscaler's).
pub(crate) fn hpa_metric(spec: &DeploymentSpec, role: &str, h: &HpaSpec) -> Value {
    let target = quantity(h.target_average_value);
    match h.source {
        HpaMetricSource::Pods => json!({
            "type": "Pods",
            "pods": {
                "metric": {"name": h.metric},
                "target": {"type": "AverageValue", "averageValue": target},
            },
        }),
        HpaMetricSource::External => json!({
            "type": "External",
            "external": {
                "metric": {
                    "name": h.metric,
                    "selector": {"matchLabels": {
                        super::pod::LABEL_NAME: spec.name,
                        super::pod::LABEL_COMPONENT: role,
                    }},
                },
                "target": {"type": "Value", "value": target},
            },
        }),
    }
}

/// The autoscaler object of `role`.
pub(crate) fn autoscaler(
    spec: &DeploymentSpec,
    target: &Value,
    role: &str,
    a: &Autoscaling,
) -> Value {
    match a {
        Autoscaling::Hpa(h) => hpa(spec, target, role, h),
        Autoscaling::Keda(k) => keda(spec, target, role, k),
    }
}

fn hpa(spec: &DeploymentSpec, target: &Value, role: &str, h: &HpaSpec) -> Value {
    let mut ann = Map::new();
    if let Some(s) = h.sync_period_s {
        ann.insert(
            "xpyd.io/hpa-sync-period-seconds".into(),
            s.to_string().into(),
        );
    }
    let mut spec_o = Map::new();
    spec_o.insert("scaleTargetRef".into(), target.clone());
    spec_o.insert("minReplicas".into(), h.min_replicas.into());
    spec_o.insert("maxReplicas".into(), h.max_replicas.into());
    let metric = hpa_metric(spec, role, h);
    spec_o.insert("metrics".into(), json!([metric]));
    if let Some(b) = behavior(&h.scale_up, &h.scale_down, h.tolerance) {
        spec_o.insert("behavior".into(), b);
    }
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(spec, role, ann),
        "spec": spec_o,
    })
}

fn keda(spec: &DeploymentSpec, target: &Value, role: &str, k: &KedaSpec) -> Value {
    let mut spec_o = Map::new();
    spec_o.insert("scaleTargetRef".into(), target.clone());
    spec_o.insert("minReplicaCount".into(), k.min_replicas.into());
    spec_o.insert("maxReplicaCount".into(), k.max_replicas.into());
    spec_o.insert("pollingInterval".into(), k.polling_interval_s.into());
    spec_o.insert("cooldownPeriod".into(), k.cooldown_period_s.into());
    if let Some(b) = behavior(&k.scale_up, &k.scale_down, None) {
        spec_o.insert(
            "advanced".into(),
            json!({"horizontalPodAutoscalerConfig": {"behavior": b}}),
        );
    }
    spec_o.insert(
        "triggers".into(),
        json!([keda_trigger(k, render_query(&k.query, spec, role))]),
    );
    json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(spec, role, Map::new()),
        "spec": spec_o,
    })
}

/// The `prometheus` trigger of a KEDA autoscaler with its query filled in (also the
/// KServe `scaling.keda` trigger).
pub(crate) fn keda_trigger(k: &KedaSpec, query: String) -> Value {
    let mut meta = serde_json::Map::new();
    meta.insert("serverAddress".into(), k.prometheus_url.clone().into());
    meta.insert("query".into(), query.into());
    meta.insert("threshold".into(), format!("{}", k.threshold).into());
    if let Some(t) = k.activation_threshold {
        meta.insert("activationThreshold".into(), format!("{t}").into());
    }
    let metric_type = match k.metric_type {
        KedaMetricType::AverageValue => "AverageValue",
        KedaMetricType::Value => "Value",
    };
    json!({"type": "prometheus", "metricType": metric_type, "metadata": meta})
}

/// `${namespace}`, `${name}` and `${role}` in a KEDA query, filled in.
fn render_query(q: &str, spec: &DeploymentSpec, role: &str) -> String {
    q.replace("${namespace}", &spec.namespace)
        .replace("${name}", &spec.name)
        .replace("${role}", role)
}

/// The default KEDA query of a per-pod metric: its sum over the role's pods, so that the
/// desired replica count (`AverageValue`) is that sum over the per-replica threshold.
/// The placeholders are filled in at emission, after any renaming of the deployment.
pub fn default_keda_query(metric: &str) -> String {
    format!("sum({metric}{{namespace=\"${{namespace}}\",pod=~\"${{name}}-${{role}}-.*\"}})")
}

#[cfg(test)]
mod tests {
    use super::{default_keda_query, quantity};

    #[test]
    fn quantities() {
        assert_eq!(quantity(5.0), "5");
        assert_eq!(quantity(0.5), "500m");
        assert_eq!(quantity(0.8), "800m");
        assert_eq!(quantity(1e-9), "1m");
        assert_eq!(quantity(12.25), "12250m");
    }

    #[test]
    fn keda_query_placeholders() {
        assert_eq!(
            default_keda_query("vllm:num_requests_waiting"),
            r#"sum(vllm:num_requests_waiting{namespace="${namespace}",pod=~"${name}-${role}-.*"})"#
        );
    }
}
