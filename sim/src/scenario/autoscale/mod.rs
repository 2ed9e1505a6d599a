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
//! Every value is checked by the scenario's one field checker (`check::Validator`), so an
//! error is a [`ScenarioError::Invalid`] naming the file, the full TOML path
//! (`deployment.decode.autoscale.scale-up.policies[0].value`), the value and the range.
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

use super::ScenarioError;
use super::check::Validator;
use crate::limits::{MAX_INSTANCES, MAX_MS};

/// Largest metric target, activation value or capacity an autoscaler takes (any unit).
const MAX_TARGET: f64 = 1e12;

/// Most past intervals the SLA planner's predictor looks back over.
const MAX_PREDICTION_WINDOW: u32 = 1_000_000;
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::path::Path;

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

    /// Validates one direction; `at` is its TOML path (`deployment.decode.autoscale.scale-up`).
    fn validate(
        v: &Validator,
        at: &str,
        f: Option<&ScalingRulesFile>,
        defaults: ScalingRules,
    ) -> Result<ScalingRules, ScenarioError> {
        let Some(f) = f else { return Ok(defaults) };
        let ScalingRulesFile {
            stabilization_window_s,
            select_policy,
            policies,
        } = f;
        let stabilization_window = match stabilization_window_s {
            None => defaults.stabilization_window,
            Some(w) => v.whole_secs_in(
                &format!("{at}.stabilization-window-s"),
                *w,
                0..=3600,
                "seconds (as Kubernetes)",
            )?,
        };
        let select_policy = select_policy.unwrap_or(defaults.select_policy);
        let policies = match policies {
            None => defaults.policies,
            Some(ps) => {
                let mut out = Vec::with_capacity(ps.len());
                for (i, p) in ps.iter().enumerate() {
                    let ScalingPolicyFile {
                        policy_type,
                        value,
                        period_s,
                    } = p;
                    out.push(ScalingPolicy {
                        policy_type: *policy_type,
                        value: v.u32_in(
                            &format!("{at}.policies[{i}].value"),
                            *value,
                            1..=i32::MAX as u32,
                            "(an int32, as Kubernetes)",
                        )?,
                        period: v.whole_secs_in(
                            &format!("{at}.policies[{i}].period-s"),
                            *period_s,
                            1..=1800,
                            "seconds (as Kubernetes)",
                        )?,
                    });
                }
                out
            }
        };
        if policies.is_empty() && select_policy != SelectPolicy::Disabled {
            return Err(v.invalid(
                &format!("{at}.policies"),
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

/// Validates a metric and its target; `at` is the autoscaler's TOML path.
fn metric_target(
    v: &Validator,
    at: &str,
    metric: MetricName,
    target_value: f64,
    percentile: Option<f64>,
    window_s: Option<f64>,
) -> Result<MetricTarget, ScenarioError> {
    let target_value =
        v.positive_up_to(&format!("{at}.target-value"), target_value, MAX_TARGET, "")?;
    let latency = matches!(metric, MetricName::TtftMs | MetricName::TpotMs);
    let windowed = latency || metric == MetricName::ArrivalRate;
    if percentile.is_some() && !latency {
        return Err(v.invalid(
            &format!("{at}.percentile"),
            format!("applies to ttft-ms and tpot-ms only, not {}", metric.name()),
        ));
    }
    if window_s.is_some() && !windowed {
        return Err(v.invalid(
            &format!("{at}.window-s"),
            format!(
                "applies to ttft-ms, tpot-ms and arrival-rate only, not {} (an instantaneous gauge)",
                metric.name()
            ),
        ));
    }
    let p = v.percentile(
        &format!("{at}.percentile"),
        percentile.unwrap_or(DEFAULT_PERCENTILE),
    )?;
    if metric == MetricName::KvUtilization && target_value > 1.0 {
        return Err(v.invalid(
            &format!("{at}.target-value"),
            format!("kv-utilization is a fraction in 0..1, got {target_value}"),
        ));
    }
    let window = v.positive_secs_bounded(
        &format!("{at}.window-s"),
        window_s.unwrap_or(DEFAULT_WINDOW_S),
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

/// `behavior`: `unset` excludes explicit `scale-up`/`scale-down` rules.
fn behavior_mode(
    v: &Validator,
    at: &str,
    mode: Option<BehaviorMode>,
    scale_up: &Option<ScalingRulesFile>,
    scale_down: &Option<ScalingRulesFile>,
) -> Result<BehaviorMode, ScenarioError> {
    let mode = mode.unwrap_or_default();
    if mode == BehaviorMode::Unset && (scale_up.is_some() || scale_down.is_some()) {
        return Err(v.invalid(
            &format!("{at}.behavior"),
            "\"unset\" means the HPA has no behavior: remove scale-up and scale-down",
        ));
    }
    Ok(mode)
}

/// `max-replicas` is at least 1 and at least `min-replicas`.
fn bounds(v: &Validator, at: &str, min: u32, max: u32) -> Result<(), ScenarioError> {
    if max == 0 || max < min || max > MAX_INSTANCES {
        return Err(v.invalid(
            &format!("{at}.max-replicas"),
            format!(
                "must be in [1, {MAX_INSTANCES}] (the instance limit) and >= min-replicas ({min}), got {max}"
            ),
        ));
    }
    Ok(())
}

/// Validates one role's `[... .autoscale]` section; `at` is its TOML path
/// (`deployment.decode.autoscale`).
pub(super) fn autoscale_config(
    v: &Validator,
    at: &str,
    file: &AutoscaleFile,
) -> Result<AutoscaleConfig, ScenarioError> {
    let field = |key: &str| format!("{at}.{key}");
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
                tolerance,
                scale_up,
                scale_down,
                behavior,
            } = f;
            let behavior = behavior_mode(v, at, *behavior, scale_up, scale_down)?;
            let min_replicas = min_replicas.unwrap_or(1);
            if min_replicas == 0 {
                return Err(v.invalid(
                    &field("min-replicas"),
                    "must be >= 1 for an HPA (scale to zero needs kind = \"keda\")",
                ));
            }
            bounds(v, at, min_replicas, *max_replicas)?;
            Ok(AutoscaleConfig::Hpa(HpaConfig {
                min_replicas,
                max_replicas: *max_replicas,
                target: metric_target(v, at, *metric, *target_value, *percentile, *window_s)?,
                sync_period: v.positive_secs_bounded(
                    &field("sync-period-s"),
                    sync_period_s.unwrap_or(15.0),
                )?,
                tolerance: v.fraction_below_one(&field("tolerance"), tolerance.unwrap_or(0.1))?,
                scale_up: ScalingRules::validate(
                    v,
                    &field("scale-up"),
                    scale_up.as_ref(),
                    ScalingRules::default_scale_up(),
                )?,
                scale_down: ScalingRules::validate(
                    v,
                    &field("scale-down"),
                    scale_down.as_ref(),
                    ScalingRules::default_scale_down(),
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
                tolerance,
                scale_up,
                scale_down,
                behavior,
            } = f;
            let behavior = behavior_mode(v, at, *behavior, scale_up, scale_down)?;
            let min_replicas = min_replicas.unwrap_or(0);
            let max_replicas = max_replicas.unwrap_or(100);
            bounds(v, at, min_replicas, max_replicas)?;
            let target = metric_target(v, at, *metric, *target_value, *percentile, *window_s)?;
            let activation_value = v.f64_in(
                &field("activation-value"),
                activation_value.unwrap_or(0.0),
                (-MAX_TARGET, MAX_TARGET),
                "",
            )?;
            let metric_type = metric_type.unwrap_or(if target.metric.is_additive() {
                MetricType::AverageValue
            } else {
                MetricType::Value
            });
            Ok(AutoscaleConfig::Keda(KedaConfig {
                min_replicas,
                max_replicas,
                polling_interval: v.whole_positive_secs(
                    &field("polling-interval-s"),
                    polling_interval_s.unwrap_or(30.0),
                )?,
                cooldown: v
                    .non_negative_secs_bounded(&field("cooldown-s"), cooldown_s.unwrap_or(300.0))?,
                initial_cooldown: v.non_negative_secs_bounded(
                    &field("initial-cooldown-s"),
                    initial_cooldown_s.unwrap_or(0.0),
                )?,
                target,
                activation_value,
                metric_type,
                sync_period: v
                    .whole_positive_secs(&field("sync-period-s"), sync_period_s.unwrap_or(15.0))?,
                tolerance: v.fraction_below_one(&field("tolerance"), tolerance.unwrap_or(0.1))?,
                scale_up: ScalingRules::validate(
                    v,
                    &field("scale-up"),
                    scale_up.as_ref(),
                    ScalingRules::default_scale_up(),
                )?,
                scale_down: ScalingRules::validate(
                    v,
                    &field("scale-down"),
                    scale_down.as_ref(),
                    ScalingRules::default_scale_down(),
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
            bounds(v, at, min_replicas, *max_replicas)?;
            let prediction_window = v.count(
                &field("prediction-window"),
                prediction_window.unwrap_or(50),
                1..=MAX_PREDICTION_WINDOW,
            )?;
            let expected_ttft_ms = match expected_ttft_ms {
                None => None,
                Some(_) if *stage == Stage::Decode => {
                    return Err(v.invalid(
                        &field("expected-ttft-ms"),
                        "applies to stage = \"prefill\" only",
                    ));
                }
                Some(x) => Some(v.positive_up_to(&field("expected-ttft-ms"), *x, MAX_MS, "ms")?),
            };
            Ok(AutoscaleConfig::SlaPlanner(SlaPlannerConfig {
                stage: *stage,
                adjustment_interval: v.positive_secs_bounded(
                    &field("adjustment-interval-s"),
                    adjustment_interval_s.unwrap_or(180.0),
                )?,
                min_replicas,
                max_replicas: *max_replicas,
                predictor: predictor.unwrap_or(PredictorKind::Constant),
                prediction_window: prediction_window as usize,
                capacity_tokens_per_s: v.positive_up_to(
                    &field("capacity-tokens-per-s"),
                    *capacity_tokens_per_s,
                    MAX_TARGET,
                    "tokens/s",
                )?,
                expected_ttft_ms,
            }))
        }
    }
}

impl AutoscaleConfig {
    /// Validates a role's wire section of scenario file `file`; `at` is its TOML path
    /// (`deployment.decode.autoscale`). The same checks as [`crate::scenario::Scenario::from_file`]
    /// runs on the role; errors name `file`, the full field path, the value and the range.
    pub fn from_file(file: &Path, at: &str, wire: &AutoscaleFile) -> Result<Self, ScenarioError> {
        autoscale_config(&Validator { file }, at, wire)
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
mod tests;
