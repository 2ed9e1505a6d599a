//! [`DeploymentSpec::from_scenario`]: the deployment a simulated scenario describes,
//! including its autoscalers translated into HPA / KEDA terms with the engines'
//! Prometheus metrics.
//!
//! Metric mapping (simulated signal -> what the cluster measures):
//!
//! | scenario metric | per-pod gauge (HPA `Pods`, KEDA `sum`) | role-wide (HPA `External`, KEDA `Value`) |
//! |---|---|---|
//! | `queue-length` | `sglang:num_queue_reqs` / `vllm:num_requests_waiting` | |
//! | `inflight` | running (`sglang:num_running_reqs` / `vllm:num_requests_running`); KEDA adds the queue | |
//! | `kv-utilization` | `sglang:token_usage` / `vllm:kv_cache_usage_perc` | |
//! | `ttft-ms` | | recording rule `xpyd:ttft_ms_p<P>`; KEDA: `histogram_quantile` over `*:time_to_first_token_seconds` x 1000 |
//! | `tpot-ms` | | recording rule `xpyd:tpot_ms_p<P>`; KEDA: `histogram_quantile` over `*:time_per_output_token_seconds` x 1000 |
//! | `arrival-rate` | | recording rule `xpyd:arrival_rate_rps`; KEDA: rate of finished requests (arrivals in steady state) |
//!
//! Dynamo's SLA planner has no HPA/KEDA form (it runs as its own Dynamo component), so a
//! role it scales gets no autoscaler here.
//!
//! Invariants: sim durations become whole seconds (rounded); the HPA tolerance is written
//! only when it differs from the cluster default 0.1 (a per-HPA tolerance needs a feature
//! gate); `behavior` is written only when the scenario gives it explicitly.

use super::spec::{
    Autoscaling, DeploymentSpec, EngineKnobs, EppScorers, GatewaySpec, HpaMetricSource, HpaSpec,
    Images, KedaMetricType, KedaSpec, KvCacheDtype, ModelRef, PolicyKind, RoleSpec, RoleTopology,
    RouterPolicy, ScalingPolicy, ScalingRules, SelectPolicy, TransferBackend, dns_label,
};
use xpyd_models::Dtype;
use xpyd_sim::scenario::{self as sim, AutoscaleConfig, BehaviorMode, Metric};
use xpyd_sim::scenario::{Backend, RoleConfig, RouterKind, Scenario, Topology};
use xpyd_sim::time::SimDuration;

/// Prometheus server KEDA queries unless told otherwise (kube-prometheus-stack's).
pub const DEFAULT_PROMETHEUS_URL: &str = "http://prometheus-operated.monitoring.svc:9090";

fn secs(d: SimDuration) -> u32 {
    d.as_secs_f64().round().min(f64::from(u32::MAX)) as u32
}

fn rules(r: &sim::ScalingRules, mode: BehaviorMode) -> ScalingRules {
    if mode == BehaviorMode::Unset {
        return ScalingRules::default();
    }
    ScalingRules {
        stabilization_window_s: Some(secs(r.stabilization_window)),
        policies: r
            .policies
            .iter()
            .map(|p| ScalingPolicy {
                kind: match p.policy_type {
                    sim::PolicyType::Pods => PolicyKind::Pods,
                    sim::PolicyType::Percent => PolicyKind::Percent,
                },
                value: p.value,
                period_s: secs(p.period),
            })
            .collect(),
        select_policy: Some(match r.select_policy {
            sim::SelectPolicy::Max => SelectPolicy::Max,
            sim::SelectPolicy::Min => SelectPolicy::Min,
            sim::SelectPolicy::Disabled => SelectPolicy::Disabled,
        }),
    }
}

/// The pod selector of a role's engines in PromQL, with emission-time placeholders.
const POD_SELECTOR: &str = r#"namespace="${namespace}",pod=~"${name}-${role}-.*""#;

/// `(HPA source, HPA metric name, KEDA query, KEDA metric type)` of a simulated metric.
fn metric_terms(
    backend: Backend,
    metric: Metric,
    window: SimDuration,
) -> (HpaMetricSource, String, String, KedaMetricType) {
    let sg = backend == Backend::Sglang;
    let pick = |s: &str, v: &str| if sg { s.to_string() } else { v.to_string() };
    let sum = |m: &str| format!("sum({m}{{{POD_SELECTOR}}})");
    let w = secs(window).max(1);
    let quantile = |p: f64, hist: &str| {
        format!(
            "histogram_quantile({}, sum by (le) (rate({hist}_bucket{{{POD_SELECTOR}}}[{w}s]))) * 1000",
            p / 100.0
        )
    };
    let pct = |p: f64| format!("{}", p).replace('.', "_");
    match metric {
        Metric::QueueLength => {
            let m = pick("sglang:num_queue_reqs", "vllm:num_requests_waiting");
            (
                HpaMetricSource::Pods,
                m.clone(),
                sum(&m),
                KedaMetricType::AverageValue,
            )
        }
        Metric::Inflight => {
            let run = pick("sglang:num_running_reqs", "vllm:num_requests_running");
            let wait = pick("sglang:num_queue_reqs", "vllm:num_requests_waiting");
            let q = format!("{} + {}", sum(&run), sum(&wait));
            (HpaMetricSource::Pods, run, q, KedaMetricType::AverageValue)
        }
        Metric::KvUtilization => {
            let m = pick("sglang:token_usage", "vllm:kv_cache_usage_perc");
            (
                HpaMetricSource::Pods,
                m.clone(),
                sum(&m),
                KedaMetricType::AverageValue,
            )
        }
        Metric::TtftMs { percentile } => (
            HpaMetricSource::External,
            format!("xpyd:ttft_ms_p{}", pct(percentile)),
            quantile(
                percentile,
                &pick(
                    "sglang:time_to_first_token_seconds",
                    "vllm:time_to_first_token_seconds",
                ),
            ),
            KedaMetricType::Value,
        ),
        Metric::TpotMs { percentile } => (
            HpaMetricSource::External,
            format!("xpyd:tpot_ms_p{}", pct(percentile)),
            quantile(
                percentile,
                &pick(
                    "sglang:time_per_output_token_seconds",
                    "vllm:time_per_output_token_seconds",
                ),
            ),
            KedaMetricType::Value,
        ),
        Metric::ArrivalRate => {
            let c = pick("sglang:num_requests_total", "vllm:request_success_total");
            (
                HpaMetricSource::External,
                "xpyd:arrival_rate_rps".to_string(),
                format!("sum(rate({c}{{{POD_SELECTOR}}}[{w}s]))"),
                KedaMetricType::AverageValue,
            )
        }
    }
}

/// The manifest autoscaler of a simulated one (`None` for the SLA planner).
pub fn autoscaling_of(backend: Backend, a: &AutoscaleConfig) -> Option<Autoscaling> {
    match a {
        AutoscaleConfig::Hpa(h) => {
            let (source, metric, _, _) = metric_terms(backend, h.target.metric, h.target.window);
            Some(Autoscaling::Hpa(HpaSpec {
                min_replicas: h.min_replicas,
                max_replicas: h.max_replicas,
                source,
                metric,
                target_average_value: h.target.target_value,
                sync_period_s: Some(secs(h.sync_period).max(1)),
                tolerance: ((h.tolerance - 0.1).abs() > 1e-9).then_some(h.tolerance),
                scale_up: rules(&h.scale_up, h.behavior),
                scale_down: rules(&h.scale_down, h.behavior),
            }))
        }
        AutoscaleConfig::Keda(k) => {
            let (_, _, query, metric_type) =
                metric_terms(backend, k.target.metric, k.target.window);
            let metric_type = match k.metric_type {
                sim::MetricType::Value => KedaMetricType::Value,
                sim::MetricType::AverageValue => metric_type,
            };
            Some(Autoscaling::Keda(KedaSpec {
                min_replicas: k.min_replicas,
                max_replicas: k.max_replicas,
                prometheus_url: DEFAULT_PROMETHEUS_URL.to_string(),
                query,
                metric_type,
                threshold: k.target.target_value,
                activation_threshold: (k.activation_value > 0.0).then_some(k.activation_value),
                polling_interval_s: secs(k.polling_interval).max(1),
                cooldown_period_s: secs(k.cooldown),
                scale_up: rules(&k.scale_up, k.behavior),
                scale_down: rules(&k.scale_down, k.behavior),
            }))
        }
        AutoscaleConfig::SlaPlanner(_) => None,
    }
}

impl DeploymentSpec {
    /// The spec of a simulated scenario's deployment: its backend, topology, TP,
    /// engine knobs, node size and autoscalers, with pinned default images, PVC `models`,
    /// namespace `default` and no RDMA resource.
    ///
    /// The name is the scenario name made a DNS label (lowercase, `[a-z0-9-]`, at most
    /// [`super::spec::MAX_NAME_LEN`]). SGLang moves KV with Mooncake, vLLM and Dynamo with
    /// NIXL. The router policy is the decode role's router: least-outstanding and session
    /// affinity map to power-of-two (the closest load-aware policy the routers offer;
    /// affinity is the gateway's job), the KV/prefix-aware routers to cache-aware. The
    /// endpoint picker's scorers (targets `llm-d`, `kserve`) are the simulated GAIE
    /// picker's weights when that is the router, else [`EppScorers::for_router`].
    pub fn from_scenario(sc: &Scenario) -> DeploymentSpec {
        let kv = match sc.kv_cache {
            Dtype::Fp8 => Some(KvCacheDtype::Fp8),
            Dtype::Bf16 => None,
        };
        // Heterogeneous PD: every engine role on its own GPU type (node pool), by the GPU
        // Feature Discovery product label; one GPU type needs no selector.
        let hetero = sc.is_heterogeneous();
        let role = |r: &RoleConfig| RoleSpec {
            replicas: r.replicas,
            tp: r.tp,
            gpus_per_node: sc.links_of(r).0.max(1),
            node_selector: match super::spec::gpu_product_label(&sc.gpu_of(r).id) {
                Some(v) if hetero => {
                    vec![(super::spec::GPU_PRODUCT_LABEL.to_string(), v.to_string())]
                }
                _ => Vec::new(),
            },
            dp: r.dp,
            ep: r.ep,
            two_batch_overlap: r.two_batch_overlap,
            engine: EngineKnobs {
                max_running_requests: Some(r.engine.max_num_seqs),
                max_batched_tokens: Some(r.engine.max_batched_tokens),
                chunked_prefill: Some(r.engine.chunked_prefill),
                mem_fraction: Some(r.engine.gpu_memory_utilization),
                block_size: Some(r.engine.kv_block_tokens),
                kv_cache_dtype: kv,
                stream_interval: (!r.engine.stream.every_token())
                    .then_some(r.engine.stream.interval()),
                context_wait: r.engine.context_wait,
            },
            autoscaling: r
                .autoscale
                .as_ref()
                .and_then(|a| autoscaling_of(sc.backend, a)),
            sla_planner: match &r.autoscale {
                Some(AutoscaleConfig::SlaPlanner(p)) => Some(super::spec::SlaPlannerSpec {
                    adjustment_interval_s: secs(p.adjustment_interval).max(1),
                    min_replicas: p.min_replicas,
                    max_replicas: p.max_replicas,
                    predictor: p.predictor,
                    prediction_window: u32::try_from(p.prediction_window).unwrap_or(u32::MAX),
                }),
                _ => None,
            },
        };
        let (topology, router) = match &sc.topology {
            Topology::Disaggregated { prefill, decode } => (
                RoleTopology::Disaggregated {
                    prefill: role(prefill),
                    decode: role(decode),
                },
                decode.router,
            ),
            Topology::Aggregated(r) => (RoleTopology::Aggregated(role(r)), r.router),
        };
        let gaie = router == RouterKind::Gaie;
        let router = match router {
            RouterKind::RoundRobin => RouterPolicy::RoundRobin,
            RouterKind::Random => RouterPolicy::Random,
            RouterKind::LeastOutstanding | RouterKind::PowerOfTwo => RouterPolicy::PowerOfTwo,
            // Session affinity is the gateway's job (InferencePool); the engine router
            // behind it balances load.
            RouterKind::SessionAffinity => RouterPolicy::PowerOfTwo,
            RouterKind::KvAware | RouterKind::CacheAware | RouterKind::Gaie => {
                RouterPolicy::CacheAware
            }
        };
        let epp = if gaie {
            let g = &sc.routing.gaie;
            EppScorers {
                prefix_weight: g.prefix_weight,
                queue_weight: g.queue_weight,
                kv_weight: g.kv_weight,
                lru_capacity_blocks: g.lru_capacity_blocks,
                non_cached_tokens: g.non_cached_tokens,
            }
        } else {
            EppScorers::for_router(router)
        };
        let name = dns_label(&sc.name);
        DeploymentSpec {
            epp,
            gateway: GatewaySpec {
                epp_service: format!("{name}-epp"),
                epp_port: 9002,
            },
            name,
            namespace: "default".to_string(),
            backend: sc.backend,
            model: ModelRef {
                id: sc.model.id.clone(),
                hf_repo: sc.model.hf_repo.clone(),
                served_name: sc.model.id.clone(),
                fp8_weights: sc.weights == Dtype::Fp8,
                max_model_len: Some(sc.max_model_len),
                trust_remote_code: sc.trust_remote_code,
            },
            images: Images::for_backend(sc.backend),
            topology,
            router,
            transfer_backend: TransferBackend::for_backend(sc.backend),
            rdma_resource: None,
            model_pvc: "models".to_string(),
            speculative: sc.speculative.map(|s| super::spec::SpecDecode {
                method: s.method,
                draft_tokens: s.cost.draft_tokens,
            }),
        }
    }
}
