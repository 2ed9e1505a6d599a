//! The endpoint picker's configuration (`EndpointPickerConfig`, `llm-d.ai/v1alpha1`) for
//! the targets whose gateway runs the llm-d inference scheduler: `llm-d` (a ConfigMap the
//! EPP reads) and `kserve` (inline in `spec.router.scheduler.config`).
//!
//! Follows llm-d/llm-d-inference-scheduler `deploy/config/epp-config.yaml` (aggregated:
//! `decode-filter`, `single-profile-handler`, one `default` profile) and
//! `deploy/config/pd-epp-config.yaml` (disaggregated: `prefill-filter`/`decode-filter`,
//! `prefix-based-pd-decider` with `nonCachedTokens`, `disagg-profile-handler`, profiles
//! `prefill` and `decode`), with the scorers of
//! `deploy/config/epp-precise-prefix-cache-config.yaml` (`prefix-cache-scorer`,
//! `queue-scorer`, `kv-cache-utilization-scorer`, `max-score-picker`); field names from
//! `apix/config/v1alpha1/endpointpickerconfig_types.go`.
//!
//! Router mapping: every scorer with a positive weight in [`EppScorers`] is configured
//! and weighted in every profile, with `max-score-picker`; no scorer (the random router)
//! gives `random-picker`. Round-robin has no picker in the scheduler and is refused.
//!
//! Invariant: plugins are listed in a fixed order and every `pluginRef` names a listed
//! plugin, so the same spec gives the same configuration.

use super::ManifestError;
use super::spec::{DeploymentSpec, RoleTopology, RouterPolicy};
use serde_json::{Value, json};

/// `apiVersion` of the configuration.
pub(crate) const API_VERSION: &str = "llm-d.ai/v1alpha1";

/// The EPP configuration of `spec`; `target` names the target in the error.
pub(crate) fn endpoint_picker_config(
    spec: &DeploymentSpec,
    target: &str,
) -> Result<Value, ManifestError> {
    if spec.router == RouterPolicy::RoundRobin {
        return Err(ManifestError::Invalid {
            field: "router".into(),
            value: "round-robin".into(),
            reason: format!(
                "target {target}: the llm-d inference scheduler has no round-robin picker (its pickers are max-score-picker, random-picker, weighted-random-picker): simulate with random, power-of-two, least-outstanding, cache-aware, kv-aware or gaie"
            ),
        });
    }
    let e = &spec.epp;
    let mut plugins = Vec::new();
    let mut scorers = Vec::new();
    if e.prefix_weight > 0.0 {
        plugins.push(json!({
            "type": "prefix-cache-scorer",
            "parameters": {
                "maxPrefixBlocksToMatch": 256,
                "lruCapacityPerServer": e.lru_capacity_blocks,
            },
        }));
        scorers.push(json!({"pluginRef": "prefix-cache-scorer", "weight": e.prefix_weight}));
    }
    if e.kv_weight > 0.0 {
        plugins.push(json!({"type": "kv-cache-utilization-scorer"}));
        scorers.push(json!({"pluginRef": "kv-cache-utilization-scorer", "weight": e.kv_weight}));
    }
    if e.queue_weight > 0.0 {
        plugins.push(json!({"type": "queue-scorer"}));
        scorers.push(json!({"pluginRef": "queue-scorer", "weight": e.queue_weight}));
    }
    let picker = if scorers.is_empty() {
        "random-picker"
    } else {
        "max-score-picker"
    };
    plugins.push(json!({"type": picker}));
    let profile = |name: &str, filter: &str| {
        let mut p = vec![json!({"pluginRef": filter}), json!({"pluginRef": picker})];
        p.extend(scorers.iter().cloned());
        json!({"name": name, "plugins": p})
    };
    let profiles = match spec.topology {
        RoleTopology::Disaggregated { .. } => {
            plugins.extend([
                json!({"type": "prefill-filter"}),
                json!({"type": "decode-filter"}),
                json!({
                    "type": "prefix-based-pd-decider",
                    "parameters": {"nonCachedTokens": e.non_cached_tokens},
                }),
                json!({
                    "type": "disagg-profile-handler",
                    "parameters": {"deciders": {"prefill": "prefix-based-pd-decider"}},
                }),
            ]);
            vec![
                profile("prefill", "prefill-filter"),
                profile("decode", "decode-filter"),
            ]
        }
        RoleTopology::Aggregated(_) => {
            plugins.extend([
                json!({"type": "decode-filter"}),
                json!({"type": "single-profile-handler"}),
            ]);
            vec![profile("default", "decode-filter")]
        }
    };
    Ok(json!({
        "apiVersion": API_VERSION,
        "kind": "EndpointPickerConfig",
        "plugins": plugins,
        "schedulingProfiles": profiles,
    }))
}
