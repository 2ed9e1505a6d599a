//! Autoscaling configuration: the TOML a user writes under `[deployment.<role>.autoscale]`
//! ([`AutoscaleFile`], a serde mirror) and the validated, typed [`AutoscaleConfig`] the
//! policies of `crate::policy::autoscale` run on. It is a section of the scenario: the
//! scenario never depends on the policies, the policies take this configuration.
//!
//! Invariants: every wire struct denies unknown fields and uses kebab-case with units in the
//! names; the policy is an internally tagged enum on `kind` (`hpa` | `keda` | `sla-planner`).
//! [`AutoscaleConfig::from_file`] resolves every default and checks every value, so a config
//! that exists can run: targets are finite and positive, `min-replicas <= max-replicas`,
//! durations are finite, non-negative and converted to integer [`SimDuration`] once, here.
//! Errors name the TOML field (`deployment.decode.autoscale.target-value`).
//!
//! Defaults and their sources:
//! - HPA: `--horizontal-pod-autoscaler-sync-period` 15 s, `--horizontal-pod-autoscaler-tolerance`
//!   0.1, `--horizontal-pod-autoscaler-downscale-stabilization` 300 s (kube-controller-manager
//!   flags); `minReplicas` 1 and the default `behavior` (scale-up: stabilisation 0 s, policies
//!   `Pods 4 / 15 s` and `Percent 100 / 15 s`, `selectPolicy: Max`; scale-down: `Percent 100 /
//!   15 s`, `Max`) from kubernetes `pkg/apis/autoscaling/v2/defaults.go`.
//! - KEDA: `pollingInterval` 30 s, `cooldownPeriod` 300 s, `initialCooldownPeriod` 0 s,
//!   `minReplicaCount` 0, `maxReplicaCount` 100 (keda.sh/docs/latest/reference/scaledobject-spec);
//!   Prometheus trigger `activationThreshold` 0 and `metricType: AverageValue`
//!   (kedacore/keda `pkg/scalers/prometheus_scaler.go`).
//! - Dynamo SLA planner: `adjustment_interval` 180 s, `min_endpoint` 1,
//!   `load_prediction_window_size` 50 (ai-dynamo/dynamo
//!   `components/planner/src/dynamo/planner/defaults.py`).

use crate::time::SimDuration;
use serde::{Deserialize, Serialize};

/// An autoscaling or cold-start section could not be used. Fatal: the run does not start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AutoscaleError {
    /// A value is missing, out of range or inconsistent with another field.
    #[error("{field}: {message}")]
    Invalid {
        /// TOML path of the offending field (`deployment.decode.autoscale.target-value`).
        field: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
}

fn invalid(prefix: &str, key: &str, message: impl Into<String>) -> AutoscaleError {
    AutoscaleError::Invalid {
        field: if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        },
        message: message.into(),
    }
}

/// Longest duration accepted anywhere in these sections: 10^7 s (about 116 days).
const MAX_SECONDS: f64 = 1e7;

/// Validates `v` seconds into a duration; `positive` rejects zero.
pub(crate) fn seconds(
    prefix: &str,
    key: &str,
    v: f64,
    positive: bool,
) -> Result<SimDuration, AutoscaleError> {
    if !v.is_finite() || v < 0.0 || (positive && v == 0.0) || v > MAX_SECONDS {
        let lower = if positive { "> 0" } else { ">= 0" };
        return Err(invalid(
            prefix,
            key,
            format!("must be {lower} and <= {MAX_SECONDS} seconds, got {v}"),
        ));
    }
    Ok(SimDuration::from_secs_f64(v))
}

/// Validates a finite value `> 0` (or `>= 0` when `allow_zero`).
pub(crate) fn positive(
    prefix: &str,
    key: &str,
    v: f64,
    allow_zero: bool,
) -> Result<f64, AutoscaleError> {
    if !v.is_finite() || v < 0.0 || (!allow_zero && v == 0.0) {
        let lower = if allow_zero { ">= 0" } else { "> 0" };
        return Err(invalid(
            prefix,
            key,
            format!("must be finite and {lower}, got {v}"),
        ));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------------

/// `[deployment.<role>.autoscale]`: the serde mirror, tagged on `kind`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum AutoscaleFile {
    /// `kind = "hpa"`: a Kubernetes HorizontalPodAutoscaler (autoscaling/v2).
    Hpa(HpaFile),
    /// `kind = "keda"`: a KEDA ScaledObject (which drives an HPA it creates).
    Keda(KedaFile),
    /// `kind = "sla-planner"`: NVIDIA Dynamo's SLA planner for this role.
    SlaPlanner(SlaPlannerFile),
}

/// What an HPA or KEDA trigger measures (`metric = "..."`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricName {
    /// Requests waiting in a replica's queue (vLLM `vllm:num_requests_waiting`).
    QueueLength,
    /// Requests assigned to a replica and not finished (waiting + running).
    Inflight,
    /// Fraction of a replica's KV blocks in use, 0..1 (vLLM `vllm:gpu_cache_usage_perc`).
    KvUtilization,
    /// Time to first token at `percentile` over `window-s`, milliseconds.
    TtftMs,
    /// Time per output token at `percentile` over `window-s`, milliseconds.
    TpotMs,
    /// Arrivals to the role over `window-s`, requests per second.
    ArrivalRate,
}

impl MetricName {
    /// Name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            MetricName::QueueLength => "queue-length",
            MetricName::Inflight => "inflight",
            MetricName::KvUtilization => "kv-utilization",
            MetricName::TtftMs => "ttft-ms",
            MetricName::TpotMs => "tpot-ms",
            MetricName::ArrivalRate => "arrival-rate",
        }
    }
}

/// How an HPA policy limits change: a number of pods or a percentage of the replicas at
/// the start of the period.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    /// `type = "pods"`: at most `value` replicas added/removed per `period-s`.
    Pods,
    /// `type = "percent"`: at most `value` % of the period-start replicas per `period-s`.
    Percent,
}

/// Which policy wins when several apply (`selectPolicy`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectPolicy {
    /// The policy allowing the largest change (Kubernetes default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// How KEDA hands the trigger's value to its HPA (`metricType`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricType {
    /// External metric with `target.averageValue`: desired = ceil(value / target).
    AverageValue,
    /// External metric with `target.value`: desired = ceil(value / target x ready replicas).
    Value,
}

/// Whether the HPA object carries a `spec.behavior` (`behavior = "..."`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BehaviorMode {
    /// `spec.behavior` is set: the `scale-up`/`scale-down` rules, each field defaulted as
    /// the autoscaling/v2 API fills it (the default).
    #[default]
    Explicit,
    /// No `spec.behavior` in the manifest (also what KEDA creates without
    /// `advanced.horizontalPodAutoscalerConfig.behavior`): the controller's legacy path
    /// (`normalizeDesiredReplicas`): the maximum proposal of the last 300 s in both
    /// directions, and at most max(2 x current, 4) replicas per sync.
    Unset,
}

/// One scaling policy: `{ type = "pods"|"percent", value, period-s }`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScalingPolicyFile {
    /// Pods or percent.
    #[serde(rename = "type")]
    pub policy_type: PolicyType,
    /// Replicas (pods) or percent of the period-start count; > 0.
    pub value: u32,
    /// Length of the period the limit applies to, seconds (1..=1800, as Kubernetes).
    pub period_s: u32,
}

/// `scale-up` / `scale-down`: one direction of an HPA `behavior`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScalingRulesFile {
    /// Recommendations of the last this-many seconds are considered (0..=3600); default 0
    /// for scale-up, 300 for scale-down.
    pub stabilization_window_s: Option<u32>,
    /// Which policy wins (default `max`).
    pub select_policy: Option<SelectPolicy>,
    /// Rate limits (default: see the module docs); must be non-empty unless disabled.
    pub policies: Option<Vec<ScalingPolicyFile>>,
}

/// `kind = "hpa"`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HpaFile {
    /// `minReplicas` (default 1; must be >= 1: scale-to-zero needs KEDA).
    pub min_replicas: Option<u32>,
    /// `maxReplicas` (required).
    pub max_replicas: u32,
    /// The metric.
    pub metric: MetricName,
    /// Target: per-replica average for queue-length/inflight/kv-utilization (Pods metric,
    /// `averageValue`), the value for ttft-ms/tpot-ms (External metric, `value`), requests/s
    /// per replica for arrival-rate (External metric, `averageValue`).
    pub target_value: f64,
    /// Percentile of ttft-ms/tpot-ms, in (0, 100] (default 90); only for those metrics.
    pub percentile: Option<f64>,
    /// Window of ttft-ms/tpot-ms/arrival-rate, seconds (default 60); only for those.
    pub window_s: Option<f64>,
    /// Controller sync period, seconds (default 15).
    pub sync_period_s: Option<f64>,
    /// No change while |1 - metric/target| <= tolerance (default 0.1).
    pub tolerance: Option<f64>,
    /// `behavior.scaleUp`.
    pub scale_up: Option<ScalingRulesFile>,
    /// `behavior.scaleDown`.
    pub scale_down: Option<ScalingRulesFile>,
    /// `explicit` (default) or `unset` (no `spec.behavior`; then no scale-up/scale-down).
    pub behavior: Option<BehaviorMode>,
}

/// `kind = "keda"`: a ScaledObject with one Prometheus-style trigger.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KedaFile {
    /// `minReplicaCount` (default 0: scale to zero).
    pub min_replicas: Option<u32>,
    /// `maxReplicaCount` (default 100).
    pub max_replicas: Option<u32>,
    /// `pollingInterval`, whole seconds (default 30).
    pub polling_interval_s: Option<f64>,
    /// `cooldownPeriod` before scaling to zero, seconds (default 300).
    pub cooldown_s: Option<f64>,
    /// `initialCooldownPeriod`: no scale-to-zero this long after the start, seconds (default 0).
    pub initial_cooldown_s: Option<f64>,
    /// The trigger's metric; its value is the role-wide query result: sum for queue-length,
    /// inflight and arrival-rate, mean for kv-utilization, the percentile for latencies.
    pub metric: MetricName,
    /// The trigger's `threshold`.
    pub target_value: f64,
    /// The trigger's `activationThreshold`: active while the value is strictly above it
    /// (default 0).
    pub activation_value: Option<f64>,
    /// `metricType` (default `average-value` for sums, `value` for means and percentiles).
    pub metric_type: Option<MetricType>,
    /// Percentile of ttft-ms/tpot-ms, in (0, 100] (default 90); only for those metrics.
    pub percentile: Option<f64>,
    /// Window of ttft-ms/tpot-ms/arrival-rate, seconds (default 60); only for those.
    pub window_s: Option<f64>,
    /// Sync period of the HPA KEDA creates, whole seconds (default 15).
    pub sync_period_s: Option<f64>,
    /// HPA tolerance (default 0.1).
    pub tolerance: Option<f64>,
    /// `advanced.horizontalPodAutoscalerConfig.behavior.scaleUp`.
    pub scale_up: Option<ScalingRulesFile>,
    /// `advanced.horizontalPodAutoscalerConfig.behavior.scaleDown`.
    pub scale_down: Option<ScalingRulesFile>,
    /// `explicit` (default) or `unset` (no behavior; then no scale-up/scale-down).
    pub behavior: Option<BehaviorMode>,
}

/// Which worker pool a Dynamo SLA planner sizes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Prefill workers: load = request rate x ISL (prompt tokens/s).
    Prefill,
    /// Decode workers: load = request rate x OSL (output tokens/s).
    Decode,
}

/// How the SLA planner predicts the next interval's load from past intervals.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PredictorKind {
    /// The next interval equals the last one (Dynamo `constant`).
    Constant,
    /// Mean of the last `prediction-window` intervals.
    MovingAverage,
    /// Random walk with drift, ARIMA(0,1,0) with a constant: last + mean step over the
    /// window; needs 5 points like Dynamo's model predictors, else behaves as constant.
    Drift,
}

/// `kind = "sla-planner"`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlaPlannerFile {
    /// Which pool this planner sizes (required).
    pub stage: Stage,
    /// `adjustment_interval`, seconds (default 180).
    pub adjustment_interval_s: Option<f64>,
    /// `min_endpoint` (default 1).
    pub min_replicas: Option<u32>,
    /// Upper bound (Dynamo's `max_gpu_budget` / GPUs per engine), required.
    pub max_replicas: u32,
    /// Load predictor (default `constant`; Dynamo's default `arima` is not reproduced).
    pub predictor: Option<PredictorKind>,
    /// Intervals the predictor looks back over (default 50).
    pub prediction_window: Option<u32>,
    /// Profiled tokens/s one replica sustains within the SLO: prompt tokens/s under the
    /// TTFT SLO (prefill) or output tokens/s under the ITL SLO (decode).
    pub capacity_tokens_per_s: f64,
    /// Profiled TTFT at the planned ISL, ms (prefill only); enables the correction factor
    /// observed mean TTFT / expected.
    pub expected_ttft_ms: Option<f64>,
}

// ---------------------------------------------------------------------------------------
// Typed configuration
// ---------------------------------------------------------------------------------------

/// A metric with what the engine must compute for it.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Metric {
    /// Requests waiting per ready replica.
    QueueLength,
    /// Requests assigned and unfinished per ready replica.
    Inflight,
    /// Mean KV utilisation of ready replicas, 0..1.
    KvUtilization,
    /// TTFT at `percentile` (0..=100) over the signal window, ms.
    TtftMs {
        /// Percentile, in (0, 100].
        percentile: f64,
    },
    /// TPOT at `percentile` (0..=100) over the signal window, ms.
    TpotMs {
        /// Percentile, in (0, 100].
        percentile: f64,
    },
    /// Arrivals to the role over the signal window, requests/s.
    ArrivalRate,
}

impl Metric {
    /// Whether the role-wide value is a sum over replicas (counts and rates) rather than a
    /// mean or a percentile.
    pub fn is_additive(self) -> bool {
        matches!(
            self,
            Metric::QueueLength | Metric::Inflight | Metric::ArrivalRate
        )
    }

    /// The percentile the engine computes for latency metrics, else `None`.
    pub fn percentile(self) -> Option<f64> {
        match self {
            Metric::TtftMs { percentile } | Metric::TpotMs { percentile } => Some(percentile),
            _ => None,
        }
    }
}

/// A metric, its target and its window.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct MetricTarget {
    /// What is measured.
    pub metric: Metric,
    /// The target (HPA `averageValue`/`value`, KEDA `threshold`), in the metric's unit.
    pub target_value: f64,
    /// Window of percentiles and rates (ns); unused by instantaneous metrics.
    pub window: SimDuration,
}

/// One HPA scaling policy.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// Pods or percent.
    pub policy_type: PolicyType,
    /// Replicas or percent, > 0.
    pub value: u32,
    /// Period (ns), 1 s..=1800 s.
    pub period: SimDuration,
}

/// One direction of an HPA `behavior`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalingRules {
    /// Stabilisation window (ns), 0..=3600 s.
    pub stabilization_window: SimDuration,
    /// Which policy wins.
    pub select_policy: SelectPolicy,
    /// The rate limits (non-empty unless `select_policy` is `Disabled`).
    pub policies: Vec<ScalingPolicy>,
}

const SECOND: u64 = 1_000_000_000;

impl ScalingRules {
    /// Kubernetes' default scale-up: no stabilisation, max(+4 pods, +100 %) per 15 s.
    pub fn default_scale_up() -> ScalingRules {
        ScalingRules {
            stabilization_window: SimDuration::ZERO,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy {
                    policy_type: PolicyType::Pods,
                    value: 4,
                    period: SimDuration(15 * SECOND),
                },
                ScalingPolicy {
                    policy_type: PolicyType::Percent,
                    value: 100,
                    period: SimDuration(15 * SECOND),
                },
            ],
        }
    }

    /// Kubernetes' default scale-down: 300 s stabilisation, -100 % per 15 s.
    pub fn default_scale_down() -> ScalingRules {
        ScalingRules {
            stabilization_window: SimDuration(300 * SECOND),
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy {
                policy_type: PolicyType::Percent,
                value: 100,
                period: SimDuration(15 * SECOND),
            }],
        }
    }

    fn from_file(
        f: Option<&ScalingRulesFile>,
        defaults: ScalingRules,
        prefix: &str,
    ) -> Result<ScalingRules, AutoscaleError> {
        let Some(f) = f else { return Ok(defaults) };
        let ScalingRulesFile {
            stabilization_window_s,
            select_policy,
            policies,
        } = f;
        let stabilization_window = match stabilization_window_s {
            None => defaults.stabilization_window,
            Some(w) if *w <= 3600 => SimDuration(u64::from(*w) * SECOND),
            Some(w) => {
                return Err(invalid(
                    prefix,
                    "stabilization-window-s",
                    format!("must be 0..=3600 seconds (as Kubernetes), got {w}"),
                ));
            }
        };
        let select_policy = select_policy.unwrap_or(defaults.select_policy);
        let policies = match policies {
            None => defaults.policies,
            Some(ps) => {
                let mut out = Vec::with_capacity(ps.len());
                for (i, p) in ps.iter().enumerate() {
                    let at = format!("policies[{i}]");
                    let ScalingPolicyFile {
                        policy_type,
                        value,
                        period_s,
                    } = p;
                    if *value == 0 || *value > i32::MAX as u32 {
                        return Err(invalid(
                            prefix,
                            &format!("{at}.value"),
                            format!("must be > 0, got {value}"),
                        ));
                    }
                    if *period_s == 0 || *period_s > 1800 {
                        return Err(invalid(
                            prefix,
                            &format!("{at}.period-s"),
                            format!("must be 1..=1800 seconds (as Kubernetes), got {period_s}"),
                        ));
                    }
                    out.push(ScalingPolicy {
                        policy_type: *policy_type,
                        value: *value,
                        period: SimDuration(u64::from(*period_s) * SECOND),
                    });
                }
                out
            }
        };
        if policies.is_empty() && select_policy != SelectPolicy::Disabled {
            return Err(invalid(
                prefix,
                "policies",
                "at least one policy is needed unless select-policy = \"disabled\"",
            ));
        }
        Ok(ScalingRules {
            stabilization_window,
            select_policy,
            policies,
        })
    }
}

/// A validated HPA.
#[derive(Clone, Debug, PartialEq)]
pub struct HpaConfig {
    /// `minReplicas`, >= 1.
    pub min_replicas: u32,
    /// `maxReplicas`, >= `min_replicas`.
    pub max_replicas: u32,
    /// The metric and its target.
    pub target: MetricTarget,
    /// Controller sync period (ns), > 0.
    pub sync_period: SimDuration,
    /// Tolerance on |1 - metric/target|, in [0, 1).
    pub tolerance: f64,
    /// `behavior.scaleUp`.
    pub scale_up: ScalingRules,
    /// `behavior.scaleDown`.
    pub scale_down: ScalingRules,
    /// Whether `spec.behavior` is set (else the legacy normalisation applies).
    pub behavior: BehaviorMode,
}

/// A validated KEDA ScaledObject.
#[derive(Clone, Debug, PartialEq)]
pub struct KedaConfig {
    /// `minReplicaCount` (0 allows scale to zero).
    pub min_replicas: u32,
    /// `maxReplicaCount`, >= max(1, `min_replicas`).
    pub max_replicas: u32,
    /// `pollingInterval` (ns), whole seconds > 0.
    pub polling_interval: SimDuration,
    /// `cooldownPeriod` (ns).
    pub cooldown: SimDuration,
    /// `initialCooldownPeriod` (ns), counted from the start of the simulation.
    pub initial_cooldown: SimDuration,
    /// The trigger's metric and `threshold`.
    pub target: MetricTarget,
    /// `activationThreshold`, in the metric's unit.
    pub activation_value: f64,
    /// `metricType`.
    pub metric_type: MetricType,
    /// Sync period of the HPA KEDA creates (ns), whole seconds > 0.
    pub sync_period: SimDuration,
    /// HPA tolerance, in [0, 1).
    pub tolerance: f64,
    /// HPA `behavior.scaleUp`.
    pub scale_up: ScalingRules,
    /// HPA `behavior.scaleDown`.
    pub scale_down: ScalingRules,
    /// Whether the HPA gets a behavior (else the legacy normalisation applies).
    pub behavior: BehaviorMode,
}

/// A validated Dynamo SLA planner for one stage.
#[derive(Clone, Debug, PartialEq)]
pub struct SlaPlannerConfig {
    /// The pool it sizes.
    pub stage: Stage,
    /// `adjustment_interval` (ns), > 0.
    pub adjustment_interval: SimDuration,
    /// `min_endpoint`.
    pub min_replicas: u32,
    /// Upper bound, >= max(1, `min_replicas`).
    pub max_replicas: u32,
    /// Load predictor.
    pub predictor: PredictorKind,
    /// Intervals the predictor keeps, >= 1.
    pub prediction_window: usize,
    /// Per-replica capacity within the SLO, tokens/s (> 0).
    pub capacity_tokens_per_s: f64,
    /// Profiled TTFT for the correction factor, ms (prefill only).
    pub expected_ttft_ms: Option<f64>,
}

/// A validated autoscaling policy for one role.
#[derive(Clone, Debug, PartialEq)]
pub enum AutoscaleConfig {
    /// Kubernetes HPA.
    Hpa(HpaConfig),
    /// KEDA ScaledObject.
    Keda(KedaConfig),
    /// Dynamo SLA planner.
    SlaPlanner(SlaPlannerConfig),
}

/// Default percentile of latency metrics.
pub const DEFAULT_PERCENTILE: f64 = 90.0;
/// Default window of latency percentiles and rates, seconds.
pub const DEFAULT_WINDOW_S: f64 = 60.0;

fn metric_target(
    prefix: &str,
    metric: MetricName,
    target_value: f64,
    percentile: Option<f64>,
    window_s: Option<f64>,
) -> Result<MetricTarget, AutoscaleError> {
    let target_value = positive(prefix, "target-value", target_value, false)?;
    let latency = matches!(metric, MetricName::TtftMs | MetricName::TpotMs);
    let windowed = latency || metric == MetricName::ArrivalRate;
    if percentile.is_some() && !latency {
        return Err(invalid(
            prefix,
            "percentile",
            format!("applies to ttft-ms and tpot-ms only, not {}", metric.name()),
        ));
    }
    if window_s.is_some() && !windowed {
        return Err(invalid(
            prefix,
            "window-s",
            format!(
                "applies to ttft-ms, tpot-ms and arrival-rate only, not {} (an instantaneous gauge)",
                metric.name()
            ),
        ));
    }
    let p = percentile.unwrap_or(DEFAULT_PERCENTILE);
    if !(p.is_finite() && p > 0.0 && p <= 100.0) {
        return Err(invalid(
            prefix,
            "percentile",
            format!("must be in (0, 100], got {p}"),
        ));
    }
    if metric == MetricName::KvUtilization && target_value > 1.0 {
        return Err(invalid(
            prefix,
            "target-value",
            format!("kv-utilization is a fraction in 0..1, got {target_value}"),
        ));
    }
    let window = seconds(
        prefix,
        "window-s",
        window_s.unwrap_or(DEFAULT_WINDOW_S),
        true,
    )?;
    let metric = match metric {
        MetricName::QueueLength => Metric::QueueLength,
        MetricName::Inflight => Metric::Inflight,
        MetricName::KvUtilization => Metric::KvUtilization,
        MetricName::TtftMs => Metric::TtftMs { percentile: p },
        MetricName::TpotMs => Metric::TpotMs { percentile: p },
        MetricName::ArrivalRate => Metric::ArrivalRate,
    };
    Ok(MetricTarget {
        metric,
        target_value,
        window,
    })
}

fn behavior_mode(
    prefix: &str,
    mode: Option<BehaviorMode>,
    scale_up: &Option<ScalingRulesFile>,
    scale_down: &Option<ScalingRulesFile>,
) -> Result<BehaviorMode, AutoscaleError> {
    let mode = mode.unwrap_or_default();
    if mode == BehaviorMode::Unset && (scale_up.is_some() || scale_down.is_some()) {
        return Err(invalid(
            prefix,
            "behavior",
            "\"unset\" means the HPA has no behavior: remove scale-up and scale-down",
        ));
    }
    Ok(mode)
}

fn tolerance(prefix: &str, t: Option<f64>) -> Result<f64, AutoscaleError> {
    let t = t.unwrap_or(0.1);
    if !(t.is_finite() && (0.0..1.0).contains(&t)) {
        return Err(invalid(
            prefix,
            "tolerance",
            format!("must be in [0, 1), got {t}"),
        ));
    }
    Ok(t)
}

fn whole_seconds(prefix: &str, key: &str, v: f64) -> Result<SimDuration, AutoscaleError> {
    let d = seconds(prefix, key, v, true)?;
    if !d.as_nanos().is_multiple_of(SECOND) {
        return Err(invalid(
            prefix,
            key,
            format!("must be whole seconds (KEDA and the HPA take integers), got {v}"),
        ));
    }
    Ok(d)
}

fn bounds(prefix: &str, min: u32, max: u32) -> Result<(), AutoscaleError> {
    if max == 0 || max < min {
        return Err(invalid(
            prefix,
            "max-replicas",
            format!("must be >= 1 and >= min-replicas ({min}), got {max}"),
        ));
    }
    Ok(())
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

impl AutoscaleConfig {
    /// Validates a wire section; `field_prefix` is its TOML path
    /// (`deployment.decode.autoscale`), used to name fields in errors.
    pub fn from_file(file: &AutoscaleFile, field_prefix: &str) -> Result<Self, AutoscaleError> {
        let p = field_prefix;
        match file {
            AutoscaleFile::Hpa(f) => {
                let HpaFile {
                    min_replicas,
                    max_replicas,
                    metric,
                    target_value,
                    percentile,
                    window_s,
                    sync_period_s,
                    tolerance: tol,
                    scale_up,
                    scale_down,
                    behavior,
                } = f;
                let behavior = behavior_mode(p, *behavior, scale_up, scale_down)?;
                let min_replicas = min_replicas.unwrap_or(1);
                if min_replicas == 0 {
                    return Err(invalid(
                        p,
                        "min-replicas",
                        "must be >= 1 for an HPA (scale to zero needs kind = \"keda\")",
                    ));
                }
                bounds(p, min_replicas, *max_replicas)?;
                Ok(AutoscaleConfig::Hpa(HpaConfig {
                    min_replicas,
                    max_replicas: *max_replicas,
                    target: metric_target(p, *metric, *target_value, *percentile, *window_s)?,
                    sync_period: seconds(p, "sync-period-s", sync_period_s.unwrap_or(15.0), true)?,
                    tolerance: tolerance(p, *tol)?,
                    scale_up: ScalingRules::from_file(
                        scale_up.as_ref(),
                        ScalingRules::default_scale_up(),
                        &join(p, "scale-up"),
                    )?,
                    scale_down: ScalingRules::from_file(
                        scale_down.as_ref(),
                        ScalingRules::default_scale_down(),
                        &join(p, "scale-down"),
                    )?,
                    behavior,
                }))
            }
            AutoscaleFile::Keda(f) => {
                let KedaFile {
                    min_replicas,
                    max_replicas,
                    polling_interval_s,
                    cooldown_s,
                    initial_cooldown_s,
                    metric,
                    target_value,
                    activation_value,
                    metric_type,
                    percentile,
                    window_s,
                    sync_period_s,
                    tolerance: tol,
                    scale_up,
                    scale_down,
                    behavior,
                } = f;
                let behavior = behavior_mode(p, *behavior, scale_up, scale_down)?;
                let min_replicas = min_replicas.unwrap_or(0);
                let max_replicas = max_replicas.unwrap_or(100);
                bounds(p, min_replicas, max_replicas)?;
                let target = metric_target(p, *metric, *target_value, *percentile, *window_s)?;
                let activation_value = activation_value.unwrap_or(0.0);
                if !activation_value.is_finite() {
                    return Err(invalid(
                        p,
                        "activation-value",
                        format!("must be finite, got {activation_value}"),
                    ));
                }
                let metric_type = metric_type.unwrap_or(if target.metric.is_additive() {
                    MetricType::AverageValue
                } else {
                    MetricType::Value
                });
                Ok(AutoscaleConfig::Keda(KedaConfig {
                    min_replicas,
                    max_replicas,
                    polling_interval: whole_seconds(
                        p,
                        "polling-interval-s",
                        polling_interval_s.unwrap_or(30.0),
                    )?,
                    cooldown: seconds(p, "cooldown-s", cooldown_s.unwrap_or(300.0), false)?,
                    initial_cooldown: seconds(
                        p,
                        "initial-cooldown-s",
                        initial_cooldown_s.unwrap_or(0.0),
                        false,
                    )?,
                    target,
                    activation_value,
                    metric_type,
                    sync_period: whole_seconds(p, "sync-period-s", sync_period_s.unwrap_or(15.0))?,
                    tolerance: tolerance(p, *tol)?,
                    scale_up: ScalingRules::from_file(
                        scale_up.as_ref(),
                        ScalingRules::default_scale_up(),
                        &join(p, "scale-up"),
                    )?,
                    scale_down: ScalingRules::from_file(
                        scale_down.as_ref(),
                        ScalingRules::default_scale_down(),
                        &join(p, "scale-down"),
                    )?,
                    behavior,
                }))
            }
            AutoscaleFile::SlaPlanner(f) => {
                let SlaPlannerFile {
                    stage,
                    adjustment_interval_s,
                    min_replicas,
                    max_replicas,
                    predictor,
                    prediction_window,
                    capacity_tokens_per_s,
                    expected_ttft_ms,
                } = f;
                let min_replicas = min_replicas.unwrap_or(1);
                bounds(p, min_replicas, *max_replicas)?;
                let prediction_window = prediction_window.unwrap_or(50);
                if prediction_window == 0 {
                    return Err(invalid(p, "prediction-window", "must be >= 1 interval"));
                }
                let expected_ttft_ms = match expected_ttft_ms {
                    None => None,
                    Some(_) if *stage == Stage::Decode => {
                        return Err(invalid(
                            p,
                            "expected-ttft-ms",
                            "applies to stage = \"prefill\" only",
                        ));
                    }
                    Some(v) => Some(positive(p, "expected-ttft-ms", *v, false)?),
                };
                Ok(AutoscaleConfig::SlaPlanner(SlaPlannerConfig {
                    stage: *stage,
                    adjustment_interval: seconds(
                        p,
                        "adjustment-interval-s",
                        adjustment_interval_s.unwrap_or(180.0),
                        true,
                    )?,
                    min_replicas,
                    max_replicas: *max_replicas,
                    predictor: predictor.unwrap_or(PredictorKind::Constant),
                    prediction_window: prediction_window as usize,
                    capacity_tokens_per_s: positive(
                        p,
                        "capacity-tokens-per-s",
                        *capacity_tokens_per_s,
                        false,
                    )?,
                    expected_ttft_ms,
                }))
            }
        }
    }

    /// Name of the policy as written in scenario files (`hpa`, `keda`, `sla-planner`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            AutoscaleConfig::Hpa(_) => "hpa",
            AutoscaleConfig::Keda(_) => "keda",
            AutoscaleConfig::SlaPlanner(_) => "sla-planner",
        }
    }

    /// How often the engine must call the built policy's `desired` (ns); the same as its
    /// `sync_period()` (`crate::policy::autoscale::Autoscaler`).
    pub fn sync_period(&self) -> SimDuration {
        match self {
            AutoscaleConfig::Hpa(c) => c.sync_period,
            AutoscaleConfig::Keda(c) => {
                SimDuration(gcd(c.sync_period.as_nanos(), c.polling_interval.as_nanos()))
            }
            AutoscaleConfig::SlaPlanner(c) => c.adjustment_interval,
        }
    }

    /// Window (ns) over which the engine computes the windowed signals
    /// (`ttft_ms`, `tpot_ms`, `arrival_rate_rps`, `mean_input_tokens`,
    /// `mean_output_tokens`): the metric's `window-s` for HPA/KEDA, the adjustment interval
    /// for the SLA planner.
    pub fn signal_window(&self) -> SimDuration {
        match self {
            AutoscaleConfig::Hpa(c) => c.target.window,
            AutoscaleConfig::Keda(c) => c.target.window,
            AutoscaleConfig::SlaPlanner(c) => c.adjustment_interval,
        }
    }

    /// Percentile (0..=100) at which the engine computes `ttft_ms` and `tpot_ms`; `None`
    /// means the mean over the window (the SLA planner, which reads Prometheus averages)
    /// or that the policy does not read latencies.
    pub fn percentile(&self) -> Option<f64> {
        match self {
            AutoscaleConfig::Hpa(c) => c.target.metric.percentile(),
            AutoscaleConfig::Keda(c) => c.target.metric.percentile(),
            AutoscaleConfig::SlaPlanner(_) => None,
        }
    }

    /// Lower replica bound the policy applies.
    pub fn min_replicas(&self) -> u32 {
        match self {
            AutoscaleConfig::Hpa(c) => c.min_replicas,
            AutoscaleConfig::Keda(c) => c.min_replicas,
            AutoscaleConfig::SlaPlanner(c) => c.min_replicas,
        }
    }

    /// Upper replica bound the policy applies.
    pub fn max_replicas(&self) -> u32 {
        match self {
            AutoscaleConfig::Hpa(c) => c.max_replicas,
            AutoscaleConfig::Keda(c) => c.max_replicas,
            AutoscaleConfig::SlaPlanner(c) => c.max_replicas,
        }
    }
}

/// Greatest common divisor (ns); `gcd(a, 0) = a`.
pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AutoscaleConfig, AutoscaleError> {
        let f: AutoscaleFile = toml::from_str(text).map_err(|e| AutoscaleError::Invalid {
            field: "toml".into(),
            message: e.to_string(),
        })?;
        AutoscaleConfig::from_file(&f, "deployment.decode.autoscale")
    }

    #[test]
    fn hpa_defaults_follow_kubernetes() {
        let c = parse(
            r#"
kind = "hpa"
max-replicas = 8
metric = "queue-length"
target-value = 4
"#,
        )
        .unwrap();
        let AutoscaleConfig::Hpa(h) = &c else {
            panic!("not an hpa: {c:?}")
        };
        assert_eq!(h.min_replicas, 1);
        assert_eq!(h.sync_period, SimDuration(15 * SECOND));
        assert_eq!(h.tolerance, 0.1);
        assert_eq!(h.scale_up, ScalingRules::default_scale_up());
        assert_eq!(h.scale_down, ScalingRules::default_scale_down());
        assert_eq!(c.percentile(), None);
        assert_eq!(c.sync_period(), SimDuration(15 * SECOND));
    }

    #[test]
    fn latency_metric_carries_percentile_and_window() {
        let c = parse(
            r#"
kind = "hpa"
max-replicas = 8
metric = "ttft-ms"
target-value = 500
percentile = 99
window-s = 30
"#,
        )
        .unwrap();
        assert_eq!(c.percentile(), Some(99.0));
        assert_eq!(c.signal_window(), SimDuration(30 * SECOND));
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(
            r#"
kind = "hpa"
max-replicas = 8
metric = "queue-length"
target-value = -1
"#,
        )
        .unwrap_err();
        let AutoscaleError::Invalid { field, .. } = &e;
        assert_eq!(field, "deployment.decode.autoscale.target-value");

        let e = parse(
            r#"
kind = "hpa"
max-replicas = 8
metric = "queue-length"
target-value = 4
percentile = 90
"#,
        )
        .unwrap_err();
        let AutoscaleError::Invalid { field, .. } = &e;
        assert_eq!(field, "deployment.decode.autoscale.percentile");

        let e = parse(
            r#"
kind = "hpa"
max-replicas = 8
metric = "inflight"
target-value = 4
[scale-up]
policies = [{ type = "pods", value = 0, period-s = 15 }]
"#,
        )
        .unwrap_err();
        let AutoscaleError::Invalid { field, .. } = &e;
        assert_eq!(
            field,
            "deployment.decode.autoscale.scale-up.policies[0].value"
        );
    }

    #[test]
    fn unset_behavior_excludes_rules() {
        let c = parse(
            "kind = \"hpa\"\nmax-replicas = 8\nmetric = \"inflight\"\ntarget-value = 4\nbehavior = \"unset\"",
        )
        .unwrap();
        let AutoscaleConfig::Hpa(h) = &c else {
            panic!("{c:?}")
        };
        assert_eq!(h.behavior, BehaviorMode::Unset);
        let e = parse(
            "kind = \"hpa\"\nmax-replicas = 8\nmetric = \"inflight\"\ntarget-value = 4\nbehavior = \"unset\"\n[scale-up]\nstabilization-window-s = 60",
        )
        .unwrap_err();
        let AutoscaleError::Invalid { field, .. } = &e;
        assert_eq!(field, "deployment.decode.autoscale.behavior");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(
            toml::from_str::<AutoscaleFile>(
                r#"
kind = "hpa"
max-replicas = 8
metric = "queue-length"
target-value = 4
target-valu = 3
"#
            )
            .is_err()
        );
        assert!(
            toml::from_str::<AutoscaleFile>(
                r#"
kind = "vpa"
max-replicas = 8
"#
            )
            .is_err()
        );
    }

    #[test]
    fn keda_defaults_follow_keda() {
        let c = parse(
            r#"
kind = "keda"
metric = "arrival-rate"
target-value = 2.5
"#,
        )
        .unwrap();
        let AutoscaleConfig::Keda(k) = &c else {
            panic!("not keda: {c:?}")
        };
        assert_eq!(k.min_replicas, 0);
        assert_eq!(k.max_replicas, 100);
        assert_eq!(k.polling_interval, SimDuration(30 * SECOND));
        assert_eq!(k.cooldown, SimDuration(300 * SECOND));
        assert_eq!(k.activation_value, 0.0);
        assert_eq!(k.metric_type, MetricType::AverageValue);
        // Polls every 30 s and syncs its HPA every 15 s: called every 15 s.
        assert_eq!(c.sync_period(), SimDuration(15 * SECOND));
        let e = parse(
            r#"
kind = "keda"
metric = "arrival-rate"
target-value = 2.5
polling-interval-s = 7.5
"#,
        )
        .unwrap_err();
        let AutoscaleError::Invalid { field, .. } = &e;
        assert_eq!(field, "deployment.decode.autoscale.polling-interval-s");
    }

    #[test]
    fn sla_planner_defaults_follow_dynamo() {
        let c = parse(
            r#"
kind = "sla-planner"
stage = "prefill"
max-replicas = 8
capacity-tokens-per-s = 12000
"#,
        )
        .unwrap();
        let AutoscaleConfig::SlaPlanner(s) = &c else {
            panic!("not a planner: {c:?}")
        };
        assert_eq!(s.adjustment_interval, SimDuration(180 * SECOND));
        assert_eq!(s.min_replicas, 1);
        assert_eq!(s.prediction_window, 50);
        assert_eq!(c.signal_window(), SimDuration(180 * SECOND));
        assert_eq!(c.percentile(), None);
    }

    #[test]
    fn gcd_of_periods() {
        assert_eq!(gcd(30, 15), 15);
        assert_eq!(gcd(20, 15), 5);
        assert_eq!(gcd(7, 0), 7);
    }
}
