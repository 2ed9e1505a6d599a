//! The deployment specs under test (every backend, disaggregated or aggregated, with
//! or without an HPA or KEDA autoscaler, on one node or several), emitted as YAML and
//! parsed back, and the assertions the tests share.

use crate::validate::validate_object;
use crate::wiring::check_wiring;
use serde_json::Value;
use xpyd_reports::manifests::{
    Autoscaling, DeploymentSpec, EmitOptions, EngineKnobs, EppScorers, GatewaySpec,
    HpaMetricSource, HpaSpec, Images, KedaMetricType, KedaSpec, KvCacheDtype, ModelRef, PolicyKind,
    RbgApi, RoleSpec, RoleTopology, RouterPolicy, ScalingPolicy, ScalingRules, SelectPolicy,
    TransferBackend, default_keda_query, default_metric, emit_all,
};
use xpyd_sim::scenario::Backend;

fn role(tp: u32, replicas: u32, gpus_per_node: u32) -> RoleSpec {
    RoleSpec {
        replicas,
        tp,
        gpus_per_node,
        dp: 1,
        ep: 1,
        two_batch_overlap: false,
        engine: EngineKnobs {
            max_running_requests: Some(128),
            max_batched_tokens: Some(8192),
            chunked_prefill: Some(true),
            mem_fraction: Some(0.88),
            block_size: Some(64),
            kv_cache_dtype: Some(KvCacheDtype::Fp8),
            stream_interval: None,
            context_wait: None,
        },
        autoscaling: None,
        node_selector: Vec::new(),
        sla_planner: None,
    }
}

fn rules() -> (ScalingRules, ScalingRules) {
    (
        ScalingRules {
            stabilization_window_s: Some(0),
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Pods,
                value: 2,
                period_s: 60,
            }],
            select_policy: Some(SelectPolicy::Max),
        },
        ScalingRules {
            stabilization_window_s: Some(300),
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 50,
                period_s: 120,
            }],
            select_policy: None,
        },
    )
}

#[derive(Copy, Clone, Debug)]
pub(crate) enum Scaling {
    None,
    Hpa,
    Keda,
}

pub(crate) fn spec(
    backend: Backend,
    disagg: bool,
    scaling: Scaling,
    multi_node: bool,
) -> DeploymentSpec {
    let gpn = if multi_node { 4 } else { 8 };
    let mk = |tp: u32, replicas: u32| role(tp, replicas, gpn);
    let topology = if disagg {
        RoleTopology::Disaggregated {
            prefill: mk(if multi_node { 8 } else { 2 }, 2),
            decode: mk(if multi_node { 16 } else { 4 }, 1),
        }
    } else {
        RoleTopology::Aggregated(mk(if multi_node { 8 } else { 2 }, 3))
    };
    let mut s = DeploymentSpec {
        name: "qwen3-32b-pd".into(),
        namespace: "llm".into(),
        backend,
        model: ModelRef {
            id: "qwen3-32b".into(),
            hf_repo: "Qwen/Qwen3-32B".into(),
            served_name: "qwen3-32b".into(),
            fp8_weights: true,
            trust_remote_code: true,
            max_model_len: Some(32768),
        },
        images: Images::for_backend(backend),
        topology,
        router: RouterPolicy::CacheAware,
        transfer_backend: if backend == Backend::Sglang {
            TransferBackend::Mooncake
        } else {
            TransferBackend::Nixl
        },
        rdma_resource: Some("rdma/hca".into()),
        model_pvc: "models".into(),
        speculative: None,
        epp: EppScorers::for_router(RouterPolicy::CacheAware),
        gateway: GatewaySpec {
            epp_service: "qwen3-32b-pd-epp".into(),
            epp_port: 9002,
        },
    };
    let (up, down) = rules();
    let roles: Vec<&mut RoleSpec> = match &mut s.topology {
        RoleTopology::Disaggregated { prefill, decode } => vec![prefill, decode],
        RoleTopology::Aggregated(r) => vec![r],
    };
    let role_names = if disagg {
        vec!["prefill", "decode"]
    } else {
        vec!["worker"]
    };
    for (r, rn) in roles.into_iter().zip(role_names) {
        let metric = default_metric(backend, rn);
        r.autoscaling = match scaling {
            Scaling::None => None,
            Scaling::Hpa => Some(Autoscaling::Hpa(HpaSpec {
                min_replicas: 1,
                max_replicas: 8,
                source: HpaMetricSource::Pods,
                metric: metric.into(),
                target_average_value: 4.5,
                sync_period_s: Some(15),
                tolerance: Some(0.1),
                scale_up: up.clone(),
                scale_down: down.clone(),
            })),
            Scaling::Keda => Some(Autoscaling::Keda(KedaSpec {
                min_replicas: 1,
                max_replicas: 8,
                prometheus_url: "http://prometheus-operated.monitoring.svc:9090".into(),
                query: default_keda_query(metric),
                metric_type: KedaMetricType::AverageValue,
                threshold: 4.0,
                activation_threshold: None,
                polling_interval_s: 15,
                cooldown_period_s: 300,
                scale_up: up.clone(),
                scale_down: down.clone(),
            })),
        };
    }
    s
}

pub(crate) fn emitted(s: &DeploymentSpec, api: RbgApi) -> Vec<Value> {
    // Validate what is written: parse the YAML back.
    emit_all(
        s,
        &EmitOptions {
            rbg_api: api,
            ..EmitOptions::default()
        },
    )
    .unwrap()
    .into_iter()
    .map(|(file, text)| {
        assert!(text.starts_with("# Generated by xpyd"), "{file}");
        serde_saphyr::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
    })
    .collect()
}

pub(crate) fn assert_valid(objs: &[Value], what: &str) {
    let mut errs = Vec::new();
    for o in objs {
        errs.extend(validate_object(o, true));
    }
    errs.extend(check_wiring(objs));
    assert!(errs.is_empty(), "{what}:\n{}", errs.join("\n"));
}

pub(crate) const BACKENDS: [Backend; 3] = [Backend::Sglang, Backend::Vllm, Backend::Dynamo];
pub(crate) const APIS: [RbgApi; 2] = [RbgApi::V1alpha2, RbgApi::V1alpha1];

pub(crate) fn rbg_of(objs: &[Value]) -> Value {
    objs.iter()
        .find(|o| o["kind"] == "RoleBasedGroup")
        .unwrap()
        .clone()
}

pub(crate) fn first_role<'a>(rbg: &'a Value, name: &str) -> &'a Value {
    rbg["spec"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no role {name}"))
}

pub(crate) fn errors_of(o: &Value) -> Vec<String> {
    validate_object(o, true)
}
